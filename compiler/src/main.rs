//! The `aistack` command line: clap in, library calls, diagnostics out, exit code.
//!
//! Exit codes: 0 no errors (warnings allowed), 1 the stack has errors, 2 usage or I/O failure.

use aistack::check::{self, Analysis};
use aistack::diag::{self, codes, render};
use aistack::world::DiskWorld;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "aistack", version, about = "Typed infrastructure-as-code for AI stacks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check a stack: names, types, units and domain rules.
    Check {
        /// The root `.ai-stack` file.
        file: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Colour the report (default: when printing to a terminal).
        #[arg(long)]
        color: Option<bool>,
    },
    /// Check a stack and write Kubernetes manifests, Terraform and serving configs to a folder.
    Build {
        /// The root `.ai-stack` file.
        file: PathBuf,
        /// Output folder; replaced as a whole, never left half-written.
        #[arg(short, long)]
        out: PathBuf,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Rewrite a file in the canonical layout.
    Fmt {
        file: PathBuf,
        /// Report only; exit 1 when the file would change.
        #[arg(long)]
        check: bool,
    },
    /// Print the long explanation of a diagnostic code, e.g. `aistack explain E0403`.
    Explain {
        /// A code such as E0403; without one, list every code.
        code: Option<String>,
    },
}

fn parse_params(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("--param takes NAME=VALUE, got `{p}`")),
        })
        .collect()
}

/// Stack for the compiler's thread: recursion follows the input's expression depth, which
/// the lexer bounds for brackets but not for long operator chains.
const STACK_BYTES: usize = 1 << 30;

fn main() -> ExitCode {
    let worker = std::thread::Builder::new().name("aistack".into()).stack_size(STACK_BYTES).spawn(run);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => {
            eprintln!("error: aistack crashed; this is a bug, please report it with the input");
            ExitCode::from(101)
        }
        Err(e) => {
            eprintln!("error: cannot start the compiler thread: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Check { file, format, params, color } => {
            let params = match parse_params(&params) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = std::fs::metadata(&file) {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
            let analysis = check::check(&DiskWorld, &file, &params);
            report(&analysis, format, color.unwrap_or_else(|| std::io::stdout().is_terminal()));
            if analysis.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Build { file, out, params, format } => build(&file, &out, &params, format),
        Command::Fmt { file, check } => fmt(&file, check),
        Command::Explain { code } => explain(code.as_deref()),
    }
}

fn build(file: &std::path::Path, out: &std::path::Path, params: &[String], format: Format) -> ExitCode {
    let params = match parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::metadata(file) {
        eprintln!("error: cannot read {}: {e}", file.display());
        return ExitCode::from(2);
    }
    if let Err(why) = replaceable(out) {
        eprintln!("error: will not write to {}: {why}", out.display());
        return ExitCode::from(2);
    }
    let mut analysis = check::check(&DiskWorld, file, &params);
    if analysis.has_errors() {
        report(&analysis, format, std::io::stdout().is_terminal());
        return ExitCode::from(1);
    }
    let stack = aistack::ir::lower(&analysis);
    let (artifacts, emit_diags) = aistack::emit::emit(&stack);
    analysis.diags.extend(emit_diags);
    if analysis.has_errors() {
        report(&analysis, format, std::io::stdout().is_terminal());
        return ExitCode::from(1);
    }
    if let Err(e) = write_tree(out, &artifacts) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    if matches!(format, Format::Human) {
        for d in &analysis.diags {
            print!("{}", render::render(d, &analysis.prog.sources, std::io::stdout().is_terminal()));
        }
        println!("{}: wrote {} files to {}", file.display(), artifacts.len(), out.display());
    } else {
        report(&analysis, format, false);
    }
    ExitCode::SUCCESS
}

/// The output folder is replaced as a whole, so it must be absent, empty, or an earlier
/// `aistack build` output (it has our `manifest.json`); anything else is refused.
fn replaceable(out: &std::path::Path) -> Result<(), String> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err("it is not a folder".into());
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| e.to_string())?;
    if entries.next().is_none() {
        return Ok(());
    }
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap_or_default();
    let ours = serde_json::from_str::<serde_json::Value>(&manifest)
        .is_ok_and(|v| v.get("aistack").is_some() && v.get("files").is_some());
    if ours {
        Ok(())
    } else {
        Err("it exists and is not an earlier aistack build output (no aistack manifest.json); it would be replaced whole".into())
    }
}

/// Writes every artifact into a fresh sibling folder, then swaps it into place: readers see
/// the old tree or the new one, never a mix, and a failure leaves the old tree untouched.
fn write_tree(out: &std::path::Path, artifacts: &[aistack::emit::Artifact]) -> std::io::Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&parent)?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let fresh = parent.join(format!(".{name}.aistack-new.{}", std::process::id()));
    let old = parent.join(format!(".{name}.aistack-old.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    let result = (|| {
        // Each folder is created once. Files are not fsync'd one by one: the output is
        // derived and reproducible, and the swap below already keeps readers from ever
        // seeing a half-written tree.
        let dirs: std::collections::BTreeSet<PathBuf> =
            artifacts.iter().filter_map(|a| fresh.join(&a.path).parent().map(PathBuf::from)).collect();
        std::fs::create_dir_all(&fresh)?;
        for d in dirs {
            std::fs::create_dir_all(d)?;
        }
        for a in artifacts {
            std::fs::write(fresh.join(&a.path), &a.bytes)?;
        }
        if out.exists() {
            std::fs::rename(out, &old)?;
        }
        std::fs::rename(&fresh, out)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&fresh);
        if !out.exists() && old.exists() {
            let _ = std::fs::rename(&old, out);
        }
    }
    result
}

fn report(a: &Analysis, format: Format, color: bool) {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let v = diag::json::report(&a.diags, &a.prog.sources);
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Human => {
            for d in &a.diags {
                let _ = write!(out, "{}", render::render(d, &a.prog.sources, color));
            }
            let name = a.prog.sources.get(a.prog.module(a.prog.root).file).map_or("", |f| f.name.as_str());
            let verdict = if a.has_errors() { "failed" } else { "ok" };
            let _ = writeln!(out, "{name}: {verdict}, {}", render::summary(&a.diags));
        }
    }
}

fn fmt(file: &PathBuf, check_only: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let formatted = match aistack::fmt::format(&text) {
        Ok(f) => f,
        Err(diags) => {
            let mut map = aistack::source::SourceMap::default();
            map.add(aistack::source::SourceFile::new(file.display().to_string(), text.clone()));
            for d in diags {
                eprint!("{}", render::render(&d, &map, std::io::stderr().is_terminal()));
            }
            eprintln!("{}: not formatted: fix the syntax errors first", file.display());
            return ExitCode::from(1);
        }
    };
    if formatted == text {
        return ExitCode::SUCCESS;
    }
    if check_only {
        println!("{}: would be reformatted", file.display());
        return ExitCode::from(1);
    }
    match write_atomically(file, &formatted) {
        Ok(()) => {
            println!("{}: formatted", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

/// Writes through a temporary file in the same folder and renames it over the target, so a
/// crash never leaves a half-written file.
fn write_atomically(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.aistack-fmt.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn explain(code: Option<&str>) -> ExitCode {
    match code {
        None => {
            for (c, title, _) in codes::ALL {
                println!("{c}  {title}");
            }
            ExitCode::SUCCESS
        }
        Some(c) => match codes::lookup(c) {
            Some((_, _, doc)) => {
                print!("{doc}");
                if !doc.ends_with('\n') {
                    println!();
                }
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: no diagnostic code `{c}`; `aistack explain` lists them");
                ExitCode::from(2)
            }
        },
    }
}
