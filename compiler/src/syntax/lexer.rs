//! Lexer: source text to tokens.
//!
//! Takes: one file's text. Gives: spanned [`Token`]s (quantities and string interpolation
//! already split), the comments (for the formatter and doc lookup) and lexical diagnostics.
//! It never fails: bad text becomes [`Token::Error`] after a located diagnostic.

use super::token::{unit_names, Comment, Kw, TimeUnit, Token, Unit};
use crate::diag::{codes, Diagnostic};
use crate::source::{FileId, Span};

pub type Spanned = (Token, Span);

pub struct Lexed {
    pub tokens: Vec<Spanned>,
    pub comments: Vec<Comment>,
    pub diags: Vec<Diagnostic>,
}

/// Deepest nesting of interpolations (`"${"${…}"}"`): the lexer recurses on them, so it bounds
/// them itself. Brackets are bounded by the parser (`parser::MAX_DEPTH`).
const MAX_NESTING: usize = 64;

pub fn lex(file: FileId, text: &str) -> Lexed {
    let mut lx = Lexer {
        file,
        src: text.as_bytes(),
        text,
        pos: 0,
        unclosed_reported: false,
        out: Vec::new(),
        comments: Vec::new(),
        diags: Vec::new(),
    };
    lx.code(0, 0);
    Lexed { tokens: lx.out, comments: lx.comments, diags: lx.diags }
}

struct Lexer<'a> {
    file: FileId,
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    /// An unclosed interpolation was reported (nested ones are not reported again).
    unclosed_reported: bool,
    out: Vec<Spanned>,
    comments: Vec<Comment>,
    diags: Vec<Diagnostic>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

const OPS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "..", "{", "}", "[", "]", "(", ")", ",", ":", ".", "=", "<", ">", "+", "-",
    "*", "/", "!", "?", "|",
];

impl<'a> Lexer<'a> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start..end)
    }
    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }
    fn push(&mut self, tok: Token, start: usize) {
        let span = self.span(start, self.pos);
        self.out.push((tok, span));
    }
    fn error(&mut self, code: &'static str, start: usize, end: usize, msg: impl Into<String>) {
        let span = self.span(start, end);
        self.diags.push(Diagnostic::error(code, span, msg));
    }

    /// Lexes code until end of input or, inside an interpolation (`depth > 0`), the `}` that
    /// closes it at brace level zero. Returns true when it stopped at that `}`.
    fn code(&mut self, depth: usize, nesting: usize) -> bool {
        let mut braces = 0usize;
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'/' if self.peek(1) == Some(b'/') => self.line_comment(),
                b'/' if self.peek(1) == Some(b'*') => self.block_comment(),
                b'"' => self.string(nesting),
                b'#' => {
                    // Reported once and skipped to the end of the line (the rest is a comment
                    // in the language the writer came from).
                    let end = self.text[self.pos..].find('\n').map_or(self.src.len(), |i| self.pos + i);
                    let d = Diagnostic::error(
                        codes::BAD_CHARACTER,
                        self.span(start, start + 1),
                        "`#` does not start a comment here",
                    )
                    .with_help("write comments with // or /* */");
                    self.diags.push(d);
                    self.pos = end;
                }
                b'$' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => {
                    self.pos += 1;
                    self.number(start, true);
                }
                b'0'..=b'9' => self.number(start, false),
                c if is_ident_start(c) => {
                    while self.peek(0).is_some_and(is_ident_char) {
                        self.pos += 1;
                    }
                    let word = &self.text[start..self.pos];
                    let tok = Kw::parse(word).map_or_else(|| Token::Ident(word.to_string()), Token::Kw);
                    self.push(tok, start);
                }
                b'}' if depth > 0 && braces == 0 => {
                    self.pos += 1;
                    self.push(Token::InterpEnd, start);
                    return true;
                }
                _ => {
                    let rest = &self.src[self.pos..];
                    if let Some(op) = OPS.iter().find(|op| rest.starts_with(op.as_bytes())) {
                        self.pos += op.len();
                        if *op == "{" {
                            braces += 1;
                        } else if *op == "}" {
                            braces = braces.saturating_sub(1);
                        }
                        self.push(Token::Op(op), start);
                    } else {
                        let ch = self.text[self.pos..].chars().next().map_or(1, char::len_utf8);
                        self.pos += ch;
                        let shown = &self.text[start..self.pos];
                        self.error(codes::BAD_CHARACTER, start, self.pos, format!("unexpected character `{shown}`"));
                        // Reported and skipped: the tokens around it still parse.
                    }
                }
            }
        }
        false
    }

    fn line_comment(&mut self) {
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c != b'\n') {
            self.pos += 1;
        }
        let body = &self.text[start..self.pos];
        let doc = if body.starts_with("///") && !body.starts_with("////") {
            let t = &body[3..];
            Some(t.strip_prefix(' ').unwrap_or(t).trim_end().to_string())
        } else {
            None
        };
        self.comments.push(Comment { start: start as u32, end: self.pos as u32, doc });
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        let mut depth = 1;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (None, _) => {
                    self.error(codes::UNTERMINATED_COMMENT, start, start + 2, "block comment is never closed");
                    break;
                }
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
        self.comments.push(Comment { start: start as u32, end: self.pos as u32, doc: None });
    }

    fn digits(&mut self) -> bool {
        let mut any = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                any = true;
            } else if c != b'_' {
                break;
            }
            self.pos += 1;
        }
        any
    }

    fn number(&mut self, start: usize, money: bool) {
        let num_start = self.pos;
        self.digits();
        let mut float = false;
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.digits();
            float = true;
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if self.peek(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1 + sign;
                self.digits();
                float = true;
            }
        }
        let literal: String = self.text[num_start..self.pos].chars().filter(|&c| c != '_').collect();
        let value: f64 = literal.parse().unwrap_or(f64::NAN);
        if !value.is_finite() {
            self.error(
                codes::BAD_NUMBER,
                start,
                self.pos,
                format!("`{}` is not a finite number", &self.text[start..self.pos]),
            );
            self.push(Token::Error, start);
            return;
        }
        // Rates: `100/s`, `$3/h`, `$60_000/month`.
        if self.peek(0) == Some(b'/') && self.peek(1).is_some_and(is_ident_start) {
            let mut end = self.pos + 1;
            while self.src.get(end).copied().is_some_and(is_ident_char) {
                end += 1;
            }
            if let Some(tu) = TimeUnit::parse(&self.text[self.pos + 1..end]) {
                self.pos = end;
                let unit = if money { Unit::DollarsPer(tu) } else { Unit::PerTime(tu) };
                self.push(Token::Quantity(value, unit), start);
                return;
            }
            // Common spellings of time units from other tools: report them as units, not as
            // a division by an unknown name.
            let word = &self.text[self.pos + 1..end];
            let suggestion = match word {
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "min" | "mins" | "minute" | "minutes" => Some("m"),
                "hr" | "hrs" | "hour" | "hours" => Some("h"),
                "day" | "days" => Some("d"),
                "week" | "weeks" => Some("w"),
                "mo" | "mon" | "months" => Some("month"),
                _ => None,
            };
            if let Some(unit) = suggestion {
                let span = self.span(self.pos + 1, end);
                self.diags.push(
                    Diagnostic::error(codes::UNKNOWN_UNIT, span, format!("unknown time unit `{word}`"))
                        .with_help(format!("write `/{unit}`; time units are ms s m h d w, and month for rates")),
                );
                self.pos = end;
                self.push(Token::Error, start);
                return;
            }
        }
        if money {
            self.push(Token::Quantity(value, Unit::Dollars), start);
            return;
        }
        if self.peek(0) == Some(b'%') {
            self.pos += 1;
            self.push(Token::Quantity(value, Unit::Percent), start);
            return;
        }
        if self.peek(0).is_some_and(is_ident_start) {
            let unit_start = self.pos;
            while self.peek(0).is_some_and(is_ident_char) {
                self.pos += 1;
            }
            let word = &self.text[unit_start..self.pos];
            match Unit::parse_suffix(word) {
                Some(unit) => self.push(Token::Quantity(value, unit), start),
                None => {
                    let best = unit_names()
                        .map(|u| (strsim::jaro_winkler(u, word), u))
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .filter(|(score, _)| *score > 0.7);
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_UNIT,
                        self.span(unit_start, self.pos),
                        format!("unknown unit `{word}`"),
                    );
                    d = match best {
                        Some((_, u)) => d.with_help(format!("did you mean `{u}`? units are ms s m h d w, B KB MB GB TB PB, KiB MiB GiB TiB PiB, %")),
                        None => d.with_help("units are ms s m h d w, B KB MB GB TB PB, KiB MiB GiB TiB PiB, %; put a space before a name"),
                    };
                    self.diags.push(d);
                    self.push(Token::Error, start);
                }
            }
            return;
        }
        if float {
            self.push(Token::Float(value), start);
        } else {
            match literal.parse::<i64>() {
                Ok(n) => self.push(Token::Int(n), start),
                Err(_) => {
                    self.error(codes::BAD_NUMBER, start, self.pos, "integer is too large");
                    self.push(Token::Error, start);
                }
            }
        }
    }

    fn string(&mut self, nesting: usize) {
        let start = self.pos;
        let triple = self.src[self.pos..].starts_with(b"\"\"\"");
        self.pos += if triple { 3 } else { 1 };
        self.push(Token::StrStart, start);
        let indent = if triple { self.common_indent() } else { 0 };
        // Text on the line of the opening quotes is kept as is; the dedent applies from the
        // next line on.
        let mut at_line_start = false;
        if triple && matches!((self.peek(0), self.peek(1)), (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n'))) {
            self.pos += if self.peek(0) == Some(b'\r') { 2 } else { 1 };
            at_line_start = true;
        }
        let mut text = String::new();
        let mut text_start = self.pos;
        loop {
            if at_line_start {
                let mut n = 0;
                while n < indent && matches!(self.peek(0), Some(b' ' | b'\t')) {
                    self.pos += 1;
                    n += 1;
                }
                at_line_start = false;
            }
            let Some(c) = self.peek(0) else {
                self.error(
                    codes::UNTERMINATED_STRING,
                    start,
                    start + if triple { 3 } else { 1 },
                    "string is never closed",
                );
                self.flush_text(&mut text, text_start, true);
                self.push(Token::StrEnd, self.pos);
                return;
            };
            let closing = if triple { self.src[self.pos..].starts_with(b"\"\"\"") } else { c == b'"' };
            if closing {
                if triple {
                    // Drop the last line when it only indents the closing quotes.
                    if let Some(nl) = text.rfind('\n') {
                        if text[nl + 1..].chars().all(|c| c == ' ' || c == '\t') {
                            text.truncate(nl);
                        }
                    }
                }
                self.flush_text(&mut text, text_start, false);
                let q = self.pos;
                self.pos += if triple { 3 } else { 1 };
                self.push(Token::StrEnd, q);
                return;
            }
            match c {
                // CRLF files: the string's line breaks are `\n`, so reformatting to LF keeps its value.
                b'\r' if self.peek(1) == Some(b'\n') => self.pos += 1,
                b'\n' if !triple => {
                    self.error(codes::UNTERMINATED_STRING, start, start + 1, "string is never closed on its line");
                    self.flush_text(&mut text, text_start, true);
                    self.push(Token::StrEnd, self.pos);
                    return;
                }
                b'\n' => {
                    text.push('\n');
                    self.pos += 1;
                    at_line_start = true;
                }
                b'\\' => {
                    let esc = match self.peek(1) {
                        Some(b'n') => Some('\n'),
                        Some(b't') => Some('\t'),
                        Some(b'"') => Some('"'),
                        Some(b'\\') => Some('\\'),
                        Some(b'$') => Some('$'),
                        _ => None,
                    };
                    match esc {
                        Some(ch) => {
                            text.push(ch);
                            self.pos += 2;
                        }
                        None => {
                            let len = self.text[self.pos + 1..].chars().next().map_or(0, char::len_utf8);
                            self.error(
                                codes::BAD_ESCAPE,
                                self.pos,
                                self.pos + 1 + len,
                                "unknown escape; use \\n \\t \\\" \\\\ or \\$",
                            );
                            self.pos += 1 + len;
                        }
                    }
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.flush_text(&mut text, text_start, false);
                    let s = self.pos;
                    self.pos += 2;
                    self.push(Token::InterpStart, s);
                    if nesting >= MAX_NESTING {
                        self.error(codes::SYNTAX, s, s + 2, "interpolations are nested too deeply");
                        self.pos = self.src.len();
                        return;
                    }
                    if !self.code(1, nesting + 1) {
                        // Reported once, at the innermost: the enclosing ones end with it.
                        if !self.unclosed_reported {
                            self.unclosed_reported = true;
                            self.error(codes::UNTERMINATED_STRING, s, s + 2, "interpolation is never closed with `}`");
                        }
                        return;
                    }
                    text_start = self.pos;
                }
                _ => {
                    let ch = self.text[self.pos..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn flush_text(&mut self, text: &mut String, start: usize, force: bool) {
        if !text.is_empty() || force {
            let span = self.span(start, self.pos);
            self.out.push((Token::StrText(std::mem::take(text)), span));
        }
    }

    /// Common leading whitespace of the non-blank lines of a `"""` string starting at `pos`.
    fn common_indent(&self) -> usize {
        let rest = &self.text[self.pos..];
        let body = rest.find("\"\"\"").map_or(rest, |e| &rest[..e]);
        body.lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
            .min()
            .unwrap_or(0)
    }
}
