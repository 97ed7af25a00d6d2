//! The server's state: open documents overlaid on the disk, and the last analysis per stack.
//!
//! Takes: document texts from the editor and paths. Gives: a [`World`] that reads open
//! buffers before the disk, the stack root a file belongs to, analyses run on a thread with
//! the CLI's stack size (a check stops as soon as a newer edit makes its text stale), file ids
//! ↔ URIs (standard-library files are written once to a cache folder so "go to definition"
//! can open them), and byte offsets ↔ LSP positions.

use aistack::check::load::ParseCache;
use aistack::diag::Diagnostic;
use aistack::ide::{self, Workspace};
use aistack::source::{FileId, SourceFile, SourceMap, Span};
use aistack::world::{DiskWorld, World, STDLIB};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower_lsp_server::ls_types::{Position, Range, Uri};

/// Open buffers over the disk, their editor versions, and the parses kept across analyses.
#[derive(Clone, Default)]
pub struct Overlay {
    pub docs: HashMap<PathBuf, Arc<str>>,
    /// The editor's version of each open document (sent back with its diagnostics).
    pub versions: HashMap<PathBuf, i32>,
    pub cache: Arc<ParseCache>,
}

impl World for Overlay {
    fn read(&self, path: &Path) -> Result<String, String> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        match self.docs.get(&key).or_else(|| self.docs.get(path)) {
            Some(t) => Ok(t.to_string()),
            None => DiskWorld.read(path),
        }
    }
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        DiskWorld.canonical(path).or_else(|| self.docs.contains_key(path).then(|| path.to_path_buf()))
    }
    fn parse_cache(&self) -> Option<&ParseCache> {
        Some(&self.cache)
    }
}

/// Called with a check's diagnostics, the sources they point into and the versions of the
/// open documents it read, as soon as the check ends, and only while its text is the newest.
pub type Early = Box<dyn FnOnce(&[Diagnostic], &SourceMap, &HashMap<PathBuf, i32>) + Send>;

/// An analysis with what it was made from.
#[derive(Clone)]
pub struct Snap {
    /// The edit generation it was made at.
    pub generation: u64,
    /// The open buffers it read, and their versions.
    pub docs: HashMap<PathBuf, Arc<str>>,
    pub versions: HashMap<PathBuf, i32>,
    pub ws: Arc<Workspace>,
    /// Its diagnostics were handed to an [`Early`] (published): not again.
    published: Arc<AtomicBool>,
}

/// The text a check was started for has been edited since: it stopped.
#[derive(Debug)]
pub struct Stale;

/// The last checked and the last names-only analysis of one stack.
#[derive(Clone, Default)]
struct Analyses {
    checked: Option<Snap>,
    names: Option<Snap>,
}

pub struct Session {
    pub overlay: Mutex<Overlay>,
    analyses: Mutex<HashMap<PathBuf, Analyses>>,
    /// Bumped on every edit (with the overlay locked); an analysis made at an older
    /// generation is stale, and a check polls it to stop as soon as it is.
    generation: Arc<AtomicU64>,
    /// Held while a names-only analysis is made, so concurrent requests make it once.
    names_busy: Mutex<()>,
    /// Held while a check runs: one at a time, and a waiting one may find its result made.
    check_busy: Mutex<()>,
    /// Where checks, and names-only analyses and their indexes, run.
    checks: Worker,
    pub names_worker: Worker,
    pub stdlib_dir: Option<PathBuf>,
    /// `AISTACK_LSP_TIMING` set: how long each analysis took is written to stderr.
    timing: bool,
}

/// Stack for analysis threads, as the CLI's (the checker recurses along the input's nesting).
const STACK_BYTES: usize = 256 << 20;

type Job = Box<dyn FnOnce() + Send>;

/// A long-lived thread with the CLI's stack size that runs analyses one after another. Two of
/// them (checks, names-only analyses) instead of a thread per analysis keep the allocator's
/// per-thread arenas few: with a new thread each time the server's peak memory was three
/// times its live data.
pub struct Worker {
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
}

impl Worker {
    fn new() -> Worker {
        Worker { jobs: Mutex::new(None) }
    }

    /// Runs `f` on the worker thread (started on first use) and waits for its result; `None`
    /// if the thread cannot be started or `f` panicked.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r.ok());
        });
        {
            let mut jobs = self.jobs.lock().ok()?;
            let job = match jobs.as_ref() {
                Some(j) => j.send(job).err().map(|e| e.0),
                None => Some(job),
            };
            if let Some(job) = job {
                let (jtx, jrx) = std::sync::mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("aistack-analysis".into())
                    .stack_size(STACK_BYTES)
                    .spawn(move || {
                        while let Ok(j) = jrx.recv() {
                            j();
                        }
                    })
                    .ok()?;
                jtx.send(job).ok()?;
                *jobs = Some(jtx);
            }
        }
        rx.recv().ok()?
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

/// Where an older text of a file differs from its current one: one region, `start..old_end`
/// in the old text, `start..new_end` in the new (identity when the texts are equal).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shift {
    pub start: u32,
    pub old_end: u32,
    pub new_end: u32,
}

impl Shift {
    /// The single region where `old` and `new` differ.
    pub fn between(old: &str, new: &str) -> Shift {
        let (o, n) = (old.as_bytes(), new.as_bytes());
        let mut pre = o.iter().zip(n).take_while(|(a, b)| a == b).count();
        while !new.is_char_boundary(pre) || !old.is_char_boundary(pre) {
            pre -= 1;
        }
        let max_suf = o.len().min(n.len()) - pre;
        let mut suf = o.iter().rev().zip(n.iter().rev()).take(max_suf).take_while(|(a, b)| a == b).count();
        while !new.is_char_boundary(n.len() - suf) || !old.is_char_boundary(o.len() - suf) {
            suf -= 1;
        }
        Shift { start: pre as u32, old_end: (o.len() - suf) as u32, new_end: (n.len() - suf) as u32 }
    }
    /// An offset of the new text in the old one; `None` inside the changed region.
    pub fn to_old(&self, new: u32) -> Option<u32> {
        if new <= self.start {
            Some(new)
        } else if new >= self.new_end {
            Some(new - self.new_end + self.old_end)
        } else {
            None
        }
    }
    /// An offset of the old text in the new one (clamped to the region's start inside it).
    pub fn to_new(&self, old: u32) -> u32 {
        if old <= self.start {
            old
        } else if old >= self.old_end {
            old - self.old_end + self.new_end
        } else {
            self.start
        }
    }
}

/// An analysis answering a request at a cursor: possibly made from an older text of the
/// cursor's file, whose offsets [`View::shift`] maps.
pub struct View {
    pub ws: Arc<Workspace>,
    pub file: FileId,
    /// The cursor in the analysis's text.
    pub offset: u32,
    pub shift: Shift,
    /// The file's current text.
    pub current: SourceFile,
}

impl View {
    /// A span of the analysis as a range of the current text (other files: as analysed).
    pub fn range(&self, span: Span) -> Option<Range> {
        if span.file == self.file {
            return Some(range(&self.current, self.shift.to_new(span.start), self.shift.to_new(span.end)));
        }
        let f = self.ws.prog.sources.get(span.file)?;
        Some(range(f, span.start, span.end))
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            overlay: Mutex::new(Overlay::default()),
            analyses: Mutex::new(HashMap::new()),
            generation: Arc::new(AtomicU64::new(0)),
            names_busy: Mutex::new(()),
            check_busy: Mutex::new(()),
            checks: Worker::new(),
            names_worker: Worker::new(),
            stdlib_dir: write_stdlib(),
            timing: std::env::var_os("AISTACK_LSP_TIMING").is_some(),
        }
    }

    /// A new text of an open document: the text, its version and the generation change at
    /// once (under the overlay's lock), so an analysis reads a text with its own generation.
    pub fn set_doc(&self, path: PathBuf, text: String, version: i32) {
        if let Ok(mut o) = self.overlay.lock() {
            o.versions.insert(path.clone(), version);
            o.docs.insert(path, Arc::from(text));
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
    pub fn close_doc(&self, path: &Path) {
        if let Ok(mut o) = self.overlay.lock() {
            o.docs.remove(path);
            o.versions.remove(path);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
    pub fn doc(&self, path: &Path) -> Option<String> {
        self.overlay.lock().ok()?.docs.get(path).map(|t| t.to_string())
    }
    pub fn version(&self, path: &Path) -> Option<i32> {
        self.overlay.lock().ok()?.versions.get(path).copied()
    }
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The root file of the stack `path` belongs to: the file itself when it declares a
    /// `stack`, else the nearest `main.ai-stack` in its folder or above that is not itself.
    pub fn root_of(&self, path: &Path) -> PathBuf {
        let open = self.overlay.lock().ok().and_then(|o| o.docs.get(path).cloned());
        let text = open.map_or_else(|| std::fs::read_to_string(path).unwrap_or_default(), |t| t.to_string());
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
        self.analysis_of(&self.root_of(path), true, None)
    }

    /// As [`Session::analysis`], handing the diagnostics to `early` as soon as the check ends:
    /// the hover facts, inlay hints and index are made after that, before the analysis serves
    /// requests (which meanwhile use the older one where [`Session::view`] can). `None`, and
    /// `early` never called, when an edit made the text stale first.
    pub fn analysis_early(&self, path: &Path, early: Early) -> Option<Arc<Workspace>> {
        self.analysis_of(&self.root_of(path), true, Some(early))
    }

    /// An analysis for a request while the user types: the checked one when it is current,
    /// else a names-only one (load, no evaluation), made now if there is none current.
    pub fn names(&self, path: &Path) -> Option<Arc<Workspace>> {
        self.analysis_of(&self.root_of(path), false, None)
    }

    fn current(&self, root: &Path, full: bool) -> Option<Snap> {
        let generation = self.generation();
        let cache = self.analyses.lock().ok()?;
        let a = cache.get(root)?;
        let fresh = |s: &Option<Snap>| s.as_ref().filter(|s| s.generation == generation).cloned();
        fresh(&a.checked).or_else(|| if full { None } else { fresh(&a.names) })
    }

    /// The current analysis (checked when `full`), made now if there is none. A check stops
    /// as soon as an edit makes its text stale: with `early` (publishing diagnostics) it then
    /// gives `None` and calls nothing, since the newer edit publishes its own; without, it
    /// starts again on the newest text.
    fn analysis_of(&self, root: &Path, full: bool, early: Option<Early>) -> Option<Arc<Workspace>> {
        let done = |snap: Snap, early: Option<Early>| {
            if let Some(f) = early.filter(|_| !snap.published.swap(true, Ordering::SeqCst)) {
                f(&snap.ws.diags, &snap.ws.prog.sources, &snap.versions);
            }
            Some(snap.ws)
        };
        let retry = early.is_none();
        let mut early = early;
        loop {
            if let Some(snap) = self.current(root, full) {
                return done(snap, early);
            }
            // Concurrent requests for the same analysis make it once.
            let _busy = if full { self.check_busy.lock().ok()? } else { self.names_busy.lock().ok()? };
            if let Some(snap) = self.current(root, full) {
                return done(snap, early);
            }
            let (generation, overlay) = {
                let o = self.overlay.lock().ok()?;
                (self.generation(), o.clone())
            };
            let (docs, versions) = (overlay.docs.clone(), overlay.versions.clone());
            let r = root.to_path_buf();
            let started = Instant::now();
            let worker = if full { &self.checks } else { &self.names_worker };
            let now = self.generation.clone();
            let publish = early.take();
            let vs = versions.clone();
            let published = Arc::new(AtomicBool::new(false));
            let told = published.clone();
            let made = worker.run(move || -> Result<Arc<Workspace>, Stale> {
                if !full {
                    return Ok(Arc::new(ide::analyze_names(&overlay, &r)));
                }
                let stop = || if now.load(Ordering::SeqCst) == generation { Ok(()) } else { Err(Stale) };
                let ws = ide::analyze_until(&overlay, &r, &[], &stop, |diags, sources| {
                    if let (Some(f), Ok(())) = (publish, stop()) {
                        told.store(true, Ordering::SeqCst);
                        f(diags, sources, &vs);
                    }
                })?;
                let ws = Arc::new(ws);
                ws.index();
                Ok(ws)
            })?;
            if self.timing {
                let what = if full { "check" } else { "names" };
                let how = if made.is_ok() { "" } else { " (stopped: edited meanwhile)" };
                eprintln!("aistack-lsp: {what} analysis of {} in {:.1?}{how}", root.display(), started.elapsed());
            }
            let ws = match made {
                Ok(ws) => ws,
                Err(Stale) if retry => continue,
                Err(Stale) => return None,
            };
            let snap = Snap { generation, docs, versions, ws: ws.clone(), published };
            let mut cache = self.analyses.lock().ok()?;
            let entry = cache.entry(root.to_path_buf()).or_default();
            let slot = if full { &mut entry.checked } else { &mut entry.names };
            if slot.as_ref().is_none_or(|s| s.generation <= generation) {
                *slot = Some(snap);
            }
            // A names-only analysis no newer than the checked one is of no more use.
            if entry.checked.as_ref().zip(entry.names.as_ref()).is_some_and(|(c, n)| n.generation <= c.generation) {
                entry.names = None;
            }
            return Some(ws);
        }
    }

    /// An analysis to answer a request at `pos` of `path` without analysing again: a current
    /// one, or an older one when the only change since is one edit of this file that cannot
    /// change declarations and does not touch the cursor's line ([`reusable`]; for
    /// `completion`, which reads what is typed from the current text, the cursor may sit at the
    /// end of the edit). Else a names-only analysis of the current text.
    pub fn view(&self, path: &Path, pos: Position, completion: bool) -> Option<View> {
        let root = self.root_of(path);
        let docs = self.overlay.lock().ok()?.docs.clone();
        let current_text =
            docs.get(path).map_or_else(|| std::fs::read_to_string(path).ok(), |t| Some(t.to_string()))?;
        let offset = offset(&current_text, pos);
        let current = SourceFile::new("current", current_text);
        let generation = self.generation();
        let snaps = self.analyses.lock().ok()?.get(&root).cloned().unwrap_or_default();
        for snap in [snaps.checked, snaps.names].into_iter().flatten() {
            let Some(file) = self.file_id(&snap.ws, path) else { continue };
            let shift = if snap.generation == generation {
                Some(Shift::default())
            } else {
                reusable(&snap, &docs, path, file, &current.text, offset, completion)
            };
            if let Some(shift) = shift {
                if self.timing {
                    eprintln!(
                        "aistack-lsp: answered from the analysis of generation {} (now {generation})",
                        snap.generation
                    );
                }
                let at = shift.to_old(offset)?;
                return Some(View { ws: snap.ws, file, offset: at, shift, current });
            }
        }
        if self.timing {
            eprintln!("aistack-lsp: no analysis to reuse at generation {generation}");
        }
        let ws = self.names(path)?;
        let file = self.file_id(&ws, path)?;
        Some(View { ws, file, offset, shift: Shift::default(), current })
    }

    /// The URI of a loaded file.
    pub fn uri(&self, ws: &Workspace, file: FileId) -> Option<Uri> {
        self.uri_in(&ws.prog.sources, file)
    }

    /// The URI of a file of `sources`.
    pub fn uri_in(&self, sources: &SourceMap, file: FileId) -> Option<Uri> {
        let name = &sources.get(file)?.name;
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

/// Whether `snap` still answers for a cursor at `offset` of `path`, whose text is now
/// `text`: every other open buffer is as it read it, and the one edit of this file lies inside
/// a declaration's body (or is blank and between items, or is inside one line of a comment
/// that is not a doc comment), changes no brace, bracket,
/// parenthesis, quote or comment, and is not on the cursor's line (for completion: does not
/// surround the cursor). Such an edit changes no name the analysis
/// defines, and the cursor's own line reads the same, so completion, hover and definition
/// there are what a new analysis would answer. Gives how offsets moved.
fn reusable(
    snap: &Snap,
    docs: &HashMap<PathBuf, Arc<str>>,
    path: &Path,
    file: FileId,
    text: &str,
    offset: u32,
    completion: bool,
) -> Option<Shift> {
    let others_same = docs.len() == snap.docs.len()
        && docs.iter().all(|(p, t)| p == path || snap.docs.get(p).is_some_and(|s| Arc::ptr_eq(s, t) || s == t));
    if !others_same {
        return None;
    }
    let old = &snap.ws.prog.sources.get(file)?.text;
    let shift = Shift::between(old, text);
    let inert = |s: &str| s.chars().all(|c| c.is_alphanumeric() || " \t\n\r_.,%+-*<>=!&|:".contains(c));
    let removed = old.get(shift.start as usize..shift.old_end as usize)?;
    let added = text.get(shift.start as usize..shift.new_end as usize)?;
    if !inert(removed) || !inert(added) {
        return None;
    }
    let blank = |s: &str| s.chars().all(char::is_whitespace);
    let (line_start, line_end) = line_around(text, offset);
    let on_cursor_line = shift.start <= line_end && shift.new_end >= line_start;
    let place = ide::edit_place(&snap.ws, file, shift.start, shift.old_end);
    let in_comment =
        !removed.contains('\n')
            && !added.contains('\n')
            && snap.ws.prog.comments.get(&file).is_some_and(|cs| {
                cs.iter().any(|c| c.doc.is_none() && c.start < shift.start && shift.old_end <= c.end)
            });
    let allowed = in_comment
        || match place {
            ide::EditPlace::Body => true,
            ide::EditPlace::Between => blank(removed) && blank(added),
            ide::EditPlace::Other => false,
        };
    let cursor_ok = if completion { shift.to_old(offset).is_some() } else { !on_cursor_line };
    (allowed && cursor_ok).then_some(shift)
}

/// Byte offsets of the start and end of the line around `offset`.
fn line_around(text: &str, offset: u32) -> (u32, u32) {
    let at = (offset as usize).min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (start as u32, end as u32)
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

#[cfg(test)]
mod tests {
    use super::Shift;

    #[test]
    fn shift_maps_offsets_around_one_edit() {
        let old = "a = 1\nb = 2\nc = 3\n";
        let new = "a = 1\nb = 20\n\nc = 3\n";
        let s = Shift::between(old, new);
        assert_eq!(&old[s.start as usize..s.old_end as usize], "");
        assert_eq!(&new[s.start as usize..s.new_end as usize], "0\n");
        let c_new = new.find('c').expect("c") as u32;
        assert_eq!(s.to_old(c_new), old.find('c').map(|i| i as u32));
        assert_eq!(s.to_new(old.find('c').expect("c") as u32), c_new);
        assert_eq!(s.to_old(2), Some(2));
        assert_eq!(s.to_old(s.start + 1), None, "inside the inserted text");
        assert_eq!(
            Shift::between(old, old),
            Shift { start: old.len() as u32, old_end: old.len() as u32, new_end: old.len() as u32 }
        );
        // multi-byte characters are never split
        let s = Shift::between("x = \"é\"", "x = \"è\"");
        assert!("x = \"é\"".is_char_boundary(s.start as usize) && "x = \"è\"".is_char_boundary(s.new_end as usize));
    }
}
