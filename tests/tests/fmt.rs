//! `fmt` is idempotent, keeps every token and comment (carriage returns inside strings and
//! comments included), keeps a byte order mark, and leaves canonical files alone.

use aistack::source::FileId;
use aistack::syntax::lexer::lex;
use aistack::syntax::token::Token;
use aistack::world::MemoryWorld;
use aistack_tests::{ai_stack_files, shared_dir, workspace, STACK_LINE};
use std::ops::Range;
use std::path::{Path, PathBuf};

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

/// Byte ranges of every string (opening to closing quote) and comment of `text`.
fn strings_and_comments(text: &str) -> Vec<Range<usize>> {
    let l = lex(FileId(0), text);
    let mut out: Vec<Range<usize>> = l.comments.iter().map(|c| c.start as usize..c.end as usize).collect();
    let (mut depth, mut start) = (0usize, 0usize);
    for (tok, span) in &l.tokens {
        match tok {
            Token::StrStart if depth == 0 => (depth, start) = (1, span.start as usize),
            Token::StrStart => depth += 1,
            Token::StrEnd if depth == 1 => {
                depth = 0;
                out.push(start..span.end as usize);
            }
            Token::StrEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out
}

/// A multi-line comment and string (the corpus has none), appended to every file.
const PROBE: &str = "\n/* probe\n   block */\nlet fmt_probe = \"\"\"\n  a ${1} \n\n  b\n  \"\"\" /* x\n */\n";

/// `text` with [`PROBE`] and carriage returns where they are content: every line break
/// inside a string or comment becomes `\r\r\n`, and a lone `\r` follows the opening `//`,
/// `/*` or quote of each.
fn with_carriage_returns(text: &str) -> String {
    let text = &format!("{text}{PROBE}");
    let ranges = strings_and_comments(text);
    let inside = |i: usize| ranges.iter().any(|r| r.start < i && i < r.end);
    let after_opening = |i: usize| {
        ranges.iter().any(|r| i == r.start + if text[r.start..].starts_with("\"\"\"") { 3 } else { 2 }.min(r.len()))
    };
    let mut out = String::with_capacity(text.len() * 2);
    for (i, c) in text.char_indices() {
        if after_opening(i) {
            out.push('\r');
        }
        if c == '\n' && inside(i) {
            out.push_str("\r\r");
        }
        out.push(c);
    }
    out
}

/// `text` with a `len(…)` assertion on the string `x`, checked in memory: whether it holds.
fn length_holds(text: &str, len: usize) -> bool {
    let src = format!("{text}assert len(x) == {len} else \"length\"\n");
    let world = MemoryWorld::default().with("/f/main.ai-stack", src);
    let a = aistack::check::check(&world, Path::new("/f/main.ai-stack"), &[]);
    let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| (d.code, d.message.clone())).collect();
    assert!(errors.iter().all(|e| e.0 == "E0402"), "{errors:?}");
    errors.is_empty()
}

/// The value of the string `x`, as the lexer reads it.
fn value_of_x(text: &str) -> String {
    let l = lex(FileId(0), text);
    let x = l.tokens.iter().position(|t| t.0 == Token::Ident("x".into())).expect("let x");
    l.tokens[x..]
        .iter()
        .take_while(|t| t.0 != Token::StrEnd)
        .filter_map(|t| match &t.0 {
            Token::StrText(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn carriage_returns_in_corpus_strings_and_comments_are_kept_in_one_pass() {
    let mut formatted = 0;
    for f in corpus() {
        let text = std::fs::read_to_string(&f).expect("read");
        for variant in [with_carriage_returns(&text), text.replace('\n', "\r\n")] {
            let Ok(once) = aistack::fmt::format(&variant) else { continue };
            formatted += 1;
            let twice = aistack::fmt::format(&once).expect("formatted output parses");
            assert_eq!(once, twice, "{}: not idempotent with carriage returns", f.display());
            assert_eq!(stream(&variant), stream(&once), "{}: tokens or comments changed", f.display());
        }
    }
    assert!(formatted >= 20, "only {formatted} variants were formattable");
}

#[test]
fn carriage_returns_in_a_string_keep_its_value() {
    let bodies = ["a\r\r\n", "a\r\n", "\r\r\n\r", "  a\rb  \r\n\r\n  c\r\r\n", "x\r"];
    for body in bodies {
        for text in [
            format!("{STACK_LINE}\nlet x = \"\"\"\n{body}\"\"\"\n"),
            format!("{STACK_LINE}\nlet x = \"\"\"{body}\n   \"\"\" // {}\n", body.replace('\n', "")),
            format!("{STACK_LINE}\r\n  let x = \"\"\"\r\n{body}\r\n  \"\"\"\r\n"),
        ] {
            let value = value_of_x(&text);
            let once = aistack::fmt::format(&text).expect("parses");
            assert_eq!(value_of_x(&once), value, "value changed for {text:?}: {once:?}");
            assert_eq!(aistack::fmt::format(&once).expect("parses"), once, "two passes needed for {text:?}");
            let n = value.chars().count();
            assert!(length_holds(&text, n) && length_holds(&once, n), "len(x) == {n} for {text:?}");
            assert!(!length_holds(&once, n + 1), "the length assertion can fail");
        }
    }
}

#[test]
fn a_byte_order_mark_is_kept() {
    let messy = "\u{feff}stack s {\ncloud = aws\n      region = \"us-east-1\"\ncluster=\"c\"\nnamespace = \"n\"\n}\n";
    let once = aistack::fmt::format(messy).expect("a BOM is not a syntax error");
    assert!(once.starts_with("\u{feff}stack s {\n  cloud "), "{once:?}");
    assert_eq!(aistack::fmt::format(&once).expect("parses"), once);
    assert_eq!(aistack::fmt::format("\u{feff}").expect("parses"), "\u{feff}");
    let plain = aistack::fmt::format(&messy['\u{feff}'.len_utf8()..]).expect("parses");
    assert_eq!(once, format!("\u{feff}{plain}"), "the BOM changes nothing else");
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
