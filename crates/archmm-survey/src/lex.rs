//! A small C lexer: just enough to normalise definition bodies and to read
//! preprocessor directives.
//!
//! The lexer works on bytes (kernel sources are mostly ASCII, but some
//! comments hold Latin-1 or UTF-8 names) and never fails: anything it does
//! not recognise becomes a one-byte [`TokenKind::Other`] token. Comments and
//! white space, including backslash-newline line continuations, produce no
//! tokens at all; that is what makes two definitions that differ only in
//! layout or comments compare equal.
//!
//! When asked to (see [`lex`]), a `#` that is the first token of a logical
//! line starts a [`TokenKind::Directive`] token that runs to the end of the
//! logical line; comments inside it (even `/* */` comments that span lines)
//! are part of its byte range but not of [`directive_text`].

/// What a [`Token`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `[A-Za-z_][A-Za-z0-9_$]*`.
    Ident,
    /// A preprocessing number (`0x1f`, `1UL`, `1e+3`, `.5`).
    Number,
    /// A string literal, quotes included.
    Str,
    /// A character literal, quotes included.
    Char,
    /// An operator or punctuator (`->`, `<<=`, `{`, ...).
    Punct,
    /// A whole preprocessor directive line (only when directives are enabled).
    Directive,
    /// A byte the lexer does not know (non-ASCII, a stray backslash, ...).
    Other,
}

/// One token: its kind and its byte range in the lexed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Token {
    /// The token's bytes in `src` (the same input that was lexed).
    pub fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start..self.end]
    }
}

/// Is `b` a byte that may continue a C identifier?
///
/// `$` is accepted because GCC (and so the kernel, rarely) allows it.
#[inline]
pub fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Is `b` a byte that may start a C identifier?
#[inline]
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// Three- and two-byte punctuators, longest first so the first match wins.
const PUNCTS: [&[u8]; 22] = [
    b"...", b"<<=", b">>=", b"->", b"++", b"--", b"<<", b">>", b"<=", b">=", b"==", b"!=", b"&&", b"||", b"+=", b"-=",
    b"*=", b"/=", b"%=", b"&=", b"|=", b"^=",
];

/// Lexes `src` into tokens, dropping white space and comments.
///
/// * `src` - the bytes to lex: a whole file, or a slice of one such as a
///   macro's replacement text.
/// * `directives` - when true, a `#` that starts a logical line produces one
///   [`TokenKind::Directive`] token for the whole directive; when false
///   (for a macro body, where `#` means stringification), `#` and `##` are
///   ordinary punctuators.
///
/// Returns the tokens in order. Never fails: unterminated comments and
/// literals simply run to the end of the input.
pub fn lex(src: &[u8], directives: bool) -> Vec<Token> {
    let mut toks = Vec::with_capacity(src.len() / 4);
    let mut i = 0;
    let n = src.len();
    // True while only white space has been seen since the last real newline.
    let mut line_start = true;
    while i < n {
        let b = src[i];
        match b {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'\\' if continuation_len(src, i) > 0 => i += continuation_len(src, i),
            b'/' if src.get(i + 1) == Some(&b'*') => i = skip_block_comment(src, i),
            b'/' if src.get(i + 1) == Some(&b'/') => i = skip_line_comment(src, i),
            b'#' if directives && line_start => {
                let end = directive_end(src, i);
                toks.push(Token { kind: TokenKind::Directive, start: i, end });
                i = end;
                // directive_end stops at the newline, which the loop then sees.
            }
            _ => {
                line_start = false;
                let (kind, end) = lex_one(src, i);
                toks.push(Token { kind, start: i, end });
                i = end;
            }
        }
    }
    toks
}

/// Length of a line continuation (`\` + optional `\r` + `\n`) at `i`, or 0.
#[inline]
fn continuation_len(src: &[u8], i: usize) -> usize {
    match (src.get(i + 1), src.get(i + 2)) {
        (Some(b'\n'), _) => 2,
        (Some(b'\r'), Some(b'\n')) => 3,
        _ => 0,
    }
}

/// Returns the offset just past the `*/` closing the comment that starts at `i`.
fn skip_block_comment(src: &[u8], i: usize) -> usize {
    match memchr::memmem::find(&src[i + 2..], b"*/") {
        Some(p) => i + 2 + p + 2,
        None => src.len(),
    }
}

/// Returns the offset of the newline ending the `//` comment at `i`
/// (a backslash-newline continues the comment, as in C).
fn skip_line_comment(src: &[u8], mut i: usize) -> usize {
    while i < src.len() {
        match src[i] {
            b'\n' => return i,
            b'\\' if continuation_len(src, i) > 0 => i += continuation_len(src, i),
            _ => i += 1,
        }
    }
    i
}

/// Returns the offset of the newline that ends the directive starting at `i`.
fn directive_end(src: &[u8], mut i: usize) -> usize {
    while i < src.len() {
        match src[i] {
            b'\n' => return i,
            b'\\' if continuation_len(src, i) > 0 => i += continuation_len(src, i),
            b'/' if src.get(i + 1) == Some(&b'*') => i = skip_block_comment(src, i),
            b'/' if src.get(i + 1) == Some(&b'/') => return skip_line_comment(src, i),
            b'"' | b'\'' => i = skip_quoted(src, i),
            _ => i += 1,
        }
    }
    i
}

/// Returns the offset just past the string or character literal at `i`.
/// An unescaped newline also ends it (an unterminated literal).
fn skip_quoted(src: &[u8], i: usize) -> usize {
    let q = src[i];
    let mut j = i + 1;
    while j < src.len() {
        match src[j] {
            b'\\' => j += 2,
            b'\n' => return j,
            c if c == q => return j + 1,
            _ => j += 1,
        }
    }
    src.len()
}

/// Lexes one non-space, non-comment token at `i`; returns its kind and end.
fn lex_one(src: &[u8], i: usize) -> (TokenKind, usize) {
    let b = src[i];
    if is_ident_start(b) {
        let mut j = i + 1;
        while j < src.len() && is_ident_byte(src[j]) {
            j += 1;
        }
        return (TokenKind::Ident, j);
    }
    if b.is_ascii_digit() || (b == b'.' && src.get(i + 1).is_some_and(u8::is_ascii_digit)) {
        let mut j = i + 1;
        while j < src.len() {
            let c = src[j];
            let exponent_sign = matches!(c, b'+' | b'-') && matches!(src[j - 1], b'e' | b'E' | b'p' | b'P');
            if exponent_sign || is_ident_byte(c) || c == b'.' {
                j += 1;
            } else {
                break;
            }
        }
        return (TokenKind::Number, j);
    }
    if b == b'"' {
        return (TokenKind::Str, skip_quoted(src, i));
    }
    if b == b'\'' {
        return (TokenKind::Char, skip_quoted(src, i));
    }
    if b == b'#' {
        let end = if src.get(i + 1) == Some(&b'#') { i + 2 } else { i + 1 };
        return (TokenKind::Punct, end);
    }
    for p in PUNCTS {
        if src[i..].starts_with(p) {
            return (TokenKind::Punct, i + p.len());
        }
    }
    if b.is_ascii_punctuation() {
        return (TokenKind::Punct, i + 1);
    }
    (TokenKind::Other, i + 1)
}

/// The text of a directive token with comments removed, continuations
/// joined and every run of white space turned into one space.
///
/// For example `#  if  defined(X) /* why */ \` + newline + `&& Y` gives
/// `#if defined(X) && Y`: the space after `#` is dropped so that the
/// directive name can be read with [`directive_name`].
pub fn directive_text(src: &[u8], tok: &Token) -> String {
    let raw = &src[tok.start..tok.end];
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let mut pending_space = false;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => {
                pending_space = true;
                i += 1;
            }
            b'\\' if continuation_len(raw, i) > 0 => {
                pending_space = true;
                i += continuation_len(raw, i);
            }
            b'/' if raw.get(i + 1) == Some(&b'*') => {
                pending_space = true;
                i = skip_block_comment(raw, i);
            }
            b'/' if raw.get(i + 1) == Some(&b'/') => break,
            b'"' | b'\'' => {
                if pending_space && out.len() > 1 {
                    out.push(b' ');
                }
                pending_space = false;
                let end = skip_quoted(raw, i);
                out.extend_from_slice(&raw[i..end]);
                i = end;
            }
            _ => {
                // No space directly after the leading '#'.
                if pending_space && out.len() > 1 {
                    out.push(b' ');
                }
                pending_space = false;
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a normalised directive (from [`directive_text`]) into its name
/// and the rest: `#ifdef X` gives `("ifdef", "X")`, `#endif` gives
/// `("endif", "")`, a null directive `#` gives `("", "")`.
pub fn directive_name(text: &str) -> (&str, &str) {
    let body = text.strip_prefix('#').unwrap_or(text);
    let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    (&body[..end], body[end..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, directives: bool) -> Vec<String> {
        lex(src.as_bytes(), directives)
            .iter()
            .map(|t| String::from_utf8_lossy(t.text(src.as_bytes())).into_owned())
            .collect()
    }

    #[test]
    fn drops_comments_and_space() {
        let t = texts("a /* x\n y */ b // c\n c->d", false);
        assert_eq!(t, ["a", "b", "c", "->", "d"]);
    }

    #[test]
    fn continuation_is_space() {
        let t = texts("#define X(a) \\\n  ((a) + 1)\nint y;", true);
        assert_eq!(t, ["#define X(a) \\\n  ((a) + 1)", "int", "y", ";"]);
    }

    #[test]
    fn directive_only_at_line_start() {
        let t = texts("x # y\n  #if Z\n", true);
        assert_eq!(t, ["x", "#", "y", "#if Z"]);
        // Without directives, '#' and '##' are punctuators.
        assert_eq!(texts("#a ## b", false), ["#", "a", "##", "b"]);
    }

    #[test]
    fn directive_with_comment_spanning_lines() {
        let src = b"#if A /* one\n two */ && B\nint x;";
        let toks = lex(src, true);
        assert_eq!(toks[0].kind, TokenKind::Directive);
        assert_eq!(directive_text(src, &toks[0]), "#if A && B");
        assert_eq!(toks.len(), 4);
    }

    #[test]
    fn directive_names() {
        let src = b"#  ifndef  FOO // guard\n";
        let toks = lex(src, true);
        let text = directive_text(src, &toks[0]);
        assert_eq!(text, "#ifndef FOO");
        assert_eq!(directive_name(&text), ("ifndef", "FOO"));
        assert_eq!(directive_name("#endif"), ("endif", ""));
        assert_eq!(directive_name("#"), ("", ""));
    }

    #[test]
    fn literals_and_numbers() {
        let t = texts(r#"s = "a /* b */ \" c"; c = '\''; n = 0x1fUL + 1e+3;"#, false);
        assert_eq!(
            t,
            ["s", "=", r#""a /* b */ \" c""#, ";", "c", "=", r"'\''", ";", "n", "=", "0x1fUL", "+", "1e+3", ";"]
        );
    }

    #[test]
    fn never_panics_on_junk() {
        for src in [&b"\"unterminated"[..], b"/* open", b"'", b"\\", b"#", b"\xff\xfe\x00", b"a\\\r\nb"] {
            let _ = lex(src, true);
            let _ = lex(src, false);
        }
    }
}
