//! The page-table engine with the Power ISA 3.0 radix tree (4K and 64K pages) against the
//! model of common/mod.rs, and the 64K layout's sub-page tables carved by FragmentAlloc as
//! Linux's pte_fragment_alloc/pmd_fragment_alloc do (256-byte PTE tables, 256 to a 64K
//! page; 4K PMD and PUD tables, 16 to a page).

mod common;

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::powerpc::Radix64K;
use archmm::pgtable::{FlushLog, FragmentAlloc, MapFlags, PageTable, Prot};
use common::{Mem, PageGranular};

// Quadrant-0 (user, PIDR) addresses: the tree translates EA bits 0..51.
mode_tests!(powerpc64_radix_4k, archmm::arch::powerpc::Radix4K, 0x0000_7fff_8000_0000);
mode_tests!(powerpc64_radix_64k, archmm::arch::powerpc::Radix64K, 0x0000_7fff_8000_0000);

#[test]
fn sub_page_tables_share_64k_pages() {
    const PAGE: u64 = 64 << 10;
    let mem = Mem::default();
    let mut alloc = FragmentAlloc::<_>::new(PageGranular::new(PAGE), PAGE);
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<Radix64K, Mem>::new(&mem, &mut alloc).expect("root");
    // The 64K PGD is a whole page.
    assert_eq!(alloc.inner().pages(), 1);
    let f = MapFlags { replace: false, blocks: false };
    let pmd_span = 2u64 << 20;
    // One 64K page in each of 256 consecutive 2M ranges: 256 PTE tables of 256 bytes (one
    // 64K page), a PUD and a PMD table of 4K (one shared 64K page).
    for i in 0..256 {
        pt.map(
            VirtAddr(0x4000_0000 + i * pmd_span),
            PhysAddr(0x100_0000 + i * PAGE),
            PAGE,
            Prot::USER_RW,
            f,
            &mut alloc,
            &mut tlb,
        )
        .expect("map");
    }
    assert_eq!(alloc.inner().pages(), 3);
    // The 257th PTE table needs a new page.
    pt.map(VirtAddr(0x4000_0000 + 256 * pmd_span), PhysAddr(0x200_0000), PAGE, Prot::USER_RW, f, &mut alloc, &mut tlb)
        .expect("map");
    assert_eq!(alloc.inner().pages(), 4);
    for i in 0..=256u64 {
        let t = pt.translate(VirtAddr(0x4000_0000 + i * pmd_span + 8)).expect("mapped");
        assert_eq!((t.size, t.prot), (PAGE, Prot::USER_RW));
    }
    pt.unmap(VirtAddr(0x4000_0000), 257 * pmd_span, &mut alloc, &mut tlb).expect("unmap");
    assert_eq!(alloc.inner().pages(), 1, "only the root is left");
    pt.destroy(&mut alloc);
    assert_eq!(alloc.inner().pages(), 0);
}
