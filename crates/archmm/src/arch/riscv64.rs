//! riscv64: a page of the privileged architecture manual and of Linux's arch/riscv/mm.
//!
//! - Physical addresses: 56 bits (Sv39/48/57 PTEs hold a 44-bit PPN).
//! - Firmware: a flattened device tree passed by OpenSBI in a1, which adds its own
//!   `no-map` /reserved-memory regions for M-mode firmware.
//! - Zones: DMA32 up to min(4 GiB, end of RAM), Normal; no ZONE_DMA.
//! - Memory model: SPARSEMEM_VMEMMAP, 128 MiB sections.

use super::{Arch, FirmwareKind, Override};
use crate::zone::ZoneType;

/// RISC-V 64-bit (Sv39 by default; the mode matters for page tables, not for zones).
pub struct Riscv64;

/// PMD_SIZE with 4K pages: the kernel's reservation is rounded up to it.
const PMD_SIZE: u64 = 2 << 20;

impl Arch for Riscv64 {
    const NAME: &'static str = "riscv64";
    const ALIASES: &'static [&'static str] = &["riscv", "riscv64gc"];
    const MAX_PHYSMEM_BITS: u32 = 56;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];
    const KERNEL_END_ALIGN: u64 = PMD_SIZE;
    const OVERRIDES: &'static [Override] = &[Override {
        hook: "KERNEL_END_ALIGN",
        reason: "the kernel's linear-map alias is mapped read-only with PMD blocks, so its \
                 reservation extends to the next 2 MiB boundary (setup_bootmem)",
    }];
    type State = ();
}
