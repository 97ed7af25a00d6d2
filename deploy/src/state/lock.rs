//! The one-writer lock: holder info, acquiring with a timeout, release on drop, force-unlock.
//!
//! Takes: a [`Backend`], the operation (`apply`) and how long to wait. Gives: a [`LockGuard`]
//! that releases the lock when dropped — on success, error or panic; only a killed process
//! leaves it held, which is what [`force_unlock`] (holder's id only) is for. A held lock is
//! E0601 naming the holder (who, operation, since, id) with help `aistack force-unlock ID`.
//! Waiting retries with backoff (50 ms doubling to 1 s, never past the deadline).

use super::backend::Backend;
use super::doc;
use crate::error::OpError;
use aistack::diag::codes;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Who holds the lock, as stored in the lock file or object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LockInfo {
    /// Random 128-bit hex; what force-unlock takes.
    pub id: String,
    pub who: String,
    pub operation: String,
    /// RFC 3339 UTC.
    pub created: String,
    pub pid: u32,
    pub host: String,
    /// The aistack version that took it.
    pub version: String,
}

impl LockInfo {
    /// A fresh holder record for `operation` by this process.
    pub fn new(operation: &str) -> Result<LockInfo, OpError> {
        Ok(LockInfo {
            id: doc::new_lineage()?,
            who: doc::actor(),
            operation: operation.to_string(),
            created: doc::now_rfc3339(),
            pid: std::process::id(),
            host: doc::hostname(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Holds the lock; dropping it releases it.
pub struct LockGuard<'a> {
    backend: &'a dyn Backend,
    info: LockInfo,
    held: bool,
}

impl LockGuard<'_> {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Releases now, reporting a failure (drop releases silently).
    pub fn release(mut self) -> Result<(), OpError> {
        self.held = false;
        self.backend.remove_lock(&self.info.id).map(|_| ())
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            let _ = self.backend.remove_lock(&self.info.id);
        }
    }
}

/// The error for a lock held by `holder`.
pub fn held_error(location: &str, holder: &LockInfo) -> OpError {
    OpError::new(
        codes::STATE_LOCKED,
        format!(
            "the state at {location} is locked by {} ({} since {}, pid {} on {}, lock id {})",
            holder.who, holder.operation, holder.created, holder.pid, holder.host, holder.id
        ),
    )
    .with_help(format!(
        "wait for it to finish (--lock-timeout 5m waits up to five minutes); if that process is gone, run `aistack force-unlock {}`",
        holder.id
    ))
}

/// Takes the lock for `operation`, retrying until `timeout` has passed.
pub fn acquire<'a>(backend: &'a dyn Backend, operation: &str, timeout: Duration) -> Result<LockGuard<'a>, OpError> {
    let info = LockInfo::new(operation)?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let holder = match backend.try_lock(&info)? {
            None => return Ok(LockGuard { backend, info, held: true }),
            Some(h) => h,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(held_error(&backend.location(), &holder));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Removes the lock if `id` is its holder's; anything else is refused and nothing removed.
pub fn force_unlock(backend: &dyn Backend, id: &str) -> Result<LockInfo, OpError> {
    backend.remove_lock(id)
}

/// The error for a wrong force-unlock id.
pub fn wrong_id(location: &str, id: &str, holder: &LockInfo) -> OpError {
    OpError::new(
        codes::UNLOCK_WRONG_ID,
        format!(
            "`{id}` is not the id of the lock on {location}; it is held by {} ({}, id {})",
            holder.who, holder.operation, holder.id
        ),
    )
    .with_help(format!("check that process is gone, then run `aistack force-unlock {}`", holder.id))
}

/// The error for force-unlock on an unlocked state.
pub fn not_locked(location: &str) -> OpError {
    OpError::new(codes::UNLOCK_NOT_LOCKED, format!("the state at {location} is not locked"))
        .with_help("nothing to do; pass the same --state as the command that held the lock")
}

/// `0`, `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 0, 500ms, 30s, 5m)"))?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(|| format!("`{s}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }
}
