//! Engine settings follow the model and models are pinned end to end (issue 6, points 8, 9
//! and 11): the checker's vLLM argument table matches vLLM 0.33.0's own list; a change of
//! `version`, `digest`, `max_batch` or an engine argument changes the pod template (so it is a
//! rollout, and a rollback restores the previous weights and config); the served path and the
//! digest check follow the version; fp8 models get an fp8 KV cache and no forced
//! quantization; ONNX models get Triton's onnxruntime backend; embedding models vLLM's pooling
//! runner; multi-GPU pods and jobs a sized `/dev/shm`; public services an ALB idle timeout.

use aistack::check::engine_args::{lookup, ArgKind, VLLM_ARGS};
use aistack_tests::{build_text, shared_dir, yaml_docs};
use serde_json::Value;

fn stack(model: &str, service: &str) -> String {
    format!(
        r#"stack s {{ cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }}
storage m {{ tier = warm, backend = s3, bucket = "b-models", versioned = true }}
model small {{
  store      = m
  path       = "org/small"
  parameters = 1e9
  {model}
}}
gpu_pool l4 {{ gpu = L4, gpus_per_node = 4, nodes = 1..2 }}
service chat {{
  model = small
  pool  = l4
  {service}
}}
"#
    )
}

const PINNED: &str =
    "version = \"1.0\"\n  digest = \"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"";

fn file(out: &[aistack::emit::Artifact], path: &str) -> String {
    let a = out.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no {path}"));
    String::from_utf8_lossy(&a.bytes).into_owned()
}

fn doc(out: &[aistack::emit::Artifact], path: &str) -> Value {
    yaml_docs(&file(out, path)).remove(0)
}

fn template(model: &str, service: &str) -> Value {
    let out = build_text(&[("main.ai-stack", &stack(model, service))]);
    doc(&out, "kubernetes/deployment-chat.yaml")["spec"]["template"].clone()
}

fn init_env(t: &Value, name: &str) -> Option<String> {
    t["spec"]["initContainers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

#[test]
fn the_argument_table_is_vllms_own_list() {
    let Some(dir) = shared_dir().map(|d| d.join("schemas/vllm")) else {
        println!("SKIPPED: ../shared/schemas/vllm is not beside this checkout");
        return;
    };
    let mut n = 0;
    for (file, field) in [
        ("vllm-engine-args-v0.33.0.json", "engine_args"),
        ("vllm-serve-frontend-args-v0.33.0.json", "serve_frontend_args"),
    ] {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect("read")).expect("JSON");
        for a in v[field].as_array().expect("args") {
            // Positional arguments (`model_tag`) are no config-file keys.
            let Some(flag) = a["flag"].as_str().and_then(|f| f.strip_prefix("--")) else { continue };
            let (kind, choices) = lookup(flag).unwrap_or_else(|| panic!("--{flag} is missing from the table"));
            // argparse choices as Python prints them (`None` for null).
            let want: Vec<String> = a["choices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    Value::Null => "None".into(),
                    other => other.to_string(),
                })
                .collect();
            assert_eq!(choices, want.as_slice(), "--{flag}: choices");
            let ty = a["type"].as_str().unwrap_or("");
            let inner = ty.strip_prefix("optional[").and_then(|t| t.strip_suffix(']')).unwrap_or(ty);
            let expect = match inner {
                "bool" => ArgKind::Bool,
                "int" => ArgKind::Int,
                "float" => ArgKind::Float,
                t if t.starts_with("int(human") => ArgKind::Size,
                t if t.starts_with("list[") => ArgKind::List,
                t if t.starts_with("json") || t == "str|json" => ArgKind::Json,
                _ => ArgKind::Str,
            };
            assert_eq!(kind, expect, "--{flag}: type {ty}");
            n += 1;
        }
    }
    assert_eq!(n, VLLM_ARGS.len(), "the table has arguments vLLM 0.33.0 does not");
}

#[test]
fn each_pinned_change_is_a_rollout() {
    let base = template(PINNED, "max_batch = 64\n  engine_args = { enable_prefix_caching = true }");
    let changes = [
        (
            "version",
            template(&PINNED.replace("1.0", "1.1"), "max_batch = 64\n  engine_args = { enable_prefix_caching = true }"),
        ),
        (
            "digest",
            template(
                &PINNED.replace("0011", "ffff"),
                "max_batch = 64\n  engine_args = { enable_prefix_caching = true }",
            ),
        ),
        ("max_batch", template(PINNED, "max_batch = 32\n  engine_args = { enable_prefix_caching = true }")),
        ("an engine argument", template(PINNED, "max_batch = 64\n  engine_args = { enable_prefix_caching = false }")),
    ];
    for (what, t) in &changes {
        assert_ne!(&base, t, "changing {what} leaves the pod template as it was: no rollout");
    }
    let hash = |t: &Value| t["metadata"]["annotations"]["aistack.dev/config-hash"].as_str().map(str::to_string);
    assert!(hash(&base).is_some_and(|h| h.starts_with("sha256:") && h.len() == 71), "{base}");
    assert_ne!(hash(&base), hash(&changes[2].1), "max_batch changes the config hash");
    assert_ne!(hash(&base), hash(&changes[3].1), "an engine argument changes the config hash");
    // The same inputs give the same template: a rollback restores it exactly.
    assert_eq!(base, template(PINNED, "max_batch = 64\n  engine_args = { enable_prefix_caching = true }"));
}

#[test]
fn the_served_path_and_the_digest_check_follow_the_version() {
    for v in ["1.0", "2.3.4"] {
        let model = PINNED.replace("1.0", v);
        let out = build_text(&[("main.ai-stack", &stack(&model, ""))]);
        let uri = format!("s3://b-models/org/small/{v}/");
        assert_eq!(doc(&out, "serving/chat/vllm.yaml")["model"], Value::from(uri.clone()));
        let t = &doc(&out, "kubernetes/deployment-chat.yaml")["spec"]["template"];
        assert_eq!(t["spec"]["initContainers"][0]["name"], "verify-model");
        assert_eq!(init_env(t, "MODEL_URI").as_deref(), Some(uri.as_str()));
        let digest = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(init_env(t, "MODEL_DIGEST").as_deref(), Some(digest));
        let script = t["spec"]["initContainers"][0]["command"][2].as_str().unwrap_or("");
        assert!(script.contains("MANIFEST.sha256") && script.contains("exit 1"), "{script}");
        // The role may read every version (a rollback needs the previous one), nothing else.
        let tf = file(&out, "terraform/identity_chat.tf");
        assert!(tf.contains("\"org/small\""), "{tf}");
    }
    // Without a digest there is nothing to check against.
    let t = template("version = \"1.0\"", "");
    assert!(t["spec"]["initContainers"].is_null(), "{t}");
}

#[test]
fn fp8_models_get_an_fp8_kv_cache_and_keep_their_own_quantization() {
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"\n  precision = fp8", ""))]);
    let v = doc(&out, "serving/chat/vllm.yaml");
    assert_eq!(v["kv-cache-dtype"], "fp8");
    assert!(v.get("quantization").is_none(), "a quantized checkpoint carries its scheme: {v}");
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"", ""))]);
    let v = doc(&out, "serving/chat/vllm.yaml");
    assert!(v.get("kv-cache-dtype").is_none() && v.get("quantization").is_none(), "{v}");
}

#[test]
fn embedding_models_run_the_pooling_runner() {
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"\n  task = embed", ""))]);
    assert_eq!(doc(&out, "serving/chat/vllm.yaml")["runner"], "pooling");
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"", ""))]);
    assert!(doc(&out, "serving/chat/vllm.yaml").get("runner").is_none());
}

#[test]
fn onnx_models_run_on_tritons_onnxruntime_backend() {
    let out = build_text(&[("main.ai-stack", &stack(&format!("{PINNED}\n  format = onnx"), "engine = triton"))]);
    let cfg = file(&out, "serving/chat/model_repository/small/config.pbtxt");
    assert!(cfg.contains("backend: \"onnxruntime\"") && cfg.contains("kind: KIND_GPU"), "{cfg}");
    assert!(!out.iter().any(|a| a.path.ends_with("model.json")), "no vLLM backend file for ONNX");
    let t = &doc(&out, "kubernetes/deployment-chat.yaml")["spec"]["template"];
    assert_eq!(t["spec"]["initContainers"][0]["name"], "fetch-model");
    let args = t["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--model-repository=/models"), "{args}");
}

#[test]
fn multi_gpu_pods_and_jobs_get_a_sized_dev_shm() {
    let t = template("version = \"1\"", "tensor_parallel = 4");
    let shm = t["spec"]["volumes"].as_array().expect("volumes").iter().find(|v| v["name"] == "shm").cloned();
    let shm = shm.expect("a shm volume");
    assert_eq!(shm["emptyDir"]["medium"], "Memory");
    assert_eq!(shm["emptyDir"]["sizeLimit"], "32Gi");
    let t = template("version = \"1\"", "tensor_parallel = 1");
    assert!(!t["spec"]["volumes"].to_string().contains("\"shm\""));
    let job = |gpus: u32| {
        let text = format!(
            "{}\npipeline tune {{ kind = fine_tune, image = \"i\", pool = l4, base = small, gpus = {gpus} }}\n",
            stack("version = \"1\"", "")
        );
        let out = build_text(&[("main.ai-stack", &text)]);
        let job =
            out.iter().find(|a| a.path.contains("job-tune")).map(|a| String::from_utf8_lossy(&a.bytes).into_owned());
        job.unwrap_or_else(|| panic!("no job: {:?}", out.iter().map(|a| &a.path).collect::<Vec<_>>()))
    };
    assert!(job(4).contains("/dev/shm"), "a 4-GPU job gets /dev/shm");
    assert!(!job(1).contains("/dev/shm"), "a 1-GPU job needs none");
}

#[test]
fn public_services_get_an_ingress_with_the_request_timeout_as_idle_timeout() {
    let with_host = "expose = public\n  hostname = \"chat.example.com\"\n  request_timeout = 10m";
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"", with_host))]);
    let i = doc(&out, "kubernetes/ingress-chat.yaml");
    let ann = &i["metadata"]["annotations"];
    assert_eq!(ann["alb.ingress.kubernetes.io/load-balancer-attributes"], "idle_timeout.timeout_seconds=600");
    assert_eq!(ann["alb.ingress.kubernetes.io/listen-ports"], "[{\"HTTPS\":443}]");
    assert_eq!(i["spec"]["rules"][0]["host"], "chat.example.com");
    // Without a hostname: the documented default, plain HTTP on the ALB's own DNS name.
    let out = build_text(&[("main.ai-stack", &stack("version = \"1\"", "expose = public"))]);
    let i = doc(&out, "kubernetes/ingress-chat.yaml");
    assert_eq!(i["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"], "[{\"HTTP\":80}]");
    assert!(i["spec"]["rules"][0]["host"].is_null() && i["spec"]["tls"].is_null(), "{i}");
    assert_eq!(
        i["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"],
        "idle_timeout.timeout_seconds=300"
    );
}

/// Runs the emitted `verify-model` script against a local stand-in for S3 (a stub `aws` on
/// PATH that serves `$FAKE_S3/<bucket>/<key>`), returning its exit code and stderr.
fn run_verify(script: &str, root: &std::path::Path, digest: &str) -> (i32, String) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let stub = "#!/bin/sh\nif [ \"$1\" = s3 ]; then\n  p=\"$FAKE_S3/${4#s3://}\"\n  [ -f \"$p\" ] || exit 1\n  if [ \"$5\" = - ]; then cat \"$p\"; else cp \"$p\" \"$5\"; fi\nelse\n  (cd \"$FAKE_S3/$4\" && find \"$6\" -type f | sort) | tr '\\n' '\\t'; echo\nfi\n";
    let aws = bin.join("aws");
    std::fs::write(&aws, stub).expect("stub");
    std::process::Command::new("chmod").arg("+x").arg(&aws).status().expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("FAKE_S3", root.join("s3"))
        .env("MODEL_URI", "s3://b-models/org/small/1.0/")
        .env("MODEL_DIGEST", digest)
        .output()
        .expect("sh");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// SHA-256 in hex, by `sha256sum` (the tool the docs tell users to run).
fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().expect("stdin").write_all(bytes).expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

#[test]
fn the_verify_step_passes_the_pinned_artifact_and_fails_any_other() {
    let out = build_text(&[("main.ai-stack", &stack(PINNED, ""))]);
    let t = &doc(&out, "kubernetes/deployment-chat.yaml")["spec"]["template"];
    let script = t["spec"]["initContainers"][0]["command"][2].as_str().expect("script").to_string();
    let root = std::env::temp_dir().join(format!("aistack-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("s3/b-models/org/small/1.0");
    std::fs::create_dir_all(&dir).expect("dir");
    let files = [("config.json", "{\"a\": 1}\n"), ("model.safetensors", "weights")];
    let mut manifest = String::new();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).expect("write");
        manifest.push_str(&format!("{}  ./{name}\n", sha256_hex(body.as_bytes())));
    }
    std::fs::write(dir.join("MANIFEST.sha256"), &manifest).expect("manifest");
    let digest = format!("sha256:{}", sha256_hex(manifest.as_bytes()));
    let (code, err) = run_verify(&script, &root, &digest);
    assert_eq!(code, 0, "the pinned artifact passes: {err}");
    let other = format!("sha256:{}", "0".repeat(64));
    let (code, err) = run_verify(&script, &root, &other);
    assert_eq!(code, 1, "a different digest fails");
    assert!(err.contains("the stack pins"), "{err}");
    std::fs::write(dir.join("extra.bin"), "x").expect("write");
    let (code, err) = run_verify(&script, &root, &digest);
    assert_eq!(code, 1, "a file the manifest does not list fails: {err}");
    std::fs::remove_file(dir.join("extra.bin")).expect("rm");
    std::fs::write(dir.join("model.safetensors"), "tampered").expect("write");
    let (code, err) = run_verify(&script, &root, &digest);
    assert_eq!(code, 1, "a changed file fails");
    assert!(err.contains("model.safetensors has sha256"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
