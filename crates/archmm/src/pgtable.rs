//! Page tables, defined once.
//!
//! Linux defines `pgd_offset()` 31 times and `pXd_index()`, `pXd_offset()`,
//! `pte_alloc_one()` nearly as often. Here there is one definition of each, generic over a
//! [`PagingMode`]: the geometry of each level ([`Level`]: the index's shift and width and
//! whether a leaf ("block", "huge page", "megapage", "section") may sit there) and the entry
//! encoding (three functions). Levels a mode does not have are simply absent: a mode lists
//! its real levels from the root down, which is what Linux's pgtable-nop4d/nopud/nopmd
//! folding achieves with macros. One walker serves 2- to 5-level tables.
//!
//! # The protocol
//! - A [`PageTable`] is a root table address plus the physical memory it lives in. It does
//!   not own memory: table pages come from a [`TableAlloc`] passed to each operation
//!   (memblock before the buddy allocator exists, the page allocator after; tables smaller
//!   than a page are carved from pages by [`FragmentAlloc`], the powerpc/s390 "magic").
//! - Every operation validates its whole request first (alignment, VA range and canonical
//!   form, PA width, protection the mode can encode, overlap with existing mappings) and
//!   returns a [`PgError`] with the tables unchanged.
//! - Changes happen in two phases: first the table structure is prepared (tables
//!   allocated, blocks that straddle the range's edges split; both leave every translation as
//!   it was), then leaves are written, which cannot fail. If an allocation fails in the
//!   first phase, the structure is restored (split blocks collapse again, new empty tables
//!   are freed) and the error returned.
//! - Tables that become empty are freed; with [`MapFlags::blocks`], tables whose entries
//!   become one uniform, contiguous, aligned run are collapsed into a block.
//! - Each operation reports the virtual range whose old translations became stale to a
//!   [`TlbFlush`] once, batched (new mappings of previously invalid entries need no flush).

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use core::fmt;
use core::marker::PhantomData;

/// Deepest table hierarchy any mode has (x86 LA57, riscv Sv57, s390x region-first).
pub const MAX_LEVELS: usize = 5;

/// One level of a table hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// The virtual-address bit where this level's index starts.
    pub shift: u32,
    /// Width of the index: the table has `1 << bits` entries.
    pub bits: u32,
    /// A leaf may sit at this level (always true for the last level).
    pub leaf: bool,
}

impl Level {
    /// Bytes mapped by one entry of this level.
    pub const fn span(&self) -> u64 {
        1u64 << self.shift
    }
    /// Entries in a table of this level.
    pub const fn entries(&self) -> u64 {
        1u64 << self.bits
    }
}

/// Memory types a mapping can have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MemType {
    /// Normal write-back cacheable memory.
    #[default]
    Normal,
    /// Normal memory, not cacheable (write-combining).
    WriteCombine,
    /// Strongly ordered / uncached device memory.
    Device,
}

/// Access rights and attributes of a mapping, independent of any encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// Accessible from user mode.
    pub user: bool,
    /// Global (not tagged with an address-space id).
    pub global: bool,
    /// Memory type.
    pub mem: MemType,
}

impl Prot {
    /// Kernel read-write data, non-executable, global: the linear map.
    pub const KERNEL_RW: Prot =
        Prot { read: true, write: true, exec: false, user: false, global: true, mem: MemType::Normal };
    /// Kernel read-only, non-executable.
    pub const KERNEL_RO: Prot =
        Prot { read: true, write: false, exec: false, user: false, global: true, mem: MemType::Normal };
    /// Kernel text: read and execute.
    pub const KERNEL_RX: Prot =
        Prot { read: true, write: false, exec: true, user: false, global: true, mem: MemType::Normal };
    /// Kernel device memory (MMIO).
    pub const KERNEL_DEVICE: Prot =
        Prot { read: true, write: true, exec: false, user: false, global: true, mem: MemType::Device };
    /// User read-write data.
    pub const USER_RW: Prot =
        Prot { read: true, write: true, exec: false, user: true, global: false, mem: MemType::Normal };
}

impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}{}{} {:?}",
            if self.read { 'r' } else { '-' },
            if self.write { 'w' } else { '-' },
            if self.exec { 'x' } else { '-' },
            if self.user { 'u' } else { 'k' },
            if self.global { 'g' } else { '-' },
            self.mem
        )
    }
}

/// What an entry means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Not valid: translation faults here.
    Invalid,
    /// Points to the next level's table at this physical address.
    Table(u64),
    /// Maps a page or block at this physical address.
    Leaf {
        /// Physical address of the page or block.
        pa: u64,
        /// Its protection.
        prot: Prot,
    },
}

/// Which virtual addresses a mode translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaRange {
    /// `[0, 2^bits)` only (32-bit arches; arm64 TTBR0).
    Low,
    /// `[2^64 - 2^bits, 2^64)` only (arm64 TTBR1, the kernel half).
    High,
    /// Both, sign-extended from bit `bits - 1` (x86-64, riscv, loongarch...).
    Canonical,
}

/// An entry encoding and geometry: the only things an architecture mode describes.
pub trait PagingMode: 'static {
    /// Name as `archmm arches` lists it (`x86_64-4level`, `arm64-4k-48`, ...).
    const NAME: &'static str;
    /// Levels, root first.
    const LEVELS: &'static [Level];
    /// Bytes per entry (4 or 8).
    const ENTRY_SIZE: u64;
    /// Translated virtual address bits.
    const VA_BITS: u32;
    /// Which part of the address space the root translates.
    const VA_RANGE: VaRange;
    /// Physical address bits an entry can hold.
    const PA_BITS: u32;
    /// Base page size (the last level's span).
    const PAGE_SIZE: u64 = 1 << Self::LEVELS[Self::LEVELS.len() - 1].shift;

    /// Entries are stored big-endian (powerpc, s390): the raw `u64` the engine reads from
    /// memory (little-endian) is the architectural value byte-swapped.
    const BIG_ENDIAN: bool = false;
    /// The architectural value of a raw entry, as the architecture manual and Linux's
    /// pte_val() show it (byte-swapped on big-endian formats).
    fn entry_value(raw: u64) -> u64 {
        if Self::BIG_ENDIAN {
            raw.swap_bytes()
        } else {
            raw
        }
    }
    /// Encode a pointer to a next-level table at `pa`, stored at `level`.
    fn table_entry(pa: u64, level: usize) -> u64;
    /// Encode a leaf at `level` mapping `pa` with `prot`. Called only with a `prot` that
    /// [`PagingMode::check_prot`] accepted and a `pa` aligned to the level's span.
    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64;
    /// Decode a raw entry found at `level`.
    fn decode(raw: u64, level: usize) -> Entry;
    /// Whether this mode can express `prot`; `Err` names why not.
    fn check_prot(prot: Prot) -> Result<(), PgError> {
        if !prot.read && !prot.write && !prot.exec {
            return Err(PgError::UnsupportedProt("no access at all: unmap instead"));
        }
        Ok(())
    }
    /// The raw value of an empty (invalid) entry at `level`: what a new table is filled
    /// with and what unmapping writes; [`PagingMode::decode`] must read it as
    /// [`Entry::Invalid`]. 0 for formats with a valid bit; s390 marks invalid entries with an
    /// invalid bit (and the table type), where an all-zero entry would be a valid one.
    fn empty_entry(_level: usize) -> u64 {
        0
    }
    /// Whether a table at `level` may live at `pa` (the default: within the physical
    /// address width; e.g. a PAE root must sit below 4 GiB because CR3 is 32 bits).
    fn table_pa_ok(pa: u64, _level: usize) -> bool {
        Self::PA_BITS >= 64
            || pa.checked_add(Self::table_bytes(0).max(1) - 1).is_some_and(|end| end >> Self::PA_BITS == 0)
    }
    /// The hardware's table walker does not snoop the data cache: every new table and
    /// every changed entry must be cleaned to the point of unification (Linux's arm:
    /// clean_pte_table() in pte_alloc_one(), flush_pmd_entry(), set_pte_ext()).
    const CLEAN_TABLES: bool = false;
    /// Where this mode overrides a generic page-table helper, and why (for `archmm hooks`).
    const OVERRIDES: &'static [crate::arch::Override] = &[];
    /// Bytes of a table at `level` (may be smaller or larger than a page).
    fn table_bytes(level: usize) -> u64 {
        Self::LEVELS[level].entries() * Self::ENTRY_SIZE
    }
    /// Linux's names of the real levels, root first (folded levels are absent).
    fn level_names() -> &'static [&'static str] {
        match Self::LEVELS.len() {
            5 => &["pgd", "p4d", "pud", "pmd", "pte"],
            4 => &["pgd", "pud", "pmd", "pte"],
            3 => &["pgd", "pmd", "pte"],
            2 => &["pgd", "pte"],
            _ => &["pgd"],
        }
    }
}

/// Why a page-table operation was refused. The tables are unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgError {
    /// An address or size is not a multiple of the page size.
    Unaligned {
        /// The offending value.
        value: u64,
        /// Required alignment.
        align: u64,
    },
    /// A virtual address outside what the mode translates (beyond its VA bits, in the
    /// other half, or non-canonical).
    VaOutOfRange(u64),
    /// A physical address beyond what the mode's entries can hold.
    PaOutOfRange(u64),
    /// `va + size` (or `pa + size`) wraps past the top of the address space.
    Wraps,
    /// Part of the range is already mapped and replacing was not asked for.
    AlreadyMapped(u64),
    /// Part of the range is not mapped (for operations on existing mappings).
    NotMapped(u64),
    /// A table could not be allocated.
    NoMemory,
    /// The mode cannot encode the requested protection.
    UnsupportedProt(&'static str),
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Unaligned { value, align } => write!(f, "{value:#x} is not aligned to {align:#x}"),
            PgError::VaOutOfRange(v) => {
                write!(f, "virtual address {v:#x} is outside the mode's range or not canonical")
            }
            PgError::PaOutOfRange(p) => {
                write!(f, "physical address {p:#x} is beyond the mode's physical address width")
            }
            PgError::Wraps => write!(f, "the range wraps past the top of the address space"),
            PgError::AlreadyMapped(v) => write!(f, "{v:#x} is already mapped"),
            PgError::NotMapped(v) => write!(f, "{v:#x} is not mapped"),
            PgError::NoMemory => write!(f, "no memory for a page table"),
            PgError::UnsupportedProt(why) => write!(f, "unsupported protection: {why}"),
        }
    }
}

impl core::error::Error for PgError {}

/// Where table memory comes from (Linux's pte_alloc_one / pte_alloc_one_kernel /
/// pXd_alloc_one and their frees, one interface for every level).
pub trait TableAlloc {
    /// Allocate `bytes` of zeroed memory aligned to `bytes` (at least 4 bytes) for a table
    /// at `level`; `None` when out of memory.
    fn alloc_table(&mut self, bytes: u64, level: usize) -> Option<u64>;
    /// Return a table allocated by [`TableAlloc::alloc_table`] (it is all zero again).
    fn free_table(&mut self, pa: u64, bytes: u64, level: usize);
}

/// TLB maintenance, batched per operation.
pub trait TlbFlush {
    /// Translations in `[start, end)` may be stale.
    fn flush_range(&mut self, start: u64, end: u64);
}

impl<T: TlbFlush + ?Sized> TlbFlush for &mut T {
    fn flush_range(&mut self, start: u64, end: u64) {
        (**self).flush_range(start, end)
    }
}

/// A [`TlbFlush`] that only records, for tests and for tables not yet live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushLog {
    /// Calls made.
    pub calls: u64,
    /// Union of all flushed ranges `(start, end)`, if any.
    pub range: Option<(u64, u64)>,
}

impl TlbFlush for FlushLog {
    fn flush_range(&mut self, start: u64, end: u64) {
        self.calls += 1;
        self.range = Some(match self.range {
            None => (start, end),
            Some((s, e)) => (s.min(start), e.max(end)),
        });
    }
}

/// Most table frees one operation holds back before it flushes the TLB early.
const GATHER: usize = 32;

/// Table pages an operation freed, held until the TLB has been flushed for its range
/// (Linux's mmu_gather): until then a walker may still use the table through its caches,
/// so the page must not be reused. Every `map`/`unmap`/`protect` runs its changes through
/// one; dropping it flushes if anything is stale or pending, then frees.
struct Gather<'a, A: TableAlloc, T: TlbFlush> {
    alloc: &'a mut A,
    tlb: &'a mut T,
    start: u64,
    last: u64,
    pending: [(u64, u64, usize); GATHER],
    n: usize,
    stale: bool,
}

impl<'a, A: TableAlloc, T: TlbFlush> Gather<'a, A, T> {
    fn new(alloc: &'a mut A, tlb: &'a mut T, start: u64, last: u64) -> Self {
        Self { alloc, tlb, start, last, pending: [(0, 0, 0); GATHER], n: 0, stale: false }
    }

    /// Translations in the operation's range changed: flush before returning.
    fn stale(&mut self) {
        self.stale = true;
    }

    /// Flush the operation's range, then give the held tables back.
    fn release(&mut self) {
        self.tlb.flush_range(self.start, self.last.wrapping_add(1));
        self.stale = false;
        for &(pa, bytes, level) in &self.pending[..self.n] {
            self.alloc.free_table(pa, bytes, level);
        }
        self.n = 0;
    }
}

impl<A: TableAlloc, T: TlbFlush> TableAlloc for Gather<'_, A, T> {
    fn alloc_table(&mut self, bytes: u64, level: usize) -> Option<u64> {
        self.alloc.alloc_table(bytes, level)
    }
    fn free_table(&mut self, pa: u64, bytes: u64, level: usize) {
        if self.n == GATHER {
            self.release();
        }
        self.pending[self.n] = (pa, bytes, level);
        self.n += 1;
    }
}

impl<A: TableAlloc, T: TlbFlush> Drop for Gather<'_, A, T> {
    fn drop(&mut self) {
        if self.stale || self.n > 0 {
            self.release();
        }
    }
}

/// Options of [`PageTable::map`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapFlags {
    /// Replace existing mappings in the range instead of refusing.
    pub replace: bool,
    /// Use the largest blocks alignment allows, and collapse uniform tables into blocks.
    pub blocks: bool,
}

impl Default for MapFlags {
    fn default() -> Self {
        Self { replace: false, blocks: true }
    }
}

/// One step of a walk, for `archmm walk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// Level (0 = root).
    pub level: usize,
    /// Index into the table.
    pub index: u64,
    /// The table's physical address.
    pub table: u64,
    /// The entry's physical address.
    pub entry_pa: u64,
    /// The raw entry.
    pub raw: u64,
    /// What it means.
    pub entry: Entry,
}

/// A translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `va` translates to.
    pub pa: PhysAddr,
    /// Protection of the mapping.
    pub prot: Prot,
    /// Level of the leaf.
    pub level: usize,
    /// Size of the page or block.
    pub size: u64,
}

/// A page-table hierarchy of mode `Mo` in physical memory `P`.
#[derive(Debug)]
pub struct PageTable<'p, Mo: PagingMode, P: PhysMem> {
    root: u64,
    mem: &'p P,
    _mode: PhantomData<Mo>,
}

/// Allocate a table for `level` and check that its address can be stored where it has to
/// go (an entry of the level above, or the root register); a table the mode cannot point
/// to is given back and refused.
fn alloc_checked<Mo: PagingMode>(alloc: &mut impl TableAlloc, level: usize) -> Result<u64, PgError> {
    let bytes = Mo::table_bytes(level);
    let t = alloc.alloc_table(bytes, level).ok_or(PgError::NoMemory)?;
    if !Mo::table_pa_ok(t, level) {
        alloc.free_table(t, bytes, level);
        return Err(PgError::PaOutOfRange(t));
    }
    Ok(t)
}

/// pXd_index(): the index of `va` in a table of `level`. One definition for every level
/// of every mode.
#[inline]
pub fn index<Mo: PagingMode>(level: usize, va: u64) -> u64 {
    let l = Mo::LEVELS[level];
    (va >> l.shift) & (l.entries() - 1)
}

/// pXd_offset() / pgd_offset(): the physical address of `va`'s entry in `table`.
#[inline]
pub fn entry_addr<Mo: PagingMode>(table: u64, level: usize, va: u64) -> u64 {
    table + index::<Mo>(level, va) * Mo::ENTRY_SIZE
}

/// Whether `va` is translated by the mode at all.
pub fn va_ok<Mo: PagingMode>(va: u64) -> bool {
    let bits = Mo::VA_BITS;
    if bits >= 64 {
        return true;
    }
    match Mo::VA_RANGE {
        VaRange::Low => va >> bits == 0,
        VaRange::High => va >> bits == (u64::MAX >> bits),
        VaRange::Canonical => {
            let top = va >> (bits - 1);
            top == 0 || top == (u64::MAX >> (bits - 1))
        }
    }
}

/// Last virtual address of the half of the space that contains `va` (for range checks:
/// a range must not cross from the low canonical half into the hole).
fn va_range_ok<Mo: PagingMode>(va: u64, size: u64) -> Result<u64, PgError> {
    let last = va.checked_add(size - 1).ok_or(PgError::Wraps)?;
    if !va_ok::<Mo>(va) {
        return Err(PgError::VaOutOfRange(va));
    }
    if !va_ok::<Mo>(last) {
        return Err(PgError::VaOutOfRange(last));
    }
    // Both ends valid; a canonical range must not span the non-canonical hole.
    if Mo::VA_RANGE == VaRange::Canonical && Mo::VA_BITS < 64 && (va >> 63) != (last >> 63) {
        return Err(PgError::VaOutOfRange(va));
    }
    Ok(last)
}

impl<'p, Mo: PagingMode, P: PhysMem> PageTable<'p, Mo, P> {
    /// Allocate an empty root table.
    ///
    /// # Errors
    /// [`PgError::NoMemory`].
    pub fn new(mem: &'p P, alloc: &mut impl TableAlloc) -> Result<Self, PgError> {
        let root = alloc_checked::<Mo>(alloc, 0)?;
        let pt = Self { root, mem, _mode: PhantomData };
        pt.init_table(root, 0);
        Ok(pt)
    }

    /// Fill a freshly allocated (zeroed) table at `level` with empty entries, for formats
    /// whose empty entry is not 0.
    fn init_table(&self, t: u64, level: usize) {
        let empty = Mo::empty_entry(level);
        if empty != 0 {
            for i in 0..Mo::LEVELS[level].entries() {
                self.write(t + i * Mo::ENTRY_SIZE, empty);
            }
        }
        if Mo::CLEAN_TABLES {
            self.mem.clean_dcache(PhysAddr(t), Mo::table_bytes(level));
        }
    }

    /// Use an existing root table at `root`.
    pub fn from_root(mem: &'p P, root: PhysAddr) -> Self {
        Self { root: root.0, mem, _mode: PhantomData }
    }

    /// The root table's physical address (what goes into CR3/TTBR/satp).
    pub fn root(&self) -> PhysAddr {
        PhysAddr(self.root)
    }

    fn read(&self, pa: u64) -> u64 {
        if Mo::ENTRY_SIZE == 8 {
            self.mem.read_u64(PhysAddr(pa))
        } else {
            self.mem.read_u32(PhysAddr(pa)) as u64
        }
    }

    fn write(&self, pa: u64, v: u64) {
        if Mo::ENTRY_SIZE == 8 {
            self.mem.write_u64(PhysAddr(pa), v)
        } else {
            self.mem.write_u32(PhysAddr(pa), v as u32)
        }
        if Mo::CLEAN_TABLES {
            self.mem.clean_dcache(PhysAddr(pa), Mo::ENTRY_SIZE);
        }
    }

    /// The walk of `va`, level by level, up to the first leaf or invalid entry.
    /// Returns the steps and how many are filled.
    pub fn walk(&self, va: VirtAddr) -> ([Option<WalkStep>; MAX_LEVELS], usize) {
        let va = va.0;
        let mut steps = [None; MAX_LEVELS];
        let mut n = 0;
        if !va_ok::<Mo>(va) {
            return (steps, 0);
        }
        let mut table = self.root;
        for level in 0..Mo::LEVELS.len() {
            let ea = entry_addr::<Mo>(table, level, va);
            let raw = self.read(ea);
            let entry = Mo::decode(raw, level);
            steps[n] = Some(WalkStep { level, index: index::<Mo>(level, va), table, entry_pa: ea, raw, entry });
            n += 1;
            match entry {
                Entry::Table(t) if level + 1 < Mo::LEVELS.len() => table = t,
                _ => break,
            }
        }
        (steps, n)
    }

    /// Translate `va`: the physical address, protection and leaf level, or `None`.
    pub fn translate(&self, va: VirtAddr) -> Option<Translation> {
        let va = va.0;
        if !va_ok::<Mo>(va) {
            return None;
        }
        let mut table = self.root;
        for level in 0..Mo::LEVELS.len() {
            match Mo::decode(self.read(entry_addr::<Mo>(table, level, va)), level) {
                Entry::Table(t) if level + 1 < Mo::LEVELS.len() => table = t,
                Entry::Leaf { pa, prot } => {
                    let size = Mo::LEVELS[level].span();
                    return Some(Translation { pa: PhysAddr(pa + (va & (size - 1))), prot, level, size });
                }
                _ => return None,
            }
        }
        None
    }

    fn check_pages(va: u64, size: u64) -> Result<u64, PgError> {
        let page = Mo::PAGE_SIZE;
        for v in [va, size] {
            if v & (page - 1) != 0 {
                return Err(PgError::Unaligned { value: v, align: page });
            }
        }
        if size == 0 {
            return Ok(va);
        }
        va_range_ok::<Mo>(va, size)
    }

    /// Visit every valid leaf intersecting `[va, last]` (inclusive): `f(leaf_va, level,
    /// pa, prot)`; stops early when `f` returns `true`.
    fn scan(
        &self,
        table: u64,
        level: usize,
        base: u64,
        va: u64,
        last: u64,
        f: &mut dyn FnMut(u64, usize, u64, Prot) -> bool,
    ) -> bool {
        self.each_entry(table, level, base, va, last, |ea, ev, ev_last| match Mo::decode(self.read(ea), level) {
            Entry::Invalid => false,
            Entry::Leaf { pa, prot } => f(ev, level, pa, prot),
            Entry::Table(t) => {
                level + 1 < Mo::LEVELS.len() && self.scan(t, level + 1, ev, va.max(ev), last.min(ev_last), f)
            }
        })
    }

    /// Visit the entries of `table` (at `level`, covering VAs from `base`) that intersect
    /// `[va, last]`, in order: `f(entry_pa, entry_va, entry_last_va)`; stops when `f`
    /// returns true (and returns true then).
    fn each_entry(
        &self,
        table: u64,
        level: usize,
        base: u64,
        va: u64,
        last: u64,
        mut f: impl FnMut(u64, u64, u64) -> bool,
    ) -> bool {
        let span = Mo::LEVELS[level].span();
        let (i0, i1) = (index::<Mo>(level, va.max(base)), index::<Mo>(level, last));
        for i in i0..=i1 {
            let ev = base.wrapping_add(i.wrapping_mul(span));
            if f(table + i * Mo::ENTRY_SIZE, ev, ev.wrapping_add(span - 1)) {
                return true;
            }
        }
        false
    }

    /// Base VA of the table slot containing `va` at the root: the root covers the whole
    /// range, so its base is `va` with every index bit cleared.
    fn root_base(va: u64) -> u64 {
        let l = Mo::LEVELS[0];
        let covered = l.shift + l.bits;
        if covered >= 64 {
            0
        } else {
            va & !((1u64 << covered) - 1)
        }
    }

    fn first_mapped(&self, va: u64, last: u64) -> Option<u64> {
        let mut found = None;
        self.scan(self.root, 0, Self::root_base(va), va, last, &mut |lva, _, _, _| {
            found = Some(lva.max(va));
            true
        });
        found
    }

    fn first_unmapped(&self, va: u64, last: u64) -> Option<u64> {
        let mut next = va;
        let mut hole = None;
        self.scan(self.root, 0, Self::root_base(va), va, last, &mut |lva, level, _, _| {
            if lva > next {
                hole = Some(next);
                return true;
            }
            next = lva.wrapping_add(Mo::LEVELS[level].span());
            next == 0
        });
        if hole.is_none() && next != 0 && next <= last {
            hole = Some(next);
        }
        hole
    }

    /// The largest level a chunk at `va`/`pa` with `left` bytes to go can be a leaf at.
    fn chunk_level(va: u64, pa: u64, left: u64, blocks: bool) -> usize {
        let n = Mo::LEVELS.len();
        if blocks {
            for (lvl, l) in Mo::LEVELS.iter().enumerate() {
                let s = l.span();
                if l.leaf && (va | pa) & (s - 1) == 0 && left >= s {
                    return lvl;
                }
            }
        }
        n - 1
    }

    /// Walk to the table at `target` level for `va`, creating tables (and, when
    /// `split`, splitting blocks on the way). Returns the table address, or `None` when
    /// allocation failed.
    fn descend(
        &self,
        va: u64,
        target: usize,
        alloc: &mut impl TableAlloc,
        split: bool,
        stats: &mut Stats,
    ) -> Result<u64, PgError> {
        let mut table = self.root;
        for level in 0..target {
            let ea = entry_addr::<Mo>(table, level, va);
            let raw = self.read(ea);
            table = match Mo::decode(raw, level) {
                Entry::Table(t) => t,
                Entry::Invalid => {
                    let t = alloc_checked::<Mo>(alloc, level + 1)?;
                    self.init_table(t, level + 1);
                    self.write(ea, Mo::table_entry(t, level));
                    t
                }
                Entry::Leaf { pa, prot } => {
                    if !split {
                        return Err(PgError::AlreadyMapped(va));
                    }
                    let t = self.split_block(ea, level, pa, prot, alloc)?;
                    stats.split += 1;
                    t
                }
            };
        }
        Ok(table)
    }

    /// Replace the block at entry `ea` (level `level`) by a next-level table of leaves that
    /// translate identically.
    fn split_block(
        &self,
        ea: u64,
        level: usize,
        pa: u64,
        prot: Prot,
        alloc: &mut impl TableAlloc,
    ) -> Result<u64, PgError> {
        let next = level + 1;
        let t = alloc_checked::<Mo>(alloc, next)?;
        let l = Mo::LEVELS[next];
        for i in 0..l.entries() {
            self.write(t + i * Mo::ENTRY_SIZE, Mo::leaf_entry(pa + i * l.span(), prot, next));
        }
        self.write(ea, Mo::table_entry(t, level));
        Ok(t)
    }

    /// If the table `t` below entry `ea` at `level` holds only invalid entries, free it
    /// and clear `ea`; if it holds one contiguous aligned run of identical leaves and
    /// `collapse` is set and `level` allows leaves, replace it by a block. Returns true if
    /// the entry changed.
    fn tidy(&self, ea: u64, level: usize, t: u64, collapse: bool, alloc: &mut impl TableAlloc) -> bool {
        let next = level + 1;
        let l = Mo::LEVELS[next];
        let first = Mo::decode(self.read(t), next);
        let uniform_leaf = match first {
            Entry::Leaf { pa, prot }
                if collapse && Mo::LEVELS[level].leaf && pa & (Mo::LEVELS[level].span() - 1) == 0 =>
            {
                Some((pa, prot))
            }
            _ => None,
        };
        let mut empty = first == Entry::Invalid;
        let mut uniform = uniform_leaf.is_some();
        for i in 1..l.entries() {
            if !empty && !uniform {
                return false;
            }
            let e = Mo::decode(self.read(t + i * Mo::ENTRY_SIZE), next);
            if e != Entry::Invalid {
                empty = false;
            }
            if let Some((pa, prot)) = uniform_leaf {
                if e != (Entry::Leaf { pa: pa + i * l.span(), prot }) {
                    uniform = false;
                }
            }
        }
        if empty {
            self.write(ea, Mo::empty_entry(level));
        } else if let (true, Some((pa, prot))) = (uniform, uniform_leaf) {
            self.write(ea, Mo::leaf_entry(pa, prot, level));
        } else {
            return false;
        }
        self.mem.zero(PhysAddr(t), Mo::table_bytes(next));
        alloc.free_table(t, Mo::table_bytes(next), next);
        true
    }

    /// Bottom-up pass over the tables covering `[va, last]`: free empty tables, collapse
    /// uniform ones when `collapse`. Returns true if any entry changed.
    #[allow(clippy::too_many_arguments)]
    fn tidy_range(
        &self,
        table: u64,
        level: usize,
        base: u64,
        va: u64,
        last: u64,
        collapse: bool,
        alloc: &mut impl TableAlloc,
    ) -> bool {
        if level + 1 >= Mo::LEVELS.len() {
            return false;
        }
        let mut changed = false;
        self.each_entry(table, level, base, va, last, |ea, ev, ev_last| {
            if let Entry::Table(t) = Mo::decode(self.read(ea), level) {
                changed |= self.tidy_range(t, level + 1, ev, va.max(ev), last.min(ev_last), collapse, alloc);
                changed |= self.tidy(ea, level, t, collapse, alloc);
            }
            false
        });
        changed
    }

    /// Map `[va, va + size)` to `[pa, pa + size)` with `prot`.
    ///
    /// With `flags.blocks`, each piece uses the largest leaf level alignment and size allow,
    /// and uniform tables collapse into blocks afterwards; without, only base pages.
    ///
    /// # Errors
    /// Unaligned or out-of-range addresses, a protection the mode cannot encode, an
    /// existing mapping in the range (unless `flags.replace`), or no memory for a table.
    /// On error nothing changed.
    #[allow(clippy::too_many_arguments)] // the request (5) plus where tables and flushes go
    pub fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: u64,
        prot: Prot,
        flags: MapFlags,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), PgError> {
        self.map_impl(va.0, pa.0, size, prot, flags, flags.blocks, alloc, tlb)
    }

    /// [`PageTable::map`] into a live table without touching what is already there: with
    /// `flags.blocks` the new pieces still get the largest leaves alignment allows, but no
    /// existing table is collapsed into a block afterwards (Linux's arch_add_memory()
    /// descends into existing tables, as x86's phys_pud_init() does, and never rewrites live
    /// translations or frees a table the MMU may have cached).
    ///
    /// # Errors
    /// As [`PageTable::map`]; on error nothing changed.
    #[allow(clippy::too_many_arguments)] // as map
    pub fn map_keep_tables(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: u64,
        prot: Prot,
        flags: MapFlags,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), PgError> {
        self.map_impl(va.0, pa.0, size, prot, flags, false, alloc, tlb)
    }

    #[allow(clippy::too_many_arguments)] // map's arguments and whether to collapse
    fn map_impl(
        &mut self,
        va: u64,
        pa: u64,
        size: u64,
        prot: Prot,
        flags: MapFlags,
        collapse: bool,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), PgError> {
        let last = Self::check_pages(va, size)?;
        let mut gather = Gather::new(alloc, tlb, va, last);
        let alloc = &mut gather;
        Self::check_pages(pa, 0)?;
        if size == 0 {
            return Ok(());
        }
        let pa_last = pa.checked_add(size - 1).ok_or(PgError::Wraps)?;
        if Mo::PA_BITS < 64 && pa_last >> Mo::PA_BITS != 0 {
            return Err(PgError::PaOutOfRange(if pa >> Mo::PA_BITS != 0 { pa } else { pa_last }));
        }
        Mo::check_prot(prot)?;
        if !flags.replace {
            if let Some(v) = self.first_mapped(va, last) {
                return Err(PgError::AlreadyMapped(v));
            }
        }
        // Phase 1: structure. Consecutive chunks in the same table reuse the walk.
        let mut stats = Stats::default();
        let mut cursor = Cursor::default();
        let mut off = 0u64;
        while off < size {
            let lvl = Self::chunk_level(va + off, pa + off, size - off, flags.blocks);
            if !cursor.hit::<Mo>(lvl, va + off) {
                match self.descend(va + off, lvl, alloc, flags.replace, &mut stats) {
                    Ok(t) => cursor.set::<Mo>(lvl, va + off, t),
                    Err(e) => {
                        // Undo: collapse what was split, free what was created empty.
                        self.tidy_range(self.root, 0, Self::root_base(va), va, last, true, alloc);
                        return Err(e);
                    }
                }
            }
            off += Mo::LEVELS[lvl].span();
        }
        // Phase 2: leaves (cannot fail: every table on the way exists now).
        let mut stale = false;
        let mut cursor = Cursor::default();
        let mut off = 0u64;
        while off < size {
            let lvl = Self::chunk_level(va + off, pa + off, size - off, flags.blocks);
            let table = if cursor.hit::<Mo>(lvl, va + off) {
                cursor.table
            } else {
                // Every table on the way exists after phase 1, so this allocates nothing.
                let t = self.descend(va + off, lvl, alloc, true, &mut stats)?;
                cursor.set::<Mo>(lvl, va + off, t);
                t
            };
            let ea = entry_addr::<Mo>(table, lvl, va + off);
            let old = Mo::decode(self.read(ea), lvl);
            match old {
                Entry::Invalid => {}
                Entry::Leaf { .. } => stale = true,
                Entry::Table(t) => {
                    stale = true;
                    self.free_subtree(t, lvl + 1, alloc);
                }
            }
            self.write(ea, Mo::leaf_entry(pa + off, prot, lvl));
            off += Mo::LEVELS[lvl].span();
        }
        if collapse && self.tidy_range(self.root, 0, Self::root_base(va), va, last, true, alloc) {
            stale = true;
        }
        if stale || stats.split > 0 {
            alloc.stale();
        }
        Ok(())
    }

    fn free_subtree(&self, t: u64, level: usize, alloc: &mut impl TableAlloc) {
        if level + 1 < Mo::LEVELS.len() {
            for i in 0..Mo::LEVELS[level].entries() {
                if let Entry::Table(c) = Mo::decode(self.read(t + i * Mo::ENTRY_SIZE), level) {
                    self.free_subtree(c, level + 1, alloc);
                }
            }
        }
        self.mem.zero(PhysAddr(t), Mo::table_bytes(level));
        alloc.free_table(t, Mo::table_bytes(level), level);
    }

    /// Split blocks straddling `va` and `last + 1` so the range's edges fall on leaf
    /// boundaries. Translations are unchanged.
    fn split_edges(&self, va: u64, last: u64, alloc: &mut impl TableAlloc) -> Result<bool, PgError> {
        let mut split = false;
        for edge in [va, last.wrapping_add(1)] {
            if edge == 0 && edge != va {
                continue; // the range ends at the top of the address space
            }
            if !va_ok::<Mo>(edge) {
                continue;
            }
            loop {
                let (steps, n) = self.walk(VirtAddr(edge));
                let Some(Some(s)) = steps.get(n.wrapping_sub(1)).copied() else { break };
                match s.entry {
                    Entry::Leaf { pa, prot } if edge & (Mo::LEVELS[s.level].span() - 1) != 0 => {
                        self.split_block(s.entry_pa, s.level, pa, prot, alloc)?;
                        split = true;
                    }
                    _ => break,
                }
            }
        }
        Ok(split)
    }

    /// Unmap `[va, va + size)`. Holes in the range are allowed. Blocks that straddle the
    /// range's edges are split; tables that become empty are freed.
    ///
    /// # Errors
    /// Unaligned or out-of-range addresses; no memory to split a block at an edge (then
    /// nothing changed).
    pub fn unmap(
        &mut self,
        va: VirtAddr,
        size: u64,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), PgError> {
        let va = va.0;
        let last = Self::check_pages(va, size)?;
        let mut gather = Gather::new(alloc, tlb, va, last);
        let alloc = &mut gather;
        if size == 0 {
            return Ok(());
        }
        if let Err(e) = self.split_edges(va, last, alloc) {
            self.tidy_range(self.root, 0, Self::root_base(va), va, last, true, alloc);
            return Err(e);
        }
        let mut stale = false;
        self.clear_range(self.root, 0, Self::root_base(va), va, last, alloc, &mut stale);
        self.tidy_range(self.root, 0, Self::root_base(va), va, last, false, alloc);
        if stale {
            alloc.stale();
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn clear_range(
        &self,
        table: u64,
        level: usize,
        base: u64,
        va: u64,
        last: u64,
        alloc: &mut impl TableAlloc,
        stale: &mut bool,
    ) {
        self.each_entry(table, level, base, va, last, |ea, ev, ev_last| {
            match Mo::decode(self.read(ea), level) {
                Entry::Invalid => {}
                Entry::Leaf { .. } => {
                    // After split_edges every leaf here lies wholly inside the range.
                    self.write(ea, Mo::empty_entry(level));
                    *stale = true;
                }
                Entry::Table(t) => {
                    if ev >= va && ev_last <= last {
                        self.write(ea, Mo::empty_entry(level));
                        self.free_subtree(t, level + 1, alloc);
                        *stale = true;
                    } else if level + 1 < Mo::LEVELS.len() {
                        self.clear_range(t, level + 1, ev, va.max(ev), last.min(ev_last), alloc, stale);
                    }
                }
            }
            false
        });
    }

    /// Change the protection of every mapping in `[va, va + size)` to `prot`, splitting
    /// blocks at the edges and collapsing uniform tables afterwards.
    ///
    /// # Errors
    /// Unaligned or out-of-range addresses, a hole in the range ([`PgError::NotMapped`]), a
    /// protection the mode cannot encode, or no memory to split (then nothing changed).
    pub fn protect(
        &mut self,
        va: VirtAddr,
        size: u64,
        prot: Prot,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), PgError> {
        let va = va.0;
        let last = Self::check_pages(va, size)?;
        let mut gather = Gather::new(alloc, tlb, va, last);
        let alloc = &mut gather;
        if size == 0 {
            return Ok(());
        }
        Mo::check_prot(prot)?;
        if let Some(v) = self.first_unmapped(va, last) {
            return Err(PgError::NotMapped(v));
        }
        if let Err(e) = self.split_edges(va, last, alloc) {
            self.tidy_range(self.root, 0, Self::root_base(va), va, last, true, alloc);
            return Err(e);
        }
        self.reprotect(self.root, 0, Self::root_base(va), va, last, prot);
        self.tidy_range(self.root, 0, Self::root_base(va), va, last, true, alloc);
        alloc.stale();
        Ok(())
    }

    fn reprotect(&self, table: u64, level: usize, base: u64, va: u64, last: u64, prot: Prot) {
        self.each_entry(table, level, base, va, last, |ea, ev, ev_last| {
            match Mo::decode(self.read(ea), level) {
                Entry::Invalid => {}
                Entry::Leaf { pa, .. } => self.write(ea, Mo::leaf_entry(pa, prot, level)),
                Entry::Table(t) => {
                    if level + 1 < Mo::LEVELS.len() {
                        self.reprotect(t, level + 1, ev, va.max(ev), last.min(ev_last), prot);
                    }
                }
            }
            false
        });
    }

    /// Call `f(va, size, pa, prot)` for every leaf in `[va, va + size)` in address order.
    pub fn for_each_leaf(&self, va: VirtAddr, size: u64, mut f: impl FnMut(u64, u64, u64, Prot)) {
        let va = va.0;
        if size == 0 || va_range_ok::<Mo>(va, size).is_err() {
            return;
        }
        let last = va + (size - 1);
        self.scan(self.root, 0, Self::root_base(va), va, last, &mut |lva, level, pa, prot| {
            f(lva, Mo::LEVELS[level].span(), pa, prot);
            false
        });
    }

    /// The first virtual address root entry `i` covers (sign-extended in canonical modes).
    pub fn root_entry_va(i: u64) -> u64 {
        let l = Mo::LEVELS[0];
        let va = i << l.shift;
        let top = l.shift + l.bits;
        let high = match Mo::VA_RANGE {
            VaRange::Canonical => va >> (top - 1) & 1 == 1,
            VaRange::High => true,
            VaRange::Low => false,
        };
        if high && top < 64 {
            va | !((1u64 << top) - 1)
        } else {
            va
        }
    }

    /// Make this table share the subtrees of `src` (a root of the same mode) for every root
    /// entry whose first virtual address satisfies `pick`: the entries are copied, the
    /// lower tables are shared, not duplicated (Linux's pgd_alloc() copying the kernel's
    /// top-level entries). Returns how many entries were copied.
    pub fn share_root_entries(&mut self, src: u64, mut pick: impl FnMut(u64) -> bool) -> usize {
        let mut n = 0;
        for i in 0..Mo::LEVELS[0].entries() {
            let e = self.read(src + i * Mo::ENTRY_SIZE);
            if e != Mo::empty_entry(0) && pick(Self::root_entry_va(i)) {
                self.write(self.root + i * Mo::ENTRY_SIZE, e);
                n += 1;
            }
        }
        n
    }

    /// Undo [`PageTable::share_root_entries`]: empty every root entry identical to `src`'s
    /// entry at the same index, so [`PageTable::destroy`] frees only this table's own
    /// subtrees. Returns how many entries were cleared.
    pub fn unshare_root_entries(&mut self, src: u64) -> usize {
        let mut n = 0;
        for i in 0..Mo::LEVELS[0].entries() {
            let e = self.read(self.root + i * Mo::ENTRY_SIZE);
            if e != Mo::empty_entry(0) && e == self.read(src + i * Mo::ENTRY_SIZE) {
                self.write(self.root + i * Mo::ENTRY_SIZE, Mo::empty_entry(0));
                n += 1;
            }
        }
        n
    }

    /// Free every table of the hierarchy, root included (the mappings' memory is not
    /// touched).
    pub fn destroy(self, alloc: &mut impl TableAlloc) {
        self.free_subtree(self.root, 0, alloc);
    }
}

/// The last table a map operation descended to, to skip walks for neighbours.
#[derive(Default)]
struct Cursor {
    valid: bool,
    level: usize,
    key: u64,
    table: u64,
}

impl Cursor {
    /// The key of the table that holds `va`'s entry at `level`: the address bits above it.
    fn key<Mo: PagingMode>(level: usize, va: u64) -> u64 {
        let l = Mo::LEVELS[level];
        let above = l.shift + l.bits;
        if above >= 64 {
            0
        } else {
            va >> above
        }
    }
    fn hit<Mo: PagingMode>(&self, level: usize, va: u64) -> bool {
        self.valid && self.level == level && self.key == Self::key::<Mo>(level, va)
    }
    fn set<Mo: PagingMode>(&mut self, level: usize, va: u64, table: u64) {
        *self = Cursor { valid: true, level, key: Self::key::<Mo>(level, va), table };
    }
}

#[derive(Default)]
struct Stats {
    split: u64,
}

/// Carves tables smaller than a page out of whole pages from `A`: what powerpc and s390
/// (2K page tables) and arm32 (1K second-level tables) do in Linux with per-arch code
/// (pte_fragment_alloc, page_table_alloc). Generic here: up to `SLOTS` partially used
/// pages are tracked; when that list is full a fragment simply costs a fresh page. A page
/// holds up to [`FRAG_MAX`] fragments (powerpc radix with 64K pages: 256 PTE tables of 256
/// bytes, Linux's RADIX_PTE_FRAG_NR); smaller tables still take a `FRAG_MAX`th of a page.
/// `A` only ever sees requests for whole pages.
#[derive(Debug)]
pub struct FragmentAlloc<A: TableAlloc, const SLOTS: usize = 16> {
    inner: A,
    page: u64,
    /// (page address, fragment size, bitmap of used fragments)
    partial: [(u64, u64, FragMap); SLOTS],
}

/// Most fragments [`FragmentAlloc`] carves from one page.
pub const FRAG_MAX: u64 = 256;
type FragMap = [u64; (FRAG_MAX / 64) as usize];

impl<A: TableAlloc, const SLOTS: usize> FragmentAlloc<A, SLOTS> {
    /// Wrap `inner`, whose allocations of `page` bytes are whole pages.
    pub fn new(inner: A, page: u64) -> Self {
        Self { inner, page, partial: [(0, 0, [0; (FRAG_MAX / 64) as usize]); SLOTS] }
    }
    /// The wrapped allocator.
    pub fn inner(&mut self) -> &mut A {
        &mut self.inner
    }
}

/// The first unused fragment of `used` among the first `per`.
fn first_free(used: &FragMap, per: u64) -> Option<u64> {
    used.iter().enumerate().find_map(|(w, &bits)| {
        let base = w as u64 * 64;
        let n = per.saturating_sub(base).min(64);
        let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        let free = !bits & mask;
        (free != 0).then(|| base + free.trailing_zeros() as u64)
    })
}

impl<A: TableAlloc, const SLOTS: usize> TableAlloc for FragmentAlloc<A, SLOTS> {
    fn alloc_table(&mut self, bytes: u64, level: usize) -> Option<u64> {
        if bytes >= self.page || bytes == 0 {
            return self.inner.alloc_table(bytes, level);
        }
        let per = (self.page / bytes).min(FRAG_MAX);
        for slot in self.partial.iter_mut() {
            if slot.0 != 0 && slot.1 == bytes {
                if let Some(i) = first_free(&slot.2, per) {
                    slot.2[(i / 64) as usize] |= 1 << (i % 64);
                    return Some(slot.0 + i * bytes);
                }
            }
        }
        let pg = self.inner.alloc_table(self.page, level)?;
        if let Some(slot) = self.partial.iter_mut().find(|s| s.0 == 0) {
            let mut used = [0; (FRAG_MAX / 64) as usize];
            used[0] = 1;
            *slot = (pg, bytes, used);
        }
        Some(pg)
    }

    fn free_table(&mut self, pa: u64, bytes: u64, level: usize) {
        if bytes >= self.page || bytes == 0 {
            return self.inner.free_table(pa, bytes, level);
        }
        let pg = pa & !(self.page - 1);
        let page = self.page;
        if let Some(slot) = self.partial.iter_mut().find(|s| s.0 == pg && s.1 == bytes) {
            let i = (pa - pg) / bytes;
            slot.2[(i / 64) as usize] &= !(1 << (i % 64));
            if slot.2.iter().all(|&w| w == 0) {
                *slot = (0, 0, [0; (FRAG_MAX / 64) as usize]);
                self.inner.free_table(pg, page, level);
            }
        } else {
            // Untracked (the list was full when it was carved): it is alone in its page.
            self.inner.free_table(pg, page, level);
        }
    }
}
