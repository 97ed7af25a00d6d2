//! The evaluation budget: programs that blow up exponentially or loop for long stop with a
//! located E0313 (value too large) or E0314 (evaluation budget exceeded), quickly and
//! without exhausting memory.

use aistack::check;
use aistack::world::MemoryWorld;
use std::path::Path;
use std::time::{Duration, Instant};

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

/// Each of these checks takes well under a second in an optimised build on one core (the
/// step-budget case, the slowest, about 0.4 s); the bound leaves room for a loaded machine
/// running tests in parallel, and debug builds are an order of magnitude slower.
fn limit() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(5)
    }
}

/// `let l0 = SEED` then 40 lets, each `OP` applied to the previous one (`{p}` stands for it).
fn chain(seed: &str, op: &str) -> String {
    let mut src = format!("{STACK}let l0 = {seed}\n");
    for i in 1..=40 {
        src.push_str(&format!("let l{i} = {}\n", op.replace("{p}", &format!("l{}", i - 1))));
    }
    src.push_str("assert l40 == l40 else \"uses l40\"\n");
    src
}

/// Checks `src` and returns, for each error, its code and the source text it points at.
fn errors(src: &str) -> Vec<(String, String)> {
    let world = MemoryWorld::default().with("/p/main.ai-stack", src.to_string());
    let start = Instant::now();
    let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
    let took = start.elapsed();
    assert!(took < limit(), "check took {took:?}");
    a.diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let span = d.primary.expect("every budget error is located");
            let text = a.prog.sources.get(span.file).map_or("", |f| f.slice(span)).to_string();
            (d.code.to_string(), text)
        })
        .collect()
}

fn assert_first(src: &str, code: &str, text: &str) {
    let errs = errors(src);
    let first = errs.first().unwrap_or_else(|| panic!("no error for:\n{src}"));
    assert_eq!((first.0.as_str(), first.1.as_str()), (code, text), "all errors: {errs:?}");
}

#[test]
fn list_doubling_stops_at_the_element_limit() {
    // 2^20 elements is the first list past 1,000,000.
    assert_first(&chain("[1]", "{p} + {p}"), "E0313", "l19 + l19");
}

#[test]
fn string_doubling_stops_at_the_string_limit() {
    // "ab" doubled 24 times is 32 MiB, the first string past 16 MiB.
    assert_first(&chain("\"ab\"", "{p} + {p}"), "E0313", "l23 + l23");
}

#[test]
fn interpolation_and_concat_are_bounded() {
    assert_first(&chain("\"ab\"", "\"${{p}}${{p}}\""), "E0313", "l23");
    assert_first(&chain("\"ab\"", "concat({p}, {p})"), "E0313", "concat(l23, l23)");
    assert_first(&chain("[1]", "concat({p}, {p})"), "E0313", "concat(l19, l19)");
}

#[test]
fn shared_values_count_every_time_they_are_used() {
    // Each list holds the previous one twice: small in memory (shared), but every walk
    // over it would visit 2^N elements.
    assert_first(&chain("[1]", "[{p}, {p}]"), "E0313", "[l18, l18]");
    assert_first(&chain("[1]", "[{ a = {p}, b = {p} }]"), "E0313", "{ a = l17, b = l17 }");
    assert_first(&chain("1", "{p}..{p}"), "E0313", "l18..l18");
    assert_first(&chain("\"ab\"", "[format(\"{}{}\", {p}, {p})]"), "E0313", "format(\"{}{}\", l22, l22)");
}

#[test]
fn condition_doubling_is_bounded() {
    let src = chain("metric.error_rate > 5%", "{p} && {p}").replace("assert l40 == l40 else \"uses l40\"\n", "");
    assert_first(&src, "E0313", "l17 && l17");
}

#[test]
fn nested_loops_stop_at_the_step_budget() {
    let mut src = format!("{STACK}let l0 = [1]\n");
    for i in 1..=12 {
        src.push_str(&format!("let l{i} = l{} + l{}\n", i - 1, i - 1));
    }
    src.push_str("let n = count(x in l12, all(y in l12, x == y))\nassert n > 0 else \"uses n\"\n");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "E0314");
    assert!(["x == y", "x", "y", "all(y in l12, x == y)"].contains(&errs[0].1.as_str()), "{errs:?}");
}

#[test]
fn comparing_large_lists_is_charged() {
    // Each comparison walks 500,000 elements: the step budget, not the clock, ends it.
    let mut src = format!("{STACK}let l0 = [1]\n");
    for i in 1..=19 {
        src.push_str(&format!("let l{i} = l{} + l{}\n", i - 1, i - 1));
    }
    src.push_str("let n = count(x in l19, l19 == l19)\nassert n > 0 else \"uses n\"\n");
    let errs = errors(&src);
    assert_eq!(errs.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["E0314"], "{errs:?}");
}

#[test]
fn a_for_with_too_many_instances_stops_at_the_step_budget() {
    // 100,000 distinct keys: each instance is charged, so the budget ends it at the list.
    let mut src = format!("{STACK}let d1 = [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n");
    for i in 2..=5 {
        src.push_str(&format!("let d{i} = sum(map(x in d{}, map(y in d1, \"${{x}}${{y}}\")))\n", i - 1));
    }
    src.push_str("storage st for r in d5 { tier = warm, backend = s3, bucket = \"b-${r}\" }\n");
    let errs = errors(&src);
    assert_eq!(errs, [("E0314".to_string(), "d5".to_string())]);
}

#[test]
fn ordinary_stacks_are_far_from_the_limits() {
    let src =
        format!("{STACK}let xs = [1, 2, 3]\nlet t = \"${{len(xs)}} items\"\nassert t == \"3 items\" else \"ok\"\n");
    assert!(errors(&src).is_empty());
}
