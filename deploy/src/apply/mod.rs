//! Apply on the built-in default (no cloud configured): render the release into
//! `.aistack/releases/<n>/` beside the stack's root file, with an Argo CD `Application` for it,
//! and record it in the state under the one-writer lock.
//!
//! Takes: the lowered stack, what `build` emits for it, the declarations' origins and a state
//! [`Backend`]. Gives: an [`Outcome`] — `NoChanges` when the emitted files equal the recorded
//! inventory (nothing is written, the serial stays), else `Applied` with the new release, its
//! serial and a new revision for each service whose model, images or serving config changed.
//! The release folder is written whole into a temporary folder and renamed into place; a
//! folder `<n>` left by an apply killed before its state write is replaced (it is not
//! recorded), so a rerun converges. The inventory recorded is the desired one
//! ([`crate::plan::desired`]): every resource of the graph by address, and one `file:` record
//! (its SHA-256) for each emitted file outside the graph — see [`inventory`].

pub mod argocd;
pub mod rollback;

use crate::error::OpError;
use crate::state::doc::{self, ImageRef, ModelRef, Origin, Release, Resource, Revision, StateDoc};
use crate::state::{lock, Backend};
use aistack::check::Analysis;
use aistack::diag::codes;
use aistack::emit::Artifact;
use aistack::ir;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What apply needs, gathered by the caller from `check`, `lower` and `emit`.
pub struct Input<'a> {
    pub stack: &'a ir::Stack,
    pub artifacts: &'a [Artifact],
    /// Declaration address (`service.chat`) to file name and 1-based line; see [`origins`].
    pub origins: &'a BTreeMap<String, (String, u32)>,
    /// The stack's root file; releases go in `.aistack/releases/` beside it.
    pub root: &'a Path,
    pub lock_timeout: Duration,
    /// The desired inventory ([`crate::plan::desired`]): the resource graph's resources and
    /// the emitted files outside it.
    pub desired: &'a BTreeMap<String, Resource>,
    /// A saved plan to apply exactly: refused if stale ([`crate::plan::check_fresh`]).
    pub plan: Option<&'a crate::plan::Plan>,
    /// A service returned to an earlier revision ([`rollback`]): its revision is recorded as
    /// that one's content, not as what the stack now says.
    pub rollback: Option<&'a rollback::Target>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    NoChanges { serial: u64 },
    Applied { release: u64, path: PathBuf, serial: u64, revisions: Vec<(String, u64)>, warning: Option<String> },
}

/// Every declaration instance's full address with its file name and line.
pub fn origins(a: &Analysis) -> BTreeMap<String, (String, u32)> {
    let mut out = BTreeMap::new();
    for d in &a.decls {
        let Some(kind) = d.kind.and_then(|k| a.prog.types.schemas.get(k.0 as usize)) else { continue };
        let Some(file) = a.prog.sources.get(d.span.file) else { continue };
        let line = file.line_col(d.name_span.start).0 as u32;
        out.insert(format!("{}.{}", kind.name, d.address()), (file.name.clone(), line));
    }
    out
}

/// Takes the lock, renders and records the release, releases the lock.
pub fn apply(input: &Input, backend: &dyn Backend) -> Result<Outcome, OpError> {
    if let Some(plan) = input.plan {
        // Before any mutating call (the lock is one): a stale plan changes nothing.
        let snap = backend.read()?;
        crate::plan::check_fresh(plan, snap.doc.as_ref(), &backend.location(), input.desired)?;
    }
    let guard = lock::acquire(backend, "apply", input.lock_timeout)?;
    hold_for_tests();
    let snap = backend.read()?;
    if let Some(plan) = input.plan {
        // Again under the lock: another apply may have won the race since the first read.
        crate::plan::check_fresh(plan, snap.doc.as_ref(), &backend.location(), input.desired)?;
    }
    let mut state = match snap.doc {
        Some(d) if d.stack != input.stack.name => {
            return Err(other_stack(&backend.location(), &d.stack, &input.stack.name))
        }
        Some(d) => d,
        None => StateDoc::new(&input.stack.name)?,
    };
    let resources = input.desired.clone();
    if !state.releases.is_empty() && resources == state.resources {
        return Ok(Outcome::NoChanges { serial: state.serial });
    }
    let n = state.last_release().map_or(1, |r| r.n + 1);
    let (time, who) = (doc::now_rfc3339(), doc::actor());
    let path = write_release(input, n)?;
    let revisions = record_revisions(&mut state, input, n, &time, &who);
    state.serial += 1;
    state.resources = resources;
    state.releases.push(Release {
        n,
        path: format!(".aistack/releases/{n}"),
        manifest_sha256: manifest_hash(input.artifacts),
        serial: state.serial,
        time,
        who,
    });
    backend.write(&state, &snap.tag)?;
    let warning = guard.release().err().map(|e| e.message);
    Ok(Outcome::Applied { release: n, path, serial: state.serial, revisions, warning })
}

/// `AISTACK_TEST_LOCK_HOLD_MS`: hold the lock this long before working, so that tests of
/// concurrent applies see every contender meet a held lock. Unset in normal use.
fn hold_for_tests() {
    if let Some(ms) = std::env::var("AISTACK_TEST_LOCK_HOLD_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms.min(60_000)));
    }
}

fn other_stack(location: &str, found: &str, ours: &str) -> OpError {
    OpError::new(codes::STATE_STACK, format!("the state at {location} belongs to stack `{found}`, not `{ours}`"))
        .with_help("pass the --state of this stack, or rename the stack back")
}

/// One record per emitted file: address `file:<path>`, engine and type `file`, attributes
/// path, SHA-256, size and the declarations it came from; origin its first declaration. Used
/// for the files the resource graph does not describe (serving configs, templates).
pub fn inventory(artifacts: &[Artifact], origins: &BTreeMap<String, (String, u32)>) -> BTreeMap<String, Resource> {
    let none = BTreeSet::new();
    artifacts
        .iter()
        .map(|a| {
            let attrs = serde_json::json!({
                "path": a.path, "sha256": aistack::emit::content_hash(a), "bytes": a.bytes.len(), "from": a.sources,
            });
            let attrs = doc::redact(attrs, &none, &none);
            let decl = a.sources.first().cloned().unwrap_or_else(|| "stack".into());
            let at = origins.get(&decl);
            let origin = Origin { file: at.map(|o| o.0.clone()), line: at.map(|o| o.1), decl };
            let address = format!("file:{}", a.path);
            let r = Resource {
                address: address.clone(),
                engine: "file".into(),
                kind: "file".into(),
                name: a.path.clone(),
                attrs_hash: doc::attrs_hash(&attrs),
                attrs,
                origin,
            };
            (address, r)
        })
        .collect()
}

fn manifest_hash(artifacts: &[Artifact]) -> String {
    artifacts.iter().find(|a| a.path == "manifest.json").map(aistack::emit::content_hash).unwrap_or_default()
}

/// What service `s` serves now, as an unnumbered revision.
pub fn revision_of(stack: &ir::Stack, artifacts: &[Artifact], s: &ir::Service) -> Revision {
    let model = stack.models.get(s.model).map_or(
        ModelRef { address: String::new(), version: String::new(), digest: None },
        |m| ModelRef { address: m.meta.full_address(), version: m.version.clone(), digest: m.digest.clone() },
    );
    let address = s.meta.full_address();
    let mut h = Sha256::new();
    for a in artifacts.iter().filter(|a| a.path.starts_with("serving/") && a.sources.contains(&address)) {
        h.update(a.path.as_bytes());
        h.update([0]);
        h.update(&a.bytes);
        h.update([0]);
    }
    Revision {
        n: 0,
        release: 0,
        model,
        images: vec![ImageRef {
            reference: s.image.clone(),
            digest: s.image.split_once('@').map(|(_, d)| d.to_string()).filter(|d| d.starts_with("sha256:")),
        }],
        config_hash: doc::hex(&h.finalize()),
        time: String::new(),
        who: String::new(),
    }
}

/// Appends a revision for each service whose content changed; returns (service, revision n).
fn record_revisions(state: &mut StateDoc, input: &Input, release: u64, time: &str, who: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for s in &input.stack.services {
        let mut rev = match input.rollback {
            Some(t) if t.service == s.meta.full_address() => t.revision.clone(),
            _ => revision_of(input.stack, input.artifacts, s),
        };
        let history = state.services.entry(s.meta.full_address()).or_default();
        if history.revisions.last().is_some_and(|last| last.same_content(&rev)) {
            continue;
        }
        rev.n = history.revisions.last().map_or(1, |r| r.n + 1);
        rev.release = release;
        rev.time = time.to_string();
        rev.who = who.to_string();
        out.push((s.meta.full_address(), rev.n));
        history.revisions.push(rev);
    }
    out
}

fn release_error(path: &Path, e: std::io::Error) -> OpError {
    OpError::new(codes::RELEASE_WRITE, format!("cannot write the release {}: {e}", path.display()))
        .with_help("check the stack's folder is writable; the state was not changed")
}

/// Writes release `n` (the artifacts and `argocd/application.yaml`) whole: into a temporary
/// folder, then renamed to `.aistack/releases/<n>`.
fn write_release(input: &Input, n: u64) -> Result<PathBuf, OpError> {
    let releases = input.root.parent().unwrap_or_else(|| Path::new(".")).join(".aistack").join("releases");
    std::fs::create_dir_all(&releases).map_err(|e| release_error(&releases, e))?;
    remove_leftovers(&releases);
    let target = releases.join(n.to_string());
    let tmp = releases.join(format!(".{n}.tmp.{}", std::process::id()));
    let app = argocd::application(input.stack, n);
    let inventory = rollback::inventory_artifact(input.desired);
    let result = (|| {
        for a in input.artifacts.iter().chain([&app, &inventory]) {
            let path = tmp.join(&a.path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, &a.bytes)?;
        }
        if target.exists() {
            // An apply killed after its rename but before its state write: not recorded.
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(&releases)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(release_error(&target, e));
    }
    Ok(target)
}

/// Temporary release folders of killed applies (we hold the lock, so none is in progress).
fn remove_leftovers(releases: &Path) {
    let Ok(entries) = std::fs::read_dir(releases) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp.") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
