//! archmm: a memory-management core for operating-system kernels.
//!
//! One generic definition of everything, and a thin per-architecture description that
//! holds only what the hardware really makes different ([`arch`]). The core is `no_std`,
//! uses no heap, and reaches physical memory only through [`physmem::PhysMem`], so the same
//! code runs in a kernel and in the host emulator.
//!
//! Modules, each one concept:
//! - [`addr`]: typed addresses, page frame numbers, overflow-checked ranges;
//! - [`physmem`]: the physical memory access trait;
//! - [`memblock`]: the early allocator, with Linux's semantics;
//! - [`arch`]: the architecture boundary and the architecture descriptions;
//! - [`numa`], [`zone`]: nodes and zones as free_area_init() lays them out;
//! - [`pgtable`]: one page-table engine over every paging mode;
//! - [`refwalk`]: reference MMU walkers, independent of the engine, to check it against;
//! - [`boot`]: the bring-up sequence, top to bottom.
#![cfg_attr(not(test), no_std)]
#![warn(missing_debug_implementations)]
// overrides! gathers a method signature one token per step.
#![recursion_limit = "512"]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod addr;
pub mod arch;
pub mod boot;
pub mod buddy;
pub mod devicetree;
pub mod early;
pub mod hotplug;
pub mod machine;
pub mod memblock;
pub mod memmap;
pub mod numa;
pub mod percpu;
pub mod pgtable;
pub mod physmem;
pub mod protect;
pub mod refwalk;
pub mod uspace;
pub mod zone;

pub use archmm_firmware as firmware;
