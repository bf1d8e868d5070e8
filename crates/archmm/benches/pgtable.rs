//! Page-table engine benchmarks, each side by side with
//! (a) the physical limit: the same entry words written into pre-zeroed tables by a plain
//!     loop that knows the answer in advance, and
//! (b) the `x86_64` crate's mapper (OffsetPageTable) doing the same work,
//! all on the same flat memory. Compare within one run: the ratios are the result.
//!
//! Run: `cargo bench -p archmm --bench pgtable`.

use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::arch::x86_64::X86_64Paging4;
use archmm::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, Prot, TableAlloc};
use archmm::physmem::PhysMem;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::cell::UnsafeCell;

/// Flat "physical" memory: one host buffer, physical address = offset.
struct FlatMem {
    buf: UnsafeCell<Vec<u64>>,
}

impl FlatMem {
    fn new(bytes: usize) -> Self {
        Self { buf: UnsafeCell::new(vec![0u64; (bytes + 4096) / 8]) }
    }
    /// The buffer's first 4K-aligned byte (page tables must be page-aligned).
    fn base(&self) -> *mut u8 {
        // SAFETY: the Vec is never resized after creation; handing out its pointer for the
        // x86_64 crate's OffsetPageTable is the same aliasing our own accesses have.
        let p = unsafe { (*self.buf.get()).as_mut_ptr() as *mut u8 };
        p.wrapping_add(p.align_offset(4096))
    }
    fn clear(&self) {
        // SAFETY: single-threaded benchmark; no reference into the buffer is live.
        unsafe { (*self.buf.get()).fill(0) }
    }
}

impl PhysMem for FlatMem {
    archmm::exclusive_atomics!();
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        // SAFETY: benchmark addresses stay inside the buffer (tables and the bump area are
        // sized for it); copies are bytewise.
        unsafe { std::ptr::copy_nonoverlapping(self.base().add(pa.0 as usize), buf.as_mut_ptr(), buf.len()) }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.base().add(pa.0 as usize), buf.len()) }
    }
    fn zero(&self, pa: PhysAddr, len: u64) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::write_bytes(self.base().add(pa.0 as usize), 0, len as usize) }
    }
    #[inline]
    fn read_u64(&self, pa: PhysAddr) -> u64 {
        // SAFETY: entries are 8-byte aligned inside the buffer.
        unsafe { (self.base().add(pa.0 as usize) as *const u64).read() }
    }
    #[inline]
    fn write_u64(&self, pa: PhysAddr, v: u64) {
        // SAFETY: as in `read_u64`.
        unsafe { (self.base().add(pa.0 as usize) as *mut u64).write(v) }
    }
}

/// Tables from a bump pointer; memory is pre-zeroed by `FlatMem::clear`.
struct Bump {
    next: u64,
}
impl TableAlloc for Bump {
    fn alloc_table(&mut self, bytes: u64, _level: usize) -> Option<u64> {
        let pa = self.next;
        self.next += bytes.max(4096);
        Some(pa)
    }
    fn free_table(&mut self, _pa: u64, _bytes: u64, _level: usize) {}
}

const GIB: u64 = 1 << 30;
const VA: u64 = 0xffff_8880_0000_0000;
const TABLE_AREA: u64 = 0x10_0000;
const MEM: usize = 8 << 20;

fn ours_map(mem: &FlatMem, pa: u64, blocks: bool) -> u64 {
    let mut a = Bump { next: TABLE_AREA };
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<X86_64Paging4, FlatMem>::new(mem, &mut a).expect("root");
    pt.map(VirtAddr(VA), PhysAddr(pa), GIB, Prot::KERNEL_RW, MapFlags { replace: false, blocks }, &mut a, &mut tlb)
        .expect("map");
    pt.root().0
}

/// The physical limit: compute every entry word directly and store it.
fn limit_map(mem: &FlatMem, pa: u64, blocks: bool) {
    let root = TABLE_AREA;
    let pud = root + 0x1000;
    let pmd = pud + 0x1000;
    let w = |a: u64, v: u64| mem.write_u64(PhysAddr(a), v);
    let tbl = |t: u64| X86_64Paging4::table_entry(t, 0);
    w(root + 273 * 8, tbl(pud));
    w(pud, tbl(pmd));
    if blocks {
        for i in 0..512u64 {
            w(pmd + i * 8, X86_64Paging4::leaf_entry(pa + (i << 21), Prot::KERNEL_RW, 2));
        }
    } else {
        let pts = pmd + 0x1000;
        for i in 0..512u64 {
            let pt = pts + i * 0x1000;
            w(pmd + i * 8, tbl(pt));
            let base = pa + (i << 21);
            for j in 0..512u64 {
                w(pt + j * 8, X86_64Paging4::leaf_entry(base + (j << 12), Prot::KERNEL_RW, 3));
            }
        }
    }
}

mod peer {
    //! The `x86_64` crate's OffsetPageTable over the same flat memory.
    use super::*;
    use x86_64::structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable as XPageTable, PageTableFlags as F, PhysFrame,
        Size2MiB, Size4KiB,
    };
    use x86_64::{PhysAddr as XP, VirtAddr as XV};

    struct Frames {
        next: u64,
    }
    // SAFETY: every frame handed out is unused, zeroed memory inside the benchmark buffer.
    unsafe impl FrameAllocator<Size4KiB> for Frames {
        fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
            let f = PhysFrame::containing_address(XP::new(self.next));
            self.next += 4096;
            Some(f)
        }
    }

    pub fn map(mem: &FlatMem, pa: u64, blocks: bool) {
        let flags = F::PRESENT | F::WRITABLE | F::GLOBAL | F::NO_EXECUTE;
        let mut frames = Frames { next: TABLE_AREA + 0x1000 };
        // SAFETY: the root table is zeroed memory in the buffer; the offset maps physical
        // address 0 to the buffer's start, so every table the crate touches is inside it.
        let mut pt = unsafe {
            let root = &mut *(mem.base().add(TABLE_AREA as usize) as *mut XPageTable);
            OffsetPageTable::new(root, XV::new(mem.base() as u64))
        };
        if blocks {
            for i in 0..512u64 {
                let page = Page::<Size2MiB>::containing_address(XV::new(VA + (i << 21)));
                let frame = PhysFrame::<Size2MiB>::containing_address(XP::new(pa + (i << 21)));
                // SAFETY: mapping into tables nobody else uses.
                unsafe { pt.map_to(page, frame, flags | F::HUGE_PAGE, &mut frames).expect("map").ignore() };
            }
        } else {
            for i in 0..(GIB >> 12) {
                let page = Page::<Size4KiB>::containing_address(XV::new(VA + (i << 12)));
                let frame = PhysFrame::<Size4KiB>::containing_address(XP::new(pa + (i << 12)));
                // SAFETY: as above.
                unsafe { pt.map_to(page, frame, flags, &mut frames).expect("map").ignore() };
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let mem = FlatMem::new(MEM);
    // The 2M case maps to a physical address that is 2M- but not 1G-aligned, so 2M blocks
    // are the largest possible.
    for (name, blocks, pa) in [("4K pages", false, 0x4000_0000u64), ("2M blocks", true, 0x4020_0000u64)] {
        let mut g = c.benchmark_group(format!("map 1 GiB of {name}"));
        g.sample_size(20);
        g.bench_function("physical limit (pre-computed words)", |b| {
            b.iter_batched(|| mem.clear(), |_| limit_map(&mem, black_box(pa), blocks), BatchSize::PerIteration)
        });
        g.bench_function("archmm", |b| {
            b.iter_batched(|| mem.clear(), |_| ours_map(&mem, black_box(pa), blocks), BatchSize::PerIteration)
        });
        g.bench_function("x86_64 crate", |b| {
            b.iter_batched(|| mem.clear(), |_| peer::map(&mem, black_box(pa), blocks), BatchSize::PerIteration)
        });
        g.finish();
    }

    // translate and unmap on a 4K-page mapping.
    mem.clear();
    let root = ours_map(&mem, 0x4000_0000, false);
    let pt = PageTable::<X86_64Paging4, FlatMem>::from_root(&mem, PhysAddr(root));
    let mut g = c.benchmark_group("translate 4096 random addresses");
    let vas: Vec<u64> =
        (0..4096u64).map(|i| VA + ((i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) & (GIB - 1))).collect();
    g.bench_function("archmm", |b| {
        b.iter(|| vas.iter().map(|&v| pt.translate(VirtAddr(v)).map_or(0, |t| t.pa.0)).sum::<u64>())
    });
    g.bench_function("physical limit (index arithmetic + 4 loads)", |b| {
        b.iter(|| {
            vas.iter()
                .map(|&v| {
                    let mut t = root;
                    for l in 0..4 {
                        let e = mem.read_u64(PhysAddr(t + archmm::pgtable::index::<X86_64Paging4>(l, v) * 8));
                        t = e & 0x000f_ffff_ffff_f000;
                    }
                    t + (v & 0xfff)
                })
                .sum::<u64>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("unmap 1 GiB of 4K pages");
    g.sample_size(20);
    g.bench_function("archmm", |b| {
        b.iter_batched(
            || {
                mem.clear();
                ours_map(&mem, 0x4000_0000, false)
            },
            |root| {
                let mut pt = PageTable::<X86_64Paging4, FlatMem>::from_root(&mem, PhysAddr(root));
                pt.unmap(VirtAddr(VA), GIB, &mut Bump { next: 0 }, &mut FlushLog::default()).expect("unmap");
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("physical limit (zero the tables)", |b| {
        b.iter_batched(|| mem.clear(), |_| mem.zero(PhysAddr(TABLE_AREA), 0x1000 * 515), BatchSize::PerIteration)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
