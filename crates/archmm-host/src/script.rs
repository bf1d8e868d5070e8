//! `archmm memblock SCRIPT`: drive memblock one call per line.
//!
//! Each line is one of Linux's memblock functions without the `memblock_` prefix, with
//! numbers in hex (`0x..`) or decimal and an optional `K`/`M`/`G`/`T` suffix (powers of
//! 1024). `#` starts a comment. The machine's memory starts empty, as in Linux's
//! tools/testing/memblock, so a script sets up any layout it wants.
//!
//! `reserve_kern BASE SIZE` is the kernel image's reservation: in Linux 6.1 (the model) a
//! plain `memblock_reserve`, so it merges with allocations next to it (newer kernels flag
//! both RSRV_KERN, with the same result).
//!
//! Output: each allocation prints its address as `0x` + 16 hex digits or `NULL`; `dump`
//! prints `memory: cnt=N max=M total=T` and `reserved: ...` each followed by its regions in
//! the debugfs format of newer kernels (6.1 prints only the range), which names one flag
//! per region, the lowest (`HOTPLUG|NOMAP` shows as `HOTPLUG`); `dump_all` prints Linux's
//! `MEMBLOCK configuration:` block with every flag bit and node. A call
//! Linux would reject prints `error: line N: ...` and the script goes on with memblock
//! unchanged. `expect` lines (our addition, for conformance tests and bug reports) check
//! the state and print `expect failed: line N: ...` when it differs.

use crate::backing::SparseMem;
use archmm::addr::PhysAddr;
use archmm::memblock::{Memblock, MemblockFlags, Region, RegionType, MAX_NUMNODES};
use archmm::physmem::PhysMem;
use std::fmt::Write;

/// Parse a number: `0x1f`, `31`, `4K`, `0x10M`, `-1`.
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    let (body, shift) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 10),
        'm' | 'M' => (&s[..s.len() - 1], 20),
        'g' | 'G' => (&s[..s.len() - 1], 30),
        't' | 'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16).ok()?
    } else {
        body.replace('_', "").parse::<u64>().ok()?
    };
    v.checked_mul(1u64 << shift)
}

fn parse_nid(s: &str) -> Option<i32> {
    let s = s.trim();
    if s == "x" {
        return Some(MAX_NUMNODES);
    }
    if let Some(n) = s.strip_prefix('-') {
        return i32::try_from(parse_num(n)?).ok().map(|v| -v);
    }
    i32::try_from(parse_num(s)?).ok()
}

/// Result of the last call, for `expect result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LastResult {
    None,
    Ok,
    Error,
    Addr(Option<u64>),
}

/// Outcome of a whole script.
#[derive(Debug, Default)]
pub struct ScriptOutcome {
    /// What the script printed.
    pub output: String,
    /// Lines that could not be parsed.
    pub syntax_errors: usize,
    /// Calls memblock refused (expected behaviour for some scripts).
    pub call_errors: usize,
    /// `expect` lines that failed.
    pub expect_failures: usize,
}

impl ScriptOutcome {
    /// The process exit status: 2 for malformed lines, 1 for failed expectations, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.syntax_errors > 0 {
            2
        } else if self.expect_failures > 0 {
            1
        } else {
            0
        }
    }
}

/// One script run: a fresh memblock over a fresh sparse memory.
#[derive(Debug)]
pub struct ScriptRunner {
    mb: Memblock<&'static SparseMem>,
    last: LastResult,
    out: ScriptOutcome,
    debug: bool,
}

fn fresh(debug: bool) -> Memblock<&'static SparseMem> {
    // The runner's memory lives as long as the process; leaking one small store per reset
    // keeps Memblock free of lifetimes in this front end.
    let mem: &'static SparseMem = Box::leak(Box::new(SparseMem::new()));
    let mut mb = Memblock::new(mem);
    // Scripts can exercise mark_mirror: behave as if booted with kernelcore=mirror.
    mb.mirrored_kernelcore = true;
    mb.set_debug(debug);
    mb
}

const USAGE: &str = "add BASE SIZE | add_node BASE SIZE NID FLAGS | reserve BASE SIZE | reserve_kern BASE SIZE | \
remove BASE SIZE | free BASE SIZE | mark_hotplug|clear_hotplug|mark_mirror|mark_nomap|clear_nomap BASE SIZE | \
set_node BASE SIZE memory|reserved NID | set_bottom_up 0|1 | set_current_limit ADDR | allow_resize | \
trim_memory ALIGN | alloc SIZE ALIGN | alloc_raw SIZE ALIGN | alloc_from SIZE ALIGN MIN | \
alloc_try_nid[_raw] SIZE ALIGN MIN MAX NID | alloc_exact_nid_raw SIZE ALIGN MIN MAX NID | \
phys_alloc_range SIZE ALIGN START END | dump | dump_all | reset | expect ...";

impl ScriptRunner {
    /// A runner; `debug` turns on the memblock=debug trace (through the `log` facade).
    pub fn new(debug: bool) -> Self {
        Self { mb: fresh(debug), last: LastResult::None, out: ScriptOutcome::default(), debug }
    }

    /// Run every line of `text` and return what happened.
    pub fn run(mut self, text: &str) -> ScriptOutcome {
        for (i, line) in text.lines().enumerate() {
            self.line(i + 1, line);
        }
        self.out
    }

    fn syntax(&mut self, n: usize, msg: &str) {
        self.out.syntax_errors += 1;
        let _ = writeln!(self.out.output, "error: line {n}: {msg}");
    }

    fn line(&mut self, n: usize, raw: &str) {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            return;
        }
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        if cmd == "expect" {
            self.expect(n, &args);
            return;
        }
        let nums: Option<Vec<u64>> = match cmd {
            "add_node" | "alloc_try_nid" | "alloc_try_nid_raw" | "alloc_exact_nid_raw" | "set_node" => Some(vec![]),
            _ => args.iter().map(|a| parse_num(a)).collect(),
        };
        let Some(nums) = nums else {
            self.syntax(n, &format!("bad number in `{line}`"));
            return;
        };
        let want = |k: usize| nums.len() == k;
        macro_rules! arity {
            ($k:expr) => {
                if !want($k) {
                    self.syntax(n, &format!("`{cmd}` takes {} argument(s): {line}", $k));
                    return;
                }
            };
        }
        let res: Result<(), archmm::memblock::MemblockError> = match cmd {
            "reset" => {
                arity!(0);
                self.mb = fresh(self.debug);
                Ok(())
            }
            "add" => {
                arity!(2);
                self.mb.add(nums[0], nums[1])
            }
            "add_node" => {
                if args.len() != 4 {
                    self.syntax(n, &format!("`add_node` takes BASE SIZE NID FLAGS: {line}"));
                    return;
                }
                let (Some(b), Some(s), Some(nid), Some(fl)) =
                    (parse_num(args[0]), parse_num(args[1]), parse_nid(args[2]), MemblockFlags::parse(args[3]))
                else {
                    self.syntax(n, &format!("bad argument in `{line}`"));
                    return;
                };
                self.mb.add_node(b, s, nid, fl)
            }
            "reserve" => {
                arity!(2);
                self.mb.reserve(nums[0], nums[1])
            }
            "reserve_kern" => {
                // The kernel image's reservation. Linux 6.1 has no memblock_reserve_kern
                // and no RSRV_KERN flag: the image is a plain reservation, so it merges
                // with an allocation placed next to it.
                arity!(2);
                self.mb.reserve(nums[0], nums[1])
            }
            "remove" => {
                arity!(2);
                self.mb.remove(nums[0], nums[1])
            }
            "free" | "phys_free" => {
                arity!(2);
                self.mb.phys_free(nums[0], nums[1])
            }
            "mark_hotplug" => {
                arity!(2);
                self.mb.mark_hotplug(nums[0], nums[1])
            }
            "clear_hotplug" => {
                arity!(2);
                self.mb.clear_hotplug(nums[0], nums[1])
            }
            "mark_mirror" => {
                arity!(2);
                self.mb.mark_mirror(nums[0], nums[1])
            }
            "mark_nomap" => {
                arity!(2);
                self.mb.mark_nomap(nums[0], nums[1])
            }
            "clear_nomap" => {
                arity!(2);
                self.mb.clear_nomap(nums[0], nums[1])
            }
            "set_node" => {
                let t = match args.get(2).copied() {
                    Some("memory") => RegionType::Memory,
                    Some("reserved") => RegionType::Reserved,
                    _ => {
                        self.syntax(n, &format!("`set_node` takes BASE SIZE memory|reserved NID: {line}"));
                        return;
                    }
                };
                let (Some(b), Some(s), Some(nid)) = (
                    args.first().and_then(|a| parse_num(a)),
                    args.get(1).and_then(|a| parse_num(a)),
                    args.get(3).and_then(|a| parse_nid(a)),
                ) else {
                    self.syntax(n, &format!("bad argument in `{line}`"));
                    return;
                };
                self.mb.set_node(b, s, t, nid)
            }
            "set_bottom_up" => {
                arity!(1);
                if nums[0] > 1 {
                    self.syntax(n, &format!("`set_bottom_up` takes 0 or 1: {line}"));
                    return;
                }
                self.mb.set_bottom_up(nums[0] == 1);
                Ok(())
            }
            "set_current_limit" => {
                arity!(1);
                self.mb.set_current_limit(nums[0]);
                Ok(())
            }
            "allow_resize" => {
                arity!(0);
                self.mb.allow_resize();
                Ok(())
            }
            "trim_memory" => {
                arity!(1);
                if !nums[0].is_power_of_two() {
                    Err(archmm::memblock::MemblockError::BadAlign(nums[0]))
                } else {
                    self.mb.trim_memory(nums[0]);
                    Ok(())
                }
            }
            "alloc"
            | "alloc_raw"
            | "alloc_from"
            | "phys_alloc_range"
            | "alloc_try_nid"
            | "alloc_try_nid_raw"
            | "alloc_exact_nid_raw" => {
                self.alloc(n, cmd, line, &args);
                return;
            }
            "dump" => {
                arity!(0);
                self.dump();
                return;
            }
            "dump_all" => {
                arity!(0);
                let mut s = String::new();
                let _ = self.mb.write_dump_all(&mut s);
                self.out.output.push_str(&s);
                return;
            }
            _ => {
                self.syntax(n, &format!("unknown call `{cmd}`; calls: {USAGE}"));
                return;
            }
        };
        match res {
            Ok(()) => self.last = LastResult::Ok,
            Err(e) => {
                self.last = LastResult::Error;
                self.out.call_errors += 1;
                let _ = writeln!(self.out.output, "error: line {n}: {cmd}: {e}");
            }
        }
    }

    fn alloc(&mut self, n: usize, cmd: &str, line: &str, args: &[&str]) {
        let k = match cmd {
            "alloc" | "alloc_raw" => 2,
            "alloc_from" => 3,
            "phys_alloc_range" => 4,
            _ => 5,
        };
        if args.len() != k {
            self.syntax(n, &format!("`{cmd}` takes {k} arguments: {line}"));
            return;
        }
        let mut v = [0u64; 4];
        for i in 0..k.min(4) {
            match parse_num(args[i]) {
                Some(x) => v[i] = x,
                None => {
                    self.syntax(n, &format!("bad number `{}` in `{line}`", args[i]));
                    return;
                }
            }
        }
        let nid = if k == 5 {
            match parse_nid(args[4]) {
                Some(x) => x,
                None => {
                    self.syntax(n, &format!("bad node id `{}` in `{line}`", args[4]));
                    return;
                }
            }
        } else {
            -1
        };
        if v[1] != 0 && !v[1].is_power_of_two() {
            // Linux would BUG in round_down with a non-power-of-two alignment.
            self.last = LastResult::Error;
            self.out.call_errors += 1;
            let _ = writeln!(self.out.output, "error: line {n}: {cmd}: alignment {:#x} is not a power of two", v[1]);
            return;
        }
        let r = match cmd {
            "alloc" => self.mb.alloc(v[0], v[1]),
            "alloc_raw" => self.mb.alloc_raw(v[0], v[1]),
            "alloc_from" => self.mb.alloc_from(v[0], v[1], v[2]),
            "phys_alloc_range" => self.mb.phys_alloc_range(v[0], v[1], v[2], v[3]),
            "alloc_try_nid" => self.mb.alloc_try_nid(v[0], v[1], v[2], v[3], nid),
            "alloc_try_nid_raw" => self.mb.alloc_try_nid_raw(v[0], v[1], v[2], v[3], nid),
            _ => self.mb.alloc_exact_nid_raw(v[0], v[1], v[2], v[3], nid),
        };
        self.last = LastResult::Addr(r);
        match r {
            Some(a) => {
                let _ = writeln!(self.out.output, "{a:#018x}");
            }
            None => {
                let _ = writeln!(self.out.output, "NULL");
            }
        }
    }

    fn dump(&mut self) {
        for t in [RegionType::Memory, RegionType::Reserved] {
            let _ = writeln!(
                self.out.output,
                "{}: cnt={} max={} total={:#x}",
                t.name(),
                self.mb.cnt(t),
                self.mb.max(t),
                self.mb.total_size(t)
            );
            let mut s = String::new();
            let _ = self.mb.write_debugfs(t, &mut s);
            self.out.output.push_str(&s);
        }
    }

    fn fail(&mut self, n: usize, what: &str, want: &str, got: &str) {
        self.out.expect_failures += 1;
        let _ = writeln!(self.out.output, "expect failed: line {n}: {what}: expected {want}, got {got}");
    }

    fn expect(&mut self, n: usize, args: &[&str]) {
        let Some(key) = args.first() else {
            self.syntax(n, "`expect` needs a key");
            return;
        };
        let val = |i: usize| args.get(i).copied();
        let ty = |s: &str| match s {
            "memory" => Some(RegionType::Memory),
            "reserved" => Some(RegionType::Reserved),
            _ => None,
        };
        if *key == "result" {
            let Some(w) = val(1) else {
                self.syntax(n, "`expect result` needs ADDR, NULL, ok or error");
                return;
            };
            let got = match self.last {
                LastResult::None => "nothing".to_string(),
                LastResult::Ok => "ok".to_string(),
                LastResult::Error => "error".to_string(),
                LastResult::Addr(Some(a)) => format!("{a:#018x}"),
                LastResult::Addr(None) => "NULL".to_string(),
            };
            let ok = match (w, self.last) {
                ("NULL", LastResult::Addr(None)) => true,
                ("ok", LastResult::Ok) | ("ok", LastResult::Addr(Some(_))) => true,
                ("error", LastResult::Error) => true,
                (a, LastResult::Addr(Some(x))) => parse_num(a) == Some(x),
                _ => false,
            };
            if !ok {
                self.fail(n, "result", w, &got);
            }
            return;
        }
        if *key == "zeroed" {
            let (Some(b), Some(s)) = (val(1).and_then(parse_num), val(2).and_then(parse_num)) else {
                self.syntax(n, "`expect zeroed BASE SIZE`");
                return;
            };
            if !self.mb.mem().is_zero(PhysAddr(b), s) {
                self.fail(n, "zeroed", "all zero", "non-zero bytes");
            }
            return;
        }
        if let Some((t, field)) = key.split_once('.') {
            let Some(t) = ty(t) else {
                self.syntax(n, &format!("unknown array in `expect {key}`"));
                return;
            };
            let Some(w) = val(1).and_then(parse_num) else {
                self.syntax(n, &format!("`expect {key}` needs a number"));
                return;
            };
            let got = match field {
                "cnt" => self.mb.cnt(t) as u64,
                "max" => self.mb.max(t) as u64,
                "total" => self.mb.total_size(t),
                _ => {
                    self.syntax(n, &format!("unknown field in `expect {key}`"));
                    return;
                }
            };
            if got != w {
                self.fail(n, key, &format!("{w:#x}"), &format!("{got:#x}"));
            }
            return;
        }
        // memory[I] BASE SIZE [nid=N] [flags=F]
        if let Some((t, rest)) = key.split_once('[') {
            let (Some(t), Some(i)) = (ty(t), rest.strip_suffix(']').and_then(parse_num)) else {
                self.syntax(n, &format!("bad `expect {key}`"));
                return;
            };
            let (Some(b), Some(s)) = (val(1).and_then(parse_num), val(2).and_then(parse_num)) else {
                self.syntax(n, &format!("`expect {key} BASE SIZE [nid=N] [flags=F]`"));
                return;
            };
            let mut want_nid = None;
            let mut want_flags = None;
            for extra in &args[3..] {
                if let Some(v) = extra.strip_prefix("nid=") {
                    want_nid = parse_nid(v);
                } else if let Some(v) = extra.strip_prefix("flags=") {
                    want_flags = MemblockFlags::parse(v);
                }
                if want_nid.is_none() && extra.starts_with("nid=")
                    || want_flags.is_none() && extra.starts_with("flags=")
                {
                    self.syntax(n, &format!("bad `{extra}`"));
                    return;
                }
            }
            let i = i as usize;
            if i >= self.mb.cnt(t) {
                self.fail(n, key, "a region", &format!("only {} regions", self.mb.cnt(t)));
                return;
            }
            let r: Region = self.mb.region(t, i);
            let ok = r.base == b
                && r.size == s
                && want_nid.is_none_or(|x| x == r.nid)
                && want_flags.is_none_or(|f| f == r.flags);
            if !ok {
                let fmt_nid = |x: i32| if x == MAX_NUMNODES { "x".to_string() } else { x.to_string() };
                self.fail(
                    n,
                    key,
                    &format!(
                        "{b:#x} {s:#x}{}{}",
                        want_nid.map(|x| format!(" nid={}", fmt_nid(x))).unwrap_or_default(),
                        want_flags.map(|f| format!(" flags={:#x}", f.0)).unwrap_or_default()
                    ),
                    &format!("{:#x} {:#x} nid={} flags={:#x}", r.base, r.size, fmt_nid(r.nid), r.flags.0),
                );
            }
            return;
        }
        self.syntax(n, &format!("unknown `expect {key}`"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_num("0x10"), Some(16));
        assert_eq!(parse_num("4K"), Some(4096));
        assert_eq!(parse_num("0x2M"), Some(0x20_0000));
        assert_eq!(parse_num("1G"), Some(1 << 30));
        assert_eq!(parse_num("zz"), None);
        assert_eq!(parse_num("16777216T"), None, "overflow is an error");
        assert_eq!(parse_nid("-1"), Some(-1));
        assert_eq!(parse_nid("x"), Some(MAX_NUMNODES));
    }

    #[test]
    fn script_prints_allocations_dump_and_errors() {
        let out = ScriptRunner::new(false).run(
            "add 0x100000 1M\nreserve 0x100000 4K\nalloc 4K 4K\nalloc 2M 4K\nbogus 1\nadd_node 0 4K 2000 0\ndump\n",
        );
        let want = "\
0x00000000001ff000
NULL
error: line 5: unknown call `bogus`; calls: ";
        assert!(out.output.starts_with(want), "{}", out.output);
        assert!(out.output.contains("error: line 6: add_node: node id 2000 is out of range"), "{}", out.output);
        assert!(
            out.output.ends_with(
                "memory: cnt=1 max=128 total=0x100000
   0: 0x0000000000100000..0x00000000001fffff    x NONE
reserved: cnt=2 max=128 total=0x2000
   0: 0x0000000000100000..0x0000000000100fff    x NONE
   1: 0x00000000001ff000..0x00000000001fffff    x NONE
"
            ),
            "{}",
            out.output
        );
        assert_eq!(out.syntax_errors, 1);
        assert_eq!(out.call_errors, 1);
        assert_eq!(out.exit_code(), 2);
    }

    #[test]
    fn set_bottom_up_takes_0_or_1() {
        let out = ScriptRunner::new(false).run("set_bottom_up 7\nset_bottom_up 1\nset_bottom_up 0\n");
        assert_eq!(out.syntax_errors, 1, "{}", out.output);
        assert!(out.output.contains("error: line 1: `set_bottom_up` takes 0 or 1"), "{}", out.output);
    }

    #[test]
    fn an_allocation_next_to_the_kernel_image_merges_with_it() {
        // 6.1: the image is a plain reservation, so the allocation just below it joins it.
        let out = ScriptRunner::new(false).run(
            "add 0x40000000 0x100000\nreserve_kern 0x400ff000 0x1000\nalloc 0x1000 0x1000\n\
             expect result 0x400fe000\nexpect reserved.cnt 1\nexpect reserved[0] 0x400fe000 0x2000 nid=x flags=0\n",
        );
        assert_eq!(out.expect_failures + out.syntax_errors + out.call_errors, 0, "{}", out.output);
    }

    #[test]
    fn expectations() {
        let out = ScriptRunner::new(false).run(
            "add 0x10000000 0x8000\nalloc 0x1000 0x1000\nexpect result 0x10007000\nexpect reserved[0] 0x10007000 0x1000 nid=x flags=0\n\
             expect reserved.cnt 1\nexpect memory.total 0x8000\nexpect zeroed 0x10007000 0x1000\nexpect reserved.cnt 2\n",
        );
        assert_eq!(out.expect_failures, 1, "{}", out.output);
        assert!(out.output.contains("expect failed: line 8: reserved.cnt: expected 0x2, got 0x1"), "{}", out.output);
    }
}
