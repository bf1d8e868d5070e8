//! `archmm survey`: the quiz of Mike Rapoport's talk "Memory management
//! bits in arch/*", measured on a real Linux tree.
//!
//! "Linux supports 25 architectures. How many definitions of `pgd_offset`
//! does Linux have? How many does it really need?" This crate answers that
//! for any symbol on any Linux source tree, in seconds:
//!
//! * it walks `arch/*/` and the generic directories
//!   ([`scan::GENERIC_DIRS`]: include/asm-generic, include/linux, mm, init,
//!   lib) in parallel, reading only `.c` and `.h` files;
//! * it lexes only the files that mention a symbol, parses with
//!   tree-sitter's C grammar only those where a mention could be a
//!   definition ([`extract`]), and records each definition: `#define`s
//!   (object-like and function-like), function definitions (plain,
//!   `static inline`, `__weak`), the `#if` conditions around them
//!   ([`cond`]), and whether they are generic fallbacks (`#ifndef SYMBOL`,
//!   `#ifndef __HAVE_ARCH_SYMBOL`, `__weak`);
//! * it groups the definitions by normalised body ([`mod@survey`]) to count
//!   the distinct ones ("needed") and the arch copies of a generic one.
//!
//! The command line is [`SurveyArgs`] and [`run`]; the library entry point
//! is [`survey()`], whose results ([`TreeSurvey`], [`SymbolSurvey`], ...)
//! serialise to the `--json` output.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod cli;
pub mod cond;
pub mod extract;
pub mod lex;
pub mod report;
pub mod scan;
pub mod survey;

pub use cli::{run, SurveyArgs, EXIT_IO, EXIT_OK, EXIT_USAGE};
pub use extract::{DefKind, DetectedBy};
pub use scan::Note;
pub use survey::{
    check_tree, survey, valid_identifier, BodyGroup, Definition, MarkerSite, Progress, SurveyError, SurveyOptions,
    SymbolSurvey, TreeSurvey,
};

/// The symbols surveyed when none is given: the talk's list.
pub const DEFAULT_SYMBOLS: &[&str] = &[
    "pgd_offset",
    "pgd_index",
    "pud_offset",
    "pmd_offset",
    "pte_offset_kernel",
    "pte_alloc_one",
    "pte_alloc_one_kernel",
    "pte_free",
    "free_initmem",
    "free_initrd_mem",
    "mem_init",
    "paging_init",
    "arch_setup_additional_pages",
];
