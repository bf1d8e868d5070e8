//! Memory hotplug: add, online, offline and remove memory at run time (Linux's
//! mm/memory_hotplug.c and drivers/base/memory.c), one generic implementation.
//!
//! # Model
//! - Memory is managed in **memory blocks** of the arch's `memory_block_size_bytes()`
//!   ([`Arch::memory_block_size_bytes`]), each made of whole memory-model sections. Block
//!   `N` starts at pfn `N * pages_per_block` (Linux's `memoryN`, `phys_index`). Boot memory
//!   gets blocks too (online, in the zone its pages have).
//! - **add** ([`Hotplug::add`]): checks (alignment to the block size, inside the physical
//!   address width, no overlap with memory), memblock gets the range (with
//!   `MEMBLOCK_DRIVER_MANAGED` when asked), then [`Arch::arch_add_memory`]: the linear map
//!   with the page-table engine (tables from the page allocator) and a memmap for each new
//!   section ([`crate::memmap::Memmap::hot_add_section`]), optionally placed on the new
//!   memory itself (memmap_on_memory: those pages stay reserved). New pages are offline.
//! - **online** ([`Hotplug::online`]): the zone comes from the explicit choice or Linux's
//!   policy (`zone_for_pfn_range()`: default/contig-zones with `movable_node`, or
//!   auto-movable with its ratio); the zone's span grows (ZONE_MOVABLE and zones of new
//!   nodes start empty and are inserted into the zone table in zonelist order), present
//!   pages grow, the pages go to the buddy allocator (managed grows) and the watermarks are
//!   recomputed (init_per_zone_wmark_min()).
//! - **offline** ([`Hotplug::offline`]): nothing changes unless every page of the block is
//!   free, movable or the block's own memmap (else [`HotplugError::Busy`] or
//!   [`HotplugError::Holes`]); then per-CPU lists are drained, the block's free buddy blocks
//!   are isolated (taken off the free lists), every movable allocation is migrated to a new
//!   home outside the block (contents copied, metadata and the owner's handle moved; the
//!   owner hears of it through a callback), and the block's pages become offline: they leave
//!   the zone's managed and present counts, and the zone and node spans shrink at their
//!   edges.
//! - **remove** ([`Hotplug::remove`]): only offline, hot-added blocks; memblock forgets the
//!   range, [`Arch::arch_remove_memory`] unmaps it from the linear map and frees the memmap
//!   and the page-table pages that became empty.
//!
//! Zone spans may overlap, as in Linux 6.1: a block onlined to ZONE_MOVABLE may sit inside
//! ZONE_NORMAL's span and the other way round (the span grows to cover the block, whatever
//! lies between). Pages know their zone from their block head's zone link, not from spans,
//! and buddies merge only within one zone. `valid_zones` of an offline block is Linux's:
//! the default zone, then the kernel zone and ZONE_MOVABLE if they differ.
//!
//! Everything is fixed-size: up to [`MAX_MEMORY_BLOCKS`] blocks, no heap.

use crate::addr::PhysAddr;
use crate::addr::VirtAddr;
use crate::arch::Arch;
use crate::boot::{BootCtx, Booted};
use crate::buddy::{Gfp, PageAlloc, Zone};
use crate::memblock::{MemblockError, MemblockFlags, RegionType};
use crate::memmap::{
    MemmapError, MemmapSource, PageMeta, PG_BUDDY, PG_HEAD, PG_MOVABLE, PG_OFFLINE, PG_PCP, PG_RESERVED,
};
use crate::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, PgError, TableAlloc};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NODES};
use core::fmt;
use core::sync::atomic::Ordering;

/// Most memory blocks tracked (boot and hot-added).
pub const MAX_MEMORY_BLOCKS: usize = 1024;

/// Why a hotplug operation was refused. Nothing changed (except where a variant says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// The arch (or its memory model) has no memory hotplug; the reason.
    Unsupported(&'static str),
    /// An address or size is not a multiple of the memory block size.
    Unaligned {
        /// The value.
        value: u64,
        /// The block size.
        align: u64,
    },
    /// A size of zero.
    Empty,
    /// The range runs beyond the physical address width (or wraps).
    OutOfRange(u64),
    /// The range overlaps memory that is present.
    Overlap(u64),
    /// A node id this build or arch cannot hold.
    BadNode(usize),
    /// The block table (or zone table) is full.
    TooMany,
    /// No memory block with this id.
    NoBlock(u64),
    /// The range holds memory that was not hot-added (boot memory is never removed here).
    NotHotAdded(u64),
    /// The block is already online.
    AlreadyOnline(u64),
    /// The block is already offline.
    AlreadyOffline(u64),
    /// The block is online (remove needs it offline).
    StillOnline(u64),
    /// An unmovable page is in use in the block.
    Busy {
        /// The block.
        block: u64,
        /// The first unmovable page.
        pfn: u64,
    },
    /// The block has holes (pages without memory) and cannot be offlined.
    Holes(u64),
    /// The block spans more than one zone.
    MixedZones(u64),
    /// The arch does not configure that zone.
    NoSuchZone(ZoneType),
    /// memmap_on_memory cannot be used for this range; why.
    MemmapOnMemory(&'static str),
    /// Out of memory for page tables, the memmap or migration targets. For offline: pages
    /// already migrated stay at their new homes, everything else is as before.
    NoMemory,
    /// memblock refused (its arrays are full).
    Memblock(MemblockError),
    /// The page-table engine refused.
    PageTable(PgError),
    /// The memmap could not be extended.
    Memmap(MemmapError),
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HotplugError::Unsupported(w) => write!(f, "memory hotplug is not supported: {w}"),
            HotplugError::Unaligned { value, align } => {
                write!(f, "{value:#x} is not aligned to the memory block size {align:#x}")
            }
            HotplugError::Empty => write!(f, "empty range"),
            HotplugError::OutOfRange(a) => write!(f, "{a:#x} is beyond the physical address width"),
            HotplugError::Overlap(a) => write!(f, "the range overlaps present memory at {a:#x}"),
            HotplugError::BadNode(n) => write!(f, "node {n} is not possible"),
            HotplugError::TooMany => write!(f, "too many memory blocks or zones"),
            HotplugError::NoBlock(b) => write!(f, "no memory block {b}"),
            HotplugError::NotHotAdded(b) => write!(f, "memory block {b} is boot memory, not hot-added"),
            HotplugError::AlreadyOnline(b) => write!(f, "memory block {b} is already online"),
            HotplugError::AlreadyOffline(b) => write!(f, "memory block {b} is already offline"),
            HotplugError::StillOnline(b) => write!(f, "memory block {b} is online"),
            HotplugError::Busy { block, pfn } => {
                write!(f, "memory block {block} is busy: unmovable page at pfn {pfn:#x}")
            }
            HotplugError::Holes(b) => write!(f, "memory block {b} has memory holes"),
            HotplugError::MixedZones(b) => write!(f, "memory block {b} spans more than one zone"),
            HotplugError::NoSuchZone(z) => write!(f, "the arch has no zone {}", z.name()),
            HotplugError::MemmapOnMemory(w) => write!(f, "memmap_on_memory: {w}"),
            HotplugError::NoMemory => write!(f, "out of memory"),
            HotplugError::Memblock(e) => write!(f, "memblock: {e}"),
            HotplugError::PageTable(e) => write!(f, "page table: {e}"),
            HotplugError::Memmap(e) => write!(f, "memmap: {e}"),
        }
    }
}

impl core::error::Error for HotplugError {}

/// How a block is (to be) onlined: Linux's MMOP_* values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlineType {
    /// MMOP_OFFLINE.
    Offline,
    /// MMOP_ONLINE: the policy decides.
    Online,
    /// MMOP_ONLINE_KERNEL.
    Kernel,
    /// MMOP_ONLINE_MOVABLE.
    Movable,
}

impl OnlineType {
    /// Linux's spelling (`online_type` / `state` write values).
    pub const fn name(self) -> &'static str {
        match self {
            OnlineType::Offline => "offline",
            OnlineType::Online => "online",
            OnlineType::Kernel => "online_kernel",
            OnlineType::Movable => "online_movable",
        }
    }
}

/// memory_hotplug.online_policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlinePolicy {
    /// `contig-zones` (default): keep zones contiguous; `movable_node` picks Movable.
    ContigZones,
    /// `auto-movable`: Movable while MOVABLE stays within `ratio`% of early kernel memory.
    AutoMovable {
        /// memory_hotplug.auto_movable_ratio (301 by default).
        ratio: u64,
        /// memory_hotplug.auto_movable_numa_aware (true by default).
        numa_aware: bool,
    },
}

/// A memory block (drivers/base/memory.c's struct memory_block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBlock {
    /// Block id (`memoryN`; `phys_index`).
    pub id: u64,
    /// Node.
    pub nid: usize,
    /// Online.
    pub online: bool,
    /// The zone while online (`None`: spans zones, or offline).
    pub zone: Option<ZoneType>,
    /// How it was onlined.
    pub online_type: OnlineType,
    /// Pages of the block that are memory (the rest are holes).
    pub present: u64,
    /// Pages at the block's start holding its own memmap (memmap_on_memory).
    pub vmemmap_pages: u64,
    /// Added at run time.
    pub hot: bool,
    /// Added as driver-managed memory (MEMBLOCK_DRIVER_MANAGED).
    pub driver_managed: bool,
}

/// Options of [`Hotplug::add`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    /// Driver-managed memory (virtio-mem, dax/kmem): MEMBLOCK_DRIVER_MANAGED.
    pub driver_managed: bool,
    /// Place the memmap on the new memory (memmap_on_memory).
    pub memmap_on_memory: bool,
}

/// A movable allocation moved by offline: the owner's handle (the head page's
/// `private` word) now lives at `new_pfn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The owner's handle.
    pub handle: u64,
    /// Old head pfn.
    pub old_pfn: u64,
    /// New head pfn.
    pub new_pfn: u64,
    /// Order of the block.
    pub order: u32,
}

/// What an offline did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfflineStats {
    /// Free pages isolated.
    pub isolated: u64,
    /// Pages migrated.
    pub migrated: u64,
}

/// The memory-hotplug state of one machine.
#[derive(Clone, Debug)]
pub struct Hotplug {
    blocks: [Option<MemoryBlock>; MAX_MEMORY_BLOCKS],
    block_bytes: u64,
    page_shift: u32,
    /// memory_hotplug.online_policy.
    pub policy: OnlinePolicy,
    /// `movable_node`.
    pub movable_node: bool,
    /// Present pages of kernel zones at boot, per node (present_early_pages).
    early_kernel: [u64; MAX_NODES],
    /// Times the zonelists were rebuilt (a zone was populated or emptied).
    pub zonelist_builds: u64,
}

/// Where hotplug takes memmap and page-table memory: the page allocator, and for
/// memmap_on_memory the start of the new range (vmem_altmap).
struct HotSrc<'b, Mo: PagingMode, M: PhysMem> {
    mm: crate::early::MmAlloc<'b, Mo, M>,
    altmap: Option<(u64, u64)>,
    range: (u64, u64),
    nid: i32,
}

impl<Mo: PagingMode, M: PhysMem> TableAlloc for HotSrc<'_, Mo, M> {
    fn alloc_table(&mut self, bytes: u64, level: usize) -> Option<u64> {
        self.mm.alloc_table(bytes, level)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, level: usize) {
        self.mm.free_table(pa, bytes, level)
    }
}

impl<Mo: PagingMode, M: PhysMem> MemmapSource for HotSrc<'_, Mo, M> {
    fn alloc_meta(&mut self, bytes: u64, align: u64) -> Option<u64> {
        if let Some((next, end)) = self.altmap.as_mut() {
            let at = next.div_ceil(align.max(1)) * align.max(1);
            if at.checked_add(bytes).is_some_and(|e| e <= *end) {
                *next = at + bytes;
                return Some(at);
            }
            return None;
        }
        self.mm.alloc(bytes, align.max(Mo::PAGE_SIZE), self.nid)
    }
    fn free_meta(&mut self, pa: u64, bytes: u64) {
        // Memmap on the removed memory itself disappears with it.
        if pa >= self.range.0 && pa < self.range.1 {
            return;
        }
        self.mm.free(pa, bytes)
    }
}

/// Generic arch_add_memory(): with `linear`, map `[start, start + size)` into the linear
/// map (blocks as [`Arch::LINEAR_MAP_BLOCKS`] allows, [`Arch::LINEAR_MAP_PROT`], tables
/// from the page allocator; existing tables are kept, never collapsed into blocks, so no
/// live translation changes and the new entries need no TLB flush, only publishing); then __add_pages(): a memmap for every section, from the page
/// allocator or (`altmap`) from the start of the range. On error nothing changed.
///
/// # Errors
/// [`HotplugError::PageTable`] / [`HotplugError::Memmap`] / [`HotplugError::NoMemory`].
pub fn generic_arch_add_memory<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &mut PageAlloc<A::Paging, M>,
    start: PhysAddr,
    size: u64,
    altmap: bool,
    linear: bool,
) -> Result<(), HotplugError> {
    let start = start.0;
    let mem = *ctx.memblock.mem();
    let va = ctx.layout.page_offset.wrapping_add(start) & A::KERNEL_VA_MASK;
    let root = if linear { ctx.pgd } else { None };
    let mut mm = *pages.memmap();
    let res = {
        let nid = 0;
        let mut src = HotSrc::<A::Paging, M> {
            mm: crate::early::MmAlloc::new(&mut ctx.memblock, Some(&*pages), 0),
            altmap: None,
            range: (start, start + size),
            nid,
        };
        if let Some(root) = root {
            let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
            pt.map_keep_tables(
                VirtAddr(va),
                PhysAddr(start),
                size,
                A::LINEAR_MAP_PROT,
                MapFlags { replace: false, blocks: A::LINEAR_MAP_BLOCKS },
                &mut src,
                &mut FlushLog::default(),
            )
            .map_err(HotplugError::PageTable)?;
        }
        if altmap {
            let pb = 1u64 << (A::PAGEBLOCK_ORDER + A::PAGE_SHIFT);
            src.altmap = Some((start, start + vmemmap_bytes::<A>(size).div_ceil(pb) * pb));
        }
        let pps = mm.geometry().pages_per_section();
        let (s, e) = (start >> A::PAGE_SHIFT, (start + size) >> A::PAGE_SHIFT);
        let mut sec = s / pps;
        let mut res = Ok(());
        while sec * pps < e {
            if let Err(x) = mm.hot_add_section::<A::Paging, M>(&mem, sec, s, e, &mut src) {
                res = Err(x);
                break;
            }
            sec += 1;
        }
        if res.is_err() {
            let mut back = s / pps;
            while back < sec {
                // Undoing a failed add: nothing has used these translations yet.
                mm.hot_remove_section::<A::Paging, M>(&mem, back, &mut src, &mut FlushLog::default());
                back += 1;
            }
            if let Some(root) = root {
                let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
                let _ = pt.unmap(VirtAddr(va), size, &mut src, &mut FlushLog::default());
            }
        }
        res
    };
    *pages.memmap_mut() = mm;
    res.map_err(|e| match e {
        MemmapError::NoMemory => HotplugError::NoMemory,
        e => HotplugError::Memmap(e),
    })
}

/// Generic arch_remove_memory(): with `linear`, unmap the range from the linear map (tables
/// that become empty go back to the page allocator); then the sections' memmap is freed.
///
/// # Errors
/// [`HotplugError::PageTable`] when a linear-map block straddling the range cannot be split
/// (no memory); nothing changed then.
pub fn generic_arch_remove_memory<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &mut PageAlloc<A::Paging, M>,
    start: PhysAddr,
    size: u64,
    linear: bool,
    mut tlb: &mut dyn crate::pgtable::TlbFlush,
) -> Result<(), HotplugError> {
    let start = start.0;
    let mem = *ctx.memblock.mem();
    let va = ctx.layout.page_offset.wrapping_add(start) & A::KERNEL_VA_MASK;
    let root = if linear { ctx.pgd } else { None };
    let mut mm = *pages.memmap();
    {
        let mut src = HotSrc::<A::Paging, M> {
            mm: crate::early::MmAlloc::new(&mut ctx.memblock, Some(&*pages), 0),
            altmap: None,
            range: (start, start + size),
            nid: 0,
        };
        if let Some(root) = root {
            let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
            pt.unmap(VirtAddr(va), size, &mut src, &mut tlb).map_err(HotplugError::PageTable)?;
        }
        let pps = mm.geometry().pages_per_section();
        let (s, e) = (start >> A::PAGE_SHIFT, (start + size) >> A::PAGE_SHIFT);
        let mut sec = s / pps;
        while sec * pps < e {
            mm.hot_remove_section::<A::Paging, M>(&mem, sec, &mut src, &mut *tlb);
            sec += 1;
        }
    }
    *pages.memmap_mut() = mm;
    Ok(())
}

/// Bytes of memmap for `size` bytes of memory.
fn vmemmap_bytes<A: Arch>(size: u64) -> u64 {
    (size >> A::PAGE_SHIFT) * crate::memmap::PAGE_META_SIZE
}

impl Hotplug {
    /// The hotplug state of a booted machine: the memory block size and a block for every
    /// block of boot memory.
    ///
    /// # Errors
    /// [`HotplugError::Unsupported`] when the arch has no memory hotplug, the memory model
    /// is FLATMEM, or a MAX_ORDER block is larger than a memory block.
    pub fn new<A: Arch, M: PhysMem + Copy>(b: &Booted<'_, A, M>) -> Result<Self, HotplugError> {
        if !A::MEMORY_HOTPLUG {
            return Err(HotplugError::Unsupported(
                "the arch's Linux 6.1 kernel does not select ARCH_ENABLE_MEMORY_HOTPLUG",
            ));
        }
        if b.ctx.model.model == crate::arch::MemoryModel::Flat {
            return Err(HotplugError::Unsupported("MEMORY_HOTPLUG depends on SPARSEMEM"));
        }
        let block_bytes = A::memory_block_size_bytes(&b.ctx);
        if !block_bytes.is_power_of_two()
            || block_bytes < 1 << A::SECTION_SIZE_BITS
            || (1u64 << (A::MAX_ORDER - 1 + A::PAGE_SHIFT)) > block_bytes
        {
            return Err(HotplugError::Unsupported(
                "the memory block size is not a power-of-two multiple of the section and MAX_ORDER sizes",
            ));
        }
        let mut h = Hotplug {
            blocks: [None; MAX_MEMORY_BLOCKS],
            block_bytes,
            page_shift: A::PAGE_SHIFT,
            policy: OnlinePolicy::ContigZones,
            movable_node: b.ctx.options.movable_node,
            early_kernel: [0; MAX_NODES],
            zonelist_builds: 0,
        };
        for z in b.pages.zones() {
            if z.kind != ZoneType::Movable && z.nid < MAX_NODES {
                h.early_kernel[z.nid] += z.present;
            }
        }
        let bp = h.block_pages();
        let mut err = None;
        b.ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, A::PAGE_SHIFT, |s, e, nid| {
            let nid = if nid < 0 || nid as usize >= MAX_NODES { 0 } else { nid as usize };
            let mut id = s / bp;
            while id * bp < e {
                let (bs, be) = (s.max(id * bp), e.min((id + 1) * bp));
                match h.slot_of(id) {
                    Some(i) => {
                        if let Some(blk) = h.blocks[i].as_mut() {
                            blk.present += be - bs;
                        }
                    }
                    None => match h.blocks.iter_mut().find(|x| x.is_none()) {
                        Some(slot) => {
                            *slot = Some(MemoryBlock {
                                id,
                                nid,
                                online: true,
                                zone: None,
                                online_type: OnlineType::Online,
                                present: be - bs,
                                vmemmap_pages: 0,
                                hot: false,
                                driver_managed: false,
                            })
                        }
                        None => err = Some(HotplugError::TooMany),
                    },
                }
                id += 1;
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        for blk in h.blocks.iter_mut().flatten() {
            blk.zone = block_zone(&b.pages, blk.id * bp, (blk.id + 1) * bp);
            blk.online_type =
                if blk.zone == Some(ZoneType::Movable) { OnlineType::Movable } else { OnlineType::Kernel };
        }
        Ok(h)
    }

    /// Bytes per memory block (`/sys/devices/system/memory/block_size_bytes`).
    pub fn block_size_bytes(&self) -> u64 {
        self.block_bytes
    }

    /// Pages per memory block.
    pub fn block_pages(&self) -> u64 {
        self.block_bytes >> self.page_shift
    }

    fn slot_of(&self, id: u64) -> Option<usize> {
        self.blocks.iter().position(|b| b.is_some_and(|b| b.id == id))
    }

    /// Memory block `id`.
    pub fn block(&self, id: u64) -> Option<MemoryBlock> {
        self.slot_of(id).and_then(|i| self.blocks[i])
    }

    /// The memory blocks, by id.
    pub fn blocks(&self) -> impl Iterator<Item = MemoryBlock> + '_ {
        let mut last: Option<u64> = None;
        core::iter::from_fn(move || {
            let next =
                self.blocks.iter().flatten().filter(|b| last.is_none_or(|l| b.id > l)).min_by_key(|b| b.id).copied();
            last = next.map(|b| b.id);
            next
        })
    }

    /// `[base, base + size)` is a non-empty run of whole memory blocks; its end.
    fn check_range(&self, base: u64, size: u64) -> Result<u64, HotplugError> {
        let bb = self.block_bytes;
        if size == 0 {
            return Err(HotplugError::Empty);
        }
        for v in [base, size] {
            if !v.is_multiple_of(bb) {
                return Err(HotplugError::Unaligned { value: v, align: bb });
            }
        }
        base.checked_add(size).ok_or(HotplugError::OutOfRange(base))
    }

    /// add_memory(): add `[base, base + size)` on node `nid`, offline.
    ///
    /// # Errors
    /// A [`HotplugError`]; nothing changed then.
    pub fn add<A: Arch, M: PhysMem + Copy>(
        &mut self,
        b: &mut Booted<'_, A, M>,
        base: PhysAddr,
        size: u64,
        nid: usize,
        flags: AddFlags,
    ) -> Result<(), HotplugError> {
        let base = base.0;
        if !A::MEMORY_HOTPLUG {
            return Err(HotplugError::Unsupported(
                "the arch's Linux 6.1 kernel does not select ARCH_ENABLE_MEMORY_HOTPLUG",
            ));
        }
        let bb = self.block_bytes;
        let end = self.check_range(base, size)?;
        if A::MAX_PHYSMEM_BITS < 64 && end > 1u64 << A::MAX_PHYSMEM_BITS {
            return Err(HotplugError::OutOfRange(end - 1));
        }
        if nid >= MAX_NODES || (!A::NUMA && nid != 0) {
            return Err(HotplugError::BadNode(nid));
        }
        if let Some(r) = b.ctx.memblock.real_regions(RegionType::Memory).find(|r| r.base < end && r.end() > base) {
            return Err(HotplugError::Overlap(r.base.max(base)));
        }
        let bp = self.block_pages();
        let (s, e) = (base >> A::PAGE_SHIFT, end >> A::PAGE_SHIFT);
        let nblocks = (e - s) / bp;
        if (s / bp..e / bp).any(|id| self.slot_of(id).is_some()) {
            return Err(HotplugError::Overlap(base));
        }
        if self.blocks.iter().filter(|x| x.is_none()).count() < nblocks as usize {
            return Err(HotplugError::TooMany);
        }
        let vm_pages = if flags.memmap_on_memory {
            // mhp_supports_memmap_on_memory(), with archmm's metadata size.
            if b.ctx.model.model != crate::arch::MemoryModel::SparseVmemmap {
                return Err(HotplugError::MemmapOnMemory("needs SPARSEMEM_VMEMMAP"));
            }
            if size != bb {
                return Err(HotplugError::MemmapOnMemory("only for a single memory block"));
            }
            // Linux needs the memmap to be whole PMDs and the rest whole pageblocks; with
            // archmm's 32-byte metadata the reservation is rounded up to a pageblock
            // instead (the extra pages stay reserved with the memmap).
            let pb = 1u64 << (A::PAGEBLOCK_ORDER + A::PAGE_SHIFT);
            let vb = vmemmap_bytes::<A>(size).div_ceil(pb) * pb;
            if vb >= size {
                return Err(HotplugError::MemmapOnMemory("the memmap would fill the block"));
            }
            vb >> A::PAGE_SHIFT
        } else {
            0
        };
        let mflags = if flags.driver_managed { MemblockFlags::DRIVER_MANAGED } else { MemblockFlags::NONE };
        b.ctx.memblock.add_node(base, size, nid as i32, mflags).map_err(HotplugError::Memblock)?;
        if let Err(x) = A::arch_add_memory(&mut b.ctx, &mut b.pages, PhysAddr(base), size, vm_pages != 0) {
            let _ = b.ctx.memblock.remove(base, size);
            return Err(x);
        }
        // The new memmap: the memmap's own pages reserved, the rest offline.
        for pfn in s..s + vm_pages {
            b.pages.set_meta(pfn, PageMeta { flags: PG_RESERVED, ..PageMeta::default() });
        }
        b.pages.mark_offline(s + vm_pages, e);
        if e > b.ctx.max_pfn {
            b.ctx.max_pfn = e;
            b.ctx.max_low_pfn = b.ctx.max_low_pfn.max(e);
        }
        for (id, slot) in (s / bp..).zip(self.blocks.iter_mut().filter(|x| x.is_none()).take(nblocks as usize)) {
            *slot = Some(MemoryBlock {
                id,
                nid,
                online: false,
                zone: None,
                online_type: OnlineType::Offline,
                present: bp,
                vmemmap_pages: if id == s / bp { vm_pages } else { 0 },
                hot: true,
                driver_managed: flags.driver_managed,
            });
        }
        Ok(())
    }

    /// zone_for_pfn_range(): the zone `how` onlines block `id` to.
    fn zone_for<A: Arch, M: PhysMem>(
        &self,
        pages: &PageAlloc<A::Paging, M>,
        blk: &MemoryBlock,
        how: OnlineType,
    ) -> ZoneType {
        let bp = self.block_pages();
        let (s, e) = (blk.id * bp, (blk.id + 1) * bp);
        let kernel = default_kernel_zone::<A, M>(pages, blk.nid, s, e);
        match how {
            OnlineType::Kernel => kernel,
            OnlineType::Movable => ZoneType::Movable,
            _ => match self.policy {
                OnlinePolicy::AutoMovable { ratio, numa_aware } => {
                    let ok = |nid: Option<usize>| {
                        let mut kernel_early = 0;
                        let mut movable = 0;
                        for z in pages.zones().filter(|z| nid.is_none_or(|n| z.nid == n)) {
                            if z.kind == ZoneType::Movable {
                                movable += z.managed.load(Ordering::Relaxed);
                            }
                        }
                        for (n, k) in self.early_kernel.iter().enumerate() {
                            if nid.is_none_or(|x| x == n) {
                                kernel_early += k;
                            }
                        }
                        movable + bp <= ratio * kernel_early / 100
                    };
                    if ratio != 0 && ok(None) && (!numa_aware || ok(Some(blk.nid))) {
                        ZoneType::Movable
                    } else {
                        kernel
                    }
                }
                OnlinePolicy::ContigZones => {
                    let inter = |k: ZoneType| {
                        pages
                            .zone_index(k, blk.nid)
                            .and_then(|i| pages.zone_at(i))
                            .is_some_and(|z| z.spanned != 0 && s < z.start_pfn + z.spanned && e > z.start_pfn)
                    };
                    let (ik, im) = (inter(kernel), inter(ZoneType::Movable));
                    if ik != im {
                        if ik {
                            kernel
                        } else {
                            ZoneType::Movable
                        }
                    } else if self.movable_node {
                        ZoneType::Movable
                    } else {
                        kernel
                    }
                }
            },
        }
    }

    /// valid_zones (drivers/base/memory.c): the zone the block is in (online; `None` when
    /// it spans several), or the zones it may be onlined to: the default zone first, then
    /// the kernel zone and ZONE_MOVABLE where they differ from it.
    pub fn valid_zones<A: Arch, M: PhysMem>(&self, pages: &PageAlloc<A::Paging, M>, id: u64) -> [Option<ZoneType>; 2] {
        let Some(blk) = self.block(id) else { return [None, None] };
        if blk.online {
            return [blk.zone, None];
        }
        let def = self.zone_for::<A, M>(pages, &blk, OnlineType::Online);
        let kernel = self.zone_for::<A, M>(pages, &blk, OnlineType::Kernel);
        let mut out = [None, None];
        let mut n = 0;
        for z in [def, kernel, ZoneType::Movable] {
            if n < 2 && !out.contains(&Some(z)) && A::ZONES.contains(&z) {
                out[n] = Some(z);
                n += 1;
            }
        }
        out
    }

    /// online_pages(): online block `id` as `how` says.
    ///
    /// # Errors
    /// [`HotplugError::NoBlock`], [`HotplugError::AlreadyOnline`],
    /// [`HotplugError::NoSuchZone`], [`HotplugError::TooMany`]; nothing changed then.
    pub fn online<A: Arch, M: PhysMem + Copy>(
        &mut self,
        b: &mut Booted<'_, A, M>,
        id: u64,
        how: OnlineType,
    ) -> Result<ZoneType, HotplugError> {
        let slot = self.slot_of(id).ok_or(HotplugError::NoBlock(id))?;
        let blk = self.blocks[slot].ok_or(HotplugError::NoBlock(id))?;
        if blk.online {
            return Err(HotplugError::AlreadyOnline(id));
        }
        if how == OnlineType::Offline {
            return Err(HotplugError::AlreadyOffline(id));
        }
        let bp = self.block_pages();
        let (s, e) = (id * bp, (id + 1) * bp);
        let kind = self.zone_for::<A, M>(&b.pages, &blk, how);
        if !A::ZONES.contains(&kind) {
            return Err(HotplugError::NoSuchZone(kind));
        }
        let new_zone = b.pages.zone_index(kind, blk.nid).is_none();
        let zi = b.pages.ensure_zone(kind, blk.nid).ok_or(HotplugError::TooMany)?;
        let populated = b.pages.zone_at(zi).is_some_and(|z| z.present != 0);
        if let Some(z) = b.pages.zone_at_mut(zi) {
            if z.spanned == 0 {
                z.start_pfn = s;
                z.spanned = e - s;
            } else {
                let ns = z.start_pfn.min(s);
                let ne = (z.start_pfn + z.spanned).max(e);
                z.start_pfn = ns;
                z.spanned = ne - ns;
            }
            z.present += blk.present;
        }
        b.pages.online_range(zi, s, e);
        if new_zone || !populated {
            self.zonelist_builds += 1;
        }
        self.blocks[slot] = Some(MemoryBlock {
            online: true,
            zone: Some(kind),
            online_type: if kind == ZoneType::Movable { OnlineType::Movable } else { OnlineType::Kernel },
            ..blk
        });
        sync_node(b, blk.nid);
        setup_watermarks(b);
        Ok(kind)
    }

    /// offline_pages(): take block `id` offline, migrating its movable allocations;
    /// `moved` hears of each migration.
    ///
    /// # Errors
    /// [`HotplugError::Busy`] (an unmovable page), [`HotplugError::Holes`],
    /// [`HotplugError::MixedZones`], [`HotplugError::NoBlock`],
    /// [`HotplugError::AlreadyOffline`]: nothing changed. [`HotplugError::NoMemory`] (no
    /// migration target): the block stays online; pages already migrated stay at their new
    /// homes, and the per-CPU lists were drained.
    pub fn offline<A: Arch, M: PhysMem + Copy>(
        &mut self,
        b: &mut Booted<'_, A, M>,
        id: u64,
        moved: &mut dyn FnMut(Migration),
    ) -> Result<OfflineStats, HotplugError> {
        let slot = self.slot_of(id).ok_or(HotplugError::NoBlock(id))?;
        let blk = self.blocks[slot].ok_or(HotplugError::NoBlock(id))?;
        if !blk.online {
            return Err(HotplugError::AlreadyOffline(id));
        }
        let kind = blk.zone.ok_or(HotplugError::MixedZones(id))?;
        let range = (id * self.block_pages(), (id + 1) * self.block_pages());
        let zi = b.pages.zone_index(kind, blk.nid).ok_or(HotplugError::MixedZones(id))?;
        // 1. Check every page before changing anything.
        check_offlinable(&b.pages, &blk, range)?;
        // 2. Drain the per-CPU lists, isolate the free blocks.
        let pages = &b.pages;
        for cpu in 0..pages.cpus() {
            pages.drain_cpu(cpu);
        }
        let z = pages.zone_at(zi).ok_or(HotplugError::MixedZones(id))?;
        let mut stats = OfflineStats { isolated: isolate_free(pages, z, range), ..OfflineStats::default() };
        // 3. Migrate the movable allocations; without a target, undo the isolation.
        match migrate_movable::<A, M>(pages, &blk, range, moved) {
            Some(n) => stats.migrated = n,
            None => {
                unisolate(pages, z, range);
                return Err(HotplugError::NoMemory);
            }
        }
        z.managed.fetch_sub(stats.isolated + stats.migrated, Ordering::Relaxed);
        // 4. Present pages and spans shrink.
        self.shrink_zone(b, &blk, zi, range)?;
        self.blocks[slot] = Some(MemoryBlock { online: false, zone: None, online_type: OnlineType::Offline, ..blk });
        sync_node(b, blk.nid);
        setup_watermarks(b);
        Ok(stats)
    }

    /// offline's step 4: block `blk` (pfns `range`) leaves zone `zi`: its present pages go,
    /// and the zone's span shrinks to the online blocks left at either end
    /// (shrink_zone_span()).
    fn shrink_zone<A: Arch, M: PhysMem + Copy>(
        &mut self,
        b: &mut Booted<'_, A, M>,
        blk: &MemoryBlock,
        zi: usize,
        (s, e): (u64, u64),
    ) -> Result<(), HotplugError> {
        let bp = self.block_pages();
        let kind = blk.zone;
        // Another online block of this zone, or a boot block spanning several zones (it may
        // hold this zone's pages; keeping the span over it is safe).
        let online_other = |hp: &Hotplug, pfn_block: u64| {
            hp.block(pfn_block)
                .is_some_and(|x| x.online && (x.zone == kind || x.zone.is_none()) && x.nid == blk.nid && x.id != blk.id)
        };
        let (zs, ze) = {
            let z = b.pages.zone_at(zi).ok_or(HotplugError::MixedZones(blk.id))?;
            (z.start_pfn, z.start_pfn + z.spanned)
        };
        let (mut ns, mut ne) = (zs, ze);
        if ns >= s && ns < e {
            ns = e;
            while ns < ne && !online_other(self, ns / bp) {
                ns = (ns / bp + 1) * bp;
            }
        }
        if ne > s && ne <= e {
            ne = s;
            while ne > ns && !online_other(self, (ne - 1) / bp) {
                ne = (ne - 1) / bp * bp;
            }
        }
        ns = ns.min(ne).max(zs);
        ne = ne.min(ze);
        if let Some(z) = b.pages.zone_at_mut(zi) {
            z.present -= blk.present.min(z.present);
            if z.present == 0 || ne <= ns {
                z.start_pfn = 0;
                z.spanned = 0;
                self.zonelist_builds += 1;
            } else {
                z.start_pfn = ns;
                z.spanned = ne - ns;
            }
        }
        Ok(())
    }

    /// remove_memory(): remove `[base, base + size)`, whose blocks must all be hot-added
    /// and offline.
    ///
    /// # Errors
    /// A [`HotplugError`]; nothing changed then.
    ///
    /// `tlb` invalidates the live kernel table's translations (a bare-metal kernel's real
    /// TLB; on the host a [`crate::pgtable::FlushLog`]): page-table and memmap pages are
    /// freed only after the translations through them were flushed.
    pub fn remove<A: Arch, M: PhysMem + Copy>(
        &mut self,
        b: &mut Booted<'_, A, M>,
        base: PhysAddr,
        size: u64,
        tlb: &mut dyn crate::pgtable::TlbFlush,
    ) -> Result<(), HotplugError> {
        let base = base.0;
        let bb = self.block_bytes;
        let end = self.check_range(base, size)?;
        let bp = self.block_pages();
        let (s, e) = (base >> A::PAGE_SHIFT, end >> A::PAGE_SHIFT);
        for id in s / bp..e / bp {
            let blk = self.block(id).ok_or(HotplugError::NoBlock(id))?;
            if !blk.hot {
                return Err(HotplugError::NotHotAdded(id));
            }
            if blk.online {
                return Err(HotplugError::StillOnline(id));
            }
        }
        b.ctx.memblock.remove(base, size).map_err(HotplugError::Memblock)?;
        if let Err(x) = A::arch_remove_memory(&mut b.ctx, &mut b.pages, PhysAddr(base), size, tlb) {
            // Put memblock back as it was (one region per block, with its flags and node).
            for id in s / bp..e / bp {
                if let Some(blk) = self.block(id) {
                    let f = if blk.driver_managed { MemblockFlags::DRIVER_MANAGED } else { MemblockFlags::NONE };
                    let _ = b.ctx.memblock.add_node(id * bb, bb, blk.nid as i32, f);
                }
            }
            return Err(x);
        }
        for id in s / bp..e / bp {
            if let Some(i) = self.slot_of(id) {
                self.blocks[i] = None;
            }
        }
        Ok(())
    }
}

/// The zone of every present page of `[s, e)`, if there is exactly one.
fn block_zone<Mo: PagingMode, M: PhysMem>(pages: &PageAlloc<Mo, M>, s: u64, e: u64) -> Option<ZoneType> {
    let mut found = None;
    for z in pages.zones().filter(|z| z.present != 0 && z.start_pfn < e && z.start_pfn + z.spanned > s) {
        if found.is_some_and(|f| f != z.kind) {
            return None;
        }
        found = Some(z.kind);
    }
    found
}

/// default_kernel_zone_for_pfn(): the first kernel zone of `nid` that intersects the
/// range, else ZONE_NORMAL.
fn default_kernel_zone<A: Arch, M: PhysMem>(pages: &PageAlloc<A::Paging, M>, nid: usize, s: u64, e: u64) -> ZoneType {
    for z in pages.zones().filter(|z| z.nid == nid && z.kind <= ZoneType::Normal) {
        if z.spanned != 0 && s < z.start_pfn + z.spanned && e > z.start_pfn {
            return z.kind;
        }
    }
    ZoneType::Normal
}

/// offline's step 1: every page of `blk` (pfns `[s, e)`) is free, on a per-CPU list,
/// movable, or part of the block's own memmap (altmap); nothing else may be there.
fn check_offlinable<P: PagingMode, M: PhysMem + Copy>(
    pages: &PageAlloc<P, M>,
    blk: &MemoryBlock,
    (s, e): (u64, u64),
) -> Result<(), HotplugError> {
    let id = blk.id;
    let mut pfn = s;
    while pfn < e {
        let Some(m) = pages.meta(pfn) else { return Err(HotplugError::Holes(id)) };
        let n = if m.flags & PG_RESERVED != 0 {
            if pfn >= s + blk.vmemmap_pages {
                return Err(HotplugError::Busy { block: id, pfn });
            }
            1
        } else if m.flags & PG_HEAD != 0 {
            if m.flags & PG_MOVABLE == 0 {
                return Err(HotplugError::Busy { block: id, pfn });
            }
            1u64 << m.order()
        } else if m.flags & (PG_BUDDY | PG_PCP | PG_OFFLINE) != 0 {
            1u64 << m.order()
        } else {
            // A page no block covers: memory the allocator never got.
            return Err(HotplugError::Holes(id));
        };
        pfn += n;
    }
    Ok(())
}

/// offline's step 2: take the free blocks of `[s, e)` off zone `z`'s lists and mark them
/// offline (start_isolate_page_range()); returns the pages isolated.
fn isolate_free<P: PagingMode, M: PhysMem + Copy>(pages: &PageAlloc<P, M>, z: &Zone, (s, e): (u64, u64)) -> u64 {
    let mut isolated = 0;
    z.lists.with(|fa| {
        let mut pfn = s;
        while pfn < e {
            let m = pages.meta(pfn).unwrap_or_default();
            let n = m.block_len();
            if m.flags & PG_BUDDY != 0 {
                pages.list_del(fa, pfn, &m);
                pages.set_meta(
                    pfn,
                    PageMeta { flags: PageMeta::with_order(PG_OFFLINE, m.order()), ..PageMeta::default() },
                );
                z.free.fetch_sub(n, Ordering::Relaxed);
                isolated += n;
            }
            pfn += n;
        }
    });
    isolated
}

/// Undo [`isolate_free`] (and the migrations' offline marks): every offline block of
/// `[s, e)` goes back to zone `z`'s lists.
fn unisolate<P: PagingMode, M: PhysMem + Copy>(pages: &PageAlloc<P, M>, z: &Zone, (s, e): (u64, u64)) {
    z.lists.with(|fa| {
        let mut pfn = s;
        while pfn < e {
            let m = pages.meta(pfn).unwrap_or_default();
            let n = m.block_len();
            if m.flags & PG_OFFLINE != 0 {
                pages.set_meta(pfn, PageMeta::default());
                pages.free_one(z, fa, pfn, m.order());
                z.free.fetch_add(n, Ordering::Relaxed);
            }
            pfn += n;
        }
    });
}

/// offline's step 3: move every allocation of `[s, e)` (all movable, step 1 checked) to a
/// new home on the block's node, telling `moved`; returns the pages migrated, or `None`
/// when no target is left (allocations already moved stay at their new homes).
fn migrate_movable<A: Arch, M: PhysMem + Copy>(
    pages: &PageAlloc<A::Paging, M>,
    blk: &MemoryBlock,
    (s, e): (u64, u64),
    moved: &mut dyn FnMut(Migration),
) -> Option<u64> {
    let mut migrated = 0;
    let mut pfn = s;
    while pfn < e {
        let m = pages.meta(pfn).unwrap_or_default();
        if m.flags & PG_HEAD == 0 {
            pfn += m.block_len();
            continue;
        }
        let order = m.order();
        let new = pages.alloc(0, Gfp::HIGHUSER_MOVABLE, order, blk.nid).ok()?;
        copy_pages::<A, M>(pages.mem(), pfn, new, 1u64 << order);
        // The new home keeps its own zone link (it may be another zone).
        let link = pages.meta(new).unwrap_or_default().zone_link();
        pages.set_meta(new, PageMeta { flags: PageMeta::with_zone(m.flags, link), ..m });
        pages.set_meta(pfn, PageMeta { flags: PageMeta::with_order(PG_OFFLINE, order), ..PageMeta::default() });
        moved(Migration { handle: m.private, old_pfn: pfn, new_pfn: new, order });
        migrated += 1u64 << order;
        pfn += 1u64 << order;
    }
    Some(migrated)
}

/// Copy `n` pages from `from` to `to` (pfns) through physical memory.
fn copy_pages<A: Arch, M: PhysMem>(mem: &M, from: u64, to: u64, n: u64) {
    let mut buf = [0u8; 512];
    let bytes = n << A::PAGE_SHIFT;
    let (src, dst) = (from << A::PAGE_SHIFT, to << A::PAGE_SHIFT);
    let mut off = 0;
    while off < bytes {
        mem.read(PhysAddr(src + off), &mut buf);
        mem.write(PhysAddr(dst + off), &buf);
        off += buf.len() as u64;
    }
}

/// The node's zone spans, present pages and span in the zone layout, from the allocator's
/// zones (node_states, pgdat spans).
fn sync_node<A: Arch, M: PhysMem + Copy>(b: &mut Booted<'_, A, M>, nid: usize) {
    let Some(node) = b.zones.nodes.get_mut(nid) else { return };
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for kind in ZoneType::ALL {
        let nz = &mut node.zones[kind as usize];
        if let Some(z) = b.pages.zone_index(kind, nid).and_then(|i| b.pages.zone_at(i)) {
            *nz = crate::zone::NodeZone { start_pfn: z.start_pfn, spanned: z.spanned, present: z.present };
        }
        if nz.spanned != 0 {
            lo = lo.min(nz.start_pfn);
            hi = hi.max(nz.start_pfn + nz.spanned);
        }
    }
    if hi > lo {
        node.online = true;
        node.start_pfn = lo;
        node.end_pfn = hi;
    } else {
        node.start_pfn = 0;
        node.end_pfn = 0;
    }
}

/// init_per_zone_wmark_min() as the bring-up runs it, after managed pages changed.
fn setup_watermarks<A: Arch, M: PhysMem + Copy>(b: &Booted<'_, A, M>) {
    let lowmem_kb =
        b.pages.zones().filter(|z| z.kind <= ZoneType::Normal).map(|z| z.managed.load(Ordering::Relaxed)).sum::<u64>()
            << (A::PAGE_SHIFT - 10);
    let min_free_kbytes = crate::boot::isqrt(lowmem_kb * 16).clamp(128, 262_144);
    b.pages.setup_watermarks(min_free_kbytes, A::PAGE_SHIFT);
}
