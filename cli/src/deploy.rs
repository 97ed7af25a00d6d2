//! `aistack apply`, `aistack state list|show` and `aistack force-unlock`: arguments in, calls
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

pub fn apply(file: &Path, state_loc: Option<&str>, lock_timeout: Duration, params: &[String]) -> ExitCode {
    let params = match super::parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(world) = super::read_root(file) else { return ExitCode::from(2) };
    let mut analysis = aistack::check::check(&world, file, &params);
    let color = std::io::stdout().is_terminal();
    if analysis.has_errors() {
        super::report(&analysis, super::Format::Human, color);
        return ExitCode::from(1);
    }
    let identity = aistack::emit::identity(&world.path);
    let stack = aistack::ir::lower(&analysis);
    let (artifacts, emit_diags) = aistack::emit::emit_with_identity(&stack, Some(&identity));
    analysis.diags.extend(emit_diags);
    if analysis.has_errors() {
        super::report(&analysis, super::Format::Human, color);
        return ExitCode::from(1);
    }
    let backend = match open(state_loc, Some(&world.path)) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let origins = aistack_deploy::apply::origins(&analysis);
    let input = aistack_deploy::apply::Input {
        stack: &stack,
        artifacts: &artifacts,
        origins: &origins,
        root: &world.path,
        lock_timeout,
    };
    match aistack_deploy::apply::apply(&input, backend.as_ref()) {
        Ok(outcome) => {
            print_outcome(&outcome, &backend.location());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
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
