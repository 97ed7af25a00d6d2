//! Human rendering of diagnostics with ariadne.
//!
//! Takes: diagnostics and the [`SourceMap`] they point into. Gives: the text the CLI prints
//! (colour only when asked, so snapshots and pipes stay plain). Control characters from the
//! input never reach the terminal: in source lines, messages, labels, help and file names
//! they are shown as visible stand-ins ([`clean`]), one character for one, so underlines
//! stay aligned. Spans are passed to ariadne as character offsets for the same reason.

use super::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};
use ariadne::{Config, IndexType, Label, Report, ReportKind};
use std::borrow::Cow;
use std::ops::Range;

/// The visible stand-in for a character a terminal would act on, or `None` to print it as is.
/// C0 controls become their Control Pictures (`␛` for ESC, `␇` for BEL), DEL `␡`; C1 controls
/// and the Unicode line/paragraph separators `�`. Tab and newline are kept.
fn stand_in(c: char) -> Option<char> {
    match c {
        '\t' | '\n' => None,
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32),
        '\x7f' => Some('\u{2421}'),
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => Some('\u{fffd}'),
        _ => None,
    }
}

/// `text` with every control character (other than tab and newline) replaced by a visible
/// stand-in of one character; borrowed when there is nothing to replace.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| stand_in(c).is_some()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| stand_in(c).unwrap_or(c)).collect())
}

/// Source text as shown: [`clean`], except that the `\r` of a CRLF line break is kept so
/// ariadne counts lines as the compiler does.
fn clean_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            out.push(c);
        } else {
            out.push(stand_in(c).unwrap_or(c));
        }
    }
    out
}

/// The character offsets of a byte span (clamped to the text, rounded down to characters).
fn char_range(sources: &SourceMap, span: Span) -> Range<usize> {
    let Some(f) = sources.get(span.file) else { return 0..0 };
    let chars = |off: usize| {
        let mut off = off.min(f.text.len());
        while !f.text.is_char_boundary(off) {
            off -= 1;
        }
        f.text[..off].chars().count()
    };
    let r = span.range();
    chars(r.start)..chars(r.end)
}

fn plain(diag: &Diagnostic) -> String {
    let mut s = format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code, clean(&diag.message));
    if let Some(help) = &diag.help {
        s.push_str(&format!("  help: {}\n", clean(help)));
    }
    s
}

pub fn render(diag: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let mut out = Vec::new();
    let Some(span) = diag.primary else {
        return plain(diag);
    };
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Info => ReportKind::Advice,
    };
    let name = |id| sources.get(id).map_or_else(|| "?".to_string(), |f| clean(&f.name).into_owned());
    let config = Config::default().with_color(color).with_index_type(IndexType::Char);
    let mut report = Report::build(kind, (name(span.file), char_range(sources, span)))
        .with_code(diag.code)
        .with_message(clean(&diag.message))
        .with_config(config);
    // ariadne underlines only labelled spans: an unlabelled primary shows its code's title.
    let title = super::codes::lookup(diag.code).map_or("", |c| c.1);
    let primary = Label::new((name(span.file), char_range(sources, span)))
        .with_message(clean(diag.primary_label.as_deref().unwrap_or(title)));
    report = report.with_label(primary);
    for label in &diag.labels {
        report = report.with_label(
            Label::new((name(label.span.file), char_range(sources, label.span))).with_message(clean(&label.message)),
        );
    }
    if let Some(help) = &diag.help {
        report = report.with_help(clean(help));
    }
    // Only the files this diagnostic points into are handed to ariadne.
    let mut files: Vec<FileId> = std::iter::once(span.file).chain(diag.labels.iter().map(|l| l.span.file)).collect();
    files.sort();
    files.dedup();
    let cache =
        ariadne::sources(files.iter().filter_map(|id| sources.get(*id)).map(|f| (name_of(f), clean_source(&f.text))));
    if report.finish().write(cache, &mut out).is_err() {
        return plain(diag);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn name_of(f: &crate::source::SourceFile) -> String {
    clean(&f.name).into_owned()
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
