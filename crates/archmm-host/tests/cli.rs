//! The `archmm` command line as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn archmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archmm")).args(args).output().expect("runs")
}

fn archmm_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_archmm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    c.stdin.take().expect("stdin").write_all(input).expect("write");
    c.wait_with_output().expect("waits")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("archmm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write tmp");
    p
}

#[test]
fn default_boot_prints_the_zone_layout() {
    let o = archmm(&["boot"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.starts_with("BIOS-provided physical RAM map:\n"));
    assert!(s.contains("  Normal   [mem 0x0000000100000000-0x000000023fffffff]\n"));
    assert!(s.contains("On node 0, zone Normal: 32 pages in unavailable ranges\n"));
}

#[test]
fn arch_names_and_aliases_agree() {
    let a = archmm(&["boot", "--arch", "arm64", "--mem", "2G"]);
    let b = archmm(&["boot", "--arch", "aarch64", "--mem", "2G"]);
    assert!(a.status.success());
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).contains("  DMA      [mem 0x0000000040000000-0x00000000bfffffff]"));
    let r = archmm(&["boot", "--arch", "riscv64gc"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let bad = archmm(&["boot", "--arch", "vax"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unknown arch `vax`"));
}

#[test]
fn json_is_json() {
    let o = archmm(&["boot", "--json", "--numa", "2"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["arch"], "x86_64");
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["zones"][0]["zone"], "DMA");
    assert_eq!(v["zones"][0]["start"], 0x1000);
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["boot".into(), "--e820".into(), "/nonexistent/e820.txt".into()], "/nonexistent/e820.txt"),
        (
            vec![
                "boot".into(),
                "--e820".into(),
                tmp("bad.txt", b"BIOS-e820: [mem 0x0000-0xzz] usable\n").display().to_string(),
            ],
            "bad.txt",
        ),
        (vec!["boot".into(), "--e820".into(), tmp("none.txt", b"hello\n").display().to_string()], "none.txt"),
        (
            vec![
                "boot".into(),
                "--arch".into(),
                "arm64".into(),
                "--dtb".into(),
                tmp("junk.dtb", b"\xd0\x0d\xfe\xed junk").display().to_string(),
            ],
            "junk.dtb",
        ),
        (
            vec!["boot".into(), "--machine".into(), tmp("m.toml", b"[[bank]]\nbase = 0\n").display().to_string()],
            "m.toml",
        ),
        (vec!["boot".into(), "--mem".into(), "1K".into()], "2 MiB"),
        (vec!["boot".into(), "--mem".into(), "lots".into()], "not a size"),
    ];
    for (args, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = archmm(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(needle), "{a:?}: {e}");
        assert!(!e.contains("panicked"), "{a:?}: {e}");
    }
}

#[test]
fn e820_with_overlaps_is_sanitised_like_linux() {
    // Overlapping and unsorted entries: the larger type wins, output sorted and merged.
    let t = b"[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x000000003fffffff] usable\n\
BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
BIOS-e820: [mem 0x0000000020000000-0x0000000020ffffff] reserved\n\
unrelated line\n";
    let o = archmm(&["boot", "--e820", tmp("ovl.txt", t).to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(
        s.contains(
            "BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable\n\
BIOS-e820: [mem 0x0000000020000000-0x0000000020ffffff] reserved\n\
BIOS-e820: [mem 0x0000000021000000-0x000000003fffffff] usable\n"
        ),
        "{s}"
    );
}

#[test]
fn memblock_script_from_stdin() {
    let o = archmm_stdin(&["memblock", "-"], b"add 0x100000 1M\nalloc 4K 4K\nexpect result 0x1ff000\ndump\n");
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("0x00000000001ff000\nmemory: cnt=1 max=128 total=0x100000\n"));
    let bad = archmm_stdin(&["memblock", "-"], b"frobnicate 1\n");
    assert_eq!(bad.status.code(), Some(2));
    let wrong = archmm_stdin(&["memblock", "-"], b"add 0x100000 1M\nexpect memory.cnt 2\n");
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn hooks_and_arches_tables() {
    let h = archmm(&["hooks"]);
    assert!(h.status.success());
    let s = stdout(&h);
    assert!(s.contains("zone_limits"));
    assert!(s.contains("x86_64   ISA DMA reaches only 16 MiB"), "{s}");
    let j: serde_json::Value = serde_json::from_slice(&archmm(&["hooks", "--json"]).stdout).expect("json");
    let zl = j.as_array().expect("array").iter().find(|h| h["hook"] == "zone_limits").expect("zone_limits");
    assert_eq!(zl["definitions"], 7, "generic + x86_64, arm64, i386, arm, loongarch64, s390");
    assert!(s.contains("i386     ISA DMA reaches only 16 MiB"), "{s}");
    let a = stdout(&archmm(&["arches"]));
    for n in ["x86_64", "arm64", "riscv64", "i386", "arm ", "loongarch64", "s390", "powerpc"] {
        assert!(a.contains(n));
    }
}

#[test]
fn machine_toml_boots() {
    let t = br#"
arch = "arm64"
kernel = { base = 0x80200000, size = "16M" }
[[bank]]
base = 0x80000000
size = "2G"
node = 0
[[bank]]
base = 0x100000000
size = "2G"
node = 1
hotplug = true
[[reserved]]
base = 0x90000000
size = "1M"
nomap = true
"#;
    // The default arm64 sections (Debian's kernel: 32.6 MiB page-aligned) do not fit a
    // 16 MiB image: refused, naming the image.
    let o = archmm(&["boot", "--machine", tmp("small.toml", t).to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the kernel image [mem 0x80200000-0x811fffff] is smaller than its sections"),
        "{}",
        stderr(&o)
    );
    let t = String::from_utf8_lossy(t).replace(r#"size = "16M""#, r#"size = "40M""#);
    let o = archmm(&["boot", "--machine", tmp("ok.toml", t.as_bytes()).to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("  node   0: [mem 0x0000000090000000-0x00000000900fffff]"), "{s}");
    assert!(s.contains("  node   1: [mem 0x0000000100000000-0x000000017fffffff]"), "{s}");
}

/// ZONE_MOVABLE from kernelcore=/movablecore=, by Linux's find_zone_movable_pfns_for_nodes
/// on QEMU's 8 GiB pc map (2097022 present pages; DMA+DMA32 hold 786302 of them):
/// - kernelcore=4G: 1048576 - 786302 = 262274 pages of Normal stay, Normal starts at
///   0x100000, so ZONE_MOVABLE starts at 0x140082, aligned up to 1024 pages: 0x140400;
/// - kernelcore=50%: 2097022 * 50% = 1048511 -> 0x100000 + 262209 = 0x140041 -> 0x140400;
/// - movablecore=2G: 524288 movable pages, kernelcore 1572734 -> 0x100000 + 786432 = 0x1c0000.
#[test]
fn movable_zone_from_kernelcore_and_movablecore() {
    for (args, start) in [
        (&["--kernelcore", "4G"][..], "0x0000000140400000"),
        (&["--kernelcore", "50%"][..], "0x0000000140400000"),
        (&["--movablecore", "2G"][..], "0x00000001c0000000"),
    ] {
        let mut a = vec!["boot", "--show", "zoneinfo"];
        a.extend_from_slice(args);
        let o = archmm(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        assert!(s.contains(&format!("Movable zone start for each node\n  Node 0: {start}\n")), "{args:?}: {s}");
        let movable = s.split("zone  Movable").nth(1).expect("a Movable zone in zoneinfo");
        let start_pfn = u64::from_str_radix(&start[2..], 16).unwrap() >> 12;
        assert!(movable.contains(&format!("spanned  {}", 0x240000 - start_pfn)), "{movable}");
    }
    let bad = archmm(&["boot", "--kernelcore", "150%"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// archmm walk: the kernel's own table after a boot (in the default or a named kernel
/// mode), a user-half mode's table built over the same memory, an unmapped address, a
/// mode whose arch does not boot.
#[test]
fn walk_traces_levels() {
    let o = archmm(&["walk", "0xffff888100000000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("in x86_64-4level"), "{s}");
    assert!(s.contains("pud [   4]") && s.contains("leaf 1G page at 0x100000000"), "{s}");
    assert!(s.contains("=> 0xffff888100000000 -> 0x100000000"), "{s}");
    // A kernel mode: the machine boots in it (5-level PAGE_OFFSET is 0xff11000000000000).
    let o = archmm(&["walk", "--arch", "x86_64-5level", "0xff11000100000000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("in x86_64-5level") && s.contains("p4d [   0]") && s.contains("-> 0x100000000"), "{s}");
    // A user-half mode: a table of that mode built over the booted machine's memory.
    let o = archmm(&["walk", "--arch", "arm64-4k-48-ttbr0", "--mem", "2G", "0x50000000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("in arm64-4k-48-ttbr0") && stdout(&o).contains("-> 0x50000000"), "{}", stdout(&o));
    // arm64's PAGE_OFFSET is the start of RAM (memstart_addr 0x40000000 on QEMU virt).
    let o = archmm(&["walk", "--arch", "arm64", "--mem", "2G", "0xffff000010000123"]);
    assert!(
        stdout(&o).contains("leaf 4K page at 0x50000000") && stdout(&o).contains("-> 0x50000123"),
        "{}",
        stdout(&o)
    );
    let o = archmm(&["walk", "--arch", "aarch64", "--mem", "2G", "0xffff000000000000"]);
    assert!(stdout(&o).contains("=> 0xffff000000000000 -> 0x40000000"), "{}", stdout(&o));
    let o = archmm(&["walk", "--arch", "riscv64", "--mem", "2G", "0xffffffd800000000"]);
    assert!(stdout(&o).contains("=> 0xffffffd800000000 -> 0x80000000"), "{}", stdout(&o));
    let o = archmm(&["walk", "0xffff888300000000"]);
    assert_eq!(o.status.code(), Some(1), "beyond memory: not mapped");
    assert!(stdout(&o).contains("is not mapped"));
    // s390 runs its kernel in an identity mapping.
    let o = archmm(&["walk", "--arch", "s390x-3level", "--mem", "2G", "0x1000000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("-> 0x1000000"), "{}", stdout(&o));
    // The Rust spellings of the 32-bit and other arches.
    for a in ["x86", "arm", "loongarch64", "s390x", "powerpc64"] {
        let o = archmm(&["boot", "--arch", a, "--mem", "1G"]);
        assert!(o.status.success(), "{a}: {}", stderr(&o));
        assert!(stdout(&o).contains("Memory: "), "{a}");
    }
}

/// Without `--smp`, the CPU count is the firmware's (a device tree's CPU nodes, an e820
/// file's SRAT processor lines), so a capture's firmware data alone gives Linux's per-CPU
/// lines; `--smp` still overrides it.
#[test]
fn cpu_count_defaults_to_the_firmwares() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linux");
    for (capture, flag, file) in
        [("arm64-numa3-dist-6g-smp6", "--dtb", "virt.dtb"), ("x86_64-numa4-8g-smp8", "--e820", "e820.txt")]
    {
        let arch = if flag == "--dtb" { "arm64" } else { "x86_64" };
        let f = data.join(capture).join(file);
        let o = archmm(&["boot", "--arch", arch, flag, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let ours: Vec<String> = stdout(&o)
            .lines()
            .filter(|l| l.starts_with("percpu:") || l.starts_with("pcpu-alloc:") || l.starts_with("setup_percpu:"))
            .map(str::to_string)
            .collect();
        let linux = std::fs::read_to_string(data.join(capture).join("console-extra.txt")).unwrap();
        let want: Vec<String> = linux
            .lines()
            .filter(|l| l.starts_with("percpu:") || l.starts_with("pcpu-alloc:") || l.starts_with("setup_percpu:"))
            .map(str::to_string)
            .collect();
        assert!(want.len() >= 3, "{capture}: {want:?}");
        assert_eq!(ours, want, "{capture}");
        let o = archmm(&["boot", "--arch", arch, flag, f.to_str().unwrap(), "--smp", "1"]);
        assert!(stdout(&o).contains("pcpu-alloc: [0] 0 \n"), "--smp 1 overrides the firmware's count");
    }
    // No CPUs, or more than the per-CPU areas hold: refused before booting, status 2.
    for n in ["0", "257"] {
        let o = archmm(&["boot", "--smp", n]);
        assert_eq!(o.status.code(), Some(2), "--smp {n}");
        assert!(stderr(&o).contains("1..=256"), "{}", stderr(&o));
    }
}

/// Every -m and -numa split QEMU accepts boots; node counts beyond what the arch's Linux
/// takes, or NUMA where the reference kernel or machine has none, are refused with why.
#[test]
fn memory_sizes_and_numa_splits_as_qemu_takes_them() {
    for args in [
        &["--mem", "3071M"][..],
        &["--mem", "127M"],
        &["--mem", "1025M"],
        &["--mem", "4G", "--numa", "3"],
        &["--arch", "arm64", "--mem", "1025M", "--numa", "3"],
        &["--arch", "powerpc", "--mem", "4G", "--numa", "3"],
    ] {
        let o = archmm(&[&["boot"][..], args].concat());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Memory: "), "{args:?}");
    }
    let o = archmm(&["boot", "--mem", "4G", "--numa", "3"]);
    assert_eq!(stdout(&o).matches("Initmem setup node").count(), 3);
    for (args, why) in [
        (
            &["--arch", "arm64", "--numa", "17"][..],
            "arm64's Linux 6.1 takes at most 16 NUMA nodes (CONFIG_NODES_SHIFT=4)",
        ),
        (&["--arch", "riscv64", "--numa", "5"], "riscv64's Linux 6.1 takes at most 4 NUMA nodes"),
        (&["--arch", "s390", "--numa", "2"], "has no NUMA"),
        (&["--arch", "i386", "--numa", "2"], "without CONFIG_NUMA"),
        (&["--arch", "loongarch64", "--numa", "2"], "ACPI SRAT"),
    ] {
        let o = archmm(&[&["boot"][..], args].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
    }
    // Within x86_64's 1024 nodes but beyond archmm's zone table: said so.
    let o = archmm(&["boot", "--mem", "8G", "--numa", "31"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("archmm's page allocator holds 32"), "{}", stderr(&o));
    // Smaller than the kernel's image: refused before anything is printed as booted.
    let o = archmm(&["boot", "--mem", "32M"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the machine is too small for this kernel"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Memory: "));
}
