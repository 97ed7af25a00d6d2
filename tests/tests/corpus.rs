//! The design corpus and the project's examples, run through the library.
//!
//! `../shared/design/examples` (when this checkout has it) must be accepted, and every
//! program in its `errors/` rejected with an error at the line:column its first line names.
//! `examples/*/main.ai-stack` must check with no errors.

use aistack::check;
use aistack::world::DiskWorld;
use aistack_tests::{shared_dir, workspace};
use std::path::{Path, PathBuf};

fn ai_stack_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ai-stack"))
        .collect();
    v.sort();
    v
}

/// `(line, column)` pairs from an `// expect: … at L:C …` first line, or lines from `at line A, B or C`.
fn expectations(first: &str) -> (bool, Vec<(usize, Option<usize>)>) {
    let all = first.contains(" AND ") || first.contains(" BOTH ");
    let mut pairs = Vec::new();
    for word in first.split(|c: char| !(c.is_ascii_digit() || c == ':')) {
        if let Some((a, b)) = word.split_once(':') {
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                pairs.push((a, Some(b)));
            }
        }
    }
    if pairs.is_empty() {
        if let Some(rest) = first.split("at line ").nth(1) {
            let upto = rest.split('(').next().unwrap_or(rest);
            pairs =
                upto.split(|c: char| !c.is_ascii_digit()).filter_map(|x| x.parse().ok()).map(|l| (l, None)).collect();
        }
    }
    (all, pairs)
}

#[test]
fn design_examples_are_accepted() {
    let Some(shared) = shared_dir() else {
        println!("SKIPPED: ../shared is not beside this checkout; the design corpus is not available");
        return;
    };
    let files = ai_stack_files(&shared.join("design/examples"));
    assert!(files.len() >= 2);
    for f in files {
        let a = check::check(&DiskWorld, &f, &[]);
        let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        assert!(errors.is_empty(), "{} rejected: {errors:?}", f.display());
    }
}

#[test]
fn design_error_programs_are_rejected_where_they_say() {
    let Some(shared) = shared_dir() else {
        println!("SKIPPED: ../shared is not beside this checkout; the design corpus is not available");
        return;
    };
    let files = ai_stack_files(&shared.join("design/examples/errors"));
    assert!(files.len() >= 14, "expected the 14 design error programs, found {}", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let (all, want) = expectations(text.lines().next().unwrap_or(""));
        assert!(!want.is_empty(), "{}: no position on the first line", f.display());
        let a = check::check(&DiskWorld, &f, &[]);
        let got: Vec<(usize, usize)> = a
            .diags
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| {
                let span = d.primary?;
                Some(a.prog.sources.get(span.file)?.line_col(span.start))
            })
            .collect();
        let hit = |w: &(usize, Option<usize>)| got.iter().any(|g| g.0 == w.0 && w.1.is_none_or(|c| c == g.1));
        let ok = if all { want.iter().all(hit) } else { want.iter().any(hit) };
        assert!(ok, "{}: wanted errors at {want:?} ({}), got {got:?}", f.display(), if all { "all" } else { "any" });
    }
}

#[test]
fn project_examples_check_clean() {
    let dir = workspace().join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let main = entry.expect("entry").path().join("main.ai-stack");
        if !main.exists() {
            continue;
        }
        count += 1;
        let a = check::check(&DiskWorld, &main, &[]);
        let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        assert!(errors.is_empty(), "{} rejected: {errors:?}", main.display());
    }
    assert!(count >= 4, "expected at least four examples, found {count}");
}

#[test]
fn readme_tour_checks_clean() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let block = readme.split("```ai-stack\n").nth(1).and_then(|b| b.split("```").next()).expect("an ai-stack block");
    let world = aistack::world::MemoryWorld::default().with("/readme/tour.ai-stack", block);
    let a = check::check(&world, Path::new("/readme/tour.ai-stack"), &[]);
    assert!(a.diags.is_empty(), "the README tour must check without diagnostics: {:?}", a.diags);
}
