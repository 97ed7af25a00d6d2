//! A writer for Terraform's HCL that produces exactly what `terraform fmt` would.
//!
//! Takes: typed [`Block`]s of attributes and nested blocks. Gives: text. Why not a crate:
//! hcl-rs's formatter is built for round-tripping HCL values and does not promise
//! `terraform fmt`'s layout (alignment runs broken by multi-line values and comments); a
//! small writer with those rules, checked by `terraform fmt -check` in the tests, is simpler.
//! Layout: two-space indents; `=` aligned across runs of single-line attributes (a
//! multi-line value, a comment, a blank line or a block ends a run); blocks separated by a
//! blank line. Strings are escaped so that no value can start an interpolation or directive.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// A reference, function call or other expression written as is (never user text).
    Raw(String),
    List(Vec<Expr>),
    /// An object; written on one line when short and flat, otherwise one entry per line.
    Object(Vec<(String, Expr)>),
    /// A function call such as `jsonencode({…})` or `format("%s:*", x)`. The arguments are
    /// expressions, so user strings inside stay escaped; only the last one should be multi-line.
    Call(String, Vec<Expr>),
}

impl Expr {
    pub fn str(s: impl Into<String>) -> Expr {
        Expr::Str(s.into())
    }
    pub fn raw(s: impl Into<String>) -> Expr {
        Expr::Raw(s.into())
    }
    pub fn strs<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Expr {
        Expr::List(items.into_iter().map(|s| Expr::Str(s.into())).collect())
    }
    pub fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(name.to_string(), args)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Attr(String, Expr),
    Block(Block),
    /// `# text` on its own line.
    Comment(String),
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    pub items: Vec<Item>,
}

impl Block {
    pub fn new(kind: &str, labels: &[&str]) -> Block {
        Block { kind: kind.to_string(), labels: labels.iter().map(|l| l.to_string()).collect(), items: Vec::new() }
    }
    pub fn attr(mut self, key: &str, value: Expr) -> Block {
        self.items.push(Item::Attr(key.to_string(), value));
        self
    }
    pub fn attr_opt(self, key: &str, value: Option<Expr>) -> Block {
        match value {
            Some(v) => self.attr(key, v),
            None => self,
        }
    }
    pub fn block(mut self, b: Block) -> Block {
        self.items.push(Item::Block(b));
        self
    }
    pub fn comment(mut self, text: &str) -> Block {
        self.items.push(Item::Comment(text.to_string()));
        self
    }
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }
}

/// Escapes a string for an HCL quoted template: no `${` or `%{` survives unescaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if next == Some('{') => out.push_str("$$"),
            '%' if next == Some('{') => out.push_str("%%"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident {
        k.to_string()
    } else {
        quote(k)
    }
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The expression on one line, if it has one.
fn inline(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Str(s) => quote(s),
        Expr::Int(n) => n.to_string(),
        Expr::Num(x) => number(*x),
        Expr::Bool(b) => b.to_string(),
        Expr::Raw(r) if !r.contains('\n') => r.clone(),
        Expr::Raw(_) => return None,
        Expr::List(xs) => {
            if xs.iter().any(|x| matches!(x, Expr::Object(_) | Expr::List(_))) {
                return None;
            }
            let parts: Option<Vec<String>> = xs.iter().map(inline).collect();
            let text = format!("[{}]", parts?.join(", "));
            if text.len() > 100 {
                return None;
            }
            text
        }
        Expr::Object(kv) => {
            if kv.is_empty() {
                return Some("{}".into());
            }
            return None;
        }
        Expr::Call(name, args) => {
            let parts: Option<Vec<String>> = args.iter().map(inline).collect();
            format!("{name}({})", parts?.join(", "))
        }
    })
}

fn write_expr(out: &mut String, e: &Expr, indent: usize) {
    if let Some(s) = inline(e) {
        out.push_str(&s);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match e {
        Expr::List(xs) => {
            out.push_str("[\n");
            for x in xs {
                out.push_str(&pad);
                write_expr(out, x, indent + 1);
                out.push_str(",\n");
            }
            out.push_str(&"  ".repeat(indent));
            out.push(']');
        }
        Expr::Object(kv) => {
            out.push_str("{\n");
            let entries: Vec<(String, &Expr)> = kv.iter().map(|(k, v)| (key(k), v)).collect();
            write_entries(out, &entries, indent + 1);
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        Expr::Raw(r) => out.push_str(r),
        Expr::Call(name, args) => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a, indent);
            }
            out.push(')');
        }
        _ => {}
    }
}

/// `key = value` lines with `=` aligned over runs of single-line values.
fn write_entries(out: &mut String, entries: &[(String, &Expr)], indent: usize) {
    let pad = "  ".repeat(indent);
    let mut i = 0;
    while i < entries.len() {
        if inline(entries[i].1).is_none() {
            out.push_str(&pad);
            out.push_str(&entries[i].0);
            out.push_str(" = ");
            write_expr(out, entries[i].1, indent);
            out.push('\n');
            i += 1;
            continue;
        }
        let mut j = i;
        while j < entries.len() && inline(entries[j].1).is_some() {
            j += 1;
        }
        let width = entries[i..j].iter().map(|e| e.0.chars().count()).max().unwrap_or(0);
        for (k, v) in &entries[i..j] {
            let _ =
                writeln!(out, "{pad}{k}{} = {}", " ".repeat(width - k.chars().count()), inline(v).unwrap_or_default());
        }
        i = j;
    }
}

fn write_block(out: &mut String, b: &Block, indent: usize) {
    let pad = "  ".repeat(indent);
    out.push_str(&pad);
    out.push_str(&b.kind);
    for l in &b.labels {
        out.push(' ');
        out.push_str(&quote(l));
    }
    if b.items.is_empty() {
        out.push_str(" {}\n");
        return;
    }
    out.push_str(" {\n");
    let mut run: Vec<(String, &Expr)> = Vec::new();
    let mut prev_block = false;
    for item in &b.items {
        match item {
            Item::Attr(k, v) => {
                if prev_block {
                    out.push('\n');
                    prev_block = false;
                }
                run.push((key(k), v));
            }
            Item::Comment(c) => {
                write_entries(out, &run, indent + 1);
                run.clear();
                for line in c.lines() {
                    let _ = writeln!(out, "{pad}  # {}", line.trim_end());
                }
            }
            Item::Block(inner) => {
                if !run.is_empty() || prev_block {
                    write_entries(out, &run, indent + 1);
                    run.clear();
                    out.push('\n');
                }
                write_block(out, inner, indent + 1);
                prev_block = true;
            }
        }
    }
    write_entries(out, &run, indent + 1);
    out.push_str(&pad);
    out.push_str("}\n");
}

/// A whole file: top-level blocks separated by blank lines, with an optional header comment.
pub fn file(header: &str, blocks: &[Block]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {}", line.trim_end());
    }
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 || !header.is_empty() {
            out.push('\n');
        }
        write_block(&mut out, b, 0);
    }
    out
}

#[cfg(test)]
mod call_tests {
    use super::*;

    #[test]
    fn calls_inline_or_wrap_their_last_argument() {
        let b = Block::new("x", &[])
            .attr("a", Expr::call("format", vec![Expr::str("%s:*"), Expr::raw("aws_s3_bucket.b.arn")]))
            .attr("policy", Expr::call("jsonencode", vec![Expr::Object(vec![("Version".into(), Expr::str("${v}"))])]));
        assert_eq!(
            file("", &[b]),
            "x {\n  a = format(\"%s:*\", aws_s3_bucket.b.arn)\n  policy = jsonencode({\n    Version = \"$${v}\"\n  })\n}\n"
        );
    }
}
