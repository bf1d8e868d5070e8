//! One allocation interface from the first memblock reservation to the running kernel.
//!
//! Linux callers choose between `memblock_alloc()` and `alloc_pages()` and must know
//! which phase they run in (and `slab_is_available()` hacks paper over mistakes). Here a
//! caller holds an [`MmAlloc`]: before the page allocator exists it takes memory from
//! memblock, afterwards from the buddy allocator, and [`MmAlloc::free`] gives memory back to
//! whichever owns it now: an early allocation freed after the hand-off goes to the buddy
//! allocator (Linux's free_reserved_area), never back to a memblock nobody reads any more.
//! It also serves page tables ([`TableAlloc`]), which is how `pte_alloc_one` and
//! `pte_alloc_one_kernel` become one generic definition.

use crate::buddy::{Gfp, PageAlloc, PageState};
use crate::memblock::{Memblock, MEMBLOCK_ALLOC_ACCESSIBLE};
use crate::pgtable::{PagingMode, TableAlloc};
use crate::physmem::PhysMem;

/// The allocator for the current phase.
#[derive(Debug)]
pub struct MmAlloc<'b, Mo: PagingMode, M: PhysMem> {
    memblock: &'b mut Memblock<M>,
    pages: Option<&'b PageAlloc<Mo, M>>,
    cpu: usize,
}

impl<'b, Mo: PagingMode, M: PhysMem> MmAlloc<'b, Mo, M> {
    /// The allocator over `memblock` and, once it exists, the page allocator `pages`
    /// (used on behalf of `cpu`).
    pub fn new(memblock: &'b mut Memblock<M>, pages: Option<&'b PageAlloc<Mo, M>>, cpu: usize) -> Self {
        Self { memblock, pages, cpu }
    }

    /// Whether allocations come from the page allocator yet.
    pub fn buddy_is_up(&self) -> bool {
        self.pages.is_some()
    }

    fn order_for(size: u64, align: u64) -> u32 {
        let pages = size.div_ceil(Mo::PAGE_SIZE).max(1).max(align / Mo::PAGE_SIZE);
        64 - (pages - 1).leading_zeros()
    }

    /// Allocate `size` zeroed bytes aligned to `align` (a power of two; page-granular after
    /// the hand-off), preferring node `nid` (-1: any).
    ///
    /// Returns the physical address, or `None` when the phase's allocator has nothing.
    pub fn alloc(&mut self, size: u64, align: u64, nid: i32) -> Option<u64> {
        match self.pages {
            None => self.memblock.alloc_try_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, nid),
            Some(p) => {
                let order = Self::order_for(size, align);
                let node = if nid < 0 { 0 } else { nid as usize };
                p.alloc(self.cpu, Gfp::KERNEL.or(Gfp::ZERO), order, node).ok().map(|pfn| pfn * Mo::PAGE_SIZE)
            }
        }
    }

    /// Free what [`MmAlloc::alloc`] returned (`size` as allocated). Memory from memblock
    /// freed after the hand-off becomes managed by the page allocator.
    pub fn free(&mut self, pa: u64, size: u64) {
        match self.pages {
            None => {
                // memblock cannot fail a free except when it must split a full array; the
                // range then stays reserved (lost, never double-owned).
                let _ = self.memblock.phys_free(pa, size);
            }
            Some(p) => {
                let pfn = pa / Mo::PAGE_SIZE;
                match p.page_state(pfn) {
                    PageState::Reserved => {
                        // memblock_free_late(): only whole pages go to the page allocator; a
                        // piece of a page memblock shared with other allocations (a 256-byte
                        // table fragment carved at boot) stays reserved while memblock still
                        // has a reservation in that page, or its neighbours would be handed
                        // out while in use. Once the last piece is freed the page goes too.
                        let page = Mo::PAGE_SIZE;
                        let (first, end) = (pa.div_ceil(page), (pa + size) / page);
                        if first < end {
                            p.free_reserved_range(first, end, None);
                        }
                        if self.memblock.phys_free(pa, size).is_ok() {
                            let (lo, hi) = (pa / page, (pa + size).div_ceil(page));
                            for edge in [lo, hi - 1] {
                                if (edge < first || edge >= end)
                                    && !self.memblock.is_region_reserved(edge * page, page)
                                    && p.page_state(edge) == PageState::Reserved
                                {
                                    p.free_reserved_range(edge, edge + 1, None);
                                }
                            }
                        }
                    }
                    _ => {
                        let order = Self::order_for(size, Mo::PAGE_SIZE);
                        if let Err(e) = p.free(self.cpu, pfn, order) {
                            log::error!("MmAlloc::free({pa:#x}, {size:#x}): {e}");
                        }
                    }
                }
            }
        }
    }
}

impl<Mo: PagingMode, M: PhysMem> TableAlloc for MmAlloc<'_, Mo, M> {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        let align = bytes.next_power_of_two().max(8);
        self.alloc(bytes, align, -1)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, _level: usize) {
        self.free(pa, bytes);
    }
}
