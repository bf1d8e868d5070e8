//! What a running Linux 6.1 shows against archmm's views of the same machine.
//!
//! The captures under tests/data/linux/*/views were made with `linux-mm-capture --views`
//! (Debian's kernel under QEMU, a busybox initramfs printing /proc and /sys; see the README
//! there). For every capture that has them, archmm must show the same
//! - zones in /proc/zoneinfo: every node's configured zones in order, empty ones included,
//!   with their spanned and present pages and, where populated, their start_pfn;
//! - memory blocks in /sys/devices/system/memory: the block size and each block's
//!   phys_index, state and valid_zones;
//! - memblock.memory's regions in /sys/kernel/debug/memblock/memory (where the arch keeps
//!   memblock: arm64, ppc64el);
//! - the System RAM ranges of /proc/iomem.
//!
//! What depends on the kernel's own allocations (managed and free pages, watermarks,
//! memblock.reserved, per-CPU counts) is not compared.

use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;
use std::path::{Path, PathBuf};

mod common;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linux").join(p)
}

fn view(capture: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(data(&format!("{capture}/views/{name}.txt"))).ok()
}

/// The captures with views, each with its arch and how to build its machine.
fn captures() -> Vec<(&'static str, ArchId, Machine)> {
    let e820 = |c: &str| {
        Machine::from_e820_text(
            &std::fs::read_to_string(data(&format!("{c}/e820.txt"))).expect("e820.txt"),
            ArchId::X86_64,
        )
        .expect("parses")
    };
    let dtb = |c: &str, f: &str, a| {
        Machine::from_dtb(&std::fs::read(data(&format!("{c}/{f}"))).expect("dtb"), a).expect("parses")
    };
    let s390 = |mem| Machine::qemu(ArchId::S390, mem, 1, None).expect("machine");
    const G: u64 = 1 << 30;
    vec![
        ("x86_64-4g-views", ArchId::X86_64, e820("x86_64-4g-views")),
        ("x86_64-numa2-8g-views", ArchId::X86_64, e820("x86_64-numa2-8g-views")),
        ("arm64-4g-views", ArchId::Arm64, dtb("arm64-4g-views", "virt.dtb", ArchId::Arm64)),
        ("arm64-2g-smp2-views", ArchId::Arm64, dtb("arm64-2g-smp2-views", "virt.dtb", ArchId::Arm64)),
        ("ppc64el-2g", ArchId::Powerpc, dtb("ppc64el-2g", "pseries.dtb", ArchId::Powerpc)),
        ("ppc64el-4g", ArchId::Powerpc, dtb("ppc64el-4g", "pseries.dtb", ArchId::Powerpc)),
        ("ppc64el-8g-smp4", ArchId::Powerpc, dtb("ppc64el-8g-smp4", "pseries.dtb", ArchId::Powerpc)),
        ("ppc64el-numa2-4g-smp2", ArchId::Powerpc, dtb("ppc64el-numa2-4g-smp2", "pseries.dtb", ArchId::Powerpc)),
        ("ppc64el-3g-smp3", ArchId::Powerpc, dtb("ppc64el-3g-smp3", "pseries.dtb", ArchId::Powerpc)),
        ("s390x-1g", ArchId::S390, s390(G)),
        ("s390x-4g", ArchId::S390, s390(4 * G)),
        ("s390x-8g-smp4", ArchId::S390, s390(8 * G)),
        ("s390x-3g-smp2", ArchId::S390, s390(3 * G)),
        ("s390x-2g-smp3", ArchId::S390, s390(2 * G)),
        ("ppc64el-6g-smp2", ArchId::Powerpc, dtb("ppc64el-6g-smp2", "pseries.dtb", ArchId::Powerpc)),
        ("ppc64el-numa3-6g-smp3", ArchId::Powerpc, dtb("ppc64el-numa3-6g-smp3", "pseries.dtb", ArchId::Powerpc)),
    ]
}

/// `Node N, zone NAME` blocks: (node, zone, spanned, present, start_pfn if populated).
fn zones(zoneinfo: &str) -> Vec<(String, u64, u64, Option<u64>)> {
    let mut out: Vec<(String, u64, u64, Option<u64>)> = Vec::new();
    for l in zoneinfo.lines() {
        let t = l.trim();
        if l.starts_with("Node ") {
            out.push((t.split_whitespace().collect::<Vec<_>>().join(" "), 0, 0, None));
        } else if let Some(last) = out.last_mut() {
            let num = |p: &str| t.strip_prefix(p).and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(v) = num("spanned") {
                last.1 = v;
            } else if let Some(v) = num("present") {
                last.2 = v;
            } else if let Some(v) = num("start_pfn:") {
                last.3 = Some(v);
            }
        }
    }
    // Linux prints start_pfn for populated zones only; so does archmm.
    out
}

/// `memoryN: ...` lines as (N, phys_index, state, valid_zones), sorted by N.
fn blocks(listing: &str) -> Vec<(u64, String, String, String)> {
    let mut out: Vec<(u64, String, String, String)> = listing
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            let n = name.strip_prefix("memory")?.parse().ok()?;
            let w: Vec<&str> = rest.split_whitespace().collect();
            let after = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1)).map(|s| s.to_string());
            // valid_zones may list several zones: up to the next key.
            let vz = w.iter().position(|x| *x == "valid_zones").map(|i| {
                w[i + 1..]
                    .iter()
                    .take_while(|x| !["removable", "online_type", "state", "phys_index", "node"].contains(x))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            Some((n, after("phys_index")?, after("state")?, vz?))
        })
        .collect();
    out.sort();
    out
}

/// debugfs memblock lines as their ranges (`0x..-0x..`), whatever else the format adds.
fn memblock_ranges(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// Top-level `System RAM` lines of /proc/iomem.
fn system_ram(iomem: &str) -> Vec<String> {
    iomem.lines().filter(|l| !l.starts_with(' ') && l.ends_with(" : System RAM")).map(str::to_string).collect()
}

#[test]
fn views_are_the_running_kernels() {
    let mut checked = 0;
    for (c, arch, m) in captures() {
        let opts = BootOptions { cpus: common::capture_cpus(c), ..BootOptions::default() };
        let r = run_boot(arch, &m, opts).unwrap_or_else(|(log, e)| panic!("{c}: boot failed: {e}\n{}", log.join("\n")));

        let linux = view(c, "proc-zoneinfo").unwrap_or_else(|| panic!("{c}: no zoneinfo view"));
        assert!(
            zones(&linux).len() >= 2 && !system_ram(&view(c, "proc-iomem").unwrap_or_default()).is_empty(),
            "{c}: views unreadable"
        );
        assert_eq!(
            zones(&r.views["zoneinfo"]),
            zones(&linux),
            "{c}: /proc/zoneinfo zones (node, zone, spanned, present, start_pfn)"
        );

        let linux = view(c, "proc-iomem").unwrap_or_else(|| panic!("{c}: no iomem view"));
        assert_eq!(system_ram(&r.views["iomem"]), system_ram(&linux), "{c}: /proc/iomem System RAM");

        if let Some(linux) = view(c, "sys-kernel-debug-memblock-memory") {
            let ours =
                r.views["memblock"].split("# /sys/kernel/debug/memblock/reserved").next().unwrap_or("").to_string();
            assert_eq!(memblock_ranges(&ours), memblock_ranges(&linux), "{c}: memblock.memory");
        }

        let linux = view(c, "memory-blocks").unwrap_or_else(|| panic!("{c}: no memory-blocks view"));
        let size = view(c, "sys-devices-system-memory-block_size_bytes").expect("block_size_bytes");
        let out =
            archmm_host::hotplug_script::run(arch, None, &m, opts, "show\n").unwrap_or_else(|e| panic!("{c}: {e}"));
        let ours = out.lines.join("\n");
        assert_eq!(format!("{:x}", out.block_size), size.trim(), "{c}: block_size_bytes");
        assert!(!blocks(&linux).is_empty(), "{c}: no memory blocks read");
        assert_eq!(blocks(&ours), blocks(&linux), "{c}: memory blocks (phys_index, state, valid_zones)");
        checked += 1;
    }
    assert_eq!(checked, 16);
}

#[test]
fn the_parsers_read_both_formats() {
    let linux = "memory0: phys_index 00000000 state online valid_zones none removable 1\n";
    let ours =
        "memory0: state online phys_index 00000000 node 0 valid_zones none removable 1 online_type online_kernel\n";
    assert_eq!(blocks(linux), blocks(ours));
    assert_eq!(blocks(linux), vec![(0, "00000000".into(), "online".into(), "none".into())]);
    let z = "Node 0, zone      DMA\n  pages free 3\n        spanned  4095\n        present  3998\n  start_pfn:           1\nNode 0, zone  Movable\n        spanned  0\n        present  0\n";
    assert_eq!(
        zones(z),
        vec![("Node 0, zone DMA".into(), 4095, 3998, Some(1)), ("Node 0, zone Movable".into(), 0, 0, None)]
    );
    assert_eq!(
        memblock_ranges("   0: 0x0000000000000000..0x00000000ffffffff    0 NONE\n"),
        vec!["0x0000000000000000..0x00000000ffffffff"]
    );
}
