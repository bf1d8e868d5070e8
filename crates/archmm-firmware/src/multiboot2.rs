//! The memory map tag of a Multiboot2 boot information structure.
//!
//! ## The format
//!
//! From the Multiboot2 Specification (version 2.0, section 3.6 "Boot
//! information format"), all little-endian (native x86) fields:
//!
//! * the boot information starts with `u32 total_size` (including these 8
//!   bytes) and `u32 reserved`;
//! * then tags, each starting on an 8-byte boundary with `u32 type` and
//!   `u32 size` (the size includes this header but not the padding to the
//!   next 8-byte boundary); the list ends with a tag of type 0 and size 8;
//! * the memory map tag (type 6) continues with `u32 entry_size` (a
//!   multiple of 8, at least 24) and `u32 entry_version` (0), followed by
//!   entries `{ u64 base_addr; u64 length; u32 type; u32 reserved; }`
//!   spaced `entry_size` bytes apart. Types: 1 available RAM, 3 ACPI
//!   information, 4 reserved to preserve on hibernation (NVS), 5 defective
//!   RAM, anything else reserved. These match the E820 values, so
//!   [`MmapEntry::to_e820`] passes them through.
//!
//! ## Checks
//!
//! [`find_mmap`] validates the whole tag list up to the end tag (every tag
//! header inside `total_size`, sizes at least 8, no tag running past the
//! end, an end tag present) so no walk can run off the buffer or loop.
//! Entry-level content (overlaps, zero lengths) is left to the caller;
//! [`crate::e820::E820Table::update_table`] sanitises it the Linux way.

use crate::bytes;
use crate::e820::{E820Entry, E820Type};
use core::fmt;

/// Tag type of the memory map.
pub const TAG_TYPE_MMAP: u32 = 6;
/// Tag type of the end tag.
pub const TAG_TYPE_END: u32 = 0;
/// Size of a memory map entry in version 0.
pub const MMAP_ENTRY_SIZE: usize = 24;

/// Errors from [`find_mmap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiboot2Error {
    /// The buffer is shorter than `total_size` or than 8 bytes.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// `total_size` is below 8 or not a multiple of 8.
    BadTotalSize {
        /// The value.
        total_size: u32,
    },
    /// A tag's `size` is below 8 or the tag runs past `total_size`.
    BadTag {
        /// Offset of the tag.
        offset: usize,
    },
    /// No end tag (type 0, size 8) before `total_size`.
    MissingEndTag,
    /// There is no memory map tag.
    NoMmapTag,
    /// The memory map tag's `entry_size` is below 24 or not a multiple of 8,
    /// or the tag is shorter than its 16-byte header.
    BadEntrySize {
        /// The value.
        entry_size: u32,
    },
    /// The memory map tag's `entry_version` is not 0.
    UnsupportedVersion {
        /// The value.
        version: u32,
    },
}

impl fmt::Display for Multiboot2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, actual } => {
                write!(f, "multiboot2 info truncated: need {needed} bytes, have {actual}")
            }
            Self::BadTotalSize { total_size } => {
                write!(f, "multiboot2 total_size {total_size} is below 8 or not a multiple of 8")
            }
            Self::BadTag { offset } => {
                write!(f, "multiboot2 tag at offset {offset:#x} has a bad size")
            }
            Self::MissingEndTag => f.write_str("multiboot2 info has no end tag"),
            Self::NoMmapTag => f.write_str("multiboot2 info has no memory map tag"),
            Self::BadEntrySize { entry_size } => {
                write!(f, "multiboot2 memory map entry_size {entry_size} is below 24 or not a multiple of 8")
            }
            Self::UnsupportedVersion { version } => {
                write!(f, "multiboot2 memory map entry_version {version}, expected 0")
            }
        }
    }
}

impl core::error::Error for Multiboot2Error {}

/// One memory map entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmapEntry {
    /// `base_addr`.
    pub base_addr: u64,
    /// `length`.
    pub length: u64,
    /// `type` (1 available, 3 ACPI, 4 NVS, 5 defective, else reserved).
    pub ty: u32,
    /// `reserved`.
    pub reserved: u32,
}

impl MmapEntry {
    /// As an E820 entry (the type values coincide).
    pub fn to_e820(&self) -> E820Entry {
        E820Entry::new(self.base_addr, self.length, E820Type(self.ty))
    }
}

/// Iterator over memory map entries; see [`find_mmap`].
#[derive(Clone, Debug)]
pub struct MmapEntries<'a> {
    rest: &'a [u8],
    entry_size: usize,
}

impl Iterator for MmapEntries<'_> {
    type Item = MmapEntry;
    fn next(&mut self) -> Option<MmapEntry> {
        if self.rest.len() < self.entry_size {
            return None;
        }
        let e = MmapEntry {
            base_addr: bytes::le_u64(self.rest, 0)?,
            length: bytes::le_u64(self.rest, 8)?,
            ty: bytes::le_u32(self.rest, 16)?,
            reserved: bytes::le_u32(self.rest, 20)?,
        };
        self.rest = self.rest.get(self.entry_size..).unwrap_or(&[]);
        Some(e)
    }
}

/// Iterator over the tags `(type, payload)` of a validated boot
/// information structure.
#[derive(Clone, Debug)]
pub struct Tags<'a> {
    info: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Tags<'a> {
    type Item = (u32, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let ty = bytes::le_u32(self.info, self.off)?;
        let size = usize::try_from(bytes::le_u32(self.info, self.off.checked_add(4)?)?).ok()?;
        if ty == TAG_TYPE_END || size < 8 {
            return None;
        }
        let payload = bytes::sub(self.info, self.off.checked_add(8)?, size.checked_sub(8)?)?;
        self.off = bytes::align_up(self.off.checked_add(size)?, 8)?;
        Some((ty, payload))
    }
}

/// Validates the tag list of the boot information `info` and returns its
/// tags (excluding the end tag).
///
/// # Errors
/// [`Multiboot2Error`] for a short buffer, a bad `total_size`, a tag that
/// is too small or runs past the end, or a missing end tag.
pub fn tags(info: &[u8]) -> Result<Tags<'_>, Multiboot2Error> {
    let total_size = bytes::le_u32(info, 0).ok_or(Multiboot2Error::Truncated { needed: 8, actual: info.len() })?;
    let total = usize::try_from(total_size).unwrap_or(usize::MAX);
    if total < 8 || total % 8 != 0 {
        return Err(Multiboot2Error::BadTotalSize { total_size });
    }
    let info = info.get(..total).ok_or(Multiboot2Error::Truncated { needed: total, actual: info.len() })?;
    let mut off = 8usize;
    loop {
        let (Some(ty), Some(size)) = (bytes::le_u32(info, off), bytes::le_u32(info, off.saturating_add(4))) else {
            return Err(Multiboot2Error::MissingEndTag);
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let end = off.checked_add(size);
        if size < 8 || end.map_or(true, |e| e > total) {
            return Err(Multiboot2Error::BadTag { offset: off });
        }
        if ty == TAG_TYPE_END {
            break;
        }
        // size >= 8, so `off` strictly increases.
        off = end.and_then(|e| bytes::align_up(e, 8)).ok_or(Multiboot2Error::BadTag { offset: off })?;
    }
    Ok(Tags { info, off: 8 })
}

/// Finds the memory map tag (type 6) in the boot information `info` and
/// returns its entries.
///
/// Any bytes in the tag after the last whole entry are ignored.
///
/// # Errors
/// As [`tags`], plus [`Multiboot2Error::NoMmapTag`],
/// [`Multiboot2Error::BadEntrySize`] and
/// [`Multiboot2Error::UnsupportedVersion`].
pub fn find_mmap(info: &[u8]) -> Result<MmapEntries<'_>, Multiboot2Error> {
    let (_, payload) = tags(info)?.find(|&(t, _)| t == TAG_TYPE_MMAP).ok_or(Multiboot2Error::NoMmapTag)?;
    let entry_size = bytes::le_u32(payload, 0).ok_or(Multiboot2Error::BadEntrySize { entry_size: 0 })?;
    let version = bytes::le_u32(payload, 4).ok_or(Multiboot2Error::BadEntrySize { entry_size })?;
    let es = usize::try_from(entry_size).unwrap_or(usize::MAX);
    if es < MMAP_ENTRY_SIZE || es % 8 != 0 {
        return Err(Multiboot2Error::BadEntrySize { entry_size });
    }
    if version != 0 {
        return Err(Multiboot2Error::UnsupportedVersion { version });
    }
    Ok(MmapEntries { rest: payload.get(8..).unwrap_or(&[]), entry_size: es })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(ty: u32, payload: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&ty.to_le_bytes());
        t.extend_from_slice(&(8 + payload.len() as u32).to_le_bytes());
        t.extend_from_slice(payload);
        while t.len() % 8 != 0 {
            t.push(0);
        }
        t
    }

    fn info(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0u8; 8];
        for t in tags {
            b.extend_from_slice(t);
        }
        b.extend_from_slice(&tag(0, &[]));
        let n = b.len() as u32;
        b[0..4].copy_from_slice(&n.to_le_bytes());
        b
    }

    fn mmap(entry_size: u32, entries: &[(u64, u64, u32)]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&entry_size.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        for &(a, l, t) in entries {
            p.extend_from_slice(&a.to_le_bytes());
            p.extend_from_slice(&l.to_le_bytes());
            p.extend_from_slice(&t.to_le_bytes());
            p.extend_from_slice(&0u32.to_le_bytes());
            p.resize(p.len() + entry_size as usize - 24, 0xee);
        }
        tag(6, &p)
    }

    #[test]
    fn finds_mmap() {
        let b = info(&[
            tag(1, b"cmdline\0"),
            mmap(24, &[(0, 0x9fc00, 1), (0x100000, 0x7ee0000, 1), (0xfffc0000, 0x40000, 2)]),
        ]);
        let v: Vec<_> = find_mmap(&b).unwrap().collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1], MmapEntry { base_addr: 0x100000, length: 0x7ee0000, ty: 1, reserved: 0 });
        assert_eq!(v[2].to_e820(), E820Entry::new(0xfffc0000, 0x40000, E820Type::RESERVED));
        assert_eq!(tags(&b).unwrap().count(), 2);
        // Wider entries are stepped over.
        let b = info(&[mmap(32, &[(0, 0x1000, 1), (0x1000, 0x1000, 3)])]);
        let v: Vec<_> = find_mmap(&b).unwrap().collect();
        assert_eq!(v[1].ty, 3);
    }

    #[test]
    fn errors() {
        assert_eq!(find_mmap(&[0; 2]).unwrap_err(), Multiboot2Error::Truncated { needed: 8, actual: 2 });
        assert_eq!(find_mmap(&[8, 0, 0, 0]).unwrap_err(), Multiboot2Error::Truncated { needed: 8, actual: 4 });
        let b = info(&[tag(1, b"x\0")]);
        assert_eq!(find_mmap(&b).unwrap_err(), Multiboot2Error::NoMmapTag);
        assert_eq!(
            find_mmap(&b[..b.len() - 8]).unwrap_err(),
            Multiboot2Error::Truncated { needed: b.len(), actual: b.len() - 8 }
        );
        let mut c = b.clone();
        c[0] = 12;
        assert!(matches!(find_mmap(&c), Err(Multiboot2Error::BadTotalSize { .. })));
        // End tag removed: total_size shrunk so it is not inside.
        let mut c = b.clone();
        let n = (c.len() - 8) as u32;
        c[0..4].copy_from_slice(&n.to_le_bytes());
        assert_eq!(find_mmap(&c).unwrap_err(), Multiboot2Error::MissingEndTag);
        let mut c = b.clone();
        c[12..16].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(find_mmap(&c).unwrap_err(), Multiboot2Error::BadTag { offset: 8 });
        let mut c = b.clone();
        c[12..16].copy_from_slice(&0x1000u32.to_le_bytes());
        assert_eq!(find_mmap(&c).unwrap_err(), Multiboot2Error::BadTag { offset: 8 });
        let b = info(&[mmap(20, &[])]);
        assert_eq!(find_mmap(&b).unwrap_err(), Multiboot2Error::BadEntrySize { entry_size: 20 });
        let mut b = info(&[mmap(24, &[(0, 1, 1)])]);
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(find_mmap(&b).unwrap_err(), Multiboot2Error::UnsupportedVersion { version: 1 });
        let b = info(&[tag(6, &[1, 0, 0])]);
        assert!(matches!(find_mmap(&b), Err(Multiboot2Error::BadEntrySize { .. })));
        assert!(!Multiboot2Error::NoMmapTag.to_string().is_empty());
    }
}
