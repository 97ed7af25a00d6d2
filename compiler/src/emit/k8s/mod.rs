//! Kubernetes manifests: one YAML file per object under `kubernetes/`, plus the
//! `kustomization.yaml` that lists them (`kubectl kustomize DIR/kubernetes` renders the set).
//!
//! Takes: the IR. Gives: core objects built as k8s-openapi types and custom resources as
//! the typed structs of [`crd`], each labelled with the manager, the stack and the
//! declaration. Secrets appear only as `secretKeyRef`s to the Secret each workload's
//! ExternalSecret creates ([`identity`]), never as values. [`objects`] gives the objects to
//! [`crate::graph`]; [`render`] writes the files from the graph's Kubernetes resources.

pub mod crd;
pub mod identity;
mod jobs;
mod observe;
mod pinning;
mod pools;
mod workloads;

pub use pools::sharing_config_name;

use super::{labels, yaml, Artifact};
use crate::diag::Diagnostic;
use crate::ir::{Meta, Stack};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::BTreeMap;

/// One object before it is written: file stem (`deployment-chat`), body, sources.
pub struct Obj {
    pub file: String,
    pub body: serde_json::Value,
    pub sources: Vec<String>,
}

impl Obj {
    pub fn new<T: Serialize>(kind: &str, name: &str, body: &T, sources: Vec<String>) -> Obj {
        Obj {
            file: format!("{}-{name}", kind.to_ascii_lowercase()),
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
            sources,
        }
    }
}

/// Metadata for an object of declaration `meta`.
pub fn object_meta(stack: &Stack, meta: &Meta, name: &str) -> ObjectMeta {
    let mut annotations = BTreeMap::new();
    annotations.insert("aistack.dev/address".to_string(), meta.full_address());
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(stack.namespace.clone()),
        labels: Some(labels(stack, meta)),
        annotations: Some(annotations),
        ..Default::default()
    }
}

/// Adds checkov skip annotations (`checkov.io/skipN: CHECK=reason`) to an object's metadata.
pub fn skip_checks(meta: &mut ObjectMeta, skips: &[(&str, String)]) {
    let ann = meta.annotations.get_or_insert_with(BTreeMap::new);
    for (i, (check, reason)) in skips.iter().enumerate() {
        ann.insert(format!("checkov.io/skip{}", i + 1), format!("{check}={reason}"));
    }
}

fn stack_meta(stack: &Stack) -> Meta {
    stack.meta()
}

fn namespace(stack: &Stack) -> Obj {
    let meta = stack_meta(stack);
    let mut l = labels(stack, &meta);
    // Pods run as non-root with no privilege escalation, so the namespace enforces
    // the `restricted` Pod Security Standard.
    for mode in ["enforce", "audit", "warn"] {
        l.insert(format!("pod-security.kubernetes.io/{mode}"), "restricted".into());
        l.insert(format!("pod-security.kubernetes.io/{mode}-version"), "latest".into());
    }
    let ns = Namespace {
        metadata: ObjectMeta { name: Some(stack.namespace.clone()), labels: Some(l), ..Default::default() },
        ..Default::default()
    };
    Obj::new("Namespace", &stack.namespace, &ns, vec![meta.full_address()])
}

/// Pods selected by `namespace`'s name label.
pub fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some([("kubernetes.io/metadata.name".to_string(), namespace.to_string())].into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Egress to the cluster DNS (kube-system, port 53 over UDP and TCP).
pub fn dns_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![namespace_peer("kube-system")]),
        ports: Some(
            ["UDP", "TCP"]
                .iter()
                .map(|p| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(p.to_string()),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}

/// Egress to HTTPS anywhere: object storage, model hubs, STS.
pub fn https_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: None,
        ports: Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::Int(443)),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

/// Default deny for every pod of the namespace, with DNS the only egress.
fn default_deny(stack: &Stack) -> Obj {
    let meta = stack_meta(stack);
    let dns = dns_egress();
    let np = NetworkPolicy {
        metadata: object_meta(stack, &meta, "default-deny"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            egress: Some(vec![dns]),
            ingress: None,
        }),
    };
    Obj::new("NetworkPolicy", "default-deny", &np, vec![meta.full_address()])
}

/// Every object, in the order they are built (files may repeat; the graph keeps the first).
pub fn objects(stack: &Stack, diags: &mut Vec<Diagnostic>) -> Vec<Obj> {
    let mut objs = vec![namespace(stack)];
    if stack.policy.as_ref().is_none_or(|p| p.default_deny) {
        objs.push(default_deny(stack));
    }
    if !stack.node_groups {
        pools::emit(stack, &mut objs);
    }
    // Node groups carry the same device-plugin labels, so the sharing configs are needed either way.
    pools::sharing_configs(stack, &mut objs);
    identity::emit(stack, &mut objs);
    workloads::emit(stack, &mut objs, diags);
    jobs::emit(stack, &mut objs);
    observe::emit(stack, &mut objs);
    objs
}

/// Writes one YAML file per Kubernetes resource of the graph, and the `kustomization.yaml`.
pub fn render(g: &crate::graph::ResourceGraph, out: &mut Vec<Artifact>) {
    let mut files: Vec<String> = Vec::new();
    for f in &g.kubernetes_files {
        let Some(crate::graph::Attrs::Kubernetes(body)) = g.get(&f.address).map(|r| &r.attrs) else { continue };
        let path = format!("{}.yaml", f.file);
        files.push(path.clone());
        let text = yaml::to_string(&crate::graph::to_json(body));
        out.push(Artifact::new(format!("kubernetes/{path}"), text, f.sources.clone()));
    }
    files.sort();
    files.dedup();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    });
    out.push(Artifact::new("kubernetes/kustomization.yaml", yaml::to_string(&kustomization), Vec::new()));
}
