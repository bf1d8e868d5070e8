//! The generic definition of every hook of [`Arch`]: what an architecture does unless its
//! hardware or firmware makes it differ (Linux's `include/asm-generic`, the `__weak`
//! functions and the `#ifndef` fallbacks). Each default method of [`Arch`] is one call to
//! the function of the same name here, generic over the arch so that it reads the arch's
//! description (and calls its other hooks); an arch that overrides a hook may call the
//! generic one before or after its own part. The override test compares each arch's hooks
//! with these functions.

use super::Arch;
use crate::boot::{BootCtx, BootError};
use crate::pgtable::PagingMode;
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
    start: u64,
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
    start: u64,
    size: u64,
    tlb: &mut dyn crate::pgtable::TlbFlush,
) -> Result<(), crate::hotplug::HotplugError> {
    crate::hotplug::generic_arch_remove_memory(ctx, pages, start, size, A::LINEAR_MAP_IN_TABLES, tlb)
}

/// The generic [`Arch::kernel_mode_for`].
pub fn kernel_mode_for<A: Arch>(_ram_end: u64) -> &'static str {
    <A::Paging as PagingMode>::NAME
}

/// The generic [`Arch::early_reserve_memory`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn early_reserve_memory<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    crate::boot::generic_early_reserve(ctx)
}

/// The generic [`Arch::detect_memory`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn detect_memory<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    crate::boot::generic_detect_memory(ctx)
}

/// The generic [`Arch::setup_arch`].
///
/// # Errors
/// As the hook: an error naming what the input broke; nothing changed then.
pub fn setup_arch<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    crate::boot::generic_setup_arch(ctx)
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
