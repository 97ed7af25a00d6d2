//! Property tests: arbitrary and mutated input never panics or hangs `check` or `fmt`.
//!
//! Each case runs on its own thread (with the CLI's large stack) and must finish within a
//! time bound; a panic or a time-out fails the property with the input that caused it.

use aistack::check;
use aistack::world::MemoryWorld;
use aistack_tests::{ai_stack_files, shared_dir, workspace};
use proptest::prelude::*;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn run_bounded(src: String) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let shown = src.chars().take(300).collect::<String>();
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let ok = std::panic::catch_unwind(|| {
                let world =
                    MemoryWorld::default().with("/p/main.ai-stack", src.clone()).with("/p/mod.ai-stack", src.clone());
                let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
                let _ = aistack::diag::json::report(&a.diags, &a.prog.sources);
                for d in &a.diags {
                    let _ = aistack::diag::render::render(d, &a.prog.sources, false);
                }
                if let Ok(out) = aistack::fmt::format(&src) {
                    assert_eq!(aistack::fmt::format(&out).ok().as_deref(), Some(out.as_str()), "fmt is not idempotent");
                }
            });
            let _ = tx.send(ok.is_ok());
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(LIMIT) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("panicked on {shown:?}")),
        Err(_) => Err(format!("no answer within {LIMIT:?} on {shown:?}")),
    }
}

fn seeds() -> Vec<String> {
    let mut dirs = vec![workspace().join("examples"), workspace().join("tests/suite")];
    if let Some(s) = shared_dir() {
        dirs.push(s.join("design/examples"));
    }
    ai_stack_files(dirs).iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

const PIECES: &[&str] = &[
    "stack",
    "import",
    "as",
    "param",
    "let",
    "schema",
    "enum",
    "for",
    "in",
    "if",
    "then",
    "else",
    "assert",
    "true",
    "false",
    "none",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "..",
    ",",
    ":",
    ".",
    "?",
    "|",
    "&&",
    "||",
    "!",
    "+",
    "-",
    "*",
    "/",
    "\"",
    "\"\"\"",
    "${",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "42",
    "3.5",
    "70e9",
    "15m",
    "80GiB",
    "99.9%",
    "$3/h",
    "100/s",
    "service",
    "model",
    "gpu_pool",
    "x",
    "metric.p95_latency",
    "all(x in service, x.replicas.min >= 1)",
    "bf16",
    "H100_80GB",
    "canary { steps = [10%] }",
    "\"${x}\"",
    "\\",
    "é",
    "\t",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..120).prop_map(|v| v.concat())
}

fn mutated() -> impl Strategy<Value = String> {
    let seeds = seeds();
    assert!(!seeds.is_empty(), "no seed files");
    (0..seeds.len(), any::<u32>(), any::<u32>(), 0usize..40, proptest::sample::select(PIECES), 0u8..4).prop_map(
        move |(i, a, b, len, piece, kind)| {
            let s = &seeds[i];
            let cut = |x: u32| {
                let mut p = (x as usize) % (s.len() + 1);
                while !s.is_char_boundary(p) {
                    p -= 1;
                }
                p
            };
            let (p, q) = (cut(a), cut(b));
            let mut end = (p + len).min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            match kind {
                0 => format!("{}{}", &s[..p], &s[end..]),
                1 => format!("{}{piece}{}", &s[..p], &s[p..]),
                2 => format!("{}{}{}", &s[..p.min(q)], &s[p.max(q)..], &s[p.min(q)..p.max(q)]),
                _ => format!("{}{}", &s[..p], &s[p..].replacen(|c: char| c.is_ascii_digit(), piece, 1)),
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "(?s).{0,300}") {
        run_bounded(src).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn token_soup_never_panics(src in soup()) {
        run_bounded(src).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_programs_never_panic(src in mutated()) {
        run_bounded(src).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn pathological_inputs_finish() {
    let chain = format!("let x = {}\nassert x > 0 else \"x\"\n", vec!["1"; 100_000].join(" + "));
    let nest = format!("let y = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000));
    let strings = format!("let z = \"{}\"\n", "${\"".repeat(200));
    let unclosed = "/* /* /* ".repeat(1000);
    let mut nested_chains = String::from("let w = ");
    for _ in 0..70 {
        nested_chains.push_str(&"1 * 2 + ".repeat(300));
        nested_chains.push('(');
    }
    nested_chains.push('1');
    nested_chains.push_str(&")".repeat(70));
    for src in [chain, nest, strings, unclosed, nested_chains, "\u{0}\u{feff}".into(), "\"\"\"".into()] {
        run_bounded(src).expect("finishes without panicking");
    }
}
