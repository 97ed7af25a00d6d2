//! `aistack build`'s output: deterministic, consistent across layers (Kubernetes, serving
//! configs, Karpenter, PromQL, Terraform), every file listed and hashed, secrets only as
//! references, and each example's whole output pinned by a snapshot.

use aistack::emit::Artifact;
use aistack_tests::{build_file, build_text, example_stacks, yaml_docs};
use serde_json::Value;
use std::collections::BTreeMap;

fn files(out: &[Artifact]) -> BTreeMap<String, String> {
    out.iter().map(|a| (a.path.clone(), String::from_utf8_lossy(&a.bytes).into_owned())).collect()
}

fn k8s_objects(f: &BTreeMap<String, String>) -> Vec<(String, Value)> {
    f.iter()
        .filter(|(p, _)| p.starts_with("kubernetes/") && !p.ends_with("kustomization.yaml"))
        .map(|(p, t)| {
            let docs = yaml_docs(t);
            assert_eq!(docs.len(), 1, "{p}: one object per file");
            (p.clone(), docs.into_iter().next().unwrap_or(Value::Null))
        })
        .collect()
}

fn of_kind<'a>(objs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|(_, o)| o["kind"] == kind).map(|(_, o)| o).collect()
}

#[test]
fn output_is_deterministic() {
    for (name, path) in example_stacks() {
        assert_eq!(build_file(&path), build_file(&path), "{name}: two builds differ");
    }
}

#[test]
fn every_file_is_listed_hashed_and_labelled() {
    for (name, path) in example_stacks() {
        let out = build_file(&path);
        let f = files(&out);
        let manifest: Value = serde_json::from_str(&f["manifest.json"]).expect("manifest.json is JSON");
        let listed: Vec<&str> =
            manifest["files"].as_array().expect("files").iter().filter_map(|e| e["path"].as_str()).collect();
        let on_disk: Vec<&str> = f.keys().map(String::as_str).filter(|p| *p != "manifest.json").collect();
        assert_eq!(listed, on_disk, "{name}: manifest lists exactly the files");
        for e in manifest["files"].as_array().expect("files") {
            let p = e["path"].as_str().expect("path");
            let bytes = &out.iter().find(|a| a.path == p).expect("file").bytes;
            use sha2_shim::hex_sha256;
            assert_eq!(e["sha256"].as_str(), Some(hex_sha256(bytes).as_str()), "{name}: {p} hash");
        }
        let kustomization = &yaml_docs(&f["kubernetes/kustomization.yaml"])[0];
        let mut resources: Vec<String> = kustomization["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(|r| r.as_str().map(|s| format!("kubernetes/{s}")))
            .collect();
        resources.sort();
        let yaml_files: Vec<String> =
            f.keys().filter(|p| p.starts_with("kubernetes/") && !p.ends_with("kustomization.yaml")).cloned().collect();
        assert_eq!(resources, yaml_files, "{name}: kustomization lists every object file");
        for (p, o) in k8s_objects(&f) {
            let labels = &o["metadata"]["labels"];
            assert_eq!(labels["app.kubernetes.io/managed-by"], "aistack", "{name}: {p}");
            assert!(
                labels["aistack.dev/stack"].is_string() && labels["aistack.dev/declaration"].is_string(),
                "{name}: {p}"
            );
        }
    }
}

/// The pod's GPUs, the engine's tensor parallelism and the model's context agree, and pods
/// tolerate and select exactly what their pool's NodePool sets.
#[test]
fn layers_agree() {
    for (name, path) in example_stacks() {
        let f = files(&build_file(&path));
        let objs = k8s_objects(&f);
        let pools = of_kind(&objs, "NodePool");
        for w in of_kind(&objs, "Deployment").into_iter().chain(of_kind(&objs, "Rollout")) {
            let wname = w["metadata"]["name"].as_str().expect("name");
            let pod = &w["spec"]["template"]["spec"];
            let c = &pod["containers"][0];
            let gpus: i64 =
                c["resources"]["limits"]["nvidia.com/gpu"].as_str().and_then(|s| s.parse().ok()).expect("gpu limit");
            assert_eq!(c["resources"]["limits"], c["resources"]["requests"], "{name}/{wname}: requests equal limits");
            if let Some(cfg) = f.get(&format!("serving/{wname}/vllm.yaml")) {
                let v = &yaml_docs(cfg)[0];
                assert_eq!(v["tensor-parallel-size"].as_i64(), Some(gpus), "{name}/{wname}: vLLM tp = GPUs");
                let cm = of_kind(&objs, "ConfigMap")
                    .into_iter()
                    .find(|m| m["metadata"]["name"] == format!("{wname}-engine"))
                    .expect("engine ConfigMap");
                assert_eq!(
                    cm["data"]["vllm.yaml"].as_str(),
                    Some(cfg.as_str()),
                    "{name}/{wname}: the pod mounts the same vllm.yaml"
                );
                assert!(v["max-model-len"].as_i64().is_some_and(|n| n > 0));
            }
            if pools.is_empty() {
                continue;
            }
            let sel = pod["nodeSelector"]["aistack.dev/pool"].as_str().expect("pool selector");
            let np = pools
                .iter()
                .find(|p| p["metadata"]["name"] == sel)
                .unwrap_or_else(|| panic!("{name}/{wname}: no NodePool {sel}"));
            let labels = &np["spec"]["template"]["metadata"]["labels"];
            for (k, v) in pod["nodeSelector"].as_object().expect("selector") {
                assert_eq!(&labels[k], v, "{name}/{wname}: nodeSelector {k} matches the NodePool's labels");
            }
            for taint in np["spec"]["template"]["spec"]["taints"].as_array().expect("taints") {
                let tolerated = pod["tolerations"].as_array().expect("tolerations").iter().any(|t| {
                    t["key"] == taint["key"]
                        && t["effect"] == taint["effect"]
                        && (t["operator"] == "Exists" || t["value"] == taint["value"])
                });
                assert!(tolerated, "{name}/{wname}: taint {taint} is tolerated");
            }
            let limit: i64 =
                np["spec"]["limits"]["nvidia.com/gpu"].as_str().and_then(|s| s.parse().ok()).expect("pool limit");
            assert!(gpus <= limit, "{name}/{wname}: the pool can hold a replica");
        }
        for so in of_kind(&objs, "ScaledObject") {
            let target = so["spec"]["scaleTargetRef"]["name"].as_str().expect("target");
            for t in so["spec"]["triggers"].as_array().expect("triggers") {
                let q = t["metadata"]["query"].as_str().expect("query");
                assert!(
                    q.contains(&format!("service=\"{target}\"")) || q.contains(&format!("pod=~\"{target}-")),
                    "{name}: trigger of {target} queries it: {q}"
                );
            }
        }
        for rule in of_kind(&objs, "PrometheusRule") {
            for g in rule["spec"]["groups"].as_array().expect("groups") {
                for r in g["rules"].as_array().expect("rules") {
                    let e = r["expr"].as_str().expect("expr");
                    assert_eq!(e.matches('(').count(), e.matches(')').count(), "{name}: balanced PromQL {e}");
                }
            }
        }
    }
}

#[test]
fn secrets_are_references_only() {
    let out = build_text(&[(
        "main.ai-stack",
        r#"stack s { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }
param hf_token: secret
storage m { tier = warm, backend = s3, bucket = "b-models", versioned = true }
model small {
  store      = m
  path       = "small"
  version    = "1"
  digest     = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  parameters = 1e9
}
gpu_pool l4 { gpu = L4, gpus_per_node = 1, nodes = 1..2 }
service chat {
  model = small
  pool  = l4
  env   = { HF_TOKEN = hf_token, MODE = "prod" }
}
"#,
    )]);
    let f = files(&out);
    let cm = f.iter().find(|(p, _)| p.contains("configmap-chat")).map(|(_, t)| t.clone()).unwrap_or_default();
    assert!(!cm.contains("HF_TOKEN"), "no secret env in ConfigMaps");
    let deploy = &yaml_docs(&f["kubernetes/deployment-chat.yaml"])[0];
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].as_array().expect("env");
    let token = env.iter().find(|e| e["name"] == "HF_TOKEN").expect("HF_TOKEN");
    assert!(token.get("value").is_none(), "the secret has no value");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["key"], "hf_token");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "chat-secrets");
    // The Secret comes from an ExternalSecret reading the Secrets Manager secret Terraform declares.
    let es = &yaml_docs(&f["kubernetes/externalsecret-chat-secrets.yaml"])[0];
    assert_eq!(es["spec"]["target"]["name"], "chat-secrets");
    assert_eq!(es["spec"]["data"][0]["secretKey"], "hf_token");
    assert_eq!(es["spec"]["data"][0]["remoteRef"]["key"], "aistack/s/hf_token");
    let tf = &f["terraform/secrets.tf"];
    assert!(tf.contains(r#"name                    = "aistack/s/hf_token""#), "{tf}");
    assert!(!tf.contains("aws_secretsmanager_secret_version"), "Terraform never holds a secret value");
    let mode = env.iter().find(|e| e["name"] == "MODE").expect("MODE");
    assert_eq!(mode["value"], "prod");
}

#[test]
fn snapshots_of_whole_outputs() {
    for (name, path) in example_stacks() {
        let mut text = String::new();
        for a in build_file(&path) {
            text.push_str(&format!("//// {}\n", a.path));
            text.push_str(&String::from_utf8_lossy(&a.bytes));
        }
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("emit__{name}"), text);
        });
    }
}

mod sha2_shim {
    /// SHA-256 through the same code the manifest uses.
    pub fn hex_sha256(bytes: &[u8]) -> String {
        let a = aistack::emit::Artifact { path: "x".into(), bytes: bytes.to_vec(), sources: Vec::new() };
        aistack::emit::content_hash(&a)
    }
}
