//! The whole bring-up from the core crate alone (`cargo test -p archmm`): every kernel
//! paging mode of the registry boots its arch's built-in QEMU machine (described by the
//! arch folder's model, written to a sink here) on sparse test memory, to the `Memory:`
//! line and past it. After the boot every page of memblock memory has metadata and is free,
//! on a per-CPU list, reserved, or one of the few page tables the late protections
//! allocated; the allocator's counters agree with the pages, and the `Memory:` line counts
//! all of memory and the pages free when it was printed.

mod common;

use archmm::arch::registry::{visit_kernel_mode, ArchVisitor};
use archmm::arch::Arch;
use archmm::boot::{boot, BootOptions, FirmwareMap, MemBank, ResvRange};
use archmm::buddy::PageState;
use archmm::firmware::e820::dmesg::SratMemAffinity;
use archmm::firmware::e820::E820Entry;
use archmm::machine::{request, MachineSink};
use archmm::memblock::RegionType;
use archmm::physmem::PhysMem;
use common::Mem;
use std::fmt;

/// A built-in machine as the models describe it.
#[derive(Default)]
struct Described {
    name: String,
    e820: Vec<E820Entry>,
    srat: Vec<SratMemAffinity>,
    banks: Vec<MemBank>,
    reserved: Vec<ResvRange>,
    kernel: Option<(u64, u64)>,
    dtb: Option<(u64, u64)>,
    bda: Option<(u16, u16)>,
}

impl MachineSink for Described {
    fn name(&mut self, name: fmt::Arguments<'_>) {
        self.name = name.to_string();
    }
    fn e820(&mut self, entry: E820Entry) {
        self.e820.push(entry);
    }
    fn srat(&mut self, entry: SratMemAffinity) {
        self.srat.push(entry);
    }
    fn bank(&mut self, bank: MemBank) {
        self.banks.push(bank);
    }
    fn reserved(&mut self, range: ResvRange) {
        self.reserved.push(range);
    }
    fn kernel(&mut self, start: u64, end: u64) {
        self.kernel = Some((start, end));
    }
    fn dtb(&mut self, start: u64, end: u64) {
        self.dtb = Some((start, end));
    }
    fn bios_data_area(&mut self, base_kb: u16, ebda_segment: u16) {
        self.bda = Some((base_kb, ebda_segment));
    }
}

/// What one boot showed.
#[derive(Debug)]
struct Outcome {
    present: u64,
    free: u64,
    reserved: u64,
}

struct Boot(u64);

impl ArchVisitor for Boot {
    type Output = Outcome;
    fn visit<A: Arch>(self) -> Outcome {
        let mode = <A::Paging as archmm::pgtable::PagingMode>::NAME;
        let req = request::<A>(self.0, 1, None).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let mut m = Described::default();
        A::qemu_machine(&req, &mut m).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let mem = Mem::default();
        if let Some((base_kb, ebda)) = m.bda {
            mem.write(archmm::addr::PhysAddr(0x413), &base_kb.to_le_bytes());
            mem.write(archmm::addr::PhysAddr(0x40e), &ebda.to_le_bytes());
        }
        let fw = FirmwareMap {
            e820: &m.e820,
            srat: &m.srat,
            banks: &m.banks,
            reserved: &m.reserved,
            kernel: m.kernel,
            dtb: m.dtb,
            sections: A::KERNEL_SECTIONS,
            ..FirmwareMap::default()
        };
        let mut log = String::new();
        let options = BootOptions { cpus: 2, ..BootOptions::default() };
        let booted = boot::<A, &Mem>(&mem, fw, options, &mut log);
        let b = match booted {
            Ok(b) => b,
            Err(e) => panic!("{mode} on {}: {e}", m.name),
        };
        // Every page of memblock memory: metadata, and free, per-CPU or reserved.
        let (mut present, mut free, mut pcp, mut reserved, mut allocated) = (0, 0, 0, 0, 0u64);
        let shift = A::PAGE_SHIFT;
        for r in b.ctx.memblock.real_regions(RegionType::Memory) {
            let (s, e) = (r.base.div_ceil(1 << shift), r.end() >> shift);
            b.pages.for_each_state(s, e, |pfn, st| {
                present += 1;
                match st {
                    PageState::Free => free += 1,
                    PageState::PcpFree => pcp += 1,
                    PageState::Reserved => reserved += 1,
                    // Page tables the late protections split blocks with.
                    PageState::Allocated => allocated += 1,
                    other => panic!("{mode}: pfn {pfn:#x} is {other:?} after the boot"),
                }
            });
        }
        assert_eq!(free, b.pages.nr_free_pages(), "{mode}: free pages and the allocator disagree");
        assert!(allocated < present / 100, "{mode}: {allocated} pages still allocated after the boot");
        assert_eq!(pcp, b.pages.pcp_pages(), "{mode}: per-CPU pages and the allocator disagree");
        assert_eq!(present, b.report.physpages, "{mode}: memory pages and the zones' present pages disagree");
        // The Memory line: the free pages at mm_init()'s end of all memory pages, in KiB;
        // init memory freed after it only adds.
        let k = |pages: u64| pages << (shift - 10);
        let avail = format!("Memory: {}K/{}K available", k(b.report.free), k(present));
        assert!(b.report.free <= free + pcp, "{mode}: pages went missing after the Memory line");
        drop(b);
        let memory_line = log.lines().find(|l| l.starts_with("Memory: ")).unwrap_or_else(|| panic!("{mode}: {log}"));
        assert!(memory_line.starts_with(&avail), "{mode}: {memory_line} (want {avail}...)");
        Outcome { present, free: free + pcp, reserved }
    }
}

#[test]
fn every_kernel_mode_boots_its_qemu_machine() {
    let modes: Vec<_> = archmm::arch::modes::MODES.iter().filter(|m| m.kernel).collect();
    assert!(modes.len() >= archmm::arch::ARCHES.len());
    for m in modes {
        // 2 GiB: every model's smallest usual size, with highmem on the 32-bit arches.
        let o = visit_kernel_mode(m.name, Boot(2 << 30)).unwrap_or_else(|_| panic!("{}: not bootable", m.name));
        assert!(o.present > 0 && o.free > o.reserved, "{}: {o:?}", m.name);
    }
}
