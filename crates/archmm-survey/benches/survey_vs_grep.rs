//! Whole-survey benchmark: `archmm survey` against the obvious alternative.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p archmm-survey --bench survey_vs_grep [-- TREE]
//! ```
//!
//! The tree is the argument, else `$ARCHMM_LINUX_TREE`, else
//! `/work/linux/linux-source-6.1`; without one the benchmark says so and
//! exits 0. `ARCHMM_BENCH_ITERS` sets the number of timed rounds (5).
//!
//! Each round times, side by side on the same warm page cache, for the
//! talk's 13 symbols:
//!
//! * **survey**: [`archmm_survey::survey`] with default options (parallel
//!   walk, `memmem` pre-filter, parse only candidate files);
//! * **grep-per-symbol**: what one would script: for each symbol,
//!   `git grep --no-index -l -w SYMBOL -- arch include/linux ...` (or
//!   `grep -rlw` without git), then read, parse and group the union of the
//!   files it found, one after the other, with this crate's own
//!   extraction and grouping;
//! * **grep-once**: the same with a single `git grep` for all symbols.
//!
//! It prints the median of each and the ratios (baseline / survey), and
//! checks that all three found the same definitions. It is a measurement,
//! not a pass/fail test: under `cargo test` (no `--bench` argument) it
//! does nothing.

use archmm_survey::extract::{c_parser, extract, Matcher};
use archmm_survey::scan::GENERIC_DIRS;
use archmm_survey::survey::group_symbol;
use archmm_survey::{survey, SurveyOptions, DEFAULT_SYMBOLS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Per symbol, the number of definitions found: what is compared.
type Counts = Vec<(String, usize)>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("survey_vs_grep: a benchmark; run it with `cargo bench` (nothing to do under `cargo test`)");
        return;
    }
    let tree = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("ARCHMM_LINUX_TREE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/work/linux/linux-source-6.1"));
    if !tree.join("arch").is_dir() {
        println!("survey_vs_grep: SKIPPED: no Linux tree at {} (pass one, or set ARCHMM_LINUX_TREE)", tree.display());
        return;
    }
    let iters: usize = std::env::var("ARCHMM_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let syms: Vec<String> = DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect();
    let git = Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success());
    let grep_tool = if git { "git grep --no-index" } else { "grep -r" };

    // Warm the page cache and check that the three agree.
    let a = run_survey(&tree, &syms);
    let b = run_grep(&tree, &syms, git, false);
    let c = run_grep(&tree, &syms, git, true);
    if a != b || a != c {
        println!("survey_vs_grep: WARNING: results differ\n survey: {a:?}\n grep per symbol: {b:?}\n grep once: {c:?}");
    }

    let (mut ts, mut tb, mut tc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters {
        ts.push(time(|| run_survey(&tree, &syms)));
        tb.push(time(|| run_grep(&tree, &syms, git, false)));
        tc.push(time(|| run_grep(&tree, &syms, git, true)));
    }
    let (ms, mb, mc) = (median(&mut ts), median(&mut tb), median(&mut tc));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "survey_vs_grep: {} ({} symbols, {cores} cores, warm cache, median of {iters})",
        tree.display(),
        syms.len()
    );
    let rows = [
        ("archmm survey".to_string(), ms),
        (format!("{grep_tool} per symbol + same grouping"), mb),
        (format!("{grep_tool} once + same grouping"), mc),
    ];
    for (name, t) in rows {
        println!("  {name:<50} {:>8.3} s", t.as_secs_f64());
    }
    println!("  ratio grep-per-symbol / survey: {:.2}x", mb.as_secs_f64() / ms.as_secs_f64());
    println!("  ratio grep-once / survey:       {:.2}x", mc.as_secs_f64() / ms.as_secs_f64());
    println!("  definitions: {}", a.iter().map(|(s, n)| format!("{s}={n}")).collect::<Vec<_>>().join(" "));
}

/// Runs `f` once and returns how long it took.
fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The survey through the library, as `archmm survey` runs it.
fn run_survey(tree: &Path, syms: &[String]) -> Counts {
    let t = survey(&[tree.to_path_buf()], syms, &SurveyOptions::default(), &mut |_| {}).unwrap();
    t[0].symbols.iter().map(|s| (s.symbol.clone(), s.definitions)).collect()
}

/// The directories both approaches search, relative to the tree.
fn dirs() -> Vec<&'static str> {
    let mut d = vec!["arch"];
    d.extend(GENERIC_DIRS);
    d
}

/// Files (relative, `.c`/`.h`, under arch/*/ or the generic directories)
/// that mention any of `pats` as a whole word, per grep.
fn grep_files(tree: &Path, pats: &[&str], git: bool) -> Vec<String> {
    let mut cmd = if git {
        let mut c = Command::new("git");
        c.args(["grep", "--no-index", "-l", "-w"]);
        c
    } else {
        let mut c = Command::new("grep");
        c.args(["-r", "-l", "-w", "--include=*.c", "--include=*.h"]);
        c
    };
    for p in pats {
        cmd.args(["-e", p]);
    }
    cmd.arg("--").args(dirs()).current_dir(tree);
    let out = cmd.output().expect("grep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|f| f.ends_with(".c") || f.ends_with(".h"))
        .filter(|f| !f.starts_with("arch/") || f.matches('/').count() >= 2)
        .map(str::to_string)
        .collect()
}

/// grep to find the files, then the same extraction and grouping as the
/// survey, one file after the other.
fn run_grep(tree: &Path, syms: &[String], git: bool, once: bool) -> Counts {
    let mut files = BTreeSet::new();
    if once {
        let pats: Vec<&str> = syms.iter().map(String::as_str).collect();
        files.extend(grep_files(tree, &pats, git));
    } else {
        for s in syms {
            files.extend(grep_files(tree, &[s.as_str()], git));
        }
    }
    let matcher = Matcher::new(syms);
    let mut parser = c_parser();
    let mut raw: Vec<Vec<_>> = syms.iter().map(|_| Vec::new()).collect();
    for f in &files {
        let Ok(src) = std::fs::read(tree.join(f)) else {
            continue;
        };
        if memchr::memchr(0, &src).is_some() {
            continue;
        }
        let (occ, have) = matcher.occurrences(&src);
        let Some(scan) = extract(&src, &occ, &have, syms, &mut parser) else {
            continue;
        };
        let arch = f.strip_prefix("arch/").and_then(|r| r.split('/').next()).map(str::to_string);
        for d in scan.defs {
            raw[d.symbol].push((arch.clone(), f.clone(), d));
        }
    }
    syms.iter().zip(raw).map(|(s, r)| (s.clone(), group_symbol(s, r, Vec::new()).definitions)).collect()
}
