//! Rollback: a service back to an earlier revision, through the same apply path.
//!
//! Takes: the state, the stack's root file, a service (`chat` or `service.chat`) and
//! optionally a revision number (default: the one before the newest). Gives: a [`Target`] —
//! the revision and the release that carried it — and [`overlay`], which puts that release's
//! files and recorded resources for the service in place of what the stack now renders; apply
//! then writes a new release and records the old revision's content (model version and digest,
//! image digests, config hash) as the service's newest revision. Every release keeps its desired
//! inventory in `inventory.json` ([`inventory_artifact`]; outside the `kubernetes/` folder the
//! Argo CD Application syncs), which is what makes the resources recoverable. The stack's files
//! still say the newer version, so the next `plan` shows the service's resources as updates
//! until the stack is pinned back or the newer version is applied again.

use crate::error::OpError;
use crate::state::doc::{Resource, Revision, StateDoc};
use aistack::diag::codes;
use aistack::emit::Artifact;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The revision to return to, and where its release is.
#[derive(Debug, Clone)]
pub struct Target {
    /// `service.chat`.
    pub service: String,
    pub revision: Revision,
    pub release_dir: PathBuf,
    /// The resources of the release that carried the revision.
    pub inventory: BTreeMap<String, Resource>,
}

/// The file each release keeps its desired inventory in.
pub const INVENTORY: &str = "inventory.json";

pub fn inventory_artifact(desired: &BTreeMap<String, Resource>) -> Artifact {
    let mut bytes = serde_json::to_string_pretty(desired).unwrap_or_default().into_bytes();
    bytes.push(b'\n');
    Artifact { path: INVENTORY.into(), bytes, sources: Vec::new() }
}

fn no_revision(service: &str, msg: String, help: String) -> OpError {
    OpError::new(codes::ROLLBACK_TARGET, format!("cannot roll back `{service}`: {msg}")).with_help(help)
}

/// Finds the revision `to` (default: the one before the newest) of `service` and reads its
/// release's inventory.
pub fn target(state: &StateDoc, root: &Path, service: &str, to: Option<u64>) -> Result<Target, OpError> {
    let address = if service.starts_with("service.") { service.to_string() } else { format!("service.{service}") };
    let Some(history) = state.services.get(&address).filter(|h| !h.revisions.is_empty()) else {
        let known: Vec<&str> = state.services.keys().map(String::as_str).collect();
        return Err(no_revision(
            &address,
            "the state records no revision of it".into(),
            format!("services with revisions: {}", if known.is_empty() { "none".into() } else { known.join(", ") }),
        ));
    };
    let newest = history.revisions.last().map_or(0, |r| r.n);
    let want = match to {
        Some(n) => n,
        None if newest >= 2 => newest - 1,
        None => {
            return Err(no_revision(
                &address,
                "it has only one revision".into(),
                "apply a newer version first; rollback returns to an earlier one".into(),
            ))
        }
    };
    let Some(revision) = history.revisions.iter().find(|r| r.n == want).cloned() else {
        let ns: Vec<String> = history.revisions.iter().map(|r| r.n.to_string()).collect();
        return Err(no_revision(
            &address,
            format!("it has no revision {want}"),
            format!("its revisions: {}", ns.join(", ")),
        ));
    };
    let release_dir = root
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(".aistack")
        .join("releases")
        .join(revision.release.to_string());
    let path = release_dir.join(INVENTORY);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        no_revision(
            &address,
            format!("release {} cannot be read ({}: {e})", revision.release, path.display()),
            "rollback needs the release folders under .aistack/releases/; restore them from your GitOps repository"
                .into(),
        )
    })?;
    let inventory: BTreeMap<String, Resource> = serde_json::from_str(&text).map_err(|e| {
        no_revision(
            &address,
            format!("{} does not parse: {e}", path.display()),
            "restore the release folder from your GitOps repository".into(),
        )
    })?;
    Ok(Target { service: address, revision, release_dir, inventory })
}

/// Whether a recorded resource belongs to the service.
fn owned(r: &Resource, service: &str) -> bool {
    r.origin.decl == service
}

/// Puts the target release's resources and files of the service in place of the current ones:
/// the service's resources come from that release's inventory (added, replaced or removed to
/// match it), and each file the current build renders for the service is replaced by that
/// release's copy (a file the old release did not have is left out).
pub fn overlay(
    t: &Target,
    artifacts: &mut Vec<Artifact>,
    desired: &mut BTreeMap<String, Resource>,
) -> Result<(), OpError> {
    desired.retain(|_, r| !owned(r, &t.service));
    for (a, r) in &t.inventory {
        if owned(r, &t.service) {
            desired.insert(a.clone(), r.clone());
        }
    }
    let mut kept = Vec::with_capacity(artifacts.len());
    for mut a in std::mem::take(artifacts) {
        let service_file = a.sources.iter().any(|s| s == &t.service)
            && (a.path.starts_with("kubernetes/") || a.path.starts_with("serving/"));
        if !service_file {
            kept.push(a);
            continue;
        }
        let old = t.release_dir.join(&a.path);
        match std::fs::read(&old) {
            Ok(bytes) => {
                a.bytes = bytes;
                kept.push(a);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(no_revision(
                    &t.service,
                    format!("{} cannot be read: {e}", old.display()),
                    "restore the release folder from your GitOps repository".into(),
                ))
            }
        }
    }
    *artifacts = kept;
    Ok(())
}
