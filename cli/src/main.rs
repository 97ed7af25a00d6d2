//! The `aistack` command line: clap in, library calls, diagnostics out, exit code.
//!
//! Exit codes: 0 no errors (warnings allowed), 1 the stack has errors, 2 usage or I/O failure
//! (an unreadable root file or `fmt` argument, e.g. a folder, FIFO, device or a file without
//! read permission, is an I/O failure).
//!
//! `build -o DIR` replaces DIR whole, so it refuses unless DIR is absent, empty, or an earlier
//! output of the same stack (its `manifest.json` names the same root file) holding only the
//! files that manifest lists; DIR must never hold the stack's own sources. Temporary folders
//! that a killed build left beside DIR are removed by the next build.

mod deploy;
mod graph_cmd;

use aistack::check::{self, Analysis};
use aistack::diag::{self, codes, render};
use aistack::world::{DiskWorld, Preread};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod check_cmd;

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
    /// Type-check a stack: names, types, units and domain rules (with --policy, every built-in
    /// policy rule too).
    Check {
        /// The root `.ai-stack` file.
        file: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        format: check_cmd::CheckFormat,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Colour the report (default: when printing to a terminal).
        #[arg(long)]
        color: Option<bool>,
        /// Run every built-in policy rule (AIS1xx), not only those the stack's policy enables.
        #[arg(long)]
        policy: bool,
        /// Write the report to FILE (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Put suppressed findings in the SARIF log, each with its `suppressions` entry.
        #[arg(long)]
        include_suppressed: bool,
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
    /// Print a stack's resource graph: Graphviz DOT, SVG (needs Graphviz's `dot`) or JSON.
    Graph {
        /// The root `.ai-stack` file.
        file: PathBuf,
        #[arg(long, value_enum, default_value = "dot")]
        format: graph_cmd::GraphFormat,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Rewrite a file in the canonical layout.
    Fmt {
        file: PathBuf,
        /// Report only; exit 1 when the file would change.
        #[arg(long)]
        check: bool,
    },
    /// Serve the Language Server Protocol on stdin/stdout (for editors).
    Lsp,
    /// Monthly cost per declaration, expected and worst case, against each budget; exit 1 when
    /// the worst case exceeds a budget.
    Cost {
        /// The root `.ai-stack` file.
        file: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: CostFormat,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Show the difference from another version of the stack.
        #[arg(long, value_name = "BASE_FILE")]
        compare: Option<PathBuf>,
        /// Set a param: --param NAME=VALUE (repeatable; applies to both files).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Check what only a live look shows: each model's and data set's artifact against its
    /// digest, and each image tag resolved to the digest its registry serves.
    Preflight {
        /// The root `.ai-stack` file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Read storage NAME from a local folder instead of its backend (repeatable).
        #[arg(long = "store", value_name = "NAME=DIR")]
        stores: Vec<String>,
        /// Do not ask registries for image digests.
        #[arg(long)]
        no_images: bool,
        /// Do not check model and data set artifacts.
        #[arg(long)]
        no_artifacts: bool,
        /// Read every object again instead of using `.aistack/preflight-cache.json`.
        #[arg(long)]
        no_cache: bool,
    },
    /// Print the long explanation of a diagnostic code, e.g. `aistack explain E0403`.
    Explain {
        /// A code such as E0403; without one, list every code.
        code: Option<String>,
    },
    /// What apply would change: the stack's resources against the recorded state.
    Plan {
        /// The root `.ai-stack` file.
        file: PathBuf,
        /// Where the state lives: a path or s3://BUCKET/KEY (default `.aistack/state.json` beside FILE).
        #[arg(long)]
        state: Option<String>,
        /// `human` (summary, then changes by declaration) or `json` (docs/plan.md).
        #[arg(long, value_enum, default_value = "human")]
        format: deploy::PlanFormat,
        /// Shorthand for `--format json`.
        #[arg(long)]
        json: bool,
        /// Save the plan for `aistack apply PLAN`.
        #[arg(long, value_name = "PLAN")]
        out: Option<PathBuf>,
        /// Exit 0 with no changes, 2 with changes, 1 on an error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Show each changed attribute.
        #[arg(long)]
        diff: bool,
        /// Check model artifacts against their digests and resolve image tags to digests first
        /// (pinned in the plan and in what apply renders).
        #[arg(long)]
        preflight: bool,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Render the release into `.aistack/releases/<n>/` (with an Argo CD Application) and record it.
    Apply {
        /// The root `.ai-stack` file, or a plan saved by `aistack plan --out` (applied only if still fresh).
        file: PathBuf,
        /// Where the state lives: a path or s3://BUCKET/KEY (default `.aistack/state.json` beside FILE).
        #[arg(long)]
        state: Option<String>,
        /// How long to wait for the state lock (0, 500ms, 30s, 5m); default 0: fail at once.
        #[arg(long, default_value = "0", value_parser = deploy::parse_timeout)]
        lock_timeout: std::time::Duration,
        /// Set a param: --param NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Run preflight first and render the images pinned to their digests (a saved plan
        /// made with `--preflight` always does).
        #[arg(long)]
        preflight: bool,
    },
    /// Return a service to an earlier revision (model version, image digests, serving config).
    Rollback {
        /// The service: `chat` or `service.chat`.
        service: String,
        /// The root `.ai-stack` file.
        #[arg(default_value = "main.ai-stack")]
        file: PathBuf,
        /// The revision to return to (default: the one before the newest).
        #[arg(long)]
        to: Option<u64>,
        /// Where the state lives: a path or s3://BUCKET/KEY (default `.aistack/state.json` beside FILE).
        #[arg(long)]
        state: Option<String>,
        /// How long to wait for the state lock (0, 500ms, 30s, 5m); default 0: fail at once.
        #[arg(long, default_value = "0", value_parser = deploy::parse_timeout)]
        lock_timeout: std::time::Duration,
    },
    /// Inspect the recorded state.
    State {
        #[command(subcommand)]
        command: deploy::StateCommand,
    },
    /// Remove a state lock left by a killed process; takes only the holder's id.
    ForceUnlock {
        /// The lock id the lock error names.
        id: String,
        /// The root `.ai-stack` file (its state is `.aistack/state.json` beside it).
        file: Option<PathBuf>,
        /// Where the state lives: a path or s3://BUCKET/KEY.
        #[arg(long)]
        state: Option<String>,
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
        Command::Check { file, format, params, color, policy, output, include_suppressed } => {
            let params = match parse_params(&params) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let Some(world) = read_root(&file) else { return ExitCode::from(2) };
            let analysis = check::check_with(&world, &file, &params, check::policy::Options { policy });
            let color = output.is_none() && color.unwrap_or_else(|| std::io::stdout().is_terminal());
            let opts = check_cmd::ReportOptions { format, color, include_suppressed, root: world.path.parent() };
            check_cmd::finish(&analysis, &opts, output.as_deref())
        }
        Command::Build { file, out, params, format } => build(&file, &out, &params, format),
        Command::Graph { file, format, params } => match parse_params(&params) {
            Ok(p) => graph_cmd::run(&file, &p, format),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Fmt { file, check } => fmt(&file, check),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Cost { file, format, output, compare, params } => {
            cost(&file, compare.as_deref(), format, output.as_deref(), &params)
        }
        Command::Preflight { file, json, params, stores, no_images, no_artifacts, no_cache } => {
            let flags = PreflightFlags { json, images: !no_images, artifacts: !no_artifacts, cache: !no_cache };
            preflight(&file, &params, &stores, flags)
        }
        Command::Lsp => aistack_lsp::run_stdio(),
        Command::Plan { file, state, format, json, out, detailed_exitcode, diff, preflight, params } => {
            let format = if json { deploy::PlanFormat::Json } else { format };
            deploy::plan(&deploy::PlanArgs {
                file: &file,
                state: state.as_deref(),
                params: &params,
                format,
                out: out.as_deref(),
                detailed_exitcode,
                diff,
                preflight,
            })
        }
        Command::Apply { file, state, lock_timeout, params, preflight } => {
            deploy::apply(&file, state.as_deref(), lock_timeout, &params, preflight)
        }
        Command::Rollback { service, file, to, state, lock_timeout } => {
            deploy::rollback(&service, &file, to, state.as_deref(), lock_timeout)
        }
        Command::State { command } => deploy::state_cmd(command),
        Command::ForceUnlock { id, file, state } => deploy::force_unlock(&id, file.as_deref(), state.as_deref()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CostFormat {
    Table,
    Json,
    Markdown,
}

/// The cost report of one stack, or the exit code (after printing why) when it cannot be read
/// or has errors other than a budget exceeded.
fn cost_of(file: &Path, params: &[(String, String)]) -> Result<aistack::cost::CostReport, ExitCode> {
    let world = read_root(file).ok_or(ExitCode::from(2))?;
    let analysis = check::check(&world, file, params);
    // A worst case over budget is what the report is for: only other errors stop it.
    if analysis.diags.iter().any(|d| d.is_error() && d.code != codes::BUDGET_EXCEEDED) {
        report(&analysis, Format::Human, std::io::stdout().is_terminal());
        return Err(ExitCode::from(1));
    }
    Ok(aistack::cost::of_analysis(&analysis))
}

fn cost(file: &Path, base: Option<&Path>, format: CostFormat, output: Option<&Path>, params: &[String]) -> ExitCode {
    use aistack::cost::report;
    let params = match parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let head = match cost_of(file, &params) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let base = match base.map(|b| cost_of(b, &params)).transpose() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let format = match format {
        CostFormat::Table => report::Format::Table,
        CostFormat::Json => report::Format::Json,
        CostFormat::Markdown => report::Format::Markdown,
    };
    let title = file.file_name().map_or_else(|| shown(file), |n| render::clean(&n.to_string_lossy()).into_owned());
    let text = report::render(&head, base.as_ref(), format, &title);
    match output {
        Some(out) => {
            if let Err(e) = write_atomically(out, &text) {
                eprintln!("error: cannot write {}: {e}", shown(out));
                return ExitCode::from(2);
            }
        }
        None => print!("{text}"),
    }
    if report::over_budget(&head) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn build(file: &Path, out: &Path, params: &[String], format: Format) -> ExitCode {
    let params = match parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(world) = read_root(file) else { return ExitCode::from(2) };
    clean_stale_temps(out);
    let mut analysis = check::check(&world, file, &params);
    if analysis.has_errors() {
        report(&analysis, format, std::io::stdout().is_terminal());
        return ExitCode::from(1);
    }
    let identity = aistack::emit::identity(&world.path);
    if let Err(why) = replaceable(out, &source_dirs(&analysis), &identity) {
        eprintln!("error: will not write to {}: {why}", shown(out));
        return ExitCode::from(2);
    }
    let stack = aistack::ir::lower(&analysis);
    let (artifacts, emit_diags) = aistack::emit::emit_with_identity(&stack, Some(&identity));
    analysis.diags.extend(emit_diags);
    if analysis.has_errors() {
        report(&analysis, format, std::io::stdout().is_terminal());
        return ExitCode::from(1);
    }
    if let Err(e) = write_tree(out, &artifacts) {
        eprintln!("error: cannot write {}: {e}", shown(out));
        return ExitCode::from(2);
    }
    if matches!(format, Format::Human) {
        let mut renderer = render::Renderer::new(&analysis.prog.sources, std::io::stdout().is_terminal());
        for d in &analysis.diags {
            print!("{}", renderer.render(d));
        }
        println!("{}: wrote {} files to {}", shown(file), artifacts.len(), shown(out));
    } else {
        report(&analysis, format, false);
    }
    ExitCode::SUCCESS
}

/// A path as printed: control characters made visible, like the diagnostics do.
fn shown(p: &Path) -> String {
    render::clean(&p.display().to_string()).into_owned()
}

/// Reads the root file up front: an unreadable one is an I/O failure (exit 2), not a
/// diagnostic. The text is then served to the loader, so the file is read once.
fn read_root(file: &Path) -> Option<Preread<'static>> {
    match aistack::world::read_file(file) {
        Ok(text) => {
            let path = file.canonicalize().unwrap_or_else(|_| aistack::world::normalize(file));
            Some(Preread { inner: &DiskWorld, path, text })
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", shown(file));
            None
        }
    }
}

/// The folders the stack was read from: every module's and every template's, canonical.
fn source_dirs(a: &Analysis) -> Vec<PathBuf> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut dirs: Vec<PathBuf> = a.prog.modules.iter().filter_map(|m| m.dir.as_deref().map(canonical)).collect();
    for s in &a.prog.types.schemas {
        let Some(template) = &s.template else { continue };
        let module = a.prog.modules.iter().find(|m| m.file == s.span.file);
        if let Some(dir) = module.and_then(|m| m.dir.as_ref()) {
            let path = aistack::world::normalize(&dir.join(template));
            dirs.extend(path.parent().map(canonical));
        }
    }
    dirs
}

/// The output folder is replaced as a whole, so it must be absent, empty, or an earlier
/// output of this stack holding nothing but the files its manifest lists; and it must not
/// hold any of the stack's sources. Anything else is refused, saying why.
fn replaceable(out: &Path, sources: &[PathBuf], identity: &str) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(out) else {
        return if out.symlink_metadata().is_ok() { Err("it is a broken symbolic link".into()) } else { Ok(()) };
    };
    if !meta.is_dir() {
        return Err("it is not a folder".into());
    }
    let canon = out.canonicalize().map_err(|e| e.to_string())?;
    if let Some(src) = sources.iter().find(|s| s.starts_with(&canon)) {
        return Err(format!(
            "it holds the stack's own sources ({}); write the output to a folder of its own, e.g. {}",
            shown(src),
            shown(&out.join("out"))
        ));
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| e.to_string())?;
    if entries.next().is_none() {
        return Ok(());
    }
    let listed = earlier_output(out, identity)?;
    match unlisted_file(out, &listed)? {
        Some(extra) => Err(format!(
            "it holds {extra}, which the earlier build did not write; move it away or choose another folder"
        )),
        None => Ok(()),
    }
}

/// The files an earlier build of this stack wrote to `out`, from its `manifest.json`.
fn earlier_output(out: &Path, identity: &str) -> Result<std::collections::BTreeSet<String>, String> {
    let not_ours =
        "it exists and is not an earlier aistack build output (no aistack manifest.json); it would be replaced whole";
    let text = aistack::world::read_file(&out.join("manifest.json")).map_err(|_| not_ours.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| not_ours.to_string())?;
    let files = v.get("files").and_then(|f| f.as_array()).filter(|_| v.get("aistack").is_some());
    let Some(files) = files else { return Err(not_ours.into()) };
    if v.get(aistack::emit::IDENTITY_FIELD).and_then(|i| i.as_str()) != Some(identity) {
        return Err("it holds the output of another stack (its manifest.json names a different root file); \
                    delete it first if it may be replaced"
            .into());
    }
    Ok(files.iter().filter_map(|f| f.get("path")?.as_str().map(String::from)).collect())
}

/// The first entry under `out` (as a `/`-separated relative path) that is neither a folder
/// nor `manifest.json` nor a file the manifest lists.
fn unlisted_file(out: &Path, listed: &std::collections::BTreeSet<String>) -> Result<Option<String>, String> {
    let mut todo = vec![(out.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            if kind.is_dir() {
                todo.push((entry.path(), path));
            } else if !(kind.is_file() && (path == "manifest.json" || listed.contains(&path))) {
                return Ok(Some(render::clean(&path).into_owned()));
            }
        }
    }
    Ok(None)
}

/// `.NAME.aistack-new.PID` and `.NAME.aistack-old.PID` beside `out`, left by a build that was
/// killed: removed when that process is gone (by `/proc/PID` on Linux, otherwise when older
/// than an hour).
fn clean_stale_temps(out: &Path) {
    let (parent, name) = temp_base(out);
    let Ok(entries) = std::fs::read_dir(&parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let pid = ["new", "old"].iter().find_map(|k| file_name.strip_prefix(&format!(".{name}.aistack-{k}.")));
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !alive(pid, &entry) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn alive(pid: u32, entry: &std::fs::DirEntry) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_none_or(|a| a < std::time::Duration::from_secs(3600))
}

/// The folder the temporary trees go in (beside `out`) and `out`'s own name.
fn temp_base(out: &Path) -> (PathBuf, String) {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    (parent, name)
}

/// Writes every artifact into a fresh sibling folder, then swaps it into place: readers see
/// the old tree or the new one, never a mix, and a failure leaves the old tree untouched.
fn write_tree(out: &Path, artifacts: &[aistack::emit::Artifact]) -> std::io::Result<()> {
    let (parent, name) = temp_base(out);
    std::fs::create_dir_all(&parent)?;
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
            let mut renderer = render::Renderer::new(&a.prog.sources, color);
            for d in &a.diags {
                let _ = write!(out, "{}", renderer.render(d));
            }
            let name = a.prog.sources.get(a.prog.module(a.prog.root).file).map_or("", |f| f.name.as_str());
            let name = render::clean(name);
            let verdict = if a.has_errors() { "failed" } else { "ok" };
            let _ = writeln!(out, "{name}: {verdict}, {}", render::summary(&a.diags));
        }
    }
}

/// Formats `file` in place. A byte order mark is kept as it was, so a file is never
/// rewritten for that alone.
fn fmt(file: &Path, check_only: bool) -> ExitCode {
    let text = match aistack::world::read_file(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", shown(file));
            return ExitCode::from(2);
        }
    };
    let formatted = match aistack::fmt::format(&text) {
        Ok(f) => f,
        Err(diags) => {
            let mut map = aistack::source::SourceMap::default();
            let body = aistack::source::strip_bom(&text);
            map.add(aistack::source::SourceFile::new(file.display().to_string(), body));
            let mut renderer = render::Renderer::new(&map, std::io::stderr().is_terminal());
            for d in diags {
                eprint!("{}", renderer.render(&d));
            }
            eprintln!("{}: not formatted: fix the syntax errors first", shown(file));
            return ExitCode::from(1);
        }
    };
    if formatted == text {
        return ExitCode::SUCCESS;
    }
    if check_only {
        println!("{}: would be reformatted", shown(file));
        return ExitCode::from(1);
    }
    // Through a symbolic link, the file it points to is rewritten, not the link.
    let target = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    match write_atomically(&target, &formatted) {
        Ok(()) => {
            println!("{}: formatted", shown(file));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", shown(file));
            ExitCode::from(2)
        }
    }
}

/// Writes through a temporary file in the same folder and renames it over the target, so a
/// crash never leaves a half-written file.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
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
    let policy_rules = || check::policy::RULES.iter().filter(|r| r.policy);
    match code {
        None => {
            for (c, title, _) in codes::ALL {
                println!("{c}  {title}");
            }
            for r in policy_rules() {
                println!("{}  {}", r.id, r.summary);
            }
            ExitCode::SUCCESS
        }
        Some(c) => {
            let doc = codes::lookup(c)
                .map(|e| e.2)
                .or_else(|| policy_rules().find(|r| r.id.eq_ignore_ascii_case(c)).map(|r| r.doc));
            match doc {
                Some(doc) => {
                    print!("{doc}");
                    if !doc.ends_with('\n') {
                        println!();
                    }
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("error: no diagnostic code or rule `{c}`; `aistack explain` lists them");
                    ExitCode::from(2)
                }
            }
        }
    }
}

// ---- `aistack preflight` (self-contained; the lead wires `aistack_deploy::preflight` into plan) ----

struct PreflightFlags {
    json: bool,
    images: bool,
    artifacts: bool,
    cache: bool,
}

/// Checks the stack, then runs the preflight checks: exit 0 all passed, 1 errors (in the stack
/// or found by preflight), 2 usage or I/O failure.
fn preflight(file: &Path, params: &[String], stores: &[String], flags: PreflightFlags) -> ExitCode {
    let parsed = parse_params(params).and_then(|p| Ok((p, parse_stores(stores)?)));
    let (params, local_stores) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(world) = read_root(file) else { return ExitCode::from(2) };
    let analysis = check::check(&world, file, &params);
    let format = if flags.json { Format::Json } else { Format::Human };
    if analysis.has_errors() {
        report(&analysis, format, std::io::stdout().is_terminal());
        return ExitCode::from(1);
    }
    let opts = aistack_deploy::preflight::Options {
        images: flags.images,
        artifacts: flags.artifacts,
        local_stores,
        cache: flags.cache.then(|| aistack_deploy::preflight::default_cache(&world.path)),
        ..Default::default()
    };
    let result = aistack_deploy::preflight::run(&analysis, &opts);
    if flags.json {
        let v = result.to_json(&analysis.prog.sources);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_preflight(file, &analysis, &result);
    }
    if result.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--store NAME=DIR` pairs.
fn parse_stores(raw: &[String]) -> Result<std::collections::BTreeMap<String, PathBuf>, String> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), PathBuf::from(v))),
            _ => Err(format!("--store takes NAME=DIR, got `{p}`")),
        })
        .collect()
}

fn print_preflight(file: &Path, a: &Analysis, r: &aistack_deploy::preflight::Report) {
    let mut out = std::io::stdout().lock();
    let mut renderer = render::Renderer::new(&a.prog.sources, std::io::stdout().is_terminal());
    for d in &r.diags {
        let _ = write!(out, "{}", renderer.render(d));
    }
    for i in &r.images {
        let _ = writeln!(out, "image {}: {} is {}", i.declaration, render::clean(&i.image.to_string()), i.digest);
    }
    for v in &r.artifacts {
        let f = &v.verified;
        let what = match &f.digest {
            Some(d) => format!("matches {d}"),
            None => "exists (no digest pinned)".to_string(),
        };
        let _ = writeln!(
            out,
            "artifact {}: {} {what} ({} files, {} bytes, {} read)",
            v.declaration,
            render::clean(&f.location),
            f.files,
            f.bytes,
            f.hashed_bytes
        );
    }
    for s in &r.skipped {
        let _ = writeln!(out, "skipped {}: {}", s.declaration, s.reason);
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let verdict = if r.has_errors() { "failed" } else { "ok" };
    let errors = r.diags.iter().filter(|d| d.is_error()).count();
    let _ = writeln!(
        out,
        "{}: preflight {verdict}, {} images resolved, {} artifacts verified, {} skipped, {errors} errors",
        shown(file),
        r.images.len(),
        r.artifacts.len(),
        r.skipped.len()
    );
}
