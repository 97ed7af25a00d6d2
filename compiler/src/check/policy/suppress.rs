//! In-source suppressions: `// aistack:allow AIS101 reason text`.
//!
//! Takes: the comments the lexer kept for each of the stack's own files (not the standard
//! library), the findings and the rules evaluated. Gives: the findings minus those suppressed,
//! the suppressed ones with their reasons, and E0440 (no reason), E0441 (the id names no
//! built-in policy rule: domain rules and type errors cannot be suppressed) and W0440 (the
//! rule ran and the suppression matched nothing). A comment alone on its line covers the next
//! line; a comment after code covers its own line. A finding is covered when its primary span
//! starts on that line and its code is the suppression's rule.

use super::Suppressed;
use crate::check::load::Program;
use crate::diag::{codes, Diagnostic};
use crate::source::{FileId, Span};

const MARK: &str = "aistack:allow";

/// One `aistack:allow` comment.
struct Allow {
    span: Span,
    file: FileId,
    /// 1-based line of the findings it covers.
    line: usize,
    rule: &'static str,
    reason: String,
}

/// Applies the suppressions of `prog`'s files to `diags`.
pub fn apply(prog: &Program, diags: Vec<Diagnostic>, evaluated: &[&str]) -> (Vec<Diagnostic>, Vec<Suppressed>) {
    let mut out = Vec::new();
    let allows = collect(prog, &mut out);
    let mut used = vec![false; allows.len()];
    let mut suppressed = Vec::new();
    for d in diags {
        let found = d.primary.and_then(|p| {
            let (line, _) = prog.sources.get(p.file)?.line_col(p.start);
            allows.iter().position(|a| a.file == p.file && a.line == line && a.rule == d.code)
        });
        match found {
            Some(i) => {
                used[i] = true;
                suppressed.push(Suppressed { diag: d, reason: allows[i].reason.clone() });
            }
            None => out.push(d),
        }
    }
    for (a, _) in allows.iter().zip(&used).filter(|(a, u)| !**u && evaluated.contains(&a.rule)) {
        out.push(
            Diagnostic::warning(codes::UNUSED_SUPPRESSION, a.span, format!("`{MARK} {}` suppresses nothing", a.rule))
                .with_primary_label(format!("no {} finding starts on line {}", a.rule, a.line))
                .with_help("remove the comment, or move it to the line before the finding"),
        );
    }
    (out, suppressed)
}

/// The suppressions of the stack's own files; malformed ones are reported into `out`.
fn collect(prog: &Program, out: &mut Vec<Diagnostic>) -> Vec<Allow> {
    let mut files: Vec<FileId> = prog.modules.iter().filter(|m| !m.std).map(|m| m.file).collect();
    files.sort();
    files.dedup();
    let mut allows = Vec::new();
    for file in files {
        let (Some(src), Some(comments)) = (prog.sources.get(file), prog.comments.get(&file)) else { continue };
        for c in comments.iter().filter(|c| c.doc.is_none()) {
            let text = src.text.get(c.start as usize..c.end as usize).unwrap_or("");
            let Some(body) = text.strip_prefix("//").map(str::trim_start) else { continue };
            let Some(rest) = body.strip_prefix(MARK) else { continue };
            let span = Span { file, start: c.start, end: c.end };
            if let Some(a) = parse(rest, span, src, out) {
                allows.push(a);
            }
        }
    }
    allows
}

fn parse(rest: &str, span: Span, src: &crate::source::SourceFile, out: &mut Vec<Diagnostic>) -> Option<Allow> {
    let rest = rest.trim();
    let (id, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if id.is_empty() {
        out.push(
            Diagnostic::error(codes::SUPPRESSION_RULE, span, format!("`{MARK}` names no rule"))
                .with_help(format!("write `// {MARK} AIS101 why this finding does not apply here`")),
        );
        return None;
    }
    let rule = match super::lookup(id) {
        Some(r) if r.policy => r,
        Some(r) => {
            out.push(
                Diagnostic::error(codes::SUPPRESSION_RULE, span, format!("{} cannot be suppressed", r.id))
                    .with_help("only built-in policy rules (AIS1xx) can be suppressed; the outputs depend on the domain rules, so fix what it reports"),
            );
            return None;
        }
        None => {
            out.push(
                Diagnostic::error(codes::SUPPRESSION_RULE, span, format!("`{MARK}` names no rule `{id}`"))
                    .with_help("name a built-in policy rule such as AIS101; `aistack explain AIS101` describes it"),
            );
            return None;
        }
    };
    let reason = reason.trim();
    if reason.is_empty() {
        out.push(
            Diagnostic::error(codes::SUPPRESSION_REASON, span, format!("suppression of {} gives no reason", rule.id))
                .with_help(format!(
                    "say why after the rule: `// {MARK} {} the bucket holds public docs only`",
                    rule.id
                )),
        );
        return None;
    }
    let (line, _) = src.line_col(span.start);
    let line_start = src.text.get(..span.start as usize).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
    let alone = src.text.get(line_start..span.start as usize).is_some_and(|t| t.trim().is_empty());
    let covered = if alone { line + 1 } else { line };
    Some(Allow { span, file: span.file, line: covered, rule: rule.id, reason: reason.to_string() })
}
