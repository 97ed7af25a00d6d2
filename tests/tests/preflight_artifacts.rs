//! Artifact preflight: a model folder (three small files and its `MANIFEST.sha256`) in a
//! local folder and in moto's S3 (started on a free loopback port, stopped by PID). A stack
//! whose `digest` matches passes; a missing artifact is E0624 at `path`, a wrong digest E0625
//! at `digest` with the digest found in the help, a tampered file E0626; each checked by line
//! and column. The hash cache makes a second run read nothing. Without moto (the venv
//! `~/.cache/aistack-moto` that `.ci/run` makes), the S3 half is SKIPPED, except under
//! `CI=true`, where it fails.

mod preflight_support;

use aistack_deploy::preflight::{self, Options};
use preflight_support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const FILES: &[(&str, &[u8])] = &[
    ("config.json", b"{\"architectures\": [\"LlamaForCausalLM\"]}\n"),
    ("tokenizer.json", b"{\"version\": \"1.0\"}\n"),
    ("weights/model-00001-of-00001.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      tensor bytes"),
];

/// The manifest `sha256sum` writes for [`FILES`], and the model's digest (its SHA-256).
fn manifest() -> (String, String) {
    let mut sorted: Vec<_> = FILES.to_vec();
    sorted.sort_by_key(|(p, _)| *p);
    let text: String = sorted.iter().map(|(p, b)| format!("{}  ./{p}\n", sha256_hex(b))).collect();
    let digest = format!("sha256:{}", sha256_hex(text.as_bytes()));
    (text, digest)
}

fn stack(bucket: &str, version: &str, digest: &str) -> String {
    format!(
        r#"stack t {{ cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }}

storage models {{
  tier    = warm
  backend = s3
  bucket  = "{bucket}"
}}

model tiny {{
  store      = models
  path       = "acme/tiny-llama"
  version    = "{version}"
  digest     = "{digest}"
  parameters = 1e6
}}
"#
    )
}

fn write_stack(dir: &Scratch, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path(&format!("{name}.ai-stack"));
    std::fs::write(&p, text).expect("write the stack");
    p
}

/// Writes the model folder `acme/tiny-llama/1.0.0/` under `root`.
fn write_model(root: &Path) {
    let v = root.join("acme/tiny-llama/1.0.0");
    for (p, b) in FILES {
        let f = v.join(p);
        std::fs::create_dir_all(f.parent().expect("a parent")).expect("mkdir");
        std::fs::write(f, b).expect("write");
    }
    std::fs::write(v.join("MANIFEST.sha256"), manifest().0).expect("write the manifest");
}

fn artifacts_only(local: Option<(&str, &Path)>, cache: Option<std::path::PathBuf>) -> Options {
    let mut o = Options { images: false, cache, ..Default::default() };
    if let Some((name, dir)) = local {
        o.local_stores.insert(name.to_string(), dir.to_path_buf());
    }
    o
}

/// The three outcomes against one store, `local` mapping the storage to a folder or not.
fn pass_and_fail(dir: &Scratch, bucket: &str, local: Option<&Path>) {
    let (_, digest) = manifest();
    let local = local.map(|p| ("models", p));

    let text = stack(bucket, "1.0.0", &digest);
    let path = write_stack(dir, "ok", &text);
    let a = check_file(&path);
    let cache = preflight::default_cache(&path);
    let r = preflight::run(&a, &artifacts_only(local, Some(cache.clone())));
    assert!(r.diags.is_empty(), "{:?}", r.diags);
    assert_eq!(r.artifacts.len(), 1);
    let v = &r.artifacts[0].verified;
    assert_eq!((v.files, v.digest.as_deref()), (4, Some(digest.as_str())));
    let total: u64 = FILES.iter().map(|(_, b)| b.len() as u64).sum();
    assert_eq!(v.hashed_bytes, total, "every file is read once");
    assert!(cache.is_file(), "the hash cache is written under .aistack/");
    let again = preflight::run(&a, &artifacts_only(local, Some(cache)));
    assert_eq!(again.artifacts[0].verified.hashed_bytes, 0, "unchanged objects are not read again");

    let text = stack(bucket, "2.0.0", &digest);
    let a = check_file(&write_stack(dir, "missing", &text));
    let r = preflight::run(&a, &artifacts_only(local, None));
    assert_eq!(r.diags.len(), 1, "{:?}", r.diags);
    let d = &r.diags[0];
    assert_eq!(d.code, "E0624");
    assert!(d.message.contains("acme/tiny-llama/2.0.0/"), "{}", d.message);
    assert_eq!(place(&a, d), find(&text, "\"acme/tiny-llama\""), "at the model's path");

    let wrong = format!("sha256:{}", "0".repeat(64));
    let text = stack(bucket, "1.0.0", &wrong);
    let a = check_file(&write_stack(dir, "wrong", &text));
    let r = preflight::run(&a, &artifacts_only(local, None));
    assert_eq!(r.diags.len(), 1, "{:?}", r.diags);
    let d = &r.diags[0];
    assert_eq!(d.code, "E0625");
    assert_eq!(place(&a, d), find(&text, &format!("\"{wrong}\"")), "at the model's digest");
    assert!(d.help.as_deref().is_some_and(|h| h.contains(&digest)), "the help names the digest found: {:?}", d.help);
}

#[test]
fn local_folder_store() {
    let dir = Scratch::new("artifacts-local");
    let store = dir.path("store");
    write_model(&store);
    pass_and_fail(&dir, "unused-bucket", Some(&store));

    // A tampered file under a matching manifest: E0626 at the digest.
    let (_, digest) = manifest();
    std::fs::write(store.join("acme/tiny-llama/1.0.0/tokenizer.json"), b"changed").expect("write");
    let text = stack("unused-bucket", "1.0.0", &digest);
    let a = check_file(&write_stack(&dir, "tampered", &text));
    let r = preflight::run(&a, &artifacts_only(Some(("models", &store)), None));
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0626"]);
    assert!(r.diags[0].message.contains("tokenizer.json"), "{}", r.diags[0].message);

    cli_end_to_end(&dir, &store);
}

/// `aistack preflight --store models=DIR --json`: exit 1 and the located E0625.
fn cli_end_to_end(dir: &Scratch, store: &Path) {
    let Some(bin) = aistack_bin() else {
        return missing("the aistack binary (cargo build --release -p aistack-cli)");
    };
    let wrong = format!("sha256:{}", "1".repeat(64));
    let text = stack("unused-bucket", "1.0.0", &wrong);
    let path = write_stack(dir, "cli", &text);
    let out = Command::new(bin)
        .args(["preflight", "--json", "--no-images", "--store"])
        .arg(format!("models={}", store.display()))
        .arg(&path)
        .output()
        .expect("run aistack preflight");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let d = &v["diagnostics"][0];
    let (line, col) = find(&text, &format!("\"{wrong}\""));
    assert_eq!((d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()), (Some("E0625"), Some(line), Some(col)));
    assert_eq!(v["errors"], 1);
}

/// The model folder uploaded to moto object by object (moto accepts unsigned PUTs).
fn upload(port: u16, bucket: &str, root: &Path) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).proxy(None).build().into();
    let base = format!("http://127.0.0.1:{port}/{bucket}");
    agent.put(&base).send_empty().expect("create the bucket");
    let v = root.join("acme/tiny-llama/1.0.0");
    let mut names: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
    names.push("MANIFEST.sha256".into());
    for n in names {
        let body = std::fs::read(v.join(&n)).expect("read");
        agent
            .put(&format!("{base}/acme/tiny-llama/1.0.0/{n}"))
            .header("Content-Type", "application/octet-stream")
            .send(&body[..])
            .expect("upload");
    }
}

#[test]
fn s3_store_on_moto() {
    let venv = std::env::var("AISTACK_MOTO_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/aistack-moto"));
    let moto = venv.join("bin/moto_server");
    if !moto.is_file() {
        return missing("moto_server (the venv ~/.cache/aistack-moto)");
    }
    let port = free_port();
    let mut cmd = Command::new(moto);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let _server = start(cmd, port, "/moto-api/", Duration::from_secs(30));
    // The SDK reads these; this is the only test in this binary that reads AWS settings.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ] {
        std::env::set_var(k, v);
    }
    let dir = Scratch::new("artifacts-s3");
    let src = dir.path("src");
    write_model(&src);
    upload(port, "acme-models", &src);
    pass_and_fail(&dir, "acme-models", None);

    // A bucket that does not exist: E0627 at the path.
    let text = stack("no-such-bucket", "1.0.0", &manifest().1);
    let a = check_file(&write_stack(&dir, "nobucket", &text));
    let r = preflight::run(&a, &artifacts_only(None, None));
    assert_eq!(r.diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0627"], "{:?}", r.diags);
    assert_eq!(place(&a, &r.diags[0]), find(&text, "\"acme/tiny-llama\""));
}
