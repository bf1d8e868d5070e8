//! The E820 table in the x86 `boot_params` "zero page".
//!
//! ## The format
//!
//! `struct boot_params` (Linux `arch/x86/include/uapi/asm/bootparam.h`,
//! documented in `Documentation/x86/zero-page.rst`) is the 4 KiB page a boot
//! loader hands to the kernel. The parts read here (all little-endian):
//!
//! | offset | field | |
//! |---|---|---|
//! | `0x002` | `screen_info.ext_mem_k` (`u16`) | BIOS-88 memory size in KiB |
//! | `0x1e0` | `alt_mem_k` (`u32`) | BIOS-e801 memory size in KiB |
//! | `0x1e8` | `e820_entries` (`u8`) | number of valid table entries |
//! | `0x2d0` | `e820_table[128]` | packed `struct boot_e820_entry { u64 addr; u64 size; u32 type; }`, 20 bytes each |
//!
//! The table has room for `E820_MAX_ENTRIES_ZEROPAGE` = 128 entries (more
//! come in `SETUP_E820_EXT` setup_data, which is not parsed here).
//!
//! ## Linux's handling (`arch/x86/kernel/e820.c`)
//!
//! `e820__memory_setup_default()` calls `append_e820_table()`, which gives
//! up when there are fewer than 2 entries, and `__append_e820_table()`,
//! which gives up at the first entry whose last byte `addr + size - 1`
//! wraps (size non-zero). On either failure Linux discards the table and
//! fakes one from `alt_mem_k`/`ext_mem_k` (see [`fallback_table`]). It then
//! runs `e820__update_table()`.
//!
//! [`E820Table::from_boot_params`] applies the same checks and returns
//! [`BootParamsError::TooFewEntries`] / [`BootParamsError::EntryWraps`]
//! where Linux would fall back; it does not sanitise (call
//! [`E820Table::update_table`]).
//!
//! **Stricter than Linux:** `e820_entries` above 128 is rejected
//! ([`BootParamsError::TooManyEntries`]); Linux trusts the boot loader and
//! would read past the array.

use super::{E820Entry, E820Table, E820TableError, E820Type, E820_MAX_ENTRIES_ZEROPAGE};
use crate::bytes;
use core::fmt;

/// Offset of `e820_entries` in `boot_params`.
pub const E820_ENTRIES_OFFSET: usize = 0x1e8;
/// Offset of `e820_table` in `boot_params`.
pub const E820_TABLE_OFFSET: usize = 0x2d0;
/// Size of one packed `boot_e820_entry`.
pub const BOOT_E820_ENTRY_SIZE: usize = 20;
/// Offset of `alt_mem_k` in `boot_params`.
pub const ALT_MEM_K_OFFSET: usize = 0x1e0;
/// Offset of `screen_info.ext_mem_k` in `boot_params`.
pub const EXT_MEM_K_OFFSET: usize = 0x002;
/// Linux's `LOWMEMSIZE()` on x86: the fake low-memory range is
/// `[0, 0x9f000)`.
pub const LOWMEMSIZE: u64 = 0x9f000;
/// Linux's `HIGH_MEMORY`: 1 MiB.
pub const HIGH_MEMORY: u64 = 0x10_0000;

/// Errors from the zero-page parsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootParamsError {
    /// The slice ends before byte `needed` (exclusive) that the parser must
    /// read.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// `e820_entries` is larger than the 128-entry array.
    TooManyEntries {
        /// The `e820_entries` value.
        count: u8,
    },
    /// Fewer than 2 entries: Linux's `append_e820_table()` ignores the table
    /// and fakes one (see [`fallback_table`]).
    TooFewEntries {
        /// The `e820_entries` value.
        count: u8,
    },
    /// Entry `index` has a non-zero size and its last byte is past
    /// `u64::MAX`: Linux's `__append_e820_table()` stops and the table is
    /// replaced by the fallback.
    EntryWraps {
        /// Index of the entry.
        index: usize,
    },
    /// The destination table is too small.
    Table(E820TableError),
}

impl fmt::Display for BootParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { needed, actual } => write!(f, "boot_params too short: need {needed} bytes, have {actual}"),
            Self::TooManyEntries { count } => write!(
                f,
                "boot_params e820_entries = {count} exceeds the {E820_MAX_ENTRIES_ZEROPAGE}-entry zero-page table"
            ),
            Self::TooFewEntries { count } => {
                write!(f, "boot_params has {count} e820 entries; Linux ignores tables with fewer than 2")
            }
            Self::EntryWraps { index } => {
                write!(f, "boot_params e820 entry {index} wraps past 2^64")
            }
            Self::Table(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for BootParamsError {}

/// Iterator over the raw `boot_e820_entry` records of a zero page; see
/// [`zero_page_entries`].
#[derive(Clone, Debug)]
pub struct BootE820Entries<'a> {
    table: &'a [u8],
}

impl Iterator for BootE820Entries<'_> {
    type Item = E820Entry;
    fn next(&mut self) -> Option<E820Entry> {
        let addr = bytes::le_u64(self.table, 0)?;
        let size = bytes::le_u64(self.table, 8)?;
        let ty = bytes::le_u32(self.table, 16)?;
        self.table = self.table.get(BOOT_E820_ENTRY_SIZE..).unwrap_or(&[]);
        Some(E820Entry::new(addr, size, E820Type(ty)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.table.len() / BOOT_E820_ENTRY_SIZE;
        (n, Some(n))
    }
}

impl ExactSizeIterator for BootE820Entries<'_> {}

/// Returns the `e820_entries` raw entries of the zero page `zero_page`,
/// exactly as stored (no validation of the entries themselves).
///
/// `zero_page` must start at the beginning of `struct boot_params`; it
/// needs to be long enough for `e820_entries` and for the entries it counts
/// (at most `0x2d0 + 128 * 20 = 0xcd0` bytes).
///
/// # Errors
/// [`BootParamsError::TooShort`] if those bytes are missing,
/// [`BootParamsError::TooManyEntries`] if `e820_entries > 128`.
pub fn zero_page_entries(zero_page: &[u8]) -> Result<BootE820Entries<'_>, BootParamsError> {
    let count = *zero_page
        .get(E820_ENTRIES_OFFSET)
        .ok_or(BootParamsError::TooShort { needed: E820_ENTRIES_OFFSET.saturating_add(1), actual: zero_page.len() })?;
    if usize::from(count) > E820_MAX_ENTRIES_ZEROPAGE {
        return Err(BootParamsError::TooManyEntries { count });
    }
    // count <= 128, so this is at most 2560.
    let len = usize::from(count).saturating_mul(BOOT_E820_ENTRY_SIZE);
    let table = bytes::sub(zero_page, E820_TABLE_OFFSET, len)
        .ok_or(BootParamsError::TooShort { needed: E820_TABLE_OFFSET.saturating_add(len), actual: zero_page.len() })?;
    Ok(BootE820Entries { table })
}

impl<const N: usize> E820Table<N> {
    /// Builds the table Linux's `append_e820_table()` builds from a zero
    /// page: every entry in order, unsanitised.
    ///
    /// # Errors
    /// * [`BootParamsError::TooShort`] / [`BootParamsError::TooManyEntries`]
    ///   as for [`zero_page_entries`];
    /// * [`BootParamsError::TooFewEntries`] if `e820_entries < 2`, and
    ///   [`BootParamsError::EntryWraps`] for the first entry whose last byte
    ///   wraps: in both cases Linux throws the table away and uses
    ///   [`fallback_table`];
    /// * [`BootParamsError::Table`] if `N` is too small for the entries.
    pub fn from_boot_params(zero_page: &[u8]) -> Result<Self, BootParamsError> {
        let entries = zero_page_entries(zero_page)?;
        let count = u8::try_from(entries.len()).unwrap_or(u8::MAX);
        if count < 2 {
            return Err(BootParamsError::TooFewEntries { count });
        }
        let mut t = Self::new();
        for (index, e) in entries.enumerate() {
            if super::last_byte_wraps(e.addr, e.size) {
                return Err(BootParamsError::EntryWraps { index });
            }
            t.add(e.addr, e.size, e.ty).map_err(BootParamsError::Table)?;
        }
        Ok(t)
    }
}

/// The table Linux fakes when the zero page's E820 table is unusable
/// (`e820__memory_setup_default()`): `[0, LOWMEMSIZE)` RAM and
/// `[1 MiB, 1 MiB + mem_k KiB)` RAM, where `mem_k` is the larger of
/// `alt_mem_k` (BIOS-e801) and `screen_info.ext_mem_k` (BIOS-88).
///
/// Returns the table and the `who` name Linux prints it with (`"BIOS-e801"`
/// or `"BIOS-88"`; Linux picks BIOS-88 only when `alt_mem_k < ext_mem_k`).
///
/// # Errors
/// [`BootParamsError::TooShort`] if the slice does not reach `alt_mem_k`.
pub fn fallback_table<const N: usize>(zero_page: &[u8]) -> Result<(E820Table<N>, &'static str), BootParamsError> {
    let short = BootParamsError::TooShort { needed: ALT_MEM_K_OFFSET.saturating_add(4), actual: zero_page.len() };
    let alt = bytes::le_u32(zero_page, ALT_MEM_K_OFFSET).ok_or(short)?;
    let ext = bytes::le_u16(zero_page, EXT_MEM_K_OFFSET).ok_or(short)?;
    let (mem_k, who) = if alt < u32::from(ext) { (u64::from(ext), "BIOS-88") } else { (u64::from(alt), "BIOS-e801") };
    let mut t = E820Table::new();
    t.add(0, LOWMEMSIZE, E820Type::RAM).map_err(BootParamsError::Table)?;
    // mem_k < 2^32, so mem_k << 10 < 2^42.
    t.add(HIGH_MEMORY, mem_k << 10, E820Type::RAM).map_err(BootParamsError::Table)?;
    Ok((t, who))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero_page(entries: &[(u64, u64, u32)], count: u8) -> Vec<u8> {
        let mut zp = vec![0u8; 4096];
        zp[E820_ENTRIES_OFFSET] = count;
        for (i, &(a, s, t)) in entries.iter().enumerate() {
            let o = E820_TABLE_OFFSET + i * 20;
            zp[o..o + 8].copy_from_slice(&a.to_le_bytes());
            zp[o + 8..o + 16].copy_from_slice(&s.to_le_bytes());
            zp[o + 16..o + 20].copy_from_slice(&t.to_le_bytes());
        }
        zp
    }

    #[test]
    fn parses_qemu_like_zero_page() {
        let zp = zero_page(
            &[
                (0, 0x9fc00, 1),
                (0x9fc00, 0x400, 2),
                (0xf0000, 0x10000, 2),
                (0x100000, 0x7fee0000, 1),
                (0x7ffe0000, 0x20000, 2),
                (0xfffc0000, 0x40000, 2),
            ],
            6,
        );
        let t: E820Table = E820Table::from_boot_params(&zp).unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(t.entries()[3], E820Entry::new(0x100000, 0x7fee0000, E820Type::RAM));
        let mut s = String::new();
        t.write_table(&mut s, "BIOS-e820").unwrap();
        assert!(s.contains("BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable\n"));
        assert_eq!(zero_page_entries(&zp).unwrap().len(), 6);
    }

    #[test]
    fn rejects_like_linux() {
        let zp = zero_page(&[(0, 0x1000, 1)], 1);
        assert_eq!(E820Table::<8>::from_boot_params(&zp), Err(BootParamsError::TooFewEntries { count: 1 }));
        let zp = zero_page(&[(0, 0x1000, 1), (u64::MAX, 2, 1)], 2);
        assert_eq!(E820Table::<8>::from_boot_params(&zp), Err(BootParamsError::EntryWraps { index: 1 }));
        // size 0 never wraps; a range ending exactly at 2^64 does not either.
        let zp = zero_page(&[(u64::MAX, 0, 1), (u64::MAX, 1, 1)], 2);
        assert_eq!(E820Table::<8>::from_boot_params(&zp).unwrap().len(), 2);
        let zp = zero_page(&[], 129);
        assert_eq!(E820Table::<8>::from_boot_params(&zp), Err(BootParamsError::TooManyEntries { count: 129 }));
        let zp = zero_page(&[(0, 1, 1), (1, 1, 1), (2, 1, 1)], 3);
        assert!(matches!(
            E820Table::<2>::from_boot_params(&zp),
            Err(BootParamsError::Table(E820TableError::Full { .. }))
        ));
    }

    #[test]
    fn short_inputs() {
        assert_eq!(zero_page_entries(&[0u8; 10]).unwrap_err(), BootParamsError::TooShort { needed: 0x1e9, actual: 10 });
        let mut zp = vec![0u8; 0x2d0 + 20];
        zp[E820_ENTRIES_OFFSET] = 2;
        assert_eq!(
            zero_page_entries(&zp).unwrap_err(),
            BootParamsError::TooShort { needed: 0x2d0 + 40, actual: 0x2d0 + 20 }
        );
    }

    #[test]
    fn fallback_like_linux() {
        let mut zp = vec![0u8; 4096];
        zp[ALT_MEM_K_OFFSET..ALT_MEM_K_OFFSET + 4].copy_from_slice(&(1024u32 * 1023).to_le_bytes());
        zp[EXT_MEM_K_OFFSET..EXT_MEM_K_OFFSET + 2].copy_from_slice(&15360u16.to_le_bytes());
        let (t, who) = fallback_table::<4>(&zp).unwrap();
        assert_eq!(who, "BIOS-e801");
        assert_eq!(
            t.entries(),
            &[E820Entry::new(0, 0x9f000, E820Type::RAM), E820Entry::new(0x100000, 1023 << 20, E820Type::RAM)]
        );
        zp[ALT_MEM_K_OFFSET..ALT_MEM_K_OFFSET + 4].copy_from_slice(&0u32.to_le_bytes());
        let (_, who) = fallback_table::<4>(&zp).unwrap();
        assert_eq!(who, "BIOS-88");
        assert!(fallback_table::<4>(&zp[..0x100]).is_err());
    }
}
