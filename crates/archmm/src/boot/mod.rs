//! The bring-up, in order: the talk's RFC made explicit.
//!
//! [`boot`] reads top to bottom like `start_kernel()`: it calls the architecture only at
//! named hooks ([`crate::arch::Arch`]), each with a generic default that most arches use.
//!
//! What the firmware said arrives as a [`FirmwareMap`]: plain data parsed beforehand (a
//! kernel parses its boot protocol's structures with `archmm-firmware`; the host emulator
//! parses files). The bring-up never allocates from a heap: the map borrows slices, and the
//! state lives in [`BootCtx`].
//!
//! The sequence is [`boot_on`]'s: its doc lists every step, in four phases named after
//! Linux's functions (setup_arch, free_area_init, mm_init, kernel_init). The submodules hold
//! what the steps work with: [`FirmwareMap`] and its parts (`firmware.rs`), [`BootError`]
//! (`error.rs`), [`BootCtx`], [`BootOptions`], [`Booted`] and [`Platform`] (`ctx.rs`), the
//! mm_init steps (`mm_init.rs`) and the end of the boot (`late.rs`). The generic hook
//! definitions are in [`crate::arch::generic`].

mod ctx;
mod error;
mod firmware;
mod late;
mod mm_init;

pub use ctx::{BootCtx, BootOptions, Booted, MemReport, NoMmu, PercpuAreas, Platform};
pub use error::BootError;
pub use firmware::{DynamicResv, FirmwareMap, KernelSections, MemBank, ResvRange, MAX_ALLOC_RANGES};
pub use late::POISON_FREE_INITMEM;
pub(crate) use mm_init::isqrt;

use crate::addr::VirtAddr;
use crate::arch::Arch;
use crate::pgtable::{FlushLog, PageTable, PgError};
use crate::physmem::PhysMem;
use crate::zone::ZoneLayout;
use core::fmt::Write;
use ctx::PlatformTlb;
use late::{free_initmem, free_initrd_mem, mark_readonly};
use mm_init::{
    free_highmem_pages, hold_linux_memmap, memblock_free_all, memmap_init, print_memory_line, print_zonelists,
    reserve_cma, setup_per_cpu_areas,
};

/// Run the bring-up for arch `A` on memory `mem` with firmware map `fw`, writing Linux's
/// boot lines to `log`, with no MMU to switch (the host emulator). See [`boot_on`].
///
/// # Errors
/// A [`BootError`] naming what in the input is wrong; nothing panics on bad input.
pub fn boot<'a, A: Arch, M: PhysMem + Copy>(
    mem: M,
    fw: FirmwareMap<'a>,
    options: BootOptions,
    log: &'a mut dyn Write,
) -> Result<Booted<'a, A, M>, BootError> {
    boot_on::<A, M>(mem, fw, options, log, &mut NoMmu)
}

/// The bring-up on `platform`: the RFC's sequence, top to bottom, in four phases. Hooks
/// of [`Arch`] are in `code`; each has a generic definition in [`crate::arch::generic`].
///
/// *setup_arch* ([`setup_arch`]):
/// 1. `early_reserve_memory`: the kernel image, initrd and device tree blob (arch extras);
/// 2. `detect_memory`: the firmware's map becomes memblock memory (none: [`BootError::NoMemory`]);
/// 3. the kernel image must lie in memory and hold its sections;
/// 4. `setup_arch`: the arch's fix-ups, `max_pfn`/`max_low_pfn` and the linear map;
/// 5. the kernel image's own mapping (`KERNEL_IMAGE_MAP`);
/// 6. [`Platform::paging_init`]: a kernel switches to the kernel page table;
/// 7. `numa_init`: node ids and the NUMA lines.
///
/// *free_area_init* ([`free_area_init`]):
/// 8. `zone_limits` and the zone layout (kernelcore=, movablecore=, movable_node), each
///    CPU's node, the `Zone ranges:` / `Early memory node ranges` report;
/// 9. `dma_reserve`;
/// 10. the boot CMA area below `cma_limit` (after a memmap-sized hold where
///     `MEMMAP_BEFORE_CMA`);
/// 11. the memblock dump after the zones (`MEMBLOCK_DUMP_AFTER_ZONES`, memblock=debug);
/// 12. the host's bound on memory ([`BootOptions::memory_limit`]).
///
/// *mm_init* ([`mm_init`]):
/// 13. the memmap for the memory model (sparse_init(), memmap_init()), the page allocator;
/// 14. setup_per_cpu_areas() (`percpu_banner`, `PERCPU_*`);
/// 15. build_all_zonelists(): the fallback order and `Total pages:`;
/// 16. `arch_pre_mm_init`;
/// 17. `highmem_banner`, memblock_free_all() and free_highmem_pages();
/// 18. the `Memory: ...K/...K available` line;
/// 19. setup_per_cpu_pageset(): the per-CPU page lists move into the per-CPU areas;
/// 20. init_per_zone_wmark_min(): min_free_kbytes and the watermarks;
/// 21. `arch_post_mm_init`.
///
/// *kernel_init* ([`kernel_init`]):
/// 22. free_initrd_mem();
/// 23. free_initmem() (`INITMEM_LABEL`, `INIT_IMAGE_UNMAP`);
/// 24. mark_rodata_ro() (`mark_rodata_ro_banner`, `RODATA_ALIGN`) and the W^X check
///     (`WX_FORMAT`);
/// 25. `arch_finalize_boot`.
///
/// # Errors
/// A [`BootError`] naming what in the input is wrong; nothing panics on bad input.
///
/// Never inlined: its frame (about 110 KiB on x86-64, mostly the fixed-size tables it moves
/// into [`Booted`]) is then given back when it returns, instead of staying part of the
/// caller's frame for the kernel's whole life (measured in the x86-64 kernel: the stack's
/// high-water mark fell from 398 to 288 KiB).
#[inline(never)]
pub fn boot_on<'a, A: Arch, M: PhysMem + Copy>(
    mem: M,
    fw: FirmwareMap<'a>,
    options: BootOptions,
    log: &'a mut dyn Write,
    platform: &mut dyn Platform<A, M>,
) -> Result<Booted<'a, A, M>, BootError> {
    let mut ctx = BootCtx::<A, M>::new(mem, fw, options, log);
    setup_arch(&mut ctx, platform)?;
    let (zones, dma_reserve, cma) = free_area_init(&mut ctx)?;
    let (pages, report) = mm_init(&mut ctx, &zones, dma_reserve, cma)?;
    let wx = kernel_init(&mut ctx, &pages, platform)?;
    Ok(Booted { ctx, zones, pages, report, wx })
}

/// Steps 1-7 of [`boot_on`]: memory detected, limits set, the kernel page table live, the
/// nodes known.
fn setup_arch<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    platform: &mut dyn Platform<A, M>,
) -> Result<(), BootError> {
    A::early_reserve_memory(ctx)?;
    A::detect_memory(ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) {
        return Err(BootError::NoMemory);
    }
    check_kernel_image(ctx)?;
    A::setup_arch(ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) || ctx.max_pfn == 0 {
        return Err(BootError::NoMemory);
    }
    map_kernel_image(ctx)?;
    platform.paging_init(ctx)?;
    A::numa_init(ctx)
}

/// Steps 8-12 of [`boot_on`]: the zone layout, the ZONE_DMA pages held back from the
/// estimate, and the bytes of boot CMA.
fn free_area_init<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(ZoneLayout, u64, u64), BootError> {
    let limits = A::zone_limits(ctx);
    let policy = crate::zone::MovablePolicy {
        kernelcore: ctx.options.kernelcore,
        movablecore: ctx.options.movablecore,
        movable_node: ctx.options.movable_node,
        max_order_nr_pages: 1 << (A::MAX_ORDER - 1),
    };
    let mut zones = ZoneLayout::compute(&ctx.memblock, &limits, A::ZONES, &ctx.model, &policy)?;
    for &nid in &ctx.cpu_node[..ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS)] {
        zones.add_cpu_node(nid as usize);
    }
    zones.memoryless_offline = !A::MEMORYLESS_ONLINE_EARLY;
    zones.write_report(&ctx.memblock, ctx.log)?;
    let dma_reserve = A::dma_reserve(ctx);
    let held = if A::MEMMAP_BEFORE_CMA { hold_linux_memmap(ctx) } else { [None; crate::zone::MAX_NODES] };
    let cma = reserve_cma(ctx);
    for (pa, size) in held.into_iter().flatten() {
        ctx.memblock.phys_free(pa, size)?;
    }
    let cma = cma?;
    ctx.memblock_dump_all_late()?;
    check_memory_limit(ctx)?;
    Ok((zones, dma_reserve, cma))
}

/// Steps 13-21 of [`boot_on`]: the page allocator with every free page, and the numbers of
/// the `Memory:` line.
fn mm_init<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    zones: &ZoneLayout,
    dma_reserve: u64,
    cma: u64,
) -> Result<(crate::buddy::PageAlloc<A::Paging, M>, MemReport), BootError> {
    let (mut pages, memmap_bytes) = memmap_init(ctx, zones)?;
    setup_per_cpu_areas(ctx)?;
    let zonelist_pages = print_zonelists::<A>(zones, dma_reserve, &ctx.node_distance, ctx.log)?;
    A::arch_pre_mm_init(ctx)?;
    A::highmem_banner(zones, ctx.log)?;
    memblock_free_all(ctx, &pages);
    let highmem = free_highmem_pages(ctx, &pages);
    let report = MemReport {
        physpages: zones.online_nodes().map(|(_, n)| n.zones.iter().map(|z| z.present).sum::<u64>()).sum(),
        free: pages.nr_free_pages(),
        totalram: pages.totalram_pages(),
        cma,
        zonelist_pages,
        memmap_bytes,
        highmem,
    };
    print_memory_line::<A, M>(ctx, &report)?;
    // setup_per_cpu_pageset(): each zone's per-CPU page lists move into the per-CPU areas.
    if let Some(areas) = &ctx.percpu {
        pages.setup_zone_pageset(crate::percpu::PcpuChunk::new(areas)).map_err(BootError::Percpu)?;
    }
    // init_per_zone_wmark_min(): min_free_kbytes from lowmem, then the watermarks.
    let lowmem_kb = pages
        .zones()
        .filter(|z| z.kind <= crate::zone::ZoneType::Normal)
        .map(|z| z.managed.load(core::sync::atomic::Ordering::Relaxed))
        .sum::<u64>()
        << (A::PAGE_SHIFT - 10);
    let min_free_kbytes = isqrt(lowmem_kb * 16).clamp(128, 262_144);
    pages.setup_watermarks(min_free_kbytes, A::PAGE_SHIFT);
    A::arch_post_mm_init(ctx)?;
    Ok((pages, report))
}

/// Steps 22-25 of [`boot_on`]: kernel_init()'s part (the initcalls' populate_rootfs()
/// frees the initrd before free_initmem() and mark_readonly()); what the W^X check found.
fn kernel_init<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &crate::buddy::PageAlloc<A::Paging, M>,
    platform: &mut dyn Platform<A, M>,
) -> Result<crate::protect::WxReport, BootError> {
    free_initrd_mem(ctx, pages)?;
    free_initmem(ctx, pages, &mut PlatformTlb(&mut *platform))?;
    let wx = mark_readonly(ctx, pages, &mut PlatformTlb(&mut *platform))?;
    A::arch_finalize_boot(ctx)?;
    Ok(wx)
}

/// [`BootOptions::memory_limit`]: checked before the linear map and the memmap are built.
pub(crate) fn check_memory_limit<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> Result<(), BootError> {
    let size = ctx.memblock.phys_mem_size();
    let limit = ctx.options.memory_limit;
    if limit != 0 && size > limit {
        return Err(BootError::TooMuchMemory { size, limit });
    }
    Ok(())
}

/// The kernel the firmware map places must be able to run there: its page-aligned sections
/// fit the span it was given, and that span is memory (a machine smaller than the kernel's
/// load address plus its image is refused here rather than booted into nonsense).
fn check_kernel_image<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> Result<(), BootError> {
    let (Some((start, end)), Some(img)) = (ctx.fw.kernel, ctx.image) else { return Ok(()) };
    let needed = img.size();
    let in_memory = end > start && ctx.memblock.is_region_memory(start, end - start);
    if !in_memory || needed > end - start {
        return Err(BootError::KernelImage {
            start,
            end,
            needed,
            in_memory,
            mem_end: ctx.memblock.end_of_dram(),
            mem_size: ctx.memblock.phys_mem_size(),
        });
    }
    Ok(())
}

/// Map the kernel image at the arch's image address (if it has one), read-write-execute as
/// the early boot mapping is; mark_rodata_ro() gives each section its final protection.
/// Records the kernel's virtual layout in `ctx.layout`.
fn map_kernel_image<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    ctx.layout.linear_end = ctx.max_low_pfn << A::PAGE_SHIFT;
    let Some(mut img) = ctx.image.filter(|i| i.size() != 0) else { return Ok(()) };
    match A::KERNEL_IMAGE_MAP {
        Some(base) => {
            img.va = base.va_of(img.pa);
            ctx.map_kernel(img.va, img.pa, img.size(), crate::protect::EARLY_IMAGE_PROT, true)?;
        }
        None => {
            // The kernel runs from its linear-map pages: they are its image mapping, and
            // executable until mark_rodata_ro().
            let Some(root) = ctx.pgd else { return Ok(()) };
            img.va = ctx.layout.page_offset.wrapping_add(img.pa) & A::KERNEL_VA_MASK;
            let mem = *ctx.memblock.mem();
            let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
            if pt.translate(VirtAddr(img.va)).is_none() {
                return Ok(());
            }
            let layout = ctx.layout;
            let r = crate::protect::set_memory(
                &mut pt,
                &layout,
                VirtAddr(img.va),
                img.size() >> A::PAGE_SHIFT,
                crate::protect::MemChange::X,
                &mut ctx.memblock,
                &mut FlushLog::default(),
            );
            match r {
                Ok(()) | Err(PgError::UnsupportedProt(_)) => {}
                Err(e) => return Err(BootError::PageTable(e)),
            }
        }
    }
    ctx.layout.image = Some(img);
    Ok(())
}
