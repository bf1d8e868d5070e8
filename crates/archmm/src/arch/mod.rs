//! The architecture boundary.
//!
//! An architecture (with its mode) is a type implementing [`Arch`]. What the hardware makes
//! different is data: associated constants for geometry, physical address width, zone
//! limits, firmware kind and memory-model defaults. What an architecture may need to do
//! differently is a method with a generic default body, the generic definition every
//! architecture shares unless its hardware or firmware really differs.
//!
//! An override must say why. An arch writes its overrides inside its `impl Arch` block with
//! [`overrides!`](crate::overrides), each item with its reason as its doc comment; the
//! macro emits the items and, from the same tokens, [`Arch::OVERRIDES`]. The generic
//! definitions live in [`generic`] (Linux's `include/asm-generic`); the host crate's
//! `tests/overrides.rs` runs every hook of every kernel mode as the arch has it and as
//! [`generic`] has it, on several machines, and fails where an arch differs without a
//! listed reason or lists a reason without differing. `archmm hooks` prints, per hook, the
//! generic definition, which arches override it and why: the table the talk printed by
//! hand, kept true by that test.
//!
//! Every architecture is a folder (`arch/<name>/`: its types, paging modes and overrides
//! in `mod.rs`, its reference walker in `refwalk.rs`); [`registry`] lists them all and
//! generates every dispatch from a name to a type.
//!
//! # Contract of the hooks (in the order the bring-up calls them; see [`crate::boot`])
//! - [`Arch::early_reserve_memory`]: may only call `memblock_reserve`; may not allocate.
//! - [`Arch::detect_memory`]: turns the firmware's description into memblock memory;
//!   may reserve; may not allocate. Errors are the firmware's errors (bad input).
//! - [`Arch::setup_arch`]: the arch's fix-ups of the usable map (removing what the kernel
//!   cannot use, reserving firmware areas) and its memory limits (`max_pfn`,
//!   `max_low_pfn`). May allocate.
//! - [`Arch::numa_init`]: node ids for memblock memory; prints the NUMA lines.
//! - [`Arch::zone_limits`]: the highest pfn (exclusive) of each zone, Linux's
//!   `max_zone_pfns[]`, from the limits computed by `setup_arch`.

pub mod generic;
pub mod modes;
#[macro_use]
pub mod registry;

pub use modes::ModeInfo;

use crate::boot::{BootCtx, BootError, KernelSections};
use crate::pgtable::PagingMode;
use crate::physmem::PhysMem;
use crate::zone::{ZoneType, MAX_NR_ZONES};

use modes::mode_info;
use registry::{ArchVisitor, PagingVisitor, RefWalkVisitor};

// The registry: every arch (its folder, `arch/<name>/`) and every paging mode. Adding a
// mode is one line; adding an arch is its folder and one entry (see CONTRIBUTING.md).
registry! {
    /// x86-64.
    X86_64 in x86_64 => x86_64::X86_64 {
        kernel: [x86_64::X86<false>, x86_64::X86<true>],
        user: [],
    },
    /// AArch64.
    Arm64 in arm64 => arm64::Arm64 {
        kernel: [
            arm64::Arm64G<4, 39>,
            arm64::Arm64G<4, 48>,
            arm64::Arm64G<16, 36>,
            arm64::Arm64G<16, 47>,
            arm64::Arm64G<16, 48>,
            arm64::Arm64G<64, 42>,
            arm64::Arm64G<64, 48>,
            arm64::Arm64G<64, 52>,
        ],
        user: [arm64::Arm64Paging4K48Ttbr0],
    },
    /// RISC-V 64-bit.
    Riscv64 in riscv64 => riscv64::Riscv64 {
        kernel: [riscv64::Riscv<3>, riscv64::Riscv<4>, riscv64::Riscv<5>],
        user: [],
    },
    /// IA-32.
    I386 in i386 => i386::I386Pae {
        kernel: [i386::I386<false>, i386::I386<true>],
        user: [],
    },
    /// AArch32 (ARMv7-A).
    Arm in arm => arm::Arm32Lpae {
        kernel: [arm::Arm32<false>, arm::Arm32<true>],
        user: [],
    },
    /// LoongArch 64-bit.
    Loongarch64 in loongarch64 => loongarch64::Loongarch64 {
        kernel: [loongarch64::LoongArch<14, 3>, loongarch64::LoongArch<12, 4>],
        user: [],
    },
    /// s390x (z/Architecture).
    S390 in s390 => s390::S390x {
        kernel: [s390::S390<3>, s390::S390<4>, s390::S390<5>],
        user: [],
    },
    /// 64-bit Book3S powerpc.
    Powerpc in powerpc => powerpc::Powerpc64 {
        kernel: [powerpc::Ppc64<12>, powerpc::Ppc64<16>],
        user: [],
    },
}

/// How the firmware describes memory to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareKind {
    /// The BIOS e820 table (boot_params or PVH start_info memmap), NUMA from ACPI SRAT.
    E820,
    /// A flattened device tree: /memory nodes, /reserved-memory, numa-node-id.
    DeviceTree,
    /// s390: the storage layout the SCLP reports (Read SCP Info: storage increments of
    /// `rnsize` bytes, `rnmax` of them), online storage found by probing the increments
    /// (TPROT); there is no device tree and no e820.
    Sclp,
}

/// How per-page metadata is laid out (Linux's memory models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryModel {
    /// One array for all of physical memory (FLATMEM).
    Flat,
    /// Sections of `2^SECTION_SIZE_BITS` bytes, each with its own array (SPARSEMEM).
    Sparse,
    /// Sections, with one virtually contiguous array mapped where memory exists
    /// (SPARSEMEM_VMEMMAP).
    SparseVmemmap,
}

impl MemoryModel {
    /// Linux's Kconfig name.
    pub const fn name(self) -> &'static str {
        match self {
            MemoryModel::Flat => "flatmem",
            MemoryModel::Sparse => "sparsemem",
            MemoryModel::SparseVmemmap => "sparsemem-vmemmap",
        }
    }
}

/// An arch's override of a generic hook, with the hardware or firmware reason. Written
/// with [`overrides!`](crate::overrides), which takes both from the overriding item.
#[derive(Clone, Copy, Debug)]
pub struct Override {
    /// The hook's name (an associated item of [`Arch`] or [`PagingMode`]).
    pub hook: &'static str,
    /// Why the generic definition does not serve this architecture.
    pub reason: &'static str,
    /// The override applies to this arch type (false: the item restates the generic
    /// definition in this mode of a generic arch type; listings leave it out).
    pub applies: bool,
}

impl Override {
    /// The override applies only where `cond` holds.
    pub const fn when(self, cond: bool) -> Self {
        Self { applies: cond, ..self }
    }

    /// An override of `hook` for `reason`. The reason a doc comment gives starts with the
    /// space after `///`, which is dropped.
    pub const fn new(hook: &'static str, reason: &'static str) -> Self {
        let reason = match reason.as_bytes() {
            [b' ', rest @ ..] => match core::str::from_utf8(rest) {
                Ok(r) => r,
                Err(_) => reason,
            },
            _ => reason,
        };
        Self { hook, reason, applies: true }
    }
}

/// Declares an arch's (or paging mode's) overrides of generic hooks together with their
/// reasons, inside the `impl Arch for ...` (or `impl PagingMode for ...`) block.
///
/// Each item (an associated `const` or `fn` with the hook's name) is written with its
/// reason as its doc comment; the macro emits the items unchanged and, from the same
/// tokens, the impl's `OVERRIDES` list (a constant whose value differs only in some of a
/// generic arch type's modes says in which with `#[when(CONDITION)]` after its doc): the hook's name is the item's name and the reason
/// its doc. An override therefore cannot exist without its reason, nor a reason name
/// another hook than the one it stands on. A test (`overrides_match_behaviour` in the host
/// crate) compares each arch's behaviour with [`Generic`] hook by hook and fails when the
/// two disagree.
///
/// ```ignore
/// impl Arch for S390x {
///     // ... the description: geometry, layout, zones ...
///     archmm::overrides! {
///         /// z/Architecture cache lines are 256 bytes
///         const SMP_CACHE_BYTES: u64 = 256;
///     }
/// }
/// ```
#[macro_export]
macro_rules! overrides {
    (@go [$($list:tt)*]) => {
        const OVERRIDES: &'static [$crate::arch::Override] = &[$($list)*];
    };
    (@go [$($list:tt)*] $(#[doc = $r:literal])+ $(#[when($cond:expr)])? const $name:ident : $t:ty = $e:expr; $($rest:tt)*) => {
        $(#[doc = $r])+
        const $name: $t = $e;
        $crate::overrides!(@go [$($list)* $crate::arch::Override::new(stringify!($name), concat!($($r),+))$(.when($cond))?,] $($rest)*);
    };
    (@go [$($list:tt)*] $(#[doc = $r:literal])+ fn $name:ident $($rest:tt)*) => {
        $crate::overrides!(@fn [$($list)*] [$($r)+] $name [] $($rest)*);
    };
    // A method: its signature is gathered token by token up to its body.
    (@fn [$($list:tt)*] [$($r:literal)+] $name:ident [$($sig:tt)*] { $($body:tt)* } $($rest:tt)*) => {
        $(#[doc = $r])+
        fn $name $($sig)* { $($body)* }
        $crate::overrides!(@go [$($list)* $crate::arch::Override::new(stringify!($name), concat!($($r),+)),] $($rest)*);
    };
    (@fn [$($list:tt)*] [$($r:literal)+] $name:ident [$($sig:tt)*] $t:tt $($rest:tt)*) => {
        $crate::overrides!(@fn [$($list)*] [$($r)+] $name [$($sig)* $t] $($rest)*);
    };
    ($($items:tt)*) => {
        $crate::overrides!(@go [] $($items)*);
    };
}

/// A generic hook: its name and what the generic definition does.
#[derive(Clone, Copy, Debug)]
pub struct HookDoc {
    /// The hook's name.
    pub hook: &'static str,
    /// The Linux function(s) it stands for.
    pub linux: &'static str,
    /// What the generic definition does.
    pub generic: &'static str,
}

/// Every hook of [`Arch`] with a generic default, and the generic page-table helpers that
/// Linux copies per architecture, for `archmm hooks`.
pub const HOOKS: &[HookDoc] = &[
    HookDoc {
        hook: "pgd_offset",
        linux: "pgd_offset() (31 definitions in 5.0, 28 identical)",
        generic: "pgtable::entry_addr(root, 0, va): the root table plus the index of va; s390's \
                  'own magic' (the root's type follows the address-space size) is geometry: \
                  each s390x mode has its own root level",
    },
    HookDoc {
        hook: "pXd_index",
        linux: "pgd_index(), p4d_index(), pud_index(), pmd_index(), pte_index()",
        generic: "pgtable::index(level, va) = (va >> shift) & (entries - 1), from the mode's levels",
    },
    HookDoc {
        hook: "pXd_offset",
        linux: "p4d_offset(), pud_offset(), pmd_offset(), pte_offset_kernel()",
        generic: "pgtable::entry_addr(table, level, va); folded levels do not exist in the \
                  mode's level list, so no nop4d/nopud/nopmd variants are needed",
    },
    HookDoc {
        hook: "pte_alloc_one",
        linux: "pte_alloc_one(), pte_alloc_one_kernel(), pXd_alloc_one() (28 definitions in 5.0)",
        generic: "TableAlloc::alloc_table(bytes, level): memblock before the page allocator, \
                  pages after; tables smaller than a page (s390 2K, powerpc 64K-page PTE \
                  fragments, arm 1K) are carved by the generic FragmentAlloc",
    },
    HookDoc {
        hook: "pte_free",
        linux: "pte_free(), pte_free_kernel(), pXd_free()",
        generic: "TableAlloc::free_table; the engine frees tables that become empty",
    },
    HookDoc {
        hook: "kernel_mode_for",
        linux: "the paging configuration: CONFIG_PGTABLE_LEVELS, CONFIG_ARM64_VA_BITS, ... (s390: setup_kernel_memory_layout())",
        generic: "the kernel boots in the paging mode its configuration fixes, whatever the machine's memory",
    },
    HookDoc {
        hook: "early_reserve_memory",
        linux: "early_reserve_memory() (RFC), memblock_reserve of kernel/initrd/dtb in setup_arch()",
        generic: "reserve the kernel image, the initrd and the firmware's device tree blob",
    },
    HookDoc {
        hook: "KERNEL_END_ALIGN",
        linux: "memblock_reserve(_text, _end - _text)",
        generic: "reserve the kernel image exactly, without rounding its end",
    },
    HookDoc {
        hook: "detect_memory",
        linux: "detect_memory() (RFC), e820__memblock_setup(), early_init_dt_scan_memory()",
        generic: "add the firmware's RAM banks to memblock (with node ids and HOTPLUG where the \
                  device tree gives them), reserve /reserved-memory and /memreserve/ ranges, \
                  mark no-map ranges NOMAP",
    },
    HookDoc {
        hook: "setup_arch",
        linux: "setup_arch(): memblock fix-ups, max_pfn/max_low_pfn",
        generic: "drop memory beyond the physical address width, max_pfn = max_low_pfn = \
                  PFN_DOWN(memblock_end_of_DRAM())",
    },
    HookDoc {
        hook: "LINEAR_MAP_BLOCKS",
        linux: "init_mem_mapping() / map_mem() / create_linear_mapping_page_table()",
        generic: "map all of memory at PAGE_OFFSET with the largest blocks alignment allows",
    },
    HookDoc {
        hook: "LINEAR_MAP_PROT",
        linux: "PAGE_KERNEL as the linear map uses it",
        generic: "kernel read-write, not executable, global",
    },
    HookDoc {
        hook: "KERNEL_VA_MASK",
        linux: "which tree a kernel address selects (TTBR1, PGDH, quadrant 3, ...)",
        generic: "the kernel's page table indexes the whole virtual address",
    },
    HookDoc {
        hook: "numa_init",
        linux: "arch_numa_init() (drivers/base/arch_numa.c), x86_numa_init()",
        generic: "node ids from the firmware (device tree numa-node-id); else \
                  'NUMA: No NUMA configuration found' and one fake node over all memory",
    },
    HookDoc {
        hook: "NUMA",
        linux: "CONFIG_NUMA",
        generic: "NUMA kernel: node ids from the firmware, the fallback order and policy zone \
                  printed; without it all memory is node 0 and those lines are not printed",
    },
    HookDoc {
        hook: "PERCPU_RESERVE",
        linux: "PERCPU_MODULE_RESERVE / PERCPU_FIRST_CHUNK_RESERVE",
        generic: "8 KiB of the first per-CPU chunk reserved for modules' static per-CPU data",
    },
    HookDoc {
        hook: "PERCPU_DYN_SIZE",
        linux: "pcpu_embed_first_chunk(dyn_size) in setup_per_cpu_areas()",
        generic: "PERCPU_DYNAMIC_RESERVE (28 KiB on 64-bit) of dynamic space in the first chunk",
    },
    HookDoc {
        hook: "SMP_CACHE_BYTES",
        linux: "SMP_CACHE_BYTES / L1_CACHE_BYTES",
        generic: "64-byte cache lines align memblock allocations that ask for no alignment",
    },
    HookDoc {
        hook: "LINUX_STRUCT_PAGE",
        linux: "sizeof(struct page) in calc_memmap_size()",
        generic: "64 bytes, as on every 64-bit kernel",
    },
    HookDoc {
        hook: "linear_map_phys_base",
        linux: "__pa(PAGE_OFFSET): PHYS_OFFSET (arm), memstart_addr (arm64), phys_ram_base (riscv)",
        generic: "0: physical address pa is at PAGE_OFFSET + pa, and the memmap of pfn at VMEMMAP_START + pfn",
    },
    HookDoc {
        hook: "node_data_banner",
        linux: "setup_node_data() (drivers/base/arch_numa.c), alloc_node_data() (x86)",
        generic: "'NUMA: NODE_DATA [mem ...]' for each registered node, with '[<memory-less node>]' \
                  and 'NODE_DATA(n) on node m' where they apply",
    },
    HookDoc {
        hook: "iomem_resources",
        linux: "request_standard_resources() / add_system_ram_resources() / e820__reserve_resources()",
        generic: "/proc/iomem lists each memblock memory region as System RAM (NOMAP ones as reserved)",
    },
    HookDoc {
        hook: "dma_reserve",
        linux: "set_dma_reserve() (x86: memblock_find_dma_reserve())",
        generic: "no ZONE_DMA pages are held back from the managed-page estimate",
    },
    HookDoc {
        hook: "MEMMAP_BEFORE_CMA",
        linux: "the order of sparse_init() and dma_contiguous_reserve()",
        generic: "the CMA area is placed before the memmap is allocated",
    },
    HookDoc {
        hook: "cma_limit",
        linux: "dma_contiguous_reserve(limit)",
        generic: "place the boot CMA area below the end of ZONE_DMA32 (all memory without one)",
    },
    HookDoc {
        hook: "PERCPU_ATOM_SIZE",
        linux: "setup_per_cpu_areas() / pcpu_embed_first_chunk(atom_size)",
        generic: "embed the first per-CPU chunk in page-sized atoms, one group per node",
    },
    HookDoc {
        hook: "percpu_banner",
        linux: "setup_per_cpu_areas() (x86's own)",
        generic: "nothing before the percpu: lines",
    },
    HookDoc { hook: "arch_pre_mm_init", linux: "arch_pre_mm_init() (RFC)", generic: "nothing" },
    HookDoc {
        hook: "free_highmem_pages",
        linux: "free_highpages() (arm), set_highmem_pages_init() (x86-32), free_highmem_page()",
        generic: "after memblock_free_all(), which stops at max_low_pfn, every free memblock \
                  range above max_low_pfn goes to ZONE_HIGHMEM page by page and is counted in \
                  totalhigh_pages (no arch overrides it)",
    },
    HookDoc { hook: "arch_post_mm_init", linux: "arch_post_mm_init() (RFC)", generic: "nothing" },
    HookDoc {
        hook: "INITMEM_LABEL",
        linux: "free_initmem() / free_initmem_default()",
        generic: "poison the init sections and give them to the page allocator as \
                  'Freeing unused kernel memory: NK'; the initrd likewise as 'Freeing initrd memory'",
    },
    HookDoc {
        hook: "KERNEL_IMAGE_MAP",
        linux: "the kernel image mapping (x86's __START_KERNEL_map, arm64's KIMAGE_VADDR, riscv's KERNEL_LINK_ADDR)",
        generic: "none: the kernel runs from the linear map, and mark_rodata_ro() protects the \
                  linear map's pages of the image",
    },
    HookDoc {
        hook: "RODATA_ALIGN",
        linux: "vmlinux.lds: RO_DATA(PAGE_SIZE)",
        generic: "rodata starts and ends on a page boundary",
    },
    HookDoc {
        hook: "highmem_banner",
        linux: "free_highpages() / x86-32's set_highmem_pages_init()",
        generic: "high memory goes to the page allocator without a line",
    },
    HookDoc {
        hook: "mark_rodata_ro_banner",
        linux: "mark_rodata_ro()",
        generic: "mark_rodata_ro() prints nothing before changing protections",
    },
    HookDoc {
        hook: "INIT_IMAGE_UNMAP",
        linux: "free_initmem()",
        generic: "the freed init sections stay in the image mapping, read-write and not \
                  executable (mark_rodata_ro made them so); their linear alias is reused",
    },
    HookDoc {
        hook: "WX_FORMAT",
        linux: "debug_checkwx() / ptdump_check_wx()",
        generic: "'Checked W+X mappings: passed, no W+X pages found' (or FAILED with the count), \
                  after walking every mapping of the kernel table",
    },
    HookDoc {
        hook: "USER_SHARE",
        linux: "pgd_alloc() / mm_alloc(): a user address space's top-level table",
        generic: "USER_SHARE = CopyTopLevel: copy the kernel's top-level entries into every new \
                  user root, sharing the lower tables (x86, riscv, i386, arm)",
    },
    HookDoc {
        hook: "VDSO",
        linux: "arch_setup_additional_pages() (16 definitions in 6.1) around _install_special_mapping()",
        generic: "VDSO rule: [vvar] (2 pages: data and time namespace) then [vdso] text, in one \
                  range get_unmapped_area() finds top-down from the mmap base",
    },
    HookDoc {
        hook: "arch_finalize_boot",
        linux: "arch_finalize_boot() (RFC; pti_finalize() on x86)",
        generic: "nothing",
    },
    HookDoc {
        hook: "MEMORY_HOTPLUG",
        linux: "ARCH_ENABLE_MEMORY_HOTPLUG / ARCH_ENABLE_MEMORY_HOTREMOVE",
        generic: "memory can be added, onlined, offlined and removed at run time (the generic \
                  code in hotplug.rs: memory blocks, zones, isolation, migration)",
    },
    HookDoc {
        hook: "memory_block_size_bytes",
        linux: "memory_block_size_bytes() (drivers/base/memory.c, __weak)",
        generic: "MIN_MEMORY_BLOCK_SIZE: one memory-model section (1 << SECTION_SIZE_BITS)",
    },
    HookDoc {
        hook: "LINEAR_MAP_IN_TABLES",
        linux: "the direct map: page tables everywhere but in LoongArch's and MIPS's windows",
        generic: "the linear map is entries of the kernel page table, which memory hotplug \
                  extends and shrinks",
    },
    HookDoc {
        hook: "arch_add_memory",
        linux: "arch_add_memory() / arch_remove_memory()",
        generic: "map the new range into the linear map with the page-table engine (blocks as \
                  LINEAR_MAP_BLOCKS allows, tables from the page allocator), then __add_pages(): \
                  a memmap for each new section; removal unmaps and frees what became empty",
    },
    HookDoc {
        hook: "arch_remove_memory",
        linux: "arch_remove_memory()",
        generic: "unmap the range from the linear map (splitting blocks with tables from the page \
                  allocator where needed), flush the TLB, free the tables that became empty and \
                  the sections' memmap",
    },
    HookDoc {
        hook: "MEMBLOCK_DUMP_AFTER_ZONES",
        linux: "memblock_dump_all() (arm64/arm bootmem_init(), riscv, loongarch, powerpc setup code)",
        generic: "with memblock=debug, memblock is dumped once the zones are laid out",
    },
    HookDoc {
        hook: "MEMORYLESS_ONLINE_EARLY",
        linux: "numa_register_nodes() (drivers/base/arch_numa.c) / init_cpu_to_node() (x86)",
        generic: "a node with CPUs but no memory is online before free_area_init(), which then \
                  prints nothing for it",
    },
    HookDoc {
        hook: "CLEAN_TABLES",
        linux: "clean_pte_table(), flush_pmd_entry() (arm); nothing elsewhere",
        generic: "table walkers snoop the data cache: a written entry needs no cache maintenance",
    },
    HookDoc {
        hook: "zone_limits",
        linux: "zone_sizes_init() / get_zone_limits() (RFC)",
        generic: "DMA32 up to min(4 GiB, end of memory), Normal up to max_low_pfn, \
                  HighMem up to max_pfn (each where the arch configures the zone)",
    },
];

/// An architecture description: what the hardware makes different.
///
/// Implementations are zero-sized types; everything is an associated item so the bring-up
/// is monomorphised per architecture.
pub trait Arch: Sized + 'static + crate::machine::QemuModel {
    /// Linux's name (`x86_64`, `arm64`, ...).
    const NAME: &'static str;
    /// Other spellings accepted on the command line (Rust's target arch names).
    const ALIASES: &'static [&'static str];
    /// log2 of the base page size.
    const PAGE_SHIFT: u32 = 12;
    /// Linux's MAX_PHYSMEM_BITS: the physical address width the kernel supports.
    const MAX_PHYSMEM_BITS: u32;
    /// Linux's SECTION_SIZE_BITS for the sparse memory models.
    const SECTION_SIZE_BITS: u32 = 27;
    /// log2 of the pages in a pageblock (Linux's pageblock_order: the huge page order).
    const PAGEBLOCK_ORDER: u32 = 9;
    /// The memory model a distribution kernel uses.
    const DEFAULT_MODEL: MemoryModel = MemoryModel::SparseVmemmap;
    /// How firmware describes memory.
    const FIRMWARE: FirmwareKind;
    /// Zones this architecture's reference kernel configures, in Linux's order. Decides
    /// which lines `Zone ranges:` prints (ZONE_MOVABLE is never printed there).
    const ZONES: &'static [ZoneType];
    /// Allocation granule of the first per-CPU chunk (pcpu_embed_first_chunk's atom_size).
    const PERCPU_ATOM_SIZE: u64 = 1 << Self::PAGE_SHIFT;
    /// Bytes of the first per-CPU chunk reserved for modules (PERCPU_MODULE_RESERVE).
    const PERCPU_RESERVE: u64 = crate::percpu::PERCPU_MODULE_RESERVE;
    /// The dynamic size setup_per_cpu_areas() asks pcpu_embed_first_chunk() for
    /// (PERCPU_DYNAMIC_RESERVE); the chunk's dynamic part is what the unit has left.
    const PERCPU_DYN_SIZE: u64 = crate::percpu::PERCPU_DYNAMIC_RESERVE;
    /// The reference kernel is built with CONFIG_NUMA (node fallback order and policy zone
    /// lines; node ids from the firmware). Without it all memory is node 0.
    const NUMA: bool = true;
    /// The sizes of the reference kernel's sections and its static per-CPU data (the
    /// `Memory:` and `percpu:` lines), used when the machine description gives none.
    const KERNEL_SECTIONS: KernelSections;
    /// Bytes of a node's pg_data_t as the reference kernel allocates it from memblock when
    /// it registers the node (sizeof(pg_data_t) rounded up: to the cache line in
    /// arch_numa's and powerpc's setup_node_data(), to a page in x86's alloc_node_data());
    /// 0 for a kernel without CONFIG_NUMA (its one pgdat is static).
    const NODE_DATA_BYTES: u64 = 0;
    /// CONFIG_NODES_SHIFT of the reference kernel: it takes at most `1 << NODES_SHIFT`
    /// NUMA nodes (MAX_NUMNODES). Read only when [`Arch::NUMA`] is set.
    const NODES_SHIFT: u32 = 0;
    /// A node with CPUs but no memory is already online when free_area_init() runs
    /// (arch_numa's numa_register_nodes() onlines every node it parsed). False on x86, whose
    /// init_cpu_to_node() onlines such nodes only after paging_init(), so free_area_init()
    /// first prints `Initializing node N as memoryless`.
    const MEMORYLESS_ONLINE_EARLY: bool = true;
    /// sizeof(struct page) in the reference kernel (64 on 64-bit; 40 on i386, measured from
    /// its memmap allocation), for the `Total pages:` estimate.
    const LINUX_STRUCT_PAGE: u64 = 64;
    /// Lowest physical address per-CPU memory comes from (__pa(MAX_DMA_ADDRESS)).
    const PERCPU_MIN_ADDR: u64 = 0;
    /// The kernel image's reservation is rounded up to this (1: no rounding).
    const KERNEL_END_ALIGN: u64 = 1;
    /// Cache line size used for memblock allocations without an alignment.
    const SMP_CACHE_BYTES: u64 = 64;
    /// With `memblock=debug`, memblock_dump_all() runs once the zones are laid out (arm64's
    /// and arm's bootmem_init(), riscv's and loongarch's setup code); false where the arch
    /// dumps memblock at another point of its setup.
    const MEMBLOCK_DUMP_AFTER_ZONES: bool = true;
    /// The hooks this architecture overrides, each with its reason: written by
    /// [`overrides!`](crate::overrides), never by hand.
    const OVERRIDES: &'static [Override] = &[];
    /// Per-architecture bring-up state (e.g. x86's e820 table).
    type State: Default;
    /// The kernel's paging mode (the format of init_mm's page table).
    type Paging: PagingMode;
    /// The paging mode of user address spaces (arm64: the TTBR0 format; elsewhere the
    /// kernel's).
    type UserPaging: PagingMode;
    /// TASK_SIZE (the default mmap window): user addresses are below it.
    const TASK_SIZE: u64;
    /// How user address spaces reach the kernel half.
    const USER_SHARE: crate::uspace::KernelShare = crate::uspace::KernelShare::CopyTopLevel;
    /// Where the vDSO goes.
    const VDSO: crate::uspace::VdsoRule = crate::uspace::VdsoRule { vvar_pages: 2, at_task_top: false };
    /// Where the linear map starts (PAGE_OFFSET).
    const PAGE_OFFSET: u64;
    /// Where the virtual memmap starts (VMEMMAP_START). Read only with the
    /// SPARSEMEM_VMEMMAP model; arches whose reference kernel has no vmemmap leave it 0.
    const VMEMMAP_START: u64 = 0;
    /// The bits of a kernel virtual address the kernel page table's walk indexes: an
    /// architecture whose kernel half is a separate tree selected by high address bits
    /// (powerpc's quadrant 3, LoongArch's PGDH) keeps only the bits below them.
    const KERNEL_VA_MASK: u64 = u64::MAX;
    /// The protection of the linear map.
    const LINEAR_MAP_PROT: crate::pgtable::Prot = crate::pgtable::Prot::KERNEL_RW;
    /// MAX_ORDER of the buddy allocator (orders `0..MAX_ORDER`).
    const MAX_ORDER: u32 = 11;
    /// The linear map is built in the kernel page table (false: a hardware window maps it,
    /// as LoongArch's DMW1; hotplug then adds no linear-map entries).
    const LINEAR_MAP_IN_TABLES: bool = true;
    /// The linear map uses the largest blocks alignment allows (false: base pages only).
    const LINEAR_MAP_BLOCKS: bool = true;
    /// Where the kernel image is mapped besides the linear map (None: the kernel runs from
    /// the linear map).
    const KERNEL_IMAGE_MAP: Option<crate::protect::ImageMapBase> = None;
    /// Alignment of rodata's start and end inside the image (0: a page).
    const RODATA_ALIGN: u64 = 0;
    /// free_initmem() removes the init sections from the image mapping.
    const INIT_IMAGE_UNMAP: bool = false;
    /// How debug_checkwx() words its lines; `None` where the reference kernel has no W^X
    /// check (no ARCH_HAS_DEBUG_WX, or no no-execute bit).
    const WX_FORMAT: Option<crate::protect::WxFormat> = Some(crate::protect::WxFormat::GENERIC);
    /// CMA reserved at boot by the reference kernel's configuration
    /// (CONFIG_CMA_SIZE_MBYTES; `cma=` overrides it).
    const DEFAULT_CMA_BYTES: u64 = 0;

    /// Linux's ARCH_ENABLE_MEMORY_HOTPLUG: the reference kernel can add and remove memory
    /// at run time.
    const MEMORY_HOTPLUG: bool = true;

    /// memory_block_size_bytes(): the granule memory is hot-added, onlined, offlined and
    /// removed in (a power of two, at least one section).
    fn memory_block_size_bytes<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
        generic::memory_block_size_bytes::<Self, M>(ctx)
    }

    /// arch_add_memory(): make `[start, start + size)` reachable (the linear map) and give
    /// it a memmap. See [`crate::hotplug::generic_arch_add_memory`].
    ///
    /// # Errors
    /// A [`crate::hotplug::HotplugError`]; nothing changed then.
    fn arch_add_memory<M: PhysMem + Copy>(
        ctx: &mut BootCtx<'_, Self, M>,
        pages: &mut crate::buddy::PageAlloc<Self::Paging, M>,
        start: crate::addr::PhysAddr,
        size: u64,
        altmap: bool,
    ) -> Result<(), crate::hotplug::HotplugError> {
        generic::arch_add_memory::<Self, M>(ctx, pages, start, size, altmap)
    }

    /// arch_remove_memory(): undo [`Arch::arch_add_memory`]. See
    /// [`crate::hotplug::generic_arch_remove_memory`].
    ///
    /// # Errors
    /// A [`crate::hotplug::HotplugError`] (no memory to split a linear-map block); nothing
    /// changed then.
    fn arch_remove_memory<M: PhysMem + Copy>(
        ctx: &mut BootCtx<'_, Self, M>,
        pages: &mut crate::buddy::PageAlloc<Self::Paging, M>,
        start: crate::addr::PhysAddr,
        size: u64,
        tlb: &mut dyn crate::pgtable::TlbFlush,
    ) -> Result<(), crate::hotplug::HotplugError> {
        generic::arch_remove_memory::<Self, M>(ctx, pages, start, size, tlb)
    }

    /// The kernel paging mode (the `Paging::NAME` of one of this arch's kernel modes in the
    /// [`registry`]) that a machine whose RAM ends at `ram_end` boots in. Generic: this
    /// type's own mode, the one its reference kernel is configured for.
    fn kernel_mode_for(ram_end: u64) -> &'static str {
        generic::kernel_mode_for::<Self>(ram_end)
    }

    /// Page size in bytes.
    fn page_size() -> u64 {
        1 << Self::PAGE_SHIFT
    }

    /// Reserve what is in use before memory is detected: the kernel image, the initrd and
    /// the device tree blob.
    fn early_reserve_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::early_reserve_memory::<Self, M>(ctx)
    }

    /// Convert the firmware's description of memory to memblock memory.
    fn detect_memory<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::detect_memory::<Self, M>(ctx)
    }

    /// The arch's fix-ups of the usable map and its memory limits.
    fn setup_arch<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::setup_arch::<Self, M>(ctx)
    }

    /// Assign NUMA node ids to memblock memory and print what Linux prints.
    fn numa_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::numa_init::<Self, M>(ctx)
    }

    /// __pa(PAGE_OFFSET): the physical address the linear map places at PAGE_OFFSET, so
    /// that `__va(pa) = pa - base + PAGE_OFFSET`. Called once memory is final (after the
    /// arch's own trimming in `setup_arch`). The virtual memmap is offset the same way:
    /// the page of pfn `base >> PAGE_SHIFT`, rounded down to a section, sits at
    /// VMEMMAP_START (arm64's `vmemmap`, riscv's `vmemmap_start_pfn`).
    fn linear_map_phys_base<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
        generic::linear_map_phys_base::<Self, M>(ctx)
    }

    /// The lines a node's NODE_DATA allocation prints: arch_numa's setup_node_data() (with
    /// its "NUMA: " prefix) by default. `memoryless`: the node has CPUs but no memory.
    fn node_data_banner(
        nid: i32,
        start: u64,
        end: u64,
        tnid: i32,
        memoryless: bool,
        log: &mut dyn core::fmt::Write,
    ) -> core::fmt::Result {
        generic::node_data_banner::<Self>(nid, start, end, tnid, memoryless, log)
    }

    /// /proc/iomem's top-level memory resources, in address order: `f(start, end
    /// inclusive, name)`. Generic: each memblock memory region as `System RAM`, `reserved`
    /// where it is NOMAP (arm64's request_standard_resources(), powerpc's
    /// add_system_ram_resources(), s390's setup_resources()).
    fn iomem_resources<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>, f: &mut dyn FnMut(u64, u64, &'static str)) {
        generic::iomem_resources::<Self, M>(ctx, f)
    }

    /// Pages of ZONE_DMA memblock holds reserved when zones are sized (Linux's
    /// set_dma_reserve()); they are not counted as managed in the early estimate that
    /// `Total pages:` prints.
    fn dma_reserve<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
        generic::dma_reserve::<Self, M>(ctx)
    }

    /// Linux's sparse_init() runs before dma_contiguous_reserve() (arm64's bootmem_init()),
    /// so its memmap already sits at the top of memory when the CMA area is placed. Where
    /// it runs after (x86, riscv64 and arm reserve CMA in setup_arch/setup_bootmem), false.
    const MEMMAP_BEFORE_CMA: bool = false;

    /// Physical limit below which the boot CMA area is placed (dma_contiguous_reserve's
    /// argument): the end of the DMA32 zone, or all memory where there is none.
    fn cma_limit<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> u64 {
        generic::cma_limit::<Self, M>(ctx)
    }

    /// Lines an arch prints before laying out per-CPU areas (x86's `setup_percpu:` line).
    fn percpu_banner<M: PhysMem + Copy>(
        ctx: &mut BootCtx<'_, Self, M>,
        cpus: usize,
        nodes: usize,
    ) -> Result<(), BootError> {
        generic::percpu_banner::<Self, M>(ctx, cpus, nodes)
    }

    /// Last arch step before the memmap is handed to the page allocator
    /// (arch_pre_mm_init of the RFC).
    fn arch_pre_mm_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::arch_pre_mm_init::<Self, M>(ctx)
    }

    /// What the arch prints as it hands high memory to the page allocator.
    fn highmem_banner(zones: &crate::zone::ZoneLayout, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
        generic::highmem_banner::<Self>(zones, log)
    }

    /// What mark_rodata_ro() prints before it changes protections.
    fn mark_rodata_ro_banner(image: &crate::protect::ImageLayout, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
        generic::mark_rodata_ro_banner::<Self>(image, log)
    }

    /// What free_initmem() calls the init sections in its `Freeing ... memory: NK` line.
    const INITMEM_LABEL: &'static str = "unused kernel";

    /// The last arch callback of the boot, after init memory is freed (the RFC's
    /// arch_finalize_boot(), where Linux's x86 finalises PTI).
    fn arch_finalize_boot<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::arch_finalize_boot::<Self, M>(ctx)
    }

    /// First arch step once the page allocator is up (arch_post_mm_init of the RFC).
    fn arch_post_mm_init<M: PhysMem + Copy>(ctx: &mut BootCtx<'_, Self, M>) -> Result<(), BootError> {
        generic::arch_post_mm_init::<Self, M>(ctx)
    }

    /// Linux's `max_zone_pfns[]`: the exclusive upper pfn of each zone (0 for zones the
    /// arch does not have).
    fn zone_limits<M: PhysMem + Copy>(ctx: &BootCtx<'_, Self, M>) -> [u64; MAX_NR_ZONES] {
        generic::zone_limits::<Self, M>(ctx)
    }
}

/// Static facts about one arch, for listings.
#[derive(Clone, Copy, Debug)]
pub struct ArchInfo {
    /// Which.
    pub id: ArchId,
    /// Linux's name.
    pub name: &'static str,
    /// Accepted aliases.
    pub aliases: &'static [&'static str],
    /// Physical address bits.
    pub max_physmem_bits: u32,
    /// Section size bits.
    pub section_size_bits: u32,
    /// Page shift.
    pub page_shift: u32,
    /// Firmware kind.
    pub firmware: FirmwareKind,
    /// Default memory model.
    pub default_model: MemoryModel,
    /// Configured zones.
    pub zones: &'static [ZoneType],
    /// Overrides with reasons.
    pub overrides: &'static [Override],
    /// The most NUMA nodes the reference kernel takes (1 without CONFIG_NUMA).
    pub max_numnodes: u32,
    /// The QEMU machine types of the built-in model, QEMU's default first.
    pub qemu_machines: &'static [&'static str],
    /// The arch's bare-metal kernel, if it has one.
    pub bare_metal: Option<crate::machine::BareMetalKernel>,
}

pub(crate) const fn arch_info<A: Arch>(id: ArchId) -> ArchInfo {
    ArchInfo {
        id,
        name: A::NAME,
        aliases: A::ALIASES,
        max_physmem_bits: A::MAX_PHYSMEM_BITS,
        section_size_bits: A::SECTION_SIZE_BITS,
        page_shift: A::PAGE_SHIFT,
        firmware: A::FIRMWARE,
        default_model: A::DEFAULT_MODEL,
        zones: A::ZONES,
        overrides: A::OVERRIDES,
        max_numnodes: if A::NUMA { 1 << A::NODES_SHIFT } else { 1 },
        qemu_machines: A::QEMU_MACHINES,
        bare_metal: A::BARE_METAL_KERNEL,
    }
}

impl ArchId {
    /// Look an arch up by Linux name or alias (case-sensitive, as Linux's names are).
    pub fn from_name(s: &str) -> Option<ArchId> {
        ARCHES.iter().find(|a| a.name == s || a.aliases.contains(&s)).map(|a| a.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_override_names_a_documented_hook() {
        let modes = super::modes::MODES.iter().map(|m| (m.name, m.overrides));
        for (name, overrides) in ARCHES.iter().map(|a| (a.name, a.overrides)).chain(modes) {
            let a = ArchInfo { name, overrides, ..ARCHES[0] };
            for o in a.overrides {
                assert!(HOOKS.iter().any(|h| h.hook == o.hook), "{}: override of unknown hook {}", a.name, o.hook);
                assert!(o.reason.len() > 20, "{}: {} needs a real reason", a.name, o.hook);
            }
        }
    }

    #[test]
    fn linux_names_and_rust_aliases() {
        assert_eq!(ArchId::from_name("arm64"), Some(ArchId::Arm64));
        assert_eq!(ArchId::from_name("aarch64"), Some(ArchId::Arm64));
        assert_eq!(ArchId::from_name("x86_64"), Some(ArchId::X86_64));
        assert_eq!(ArchId::from_name("riscv64"), Some(ArchId::Riscv64));
        assert_eq!(ArchId::from_name("riscv64gc"), Some(ArchId::Riscv64));
        assert_eq!(ArchId::from_name("mips"), None);
        // Rust's target_arch spellings.
        assert_eq!(ArchId::from_name("x86"), Some(ArchId::I386));
        assert_eq!(ArchId::from_name("arm"), Some(ArchId::Arm));
        assert_eq!(ArchId::from_name("loongarch64"), Some(ArchId::Loongarch64));
        assert_eq!(ArchId::from_name("s390x"), Some(ArchId::S390));
        assert_eq!(ArchId::from_name("powerpc64"), Some(ArchId::Powerpc));
        for a in ARCHES {
            assert_eq!(a.id.info().name, a.name);
        }
    }
}
