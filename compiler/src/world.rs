//! The compiler's only door to the outside: reading files.
//!
//! Takes: paths. Gives: file contents and canonical locations. [`DiskWorld`] reads the file
//! system (the CLI); [`MemoryWorld`] serves files from a map (tests, fuzzing, the editor's
//! unsaved buffers). The standard library is embedded in the binary and never read from disk.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub trait World {
    /// Contents of a file, or a message saying why it cannot be read.
    fn read(&self, path: &Path) -> Result<String, String>;
    /// The path with symlinks resolved, when the file exists.
    fn canonical(&self, path: &Path) -> Option<PathBuf>;
}

pub struct DiskWorld;

impl World for DiskWorld {
    fn read(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        path.canonicalize().ok()
    }
}

#[derive(Default)]
pub struct MemoryWorld {
    pub files: BTreeMap<PathBuf, String>,
}

impl MemoryWorld {
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> MemoryWorld {
        self.files.insert(normalize(&path.into()), text.into());
        self
    }
}

impl World for MemoryWorld {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.files.get(&normalize(path)).cloned().ok_or_else(|| "no such file".to_string())
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let p = normalize(path);
        self.files.contains_key(&p).then_some(p)
    }
}

/// Removes `.` and resolves `..` lexically (no file system access).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The standard library, embedded: (module path, source). `prelude` files are in scope in
/// every module; the others are imported as `std/NAME`.
pub const STDLIB: &[(&str, bool, &str)] = &[
    ("std/core", true, include_str!("../../stdlib/core.ai-stack")),
    ("std/gpu", true, include_str!("../../stdlib/gpu.ai-stack")),
    ("std/storage", true, include_str!("../../stdlib/storage.ai-stack")),
    ("std/serving", true, include_str!("../../stdlib/serving.ai-stack")),
    ("std/training", true, include_str!("../../stdlib/training.ai-stack")),
    ("std/operations", true, include_str!("../../stdlib/operations.ai-stack")),
    ("std/aws", false, include_str!("../../stdlib/aws.ai-stack")),
];
