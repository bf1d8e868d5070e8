//! The state of one bring-up ([`BootCtx`]), its options, its result ([`Booted`]) and the
//! machine it runs on at the points where the hardware takes part ([`Platform`]).

use super::*;
use crate::addr::{PhysAddr, VirtAddr};
use crate::arch::Arch;
use crate::buddy::PageAlloc;
use crate::memblock::Memblock;
use crate::numa::NumaMeminfo;
use crate::pgtable::{FlushLog, MapFlags, PageTable, Prot};
use crate::physmem::PhysMem;
use crate::zone::{ModelParams, ZoneLayout};
use core::fmt::Write;

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
    pub pgd: Option<PhysAddr>,
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

    /// The memblock dump printed after the zones (memblock=debug), where the arch dumps it
    /// there ([`Arch::MEMBLOCK_DUMP_AFTER_ZONES`]).
    pub fn memblock_dump_all_late(&mut self) -> Result<(), BootError> {
        if A::MEMBLOCK_DUMP_AFTER_ZONES {
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
        pt.map(
            VirtAddr(va),
            PhysAddr(pa),
            size,
            prot,
            MapFlags { replace: false, blocks },
            &mut self.memblock,
            &mut tlb,
        )
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
pub(super) struct PlatformTlb<'x, A: Arch, M: PhysMem>(pub(super) &'x mut dyn Platform<A, M>);

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

/// The limits, the firmware map and the options (memblock, the log and the arch's state
/// are left out: memblock has its own dumps, the log is a sink).
impl<A: Arch, M: PhysMem> core::fmt::Debug for BootCtx<'_, A, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BootCtx")
            .field("arch", &A::NAME)
            .field("fw", &self.fw)
            .field("options", &self.options)
            .field("max_pfn", &self.max_pfn)
            .field("max_low_pfn", &self.max_low_pfn)
            .field("model", &self.model)
            .field("pgd", &self.pgd)
            .finish_non_exhaustive()
    }
}

/// The context and the `Memory:` line's numbers.
impl<A: Arch, M: PhysMem> core::fmt::Debug for Booted<'_, A, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Booted").field("ctx", &self.ctx).field("report", &self.report).finish_non_exhaustive()
    }
}
