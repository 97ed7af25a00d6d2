//! `aistack plan`, `aistack apply`, `aistack state list|show` and `aistack force-unlock`: arguments in, calls
//! into the `aistack-deploy` crate, operational errors (E06xx) rendered, exit code out.
//!
//! Exit codes: 0 done (or no changes), 1 an operational error or a stack with errors, 2 usage.
//! Without `--state`, the state is `.aistack/state.json` beside FILE (or in the current folder
//! when no FILE is given).

use aistack_deploy::error::{render, OpError};
use aistack_deploy::state::{self, Backend};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// Every recorded address, one per line, sorted.
    List {
        /// The root `.ai-stack` file (its state is `.aistack/state.json` beside it).
        file: Option<PathBuf>,
        /// Where the state lives: a path or s3://BUCKET/KEY.
        #[arg(long)]
        state: Option<String>,
    },
    /// One record as JSON (secrets redacted).
    Show {
        address: String,
        file: Option<PathBuf>,
        #[arg(long)]
        state: Option<String>,
    },
    /// Writes states in a loop (for the crash tests).
    #[command(hide = true)]
    WriteLoop { path: PathBuf, count: u64 },
}

pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    state::lock::parse_duration(s)
}

fn fail(e: &OpError) -> ExitCode {
    eprint!("{}", render(e));
    ExitCode::from(1)
}

fn open(state_loc: Option<&str>, file: Option<&Path>) -> Result<Box<dyn Backend>, OpError> {
    state::open(state_loc, file.unwrap_or_else(|| Path::new("stack")))
}

pub fn state_cmd(cmd: StateCommand) -> ExitCode {
    let result = match cmd {
        StateCommand::List { file, state } => open(state.as_deref(), file.as_deref())
            .and_then(|b| state::list(b.as_ref()))
            .map(|addrs| addrs.iter().for_each(|a| println!("{}", super::render::clean(a)))),
        StateCommand::Show { address, file, state } => open(state.as_deref(), file.as_deref())
            .and_then(|b| state::show(b.as_ref(), &address))
            .map(|t| print!("{t}")),
        StateCommand::WriteLoop { path, count } => state::local::write_loop(&path, count),
    };
    result.map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
}

pub fn force_unlock(id: &str, file: Option<&Path>, state_loc: Option<&str>) -> ExitCode {
    match open(state_loc, file).and_then(|b| state::force_unlock(b.as_ref(), id).map(|h| (h, b.location()))) {
        Ok((h, loc)) => {
            println!("removed the lock on {loc} held by {} ({} since {}, id {})", h.who, h.operation, h.created, h.id);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// A stack checked, lowered and emitted, with its desired inventory.
pub struct Prepared {
    pub root: PathBuf,
    pub stack: aistack::ir::Stack,
    pub artifacts: Vec<aistack::emit::Artifact>,
    pub origins: std::collections::BTreeMap<String, (String, u32)>,
    pub desired: std::collections::BTreeMap<String, aistack_deploy::state::doc::Resource>,
    /// Images resolved by preflight and pinned in what is rendered.
    pub images: Vec<aistack_deploy::plan::PinnedImage>,
}

/// Checks, lowers and emits FILE, and builds its resource graph; prints the diagnostics and
/// gives the exit code when it has errors. With `preflight`, the model artifacts are checked
/// against their digests and every image tag is resolved in its registry first (a failure is
/// a located error), and the images are rendered pinned to the digests found.
pub fn prepare(file: &Path, params: &[String], preflight: bool) -> Result<Prepared, ExitCode> {
    let params = super::parse_params(params).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let world = super::read_root(file).ok_or(ExitCode::from(2))?;
    let mut analysis = aistack::check::check(&world, file, &params);
    let color = std::io::stdout().is_terminal();
    if analysis.has_errors() {
        super::report(&analysis, super::Format::Human, color);
        return Err(ExitCode::from(1));
    }
    let mut images = Vec::new();
    if preflight {
        let opts = aistack_deploy::preflight::Options {
            cache: Some(aistack_deploy::preflight::default_cache(&world.path)),
            ..Default::default()
        };
        let report = aistack_deploy::preflight::run(&analysis, &opts);
        if report.has_errors() {
            let mut renderer = aistack::diag::render::Renderer::new(&analysis.prog.sources, color);
            for d in &report.diags {
                eprint!("{}", renderer.render(d));
            }
            return Err(ExitCode::from(1));
        }
        images = report
            .images
            .iter()
            .map(|i| aistack_deploy::plan::PinnedImage {
                declaration: i.declaration.clone(),
                written: i.written.clone(),
                digest: i.digest.clone(),
                pinned: i.pinned.clone(),
            })
            .collect();
    }
    let identity = aistack::emit::identity(&world.path);
    let mut stack = aistack::ir::lower(&analysis);
    aistack_deploy::plan::pin_images(&mut stack, &images);
    let (artifacts, emit_diags) = aistack::emit::emit_with_identity(&stack, Some(&identity));
    analysis.diags.extend(emit_diags);
    if analysis.has_errors() {
        super::report(&analysis, super::Format::Human, color);
        return Err(ExitCode::from(1));
    }
    let graph = aistack::graph::build(&stack, &aistack::graph::Options::default());
    let origins = aistack_deploy::apply::origins(&analysis);
    let desired = aistack_deploy::plan::desired(&graph, &artifacts, &stack, &origins);
    Ok(Prepared { root: world.path.clone(), stack, artifacts, origins, desired, images })
}

/// `aistack apply FILE` or `aistack apply PLAN` (a plan saved by `aistack plan --out`).
pub fn apply(
    file: &Path,
    state_loc: Option<&str>,
    lock_timeout: Duration,
    params: &[String],
    preflight: bool,
) -> ExitCode {
    let is_stack = file.extension().is_some_and(|e| e == "ai-stack");
    let plan = if is_stack {
        None
    } else {
        let read = std::fs::read_to_string(file).map_err(|e| {
            OpError::new(aistack::diag::codes::PLAN_UNREADABLE, format!("cannot read {}: {e}", file.display()))
                .with_help("pass the root `.ai-stack` file or a plan saved by `aistack plan FILE --out PLAN`")
        });
        match read.and_then(|t| aistack_deploy::plan::Plan::parse(&t, &file.display().to_string())) {
            Ok(p) => Some(p),
            Err(e) => return fail(&e),
        }
    };
    // A saved plan names its stack and (unless --state overrides it) the state it was made against.
    let stack_file = plan.as_ref().map_or_else(|| file.to_path_buf(), |p| PathBuf::from(&p.root));
    let state_loc = state_loc.map(str::to_string).or_else(|| plan.as_ref().and_then(|p| p.state.clone()));
    let preflight = preflight || plan.as_ref().is_some_and(|p| p.preflight);
    let prepared = match prepare(&stack_file, params, preflight) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let backend = match open(state_loc.as_deref(), Some(&prepared.root)) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    match run_apply(&prepared, backend.as_ref(), lock_timeout, plan.as_ref(), None) {
        Ok(outcome) => {
            print_outcome(&outcome, &backend.location());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Applies a prepared stack (exactly `plan` when given; with `rollback`, one service returned
/// to an earlier revision).
fn run_apply(
    prepared: &Prepared,
    backend: &dyn Backend,
    lock_timeout: Duration,
    plan: Option<&aistack_deploy::plan::Plan>,
    rollback: Option<&aistack_deploy::apply::rollback::Target>,
) -> Result<aistack_deploy::apply::Outcome, OpError> {
    let input = aistack_deploy::apply::Input {
        stack: &prepared.stack,
        artifacts: &prepared.artifacts,
        origins: &prepared.origins,
        root: &prepared.root,
        lock_timeout,
        desired: &prepared.desired,
        plan,
        rollback,
    };
    aistack_deploy::apply::apply(&input, backend)
}

/// `aistack rollback SERVICE [FILE] [--to N]`: a new release in which the service is back at
/// revision N (default: the one before its newest), recorded in its history.
pub fn rollback(
    service: &str,
    file: &Path,
    to: Option<u64>,
    state_loc: Option<&str>,
    lock_timeout: Duration,
) -> ExitCode {
    let mut prepared = match prepare(file, &[], false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let backend = match open(state_loc, Some(&prepared.root)) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let target = backend.read().and_then(|snap| {
        let doc = snap.doc.ok_or_else(|| {
            OpError::new(aistack::diag::codes::ROLLBACK_TARGET, format!("no state at {}", backend.location()))
                .with_help("apply the stack first; rollback returns to a recorded revision")
        })?;
        aistack_deploy::apply::rollback::target(&doc, &prepared.root, service, to)
    });
    let target = match target {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    if let Err(e) = aistack_deploy::apply::rollback::overlay(&target, &mut prepared.artifacts, &mut prepared.desired) {
        return fail(&e);
    }
    match run_apply(&prepared, backend.as_ref(), lock_timeout, None, Some(&target)) {
        Ok(outcome) => {
            let m = &target.revision.model;
            println!(
                "{}: back to revision {} (model {} version {}, release {})",
                target.service, target.revision.n, m.address, m.version, target.revision.release
            );
            print_outcome(&outcome, &backend.location());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// What `aistack plan` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
}

pub struct PlanArgs<'a> {
    pub file: &'a Path,
    pub state: Option<&'a str>,
    pub params: &'a [String],
    pub format: PlanFormat,
    pub out: Option<&'a Path>,
    pub detailed_exitcode: bool,
    pub diff: bool,
    pub preflight: bool,
}

/// `aistack plan FILE`: the desired resources against the recorded state. Exit 0 (or, with
/// `--detailed-exitcode`, 0 no changes and 2 changes), 1 on an error.
pub fn plan(args: &PlanArgs) -> ExitCode {
    let prepared = match prepare(args.file, args.params, args.preflight) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let backend = match open(args.state, Some(&prepared.root)) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let snap = match backend.read() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    // Absolute, so that `aistack apply PLAN` finds the stack from any folder.
    let root = std::fs::canonicalize(&prepared.root).unwrap_or_else(|_| prepared.root.clone()).display().to_string();
    let against = aistack_deploy::plan::Against {
        state_arg: args.state.map(str::to_string),
        location: backend.location(),
        state: snap.doc.as_ref(),
        stack: &prepared.stack.name,
        root: &root,
    };
    let mut plan = aistack_deploy::plan::compute(&prepared.desired, &against);
    plan.preflight = args.preflight;
    plan.images = prepared.images.clone();
    match args.format {
        PlanFormat::Human => print!("{}", aistack_deploy::plan::render::human(&plan, args.diff)),
        PlanFormat::Json => print!("{}", plan.to_json()),
    }
    if let Some(out) = args.out {
        if let Err(e) = aistack_deploy::state::local::write_atomically(out, plan.to_json().as_bytes()) {
            eprintln!("error: cannot write the plan to {}: {e}", out.display());
            return ExitCode::from(1);
        }
    }
    if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_outcome(outcome: &aistack_deploy::apply::Outcome, location: &str) {
    use aistack_deploy::apply::Outcome;
    match outcome {
        Outcome::NoChanges { serial } => {
            println!("no changes: the state at {location} is up to date (serial {serial})")
        }
        Outcome::Applied { release, path, serial, revisions, warning } => {
            println!("release {release} written to {} (state serial {serial} at {location})", path.display());
            for (service, n) in revisions {
                println!("  {service}: revision {n}");
            }
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
        }
    }
}
