//! The one trait every state backend implements, and how a `--state` value picks one.
//!
//! Takes: `--state` (absent: `.aistack/state.json` beside the stack's root file; a path; or
//! `s3://bucket/key`). Gives: a [`Backend`] that reads the state with a [`Tag`] (what the next
//! write is conditional on: the serial read locally, the ETag on S3), writes it only if that
//! tag still holds (E0605 otherwise: a lost update is impossible even without the lock), and
//! creates, reads and removes the lock exclusively.

use super::doc::StateDoc;
use super::lock::LockInfo;
use crate::error::OpError;
use aistack::diag::codes;
use std::path::{Path, PathBuf};

/// What a write is conditional on: `None` when no state existed at read time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(pub Option<String>);

/// A state as read, with the tag its next write must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub doc: Option<StateDoc>,
    pub tag: Tag,
}

pub trait Backend: Send + Sync {
    /// Where the state lives, as the user wrote it (`.aistack/state.json`, `s3://b/k`).
    fn location(&self) -> String;
    /// The current state (none yet is `doc: None`).
    fn read(&self) -> Result<Snapshot, OpError>;
    /// Replaces the state with `doc` if it is still at `tag`; returns the new tag.
    fn write(&self, doc: &StateDoc, tag: &Tag) -> Result<Tag, OpError>;
    /// Creates the lock holding `info` if none exists: `Ok(None)` acquired, `Ok(Some(holder))`
    /// held by someone else.
    fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, OpError>;
    /// The current holder, if locked.
    fn read_lock(&self) -> Result<Option<LockInfo>, OpError>;
    /// Removes the lock if its holder's id is `id` (E0606 for another id, E0607 when there is
    /// no lock); returns the holder removed.
    fn remove_lock(&self, id: &str) -> Result<LockInfo, OpError>;
}

/// The default state file for a stack whose root file is `root`.
pub fn default_path(root: &Path) -> PathBuf {
    root.parent().unwrap_or_else(|| Path::new(".")).join(".aistack").join("state.json")
}

/// The backend `--state` names (`None`: the default beside `root`).
pub fn open(state: Option<&str>, root: &Path) -> Result<Box<dyn Backend>, OpError> {
    let Some(loc) = state else { return Ok(Box::new(super::local::Local::new(default_path(root)))) };
    if let Some(rest) = loc.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').filter(|(b, k)| !b.is_empty() && !k.is_empty()).ok_or_else(|| {
            OpError::new(codes::STATE_LOCATION, format!("`{loc}` is not an S3 location"))
                .with_help("write --state s3://BUCKET/KEY, e.g. s3://team-state/chat/state.json")
        })?;
        return open_s3(bucket, key);
    }
    if loc.contains("://") {
        return Err(OpError::new(codes::STATE_LOCATION, format!("`{loc}`: unknown state backend"))
            .with_help("use a local path or s3://BUCKET/KEY"));
    }
    Ok(Box::new(super::local::Local::new(PathBuf::from(loc))))
}

#[cfg(feature = "aws")]
fn open_s3(bucket: &str, key: &str) -> Result<Box<dyn Backend>, OpError> {
    Ok(Box::new(super::s3::S3::open(bucket, key)?))
}

#[cfg(not(feature = "aws"))]
fn open_s3(bucket: &str, key: &str) -> Result<Box<dyn Backend>, OpError> {
    Err(OpError::new(codes::STATE_BACKEND, format!("s3://{bucket}/{key}: this aistack was built without AWS support"))
        .with_help("build aistack-deploy with its default `aws` feature"))
}
