//! powerpc (64-bit Book3S): the radix MMU of Power ISA 3.0 (Book III, "Storage Control",
//! radix tree translation), a page of the ISA and of Linux's
//! arch/powerpc/include/asm/book3s/64 (radix.h, radix-4k.h, radix-64k.h, pgtable.h).
//!
//! # Bit numbering and byte order
//! The ISA numbers bits from the left: bit 0 is the most significant bit of a doubleword.
//! Below, "bit n" is the ISA's number and the parenthesised mask the ordinary one, as Linux
//! writes it. Radix tables are big-endian in storage regardless of the processor's
//! endianness: the engine reads and writes entries as little-endian words, so every
//! encoding here is byte-swapped (`u64::swap_bytes`) and the bytes in memory are the
//! machine's.
//!
//! # The tree
//! The two top bits of an effective address select a quadrant: quadrant 0 translates with
//! the process id in PIDR (user space), quadrant 3 with PID 0 (Linux's kernel map at
//! 0xc000_...). Each PID's entry in the process table (PATB) gives the radix tree: RTS, the
//! size of the translated space (52 bits for Linux: RTS = 52 - 31 = 21, split into bits
//! 1-2 and 56-58), RPDB, the root directory's base, and RPDS, log2 of its entries. Bits
//! 2-11 of the EA beyond the tree's 52 bits must be zero. Every level's size is given by
//! the level above (NLS), so Linux picks it:
//!
//! | layout     | PGD (root)    | PUD          | PMD         | PTE           |
//! |------------|---------------|--------------|-------------|---------------|
//! | 4K pages   | 13 bits, 64K  | 9 bits, 4K   | 9 bits, 4K  | 9 bits, 4K    |
//! | 64K pages  | 13 bits, 64K  | 9 bits, 4K   | 9 bits, 4K  | 5 bits, 256 B |
//!
//! One PGD entry maps 512 GiB, a PUD entry 1 GiB, a PMD entry 2 MiB (with either page
//! size), a PTE one page. Leaves may sit at the PUD (1G) and PMD (2M) levels; POWER9
//! supports no 512G page, so the root holds only directory entries.
//!
//! This mode describes one tree and translates `[0, 2^52)`: the quadrant-0 (PIDR) tree. The
//! kernel's quadrant-3 tree has the same format and indexes the same 52 bits: build it with
//! this mode from `ea & (2^52 - 1)`.
//!
//! With 64K pages a PTE table is 256 bytes and a PMD or PUD table 4K: Linux carves them
//! from pages as fragments (pte_fragment_alloc, RADIX_PTE_FRAG_NR = 256 per 64K page;
//! pmd_fragment_alloc, 16); the engine's [`crate::pgtable::FragmentAlloc`] does that
//! generically.
//!
//! # Entries
//! Directory entry ("non-leaf PDE"):
//! - bit 0 (1 << 63) V: valid
//! - bit 1 (1 << 62) L: 0, not a leaf
//! - bits 4-55 (0x0fff_ffff_ffff_ff00) NLB: next level base, the table's real address
//!   (tables are aligned to their size, at least 256 bytes)
//! - bits 59-63 (0x1f) NLS: next level size, log2 of the next table's entries
//!
//! Leaf entry (PTE):
//! - bit 0 (1 << 63) V: valid; bit 1 (1 << 62) L: 1, a leaf (Linux's _PAGE_PTE)
//! - bit 2 (1 << 61) SW0 and bits 52-54 (0xe00): software
//! - RPN, the real page number: Linux uses bits 8-51 (0x00ff_ffff_ffff_f000), real
//!   addresses of up to 56 bits (_RPAGE_PA_MAX; bits 3-7 stay clear); a large page's RPN
//!   is aligned to its size
//! - bit 55 (0x100) R: reference; bit 56 (0x80) C: change (set by hardware when 0)
//! - bits 58-59 (0x30) ATT: 00 normal cacheable memory, 01 strong access ordering (SAO),
//!   10 non-idempotent I/O (cache inhibited, guarded), 11 tolerant I/O (cache inhibited)
//! - bits 60-63 EAA, encoded access authority: bit 60 (0x8) privileged (no problem-state
//!   access), bit 61 (0x4) read, bit 62 (0x2) read/write, bit 63 (0x1) execute
//!
//! # Choices
//! - Leaves are Linux's: R always (_PAGE_ACCESSED), C with write (_PAGE_DIRTY), write as
//!   read|read-write (_PAGE_RW), so PAGE_KERNEL is V|L|R|C|PRIV|RW = 0xc000_..._018e.
//! - Memory types: Normal ATT 00, WriteCombine 11 (tolerant: pgprot_writecombine =
//!   pgprot_noncached_wc = _PAGE_TOLERANT), Device 10 (non-idempotent: pgprot_noncached,
//!   PAGE_KERNEL_NCG). SAO decodes as Normal.
//! - Refused: write without read (the read/write authority implies read). Execute-only is
//!   expressible (EAA 0001, Linux's PAGE_EXECONLY).
//! - `Prot::global` has no PTE bit: TLB entries are tagged with the PID they were
//!   translated for, and PID 0 (quadrant 3, the kernel) serves every process. Privileged
//!   pages are the kernel's, so global = privileged = !user; other combinations are
//!   refused.

pub mod qemu;
pub mod refwalk;

use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};

/// Valid.
pub const R_V: u64 = 1 << 63;
/// Leaf (Linux's _PAGE_PTE).
pub const R_L: u64 = 1 << 62;
/// Directory entry: next level base.
pub const R_NLB: u64 = 0x0fff_ffff_ffff_ff00;
/// Directory entry: next level size (log2 entries).
pub const R_NLS: u64 = 0x1f;
/// Leaf: real page number field (56-bit real addresses).
pub const R_RPN: u64 = 0x00ff_ffff_ffff_f000;
/// Reference (Linux's _PAGE_ACCESSED).
pub const R_R: u64 = 0x100;
/// Change (Linux's _PAGE_DIRTY).
pub const R_C: u64 = 0x080;
/// Attribute field.
pub const R_ATT: u64 = 0x030;
/// ATT 01: strong access ordering.
pub const ATT_SAO: u64 = 0x010;
/// ATT 10: non-idempotent I/O.
pub const ATT_NON_IDEMPOTENT: u64 = 0x020;
/// ATT 11: tolerant I/O.
pub const ATT_TOLERANT: u64 = 0x030;
/// EAA: privileged only.
pub const R_PRIV: u64 = 0x8;
/// EAA: read.
pub const R_READ: u64 = 0x4;
/// EAA: read/write.
pub const R_RW: u64 = 0x2;
/// EAA: execute.
pub const R_EXEC: u64 = 0x1;

/// Linux's radix geometry for `2^PAGE_SHIFT`-byte pages: PGD 13 bits, PUD and PMD 9, the
/// PTE level what is left of 52 bits.
const fn radix_levels(page_shift: u32) -> [Level; 4] {
    let pte_bits = 52 - 13 - 9 - 9 - page_shift;
    let pmd = page_shift + pte_bits;
    [
        Level { shift: pmd + 18, bits: 13, leaf: false },
        Level { shift: pmd + 9, bits: 9, leaf: true },
        Level { shift: pmd, bits: 9, leaf: true },
        Level { shift: page_shift, bits: pte_bits, leaf: true },
    ]
}

// ----- the bring-up (arch/powerpc/kernel/prom.c, setup-common.c, mm/mem.c) -----------------

use super::{Arch, FirmwareKind};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::physmem::PhysMem;
use crate::zone::ZoneType;

/// 64-bit Book3S powerpc with the radix MMU (POWER9 and later) and `2^PAGE_SHIFT`-byte
/// pages: `Ppc64<16>` as distributions build it (64K pages), `Ppc64<12>` with 4K pages.
/// The hash MMU (POWER8 and earlier, or `disable_radix`) is not modelled: its linear map
/// lives in the hashed page table, which is not a radix tree this engine walks.
#[derive(Debug)]
pub struct Ppc64<const PAGE_SHIFT: u32>;

/// powerpc64 as Debian's ppc64el kernel runs it on POWER9: radix, 64K pages.
pub type Powerpc64 = Ppc64<16>;

/// PAGE_OFFSET: quadrant 3, the kernel's linear map.
pub const PAGE_OFFSET: u64 = 0xc000_0000_0000_0000;
/// RADIX_VMEMMAP_START = RADIX_KERN_VIRT_START (0xc008_0000_0000_0000) + 2^49 of vmalloc +
/// 2^49 of I/O space.
pub const VMEMMAP_START: u64 = 0xc00c_0000_0000_0000;

impl<const PAGE_SHIFT: u32> Arch for Ppc64<PAGE_SHIFT> {
    const NAME: &'static str = "powerpc";
    /// Rust's target_arch, Debian's port and the target triples' names.
    const ALIASES: &'static [&'static str] = &["powerpc64", "ppc64el", "ppc64le"];
    const PAGE_SHIFT: u32 = PAGE_SHIFT;
    /// R_MAX_PHYSMEM_BITS with SPARSEMEM_VMEMMAP and SPARSEMEM_EXTREME.
    const MAX_PHYSMEM_BITS: u32 = 51;
    /// 16 MiB sections (asm/sparsemem.h).
    const SECTION_SIZE_BITS: u32 = 24;
    /// ARCH_FORCE_MAX_ORDER: 9 with 64K pages, 13 with 4K.
    const MAX_ORDER: u32 = if PAGE_SHIFT == 16 { 9 } else { 13 };
    /// HPAGE_SHIFT = PMD_SHIFT (2 MiB) on radix: order 5 with 64K pages, 9 with 4K.
    const PAGEBLOCK_ORDER: u32 = 21 - PAGE_SHIFT;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    /// Book3S-64 has no ZONE_DMA (only Book3E selects it).
    const ZONES: &'static [ZoneType] = &[ZoneType::Normal, ZoneType::Movable];
    /// The reference kernel's sections: Debian's 6.1.0-57-powerpc64le under QEMU pseries (the 4K-page mode uses it too).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(14208, 2304, 18560, 4992, 1394, 603_432);
    /// CONFIG_NODES_SHIFT=8 (Debian's ppc64el config): 256 NUMA nodes.
    const NODES_SHIFT: u32 = 8;
    /// sizeof(pg_data_t) of Debian's 6.1 ppc64el kernel, cache-line rounded: `numa:   NODE_DATA
    /// [mem 0xfff82b00-0xfff87fff]` (0x5500).
    const NODE_DATA_BYTES: u64 = 0x5500;
    type State = ();
    type Paging = RadixPaging<PAGE_SHIFT>;
    type UserPaging = RadixPaging<PAGE_SHIFT>;
    /// TASK_SIZE_USER64 default window (128 TiB).
    const TASK_SIZE: u64 = 1 << 47;
    const PAGE_OFFSET: u64 = PAGE_OFFSET;
    const VMEMMAP_START: u64 = VMEMMAP_START;

    crate::overrides! {
        /// pseries_memory_block_size(): ibm,dynamic-reconfiguration-memory's ibm,lmb-size when the tree has
        /// that node (it is not modelled); else the size of the memory node that starts where /memory@0 ends
        /// (that size kept in an unsigned int, so a memory@0 of 4 GiB or more counts as none), else one 16
        /// MiB section (QEMU pseries: 16 MiB with one memory node or memory@0 >= 4 GiB, the second node's
        /// size otherwise)
        fn memory_block_size_bytes<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            // QEMU names each memory node after its first address, as the lookup of
            // "/memory@<size of memory@0>" assumes. Linux keeps that size in an `unsigned int`:
            // a memory@0 of 4 GiB or more truncates (to 0 for QEMU's powers of two) and the
            // fallback, one section, applies (the 4 GiB, 6 GiB and 8 GiB captures: 16 MiB).
            let after_zero = ctx.banks().find(|b| b.base == 0).map(|b| u64::from(b.size as u32)).filter(|&z| z != 0);
            after_zero.and_then(|z| ctx.banks().find(|b| b.base == z)).map_or(1 << Self::SECTION_SIZE_BITS, |b| b.size)
        }

        /// setup_per_cpu_areas() embeds the first chunk with no module reserve (r0) and folds
        /// PERCPU_MODULE_RESERVE into the dynamic size
        // setup_per_cpu_areas() passes no module reserve and
        // PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE as the dynamic size.
        const PERCPU_RESERVE: u64 = 0;

        /// setup_per_cpu_areas() asks for PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE (36 KiB) of dynamic
        /// space
        const PERCPU_DYN_SIZE: u64 = crate::percpu::PERCPU_MODULE_RESERVE + crate::percpu::PERCPU_DYNAMIC_RESERVE;

        /// radix gives each process its own tree through the process table (quadrant 0); the kernel's
        /// quadrant 3 tree is separate
        const USER_SHARE: crate::uspace::KernelShare = crate::uspace::KernelShare::SeparateRoot;

        /// the top two effective-address bits select the quadrant: quadrant 3 (0xc...) is translated by PID
        /// 0's radix tree, which indexes only the low 52 bits
        const KERNEL_VA_MASK: u64 = (1 << 52) - 1;

        /// parse_numa_properties(): pseries firmware gives nodes by ibm,associativity (read by the
        /// device-tree scan at the primary domain index of ibm,associativity-reference-points), and a tree
        /// without them is one node with no 'No NUMA configuration' or 'Faking a node' lines
        fn numa_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            if !ctx.options.numa_off && ctx.banks().any(|b| b.nid.is_some()) {
                crate::numa::generic_numa_init(ctx)
            } else {
                crate::numa::single_node_init(ctx)?;
                crate::numa::register_nodes(ctx, true)
            }
        }

        /// POWER cache lines are 128 bytes
        // L1_CACHE_BYTES on POWER.
        const SMP_CACHE_BYTES: u64 = 128;

        /// powerpc's own numa.c (pr_fmt 'numa: ') indents its NODE_DATA lines
        fn node_data_banner(
            nid: i32,
            start: u64,
            end: u64,
            tnid: i32,
            _memoryless: bool,
            log: &mut dyn core::fmt::Write,
        ) -> core::fmt::Result {
            writeln!(log, "numa:   NODE_DATA [mem {start:#010x}-{end:#010x}]")?;
            if tnid != nid {
                writeln!(log, "numa:     NODE_DATA({nid}) on node {tnid}")?;
            }
            Ok(())
        }
    }
}

/// Power ISA 3.0 radix tree with `2^PAGE_SHIFT`-byte pages (12 or 16).
#[derive(Debug)]
pub struct RadixPaging<const PAGE_SHIFT: u32>;

/// 4K pages: 13/9/9/9.
pub type Radix4K = RadixPaging<12>;
/// 64K pages: 13/9/9/5.
pub type Radix64K = RadixPaging<16>;

impl<const PAGE_SHIFT: u32> RadixPaging<PAGE_SHIFT> {
    fn leaf_value(pa: u64, prot: Prot, level: usize) -> u64 {
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let att = match prot.mem {
            MemType::Normal => 0,
            MemType::WriteCombine => ATT_TOLERANT,
            MemType::Device => ATT_NON_IDEMPOTENT,
        };
        R_V | R_L
            | (pa & R_RPN & !(Self::LEVELS[level].span() - 1))
            | R_R
            | bit(prot.write, R_C | R_RW | R_READ)
            | bit(prot.read, R_READ)
            | bit(prot.exec, R_EXEC)
            | bit(!prot.user, R_PRIV)
            | att
    }

    fn decode_value(v: u64, level: usize) -> Entry {
        let l = Self::LEVELS[level];
        if v & R_V == 0 {
            return Entry::Invalid;
        }
        if v & R_L == 0 {
            // A directory entry at the last level is malformed (the walk faults).
            return if level + 1 < Self::LEVELS.len() { Entry::Table(v & R_NLB) } else { Entry::Invalid };
        }
        if !l.leaf {
            return Entry::Invalid;
        }
        let user = v & R_PRIV == 0;
        let mem = match v & R_ATT {
            ATT_NON_IDEMPOTENT => MemType::Device,
            ATT_TOLERANT => MemType::WriteCombine,
            _ => MemType::Normal,
        };
        Entry::Leaf {
            pa: v & R_RPN & !(l.span() - 1),
            prot: Prot {
                read: v & (R_READ | R_RW) != 0,
                write: v & R_RW != 0,
                exec: v & R_EXEC != 0,
                user,
                global: !user,
                mem,
            },
        }
    }
}

impl<const PAGE_SHIFT: u32> PagingMode for RadixPaging<PAGE_SHIFT> {
    const NAME: &'static str = match PAGE_SHIFT {
        12 => "powerpc64-radix-4k",
        16 => "powerpc64-radix-64k",
        _ => panic!("radix supports 4K and 64K base pages"),
    };
    const LEVELS: &'static [Level] = &radix_levels(PAGE_SHIFT);
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = 52;
    const VA_RANGE: VaRange = VaRange::Low;
    const PA_BITS: u32 = 56;

    /// The hardware is big-endian: entries are stored byte-swapped.
    const BIG_ENDIAN: bool = true;
    fn table_entry(pa: u64, level: usize) -> u64 {
        // RADIX_PxD_VAL_BITS: V | NLS of the next level, with the table's address.
        (R_V | (pa & R_NLB) | Self::LEVELS[level + 1].bits as u64).swap_bytes()
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        Self::leaf_value(pa, prot, level).swap_bytes()
    }

    fn decode(raw: u64, level: usize) -> Entry {
        Self::decode_value(raw.swap_bytes(), level)
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        if !prot.read && !prot.write && !prot.exec {
            return Err(PgError::UnsupportedProt("no access at all: unmap instead"));
        }
        if prot.write && !prot.read {
            return Err(PgError::UnsupportedProt("radix has no write-only access authority: read/write implies read"));
        }
        if prot.global == prot.user {
            return Err(PgError::UnsupportedProt(
                "radix has no global bit: privileged (kernel, PID 0) pages are global, user pages per PID",
            ));
        }
        if prot.exec && prot.mem == MemType::Device {
            // Power ISA 3.0B Book III: non-idempotent I/O (ATT=0b10) is Guarded storage, and
            // instruction fetch from Guarded storage raises an Instruction Storage interrupt.
            return Err(PgError::UnsupportedProt("device (guarded) storage is never executable on radix"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PA: u64 = 0x20_0000_0000;

    /// The entry as the machine sees it (big-endian storage read as a doubleword).
    fn be(raw: u64) -> u64 {
        raw.swap_bytes()
    }

    #[test]
    fn linux_geometry() {
        // radix-4k.h: 13/9/9/9; radix-64k.h: 13/9/9/5; both map 52 bits, PMD at 2M.
        let bits = |l: &[Level]| l.iter().map(|l| (l.shift, l.bits)).collect::<Vec<_>>();
        assert_eq!(bits(Radix4K::LEVELS), [(39, 13), (30, 9), (21, 9), (12, 9)]);
        assert_eq!(bits(Radix64K::LEVELS), [(39, 13), (30, 9), (21, 9), (16, 5)]);
        // RADIX_PGD_TABLE_SIZE 64K, RADIX_PTE_TABLE_SIZE 256 bytes with 64K pages.
        assert_eq!((Radix64K::table_bytes(0), Radix64K::table_bytes(2), Radix64K::table_bytes(3)), (65536, 4096, 256));
    }

    #[test]
    fn linux_page_kernel_encodings() {
        // PAGE_KERNEL = _PAGE_BASE (PRESENT 1<<63 | ACCESSED 0x100) | _PAGE_KERNEL_RW
        // (PRIVILEGED 0x8 | RW 0x6 | DIRTY 0x80), and pfn_pte adds _PAGE_PTE (1<<62):
        // 0xc000_0000_0000_018e.
        assert_eq!(be(Radix4K::leaf_entry(PA, Prot::KERNEL_RW, 3)), PA | 0xc000_0000_0000_018e);
        // PAGE_KERNEL_RO = _PAGE_BASE | PRIVILEGED | READ = ..._010c.
        assert_eq!(be(Radix4K::leaf_entry(PA, Prot::KERNEL_RO, 3)), PA | 0xc000_0000_0000_010c);
        // PAGE_KERNEL_ROX = ..._010d.
        assert_eq!(be(Radix64K::leaf_entry(PA, Prot::KERNEL_RX, 3)), PA | 0xc000_0000_0000_010d);
        // PAGE_KERNEL_NCG = PAGE_KERNEL | _PAGE_NON_IDEMPOTENT (0x20).
        assert_eq!(be(Radix64K::leaf_entry(PA, Prot::KERNEL_DEVICE, 2)), PA | 0xc000_0000_0000_01ae);
        // pgprot_writecombine: _PAGE_TOLERANT (0x30).
        let wc = Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW };
        assert_eq!(be(Radix4K::leaf_entry(PA, wc, 1)), PA | 0xc000_0000_0000_01be);
        // PAGE_SHARED = _PAGE_BASE | _PAGE_RW = ..._0106; C (0x80) preset: ..._0186.
        assert_eq!(be(Radix4K::leaf_entry(PA, Prot::USER_RW, 3)), PA | 0xc000_0000_0000_0186);
        // RADIX_PMD_VAL_BITS = V | RADIX_PTE_INDEX_SIZE (9 with 4K, 5 with 64K pages);
        // RADIX_PGD_VAL_BITS = V | RADIX_PUD_INDEX_SIZE (9).
        assert_eq!(be(Radix4K::table_entry(PA, 2)), PA | (1 << 63) | 9);
        assert_eq!(be(Radix64K::table_entry(PA, 2)), PA | (1 << 63) | 5);
        assert_eq!(be(Radix64K::table_entry(PA, 0)), PA | (1 << 63) | 9);
        // The valid bit is the first byte in storage.
        assert_eq!(Radix4K::table_entry(PA, 0).to_le_bytes()[0], 0x80);
    }

    #[test]
    fn refusals_and_faults() {
        assert!(Radix4K::check_prot(Prot { read: false, ..Prot::KERNEL_RW }).is_err());
        assert!(Radix4K::check_prot(Prot { global: false, ..Prot::KERNEL_RW }).is_err());
        let xo = Prot { read: false, write: false, exec: true, ..Prot::USER_RW };
        assert_eq!(Radix4K::check_prot(xo), Ok(()));
        // PAGE_EXECONLY = _PAGE_BASE | _PAGE_EXEC: EAA 0001.
        assert_eq!(be(Radix4K::leaf_entry(PA, xo, 3)) & 0xf, 0x1);
        // A directory entry at the PTE level and a leaf at the root fault.
        assert_eq!(Radix4K::decode(Radix4K::table_entry(PA, 2), 3), Entry::Invalid);
        assert_eq!(Radix4K::decode((R_V | R_L | PA).swap_bytes(), 0), Entry::Invalid);
        assert_eq!(Radix4K::decode(0, 1), Entry::Invalid);
    }
}
