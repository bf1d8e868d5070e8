//! Finding the definitions of given symbols in one C source file.
//!
//! The work is split in three:
//!
//! 1. [`Matcher::occurrences`] finds every place where a symbol's bytes
//!    occur as a whole identifier (memchr's `memmem`, no parsing). A file
//!    with no occurrence is never parsed.
//! 2. [`extract`] lexes the file and, unless no occurrence could possibly
//!    name a definition (a loose lexical test: a `#define` name, or a name
//!    after a type and before a parameter list not followed by `;`, `,`,
//!    `=` or `)`), parses it with tree-sitter's C grammar; parsing is most
//!    of the cost and most mentions are uses. It then decides, for each
//!    occurrence, whether it is the name of a definition:
//!    * `preproc_def` / `preproc_function_def` nodes: object-like and
//!      function-like `#define`s, however many continuation lines they
//!      have. Their text is read from the lexer's directive token, because
//!      tree-sitter-c ends a macro's value at the first comment in it; where
//!      that (or anything else) made an `ERROR` of a directive, the
//!      directive is read by the lexer alone, which for a `#define` line
//!      is exact;
//!    * `function_definition` nodes whose declarator names the symbol:
//!      ordinary, `static inline`, `extern inline` and `__weak` functions.
//!
//!    Tree-sitter does not know the kernel's annotation macros (`__init`,
//!    `__weak`, `__always_inline`, ...), but it recovers from them with a
//!    small `ERROR` node inside the `function_definition`, which is enough.
//!    Where an occurrence lies inside a larger `ERROR` region (a file the
//!    grammar cannot follow), a lexical rule takes over (`lexical_function`):
//!    `NAME ( ... ) [annotations] {` at brace depth 0, preceded by a type.
//!    Such definitions are marked [`DetectedBy::LexicalFallback`].
//! 3. Each definition's text is normalised ([`normalise`]): comments and
//!    white space dropped, parameter names replaced by `$0`, `$1`, ..., and
//!    the annotations listed in [`DECORATIONS`] removed from the head.
//!
//! Declarations (`extern void paging_init(void);`), calls, `#undef`,
//! `#ifndef SYMBOL` guards and mentions in comments or strings are not
//! definitions. `#define SYMBOL SYMBOL` and `#define __HAVE_ARCH_SYMBOL`
//! are recorded as override [`Marker`]s, not definitions.

use crate::cond::{is_not_defined, CondMap};
use crate::lex::{directive_text, is_ident_byte, lex, Token, TokenKind};
use memchr::memmem::Finder;
use serde::Serialize;
use tree_sitter::{Node, Parser};

/// The form a definition takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefKind {
    /// `#define NAME value` (object-like macro).
    ObjectMacro,
    /// `#define NAME(args) value` (function-like macro).
    FunctionMacro,
    /// A function definition without `inline` or `__weak`.
    Function,
    /// A function definition with `inline`, `__inline__` or `__always_inline`.
    InlineFunction,
    /// A function definition with `__weak` (or `__attribute__((weak))`).
    WeakFunction,
}

impl DefKind {
    /// A short human name: `#define`, `#define()`, `function`, `inline`, `__weak`.
    pub fn short(self) -> &'static str {
        match self {
            DefKind::ObjectMacro => "#define",
            DefKind::FunctionMacro => "#define()",
            DefKind::Function => "function",
            DefKind::InlineFunction => "inline",
            DefKind::WeakFunction => "__weak",
        }
    }
}

/// How a definition was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectedBy {
    /// From tree-sitter's syntax tree.
    TreeSitter,
    /// By the lexical rule, because tree-sitter could not parse that region.
    LexicalFallback,
}

/// A definition found in one file, before it is placed in a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDef {
    /// Index of the symbol in the [`Matcher`]'s list.
    pub symbol: usize,
    /// The definition's form.
    pub kind: DefKind,
    /// 1-based line of the symbol's name in the definition.
    pub line: usize,
    /// `#if` conditions in force at the name (see [`crate::cond`]).
    pub conditions: Vec<String>,
    /// Why this is a generic fallback, if it is one: `#ifndef NAME`,
    /// `#ifndef __HAVE_ARCH_NAME` or `__weak`.
    pub fallback: Option<String>,
    /// The normalised text of the whole definition (see [`normalise`]).
    pub body: String,
    /// How it was recognised.
    pub detected_by: DetectedBy,
}

/// `#define NAME NAME` or `#define __HAVE_ARCH_NAME`: a sign that the file
/// overrides a generic definition of NAME, not a definition itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Index of the symbol in the [`Matcher`]'s list.
    pub symbol: usize,
    /// 1-based line.
    pub line: usize,
    /// The directive, normalised: `#define pgd_index pgd_index`.
    pub text: String,
}

/// Everything [`extract`] found in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileScan {
    /// Definitions, in file order.
    pub defs: Vec<FileDef>,
    /// Override markers, in file order.
    pub markers: Vec<Marker>,
    /// Whether tree-sitter parsed the file (false when no occurrence could
    /// name a definition, so only the lexer ran).
    pub parsed: bool,
    /// Lines of occurrences that fell inside a tree-sitter `ERROR` region
    /// where a definition could be (at brace depth 0, or where the lexical
    /// rule found one): the lexical rule decided those. Occurrences in an
    /// error region inside a function body are uses and are not listed.
    pub error_lines: Vec<usize>,
}

/// Kernel annotations dropped from a function's head (the tokens before
/// its name) when normalising: they change linkage, section or inlining,
/// not what the function does, so `void __init f(void)` and
/// `static inline void f(void)` with equal bodies compare equal.
/// `__attribute__((...))` is dropped with its parentheses.
pub const DECORATIONS: &[&str] = &[
    "static",
    "extern",
    "inline",
    "__inline",
    "__inline__",
    "__always_inline",
    "noinline",
    "notrace",
    "__init",
    "__ref",
    "__meminit",
    "__weak",
    "__cold",
    "__attribute__",
];

/// A symbol's whole-identifier occurrence: `(symbol index, byte offset)`.
pub type Occurrence = (usize, usize);

/// Finds the symbols' occurrences in file contents, cheaply.
///
/// Built once per survey and shared by all threads (it is `Sync`).
#[derive(Debug)]
pub struct Matcher {
    symbols: Vec<String>,
    finders: Vec<Finder<'static>>,
    /// `__HAVE_ARCH_` + upper-case symbol, per symbol.
    have_arch: Vec<String>,
    have_arch_finder: Finder<'static>,
}

impl Matcher {
    /// Prepares to look for `symbols` (which the caller has checked are
    /// C identifiers; see [`crate::valid_identifier`]).
    pub fn new(symbols: &[String]) -> Matcher {
        Matcher {
            symbols: symbols.to_vec(),
            finders: symbols.iter().map(|s| Finder::new(s.as_bytes()).into_owned()).collect(),
            have_arch: symbols.iter().map(|s| format!("__HAVE_ARCH_{}", s.to_ascii_uppercase())).collect(),
            have_arch_finder: Finder::new(b"__HAVE_ARCH_").into_owned(),
        }
    }

    /// The symbols, in the order given to [`Matcher::new`].
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Every whole-identifier occurrence of each symbol in `src`, and of
    /// each `__HAVE_ARCH_SYMBOL` (reported as separate list), both sorted
    /// by offset. Comments and strings are not excluded here; [`extract`]
    /// sorts those out.
    pub fn occurrences(&self, src: &[u8]) -> (Vec<Occurrence>, Vec<Occurrence>) {
        let mut occ = Vec::new();
        for (i, f) in self.finders.iter().enumerate() {
            let len = self.symbols[i].len();
            occ.extend(f.find_iter(src).filter(|&p| whole_word(src, p, len)).map(|p| (i, p)));
        }
        occ.sort_by_key(|&(_, p)| p);
        let mut have = Vec::new();
        for p in self.have_arch_finder.find_iter(src) {
            for (i, h) in self.have_arch.iter().enumerate() {
                if src[p..].starts_with(h.as_bytes()) && whole_word(src, p, h.len()) {
                    have.push((i, p));
                }
            }
        }
        (occ, have)
    }
}

/// Is `src[p..p+len]` a whole identifier (not part of a longer one)?
#[inline]
fn whole_word(src: &[u8], p: usize, len: usize) -> bool {
    (p == 0 || !is_ident_byte(src[p - 1])) && src.get(p + len).is_none_or(|&b| !is_ident_byte(b))
}

/// A tree-sitter parser for C, one per thread.
///
/// # Panics
/// Never in practice: setting the bundled grammar fails only if the
/// tree-sitter library and grammar ABI versions disagree, which the
/// crate's pinned versions rule out (a unit test checks it).
pub fn c_parser() -> Parser {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_c::LANGUAGE.into()).expect("tree-sitter-c grammar matches the tree-sitter library");
    p
}

/// Finds the definitions and markers of the matcher's symbols in `src`.
///
/// * `src` - the whole file.
/// * `occ`, `have` - the two lists from [`Matcher::occurrences`] on `src`;
///   if both are empty the file is not parsed at all.
/// * `symbols` - the matcher's symbols (to compare names).
/// * `parser` - a parser from [`c_parser`].
///
/// Returns `None` only if tree-sitter gives no tree at all (it does not
/// for any input in practice; the caller reports the file as unparsable).
pub fn extract(
    src: &[u8],
    occ: &[Occurrence],
    have: &[Occurrence],
    symbols: &[String],
    parser: &mut Parser,
) -> Option<FileScan> {
    let mut out = FileScan::default();
    if occ.is_empty() && have.is_empty() {
        return Some(out);
    }
    let ctx = Ctx { src, tokens: lex(src, true) };
    // Parsing is most of the cost: skip it when no occurrence could name a
    // definition (only uses, declarations and comments), which the lexer
    // alone can tell.
    let worth_parsing = occ.iter().any(|&(_, off)| ctx.could_define(off));
    let tree = if worth_parsing { Some(parser.parse(src, None)?) } else { None };
    out.parsed = tree.is_some();
    let conds = CondMap::build(src, &ctx.tokens);

    for &(sym, off) in occ.iter().filter(|_| worth_parsing) {
        let Some(root) = tree.as_ref().map(|t| t.root_node()) else {
            break;
        };
        let name = symbols[sym].as_str();
        let end = off + name.len();
        let Some(node) = root.descendant_for_byte_range(off, end) else {
            continue;
        };
        let exact = node.start_byte() == off && node.end_byte() == end;
        let found = if exact { ctx.tree_sitter_def(node, name) } else { None };
        let found = match found {
            Some(f) => Some(f),
            // In a directive that tree-sitter did not parse cleanly (a
            // comment in a macro's value is enough): read it lexically.
            // That rule is exact, so no note.
            None => match ctx.directive_at(off) {
                Some(d) => ctx.macro_def(d, off, name, DetectedBy::LexicalFallback),
                None if in_error(node) => {
                    let found = ctx.lexical_fallback(off);
                    // Worth a note only where a definition could be: at
                    // brace depth 0 (inside a body it is a use).
                    let top = ctx.token_at(off).is_some_and(|k| brace_depth(src, &ctx.tokens, k) == 0);
                    if found.is_some() || top {
                        out.error_lines.push(line_of(src, off));
                    }
                    found
                }
                None => None,
            },
        };
        let Some(found) = found else { continue };
        let line = line_of(src, off);
        match found {
            Found::Marker(text) => out.markers.push(Marker { symbol: sym, line, text }),
            Found::Def { kind, body, detected_by } => {
                let conditions = conds.at(off).to_vec();
                let fallback = fallback_reason(kind, &conditions, name);
                out.defs.push(FileDef { symbol: sym, kind, line, conditions, fallback, body, detected_by });
            }
        }
    }
    for &(sym, off) in have {
        // `#define __HAVE_ARCH_NAME`, read from the directive (see
        // `Ctx::macro_def` for why not from tree-sitter's node).
        let Some(d) = ctx.directive_at(off) else {
            continue;
        };
        let text = &src[d.start..d.end];
        let toks = lex(text, false);
        let is_define = toks.len() >= 3 && toks[0].text(text) == b"#" && toks[1].text(text) == b"define";
        if is_define && d.start + toks[2].start == off {
            out.markers.push(Marker { symbol: sym, line: line_of(src, off), text: directive_text(src, &d) });
        }
    }
    out.markers.sort_by_key(|m| m.line);
    Some(out)
}

/// Why a definition is a generic fallback, if it is one.
fn fallback_reason(kind: DefKind, conditions: &[String], name: &str) -> Option<String> {
    let have = format!("__HAVE_ARCH_{}", name.to_ascii_uppercase());
    for c in conditions {
        if is_not_defined(c, name) {
            return Some(format!("#ifndef {name}"));
        }
        if is_not_defined(c, &have) {
            return Some(format!("#ifndef {have}"));
        }
    }
    (kind == DefKind::WeakFunction).then(|| "__weak".to_string())
}

/// 1-based line number of byte `off`.
fn line_of(src: &[u8], off: usize) -> usize {
    memchr::memchr_iter(b'\n', &src[..off.min(src.len())]).count() + 1
}

/// Is `node`, or any ancestor, an `ERROR` node?
fn in_error(node: Node) -> bool {
    let mut n = Some(node);
    while let Some(x) = n {
        if x.is_error() {
            return true;
        }
        n = x.parent();
    }
    false
}

/// What one occurrence turned out to be.
enum Found {
    Def { kind: DefKind, body: String, detected_by: DetectedBy },
    Marker(String),
}

/// One file's bytes and tokens.
struct Ctx<'a> {
    src: &'a [u8],
    tokens: Vec<Token>,
}

impl Ctx<'_> {
    /// Index of the token starting at byte `off`, if any.
    fn token_at(&self, off: usize) -> Option<usize> {
        self.tokens.binary_search_by_key(&off, |t| t.start).ok()
    }

    /// Could the occurrence at `off` be the name of a definition? A cheap,
    /// deliberately loose test, used only to skip parsing files where the
    /// answer is no for every occurrence:
    ///
    /// * in a directive: yes if it is a `#define`'s name;
    /// * in a comment or a string (no token starts there): no;
    /// * otherwise yes if the name follows an identifier or `*` (a type or
    ///   an annotation, not `return`) and is followed by a parameter list,
    ///   optional annotations and then anything but `;`, `,`, `=` or `)` (a
    ///   declaration, or a use such as `x = f(y);`). Brace depth is ignored,
    ///   so `#if` branches that unbalance braces cannot hide a definition.
    fn could_define(&self, off: usize) -> bool {
        let src = self.src;
        if let Some(d) = self.directive_at(off) {
            let text = &src[d.start..d.end];
            let toks = lex(text, false);
            return toks.len() >= 3
                && toks[0].text(text) == b"#"
                && toks[1].text(text) == b"define"
                && d.start + toks[2].start == off;
        }
        let Some(k) = self.token_at(off) else {
            return false;
        };
        let toks = &self.tokens;
        let prev_ok = k.checked_sub(1).is_some_and(|p| match toks[p].kind {
            TokenKind::Ident => !NOT_BEFORE_NAME.iter().any(|w| w.as_bytes() == toks[p].text(src)),
            TokenKind::Punct => toks[p].text(src) == b"*",
            _ => false,
        });
        if !prev_ok || toks.get(k + 1).is_none_or(|t| t.text(src) != b"(") {
            return false;
        }
        let Some(close) = matching(src, toks, k + 1) else {
            return true;
        };
        let mut j = close + 1;
        while let Some(t) = toks.get(j) {
            match (t.kind, t.text(src)) {
                (TokenKind::Ident, _) => {
                    j += 1;
                    if toks.get(j).is_some_and(|n| n.text(src) == b"(") {
                        match matching(src, toks, j) {
                            Some(c) => j = c + 1,
                            None => return true,
                        }
                    }
                }
                (TokenKind::Punct, b";" | b"," | b"=" | b")") => return false,
                _ => return true,
            }
        }
        true
    }

    /// The directive token containing byte `off`, if `off` is in one.
    fn directive_at(&self, off: usize) -> Option<Token> {
        let i = self.tokens.partition_point(|t| t.start <= off).checked_sub(1)?;
        let t = self.tokens[i];
        (t.kind == TokenKind::Directive && off < t.end).then_some(t)
    }

    /// Decides from the syntax tree whether identifier `node` names a
    /// definition of `name`.
    fn tree_sitter_def(&self, node: Node, name: &str) -> Option<Found> {
        let parent = node.parent()?;
        match parent.kind() {
            "preproc_def" | "preproc_function_def"
                if parent.child_by_field_name("name") == Some(node) && !parent.has_error() =>
            {
                let d = self.directive_at(node.start_byte())?;
                self.macro_def(d, node.start_byte(), name, DetectedBy::TreeSitter)
            }
            "function_declarator" if parent.child_by_field_name("declarator") == Some(node) => {
                // Climb the declarator chain (pointer_declarator for a
                // returned pointer, parenthesized_declarator, ...) to the
                // function_definition, if this is one.
                let mut cur = parent;
                loop {
                    let up = cur.parent()?;
                    if up.child_by_field_name("declarator") != Some(cur) {
                        return None;
                    }
                    match up.kind() {
                        "function_definition" => return Some(self.function_def(up, parent, node)),
                        k if k.ends_with("declarator") => cur = up,
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// Reads the `#define` directive `d` whose name is the occurrence at
    /// `off` (returns `None` if `d` is not a `#define` or `off` is not its
    /// name): a [`Found::Def`], or a [`Found::Marker`] for `#define name
    /// name`.
    ///
    /// The directive is read from the lexer's tokens, not from tree-sitter's
    /// node: tree-sitter-c ends a macro's value at the first comment inside
    /// it and turns the rest of the line into an `ERROR` (for
    /// `#define f(a) g((a), /* x */ 1)`, common in the kernel), while the
    /// preprocessor's own rule is simple and exact. tree-sitter still
    /// decides, where it parsed the directive cleanly, that this is a
    /// definition; `detected_by` says which was used.
    fn macro_def(&self, d: Token, off: usize, name: &str, detected_by: DetectedBy) -> Option<Found> {
        let text = &self.src[d.start..d.end];
        let toks = lex(text, false);
        let at = |i: usize| toks.get(i).map(|t| t.text(text));
        let n = match (at(0), at(1), at(2)) {
            (Some(b"#"), Some(b"define"), Some(_)) => 2,
            _ => return None,
        };
        if d.start + toks[n].start != off {
            return None; // the symbol is in the value, not the name
        }
        // Function-like only if '(' follows the name with no space.
        let function_like = toks.get(n + 1).is_some_and(|t| t.text(text) == b"(" && t.start == toks[n].end);
        let (params, value_from) = if function_like {
            let close = matching(text, &toks, n + 1)?;
            let params: Vec<String> = toks[n + 2..close]
                .iter()
                .filter(|t| t.kind == TokenKind::Ident)
                .map(|t| String::from_utf8_lossy(t.text(text)).into_owned())
                .collect();
            (params, close + 1)
        } else {
            (Vec::new(), n + 1)
        };
        let body = normalise(text, &toks[value_from..], &params, 0);
        if !function_like {
            if body == name {
                return Some(Found::Marker(format!("#define {name} {name}")));
            }
            let body = format!("#define {name} {body}").trim_end().to_string();
            return Some(Found::Def { kind: DefKind::ObjectMacro, body, detected_by });
        }
        let plist = normalise(text, &toks[n + 1..value_from], &params, 0).replace(' ', "");
        let body = format!("#define {name}{plist} {body}").trim_end().to_string();
        Some(Found::Def { kind: DefKind::FunctionMacro, body, detected_by })
    }

    /// A function definition: `def` is the function_definition node,
    /// `decl` the function_declarator, `name` the identifier.
    fn function_def(&self, def: Node, decl: Node, name: Node) -> Found {
        let params = decl.child_by_field_name("parameters").map(|p| param_names(self.src, p)).unwrap_or_default();
        // The head (return type and annotations) is read from the tokens,
        // back from the name: tree-sitter's start is not reliable there. In
        // `void __weak __init f(void) {...}` it ends a declaration
        // `void __weak` (with a MISSING `;`) and starts the function at
        // `__init`; after a macro invocation with no `;` (m68k's
        // `DECLARE_VM_GET_PAGE_PROT`) it starts the function too early.
        let k = self.tokens.partition_point(|t| t.start < name.start_byte());
        let b = self.tokens.partition_point(|t| t.start < def.end_byte());
        let a = head_start(self.src, &self.tokens, k);
        let toks = &self.tokens[a..b];
        let head_len = k - a;
        let kind = function_kind(self.src, &toks[..head_len]);
        let body = normalise(self.src, toks, &params, head_len);
        Found::Def { kind, body, detected_by: DetectedBy::TreeSitter }
    }

    /// The lexical rule, for an occurrence at `off` (not in a directive)
    /// that tree-sitter could not place: a function definition per
    /// [`lexical_function`].
    fn lexical_fallback(&self, off: usize) -> Option<Found> {
        let k = self.token_at(off)?;
        let lf = lexical_function(self.src, &self.tokens, k)?;
        let toks = &self.tokens[lf.first..=lf.last];
        let head_len = k - lf.first;
        let kind = function_kind(self.src, &toks[..head_len]);
        let body = normalise(self.src, toks, &lf.params, head_len);
        Some(Found::Def { kind, body, detected_by: DetectedBy::LexicalFallback })
    }
}

/// The names of a function's parameters, from its `parameter_list` node.
/// Unnamed parameters (`void`, `int`) give nothing.
fn param_names(src: &[u8], list: Node) -> Vec<String> {
    let mut names = Vec::new();
    let mut c = list.walk();
    for p in list.named_children(&mut c) {
        let mut d = p.child_by_field_name("declarator");
        // Descend pointer/array/function/parenthesized declarators to the name.
        while let Some(n) = d {
            if n.kind().starts_with("abstract_") {
                break;
            }
            if n.kind() == "identifier" {
                names.push(String::from_utf8_lossy(&src[n.byte_range()]).into_owned());
                break;
            }
            d = n.child_by_field_name("declarator").or_else(|| {
                // parenthesized_declarator has no field: take its first named child.
                let mut c2 = n.walk();
                let first = n.named_children(&mut c2).next();
                first
            });
        }
    }
    names
}

/// Classifies a function by the tokens of its head (before the name).
fn function_kind(src: &[u8], head: &[Token]) -> DefKind {
    let mut kind = DefKind::Function;
    for t in head {
        match t.text(src) {
            b"__weak" | b"weak" => return DefKind::WeakFunction,
            b"inline" | b"__inline" | b"__inline__" | b"__always_inline" => kind = DefKind::InlineFunction,
            _ => {}
        }
    }
    kind
}

/// Normalises a definition's tokens into one comparable string.
///
/// * `src`, `toks` - the tokens of the definition, from a lex of `src`.
/// * `params` - parameter names: each use becomes `$0`, `$1`, ... (but not
///   a member name after `.` or `->`, which only looks the same).
/// * `head_len` - how many leading tokens form the head, where the
///   [`DECORATIONS`] are dropped (0 for a macro body).
///
/// Tokens are joined by single spaces; directives inside a function body
/// appear as their normalised text.
pub fn normalise(src: &[u8], toks: &[Token], params: &[String], head_len: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let text = t.text(src);
        if i < head_len && DECORATIONS.iter().any(|d| d.as_bytes() == text) {
            i += 1;
            // __attribute__((...)): skip the parenthesised group too.
            if text == b"__attribute__" && toks.get(i).is_some_and(|n| n.text(src) == b"(") {
                i = matching(src, toks, i).map_or(toks.len(), |j| j + 1);
            }
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        let after_member = i > 0 && matches!(toks[i - 1].text(src), b"." | b"->");
        match t.kind {
            TokenKind::Directive => out.push_str(&directive_text(src, &t)),
            TokenKind::Ident if !after_member => match params.iter().position(|p| p.as_bytes() == text) {
                Some(n) => {
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                None => out.push_str(&String::from_utf8_lossy(text)),
            },
            _ => out.push_str(&String::from_utf8_lossy(text)),
        }
        i += 1;
    }
    out
}

/// Index of the token closing the bracket opened at `toks[open]`.
fn matching(src: &[u8], toks: &[Token], open: usize) -> Option<usize> {
    let (o, c): (&[u8], &[u8]) = match toks[open].text(src) {
        b"(" => (b"(", b")"),
        b"{" => (b"{", b"}"),
        b"[" => (b"[", b"]"),
        _ => return None,
    };
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(open) {
        let x = t.text(src);
        if x == o {
            depth += 1;
        } else if x == c {
            depth -= 1;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// Brace depth at token `k`, counting only code tokens (not directives,
/// comments or literals); a stray `}` in a broken file does not make it
/// negative.
fn brace_depth(src: &[u8], toks: &[Token], k: usize) -> usize {
    toks[..k].iter().fold(0usize, |d, t| match t.text(src) {
        b"{" => d + 1,
        b"}" => d.saturating_sub(1),
        _ => d,
    })
}

/// A function definition found by [`lexical_function`].
struct LexFunction {
    /// Token index where the definition starts.
    first: usize,
    /// Token index of its closing `}`.
    last: usize,
    /// Parameter names.
    params: Vec<String>,
}

/// C keywords that cannot come right before a function's name.
const NOT_BEFORE_NAME: &[&str] =
    &["return", "else", "if", "while", "for", "switch", "case", "do", "sizeof", "goto", "typeof", "__typeof__"];

/// The lexical rule for a function definition whose name is token `k`:
/// `NAME ( params ) [IDENT | IDENT ( ... )]* {` where the token before NAME
/// is a type-like identifier or `*`, and NAME is at brace depth 0.
fn lexical_function(src: &[u8], toks: &[Token], k: usize) -> Option<LexFunction> {
    let prev = toks.get(k.checked_sub(1)?)?;
    let prev_ok = match prev.kind {
        TokenKind::Ident => !NOT_BEFORE_NAME.iter().any(|w| w.as_bytes() == prev.text(src)),
        TokenKind::Punct => prev.text(src) == b"*",
        _ => false,
    };
    if !prev_ok || toks.get(k + 1)?.text(src) != b"(" {
        return None;
    }
    if brace_depth(src, toks, k) != 0 {
        return None;
    }
    let close = matching(src, toks, k + 1)?;
    let inner = &toks[k + 2..close];
    if inner.iter().any(|t| matches!(t.text(src), b";" | b"{" | b"}") || t.kind == TokenKind::Directive) {
        return None;
    }
    // After the parameter list: annotations, then '{'.
    let mut j = close + 1;
    loop {
        let t = toks.get(j)?;
        match (t.kind, t.text(src)) {
            (TokenKind::Punct, b"{") => break,
            (TokenKind::Ident, _) => {
                j += 1;
                if toks.get(j).is_some_and(|n| n.text(src) == b"(") {
                    j = matching(src, toks, j)? + 1;
                }
            }
            _ => return None,
        }
    }
    let last = matching(src, toks, j)?;
    Some(LexFunction { first: head_start(src, toks, k), last, params: lexical_params(src, inner) })
}

/// Where a function definition's head starts, given `k`, the index of its
/// name: walks back over identifiers (types and annotations), `*` and
/// `ident ( ... )` groups (`__attribute__((weak))`, `__section(".x")`),
/// stopping at anything else (`;`, `}`, a directive) and at an upper-case
/// identifier, which in the kernel is a macro invocation standing on its
/// own (`DECLARE_VM_GET_PAGE_PROT`, `EXPORT_SYMBOL(x)` without `;`), not
/// part of a function's head.
fn head_start(src: &[u8], toks: &[Token], k: usize) -> usize {
    let head_word =
        |w: &[u8]| w.iter().any(u8::is_ascii_lowercase) && !NOT_BEFORE_NAME.iter().any(|n| n.as_bytes() == w);
    let mut i = k;
    while i > 0 {
        let t = toks[i - 1];
        match (t.kind, t.text(src)) {
            (TokenKind::Ident, w) if head_word(w) => i -= 1,
            (TokenKind::Punct, b"*") => i -= 1,
            (TokenKind::Punct, b")") => {
                // Find the matching '(' backwards; it must follow an identifier.
                let mut depth = 0usize;
                let mut j = i - 1;
                let open = loop {
                    match toks[j].text(src) {
                        b")" => depth += 1,
                        b"(" => {
                            depth -= 1;
                            if depth == 0 {
                                break Some(j);
                            }
                        }
                        b";" | b"{" | b"}" => break None,
                        _ => {}
                    }
                    if j == 0 || toks[j].kind == TokenKind::Directive {
                        break None;
                    }
                    j -= 1;
                };
                match open {
                    Some(o) if o > 0 && toks[o - 1].kind == TokenKind::Ident && head_word(toks[o - 1].text(src)) => {
                        i = o - 1
                    }
                    _ => break,
                }
            }
            _ => break,
        }
    }
    i
}

/// Parameter names from the tokens between a parameter list's parentheses:
/// for each comma-separated part, the identifier in `( * name )` if there is
/// one (a function pointer), else its last identifier unless the part is a
/// lone type word (`void`, `int`, ...).
fn lexical_params(src: &[u8], inner: &[Token]) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut part: Vec<Token> = Vec::new();
    let mut flush = |part: &mut Vec<Token>| {
        let idents: Vec<&Token> = part.iter().filter(|t| t.kind == TokenKind::Ident).collect();
        let star_name = part.windows(3).find_map(|w| {
            (w[0].text(src) == b"(" && w[1].text(src) == b"*" && w[2].kind == TokenKind::Ident).then_some(w[2])
        });
        let name = star_name.or_else(|| if idents.len() >= 2 { idents.last().map(|t| **t) } else { None });
        if let Some(n) = name {
            names.push(String::from_utf8_lossy(n.text(src)).into_owned());
        }
        part.clear();
    };
    for t in inner {
        match t.text(src) {
            b"(" | b"[" => depth += 1,
            b")" | b"]" => depth -= 1,
            b"," if depth == 0 => {
                flush(&mut part);
                continue;
            }
            _ => {}
        }
        part.push(*t);
    }
    flush(&mut part);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str, syms: &[&str]) -> FileScan {
        let symbols: Vec<String> = syms.iter().map(|s| s.to_string()).collect();
        let m = Matcher::new(&symbols);
        let (occ, have) = m.occurrences(src.as_bytes());
        extract(src.as_bytes(), &occ, &have, &symbols, &mut c_parser()).unwrap()
    }

    #[test]
    fn grammar_loads() {
        let _ = c_parser();
    }

    #[test]
    fn whole_words_only() {
        let m = Matcher::new(&["pgd_offset".to_string()]);
        let (occ, _) = m.occurrences(b"pgd_offset_k(x) xpgd_offset pgd_offset(a) pgd_offset");
        assert_eq!(occ, [(0, 28), (0, 42)]);
    }

    #[test]
    fn macro_forms() {
        let s = scan(
            "#define pgd_index(a) (((a) >> PGDIR_SHIFT) & \\\n\t(PTRS_PER_PGD - 1))\n#define pte_free free_pte_thing\n",
            &["pgd_index", "pte_free"],
        );
        assert_eq!(s.defs.len(), 2);
        assert_eq!(s.defs[0].kind, DefKind::FunctionMacro);
        assert_eq!(s.defs[0].body, "#define pgd_index($0) ( ( ( $0 ) >> PGDIR_SHIFT ) & ( PTRS_PER_PGD - 1 ) )");
        assert_eq!(s.defs[1].kind, DefKind::ObjectMacro);
        assert_eq!(s.defs[1].body, "#define pte_free free_pte_thing");
        assert_eq!(s.defs[1].line, 3);
    }

    #[test]
    fn parameter_names_do_not_matter() {
        let a = scan("#define pgd_offset(mm, addr) ((mm)->pgd + pgd_index(addr))\n", &["pgd_offset"]);
        let b = scan("#define pgd_offset(m, a)   ((m)->pgd /* x */ + pgd_index(a))\n", &["pgd_offset"]);
        assert_eq!(a.defs[0].body, b.defs[0].body);
        let c = scan("static inline int f(struct mm_struct *mm) { return mm->mm + 1; }", &["f"]);
        let d = scan("static inline int f(struct mm_struct *x) { return x->mm + 1; }", &["f"]);
        assert_eq!(c.defs[0].body, d.defs[0].body);
        assert_eq!(c.defs[0].body, "int f ( struct mm_struct * $0 ) { return $0 -> mm + 1 ; }");
    }

    #[test]
    fn function_forms() {
        let s = scan(
            "void __init paging_init(void)\n{\n}\nvoid __weak __init free_initmem(void) { }\n\
             static __always_inline pte_t *pte_offset_kernel(pmd_t *pmd, unsigned long a) { return 0; }\n\
             extern inline pte_t * pte_alloc_one(struct mm_struct *mm) { return 0; }\n",
            &["paging_init", "free_initmem", "pte_offset_kernel", "pte_alloc_one"],
        );
        let kinds: Vec<_> = s.defs.iter().map(|d| (d.symbol, d.kind, d.line)).collect();
        assert_eq!(
            kinds,
            [
                (0, DefKind::Function, 1),
                (1, DefKind::WeakFunction, 4),
                (2, DefKind::InlineFunction, 5),
                (3, DefKind::InlineFunction, 6)
            ]
        );
        assert_eq!(s.defs[1].fallback.as_deref(), Some("__weak"));
        assert_eq!(s.defs[0].body, "void paging_init ( void ) { }");
        assert!(s.defs.iter().all(|d| d.detected_by == DetectedBy::TreeSitter));
    }

    #[test]
    fn not_definitions() {
        let s = scan(
            "/* paging_init() sets up paging_init */\nextern void paging_init(void);\n\
             void f(void) { paging_init(); }\n#undef paging_init\n#define x paging_init()\n\
             char *s = \"paging_init\";\nvoid (*p)(void) = paging_init;\n",
            &["paging_init"],
        );
        assert!(s.defs.is_empty(), "{:?}", s.defs);
        assert!(s.markers.is_empty());
    }

    #[test]
    fn parse_only_when_a_definition_is_possible() {
        let uses = "/* void f(void) { } */\nextern void f(void);\nint g(void) { x = f(1); return f(2) + f(3); }\n\
                    void h(void) { if (y) f(); else f(); f(); p->f(1); }\nvoid __init f(void) __cold;\n";
        let s = scan(uses, &["f"]);
        assert!(!s.parsed && s.defs.is_empty(), "{s:?}");
        for def in [
            "void f(void) { }",
            "static inline int *f(int a) { return 0; }",
            "void __init f(void) __attribute__((cold)) { }",
            "int f(int a)\n#ifdef X\n{ }\n#endif",
            "#define f(a) (a)",
            "#  define f 1",
        ] {
            assert!(scan(def, &["f"]).parsed, "{def}");
        }
    }

    #[test]
    fn markers_and_guards() {
        let s = scan(
            "#ifndef pgd_index\n#define pgd_index(a) 0\n#endif\n#define pgd_index pgd_index\n\
             #ifndef __HAVE_ARCH_PTE_ALLOC_ONE\nstatic inline int pte_alloc_one(int x) { return x; }\n#endif\n\
             #define __HAVE_ARCH_PTE_ALLOC_ONE\n",
            &["pgd_index", "pte_alloc_one"],
        );
        assert_eq!(s.defs.len(), 2);
        assert_eq!(s.defs[0].fallback.as_deref(), Some("#ifndef pgd_index"));
        assert_eq!(s.defs[0].conditions, ["!defined(pgd_index)"]);
        assert_eq!(s.defs[1].fallback.as_deref(), Some("#ifndef __HAVE_ARCH_PTE_ALLOC_ONE"));
        let m: Vec<_> = s.markers.iter().map(|m| (m.symbol, m.line, m.text.as_str())).collect();
        assert_eq!(m, [(0, 4, "#define pgd_index pgd_index"), (1, 8, "#define __HAVE_ARCH_PTE_ALLOC_ONE")]);
    }

    #[test]
    fn lexical_fallback_in_broken_file() {
        // Unbalanced junk before the definition puts it in an ERROR region.
        let src = "int x = ((( ;\n}}} @@ \nvoid __init mem_init(void)\n{\n\tfoo();\n}\n";
        let s = scan(src, &["mem_init"]);
        assert_eq!(s.defs.len(), 1, "{s:?}");
        assert_eq!(s.defs[0].line, 3);
        assert_eq!(s.defs[0].body, "void mem_init ( void ) { foo ( ) ; }");
    }

    #[test]
    fn lexical_params_forms() {
        let src = b"struct mm_struct *mm, unsigned long addr, void (*fn)(int), int";
        let toks = lex(src, false);
        assert_eq!(lexical_params(src, &toks), ["mm", "addr", "fn"]);
    }
}
