//! The buddy page allocator: zones, free lists per order, per-CPU page lists.
//!
//! # The protocol
//! - Memory is handed over at boot in the largest aligned blocks ([`PageAlloc::free_boot_range`],
//!   Linux's __free_pages_memory); reserved pages never enter.
//! - Free blocks are kept per zone in one list per order, linked through their head page's
//!   metadata ([`crate::memmap::PageMeta`]); a free head carries `PG_BUDDY` and its order.
//!   Freeing merges a block with its buddy (`pfn ^ (1 << order)`) while the buddy is a free
//!   head of the same order in the same zone; allocating splits larger blocks.
//! - Every block head (free, cached or allocated) carries its zone's link
//!   ([`crate::memmap::PG_ZONE_SHIFT`]), as Linux's page->flags carry node and zone: after
//!   memory hotplug zone spans may overlap (a block onlined to ZONE_MOVABLE inside
//!   ZONE_NORMAL's span, as Linux 6.1 allows), so a page's zone is never taken from spans
//!   once it has been handed to a zone.
//! - Orders up to [`PCP_MAX_ORDER`] go through a per-CPU cache first (Linux's pcp lists):
//!   refilled from the zone `batch` pages at a time, drained back when above `high`. Each
//!   zone's caches (struct per_cpu_pages: lock, count, list heads) are a per-CPU allocation
//!   in the per-CPU areas ([`PageAlloc::setup_zone_pageset`], Linux's setup_zone_pageset()),
//!   so CPU N's lists sit in CPU N's unit, on its node. Until then (and for a zone whose
//!   allocation failed) a zone has no cache and every page goes straight to its lists, as
//!   Linux's boot_pageset (high 0, batch 1) behaves.
//! - Locking: each zone's free lists are behind the zone's spin lock; each CPU's cache is
//!   behind its own lock, a word in its per-CPU area taken through
//!   [`PhysMem::compare_exchange_u32`] (so draining another CPU's cache is safe). Metadata of
//!   a free page is only touched under the lock of the list it is on; metadata of an
//!   allocated page belongs to its owner until it is freed.
//! - Freeing validates what it is told: a page that is not the head of an allocated block of
//!   that order (double free, reserved page, wrong order, a hole) is refused with a typed
//!   [`FreeError`], a Linux-like "Bad page state" line is logged, and nothing changes.
//! - Every page frame is exactly one of: absent (no memmap), reserved, free in the buddy
//!   lists, free on a per-CPU list, or allocated ([`PageAlloc::for_each_state`]).

use crate::addr::PhysAddr;
use crate::memmap::{Memmap, PageMeta, PG_BUDDY, PG_HEAD, PG_MOVABLE, PG_OFFLINE, PG_PCP, PG_RESERVED};
use crate::percpu::{PcpuChunk, PcpuPtr, PercpuError};
use crate::pgtable::PagingMode;
use crate::physmem::PhysMem;
use crate::zone::ZoneType;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Largest MAX_ORDER any arch uses (arm64 with 64K pages: 14).
pub const MAX_ORDER_LIMIT: usize = 16;
/// Highest order cached per CPU (Linux's PAGE_ALLOC_COSTLY_ORDER).
pub const PCP_MAX_ORDER: usize = 3;
/// Most CPUs the allocator serves (as many as the per-CPU areas have units).
pub const MAX_CPUS: usize = crate::percpu::MAX_CPUS;
/// Most (node, zone) pairs.
pub const MAX_ZONES: usize = 32;

/// A spin lock for the no_std core.
#[derive(Debug)]
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (acquire on lock, release on unlock),
// so sharing the lock between threads is sound whenever the value may move between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock around `v`.
    pub const fn new(v: T) -> Self {
        Self { locked: AtomicBool::new(false), value: UnsafeCell::new(v) }
    }
    /// Run `f` with the value locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: the compare-exchange above made us the only holder until the release
        // store below, so no other reference to the value exists meanwhile.
        let r = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

/// GFP-like allocation flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gfp(pub u32);

impl Gfp {
    /// ZONE_DMA only.
    pub const DMA: Gfp = Gfp(0x1);
    /// ZONE_DMA32 and below.
    pub const DMA32: Gfp = Gfp(0x2);
    /// HighMem allowed.
    pub const HIGHMEM: Gfp = Gfp(0x4);
    /// Movable allocation (ZONE_MOVABLE allowed; the page may be migrated).
    pub const MOVABLE: Gfp = Gfp(0x8);
    /// Zero the memory.
    pub const ZERO: Gfp = Gfp(0x100);
    /// Only from the preferred node.
    pub const THISNODE: Gfp = Gfp(0x200);
    /// Ignore the watermarks (Linux's __GFP_MEMALLOC: ALLOC_NO_WATERMARKS), for callers
    /// that free memory by allocating, or a self-test that takes every free page.
    pub const MEMALLOC: Gfp = Gfp(0x400);
    /// GFP_KERNEL: Normal and below.
    pub const KERNEL: Gfp = Gfp(0);
    /// GFP_HIGHUSER_MOVABLE.
    pub const HIGHUSER_MOVABLE: Gfp = Gfp(0x4 | 0x8);

    /// Union.
    pub const fn or(self, o: Gfp) -> Gfp {
        Gfp(self.0 | o.0)
    }
    /// Has all bits of `o`.
    pub const fn has(self, o: Gfp) -> bool {
        self.0 & o.0 == o.0
    }
    /// gfp_zone(): the highest zone these flags allow.
    pub const fn highest_zone(self) -> ZoneType {
        if self.has(Gfp::DMA) {
            ZoneType::Dma
        } else if self.has(Gfp::DMA32) {
            ZoneType::Dma32
        } else if self.has(Gfp::HIGHMEM) && self.has(Gfp::MOVABLE) {
            ZoneType::Movable
        } else if self.has(Gfp::HIGHMEM) {
            ZoneType::HighMem
        } else {
            ZoneType::Normal
        }
    }
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// No zone the flags allow has a free block of this order above its watermark.
    NoMemory {
        /// The order asked for.
        order: u32,
    },
    /// An order at or above MAX_ORDER.
    BadOrder(u32),
    /// A CPU number the allocator does not serve.
    BadCpu(usize),
}

impl core::error::Error for AllocError {}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::NoMemory { order } => write!(f, "no free block of order {order}"),
            AllocError::BadOrder(o) => write!(f, "order {o} is at or above MAX_ORDER"),
            AllocError::BadCpu(c) => write!(f, "cpu {c} is not served (at most {MAX_CPUS})"),
        }
    }
}

/// Why a free was refused (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The pfn has no memmap (a hole, or beyond memory).
    NoPage(u64),
    /// The page is reserved, never given to the allocator.
    Reserved(u64),
    /// The page is not the head of an allocated block: already free (double free) or never
    /// allocated.
    NotAllocated(u64),
    /// Freed with another order than it was allocated with.
    WrongOrder {
        /// The page.
        pfn: u64,
        /// Order it was allocated with.
        allocated: u32,
        /// Order given to free.
        freed: u32,
    },
    /// The page is still referenced elsewhere (refcount above 1).
    InUse(u64),
    /// A CPU number the allocator does not serve.
    BadCpu(usize),
}

impl core::error::Error for FreeError {}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeError::NoPage(p) => write!(f, "pfn {p:#x} has no struct page"),
            FreeError::Reserved(p) => write!(f, "pfn {p:#x} is reserved"),
            FreeError::NotAllocated(p) => write!(f, "pfn {p:#x} is not an allocated block (double free?)"),
            FreeError::WrongOrder { pfn, allocated, freed } => {
                write!(f, "pfn {pfn:#x} was allocated with order {allocated}, freed with order {freed}")
            }
            FreeError::InUse(p) => write!(f, "pfn {p:#x} is still referenced"),
            FreeError::BadCpu(c) => write!(f, "cpu {c} is not served"),
        }
    }
}

/// A zone's free lists.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FreeArea {
    /// Head pfn + 1 per order (0: empty).
    head: [u64; MAX_ORDER_LIMIT],
    /// Blocks per order.
    nr_free: [u64; MAX_ORDER_LIMIT],
}

/// Where a zone's page lists for one CPU are, in that CPU's per-CPU area (struct
/// per_cpu_pages): the lock word at [`PCP_LOCK`], the pages cached at [`PCP_COUNT`], then
/// one list head per order (pfn + 1; 0: empty), 8 bytes each. Only touched under its lock
/// ([`PageAlloc::with_pcp`]), word by word through [`PhysMem`].
#[derive(Clone, Copy, Debug)]
struct Pcp {
    at: u64,
}

/// Offset of the lock word in a zone's per-CPU page lists.
const PCP_LOCK: u64 = 0;
/// Offset of the count of pages (not blocks) cached; the list heads follow it.
const PCP_COUNT: u64 = 8;
const PCP_HEADS: u64 = 16;
/// Bytes of a zone's per-CPU page lists in each CPU's area.
pub const PCP_BYTES: u64 = PCP_HEADS + 8 * (PCP_MAX_ORDER as u64 + 1);

impl Pcp {
    #[inline]
    fn count<M: PhysMem>(self, m: &M) -> u64 {
        m.read_u64(PhysAddr(self.at + PCP_COUNT))
    }
    #[inline]
    fn set_count<M: PhysMem>(self, m: &M, v: u64) {
        m.write_u64(PhysAddr(self.at + PCP_COUNT), v)
    }
    #[inline]
    fn head<M: PhysMem>(self, m: &M, order: u32) -> u64 {
        m.read_u64(PhysAddr(self.at + PCP_HEADS + 8 * order as u64))
    }
    #[inline]
    fn set_head<M: PhysMem>(self, m: &M, order: u32, v: u64) {
        m.write_u64(PhysAddr(self.at + PCP_HEADS + 8 * order as u64), v)
    }
}

/// One zone of one node.
#[derive(Debug)]
pub struct Zone {
    /// Which zone.
    pub kind: ZoneType,
    /// Its node.
    pub nid: usize,
    /// First pfn.
    pub start_pfn: u64,
    /// Pages spanned.
    pub spanned: u64,
    /// Pages present.
    pub present: u64,
    /// Pages managed by the buddy allocator.
    pub managed: AtomicU64,
    /// Free pages in the buddy lists (Linux's NR_FREE_PAGES; per-CPU caches excluded).
    pub free: AtomicU64,
    /// Watermarks min, low, high (pages).
    pub wmark: [AtomicU64; 3],
    /// Per-CPU batch and high.
    pub pcp_batch: AtomicU64,
    /// See `pcp_batch`.
    pub pcp_high: AtomicU64,
    pub(crate) lists: SpinLock<FreeArea>,
    /// This zone's per-CPU page lists in the per-CPU areas (zone->per_cpu_pageset); `None`
    /// before [`PageAlloc::setup_zone_pageset`]: no cache, as with Linux's boot_pageset.
    pub pageset: Option<PcpuPtr>,
}

impl Zone {
    fn new(kind: ZoneType, nid: usize, start_pfn: u64, spanned: u64, present: u64) -> Self {
        Self {
            kind,
            nid,
            start_pfn,
            spanned,
            present,
            managed: AtomicU64::new(0),
            free: AtomicU64::new(0),
            wmark: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            pcp_batch: AtomicU64::new(1),
            pcp_high: AtomicU64::new(6),
            lists: SpinLock::new(FreeArea::default()),
            pageset: None,
        }
    }
    fn contains(&self, pfn: u64) -> bool {
        pfn >= self.start_pfn && pfn - self.start_pfn < self.spanned
    }
    /// This zone's link in its block heads' flags (see [`crate::memmap::PG_ZONE_SHIFT`]).
    #[inline]
    pub fn link(&self) -> u32 {
        zone_link(self.kind, self.nid)
    }
    /// Free blocks per order (for /proc/buddyinfo).
    pub fn nr_free(&self) -> [u64; MAX_ORDER_LIMIT] {
        self.lists.with(|l| l.nr_free)
    }
}

/// The zone link of zone `kind` of node `nid`.
#[inline]
pub const fn zone_link(kind: ZoneType, nid: usize) -> u32 {
    1 + kind as u32 + 8 * nid as u32
}

/// What a page frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    /// No memmap.
    Absent,
    /// Reserved.
    Reserved,
    /// In a free block of the buddy lists.
    Free,
    /// In a free block on a per-CPU list.
    PcpFree,
    /// In an allocated block.
    Allocated,
    /// Offline memory (hotplug): has a memmap, not managed by the allocator.
    Offline,
}

/// The page allocator of one machine.
#[derive(Debug)]
pub struct PageAlloc<Mo: PagingMode, M: PhysMem> {
    mem: M,
    memmap: Memmap,
    max_order: u32,
    zones: [Option<Zone>; MAX_ZONES],
    nzones: usize,
    cpus: usize,
    /// The per-CPU areas' allocator, once the zones' page lists moved there.
    percpu: Option<PcpuChunk>,
    _mode: PhantomData<Mo>,
}

// SAFETY: all mutable state is behind SpinLocks or atomics; `mem` is required to be Sync
// (the host store locks internally; a kernel's linear map is plain memory).
unsafe impl<Mo: PagingMode, M: PhysMem + Sync> Sync for PageAlloc<Mo, M> {}

impl<Mo: PagingMode, M: PhysMem> PageAlloc<Mo, M> {
    /// An allocator with no zones, for `cpus` CPUs and buddy orders below `max_order`.
    pub fn new(mem: M, memmap: Memmap, max_order: u32, cpus: usize) -> Self {
        Self {
            mem,
            memmap,
            max_order: max_order.clamp(1, MAX_ORDER_LIMIT as u32),
            zones: [const { None }; MAX_ZONES],
            nzones: 0,
            cpus: cpus.clamp(1, MAX_CPUS),
            percpu: None,
            _mode: PhantomData,
        }
    }

    /// setup_zone_pageset(): give every zone per-CPU page lists in the per-CPU areas of
    /// `chunk` (a zone registered later gets its own when it is registered). Whatever CPUs
    /// cached before goes back to the zones first. On failure nothing changes.
    ///
    /// # Errors
    /// [`PercpuError::DynamicFull`] when the dynamic area cannot hold every zone's lists.
    pub fn setup_zone_pageset(&mut self, chunk: PcpuChunk) -> Result<(), PercpuError> {
        let mut got = [None; MAX_ZONES];
        for (i, slot) in got.iter_mut().enumerate().take(self.nzones) {
            match chunk.alloc(&self.mem, PCP_BYTES, 8) {
                Ok(p) => *slot = Some(p),
                Err(e) => {
                    for p in got[..i].iter().flatten() {
                        let _ = chunk.free(*p);
                    }
                    return Err(e);
                }
            }
        }
        for cpu in 0..self.cpus {
            self.drain_cpu(cpu);
        }
        for (z, p) in self.zones[..self.nzones].iter_mut().zip(got) {
            if let Some(z) = z {
                z.pageset = p;
            }
        }
        self.percpu = Some(chunk);
        Ok(())
    }

    /// The per-CPU areas' allocator (alloc_percpu() for other users), once
    /// [`PageAlloc::setup_zone_pageset`] ran.
    pub fn percpu(&self) -> Option<&PcpuChunk> {
        self.percpu.as_ref()
    }

    /// Run `f` on zone `z`'s page lists of `cpu` under their lock; `None` (and `f` not run)
    /// when the zone has no per-CPU lists or `cpu` has no per-CPU area.
    #[inline]
    fn with_pcp<R>(&self, z: &Zone, cpu: usize, f: impl FnOnce(Pcp) -> R) -> Option<R> {
        let at = self.percpu.as_ref()?.addr(z.pageset?, cpu)?.0;
        let lock = PhysAddr(at + PCP_LOCK);
        while self.mem.compare_exchange_u32(lock, 0, 1).is_err() {
            core::hint::spin_loop();
        }
        let r = f(Pcp { at });
        self.mem.store_release_u32(lock, 0);
        Some(r)
    }

    /// Pages on `cpu`'s cache of zone `z` (0 when it has none).
    pub fn pcp_count(&self, z: &Zone, cpu: usize) -> u64 {
        self.with_pcp(z, cpu, |p| p.count(&self.mem)).unwrap_or(0)
    }

    /// Register a zone (in the order zonelists should list it: by node, low to high).
    /// Returns false when the table is full.
    pub fn add_zone(&mut self, kind: ZoneType, nid: usize, start_pfn: u64, spanned: u64, present: u64) -> bool {
        if self.nzones >= MAX_ZONES {
            return false;
        }
        self.zones[self.nzones] = Some(Zone::new(kind, nid, start_pfn, spanned, present));
        self.nzones += 1;
        true
    }

    /// Index of the zone `kind` of node `nid` in the zone table, registering it with an
    /// empty span first if the node has none (ZONE_MOVABLE and new nodes start empty under
    /// memory hotplug). Zones stay ordered by node, then zone type, the order the zonelists
    /// follow, so inserting one rebuilds them. `None` when the table is full.
    pub fn ensure_zone(&mut self, kind: ZoneType, nid: usize) -> Option<usize> {
        if let Some(i) = self.zone_index(kind, nid) {
            return Some(i);
        }
        if self.nzones >= MAX_ZONES {
            return None;
        }
        let at = self.zones[..self.nzones].iter().flatten().take_while(|z| (z.nid, z.kind) < (nid, kind)).count();
        let mut z = Zone::new(kind, nid, 0, 0, 0);
        // A zone without room for per-CPU lists still works, uncached.
        z.pageset = self.percpu.as_ref().and_then(|c| c.alloc(&self.mem, PCP_BYTES, 8).ok());
        self.zones[self.nzones] = Some(z);
        self.zones[at..=self.nzones].rotate_right(1);
        self.nzones += 1;
        Some(at)
    }

    /// Index of zone `kind` of node `nid`, if registered.
    pub fn zone_index(&self, kind: ZoneType, nid: usize) -> Option<usize> {
        self.zones[..self.nzones].iter().position(|z| z.as_ref().is_some_and(|z| z.kind == kind && z.nid == nid))
    }

    /// The zone at index `i` (see [`PageAlloc::zone_index`]).
    pub fn zone_at(&self, i: usize) -> Option<&Zone> {
        self.zones[..self.nzones].get(i).and_then(|z| z.as_ref())
    }

    /// The zone at index `i`, to change its span and present pages (memory hotplug).
    pub fn zone_at_mut(&mut self, i: usize) -> Option<&mut Zone> {
        self.zones[..self.nzones].get_mut(i).and_then(|z| z.as_mut())
    }

    /// The memmap, to add and remove sections (memory hotplug).
    pub fn memmap_mut(&mut self) -> &mut Memmap {
        &mut self.memmap
    }

    /// The zones.
    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones[..self.nzones].iter().flatten()
    }

    /// CPUs served.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// MAX_ORDER.
    pub fn max_order(&self) -> u32 {
        self.max_order
    }

    /// The memmap.
    pub fn memmap(&self) -> &Memmap {
        &self.memmap
    }

    /// The physical memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// The zone whose span holds `pfn` (the lowest such zone of the lowest node when spans
    /// overlap): for memory handed over by span, at boot or freed from the reserved pool.
    pub(crate) fn zone_of(&self, pfn: u64) -> Option<&Zone> {
        self.zones().find(|z| z.contains(pfn))
    }

    /// The zone a block head's link names.
    #[inline]
    pub(crate) fn zone_by_link(&self, link: u32) -> Option<&Zone> {
        if link == 0 {
            return None;
        }
        self.zones().find(|z| z.link() == link)
    }

    #[inline]
    pub(crate) fn meta(&self, pfn: u64) -> Option<PageMeta> {
        self.memmap.get::<Mo, M>(&self.mem, pfn)
    }

    #[inline]
    pub(crate) fn set_meta(&self, pfn: u64, m: PageMeta) {
        self.memmap.set::<Mo, M>(&self.mem, pfn, m);
    }

    /// Mark `[start, end)` reserved in the memmap (reserve_bootmem_region).
    pub fn mark_reserved(&self, start_pfn: u64, end_pfn: u64) {
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            match self.meta(pfn) {
                Some(mut m) => {
                    m.flags |= PG_RESERVED;
                    self.set_meta(pfn, m);
                    pfn += 1;
                }
                // No metadata here: skip to where there may be some (the next section;
                // for FLATMEM, the start of the array).
                None => pfn = self.memmap.skip_absent(pfn),
            }
        }
    }

    // ----- free lists (callers hold the zone lock) ------------------------------------

    pub(crate) fn list_add(&self, z: &Zone, fa: &mut FreeArea, pfn: u64, order: u32) {
        let o = order as usize;
        let old = fa.head[o];
        let flags = PageMeta::with_zone(PageMeta::with_order(PG_BUDDY, order), z.link());
        self.set_meta(pfn, PageMeta { flags, refcount: 0, next: old, prev: 0, private: 0 });
        if old != 0 {
            if let Some(mut n) = self.meta(old - 1) {
                n.prev = pfn + 1;
                self.set_meta(old - 1, n);
            }
        }
        fa.head[o] = pfn + 1;
        fa.nr_free[o] += 1;
    }

    pub(crate) fn list_del(&self, fa: &mut FreeArea, pfn: u64, m: &PageMeta) {
        let o = m.order() as usize;
        if m.prev == 0 {
            fa.head[o] = m.next;
        } else if let Some(mut p) = self.meta(m.prev - 1) {
            p.next = m.next;
            self.set_meta(m.prev - 1, p);
        }
        if m.next != 0 {
            if let Some(mut n) = self.meta(m.next - 1) {
                n.prev = m.prev;
                self.set_meta(m.next - 1, n);
            }
        }
        fa.nr_free[o] -= 1;
        // The page becomes a plain (zero) tail until someone writes its new state.
        self.set_meta(pfn, PageMeta::default());
    }

    /// __free_one_page: put `[pfn, pfn + 2^order)` on the lists, merging with buddies.
    pub(crate) fn free_one(&self, z: &Zone, fa: &mut FreeArea, mut pfn: u64, mut order: u32) {
        while order + 1 < self.max_order {
            let buddy = pfn ^ (1u64 << order);
            if !z.contains(buddy) {
                break;
            }
            match self.meta(buddy) {
                // Same zone by link: with overlapping spans a neighbour in the span may
                // belong to another zone.
                Some(b) if b.flags & PG_BUDDY != 0 && b.order() == order && b.zone_link() == z.link() => {
                    self.list_del(fa, buddy, &b);
                    pfn = pfn.min(buddy);
                    order += 1;
                }
                _ => break,
            }
        }
        self.list_add(z, fa, pfn, order);
    }

    /// Take a block of exactly `order` from the lists, splitting a larger one.
    fn take(&self, z: &Zone, fa: &mut FreeArea, order: u32) -> Option<u64> {
        let mut o = order;
        while o < self.max_order && fa.head[o as usize] == 0 {
            o += 1;
        }
        if o >= self.max_order {
            return None;
        }
        let pfn = fa.head[o as usize] - 1;
        let m = self.meta(pfn)?;
        self.list_del(fa, pfn, &m);
        while o > order {
            o -= 1;
            self.list_add(z, fa, pfn + (1u64 << o), o);
        }
        Some(pfn)
    }

    /// Hand `[start_pfn, end_pfn)` to the allocator in the largest aligned blocks
    /// (Linux's __free_pages_memory / __free_pages_core), each piece to the zone whose span
    /// holds it (boot zones do not overlap). Pages outside every zone are skipped. Returns
    /// how many pages were added.
    pub fn free_boot_range(&self, start_pfn: u64, end_pfn: u64) -> u64 {
        let mut pfn = start_pfn;
        let mut added = 0;
        while pfn < end_pfn {
            let Some(z) = self.zone_of(pfn) else {
                // Not in any zone: jump to the next zone that starts above, if any.
                pfn = self.zones().map(|z| z.start_pfn).filter(|&s| s > pfn).min().unwrap_or(end_pfn);
                continue;
            };
            let lim = end_pfn.min(z.start_pfn + z.spanned);
            added += self.free_range_to(z, pfn, lim);
            pfn = lim;
        }
        added
    }

    /// Hand `[start_pfn, end_pfn)` to zone `z` in the largest aligned blocks.
    fn free_range_to(&self, z: &Zone, start_pfn: u64, end_pfn: u64) -> u64 {
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let mut order = (self.max_order - 1).min(if pfn == 0 { 63 } else { pfn.trailing_zeros() });
            while pfn + (1u64 << order) > end_pfn {
                order -= 1;
            }
            z.lists.with(|fa| self.free_one(z, fa, pfn, order));
            z.managed.fetch_add(1 << order, Ordering::Relaxed);
            z.free.fetch_add(1 << order, Ordering::Relaxed);
            pfn += 1u64 << order;
        }
        end_pfn.saturating_sub(start_pfn)
    }

    /// Set the owner's word of the allocated block headed by `pfn` (a movable allocation's
    /// handle, which memory-hotplug migration reports when it moves the block). `false`
    /// when `pfn` is not an allocated head.
    pub fn set_private(&self, pfn: u64, private: u64) -> bool {
        match self.meta(pfn) {
            Some(mut m) if m.flags & PG_HEAD != 0 => {
                m.private = private;
                self.set_meta(pfn, m);
                true
            }
            _ => false,
        }
    }

    /// Mark `[start_pfn, end_pfn)` offline in the largest aligned blocks (the memmap of
    /// memory just added by hotplug, before it is onlined). Pages without a memmap are
    /// skipped.
    pub fn mark_offline(&self, start_pfn: u64, end_pfn: u64) {
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let mut order = (self.max_order - 1).min(if pfn == 0 { 63 } else { pfn.trailing_zeros() });
            while pfn + (1u64 << order) > end_pfn {
                order -= 1;
            }
            self.set_meta(pfn, PageMeta { flags: PageMeta::with_order(PG_OFFLINE, order), ..PageMeta::default() });
            pfn += 1u64 << order;
        }
    }

    /// online_pages()' hand-over: every offline block in `[start_pfn, end_pfn)` goes to
    /// the zone at index `zone` (which must span it; other zones' spans may overlap it), in
    /// the largest aligned blocks. Returns the pages onlined (0 for a bad zone index).
    pub fn online_range(&self, zone: usize, start_pfn: u64, end_pfn: u64) -> u64 {
        let Some(z) = self.zone_at(zone) else { return 0 };
        let mut onlined = 0;
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            match self.meta(pfn) {
                Some(m) if m.flags & PG_OFFLINE != 0 => {
                    let n = 1u64 << m.order();
                    self.set_meta(pfn, PageMeta::default());
                    // Runs of offline blocks are freed together, merging as they go.
                    onlined += self.free_range_to(z, pfn, (pfn + n).min(end_pfn));
                    pfn += n;
                }
                Some(m) if m.flags & (PG_HEAD | PG_BUDDY | PG_PCP) != 0 => pfn += m.block_len(),
                Some(_) => pfn += 1,
                None => pfn = self.memmap.skip_absent(pfn),
            }
        }
        onlined
    }

    /// Linux's free_reserved_area(): give reserved pages `[start_pfn, end_pfn)` to the
    /// allocator (they become managed), after filling them with `poison` if given. Pages
    /// that are not reserved (already free or allocated) are skipped, so calling it twice
    /// frees nothing twice. Returns the pages freed.
    pub fn free_reserved_range(&self, start_pfn: u64, end_pfn: u64, poison: Option<u8>) -> u64 {
        let page = Mo::PAGE_SIZE;
        let mut freed = 0;
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            // Runs of reserved pages are freed in the largest aligned blocks.
            let run_start = pfn;
            while pfn < end_pfn && self.meta(pfn).is_some_and(|m| m.flags & PG_RESERVED != 0) {
                let mut m = self.meta(pfn).unwrap_or_default();
                m.flags &= !PG_RESERVED;
                self.set_meta(pfn, m);
                if let Some(byte) = poison {
                    let buf = [byte; 256];
                    let mut off = 0;
                    while off < page {
                        self.mem.write(crate::addr::PhysAddr(pfn * page + off), &buf);
                        off += buf.len() as u64;
                    }
                }
                pfn += 1;
            }
            if pfn > run_start {
                freed += self.free_boot_range(run_start, pfn);
            } else {
                pfn += 1;
            }
        }
        freed
    }

    /// What the page heading a block at `pfn` is: reserved, the head of an allocated block,
    /// on a per-CPU list, free (in the buddy lists, or a tail inside some block), or absent.
    pub fn page_state(&self, pfn: u64) -> PageState {
        match self.meta(pfn) {
            None => PageState::Absent,
            Some(m) if m.flags & PG_RESERVED != 0 => PageState::Reserved,
            Some(m) if m.flags & PG_HEAD != 0 => PageState::Allocated,
            Some(m) if m.flags & PG_PCP != 0 => PageState::PcpFree,
            Some(m) if m.flags & PG_OFFLINE != 0 => PageState::Offline,
            Some(_) => PageState::Free,
        }
    }

    // ----- allocation -------------------------------------------------------------------

    /// Allocate `2^order` contiguous pages on behalf of `cpu`, preferring node `nid`.
    ///
    /// The zonelist is: on the preferred node, the highest zone `gfp` allows down to DMA;
    /// then the other nodes (unless THISNODE) in id order. A zone is used when its free
    /// pages stay above the low watermark (then, failing everywhere, the min watermark; no
    /// watermark with [`Gfp::MEMALLOC`]). Orders up to [`PCP_MAX_ORDER`] come from the CPU's
    /// cache. With [`Gfp::ZERO`] the pages are zeroed.
    ///
    /// # Errors
    /// [`AllocError`].
    pub fn alloc(&self, cpu: usize, gfp: Gfp, order: u32, nid: usize) -> Result<u64, AllocError> {
        if order >= self.max_order {
            return Err(AllocError::BadOrder(order));
        }
        if cpu >= self.cpus {
            return Err(AllocError::BadCpu(cpu));
        }
        let top = gfp.highest_zone();
        for wm in [1usize, 0] {
            for pass in 0..2 {
                // Highest zone first, as Linux's zonelists order them.
                for z in self.zones[..self.nzones].iter().rev().flatten() {
                    let local = z.nid == nid;
                    if (pass == 0) != local || (!local && gfp.has(Gfp::THISNODE)) {
                        continue;
                    }
                    if z.kind > top || (z.kind == ZoneType::Movable && !gfp.has(Gfp::MOVABLE)) {
                        continue;
                    }
                    let free = z.free.load(Ordering::Relaxed);
                    let mark = if gfp.has(Gfp::MEMALLOC) { 0 } else { z.wmark[wm].load(Ordering::Relaxed) };
                    if free < mark + (1u64 << order) && order as usize > PCP_MAX_ORDER {
                        continue;
                    }
                    if let Some(pfn) = self.alloc_from(z, cpu, order, mark) {
                        let flags = PageMeta::with_zone(PageMeta::with_order(PG_HEAD, order), z.link())
                            | if gfp.has(Gfp::MOVABLE) { PG_MOVABLE } else { 0 };
                        self.set_meta(pfn, PageMeta { flags, refcount: 1, next: 0, prev: 0, private: 0 });
                        if gfp.has(Gfp::ZERO) {
                            self.mem.zero(
                                crate::addr::PhysAddr(pfn << Mo::LEVELS[Mo::LEVELS.len() - 1].shift),
                                (1u64 << order) * Mo::PAGE_SIZE,
                            );
                        }
                        return Ok(pfn);
                    }
                }
            }
        }
        Err(AllocError::NoMemory { order })
    }

    fn alloc_from(&self, z: &Zone, cpu: usize, order: u32, mark: u64) -> Option<u64> {
        if order as usize <= PCP_MAX_ORDER {
            let cached = self.with_pcp(z, cpu, |pcp| {
                if pcp.head(&self.mem, order) == 0 {
                    // rmqueue_bulk: refill `batch` pages' worth, above the watermark.
                    let batch = z.pcp_batch.load(Ordering::Relaxed).max(1);
                    let want = (batch >> order).max(1);
                    z.lists.with(|fa| {
                        for _ in 0..want {
                            let free = z.free.load(Ordering::Relaxed);
                            if free < mark + (1u64 << order) {
                                break;
                            }
                            match self.take(z, fa, order) {
                                Some(pfn) => {
                                    z.free.fetch_sub(1 << order, Ordering::Relaxed);
                                    self.pcp_push(z, pcp, pfn, order);
                                }
                                None => break,
                            }
                        }
                    });
                }
                self.pcp_pop(pcp, order)
            });
            if let Some(got) = cached {
                return got;
            }
        }
        z.lists.with(|fa| {
            if z.free.load(Ordering::Relaxed) < mark + (1u64 << order) {
                return None;
            }
            let pfn = self.take(z, fa, order)?;
            z.free.fetch_sub(1 << order, Ordering::Relaxed);
            Some(pfn)
        })
    }

    fn pcp_push(&self, z: &Zone, pcp: Pcp, pfn: u64, order: u32) {
        let m = &self.mem;
        let flags = PageMeta::with_zone(PageMeta::with_order(PG_PCP, order), z.link());
        self.set_meta(pfn, PageMeta { flags, refcount: 0, next: pcp.head(m, order), prev: 0, private: 0 });
        pcp.set_head(m, order, pfn + 1);
        pcp.set_count(m, pcp.count(m) + (1 << order));
    }

    fn pcp_pop(&self, pcp: Pcp, order: u32) -> Option<u64> {
        let mem = &self.mem;
        let pfn = pcp.head(mem, order).checked_sub(1)?;
        let m = self.meta(pfn)?;
        pcp.set_head(mem, order, m.next);
        pcp.set_count(mem, pcp.count(mem) - (1 << order));
        self.set_meta(pfn, PageMeta::default());
        Some(pfn)
    }

    /// Free the block of `2^order` pages at `pfn` on behalf of `cpu`.
    ///
    /// # Errors
    /// [`FreeError`] when `pfn` is not the head of an allocated block of that order (logs
    /// Linux's "BUG: Bad page state" line); nothing changes then.
    pub fn free(&self, cpu: usize, pfn: u64, order: u32) -> Result<(), FreeError> {
        if cpu >= self.cpus {
            return Err(FreeError::BadCpu(cpu));
        }
        let m = self.meta(pfn).ok_or(FreeError::NoPage(pfn))?;
        let err = if m.flags & PG_RESERVED != 0 {
            Some(FreeError::Reserved(pfn))
        } else if m.flags & PG_HEAD == 0 {
            Some(FreeError::NotAllocated(pfn))
        } else if m.order() != order {
            Some(FreeError::WrongOrder { pfn, allocated: m.order(), freed: order })
        } else if m.refcount != 1 {
            Some(FreeError::InUse(pfn))
        } else {
            None
        };
        if let Some(e) = err {
            log::error!(
                "BUG: Bad page state: pfn:{pfn:#x} flags:{:#x} refcount:{} order:{order}: {e}",
                m.flags,
                m.refcount
            );
            return Err(e);
        }
        let z = self.zone_by_link(m.zone_link()).ok_or(FreeError::NoPage(pfn))?;
        self.set_meta(pfn, PageMeta::default());
        let cached = order as usize <= PCP_MAX_ORDER
            && self
                .with_pcp(z, cpu, |pcp| {
                    self.pcp_push(z, pcp, pfn, order);
                    if pcp.count(&self.mem) > z.pcp_high.load(Ordering::Relaxed) {
                        self.drain_locked(z, pcp, z.pcp_batch.load(Ordering::Relaxed).max(1));
                    }
                })
                .is_some();
        if !cached {
            z.lists.with(|fa| self.free_one(z, fa, pfn, order));
            z.free.fetch_add(1 << order, Ordering::Relaxed);
        }
        Ok(())
    }

    /// free_pcppages_bulk: move at least `pages` pages from a CPU cache to the zone.
    fn drain_locked(&self, z: &Zone, pcp: Pcp, pages: u64) {
        let mut moved = 0;
        z.lists.with(|fa| {
            for o in (0..=PCP_MAX_ORDER as u32).rev() {
                while moved < pages {
                    let Some(pfn) = self.pcp_pop(pcp, o) else { break };
                    self.free_one(z, fa, pfn, o);
                    z.free.fetch_add(1 << o, Ordering::Relaxed);
                    moved += 1 << o;
                }
            }
        });
    }

    /// drain_all_pages for one CPU: return everything it caches to the zones.
    pub fn drain_cpu(&self, cpu: usize) {
        if cpu >= self.cpus {
            return;
        }
        for z in self.zones() {
            self.with_pcp(z, cpu, |pcp| self.drain_locked(z, pcp, u64::MAX));
        }
    }

    /// Pages cached on per-CPU lists of all CPUs.
    pub fn pcp_pages(&self) -> u64 {
        self.zones().map(|z| (0..self.cpus).map(|c| self.pcp_count(z, c)).sum::<u64>()).sum()
    }

    /// nr_free_pages(): free pages in the buddy lists of all zones.
    pub fn nr_free_pages(&self) -> u64 {
        self.zones().map(|z| z.free.load(Ordering::Relaxed)).sum()
    }

    /// totalram_pages(): pages managed by the allocator.
    pub fn totalram_pages(&self) -> u64 {
        self.zones().map(|z| z.managed.load(Ordering::Relaxed)).sum()
    }

    /// The state of every pfn in `[start, end)`, for audits: `f(pfn, state)`. Walks the
    /// free lists of every zone and CPU, so it needs quiescence (no concurrent alloc/free).
    pub fn for_each_state(&self, start: u64, end: u64, mut f: impl FnMut(u64, PageState)) {
        let mut pfn = start;
        while pfn < end {
            let Some(m) = self.meta(pfn) else {
                f(pfn, PageState::Absent);
                pfn += 1;
                continue;
            };
            let state = if m.flags & PG_RESERVED != 0 {
                PageState::Reserved
            } else if m.flags & PG_BUDDY != 0 {
                PageState::Free
            } else if m.flags & PG_PCP != 0 {
                PageState::PcpFree
            } else if m.flags & PG_HEAD != 0 {
                PageState::Allocated
            } else if m.flags & PG_OFFLINE != 0 {
                PageState::Offline
            } else {
                // A zero page outside any block head's reach: not handed to the allocator.
                PageState::Absent
            };
            let n = m.block_len();
            for p in pfn..(pfn + n).min(end) {
                f(p, state);
            }
            pfn += n;
        }
    }

    /// Set the per-CPU batch/high and the watermarks of every zone from `min_free_kbytes`
    /// as Linux's zone_batchsize() and __setup_per_zone_wmarks() compute them
    /// (watermark_scale_factor 10, no highmem special case for lowmem zones).
    pub fn setup_watermarks(&self, min_free_kbytes: u64, page_shift: u32) {
        let pages_min = min_free_kbytes >> (page_shift - 10);
        let lowmem: u64 = self
            .zones()
            .filter(|z| z.kind != ZoneType::HighMem && z.kind != ZoneType::Movable)
            .map(|z| z.managed.load(Ordering::Relaxed))
            .sum();
        for z in self.zones() {
            let managed = z.managed.load(Ordering::Relaxed);
            let min = if z.kind == ZoneType::HighMem || z.kind == ZoneType::Movable {
                (managed / 1024).clamp(32, 128)
            } else {
                (pages_min * managed).checked_div(lowmem).unwrap_or(0)
            };
            let scale = (managed * 10 / 10000).max(min / 4);
            z.wmark[0].store(min, Ordering::Relaxed);
            z.wmark[1].store(min + scale, Ordering::Relaxed);
            z.wmark[2].store(min + 2 * scale, Ordering::Relaxed);
            // zone_batchsize(): 1/1024 of the zone up to 1 MiB, a quarter of that, rounded
            // to a power of two minus one.
            let mut batch = (managed >> 10).min((1 << 20) >> page_shift) / 4;
            if batch < 1 {
                batch = 1;
            }
            let b = batch + batch / 2;
            let batch = (1u64 << (63 - b.leading_zeros())) - 1;
            let batch = batch.max(1);
            z.pcp_batch.store(batch, Ordering::Relaxed);
            z.pcp_high.store(6 * batch, Ordering::Relaxed);
        }
    }
}
