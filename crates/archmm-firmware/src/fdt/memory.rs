//! Linux 6.1's early device-tree memory scan, as plain data.
//!
//! [`scan`] reads what Linux's early boot reads from a DTB before it has a
//! heap, with the same rules (`drivers/of/fdt.c`,
//! `drivers/of/of_reserved_mem.c`, `drivers/of/of_numa.c`):
//!
//! * **Root cells** (`early_init_dt_scan_root()`): `#address-cells` and
//!   `#size-cells` of `/`, defaulting to `OF_ROOT_NODE_ADDR_CELLS_DEFAULT`
//!   = 1 and `OF_ROOT_NODE_SIZE_CELLS_DEFAULT` = 1 (non-SPARC) when absent.
//!   Only 1 or 2 are accepted here ([`DtMemoryError::UnsupportedCells`]);
//!   Linux would read larger values and keep the low 64 bits.
//! * **Memory banks** (`early_init_dt_scan_memory()`): the *direct
//!   children of the root* whose `device_type` is `"memory"` (compared as a
//!   C string; Linux 6.1 has no rule based on the node name `memory@...`),
//!   skipping nodes whose `status` is present and not `"okay"`/`"ok"`. The
//!   cells come from `linux,usable-memory` if that property exists (even if
//!   empty), otherwise `reg`; nodes with neither are skipped. The value is
//!   read as `(address, size)` pairs using the root's cells; a trailing
//!   partial pair is ignored and size-0 pairs are skipped, as in Linux.
//!   `hotpluggable` (presence) is recorded per bank, and `numa-node-id`
//!   (first `u32`, as `of_numa_parse_memory_nodes()` reads it).
//! * **`/memreserve/`** (`early_init_fdt_scan_reserved_mem()`): the header
//!   reservation entries up to the first size-0 one.
//! * **`/reserved-memory`** (`fdt_scan_reserved_mem()`): used only if its
//!   `#size-cells` and `#address-cells` exist and equal the root's, and it
//!   has `ranges`; otherwise Linux prints "unsupported node format,
//!   ignoring" and so the whole node is ignored (recorded in
//!   [`DtMemoryMap::reserved_memory`]). So the cells used for its children
//!   are its own, which Linux requires to equal the root's. Each available
//!   child is either
//!   - **static**: has `reg`; every non-empty `(base, size)` pair is
//!     reserved (`no-map` ones are removed from the linear map instead).
//!     A `reg` whose length is not a multiple of the pair size makes Linux
//!     skip the node ("invalid reg property"): [`ReservedMemKind::Invalid`];
//!   - **dynamic**: no `reg` but a `size`; the kernel allocates it later
//!     from `size`, optional `alignment` and optional `alloc-ranges`
//!     (`__reserved_mem_alloc_size()`), so it is reported for the caller to
//!     allocate. `size` must be exactly `#size-cells` cells and
//!     `alignment` exactly `#address-cells` cells, and `alloc-ranges` a
//!     multiple of the pair size, or Linux skips the node:
//!     [`ReservedMemKind::Invalid`];
//!   - neither: skipped silently, as in Linux.
//!
//!   `no-map`, `reusable` and `compatible` are reported for every node.
//! * **`/chosen`** (`early_init_dt_scan_chosen()`; found as `/chosen`, which
//!   also matches `chosen@0`): `linux,initrd-start` and `linux,initrd-end`
//!   (each a 4- or 8-byte big-endian number; both needed; an initrd with
//!   `start > end` is ignored as in Linux), `bootargs` (up to the first
//!   NUL), and `linux,usable-memory-range` (root-cell pairs; Linux uses at
//!   most the first [`MAX_USABLE_RANGES`] = 2).
//!
//! * **CPUs** (`of_numa_parse_cpu_nodes()`, `of_parse_and_init_cpus()`):
//!   the children of `/cpus` named `cpu` (without unit address) or with
//!   `device_type = "cpu"`, skipping those whose `status` starts with
//!   `fail` (`for_each_of_cpu_node()`), in tree order, each with its
//!   `numa-node-id` as `of_node_to_nid()` finds it: the node's own (first
//!   `u32`; shorter than 4 bytes: none), or if absent the nearest
//!   ancestor's (`/cpus`, then `/`). Linux numbers the boot CPU 0 and the
//!   others from 1 in tree order; on QEMU's `virt` the boot CPU is the
//!   first node, so tree order is the logical order. At most
//!   [`MAX_CPU_NODES`] are kept (Linux stops at `NR_CPUS`).
//! * **PAPR associativity** (powerpc's `parse_numa_properties()`): on a
//!   pseries tree, memory and CPU nodes without `numa-node-id` take their
//!   node from `ibm,associativity` (a cell count, then the cells; the node
//!   id is the cell at the primary domain index, the first cell of
//!   `/rtas/ibm,associativity-reference-points`, FORM1/FORM2). A list too
//!   short for the index, or the value 0xffff, gives no node.
//! * **NUMA distances** (`of_numa_parse_distance_map()`): the first node
//!   in tree order whose `compatible` list has `numa-distance-map-v1`
//!   (compared ignoring case), and its `distance-matrix`: `(node a, node b,
//!   distance)` triples of `u32`s ([`DtMemoryMap::distances`]). A map node
//!   without the property reads as an empty matrix, which Linux rejects.
//!
//! ## Result struct rather than a visitor
//!
//! The output is one [`DtMemoryMap`] value with fixed-capacity lists, so a
//! kernel can parse once and then feed its memblock-like allocator in the
//! order it wants (Linux adds memory before reserving). Capacities follow
//! Linux's own static limits where it has them: [`MAX_MEMORY_BANKS`] = 1024 memory
//! `reg` pairs (Linux has no limit on memory nodes; its memblock holds 128 regions this
//! early, adjacent banks merging), [`MAX_RESERVED_NODES`] = 64
//! (`MAX_RESERVED_REGIONS`), [`MAX_MEMRESERVE`] = 64; exceeding one is a
//! typed error (Linux drops the extra region with a message). The
//! variable-length parts of one node (the `reg` pairs of a reserved node,
//! `alloc-ranges`) stay as [`RegIter`]s that borrow the blob, so no
//! per-node capacity is needed. The struct is about 9 KiB.
//!
//! ## Where we are stricter than Linux
//!
//! * `#address-cells`/`#size-cells` other than 1 or 2, or shorter than 4
//!   bytes: error.
//! * `numa-node-id` shorter than 4 bytes: error (Linux's `of_numa` also
//!   rejects the node, failing NUMA init).
//! * `linux,initrd-start`/`-end` not 4 or 8 bytes: error (Linux reads any
//!   length).
//! * `linux,usable-memory-range` whose length is not a multiple of the pair
//!   size: error (Linux checks `len % (addr_cells + size_cells)` in *bytes*
//!   against *cells* and silently ignores the property on mismatch).

use super::{Fdt, FdtError, Node};
use crate::bytes;
use crate::fixed::FixedVec;
use core::fmt;

/// Capacity of [`DtMemoryMap::banks`]: memory `reg` pairs (Linux takes any number).
pub const MAX_MEMORY_BANKS: usize = 1024;
/// Capacity of [`DtMemoryMap::reserved_nodes`] (Linux's
/// `MAX_RESERVED_REGIONS`).
pub const MAX_RESERVED_NODES: usize = 64;
/// Capacity of [`DtMemoryMap::memreserve`].
pub const MAX_MEMRESERVE: usize = 64;
/// Linux's `MAX_USABLE_RANGES`.
pub const MAX_USABLE_RANGES: usize = 2;
/// Most `/cpus` children recorded.
pub const MAX_CPU_NODES: usize = 256;
/// `OF_ROOT_NODE_ADDR_CELLS_DEFAULT` (non-SPARC).
pub const ROOT_ADDR_CELLS_DEFAULT: u32 = 1;
/// `OF_ROOT_NODE_SIZE_CELLS_DEFAULT`.
pub const ROOT_SIZE_CELLS_DEFAULT: u32 = 1;

/// Errors from [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtMemoryError {
    /// The blob itself is malformed.
    Fdt(FdtError),
    /// The root's `#address-cells` or `#size-cells` is not 1 or 2.
    UnsupportedCells {
        /// `"#address-cells"` or `"#size-cells"`.
        property: &'static str,
        /// The value.
        value: u32,
    },
    /// A property that must hold a `u32` is shorter than 4 bytes.
    ShortProperty {
        /// Property name.
        property: &'static str,
    },
    /// More memory banks than [`MAX_MEMORY_BANKS`].
    TooManyBanks,
    /// More `/reserved-memory` children than [`MAX_RESERVED_NODES`].
    TooManyReservedNodes,
    /// More `/memreserve/` entries than [`MAX_MEMRESERVE`].
    TooManyMemReserve,
    /// `linux,initrd-start` or `linux,initrd-end` is not 4 or 8 bytes.
    BadInitrdProperty {
        /// Its length.
        len: usize,
    },
    /// `linux,usable-memory-range`'s length is not a multiple of the pair
    /// size.
    BadUsableMemoryRange {
        /// Its length.
        len: usize,
    },
}

impl From<FdtError> for DtMemoryError {
    fn from(e: FdtError) -> Self {
        Self::Fdt(e)
    }
}

impl fmt::Display for DtMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Fdt(e) => write!(f, "{e}"),
            Self::UnsupportedCells { property, value } => {
                write!(f, "root {property} = {value}; only 1 or 2 are supported")
            }
            Self::ShortProperty { property } => {
                write!(f, "property {property} is shorter than 4 bytes")
            }
            Self::TooManyBanks => write!(f, "more than {MAX_MEMORY_BANKS} memory banks"),
            Self::TooManyReservedNodes => {
                write!(f, "more than {MAX_RESERVED_NODES} /reserved-memory nodes")
            }
            Self::TooManyMemReserve => {
                write!(f, "more than {MAX_MEMRESERVE} /memreserve/ entries")
            }
            Self::BadInitrdProperty { len } => write!(f, "linux,initrd-start/-end must be 4 or 8 bytes, not {len}"),
            Self::BadUsableMemoryRange { len } => {
                write!(f, "linux,usable-memory-range length {len} is not a whole number of (address, size) pairs")
            }
        }
    }
}

impl core::error::Error for DtMemoryError {}

/// `#address-cells` / `#size-cells` pair (each 1 or 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    /// `#address-cells`.
    pub address: u32,
    /// `#size-cells`.
    pub size: u32,
}

impl Cells {
    /// Bytes per `(address, size)` pair.
    pub const fn pair_bytes(&self) -> usize {
        // Both are 1 or 2, so this is at most 16.
        (self.address as usize).saturating_add(self.size as usize).saturating_mul(4)
    }
}

impl Default for Cells {
    fn default() -> Self {
        Self { address: ROOT_ADDR_CELLS_DEFAULT, size: ROOT_SIZE_CELLS_DEFAULT }
    }
}

/// Iterator over `(address, size)` pairs of a `reg`-like property. Stops
/// before a trailing partial pair.
#[derive(Clone, Copy, Debug)]
pub struct RegIter<'a> {
    rest: &'a [u8],
    cells: Cells,
}

impl<'a> RegIter<'a> {
    /// Iterates over `value` as pairs of `cells`.
    pub fn new(value: &'a [u8], cells: Cells) -> Self {
        Self { rest: value, cells }
    }

    fn read(&self, off: usize, n: u32) -> Option<u64> {
        match n {
            1 => bytes::be_u32(self.rest, off).map(u64::from),
            2 => bytes::be_u64(self.rest, off),
            _ => None,
        }
    }
}

impl Iterator for RegIter<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let a = self.read(0, self.cells.address)?;
        let abytes = usize::try_from(self.cells.address).ok()?.checked_mul(4)?;
        let s = self.read(abytes, self.cells.size)?;
        self.rest = self.rest.get(self.cells.pair_bytes()..).unwrap_or(&[]);
        Some((a, s))
    }
}

/// One `(base, size)` memory bank from a `device_type = "memory"` node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryBank<'a> {
    /// Base address.
    pub base: u64,
    /// Size in bytes (never 0).
    pub size: u64,
    /// The node's name (e.g. `memory@40000000`).
    pub node: &'a [u8],
    /// The bank came from `linux,usable-memory` rather than `reg`.
    pub usable_memory: bool,
    /// The node has `hotpluggable` (Linux marks the range hotplug).
    pub hotpluggable: bool,
    /// The node's `numa-node-id`, if present.
    pub numa_node_id: Option<u32>,
}

/// Why a `/reserved-memory` child is skipped by Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedNodeError {
    /// `reg` length is not a multiple of the pair size ("invalid reg
    /// property ... skipping node").
    BadReg,
    /// `size` is not exactly `#size-cells` cells ("invalid size property").
    BadSize,
    /// `alignment` is not exactly `#address-cells` cells ("invalid
    /// alignment property").
    BadAlignment,
    /// `alloc-ranges` length is not a multiple of the pair size ("invalid
    /// alloc-ranges property").
    BadAllocRanges,
}

impl fmt::Display for ReservedNodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadReg => "invalid reg property",
            Self::BadSize => "invalid size property",
            Self::BadAlignment => "invalid alignment property",
            Self::BadAllocRanges => "invalid alloc-ranges property",
        })
    }
}

impl core::error::Error for ReservedNodeError {}

/// What a `/reserved-memory` child describes.
#[derive(Clone, Copy, Debug)]
pub enum ReservedMemKind<'a> {
    /// Fixed regions from `reg` (size-0 pairs included; Linux fails to
    /// reserve those and moves on, so skip them).
    Static(RegIter<'a>),
    /// A region the kernel must allocate.
    Dynamic {
        /// `size`.
        size: u64,
        /// `alignment`, if present (Linux raises it to the CMA minimum for
        /// reusable `shared-dma-pool` nodes without `no-map`).
        alignment: Option<u64>,
        /// `alloc-ranges` `(start, size)` pairs to allocate from, tried in
        /// order; `None` means anywhere.
        alloc_ranges: Option<RegIter<'a>>,
    },
    /// Linux skips this node with an error message.
    Invalid(ReservedNodeError),
}

impl Default for ReservedMemKind<'_> {
    fn default() -> Self {
        Self::Invalid(ReservedNodeError::BadReg)
    }
}

/// One available child of `/reserved-memory`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReservedMemNode<'a> {
    /// Node name (`linux,cma`, `ramoops@ff000000`, ...).
    pub name: &'a [u8],
    /// `no-map`: remove from the linear map instead of reserving.
    pub no_map: bool,
    /// `reusable`: the OS may use it while the owner does not.
    pub reusable: bool,
    /// Raw `compatible` value (NUL-separated strings), if present.
    pub compatible: Option<&'a [u8]>,
    /// Static, dynamic, or invalid.
    pub kind: ReservedMemKind<'a>,
}

/// How `/reserved-memory` was treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedMemoryStatus {
    /// There is no `/reserved-memory` node.
    Absent,
    /// Used, with these cells (equal to the root's).
    Used(Cells),
    /// Linux ignores the whole node ("unsupported node format, ignoring")
    /// because `#address-cells` or `#size-cells` is missing or differs from
    /// the root's, or `ranges` is missing.
    Ignored,
}

/// The initrd location from `/chosen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Initrd {
    /// `linux,initrd-start`.
    pub start: u64,
    /// `linux,initrd-end` (exclusive; `end - start` is the size).
    pub end: u64,
}

/// What Linux reads from `/chosen` early.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chosen<'a> {
    /// Whether a `/chosen` (or `chosen@...`) node exists.
    pub present: bool,
    /// The initrd, if both properties are present and `start <= end`.
    pub initrd: Option<Initrd>,
    /// `bootargs` up to its first NUL.
    pub bootargs: Option<&'a [u8]>,
    /// `linux,usable-memory-range` (first 2 pairs, as Linux uses); empty if
    /// absent.
    pub usable_memory_range: FixedVec<(u64, u64), MAX_USABLE_RANGES>,
}

impl<'a> Chosen<'a> {
    /// `bootargs` as UTF-8, if present and valid.
    pub fn bootargs_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.bootargs?).ok()
    }
}

/// Everything [`scan`] extracts.
#[derive(Clone, Copy, Debug)]
pub struct DtMemoryMap<'a> {
    /// The root's cells, used for memory nodes and `/chosen`.
    pub root_cells: Cells,
    /// Memory banks in tree order.
    pub banks: FixedVec<MemoryBank<'a>, MAX_MEMORY_BANKS>,
    /// `/memreserve/` entries `(address, size)`.
    pub memreserve: FixedVec<(u64, u64), MAX_MEMRESERVE>,
    /// How `/reserved-memory` was treated.
    pub reserved_memory: ReservedMemoryStatus,
    /// Available `/reserved-memory` children with `reg` or `size`, in tree
    /// order.
    pub reserved_nodes: FixedVec<ReservedMemNode<'a>, MAX_RESERVED_NODES>,
    /// `/chosen` information.
    pub chosen: Chosen<'a>,
    /// The `numa-node-id` of each CPU node under `/cpus`, in tree order.
    pub cpu_nodes: FixedVec<Option<u32>, MAX_CPU_NODES>,
    /// The `distance-matrix` of the `numa-distance-map-v1` node, if the tree has one
    /// (empty if that node lacks the property).
    pub distance_matrix: Option<&'a [u8]>,
}

impl<'a> DtMemoryMap<'a> {
    /// The distance map's `(node a, node b, distance)` entries, in order; a trailing
    /// partial triple is ignored, as Linux ignores it.
    pub fn distances(&self) -> impl Iterator<Item = (u32, u32, u32)> + 'a {
        let m = self.distance_matrix.unwrap_or(&[]);
        m.chunks_exact(12).map(|t| {
            let cell = |off: usize| bytes::be_u32(t, off).unwrap_or(0);
            (cell(0), cell(4), cell(8))
        })
    }

    /// All static reserved regions `(base, size, no_map)` with non-zero
    /// size, in tree order: what Linux `memblock_reserve()`s (or marks
    /// nomap) from `/reserved-memory`. `/memreserve/` entries are separate
    /// in [`memreserve`](Self::memreserve).
    pub fn static_reserved(&self) -> impl Iterator<Item = (u64, u64, bool)> + '_ {
        self.reserved_nodes.iter().flat_map(|n| {
            let regs = match n.kind {
                ReservedMemKind::Static(r) => Some(r),
                _ => None,
            };
            let no_map = n.no_map;
            regs.into_iter().flatten().filter(|&(_, s)| s != 0).map(move |(b, s)| (b, s, no_map))
        })
    }
}

/// Whether `node` is available (Linux's `of_fdt_device_is_available()`):
/// no `status`, or `status` is `"okay"` or `"ok"`.
pub fn is_available(node: &Node<'_>) -> bool {
    match node.property_str("status") {
        None => true,
        Some(s) => s == b"okay" || s == b"ok",
    }
}

fn cells_prop(node: &Node<'_>, name: &'static str, default: u32) -> Result<u32, DtMemoryError> {
    match node.property(name) {
        None => Ok(default),
        Some(v) => {
            let c = bytes::be_u32(v, 0).ok_or(DtMemoryError::ShortProperty { property: name })?;
            if c == 1 || c == 2 {
                Ok(c)
            } else {
                Err(DtMemoryError::UnsupportedCells { property: name, value: c })
            }
        }
    }
}

/// Reads a 4- or 8-byte big-endian number.
fn read_number(v: &[u8]) -> Result<u64, DtMemoryError> {
    match v.len() {
        4 => Ok(bytes::be_u32(v, 0).map(u64::from).unwrap_or(0)),
        8 => Ok(bytes::be_u64(v, 0).unwrap_or(0)),
        len => Err(DtMemoryError::BadInitrdProperty { len }),
    }
}

/// Reads exactly `n` cells (1 or 2) as a number.
fn read_cells_exact(v: &[u8], n: u32) -> Option<u64> {
    match (n, v.len()) {
        (1, 4) => bytes::be_u32(v, 0).map(u64::from),
        (2, 8) => bytes::be_u64(v, 0),
        _ => None,
    }
}

fn reserved_node<'a>(child: &Node<'a>, cells: Cells) -> Option<ReservedMemNode<'a>> {
    let pair = cells.pair_bytes();
    let kind = if let Some(reg) = child.property("reg") {
        if reg.len().checked_rem(pair) != Some(0) {
            ReservedMemKind::Invalid(ReservedNodeError::BadReg)
        } else if reg.is_empty() {
            // Linux reserves nothing and records nothing for an empty reg.
            return None;
        } else {
            ReservedMemKind::Static(RegIter::new(reg, cells))
        }
    } else if let Some(size) = child.property("size") {
        dynamic_kind(child, size, cells)
    } else {
        return None;
    };
    Some(ReservedMemNode {
        name: child.name(),
        no_map: child.property("no-map").is_some(),
        reusable: child.property("reusable").is_some(),
        compatible: child.property("compatible"),
        kind,
    })
}

fn dynamic_kind<'a>(child: &Node<'a>, size: &'a [u8], cells: Cells) -> ReservedMemKind<'a> {
    let Some(size) = read_cells_exact(size, cells.size) else {
        return ReservedMemKind::Invalid(ReservedNodeError::BadSize);
    };
    let alignment = match child.property("alignment") {
        None => None,
        Some(a) => match read_cells_exact(a, cells.address) {
            Some(v) => Some(v),
            None => return ReservedMemKind::Invalid(ReservedNodeError::BadAlignment),
        },
    };
    let alloc_ranges = match child.property("alloc-ranges") {
        None => None,
        Some(r) => {
            let pair = cells.pair_bytes();
            if r.len().checked_rem(pair) != Some(0) {
                return ReservedMemKind::Invalid(ReservedNodeError::BadAllocRanges);
            }
            Some(RegIter::new(r, cells))
        }
    };
    ReservedMemKind::Dynamic { size, alignment, alloc_ranges }
}

/// PAPR's primary domain index (powerpc's find_primary_domain_index()): the first cell of
/// `ibm,associativity-reference-points` in `/rtas` (else `/`), which is where FORM1 and
/// FORM2 affinity, the forms QEMU's pseries and PowerVM negotiate, find the node id in an
/// `ibm,associativity` list. FORM0 (the second cell) is pre-POWER7 and not modelled.
/// `None` if the tree has no reference points (not a PAPR tree, or no NUMA).
fn papr_primary_domain_index(fdt: &Fdt<'_>) -> Option<u32> {
    let refs = fdt
        .find_node("/rtas")
        .and_then(|n| n.property("ibm,associativity-reference-points"))
        .or_else(|| fdt.root().property("ibm,associativity-reference-points"))?;
    bytes::be_u32(refs, 0).filter(|&i| i > 0)
}

/// A node's NUMA node from its `ibm,associativity` (associativity_to_nid()): the list is
/// a cell count followed by that many cells, and the node id is the cell at the primary
/// domain index (1-based). Absent, too short, or 0xffff (POWER4's "invalid"): none.
fn papr_nid(node: &Node<'_>, index: Option<u32>) -> Option<u32> {
    let index = index? as usize;
    let assoc = node.property("ibm,associativity")?;
    let count = bytes::be_u32(assoc, 0)? as usize;
    if index > count {
        return None;
    }
    bytes::be_u32(assoc, index.checked_mul(4)?).filter(|&nid| nid != 0xffff)
}

/// Scans a validated tree the way Linux 6.1's early boot does (see the
/// module docs for each rule).
///
/// # Errors
/// [`DtMemoryError`] for unsupported root cells, malformed properties
/// listed under "stricter than Linux", and capacity overflows.
pub fn scan<'a>(fdt: &Fdt<'a>) -> Result<DtMemoryMap<'a>, DtMemoryError> {
    let root = fdt.root();
    let root_cells = Cells {
        address: cells_prop(&root, "#address-cells", ROOT_ADDR_CELLS_DEFAULT)?,
        size: cells_prop(&root, "#size-cells", ROOT_SIZE_CELLS_DEFAULT)?,
    };

    // PAPR (pseries) trees give nodes by ibm,associativity instead of numa-node-id.
    let papr_index = papr_primary_domain_index(fdt);

    // Memory banks.
    let mut banks = FixedVec::new();
    for node in root.children() {
        if node.property_str("device_type") != Some(b"memory") || !is_available(&node) {
            continue;
        }
        let (reg, usable_memory) = match node.property("linux,usable-memory") {
            Some(v) => (v, true),
            None => match node.property("reg") {
                Some(v) => (v, false),
                None => continue,
            },
        };
        let hotpluggable = node.property("hotpluggable").is_some();
        let numa_node_id = match node.property("numa-node-id") {
            None => papr_nid(&node, papr_index),
            Some(v) => Some(bytes::be_u32(v, 0).ok_or(DtMemoryError::ShortProperty { property: "numa-node-id" })?),
        };
        for (base, size) in RegIter::new(reg, root_cells) {
            if size == 0 {
                continue;
            }
            banks
                .push(MemoryBank { base, size, node: node.name(), usable_memory, hotpluggable, numa_node_id })
                .map_err(|_| DtMemoryError::TooManyBanks)?;
        }
    }

    // /memreserve/.
    let mut memreserve = FixedVec::new();
    for r in fdt.mem_reservations() {
        memreserve.push(r).map_err(|_| DtMemoryError::TooManyMemReserve)?;
    }

    // /reserved-memory.
    let mut reserved_nodes = FixedVec::new();
    let reserved_memory = match fdt.find_node("/reserved-memory") {
        None => ReservedMemoryStatus::Absent,
        Some(rm) => {
            let a = rm.property_u32("#address-cells");
            let s = rm.property_u32("#size-cells");
            if a != Some(root_cells.address) || s != Some(root_cells.size) || rm.property("ranges").is_none() {
                ReservedMemoryStatus::Ignored
            } else {
                for child in rm.children() {
                    if !is_available(&child) {
                        continue;
                    }
                    if let Some(n) = reserved_node(&child, root_cells) {
                        reserved_nodes.push(n).map_err(|_| DtMemoryError::TooManyReservedNodes)?;
                    }
                }
                ReservedMemoryStatus::Used(root_cells)
            }
        }
    };

    // /chosen.
    let mut chosen = Chosen::default();
    if let Some(ch) = fdt.find_node("/chosen") {
        chosen.present = true;
        if let (Some(s), Some(e)) = (ch.property("linux,initrd-start"), ch.property("linux,initrd-end")) {
            let start = read_number(s)?;
            let end = read_number(e)?;
            if start <= end {
                chosen.initrd = Some(Initrd { start, end });
            }
        }
        chosen.bootargs = ch.property_str("bootargs");
        if let Some(r) = ch.property("linux,usable-memory-range") {
            let pair = root_cells.pair_bytes();
            if r.len().checked_rem(pair) != Some(0) {
                return Err(DtMemoryError::BadUsableMemoryRange { len: r.len() });
            }
            for p in RegIter::new(r, root_cells).take(MAX_USABLE_RANGES) {
                // At most MAX_USABLE_RANGES items are taken.
                let _ = chosen.usable_memory_range.push(p);
            }
        }
    }

    // /cpus.
    let mut cpu_nodes = FixedVec::new();
    if let Some(cpus) = fdt.find_node("/cpus") {
        let nid = |n: &Node<'_>| n.property("numa-node-id").map(|v| bytes::be_u32(v, 0));
        let inherited = nid(&cpus).or_else(|| nid(&root)).flatten();
        for c in cpus.children() {
            let name = c.name();
            let base = name.split(|&b| b == b'@').next().unwrap_or(name);
            let fail = c.property_str("status").is_some_and(|s| s.starts_with(b"fail"));
            if fail || !(base == b"cpu" || c.property_str("device_type") == Some(b"cpu")) {
                continue;
            }
            // A short numa-node-id is "no node" (not the ancestor's); without one, a PAPR
            // associativity, else the ancestor's.
            let node = nid(&c).unwrap_or_else(|| papr_nid(&c, papr_index).or(inherited));
            if cpu_nodes.push(node).is_err() {
                break;
            }
        }
    }

    // The NUMA distance map, anywhere in the tree.
    let distance_matrix =
        find_compatible(&root, b"numa-distance-map-v1", 0).map(|n| n.property("distance-matrix").unwrap_or(&[]));

    Ok(DtMemoryMap {
        root_cells,
        banks,
        memreserve,
        reserved_memory,
        reserved_nodes,
        chosen,
        cpu_nodes,
        distance_matrix,
    })
}

/// The first node at or below `node`, in tree order, whose `compatible` list holds
/// `compat` (ignoring case, as of_compat_cmp() compares); at most 64 levels deep.
fn find_compatible<'a>(node: &Node<'a>, compat: &[u8], depth: usize) -> Option<Node<'a>> {
    let hit = node.property("compatible").is_some_and(|c| c.split(|&b| b == 0).any(|s| s.eq_ignore_ascii_case(compat)));
    if hit {
        return Some(*node);
    }
    if depth >= 64 {
        return None;
    }
    let depth = depth.saturating_add(1);
    node.children().find_map(|c| find_compatible(&c, compat, depth))
}

/// Validates `blob` and [`scan`]s it.
///
/// # Errors
/// [`DtMemoryError::Fdt`] for a malformed blob, otherwise as [`scan`].
pub fn scan_blob(blob: &[u8]) -> Result<DtMemoryMap<'_>, DtMemoryError> {
    let fdt = Fdt::new(blob)?;
    scan(&fdt)
}

#[cfg(test)]
mod tests {
    use super::super::builder::Builder;
    use super::*;

    fn qemu_like() -> Vec<u8> {
        let mut b = Builder::default();
        b.rsv.push((0x4800_0000, 0x1000));
        b.begin("")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[2])
            .begin("chosen")
            .prop_str("bootargs", "console=ttyAMA0 root=/dev/vda")
            .prop_u32s("linux,initrd-start", &[0x4400_0000])
            .prop("linux,initrd-end", &0x4410_0000u64.to_be_bytes())
            .prop_u32s(
                "linux,usable-memory-range",
                &[0, 0x5000_0000, 0, 0x1000_0000, 0, 0x6000_0000, 0, 0x100, 0, 0x7000_0000, 0, 0x100],
            )
            .end()
            .begin("memory@40000000")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", &[0, 0x4000_0000, 0, 0x4000_0000, 1, 0, 0, 0, 1, 0x1000_0000, 0, 0x1000_0000, 7])
            .prop_u32s("numa-node-id", &[0])
            .end()
            .begin("memory@140000000")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", &[1, 0x4000_0000, 0, 0x4000_0000])
            .prop_u32s("linux,usable-memory", &[1, 0x4000_0000, 0, 0x2000_0000])
            .prop_u32s("numa-node-id", &[1])
            .prop("hotpluggable", b"")
            .end()
            .begin("memory@200000000")
            .prop_str("device_type", "memory")
            .prop_str("status", "disabled")
            .prop_u32s("reg", &[2, 0, 0, 0x1000])
            .end()
            .begin("memory@300000000")
            .prop_str("device_type", "memory")
            .prop_str("status", "ok")
            .prop_u32s("reg", &[3, 0, 0, 0x1000])
            .end()
            .begin("memory-no-type")
            .prop_u32s("reg", &[4, 0, 0, 0x1000])
            .end()
            .begin("soc")
            .begin("memory@500000000")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", &[5, 0, 0, 0x1000])
            .end()
            .end()
            .begin("reserved-memory")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[2])
            .prop("ranges", b"")
            .begin("secmon@40000000")
            .prop_u32s("reg", &[0, 0x4000_0000, 0, 0x10_0000, 0, 0x4100_0000, 0, 0])
            .prop("no-map", b"")
            .end()
            .begin("linux,cma")
            .prop_str("compatible", "shared-dma-pool")
            .prop("reusable", b"")
            .prop_u32s("size", &[0, 0x400_0000])
            .prop_u32s("alignment", &[0, 0x40_0000])
            .prop_u32s("alloc-ranges", &[0, 0x4000_0000, 0, 0x4000_0000])
            .end()
            .begin("bad-reg")
            .prop_u32s("reg", &[0, 0x4000_0000, 0])
            .end()
            .begin("bad-size")
            .prop_u32s("size", &[0x400_0000])
            .end()
            .begin("off")
            .prop_str("status", "disabled")
            .prop_u32s("reg", &[0, 0x4000_0000, 0, 0x1000])
            .end()
            .begin("nothing")
            .end()
            .end()
            .end();
        b.finish()
    }

    #[test]
    fn scans_like_linux() {
        let blob = qemu_like();
        let m = scan_blob(&blob).unwrap();
        assert_eq!(m.root_cells, Cells { address: 2, size: 2 });
        let banks: Vec<_> =
            m.banks.iter().map(|b| (b.base, b.size, b.usable_memory, b.hotpluggable, b.numa_node_id)).collect();
        assert_eq!(
            banks,
            vec![
                (0x4000_0000, 0x4000_0000, false, false, Some(0)),
                (0x1_1000_0000, 0x1000_0000, false, false, Some(0)),
                (0x1_4000_0000, 0x2000_0000, true, true, Some(1)),
                (0x3_0000_0000, 0x1000, false, false, None),
            ]
        );
        assert_eq!(m.banks.as_slice()[0].node, b"memory@40000000");
        assert_eq!(m.memreserve.as_slice(), &[(0x4800_0000, 0x1000)]);
        assert_eq!(m.reserved_memory, ReservedMemoryStatus::Used(Cells { address: 2, size: 2 }));
        assert_eq!(m.reserved_nodes.len(), 4);
        let n = &m.reserved_nodes.as_slice()[0];
        assert!(n.no_map && !n.reusable);
        assert_eq!(m.static_reserved().collect::<Vec<_>>(), vec![(0x4000_0000, 0x10_0000, true)]);
        match m.reserved_nodes.as_slice()[1].kind {
            ReservedMemKind::Dynamic { size, alignment, alloc_ranges } => {
                assert_eq!(size, 0x400_0000);
                assert_eq!(alignment, Some(0x40_0000));
                assert_eq!(alloc_ranges.unwrap().collect::<Vec<_>>(), vec![(0x4000_0000, 0x4000_0000)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(m.reserved_nodes.as_slice()[1].reusable);
        assert_eq!(m.reserved_nodes.as_slice()[1].compatible, Some(&b"shared-dma-pool\0"[..]));
        assert!(matches!(m.reserved_nodes.as_slice()[2].kind, ReservedMemKind::Invalid(ReservedNodeError::BadReg)));
        assert!(matches!(m.reserved_nodes.as_slice()[3].kind, ReservedMemKind::Invalid(ReservedNodeError::BadSize)));
        assert!(m.chosen.present);
        assert_eq!(m.chosen.initrd, Some(Initrd { start: 0x4400_0000, end: 0x4410_0000 }));
        assert_eq!(m.chosen.bootargs_str(), Some("console=ttyAMA0 root=/dev/vda"));
        assert_eq!(m.chosen.usable_memory_range.as_slice(), &[(0x5000_0000, 0x1000_0000), (0x6000_0000, 0x100)]);
    }

    fn minimal(f: impl Fn(&mut Builder)) -> Vec<u8> {
        let mut b = Builder::default();
        b.begin("");
        f(&mut b);
        b.end();
        b.finish()
    }

    #[test]
    fn default_cells_and_no_chosen() {
        let blob = minimal(|b| {
            b.begin("memory").prop_str("device_type", "memory").prop_u32s("reg", &[0x8000_0000, 0x1000_0000]).end();
        });
        let m = scan_blob(&blob).unwrap();
        assert_eq!(m.root_cells, Cells { address: 1, size: 1 });
        assert_eq!(m.banks.as_slice()[0].base, 0x8000_0000);
        assert!(!m.chosen.present);
        assert_eq!(m.reserved_memory, ReservedMemoryStatus::Absent);
    }

    #[test]
    fn errors() {
        let blob = minimal(|b| {
            b.prop_u32s("#address-cells", &[3]);
        });
        assert_eq!(
            scan_blob(&blob).unwrap_err(),
            DtMemoryError::UnsupportedCells { property: "#address-cells", value: 3 }
        );
        let blob = minimal(|b| {
            b.prop("#size-cells", &[0, 1]);
        });
        assert_eq!(scan_blob(&blob).unwrap_err(), DtMemoryError::ShortProperty { property: "#size-cells" });
        let blob = minimal(|b| {
            b.begin("memory")
                .prop_str("device_type", "memory")
                .prop_u32s("reg", &[0, 1])
                .prop("numa-node-id", &[1])
                .end();
        });
        assert_eq!(scan_blob(&blob).unwrap_err(), DtMemoryError::ShortProperty { property: "numa-node-id" });
        let blob = minimal(|b| {
            b.begin("chosen").prop("linux,initrd-start", &[0; 3]).prop("linux,initrd-end", &[0; 4]).end();
        });
        assert_eq!(scan_blob(&blob).unwrap_err(), DtMemoryError::BadInitrdProperty { len: 3 });
        let blob = minimal(|b| {
            b.begin("chosen").prop_u32s("linux,usable-memory-range", &[1, 2, 3]).end();
        });
        assert_eq!(scan_blob(&blob).unwrap_err(), DtMemoryError::BadUsableMemoryRange { len: 12 });
        let blob = minimal(|b| {
            b.begin("memory").prop_str("device_type", "memory");
            let cells: Vec<u32> = (0..=MAX_MEMORY_BANKS as u32).flat_map(|i| [i << 12, 0x1000]).collect();
            b.prop_u32s("reg", &cells).end();
        });
        assert_eq!(scan_blob(&blob).unwrap_err(), DtMemoryError::TooManyBanks);
        assert!(matches!(scan_blob(&[0u8; 8]), Err(DtMemoryError::Fdt(FdtError::BadMagic { .. }))));
        assert!(!DtMemoryError::TooManyBanks.to_string().is_empty());
    }

    #[test]
    fn ignored_reserved_memory_and_initrd() {
        let blob = minimal(|b| {
            b.begin("reserved-memory@0")
                .prop_u32s("#address-cells", &[1])
                .prop_u32s("#size-cells", &[1])
                .begin("r")
                .prop_u32s("reg", &[0, 0x1000])
                .end()
                .end();
            b.begin("chosen@0")
                .prop_u32s("linux,initrd-start", &[0x2000])
                .prop_u32s("linux,initrd-end", &[0x1000])
                .prop("bootargs", b"quiet")
                .end();
        });
        let m = scan_blob(&blob).unwrap();
        // No `ranges`: Linux ignores the node.
        assert_eq!(m.reserved_memory, ReservedMemoryStatus::Ignored);
        assert!(m.reserved_nodes.is_empty());
        assert!(m.chosen.present);
        assert_eq!(m.chosen.initrd, None);
        assert_eq!(m.chosen.bootargs, Some(&b"quiet"[..]));
    }

    #[test]
    fn usable_memory_present_but_empty_hides_reg() {
        let blob = minimal(|b| {
            b.begin("memory")
                .prop_str("device_type", "memory")
                .prop_u32s("reg", &[0, 0x1000])
                .prop("linux,usable-memory", b"")
                .end();
        });
        assert!(scan_blob(&blob).unwrap().banks.is_empty());
    }

    #[test]
    fn device_type_is_compared_as_c_string() {
        let blob = minimal(|b| {
            b.begin("a").prop("device_type", b"memory\0junk").prop_u32s("reg", &[0, 0x1000]).end();
            b.begin("b").prop("device_type", b"memory").prop_u32s("reg", &[0x1000, 0x1000]).end();
            b.begin("c").prop("device_type", b"memoryx\0").prop_u32s("reg", &[0x2000, 0x1000]).end();
        });
        assert_eq!(scan_blob(&blob).unwrap().banks.len(), 2);
    }

    #[test]
    fn cpu_nodes_in_tree_order() {
        let blob = minimal(|b| {
            b.begin("cpus").prop_u32s("#address-cells", &[1]).prop_u32s("numa-node-id", &[3]);
            b.begin("cpu-map").end();
            b.begin("cpu@0").prop_str("device_type", "cpu").prop_u32s("numa-node-id", &[1]).end();
            b.begin("cpu@1").prop_u32s("numa-node-id", &[0]).end();
            b.begin("core@2").prop_str("device_type", "cpu").end();
            b.begin("cpu@3").prop_str("status", "fail-sss").end();
            b.begin("cpu@4").prop_str("status", "disabled").prop("numa-node-id", b"\0\0").end();
            b.end();
        });
        let m = scan_blob(&blob).unwrap();
        assert_eq!(m.cpu_nodes.as_slice(), &[Some(1), Some(0), Some(3), None]);
        assert!(scan_blob(&minimal(|_| {})).unwrap().cpu_nodes.is_empty());
    }

    #[test]
    fn distance_map_anywhere_in_the_tree() {
        let blob = minimal(|b| {
            b.begin("soc").begin("map").prop("compatible", b"foo\0NUMA-distance-map-v1\0");
            b.prop_u32s("distance-matrix", &[0, 0, 10, 0, 1, 20, 1, 1, 10, 7]).end().end();
            b.begin("distance-map").prop_str("compatible", "numa-distance-map-v1").end();
        });
        let m = scan_blob(&blob).unwrap();
        assert_eq!(m.distances().collect::<Vec<_>>(), vec![(0, 0, 10), (0, 1, 20), (1, 1, 10)]);
        let blob = minimal(|b| {
            b.begin("distance-map").prop_str("compatible", "numa-distance-map-v1").end();
        });
        assert_eq!(scan_blob(&blob).unwrap().distance_matrix, Some(&[][..]));
        assert_eq!(scan_blob(&minimal(|_| {})).unwrap().distance_matrix, None);
    }
}
