//! The survey's results and how definitions are grouped and counted.
//!
//! For each symbol in each tree, [`SymbolSurvey`] answers the talk's two
//! questions: how many definitions there are ([`SymbolSurvey::definitions`])
//! and how many are really needed ([`SymbolSurvey::needed`], the number of
//! distinct bodies once white space, comments, parameter names and the
//! annotations in [`crate::extract::DECORATIONS`] are normalised away).

use crate::extract::{DefKind, DetectedBy, Matcher};
use crate::scan::{scan_trees, Counters, FileResult, Note, TreeStats};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One definition of a symbol.
#[derive(Clone, Debug, Serialize)]
pub struct Definition {
    /// The architecture (`x86`, `arm64`, ...) for a file under `arch/`;
    /// `None` (JSON `null`) for a generic file.
    pub arch: Option<String>,
    /// Path relative to the tree's root, `/`-separated.
    pub file: String,
    /// 1-based line of the symbol's name.
    pub line: usize,
    /// The definition's form.
    pub kind: DefKind,
    /// `#if`/`#ifdef` conditions in force, outermost first (a conjunction);
    /// include guards are left out. Empty: unconditional.
    pub conditions: Vec<String>,
    /// For a generic fallback, what makes it one: `#ifndef NAME`,
    /// `#ifndef __HAVE_ARCH_NAME` or `__weak`.
    pub fallback: Option<String>,
    /// The id of this definition's [`BodyGroup`] (1-based).
    pub group: usize,
    /// True for an arch definition whose normalised body equals that of a
    /// generic definition: removable today.
    pub same_as_generic: bool,
    /// Whether tree-sitter or the lexical fallback recognised it.
    pub detected_by: DetectedBy,
}

impl Definition {
    /// `arch` or `generic`, for display.
    pub fn origin(&self) -> &str {
        self.arch.as_deref().unwrap_or("generic")
    }
}

/// Definitions that are identical once normalised.
#[derive(Clone, Debug, Serialize)]
pub struct BodyGroup {
    /// 1-based id, referred to by [`Definition::group`]. Groups holding a
    /// generic definition come first, then by size, largest first.
    pub id: usize,
    /// The form shared by the group's definitions.
    pub kind: DefKind,
    /// How many definitions have this body.
    pub count: usize,
    /// True if a generic definition is in the group.
    pub generic: bool,
    /// The architectures with a definition in the group, sorted.
    pub arches: Vec<String>,
    /// The normalised body: tokens separated by single spaces, parameters
    /// renamed `$0`, `$1`, ...
    pub body: String,
}

/// An override marker (`#define NAME NAME`, `#define __HAVE_ARCH_NAME`).
#[derive(Clone, Debug, Serialize)]
pub struct MarkerSite {
    /// Architecture, or `None` for a generic file.
    pub arch: Option<String>,
    /// Path relative to the tree's root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The directive, normalised.
    pub text: String,
}

/// Everything found about one symbol in one tree.
#[derive(Clone, Debug, Serialize)]
pub struct SymbolSurvey {
    /// The symbol.
    pub symbol: String,
    /// Number of definitions, arch and generic.
    pub definitions: usize,
    /// Number of definitions under `arch/` (the talk's table counts these).
    pub arch_definitions: usize,
    /// Number of generic definitions.
    pub generic_definitions: usize,
    /// Architectures with at least one definition, sorted.
    pub arches: Vec<String>,
    /// Distinct bodies: how many definitions are really needed.
    pub needed: usize,
    /// Arch definitions identical to a generic one (removable today).
    pub same_as_generic: usize,
    /// The definitions, sorted by file and line.
    pub defs: Vec<Definition>,
    /// The distinct bodies.
    pub groups: Vec<BodyGroup>,
    /// Override markers, sorted by file and line.
    pub markers: Vec<MarkerSite>,
}

/// One tree's survey.
#[derive(Clone, Debug, Serialize)]
pub struct TreeSurvey {
    /// The tree's path as given.
    pub tree: String,
    /// A short name for tables: the last path component, or the whole
    /// path when two trees would otherwise share a name.
    pub label: String,
    /// `.c`/`.h` files read under `arch/*/` and the generic directories.
    pub files: usize,
    /// Files that mention a symbol (as a whole identifier, anywhere).
    pub mentioning: usize,
    /// Of those, the files tree-sitter parsed: where a mention could be a
    /// definition (see [`crate::extract::extract`]).
    pub parsed: usize,
    /// Wall-clock time of the whole survey (all trees together), in ms.
    pub elapsed_ms: u64,
    /// Files skipped, with the reason.
    pub skipped: Vec<Note>,
    /// Parsed files where the lexical fallback had to decide.
    pub syntax_errors: Vec<Note>,
    /// One entry per symbol, in the order asked.
    pub symbols: Vec<SymbolSurvey>,
}

/// Why a survey could not start. Displayed as one line.
#[derive(Debug)]
pub enum SurveyError {
    /// No tree was given.
    NoTrees,
    /// No symbol was given (the CLI substitutes [`crate::DEFAULT_SYMBOLS`]).
    NoSymbols,
    /// A symbol is not a C identifier.
    BadSymbol(String),
    /// A tree path does not exist or is not a directory.
    NotADirectory(PathBuf),
    /// A tree has no `arch/` directory.
    NotALinuxTree(PathBuf),
    /// `jobs` was 0.
    NoJobs,
}

impl fmt::Display for SurveyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SurveyError::NoTrees => write!(f, "no tree given (use --tree PATH)"),
            SurveyError::NoSymbols => write!(f, "no symbol given"),
            SurveyError::BadSymbol(s) => write!(f, "{s:?} is not a C identifier"),
            SurveyError::NotADirectory(p) => write!(f, "{}: not a directory", p.display()),
            SurveyError::NotALinuxTree(p) => {
                write!(f, "{}: not a Linux source tree (it has no arch/ directory)", p.display())
            }
            SurveyError::NoJobs => write!(f, "--jobs must be at least 1"),
        }
    }
}

impl std::error::Error for SurveyError {}

/// Options for [`survey`].
#[derive(Clone, Debug)]
pub struct SurveyOptions {
    /// Worker threads; must be at least 1.
    pub jobs: usize,
}

impl Default for SurveyOptions {
    /// As many threads as the machine has cores.
    fn default() -> Self {
        SurveyOptions { jobs: std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }
}

/// A progress report passed to the callback of [`survey`].
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Time since the survey started.
    pub elapsed: Duration,
    /// Files read so far (all trees).
    pub files: usize,
    /// Files that mention a symbol, so far (all trees).
    pub mentioning: usize,
    /// Files parsed by tree-sitter so far (all trees).
    pub parsed: usize,
}

/// Is `s` a C identifier (and not a keyword)?
pub fn valid_identifier(s: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
    ];
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        && !KEYWORDS.contains(&s)
}

/// Checks that `tree` is a directory with an `arch/` subdirectory.
pub fn check_tree(tree: &Path) -> Result<(), SurveyError> {
    if !tree.is_dir() {
        return Err(SurveyError::NotADirectory(tree.to_path_buf()));
    }
    if !tree.join("arch").is_dir() {
        return Err(SurveyError::NotALinuxTree(tree.to_path_buf()));
    }
    Ok(())
}

/// Surveys `symbols` in each of `trees`.
///
/// * `trees` - Linux source trees (each must have an `arch/` directory).
/// * `symbols` - C identifiers, in the order the results should follow;
///   duplicates are surveyed once.
/// * `opts` - thread count.
/// * `progress` - called on the calling thread about every 100 ms while
///   the survey runs (not at all if it takes less than 100 ms).
///
/// Returns one [`TreeSurvey`] per tree, in order. Fails before scanning
/// anything if an argument is bad; once scanning starts, files that
/// cannot be read or parsed become notes in the result, not errors.
pub fn survey(
    trees: &[PathBuf],
    symbols: &[String],
    opts: &SurveyOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<TreeSurvey>, SurveyError> {
    if trees.is_empty() {
        return Err(SurveyError::NoTrees);
    }
    if opts.jobs == 0 {
        return Err(SurveyError::NoJobs);
    }
    let mut syms: Vec<String> = Vec::new();
    for s in symbols {
        if !valid_identifier(s) {
            return Err(SurveyError::BadSymbol(s.clone()));
        }
        if !syms.contains(s) {
            syms.push(s.clone());
        }
    }
    if syms.is_empty() {
        return Err(SurveyError::NoSymbols);
    }
    for t in trees {
        check_tree(t)?;
    }
    let start = Instant::now();
    let matcher = Matcher::new(&syms);
    let counters = Counters::default();
    let mut tick = |elapsed: Duration| {
        progress(&Progress {
            elapsed,
            files: counters.files.load(Ordering::Relaxed),
            mentioning: counters.mentioning.load(Ordering::Relaxed),
            parsed: counters.parsed.load(Ordering::Relaxed),
        })
    };
    let (results, stats) = scan_trees(trees, &matcher, opts.jobs, &counters, &mut tick);
    let elapsed_ms = start.elapsed().as_millis() as u64;
    let labels = labels(trees);
    let mut out = Vec::new();
    for (t, (st, label)) in stats.into_iter().zip(labels).enumerate() {
        let files: Vec<&FileResult> = results.iter().filter(|r| r.tree == t).collect();
        out.push(build_tree(&trees[t], label, &syms, &files, st, elapsed_ms));
    }
    Ok(out)
}

/// Short, distinct labels for the trees.
fn labels(trees: &[PathBuf]) -> Vec<String> {
    let short: Vec<String> = trees
        .iter()
        .map(|t| {
            // `.` and `..` have no file name: use the directory's real name.
            let named = t.canonicalize().unwrap_or_else(|_| t.clone());
            named.file_name().map_or_else(|| t.display().to_string(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    short
        .iter()
        .enumerate()
        .map(
            |(i, s)| {
                if short.iter().filter(|x| *x == s).count() > 1 {
                    trees[i].display().to_string()
                } else {
                    s.clone()
                }
            },
        )
        .collect()
}

/// Assembles one tree's survey from the files that had something.
fn build_tree(
    tree: &Path,
    label: String,
    symbols: &[String],
    files: &[&FileResult],
    st: TreeStats,
    elapsed_ms: u64,
) -> TreeSurvey {
    let symbols = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut raw = Vec::new();
            let mut markers = Vec::new();
            for f in files {
                for d in f.defs.iter().filter(|d| d.symbol == i) {
                    raw.push((f.arch.clone(), f.path.clone(), d.clone()));
                }
                for m in f.markers.iter().filter(|m| m.symbol == i) {
                    markers.push(MarkerSite {
                        arch: f.arch.clone(),
                        file: f.path.clone(),
                        line: m.line,
                        text: m.text.clone(),
                    });
                }
            }
            group_symbol(s, raw, markers)
        })
        .collect();
    TreeSurvey {
        tree: tree.display().to_string(),
        label,
        files: st.files,
        mentioning: st.mentioning,
        parsed: st.parsed,
        elapsed_ms,
        skipped: st.skipped,
        syntax_errors: st.syntax_errors,
        symbols,
    }
}

/// Groups one symbol's definitions by normalised body and counts them.
///
/// * `symbol` - the symbol's name.
/// * `raw` - `(arch, file, definition)` for each definition found.
/// * `markers` - its override markers.
///
/// This is public so that other front ends (the benchmark's grep-based
/// baseline) can group definitions found their own way.
pub fn group_symbol(
    symbol: &str,
    mut raw: Vec<(Option<String>, String, crate::extract::FileDef)>,
    mut markers: Vec<MarkerSite>,
) -> SymbolSurvey {
    raw.sort_by(|a, b| (&a.1, a.2.line).cmp(&(&b.1, b.2.line)));
    markers.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    // body -> (kind, indices of defs)
    let mut by_body: BTreeMap<&str, (DefKind, Vec<usize>)> = BTreeMap::new();
    for (i, (_, _, d)) in raw.iter().enumerate() {
        by_body.entry(d.body.as_str()).or_insert((d.kind, Vec::new())).1.push(i);
    }
    let mut groups: Vec<BodyGroup> = by_body
        .iter()
        .map(|(body, (kind, idx))| {
            let arches: BTreeSet<String> = idx.iter().filter_map(|&i| raw[i].0.clone()).collect();
            BodyGroup {
                id: 0,
                kind: *kind,
                count: idx.len(),
                generic: idx.iter().any(|&i| raw[i].0.is_none()),
                arches: arches.into_iter().collect(),
                body: body.to_string(),
            }
        })
        .collect();
    // Generic groups first, then larger groups, then by first file.
    let first_file = |g: &BodyGroup| by_body[g.body.as_str()].1.iter().map(|&i| raw[i].1.clone()).min();
    groups.sort_by_cached_key(|g| (!g.generic, std::cmp::Reverse(g.count), first_file(g)));
    for (n, g) in groups.iter_mut().enumerate() {
        g.id = n + 1;
    }
    let group_of = |body: &str| groups.iter().find(|g| g.body == body).map_or(0, |g| g.id);
    let generic_bodies: BTreeSet<&str> =
        raw.iter().filter(|(a, _, _)| a.is_none()).map(|(_, _, d)| d.body.as_str()).collect();
    let defs: Vec<Definition> = raw
        .iter()
        .map(|(arch, file, d)| Definition {
            arch: arch.clone(),
            file: file.clone(),
            line: d.line,
            kind: d.kind,
            conditions: d.conditions.clone(),
            fallback: d.fallback.clone(),
            group: group_of(&d.body),
            same_as_generic: arch.is_some() && generic_bodies.contains(d.body.as_str()),
            detected_by: d.detected_by,
        })
        .collect();
    let arches: BTreeSet<String> = defs.iter().filter_map(|d| d.arch.clone()).collect();
    let arch_definitions = defs.iter().filter(|d| d.arch.is_some()).count();
    SymbolSurvey {
        symbol: symbol.to_string(),
        definitions: defs.len(),
        arch_definitions,
        generic_definitions: defs.len() - arch_definitions,
        arches: arches.into_iter().collect(),
        needed: groups.len(),
        same_as_generic: defs.iter().filter(|d| d.same_as_generic).count(),
        defs,
        groups,
        markers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::FileDef;

    fn def(body: &str, line: usize) -> FileDef {
        FileDef {
            symbol: 0,
            kind: DefKind::FunctionMacro,
            line,
            conditions: vec![],
            fallback: None,
            body: body.into(),
            detected_by: DetectedBy::TreeSitter,
        }
    }

    #[test]
    fn grouping_and_counts() {
        let raw = vec![
            (Some("x86".to_string()), "arch/x86/a.h".to_string(), def("A", 1)),
            (Some("arm".to_string()), "arch/arm/a.h".to_string(), def("B", 1)),
            (Some("arm".to_string()), "arch/arm/b.h".to_string(), def("B", 9)),
            (None, "include/linux/p.h".to_string(), def("A", 5)),
            (Some("mips".to_string()), "arch/mips/a.h".to_string(), def("C", 2)),
        ];
        let s = group_symbol("p", raw, vec![]);
        assert_eq!((s.definitions, s.arch_definitions, s.generic_definitions), (5, 4, 1));
        assert_eq!(s.arches, ["arm", "mips", "x86"]);
        assert_eq!(s.needed, 3);
        assert_eq!(s.same_as_generic, 1);
        // Generic group first, then the larger one.
        assert_eq!(
            s.groups.iter().map(|g| (g.id, g.body.as_str(), g.count)).collect::<Vec<_>>(),
            [(1, "A", 2), (2, "B", 2), (3, "C", 1)]
        );
        let x86 = s.defs.iter().find(|d| d.origin() == "x86").unwrap();
        assert!(x86.same_as_generic);
        assert_eq!(x86.group, 1);
    }

    #[test]
    fn identifiers() {
        for ok in ["pgd_offset", "_x", "X9"] {
            assert!(valid_identifier(ok), "{ok}");
        }
        for bad in ["", "9x", "pgd-offset", "a b", "int", "pgd_offset()", "é"] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn distinct_labels() {
        let l = labels(&[PathBuf::from("/a/linux"), PathBuf::from("/b/linux"), PathBuf::from("/c/v6")]);
        assert_eq!(l, ["/a/linux", "/b/linux", "v6"]);
    }
}
