//! The output behaves on a real EKS cluster with the add-ons' defaults (issue 6, points 3,
//! 4, 5, 10, 13, 15 and 16): GPU taints the NVIDIA add-ons tolerate, sharing config where the
//! device plugin reads it, memory divided on shared GPUs, cluster-scoped names that carry
//! the stack, PromQL that names only exported series, rollouts without outages,
//! stack-scoped budgets and the prerequisites the output states.

use aistack::emit::Artifact;
use aistack_tests::{build_file, build_text, example_stacks, shared_dir, yaml_docs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn files(out: &[Artifact]) -> BTreeMap<String, String> {
    out.iter().map(|a| (a.path.clone(), String::from_utf8_lossy(&a.bytes).into_owned())).collect()
}

fn objects(f: &BTreeMap<String, String>) -> Vec<Value> {
    f.iter()
        .filter(|(p, _)| p.starts_with("kubernetes/") && !p.ends_with("kustomization.yaml"))
        .flat_map(|(_, t)| yaml_docs(t))
        .collect()
}

fn of_kind<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

/// A toleration as Kubernetes matches it against a taint (`key`, `operator`, `value`, `effect`).
struct Tol(&'static str, &'static str, &'static str);

/// The default tolerations of the NVIDIA device plugin DaemonSet: NVIDIA/k8s-device-plugin
/// `deployments/helm/nvidia-device-plugin/values.yaml` (`tolerations`), commit 1b826acc
/// (2026-08-19), as recorded in `../shared/design/cluster-contract.md`.
const DEVICE_PLUGIN: &[Tol] = &[Tol("CriticalAddonsOnly", "Exists", ""), Tol("nvidia.com/gpu", "Exists", "NoSchedule")];
/// The GPU Operator's operands (device plugin, DCGM exporter, GFD): `daemonsets.tolerations`
/// of NVIDIA/gpu-operator `deployments/gpu-operator/values.yaml`, commit a22dbf67.
const GPU_OPERATOR: &[Tol] = &[Tol("nvidia.com/gpu", "Exists", "NoSchedule")];

fn tolerated(defaults: &[Tol], key: &str, value: Option<&str>, effect: &str) -> bool {
    let _ = value; // every default is `Exists`: the value never matters
    defaults.iter().any(|t| t.0 == key && t.1 == "Exists" && (t.2.is_empty() || t.2 == effect))
}

/// (key, value, effect) of every taint a GPU node of the output carries: Karpenter
/// NodePools and EKS node groups (`taint { … }` blocks in `terraform/pool_*.tf`).
fn node_taints(f: &BTreeMap<String, String>) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    for np in of_kind(&objects(f), "NodePool") {
        for t in np["spec"]["template"]["spec"]["taints"].as_array().into_iter().flatten() {
            let v = t["value"].as_str().map(str::to_string);
            out.push((t["key"].as_str().unwrap_or("").into(), v, t["effect"].as_str().unwrap_or("").into()));
        }
    }
    for (p, text) in f.iter().filter(|(p, _)| p.starts_with("terraform/pool_")) {
        for block in text.split("taint {").skip(1) {
            let attr = |name: &str| {
                block
                    .lines()
                    .find_map(|l| {
                        l.trim()
                            .strip_prefix(name)?
                            .trim()
                            .strip_prefix('=')
                            .map(|v| v.trim().trim_matches('"').to_string())
                    })
                    .unwrap_or_else(|| panic!("{p}: taint without {name}"))
            };
            let effect = match attr("effect").as_str() {
                "NO_SCHEDULE" => "NoSchedule".to_string(),
                "NO_EXECUTE" => "NoExecute".to_string(),
                "PREFER_NO_SCHEDULE" => "PreferNoSchedule".to_string(),
                other => other.to_string(),
            };
            out.push((attr("key"), Some(attr("value")), effect));
        }
    }
    out
}

const NODE_GROUP_STACK: &str = r#"stack ng { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n", node_provisioner = node_group }
storage m { tier = warm, backend = s3, bucket = "ng-models", versioned = true }
model small {
  store      = m
  path       = "small"
  version    = "1"
  digest     = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  parameters = 1e9
}
gpu_pool l4 { gpu = L4, gpus_per_node = 1, nodes = 1..2, sharing = time_slicing { replicas = 4 } }
service chat { model = small, pool = l4, replicas = 2..4 }
"#;

#[test]
fn every_gpu_node_taint_is_tolerated_by_the_gpu_add_ons() {
    let mut stacks: Vec<(String, BTreeMap<String, String>)> =
        example_stacks().into_iter().map(|(n, p)| (n, files(&build_file(&p)))).collect();
    stacks.push(("node-group".into(), files(&build_text(&[("main.ai-stack", NODE_GROUP_STACK)]))));
    let mut seen = 0;
    for (name, f) in &stacks {
        for (key, value, effect) in node_taints(f) {
            seen += 1;
            for (who, defaults) in [("device plugin", DEVICE_PLUGIN), ("GPU Operator operands", GPU_OPERATOR)] {
                assert!(
                    tolerated(defaults, &key, value.as_deref(), &effect),
                    "{name}: taint {key}={value:?}:{effect} keeps the {who} off the node"
                );
            }
        }
    }
    assert!(seen >= stacks.len(), "every stack has GPU nodes with taints ({seen})");
}

#[test]
fn pods_tolerate_their_pools_taint_and_select_their_pool() {
    let f = files(&build_text(&[("main.ai-stack", NODE_GROUP_STACK)]));
    let deploy = &yaml_docs(&f["kubernetes/deployment-chat.yaml"])[0];
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["aistack.dev/pool"], "ng-l4");
    let tf = &f["terraform/pool_l4.tf"];
    assert!(tf.contains("\"aistack.dev/pool\"") && tf.contains("= \"ng-l4\""), "{tf}");
    assert_eq!(tf.matches("taint {").count(), 1, "only the nvidia.com/gpu taint: {tf}");
    let tols = pod["tolerations"].as_array().expect("tolerations");
    assert!(tols
        .iter()
        .any(|t| t["key"] == "nvidia.com/gpu" && t["operator"] == "Exists" && t["effect"] == "NoSchedule"));
}

#[test]
fn time_slicing_config_is_where_the_device_plugin_reads_it() {
    for (name, f) in [
        ("node-group", files(&build_text(&[("main.ai-stack", NODE_GROUP_STACK)]))),
        ("rag", files(&build_file(&aistack_tests::workspace().join("examples/rag/main.ai-stack")))),
    ] {
        let objs = objects(&f);
        let cms: Vec<&Value> = of_kind(&objs, "ConfigMap")
            .into_iter()
            .filter(|c| c["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("device-plugin-config")))
            .collect();
        assert_eq!(cms.len(), 1, "{name}: one device-plugin ConfigMap");
        let cm = cms[0];
        assert_eq!(cm["metadata"]["namespace"], "gpu-operator", "{name}: in the device plugin's namespace");
        let keys: BTreeSet<String> = cm["data"].as_object().expect("data").keys().cloned().collect();
        // Every node label that selects a config names a key of it.
        let mut labels: BTreeSet<String> = of_kind(&objs, "NodePool")
            .iter()
            .filter_map(|np| {
                np["spec"]["template"]["metadata"]["labels"]["nvidia.com/device-plugin.config"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        for (p, tf) in f.iter().filter(|(p, _)| p.starts_with("terraform/pool_")) {
            if let Some(rest) = tf.split("\"nvidia.com/device-plugin.config\"").nth(1) {
                let v = rest.split('"').nth(1).unwrap_or_else(|| panic!("{p}: label value"));
                labels.insert(v.to_string());
            }
        }
        assert!(!labels.is_empty(), "{name}: shared pools label their nodes");
        assert_eq!(labels, keys, "{name}: node labels and ConfigMap keys agree");
        for (k, v) in cm["data"].as_object().expect("data") {
            let cfg = &yaml_docs(v.as_str().expect("config text"))[0];
            assert_eq!(cfg["version"], "v1", "{name}/{k}");
            assert_eq!(cfg["sharing"]["timeSlicing"]["resources"][0]["name"], "nvidia.com/gpu", "{name}/{k}");
        }
        let manifest: Value = serde_json::from_str(&f["manifest.json"]).expect("manifest");
        let gpu = manifest["prerequisites"]
            .as_array()
            .expect("prerequisites")
            .iter()
            .find(|p| p["id"] == "nvidia-device-plugin")
            .expect("device plugin prerequisite");
        let cm_name = cm["metadata"]["name"].as_str().expect("name");
        assert!(
            gpu["settings"]
                .as_array()
                .expect("settings")
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.contains(cm_name) && s.contains("gpu-operator"))),
            "{name}: the prerequisite names the ConfigMap"
        );
    }
}

#[test]
fn shared_gpus_divide_memory_utilisation() {
    let f = files(&build_text(&[("main.ai-stack", NODE_GROUP_STACK)]));
    let v = &yaml_docs(&f["serving/chat/vllm.yaml"])[0];
    // 90 % (the default) over 4 time-slicing replicas: each engine takes 22.5 % of the GPU.
    assert_eq!(v["gpu-memory-utilization"].as_f64(), Some(0.225));
    let exclusive = NODE_GROUP_STACK.replace(", sharing = time_slicing { replicas = 4 }", "");
    let f = files(&build_text(&[("main.ai-stack", &exclusive)]));
    assert_eq!(yaml_docs(&f["serving/chat/vllm.yaml"])[0]["gpu-memory-utilization"].as_f64(), Some(0.9));
}

/// (kind, name) of every cluster-scoped object (no namespace) of an output.
fn cluster_scoped(f: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    objects(f)
        .iter()
        .filter(|o| o["metadata"]["namespace"].is_null())
        .map(|o| {
            (o["kind"].as_str().unwrap_or("").to_string(), o["metadata"]["name"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn two_stacks_on_one_cluster_share_no_cluster_scoped_name() {
    let outs: Vec<(String, BTreeSet<(String, String)>)> =
        example_stacks().into_iter().map(|(n, p)| (n, cluster_scoped(&files(&build_file(&p))))).collect();
    let kinds: BTreeSet<&str> = outs.iter().flat_map(|(_, s)| s.iter().map(|(k, _)| k.as_str())).collect();
    for k in ["NodePool", "EC2NodeClass", "ResourceFlavor", "ClusterQueue"] {
        assert!(kinds.contains(k), "the examples emit a cluster-scoped {k} ({kinds:?})");
    }
    for (i, (a, sa)) in outs.iter().enumerate() {
        for (b, sb) in &outs[i + 1..] {
            let both: Vec<_> = sa.intersection(sb).collect();
            assert!(both.is_empty(), "{a} and {b} both write {both:?}");
        }
    }
    // The same pool name in two stacks: still apart, and long names are cut to a DNS label.
    let stack = |name: &str, ns: &str| {
        NODE_GROUP_STACK
            .replace("stack ng {", &format!("stack {name} {{"))
            .replace("namespace = \"n\"", &format!("namespace = \"{ns}\""))
            .replace(", node_provisioner = node_group", "")
    };
    let long_a = "a_really_long_stack_name_that_goes_on_and_on_and_on_forever_a";
    let long_b = "a_really_long_stack_name_that_goes_on_and_on_and_on_forever_b";
    let sa = cluster_scoped(&files(&build_text(&[("main.ai-stack", &stack(long_a, "team-a"))])));
    let sb = cluster_scoped(&files(&build_text(&[("main.ai-stack", &stack(long_b, "team-b"))])));
    assert!(sa.intersection(&sb).next().is_none(), "{sa:?} vs {sb:?}");
    for (kind, name) in sa.iter().chain(&sb) {
        assert!(name.len() <= 63, "{kind} {name} is a DNS label");
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{kind} {name}");
    }
}

#[test]
fn changes_roll_without_outages() {
    let text = NODE_GROUP_STACK.replace("replicas = 2..4 }", "replicas = 1..1, request_timeout = 2m }");
    let f = files(&build_text(&[("main.ai-stack", &text)]));
    let d = &yaml_docs(&f["kubernetes/deployment-chat.yaml"])[0];
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"], 120, "drain = request timeout");
    assert!(pod["terminationGracePeriodSeconds"].as_i64().is_some_and(|g| g > 120), "grace period outlasts the drain");
    let pdb = &yaml_docs(&f["kubernetes/poddisruptionbudget-chat.yaml"])[0]["spec"];
    assert_eq!(pdb["minAvailable"], 1, "the only replica is never evicted");
    assert_eq!(pdb["unhealthyPodEvictionPolicy"], "AlwaysAllow", "a broken pod never blocks a drain");
    let two = files(&build_text(&[("main.ai-stack", NODE_GROUP_STACK)]));
    let pdb = &yaml_docs(&two["kubernetes/poddisruptionbudget-chat.yaml"])[0]["spec"];
    assert_eq!(pdb["maxUnavailable"], 1);
    assert!(pdb["minAvailable"].is_null());
    for (name, path) in example_stacks() {
        let f = files(&build_file(&path));
        let objs = objects(&f);
        for d in of_kind(&objs, "Deployment") {
            assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate", "{name}: {}", d["metadata"]["name"]);
        }
        for np in of_kind(&objs, "NodePool") {
            assert!(np["spec"]["template"]["spec"]["terminationGracePeriod"].is_string(), "{name}: drains are bounded");
        }
        for w in of_kind(&objs, "Deployment").into_iter().chain(of_kind(&objs, "Rollout")) {
            let pod = &w["spec"]["template"]["spec"];
            let drain =
                pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"].as_i64().expect("preStop sleep");
            assert!(pod["terminationGracePeriodSeconds"].as_i64().is_some_and(|g| g > drain), "{name}");
        }
    }
}

#[test]
fn budgets_watch_the_stack_and_forecast() {
    let mut found = 0;
    for (name, path) in example_stacks() {
        let out = build_file(&path);
        let stack = aistack::ir::lower(&aistack::check::check(&aistack::world::DiskWorld, &path, &[])).name;
        for (p, tf) in files(&out).iter().filter(|(p, _)| p.starts_with("terraform/budget_")) {
            found += 1;
            assert!(tf.contains("name   = \"TagKeyValue\""), "{name}/{p}: {tf}");
            assert!(tf.contains(&format!("\"user:aistack-stack${stack}\"")), "{name}/{p}: {tf}");
            if tf.contains("notification {") {
                assert!(tf.contains("\"ACTUAL\"") && tf.contains("\"FORECASTED\""), "{name}/{p}: {tf}");
            }
        }
    }
    assert!(found > 0, "the examples declare budgets");
}

#[test]
fn prerequisites_list_every_add_on_the_output_uses() {
    let groups = [
        ("karpenter.sh", "karpenter"),
        ("monitoring.coreos.com", "prometheus-operator"),
        ("argoproj.io", "argo-rollouts"),
        ("keda.sh", "keda"),
        ("kueue.x-k8s.io", "kueue"),
        ("gateway.networking.k8s.io", "gateway-api"),
    ];
    for (name, path) in example_stacks() {
        let f = files(&build_file(&path));
        let manifest: Value = serde_json::from_str(&f["manifest.json"]).expect("manifest");
        let ids: BTreeSet<&str> = manifest["prerequisites"]
            .as_array()
            .expect("prerequisites")
            .iter()
            .filter_map(|p| p["id"].as_str())
            .collect();
        let apis: BTreeSet<String> = objects(&f)
            .iter()
            .filter_map(|o| o["apiVersion"].as_str().map(|a| a.split('/').next().unwrap_or("").to_string()))
            .collect();
        for (group, id) in groups {
            assert_eq!(
                apis.contains(group),
                ids.contains(id),
                "{name}: {id} is listed exactly when {group} objects are emitted"
            );
        }
        assert!(ids.contains("nvidia-device-plugin"), "{name}");
        let md = &f["PREREQUISITES.md"];
        for p in manifest["prerequisites"].as_array().expect("prerequisites") {
            assert!(md.contains(p["name"].as_str().expect("name")), "{name}: PREREQUISITES.md lists {}", p["name"]);
        }
    }
}

/// Every PromQL expression of an output: rules, analyses, autoscaler triggers, eval gates.
fn promql(f: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for o in objects(f) {
        for g in o["spec"]["groups"].as_array().into_iter().flatten() {
            out.extend(
                g["rules"].as_array().into_iter().flatten().filter_map(|r| r["expr"].as_str().map(str::to_string)),
            );
        }
        for m in o["spec"]["metrics"].as_array().into_iter().flatten() {
            out.extend(m["provider"]["prometheus"]["query"].as_str().map(str::to_string));
        }
        for t in o["spec"]["triggers"].as_array().into_iter().flatten() {
            out.extend(t["metadata"]["query"].as_str().map(str::to_string));
        }
        if let Some(gate) = o["data"]["gate.json"].as_str() {
            let v: Value = serde_json::from_str(gate).expect("gate.json");
            out.extend(v["promql"].as_str().map(str::to_string));
        }
    }
    out
}

/// Metric names in a query: the identifiers right before a `{` selector.
fn metric_names(q: &str) -> Vec<String> {
    let b = q.as_bytes();
    let mut names = Vec::new();
    for (i, c) in b.iter().enumerate() {
        if *c != b'{' {
            continue;
        }
        let start =
            b[..i].iter().rposition(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')).map_or(0, |p| p + 1);
        if start < i {
            names.push(q[start..i].to_string());
        }
    }
    names
}

/// Names other exporters really export, with the source each was read in.
fn exported_elsewhere() -> BTreeSet<&'static str> {
    [
        // Prometheus itself, per target.
        "up",
        // prometheus-fastapi-instrumentator on vLLM's /metrics (cluster-contract.md).
        "http_requests_total",
        // DCGM exporter default counters (targets.md, dcgm-exporter etc/default-counters.csv).
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        // Triton docs/user_guide/metrics.md; the first-response histogram with
        // --metrics-config histogram_latencies=true (emitted).
        "nv_inference_pending_request_count",
        "nv_inference_request_duration_us",
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_first_response_histogram_ms_bucket",
        // TGI docs/source/reference/metrics.md; tgi_request_failure{err} from router/src.
        "tgi_queue_size",
        "tgi_request_duration_bucket",
        "tgi_batch_inference_duration_bucket",
        "tgi_request_failure",
        "tgi_request_count",
        "tgi_request_generated_tokens_sum",
        "tgi_request_success",
    ]
    .into_iter()
    .collect()
}

fn vllm_names() -> Option<BTreeSet<String>> {
    let Some(dir) = shared_dir() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "../shared (vLLM metric list) is missing under CI=true");
        println!("SKIPPED: ../shared is not beside this checkout; vLLM metric names unchecked");
        return None;
    };
    let text = std::fs::read_to_string(dir.join("schemas/vllm/vllm-metrics-v0.33.0.json")).expect("vLLM metric list");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    Some(
        v["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .flat_map(|m| {
                m["exposed_as"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_string))
            })
            .collect(),
    )
}

#[test]
fn every_promql_names_only_exported_series() {
    let Some(vllm) = vllm_names() else { return };
    let others = exported_elsewhere();
    let mut checked = 0;
    for (name, path) in example_stacks() {
        for q in promql(&files(&build_file(&path))) {
            let names = metric_names(&q);
            assert!(!names.is_empty(), "{name}: no metric in {q}");
            for m in names {
                checked += 1;
                // Pipelines publish their eval results as aistack_eval_* gauges.
                let ok = vllm.contains(&m) || others.contains(m.as_str()) || m.starts_with("aistack_eval_");
                assert!(ok, "{name}: {m} is exported by nothing (in {q})");
            }
        }
    }
    assert!(checked > 20, "{checked} names checked");
    // The tables above are the engine module's own list: nothing emitted falls outside it.
    for (m, _) in aistack::emit::promql::METRIC_NAMES {
        assert!(others.contains(m), "{m} is in METRIC_NAMES but not verified here");
    }
}

#[test]
fn error_rates_count_5xx_and_gpu_queries_read_exported_labels() {
    let f = files(&build_file(&aistack_tests::workspace().join("examples/llm-chat/main.ai-stack")));
    let qs = promql(&f);
    let err: Vec<&String> = qs.iter().filter(|q| q.contains("finished_reason=\"error\"")).collect();
    assert!(!err.is_empty(), "llm-chat has error-rate rules");
    for q in err {
        assert!(q.contains("status=\"5xx\""), "HTTP 5xx counted: {q}");
        assert!(q.contains("or vector(0)"), "an absent 5xx series reads 0: {q}");
    }
    for q in qs.iter().filter(|q| q.contains("DCGM_")) {
        assert!(q.contains("exported_pod=~") && !q.contains(",pod=~"), "honorLabels: false: {q}");
    }
    let down: Vec<&String> = qs.iter().filter(|q| q.starts_with("absent(up{")).collect();
    assert!(!down.is_empty(), "an engine-down alert per service");
}

#[test]
fn canary_analysis_reads_only_the_canary_pods() {
    let f = files(&build_file(&aistack_tests::workspace().join("examples/llm-chat/main.ai-stack")));
    let objs = objects(&f);
    let rollout =
        of_kind(&objs, "Rollout").into_iter().find(|r| r["spec"]["strategy"]["canary"].is_object()).expect("a canary");
    let canary = &rollout["spec"]["strategy"]["canary"];
    let name = rollout["metadata"]["name"].as_str().expect("name");
    assert_eq!(canary["stableService"], name);
    let canary_svc = canary["canaryService"].as_str().expect("canaryService");
    let services = of_kind(&objs, "Service");
    let find = |n: &str| services.iter().find(|s| s["metadata"]["name"] == n).unwrap_or_else(|| panic!("Service {n}"));
    assert_eq!(find(canary_svc)["spec"]["selector"], find(name)["spec"]["selector"], "Argo narrows both to their pods");
    let t = canary["analysis"]["templates"][0]["templateName"].as_str().expect("analysis");
    let at = of_kind(&objs, "AnalysisTemplate").into_iter().find(|a| a["metadata"]["name"] == t).expect("template");
    let q = at["spec"]["metrics"][0]["provider"]["prometheus"]["query"].as_str().expect("query");
    assert!(q.contains(&format!("service=\"{canary_svc}\"")), "{q}");
    assert!(!q.contains(&format!("service=\"{name}\"")), "the stable pods are not read: {q}");
}
