//! Linux 6.1's own mm/memblock.c against archmm's memblock, on random scripts.
//!
//! The test builds `tests/linux_memblock/driver.c` (archmm's script language in front of
//! Linux's code) with the memblock.c and the user-space shims (tools/testing/memblock) of
//! the Linux 6.1 tree that the README's test command unpacks, then runs the same scripts
//! through both and requires identical output: every allocation's address or NULL, every
//! refused call, and `dump_all` (both region arrays, every region's base, size, node and
//! flags, cnt, max, totals) after each script and in the middle of many.
//!
//! The tree is `$ARCHMM_LINUX_TREE`, else `/var/tmp/archmm-ci/linux-source-6.1` (where
//! `scripts/setup-tests` unpacks Debian's linux-source-6.1). Without it, or without a C
//! compiler, the test fails: it is never skipped.
//!
//! Linux's memblock writes to what it allocates (zeroing, grown arrays) and its "physical"
//! addresses are process addresses, so every script keeps its memory inside the driver's
//! mapped window (`WINDOW`, 1 GiB); reservations and limits may lie anywhere.
//!
//! `ARCHMM_MEMBLOCK_DIFF_SCRIPTS=N` runs N scripts instead of 10,000 and
//! `ARCHMM_MEMBLOCK_DIFF_SEED=S` starts from another seed (it is printed on failure).

use archmm_host::script::ScriptRunner;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const WINDOW: u64 = 0x1000_0000_0000;
const WINDOW_SIZE: u64 = 1 << 30;
const DEFAULT_TREE: &str = "/var/tmp/archmm-ci/linux-source-6.1";

fn linux_tree() -> PathBuf {
    let tree = std::env::var_os("ARCHMM_LINUX_TREE").map(PathBuf::from).unwrap_or_else(|| DEFAULT_TREE.into());
    assert!(
        tree.join("mm/memblock.c").is_file() && tree.join("tools/testing/memblock/internal.h").is_file(),
        "no Linux 6.1 tree at {} (mm/memblock.c, tools/testing/memblock): run scripts/setup-tests, \
         or set ARCHMM_LINUX_TREE",
        tree.display()
    );
    tree
}

/// Build the driver once per test process; returns its path.
fn driver() -> &'static Path {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let tree = linux_tree();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/linux_memblock/driver.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-memblock");
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["linux", "asm"] {
            std::fs::create_dir_all(dir.join(d)).expect("build directory");
        }
        // The layout tools/testing/memblock/Makefile makes: memblock.c beside the shims'
        // internal.h (memblock.c's #include "internal.h" must find the shim), and the
        // kernel's linux/memblock.h plus tools' x86 asm headers.
        let links = [
            ("memblock.c", tree.join("mm/memblock.c")),
            ("internal.h", tree.join("tools/testing/memblock/internal.h")),
            ("linux/memblock.h", tree.join("include/linux/memblock.h")),
            ("asm/asm.h", tree.join("tools/arch/x86/include/asm/asm.h")),
            ("asm/cmpxchg.h", tree.join("tools/arch/x86/include/asm/cmpxchg.h")),
        ];
        for (name, target) in &links {
            std::os::unix::fs::symlink(target, dir.join(name)).expect("symlink");
        }
        std::fs::copy(&src, dir.join("driver.c")).expect("copy driver.c");
        let exe = dir.join("linux-memblock");
        let shims = tree.join("tools/testing/memblock");
        let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .current_dir(&dir)
            .arg(format!("-I{}", dir.display()))
            .arg(format!("-I{}", shims.display()))
            .arg(format!("-I{}", tree.join("tools/include").display()))
            .args(["-O2", "-w", "-DCONFIG_PHYS_ADDR_T_64BIT", "-DCONFIG_NUMA", "-DCONFIG_NODES_SHIFT=10"])
            .arg("driver.c")
            .arg(shims.join("lib/slab.c"))
            .arg(shims.join("mmzone.c"))
            .arg(tree.join("tools/lib/slab.c"))
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("a C compiler (cc) must be installed: run scripts/setup-tests");
        assert!(out.status.success(), "building Linux's memblock.c failed:\n{}", String::from_utf8_lossy(&out.stderr));
        exe
    })
}

/// Run `batch` (scripts each starting with `reset`) through Linux; one output per script.
fn run_linux(batch: &str) -> Vec<String> {
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("linux-memblock")
        .join(format!("batch-{:?}.mbt", std::thread::current().id()));
    let _ = std::fs::write(&saved, batch);
    let mut child = Command::new(driver())
        .args(["--batch", "--window", &format!("{WINDOW:#x}"), &format!("{WINDOW_SIZE:#x}"), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run linux-memblock");
    let mut stdin = child.stdin.take().expect("stdin");
    let text = batch.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("linux-memblock output");
    let written = writer.join().expect("writer");
    assert!(
        out.status.success(),
        "linux-memblock failed ({}) on {}: {}",
        out.status,
        saved.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    written.expect("write scripts");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut parts: Vec<String> = text.split("=== reset\n").map(str::to_owned).collect();
    assert_eq!(parts.remove(0), "", "output before the first reset");
    parts
}

/// What both sides must agree on: every line, with a refused call's line number and
/// message (which differ in wording) cut to `error: CALL`.
fn normalise(out: &str) -> String {
    let mut s = String::new();
    for l in out.lines() {
        if let Some(rest) = l.strip_prefix("error: line ") {
            let call = rest.split(": ").nth(1).unwrap_or("");
            let _ = writeln!(s, "error: {call}");
        } else {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}

fn run_archmm(script: &str) -> String {
    let out = ScriptRunner::new(false).run(script);
    assert_eq!(out.syntax_errors, 0, "generated script is malformed:\n{script}\n{}", out.output);
    out.output
}

/// A small, fast, seedable generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Random well-formed scripts over the whole call set, with memory inside the window.
struct Gen<'a> {
    r: &'a mut Rng,
    s: String,
    /// Span of the window this script uses (so ranges overlap often).
    span: u64,
    /// `allow_resize` was called: the arrays may now live in memory memblock reserved for
    /// them, which a well-formed script never frees (it would free memblock's own array).
    resizable: bool,
    /// Ranges the script reserved before any array could grow, which it may free once
    /// each: nothing of memblock's own can lie in them (a range reserved after growth may
    /// cover a grown array, and freeing it would free memblock's array under it, which no
    /// well-formed caller does and which corrupts Linux's memblock).
    reserved: Vec<(u64, u64)>,
}

impl Gen<'_> {
    fn line(&mut self, l: std::fmt::Arguments<'_>) {
        let _ = self.s.write_fmt(l);
        self.s.push('\n');
    }
    /// An address in the script's span: mostly on a coarse grid (so ranges meet and
    /// overlap), sometimes page-aligned anywhere, sometimes unaligned.
    fn addr(&mut self) -> u64 {
        let off = match self.r.below(10) {
            0..=4 => self.r.below(64) * (self.span / 64),
            5..=7 => self.r.below(self.span >> 12) << 12,
            _ => self.r.below(self.span),
        };
        WINDOW + off
    }
    fn size(&mut self) -> u64 {
        match self.r.below(10) {
            0..=3 => (1 + self.r.below(16)) << 12,
            4..=6 => (1 + self.r.below(8)) * (self.span / 64),
            7 => 1 + self.r.below(0x3000),
            8 => (1 + self.r.below(4)) << 20,
            _ => self.r.below(self.span / 2) + 1,
        }
    }
    /// A range with its end inside the window (for memory).
    fn mem_range(&mut self) -> (u64, u64) {
        let base = self.addr();
        let room = WINDOW + WINDOW_SIZE - base;
        (base, self.size().min(room))
    }
    fn nid(&mut self) -> &'static str {
        self.r.pick(&["0", "1", "2", "3", "-1", "x"])
    }
    fn flags(&mut self) -> &'static str {
        self.r.pick(&[
            "0",
            "NONE",
            "HOTPLUG",
            "MIRROR",
            "NOMAP",
            "DRIVER_MANAGED",
            "HOTPLUG|NOMAP",
            "0x3",
            "MIRROR|NOMAP",
            "0xf",
        ])
    }
    fn align(&mut self) -> u64 {
        self.r.pick(&[0, 1, 8, 64, 4096, 4096, 4096, 0x1_0000, 0x10_0000, 0x20_0000])
    }
    fn alloc_size(&mut self) -> u64 {
        match self.r.below(6) {
            0 => 1 + self.r.below(200),
            1 | 2 => (1 + self.r.below(8)) << 12,
            3 => (1 + self.r.below(4)) << 20,
            4 => self.r.below(self.span / 8) + 1,
            _ => self.span,
        }
    }
    /// A limit: 0 (accessible), anywhere, or an address around the span.
    fn limit(&mut self) -> u64 {
        match self.r.below(6) {
            0 => 0,
            1 => u64::MAX,
            _ => self.addr(),
        }
    }

    fn op(&mut self) {
        let r = self.r.below(100);
        match r {
            0..=11 => {
                let (b, s) = self.mem_range();
                self.line(format_args!("add {b:#x} {s:#x}"));
            }
            12..=19 => {
                let (b, s) = self.mem_range();
                let (nid, fl) = (self.nid(), self.flags());
                self.line(format_args!("add_node {b:#x} {s:#x} {nid} {fl}"));
            }
            20..=29 => {
                let (b, s) = (self.addr(), self.size());
                let call = if self.r.chance(15) { "reserve_kern" } else { "reserve" };
                if !self.resizable {
                    self.reserved.push((b, s));
                }
                self.line(format_args!("{call} {b:#x} {s:#x}"));
            }
            30..=33 => {
                let (b, s) = (self.addr(), self.size());
                self.line(format_args!("remove {b:#x} {s:#x}"));
            }
            34..=38 => {
                // Anywhere while the arrays are inline; once they may have grown, only
                // (part of) what the script reserved itself.
                let (b, s) = if !self.resizable {
                    (self.addr(), self.size())
                } else if let Some(&(b, s)) =
                    self.reserved.get(self.r.below(self.reserved.len().max(1) as u64) as usize)
                {
                    // Once freed, that memory may be reused for an array: never free it,
                    // or anything overlapping it, again.
                    self.reserved.retain(|&(x, y)| x.saturating_add(y) <= b || b.saturating_add(s) <= x);
                    let off = self.r.below(s);
                    (b + off, 1 + self.r.below(s - off))
                } else {
                    return;
                };
                self.line(format_args!("free {b:#x} {s:#x}"));
            }
            39..=45 => {
                let call = self.r.pick(&["mark_hotplug", "clear_hotplug", "mark_mirror", "mark_nomap", "clear_nomap"]);
                let (b, s) = (self.addr(), self.size());
                self.line(format_args!("{call} {b:#x} {s:#x}"));
            }
            46..=49 => {
                let (b, s) = (self.addr(), self.size());
                let t = self.r.pick(&["memory", "reserved"]);
                let nid = self.nid();
                self.line(format_args!("set_node {b:#x} {s:#x} {t} {nid}"));
            }
            50..=52 => {
                let v = self.r.below(2);
                self.line(format_args!("set_bottom_up {v}"));
            }
            53..=55 => {
                let l = if self.r.chance(30) { u64::MAX } else { self.addr() };
                self.line(format_args!("set_current_limit {l:#x}"));
            }
            56 => {
                self.resizable = true;
                self.line(format_args!("allow_resize"))
            }
            57 => {
                let a = self.r.pick(&[4096u64, 0x1_0000, 0x10_0000, 0x20_0000]);
                self.line(format_args!("trim_memory {a:#x}"));
            }
            58..=97 => {
                let (size, align) = (self.alloc_size(), self.align());
                match self.r.below(7) {
                    0 => self.line(format_args!("alloc {size:#x} {align:#x}")),
                    1 => self.line(format_args!("alloc_raw {size:#x} {align:#x}")),
                    2 => {
                        let min = self.addr();
                        self.line(format_args!("alloc_from {size:#x} {align:#x} {min:#x}"))
                    }
                    3 => {
                        let (a, b) = (self.limit(), self.limit());
                        self.line(format_args!("phys_alloc_range {size:#x} {align:#x} {a:#x} {b:#x}"))
                    }
                    k => {
                        let call = ["alloc_try_nid", "alloc_try_nid_raw", "alloc_exact_nid_raw"][k as usize - 4];
                        let min = if self.r.chance(40) { 0 } else { self.addr() };
                        let max = self.limit();
                        let nid = self.nid();
                        self.line(format_args!("{call} {size:#x} {align:#x} {min:#x} {max:#x} {nid}"))
                    }
                }
            }
            _ => self.line(format_args!("dump_all")),
        }
    }
}

/// One random script. Kinds: a short mixed one; one that grows the memory and reserved
/// arrays past 128 regions (with resizing allowed or not); a NUMA-heavy one.
fn script(r: &mut Rng) -> String {
    let span = r.pick(&[1u64 << 20, 16 << 20, 256 << 20, WINDOW_SIZE]);
    let mut g = Gen { r, s: String::from("reset\n"), span, resizable: false, reserved: Vec::new() };
    match g.r.below(10) {
        0 | 1 => {
            // Growth: many disjoint memory regions and reservations.
            if g.r.chance(80) {
                g.resizable = true;
                g.line(format_args!("allow_resize"));
            }
            let regions = 100 + g.r.below(300);
            let step = (WINDOW_SIZE / 512) & !0xfff;
            for i in 0..regions {
                let base = WINDOW + i * step;
                let len = 0x1000 * (1 + g.r.below(step / 0x2000));
                // Reserved before its memory exists, so no grown array can lie under it.
                if g.r.chance(60) {
                    g.reserved.push((base + 0x800, 0x800));
                    g.line(format_args!("reserve {:#x} 0x800", base + 0x800));
                }
                if g.r.chance(50) {
                    let nid = g.r.below(4);
                    g.line(format_args!("add_node {base:#x} {len:#x} {nid} 0"));
                } else {
                    g.line(format_args!("add {base:#x} {len:#x}"));
                }
            }
            for _ in 0..g.r.below(40) {
                g.op();
            }
        }
        2 | 3 => {
            for n in 0..4u64 {
                let base = WINDOW + n * (span / 4);
                g.line(format_args!("add_node {base:#x} {:#x} {n} 0", span / 4));
            }
            for _ in 0..(5 + g.r.below(60)) {
                g.op();
            }
        }
        _ => {
            for _ in 0..(1 + g.r.below(4)) {
                let (b, s) = g.mem_range();
                g.line(format_args!("add {b:#x} {s:#x}"));
            }
            for _ in 0..(5 + g.r.below(60)) {
                g.op();
            }
        }
    }
    g.line(format_args!("dump_all"));
    g.s
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        let v = v.trim();
        v.strip_prefix("0x").map_or_else(|| v.parse(), |h| u64::from_str_radix(h, 16)).expect("a number")
    })
}

/// `dump_all` output's last region lists are sorted, disjoint and non-empty.
fn consistent(dump: &str) -> bool {
    let last = dump.rsplit("MEMBLOCK configuration:").next().unwrap_or("");
    for t in ["memory", "reserved"] {
        let mut prev_end = 0u64;
        let regions: Vec<(u64, u64)> = last
            .lines()
            .filter(|l| l.starts_with(&format!(" {t}[")))
            .filter_map(|l| {
                let r = l.split('[').nth(2)?.split(']').next()?;
                let (a, b) = r.split_once('-')?;
                Some((u64::from_str_radix(&a[2..], 16).ok()?, u64::from_str_radix(&b[2..], 16).ok()?))
            })
            .collect();
        for (i, &(s, e)) in regions.iter().enumerate() {
            if regions.len() > 1 && (e < s || (i > 0 && s < prev_end)) {
                return false;
            }
            prev_end = e.wrapping_add(1);
        }
    }
    true
}

/// Compare archmm with Linux on `scripts`; panic with the first difference. Returns how
/// many scripts made Linux BUG() or corrupt its arrays: there the outputs must agree up to
/// that point, and archmm's arrays must still be consistent at the end of the script.
fn compare(scripts: &[String], what: &str) -> usize {
    let linux = run_linux(&scripts.concat());
    assert_eq!(linux.len(), scripts.len(), "{what}: one output per script");
    let mut bugs = 0;
    for (i, (s, l)) in scripts.iter().zip(&linux).enumerate() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-memblock");
        let raw = match std::panic::catch_unwind(|| run_archmm(s)) {
            Ok(a) => a,
            Err(_) => {
                let _ = std::fs::write(dir.join("failing.mbt"), s);
                panic!("{what}: archmm panicked on script {i} (saved as {})", dir.join("failing.mbt").display());
            }
        };
        let a = normalise(&raw);
        let l = normalise(l);
        let (a_cmp, l_cmp) = match l.lines().position(|x| x.starts_with("BUG: ")) {
            Some(k) => {
                bugs += 1;
                assert!(consistent(&raw), "{what}: script {i}: archmm's arrays are inconsistent after it:\n{s}");
                (a.lines().take(k).collect::<Vec<_>>().join("\n"), l.lines().take(k).collect::<Vec<_>>().join("\n"))
            }
            None => (a.clone(), l.clone()),
        };
        if a_cmp != l_cmp {
            let line =
                a.lines().zip(l.lines()).position(|(x, y)| x != y).unwrap_or(a.lines().count().min(l.lines().count()));
            let _ = std::fs::write(dir.join("failing.mbt"), s);
            panic!(
                "{what}: script {i} differs at output line {line} (script saved as {}):\n\
                 --- archmm\n{}\n--- Linux 6.1\n{}\n--- script\n{s}",
                dir.join("failing.mbt").display(),
                a.lines().skip(line.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n"),
                l.lines().skip(line.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n"),
            );
        }
    }
    bugs
}

#[test]
fn random_scripts_agree_with_linux_memblock() {
    let n = env_u64("ARCHMM_MEMBLOCK_DIFF_SCRIPTS").unwrap_or(10_000);
    let seed = env_u64("ARCHMM_MEMBLOCK_DIFF_SEED").unwrap_or(0x6_1_0_0);
    let mut r = Rng(seed);
    let scripts: Vec<String> = (0..n).map(|_| script(&mut r)).collect();
    // What the scripts cover, so a generator change cannot quietly drop a call.
    let all = scripts.concat();
    for call in [
        "add ",
        "add_node ",
        "reserve ",
        "reserve_kern ",
        "remove ",
        "free ",
        "mark_hotplug ",
        "clear_hotplug ",
        "mark_mirror ",
        "mark_nomap ",
        "clear_nomap ",
        "set_node ",
        "set_bottom_up 1",
        "set_current_limit ",
        "allow_resize",
        "trim_memory ",
        "alloc ",
        "alloc_raw ",
        "alloc_from ",
        "phys_alloc_range ",
        "alloc_try_nid ",
        "alloc_try_nid_raw ",
        "alloc_exact_nid_raw ",
    ] {
        assert!(all.lines().any(|l| l.starts_with(call)), "no script calls `{call}`");
    }
    let mut bugs = 0;
    for chunk in scripts.chunks(500) {
        bugs += compare(chunk, &format!("seed {seed:#x}"));
    }
    eprintln!("{n} scripts from seed {seed:#x} agree; {bugs} of them made Linux BUG() or corrupt its arrays (archmm stayed consistent)");
    // The arrays did grow past 128 regions, on both sides, in some scripts.
    let grown = scripts.iter().filter(|s| run_archmm(s).contains(" memory.cnt  = 0x1")).count();
    assert!(grown > 0, "no script grew memblock.memory past 128 regions");
}

#[test]
fn a_difference_is_reported() {
    // The comparison must be able to fail: Linux's output for a script against archmm's
    // for a different one.
    let a = format!("reset\nadd {WINDOW:#x} 0x100000\nalloc 0x1000 0x1000\n");
    let b = format!("reset\nadd {WINDOW:#x} 0x100000\nset_bottom_up 1\nalloc 0x1000 0x1000\n");
    let linux = run_linux(&a);
    assert_ne!(normalise(&linux[0]), normalise(&run_archmm(&b)));
    assert_eq!(normalise(&linux[0]), normalise(&run_archmm(&a)));
    assert_eq!(linux[0], format!("{:#018x}\n", WINDOW + 0xff000));
}
