//! Image preflight against a real registry on loopback: Debian's `docker-registry` (started on
//! a free port with a config and storage of its own under `$HOME`, stopped by PID) and a test
//! image pushed with `skopeo copy` from an OCI layout `tests/registry/make_oci.py` writes (one
//! layer, a config, a manifest; no network). The tag resolves to the digest `skopeo inspect`
//! reports; after another image is pushed to the same tag the resolved digest changes; a
//! missing tag is E0621 at the image string. Without docker-registry or skopeo the test is
//! SKIPPED, except under `CI=true`, where it fails (`.ci/run` installs both).

mod preflight_support;

use aistack_deploy::preflight::{self, registry, uses, Options, Report};
use preflight_support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

fn registry_server(dir: &Scratch) -> Server {
    let port = free_port();
    let config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.path("storage").display()
    );
    let cfg = dir.path("config.yml");
    std::fs::write(&cfg, config).expect("write the registry config");
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(&cfg);
    start(cmd, port, "/v2/", Duration::from_secs(30))
}

/// Builds an OCI layout holding `text` and pushes it to `dest` (`127.0.0.1:PORT/repo:tag`).
fn push(dir: &Scratch, text: &str, dest: &str) {
    let layout = dir.path(&format!("oci-{text}"));
    let script = workspace_file("tests/registry/make_oci.py");
    let ok = Command::new("python3").arg(script).arg(&layout).arg(text).status().expect("run make_oci.py");
    assert!(ok.success(), "make_oci.py failed");
    let out = Command::new("timeout")
        .args(["120", "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("run skopeo copy");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
}

/// The digest `skopeo inspect` reports for `image`.
fn skopeo_digest(image: &str) -> String {
    let out = Command::new("timeout")
        .args(["60", "skopeo", "inspect", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .output()
        .expect("run skopeo inspect");
    assert!(out.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("skopeo's JSON");
    v["Digest"].as_str().expect("a Digest").to_string()
}

fn workspace_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn stack(image: &str) -> String {
    format!(
        r#"stack t {{ cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }}

gpu_pool l4 {{
  gpu           = L4
  gpus_per_node = 1
  nodes         = 0..2
}}

pipeline nightly {{
  kind  = batch
  image = "{image}"
  pool  = l4
}}
"#
    )
}

fn images_only(dir: &Scratch, name: &str, image: &str) -> (aistack::check::Analysis, Report, String) {
    let text = stack(image);
    let path = dir.path(&format!("{name}.ai-stack"));
    std::fs::write(&path, &text).expect("write the stack");
    let a = check_file(&path);
    let opts = Options { artifacts: false, timeout: Duration::from_secs(10), ..Default::default() };
    let r = preflight::run(&a, &opts);
    (a, r, text)
}

#[test]
fn tags_resolve_to_the_registrys_digest() {
    if !have("docker-registry") || !have("skopeo") {
        return missing("docker-registry or skopeo (apt-get install docker-registry skopeo)");
    }
    let dir = Scratch::new("registry");
    let server = registry_server(&dir);
    let repo = format!("127.0.0.1:{}/aistack/preflight-test", server.port);
    let tagged = format!("{repo}:v1");

    push(&dir, "one", &tagged);
    let first = skopeo_digest(&tagged);
    let (_, r, _) = images_only(&dir, "first", &tagged);
    assert!(r.diags.is_empty(), "{:?}", r.diags);
    assert_eq!(r.images.len(), 1);
    assert_eq!(r.images[0].declaration, "pipeline.nightly");
    assert_eq!(r.images[0].digest, first, "the digest skopeo reports");
    assert_eq!(r.images[0].pinned, format!("{repo}@{first}"));

    push(&dir, "two", &tagged);
    let second = skopeo_digest(&tagged);
    assert_ne!(first, second, "a different image");
    let (_, r, _) = images_only(&dir, "moved", &tagged);
    assert_eq!(r.images.first().map(|i| i.digest.as_str()), Some(second.as_str()), "the moved tag: {:?}", r.diags);

    // By digest: the registry still serves the first manifest.
    let (_, r, _) = images_only(&dir, "digest", &format!("{repo}@{first}"));
    assert_eq!(r.images.first().map(|i| i.digest.as_str()), Some(first.as_str()), "{:?}", r.diags);

    let missing_tag = format!("{repo}:v404");
    let (a, r, text) = images_only(&dir, "missing", &missing_tag);
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0621"], "{:?}", r.diags);
    assert!(r.diags[0].message.contains("MANIFEST_UNKNOWN"), "{}", r.diags[0].message);
    assert_eq!(place(&a, &r.diags[0]), find(&text, &format!("\"{missing_tag}\"")), "at the image string");

    let (_, r, _) = images_only(&dir, "norepo", &format!("127.0.0.1:{}/nothing/here:v1", server.port));
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0621"], "{:?}", r.diags);

    drop(server);
    // Stopped: unreachable, quickly.
    let started = std::time::Instant::now();
    let (_, r, _) = images_only(&dir, "stopped", &tagged);
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0623"], "{:?}", r.diags);
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn malformed_references_are_located_without_asking_a_registry() {
    let dir = Scratch::new("registry-bad");
    let (a, r, text) = images_only(&dir, "bad", "127.0.0.1:1/Upper/Case:v1");
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0620"], "{:?}", r.diags);
    assert!(r.diags[0].message.contains("must be lowercase"), "{}", r.diags[0].message);
    assert_eq!(place(&a, &r.diags[0]), find(&text, "\"127.0.0.1:1/Upper/Case:v1\""));
}

#[test]
fn a_service_without_image_runs_its_engines_default() {
    let dir = Scratch::new("registry-default");
    let text = r#"stack t { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }
storage models { tier = warm, backend = s3, bucket = "acme-models" }
model m { store = models, path = "m", version = "1", parameters = 1e9, context_length = 2048 }
gpu_pool l4 { gpu = L4, gpus_per_node = 1, nodes = 1..2 }
service chat { model = m, pool = l4, replicas = 1..2 }
pipeline tune { kind = batch, image = "ghcr.io/acme/tuner:1", pool = l4 }
"#;
    let path = dir.path("main.ai-stack");
    std::fs::write(&path, text).expect("write");
    let a = check_file(&path);
    let found = uses::images(&a);
    let got: Vec<_> =
        found.iter().map(|u| (u.declaration.as_str(), u.image.as_str(), u.default_for.is_some())).collect();
    assert_eq!(
        got,
        [
            ("service.chat", "docker.io/vllm/vllm-openai:v0.33.0", true),
            ("pipeline.tune", "ghcr.io/acme/tuner:1", false)
        ]
    );
    assert!(registry::is_loopback("127.0.0.1:5000") && !registry::is_loopback("ghcr.io"));
}

fn binary() -> std::path::PathBuf {
    aistack_tests::aistack_binary()
}

fn aistack(args: &[&str]) -> std::process::Output {
    Command::new(binary()).args(args).stdin(std::process::Stdio::null()).output().expect("run aistack")
}

/// Every file of a release folder, concatenated (to look for a pinned reference).
fn release_text(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("release").flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn plan_pins_the_digest_and_a_moved_tag_is_a_change() {
    if !have("docker-registry") || !have("skopeo") {
        return missing("docker-registry or skopeo (apt-get install docker-registry skopeo)");
    }
    let dir = Scratch::new("registry-plan");
    let server = registry_server(&dir);
    let repo = format!("127.0.0.1:{}/aistack/plan-test", server.port);
    let tagged = format!("{repo}:v1");
    push(&dir, "one", &tagged);
    let first = skopeo_digest(&tagged);
    let file = dir.path("main.ai-stack");
    std::fs::write(&file, stack(&tagged)).expect("stack");
    let f = file.to_str().expect("utf-8 path");

    let applied = aistack(&["apply", f, "--preflight"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let release = release_text(&dir.path(".aistack/releases/1/kubernetes"));
    assert!(release.contains(&format!("{repo}@{first}")), "the release runs the pinned image");
    assert!(!release.contains(&tagged), "and not the tag");
    let clean = aistack(&["plan", f, "--preflight", "--detailed-exitcode"]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stdout));

    push(&dir, "two", &tagged);
    let second = skopeo_digest(&tagged);
    let saved = dir.path("moved.json");
    let moved =
        aistack(&["plan", f, "--preflight", "--detailed-exitcode", "--json", "--out", saved.to_str().expect("path")]);
    assert_eq!(moved.status.code(), Some(2), "a moved tag is a change: {}", String::from_utf8_lossy(&moved.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&moved.stdout).expect("plan JSON");
    assert_eq!(plan["images"][0]["digest"], second.as_str());
    assert_eq!(plan["images"][0]["written"], tagged.as_str());
    let attrs: Vec<&serde_json::Value> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        // A Job's pod template is immutable: the moved image replaces the Job.
        .filter(|c| c["action"] == "replace" || c["action"] == "update")
        .flat_map(|c| c["attrs"].as_array().into_iter().flatten())
        .collect();
    assert!(
        attrs.iter().any(|a| a["before"].as_str().is_some_and(|b| b.ends_with(&first))
            && a["after"].as_str().is_some_and(|x| x.ends_with(&second))),
        "the image attribute goes from the first digest to the second: {attrs:?}"
    );

    // The tag moves again before the saved plan is applied: refused, nothing written.
    push(&dir, "three", &tagged);
    let state_before = std::fs::read(dir.path(".aistack/state.json")).expect("state");
    let stale = aistack(&["apply", saved.to_str().expect("path")]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("E0640"), "{}", String::from_utf8_lossy(&stale.stderr));
    assert_eq!(std::fs::read(dir.path(".aistack/state.json")).expect("state"), state_before);
    drop(server);
}
