//! E820 and ACPI SRAT memory information from Linux's kernel log text.
//!
//! A user can paste `dmesg` (or `journalctl -k`) output from any x86 Linux
//! machine and get back the firmware's memory map and NUMA memory
//! affinities.
//!
//! ## `BIOS-e820:` lines
//!
//! Printed by `e820__print_table()` (`arch/x86/kernel/e820.c`, Linux 6.1)
//! with `pr_info("%s: [mem %#018Lx-%#018Lx] ", who, addr, addr + size - 1)`
//! followed by `e820_print_type()`:
//!
//! ```text
//! [    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable
//! ```
//!
//! Type names: `usable` (1), `reserved` (2), `soft reserved` (0xefffffff),
//! `ACPI data` (3), `ACPI NVS` (4), `unusable` (5), `persistent (type N)`
//! (N = 7 or 12), and `type N` for anything else (decimal). `usable` is
//! also what type 128 (`RESERVED_KERN`) prints; it parses as 1.
//!
//! A line is an E820 line when it contains `BIOS-e820:` (or, for
//! [`parse_e820_lines`], the given `who` followed by `:`) at the start of
//! the line or after a space, tab or `]`; anything before that (timestamps,
//! syslog prefixes) is ignored, and so are all other lines. An E820 line
//! that does not match the format exactly is an error naming its line
//! number: silently skipping it would lose memory.
//!
//! ## `SRAT: Node` lines
//!
//! Printed by `acpi_numa_memory_affinity_init()`
//! (`drivers/acpi/numa/srat.c`, with `pr_fmt` `"ACPI: "`) as
//! `pr_info("SRAT: Node %u PXM %u [mem %#010Lx-%#010Lx]%s%s\n", node, pxm,
//! start, end - 1, hotpluggable ? " hotplug" : "", non_volatile ?
//! " non-volatile" : "")`:
//!
//! ```text
//! [    0.004000] ACPI: SRAT: Node 1 PXM 1 [mem 0x140000000-0x23fffffff] hotplug
//! ```
//!
//! (`hotplug` is printed only on kernels with `CONFIG_MEMORY_HOTPLUG`.)
//! Lines containing `SRAT: Node ` must match the format; the similar
//! `SRAT: Failed to add memblk to node ...` is a different message and is
//! ignored.
//!
//! ## `SRAT: PXM` lines
//!
//! Printed for each enabled processor affinity by
//! `acpi_numa_processor_affinity_init()` and
//! `acpi_numa_x2apic_affinity_init()` (`arch/x86/mm/srat.c`) as
//! `printk(KERN_INFO "SRAT: PXM %u -> APIC 0x%02x -> Node %u\n", pxm,
//! apic_id, node)` (`%04x` for x2APIC entries):
//!
//! ```text
//! [    0.004000] SRAT: PXM 1 -> APIC 0x02 -> Node 1
//! ```
//!
//! These are the APIC ids Linux maps to nodes (`set_apicid_to_node()`).
//! The same prefix with ` skipped apicid that is too big` after it, or
//! `-> X2APIC 0x.. ignored`, maps nothing and is skipped; any other
//! `SRAT: PXM ` line must match the format.

use super::{E820Entry, E820Table, E820TableError, E820Type};
use crate::fixed::FixedVec;
use crate::text::{after_marker, marker_end, numbered_lines, Cursor};
use core::fmt;

/// What was wrong with a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmesgErrorKind {
    /// `[mem ` is missing after the `who:` prefix.
    MissingMem,
    /// An address is not `0x` followed by at most 16 significant hex digits.
    BadAddress,
    /// The `-` between the addresses or the closing `]` is missing.
    BadRange,
    /// The end is below the start (other than the `start - 1` a zero-size
    /// range prints as).
    EndBeforeStart,
    /// The range `[0, 2^64)` has no 64-bit size.
    RangeTooLarge,
    /// The type name is not one Linux prints.
    UnknownType,
    /// The table or list is full.
    Full,
    /// `Node`/`PXM` numbers are missing or not decimal `u32`s (or an `APIC`
    /// id is not a `u32` in hex).
    BadNumber,
    /// Unexpected text after the range (SRAT lines may only end in
    /// ` hotplug` and/or ` non-volatile`, in that order).
    TrailingText,
}

/// A malformed line in `dmesg` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmesgError {
    /// 1-based line number.
    pub line: usize,
    /// The broken rule.
    pub kind: DmesgErrorKind,
}

impl fmt::Display for DmesgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DmesgErrorKind::MissingMem => "expected \"[mem \"",
            DmesgErrorKind::BadAddress => "malformed hex address",
            DmesgErrorKind::BadRange => "malformed range (expected \"0x..-0x..]\")",
            DmesgErrorKind::EndBeforeStart => "range end is below its start",
            DmesgErrorKind::RangeTooLarge => "range covers all 2^64 bytes",
            DmesgErrorKind::UnknownType => "unknown e820 type name",
            DmesgErrorKind::Full => "too many entries for the table",
            DmesgErrorKind::BadNumber => "malformed node, PXM or APIC number",
            DmesgErrorKind::TrailingText => "unexpected text after the range",
        };
        write!(f, "line {}: {}", self.line, what)
    }
}

impl core::error::Error for DmesgError {}

/// Parses `[mem 0xSTART-0xEND]` at the cursor and returns `(start, end)`
/// with `end` inclusive, as printed.
fn mem_range(c: &mut Cursor<'_>) -> Result<(u64, u64), DmesgErrorKind> {
    if !c.eat("[mem ") {
        return Err(DmesgErrorKind::MissingMem);
    }
    let start = c.hex_u64().ok_or(DmesgErrorKind::BadAddress)?;
    if !c.eat("-") {
        return Err(DmesgErrorKind::BadRange);
    }
    let end = c.hex_u64().ok_or(DmesgErrorKind::BadAddress)?;
    if !c.eat("]") {
        return Err(DmesgErrorKind::BadRange);
    }
    Ok((start, end))
}

/// Converts a printed inclusive range to `(addr, size)`. A printed end of
/// `start - 1` is a zero-size range.
fn range_to_size(start: u64, end: u64) -> Result<u64, DmesgErrorKind> {
    if end >= start {
        end.wrapping_sub(start).checked_add(1).ok_or(DmesgErrorKind::RangeTooLarge)
    } else if end.checked_add(1) == Some(start) {
        Ok(0)
    } else {
        Err(DmesgErrorKind::EndBeforeStart)
    }
}

/// Parses a type name printed by `e820_print_type()`.
pub fn parse_type_name(name: &str) -> Option<E820Type> {
    let ty = match name {
        "usable" => E820Type::RAM,
        "reserved" => E820Type::RESERVED,
        "soft reserved" => E820Type::SOFT_RESERVED,
        "ACPI data" => E820Type::ACPI,
        "ACPI NVS" => E820Type::NVS,
        "unusable" => E820Type::UNUSABLE,
        _ => {
            let mut c = Cursor::new(name);
            let t = if c.eat("persistent (type ") {
                let t = c.dec_u32()?;
                if !c.eat(")") {
                    return None;
                }
                t
            } else if c.eat("type ") {
                c.dec_u32()?
            } else {
                return None;
            };
            if !c.rest().is_empty() {
                return None;
            }
            E820Type(t)
        }
    };
    Some(ty)
}

fn parse_e820_line(rest: &str) -> Result<E820Entry, DmesgErrorKind> {
    let mut c = Cursor::new(rest);
    c.skip_blanks();
    let (start, end) = mem_range(&mut c)?;
    let size = range_to_size(start, end)?;
    if c.skip_blanks() == 0 {
        return Err(DmesgErrorKind::UnknownType);
    }
    let ty = parse_type_name(c.rest().trim_end()).ok_or(DmesgErrorKind::UnknownType)?;
    Ok(E820Entry::new(start, size, ty))
}

/// Parses every `BIOS-e820:` line of `text` into a table, in log order.
///
/// The table is what Linux printed, i.e. already sanitised by
/// `e820__update_table()`; if the log holds several boots, the entries of
/// all of them are appended (split the text first).
///
/// # Errors
/// [`DmesgError`] with the 1-based line number of the first malformed
/// `BIOS-e820:` line, or of the line that did not fit (`kind` =
/// [`DmesgErrorKind::Full`]).
pub fn parse_bios_e820<const N: usize>(text: &str) -> Result<E820Table<N>, DmesgError> {
    parse_e820_lines(text, "BIOS-e820")
}

/// Like [`parse_bios_e820`] for lines printed with another `who`: Linux
/// uses `"BIOS-e820"` for the firmware map, `"modified"` after
/// `memmap=`/`mem=` changes, `"extended"` after `SETUP_E820_EXT`,
/// `"reserve setup_data"`, and `"BIOS-e801"`/`"BIOS-88"` for its fake map.
///
/// # Errors
/// As for [`parse_bios_e820`].
pub fn parse_e820_lines<const N: usize>(text: &str, who: &str) -> Result<E820Table<N>, DmesgError> {
    let mut table = E820Table::new();
    for (line, l) in numbered_lines(text) {
        let Some(rest) = after_who(l, who) else {
            continue;
        };
        let e = parse_e820_line(rest).map_err(|kind| DmesgError { line, kind })?;
        table.add(e.addr, e.size, e.ty).map_err(|err| DmesgError {
            line,
            kind: match err {
                E820TableError::Full { .. } => DmesgErrorKind::Full,
                E820TableError::EntryWraps { .. } => DmesgErrorKind::RangeTooLarge,
            },
        })?;
    }
    Ok(table)
}

/// Finds `who:` as a word in `line` and returns what follows the colon.
fn after_who<'a>(line: &'a str, who: &str) -> Option<&'a str> {
    let mut from = 0usize;
    loop {
        let end = marker_end(line, who, from)?;
        let rest = line.get(end..)?;
        if let Some(r) = rest.strip_prefix(':') {
            return Some(r);
        }
        // `who` matched as a word but is not followed by ':' (e.g. prose);
        // keep looking further right.
        from = end;
    }
}

/// One `SRAT: Node` memory-affinity line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SratMemAffinity {
    /// Linux NUMA node id.
    pub node: u32,
    /// ACPI proximity domain.
    pub pxm: u32,
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive, as printed). For a zero-length affinity Linux
    /// prints `start - 1`.
    pub end: u64,
    /// ` hotplug` was printed (the SRAT hot-pluggable flag, only shown with
    /// `CONFIG_MEMORY_HOTPLUG`).
    pub hotplug: bool,
    /// ` non-volatile` was printed.
    pub nonvolatile: bool,
}

/// Default capacity for [`parse_srat`]: Linux's `NR_NODE_MEMBLKS`
/// (`MAX_NUMNODES * 2`) for 64 nodes.
pub const SRAT_MAX_ENTRIES: usize = 128;

fn parse_srat_line(rest: &str) -> Result<SratMemAffinity, DmesgErrorKind> {
    let mut c = Cursor::new(rest);
    let node = c.dec_u32().ok_or(DmesgErrorKind::BadNumber)?;
    if !c.eat(" PXM ") {
        return Err(DmesgErrorKind::BadNumber);
    }
    let pxm = c.dec_u32().ok_or(DmesgErrorKind::BadNumber)?;
    if !c.eat(" ") {
        return Err(DmesgErrorKind::MissingMem);
    }
    let (start, end) = mem_range(&mut c)?;
    range_to_size(start, end).or_else(|k| match k {
        DmesgErrorKind::RangeTooLarge => Ok(0),
        other => Err(other),
    })?;
    let hotplug = c.eat(" hotplug");
    let nonvolatile = c.eat(" non-volatile");
    if !c.rest().trim_end().is_empty() {
        return Err(DmesgErrorKind::TrailingText);
    }
    Ok(SratMemAffinity { node, pxm, start, end, hotplug, nonvolatile })
}

/// Parses every `SRAT: Node N PXM P [mem ...]` line of `text`, in log order.
///
/// # Errors
/// [`DmesgError`] naming the first malformed `SRAT: Node ` line, or the
/// line that did not fit in `N` entries.
pub fn parse_srat<const N: usize>(text: &str) -> Result<FixedVec<SratMemAffinity, N>, DmesgError> {
    let mut out = FixedVec::new();
    for (line, l) in numbered_lines(text) {
        let Some(rest) = after_marker(l, "SRAT: Node ") else {
            continue;
        };
        let a = parse_srat_line(rest).map_err(|kind| DmesgError { line, kind })?;
        out.push(a).map_err(|_| DmesgError { line, kind: DmesgErrorKind::Full })?;
    }
    Ok(out)
}

/// One `SRAT: PXM P -> APIC 0xA -> Node N` processor-affinity line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SratCpuAffinity {
    /// ACPI proximity domain.
    pub pxm: u32,
    /// Local APIC (or x2APIC) id.
    pub apic_id: u32,
    /// Linux NUMA node id.
    pub node: u32,
}

/// Default capacity for [`parse_srat_cpus`].
pub const SRAT_MAX_CPUS: usize = 256;

/// `Ok(None)`: a line that maps nothing (ignored or skipped).
fn parse_srat_cpu_line(rest: &str) -> Result<Option<SratCpuAffinity>, DmesgErrorKind> {
    let mut c = Cursor::new(rest);
    let pxm = c.dec_u32().ok_or(DmesgErrorKind::BadNumber)?;
    if c.eat(" -> X2APIC ") {
        return Ok(None);
    }
    if !c.eat(" -> APIC ") {
        return Err(DmesgErrorKind::BadNumber);
    }
    let apic_id = c.hex_u64().and_then(|v| u32::try_from(v).ok()).ok_or(DmesgErrorKind::BadNumber)?;
    if !c.eat(" -> Node ") {
        return Err(DmesgErrorKind::BadNumber);
    }
    let node = c.dec_u32().ok_or(DmesgErrorKind::BadNumber)?;
    match c.rest().trim_end() {
        "" => Ok(Some(SratCpuAffinity { pxm, apic_id, node })),
        " skipped apicid that is too big" => Ok(None),
        _ => Err(DmesgErrorKind::TrailingText),
    }
}

/// Parses every `SRAT: PXM P -> APIC 0xA -> Node N` line of `text`, in log
/// order.
///
/// # Errors
/// [`DmesgError`] naming the first malformed `SRAT: PXM ` line, or the
/// line that did not fit in `N` entries.
pub fn parse_srat_cpus<const N: usize>(text: &str) -> Result<FixedVec<SratCpuAffinity, N>, DmesgError> {
    let mut out = FixedVec::new();
    for (line, l) in numbered_lines(text) {
        let Some(rest) = after_marker(l, "SRAT: PXM ") else {
            continue;
        };
        if let Some(a) = parse_srat_cpu_line(rest).map_err(|kind| DmesgError { line, kind })? {
            out.push(a).map_err(|_| DmesgError { line, kind: DmesgErrorKind::Full })?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_LOG: &str = "\
[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved
[    0.000000] BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable
[    0.000000] BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved
[    0.000000] BIOS-e820: [mem 0x00000000feffc000-0x00000000feffffff] reserved
[    0.000000] BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000023fffffff] usable
[    0.000000] NX (Execute Disable) protection: active
[    0.000000] e820: update [mem 0x00000000-0x00000fff] usable ==> reserved
[    0.000000] e820: remove [mem 0x000a0000-0x000fffff] usable
[    0.004000] ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]
[    0.004000] ACPI: SRAT: Node 0 PXM 0 [mem 0x00100000-0xbfffffff]
[    0.004000] ACPI: SRAT: Node 0 PXM 0 [mem 0x100000000-0x13fffffff]
[    0.004000] ACPI: SRAT: Node 1 PXM 1 [mem 0x140000000-0x23fffffff]
[    0.004000] ACPI: SRAT: Node 1 PXM 1 [mem 0x240000000-0x43fffffff] hotplug
[    0.004000] ACPI: SRAT: Node 2 PXM 7 [mem 0x440000000-0x47fffffff] hotplug non-volatile
";

    #[test]
    fn parses_qemu_log() {
        let t: E820Table = parse_bios_e820(QEMU_LOG).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(t.entries()[0], E820Entry::new(0, 0x9fc00, E820Type::RAM));
        assert_eq!(t.entries()[7], E820Entry::new(0x1_0000_0000, 0x1_4000_0000, E820Type::RAM));
        // Round trip through Linux's printer.
        let mut s = String::new();
        t.write_table(&mut s, "BIOS-e820").unwrap();
        let expected: String =
            QEMU_LOG.lines().filter(|l| l.contains("BIOS-e820:")).map(|l| format!("{}\n", &l[15..])).collect();
        assert_eq!(s, expected);
    }

    #[test]
    fn parses_srat() {
        let v: FixedVec<SratMemAffinity, 8> = parse_srat(QEMU_LOG).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(
            v.as_slice()[3],
            SratMemAffinity {
                node: 1,
                pxm: 1,
                start: 0x1_4000_0000,
                end: 0x2_3fff_ffff,
                hotplug: false,
                nonvolatile: false
            }
        );
        assert!(v.as_slice()[4].hotplug && !v.as_slice()[4].nonvolatile);
        assert!(v.as_slice()[5].hotplug && v.as_slice()[5].nonvolatile);
        assert_eq!(v.as_slice()[5].pxm, 7);
        let e = parse_srat::<2>(QEMU_LOG).unwrap_err();
        assert_eq!(e, DmesgError { line: 16, kind: DmesgErrorKind::Full });
    }

    #[test]
    fn parses_srat_cpus() {
        let text = "\
[    0.004000] SRAT: PXM 0 -> APIC 0x00 -> Node 0
SRAT: PXM 1 -> APIC 0x02 -> Node 1
SRAT: PXM 2 -> APIC 0x1234 -> Node 2
SRAT: PXM 3 -> APIC 0x8000 -> Node 3 skipped apicid that is too big
SRAT: PXM 4 -> X2APIC 0xffffffff ignored
ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]
";
        let v: FixedVec<SratCpuAffinity, 4> = parse_srat_cpus(text).unwrap();
        assert_eq!(
            v.as_slice(),
            &[
                SratCpuAffinity { pxm: 0, apic_id: 0, node: 0 },
                SratCpuAffinity { pxm: 1, apic_id: 2, node: 1 },
                SratCpuAffinity { pxm: 2, apic_id: 0x1234, node: 2 },
            ]
        );
        let e = parse_srat_cpus::<4>("SRAT: PXM 1 -> APIC 0x02 -> Node x").unwrap_err();
        assert_eq!(e, DmesgError { line: 1, kind: DmesgErrorKind::BadNumber });
        let e = parse_srat_cpus::<1>(text).unwrap_err();
        assert_eq!(e, DmesgError { line: 2, kind: DmesgErrorKind::Full });
    }

    #[test]
    fn all_type_names() {
        let text = "\
BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] soft reserved
BIOS-e820: [mem 0x0000000000001000-0x0000000000001fff] ACPI data
BIOS-e820: [mem 0x0000000000002000-0x0000000000002fff] ACPI NVS
BIOS-e820: [mem 0x0000000000003000-0x0000000000003fff] unusable
BIOS-e820: [mem 0x0000000000004000-0x0000000000004fff] persistent (type 12)
BIOS-e820: [mem 0x0000000000005000-0x0000000000005fff] persistent (type 7)
BIOS-e820: [mem 0x0000000000006000-0x0000000000006fff] type 13
BIOS-e820: [mem 0x0000000000007000-0x0000000000006fff] type 6\r
";
        let t: E820Table<16> = parse_bios_e820(text).unwrap();
        let types: Vec<u32> = t.entries().iter().map(|e| e.ty.0).collect();
        assert_eq!(types, [0xefff_ffff, 3, 4, 5, 12, 7, 13, 6]);
        assert_eq!(t.entries()[7].size, 0);
        let mut s = String::new();
        t.write_table(&mut s, "BIOS-e820").unwrap();
        assert_eq!(s, text.replace('\r', ""));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let cases = [
            ("BIOS-e820: [mem 0x0-0x1] usable\nBIOS-e820: [mem 0x3-0x1] usable", 2, DmesgErrorKind::EndBeforeStart),
            ("x\nBIOS-e820: mem 0x0-0x1 usable", 2, DmesgErrorKind::MissingMem),
            ("BIOS-e820: [mem 0x0-0x1] bogus", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: [mem 0x0-0x1]usable", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: [mem 0x0-0x1]", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: [mem 0x0-0xffffffffffffffff] usable", 1, DmesgErrorKind::RangeTooLarge),
            ("BIOS-e820: [mem 0xg-0x1] usable", 1, DmesgErrorKind::BadAddress),
            ("BIOS-e820: [mem 0x0 0x1] usable", 1, DmesgErrorKind::BadRange),
            ("BIOS-e820: [mem 0x0-0x1 usable", 1, DmesgErrorKind::BadRange),
            ("BIOS-e820: [mem 0x0-0x1] persistent (type 7", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: [mem 0x0-0x1] type 99999999999", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: [mem 0x0-0x1] type 1x", 1, DmesgErrorKind::UnknownType),
            ("BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)", 1, DmesgErrorKind::MissingMem),
        ];
        for (text, line, kind) in cases {
            assert_eq!(parse_bios_e820::<8>(text).unwrap_err(), DmesgError { line, kind }, "{text}");
        }
        assert_eq!(
            parse_bios_e820::<1>("BIOS-e820: [mem 0x0-0x1] usable\nBIOS-e820: [mem 0x2-0x3] usable").unwrap_err(),
            DmesgError { line: 2, kind: DmesgErrorKind::Full }
        );
        assert_eq!(
            DmesgError { line: 3, kind: DmesgErrorKind::UnknownType }.to_string(),
            "line 3: unknown e820 type name"
        );
    }

    #[test]
    fn unrelated_lines_are_ignored() {
        let text = "NotBIOS-e820: [mem junk\nthe BIOS-e820 map is fine\nBIOS-e820\nBIOS-e820BIOS-e820: [mem";
        assert!(parse_bios_e820::<4>(text).unwrap().is_empty());
        let text = "Jan 01 00:00:00 host kernel: modified: [mem 0x0000000000000000-0x0000000000000fff] reserved";
        assert_eq!(parse_e820_lines::<4>(text, "modified").unwrap().len(), 1);
        assert!(parse_e820_lines::<4>(text, "").unwrap().is_empty());
    }

    #[test]
    fn malformed_srat_lines() {
        let cases = [
            ("ACPI: SRAT: Node x PXM 0 [mem 0x0-0x1]", DmesgErrorKind::BadNumber),
            ("ACPI: SRAT: Node 0 PXM [mem 0x0-0x1]", DmesgErrorKind::BadNumber),
            ("ACPI: SRAT: Node 0 PXM 0 mem 0x0-0x1]", DmesgErrorKind::MissingMem),
            ("ACPI: SRAT: Node 0 PXM 0 [mem 0x5-0x1]", DmesgErrorKind::EndBeforeStart),
            ("ACPI: SRAT: Node 0 PXM 0 [mem 0x0-0x1] non-volatile hotplug", DmesgErrorKind::TrailingText),
        ];
        for (text, kind) in cases {
            assert_eq!(parse_srat::<4>(text).unwrap_err(), DmesgError { line: 1, kind }, "{text}");
        }
        // The whole address space and zero-length ranges are representable.
        let v = parse_srat::<4>(
            "SRAT: Node 0 PXM 0 [mem 0x00000000-0xffffffffffffffff]\nSRAT: Node 0 PXM 0 [mem 0x1000-0x0fff]",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert!(parse_srat::<4>("ACPI: SRAT: Failed to add memblk to node 0 [mem 0x0-0x1]").unwrap().is_empty());
    }
}
