//! A bounds-checked flattened device tree (FDT / DTB) reader.
//!
//! ## The format
//!
//! A DTB (Devicetree Specification v0.4, chapter 5 "Flattened Devicetree
//! (DTB) Format"; also dtc's `libfdt`) is a big-endian blob:
//!
//! * a header of 10 `u32`s: `magic` (0xd00dfeed), `totalsize`,
//!   `off_dt_struct`, `off_dt_strings`, `off_mem_rsvmap`, `version`,
//!   `last_comp_version`, `boot_cpuid_phys`, `size_dt_strings` (v3+),
//!   `size_dt_struct` (v17+);
//! * the memory reservation block: 8-byte aligned `{u64 address; u64 size}`
//!   pairs, terminated by an entry with size 0 (Linux's
//!   `early_init_fdt_scan_reserved_mem()` stops at the first size-0 entry);
//! * the structure block: 4-byte aligned big-endian tokens
//!   `FDT_BEGIN_NODE` (1, followed by the NUL-terminated node name, padded
//!   to 4), `FDT_END_NODE` (2), `FDT_PROP` (3, followed by `u32 len`,
//!   `u32 nameoff`, and `len` value bytes padded to 4), `FDT_NOP` (4) and
//!   `FDT_END` (9);
//! * the strings block: NUL-terminated property names, addressed by
//!   `nameoff`.
//!
//! ## Validation
//!
//! [`Fdt::new`] checks everything once, so later lookups cannot fail on a
//! malformed blob (they still use checked accesses and return `None`
//! rather than panic):
//!
//! * magic; `version >= 16`; `last_comp_version <= 17` (the newest format
//!   this reader understands, libfdt's `FDT_LAST_SUPPORTED_VERSION`) and
//!   `last_comp_version <= version`;
//! * `totalsize` covers the header and fits in the slice (extra bytes after
//!   `totalsize` are ignored);
//! * the reservation block is 8-byte aligned, inside the blob, and
//!   terminated before the blob ends;
//! * the structure block is 4-byte aligned and inside the blob (for version
//!   16, which has no `size_dt_struct`, it runs to `totalsize`); the strings
//!   block is inside the blob;
//! * the token stream: one root node (NOPs allowed around it), every node
//!   closed, `FDT_END` after the root, names NUL-terminated inside the
//!   block, property values inside the block, `nameoff` pointing at a
//!   NUL-terminated string inside the strings block, properties only before
//!   a node's first child, nesting at most [`MAX_DEPTH`] levels, and no
//!   unknown tokens. Every token advances by at least 4 bytes, so walks
//!   always terminate.
//!
//! ## Why not the `fdt` crate
//!
//! The `fdt` crate was evaluated and not used. Its latest stable release
//! (0.1.5) panics on blobs that lack standard nodes: `Fdt::chosen()`,
//! `cpus()`, `memory()` and `root()` end in `.expect("... required ...")`
//! (e.g. `find_node("/memory").expect("requires memory node")`). The 0.2.0
//! pre-release (`0.2.0-alpha3`) adds a non-panicking parser mode, but the
//! default mode still panics, `Chosen::bootargs` slices
//! `value[..value.len() - 1]` (which panics on an empty property in either
//! mode), and node iteration keeps a fixed 16-entry parent stack.
//! Guaranteeing "no panic on any input" would mean auditing and wrapping
//! most of it; this reader is about 650 lines plus tests, validates the
//! whole blob up front, has no dependencies and is fuzzed.
//!
//! The Linux-specific interpretation (memory nodes, `/reserved-memory`,
//! `/chosen`) is in [`memory`].

pub mod memory;

use crate::bytes;
use core::fmt;

/// `FDT_MAGIC`.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// `FDT_BEGIN_NODE`.
pub const FDT_BEGIN_NODE: u32 = 1;
/// `FDT_END_NODE`.
pub const FDT_END_NODE: u32 = 2;
/// `FDT_PROP`.
pub const FDT_PROP: u32 = 3;
/// `FDT_NOP`.
pub const FDT_NOP: u32 = 4;
/// `FDT_END`.
pub const FDT_END: u32 = 9;
/// The oldest header version accepted.
pub const FDT_MIN_VERSION: u32 = 16;
/// The newest `last_comp_version` understood.
pub const FDT_LAST_SUPPORTED_VERSION: u32 = 17;
/// Deepest node nesting accepted (the root is depth 1). Real trees are
/// under 10 levels; this bounds the walk's state.
pub const MAX_DEPTH: usize = 64;

const HEADER_V16: usize = 36;
const HEADER_V17: usize = 40;

/// Errors from [`Fdt::new`]: which rule of the format the blob breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// The slice is shorter than the header or than `totalsize`.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// `magic` is not 0xd00dfeed.
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// `version` is below 16, or `last_comp_version` is above 17 or above
    /// `version`.
    UnsupportedVersion {
        /// `version`.
        version: u32,
        /// `last_comp_version`.
        last_comp_version: u32,
    },
    /// `totalsize` is smaller than the header.
    BadTotalSize {
        /// `totalsize`.
        totalsize: u32,
    },
    /// A block offset is misaligned (`mem_rsvmap` needs 8, `dt_struct` 4).
    MisalignedBlock {
        /// Block name.
        block: &'static str,
        /// Its offset.
        offset: u32,
    },
    /// A block lies (partly) outside `totalsize`.
    BlockOutOfBounds {
        /// Block name.
        block: &'static str,
    },
    /// The memory reservation block has no size-0 terminator inside the
    /// blob.
    UnterminatedMemReserve,
    /// A token or its payload runs past the end of the structure block.
    StructTruncated {
        /// Offset in the structure block.
        offset: usize,
    },
    /// An unknown token value.
    BadToken {
        /// Offset in the structure block.
        offset: usize,
        /// The value.
        token: u32,
    },
    /// A node name has no NUL terminator in the structure block.
    UnterminatedName {
        /// Offset in the structure block.
        offset: usize,
    },
    /// A property's `nameoff` is outside the strings block or its name has
    /// no NUL terminator there.
    BadNameOffset {
        /// Offset of the property in the structure block.
        offset: usize,
        /// The `nameoff`.
        nameoff: u32,
    },
    /// The tree is not one properly nested root node followed by `FDT_END`
    /// (e.g. an `FDT_END_NODE` without a node, `FDT_END` inside a node, a
    /// second root, or a property outside any node).
    BadStructure {
        /// Offset in the structure block.
        offset: usize,
    },
    /// A property follows a child node in the same node.
    PropertyAfterSubnode {
        /// Offset in the structure block.
        offset: usize,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Offset in the structure block.
        offset: usize,
    },
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, actual } => {
                write!(f, "FDT truncated: need {needed} bytes, have {actual}")
            }
            Self::BadMagic { found } => {
                write!(f, "FDT magic is {found:#010x}, expected 0xd00dfeed")
            }
            Self::UnsupportedVersion {
                version,
                last_comp_version,
            } => write!(
                f,
                "FDT version {version} (last compatible {last_comp_version}) not supported; need version >= 16 and last_comp_version <= 17"
            ),
            Self::BadTotalSize { totalsize } => {
                write!(f, "FDT totalsize {totalsize} is smaller than its header")
            }
            Self::MisalignedBlock { block, offset } => {
                write!(f, "FDT {block} block offset {offset:#x} is misaligned")
            }
            Self::BlockOutOfBounds { block } => {
                write!(f, "FDT {block} block lies outside totalsize")
            }
            Self::UnterminatedMemReserve => {
                f.write_str("FDT memory reservation block has no terminating entry")
            }
            Self::StructTruncated { offset } => {
                write!(f, "FDT structure block truncated at offset {offset:#x}")
            }
            Self::BadToken { offset, token } => {
                write!(f, "FDT unknown token {token:#x} at offset {offset:#x}")
            }
            Self::UnterminatedName { offset } => {
                write!(f, "FDT node name at offset {offset:#x} is not NUL-terminated")
            }
            Self::BadNameOffset { offset, nameoff } => write!(
                f,
                "FDT property at offset {offset:#x} has invalid name offset {nameoff:#x}"
            ),
            Self::BadStructure { offset } => {
                write!(f, "FDT structure block is malformed at offset {offset:#x}")
            }
            Self::PropertyAfterSubnode { offset } => write!(
                f,
                "FDT property at offset {offset:#x} follows a subnode"
            ),
            Self::TooDeep { offset } => write!(
                f,
                "FDT nodes nest deeper than {MAX_DEPTH} levels at offset {offset:#x}"
            ),
        }
    }
}

impl core::error::Error for FdtError {}

/// The decoded FDT header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdtHeader {
    /// `totalsize`.
    pub totalsize: u32,
    /// `off_dt_struct`.
    pub off_dt_struct: u32,
    /// `off_dt_strings`.
    pub off_dt_strings: u32,
    /// `off_mem_rsvmap`.
    pub off_mem_rsvmap: u32,
    /// `version`.
    pub version: u32,
    /// `last_comp_version`.
    pub last_comp_version: u32,
    /// `boot_cpuid_phys`.
    pub boot_cpuid_phys: u32,
    /// `size_dt_strings`.
    pub size_dt_strings: u32,
    /// `size_dt_struct` (version 17+; for version 16 the computed size).
    pub size_dt_struct: u32,
}

/// One structure-block token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// `FDT_BEGIN_NODE` with the node's name (unit address included, no
    /// NUL; empty for the root).
    BeginNode(&'a [u8]),
    /// `FDT_END_NODE`.
    EndNode,
    /// `FDT_PROP`.
    Prop {
        /// Property name (no NUL).
        name: &'a [u8],
        /// Raw value.
        value: &'a [u8],
    },
    /// `FDT_END`.
    End,
}

/// A token and the structure-block offset just after it.
#[derive(Clone, Copy, Debug)]
struct Next<'a> {
    token: Token<'a>,
    after: usize,
}

/// A validated device tree.
#[derive(Clone, Copy, Debug)]
pub struct Fdt<'a> {
    header: FdtHeader,
    structs: &'a [u8],
    strings: &'a [u8],
    rsvmap: &'a [u8],
    /// Offset in `structs` just after the root's `FDT_BEGIN_NODE` name.
    root_body: usize,
}

/// Returns the bytes up to (not including) the first NUL in `b`, or `None`
/// if there is no NUL.
fn cstr(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().position(|&c| c == 0)?;
    b.get(..n)
}

/// Reads the token at `off` of a structure block (NOPs are skipped).
fn read_token<'a>(structs: &'a [u8], strings: &'a [u8], mut off: usize) -> Result<Next<'a>, FdtError> {
    loop {
        let tok = bytes::be_u32(structs, off).ok_or(FdtError::StructTruncated { offset: off })?;
        let body = off.checked_add(4).ok_or(FdtError::StructTruncated { offset: off })?;
        match tok {
            FDT_NOP => off = body,
            FDT_END_NODE => return Ok(Next { token: Token::EndNode, after: body }),
            FDT_END => return Ok(Next { token: Token::End, after: body }),
            FDT_BEGIN_NODE => {
                let rest = structs.get(body..).ok_or(FdtError::StructTruncated { offset: off })?;
                let name = cstr(rest).ok_or(FdtError::UnterminatedName { offset: off })?;
                let after = body
                    .checked_add(name.len())
                    .and_then(|v| v.checked_add(1))
                    .and_then(|v| bytes::align_up(v, 4))
                    .ok_or(FdtError::StructTruncated { offset: off })?;
                if after > structs.len() {
                    return Err(FdtError::StructTruncated { offset: off });
                }
                return Ok(Next { token: Token::BeginNode(name), after });
            }
            FDT_PROP => {
                let len = bytes::be_u32(structs, body).ok_or(FdtError::StructTruncated { offset: off })?;
                let nameoff =
                    bytes::be_u32(structs, body.saturating_add(4)).ok_or(FdtError::StructTruncated { offset: off })?;
                let vstart = body.checked_add(8).ok_or(FdtError::StructTruncated { offset: off })?;
                let vlen = usize::try_from(len).map_err(|_| FdtError::StructTruncated { offset: off })?;
                let value = bytes::sub(structs, vstart, vlen).ok_or(FdtError::StructTruncated { offset: off })?;
                let after = vstart
                    .checked_add(vlen)
                    .and_then(|v| bytes::align_up(v, 4))
                    .ok_or(FdtError::StructTruncated { offset: off })?;
                if after > structs.len() {
                    return Err(FdtError::StructTruncated { offset: off });
                }
                let name = usize::try_from(nameoff)
                    .ok()
                    .and_then(|o| strings.get(o..))
                    .and_then(cstr)
                    .ok_or(FdtError::BadNameOffset { offset: off, nameoff })?;
                return Ok(Next { token: Token::Prop { name, value }, after });
            }
            other => return Err(FdtError::BadToken { offset: off, token: other }),
        }
    }
}

impl<'a> Fdt<'a> {
    /// Validates `blob` (see the module docs for every check) and returns a
    /// reader for it.
    ///
    /// `blob` must start at the header; bytes past `totalsize` are ignored.
    /// Validation walks the whole structure block once (O(size)).
    ///
    /// # Errors
    /// The [`FdtError`] variant naming the first broken rule.
    pub fn new(blob: &'a [u8]) -> Result<Self, FdtError> {
        let word = |i: usize| bytes::be_u32(blob, i.saturating_mul(4));
        let magic = word(0).ok_or(FdtError::Truncated { needed: HEADER_V16, actual: blob.len() })?;
        if magic != FDT_MAGIC {
            return Err(FdtError::BadMagic { found: magic });
        }
        if blob.len() < HEADER_V16 {
            return Err(FdtError::Truncated { needed: HEADER_V16, actual: blob.len() });
        }
        let w = |i| word(i).unwrap_or(0);
        let mut h = FdtHeader {
            totalsize: w(1),
            off_dt_struct: w(2),
            off_dt_strings: w(3),
            off_mem_rsvmap: w(4),
            version: w(5),
            last_comp_version: w(6),
            boot_cpuid_phys: w(7),
            size_dt_strings: w(8),
            size_dt_struct: 0,
        };
        if h.version < FDT_MIN_VERSION
            || h.last_comp_version > FDT_LAST_SUPPORTED_VERSION
            || h.last_comp_version > h.version
        {
            return Err(FdtError::UnsupportedVersion { version: h.version, last_comp_version: h.last_comp_version });
        }
        let header_size = if h.version >= 17 { HEADER_V17 } else { HEADER_V16 };
        let total = usize::try_from(h.totalsize).unwrap_or(usize::MAX);
        if total < header_size {
            return Err(FdtError::BadTotalSize { totalsize: h.totalsize });
        }
        let blob = blob.get(..total).ok_or(FdtError::Truncated { needed: total, actual: blob.len() })?;
        let to_usize = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);

        // Structure block.
        let soff = to_usize(h.off_dt_struct);
        if soff % 4 != 0 {
            return Err(FdtError::MisalignedBlock { block: "structure", offset: h.off_dt_struct });
        }
        if soff < header_size {
            return Err(FdtError::BlockOutOfBounds { block: "structure" });
        }
        let slen = if h.version >= 17 {
            h.size_dt_struct = w(9);
            to_usize(h.size_dt_struct)
        } else {
            let l = total.saturating_sub(soff);
            h.size_dt_struct = u32::try_from(l).unwrap_or(u32::MAX);
            l
        };
        let structs = bytes::sub(blob, soff, slen).ok_or(FdtError::BlockOutOfBounds { block: "structure" })?;

        // Strings block.
        let stroff = to_usize(h.off_dt_strings);
        if stroff < header_size {
            return Err(FdtError::BlockOutOfBounds { block: "strings" });
        }
        let strings = bytes::sub(blob, stroff, to_usize(h.size_dt_strings))
            .ok_or(FdtError::BlockOutOfBounds { block: "strings" })?;

        // Memory reservation block.
        let roff = to_usize(h.off_mem_rsvmap);
        if roff % 8 != 0 {
            return Err(FdtError::MisalignedBlock { block: "memory reservation", offset: h.off_mem_rsvmap });
        }
        if roff < header_size {
            return Err(FdtError::BlockOutOfBounds { block: "memory reservation" });
        }
        let rsv_all = blob.get(roff..).ok_or(FdtError::BlockOutOfBounds { block: "memory reservation" })?;
        let mut rsv_len = None;
        let mut i = 0usize;
        while let (Some(_), Some(size)) = (bytes::be_u64(rsv_all, i), bytes::be_u64(rsv_all, i.saturating_add(8))) {
            i = i.saturating_add(16);
            if size == 0 {
                rsv_len = Some(i);
                break;
            }
        }
        let rsvmap = rsv_len.and_then(|l| rsv_all.get(..l)).ok_or(FdtError::UnterminatedMemReserve)?;

        let root_body = validate_structure(structs, strings)?;
        Ok(Self { header: h, structs, strings, rsvmap, root_body })
    }

    /// The header.
    pub fn header(&self) -> &FdtHeader {
        &self.header
    }

    /// The memory reservation block entries `(address, size)` before the
    /// terminator, i.e. the `/memreserve/` entries Linux
    /// `memblock_reserve()`s.
    pub fn mem_reservations(&self) -> MemReservations<'a> {
        MemReservations { rest: self.rsvmap }
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        Node { structs: self.structs, strings: self.strings, name: &[], body: self.root_body }
    }

    /// Finds a node by absolute path (`"/"`, `"/chosen"`,
    /// `"/reserved-memory"`), with libfdt's matching rule: a path component
    /// without `@` matches a node named exactly so or named
    /// `component@<anything>`; a component with `@` must match exactly. The
    /// first match in tree order wins. Returns `None` if there is none or
    /// the path is not absolute.
    pub fn find_node(&self, path: &str) -> Option<Node<'a>> {
        let rest = path.strip_prefix('/')?;
        let mut node = self.root();
        for comp in rest.split('/').filter(|c| !c.is_empty()) {
            node = node.children().find(|c| name_matches(c.name(), comp.as_bytes()))?;
        }
        Some(node)
    }

    /// All tokens of the structure block in order (NOPs skipped), ending
    /// with [`Token::End`].
    pub fn tokens(&self) -> Tokens<'a> {
        Tokens { structs: self.structs, strings: self.strings, off: 0, done: false }
    }
}

/// libfdt's `fdt_nodename_eq_()`.
fn name_matches(name: &[u8], comp: &[u8]) -> bool {
    if name == comp {
        return true;
    }
    if comp.contains(&b'@') {
        return false;
    }
    name.strip_prefix(comp).is_some_and(|r| r.first() == Some(&b'@'))
}

/// Walks the whole structure block, checking nesting. Returns the offset of
/// the root node's body (just after its name).
fn validate_structure(structs: &[u8], strings: &[u8]) -> Result<usize, FdtError> {
    // Per open node: whether it has had a child yet (to reject properties
    // after subnodes). Bit i of `had_child` is depth i + 1.
    let mut had_child = [false; MAX_DEPTH];
    let mut depth = 0usize;
    let mut root_body = None;
    let mut off = 0usize;
    loop {
        let n = read_token(structs, strings, off)?;
        match n.token {
            Token::BeginNode(_) => {
                if depth == 0 {
                    if root_body.is_some() {
                        return Err(FdtError::BadStructure { offset: off });
                    }
                    root_body = Some(n.after);
                } else if let Some(p) = had_child.get_mut(depth.saturating_sub(1)) {
                    *p = true;
                }
                if depth >= MAX_DEPTH {
                    return Err(FdtError::TooDeep { offset: off });
                }
                if let Some(slot) = had_child.get_mut(depth) {
                    *slot = false;
                }
                depth = depth.saturating_add(1);
            }
            Token::EndNode => {
                if depth == 0 {
                    return Err(FdtError::BadStructure { offset: off });
                }
                depth = depth.saturating_sub(1);
            }
            Token::Prop { .. } => {
                if depth == 0 {
                    return Err(FdtError::BadStructure { offset: off });
                }
                if had_child.get(depth.saturating_sub(1)).copied().unwrap_or(false) {
                    return Err(FdtError::PropertyAfterSubnode { offset: off });
                }
            }
            Token::End => {
                if depth != 0 {
                    return Err(FdtError::BadStructure { offset: off });
                }
                return root_body.ok_or(FdtError::BadStructure { offset: off });
            }
        }
        // Every token is at least 4 bytes, so `off` strictly increases.
        off = n.after;
    }
}

/// Iterator over structure-block tokens; see [`Fdt::tokens`].
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;
    fn next(&mut self) -> Option<Token<'a>> {
        if self.done {
            return None;
        }
        match read_token(self.structs, self.strings, self.off) {
            Ok(n) => {
                self.off = n.after;
                if n.token == Token::End {
                    self.done = true;
                }
                Some(n.token)
            }
            Err(_) => {
                // Cannot happen on a validated blob.
                self.done = true;
                None
            }
        }
    }
}

/// Iterator over `/memreserve/` entries; see [`Fdt::mem_reservations`].
#[derive(Clone, Debug)]
pub struct MemReservations<'a> {
    rest: &'a [u8],
}

impl Iterator for MemReservations<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let addr = bytes::be_u64(self.rest, 0)?;
        let size = bytes::be_u64(self.rest, 8)?;
        if size == 0 {
            self.rest = &[];
            return None;
        }
        self.rest = self.rest.get(16..).unwrap_or(&[]);
        Some((addr, size))
    }
}

/// A node of a validated tree.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    name: &'a [u8],
    /// Offset of the first token after the node's `FDT_BEGIN_NODE` name.
    body: usize,
}

impl<'a> Node<'a> {
    /// The node name including any unit address (`memory@40000000`); empty
    /// for the root.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The node's properties, in order.
    pub fn properties(&self) -> Properties<'a> {
        Properties { structs: self.structs, strings: self.strings, off: Some(self.body) }
    }

    /// The value of the first property called `name`, if any.
    pub fn property(&self, name: &str) -> Option<&'a [u8]> {
        self.properties().find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v)
    }

    /// The value of property `name` up to its first NUL (the whole value if
    /// it has none): how C code reading it with `strcmp` sees it.
    pub fn property_str(&self, name: &str) -> Option<&'a [u8]> {
        let v = self.property(name)?;
        Some(cstr(v).unwrap_or(v))
    }

    /// The first 4 bytes of property `name` as a big-endian `u32`; `None` if
    /// absent or shorter than 4 bytes (what `of_property_read_u32` reads).
    pub fn property_u32(&self, name: &str) -> Option<u32> {
        bytes::be_u32(self.property(name)?, 0)
    }

    /// The direct children, in order.
    pub fn children(&self) -> Children<'a> {
        Children { structs: self.structs, strings: self.strings, off: Some(self.body) }
    }
}

/// Iterator over a node's properties: `(name, value)`.
#[derive(Clone, Debug)]
pub struct Properties<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    off: Option<usize>,
}

impl<'a> Iterator for Properties<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let off = self.off?;
        match read_token(self.structs, self.strings, off) {
            Ok(Next { token: Token::Prop { name, value }, after }) => {
                self.off = Some(after);
                Some((name, value))
            }
            _ => {
                self.off = None;
                None
            }
        }
    }
}

/// Iterator over a node's direct children.
#[derive(Clone, Debug)]
pub struct Children<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    /// Offset of the next token to look at, at the parent's level.
    off: Option<usize>,
}

impl<'a> Iterator for Children<'a> {
    type Item = Node<'a>;
    fn next(&mut self) -> Option<Node<'a>> {
        let mut off = self.off?;
        // Skip the parent's properties, then stop at its END_NODE or return
        // the next child and skip past the child's subtree.
        while let Ok(n) = read_token(self.structs, self.strings, off) {
            match n.token {
                Token::Prop { .. } => off = n.after,
                Token::BeginNode(name) => {
                    let child = Node { structs: self.structs, strings: self.strings, name, body: n.after };
                    self.off = skip_subtree(self.structs, self.strings, n.after);
                    return Some(child);
                }
                Token::EndNode | Token::End => break,
            }
        }
        self.off = None;
        None
    }
}

/// Given the offset just after a node's name, returns the offset just after
/// its `FDT_END_NODE`.
fn skip_subtree(structs: &[u8], strings: &[u8], mut off: usize) -> Option<usize> {
    let mut depth = 1usize;
    loop {
        let n = read_token(structs, strings, off).ok()?;
        off = n.after;
        match n.token {
            Token::BeginNode(_) => depth = depth.checked_add(1)?,
            Token::EndNode => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(off);
                }
            }
            Token::Prop { .. } => {}
            Token::End => return None,
        }
    }
}

#[cfg(test)]
pub(crate) mod builder {
    //! A tiny test-only DTB writer.

    /// Builds a DTB from a closure that emits nodes and properties.
    #[derive(Default)]
    pub struct Builder {
        pub structs: Vec<u8>,
        pub strings: Vec<u8>,
        pub rsv: Vec<(u64, u64)>,
    }

    impl Builder {
        pub fn begin(&mut self, name: &str) -> &mut Self {
            self.structs.extend_from_slice(&1u32.to_be_bytes());
            self.structs.extend_from_slice(name.as_bytes());
            self.structs.push(0);
            while self.structs.len() % 4 != 0 {
                self.structs.push(0);
            }
            self
        }
        pub fn end(&mut self) -> &mut Self {
            self.structs.extend_from_slice(&2u32.to_be_bytes());
            self
        }
        pub fn nop(&mut self) -> &mut Self {
            self.structs.extend_from_slice(&4u32.to_be_bytes());
            self
        }
        pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let nameoff = match self
                .strings
                .windows(name.len() + 1)
                .position(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0)
            {
                Some(p) => p,
                None => {
                    let p = self.strings.len();
                    self.strings.extend_from_slice(name.as_bytes());
                    self.strings.push(0);
                    p
                }
            };
            self.structs.extend_from_slice(&3u32.to_be_bytes());
            self.structs.extend_from_slice(&(value.len() as u32).to_be_bytes());
            self.structs.extend_from_slice(&(nameoff as u32).to_be_bytes());
            self.structs.extend_from_slice(value);
            while self.structs.len() % 4 != 0 {
                self.structs.push(0);
            }
            self
        }
        pub fn prop_u32s(&mut self, name: &str, cells: &[u32]) -> &mut Self {
            let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
            self.prop(name, &v)
        }
        pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
            let mut v = s.as_bytes().to_vec();
            v.push(0);
            self.prop(name, &v)
        }
        pub fn finish(&mut self) -> Vec<u8> {
            let mut structs = self.structs.clone();
            structs.extend_from_slice(&9u32.to_be_bytes());
            let off_rsv = 40usize;
            let rsv_len = (self.rsv.len() + 1) * 16;
            let off_struct = off_rsv + rsv_len;
            let off_strings = off_struct + structs.len();
            let total = off_strings + self.strings.len();
            let mut b = Vec::with_capacity(total);
            for w in [
                0xd00d_feedu32,
                total as u32,
                off_struct as u32,
                off_strings as u32,
                off_rsv as u32,
                17,
                16,
                0,
                self.strings.len() as u32,
                structs.len() as u32,
            ] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            for &(a, s) in self.rsv.iter().chain([(0, 0)].iter()) {
                b.extend_from_slice(&a.to_be_bytes());
                b.extend_from_slice(&s.to_be_bytes());
            }
            b.extend_from_slice(&structs);
            b.extend_from_slice(&self.strings);
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::builder::Builder;
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = Builder::default();
        b.rsv.push((0x1000, 0x2000));
        b.nop()
            .begin("")
            .prop_u32s("#address-cells", &[2])
            .nop()
            .begin("chosen")
            .prop_str("bootargs", "console=ttyS0")
            .end()
            .begin("memory@80000000")
            .prop_str("device_type", "memory")
            .begin("deep")
            .end()
            .end()
            .end()
            .nop();
        b.finish()
    }

    #[test]
    fn walks_a_tree() {
        let blob = sample();
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(fdt.header().version, 17);
        assert_eq!(fdt.mem_reservations().collect::<Vec<_>>(), vec![(0x1000, 0x2000)]);
        let root = fdt.root();
        assert_eq!(root.property_u32("#address-cells"), Some(2));
        let names: Vec<_> = root.children().map(|c| c.name()).collect();
        assert_eq!(names, vec![&b"chosen"[..], b"memory@80000000"]);
        let mem = fdt.find_node("/memory").unwrap();
        assert_eq!(mem.property_str("device_type"), Some(&b"memory"[..]));
        assert!(fdt.find_node("/memory@80000000/deep").is_some());
        assert!(fdt.find_node("/memory@8").is_none());
        assert!(fdt.find_node("chosen").is_none());
        assert_eq!(fdt.find_node("/").unwrap().name(), b"");
        assert_eq!(fdt.tokens().count(), 12);
        assert_eq!(fdt.tokens().last(), Some(Token::End));
    }

    fn set_word(b: &mut [u8], i: usize, v: u32) {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }

    #[test]
    fn header_errors() {
        let good = sample();
        assert!(matches!(Fdt::new(&good[..3]), Err(FdtError::Truncated { .. })));
        assert!(matches!(Fdt::new(&good[..20]), Err(FdtError::Truncated { .. })));
        assert!(matches!(Fdt::new(&good[..good.len() - 1]), Err(FdtError::Truncated { .. })));
        let mut b = good.clone();
        b[0] = 0;
        assert!(matches!(Fdt::new(&b), Err(FdtError::BadMagic { .. })));
        for (ver, last) in [(15, 15), (17, 18), (16, 17)] {
            let mut b = good.clone();
            set_word(&mut b, 5, ver);
            set_word(&mut b, 6, last);
            assert!(matches!(Fdt::new(&b), Err(FdtError::UnsupportedVersion { .. })), "{ver} {last}");
        }
        let mut b = good.clone();
        set_word(&mut b, 1, 8);
        assert!(matches!(Fdt::new(&b), Err(FdtError::BadTotalSize { .. })));
        let mut b = good.clone();
        set_word(&mut b, 2, 42);
        assert!(matches!(Fdt::new(&b), Err(FdtError::MisalignedBlock { .. })));
        let mut b = good.clone();
        set_word(&mut b, 4, 44);
        assert!(matches!(Fdt::new(&b), Err(FdtError::MisalignedBlock { .. })));
        let mut b = good.clone();
        set_word(&mut b, 9, 0x10000);
        assert!(matches!(Fdt::new(&b), Err(FdtError::BlockOutOfBounds { block: "structure" })));
        let mut b = good.clone();
        set_word(&mut b, 8, 0x10000);
        assert!(matches!(Fdt::new(&b), Err(FdtError::BlockOutOfBounds { block: "strings" })));
        let mut b = good.clone();
        set_word(&mut b, 2, 0);
        assert!(matches!(Fdt::new(&b), Err(FdtError::BlockOutOfBounds { block: "structure" })));
        // Reservation map with no terminator: point it at the strings.
        let mut b = good.clone();
        let total = b.len() as u32;
        set_word(&mut b, 4, (total - 8) & !7);
        assert!(matches!(Fdt::new(&b), Err(FdtError::UnterminatedMemReserve)));
    }

    #[test]
    fn version_16_has_no_struct_size() {
        let mut b = sample();
        set_word(&mut b, 5, 16);
        set_word(&mut b, 9, 0xdead_beef);
        let fdt = Fdt::new(&b).unwrap();
        assert!(fdt.find_node("/chosen").is_some());
    }

    #[test]
    fn structure_errors() {
        let check = |f: &dyn Fn(&mut Builder), want: fn(&FdtError) -> bool| {
            let mut b = Builder::default();
            f(&mut b);
            let blob = b.finish();
            let e = Fdt::new(&blob).unwrap_err();
            assert!(want(&e), "{e:?}");
            assert!(!e.to_string().is_empty());
        };
        check(
            &|b| {
                b.begin("").end().begin("").end();
            },
            |e| matches!(e, FdtError::BadStructure { .. }),
        );
        check(
            &|b| {
                b.begin("");
            },
            |e| matches!(e, FdtError::BadStructure { .. }),
        );
        check(
            &|b| {
                b.end();
            },
            |e| matches!(e, FdtError::BadStructure { .. }),
        );
        check(
            &|b| {
                b.prop("x", b"");
            },
            |e| matches!(e, FdtError::BadStructure { .. }),
        );
        check(&|_| {}, |e| matches!(e, FdtError::BadStructure { .. }));
        check(
            &|b| {
                b.begin("").begin("a").end().prop("x", b"").end();
            },
            |e| matches!(e, FdtError::PropertyAfterSubnode { .. }),
        );
        check(
            &|b| {
                b.structs.extend_from_slice(&7u32.to_be_bytes());
            },
            |e| matches!(e, FdtError::BadToken { token: 7, .. }),
        );
        check(
            &|b| {
                for _ in 0..=MAX_DEPTH {
                    b.begin("n");
                }
                for _ in 0..=MAX_DEPTH {
                    b.end();
                }
            },
            |e| matches!(e, FdtError::TooDeep { .. }),
        );
        check(
            &|b| {
                b.begin("").prop("x", b"");
                let n = b.structs.len();
                b.structs[n - 4..].copy_from_slice(&0x1000u32.to_be_bytes());
                b.end();
            },
            |e| matches!(e, FdtError::BadNameOffset { nameoff: 0x1000, .. }),
        );
        check(
            &|b| {
                b.begin("").prop("x", b"");
                let n = b.structs.len();
                b.structs[n - 8..n - 4].copy_from_slice(&0x1000u32.to_be_bytes());
                b.end();
            },
            |e| matches!(e, FdtError::StructTruncated { .. }),
        );
    }

    #[test]
    fn unterminated_name() {
        let mut b = Builder::default();
        b.structs.extend_from_slice(&1u32.to_be_bytes());
        b.structs.extend_from_slice(b"abcd");
        let mut blob = b.finish();
        // Replace FDT_END by more name bytes so there is no NUL at all.
        let n = blob.len();
        blob[n - 4..].copy_from_slice(b"efgh");
        assert!(matches!(Fdt::new(&blob), Err(FdtError::UnterminatedName { .. })));
    }

    #[test]
    fn max_depth_is_accepted() {
        let mut b = Builder::default();
        for _ in 0..MAX_DEPTH {
            b.begin("n");
        }
        for _ in 0..MAX_DEPTH {
            b.end();
        }
        let blob = b.finish();
        assert!(Fdt::new(&blob).is_ok());
    }
}
