//! The local backend: `state.json` with `state.json.backup` and `state.json.lock` beside it.
//!
//! Writes are atomic: the new text goes to a temporary file in the same folder, is fsync'd,
//! renamed over the target, and the folder is fsync'd; the previous state is first written the
//! same way to `<state>.backup`. A reader (or a process killed at any instant) sees the old
//! state or the new one, never a mix. The tag is the serial read; a write finding another
//! serial on disk is E0605. Temporary files of killed writers are removed by the next write.
//! The lock is created with `create_new` (O_EXCL), so exactly one
//! process creates it.

use super::backend::{Backend, Snapshot, Tag};
use super::doc::StateDoc;
use super::lock::{self, LockInfo};
use crate::error::OpError;
use aistack::diag::codes;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Local {
    path: PathBuf,
}

impl Local {
    pub fn new(path: PathBuf) -> Local {
        Local { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.sibling(".backup")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn io(&self, what: &str, e: std::io::Error) -> OpError {
        OpError::new(codes::STATE_WRITE, format!("cannot {what} {}: {e}", self.shown()))
            .with_help("check the folder exists and is writable; the previous state is untouched")
    }

    fn read_text(&self) -> Result<Option<String>, OpError> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OpError::new(codes::STATE_UNREADABLE, format!("cannot read {}: {e}", self.shown()))),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder: write, fsync, rename,
/// fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Backend for Local {
    fn location(&self) -> String {
        self.shown()
    }

    fn read(&self) -> Result<Snapshot, OpError> {
        let Some(text) = self.read_text()? else { return Ok(Snapshot { doc: None, tag: Tag(None) }) };
        let doc = StateDoc::parse(&text, &self.shown())?;
        let tag = Tag(Some(doc.serial.to_string()));
        Ok(Snapshot { doc: Some(doc), tag })
    }

    fn write(&self, doc: &StateDoc, tag: &Tag) -> Result<Tag, OpError> {
        let current = self.read_text()?;
        let on_disk = match &current {
            Some(text) => Tag(Some(StateDoc::parse(text, &self.shown())?.serial.to_string())),
            None => Tag(None),
        };
        if &on_disk != tag {
            return Err(conflict(&self.shown(), tag, &on_disk));
        }
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io("create the folder of", e))?;
        }
        self.remove_stale_temps();
        if let Some(text) = current {
            write_atomically(&self.backup_path(), text.as_bytes()).map_err(|e| self.io("back up", e))?;
        }
        write_atomically(&self.path, doc.to_json().as_bytes()).map_err(|e| self.io("write", e))?;
        Ok(Tag(Some(doc.serial.to_string())))
    }

    fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, OpError> {
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io("create the folder of", e))?;
        }
        let path = self.lock_path();
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let written = f.write_all(info.to_json().as_bytes()).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&path);
                    return Err(self.io("write the lock of", e));
                }
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Some(self.holder_or_unknown()?)),
            Err(e) => Err(self.io("create the lock of", e)),
        }
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, OpError> {
        match std::fs::read_to_string(self.lock_path()) {
            Ok(text) => Ok(Some(parse_lock(&text, &self.lock_path().display().to_string())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(OpError::new(codes::STATE_UNREADABLE, format!("cannot read {}: {e}", self.lock_path().display())))
            }
        }
    }

    fn remove_lock(&self, id: &str) -> Result<LockInfo, OpError> {
        let holder = self.read_lock()?.ok_or_else(|| lock::not_locked(&self.shown()))?;
        if holder.id != id {
            return Err(lock::wrong_id(&self.shown(), id, &holder));
        }
        std::fs::remove_file(self.lock_path()).map_err(|e| self.io("remove the lock of", e))?;
        Ok(holder)
    }
}

impl Local {
    /// Temporary files (`.state.json.tmp.PID`, `.state.json.backup.tmp.PID`) of writers that
    /// were killed: removed once that process is gone (by `/proc/PID`; elsewhere when older
    /// than an hour).
    fn remove_stale_temps(&self) {
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
        let names: Vec<String> = [&self.path, &self.backup_path()]
            .iter()
            .filter_map(|p| p.file_name().map(|n| format!(".{}.tmp.", n.to_string_lossy())))
            .collect();
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let pid = names.iter().find_map(|n| file_name.strip_prefix(n.as_str())).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| pid != std::process::id() && !alive(pid, &entry)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The holder of a lock that exists; a lock file still being written (created, not yet
    /// filled) is read again for up to 100 ms before it is reported as unknown.
    fn holder_or_unknown(&self) -> Result<LockInfo, OpError> {
        for _ in 0..10 {
            match self.read_lock() {
                Ok(Some(h)) => return Ok(h),
                Ok(None) => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        Ok(LockInfo {
            id: "unknown".into(),
            who: "another process".into(),
            operation: "unknown".into(),
            created: "unknown".into(),
            pid: 0,
            host: "unknown".into(),
            version: "unknown".into(),
        })
    }
}

fn alive(pid: u32, entry: &std::fs::DirEntry) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_none_or(|a| a < std::time::Duration::from_secs(3600))
}

/// Parses a lock record; `source` names it for the error.
pub fn parse_lock(text: &str, source: &str) -> Result<LockInfo, OpError> {
    serde_json::from_str(text).map_err(|e| {
        OpError::new(codes::STATE_UNREADABLE, format!("the lock {source} cannot be read: {e}"))
            .with_help("if no aistack process is running on this state, delete the lock by hand")
    })
}

/// The error for a write whose tag no longer holds.
pub fn conflict(location: &str, expected: &Tag, found: &Tag) -> OpError {
    let show = |t: &Tag| t.0.clone().map_or_else(|| "no state".to_string(), |s| format!("`{s}`"));
    OpError::new(
        codes::STATE_CONFLICT,
        format!(
            "the state at {location} changed since it was read (read at {}, now {}); nothing was written",
            show(expected),
            show(found)
        ),
    )
    .with_help("another writer got there first: run the command again to start from the new state")
}

/// For the crash tests (`aistack state write-loop`, hidden): writes `count` states to `path`
/// (0: until killed), each with the next serial and a few hundred resources, so that a kill
/// lands inside a write as often as between writes.
pub fn write_loop(path: &Path, count: u64) -> Result<(), OpError> {
    let backend = Local::new(path.to_path_buf());
    let mut snap = backend.read()?;
    let mut doc = match snap.doc.take() {
        Some(d) => d,
        None => StateDoc::new("write-loop")?,
    };
    let mut i = 0;
    while count == 0 || i < count {
        doc.serial += 1;
        doc.resources.clear();
        for r in 0..300 {
            let attrs = serde_json::json!({ "serial": doc.serial, "n": r, "pad": "x".repeat(64) });
            let address = format!("file:r{r}");
            doc.resources.insert(
                address.clone(),
                super::doc::Resource {
                    address,
                    engine: "file".into(),
                    kind: "file".into(),
                    name: format!("r{r}"),
                    attrs_hash: super::doc::attrs_hash(&attrs),
                    attrs,
                    origin: super::doc::Origin { decl: "stack.write_loop".into(), file: None, line: None },
                },
            );
        }
        snap.tag = backend.write(&doc, &snap.tag)?;
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/deploy-unit")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    #[test]
    fn a_write_from_a_stale_read_is_refused_and_changes_nothing() {
        let dir = scratch("conflict");
        let a = Local::new(dir.join("state.json"));
        let b = Local::new(dir.join("state.json"));
        let mut doc = StateDoc::new("s").expect("doc");
        doc.serial = 1;
        a.write(&doc, &Tag(None)).expect("first write");
        let seen_a = a.read().expect("read a");
        let seen_b = b.read().expect("read b");
        let mut next = doc.clone();
        next.serial = 2;
        a.write(&next, &seen_a.tag).expect("a writes");
        let mut lost = doc.clone();
        lost.serial = 2;
        lost.stack = "b".into();
        let err = b.write(&lost, &seen_b.tag).expect_err("b's update would be lost");
        assert_eq!(err.code, codes::STATE_CONFLICT);
        assert_eq!(a.read().expect("read").doc, Some(next), "a's state kept");
        let err = b.write(&lost, &Tag(None)).expect_err("creating over an existing state");
        assert_eq!(err.code, codes::STATE_CONFLICT);
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let dir = scratch("lock");
        let a = Local::new(dir.join("state.json"));
        {
            let guard = lock::acquire(&a, "apply", std::time::Duration::ZERO).expect("free");
            let err = lock::acquire(&a, "apply", std::time::Duration::from_millis(120)).err().expect("held");
            assert_eq!(err.code, codes::STATE_LOCKED);
            assert!(err.message.contains(&guard.info().id), "{}", err.message);
            assert!(a.lock_path().exists());
        }
        assert!(!a.lock_path().exists(), "dropped guard releases");
        let r = std::panic::catch_unwind(|| {
            let _g = lock::acquire(&a, "apply", std::time::Duration::ZERO).expect("free");
            panic!("boom");
        });
        assert!(r.is_err());
        assert!(!a.lock_path().exists(), "released on panic");
    }

    #[test]
    fn stale_temporary_files_are_removed_by_the_next_write() {
        let dir = scratch("temps");
        let a = Local::new(dir.join("state.json"));
        // pid 0 is never a user process.
        std::fs::write(dir.join(".state.json.tmp.0"), "partial").expect("temp");
        std::fs::write(dir.join(".state.json.backup.tmp.0"), "partial").expect("temp");
        let doc = StateDoc::new("s").expect("doc");
        a.write(&doc, &Tag(None)).expect("write");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("state.json")], "{left:?}");
    }
}
