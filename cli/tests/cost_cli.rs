//! `aistack cost`: formats, `--output`, `--compare`, and the exit codes (1 when the worst
//! case exceeds a budget or the stack has other errors, 2 for usage and I/O failures).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cost").join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aistack")).args(args).output().expect("run aistack")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn within_budget_exits_0_with_a_table() {
    let o = run(&["cost", &stack("known.ai-stack").display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let t = text(&o);
    assert!(t.contains("gpu_pool serve") && t.contains("$5,434.12"), "{t}");
    assert!(t.contains("budget monthly: $10,000/month"), "{t}");
}

#[test]
fn over_budget_exits_1_and_still_prints_the_report() {
    let o = run(&["cost", &stack("over.ai-stack").display().to_string(), "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.starts_with("### Cost of `over.ai-stack`"), "{t}");
    assert!(t.contains("❌ over by $33,295.92"), "{t}");
}

#[test]
fn json_to_an_output_file() {
    let dir = std::env::temp_dir().join(format!("aistack-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = dir.join("cost.json");
    let o = run(&[
        "cost",
        &stack("known.ai-stack").display().to_string(),
        "--format",
        "json",
        "--output",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty(), "the report goes to the file only");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    assert_eq!(v["schema"], "aistack.cost/1");
    assert_eq!(v["budgets"][0]["over"], false);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_prints_the_differences() {
    let o = run(&[
        "cost",
        &stack("known-v2.ai-stack").display().to_string(),
        "--compare",
        &stack("known.ai-stack").display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&text(&o)).expect("json");
    assert_eq!(v["schema"], "aistack.cost-compare/1");
    let added: Vec<&str> = v["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["change"] == "added")
        .filter_map(|l| l["address"].as_str())
        .collect();
    assert_eq!(added, ["extra"]);
}

#[test]
fn other_errors_exit_1_without_a_report_and_a_missing_file_exits_2() {
    let dir = std::env::temp_dir().join(format!("aistack-cost-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bad = dir.join("bad.ai-stack");
    std::fs::write(&bad, "gpu_pool p { gpu = L4, gpus_per_node = 3, nodes = 1..2 }\n").expect("write");
    let o = run(&["cost", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("E0410") && !text(&o).contains("worst case/month"), "{}", text(&o));
    let o = run(&["cost", &dir.join("missing.ai-stack").display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
