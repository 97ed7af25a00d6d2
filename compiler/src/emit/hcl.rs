//! A writer for Terraform's HCL that produces exactly what `terraform fmt` would.
//!
//! Takes: typed [`Block`]s of attributes and nested blocks, and for references by
//! [`Address`] a [`Names`] lookup (the resource graph). Gives: text. Why not a crate:
//! hcl-rs's formatter is built for round-tripping HCL values and does not promise
//! `terraform fmt`'s layout (alignment runs broken by multi-line values and comments); a
//! small writer with those rules, checked by `terraform fmt -check` in the tests, is simpler.
//! Layout: two-space indents; `=` aligned across runs of single-line attributes (a
//! multi-line value, a comment, a blank line or a block ends a run); blocks separated by a
//! blank line. Strings are escaped so that no value can start an interpolation or directive.
//! References are typed: a managed resource by its Terraform identity ([`Expr::Tf`], as the
//! emitters write them) or, once [`crate::graph`] has resolved it, by address ([`Expr::Ref`]);
//! data sources, variables and locals by name. [`Expr::Raw`] is left only for what is not a
//! reference: type constraints (`map(string)`), provider aliases (`aws.us_east_1`),
//! `each.value`, attribute paths in `ignore_changes`, one index (`values(var.subnets)[0]`)
//! and two conditions (`var.x == null ? 0 : 1`, the account precondition on
//! `data.aws_caller_identity`).

use crate::graph::{Address, Ref};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Null,
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// A managed resource (`aws_s3_bucket.models`) or one of its attributes, by Terraform
    /// identity; [`crate::graph::build`] turns each into an [`Expr::Ref`].
    Tf {
        #[serde(rename = "type")]
        type_: String,
        name: String,
        attr: Option<String>,
    },
    /// A resource of the graph, or one of its attributes, by address.
    Ref(Ref),
    /// `data.<type>.<name>.<attr>`.
    Data {
        #[serde(rename = "type")]
        type_: String,
        name: String,
        attr: String,
    },
    /// `var.<path>`.
    Var(String),
    /// `local.<name>`.
    Local(String),
    /// A quoted template: string parts are escaped, the others interpolated (`"${x}/*"`).
    Template(Vec<Expr>),
    /// An expression written as is (never user text, never a reference to a resource).
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
    /// `<type>.<name>.<attr>`, a managed resource's attribute.
    pub fn tf(type_: &str, name: &str, attr: &str) -> Expr {
        Expr::Tf { type_: type_.to_string(), name: name.to_string(), attr: Some(attr.to_string()) }
    }
    /// `<type>.<name>`, the resource itself (as `depends_on` lists it).
    pub fn tf_resource(type_: &str, name: &str) -> Expr {
        Expr::Tf { type_: type_.to_string(), name: name.to_string(), attr: None }
    }
    pub fn data(type_: &str, name: &str, attr: &str) -> Expr {
        Expr::Data { type_: type_.to_string(), name: name.to_string(), attr: attr.to_string() }
    }
    pub fn var(path: impl std::fmt::Display) -> Expr {
        Expr::Var(path.to_string())
    }
    /// `"${reference}<suffix>"`.
    pub fn suffixed(reference: Expr, suffix: &str) -> Expr {
        Expr::Template(vec![reference, Expr::str(suffix)])
    }
}

/// The Terraform identity (`aws_s3_bucket.models`) of a resource address, for [`Expr::Ref`].
pub trait Names {
    fn terraform(&self, address: &Address) -> Option<String>;
}

/// For blocks that hold no [`Expr::Ref`] (as the emitters build them).
pub struct NoNames;

impl Names for NoNames {
    fn terraform(&self, _: &Address) -> Option<String> {
        None
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Attr(String, Expr),
    Block(Block),
    /// `# text` on its own line.
    Comment(String),
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
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
    escape_into(&mut out, s);
    out.push('"');
    out
}

fn escape_into(out: &mut String, s: &str) {
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

/// `<identity>` or `<identity>.<attr>`.
fn reference(identity: String, attr: &Option<String>) -> String {
    match attr {
        Some(a) => format!("{identity}.{a}"),
        None => identity,
    }
}

/// A quoted template: string parts escaped, the others as `${…}`.
fn template(parts: &[Expr], n: &dyn Names) -> Option<String> {
    let mut out = String::from("\"");
    for p in parts {
        match p {
            Expr::Str(s) => escape_into(&mut out, s),
            other => {
                let _ = write!(out, "${{{}}}", inline(other, n)?);
            }
        }
    }
    out.push('"');
    Some(out)
}

/// The expression on one line, if it has one.
fn inline(e: &Expr, n: &dyn Names) -> Option<String> {
    Some(match e {
        Expr::Null => "null".into(),
        Expr::Str(s) => quote(s),
        Expr::Int(i) => i.to_string(),
        Expr::Num(x) => number(*x),
        Expr::Bool(b) => b.to_string(),
        Expr::Tf { type_, name, attr } => reference(format!("{type_}.{name}"), attr),
        // An address the graph does not hold: written as is, so `terraform validate` names it.
        Expr::Ref(r) => reference(n.terraform(&r.to).unwrap_or_else(|| r.to.to_string()), &r.attr),
        Expr::Data { type_, name, attr } => format!("data.{type_}.{name}.{attr}"),
        Expr::Var(path) => format!("var.{path}"),
        Expr::Local(name) => format!("local.{name}"),
        Expr::Template(parts) => template(parts, n)?,
        Expr::Raw(r) if !r.contains('\n') => r.clone(),
        Expr::Raw(_) => return None,
        Expr::List(xs) => {
            if xs.iter().any(|x| matches!(x, Expr::Object(_) | Expr::List(_))) {
                return None;
            }
            let parts: Option<Vec<String>> = xs.iter().map(|x| inline(x, n)).collect();
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
            let parts: Option<Vec<String>> = args.iter().map(|a| inline(a, n)).collect();
            format!("{name}({})", parts?.join(", "))
        }
    })
}

fn write_expr(out: &mut String, e: &Expr, indent: usize, n: &dyn Names) {
    if let Some(s) = inline(e, n) {
        out.push_str(&s);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match e {
        Expr::List(xs) => {
            out.push_str("[\n");
            for x in xs {
                out.push_str(&pad);
                write_expr(out, x, indent + 1, n);
                out.push_str(",\n");
            }
            out.push_str(&"  ".repeat(indent));
            out.push(']');
        }
        Expr::Object(kv) => {
            out.push_str("{\n");
            let entries: Vec<(String, &Expr)> = kv.iter().map(|(k, v)| (key(k), v)).collect();
            write_entries(out, &entries, indent + 1, n);
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
                write_expr(out, a, indent, n);
            }
            out.push(')');
        }
        _ => {}
    }
}

/// `key = value` lines with `=` aligned over runs of single-line values.
fn write_entries(out: &mut String, entries: &[(String, &Expr)], indent: usize, n: &dyn Names) {
    let pad = "  ".repeat(indent);
    let mut i = 0;
    while i < entries.len() {
        if inline(entries[i].1, n).is_none() {
            out.push_str(&pad);
            out.push_str(&entries[i].0);
            out.push_str(" = ");
            write_expr(out, entries[i].1, indent, n);
            out.push('\n');
            i += 1;
            continue;
        }
        let mut j = i;
        while j < entries.len() && inline(entries[j].1, n).is_some() {
            j += 1;
        }
        let width = entries[i..j].iter().map(|e| e.0.chars().count()).max().unwrap_or(0);
        for (k, v) in &entries[i..j] {
            let value = inline(v, n).unwrap_or_default();
            let _ = writeln!(out, "{pad}{k}{} = {value}", " ".repeat(width - k.chars().count()));
        }
        i = j;
    }
}

fn write_block(out: &mut String, b: &Block, indent: usize, n: &dyn Names) {
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
                write_entries(out, &run, indent + 1, n);
                run.clear();
                for line in c.lines() {
                    let _ = writeln!(out, "{pad}  # {}", line.trim_end());
                }
            }
            Item::Block(inner) => {
                if !run.is_empty() || prev_block {
                    write_entries(out, &run, indent + 1, n);
                    run.clear();
                    out.push('\n');
                }
                write_block(out, inner, indent + 1, n);
                prev_block = true;
            }
        }
    }
    write_entries(out, &run, indent + 1, n);
    out.push_str(&pad);
    out.push_str("}\n");
}

/// A whole file: top-level blocks separated by blank lines, with an optional header comment.
pub fn file(header: &str, blocks: &[Block]) -> String {
    file_with(header, blocks.iter(), &NoNames)
}

/// [`file`], with references by address written through `names`.
pub fn file_with<'b>(header: &str, blocks: impl Iterator<Item = &'b Block>, names: &dyn Names) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {}", line.trim_end());
    }
    for (i, b) in blocks.enumerate() {
        if i > 0 || !header.is_empty() {
            out.push('\n');
        }
        write_block(&mut out, b, 0, names);
    }
    out
}

#[cfg(test)]
mod call_tests {
    use super::*;

    #[test]
    fn calls_inline_or_wrap_their_last_argument() {
        let b = Block::new("x", &[])
            .attr("a", Expr::call("format", vec![Expr::str("%s:*"), Expr::tf("aws_s3_bucket", "b", "arn")]))
            .attr("policy", Expr::call("jsonencode", vec![Expr::Object(vec![("Version".into(), Expr::str("${v}"))])]));
        assert_eq!(
            file("", &[b]),
            "x {\n  a = format(\"%s:*\", aws_s3_bucket.b.arn)\n  policy = jsonencode({\n    Version = \"$${v}\"\n  })\n}\n"
        );
    }
}
