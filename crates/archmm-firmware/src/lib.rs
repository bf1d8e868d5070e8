//! # archmm-firmware: firmware memory-map parsers
//!
//! `#![no_std]`, heap-free parsers for the ways firmware and boot loaders
//! describe physical memory to an OS kernel, with the semantics Linux 6.1
//! gives them:
//!
//! | module | input | Linux counterpart |
//! |---|---|---|
//! | [`e820`] | the x86 E820 table: `boot_params` zero page, PVH `hvm_start_info`, `dmesg` text (`BIOS-e820:` and `ACPI: SRAT:` lines) | `arch/x86/kernel/e820.c`, `arch/x86/platform/pvh/enlighten.c`, `drivers/acpi/numa/srat.c` |
//! | [`fdt`] | a flattened device tree blob: `/memory` nodes, `/reserved-memory`, `/memreserve/`, `/chosen` | `drivers/of/fdt.c`, `drivers/of/of_reserved_mem.c`, `drivers/of/of_numa.c` |
//! | [`uefi`] | the UEFI memory map (`GetMemoryMap()` output) and `efi=debug` `dmesg` lines | `arch/x86/platform/efi/efi.c`, `drivers/firmware/efi/efi-init.c`, `drivers/firmware/efi/efi.c` |
//! | [`multiboot2`] | the multiboot2 boot-information memory-map tag | the Multiboot2 specification |
//!
//! ## Rules every parser follows
//!
//! * **No panics on any input.** There is no slice indexing that can fail, no
//!   `unwrap`, and no unchecked arithmetic: the crate is built with clippy's
//!   `indexing_slicing`, `arithmetic_side_effects`, `unwrap_used`,
//!   `expect_used` and `panic` lints denied (outside tests), and every parser
//!   has a fuzz target (see `fuzz/README.md`).
//! * **No heap.** Outputs are plain data: `u64` addresses and sizes, enums,
//!   [`FixedVec`]s with documented capacities (overflow is a typed error), or
//!   iterators that borrow the input bytes.
//! * **Typed errors.** One error enum per concern; each variant names the
//!   rule the input broke, and implements [`core::fmt::Display`].
//! * **No `unsafe`.**
//!
//! Code in this crate is original; facts about formats (offsets, constants,
//! printk formats, the order of checks) were taken from the Linux 6.1 sources
//! and the specifications each module cites.
#![warn(missing_debug_implementations)]
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod bytes;
pub mod e820;
pub mod fdt;
mod fixed;
pub mod multiboot2;
mod text;
pub mod uefi;

pub use fixed::{CapacityError, FixedVec};
