//! The compiler's only door to the outside: reading files.
//!
//! Takes: paths. Gives: file contents and canonical locations. [`DiskWorld`] reads the file
//! system (the CLI); [`MemoryWorld`] serves files from a map (tests, fuzzing, the editor's
//! unsaved buffers). The standard library is embedded in the binary and never read from disk.
//!
//! Only regular files are read ([`read_file`]): a FIFO, device or folder is refused with a
//! message instead of blocking or failing halfway. Every `World` drops a leading UTF-8 byte
//! order mark ([`crate::source::strip_bom`]).

use crate::source::strip_bom;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub trait World {
    /// Contents of a file, or a message saying why it cannot be read.
    fn read(&self, path: &Path) -> Result<String, String>;
    /// The path with symlinks resolved, when the file exists.
    fn canonical(&self, path: &Path) -> Option<PathBuf>;
    /// Parses to reuse across loads (an editor session keeps one); none by default.
    fn parse_cache(&self) -> Option<&crate::check::load::ParseCache> {
        None
    }
}

pub struct DiskWorld;

/// Spans are `u32` byte offsets, so a source must stay below 4 GiB.
const MAX_BYTES: u64 = u32::MAX as u64;

/// Linux's `O_NONBLOCK` on the architectures where it is `0o4000`: opening a FIFO with it
/// returns at once instead of waiting for a writer (it changes nothing for regular files).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
const OPEN_FLAGS: i32 = 0o4000;
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
const OPEN_FLAGS: i32 = 0;

/// The text of a regular file, exactly as stored (a byte order mark is kept). A FIFO,
/// device or folder is refused before it is opened (so reading never blocks), and checked
/// again on the open handle; on Linux the open itself cannot block either (`O_NONBLOCK`).
/// Elsewhere a file swapped for a FIFO between the check and the open is the one window left.
pub fn read_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let regular = |m: &std::fs::Metadata| {
        if !m.is_file() {
            Err("not a regular file".to_string())
        } else if m.len() > MAX_BYTES {
            Err("the file is larger than 4 GiB".to_string())
        } else {
            Ok(())
        }
    };
    regular(&std::fs::metadata(path).map_err(|e| e.to_string())?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, OPEN_FLAGS);
    let mut file = options.open(path).map_err(|e| e.to_string())?;
    regular(&file.metadata().map_err(|e| e.to_string())?)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

impl World for DiskWorld {
    fn read(&self, path: &Path) -> Result<String, String> {
        read_file(path).map(drop_bom)
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        path.canonicalize().ok()
    }
}

/// `text` without a leading byte order mark, reusing its buffer.
fn drop_bom(mut text: String) -> String {
    let bom = text.len() - strip_bom(&text).len();
    text.drain(..bom);
    text
}

/// Serves one file already read (the CLI reads the root up front, so that an unreadable
/// root is an I/O failure and is read only once) and every other path from `inner`.
pub struct Preread<'w> {
    pub inner: &'w dyn World,
    /// The file's canonical path, as the loader asks for it.
    pub path: PathBuf,
    pub text: String,
}

impl World for Preread<'_> {
    fn read(&self, path: &Path) -> Result<String, String> {
        if path == self.path {
            Ok(strip_bom(&self.text).to_string())
        } else {
            self.inner.read(path)
        }
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        self.inner.canonical(path)
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
        self.files.get(&normalize(path)).map(|t| strip_bom(t).to_string()).ok_or_else(|| "no such file".to_string())
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
