//! Conversions between the compiler's types and the Language Server Protocol's.
//!
//! Takes: byte [`Span`]s and [`Diagnostic`]s. Gives: LSP `Range`s (zero-based lines and
//! UTF-16 code-unit columns, as the protocol's default position encoding requires) and LSP
//! `Diagnostic` objects with the stable code. This is the only place the editor sees a
//! diagnostic, so the CLI and the editor always agree on what was reported.

use aistack::diag::{Diagnostic, Severity};
use aistack::source::{SourceFile, Span};
use serde_json::{json, Value};

/// Zero-based line and UTF-16 column of a byte offset.
pub fn position(file: &SourceFile, offset: u32) -> (u32, u32) {
    let (line, _) = file.line_col(offset);
    let text = &file.text;
    let offset = (offset as usize).min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let utf16: usize = text.get(line_start..offset).map_or(0, |s| s.encode_utf16().count());
    (line as u32 - 1, utf16 as u32)
}

pub fn range(file: &SourceFile, span: Span) -> Value {
    let (sl, sc) = position(file, span.start);
    let (el, ec) = position(file, span.end);
    json!({ "start": { "line": sl, "character": sc }, "end": { "line": el, "character": ec } })
}

/// An LSP `Diagnostic` for a diagnostic whose primary span lies in `file`.
pub fn diagnostic(
    file: &SourceFile,
    d: &Diagnostic,
    related: impl Fn(Span) -> Option<(String, Value)>,
) -> Option<Value> {
    let span = d.primary?;
    let severity = match d.severity {
        Severity::Error => 1,
        Severity::Warning => 2,
        Severity::Info => 3,
    };
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    let info: Vec<Value> = d
        .labels
        .iter()
        .filter_map(|l| {
            let (uri, range) = related(l.span)?;
            Some(json!({ "location": { "uri": uri, "range": range }, "message": l.message }))
        })
        .collect();
    Some(json!({
        "range": range(file, span),
        "severity": severity,
        "code": d.code,
        "source": "aistack",
        "message": message,
        "relatedInformation": info,
    }))
}
