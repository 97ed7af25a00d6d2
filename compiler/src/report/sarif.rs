//! SARIF 2.1.0: one run of the `aistack` driver, with `tool.driver.rules` for every rule
//! evaluated (and every other code that has a result), and one result per finding.
//!
//! Takes: an [`Analysis`]; whether suppressed findings are included (then each carries a
//! `suppressions` entry of kind `inSource` with its reason). Gives: the log as JSON. Each
//! result's `artifactLocation.uri` is relative to the stack's root folder (the folder of the
//! root file) with `uriBaseId` `ROOT`, which `originalUriBaseIds` maps to that folder as an
//! absolute `file:` URI when it is known; regions are 1-based, columns in UTF-16 code units.

use super::{evaluated, first_paragraph};
use crate::check::policy;
use crate::check::Analysis;
use crate::diag::{codes, Diagnostic, Severity};
use crate::source::{SourceFile, SourceMap, Span};
use serde_json::{json, Value};
use std::path::Path;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// 1-based line and UTF-16 column of a byte offset.
pub fn line_col_utf16(file: &SourceFile, offset: u32) -> (usize, usize) {
    let (line, _) = file.line_col(offset);
    let offset = (offset as usize).min(file.text.len());
    let start = file.text.get(..offset).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
    let col = file.text.get(start..offset).map_or(0, |s| s.encode_utf16().count());
    (line, col + 1)
}

/// Percent-encodes what a URI path may not hold as is (keeps `/` and unreserved characters).
pub fn encode_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The stack's root folder as users name it (the shown name's parent).
fn root_shown(a: &Analysis) -> String {
    let root = a.prog.sources.get(a.prog.module(a.prog.root).file).map_or("", |f| f.name.as_str());
    Path::new(root).parent().map(|p| p.display().to_string()).unwrap_or_default()
}

fn relative(name: &str, root: &str) -> String {
    if root.is_empty() {
        return name.to_string();
    }
    Path::new(name).strip_prefix(root).map_or_else(|_| name.to_string(), |p| p.display().to_string())
}

fn location(span: Span, sources: &SourceMap, root: &str) -> Option<Value> {
    let file = sources.get(span.file)?;
    let (sl, sc) = line_col_utf16(file, span.start);
    let (el, ec) = line_col_utf16(file, span.end.max(span.start));
    Some(json!({
        "physicalLocation": {
            "artifactLocation": { "uri": encode_path(&relative(&file.name, root)), "uriBaseId": "ROOT" },
            "region": { "startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec }
        }
    }))
}

fn rule_entry(id: &str) -> Value {
    let (name, short, doc, uri, sev) = match policy::rule_of(id) {
        Some(r) => (r.name.to_string(), policy::summary(r), policy::doc(r), r.help_uri(), r.default_severity),
        None => {
            let (title, doc) = codes::lookup(id).map_or(("", ""), |c| (c.1, c.2));
            let sev = if id.starts_with('W') { Severity::Warning } else { Severity::Error };
            (id.to_ascii_lowercase(), title, doc, format!("https://aistack.dev/docs/codes/{id}"), sev)
        }
    };
    let full = first_paragraph(doc);
    json!({
        "id": id,
        "name": name,
        "shortDescription": { "text": if short.is_empty() { id } else { short } },
        "fullDescription": { "text": if full.is_empty() { short.to_string() } else { full } },
        "helpUri": uri,
        "help": { "text": doc, "markdown": doc },
        "defaultConfiguration": { "level": level(sev) }
    })
}

fn result(d: &Diagnostic, index: usize, a: &Analysis, root: &str, reason: Option<&str>) -> Value {
    let mut text = d.message.clone();
    if let Some(h) = &d.help {
        text.push_str(&format!(" (help: {h})"));
    }
    let mut r = json!({
        "ruleId": d.code,
        "ruleIndex": index,
        "level": level(d.severity),
        "message": { "text": text },
        "locations": d.primary.and_then(|s| location(s, &a.prog.sources, root)).into_iter().collect::<Vec<_>>(),
    });
    let related: Vec<Value> = d
        .labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let mut loc = location(l.span, &a.prog.sources, root)?;
            loc["id"] = json!(i);
            loc["message"] = json!({ "text": l.message });
            Some(loc)
        })
        .collect();
    if !related.is_empty() {
        r["relatedLocations"] = Value::Array(related);
    }
    if let Some(why) = reason {
        r["suppressions"] = json!([{ "kind": "inSource", "justification": why }]);
    }
    r
}

/// The SARIF log of `a`. `root_dir` is the absolute root folder, for `originalUriBaseIds`.
pub fn report(a: &Analysis, root_dir: Option<&Path>, include_suppressed: bool) -> Value {
    let root = root_shown(a);
    let mut ids: Vec<&str> = evaluated(a).iter().map(|r| r.id).collect();
    let suppressed: Vec<(&Diagnostic, Option<&str>)> = if include_suppressed {
        a.rules.suppressed.iter().map(|s| (&s.diag, Some(s.reason.as_str()))).collect()
    } else {
        Vec::new()
    };
    let all: Vec<(&Diagnostic, Option<&str>)> = a.diags.iter().map(|d| (d, None)).chain(suppressed).collect();
    for (d, _) in &all {
        if !ids.contains(&d.code) {
            ids.push(d.code);
        }
    }
    let results: Vec<Value> = all
        .iter()
        .map(|(d, why)| result(d, ids.iter().position(|i| *i == d.code).unwrap_or(0), a, &root, *why))
        .collect();
    let mut run = json!({
        "tool": { "driver": {
            "name": "aistack",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://aistack.dev/docs/rules/",
            "rules": ids.iter().map(|id| rule_entry(id)).collect::<Vec<_>>(),
        }},
        "columnKind": "utf16CodeUnits",
        "results": results,
    });
    if let Some(dir) = root_dir.filter(|d| d.is_absolute()) {
        let mut uri = format!("file://{}", encode_path(&dir.display().to_string()));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run["originalUriBaseIds"] = json!({ "ROOT": { "uri": uri } });
    }
    json!({ "$schema": SCHEMA, "version": "2.1.0", "runs": [run] })
}
