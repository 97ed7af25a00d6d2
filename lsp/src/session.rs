//! The server's state: open documents overlaid on the disk, and the last analysis per stack.
//!
//! Takes: document texts from the editor and paths. Gives: a [`World`] that reads open
//! buffers before the disk, the stack root a file belongs to, analyses run on a thread with
//! the CLI's stack size, file ids ↔ URIs (standard-library files are written once to a cache
//! folder so "go to definition" can open them), and byte offsets ↔ LSP positions.

use aistack::ide::{self, Workspace};
use aistack::source::{FileId, SourceFile};
use aistack::world::{DiskWorld, World, STDLIB};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tower_lsp_server::ls_types::{Position, Range, Uri};

/// Open buffers over the disk.
#[derive(Clone, Default)]
pub struct Overlay {
    pub docs: HashMap<PathBuf, String>,
}

impl World for Overlay {
    fn read(&self, path: &Path) -> Result<String, String> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        match self.docs.get(&key).or_else(|| self.docs.get(path)) {
            Some(t) => Ok(t.clone()),
            None => DiskWorld.read(path),
        }
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        DiskWorld.canonical(path).or_else(|| self.docs.contains_key(path).then(|| path.to_path_buf()))
    }
}

/// An analysis with the generation it was made at and whether it was checked (else it holds
/// names only).
type Cached = (u64, bool, Arc<Workspace>);

pub struct Session {
    pub overlay: Mutex<Overlay>,
    /// Last analysis per stack root: the generation it was made at, whether it was checked
    /// (else names only), the analysis.
    pub analyses: Mutex<HashMap<PathBuf, Cached>>,
    /// Bumped on every edit; an analysis made at an older generation is stale.
    pub generation: Mutex<u64>,
    pub stdlib_dir: Option<PathBuf>,
}

/// Stack for analysis threads, as the CLI's (the checker recurses along the input's nesting).
const STACK_BYTES: usize = 256 << 20;

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            overlay: Mutex::new(Overlay::default()),
            analyses: Mutex::new(HashMap::new()),
            generation: Mutex::new(0),
            stdlib_dir: write_stdlib(),
        }
    }

    pub fn set_doc(&self, path: PathBuf, text: String) {
        if let Ok(mut o) = self.overlay.lock() {
            o.docs.insert(path, text);
        }
        if let Ok(mut g) = self.generation.lock() {
            *g += 1;
        }
    }
    pub fn close_doc(&self, path: &Path) {
        if let Ok(mut o) = self.overlay.lock() {
            o.docs.remove(path);
        }
        if let Ok(mut g) = self.generation.lock() {
            *g += 1;
        }
    }
    pub fn doc(&self, path: &Path) -> Option<String> {
        self.overlay.lock().ok()?.docs.get(path).cloned()
    }
    fn generation(&self) -> u64 {
        self.generation.lock().map_or(0, |g| *g)
    }

    /// The root file of the stack `path` belongs to: the file itself when it declares a
    /// `stack`, else the nearest `main.ai-stack` in its folder or above that is not itself.
    pub fn root_of(&self, path: &Path) -> PathBuf {
        let text = self.doc(path).or_else(|| std::fs::read_to_string(path).ok()).unwrap_or_default();
        let declares_stack = text.lines().any(|l| l.trim_start().starts_with("stack "));
        if declares_stack {
            return path.to_path_buf();
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            let main = d.join("main.ai-stack");
            if main != path && main.is_file() {
                return main;
            }
            dir = d.parent();
        }
        path.to_path_buf()
    }

    /// The checked analysis of the stack `path` belongs to, made now if the last one is stale.
    pub fn analysis(&self, path: &Path) -> Option<Arc<Workspace>> {
        self.analysis_of(path, true)
    }

    /// An analysis for a request while the user types: the checked one when it is current,
    /// else a names-only one (load and index, no evaluation), which is several times faster.
    pub fn names(&self, path: &Path) -> Option<Arc<Workspace>> {
        self.analysis_of(path, false)
    }

    fn analysis_of(&self, path: &Path, full: bool) -> Option<Arc<Workspace>> {
        let root = self.root_of(path);
        let generation = self.generation();
        if let Some((g, checked, ws)) = self.analyses.lock().ok()?.get(&root) {
            if *g == generation && (*checked || !full) {
                return Some(ws.clone());
            }
        }
        let overlay = self.overlay.lock().ok()?.clone();
        let r = root.clone();
        let ws = std::thread::Builder::new()
            .name("aistack-analysis".into())
            .stack_size(STACK_BYTES)
            .spawn(move || if full { ide::analyze(&overlay, &r, &[]) } else { ide::analyze_names(&overlay, &r) })
            .ok()?
            .join()
            .ok()?;
        let ws = Arc::new(ws);
        let mut cache = self.analyses.lock().ok()?;
        let keep_checked = cache.get(&root).is_some_and(|(g, checked, _)| *g == generation && *checked);
        if !keep_checked {
            cache.insert(root, (generation, full, ws.clone()));
        }
        Some(ws)
    }

    /// The URI of a loaded file.
    pub fn uri(&self, ws: &Workspace, file: FileId) -> Option<Uri> {
        let name = &ws.prog.sources.get(file)?.name;
        if let Some(std) = name.strip_prefix("<std/").and_then(|n| n.strip_suffix('>')) {
            return Uri::from_file_path(self.stdlib_dir.as_ref()?.join(format!("{std}.ai-stack")));
        }
        let p = PathBuf::from(name);
        let abs = if p.is_absolute() { p } else { std::env::current_dir().ok()?.join(p) };
        Uri::from_file_path(abs)
    }

    /// The loaded file for `path`.
    pub fn file_id(&self, ws: &Workspace, path: &Path) -> Option<FileId> {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        ws.prog.sources.iter().find_map(|(id, f)| {
            let p = PathBuf::from(&f.name);
            let p = p.canonicalize().unwrap_or(p);
            (p == canon || p == path).then_some(id)
        })
    }
}

/// Writes the standard library to `~/.cache/aistack/stdlib-<version>/` (once per version) so
/// the editor can open its files.
fn write_stdlib() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let dir = base.join("aistack").join(format!("stdlib-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).ok()?;
    for (name, _, text) in STDLIB {
        let file = dir.join(format!("{}.ai-stack", name.trim_start_matches("std/")));
        if std::fs::read_to_string(&file).ok().as_deref() != Some(*text) {
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, text).ok()?;
            std::fs::rename(&tmp, &file).ok()?;
        }
    }
    Some(dir)
}

/// LSP position (UTF-16 columns) of a byte offset.
pub fn position(file: &SourceFile, offset: u32) -> Position {
    let (line, character) = crate::convert::position(file, offset);
    Position { line, character }
}

pub fn range(file: &SourceFile, start: u32, end: u32) -> Range {
    Range { start: position(file, start), end: position(file, end) }
}

/// Byte offset of an LSP position in `text` (clamped to the line and the text).
pub fn offset(text: &str, pos: Position) -> u32 {
    let mut line_start = 0usize;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len() as u32,
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return (line_start + i) as u32;
        }
        units += c.len_utf16() as u32;
    }
    line_end as u32
}
