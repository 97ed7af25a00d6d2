//! `aistack plan` and `aistack apply PLAN` through the binary, on the built-in default (local
//! state, releases on disk): the plan against no state creates every desired resource; after
//! apply the next plan is clean (`--detailed-exitcode` 0); an edit shows as an update with
//! the attribute path and the declaration's line, a renamed bucket as a replacement forced by
//! `bucket`, a removed declaration as deletes; a saved plan is applied only while fresh — a
//! stale plan, a plan from another lineage and a plan of a since-edited stack are refused
//! with no mutating call (state bytes, lock file and releases untouched); secret values never
//! reach a plan.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "hf_SECRETVALUE_do_not_print_0123456789";

const STACK: &str = r#"stack hello {
  cloud     = aws
  region    = "us-east-1"
  cluster   = "ml-dev"
  namespace = "hello"
}

param hf_token: secret

storage models {
  tier       = warm
  backend    = s3
  bucket     = "BUCKET"
  versioned  = true
  encryption = kms
}

model llama3_8b {
  store          = models
  path           = "llama-3.1-8b-instruct"
  version        = "v1"
  digest         = "sha256:7f0c3a4e5d6b8a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c"
  parameters     = 8.03e9
  context_length = 8192
}

gpu_pool l40s {
  gpu           = L40S
  gpus_per_node = 1
  nodes         = 0..4
}

service chat {
  model     = llama3_8b
  pool      = l40s
  replicas  = REPLICAS..4
  max_batch = 24
  env = { HF_TOKEN = hf_token }
}
"#;

fn binary() -> PathBuf {
    aistack_tests::aistack_binary()
}

fn scratch(name: &str) -> PathBuf {
    aistack_tests::target_scratch("plan-tests", name)
}

fn write_stack(dir: &Path, bucket: &str, replicas: u32) -> PathBuf {
    let file = dir.join("main.ai-stack");
    let text = STACK.replace("BUCKET", bucket).replace("REPLICAS", &replicas.to_string());
    std::fs::write(&file, text).expect("stack");
    file
}

/// Runs the binary with the secret's value in the environment, where a deploy would have it
/// (`--param` refuses secrets).
fn aistack(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("HF_TOKEN", SECRET)
        .env("hf_token", SECRET)
        .stdin(Stdio::null())
        .output()
        .expect("run aistack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn plan_json(file: &Path, extra: &[&str]) -> (Value, Output) {
    let f = file.to_str().expect("utf-8 path");
    let mut args = vec!["plan", f, "--json"];
    args.extend(extra);
    let out = aistack(&args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json does not parse: {e}\n{}\n{}", text(&out.stdout), text(&out.stderr)));
    (v, out)
}

fn changes<'a>(plan: &'a Value, action: &str) -> Vec<&'a Value> {
    plan["changes"].as_array().expect("changes").iter().filter(|c| c["action"] == action).collect()
}

fn addresses(cs: &[&Value]) -> Vec<String> {
    cs.iter().map(|c| c["address"].as_str().unwrap_or_default().to_string()).collect()
}

/// Everything that apply could have mutated: the state and its backup, whether a lock exists,
/// the release folders.
#[derive(Debug, PartialEq)]
struct Mutable(Option<Vec<u8>>, Option<Vec<u8>>, bool, Vec<String>);

fn snapshot(dir: &Path) -> Mutable {
    let st = dir.join(".aistack");
    let mut releases: Vec<String> = std::fs::read_dir(st.join("releases"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    releases.sort();
    Mutable(
        std::fs::read(st.join("state.json")).ok(),
        std::fs::read(st.join("state.json.backup")).ok(),
        st.join("state.json.lock").exists() || st.join("state.lock").exists(),
        releases,
    )
}

#[test]
fn plan_apply_plan_is_clean_and_edits_show_by_attribute() {
    let dir = scratch("cycle");
    let file = write_stack(&dir, "acme-models", 1);
    let f = file.to_str().expect("path");

    let (first, out) = plan_json(&file, &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "changes exit 2: {}", text(&out.stderr));
    assert_eq!(first["format_version"], 1);
    assert_eq!(first["lineage"], Value::Null, "no state yet");
    assert_eq!(first["serial"], 0);
    let created = changes(&first, "create");
    assert_eq!(created.len(), first["changes"].as_array().map_or(0, Vec::len), "only creates");
    assert_eq!(first["summary"]["create"].as_u64(), Some(created.len() as u64));
    let addrs = addresses(&created);
    for want in ["storage.models/bucket", "storage.models/bucket_versioning", "service.chat/deployment"] {
        assert!(addrs.iter().any(|a| a == want), "{want} missing from {addrs:?}");
    }
    let rollout = created.iter().find(|c| c["address"] == "service.chat/deployment").expect("rollout");
    assert_eq!(rollout["origin"]["decl"], "service.chat");
    assert_eq!(rollout["origin"]["line"], 33, "the line of `service chat`");
    assert_eq!(rollout["type"], "apps/v1 Deployment");

    let applied = aistack(&["apply", f]);
    assert!(applied.status.success(), "apply: {}", text(&applied.stderr));
    let clean = aistack(&["plan", f, "--detailed-exitcode"]);
    assert_eq!(clean.status.code(), Some(0), "{}{}", text(&clean.stdout), text(&clean.stderr));
    assert!(text(&clean.stdout).contains("No changes"), "{}", text(&clean.stdout));

    // Two replicas at least, and another bucket name.
    write_stack(&dir, "acme-models-2", 2);
    let (edited, out) = plan_json(&file, &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(edited["serial"], 1);
    let updates = changes(&edited, "update");
    let rollout = updates.iter().find(|c| c["address"] == "service.chat/deployment").expect("rollout updated");
    let replicas = rollout["attrs"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["path"] == "spec.replicas"))
        .expect("spec.replicas in the diff");
    assert_eq!((replicas["before"].as_i64(), replicas["after"].as_i64()), (Some(1), Some(2)));
    let replaced = changes(&edited, "replace");
    assert_eq!(addresses(&replaced), vec!["storage.models/bucket"], "only the bucket is replaced");
    assert_eq!(replaced[0]["forced_by"], serde_json::json!(["bucket"]));

    // The human form: summary first, then by declaration with the line.
    let human = aistack(&["plan", f, "--diff"]);
    let h = text(&human.stdout);
    let summary = h.lines().nth(1).unwrap_or_default();
    assert!(summary.starts_with("0 to create, ") && summary.contains("1 to replace"), "{h}");
    assert!(h.contains("service.chat  (main.ai-stack:33)"), "{h}");
    assert!(h.contains("-/+ storage.models/bucket") && h.contains("(forces replacement: bucket)"), "{h}");
    assert!(h.contains("spec.replicas: 1 -> 2"), "{h}");

    // Without the service, its resources are deleted.
    let no_service = std::fs::read_to_string(&file).expect("stack");
    let cut = no_service.find("service chat").expect("service");
    std::fs::write(&file, &no_service[..cut]).expect("stack");
    let (gone, _) = plan_json(&file, &[]);
    let deleted = addresses(&changes(&gone, "delete"));
    assert!(deleted.iter().any(|a| a == "service.chat/deployment"), "{deleted:?}");
    assert!(deleted.iter().all(|a| !a.starts_with("storage.") && !a.starts_with("gpu_pool.")), "{deleted:?}");
    // The secret's plumbing goes with its only user.
    assert!(deleted.iter().any(|a| a == "stack/secretsmanager_secret.hf_token"), "{deleted:?}");
}

#[test]
fn a_fresh_saved_plan_applies_and_a_stale_one_changes_nothing() {
    let dir = scratch("stale");
    let file = write_stack(&dir, "acme-models", 1);
    let f = file.to_str().expect("path");
    let p1 = dir.join("p1.json");
    let p1s = p1.to_str().expect("path");

    let saved = aistack(&["plan", f, "--out", p1s]);
    assert!(saved.status.success(), "{}", text(&saved.stderr));
    let ok = aistack(&["apply", p1s]);
    assert!(ok.status.success(), "a fresh plan applies: {}", text(&ok.stderr));
    assert_eq!(snapshot(&dir).3, vec!["1"]);

    // p1 was made at serial 0; the state is at 1 now.
    let before = snapshot(&dir);
    let stale = aistack(&["apply", p1s]);
    assert_eq!(stale.status.code(), Some(1));
    let err = text(&stale.stderr);
    assert!(err.contains("E0640") && err.contains("serial 0") && err.contains("serial 1"), "{err}");
    assert_eq!(snapshot(&dir), before, "a stale plan mutates nothing");

    // A plan made now, then the stack edited: refused as stale too.
    let p2 = dir.join("p2.json");
    let p2s = p2.to_str().expect("path");
    assert!(aistack(&["plan", f, "--out", p2s]).status.success());
    write_stack(&dir, "acme-models", 2);
    let before = snapshot(&dir);
    let edited = aistack(&["apply", p2s]);
    assert_eq!(edited.status.code(), Some(1));
    assert!(text(&edited.stderr).contains("the stack changed since it was made"), "{}", text(&edited.stderr));
    assert_eq!(snapshot(&dir), before);

    // Another state (another lineage): refused before any call.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("folder");
    let other_state = other.join("state.json");
    let os = other_state.to_str().expect("path");
    assert!(aistack(&["apply", f, "--state", os]).status.success());
    let p3 = dir.join("p3.json");
    let p3s = p3.to_str().expect("path");
    assert!(aistack(&["plan", f, "--out", p3s]).status.success());
    let other_before = std::fs::read(&other_state).expect("other state");
    let foreign = aistack(&["apply", p3s, "--state", os]);
    assert_eq!(foreign.status.code(), Some(1));
    assert!(text(&foreign.stderr).contains("E0641"), "{}", text(&foreign.stderr));
    assert_eq!(std::fs::read(&other_state).expect("other state"), other_before);
    assert!(!other.join("state.json.lock").exists() && !other.join("state.lock").exists());

    // Not a plan at all.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{}").expect("junk");
    let bad = aistack(&["apply", junk.to_str().expect("path")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("E0642"), "{}", text(&bad.stderr));
}

#[test]
fn secret_values_never_reach_a_plan() {
    let dir = scratch("secret");
    let file = write_stack(&dir, "acme-models", 1);
    let f = file.to_str().expect("path");
    let p = dir.join("plan.json");
    let out = aistack(&["plan", f, "--diff", "--out", p.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = std::fs::read_to_string(&p).expect("plan");
    for (what, t) in [("stdout", text(&out.stdout)), ("stderr", text(&out.stderr)), ("saved plan", saved)] {
        assert!(!t.contains(SECRET), "the secret's value is in the {what}");
    }
    assert!(aistack(&["apply", f]).status.success());
    let state = std::fs::read_to_string(dir.join(".aistack/state.json")).expect("state");
    assert!(!state.contains(SECRET), "the secret's value is in the state");
}
