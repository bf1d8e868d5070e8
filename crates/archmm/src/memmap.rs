//! Per-page metadata ("struct page") and the memory models that lay it out.
//!
//! # The metadata
//! [`PageMeta`] is 32 bytes (Linux's struct page is 64): flags (reserved, buddy head, order,
//! allocated head, on a per-CPU list), a reference count, two list links and a private word.
//! Zone and node are not stored per page: they follow from the pfn and the zone layout, so
//! the all-zero value means "a free page inside a buddy block". That choice lets the memmap
//! of free memory stay untouched: memmap initialisation writes only pages that are not
//! plain free tails (reserved pages, holes, block heads), which is what makes a 1 TiB
//! emulated machine cheap.
//!
//! # The models (Linux's FLATMEM, SPARSEMEM, SPARSEMEM_VMEMMAP)
//! - [`MemoryModel::Flat`]: one array from the first to the last pfn, holes included.
//! - [`MemoryModel::Sparse`]: memory is cut in sections of `2^SECTION_SIZE_BITS` bytes;
//!   each section that has memory gets its own array; a two-level section table (Linux's
//!   SPARSEMEM_EXTREME roots of 256 sections) finds it. Both levels live in memory memblock
//!   allocates; absent sections cost nothing and hotplug can add sections later.
//! - [`MemoryModel::SparseVmemmap`]: one virtually contiguous array at the arch's
//!   `VMEMMAP_START`, mapped with the page-table engine only where sections have memory, with
//!   PMD-sized blocks when possible (vmemmap_populate_hugepages). `pfn_to_page` is
//!   `VMEMMAP_START + pfn * 32`; the host reaches the bytes by translating through the
//!   tables, a kernel by dereferencing.

use crate::addr::PhysAddr;
use crate::addr::VirtAddr;
use crate::arch::MemoryModel;
use crate::memblock::{Memblock, MemblockError};
use crate::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, PgError, Prot};
use crate::physmem::PhysMem;
use core::fmt;

/// Bytes of one [`PageMeta`].
pub const PAGE_META_SIZE: u64 = 32;
/// Sections per root of the sparse section table (SPARSEMEM_EXTREME's SECTIONS_PER_ROOT
/// for a 4K page of 16-byte entries; ours are 8 bytes, we keep 256 per root).
pub const SECTIONS_PER_ROOT: u64 = 256;

/// PageReserved: not managed by the page allocator.
pub const PG_RESERVED: u32 = 1 << 0;
/// PageBuddy: head of a free block on a buddy free list (order in the order bits).
pub const PG_BUDDY: u32 = 1 << 1;
/// Head of an allocated block (order in the order bits).
pub const PG_HEAD: u32 = 1 << 2;
/// On a per-CPU list (free, order in the order bits).
pub const PG_PCP: u32 = 1 << 3;
/// Shift of the 5-bit order field.
pub const PG_ORDER_SHIFT: u32 = 8;
/// Mask of the order field (after shifting).
pub const PG_ORDER_MASK: u32 = 0x1f;
/// The page's contents may be moved (hotplug migration), set by the owner at allocation.
pub const PG_MOVABLE: u32 = 1 << 16;
/// PageOffline: head of a block of offline memory (memory hotplug: added but not online,
/// or taken offline), order in the order bits. Not managed by the page allocator.
pub const PG_OFFLINE: u32 = 1 << 17;
/// The metadata of a removed section whose vmemmap page is shared with a section still
/// present (Linux's PAGE_UNUSED marking of a partly used vmemmap block): the pfn has no
/// struct page although the vmemmap still maps the bytes.
pub const PG_UNUSED: u32 = 1 << 18;
/// Shift of the zone link of a block head (Linux keeps node and zone in page->flags): 0 for
/// no zone, else `1 + zone type + 8 * node` ([`PageMeta::zone_link`]). Zones may overlap
/// after memory hotplug, so a block's zone comes from its head, never from zone spans.
pub const PG_ZONE_SHIFT: u32 = 20;
/// Mask of the zone link (after shifting).
pub const PG_ZONE_MASK: u32 = 0xfff;

/// Per-page metadata, stored little-endian in physical memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// `PG_*` flags and the order field.
    pub flags: u32,
    /// Reference count of an allocated head.
    pub refcount: i32,
    /// Next pfn + 1 on a free list (0: none).
    pub next: u64,
    /// Previous pfn + 1 on a free list (0: none).
    pub prev: u64,
    /// Owner's word (e.g. a migration handle).
    pub private: u64,
}

impl PageMeta {
    /// The order field.
    pub const fn order(&self) -> u32 {
        (self.flags >> PG_ORDER_SHIFT) & PG_ORDER_MASK
    }
    /// Pages from this one to the end of the block it heads: `2^order` for a block head
    /// (free, per-CPU, allocated or offline), 1 for any other page. Walks over a range step
    /// by this.
    pub const fn block_len(&self) -> u64 {
        if self.flags & (PG_BUDDY | PG_PCP | PG_HEAD | PG_OFFLINE) != 0 {
            1u64 << self.order()
        } else {
            1
        }
    }
    /// The zone link of a block head (0: none).
    pub const fn zone_link(&self) -> u32 {
        (self.flags >> PG_ZONE_SHIFT) & PG_ZONE_MASK
    }
    /// Flags with the zone link set to `link`.
    pub const fn with_zone(flags: u32, link: u32) -> u32 {
        (flags & !(PG_ZONE_MASK << PG_ZONE_SHIFT)) | ((link & PG_ZONE_MASK) << PG_ZONE_SHIFT)
    }
    /// Flags with the order field set to `order`.
    pub const fn with_order(flags: u32, order: u32) -> u32 {
        (flags & !(PG_ORDER_MASK << PG_ORDER_SHIFT)) | ((order & PG_ORDER_MASK) << PG_ORDER_SHIFT)
    }
    #[inline]
    fn to_bytes(self) -> [u8; PAGE_META_SIZE as usize] {
        let mut b = [0u8; PAGE_META_SIZE as usize];
        b[0..4].copy_from_slice(&self.flags.to_le_bytes());
        b[4..8].copy_from_slice(&self.refcount.to_le_bytes());
        b[8..16].copy_from_slice(&self.next.to_le_bytes());
        b[16..24].copy_from_slice(&self.prev.to_le_bytes());
        b[24..32].copy_from_slice(&self.private.to_le_bytes());
        b
    }
    #[inline]
    fn from_bytes(b: &[u8; PAGE_META_SIZE as usize]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        Self { flags: u32_at(0), refcount: u32_at(4) as i32, next: u64_at(8), prev: u64_at(16), private: u64_at(24) }
    }
}

/// Why the memmap could not be set up or extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemmapError {
    /// memblock had no memory for the metadata or the section table.
    NoMemory,
    /// memblock refused a call.
    Memblock(MemblockError),
    /// Mapping the vmemmap failed.
    PageTable(PgError),
    /// A pfn beyond the model's reach (MAX_PHYSMEM_BITS, or FLATMEM's fixed range).
    OutOfRange(u64),
}

impl core::error::Error for MemmapError {}

impl fmt::Display for MemmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemmapError::NoMemory => write!(f, "no memory for the memmap"),
            MemmapError::Memblock(e) => write!(f, "memblock: {e}"),
            MemmapError::PageTable(e) => write!(f, "vmemmap: {e}"),
            MemmapError::OutOfRange(p) => write!(f, "pfn {p:#x} is outside the memory model's range"),
        }
    }
}

/// Geometry of a memmap.
#[derive(Clone, Copy, Debug)]
pub struct MemmapGeometry {
    /// The model.
    pub model: MemoryModel,
    /// log2 page size.
    pub page_shift: u32,
    /// log2 section size (sparse models).
    pub section_size_bits: u32,
    /// log2 of the physical address space (bounds the section table).
    pub max_physmem_bits: u32,
    /// Start of the virtual memmap (vmemmap model).
    pub vmemmap_start: u64,
}

impl MemmapGeometry {
    /// Pages per section.
    pub const fn pages_per_section(&self) -> u64 {
        1 << (self.section_size_bits - self.page_shift)
    }
    fn nr_sections(&self) -> u64 {
        1 << (self.max_physmem_bits - self.section_size_bits)
    }
    fn nr_roots(&self) -> u64 {
        self.nr_sections().div_ceil(SECTIONS_PER_ROOT)
    }
}

/// The memmap of one machine: where each pfn's [`PageMeta`] lives.
#[derive(Clone, Copy, Debug)]
pub struct Memmap {
    geo: MemmapGeometry,
    /// Flat: array base and first pfn / end pfn. Sparse: root table address.
    base: u64,
    start_pfn: u64,
    end_pfn: u64,
    /// Vmemmap: the page-table root the vmemmap is mapped in.
    pgd: u64,
    /// Bytes of metadata allocated.
    bytes: u64,
}

impl Memmap {
    /// Geometry.
    pub fn geometry(&self) -> &MemmapGeometry {
        &self.geo
    }
    /// Bytes of metadata (and section tables) allocated so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Build the memmap for every section (or the whole span, for FLATMEM) that holds
    /// memblock memory (NOMAP included: its pages get metadata marked reserved). Metadata
    /// comes from memblock, zeroed; the vmemmap is mapped into the page table at `pgd`.
    ///
    /// # Errors
    /// [`MemmapError`] when memblock runs out or a mapping fails; memblock may then hold
    /// the reservations made so far (boot cannot continue anyway).
    pub fn init<Mo: PagingMode, M: PhysMem + Copy>(
        mb: &mut Memblock<M>,
        geo: MemmapGeometry,
        pgd: Option<u64>,
    ) -> Result<Memmap, MemmapError> {
        let ps = geo.page_shift;
        let start_pfn = crate::addr::pfn_down(mb.start_of_dram(), ps);
        let end_pfn = crate::addr::pfn_up(mb.end_of_dram(), ps);
        let mut mm = Memmap { geo, base: 0, start_pfn, end_pfn, pgd: pgd.unwrap_or(0), bytes: 0 };
        match geo.model {
            MemoryModel::Flat => {
                let bytes = (end_pfn - start_pfn) * PAGE_META_SIZE;
                mm.base = mb.alloc(bytes, 1 << ps).ok_or(MemmapError::NoMemory)?;
                mm.bytes = bytes;
            }
            MemoryModel::Sparse | MemoryModel::SparseVmemmap => {
                if geo.model == MemoryModel::Sparse {
                    let bytes = geo.nr_roots() * 8;
                    mm.base = mb.alloc(bytes, 1 << ps).ok_or(MemmapError::NoMemory)?;
                    mm.bytes = bytes;
                } else if pgd.is_none() {
                    return Err(MemmapError::PageTable(PgError::NoMemory));
                }
                let pps = geo.pages_per_section();
                let mut sec = u64::MAX;
                let mut err = None;
                let n = mb.cnt(crate::memblock::RegionType::Memory);
                for i in 0..n {
                    let r = mb.region(crate::memblock::RegionType::Memory, i);
                    if r.size == 0 {
                        continue;
                    }
                    let (s, e) = (crate::addr::pfn_down(r.base, ps), crate::addr::pfn_up(r.end(), ps));
                    let mut p = s & !(pps - 1);
                    while p < e {
                        let this = p / pps;
                        if this != sec {
                            if let Err(x) = mm.add_section::<Mo, M>(mb, this) {
                                err = Some(x);
                                break;
                            }
                            sec = this;
                        }
                        p += pps;
                    }
                    if err.is_some() {
                        break;
                    }
                }
                if let Some(e) = err {
                    return Err(e);
                }
            }
        }
        Ok(mm)
    }

    /// Give section `sec` a memmap (sparse models; idempotent). Used at boot and by
    /// memory hotplug.
    ///
    /// # Errors
    /// [`MemmapError`] when memory runs out or the section is beyond MAX_PHYSMEM_BITS.
    pub fn add_section<Mo: PagingMode, M: PhysMem + Copy>(
        &mut self,
        mb: &mut Memblock<M>,
        sec: u64,
    ) -> Result<(), MemmapError> {
        let geo = self.geo;
        let pps = geo.pages_per_section();
        if sec >= geo.nr_sections() {
            return Err(MemmapError::OutOfRange(sec * pps));
        }
        let mem = *mb.mem();
        match geo.model {
            MemoryModel::Flat => Ok(()),
            MemoryModel::Sparse => {
                let root_slot = self.base + (sec / SECTIONS_PER_ROOT) * 8;
                let mut root = mem.read_u64(PhysAddr(root_slot));
                if root == 0 {
                    root = mb.alloc(SECTIONS_PER_ROOT * 8, 8).ok_or(MemmapError::NoMemory)?;
                    mem.write_u64(PhysAddr(root_slot), root);
                    self.bytes += SECTIONS_PER_ROOT * 8;
                }
                let slot = root + (sec % SECTIONS_PER_ROOT) * 8;
                if mem.read_u64(PhysAddr(slot)) == 0 {
                    let bytes = pps * PAGE_META_SIZE;
                    let map = mb.alloc(bytes, 1 << geo.page_shift).ok_or(MemmapError::NoMemory)?;
                    mem.write_u64(PhysAddr(slot), map);
                    self.bytes += bytes;
                }
                Ok(())
            }
            MemoryModel::SparseVmemmap => {
                let va = geo.vmemmap_start + sec * pps * PAGE_META_SIZE;
                let len = pps * PAGE_META_SIZE;
                let mut pt = PageTable::<Mo, M>::from_root(&mem, PhysAddr(self.pgd));
                let mut tlb = FlushLog::default();
                // vmemmap_populate_hugepages: a PMD-sized block per PMD of vmemmap when
                // memblock has one, else base pages. Unlike Linux, a block is used only
                // where all the pfns its metadata describes lie below the end of memory:
                // a block reaching beyond it (with 64K pages a 2M block describes 4 GiB)
                // would be shared with memory hot-added there later and could never be
                // unmapped when that memory is removed.
                let block = Mo::LEVELS[Mo::LEVELS.len() - 2].span();
                let can_block = Mo::LEVELS[Mo::LEVELS.len() - 2].leaf && block <= 4 << 20;
                let (vstart, end_pfn) = (geo.vmemmap_start, self.end_pfn);
                let below_end = |bv: u64| (bv + block - vstart) / PAGE_META_SIZE <= end_pfn;
                let mut v = if can_block && below_end(va & !(block - 1)) {
                    va & !(block - 1)
                } else {
                    va & !(Mo::PAGE_SIZE - 1)
                };
                while v < va + len {
                    if let Some(t) = pt.translate(VirtAddr(v)) {
                        v = (v & !(t.size - 1)) + t.size;
                        continue;
                    }
                    let use_block =
                        can_block && v & (block - 1) == 0 && below_end(v) && first_mapped_in(&pt, v, block).is_none();
                    let step = if use_block { block } else { Mo::PAGE_SIZE };
                    let (pa, sz) = match mb.alloc(step, step) {
                        Some(pa) => (pa, step),
                        None => (mb.alloc(Mo::PAGE_SIZE, Mo::PAGE_SIZE).ok_or(MemmapError::NoMemory)?, Mo::PAGE_SIZE),
                    };
                    pt.map(
                        VirtAddr(v),
                        PhysAddr(pa),
                        sz,
                        Prot::KERNEL_RW,
                        MapFlags { replace: false, blocks: true },
                        mb,
                        &mut tlb,
                    )
                    .map_err(MemmapError::PageTable)?;
                    self.bytes += sz;
                    v += sz;
                }
                Ok(())
            }
        }
    }

    /// Where `pfn`'s metadata lives, or `None` if the pfn has no memmap (pfn_valid false).
    /// `Mo` is the mode the vmemmap is mapped with (ignored by the other models).
    #[inline]
    pub fn meta_pa<Mo: PagingMode, M: PhysMem>(&self, mem: &M, pfn: u64) -> Option<u64> {
        match self.geo.model {
            MemoryModel::Flat => (pfn >= self.start_pfn && pfn < self.end_pfn)
                .then(|| self.base + (pfn - self.start_pfn) * PAGE_META_SIZE),
            MemoryModel::Sparse => {
                let pps = self.geo.pages_per_section();
                let sec = pfn / pps;
                if sec >= self.geo.nr_sections() {
                    return None;
                }
                let root = mem.read_u64(PhysAddr(self.base + (sec / SECTIONS_PER_ROOT) * 8));
                if root == 0 {
                    return None;
                }
                let map = mem.read_u64(PhysAddr(root + (sec % SECTIONS_PER_ROOT) * 8));
                (map != 0).then(|| map + (pfn % pps) * PAGE_META_SIZE)
            }
            MemoryModel::SparseVmemmap => {
                if pfn >= self.geo.nr_sections() * self.geo.pages_per_section() {
                    return None;
                }
                let pt = PageTable::<Mo, M>::from_root(mem, PhysAddr(self.pgd));
                pt.translate(VirtAddr(self.pfn_to_page(pfn))).map(|t| t.pa.0)
            }
        }
    }

    /// The first pfn after `pfn` that may have metadata when `pfn` has none: the start of
    /// the array (FLATMEM, below it), the end of the address space (FLATMEM, above it) or
    /// the next section (sparse models, which give metadata per section).
    pub fn skip_absent(&self, pfn: u64) -> u64 {
        match self.geo.model {
            MemoryModel::Flat if pfn < self.start_pfn => self.start_pfn,
            MemoryModel::Flat => u64::MAX,
            _ => (pfn | (self.geo.pages_per_section() - 1)).saturating_add(1),
        }
    }

    /// pfn_to_page for the vmemmap model: the metadata's virtual address.
    pub fn pfn_to_page(&self, pfn: u64) -> u64 {
        self.geo.vmemmap_start + pfn * PAGE_META_SIZE
    }
    /// page_to_pfn for the vmemmap model.
    pub fn page_to_pfn(&self, page: u64) -> u64 {
        (page - self.geo.vmemmap_start) / PAGE_META_SIZE
    }

    /// page_to_pfn() for every model, from where a [`PageMeta`] lives (its physical
    /// address for FLATMEM and SPARSEMEM, its virtual address in the vmemmap for
    /// SPARSEMEM_VMEMMAP). FLATMEM and VMEMMAP are arithmetic; SPARSEMEM finds the section
    /// whose array holds the address (Linux keeps the section number in page->flags for
    /// this; archmm's metadata has no room for it, so this walks the present sections).
    /// `None` if no memmap holds `page`.
    pub fn page_to_pfn_any<M: PhysMem>(&self, mem: &M, page: u64) -> Option<u64> {
        match self.geo.model {
            MemoryModel::Flat => {
                let off = page.checked_sub(self.base)?;
                let pfn = self.start_pfn + off / PAGE_META_SIZE;
                (off.is_multiple_of(PAGE_META_SIZE) && pfn < self.end_pfn).then_some(pfn)
            }
            MemoryModel::SparseVmemmap => {
                let off = page.checked_sub(self.geo.vmemmap_start)?;
                off.is_multiple_of(PAGE_META_SIZE).then_some(off / PAGE_META_SIZE)
            }
            MemoryModel::Sparse => {
                let pps = self.geo.pages_per_section();
                for r in 0..self.geo.nr_roots() {
                    let root = mem.read_u64(PhysAddr(self.base + r * 8));
                    if root == 0 {
                        continue;
                    }
                    for i in 0..SECTIONS_PER_ROOT {
                        let map = mem.read_u64(PhysAddr(root + i * 8));
                        if map != 0
                            && page >= map
                            && page < map + pps * PAGE_META_SIZE
                            && (page - map).is_multiple_of(PAGE_META_SIZE)
                        {
                            return Some((r * SECTIONS_PER_ROOT + i) * pps + (page - map) / PAGE_META_SIZE);
                        }
                    }
                }
                None
            }
        }
    }

    /// pfn_to_page() for every model: where `pfn`'s metadata lives, in the address space
    /// [`Memmap::page_to_pfn_any`] takes (physical for FLATMEM/SPARSEMEM, the vmemmap's
    /// virtual address for SPARSEMEM_VMEMMAP). `None` if the pfn has no memmap.
    pub fn pfn_to_page_any<Mo: PagingMode, M: PhysMem>(&self, mem: &M, pfn: u64) -> Option<u64> {
        match self.geo.model {
            MemoryModel::SparseVmemmap => self.meta_pa::<Mo, M>(mem, pfn).map(|_| self.pfn_to_page(pfn)),
            _ => self.meta_pa::<Mo, M>(mem, pfn),
        }
    }

    /// Read `pfn`'s metadata (`None`: no memmap).
    #[inline]
    pub fn get<Mo: PagingMode, M: PhysMem>(&self, mem: &M, pfn: u64) -> Option<PageMeta> {
        let pa = self.meta_pa::<Mo, M>(mem, pfn)?;
        let mut b = [0u8; PAGE_META_SIZE as usize];
        mem.read(PhysAddr(pa), &mut b);
        let m = PageMeta::from_bytes(&b);
        (m.flags & PG_UNUSED == 0).then_some(m)
    }

    /// Write `pfn`'s metadata; `false` if the pfn has no memmap.
    #[inline]
    pub fn set<Mo: PagingMode, M: PhysMem>(&self, mem: &M, pfn: u64, m: PageMeta) -> bool {
        match self.meta_pa::<Mo, M>(mem, pfn) {
            Some(pa) => {
                mem.write(PhysAddr(pa), &m.to_bytes());
                true
            }
            None => false,
        }
    }
}

/// Where memory hotplug takes the memmap of a new section from and gives it back to:
/// page tables and metadata from the page allocator, or the metadata from the start of the
/// new memory itself (Linux's vmem_altmap, memmap_on_memory).
pub trait MemmapSource: crate::pgtable::TableAlloc {
    /// `bytes` of zeroed memory aligned to `align` for metadata (a vmemmap page or block,
    /// or a SPARSEMEM section array); `None` when out of memory.
    fn alloc_meta(&mut self, bytes: u64, align: u64) -> Option<u64>;
    /// Give back what [`MemmapSource::alloc_meta`] returned.
    fn free_meta(&mut self, pa: u64, bytes: u64);
}

impl Memmap {
    /// Whether section `sec` has a memmap (pfn_valid() of its first pfn; for FLATMEM,
    /// whether it lies in the array).
    pub fn section_present<Mo: PagingMode, M: PhysMem>(&self, mem: &M, sec: u64) -> bool {
        self.get::<Mo, M>(mem, sec * self.geo.pages_per_section()).is_some()
    }

    /// The vmemmap's virtual range `[start, end)` for pfns `[s, e)`.
    pub fn vmemmap_span(&self, s: u64, e: u64) -> (u64, u64) {
        (self.pfn_to_page(s), self.pfn_to_page(e))
    }

    /// sparse_add_section() for memory hotplug: give section `sec` a memmap from `src`
    /// (vmemmap: mapped in the table at the memmap's root with tables from `src`; blocks of
    /// the level above the PTE where the block's metadata describes only pfns in
    /// `[lo, hi)`, else base pages as vmemmap_populate_basepages). The new metadata is left
    /// all zero; the caller initialises it. A section already present (its vmemmap page
    /// shared with a neighbour present at boot) keeps its mapping, and the pages marked
    /// [`PG_UNUSED`] are made zero again.
    ///
    /// # Errors
    /// [`MemmapError`]: FLATMEM cannot grow, a section beyond MAX_PHYSMEM_BITS, or no
    /// memory; on error what this call mapped for the section is undone.
    pub fn hot_add_section<Mo: PagingMode, M: PhysMem>(
        &mut self,
        mem: &M,
        sec: u64,
        lo: u64,
        hi: u64,
        src: &mut impl MemmapSource,
    ) -> Result<(), MemmapError> {
        let geo = self.geo;
        let pps = geo.pages_per_section();
        if sec >= geo.nr_sections() {
            return Err(MemmapError::OutOfRange(sec.saturating_mul(pps)));
        }
        match geo.model {
            MemoryModel::Flat => Err(MemmapError::OutOfRange(sec * pps)),
            MemoryModel::Sparse => {
                let root_slot = self.base + (sec / SECTIONS_PER_ROOT) * 8;
                let mut root = mem.read_u64(PhysAddr(root_slot));
                if root == 0 {
                    root = src.alloc_meta(SECTIONS_PER_ROOT * 8, 8).ok_or(MemmapError::NoMemory)?;
                    mem.zero(PhysAddr(root), SECTIONS_PER_ROOT * 8);
                    mem.write_u64(PhysAddr(root_slot), root);
                    self.bytes += SECTIONS_PER_ROOT * 8;
                }
                let slot = root + (sec % SECTIONS_PER_ROOT) * 8;
                if mem.read_u64(PhysAddr(slot)) == 0 {
                    let bytes = pps * PAGE_META_SIZE;
                    let map = src.alloc_meta(bytes, 1 << geo.page_shift).ok_or(MemmapError::NoMemory)?;
                    mem.zero(PhysAddr(map), bytes);
                    mem.write_u64(PhysAddr(slot), map);
                    self.bytes += bytes;
                }
                Ok(())
            }
            MemoryModel::SparseVmemmap => {
                let (va, end) = self.vmemmap_span(sec * pps, (sec + 1) * pps);
                let mut pt = PageTable::<Mo, M>::from_root(mem, PhysAddr(self.pgd));
                let mut tlb = FlushLog::default();
                let page = Mo::PAGE_SIZE;
                let block = Mo::LEVELS[Mo::LEVELS.len() - 2].span();
                let can_block = Mo::LEVELS[Mo::LEVELS.len() - 2].leaf && block <= 4 << 20;
                let mut v = va & !(page - 1);
                let mut err = None;
                while v < end {
                    if let Some(t) = pt.translate(VirtAddr(v)) {
                        // Shared with a present neighbour: revive this section's part.
                        let leaf = v & !(t.size - 1);
                        let (a, b) = (v.max(va), (leaf + t.size).min(end));
                        write_metas(mem, t.pa.0 - (v - leaf) + (a - leaf), b - a, 0);
                        v = leaf + t.size;
                        continue;
                    }
                    let bv = v & !(block - 1);
                    let (bs, be) = (self.page_to_pfn(bv), self.page_to_pfn(bv + block));
                    let use_block =
                        can_block && v == bv && bs >= lo && be <= hi && first_mapped_in(&pt, bv, block).is_none();
                    let sz = if use_block { block } else { page };
                    let Some(pa) = src.alloc_meta(sz, sz) else {
                        err = Some(MemmapError::NoMemory);
                        break;
                    };
                    // Metadata of other sections in this page: unused until they come.
                    write_metas(mem, pa, sz, PG_UNUSED);
                    let (a, b) = (v.max(va), (v + sz).min(end));
                    write_metas(mem, pa + (a - v), b - a, 0);
                    if let Err(e) = pt.map(
                        VirtAddr(v),
                        PhysAddr(pa),
                        sz,
                        Prot::KERNEL_RW,
                        MapFlags { replace: false, blocks: use_block },
                        src,
                        &mut tlb,
                    ) {
                        src.free_meta(pa, sz);
                        err = Some(MemmapError::PageTable(e));
                        break;
                    }
                    self.bytes += sz;
                    v += sz;
                }
                match err {
                    None => Ok(()),
                    Some(e) => {
                        // Undoing a failed add: nothing has used these translations yet.
                        self.hot_remove_section::<Mo, M>(mem, sec, src, &mut FlushLog::default());
                        Err(e)
                    }
                }
            }
        }
    }

    /// section_deactivate() for memory hotplug: take section `sec`'s memmap away and give
    /// its memory back to `src` (vmemmap pages and blocks whose metadata describes only
    /// this section, and the page tables that became empty). Vmemmap pages shared with a
    /// section still present stay mapped, their metadata for this section marked
    /// [`PG_UNUSED`].
    /// `tlb` is the live kernel table's TLB: a vmemmap page is freed only after its
    /// translation was flushed.
    pub fn hot_remove_section<Mo: PagingMode, M: PhysMem>(
        &mut self,
        mem: &M,
        sec: u64,
        src: &mut impl MemmapSource,
        mut tlb: &mut dyn crate::pgtable::TlbFlush,
    ) {
        let geo = self.geo;
        let pps = geo.pages_per_section();
        if sec >= geo.nr_sections() {
            return;
        }
        match geo.model {
            MemoryModel::Flat => {}
            MemoryModel::Sparse => {
                let root = mem.read_u64(PhysAddr(self.base + (sec / SECTIONS_PER_ROOT) * 8));
                if root == 0 {
                    return;
                }
                let slot = root + (sec % SECTIONS_PER_ROOT) * 8;
                let map = mem.read_u64(PhysAddr(slot));
                if map != 0 {
                    mem.write_u64(PhysAddr(slot), 0);
                    src.free_meta(map, pps * PAGE_META_SIZE);
                    self.bytes -= pps * PAGE_META_SIZE;
                }
            }
            MemoryModel::SparseVmemmap => {
                let (va, end) = self.vmemmap_span(sec * pps, (sec + 1) * pps);
                let mut pt = PageTable::<Mo, M>::from_root(mem, PhysAddr(self.pgd));
                let page = Mo::PAGE_SIZE;
                let mut v = va & !(page - 1);
                while v < end {
                    let Some(t) = pt.translate(VirtAddr(v)) else {
                        v += page;
                        continue;
                    };
                    let leaf = v & !(t.size - 1);
                    let base = t.pa.0 - (v - leaf);
                    let (a, b) = (v.max(va), (leaf + t.size).min(end));
                    write_metas(mem, base + (a - leaf), b - a, PG_UNUSED);
                    // Free the page or block once no present section's metadata is in it.
                    let inside = leaf >= va && leaf + t.size <= end;
                    if (inside || all_unused(mem, base, t.size))
                        && pt.unmap(VirtAddr(leaf), t.size, src, &mut tlb).is_ok()
                    {
                        src.free_meta(base, t.size);
                        self.bytes -= t.size;
                    }
                    v = leaf + t.size;
                }
            }
        }
    }
}

/// Fill `[pa, pa + len)` with metadata whose flags are `flags` (0: all zero).
fn write_metas<M: PhysMem>(mem: &M, pa: u64, len: u64, flags: u32) {
    if flags == 0 {
        mem.zero(PhysAddr(pa), len);
        return;
    }
    let b = PageMeta { flags, ..PageMeta::default() }.to_bytes();
    let mut chunk = [0u8; 32 * PAGE_META_SIZE as usize];
    for c in chunk.chunks_mut(PAGE_META_SIZE as usize) {
        c.copy_from_slice(&b);
    }
    let mut off = 0;
    while off < len {
        let n = (len - off).min(chunk.len() as u64);
        mem.write(PhysAddr(pa + off), &chunk[..n as usize]);
        off += n;
    }
}

/// Whether every metadata slot in `[pa, pa + len)` is marked [`PG_UNUSED`].
fn all_unused<M: PhysMem>(mem: &M, pa: u64, len: u64) -> bool {
    let mut off = 0;
    while off < len {
        if mem.read_u32(PhysAddr(pa + off)) & PG_UNUSED == 0 {
            return false;
        }
        off += PAGE_META_SIZE;
    }
    true
}

/// The first mapped address in `[va, va + size)`, if any.
fn first_mapped_in<Mo: PagingMode, M: PhysMem>(pt: &PageTable<'_, Mo, M>, va: u64, size: u64) -> Option<u64> {
    let mut found = None;
    pt.for_each_leaf(VirtAddr(va), size, |lva, _, _, _| {
        if found.is_none() {
            found = Some(lva.max(va));
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::X86_64Paging4;
    use crate::memblock::tests::TestMem;

    /// pfn_to_page and page_to_pfn are inverse in every model, holes have no page, and
    /// metadata written through one pfn is read back through the same pfn only.
    #[test]
    fn every_model_maps_pfns_to_pages_and_back() {
        for model in [MemoryModel::Flat, MemoryModel::Sparse, MemoryModel::SparseVmemmap] {
            let mem = TestMem::default();
            let memref = &mem;
            let mut mb = Memblock::new(memref);
            // Two banks with a hole of several sections between them.
            mb.add(0x4000_0000, 0x1000_0000).unwrap();
            mb.add(0x1_0000_0000, 0x800_0000).unwrap();
            let geo = MemmapGeometry {
                model,
                page_shift: 12,
                section_size_bits: 27,
                max_physmem_bits: 46,
                vmemmap_start: 0xffff_ea00_0000_0000,
            };
            let pgd = if model == MemoryModel::SparseVmemmap {
                let pt = PageTable::<X86_64Paging4, &TestMem>::new(&memref, &mut mb).unwrap();
                Some(pt.root().0)
            } else {
                None
            };
            let mm = Memmap::init::<X86_64Paging4, &TestMem>(&mut mb, geo, pgd).unwrap();
            for pfn in [0x40000u64, 0x40001, 0x4ffff, 0x100000, 0x107fff] {
                let page = mm
                    .pfn_to_page_any::<X86_64Paging4, _>(&memref, pfn)
                    .unwrap_or_else(|| panic!("{model:?} {pfn:#x}"));
                assert_eq!(mm.page_to_pfn_any(&memref, page), Some(pfn), "{model:?}");
                assert!(mm.set::<X86_64Paging4, _>(&memref, pfn, PageMeta { private: pfn, ..PageMeta::default() }));
            }
            for pfn in [0x40000u64, 0x4ffff, 0x100000, 0x107fff] {
                assert_eq!(mm.get::<X86_64Paging4, _>(&memref, pfn).unwrap().private, pfn, "{model:?}");
            }
            // A whole absent section has no metadata in the sparse models.
            let hole = 0x80000u64;
            assert_eq!(
                mm.pfn_to_page_any::<X86_64Paging4, _>(&memref, hole).is_none(),
                model != MemoryModel::Flat,
                "{model:?}"
            );
        }
    }

    #[test]
    fn meta_roundtrip_and_zero_is_free_tail() {
        let m = PageMeta { flags: PageMeta::with_order(PG_BUDDY, 10), refcount: -1, next: 5, prev: 7, private: 9 };
        assert_eq!(PageMeta::from_bytes(&m.to_bytes()), m);
        assert_eq!(m.order(), 10);
        assert_eq!(PageMeta::from_bytes(&[0; 32]), PageMeta::default());
    }
}
