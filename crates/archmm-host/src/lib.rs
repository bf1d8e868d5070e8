//! archmm's host side: the emulator (sparse backing memory, machine descriptions, the
//! boot runner), the memblock script front end and the pieces of the `archmm` command line.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod backing;
pub mod emulator;
pub mod hotplug_script;
pub mod kviews;
pub mod machine;
pub mod qemu;
pub mod script;
