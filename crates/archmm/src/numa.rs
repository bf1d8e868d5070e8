//! NUMA topology at boot: which node each range of memory belongs to.
//!
//! Two front ends exist in Linux and both are here, sharing one representation
//! ([`NumaMeminfo`], a list of `(node, [start, end))` blocks):
//! - the generic one of drivers/base/arch_numa.c (arm64, riscv64, loongarch...): node ids
//!   from the device tree's `numa-node-id`, else one fake node over memblock's memory;
//! - x86's arch/x86/mm/numa.c: blocks from the ACPI SRAT, cleaned up and merged by
//!   [`NumaMeminfo::cleanup`] (the `NUMA: Node 0 [mem ..] + [mem ..] -> [mem ..]` lines),
//!   else "No NUMA configuration found" and a fake node from address 0 to max_pfn.
//!
//! Either way the result is applied to memblock with `memblock_set_node`.

use crate::arch::Arch;
use crate::boot::{BootCtx, BootError};
use crate::memblock::{RegionType, MAX_NUMNODES};
use crate::physmem::PhysMem;
use crate::zone::MAX_NODES;
use core::fmt::Write;

/// Most NUMA memory blocks (Linux's NR_NODE_MEMBLKS is MAX_NUMNODES*2).
pub const NR_NODE_MEMBLKS: usize = 128;

/// One block of memory on a node: `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NumaMemblk {
    /// First byte.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// Node.
    pub nid: i32,
}

/// Linux's `struct numa_meminfo`.
#[derive(Clone, Debug)]
pub struct NumaMeminfo {
    blks: [NumaMemblk; NR_NODE_MEMBLKS],
    nr: usize,
}

impl Default for NumaMeminfo {
    fn default() -> Self {
        Self { blks: [NumaMemblk::default(); NR_NODE_MEMBLKS], nr: 0 }
    }
}

impl NumaMeminfo {
    /// The blocks.
    pub fn blocks(&self) -> &[NumaMemblk] {
        &self.blks[..self.nr]
    }

    /// numa_add_memblk: append a block; empty blocks are ignored.
    ///
    /// # Errors
    /// [`BootError::TooManyNumaBlocks`] past [`NR_NODE_MEMBLKS`];
    /// [`BootError::BadNumaNode`] for a node id outside `0..MAX_NUMNODES`.
    pub fn add(&mut self, nid: i32, start: u64, end: u64) -> Result<(), BootError> {
        if start == end {
            return Ok(());
        }
        if start > end || !(0..MAX_NUMNODES).contains(&nid) {
            return Err(BootError::BadNumaNode { nid, start, end });
        }
        if self.nr >= NR_NODE_MEMBLKS {
            return Err(BootError::TooManyNumaBlocks);
        }
        self.blks[self.nr] = NumaMemblk { start, end, nid };
        self.nr += 1;
        Ok(())
    }

    fn remove(&mut self, i: usize) {
        self.blks.copy_within(i + 1..self.nr, i);
        self.nr -= 1;
    }

    /// x86's numa_cleanup_meminfo: drop blocks without memory, clip blocks to
    /// `[0, high)`, then merge blocks of the same node whose hull overlaps no other node's
    /// block, printing Linux's `NUMA: Node ...` line for each merge.
    ///
    /// # Errors
    /// [`BootError::NumaOverlap`] when blocks of two nodes overlap (Linux fails NUMA init
    /// and falls back to a fake node; so does the caller).
    pub fn cleanup(
        &mut self,
        overlaps_memory: impl Fn(u64, u64) -> bool,
        high: u64,
        log: &mut dyn Write,
    ) -> Result<(), BootError> {
        let mut i = 0;
        while i < self.nr {
            let b = self.blks[i];
            if !overlaps_memory(b.start, b.end) {
                self.remove(i);
                continue;
            }
            let end = b.end.min(high);
            self.blks[i].end = end;
            if b.start >= end {
                self.remove(i);
                continue;
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.nr {
            let mut j = i + 1;
            while j < self.nr {
                let (bi, bj) = (self.blks[i], self.blks[j]);
                if bi.end > bj.start && bi.start < bj.end {
                    if bi.nid != bj.nid {
                        let _ = writeln!(
                            log,
                            "node {} [mem {:#010x}-{:#010x}] overlaps with node {} [mem {:#010x}-{:#010x}]",
                            bi.nid,
                            bi.start,
                            bi.end - 1,
                            bj.nid,
                            bj.start,
                            bj.end - 1
                        );
                        return Err(BootError::NumaOverlap { a: bi.nid, b: bj.nid });
                    }
                    let _ = writeln!(
                        log,
                        "Warning: node {} [mem {:#010x}-{:#010x}] overlaps with itself [mem {:#010x}-{:#010x}]",
                        bi.nid,
                        bi.start,
                        bi.end - 1,
                        bj.start,
                        bj.end - 1
                    );
                }
                if bi.nid != bj.nid {
                    j += 1;
                    continue;
                }
                let start = bi.start.min(bj.start);
                let end = bi.end.max(bj.end);
                let blocked = self.blocks().iter().any(|bk| bk.nid != bi.nid && start < bk.end && end > bk.start);
                if blocked {
                    j += 1;
                    continue;
                }
                let _ = writeln!(
                    log,
                    "NUMA: Node {} [mem {:#010x}-{:#010x}] + [mem {:#010x}-{:#010x}] -> [mem {:#010x}-{:#010x}]",
                    bi.nid,
                    bi.start,
                    bi.end - 1,
                    bj.start,
                    bj.end - 1,
                    start,
                    end - 1
                );
                self.blks[i].start = start;
                self.blks[i].end = end;
                self.remove(j);
            }
            i += 1;
        }
        Ok(())
    }

    /// numa_register_memblks' first step: give memblock's memory (and reserved ranges)
    /// inside each block the block's node.
    pub fn apply<A: Arch, M: PhysMem>(&self, ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
        for b in self.blocks() {
            ctx.memblock.set_node(b.start, b.end - b.start, RegionType::Memory, b.nid)?;
        }
        Ok(())
    }
}

/// Where each possible CPU lives (early_cpu_to_node()) once memory's nodes are known: the
/// node the firmware gives CPU `cpu` (`placed(cpu)`), else round-robin over the nodes with
/// memory in id order, CPU i on the (i mod n)-th. That is x86's numa_init_array(), which
/// places every CPU so before init_cpu_to_node() applies the SRAT's; archmm's built-in
/// machines, which describe no CPUs, are laid out the same way (QEMU's default with one
/// socket per CPU).
pub fn set_cpu_nodes<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>, placed: impl Fn(usize) -> Option<u16>) {
    let mut online = [0u16; MAX_NUMNODES as usize];
    let mut n = 0;
    for b in ctx.numa.blocks() {
        let nid = b.nid.clamp(0, MAX_NUMNODES - 1) as u16;
        if !online[..n].contains(&nid) {
            online[n] = nid;
            n += 1;
        }
    }
    let online = &mut online[..n.max(1)];
    online.sort_unstable();
    let cpus = ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS);
    for cpu in 0..cpus {
        ctx.cpu_node[cpu] = placed(cpu).unwrap_or(online[cpu % online.len()]);
    }
}

/// Register the nodes NUMA init found (numa_register_nodes() / numa_register_memblks() /
/// powerpc's initmem_init()): in id order, each node with memory, and with `cpu_nodes` also
/// each node that has only CPUs, gets its pg_data_t from memblock on that node
/// ([`Arch::NODE_DATA_BYTES`], nothing on a kernel without NUMA) and the arch's lines.
///
/// # Errors
/// [`BootError::NoMemory`] if memblock has no room for a node's data (Linux panics).
pub fn register_nodes<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    cpu_nodes: bool,
) -> Result<(), BootError> {
    if A::NODE_DATA_BYTES == 0 {
        return Ok(());
    }
    let mut nodes = [0u16; MAX_NODES];
    let mut n = 0;
    let cpus = if cpu_nodes { ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS) } else { 0 };
    let memory = ctx.numa.blocks().iter().map(|b| b.nid.clamp(0, MAX_NODES as i32 - 1) as u16);
    for nid in memory.chain(ctx.cpu_node[..cpus].iter().copied()) {
        if !nodes[..n].contains(&nid) && n < MAX_NODES {
            nodes[n] = nid;
            n += 1;
        }
    }
    nodes[..n].sort_unstable();
    for &nid in &nodes[..n] {
        let nid = i32::from(nid);
        let memoryless = !ctx.numa.blocks().iter().any(|b| b.nid == nid);
        let pa =
            ctx.memblock.phys_alloc_try_nid(A::NODE_DATA_BYTES, A::SMP_CACHE_BYTES, nid).ok_or(BootError::NoMemory)?;
        let tnid = ctx.numa.blocks().iter().find(|b| b.start <= pa && pa < b.end).map_or(nid, |b| b.nid);
        A::node_data_banner(nid, pa, pa + A::NODE_DATA_BYTES - 1, tnid, memoryless, ctx.log)?;
    }
    Ok(())
}

/// Linux's numa_distance table: node_distance() between the nodes this build supports.
#[derive(Clone, Copy, Debug)]
pub struct NodeDistance {
    d: [[u8; MAX_NODES]; MAX_NODES],
}

/// LOCAL_DISTANCE.
pub const LOCAL_DISTANCE: u8 = 10;
/// REMOTE_DISTANCE.
pub const REMOTE_DISTANCE: u8 = 20;

impl Default for NodeDistance {
    /// numa_alloc_distance(): 10 from a node to itself, 20 to any other.
    fn default() -> Self {
        Self {
            d: core::array::from_fn(|a| {
                core::array::from_fn(|b| if a == b { LOCAL_DISTANCE } else { REMOTE_DISTANCE })
            }),
        }
    }
}

impl NodeDistance {
    /// __node_distance(); nodes past the table are 10 from themselves, 20 from others.
    pub fn get(&self, a: usize, b: usize) -> u8 {
        match self.d.get(a).and_then(|r| r.get(b)) {
            Some(&d) => d,
            None if a == b => LOCAL_DISTANCE,
            None => REMOTE_DISTANCE,
        }
    }

    /// numa_set_distance(): ignored for nodes past the table, a distance that is not a
    /// `u8`, or a node's distance to itself other than 10.
    pub fn set(&mut self, a: u32, b: u32, distance: u32) {
        let Ok(dist) = u8::try_from(distance) else { return };
        if a == b && dist != LOCAL_DISTANCE {
            return;
        }
        if let Some(slot) = self.d.get_mut(a as usize).and_then(|r| r.get_mut(b as usize)) {
            *slot = dist;
        }
    }

    /// of_numa_parse_distance_map_v1(): each `(a, b, distance)` entry sets a to b, and b to
    /// a when b > a. Linux rejects the whole map (and with it NUMA init) for an empty one,
    /// a node's distance to itself other than 10, or another node at 10 or less.
    ///
    /// None for a rejected map, after the message Linux prints for it.
    pub fn from_map(entries: &[(u32, u32, u32)], log: &mut dyn Write) -> Option<Self> {
        let _ = writeln!(log, "OF: NUMA: parsing numa-distance-map-v1");
        if entries.is_empty() {
            let _ = writeln!(log, "OF: NUMA: Invalid distance-matrix");
            return None;
        }
        let mut t = Self::default();
        let local = u32::from(LOCAL_DISTANCE);
        for &(a, b, d) in entries {
            if (a == b && d != local) || (a != b && d <= local) {
                let _ =
                    writeln!(log, "OF: NUMA: Invalid distance[node{} -> node{}] = {}", a as i32, b as i32, d as i32);
                return None;
            }
            t.set(a, b, d);
            if b > a {
                t.set(b, a, d);
            }
        }
        Some(t)
    }
}

/// The generic arch_numa_init(): node ids from the device tree's memory nodes; if none
/// carries `numa-node-id` (or NUMA is off), one fake node over all of memblock's memory.
pub fn generic_numa_init<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let mut mi = NumaMeminfo::default();
    if !ctx.options.numa_off {
        for b in ctx.banks() {
            if let Some(nid) = b.nid {
                if nid >= 1 << A::NODES_SHIFT {
                    let _ = writeln!(ctx.log, "NUMA: Node id {nid} exceeds maximum value");
                    return Err(BootError::BadNumaNode {
                        nid: nid as i32,
                        start: b.base,
                        end: b.base.saturating_add(b.size),
                    });
                }
                mi.add(nid as i32, b.base, b.base.saturating_add(b.size))?;
            }
        }
        // of_numa_parse_distance_map(): a bad map fails NUMA init like a bad memory node.
        let distance = match ctx.fw.numa_distances {
            Some(map) if mi.nr != 0 => NodeDistance::from_map(map, ctx.log),
            _ => Some(NodeDistance::default()),
        };
        if mi.nr == 0 {
            let _ = writeln!(ctx.log, "NUMA: No NUMA configuration found");
        } else if let Some(distance) = distance {
            // numa_register_nodes(): every memory region must have a node.
            mi.apply(ctx)?;
            let bad = ctx.memblock.real_regions(RegionType::Memory).find(|r| r.nid == MAX_NUMNODES || r.nid < 0);
            if let Some(r) = bad {
                let _ = writeln!(
                    ctx.log,
                    "NUMA: Warning: invalid memblk node {} [mem {:#018x}-{:#018x}]",
                    r.nid,
                    r.base,
                    r.end() - 1
                );
                ctx.memblock.set_node(0, u64::MAX, RegionType::Memory, MAX_NUMNODES)?;
            } else {
                ctx.numa = mi;
                ctx.node_distance = distance;
                // of_parse_and_init_cpus(): each CPU node's numa-node-id, node 0 if it has
                // none (early_map_cpu_to_node()).
                let fw = ctx.fw.cpu_nodes;
                set_cpu_nodes(ctx, |c| fw.get(c).map(|n| n.filter(|&n| n < 1 << A::NODES_SHIFT).unwrap_or(0) as u16));
                return register_nodes(ctx, true);
            }
        }
    }
    if ctx.options.numa_off {
        let _ = writeln!(ctx.log, "NUMA: NUMA disabled");
    }
    let start = ctx.memblock.start_of_dram();
    let end = ctx.memblock.end_of_dram();
    let _ = writeln!(ctx.log, "NUMA: Faking a node at [mem {:#018x}-{:#018x}]", start, end.wrapping_sub(1));
    let mut mi = NumaMeminfo::default();
    mi.add(0, start, end)?;
    mi.apply(ctx)?;
    ctx.numa = mi;
    register_nodes(ctx, true)
}

/// NUMA init of a kernel built without CONFIG_NUMA: all memory is node 0 and nothing is
/// printed (Linux's memblock_set_node(0, PHYS_ADDR_MAX, &memblock.memory, 0)).
///
/// # Errors
/// memblock's error if the node cannot be set.
pub fn single_node_init<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let mut mi = NumaMeminfo::default();
    mi.add(0, ctx.memblock.start_of_dram(), ctx.memblock.end_of_dram())?;
    mi.apply(ctx)?;
    ctx.numa = mi;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_map_as_linux_reads_it() {
        let mut log = String::new();
        // QEMU's full matrix for -numa dist 0-1 20, 0-2 30, 1-2 20.
        let m = [
            (0, 0, 10),
            (0, 1, 20),
            (0, 2, 30),
            (1, 0, 20),
            (1, 1, 10),
            (1, 2, 20),
            (2, 0, 30),
            (2, 1, 20),
            (2, 2, 10),
        ];
        let t = NodeDistance::from_map(&m, &mut log).unwrap();
        assert_eq!(
            (t.get(2, 0), t.get(2, 1), t.get(0, 2), t.get(1, 1), t.get(5, 5), t.get(5, 6)),
            (30, 20, 30, 10, 10, 20)
        );
        assert_eq!(log, "OF: NUMA: parsing numa-distance-map-v1\n");
        // Only a < b entries are mirrored.
        let t = NodeDistance::from_map(&[(0, 1, 25), (1, 0, 40)], &mut log).unwrap();
        assert_eq!((t.get(0, 1), t.get(1, 0)), (25, 40));
        let t = NodeDistance::from_map(&[(1, 0, 40), (0, 1, 25)], &mut log).unwrap();
        assert_eq!((t.get(0, 1), t.get(1, 0)), (25, 25));
        // Distances that do not fit Linux's u8 table are ignored.
        let t = NodeDistance::from_map(&[(0, 1, 300)], &mut log).unwrap();
        assert_eq!(t.get(0, 1), REMOTE_DISTANCE);
        // Rejected: empty, a node not 10 from itself, another node at 10.
        assert!(NodeDistance::from_map(&[], &mut log).is_none());
        assert!(NodeDistance::from_map(&[(1, 1, 20)], &mut log).is_none());
        let mut log = String::new();
        assert!(NodeDistance::from_map(&[(0, 1, 10)], &mut log).is_none());
        assert!(log.ends_with("OF: NUMA: Invalid distance[node0 -> node1] = 10\n"), "{log}");
    }
}
