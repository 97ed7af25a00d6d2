//! Machine rendering: the `check --format json` object.
//!
//! Takes: diagnostics and the [`SourceMap`]. Gives: `{"diagnostics": [...], "errors": N,
//! "warnings": M}` with 1-based lines and character columns of each primary span.

use super::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};
use serde_json::{json, Map, Value};

fn place(span: Span, sources: &SourceMap, into: &mut Map<String, Value>) {
    let Some(file) = sources.get(span.file) else {
        return;
    };
    let (line, column) = file.line_col(span.start);
    let (end_line, end_column) = file.line_col(span.end);
    into.insert("file".into(), json!(file.name));
    into.insert("line".into(), json!(line));
    into.insert("column".into(), json!(column));
    into.insert("end_line".into(), json!(end_line));
    into.insert("end_column".into(), json!(end_column));
}

pub fn diagnostic(d: &Diagnostic, sources: &SourceMap) -> Value {
    let mut obj = Map::new();
    obj.insert("code".into(), json!(d.code));
    obj.insert("severity".into(), json!(d.severity.as_str()));
    obj.insert("message".into(), json!(d.message));
    match d.primary {
        Some(span) => place(span, sources, &mut obj),
        None => {
            for key in ["file", "line", "column", "end_line", "end_column"] {
                obj.insert(key.into(), Value::Null);
            }
        }
    }
    let labels: Vec<Value> = d
        .labels
        .iter()
        .map(|l| {
            let mut lo = Map::new();
            place(l.span, sources, &mut lo);
            lo.insert("message".into(), json!(l.message));
            Value::Object(lo)
        })
        .collect();
    obj.insert("labels".into(), Value::Array(labels));
    obj.insert("help".into(), d.help.as_ref().map_or(Value::Null, |h| json!(h)));
    Value::Object(obj)
}

pub fn report(diags: &[Diagnostic], sources: &SourceMap) -> Value {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diags.iter().filter(|d| d.severity == Severity::Warning).count();
    json!({
        "diagnostics": diags.iter().map(|d| diagnostic(d, sources)).collect::<Vec<_>>(),
        "errors": errors,
        "warnings": warnings,
    })
}
