//! Where artifacts are read from: one trait, a local folder and an S3 bucket.
//!
//! Takes: a store location. Gives: [`ObjectStore`] (list a prefix, stream an object) over a
//! local folder ([`LocalStore`]: a file-system store mounted here, a mirror, or a test) and,
//! with the `aws` feature, over S3 ([`S3Store`], through `aistack_aws::objects`). Keys are
//! `/`-separated paths relative to the store's root.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One object: its key, size and a tag that changes when its content may have (the ETag in
/// S3, size and modification time on a file system).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub tag: String,
}

pub trait ObjectStore {
    /// `s3://bucket/` or the folder, for messages and the hash cache.
    fn location(&self) -> String;
    /// Every object whose key starts with `prefix`, sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, String>;
    /// Streams the object at `key` to `each`.
    fn read(&self, key: &str, each: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String>;
}

/// Objects as files under a folder.
pub struct LocalStore {
    pub root: PathBuf,
}

impl ObjectStore for LocalStore {
    fn location(&self) -> String {
        let s = self.root.display().to_string();
        if s.ends_with('/') {
            s
        } else {
            format!("{s}/")
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, String> {
        if !self.root.is_dir() {
            return Err(format!("the store folder {} does not exist", self.root.display()));
        }
        // Walk only the folder the prefix lies in.
        let dir = prefix.rsplit_once('/').map_or("", |(d, _)| d).trim_matches('/');
        let mut out = Vec::new();
        match walk(&self.root.join(dir), dir, &mut out) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory => {}
            Err(e) => return Err(format!("cannot list {}: {e}", self.root.join(dir).display())),
        }
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn read(&self, key: &str, each: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        let path = self.root.join(key);
        let shown = || path.display().to_string();
        let mut f = std::fs::File::open(&path).map_err(|e| format!("cannot read {}: {e}", shown()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", shown()))?;
            if n == 0 {
                return Ok(());
            }
            each(&buf[..n])?;
        }
    }
}

/// Regular files under `dir` (symbolic links followed to files, never into folders, so a
/// link cycle cannot loop).
fn walk(dir: &Path, rel: &str, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if let Ok(meta) = std::fs::metadata(entry.path()) {
            if meta.is_file() {
                let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let tag = format!("{}:{}", meta.len(), mtime.map_or(0, |d| d.as_nanos()));
                out.push(ObjectInfo { key, size: meta.len(), tag });
            }
        }
    }
    Ok(())
}

/// Objects in an S3 bucket.
#[cfg(feature = "aws")]
pub struct S3Store {
    pub bucket: String,
    objects: std::rc::Rc<aistack_aws::objects::Objects>,
}

#[cfg(feature = "aws")]
impl S3Store {
    pub fn new(bucket: &str, objects: std::rc::Rc<aistack_aws::objects::Objects>) -> S3Store {
        S3Store { bucket: bucket.to_string(), objects }
    }
}

#[cfg(feature = "aws")]
impl ObjectStore for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/", self.bucket)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, String> {
        let objs = self.objects.list(&self.bucket, prefix)?;
        Ok(objs.into_iter().map(|o| ObjectInfo { key: o.key, size: o.size, tag: o.etag }).collect())
    }
    fn read(&self, key: &str, each: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        self.objects.read(&self.bucket, key, each)
    }
}
