//! The `aistack` binary as a user runs it: exit codes, JSON shape, params, explain, fmt.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aistack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aistack")).args(args).output().expect("run aistack")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aistack-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

#[test]
fn clean_stack_exits_zero() {
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    let out = aistack(&["check", ex.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 0 errors"));
}

#[test]
fn errors_exit_one_with_located_json() {
    let d = temp_dir("json");
    let f = d.join("bad.ai-stack");
    std::fs::write(&f, format!("{STACK}storage c {{\n  tier    = hot\n  backend = nvme\n  size    = 30d\n}}\n"))
        .expect("write");
    let out = aistack(&["check", "--format", "json", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d0 = &v["diagnostics"][0];
    assert_eq!(d0["code"], "E0302");
    assert_eq!(d0["severity"], "error");
    assert_eq!((d0["line"].as_u64(), d0["column"].as_u64()), (Some(5), Some(13)));
    assert_eq!((d0["end_line"].as_u64(), d0["end_column"].as_u64()), (Some(5), Some(16)));
    assert!(d0["labels"].is_array());
    assert!(d0["help"].as_str().is_some_and(|h| h.contains("GiB")));
    assert!(d0["file"].as_str().is_some_and(|p| p.ends_with("bad.ai-stack")));
}

#[test]
fn usage_and_io_failures_exit_two() {
    assert_eq!(aistack(&["check", "/nonexistent/x.ai-stack"]).status.code(), Some(2));
    assert_eq!(aistack(&["frobnicate"]).status.code(), Some(2));
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    assert_eq!(aistack(&["check", ex.to_str().expect("utf-8"), "--param", "novalue"]).status.code(), Some(2));
    assert_eq!(aistack(&["explain", "E9999"]).status.code(), Some(2));
}

#[test]
fn params_override_defaults_and_are_typed() {
    let d = temp_dir("params");
    let f = d.join("p.ai-stack");
    let src = format!("{STACK}param replicas: int = 2\nparam env: string = \"prod\"\nassert replicas > 2 else \"replicas must be raised\"\nassert env == \"dev\" else \"env is dev\"\n");
    std::fs::write(&f, src).expect("write");
    let p = f.to_str().expect("utf-8");
    assert_eq!(aistack(&["check", p]).status.code(), Some(1));
    assert_eq!(aistack(&["check", p, "--param", "replicas=3", "--param", "env=dev"]).status.code(), Some(0));
    let out = aistack(&["check", p, "--format", "json", "--param", "replicas=3s", "--param", "env=dev"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["diagnostics"][0]["code"], "E0301", "{v}");
    let out = aistack(&["check", p, "--param", "nosuch=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("declares no param `nosuch`"));
}

#[test]
fn secret_values_never_reach_the_output() {
    let d = temp_dir("secret");
    let f = d.join("s.ai-stack");
    std::fs::write(&f, format!("{STACK}param key: secret\nlet header = \"Bearer ${{key}}\"\n")).expect("write");
    let out = aistack(&["check", "--format", "json", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("E0304"));
}

#[test]
fn explain_prints_the_long_form() {
    let out = aistack(&["explain", "e0403"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("# E0403"), "{text}");
    assert!(text.contains("tensor_parallel"));
    let list = String::from_utf8_lossy(&aistack(&["explain"]).stdout).lines().count();
    assert!(list >= 45, "explain lists every code, got {list}");
}

#[test]
fn version_is_printed() {
    let out = aistack(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("aistack "));
}

#[test]
fn fmt_rewrites_checks_and_refuses_broken_files() {
    let d = temp_dir("fmt");
    let f = d.join("f.ai-stack");
    let p = f.to_str().expect("utf-8");
    std::fs::write(&f, "stack s {\ncloud = aws\n  region =   \"us-east-1\"\ncluster = \"c\"\nnamespace = \"n\"\n}\n")
        .expect("write");
    assert_eq!(aistack(&["fmt", "--check", p]).status.code(), Some(1));
    assert_eq!(aistack(&["fmt", p]).status.code(), Some(0));
    let text = std::fs::read_to_string(&f).expect("read");
    assert!(text.contains("  cloud     = aws\n  region    = \"us-east-1\"\n"), "{text}");
    assert_eq!(aistack(&["fmt", "--check", p]).status.code(), Some(0));
    let broken = "stack s { cloud = = aws }\n";
    std::fs::write(&f, broken).expect("write");
    assert_eq!(aistack(&["fmt", p]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&f).expect("read"), broken, "a file with syntax errors is left untouched");
    let leftovers: Vec<_> =
        std::fs::read_dir(&d).expect("dir").flatten().filter(|e| e.file_name() != "f.ai-stack").collect();
    assert!(leftovers.is_empty(), "no temporary files are left behind");
}

#[test]
fn build_never_replaces_a_folder_it_did_not_write() {
    let d = temp_dir("build-out");
    let src = workspace().join("examples/llm-chat/main.ai-stack");
    let src = src.to_str().expect("utf-8");
    let precious = d.join("project");
    std::fs::create_dir_all(&precious).expect("mkdir");
    std::fs::write(precious.join("terraform.tfstate"), "{}").expect("write");
    let out = aistack(&["build", src, "-o", precious.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(precious.join("terraform.tfstate").exists(), "the folder is untouched");
    let target = d.join("out");
    let t = target.to_str().expect("utf-8");
    assert_eq!(aistack(&["build", src, "-o", t]).status.code(), Some(0));
    assert!(target.join("manifest.json").exists() && target.join("kubernetes/kustomization.yaml").exists());
    // A second build replaces its own earlier output.
    assert_eq!(aistack(&["build", src, "-o", t]).status.code(), Some(0));
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary folders are left behind");
}
