//! memblock: the early physical memory allocator, with Linux's semantics.
//!
//! Two sorted arrays of regions describe physical memory before any page allocator exists:
//! `memory` (what RAM there is, with NUMA node ids and flags) and `reserved` (what of it is
//! in use: the kernel image, firmware tables, early allocations). Free memory is `memory`
//! minus `reserved`. The operations, their names and every observable result (region
//! counts, merging, splitting, which address an allocation returns, the fallbacks when it
//! fails) follow Linux 6.1's mm/memblock.c, which is the specification; the code is ours.
//!
//! # The protocol
//! - Adding a range merges it with adjacent regions of the same node and flags; a range that
//!   overlaps existing regions only fills the gaps (existing regions keep their node and
//!   flags).
//! - Removing or freeing a range first *isolates* it (splits the regions that straddle its
//!   ends), then drops the regions inside.
//! - Allocation searches free ranges top-down (the default) or bottom-up within
//!   `[max(start, PAGE_SIZE), min(end, current_limit))`, on the requested node first, and
//!   reserves what it finds.
//! - An empty array holds one zero-sized dummy region (`cnt == 1`), exactly as Linux's does;
//!   the dumps show it.
//! - The arrays start with [`INIT_MEMBLOCK_REGIONS`] entries stored inline (the core has no
//!   heap). Once [`Memblock::allow_resize`] has been called, a full array is doubled into
//!   physical memory that memblock allocates (and reserves) for itself, accessed through the
//!   [`PhysMem`] trait. Before that, running out of room is [`MemblockError::NoSpace`].
//!
//! Every call that fails leaves both arrays unchanged.

use crate::addr::PhysAddr;
use crate::physmem::PhysMem;
use core::fmt::{self, Write};
use core::panic::Location;

/// Regions each array holds before it must grow (Linux's INIT_MEMBLOCK_REGIONS).
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// The "no node" marker memblock stores for regions added without a node
/// (Linux's MAX_NUMNODES with CONFIG_NODES_SHIFT=10, as Debian's x86_64 kernel has).
pub const MAX_NUMNODES: i32 = 1024;
/// "Any node" in allocation requests.
pub const NUMA_NO_NODE: i32 = -1;
/// `end` value meaning "up to the current limit" (MEMBLOCK_ALLOC_ACCESSIBLE).
pub const MEMBLOCK_ALLOC_ACCESSIBLE: u64 = 0;
/// `end` value meaning "anywhere" (MEMBLOCK_ALLOC_ANYWHERE).
pub const MEMBLOCK_ALLOC_ANYWHERE: u64 = u64::MAX;
/// Linux's PHYS_ADDR_MAX.
pub const PHYS_ADDR_MAX: u64 = u64::MAX;
/// memblock's page size: it never hands out the first page and grows its arrays in pages.
/// (All arches archmm supports have at least 4 KiB pages; the value only matters for the
/// first-page rule and array growth.)
pub const MEMBLOCK_PAGE_SIZE: u64 = 4096;
/// Alignment used when a caller passes 0 (Linux's SMP_CACHE_BYTES on x86_64 and arm64).
pub const SMP_CACHE_BYTES: u64 = 64;
/// Size of one region as Linux stores it on 64-bit (base, size, flags, nid): used for the
/// grown arrays, which live in physical memory in this layout.
pub const REGION_BYTES: u64 = 24;

/// Region flags (Linux's `enum memblock_flags`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MemblockFlags(pub u32);

impl MemblockFlags {
    /// No special request.
    pub const NONE: Self = Self(0);
    /// Hotpluggable region.
    pub const HOTPLUG: Self = Self(0x1);
    /// Mirrored region.
    pub const MIRROR: Self = Self(0x2);
    /// Don't add to the kernel's linear map.
    pub const NOMAP: Self = Self(0x4);
    /// Memory managed by a driver (e.g. added by kexec'd firmware), not system RAM.
    pub const DRIVER_MANAGED: Self = Self(0x8);

    /// Names as Linux's debugfs prints them, indexed by bit number. Linux 6.1 has exactly
    /// these four flags; the later `RSRV_NOINIT` and `RSRV_KERN` are not modelled.
    pub const NAMES: [&'static str; 4] = ["HOTPLUG", "MIRROR", "NOMAP", "DRV_MNG"];

    /// `true` if every bit of `o` is set.
    #[inline]
    pub const fn contains(self, o: Self) -> bool {
        self.0 & o.0 == o.0
    }
    /// `true` if any bit of `o` is set.
    #[inline]
    pub const fn intersects(self, o: Self) -> bool {
        self.0 & o.0 != 0
    }
    /// The union.
    #[inline]
    pub const fn union(self, o: Self) -> Self {
        Self(self.0 | o.0)
    }
    /// `self` without the bits of `o`.
    #[inline]
    pub const fn difference(self, o: Self) -> Self {
        Self(self.0 & !o.0)
    }
    /// Parse `0x5`, `5`, `NONE`, or names joined by `|` (`HOTPLUG|NOMAP`, also accepting
    /// `DRIVER_MANAGED` for debugfs' `DRV_MNG`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return u32::from_str_radix(h, 16).ok().map(Self);
        }
        if let Ok(v) = s.parse::<u32>() {
            return Some(Self(v));
        }
        const NAMED: [(&str, u32); 6] =
            [("NONE", 0), ("HOTPLUG", 0x1), ("MIRROR", 0x2), ("NOMAP", 0x4), ("DRIVER_MANAGED", 0x8), ("DRV_MNG", 0x8)];
        let mut f = 0u32;
        for part in s.split('|') {
            let part = part.trim();
            f |= NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(part))?.1;
        }
        Some(Self(f))
    }
}

impl fmt::Debug for MemblockFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// One region: `[base, base + size)` on node `nid` with `flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Size in bytes (0 only for the dummy entry of an empty array).
    pub size: u64,
    /// Flags.
    pub flags: MemblockFlags,
    /// NUMA node id, [`MAX_NUMNODES`] when unknown.
    pub nid: i32,
}

impl Region {
    /// Exclusive end, `base + size` (memblock caps sizes so this never wraps).
    #[inline]
    pub const fn end(&self) -> u64 {
        self.base.wrapping_add(self.size)
    }
    /// The dummy an array gets when its last region is removed (memblock_remove_region).
    const EMPTY: Region = Region { base: 0, size: 0, flags: MemblockFlags::NONE, nid: MAX_NUMNODES };
    /// The dummy of an array that has never held a region: Linux's static init arrays are
    /// zeroed memory, so its node is 0 (a dump of a never-used array says "on node 0").
    const BOOT_DUMMY: Region = Region { base: 0, size: 0, flags: MemblockFlags::NONE, nid: 0 };
}

/// Which of the two arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionType {
    /// `memblock.memory`.
    Memory,
    /// `memblock.reserved`.
    Reserved,
}

impl RegionType {
    /// Linux's `type->name`.
    pub const fn name(self) -> &'static str {
        match self {
            RegionType::Memory => "memory",
            RegionType::Reserved => "reserved",
        }
    }
}

/// Why a memblock call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// The region array is full and may not (or could not) grow: Linux's `-ENOMEM` from
    /// memblock_double_array. Resizing is only allowed after [`Memblock::allow_resize`].
    NoSpace {
        /// The array that is full.
        array: RegionType,
        /// Its capacity.
        max: usize,
    },
    /// A node id outside `-1..=MAX_NUMNODES`.
    BadNode(i32),
    /// An alignment that is not a power of two (Linux's round_up/round_down would compute
    /// garbage).
    BadAlign(u64),
}

impl core::error::Error for MemblockError {}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemblockError::NoSpace { array, max } => {
                write!(f, "memblock.{} is full ({} regions) and cannot be resized", array.name(), max)
            }
            MemblockError::BadNode(n) => write!(f, "node id {n} is out of range"),
            MemblockError::BadAlign(a) => write!(f, "alignment {a:#x} is not a power of two"),
        }
    }
}

/// One region array: inline storage first, then a grown copy in physical memory.
#[derive(Clone, Debug)]
struct RegionArray {
    init: [Region; INIT_MEMBLOCK_REGIONS],
    /// Physical address of the grown array, when it has grown.
    ext: Option<u64>,
    cnt: usize,
    max: usize,
    total: u64,
}

impl RegionArray {
    const fn new() -> Self {
        Self {
            init: [Region::BOOT_DUMMY; INIT_MEMBLOCK_REGIONS],
            ext: None,
            cnt: 1,
            max: INIT_MEMBLOCK_REGIONS,
            total: 0,
        }
    }
}

fn region_to_bytes(r: &Region) -> [u8; REGION_BYTES as usize] {
    let mut b = [0u8; REGION_BYTES as usize];
    b[0..8].copy_from_slice(&r.base.to_le_bytes());
    b[8..16].copy_from_slice(&r.size.to_le_bytes());
    b[16..20].copy_from_slice(&r.flags.0.to_le_bytes());
    b[20..24].copy_from_slice(&r.nid.to_le_bytes());
    b
}

fn region_from_bytes(b: &[u8; REGION_BYTES as usize]) -> Region {
    let w = |r: core::ops::Range<usize>| {
        let mut x = [0u8; 8];
        x[..r.len()].copy_from_slice(&b[r]);
        u64::from_le_bytes(x)
    };
    Region { base: w(0..8), size: w(8..16), flags: MemblockFlags(w(16..20) as u32), nid: w(20..24) as u32 as i32 }
}

/// Linux's `memblock_cap_size`: shrink `size` so that `base + size` does not overflow.
#[inline]
const fn cap_size(base: u64, size: u64) -> u64 {
    let room = PHYS_ADDR_MAX - base;
    if size < room {
        size
    } else {
        room
    }
}

/// A sink for the `memblock=debug` trace.
pub trait MemblockTrace {
    /// Called with one formatted trace line (no trailing newline).
    fn trace(&mut self, args: fmt::Arguments<'_>);
}

/// The early allocator: two region arrays and the allocation policy.
///
/// `M` reaches physical memory: it zeroes what [`Memblock::alloc_try_nid`] returns and
/// stores the region arrays once they outgrow their inline storage.
#[derive(Debug)]
pub struct Memblock<M: PhysMem> {
    memory: RegionArray,
    reserved: RegionArray,
    bottom_up: bool,
    current_limit: u64,
    can_resize: bool,
    /// Linux's `system_has_some_mirror`: set by [`Memblock::mark_mirror`].
    has_mirror: bool,
    /// A grown memory array not reserved yet (see [`Self::double_array`]): searches treat
    /// it as reserved.
    pending_array: Option<(u64, u64)>,
    /// Linux's `mirrored_kernelcore` (the `kernelcore=mirror` option): without it
    /// `mark_mirror` does nothing, as in 6.1.
    pub mirrored_kernelcore: bool,
    /// Linux's `movable_node` option: hotpluggable memory is skipped by allocations.
    pub movable_node: bool,
    debug: bool,
    mem: M,
}

macro_rules! dbg_line {
    ($self:ident, $($arg:tt)*) => {
        if $self.debug {
            log::info!(target: "memblock", $($arg)*);
        }
    };
}

impl<M: PhysMem> Memblock<M> {
    /// An empty memblock: both arrays empty, allocation top-down, no limit, no resizing.
    pub fn new(mem: M) -> Self {
        Self {
            memory: RegionArray::new(),
            reserved: RegionArray::new(),
            bottom_up: false,
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            can_resize: false,
            has_mirror: false,
            pending_array: None,
            mirrored_kernelcore: false,
            movable_node: false,
            debug: false,
            mem,
        }
    }

    /// The physical memory accessor.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Turn the `memblock=debug` trace on or off. Trace lines go to the `log` facade with
    /// target `memblock` at level info, in Linux's format, with the caller's source
    /// location in place of Linux's `%pS` symbol.
    pub fn set_debug(&mut self, on: bool) {
        self.debug = on;
    }

    // ----- array access -------------------------------------------------------------

    fn arr(&self, t: RegionType) -> &RegionArray {
        match t {
            RegionType::Memory => &self.memory,
            RegionType::Reserved => &self.reserved,
        }
    }

    fn arr_mut(&mut self, t: RegionType) -> &mut RegionArray {
        match t {
            RegionType::Memory => &mut self.memory,
            RegionType::Reserved => &mut self.reserved,
        }
    }

    /// Number of regions in an array (1 for an empty array: the dummy entry).
    pub fn cnt(&self, t: RegionType) -> usize {
        self.arr(t).cnt
    }

    /// Capacity of an array.
    pub fn max(&self, t: RegionType) -> usize {
        self.arr(t).max
    }

    /// Sum of the sizes of an array's regions (Linux's `total_size`).
    pub fn total_size(&self, t: RegionType) -> u64 {
        self.arr(t).total
    }

    /// Region `i` of an array. `i` must be below [`Memblock::cnt`].
    pub fn region(&self, t: RegionType, i: usize) -> Region {
        let a = self.arr(t);
        match a.ext {
            None => a.init[i],
            Some(pa) => {
                let mut b = [0u8; REGION_BYTES as usize];
                self.mem.read(PhysAddr(pa + i as u64 * REGION_BYTES), &mut b);
                region_from_bytes(&b)
            }
        }
    }

    fn set_region(&mut self, t: RegionType, i: usize, r: Region) {
        let ext = self.arr(t).ext;
        match ext {
            None => self.arr_mut(t).init[i] = r,
            Some(pa) => self.mem.write(PhysAddr(pa + i as u64 * REGION_BYTES), &region_to_bytes(&r)),
        }
    }

    /// Iterate over an array's regions (the dummy entry of an empty array included).
    pub fn regions(&self, t: RegionType) -> impl Iterator<Item = Region> + '_ {
        (0..self.cnt(t)).map(move |i| self.region(t, i))
    }

    /// Iterate over an array's real regions (no dummy).
    pub fn real_regions(&self, t: RegionType) -> impl Iterator<Item = Region> + '_ {
        self.regions(t).filter(|r| r.size != 0)
    }

    /// `true` if the array holds no memory (only the dummy entry).
    pub fn is_empty(&self, t: RegionType) -> bool {
        self.region(t, 0).size == 0
    }

    // ----- small helpers named after Linux's ------------------------------------------

    /// memblock_insert_region - insert new memblock region
    ///
    /// Insert `r` (base, size, nid, flags) into array `t` at `idx`. The array must have
    /// a free slot (`cnt < max`); the caller made sure of it (add_range's first pass).
    fn insert_region(&mut self, t: RegionType, idx: usize, r: Region) {
        let cnt = self.cnt(t);
        debug_assert!(cnt < self.max(t));
        let mut i = cnt;
        while i > idx {
            let prev = self.region(t, i - 1);
            self.set_region(t, i, prev);
            i -= 1;
        }
        self.set_region(t, idx, r);
        let a = self.arr_mut(t);
        a.cnt += 1;
        a.total += r.size;
    }

    /// memblock_remove_region - remove region from memblock type
    ///
    /// Remove the region at `idx` of array `t`. Removing the last region leaves the
    /// one zero-sized dummy region an empty array holds (`cnt == 1`).
    fn remove_region(&mut self, t: RegionType, idx: usize) {
        let cnt = self.cnt(t);
        let size = self.region(t, idx).size;
        for i in idx..cnt - 1 {
            let next = self.region(t, i + 1);
            self.set_region(t, i, next);
        }
        let a = self.arr_mut(t);
        a.total -= size;
        a.cnt -= 1;
        if a.cnt == 0 {
            a.cnt = 1;
            self.set_region(t, 0, Region::EMPTY);
        }
    }

    /// memblock_merge_regions - merge neighboring compatible regions
    ///
    /// Scan array `t` and merge each pair of regions that touch and have the same node
    /// id and flags.
    fn merge_regions(&mut self, t: RegionType) {
        let mut i = 0;
        while i + 1 < self.cnt(t) {
            let this = self.region(t, i);
            let next = self.region(t, i + 1);
            if this.end() != next.base || this.nid != next.nid || this.flags != next.flags {
                i += 1;
                continue;
            }
            let merged = Region { size: this.size + next.size, ..this };
            self.set_region(t, i, merged);
            let cnt = self.cnt(t);
            for j in i + 1..cnt - 1 {
                let r = self.region(t, j + 1);
                self.set_region(t, j, r);
            }
            self.arr_mut(t).cnt -= 1;
        }
    }

    /// Linux's memblock_double_array: move array `t` into freshly allocated physical memory
    /// twice its size, avoiding `[new_start, new_start + new_size)` (the range being added)
    /// when growing `reserved`.
    fn double_array(&mut self, t: RegionType, new_start: u64, new_size: u64) -> Result<(), MemblockError> {
        let max = self.max(t);
        let nospace = MemblockError::NoSpace { array: t, max };
        if !self.can_resize {
            return Err(nospace);
        }
        let old_size = max as u64 * REGION_BYTES;
        let new_bytes = old_size * 2;
        let page = MEMBLOCK_PAGE_SIZE;
        let old_alloc = crate::addr::align_up_saturating(old_size, page);
        let new_alloc = crate::addr::align_up_saturating(new_bytes, page);
        let (ns, nz) = if t == RegionType::Reserved { (new_start, new_size) } else { (0, 0) };
        let mut addr = self.find_in_range(ns.saturating_add(nz), self.current_limit, new_alloc, page);
        if addr == 0 && nz != 0 {
            addr = self.find_in_range(0, ns.min(self.current_limit), new_alloc, page);
        }
        if addr == 0 {
            log::error!("memblock: Failed to double {} array from {} to {} entries !", t.name(), max, max * 2);
            return Err(nospace);
        }
        let new_end = addr + new_bytes - 1;
        dbg_line!(self, "memblock: {} is doubled to {} at [{:#018x}-{:#018x}]", t.name(), max * 2, addr, new_end);
        // Copy the old array over, zero the new half.
        for i in 0..max {
            let r = self.region(t, i);
            self.mem.write(PhysAddr(addr + i as u64 * REGION_BYTES), &region_to_bytes(&r));
        }
        self.mem.zero(PhysAddr(addr + old_size), old_size);
        let old_ext = self.arr(t).ext;
        {
            let a = self.arr_mut(t);
            a.ext = Some(addr);
            a.max = max * 2;
        }
        if let Some(old) = old_ext {
            // Freeing the old array can grow `reserved` (isolating it may split a region).
            // That growth must not land on the new array, which is not reserved yet:
            // Linux 6.1 frees first too and there corrupts its arrays (BUG in
            // memblock_merge_regions, or silently); archmm keeps the new array out of the
            // search until it is reserved.
            self.pending_array = (t == RegionType::Memory).then_some((addr, new_alloc));
            let _ = self.remove_range(RegionType::Reserved, old, old_alloc);
            self.pending_array = None;
        }
        // Reserve the new array. When `t` is the memory array this can need `reserved` to
        // grow too, which can fail (nothing fits below the limit): Linux 6.1 BUG()s there.
        // archmm puts the memory array back where it was instead, so the call fails with
        // nothing changed. The old copy is intact (nothing was written since), and
        // re-reserving it needs no growth: removing it added at most one region to an
        // array that had room for two more.
        if self.add_range(RegionType::Reserved, addr, new_alloc, MAX_NUMNODES, MemblockFlags::NONE).is_err() {
            let a = self.arr_mut(t);
            a.ext = old_ext;
            a.max = max;
            if let Some(old) = old_ext {
                let _ = self.add_range(RegionType::Reserved, old, old_alloc, MAX_NUMNODES, MemblockFlags::NONE);
            }
            return Err(nospace);
        }
        Ok(())
    }

    /// memblock_add_range - add new memblock region
    ///
    /// Add `[base, base + size)` on node `nid` with `flags` to array `t`; the new range may
    /// overlap existing regions (only the parts not covered yet are added) and merges with
    /// neighbours of the same node and flags.
    ///
    /// Two passes, as Linux's: the first counts the regions the insertion needs
    /// (`nr_new`) without changing anything (skipped when even doubling the count could
    /// not overflow the array); if they do not fit, the array is doubled
    /// ([`Self::double_array`]) first. The second pass inserts, so it cannot fail
    /// halfway: an error leaves the array as it was.
    ///
    /// # Errors
    /// [`MemblockError::NoSpace`] when the array is full and may not (or cannot) grow.
    fn add_range(
        &mut self,
        t: RegionType,
        base: u64,
        size: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Result<(), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        if self.region(t, 0).size == 0 {
            self.set_region(t, 0, Region { base, size, flags, nid });
            self.arr_mut(t).total = size;
            return Ok(());
        }
        let mut insert = self.cnt(t) * 2 + 1 < self.max(t);
        loop {
            let mut b = base;
            let mut nr_new = 0usize;
            let mut idx = 0usize;
            while idx < self.cnt(t) {
                let r = self.region(t, idx);
                let (rbase, rend) = (r.base, r.end());
                if rbase >= end {
                    break;
                }
                if rend <= b {
                    idx += 1;
                    continue;
                }
                if rbase > b {
                    nr_new += 1;
                    if insert {
                        self.insert_region(t, idx, Region { base: b, size: rbase - b, flags, nid });
                        idx += 1;
                    }
                }
                b = rend.min(end);
                idx += 1;
            }
            if b < end {
                nr_new += 1;
                if insert {
                    self.insert_region(t, idx, Region { base: b, size: end - b, flags, nid });
                }
            }
            if nr_new == 0 {
                return Ok(());
            }
            if insert {
                self.merge_regions(t);
                return Ok(());
            }
            while self.cnt(t) + nr_new > self.max(t) {
                self.double_array(t, base, size)?;
            }
            insert = true;
        }
    }

    /// Linux's memblock_isolate_range: split regions so that `[base, base+size)` is covered
    /// by whole regions; returns their index range.
    fn isolate_range(&mut self, t: RegionType, base: u64, size: u64) -> Result<(usize, usize), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok((0, 0));
        }
        let end = base + size;
        while self.cnt(t) + 2 > self.max(t) {
            self.double_array(t, base, size)?;
        }
        let (mut start_rgn, mut end_rgn) = (0usize, 0usize);
        let mut idx = 0usize;
        while idx < self.cnt(t) {
            let r = self.region(t, idx);
            let (rbase, rend) = (r.base, r.end());
            if rbase >= end {
                break;
            }
            if rend <= base {
                idx += 1;
                continue;
            }
            if rbase < base {
                self.set_region(t, idx, Region { base, size: r.size - (base - rbase), ..r });
                self.arr_mut(t).total -= base - rbase;
                self.insert_region(t, idx, Region { base: rbase, size: base - rbase, ..r });
                idx += 1;
            } else if rend > end {
                self.set_region(t, idx, Region { base: end, size: r.size - (end - rbase), ..r });
                self.arr_mut(t).total -= end - rbase;
                self.insert_region(t, idx, Region { base: rbase, size: end - rbase, ..r });
                // Redo the current index: it now holds the bottom half.
            } else {
                if end_rgn == 0 {
                    start_rgn = idx;
                }
                end_rgn = idx + 1;
                idx += 1;
            }
        }
        Ok((start_rgn, end_rgn))
    }

    /// memblock_remove_range - remove `[base, base + size)` from array `t`
    ///
    /// Isolate the range ([`Self::isolate_range`]: at most two splits at its edges), then
    /// drop the regions inside it.
    ///
    /// # Errors
    /// [`MemblockError::NoSpace`] when the splits need slots the array cannot give.
    fn remove_range(&mut self, t: RegionType, base: u64, size: u64) -> Result<(), MemblockError> {
        let (s, e) = self.isolate_range(t, base, size)?;
        for i in (s..e).rev() {
            self.remove_region(t, i);
        }
        Ok(())
    }

    /// memblock_setclr_flag - set or clear flag for a memory region
    ///
    /// Isolate `[base, base + size)` in `memory`, set (`set`) or clear `flag` on the
    /// regions inside it, and merge what became compatible again.
    ///
    /// # Errors
    /// [`MemblockError::NoSpace`] when the isolation needs slots the array cannot give.
    fn setclr_flag(&mut self, base: u64, size: u64, set: bool, flag: MemblockFlags) -> Result<(), MemblockError> {
        let t = RegionType::Memory;
        let (s, e) = self.isolate_range(t, base, size)?;
        for i in s..e {
            let mut r = self.region(t, i);
            r.flags = if set { r.flags.union(flag) } else { r.flags.difference(flag) };
            self.set_region(t, i, r);
        }
        self.merge_regions(t);
        Ok(())
    }

    #[track_caller]
    fn trace_range(&self, func: &str, base: u64, size: u64) {
        if self.debug {
            let end = base.wrapping_add(size).wrapping_sub(1);
            let loc = Location::caller();
            log::info!(target: "memblock", "{func}: [{base:#018x}-{end:#018x}] {}:{}", loc.file(), loc.line());
        }
    }

    // ----- the public API, named after Linux's ----------------------------------------

    /// memblock_add_node: add `[base, base+size)` to `memory` on node `nid` with `flags`.
    ///
    /// Overlaps with existing memory only fill the gaps; `size` is capped so the range does
    /// not pass the top of the address space.
    ///
    /// # Errors
    /// [`MemblockError::NoSpace`] if the array is full and cannot grow;
    /// [`MemblockError::BadNode`] for a node id outside `-1..=MAX_NUMNODES`.
    #[track_caller]
    pub fn add_node(&mut self, base: u64, size: u64, nid: i32, flags: MemblockFlags) -> Result<(), MemblockError> {
        if !(NUMA_NO_NODE..=MAX_NUMNODES).contains(&nid) {
            return Err(MemblockError::BadNode(nid));
        }
        if self.debug {
            let end = base.wrapping_add(size).wrapping_sub(1);
            let loc = Location::caller();
            log::info!(target: "memblock",
                "memblock_add_node: [{base:#018x}-{end:#018x}] nid={nid} flags={:x} {}:{}",
                flags.0, loc.file(), loc.line());
        }
        self.add_range(RegionType::Memory, base, size, nid, flags)
    }

    /// memblock_add: add `[base, base+size)` to `memory`, with no node. See [`Self::add_node`].
    #[track_caller]
    pub fn add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.trace_range("memblock_add", base, size);
        self.add_range(RegionType::Memory, base, size, MAX_NUMNODES, MemblockFlags::NONE)
    }

    /// memblock_remove: remove `[base, base+size)` from `memory` (splitting regions that
    /// straddle its ends). Removing what is not there is not an error.
    #[track_caller]
    pub fn remove(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.trace_range("memblock_remove", base, size);
        self.remove_range(RegionType::Memory, base, size)
    }

    /// memblock_reserve: mark `[base, base+size)` as in use.
    #[track_caller]
    pub fn reserve(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.trace_range("memblock_reserve", base, size);
        self.add_range(RegionType::Reserved, base, size, MAX_NUMNODES, MemblockFlags::NONE)
    }

    /// memblock_phys_free: release `[base, base+size)` from `reserved`. Freeing what is not
    /// reserved is not an error (Linux's semantics: it is a no-op for that part).
    #[track_caller]
    pub fn phys_free(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.trace_range("memblock_phys_free", base, size);
        self.remove_range(RegionType::Reserved, base, size)
    }

    /// memblock_mark_hotplug.
    pub fn mark_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, true, MemblockFlags::HOTPLUG)
    }
    /// memblock_clear_hotplug.
    pub fn clear_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, false, MemblockFlags::HOTPLUG)
    }
    /// memblock_mark_mirror: a no-op unless [`Memblock::mirrored_kernelcore`] is set (as in
    /// Linux 6.1); once some memory is mirrored, allocations prefer mirrored memory.
    pub fn mark_mirror(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        if !self.mirrored_kernelcore {
            return Ok(());
        }
        self.has_mirror = true;
        self.setclr_flag(base, size, true, MemblockFlags::MIRROR)
    }
    /// memblock_mark_nomap: the range stays memory but is not mapped or allocated from.
    pub fn mark_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, true, MemblockFlags::NOMAP)
    }
    /// memblock_clear_nomap.
    pub fn clear_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, false, MemblockFlags::NOMAP)
    }

    /// memblock_set_node: assign node `nid` to the part of array `t` in `[base, base+size)`.
    pub fn set_node(&mut self, base: u64, size: u64, t: RegionType, nid: i32) -> Result<(), MemblockError> {
        if !(NUMA_NO_NODE..=MAX_NUMNODES).contains(&nid) {
            return Err(MemblockError::BadNode(nid));
        }
        let (s, e) = self.isolate_range(t, base, size)?;
        for i in s..e {
            let mut r = self.region(t, i);
            r.nid = nid;
            self.set_region(t, i, r);
        }
        self.merge_regions(t);
        Ok(())
    }

    /// memblock_set_bottom_up: allocate from low addresses up instead of top down.
    pub fn set_bottom_up(&mut self, on: bool) {
        self.bottom_up = on;
    }
    /// `true` if allocating bottom-up.
    pub fn bottom_up(&self) -> bool {
        self.bottom_up
    }
    /// memblock_set_current_limit: allocations with `end == MEMBLOCK_ALLOC_ACCESSIBLE` (and
    /// the `alloc_try_nid` family, always) stay below `limit`.
    pub fn set_current_limit(&mut self, limit: u64) {
        self.current_limit = limit;
    }
    /// The current limit.
    pub fn current_limit(&self) -> u64 {
        self.current_limit
    }
    /// memblock_allow_resize: from now on full arrays grow into memory memblock allocates.
    pub fn allow_resize(&mut self) {
        self.can_resize = true;
    }

    /// memblock_trim_memory: shrink every memory region to `align` boundaries, dropping
    /// regions that vanish. As in Linux, `total_size` is *not* reduced for regions that are
    /// only shrunk (Linux's dump then shows the untrimmed total); regions removed entirely
    /// are subtracted.
    pub fn trim_memory(&mut self, align: u64) {
        let t = RegionType::Memory;
        let mut i = 0;
        while i < self.cnt(t) {
            let r = self.region(t, i);
            if r.size == 0 {
                // The dummy of an empty array: round_up(0) and round_down(0) are its own
                // base and end, so Linux leaves it alone.
                i += 1;
                continue;
            }
            let start = crate::addr::round_up_wrapping(r.base, align);
            let end = crate::addr::align_down(r.end(), align);
            if start == r.base && end == r.end() {
                i += 1;
                continue;
            }
            if start < end {
                self.set_region(t, i, Region { base: start, size: end - start, ..r });
                i += 1;
            } else {
                self.remove_region(t, i);
            }
        }
    }

    /// memblock_enforce_memory_limit: keep only the first `limit` bytes of memory (in
    /// address order, holes not counted), removing memory and reservations above the
    /// address where that much memory ends. `limit == 0` or more than there is: nothing.
    pub fn enforce_memory_limit(&mut self, limit: u64) -> Result<(), MemblockError> {
        if limit == 0 {
            return Ok(());
        }
        // __find_max_addr(): the address where `limit` bytes of memory are reached.
        let mut left = limit;
        let mut max_addr = PHYS_ADDR_MAX;
        for r in self.real_regions(RegionType::Memory) {
            if left <= r.size {
                max_addr = r.base + left;
                break;
            }
            left -= r.size;
        }
        if max_addr == PHYS_ADDR_MAX {
            return Ok(());
        }
        self.remove_range(RegionType::Memory, max_addr, PHYS_ADDR_MAX)?;
        self.remove_range(RegionType::Reserved, max_addr, PHYS_ADDR_MAX)
    }

    // ----- queries --------------------------------------------------------------------

    /// memblock_phys_mem_size.
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total
    }
    /// memblock_reserved_size.
    pub fn reserved_size(&self) -> u64 {
        self.reserved.total
    }
    /// memblock_start_of_DRAM: base of the first memory region.
    pub fn start_of_dram(&self) -> u64 {
        self.region(RegionType::Memory, 0).base
    }
    /// memblock_end_of_DRAM: end of the last memory region.
    pub fn end_of_dram(&self) -> u64 {
        self.region(RegionType::Memory, self.cnt(RegionType::Memory) - 1).end()
    }
    /// memblock_search - binary search for the region of array `t` holding `addr`.
    fn search(&self, t: RegionType, addr: u64) -> Option<Region> {
        let (mut lo, mut hi) = (0usize, self.cnt(t));
        while lo < hi {
            let mid = (lo + hi) / 2;
            let r = self.region(t, mid);
            if addr < r.base {
                hi = mid;
            } else if addr >= r.end() {
                lo = mid + 1;
            } else {
                return Some(r);
            }
        }
        None
    }
    /// memblock_is_memory: `addr` lies in a memory region.
    pub fn is_memory(&self, addr: u64) -> bool {
        self.search(RegionType::Memory, addr).is_some()
    }
    /// memblock_is_reserved: `addr` lies in a reserved region.
    pub fn is_reserved(&self, addr: u64) -> bool {
        self.search(RegionType::Reserved, addr).is_some()
    }
    /// memblock_is_map_memory: memory and not NOMAP.
    pub fn is_map_memory(&self, addr: u64) -> bool {
        self.search(RegionType::Memory, addr).is_some_and(|r| !r.flags.contains(MemblockFlags::NOMAP))
    }
    /// memblock_is_region_memory: `[base, base+size)` lies inside one memory region.
    pub fn is_region_memory(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        self.search(RegionType::Memory, base).is_some_and(|r| r.end() >= end)
    }
    /// memblock_is_region_reserved: `[base, base+size)` intersects a reserved region.
    pub fn is_region_reserved(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        self.regions(RegionType::Reserved).any(|r| r.size != 0 && r.base < end && base < r.end())
    }

    /// for_each_mem_pfn_range: call `f(start_pfn, end_pfn, nid)` for each memory region
    /// that contains at least one whole page, in order, restricted to node `nid` unless it
    /// is [`MAX_NUMNODES`].
    pub fn for_each_mem_pfn_range(&self, nid: i32, page_shift: u32, mut f: impl FnMut(u64, u64, i32)) {
        for r in self.regions(RegionType::Memory) {
            let s = crate::addr::pfn_up(r.base, page_shift);
            let e = crate::addr::pfn_down(r.end(), page_shift);
            if s >= e {
                continue;
            }
            if nid == MAX_NUMNODES || nid == r.nid {
                f(s, e, r.nid);
            }
        }
    }

    /// should_skip_region - whether an iteration over free ranges passes by region `m`:
    /// another node than `nid`; hotpluggable memory with movable_node (unless `flags` asks
    /// for it); memory without MIRROR when `flags` asks for mirrored memory; NOMAP or
    /// DRIVER_MANAGED memory unless `flags` includes that flag.
    fn should_skip(&self, m: &Region, nid: i32, flags: MemblockFlags) -> bool {
        if nid != NUMA_NO_NODE && nid != m.nid {
            return true;
        }
        if self.movable_node && m.flags.contains(MemblockFlags::HOTPLUG) && !flags.contains(MemblockFlags::HOTPLUG) {
            return true;
        }
        if flags.contains(MemblockFlags::MIRROR) && !m.flags.contains(MemblockFlags::MIRROR) {
            return true;
        }
        if !flags.contains(MemblockFlags::NOMAP) && m.flags.contains(MemblockFlags::NOMAP) {
            return true;
        }
        if !flags.contains(MemblockFlags::DRIVER_MANAGED) && m.flags.contains(MemblockFlags::DRIVER_MANAGED) {
            return true;
        }
        false
    }

    /// for_each_free_mem_range (or `_reverse` with `rev`): call `f(start, end, nid)` for
    /// each free range, i.e. each intersection of a memory region (on `nid`, passing the
    /// `flags` filter as Linux's should_skip_region) with a gap between reserved regions.
    /// `f` returns `true` to stop.
    pub fn for_each_free_range(
        &self,
        nid: i32,
        flags: MemblockFlags,
        rev: bool,
        mut f: impl FnMut(u64, u64, i32) -> bool,
    ) {
        let nm = self.cnt(RegionType::Memory);
        let nr = self.cnt(RegionType::Reserved);
        // Gap g (0..=nr) lies between reserved region g-1 and g.
        let gap = |g: usize| -> (u64, u64) {
            let s = if g == 0 { 0 } else { self.region(RegionType::Reserved, g - 1).end() };
            let e = if g < nr { self.region(RegionType::Reserved, g).base } else { PHYS_ADDR_MAX };
            (s, e)
        };
        for k in 0..nm {
            let ia = if rev { nm - 1 - k } else { k };
            let m = self.region(RegionType::Memory, ia);
            if self.should_skip(&m, nid, flags) {
                continue;
            }
            let (ms, me) = (m.base, m.end());
            // First gap whose end is above ms (gaps are sorted); binary search on reserved.
            let (mut lo, mut hi) = (0usize, nr + 1);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if gap(mid).1 <= ms {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let first = lo;
            let mut last = first;
            while last <= nr && gap(last).0 < me {
                last += 1;
            }
            for j in 0..(last - first) {
                let g = if rev { last - 1 - j } else { first + j };
                let (rs, re) = gap(g);
                if ms < re && rs < me && f(ms.max(rs), me.min(re), m.nid) {
                    return;
                }
            }
        }
    }

    /// [`Self::for_each_free_range`] with a pending array (not reserved yet) cut out.
    fn for_each_free_piece(&self, nid: i32, flags: MemblockFlags, rev: bool, mut f: impl FnMut(u64, u64) -> bool) {
        let Some((ps, pz)) = self.pending_array else {
            return self.for_each_free_range(nid, flags, rev, |s, e, _| f(s, e));
        };
        let pe = ps + pz;
        self.for_each_free_range(nid, flags, rev, |s, e, _| {
            let below = (s, e.min(ps));
            let above = (s.max(pe), e);
            let (first, second) = if rev { (above, below) } else { (below, above) };
            (first.0 < first.1 && f(first.0, first.1)) || (second.0 < second.1 && f(second.0, second.1))
        });
    }

    /// __memblock_find_range_bottom_up - find free area utility in bottom-up
    ///
    /// The lowest `align`-aligned start of `size` free bytes in `[start, end)` on `nid`
    /// with `flags`; 0 when there is none.
    fn find_range_bottom_up(&self, start: u64, end: u64, size: u64, align: u64, nid: i32, flags: MemblockFlags) -> u64 {
        let mut found = 0;
        self.for_each_free_piece(nid, flags, false, |s, e| {
            let ts = s.clamp(start, end);
            let te = e.clamp(start, end);
            let cand = crate::addr::round_up_wrapping(ts, align);
            if cand < te && te - cand >= size {
                found = cand;
                return true;
            }
            false
        });
        found
    }

    /// __memblock_find_range_top_down - find free area utility, in top-down
    ///
    /// The highest `align`-aligned start of `size` free bytes in `[start, end)` on `nid`
    /// with `flags`; 0 when there is none.
    fn find_range_top_down(&self, start: u64, end: u64, size: u64, align: u64, nid: i32, flags: MemblockFlags) -> u64 {
        let mut found = 0;
        self.for_each_free_piece(nid, flags, true, |s, e| {
            let ts = s.clamp(start, end);
            let te = e.clamp(start, end);
            if te < size {
                return false;
            }
            let cand = crate::addr::align_down(te - size, align);
            if cand >= ts {
                found = cand;
                return true;
            }
            false
        });
        found
    }

    /// memblock_find_in_range_node - find free area in given range and node
    ///
    /// `end` MEMBLOCK_ALLOC_ACCESSIBLE means the current limit; the first page is never
    /// given out (`start` at least PAGE_SIZE). Searches top-down, or bottom-up when set.
    fn find_in_range_node(&self, size: u64, align: u64, start: u64, end: u64, nid: i32, flags: MemblockFlags) -> u64 {
        let end = if end == MEMBLOCK_ALLOC_ACCESSIBLE { self.current_limit } else { end };
        let start = start.max(MEMBLOCK_PAGE_SIZE);
        let end = end.max(start);
        if self.bottom_up {
            self.find_range_bottom_up(start, end, size, align, nid, flags)
        } else {
            self.find_range_top_down(start, end, size, align, nid, flags)
        }
    }

    fn choose_flags(&self) -> MemblockFlags {
        if self.has_mirror {
            MemblockFlags::MIRROR
        } else {
            MemblockFlags::NONE
        }
    }

    /// memblock_find_in_range - find free area in given range
    ///
    /// Any node; mirrored memory first when there is some, then (with Linux's warning)
    /// any memory.
    fn find_in_range(&self, start: u64, end: u64, size: u64, align: u64) -> u64 {
        let mut flags = self.choose_flags();
        loop {
            let r = self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags);
            if r == 0 && flags.contains(MemblockFlags::MIRROR) {
                log::warn!("Could not allocate {size:#018x} bytes of mirrored memory");
                flags = flags.difference(MemblockFlags::MIRROR);
                continue;
            }
            return r;
        }
    }

    /// memblock_alloc_range_nid: find and reserve `size` bytes aligned to `align` in
    /// `[start, end)`, preferring node `nid`.
    ///
    /// @end may be [`MEMBLOCK_ALLOC_ACCESSIBLE`] (the current limit) or
    /// [`MEMBLOCK_ALLOC_ANYWHERE`]. The first page is never returned. If nothing fits on
    /// `nid` and `exact_nid` is false, any node is tried; if mirrored memory is preferred
    /// and none fits, non-mirrored memory is tried. `align == 0` means
    /// [`SMP_CACHE_BYTES`] (Linux warns). `nid == MAX_NUMNODES` means NUMA_NO_NODE.
    ///
    /// Returns the physical address, or `None` (Linux's 0) if nothing fits or the reserved
    /// array cannot grow. Memory is not zeroed.
    pub fn alloc_range_nid(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        exact_nid: bool,
    ) -> Option<u64> {
        let mut flags = self.choose_flags();
        let nid = if nid == MAX_NUMNODES { NUMA_NO_NODE } else { nid };
        let align = if align == 0 { SMP_CACHE_BYTES } else { align };
        if !align.is_power_of_two() {
            return None;
        }
        loop {
            let found = self.find_in_range_node(size, align, start, end, nid, flags);
            if found != 0
                && self.add_range(RegionType::Reserved, found, size, MAX_NUMNODES, MemblockFlags::NONE).is_ok()
            {
                return Some(found);
            }
            if nid != NUMA_NO_NODE && !exact_nid {
                let found = self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags);
                if found != 0
                    && self.add_range(RegionType::Reserved, found, size, MAX_NUMNODES, MemblockFlags::NONE).is_ok()
                {
                    return Some(found);
                }
            }
            if flags.contains(MemblockFlags::MIRROR) {
                flags = flags.difference(MemblockFlags::MIRROR);
                log::warn!("Could not allocate {size:#018x} bytes of mirrored memory");
                continue;
            }
            return None;
        }
    }

    /// memblock_phys_alloc_range: [`Self::alloc_range_nid`] on any node.
    #[track_caller]
    pub fn phys_alloc_range(&mut self, size: u64, align: u64, start: u64, end: u64) -> Option<u64> {
        if self.debug {
            let loc = Location::caller();
            log::info!(target: "memblock",
                "memblock_phys_alloc_range: {size} bytes align={align:#x} from={start:#018x} max_addr={end:#018x} {}:{}",
                loc.file(), loc.line());
        }
        self.alloc_range_nid(size, align, start, end, NUMA_NO_NODE, false)
    }

    /// memblock_phys_alloc_try_nid: anywhere below the current limit, node `nid` preferred.
    pub fn phys_alloc_try_nid(&mut self, size: u64, align: u64, nid: i32) -> Option<u64> {
        self.alloc_range_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, nid, false)
    }

    /// memblock_alloc_internal - allocate boot memory block
    ///
    /// Below the current limit, in `[min, max)`, on `nid` (only there with `exact`); if
    /// nothing fits above `min`, Linux retries from 0.
    fn alloc_internal(&mut self, size: u64, align: u64, min: u64, max: u64, nid: i32, exact: bool) -> Option<u64> {
        let max = max.min(self.current_limit);
        let a = self.alloc_range_nid(size, align, min, max, nid, exact);
        match a {
            None if min != 0 => self.alloc_range_nid(size, align, 0, max, nid, exact),
            a => a,
        }
    }

    #[track_caller]
    fn trace_alloc(&self, func: &str, size: u64, align: u64, nid: i32, min: u64, max: u64) {
        if self.debug {
            let loc = Location::caller();
            log::info!(target: "memblock",
                "{func}: {size} bytes align={align:#x} nid={nid} from={min:#018x} max_addr={max:#018x} {}:{}",
                loc.file(), loc.line());
        }
    }

    /// memblock_alloc_try_nid: allocate `size` bytes aligned to `align` in `[min, max)`
    /// (`max` is capped at the current limit; 0 means the current limit), node `nid`
    /// preferred, falling back to any node and then to dropping `min`. The memory is zeroed.
    #[track_caller]
    pub fn alloc_try_nid(&mut self, size: u64, align: u64, min: u64, max: u64, nid: i32) -> Option<u64> {
        self.trace_alloc("memblock_alloc_try_nid", size, align, nid, min, max);
        let a = self.alloc_internal(size, align, min, max, nid, false)?;
        self.mem.zero(PhysAddr(a), size);
        Some(a)
    }

    /// memblock_alloc_try_nid_raw: as [`Self::alloc_try_nid`] without zeroing.
    #[track_caller]
    pub fn alloc_try_nid_raw(&mut self, size: u64, align: u64, min: u64, max: u64, nid: i32) -> Option<u64> {
        self.trace_alloc("memblock_alloc_try_nid_raw", size, align, nid, min, max);
        self.alloc_internal(size, align, min, max, nid, false)
    }

    /// memblock_alloc_exact_nid_raw: as [`Self::alloc_try_nid_raw`] but never falls back to
    /// another node.
    #[track_caller]
    pub fn alloc_exact_nid_raw(&mut self, size: u64, align: u64, min: u64, max: u64, nid: i32) -> Option<u64> {
        self.trace_alloc("memblock_alloc_exact_nid_raw", size, align, nid, min, max);
        self.alloc_internal(size, align, min, max, nid, true)
    }

    /// memblock_alloc: zeroed memory anywhere below the current limit.
    #[track_caller]
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        self.alloc_try_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE)
    }

    /// memblock_alloc_raw: as [`Self::alloc`] without zeroing.
    #[track_caller]
    pub fn alloc_raw(&mut self, size: u64, align: u64) -> Option<u64> {
        self.alloc_try_nid_raw(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE)
    }

    /// memblock_alloc_from: zeroed memory at or above `min` if possible.
    #[track_caller]
    pub fn alloc_from(&mut self, size: u64, align: u64, min: u64) -> Option<u64> {
        self.alloc_try_nid(size, align, min, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE)
    }

    // ----- dumps ----------------------------------------------------------------------

    /// The contents of `/sys/kernel/debug/memblock/{memory,reserved}` in the newer format
    /// with node and flag (`%4d: %pa..%pa %4d FLAG`, `   x` for no node; 6.1 prints only
    /// the range). Like that format it names one flag per region, the lowest set bit, so
    /// `HOTPLUG|NOMAP` shows as `HOTPLUG`; [`Self::write_dump_all`] shows every bit.
    pub fn write_debugfs(&self, t: RegionType, w: &mut dyn Write) -> fmt::Result {
        for (i, r) in self.regions(t).enumerate() {
            let end = r.end().wrapping_sub(1);
            write!(w, "{i:4}: {:#018x}..{end:#018x} ", r.base)?;
            if r.nid != MAX_NUMNODES {
                write!(w, "{:4} ", r.nid)?;
            } else {
                write!(w, "{:>4} ", 'x')?;
            }
            if r.flags.0 == 0 {
                writeln!(w, "NONE")?;
            } else {
                let bit = r.flags.0.trailing_zeros() as usize;
                writeln!(w, "{}", MemblockFlags::NAMES.get(bit).copied().unwrap_or("UNKNOWN"))?;
            }
        }
        Ok(())
    }

    /// Linux's memblock_dump_all (`MEMBLOCK configuration:` ...), as printed with
    /// `memblock=debug`.
    pub fn write_dump_all(&self, w: &mut dyn Write) -> fmt::Result {
        writeln!(w, "MEMBLOCK configuration:")?;
        writeln!(w, " memory size = {:#018x} reserved size = {:#018x}", self.memory.total, self.reserved.total)?;
        for t in [RegionType::Memory, RegionType::Reserved] {
            writeln!(w, " {}.cnt  = {:#x}", t.name(), self.cnt(t))?;
            for (i, r) in self.regions(t).enumerate() {
                let end = r.end().wrapping_sub(1);
                write!(w, " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes", t.name(), i, r.base, end, r.size)?;
                if r.nid != MAX_NUMNODES {
                    write!(w, " on node {}", r.nid)?;
                }
                writeln!(w, " flags: {:#x}", r.flags.0)?;
            }
        }
        Ok(())
    }
}

/// Early page tables come from memblock (Linux's early_pgtable_alloc / alloc_low_pages):
/// zeroed, aligned to their size (at least a page), below the current limit.
impl<M: PhysMem> crate::pgtable::TableAlloc for Memblock<M> {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        let align = bytes.max(MEMBLOCK_PAGE_SIZE).next_power_of_two();
        self.alloc(bytes, align)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, _level: usize) {
        // If memblock cannot split its array to free this, the range stays reserved: early
        // memory is lost, never handed out twice.
        let _ = self.phys_free(pa, bytes);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::vec::Vec;

    /// A minimal sparse memory for unit tests.
    #[derive(Default)]
    pub(crate) struct TestMem(RefCell<HashMap<u64, u8>>);
    impl PhysMem for TestMem {
        crate::exclusive_atomics!();
        fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
            let m = self.0.borrow();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *m.get(&(pa.0 + i as u64)).unwrap_or(&0);
            }
        }
        fn write(&self, pa: PhysAddr, buf: &[u8]) {
            let mut m = self.0.borrow_mut();
            for (i, b) in buf.iter().enumerate() {
                m.insert(pa.0 + i as u64, *b);
            }
        }
    }

    fn regs(mb: &Memblock<TestMem>, t: RegionType) -> Vec<(u64, u64)> {
        mb.regions(t).map(|r| (r.base, r.size)).collect()
    }

    #[test]
    fn add_merges_and_fills_gaps() {
        let mut mb = Memblock::new(TestMem::default());
        assert_eq!(mb.cnt(RegionType::Memory), 1);
        mb.add(0x1000, 0x1000).unwrap();
        mb.add(0x3000, 0x1000).unwrap();
        assert_eq!(regs(&mb, RegionType::Memory), [(0x1000, 0x1000), (0x3000, 0x1000)]);
        mb.add(0x1800, 0x2000).unwrap();
        assert_eq!(regs(&mb, RegionType::Memory), [(0x1000, 0x3000)]);
        assert_eq!(mb.total_size(RegionType::Memory), 0x3000);
    }

    #[test]
    fn remove_splits() {
        let mut mb = Memblock::new(TestMem::default());
        mb.add(0x10000, 0x10000).unwrap();
        mb.remove(0x14000, 0x1000).unwrap();
        assert_eq!(regs(&mb, RegionType::Memory), [(0x10000, 0x4000), (0x15000, 0xb000)]);
        mb.remove(0, u64::MAX).unwrap();
        assert_eq!(regs(&mb, RegionType::Memory), [(0, 0)]);
        assert_eq!(mb.total_size(RegionType::Memory), 0);
    }

    #[test]
    fn alloc_top_down_and_bottom_up() {
        let mut mb = Memblock::new(TestMem::default());
        mb.add(0, 0x100000).unwrap();
        assert_eq!(mb.alloc(0x1000, 0x1000), Some(0xff000));
        mb.set_bottom_up(true);
        assert_eq!(mb.alloc(0x1000, 0x1000), Some(0x1000), "first page is never used");
        assert_eq!(regs(&mb, RegionType::Reserved), [(0x1000, 0x1000), (0xff000, 0x1000)]);
    }

    #[test]
    fn arrays_grow_into_memory_they_allocate() {
        let mut mb = Memblock::new(TestMem::default());
        mb.add(0, 0x1000_0000).unwrap();
        for i in 0..INIT_MEMBLOCK_REGIONS as u64 {
            mb.reserve(0x10_0000 + i * 0x2000, 0x1000).unwrap();
        }
        assert_eq!(
            mb.reserve(0x900_0000, 0x1000),
            Err(MemblockError::NoSpace { array: RegionType::Reserved, max: 128 })
        );
        assert_eq!(mb.cnt(RegionType::Reserved), 128, "refusal leaves state unchanged");
        mb.allow_resize();
        mb.reserve(0x900_0000, 0x1000).unwrap();
        assert_eq!(mb.max(RegionType::Reserved), 256);
        // 128 + the new region + the new array itself (8 KiB at the top).
        assert_eq!(mb.cnt(RegionType::Reserved), 130);
        let last = mb.region(RegionType::Reserved, 129);
        assert_eq!((last.base, last.size), (0x1000_0000 - 0x2000, 0x2000));
        // The grown array really lives in physical memory.
        let r0 = mb.region(RegionType::Reserved, 0);
        assert_eq!((r0.base, r0.size), (0x10_0000, 0x1000));
    }
}
