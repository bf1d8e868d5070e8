//! The page-table engine with riscv64's Sv39, Sv48 and Sv57 against the model of
//! common/mod.rs: random map/unmap/protect sequences, out-of-memory cleanliness, refused
//! requests, every block size (up to Sv57's 256 TiB petapages, where the harness's
//! physical space allows), and encodings that round-trip. Bases are Linux's linear-map
//! starts (PAGE_OFFSET) for each mode.

mod common;

mode_tests!(riscv64_sv39, archmm::arch::riscv64::Sv39, 0xffff_ffd8_0000_0000);
mode_tests!(riscv64_sv48, archmm::arch::riscv64::Sv48, 0xffff_af80_0000_0000);
mode_tests!(riscv64_sv57, archmm::arch::riscv64::Sv57, 0xff60_0000_0000_0000);
