//! The page-table engine with i386's 32-bit and PAE paging against the model of
//! common/mod.rs: random map/unmap/protect sequences, out-of-memory cleanliness, refused
//! requests, every page size, and encodings that round-trip. The kernel's lowmem starts at
//! PAGE_OFFSET 0xc0000000.

mod common;

mode_tests!(i386_2level, archmm::arch::i386::I386Paging2, 0xc000_0000);
mode_tests!(i386_pae, archmm::arch::i386::I386PagingPae, 0xc000_0000);

/// A table the mode cannot point to (above 4 GiB for CR3 or a 32-bit entry) is refused and
/// given back, never truncated into an entry.
#[test]
fn tables_beyond_the_entry_width_are_refused() {
    use archmm::pgtable::{PageTable, PgError};
    use common::{Alloc, Mem};
    let mem = Mem::default();
    let mut alloc = Alloc::default(); // tables at 16 GiB
    let r = PageTable::<archmm::arch::i386::I386Paging2, Mem>::new(&mem, &mut alloc);
    assert!(matches!(r, Err(PgError::PaOutOfRange(0x4_0000_0000))));
    assert!(alloc.live.is_empty(), "the refused table was freed");
    let r = PageTable::<archmm::arch::i386::I386PagingPae, Mem>::new(&mem, &mut alloc);
    assert!(matches!(r, Err(PgError::PaOutOfRange(_))), "a PAE root must sit below 4 GiB");
}
