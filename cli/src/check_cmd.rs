//! `aistack check`'s report: human, JSON, SARIF 2.1.0 or JUnit XML, to standard output or,
//! with `--output FILE`, written atomically to FILE. Exit 0 without error-level findings
//! (warnings and suppressed findings allowed), 1 with any, 2 when the report cannot be
//! written.

use aistack::check::Analysis;
use aistack::diag::{json, render};
use aistack::report::{junit, sarif};
use clap::ValueEnum;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Sarif,
    Junit,
}

pub struct ReportOptions<'a> {
    pub format: CheckFormat,
    pub color: bool,
    pub include_suppressed: bool,
    /// The stack's root folder (absolute), for SARIF's `originalUriBaseIds`.
    pub root: Option<&'a Path>,
}

/// "2 findings suppressed", or nothing.
pub fn suppressed_note(a: &Analysis) -> String {
    match a.rules.suppressed.len() {
        0 => String::new(),
        1 => " (1 finding suppressed)".into(),
        n => format!(" ({n} findings suppressed)"),
    }
}

fn text(a: &Analysis, opts: &ReportOptions) -> String {
    match opts.format {
        CheckFormat::Human => {
            let mut out = String::new();
            let mut renderer = render::Renderer::new(&a.prog.sources, opts.color);
            for d in &a.diags {
                out.push_str(&renderer.render(d));
            }
            let name = a.prog.sources.get(a.prog.module(a.prog.root).file).map_or("", |f| f.name.as_str());
            let verdict = if a.has_errors() { "failed" } else { "ok" };
            out.push_str(&format!(
                "{}: {verdict}, {}{}\n",
                render::clean(name),
                render::summary(&a.diags),
                suppressed_note(a)
            ));
            out
        }
        CheckFormat::Json => {
            let mut v = json::report(&a.diags, &a.prog.sources);
            if !a.rules.suppressed.is_empty() {
                v["suppressed"] = serde_json::json!(a.rules.suppressed.len());
            }
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
        CheckFormat::Sarif => {
            let v = sarif::report(a, opts.root, opts.include_suppressed);
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
        CheckFormat::Junit => junit::report(a),
    }
}

/// Prints or writes the report; the exit code.
pub fn finish(a: &Analysis, opts: &ReportOptions, output: Option<&Path>) -> ExitCode {
    let report = text(a, opts);
    match output {
        Some(path) => {
            if let Err(e) = crate::write_atomically(path, &report) {
                eprintln!("error: cannot write {}: {e}", render::clean(&path.display().to_string()));
                return ExitCode::from(2);
            }
        }
        None => {
            let _ = std::io::stdout().lock().write_all(report.as_bytes());
        }
    }
    if a.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
