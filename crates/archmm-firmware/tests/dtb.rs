//! Integration tests of the FDT reader and Linux memory scan on real DTBs:
//! our own `tests/data/reserved-numa.dtb` (made with dtc, see
//! `tests/data/README.md`) and, when present, the QEMU-generated trees under
//! `crates/archmm-host/tests/data/` (read-only).

use archmm_firmware::fdt::memory::{scan, scan_blob, Cells, Initrd, ReservedMemKind, ReservedMemoryStatus};
use archmm_firmware::fdt::Fdt;
use std::path::{Path, PathBuf};

const OURS: &[u8] = include_bytes!("data/reserved-numa.dtb");

#[test]
fn reserved_numa_dtb() {
    let m = scan_blob(OURS).unwrap();
    assert_eq!(m.root_cells, Cells { address: 2, size: 2 });
    let banks: Vec<_> = m.banks.iter().map(|b| (b.base, b.size, b.numa_node_id, b.hotpluggable)).collect();
    assert_eq!(
        banks,
        vec![
            (0x4000_0000, 0x8000_0000, Some(0), false),
            (0xc000_0000, 0x4000_0000, Some(1), true),
            (0x1_0000_0000, 0x4000_0000, Some(1), true),
        ]
    );
    assert_eq!(m.memreserve.as_slice(), &[(0x4800_0000, 0x1000), (0x4810_0000, 0x2000)]);
    assert_eq!(m.reserved_memory, ReservedMemoryStatus::Used(Cells { address: 2, size: 2 }));
    let names: Vec<_> = m.reserved_nodes.iter().map(|n| n.name).collect();
    assert_eq!(names, vec![&b"tz@40000000"[..], b"ramoops@bff00000", b"linux,cma"]);
    assert_eq!(
        m.static_reserved().collect::<Vec<_>>(),
        vec![(0x4000_0000, 0x20_0000, true), (0xbff0_0000, 0x10_0000, false)]
    );
    let cma = &m.reserved_nodes.as_slice()[2];
    assert!(cma.reusable && !cma.no_map);
    match cma.kind {
        ReservedMemKind::Dynamic { size, alignment, alloc_ranges } => {
            assert_eq!(size, 0x400_0000);
            assert_eq!(alignment, Some(0x40_0000));
            assert_eq!(alloc_ranges.unwrap().collect::<Vec<_>>(), vec![(0x4000_0000, 0x4000_0000)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.chosen.bootargs_str(), Some("console=ttyAMA0 earlycon"));
    assert_eq!(m.chosen.initrd, Some(Initrd { start: 0x4400_0000, end: 0x4480_0000 }));
}

/// Every single-byte corruption and every truncation of a real DTB is
/// either rejected or scanned without panicking.
#[test]
fn corrupted_dtbs_never_panic() {
    for len in 0..OURS.len() {
        let _ = scan_blob(&OURS[..len]);
    }
    let mut b = OURS.to_vec();
    for i in 0..b.len() {
        for v in [0x00, 0xff, b[i] ^ 0x01, b[i] ^ 0x80] {
            let old = b[i];
            b[i] = v;
            let _ = scan_blob(&b);
            b[i] = old;
        }
    }
}

fn host_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../archmm-host/tests/data")
}

/// The GiB count encoded in a QEMU test-tree name such as `riscv64-virt-8g`
/// or `arm64-numa2-4g` (none in `arm64-8g-smp16`).
fn gib_in_name(name: &str) -> Option<u64> {
    let tail = name.rsplit('-').next()?;
    tail.strip_suffix('g')?.parse().ok()
}

fn check_qemu_tree(path: &Path, name: &str, ram_base: u64) {
    let blob = std::fs::read(path).unwrap();
    let fdt = Fdt::new(&blob).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m = scan(&fdt).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!m.banks.is_empty(), "{}", path.display());
    // Banks are in tree order, which QEMU does not sort (arm64 NUMA trees
    // list node 1's memory first).
    let lowest = m.banks.iter().map(|b| b.base).min();
    assert_eq!(lowest, Some(ram_base), "{}", path.display());
    if let Some(gib) = gib_in_name(name) {
        let total: u64 = m.banks.iter().map(|b| b.size).sum();
        assert_eq!(total, gib << 30, "{}", path.display());
    }
    if name.contains("numa2") {
        // Two nodes between memory and CPUs (a memoryless node has only CPUs).
        let mut ids: Vec<_> = m.banks.iter().map(|b| b.numa_node_id).chain(m.cpu_nodes.iter().copied()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids, vec![Some(0), Some(1)], "{}", path.display());
    }
    // `-smpN` in the name: QEMU lists N CPU nodes.
    if let Some(n) = name.rsplit('-').next().and_then(|t| t.strip_prefix("smp")).and_then(|n| n.parse::<usize>().ok()) {
        assert_eq!(m.cpu_nodes.len(), n, "{}", path.display());
    }
    assert!(m.chosen.present, "{}", path.display());
    // Truncations of the real blob (strided: the arm64 trees are 1 MiB).
    let step = (blob.len() / 512).max(1);
    for len in (0..blob.len()).step_by(step) {
        let _ = scan_blob(&blob[..len]);
    }
}

#[test]
fn qemu_trees_if_present() {
    let data = host_data();
    let mut seen = 0;
    if let Ok(dir) = std::fs::read_dir(data.join("dtb")) {
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "dtb") {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                let base = if name.starts_with("riscv") { 0x8000_0000 } else { 0x4000_0000 };
                check_qemu_tree(&p, &name, base);
                seen += 1;
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(data.join("linux")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path().join("virt.dtb");
            if name.starts_with("arm64-") && p.exists() {
                check_qemu_tree(&p, &name, 0x4000_0000);
                seen += 1;
            }
        }
    }
    eprintln!("checked {seen} QEMU device trees under {}", data.display());
}
