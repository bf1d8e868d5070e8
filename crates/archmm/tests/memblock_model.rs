//! memblock against a simple model: thousands of random operations, after each of which
//! memblock's arrays must describe exactly the model's sets, in Linux's canonical form
//! (sorted, disjoint, adjacent compatible regions merged), and every allocation must be
//! the one Linux's search rule picks from the model's free ranges.

use archmm::addr::PhysAddr;
use archmm::memblock::{Memblock, MemblockError, RegionType, MAX_NUMNODES};
use archmm::physmem::PhysMem;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// Sparse byte store for the grown region arrays.
#[derive(Default)]
struct Mem(RefCell<HashMap<u64, u8>>);
impl PhysMem for Mem {
    archmm::exclusive_atomics!();
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        let m = self.0.borrow();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = *m.get(&(pa.0 + i as u64)).unwrap_or(&0);
        }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        let mut m = self.0.borrow_mut();
        for (i, b) in buf.iter().enumerate() {
            m.insert(pa.0 + i as u64, *b);
        }
    }
}

/// The model works in units of 256 bytes over a 1 MiB space: sets of unit indices.
const UNIT: u64 = 256;
const UNITS: u64 = 4096;

#[derive(Clone, Debug)]
enum Op {
    Add(u64, u64),
    Remove(u64, u64),
    Reserve(u64, u64),
    Free(u64, u64),
    Alloc(u64, u32, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let range = (0..UNITS, 1..64u64);
    prop_oneof![
        3 => range.clone().prop_map(|(b, s)| Op::Add(b, s)),
        1 => range.clone().prop_map(|(b, s)| Op::Remove(b, s)),
        2 => range.clone().prop_map(|(b, s)| Op::Reserve(b, s)),
        1 => range.prop_map(|(b, s)| Op::Free(b, s)),
        3 => (1..16u64, 0..5u32, any::<bool>()).prop_map(|(s, a, td)| Op::Alloc(s, a, td)),
    ]
}

fn units(b: u64, s: u64) -> impl Iterator<Item = u64> {
    b..b + s
}

/// Maximal runs of a set, as byte ranges.
fn runs(set: &BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = Vec::new();
    for &u in set {
        match v.last_mut() {
            Some(last) if last.1 == u * UNIT => last.1 += UNIT,
            _ => v.push((u * UNIT, (u + 1) * UNIT)),
        }
    }
    v
}

fn check(mb: &Memblock<Mem>, t: RegionType, model: &BTreeSet<u64>) {
    let got: Vec<(u64, u64)> = mb.real_regions(t).map(|r| (r.base, r.end())).collect();
    assert_eq!(got, runs(model), "{:?} differs from the model", t);
    let total: u64 = got.iter().map(|(b, e)| e - b).sum();
    assert_eq!(mb.total_size(t), total);
    if model.is_empty() {
        assert_eq!(mb.cnt(t), 1, "an empty array keeps its dummy region");
    }
    for r in mb.real_regions(t) {
        assert_eq!(r.nid, MAX_NUMNODES);
    }
}

/// Linux's choice for an allocation over the model: top-down, the highest aligned
/// candidate in the highest free range that fits; bottom-up, the lowest. The first page is
/// never used. Free ranges are memory runs minus reserved units.
fn expected_alloc(mem: &BTreeSet<u64>, res: &BTreeSet<u64>, size: u64, align: u64, top_down: bool) -> Option<u64> {
    let free: BTreeSet<u64> = mem.difference(res).copied().collect();
    let mut ranges = runs(&free);
    // Free ranges are cut by memory region boundaries too; all regions here are
    // compatible, so memory runs are the regions and `free` runs never span two.
    if top_down {
        ranges.reverse();
    }
    for (s, e) in ranges {
        let s = s.max(4096);
        if e <= s {
            continue;
        }
        if top_down {
            if e < size {
                continue;
            }
            let cand = (e - size) & !(align - 1);
            if cand >= s {
                return Some(cand);
            }
        } else {
            let cand = (s + align - 1) & !(align - 1);
            if cand < e && e - cand >= size {
                return Some(cand);
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]
    #[test]
    fn memblock_matches_interval_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut mb = Memblock::new(Mem::default());
        mb.allow_resize();
        let mut mem = BTreeSet::new();
        let mut res = BTreeSet::new();
        for o in ops {
            match o {
                Op::Add(b, s) => {
                    mb.add(b * UNIT, s * UNIT).unwrap();
                    mem.extend(units(b, s));
                }
                Op::Remove(b, s) => {
                    mb.remove(b * UNIT, s * UNIT).unwrap();
                    for u in units(b, s) { mem.remove(&u); }
                }
                Op::Reserve(b, s) => {
                    mb.reserve(b * UNIT, s * UNIT).unwrap();
                    res.extend(units(b, s));
                }
                Op::Free(b, s) => {
                    mb.phys_free(b * UNIT, s * UNIT).unwrap();
                    for u in units(b, s) { res.remove(&u); }
                }
                Op::Alloc(s, a, td) => {
                    let align = UNIT << a;
                    mb.set_bottom_up(!td);
                    // Grown arrays are reserved by memblock itself: account for them.
                    let before: BTreeSet<u64> = reserved_units(&mb);
                    prop_assert_eq!(&before, &res);
                    let want = expected_alloc(&mem, &res, s * UNIT, align, td);
                    let got = mb.alloc_raw(s * UNIT, align);
                    prop_assert_eq!(got, want);
                    if let Some(a) = got {
                        prop_assert!(a % align == 0);
                        res.extend(units(a / UNIT, s));
                    }
                }
            }
            // Array growth reserves pages for the array itself; fold them into the model.
            res = reserved_units(&mb);
            check(&mb, RegionType::Memory, &mem);
            check(&mb, RegionType::Reserved, &res);
        }
    }
}

fn reserved_units(mb: &Memblock<Mem>) -> BTreeSet<u64> {
    let mut s = BTreeSet::new();
    for r in mb.real_regions(RegionType::Reserved) {
        assert!(r.base % UNIT == 0 && r.size % UNIT == 0, "only unit-aligned reservations happen here");
        s.extend(r.base / UNIT..r.end() / UNIT);
    }
    s
}

/// Many small disjoint regions force both arrays to grow several times; nothing is lost.
#[test]
fn arrays_grow_repeatedly_without_losing_regions() {
    let mut mb = Memblock::new(Mem::default());
    mb.add(0x1000_0000, 0x1000_0000).unwrap();
    mb.allow_resize();
    for i in 0..1000u64 {
        mb.reserve(0x1000_0000 + i * 0x2000, 0x1000).unwrap();
        mb.add(0x4000_0000 + i * 0x2000, 0x1000).unwrap();
    }
    assert_eq!(mb.cnt(RegionType::Memory), 1001);
    assert!(mb.max(RegionType::Memory) >= 1024 && mb.max(RegionType::Reserved) >= 1024);
    let reserved: Vec<_> = mb.real_regions(RegionType::Reserved).collect();
    // 1000 of ours plus the grown arrays (each reserved by memblock itself).
    assert!(reserved.len() >= 1001);
    for i in 0..1000u64 {
        assert!(mb.is_reserved(0x1000_0000 + i * 0x2000));
        assert!(
            !mb.is_reserved(0x1000_1000 + i * 0x2000)
                || reserved.iter().any(|r| r.size > 0x1000 && r.base <= 0x1000_1000 + i * 0x2000)
        );
    }
}

/// Without allow_resize a full array refuses, and the refusal changes nothing.
#[test]
fn full_array_refuses_without_change() {
    let mut mb = Memblock::new(Mem::default());
    for i in 0..128u64 {
        mb.add(i * 0x2000, 0x1000).unwrap();
    }
    let before: Vec<_> = mb.regions(RegionType::Memory).collect();
    assert!(matches!(mb.add(0x100_0000, 0x1000), Err(MemblockError::NoSpace { .. })));
    assert!(matches!(mb.remove(0x800, 0x1000), Err(MemblockError::NoSpace { .. })));
    assert_eq!(mb.regions(RegionType::Memory).collect::<Vec<_>>(), before);
}
