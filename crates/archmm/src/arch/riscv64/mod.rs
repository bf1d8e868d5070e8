//! riscv64: a page of the privileged architecture manual and of Linux's arch/riscv/mm.
//!
//! - Physical addresses: 56 bits (Sv39/48/57 PTEs hold a 44-bit PPN).
//! - Firmware: a flattened device tree passed by OpenSBI in a1, which adds its own
//!   `no-map` /reserved-memory regions for M-mode firmware.
//! - Zones: DMA32 up to min(4 GiB, end of RAM), Normal; no ZONE_DMA.
//! - Memory model: SPARSEMEM_VMEMMAP, 128 MiB sections.
//! - Paging: Sv39, Sv48 and Sv57 with Svpbmt memory types ([`RiscvPaging`], at the end).

pub mod qemu;
pub mod refwalk;

use super::{Arch, FirmwareKind};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::physmem::PhysMem;
use crate::zone::ZoneType;

/// RISC-V 64-bit with an `N`-level kernel page table (3: Sv39, 4: Sv48, 5: Sv57).
#[derive(Debug)]
pub struct Riscv<const N: usize>;

/// RISC-V 64-bit with Sv39, the mode every RV64 MMU has.
pub type Riscv64 = Riscv<3>;

/// PMD_SIZE with 4K pages: the kernel's reservation is rounded up to it.
const PMD_SIZE: u64 = 2 << 20;

impl<const N: usize> Arch for Riscv<N> {
    const NAME: &'static str = "riscv64";
    const ALIASES: &'static [&'static str] = &["riscv", "riscv64gc"];
    const MAX_PHYSMEM_BITS: u32 = 56;
    const FIRMWARE: FirmwareKind = FirmwareKind::DeviceTree;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];
    /// The reference kernel's sections: Debian 12 ships no riscv64 kernel: sizes of the order of arm64's (an assumption).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(12288, 2560, 6144, 2048, 512, 65_536);
    /// CONFIG_NODES_SHIFT=2 (the Kconfig default; Debian 12 ships no riscv64 kernel): 4 NUMA nodes.
    const NODES_SHIFT: u32 = 2;
    /// sizeof(pg_data_t): arm64's (arch_numa code, the same
    /// NODES_SHIFT-sized zonelists); Debian 12 ships no riscv64 kernel (an assumption).
    const NODE_DATA_BYTES: u64 = 0x2c80;
    type State = ();
    type Paging = RiscvPaging<N>;
    type UserPaging = RiscvPaging<N>;
    /// TASK_SIZE_64: half the VA space (PGDIR_SIZE * PTRS_PER_PGD / 2).
    const TASK_SIZE: u64 = 1u64 << (9 * N as u32 + 12 - 1);
    /// PAGE_OFFSET_L3/L4/L5 (asm/page.h; Documentation/riscv/vm-layout.rst).
    const PAGE_OFFSET: u64 = match N {
        5 => 0xff60_0000_0000_0000,
        4 => 0xffff_af80_0000_0000,
        _ => 0xffff_ffd8_0000_0000,
    };
    /// The vmemmap of each layout.
    const VMEMMAP_START: u64 = match N {
        5 => 0xff1c_0000_0000_0000,
        4 => 0xffff_8d80_0000_0000,
        _ => 0xffff_ffc7_0000_0000,
    };

    crate::overrides! {
        /// setup_bootmem() caps memory at KERN_VIRT_SIZE - 4 GiB (memblock_enforce_memory_limit), and the
        /// linear map reaches no further than that past phys_ram_base: it has half the kernel VA space
        // setup_bootmem(): memblock_enforce_memory_limit(KERN_VIRT_SIZE - 4 GiB), the most
        // memory the linear map's half of the kernel VA space holds (124 GiB with Sv39);
        // then the generic limits and the linear map.
        fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            // KERN_VIRT_SIZE = PTRS_PER_PGD / 2 * PGDIR_SIZE / 2.
            let kern_virt_size = 1u64 << (9 * N as u32 + 12 - 2);
            let memory_limit = kern_virt_size - (4 << 30);
            ctx.memblock.enforce_memory_limit(memory_limit)?;
            // create_linear_mapping_page_table() maps no further than memory_limit past
            // phys_ram_base; memory beyond it (after a hole) would have no linear address, so
            // it is dropped here rather than handed to the page allocator unmapped.
            let base = ctx.memblock.start_of_dram();
            ctx.memblock.remove(base.saturating_add(memory_limit), u64::MAX)?;
            crate::arch::generic::setup_arch(ctx)
        }

        /// RISC-V RAM does not start at 0 (0x80000000 on QEMU virt): the linear map starts at phys_ram_base,
        /// the start of DRAM (as since Linux 6.4; 6.1's setup_vm() used the kernel's load address, leaving
        /// the free memory below it, where OpenSBI sits, outside the linear map), and the vmemmap at
        /// vmemmap_start_pfn
        // phys_ram_base, the start of DRAM.
        fn linear_map_phys_base<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            ctx.memblock.start_of_dram()
        }

        /// Linux 6.1's arch/riscv/Kconfig does not select ARCH_ENABLE_MEMORY_HOTPLUG (its memory hotplug
        /// support came in a later release, v6.9): hot-add is refused
        const MEMORY_HOTPLUG: bool = false;

        /// the kernel's linear-map alias is mapped read-only with PMD blocks, so its reservation extends to
        /// the next 2 MiB boundary (setup_bootmem)
        const KERNEL_END_ALIGN: u64 = PMD_SIZE;

        /// riscv64 runs the kernel from its own mapping at KERNEL_LINK_ADDR (the top 2 GiB, reachable with
        /// the medany code model), separate from the linear map
        // KERNEL_LINK_ADDR: ADDRESS_SPACE_END - 2 GiB + 1.
        const KERNEL_IMAGE_MAP: Option<crate::protect::ImageMapBase> =
            Some(crate::protect::ImageMapBase::ImageStart(0xffff_ffff_8000_0000));

        /// riscv's ptdump spells the failure 'failed' and prefixes the warning with riscv/mm:
        const WX_FORMAT: Option<crate::protect::WxFormat> = Some(crate::protect::WxFormat {
            found_prefix: "riscv/mm: ",
            checked_prefix: "",
            failed: "failed",
            period: false,
            uxn: false,
        });
    }
}

// ----- paging (privileged architecture, 4.3-4.6: Sv39, Sv48, Sv57; Svpbmt) ----------------

use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};

/// Valid.
pub const PTE_V: u64 = 1 << 0;
/// Readable.
pub const PTE_R: u64 = 1 << 1;
/// Writable.
pub const PTE_W: u64 = 1 << 2;
/// Executable.
pub const PTE_X: u64 = 1 << 3;
/// User-mode accessible.
pub const PTE_U: u64 = 1 << 4;
/// Global.
pub const PTE_G: u64 = 1 << 5;
/// Accessed.
pub const PTE_A: u64 = 1 << 6;
/// Dirty.
pub const PTE_D: u64 = 1 << 7;
/// Where the physical page number starts.
pub const PTE_PPN_SHIFT: u32 = 10;
/// The PPN field, bits 10..53 (Linux's _PAGE_PFN_MASK).
pub const PTE_PPN: u64 = ((1 << 44) - 1) << PTE_PPN_SHIFT;
/// Bits 54..60, reserved: a PTE with any of them set faults.
pub const PTE_RESERVED: u64 = 0x7f << 54;
/// Svpbmt NC: non-cacheable, idempotent, weakly ordered main memory.
pub const PTE_PBMT_NC: u64 = 1 << 61;
/// Svpbmt IO: non-cacheable, non-idempotent, strongly ordered I/O.
pub const PTE_PBMT_IO: u64 = 2 << 61;
/// The PBMT field (value 3 is reserved).
pub const PTE_PBMT: u64 = 3 << 61;
/// Svnapot: part of a naturally aligned power-of-two contiguous range.
pub const PTE_N: u64 = 1 << 63;

/// Sv57's five levels; Sv48 and Sv39 are its last four and three.
const SV57_LEVELS: [Level; 5] = [
    Level { shift: 48, bits: 9, leaf: true },
    Level { shift: 39, bits: 9, leaf: true },
    Level { shift: 30, bits: 9, leaf: true },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];

/// RISC-V page-based virtual memory with `N` levels: Sv39 (3), Sv48 (4) or Sv57 (5).
///
/// The RISC-V Privileged Architecture (version 20211203 and later): 4.3 "Sv32" defines the
/// PTE and the translation process (4.3.1, 4.3.2), 4.4 "Sv39", 4.5 "Sv48" and 4.6 "Sv57"
/// widen them to RV64; the Svpbmt chapter adds page-based memory types.
///
/// satp.MODE selects 8 (Sv39), 9 (Sv48) or 10 (Sv57); satp.PPN is the root table's
/// physical page number. Every table is one 4 KiB page of 512 eight-byte PTEs, indexed by 9
/// VA bits per level (`VPN[i] = va[12 + 9i + 8 : 12 + 9i]`). Virtual addresses must be
/// canonical: bits 63..VA_BITS equal bit VA_BITS-1, else the access faults (4.4.1).
///
/// A PTE (4.4.1, figure "Sv39 page table entry"; identical in Sv48/Sv57):
///
/// | bit   | name  | meaning                                                             |
/// |-------|-------|---------------------------------------------------------------------|
/// | 0     | V     | valid; V=0 faults and every other bit is free for software          |
/// | 1-3   | R W X | permissions; all zero: pointer to the next level; W without R (010, |
/// |       |       | 110) is reserved and faults                                         |
/// | 4     | U     | user-mode accessible (S-mode may touch it only with sstatus.SUM,    |
/// |       |       | and never executes it)                                              |
/// | 5     | G     | global mapping (in every address space, not tagged with the ASID)   |
/// | 6     | A     | accessed                                                            |
/// | 7     | D     | dirty                                                               |
/// | 8-9   | RSW   | reserved for supervisor software                                    |
/// | 10-53 | PPN   | physical page number: PA bits 12..55 (56-bit physical addresses)    |
/// | 54-60 |       | reserved, must be zero (else the walk faults)                       |
/// | 61-62 | PBMT  | Svpbmt: 0 PMA (the platform's attributes), 1 NC (non-cacheable,      |
/// |       |       | idempotent, weakly ordered), 2 IO (non-cacheable, non-idempotent,   |
/// |       |       | strongly ordered), 3 reserved                                       |
/// | 63    | N     | Svnapot contiguous-range hint (not used here)                       |
///
/// Any level may hold a leaf (4.3.2 step 5): Sv39 maps 1 GiB gigapages and 2 MiB megapages,
/// Sv48 adds 512 GiB terapages, Sv57 256 TiB petapages; a leaf's PPN must be aligned to its
/// size ("misaligned superpage", step 6). A pointer at the last level faults (step 4).
///
/// Choices:
/// - A and D are preset on every leaf, as in Linux's PAGE_KERNEL family (_PAGE_KERNEL has
///   both, PAGE_KERNEL_READ keeps D). Hardware without Svadu (the usual case, "Svade")
///   raises a page fault instead of setting A/D; the engine has no fault handler to set
///   them lazily, so mappings are created accessed and dirty. Linux's user PAGE_SHARED
///   leaves D clear until the first write fault; here it is set.
/// - Non-leaf PTEs are V alone (Linux's PAGE_TABLE): D, A, U and PBMT are reserved there.
/// - Memory types assume Svpbmt (Linux uses PBMT when the hart reports Svpbmt, through the
///   ALT_SVPBMT alternative; T-Head's pre-standard encoding in bits 59-63 is not modelled).
///   WriteCombine is NC (pgprot_writecombine = _PAGE_NOCACHE_SVPBMT), Device is IO
///   (_PAGE_IOREMAP = _PAGE_IO_SVPBMT). On a hart without Svpbmt bits 61-62 are reserved:
///   such a kernel may only use MemType::Normal and leaves memory types to the PMAs.
/// - Prot the format cannot express: write without read (reserved encoding).
#[derive(Debug)]
pub struct RiscvPaging<const N: usize>;

/// Sv39: 39-bit canonical VA, 1G/2M/4K pages (satp.MODE 8).
pub type Sv39 = RiscvPaging<3>;
/// Sv48: 48-bit canonical VA, 512G/1G/2M/4K pages (satp.MODE 9).
pub type Sv48 = RiscvPaging<4>;
/// Sv57: 57-bit canonical VA, 256T/512G/1G/2M/4K pages (satp.MODE 10).
pub type Sv57 = RiscvPaging<5>;

impl<const N: usize> PagingMode for RiscvPaging<N> {
    const NAME: &'static str = match N {
        3 => "riscv64-sv39",
        4 => "riscv64-sv48",
        _ => "riscv64-sv57",
    };
    const LEVELS: &'static [Level] = SV57_LEVELS.split_at(SV57_LEVELS.len() - N).1;
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = 12 + 9 * N as u32;
    const VA_RANGE: VaRange = VaRange::Canonical;
    const PA_BITS: u32 = 56;

    fn table_entry(pa: u64, _level: usize) -> u64 {
        PTE_V | ((pa >> 12) << PTE_PPN_SHIFT)
    }

    fn leaf_entry(pa: u64, prot: Prot, _level: usize) -> u64 {
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let pbmt = match prot.mem {
            MemType::Normal => 0,
            MemType::WriteCombine => PTE_PBMT_NC,
            MemType::Device => PTE_PBMT_IO,
        };
        PTE_V
            | PTE_A
            | PTE_D
            | bit(prot.read, PTE_R)
            | bit(prot.write, PTE_W)
            | bit(prot.exec, PTE_X)
            | bit(prot.user, PTE_U)
            | bit(prot.global, PTE_G)
            | pbmt
            | ((pa >> 12) << PTE_PPN_SHIFT)
    }

    fn decode(raw: u64, level: usize) -> Entry {
        // 4.3.2 step 3: V=0, or W without R, faults; so do reserved bits and encodings.
        if raw & PTE_V == 0
            || raw & (PTE_R | PTE_W) == PTE_W
            || raw & (PTE_RESERVED | PTE_N) != 0
            || raw & PTE_PBMT == PTE_PBMT
        {
            return Entry::Invalid;
        }
        let pa = ((raw & PTE_PPN) >> PTE_PPN_SHIFT) << 12;
        if raw & (PTE_R | PTE_W | PTE_X) == 0 {
            // A pointer: faults at the last level (step 4) or with PBMT set (Svpbmt).
            if level + 1 == N || raw & PTE_PBMT != 0 {
                return Entry::Invalid;
            }
            return Entry::Table(pa);
        }
        // Step 6: a superpage whose PPN is not aligned to its size faults.
        if pa & (Self::LEVELS[level].span() - 1) != 0 {
            return Entry::Invalid;
        }
        let mem = match raw & PTE_PBMT {
            0 => MemType::Normal,
            PTE_PBMT_NC => MemType::WriteCombine,
            _ => MemType::Device,
        };
        Entry::Leaf {
            pa,
            prot: Prot {
                read: raw & PTE_R != 0,
                write: raw & PTE_W != 0,
                exec: raw & PTE_X != 0,
                user: raw & PTE_U != 0,
                global: raw & PTE_G != 0,
                mem,
            },
        }
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        if !prot.read && !prot.write && !prot.exec {
            return Err(PgError::UnsupportedProt("no access at all: unmap instead"));
        }
        if prot.write && !prot.read {
            return Err(PgError::UnsupportedProt("riscv reserves W without R (RWX = 010 and 110)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;

    const PA: u64 = 0x8020_0000;
    // PPN field of PA: (PA >> 12) << 10.
    const PPN: u64 = PA >> 2;

    #[test]
    fn linux_page_kernel_encodings() {
        // Linux's _PAGE_KERNEL = R|W|V|A|D|G = 0x02|0x04|0x01|0x40|0x80|0x20 = 0xe7.
        assert_eq!(Sv39::leaf_entry(PA, Prot::KERNEL_RW, 2), PPN | 0xe7);
        // PAGE_KERNEL_READ = _PAGE_KERNEL & ~_PAGE_WRITE = 0xe3.
        assert_eq!(Sv39::leaf_entry(PA, Prot::KERNEL_RO, 2), PPN | 0xe3);
        // PAGE_KERNEL_READ_EXEC = 0xe3 | _PAGE_EXEC (0x08) = 0xeb.
        assert_eq!(Sv48::leaf_entry(PA, Prot::KERNEL_RX, 3), PPN | 0xeb);
        // _PAGE_IOREMAP = (_PAGE_KERNEL & ~_PAGE_MTMASK) | _PAGE_IO_SVPBMT (1 << 62).
        assert_eq!(Sv57::leaf_entry(PA, Prot::KERNEL_DEVICE, 4), (1 << 62) | PPN | 0xe7);
        // pgprot_writecombine: _PAGE_NOCACHE_SVPBMT (1 << 61).
        let wc = Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW };
        assert_eq!(Sv39::leaf_entry(PA, wc, 2), (1 << 61) | PPN | 0xe7);
        // Linux's PAGE_SHARED = V|A|U|R|W = 0x57; D (0x80) preset here, see the choices.
        assert_eq!(Sv39::leaf_entry(PA, Prot::USER_RW, 2), PPN | 0xd7);
        // PAGE_TABLE = _PAGE_TABLE = _PAGE_PRESENT: a pointer is V and the PPN only.
        assert_eq!(Sv39::table_entry(PA, 0), PPN | 0x01);
    }

    #[test]
    fn geometry() {
        assert_eq!((Sv39::VA_BITS, Sv48::VA_BITS, Sv57::VA_BITS), (39, 48, 57));
        assert_eq!(Sv39::LEVELS.iter().map(|l| l.shift).collect::<Vec<_>>(), [30, 21, 12]);
        assert_eq!(Sv57::LEVELS[0].span(), 1 << 48, "256 TiB petapages");
        assert!(Sv48::LEVELS.iter().all(|l| l.leaf && l.bits == 9));
        assert_eq!(Sv39::table_bytes(0), 4096);
    }

    #[test]
    fn reserved_encodings_fault() {
        let leaf = Sv39::leaf_entry(PA, Prot::KERNEL_RW, 2);
        // W without R.
        assert_eq!(Sv39::decode(leaf & !PTE_R, 2), Entry::Invalid);
        // PBMT = 3, reserved bits 54..60, N without Svnapot.
        assert_eq!(Sv39::decode(leaf | PTE_PBMT, 2), Entry::Invalid);
        assert_eq!(Sv39::decode(leaf | (1 << 54), 2), Entry::Invalid);
        assert_eq!(Sv39::decode(leaf | PTE_N, 2), Entry::Invalid);
        // A pointer at the last level; a misaligned 2M megapage.
        assert_eq!(Sv39::decode(Sv39::table_entry(PA, 1), 2), Entry::Invalid);
        assert_eq!(Sv39::decode(Sv39::leaf_entry(PA + 0x1000, Prot::KERNEL_RW, 2), 1), Entry::Invalid);
        // V clear.
        assert_eq!(Sv39::decode(leaf & !PTE_V, 2), Entry::Invalid);
        assert_eq!(
            Sv39::check_prot(Prot { read: false, ..Prot::KERNEL_RW }),
            Err(PgError::UnsupportedProt("riscv reserves W without R (RWX = 010 and 110)"))
        );
        // Execute-only is a valid encoding (X alone).
        assert!(Sv39::check_prot(Prot { read: false, write: false, exec: true, ..Prot::KERNEL_RW }).is_ok());
    }
}
