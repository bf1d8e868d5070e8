//! x86-64: a page of the architecture manual and of Linux's arch/x86 memory setup.
//!
//! - Physical addresses: 46 bits with 4-level paging (MAXMEM, `max_arch_pfn = 1 << 34`);
//!   52 with LA57.
//! - Firmware: the BIOS e820 table (boot_params or PVH start_info), NUMA from ACPI SRAT.
//! - Zones: DMA below 16 MiB (ISA DMA), DMA32 below 4 GiB, Normal; Debian's kernel also
//!   configures ZONE_DEVICE, printed as `Device   empty`.
//! - Memory model: SPARSEMEM_VMEMMAP with 128 MiB sections.

pub mod qemu;
pub mod refwalk;

use super::{Arch, FirmwareKind};
use crate::boot::{BootCtx, BootError, KernelSections};
use crate::memblock::RegionType;
use crate::numa::NumaMeminfo;
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};
use archmm_firmware::e820::{self as e820, E820Table, E820Type};

/// x86-64 with 4-level paging, or with `LA57` 5-level paging (57-bit VA, 52-bit PA).
#[derive(Debug)]
pub struct X86<const LA57: bool>;

/// x86-64 as distribution kernels boot it on machines without LA57: 4-level paging.
pub type X86_64 = X86<false>;
/// x86-64 with 5-level paging.
pub type X86_64La57 = X86<true>;

/// MAX_DMA_PFN: ISA DMA reaches 16 MiB.
pub const MAX_DMA_PFN: u64 = (16 << 20) >> 12;
/// MAX_DMA32_PFN: 4 GiB.
pub const MAX_DMA32_PFN: u64 = 1 << (32 - 12);
/// x86's ptdump wording of the W^X check (arch/x86/mm/dump_pagetables.c).
pub const X86_WX: crate::protect::WxFormat = crate::protect::WxFormat {
    found_prefix: "x86/mm: ",
    checked_prefix: "x86/mm: ",
    failed: "FAILED",
    period: true,
    uxn: false,
};

/// PAGE_OFFSET with 4-level paging and no KASLR: where the linear map starts.
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// PAGE_OFFSET with 5-level paging and no KASLR.
pub const PAGE_OFFSET_L5: u64 = 0xff11_0000_0000_0000;
/// BIOS_BEGIN..BIOS_END: the legacy VGA/ROM hole, never RAM.
pub const ISA_START: u64 = 0xa0000;
/// End of the legacy hole.
pub const ISA_END: u64 = 0x100000;
/// Linux's BIOS data area word holding base memory in KiB.
pub const BIOS_RAM_SIZE_KB_PTR: u64 = 0x413;
/// The BDA word holding the EBDA segment.
pub const BIOS_EBDA_SEGMENT_PTR: u64 = 0x40e;

/// x86's boot state: its e820 table, the single source of truth for usable memory.
#[derive(Debug, Default)]
pub struct X86State {
    /// The kernel's e820 table (`e820_table`).
    pub e820: E820Table,
}

impl<const LA57: bool> Arch for X86<LA57> {
    const NAME: &'static str = "x86_64";
    const ALIASES: &'static [&'static str] = &["x86-64", "amd64"];
    const MAX_PHYSMEM_BITS: u32 = if LA57 { 52 } else { 46 };
    const FIRMWARE: FirmwareKind = FirmwareKind::E820;
    const ZONES: &'static [ZoneType] =
        &[ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable, ZoneType::Device];
    /// The reference kernel's sections: Debian's 6.1.0-56-amd64 (its Memory and percpu lines under QEMU).
    const KERNEL_SECTIONS: KernelSections = KernelSections::from_memory_line(14343, 2338, 9132, 2824, 17344, 217_088);
    /// CONFIG_NODES_SHIFT=10 (Debian's amd64 config): 1024 NUMA nodes.
    const NODES_SHIFT: u32 = 10;
    /// sizeof(pg_data_t) of Debian's 6.1 amd64 kernel, page-rounded: `NODE_DATA(0) allocated
    /// [mem 0x13ffd2000-0x13fffcfff]` (0x2b000).
    const NODE_DATA_BYTES: u64 = 0x2b000;
    type State = X86State;
    type Paging = X86Paging<LA57>;
    type UserPaging = X86Paging<LA57>;
    /// DEFAULT_MAP_WINDOW ((1 << 47) - PAGE_SIZE), also with 5-level paging.
    const TASK_SIZE: u64 = (1 << 47) - 4096;
    const PAGE_OFFSET: u64 = if LA57 { PAGE_OFFSET_L5 } else { PAGE_OFFSET };
    /// Documentation/x86/x86_64/mm.rst: ffffea0000000000 (4-level), ffd4000000000000 (5-level).
    const VMEMMAP_START: u64 = if LA57 { 0xffd4_0000_0000_0000 } else { 0xffff_ea00_0000_0000 };

    /// __pa(MAX_DMA_ADDRESS): per-CPU memory stays out of ZONE_DMA.
    const PERCPU_MIN_ADDR: u64 = 16 << 20;

    crate::overrides! {
        /// e820__memblock_setup() dumps memblock (memblock=debug) as soon as the e820 table is memblock
        /// memory, not after the zones
        const MEMBLOCK_DUMP_AFTER_ZONES: bool = false;

        /// x86's init_cpu_to_node() onlines a node that has CPUs but no memory only after
        /// paging_init(), so free_area_init() first prints `Initializing node N as memoryless`
        const MEMORYLESS_ONLINE_EARLY: bool = false;

        /// probe_memory_block_size() (arch/x86/mm/init_64.c): 128 MiB below 64 GiB of RAM; above, under a
        /// hypervisor (QEMU sets X86_FEATURE_HYPERVISOR), the largest power of two up to 2 GiB that divides
        /// the end of boot memory
        fn memory_block_size_bytes<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            probe_memory_block_size(ctx.max_pfn << 12, 1 << Self::SECTION_SIZE_BITS)
        }

        /// x86-64's vvar area is 4 pages (vvar, pvclock, hvclock, time namespace), mapped below the text
        const VDSO: crate::uspace::VdsoRule = crate::uspace::VdsoRule { vvar_pages: 4, at_task_top: false };

        /// the BIOS owns page 0, the first 64K that some BIOSes corrupt, and the EBDA/BIOS area up to 1 MiB,
        /// which e820 does not always report
        fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            e820_early_reserve(ctx)
        }

        /// the e820 table must be sanitised (overlaps, unsorted entries) and its BIOS-area fix-ups applied
        /// before it becomes memblock memory; max_pfn and max_low_pfn come from it (usable RAM below
        /// max_arch_pfn / 4 GiB)
        fn detect_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            e820_memory_setup(ctx)?;
            // setup_arch's e820__end_of_ram_pfn() / e820__end_of_low_ram_pfn(): the limits come
            // from the e820 table, printed before memblock is populated.
            let max_arch_pfn = if LA57 { e820::MAX_ARCH_PFN_X86_64_LA57 } else { e820::MAX_ARCH_PFN_X86_64 };
            ctx.max_pfn = e820_end_pfn(ctx, max_arch_pfn, max_arch_pfn)?;
            ctx.max_low_pfn =
                if ctx.max_pfn > MAX_DMA32_PFN { e820_end_pfn(ctx, MAX_DMA32_PFN, max_arch_pfn)? } else { ctx.max_pfn };
            e820_memblock_setup(ctx)
        }

        /// real-mode AP startup needs a trampoline below 1 MiB, so the whole first MiB stays reserved
        /// (reserve_real_mode)
        fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            // init_mem_mapping(): on 64-bit everything is directly mapped.
            if ctx.max_pfn > ctx.max_low_pfn {
                ctx.max_low_pfn = ctx.max_pfn;
            }
            reserve_real_mode_and_map(ctx)
        }

        /// x86 takes NUMA from the ACPI SRAT, merges same-node blocks across holes and fakes a node from
        /// address 0, as arch/x86/mm/numa.c does
        fn numa_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
            x86_numa_init(ctx)
        }

        /// ISA DMA reaches only 16 MiB: ZONE_DMA ends there, DMA32 at 4 GiB
        fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
            x86_zone_limits(ctx)
        }

        /// x86-64 embeds per-CPU units in PMD-sized (2 MiB) atoms so the area can be mapped with large pages
        // PMD_SIZE: the per-CPU area can then be mapped with large pages.
        const PERCPU_ATOM_SIZE: u64 = 2 << 20;

        /// x86 frees several parts of its image separately (init sections, the text/rodata and rodata/data
        /// gaps) and names each
        const INITMEM_LABEL: &'static str = "unused kernel image (initmem)";

        /// x86-64 runs the kernel from its own mapping at __START_KERNEL_map (0xffffffff80000000 + physical
        /// address), outside the direct map, so code is reachable with 32-bit sign-extended addresses
        /// (mcmodel=kernel)
        // __START_KERNEL_map.
        const KERNEL_IMAGE_MAP: Option<crate::protect::ImageMapBase> =
            Some(crate::protect::ImageMapBase::PhysZero(0xffff_ffff_8000_0000));

        /// x86-64 aligns rodata's start and end to 2 MiB (X86_ALIGN_RODATA_BEGIN/END) so text and rodata keep
        /// their large-page mappings after mark_rodata_ro
        // HPAGE_SIZE (X86_ALIGN_RODATA_BEGIN / X86_ALIGN_RODATA_END).
        const RODATA_ALIGN: u64 = 2 << 20;

        /// x86's mark_rodata_ro() reports the size of text and rodata, 2 MiB-aligned
        // `Write protecting the kernel read-only data: Nk`: from _text to
        // __end_rodata_hpage_align.
        fn mark_rodata_ro_banner(image: &crate::protect::ImageLayout, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
            writeln!(log, "Write protecting the kernel read-only data: {}k", (image.text + image.rodata) >> 10)
        }

        /// x86's own numa.c allocates each node's data in whole pages and words the line 'NODE_DATA(n)
        /// allocated' (no NUMA: prefix); memoryless nodes get theirs later
        fn node_data_banner(
            nid: i32,
            start: u64,
            end: u64,
            tnid: i32,
            _memoryless: bool,
            log: &mut dyn core::fmt::Write,
        ) -> core::fmt::Result {
            writeln!(log, "NODE_DATA({nid}) allocated [mem {start:#010x}-{end:#010x}]")?;
            if tnid != nid {
                writeln!(log, "    NODE_DATA({nid}) on node {tnid}")?;
            }
            Ok(())
        }

        /// x86 lists its e820 table in /proc/iomem (e820__reserve_resources()), System RAM and the firmware's
        /// reserved and ACPI ranges, not memblock's regions
        fn iomem_resources<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>, f: &mut dyn FnMut(u64, u64, &'static str)) {
            e820_iomem_resources(ctx, f)
        }

        /// x86's ptdump words the W^X result with an x86/mm: prefix and a full stop
        const WX_FORMAT: Option<crate::protect::WxFormat> = Some(X86_WX);

        /// the BIOS area below 1 MiB is reserved but lies in the small ISA DMA zone, so x86 holds those pages
        /// back from the zone's estimate
        fn dma_reserve<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
            x86_dma_reserve(ctx)
        }

        /// x86 has its own setup_per_cpu_areas(), which reports NR_CPUS and the CPU and node id ranges first
        fn percpu_banner<M: PhysMem + Copy>(
            ctx: &mut BootCtx<'_, Self, M>,
            cpus: usize,
            nodes: usize,
        ) -> Result<(), BootError> {
            // Debian's CONFIG_NR_CPUS; with CPUMASK_OFFSTACK nr_cpumask_bits is nr_cpu_ids.
            writeln!(ctx.log, "setup_percpu: NR_CPUS:8192 nr_cpumask_bits:{cpus} nr_cpu_ids:{cpus} nr_node_ids:{nodes}")?;
            Ok(())
        }
    }
}

/// e820__reserve_resources(): /proc/iomem's memory resources are the kernel's e820 table
/// (after its updates, e.g. the first page made reserved), named by e820_type_to_string().
pub(crate) fn e820_iomem_resources<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &BootCtx<'_, A, M>,
    f: &mut dyn FnMut(u64, u64, &'static str),
) {
    for e in ctx.state.e820.entries() {
        if e.size == 0 {
            continue;
        }
        let name = match e.ty {
            E820Type::RAM | E820Type::RESERVED_KERN => "System RAM",
            E820Type::ACPI => "ACPI Tables",
            E820Type::NVS => "ACPI Non-volatile Storage",
            E820Type::UNUSABLE => "Unusable memory",
            E820Type::PRAM => "Persistent Memory (legacy)",
            E820Type::PMEM => "Persistent Memory",
            E820Type::SOFT_RESERVED => "Soft Reserved",
            _ => "Reserved",
        };
        f(e.addr, e.addr.saturating_add(e.size - 1), name);
    }
}

// ----- x86 memory setup shared by x86-64 and i386 (arch/x86/kernel/e820.c, setup.c) -----
//
// Both x86 arches boot from the same BIOS e820 table through the same code in Linux; these
// functions are that code, generic over any arch whose state is the e820 table.

/// early_reserve_memory() on x86: the generic reservations, the first 64K (some BIOSes
/// corrupt it) and the BIOS regions below 1 MiB.
pub(crate) fn e820_early_reserve<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    crate::arch::generic::early_reserve_memory(ctx)?;
    ctx.memblock.reserve(0, 0x10000)?;
    reserve_bios_regions(ctx)
}

/// e820__memory_setup_default(): copy the BIOS table, sanitise and print it, then
/// trim_bios_range(); the result is `ctx.state.e820`.
pub(crate) fn e820_memory_setup<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    let mut t = E820Table::new();
    for e in ctx.fw.e820 {
        if t.add(e.addr, e.size, e.ty).is_err() {
            let _ = writeln!(
                ctx.log,
                "e820: too many entries; ignoring [mem {:#010x}-{:#010x}]",
                e.addr,
                e.addr.wrapping_add(e.size).wrapping_sub(1)
            );
        }
    }
    if t.update_table().is_err() {
        return Err(BootError::Firmware {
            format: "e820",
            what: "the BIOS e820 table has fewer than 2 entries or cannot be sanitised",
        });
    }
    writeln!(ctx.log, "BIOS-provided physical RAM map:")?;
    t.write_table(&mut ctx.log, "BIOS-e820")?;

    // trim_bios_range: page 0 is the BIOS's; 640K-1M is never RAM.
    // Linux prints both lines whether or not anything changed.
    e820::write_update_line(&mut ctx.log, 0, 0x1000, E820Type::RAM, E820Type::RESERVED)?;
    let _ = t.range_update(0, 0x1000, E820Type::RAM, E820Type::RESERVED);
    e820::write_remove_line(&mut ctx.log, ISA_START, ISA_END - ISA_START, E820Type::RAM, true)?;
    let _ = t.range_remove(ISA_START, ISA_END - ISA_START, E820Type::RAM, true);
    t.update_table().map_err(|_| BootError::Firmware { format: "e820", what: "the e820 table cannot be sanitised" })?;
    ctx.state.e820 = t;
    Ok(())
}

/// e820_end_pfn(): the end of usable RAM below `limit_pfn`, printed as Linux's `last_pfn`
/// line.
pub(crate) fn e820_end_pfn<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    limit_pfn: u64,
    max_arch_pfn: u64,
) -> Result<u64, BootError> {
    let pfn = ctx.state.e820.end_pfn(limit_pfn, E820Type::RAM, max_arch_pfn);
    e820::write_end_pfn_line(&mut ctx.log, pfn, max_arch_pfn)?;
    Ok(pfn)
}

/// e820__memblock_setup(): RAM (and RESERVED_KERN) into memblock, soft-reserved reserved;
/// partial pages thrown away.
pub(crate) fn e820_memblock_setup<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    ctx.memblock.allow_resize();
    for i in 0..ctx.state.e820.len() {
        let e = ctx.state.e820.entries()[i];
        if e.addr.checked_add(e.size).is_none() {
            continue;
        }
        if e.ty == E820Type::SOFT_RESERVED {
            ctx.memblock.reserve(e.addr, e.size)?;
        }
        if e.ty != E820Type::RAM && e.ty != E820Type::RESERVED_KERN {
            continue;
        }
        ctx.memblock.add(e.addr, e.size)?;
    }
    ctx.memblock.trim_memory(A::page_size());
    ctx.memblock_dump_all()?;
    Ok(())
}

/// reserve_real_mode() and init_mem_mapping(): the whole first MiB stays the BIOS's and
/// the AP trampoline's; the first MiB (ISA range) and RAM up to max_low_pfn are mapped at
/// PAGE_OFFSET.
pub(crate) fn reserve_real_mode_and_map<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    ctx.memblock.reserve(0, ISA_END)?;
    crate::arch::generic::map_linear::<A::Paging, A, M>(ctx, A::PAGE_OFFSET, Some((0, ISA_END)), true)?;
    Ok(())
}

/// numa_meminfo_cover_memory(): the SRAT's nodes must hold all of e820's RAM below max_pfn
/// but for 1 MiB of slack; otherwise Linux says so and does not use them.
fn numa_meminfo_cover_memory<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    mi: &NumaMeminfo,
) -> Result<bool, BootError> {
    let shift = A::PAGE_SHIFT;
    let max_pfn = ctx.max_pfn;
    let pages_in = |mb: &crate::memblock::Memblock<M>, nid: i32, s: u64, e: u64| {
        let mut n = 0;
        mb.for_each_mem_pfn_range(nid, shift, |rs, re, _| n += re.min(e).saturating_sub(rs.max(s)));
        n
    };
    let numaram: u64 =
        mi.blocks().iter().map(|b| pages_in(&ctx.memblock, b.nid, b.start >> shift, b.end >> shift)).sum();
    let e820ram = pages_in(&ctx.memblock, crate::memblock::MAX_NUMNODES, 0, max_pfn);
    if e820ram.saturating_sub(numaram) >= 1 << (20 - shift) {
        writeln!(
            ctx.log,
            "NUMA: nodes only cover {}MB of your {}MB e820 RAM. Not used.",
            (numaram << shift) >> 20,
            (e820ram << shift) >> 20
        )?;
        return Ok(false);
    }
    Ok(true)
}

/// x86_numa_init(): NUMA from the ACPI SRAT, else a fake node from address 0.
pub(crate) fn x86_numa_init<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    // x86_numa_init(): SRAT first, then the dummy node.
    if !ctx.options.numa_off {
        for c in ctx.fw.srat_cpus {
            writeln!(ctx.log, "SRAT: PXM {} -> APIC {:#04x} -> Node {}", c.pxm, c.apic_id, c.node)?;
        }
    }
    if !ctx.options.numa_off && !ctx.fw.srat.is_empty() {
        let mut mi = NumaMeminfo::default();
        for s in ctx.fw.srat {
            writeln!(
                ctx.log,
                "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{}{}",
                s.node,
                s.pxm,
                s.start,
                s.end,
                if s.hotplug { " hotplug" } else { "" },
                if s.nonvolatile { " non-volatile" } else { "" }
            )?;
            let end = s.end.saturating_add(1);
            if s.node >= crate::memblock::MAX_NUMNODES as u32 || end < s.start {
                return Err(BootError::BadNumaNode { nid: s.node as i32, start: s.start, end });
            }
            mi.add(s.node as i32, s.start, end)?;
            if s.hotplug && ctx.memblock.mark_hotplug(s.start, end - s.start).is_err() {
                writeln!(
                    ctx.log,
                    "ACPI: SRAT: Failed to mark hotplug range [mem {:#010x}-{:#010x}] in memblock",
                    s.start, s.end
                )?;
            }
        }
        let high = ctx.max_pfn << A::PAGE_SHIFT;
        let mb = &ctx.memblock;
        let overlaps = |s: u64, e: u64| mb.real_regions(RegionType::Memory).any(|r| r.base < e && s < r.end());
        if mi.cleanup(overlaps, high, ctx.log).is_ok() {
            mi.apply(ctx)?;
            if numa_meminfo_cover_memory(ctx, &mi)? {
                ctx.numa = mi;
                srat_cpu_nodes(ctx);
                return crate::numa::register_nodes(ctx, false);
            }
            // numa_init() starts the next try (the dummy node) from no nodes.
            ctx.memblock.set_node(0, u64::MAX, RegionType::Memory, crate::memblock::MAX_NUMNODES)?;
            ctx.memblock.clear_hotplug(0, u64::MAX)?;
        }
    }
    writeln!(ctx.log, "{}", if ctx.options.numa_off { "NUMA turned off" } else { "No NUMA configuration found" })?;
    let end = ctx.max_pfn << A::PAGE_SHIFT;
    writeln!(ctx.log, "Faking a node at [mem {:#018x}-{:#018x}]", 0u64, end.wrapping_sub(1))?;
    let mut mi = NumaMeminfo::default();
    mi.add(0, 0, end)?;
    mi.apply(ctx)?;
    ctx.numa = mi;
    crate::numa::register_nodes(ctx, false)
}

/// numa_init_array() and init_cpu_to_node(): CPUs the SRAT places go to its node, the rest
/// round-robin. Linux numbers CPUs in MADT order with the boot CPU first; QEMU's MADT lists
/// APIC ids in ascending order from the boot CPU's 0, so the i-th lowest APIC id of the
/// SRAT is CPU i.
fn srat_cpu_nodes<A: Arch<State = X86State>, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) {
    let mut apic = [(0u32, 0u16); crate::percpu::MAX_CPUS];
    let n = ctx.fw.srat_cpus.len().min(apic.len());
    for (slot, c) in apic.iter_mut().zip(ctx.fw.srat_cpus) {
        *slot = (c.apic_id, c.node.min(crate::memblock::MAX_NUMNODES as u32 - 1) as u16);
    }
    apic[..n].sort_unstable_by_key(|&(id, _)| id);
    crate::numa::set_cpu_nodes(ctx, |c| apic[..n].get(c).map(|&(_, node)| node));
}

/// memblock_find_dma_reserve(): pages below 16 MiB minus the free ones.
pub(crate) fn x86_dma_reserve<A: Arch<State = X86State>, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> u64 {
    let ps = A::PAGE_SHIFT;
    let mut pages = 0;
    ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, ps, |s, e, _| {
        pages += e.min(MAX_DMA_PFN) - s.min(MAX_DMA_PFN);
    });
    let mut free = 0;
    ctx.memblock.for_each_free_range(
        crate::memblock::NUMA_NO_NODE,
        crate::memblock::MemblockFlags::NONE,
        false,
        |s, e, _| {
            let (s, e) = (crate::addr::pfn_up(s, ps).min(MAX_DMA_PFN), crate::addr::pfn_down(e, ps).min(MAX_DMA_PFN));
            if s < e {
                free += e - s;
            }
            false
        },
    );
    pages - free
}

/// zone_sizes_init() (arch/x86/mm/init.c): ISA DMA to 16 MiB, DMA32 to 4 GiB (64-bit),
/// Normal to max_low_pfn, HighMem to max_pfn (32-bit), each zone the arch configures.
pub(crate) fn x86_zone_limits<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &BootCtx<'_, A, M>,
) -> [u64; MAX_NR_ZONES] {
    let mut z = [0u64; MAX_NR_ZONES];
    z[ZoneType::Dma as usize] = MAX_DMA_PFN.min(ctx.max_low_pfn);
    if A::ZONES.contains(&ZoneType::Dma32) {
        z[ZoneType::Dma32 as usize] = MAX_DMA32_PFN.min(ctx.max_low_pfn);
    }
    z[ZoneType::Normal as usize] = ctx.max_low_pfn;
    if A::ZONES.contains(&ZoneType::HighMem) {
        z[ZoneType::HighMem as usize] = ctx.max_pfn;
    }
    z
}

/// reserve_bios_regions(): read base memory size and the EBDA segment from the BIOS data
/// area and reserve from there to 1 MiB.
fn reserve_bios_regions<A: Arch<State = X86State>, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> Result<(), BootError> {
    const BIOS_START_MIN: u64 = 0x20000;
    const BIOS_START_MAX: u64 = 0x9f000;
    let mut w = [0u8; 2];
    ctx.memblock.mem().read(crate::addr::PhysAddr(BIOS_RAM_SIZE_KB_PTR), &mut w);
    let mut bios_start = (u16::from_le_bytes(w) as u64) << 10;
    if !(BIOS_START_MIN..=BIOS_START_MAX).contains(&bios_start) {
        bios_start = BIOS_START_MAX;
    }
    ctx.memblock.mem().read(crate::addr::PhysAddr(BIOS_EBDA_SEGMENT_PTR), &mut w);
    let ebda = (u16::from_le_bytes(w) as u64) << 4;
    if ebda >= BIOS_START_MIN && ebda < bios_start {
        bios_start = ebda;
    }
    ctx.memblock.reserve(bios_start, ISA_END - bios_start)?;
    Ok(())
}

// ----- paging (Intel SDM vol. 3A, 4.5 "4-level paging and 5-level paging") -------------

use crate::pgtable::{Entry, Level, MemType, PagingMode, PgError, Prot, VaRange};

/// Present.
pub const PTE_P: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User-accessible.
pub const PTE_US: u64 = 1 << 2;
/// Page-level write-through (PAT index bit 0).
pub const PTE_PWT: u64 = 1 << 3;
/// Page-level cache disable (PAT index bit 1).
pub const PTE_PCD: u64 = 1 << 4;
/// Accessed.
pub const PTE_A: u64 = 1 << 5;
/// Dirty (leaves).
pub const PTE_D: u64 = 1 << 6;
/// Page size: this PDPTE/PDE maps a 1G/2M page.
pub const PTE_PS: u64 = 1 << 7;
/// Global (leaves).
pub const PTE_G: u64 = 1 << 8;
/// Execute-disable.
pub const PTE_NX: u64 = 1 << 63;
/// Physical address bits 12..51 of a table pointer or 4K page.
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

const X86_LEVELS_4: [Level; 4] = [
    Level { shift: 39, bits: 9, leaf: false },
    Level { shift: 30, bits: 9, leaf: true },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];
const X86_LEVELS_5: [Level; 5] = [
    Level { shift: 48, bits: 9, leaf: false },
    Level { shift: 39, bits: 9, leaf: false },
    Level { shift: 30, bits: 9, leaf: true },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];

/// Linux programs the PAT so that index 0 is WB, 1 is WC and 3 is UC: encode the memory
/// type as PWT/PCD (the PAT bit stays clear).
fn x86_memtype_bits(m: MemType) -> u64 {
    match m {
        MemType::Normal => 0,
        MemType::WriteCombine => PTE_PWT,
        MemType::Device => PTE_PWT | PTE_PCD,
    }
}

pub(crate) fn x86_leaf(pa: u64, prot: Prot, large: bool) -> u64 {
    let mut e = PTE_P | PTE_A | (pa & PTE_ADDR) | x86_memtype_bits(prot.mem);
    if prot.write {
        e |= PTE_RW | PTE_D;
    }
    if prot.user {
        e |= PTE_US;
    }
    if prot.global {
        e |= PTE_G;
    }
    if !prot.exec {
        e |= PTE_NX;
    }
    if large {
        e |= PTE_PS;
    }
    e
}

pub(crate) fn x86_decode(raw: u64, levels: &[Level], level: usize) -> Entry {
    if raw & PTE_P == 0 {
        return Entry::Invalid;
    }
    let last = level + 1 == levels.len();
    if !last && raw & PTE_PS == 0 {
        return Entry::Table(raw & PTE_ADDR);
    }
    // A large page's address starts at its own alignment (bit 12 is PAT there).
    let mask = if last { PTE_ADDR } else { PTE_ADDR & !(levels[level].span() - 1) };
    let mem = match raw & (PTE_PWT | PTE_PCD) {
        0 => MemType::Normal,
        PTE_PWT => MemType::WriteCombine,
        _ => MemType::Device,
    };
    Entry::Leaf {
        pa: raw & mask,
        prot: Prot {
            read: true,
            write: raw & PTE_RW != 0,
            exec: raw & PTE_NX == 0,
            user: raw & PTE_US != 0,
            global: raw & PTE_G != 0,
            mem,
        },
    }
}

/// A pointer to a next-level table: present, writable, user, accessed and dirty (Linux's
/// `_PAGE_TABLE`), so that the leaves alone decide permissions.
pub(crate) fn x86_table(pa: u64) -> u64 {
    PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | (pa & PTE_ADDR)
}

/// What x86 leaves cannot express: a page that is not readable, and (without the
/// execute-disable bit, `nx == false`) a page that is not executable.
pub(crate) fn x86_check_prot(prot: Prot, nx: bool) -> Result<(), PgError> {
    if !prot.read {
        return Err(PgError::UnsupportedProt("x86 pages are always readable"));
    }
    if !nx && !prot.exec {
        return Err(PgError::UnsupportedProt("32-bit paging has no execute-disable bit: every page is executable"));
    }
    Ok(())
}

/// x86-64 paging: 4-level (48-bit canonical VA) or, with `LA57`, 5-level (57-bit);
/// 4K pages, 2M and 1G pages.
#[derive(Debug)]
pub struct X86Paging<const LA57: bool>;

/// 4-level paging.
pub type X86_64Paging4 = X86Paging<false>;
/// 5-level paging (LA57).
pub type X86_64Paging5 = X86Paging<true>;

impl<const LA57: bool> PagingMode for X86Paging<LA57> {
    const NAME: &'static str = if LA57 { "x86_64-5level" } else { "x86_64-4level" };
    const LEVELS: &'static [Level] = if LA57 { &X86_LEVELS_5 } else { &X86_LEVELS_4 };
    const ENTRY_SIZE: u64 = 8;
    const VA_BITS: u32 = if LA57 { 57 } else { 48 };
    const VA_RANGE: VaRange = VaRange::Canonical;
    const PA_BITS: u32 = 52;
    fn table_entry(pa: u64, _level: usize) -> u64 {
        x86_table(pa)
    }
    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        x86_leaf(pa, prot, level + 1 < Self::LEVELS.len())
    }
    fn decode(raw: u64, level: usize) -> Entry {
        x86_decode(raw, Self::LEVELS, level)
    }
    fn check_prot(prot: Prot) -> Result<(), PgError> {
        x86_check_prot(prot, true)
    }
}

/// x86-64's probe_memory_block_size() for a guest (X86_FEATURE_HYPERVISOR set, as under
/// QEMU): `boot_mem_end` is `max_pfn << PAGE_SHIFT`.
pub fn probe_memory_block_size(boot_mem_end: u64, min: u64) -> u64 {
    const MAX_BLOCK_SIZE: u64 = 2 << 30;
    const MEM_SIZE_FOR_LARGE_BLOCK: u64 = 64 << 30;
    if boot_mem_end < MEM_SIZE_FOR_LARGE_BLOCK {
        return min;
    }
    let mut bz = MAX_BLOCK_SIZE;
    while bz > min {
        if boot_mem_end.is_multiple_of(bz) {
            break;
        }
        bz >>= 1;
    }
    bz
}
