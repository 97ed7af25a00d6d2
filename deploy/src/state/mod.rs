//! State: the versioned document ([`doc`]), its backends behind one trait ([`backend`]:
//! [`local`] by default, [`s3`] for teams) and the one-writer lock ([`lock`]).
//!
//! Takes: a `--state` location and the stack's root file. Gives: [`list`] and [`show`] for
//! `aistack state list|show` and everything apply needs to read, lock and write the state.

pub mod backend;
pub mod doc;
pub mod local;
pub mod lock;
#[cfg(feature = "aws")]
pub mod s3;

pub use backend::{open, Backend, Snapshot, Tag};
pub use doc::StateDoc;
pub use lock::{acquire, force_unlock, LockGuard, LockInfo};

use crate::error::OpError;
use aistack::diag::codes;

fn no_state(location: &str) -> OpError {
    OpError::new(codes::STATE_UNREADABLE, format!("there is no state at {location}"))
        .with_help("run `aistack apply FILE` first, or pass the --state the stack was applied with")
}

/// Every recorded address, sorted.
pub fn list(backend: &dyn Backend) -> Result<Vec<String>, OpError> {
    let doc = backend.read()?.doc.ok_or_else(|| no_state(&backend.location()))?;
    Ok(doc.resources.keys().cloned().collect())
}

/// The record at `address` as canonical JSON (secrets were redacted when it was recorded).
pub fn show(backend: &dyn Backend, address: &str) -> Result<String, OpError> {
    let doc = backend.read()?.doc.ok_or_else(|| no_state(&backend.location()))?;
    let Some(record) = doc.resources.get(address) else {
        let near = aistack::check::suggest(address, doc.resources.keys().map(String::as_str));
        let help = match near {
            Some(n) => format!("did you mean `{n}`? `aistack state list` prints every address"),
            None => "`aistack state list` prints every address".into(),
        };
        return Err(OpError::new(
            codes::STATE_NO_ADDRESS,
            format!("no resource `{address}` in the state at {}", backend.location()),
        )
        .with_help(help));
    };
    let value = serde_json::to_value(record).unwrap_or_default();
    let mut text = serde_json::to_string_pretty(&doc::canonical(value)).unwrap_or_default();
    text.push('\n');
    Ok(text)
}
