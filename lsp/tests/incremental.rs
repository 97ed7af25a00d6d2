//! The server's analyses after many random edits equal a from-scratch check of the same texts.
//!
//! What the session reuses across edits (parses in its cache, older analyses, checks stopped
//! by newer edits) must never show: for each example stack, a sequence of random edits (digits
//! changed, characters typed and deleted, lines duplicated and dropped, braces broken) is fed to
//! one [`Session`], and after each edit its analysis is compared with [`ide::analyze`] of the
//! same texts in a fresh world with no cache: the same diagnostics, types at spans, hover facts
//! and inlay hints.

use aistack::ide::{self, Workspace};
use aistack_lsp::session::{Overlay, Session};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// xorshift64*: a fixed sequence, so a failure is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit of `text` at a char boundary.
fn edit(text: &str, rng: &mut Rng) -> String {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let at = bounds[rng.below(bounds.len())];
    let next = bounds.iter().copied().find(|&b| b > at).unwrap_or(at);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
    match rng.below(7) {
        // change a digit (values other declarations' rules read)
        0 => match text.char_indices().filter(|(_, c)| c.is_ascii_digit()).nth(rng.below(64)) {
            Some((i, c)) => {
                let d = char::from(b'0' + ((c as u8 - b'0' + 1 + rng.below(8) as u8) % 10));
                format!("{}{d}{}", &text[..i], &text[i + 1..])
            }
            None => text.to_string(),
        },
        1 => format!("{}{}", &text[..at], &text[next..]),
        2 => {
            let typed = ["x", "1", " ", "\n", "=", "{", "}", "\"", "GiB", "_", ".", "//"][rng.below(12)];
            format!("{}{typed}{}", &text[..at], &text[at..])
        }
        3 => format!("{}{}", &text[..line_end], &text[line_start..]),
        4 => format!("{}{}", &text[..line_start], &text[line_end..]),
        // rename a word: declarations and their uses part
        5 => {
            let word_end = text[at..].find(|c: char| !c.is_alphanumeric() && c != '_').map_or(text.len(), |i| at + i);
            format!("{}z{}", &text[..word_end], &text[word_end..])
        }
        _ => text.to_string(),
    }
}

fn same(a: &Workspace, b: &Workspace, what: &str) {
    assert_eq!(a.diags, b.diags, "diagnostics differ {what}");
    let types = |w: &Workspace| w.types.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>();
    assert_eq!(types(a), types(b), "types differ {what}");
    assert_eq!(a.facts, b.facts, "facts differ {what}");
    assert_eq!(a.pool_hints, b.pool_hints, "inlay hints differ {what}");
}

fn stacks() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("examples folder").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "ai-stack") {
                files.push(p.canonicalize().expect("path"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn analyses_after_random_edits_equal_a_check_from_scratch() {
    let files = stacks();
    assert!(files.len() >= 5, "the examples are found: {files:?}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compared = 0;
    for file in &files {
        let s = Session::new();
        let mut text = std::fs::read_to_string(file).expect("read");
        let mut errors_seen = false;
        for step in 0..25 {
            if step > 0 {
                text = edit(&text, &mut rng);
            }
            s.set_doc(file.clone(), text.clone(), step + 1);
            let root = s.root_of(file);
            let got: Arc<Workspace> = s.analysis(file).expect("an analysis");
            let fresh = {
                let o = s.overlay.lock().expect("overlay");
                Overlay { docs: o.docs.clone(), versions: o.versions.clone(), cache: Default::default() }
            };
            let want = ide::analyze(&fresh, &root, &[]);
            same(&got, &want, &format!("after edit {step} of {}:\n{text}", file.display()));
            errors_seen |= got.diags.iter().any(|d| d.is_error());
            compared += 1;
        }
        assert!(errors_seen, "the edits of {} made some error (they are not all no-ops)", file.display());
    }
    assert_eq!(compared, files.len() * 25);
}

/// A check whose text is edited while it runs stops, publishes nothing, and the next analysis
/// is that of the new text.
#[test]
fn an_edit_stops_the_check_of_the_older_text() {
    let file = stacks().into_iter().find(|p| p.ends_with("llm-chat/main.ai-stack")).expect("llm-chat example");
    let text = std::fs::read_to_string(&file).expect("read");
    let s = Arc::new(Session::new());
    // Many checks, each edited right after it starts: none may publish for an older text.
    for i in 0..20 {
        let old = format!("{text}\n// edit {i}\n");
        s.set_doc(file.clone(), old, 2 * i);
        let (tx, rx) = std::sync::mpsc::channel();
        let early: aistack_lsp::session::Early = Box::new(move |diags, _, versions| {
            let _ = tx.send((diags.len(), versions.values().copied().collect::<Vec<_>>()));
        });
        let (s2, f2) = (s.clone(), file.clone());
        let running = std::thread::spawn(move || s2.analysis_early(&f2, early).is_some());
        let new = format!("{text}\nparam p{i}: int = 1\n");
        s.set_doc(file.clone(), new.clone(), 2 * i + 1);
        let finished = running.join().expect("no panic");
        match rx.try_recv() {
            // It published: the old text's check ended before the edit landed, or it started
            // after and read the new text; either way with the version of the text it read.
            // (It may still give no analysis: the edit can land while its facts are computed.)
            Ok((_, versions)) => assert!(versions == [2 * i] || versions == [2 * i + 1], "{versions:?}"),
            Err(_) => assert!(!finished, "a check that was stopped gives no analysis"),
        }
        let now = s.analysis(&file).expect("the new text's analysis");
        assert!(
            now.diags.iter().any(|d| d.message == format!("param `p{i}` is never used")),
            "the analysis is of the newest text: {:?}",
            now.diags
        );
    }
}
