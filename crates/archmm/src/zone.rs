//! Zones and nodes: the layout `free_area_init()` computes from memblock and the arch's
//! zone limits.
//!
//! Given `max_zone_pfn[]` (the arch's [`crate::arch::Arch::zone_limits`]) the zones are laid
//! end to end from the first pfn of memory: each zone spans from where the previous one
//! ended up to its own limit (an empty span when the limit is not above that). Each node's
//! share of a zone is the zone's span clamped to the node's span; its present pages are the
//! pages memblock has there. Holes inside the spans are the "unavailable ranges" Linux
//! reports while initialising the memmap (`memmap_init()`), counted exactly as it counts
//! them: only pfns whose pageblock lies in a section that has a memmap.
//!
//! Storage is fixed-size (no heap): up to [`MAX_NODES`] nodes and [`MAX_HOLE_LINES`]
//! "unavailable ranges" records.

use crate::arch::MemoryModel;
use crate::memblock::{Memblock, MAX_NUMNODES};
use crate::physmem::PhysMem;
use core::fmt::{self, Write};

/// Zone types, in Linux's order. The numeric value indexes `max_zone_pfn[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(usize)]
pub enum ZoneType {
    /// ZONE_DMA: ISA DMA (x86: below 16 MiB) or the arch's small-DMA zone.
    Dma = 0,
    /// ZONE_DMA32: below 4 GiB.
    Dma32 = 1,
    /// ZONE_NORMAL.
    Normal = 2,
    /// ZONE_HIGHMEM: not permanently mapped (32-bit arches).
    HighMem = 3,
    /// ZONE_MOVABLE: only movable allocations (kernelcore=/movablecore=, hotplug).
    Movable = 4,
    /// ZONE_DEVICE: device memory (never has pages at boot).
    Device = 5,
}

/// Number of zone types.
pub const MAX_NR_ZONES: usize = 6;
/// Most nodes a boot layout holds.
pub const MAX_NODES: usize = 64;
/// Most "pages in unavailable ranges" records kept.
pub const MAX_HOLE_LINES: usize = 256;

impl ZoneType {
    /// All zone types in order.
    pub const ALL: [ZoneType; MAX_NR_ZONES] =
        [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::HighMem, ZoneType::Movable, ZoneType::Device];
    /// Linux's `zone_names[]`.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::HighMem => "HighMem",
            ZoneType::Movable => "Movable",
            ZoneType::Device => "Device",
        }
    }
}

/// Errors computing the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// A memblock region carries a node id this layout cannot hold.
    NodeOutOfRange(i32),
    /// The machine has more populated zones than the page allocator's zone table holds.
    TooManyZones {
        /// Populated zones over all nodes.
        zones: usize,
        /// The table's capacity.
        max: usize,
    },
}

impl core::error::Error for ZoneError {}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::NodeOutOfRange(n) => {
                write!(f, "node id {n} is above the {MAX_NODES} nodes archmm's zone layout holds")
            }
            ZoneError::TooManyZones { zones, max } => write!(
                f,
                "the machine has {zones} populated zones (over all NUMA nodes) and archmm's page allocator holds {max}; \
                 Linux has no such limit, archmm's fixed-size zone table does"
            ),
        }
    }
}

/// One node's share of one zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeZone {
    /// First pfn of the zone's span on this node.
    pub start_pfn: u64,
    /// Pages spanned (holes included).
    pub spanned: u64,
    /// Pages memblock has in the span.
    pub present: u64,
}

/// One node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The node has memory (Linux: online at boot).
    pub online: bool,
    /// The node has CPUs but no memory: Linux sets it up anyway (`Initmem setup node N as
    /// memoryless`) and builds it a zonelist, but it is never a fallback for others.
    pub memoryless: bool,
    /// First pfn.
    pub start_pfn: u64,
    /// End pfn (exclusive).
    pub end_pfn: u64,
    /// Per-zone spans, indexed by [`ZoneType`].
    pub zones: [NodeZone; MAX_NR_ZONES],
}

/// A "On node N, zone Z: C pages in unavailable ranges" record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoleLine {
    /// Node.
    pub nid: i32,
    /// Zone.
    pub zone: ZoneType,
    /// Pages.
    pub pages: u64,
}

/// The result of `free_area_init()`.
#[derive(Clone, Debug)]
pub struct ZoneLayout {
    /// Zones the arch configures (decides what `Zone ranges:` prints).
    pub configured: [bool; MAX_NR_ZONES],
    /// `arch_zone_lowest_possible_pfn[]`.
    pub lowest: [u64; MAX_NR_ZONES],
    /// `arch_zone_highest_possible_pfn[]`.
    pub highest: [u64; MAX_NR_ZONES],
    /// `zone_movable_pfn[]` per node (0: none).
    pub movable_pfn: [u64; MAX_NODES],
    /// Nodes.
    pub nodes: [Node; MAX_NODES],
    /// Unavailable-range records, in the order Linux prints them.
    pub holes: [Option<HoleLine>; MAX_HOLE_LINES],
    /// Records that did not fit in `holes`.
    pub holes_dropped: usize,
    /// Page shift.
    pub page_shift: u32,
    /// Memoryless nodes are not online yet when free_area_init() runs (x86), so it prints
    /// `Initializing node N as memoryless` before setting one up.
    pub memoryless_offline: bool,
}

/// A `kernelcore=` / `movablecore=` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CoreSize {
    /// Not given.
    #[default]
    Unset,
    /// A number of pages.
    Pages(u64),
    /// A percentage of all memory (`nn%`).
    Percent(u32),
}

/// How ZONE_MOVABLE is carved out (Linux's kernelcore=, movablecore=, movable_node).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MovablePolicy {
    /// `kernelcore=`: memory usable for any allocation; the rest of each node's high zone
    /// becomes ZONE_MOVABLE.
    pub kernelcore: CoreSize,
    /// `movablecore=`: memory that must be ZONE_MOVABLE.
    pub movablecore: CoreSize,
    /// `movable_node`: hotpluggable memory (SRAT/DT) becomes ZONE_MOVABLE.
    pub movable_node: bool,
    /// MAX_ORDER_NR_PAGES: ZONE_MOVABLE starts aligned to it.
    pub max_order_nr_pages: u64,
}

/// Parameters of the memory model that decide `pfn_valid()`.
#[derive(Clone, Copy, Debug)]
pub struct ModelParams {
    /// The model.
    pub model: MemoryModel,
    /// log2 section size in bytes (sparse models).
    pub section_size_bits: u32,
    /// log2 pages per pageblock.
    pub pageblock_order: u32,
    /// log2 page size.
    pub page_shift: u32,
}

impl ModelParams {
    fn pages_per_section(&self) -> u64 {
        1 << (self.section_size_bits - self.page_shift)
    }
}

fn clamp(x: u64, lo: u64, hi: u64) -> u64 {
    x.max(lo).min(hi)
}

/// `pfn_valid()` as the boot memmap sees it: with a sparse model, a pfn is valid when its
/// section holds memory; with FLATMEM, when it lies in the node's mem_map, which starts at
/// the first pfn of memory rounded down (alloc_node_mem_map() aligns it to MAX_ORDER; the
/// pageblock alignment used here gives the same answers for the pageblock starts it is
/// asked about) and ends at the last pfn.
fn pfn_valid<M: PhysMem>(mb: &Memblock<M>, p: &ModelParams, pfn: u64) -> bool {
    match p.model {
        MemoryModel::Flat => {
            let first = crate::addr::pfn_down(mb.start_of_dram(), p.page_shift) & !((1u64 << p.pageblock_order) - 1);
            let end = crate::addr::pfn_down(mb.end_of_dram(), p.page_shift);
            pfn >= first && pfn < end
        }
        MemoryModel::Sparse | MemoryModel::SparseVmemmap => {
            let pps = p.pages_per_section();
            let sec_start = pfn & !(pps - 1);
            let sec_end = sec_start.saturating_add(pps);
            let mut valid = false;
            mb.for_each_mem_pfn_range(MAX_NUMNODES, p.page_shift, |s, e, _| {
                if s < sec_end && e > sec_start {
                    valid = true;
                }
            });
            valid
        }
    }
}

impl ZoneLayout {
    /// Linux's free_area_init(): lay out zones from `max_zone_pfn` (indexed by
    /// [`ZoneType`]) over memblock's memory, compute every node's zone spans and present
    /// pages, and count the holes `memmap_init()` reports.
    ///
    /// `configured` lists the zones the arch has; limits of others are ignored (treated as
    /// 0). ZONE_MOVABLE gets no range here (it is carved out of others by policy).
    ///
    /// # Errors
    /// [`ZoneError::NodeOutOfRange`] if memory carries a node id >= [`MAX_NODES`] (other
    /// than the "no node" marker, which counts as node 0).
    pub fn compute<M: PhysMem>(
        mb: &Memblock<M>,
        max_zone_pfn: &[u64; MAX_NR_ZONES],
        configured_zones: &[ZoneType],
        p: &ModelParams,
        movable: &MovablePolicy,
    ) -> Result<ZoneLayout, ZoneError> {
        let mut configured = [false; MAX_NR_ZONES];
        for z in configured_zones {
            configured[*z as usize] = true;
        }
        let mut l = ZoneLayout {
            configured,
            lowest: [0; MAX_NR_ZONES],
            highest: [0; MAX_NR_ZONES],
            movable_pfn: [0; MAX_NODES],
            nodes: [Node::default(); MAX_NODES],
            holes: [None; MAX_HOLE_LINES],
            holes_dropped: 0,
            page_shift: p.page_shift,
            memoryless_offline: false,
        };
        let mut start_pfn = crate::addr::pfn_down(mb.start_of_dram(), p.page_shift);
        for z in ZoneType::ALL {
            if z == ZoneType::Movable || !configured[z as usize] {
                // An unconfigured zone does not exist in Linux's arrays at all: it takes
                // no part in the chain. Give it an empty range at the current start.
                l.lowest[z as usize] = start_pfn;
                l.highest[z as usize] = start_pfn;
                continue;
            }
            let end_pfn = max_zone_pfn[z as usize].max(start_pfn);
            l.lowest[z as usize] = start_pfn;
            l.highest[z as usize] = end_pfn;
            start_pfn = end_pfn;
        }

        // Node spans.
        let mut err = None;
        mb.for_each_mem_pfn_range(MAX_NUMNODES, p.page_shift, |s, e, nid| {
            let n = node_index(nid);
            match n {
                Some(n) => {
                    let node = &mut l.nodes[n];
                    if !node.online {
                        node.online = true;
                        node.start_pfn = s;
                        node.end_pfn = e;
                    } else {
                        node.start_pfn = node.start_pfn.min(s);
                        node.end_pfn = node.end_pfn.max(e);
                    }
                }
                None => err = Some(ZoneError::NodeOutOfRange(nid)),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }

        if configured[ZoneType::Movable as usize] {
            l.find_zone_movable_pfns(mb, p, movable);
        }

        // Zone spans and present pages per node.
        for n in 0..MAX_NODES {
            if !l.nodes[n].online {
                continue;
            }
            for z in ZoneType::ALL {
                if !configured[z as usize] {
                    continue;
                }
                let (zs, ze) = l.zone_span_in_node(n, z);
                let mut present = 0;
                mb.for_each_mem_pfn_range(MAX_NUMNODES, p.page_shift, |s, e, nid| {
                    if node_index(nid) == Some(n) {
                        let (a, b) = (clamp(s, zs, ze), clamp(e, zs, ze));
                        present += b - a;
                    }
                });
                l.nodes[n].zones[z as usize] = NodeZone { start_pfn: zs, spanned: ze - zs, present };
            }
        }

        l.count_holes(mb, p);
        Ok(l)
    }

    /// The highest zone below ZONE_MOVABLE that has a range (find_usable_zone_for_movable).
    fn movable_zone(&self) -> ZoneType {
        for z in ZoneType::ALL.iter().rev() {
            if *z != ZoneType::Movable
                && self.configured[*z as usize]
                && self.highest[*z as usize] > self.lowest[*z as usize]
            {
                return *z;
            }
        }
        ZoneType::Dma
    }

    /// zone_spanned_pages_in_node() with adjust_zone_range_for_zone_movable(): the span of
    /// zone `z` on node `n`, clipped to the node.
    fn zone_span_in_node(&self, n: usize, z: ZoneType) -> (u64, u64) {
        let (ns, ne) = (self.nodes[n].start_pfn, self.nodes[n].end_pfn);
        let (lo, hi) =
            if z == ZoneType::Movable { (0, 0) } else { (self.lowest[z as usize], self.highest[z as usize]) };
        let (mut zs, mut ze) = (clamp(ns, lo, hi), clamp(ne, lo, hi));
        let mv = self.movable_pfn[n];
        if mv != 0 {
            if z == ZoneType::Movable {
                zs = mv;
                ze = ne.min(self.highest[self.movable_zone() as usize]);
            } else if zs < mv && ze > mv {
                ze = mv;
            } else if zs >= mv {
                zs = ze;
            }
        }
        if ze < ns || zs > ne {
            return (ns, ns);
        }
        let (zs, ze) = (zs.max(ns), ze.min(ne));
        (zs, ze.max(zs))
    }

    /// find_zone_movable_pfns_for_nodes(): where ZONE_MOVABLE starts on each node, from
    /// movable_node (hotpluggable memory), or kernelcore=/movablecore= spread evenly over
    /// the nodes with memory, each start aligned up to MAX_ORDER_NR_PAGES.
    fn find_zone_movable_pfns<M: PhysMem>(&mut self, mb: &Memblock<M>, p: &ModelParams, pol: &MovablePolicy) {
        let ps = p.page_shift;
        let mut totalpages = 0u64;
        mb.for_each_mem_pfn_range(MAX_NUMNODES, ps, |s, e, _| totalpages += e - s);
        let mut zmp = [0u64; MAX_NODES];
        let mut done = false;
        if pol.movable_node {
            for r in mb.real_regions(crate::memblock::RegionType::Memory) {
                if !r.flags.contains(crate::memblock::MemblockFlags::HOTPLUG) {
                    continue;
                }
                if let Some(n) = node_index(r.nid) {
                    let start = r.base >> ps;
                    zmp[n] = if zmp[n] != 0 { zmp[n].min(start) } else { start };
                }
            }
            done = true;
        }
        if !done {
            let pct = |c: CoreSize| match c {
                CoreSize::Percent(x) => (totalpages * 100 * x as u64) / 10000,
                CoreSize::Pages(x) => x,
                CoreSize::Unset => 0,
            };
            let mut required_kernelcore = pct(pol.kernelcore);
            let required_movablecore = pct(pol.movablecore);
            if required_movablecore != 0 {
                let mo = pol.max_order_nr_pages.max(1);
                let movable = required_movablecore.div_ceil(mo).saturating_mul(mo).min(totalpages);
                required_kernelcore = required_kernelcore.max(totalpages - movable);
            }
            if required_kernelcore == 0 || required_kernelcore >= totalpages {
                return;
            }
            let usable_startpfn = self.lowest[self.movable_zone() as usize];
            let nodes_with_memory: u64 = self.nodes.iter().filter(|n| n.online).count() as u64;
            let mut usable_nodes = nodes_with_memory;
            loop {
                let mut kernelcore_node = required_kernelcore / usable_nodes.max(1);
                #[allow(clippy::needless_range_loop)] // n indexes nodes, zmp and memblock's nids
                for n in 0..MAX_NODES {
                    if !self.nodes[n].online {
                        continue;
                    }
                    if required_kernelcore < kernelcore_node {
                        kernelcore_node = required_kernelcore / usable_nodes.max(1);
                    }
                    let mut remaining = kernelcore_node;
                    let mut ranges = [(0u64, 0u64); 64];
                    let mut nr = 0;
                    mb.for_each_mem_pfn_range(MAX_NUMNODES, ps, |s, e, nid| {
                        if node_index(nid) == Some(n) && nr < ranges.len() {
                            ranges[nr] = (s, e);
                            nr += 1;
                        }
                    });
                    for &(s, e) in &ranges[..nr] {
                        let mut start = s.max(zmp[n]);
                        if start >= e {
                            continue;
                        }
                        if start < usable_startpfn {
                            let kernel_pages = e.min(usable_startpfn) - start;
                            remaining -= kernel_pages.min(remaining);
                            required_kernelcore -= kernel_pages.min(required_kernelcore);
                            if e <= usable_startpfn {
                                zmp[n] = e;
                                continue;
                            }
                            start = usable_startpfn;
                        }
                        let size = (e - start).min(remaining);
                        zmp[n] = start + size;
                        required_kernelcore -= required_kernelcore.min(size);
                        remaining -= size;
                        if remaining == 0 {
                            break;
                        }
                    }
                }
                usable_nodes = usable_nodes.saturating_sub(1);
                if !(usable_nodes != 0 && required_kernelcore > usable_nodes) {
                    break;
                }
            }
        }
        // Align each start to MAX_ORDER_NR_PAGES; a start at or past the node's end means
        // no ZONE_MOVABLE there.
        let mo = pol.max_order_nr_pages.max(1);
        for (n, z) in zmp.iter().enumerate() {
            let v = z.div_ceil(mo) * mo;
            self.movable_pfn[n] = if self.nodes[n].online && v < self.nodes[n].end_pfn { v } else { 0 };
        }
    }

    fn push_hole(&mut self, h: HoleLine) {
        match self.holes.iter_mut().find(|x| x.is_none()) {
            Some(slot) => *slot = Some(h),
            None => self.holes_dropped += 1,
        }
    }

    /// init_unavailable_range(): pages in `[spfn, epfn)` whose pageblock has a memmap.
    fn unavailable<M: PhysMem>(mb: &Memblock<M>, p: &ModelParams, spfn: u64, epfn: u64) -> u64 {
        let pb = 1u64 << p.pageblock_order;
        let pps = if p.model == MemoryModel::Flat { pb } else { p.pages_per_section().max(pb) };
        let mut pfn = spfn;
        let mut cnt = 0;
        while pfn < epfn {
            let block = pfn & !(pb - 1);
            let block_end = block.saturating_add(pb);
            if !pfn_valid(mb, p, block) {
                // pfn_valid() answers per section: every pageblock of this section is
                // invalid too, so step over the section at once.
                pfn = if p.model == MemoryModel::Flat { block_end } else { (block | (pps - 1)).saturating_add(1) };
                continue;
            }
            let upto = block_end.min(epfn);
            cnt += upto - pfn;
            pfn = upto;
        }
        cnt
    }

    /// memmap_init()'s walk: report the holes before each memory range within each
    /// populated zone, and after the last range up to the end of its section.
    fn count_holes<M: PhysMem>(&mut self, mb: &Memblock<M>, p: &ModelParams) {
        let mut hole_pfn = 0u64;
        let mut zone_id = ZoneType::Dma;
        let mut last = (0u64, 0i32);
        let mut ranges = [(0u64, 0u64, 0i32); 64];
        let mut idx = 0usize;
        // Walk memory ranges in order; chunk them through a small buffer (no heap).
        loop {
            let mut n = 0usize;
            let mut seen = 0usize;
            mb.for_each_mem_pfn_range(MAX_NUMNODES, p.page_shift, |s, e, nid| {
                if seen >= idx && n < ranges.len() {
                    ranges[n] = (s, e, nid);
                    n += 1;
                }
                seen += 1;
            });
            if n == 0 {
                break;
            }
            for &(s, e, nid) in &ranges[..n] {
                let node = node_index(nid).unwrap_or(0);
                for z in ZoneType::ALL {
                    let nz = self.nodes[node].zones[z as usize];
                    if nz.present == 0 {
                        continue;
                    }
                    let (zs, ze) = (nz.start_pfn, nz.start_pfn + nz.spanned);
                    let (a, b) = (clamp(s, zs, ze), clamp(e, zs, ze));
                    if a < b {
                        if hole_pfn < a {
                            let c = Self::unavailable(mb, p, hole_pfn, a);
                            if c != 0 {
                                self.push_hole(HoleLine { nid: node as i32, zone: z, pages: c });
                            }
                        }
                        hole_pfn = b;
                    }
                    zone_id = z;
                }
                last = (e, node as i32);
            }
            idx += n;
        }
        let mut end_pfn = last.0;
        if p.model != MemoryModel::Flat {
            let pps = p.pages_per_section();
            end_pfn = crate::addr::round_up_wrapping(end_pfn, pps);
        }
        if hole_pfn < end_pfn {
            let c = Self::unavailable(mb, p, hole_pfn, end_pfn);
            if c != 0 {
                self.push_hole(HoleLine { nid: last.1, zone: zone_id, pages: c });
            }
        }
    }

    /// The nodes that have memory, in id order.
    pub fn online_nodes(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.online)
    }

    /// Node `nid` has CPUs: if it has no memory, it is a memoryless node (a possible node
    /// free_area_init() sets up without memory). Ids past [`MAX_NODES`] are ignored.
    pub fn add_cpu_node(&mut self, nid: usize) {
        if let Some(n) = self.nodes.get_mut(nid) {
            n.memoryless = !n.online;
        }
    }

    /// Print the lines free_area_init() prints: `Zone ranges:` through the
    /// `On node N, zone Z: C pages in unavailable ranges` lines.
    ///
    /// `early_ranges` is called to print the `Early memory node ranges` body (it needs
    /// memblock); see [`ZoneLayout::write_report`].
    pub fn write_report<M: PhysMem>(&self, mb: &Memblock<M>, w: &mut dyn Write) -> fmt::Result {
        let ps = self.page_shift;
        writeln!(w, "Zone ranges:")?;
        for z in ZoneType::ALL {
            if z == ZoneType::Movable || !self.configured[z as usize] {
                continue;
            }
            write!(w, "  {:<8} ", z.name())?;
            let (lo, hi) = (self.lowest[z as usize], self.highest[z as usize]);
            if lo == hi {
                writeln!(w, "empty")?;
            } else {
                writeln!(w, "[mem {:#018x}-{:#018x}]", lo << ps, (hi << ps).wrapping_sub(1))?;
            }
        }
        writeln!(w, "Movable zone start for each node")?;
        for (i, &m) in self.movable_pfn.iter().enumerate() {
            if m != 0 {
                writeln!(w, "  Node {}: {:#018x}", i, m << ps)?;
            }
        }
        writeln!(w, "Early memory node ranges")?;
        let mut res = Ok(());
        mb.for_each_mem_pfn_range(MAX_NUMNODES, ps, |s, e, nid| {
            if res.is_ok() {
                let nid = if nid == MAX_NUMNODES { 0 } else { nid };
                res = writeln!(w, "  node {:3}: [mem {:#018x}-{:#018x}]", nid, s << ps, (e << ps) - 1);
            }
        });
        res?;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.online && n.start_pfn != n.end_pfn {
                writeln!(
                    w,
                    "Initmem setup node {} [mem {:#018x}-{:#018x}]",
                    i,
                    n.start_pfn << ps,
                    (n.end_pfn << ps) - 1
                )?;
            } else if n.memoryless {
                if self.memoryless_offline {
                    writeln!(w, "Initializing node {i} as memoryless")?;
                }
                writeln!(w, "Initmem setup node {i} as memoryless")?;
            }
        }
        for h in self.holes.iter().flatten() {
            writeln!(w, "On node {}, zone {}: {} pages in unavailable ranges", h.nid, h.zone.name(), h.pages)?;
        }
        Ok(())
    }
}

/// Node index for a memblock node id; the "no node" marker counts as node 0 (Linux puts
/// such memory on node 0 when NUMA init assigns nothing).
fn node_index(nid: i32) -> Option<usize> {
    if nid == MAX_NUMNODES || nid == -1 {
        return Some(0);
    }
    if nid >= 0 && (nid as usize) < MAX_NODES {
        Some(nid as usize)
    } else {
        None
    }
}
