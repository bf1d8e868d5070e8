//! UEFI memory descriptors from Linux's `efi=debug` log lines.
//!
//! With `efi=debug` on the command line, Linux prints the firmware memory
//! map, so a user can paste `dmesg` output instead of a binary map:
//!
//! * x86, `efi_print_memmap()` (`arch/x86/platform/efi/efi.c`, 6.1):
//!   `pr_info("mem%02u: %s range=[0x%016llx-0x%016llx] (%lluMB)\n", ...)`
//!   with `pr_fmt` `"efi: "`:
//!
//!   ```text
//!   efi: mem00: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000000000-0x000000000009ffff] (0MB)
//!   ```
//! * arm64 and the other generic-EFI architectures, `reserve_regions()`
//!   (`drivers/firmware/efi/efi-init.c`):
//!   `pr_info("  0x%012llx-0x%012llx %s\n", ...)` with `pr_fmt` `"efi: "`:
//!
//!   ```text
//!   efi:   0x000040000000-0x0000403fffff [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]
//!   ```
//!
//! The `%s` is `efi_md_typeattr_format()` (`drivers/firmware/efi/efi.c`):
//! `[`, the type name padded to 12 (`Reserved`, `Loader Code`,
//! `Loader Data`, `Boot Code`, `Boot Data`, `Runtime Code`, `Runtime Data`,
//! `Conventional`, `Unusable`, `ACPI Reclaim`, `ACPI Mem NVS`, `MMIO`,
//! `MMIO Port`, `PAL Code`, `Persistent`) or `type=N`, then either the
//! attribute columns `|RUN|HP|MR|CC|SP|NV|XP|RP|WP|RO|UCE|WB|WT|WC|UC`
//! (blank when clear) or `|attr=0x%016llx` when an unnamed bit is set, then
//! `]`. Older kernels print fewer columns (no `HP`); columns are recognised
//! by name, so both parse.
//!
//! The descriptor's `virt_start` and `pad` are not printed and come back
//! as 0. `num_pages` is derived from the range, which must therefore be
//! whole 4 KiB pages; on x86 lines the `(NMB)` figure must equal
//! `num_pages >> 8`.
//!
//! Other `efi:` lines are ignored, as are x86 lines ending in
//! `(invalid)` (entries `efi_clean_memmap()` drops). A line that has the
//! shape of a descriptor line (`efi: memNN:` or `efi:` followed by blanks
//! and `0x`) but does not parse is an error naming its line number.

use super::{EfiMemoryAttribute, EfiMemoryType, MemoryDescriptor, EFI_PAGE_SHIFT};
use crate::fixed::FixedVec;
use crate::text::{after_marker, numbered_lines, Cursor};
use core::fmt;

/// What was wrong with an `efi:` descriptor line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UefiDmesgErrorKind {
    /// The `[type|attributes]` part is missing or unterminated.
    MissingTypeAttr,
    /// The type name is not one Linux prints.
    UnknownType,
    /// An attribute column is not one Linux prints, or `attr=` is malformed.
    BadAttribute,
    /// `range=[0x..-0x..]` (x86) or `0x..-0x..` (generic) is malformed.
    BadRange,
    /// The range is not a whole number of 4 KiB pages starting on a page
    /// boundary... or ends before it starts.
    NotPageMultiple,
    /// The `(NMB)` figure does not match the range.
    SizeMismatch,
    /// Unexpected text after the line's last field.
    TrailingText,
    /// More descriptors than the output capacity.
    Full,
}

/// A malformed `efi:` descriptor line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UefiDmesgError {
    /// 1-based line number.
    pub line: usize,
    /// The broken rule.
    pub kind: UefiDmesgErrorKind,
}

impl fmt::Display for UefiDmesgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            UefiDmesgErrorKind::MissingTypeAttr => "missing or unterminated [type|attributes]",
            UefiDmesgErrorKind::UnknownType => "unknown EFI memory type name",
            UefiDmesgErrorKind::BadAttribute => "unknown EFI attribute column",
            UefiDmesgErrorKind::BadRange => "malformed address range",
            UefiDmesgErrorKind::NotPageMultiple => "range is not whole 4 KiB pages",
            UefiDmesgErrorKind::SizeMismatch => "the MB figure does not match the range",
            UefiDmesgErrorKind::TrailingText => "unexpected text at the end of the line",
            UefiDmesgErrorKind::Full => "too many descriptors",
        };
        write!(f, "line {}: {}", self.line, what)
    }
}

impl core::error::Error for UefiDmesgError {}

use UefiDmesgErrorKind as K;

/// Parses `[Type|cols...]` at the cursor.
fn typeattr(c: &mut Cursor<'_>) -> Result<(EfiMemoryType, EfiMemoryAttribute), K> {
    if !c.eat("[") {
        return Err(K::MissingTypeAttr);
    }
    let rest = c.rest();
    let close = rest.find(']').ok_or(K::MissingTypeAttr)?;
    let inner = rest.get(..close).ok_or(K::MissingTypeAttr)?;
    let after = rest.get(close.saturating_add(1)..).ok_or(K::MissingTypeAttr)?;
    let mut parts = inner.split('|');
    let ty_name = parts.next().unwrap_or("").trim_end();
    let ty = EfiMemoryType::from_linux_name(ty_name).ok_or(K::UnknownType)?;
    let mut attr = 0u64;
    let mut raw_seen = false;
    for (i, p) in parts.enumerate() {
        if let Some(hex) = p.strip_prefix("attr=") {
            if i != 0 {
                return Err(K::BadAttribute);
            }
            let mut hc = Cursor::new(hex);
            attr = hc.hex_u64().ok_or(K::BadAttribute)?;
            if !hc.rest().is_empty() {
                return Err(K::BadAttribute);
            }
            raw_seen = true;
            continue;
        }
        if raw_seen {
            return Err(K::BadAttribute);
        }
        let name = p.trim();
        if name.is_empty() {
            continue;
        }
        let bit = EfiMemoryAttribute::PRINT_ORDER
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(b, _, _)| *b)
            .ok_or(K::BadAttribute)?;
        attr |= bit;
    }
    *c = Cursor::new(after);
    Ok((ty, EfiMemoryAttribute(attr)))
}

/// Parses `0xSTART-0xEND` and converts to `(phys_start, num_pages)`.
fn page_range(c: &mut Cursor<'_>) -> Result<(u64, u64), K> {
    let start = c.hex_u64().ok_or(K::BadRange)?;
    if !c.eat("-") {
        return Err(K::BadRange);
    }
    let end = c.hex_u64().ok_or(K::BadRange)?;
    let mask = (1u64 << EFI_PAGE_SHIFT).wrapping_sub(1);
    if start & mask != 0 {
        return Err(K::NotPageMultiple);
    }
    // A zero-page descriptor prints its end as start - 1.
    if end.checked_add(1) == Some(start) {
        return Ok((start, 0));
    }
    if end < start || end & mask != mask {
        return Err(K::NotPageMultiple);
    }
    // end - start + 1 is a positive multiple of 4096 that may be 2^64, so
    // compute the page count from the inclusive last page.
    let pages = (end.wrapping_sub(start) >> EFI_PAGE_SHIFT).saturating_add(1);
    Ok((start, pages))
}

fn desc(ty: EfiMemoryType, attribute: EfiMemoryAttribute, phys_start: u64, num_pages: u64) -> MemoryDescriptor {
    MemoryDescriptor { ty, pad: 0, phys_start, virt_start: 0, num_pages, attribute }
}

/// `mem%02u: %s range=[...] (%lluMB)`, cursor after `mem`.
fn x86_line(c: &mut Cursor<'_>) -> Result<Option<MemoryDescriptor>, K> {
    c.dec_u64().ok_or(K::BadRange)?;
    if !c.eat(": ") {
        return Err(K::MissingTypeAttr);
    }
    let (ty, attr) = typeattr(c)?;
    if !c.eat(" range=[") {
        return Err(K::BadRange);
    }
    if c.rest().trim_end().ends_with("(invalid)") {
        return Ok(None);
    }
    let (start, pages) = page_range(c)?;
    if !c.eat("] (") {
        return Err(K::BadRange);
    }
    let mb = c.dec_u64().ok_or(K::SizeMismatch)?;
    if !c.eat("MB)") {
        return Err(K::SizeMismatch);
    }
    if mb != pages >> (20 - EFI_PAGE_SHIFT) {
        return Err(K::SizeMismatch);
    }
    if !c.rest().trim_end().is_empty() {
        return Err(K::TrailingText);
    }
    Ok(Some(desc(ty, attr, start, pages)))
}

/// `  0x%012llx-0x%012llx %s`, cursor at `0x`.
fn generic_line(c: &mut Cursor<'_>) -> Result<MemoryDescriptor, K> {
    let (start, pages) = page_range(c)?;
    if c.skip_blanks() == 0 {
        return Err(K::MissingTypeAttr);
    }
    let (ty, attr) = typeattr(c)?;
    if !c.rest().trim_end().is_empty() {
        return Err(K::TrailingText);
    }
    Ok(desc(ty, attr, start, pages))
}

/// Classifies and parses one line; `Ok(None)` for lines that are not
/// descriptor lines.
fn parse_line(l: &str) -> Result<Option<MemoryDescriptor>, K> {
    let Some(rest) = after_marker(l, "efi:") else {
        return Ok(None);
    };
    let mut c = Cursor::new(rest);
    let blanks = c.skip_blanks();
    if blanks >= 2 && c.rest().starts_with("0x") {
        return generic_line(&mut c).map(Some);
    }
    if blanks == 1 && c.eat("mem") && c.rest().starts_with(|ch: char| ch.is_ascii_digit()) {
        return x86_line(&mut c);
    }
    Ok(None)
}

/// Parses every `efi=debug` descriptor line of `text` (x86 or generic
/// format, freely mixed), in log order.
///
/// # Errors
/// [`UefiDmesgError`] naming the first malformed descriptor line, or the
/// line that did not fit in `N`.
pub fn parse_efi_memmap<const N: usize>(text: &str) -> Result<FixedVec<MemoryDescriptor, N>, UefiDmesgError> {
    let mut out = FixedVec::new();
    for (line, l) in numbered_lines(text) {
        let d = parse_line(l).map_err(|kind| UefiDmesgError { line, kind })?;
        if let Some(d) = d {
            out.push(d).map_err(|_| UefiDmesgError { line, kind: K::Full })?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{write_generic_memmap_line, write_x86_memmap_line};
    use super::*;

    const X86_LOG: &str = "\
[    0.000000] efi: EFI v2.70 by EDK II
[    0.000000] efi: SMBIOS=0x7f8ba000 ACPI=0x7fb7e000 ACPI 2.0=0x7fb7e014 MEMATTR=0x7e4b9018
[    0.000000] efi: mem00: [Boot Code   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000000000-0x0000000000000fff] (0MB)
[    0.000000] efi: mem01: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000001000-0x000000000009ffff] (0MB)
[    0.000000] efi: mem02: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000100000-0x00000000007fffff] (7MB)
[    0.000000] efi: mem03: [ACPI Mem NVS|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000800000-0x0000000000807fff] (0MB)
[    0.000000] efi: mem04: [Runtime Data|RUN|  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x000000007fb00000-0x000000007fbfffff] (1MB)
[    0.000000] efi: mem05: [Reserved    |   |  |  |  |  |  |  |  |  |  |   |  |  |  |UC] range=[0x00000000e0000000-0x00000000efffffff] (256MB)
[    0.000000] efi: mem06: [MMIO        |RUN|  |  |  |  |  |  |  |  |  |   |  |  |  |UC] range=[0x00000000ffc00000-0x00000000ffffffff] (4MB)
[    0.000000] efi: mem07: [Conventional|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000100000000-0x000000017fffffff] (2048MB)
[    0.000000] efi: mem08: [type=15|attr=0x0000000000000040] range=[0x0000000180000000-0x0000000180000fff] (0MB)
[    0.000000] efi: mem09: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000000000-0xffffffffffffffff] (invalid)
[    0.000000] efi: memattr: Processing EFI Memory Attributes table:
";

    #[test]
    fn parses_x86_log() {
        let v: FixedVec<MemoryDescriptor, 16> = parse_efi_memmap(X86_LOG).unwrap();
        assert_eq!(v.len(), 9);
        let d = v.as_slice();
        assert_eq!(d[0].ty, EfiMemoryType::BOOT_SERVICES_CODE);
        assert_eq!((d[1].phys_start, d[1].num_pages), (0x1000, 0x9f));
        assert_eq!(d[2].num_pages, 0x700);
        assert_eq!(d[4].attribute.0, EfiMemoryAttribute::RUNTIME | 0xf);
        assert_eq!(d[5].attribute.0, EfiMemoryAttribute::UC);
        // The 14-column (pre-HP) format parses too.
        assert_eq!(d[7].attribute.0, 0xf);
        assert_eq!(d[7].num_pages, 0x80000);
        assert_eq!(d[8].ty, EfiMemoryType(15));
        assert_eq!(d[8].attribute.0, 0x40);
        // Round trip through Linux's formatter (the 15-column lines).
        let mut s = String::new();
        for (i, md) in d.iter().enumerate() {
            write_x86_memmap_line(&mut s, i, md).unwrap();
        }
        for (i, l) in s.lines().enumerate() {
            if i == 7 {
                continue;
            }
            assert!(X86_LOG.contains(l), "{l}");
        }
    }

    #[test]
    fn parses_generic_log() {
        let text = "\
[    0.000000] efi: Processing EFI memory map:
[    0.000000] efi:   0x000040000000-0x00004000ffff [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]
[    0.000000] efi:   0x000040010000-0x00004000ffff [Loader Data |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]
[    0.000000] efi:   0x00007c000000-0x00007fffffff [Runtime Code|RUN|  |  |  |  |  |XP|  |  |  |   |WB|WT|WC|UC]
";
        let v: FixedVec<MemoryDescriptor, 4> = parse_efi_memmap(text).unwrap();
        assert_eq!(v.len(), 3);
        let d = v.as_slice();
        assert_eq!((d[0].phys_start, d[0].num_pages), (0x4000_0000, 0x10));
        assert_eq!(d[1].num_pages, 0);
        assert_eq!(d[2].attribute.0, EfiMemoryAttribute::RUNTIME | EfiMemoryAttribute::XP | 0xf);
        let mut s = String::new();
        for md in d {
            write_generic_memmap_line(&mut s, md).unwrap();
        }
        for l in s.lines() {
            assert!(text.contains(l), "{l}");
        }
    }

    #[test]
    fn malformed_lines() {
        let cases = [
            ("efi: mem00: [Bogus       |   |WB] range=[0x0-0xfff] (0MB)", K::UnknownType),
            ("efi: mem00: [Conventional|   |ZZ] range=[0x0-0xfff] (0MB)", K::BadAttribute),
            ("efi: mem00: [Conventional|attr=0xq] range=[0x0-0xfff] (0MB)", K::BadAttribute),
            ("efi: mem00: [Conventional|attr=0x1|WB] range=[0x0-0xfff] (0MB)", K::BadAttribute),
            ("efi: mem00: [Conventional|WB|attr=0x1] range=[0x0-0xfff] (0MB)", K::BadAttribute),
            ("efi: mem00: [Conventional|WB range=[0x0-0xfff] (0MB)", K::BadAttribute),
            ("efi:   0x0-0xfff [Conventional|WB", K::MissingTypeAttr),
            ("efi: mem00: Conventional|WB] range=[0x0-0xfff] (0MB)", K::MissingTypeAttr),
            ("efi: mem00:[Conventional|WB] range=[0x0-0xfff] (0MB)", K::MissingTypeAttr),
            ("efi: mem00: [Conventional|WB] range=[0x0-0xffe] (0MB)", K::NotPageMultiple),
            ("efi: mem00: [Conventional|WB] range=[0x1-0xfff] (0MB)", K::NotPageMultiple),
            ("efi: mem00: [Conventional|WB] range=[0x2000-0xfff] (0MB)", K::NotPageMultiple),
            ("efi: mem00: [Conventional|WB] range=[0x0-0xfff] (1MB)", K::SizeMismatch),
            ("efi: mem00: [Conventional|WB] range=[0x0-0xfff] (xMB)", K::SizeMismatch),
            ("efi: mem00: [Conventional|WB] range=[0x0-0xfff] (0MB) extra", K::TrailingText),
            ("efi: mem00: [Conventional|WB] range=[0x0 0xfff] (0MB)", K::BadRange),
            ("efi: mem00: [Conventional|WB] range=(0x0-0xfff) (0MB)", K::BadRange),
            ("efi:   0x0-0xfff", K::MissingTypeAttr),
            ("efi:   0x0-0xfff [Conventional|WB] x", K::TrailingText),
            ("efi:   0x0_0xfff [Conventional|WB]", K::BadRange),
        ];
        for (text, kind) in cases {
            assert_eq!(parse_efi_memmap::<4>(text).unwrap_err(), UefiDmesgError { line: 1, kind }, "{text}");
        }
        assert_eq!(
            parse_efi_memmap::<1>("efi:   0x0-0xfff [MMIO|UC]\nefi:   0x0-0xfff [MMIO|UC]").unwrap_err(),
            UefiDmesgError { line: 2, kind: K::Full }
        );
        assert!(!UefiDmesgError { line: 1, kind: K::Full }.to_string().is_empty());
    }

    #[test]
    fn whole_address_space() {
        let v = parse_efi_memmap::<1>("efi:   0x0-0xffffffffffffffff [Reserved|UC]").unwrap();
        assert_eq!(v.as_slice()[0].num_pages, 1 << 52);
    }

    #[test]
    fn ignores_other_efi_lines() {
        let text = "efi: memattr:  0x00007fb00000-0x00007fbfffff [Runtime Data|RUN]\nefi: Remove mem01: x\nefi:\nefi: memory\n";
        assert!(parse_efi_memmap::<4>(text).unwrap().is_empty());
    }
}
