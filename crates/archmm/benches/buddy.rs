//! Buddy page allocator and memmap benchmarks, each side by side with
//! (a) the physical limit: a `memset` of the page metadata the memmap covers, and
//! (b) the `buddy_system_allocator` crate's `FrameAllocator` (frames = pfns) doing the same
//!     allocations and frees,
//! all in one run. Compare within one run: the ratios are the result.
//!
//! archmm runs as a kernel would set it up: a flat memmap from memblock, one Normal zone over
//! the whole range, MAX_ORDER 11, one CPU, per-CPU batch/high from `setup_watermarks`,
//! watermarks 0; memory is handed over as Linux's memblock_free_all does (reserved regions
//! marked reserved, every free range given to `free_boot_range`).
//!
//! Run: `cargo bench -p archmm --bench buddy`.

use archmm::addr::{pfn_down, pfn_up, PhysAddr};
use archmm::arch::x86_64::X86_64Paging4;
use archmm::arch::MemoryModel;
use archmm::buddy::{Gfp, PageAlloc};
use archmm::memblock::{Memblock, MemblockFlags, RegionType, NUMA_NO_NODE};
use archmm::memmap::{Memmap, MemmapGeometry, PAGE_META_SIZE};
use archmm::percpu::{PcpuChunk, PcpuLayout, PercpuAreas};
use archmm::physmem::PhysMem;
use archmm::zone::ZoneType;
use buddy_system_allocator::FrameAllocator;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::atomic::Ordering;

const GIB: u64 = 1 << 30;
const PAGE_SHIFT: u32 = 12;
const MAX_ORDER: u32 = 11;
/// Reserved at boot: the low 1 MiB (firmware) and a 16 MiB "kernel image" at 16 MiB.
const RESERVED: [(u64, u64); 2] = [(0, 1 << 20), (16 << 20, 16 << 20)];
/// Host memory backing the top of "RAM", where memblock (top-down) puts the memmap.
const WINDOW: u64 = 64 << 20;

/// "Physical" memory of which only the window `[base_pa, base_pa + len)` is backed by one
/// host buffer: the memmap lives there; nothing else is ever touched (no `Gfp::ZERO`).
struct FlatMem {
    base_pa: u64,
    len: u64,
    ptr: *mut u8,
    _buf: Vec<u64>,
}

impl FlatMem {
    fn new(base_pa: u64, len: u64) -> Self {
        let mut buf = vec![0u64; (len / 8) as usize];
        let ptr = buf.as_mut_ptr() as *mut u8;
        Self { base_pa, len, ptr, _buf: buf }
    }
    fn contains(&self, pa: u64, len: u64) -> bool {
        pa >= self.base_pa && pa + len <= self.base_pa + self.len
    }
    /// Host pointer of `pa`.
    #[inline]
    fn at(&self, pa: PhysAddr, len: usize) -> *mut u8 {
        debug_assert!(self.contains(pa.0, len as u64), "{:#x}+{len:#x} outside the window", pa.0);
        self.ptr.wrapping_add((pa.0 - self.base_pa) as usize)
    }
}

impl PhysMem for FlatMem {
    #[inline]
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        // SAFETY: as in `read`; the core's lock words are 4-byte aligned in an 8-byte
        // aligned buffer and only reached through these atomics. A real atomic, as a
        // kernel's linear map has.
        let a = unsafe { std::sync::atomic::AtomicU32::from_ptr(self.at(pa, 4).cast()) };
        a.compare_exchange(current, new, Ordering::Acquire, Ordering::Relaxed)
    }
    #[inline]
    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        // SAFETY: as in `compare_exchange_u32`.
        let a = unsafe { std::sync::atomic::AtomicU32::from_ptr(self.at(pa, 4).cast()) };
        a.store(v, Ordering::Release)
    }
    #[inline]
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        // SAFETY: the core only touches the memmap, which lies inside the window (checked
        // once per setup by `check_window`); the buffer lives as long as `self`, and `buf` is
        // a separate Rust allocation, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.at(pa, buf.len()), buf.as_mut_ptr(), buf.len()) }
    }
    #[inline]
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.at(pa, buf.len()), buf.len()) }
    }
    #[inline]
    fn zero(&self, pa: PhysAddr, len: u64) {
        // SAFETY: as in `read`; memblock zeroes only what it allocated (the memmap).
        unsafe { std::ptr::write_bytes(self.at(pa, len as usize), 0, len as usize) }
    }
    #[inline]
    fn read_u64(&self, pa: PhysAddr) -> u64 {
        // SAFETY: as in `read`; unaligned reads are allowed.
        unsafe { (self.at(pa, 8) as *const u64).read_unaligned() }
    }
    #[inline]
    fn write_u64(&self, pa: PhysAddr, v: u64) {
        // SAFETY: as in `read_u64`.
        unsafe { (self.at(pa, 8) as *mut u64).write_unaligned(v) }
    }
}

type Alloc<'m> = PageAlloc<X86_64Paging4, &'m FlatMem>;

/// Backing for a machine of `dram` bytes of RAM starting at 0.
fn machine(dram: u64) -> FlatMem {
    FlatMem::new(dram - WINDOW, WINDOW)
}

/// memblock as firmware parsing leaves it: all RAM, the reserved ranges.
fn memblock(mem: &FlatMem, dram: u64) -> Memblock<&FlatMem> {
    let mut mb = Memblock::new(mem);
    mb.add(0, dram).expect("add");
    for (base, size) in RESERVED {
        mb.reserve(base, size).expect("reserve");
    }
    mb
}

/// Memmap::init (FLATMEM): memblock allocates and zeroes 32 bytes per page.
fn init_memmap(mb: &mut Memblock<&FlatMem>) -> Memmap {
    let geo = MemmapGeometry {
        model: MemoryModel::Flat,
        page_shift: PAGE_SHIFT,
        section_size_bits: 27,
        max_physmem_bits: 46,
        vmemmap_start: 0,
    };
    Memmap::init::<X86_64Paging4, &FlatMem>(mb, geo, None).expect("memmap")
}

/// The allocator with one Normal zone over all RAM, its per-CPU page lists in a per-CPU
/// area from memblock (as the bring-up places them), and memblock_free_all's hand-off:
/// reserved regions (the memmap included) marked reserved, free ranges handed over.
fn hand_off<'m>(mb: &mut Memblock<&'m FlatMem>, mm: Memmap) -> Alloc<'m> {
    let end_pfn = pfn_down(mb.end_of_dram(), PAGE_SHIFT);
    let mut pa = PageAlloc::new(*mb.mem(), mm, MAX_ORDER, 1);
    assert!(pa.add_zone(ZoneType::Normal, 0, 0, end_pfn, end_pfn));
    let layout = PcpuLayout::build(8192, 4096, 4096, 1, |_| 0).expect("layout");
    let unit_base = layout.allocate(mb, 0).expect("per-CPU area");
    assert!(mb.mem().contains(unit_base[0], layout.size_sum), "the per-CPU area is outside the backed window");
    pa.setup_zone_pageset(PcpuChunk::new(&PercpuAreas { layout, unit_base })).expect("pagesets");
    for r in mb.real_regions(RegionType::Reserved) {
        pa.mark_reserved(pfn_down(r.base, PAGE_SHIFT), pfn_up(r.end(), PAGE_SHIFT));
    }
    for_each_free_pfn_range(mb, |s, e| {
        pa.free_boot_range(s, e);
    });
    pa
}

fn for_each_free_pfn_range(mb: &Memblock<&FlatMem>, mut f: impl FnMut(u64, u64)) {
    mb.for_each_free_range(NUMA_NO_NODE, MemblockFlags::NONE, false, |s, e, _| {
        let (sp, ep) = (pfn_up(s, PAGE_SHIFT), pfn_down(e, PAGE_SHIFT));
        if sp < ep {
            f(sp, ep);
        }
        false
    });
}

/// The memmap must lie inside the backed window (outside the timed part).
fn check_window(mem: &FlatMem, mm: &Memmap) {
    let base = mm.meta_pa::<X86_64Paging4, _>(&mem, 0).expect("pfn 0 has a page");
    assert!(mem.contains(base, mm.bytes()), "memmap {base:#x}+{:#x} is outside the backed window", mm.bytes());
}

/// A booted allocator over `dram` bytes, tuned as in the module docs, plus the pfn ranges it
/// was given (for the peer allocator).
fn booted(mem: &FlatMem, dram: u64) -> (Alloc<'_>, Vec<(u64, u64)>) {
    let mut mb = memblock(mem, dram);
    let mm = init_memmap(&mut mb);
    check_window(mem, &mm);
    let pa = hand_off(&mut mb, mm);
    pa.setup_watermarks(0, PAGE_SHIFT);
    for z in pa.zones() {
        for w in &z.wmark {
            w.store(0, Ordering::Relaxed);
        }
    }
    let mut ranges = Vec::new();
    for_each_free_pfn_range(&mb, |s, e| ranges.push((s, e)));
    assert_eq!(ranges.iter().map(|(s, e)| e - s).sum::<u64>(), pa.totalram_pages());
    (pa, ranges)
}

/// Every managed page is free again (buddy lists or the CPU's cache).
fn check_all_free(pa: &Alloc<'_>) {
    assert_eq!(pa.nr_free_pages() + pa.pcp_pages(), pa.totalram_pages(), "pages leaked");
}

fn peer<const ORDER: usize>(ranges: &[(u64, u64)]) -> FrameAllocator<ORDER> {
    let mut fa = FrameAllocator::<ORDER>::new();
    for &(s, e) in ranges {
        fa.add_frame(s as usize, e as usize);
    }
    fa
}

/// One step of the mixed workload.
#[derive(Clone, Copy)]
enum Op {
    Alloc(u32),
    /// Free the live block at this index (swap_remove).
    Free(usize),
}

const MIN_LIVE: usize = 1024;
const MAX_LIVE: usize = 4096;

/// A deterministic sequence of `n` allocations (orders 0..=4, uniform) and frees (a random
/// live block), live blocks wandering between about MIN_LIVE and MAX_LIVE, then frees of
/// everything still live so every run ends where it started.
fn workload(n: usize) -> Vec<Op> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ops = Vec::with_capacity(n + MAX_LIVE);
    let mut live = 0usize;
    for _ in 0..n {
        let r = next();
        let alloc = match live {
            0 => true,
            l if l >= MAX_LIVE => false,
            l if l < MIN_LIVE => r % 10 < 7,
            _ => r % 2 == 0,
        };
        if alloc {
            ops.push(Op::Alloc(((r >> 8) % 5) as u32));
            live += 1;
        } else {
            ops.push(Op::Free(((r >> 16) % live as u64) as usize));
            live -= 1;
        }
    }
    while live > 0 {
        ops.push(Op::Free(((next() >> 16) % live as u64) as usize));
        live -= 1;
    }
    ops
}

fn run_archmm(pa: &Alloc<'_>, ops: &[Op], live: &mut Vec<(u64, u32)>) {
    for &op in ops {
        match op {
            Op::Alloc(order) => live.push((pa.alloc(0, Gfp::KERNEL, order, 0).expect("alloc"), order)),
            Op::Free(i) => {
                let (p, o) = live.swap_remove(i);
                pa.free(0, black_box(p), o).expect("free");
            }
        }
    }
}

fn run_peer<const ORDER: usize>(fa: &mut FrameAllocator<ORDER>, ops: &[Op], live: &mut Vec<(u64, u32)>) {
    for &op in ops {
        match op {
            Op::Alloc(order) => live.push((fa.alloc(1 << order).expect("alloc") as u64, order)),
            Op::Free(i) => {
                let (p, o) = live.swap_remove(i);
                fa.dealloc(black_box(p) as usize, 1 << o);
            }
        }
    }
}

const PAIRS: u64 = 100_000;
const MIXED_OPS: usize = 100_000;

fn bench(c: &mut Criterion) {
    // 1. memmap init + hand-off.
    for gib in [1u64, 4] {
        let dram = gib * GIB;
        let mem = machine(dram);
        let meta_bytes = (dram >> PAGE_SHIFT) * PAGE_META_SIZE;
        // Where memblock puts the memmap (top-down, below the end of RAM).
        let (meta_pa, meta_len) = {
            let mut mb = memblock(&mem, dram);
            let mm = init_memmap(&mut mb);
            check_window(&mem, &mm);
            assert_eq!(mm.bytes(), meta_bytes);
            (mm.meta_pa::<X86_64Paging4, _>(&&mem, 0).expect("pfn 0"), mm.bytes())
        };
        let mut g = c.benchmark_group(format!("memmap init + hand-off of {gib} GiB"));
        g.sample_size(20);
        g.bench_function(format!("physical limit (memset of {} MiB metadata)", meta_bytes >> 20), |b| {
            let p = mem.at(PhysAddr(meta_pa), meta_len as usize);
            // SAFETY: `[meta_pa, meta_pa + meta_len)` is inside the window (checked above);
            // no reference into the buffer is live.
            b.iter(|| unsafe { std::ptr::write_bytes(black_box(p), 0, meta_len as usize) })
        });
        g.bench_function("archmm (Memmap::init + hand-off)", |b| {
            b.iter_batched(
                || memblock(&mem, dram),
                |mut mb| {
                    let mm = init_memmap(&mut mb);
                    hand_off(&mut mb, mm)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("archmm hand-off only (memmap already zeroed)", |b| {
            b.iter_batched(
                || {
                    let mut mb = memblock(&mem, dram);
                    let mm = init_memmap(&mut mb);
                    (mb, mm)
                },
                |(mut mb, mm)| hand_off(&mut mb, mm),
                BatchSize::PerIteration,
            )
        });
        g.finish();
        // The hand-off did its work: every page outside the reserved ranges is free.
        let mut mb = memblock(&mem, dram);
        let mm = init_memmap(&mut mb);
        let pa = hand_off(&mut mb, mm);
        let reserved: u64 = mb.real_regions(RegionType::Reserved).map(|r| r.size >> PAGE_SHIFT).sum();
        assert_eq!(pa.nr_free_pages(), (dram >> PAGE_SHIFT) - reserved);
    }

    // 2 and 3 on a booted 1 GiB machine.
    let dram = GIB;
    let mem = machine(dram);

    let mut g = c.benchmark_group(format!("order-0 alloc+free pairs ({}k)", PAIRS / 1000));
    g.sample_size(10);
    {
        let (pa, _) = booted(&mem, dram);
        g.bench_function("archmm (per-CPU cache)", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for _ in 0..PAIRS {
                    let p = pa.alloc(0, Gfp::KERNEL, 0, 0).expect("alloc");
                    acc = acc.wrapping_add(p);
                    pa.free(0, black_box(p), 0).expect("free");
                }
                acc
            })
        });
        check_all_free(&pa);
    }
    let (_, ranges) = booted(&mem, dram);
    g.bench_function("buddy_system_allocator FrameAllocator<32>", |b| {
        let mut fa = peer::<32>(&ranges);
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..PAIRS {
                let p = fa.alloc(1).expect("alloc");
                acc = acc.wrapping_add(p as u64);
                fa.dealloc(black_box(p), 1);
            }
            acc
        })
    });
    g.bench_function("buddy_system_allocator FrameAllocator<11>", |b| {
        let mut fa = peer::<11>(&ranges);
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..PAIRS {
                let p = fa.alloc(1).expect("alloc");
                acc = acc.wrapping_add(p as u64);
                fa.dealloc(black_box(p), 1);
            }
            acc
        })
    });
    g.finish();

    let ops = workload(MIXED_OPS);
    let mut live = Vec::with_capacity(MAX_LIVE + 1);
    let mut g = c.benchmark_group(format!("mixed-order workload ({} ops, orders 0..=4)", ops.len()));
    g.sample_size(10);
    {
        let (pa, _) = booted(&mem, dram);
        g.bench_function("archmm", |b| b.iter(|| run_archmm(&pa, &ops, &mut live)));
        assert!(live.is_empty());
        check_all_free(&pa);
    }
    g.bench_function("buddy_system_allocator FrameAllocator<32>", |b| {
        let mut fa = peer::<32>(&ranges);
        b.iter(|| run_peer(&mut fa, &ops, &mut live))
    });
    assert!(live.is_empty());
    g.bench_function("buddy_system_allocator FrameAllocator<11>", |b| {
        let mut fa = peer::<11>(&ranges);
        b.iter(|| run_peer(&mut fa, &ops, &mut live))
    });
    assert!(live.is_empty());
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
