//! Linux as the oracle: boot the same firmware map Linux 6.1 booted under QEMU and compare
//! the lines archmm emulates with what Linux printed (tests/data/linux/*/keylines.txt,
//! captured with ../shared/tools/linux-mm-capture; see tests/data/linux/README.md).

use archmm::arch::ArchId;
use archmm::boot::{BootOptions, ResvRange};
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;
use std::path::{Path, PathBuf};

mod common;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(p)
}

/// The lines of Linux's mm bring-up that this stage of archmm reproduces.
fn emulated(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "BIOS-provided physical RAM map:",
        "BIOS-e820:",
        "e820: update",
        "e820: remove",
        "ACPI: SRAT: Node",
        "NUMA: Node",
        "NUMA: No NUMA configuration found",
        "NUMA: Faking a node",
        "Zone ranges:",
        "  DMA ",
        "  DMA32 ",
        "  Normal ",
        "  HighMem ",
        "  Device ",
        "Movable zone start",
        "  Node ",
        "Early memory node ranges",
        "  node ",
        "Initmem setup node",
        "On node ",
        "cma: Reserved",
        "Built ",
        "Policy zone:",
        "NODE_DATA(",
        "NUMA: NODE_DATA",
        "NUMA: Initmem setup node",
    ];
    PREFIXES.iter().any(|p| line.starts_with(p))
}

/// Lines the capture tool's filter drops; kept in console-extra.txt.
fn x86_extra(line: &str) -> bool {
    line.starts_with("last_pfn = ")
        || line.starts_with("No NUMA configuration found")
        || line.starts_with("Faking a node at")
        || line.starts_with("Fallback order for Node")
        || line.starts_with("setup_percpu:")
        || line.starts_with("percpu: Embedded")
        || line.starts_with("pcpu-alloc:")
        || line.starts_with("numa:   NODE_DATA")
        || line.starts_with("numa:     NODE_DATA")
}

fn linux_lines(capture: &str) -> Vec<String> {
    let text = std::fs::read_to_string(data(&format!("linux/{capture}/keylines.txt"))).expect("capture");
    text.lines().filter(|l| emulated(l)).map(|l| normalize(capture, l)).collect()
}

/// Lines whose addresses depend on allocations archmm lays out its own way are compared
/// without them (the CMA area's address is compared: archmm places it as Linux does).
fn normalize(_capture: &str, l: &str) -> String {
    // A node's pg_data_t comes from the top of its memory, below what the kernel allocated
    // there before (its early page tables, which archmm builds with other block sizes): the
    // size and the node must match, the address need not.
    if l.contains("NODE_DATA") {
        if let Some((head, rest)) = l.split_once("[mem ") {
            let range = rest.trim_end_matches(']');
            if let Some((a, b)) = range.split_once('-') {
                let n = |x: &str| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap_or(0);
                return format!("{head}({:#x} bytes)", n(b) + 1 - n(a));
            }
        }
    }
    l.to_string()
}

fn linux_extra(capture: &str) -> Vec<String> {
    match std::fs::read_to_string(data(&format!("linux/{capture}/console-extra.txt"))) {
        Ok(t) => t.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// The boot options of a capture: its CPU count (`-smp N` in qemu-args.txt, else 1).
fn options(capture: &str) -> BootOptions {
    BootOptions { cpus: common::capture_cpus(capture), ..BootOptions::default() }
}

fn ours(arch: ArchId, m: &Machine) -> Vec<String> {
    ours_with(arch, m, BootOptions::default())
}

fn ours_with(arch: ArchId, m: &Machine, opts: BootOptions) -> Vec<String> {
    let r = run_boot(arch, m, opts).unwrap_or_else(|(log, e)| panic!("boot failed: {e}\n{}", log.join("\n")));
    r.log.into_iter().filter(|l| emulated(l)).map(|l| normalize("", &l)).collect()
}

fn ours_for(capture: &str, arch: ArchId, m: &Machine) -> Vec<String> {
    ours_with(arch, m, options(capture)).iter().map(|l| normalize(capture, l)).collect()
}

fn check(capture: &str, arch: ArchId, m: &Machine) {
    let want = linux_lines(capture);
    assert!(want.len() >= 7, "{capture}: capture has too few mm lines");
    let got = ours_for(capture, arch, m);
    assert_eq!(got, want, "{capture}: archmm (left) differs from Linux 6.1 (right)");
    let extra = linux_extra(capture);
    assert!(!extra.is_empty(), "{capture}: console-extra.txt missing");
    // The Memory line's total (present pages) is Linux's; the available part depends on the
    // kernel's own allocations, which archmm does not replay.
    let total = |l: &str| l.split('/').nth(1).and_then(|t| t.split('K').next()).map(str::to_string);
    let text = std::fs::read_to_string(data(&format!("linux/{capture}/keylines.txt"))).expect("capture");
    let linux_mem = text.lines().find(|l| l.starts_with("Memory: ")).expect("Memory line");
    let r = run_boot(arch, m, options(capture)).expect("boots");
    let ours_mem = r.log.iter().find(|l| l.starts_with("Memory: ")).expect("our Memory line");
    assert_eq!(total(ours_mem), total(linux_mem), "{capture}: {ours_mem} vs {linux_mem}");
    // The kernel's section sizes (the parenthesis, but for the reserved part, which follows
    // from what is available).
    let sections = common::memory_line_sections;
    assert_eq!(sections(ours_mem), sections(linux_mem), "{capture}: {ours_mem} vs {linux_mem}");
    let got_extra: Vec<String> = r.log.into_iter().filter(|l| x86_extra(l)).map(|l| normalize(capture, &l)).collect();
    let extra: Vec<String> = extra.iter().map(|l| normalize(capture, l)).collect();
    assert_eq!(got_extra, extra, "{capture}: last_pfn / fake-node / percpu / NODE_DATA lines differ");
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The x86_64 captures, booted from their e820.txt. Those with `-smp N` and NUMA carry the
/// SRAT's `SRAT: PXM .. -> APIC .. -> Node ..` lines (which CPU is on which node), except
/// x86_64-numa2-8g, whose CPUs Linux's round-robin default happens to place the same way.
const X86_64_CAPTURES: &[&str] = &[
    "x86_64-8g",
    "x86_64-3g",
    "x86_64-512m",
    "x86_64-4g",
    "x86_64-q35-6g",
    "x86_64-numa2-8g",
    "x86_64-q35-4g-smp6",
    "x86_64-4g-smp32",
    "x86_64-numa2-4g-smp4",
    "x86_64-numa4-8g-smp8",
    "x86_64-numa2-memless-4g-smp4",
];

/// The arm64 captures, booted from QEMU's device tree (CPU nodes carry numa-node-id;
/// arm64-numa3-dist-6g-smp6 has a distance map, which orders the nodes' fallback).
const ARM64_CAPTURES: &[&str] = &[
    "arm64-4g",
    "arm64-1g",
    "arm64-6g",
    "arm64-numa2-4g",
    "arm64-8g-smp16",
    "arm64-numa2-4g-smp4",
    "arm64-numa2-memless-4g-smp4",
    "arm64-numa3-dist-6g-smp6",
];

/// The ppc64el captures (QEMU pseries, radix, 64K pages), booted from QEMU's device tree:
/// memory nodes and CPUs carry ibm,associativity.
const PPC64EL_CAPTURES: &[&str] = &[
    "ppc64el-2g",
    "ppc64el-4g",
    "ppc64el-8g-smp4",
    "ppc64el-numa2-4g-smp2",
    "ppc64el-3g-smp3",
    "ppc64el-6g-smp2",
    "ppc64el-numa3-6g-smp3",
];

/// The s390x captures (QEMU s390-ccw-virtio): memory comes from the SCLP, so the built-in
/// machine of that size is the firmware data.
const S390X_CAPTURES: &[(&str, u64)] = &[
    ("s390x-1g", GIB),
    ("s390x-4g", 4 * GIB),
    ("s390x-8g-smp4", 8 * GIB),
    ("s390x-3g-smp2", 3 * GIB),
    ("s390x-2g-smp3", 2 * GIB),
];

#[test]
fn ppc64el_device_trees_boot_like_linux() {
    for c in PPC64EL_CAPTURES {
        let blob = std::fs::read(data(&format!("linux/{c}/pseries.dtb"))).expect("pseries.dtb");
        let m = Machine::from_dtb(&blob, ArchId::Powerpc).expect("parses");
        check(c, ArchId::Powerpc, &m);
    }
}

#[test]
fn ppc64el_builtin_machines_are_qemus() {
    for (c, mem, nodes) in [
        ("ppc64el-2g", 2 * GIB, 1),
        ("ppc64el-4g", 4 * GIB, 1),
        ("ppc64el-8g-smp4", 8 * GIB, 1),
        ("ppc64el-numa2-4g-smp2", 4 * GIB, 2),
        ("ppc64el-3g-smp3", 3 * GIB, 1),
        ("ppc64el-6g-smp2", 6 * GIB, 1),
        ("ppc64el-numa3-6g-smp3", 6 * GIB, 3),
    ] {
        let m = Machine::qemu(ArchId::Powerpc, mem, nodes, None).expect("machine").with_qemu_cpus(options(c).cpus);
        check(c, ArchId::Powerpc, &m);
        let blob = std::fs::read(data(&format!("linux/{c}/pseries.dtb"))).expect("pseries.dtb");
        let dt = Machine::from_dtb(&blob, ArchId::Powerpc).expect("parses");
        let mut want = dt.banks.clone();
        want.sort_by_key(|b| b.base);
        assert_eq!(m.banks, want, "{c}: the built-in pseries memory nodes are QEMU's");
    }
}

#[test]
fn s390x_machines_boot_like_linux() {
    for &(c, mem) in S390X_CAPTURES {
        let m = Machine::qemu(ArchId::S390, mem, 1, None).expect("machine").with_qemu_cpus(options(c).cpus);
        check(c, ArchId::S390, &m);
    }
}

#[test]
fn x86_64_e820_files_boot_like_linux() {
    for c in X86_64_CAPTURES {
        let text = std::fs::read_to_string(data(&format!("linux/{c}/e820.txt"))).expect("e820.txt");
        let m = Machine::from_e820_text(&text, archmm::arch::ArchId::X86_64).expect("parses");
        check(c, ArchId::X86_64, &m);
    }
}

#[test]
fn x86_64_builtin_machines_are_qemus() {
    for (c, mem, nodes, ty) in [
        ("x86_64-8g", 8 * GIB, 1, None),
        ("x86_64-3g", 3 * GIB, 1, None),
        ("x86_64-512m", 512 * MIB, 1, None),
        ("x86_64-4g", 4 * GIB, 1, None),
        ("x86_64-q35-6g", 6 * GIB, 1, Some("q35")),
        ("x86_64-numa2-8g", 8 * GIB, 2, None),
        ("x86_64-q35-4g-smp6", 4 * GIB, 1, Some("q35")),
        ("x86_64-4g-smp32", 4 * GIB, 1, None),
        ("x86_64-numa2-4g-smp4", 4 * GIB, 2, None),
    ] {
        let m = Machine::qemu(ArchId::X86_64, mem, nodes, ty).expect("machine").with_qemu_cpus(options(c).cpus);
        check(c, ArchId::X86_64, &m);
    }
}

#[test]
fn arm64_device_trees_boot_like_linux() {
    for c in ARM64_CAPTURES {
        let blob = std::fs::read(data(&format!("linux/{c}/virt.dtb"))).expect("virt.dtb");
        let m = Machine::from_dtb(&blob, ArchId::Arm64).expect("parses");
        check(c, ArchId::Arm64, &m);
    }
}

#[test]
fn arm64_builtin_machines_are_qemus() {
    for (c, mem, nodes) in [
        ("arm64-4g", 4 * GIB, 1),
        ("arm64-1g", GIB, 1),
        ("arm64-6g", 6 * GIB, 1),
        ("arm64-numa2-4g", 4 * GIB, 2),
        ("arm64-8g-smp16", 8 * GIB, 1),
        ("arm64-numa2-4g-smp4", 4 * GIB, 2),
    ] {
        let m = Machine::qemu(ArchId::Arm64, mem, nodes, None).expect("machine").with_qemu_cpus(options(c).cpus);
        check(c, ArchId::Arm64, &m);
    }
}

/// Debian 12 has no riscv64 kernel, so there is no Linux capture; the QEMU DTBs are
/// checked against facts derived by hand from Linux 6.1's riscv setup_bootmem() and
/// zone_sizes_init(): DMA32 up to min(4 GiB, end of RAM), Normal above, OpenSBI's 512 KiB
/// reserved (not no-map, so the node range is whole), and the built-in machine agreeing
/// with the DTB.
#[test]
fn riscv64_device_trees() {
    let blob = std::fs::read(data("dtb/riscv64-virt-numa2-4g.dtb")).expect("dtb");
    let m = Machine::from_dtb(&blob, ArchId::Riscv64).expect("parses");
    let got = ours(ArchId::Riscv64, &m);
    let want = [
        // arch_numa's setup_node_data() for each node.
        "NUMA: NODE_DATA (0x2c80 bytes)",
        "NUMA: NODE_DATA (0x2c80 bytes)",
        "Zone ranges:",
        "  DMA32    [mem 0x0000000080000000-0x00000000ffffffff]",
        "  Normal   [mem 0x0000000100000000-0x000000017fffffff]",
        "Movable zone start for each node",
        "Early memory node ranges",
        "  node   0: [mem 0x0000000080000000-0x00000000ffffffff]",
        "  node   1: [mem 0x0000000100000000-0x000000017fffffff]",
        "Initmem setup node 0 [mem 0x0000000080000000-0x00000000ffffffff]",
        "Initmem setup node 1 [mem 0x0000000100000000-0x000000017fffffff]",
        // present - ceil(present * 64 / 4096) per zone: 2 * (524288 - 8192).
        "Built 2 zonelists, mobility grouping on.  Total pages: 1032192",
        "Policy zone: Normal",
    ];
    assert_eq!(got, want);
    let builtin = Machine::qemu(ArchId::Riscv64, 4 * GIB, 2, None).expect("machine");
    assert_eq!(ours(ArchId::Riscv64, &builtin), want);
    // The tree OpenSBI 1.1 actually handed the bare-metal kernel on QEMU 7.2 (-m 1G): its
    // mmode_resv0 node is what the built-in machine models.
    let blob = std::fs::read(data("dtb/riscv64-virt-1g-opensbi.dtb")).expect("dtb");
    let real = Machine::from_dtb(&blob, ArchId::Riscv64).expect("parses");
    assert_eq!(real.reserved, vec![ResvRange { base: 0x8000_0000, size: 0x8_0000, nomap: false }]);
    let builtin = Machine::qemu(ArchId::Riscv64, GIB, 1, None).expect("machine");
    assert_eq!(ours(ArchId::Riscv64, &real), ours(ArchId::Riscv64, &builtin));
    for (f, mem) in [("dtb/riscv64-virt-2g.dtb", 2 * GIB), ("dtb/riscv64-virt-8g.dtb", 8 * GIB)] {
        let blob = std::fs::read(data(f)).expect("dtb");
        let m = Machine::from_dtb(&blob, ArchId::Riscv64).expect("parses");
        let builtin = Machine::qemu(ArchId::Riscv64, mem, 1, None).expect("machine");
        let a = ours(ArchId::Riscv64, &m);
        assert_eq!(a, ours(ArchId::Riscv64, &builtin), "{f}");
        assert!(a.iter().any(|l| l == "NUMA: No NUMA configuration found"), "{f}: {a:?}");
    }
}

/// The block `memblock_dump_all()` prints under `memblock=debug`: header, totals, regions.
fn first_memblock_dump(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in lines {
        if l == "MEMBLOCK configuration:" {
            if inside {
                break;
            }
            inside = true;
            out.push(l.clone());
        } else if inside && (l.starts_with(" memory") || l.starts_with(" reserved")) {
            out.push(l.clone());
        } else if inside && !out.is_empty() && out.len() > 2 {
            break;
        }
    }
    out
}

/// x86's first memblock dump (at the end of e820__memblock_setup()) depends only on the
/// e820 table, the kernel image and the BIOS data area: it must be Linux's, number for
/// number (including the memory total Linux leaves untrimmed).
#[test]
fn x86_64_first_memblock_dump_is_linuxs() {
    for c in X86_64_CAPTURES {
        let text = std::fs::read_to_string(data(&format!("linux/{c}/keylines.txt"))).expect("capture");
        let linux: Vec<String> = text.lines().map(str::to_string).collect();
        let want = first_memblock_dump(&linux);
        assert!(want.len() >= 6, "{c}: no dump in capture");
        let m = Machine::from_e820_text(
            &std::fs::read_to_string(data(&format!("linux/{c}/e820.txt"))).expect("e820"),
            ArchId::X86_64,
        )
        .expect("parses");
        let opts = BootOptions { memblock_debug: true, ..options(c) };
        let r = run_boot(ArchId::X86_64, &m, opts).expect("boots");
        assert_eq!(first_memblock_dump(&r.log), want, "{c}");
    }
}

/// An SRAT that leaves RAM outside every node (the numa2 capture's table without node 1):
/// numa_meminfo_cover_memory() refuses it with Linux's message and the dummy node follows.
#[test]
fn x86_64_srat_missing_memory_is_not_used() {
    let text = std::fs::read_to_string(data("linux/x86_64-numa2-8g/e820.txt")).expect("e820.txt");
    let partial: String = text.lines().filter(|l| !l.contains("Node 1")).map(|l| format!("{l}\n")).collect();
    let m = Machine::from_e820_text(&partial, archmm::arch::ArchId::X86_64).expect("parses");
    let r = run_boot(ArchId::X86_64, &m, BootOptions::default()).expect("boots");
    let at = |s: &str| r.log.iter().position(|l| l == s).unwrap_or_else(|| panic!("no `{s}`:\n{}", r.log.join("\n")));
    let refused = at("NUMA: nodes only cover 4095MB of your 8191MB e820 RAM. Not used.");
    let dummy = at("No NUMA configuration found");
    assert!(refused < dummy);
    at("Faking a node at [mem 0x0000000000000000-0x000000023fffffff]");
    assert_eq!(r.log.iter().filter(|l| l.starts_with("Initmem setup node")).count(), 1);
}
