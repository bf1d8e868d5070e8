//! The `#if`/`#ifdef` conditions in force at each point of a file.
//!
//! The preprocessor is line-oriented, so this is computed from the
//! directive lines alone (see [`crate::lex`]) rather than from tree-sitter's
//! tree: tree-sitter nests `#if` blocks only where they line up with the C
//! syntax, and kernel headers often split declarations across branches.
//!
//! A condition is rendered as C preprocessor text: `#ifdef X` gives
//! `defined(X)`, `#ifndef X` gives `!defined(X)`, `#if E` gives `E`, and
//! `#else`/`#elif` add the negations of the earlier branches, for example
//! `!(E)`. The conditions of a point are a list read as a conjunction,
//! outermost first.
//!
//! A header's include guard (`#ifndef G` then `#define G` as the file's
//! first two directives) is left out: it is true whenever the header matters.

use crate::lex::{directive_name, directive_text, Token, TokenKind};

/// The conditions in force over a file, as change points.
#[derive(Debug, Default)]
pub struct CondMap {
    /// `(offset, conditions)`: from `offset` (inclusive) on, until the next
    /// change point, `conditions` are in force. Sorted by offset; the first
    /// entry is at offset 0 with no conditions.
    points: Vec<(usize, Vec<String>)>,
}

/// One open `#if` block.
struct Frame {
    /// Negations of the branches already passed (for `#elif`/`#else`).
    prior: Vec<String>,
    /// The condition of the current branch, if any (none after `#else`).
    current: Option<String>,
    /// This frame is the header's include guard: hide it.
    guard: bool,
}

impl CondMap {
    /// Builds the map from `tokens`, the output of
    /// [`crate::lex::lex`]`(src, true)` over the same `src`.
    ///
    /// Unbalanced `#endif`/`#else` lines (a fragment of a file, or a broken
    /// file) are ignored rather than reported: the conditions are then only
    /// as good as the file.
    pub fn build(src: &[u8], tokens: &[Token]) -> CondMap {
        let directives: Vec<(usize, String)> =
            tokens.iter().filter(|t| t.kind == TokenKind::Directive).map(|t| (t.end, directive_text(src, t))).collect();
        let guard_name = include_guard(&directives);
        let mut stack: Vec<Frame> = Vec::new();
        let mut points = vec![(0, Vec::new())];
        for (idx, (end, text)) in directives.iter().enumerate() {
            let (name, rest) = directive_name(text);
            match name {
                "if" | "ifdef" | "ifndef" => {
                    let guard = idx == 0 && name == "ifndef" && guard_name.as_deref() == Some(rest);
                    stack.push(Frame { prior: Vec::new(), current: Some(branch_cond(name, rest)), guard });
                }
                "elif" | "elifdef" | "elifndef" => {
                    if let Some(f) = stack.last_mut() {
                        if let Some(c) = f.current.take() {
                            f.prior.push(negate(&c));
                        }
                        let kind = match name {
                            "elifdef" => "ifdef",
                            "elifndef" => "ifndef",
                            _ => "if",
                        };
                        f.current = Some(branch_cond(kind, rest));
                        f.guard = false;
                    }
                }
                "else" => {
                    if let Some(f) = stack.last_mut() {
                        if let Some(c) = f.current.take() {
                            f.prior.push(negate(&c));
                        }
                        f.guard = false;
                    }
                }
                "endif" => {
                    stack.pop();
                }
                _ => continue,
            }
            let conds: Vec<String> = stack
                .iter()
                .filter(|f| !f.guard)
                .flat_map(|f| f.prior.iter().chain(f.current.iter()).cloned())
                .collect();
            points.push((*end, conds));
        }
        CondMap { points }
    }

    /// The conditions in force at byte `offset`, outermost first.
    pub fn at(&self, offset: usize) -> &[String] {
        let i = self.points.partition_point(|(o, _)| *o <= offset);
        // points[0] is at offset 0, so i >= 1.
        &self.points[i.saturating_sub(1)].1
    }
}

/// If the first two directives are `#ifndef G` and `#define G` (with no
/// value), returns `G`.
fn include_guard(directives: &[(usize, String)]) -> Option<String> {
    let (n0, g) = directive_name(&directives.first()?.1);
    let (n1, d) = directive_name(&directives.get(1)?.1);
    (n0 == "ifndef" && n1 == "define" && d == g && !g.is_empty()).then(|| g.to_string())
}

/// The condition text of a branch opened by `#if`/`#ifdef`/`#ifndef`.
fn branch_cond(kind: &str, rest: &str) -> String {
    match kind {
        "ifdef" => format!("defined({rest})"),
        "ifndef" => format!("!defined({rest})"),
        _ => rest.to_string(),
    }
}

/// The negation of a condition, kept readable: `!defined(X)` becomes
/// `defined(X)`, a plain identifier or `defined(X)` gets a `!`, anything
/// else is wrapped as `!(...)`.
pub fn negate(c: &str) -> String {
    let simple = |s: &str| s.bytes().all(crate::lex::is_ident_byte);
    if let Some(inner) = c.strip_prefix("!defined(") {
        if inner.ends_with(')') && simple(&inner[..inner.len() - 1]) {
            return c[1..].to_string();
        }
    }
    if simple(c) {
        return format!("!{c}");
    }
    if let Some(inner) = c.strip_prefix("defined(") {
        if inner.ends_with(')') && simple(&inner[..inner.len() - 1]) {
            return format!("!{c}");
        }
    }
    if let Some(inner) = c.strip_prefix('!') {
        if simple(inner) {
            return inner.to_string();
        }
    }
    format!("!({c})")
}

/// If `cond` says "`name` is not defined" (`!defined(name)`,
/// `!defined name`), returns true. Used to recognise generic fallbacks.
pub fn is_not_defined(cond: &str, name: &str) -> bool {
    let c: String = cond.chars().filter(|c| !c.is_whitespace()).collect();
    c == format!("!defined({name})") || c == format!("!defined{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::lex;

    fn at(src: &str, marker: &str) -> Vec<String> {
        let toks = lex(src.as_bytes(), true);
        let map = CondMap::build(src.as_bytes(), &toks);
        map.at(src.find(marker).unwrap()).to_vec()
    }

    const SRC: &str = "#ifndef _ASM_H\n#define _ASM_H\nL_A\n#ifdef CONFIG_X\nL_B\n#if LEVELS > 2\nL_C\n#elif LEVELS == 2\nL_D\n#else\nL_E\n#endif\n#else /* !X */\nL_F\n#endif\n#ifndef pgd_offset\nL_G\n#endif\n#endif\n";

    #[test]
    fn nested_branches() {
        assert!(at(SRC, "L_A").is_empty(), "include guard hidden");
        assert_eq!(at(SRC, "L_B"), ["defined(CONFIG_X)"]);
        assert_eq!(at(SRC, "L_C"), ["defined(CONFIG_X)", "LEVELS > 2"]);
        assert_eq!(at(SRC, "L_D"), ["defined(CONFIG_X)", "!(LEVELS > 2)", "LEVELS == 2"]);
        assert_eq!(at(SRC, "L_E"), ["defined(CONFIG_X)", "!(LEVELS > 2)", "!(LEVELS == 2)"]);
        assert_eq!(at(SRC, "L_F"), ["!defined(CONFIG_X)"]);
        assert_eq!(at(SRC, "L_G"), ["!defined(pgd_offset)"]);
    }

    #[test]
    fn not_a_guard_when_ifndef_has_else() {
        let src = "#ifndef X\n#define X\n#else\nA\n#endif\n";
        assert_eq!(at(src, "A"), ["defined(X)"]);
    }

    #[test]
    fn unbalanced_is_tolerated() {
        let src = "#endif\n#else\nA\n#if Q\nB\n";
        assert!(at(src, "A").is_empty());
        assert_eq!(at(src, "B"), ["Q"]);
    }

    #[test]
    fn negation() {
        assert_eq!(negate("X"), "!X");
        assert_eq!(negate("!X"), "X");
        assert_eq!(negate("defined(X)"), "!defined(X)");
        assert_eq!(negate("!defined(X)"), "defined(X)");
        assert_eq!(negate("A && B"), "!(A && B)");
        assert!(is_not_defined("!defined( pgd_offset )", "pgd_offset"));
        assert!(!is_not_defined("defined(pgd_offset)", "pgd_offset"));
    }
}
