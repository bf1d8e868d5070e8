//! loongarch64: page tables, a page of the LoongArch Reference Manual (Volume 1, chapter 5
//! "Memory Management", and the CSR chapter) and of Linux's arch/loongarch.
//!
//! # Address translation
//! With CSR.CRMD.PG=1 an address is first matched against the four direct-mapping windows
//! CSR.DMW0-3 (0x180-0x183: VA bits 63:60 select a window that maps to PA = VA[PALEN-1:0]
//! with the window's MAT and privilege levels); Linux runs the kernel's linear map in DMW1
//! (0x9000_xxxx_xxxx_xxxx, cached) and uncached accesses in DMW0 (0x8000_...). Everything
//! else is page-table mapped through the TLB. Page-mapped addresses must be legal: bits
//! 63..VALEN sign-extend bit VALEN-1 (VALEN = 48 on the 3A5000/3A6000, CPUCFG1.VALEN + 1).
//!
//! # Page tables
//! The TLB is refilled by software (the TLBR exception, Linux's handle_tlb_refill) with the
//! help of two instructions whose geometry comes from CSR.PWCL (0x1C) and CSR.PWCH (0x1D):
//! the base bit and index width of the PTE level and up to four directory levels.
//! `LDDIR rd, rj, level` loads the entry for CSR.TLBRBADV from the table whose base is in
//! `rj`, unless bit 6 of `rj` (HUGE) is set: then `rj` is itself a huge-page entry and is
//! passed on. `LDPTE rj, 0/1` loads the even/odd PTE pair into TLBRELO0/1 (from a huge entry
//! it derives both halves, moving HGLOBAL to G). CSR.PGD (0x1B) reads as CSR.PGDL (0x19)
//! when the faulting address has VA[VALEN-1] = 0 and CSR.PGDH (0x1A) otherwise: each half
//! of the address space has its own root. LoongArch v1.1 (3A6000) can also walk the same
//! tables in hardware (PTW).
//!
//! Linux (arch/loongarch/include/asm/pgtable.h) uses tables of one page each, indexed by
//! PAGE_SHIFT-3 bits per level: VA_BITS = PGDIR_SHIFT + PAGE_SHIFT - 3.
//! - 16K pages, 3 levels (`loongarch64-3level-16k`, Linux's default): PTE at 14 (11 bits,
//!   16 KiB pages), PMD at 25 (32 MiB huge pages), PGD at 36: 47-bit VA. One tree covers
//!   exactly one half of a 48-bit space, so this mode translates `[0, 2^47)` (the PGDL tree:
//!   Linux's TASK_SIZE64 = 2^min(47, VA_BITS)). The kernel's PGDH tree (swapper_pg_dir,
//!   vm_map_base = -2^47) has the same format and indexes the same low 47 bits: build it
//!   with this mode from `va & (2^47 - 1)`.
//! - 4K pages, 4 levels (`loongarch64-4level-4k`): PTE at 12, PMD at 21 (2 MiB huge pages),
//!   PUD at 30, PGD at 39: 48-bit VA, the whole canonical space; one root can serve PGDL
//!   and PGDH (Linux gives each its own, using half of each).
//!
//! # Entries (TLBELO0/1 layout, CSR 0x12/0x13, plus Linux's software bits)
//! | bit   | name    | meaning                                                           |
//! |-------|---------|-------------------------------------------------------------------|
//! | 0     | V       | valid; Linux's _PAGE_VALID doubles as "accessed"                  |
//! | 1     | D       | dirty: stores allowed (D=0 raises the page-modify exception PME)  |
//! | 2-3   | PLV     | privilege level: accessible from PLV <= this (0 kernel, 3 user)   |
//! | 4-5   | MAT     | memory access type: 0 SUC (strongly ordered uncached), 1 CC       |
//! |       |         | (coherent cached), 2 WUC (weakly ordered uncached), 3 reserved    |
//! | 6     | G / HUGE| PTE: global (no ASID match); directory entry: HUGE, a leaf        |
//! | 7     | P       | software (Linux _PAGE_PRESENT)                                    |
//! | 8     | W       | software (Linux _PAGE_WRITE: writable, D may be set)              |
//! | 12    | HGLOBAL | huge entry: the global bit (bit 6 is taken by HUGE)               |
//! | 12-47 | PPN     | physical address bits 12..PALEN-1 (PALEN = 48; huge entries from  |
//! |       |         | their own alignment)                                              |
//! | 61    | NR      | not readable (loads raise PNR)                                    |
//! | 62    | NX      | not executable (fetches raise PNX)                                |
//! | 63    | RPLV    | restricted PLV: only exactly PLV may access (not used here)       |
//!
//! A TLB entry maps an even/odd pair of pages (TLBELO0/1) and is global only when both
//! halves have G set. Linux keeps G on the (invalid) buddy of a global PTE (set_pte,
//! pte_clear); the engine writes each entry on its own, so a global page whose buddy is
//! unmapped gets an ASID-tagged TLB entry. Map global kernel ranges in page pairs (every
//! block and every range of an even number of pages at an even page does so) or flush
//! kernel ranges with an INVTLB op that also matches non-global entries.
//!
//! Directory entries carry no valid bit: in Linux a PMD/PUD/PGD entry is the next table's
//! address (its DMW1 virtual address, whose low PALEN bits are the physical address, so
//! LDDIR finds the table), and an empty entry points to a shared table of invalid entries
//! (invalid_pte_table, invalid_pmd_table, invalid_pud_table) so that the refill handler
//! never branches. Here a directory entry is the table's physical address (decoding masks
//! bits 12..47, so Linux's DMW form decodes to the same table) and an empty entry is 0: a
//! kernel using this mode maps its tables through a DMW window and either checks for 0 in
//! its refill handler or walks with a handler that treats 0 as "no table".
//!
//! Leaves: base pages, and huge pages at the PMD level (HUGE, HGLOBAL), as Linux does
//! (HPAGE_SHIFT = PMD_SHIFT). LDDIR would also pass on a HUGE entry at a higher level;
//! such entries decode as leaves but this mode never writes them.
//!
//! Choices: V (accessed) is preset on every leaf, D and W go together for writable pages
//! (Linux's PAGE_KERNEL = P|V|D|W|G|CC with PLV 0), Normal is CC, WriteCombine WUC
//! (pgprot_writecombine), Device SUC (PAGE_KERNEL_SUC, ioremap). Read, write and execute
//! are independent bits (NR, D, NX), so every Prot with some access is expressible.

pub mod qemu;
pub mod refwalk;

use crate::pgtable::{Entry, Level, MemType, PagingMode, Prot, VaRange};

/// Valid (also Linux's accessed bit).
pub const PTE_V: u64 = 1 << 0;
/// Dirty: writes allowed.
pub const PTE_D: u64 = 1 << 1;
/// Where the privilege-level field starts.
pub const PTE_PLV_SHIFT: u32 = 2;
/// Privilege level field.
pub const PTE_PLV: u64 = 3 << PTE_PLV_SHIFT;
/// PLV 3: user accessible (Linux's _PAGE_USER).
pub const PTE_PLV_USER: u64 = 3 << PTE_PLV_SHIFT;
/// Memory access type field.
pub const PTE_MAT: u64 = 3 << 4;
/// MAT 0: strongly ordered uncached (Linux's _CACHE_SUC).
pub const MAT_SUC: u64 = 0 << 4;
/// MAT 1: coherent cached (_CACHE_CC).
pub const MAT_CC: u64 = 1 << 4;
/// MAT 2: weakly ordered uncached (_CACHE_WUC).
pub const MAT_WUC: u64 = 2 << 4;
/// Global (base-page entries).
pub const PTE_G: u64 = 1 << 6;
/// Huge: this directory entry is a leaf (directory entries only).
pub const PTE_HUGE: u64 = 1 << 6;
/// Software: present (Linux's _PAGE_PRESENT).
pub const PTE_P: u64 = 1 << 7;
/// Software: writable (Linux's _PAGE_WRITE).
pub const PTE_W: u64 = 1 << 8;
/// Global of a huge entry.
pub const PTE_HGLOBAL: u64 = 1 << 12;
/// Physical address bits 12..47 (PALEN 48; Linux's _PFN_MASK for 4K pages).
pub const PTE_PA: u64 = 0x0000_ffff_ffff_f000;
/// Not readable.
pub const PTE_NR: u64 = 1 << 61;
/// Not executable.
pub const PTE_NX: u64 = 1 << 62;
/// Restricted privilege level.
pub const PTE_RPLV: u64 = 1 << 63;

/// The VA width of the implementations Linux targets (VALEN, 3A5000/3A6000).
pub const VALEN: u32 = 48;

// ----- the bring-up (arch/loongarch/kernel/setup.c, mem.c; arch/loongarch/mm/init.c) -------

use super::{Arch, FirmwareKind, MemoryModel};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

/// LoongArch64 with `2^PAGE_SHIFT`-byte pages and an `N`-level kernel page table:
/// `LoongArch<14, 3>` is Linux's default (16K pages, 3 levels), `LoongArch<12, 4>` 4K pages
/// with 4 levels. The linear map is the cached direct-mapping window DMW1, so no page table
/// is built for it; Linux 6.1 has no vmemmap on LoongArch (classic SPARSEMEM with 512 MiB
/// sections).
#[derive(Debug)]
pub struct LoongArch<const PAGE_SHIFT: u32, const N: usize>;

/// LoongArch64 as loongson3_defconfig builds it: 16K pages, 3 levels.
pub type Loongarch64 = LoongArch<14, 3>;

/// PAGE_OFFSET = CACHE_BASE = CSR_DMW1_BASE (0x9000 << 48): the cached direct window.
pub const PAGE_OFFSET: u64 = 0x9000_0000_0000_0000;
/// MAX_DMA32_PFN's address: 4 GiB.
const DMA32_END: u64 = 1 << 32;

impl<const PAGE_SHIFT: u32, const N: usize> Arch for LoongArch<PAGE_SHIFT, N> {
    const NAME: &'static str = "loongarch64";
    /// Debian's port name.
    const ALIASES: &'static [&'static str] = &["loong64"];
    const PAGE_SHIFT: u32 = PAGE_SHIFT;
    /// asm/sparsemem.h.
    const MAX_PHYSMEM_BITS: u32 = 48;
    /// 2^29: the largest huge page.
    const SECTION_SIZE_BITS: u32 = 29;
    /// ARCH_FORCE_MAX_ORDER: 12 with 16K pages, 11 with 4K.
    const MAX_ORDER: u32 = if PAGE_SHIFT == 14 { 12 } else { 11 };
    /// HUGETLB_PAGE_ORDER: a PMD block (32 MiB with 16K pages, 2 MiB with 4K).
    const PAGEBLOCK_ORDER: u32 = PAGE_SHIFT - 3;
    /// CONFIG_NUMA=y rules out FLATMEM; 6.1 has no SPARSEMEM_VMEMMAP_ENABLE here.
    const DEFAULT_MODEL: MemoryModel = MemoryModel::Sparse;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];
    /// The reference kernel's sections: Debian 12 ships no loongarch64 kernel: sizes of the order of arm64's (an assumption).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(12288, 2560, 6144, 2048, 1024, 65_536);
    /// CONFIG_NODES_SHIFT=6 (the Kconfig default; Debian 12 ships no loongarch64 kernel): 64 NUMA nodes.
    const NODES_SHIFT: u32 = 6;
    type State = ();
    type Paging = LoongArchPaging<PAGE_SHIFT, N>;
    type UserPaging = LoongArchPaging<PAGE_SHIFT, N>;
    /// TASK_SIZE64: the VA bits the page-table layout covers (47 with 16K/3 levels).
    const TASK_SIZE: u64 = if N == 3 { 1 << 47 } else { 1 << 48 };
    const PAGE_OFFSET: u64 = PAGE_OFFSET;

    crate::overrides! {
        /// the linear map is the DMW1 window, not a page table: setup_arch builds no linear-map table, and
        /// arch_add_memory() only adds the memmap (__add_pages), arch_remove_memory() only removes it
        const LINEAR_MAP_IN_TABLES: bool = false;

        /// user addresses are translated through PGDL and kernel mapped addresses through PGDH, two separate
        /// roots
        const USER_SHARE: crate::uspace::KernelShare = crate::uspace::KernelShare::SeparateRoot;

        /// LoongArch asks for the vDSO at STACK_TOP and adds a page of per-CPU data to vvar
        const VDSO: crate::uspace::VdsoRule = crate::uspace::VdsoRule { vvar_pages: 3, at_task_top: true };

        /// the first 2 MiB (firmware exception vectors and boot data below the kernel's load address
        /// 0x200000) stay reserved (memblock_init)
        fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            crate::arch::generic::early_reserve_memory(ctx)?;
            ctx.memblock.reserve(0, 0x20_0000)?;
            Ok(())
        }

        /// LoongArch takes NUMA from the ACPI SRAT (its own numa.c), not from device-tree numa-node-id; QEMU
        /// virt has none, so all memory is node 0 (SRAT parsing is not modelled)
        fn numa_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            crate::numa::single_node_init(ctx)
        }

        /// LoongArch 6.1 does not select ARCH_HAS_DEBUG_WX: no W^X check runs at boot
        const WX_FORMAT: Option<crate::protect::WxFormat> = None;

        /// ZONE_DMA32 ends at 4 GiB whatever the machine has (MAX_DMA32_PFN, not capped at the end of RAM as
        /// riscv caps it)
        fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
            let mut z = [0u64; MAX_NR_ZONES];
            z[ZoneType::Dma32 as usize] = DMA32_END >> PAGE_SHIFT;
            z[ZoneType::Normal as usize] = ctx.max_low_pfn;
            z
        }
    }
}

/// Levels of `N` one-page tables of `2^(PAGE_SHIFT-3)` entries; leaves at the PMD (the
/// next-to-last level) and the PTE level.
const fn la_levels<const N: usize>(page_shift: u32) -> [Level; N] {
    let bits = page_shift - 3;
    let mut levels = [Level { shift: 0, bits, leaf: false }; N];
    let mut i = 0;
    while i < N {
        let below = (N - 1 - i) as u32;
        levels[i] = Level { shift: page_shift + bits * below, bits, leaf: below <= 1 };
        i += 1;
    }
    levels
}

/// LoongArch64 page tables with `2^PAGE_SHIFT`-byte pages and `N` levels.
#[derive(Debug)]
pub struct LoongArchPaging<const PAGE_SHIFT: u32, const N: usize>;

/// Linux's default: 16K pages, 3 levels, 47-bit VA (the PGDL half).
pub type LoongArch3Level16K = LoongArchPaging<14, 3>;
/// 4K pages, 4 levels, 48-bit canonical VA.
pub type LoongArch4Level4K = LoongArchPaging<12, 4>;

impl<const PAGE_SHIFT: u32, const N: usize> LoongArchPaging<PAGE_SHIFT, N> {
    fn last(level: usize) -> bool {
        level + 1 == N
    }
}

impl<const PAGE_SHIFT: u32, const N: usize> PagingMode for LoongArchPaging<PAGE_SHIFT, N> {
    const NAME: &'static str = match (PAGE_SHIFT, N) {
        (14, 3) => "loongarch64-3level-16k",
        (12, 4) => "loongarch64-4level-4k",
        _ => panic!("unnamed LoongArch layout"),
    };
    const LEVELS: &'static [Level] = &la_levels::<N>(PAGE_SHIFT);
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = PAGE_SHIFT + (PAGE_SHIFT - 3) * N as u32;
    // A tree as wide as VALEN reaches both halves; a narrower one serves one root (PGDL).
    const VA_RANGE: VaRange = if Self::VA_BITS >= VALEN { VaRange::Canonical } else { VaRange::Low };
    const PA_BITS: u32 = 48;

    fn table_entry(pa: u64, _level: usize) -> u64 {
        pa & PTE_PA
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let mat = match prot.mem {
            MemType::Normal => MAT_CC,
            MemType::WriteCombine => MAT_WUC,
            MemType::Device => MAT_SUC,
        };
        let (huge, global) = if Self::last(level) { (0, PTE_G) } else { (PTE_HUGE, PTE_HGLOBAL) };
        PTE_V
            | PTE_P
            | huge
            | mat
            | bit(prot.write, PTE_D | PTE_W)
            | bit(prot.user, PTE_PLV_USER)
            | bit(prot.global, global)
            | bit(!prot.read, PTE_NR)
            | bit(!prot.exec, PTE_NX)
            | (pa & PTE_PA)
    }

    fn decode(raw: u64, level: usize) -> Entry {
        let last = Self::last(level);
        if !last && raw & PTE_HUGE == 0 {
            // A directory entry: the next table's address; 0 is "none".
            return if raw & PTE_PA == 0 { Entry::Invalid } else { Entry::Table(raw & PTE_PA) };
        }
        if raw & PTE_V == 0 || raw & PTE_MAT == PTE_MAT {
            return Entry::Invalid;
        }
        let (global, pa_mask) =
            if last { (PTE_G, PTE_PA) } else { (PTE_HGLOBAL, PTE_PA & !(Self::LEVELS[level].span() - 1)) };
        let mem = match raw & PTE_MAT {
            MAT_CC => MemType::Normal,
            MAT_WUC => MemType::WriteCombine,
            _ => MemType::Device,
        };
        Entry::Leaf {
            pa: raw & pa_mask,
            prot: Prot {
                read: raw & PTE_NR == 0,
                write: raw & PTE_D != 0,
                exec: raw & PTE_NX == 0,
                user: raw & PTE_PLV == PTE_PLV_USER,
                global: raw & global != 0,
                mem,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::PgError;

    const PA: u64 = 0x9_0000_0000;

    #[test]
    fn linux_geometry() {
        // CONFIG_PAGE_SIZE_16KB, 3 levels: PMD_SHIFT = 14 + 11 = 25, PGDIR_SHIFT = 36,
        // VA_BITS = PGDIR_SHIFT + PAGE_SHIFT - 3 = 47.
        let l = LoongArch3Level16K::LEVELS;
        assert_eq!(
            l.iter().map(|l| (l.shift, l.bits, l.leaf)).collect::<Vec<_>>(),
            [(36, 11, false), (25, 11, true), (14, 11, true)]
        );
        assert_eq!((LoongArch3Level16K::VA_BITS, LoongArch3Level16K::VA_RANGE), (47, VaRange::Low));
        assert_eq!(LoongArch3Level16K::table_bytes(0), 16384);
        // 4K, 4 levels: PMD 21, PUD 30, PGDIR 39, VA_BITS 48.
        let l = LoongArch4Level4K::LEVELS;
        assert_eq!(
            l.iter().map(|l| (l.shift, l.leaf)).collect::<Vec<_>>(),
            [(39, false), (30, false), (21, true), (12, true)]
        );
        assert_eq!((LoongArch4Level4K::VA_BITS, LoongArch4Level4K::VA_RANGE), (48, VaRange::Canonical));
    }

    #[test]
    fn linux_page_kernel_encodings() {
        // PAGE_KERNEL = _PAGE_PRESENT (0x80) | __READABLE (V, 0x1) | __WRITEABLE (D|W,
        // 0x2|0x100) | _PAGE_GLOBAL (0x40) | _PAGE_KERN (PLV 0) | _CACHE_CC (0x10) = 0x1d3;
        // Prot::KERNEL_RW is also non-executable: _PAGE_NO_EXEC (1 << 62).
        assert_eq!(LoongArch3Level16K::leaf_entry(PA, Prot::KERNEL_RW, 2), PA | 0x1d3 | (1 << 62));
        // PAGE_KERNEL_SUC (ioremap): _CACHE_SUC = 0 instead of CC: 0x1c3.
        assert_eq!(LoongArch4Level4K::leaf_entry(PA, Prot::KERNEL_DEVICE, 3), PA | 0x1c3 | (1 << 62));
        // PAGE_KERNEL_WUC: _CACHE_WUC = 0x20: 0x1e3.
        let wc = Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW };
        assert_eq!(LoongArch4Level4K::leaf_entry(PA, wc, 3), PA | 0x1e3 | (1 << 62));
        // Kernel text: PAGE_KERNEL without __WRITEABLE, executable: P|V|G|CC = 0xd1.
        assert_eq!(LoongArch4Level4K::leaf_entry(PA, Prot::KERNEL_RX, 3), PA | 0xd1);
        // User data: PAGE_SHARED (P|W|_PAGE_USER|CC = 0x80|0x100|0xc|0x10) plus V and D
        // preset (Linux sets them on first access/write) and NX: 0x19f.
        assert_eq!(LoongArch4Level4K::leaf_entry(PA, Prot::USER_RW, 3), PA | 0x19f | (1 << 62));
        // pmd_mkhuge(PAGE_KERNEL): G moves to HGLOBAL (bit 12), HUGE (bit 6) is set:
        // 0x1d3 - 0x40 + 0x40 + 0x1000 = 0x11d3.
        assert_eq!(LoongArch3Level16K::leaf_entry(PA, Prot::KERNEL_RW, 1), PA | 0x11d3 | (1 << 62));
        // pmd_populate: the table's address and nothing else.
        assert_eq!(LoongArch3Level16K::table_entry(PA, 1), PA);
    }

    #[test]
    fn directory_entries() {
        // Linux's pmd holds the table's DMW1 address (0x9000_...): same table.
        assert_eq!(LoongArch4Level4K::decode(0x9000_0000_0000_0000 | PA, 0), Entry::Table(PA));
        assert_eq!(LoongArch4Level4K::decode(0, 1), Entry::Invalid);
        // A huge entry with V clear faults (Linux's not-yet-accessed huge page).
        let huge = LoongArch4Level4K::leaf_entry(PA, Prot::KERNEL_RW, 2);
        assert_eq!(LoongArch4Level4K::decode(huge & !PTE_V, 2), Entry::Invalid);
        // Reserved MAT 3.
        assert_eq!(LoongArch4Level4K::decode(huge | PTE_MAT, 2), Entry::Invalid);
        // Write-only and execute-only are expressible (NR with D; NR without NX).
        let wo = Prot { read: false, write: true, exec: false, ..Prot::KERNEL_RW };
        assert_eq!(LoongArch4Level4K::check_prot(wo), Ok(()));
        assert_eq!(
            LoongArch4Level4K::decode(LoongArch4Level4K::leaf_entry(PA, wo, 3), 3),
            Entry::Leaf { pa: PA, prot: wo }
        );
        let none = Prot { read: false, write: false, exec: false, ..Prot::KERNEL_RW };
        assert!(matches!(LoongArch4Level4K::check_prot(none), Err(PgError::UnsupportedProt(_))));
    }
}
