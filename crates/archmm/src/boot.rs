//! The bring-up, in order: the talk's RFC made explicit.
//!
//! [`boot`] reads top to bottom like `start_kernel()`: it calls the architecture only at
//! named hooks ([`crate::arch::Arch`]), each with a generic default that most arches use.
//! This module holds those generic definitions and the context they work on.
//!
//! What the firmware said arrives as a [`FirmwareMap`]: plain data parsed beforehand (a
//! kernel parses its boot protocol's structures with `archmm-firmware`; the host emulator
//! parses files). The bring-up never allocates from a heap: the map borrows slices, and the
//! state lives in [`BootCtx`].
//!
//! The sequence so far (the rest of the RFC joins with the bring-up issue):
//! 1. `early_reserve_memory` - kernel image, initrd, device tree blob (arch extras);
//! 2. `detect_memory` - firmware map to memblock;
//! 3. `setup_arch` - the arch's fix-ups and memory limits;
//! 4. `numa_init` - node ids;
//! 5. `zone_limits` + the generic free_area_init layout and its report.

use crate::arch::Arch;
use crate::memblock::{Memblock, MemblockError};
use crate::numa::NumaMeminfo;
use crate::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, PgError, Prot};
use crate::physmem::PhysMem;
use crate::zone::{ModelParams, ZoneError, ZoneLayout};
use archmm_firmware::e820::dmesg::SratMemAffinity;
use archmm_firmware::e820::E820Entry;
use core::fmt::{self, Write};

/// A bank of RAM as a device tree (or a machine description) gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemBank {
    /// First byte.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// `numa-node-id`, if given.
    pub nid: Option<u32>,
    /// `hotpluggable`.
    pub hotplug: bool,
}

/// A reserved range from firmware (/reserved-memory static regions, /memreserve/).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResvRange {
    /// First byte.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// `no-map`: keep out of the linear map (memblock NOMAP) instead of reserving.
    pub nomap: bool,
}

/// Most `alloc-ranges` a dynamic reserved region may list.
pub const MAX_ALLOC_RANGES: usize = 8;

/// A /reserved-memory region the kernel allocates (`size`, optional `alignment` and
/// `alloc-ranges`), as Linux's __reserved_mem_alloc_size() does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynamicResv {
    /// Bytes to allocate.
    pub size: u64,
    /// Alignment (0: a page).
    pub align: u64,
    /// `no-map`.
    pub nomap: bool,
    /// `alloc-ranges` as `(base, size)`; none means anywhere.
    pub ranges: [(u64, u64); MAX_ALLOC_RANGES],
    /// Used entries of `ranges`.
    pub nranges: usize,
}

impl DynamicResv {
    /// Append an allocation range; `Err(())` when full.
    #[allow(clippy::result_unit_err)]
    pub fn push_range(&mut self, base: u64, size: u64) -> Result<(), ()> {
        let slot = self.ranges.get_mut(self.nranges).ok_or(())?;
        *slot = (base, size);
        self.nranges += 1;
        Ok(())
    }
}

/// Everything the firmware and the boot loader told the kernel about memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirmwareMap<'a> {
    /// x86: the e820 table as the BIOS handed it (unsanitised).
    pub e820: &'a [E820Entry],
    /// x86: SRAT memory affinity.
    pub srat: &'a [SratMemAffinity],
    /// Device tree: RAM banks.
    pub banks: &'a [MemBank],
    /// Device tree: reserved ranges.
    pub reserved: &'a [ResvRange],
    /// Device tree: reserved regions to allocate.
    pub dynamic: &'a [DynamicResv],
    /// The kernel image `[start, end)` in physical memory.
    pub kernel: Option<(u64, u64)>,
    /// The initrd `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// The device tree blob `[start, end)` as placed in memory.
    pub dtb: Option<(u64, u64)>,
}

/// Command-line options that change the bring-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootOptions {
    /// `numa=off`.
    pub numa_off: bool,
    /// `memblock=debug`: trace every memblock call and dump memblock where Linux does.
    pub memblock_debug: bool,
}

/// Why the bring-up stopped. Each names the rule the input broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// memblock refused a call (its arrays are full).
    Memblock(MemblockError),
    /// The firmware described no usable memory at all.
    NoMemory,
    /// The e820 table could not be sanitised (e.g. too many entries).
    E820(&'static str),
    /// A NUMA block with a bad node id or inverted range.
    BadNumaNode {
        /// Node id.
        nid: i32,
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// More NUMA blocks than the table holds.
    TooManyNumaBlocks,
    /// Memory of two nodes overlaps.
    NumaOverlap {
        /// One node.
        a: i32,
        /// The other.
        b: i32,
    },
    /// The zone layout could not be computed.
    Zone(ZoneError),
    /// Building the linear map failed.
    PageTable(PgError),
    /// Writing the log failed.
    Log,
}

impl From<MemblockError> for BootError {
    fn from(e: MemblockError) -> Self {
        BootError::Memblock(e)
    }
}

impl From<ZoneError> for BootError {
    fn from(e: ZoneError) -> Self {
        BootError::Zone(e)
    }
}

impl From<fmt::Error> for BootError {
    fn from(_: fmt::Error) -> Self {
        BootError::Log
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Memblock(e) => write!(f, "memblock: {e}"),
            BootError::NoMemory => write!(f, "the firmware map describes no usable memory"),
            BootError::E820(e) => write!(f, "e820: {e}"),
            BootError::BadNumaNode { nid, start, end } => {
                write!(f, "bad NUMA block: node {nid} [mem {start:#x}-{end:#x})")
            }
            BootError::TooManyNumaBlocks => write!(f, "too many NUMA memory blocks"),
            BootError::NumaOverlap { a, b } => write!(f, "memory of NUMA nodes {a} and {b} overlaps"),
            BootError::Zone(e) => write!(f, "zones: {e}"),
            BootError::PageTable(e) => write!(f, "linear map: {e}"),
            BootError::Log => write!(f, "the boot log could not be written"),
        }
    }
}

/// The state of one bring-up: memblock, the arch's own state, the limits computed so far.
pub struct BootCtx<'a, A: Arch, M: PhysMem> {
    /// The early allocator.
    pub memblock: Memblock<M>,
    /// The firmware's description.
    pub fw: FirmwareMap<'a>,
    /// Options.
    pub options: BootOptions,
    /// The kernel log (Linux's printk lines, without level or timestamp).
    pub log: &'a mut dyn Write,
    /// The arch's state.
    pub state: A::State,
    /// Highest pfn of memory + 1.
    pub max_pfn: u64,
    /// Highest directly mapped pfn + 1.
    pub max_low_pfn: u64,
    /// NUMA blocks as registered.
    pub numa: NumaMeminfo,
    /// Memory-model parameters.
    pub model: ModelParams,
    /// The kernel page table's root (init_mm.pgd), once the linear map is built.
    pub pgd: Option<u64>,
}

impl<'a, A: Arch, M: PhysMem> BootCtx<'a, A, M> {
    /// A context over memory `mem` for firmware map `fw`.
    pub fn new(mem: M, fw: FirmwareMap<'a>, options: BootOptions, log: &'a mut dyn Write) -> Self {
        let mut memblock = Memblock::new(mem);
        memblock.set_debug(options.memblock_debug);
        Self {
            memblock,
            fw,
            options,
            log,
            state: A::State::default(),
            max_pfn: 0,
            max_low_pfn: 0,
            numa: NumaMeminfo::default(),
            model: ModelParams {
                model: A::DEFAULT_MODEL,
                section_size_bits: A::SECTION_SIZE_BITS,
                pageblock_order: A::PAGEBLOCK_ORDER,
                page_shift: A::PAGE_SHIFT,
            },
            pgd: None,
        }
    }

    /// The firmware's RAM banks.
    pub fn banks(&self) -> impl Iterator<Item = MemBank> + 'a {
        self.fw.banks.iter().copied()
    }

    /// memblock_dump_all(): printed only with `memblock=debug`, as in Linux.
    pub fn memblock_dump_all(&mut self) -> Result<(), BootError> {
        if self.options.memblock_debug {
            self.memblock.write_dump_all(self.log)?;
        }
        Ok(())
    }
}

/// What a finished bring-up leaves behind.
pub struct Booted<'a, A: Arch, M: PhysMem> {
    /// The context (memblock and limits).
    pub ctx: BootCtx<'a, A, M>,
    /// The zone layout.
    pub zones: ZoneLayout,
}

/// Run the bring-up for arch `A` on memory `mem` with firmware map `fw`, writing Linux's
/// boot lines to `log`.
///
/// # Errors
/// A [`BootError`] naming what in the input is wrong; nothing panics on bad input.
pub fn boot<'a, A: Arch, M: PhysMem + Copy>(
    mem: M,
    fw: FirmwareMap<'a>,
    options: BootOptions,
    log: &'a mut dyn Write,
) -> Result<Booted<'a, A, M>, BootError> {
    let mut ctx = BootCtx::<A, M>::new(mem, fw, options, log);
    A::early_reserve_memory(&mut ctx)?;
    A::detect_memory(&mut ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) {
        return Err(BootError::NoMemory);
    }
    A::setup_arch(&mut ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) || ctx.max_pfn == 0 {
        return Err(BootError::NoMemory);
    }
    A::numa_init(&mut ctx)?;
    let limits = A::zone_limits(&ctx);
    let zones = ZoneLayout::compute(&ctx.memblock, &limits, A::ZONES, &ctx.model)?;
    zones.write_report(&ctx.memblock, ctx.log)?;
    Ok(Booted { ctx, zones })
}

// ----- generic hook definitions --------------------------------------------------------

/// Generic `early_reserve_memory`: reserve the kernel image (its end rounded up to
/// [`Arch::KERNEL_END_ALIGN`]), the initrd and the DTB.
pub fn generic_early_reserve<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let kernel = ctx.fw.kernel.map(|(s, e)| (s, crate::addr::align_up_saturating(e, A::KERNEL_END_ALIGN)));
    for (s, e) in [kernel, ctx.fw.initrd, ctx.fw.dtb].into_iter().flatten() {
        if e > s {
            ctx.memblock.reserve(s, e - s)?;
        }
    }
    Ok(())
}

/// Generic `detect_memory` (device tree): add each bank (node ids are applied later by
/// NUMA init, as of_numa does), mark hotpluggable banks, then reserve /reserved-memory and
/// /memreserve/ ranges, marking `no-map` ones NOMAP (Linux 6.1's
/// early_init_fdt_scan_reserved_mem).
pub fn generic_detect_memory<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let page = A::page_size();
    for b in ctx.fw.banks {
        // early_init_dt_add_memory_arch: page-align the bank, drop what is too small.
        let mut base = b.base;
        let mut size = b.size;
        if base & (page - 1) != 0 {
            let skip = page - (base & (page - 1));
            if size < skip {
                continue;
            }
            size -= skip;
            base += skip;
        }
        size &= !(page - 1);
        if size == 0 {
            continue;
        }
        let phys_limit = if A::MAX_PHYSMEM_BITS >= 64 { u64::MAX } else { (1u64 << A::MAX_PHYSMEM_BITS) - 1 };
        if base > phys_limit {
            let _ = writeln!(
                ctx.log,
                "Ignoring memory block {:#x} - {:#x}",
                base,
                base.saturating_add(size)
            );
            continue;
        }
        if base.saturating_add(size) - 1 > phys_limit {
            let _ = writeln!(
                ctx.log,
                "Ignoring memory range {:#x} - {:#x}",
                phys_limit + 1,
                base.saturating_add(size)
            );
            size = phys_limit - base + 1;
        }
        ctx.memblock.add(base, size)?;
        if b.hotplug {
            ctx.memblock.mark_hotplug(base, size)?;
        }
    }
    for r in ctx.fw.reserved {
        if r.nomap {
            ctx.memblock.mark_nomap(r.base, r.size)?;
        } else {
            ctx.memblock.reserve(r.base, r.size)?;
        }
    }
    for d in ctx.fw.dynamic {
        // __reserved_mem_alloc_size(): in each alloc-range in turn, else anywhere; no-map
        // regions are then taken out of the linear map instead of staying reserved.
        let align = if d.align == 0 { page } else { d.align };
        let found = if d.nranges == 0 {
            ctx.memblock.phys_alloc_range(d.size, align, 0, crate::memblock::MEMBLOCK_ALLOC_ANYWHERE)
        } else {
            d.ranges[..d.nranges].iter().find_map(|&(b, s)| {
                ctx.memblock.phys_alloc_range(d.size, align, b, b.saturating_add(s))
            })
        };
        match found {
            Some(base) if d.nomap => {
                ctx.memblock.phys_free(base, d.size)?;
                ctx.memblock.mark_nomap(base, d.size)?;
            }
            Some(_) => {}
            None => {
                let _ = writeln!(ctx.log, "OF: reserved mem: failed to allocate memory for node: size {}MiB", d.size >> 20);
            }
        }
    }
    Ok(())
}

/// Generic `setup_arch`: drop memory beyond the physical address width; the kernel maps
/// all memory directly, so `max_pfn == max_low_pfn == PFN_DOWN(end of DRAM)`.
pub fn generic_setup_arch<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    if A::MAX_PHYSMEM_BITS < 64 {
        ctx.memblock.remove(1u64 << A::MAX_PHYSMEM_BITS, u64::MAX)?;
    }
    let end = ctx.memblock.end_of_dram();
    ctx.max_pfn = crate::addr::pfn_down(end, A::PAGE_SHIFT);
    ctx.max_low_pfn = ctx.max_pfn;
    Ok(())
}

/// Build the kernel's linear (direct) map: every memblock memory region that is not NOMAP
/// (and `extra`, e.g. x86's first MiB) mapped at `page_offset + pa`, read-write, no-execute,
/// global, with the largest blocks alignment allows (or base pages only when `blocks` is
/// false, as arm64's rodata_full wants). Tables come from memblock. Linux:
/// init_mem_mapping() (x86), map_mem() (arm64), create_linear_mapping_page_table() (riscv).
///
/// Returns the root table's physical address, also kept in `ctx.pgd`.
///
/// # Errors
/// [`BootError::PageTable`] when memblock runs out of memory for tables or a region does
/// not fit the mode's address ranges.
pub fn map_linear<Mo: PagingMode, A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    page_offset: u64,
    extra: Option<(u64, u64)>,
    blocks: bool,
) -> Result<u64, BootError> {
    let mem = *ctx.memblock.mem();
    let mut tlb = FlushLog::default();
    let mut pt = match ctx.pgd {
        Some(root) => PageTable::<Mo, M>::from_root(&mem, root),
        None => PageTable::<Mo, M>::new(&mem, &mut ctx.memblock).map_err(BootError::PageTable)?,
    };
    let page = Mo::PAGE_SIZE;
    let flags = MapFlags { replace: true, blocks };
    let mut map = |pt: &mut PageTable<'_, Mo, M>, mb: &mut Memblock<M>, base: u64, end: u64| -> Result<(), BootError> {
        let (s, e) = (crate::addr::align_up_saturating(base, page), crate::addr::align_down(end, page));
        if e <= s {
            return Ok(());
        }
        let va = page_offset.checked_add(s).ok_or(BootError::PageTable(PgError::Wraps))?;
        pt.map(va, s, e - s, Prot::KERNEL_RW, flags, mb, &mut tlb).map_err(BootError::PageTable)
    };
    if let Some((s, e)) = extra {
        map(&mut pt, &mut ctx.memblock, s, e)?;
    }
    let n = ctx.memblock.cnt(crate::memblock::RegionType::Memory);
    for i in 0..n {
        let r = ctx.memblock.region(crate::memblock::RegionType::Memory, i);
        if r.size == 0 || r.flags.contains(crate::memblock::MemblockFlags::NOMAP) {
            continue;
        }
        map(&mut pt, &mut ctx.memblock, r.base, r.end())?;
    }
    ctx.pgd = Some(pt.root());
    Ok(pt.root())
}
