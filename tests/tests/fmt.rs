//! `fmt` is idempotent, keeps every token and comment, and leaves canonical files alone.

use aistack::source::FileId;
use aistack::syntax::lexer::lex;
use aistack::syntax::token::Token;
use aistack_tests::{ai_stack_files, shared_dir, workspace};
use std::path::PathBuf;

fn stream(text: &str) -> (Vec<Token>, Vec<String>) {
    let l = lex(FileId(0), text);
    let comments = l.comments.iter().map(|c| text[c.start as usize..c.end as usize].trim_end().to_string()).collect();
    (l.tokens.into_iter().map(|t| t.0).collect(), comments)
}

fn corpus() -> Vec<PathBuf> {
    let mut dirs = vec![workspace().join("examples"), workspace().join("stdlib")];
    if let Some(s) = shared_dir() {
        dirs.push(s.join("design/examples"));
    }
    ai_stack_files(dirs)
}

#[test]
fn formatting_is_idempotent_and_keeps_tokens_and_comments() {
    let files = corpus();
    assert!(files.len() >= 10, "found only {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let Ok(once) = aistack::fmt::format(&text) else { continue };
        let twice = aistack::fmt::format(&once).expect("formatted output parses");
        assert_eq!(once, twice, "{}: not idempotent", f.display());
        assert_eq!(stream(&text), stream(&once), "{}: tokens or comments changed", f.display());
    }
}

#[test]
fn canonical_files_are_left_alone() {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(workspace().join("stdlib")).expect("stdlib").flatten().map(|e| e.path()).collect();
    if let Some(s) = shared_dir() {
        files.push(s.join("design/examples/llm-platform.ai-stack"));
        files.push(s.join("design/examples/minimal.ai-stack"));
    }
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        assert_eq!(aistack::fmt::format(&text).expect("parses"), text, "{} is not a fixpoint", f.display());
    }
}

#[test]
fn layout_is_normalised() {
    let messy = "stack s {\ncloud = aws\n      region = \"us-east-1\"   \n\n\n\n  cluster=\"c\"\nnamespace = \"n\" // ns\n}\n\n\n";
    let want =
        "stack s {\n  cloud  = aws\n  region = \"us-east-1\"\n\n  cluster   = \"c\"\n  namespace = \"n\" // ns\n}\n";
    assert_eq!(aistack::fmt::format(messy).expect("parses"), want);
}

#[test]
fn syntax_errors_are_not_formatted() {
    assert!(aistack::fmt::format("gpu_pool x { gpu = = L4 }").is_err());
}
