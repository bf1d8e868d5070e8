//! 32-bit arches with highmem: the lowmem limit as Linux 6.1 computes it, ZONE_HIGHMEM,
//! highmem freed by its own path, and the lines Linux printed for the same QEMU machines
//! (tests/data/linux/{i386-pae-2g,i386-2g,arm-lpae-2g}, see the README there).

use archmm::arch::arm::{vmalloc_limit, Arm32Lpae};
use archmm::arch::i386::{I386Nopae, I386Pae};
use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::{run_boot, run_mode, BootReport};
use archmm_host::machine::Machine;
use std::path::Path;

mod common;

const G: u64 = 1 << 30;

fn capture(name: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linux").join(name).join("keylines.txt");
    std::fs::read_to_string(p).expect("capture").lines().map(str::to_string).collect()
}

/// The capture's lines that start with any of `prefixes`, in order, compared with ours.
fn same_lines(ours: &[String], linux: &[String], prefixes: &[&str]) {
    let pick = |v: &[String]| -> Vec<String> {
        v.iter().filter(|l| prefixes.iter().any(|p| l.starts_with(p))).cloned().collect()
    };
    let (a, b) = (pick(ours), pick(linux));
    assert!(!b.is_empty(), "the capture has none of {prefixes:?}");
    assert_eq!(a, b);
}

fn memory_line(log: &[String]) -> &str {
    log.iter().find(|l| l.starts_with("Memory: ")).expect("Memory line")
}

/// `NK/MK` and the trailing `NK highmem)` of a Memory line.
fn total_and_highmem(line: &str) -> (String, String) {
    let total = line.split('/').nth(1).and_then(|t| t.split(' ').next()).expect("total").to_string();
    let high = line.rsplit(", ").next().expect("highmem").to_string();
    (total, high)
}

fn boot(mode: &str, m: &Machine) -> BootReport {
    run_mode(mode, m, BootOptions::default(), None)
        .expect("mode")
        .unwrap_or_else(|(log, e)| panic!("{mode}: {e}\n{}", log.join("\n")))
}

/// i386's MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE (arch/x86/include/asm/
/// pgtable_32_areas.h): with PAE, VMALLOC_END = PKMAP_BASE - 2 pages = 0xff000000 - 0x2000,
/// so MAXMEM = 0xfeffe000 - 0xc0000000 - 0x08000000 = 0x36ffe000 and max_low_pfn =
/// MAXMEM_PFN = 0x36ffe (879 MiB); without PAE the kmap window sits 4 MiB lower, 0x36bfe.
#[test]
fn i386_lowmem_limit_is_maxmem() {
    assert_eq!(I386Pae::MAXMEM, 0xfeff_e000 - 0xc000_0000 - (128 << 20));
    assert_eq!(I386Pae::MAXMEM_PFN, 0x36ffe);
    assert_eq!(I386Nopae::MAXMEM_PFN, 0x36bfe);
    let m = Machine::qemu(ArchId::I386, 2 * G, 1, None).expect("machine");
    let r =
        run_boot(ArchId::I386, &m, BootOptions::default()).unwrap_or_else(|(log, e)| panic!("{e}\n{}", log.join("\n")));
    assert_eq!(r.max_low_pfn, 0x36ffe);
    // QEMU pc with 2 GiB: usable RAM ends at 0x7ffe0000 (SeaBIOS keeps 128 KiB).
    assert_eq!(r.max_pfn, 0x7ffe0);
    let high = r.zones.iter().find(|z| z.zone == "HighMem").expect("HighMem zone");
    assert_eq!((high.start, high.end), (Some(0x36ffe000), Some(0x7ffdffff)));
    assert!(r.log.iter().any(|l| l == "  HighMem  [mem 0x0000000036ffe000-0x000000007ffdffff]"));
    // 0x7ffe0 - 0x36ffe pages of highmem = 1167 MiB; 0x36ffe pages of lowmem = 879 MiB.
    assert!(r.log.iter().any(|l| l == "1167MB HIGHMEM available."));
    assert!(r.log.iter().any(|l| l == "879MB LOWMEM available."));
    // Nothing in highmem is reserved: all of it is freed, by free_highmem_pages.
    assert!(memory_line(&r.log).ends_with(&format!(", {}K highmem)", (0x7ffe0 - 0x36ffe) * 4)));
    // The linear map stops at lowmem: the last lowmem page is mapped, highmem is not.
    let pgd = r.pgd.expect("page table");
    assert!(pgd < 0x36ffe000, "page tables come from lowmem");
}

/// Debian's 686-pae and 686 kernels on a 2 GiB QEMU pc: the e820 handling, the lowmem
/// lines, zone ranges, node ranges, holes, per-CPU layout, `Total pages:` (Linux's 40-byte
/// struct page) and the Memory line's total and highmem agree line by line.
#[test]
fn i386_matches_linux() {
    // One machine; each mode boots its own reference kernel (the 686 image is another
    // build, with other section sizes and 103316 bytes of static per-CPU data).
    let pae = Machine::qemu(ArchId::I386, 2 * G, 1, None).expect("machine");
    for (mode, cap, m) in [("i386-pae", "i386-pae-2g", &pae), ("i386-2level", "i386-2g", &pae)] {
        let r = boot(mode, m);
        let linux = capture(cap);
        same_lines(
            &r.log,
            &linux,
            &[
                "BIOS-e820:",
                "e820: ",
                "last_pfn = ",
                "1167MB",
                "1171MB",
                "879MB",
                "875MB",
                "  mapped low ram",
                "  low ram",
                "Zone ranges:",
                "  DMA ",
                "  Normal ",
                "  HighMem ",
                "Early memory node ranges",
                "Initializing ",
                "  node ",
                "Initmem setup node",
                "On node ",
                "setup_percpu:",
                "pcpu-alloc:",
                "Built ",
            ],
        );
        let (t, h) = total_and_highmem(memory_line(&r.log));
        let (lt, lh) = total_and_highmem(memory_line(&linux));
        assert_eq!((t, h), (lt, lh), "{mode}");
        // The section sizes are that build's (the part before the reserved figure).
        let sections = common::memory_line_sections;
        assert_eq!(sections(memory_line(&r.log)), sections(memory_line(&linux)), "{mode}");
    }
}

/// arm's lowmem limit (adjust_lowmem_bounds()): vmalloc_limit = VMALLOC_END -
/// vmalloc_size - VMALLOC_OFFSET - PAGE_OFFSET + PHYS_OFFSET, that is 0xff800000 - 240M -
/// 8M - 0xc0000000 + 0x40000000 = 0x70000000 for QEMU virt's RAM at 1 GiB: lowmem is the
/// first 768 MiB, the rest of a 2 GiB machine is HighMem. ZONE_DMA reaches arm_dma_limit
/// (4 GiB on virt), so it is all of lowmem and Normal is empty; CMA goes to highmem first.
#[test]
fn arm_lowmem_limit_and_highmem_match_linux() {
    assert_eq!(vmalloc_limit(0x4000_0000), 0x7000_0000);
    let m = Machine::qemu(ArchId::Arm, 2 * G, 1, None).expect("machine");
    let r = boot("arm-lpae", &m);
    assert_eq!(r.max_low_pfn, 0x70000);
    assert_eq!(r.max_pfn, 0xc0000);
    let linux = capture("arm-lpae-2g");
    same_lines(&r.log, &linux, &["Zone ranges:", "  DMA ", "  Normal ", "  HighMem ", "Built "]);
    // arm reserves CMA in arm_memblock_init(), before its zones are printed; archmm's
    // bring-up reserves it after the zone report, so the line is compared on its own.
    same_lines(&r.log, &linux, &["cma: Reserved"]);
    let (t, h) = total_and_highmem(memory_line(&r.log));
    let (lt, lh) = total_and_highmem(memory_line(&linux));
    assert_eq!((&t, &h), (&lt, &lh));
    // The highmem total: 0x50000 pages above 0x70000000 less the 16 MiB CMA area.
    assert_eq!(h, format!("{}K highmem)", (0x50000 - 4096) * 4));
    assert!(<Arm32Lpae as archmm::arch::Arch>::ZONES.contains(&archmm::zone::ZoneType::HighMem));
    // Short descriptors: the same limits.
    let s = boot("arm-short", &m);
    assert_eq!((s.max_low_pfn, s.max_pfn), (0x70000, 0xc0000));
}

/// Without highmem (64-bit arches, or 32-bit machines whose memory all fits in lowmem) the
/// Memory line has no highmem part unless the kernel is CONFIG_HIGHMEM, which prints 0K.
#[test]
fn small_32bit_machine_has_no_highmem_pages() {
    let m = Machine::qemu(ArchId::I386, 512 << 20, 1, None).expect("machine");
    let r = boot("i386-pae", &m);
    assert_eq!(r.max_low_pfn, r.max_pfn);
    assert!(memory_line(&r.log).ends_with(", 0K highmem)"));
    assert!(r.log.iter().any(|l| l == "  HighMem  empty"));
    let x =
        run_boot(ArchId::X86_64, &Machine::qemu(ArchId::X86_64, 2 * G, 1, None).expect("m"), BootOptions::default())
            .expect("boot");
    assert!(!memory_line(&x.log).contains("highmem"));
}
