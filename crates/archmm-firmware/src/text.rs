//! Small, panic-free helpers for parsing kernel log (`dmesg`) text.
//!
//! The `dmesg` parsers in [`crate::e820`] and [`crate::uefi`] read lines that
//! Linux printed with `printk` formats such as `%#018Lx`; this module has the
//! cursor they share. Everything works on `&str` with `strip_prefix` and
//! `char`-boundary-safe splitting, so no input can make it panic.

/// A forward-only cursor over one line of text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// Starts a cursor at the beginning of `s`.
    pub(crate) fn new(s: &'a str) -> Self {
        Self { rest: s }
    }

    /// The text not consumed yet.
    pub(crate) fn rest(&self) -> &'a str {
        self.rest
    }

    /// Consumes `lit` if the remaining text starts with it.
    pub(crate) fn eat(&mut self, lit: &str) -> bool {
        match self.rest.strip_prefix(lit) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// Consumes any run of ASCII spaces and tabs; returns how many.
    pub(crate) fn skip_blanks(&mut self) -> usize {
        let trimmed = self.rest.trim_start_matches([' ', '\t']);
        let n = self.rest.len().saturating_sub(trimmed.len());
        self.rest = trimmed;
        n
    }

    /// Consumes `0x` followed by 1 to 16 hex digits and returns the value.
    /// Leaves the cursor unchanged on failure.
    pub(crate) fn hex_u64(&mut self) -> Option<u64> {
        let r = self.rest.strip_prefix("0x").or_else(|| self.rest.strip_prefix("0X"))?;
        let n = r.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n == 0 {
            return None;
        }
        let (digits, tail) = r.split_at_checked(n)?;
        // Leading zeros are allowed (`%#018Lx` pads with them), so strip
        // them before checking the width.
        let significant = digits.trim_start_matches('0');
        if significant.len() > 16 {
            return None;
        }
        let v = if significant.is_empty() { 0 } else { u64::from_str_radix(significant, 16).ok()? };
        self.rest = tail;
        Some(v)
    }

    /// Consumes 1 or more decimal digits and returns them as a `u32`.
    /// Leaves the cursor unchanged on failure (including overflow).
    pub(crate) fn dec_u32(&mut self) -> Option<u32> {
        let n = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let (digits, tail) = self.rest.split_at_checked(n)?;
        let v = digits.parse::<u32>().ok()?;
        self.rest = tail;
        Some(v)
    }

    /// Consumes 1 or more decimal digits and returns them as a `u64`.
    pub(crate) fn dec_u64(&mut self) -> Option<u64> {
        let n = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let (digits, tail) = self.rest.split_at_checked(n)?;
        let v = digits.parse::<u64>().ok()?;
        self.rest = tail;
        Some(v)
    }
}

/// Finds `marker` in `line` where it starts a "word": at the start of the
/// line or right after a space, tab or `]` (the end of a `[    0.000000]`
/// timestamp). Returns the text after the marker.
pub(crate) fn after_marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let end = marker_end(line, marker, 0)?;
    line.get(end..)
}

/// Like [`after_marker`], but starts searching at byte `from` of `line` and
/// returns the byte index just past the marker.
pub(crate) fn marker_end(line: &str, marker: &str, from: usize) -> Option<usize> {
    if marker.is_empty() {
        return None;
    }
    let mut search_from = from;
    loop {
        let hay = line.get(search_from..)?;
        let rel = hay.find(marker)?;
        let at = search_from.checked_add(rel)?;
        let before_ok = match line.get(..at).and_then(|b| b.chars().next_back()) {
            None => true,
            Some(c) => c == ' ' || c == '\t' || c == ']',
        };
        let end = at.checked_add(marker.len())?;
        if before_ok {
            return Some(end);
        }
        // Continue after the first character of this (rejected) match.
        search_from = at.checked_add(1)?;
        while !line.is_char_boundary(search_from) {
            search_from = search_from.checked_add(1)?;
        }
    }
}

/// Iterates over the lines of `text` with 1-based line numbers; a trailing
/// `\r` is removed from each line.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().map(|(i, l)| (i.saturating_add(1), l.strip_suffix('\r').unwrap_or(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing() {
        let mut c = Cursor::new("0x0000000000100000-0x00000000bffdffff]");
        assert_eq!(c.hex_u64(), Some(0x10_0000));
        assert!(c.eat("-"));
        assert_eq!(c.hex_u64(), Some(0xbffd_ffff));
        assert_eq!(c.rest(), "]");
        assert_eq!(Cursor::new("0x").hex_u64(), None);
        assert_eq!(Cursor::new("12").hex_u64(), None);
        assert_eq!(Cursor::new("0x1ffffffffffffffff").hex_u64(), None);
        assert_eq!(Cursor::new("0x0000ffffffffffffffff").hex_u64(), Some(u64::MAX));
        assert_eq!(Cursor::new("0x0").hex_u64(), Some(0));
    }

    #[test]
    fn dec_parsing() {
        let mut c = Cursor::new("12)");
        assert_eq!(c.dec_u32(), Some(12));
        assert_eq!(c.rest(), ")");
        assert_eq!(Cursor::new("4294967296").dec_u32(), None);
        assert_eq!(Cursor::new("x").dec_u32(), None);
        assert_eq!(Cursor::new("18446744073709551615").dec_u64(), Some(u64::MAX));
    }

    #[test]
    fn markers() {
        assert_eq!(after_marker("BIOS-e820: x", "BIOS-e820:"), Some(" x"));
        assert_eq!(after_marker("[    0.000000] BIOS-e820: x", "BIOS-e820:"), Some(" x"));
        assert_eq!(after_marker("xBIOS-e820: x", "BIOS-e820:"), None);
        assert_eq!(after_marker("xBIOS-e820: a BIOS-e820: b", "BIOS-e820:"), Some(" b"));
        assert_eq!(after_marker("é BIOS-e820:", "BIOS-e820:"), Some(""));
        assert_eq!(after_marker("éBIOS-e820:é", "BIOS-e820:"), None);
    }

    #[test]
    fn lines_are_numbered() {
        let v: Vec<_> = numbered_lines("a\r\nb\n").collect();
        assert_eq!(v, vec![(1, "a"), (2, "b"), (3, "")]);
    }
}
