//! JUnit XML: one `<testsuite>`, one `<testcase>` per rule evaluated (and one, `check`, for the
//! findings of no rule: syntax, names, types and units), one `<failure>` per finding.
//!
//! Takes: an [`Analysis`]. Gives: the XML text. Written by hand: the format is five
//! elements, and [`escape`] makes any message (control characters, quotes, `]]>`) safe in
//! attributes and text, which is all a writer crate would add.

use super::{evaluated, rule_for};
use crate::check::Analysis;
use crate::diag::Diagnostic;
use std::fmt::Write as _;

/// Escapes text for XML 1.0 attributes and content; characters XML cannot hold at all
/// (control characters other than tab, newline and carriage return, U+FFFE, U+FFFF) are
/// written as `\u{…}`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn place(d: &Diagnostic, a: &Analysis) -> String {
    let Some(span) = d.primary else { return String::new() };
    let Some(file) = a.prog.sources.get(span.file) else { return String::new() };
    let (line, col) = file.line_col(span.start);
    format!("{}:{line}:{col}: ", file.name)
}

fn failure(out: &mut String, d: &Diagnostic, a: &Analysis) {
    let mut body = format!("{}{}", place(d, a), d.message);
    if let Some(h) = &d.help {
        body.push_str(&format!("\nhelp: {h}"));
    }
    let _ = writeln!(
        out,
        "    <failure type=\"{}\" message=\"{}\">{}</failure>",
        d.severity.as_str(),
        escape(&format!("[{}] {}", d.code, d.message)),
        escape(&body)
    );
}

/// The JUnit report of `a`, named after its root file.
pub fn report(a: &Analysis) -> String {
    let rules = evaluated(a);
    let mut cases: Vec<(String, Vec<&Diagnostic>)> =
        rules.iter().map(|r| (format!("{} {}", r.id, r.name), Vec::new())).collect();
    let mut other = Vec::new();
    for d in &a.diags {
        match rule_for(d).and_then(|r| rules.iter().position(|e| e.id == r.id)) {
            Some(i) => cases[i].1.push(d),
            None => other.push(d),
        }
    }
    cases.push(("check syntax, names, types and units".into(), other));
    let failures: usize = cases.iter().map(|c| c.1.len()).sum();
    let root = a.prog.sources.get(a.prog.module(a.prog.root).file).map_or("", |f| f.name.as_str());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        escape(&format!("aistack check {root}")),
        cases.len()
    );
    for (name, found) in &cases {
        let _ = write!(out, "  <testcase classname=\"aistack.rules\" name=\"{}\"", escape(name));
        if found.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for d in found {
            failure(&mut out, d, a);
        }
        out.push_str("  </testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}
