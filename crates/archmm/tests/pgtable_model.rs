//! The page-table engine against a plain map of pages, for every paging mode: random
//! map/unmap/protect sequences must translate exactly as the model says, every table
//! page must be reachable from the root exactly once (nothing leaked, nothing freed twice),
//! and refused requests must leave every table byte unchanged. (Harness: common/mod.rs.)

mod common;

mode_tests!(x86_64_4level, archmm::arch::x86_64::X86_64Paging4, 0xffff_8880_0000_0000);
mode_tests!(x86_64_5level, archmm::arch::x86_64::X86_64Paging5, 0xff11_0000_0000_0000);
