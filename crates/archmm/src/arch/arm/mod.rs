//! arm (AArch32, ARMv7-A): a page of the architecture manual and of Linux's arch/arm/mm.
//!
//! - Physical addresses: 32 bits with the short-descriptor format (40 through
//!   supersections, not modelled here), 40 with LPAE (`PHYS_MASK_SHIFT`).
//! - Firmware: a flattened device tree (legacy boards: ATAGs).
//! - Zones: DMA only on platforms with a DMA limit, Normal for lowmem (directly mapped
//!   below `VMALLOC_START`), HighMem above it.
//! - Paging: two formats of the Virtual Memory System Architecture (ARM DDI 0406C B3),
//!   [`ArmPaging`]: the short-descriptor format (`arm-short`, 2 levels of 4-byte entries)
//!   and the Large Physical Address Extension's long-descriptor format (`arm-lpae`, 3
//!   levels of 8-byte entries, the format AArch64 grew from; it shares its encoder with
//!   [`super::arm64`]).
//!
//! # Short-descriptor format (B3.5)
//! TTBCR.N = 0: one first-level table of 4096 4-byte entries (16 KiB), each covering 1 MiB;
//! second-level tables of 256 entries (1 KiB, carved from pages by
//! [`crate::pgtable::FragmentAlloc`]), each entry 4 KiB.
//!
//! First-level descriptors (B3.5.1), by bits 1:0:
//! - 0b00 fault.
//! - 0b01 page table: bits 31:10 the second-level table, bits 8:5 the domain (0 here,
//!   Linux's DOMAIN_KERNEL, a client domain: permissions are checked), bit 3 NS, bit 2
//!   PXNTable (left 0).
//! - 0b1x section (bit 18 = 0): bits 31:20 the 1 MiB frame; nG 17, S 16, `AP[2]` 15,
//!   `TEX[2:0]` 14:12, `AP[1:0]` 11:10, domain 8:5, XN 4, C 3, B 2, PXN 0 (only on
//!   implementations with LPAE; left 0).
//! - 0b1x with bit 18 = 1: a supersection, 16 MiB with PA bits 39:32 in 23:20 and 8:5.
//!   It must be repeated in 16 consecutive aligned entries, which the engine's
//!   one-entry-per-leaf model cannot express: never written, and read as invalid.
//!
//! Second-level descriptors (B3.5.1), by bits 1:0:
//! - 0b00 fault.
//! - 0b01 large page (64 KiB, repeated in 16 entries): not modelled, read as invalid.
//! - 0b1x small page: bits 31:12 the frame; nG 11, S 10, `AP[2]` 9, `TEX[2:0]` 8:6, `AP[1:0]`
//!   5:4, C 3, B 2, XN 0.
//!
//! Access permissions (B3.7.1, SCTLR.AFE = 0 as Linux runs): `AP[2:0]` = 0b001 PL1 RW;
//! 0b011 PL1 and PL0 RW; 0b101 PL1 RO; 0b111 PL1 and PL0 RO (0b000 no access, 0b010 PL0
//! RO/PL1 RW and 0b110 are not produced). `AP[0]` is therefore always 1, as Linux's
//! `cpu_v7_set_pte_ext` makes it. XN forbids execution at every privilege level.
//!
//! Memory types (B3.8.3, TEX remap, SCTLR.TRE = 1 as Linux's proc-v7 sets it): `TEX[0]:C:B`
//! is an index n into PRRR/NMRR, which Linux programs ([`LINUX_ARM_PRRR`],
//! [`LINUX_ARM_NMRR`]) so that 7 is Normal write-back write-allocate, 1 Normal
//! non-cacheable, 4 Device, 0 Strongly-ordered. S = 1 makes Normal memory Inner Shareable
//! (PRRR.NS1) and Device memory shareable (PRRR.DS1); Linux sets it on SMP, and so does
//! this mode. `TEX[2:1]` are free for the OS under remap and stay 0.
//!
//! # LPAE long-descriptor format (B3.6)
//! TTBCR.T0SZ = 0: a first-level table of 4 entries (32 bytes, 1 GiB each), second- and
//! third-level tables of 512 entries (2 MiB and 4 KiB each); blocks at levels 1 and 2.
//! The layout is AArch64's with a 4K granule and 40-bit output addresses (bits 39:12):
//! bits 1:0 0b11 table/page, 0b01 block; AttrIndx 4:2, NS 5, `AP[2:1]` 7:6, SH 9:8, AF 10,
//! nG 11, Contiguous 52, PXN 53, XN 54. `AP[2:1]` (B3.7.1): 0b00 PL1 RW, 0b01 PL1/PL0 RW,
//! 0b10 PL1 RO, 0b11 PL1/PL0 RO. AttrIndx selects a byte of MAIR0/MAIR1, which Linux
//! programs ([`LINUX_ARM_LPAE_MAIR0`], [`LINUX_ARM_LPAE_MAIR1`]) to the same indices as
//! the short format's remap. Leaves get AF = 1 and SH = Inner Shareable (Linux's
//! `L_PTE_SHARED`); a user mapping gets PXN = 1 (the kernel never executes user memory:
//! Linux sets PXNTable on user tables for the same reason).
//!
//! # What [`Prot`] cannot say here
//! PL1 reads every valid mapping, and an instruction fetch needs read permission at the
//! fetching privilege level, so every protection must include `read`; `check_prot`
//! refuses the others. Execute permission of a user mapping is also kernel execute
//! permission in the short format (XN binds both levels, and PXN exists only on some
//! implementations); with LPAE a user mapping is never kernel-executable.

pub mod qemu;
pub mod refwalk;

use super::arm64::{AttrLayout, LongFormat};
use super::{Arch, FirmwareKind, MemoryModel};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::memblock::RegionType;
use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

// ----- the bring-up (arch/arm/kernel/setup.c, arch/arm/mm/mmu.c and init.c) ----------------

/// ARMv7-A as Debian 12's multiplatform kernels run it: `armmp-lpae` (`LPAE`, 36-bit
/// physical addresses) or `armmp` (short descriptors). The 3G/1G split, FLATMEM, HIGHMEM,
/// ZONE_DMA (sized by the machine's DMA limit; QEMU `virt` has none, so it covers lowmem),
/// MAX_ORDER 12 (CONFIG_ARCH_FORCE_MAX_ORDER, for the AM33xx), 16 MiB of CMA.
#[derive(Debug)]
pub struct Arm32<const LPAE: bool>;

/// arm as Debian's `armmp-lpae` kernel runs it.
pub type Arm32Lpae = Arm32<true>;
/// arm as Debian's `armmp` kernel runs it (short descriptors).
pub type Arm32Short = Arm32<false>;

/// PAGE_OFFSET with CONFIG_VMSPLIT_3G.
pub const PAGE_OFFSET: u64 = 0xc000_0000;
/// VMALLOC_END (asm/pgtable.h).
pub const VMALLOC_END: u64 = 0xff80_0000;
/// VMALLOC_OFFSET: the gap between lowmem and vmalloc.
pub const VMALLOC_OFFSET: u64 = 8 << 20;
/// vmalloc_size: 240 MiB unless `vmalloc=` says otherwise (mmu.c).
pub const VMALLOC_SIZE: u64 = 240 << 20;
/// PMD_SIZE: 2 MiB in both formats (the short format's Linux PMD is a pair of sections).
pub const PMD_SIZE: u64 = 2 << 20;
/// TEXT_OFFSET of Debian's multiplatform kernels (arch/arm/Makefile: 0x208000 once
/// ARCH_MESON is in): the kernel's RAM image starts this far into RAM.
pub const TEXT_OFFSET: u64 = 0x20_8000;

impl<const LPAE: bool> Arm32<LPAE> {
    /// PG_DIR_SIZE: the initial page table below the kernel's RAM image (16 KiB of
    /// first-level table; with LPAE 4 KiB of PGD and three PMD pages, 20 KiB).
    pub const PG_DIR_SIZE: u64 = if LPAE { 0x5000 } else { 0x4000 };
}

/// adjust_lowmem_bounds()'s vmalloc_limit: the physical address where lowmem must end so
/// that 240 MiB of vmalloc and its 8 MiB guard fit below VMALLOC_END, i.e. for RAM at
/// PHYS_OFFSET = 0x4000_0000 (QEMU virt): 0xff80_0000 - 240M - 8M - 0xc000_0000 +
/// 0x4000_0000 = 0x7000_0000 (768 MiB of lowmem).
pub const fn vmalloc_limit(phys_offset: u64) -> u64 {
    VMALLOC_END - VMALLOC_SIZE - VMALLOC_OFFSET - PAGE_OFFSET + phys_offset
}

impl<const LPAE: bool> Arch for Arm32<LPAE> {
    const NAME: &'static str = "arm";
    /// Debian's port name.
    const ALIASES: &'static [&'static str] = &["armhf", "armv7"];
    /// asm/sparsemem.h says 36; without LPAE phys_addr_t is 32 bits and the device tree
    /// scan ignores RAM above 4 GiB.
    const MAX_PHYSMEM_BITS: u32 = if LPAE { 36 } else { 32 };
    const SECTION_SIZE_BITS: u32 = 28;
    /// CONFIG_ARCH_FORCE_MAX_ORDER=12 in both Debian configurations.
    const MAX_ORDER: u32 = 12;
    /// HUGETLB_PAGE_ORDER (2 MiB) with LPAE; without hugetlb, MAX_ORDER - 1.
    const PAGEBLOCK_ORDER: u32 = if LPAE { 9 } else { 11 };
    const DEFAULT_MODEL: MemoryModel = MemoryModel::Flat;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Normal, ZoneType::HighMem, ZoneType::Movable];
    /// The reference kernel's sections: Debian's 6.1.0-50-armmp-lpae under QEMU virt (the short-descriptor modes use it too: Debian's armmp kernel was not captured).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(12288, 1716, 3752, 2048, 384, 45_204);
    const DEFAULT_CMA_BYTES: u64 = 16 << 20;
    type State = ();
    type Paging = ArmPaging<LPAE>;
    type UserPaging = ArmPaging<LPAE>;
    /// TASK_SIZE = PAGE_OFFSET - 16 MiB (the modules area sits between).
    const TASK_SIZE: u64 = 0xbf00_0000;
    const PAGE_OFFSET: u64 = PAGE_OFFSET;

    crate::overrides! {
        /// arch/arm/Kconfig does not select ARCH_ENABLE_MEMORY_HOTPLUG: 32-bit arm kernels cannot hot-add
        /// memory
        const MEMORY_HOTPLUG: bool = false;

        /// arm's vDSO has a single data page (no time-namespace page)
        const VDSO: crate::uspace::VdsoRule = crate::uspace::VdsoRule { vvar_pages: 1, at_task_top: false };

        /// the initial page table (swapper_pg_dir, 16 KiB; 20 KiB with LPAE) lies just below the kernel's RAM
        /// image and is not part of it (arm_mm_memblock_reserve)
        fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            crate::arch::generic::early_reserve_memory(ctx)?;
            // arm_mm_memblock_reserve(): swapper_pg_dir at KERNEL_RAM_VADDR - PG_DIR_SIZE, the
            // kernel's RAM image starting TEXT_OFFSET into RAM (PHYS_OFFSET).
            if let Some(phys_offset) = ctx.banks().map(|b| b.base & !(PMD_SIZE - 1)).min() {
                let pgd = phys_offset.saturating_add(TEXT_OFFSET - Self::PG_DIR_SIZE);
                ctx.memblock.reserve(pgd, Self::PG_DIR_SIZE)?;
            }
            Ok(())
        }

        /// the kernel half is 1 GiB: lowmem ends where 240 MiB of vmalloc still fit below VMALLOC_END
        /// (adjust_lowmem_bounds); an unaligned first bank start is NOMAP; early allocations stay in lowmem,
        /// the rest is highmem
        fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            if Self::MAX_PHYSMEM_BITS < 64 {
                ctx.memblock.remove(1u64 << Self::MAX_PHYSMEM_BITS, u64::MAX)?;
            }
            let phys_offset = adjust_lowmem_bounds(ctx)?;
            // paging_init(): map_lowmem() with sections/blocks; __va(pa) = pa - PHYS_OFFSET +
            // PAGE_OFFSET.
            crate::arch::generic::map_linear::<Self::Paging, Self, M>(ctx, PAGE_OFFSET.wrapping_sub(phys_offset), None, true)?;
            Ok(())
        }

        /// Debian's arm kernels are built without CONFIG_NUMA: all memory is node 0, no fallback order or
        /// policy zone lines
        const NUMA: bool = false;

        /// a 32-bit kernel's struct page is 36 bytes here (measured from armmp-lpae's Total pages), not 64
        // armmp-lpae's `Total pages: 522560` on a 2 GiB virt: 524288 pages less a 1728-page
        // memmap for the 196608 lowmem pages, 36 bytes each (highmem's memmap is not counted).
        const LINUX_STRUCT_PAGE: u64 = 36;

        /// ZONE_DMA ends at the machine's DMA limit (arm_dma_pfn_limit, all of 32-bit space when the machine
        /// gives none) or lowmem, Normal at lowmem, HighMem at the end of RAM
        fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
            let mut z = [0u64; MAX_NR_ZONES];
            z[ZoneType::Dma as usize] = (ARM_DMA_LIMIT >> 12).min(ctx.max_low_pfn);
            z[ZoneType::Normal as usize] = ctx.max_low_pfn;
            z[ZoneType::HighMem as usize] = ctx.max_pfn;
            z
        }

        /// the boot CMA area must be reachable by the DMA zone's devices (arm_dma_limit: 4 GiB on machines
        /// without a DMA limit)
        fn cma_limit<M: PhysMem + Copy>(_ctx: &BootCtx<'_, Self, M>) -> u64 {
            ARM_DMA_LIMIT + 1
        }
    }
}

/// arm_dma_limit of a machine without a dma_zone_size (setup_dma_zone(): 0xffffffff).
pub const ARM_DMA_LIMIT: u64 = 0xffff_ffff;

/// adjust_lowmem_bounds(): where lowmem ends (arm_lowmem_limit), the memblock allocation
/// limit (rounded down to a PMD), and from them max_low_pfn and max_pfn (find_limits()).
/// Returns PHYS_OFFSET.
fn adjust_lowmem_bounds<const LPAE: bool, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, Arm32<LPAE>, M>,
) -> Result<u64, BootError> {
    // PHYS_OFFSET: the start of RAM the kernel runs from (patched at boot, 2 MiB granular).
    let phys_offset = ctx.memblock.start_of_dram() & !(PMD_SIZE - 1);
    let vmalloc_limit = vmalloc_limit(phys_offset);
    // The first usable region must be PMD aligned; mark its unaligned start NOMAP.
    let first = ctx.memblock.real_regions(RegionType::Memory).next().map(|r| (r.base, r.size));
    if let Some((base, size)) = first {
        if base & (PMD_SIZE - 1) != 0 {
            let len = crate::addr::align_up_saturating(base, PMD_SIZE) - base;
            ctx.memblock.mark_nomap(base, len.min(size))?;
        }
    }
    let mut lowmem_limit = 0u64;
    let mut memblock_limit = 0u64;
    for r in ctx.memblock.real_regions(RegionType::Memory) {
        let (start, end) = (r.base, r.end());
        if start >= vmalloc_limit {
            continue;
        }
        if end > lowmem_limit {
            lowmem_limit = vmalloc_limit.min(end);
        }
        if memblock_limit == 0 {
            if start & (PMD_SIZE - 1) != 0 {
                memblock_limit = start;
            } else if end & (PMD_SIZE - 1) != 0 {
                memblock_limit = lowmem_limit;
            }
        }
    }
    if memblock_limit == 0 {
        memblock_limit = lowmem_limit;
    }
    memblock_limit &= !(PMD_SIZE - 1);
    ctx.memblock.set_current_limit(memblock_limit);
    // find_limits(): max_low from the memblock limit, max_high from the end of RAM.
    ctx.max_low_pfn = memblock_limit >> 12;
    ctx.max_pfn = ctx.memblock.end_of_dram() >> 12;
    Ok(phys_offset)
}

/// Linux's PRRR under TEX remap (arch/arm/mm/proc-v7-2level.S): TR0 = Strongly-ordered,
/// TR1..3 = Normal, TR4 = Device, TR5..6 = Strongly-ordered, TR7 = Normal; DS1 = NS1 = 1.
pub const LINUX_ARM_PRRR: u32 = 0xff0a_81a8;
/// Linux's NMRR: inner/outer attributes IR/OR of index 1 non-cacheable, 2 write-through,
/// 3 write-back, 7 write-back write-allocate.
pub const LINUX_ARM_NMRR: u32 = 0x40e0_40e0;
/// Linux's LPAE MAIR0 (proc-v7-3level.S): Attr0 = 0x00 Strongly-ordered, Attr1 = 0x44
/// Normal non-cacheable, Attr2 = 0xaa write-through, Attr3 = 0xee write-back.
pub const LINUX_ARM_LPAE_MAIR0: u32 = 0xeeaa_4400;
/// Linux's LPAE MAIR1: Attr4 = 0x04 Device, Attr5..6 = 0x00, Attr7 = 0xff write-back
/// write-allocate.
pub const LINUX_ARM_LPAE_MAIR1: u32 = 0xff00_0004;

/// Linux's arm memory-type indices, the same for `TEX[0]:C:B` under remap and for LPAE's
/// AttrIndx: `L_PTE_MT_WRITEALLOC` 7, `L_PTE_MT_BUFFERABLE` / `L_PTE_MT_DEV_WC` 1
/// (write-combine), `L_PTE_MT_DEV_SHARED` 4.
pub const LINUX_ARM_ATTRS: AttrLayout = AttrLayout {
    index: [7, 1, 4],
    types: [
        MemType::Device,
        MemType::WriteCombine,
        MemType::Normal,
        MemType::Normal,
        MemType::Device,
        MemType::Device,
        MemType::Device,
        MemType::Normal,
    ],
};

/// Short descriptor bits 1:0 of a first-level page-table pointer.
pub const SHORT_L1_TABLE: u64 = 0b01;
/// Short descriptor bit 1: a section (first level) or small page (second level).
pub const SHORT_LEAF: u64 = 0b10;
/// Short descriptor B (bufferable), bit 2: TEX remap index bit 0.
pub const SHORT_B: u64 = 1 << 2;
/// Short descriptor C (cacheable), bit 3: TEX remap index bit 1.
pub const SHORT_C: u64 = 1 << 3;
/// First-level bit 18: a supersection rather than a section.
pub const SHORT_SUPERSECTION: u64 = 1 << 18;
/// Second-level table address, bits 31:10.
pub const SHORT_L2_TABLE_ADDR: u64 = 0xffff_fc00;

/// Where a short leaf keeps each field: sections and small pages hold the same fields
/// at different bits.
#[derive(Clone, Copy)]
struct ShortLeaf {
    /// Frame address bits.
    addr: u64,
    /// XN.
    xn: u32,
    /// `AP[1:0]` (two bits).
    ap: u32,
    /// `TEX[2:0]` (`TEX[0]` is the remap index's bit 2).
    tex: u32,
    /// `AP[2]` (APX).
    apx: u32,
    /// S.
    s: u32,
    /// nG.
    ng: u32,
}

/// A section (first-level leaf, 1 MiB).
const SECTION: ShortLeaf = ShortLeaf { addr: 0xfff0_0000, xn: 4, ap: 10, tex: 12, apx: 15, s: 16, ng: 17 };
/// A small page (second-level leaf, 4 KiB).
const SMALL_PAGE: ShortLeaf = ShortLeaf { addr: 0xffff_f000, xn: 0, ap: 4, tex: 6, apx: 9, s: 10, ng: 11 };

impl ShortLeaf {
    fn encode(&self, pa: u64, prot: Prot) -> u64 {
        let n = LINUX_ARM_ATTRS.index_of(prot.mem);
        let mut d =
            SHORT_LEAF | (pa & self.addr) | ((n & 3) << 2) | ((n >> 2) << self.tex) | (1 << self.s) | (1 << self.ap);
        if prot.user {
            d |= 2 << self.ap;
        }
        if !prot.write {
            d |= 1 << self.apx;
        }
        if !prot.exec {
            d |= 1 << self.xn;
        }
        if !prot.global {
            d |= 1 << self.ng;
        }
        d
    }

    /// Decode a leaf; `pxn` is a section's PXN bit (bits 1:0 = 0b11).
    fn decode(&self, raw: u64, pxn: bool) -> Entry {
        let bit = |b: u32| (raw >> b) & 1 != 0;
        let ap = (raw >> self.ap) & 3;
        let user = ap & 2 != 0;
        let read = ap != 0;
        Entry::Leaf {
            pa: raw & self.addr,
            prot: Prot {
                read,
                write: read && !bit(self.apx) && (!user || ap == 3),
                exec: read && !bit(self.xn) && (user || !pxn),
                user,
                global: !bit(self.ng),
                mem: LINUX_ARM_ATTRS.type_of(((raw >> 2) & 3) | (((raw >> self.tex) & 1) << 2)),
            },
        }
    }
}

const SHORT_LEVELS: [Level; 2] = [Level { shift: 20, bits: 12, leaf: true }, Level { shift: 12, bits: 8, leaf: true }];
const LPAE_LEVELS: [Level; 3] = [
    Level { shift: 30, bits: 2, leaf: true },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];
/// LPAE: the long-descriptor format with a 4K granule, 40-bit output addresses, XN for
/// every privilege level and Linux's arm MAIR.
const LPAE_FORMAT: LongFormat = LongFormat { granule: 12, pa_bits: 40, uxn: false, attrs: LINUX_ARM_ATTRS };

/// ARMv7-A stage-1 translation of the 32-bit address space through TTBR0 with
/// TTBCR.N/T0SZ = 0: the short-descriptor format, or with `LPAE` the long-descriptor
/// format (see the module documentation for every bit).
///
/// | mode      | levels                 | leaves             | entry | VA | PA |
/// |-----------|------------------------|--------------------|-------|----|----|
/// | arm-short | 4096 × 1M, 256 × 4K    | 1M sections, 4K    | 4     | 32 | 32 |
/// | arm-lpae  | 4 × 1G, 512 × 2M, 512 × 4K | 1G, 2M blocks, 4K | 8  | 32 | 40 |
#[derive(Debug)]
pub struct ArmPaging<const LPAE: bool>;

/// The short-descriptor format (`arm-short`).
pub type ArmShort = ArmPaging<false>;
/// The LPAE long-descriptor format (`arm-lpae`).
pub type ArmLpae = ArmPaging<true>;

impl<const LPAE: bool> PagingMode for ArmPaging<LPAE> {
    const NAME: &'static str = if LPAE { "arm-lpae" } else { "arm-short" };
    const LEVELS: &'static [Level] = if LPAE { &LPAE_LEVELS } else { &SHORT_LEVELS };
    const ENTRY_SIZE: u64 = if LPAE { 8 } else { 4 };
    const VA_BITS: u32 = 32;
    const VA_RANGE: VaRange = VaRange::Low;
    const PA_BITS: u32 = if LPAE { 40 } else { 32 };

    fn table_entry(pa: u64, _level: usize) -> u64 {
        if LPAE {
            LPAE_FORMAT.table(pa)
        } else {
            (pa & SHORT_L2_TABLE_ADDR) | SHORT_L1_TABLE
        }
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        if LPAE {
            LPAE_FORMAT.leaf(pa, prot, level + 1 == LPAE_LEVELS.len())
        } else if level == 0 {
            SECTION.encode(pa, prot)
        } else {
            SMALL_PAGE.encode(pa, prot)
        }
    }

    fn decode(raw: u64, level: usize) -> Entry {
        if LPAE {
            return LPAE_FORMAT.decode(raw, &LPAE_LEVELS, level);
        }
        match (level, raw & 3) {
            (_, 0) => Entry::Invalid,
            (0, 1) => Entry::Table(raw & SHORT_L2_TABLE_ADDR),
            (0, _) if raw & SHORT_SUPERSECTION != 0 => Entry::Invalid,
            (0, t) => SECTION.decode(raw, t == 3),
            // A large page (0b01) is not modelled.
            (_, 1) => Entry::Invalid,
            _ => SMALL_PAGE.decode(raw, false),
        }
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        if !prot.read {
            return Err(PgError::UnsupportedProt(
                "arm: PL1 reads every valid mapping and execution needs read permission",
            ));
        }
        Ok(())
    }

    crate::overrides! {
        /// ARMv6/v7 table walkers need not snoop the data cache: a new table and every changed entry are
        /// cleaned to the point of unification (Linux: clean_pte_table, flush_pmd_entry), through
        /// PhysMem::clean_dcache
        const CLEAN_TABLES: bool = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_RWX: Prot = Prot { exec: true, ..Prot::KERNEL_RW };

    #[test]
    fn memory_types_follow_linux_prrr_nmrr_and_mair() {
        for n in 0..8u64 {
            // PRRR.TRn: 0b00 Strongly-ordered, 0b01 Device, 0b10 Normal; NMRR.IRn 0b00 is
            // non-cacheable.
            let tr = (LINUX_ARM_PRRR >> (2 * n)) & 3;
            let ir = (LINUX_ARM_NMRR >> (2 * n)) & 3;
            let short = match (tr, ir) {
                (2, 0) => MemType::WriteCombine,
                (2, _) => MemType::Normal,
                _ => MemType::Device,
            };
            assert_eq!(LINUX_ARM_ATTRS.type_of(n), short, "short index {n}");
            // MAIRn: high nibble 0 Device/SO, 0x44 non-cacheable, else cacheable Normal.
            let mair = ((LINUX_ARM_LPAE_MAIR0 as u64 | (LINUX_ARM_LPAE_MAIR1 as u64) << 32) >> (8 * n)) & 0xff;
            let lpae = match mair {
                0x00..=0x0f => MemType::Device,
                0x44 => MemType::WriteCombine,
                _ => MemType::Normal,
            };
            assert_eq!(LINUX_ARM_ATTRS.type_of(n), lpae, "lpae index {n}");
        }
    }

    /// Linux's v7 PAGE_KERNEL pte as `cpu_v7_set_pte_ext` writes it to the hardware table,
    /// for L_PTE_PRESENT | L_PTE_YOUNG | L_PTE_DIRTY | L_PTE_MT_WRITEALLOC | L_PTE_SHARED |
    /// L_PTE_XN: small page 0x2, `AP[0]` 0x10 (always), `TEX[0]` 0x40 and C|B 0xc (index 7),
    /// S 0x400, XN 0x1 = 0x45f.
    #[test]
    fn short_small_pages_match_linux() {
        let pa = 0x1234_5000;
        assert_eq!(ArmShort::leaf_entry(pa, Prot::KERNEL_RW, 1), pa | 0x45f);
        // PAGE_KERNEL_EXEC: no XN.
        assert_eq!(ArmShort::leaf_entry(pa, KERNEL_RWX, 1), pa | 0x45e);
        // Read-only: APX 0x200.
        assert_eq!(ArmShort::leaf_entry(pa, Prot::KERNEL_RO, 1), pa | 0x65f);
        // User RW (PAGE_SHARED, dirty): AP[1] 0x20, nG 0x800.
        assert_eq!(ArmShort::leaf_entry(pa, Prot::USER_RW, 1), pa | 0xc7f);
        // MT_DEVICE: index 4 is TEX[0] alone.
        assert_eq!(ArmShort::leaf_entry(pa, Prot::KERNEL_DEVICE, 1), pa | 0x453);
        // Write-combine: B alone.
        assert_eq!(ArmShort::leaf_entry(pa, Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW }, 1), pa | 0x417);
    }

    /// Linux's MT_MEMORY_RW section on SMP v7: PMD_TYPE_SECT 0x2 | PMD_SECT_AP_WRITE
    /// (`AP[0]`) 0x400 | PMD_SECT_XN 0x10 | PMD_SECT_WBWA (TEX(1) 0x1000 | C | B) | PMD_SECT_S
    /// 0x10000 = 0x1141e; the first-level table pointer is the L2 table | 0b01 (domain 0).
    #[test]
    fn short_sections_and_tables_match_linux() {
        assert_eq!(ArmShort::leaf_entry(0x8000_0000, Prot::KERNEL_RW, 0), 0x8001_141e);
        assert_eq!(ArmShort::leaf_entry(0x8000_0000, Prot::USER_RW, 0), 0x8003_1c1e);
        assert_eq!(ArmShort::table_entry(0x8765_4c00, 0), 0x8765_4c01);
        assert_eq!(ArmShort::decode(0x8765_4c01, 0), Entry::Table(0x8765_4c00));
        // A supersection and a large page are not modelled: invalid.
        assert_eq!(ArmShort::decode(0x8004_141e, 0), Entry::Invalid);
        assert_eq!(ArmShort::decode(0x8000_0015, 1), Entry::Invalid);
    }

    /// Linux's LPAE PAGE_KERNEL: L_PTE_PRESENT 0x3 | L_PTE_MT_WRITEALLOC 0x1c | L_PTE_SHARED
    /// 0x300 | L_PTE_YOUNG (AF) 0x400 | L_PTE_XN bit 54, without the software dirty bit 55:
    /// 0x0040_0000_0000_071f.
    #[test]
    fn lpae_descriptors_match_linux() {
        let pa = 0xab_cdef_f000;
        assert_eq!(ArmLpae::leaf_entry(pa, Prot::KERNEL_RW, 2), 0x0040_0000_0000_071f | pa);
        assert_eq!(ArmLpae::leaf_entry(pa, KERNEL_RWX, 2), 0x71f | pa);
        // User RW: AP[1] 0x40, nG 0x800, PXN bit 53.
        assert_eq!(ArmLpae::leaf_entry(pa, Prot::USER_RW, 2), 0x0060_0000_0000_0f5f | pa);
        // A 2M block at level 2: bits 1:0 = 0b01; device index 4.
        assert_eq!(ArmLpae::leaf_entry(0x40_0020_0000, Prot::KERNEL_DEVICE, 1), 0x0040_0040_0020_0711);
        // Tables: 0b11 and the address.
        assert_eq!(ArmLpae::table_entry(0xff_ffff_f000, 0), 0xff_ffff_f003);
        assert_eq!(ArmLpae::decode(0xff_ffff_f003, 1), Entry::Table(0xff_ffff_f000));
        // A block descriptor at the last level is reserved: invalid.
        assert_eq!(ArmLpae::decode(0x0040_0000_0000_0711, 2), Entry::Invalid);
    }

    #[test]
    fn unreadable_protections_are_refused() {
        for mode_check in [ArmShort::check_prot, ArmLpae::check_prot] {
            let exec_only = Prot { read: false, write: false, exec: true, ..Prot::USER_RW };
            assert!(mode_check(exec_only).is_err());
            assert!(mode_check(Prot { read: false, ..Prot::KERNEL_RW }).is_err());
            assert!(mode_check(Prot::USER_RW).is_ok());
        }
    }
}
