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
use crate::buddy::PageAlloc;
use crate::memblock::{Memblock, MemblockError};
use crate::memmap::{Memmap, MemmapGeometry};
use crate::numa::NumaMeminfo;
use crate::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, PgError, Prot};
use crate::physmem::PhysMem;
use crate::zone::{ModelParams, ZoneError, ZoneLayout};
use archmm_firmware::e820::dmesg::{SratCpuAffinity, SratMemAffinity};
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

/// Sizes of the kernel image's sections, for the `Memory:` line (Linux takes them from
/// the linker symbols _stext/_etext, _sdata/_edata, __start_rodata/__end_rodata,
/// __init_begin/__init_end, __bss_start/__bss_stop). The image is taken to hold them in
/// that order from its start, each page-aligned: text, rodata, rwdata, init, bss (x86-64's
/// and arm64's vmlinux.lds order), which is where free_initmem() finds the init sections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelSections {
    /// Text bytes.
    pub text: u64,
    /// Read-write data bytes.
    pub rwdata: u64,
    /// Read-only data bytes.
    pub rodata: u64,
    /// Init sections (code and data) bytes.
    pub init: u64,
    /// BSS bytes.
    pub bss: u64,
    /// Static per-CPU data bytes (__per_cpu_end - __per_cpu_start).
    pub percpu: u64,
}

impl KernelSections {
    /// The sections as a kernel's `Memory:` line gives them (`NK kernel code, NK rwdata,
    /// NK rodata, NK init, NK bss`, in KiB) and its static per-CPU bytes (`percpu: ... sN`).
    pub const fn from_memory_line(
        code_k: u64,
        rwdata_k: u64,
        rodata_k: u64,
        init_k: u64,
        bss_k: u64,
        percpu: u64,
    ) -> Self {
        const K: u64 = 1024;
        KernelSections {
            text: code_k * K,
            rwdata: rwdata_k * K,
            rodata: rodata_k * K,
            init: init_k * K,
            bss: bss_k * K,
            percpu,
        }
    }
}

/// Everything the firmware and the boot loader told the kernel about memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirmwareMap<'a> {
    /// x86: the e820 table as the BIOS handed it (unsanitised).
    pub e820: &'a [E820Entry],
    /// x86: SRAT memory affinity.
    pub srat: &'a [SratMemAffinity],
    /// x86: SRAT processor affinity (APIC id to node), in table order.
    pub srat_cpus: &'a [SratCpuAffinity],
    /// Device tree: the `numa-node-id` of each CPU node, in tree order (the order Linux
    /// numbers CPUs in when the boot CPU comes first).
    pub cpu_nodes: &'a [Option<u32>],
    /// Device tree: the `numa-distance-map-v1` entries `(node a, node b, distance)`, if the
    /// tree has such a map.
    pub numa_distances: Option<&'a [(u32, u32, u32)]>,
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
    /// The kernel image's section sizes.
    pub sections: KernelSections,
}

/// Command-line options that change the bring-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootOptions {
    /// `numa=off`.
    pub numa_off: bool,
    /// `memblock=debug`: trace every memblock call and dump memblock where Linux does.
    pub memblock_debug: bool,
    /// CPUs (0 counts as 1).
    pub cpus: usize,
    /// `cma=`: bytes of CMA to reserve at boot (None: the arch's default).
    pub cma: Option<u64>,
    /// `kernelcore=`.
    pub kernelcore: crate::zone::CoreSize,
    /// `movablecore=`.
    pub movablecore: crate::zone::CoreSize,
    /// `movable_node`: hotpluggable memory becomes ZONE_MOVABLE and is not used for early
    /// allocations.
    pub movable_node: bool,
    /// The most memory this bring-up may take on, in bytes, once the arch has applied
    /// Linux's own limits (0: no limit). Not a Linux option: a host emulating the machine
    /// sets it to what it can back; beyond it the bring-up stops with
    /// [`BootError::TooMuchMemory`] before building tables or metadata for it.
    pub memory_limit: u64,
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
    /// Building the memmap failed.
    Memmap(crate::memmap::MemmapError),
    /// The first per-CPU chunk could not be set up.
    Percpu(crate::percpu::PercpuError),
    /// The kernel image does not fit the machine: its sections are larger than the span
    /// the firmware map gives it, or that span is not memory.
    KernelImage {
        /// The image's span `[start, end)`.
        start: u64,
        /// End.
        end: u64,
        /// Bytes its page-aligned sections need.
        needed: u64,
        /// The span lies in memory.
        in_memory: bool,
        /// Where the machine's memory ends.
        mem_end: u64,
        /// Bytes of memory the machine has.
        mem_size: u64,
    },
    /// More memory than [`BootOptions::memory_limit`] remains after Linux's own limits.
    TooMuchMemory {
        /// Bytes of memory.
        size: u64,
        /// The limit.
        limit: u64,
    },
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
            BootError::Memmap(e) => write!(f, "memmap: {e}"),
            BootError::Percpu(e) => write!(f, "percpu: {e}"),
            BootError::KernelImage { start, end, in_memory: false, mem_end, mem_size, .. } => write!(
                f,
                "the kernel image [mem {start:#010x}-{:#010x}] is not in the machine's memory ({} KiB, ending at {mem_end:#x}): the machine is too small for this kernel",
                end.saturating_sub(1),
                mem_size >> 10
            ),
            BootError::KernelImage { start, end, needed, in_memory: true, .. } => write!(
                f,
                "the kernel image [mem {start:#010x}-{:#010x}] is smaller than its sections ({} KiB)",
                end.saturating_sub(1),
                needed >> 10
            ),
            BootError::TooMuchMemory { size, limit } => write!(
                f,
                "{} GiB of memory remain after Linux's limits; this bring-up was given at most {} GiB (the host emulator's bound)",
                size >> 30,
                limit >> 30
            ),
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
    /// The kernel image's sections in physical memory (from the firmware map).
    pub image: Option<crate::protect::ImageLayout>,
    /// What the kernel's virtual ranges map (linear map, image mapping).
    pub layout: crate::protect::KernelLayout,
    /// The first per-CPU chunk, once setup_per_cpu_areas() ran.
    pub percpu: Option<PercpuAreas>,
    /// early_cpu_to_node() of each possible CPU, as the arch's NUMA init sets it
    /// ([`crate::numa::set_cpu_nodes`]).
    pub cpu_node: [u16; crate::percpu::MAX_CPUS],
    /// node_distance() between nodes: 10 local, 20 remote unless the firmware says
    /// otherwise ([`crate::numa::generic_numa_init`]).
    pub node_distance: crate::numa::NodeDistance,
}

pub use crate::percpu::PercpuAreas;

impl<'a, A: Arch, M: PhysMem + Copy> BootCtx<'a, A, M> {
    /// A context over memory `mem` for firmware map `fw`.
    pub fn new(mem: M, fw: FirmwareMap<'a>, options: BootOptions, log: &'a mut dyn Write) -> Self {
        let mut memblock = Memblock::new(mem);
        memblock.set_debug(options.memblock_debug);
        memblock.movable_node = options.movable_node;
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
            image: fw.kernel.map(|(start, _)| {
                crate::protect::ImageLayout::new(start, &fw.sections, 1 << A::PAGE_SHIFT, A::RODATA_ALIGN)
            }),
            layout: crate::protect::KernelLayout { page_offset: A::PAGE_OFFSET, ..Default::default() },
            percpu: None,
            cpu_node: [0; crate::percpu::MAX_CPUS],
            node_distance: crate::numa::NodeDistance::default(),
        }
    }

    /// The firmware's RAM banks.
    pub fn banks(&self) -> impl Iterator<Item = MemBank> + 'a {
        self.fw.banks.iter().copied()
    }

    /// The memblock dump arm64's bootmem_init() prints after the zones (memblock=debug).
    pub fn memblock_dump_all_late(&mut self) -> Result<(), BootError> {
        if A::FIRMWARE == crate::arch::FirmwareKind::DeviceTree {
            return self.memblock_dump_all();
        }
        Ok(())
    }

    /// Map `[pa, pa + size)` at `va` in the kernel page table with `prot` (tables from
    /// memblock), for the kernel image and devices a [`Platform`] needs before switching;
    /// `blocks: false` maps base pages only.
    ///
    /// # Errors
    /// [`BootError::PageTable`] for a bad range or a mapping already there, or when memblock
    /// has no memory for tables.
    pub fn map_kernel(&mut self, va: u64, pa: u64, size: u64, prot: Prot, blocks: bool) -> Result<(), BootError> {
        let mem = *self.memblock.mem();
        let mut pt = match self.pgd {
            Some(root) => PageTable::<A::Paging, M>::from_root(&mem, root),
            None => PageTable::<A::Paging, M>::new(&mem, &mut self.memblock).map_err(BootError::PageTable)?,
        };
        let mut tlb = FlushLog::default();
        pt.map(va, pa, size, prot, MapFlags { replace: false, blocks }, &mut self.memblock, &mut tlb)
            .map_err(BootError::PageTable)?;
        self.pgd = Some(pt.root());
        Ok(())
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
    /// The page allocator.
    pub pages: PageAlloc<A::Paging, M>,
    /// The numbers of the `Memory:` line.
    pub report: MemReport,
    /// What the W^X check found after mark_rodata_ro().
    pub wx: crate::protect::WxReport,
}

/// The numbers Linux's mem_init_print_info() and build_all_zonelists() print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemReport {
    /// Pages present in all nodes (get_num_physpages()).
    pub physpages: u64,
    /// Free pages after memblock_free_all().
    pub free: u64,
    /// Pages managed by the allocator (totalram_pages()).
    pub totalram: u64,
    /// Pages reserved for CMA.
    pub cma: u64,
    /// The `Total pages:` estimate of build_all_zonelists().
    pub zonelist_pages: u64,
    /// Bytes of page metadata (the memmap).
    pub memmap_bytes: u64,
    /// Pages of ZONE_HIGHMEM given to the allocator (totalhigh_pages()).
    pub highmem: u64,
}

/// The machine the bring-up runs on, at the points where the hardware itself takes part.
///
/// The bring-up builds page tables and metadata only through [`PhysMem`]; making a page
/// table live is the one step that needs the CPU. A bare-metal kernel implements this to
/// load its MMU; the host emulator has no MMU to switch ([`NoMmu`]).
pub trait Platform<A: Arch, M: PhysMem> {
    /// paging_init(): the kernel page table (`ctx.pgd`, with the linear map) is complete.
    /// A kernel adds what its running code needs (its image, its console) with
    /// [`BootCtx::map_kernel`], loads the root into the MMU, and from then on reaches
    /// physical memory through the linear map. Linux: the switch to swapper_pg_dir in
    /// x86's init_mem_mapping(), arm64's and riscv's paging_init()/setup_vm_final().
    ///
    /// # Errors
    /// A [`BootError`] if a mapping cannot be built.
    fn paging_init(&mut self, ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError>;

    /// flush_tlb_kernel_range(): translations of `[start, end)` in the live kernel table
    /// changed (protections tightened, mappings removed); drop them from the TLB. Nothing to
    /// do on the host.
    fn flush_tlb_kernel_range(&mut self, _start: u64, _end: u64) {}
}

/// A [`Platform`] as the engine's [`crate::pgtable::TlbFlush`].
struct PlatformTlb<'x, A: Arch, M: PhysMem>(&'x mut dyn Platform<A, M>);

impl<A: Arch, M: PhysMem> crate::pgtable::TlbFlush for PlatformTlb<'_, A, M> {
    fn flush_range(&mut self, start: u64, end: u64) {
        self.0.flush_tlb_kernel_range(start, end);
    }
}

/// The host emulator's [`Platform`]: page tables are data, nothing is switched.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMmu;

impl<A: Arch, M: PhysMem> Platform<A, M> for NoMmu {
    fn paging_init(&mut self, _ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
        Ok(())
    }
}

/// Run the bring-up for arch `A` on memory `mem` with firmware map `fw`, writing Linux's
/// boot lines to `log`, with no MMU to switch (the host emulator). See [`boot_on`].
///
/// # Errors
/// A [`BootError`] naming what in the input is wrong; nothing panics on bad input.
pub fn boot<'a, A: Arch, M: PhysMem + Copy>(
    mem: M,
    fw: FirmwareMap<'a>,
    options: BootOptions,
    log: &'a mut dyn Write,
) -> Result<Booted<'a, A, M>, BootError> {
    boot_on::<A, M>(mem, fw, options, log, &mut NoMmu)
}

/// The bring-up on `platform`: the RFC's sequence, top to bottom.
///
/// # Errors
/// A [`BootError`] naming what in the input is wrong; nothing panics on bad input.
///
/// Never inlined: its frame (about 110 KiB on x86-64, mostly the fixed-size tables it moves
/// into [`Booted`]) is then given back when it returns, instead of staying part of the
/// caller's frame for the kernel's whole life (measured in the x86-64 kernel: the stack's
/// high-water mark fell from 398 to 288 KiB).
#[inline(never)]
pub fn boot_on<'a, A: Arch, M: PhysMem + Copy>(
    mem: M,
    fw: FirmwareMap<'a>,
    options: BootOptions,
    log: &'a mut dyn Write,
    platform: &mut dyn Platform<A, M>,
) -> Result<Booted<'a, A, M>, BootError> {
    let mut ctx = BootCtx::<A, M>::new(mem, fw, options, log);
    A::early_reserve_memory(&mut ctx)?;
    A::detect_memory(&mut ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) {
        return Err(BootError::NoMemory);
    }
    check_kernel_image(&ctx)?;
    A::setup_arch(&mut ctx)?;
    if ctx.memblock.is_empty(crate::memblock::RegionType::Memory) || ctx.max_pfn == 0 {
        return Err(BootError::NoMemory);
    }
    map_kernel_image(&mut ctx)?;
    platform.paging_init(&mut ctx)?;
    A::numa_init(&mut ctx)?;
    let limits = A::zone_limits(&ctx);
    let policy = crate::zone::MovablePolicy {
        kernelcore: ctx.options.kernelcore,
        movablecore: ctx.options.movablecore,
        movable_node: ctx.options.movable_node,
        max_order_nr_pages: 1 << (A::MAX_ORDER - 1),
    };
    let mut zones = ZoneLayout::compute(&ctx.memblock, &limits, A::ZONES, &ctx.model, &policy)?;
    for &nid in &ctx.cpu_node[..ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS)] {
        zones.add_cpu_node(nid as usize);
    }
    zones.memoryless_offline = !A::MEMORYLESS_ONLINE_EARLY;
    zones.write_report(&ctx.memblock, ctx.log)?;
    let dma_reserve = A::dma_reserve(&ctx);
    let held = if A::MEMMAP_BEFORE_CMA { hold_linux_memmap(&mut ctx) } else { [None; crate::zone::MAX_NODES] };
    let cma = reserve_cma(&mut ctx);
    for (pa, size) in held.into_iter().flatten() {
        ctx.memblock.phys_free(pa, size)?;
    }
    let cma = cma?;
    ctx.memblock_dump_all_late()?;
    check_memory_limit(&ctx)?;
    let (mut pages, memmap_bytes) = memmap_init(&mut ctx, &zones)?;
    setup_per_cpu_areas(&mut ctx)?;
    let zonelist_pages = print_zonelists::<A>(&zones, dma_reserve, &ctx.node_distance, ctx.log)?;
    A::arch_pre_mm_init(&mut ctx)?;
    A::highmem_banner(&zones, ctx.log)?;
    memblock_free_all(&mut ctx, &pages);
    let highmem = free_highmem_pages(&mut ctx, &pages);
    let report = MemReport {
        physpages: zones.online_nodes().map(|(_, n)| n.zones.iter().map(|z| z.present).sum::<u64>()).sum(),
        free: pages.nr_free_pages(),
        totalram: pages.totalram_pages(),
        cma,
        zonelist_pages,
        memmap_bytes,
        highmem,
    };
    print_memory_line::<A, M>(&mut ctx, &report)?;
    // setup_per_cpu_pageset(): each zone's per-CPU page lists move into the per-CPU areas.
    if let Some(areas) = &ctx.percpu {
        pages.setup_zone_pageset(crate::percpu::PcpuChunk::new(areas)).map_err(BootError::Percpu)?;
    }
    // init_per_zone_wmark_min(): min_free_kbytes from lowmem, then the watermarks.
    let lowmem_kb = pages
        .zones()
        .filter(|z| z.kind <= crate::zone::ZoneType::Normal)
        .map(|z| z.managed.load(core::sync::atomic::Ordering::Relaxed))
        .sum::<u64>()
        << (A::PAGE_SHIFT - 10);
    let min_free_kbytes = isqrt(lowmem_kb * 16).clamp(128, 262_144);
    pages.setup_watermarks(min_free_kbytes, A::PAGE_SHIFT);
    A::arch_post_mm_init(&mut ctx)?;
    // kernel_init(): the initcalls (populate_rootfs() frees the initrd) run before
    // free_initmem() and mark_readonly().
    free_initrd_mem(&mut ctx, &pages)?;
    free_initmem(&mut ctx, &pages, &mut PlatformTlb(&mut *platform))?;
    let wx = mark_readonly(&mut ctx, &pages, &mut PlatformTlb(&mut *platform))?;
    A::arch_finalize_boot(&mut ctx)?;
    Ok(Booted { ctx, zones, pages, report, wx })
}

/// [`BootOptions::memory_limit`]: checked before the linear map and the memmap are built.
fn check_memory_limit<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> Result<(), BootError> {
    let size = ctx.memblock.phys_mem_size();
    let limit = ctx.options.memory_limit;
    if limit != 0 && size > limit {
        return Err(BootError::TooMuchMemory { size, limit });
    }
    Ok(())
}

/// The kernel the firmware map places must be able to run there: its page-aligned sections
/// fit the span it was given, and that span is memory (a machine smaller than the kernel's
/// load address plus its image is refused here rather than booted into nonsense).
fn check_kernel_image<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> Result<(), BootError> {
    let (Some((start, end)), Some(img)) = (ctx.fw.kernel, ctx.image) else { return Ok(()) };
    let needed = img.size();
    let in_memory = end > start && ctx.memblock.is_region_memory(start, end - start);
    if !in_memory || needed > end - start {
        return Err(BootError::KernelImage {
            start,
            end,
            needed,
            in_memory,
            mem_end: ctx.memblock.end_of_dram(),
            mem_size: ctx.memblock.phys_mem_size(),
        });
    }
    Ok(())
}

/// Map the kernel image at the arch's image address (if it has one), read-write-execute as
/// the early boot mapping is; mark_rodata_ro() gives each section its final protection.
/// Records the kernel's virtual layout in `ctx.layout`.
fn map_kernel_image<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    ctx.layout.linear_end = ctx.max_low_pfn << A::PAGE_SHIFT;
    let Some(mut img) = ctx.image.filter(|i| i.size() != 0) else { return Ok(()) };
    match A::KERNEL_IMAGE_MAP {
        Some(base) => {
            img.va = base.va_of(img.pa);
            ctx.map_kernel(img.va, img.pa, img.size(), crate::protect::EARLY_IMAGE_PROT, true)?;
        }
        None => {
            // The kernel runs from its linear-map pages: they are its image mapping, and
            // executable until mark_rodata_ro().
            let Some(root) = ctx.pgd else { return Ok(()) };
            img.va = ctx.layout.page_offset.wrapping_add(img.pa) & A::KERNEL_VA_MASK;
            let mem = *ctx.memblock.mem();
            let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
            if pt.translate(img.va).is_none() {
                return Ok(());
            }
            let layout = ctx.layout;
            let r = crate::protect::set_memory(
                &mut pt,
                &layout,
                img.va,
                img.size() >> A::PAGE_SHIFT,
                crate::protect::MemChange::X,
                &mut ctx.memblock,
                &mut FlushLog::default(),
            );
            match r {
                Ok(()) | Err(PgError::UnsupportedProt(_)) => {}
                Err(e) => return Err(BootError::PageTable(e)),
            }
        }
    }
    ctx.layout.image = Some(img);
    Ok(())
}

/// mark_readonly(): mark_rodata_ro() (the image's final protections, the linear alias of
/// text and rodata read-only), then debug_checkwx() over the whole kernel table.
fn mark_readonly<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
) -> Result<crate::protect::WxReport, BootError> {
    let Some(root) = ctx.pgd else { return Ok(crate::protect::WxReport::default()) };
    if let Some(img) = ctx.layout.image {
        A::mark_rodata_ro_banner(&img, ctx.log)?;
    }
    let mem = *ctx.memblock.mem();
    let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
    crate::protect::mark_rodata_ro(&mut pt, &mut ctx.layout, true, &mut alloc, tlb).map_err(BootError::PageTable)?;
    // Where rodata is aligned beyond a page, the alignment gaps are image pages nothing
    // uses: free them as x86's mark_rodata_ro() does.
    if let Some(img) = ctx.image.filter(|i| i.rodata_align > A::page_size()) {
        let page = A::page_size();
        let up = |x: u64| crate::addr::align_up_saturating(x, page);
        let (text, rodata) = (up(ctx.fw.sections.text), up(ctx.fw.sections.rodata));
        let ro_off = img.section(crate::protect::Section::Rodata).0;
        let data_off = img.section(crate::protect::Section::Data).0;
        free_image_range(ctx, pages, tlb, text, ro_off - text.min(ro_off), "unused kernel image (text/rodata gap)")?;
        free_image_range(
            ctx,
            pages,
            tlb,
            ro_off + rodata,
            data_off.saturating_sub(ro_off + rodata),
            "unused kernel image (rodata/data gap)",
        )?;
    }
    let pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let wx = crate::protect::check_wx(&pt);
    if let Some(f) = A::WX_FORMAT {
        crate::protect::write_wx(&f, &wx, ctx.log)?;
    }
    Ok(wx)
}

/// Linux's POISON_FREE_INITMEM.
pub const POISON_FREE_INITMEM: u8 = 0xcc;

/// free_reserved_area(): the whole pages inside `[start, end)`, poisoned, to the page
/// allocator; prints `Freeing <what> memory: NK`.
fn free_reserved_area<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    start: u64,
    end: u64,
    what: &str,
) -> Result<(), BootError> {
    let ps = A::PAGE_SHIFT;
    let (s, e) = (crate::addr::pfn_up(start, ps), crate::addr::pfn_down(end, ps));
    let freed = if s < e { pages.free_reserved_range(s, e, Some(POISON_FREE_INITMEM)) } else { 0 };
    writeln!(ctx.log, "Freeing {what} memory: {}K", freed << (ps - 10))?;
    Ok(())
}

/// free_kernel_image_pages(): image bytes `[off, off + len)` become read-write and
/// non-executable in every mapping of them (image mapping, linear alias), then go to the
/// page allocator, poisoned.
fn free_image_range<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
    off: u64,
    len: u64,
    what: &str,
) -> Result<(), BootError> {
    use crate::protect::{set_memory, MemChange};
    let (Some(img), Some(root)) = (ctx.image, ctx.pgd) else { return Ok(()) };
    let n = len >> A::PAGE_SHIFT;
    if n == 0 {
        return Ok(());
    }
    let pa = img.pa + off;
    let mem = *ctx.memblock.mem();
    let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let layout = ctx.layout;
    {
        let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
        let mut vas = [layout.page_offset.wrapping_add(pa), 0];
        if let Some(m) = layout.image {
            vas[1] = m.va + off;
        }
        for va in vas {
            if va == 0 || pt.translate(va).is_none() {
                continue;
            }
            set_memory(&mut pt, &layout, va, n, MemChange::Nx, &mut alloc, tlb).map_err(BootError::PageTable)?;
            set_memory(&mut pt, &layout, va, n, MemChange::Rw, &mut alloc, tlb).map_err(BootError::PageTable)?;
        }
    }
    free_reserved_area(ctx, pages, pa, pa + len, what)
}

/// free_initmem(): the kernel image's init sections go to the page allocator (poisoned);
/// in the image mapping they become non-executable, or are unmapped where the arch asks
/// (their linear alias stays: the page allocator hands the pages out through it).
fn free_initmem<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
) -> Result<(), BootError> {
    let (Some(img), Some((_, kend))) = (ctx.image, ctx.fw.kernel) else { return Ok(()) };
    let (off, len) = img.section(crate::protect::Section::Init);
    let init_start = img.pa.saturating_add(off);
    let init_end = init_start.saturating_add(len).min(kend);
    if len == 0 || init_start >= init_end {
        return Ok(());
    }
    free_reserved_area(ctx, pages, init_start, init_end, A::INITMEM_LABEL)?;
    if let (Some(mapped), Some(root)) = (ctx.layout.image, ctx.pgd) {
        let (va, n) = (mapped.va + off, (init_end - init_start) >> A::PAGE_SHIFT);
        let change = if A::INIT_IMAGE_UNMAP { crate::protect::MemChange::Np } else { crate::protect::MemChange::Nx };
        let mem = *ctx.memblock.mem();
        let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
        let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
        let layout = ctx.layout;
        crate::protect::set_memory(&mut pt, &layout, va, n, change, &mut alloc, tlb).map_err(BootError::PageTable)?;
    }
    Ok(())
}

/// free_initrd_mem(): the initrd, once unpacked, goes to the page allocator.
fn free_initrd_mem<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
) -> Result<(), BootError> {
    match ctx.fw.initrd {
        Some((s, e)) if e > s => free_reserved_area(ctx, pages, s, e, "initrd"),
        _ => Ok(()),
    }
}

/// Integer square root (Linux's int_sqrt).
pub(crate) fn isqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's iteration from above converges to floor(sqrt(x)).
    let mut r = x;
    let mut y = r.div_ceil(2);
    while y < r {
        r = y;
        y = (r + x / r) / 2;
    }
    r
}

/// dma_contiguous_reserve(): the boot CMA area, top-down below the arch's limit, aligned to
/// the larger of a MAX_ORDER block and a pageblock. Returns its pages.
/// Where [`Arch::MEMMAP_BEFORE_CMA`]: take from memblock, per node, the buffer Linux's
/// sparse_init() takes (sparse_buffer_init(): sections with memory times
/// ALIGN(LINUX_STRUCT_PAGE * PAGES_PER_SECTION, PMD_SIZE), aligned to that, on the node),
/// so the CMA area is placed below it as in Linux. The caller gives it back right after:
/// archmm's own memmap (32 bytes a page) is then allocated where Linux's sits. A node whose
/// buffer does not fit gets none, as Linux then falls back to allocating per block.
fn hold_linux_memmap<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
) -> [Option<(u64, u64)>; crate::zone::MAX_NODES] {
    let mut held = [None; crate::zone::MAX_NODES];
    if ctx.model.model != crate::arch::MemoryModel::SparseVmemmap {
        return held;
    }
    let levels = <A::Paging as crate::pgtable::PagingMode>::LEVELS;
    let pmd = levels[levels.len().saturating_sub(2)].span();
    let pps = 1u64 << (A::SECTION_SIZE_BITS - A::PAGE_SHIFT);
    let map_size = crate::addr::align_up_saturating(A::LINUX_STRUCT_PAGE * pps, pmd);
    let mut sections = [0u64; crate::zone::MAX_NODES];
    let mut last = [u64::MAX; crate::zone::MAX_NODES];
    ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, A::PAGE_SHIFT, |s, e, nid| {
        let n = nid.clamp(0, crate::zone::MAX_NODES as i32 - 1) as usize;
        for sec in (s / pps)..e.div_ceil(pps) {
            if last[n] != sec {
                sections[n] += 1;
                last[n] = sec;
            }
        }
    });
    for (nid, &count) in sections.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let size = count.saturating_mul(map_size);
        let got = ctx.memblock.alloc_range_nid(
            size,
            map_size,
            0,
            crate::memblock::MEMBLOCK_ALLOC_ACCESSIBLE,
            nid as i32,
            true,
        );
        held[nid] = got.map(|pa| (pa, size));
    }
    held
}

fn reserve_cma<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<u64, BootError> {
    let size = ctx.options.cma.unwrap_or(A::DEFAULT_CMA_BYTES);
    if size == 0 {
        return Ok(0);
    }
    // CMA_MIN_ALIGNMENT_BYTES: a pageblock in 6.1 (5.19 dropped MAX_ORDER - 1).
    let align = 1u64 << (A::PAGEBLOCK_ORDER + A::PAGE_SHIFT);
    let size = crate::addr::align_up_saturating(size, align);
    let limit = A::cma_limit(ctx).min(ctx.memblock.end_of_dram());
    // cma_declare_contiguous_nid(): all pages of the area must be in one zone; a range that
    // crosses into highmem is tried in highmem first, then below it.
    let highmem_start = ctx.max_low_pfn << A::PAGE_SHIFT;
    let nid = crate::memblock::NUMA_NO_NODE;
    let mut found = None;
    let mut limit = limit;
    if highmem_start != 0 && limit > highmem_start {
        found = ctx.memblock.alloc_range_nid(size, align, highmem_start, limit, nid, true);
        limit = highmem_start;
    }
    match found.or_else(|| ctx.memblock.alloc_range_nid(size, align, 0, limit, nid, true)) {
        Some(base) => {
            writeln!(ctx.log, "cma: Reserved {} MiB at {:#018x}", size >> 20, base)?;
            Ok(size >> A::PAGE_SHIFT)
        }
        None => {
            writeln!(ctx.log, "cma: Failed to reserve {} MiB", size >> 20)?;
            Ok(0)
        }
    }
}

/// setup_per_cpu_areas(): the first per-CPU chunk, embedded in memblock memory on each
/// CPU's node (early_cpu_to_node(), [`BootCtx::cpu_node`]).
fn setup_per_cpu_areas<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    let cpus = ctx.options.cpus.clamp(1, crate::percpu::MAX_CPUS);
    let nodes = ctx.cpu_node;
    // nr_node_ids: the highest possible node + 1; nodes with memory or CPUs are possible.
    let nr_node_ids = ctx
        .numa
        .blocks()
        .iter()
        .map(|b| b.nid.max(0) as usize)
        .chain(nodes[..cpus].iter().map(|&n| n as usize))
        .max()
        .unwrap_or(0)
        + 1;
    A::percpu_banner(ctx, ctx.options.cpus.max(1), nr_node_ids)?;
    let page = A::page_size();
    let layout = crate::percpu::PcpuLayout::build_reserved(
        ctx.fw.sections.percpu.max(1),
        A::PERCPU_RESERVE,
        A::PERCPU_DYN_SIZE,
        A::PERCPU_ATOM_SIZE.max(page),
        page,
        ctx.options.cpus.max(1),
        |c| nodes[c],
    )
    .map_err(BootError::Percpu)?;
    let unit_base = layout.allocate(&mut ctx.memblock, A::PERCPU_MIN_ADDR).map_err(BootError::Percpu)?;
    layout.write_report(page, ctx.log)?;
    ctx.percpu = Some(PercpuAreas { layout, unit_base });
    Ok(())
}

/// Where the page of pfn 0 would be in the virtual memmap: VMEMMAP_START less the pages
/// below the linear map's base (rounded down to a section), so the first memory's pages
/// start at VMEMMAP_START (see [`Arch::linear_map_phys_base`]).
fn vmemmap_base<A: Arch, M: PhysMem + Copy>(ctx: &BootCtx<'_, A, M>) -> u64 {
    let base = crate::addr::align_down(A::linear_map_phys_base(ctx), 1 << A::SECTION_SIZE_BITS);
    let skipped = (base >> A::PAGE_SHIFT) * crate::memmap::PAGE_META_SIZE;
    A::VMEMMAP_START.wrapping_sub(skipped) & A::KERNEL_VA_MASK
}

/// memmap_init(): metadata for every section with memory, the page allocator's zones, and
/// the holes inside sections marked reserved (init_unavailable_range).
fn memmap_init<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    zones: &ZoneLayout,
) -> Result<(PageAlloc<A::Paging, M>, u64), BootError> {
    let geo = MemmapGeometry {
        model: ctx.model.model,
        page_shift: A::PAGE_SHIFT,
        section_size_bits: A::SECTION_SIZE_BITS,
        max_physmem_bits: A::MAX_PHYSMEM_BITS,
        vmemmap_start: vmemmap_base::<A, M>(ctx),
    };
    let mm = Memmap::init::<A::Paging, M>(&mut ctx.memblock, geo, ctx.pgd).map_err(BootError::Memmap)?;
    let bytes = mm.bytes();
    let mem = *ctx.memblock.mem();
    let mut pages = PageAlloc::<A::Paging, M>::new(mem, mm, A::MAX_ORDER, ctx.options.cpus.max(1));
    let populated = zones.online_nodes().map(|(_, n)| n.zones.iter().filter(|z| z.spanned != 0).count()).sum::<usize>();
    if populated > crate::buddy::MAX_ZONES {
        return Err(BootError::Zone(ZoneError::TooManyZones { zones: populated, max: crate::buddy::MAX_ZONES }));
    }
    for (nid, node) in zones.online_nodes() {
        for z in crate::zone::ZoneType::ALL {
            let nz = node.zones[z as usize];
            if nz.spanned != 0 && !pages.add_zone(z, nid, nz.start_pfn, nz.spanned, nz.present) {
                return Err(BootError::Zone(ZoneError::TooManyZones {
                    zones: populated,
                    max: crate::buddy::MAX_ZONES,
                }));
            }
        }
    }
    // Holes between memory ranges (and up to section ends) that have metadata.
    let ps = A::PAGE_SHIFT;
    let pps = geo.pages_per_section();
    let mut prev_end: Option<u64> = None;
    let mut holes = [(0u64, 0u64); 64];
    let mut n = 0;
    ctx.memblock.for_each_mem_pfn_range(crate::memblock::MAX_NUMNODES, ps, |s, e, _| {
        let hole_start = match prev_end {
            Some(p) => p,
            None => s & !(pps - 1),
        };
        if hole_start < s && n < holes.len() {
            holes[n] = (hole_start, s);
            n += 1;
        }
        prev_end = Some(e);
    });
    if let Some(p) = prev_end {
        if n < holes.len() {
            holes[n] = (p, crate::addr::round_up_wrapping(p, pps));
            n += 1;
        }
    }
    for &(s, e) in &holes[..n] {
        // Only pages that have metadata: whole absent sections are skipped quickly.
        let mut pfn = s;
        while pfn < e {
            if pages.memmap().meta_pa::<A::Paging, M>(&mem, pfn).is_none() {
                pfn = pages.memmap().skip_absent(pfn);
                continue;
            }
            pages.mark_reserved(pfn, pfn + 1);
            pfn += 1;
        }
    }
    Ok((pages, bytes))
}

/// build_all_zonelists()'s lines: the number of zonelists, whether pages are grouped by
/// mobility, and the `Total pages:` estimate (present pages minus what the memmap would take
/// with Linux's struct page, [`Arch::LINUX_STRUCT_PAGE`], minus the DMA reserve), then
/// `Policy zone:` (NUMA kernels).
fn print_zonelists<A: Arch>(
    zones: &ZoneLayout,
    dma_reserve: u64,
    dist: &crate::numa::NodeDistance,
    log: &mut dyn Write,
) -> Result<u64, BootError> {
    let linux_struct_page = A::LINUX_STRUCT_PAGE;
    const MIGRATE_TYPES: u64 = 6;
    let page = 1u64 << A::PAGE_SHIFT;
    let mut total = 0u64;
    // nr_online_nodes: memoryless nodes count too.
    let mut nodes = zones.nodes.iter().filter(|n| n.memoryless).count();
    let mut policy = None;
    let lowest = A::ZONES.first().copied();
    for (_, n) in zones.online_nodes() {
        nodes += 1;
        for z in crate::zone::ZoneType::ALL {
            let nz = n.zones[z as usize];
            let (spanned, present) = (nz.spanned, nz.present);
            let pages = if spanned > present + (present >> 4) { present } else { spanned };
            let memmap = (pages * linux_struct_page).div_ceil(page);
            let mut free = present;
            if z != crate::zone::ZoneType::HighMem && free >= memmap {
                free -= memmap;
            }
            if Some(z) == lowest && free > dma_reserve {
                free -= dma_reserve;
            }
            if present != 0 {
                total += free;
                if z != crate::zone::ZoneType::Movable && policy.is_none_or(|p| z > p) {
                    policy = Some(z);
                }
            }
        }
    }
    // The fallback order and the policy zone are CONFIG_NUMA's lines.
    if A::NUMA {
        print_fallback_order(zones, dist, log)?;
    }
    let grouping = if total < (1u64 << A::PAGEBLOCK_ORDER) * MIGRATE_TYPES { "off" } else { "on" };
    writeln!(log, "Built {nodes} zonelists, mobility grouping {grouping}.  Total pages: {total}")?;
    if let Some(p) = policy.filter(|_| A::NUMA) {
        writeln!(log, "Policy zone: {}", p.name())?;
    }
    Ok(total)
}

/// build_zonelists()' `Fallback order for Node N:` lines: for each node (memoryless ones
/// too), the nodes with memory its allocations fall back to, nearest first
/// (find_next_best_node: the local node, then by node_distance(); lower ids penalised by
/// one; ties broken round-robin by node load).
fn print_fallback_order(
    zones: &ZoneLayout,
    distance: &crate::numa::NodeDistance,
    log: &mut dyn Write,
) -> Result<(), BootError> {
    const MAX: usize = crate::zone::MAX_NODES;
    let online: [bool; MAX] = core::array::from_fn(|i| zones.nodes[i].online);
    let dist = |a: usize, b: usize| distance.get(a, b) as u64;
    let mut load = [0u64; MAX];
    for local in 0..MAX {
        if !online[local] && !zones.nodes[local].memoryless {
            continue;
        }
        write!(log, "Fallback order for Node {local}: ")?;
        let mut used = [false; MAX];
        let mut prev = local;
        loop {
            let next = if !used[local] {
                Some(local)
            } else {
                (0..MAX).filter(|&n| online[n] && !used[n]).min_by_key(|&n| {
                    (dist(local, n) + (n < local) as u64) * crate::memblock::MAX_NUMNODES as u64 + load[n]
                })
            };
            let Some(node) = next else { break };
            used[node] = true;
            if dist(local, node) != dist(local, prev) {
                load[node] += 1;
            }
            write!(log, "{node} ")?;
            prev = node;
        }
        writeln!(log)?;
    }
    Ok(())
}

/// memblock_free_all(): mark reserved (and NOMAP) memory reserved in the memmap, then hand
/// every free range below max_low_pfn to the page allocator in the largest aligned blocks.
fn memblock_free_all<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>, pages: &PageAlloc<A::Paging, M>) {
    let ps = A::PAGE_SHIFT;
    use crate::memblock::{MemblockFlags, RegionType};
    for r in ctx.memblock.real_regions(RegionType::Reserved) {
        pages.mark_reserved(crate::addr::pfn_down(r.base, ps), crate::addr::pfn_up(r.end(), ps));
    }
    for r in ctx.memblock.real_regions(RegionType::Memory) {
        if r.flags.contains(MemblockFlags::NOMAP) {
            pages.mark_reserved(crate::addr::pfn_down(r.base, ps), crate::addr::pfn_up(r.end(), ps));
        }
    }
    let max_low = ctx.max_low_pfn;
    ctx.memblock.for_each_free_range(crate::memblock::NUMA_NO_NODE, MemblockFlags::NONE, false, |s, e, _| {
        let sp = crate::addr::pfn_up(s, ps);
        let ep = crate::addr::pfn_down(e, ps).min(max_low);
        if sp < ep {
            pages.free_boot_range(sp, ep);
        }
        false
    });
}

/// free_highmem_pages(): memblock_free_all() stops at max_low_pfn; on 32-bit arches the
/// free memory above it (ZONE_HIGHMEM, never in the linear map) goes to the page allocator
/// by its own loop, page by page as Linux's free_highmem_page() does (arm's
/// free_highpages(), x86-32's set_highmem_pages_init()). Returns the pages freed
/// (totalhigh_pages()).
fn free_highmem_pages<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>, pages: &PageAlloc<A::Paging, M>) -> u64 {
    let ps = A::PAGE_SHIFT;
    let max_low = ctx.max_low_pfn;
    let mut freed = 0;
    ctx.memblock.for_each_free_range(
        crate::memblock::NUMA_NO_NODE,
        crate::memblock::MemblockFlags::NONE,
        false,
        |s, e, _| {
            let start = crate::addr::pfn_up(s, ps).max(max_low);
            let end = crate::addr::pfn_down(e, ps);
            for pfn in start..end {
                freed += pages.free_boot_range(pfn, pfn + 1);
            }
            false
        },
    );
    freed
}

/// mem_init_print_info()'s `Memory:` line.
fn print_memory_line<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>, r: &MemReport) -> Result<(), BootError> {
    let k = |pages: u64| pages << (A::PAGE_SHIFT - 10);
    let s = ctx.fw.sections;
    let reserved = r.physpages.saturating_sub(r.totalram).saturating_sub(r.cma);
    write!(
        ctx.log,
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {}K reserved, {}K cma-reserved",
        k(r.free),
        k(r.physpages),
        s.text >> 10,
        s.rwdata >> 10,
        s.rodata >> 10,
        s.init >> 10,
        s.bss >> 10,
        k(reserved),
        k(r.cma)
    )?;
    // CONFIG_HIGHMEM kernels add totalhigh_pages().
    if A::ZONES.contains(&crate::zone::ZoneType::HighMem) {
        write!(ctx.log, ", {}K highmem", k(r.highmem))?;
    }
    writeln!(ctx.log, ")")?;
    Ok(())
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
        // early_init_dt_add_memory_arch: page-align the bank, drop what is too small or
        // beyond the physical address width, cap what runs past it (and past 2^64).
        let mut base = b.base;
        let mut size = b.size;
        if base & (page - 1) != 0 {
            let skip = page - (base & (page - 1));
            match base.checked_add(skip) {
                Some(b2) if size >= skip => {
                    size -= skip;
                    base = b2;
                }
                _ => {
                    let _ =
                        writeln!(ctx.log, "Ignoring memory block {:#x} - {:#x}", b.base, b.base.saturating_add(b.size));
                    continue;
                }
            }
        }
        size &= !(page - 1);
        size = size.min((u64::MAX - base) & !(page - 1));
        if size == 0 {
            continue;
        }
        let phys_limit = if A::MAX_PHYSMEM_BITS >= 64 { u64::MAX } else { (1u64 << A::MAX_PHYSMEM_BITS) - 1 };
        if base > phys_limit {
            let _ = writeln!(ctx.log, "Ignoring memory block {:#x} - {:#x}", base, base + size);
            continue;
        }
        if base + (size - 1) > phys_limit {
            let _ = writeln!(ctx.log, "Ignoring memory range {:#x} - {:#x}", phys_limit + 1, base + size);
            size = phys_limit - base + 1;
        }
        // early_init_dt_add_memory_arch() ignores memblock_add()'s result: memblock cannot
        // grow its arrays this early, so a bank that needs a 129th region is lost in Linux
        // too (adjacent banks merge and need none). archmm says so.
        if let Err(e) = ctx.memblock.add(base, size) {
            let _ = writeln!(ctx.log, "archmm: memory [mem {base:#018x}-{:#018x}] not added: {e}", base + size - 1);
            continue;
        }
        if b.hotplug && ctx.memblock.mark_hotplug(base, size).is_err() {
            let _ = writeln!(ctx.log, "failed to mark hotplug range {base:#x} - {:#x}", base + size);
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
            d.ranges[..d.nranges]
                .iter()
                .find_map(|&(b, s)| ctx.memblock.phys_alloc_range(d.size, align, b, b.saturating_add(s)))
        };
        match found {
            Some(base) if d.nomap => {
                ctx.memblock.phys_free(base, d.size)?;
                ctx.memblock.mark_nomap(base, d.size)?;
            }
            Some(_) => {}
            None => {
                let _ =
                    writeln!(ctx.log, "OF: reserved mem: failed to allocate memory for node: size {}MiB", d.size >> 20);
            }
        }
    }
    Ok(())
}

/// Keep early allocations in lowmem (memblock_set_current_limit): on 32-bit arches only
/// memory below max_low_pfn is directly mapped, so page tables, the memmap and per-CPU
/// areas must come from there.
pub fn limit_to_lowmem<A: Arch, M: PhysMem>(ctx: &mut BootCtx<'_, A, M>) {
    ctx.memblock.set_current_limit(ctx.max_low_pfn << A::PAGE_SHIFT);
}

/// Generic `setup_arch`: drop memory beyond the physical address width; the kernel maps
/// all memory directly, so `max_pfn == max_low_pfn == PFN_DOWN(end of DRAM)`; build the
/// linear map.
pub fn generic_setup_arch<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    generic_setup_limits(ctx)?;
    if A::LINEAR_MAP_IN_TABLES {
        let offset = A::PAGE_OFFSET.wrapping_sub(A::linear_map_phys_base(ctx));
        map_linear::<A::Paging, A, M>(ctx, offset, None, A::LINEAR_MAP_BLOCKS)?;
    }
    // paging_init(): with the linear map in place memblock may grow its arrays into memory
    // it allocates (memblock_allow_resize()).
    ctx.memblock.allow_resize();
    Ok(())
}

/// The limits part of [`generic_setup_arch`]: drop memory beyond the physical address
/// width; `max_pfn == max_low_pfn == PFN_DOWN(end of DRAM)`. For arches whose linear map
/// needs no page table (LoongArch's direct-mapping window).
pub fn generic_setup_limits<A: Arch, M: PhysMem + Copy>(ctx: &mut BootCtx<'_, A, M>) -> Result<(), BootError> {
    if A::MAX_PHYSMEM_BITS < 64 {
        // As in Linux, a full memblock.memory (which cannot grow yet) makes this a no-op.
        let _ = ctx.memblock.remove(1u64 << A::MAX_PHYSMEM_BITS, u64::MAX);
    }
    let end = ctx.memblock.end_of_dram();
    ctx.max_pfn = crate::addr::pfn_down(end, A::PAGE_SHIFT);
    ctx.max_low_pfn = ctx.max_pfn;
    Ok(())
}

/// Build the kernel's linear (direct) map: every memblock memory region that is not NOMAP
/// (and `extra`, e.g. x86's first MiB) below max_low_pfn (when set) mapped at
/// `page_offset + pa` (its bits in [`Arch::KERNEL_VA_MASK`]) with
/// [`Arch::LINEAR_MAP_PROT`] (read-write, no-execute, global unless the arch says otherwise), with the largest blocks alignment allows (or base pages only when `blocks` is
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
    check_memory_limit(ctx)?;
    let mem = *ctx.memblock.mem();
    let mut tlb = FlushLog::default();
    let mut pt = match ctx.pgd {
        Some(root) => PageTable::<Mo, M>::from_root(&mem, root),
        None => PageTable::<Mo, M>::new(&mem, &mut ctx.memblock).map_err(BootError::PageTable)?,
    };
    let page = Mo::PAGE_SIZE;
    let flags = MapFlags { replace: true, blocks };
    let mut layout_offset = ctx.layout.page_offset;
    let mut map = |pt: &mut PageTable<'_, Mo, M>, mb: &mut Memblock<M>, base: u64, end: u64| -> Result<(), BootError> {
        let (s, e) = (crate::addr::align_up_saturating(base, page), crate::addr::align_down(end, page));
        if e <= s {
            return Ok(());
        }
        // page_offset may already have PHYS_OFFSET taken off (arm's __va()); the sum is the
        // virtual address modulo 2^64, and the mode refuses what it cannot translate.
        let va = page_offset.wrapping_add(s) & A::KERNEL_VA_MASK;
        layout_offset = page_offset & A::KERNEL_VA_MASK;
        pt.map(va, s, e - s, A::LINEAR_MAP_PROT, flags, mb, &mut tlb).map_err(BootError::PageTable)
    };
    // Only lowmem is directly mapped: highmem (above max_low_pfn) is reached through
    // kmap, never the linear map.
    let lowmem_end = if ctx.max_low_pfn != 0 { ctx.max_low_pfn << A::PAGE_SHIFT } else { u64::MAX };
    if let Some((s, e)) = extra {
        map(&mut pt, &mut ctx.memblock, s, e)?;
    }
    let n = ctx.memblock.cnt(crate::memblock::RegionType::Memory);
    for i in 0..n {
        let r = ctx.memblock.region(crate::memblock::RegionType::Memory, i);
        if r.size == 0 || r.flags.contains(crate::memblock::MemblockFlags::NOMAP) {
            continue;
        }
        map(&mut pt, &mut ctx.memblock, r.base, r.end().min(lowmem_end))?;
    }
    ctx.layout.page_offset = layout_offset;
    ctx.pgd = Some(pt.root());
    Ok(pt.root())
}
