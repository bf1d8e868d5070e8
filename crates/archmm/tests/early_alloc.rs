//! One allocation API across the hand-off: memblock before, the buddy allocator after, and
//! early memory freed late goes to the buddy allocator.

use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::arch::x86_64::X86_64Paging4;
use archmm::arch::MemoryModel;
use archmm::buddy::{PageAlloc, PageState};
use archmm::early::MmAlloc;
use archmm::memblock::{Memblock, RegionType};
use archmm::memmap::{Memmap, MemmapGeometry};
use archmm::pgtable::{FlushLog, MapFlags, PageTable, Prot};
use archmm::physmem::PhysMem;
use archmm::zone::ZoneType;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Mem(Mutex<HashMap<u64, u8>>);
impl PhysMem for Mem {
    archmm::exclusive_atomics!();
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        let m = self.0.lock().unwrap();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = *m.get(&(pa.0 + i as u64)).unwrap_or(&0);
        }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        let mut m = self.0.lock().unwrap();
        for (i, b) in buf.iter().enumerate() {
            m.insert(pa.0 + i as u64, *b);
        }
    }
}

/// The hand-off for 16 MiB at 1 MiB (pfns 0x100..0x1100): a flat memmap from memblock,
/// memblock's reservations marked, its free ranges given to the buddy allocator.
fn hand_off<'m>(mem: &'m Mem, mb: &mut Memblock<&'m Mem>) -> PageAlloc<X86_64Paging4, &'m Mem> {
    let geo = MemmapGeometry {
        model: MemoryModel::Flat,
        page_shift: 12,
        section_size_bits: 27,
        max_physmem_bits: 46,
        vmemmap_start: 0,
    };
    let mm = Memmap::init::<X86_64Paging4, &Mem>(mb, geo, None).unwrap();
    let mut pa = PageAlloc::<X86_64Paging4, &Mem>::new(mem, mm, 11, 1);
    pa.add_zone(ZoneType::Normal, 0, 0x100, 0x1000, 0x1000);
    for r in mb.real_regions(RegionType::Reserved) {
        pa.mark_reserved(r.base >> 12, r.end().div_ceil(0x1000));
    }
    let mut free_ranges = Vec::new();
    mb.for_each_free_range(-1, archmm::memblock::MemblockFlags::NONE, false, |s, e, _| {
        free_ranges.push((s.div_ceil(0x1000), e >> 12));
        false
    });
    for (s, e) in free_ranges {
        pa.free_boot_range(s, e);
    }
    pa
}

#[test]
fn same_api_before_and_after_the_hand_off() {
    let mem = Mem::default();
    let memref = &mem;
    let mut mb = Memblock::new(memref);
    mb.add(0x10_0000, 0x100_0000).unwrap(); // 16 MiB at 1 MiB: pfns 0x100..0x1100
                                            // Before: memblock serves, page tables included.
    let (early, table_root) = {
        let mut a = MmAlloc::<X86_64Paging4, &Mem>::new(&mut mb, None, 0);
        assert!(!a.buddy_is_up());
        let early = a.alloc(0x3000, 0x1000, -1).expect("early");
        let mut pt = PageTable::<X86_64Paging4, &Mem>::new(&memref, &mut a).expect("root");
        pt.map(
            VirtAddr(0xffff_8880_0000_0000),
            PhysAddr(0x20_0000),
            0x1000,
            Prot::KERNEL_RW,
            MapFlags::default(),
            &mut a,
            &mut FlushLog::default(),
        )
        .unwrap();
        (early, pt.root())
    };
    assert!(mb.is_reserved(early) && mb.is_reserved(table_root.0));
    let reserved_before = mb.total_size(RegionType::Reserved);

    // The hand-off.
    let pa = hand_off(&mem, &mut mb);
    let managed = pa.totalram_pages();
    assert_eq!(
        managed,
        0x1000
            - reserved_before.div_ceil(0x1000)
            - (mb.total_size(RegionType::Reserved) - reserved_before).div_ceil(0x1000)
    );

    // After: the same API allocates from the buddy allocator...
    let mut a = MmAlloc::<X86_64Paging4, &Mem>::new(&mut mb, Some(&pa), 0);
    assert!(a.buddy_is_up());
    let free0 = pa.nr_free_pages() + pa.pcp_pages();
    let late = a.alloc(0x3000, 0x1000, 0).expect("late");
    assert_eq!(pa.page_state(late >> 12), PageState::Allocated);
    assert_eq!(pa.nr_free_pages() + pa.pcp_pages(), free0 - 4, "3 pages round up to an order-2 block");
    assert!(mem.is_zero(PhysAddr(late), 0x3000));
    a.free(late, 0x3000);
    assert_eq!(pa.nr_free_pages() + pa.pcp_pages(), free0);
    // ...and memory memblock handed out early becomes managed when freed late.
    a.free(early, 0x3000);
    assert_eq!(pa.totalram_pages(), managed + 3);
    assert_eq!(pa.page_state(early >> 12), PageState::Free);
    // Freeing it again frees nothing twice.
    a.free(early, 0x3000);
    assert_eq!(pa.totalram_pages(), managed + 3);
}

/// A page memblock shared between sub-page allocations (256-byte table fragments) stays
/// reserved while any piece of it is in use, and goes to the buddy allocator when the last
/// piece is freed late: never handed out under a live neighbour, never lost.
#[test]
fn sub_page_pieces_free_their_page_with_the_last_one() {
    let mem = Mem::default();
    let memref = &mem;
    let mut mb = Memblock::new(memref);
    mb.add(0x10_0000, 0x100_0000).unwrap();
    let (a1, a2) = {
        let mut a = MmAlloc::<X86_64Paging4, &Mem>::new(&mut mb, None, 0);
        (a.alloc(0x100, 0x100, -1).unwrap(), a.alloc(0x100, 0x100, -1).unwrap())
    };
    assert_eq!(a1 >> 12, a2 >> 12, "both pieces in one page");
    let pa = hand_off(&mem, &mut mb);
    let managed = pa.totalram_pages();
    let mut a = MmAlloc::<X86_64Paging4, &Mem>::new(&mut mb, Some(&pa), 0);
    a.free(a1, 0x100);
    assert_eq!(pa.page_state(a1 >> 12), PageState::Reserved, "a live piece keeps the page");
    assert_eq!(pa.totalram_pages(), managed);
    a.free(a2, 0x100);
    assert_eq!(pa.page_state(a1 >> 12), PageState::Free, "the last piece frees the page");
    assert_eq!(pa.totalram_pages(), managed + 1);
    // Freeing again frees nothing twice.
    a.free(a2, 0x100);
    assert_eq!(pa.totalram_pages(), managed + 1);
}
