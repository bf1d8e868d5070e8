//! Why the bring-up stopped ([`BootError`]): each variant names the rule the input broke.

use crate::memblock::MemblockError;
use crate::pgtable::PgError;
use crate::zone::ZoneError;
use core::fmt;

/// Why the bring-up stopped. Each names the rule the input broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// memblock refused a call (its arrays are full).
    Memblock(MemblockError),
    /// The firmware described no usable memory at all.
    NoMemory,
    /// The firmware's own tables are unusable (e.g. an e820 table that cannot be
    /// sanitised): the format's name and what is wrong.
    Firmware {
        /// The format (`e820`, ...).
        format: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A NUMA block with a bad node id or inverted range.
    BadNumaNode {
        /// Node id.
        nid: i32,
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// More NUMA blocks than the table holds.
    TooManyNumaBlocks,
    /// Memory of two nodes overlaps.
    NumaOverlap {
        /// One node.
        a: i32,
        /// The other.
        b: i32,
    },
    /// The zone layout could not be computed.
    Zone(ZoneError),
    /// Building the linear map failed.
    PageTable(PgError),
    /// Building the memmap failed.
    Memmap(crate::memmap::MemmapError),
    /// The first per-CPU chunk could not be set up.
    Percpu(crate::percpu::PercpuError),
    /// The kernel image does not fit the machine: its sections are larger than the span
    /// the firmware map gives it, or that span is not memory.
    KernelImage {
        /// The image's span `[start, end)`.
        start: u64,
        /// End.
        end: u64,
        /// Bytes its page-aligned sections need.
        needed: u64,
        /// The span lies in memory.
        in_memory: bool,
        /// Where the machine's memory ends.
        mem_end: u64,
        /// Bytes of memory the machine has.
        mem_size: u64,
    },
    /// More memory than [`BootOptions::memory_limit`] remains after Linux's own limits.
    TooMuchMemory {
        /// Bytes of memory.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Writing the log failed.
    Log,
}

impl From<MemblockError> for BootError {
    fn from(e: MemblockError) -> Self {
        BootError::Memblock(e)
    }
}

impl From<ZoneError> for BootError {
    fn from(e: ZoneError) -> Self {
        BootError::Zone(e)
    }
}

impl From<fmt::Error> for BootError {
    fn from(_: fmt::Error) -> Self {
        BootError::Log
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Memblock(e) => write!(f, "memblock: {e}"),
            BootError::NoMemory => write!(f, "the firmware map describes no usable memory"),
            BootError::Firmware { format, what } => write!(f, "{format}: {what}"),
            BootError::BadNumaNode { nid, start, end } => {
                write!(f, "bad NUMA block: node {nid} [mem {start:#x}-{end:#x})")
            }
            BootError::TooManyNumaBlocks => write!(f, "too many NUMA memory blocks"),
            BootError::NumaOverlap { a, b } => write!(f, "memory of NUMA nodes {a} and {b} overlaps"),
            BootError::Zone(e) => write!(f, "zones: {e}"),
            BootError::PageTable(e) => write!(f, "linear map: {e}"),
            BootError::Memmap(e) => write!(f, "memmap: {e}"),
            BootError::Percpu(e) => write!(f, "percpu: {e}"),
            BootError::KernelImage { start, end, in_memory: false, mem_end, mem_size, .. } => write!(
                f,
                "the kernel image [mem {start:#010x}-{:#010x}] is not in the machine's memory ({} KiB, ending at {mem_end:#x}): the machine is too small for this kernel",
                end.saturating_sub(1),
                mem_size >> 10
            ),
            BootError::KernelImage { start, end, needed, in_memory: true, .. } => write!(
                f,
                "the kernel image [mem {start:#010x}-{:#010x}] is smaller than its sections ({} KiB)",
                end.saturating_sub(1),
                needed >> 10
            ),
            BootError::TooMuchMemory { size, limit } => write!(
                f,
                "{} GiB of memory remain after Linux's limits; this bring-up was given at most {} GiB (the host emulator's bound)",
                size >> 30,
                limit >> 30
            ),
            BootError::Log => write!(f, "the boot log could not be written"),
        }
    }
}

impl core::error::Error for BootError {}
