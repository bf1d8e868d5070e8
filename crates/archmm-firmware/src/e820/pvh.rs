//! The PVH boot `hvm_start_info` structure and its memory map.
//!
//! ## The format
//!
//! A PVH entry point (Xen, QEMU `-kernel` with a PVH ELF note, Firecracker,
//! cloud-hypervisor) receives the physical address of `struct
//! hvm_start_info` in `%ebx`. The layout comes from Xen's public header,
//! copied into Linux as `include/xen/interface/hvm/start_info.h`; all
//! fields are little-endian:
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | `u32 magic` | `XEN_HVM_START_MAGIC_VALUE` = `0x336ec578` ("xEn3" with the 0x80 bit of "E" set) |
//! | 4 | `u32 version` | 0 or 1 (newer versions are backwards compatible) |
//! | 8 | `u32 flags` | `SIF_*` flags |
//! | 12 | `u32 nr_modules` | |
//! | 16 | `u64 modlist_paddr` | array of `hvm_modlist_entry` (32 bytes each) |
//! | 24 | `u64 cmdline_paddr` | NUL-terminated command line |
//! | 32 | `u64 rsdp_paddr` | ACPI RSDP |
//! | 40 | `u64 memmap_paddr` | version >= 1 only |
//! | 48 | `u32 memmap_entries` | version >= 1 only; 0 = no map |
//! | 52 | `u32 reserved` | version >= 1 only |
//!
//! "Nothing will be loaded at physical address 0", so an address field of 0
//! means "not present"; the parsers return `None` for it.
//!
//! Each memory-map entry (`hvm_memmap_table_entry`, 24 bytes) is
//! `{ u64 addr; u64 size; u32 type; u32 reserved; }` with types matching
//! E820 (`XEN_HVM_MEMMAP_TYPE_RAM` 1 ... `_PMEM` 7, plus 6 `DISABLED`).
//!
//! ## Linux's handling (`arch/x86/platform/pvh/enlighten.c`)
//!
//! `init_pvh_bootparams()` copies the entries into the zero page's E820
//! table (it stores `memmap_entries` in the `u8 e820_entries` and does not
//! check it against the 128-entry array), then appends an ISA hole
//! `[0xa0000, 0x100000)` as reserved if fewer than 127 entries were copied.
//! The normal zero-page path then runs (`append_e820_table()`,
//! `e820__update_table()`). [`pvh_e820_table`] does the same, but rejects
//! more than 128 entries ([`PvhError::TooManyEntries`]) where Linux would
//! overflow.
//!
//! The structure lives in guest memory; reading `memmap_paddr` and the
//! modules is the caller's job. These functions parse byte slices the
//! caller has mapped.

use super::boot_params::BootParamsError;
use super::{E820Entry, E820Table, E820Type, E820_MAX_ENTRIES_ZEROPAGE};
use crate::bytes;
use core::fmt;

/// `XEN_HVM_START_MAGIC_VALUE`.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;
/// Size of a version 0 `hvm_start_info`.
pub const START_INFO_V0_SIZE: usize = 40;
/// Size of a version 1 `hvm_start_info`.
pub const START_INFO_V1_SIZE: usize = 56;
/// Size of one `hvm_memmap_table_entry`.
pub const MEMMAP_ENTRY_SIZE: usize = 24;
/// Size of one `hvm_modlist_entry`.
pub const MODLIST_ENTRY_SIZE: usize = 32;
/// Linux's `ISA_START_ADDRESS`.
pub const ISA_START_ADDRESS: u64 = 0xa0000;
/// Linux's `ISA_END_ADDRESS`.
pub const ISA_END_ADDRESS: u64 = 0x10_0000;

/// Errors from the PVH parsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// The slice is shorter than the structure needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The first 4 bytes are not `XEN_HVM_START_MAGIC_VALUE`.
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// More than 128 memory-map entries: Linux copies them into the
    /// 128-entry zero-page table unchecked; we refuse.
    TooManyEntries {
        /// The entry count.
        count: u32,
    },
    /// The map failed Linux's zero-page checks (fewer than 2 entries or a
    /// wrapping entry) or did not fit the destination table.
    Table(BootParamsError),
}

impl fmt::Display for PvhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { needed, actual } => {
                write!(f, "PVH structure too short: need {needed} bytes, have {actual}")
            }
            Self::BadMagic { found } => {
                write!(f, "hvm_start_info magic is {found:#010x}, expected {XEN_HVM_START_MAGIC_VALUE:#010x}")
            }
            Self::TooManyEntries { count } => {
                write!(f, "PVH memory map has {count} entries; at most {E820_MAX_ENTRIES_ZEROPAGE} fit the zero page")
            }
            Self::Table(e) => write!(f, "PVH memory map: {e}"),
        }
    }
}

impl core::error::Error for PvhError {}

/// Where the memory map is (version >= 1 and `memmap_entries != 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvhMemmapLocation {
    /// `memmap_paddr` (may be 0 if the hypervisor is buggy; not checked).
    pub paddr: u64,
    /// `memmap_entries`.
    pub entries: u32,
}

/// The decoded `hvm_start_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvmStartInfo {
    /// `version`.
    pub version: u32,
    /// `flags` (`SIF_*`).
    pub flags: u32,
    /// `nr_modules`.
    pub nr_modules: u32,
    /// `modlist_paddr`, `None` if 0.
    pub modlist_paddr: Option<u64>,
    /// `cmdline_paddr`, `None` if 0.
    pub cmdline_paddr: Option<u64>,
    /// `rsdp_paddr`, `None` if 0.
    pub rsdp_paddr: Option<u64>,
    /// The memory map, `None` for version 0 or `memmap_entries == 0`
    /// (Linux then needs `XENMEM_memory_map` on Xen, and BUG()s elsewhere).
    pub memmap: Option<PvhMemmapLocation>,
    /// The `reserved` field (version >= 1; "must be zero", not checked, as
    /// Linux does not).
    pub reserved: u32,
}

/// Parses `hvm_start_info` from `bytes` (which must start at the
/// structure).
///
/// Version 0 needs 40 bytes; any version >= 1 needs 56 and provides the
/// memory map fields. Extra bytes are ignored (later versions may append
/// fields).
///
/// # Errors
/// [`PvhError::TooShort`], [`PvhError::BadMagic`].
pub fn parse_start_info(bytes: &[u8]) -> Result<HvmStartInfo, PvhError> {
    let short = |needed| PvhError::TooShort { needed, actual: bytes.len() };
    let magic = bytes::le_u32(bytes, 0).ok_or(short(START_INFO_V0_SIZE))?;
    if magic != XEN_HVM_START_MAGIC_VALUE {
        return Err(PvhError::BadMagic { found: magic });
    }
    if bytes.len() < START_INFO_V0_SIZE {
        return Err(short(START_INFO_V0_SIZE));
    }
    let r32 = |o| bytes::le_u32(bytes, o).unwrap_or(0);
    let r64 = |o| bytes::le_u64(bytes, o).unwrap_or(0);
    let nz = |v: u64| if v == 0 { None } else { Some(v) };
    let version = r32(4);
    let (memmap, reserved) = if version >= 1 {
        if bytes.len() < START_INFO_V1_SIZE {
            return Err(short(START_INFO_V1_SIZE));
        }
        let entries = r32(48);
        let loc = PvhMemmapLocation { paddr: r64(40), entries };
        (if entries != 0 { Some(loc) } else { None }, r32(52))
    } else {
        (None, 0)
    };
    Ok(HvmStartInfo {
        version,
        flags: r32(8),
        nr_modules: r32(12),
        modlist_paddr: nz(r64(16)),
        cmdline_paddr: nz(r64(24)),
        rsdp_paddr: nz(r64(32)),
        memmap,
        reserved,
    })
}

/// One `hvm_memmap_table_entry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmMemmapEntry {
    /// Base address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Type (E820 values; 6 is `XEN_HVM_MEMMAP_TYPE_DISABLED`).
    pub ty: u32,
    /// The `reserved` field ("must be zero", not checked).
    pub reserved: u32,
}

impl HvmMemmapEntry {
    /// The entry as an E820 entry, as Linux copies it (the type is passed
    /// through unchanged).
    pub fn to_e820(&self) -> E820Entry {
        E820Entry::new(self.addr, self.size, E820Type(self.ty))
    }
}

/// Iterator over memory-map entries; see [`parse_memmap`].
#[derive(Clone, Debug)]
pub struct HvmMemmapEntries<'a> {
    rest: &'a [u8],
}

impl Iterator for HvmMemmapEntries<'_> {
    type Item = HvmMemmapEntry;
    fn next(&mut self) -> Option<HvmMemmapEntry> {
        let e = HvmMemmapEntry {
            addr: bytes::le_u64(self.rest, 0)?,
            size: bytes::le_u64(self.rest, 8)?,
            ty: bytes::le_u32(self.rest, 16)?,
            reserved: bytes::le_u32(self.rest, 20)?,
        };
        self.rest = self.rest.get(MEMMAP_ENTRY_SIZE..).unwrap_or(&[]);
        Some(e)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / MEMMAP_ENTRY_SIZE;
        (n, Some(n))
    }
}

impl ExactSizeIterator for HvmMemmapEntries<'_> {}

/// Parses `count` `hvm_memmap_table_entry` records from `bytes` (the memory
/// at `memmap_paddr`). Bytes after the last entry are ignored.
///
/// # Errors
/// [`PvhError::TooShort`] if `bytes` holds fewer than `count` entries.
pub fn parse_memmap(bytes: &[u8], count: u32) -> Result<HvmMemmapEntries<'_>, PvhError> {
    let len = usize::try_from(count).ok().and_then(|c| c.checked_mul(MEMMAP_ENTRY_SIZE));
    let rest = len.and_then(|l| bytes::sub(bytes, 0, l));
    match rest {
        Some(rest) => Ok(HvmMemmapEntries { rest }),
        None => Err(PvhError::TooShort { needed: len.unwrap_or(usize::MAX), actual: bytes.len() }),
    }
}

/// One `hvm_modlist_entry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmModule {
    /// Physical address of the module.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Physical address of its command line, `None` if 0.
    pub cmdline_paddr: Option<u64>,
}

/// Iterator over module entries; see [`parse_modlist`].
#[derive(Clone, Debug)]
pub struct HvmModules<'a> {
    rest: &'a [u8],
}

impl Iterator for HvmModules<'_> {
    type Item = HvmModule;
    fn next(&mut self) -> Option<HvmModule> {
        let paddr = bytes::le_u64(self.rest, 0)?;
        let size = bytes::le_u64(self.rest, 8)?;
        let cmd = bytes::le_u64(self.rest, 16)?;
        bytes::le_u64(self.rest, 24)?;
        self.rest = self.rest.get(MODLIST_ENTRY_SIZE..).unwrap_or(&[]);
        Some(HvmModule { paddr, size, cmdline_paddr: if cmd == 0 { None } else { Some(cmd) } })
    }
}

/// Parses `count` `hvm_modlist_entry` records (the memory at
/// `modlist_paddr`; Linux treats the first module as the initrd).
///
/// # Errors
/// [`PvhError::TooShort`] if `bytes` holds fewer than `count` entries.
pub fn parse_modlist(bytes: &[u8], count: u32) -> Result<HvmModules<'_>, PvhError> {
    let len = usize::try_from(count).ok().and_then(|c| c.checked_mul(MODLIST_ENTRY_SIZE));
    match len.and_then(|l| bytes::sub(bytes, 0, l)) {
        Some(rest) => Ok(HvmModules { rest }),
        None => Err(PvhError::TooShort { needed: len.unwrap_or(usize::MAX), actual: bytes.len() }),
    }
}

/// Builds the E820 table Linux builds for a PVH boot: the entries in order,
/// then the ISA hole `[0xa0000, 0x100000)` as reserved when fewer than 127
/// entries were given, then Linux's zero-page checks (at least 2 entries,
/// no wrapping entry). The result is not sanitised: call
/// [`E820Table::update_table`] as Linux does next.
///
/// # Errors
/// [`PvhError::TooManyEntries`] for more than 128 entries;
/// [`PvhError::Table`] with [`BootParamsError::TooFewEntries`],
/// [`BootParamsError::EntryWraps`] or [`BootParamsError::Table`] (capacity).
pub fn pvh_e820_table<const N: usize>(entries: HvmMemmapEntries<'_>) -> Result<E820Table<N>, PvhError> {
    let count = entries.len();
    if count > E820_MAX_ENTRIES_ZEROPAGE {
        return Err(PvhError::TooManyEntries { count: u32::try_from(count).unwrap_or(u32::MAX) });
    }
    let isa = count < E820_MAX_ENTRIES_ZEROPAGE.saturating_sub(1);
    let total = if isa { count.saturating_add(1) } else { count };
    if total < 2 {
        return Err(PvhError::Table(BootParamsError::TooFewEntries { count: u8::try_from(total).unwrap_or(u8::MAX) }));
    }
    let mut t = E820Table::new();
    let isa_entry = E820Entry::new(ISA_START_ADDRESS, ISA_END_ADDRESS - ISA_START_ADDRESS, E820Type::RESERVED);
    let all = entries.map(|e| e.to_e820()).chain(if isa { Some(isa_entry) } else { None });
    for (index, e) in all.enumerate() {
        if super::last_byte_wraps(e.addr, e.size) {
            return Err(PvhError::Table(BootParamsError::EntryWraps { index }));
        }
        t.add(e.addr, e.size, e.ty).map_err(|e| PvhError::Table(BootParamsError::Table(e)))?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_info(version: u32, memmap: (u64, u32)) -> Vec<u8> {
        let mut b = vec![0u8; 56];
        b[0..4].copy_from_slice(&XEN_HVM_START_MAGIC_VALUE.to_le_bytes());
        b[4..8].copy_from_slice(&version.to_le_bytes());
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[16..24].copy_from_slice(&0x6000u64.to_le_bytes());
        b[24..32].copy_from_slice(&0x7000u64.to_le_bytes());
        b[40..48].copy_from_slice(&memmap.0.to_le_bytes());
        b[48..52].copy_from_slice(&memmap.1.to_le_bytes());
        b
    }

    fn memmap(entries: &[(u64, u64, u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        for &(a, s, t) in entries {
            b.extend_from_slice(&a.to_le_bytes());
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_start_info() {
        let si = parse_start_info(&start_info(1, (0x5000, 3))).unwrap();
        assert_eq!(si.version, 1);
        assert_eq!(si.nr_modules, 1);
        assert_eq!(si.modlist_paddr, Some(0x6000));
        assert_eq!(si.cmdline_paddr, Some(0x7000));
        assert_eq!(si.rsdp_paddr, None);
        assert_eq!(si.memmap, Some(PvhMemmapLocation { paddr: 0x5000, entries: 3 }));
        let si = parse_start_info(&start_info(0, (0x5000, 3))[..40]).unwrap();
        assert_eq!(si.memmap, None);
        let si = parse_start_info(&start_info(1, (0x5000, 0))).unwrap();
        assert_eq!(si.memmap, None);
    }

    #[test]
    fn start_info_errors() {
        assert_eq!(parse_start_info(&start_info(1, (0, 0))[..40]), Err(PvhError::TooShort { needed: 56, actual: 40 }));
        assert_eq!(parse_start_info(&[]), Err(PvhError::TooShort { needed: 40, actual: 0 }));
        let mut b = start_info(1, (0, 0));
        b[0] ^= 1;
        assert!(matches!(parse_start_info(&b), Err(PvhError::BadMagic { .. })));
        assert!(parse_start_info(&b[..20]).is_err());
    }

    #[test]
    fn memmap_to_e820_like_linux() {
        let m = memmap(&[(0, 0x9fc00, 1), (0x100000, 0x7ff00000, 1), (0xfeffc000, 0x4000, 2)]);
        let entries = parse_memmap(&m, 3).unwrap();
        assert_eq!(entries.len(), 3);
        let mut t: E820Table = pvh_e820_table(entries).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.entries()[3], E820Entry::new(0xa0000, 0x60000, E820Type::RESERVED));
        t.update_table().unwrap();
        assert_eq!(t.entries()[1], E820Entry::new(0xa0000, 0x60000, E820Type::RESERVED));
        // One entry plus the ISA hole is enough for Linux.
        let m = memmap(&[(0, 0x9fc00, 1)]);
        assert_eq!(pvh_e820_table::<8>(parse_memmap(&m, 1).unwrap()).unwrap().len(), 2);
        assert!(parse_memmap(&m, 2).is_err());
        assert!(parse_memmap(&m, u32::MAX).is_err());
    }

    #[test]
    fn memmap_limits() {
        let many: Vec<_> = (0..129u64).map(|i| (i << 12, 0x1000, 1)).collect();
        let m = memmap(&many);
        assert_eq!(
            pvh_e820_table::<512>(parse_memmap(&m, 129).unwrap()).unwrap_err(),
            PvhError::TooManyEntries { count: 129 }
        );
        // 127 entries: no room for the ISA hole, as in Linux.
        assert_eq!(pvh_e820_table::<512>(parse_memmap(&m, 127).unwrap()).unwrap().len(), 127);
        assert_eq!(pvh_e820_table::<512>(parse_memmap(&m, 126).unwrap()).unwrap().len(), 127);
        let m = memmap(&[(2, u64::MAX, 1)]);
        assert_eq!(
            pvh_e820_table::<8>(parse_memmap(&m, 1).unwrap()).unwrap_err(),
            PvhError::Table(BootParamsError::EntryWraps { index: 0 })
        );
    }

    #[test]
    fn modules() {
        let mut b = vec![0u8; 64];
        b[0..8].copy_from_slice(&0x100000u64.to_le_bytes());
        b[8..16].copy_from_slice(&0x2000u64.to_le_bytes());
        b[48..56].copy_from_slice(&0x9000u64.to_le_bytes());
        let mods: Vec<_> = parse_modlist(&b, 2).unwrap().collect();
        assert_eq!(mods[0], HvmModule { paddr: 0x100000, size: 0x2000, cmdline_paddr: None });
        assert_eq!(mods[1].cmdline_paddr, Some(0x9000));
        assert!(parse_modlist(&b, 3).is_err());
    }
}
