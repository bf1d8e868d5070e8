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
    pub fn cleanup(&mut self, overlaps_memory: impl Fn(u64, u64) -> bool, high: u64, log: &mut dyn Write) -> Result<(), BootError> {
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
                            bi.nid, bi.start, bi.end - 1, bj.nid, bj.start, bj.end - 1
                        );
                        return Err(BootError::NumaOverlap { a: bi.nid, b: bj.nid });
                    }
                    let _ = writeln!(
                        log,
                        "Warning: node {} [mem {:#010x}-{:#010x}] overlaps with itself [mem {:#010x}-{:#010x}]",
                        bi.nid, bi.start, bi.end - 1, bj.start, bj.end - 1
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

/// The generic arch_numa_init(): node ids from the device tree's memory nodes; if none
/// carries `numa-node-id` (or NUMA is off), one fake node over all of memblock's memory.
pub fn generic_numa_init<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let mut mi = NumaMeminfo::default();
    if !ctx.options.numa_off {
        for b in ctx.banks() {
            if let Some(nid) = b.nid {
                if nid >= MAX_NUMNODES as u32 {
                    let _ = writeln!(ctx.log, "NUMA: Node id {nid} exceeds maximum value");
                    return Err(BootError::BadNumaNode { nid: nid as i32, start: b.base, end: b.base.saturating_add(b.size) });
                }
                mi.add(nid as i32, b.base, b.base.saturating_add(b.size))?;
            }
        }
        if mi.nr == 0 {
            let _ = writeln!(ctx.log, "NUMA: No NUMA configuration found");
        } else {
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
                return Ok(());
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
    Ok(())
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
