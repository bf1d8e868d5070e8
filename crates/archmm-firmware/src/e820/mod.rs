//! The x86 E820 memory map, with Linux 6.1's table operations.
//!
//! ## The format
//!
//! The E820 map is the BIOS's (INT 15h, AX=E820h) list of physical address
//! ranges, each `{ u64 addr; u64 size; u32 type; }` (20 bytes packed in the
//! boot protocol). Linux keeps it as `struct e820_table` and reads it from
//! several places; this crate parses three of them:
//!
//! * the `boot_params` "zero page" ([`boot_params`]),
//! * the Xen/QEMU PVH `hvm_start_info` memory map ([`pvh`]),
//! * `dmesg` text: the `BIOS-e820:` lines and the `ACPI: SRAT:` memory
//!   affinity lines ([`dmesg`]).
//!
//! ## Types
//!
//! [`E820Type`] is the raw `u32` (Linux's `enum e820_type`, which is
//! unsigned because `E820_TYPE_SOFT_RESERVED` is `0xefffffff`). The known
//! values are those of `arch/x86/include/asm/e820/types.h`: RAM 1,
//! RESERVED 2, ACPI 3, NVS 4, UNUSABLE 5, PMEM 7, PRAM 12, RESERVED_KERN 128
//! and SOFT_RESERVED 0xefffffff. Its `Display` prints exactly what Linux's
//! `e820_print_type()` prints: `usable` (for 1 and 128), `reserved`,
//! `soft reserved`, `ACPI data`, `ACPI NVS`, `unusable`,
//! `persistent (type 7)` / `persistent (type 12)`, and `type N` otherwise.
//!
//! ## Table operations (mirroring `arch/x86/kernel/e820.c`)
//!
//! * [`E820Table::add`] is `__e820__range_add()`: append, or fail when the
//!   table is full (Linux prints `too many entries; ignoring` and drops the
//!   range; we return [`E820TableError::Full`]).
//! * [`E820Table::update_table`] is `e820__update_table()`, the change-point
//!   sanitiser. Linux's result, which this implementation reproduces:
//!   - fewer than 2 entries: nothing is done (Linux returns -1) →
//!     [`E820UpdateError::TooFewEntries`], table unchanged;
//!   - any entry with `addr + size` overflowing 64 bits (this includes an
//!     entry ending exactly at 2^64): nothing is done at all (Linux returns
//!     -1 before touching the table) → [`E820UpdateError::EntryWraps`],
//!     table unchanged;
//!   - zero-size entries are dropped;
//!   - where entries overlap, the numerically larger type wins (so
//!     `usable` (1) loses to everything, `soft reserved` (0xefffffff) wins);
//!   - adjacent or overlapping ranges that end up with the same type are
//!     merged, **except** `PRAM` (12) and `SOFT_RESERVED`, which Linux's
//!     `e820_nomerge()` keeps split at every input boundary;
//!   - the output is sorted by address, non-overlapping;
//!   - if the result has more entries than the capacity, Linux keeps the
//!     first `capacity` entries and silently drops the rest; we do the same
//!     and return [`E820UpdateError::Truncated`].
//!
//!   Linux sorts change points with an unstable heap sort; the analysis in
//!   [`E820Table::update_table`] shows the result does not depend on the
//!   order of ties, so this implementation walks the distinct change-point
//!   addresses directly (O(n²) time, no scratch other than one output table).
//! * [`E820Table::range_update`] / [`E820Table::range_remove`] are
//!   `__e820__range_update()` / `e820__range_remove()` including their
//!   entry splitting, the clamp of `size` to `u64::MAX - start`, and the
//!   in-place zeroing of fully removed entries (which a later
//!   [`update_table`](E820Table::update_table) drops).
//! * [`E820Table::end_pfn`] is `e820_end_pfn()`.
//! * [`E820Table::write_table`], [`write_update_line`] and
//!   [`write_remove_line`] write Linux's exact log lines.
//!
//! ## Capacity
//!
//! Linux sizes its table as `E820_MAX_ENTRIES = E820_MAX_ENTRIES_ZEROPAGE +
//! 3 * MAX_NUMNODES` (128 + 3 per NUMA node). [`E820Table`] is generic over
//! the capacity; the default [`E820_MAX_ENTRIES`] = 320 is Linux's value for
//! the x86-64 default `CONFIG_NODES_SHIFT=6` (64 nodes). A kernel built for
//! `MAXSMP` (`NODES_SHIFT=10`) would use `E820Table<3200>`. An entry takes 24
//! bytes, so the default table is 7.5 KiB.
//!
//! ## Where we differ from Linux
//!
//! * [`E820Table::add`] rejects a range whose last byte would be past
//!   `u64::MAX` ([`E820TableError::EntryWraps`]); Linux's
//!   `__e820__range_add()` stores it and later code computes wrapped ends.
//!   This is the same rule Linux's `__append_e820_table()` applies to
//!   firmware entries, and it lets every end be computed exactly.
//! * `range_update` with `old_type == new_type` is a `BUG_ON()` in Linux;
//!   here it is [`E820RangeError::SameType`].
//! * When `range_update`/`range_remove` need to split an entry in a full
//!   table, Linux drops the split-off piece (and prints `too many entries`);
//!   we do the same and return [`E820RangeError::TableFull`] saying how many
//!   pieces were lost.

pub mod boot_params;
pub mod dmesg;
pub mod pvh;

use crate::fixed::FixedVec;
use core::fmt;

/// Linux's `E820_MAX_ENTRIES_ZEROPAGE`: entries that fit in `boot_params`.
pub const E820_MAX_ENTRIES_ZEROPAGE: usize = 128;

/// The default [`E820Table`] capacity: Linux's `E820_MAX_ENTRIES` for
/// `MAX_NUMNODES = 64` (128 + 3 * 64).
pub const E820_MAX_ENTRIES: usize = E820_MAX_ENTRIES_ZEROPAGE + 3 * 64;

/// x86 `PAGE_SHIFT`.
pub const PAGE_SHIFT: u32 = 12;

/// Linux x86-64 `MAX_ARCH_PFN` with 4-level paging (`MAX_PHYSMEM_BITS` 46).
pub const MAX_ARCH_PFN_X86_64: u64 = 1 << (46 - PAGE_SHIFT);

/// Linux x86-64 `MAX_ARCH_PFN` with 5-level paging (`MAX_PHYSMEM_BITS` 52).
pub const MAX_ARCH_PFN_X86_64_LA57: u64 = 1 << (52 - PAGE_SHIFT);

/// Whether a non-empty range's last byte `addr + size - 1` is past
/// `u64::MAX` (the wrap check of Linux's `__append_e820_table()`).
pub(crate) const fn last_byte_wraps(addr: u64, size: u64) -> bool {
    size != 0 && addr.checked_add(size.wrapping_sub(1)).is_none()
}

/// An E820 range type: the raw `u32` Linux stores in `enum e820_type`.
///
/// Ordering is by raw value, which is the precedence
/// [`E820Table::update_table`] uses for overlaps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E820Type(pub u32);

impl E820Type {
    /// `E820_TYPE_RAM`, printed `usable`.
    pub const RAM: Self = Self(1);
    /// `E820_TYPE_RESERVED`, printed `reserved`.
    pub const RESERVED: Self = Self(2);
    /// `E820_TYPE_ACPI` (ACPI reclaimable), printed `ACPI data`.
    pub const ACPI: Self = Self(3);
    /// `E820_TYPE_NVS`, printed `ACPI NVS`.
    pub const NVS: Self = Self(4);
    /// `E820_TYPE_UNUSABLE`, printed `unusable`.
    pub const UNUSABLE: Self = Self(5);
    /// `E820_TYPE_PMEM` (ACPI 6 persistent memory), printed
    /// `persistent (type 7)`.
    pub const PMEM: Self = Self(7);
    /// `E820_TYPE_PRAM` (legacy persistent memory), printed
    /// `persistent (type 12)`; never merged by `update_table`.
    pub const PRAM: Self = Self(12);
    /// `E820_TYPE_RESERVED_KERN` (kernel-reserved RAM), printed `usable`.
    pub const RESERVED_KERN: Self = Self(128);
    /// `E820_TYPE_SOFT_RESERVED` (EFI_MEMORY_SP memory), printed
    /// `soft reserved`; never merged by `update_table`.
    pub const SOFT_RESERVED: Self = Self(0xefff_ffff);

    /// The raw value.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Linux's `e820_nomerge()`: `PRAM` and `SOFT_RESERVED` ranges may mark
    /// NUMA or device boundaries, so `update_table` never merges them.
    pub const fn is_nomerge(self) -> bool {
        self.0 == Self::PRAM.0 || self.0 == Self::SOFT_RESERVED.0
    }
}

impl fmt::Display for E820Type {
    /// Writes Linux's `e820_print_type()` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RAM | Self::RESERVED_KERN => f.write_str("usable"),
            Self::RESERVED => f.write_str("reserved"),
            Self::SOFT_RESERVED => f.write_str("soft reserved"),
            Self::ACPI => f.write_str("ACPI data"),
            Self::NVS => f.write_str("ACPI NVS"),
            Self::UNUSABLE => f.write_str("unusable"),
            Self::PMEM | Self::PRAM => write!(f, "persistent (type {})", self.0),
            Self(t) => write!(f, "type {t}"),
        }
    }
}

/// One E820 range: `[addr, addr + size)` of type `ty`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct E820Entry {
    /// First byte.
    pub addr: u64,
    /// Length in bytes (may be 0).
    pub size: u64,
    /// Range type.
    pub ty: E820Type,
}

impl E820Entry {
    /// Creates an entry.
    pub const fn new(addr: u64, size: u64, ty: E820Type) -> Self {
        Self { addr, size, ty }
    }

    /// The exclusive end `addr + size`, or `None` if it does not fit in a
    /// `u64` (an entry ending exactly at 2^64 also gives `None`).
    pub const fn end(&self) -> Option<u64> {
        self.addr.checked_add(self.size)
    }

    /// The exclusive end computed exactly (at most 2^65 - 2).
    pub const fn end_u128(&self) -> u128 {
        // Two u64 values cannot overflow a u128 when added.
        (self.addr as u128).wrapping_add(self.size as u128)
    }

    /// The last byte `addr + size - 1`, or `None` for a zero-size entry or
    /// one whose last byte is past `u64::MAX`.
    pub const fn last(&self) -> Option<u64> {
        if self.size == 0 {
            return None;
        }
        self.addr.checked_add(self.size.wrapping_sub(1))
    }
}

/// Errors from [`E820Table::add`] and the table constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820TableError {
    /// The table already holds `capacity` entries; the range was not added
    /// (Linux: `too many entries; ignoring [mem ...]`).
    Full {
        /// Start of the rejected range.
        addr: u64,
        /// Size of the rejected range.
        size: u64,
        /// The table capacity.
        capacity: usize,
    },
    /// `addr + size - 1` is past `u64::MAX`: the range wraps around the
    /// address space.
    EntryWraps {
        /// Start of the rejected range.
        addr: u64,
        /// Size of the rejected range.
        size: u64,
    },
}

impl fmt::Display for E820TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Full { addr, size, capacity } => write!(
                f,
                "e820 table full ({capacity} entries); ignoring [mem {:#010x}-{:#010x}]",
                addr,
                addr.wrapping_add(size).wrapping_sub(1)
            ),
            Self::EntryWraps { addr, size } => {
                write!(f, "e820 range at {addr:#x} of size {size:#x} wraps past the end of the 64-bit address space")
            }
        }
    }
}

impl core::error::Error for E820TableError {}

/// Errors from [`E820Table::update_table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820UpdateError {
    /// Fewer than 2 entries: Linux's `e820__update_table()` returns -1 and
    /// leaves the table alone, and so do we.
    TooFewEntries {
        /// The number of entries.
        count: usize,
    },
    /// Entry `index` has `addr + size` past 2^64 - 1: Linux bails out without
    /// changing the table, and so do we.
    EntryWraps {
        /// Index of the first offending entry.
        index: usize,
    },
    /// The sanitised map needed more than `capacity` entries. Like Linux,
    /// the table now holds the first `capacity` entries of the result; the
    /// ranges above `dropped_from` are missing from it.
    Truncated {
        /// The table capacity.
        capacity: usize,
        /// Start address of the first entry that did not fit.
        dropped_from: u64,
    },
}

impl fmt::Display for E820UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooFewEntries { count } => {
                write!(f, "e820 table has {count} entries; fewer than 2 are left unsanitised")
            }
            Self::EntryWraps { index } => {
                write!(f, "e820 entry {index} wraps past the end of the address space; table left unsanitised")
            }
            Self::Truncated { capacity, dropped_from } => write!(
                f,
                "sanitised e820 table exceeds {capacity} entries; ranges from {dropped_from:#x} up were dropped"
            ),
        }
    }
}

impl core::error::Error for E820UpdateError {}

/// Errors from [`E820Table::range_update`] and [`E820Table::range_remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820RangeError {
    /// `old_type == new_type` (a `BUG_ON()` in Linux); nothing was changed.
    SameType {
        /// The type given twice.
        ty: E820Type,
    },
    /// The table was full when an entry had to be split; like Linux the
    /// operation went on and `dropped` split-off pieces were lost. The
    /// table reflects everything else the operation did.
    TableFull {
        /// Number of pieces that could not be added.
        dropped: usize,
        /// The byte count the operation reports as updated/removed (what
        /// Linux would have returned).
        changed: u64,
    },
}

impl fmt::Display for E820RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SameType { ty } => {
                write!(f, "e820 range update from type {} to itself", ty.0)
            }
            Self::TableFull { dropped, changed } => {
                write!(f, "e820 table full: {dropped} split-off range(s) dropped ({changed:#x} bytes changed)")
            }
        }
    }
}

impl core::error::Error for E820RangeError {}

/// An E820 table with room for `N` entries (default [`E820_MAX_ENTRIES`]).
///
/// Entries are kept in insertion order until [`update_table`]
/// (`e820__update_table`) sorts and sanitises them.
///
/// [`update_table`]: E820Table::update_table
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct E820Table<const N: usize = E820_MAX_ENTRIES> {
    entries: FixedVec<E820Entry, N>,
}

impl<const N: usize> fmt::Debug for E820Table<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.as_slice()).finish()
    }
}

impl<const N: usize> Default for E820Table<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> E820Table<N> {
    /// Creates an empty table.
    pub fn new() -> Self {
        Self { entries: FixedVec::new() }
    }

    /// Creates a table holding `entries` in order, as if each were passed to
    /// [`add`](Self::add).
    ///
    /// Fails on the first entry `add` rejects (full table or wrapping range).
    pub fn from_entries(entries: &[E820Entry]) -> Result<Self, E820TableError> {
        let mut t = Self::new();
        for e in entries {
            t.add(e.addr, e.size, e.ty)?;
        }
        Ok(t)
    }

    /// The entries, in table order.
    pub fn entries(&self) -> &[E820Entry] {
        self.entries.as_slice()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Removes all entries (what `memmap=exactmap` does).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Appends `[addr, addr + size)` of type `ty` (Linux's
    /// `__e820__range_add()`); no merging or sorting happens until
    /// [`update_table`](Self::update_table).
    ///
    /// Zero-size ranges are stored (Linux stores them too; `update_table`
    /// drops them).
    ///
    /// # Errors
    /// * [`E820TableError::Full`]: the table already has `N` entries (Linux
    ///   prints `too many entries; ignoring` and drops the range);
    /// * [`E820TableError::EntryWraps`]: `size > 0` and the last byte
    ///   `addr + size - 1` is past `u64::MAX` (Linux would store it; see the
    ///   module docs).
    pub fn add(&mut self, addr: u64, size: u64, ty: E820Type) -> Result<(), E820TableError> {
        if last_byte_wraps(addr, size) {
            return Err(E820TableError::EntryWraps { addr, size });
        }
        self.entries.push(E820Entry::new(addr, size, ty)).map_err(|_| E820TableError::Full { addr, size, capacity: N })
    }

    /// Linux's `e820__update_table()`: sorts the table, resolves overlaps in
    /// favour of the larger type value, merges touching same-type ranges
    /// (except the [`E820Type::is_nomerge`] types) and drops empty ranges.
    ///
    /// How the result is defined: take every start and end address of the
    /// non-empty entries (the "change points"); between two consecutive
    /// distinct change points the type is the maximum type of the entries
    /// covering that segment, or no entry if none covers it (type 0 counts
    /// as no entry). Consecutive segments with the same non-zero type are
    /// joined unless the type is a no-merge type. Linux processes change
    /// points one at a time in an unstable sort order; at one address all
    /// starts come before all ends, so the covering type first only rises
    /// and then only falls, and any intermediate entries it opens there have
    /// size 0 and are discarded. Hence only the type before and after each
    /// distinct address matters, which is what this implementation computes.
    ///
    /// Uses a temporary table of `N` entries on the stack.
    ///
    /// # Errors
    /// * [`E820UpdateError::TooFewEntries`] when `len() < 2` (table
    ///   unchanged, as in Linux);
    /// * [`E820UpdateError::EntryWraps`] when some `addr + size` overflows
    ///   a `u64` (table unchanged, as in Linux);
    /// * [`E820UpdateError::Truncated`] when the result has more than `N`
    ///   entries: the table holds the first `N`, as in Linux.
    pub fn update_table(&mut self) -> Result<(), E820UpdateError> {
        let count = self.entries.len();
        if count < 2 {
            return Err(E820UpdateError::TooFewEntries { count });
        }
        let entries = self.entries.as_slice();
        if let Some(index) = entries.iter().position(|e| e.end().is_none()) {
            return Err(E820UpdateError::EntryWraps { index });
        }
        // From here every entry satisfies addr + size <= u64::MAX.
        let end_of = |e: &E820Entry| e.addr.saturating_add(e.size);

        let mut out: FixedVec<E820Entry, N> = FixedVec::new();
        let mut truncated: Option<u64> = None;
        // The open output range: (start, type).
        let mut open: Option<(u64, E820Type)> = None;
        let mut point = entries.iter().filter(|e| e.size != 0).map(|e| e.addr).min();

        while let Some(p) = point {
            // The next distinct change point above p.
            let next =
                entries.iter().filter(|e| e.size != 0).flat_map(|e| [e.addr, end_of(e)]).filter(|&a| a > p).min();
            // Type of [p, next): maximum over the entries covering p.
            let ty = if next.is_some() {
                entries
                    .iter()
                    .filter(|e| e.size != 0 && e.addr <= p && end_of(e) > p)
                    .map(|e| e.ty)
                    .max()
                    .unwrap_or_default()
            } else {
                E820Type(0)
            };
            let prev = open.map(|(_, t)| t).unwrap_or_default();
            if ty != prev || (ty.0 != 0 && ty.is_nomerge()) {
                if let Some((start, t)) = open.take() {
                    let size = p.saturating_sub(start);
                    if size != 0 && out.push(E820Entry::new(start, size, t)).is_err() {
                        truncated = Some(start);
                        break;
                    }
                }
                if ty.0 != 0 {
                    open = Some((p, ty));
                }
            }
            point = next;
        }
        self.entries = out;
        match truncated {
            Some(dropped_from) => Err(E820UpdateError::Truncated { capacity: N, dropped_from }),
            None => Ok(()),
        }
    }

    /// Pushes a split-off piece; counts it in `dropped` if the table is full
    /// (Linux drops it after printing `too many entries`).
    fn push_piece(&mut self, addr: u64, size: u64, ty: E820Type, dropped: &mut usize) {
        if self.entries.push(E820Entry::new(addr, size, ty)).is_err() {
            *dropped = dropped.saturating_add(1);
        }
    }

    /// Linux's `__e820__range_update()`: changes the type of the bytes in
    /// `[start, start + size)` that currently have type `old_type` to
    /// `new_type`, splitting entries as needed.
    ///
    /// `size` is first clamped to `u64::MAX - start` (so the range never
    /// includes the byte at `u64::MAX`). For each `old_type` entry:
    /// * entirely inside the range: its type is changed in place;
    /// * strictly containing the range: it is cut to the part below
    ///   `start`, and two entries are appended: the range itself with
    ///   `new_type` and the part above the range with `old_type`;
    /// * partially overlapping: the overlap is appended with `new_type` and
    ///   the entry shrinks to the part outside.
    ///
    /// Entries appended while iterating are visited too (as in Linux); they
    /// never match again. The table is not re-sorted: call
    /// [`update_table`](Self::update_table) afterwards, as Linux does.
    ///
    /// Returns the number of bytes whose type changed (Linux's
    /// `real_updated_size`). Write the matching log line with
    /// [`write_update_line`].
    ///
    /// # Errors
    /// * [`E820RangeError::SameType`] if `old_type == new_type` (nothing
    ///   changed);
    /// * [`E820RangeError::TableFull`] if split-off pieces did not fit (the
    ///   rest of the update was applied, as in Linux).
    pub fn range_update(
        &mut self,
        start: u64,
        size: u64,
        old_type: E820Type,
        new_type: E820Type,
    ) -> Result<u64, E820RangeError> {
        if old_type == new_type {
            return Err(E820RangeError::SameType { ty: old_type });
        }
        let size = size.min(u64::MAX.wrapping_sub(start));
        // Cannot overflow after the clamp.
        let end = start.saturating_add(size);
        let mut changed: u64 = 0;
        let mut dropped = 0usize;
        let mut i = 0usize;
        while let Some(entry) = self.entries.as_slice().get(i).copied() {
            i = i.saturating_add(1);
            if entry.ty != old_type {
                continue;
            }
            let entry_end = entry.end_u128();
            let (s, e) = (u128::from(start), u128::from(end));
            if u128::from(entry.addr) >= s && entry_end <= e {
                if let Some(slot) = self.entries.as_mut_slice().get_mut(i.wrapping_sub(1)) {
                    slot.ty = new_type;
                }
                changed = changed.saturating_add(entry.size);
                continue;
            }
            if entry.addr < start && entry_end > e {
                self.push_piece(start, size, new_type, &mut dropped);
                // entry_end <= 2^64 and end >= 1 here, so the tail fits.
                let tail = u64::try_from(entry_end.saturating_sub(e)).unwrap_or(u64::MAX);
                self.push_piece(end, tail, entry.ty, &mut dropped);
                if let Some(slot) = self.entries.as_mut_slice().get_mut(i.wrapping_sub(1)) {
                    slot.size = start.saturating_sub(entry.addr);
                }
                changed = changed.saturating_add(size);
                continue;
            }
            let final_start = start.max(entry.addr);
            let final_end = e.min(entry_end);
            if u128::from(final_start) >= final_end {
                continue;
            }
            let piece = u64::try_from(final_end.saturating_sub(u128::from(final_start))).unwrap_or(u64::MAX);
            self.push_piece(final_start, piece, new_type, &mut dropped);
            changed = changed.saturating_add(piece);
            if let Some(slot) = self.entries.as_mut_slice().get_mut(i.wrapping_sub(1)) {
                slot.size = slot.size.saturating_sub(piece);
                if slot.addr >= final_start {
                    // The overlap was the head: the entry now starts at the
                    // end of the overlap (which is < 2^64 here because the
                    // overlap ends at or before `end`).
                    slot.addr = u64::try_from(final_end).unwrap_or(u64::MAX);
                }
            }
        }
        if dropped != 0 {
            return Err(E820RangeError::TableFull { dropped, changed });
        }
        Ok(changed)
    }

    /// Linux's `e820__range_remove()`: removes the bytes of
    /// `[start, start + size)` from every entry (only from entries of type
    /// `old_type` when `check_type` is true).
    ///
    /// `size` is clamped to `u64::MAX - start` first. An entry entirely
    /// inside the range is **zeroed in place** (address 0, size 0, type 0),
    /// not deleted, exactly as Linux does; [`update_table`] drops it. An
    /// entry strictly containing the range is cut to its head and its tail
    /// is appended; a partially overlapping entry is shrunk.
    ///
    /// Returns the number of bytes removed (Linux's `real_removed_size`).
    /// Write the matching log line with [`write_remove_line`].
    ///
    /// # Errors
    /// [`E820RangeError::TableFull`] if a split-off tail did not fit (the
    /// rest of the removal was applied, as in Linux).
    ///
    /// [`update_table`]: Self::update_table
    pub fn range_remove(
        &mut self,
        start: u64,
        size: u64,
        old_type: E820Type,
        check_type: bool,
    ) -> Result<u64, E820RangeError> {
        let size = size.min(u64::MAX.wrapping_sub(start));
        let end = start.saturating_add(size);
        let mut removed: u64 = 0;
        let mut dropped = 0usize;
        let mut i = 0usize;
        while let Some(entry) = self.entries.as_slice().get(i).copied() {
            let idx = i;
            i = i.saturating_add(1);
            if check_type && entry.ty != old_type {
                continue;
            }
            let entry_end = entry.end_u128();
            let e = u128::from(end);
            if entry.addr >= start && entry_end <= e {
                removed = removed.saturating_add(entry.size);
                if let Some(slot) = self.entries.as_mut_slice().get_mut(idx) {
                    *slot = E820Entry::default();
                }
                continue;
            }
            if entry.addr < start && entry_end > e {
                let tail = u64::try_from(entry_end.saturating_sub(e)).unwrap_or(u64::MAX);
                self.push_piece(end, tail, entry.ty, &mut dropped);
                if let Some(slot) = self.entries.as_mut_slice().get_mut(idx) {
                    slot.size = start.saturating_sub(entry.addr);
                }
                removed = removed.saturating_add(size);
                continue;
            }
            let final_start = start.max(entry.addr);
            let final_end = e.min(entry_end);
            if u128::from(final_start) >= final_end {
                continue;
            }
            let piece = u64::try_from(final_end.saturating_sub(u128::from(final_start))).unwrap_or(u64::MAX);
            removed = removed.saturating_add(piece);
            if let Some(slot) = self.entries.as_mut_slice().get_mut(idx) {
                slot.size = slot.size.saturating_sub(piece);
                if slot.addr >= final_start {
                    slot.addr = u64::try_from(final_end).unwrap_or(u64::MAX);
                }
            }
        }
        if dropped != 0 {
            return Err(E820RangeError::TableFull { dropped, changed: removed });
        }
        Ok(removed)
    }

    /// Linux's `e820_end_pfn()`: the highest page frame number (exclusive)
    /// of `ty` memory below `limit_pfn`, capped at `max_arch_pfn`.
    ///
    /// Walks the entries in table order: entries of another type or
    /// starting at or above `limit_pfn` are skipped; the first entry that
    /// reaches past `limit_pfn` makes the answer `limit_pfn` and stops the
    /// walk (as Linux's `break` does); otherwise the answer is the largest
    /// `(addr + size) >> 12`. `e820__end_of_ram_pfn()` is
    /// `end_pfn(max_arch_pfn, E820Type::RAM, max_arch_pfn)` and
    /// `e820__end_of_low_ram_pfn()` is `end_pfn(1 << 20, E820Type::RAM, ..)`.
    /// Linux then logs `last_pfn = %#lx max_arch_pfn = %#lx`; see
    /// [`write_end_pfn_line`].
    pub fn end_pfn(&self, limit_pfn: u64, ty: E820Type, max_arch_pfn: u64) -> u64 {
        let mut last_pfn = 0u64;
        for e in self.entries() {
            if e.ty != ty {
                continue;
            }
            let start_pfn = e.addr >> PAGE_SHIFT;
            // (addr + size) < 2^65, so the shifted value fits in a u64.
            let end_pfn = u64::try_from(e.end_u128() >> PAGE_SHIFT).unwrap_or(u64::MAX);
            if start_pfn >= limit_pfn {
                continue;
            }
            if end_pfn > limit_pfn {
                last_pfn = limit_pfn;
                break;
            }
            last_pfn = last_pfn.max(end_pfn);
        }
        last_pfn.min(max_arch_pfn)
    }

    /// Whether any part of `[start, end)` is covered by an entry of type
    /// `ty` (any type if `None`): Linux's `e820__mapped_any()`.
    pub fn mapped_any(&self, start: u64, end: u64, ty: Option<E820Type>) -> bool {
        self.entries().iter().any(|e| {
            ty.map_or(true, |t| e.ty == t) && u128::from(e.addr) < u128::from(end) && e.end_u128() > u128::from(start)
        })
    }

    /// Whether all of `[start, end)` is covered by entries of type `ty` (any
    /// type if `None`): Linux's `e820__mapped_all()`. Like Linux, this only
    /// gives the right answer on a sorted, non-overlapping table (after
    /// [`update_table`](Self::update_table)).
    pub fn mapped_all(&self, start: u64, end: u64, ty: Option<E820Type>) -> bool {
        let mut start = u128::from(start);
        let end = u128::from(end);
        for e in self.entries() {
            if ty.is_some_and(|t| e.ty != t) {
                continue;
            }
            if u128::from(e.addr) >= end || e.end_u128() <= start {
                continue;
            }
            if u128::from(e.addr) <= start {
                start = e.end_u128();
            }
            if start >= end {
                return true;
            }
        }
        false
    }

    /// Writes the table the way Linux's `e820__print_table(who)` does, one
    /// line per entry:
    ///
    /// ```text
    /// BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
    /// ```
    ///
    /// (`"%s: [mem %#018Lx-%#018Lx] "` and the type name, then `\n`). The
    /// end is `addr + size - 1` in wrapping 64-bit arithmetic, so a
    /// zero-size entry prints its end as `addr - 1`, as Linux's does.
    /// Without the `printk` level and timestamp.
    pub fn write_table<W: fmt::Write>(&self, w: &mut W, who: &str) -> fmt::Result {
        for e in self.entries() {
            writeln!(
                w,
                "{who}: [mem {:#018x}-{:#018x}] {}",
                e.addr,
                e.addr.wrapping_add(e.size).wrapping_sub(1),
                e.ty
            )?;
        }
        Ok(())
    }
}

/// Writes the line `__e820__range_update()` logs (at `KERN_DEBUG`) before it
/// updates, e.g.
///
/// ```text
/// e820: update [mem 0x00000000-0x00000fff] usable ==> reserved
/// ```
///
/// `size` is clamped to `u64::MAX - start` exactly as the update does, and
/// the end printed is `start + size - 1` (wrapping, as in C).
pub fn write_update_line<W: fmt::Write>(
    w: &mut W,
    start: u64,
    size: u64,
    old_type: E820Type,
    new_type: E820Type,
) -> fmt::Result {
    let size = size.min(u64::MAX.wrapping_sub(start));
    let end = start.wrapping_add(size);
    writeln!(w, "e820: update [mem {:#010x}-{:#010x}] {} ==> {}", start, end.wrapping_sub(1), old_type, new_type)
}

/// Writes the line `e820__range_remove()` logs (at `KERN_DEBUG`), e.g.
///
/// ```text
/// e820: remove [mem 0x000a0000-0x000fffff] usable
/// ```
///
/// The type is printed only when `check_type` is true; without it the line
/// ends with the `] ` (Linux prints the trailing space either way).
pub fn write_remove_line<W: fmt::Write>(
    w: &mut W,
    start: u64,
    size: u64,
    old_type: E820Type,
    check_type: bool,
) -> fmt::Result {
    let size = size.min(u64::MAX.wrapping_sub(start));
    let end = start.wrapping_add(size);
    write!(w, "e820: remove [mem {:#010x}-{:#010x}] ", start, end.wrapping_sub(1))?;
    if check_type {
        write!(w, "{old_type}")?;
    }
    w.write_char('\n')
}

/// Writes the line `e820_end_pfn()` logs:
/// `last_pfn = 0x240000 max_arch_pfn = 0x400000000`.
pub fn write_end_pfn_line<W: fmt::Write>(w: &mut W, last_pfn: u64, max_arch_pfn: u64) -> fmt::Result {
    writeln!(w, "last_pfn = {last_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(addr: u64, size: u64, ty: u32) -> E820Entry {
        E820Entry::new(addr, size, E820Type(ty))
    }

    fn table(v: &[E820Entry]) -> E820Table<64> {
        E820Table::from_entries(v).unwrap()
    }

    #[test]
    fn type_names_match_linux() {
        let names: Vec<String> =
            [1, 2, 3, 4, 5, 7, 12, 128, 0xefff_ffff, 6, 13, 0].iter().map(|&t| E820Type(t).to_string()).collect();
        assert_eq!(
            names,
            [
                "usable",
                "reserved",
                "ACPI data",
                "ACPI NVS",
                "unusable",
                "persistent (type 7)",
                "persistent (type 12)",
                "usable",
                "soft reserved",
                "type 6",
                "type 13",
                "type 0"
            ]
        );
    }

    /// The worked example in the comment above Linux's
    /// `e820__update_table()` (one column = one address unit).
    #[test]
    fn update_table_linux_example() {
        let mut t = table(&[
            e(4, 2, 2),
            e(22, 1, 4),
            e(4, 4, 1),
            e(1, 2, 4),
            e(0, 8, 1),
            e(20, 2, 3),
            e(11, 2, 4),
            e(10, 5, 3),
            e(14, 2, 2),
            e(19, 4, 2),
            e(9, 9, 1),
            e(21, 2, 1),
            e(17, 1, 4),
        ]);
        t.update_table().unwrap();
        assert_eq!(
            t.entries(),
            &[
                e(0, 1, 1),
                e(1, 2, 4),
                e(3, 1, 1),
                e(4, 2, 2),
                e(6, 2, 1),
                e(9, 1, 1),
                e(10, 1, 3),
                e(11, 2, 4),
                e(13, 2, 3),
                e(15, 1, 2),
                e(16, 1, 1),
                e(17, 1, 4),
                e(19, 1, 2),
                e(20, 2, 3),
                e(22, 1, 4),
            ]
        );
    }

    #[test]
    fn update_table_merges_and_drops_empty() {
        let mut t = table(&[e(0x1000, 0x1000, 1), e(0, 0x1000, 1), e(0x5000, 0, 2), e(0x2000, 0x1000, 1)]);
        t.update_table().unwrap();
        assert_eq!(t.entries(), &[e(0, 0x3000, 1)]);
    }

    #[test]
    fn update_table_nomerge_types_stay_split() {
        let mut t = table(&[e(0, 0x1000, 12), e(0x1000, 0x1000, 12), e(0x800, 0x100, 1)]);
        t.update_table().unwrap();
        // PRAM is split at every change point, even where a lower type
        // starts or ends inside it.
        assert_eq!(t.entries(), &[e(0, 0x800, 12), e(0x800, 0x100, 12), e(0x900, 0x700, 12), e(0x1000, 0x1000, 12)]);
        let mut t = table(&[e(0, 0x1000, 0xefff_ffff), e(0x1000, 0x1000, 0xefff_ffff)]);
        t.update_table().unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn update_table_bails_like_linux() {
        let mut t = table(&[e(0, 0x1000, 1)]);
        assert_eq!(t.update_table(), Err(E820UpdateError::TooFewEntries { count: 1 }));
        let mut t: E820Table<4> = E820Table::new();
        assert_eq!(t.update_table(), Err(E820UpdateError::TooFewEntries { count: 0 }));
        // An entry ending exactly at 2^64 is accepted by `add` but makes
        // update_table bail, as Linux's `addr + size < addr` check does.
        let v = [e(0x2000, 0x1000, 1), e(0x1000, 0x1000, 1), e(u64::MAX - 0xfff, 0x1000, 2)];
        let mut t = table(&v);
        assert_eq!(t.update_table(), Err(E820UpdateError::EntryWraps { index: 2 }));
        assert_eq!(t.entries(), &v);
    }

    #[test]
    fn update_table_truncates_like_linux() {
        // One big RAM range with 2 reserved holes needs 5 entries.
        let mut t: E820Table<4> = E820Table::from_entries(&[e(0, 100, 1), e(10, 10, 2), e(50, 10, 2)]).unwrap();
        assert_eq!(t.update_table(), Err(E820UpdateError::Truncated { capacity: 4, dropped_from: 60 }));
        assert_eq!(t.entries(), &[e(0, 10, 1), e(10, 10, 2), e(20, 30, 1), e(50, 10, 2)]);
    }

    #[test]
    fn update_table_all_empty_clears() {
        let mut t = table(&[e(5, 0, 1), e(6, 0, 2)]);
        t.update_table().unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn add_rejects_wrap_and_full() {
        let mut t: E820Table<1> = E820Table::new();
        assert_eq!(t.add(u64::MAX, 2, E820Type::RAM), Err(E820TableError::EntryWraps { addr: u64::MAX, size: 2 }));
        t.add(u64::MAX, 1, E820Type::RAM).unwrap();
        assert_eq!(t.add(0, 1, E820Type::RAM), Err(E820TableError::Full { addr: 0, size: 1, capacity: 1 }));
        assert!(E820TableError::Full { addr: 0, size: 1, capacity: 1 }
            .to_string()
            .contains("ignoring [mem 0x00000000-0x00000000]"));
    }

    #[test]
    fn range_update_splits_like_linux() {
        let mut t = table(&[e(0, 0x10000, 1)]);
        // Strictly inside: head shrinks, new range and tail appended.
        assert_eq!(t.range_update(0x4000, 0x1000, E820Type::RAM, E820Type::RESERVED), Ok(0x1000));
        assert_eq!(t.entries(), &[e(0, 0x4000, 1), e(0x4000, 0x1000, 2), e(0x5000, 0xb000, 1)]);
        // Partial overlap of the head of an entry.
        assert_eq!(t.range_update(0x3000, 0x3000, E820Type::RAM, E820Type::ACPI), Ok(0x2000));
        assert_eq!(
            t.entries(),
            &[e(0, 0x3000, 1), e(0x4000, 0x1000, 2), e(0x6000, 0xa000, 1), e(0x3000, 0x1000, 3), e(0x5000, 0x1000, 3)]
        );
        // Fully covered entries change type in place.
        assert_eq!(t.range_update(0, 0x100000, E820Type::ACPI, E820Type::NVS), Ok(0x2000));
        t.update_table().unwrap();
        assert_eq!(
            t.entries(),
            &[e(0, 0x3000, 1), e(0x3000, 0x1000, 4), e(0x4000, 0x1000, 2), e(0x5000, 0x1000, 4), e(0x6000, 0xa000, 1)]
        );
        assert_eq!(
            t.range_update(0, 1, E820Type::RAM, E820Type::RAM),
            Err(E820RangeError::SameType { ty: E820Type::RAM })
        );
    }

    #[test]
    fn range_update_clamps_size() {
        let mut t = table(&[e(0x1000, u64::MAX - 0x1000, 1)]);
        let n = t.range_update(0x2000, u64::MAX, E820Type::RAM, E820Type::RESERVED).unwrap();
        // The byte at u64::MAX is never part of the range.
        assert_eq!(n, u64::MAX - 0x2000);
        assert_eq!(t.entries(), &[e(0x1000, 0x1000, 1), e(0x2000, u64::MAX - 0x2000, 2)]);
    }

    #[test]
    fn range_update_full_table_drops_pieces() {
        let mut t: E820Table<1> = E820Table::from_entries(&[e(0, 0x3000, 1)]).unwrap();
        assert_eq!(
            t.range_update(0x1000, 0x1000, E820Type::RAM, E820Type::RESERVED),
            Err(E820RangeError::TableFull { dropped: 2, changed: 0x1000 })
        );
        assert_eq!(t.entries(), &[e(0, 0x1000, 1)]);
    }

    #[test]
    fn range_remove_like_linux() {
        let mut t = table(&[e(0, 0x9f000, 1), e(0x9f000, 0x1000, 2), e(0x100000, 0x100000, 1)]);
        // Removes the RAM entry at 0 entirely (zeroed in place) and the
        // head of the one at 1 MiB; the reserved entry is untouched.
        assert_eq!(t.range_remove(0, 0x180000, E820Type::RAM, true), Ok(0x9f000 + 0x80000));
        assert_eq!(t.entries(), &[e(0, 0, 0), e(0x9f000, 0x1000, 2), e(0x180000, 0x80000, 1)]);
        // Without type check, split the last one.
        assert_eq!(t.range_remove(0x190000, 0x10000, E820Type(0), false), Ok(0x10000));
        assert_eq!(t.entries(), &[e(0, 0, 0), e(0x9f000, 0x1000, 2), e(0x180000, 0x10000, 1), e(0x1a0000, 0x60000, 1)]);
        t.update_table().unwrap();
        assert_eq!(t.entries(), &[e(0x9f000, 0x1000, 2), e(0x180000, 0x10000, 1), e(0x1a0000, 0x60000, 1)]);
        // mem=1G style: remove everything from 0x1b0000 up.
        let n = t.range_remove(0x1b0000, u64::MAX - 0x1b0000, E820Type::RAM, true).unwrap();
        assert_eq!(n, 0x50000);
        assert_eq!(t.entries()[2], e(0x1a0000, 0x10000, 1));
    }

    #[test]
    fn end_pfn_like_linux() {
        let t = table(&[
            e(0, 0x9f000, 1),
            e(0x100000, 0xbff00000, 1),
            e(0x100000000, 0x40000000, 1),
            e(0xc0000000, 0x1000, 2),
        ]);
        assert_eq!(t.end_pfn(MAX_ARCH_PFN_X86_64, E820Type::RAM, MAX_ARCH_PFN_X86_64), 0x140000);
        assert_eq!(t.end_pfn(1 << 20, E820Type::RAM, MAX_ARCH_PFN_X86_64), 0xc0000);
        assert_eq!(t.end_pfn(0x100, E820Type::RAM, MAX_ARCH_PFN_X86_64), 0x9f);
        assert_eq!(t.end_pfn(1 << 40, E820Type::RAM, 0x100), 0x100);
        // The first entry crossing the limit stops the walk.
        assert_eq!(t.end_pfn(0x50, E820Type::RAM, MAX_ARCH_PFN_X86_64), 0x50);
        let mut s = String::new();
        write_end_pfn_line(&mut s, 0x140000, MAX_ARCH_PFN_X86_64).unwrap();
        assert_eq!(s, "last_pfn = 0x140000 max_arch_pfn = 0x400000000\n");
    }

    #[test]
    fn mapped_any_all() {
        let mut t = table(&[e(0, 0x1000, 1), e(0x1000, 0x1000, 2), e(0x3000, 0x1000, 1)]);
        t.update_table().unwrap();
        assert!(t.mapped_any(0x800, 0x1800, Some(E820Type::RESERVED)));
        assert!(!t.mapped_any(0x2000, 0x3000, None));
        assert!(t.mapped_all(0, 0x2000, None));
        assert!(!t.mapped_all(0, 0x2000, Some(E820Type::RAM)));
        assert!(!t.mapped_all(0, 0x4000, None));
    }

    #[test]
    fn print_lines_match_linux() {
        let t = table(&[
            e(0, 0x9fc00, 1),
            e(0x9fc00, 0x400, 2),
            e(0x100000, 0xbfee0000, 1),
            e(0xfd00000000, 0x300000000, 0xefff_ffff),
            e(5, 0, 13),
        ]);
        let mut s = String::new();
        t.write_table(&mut s, "BIOS-e820").unwrap();
        assert_eq!(
            s,
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
             BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n\
             BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable\n\
             BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] soft reserved\n\
             BIOS-e820: [mem 0x0000000000000005-0x0000000000000004] type 13\n"
        );
        let mut s = String::new();
        write_update_line(&mut s, 0, 0x1000, E820Type::RAM, E820Type::RESERVED).unwrap();
        write_remove_line(&mut s, 0xa0000, 0x60000, E820Type::RAM, true).unwrap();
        write_remove_line(&mut s, 0x1_0000_0000, u64::MAX, E820Type::RAM, false).unwrap();
        assert_eq!(
            s,
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n\
             e820: remove [mem 0x000a0000-0x000fffff] usable\n\
             e820: remove [mem 0x100000000-0xfffffffffffffffe] \n"
        );
    }

    #[test]
    fn entry_helpers() {
        assert_eq!(e(u64::MAX, 1, 1).end(), None);
        assert_eq!(e(u64::MAX, 1, 1).last(), Some(u64::MAX));
        assert_eq!(e(5, 0, 1).last(), None);
        assert_eq!(e(u64::MAX, u64::MAX, 1).end_u128(), 2 * u128::from(u64::MAX));
        assert!(E820Type::PRAM.is_nomerge() && !E820Type::PMEM.is_nomerge());
    }

    // ---- model-based property test for update_table ----

    const TYPES: [u32; 8] = [0, 1, 2, 3, 4, 5, 12, 0xefff_ffff];

    /// Per-address model of Linux's sanitiser on a small address space.
    fn model(input: &[E820Entry]) -> Vec<E820Entry> {
        const SPACE: u64 = 64;
        let mut ty = [0u32; SPACE as usize];
        let mut boundary = [false; SPACE as usize + 1];
        for x in input.iter().filter(|x| x.size != 0) {
            for a in x.addr..x.addr + x.size {
                ty[a as usize] = ty[a as usize].max(x.ty.0);
            }
            boundary[x.addr as usize] = true;
            boundary[(x.addr + x.size) as usize] = true;
        }
        let mut out: Vec<E820Entry> = Vec::new();
        for a in 0..SPACE {
            let t = ty[a as usize];
            if t == 0 {
                continue;
            }
            let nomerge = E820Type(t).is_nomerge();
            match out.last_mut() {
                Some(last) if last.ty.0 == t && last.addr + last.size == a && !(nomerge && boundary[a as usize]) => {
                    last.size += 1
                }
                _ => out.push(e(a, 1, t)),
            }
        }
        out
    }

    fn arb_entry() -> impl Strategy<Value = E820Entry> {
        (0u64..64, 0u64..16, 0usize..TYPES.len()).prop_map(|(a, s, t)| {
            let s = s.min(64 - a);
            e(a, s, TYPES[t])
        })
    }

    proptest! {
        #[test]
        fn update_table_matches_model(v in proptest::collection::vec(arb_entry(), 2..24)) {
            let mut t = table(&v);
            t.update_table().unwrap();
            let got = t.entries();
            let expected = model(&v);
            prop_assert_eq!(got, expected.as_slice());
            for w in got.windows(2) {
                prop_assert!(w[0].addr + w[0].size <= w[1].addr);
            }
            prop_assert!(got.iter().all(|x| x.size != 0 && x.ty.0 != 0));
            // Idempotent (when there are at least 2 entries to look at).
            if got.len() >= 2 {
                let mut again = t;
                again.update_table().unwrap();
                prop_assert_eq!(again.entries(), got);
            }
        }

        #[test]
        fn range_ops_preserve_bytes(v in proptest::collection::vec(arb_entry(), 2..12),
                                    s in 0u64..64, n in 0u64..64) {
            let mut t = table(&v);
            if t.update_table().is_err() { return Ok(()); }
            let before: u64 = t.entries().iter().map(|x| x.size).sum();
            let mut u = t;
            let changed = u.range_update(s, n, E820Type::RAM, E820Type::RESERVED).unwrap();
            let after: u64 = u.entries().iter().map(|x| x.size).sum();
            prop_assert_eq!(before, after);
            let ram_before: u64 = t.entries().iter().filter(|x| x.ty == E820Type::RAM).map(|x| x.size).sum();
            let ram_after: u64 = u.entries().iter().filter(|x| x.ty == E820Type::RAM).map(|x| x.size).sum();
            prop_assert_eq!(ram_before - ram_after, changed);
            let mut r = t;
            let removed = r.range_remove(s, n, E820Type(0), false).unwrap();
            let left: u64 = r.entries().iter().map(|x| x.size).sum();
            prop_assert_eq!(before - left, removed);
            prop_assert!(!r.mapped_any(s, s + n, None) || n == 0);
        }
    }
}
