//! Text rendering of survey results: tables a person reads at a glance.
//!
//! * [`summary_table`] - one line per symbol: the talk's quiz answered
//!   (definitions, and how many are needed).
//! * [`symbol_details`] - per symbol, each distinct body and where it is
//!   defined, with conditions, fallbacks and markers.
//! * [`comparison_table`] - the talk's "So where are the patches?" table:
//!   arch definitions per symbol in each tree.

use crate::scan::GENERIC_DIRS;
use crate::survey::{BodyGroup, SymbolSurvey, TreeSurvey};
use std::fmt::Write;

/// Width of the symbol column: the longest symbol, at least 6.
fn sym_width<'a>(syms: impl Iterator<Item = &'a str>) -> usize {
    syms.map(str::len).max().unwrap_or(0).max(6)
}

/// A one-line header for a tree: what was read, how much was parsed, how long.
pub fn tree_header(t: &TreeSurvey) -> String {
    format!(
        "{} ({}): {} .c/.h files under arch/*/ and {}; {} mention a symbol, {} parsed; {:.2} s",
        t.label,
        t.tree,
        t.files,
        GENERIC_DIRS.join(", "),
        t.mentioning,
        t.parsed,
        t.elapsed_ms as f64 / 1000.0
    )
}

/// The per-symbol summary of one tree, with a legend.
///
/// Columns: `defs` all definitions; `arch` those under `arch/`; `arches`
/// how many architectures; `generic` generic definitions; `needed`
/// distinct bodies; `=generic` arch definitions identical to a generic one.
pub fn summary_table(t: &TreeSurvey) -> String {
    let w = sym_width(t.symbols.iter().map(|s| s.symbol.as_str()));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<w$}  {:>5}  {:>5}  {:>6}  {:>7}  {:>6}  {:>8}",
        "symbol", "defs", "arch", "arches", "generic", "needed", "=generic"
    );
    for s in &t.symbols {
        let _ = writeln!(
            o,
            "{:<w$}  {:>5}  {:>5}  {:>6}  {:>7}  {:>6}  {:>8}",
            s.symbol,
            s.definitions,
            s.arch_definitions,
            s.arches.len(),
            s.generic_definitions,
            s.needed,
            s.same_as_generic
        );
    }
    o.push_str(
        "defs: definitions (arch + generic); arch: of them under arch/; arches: architectures defining it;\n\
         needed: distinct bodies after normalising white space, comments, parameter names and\n\
         static/inline/__init/__weak annotations; =generic: arch definitions identical to a generic one\n\
         (removable today).\n",
    );
    o
}

/// Who is in a group: `generic, arm, x86` (at most 8 arches named).
fn group_members(g: &BodyGroup) -> String {
    let mut who: Vec<String> = Vec::new();
    if g.generic {
        who.push("generic".into());
    }
    let shown = g.arches.len().min(8);
    who.extend(g.arches[..shown].iter().cloned());
    if g.arches.len() > shown {
        who.push(format!("+{} more", g.arches.len() - shown));
    }
    who.join(", ")
}

/// A normalised body made compact for reading: spaces only between two
/// word-like tokens, cut to `max` characters with `…`.
///
/// A macro keeps the space after its name and parameter list:
/// `#define f($0) (($0)+1)`.
pub fn compact(body: &str, max: usize) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '"' || c == '\'';
    let mut out = String::new();
    let mut rest = body;
    if let Some(r) = body.strip_prefix("#define ") {
        let (name, r) = r.split_once(' ').unwrap_or((r, ""));
        out = format!("#define {name} ");
        rest = r;
    }
    let head = out.len();
    for piece in rest.split(' ') {
        if out.len() == head {
            out.push_str(piece);
            continue;
        }
        if let (Some(a), Some(b)) = (out.chars().last(), piece.chars().next()) {
            if word(a) && word(b) {
                out.push(' ');
            }
        }
        out.push_str(piece);
    }
    let out = out.trim_end().to_string();
    if out.chars().count() > max {
        let cut: String = out.chars().take(max.saturating_sub(1)).collect();
        return cut + "…";
    }
    out
}

/// The details of one symbol: a headline answering the quiz, then each
/// distinct body with its definitions (file:line, form, conditions,
/// fallback), then the override markers.
pub fn symbol_details(s: &SymbolSurvey) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: {} definition{} ({} arch in {} arch{}, {} generic); needed: {}; identical to generic: {}",
        s.symbol,
        s.definitions,
        if s.definitions == 1 { "" } else { "s" },
        s.arch_definitions,
        s.arches.len(),
        if s.arches.len() == 1 { "" } else { "es" },
        s.generic_definitions,
        s.needed,
        s.same_as_generic
    );
    if s.definitions == 0 {
        o.push_str("  no definition found\n");
    }
    let fw = s.defs.iter().map(|d| d.file.len() + 1 + d.line.to_string().len()).max().unwrap_or(0);
    let aw = s.defs.iter().map(|d| d.origin().len()).max().unwrap_or(0);
    for g in &s.groups {
        let _ = writeln!(o, "  body {} ({}x: {}): {}", g.id, g.count, group_members(g), compact(&g.body, 100));
        for d in s.defs.iter().filter(|d| d.group == g.id) {
            let mut line =
                format!("    {:<aw$}  {:<fw$}  {:<9}", d.origin(), format!("{}:{}", d.file, d.line), d.kind.short());
            if !d.conditions.is_empty() {
                let _ = write!(line, "  if {}", d.conditions.join(" && "));
            }
            if let Some(f) = &d.fallback {
                let _ = write!(line, "  [generic fallback: {f}]");
            }
            if d.same_as_generic {
                line.push_str("  [= generic]");
            }
            if d.detected_by == crate::extract::DetectedBy::LexicalFallback {
                line.push_str("  [found by lexical rule]");
            }
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    if !s.markers.is_empty() {
        let _ = writeln!(o, "  override markers ({}):", s.markers.len());
        for m in &s.markers {
            let _ =
                writeln!(o, "    {:<aw$}  {}:{}  {}", m.arch.as_deref().unwrap_or("generic"), m.file, m.line, m.text);
        }
    }
    o
}

/// The talk's "So where are the patches?" table: per symbol, the number of
/// arch definitions in each tree (columns in the order of `trees`).
pub fn comparison_table(trees: &[TreeSurvey]) -> String {
    let w = sym_width(trees.iter().flat_map(|t| t.symbols.iter().map(|s| s.symbol.as_str())));
    let mut o = String::from("arch definitions per tree (\"So where are the patches?\")\n");
    let _ = write!(o, "{:<w$}", "symbol");
    for t in trees {
        let _ = write!(o, "  {:>cw$}", t.label, cw = t.label.len().max(5));
    }
    o.push('\n');
    let Some(first) = trees.first() else { return o };
    for (i, s) in first.symbols.iter().enumerate() {
        let _ = write!(o, "{:<w$}", s.symbol);
        for t in trees {
            let n = t.symbols.get(i).map_or(0, |s| s.arch_definitions);
            let _ = write!(o, "  {:>cw$}", n, cw = t.label.len().max(5));
        }
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacting() {
        assert_eq!(compact("#define f($0) ( ( $0 ) -> pgd + 1 )", 100), "#define f($0) (($0)->pgd+1)");
        assert_eq!(compact("#define f x", 100), "#define f x");
        assert_eq!(compact("#define f", 100), "#define f");
        assert_eq!(compact("unsigned long x", 100), "unsigned long x");
        assert_eq!(compact("abcdef", 4), "abc…");
    }
}
