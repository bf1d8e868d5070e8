//! The generic definition of every hook of [`Arch`]: what an architecture does unless its
//! hardware or firmware makes it differ (Linux's `include/asm-generic`, the `__weak`
//! functions and the `#ifndef` fallbacks). Each default method of [`Arch`] is one call to
//! the function of the same name here, generic over the arch so that it reads the arch's
//! description (and calls its other hooks); an arch that overrides a hook may call the
//! generic one before or after its own part. The override test compares each arch's hooks
//! with these functions.

use super::Arch;
use crate::addr::{PhysAddr, VirtAddr};
use crate::boot::{BootCtx, BootError};
use crate::memblock::Memblock;
use crate::pgtable::{FlushLog, MapFlags, PageTable, PagingMode};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

/// The generic [`Arch::memory_block_size_bytes`].
pub fn memory_block_size_bytes<A: Arch, M: PhysMem + Copy>(_ctx: &BootCtx<'_, A, M>) -> u64 {
    1 << A::SECTION_SIZE_BITS
}

/// The generic [`Arch::arch_add_memory`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn arch_add_memory<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &mut crate::buddy::PageAlloc<A::Paging, M>,
    start: crate::addr::PhysAddr,
    size: u64,
    altmap: bool,
) -> Result<(), crate::hotplug::HotplugError> {
    crate::hotplug::generic_arch_add_memory(ctx, pages, start, size, altmap, A::LINEAR_MAP_IN_TABLES)
}

/// The generic [`Arch::arch_remove_memory`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn arch_remove_memory<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &mut crate::buddy::PageAlloc<A::Paging, M>,
    start: crate::addr::PhysAddr,
    size: u64,
    tlb: &mut dyn crate::pgtable::TlbFlush,
) -> Result<(), crate::hotplug::HotplugError> {
    crate::hotplug::generic_arch_remove_memory(ctx, pages, start, size, A::LINEAR_MAP_IN_TABLES, tlb)
}

/// The generic [`Arch::kernel_mode_for`].
pub fn kernel_mode_for<A: Arch>(_ram_end: u64) -> &'static str {
    <A::Paging as PagingMode>::NAME
}

/// The generic [`Arch::numa_init`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn numa_init<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    if !A::NUMA {
        return crate::numa::single_node_init(ctx);
    }
    crate::numa::generic_numa_init(ctx)
}

/// The generic [`Arch::linear_map_phys_base`].
pub fn linear_map_phys_base<A: Arch, M: PhysMem + Copy>(_ctx: &BootCtx<'_, A, M>) -> u64 {
    0
}

/// The generic [`Arch::node_data_banner`].
pub fn node_data_banner<A: Arch>(
    nid: i32,
    start: u64,
    end: u64,
    tnid: i32,
    memoryless: bool,
    log: &mut dyn core::fmt::Write,
) -> core::fmt::Result {
    if memoryless {
        writeln!(log, "NUMA: Initmem setup node {nid} [<memory-less node>]")?;
    }
    writeln!(log, "NUMA: NODE_DATA [mem {start:#010x}-{end:#010x}]")?;
    if tnid != nid {
        writeln!(log, "NUMA: NODE_DATA({nid}) on node {tnid}")?;
    }
    Ok(())
}

/// The generic [`Arch::iomem_resources`].
pub fn iomem_resources<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>, f: &mut dyn FnMut(u64, u64, &'static str)) {
    for r in ctx.memblock.real_regions(crate::memblock::RegionType::Memory) {
        let name = if r.flags.contains(crate::memblock::MemblockFlags::NOMAP) { "reserved" } else { "System RAM" };
        f(r.base, r.end() - 1, name);
    }
}

/// The generic [`Arch::dma_reserve`].
pub fn dma_reserve<A: Arch, M: PhysMem + Copy>(_ctx: &BootCtx<'_, A, M>) -> u64 {
    0
}

/// The generic [`Arch::cma_limit`].
pub fn cma_limit<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> u64 {
    let z = A::zone_limits(ctx);
    let dma32 = z[ZoneType::Dma32 as usize];
    if dma32 != 0 {
        dma32 << A::PAGE_SHIFT
    } else {
        ctx.memblock.end_of_dram()
    }
}

/// The generic [`Arch::percpu_banner`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn percpu_banner<A: Arch, M: PhysMem + Copy>(
    _ctx: &mut BootCtx<'_, A, M>,
    _cpus: usize,
    _nodes: usize,
) -> Result<(), BootError> {
    Ok(())
}

/// The generic [`Arch::arch_pre_mm_init`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn arch_pre_mm_init<A: Arch, M: PhysMem + Copy>(_ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    Ok(())
}

/// The generic [`Arch::highmem_banner`].
pub fn highmem_banner<A: Arch>(_zones: &crate::zone::ZoneLayout, _log: &mut dyn core::fmt::Write) -> core::fmt::Result {
    Ok(())
}

/// The generic [`Arch::mark_rodata_ro_banner`].
pub fn mark_rodata_ro_banner<A: Arch>(
    _image: &crate::protect::ImageLayout,
    _log: &mut dyn core::fmt::Write,
) -> core::fmt::Result {
    Ok(())
}

/// The generic [`Arch::arch_finalize_boot`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn arch_finalize_boot<A: Arch, M: PhysMem + Copy>(_ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    Ok(())
}

/// The generic [`Arch::arch_post_mm_init`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn arch_post_mm_init<A: Arch, M: PhysMem + Copy>(_ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    Ok(())
}

/// The generic [`Arch::zone_limits`].
pub fn zone_limits<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> [u64; MAX_NR_ZONES] {
    let mut z = [0u64; MAX_NR_ZONES];
    let end = ctx.memblock.end_of_dram();
    if A::ZONES.contains(&ZoneType::Dma32) {
        z[ZoneType::Dma32 as usize] = crate::addr::pfn_down(end.min(crate::addr::SZ_4G), A::PAGE_SHIFT);
    }
    z[ZoneType::Normal as usize] = ctx.max_low_pfn;
    if A::ZONES.contains(&ZoneType::HighMem) {
        z[ZoneType::HighMem as usize] = ctx.max_pfn;
    }
    z
}

/// Generic `early_reserve_memory`: reserve the kernel image (its end rounded up to
/// [`Arch::KERNEL_END_ALIGN`]), the initrd and the DTB.
pub fn early_reserve_memory<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let kernel = ctx.fw.kernel.map(|(s, e)| (s, crate::addr::align_up_saturating(e, A::KERNEL_END_ALIGN)));
    for (s, e) in [kernel, ctx.fw.initrd, ctx.fw.dtb].into_iter().flatten() {
        if e > s {
            ctx.memblock.reserve(s, e - s)?;
        }
    }
    Ok(())
}

/// Generic `detect_memory` (device tree): add each bank (node ids are applied later by
/// NUMA init, as of_numa does), mark hotpluggable banks, then reserve /reserved-memory and
/// /memreserve/ ranges, marking `no-map` ones NOMAP (Linux 6.1's
/// early_init_fdt_scan_reserved_mem).
pub fn detect_memory<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let page = A::page_size();
    for b in ctx.fw.banks {
        // early_init_dt_add_memory_arch: page-align the bank, drop what is too small or
        // beyond the physical address width, cap what runs past it (and past 2^64).
        let mut base = b.base;
        let mut size = b.size;
        if base & (page - 1) != 0 {
            let skip = page - (base & (page - 1));
            match base.checked_add(skip) {
                Some(b2) if size >= skip => {
                    size -= skip;
                    base = b2;
                }
                _ => {
                    let _ =
                        writeln!(ctx.log, "Ignoring memory block {:#x} - {:#x}", b.base, b.base.saturating_add(b.size));
                    continue;
                }
            }
        }
        size &= !(page - 1);
        size = size.min((u64::MAX - base) & !(page - 1));
        if size == 0 {
            continue;
        }
        let phys_limit = if A::MAX_PHYSMEM_BITS >= 64 { u64::MAX } else { (1u64 << A::MAX_PHYSMEM_BITS) - 1 };
        if base > phys_limit {
            let _ = writeln!(ctx.log, "Ignoring memory block {:#x} - {:#x}", base, base + size);
            continue;
        }
        if base + (size - 1) > phys_limit {
            let _ = writeln!(ctx.log, "Ignoring memory range {:#x} - {:#x}", phys_limit + 1, base + size);
            size = phys_limit - base + 1;
        }
        // early_init_dt_add_memory_arch() ignores memblock_add()'s result: memblock cannot
        // grow its arrays this early, so a bank that needs a 129th region is lost in Linux
        // too (adjacent banks merge and need none). archmm says so.
        if let Err(e) = ctx.memblock.add(base, size) {
            let _ = writeln!(ctx.log, "archmm: memory [mem {base:#018x}-{:#018x}] not added: {e}", base + size - 1);
            continue;
        }
        if b.hotplug && ctx.memblock.mark_hotplug(base, size).is_err() {
            let _ = writeln!(ctx.log, "failed to mark hotplug range {base:#x} - {:#x}", base + size);
        }
    }
    for r in ctx.fw.reserved {
        if r.nomap {
            ctx.memblock.mark_nomap(r.base, r.size)?;
        } else {
            ctx.memblock.reserve(r.base, r.size)?;
        }
    }
    for d in ctx.fw.dynamic {
        // __reserved_mem_alloc_size(): in each alloc-range in turn, else anywhere; no-map
        // regions are then taken out of the linear map instead of staying reserved.
        let align = if d.align == 0 { page } else { d.align };
        let found = if d.nranges == 0 {
            ctx.memblock.phys_alloc_range(d.size, align, 0, crate::memblock::MEMBLOCK_ALLOC_ANYWHERE)
        } else {
            d.ranges[..d.nranges]
                .iter()
                .find_map(|&(b, s)| ctx.memblock.phys_alloc_range(d.size, align, b, b.saturating_add(s)))
        };
        match found {
            Some(base) if d.nomap => {
                ctx.memblock.phys_free(base, d.size)?;
                ctx.memblock.mark_nomap(base, d.size)?;
            }
            Some(_) => {}
            None => {
                let _ =
                    writeln!(ctx.log, "OF: reserved mem: failed to allocate memory for node: size {}MiB", d.size >> 20);
            }
        }
    }
    Ok(())
}

/// Keep early allocations in lowmem (memblock_set_current_limit): on 32-bit arches only
/// memory below max_low_pfn is directly mapped, so page tables, the memmap and per-CPU
/// areas must come from there.
pub fn limit_to_lowmem<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) {
    ctx.memblock.set_current_limit(ctx.max_low_pfn << A::PAGE_SHIFT);
}

/// Generic `setup_arch`: drop memory beyond the physical address width; the kernel maps
/// all memory directly, so `max_pfn == max_low_pfn == PFN_DOWN(end of DRAM)`; build the
/// linear map.
pub fn setup_arch<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    setup_limits(ctx)?;
    if A::LINEAR_MAP_IN_TABLES {
        let offset = A::PAGE_OFFSET.wrapping_sub(A::linear_map_phys_base(ctx));
        map_linear::<A::Paging, A, M>(ctx, offset, None, A::LINEAR_MAP_BLOCKS)?;
    }
    // paging_init(): with the linear map in place memblock may grow its arrays into memory
    // it allocates (memblock_allow_resize()).
    ctx.memblock.allow_resize();
    Ok(())
}

/// The limits part of [`setup_arch`]: drop memory beyond the physical address
/// width; `max_pfn == max_low_pfn == PFN_DOWN(end of DRAM)`. For arches whose linear map
/// needs no page table (LoongArch's direct-mapping window).
pub fn setup_limits<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    if A::MAX_PHYSMEM_BITS < 64 {
        // As in Linux, a full memblock.memory (which cannot grow yet) makes this a no-op.
        let _ = ctx.memblock.remove(1u64 << A::MAX_PHYSMEM_BITS, u64::MAX);
    }
    let end = ctx.memblock.end_of_dram();
    ctx.max_pfn = crate::addr::pfn_down(end, A::PAGE_SHIFT);
    ctx.max_low_pfn = ctx.max_pfn;
    Ok(())
}

/// Build the kernel's linear (direct) map: every memblock memory region that is not NOMAP
/// (and `extra`, e.g. x86's first MiB) below max_low_pfn (when set) mapped at
/// `page_offset + pa` (its bits in [`Arch::KERNEL_VA_MASK`]) with
/// [`Arch::LINEAR_MAP_PROT`] (read-write, no-execute, global unless the arch says otherwise), with the largest blocks alignment allows (or base pages only when `blocks` is
/// false, as arm64's rodata_full wants). Tables come from memblock. Linux:
/// init_mem_mapping() (x86), map_mem() (arm64), create_linear_mapping_page_table() (riscv).
///
/// Returns the root table's physical address, also kept in `ctx.pgd`.
///
/// # Errors
/// [`BootError::PageTable`] when memblock runs out of memory for tables or a region does
/// not fit the mode's address ranges.
pub fn map_linear<Mo: PagingMode, A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    page_offset: u64,
    extra: Option<(u64, u64)>,
    blocks: bool,
) -> Result<u64, BootError> {
    crate::boot::check_memory_limit(ctx)?;
    let mem = *ctx.memblock.mem();
    let mut tlb = FlushLog::default();
    let mut pt = match ctx.pgd {
        Some(root) => PageTable::<Mo, M>::from_root(&mem, root),
        None => PageTable::<Mo, M>::new(&mem, &mut ctx.memblock).map_err(BootError::PageTable)?,
    };
    let page = Mo::PAGE_SIZE;
    let flags = MapFlags { replace: true, blocks };
    let mut layout_offset = ctx.layout.page_offset;
    let mut map = |pt: &mut PageTable<'_, Mo, M>, mb: &mut Memblock<M>, base: u64, end: u64| -> Result<(), BootError> {
        let (s, e) = (crate::addr::align_up_saturating(base, page), crate::addr::align_down(end, page));
        if e <= s {
            return Ok(());
        }
        // page_offset may already have PHYS_OFFSET taken off (arm's __va()); the sum is the
        // virtual address modulo 2^64, and the mode refuses what it cannot translate.
        let va = page_offset.wrapping_add(s) & A::KERNEL_VA_MASK;
        layout_offset = page_offset & A::KERNEL_VA_MASK;
        pt.map(VirtAddr(va), PhysAddr(s), e - s, A::LINEAR_MAP_PROT, flags, mb, &mut tlb).map_err(BootError::PageTable)
    };
    // Only lowmem is directly mapped: highmem (above max_low_pfn) is reached through
    // kmap, never the linear map.
    let lowmem_end = if ctx.max_low_pfn != 0 { ctx.max_low_pfn << A::PAGE_SHIFT } else { u64::MAX };
    if let Some((s, e)) = extra {
        map(&mut pt, &mut ctx.memblock, s, e)?;
    }
    let n = ctx.memblock.cnt(crate::memblock::RegionType::Memory);
    for i in 0..n {
        let r = ctx.memblock.region(crate::memblock::RegionType::Memory, i);
        if r.size == 0 || r.flags.contains(crate::memblock::MemblockFlags::NOMAP) {
            continue;
        }
        map(&mut pt, &mut ctx.memblock, r.base, r.end().min(lowmem_end))?;
    }
    ctx.layout.page_offset = layout_offset;
    ctx.pgd = Some(pt.root());
    Ok(pt.root().0)
}
