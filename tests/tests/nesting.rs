//! Hostile nesting: every nesting construct of the grammar, balanced, unclosed, cut short or
//! closed only, up to 10,000 levels, finishes `check` and `fmt` within a second, in bounded
//! memory, with exit code 0, 1 or 2 from the binary.
//!
//! The parser is linear (no backtracking) and skips a group nested past its limit without
//! parsing it; these tests fail if either stops being true (the chumsky parser this replaced
//! took over 20 s on 22 unclosed `{a=`).

use aistack::check;
use aistack::world::MemoryWorld;
use proptest::prelude::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// CPU time one input may take for `check` plus `fmt` in the library.
const LIMIT: Duration = Duration::from_secs(1);

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

/// A nesting construct: the text before the nest, one level's opening and closing text, the
/// innermost text and what follows the nest.
struct Construct {
    name: &'static str,
    before: &'static str,
    open: &'static str,
    core: &'static str,
    close: &'static str,
}

const CONSTRUCTS: &[Construct] = &[
    Construct { name: "record", before: "let x = ", open: "{a=", core: "1", close: "}" },
    Construct { name: "list", before: "let x = ", open: "[", core: "1", close: "]" },
    Construct { name: "paren", before: "let x = ", open: "(", core: "1", close: ")" },
    Construct { name: "variant", before: "let x = ", open: "v{s=[", core: "1", close: "]}" },
    Construct { name: "call", before: "let x = ", open: "len(", core: "[]", close: ")" },
    Construct { name: "binder", before: "let x = ", open: "all(y in [", core: "1", close: "], true)" },
    Construct { name: "index", before: "let x = xs", open: "[", core: "0", close: "]" },
    Construct { name: "if-expr", before: "let x = ", open: "if true then ", core: "1", close: " else 2" },
    Construct { name: "negation", before: "let x = ", open: "-", core: "1", close: "" },
    Construct { name: "not", before: "let x = ", open: "!", core: "true", close: "" },
    Construct { name: "field-access", before: "let x = y", open: "", core: "", close: ".a" },
    Construct { name: "sum-chain", before: "let x = 1", open: "", core: "", close: " + 1" },
    Construct { name: "interpolation", before: "let x = ", open: "\"${", core: "1", close: "}\"" },
    Construct { name: "block-comment", before: "", open: "/* ", core: "", close: " */" },
    Construct { name: "field-block", before: "service x { ", open: "a{", core: "", close: "}" },
    Construct { name: "named-entry", before: "service x { ", open: "m n { ", core: "", close: "}" },
    Construct { name: "generic-type", before: "param p: ", open: "list<", core: "int", close: ">" },
    Construct { name: "schema-field", before: "schema t { f: ", open: "list<", core: "int", close: "> }" },
    Construct { name: "if-block", before: "", open: "if true { ", core: "let y = 1", close: " }" },
    Construct { name: "enum-payload", before: "enum e { v ", open: "{ f: int = ", core: "1", close: " }" },
];

#[derive(Clone, Copy, Debug)]
enum Shape {
    Balanced,
    /// Only the opening halves.
    Unclosed,
    /// Only the closing halves.
    ClosedOnly,
    /// Balanced, then cut at a fraction (per mille) of its length.
    Cut(u16),
}

fn program(c: &Construct, depth: usize, shape: Shape) -> String {
    nest(c.before, c.open, c.core, c.close, depth, shape)
}

fn nest(before: &str, open: &str, core: &str, close: &str, depth: usize, shape: Shape) -> String {
    let opens = open.repeat(depth);
    let closes = close.repeat(depth);
    let nest = match shape {
        Shape::Balanced | Shape::Cut(_) => format!("{opens}{core}{closes}"),
        Shape::Unclosed => format!("{opens}{core}"),
        Shape::ClosedOnly => format!("{core}{closes}"),
    };
    let mut src = format!("{STACK}{before}{nest}\n");
    if let Shape::Cut(per_mille) = shape {
        let mut at = src.len() * usize::from(per_mille.min(1000)) / 1000;
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        src.truncate(at.max(STACK.len()));
    }
    src
}

/// CPU time this thread has used (user + system), from `/proc/thread-self/stat` (10 ms
/// ticks): unlike wall time it does not grow when other tests share the two cores.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state letter.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Runs check and fmt in the library on a thread with the CLI's stack size; fails when they
/// panic, use more than [`LIMIT`] of CPU, or give no answer within five times that.
fn check_and_fmt_bounded(src: String) -> Result<Duration, String> {
    let (tx, rx) = mpsc::channel();
    let shown: String = src.chars().take(160).collect();
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let (started, cpu) = (Instant::now(), thread_cpu());
            let ok = std::panic::catch_unwind(|| {
                let world = MemoryWorld::default().with("/p/main.ai-stack", src.clone());
                let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
                for d in &a.diags {
                    let _ = aistack::diag::render::render(d, &a.prog.sources, false);
                }
                let _ = aistack::fmt::format(&src);
            });
            let _ = tx.send(ok.map(|_| (started.elapsed(), thread_cpu().saturating_sub(cpu))));
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(LIMIT * 5) {
        Ok(Ok((wall, cpu))) if cpu <= LIMIT => Ok(wall),
        Ok(Ok((_, cpu))) => Err(format!("used {cpu:?} of CPU (limit {LIMIT:?}) on {shown:?}")),
        Ok(Err(_)) => Err(format!("panicked on {shown:?}")),
        Err(_) => Err(format!("no answer within {:?} on {shown:?}", LIMIT * 5)),
    }
}

#[test]
fn every_construct_at_every_depth_finishes_within_a_second() {
    let mut failures = Vec::new();
    for c in CONSTRUCTS {
        for depth in [1, 63, 64, 65, 66, 200, 1_000, 10_000] {
            for shape in [Shape::Balanced, Shape::Unclosed, Shape::ClosedOnly, Shape::Cut(500), Shape::Cut(997)] {
                if let Err(e) = check_and_fmt_bounded(program(c, depth, shape)) {
                    failures.push(format!("{} depth {depth} {shape:?}: {e}", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} inputs failed:\n{}", failures.len(), failures.join("\n"));
}

/// Nesting at the limit is accepted; one level past it is one located error (not a cascade),
/// and the rest of the file is still checked.
#[test]
fn nesting_limit_is_one_located_error() {
    let at_limit = |depth: usize| format!("{STACK}let x = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
    let ok = check::check(
        &MemoryWorld::default().with("/p/main.ai-stack", at_limit(63)),
        Path::new("/p/main.ai-stack"),
        &[],
    );
    assert!(!ok.diags.iter().any(|d| d.code == "E0101"), "63 brackets (64 with the let's value) must parse");
    let src = format!("{}let y = nowhere\n", at_limit(70));
    let a =
        check::check(&MemoryWorld::default().with("/p/main.ai-stack", src.clone()), Path::new("/p/main.ai-stack"), &[]);
    let syntax: Vec<_> = a.diags.iter().filter(|d| d.code == "E0101").collect();
    assert_eq!(syntax.len(), 1, "one nesting error, got {:?}", a.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    assert!(syntax[0].message.contains("nest more than 64"), "{}", syntax[0].message);
    let start = syntax[0].primary.map(|s| s.start as usize).unwrap_or_default();
    assert_eq!(&src[start..start + 1], "[", "the error points at the first bracket past the limit");
    assert_eq!(start - STACK.len(), "let x = ".len() + 64, "the 65th bracket");
    assert!(
        a.diags.iter().any(|d| d.code == "E0201" && d.message.contains("nowhere")),
        "the next item is still checked"
    );
}

/// Doubling the input must not much more than double the time: parse + check of unclosed
/// and balanced nests, measured at 2,500 and 10,000 levels.
#[test]
fn time_grows_linearly_with_nesting() {
    for c in CONSTRUCTS.iter().filter(|c| ["record", "variant", "field-block", "if-expr"].contains(&c.name)) {
        for shape in [Shape::Unclosed, Shape::Balanced] {
            let best = |depth: usize| {
                (0..3)
                    .filter_map(|_| check_and_fmt_bounded(program(c, depth, shape)).ok())
                    .min()
                    .unwrap_or(Duration::MAX)
            };
            let (small, large) = (best(2_500), best(10_000));
            // Four times the input; allow up to 12× for noise on a shared machine (quadratic
            // would be 16×, exponential far more), and ignore figures too small to compare.
            assert!(
                large <= Duration::from_millis(50) || large <= small * 12,
                "{} {shape:?}: 2,500 levels {small:?}, 10,000 levels {large:?}",
                c.name
            );
        }
    }
}

/// The `aistack` binary beside this test's folder (`target/<profile>/aistack`): this crate
/// cannot name another package's binary, and `cargo test --workspace` builds it first.
fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("aistack")).expect("target folder");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release -p aistack` (or test the whole workspace)",
        bin.display()
    );
    bin
}

/// Runs the binary under a 3 GiB address-space cap (its compiler thread reserves 1 GiB of
/// stack) and returns its exit code; a crash, an abort or a time-out fails.
fn run_binary(args: &[&str]) -> i32 {
    let script = "ulimit -v 3145728; exec \"$@\"";
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or_else(|| panic!("{args:?} ended by a signal: {status:?}"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_binary_exits_0_1_or_2_on_deep_nests_in_bounded_memory() {
    let dir = std::env::temp_dir().join(format!("aistack-nesting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for c in CONSTRUCTS {
        for shape in [Shape::Balanced, Shape::Unclosed] {
            let path = dir.join(format!("{}-{shape:?}.ai-stack", c.name));
            std::fs::write(&path, program(c, 10_000, shape)).expect("write");
            let p = path.to_string_lossy().into_owned();
            for args in [vec!["check", p.as_str()], vec!["fmt", "--check", p.as_str()]] {
                let code = run_binary(&args);
                assert!(matches!(code, 0..=2), "{} {shape:?}: `aistack {}` exited {code}", c.name, args[0]);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Programs whose values double at every step: the evaluation budget stops them with a located
/// error (E0313 value too large) long before memory runs out.
#[test]
fn exponential_programs_finish_within_a_second() {
    for (seed, op) in [("[1]", "+"), ("\"ab\"", "+"), ("[[1]]", "+")] {
        let mut src = format!("{STACK}let l0 = {seed}\n");
        for i in 1..=40 {
            src.push_str(&format!("let l{i} = l{} {op} l{}\n", i - 1, i - 1));
        }
        src.push_str("assert len(l40) > 0 else \"x\"\n");
        check_and_fmt_bounded(src.clone()).expect("finishes");
        let a = check::check(&MemoryWorld::default().with("/p/main.ai-stack", src), Path::new("/p/main.ai-stack"), &[]);
        assert!(
            a.diags.iter().any(|d| d.code == "E0313"),
            "{seed}: {:?}",
            a.diags.iter().map(|d| d.code).collect::<Vec<_>>()
        );
    }
}

fn construct() -> impl Strategy<Value = usize> {
    0..CONSTRUCTS.len()
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Balanced),
        Just(Shape::Unclosed),
        Just(Shape::ClosedOnly),
        (0u16..=1000).prop_map(Shape::Cut),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random constructs, depths up to 10,000 and shapes, plus two constructs interleaved.
    #[test]
    fn random_nests_finish_within_a_second(a in construct(), b in construct(), depth in 0usize..10_000, s in shape()) {
        let (ca, cb) = (&CONSTRUCTS[a], &CONSTRUCTS[b]);
        let (open, close) = (format!("{}{}", ca.open, cb.open), format!("{}{}", cb.close, ca.close));
        check_and_fmt_bounded(program(ca, depth, s)).map_err(TestCaseError::fail)?;
        check_and_fmt_bounded(nest(ca.before, &open, ca.core, &close, depth / 2, s)).map_err(TestCaseError::fail)?;
    }
}

/// A `for` declaration referenced by key from each instance of another (`pool = p[k]` in n
/// services) is checked in time linear in n: its map of instances is built once, not once per
/// use (it was: 8,000 + 8,000 instances took 6 s, now 0.6 s). Quadratic growth would make
/// 4× the instances cost 16× the CPU; the bound allows 8×.
#[test]
fn indexed_for_groups_check_in_linear_time() {
    fn stack(n: usize) -> String {
        let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\"")).collect();
        format!(
            "stack st {{ cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }}\n\
             storage m {{ tier = warm, backend = s3, bucket = \"many-models\" }}\n\
             model tiny {{ store = m, path = \"t\", version = \"1\", parameters = 1e8 }}\n\
             let keys = [{}]\n\
             gpu_pool p for k in keys {{ gpu = L4, gpus_per_node = 1, nodes = 0..1 }}\n\
             service svc for k in keys {{ model = tiny, pool = p[k], replicas = 0..1, max_batch = 1 }}\n",
            keys.join(", ")
        )
    }
    let cpu_of = |n: usize| {
        let src = stack(n);
        std::thread::Builder::new()
            .stack_size(1 << 28)
            .spawn(move || {
                let start = thread_cpu();
                let world = MemoryWorld::default().with("/p/main.ai-stack", src);
                let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
                let errors: Vec<String> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
                (thread_cpu() - start, errors)
            })
            .expect("thread")
            .join()
            .expect("no panic")
    };
    let (small, errors) = cpu_of(1000);
    assert!(errors.is_empty(), "{:?}", errors.first());
    let (large, _) = cpu_of(4000);
    // Ticks are 10 ms: compare against at least two ticks so a fast small run cannot divide by ~0.
    let base = small.max(Duration::from_millis(20));
    assert!(large < base * 8, "4× the instances took {large:?}, against {small:?}: not linear");
}
