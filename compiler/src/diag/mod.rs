//! Diagnostics: the one type every stage reports through.
//!
//! Takes: facts found by the lexer, parser, resolver and checker. Gives: [`Diagnostic`]s with a
//! stable code, severity, primary span, secondary labels and help, rendered for people
//! ([`render`]) or machines ([`json`]). Every code and its long form is declared in [`codes`].

pub mod codes;
pub mod json;
pub mod render;

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A secondary place that explains the primary one.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Stable code, e.g. `E0301`; `aistack explain` prints its long form.
    pub code: &'static str,
    pub severity: Severity,
    /// One terse phrase in the user's terms, no trailing period.
    pub message: String,
    /// `None` only for diagnostics without a source location (usage, I/O).
    pub primary: Option<Span>,
    /// Text shown at the primary span, if any.
    pub primary_label: Option<String>,
    pub labels: Vec<Label>,
    /// The fix, in the imperative.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Some(span),
            primary_label: None,
            labels: Vec::new(),
            help: None,
        }
    }
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, span, message) }
    }
    pub fn info(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Info, ..Diagnostic::error(code, span, message) }
    }
    pub fn sourceless(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            primary_label: None,
            labels: Vec::new(),
            help: None,
        }
    }
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into() });
        self
    }
    pub fn with_primary_label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary_label = Some(message.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A stage's value together with everything it reported (nothing short-circuits).
#[derive(Debug)]
pub struct Checked<T> {
    pub value: T,
    pub diags: Vec<Diagnostic>,
}

/// Sorts diagnostics by file and position, errors first on ties, and drops exact repeats.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        let ka = a.primary.map(|s| (s.file, s.start, s.end));
        let kb = b.primary.map(|s| (s.file, s.start, s.end));
        ka.cmp(&kb).then(a.severity.cmp(&b.severity)).then(a.code.cmp(b.code))
    });
    diags.dedup_by(|a, b| a.code == b.code && a.primary == b.primary && a.message == b.message);
}
