//! arm's page-table walker need not snoop the data cache: the engine must clean every new
//! table and every entry it writes in the arm modes, and never ask elsewhere.

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, Prot, TableAlloc};
use archmm_host::backing::SparseMem;

struct Bump(u64);
impl TableAlloc for Bump {
    fn alloc_table(&mut self, bytes: u64, _: usize) -> Option<u64> {
        let align = bytes.max(8);
        let pa = (self.0 + align - 1) & !(align - 1);
        self.0 = pa + bytes;
        Some(pa)
    }
    fn free_table(&mut self, _: u64, _: u64, _: usize) {}
}

fn cleaned<Mo: PagingMode>(va: u64) -> u64 {
    let mem = SparseMem::new();
    let mut a = Bump(0x1000_0000);
    let mut pt = PageTable::<Mo, SparseMem>::new(&mem, &mut a).expect("root");
    pt.map(
        VirtAddr(va),
        PhysAddr(0x20_0000),
        0x3000,
        Prot::KERNEL_RW,
        MapFlags::default(),
        &mut a,
        &mut FlushLog::default(),
    )
    .expect("map");
    mem.cleaned_bytes()
}

#[test]
fn arm_cleans_tables_and_entries_others_do_not() {
    // arm-short: the 16K root, one 1K second-level table, and 3 entries + 1 table entry.
    assert_eq!(cleaned::<archmm::arch::arm::ArmShort>(0xc000_0000), 0x4000 + 0x400 + 4 * 4);
    assert!(cleaned::<archmm::arch::arm::ArmLpae>(0xc000_0000) > 0);
    assert_eq!(cleaned::<archmm::arch::x86_64::X86_64Paging4>(0xffff_8880_0000_0000), 0);
    assert_eq!(cleaned::<archmm::arch::arm64::Arm64Paging4K48>(0xffff_0000_0000_0000), 0);
}
