//! arm64 (AArch64): a page of the architecture manual and of Linux's arch/arm64/mm.
//!
//! - Physical addresses: 48 bits (52 with FEAT_LPA and 64K pages; Debian's kernel: 48).
//! - Firmware: a flattened device tree (QEMU `virt`, U-Boot) or UEFI.
//! - Zones: ZONE_DMA up to what every device can reach (the device tree's `dma-ranges`,
//!   at most 32 bits), ZONE_DMA32 up to 4 GiB, Normal. Both limits are relative to where
//!   RAM starts: when RAM starts above 4 GiB, DMA covers everything.
//! - Memory model: SPARSEMEM_VMEMMAP, 128 MiB sections with 4K and 16K pages.

use super::{Arch, FirmwareKind, Override};
use crate::boot::BootCtx;
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

/// AArch64 with 4K pages and 48-bit VA (the distribution default).
pub struct Arm64;

/// Linux's max_zone_phys(): the exclusive physical limit of a zone of `zone_bits` bits,
/// moved up when RAM starts above it, capped at the end of RAM.
pub fn max_zone_phys(zone_bits: u32, dram_start: u64, dram_end: u64) -> u64 {
    let mut mask = if zone_bits >= 64 { u64::MAX } else { (1u64 << zone_bits) - 1 };
    if dram_start > u32::MAX as u64 {
        mask = u64::MAX;
    } else if dram_start > mask {
        mask = u32::MAX as u64;
    }
    mask.min(dram_end.wrapping_sub(1)).wrapping_add(1)
}

impl Arch for Arm64 {
    const NAME: &'static str = "arm64";
    const ALIASES: &'static [&'static str] = &["aarch64"];
    const MAX_PHYSMEM_BITS: u32 = 48;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];
    const SMP_CACHE_BYTES: u64 = 64;
    const OVERRIDES: &'static [Override] = &[Override {
        hook: "zone_limits",
        reason: "arm64 SoCs put RAM anywhere: ZONE_DMA is sized by the narrowest DMA master \
                 (dma-ranges, at most 32 bits) and both DMA zones are relative to the start \
                 of RAM",
    }];
    type State = ();

    fn zone_limits<M: PhysMem>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
        let start = ctx.memblock.start_of_dram();
        let end = ctx.memblock.end_of_dram();
        // zone_dma_bits = min3(32, dt, acpi): without dma-ranges both are 64.
        let dma = max_zone_phys(32, start, end);
        let dma32 = max_zone_phys(32, start, end);
        let mut z = [0u64; MAX_NR_ZONES];
        z[ZoneType::Dma as usize] = dma >> Self::PAGE_SHIFT;
        z[ZoneType::Dma32 as usize] = dma32 >> Self::PAGE_SHIFT;
        z[ZoneType::Normal as usize] = ctx.max_pfn;
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_phys_limits_follow_dram_start() {
        // QEMU virt, 4 GiB at 1 GiB: DMA covers up to 4 GiB.
        assert_eq!(max_zone_phys(32, 0x4000_0000, 0x1_4000_0000), 0x1_0000_0000);
        // 1 GiB at 1 GiB: capped at the end of RAM.
        assert_eq!(max_zone_phys(32, 0x4000_0000, 0x8000_0000), 0x8000_0000);
        // RAM above 4 GiB: the zone takes everything.
        assert_eq!(max_zone_phys(32, 0x8_0000_0000, 0x9_0000_0000), 0x9_0000_0000);
        // 30-bit zone with RAM starting above 1 GiB: widened to 32 bits.
        assert_eq!(max_zone_phys(30, 0x8000_0000, 0x2_0000_0000), 0x1_0000_0000);
    }
}
