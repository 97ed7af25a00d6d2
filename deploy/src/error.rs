//! Operational errors: lock held, stale plan, a missing artifact, a registry or API failure.
//!
//! Takes: what went wrong and, where one exists, the source span. Gives: one error type with a
//! stable code (E06xx) and help, rendered through miette so it reads like the compiler's
//! diagnostics.

use miette::Diagnostic;
use std::fmt;

/// One operational failure.
#[derive(Debug, Clone, PartialEq)]
pub struct OpError {
    /// Stable code: `E0601`…
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl OpError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        OpError { code, message: message.into(), help: None }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpError {}

impl Diagnostic for OpError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

/// Any miette [`Diagnostic`] in the compiler's layout: `[CODE] Error: message`, then
/// `Help: …`. (miette's graphical handler needs its `fancy` feature, whose crates are not in
/// this build's registry; this reads the same fields through the trait.)
pub fn render(e: &dyn Diagnostic) -> String {
    let code = e.code().map(|c| format!("[{c}] ")).unwrap_or_default();
    let mut out = format!("{code}Error: {e}\n");
    if let Some(help) = e.help() {
        out.push_str(&format!("    │ Help: {help}\n"));
    }
    out
}
