//! Source files and spans.
//!
//! Takes: file contents read through a [`crate::world::World`]. Gives: [`SourceFile`]s
//! addressed by [`FileId`], byte [`Span`]s into them and 1-based line/column lookups
//! (columns count characters, as editors and the JSON output do). A leading UTF-8 byte order
//! mark is dropped when a file is read ([`strip_bom`]), so offsets and columns count from the
//! first character after it, which is what editors show.

use std::ops::Range;

/// `text` without a leading UTF-8 byte order mark (U+FEFF), if it has one.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one file. `start <= end`, both on char boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// A span of `range`; an inverted range (as an empty parse can produce) is made empty.
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        let start = range.start.min(range.end) as u32;
        Span { file, start, end: range.end.max(start as usize) as u32 }
    }
    /// The smallest span that covers both (same file assumed; `self` wins otherwise).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
    pub fn range(self) -> Range<usize> {
        self.start.min(self.end) as usize..self.end.max(self.start) as usize
    }
}

/// One loaded file with its line table.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the working directory when possible).
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0u32];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        SourceFile { name: name.into(), text, line_starts }
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(self.text.len() as u32);
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0) as usize;
        let col = self.text.get(start..offset as usize).map_or(0, |s| s.chars().count());
        (line + 1, col + 1)
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files of one compilation, in load order.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }
}
