//! The page-table engine with arm's (AArch32) short-descriptor and LPAE formats against the
//! model of common/mod.rs: random map/unmap/protect sequences, out-of-memory cleanliness,
//! refused requests, every block size, and encodings that round-trip. The kernel's lowmem
//! starts at PAGE_OFFSET 0xc0000000 (3G/1G split).

use archmm::addr::{PhysAddr, VirtAddr};
mod common;

mode_tests!(arm_short, archmm::arch::arm::ArmShort, 0xc000_0000);
mode_tests!(arm_lpae, archmm::arch::arm::ArmLpae, 0xc000_0000);

/// Second-level short-descriptor tables are 1 KiB: four share a page through
/// `FragmentAlloc`, and the page goes back when the last of them is freed.
#[test]
fn short_second_level_tables_share_pages() {
    use archmm::arch::arm::ArmShort;
    use archmm::pgtable::{FlushLog, FragmentAlloc, MapFlags, PageTable, PagingMode, Prot};
    use common::{Alloc, Mem};

    let mem = Mem::default();
    let mut alloc = FragmentAlloc::<Alloc>::new(Alloc::for_mode::<ArmShort>(), 4096);
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<ArmShort, Mem>::new(&mem, &mut alloc).expect("root");
    assert_eq!(ArmShort::table_bytes(0), 16 << 10);
    assert_eq!(ArmShort::table_bytes(1), 1 << 10);
    let base = 0xc000_0000;
    for i in 0..4u64 {
        // One small page in each of four sections: four second-level tables.
        let va = base + (i << 20) + 0x3000;
        pt.map(
            VirtAddr(va),
            PhysAddr(0x10_0000 + (i << 20)),
            0x1000,
            Prot::KERNEL_RW,
            MapFlags::default(),
            &mut alloc,
            &mut tlb,
        )
        .expect("map");
        assert_eq!(pt.translate(VirtAddr(va)).expect("mapped").level, 1);
    }
    let pages: Vec<_> = alloc.inner().live.iter().map(|(&pa, &bytes)| (pa, bytes)).collect();
    assert_eq!(pages.len(), 2, "the root and one page of four 1K tables: {pages:x?}");
    assert_eq!(pages[1].1, 4096);
    pt.unmap(VirtAddr(base), 4 << 20, &mut alloc, &mut tlb).expect("unmap");
    assert_eq!(alloc.inner().live.len(), 1, "the fragments' page was returned");
    pt.destroy(&mut alloc);
    assert!(alloc.inner().live.is_empty());
}
