//! Differential tests: archmm's page-table engine against the independent reference
//! walkers in `archmm::refwalk`.
//!
//! For every paging mode, tables are built with archmm's engine (random maps of pages and
//! blocks with random protections, then random `protect`s and `unmap`s), and for many
//! virtual addresses the reference walker, reading the raw words from memory with the
//! hardware configuration of `refwalk::walk_mode`, must agree with
//! `PageTable::translate` (also after `set_memory_*()` changes): same physical address, page size, level and permission bits,
//! and a fault wherever archmm says "not mapped".
//!
//! Adding a mode is one line in the `diff_tests!` list at the bottom.

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::pgtable::{FlushLog, MapFlags, MemType, PageTable, PagingMode, Prot, TableAlloc, VaRange};
use archmm::refwalk::{self, RefTranslation};
use archmm_host::backing::SparseMem;
use std::collections::BTreeMap;

/// Bump allocator for tables: aligned, never reused (freed tables are simply dropped).
struct Bump {
    next: u64,
}

impl TableAlloc for Bump {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        let align = bytes.max(8).next_power_of_two();
        let pa = self.next.div_ceil(align) * align;
        self.next = pa + bytes;
        Some(pa)
    }
    fn free_table(&mut self, _pa: u64, _bytes: u64, _level: usize) {}
}

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Which fields of the reference translation a mode's encoding can express; the others
/// are architecturally meaningless for that mode and are not compared.
struct Compare {
    user: bool,
    global: bool,
    /// Memory types the mode has (bit n = `MemType` n); all of them must be exercised.
    memtypes: u64,
}

fn compare_for(name: &str) -> Compare {
    if name.starts_with("s390") {
        // DAT has no user/supervisor distinction (the ASCE in use decides; archmm keeps
        // Linux-style software bits for it) and no memory types: everything is Normal.
        Compare { user: false, global: false, memtypes: 0b001 }
    } else if name.starts_with("powerpc") {
        // Radix has no global bit: TLB entries are tagged with the PID.
        Compare { user: true, global: false, memtypes: 0b111 }
    } else {
        Compare { user: true, global: true, memtypes: 0b111 }
    }
}

fn ref_memtype(m: MemType) -> refwalk::MemType {
    match m {
        MemType::Normal => refwalk::MemType::Normal,
        MemType::WriteCombine => refwalk::MemType::WriteCombine,
        MemType::Device => refwalk::MemType::Device,
    }
}

fn random_prot(rng: &mut Rng) -> Prot {
    let mut p = Prot {
        read: rng.chance(85),
        write: rng.chance(50),
        exec: rng.chance(30),
        user: rng.chance(40),
        global: rng.chance(50),
        mem: match rng.below(10) {
            0 | 1 => MemType::Device,
            2 => MemType::WriteCombine,
            _ => MemType::Normal,
        },
    };
    if !p.read && !p.write && !p.exec {
        p.read = true;
    }
    p
}

/// Geometry facts of mode `M` used to pick addresses.
struct Geometry {
    levels: usize,
    page: u64,
    /// Spans of the levels that can hold leaves, root first.
    leaf_spans: Vec<u64>,
    va_bits: u32,
    va_range: VaRange,
    pa_bits: u32,
}

impl Geometry {
    fn of<M: PagingMode>() -> Self {
        Self {
            levels: M::LEVELS.len(),
            page: M::PAGE_SIZE,
            leaf_spans: M::LEVELS.iter().filter(|l| l.leaf).map(|l| l.span()).collect(),
            va_bits: M::VA_BITS,
            va_range: M::VA_RANGE,
            pa_bits: M::PA_BITS,
        }
    }

    /// Bytes of one half (Canonical) or of the whole range (Low/High).
    fn half(&self) -> u64 {
        match self.va_range {
            VaRange::Canonical => 1u64 << (self.va_bits - 1),
            _ if self.va_bits >= 64 => u64::MAX,
            _ => 1u64 << self.va_bits,
        }
    }

    /// The virtual address at `offset` into the low (`upper` false) or high half.
    fn va(&self, offset: u64, upper: bool) -> u64 {
        let upper = match self.va_range {
            VaRange::Low => false,
            VaRange::High => true,
            VaRange::Canonical => upper,
        };
        let off = offset & (self.half() - 1);
        if upper {
            off.wrapping_sub(self.half())
        } else {
            off
        }
    }

    fn random_pa(&self, rng: &mut Rng, align: u64) -> u64 {
        let limit = if self.pa_bits >= 64 { u64::MAX } else { (1u64 << self.pa_bits) - 1 };
        (rng.next() & limit) / align * align
    }
}

/// One random window of the address space where mappings pile up.
struct Window {
    base_off: u64,
    size: u64,
    upper: bool,
}

struct Stats {
    compared: u64,
    mapped: u64,
    /// Bit n set: a leaf at archmm level n was compared.
    levels_hit: u64,
    /// Bit n set: memory type n (Normal, WriteCombine, Device) was compared.
    memtypes_hit: u64,
    /// Number of disagreeing addresses.
    mismatches: u64,
    /// How many disagreements of each kind (the fields that differ, or a fault on one side).
    kinds: BTreeMap<String, u64>,
    /// The first few disagreements, in full.
    examples: Vec<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            compared: 0,
            mapped: 0,
            levels_hit: 0,
            memtypes_hit: 0,
            mismatches: 0,
            kinds: BTreeMap::new(),
            examples: Vec::new(),
        }
    }
}

fn check_one<M: PagingMode>(
    pt: &PageTable<'_, M, SparseMem>,
    mem: &SparseMem,
    g: &Geometry,
    cmp: &Compare,
    va: u64,
    stats: &mut Stats,
) {
    let want = pt.translate(VirtAddr(va));
    let got = refwalk::walk_mode(M::NAME, mem, pt.root(), VirtAddr(va));
    stats.compared += 1;
    let problem = match (&want, &got) {
        (None, Err(_)) => None,
        (None, Ok(r)) => Some(("walker maps".to_string(), format!("archmm: unmapped, walker: {}", show(r)))),
        (Some(t), Err(f)) => Some((format!("walker {:?}", f.kind), format!("archmm: {t:?}, walker: {f:?}"))),
        (Some(t), Ok(r)) => {
            stats.mapped += 1;
            stats.levels_hit |= 1 << t.level;
            stats.memtypes_hit |= 1 << t.prot.mem as u64;
            let p = t.prot;
            let level = g.levels - 1 - t.level;
            let mut bad: Vec<String> = Vec::new();
            if r.pa != t.pa.0 {
                bad.push(format!("pa {:#x} vs {:#x}", t.pa, r.pa));
            }
            if r.page_size != t.size {
                bad.push(format!("size {:#x} vs {:#x}", t.size, r.page_size));
            }
            if r.level != level {
                bad.push(format!("level {level} vs {}", r.level));
            }
            if r.readable != p.read {
                bad.push(format!("read {} vs {}", p.read, r.readable));
            }
            if r.writable != p.write {
                bad.push(format!("write {} vs {}", p.write, r.writable));
            }
            if r.executable != p.exec {
                bad.push(format!("exec {} vs {}", p.exec, r.executable));
            }
            if cmp.user && r.user != p.user {
                bad.push(format!("user {} vs {}", p.user, r.user));
            }
            if cmp.global && r.global != p.global {
                bad.push(format!("global {} vs {}", p.global, r.global));
            }
            if r.memtype != ref_memtype(p.mem) {
                bad.push(format!("memtype {:?} vs {:?}", p.mem, r.memtype));
            }
            if bad.is_empty() {
                None
            } else {
                let kind: Vec<&str> = bad.iter().map(|b| b.split(' ').next().unwrap_or("")).collect();
                let msg = format!("{} (archmm prot {p}; walker {})", bad.join(", "), show(r));
                Some((format!("{} differ", kind.join("+")), msg))
            }
        }
    };
    if let Some((kind, msg)) = problem {
        stats.mismatches += 1;
        *stats.kinds.entry(kind).or_default() += 1;
        if stats.examples.len() < 8 {
            stats.examples.push(format!("va {va:#x}: {msg}"));
        }
    }
}

fn show(r: &RefTranslation) -> String {
    format!(
        "pa {:#x} size {:#x} level {} r{} w{} x{} u{} g{} {:?} raw {:#x} perms {:?}",
        r.pa,
        r.page_size,
        r.level,
        r.readable as u8,
        r.writable as u8,
        r.executable as u8,
        r.user as u8,
        r.global as u8,
        r.memtype,
        r.raw_leaf,
        r.perms
    )
}

/// A random page-aligned piece (start, pages; at most 64 pages) of one of `ranges`.
fn random_piece(rng: &mut Rng, ranges: &[(u64, u64)], page: u64) -> Option<(u64, u64)> {
    if ranges.is_empty() {
        return None;
    }
    let (va, size) = ranges[rng.below(ranges.len() as u64) as usize];
    let pages = size / page;
    let first = rng.below(pages);
    let n = 1 + rng.below((pages - first).min(64));
    Some((va + first * page, n))
}

/// Build random tables for mode `M` with `seed` and compare every sampled address.
fn run<M: PagingMode>(seed: u64) -> Stats {
    let g = Geometry::of::<M>();
    let cmp = compare_for(M::NAME);
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mem = SparseMem::new();
    let mut alloc = Bump { next: 0x100_0000 };
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<M, SparseMem>::new(&mem, &mut alloc).expect("root table");

    // A few windows, each a handful of the largest leaf spans wide.
    let biggest = *g.leaf_spans.first().unwrap();
    let wsize = (biggest.saturating_mul(6)).min(g.half());
    let windows: Vec<Window> = (0..3)
        .map(|_| {
            let slots = (g.half() / wsize).max(1);
            Window { base_off: rng.below(slots) * wsize, size: wsize, upper: rng.chance(50) }
        })
        .collect();

    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let random_range = |rng: &mut Rng| -> (u64, u64, u64) {
        let w = &windows[rng.below(windows.len() as u64) as usize];
        let span = g.leaf_spans[rng.below(g.leaf_spans.len() as u64) as usize];
        let span = span.min(w.size);
        let count = if span == g.page { 1 + rng.below(24) } else { 1 + rng.below(3) };
        let size = (span * count).min(w.size);
        let off = w.base_off + rng.below((w.size - size) / span + 1) * span;
        (g.va(off, w.upper), size, span)
    };

    for _ in 0..40 {
        let (va, size, span) = random_range(&mut rng);
        let small = size / g.page <= 4096;
        let flags = MapFlags { replace: rng.chance(50), blocks: !small || rng.chance(70) };
        // Block-aligned physical addresses mostly; page-aligned only where that stays small.
        let pa_align = if small && rng.chance(25) { g.page } else { span };
        let pa = g.random_pa(&mut rng, pa_align);
        let prot = random_prot(&mut rng);
        if pt.map(VirtAddr(va), PhysAddr(pa), size, prot, flags, &mut alloc, &mut tlb).is_ok() {
            ranges.push((va, size));
        }
    }
    // Change protections of, and unmap, random page-aligned pieces of what was mapped.
    for _ in 0..25 {
        let Some((sva, n)) = random_piece(&mut rng, &ranges, g.page) else { break };
        let ssize = n * g.page;
        if rng.chance(60) {
            let _ = pt.protect(VirtAddr(sva), ssize, random_prot(&mut rng), &mut alloc, &mut tlb);
        } else {
            let _ = pt.unmap(VirtAddr(sva), ssize, &mut alloc, &mut tlb);
        }
    }
    // set_memory_*() (the kernel-protection layer over the engine): one attribute changed,
    // the others kept, blocks split at the edges and merged back when uniform.
    let layout = archmm::protect::KernelLayout::default();
    for _ in 0..25 {
        let Some((sva, n)) = random_piece(&mut rng, &ranges, g.page) else { break };
        use archmm::protect::MemChange::*;
        let change = [Ro, Rw, X, Nx][rng.below(4) as usize];
        let _ = archmm::protect::set_memory(&mut pt, &layout, VirtAddr(sva), n, change, &mut alloc, &mut tlb);
    }
    // A few more maps on top (replacing), to mix split and fresh tables.
    for _ in 0..10 {
        let (va, size, span) = random_range(&mut rng);
        let flags = MapFlags { replace: true, blocks: true };
        let pa = g.random_pa(&mut rng, span);
        if pt.map(VirtAddr(va), PhysAddr(pa), size, random_prot(&mut rng), flags, &mut alloc, &mut tlb).is_ok() {
            ranges.push((va, size));
        }
    }

    let mut stats = Stats::new();
    for _ in 0..4000 {
        let va = match rng.below(10) {
            // Inside something that was mapped (it may have been unmapped since).
            0..=5 if !ranges.is_empty() => {
                let (va, size) = ranges[rng.below(ranges.len() as u64) as usize];
                va + rng.below(size)
            }
            // Anywhere in a window.
            6 | 7 => {
                let w = &windows[rng.below(windows.len() as u64) as usize];
                g.va(w.base_off + rng.below(w.size), w.upper)
            }
            // Anywhere in the translated range.
            8 => g.va(rng.next(), rng.chance(50)),
            // Anywhere at all, mostly outside the range.
            _ => rng.next(),
        };
        check_one(&pt, &mem, &g, &cmp, va, &mut stats);
        // The neighbours of block boundaries are where off-by-one errors live.
        let edge = va & !(g.page - 1);
        check_one(&pt, &mem, &g, &cmp, edge.wrapping_sub(1), &mut stats);
    }
    stats
}

fn diff<M: PagingMode>() {
    let mut total = Stats::new();
    for seed in 1..=4u64 {
        let s = run::<M>(seed);
        total.compared += s.compared;
        total.mapped += s.mapped;
        total.levels_hit |= s.levels_hit;
        total.memtypes_hit |= s.memtypes_hit;
        total.mismatches += s.mismatches;
        for (k, n) in s.kinds {
            *total.kinds.entry(k).or_default() += n;
        }
        for e in s.examples {
            if total.examples.len() < 12 {
                total.examples.push(format!("seed {seed}: {e}"));
            }
        }
    }
    assert!(
        total.mismatches == 0,
        "{}: {} of {} addresses disagree ({} mapped); by kind: {:?}; first ones:\n{}",
        M::NAME,
        total.mismatches,
        total.compared,
        total.mapped,
        total.kinds,
        total.examples.join("\n")
    );
    assert!(total.mapped > 1000, "{}: only {} mapped addresses sampled", M::NAME, total.mapped);
    // Every level that can hold a leaf, and every memory type, was exercised.
    let leaf_levels = M::LEVELS.iter().enumerate().filter(|(_, l)| l.leaf).fold(0, |m, (i, _)| m | 1 << i);
    assert_eq!(total.levels_hit, leaf_levels, "{}: leaf levels compared {:#b}", M::NAME, total.levels_hit);
    let memtypes = compare_for(M::NAME).memtypes;
    assert_eq!(total.memtypes_hit, memtypes, "{}: memory types compared {:#b}", M::NAME, total.memtypes_hit);
}

macro_rules! diff_tests {
    ($($test:ident: $mode:ty,)*) => {
        $(
            #[test]
            fn $test() {
                diff::<$mode>();
            }
        )*

        /// Every mode archmm knows has a differential test above.
        #[test]
        fn every_mode_is_covered() {
            let covered = [$(<$mode as PagingMode>::NAME),*];
            for m in archmm::arch::modes::MODES {
                assert!(covered.contains(&m.name), "no differential test for {}", m.name);
            }
        }
    };
}

use archmm::arch::{arm, arm64, i386, loongarch64, powerpc, riscv64, s390, x86_64};

diff_tests! {
    x86_64_4level: x86_64::X86_64Paging4,
    x86_64_5level: x86_64::X86_64Paging5,
    i386_2level: i386::I386Paging2,
    i386_pae: i386::I386PagingPae,
    arm64_4k_39: arm64::Arm64Paging4K39,
    arm64_4k_48: arm64::Arm64Paging4K48,
    arm64_4k_48_ttbr0: arm64::Arm64Paging4K48Ttbr0,
    arm64_16k_36: arm64::Arm64Paging16K36,
    arm64_16k_47: arm64::Arm64Paging16K47,
    arm64_16k_48: arm64::Arm64Paging16K48,
    arm64_64k_42: arm64::Arm64Paging64K42,
    arm64_64k_48: arm64::Arm64Paging64K48,
    arm64_64k_52: arm64::Arm64Paging64K52,
    arm_short: arm::ArmShort,
    arm_lpae: arm::ArmLpae,
    riscv64_sv39: riscv64::Sv39,
    riscv64_sv48: riscv64::Sv48,
    riscv64_sv57: riscv64::Sv57,
    loongarch64_3level_16k: loongarch64::LoongArch3Level16K,
    loongarch64_4level_4k: loongarch64::LoongArch4Level4K,
    s390x_3level: s390::S390x3Level,
    s390x_4level: s390::S390x4Level,
    s390x_5level: s390::S390x5Level,
    powerpc64_radix_4k: powerpc::Radix4K,
    powerpc64_radix_64k: powerpc::Radix64K,
}
