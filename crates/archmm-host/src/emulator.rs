//! The host emulator: boot a [`Machine`] with the core's bring-up on sparse memory and
//! collect what it printed and computed.

use crate::backing::SparseMem;
use crate::machine::Machine;
use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::arch::registry::{visit_kernel_mode, visit_paging_mode, ArchVisitor, PagingVisitor};
use archmm::arch::{Arch, ArchId};
use archmm::boot::{boot, BootError, BootOptions, Booted};
use archmm::memblock::{RegionType, MAX_NUMNODES};
use archmm::pgtable::{Entry, PageTable, PagingMode};
use archmm::physmem::PhysMem;
use archmm::zone::{ZoneType, MAX_NR_ZONES};
use serde::Serialize;

/// Everything a boot produced, for text and JSON output.
#[derive(Debug, Serialize)]
pub struct BootReport {
    /// Linux's name of the arch.
    pub arch: &'static str,
    /// The machine's description.
    pub machine: String,
    /// The memory model.
    pub memory_model: &'static str,
    /// The boot log, one Linux line per entry, in order.
    pub log: Vec<String>,
    /// memblock after the bring-up.
    pub memblock: MemblockReport,
    /// max_pfn.
    pub max_pfn: u64,
    /// max_low_pfn.
    pub max_low_pfn: u64,
    /// Zone ranges (configured zones other than Movable).
    pub zones: Vec<ZoneRange>,
    /// Nodes with memory.
    pub nodes: Vec<NodeReport>,
    /// Unavailable-range records.
    pub holes: Vec<HoleReport>,
    /// The kernel page table's root, once the linear map exists (for a walk in another
    /// mode: that table's root).
    pub pgd: Option<u64>,
    /// The paging mode of `pgd`.
    pub paging_mode: &'static str,
    /// The linear map's offset: physical address `pa` is at virtual `pa + linear_offset`
    /// (PAGE_OFFSET less __pa(PAGE_OFFSET)), modulo 2^64.
    pub linear_offset: u64,
    /// Where the linear map ends (physical).
    pub linear_end: u64,
    /// The linear map is a hardware window, not page-table entries (LoongArch's DMW).
    pub linear_window: bool,
    /// Levels of a walk asked for with [`run_walk`].
    pub walk: Vec<WalkLevel>,
    /// The Memory line's numbers.
    pub memory: MemoryReport,
    /// /proc-style views by name (buddyinfo, zoneinfo, meminfo, memblock).
    pub views: std::collections::BTreeMap<&'static str, String>,
    /// The state of every page memblock calls memory, after the boot (before the first
    /// user address space is built).
    pub census: PageCensus,
    /// The first user address space (init's), with the vDSO.
    pub user: Option<crate::kviews::UserSpace>,
    /// W^X check result: writable and executable pages.
    pub wx_pages: u64,
}

/// Page conservation: every pfn of memblock memory counted by its memmap state. A
/// consistent boot has `absent == 0`, `free + pcp == nr_free_pages` and the states adding
/// up to `present`.
#[derive(Debug, Default, Serialize)]
pub struct PageCensus {
    /// Pages of memblock memory.
    pub present: u64,
    /// In free buddy blocks.
    pub free: u64,
    /// On per-CPU lists.
    pub pcp: u64,
    /// Reserved.
    pub reserved: u64,
    /// Allocated.
    pub allocated: u64,
    /// Memory without metadata, or with metadata that no state accounts for.
    pub absent: u64,
    /// What the allocator itself counts as free in buddy blocks (nr_free_pages()) at the
    /// same moment.
    pub allocator_free: u64,
    /// What the allocator counts on its per-CPU lists at the same moment.
    pub allocator_pcp: u64,
}

/// The numbers behind `Memory:` and `Total pages:`.
#[derive(Debug, Serialize)]
pub struct MemoryReport {
    /// Present pages.
    pub physpages: u64,
    /// Free pages after the hand-off.
    pub free_pages: u64,
    /// Managed pages.
    pub totalram_pages: u64,
    /// CMA pages.
    pub cma_pages: u64,
    /// The zonelist estimate.
    pub zonelist_pages: u64,
    /// Bytes of page metadata.
    pub memmap_bytes: u64,
    /// Bytes per page of metadata.
    pub page_meta_bytes: u64,
}

/// One level of a walk, as `archmm walk` prints it.
#[derive(Debug, Serialize)]
pub struct WalkLevel {
    /// Linux's name of the level (pgd, p4d, pud, pmd, pte).
    pub level: &'static str,
    /// Index into the table.
    pub index: u64,
    /// Table address.
    pub table: u64,
    /// Entry address.
    pub entry_pa: u64,
    /// Raw entry.
    pub raw: u64,
    /// Decoded: "invalid", "table", or "leaf".
    pub kind: &'static str,
    /// Next table or page address.
    pub target: Option<u64>,
    /// Size a leaf maps.
    pub size: Option<u64>,
    /// Protection of a leaf (rwx, user/kernel, global, memory type).
    pub prot: Option<String>,
}

/// One memblock region.
#[derive(Debug, Serialize)]
pub struct RegionReport {
    /// First byte.
    pub base: u64,
    /// Size.
    pub size: u64,
    /// Node, or null for none.
    pub nid: Option<i32>,
    /// Flags (Linux's numeric value).
    pub flags: u32,
}

/// memblock's arrays.
#[derive(Debug, Serialize)]
pub struct MemblockReport {
    /// memory.
    pub memory: Vec<RegionReport>,
    /// reserved.
    pub reserved: Vec<RegionReport>,
    /// memory total.
    pub memory_total: u64,
    /// reserved total.
    pub reserved_total: u64,
}

/// A zone's range, `null` start/end when empty.
#[derive(Debug, Serialize)]
pub struct ZoneRange {
    /// Zone name.
    pub zone: &'static str,
    /// First byte.
    pub start: Option<u64>,
    /// Last byte.
    pub end: Option<u64>,
}

/// One node's share of one zone.
#[derive(Debug, Serialize)]
pub struct NodeZoneReport {
    /// Zone name.
    pub zone: &'static str,
    /// First pfn.
    pub start_pfn: u64,
    /// Spanned pages.
    pub spanned: u64,
    /// Present pages.
    pub present: u64,
}

/// One node.
#[derive(Debug, Serialize)]
pub struct NodeReport {
    /// Node id.
    pub nid: usize,
    /// First pfn.
    pub start_pfn: u64,
    /// End pfn.
    pub end_pfn: u64,
    /// Zones with a span.
    pub zones: Vec<NodeZoneReport>,
}

/// "On node N, zone Z: C pages in unavailable ranges".
#[derive(Debug, Serialize)]
pub struct HoleReport {
    /// Node.
    pub nid: i32,
    /// Zone.
    pub zone: &'static str,
    /// Pages.
    pub pages: u64,
}

thread_local! {
    /// The log of the boot running on this thread: the boot's own lines and the
    /// `memblock=debug` trace (which arrives through the `log` facade) in one order.
    static SINK: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The boot log collector: `core::fmt::Write` into this thread's sink.
struct Log;

impl std::fmt::Write for Log {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        SINK.with(|k| {
            if let Some(buf) = k.borrow_mut().as_mut() {
                buf.push_str(s);
            }
        });
        Ok(())
    }
}

/// A `log` logger: records of a boot running on this thread go into its log (so the
/// memblock=debug trace interleaves with the boot's lines as in dmesg); others go to
/// stderr.
#[derive(Debug)]
pub struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        let line = format!("{}\n", r.args());
        let used = SINK.with(|k| match k.borrow_mut().as_mut() {
            Some(buf) => {
                buf.push_str(&line);
                true
            }
            None => false,
        });
        if !used {
            eprint!("{line}");
        }
    }
    fn flush(&self) {}
}

static LOGGER: HostLogger = HostLogger;

/// Install [`HostLogger`] (idempotent).
pub fn install_logger() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Boot `m` as arch `arch`; `Err` carries the log up to the failure and the error.
pub fn run_boot(arch: ArchId, m: &Machine, opts: BootOptions) -> Result<BootReport, (Vec<String>, BootError)> {
    run_walk(arch, m, opts, None)
}

/// Boot with the kernel in paging mode `mode` (e.g. `x86_64-5level`, `arm64-64k-42`,
/// `riscv64-sv57`), walking `va` in its page table if given. `None` when the mode is not one
/// a kernel of a booting arch runs in (e.g. a TTBR0 user mode, or an arch whose bring-up
/// does not run on the host).
pub fn run_mode(
    mode: &str,
    m: &Machine,
    opts: BootOptions,
    va: Option<u64>,
) -> Option<Result<BootReport, (Vec<String>, BootError)>> {
    run_mode_views(mode, m, opts, va.map(|v| (v, None)), true)
}

/// [`run_mode`] with a walk as [`run_walk`] takes it (`Some("user")` as the mode walks the
/// first user address space); `mappings`: build the `wx` view (the
/// kernel table's mappings as runs), which walks every leaf and costs time on large
/// machines mapped with base pages.
pub fn run_mode_views(
    mode: &str,
    m: &Machine,
    opts: BootOptions,
    w: Option<(u64, Option<&str>)>,
    mappings: bool,
) -> Option<Result<BootReport, (Vec<String>, BootError)>> {
    visit_kernel_mode(mode, Boot { m, opts, walk: w, mappings }).ok()
}

/// A boot as a visitor of the registry: [`run`] for the arch type a name selects.
struct Boot<'a> {
    m: &'a Machine,
    opts: BootOptions,
    walk: Option<(u64, Option<&'a str>)>,
    mappings: bool,
}

impl ArchVisitor for Boot<'_> {
    type Output = Result<BootReport, (Vec<String>, BootError)>;
    fn visit<A: Arch>(self) -> Self::Output {
        run::<A>(self.m, self.opts, self.walk, self.mappings)
    }
}

/// The kernel paging mode arch `A` boots machine `m` in (see [`Arch::kernel_mode_for`]).
struct KernelMode(u64);

impl ArchVisitor for KernelMode {
    type Output = &'static str;
    fn visit<A: Arch>(self) -> &'static str {
        A::kernel_mode_for(self.0)
    }
}

/// The linear map's start for a paging mode that is not the arch's kernel mode: the lowest
/// address of the half the mode translates for the kernel (the bottom of the space for
/// modes that translate only the low half).
fn mode_linear_base<Mo: PagingMode>() -> u64 {
    use archmm::pgtable::VaRange;
    match Mo::VA_RANGE {
        VaRange::High => 0u64.wrapping_sub(1u64 << Mo::VA_BITS),
        VaRange::Canonical => 0u64.wrapping_sub(1u64 << (Mo::VA_BITS - 1)),
        VaRange::Low => 0,
    }
}

/// After a boot, build a second kernel page table in mode `M2` (tables from the page
/// allocator through the one allocation API) mapping memblock's memory at the mode's
/// linear base, and walk `va` in it.
fn walk_in_mode<A: Arch, M2: PagingMode>(
    mem: &SparseMem,
    b: &mut Booted<'_, A, &SparseMem>,
    va: u64,
) -> (Option<u64>, Vec<WalkLevel>) {
    use archmm::memblock::MemblockFlags;
    use archmm::pgtable::{FlushLog, MapFlags, Prot};
    let regions: Vec<(u64, u64)> = b
        .ctx
        .memblock
        .real_regions(RegionType::Memory)
        .filter(|r| !r.flags.contains(MemblockFlags::NOMAP))
        .map(|r| (r.base, r.end()))
        .collect();
    let mut alloc = archmm::early::MmAlloc::<A::Paging, &SparseMem>::new(&mut b.ctx.memblock, Some(&b.pages), 0);
    let memref = mem;
    let Ok(mut pt) = PageTable::<M2, SparseMem>::new(memref, &mut alloc) else { return (None, Vec::new()) };
    let base = mode_linear_base::<M2>();
    let page = M2::PAGE_SIZE;
    for (s, e) in regions {
        let (s, e) = (s.div_ceil(page) * page, e / page * page);
        if e <= s || (M2::PA_BITS < 64 && e > 1u64 << M2::PA_BITS) {
            continue;
        }
        let _ = pt.map(
            VirtAddr(base.wrapping_add(s)),
            PhysAddr(s),
            e - s,
            Prot::KERNEL_RW,
            MapFlags { replace: false, blocks: true },
            &mut alloc,
            &mut FlushLog::default(),
        );
    }
    let root = pt.root();
    (Some(root.0), walk_levels::<M2>(mem, root.0, va))
}

/// Boot, then (with `walk`) walk a virtual address through the kernel page table the boot
/// built, or, when a paging mode other than the kernel's is named, through a table of that
/// mode built after the boot over the same memory.
pub fn run_walk(
    arch: ArchId,
    m: &Machine,
    opts: BootOptions,
    walk: Option<(u64, Option<&str>)>,
) -> Result<BootReport, (Vec<String>, BootError)> {
    run_walk_views(arch, m, opts, walk, true)
}

/// [`run_walk`]; `mappings` as in [`run_mode_views`].
pub fn run_walk_views(
    arch: ArchId,
    m: &Machine,
    opts: BootOptions,
    walk: Option<(u64, Option<&str>)>,
    mappings: bool,
) -> Result<BootReport, (Vec<String>, BootError)> {
    if let Some((va, Some(mode))) = walk {
        if let Some(r) = run_mode_views(mode, m, opts, Some((va, None)), mappings) {
            return r;
        }
    }
    let mode = arch.visit(KernelMode(m.ram_end()));
    let boot = Boot { m, opts, walk, mappings };
    match visit_kernel_mode(mode, boot) {
        Ok(r) => r,
        Err(boot) => arch.visit(boot),
    }
}

fn walk_levels<Mo: PagingMode>(mem: &SparseMem, root: u64, va: u64) -> Vec<WalkLevel> {
    let pt = PageTable::<Mo, SparseMem>::from_root(mem, PhysAddr(root));
    let (steps, n) = pt.walk(VirtAddr(va));
    let names = Mo::level_names();
    steps[..n]
        .iter()
        .flatten()
        .map(|s| {
            let (kind, target, size, prot) = match s.entry {
                Entry::Invalid => ("invalid", None, None, None),
                Entry::Table(t) => ("table", Some(t), None, None),
                Entry::Leaf { pa, prot } => {
                    ("leaf", Some(pa), Some(Mo::LEVELS[s.level].span()), Some(prot.to_string()))
                }
            };
            WalkLevel {
                level: names.get(s.level).copied().unwrap_or("?"),
                index: s.index,
                table: s.table,
                entry_pa: s.entry_pa,
                raw: Mo::entry_value(s.raw),
                kind,
                target,
                size,
                prot,
            }
        })
        .collect()
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

/// The most memory the host emulator brings up: 16 TiB, the largest QEMU machine
/// `--mem` takes (its metadata and tables take minutes and gigabytes of host memory already;
/// docs/benchmarks.md).
pub const HOST_MEMORY_LIMIT: u64 = 16 << 40;

/// `opts` with the host's [`HOST_MEMORY_LIMIT`] unless the caller set a limit.
pub fn host_limits(opts: BootOptions) -> BootOptions {
    BootOptions { memory_limit: if opts.memory_limit == 0 { HOST_MEMORY_LIMIT } else { opts.memory_limit }, ..opts }
}

fn run<A: Arch>(
    m: &Machine,
    opts: BootOptions,
    walk: Option<(u64, Option<&str>)>,
    mappings: bool,
) -> Result<BootReport, (Vec<String>, BootError)> {
    let mem = SparseMem::new();
    if let Some(bda) = m.bda {
        mem.write(PhysAddr(0x413), &bda.base_kb.to_le_bytes());
        mem.write(PhysAddr(0x40e), &bda.ebda_segment.to_le_bytes());
    }
    install_logger();
    SINK.with(|k| *k.borrow_mut() = Some(String::new()));
    let take = || SINK.with(|k| k.borrow_mut().take().unwrap_or_default());
    let mut log = Log;
    let res = boot::<A, &SparseMem>(&mem, m.firmware_map::<A>(), host_limits(opts), &mut log);
    let mut b: Booted<'_, A, &SparseMem> = match res {
        Ok(b) => b,
        Err(e) => return Err((lines(&take()), e)),
    };
    let region = |t: RegionType| -> Vec<RegionReport> {
        b.ctx
            .memblock
            .real_regions(t)
            .map(|r| RegionReport {
                base: r.base,
                size: r.size,
                nid: if r.nid == MAX_NUMNODES { None } else { Some(r.nid) },
                flags: r.flags.0,
            })
            .collect()
    };
    let ps = A::PAGE_SHIFT;
    let z = &b.zones;
    let zones = ZoneType::ALL
        .iter()
        .filter(|t| **t != ZoneType::Movable && z.configured[**t as usize])
        .map(|t| {
            let (lo, hi) = (z.lowest[*t as usize], z.highest[*t as usize]);
            ZoneRange {
                zone: t.name(),
                start: (lo != hi).then_some(lo << ps),
                end: (lo != hi).then_some((hi << ps) - 1),
            }
        })
        .collect();
    let nodes = z
        .online_nodes()
        .map(|(i, n)| NodeReport {
            nid: i,
            start_pfn: n.start_pfn,
            end_pfn: n.end_pfn,
            zones: (0..MAX_NR_ZONES)
                .filter(|k| n.zones[*k].spanned != 0)
                .map(|k| NodeZoneReport {
                    zone: ZoneType::ALL[k].name(),
                    start_pfn: n.zones[k].start_pfn,
                    spanned: n.zones[k].spanned,
                    present: n.zones[k].present,
                })
                .collect(),
        })
        .collect();
    let holes =
        z.holes.iter().flatten().map(|h| HoleReport { nid: h.nid, zone: h.zone.name(), pages: h.pages }).collect();
    let memblock = MemblockReport {
        memory: region(RegionType::Memory),
        reserved: region(RegionType::Reserved),
        memory_total: b.ctx.memblock.total_size(RegionType::Memory),
        reserved_total: b.ctx.memblock.total_size(RegionType::Reserved),
    };
    let report = BootReport {
        arch: A::NAME,
        machine: m.name.clone(),
        memory_model: b.ctx.model.model.name(),
        log: Vec::new(),
        memblock,
        max_pfn: b.ctx.max_pfn,
        max_low_pfn: b.ctx.max_low_pfn,
        zones,
        nodes,
        holes,
        pgd: None,
        paging_mode: A::Paging::NAME,
        linear_offset: b.ctx.layout.page_offset,
        linear_end: b.ctx.max_low_pfn << A::PAGE_SHIFT,
        linear_window: !A::LINEAR_MAP_IN_TABLES,
        memory: MemoryReport {
            physpages: b.report.physpages,
            free_pages: b.report.free,
            totalram_pages: b.report.totalram,
            cma_pages: b.report.cma,
            zonelist_pages: b.report.zonelist_pages,
            memmap_bytes: b.report.memmap_bytes,
            page_meta_bytes: archmm::memmap::PAGE_META_SIZE,
        },
        views: views::<A>(&b),
        walk: Vec::new(),
        census: census::<A>(&b),
        user: None,
        wx_pages: b.wx.wx_pages,
    };
    let mut report = report;
    if mappings {
        report.views.insert("wx", crate::kviews::wx_view::<A>(&mem, &b));
    }
    report.views.insert("percpu", crate::kviews::percpu_view::<A>(&b));
    let user = crate::kviews::first_user_space::<A>(&mem, &mut b);
    if let Some((u, _)) = &user {
        report.views.insert("maps", u.maps.iter().map(|l| format!("{l}\n")).collect());
    }
    report.user = user.as_ref().map(|(u, _)| u.clone());
    let asked = walk;
    let (pgd, walk) = match walk {
        Some((va, Some("user"))) => match &user {
            Some((_, root)) => (Some(*root), walk_levels::<A::UserPaging>(&mem, *root, va)),
            None => (None, Vec::new()),
        },
        Some((va, Some(mode))) if mode != A::Paging::NAME => {
            // Kernel modes boot in run_mode(); what reaches here is a user-half mode.
            struct WalkIn<'a, 'b, A: Arch> {
                mem: &'a SparseMem,
                b: &'a mut Booted<'b, A, &'b SparseMem>,
                va: u64,
            }
            impl<A: Arch> PagingVisitor for WalkIn<'_, '_, A> {
                type Output = (Option<u64>, Vec<WalkLevel>);
                fn visit<M: PagingMode>(self) -> Self::Output {
                    walk_in_mode::<A, M>(self.mem, self.b, self.va)
                }
            }
            visit_paging_mode(mode, WalkIn { mem: &mem, b: &mut b, va }).unwrap_or_default()
        }
        Some((va, _)) => (
            b.ctx.pgd.map(|a| a.0),
            b.ctx.pgd.map(|root| walk_levels::<A::Paging>(&mem, root.0, va & A::KERNEL_VA_MASK)).unwrap_or_default(),
        ),
        None => (b.ctx.pgd.map(|a| a.0), Vec::new()),
    };
    let paging_mode = match asked {
        Some((_, Some("user"))) => <A::UserPaging as PagingMode>::NAME,
        Some((_, Some(mode))) => archmm::arch::modes::mode_by_name(mode).map_or(report.paging_mode, |m| m.name),
        _ => report.paging_mode,
    };
    drop(b);
    Ok(BootReport { log: lines(&take()), pgd, walk, paging_mode, ..report })
}

/// Count every page of memblock memory by its memmap state.
fn census<A: Arch>(b: &Booted<'_, A, &SparseMem>) -> PageCensus {
    use archmm::buddy::PageState;
    let mut c = PageCensus {
        allocator_free: b.pages.nr_free_pages(),
        allocator_pcp: b.pages.pcp_pages(),
        ..Default::default()
    };
    b.ctx.memblock.for_each_mem_pfn_range(MAX_NUMNODES, A::PAGE_SHIFT, |s, e, _| {
        c.present += e - s;
        b.pages.for_each_state(s, e, |_, st| match st {
            PageState::Free => c.free += 1,
            PageState::PcpFree => c.pcp += 1,
            PageState::Reserved => c.reserved += 1,
            PageState::Allocated => c.allocated += 1,
            PageState::Absent | PageState::Offline => c.absent += 1,
        });
    });
    c
}

/// The /proc and debugfs views of a booted machine, in Linux's formats.
fn views<A: Arch>(b: &Booted<'_, A, &SparseMem>) -> std::collections::BTreeMap<&'static str, String> {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let mut v = std::collections::BTreeMap::new();
    let pa = &b.pages;
    let k = |pages: u64| pages << (A::PAGE_SHIFT - 10);
    // /proc/buddyinfo: populated zones, free blocks per order.
    let mut s = String::new();
    for z in pa.zones().filter(|z| z.present > 0) {
        let _ = write!(s, "Node {}, zone {:>8} ", z.nid, z.kind.name());
        for n in z.nr_free().iter().take(pa.max_order() as usize) {
            let _ = write!(s, "{n:>6} ");
        }
        s.push('\n');
    }
    v.insert("buddyinfo", s);
    // /proc/zoneinfo: every configured zone of every online node, empty ones included (up
    // to their protection line, as Linux prints an unpopulated zone); the per-node and vm
    // event counters are not modelled.
    let mut s = String::new();
    let mut nodes: Vec<usize> = pa
        .zones()
        .map(|z| z.nid)
        .chain(b.ctx.cpu_node[..b.ctx.options.cpus.max(1)].iter().map(|&n| n as usize))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    for &nid in &nodes {
        let zone = |kind: archmm::zone::ZoneType| pa.zones().find(|z| z.nid == nid && z.kind == kind);
        let managed = |kind| zone(kind).map_or(0, |z| z.managed.load(Relaxed));
        for (i, &kind) in A::ZONES.iter().enumerate() {
            let z = zone(kind);
            let _ = writeln!(s, "Node {nid}, zone {:>8}", kind.name());
            let field = |f: &dyn Fn(&archmm::buddy::Zone) -> u64| z.map_or(0, f);
            let _ = writeln!(s, "  pages free     {}", field(&|z| z.free.load(Relaxed)));
            let _ = writeln!(s, "        boost    0");
            let _ = writeln!(s, "        min      {}", field(&|z| z.wmark[0].load(Relaxed)));
            let _ = writeln!(s, "        low      {}", field(&|z| z.wmark[1].load(Relaxed)));
            let _ = writeln!(s, "        high     {}", field(&|z| z.wmark[2].load(Relaxed)));
            let _ = writeln!(s, "        spanned  {}", field(&|z| z.spanned));
            let _ = writeln!(s, "        present  {}", field(&|z| z.present));
            let _ = writeln!(s, "        managed  {}", managed(kind));
            let _ = writeln!(s, "        cma      0");
            // setup_per_zone_lowmem_reserve(): the managed pages of the zones above, over
            // sysctl_lowmem_reserve_ratio (256 for DMA and DMA32, 32 for Normal, else 0).
            let ratio = match kind {
                archmm::zone::ZoneType::Dma | archmm::zone::ZoneType::Dma32 => 256,
                archmm::zone::ZoneType::Normal => 32,
                _ => 0,
            };
            let mut above = 0;
            let protection: Vec<String> = A::ZONES
                .iter()
                .enumerate()
                .map(|(j, &k)| {
                    if j <= i {
                        return "0".to_string();
                    }
                    above += managed(k);
                    if ratio == 0 || managed(kind) == 0 { 0 } else { above / ratio }.to_string()
                })
                .collect();
            let _ = writeln!(s, "        protection: ({})", protection.join(", "));
            let Some(z) = z.filter(|z| z.present > 0) else { continue };
            let _ = writeln!(s, "      nr_free_pages {}", z.free.load(Relaxed));
            let _ = writeln!(s, "  pagesets");
            for cpu in 0..b.ctx.options.cpus.max(1) {
                let _ = writeln!(s, "    cpu: {cpu}");
                let _ = writeln!(s, "              count: {}", b.pages.pcp_count(z, cpu));
                let _ = writeln!(s, "              high:  {}", z.pcp_high.load(Relaxed));
                let _ = writeln!(s, "              batch: {}", z.pcp_batch.load(Relaxed));
            }
            let _ = writeln!(s, "  start_pfn:           {}", z.start_pfn);
        }
    }
    v.insert("zoneinfo", s);
    // /proc/meminfo: the counters the bring-up defines.
    let mut s = String::new();
    let free = pa.nr_free_pages();
    for (name, pages) in [("MemTotal:", pa.totalram_pages()), ("MemFree:", free), ("CmaTotal:", b.report.cma)] {
        let _ = writeln!(s, "{name:<16}{:>8} kB", k(pages));
    }
    v.insert("meminfo", s);
    // /sys/kernel/debug/memblock/{memory,reserved}.
    let mut s = String::new();
    for t in [RegionType::Memory, RegionType::Reserved] {
        let _ = writeln!(s, "# /sys/kernel/debug/memblock/{}", t.name());
        let _ = b.ctx.memblock.write_debugfs(t, &mut s);
    }
    v.insert("memblock", s);
    // /proc/iomem's memory resources (the arch says where they come from; device and PCI
    // windows are not modelled).
    let mut s = String::new();
    A::iomem_resources(&b.ctx, &mut |start, end, name| {
        let _ = writeln!(s, "{start:08x}-{end:08x} : {name}");
    });
    v.insert("iomem", s);
    v
}
