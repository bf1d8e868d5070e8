//! i386 (IA-32): a page of the Intel SDM and of Linux's arch/x86 32-bit memory setup.
//!
//! - Physical addresses: 32 bits without PAE; with PAE the entries hold up to 52 bits
//!   (MAXPHYADDR; Linux's `__PHYSICAL_MASK_SHIFT` 52) while Linux's memory model covers 36
//!   (`MAX_PHYSMEM_BITS`).
//! - Firmware: the BIOS e820 table, as on x86-64.
//! - Zones: DMA below 16 MiB (ISA DMA), Normal for lowmem (directly mapped, 896 MiB with
//!   the 3G/1G split), HighMem above it.
//! - Paging: [`I386Paging`], 32-bit paging (`i386-2level`, SDM vol. 3A 4.3) or PAE paging
//!   (`i386-pae`, 4.4). The entry bits are x86-64's ([`super::x86_64`]), and so are the
//!   encoder and decoder: present, R/W, U/S, PWT/PCD for the memory type (Linux's PAT
//!   layout: WB 0, WC 1, UC 3), accessed, dirty, PS for a large page, global, and with PAE
//!   execute-disable in bit 63 (IA32_EFER.NXE = 1, as Linux sets it when the CPU has NX).
//!
//! # 32-bit paging (SDM 4.3)
//! CR3 points to a page directory of 1024 4-byte entries, each covering 4 MiB: a pointer
//! to a page table (1024 entries of 4 KiB) or, with CR4.PSE and PS = 1, a 4 MiB page
//! (bits 31:22; the PAT bit moves to bit 12). PSE-36 (PA bits 39:32 in PDE bits 20:13) is
//! not used: Linux's non-PAE kernel keeps physical memory below 4 GiB, so this mode's PA
//! is 32 bits.
//!
//! There is no execute-disable bit: every present page is executable. A protection
//! without `exec` therefore cannot be written faithfully, and `check_prot` refuses it
//! (Linux's non-PAE `_PAGE_NX` is 0 and silently drops the request; here the caller must
//! ask for what the hardware will do, `exec: true`, or use PAE). Leaves decode with
//! `exec: true` always, so every accepted protection round-trips.
//!
//! # PAE paging (SDM 4.4)
//! CR3 points to a page-directory-pointer table of 4 8-byte entries (32 bytes, 32-byte
//! aligned), each covering 1 GiB. A PDPTE has only P (bit 0), PWT (3), PCD (4) and the
//! address; bits 2:1, 8:5 and 63 are reserved (a set reserved bit makes the CR3 load
//! fault), so it is written as `address | P`, and there are no 1 GiB pages. Below it, page
//! directories of 512 entries (2 MiB each: a table pointer or, with PS, a 2 MiB page) and
//! page tables of 512 entries (4 KiB). The processor loads the four PDPTEs into registers
//! when CR3 is written: a PDPTE changed later takes effect only at the next CR3 load
//! (Linux's `pud_populate` flushes the whole TLB through CR3 for that reason).

pub mod qemu;
pub mod refwalk;

use super::x86_64::{x86_check_prot, x86_decode, x86_leaf, x86_table, X86State, PTE_ADDR, PTE_P};
use super::{Arch, FirmwareKind, MemoryModel};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::pgtable::{Entry, Level, PagingMode, PgError, Prot, VaRange};
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

// ----- the bring-up (arch/x86/kernel/setup.c, arch/x86/mm/init_32.c) ---------------------

/// IA-32 as Linux boots it: with `PAE` (Debian's `686-pae` kernel: HIGHMEM64G, 36-bit
/// physical addresses, NX) or 2-level paging (`686`: HIGHMEM4G, 32-bit physical addresses).
/// The 3G/1G split; FLATMEM; zones DMA (16 MiB), Normal (lowmem, directly mapped) and
/// HighMem.
#[derive(Debug)]
pub struct I386<const PAE: bool>;

/// i386 as Debian 12's `686-pae` kernel runs it.
pub type I386Pae = I386<true>;
/// i386 with 2-level paging (Debian 12's `686` kernel).
pub type I386Nopae = I386<false>;

/// PAGE_OFFSET with CONFIG_VMSPLIT_3G.
pub const PAGE_OFFSET: u64 = 0xc000_0000;
/// __VMALLOC_RESERVE: 128 MiB of kernel address space kept for vmalloc (`vmalloc=`).
pub const VMALLOC_RESERVE: u64 = 128 << 20;

/// VMALLOC_END = PKMAP_BASE - 2 * PAGE_SIZE (pgtable_32_areas.h). From the top of the
/// 4 GiB space down: the fixmap (FIXADDR_TOT_START, whose size follows NR_CPUS), the CPU
/// entry area, the LDT remap and the kmap window, each rounded down to a PMD (2 MiB with
/// PAE, 4 MiB without). With Debian's configuration (NR_CPUS=32) PKMAP_BASE is
/// 0xff00_0000 with PAE and 0xfec0_0000 without (the 4 MiB rounding costs 4 MiB more), so
/// VMALLOC_END is 0xfeff_e000 or 0xfebf_e000. Checked against Linux 6.1 (Debian's
/// 6.1.0-50-686-pae and -686 kernels on a 2 GiB QEMU pc): `879MB LOWMEM available.`,
/// `mapped low ram: 0 - 36ffe000` (MAXMEM = 0xfeffe000 - 0xc0000000 - 128M = 0x36ffe000)
/// and `875MB LOWMEM available.`, `mapped low ram: 0 - 36bfe000`.
const fn vmalloc_end(pae: bool) -> u64 {
    if pae {
        0xfeff_e000
    } else {
        0xfebf_e000
    }
}

impl<const PAE: bool> I386<PAE> {
    /// VMALLOC_END of this configuration.
    pub const VMALLOC_END: u64 = vmalloc_end(PAE);
    /// MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE: the most memory the
    /// linear map can hold.
    pub const MAXMEM: u64 = Self::VMALLOC_END - PAGE_OFFSET - VMALLOC_RESERVE;
    /// MAXMEM_PFN: where ZONE_HIGHMEM starts when there is more memory.
    pub const MAXMEM_PFN: u64 = Self::MAXMEM >> 12;
    /// MAX_ARCH_PFN (e820.c): 36 physical address bits with PAE, 32 without.
    pub const MAX_ARCH_PFN: u64 = 1 << (if PAE { 36 } else { 32 } - 12);
}

/// pages_to_mb().
const fn pages_to_mb(pages: u64) -> u64 {
    pages >> (20 - 12)
}

impl<const PAE: bool> Arch for I386<PAE> {
    const NAME: &'static str = "i386";
    /// Rust's target_arch `x86`; the `i686` of target triples.
    const ALIASES: &'static [&'static str] = &["x86", "i686"];
    /// arch/x86/include/asm/sparsemem.h: 36 with PAE, 32 without.
    const MAX_PHYSMEM_BITS: u32 = if PAE { 36 } else { 32 };
    /// 512 MiB sections with PAE, 64 MiB without (for SPARSEMEM; Debian uses FLATMEM).
    const SECTION_SIZE_BITS: u32 = if PAE { 29 } else { 26 };
    /// HUGETLB_PAGE_ORDER: 2 MiB pages with PAE, 4 MiB without.
    const PAGEBLOCK_ORDER: u32 = if PAE { 9 } else { 10 };
    /// CONFIG_FLATMEM=y in Debian's 686 and 686-pae configurations.
    const DEFAULT_MODEL: MemoryModel = MemoryModel::Flat;
    const FIRMWARE: FirmwareKind = FirmwareKind::E820;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Normal, ZoneType::HighMem, ZoneType::Movable];
    /// The reference kernel's sections: Debian's 6.1.0-50-686-pae and -686 (2-level) kernels under QEMU pc.
    const KERNEL_SECTIONS: KernelSections = if PAE {
        KernelSections::from_memory_line(9423, 1265, 3188, 928, 476, 104_276)
    } else {
        KernelSections::from_memory_line(9327, 1246, 3188, 912, 464, 103_316)
    };

    type State = X86State;
    type Paging = I386Paging<PAE>;
    type UserPaging = I386Paging<PAE>;
    /// TASK_SIZE = PAGE_OFFSET (3G/1G split).
    const TASK_SIZE: u64 = 0xc000_0000;
    const PAGE_OFFSET: u64 = PAGE_OFFSET;
    /// __pa(MAX_DMA_ADDRESS): per-CPU memory stays out of ZONE_DMA.
    const PERCPU_MIN_ADDR: u64 = 16 << 20;

    crate::overrides! {
        /// e820__memblock_setup() dumps memblock (memblock=debug) as soon as the e820 table is memblock
        /// memory, not after the zones
        const MEMBLOCK_DUMP_AFTER_ZONES: bool = false;

        /// x86 has its own setup_per_cpu_areas(), which reports NR_CPUS and the CPU and node id ranges
        /// first
        fn percpu_banner<M: PhysMem + Copy>(
            ctx: &mut BootCtx<'_, Self, M>,
            cpus: usize,
            nodes: usize,
        ) -> Result<(), BootError> {
            // Debian's CONFIG_NR_CPUS=32; nr_cpumask_bits is nr_cpu_ids.
            writeln!(ctx.log, "setup_percpu: NR_CPUS:32 nr_cpumask_bits:{cpus} nr_cpu_ids:{cpus} nr_node_ids:{nodes}")?;
            Ok(())
        }

        /// x86 lists its e820 table in /proc/iomem (e820__reserve_resources()), System RAM and the firmware's
        /// reserved and ACPI ranges, not memblock's regions
        fn iomem_resources<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>, f: &mut dyn FnMut(u64, u64, &'static str)) {
            super::x86_64::e820_iomem_resources(ctx, f)
        }

        /// x86's vvar area is 4 pages (vvar, pvclock, hvclock, time namespace), mapped below the text
        const VDSO: crate::uspace::VdsoRule = crate::uspace::VdsoRule { vvar_pages: 4, at_task_top: false };

        /// ARCH_ENABLE_MEMORY_HOTPLUG is selected only if X86_64: a 32-bit x86 kernel cannot hot-add memory
        const MEMORY_HOTPLUG: bool = false;

        /// the BIOS owns page 0, the first 64K that some BIOSes corrupt, and the EBDA/BIOS area up to 1 MiB
        /// (x86's code, shared with x86-64)
        fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            super::x86_64::e820_early_reserve(ctx)
        }

        /// the e820 table is sanitised and trimmed as on x86-64 (shared code); max_low_pfn is MAXMEM_PFN, the
        /// end of what the 1 GiB kernel half can map after vmalloc's reserve (find_low_pfn_range)
        fn detect_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            super::x86_64::e820_memory_setup(ctx)?;
            ctx.max_pfn = super::x86_64::e820_end_pfn(ctx, Self::MAX_ARCH_PFN, Self::MAX_ARCH_PFN)?;
            find_low_pfn_range(ctx);
            super::x86_64::e820_memblock_setup(ctx)?;
            // phys_addr_t is 32 bits without PAE: e820__memblock_setup() skips RAM above 4 GiB.
            ctx.memblock.remove(1u64 << Self::MAX_PHYSMEM_BITS, u64::MAX)?;
            Ok(())
        }

        /// the real-mode trampoline keeps the first MiB (shared with x86-64); only lowmem is mapped and early
        /// allocations stay below it
        fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            crate::arch::generic::limit_to_lowmem(ctx);
            super::x86_64::reserve_real_mode_and_map(ctx)?;
            // initmem_init() (CONFIG_HIGHMEM) and setup_bootmem_allocator().
            let high = ctx.max_pfn - ctx.max_pfn.min(ctx.max_low_pfn);
            writeln!(ctx.log, "{}MB HIGHMEM available.", pages_to_mb(high))?;
            writeln!(ctx.log, "{}MB LOWMEM available.", pages_to_mb(ctx.max_low_pfn))?;
            writeln!(ctx.log, "  mapped low ram: 0 - {:08x}", ctx.max_low_pfn << 12)?;
            writeln!(ctx.log, "  low ram: 0 - {:08x}", ctx.max_low_pfn << 12)?;
            Ok(())
        }

        /// Debian's 32-bit x86 kernels are built without CONFIG_NUMA: all memory is node 0, no fallback order
        /// or policy zone lines
        // Debian's 32-bit x86 kernels are built without CONFIG_NUMA.
        const NUMA: bool = false;

        /// x86-32 reserves no module space in the first per-CPU chunk (PERCPU_FIRST_CHUNK_RESERVE is
        /// PERCPU_MODULE_RESERVE only on 64-bit)
        // x86-32's PERCPU_FIRST_CHUNK_RESERVE is 0 (`pcpu-alloc: ... r0`).
        const PERCPU_RESERVE: u64 = 0;

        /// a 32-bit kernel's struct page is 40 bytes, not 64
        // Linux's i386 memmap takes 40 bytes per page (20971520 bytes for 524256 pages on a
        // 2 GiB QEMU pc, with and without PAE).
        const LINUX_STRUCT_PAGE: u64 = 40;

        /// ISA DMA reaches only 16 MiB; lowmem ends at max_low_pfn and the rest is ZONE_HIGHMEM (x86's
        /// zone_sizes_init, shared with x86-64)
        fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
            super::x86_64::x86_zone_limits(ctx)
        }

        /// x86 frees its init sections as 'unused kernel image (initmem)'
        const INITMEM_LABEL: &'static str = "unused kernel image (initmem)";

        /// x86's ptdump words the W^X result with an x86/mm: prefix and a full stop; without PAE there is no
        /// execute-disable bit and Linux skips the check
        const WX_FORMAT: Option<crate::protect::WxFormat> = if PAE { Some(super::x86_64::X86_WX) } else { None };

        /// x86-32's set_highmem_pages_init() names each highmem zone (HighMem, and Movable when it is
        /// highmem) with its pfn span as it frees it
        // Without PAE there is no execute-disable bit: lowmem is mapped executable.
        // `Initializing HighMem for node N (start:end)` for each highmem zone of each node
        // (ZONE_MOVABLE counts: its memory is highmem on x86-32).
        fn highmem_banner(zones: &crate::zone::ZoneLayout, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
            for (nid, n) in zones.online_nodes() {
                for z in [ZoneType::HighMem, ZoneType::Movable] {
                    let nz = n.zones[z as usize];
                    // An empty zone's zone_start_pfn is 0 in Linux.
                    let start = if nz.spanned == 0 { 0 } else { nz.start_pfn };
                    writeln!(log, "Initializing {} for node {nid} ({:08x}:{:08x})", z.name(), start, start + nz.spanned)?;
                }
            }
            Ok(())
        }

        /// x86-32's mark_rodata_ro() reports the size of text and rodata it write-protects
        // `Write protecting kernel text and read-only data: Nk`: from _text to __end_rodata.
        fn mark_rodata_ro_banner(image: &crate::protect::ImageLayout, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
            writeln!(log, "Write protecting kernel text and read-only data: {}k", (image.text + image.rodata) >> 10)
        }

        /// 32-bit paging has no execute-disable bit, so the linear map is executable (Linux's PAGE_KERNEL
        /// with _PAGE_NX = 0)
        #[when(!PAE)]
        const LINEAR_MAP_PROT: Prot = if PAE { Prot::KERNEL_RW } else { Prot { exec: true, ..Prot::KERNEL_RW } };
    }
}

/// find_low_pfn_range(): lowmem is everything up to MAXMEM_PFN; above it, highmem
/// (lowmem_pfn_init() / highmem_pfn_init() without `highmem=`). Without PAE
/// (HIGHMEM4G) memory above 4 GiB is trimmed.
fn find_low_pfn_range<const PAE: bool, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, I386<PAE>, M>) {
    if ctx.max_pfn <= I386::<PAE>::MAXMEM_PFN {
        ctx.max_low_pfn = ctx.max_pfn;
        return;
    }
    ctx.max_low_pfn = I386::<PAE>::MAXMEM_PFN;
    const MAX_NONPAE_PFN: u64 = 1 << 20;
    if !PAE && ctx.max_pfn > MAX_NONPAE_PFN {
        ctx.max_pfn = MAX_NONPAE_PFN;
        let _ = writeln!(ctx.log, "Warning only 4GB will be used. Use a HIGHMEM64G enabled kernel.");
    }
}

const LEVELS_2: [Level; 2] = [Level { shift: 22, bits: 10, leaf: true }, Level { shift: 12, bits: 10, leaf: true }];
const LEVELS_PAE: [Level; 3] = [
    Level { shift: 30, bits: 2, leaf: false },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];

/// IA-32 paging of the 32-bit address space: 32-bit paging (4-byte entries, 4K and 4M
/// pages, no execute-disable) or, with `PAE`, PAE paging (8-byte entries, 4K and 2M pages,
/// execute-disable).
///
/// | mode        | levels                    | leaves  | entry | VA | PA |
/// |-------------|---------------------------|---------|-------|----|----|
/// | i386-2level | 1024 × 4M, 1024 × 4K      | 4M, 4K  | 4     | 32 | 32 |
/// | i386-pae    | 4 × 1G, 512 × 2M, 512 × 4K | 2M, 4K | 8     | 32 | 52 |
#[derive(Debug)]
pub struct I386Paging<const PAE: bool>;

/// 32-bit paging (`i386-2level`).
pub type I386Paging2 = I386Paging<false>;
/// PAE paging (`i386-pae`).
pub type I386PagingPae = I386Paging<true>;

impl<const PAE: bool> PagingMode for I386Paging<PAE> {
    const NAME: &'static str = if PAE { "i386-pae" } else { "i386-2level" };
    const LEVELS: &'static [Level] = if PAE { &LEVELS_PAE } else { &LEVELS_2 };
    const ENTRY_SIZE: u64 = if PAE { 8 } else { 4 };
    const VA_BITS: u32 = 32;
    const VA_RANGE: VaRange = VaRange::Low;
    const PA_BITS: u32 = if PAE { 52 } else { 32 };

    /// The PAE page-directory-pointer table is loaded from CR3, a 32-bit register.
    fn table_pa_ok(pa: u64, level: usize) -> bool {
        let limit = if PAE && level != 0 { 52 } else { 32 };
        pa.checked_add(Self::table_bytes(level) - 1).is_some_and(|end| end >> limit == 0)
    }
    fn table_entry(pa: u64, level: usize) -> u64 {
        if PAE && level == 0 {
            PTE_P | (pa & PTE_ADDR)
        } else {
            x86_table(pa)
        }
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        x86_leaf(pa, prot, level + 1 < Self::LEVELS.len())
    }

    fn decode(raw: u64, level: usize) -> Entry {
        if PAE && level == 0 {
            // A PDPTE is a table pointer or not present; bit 7 is reserved, not PS.
            return if raw & PTE_P == 0 { Entry::Invalid } else { Entry::Table(raw & PTE_ADDR) };
        }
        x86_decode(raw, Self::LEVELS, level)
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        x86_check_prot(prot, PAE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::MemType;

    const KERNEL_RWX: Prot = Prot { exec: true, ..Prot::KERNEL_RW };

    /// Linux's `__PAGE_KERNEL` = P 0x1 | RW 0x2 | A 0x20 | D 0x40 | G 0x100 | NX (bit 63,
    /// zero without PAE); `__PAGE_KERNEL_EXEC` lacks NX; `_PAGE_TABLE` = P | RW | USER | A |
    /// D = 0x67; `_PAGE_PSE` 0x80 marks a large page.
    #[test]
    fn entries_match_linux() {
        assert_eq!(I386Paging2::leaf_entry(0xfedc_b000, KERNEL_RWX, 1), 0xfedc_b163);
        assert_eq!(I386Paging2::leaf_entry(0xff80_0000, KERNEL_RWX, 0), 0xff80_01e3);
        assert_eq!(I386Paging2::table_entry(0x0123_4000, 0), 0x0123_4067);
        assert_eq!(I386PagingPae::leaf_entry(0xf_fedc_b000, Prot::KERNEL_RW, 2), 0x8000_000f_fedc_b163);
        assert_eq!(I386PagingPae::leaf_entry(0x4000_0000, Prot::KERNEL_RW, 1), 0x8000_0000_4000_01e3);
        // The PDPTE: address | P only (RW, US, A, D are reserved there).
        assert_eq!(I386PagingPae::table_entry(0x0123_4000, 0), 0x0123_4001);
        assert_eq!(I386PagingPae::table_entry(0x0123_4000, 1), 0x0123_4067);
        // User read-write, not global, write-combining (PWT: PAT entry 1).
        let user_wc = Prot { mem: MemType::WriteCombine, ..Prot::USER_RW };
        assert_eq!(I386PagingPae::leaf_entry(0x5000, user_wc, 2), 0x8000_0000_0000_506f);
    }

    #[test]
    fn decoding_follows_the_format() {
        // Without NX every page executes.
        assert_eq!(I386Paging2::decode(0xfedc_b163, 1), Entry::Leaf { pa: 0xfedc_b000, prot: KERNEL_RWX });
        // A PDPTE is a table even with bit 7 set (reserved, not PS).
        assert_eq!(I386PagingPae::decode(0x0123_4081, 0), Entry::Table(0x0123_4000));
        assert_eq!(I386PagingPae::decode(0x0123_4080, 0), Entry::Invalid);
        // A 2M page keeps only its aligned address (bit 12 is PAT there).
        assert!(matches!(I386PagingPae::decode(0x4000_11e3, 1), Entry::Leaf { pa: 0x4000_0000, .. }));
    }

    #[test]
    fn no_execute_needs_pae() {
        assert!(I386Paging2::check_prot(Prot::KERNEL_RW).is_err());
        assert!(I386Paging2::check_prot(KERNEL_RWX).is_ok());
        assert!(I386PagingPae::check_prot(Prot::KERNEL_RW).is_ok());
        assert!(I386PagingPae::check_prot(Prot { read: false, ..KERNEL_RWX }).is_err());
    }
}
