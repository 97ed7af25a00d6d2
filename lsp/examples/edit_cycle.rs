//! Profiling harness for the diagnostics path: opens a stack in a [`Session`], then makes
//! `N` edits (`max_batch = 16` → `17`, `18`, …) and the check after each, as the server does
//! on `didChange`; prints when the diagnostics were ready and when the whole analysis was.
//! For `valgrind --tool=callgrind` instruction counts and wall-time figures (`docs/editor.md`).
//!
//! usage: cargo run --release -p aistack-lsp --example edit_cycle -- FILE [N]

use aistack_lsp::session::Session;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: edit_cycle FILE [N]");
        std::process::exit(2);
    };
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let path = PathBuf::from(file).canonicalize().unwrap_or_else(|_| PathBuf::from(file));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {file}: {e}");
        std::process::exit(2)
    });
    let s = Session::new();
    let t = Instant::now();
    s.set_doc(path.clone(), text.clone(), 1);
    let ws = s.analysis(&path).map(|w| w.diags.len());
    eprintln!("open: {:.1?} ({ws:?} diagnostics)", t.elapsed());
    let mut times = Vec::new();
    for i in 0..n {
        let edited = text.replacen("max_batch = 16", &format!("max_batch = {}", 17 + i % 5), 1);
        let t = Instant::now();
        s.set_doc(path.clone(), edited, i as i32 + 2);
        let (tx, rx) = std::sync::mpsc::channel();
        let early: aistack_lsp::session::Early = Box::new(move |diags, _, _| {
            let _ = tx.send((t.elapsed(), diags.len()));
        });
        let done = s.analysis_early(&path, early).map(|_| t.elapsed());
        let Ok((diags_at, d)) = rx.recv() else { continue };
        times.push(diags_at);
        eprintln!("edit {i}: diagnostics ({d}) after {diags_at:.1?}, analysis with facts and index {done:.1?}");
    }
    times.sort();
    if let Some(m) = times.get(times.len() / 2) {
        eprintln!("median edit-to-diagnostics {m:.1?} (without the protocol)");
    }
}
