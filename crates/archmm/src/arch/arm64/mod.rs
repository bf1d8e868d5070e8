//! arm64 (AArch64): a page of the architecture manual and of Linux's arch/arm64/mm.
//!
//! - Physical addresses: 48 bits (52 with FEAT_LPA and 64K pages; Debian's kernel: 48).
//! - Firmware: a flattened device tree (QEMU `virt`, U-Boot) or UEFI.
//! - Zones: ZONE_DMA up to what every device can reach (the device tree's `dma-ranges`,
//!   at most 32 bits), ZONE_DMA32 up to 4 GiB, Normal. Both limits are relative to where
//!   RAM starts: when RAM starts above 4 GiB, DMA covers everything.
//! - Memory model: SPARSEMEM_VMEMMAP, 128 MiB sections with 4K and 16K pages.

pub mod qemu;
pub mod refwalk;

use super::{Arch, FirmwareKind};
use crate::addr::{align_down, align_up_saturating};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

/// AArch64 with a `GRANULE_KB` (4, 16 or 64) page granule and `VA`-bit kernel addresses.
#[derive(Debug)]
pub struct Arm64G<const GRANULE_KB: u32, const VA: u32>;

/// AArch64 as distributions build it: 4K pages, 48-bit VA.
pub type Arm64 = Arm64G<4, 48>;

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

impl<const GRANULE_KB: u32, const VA: u32> Arm64G<GRANULE_KB, VA> {
    /// ARM64_MEMSTART_ALIGN: the linear map's base alignment, the larger of a section and
    /// PUD_SHIFT (4K pages: 1 GiB), CONT_PMD_SHIFT (16K: 1 GiB) or PMD_SHIFT (64K: 512 MiB).
    const MEMSTART_ALIGN: u64 = match GRANULE_KB {
        64 => 1 << 29,
        _ => 1 << 30,
    };
}

impl<const GRANULE_KB: u32, const VA: u32> Arch for Arm64G<GRANULE_KB, VA> {
    const NAME: &'static str = "arm64";
    const ALIASES: &'static [&'static str] = &["aarch64"];
    const PAGE_SHIFT: u32 = granule_shift(GRANULE_KB);
    /// 52 only with 64K pages and FEAT_LPA; CONFIG_ARM64_PA_BITS=48 otherwise.
    const MAX_PHYSMEM_BITS: u32 = if GRANULE_KB == 64 && VA == 52 { 52 } else { 48 };
    /// 512 MiB sections with 64K pages (so a section holds a MAX_ORDER block), else 128 MiB.
    const SECTION_SIZE_BITS: u32 = if GRANULE_KB == 64 { 29 } else { 27 };
    /// ARCH_FORCE_MAX_ORDER: 14 with 64K pages, 12 with 16K, 11 with 4K.
    const MAX_ORDER: u32 = match GRANULE_KB {
        64 => 14,
        16 => 12,
        _ => 11,
    };
    /// min(HUGETLB_PAGE_ORDER (a PMD block), MAX_ORDER - 1).
    const PAGEBLOCK_ORDER: u32 = match GRANULE_KB {
        64 => 13,
        16 => 11,
        _ => 9,
    };
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];
    /// The reference kernel's sections: Debian's 6.1.0-56-arm64 (its Memory and percpu lines under QEMU).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(13248, 2806, 9524, 6464, 627, 87_272);
    /// CONFIG_NODES_SHIFT=4 (Debian's arm64 config): 16 NUMA nodes.
    const NODES_SHIFT: u32 = 4;
    /// sizeof(pg_data_t) of Debian's 6.1 arm64 kernel, cache-line rounded: `NUMA: NODE_DATA
    /// [mem 0x13f7ed380-0x13f7effff]` (0x2c80).
    const NODE_DATA_BYTES: u64 = 0x2c80;
    type State = ();
    type Paging = Arm64Paging<GRANULE_KB, VA, false>;
    type UserPaging = Arm64Paging<GRANULE_KB, VA, true>;
    /// TASK_SIZE_64 (DEFAULT_MAP_WINDOW_64 with 52-bit VAs).
    const TASK_SIZE: u64 = 1u64 << (if VA > 48 { 48 } else { VA });
    /// -(1 << VA_BITS).
    const PAGE_OFFSET: u64 = 0u64.wrapping_sub(1u64 << VA);
    /// -(1 << (VA_BITS - (PAGE_SHIFT - STRUCT_PAGE_MAX_SHIFT))), STRUCT_PAGE_MAX_SHIFT = 6.
    const VMEMMAP_START: u64 = 0u64.wrapping_sub(1u64 << (VA - (granule_shift(GRANULE_KB) - 6)));
    const DEFAULT_CMA_BYTES: u64 = 64 << 20;

    crate::overrides! {
        /// user space has its own translation base (TTBR0_EL1) and table format; the kernel stays in TTBR1,
        /// so no entries are copied
        const USER_SHARE: crate::uspace::KernelShare = crate::uspace::KernelShare::SeparateRoot;

        /// with rodata_full (distribution default) arm64 maps the linear map with pages, so the permissions
        /// of the kernel image's linear alias can change page by page without breaking block mappings
        /// (break-before-make)
        const LINEAR_MAP_BLOCKS: bool = false;

        /// arm64 runs the kernel from its own mapping at KIMAGE_VADDR (the end of the modules area), so the
        /// image can be placed (KASLR) independently of the linear map
        // KIMAGE_VADDR = MODULES_END: _PAGE_END(VA_BITS_MIN) + 128 MiB (VA_BITS_MIN is 48 for
        // 52-bit VAs).
        const KERNEL_IMAGE_MAP: Option<crate::protect::ImageMapBase> = Some(crate::protect::ImageMapBase::ImageStart(
            0u64.wrapping_sub(1u64 << ((if VA > 48 { 48 } else { VA }) - 1)) + (128 << 20),
        ));

        /// arm64's free_initmem() vunmaps the init sections from the image mapping, leaving no stale alias of
        /// freed init code
        const INIT_IMAGE_UNMAP: bool = true;

        /// arm64's ptdump also counts kernel pages executable at EL0 (missing UXN) and prefixes the warning
        /// with arm64/mm:
        const WX_FORMAT: Option<crate::protect::WxFormat> = Some(crate::protect::WxFormat {
            found_prefix: "arm64/mm: ",
            checked_prefix: "",
            failed: "FAILED",
            period: false,
            uxn: true,
        });

        /// arm64_memblock_init() drops the memory its linear region (half the kernel VA space) cannot cover,
        /// warning that VA_BITS is too small
        // arm64_memblock_init(): memory the linear region (half the kernel VA space) cannot
        // cover is dropped, with Linux's warning, keeping the kernel image; then the generic
        // limits and the linear map.
        fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            let linear_region_size = 1u64 << (VA - 1);
            let mut memstart = align_down(ctx.memblock.start_of_dram(), Self::MEMSTART_ALIGN);
            if ctx.memblock.end_of_dram() - memstart > linear_region_size {
                writeln!(ctx.log, "Memory doesn't fit in the linear mapping, VA_BITS too small")?;
            }
            let kernel_end = ctx.fw.kernel.map_or(0, |(_, e)| e);
            // Linux ignores these calls' results: with memblock.memory full (it cannot grow
            // before paging_init()) the removal fails and the memory stays, as here.
            let _ = ctx.memblock.remove((memstart + linear_region_size).max(kernel_end), u64::MAX);
            if memstart + linear_region_size < ctx.memblock.end_of_dram() {
                memstart = align_up_saturating(ctx.memblock.end_of_dram() - linear_region_size, Self::MEMSTART_ALIGN);
                let _ = ctx.memblock.remove(0, memstart);
            }
            crate::arch::generic::setup_arch(ctx)
        }

        /// arm64 RAM can start anywhere: the linear map starts at memstart_addr, the start of DRAM rounded
        /// down to ARM64_MEMSTART_ALIGN, so PAGE_OFFSET is the first byte of RAM's block and the vmemmap is
        /// offset to match
        // memstart_addr: the start of DRAM rounded down to ARM64_MEMSTART_ALIGN.
        fn linear_map_phys_base<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            align_down(ctx.memblock.start_of_dram(), Self::MEMSTART_ALIGN)
        }

        /// bootmem_init() runs sparse_init() before dma_contiguous_reserve(): the CMA area goes below a
        /// memmap of Linux's size at the top of memory
        const MEMMAP_BEFORE_CMA: bool = true;

        /// arm64 SoCs put RAM anywhere: ZONE_DMA is sized by the narrowest DMA master (dma-ranges, at most 32
        /// bits) and both DMA zones are relative to the start of RAM
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
}

// ----- paging (Arm ARM DDI 0487, D8 "The AArch64 Virtual Memory System Architecture") ------

use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};

/// Descriptor bit 0: valid. Clear, the descriptor faults and every other bit is ignored.
pub const DESC_VALID: u64 = 1 << 0;
/// Descriptor bit 1: with bit 0, a table descriptor (above the last level) or a page
/// descriptor (at the last level); clear, a block descriptor (bits 1:0 = 0b01), which is
/// reserved and faults at the last level and at levels that allow no blocks.
pub const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
/// `AttrIndx[2:0]`, bits 4:2: which byte of MAIR_EL1 gives the memory type.
pub const DESC_ATTRINDX_SHIFT: u32 = 2;
/// `AP[1]`, bit 6: EL0 has data access (with `AP[2]`: read-only or read-write).
pub const DESC_AP_EL0: u64 = 1 << 6;
/// `AP[2]`, bit 7: read-only at every exception level.
pub const DESC_AP_RO: u64 = 1 << 7;
/// `SH[1:0]`, bits 9:8 = 0b11: Inner Shareable (ignored for Device memory).
pub const DESC_SH_INNER: u64 = 3 << 8;
/// AF, bit 10: the access flag. Clear, the first access faults (unless FEAT_HAFDBS sets
/// it in hardware); Linux and this crate create entries with it set.
pub const DESC_AF: u64 = 1 << 10;
/// nG, bit 11: not global, the TLB entry is tagged with the ASID.
pub const DESC_NG: u64 = 1 << 11;
/// PXN, bit 53: never executable at EL1.
pub const DESC_PXN: u64 = 1 << 53;
/// UXN, bit 54: never executable at EL0 (in the AArch32 LPAE format the same bit is XN,
/// never executable at any privilege level).
pub const DESC_UXN: u64 = 1 << 54;

/// Linux's MAIR_EL1 (arch/arm64/mm/proc.S, `MAIR_EL1_SET`): Attr0 = 0xff Normal
/// write-back (MT_NORMAL), Attr1 = 0xff (MT_NORMAL_TAGGED, 0xf0 once MTE is enabled),
/// Attr2 = 0x44 Normal non-cacheable (MT_NORMAL_NC), Attr3 = 0x00 Device-nGnRnE,
/// Attr4 = 0x04 Device-nGnRE; Attr5..7 = 0x00.
pub const LINUX_MAIR_EL1: u64 = 0x0000_0004_0044_ffff;

/// Where an operating system put each [`MemType`] among the eight memory-attribute
/// indices (MAIR on long descriptors; PRRR/NMRR under TEX remap on arm's short
/// descriptors), and what each of the eight indices means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrLayout {
    /// The index used for [`MemType::Normal`], [`MemType::WriteCombine`], [`MemType::Device`].
    pub index: [u8; 3],
    /// The memory type each index stands for.
    pub types: [MemType; 8],
}

impl AttrLayout {
    /// The index `m` is encoded as.
    pub const fn index_of(&self, m: MemType) -> u64 {
        self.index[match m {
            MemType::Normal => 0,
            MemType::WriteCombine => 1,
            MemType::Device => 2,
        }] as u64
    }
    /// The memory type of index `i` (0..8).
    pub const fn type_of(&self, i: u64) -> MemType {
        self.types[(i & 7) as usize]
    }
}

/// Linux's arm64 indices (arch/arm64/include/asm/memory.h): MT_NORMAL 0, MT_NORMAL_NC 2
/// (`pgprot_writecombine`), MT_DEVICE_nGnRE 4 (`ioremap`); see [`LINUX_MAIR_EL1`].
pub const LINUX_ARM64_ATTRS: AttrLayout = AttrLayout {
    index: [0, 2, 4],
    types: [
        MemType::Normal,
        MemType::Normal,
        MemType::WriteCombine,
        MemType::Device,
        MemType::Device,
        MemType::Device,
        MemType::Device,
        MemType::Device,
    ],
};

/// The VMSA long-descriptor format. AArch64 stage 1 (here) and AArch32 LPAE
/// ([`super::arm`]) lay their descriptors out identically and differ only in these
/// parameters, so both modes encode and decode through this one definition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LongFormat {
    /// log2 of the granule (12, 14 or 16).
    pub granule: u32,
    /// Output address bits. Above 48 (FEAT_LPA, 64K granule only) `OA[51:48]` live in
    /// descriptor bits 15:12.
    pub pa_bits: u32,
    /// Bit 54 is UXN and only EL0 obeys it (AArch64 EL1&0). Otherwise it is XN and binds
    /// every privilege level (AArch32 LPAE).
    pub uxn: bool,
    /// The OS's memory-attribute layout.
    pub attrs: AttrLayout,
}

impl LongFormat {
    /// The descriptor's output-address bits for `pa`, which is aligned to at least the
    /// granule.
    fn oa(&self, pa: u64) -> u64 {
        let low = pa & ((1u64 << self.pa_bits.min(48)) - 1);
        let high = if self.pa_bits > 48 { ((pa >> 48) & 0xf) << 12 } else { 0 };
        low | high
    }

    /// The output address of `raw`, whose address field starts at bit `align`.
    fn oa_of(&self, raw: u64, align: u32) -> u64 {
        let low = raw & ((1u64 << self.pa_bits.min(48)) - 1) & !((1u64 << align) - 1);
        let high = if self.pa_bits > 48 { ((raw >> 12) & 0xf) << 48 } else { 0 };
        low | high
    }

    /// A table descriptor: bits 1:0 = 0b11, the next-level table's address; the
    /// hierarchical attributes (APTable, UXNTable/XNTable, PXNTable, NSTable, bits 63:59)
    /// stay zero so that each leaf alone decides its permissions.
    pub(crate) fn table(&self, pa: u64) -> u64 {
        DESC_VALID | DESC_TABLE_OR_PAGE | self.oa(pa)
    }

    /// A block (`last == false`) or page descriptor mapping `pa` with `prot`.
    pub(crate) fn leaf(&self, pa: u64, prot: Prot, last: bool) -> u64 {
        let mut d =
            DESC_VALID | DESC_AF | DESC_SH_INNER | (self.attrs.index_of(prot.mem) << DESC_ATTRINDX_SHIFT) | self.oa(pa);
        if last {
            d |= DESC_TABLE_OR_PAGE;
        }
        if !prot.global {
            d |= DESC_NG;
        }
        if !prot.write {
            d |= DESC_AP_RO;
        }
        if prot.user && prot.read {
            d |= DESC_AP_EL0;
        }
        // Execute permission belongs to the privilege level the mapping is for; the other
        // level never executes it.
        let (xn_own, xn_other) = if prot.user {
            (DESC_UXN, DESC_PXN)
        } else if self.uxn {
            (DESC_PXN, DESC_UXN)
        } else {
            // AArch32 kernel mapping: XN alone (PL0 has no access to it anyway).
            (DESC_UXN, 0)
        };
        d |= xn_other;
        if !prot.exec {
            d |= xn_own;
        }
        d
    }

    /// What `raw` at `level` of `levels` means.
    pub(crate) fn decode(&self, raw: u64, levels: &[Level], level: usize) -> Entry {
        let last = level + 1 == levels.len();
        match raw & 3 {
            3 if !last => return Entry::Table(self.oa_of(raw, self.granule)),
            3 => {}
            1 if !last && levels[level].leaf => {}
            _ => return Entry::Invalid,
        }
        let el0 = raw & DESC_AP_EL0 != 0;
        let (pxn, b54) = (raw & DESC_PXN != 0, raw & DESC_UXN != 0);
        let (user, read, exec) = if self.uxn {
            // A mapping EL0 may execute is a user mapping even without data access
            // (execute-only, AP[2:1] = 0b10).
            let user = el0 || !b54;
            (user, !user || el0, if user { !b54 } else { !pxn })
        } else {
            (el0, true, !b54 && (el0 || !pxn))
        };
        Entry::Leaf {
            pa: self.oa_of(raw, levels[level].shift),
            prot: Prot {
                read,
                write: read && raw & DESC_AP_RO == 0,
                exec,
                user,
                global: raw & DESC_NG == 0,
                mem: self.attrs.type_of((raw >> DESC_ATTRINDX_SHIFT) & 7),
            },
        }
    }
}

/// log2 of a granule given in KiB.
const fn granule_shift(kb: u32) -> u32 {
    match kb {
        4 => 12,
        16 => 14,
        64 => 16,
        _ => panic!("arm64 granules are 4, 16 or 64 KiB"),
    }
}

/// Lookup levels needed to translate `va_bits` with a `2^g` granule: each level
/// resolves `g - 3` bits (D8.2.6).
const fn level_count(g: u32, va_bits: u32) -> usize {
    (va_bits - g).div_ceil(g - 3) as usize
}

/// The levels of a `2^g` granule, indexed by the architecture's level number 0..=3
/// (levels above the start level are unused). The start level resolves what is left of
/// `va_bits`: a concatenation-free table of `2^(va_bits - shift)` entries (2 entries at
/// level 0 for 16K/48, 64 or 1024 at level 1 for 64K/48 and 64K/52). Blocks sit at level 2
/// for every granule and at level 1 only for 4K (D8.3.1: 16K and 64K level-1 blocks need
/// FEAT_LPA2 / 52-bit output addresses and are not used here).
const fn arm64_levels(g: u32, va_bits: u32) -> [Level; 4] {
    let mut out = [Level { shift: 0, bits: 0, leaf: false }; 4];
    let start = 4 - level_count(g, va_bits);
    let mut l = start;
    while l < 4 {
        let shift = g + (3 - l as u32) * (g - 3);
        out[l] = Level {
            shift,
            bits: if l == start { va_bits - shift } else { g - 3 },
            leaf: l == 3 || l == 2 || (l == 1 && g == 12),
        };
        l += 1;
    }
    out
}

/// The mode's name: granule and VA size, `-ttbr0` for the user half.
const fn arm64_name(kb: u32, va_bits: u32, ttbr0: bool) -> &'static str {
    match (kb, va_bits, ttbr0) {
        (4, 39, false) => "arm64-4k-39",
        (4, 39, true) => "arm64-4k-39-ttbr0",
        (4, 48, false) => "arm64-4k-48",
        (4, 48, true) => "arm64-4k-48-ttbr0",
        (16, 36, false) => "arm64-16k-36",
        (16, 36, true) => "arm64-16k-36-ttbr0",
        (16, 47, false) => "arm64-16k-47",
        (16, 47, true) => "arm64-16k-47-ttbr0",
        (16, 48, false) => "arm64-16k-48",
        (16, 48, true) => "arm64-16k-48-ttbr0",
        (64, 42, false) => "arm64-64k-42",
        (64, 42, true) => "arm64-64k-42-ttbr0",
        (64, 48, false) => "arm64-64k-48",
        (64, 48, true) => "arm64-64k-48-ttbr0",
        (64, 52, false) => "arm64-64k-52",
        (64, 52, true) => "arm64-64k-52-ttbr0",
        _ => panic!("arm64: not a granule/VA size combination Linux configures"),
    }
}

/// AArch64 stage-1 translation for the EL1&0 regime (Arm ARM DDI 0487 D8): a granule of
/// `GRANULE_KB` (4, 16, 64) KiB, `VA` bits of virtual address, and the half of the address
/// space it translates: TTBR1_EL1 (the kernel's, `[2^64 - 2^VA, 2^64)`) or, with `TTBR0`,
/// TTBR0_EL1 (user space, `[0, 2^VA)`).
///
/// # Geometry (D8.2 "Translation table walk")
/// Every level resolves `granule - 3` bits (512, 2048 or 8192 entries of 8 bytes, one
/// granule per table); the start level resolves the rest, so its table may be smaller
/// (16K/48: 2 entries; 64K/48: 64; 64K/52: 1024, FEAT_LVA). Tables are naturally aligned;
/// with 52-bit output addresses the start table must also be 64-byte aligned (TTBR BADDR
/// bits 5:2 hold address bits 51:48), which every 64K/52 start table (8 KiB) is.
///
/// | mode        | levels | start | blocks      | VA | PA |
/// |-------------|--------|-------|-------------|----|----|
/// | 4k-39       | 3      | L1    | 1G, 2M      | 39 | 48 |
/// | 4k-48       | 4      | L0    | 1G, 2M      | 48 | 48 |
/// | 16k-36      | 2      | L2    | 32M         | 36 | 48 |
/// | 16k-47      | 3      | L1    | 32M         | 47 | 48 |
/// | 16k-48      | 4      | L0    | 32M         | 48 | 48 |
/// | 64k-42      | 2      | L2    | 512M        | 42 | 48 |
/// | 64k-48      | 3      | L1    | 512M        | 48 | 48 |
/// | 64k-52      | 3      | L1    | 512M        | 52 | 52 |
///
/// 52-bit output addresses (FEAT_LPA) exist only with the 64K granule and are used with
/// the 52-bit VA mode, as in Linux's `ARM64_VA_BITS_52` + `ARM64_PA_BITS_52`
/// configuration; the 42/48-bit 64K modes describe an ARMv8.0 48-bit PA system.
/// FEAT_LPA2 (52 bits with 4K/16K, level -1, 64G/512G blocks) is not modelled.
///
/// # Descriptors (D8.3 "Translation table descriptor formats")
/// - bits 1:0: 0b11 table (above the last level) or page (last level); 0b01 block (levels
///   that allow one); anything else faults.
/// - bits 47:granule (and 51:48 in bits 15:12 with LPA): the next table or output
///   address; a block's address starts at its own alignment.
/// - Lower attributes (D8.4 "Memory attributes", D8.4.1 "Access permissions"): AttrIndx
///   4:2 into MAIR_EL1, NS 5 (ignored for Non-secure EL1&0), `AP[2:1]` 7:6, SH 9:8, AF 10,
///   nG 11. Upper attributes: GP 50 (BTI, unused), DBM 51 (unused), Contiguous 52 (unused:
///   the hint needs 16 aligned identical entries, which the engine's one-entry-per-leaf
///   model does not express), PXN 53, UXN 54, software bits 58:55 (unused).
///
/// # Encoding of [`Prot`]
/// - valid leaves always have AF = 1, SH = Inner Shareable (Linux's `PTE_SHARED`) and
///   AttrIndx from Linux's MAIR ([`LINUX_ARM64_ATTRS`]: Normal 0, write-combine 2,
///   Device-nGnRE 4).
/// - `AP[2:1]` (D8.4.1.2, two privilege levels): 0b00 EL1 RW; 0b01 EL1 and EL0 RW; 0b10
///   EL1 RO; 0b11 EL1 and EL0 RO. So EL1 reads every valid mapping, and EL0 data access
///   is `user && read`, writable with `write`.
/// - Execute: a user mapping has PXN = 1 and UXN = !exec; a kernel mapping has UXN = 1 and
///   PXN = !exec (Linux's PAGE_KERNEL_EXEC and PAGE_READONLY_EXEC do the same). A user
///   execute-only mapping (Linux's PAGE_EXECONLY: `AP[2:1]` = 0b10, UXN = 0) is
///   `Prot { read: false, write: false, exec: true, user: true }`.
/// - `global` is nG = 0. DBM and the software dirty bit are not set: a writable entry is
///   created writable (`AP[2]` = 0), the state hardware dirty-bit management would reach.
///
/// [`PagingMode::check_prot`] refuses what `AP[2:1]` cannot say: every protection without
/// `read` except user execute-only, because EL1 reads every valid mapping and EL0 write
/// permission implies EL0 read permission.
#[derive(Debug)]
pub struct Arm64Paging<const GRANULE_KB: u32, const VA: u32, const TTBR0: bool>;

/// 4K granule, 39-bit VA (3 levels), TTBR1.
pub type Arm64Paging4K39 = Arm64Paging<4, 39, false>;
/// 4K granule, 48-bit VA (4 levels), TTBR1: the distribution kernel's configuration.
pub type Arm64Paging4K48 = Arm64Paging<4, 48, false>;
/// 4K granule, 48-bit VA, TTBR0 (user space).
pub type Arm64Paging4K48Ttbr0 = Arm64Paging<4, 48, true>;
/// 16K granule, 36-bit VA (2 levels), TTBR1.
pub type Arm64Paging16K36 = Arm64Paging<16, 36, false>;
/// 16K granule, 47-bit VA (3 levels), TTBR1.
pub type Arm64Paging16K47 = Arm64Paging<16, 47, false>;
/// 16K granule, 48-bit VA (4 levels, a 2-entry level-0 table), TTBR1.
pub type Arm64Paging16K48 = Arm64Paging<16, 48, false>;
/// 64K granule, 42-bit VA (2 levels), TTBR1.
pub type Arm64Paging64K42 = Arm64Paging<64, 42, false>;
/// 64K granule, 48-bit VA (3 levels, a 64-entry level-1 table), TTBR1.
pub type Arm64Paging64K48 = Arm64Paging<64, 48, false>;
/// 64K granule, 52-bit VA and PA (FEAT_LVA + FEAT_LPA; a 1024-entry level-1 table), TTBR1.
pub type Arm64Paging64K52 = Arm64Paging<64, 52, false>;

impl<const GRANULE_KB: u32, const VA: u32, const TTBR0: bool> Arm64Paging<GRANULE_KB, VA, TTBR0> {
    const ALL_LEVELS: [Level; 4] = arm64_levels(granule_shift(GRANULE_KB), VA);
    const START: usize = 4 - level_count(granule_shift(GRANULE_KB), VA);
    const FORMAT: LongFormat = LongFormat {
        granule: granule_shift(GRANULE_KB),
        pa_bits: if GRANULE_KB == 64 && VA == 52 { 52 } else { 48 },
        uxn: true,
        attrs: LINUX_ARM64_ATTRS,
    };
}

impl<const GRANULE_KB: u32, const VA: u32, const TTBR0: bool> PagingMode for Arm64Paging<GRANULE_KB, VA, TTBR0> {
    const NAME: &'static str = arm64_name(GRANULE_KB, VA, TTBR0);
    const LEVELS: &'static [Level] = Self::ALL_LEVELS.split_at(Self::START).1;
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = VA;
    const VA_RANGE: VaRange = if TTBR0 { VaRange::Low } else { VaRange::High };
    const PA_BITS: u32 = Self::FORMAT.pa_bits;
    fn table_entry(pa: u64, _level: usize) -> u64 {
        Self::FORMAT.table(pa)
    }
    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        Self::FORMAT.leaf(pa, prot, level + 1 == Self::LEVELS.len())
    }
    fn decode(raw: u64, level: usize) -> Entry {
        Self::FORMAT.decode(raw, Self::LEVELS, level)
    }
    fn check_prot(prot: Prot) -> Result<(), PgError> {
        // EL1 reads every valid mapping and EL0 write permission implies EL0 read (AP[2:1]),
        // so only a user execute-only mapping leaves read out.
        let user_execute_only = prot.user && prot.exec && !prot.write;
        if !prot.read && !user_execute_only {
            return Err(PgError::UnsupportedProt(
                "arm64 can leave out read access only for user execute-only mappings",
            ));
        }
        Ok(())
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

    fn geometry<Mo: PagingMode>() -> Vec<(u32, u32, bool)> {
        Mo::LEVELS.iter().map(|l| (l.shift, l.bits, l.leaf)).collect()
    }

    #[test]
    fn geometry_follows_granule_and_va_size() {
        assert_eq!(geometry::<Arm64Paging4K48>(), [(39, 9, false), (30, 9, true), (21, 9, true), (12, 9, true)]);
        assert_eq!(geometry::<Arm64Paging4K39>(), [(30, 9, true), (21, 9, true), (12, 9, true)]);
        assert_eq!(geometry::<Arm64Paging16K36>(), [(25, 11, true), (14, 11, true)]);
        assert_eq!(geometry::<Arm64Paging16K47>(), [(36, 11, false), (25, 11, true), (14, 11, true)]);
        assert_eq!(geometry::<Arm64Paging16K48>(), [(47, 1, false), (36, 11, false), (25, 11, true), (14, 11, true)]);
        assert_eq!(geometry::<Arm64Paging64K42>(), [(29, 13, true), (16, 13, true)]);
        assert_eq!(geometry::<Arm64Paging64K48>(), [(42, 6, false), (29, 13, true), (16, 13, true)]);
        assert_eq!(geometry::<Arm64Paging64K52>(), [(42, 10, false), (29, 13, true), (16, 13, true)]);
        // Start tables: 2, 64 and 1024 entries; every other table is one granule.
        assert_eq!(Arm64Paging16K48::table_bytes(0), 16);
        assert_eq!(Arm64Paging64K48::table_bytes(0), 512);
        assert_eq!(Arm64Paging64K52::table_bytes(0), 8192);
        assert_eq!(Arm64Paging64K52::table_bytes(1), 65536);
        assert_eq!((Arm64Paging64K52::PAGE_SIZE, Arm64Paging16K36::PAGE_SIZE), (65536, 16384));
        assert_eq!(
            (Arm64Paging4K48::NAME, Arm64Paging4K48Ttbr0::NAME, Arm64Paging64K52::NAME),
            ("arm64-4k-48", "arm64-4k-48-ttbr0", "arm64-64k-52")
        );
        assert_eq!((Arm64Paging64K52::PA_BITS, Arm64Paging64K48::PA_BITS), (52, 48));
    }

    #[test]
    fn attribute_indices_follow_linux_mair() {
        for i in 0..8u64 {
            let attr = (LINUX_MAIR_EL1 >> (8 * i)) & 0xff;
            // MAIR attribute: high nibble 0 is Device, 0x44 Normal non-cacheable.
            let want = match attr {
                0x00..=0x0f => MemType::Device,
                0x44 => MemType::WriteCombine,
                _ => MemType::Normal,
            };
            assert_eq!(LINUX_ARM64_ATTRS.type_of(i), want, "AttrIndx {i}");
        }
    }

    /// Linux's PTE_WRITE (= DBM, bit 51) and PTE_DIRTY (bit 55) are its software state of a
    /// writable/dirty page, not part of what the entry means to the MMU here.
    const LINUX_SOFTWARE: u64 = (1 << 51) | (1 << 55);
    const PTE_TYPE_PAGE: u64 = 3;
    const PROT_DEFAULT: u64 = PTE_TYPE_PAGE | DESC_AF | DESC_SH_INNER;
    const PTE_WRITE: u64 = 1 << 51;
    const PTE_DIRTY: u64 = 1 << 55;
    const PROT_NORMAL: u64 = PROT_DEFAULT | DESC_PXN | DESC_UXN | PTE_WRITE;

    #[test]
    fn leaves_match_linux_pgprots() {
        let pa = 0x0000_8765_4321_0000;
        let linux = |v: u64| (v & !LINUX_SOFTWARE) | pa;
        let enc = |p: Prot| Arm64Paging4K48::leaf_entry(pa, p, 3);
        // PAGE_KERNEL = PROT_NORMAL | PTE_DIRTY = 0x00e8000000000703 (0x...f03 with nG
        // under KPTI): PXN | UXN | AF | SH inner | AttrIndx 0 | page.
        assert_eq!(PROT_NORMAL | PTE_DIRTY, 0x00e8_0000_0000_0703);
        assert_eq!(enc(Prot::KERNEL_RW), linux(0x00e8_0000_0000_0703));
        assert_eq!(enc(Prot { global: false, ..Prot::KERNEL_RW }), linux(0x00e8_0000_0000_0f03));
        // PAGE_KERNEL_RO, PAGE_KERNEL_ROX (PXN clear), PAGE_KERNEL_EXEC.
        assert_eq!(enc(Prot::KERNEL_RO), linux((PROT_NORMAL & !PTE_WRITE) | DESC_AP_RO | PTE_DIRTY));
        assert_eq!(enc(Prot::KERNEL_RX), linux((PROT_NORMAL & !(PTE_WRITE | DESC_PXN)) | DESC_AP_RO | PTE_DIRTY));
        assert_eq!(enc(Prot { exec: true, ..Prot::KERNEL_RW }), linux((PROT_NORMAL & !DESC_PXN) | PTE_DIRTY));
        // PROT_DEVICE_nGnRE (AttrIndx 4) and PROT_NORMAL_NC (AttrIndx 2).
        assert_eq!(enc(Prot::KERNEL_DEVICE), linux(PROT_NORMAL | (4 << 2)));
        assert_eq!(enc(Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW }), linux(PROT_NORMAL | (2 << 2)));
        // PAGE_SHARED after pte_mkdirty (AP[2] cleared): USER | nG | PXN | UXN.
        assert_eq!(enc(Prot::USER_RW), linux(PROT_DEFAULT | DESC_AP_EL0 | DESC_NG | DESC_PXN | DESC_UXN));
        // PAGE_READONLY_EXEC and PAGE_EXECONLY: PXN only, UXN clear.
        let user_rx = Prot { read: true, write: false, exec: true, user: true, global: false, mem: MemType::Normal };
        assert_eq!(enc(user_rx), linux(PROT_DEFAULT | DESC_AP_EL0 | DESC_AP_RO | DESC_NG | DESC_PXN));
        let user_x = Prot { read: false, ..user_rx };
        assert_eq!(enc(user_x), linux(PROT_DEFAULT | DESC_AP_RO | DESC_NG | DESC_PXN));
        assert_eq!(Arm64Paging4K48::decode(enc(user_x), 3), Entry::Leaf { pa, prot: user_x });
        // PROT_SECT_NORMAL: a level-2 block, bits 1:0 = 0b01.
        assert_eq!(Arm64Paging4K48::leaf_entry(0x4020_0000, Prot::KERNEL_RW, 2), 0x0060_0000_4020_0701);
        // Tables: 0b11 | address, no hierarchical attributes.
        assert_eq!(Arm64Paging4K48::table_entry(0x0000_ffff_ffff_f000, 0), 0x0000_ffff_ffff_f003);
    }

    #[test]
    fn lpa_puts_pa_51_48_in_bits_15_12() {
        let pa = 0x000f_1234_5678_0000;
        let d = Arm64Paging64K52::leaf_entry(pa, Prot::KERNEL_RW, 2);
        assert_eq!(d, 0x0060_1234_5678_f703);
        assert_eq!(Arm64Paging64K52::decode(d, 2), Entry::Leaf { pa, prot: Prot::KERNEL_RW });
        assert_eq!(Arm64Paging64K52::table_entry(0x000a_0000_0001_0000, 0), 0x0000_0000_0001_a003);
        assert_eq!(Arm64Paging64K52::decode(0x0000_0000_0001_a003, 0), Entry::Table(0x000a_0000_0001_0000));
        // A 512M block keeps bits 47:29 and the high nibble.
        assert_eq!(
            Arm64Paging64K52::decode(0x0060_0000_2000_3701, 1),
            Entry::Leaf { pa: 0x0003_0000_2000_0000, prot: Prot::KERNEL_RW }
        );
        // Without LPA bits 15:12 are not address bits.
        assert_eq!(
            Arm64Paging64K48::decode(0x0060_0000_2000_3701, 1),
            Entry::Leaf { pa: 0x2000_0000, prot: Prot::KERNEL_RW }
        );
    }

    #[test]
    fn blocks_only_where_the_granule_allows() {
        let block = 0x0060_0000_0000_0701;
        // 4K: no block at level 0; 16K and 64K: none at level 1.
        assert_eq!(Arm64Paging4K48::decode(block, 0), Entry::Invalid);
        assert!(matches!(Arm64Paging4K48::decode(block, 1), Entry::Leaf { .. }));
        assert_eq!(Arm64Paging16K47::decode(block, 0), Entry::Invalid);
        assert_eq!(Arm64Paging64K48::decode(block, 0), Entry::Invalid);
        // 0b01 at the last level is reserved.
        assert_eq!(Arm64Paging4K48::decode(block, 3), Entry::Invalid);
        assert_eq!(Arm64Paging4K48::decode(block & !1, 1), Entry::Invalid);
    }

    #[test]
    fn unexpressible_protections_are_refused() {
        let none = Prot { read: false, write: false, exec: false, ..Prot::USER_RW };
        assert!(Arm64Paging4K48::check_prot(none).is_err());
        assert!(Arm64Paging4K48::check_prot(Prot { read: false, ..Prot::USER_RW }).is_err());
        assert!(Arm64Paging4K48::check_prot(Prot { read: false, exec: true, ..Prot::KERNEL_RO }).is_err());
        assert!(Arm64Paging4K48::check_prot(Prot { read: false, write: false, exec: true, ..Prot::USER_RW }).is_ok());
    }
}
