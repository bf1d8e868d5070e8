//! The buddy allocator against a bitmap model, with page conservation checked after every
//! operation (every frame is exactly one of absent, reserved, free, per-CPU free or
//! allocated), bad frees refused without change, and a multi-threaded stress run that
//! must keep every page accounted for.

use archmm::addr::PhysAddr;
use archmm::arch::x86_64::X86_64Paging4;
use archmm::arch::MemoryModel;
use archmm::buddy::{AllocError, FreeError, Gfp, PageAlloc, PageState};
use archmm::memblock::Memblock;
use archmm::memmap::{Memmap, MemmapGeometry};
use archmm::percpu::{PcpuChunk, PcpuLayout, PercpuAreas};
use archmm::physmem::PhysMem;
use archmm::zone::ZoneType;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Thread-safe sparse memory.
#[derive(Default)]
struct Mem(Mutex<HashMap<u64, Box<[u8; 4096]>>>);
impl PhysMem for Mem {
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        let m = self.0.lock().unwrap();
        for (i, b) in buf.iter_mut().enumerate() {
            let a = pa.0 + i as u64;
            *b = m.get(&(a >> 12)).map_or(0, |p| p[(a & 0xfff) as usize]);
        }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        let mut m = self.0.lock().unwrap();
        for (i, b) in buf.iter().enumerate() {
            let a = pa.0 + i as u64;
            m.entry(a >> 12).or_insert_with(|| Box::new([0; 4096]))[(a & 0xfff) as usize] = *b;
        }
    }
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        // Threads share this store: compare and write under one hold of the mutex.
        let mut m = self.0.lock().unwrap();
        let page = m.entry(pa.0 >> 12).or_insert_with(|| Box::new([0; 4096]));
        let off = (pa.0 & 0xfff) as usize;
        let found = u32::from_le_bytes(page[off..off + 4].try_into().unwrap());
        if found != current {
            return Err(found);
        }
        page[off..off + 4].copy_from_slice(&new.to_le_bytes());
        Ok(current)
    }
    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        self.write_u32(pa, v)
    }
}

type Alloc<'m> = PageAlloc<X86_64Paging4, &'m Mem>;

/// A machine of `pages` pages starting at pfn 0x100, in two zones (DMA below 0x1000,
/// Normal above), with a reserved hole at [0x180, 0x190); max order 11; per-CPU page lists
/// in per-CPU areas taken from the high bank.
fn setup(mem: &Mem, pages: u64, cpus: usize) -> Alloc<'_> {
    let mut mb = Memblock::new(mem);
    let (start, end) = (0x100u64, 0x100 + pages);
    mb.add(start << 12, pages << 12).unwrap();
    // The memmap lives in a second bank just above the managed range (not in any zone).
    mb.add((end + 0x100) << 12, 0x200 << 12).unwrap();
    mb.set_current_limit(u64::MAX);
    let geo = MemmapGeometry {
        model: MemoryModel::Flat,
        page_shift: 12,
        section_size_bits: 27,
        max_physmem_bits: 46,
        vmemmap_start: 0,
    };
    // Flat memmap over [0x100, end) only: allocate it from the high bank.
    mb.reserve(start << 12, pages << 12).unwrap();
    let mm = Memmap::init::<X86_64Paging4, &Mem>(&mut mb, geo, None).unwrap();
    let mut pa = PageAlloc::new(mem, mm, 11, cpus);
    assert!(pa.add_zone(ZoneType::Dma, 0, start, 0x1000 - start, 0x1000 - start));
    assert!(pa.add_zone(ZoneType::Normal, 0, 0x1000, end.saturating_sub(0x1000), end.saturating_sub(0x1000)));
    let layout = PcpuLayout::build(8192, 4096, 4096, cpus, |_| 0).unwrap();
    let unit_base = layout.allocate(&mut mb, 0).unwrap();
    pa.setup_zone_pageset(PcpuChunk::new(&PercpuAreas { layout, unit_base })).unwrap();
    pa.mark_reserved(0x180, 0x190);
    pa.free_boot_range(start, 0x180);
    pa.free_boot_range(0x190, end);
    pa
}

/// Count states over [0x100, end) and check conservation against the model.
fn audit(pa: &Alloc<'_>, end: u64, allocated: &BTreeMap<u64, u32>) {
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut alloc_pages = std::collections::BTreeSet::new();
    for (&p, &o) in allocated {
        for q in p..p + (1 << o) {
            assert!(alloc_pages.insert(q), "model overlap at {q:#x}");
        }
    }
    pa.for_each_state(0x100, end, |pfn, s| {
        let k = match s {
            PageState::Absent => "absent",
            PageState::Reserved => "reserved",
            PageState::Free => "free",
            PageState::PcpFree => "pcp",
            PageState::Allocated => "allocated",
            PageState::Offline => "offline",
        };
        *counts.entry(k).or_default() += 1;
        assert_eq!(s == PageState::Allocated, alloc_pages.contains(&pfn), "pfn {pfn:#x} is {s:?}");
        if (0x180..0x190).contains(&pfn) {
            assert_eq!(s, PageState::Reserved);
        }
    });
    assert_eq!(counts.get("absent").copied().unwrap_or(0), 0, "{counts:?}");
    assert_eq!(counts.get("reserved").copied().unwrap_or(0), 16);
    assert_eq!(counts.get("free").copied().unwrap_or(0), pa.nr_free_pages(), "{counts:?}");
    assert_eq!(counts.get("pcp").copied().unwrap_or(0), pa.pcp_pages(), "{counts:?}");
    let total = end - 0x100 - 16;
    assert_eq!(pa.totalram_pages(), total);
    assert_eq!(pa.nr_free_pages() + pa.pcp_pages() + alloc_pages.len() as u64, total);
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { order: u32, dma: bool, cpu: usize },
    Free { pick: usize, cpu: usize },
    Drain { cpu: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u32..6, prop::bool::weighted(0.2), 0usize..2).prop_map(|(order, dma, cpu)| Op::Alloc { order, dma, cpu }),
        4 => (any::<usize>(), 0usize..2).prop_map(|(pick, cpu)| Op::Free { pick, cpu }),
        1 => (0usize..2).prop_map(|cpu| Op::Drain { cpu }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]
    #[test]
    fn buddy_matches_bitmap_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mem = Mem::default();
        let end = 0x100 + 0x2000;
        let pa = setup(&mem, 0x2000, 2);
        let mut allocated: BTreeMap<u64, u32> = BTreeMap::new();
        for o in ops {
            match o {
                Op::Alloc { order, dma, cpu } => {
                    let gfp = if dma { Gfp::DMA } else { Gfp::KERNEL };
                    match pa.alloc(cpu, gfp, order, 0) {
                        Ok(pfn) => {
                            prop_assert_eq!(pfn % (1 << order), 0, "blocks are naturally aligned");
                            if dma { prop_assert!(pfn + (1 << order) <= 0x1000); }
                            allocated.insert(pfn, order);
                        }
                        Err(AllocError::NoMemory { .. }) => {}
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
                Op::Free { pick, cpu } => {
                    if allocated.is_empty() { continue; }
                    let (&pfn, &order) = allocated.iter().nth(pick % allocated.len()).unwrap();
                    pa.free(cpu, pfn, order).unwrap();
                    allocated.remove(&pfn);
                    // A second free of the same block is refused.
                    prop_assert!(matches!(pa.free(cpu, pfn, order), Err(FreeError::NotAllocated(_))));
                }
                Op::Drain { cpu } => pa.drain_cpu(cpu),
            }
            audit(&pa, end, &allocated);
        }
        // Free everything: all pages return and coalesce back to the boot layout's counts.
        for (pfn, order) in std::mem::take(&mut allocated) {
            pa.free(0, pfn, order).unwrap();
        }
        pa.drain_cpu(0);
        pa.drain_cpu(1);
        audit(&pa, end, &allocated);
        prop_assert_eq!(pa.nr_free_pages(), 0x2000 - 16);
    }
}

#[test]
fn bad_frees_are_refused_and_change_nothing() {
    let mem = Mem::default();
    let pa = setup(&mem, 0x2000, 1);
    let p = pa.alloc(0, Gfp::KERNEL, 2, 0).unwrap();
    let free_before = pa.nr_free_pages();
    assert_eq!(pa.free(0, p, 3), Err(FreeError::WrongOrder { pfn: p, allocated: 2, freed: 3 }));
    assert_eq!(pa.free(0, p + 1, 0), Err(FreeError::NotAllocated(p + 1)));
    assert_eq!(pa.free(0, 0x185, 0), Err(FreeError::Reserved(0x185)));
    assert_eq!(pa.free(0, 0x50, 0), Err(FreeError::NoPage(0x50)));
    assert_eq!(pa.free(7, p, 2), Err(FreeError::BadCpu(7)));
    assert_eq!(pa.nr_free_pages(), free_before);
    pa.free(0, p, 2).unwrap();
    assert_eq!(pa.free(0, p, 2), Err(FreeError::NotAllocated(p)));
    assert_eq!(pa.alloc(0, Gfp::KERNEL, 11, 0), Err(AllocError::BadOrder(11)));
}

#[test]
fn exhaustion_and_zone_restriction() {
    let mem = Mem::default();
    let pa = setup(&mem, 0x2000, 1);
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc(0, Gfp::DMA, 0, 0) {
        assert!(p < 0x1000);
        got.push(p);
    }
    assert_eq!(got.len() as u64, 0x1000 - 0x100 - 16, "every DMA page once");
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "no page handed out twice");
    // Normal allocations still work and fall back nowhere lower.
    assert!(pa.alloc(0, Gfp::KERNEL, 0, 0).is_ok());
}

#[test]
fn smp_stress_keeps_every_page_accounted() {
    let mem = Mem::default();
    let end = 0x100 + 0x4000;
    let pa = setup(&mem, 0x4000, 4);
    let held = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for cpu in 0..4usize {
            let pa = &pa;
            let held = &held;
            s.spawn(move || {
                let mut mine: Vec<(u64, u32)> = Vec::new();
                let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(cpu as u64 + 1);
                for _ in 0..3000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if !x.is_multiple_of(3) || mine.is_empty() {
                        let order = (x >> 8) as u32 % 5;
                        if let Ok(p) = pa.alloc(cpu, Gfp::KERNEL, order, 0) {
                            mine.push((p, order));
                        }
                    } else {
                        let i = (x >> 16) as usize % mine.len();
                        let (p, o) = mine.swap_remove(i);
                        pa.free(cpu, p, o).unwrap();
                    }
                }
                let mut h = held.lock().unwrap();
                for (p, o) in mine {
                    assert!(h.insert(p, o).is_none(), "pfn {p:#x} handed to two CPUs");
                }
            });
        }
    });
    let allocated = held.into_inner().unwrap();
    audit(&pa, end, &allocated);
    assert!(pa.pcp_pages() > 0, "frees went through the per-CPU lists");
    for (p, o) in allocated {
        pa.free(0, p, o).unwrap();
    }
    for c in 0..4 {
        pa.drain_cpu(c);
    }
    audit(&pa, end, &BTreeMap::new());
}

/// Each zone's per-CPU lists are an allocation in the per-CPU areas: CPU N's copy lies in
/// CPU N's unit. Without them (before setup_zone_pageset) nothing is cached and every page
/// goes straight back to the zone, as with Linux's boot_pageset.
#[test]
fn per_cpu_lists_live_in_each_cpus_unit() {
    let mem = Mem::default();
    let pa = setup(&mem, 0x2000, 3);
    let chunk = pa.percpu().expect("per-CPU areas attached");
    let mut seen = Vec::new();
    for z in pa.zones() {
        let p = z.pageset.expect("every zone has per-CPU lists");
        for cpu in 0..3 {
            let at = chunk.addr(p, cpu).unwrap().0;
            let unit = chunk.addr(archmm::percpu::PcpuPtr(0), cpu).unwrap().0;
            // A unit here is 44K: 8K static + 8K reserved + 28K dynamic.
            assert!(
                at >= unit + (16 << 10) && at + archmm::buddy::PCP_BYTES <= unit + (44 << 10),
                "cpu {cpu}: {at:#x} outside its unit at {unit:#x}"
            );
            seen.push(at);
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "two zones x three CPUs, all distinct");
    assert_eq!(chunk.stats().nr_alloc, 2);
    let q = pa.alloc(1, Gfp::KERNEL, 0, 0).unwrap();
    pa.free(1, q, 0).unwrap();
    assert_eq!(pa.pcp_count(pa.zones().last().unwrap(), 1), 1, "CPU 1 caches the page it freed");
    assert_eq!(pa.pcp_count(pa.zones().last().unwrap(), 0), 0);

    // The same machine without per-CPU areas caches nothing.
    let mem = Mem::default();
    let mut mb = Memblock::new(&mem);
    mb.add(0x100 << 12, 0x1000 << 12).unwrap();
    mb.add(0x2000 << 12, 0x200 << 12).unwrap();
    mb.set_current_limit(u64::MAX);
    mb.reserve(0x100 << 12, 0x1000 << 12).unwrap();
    let geo = MemmapGeometry {
        model: MemoryModel::Flat,
        page_shift: 12,
        section_size_bits: 27,
        max_physmem_bits: 46,
        vmemmap_start: 0,
    };
    let mm = Memmap::init::<X86_64Paging4, &Mem>(&mut mb, geo, None).unwrap();
    let pa = PageAlloc::<X86_64Paging4, &Mem>::new(&mem, mm, 11, 2);
    let pa = {
        let mut pa = pa;
        assert!(pa.add_zone(ZoneType::Normal, 0, 0x100, 0x1000, 0x1000));
        pa
    };
    pa.free_boot_range(0x100, 0x1100);
    let q = pa.alloc(1, Gfp::KERNEL, 0, 0).unwrap();
    pa.free(1, q, 0).unwrap();
    assert_eq!(pa.pcp_pages(), 0);
    assert_eq!(pa.nr_free_pages(), 0x1000);
}
