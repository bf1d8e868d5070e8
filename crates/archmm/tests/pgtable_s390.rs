//! The page-table engine with s390x DAT (region-third, region-second and region-first
//! roots) against the model of common/mod.rs, and the 2K page tables carved two to a 4K
//! page by FragmentAlloc, as Linux's page_table_alloc() does.

mod common;

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::s390::{S390x3Level, S390x5Level};
use archmm::pgtable::{FlushLog, FragmentAlloc, MapFlags, PageTable, PagingMode, Prot};
use common::{Mem, PageGranular};

mode_tests!(s390x_3level, archmm::arch::s390::S390x3Level, 0x0000_0100_0000_0000);
mode_tests!(s390x_4level, archmm::arch::s390::S390x4Level, 0x0010_0000_0000_0000);
mode_tests!(s390x_5level, archmm::arch::s390::S390x5Level, 0x8000_0000_0000_0000);

/// Two 2K page tables share one 4K page; the page goes back when both are freed.
#[test]
fn page_tables_are_2k_fragments() {
    let mem = Mem::default();
    let mut alloc = FragmentAlloc::<_>::new(PageGranular::new(4096), 4096);
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<S390x3Level, Mem>::new(&mem, &mut alloc).expect("root");
    // Region-third root: a 16K crst table, four pages.
    assert_eq!(alloc.inner().pages(), 4);
    let f = MapFlags { replace: false, blocks: false };
    let seg = 1u64 << 20;
    // One page in each of two segments: a segment table (4 pages) and two page tables.
    pt.map(VirtAddr(0x4000_0000), PhysAddr(0x10_0000), 4096, Prot::KERNEL_RW, f, &mut alloc, &mut tlb).expect("map");
    assert_eq!(alloc.inner().pages(), 4 + 4 + 1);
    pt.map(VirtAddr(0x4000_0000 + seg), PhysAddr(0x20_0000), 4096, Prot::KERNEL_RW, f, &mut alloc, &mut tlb)
        .expect("map");
    assert_eq!(alloc.inner().pages(), 4 + 4 + 1, "the second 2K page table shares the page");
    // A third page table takes a new page.
    pt.map(VirtAddr(0x4000_0000 + 2 * seg), PhysAddr(0x30_0000), 4096, Prot::KERNEL_RW, f, &mut alloc, &mut tlb)
        .expect("map");
    assert_eq!(alloc.inner().pages(), 4 + 4 + 2);
    let pts: Vec<u64> = (0..3)
        .map(|i| pt.walk(VirtAddr(0x4000_0000 + i * seg)).0[1].expect("segment entry"))
        .map(|s| match s.entry {
            archmm::pgtable::Entry::Table(t) => t,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!((pts[0] & !0xfff, pts[1] - pts[0]), (pts[1] & !0xfff, 2048), "two halves of one page");
    // Freeing one half keeps the page; freeing both returns it.
    pt.unmap(VirtAddr(0x4000_0000), 4096, &mut alloc, &mut tlb).expect("unmap");
    assert_eq!(alloc.inner().pages(), 4 + 4 + 2);
    pt.unmap(VirtAddr(0x4000_0000 + seg), 4096, &mut alloc, &mut tlb).expect("unmap");
    assert_eq!(alloc.inner().pages(), 4 + 4 + 1);
    pt.unmap(VirtAddr(0x4000_0000 + 2 * seg), 4096, &mut alloc, &mut tlb).expect("unmap");
    assert_eq!(alloc.inner().pages(), 4, "only the root is left");
    pt.destroy(&mut alloc);
    assert_eq!(alloc.inner().pages(), 0);
}

/// New tables are filled with invalid entries (an all-zero s390 entry would be valid), and
/// unmapping writes invalid entries back.
#[test]
fn empty_entries_are_invalid_bits() {
    let mem = Mem::default();
    let mut alloc = common::Alloc::default();
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<S390x5Level, Mem>::new(&mem, &mut alloc).expect("root");
    let va = 0x8000_0000_4000_0000;
    pt.map(VirtAddr(va), PhysAddr(0x10_0000), 2 * 4096, Prot::KERNEL_RW, MapFlags::default(), &mut alloc, &mut tlb)
        .expect("map");
    pt.unmap(VirtAddr(va + 4096), 4096, &mut alloc, &mut tlb).expect("unmap");
    let (steps, n) = pt.walk(VirtAddr(va));
    assert_eq!(n, 5);
    // Every other entry of every table on the way is the level's empty entry: the next
    // page's PTE (just unmapped), and the neighbours of each table pointer.
    for s in steps.iter().flatten() {
        let neighbour = s.table + ((s.index + 1) % S390x5Level::LEVELS[s.level].entries()) * 8;
        let raw = archmm::physmem::PhysMem::read_u64(&mem, PhysAddr(neighbour));
        assert_eq!(raw, S390x5Level::empty_entry(s.level), "level {}", s.level);
    }
}
