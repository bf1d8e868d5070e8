//! The UEFI memory map and how Linux 6.1 turns it into memory.
//!
//! ## The format
//!
//! `EFI_BOOT_SERVICES.GetMemoryMap()` (UEFI Specification 2.10, section
//! 7.2) returns an array of `EFI_MEMORY_DESCRIPTOR`s, little-endian:
//!
//! | offset | field |
//! |---|---|
//! | 0 | `u32 Type` |
//! | 4 | `u32` padding |
//! | 8 | `u64 PhysicalStart` |
//! | 16 | `u64 VirtualStart` |
//! | 24 | `u64 NumberOfPages` (4 KiB EFI pages) |
//! | 32 | `u64 Attribute` |
//!
//! The firmware also returns `DescriptorSize`, which may be larger than 40
//! (newer firmware may append fields; callers must step by it), and
//! `DescriptorVersion` (1). [`MemoryMap::new`] requires `DescriptorSize >=
//! 40` and a multiple of 8 (every descriptor stays 8-byte aligned), version
//! 1 (Linux only `WARN`s on other versions), and a map length that is a
//! whole number of descriptors (Linux silently ignores a trailing partial
//! descriptor; we reject it, as it means the size is wrong).
//!
//! Types and attribute bits are Linux's `include/linux/efi.h` names:
//! `EFI_RESERVED_TYPE` 0 ... `EFI_PERSISTENT_MEMORY` 14 (15,
//! `EfiUnacceptedMemoryType` from UEFI 2.9, is unknown to Linux 6.1 and
//! printed as `type=15`), and `EFI_MEMORY_UC` ... `EFI_MEMORY_RUNTIME`.
//!
//! ## Linux's two mappings
//!
//! * **x86** (`arch/x86/platform/efi/efi.c`): `efi_clean_memmap()` first
//!   drops descriptors that `efi_memmap_entry_valid()` rejects (zero pages,
//!   or an end past 2^64), see [`x86_entry_valid`]; then
//!   `do_add_efi_memmap()` adds each descriptor to the E820 table with the
//!   type from [`x86_e820_type`] and sanitises it ([`add_x86_efi_memmap`]).
//! * **generic / arm64 / riscv / loongarch**
//!   (`drivers/firmware/efi/efi-init.c`, `reserve_regions()`): each
//!   descriptor is first rounded out to the kernel page size
//!   (`memrange_efi_to_native()`), then: if it is memory (`is_memory()`:
//!   WB, WT or WC attribute) and not soft-reserved (SP attribute with soft
//!   reservation enabled), it is `memblock_add()`ed; it is additionally
//!   marked `nomap` unless `is_usable_memory()` (loader/boot-services/
//!   conventional/ACPI-reclaim/persistent *and* WB); ACPI reclaim memory is
//!   also `memblock_reserve()`d. See [`generic_region`].
//!
//! `efi=debug` log lines are parsed by [`dmesg`].

pub mod dmesg;

use crate::bytes;
use crate::e820::{E820Table, E820TableError, E820Type, E820UpdateError};
use core::fmt;

/// Size of the UEFI 2.x `EFI_MEMORY_DESCRIPTOR` structure.
pub const EFI_MEMORY_DESCRIPTOR_SIZE: usize = 40;
/// `EFI_MEMORY_DESCRIPTOR_VERSION`.
pub const EFI_MEMORY_DESCRIPTOR_VERSION: u32 = 1;
/// `EFI_PAGE_SHIFT`.
pub const EFI_PAGE_SHIFT: u32 = 12;
/// Linux's `EFI_PAGES_MAX` (`U64_MAX >> EFI_PAGE_SHIFT`).
pub const EFI_PAGES_MAX: u64 = u64::MAX >> EFI_PAGE_SHIFT;

/// A UEFI memory type (`EFI_MEMORY_TYPE`), raw `u32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EfiMemoryType(pub u32);

impl EfiMemoryType {
    /// `EFI_RESERVED_TYPE`.
    pub const RESERVED: Self = Self(0);
    /// `EFI_LOADER_CODE`.
    pub const LOADER_CODE: Self = Self(1);
    /// `EFI_LOADER_DATA`.
    pub const LOADER_DATA: Self = Self(2);
    /// `EFI_BOOT_SERVICES_CODE`.
    pub const BOOT_SERVICES_CODE: Self = Self(3);
    /// `EFI_BOOT_SERVICES_DATA`.
    pub const BOOT_SERVICES_DATA: Self = Self(4);
    /// `EFI_RUNTIME_SERVICES_CODE`.
    pub const RUNTIME_SERVICES_CODE: Self = Self(5);
    /// `EFI_RUNTIME_SERVICES_DATA`.
    pub const RUNTIME_SERVICES_DATA: Self = Self(6);
    /// `EFI_CONVENTIONAL_MEMORY`.
    pub const CONVENTIONAL_MEMORY: Self = Self(7);
    /// `EFI_UNUSABLE_MEMORY`.
    pub const UNUSABLE_MEMORY: Self = Self(8);
    /// `EFI_ACPI_RECLAIM_MEMORY`.
    pub const ACPI_RECLAIM_MEMORY: Self = Self(9);
    /// `EFI_ACPI_MEMORY_NVS`.
    pub const ACPI_MEMORY_NVS: Self = Self(10);
    /// `EFI_MEMORY_MAPPED_IO`.
    pub const MEMORY_MAPPED_IO: Self = Self(11);
    /// `EFI_MEMORY_MAPPED_IO_PORT_SPACE`.
    pub const MEMORY_MAPPED_IO_PORT_SPACE: Self = Self(12);
    /// `EFI_PAL_CODE`.
    pub const PAL_CODE: Self = Self(13);
    /// `EFI_PERSISTENT_MEMORY`.
    pub const PERSISTENT_MEMORY: Self = Self(14);
    /// `EfiUnacceptedMemoryType` (UEFI 2.9; not known to Linux 6.1).
    pub const UNACCEPTED_MEMORY: Self = Self(15);

    /// The name Linux 6.1's `efi_md_typeattr_format()` prints (from its
    /// `memory_type_name[]`, without the padding), or `None` for types
    /// >= 15, which it prints as `type=N`.
    pub const fn linux_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "Reserved",
            1 => "Loader Code",
            2 => "Loader Data",
            3 => "Boot Code",
            4 => "Boot Data",
            5 => "Runtime Code",
            6 => "Runtime Data",
            7 => "Conventional",
            8 => "Unusable",
            9 => "ACPI Reclaim",
            10 => "ACPI Mem NVS",
            11 => "MMIO",
            12 => "MMIO Port",
            13 => "PAL Code",
            14 => "Persistent",
            _ => return None,
        })
    }

    /// Parses a name printed by `efi_md_typeattr_format()` (without
    /// padding), including `type=N`.
    pub fn from_linux_name(name: &str) -> Option<Self> {
        if let Some(n) = name.strip_prefix("type=") {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return n.parse().ok().map(Self);
        }
        (0..15u32).map(Self).find(|t| t.linux_name() == Some(name))
    }
}

impl fmt::Display for EfiMemoryType {
    /// Linux's name, or `type=N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.linux_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "type={}", self.0),
        }
    }
}

/// UEFI memory attribute bits (`EFI_MEMORY_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EfiMemoryAttribute(pub u64);

impl EfiMemoryAttribute {
    /// `EFI_MEMORY_UC`: uncached.
    pub const UC: u64 = 0x1;
    /// `EFI_MEMORY_WC`: write-coalescing.
    pub const WC: u64 = 0x2;
    /// `EFI_MEMORY_WT`: write-through.
    pub const WT: u64 = 0x4;
    /// `EFI_MEMORY_WB`: write-back.
    pub const WB: u64 = 0x8;
    /// `EFI_MEMORY_UCE`: uncached, exported.
    pub const UCE: u64 = 0x10;
    /// `EFI_MEMORY_WP`: write-protect.
    pub const WP: u64 = 0x1000;
    /// `EFI_MEMORY_RP`: read-protect.
    pub const RP: u64 = 0x2000;
    /// `EFI_MEMORY_XP`: execute-protect.
    pub const XP: u64 = 0x4000;
    /// `EFI_MEMORY_NV`: non-volatile.
    pub const NV: u64 = 0x8000;
    /// `EFI_MEMORY_MORE_RELIABLE`.
    pub const MORE_RELIABLE: u64 = 0x1_0000;
    /// `EFI_MEMORY_RO`: read-only.
    pub const RO: u64 = 0x2_0000;
    /// `EFI_MEMORY_SP`: specific purpose ("soft reserved").
    pub const SP: u64 = 0x4_0000;
    /// `EFI_MEMORY_CPU_CRYPTO`.
    pub const CPU_CRYPTO: u64 = 0x8_0000;
    /// `EFI_MEMORY_HOT_PLUGGABLE` (in the Linux 6.1 tree this crate was
    /// checked against, printed as `HP`).
    pub const HOT_PLUGGABLE: u64 = 0x10_0000;
    /// `EFI_MEMORY_RUNTIME`: needs a runtime mapping.
    pub const RUNTIME: u64 = 0x8000_0000_0000_0000;

    /// Every bit `efi_md_typeattr_format()` has a name for; any other bit
    /// makes it print `attr=0x...` instead.
    pub const KNOWN: u64 = Self::UC
        | Self::WC
        | Self::WT
        | Self::WB
        | Self::UCE
        | Self::RO
        | Self::WP
        | Self::RP
        | Self::XP
        | Self::NV
        | Self::SP
        | Self::CPU_CRYPTO
        | Self::MORE_RELIABLE
        | Self::HOT_PLUGGABLE
        | Self::RUNTIME;

    /// The flags in the order Linux prints them, with their names and field
    /// widths.
    pub const PRINT_ORDER: [(u64, &'static str, usize); 15] = [
        (Self::RUNTIME, "RUN", 3),
        (Self::HOT_PLUGGABLE, "HP", 2),
        (Self::MORE_RELIABLE, "MR", 2),
        (Self::CPU_CRYPTO, "CC", 2),
        (Self::SP, "SP", 2),
        (Self::NV, "NV", 2),
        (Self::XP, "XP", 2),
        (Self::RP, "RP", 2),
        (Self::WP, "WP", 2),
        (Self::RO, "RO", 2),
        (Self::UCE, "UCE", 3),
        (Self::WB, "WB", 2),
        (Self::WT, "WT", 2),
        (Self::WC, "WC", 2),
        (Self::UC, "UC", 2),
    ];

    /// Whether every bit of `mask` is set.
    pub const fn contains(self, mask: u64) -> bool {
        self.0 & mask == mask
    }

    /// Whether any bit of `mask` is set.
    pub const fn intersects(self, mask: u64) -> bool {
        self.0 & mask != 0
    }
}

/// One memory descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemoryDescriptor {
    /// `Type`.
    pub ty: EfiMemoryType,
    /// The padding word after `Type`.
    pub pad: u32,
    /// `PhysicalStart`.
    pub phys_start: u64,
    /// `VirtualStart`.
    pub virt_start: u64,
    /// `NumberOfPages` (4 KiB pages).
    pub num_pages: u64,
    /// `Attribute`.
    pub attribute: EfiMemoryAttribute,
}

impl MemoryDescriptor {
    /// Size in bytes, `None` if `num_pages << 12` overflows.
    pub const fn size(&self) -> Option<u64> {
        if self.num_pages > EFI_PAGES_MAX {
            None
        } else {
            Some(self.num_pages << EFI_PAGE_SHIFT)
        }
    }

    /// Exclusive end address, `None` if it does not fit in a `u64`.
    pub const fn end(&self) -> Option<u64> {
        match self.size() {
            Some(s) => self.phys_start.checked_add(s),
            None => None,
        }
    }

    /// Decodes a descriptor from the first 40 bytes of `b`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self {
            ty: EfiMemoryType(bytes::le_u32(b, 0)?),
            pad: bytes::le_u32(b, 4)?,
            phys_start: bytes::le_u64(b, 8)?,
            virt_start: bytes::le_u64(b, 16)?,
            num_pages: bytes::le_u64(b, 24)?,
            attribute: EfiMemoryAttribute(bytes::le_u64(b, 32)?),
        })
    }

    /// Encodes the descriptor as the 40-byte UEFI layout.
    pub fn to_bytes(&self) -> [u8; EFI_MEMORY_DESCRIPTOR_SIZE] {
        let mut out = [0u8; EFI_MEMORY_DESCRIPTOR_SIZE];
        let parts: [(&[u8], usize); 6] = [
            (&self.ty.0.to_le_bytes(), 0),
            (&self.pad.to_le_bytes(), 4),
            (&self.phys_start.to_le_bytes(), 8),
            (&self.virt_start.to_le_bytes(), 16),
            (&self.num_pages.to_le_bytes(), 24),
            (&self.attribute.0.to_le_bytes(), 32),
        ];
        for (src, off) in parts {
            if let Some(dst) = out.get_mut(off..off.saturating_add(src.len())) {
                dst.copy_from_slice(src);
            }
        }
        out
    }
}

/// Errors from [`MemoryMap::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// `DescriptorSize` is below 40.
    DescriptorTooSmall {
        /// The given size.
        desc_size: usize,
    },
    /// `DescriptorSize` is not a multiple of 8.
    DescriptorMisaligned {
        /// The given size.
        desc_size: usize,
    },
    /// `DescriptorVersion` is not 1.
    UnsupportedVersion {
        /// The given version.
        version: u32,
    },
    /// The map length is not a multiple of `DescriptorSize`.
    TrailingBytes {
        /// Map length.
        len: usize,
        /// Descriptor size.
        desc_size: usize,
    },
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::DescriptorTooSmall { desc_size } => {
                write!(f, "EFI descriptor size {desc_size} is smaller than {EFI_MEMORY_DESCRIPTOR_SIZE}")
            }
            Self::DescriptorMisaligned { desc_size } => {
                write!(f, "EFI descriptor size {desc_size} is not a multiple of 8")
            }
            Self::UnsupportedVersion { version } => {
                write!(f, "EFI memory descriptor version {version}, expected 1")
            }
            Self::TrailingBytes { len, desc_size } => {
                write!(f, "EFI memory map of {len} bytes is not a whole number of {desc_size}-byte descriptors")
            }
        }
    }
}

impl core::error::Error for MemoryMapError {}

/// A validated UEFI memory map borrowed from the bytes `GetMemoryMap()`
/// wrote.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap<'a> {
    bytes: &'a [u8],
    desc_size: usize,
}

impl<'a> MemoryMap<'a> {
    /// Validates the map `bytes` with the firmware's `desc_size` and
    /// `desc_version` (see the module docs for the rules).
    ///
    /// # Errors
    /// The [`MemoryMapError`] naming the broken rule.
    pub fn new(bytes: &'a [u8], desc_size: usize, desc_version: u32) -> Result<Self, MemoryMapError> {
        if desc_size < EFI_MEMORY_DESCRIPTOR_SIZE {
            return Err(MemoryMapError::DescriptorTooSmall { desc_size });
        }
        if desc_size % 8 != 0 {
            return Err(MemoryMapError::DescriptorMisaligned { desc_size });
        }
        if desc_version != EFI_MEMORY_DESCRIPTOR_VERSION {
            return Err(MemoryMapError::UnsupportedVersion { version: desc_version });
        }
        if bytes.len().checked_rem(desc_size) != Some(0) {
            return Err(MemoryMapError::TrailingBytes { len: bytes.len(), desc_size });
        }
        Ok(Self { bytes, desc_size })
    }

    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.bytes.len().checked_div(self.desc_size).unwrap_or(0)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The descriptor size.
    pub fn desc_size(&self) -> usize {
        self.desc_size
    }

    /// Iterates over the descriptors in map order.
    pub fn iter(&self) -> Descriptors<'a> {
        Descriptors { rest: self.bytes, desc_size: self.desc_size }
    }
}

/// Iterator over a [`MemoryMap`].
#[derive(Clone, Debug)]
pub struct Descriptors<'a> {
    rest: &'a [u8],
    desc_size: usize,
}

impl Iterator for Descriptors<'_> {
    type Item = MemoryDescriptor;
    fn next(&mut self) -> Option<MemoryDescriptor> {
        let d = MemoryDescriptor::from_bytes(self.rest)?;
        self.rest = self.rest.get(self.desc_size..).unwrap_or(&[]);
        Some(d)
    }
}

impl<'a> IntoIterator for &MemoryMap<'a> {
    type Item = MemoryDescriptor;
    type IntoIter = Descriptors<'a>;
    fn into_iter(self) -> Descriptors<'a> {
        self.iter()
    }
}

/// Linux x86's `efi_memmap_entry_valid()`: false (the entry is dropped by
/// `efi_clean_memmap()` with an `Invalid EFI memory map entries` warning)
/// when `num_pages` is 0, or when the range's end page would pass
/// `EFI_PAGES_MAX` (`num_pages > EFI_PAGES_MAX` or `EFI_PAGES_MAX -
/// num_pages < phys_start >> 12`).
pub fn x86_entry_valid(md: &MemoryDescriptor) -> bool {
    if md.num_pages == 0 || md.num_pages > EFI_PAGES_MAX {
        return false;
    }
    EFI_PAGES_MAX.saturating_sub(md.num_pages) >= md.phys_start >> EFI_PAGE_SHIFT
}

/// Linux x86's `do_add_efi_memmap()` type mapping.
///
/// * loader code/data, boot services code/data, conventional: soft
///   reserved if `soft_reserve_enabled` (Linux: `CONFIG_EFI_SOFT_RESERVE`
///   and no `efi=nosoftreserve`) and the SP attribute is set; else RAM if
///   WB is set; else reserved;
/// * ACPI reclaim → ACPI data, ACPI NVS → NVS, unusable → unusable,
///   persistent → PMEM (7);
/// * everything else (reserved, runtime code/data, MMIO, MMIO port, PAL
///   code, unknown types) → reserved.
pub fn x86_e820_type(md: &MemoryDescriptor, soft_reserve_enabled: bool) -> E820Type {
    match md.ty {
        EfiMemoryType::LOADER_CODE
        | EfiMemoryType::LOADER_DATA
        | EfiMemoryType::BOOT_SERVICES_CODE
        | EfiMemoryType::BOOT_SERVICES_DATA
        | EfiMemoryType::CONVENTIONAL_MEMORY => {
            if soft_reserve_enabled && md.attribute.intersects(EfiMemoryAttribute::SP) {
                E820Type::SOFT_RESERVED
            } else if md.attribute.intersects(EfiMemoryAttribute::WB) {
                E820Type::RAM
            } else {
                E820Type::RESERVED
            }
        }
        EfiMemoryType::ACPI_RECLAIM_MEMORY => E820Type::ACPI,
        EfiMemoryType::ACPI_MEMORY_NVS => E820Type::NVS,
        EfiMemoryType::UNUSABLE_MEMORY => E820Type::UNUSABLE,
        EfiMemoryType::PERSISTENT_MEMORY => E820Type::PMEM,
        _ => E820Type::RESERVED,
    }
}

/// Errors from [`add_x86_efi_memmap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X86EfiError {
    /// The E820 table filled up (Linux drops every further range with
    /// `too many entries`); the table holds what fitted, unsanitised.
    Table(E820TableError),
    /// The sanitised table was truncated (see
    /// [`E820UpdateError::Truncated`]).
    Update(E820UpdateError),
}

impl fmt::Display for X86EfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Table(e) => write!(f, "{e}"),
            Self::Update(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for X86EfiError {}

/// Linux x86's `efi_clean_memmap()` + `do_add_efi_memmap()`: adds every
/// valid descriptor ([`x86_entry_valid`]) to `table` as
/// `(phys_start, num_pages << 12, x86_e820_type())` and then runs
/// [`E820Table::update_table`] (whose "nothing to do" outcomes Linux
/// ignores, and so does this function).
///
/// Returns the number of descriptors dropped as invalid.
///
/// # Errors
/// [`X86EfiError::Table`] when the table is full, [`X86EfiError::Update`]
/// when the sanitised table was truncated.
pub fn add_x86_efi_memmap<const N: usize>(
    table: &mut E820Table<N>,
    map: impl IntoIterator<Item = MemoryDescriptor>,
    soft_reserve_enabled: bool,
) -> Result<usize, X86EfiError> {
    let mut invalid = 0usize;
    for md in map {
        if !x86_entry_valid(&md) {
            invalid = invalid.saturating_add(1);
            continue;
        }
        let size = md.size().unwrap_or(0);
        table.add(md.phys_start, size, x86_e820_type(&md, soft_reserve_enabled)).map_err(X86EfiError::Table)?;
    }
    match table.update_table() {
        Err(e @ E820UpdateError::Truncated { .. }) => Err(X86EfiError::Update(e)),
        _ => Ok(invalid),
    }
}

/// What `reserve_regions()` does with one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenericDisposition {
    /// Not memory (no WB/WT/WC attribute): ignored.
    NotMemory,
    /// Memory with the SP attribute while soft reservation is enabled: left
    /// out of memblock so it can be hot-added or given to dax later.
    SoftReserved,
    /// `memblock_add()`ed.
    Memory {
        /// Also `memblock_mark_nomap()`ed: not usable as RAM (runtime
        /// services, reserved, MMIO, ..., or not WB-cacheable).
        nomap: bool,
        /// Also `memblock_reserve()`d: ACPI reclaim memory, kept intact for
        /// kexec.
        reserved: bool,
    },
}

/// One descriptor after `reserve_regions()`: the native-page-aligned range
/// and what happens to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenericRegion {
    /// Base, rounded down to the kernel page size.
    pub base: u64,
    /// Size, rounded out to whole kernel pages.
    pub size: u64,
    /// What Linux does with it.
    pub disposition: GenericDisposition,
}

/// Errors from [`generic_region`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenericRegionError {
    /// `page_shift` is not 12, 14 or 16 (4, 16 or 64 KiB pages).
    BadPageShift {
        /// The given shift.
        page_shift: u32,
    },
    /// The descriptor's end (after rounding up to a page) is past 2^64;
    /// Linux computes a wrapped range here.
    RangeOverflow {
        /// `phys_start`.
        phys_start: u64,
        /// `num_pages`.
        num_pages: u64,
    },
}

impl fmt::Display for GenericRegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadPageShift { page_shift } => {
                write!(f, "page shift {page_shift} is not 12, 14 or 16")
            }
            Self::RangeOverflow { phys_start, num_pages } => {
                write!(f, "EFI range at {phys_start:#x} of {num_pages:#x} pages extends past 2^64")
            }
        }
    }
}

impl core::error::Error for GenericRegionError {}

/// Linux's generic `reserve_regions()` decision for one descriptor
/// (`drivers/firmware/efi/efi-init.c`), for a kernel with `2^page_shift`
/// byte pages.
///
/// The range is first converted with `memrange_efi_to_native()`: base
/// rounded down and end rounded up to the kernel page size. `is_memory()`
/// is WB|WT|WC; `is_usable_memory()` is (loader code/data, boot services
/// code/data, conventional, ACPI reclaim or persistent) *and* WB.
///
/// # Errors
/// [`GenericRegionError`] for an unsupported page size or a range past
/// 2^64.
pub fn generic_region(
    md: &MemoryDescriptor,
    page_shift: u32,
    soft_reserve_enabled: bool,
) -> Result<GenericRegion, GenericRegionError> {
    if !matches!(page_shift, 12 | 14 | 16) {
        return Err(GenericRegionError::BadPageShift { page_shift });
    }
    let overflow = GenericRegionError::RangeOverflow { phys_start: md.phys_start, num_pages: md.num_pages };
    let end = md.end().ok_or(overflow)?;
    let page = 1u64 << page_shift;
    let mask = page.wrapping_sub(1);
    let base = md.phys_start & !mask;
    let end_up = end.checked_add(mask).ok_or(overflow)? & !mask;
    let size = end_up.saturating_sub(base);
    let a = md.attribute;
    let disposition = if !a.intersects(EfiMemoryAttribute::WB | EfiMemoryAttribute::WT | EfiMemoryAttribute::WC) {
        GenericDisposition::NotMemory
    } else if soft_reserve_enabled && a.intersects(EfiMemoryAttribute::SP) {
        GenericDisposition::SoftReserved
    } else {
        let usable_type = matches!(
            md.ty,
            EfiMemoryType::LOADER_CODE
                | EfiMemoryType::LOADER_DATA
                | EfiMemoryType::ACPI_RECLAIM_MEMORY
                | EfiMemoryType::BOOT_SERVICES_CODE
                | EfiMemoryType::BOOT_SERVICES_DATA
                | EfiMemoryType::CONVENTIONAL_MEMORY
                | EfiMemoryType::PERSISTENT_MEMORY
        );
        GenericDisposition::Memory {
            nomap: !(usable_type && a.intersects(EfiMemoryAttribute::WB)),
            reserved: md.ty == EfiMemoryType::ACPI_RECLAIM_MEMORY,
        }
    };
    Ok(GenericRegion { base, size, disposition })
}

/// Writes `efi_md_typeattr_format()`'s text for `md`, e.g.
/// `[Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]`: the
/// type name left-justified in 12 columns (or `[type=N`), then either the
/// 15 flag columns (`|%3s|%2s|...`) or, if any unnamed attribute bit is
/// set, `|attr=0x%016llx]`.
pub fn write_typeattr<W: fmt::Write>(w: &mut W, md: &MemoryDescriptor) -> fmt::Result {
    match md.ty.linux_name() {
        Some(n) => write!(w, "[{n:<12}")?,
        None => write!(w, "[type={}", md.ty.0)?,
    }
    let attr = md.attribute.0;
    if attr & !EfiMemoryAttribute::KNOWN != 0 {
        return write!(w, "|attr=0x{attr:016x}]");
    }
    for (bit, name, width) in EfiMemoryAttribute::PRINT_ORDER {
        let s = if attr & bit != 0 { name } else { "" };
        write!(w, "|{s:>width$}")?;
    }
    w.write_char(']')
}

/// Writes the line x86's `efi_print_memmap()` logs with `efi=debug`:
/// `efi: mem%02u: %s range=[0x%016llx-0x%016llx] (%lluMB)` (end is
/// `phys + (pages << 12) - 1` in wrapping arithmetic, MB is `pages >> 8`).
pub fn write_x86_memmap_line<W: fmt::Write>(w: &mut W, index: usize, md: &MemoryDescriptor) -> fmt::Result {
    write!(w, "efi: mem{index:02}: ")?;
    write_typeattr(w, md)?;
    writeln!(
        w,
        " range=[0x{:016x}-0x{:016x}] ({}MB)",
        md.phys_start,
        md.phys_start.wrapping_add(md.num_pages.wrapping_shl(EFI_PAGE_SHIFT)).wrapping_sub(1),
        md.num_pages >> (20 - EFI_PAGE_SHIFT)
    )
}

/// Writes the line the generic `reserve_regions()` logs with `efi=debug`:
/// `efi:   0x%012llx-0x%012llx %s`.
pub fn write_generic_memmap_line<W: fmt::Write>(w: &mut W, md: &MemoryDescriptor) -> fmt::Result {
    write!(
        w,
        "efi:   0x{:012x}-0x{:012x} ",
        md.phys_start,
        md.phys_start.wrapping_add(md.num_pages.wrapping_shl(EFI_PAGE_SHIFT)).wrapping_sub(1)
    )?;
    write_typeattr(w, md)?;
    w.write_char('\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e820::E820Entry;

    fn md(ty: u32, phys: u64, pages: u64, attr: u64) -> MemoryDescriptor {
        MemoryDescriptor {
            ty: EfiMemoryType(ty),
            pad: 0,
            phys_start: phys,
            virt_start: 0,
            num_pages: pages,
            attribute: EfiMemoryAttribute(attr),
        }
    }

    const WB_ALL: u64 = 0xf;

    #[test]
    fn map_from_bytes() {
        let a = md(7, 0x100000, 0x100, WB_ALL);
        let b = md(5, 0x7f000000, 0x10, EfiMemoryAttribute::RUNTIME | WB_ALL);
        // Firmware with 48-byte descriptors.
        let mut bytes = Vec::new();
        for d in [a, b] {
            bytes.extend_from_slice(&d.to_bytes());
            bytes.extend_from_slice(&[0xaa; 8]);
        }
        let map = MemoryMap::new(&bytes, 48, 1).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!((&map).into_iter().count(), 2);
        assert_eq!(MemoryMap::new(&bytes, 32, 1).unwrap_err(), MemoryMapError::DescriptorTooSmall { desc_size: 32 });
        assert_eq!(MemoryMap::new(&bytes, 44, 1).unwrap_err(), MemoryMapError::DescriptorMisaligned { desc_size: 44 });
        assert_eq!(MemoryMap::new(&bytes, 48, 2).unwrap_err(), MemoryMapError::UnsupportedVersion { version: 2 });
        assert_eq!(
            MemoryMap::new(&bytes[..95], 48, 1).unwrap_err(),
            MemoryMapError::TrailingBytes { len: 95, desc_size: 48 }
        );
        assert!(MemoryMap::new(&[], 40, 1).unwrap().is_empty());
    }

    #[test]
    fn type_names() {
        assert_eq!(EfiMemoryType(7).to_string(), "Conventional");
        assert_eq!(EfiMemoryType(15).to_string(), "type=15");
        assert_eq!(EfiMemoryType::from_linux_name("ACPI Mem NVS"), Some(EfiMemoryType(10)));
        assert_eq!(EfiMemoryType::from_linux_name("type=99"), Some(EfiMemoryType(99)));
        assert_eq!(EfiMemoryType::from_linux_name("type=+9"), None);
        assert_eq!(EfiMemoryType::from_linux_name("Bogus"), None);
    }

    #[test]
    fn typeattr_format_matches_linux() {
        let mut s = String::new();
        write_typeattr(&mut s, &md(7, 0, 0, WB_ALL)).unwrap();
        assert_eq!(s, "[Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]");
        let mut s = String::new();
        write_typeattr(&mut s, &md(5, 0, 0, EfiMemoryAttribute::RUNTIME | EfiMemoryAttribute::XP | 0x8)).unwrap();
        assert_eq!(s, "[Runtime Code|RUN|  |  |  |  |  |XP|  |  |  |   |WB|  |  |  ]");
        let mut s = String::new();
        write_typeattr(&mut s, &md(42, 0, 0, 0x40)).unwrap();
        assert_eq!(s, "[type=42|attr=0x0000000000000040]");
        let mut s = String::new();
        write_x86_memmap_line(&mut s, 3, &md(7, 0x100000, 0x7ff00, WB_ALL)).unwrap();
        assert_eq!(
            s,
            "efi: mem03: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000100000-0x000000007fffffff] (2047MB)\n"
        );
        let mut s = String::new();
        write_generic_memmap_line(&mut s, &md(4, 0x40000000, 0x10, WB_ALL)).unwrap();
        assert_eq!(
            s,
            "efi:   0x000040000000-0x00004000ffff [Boot Data   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]\n"
        );
    }

    #[test]
    fn x86_validity() {
        assert!(x86_entry_valid(&md(7, 0, 1, 0)));
        assert!(!x86_entry_valid(&md(7, 0, 0, 0)));
        assert!(!x86_entry_valid(&md(7, 0, EFI_PAGES_MAX + 1, 0)));
        assert!(x86_entry_valid(&md(7, 0, EFI_PAGES_MAX, 0)));
        assert!(!x86_entry_valid(&md(7, 0x1000, EFI_PAGES_MAX, 0)));
        assert!(x86_entry_valid(&md(7, u64::MAX - 0x1fff, 1, 0)));
    }

    #[test]
    fn x86_types() {
        let sp = EfiMemoryAttribute::SP | EfiMemoryAttribute::WB;
        let cases = [
            (md(7, 0, 1, WB_ALL), false, E820Type::RAM),
            (md(3, 0, 1, WB_ALL), false, E820Type::RAM),
            (md(7, 0, 1, EfiMemoryAttribute::UC), false, E820Type::RESERVED),
            (md(7, 0, 1, sp), true, E820Type::SOFT_RESERVED),
            (md(7, 0, 1, sp), false, E820Type::RAM),
            (md(9, 0, 1, WB_ALL), false, E820Type::ACPI),
            (md(10, 0, 1, WB_ALL), false, E820Type::NVS),
            (md(8, 0, 1, WB_ALL), false, E820Type::UNUSABLE),
            (md(14, 0, 1, WB_ALL), false, E820Type::PMEM),
            (md(5, 0, 1, WB_ALL), false, E820Type::RESERVED),
            (md(11, 0, 1, 1), false, E820Type::RESERVED),
            (md(15, 0, 1, WB_ALL), false, E820Type::RESERVED),
        ];
        for (d, sr, want) in cases {
            assert_eq!(x86_e820_type(&d, sr), want, "{d:?}");
        }
    }

    #[test]
    fn x86_table() {
        let map = [
            md(3, 0, 0xa0, WB_ALL),
            md(7, 0x100000, 0x700, WB_ALL),
            md(4, 0x800000, 0x100, WB_ALL),
            md(7, 0x900000, 0, WB_ALL),
            md(6, 0x7f000000, 0x10, EfiMemoryAttribute::RUNTIME | WB_ALL),
        ];
        let mut t: E820Table<16> = E820Table::new();
        assert_eq!(add_x86_efi_memmap(&mut t, map, false), Ok(1));
        assert_eq!(
            t.entries(),
            &[
                E820Entry::new(0, 0xa0000, E820Type::RAM),
                E820Entry::new(0x100000, 0x800000, E820Type::RAM),
                E820Entry::new(0x7f000000, 0x10000, E820Type::RESERVED),
            ]
        );
        let mut t: E820Table<1> = E820Table::new();
        assert!(matches!(add_x86_efi_memmap(&mut t, map, false), Err(X86EfiError::Table(_))));
    }

    #[test]
    fn generic_dispositions() {
        let g = |d: MemoryDescriptor, sr| generic_region(&d, 12, sr).unwrap().disposition;
        use GenericDisposition::*;
        assert_eq!(g(md(7, 0, 1, WB_ALL), false), Memory { nomap: false, reserved: false });
        assert_eq!(g(md(7, 0, 1, EfiMemoryAttribute::WT), false), Memory { nomap: true, reserved: false });
        assert_eq!(g(md(9, 0, 1, WB_ALL), false), Memory { nomap: false, reserved: true });
        assert_eq!(
            g(md(5, 0, 1, WB_ALL | EfiMemoryAttribute::RUNTIME), false),
            Memory { nomap: true, reserved: false }
        );
        assert_eq!(g(md(0, 0, 1, WB_ALL), false), Memory { nomap: true, reserved: false });
        assert_eq!(g(md(11, 0, 1, EfiMemoryAttribute::UC), false), NotMemory);
        assert_eq!(g(md(7, 0, 1, WB_ALL | EfiMemoryAttribute::SP), true), SoftReserved);
        assert_eq!(g(md(7, 0, 1, WB_ALL | EfiMemoryAttribute::SP), false), Memory { nomap: false, reserved: false });
        assert_eq!(g(md(14, 0, 1, WB_ALL), false), Memory { nomap: false, reserved: false });
    }

    #[test]
    fn generic_rounding() {
        let r = generic_region(&md(7, 0x1_1000, 2, WB_ALL), 16, false).unwrap();
        assert_eq!((r.base, r.size), (0x1_0000, 0x1_0000));
        let r = generic_region(&md(7, 0xf000, 2, WB_ALL), 16, false).unwrap();
        assert_eq!((r.base, r.size), (0, 0x2_0000));
        assert!(generic_region(&md(7, 0, 1, 0), 13, false).is_err());
        assert!(generic_region(&md(7, u64::MAX - 0xfff, 1, 0), 12, false).is_err());
        assert!(generic_region(&md(7, u64::MAX - 0x1fff, 1, 0), 16, false).is_err());
        assert!(generic_region(&md(7, 0, u64::MAX, 0), 12, false).is_err());
    }

    #[test]
    fn descriptor_helpers() {
        assert_eq!(md(7, 0x1000, 2, 0).end(), Some(0x3000));
        assert_eq!(md(7, 0, EFI_PAGES_MAX + 1, 0).size(), None);
        assert_eq!(MemoryDescriptor::from_bytes(&[0; 39]), None);
    }
}
