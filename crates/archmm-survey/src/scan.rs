//! Walking Linux trees in parallel and extracting definitions from the
//! files that mention a symbol.
//!
//! Which files: every `.c` and `.h` file under `arch/*/` and under the
//! generic directories [`GENERIC_DIRS`]. Assembly (`.S`) files are left
//! out on purpose: they cannot define C functions, and a `#define` in
//! them is seen only by assembly. Symbolic links to directories are not
//! followed (no cycles, no file counted twice); links to files are.
//!
//! How: `jobs` threads share a stack of directories. A thread pops a
//! directory, pushes its subdirectories and handles its files itself:
//! read, skip binaries, look for the symbols with `memmem`
//! ([`Matcher::occurrences`]), and only then lex, and parse if a mention
//! could be a definition ([`extract`]). Counters are atomics the caller can poll for progress.

use crate::extract::{c_parser, extract, FileDef, Marker, Matcher};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The generic (not arch-specific) directories surveyed, relative to the
/// tree's root. A missing one is skipped silently (small test trees).
pub const GENERIC_DIRS: &[&str] = &["include/asm-generic", "include/linux", "mm", "init", "lib"];

/// Files larger than this are skipped with a note (no kernel source file
/// comes close; a huge file is generated data, not code worth parsing).
pub const MAX_FILE_SIZE: u64 = 32 << 20;

/// A file that was skipped, or that a tree-sitter error region made hard
/// to read, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// Path relative to the tree's root, with `/` separators.
    pub path: String,
    /// One line: why.
    pub reason: String,
}

/// What the scanner saw of one file with something in it.
#[derive(Debug)]
pub struct FileResult {
    /// Index of the tree in the list given to [`scan_trees`].
    pub tree: usize,
    /// Path relative to the tree's root, with `/` separators.
    pub path: String,
    /// `Some(arch)` under `arch/<arch>/`, `None` for the generic directories.
    pub arch: Option<String>,
    /// Definitions found.
    pub defs: Vec<FileDef>,
    /// Override markers found.
    pub markers: Vec<Marker>,
}

/// Per-tree counts and notes from [`scan_trees`].
#[derive(Debug, Default)]
pub struct TreeStats {
    /// `.c`/`.h` files read.
    pub files: usize,
    /// Files that mention at least one symbol (lexed).
    pub mentioning: usize,
    /// Files that tree-sitter parsed (those where a mention could be a
    /// definition).
    pub parsed: usize,
    /// Files that were skipped (unreadable, binary, too large, ...).
    pub skipped: Vec<Note>,
    /// Parsed files where a symbol occurred inside a tree-sitter error
    /// region, so the lexical rule decided (see [`crate::extract`]).
    pub syntax_errors: Vec<Note>,
}

/// Live counters, readable while [`scan_trees`] runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files read so far (all trees).
    pub files: AtomicUsize,
    /// Files that mention a symbol, so far (all trees).
    pub mentioning: AtomicUsize,
    /// Files parsed by tree-sitter so far (all trees).
    pub parsed: AtomicUsize,
}

/// One directory to read.
struct Work {
    tree: usize,
    dir: PathBuf,
    arch: Option<String>,
}

/// A stack of directories shared by the worker threads, with a count of
/// directories being read: when both are zero the walk is over.
struct Queue {
    state: Mutex<(Vec<Work>, usize)>,
    cv: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, (Vec<Work>, usize)> {
        // A worker that panicked cannot leave the stack inconsistent (each
        // change is one push or pop), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a directory, waiting while others may still add some;
    /// `None` when the walk is over.
    fn pop(&self) -> Option<Work> {
        let mut g = self.lock();
        loop {
            if let Some(w) = g.0.pop() {
                g.1 += 1;
                return Some(w);
            }
            if g.1 == 0 {
                self.cv.notify_all();
                return None;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Adds directories found while reading one.
    fn push(&self, items: Vec<Work>) {
        if items.is_empty() {
            return;
        }
        let mut g = self.lock();
        g.0.extend(items);
        self.cv.notify_all();
    }

    /// Marks one popped directory as finished.
    fn done(&self) {
        let mut g = self.lock();
        g.1 -= 1;
        if g.1 == 0 && g.0.is_empty() {
            self.cv.notify_all();
        }
    }
}

/// What one worker thread sends back when the walk is over.
#[derive(Default)]
struct WorkerOut {
    results: Vec<FileResult>,
    stats: HashMap<usize, TreeStats>,
}

/// Scans `trees` for the matcher's symbols, in parallel.
///
/// * `trees` - tree roots, already checked to be directories with an
///   `arch/` subdirectory.
/// * `matcher` - the symbols to look for.
/// * `jobs` - worker threads (at least 1).
/// * `counters` - updated as files are read and parsed.
/// * `tick` - called on the calling thread about every 100 ms while the
///   workers run, with the time since the start, so the caller can show
///   progress (the workers never touch the caller's writers).
///
/// Returns the files with definitions or markers, sorted by tree and path,
/// and per-tree statistics. Never fails: what cannot be read is a [`Note`].
pub fn scan_trees(
    trees: &[PathBuf],
    matcher: &Matcher,
    jobs: usize,
    counters: &Counters,
    tick: &mut dyn FnMut(Duration),
) -> (Vec<FileResult>, Vec<TreeStats>) {
    let start = Instant::now();
    let mut roots = Vec::new();
    let mut stats: Vec<TreeStats> = trees.iter().map(|_| TreeStats::default()).collect();
    for (t, root) in trees.iter().enumerate() {
        match fs::read_dir(root.join("arch")) {
            Ok(rd) => {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|ft| ft.is_dir()) {
                        let arch = e.file_name().to_string_lossy().into_owned();
                        roots.push(Work { tree: t, dir: e.path(), arch: Some(arch) });
                    }
                }
            }
            Err(e) => {
                stats[t].skipped.push(Note { path: "arch".into(), reason: format!("cannot read directory: {e}") })
            }
        }
        for g in GENERIC_DIRS {
            let dir = root.join(g);
            if dir.is_dir() {
                roots.push(Work { tree: t, dir, arch: None });
            }
        }
    }
    let queue = Queue { state: Mutex::new((roots, 0)), cv: Condvar::new() };
    let (tx, rx) = mpsc::channel::<WorkerOut>();
    let jobs = jobs.max(1);
    let mut outs = Vec::with_capacity(jobs);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (queue, trees) = (&queue, trees);
            s.spawn(move || {
                let out = worker(queue, trees, matcher, counters);
                let _ = tx.send(out);
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(out) => outs.push(out),
                Err(mpsc::RecvTimeoutError::Timeout) => tick(start.elapsed()),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    let mut results = Vec::new();
    for out in outs {
        results.extend(out.results);
        for (t, st) in out.stats {
            let s = &mut stats[t];
            s.files += st.files;
            s.mentioning += st.mentioning;
            s.parsed += st.parsed;
            s.skipped.extend(st.skipped);
            s.syntax_errors.extend(st.syntax_errors);
        }
    }
    results.sort_by(|a, b| (a.tree, &a.path).cmp(&(b.tree, &b.path)));
    for s in &mut stats {
        s.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        s.syntax_errors.sort_by(|a, b| a.path.cmp(&b.path));
    }
    (results, stats)
}

/// One worker thread: pops directories until the walk is over.
fn worker(queue: &Queue, trees: &[PathBuf], matcher: &Matcher, counters: &Counters) -> WorkerOut {
    let mut out = WorkerOut::default();
    let mut parser = c_parser();
    while let Some(w) = queue.pop() {
        let root = &trees[w.tree];
        let mut subdirs = Vec::new();
        match fs::read_dir(&w.dir) {
            Err(e) => note(&mut out, w.tree, root, &w.dir, format!("cannot read directory: {e}")),
            Ok(rd) => {
                for entry in rd {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            note(&mut out, w.tree, root, &w.dir, format!("cannot list directory: {e}"));
                            continue;
                        }
                    };
                    let path = entry.path();
                    let Ok(ft) = entry.file_type() else { continue };
                    if ft.is_dir() {
                        subdirs.push(Work { tree: w.tree, dir: path, arch: w.arch.clone() });
                    } else if is_c_file(&path) {
                        counters.files.fetch_add(1, Ordering::Relaxed);
                        file(&mut out, &mut parser, matcher, counters, &w, root, &path);
                    }
                }
            }
        }
        queue.push(subdirs);
        queue.done();
    }
    out
}

/// Does the name end in `.c` or `.h`?
fn is_c_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("c" | "h"))
}

/// `path` relative to `root`, with `/` separators.
fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Records a skipped file or directory.
fn note(out: &mut WorkerOut, tree: usize, root: &Path, path: &Path, reason: String) {
    out.stats.entry(tree).or_default().skipped.push(Note { path: rel(root, path), reason });
}

/// Reads, filters and (if it mentions a symbol) parses one file.
fn file(
    out: &mut WorkerOut,
    parser: &mut tree_sitter::Parser,
    matcher: &Matcher,
    counters: &Counters,
    w: &Work,
    root: &Path,
    path: &Path,
) {
    out.stats.entry(w.tree).or_default().files += 1;
    // fs::metadata follows a symbolic link; a FIFO or device would block
    // or never end, so only regular files are read.
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return note(out, w.tree, root, path, format!("cannot read: {e}")),
    };
    if !meta.is_file() {
        return note(out, w.tree, root, path, "not a regular file".into());
    }
    if meta.len() > MAX_FILE_SIZE {
        return note(out, w.tree, root, path, format!("too large ({} bytes)", meta.len()));
    }
    let src = match fs::read(path) {
        Ok(s) => s,
        Err(e) => return note(out, w.tree, root, path, format!("cannot read: {e}")),
    };
    if memchr::memchr(0, &src).is_some() {
        return note(out, w.tree, root, path, "binary file (contains NUL bytes)".into());
    }
    let (occ, have) = matcher.occurrences(&src);
    if occ.is_empty() && have.is_empty() {
        return;
    }
    counters.mentioning.fetch_add(1, Ordering::Relaxed);
    out.stats.entry(w.tree).or_default().mentioning += 1;
    // extract() is written not to panic; should a bug (or tree-sitter)
    // panic anyway, lose this file with a note rather than the survey.
    let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract(&src, &occ, &have, matcher.symbols(), parser)
    }));
    let scan = match scanned {
        Ok(Some(s)) => s,
        Ok(None) => return note(out, w.tree, root, path, "tree-sitter could not parse it".into()),
        Err(_) => {
            *parser = c_parser();
            return note(out, w.tree, root, path, "internal error while parsing (skipped)".into());
        }
    };
    if scan.parsed {
        counters.parsed.fetch_add(1, Ordering::Relaxed);
        out.stats.entry(w.tree).or_default().parsed += 1;
    }
    if !scan.error_lines.is_empty() {
        let lines: Vec<String> = scan.error_lines.iter().map(|l| l.to_string()).collect();
        let reason =
            format!("line {}: in a tree-sitter error region at top level; the lexical rule decided", lines.join(", "));
        out.stats.entry(w.tree).or_default().syntax_errors.push(Note { path: rel(root, path), reason });
    }
    if scan.defs.is_empty() && scan.markers.is_empty() {
        return;
    }
    out.results.push(FileResult {
        tree: w.tree,
        path: rel(root, path),
        arch: w.arch.clone(),
        defs: scan.defs,
        markers: scan.markers,
    });
}
