//! mm_init() and what leads to it: the memmap, CMA, the per-CPU areas, the zonelists,
//! the hand-off of free memory to the page allocator and the `Memory:` line.

use super::*;
use crate::arch::Arch;
use crate::buddy::PageAlloc;
use crate::memmap::{Memmap, MemmapGeometry};
use crate::physmem::PhysMem;
use crate::zone::{ZoneError, ZoneLayout};
use core::fmt::Write;

/// Integer square root (Linux's int_sqrt).
pub(crate) fn isqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's iteration from above converges to floor(sqrt(x)).
    let mut r = x;
    let mut y = r.div_ceil(2);
    while y < r {
        r = y;
        y = (r + x / r) / 2;
    }
    r
}

/// dma_contiguous_reserve(): the boot CMA area, top-down below the arch's limit, aligned to
/// the larger of a MAX_ORDER block and a pageblock. Returns its pages.
/// Where [`Arch::MEMMAP_BEFORE_CMA`]: take from memblock, per node, the buffer Linux's
/// sparse_init() takes (sparse_buffer_init(): sections with memory times
/// ALIGN(LINUX_STRUCT_PAGE * PAGES_PER_SECTION, PMD_SIZE), aligned to that, on the node),
/// so the CMA area is placed below it as in Linux. The caller gives it back right after:
/// archmm's own memmap (32 bytes a page) is then allocated where Linux's sits. A node whose
/// buffer does not fit gets none, as Linux then falls back to allocating per block.
pub(super) fn hold_linux_memmap<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> [Option<(u64, u64)>; crate::zone::MAX_NODES] {
    let mut held = [None; crate::zone::MAX_NODES];
    if ctx.model.model != crate::arch::MemoryModel::SparseVmemmap {
        return held;
    }
    let levels = <A::Paging as crate::pgtable::PagingMode>::LEVELS;
    let pmd = levels[levels.len().saturating_sub(2)].span();
    let pps = 1u64 << (A::SECTION_SIZE_BITS - A::PAGE_SHIFT);
    let map_size = crate::addr::align_up_saturating(A::LINUX_STRUCT_PAGE * pps, pmd);
    let mut sections = [0u64; crate::zone::MAX_NODES];
    let mut last = [u64::MAX; crate::zone::MAX_NODES];
    ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, A::PAGE_SHIFT, |s, e, nid| {
        let n = nid.clamp(0, crate::zone::MAX_NODES as i32 - 1) as usize;
        for sec in (s / pps)..e.div_ceil(pps) {
            if last[n] != sec {
                sections[n] += 1;
                last[n] = sec;
            }
        }
    });
    for (nid, &count) in sections.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let size = count.saturating_mul(map_size);
        let got = ctx.memblock.alloc_range_nid(
            size,
            map_size,
            0,
            crate::memblock::MEMBLOCK_ALLOC_ACCESSIBLE,
            nid as i32,
            true,
        );
        held[nid] = got.map(|pa| (pa, size));
    }
    held
}

pub(super) fn reserve_cma<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<u64, BootError> {
    let size = ctx.options.cma.unwrap_or(A::DEFAULT_CMA_BYTES);
    if size == 0 {
        return Ok(0);
    }
    // CMA_MIN_ALIGNMENT_BYTES: a pageblock in 6.1 (5.19 dropped MAX_ORDER - 1).
    let align = 1u64 << (A::PAGEBLOCK_ORDER + A::PAGE_SHIFT);
    let size = crate::addr::align_up_saturating(size, align);
    let limit = A::cma_limit(ctx).min(ctx.memblock.end_of_dram());
    // cma_declare_contiguous_nid(): all pages of the area must be in one zone; a range that
    // crosses into highmem is tried in highmem first, then below it.
    let highmem_start = ctx.max_low_pfn << A::PAGE_SHIFT;
    let nid = crate::memblock::NUMA_NO_NODE;
    let mut found = None;
    let mut limit = limit;
    if highmem_start != 0 && limit > highmem_start {
        found = ctx.memblock.alloc_range_nid(size, align, highmem_start, limit, nid, true);
        limit = highmem_start;
    }
    match found.or_else(|| ctx.memblock.alloc_range_nid(size, align, 0, limit, nid, true)) {
        Some(base) => {
            writeln!(ctx.log, "cma: Reserved {} MiB at {:#018x}", size >> 20, base)?;
            Ok(size >> A::PAGE_SHIFT)
        }
        None => {
            writeln!(ctx.log, "cma: Failed to reserve {} MiB", size >> 20)?;
            Ok(0)
        }
    }
}

/// setup_per_cpu_areas(): the first per-CPU chunk, embedded in memblock memory on each
/// CPU's node (early_cpu_to_node(), [`BootCtx::cpu_node`]).
pub(super) fn setup_per_cpu_areas<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let cpus = ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS);
    let nodes = ctx.cpu_node;
    // nr_node_ids: the highest possible node + 1; nodes with memory or CPUs are possible.
    let nr_node_ids = ctx
        .numa
        .blocks()
        .iter()
        .map(|b| b.nid.max(0) as usize)
        .chain(nodes[..cpus].iter().map(|&n| n as usize))
        .max()
        .unwrap_or(0)
        + 1;
    A::percpu_banner(ctx, ctx.options.cpus.max(1), nr_node_ids)?;
    let page = A::page_size();
    let layout = crate::percpu::PcpuLayout::build_reserved(
        ctx.fw.sections.percpu.max(1),
        A::PERCPU_RESERVE,
        A::PERCPU_DYN_SIZE,
        A::PERCPU_ATOM_SIZE.max(page),
        page,
        ctx.options.cpus.max(1),
        |c| nodes[c],
    )
    .map_err(BootError::Percpu)?;
    let unit_base = layout.allocate(&mut ctx.memblock, A::PERCPU_MIN_ADDR).map_err(BootError::Percpu)?;
    layout.write_report(page, ctx.log)?;
    ctx.percpu = Some(PercpuAreas { layout, unit_base });
    Ok(())
}

/// Where the page of pfn 0 would be in the virtual memmap: VMEMMAP_START less the pages
/// below the linear map's base (rounded down to a section), so the first memory's pages
/// start at VMEMMAP_START (see [`Arch::linear_map_phys_base`]).
pub(super) fn vmemmap_base<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> u64 {
    let base = crate::addr::align_down(A::linear_map_phys_base(ctx), 1 << A::SECTION_SIZE_BITS);
    let skipped = (base >> A::PAGE_SHIFT) * crate::memmap::PAGE_META_SIZE;
    A::VMEMMAP_START.wrapping_sub(skipped) & A::KERNEL_VA_MASK
}

/// memmap_init(): metadata for every section with memory, the page allocator's zones, and
/// the holes inside sections marked reserved (init_unavailable_range).
pub(super) fn memmap_init<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    zones: &ZoneLayout,
) -> Result<(PageAlloc<A::Paging, M>, u64), BootError> {
    let geo = MemmapGeometry {
        model: ctx.model.model,
        page_shift: A::PAGE_SHIFT,
        section_size_bits: A::SECTION_SIZE_BITS,
        max_physmem_bits: A::MAX_PHYSMEM_BITS,
        vmemmap_start: vmemmap_base::<A, M>(ctx),
    };
    let mm = Memmap::init::<A::Paging, M>(&mut ctx.memblock, geo, ctx.pgd.map(|a| a.0)).map_err(BootError::Memmap)?;
    let bytes = mm.bytes();
    let mem = *ctx.memblock.mem();
    let mut pages = PageAlloc::<A::Paging, M>::new(mem, mm, A::MAX_ORDER, ctx.options.cpus.max(1));
    let populated = zones.online_nodes().map(|(_, n)| n.zones.iter().filter(|z| z.spanned != 0).count()).sum::<usize>();
    if populated > crate::buddy::MAX_ZONES {
        return Err(BootError::Zone(ZoneError::TooManyZones { zones: populated, max: crate::buddy::MAX_ZONES }));
    }
    for (nid, node) in zones.online_nodes() {
        for z in crate::zone::ZoneType::ALL {
            let nz = node.zones[z as usize];
            if nz.spanned != 0 && !pages.add_zone(z, nid, nz.start_pfn, nz.spanned, nz.present) {
                return Err(BootError::Zone(ZoneError::TooManyZones {
                    zones: populated,
                    max: crate::buddy::MAX_ZONES,
                }));
            }
        }
    }
    // Holes between memory ranges (and up to section ends) that have metadata.
    let ps = A::PAGE_SHIFT;
    let pps = geo.pages_per_section();
    let mut prev_end: Option<u64> = None;
    let mut holes = [(0u64, 0u64); 64];
    let mut n = 0;
    ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, ps, |s, e, _| {
        let hole_start = match prev_end {
            Some(p) => p,
            None => s & !(pps - 1),
        };
        if hole_start < s && n < holes.len() {
            holes[n] = (hole_start, s);
            n += 1;
        }
        prev_end = Some(e);
    });
    if let Some(p) = prev_end {
        if n < holes.len() {
            holes[n] = (p, crate::addr::round_up_wrapping(p, pps));
            n += 1;
        }
    }
    for &(s, e) in &holes[..n] {
        // Only pages that have metadata: whole absent sections are skipped quickly.
        let mut pfn = s;
        while pfn < e {
            if pages.memmap().meta_pa::<A::Paging, M>(&mem, pfn).is_none() {
                pfn = pages.memmap().skip_absent(pfn);
                continue;
            }
            pages.mark_reserved(pfn, pfn + 1);
            pfn += 1;
        }
    }
    Ok((pages, bytes))
}

/// build_all_zonelists()'s lines: the number of zonelists, whether pages are grouped by
/// mobility, and the `Total pages:` estimate (present pages minus what the memmap would take
/// with Linux's struct page, [`Arch::LINUX_STRUCT_PAGE`], minus the DMA reserve), then
/// `Policy zone:` (NUMA kernels).
pub(super) fn print_zonelists<A: Arch>(
    zones: &ZoneLayout,
    dma_reserve: u64,
    dist: &crate::numa::NodeDistance,
    log: &mut dyn Write,
) -> Result<u64, BootError> {
    let linux_struct_page = A::LINUX_STRUCT_PAGE;
    const MIGRATE_TYPES: u64 = 6;
    let page = 1u64 << A::PAGE_SHIFT;
    let mut total = 0u64;
    // nr_online_nodes: memoryless nodes count too.
    let mut nodes = zones.nodes.iter().filter(|n| n.memoryless).count();
    let mut policy = None;
    let lowest = A::ZONES.first().copied();
    for (_, n) in zones.online_nodes() {
        nodes += 1;
        for z in crate::zone::ZoneType::ALL {
            let nz = n.zones[z as usize];
            let (spanned, present) = (nz.spanned, nz.present);
            let pages = if spanned > present + (present >> 4) { present } else { spanned };
            let memmap = (pages * linux_struct_page).div_ceil(page);
            let mut free = present;
            if z != crate::zone::ZoneType::HighMem && free >= memmap {
                free -= memmap;
            }
            if Some(z) == lowest && free > dma_reserve {
                free -= dma_reserve;
            }
            if present != 0 {
                total += free;
                if z != crate::zone::ZoneType::Movable && policy.is_none_or(|p| z > p) {
                    policy = Some(z);
                }
            }
        }
    }
    // The fallback order and the policy zone are CONFIG_NUMA's lines.
    if A::NUMA {
        print_fallback_order(zones, dist, log)?;
    }
    let grouping = if total < (1u64 << A::PAGEBLOCK_ORDER) * MIGRATE_TYPES { "off" } else { "on" };
    writeln!(log, "Built {nodes} zonelists, mobility grouping {grouping}.  Total pages: {total}")?;
    if let Some(p) = policy.filter(|_| A::NUMA) {
        writeln!(log, "Policy zone: {}", p.name())?;
    }
    Ok(total)
}

/// build_zonelists()' `Fallback order for Node N:` lines: for each node (memoryless ones
/// too), the nodes with memory its allocations fall back to, nearest first
/// (find_next_best_node: the local node, then by node_distance(); lower ids penalised by
/// one; ties broken round-robin by node load).
pub(super) fn print_fallback_order(
    zones: &ZoneLayout,
    distance: &crate::numa::NodeDistance,
    log: &mut dyn Write,
) -> Result<(), BootError> {
    const MAX: usize = crate::zone::MAX_NODES;
    let online: [bool; MAX] = core::array::from_fn(|i| zones.nodes[i].online);
    let dist = |a: usize, b: usize| distance.get(a, b) as u64;
    let mut load = [0u64; MAX];
    for local in 0..MAX {
        if !online[local] && !zones.nodes[local].memoryless {
            continue;
        }
        write!(log, "Fallback order for Node {local}: ")?;
        let mut used = [false; MAX];
        let mut prev = local;
        loop {
            let next = if !used[local] {
                Some(local)
            } else {
                (0..MAX).filter(|&n| online[n] && !used[n]).min_by_key(|&n| {
                    (dist(local, n) + (n < local) as u64) * crate::memblock::MAX_NUMNODES as u64 + load[n]
                })
            };
            let Some(node) = next else { break };
            used[node] = true;
            if dist(local, node) != dist(local, prev) {
                load[node] += 1;
            }
            write!(log, "{node} ")?;
            prev = node;
        }
        writeln!(log)?;
    }
    Ok(())
}

/// memblock_free_all(): mark reserved (and NOMAP) memory reserved in the memmap, then hand
/// every free range below max_low_pfn to the page allocator in the largest aligned blocks.
pub(super) fn memblock_free_all<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
) {
    let ps = A::PAGE_SHIFT;
    use crate::memblock::{MemblockFlags, RegionType};
    for r in ctx.memblock.real_regions(RegionType::Reserved) {
        pages.mark_reserved(crate::addr::pfn_down(r.base, ps), crate::addr::pfn_up(r.end(), ps));
    }
    for r in ctx.memblock.real_regions(RegionType::Memory) {
        if r.flags.contains(MemblockFlags::NOMAP) {
            pages.mark_reserved(crate::addr::pfn_down(r.base, ps), crate::addr::pfn_up(r.end(), ps));
        }
    }
    let max_low = ctx.max_low_pfn;
    ctx.memblock.for_each_free_range(crate::memblock::NUMA_NO_NODE, MemblockFlags::NONE, false, |s, e, _| {
        let sp = crate::addr::pfn_up(s, ps);
        let ep = crate::addr::pfn_down(e, ps).min(max_low);
        if sp < ep {
            pages.free_boot_range(sp, ep);
        }
        false
    });
}

/// free_highmem_pages(): memblock_free_all() stops at max_low_pfn; on 32-bit arches the
/// free memory above it (ZONE_HIGHMEM, never in the linear map) goes to the page allocator
/// by its own loop, page by page as Linux's free_highmem_page() does (arm's
/// free_highpages(), x86-32's set_highmem_pages_init()). Returns the pages freed
/// (totalhigh_pages()).
pub(super) fn free_highmem_pages<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
) -> u64 {
    let ps = A::PAGE_SHIFT;
    let max_low = ctx.max_low_pfn;
    let mut freed = 0;
    ctx.memblock.for_each_free_range(
        crate::memblock::NUMA_NO_NODE,
        crate::memblock::MemblockFlags::NONE,
        false,
        |s, e, _| {
            let start = crate::addr::pfn_up(s, ps).max(max_low);
            let end = crate::addr::pfn_down(e, ps);
            for pfn in start..end {
                freed += pages.free_boot_range(pfn, pfn + 1);
            }
            false
        },
    );
    freed
}

/// mem_init_print_info()'s `Memory:` line.
pub(super) fn print_memory_line<A: Arch, M: PhysMem>(
    ctx: &mut BootCtx<'_, A, M>,
    r: &MemReport,
) -> Result<(), BootError> {
    let k = |pages: u64| pages << (A::PAGE_SHIFT - 10);
    let s = ctx.fw.sections;
    let reserved = r.physpages.saturating_sub(r.totalram).saturating_sub(r.cma);
    write!(
        ctx.log,
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {}K reserved, {}K cma-reserved",
        k(r.free),
        k(r.physpages),
        s.text >> 10,
        s.rwdata >> 10,
        s.rodata >> 10,
        s.init >> 10,
        s.bss >> 10,
        k(reserved),
        k(r.cma)
    )?;
    // CONFIG_HIGHMEM kernels add totalhigh_pages().
    if A::ZONES.contains(&crate::zone::ZoneType::HighMem) {
        write!(ctx.log, ", {}K highmem", k(r.highmem))?;
    }
    writeln!(ctx.log, ")")?;
    Ok(())
}
