//! Workload identity and secrets in every example's output: each pod runs as a ServiceAccount
//! that exists and has a role (a Pod Identity association, or the IRSA annotation), the role's
//! policy names exactly the S3 prefixes the pods are given and no others, and each
//! `secretKeyRef` names a Secret that an ExternalSecret creates with that key, from a secret
//! Terraform declares without its value. (tests/moto/apply_identity.py applies the same
//! Terraform against moto and reads the policies back.)

use aistack_tests::{build_file, build_text, example_stacks, yaml_docs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn texts(out: &[aistack::emit::Artifact]) -> BTreeMap<String, String> {
    out.iter().map(|a| (a.path.clone(), String::from_utf8_lossy(&a.bytes).into_owned())).collect()
}

fn kube(files: &BTreeMap<String, String>) -> Vec<Value> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("kubernetes/") && !p.ends_with("kustomization.yaml"))
        .flat_map(|(_, t)| yaml_docs(t))
        .collect()
}

fn pod_specs(objs: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for o in objs {
        let name = format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""));
        let spec = match o["kind"].as_str() {
            Some("Deployment" | "Rollout" | "Job") => o["spec"]["template"]["spec"].clone(),
            Some("CronJob") => o["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone(),
            _ => continue,
        };
        out.push((name, spec));
    }
    out
}

/// `(bucket, prefix)` of every `s3://` URI in `text`.
fn s3_uris(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("s3://") {
        let rest = &text[i + 5..];
        let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',')).unwrap_or(rest.len());
        if let Some((b, p)) = rest[..end].split_once('/') {
            out.insert((b.to_string(), p.trim_matches('/').to_string()));
        }
    }
    out
}

/// The URIs a pod is given: its env and the ConfigMaps it mounts.
fn pod_uris(spec: &Value, objs: &[Value]) -> BTreeSet<(String, String)> {
    let mut text = serde_json::to_string(&spec["containers"]).unwrap_or_default();
    text.push_str(&serde_json::to_string(&spec["initContainers"]).unwrap_or_default());
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let Some(cm) = v["configMap"]["name"].as_str() else { continue };
        for o in objs.iter().filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == cm) {
            for d in o["data"].as_object().into_iter().flatten() {
                text.push('\n');
                text.push_str(d.1.as_str().unwrap_or(""));
            }
        }
    }
    s3_uris(&text)
}

/// bucket name → Terraform name of its aws_s3_bucket.
fn buckets(files: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (p, t) in files.iter().filter(|(p, _)| p.starts_with("terraform/storage_")) {
        let Some(i) = t.find("resource \"aws_s3_bucket\" \"") else { continue };
        let rest = &t[i + 26..];
        let tf = rest[..rest.find('"').unwrap_or(0)].to_string();
        let Some(j) = rest.find("bucket ") else { continue };
        let line = rest[j..].lines().next().unwrap_or("");
        let name = line.split('"').nth(1).unwrap_or("").to_string();
        assert!(!name.is_empty(), "{p}: no bucket name");
        out.insert(name, tf);
    }
    out
}

/// The `aws_iam_role_policy` block of workload `ident`, as text.
fn role_policy<'a>(files: &'a BTreeMap<String, String>, ident: &str) -> &'a str {
    let t = files.get(&format!("terraform/identity_{ident}.tf")).map_or("", String::as_str);
    let start = t.find("resource \"aws_iam_role_policy\"").unwrap_or(t.len());
    let rest = &t[start..];
    &rest[..rest.find("\n}\n").map_or(rest.len(), |e| e + 2)]
}

fn check_output(name: &str, files: &BTreeMap<String, String>) -> usize {
    let objs = kube(files);
    let by_kind = |k: &str| -> BTreeMap<String, &Value> {
        objs.iter()
            .filter(|o| o["kind"] == k)
            .map(|o| (o["metadata"]["name"].as_str().unwrap_or("").to_string(), o))
            .collect()
    };
    let sas = by_kind("ServiceAccount");
    let externals: BTreeMap<String, &Value> = objs
        .iter()
        .filter(|o| o["kind"] == "ExternalSecret")
        .map(|o| (o["spec"]["target"]["name"].as_str().unwrap_or("").to_string(), o))
        .collect();
    let stores = by_kind("SecretStore");
    let ns = objs.iter().find(|o| o["kind"] == "Namespace").map(|o| o["metadata"]["name"].clone());
    let ns = ns.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let all_tf: String = files.iter().filter(|(p, _)| p.starts_with("terraform/")).map(|(_, t)| t.as_str()).collect();
    let bucket_tf = buckets(files);
    let mut checked = 0;
    for (what, spec) in pod_specs(&objs) {
        let sa = spec["serviceAccountName"].as_str().unwrap_or_else(|| panic!("{name} {what}: no serviceAccountName"));
        let account = sas.get(sa).unwrap_or_else(|| panic!("{name} {what}: no ServiceAccount {sa}"));
        let ident = sa.replace('-', "_");
        let irsa = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str();
        match irsa {
            Some(arn) => assert!(arn.ends_with(&format!(":role/{}", role_name(files, &ident))), "{name}: {arn}"),
            None => {
                let assoc = format!("namespace       = \"{ns}\"\n  service_account = \"{sa}\"");
                assert!(all_tf.contains(&assoc), "{name} {what}: no Pod Identity association for {ns}/{sa}");
            }
        }
        // The role's policy names exactly the prefixes the pod is given; a served model's
        // grant is its root, one version segment above the `<path>/<version>/` the pod loads,
        // so that a rollback can read the previous version.
        let policy = role_policy(files, &ident);
        let mut want = BTreeSet::new();
        for (bucket, prefix) in pod_uris(&spec, &objs) {
            let tf = bucket_tf.get(&bucket).unwrap_or_else(|| panic!("{name}: no bucket {bucket}"));
            want.insert((tf.clone(), prefix));
        }
        let got: BTreeSet<(String, String)> = policy
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("format(\"%s/%s/*\", aws_s3_bucket."))
            .filter_map(|l| {
                let (tf, rest) = l.split_once(".arn, \"")?;
                Some((tf.to_string(), rest.trim_end_matches(',').strip_suffix("\")")?.to_string()))
            })
            .collect();
        let covers = |(gt, gp): &(String, String), (wt, wp): &(String, String)| {
            gt == wt && (gp == wp || wp.strip_prefix(&format!("{gp}/")).is_some_and(|v| !v.contains('/')))
        };
        for w in &want {
            assert!(got.iter().any(|g| covers(g, w)), "{name} {what}: {w:?} is not granted:\n{policy}");
        }
        for g in &got {
            assert!(want.iter().any(|w| covers(g, w)), "{name} {what}: {g:?} is granted but unused:\n{policy}");
        }
        assert!(!got.is_empty() || want.is_empty(), "{name} {what}: no grants parsed:\n{policy}");
        assert!(!policy.contains("\"*\""), "{name} {what}: wildcard resource:\n{policy}");
        // Every secret the pod reads comes from an ExternalSecret through a store that exists.
        for c in spec["containers"].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                let r = &e["valueFrom"]["secretKeyRef"];
                let Some(secret) = r["name"].as_str() else { continue };
                let es =
                    externals.get(secret).unwrap_or_else(|| panic!("{name} {what}: no ExternalSecret makes {secret}"));
                let data = es["spec"]["data"].as_array().cloned().unwrap_or_default();
                let d = data.iter().find(|d| d["secretKey"] == r["key"]);
                let d = d.unwrap_or_else(|| panic!("{name}: {secret} has no key {}", r["key"]));
                assert!(stores.contains_key(es["spec"]["secretStoreRef"]["name"].as_str().unwrap_or("")));
                let remote = d["remoteRef"]["key"].as_str().unwrap_or("");
                assert!(
                    all_tf.contains(&format!("name                    = \"{remote}\"")),
                    "{name}: no secret {remote}"
                );
                checked += 1;
            }
        }
        checked += 1;
    }
    assert!(!all_tf.contains("aws_secretsmanager_secret_version"), "{name}: Terraform must never hold a secret value");
    checked
}

fn role_name(files: &BTreeMap<String, String>, ident: &str) -> String {
    let t = files.get(&format!("terraform/identity_{ident}.tf")).map_or("", String::as_str);
    t.lines().find(|l| l.trim_start().starts_with("name ")).and_then(|l| l.split('"').nth(1)).unwrap_or("").into()
}

#[test]
fn every_workload_has_an_identity_with_exactly_its_access() {
    let mut checked = 0;
    for (name, path) in example_stacks() {
        checked += check_output(&name, &texts(&build_file(&path)));
    }
    assert!(checked >= 8, "only {checked} workloads checked");
}

const IRSA: &str = r#"stack s {
  cloud     = aws
  region    = "us-gov-west-1"
  cluster   = "c"
  namespace = "n"
  identity  = irsa
  account   = "123456789012"
}
param hf_token: secret
storage m { tier = warm, backend = s3, bucket = "b-models", versioned = true, encryption = kms }
model small {
  store      = m
  path       = "small/v1"
  version    = "1"
  digest     = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  parameters = 1e9
}
gpu_pool l4 { gpu = L4, gpus_per_node = 1, nodes = 1..2 }
service chat {
  model = small
  pool  = l4
  env   = { HF_TOKEN = hf_token }
}
"#;

#[test]
fn irsa_annotates_accounts_and_lets_each_workload_read_only_its_secrets() {
    let files = texts(&build_text(&[("main.ai-stack", IRSA)]));
    assert!(check_output("irsa", &files) >= 2);
    let sa = &yaml_docs(&files["kubernetes/serviceaccount-chat.yaml"])[0];
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws-us-gov:iam::123456789012:role/s-chat"
    );
    let store = &yaml_docs(&files["kubernetes/secretstore-chat-aws.yaml"])[0];
    assert_eq!(store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"], "chat");
    let role = &files["terraform/identity_chat.tf"];
    assert!(role.contains("Resource = aws_secretsmanager_secret.hf_token.arn"), "{role}");
    assert!(role.contains("\"system:serviceaccount:n:chat\""), "{role}");
    assert!(role.contains("data.aws_caller_identity.current.account_id == \"123456789012\""), "{role}");
    assert!(!role.contains("aws_eks_pod_identity_association"), "{role}");
    // No agent egress under IRSA: credentials come from STS over 443.
    assert!(!files["kubernetes/networkpolicy-chat-allow.yaml"].contains("169.254.170.23"));
}

#[test]
fn pod_identity_reaches_the_agent_and_the_controller_reads_only_the_stacks_secrets() {
    let src = IRSA.replace("  identity  = irsa\n  account   = \"123456789012\"\n", "");
    let files = texts(&build_text(&[("main.ai-stack", &src)]));
    let np = &yaml_docs(&files["kubernetes/networkpolicy-chat-allow.yaml"])[0];
    let egress = np["spec"]["egress"].as_array().cloned().unwrap_or_default();
    let agent = egress.iter().find(|r| r["to"][0]["ipBlock"]["cidr"] == "169.254.170.23/32").expect("agent egress");
    assert_eq!(agent["ports"][0]["port"], 80);
    assert!(files["kubernetes/serviceaccount-chat.yaml"].contains("automountServiceAccountToken: false"));
    let store = &yaml_docs(&files["kubernetes/secretstore-s-aws-secrets.yaml"])[0];
    assert!(store["spec"]["provider"]["aws"].get("auth").is_none(), "the controller's own credentials");
    let shared = &files["terraform/identity.tf"];
    assert!(shared.contains("role = var.external_secrets_role_name"), "{shared}");
    assert!(shared.contains("Resource = aws_secretsmanager_secret.hf_token.arn"), "{shared}");
    let role = &files["terraform/identity_chat.tf"];
    assert!(!role.contains("secretsmanager"), "the workload's own role reads no secret:\n{role}");
    assert!(role.contains("\"kms:ViaService\" = \"s3.us-gov-west-1.amazonaws.com\""), "{role}");
}
