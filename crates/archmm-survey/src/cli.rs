//! `archmm survey`: the command-line front end ([`SurveyArgs`], [`run`]).

use crate::report::{comparison_table, summary_table, symbol_details, tree_header};
use crate::survey::{survey, Progress, SurveyOptions, TreeSurvey};
use crate::DEFAULT_SYMBOLS;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `archmm survey`, to be flattened into the subcommand.
///
/// ```text
/// archmm survey --tree PATH [--tree PATH2 ...] [SYMBOL...] [--json] [--jobs N]
///               [--brief] [--details] [--quiet]
/// ```
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SurveyArgs {
    /// A Linux source tree (a directory with arch/). Repeat to compare trees.
    #[arg(long = "tree", value_name = "PATH", required = true)]
    pub trees: Vec<PathBuf>,

    /// Symbols to survey [default: pgd_offset pgd_index pud_offset pmd_offset
    /// pte_offset_kernel pte_alloc_one pte_alloc_one_kernel pte_free free_initmem
    /// free_initrd_mem mem_init paging_init arch_setup_additional_pages]
    #[arg(value_name = "SYMBOL")]
    pub symbols: Vec<String>,

    /// Print the results as JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Worker threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print only the summary tables, not each symbol's definitions.
    #[arg(long, conflicts_with = "details")]
    pub brief: bool,

    /// With several trees, also print each symbol's definitions in each tree.
    #[arg(long)]
    pub details: bool,

    /// No progress indication and no notes on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: the output could not be written.
pub const EXIT_IO: i32 = 1;
/// Exit status: bad input (tree, symbol, option); one line on `err` says why.
pub const EXIT_USAGE: i32 = 2;

/// Progress appears only once a survey has run this long.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// Shape of `--json` output.
#[derive(Serialize)]
struct JsonOut<'a> {
    /// One survey per `--tree`, in order.
    trees: &'a [TreeSurvey],
    /// Per symbol, the arch definition count in each tree (same order).
    comparison: Vec<JsonRow<'a>>,
}

/// One row of the comparison in `--json`.
#[derive(Serialize)]
struct JsonRow<'a> {
    symbol: &'a str,
    arch_definitions: Vec<usize>,
    definitions: Vec<usize>,
    needed: Vec<usize>,
}

/// Runs `archmm survey`.
///
/// * `args` - the parsed arguments; with no symbols, [`DEFAULT_SYMBOLS`].
/// * `out` - where the tables (or JSON) go.
/// * `err` - where errors, notes about skipped files and the progress
///   indication go (progress only when the survey takes over a second, as
///   a line rewritten with `\r`, ended by a newline).
///
/// Returns the exit status: [`EXIT_OK`]; [`EXIT_USAGE`] for bad input (a
/// tree that is not a directory or has no `arch/`, a symbol that is not a
/// C identifier, `--jobs 0`), after one line `archmm survey: error: ...`
/// on `err` and nothing on `out`; [`EXIT_IO`] if writing `out` failed.
/// Unreadable, binary or unparsable files do not fail the run: they are
/// skipped and listed as notes on `err` (and in the JSON).
pub fn run(args: &SurveyArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let symbols: Vec<String> = if args.symbols.is_empty() {
        DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect()
    } else {
        args.symbols.clone()
    };
    let opts = match args.jobs {
        Some(n) => SurveyOptions { jobs: n },
        None => SurveyOptions::default(),
    };
    let mut shown = false;
    let mut last = Duration::ZERO;
    let mut progress = |p: &Progress| {
        if args.quiet || p.elapsed < PROGRESS_AFTER || p.elapsed < last + Duration::from_millis(500) {
            return;
        }
        last = p.elapsed;
        shown = true;
        let _ = write!(
            err,
            "\rarchmm survey: {} files read, {} mention a symbol, {} parsed, {:.1} s ",
            p.files,
            p.mentioning,
            p.parsed,
            p.elapsed.as_secs_f64()
        );
        let _ = err.flush();
    };
    let result = survey(&args.trees, &symbols, &opts, &mut progress);
    if shown {
        let _ = writeln!(err, "done");
    }
    let trees = match result {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "archmm survey: error: {e}");
            return EXIT_USAGE;
        }
    };
    if !args.quiet {
        print_notes(&trees, err);
    }
    let written = if args.json { write_json(&trees, out) } else { write_text(args, &trees, out) };
    match written.and_then(|_| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "archmm survey: error: cannot write the output: {e}");
            EXIT_IO
        }
    }
}

/// Lists skipped files and syntax-error files on `err`, a few per tree.
fn print_notes(trees: &[TreeSurvey], err: &mut dyn Write) {
    const SHOW: usize = 10;
    for t in trees {
        if !t.skipped.is_empty() {
            let _ = writeln!(err, "archmm survey: note: {}: skipped {} file(s):", t.label, t.skipped.len());
            for n in t.skipped.iter().take(SHOW) {
                let _ = writeln!(err, "  {}: {}", n.path, n.reason);
            }
            if t.skipped.len() > SHOW {
                let _ = writeln!(err, "  ... and {} more (see --json)", t.skipped.len() - SHOW);
            }
        }
        if !t.syntax_errors.is_empty() {
            let _ = writeln!(
                err,
                "archmm survey: note: {}: in {} file(s) tree-sitter could not parse the code around \
                 a symbol; the lexical rule decided whether it is a definition:",
                t.label,
                t.syntax_errors.len()
            );
            for n in t.syntax_errors.iter().take(SHOW) {
                let _ = writeln!(err, "  {}: {}", n.path, n.reason);
            }
            if t.syntax_errors.len() > SHOW {
                let _ = writeln!(err, "  ... and {} more (see --json)", t.syntax_errors.len() - SHOW);
            }
        }
    }
}

/// Writes the `--json` document.
fn write_json(trees: &[TreeSurvey], out: &mut dyn Write) -> std::io::Result<()> {
    let first = trees.first().map_or(&[][..], |t| &t.symbols[..]);
    let comparison = first
        .iter()
        .enumerate()
        .map(|(i, s)| JsonRow {
            symbol: &s.symbol,
            arch_definitions: trees.iter().map(|t| t.symbols[i].arch_definitions).collect(),
            definitions: trees.iter().map(|t| t.symbols[i].definitions).collect(),
            needed: trees.iter().map(|t| t.symbols[i].needed).collect(),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &JsonOut { trees, comparison })?;
    writeln!(out)
}

/// Writes the tables: for one tree the summary and (unless `--brief`) each
/// symbol's details; for several, the comparison, each tree's summary and,
/// with `--details`, each tree's details.
fn write_text(args: &SurveyArgs, trees: &[TreeSurvey], out: &mut dyn Write) -> std::io::Result<()> {
    let details = if trees.len() == 1 { !args.brief } else { args.details };
    if trees.len() > 1 {
        writeln!(out, "{}", comparison_table(trees))?;
    }
    for t in trees {
        writeln!(out, "{}\n", tree_header(t))?;
        writeln!(out, "{}", summary_table(t))?;
        if details {
            for s in &t.symbols {
                writeln!(out, "{}", symbol_details(s))?;
            }
        }
    }
    Ok(())
}
