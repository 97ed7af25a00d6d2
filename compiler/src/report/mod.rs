//! Reports of a checked stack for CI: SARIF 2.1.0 ([`sarif`]) for code scanning and JUnit XML
//! ([`junit`]) for CI systems that show test results.
//!
//! Takes: an [`Analysis`] (its findings, the rules evaluated and the suppressed findings).
//! Gives: the report as text. Locations are 1-based; SARIF columns count UTF-16 code units
//! (its default `columnKind`), JUnit's `file:line:col` counts characters like the human
//! report.

pub mod junit;
pub mod sarif;

use crate::check::policy::{self, Rule};
use crate::check::Analysis;
use crate::diag::Diagnostic;

/// The rule a finding belongs to, if it is a rule's.
pub fn rule_for(d: &Diagnostic) -> Option<&'static Rule> {
    policy::rule_of(d.code)
}

/// The rules evaluated for `a`, in table order.
pub fn evaluated(a: &Analysis) -> Vec<&'static Rule> {
    a.rules.evaluated.iter().filter_map(|id| policy::rule_of(id)).collect()
}

/// The first paragraph of a Markdown page after its title (after `## What` when it has one).
pub fn first_paragraph(doc: &str) -> String {
    let body = doc.split_once("## What").map_or(doc, |(_, rest)| rest);
    let para: Vec<&str> = body
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.starts_with('#'))
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    para.join(" ")
}
