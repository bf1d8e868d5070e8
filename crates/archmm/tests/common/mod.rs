//! Shared harness for the page-table model tests: sparse memory, a tracking table
//! allocator, random operation sequences against a plain map of pages, out-of-memory
//! cleanliness, refused requests, block sizes. Each `pgtable_*.rs` test file instantiates
//! it for its modes with `mode_tests!`.
#![allow(dead_code)]

use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::pgtable::{va_ok, Entry, FlushLog, MapFlags, MemType, PageTable, PagingMode, PgError, Prot, TableAlloc};
use archmm::physmem::PhysMem;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Sparse memory, 4K pages.
#[derive(Default)]
pub struct Mem(RefCell<HashMap<u64, Box<[u8; 4096]>>>);
impl PhysMem for Mem {
    archmm::exclusive_atomics!();
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        let m = self.0.borrow();
        let mut done = 0;
        while done < buf.len() {
            let a = pa.0 + done as u64;
            let off = (a & 0xfff) as usize;
            let n = (4096 - off).min(buf.len() - done);
            let dst = &mut buf[done..done + n];
            match m.get(&(a >> 12)) {
                Some(p) => dst.copy_from_slice(&p[off..off + n]),
                None => dst.fill(0),
            }
            done += n;
        }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        let mut m = self.0.borrow_mut();
        let mut done = 0;
        while done < buf.len() {
            let a = pa.0 + done as u64;
            let off = (a & 0xfff) as usize;
            let n = (4096 - off).min(buf.len() - done);
            m.entry(a >> 12).or_insert_with(|| Box::new([0; 4096]))[off..off + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
    }
}

/// A bump allocator of table memory at 16 GiB+ that tracks what is live, and can be told
/// to fail after N more allocations.
pub struct Alloc {
    next: u64,
    pub live: BTreeMap<u64, u64>,
    pub fail_after: Option<usize>,
}
impl Default for Alloc {
    fn default() -> Self {
        Self { next: 0x4_0000_0000, live: BTreeMap::new(), fail_after: None }
    }
}
impl Alloc {
    /// Table memory the entries of `Mo` can point to: at 16 GiB, or at 3 GiB for modes
    /// with 32-bit (or narrower) physical addresses.
    pub fn for_mode<Mo: PagingMode>() -> Self {
        // Tables at 16 GiB, unless the mode cannot point there (32-bit PA, a PAE root).
        let next = if Mo::table_pa_ok(0x4_0000_0000, 0) { 0x4_0000_0000 } else { 0xc000_0000 };
        Self { next, ..Self::default() }
    }
}
impl TableAlloc for Alloc {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        if let Some(n) = self.fail_after.as_mut() {
            if *n == 0 {
                return None;
            }
            *n -= 1;
        }
        let align = bytes.max(8);
        let pa = (self.next + align - 1) & !(align - 1);
        self.next = pa + bytes;
        self.live.insert(pa, bytes);
        Some(pa)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, _level: usize) {
        assert_eq!(self.live.remove(&pa), Some(bytes), "freeing {pa:#x} that is not a live table");
    }
}

/// Every table reachable from the root, with its size.
fn reachable<Mo: PagingMode>(pt: &PageTable<'_, Mo, Mem>, mem: &Mem) -> BTreeMap<u64, u64> {
    fn rec<Mo: PagingMode>(mem: &Mem, t: u64, level: usize, out: &mut BTreeMap<u64, u64>) {
        assert!(out.insert(t, Mo::table_bytes(level)).is_none(), "table {t:#x} reachable twice");
        for i in 0..Mo::LEVELS[level].entries() {
            let a = PhysAddr(t + i * Mo::ENTRY_SIZE);
            let raw = if Mo::ENTRY_SIZE == 8 { mem.read_u64(a) } else { mem.read_u32(a) as u64 };
            if let Entry::Table(c) = Mo::decode(raw, level) {
                if level + 1 < Mo::LEVELS.len() {
                    rec::<Mo>(mem, c, level + 1, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    rec::<Mo>(mem, pt.root().0, 0, &mut out);
    out
}

fn snapshot(mem: &Mem, alloc: &Alloc) -> Vec<(u64, Vec<u8>)> {
    alloc
        .live
        .iter()
        .map(|(&pa, &sz)| {
            let mut b = vec![0u8; sz as usize];
            mem.read(PhysAddr(pa), &mut b);
            (pa, b)
        })
        .collect()
}

#[derive(Clone, Debug)]
pub enum Op {
    Map { va: u64, pages: u64, pa: u64, prot: u8, replace: bool, blocks: bool },
    Unmap { va: u64, pages: u64 },
    Protect { va: u64, pages: u64, prot: u8 },
}

/// `p`, or the nearest protection the mode can express: with `exec` added (modes without
/// a no-execute bit), else kernel read-write.
pub fn expressible<Mo: PagingMode>(p: Prot) -> Prot {
    [p, Prot { exec: true, ..p }, Prot::KERNEL_RW, Prot { exec: true, ..Prot::KERNEL_RW }]
        .into_iter()
        .find(|&q| Mo::check_prot(q).is_ok())
        .expect("the mode expresses kernel read-write")
}

fn prot_of<Mo: PagingMode>(k: u8) -> Prot {
    let ps = [
        Prot::KERNEL_RW,
        Prot::KERNEL_RO,
        Prot::KERNEL_RX,
        Prot::USER_RW,
        Prot::KERNEL_DEVICE,
        Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW },
    ];
    expressible::<Mo>(ps[k as usize % ps.len()])
}

/// Run `ops` on a fresh table of mode `Mo` whose window starts at `base` and compare with
/// the model after every operation.
pub fn run_ops<Mo: PagingMode>(base: u64, ops: &[Op]) {
    let mem = Mem::default();
    let mut alloc = Alloc::for_mode::<Mo>();
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
    let page = Mo::PAGE_SIZE;
    let mut model: BTreeMap<u64, (u64, Prot)> = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        let before = snapshot(&mem, &alloc);
        let res = match *op {
            Op::Map { va, pages, pa, prot, replace, blocks } => {
                let (va, pa, size, prot) = (base + va * page, pa * page, pages * page, prot_of::<Mo>(prot));
                let r =
                    pt.map(VirtAddr(va), PhysAddr(pa), size, prot, MapFlags { replace, blocks }, &mut alloc, &mut tlb);
                let conflict = (0..pages).any(|i| model.contains_key(&(va + i * page)));
                if !replace && conflict {
                    assert!(matches!(r, Err(PgError::AlreadyMapped(_))), "op {n}: {op:?}: {r:?}");
                } else {
                    assert_eq!(r, Ok(()), "op {n}: {op:?}");
                    for i in 0..pages {
                        model.insert(va + i * page, (pa + i * page, prot));
                    }
                }
                r
            }
            Op::Unmap { va, pages } => {
                let (va, size) = (base + va * page, pages * page);
                let r = pt.unmap(VirtAddr(va), size, &mut alloc, &mut tlb);
                assert_eq!(r, Ok(()), "op {n}: {op:?}");
                for i in 0..pages {
                    model.remove(&(va + i * page));
                }
                r
            }
            Op::Protect { va, pages, prot } => {
                let (va, size, prot) = (base + va * page, pages * page, prot_of::<Mo>(prot));
                let r = pt.protect(VirtAddr(va), size, prot, &mut alloc, &mut tlb);
                let hole = (0..pages).any(|i| !model.contains_key(&(va + i * page)));
                if hole {
                    assert!(matches!(r, Err(PgError::NotMapped(_))), "op {n}: {op:?}: {r:?}");
                } else {
                    assert_eq!(r, Ok(()), "op {n}: {op:?}");
                    for i in 0..pages {
                        model.get_mut(&(va + i * page)).expect("mapped").1 = prot;
                    }
                }
                r
            }
        };
        if res.is_err() {
            assert_eq!(snapshot(&mem, &alloc), before, "op {n}: {op:?} failed but changed the tables");
        }
        check::<Mo>(&pt, &mem, &alloc, &model, base);
    }
    pt.destroy(&mut alloc);
    assert!(alloc.live.is_empty(), "tables leaked after destroy");
}

fn check<Mo: PagingMode>(
    pt: &PageTable<'_, Mo, Mem>,
    mem: &Mem,
    alloc: &Alloc,
    model: &BTreeMap<u64, (u64, Prot)>,
    base: u64,
) {
    assert_eq!(reachable(pt, mem), alloc.live, "reachable tables differ from live tables");
    // Every modelled page translates; leaves cover nothing else.
    for (&va, &(pa, prot)) in model {
        let t = pt.translate(VirtAddr(va)).unwrap_or_else(|| panic!("{va:#x} should be mapped"));
        assert_eq!((t.pa.0, t.prot), (pa, prot), "{va:#x}");
        let t2 = pt.translate(VirtAddr(va + Mo::PAGE_SIZE - 8)).expect("same page");
        assert_eq!(t2.pa, PhysAddr(pa + Mo::PAGE_SIZE - 8));
    }
    let mut covered = BTreeSet::new();
    pt.for_each_leaf(VirtAddr(base), window_pages::<Mo>() * Mo::PAGE_SIZE, |va, size, _, _| {
        let mut a = va;
        while a < va + size {
            covered.insert(a);
            a += Mo::PAGE_SIZE;
        }
    });
    let want: BTreeSet<u64> = model.keys().copied().collect();
    assert_eq!(covered, want, "leaves cover pages the model does not have (or miss some)");
}

/// The window random operations work in, in pages: room for a few level-1-below-leaf
/// blocks (2M on x86 with 4K pages).
pub const WINDOW_PAGES: u64 = 4096;

/// Pages in the smallest block (the level above the last).
pub fn block_pages<Mo: PagingMode>() -> u64 {
    Mo::LEVELS[Mo::LEVELS.len() - 2].span() / Mo::PAGE_SIZE
}

/// The window of `Mo`: [`WINDOW_PAGES`], or two blocks when blocks are larger (64K
/// granules).
pub fn window_pages<Mo: PagingMode>() -> u64 {
    WINDOW_PAGES.max(2 * block_pages::<Mo>())
}

/// First physical page random mappings use: 4 GiB (with 4K pages), or, for modes whose
/// physical addresses do not reach that far, the first block-aligned page from 1 MiB.
pub fn pa_base_pages<Mo: PagingMode>() -> u64 {
    let (block, window) = (block_pages::<Mo>(), window_pages::<Mo>());
    let high = 0x10_0000;
    if Mo::PA_BITS >= 64 || (high + 8 * block + window) * Mo::PAGE_SIZE <= 1u64 << Mo::PA_BITS {
        high
    } else {
        (0x100000 / Mo::PAGE_SIZE).next_multiple_of(block)
    }
}

pub fn ops_strategy<Mo: PagingMode>() -> impl Strategy<Value = Vec<Op>> {
    let (block_pages, window, pa_base) = (block_pages::<Mo>(), window_pages::<Mo>(), pa_base_pages::<Mo>());
    let blocks = window / block_pages;
    let unit = prop_oneof![
        3 => (0..window - 64, 1..64u64),
        1 => (0..blocks, 1..3u64).prop_map(move |(b, n)| (b * block_pages, (n * block_pages).min(window - b * block_pages))),
    ];
    let op = prop_oneof![
        4 => (unit.clone(), 0..8u64, any::<u8>(), prop::bool::weighted(0.3), prop::bool::weighted(0.8))
            .prop_map(move |((va, pages), pab, prot, replace, blocks)| Op::Map { va, pages, pa: pa_base + pab * block_pages + va, prot, replace, blocks }),
        2 => unit.clone().prop_map(|(va, pages)| Op::Unmap { va, pages }),
        2 => (unit, any::<u8>()).prop_map(|((va, pages), prot)| Op::Protect { va, pages, prot }),
    ];
    proptest::collection::vec(op, 1..40)
}

/// Allocation failure in the middle of an operation leaves the tables as they were.
pub fn oom_is_clean<Mo: PagingMode>(base: u64) {
    let (rw, ro) = (expressible::<Mo>(Prot::KERNEL_RW), expressible::<Mo>(Prot::KERNEL_RO));
    let page = Mo::PAGE_SIZE;
    let block = Mo::LEVELS[Mo::LEVELS.len() - 2].span();
    for fail_after in 0..6 {
        let mem = Mem::default();
        let mut alloc = Alloc::for_mode::<Mo>();
        let mut tlb = FlushLog::default();
        let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
        pt.map(VirtAddr(base), PhysAddr(0x4000_0000), 4 * block, rw, MapFlags::default(), &mut alloc, &mut tlb)
            .expect("map");
        let before = snapshot(&mem, &alloc);
        alloc.fail_after = Some(fail_after);
        // Needs splits at both edges and new tables further on.
        let r1 = pt.protect(VirtAddr(base + page), block, ro, &mut alloc, &mut tlb);
        if r1.is_err() {
            assert_eq!(r1, Err(PgError::NoMemory));
            assert_eq!(snapshot(&mem, &alloc), before, "protect failed with fail_after={fail_after}");
        }
        let before = snapshot(&mem, &alloc);
        let r2 = pt.map(
            VirtAddr(base + 8 * block + page),
            PhysAddr(0x8000_0000),
            3 * block,
            rw,
            MapFlags::default(),
            &mut alloc,
            &mut tlb,
        );
        if r2.is_err() {
            assert_eq!(r2, Err(PgError::NoMemory));
            assert_eq!(snapshot(&mem, &alloc), before, "map failed with fail_after={fail_after}");
        }
        alloc.fail_after = None;
        assert_eq!(reachable(&pt, &mem), alloc.live);
    }
}

/// Requests the mode must refuse.
pub fn bad_requests<Mo: PagingMode>(base: u64) {
    let (rw, ro) = (expressible::<Mo>(Prot::KERNEL_RW), expressible::<Mo>(Prot::KERNEL_RO));
    let mem = Mem::default();
    let mut alloc = Alloc::for_mode::<Mo>();
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
    let p = Mo::PAGE_SIZE;
    pt.map(VirtAddr(base), PhysAddr(0x10_0000), 4 * p, rw, MapFlags::default(), &mut alloc, &mut tlb).expect("map");
    let before = snapshot(&mem, &alloc);
    let f = MapFlags::default();
    assert!(matches!(
        pt.map(VirtAddr(base + 1), PhysAddr(0), p, rw, f, &mut alloc, &mut tlb),
        Err(PgError::Unaligned { .. })
    ));
    assert!(matches!(
        pt.map(VirtAddr(base), PhysAddr(3), p, rw, f, &mut alloc, &mut tlb),
        Err(PgError::Unaligned { .. })
    ));
    assert!(matches!(
        pt.map(VirtAddr(base + 2 * p), PhysAddr(0), 4 * p, rw, f, &mut alloc, &mut tlb),
        Err(PgError::AlreadyMapped(_))
    ));
    if Mo::PA_BITS < 64 {
        assert!(matches!(
            pt.map(VirtAddr(base + 16 * p), PhysAddr(1u64 << Mo::PA_BITS), p, rw, f, &mut alloc, &mut tlb),
            Err(PgError::PaOutOfRange(_))
        ));
    }
    if Mo::VA_BITS < 63 {
        let bad = match Mo::VA_RANGE {
            archmm::pgtable::VaRange::High => Mo::PAGE_SIZE,
            _ => 1u64 << (Mo::VA_BITS + 1),
        };
        assert!(matches!(
            pt.map(VirtAddr(bad), PhysAddr(0), p, rw, f, &mut alloc, &mut tlb),
            Err(PgError::VaOutOfRange(_))
        ));
    }
    assert!(matches!(pt.protect(VirtAddr(base + 2 * p), 4 * p, ro, &mut alloc, &mut tlb), Err(PgError::NotMapped(_))));
    assert!(matches!(
        pt.map(VirtAddr(!(p - 1)), PhysAddr(0), 2 * p, rw, f, &mut alloc, &mut tlb),
        Err(PgError::Wraps | PgError::VaOutOfRange(_))
    ));
    assert_eq!(snapshot(&mem, &alloc), before);
}

/// One block of the largest size maps, translates at its ends, and splits cleanly.
pub fn blocks<Mo: PagingMode>(base: u64) {
    let (rw, ro) = (expressible::<Mo>(Prot::KERNEL_RW), expressible::<Mo>(Prot::KERNEL_RO));
    let mem = Mem::default();
    let mut alloc = Alloc::for_mode::<Mo>();
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
    for (lvl, l) in Mo::LEVELS.iter().enumerate() {
        if !l.leaf || l.span() > (1 << 40) {
            continue;
        }
        let mut va = (base + l.span() * 4) & !(l.span() - 1);
        if !va_ok::<Mo>(va) || !va_ok::<Mo>(va.wrapping_add(l.span() - 1)) {
            // Blocks too large for that offset (1G blocks in a 32-bit space): the first
            // aligned one at or above the base.
            va = base.next_multiple_of(l.span());
        }
        let pa = l.span() * 3;
        if Mo::PA_BITS < 64 && (pa + l.span()) >> Mo::PA_BITS != 0 {
            continue;
        }
        pt.map(VirtAddr(va), PhysAddr(pa), l.span(), rw, MapFlags::default(), &mut alloc, &mut tlb).expect("block");
        let t = pt.translate(VirtAddr(va + l.span() - 1)).expect("mapped");
        assert_eq!((t.level, t.pa.0), (lvl, pa + l.span() - 1), "level {lvl}");
        if lvl + 1 == Mo::LEVELS.len() {
            pt.unmap(VirtAddr(va), l.span(), &mut alloc, &mut tlb).expect("unmap");
            continue;
        }
        // Protect one page in the middle: split, then collapse back when undone.
        let tables = alloc.live.len();
        pt.protect(VirtAddr(va + l.span() / 2), Mo::PAGE_SIZE, ro, &mut alloc, &mut tlb).expect("protect");
        assert_eq!(pt.translate(VirtAddr(va + l.span() / 2)).expect("mapped").prot, ro);
        assert_eq!(pt.translate(VirtAddr(va)).expect("mapped").prot, rw);
        pt.protect(VirtAddr(va + l.span() / 2), Mo::PAGE_SIZE, rw, &mut alloc, &mut tlb).expect("protect");
        assert_eq!(pt.translate(VirtAddr(va)).expect("mapped").level, lvl, "collapsed back into one block");
        assert_eq!(alloc.live.len(), tables);
        pt.unmap(VirtAddr(va), l.span(), &mut alloc, &mut tlb).expect("unmap");
        assert!(pt.translate(VirtAddr(va)).is_none());
    }
    assert_eq!(alloc.live.len(), 1, "only the root is left");
}

/// Every protection the mode accepts comes back from `decode(leaf_entry(..))` unchanged, at
/// every leaf level and at the lowest and highest addresses; table pointers too; refused
/// protections are refused as unsupported.
pub fn round_trip<Mo: PagingMode>() {
    let stored = |e: u64| if Mo::ENTRY_SIZE == 4 { e & 0xffff_ffff } else { e };
    let top = |align: u64| if Mo::PA_BITS >= 64 { !(align - 1) } else { ((1u64 << Mo::PA_BITS) - 1) & !(align - 1) };
    let mut accepted = 0;
    for bits in 0..32u8 {
        for mem in [MemType::Normal, MemType::WriteCombine, MemType::Device] {
            let b = |i: u8| bits & (1 << i) != 0;
            let p = Prot { read: b(0), write: b(1), exec: b(2), user: b(3), global: b(4), mem };
            if let Err(e) = Mo::check_prot(p) {
                assert!(matches!(e, PgError::UnsupportedProt(_)), "{p}: {e:?}");
                continue;
            }
            accepted += 1;
            for (lvl, l) in Mo::LEVELS.iter().enumerate().filter(|(_, l)| l.leaf) {
                for pa in [0, l.span(), top(l.span())] {
                    let raw = stored(Mo::leaf_entry(pa, p, lvl));
                    assert_eq!(
                        Mo::decode(raw, lvl),
                        Entry::Leaf { pa, prot: p },
                        "{p} at level {lvl}, pa {pa:#x}: {raw:#x}"
                    );
                }
            }
        }
    }
    assert!(accepted >= 6, "only {accepted} protections accepted");
    for lvl in 0..Mo::LEVELS.len() - 1 {
        let align = Mo::table_bytes(lvl + 1);
        for pa in [align, top(align)] {
            let raw = stored(Mo::table_entry(pa, lvl));
            assert_eq!(Mo::decode(raw, lvl), Entry::Table(pa), "table at level {lvl}: {raw:#x}");
        }
    }
}

#[macro_export]
macro_rules! mode_tests {
    ($name:ident, $mode:ty, $base:expr) => {
        mod $name {
            use proptest::prelude::*;
            use $crate::common::*;
            type Mo = $mode;
            const BASE: u64 = $base;
            proptest! {
                #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
                #[test]
                fn random_ops_match_model(ops in ops_strategy::<Mo>()) {
                    run_ops::<Mo>(BASE, &ops);
                }
            }
            proptest! {
                #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
                #[test]
                fn set_memory_matches_model(ops in set_memory_strategy::<Mo>()) {
                    run_set_memory::<Mo>(BASE, &ops);
                }
            }
            #[test]
            fn oom() {
                oom_is_clean::<Mo>(BASE);
            }
            #[test]
            fn refused() {
                bad_requests::<Mo>(BASE);
            }
            #[test]
            fn block_sizes() {
                blocks::<Mo>(BASE);
            }
            #[test]
            fn encodings_round_trip() {
                round_trip::<Mo>();
            }
        }
    };
}

/// A page allocator: hands out naturally aligned blocks of whole pages only (tables smaller
/// than a page need a [`archmm::pgtable::FragmentAlloc`] in front of it) and knows how many
/// pages are in use.
pub struct PageGranular {
    page: u64,
    next: u64,
    pub live: BTreeMap<u64, u64>,
}
impl PageGranular {
    pub fn new(page: u64) -> Self {
        Self { page, next: 0x4_0000_0000, live: BTreeMap::new() }
    }
    /// Pages allocated and not freed.
    pub fn pages(&self) -> u64 {
        self.live.values().sum::<u64>() / self.page
    }
}
impl TableAlloc for PageGranular {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        assert!(
            bytes.is_multiple_of(self.page) && bytes.is_power_of_two(),
            "a page allocator was asked for {bytes:#x} bytes"
        );
        let pa = self.next.next_multiple_of(bytes);
        self.next = pa + bytes;
        self.live.insert(pa, bytes);
        Some(pa)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, _level: usize) {
        assert_eq!(self.live.remove(&pa), Some(bytes), "freeing {pa:#x} that is not a live block");
    }
}

/// One `set_memory_*()` call: change (0..6: ro, rw, x, nx, np, p), first page, pages.
pub type SetMemOp = (u8, u64, u64);

pub fn set_memory_strategy<Mo: PagingMode>() -> impl Strategy<Value = Vec<SetMemOp>> {
    let (block, window) = (block_pages::<Mo>(), window_pages::<Mo>());
    let unit = prop_oneof![
        3 => (0..window - 64, 1..64u64),
        1 => (0..window / block, 1..3u64).prop_map(move |(b, n)| (b * block, (n * block).min(window - b * block))),
    ];
    proptest::collection::vec((0..6u8, unit).prop_map(|(c, (p, n))| (c, p, n)), 1..40)
}

/// Random set_memory_*() calls over a linear map of the window (blocks where alignment
/// allows) agree with a per-page model; refused calls change nothing; restoring the
/// original protection merges every split block back (the table count returns).
pub fn run_set_memory<Mo: PagingMode>(base: u64, ops: &[SetMemOp]) {
    use archmm::protect::{set_memory, KernelLayout, MemChange};
    let mem = Mem::default();
    let mut alloc = Alloc::for_mode::<Mo>();
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
    let page = Mo::PAGE_SIZE;
    let window = window_pages::<Mo>();
    let rw = expressible::<Mo>(Prot::KERNEL_RW);
    // The window is a linear map of physical [0, window pages).
    pt.map(VirtAddr(base), PhysAddr(0), window * page, rw, MapFlags::default(), &mut alloc, &mut tlb)
        .expect("linear map");
    let tables = alloc.live.len();
    let layout = KernelLayout { page_offset: base, linear_end: window * page, image: None, rodata_ro: false };
    let mut model: BTreeMap<u64, (u64, Prot)> = (0..window).map(|i| (base + i * page, (i * page, rw))).collect();
    let changes = [MemChange::Ro, MemChange::Rw, MemChange::X, MemChange::Nx, MemChange::Np, MemChange::P];
    let run = |pt: &mut PageTable<'_, Mo, Mem>,
               alloc: &mut Alloc,
               model: &mut BTreeMap<u64, (u64, Prot)>,
               change: MemChange,
               first: u64,
               pages: u64| {
        let before = snapshot(&mem, alloc);
        let va = base + first * page;
        let r = set_memory(pt, &layout, VirtAddr(va), pages, change, alloc, &mut FlushLog::default());
        let vas = (0..pages).map(|i| va + i * page);
        match change {
            MemChange::Np => {
                assert_eq!(r, Ok(()));
                vas.for_each(|v| {
                    model.remove(&v);
                });
            }
            MemChange::P => {
                assert_eq!(r, Ok(()));
                for v in vas {
                    model.entry(v).or_insert((v - base, rw));
                }
            }
            _ => {
                let hole = vas.clone().any(|v| !model.contains_key(&v));
                // set_memory_nx() without a no-execute bit is a no-op, as in Linux.
                let no_nx = change == MemChange::Nx && Mo::check_prot(Prot::KERNEL_RW).is_err();
                let inexpressible = !no_nx
                    && vas
                        .clone()
                        .filter_map(|v| model.get(&v))
                        .any(|&(_, p)| Mo::check_prot(change.apply(p)).is_err());
                if hole {
                    // The first problem in address order is reported.
                    let ok = matches!(r, Err(PgError::NotMapped(_)))
                        || (inexpressible && matches!(r, Err(PgError::UnsupportedProt(_))));
                    assert!(ok, "{change:?} over a hole: {r:?}");
                } else if inexpressible {
                    assert!(matches!(r, Err(PgError::UnsupportedProt(_))), "{change:?}: {r:?}");
                } else {
                    assert_eq!(r, Ok(()), "{change:?} {first}+{pages}");
                    for v in vas.filter(|_| !no_nx) {
                        let e = model.get_mut(&v).expect("mapped");
                        e.1 = change.apply(e.1);
                    }
                }
            }
        }
        if r.is_err() {
            assert_eq!(snapshot(&mem, alloc), before, "a refused {change:?} changed the tables");
        }
    };
    for &(c, first, pages) in ops {
        run(&mut pt, &mut alloc, &mut model, changes[c as usize], first, pages);
        check::<Mo>(&pt, &mem, &alloc, &model, base);
    }
    // Restore: present, writable, and not executable where the mode can say so.
    for c in [MemChange::P, MemChange::Rw, MemChange::Nx] {
        run(&mut pt, &mut alloc, &mut model, c, 0, window);
    }
    check::<Mo>(&pt, &mem, &alloc, &model, base);
    assert_eq!(alloc.live.len(), tables, "restoring the protection did not merge the tables back");
    pt.destroy(&mut alloc);
    assert!(alloc.live.is_empty(), "tables leaked after destroy");
}
