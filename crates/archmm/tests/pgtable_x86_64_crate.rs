//! Differential test against an independent encoder: the `x86_64` crate's OffsetPageTable
//! maps the same pages, 2M and 1G blocks with the same flags into its own copy of memory,
//! and every leaf entry word must be identical to ours (table entries are compared by
//! presence only: their flags are a policy choice, the crate sets P|RW where we set
//! P|RW|US|A|D).

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::x86_64::X86_64Paging4;
use archmm::pgtable::{FlushLog, MapFlags, MemType, PageTable, Prot, TableAlloc};
use archmm::physmem::PhysMem;
use proptest::prelude::*;
use std::cell::UnsafeCell;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable as XPageTable, PageTableFlags as F, PhysFrame,
    Size1GiB, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr as XP, VirtAddr as XV};

const MEM: usize = 16 << 20;
const TABLES: u64 = 0x10_0000;

/// Flat memory: physical address = offset into one host buffer.
struct Flat(UnsafeCell<Vec<u64>>);
impl Flat {
    fn new() -> Self {
        Self(UnsafeCell::new(vec![0; (MEM + 4096) / 8]))
    }
    /// The buffer's first 4K-aligned byte (page tables must be page-aligned).
    fn base(&self) -> *mut u8 {
        // SAFETY: the buffer is never resized; single-threaded test.
        let p = unsafe { (*self.0.get()).as_mut_ptr() as *mut u8 };
        p.wrapping_add(p.align_offset(4096))
    }
}
impl PhysMem for Flat {
    archmm::exclusive_atomics!();
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        assert!(pa.0 as usize + buf.len() <= MEM);
        // SAFETY: bounds checked above; bytewise copy.
        unsafe { std::ptr::copy_nonoverlapping(self.base().add(pa.0 as usize), buf.as_mut_ptr(), buf.len()) }
    }
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        assert!(pa.0 as usize + buf.len() <= MEM);
        // SAFETY: bounds checked above; bytewise copy.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.base().add(pa.0 as usize), buf.len()) }
    }
}

struct Bump(u64);
impl TableAlloc for Bump {
    fn alloc_table(&mut self, bytes: u64, _: usize) -> Option<u64> {
        let pa = self.0;
        self.0 += bytes.max(4096);
        Some(pa)
    }
    fn free_table(&mut self, _: u64, _: u64, _: usize) {}
}
// SAFETY: hands out distinct zeroed frames inside the test buffer.
unsafe impl FrameAllocator<Size4KiB> for Bump {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let pa = self.0;
        self.0 += 4096;
        Some(PhysFrame::containing_address(XP::new(pa)))
    }
}

fn flags_of(p: Prot) -> F {
    let mut f = F::PRESENT | F::ACCESSED;
    if p.write {
        f |= F::WRITABLE | F::DIRTY;
    }
    if p.user {
        f |= F::USER_ACCESSIBLE;
    }
    if p.global {
        f |= F::GLOBAL;
    }
    if !p.exec {
        f |= F::NO_EXECUTE;
    }
    match p.mem {
        MemType::Normal => {}
        MemType::WriteCombine => f |= F::WRITE_THROUGH,
        MemType::Device => f |= F::WRITE_THROUGH | F::NO_CACHE,
    }
    f
}

/// Map `(va, pa, size, prot)` chunks with both and compare every leaf.
fn compare(chunks: &[(u64, u64, u64, Prot)]) {
    let ours_mem = Flat::new();
    let theirs_mem = Flat::new();
    let mut a = Bump(TABLES);
    let mut tlb = FlushLog::default();
    let mut pt = PageTable::<X86_64Paging4, Flat>::new(&ours_mem, &mut a).expect("root");
    let mut b = Bump(TABLES + 0x1000);
    // SAFETY: the root is zeroed memory inside the buffer and the offset maps physical 0 to
    // the buffer start, so the crate only touches the buffer.
    let mut x = unsafe {
        OffsetPageTable::new(
            &mut *(theirs_mem.base().add(TABLES as usize) as *mut XPageTable),
            XV::new(theirs_mem.base() as u64),
        )
    };
    for &(va, pa, size, prot) in chunks {
        pt.map(VirtAddr(va), PhysAddr(pa), size, prot, MapFlags { replace: false, blocks: true }, &mut a, &mut tlb)
            .expect("ours");
        // The same block choice: largest size both addresses are aligned to and that fits.
        let mut off = 0;
        while off < size {
            let (v, p, left) = (va + off, pa + off, size - off);
            let f = flags_of(prot);
            let step = if (v | p) % Size1GiB::SIZE == 0 && left >= Size1GiB::SIZE {
                // SAFETY: fresh tables in the buffer.
                unsafe {
                    x.map_to(
                        Page::<Size1GiB>::containing_address(XV::new(v)),
                        PhysFrame::containing_address(XP::new(p)),
                        f | F::HUGE_PAGE,
                        &mut b,
                    )
                }
                .expect("1G")
                .ignore();
                Size1GiB::SIZE
            } else if (v | p) % Size2MiB::SIZE == 0 && left >= Size2MiB::SIZE {
                // SAFETY: as above.
                unsafe {
                    x.map_to(
                        Page::<Size2MiB>::containing_address(XV::new(v)),
                        PhysFrame::containing_address(XP::new(p)),
                        f | F::HUGE_PAGE,
                        &mut b,
                    )
                }
                .expect("2M")
                .ignore();
                Size2MiB::SIZE
            } else {
                // SAFETY: as above.
                unsafe {
                    x.map_to(
                        Page::<Size4KiB>::containing_address(XV::new(v)),
                        PhysFrame::containing_address(XP::new(p)),
                        f,
                        &mut b,
                    )
                }
                .expect("4K")
                .ignore();
                Size4KiB::SIZE
            };
            off += step;
        }
    }
    // Walk both trees in parallel over every chunk's pages.
    for &(va, _, size, _) in chunks {
        let mut v = va;
        while v < va + size {
            let (steps, n) = pt.walk(VirtAddr(v));
            let leaf = steps[n - 1].expect("walked");
            // The crate's tree: same indices, read raw words.
            let mut t = TABLES;
            let mut theirs = 0;
            for l in 0..=leaf.level {
                let e = theirs_mem.read_u64(PhysAddr(t + archmm::pgtable::index::<X86_64Paging4>(l, v) * 8));
                assert_ne!(e & 1, 0, "{v:#x}: crate has no entry at level {l}");
                theirs = e;
                t = e & 0x000f_ffff_ffff_f000;
            }
            assert_eq!(
                leaf.raw, theirs,
                "{v:#x}: leaf at level {} differs: ours {:#x}, x86_64 crate {:#x}",
                leaf.level, leaf.raw, theirs
            );
            v += 1 << [39, 30, 21, 12][leaf.level];
        }
    }
}

#[test]
fn fixed_cases() {
    let k = Prot::KERNEL_RW;
    compare(&[
        (0xffff_8880_0000_0000, 0, 0x4000_0000, k), // one 1G page
        (0xffff_8880_4000_0000, 0x4020_0000, 0x40_0000, Prot::KERNEL_RX), // two 2M pages
        (0xffff_8880_8000_1000, 0x8000_1000, 0x3000, Prot::USER_RW), // 4K pages
        (0xffff_c900_0000_0000, 0xfe00_0000, 0x20_0000, Prot::KERNEL_DEVICE),
        (0x7f00_0000_0000, 0x1234_5000, 0x1000, Prot { mem: MemType::WriteCombine, ..Prot::USER_RW }),
    ]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn random_mappings_encode_identically(specs in proptest::collection::vec((0u64..64, 0u64..4, 0u64..1024, 0u8..5), 1..8)) {
        // Disjoint slots of 1 GiB of VA; sizes from 4K up to 1G with block-friendly alignment.
        let prots = [Prot::KERNEL_RW, Prot::KERNEL_RO, Prot::KERNEL_RX, Prot::USER_RW, Prot::KERNEL_DEVICE];
        let mut seen = std::collections::BTreeSet::new();
        let mut chunks = Vec::new();
        for (slot, kind, off, p) in specs {
            if !seen.insert(slot) { continue; }
            let va = 0xffff_8880_0000_0000 + slot * (1 << 30);
            let (size, va_off) = match kind {
                0 => (0x1000 * (1 + off % 16), (off % 256) * 0x1000),
                1 => (0x20_0000 * (1 + off % 4), (off % 64) * 0x20_0000),
                2 => (0x20_0000 + 0x3000, 0x1000 * (off % 8)),
                _ => (1 << 30, 0),
            };
            let pa = (slot << 30) + va_off;
            chunks.push((va + va_off, pa, size, prots[p as usize]));
        }
        compare(&chunks);
    }
}
