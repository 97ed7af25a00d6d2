//! `aistack rollback` through the binary on the built-in default: after applying model version
//! v1 then v2, rolling back returns the rendered workload and serving config to v1's bytes in a
//! new release, records a new revision with v1's model version and digest in the state's
//! history, and leaves the stack ahead of the state (the next plan shows the service's
//! updates); a revision that does not exist is a clear E0643 that changes nothing.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const STACK: &str = r#"stack hello {
  cloud     = aws
  region    = "us-east-1"
  cluster   = "ml-dev"
  namespace = "hello"
}

storage models {
  tier       = warm
  backend    = s3
  bucket     = "acme-models"
  versioned  = true
  encryption = kms
}

model llama3_8b {
  store          = models
  path           = "llama-3.1-8b-instruct"
  version        = "VERSION"
  digest         = "sha256:DIGEST"
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
  replicas  = 1..4
  max_batch = 24
}
"#;

fn binary() -> PathBuf {
    aistack_tests::aistack_binary()
}

fn scratch(name: &str) -> PathBuf {
    aistack_tests::target_scratch("rollback-tests", name)
}

fn write_stack(dir: &Path, version: &str, digest_byte: char) -> PathBuf {
    let file = dir.join("main.ai-stack");
    let digest: String = std::iter::repeat_n(digest_byte, 64).collect();
    std::fs::write(&file, STACK.replace("VERSION", version).replace("DIGEST", &digest)).expect("stack");
    file
}

fn aistack(args: &[&str]) -> Output {
    Command::new(binary()).args(args).stdin(Stdio::null()).output().expect("run aistack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file of a release under `kubernetes/` and `serving/`, by relative path.
fn workload_files(release: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["kubernetes", "serving"] {
        let mut stack = vec![release.join(sub)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("release folder").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(release).expect("inside").to_string_lossy().into_owned();
                    out.insert(rel, std::fs::read(&p).expect("file"));
                }
            }
        }
    }
    out
}

#[test]
fn rollback_returns_the_previous_model_in_the_workload_and_the_history() {
    let dir = scratch("back");
    let file = write_stack(&dir, "v1", 'a');
    let f = file.to_str().expect("path");
    assert!(aistack(&["apply", f]).status.success());
    write_stack(&dir, "v2", 'b');
    let second = aistack(&["apply", f]);
    assert!(second.status.success(), "{}", text(&second.stderr));

    let releases = dir.join(".aistack/releases");
    let (r1, r2) = (workload_files(&releases.join("1")), workload_files(&releases.join("2")));
    let changed: Vec<&String> = r1.keys().filter(|k| r1.get(*k) != r2.get(*k)).collect();
    assert!(!changed.is_empty(), "v1 and v2 render the same workload");
    assert!(r2.values().any(|b| text(b).contains("v2")), "v2 appears in the rendered workload");

    let back = aistack(&["rollback", "chat", f]);
    assert!(back.status.success(), "{}{}", text(&back.stdout), text(&back.stderr));
    assert!(text(&back.stdout).contains("back to revision 1"), "{}", text(&back.stdout));
    let r3 = workload_files(&releases.join("3"));
    for k in &changed {
        assert_eq!(r3.get(*k), r1.get(*k), "{k} is v1's again");
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".aistack/state.json")).expect("state")).expect("json");
    let revs = state["services"]["service.chat"]["revisions"].as_array().expect("history");
    let versions: Vec<&str> = revs.iter().map(|r| r["model"]["version"].as_str().unwrap_or_default()).collect();
    assert_eq!(versions, vec!["v1", "v2", "v1"]);
    let last = revs.last().expect("revision");
    assert_eq!(last["n"], 3);
    assert_eq!(last["release"], 3);
    assert_eq!(last["model"]["digest"], revs[0]["model"]["digest"]);
    assert_eq!(last["config_hash"], revs[0]["config_hash"]);

    // The stack still says v2: the next plan shows the service's resources as changes.
    let plan = aistack(&["plan", f, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stdout));
    assert!(text(&plan.stdout).contains("service.chat"), "{}", text(&plan.stdout));

    // Forward again, to revision 2.
    let fwd = aistack(&["rollback", "service.chat", f, "--to", "2"]);
    assert!(fwd.status.success(), "{}", text(&fwd.stderr));
    let r4 = workload_files(&releases.join("4"));
    for k in &changed {
        assert_eq!(r4.get(*k), r2.get(*k), "{k} is v2's again");
    }
    let clean = aistack(&["plan", f, "--detailed-exitcode"]);
    assert_eq!(clean.status.code(), Some(0), "back at what the stack says: {}", text(&clean.stdout));
}

#[test]
fn a_revision_that_does_not_exist_changes_nothing() {
    let dir = scratch("missing");
    let file = write_stack(&dir, "v1", 'a');
    let f = file.to_str().expect("path");
    let none = aistack(&["rollback", "chat", f]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("E0643"), "{}", text(&none.stderr));
    assert!(aistack(&["apply", f]).status.success());
    let before = std::fs::read(dir.join(".aistack/state.json")).expect("state");
    for args in [vec!["rollback", "chat", f], vec!["rollback", "chat", f, "--to", "9"], vec!["rollback", "nope", f]] {
        let out = aistack(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains("E0643"), "{args:?}: {}", text(&out.stderr));
    }
    assert_eq!(std::fs::read(dir.join(".aistack/state.json")).expect("state"), before);
    assert!(!dir.join(".aistack/releases/2").exists());
}
