//! The page-table engine with loongarch64's 16K/3-level and 4K/4-level layouts against the
//! model of common/mod.rs. The 16K tree translates the lower (PGDL) half, so its base is a
//! user address; the 4K tree reaches both halves, so its base is in the kernel's mapped
//! region (vm_map_base = -2^47 with VALEN 48).

mod common;

mode_tests!(loongarch64_3level_16k, archmm::arch::loongarch64::LoongArch3Level16K, 0x0000_1200_0000_0000);
mode_tests!(loongarch64_4level_4k, archmm::arch::loongarch64::LoongArch4Level4K, 0xffff_8000_4000_0000);
