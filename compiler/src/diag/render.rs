//! Human rendering of diagnostics with ariadne.
//!
//! Takes: diagnostics and the [`SourceMap`] they point into. Gives: the text the CLI prints
//! (colour only when asked, so snapshots and pipes stay plain).

use super::{Diagnostic, Severity};
use crate::source::SourceMap;
use ariadne::{Config, IndexType, Label, Report, ReportKind};

pub fn render(diag: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let mut out = Vec::new();
    let Some(span) = diag.primary else {
        let mut s = format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code, diag.message);
        if let Some(help) = &diag.help {
            s.push_str(&format!("  help: {help}\n"));
        }
        return s;
    };
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Info => ReportKind::Advice,
    };
    let name = |id| sources.get(id).map_or_else(|| "?".to_string(), |f| f.name.clone());
    let config = Config::default().with_color(color).with_index_type(IndexType::Byte);
    let mut report = Report::build(kind, (name(span.file), span.range()))
        .with_code(diag.code)
        .with_message(&diag.message)
        .with_config(config);
    // ariadne underlines only labelled spans: an unlabelled primary shows its code's title.
    let title = super::codes::lookup(diag.code).map_or("", |c| c.1);
    let primary =
        Label::new((name(span.file), span.range())).with_message(diag.primary_label.as_deref().unwrap_or(title));
    report = report.with_label(primary);
    for label in &diag.labels {
        report =
            report.with_label(Label::new((name(label.span.file), label.span.range())).with_message(&label.message));
    }
    if let Some(help) = &diag.help {
        report = report.with_help(help);
    }
    let cache = ariadne::sources(sources.iter().map(|(_, f)| (f.name.clone(), f.text.clone())));
    if report.finish().write(cache, &mut out).is_err() {
        return format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code, diag.message);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One-line summary: `2 errors, 1 warning`.
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diags.iter().filter(|d| d.severity == Severity::Warning).count();
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}
