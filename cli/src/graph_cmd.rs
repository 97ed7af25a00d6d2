//! `aistack graph FILE`: the stack's resource graph as Graphviz DOT (the default), as SVG
//! through Graphviz's `dot -Tsvg` when `dot` is on the PATH (else a clear error, exit 2),
//! or as the graph's JSON document. A stack with errors is reported as `check` does (exit 1).

use aistack::check;
use aistack::diag::render;
use clap::ValueEnum;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Svg,
    Json,
}

pub fn run(file: &Path, params: &[(String, String)], format: GraphFormat) -> ExitCode {
    let Some(world) = super::read_root(file) else { return ExitCode::from(2) };
    let mut analysis = check::check(&world, file, params);
    if !analysis.has_errors() {
        let stack = aistack::ir::lower(&analysis);
        let (graph, diags) = aistack::graph::build_with_diags(&stack, &aistack::graph::Options::default());
        analysis.diags.extend(diags);
        if !analysis.has_errors() {
            return print(&graph, format);
        }
    }
    let mut renderer = render::Renderer::new(&analysis.prog.sources, std::io::stderr().is_terminal());
    for d in &analysis.diags {
        eprint!("{}", renderer.render(d));
    }
    ExitCode::from(1)
}

fn print(graph: &aistack::graph::ResourceGraph, format: GraphFormat) -> ExitCode {
    let text = match format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Json => serde_json::to_string_pretty(graph).unwrap_or_default() + "\n",
        GraphFormat::Svg => match svg(&graph.to_dot()) {
            Ok(svg) => svg,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the graph: {e}");
            ExitCode::from(2)
        }
    }
}

/// DOT through `dot -Tsvg`.
fn svg(dot: &str) -> Result<String, String> {
    let child =
        Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("--format svg needs Graphviz's `dot` on the PATH (install Graphviz, or use --format dot and render it elsewhere)".into())
        }
        Err(e) => return Err(format!("cannot run Graphviz's `dot`: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).map_err(|e| format!("cannot write to Graphviz's `dot`: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("Graphviz's `dot` failed: {e}"))?;
    if !out.status.success() {
        return Err(format!("Graphviz's `dot` failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| "Graphviz's `dot` printed something that is not UTF-8".into())
}
