//! s390 (z/Architecture): dynamic address translation, a page of the Principles of
//! Operation (SA22-7832, chapter 3 "Storage", "Dynamic Address Translation") and of Linux's
//! arch/s390 (asm/pgtable.h, asm/pgalloc.h, mm/pgalloc.c).
//!
//! # Bit numbering and byte order
//! The POP numbers bits from the left: bit 0 is the most significant bit of a doubleword,
//! bit 63 the least. Below, "bit n" is the POP's number and the value in parentheses the
//! mask in ordinary (LSB = 1) notation, as Linux writes it. Tables are big-endian in
//! storage: the engine reads and writes entries as little-endian words, so every encoding
//! here is byte-swapped (`u64::swap_bytes`) and the bytes in memory are the machine's.
//!
//! # The hierarchy
//! A virtual address is split into region-first index RFX (bits 0-10), region-second RSX
//! (11-21), region-third RTX (22-32), segment index SX (33-43), page index PX (44-51) and
//! byte index (52-63). The address-space-control element (ASCE, in control registers 1, 7
//! and 13) holds the origin of the top table, its designation type DT (bits 60-61: 11
//! region-first, 10 region-second, 01 region-third, 00 segment table) and its length TL.
//! The hierarchy therefore starts wherever the ASCE says: an address space of 2^42 bytes
//! has a region-third table as root, 2^53 a region-second, 2^64 a region-first. Addresses
//! beyond the root's reach raise an ASCE-type exception (the translated range is `[0,
//! 2^VA_BITS)`: [`VaRange::Low`]).
//!
//! | table         | entries | bytes | one entry maps | leaf with               |
//! |---------------|---------|-------|----------------|-------------------------|
//! | region-first  | 2048    | 16K   | 8 PiB          | -                       |
//! | region-second | 2048    | 16K   | 4 TiB          | -                       |
//! | region-third  | 2048    | 16K   | 2 GiB          | EDAT-2 (FC=1), zEC12+   |
//! | segment       | 2048    | 16K   | 1 MiB          | EDAT-1 (FC=1), z10+     |
//! | page          | 256     | 2K    | 4 KiB          | always                  |
//!
//! Modes: `s390x-3level` (region-third root, 42-bit VA, 4 TiB), `s390x-4level`
//! (region-second root, 53-bit VA, 8 PiB), `s390x-5level` (region-first root, the full
//! 64-bit space). Linux grows an mm's hierarchy on demand (crst_table_upgrade: 3 levels to
//! 4 to 5, changing the ASCE) and its pgd_offset() "does its own magic": it reads the
//! table type of the top table's first entry to learn which level the pgd really is
//! (shift = TT * 11 + 20), and p4d/pud_offset only index if the level above was real.
//! Here that runtime discovery is geometry: each mode lists its real levels from its root
//! down, so one walker indexes every level the same way and the root's type is a property
//! of the mode.
//!
//! Page tables are 2 KiB: two fit in a 4 KiB page. Linux's page_table_alloc() carves them
//! in halves (the other half holds the PGSTEs for KVM guests); the engine's
//! [`crate::pgtable::FragmentAlloc`] does the same generically. Region and segment tables
//! ("crst" tables) are four pages, allocated as an order-2 block.
//!
//! # Entries
//! Invalid entries are marked by an invalid bit, the opposite of a valid bit: an all-zero
//! entry is a valid one (a segment-table entry pointing at a page table at 0, a page-table
//! entry mapping page 0 writable). Empty entries are therefore written as Linux's
//! _PAGE_INVALID / _SEGMENT_ENTRY_EMPTY / _REGIONn_ENTRY_EMPTY (invalid bit plus the table
//! type), through [`PagingMode::empty_entry`], and new tables are filled with them.
//!
//! Region-table entry (pointing to the next table):
//! - bits 0-51 (`!0xfff`): origin of the next-lower table (4K aligned)
//! - bit 54 (0x200) P: DAT protection for the whole region (not used here)
//! - bits 56-57 (0xc0) TF: table offset, bits 62-63 (0x03) TL: table length, in 4K units:
//!   which quarter of the next table exists. Full tables here: TF=0, TL=3.
//! - bit 58 (0x20) I: region invalid
//! - bits 60-61 (0x0c) TT: table type, must match the level: 11 first, 10 second, 01 third
//!
//! Region-third entry with FC=1 (EDAT-2, a 2 GiB leaf): bits 0-32 (`!0x7fff_ffff`) region
//! frame address, bit 53 (0x400) FC, bit 54 (0x200) P (write protection), bit 55 (0x100)
//! IEP (instruction-execution protection), bit 58 (0x20) I, TT=01; bit 47 (0x10000) AV=0
//! leaves the access-control and fetch-protection bits 48-52 (0xf800) unused by hardware.
//!
//! Segment-table entry: FC=0: bits 0-52 (`!0x7ff`) page-table origin (2K aligned), bit 58
//! (0x20) I, bit 59 (0x10) CS (common segment), TT=00. FC=1 (EDAT-1, a 1 MiB leaf): bits
//! 0-43 (`!0xfffff`) segment frame address, FC, P, IEP, I as above, AV=0 again.
//!
//! Page-table entry: bits 0-51 (`!0xfff`) page frame real address, bit 52 (0x800) must be
//! 0, bit 53 (0x400) I, bit 54 (0x200) P, bit 55 (0x100) IEP, bits 56-63 (0xff) available
//! to software.
//!
//! The DAT tables carry no user/supervisor distinction and no memory types, and protection
//! can only forbid stores (P) and instruction fetches (IEP, with the
//! instruction-execution-protection facility of the z14 enabled in CR0): a valid page is
//! always readable. Reference and change bits live in the storage key of each frame, not
//! in the entries.
//!
//! # Choices
//! - Leaves also carry Linux's software bits so they equal Linux's definitions: page
//!   entries _PAGE_PRESENT (0x1), _PAGE_YOUNG (0x4), _PAGE_READ (0x10), and for writable
//!   pages _PAGE_WRITE (0x20) and _PAGE_DIRTY (0x8) (PAGE_KERNEL = 0x13d); large segment
//!   entries _SEGMENT_ENTRY_READ (0x1), _WRITE (0x2), _YOUNG (0x1000), _DIRTY (0x2000)
//!   (SEGMENT_KERNEL = 0x3503); large region-third entries _REGION3_ENTRY_READ (0x2),
//!   _WRITE (0x1), _YOUNG, _DIRTY (REGION3_KERNEL = 0x3507).
//! - `Prot::user` has no DAT equivalent (user and kernel live in different address spaces:
//!   Linux runs user code in the primary space of the process's ASCE, the kernel in its
//!   own). It is recorded in a bit the hardware ignores so that it round-trips: 0x80 of a
//!   page entry (Linux uses it only for KVM's guest page-state hints), 0x8000 of a large
//!   entry (access-control bits, ignored with AV=0).
//! - `Prot::global` has no per-page control either: TLB entries belong to the ASCE they
//!   were formed under; the kernel's address space is never switched away, so its
//!   translations behave as global, a process's as tagged. Modelled as global = !user;
//!   other combinations are refused.
//! - Refused: no read access, memory types other than Normal (s390 I/O is not memory
//!   mapped: channel programs and the PCI load/store instructions).
//! - IEP is set for non-executable pages, as Linux does when the machine has the facility
//!   (MACHINE_HAS_NX); on older machines a kernel must not ask for non-executable pages
//!   or must clear bit 55 itself.

pub mod qemu;
pub mod refwalk;

use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};

/// Region/segment-table entry: invalid.
pub const CRST_I: u64 = 0x20;
/// Region/segment-table entry: table type field.
pub const CRST_TT: u64 = 0x0c;
/// Region-table entry: table length (full table: 3).
pub const REGION_TL: u64 = 0x03;
/// Region/segment entry: format control (large page, EDAT-1/2).
pub const CRST_FC: u64 = 0x400;
/// Protection (page, segment and region entries).
pub const DAT_P: u64 = 0x200;
/// Instruction-execution protection (page and large entries).
pub const DAT_IEP: u64 = 0x100;
/// Page-table entry: invalid.
pub const PTE_I: u64 = 0x400;
/// Page-table entry: bit 52, must be zero.
pub const PTE_ZERO: u64 = 0x800;
/// Page-table entry: software present (Linux _PAGE_PRESENT).
pub const PTE_SW_PRESENT: u64 = 0x001;
/// Page-table entry: software young (Linux _PAGE_YOUNG).
pub const PTE_SW_YOUNG: u64 = 0x004;
/// Page-table entry: software dirty (Linux _PAGE_DIRTY).
pub const PTE_SW_DIRTY: u64 = 0x008;
/// Page-table entry: software read (Linux _PAGE_READ).
pub const PTE_SW_READ: u64 = 0x010;
/// Page-table entry: software write (Linux _PAGE_WRITE).
pub const PTE_SW_WRITE: u64 = 0x020;
/// Page-table entry: software, this crate's `Prot::user`.
pub const PTE_SW_USER: u64 = 0x080;
/// Large entry: software young (Linux _SEGMENT_ENTRY_YOUNG / _REGION3_ENTRY_YOUNG).
pub const LARGE_SW_YOUNG: u64 = 0x1000;
/// Large entry: software dirty.
pub const LARGE_SW_DIRTY: u64 = 0x2000;
/// Large entry: software, this crate's `Prot::user` (an access-control bit, unused with AV=0).
pub const LARGE_SW_USER: u64 = 0x8000;

/// The five tables, region-first first; a mode with `N` levels uses the last `N`.
const S390_LEVELS: [Level; 5] = [
    Level { shift: 53, bits: 11, leaf: false },
    Level { shift: 42, bits: 11, leaf: false },
    Level { shift: 31, bits: 11, leaf: true },
    Level { shift: 20, bits: 11, leaf: true },
    Level { shift: 12, bits: 8, leaf: true },
];

/// What a table is, from its position in the full five-level hierarchy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// Region table with its TT value (R1 0x0c, R2 0x08, R3 0x04).
    Region(u64),
    Segment,
    Page,
}

// ----- the bring-up (arch/s390/kernel/setup.c, arch/s390/boot/startup.c, mm/init.c) ------

use super::{Arch, FirmwareKind};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

/// s390x with an `N`-level kernel ASCE. Linux 6.1 lays its kernel address space out at boot
/// (setup_kernel_memory_layout()): with the default 512 GiB of vmalloc and less than about
/// 3.5 TiB of memory everything fits below 4 TiB and the kernel ASCE is a region-third
/// table (3 levels); above that, a region-second table (4 levels). Linux never gives the
/// kernel 5 levels (only user address spaces grow to a region-first table); `S390<5>` boots
/// with the 4-level layout in a region-first table, which the hardware accepts.
#[derive(Debug)]
pub struct S390<const N: usize>;

/// s390x as a QEMU guest of ordinary size boots: 3 levels.
pub type S390x = S390<3>;

/// MAX_DMA_ADDRESS: 31-bit addressable storage (2 GiB), for channel I/O of 31-bit devices.
pub const MAX_DMA_ADDRESS: u64 = 0x8000_0000;
/// STARTUP_NORMAL_OFFSET: the lowcore and IPL data below it stay reserved.
pub const STARTUP_NORMAL_OFFSET: u64 = 0x1_0000;

/// setup_kernel_memory_layout() with vmalloc_size = VMALLOC_DEFAULT_SIZE (512 GiB - 2 GiB
/// of modules): vmax = 4 TiB (3 levels) or 8 PiB (4 levels); MODULES_END just below the
/// memcpy_real page and the absolute lowcore area; VMALLOC_START = MODULES_END - 2 GiB -
/// 510 GiB; the vmemmap below it, sized for all of the remaining space at 64 bytes per
/// 4 KiB page, rounded down to a top-level region entry (2 GiB, 4 TiB), and at most
/// 2^MAX_PHYSMEM_BITS. For 3 levels: VMALLOC_START = 0x37f_fd00_000 (NR_CPUS 512 moves only
/// the low bits), 0x37f_fd00_000 - (its pages, section-aligned) * 64 rounded down to 2 GiB =
/// 0x372_0000_0000. For 4 levels the result is far above 2^46, so 2^46.
const fn s390_vmemmap_start(levels: usize) -> u64 {
    if levels == 3 {
        0x372_0000_0000
    } else {
        1 << 46
    }
}

impl<const N: usize> Arch for S390<N> {
    const NAME: &'static str = "s390";
    /// Rust's target_arch and Debian's port name.
    const ALIASES: &'static [&'static str] = &["s390x"];
    /// CONFIG_MAX_PHYSMEM_BITS default.
    const MAX_PHYSMEM_BITS: u32 = 46;
    const SECTION_SIZE_BITS: u32 = 28;
    /// HUGETLB_PAGE_ORDER: 1 MiB segments.
    const PAGEBLOCK_ORDER: u32 = 8;
    const FIRMWARE: FirmwareKind = FirmwareKind::Sclp;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Normal, ZoneType::Movable];
    /// The reference kernel's sections: Debian's 6.1.0-50-s390x under QEMU s390-ccw-virtio.
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(10116, 1688, 2568, 3604, 692, 90_624);
    type State = ();
    type Paging = S390Paging<N>;
    type UserPaging = S390Paging<N>;
    /// The user ASCE limit: a 3-level kernel gives 4 TiB, otherwise region-second (8 PiB).
    const TASK_SIZE: u64 = if N == 3 { 1 << 42 } else { 1 << 53 };
    /// 6.1 runs the kernel in an identity mapping: virtual = real.
    const PAGE_OFFSET: u64 = 0;
    const VMEMMAP_START: u64 = s390_vmemmap_start(N);

    crate::overrides! {
        /// s390's setup_arch() dumps memblock (memblock=debug) right after memory detection and
        /// setup_memory_end(), not after the zones (archmm does not print that earlier dump yet)
        const MEMBLOCK_DUMP_AFTER_ZONES: bool = false;

        /// memory blocks are at least the SCLP storage increment (max(MIN_MEMORY_BLOCK_SIZE, sclp.rzm),
        /// arch/s390/mm/init.c); QEMU's increment is the smallest power of two from 1 MiB that describes RAM
        /// in at most 1020 increments
        fn memory_block_size_bytes<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            memory_block_size(ctx.memblock.end_of_dram(), 1 << Self::SECTION_SIZE_BITS)
        }

        /// user space runs in its own address space (user ASCE in CR7/CR13), the kernel in the home space
        /// with its own ASCE
        const USER_SHARE: crate::uspace::KernelShare = crate::uspace::KernelShare::SeparateRoot;

        /// the lowcore (the prefix area every CPU's interrupts use) and the IPL startup data occupy the first
        /// 64 KiB (reserve_kernel)
        fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            crate::arch::generic::early_reserve_memory(ctx)?;
            ctx.memblock.reserve(0, STARTUP_NORMAL_OFFSET)?;
            Ok(())
        }

        /// s390 firmware describes no NUMA topology and s390's CONFIG_NUMA is off by default: all storage is
        /// node 0
        const NUMA: bool = false;

        /// ZONE_DMA is the 31-bit addressable storage that 31-bit channel I/O can reach (2 GiB, whatever the
        /// machine has), Normal the rest
        fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
            let mut z = [0u64; MAX_NR_ZONES];
            z[ZoneType::Dma as usize] = MAX_DMA_ADDRESS >> 12;
            z[ZoneType::Normal as usize] = ctx.max_low_pfn;
            z
        }

        /// z/Architecture cache lines are 256 bytes
        // L1_CACHE_BYTES on z/Architecture.
        const SMP_CACHE_BYTES: u64 = 256;

        /// setup_kernel_memory_layout() sizes the kernel's ASCE at boot: 3 levels (4 TiB) while the identity
        /// map of memory stays below the 3-level vmemmap, else 4 levels
        fn kernel_mode_for(ram_end: u64) -> &'static str {
            if ram_end <= s390_vmemmap_start(3) {
                <S390Paging<3> as PagingMode>::NAME
            } else {
                <S390Paging<4> as PagingMode>::NAME
            }
        }
    }
}

/// s390x DAT with 4K pages and `N` table levels: 3 (region-third root), 4 (region-second)
/// or 5 (region-first).
#[derive(Debug)]
pub struct S390Paging<const N: usize>;

/// Region-third root: 42-bit (4 TiB) address space.
pub type S390x3Level = S390Paging<3>;
/// Region-second root: 53-bit (8 PiB) address space.
pub type S390x4Level = S390Paging<4>;
/// Region-first root: the whole 64-bit address space.
pub type S390x5Level = S390Paging<5>;

impl<const N: usize> S390Paging<N> {
    fn table(level: usize) -> Table {
        match 5 - N + level {
            0 => Table::Region(0x0c),
            1 => Table::Region(0x08),
            2 => Table::Region(0x04),
            3 => Table::Segment,
            _ => Table::Page,
        }
    }

    /// The value in the POP's (big-endian) order of a leaf at a table of kind `t`.
    fn leaf_value(pa: u64, prot: Prot, t: Table) -> u64 {
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let hw = bit(!prot.write, DAT_P) | bit(!prot.exec, DAT_IEP);
        match t {
            Table::Page => {
                let sw = PTE_SW_PRESENT
                    | PTE_SW_YOUNG
                    | PTE_SW_READ
                    | bit(prot.write, PTE_SW_WRITE | PTE_SW_DIRTY)
                    | bit(prot.user, PTE_SW_USER);
                (pa & !0xfff) | hw | sw
            }
            Table::Segment => {
                // _SEGMENT_ENTRY_READ 0x1, _WRITE 0x2.
                let sw = 0x1 | LARGE_SW_YOUNG | bit(prot.write, 0x2 | LARGE_SW_DIRTY) | bit(prot.user, LARGE_SW_USER);
                (pa & !0xf_ffff) | CRST_FC | hw | sw
            }
            Table::Region(tt) => {
                // _REGION3_ENTRY_READ 0x2, _WRITE 0x1.
                let sw = 0x2 | LARGE_SW_YOUNG | bit(prot.write, 0x1 | LARGE_SW_DIRTY) | bit(prot.user, LARGE_SW_USER);
                (pa & !0x7fff_ffff) | tt | CRST_FC | hw | sw
            }
        }
    }

    fn decode_value(v: u64, level: usize) -> Entry {
        let t = Self::table(level);
        let (user_bit, frame) = match t {
            Table::Page => {
                if v & (PTE_I | PTE_ZERO) != 0 {
                    return Entry::Invalid;
                }
                (PTE_SW_USER, !0xfff)
            }
            Table::Segment | Table::Region(_) => {
                let tt = if let Table::Region(tt) = t { tt } else { 0 };
                // An invalid entry, or a table type that does not match the level
                // (translation-specification exception).
                if v & CRST_I != 0 || v & CRST_TT != tt {
                    return Entry::Invalid;
                }
                if v & CRST_FC == 0 || !Self::LEVELS[level].leaf {
                    let origin = if t == Table::Segment { !0x7ff } else { !0xfff };
                    return Entry::Table(v & origin);
                }
                (LARGE_SW_USER, !(Self::LEVELS[level].span() - 1))
            }
        };
        let user = v & user_bit != 0;
        Entry::Leaf {
            pa: v & frame,
            prot: Prot {
                read: true,
                write: v & DAT_P == 0,
                exec: v & DAT_IEP == 0,
                user,
                global: !user,
                mem: MemType::Normal,
            },
        }
    }
}

impl<const N: usize> PagingMode for S390Paging<N> {
    const NAME: &'static str = match N {
        3 => "s390x-3level",
        4 => "s390x-4level",
        _ => "s390x-5level",
    };
    const LEVELS: &'static [Level] = S390_LEVELS.split_at(S390_LEVELS.len() - N).1;
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = 20 + 11 * (N as u32 - 1);
    const VA_RANGE: VaRange = VaRange::Low;
    const PA_BITS: u32 = 64;

    /// The hardware is big-endian: entries are stored byte-swapped.
    const BIG_ENDIAN: bool = true;
    fn table_entry(pa: u64, level: usize) -> u64 {
        let v = match Self::table(level) {
            // _REGIONn_ENTRY: TT | TL=3 (the whole next table), TF=0.
            Table::Region(tt) => (pa & !0xfff) | tt | REGION_TL,
            // _SEGMENT_ENTRY = 0: the page-table origin alone.
            _ => pa & !0x7ff,
        };
        v.swap_bytes()
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        Self::leaf_value(pa, prot, Self::table(level)).swap_bytes()
    }

    fn decode(raw: u64, level: usize) -> Entry {
        Self::decode_value(raw.swap_bytes(), level)
    }

    fn empty_entry(level: usize) -> u64 {
        let v = match Self::table(level) {
            // _REGIONn_ENTRY_EMPTY = TT | I.
            Table::Region(tt) => tt | CRST_I,
            // _SEGMENT_ENTRY_EMPTY = I.
            Table::Segment => CRST_I,
            // _PAGE_INVALID.
            Table::Page => PTE_I,
        };
        v.swap_bytes()
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        if !prot.read {
            return Err(PgError::UnsupportedProt("s390 DAT cannot deny reads: a valid page is always readable"));
        }
        if prot.mem != MemType::Normal {
            return Err(PgError::UnsupportedProt("s390 DAT has no memory types: I/O is not memory mapped"));
        }
        if prot.global == prot.user {
            return Err(PgError::UnsupportedProt(
                "s390 has no per-page global bit: kernel pages are global, user pages per address space",
            ));
        }
        Ok(())
    }

    fn level_names() -> &'static [&'static str] {
        // Linux's names for the s390 tables: pgd/p4d/pud are region-first/second/third,
        // pmd the segment table, pte the page table; folded levels are absent.
        const NAMES: [&str; 5] = ["pgd", "p4d", "pud", "pmd", "pte"];
        NAMES.split_at(5 - N).1
    }
}

/// s390's memory_block_size_bytes(): max(MIN_MEMORY_BLOCK_SIZE, sclp.rzm), with the
/// storage increment QEMU's SCLP reports for `ram` bytes (the smallest power of two from
/// 1 MiB giving at most 1020 increments).
pub fn memory_block_size(ram: u64, min: u64) -> u64 {
    let mut inc = 20u32;
    while inc < 63 && (ram >> inc) > 1020 {
        inc += 1;
    }
    min.max(1u64 << inc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PA: u64 = 0x1234_0000_0000;

    /// The entry as the machine sees it (big-endian storage read as a doubleword).
    fn be(raw: u64) -> u64 {
        raw.swap_bytes()
    }

    #[test]
    fn linux_page_kernel_encodings() {
        // PAGE_KERNEL = _PAGE_PRESENT|_PAGE_READ|_PAGE_WRITE|_PAGE_YOUNG|_PAGE_DIRTY|
        // _PAGE_NOEXEC = 0x1|0x10|0x20|0x4|0x8|0x100 = 0x13d.
        assert_eq!(be(S390x3Level::leaf_entry(PA, Prot::KERNEL_RW, 2)), PA | 0x13d);
        // PAGE_KERNEL_RO = PRESENT|READ|YOUNG|PROTECT|NOEXEC = 0x1|0x10|0x4|0x200|0x100.
        assert_eq!(be(S390x3Level::leaf_entry(PA, Prot::KERNEL_RO, 2)), PA | 0x315);
        // PAGE_KERNEL_EXEC = PAGE_KERNEL without NOEXEC; read-only text: 0x315 - 0x100.
        assert_eq!(be(S390x4Level::leaf_entry(PA, Prot::KERNEL_RX, 3)), PA | 0x215);
        // SEGMENT_KERNEL = _SEGMENT_ENTRY (0) | LARGE (0x400) | READ (0x1) | WRITE (0x2) |
        // YOUNG (0x1000) | DIRTY (0x2000) | NOEXEC (0x100) = 0x3503.
        assert_eq!(be(S390x3Level::leaf_entry(PA, Prot::KERNEL_RW, 1)), PA | 0x3503);
        // SEGMENT_KERNEL_RO = LARGE | READ | YOUNG | PROTECT | NOEXEC = 0x1701.
        assert_eq!(be(S390x5Level::leaf_entry(PA, Prot::KERNEL_RO, 3)), PA | 0x1701);
        // REGION3_KERNEL = TYPE_R3 (0x4) | LARGE | READ (0x2) | WRITE (0x1) | YOUNG |
        // DIRTY | NOEXEC = 0x3507.
        assert_eq!(be(S390x3Level::leaf_entry(PA, Prot::KERNEL_RW, 0)), PA | 0x3507);
        // A user page: PAGE_SHARED (0x13d) plus this crate's software user bit 0x80.
        assert_eq!(be(S390x3Level::leaf_entry(PA, Prot::USER_RW, 2)), PA | 0x1bd);
    }

    #[test]
    fn table_entries_and_empty_entries() {
        // pud_populate: __pa(pmd) | _REGION3_ENTRY (TT_R3 0x4 | LENGTH 0x3).
        assert_eq!(be(S390x3Level::table_entry(PA, 0)), PA | 0x07);
        // p4d_populate (R2 entry): TT 0x8 | TL 3; pgd_populate (R1): 0xc | 3.
        assert_eq!(be(S390x4Level::table_entry(PA, 0)), PA | 0x0b);
        assert_eq!(be(S390x5Level::table_entry(PA, 0)), PA | 0x0f);
        // pmd_populate: the page-table origin, 2K aligned, _SEGMENT_ENTRY = 0.
        assert_eq!(be(S390x5Level::table_entry(PA + 0x800, 3)), PA + 0x800);
        // Empty entries: _REGION1/2/3_ENTRY_EMPTY = TT | I, _SEGMENT_ENTRY_EMPTY = I,
        // pte_none = _PAGE_INVALID.
        let empties: Vec<u64> = (0..5).map(|l| be(S390x5Level::empty_entry(l))).collect();
        assert_eq!(empties, [0x2c, 0x28, 0x24, 0x20, 0x400]);
        for l in 0..5 {
            assert_eq!(S390x5Level::decode(S390x5Level::empty_entry(l), l), Entry::Invalid);
        }
        // An all-zero entry is valid: a page-table entry mapping page 0 writable and
        // executable, a segment entry pointing at a page table at 0.
        assert_eq!(S390x3Level::decode(0, 2), Entry::Leaf { pa: 0, prot: Prot { exec: true, ..Prot::KERNEL_RW } });
        assert_eq!(S390x3Level::decode(0, 1), Entry::Table(0));
        // ...but not a region-third entry: its TT must be 01.
        assert_eq!(S390x3Level::decode(0, 0), Entry::Invalid);
        // Bytes in memory are big-endian: the invalid bit of a PTE is in byte 6.
        assert_eq!(S390x3Level::empty_entry(2).to_le_bytes(), [0, 0, 0, 0, 0, 0, 0x04, 0]);
    }

    #[test]
    fn geometry_and_refusals() {
        assert_eq!((S390x3Level::VA_BITS, S390x4Level::VA_BITS, S390x5Level::VA_BITS), (42, 53, 64));
        assert_eq!(S390x3Level::table_bytes(2), 2048, "2K page tables");
        assert_eq!(S390x3Level::table_bytes(0), 16384, "16K region/segment tables");
        assert_eq!(S390x4Level::level_names(), ["p4d", "pud", "pmd", "pte"]);
        assert!(S390x3Level::check_prot(Prot::KERNEL_DEVICE).is_err());
        assert!(S390x3Level::check_prot(Prot { read: false, ..Prot::KERNEL_RW }).is_err());
        assert!(S390x3Level::check_prot(Prot { global: false, ..Prot::KERNEL_RW }).is_err());
        assert!(S390x3Level::check_prot(Prot::USER_RW).is_ok());
    }
}
