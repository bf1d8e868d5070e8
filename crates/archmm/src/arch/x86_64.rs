//! x86-64: a page of the architecture manual and of Linux's arch/x86 memory setup.
//!
//! - Physical addresses: 46 bits with 4-level paging (MAXMEM, `max_arch_pfn = 1 << 34`);
//!   52 with LA57.
//! - Firmware: the BIOS e820 table (boot_params or PVH start_info), NUMA from ACPI SRAT.
//! - Zones: DMA below 16 MiB (ISA DMA), DMA32 below 4 GiB, Normal; Debian's kernel also
//!   configures ZONE_DEVICE, printed as `Device   empty`.
//! - Memory model: SPARSEMEM_VMEMMAP with 128 MiB sections.

use super::{Arch, FirmwareKind, Override};
use crate::boot::{BootCtx, BootError};
use crate::memblock::RegionType;
use crate::numa::NumaMeminfo;
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};
use archmm_firmware::e820::{self as e820, E820Table, E820Type};

/// x86-64 with 4-level paging.
pub struct X86_64;

/// MAX_DMA_PFN: ISA DMA reaches 16 MiB.
pub const MAX_DMA_PFN: u64 = (16 << 20) >> 12;
/// MAX_DMA32_PFN: 4 GiB.
pub const MAX_DMA32_PFN: u64 = 1 << (32 - 12);
/// BIOS_BEGIN..BIOS_END: the legacy VGA/ROM hole, never RAM.
pub const ISA_START: u64 = 0xa0000;
/// End of the legacy hole.
pub const ISA_END: u64 = 0x100000;
/// Linux's BIOS data area word holding base memory in KiB.
pub const BIOS_RAM_SIZE_KB_PTR: u64 = 0x413;
/// The BDA word holding the EBDA segment.
pub const BIOS_EBDA_SEGMENT_PTR: u64 = 0x40e;

/// x86's boot state: its e820 table, the single source of truth for usable memory.
#[derive(Default)]
pub struct X86State {
    /// The kernel's e820 table (`e820_table`).
    pub e820: E820Table,
}

impl Arch for X86_64 {
    const NAME: &'static str = "x86_64";
    const ALIASES: &'static [&'static str] = &["x86-64", "amd64"];
    const MAX_PHYSMEM_BITS: u32 = 46;
    const FIRMWARE: FirmwareKind = FirmwareKind::E820;
    const ZONES: &'static [ZoneType] = &[ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable, ZoneType::Device];
    const OVERRIDES: &'static [Override] = &[
        Override {
            hook: "early_reserve_memory",
            reason: "the BIOS owns page 0, the first 64K that some BIOSes corrupt, and the \
                     EBDA/BIOS area up to 1 MiB, which e820 does not always report",
        },
        Override {
            hook: "detect_memory",
            reason: "the e820 table must be sanitised (overlaps, unsorted entries) and its \
                     BIOS-area fix-ups applied before it becomes memblock memory; max_pfn and \
                     max_low_pfn come from it (usable RAM below max_arch_pfn / 4 GiB)",
        },
        Override {
            hook: "setup_arch",
            reason: "real-mode AP startup needs a trampoline below 1 MiB, so the whole first \
                     MiB stays reserved (reserve_real_mode)",
        },
        Override {
            hook: "numa_init",
            reason: "x86 takes NUMA from the ACPI SRAT, merges same-node blocks across holes \
                     and fakes a node from address 0, as arch/x86/mm/numa.c does",
        },
        Override {
            hook: "zone_limits",
            reason: "ISA DMA reaches only 16 MiB: ZONE_DMA ends there, DMA32 at 4 GiB",
        },
    ];
    type State = X86State;

    fn early_reserve_memory<M: PhysMem>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        crate::boot::generic_early_reserve(ctx)?;
        ctx.memblock.reserve(0, 0x10000)?;
        reserve_bios_regions(ctx)
    }

    fn detect_memory<M: PhysMem>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        // e820__memory_setup_default: copy, sanitise, print.
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
            return Err(BootError::E820("the BIOS e820 table has fewer than 2 entries or cannot be sanitised"));
        }
        writeln!(ctx.log, "BIOS-provided physical RAM map:")?;
        t.write_table(&mut ctx.log, "BIOS-e820")?;

        // trim_bios_range: page 0 is the BIOS's; 640K-1M is never RAM.
        // Linux prints both lines whether or not anything changed.
        e820::write_update_line(&mut ctx.log, 0, 0x1000, E820Type::RAM, E820Type::RESERVED)?;
        let _ = t.range_update(0, 0x1000, E820Type::RAM, E820Type::RESERVED);
        e820::write_remove_line(&mut ctx.log, ISA_START, ISA_END - ISA_START, E820Type::RAM, true)?;
        let _ = t.range_remove(ISA_START, ISA_END - ISA_START, E820Type::RAM, true);
        t.update_table().map_err(|_| BootError::E820("the e820 table cannot be sanitised"))?;
        ctx.state.e820 = t;

        // setup_arch's e820__end_of_ram_pfn() / e820__end_of_low_ram_pfn(): the limits come
        // from the e820 table, printed before memblock is populated.
        let max_arch_pfn = e820::MAX_ARCH_PFN_X86_64;
        let t = &ctx.state.e820;
        ctx.max_pfn = t.end_pfn(max_arch_pfn, E820Type::RAM, max_arch_pfn);
        e820::write_end_pfn_line(&mut ctx.log, ctx.max_pfn, max_arch_pfn)?;
        if ctx.max_pfn > MAX_DMA32_PFN {
            ctx.max_low_pfn = t.end_pfn(MAX_DMA32_PFN, E820Type::RAM, max_arch_pfn);
            e820::write_end_pfn_line(&mut ctx.log, ctx.max_low_pfn, max_arch_pfn)?;
        } else {
            ctx.max_low_pfn = ctx.max_pfn;
        }
        // e820__memblock_setup: RAM (and RESERVED_KERN) into memblock, soft-reserved
        // reserved; partial pages thrown away.
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
        ctx.memblock.trim_memory(Self::page_size());
        ctx.memblock_dump_all()?;
        Ok(())
    }

    fn setup_arch<M: PhysMem>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        // reserve_real_mode(): the whole first MiB stays the BIOS's and the trampoline's.
        ctx.memblock.reserve(0, ISA_END)?;
        // init_mem_mapping(): on 64-bit everything is directly mapped.
        if ctx.max_pfn > ctx.max_low_pfn {
            ctx.max_low_pfn = ctx.max_pfn;
        }
        Ok(())
    }

    fn numa_init<M: PhysMem>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        // x86_numa_init(): SRAT first, then the dummy node.
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
                    writeln!(ctx.log, "ACPI: SRAT: Failed to mark hotplug range [mem {:#010x}-{:#010x}] in memblock", s.start, s.end)?;
                }
            }
            let high = ctx.max_pfn << Self::PAGE_SHIFT;
            let mb = &ctx.memblock;
            let overlaps = |s: u64, e: u64| mb.real_regions(RegionType::Memory).any(|r| r.base < e && s < r.end());
            if mi.cleanup(overlaps, high, ctx.log).is_ok() {
                mi.apply(ctx)?;
                ctx.numa = mi;
                return Ok(());
            }
        }
        writeln!(ctx.log, "{}", if ctx.options.numa_off { "NUMA turned off" } else { "No NUMA configuration found" })?;
        let end = ctx.max_pfn << Self::PAGE_SHIFT;
        writeln!(ctx.log, "Faking a node at [mem {:#018x}-{:#018x}]", 0u64, end.wrapping_sub(1))?;
        let mut mi = NumaMeminfo::default();
        mi.add(0, 0, end)?;
        mi.apply(ctx)?;
        ctx.numa = mi;
        Ok(())
    }

    fn zone_limits<M: PhysMem>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
        let mut z = [0u64; MAX_NR_ZONES];
        z[ZoneType::Dma as usize] = MAX_DMA_PFN.min(ctx.max_low_pfn);
        z[ZoneType::Dma32 as usize] = MAX_DMA32_PFN.min(ctx.max_low_pfn);
        z[ZoneType::Normal as usize] = ctx.max_low_pfn;
        z
    }
}

/// reserve_bios_regions(): read base memory size and the EBDA segment from the BIOS data
/// area and reserve from there to 1 MiB.
fn reserve_bios_regions<M: PhysMem>(ctx: &mut BootCtx<'_, X86_64, M>) -> Result<(), BootError> {
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
