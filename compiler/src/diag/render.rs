//! Human rendering of diagnostics with ariadne.
//!
//! Takes: diagnostics and the [`SourceMap`] they point into. Gives: the text the CLI prints
//! (colour only when asked, so snapshots and pipes stay plain). Control characters from the
//! input never reach the terminal: in source lines, messages, labels, help and file names
//! they are shown as visible stand-ins ([`clean`]), one character for one, so underlines
//! stay aligned. Spans are passed to ariadne as character offsets for the same reason.
//! A [`Renderer`] prepares each file once, so many diagnostics into a large file stay cheap.

use super::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};
use ariadne::{Cache, Config, IndexType, Label, Report, ReportKind, Source};
use std::borrow::Cow;
use std::collections::HashMap;
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

fn plain(diag: &Diagnostic) -> String {
    let mut s = format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code, clean(&diag.message));
    if let Some(help) = &diag.help {
        s.push_str(&format!("  help: {}\n", clean(help)));
    }
    s
}

/// One diagnostic, rendered on its own (see [`Renderer`] for many).
pub fn render(diag: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    Renderer::new(sources, color).render(diag)
}

/// Lines longer than this many characters are shown as a window around the span.
const LONG_LINE: usize = 2_000;
/// Characters shown either side of a span on a long line.
const WINDOW: usize = 60;

/// Renders diagnostics against one [`SourceMap`], preparing each file (cleaned text and line
/// table) once, however many diagnostics point into it.
pub struct Renderer<'s> {
    sources: &'s SourceMap,
    color: bool,
    files: Files,
}

/// Prepared files by id: shown name and ariadne source of the cleaned text.
#[derive(Default)]
struct Files(HashMap<FileId, (String, Source<String>)>);

impl Cache<FileId> for &Files {
    type Storage = String;
    fn fetch(&mut self, id: &FileId) -> Result<&Source<String>, impl std::fmt::Debug> {
        self.0.get(id).map(|f| &f.1).ok_or("file not prepared")
    }
    fn display<'a>(&self, id: &'a FileId) -> Option<impl std::fmt::Display + 'a> {
        self.0.get(id).map(|f| f.0.clone())
    }
}

impl<'s> Renderer<'s> {
    pub fn new(sources: &'s SourceMap, color: bool) -> Renderer<'s> {
        Renderer { sources, color, files: Files::default() }
    }

    pub fn render(&mut self, diag: &Diagnostic) -> String {
        let Some(span) = diag.primary else {
            return plain(diag);
        };
        if let Some(text) = self.long_line(diag, span) {
            return text;
        }
        let spans = std::iter::once(span).chain(diag.labels.iter().map(|l| l.span));
        if !spans.clone().all(|s| self.prepare(s.file)) {
            return plain(diag);
        }
        let kind = match diag.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
            Severity::Info => ReportKind::Advice,
        };
        let config = Config::default().with_color(self.color).with_index_type(IndexType::Char);
        let mut report = Report::build(kind, self.chars(span))
            .with_code(diag.code)
            .with_message(clean(&diag.message))
            .with_config(config);
        // ariadne underlines only labelled spans: an unlabelled primary shows its code's title.
        let title = super::codes::lookup(diag.code).map_or("", |c| c.1);
        let primary = diag.primary_label.as_deref().unwrap_or(title);
        report = report.with_label(Label::new(self.chars(span)).with_message(clean(primary)));
        for label in &diag.labels {
            report = report.with_label(Label::new(self.chars(label.span)).with_message(clean(&label.message)));
        }
        if let Some(help) = &diag.help {
            report = report.with_help(clean(help));
        }
        let mut out = Vec::new();
        if report.finish().write(&self.files, &mut out).is_err() {
            return plain(diag);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A diagnostic on a line longer than [`LONG_LINE`] characters. ariadne lays out the whole
    /// line for every diagnostic (its time grows with the line's length), so this shows a
    /// window of [`WINDOW`] characters either side of the span instead, in the same layout.
    fn long_line(&self, diag: &Diagnostic, span: Span) -> Option<String> {
        let f = self.sources.get(span.file)?;
        let (at, stop) = (span.start as usize, (span.end as usize).max(span.start as usize));
        let start = f.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = f.text[at..].find('\n').map_or(f.text.len(), |i| at + i);
        // Short lines (no character at index LONG_LINE) are left to ariadne.
        f.text[start..end].chars().nth(LONG_LINE)?;
        let (line, col) = f.line_col(span.start);
        let before: String = {
            let mut v: Vec<char> = f.text[start..at].chars().rev().take(WINDOW).collect();
            v.reverse();
            v.into_iter().collect()
        };
        let rest = &f.text[at..end];
        let width = f.text[at..stop.min(end)].chars().count().clamp(1, WINDOW);
        let shown: String = rest.chars().take(width + WINDOW).collect();
        let lead = if f.text[start..at].chars().nth(WINDOW).is_some() { "…" } else { "" };
        let tail = if rest.chars().nth(width + WINDOW).is_some() { "…" } else { "" };
        let kind = match diag.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Info => "Advice",
        };
        let title = super::codes::lookup(diag.code).map_or("", |c| c.1);
        let label = diag.primary_label.as_deref().unwrap_or(title);
        let pad = " ".repeat(line.to_string().len());
        let marks = " ".repeat(lead.chars().count() + before.chars().count());
        let mut out = format!(
            "[{}] {kind}: {}\n{pad} ╭─[ {}:{line}:{col} ]\n{line} │ {lead}{}{}{tail}\n{pad} │ {marks}{} {}\n",
            diag.code,
            clean(&diag.message),
            clean(&f.name),
            clean(&before),
            clean(&shown),
            "^".repeat(width),
            clean(label),
        );
        for l in &diag.labels {
            let name = self.sources.get(l.span.file).map_or("", |f| f.name.as_str());
            let (ll, lc) = self.sources.get(l.span.file).map_or((0, 0), |f| f.line_col(l.span.start));
            out.push_str(&format!("{pad} │ note: {}:{ll}:{lc}: {}\n", clean(name), clean(&l.message)));
        }
        if let Some(help) = &diag.help {
            out.push_str(&format!("{pad} │ Help: {}\n", clean(help)));
        }
        out.push_str(&format!("{pad}─╯\n"));
        Some(out)
    }

    /// Makes `id` ready for ariadne; false when the map has no such file.
    fn prepare(&mut self, id: FileId) -> bool {
        let Some(f) = self.sources.get(id) else { return false };
        self.files.0.entry(id).or_insert_with(|| (clean(&f.name).into_owned(), Source::from(clean_source(&f.text))));
        true
    }

    /// A byte span as ariadne's character offsets. The cleaned text has one character for each
    /// original one, so the offsets are the original's: line start from ariadne's line table
    /// (it breaks lines where the compiler does, as only `\n` and CRLF are left) plus column.
    fn chars(&self, span: Span) -> (FileId, Range<usize>) {
        let offset = |byte: u32| {
            let (Some(f), Some((_, source))) = (self.sources.get(span.file), self.files.0.get(&span.file)) else {
                return 0;
            };
            let (line, col) = f.line_col(byte);
            // The end of a file that ends in a line break is past ariadne's last line.
            source.line(line - 1).map_or(source.len(), |l| l.offset() + col - 1)
        };
        let r = span.range();
        let start = offset(r.start as u32);
        (span.file, start..offset(r.end as u32).max(start))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn a_span_to_the_end_of_a_file_ending_in_a_newline_renders() {
        // The mutation test's input: an unterminated string runs to the end of the file.
        let mut sources = SourceMap::default();
        let text = "a = \"\"\" x\nb = 1\n";
        let file = sources.add(SourceFile::new("t.ai-stack", text));
        let d = Diagnostic::error("E0301", Span::new(file, 4..text.len()), "expected an engine, found string");
        let out = render(&d, &sources, false);
        assert!(out.contains("[E0301] Error: expected an engine, found string"), "{out}");
        assert!(out.contains("t.ai-stack:1:5"), "{out}");
    }
}
