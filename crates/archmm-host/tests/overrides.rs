//! Overrides that cannot drift. For every kernel mode of every arch in the registry, each
//! hook of `archmm::arch::HOOKS` is run (or read) twice from the same state: once as the
//! arch has it and once as `Generic<A>` has it, the same description (geometry, layout,
//! zones, firmware kind) with every hook at its generic definition. The arch must list an
//! override, with its reason, exactly where the two differ: an arch that changes behaviour
//! without a reason fails, and so does a reason that stands on a hook that behaves as the
//! generic one. `archmm hooks` prints those lists, so it matches behaviour.
//!
//! A hook is compared on the arch's built-in QEMU machine (and, for the pure ones, on a
//! range of inputs): the boot steps run in `boot_on`'s order with the arch's own hooks up
//! to the hook under test, which then runs as `A` and as `Generic<A>` on two identical
//! states. A hook added to `HOOKS` without a comparison here fails the test.

use archmm::addr::PhysAddr;
use archmm::arch::registry::{visit_kernel_mode, ArchVisitor};
use archmm::arch::{generic, Arch, ArchId, HOOKS};
use archmm::boot::{boot, BootCtx, BootOptions};
use archmm::memblock::RegionType;
use archmm::pgtable::{Entry, Level, PagingMode, PgError, Prot, VaRange};
use archmm::physmem::PhysMem;
use archmm_host::backing::SparseMem;
use archmm_host::machine::Machine;
use std::fmt::Write as _;
use std::marker::PhantomData;

/// An arch type with `A`'s description (geometry, layout, zones, firmware kind, QEMU
/// model) and every hook at its generic definition, except the `$extra` items.
macro_rules! described {
    ($(#[$doc:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$doc])*
        struct $name<A>(PhantomData<A>);

        impl<A: Arch> Arch for $name<A> {
            const NAME: &'static str = A::NAME;
            const ALIASES: &'static [&'static str] = A::ALIASES;
            const PAGE_SHIFT: u32 = A::PAGE_SHIFT;
            const MAX_PHYSMEM_BITS: u32 = A::MAX_PHYSMEM_BITS;
            const SECTION_SIZE_BITS: u32 = A::SECTION_SIZE_BITS;
            const PAGEBLOCK_ORDER: u32 = A::PAGEBLOCK_ORDER;
            const DEFAULT_MODEL: archmm::arch::MemoryModel = A::DEFAULT_MODEL;
            const FIRMWARE: archmm::arch::FirmwareKind = A::FIRMWARE;
            const ZONES: &'static [archmm::zone::ZoneType] = A::ZONES;
            const KERNEL_SECTIONS: archmm::boot::KernelSections = A::KERNEL_SECTIONS;
            const NODE_DATA_BYTES: u64 = A::NODE_DATA_BYTES;
            const NODES_SHIFT: u32 = A::NODES_SHIFT;
            const PERCPU_MIN_ADDR: u64 = A::PERCPU_MIN_ADDR;
            type State = A::State;
            type Paging = A::Paging;
            type UserPaging = A::UserPaging;
            const TASK_SIZE: u64 = A::TASK_SIZE;
            const PAGE_OFFSET: u64 = A::PAGE_OFFSET;
            const VMEMMAP_START: u64 = A::VMEMMAP_START;
            const MAX_ORDER: u32 = A::MAX_ORDER;
            const DEFAULT_CMA_BYTES: u64 = A::DEFAULT_CMA_BYTES;
            $($extra)*
        }

        impl<A: Arch> archmm::machine::QemuModel for $name<A> {
            const QEMU_MACHINES: &'static [&'static str] = A::QEMU_MACHINES;
            const QEMU_NO_NUMA: Option<&'static str> = A::QEMU_NO_NUMA;
            const BARE_METAL_KERNEL: Option<archmm::machine::BareMetalKernel> = A::BARE_METAL_KERNEL;
            fn qemu_machine(
                req: &archmm::machine::QemuRequest<'_>,
                out: &mut dyn archmm::machine::MachineSink,
            ) -> Result<(), archmm::machine::QemuError> {
                A::qemu_machine(req, out)
            }
            fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn archmm::machine::MachineSink) {
                A::qemu_loader(ram_start, ram_end, dtb, out)
            }
        }
    };
}

described!(
    /// Arch `A`'s description with every hook at its generic definition.
    Generic {}
);

// Two arches that break the rule, to show the check catches both ways.
described!(
    /// Differs from the generic definition in a constant and a method, with no reason.
    Drifted {
        const SMP_CACHE_BYTES: u64 = 32;
        fn dma_reserve<M: PhysMem + Copy>(_ctx: &BootCtx<'_, Self, M>) -> u64 {
            1
        }
    }
);
described!(
    /// Gives a reason for a hook it does not change.
    Unfounded {
        const OVERRIDES: &'static [archmm::arch::Override] =
            &[archmm::arch::Override::new("zone_limits", "a reason that names a difference there is not")];
    }
);

/// Paging mode `P`'s geometry and encoding with its hooks at their generic definitions.
struct GenericPaging<P>(PhantomData<P>);

impl<P: PagingMode> PagingMode for GenericPaging<P> {
    const NAME: &'static str = P::NAME;
    const LEVELS: &'static [Level] = P::LEVELS;
    const ENTRY_SIZE: u64 = P::ENTRY_SIZE;
    const VA_BITS: u32 = P::VA_BITS;
    const VA_RANGE: VaRange = P::VA_RANGE;
    const PA_BITS: u32 = P::PA_BITS;
    fn table_entry(pa: u64, level: usize) -> u64 {
        P::table_entry(pa, level)
    }
    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        P::leaf_entry(pa, prot, level)
    }
    fn decode(raw: u64, level: usize) -> Entry {
        P::decode(raw, level)
    }
    fn check_prot(prot: Prot) -> Result<(), PgError> {
        P::check_prot(prot)
    }
}

/// What a hook can change in a context, as text.
fn state<A: Arch, M: PhysMem + Copy>(c: &BootCtx<'_, A, M>) -> String {
    let regions = |t| c.memblock.real_regions(t).map(|r| (r.base, r.size, r.flags, r.nid)).collect::<Vec<_>>();
    format!(
        "memory {:x?}\nreserved {:x?}\nmax_pfn {:#x} max_low_pfn {:#x}\nnuma {:?}\ncpu_node {:?}\npgd {}\nmodel {:?}",
        regions(RegionType::Memory),
        regions(RegionType::Reserved),
        c.max_pfn,
        c.max_low_pfn,
        c.numa,
        &c.cpu_node[..8],
        c.pgd.is_some(),
        c.model,
    )
}

/// The boot steps before a hook, in `boot_on`'s order.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Stage {
    /// Nothing has run.
    Start,
    /// early_reserve_memory ran.
    Reserved,
    /// detect_memory ran.
    Detected,
    /// setup_arch ran.
    SetUp,
    /// numa_init ran: memory, limits and nodes are final.
    Numa,
}

fn options() -> BootOptions {
    BootOptions { cpus: 2, ..archmm_host::emulator::host_limits(BootOptions::default()) }
}

fn memory(m: &Machine) -> SparseMem {
    let mem = SparseMem::new();
    if let Some(bda) = m.bda {
        mem.write(PhysAddr(0x413), &bda.base_kb.to_le_bytes());
        mem.write(PhysAddr(0x40e), &bda.ebda_segment.to_le_bytes());
    }
    mem
}

/// A context for `m` with arch `A`'s own steps run up to `stage`.
fn ctx_at<'a, A: Arch>(
    mem: &'a SparseMem,
    m: &'a Machine,
    log: &'a mut String,
    stage: Stage,
) -> BootCtx<'a, A, &'a SparseMem> {
    let mut c = BootCtx::<A, &SparseMem>::new(mem, m.firmware_map::<A>(), options(), log);
    let name = A::Paging::NAME;
    if stage >= Stage::Reserved {
        A::early_reserve_memory(&mut c).unwrap_or_else(|e| panic!("{name}: early_reserve_memory: {e}"));
    }
    if stage >= Stage::Detected {
        A::detect_memory(&mut c).unwrap_or_else(|e| panic!("{name}: detect_memory: {e}"));
    }
    if stage >= Stage::SetUp {
        A::setup_arch(&mut c).unwrap_or_else(|e| panic!("{name}: setup_arch: {e}"));
    }
    if stage >= Stage::Numa {
        A::numa_init(&mut c).unwrap_or_else(|e| panic!("{name}: numa_init: {e}"));
    }
    c
}

/// Run `hook` and `generic` (the generic definition, with `A`'s description) from `stage`
/// on each machine that goes that far; true if the outcome (result, context and log)
/// differs on any.
fn differs_at<A: Arch>(
    ms: &[(Machine, Stage)],
    stage: Stage,
    hook: impl Fn(&mut BootCtx<'_, A, &SparseMem>) -> String,
    generic: impl Fn(&mut BootCtx<'_, A, &SparseMem>) -> String,
) -> bool {
    ms.iter().filter(|(_, reach)| stage <= *reach).any(|(m, _)| {
        let (mem_a, mem_g) = (memory(m), memory(m));
        let (mut log_a, mut log_g) = (String::new(), String::new());
        let (out_a, out_g);
        {
            let mut a = ctx_at::<A>(&mem_a, m, &mut log_a, stage);
            out_a = format!("{}\n{}", hook(&mut a), state(&a));
            let mut g = ctx_at::<A>(&mem_g, m, &mut log_g, stage);
            out_g = format!("{}\n{}", generic(&mut g), state(&g));
        }
        out_a != out_g || log_a != log_g
    })
}

/// A region above every machine's memory, one memory block long, for hot-add.
fn hotplug_range<A: Arch, M: PhysMem + Copy>(c: &BootCtx<'_, A, M>) -> (u64, u64) {
    let block = A::memory_block_size_bytes(c).max(1 << A::SECTION_SIZE_BITS);
    (c.memblock.end_of_dram().next_multiple_of(block) + block, block)
}

/// Whether arch `A` behaves differently from its generic description at `hook`; `None` for
/// a documented generic helper that is no item of `Arch` or `PagingMode` (nothing can
/// override it).
fn differs<A: Arch>(ms: &[(Machine, Stage)], hook: &str) -> Option<bool> {
    macro_rules! consts {
        ($($name:ident),* $(,)?) => {
            match hook {
                $(stringify!($name) => return Some(format!("{:?}", A::$name) != format!("{:?}", Generic::<A>::$name)),)*
                _ => {}
            }
        };
    }
    consts!(
        KERNEL_END_ALIGN,
        LINEAR_MAP_BLOCKS,
        LINEAR_MAP_PROT,
        KERNEL_VA_MASK,
        NUMA,
        PERCPU_RESERVE,
        PERCPU_DYN_SIZE,
        SMP_CACHE_BYTES,
        LINUX_STRUCT_PAGE,
        MEMMAP_BEFORE_CMA,
        PERCPU_ATOM_SIZE,
        INITMEM_LABEL,
        KERNEL_IMAGE_MAP,
        RODATA_ALIGN,
        INIT_IMAGE_UNMAP,
        WX_FORMAT,
        USER_SHARE,
        VDSO,
        MEMORY_HOTPLUG,
        LINEAR_MAP_IN_TABLES,
        MEMORYLESS_ONLINE_EARLY,
        MEMBLOCK_DUMP_AFTER_ZONES,
    );
    let s = |r: Result<(), archmm::boot::BootError>| format!("{r:?}");
    Some(match hook {
        "CLEAN_TABLES" => A::Paging::CLEAN_TABLES != GenericPaging::<A::Paging>::CLEAN_TABLES,
        "kernel_mode_for" => [0, 1 << 30, 1 << 40, 1 << 42, 1 << 44, 1 << 46, 1 << 50, u64::MAX]
            .into_iter()
            .any(|end| A::kernel_mode_for(end) != generic::kernel_mode_for::<A>(end)),
        "node_data_banner" => {
            let out = |f: fn(i32, u64, u64, i32, bool, &mut dyn std::fmt::Write) -> std::fmt::Result| {
                let mut s = String::new();
                for (nid, tnid, memoryless) in [(0, 0, false), (1, 0, false), (2, 2, true), (3, 0, true)] {
                    f(nid, 0x1_3ffd_2000, 0x1_3fff_cfff, tnid, memoryless, &mut s).expect("banner");
                }
                s
            };
            out(A::node_data_banner) != out(generic::node_data_banner::<A>)
        }
        "early_reserve_memory" => differs_at::<A>(
            ms,
            Stage::Start,
            |c| s(A::early_reserve_memory(c)),
            |c| s(generic::early_reserve_memory::<A, _>(c)),
        ),
        "detect_memory" => {
            differs_at::<A>(ms, Stage::Reserved, |c| s(A::detect_memory(c)), |c| s(generic::detect_memory::<A, _>(c)))
        }
        "setup_arch" => {
            differs_at::<A>(ms, Stage::Detected, |c| s(A::setup_arch(c)), |c| s(generic::setup_arch::<A, _>(c)))
        }
        "numa_init" => differs_at::<A>(ms, Stage::SetUp, |c| s(A::numa_init(c)), |c| s(generic::numa_init::<A, _>(c))),
        "percpu_banner" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| s(A::percpu_banner(c, 2, 1)),
            |c| s(generic::percpu_banner::<A, _>(c, 2, 1)),
        ),
        "arch_pre_mm_init" => {
            differs_at::<A>(ms, Stage::Numa, |c| s(A::arch_pre_mm_init(c)), |c| s(generic::arch_pre_mm_init::<A, _>(c)))
        }
        "arch_post_mm_init" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| s(A::arch_post_mm_init(c)),
            |c| s(generic::arch_post_mm_init::<A, _>(c)),
        ),
        "arch_finalize_boot" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| s(A::arch_finalize_boot(c)),
            |c| s(generic::arch_finalize_boot::<A, _>(c)),
        ),
        "memory_block_size_bytes" => differs_at::<A>(
            ms,
            Stage::Detected,
            |c| A::memory_block_size_bytes(c).to_string(),
            |c| generic::memory_block_size_bytes::<A, _>(c).to_string(),
        ),
        "linear_map_phys_base" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| A::linear_map_phys_base(c).to_string(),
            |c| generic::linear_map_phys_base::<A, _>(c).to_string(),
        ),
        "dma_reserve" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| A::dma_reserve(c).to_string(),
            |c| generic::dma_reserve::<A, _>(c).to_string(),
        ),
        "cma_limit" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| A::cma_limit(c).to_string(),
            |c| generic::cma_limit::<A, _>(c).to_string(),
        ),
        "zone_limits" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| format!("{:?}", A::zone_limits(c)),
            |c| format!("{:?}", generic::zone_limits::<A, _>(c)),
        ),
        "iomem_resources" => differs_at::<A>(
            ms,
            Stage::Numa,
            |c| {
                let mut out = String::new();
                A::iomem_resources(c, &mut |s, e, n| writeln!(out, "{s:x}-{e:x} {n}").unwrap());
                out
            },
            |c| {
                let mut out = String::new();
                generic::iomem_resources::<A, _>(c, &mut |s, e, n| writeln!(out, "{s:x}-{e:x} {n}").unwrap());
                out
            },
        ),
        "highmem_banner" | "mark_rodata_ro_banner" | "arch_add_memory" | "arch_remove_memory" => {
            // The default machine only: each comparison boots it twice.
            booted_differs::<A>(&ms[0].0, hook)
        }
        "pgd_offset" | "pXd_index" | "pXd_offset" | "pte_alloc_one" | "pte_free" | "free_highmem_pages" => return None,
        _ => panic!("hook {hook}: HOOKS lists it but this test has no comparison for it; add one"),
    })
}

/// Hooks that need a booted machine (zones, the image, the page allocator): boot twice,
/// run the hook as `A` on one and as `Generic<A>` on the other.
fn booted_differs<A: Arch>(m: &Machine, hook: &str) -> bool {
    let run = |as_generic: bool| -> String {
        let mem = memory(m);
        let mut log = String::new();
        let mut b = boot::<A, &SparseMem>(&mem, m.firmware_map::<A>(), options(), &mut log)
            .unwrap_or_else(|e| panic!("{}: {e}", A::Paging::NAME));
        let mut out = String::new();
        match hook {
            "highmem_banner" if as_generic => generic::highmem_banner::<A>(&b.zones, &mut out).unwrap(),
            "highmem_banner" => A::highmem_banner(&b.zones, &mut out).unwrap(),
            "mark_rodata_ro_banner" => {
                let image = b.ctx.image.expect("the machine has a kernel image");
                if as_generic {
                    generic::mark_rodata_ro_banner::<A>(&image, &mut out).unwrap();
                } else {
                    A::mark_rodata_ro_banner(&image, &mut out).unwrap();
                }
            }
            _ => {
                let (start, size) = hotplug_range(&b.ctx);
                let mut tlb = archmm::pgtable::FlushLog::default();
                if as_generic {
                    let c = &mut b.ctx;
                    let added = generic::arch_add_memory::<A, _>(c, &mut b.pages, PhysAddr(start), size, false);
                    let removed = (hook == "arch_remove_memory" && added.is_ok())
                        .then(|| generic::arch_remove_memory::<A, _>(c, &mut b.pages, PhysAddr(start), size, &mut tlb));
                    write!(out, "{added:?} {removed:?}\n{}", state(c)).unwrap();
                } else {
                    let c = &mut b.ctx;
                    let added = A::arch_add_memory(c, &mut b.pages, PhysAddr(start), size, false);
                    let removed = (hook == "arch_remove_memory" && added.is_ok())
                        .then(|| A::arch_remove_memory(c, &mut b.pages, PhysAddr(start), size, &mut tlb));
                    write!(out, "{added:?} {removed:?}\n{}", state(c)).unwrap();
                }
                write!(out, "\nfree {}", b.pages.nr_free_pages()).unwrap();
            }
        }
        out
    };
    run(false) != run(true)
}

/// Every hook of `HOOKS` for one arch type: the overrides it lists must be exactly the
/// hooks where it differs.
struct Check<'a>(&'a [(Machine, Stage)]);

impl ArchVisitor for Check<'_> {
    type Output = Vec<String>;
    fn visit<A: Arch>(self) -> Vec<String> {
        let mode = A::Paging::NAME;
        let mut wrong = Vec::new();
        let listed = |hook: &str| A::OVERRIDES.iter().chain(A::Paging::OVERRIDES).any(|o| o.hook == hook && o.applies);
        for h in HOOKS {
            let Some(d) = differs::<A>(self.0, h.hook) else {
                if listed(h.hook) {
                    wrong.push(format!("{mode}: lists {} which no arch can override", h.hook));
                }
                continue;
            };
            match (d, listed(h.hook)) {
                (true, false) => {
                    wrong.push(format!("{mode}: {} differs from the generic hook without a reason", h.hook))
                }
                (false, true) => {
                    wrong.push(format!("{mode}: gives a reason for {} but behaves as the generic hook", h.hook))
                }
                _ => {}
            }
        }
        for o in A::OVERRIDES.iter().chain(A::Paging::OVERRIDES) {
            if !HOOKS.iter().any(|h| h.hook == o.hook) {
                wrong.push(format!("{mode}: overrides {}, which HOOKS does not document", o.hook));
            }
        }
        wrong
    }
}

/// The machines an arch's hooks are compared on, each with the last boot step that runs
/// before a hook on it: its QEMU machine at the default size, at 1 and 2 GiB, with two
/// NUMA nodes and with the firmware's NUMA description removed, where every step runs;
/// and, where the steps up to setup_arch run, machines past the sizes where memory blocks
/// and SCLP increments change, and one with a 1 GiB bank just below the mode's physical
/// address limit (MAX_PHYSMEM_BITS) (far beyond any linear map's reach).
fn machines(arch: ArchId, max_physmem_bits: u32) -> Vec<(Machine, Stage)> {
    const G: u64 = 1 << 30;
    let default = if arch == ArchId::I386 { 3 * G } else { 4 * G };
    let qemu = |size, nodes| Machine::qemu(arch, size, nodes, None).ok();
    let mut ms: Vec<(Machine, Stage)> = [(default, 1, Stage::Numa), (G, 1, Stage::Numa), (2 * G, 1, Stage::Numa)]
        .into_iter()
        .chain([(default, 2, Stage::Numa), (192 * G, 1, Stage::Detected), (512 * G, 1, Stage::Detected)])
        .filter_map(|(size, nodes, reach)| qemu(size, nodes).map(|m| (m, reach)))
        .collect();
    if let Some(mut m) = qemu(default, 1) {
        m.banks.iter_mut().for_each(|b| b.nid = None);
        m.cpu_nodes.clear();
        m.numa_distances = None;
        m.srat.clear();
        m.srat_cpus.clear();
        ms.push((m, Stage::Numa));
    }
    if let Some(mut m) = qemu(default, 1) {
        let far = (1u64 << max_physmem_bits) - 2 * G;
        if m.e820.is_empty() {
            m.banks.push(archmm::boot::MemBank { base: far, size: G, nid: None, hotplug: false });
        } else {
            m.e820.push(archmm::firmware::e820::E820Entry::new(far, G, archmm::firmware::e820::E820Type::RAM));
        }
        ms.push((m, Stage::Detected));
    }
    ms
}

fn check(mode: &archmm::arch::ModeInfo) -> Vec<String> {
    struct Bits;
    impl ArchVisitor for Bits {
        type Output = u32;
        fn visit<A: Arch>(self) -> u32 {
            A::MAX_PHYSMEM_BITS
        }
    }
    let bits = visit_kernel_mode(mode.name, Bits).unwrap_or_else(|_| panic!("{}: not bootable", mode.name));
    let ms = machines(mode.arch_id, bits);
    visit_kernel_mode(mode.name, Check(&ms)).unwrap_or_else(|_| panic!("{}: not bootable", mode.name))
}

/// The check is not vacuous: an arch that differs without a reason, or gives a reason
/// without differing, is reported, and an arch at the generic definitions is not.
#[test]
fn the_check_catches_drift_both_ways() {
    // riscv64's hooks are mostly generic, so its description boots on them alone.
    use archmm::arch::riscv64::Riscv64;
    let ms = machines(ArchId::Riscv64, Riscv64::MAX_PHYSMEM_BITS);
    let ms: Vec<_> = ms.into_iter().filter(|(_, reach)| *reach == Stage::Numa).take(2).collect();
    assert_eq!(Check(&ms).visit::<Generic<Riscv64>>(), Vec::<String>::new());
    let drifted = Check(&ms).visit::<Drifted<Riscv64>>();
    for hook in ["SMP_CACHE_BYTES", "dma_reserve"] {
        assert!(
            drifted.iter().any(|w| w.contains(hook) && w.contains("without a reason")),
            "{hook} not reported: {drifted:?}"
        );
    }
    assert_eq!(drifted.len(), 2, "{drifted:?}");
    let unfounded = Check(&ms).visit::<Unfounded<Riscv64>>();
    assert!(
        unfounded.len() == 1 && unfounded[0].contains("zone_limits but behaves as the generic hook"),
        "{unfounded:?}"
    );
}

#[test]
fn overrides_match_behaviour() {
    let modes: Vec<_> = archmm::arch::modes::MODES.iter().filter(|m| m.kernel).collect();
    // Two threads, each taking every other mode: the comparisons are independent.
    let wrong: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|k| {
                let modes = &modes;
                s.spawn(move || modes.iter().skip(k).step_by(2).flat_map(|m| check(m)).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    assert!(wrong.is_empty(), "overrides and behaviour disagree:\n{}", wrong.join("\n"));
}
