//! The formatter: a file's text to its canonical layout.
//!
//! Takes: source text. Gives: the same tokens and comments, re-indented by bracket depth
//! (two spaces per level, continuation lines one level deeper), with `=` aligned across
//! runs of single-line fields in a block, trailing spaces removed, blank lines collapsed to
//! one and one final newline. It works on tokens, so it never changes meaning; a file with
//! syntax errors is left alone. Text inside strings and block comments is kept byte for
//! byte, line endings (`\r` included) too; elsewhere CRLF becomes LF. A leading UTF-8 byte
//! order mark is kept as it was. One pass settles: `format(format(x)) == format(x)`. Linear
//! in the input.

use crate::diag::Diagnostic;
use crate::source::FileId;
use crate::syntax::lexer::lex;
use crate::syntax::token::Token;

/// The canonical layout of `text`, or its syntax errors (spans relative to the text after
/// a leading byte order mark, as [`crate::source::strip_bom`] gives it).
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let body = crate::source::strip_bom(text);
    let parsed = crate::syntax::parse_file(FileId(0), body);
    if !parsed.diags.is_empty() {
        return Err(parsed.diags);
    }
    let mut out = text[..text.len() - body.len()].to_string();
    out.push_str(&layout(body));
    Ok(out)
}

struct Line<'a> {
    /// Text without leading/trailing whitespace ("" for a blank line).
    body: &'a str,
    /// Bracket depth at the start of the line.
    depth: usize,
    /// Continuation of an expression from the line before.
    continued: bool,
    /// `NAME = …` with the byte length of NAME, when the line can join an alignment run.
    field: Option<usize>,
    /// Inside a multi-line string or block comment: kept verbatim.
    verbatim: bool,
}

fn layout(text: &str) -> String {
    let lexed = lex(FileId(0), text);
    // Per line: depth at start, first/last token, whether the line is inside a string/comment.
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |off: usize| line_starts.partition_point(|&s| s <= off) - 1;
    let n = line_starts.len();
    let mut depth_at = vec![usize::MAX; n];
    let mut first_tok: Vec<Option<&Token>> = vec![None; n];
    let mut last_tok: Vec<Option<&Token>> = vec![None; n];
    let mut tokens_on: Vec<Vec<&Token>> = vec![Vec::new(); n];
    let mut verbatim = vec![false; n];
    // The line's own line break is inside a string or block comment: kept byte for byte.
    let mut keep_end = vec![false; n];
    let mut depth = 0usize;
    let mut in_string = 0usize;
    let mut string_start_line = 0usize;
    for (tok, span) in &lexed.tokens {
        let l = line_of(span.start as usize);
        if depth_at[l] == usize::MAX {
            depth_at[l] = depth;
        }
        if in_string == 0 || matches!(tok, Token::StrStart) {
            first_tok[l].get_or_insert(tok);
        }
        match tok {
            Token::StrStart => {
                if in_string == 0 {
                    string_start_line = l;
                }
                in_string += 1;
            }
            Token::StrEnd => {
                in_string = in_string.saturating_sub(1);
                let end_line = line_of(span.end as usize);
                if in_string == 0 {
                    mark(&mut verbatim, &mut keep_end, string_start_line, end_line);
                    last_tok[end_line] = Some(tok);
                }
            }
            Token::Op("{" | "[" | "(") => depth += 1,
            Token::Op("}" | "]" | ")") => depth = depth.saturating_sub(1),
            _ => {}
        }
        if in_string == 0 && !matches!(tok, Token::StrEnd) {
            last_tok[line_of(span.end.saturating_sub(1) as usize)] = Some(tok);
        }
        tokens_on[l].push(tok);
    }
    for c in &lexed.comments {
        let (a, b) = (line_of(c.start as usize), line_of(c.end.saturating_sub(1) as usize));
        mark(&mut verbatim, &mut keep_end, a, b);
    }
    let next_depth = next_depths(&depth_at);
    // Lines with only a comment take the depth of the next code line.
    let mut lines: Vec<Line> = Vec::with_capacity(n);
    let mut prev_last: Option<&Token> = None;
    let mut carry = 0usize;
    for i in 0..n {
        let start = line_starts[i];
        let end = line_starts.get(i + 1).map_or(text.len(), |e| e - 1);
        let raw = &text[start..end];
        let raw = if keep_end[i] { raw } else { raw.trim_end_matches('\r') };
        if verbatim[i] {
            if last_tok[i].is_some() {
                prev_last = last_tok[i];
            }
            lines.push(Line { body: raw, depth: 0, continued: false, field: None, verbatim: true });
            continue;
        }
        // A line that opens a multi-line string or comment keeps its trailing text: it is content.
        let body = if keep_end[i] { raw.trim_start() } else { raw.trim() };
        let mut d = if depth_at[i] == usize::MAX { next_depth[i].unwrap_or(carry) } else { depth_at[i] };
        if let Some(Token::Op("}" | "]" | ")")) = first_tok[i] {
            d = d.saturating_sub(1);
        }
        carry = d;
        let continued = first_tok[i].is_some_and(|t| {
            matches!(t, Token::Kw(crate::syntax::token::Kw::Else | crate::syntax::token::Kw::Then))
                || matches!(t, Token::Op("||" | "&&" | "+" | "*" | "/" | "==" | "!=" | "<" | ">" | "<=" | ">=" | ".."))
        }) || prev_last
            .is_some_and(|t| matches!(t, Token::Op("=" | "||" | "&&" | "+" | "-" | "*" | "/")));
        let toks = &tokens_on[i];
        let opens_block = last_tok[i].is_some_and(|t| matches!(t, Token::Op("{")));
        let field = match (toks.first(), toks.get(1)) {
            (Some(Token::Ident(name)), Some(Token::Op("="))) if !opens_block && body.starts_with(name.as_str()) => {
                Some(name.len())
            }
            _ => None,
        };
        if first_tok[i].is_some() {
            prev_last = last_tok[i];
        }
        lines.push(Line { body, depth: d, continued, field, verbatim: false });
    }
    render(&lines)
}

/// Lines `first + 1 ..= last` are inside one string or comment (kept verbatim); the line
/// breaks of lines `first .. last` belong to it.
fn mark(verbatim: &mut [bool], keep_end: &mut [bool], first: usize, last: usize) {
    for v in verbatim.iter_mut().take(last + 1).skip(first + 1) {
        *v = true;
    }
    for k in keep_end.iter_mut().take(last).skip(first) {
        *k = true;
    }
}

/// For each line, the depth of the next line after it that has a token (`usize::MAX` in
/// `depth_at` marks lines without one), computed in one backward pass.
fn next_depths(depth_at: &[usize]) -> Vec<Option<usize>> {
    let mut out = vec![None; depth_at.len()];
    let mut next = None;
    for (i, d) in depth_at.iter().enumerate().rev() {
        out[i] = next;
        if *d != usize::MAX {
            next = Some(*d);
        }
    }
    out
}

fn render(lines: &[Line]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut blank_run = 0;
    while i < lines.len() {
        let line = &lines[i];
        if line.verbatim {
            out.push_str(line.body);
            out.push('\n');
            i += 1;
            blank_run = 0;
            continue;
        }
        if line.body.is_empty() {
            blank_run += 1;
            if blank_run == 1 && !out.is_empty() {
                out.push('\n');
            }
            i += 1;
            continue;
        }
        blank_run = 0;
        // An alignment run: consecutive field lines at the same depth, none continued.
        if line.field.is_some() && !line.continued {
            let mut j = i;
            let mut width = 0;
            let member = |l: &Line| l.field.is_some() && !l.verbatim && l.depth == line.depth && !l.continued;
            loop {
                // Comment lines between two members do not break the run.
                let mut k = j;
                while k > i && k < lines.len() && lines[k].body.starts_with("//") && !lines[k].verbatim {
                    k += 1;
                }
                if k < lines.len() && k != j && member(&lines[k]) {
                    j = k;
                }
                if !(j < lines.len() && member(&lines[j])) {
                    break;
                }
                width = width.max(lines[j].field.unwrap_or(0));
                j += 1;
                // Continuation lines of a member stay with it but do not break the run.
                while j < lines.len() && lines[j].continued && !lines[j].body.is_empty() {
                    j += 1;
                }
            }
            for l in &lines[i..j] {
                indent(&mut out, l);
                match l.field {
                    Some(len) if !l.continued => {
                        let (name, rest) = l.body.split_at(len);
                        let rest = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim_start();
                        out.push_str(name);
                        out.push_str(&" ".repeat(width - len + 1));
                        out.push_str("= ");
                        out.push_str(rest);
                    }
                    _ => out.push_str(l.body),
                }
                out.push('\n');
            }
            i = j;
            continue;
        }
        indent(&mut out, line);
        out.push_str(line.body);
        out.push('\n');
        i += 1;
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    if out.is_empty() {
        return out;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn indent(out: &mut String, line: &Line) {
    let levels = line.depth + usize::from(line.continued);
    out.push_str(&"  ".repeat(levels));
}
