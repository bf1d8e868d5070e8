//! Table pages freed by an operation go back to the allocator only after the TLB has been
//! flushed for the operation's range (Linux's mmu_gather): a walker may still hold a freed
//! table in its caches until then, so a page reused before the flush could be walked as a
//! table. Checked over unmaps, replacing maps and protections that collapse tables, in
//! several modes, including operations that free more tables than are held back at once.

mod common;

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::pgtable::{MapFlags, PageTable, PagingMode, Prot, TableAlloc, TlbFlush};
use common::{expressible, Alloc, Mem};
use std::cell::RefCell;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ev {
    Flush(u64, u64),
    Free(u64),
}

/// One event log shared by the allocator and the TLB of an operation.
struct Log(RefCell<Vec<Ev>>);
struct A<'l>(&'l Log, Alloc);
struct T<'l>(&'l Log);

impl TableAlloc for A<'_> {
    fn alloc_table(&mut self, bytes: u64, level: usize) -> Option<u64> {
        self.1.alloc_table(bytes, level)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, level: usize) {
        self.0 .0.borrow_mut().push(Ev::Free(pa));
        self.1.free_table(pa, bytes, level);
    }
}
impl TlbFlush for T<'_> {
    fn flush_range(&mut self, start: u64, end: u64) {
        self.0 .0.borrow_mut().push(Ev::Flush(start, end));
    }
}

/// Every free in `events` (one operation over `[va, va + size)`) comes after a flush
/// covering that range.
fn check(events: &[Ev], va: u64, size: u64, what: &str) {
    let mut flushed = false;
    for e in events {
        match *e {
            Ev::Flush(s, e) => flushed |= s <= va && va.wrapping_add(size) <= e,
            Ev::Free(pa) => assert!(flushed, "{what}: table {pa:#x} freed before the TLB flush: {events:?}"),
        }
    }
}

/// One operation on the table, its allocator and its TLB.
type Op<'x, Mo> = dyn FnMut(&mut PageTable<'_, Mo, Mem>, &mut A<'_>, &mut T<'_>) + 'x;

fn exercise<Mo: PagingMode>(base: u64) {
    let mem = Mem::default();
    let log = Log(RefCell::new(Vec::new()));
    let mut alloc = A(&log, Alloc::for_mode::<Mo>());
    let mut tlb = T(&log);
    let block = Mo::LEVELS[Mo::LEVELS.len() - 2].span();
    let rw = expressible::<Mo>(Prot::KERNEL_RW);
    let ro = expressible::<Mo>(Prot::KERNEL_RO);
    let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
    // 48 blocks' worth of base pages: 48 last-level tables (more than the gather holds).
    let size = 48 * block;
    let mut run = |what: &str, va: u64, size: u64, f: &mut Op<'_, Mo>| {
        log.0.borrow_mut().clear();
        f(&mut pt, &mut alloc, &mut tlb);
        let events = log.0.borrow().clone();
        check(&events, va, size, what);
        events.iter().filter(|e| matches!(e, Ev::Free(_))).count()
    };
    let pa = 0x4000_0000u64.next_multiple_of(block);
    run("map", base, size, &mut |pt, a, t| {
        pt.map(VirtAddr(base), PhysAddr(pa), size, rw, MapFlags { replace: false, blocks: false }, a, t).expect("map")
    });
    // Protect the whole range: uniform base-page tables collapse into blocks, freeing them.
    let freed =
        run("protect", base, size, &mut |pt, a, t| pt.protect(VirtAddr(base), size, ro, a, t).expect("protect"));
    assert!(freed >= 40, "{}: protect freed only {freed} tables", Mo::NAME);
    // Split again with base pages, then replace with blocks: the replaced tables are freed.
    run("split", base, size, &mut |pt, a, t| {
        pt.map(VirtAddr(base), PhysAddr(pa), size, rw, MapFlags { replace: true, blocks: false }, a, t).expect("split")
    });
    let freed = run("replace", base, size, &mut |pt, a, t| {
        pt.map(VirtAddr(base), PhysAddr(pa), size, rw, MapFlags { replace: true, blocks: true }, a, t).expect("replace")
    });
    assert!(freed >= 40, "{}: replacing freed only {freed} tables", Mo::NAME);
    // Base pages again, then unmap everything: every table goes.
    run("remap", base, size, &mut |pt, a, t| {
        pt.map(VirtAddr(base), PhysAddr(pa), size, rw, MapFlags { replace: true, blocks: false }, a, t).expect("remap")
    });
    let freed = run("unmap", base, size, &mut |pt, a, t| pt.unmap(VirtAddr(base), size, a, t).expect("unmap"));
    assert!(freed >= 48, "{}: unmap freed only {freed} tables", Mo::NAME);
}

#[test]
fn frees_follow_the_flush() {
    exercise::<archmm::arch::x86_64::X86_64Paging4>(0xffff_8880_0000_0000);
    exercise::<archmm::arch::arm64::Arm64Paging4K48>(0xffff_0000_0000_0000);
    exercise::<archmm::arch::riscv64::Sv39>(0xffff_ffd8_0000_0000);
    exercise::<archmm::arch::i386::I386PagingPae>(0xc000_0000);
    exercise::<archmm::arch::s390::S390x4Level>(0x0010_0000_0000_0000);
}
