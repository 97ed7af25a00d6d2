//! What the cluster must have for the output to work: `PREREQUISITES.md` (for people) and
//! the `prerequisites` section of `manifest.json` (for the plan's live preflight).
//!
//! Takes: the IR and the files emitted so far. Gives: one [`Prereq`] per add-on the output
//! really uses, found from the objects it emits (an `argoproj.io` Rollout needs Argo
//! Rollouts, a `nvidia.com/gpu` request the NVIDIA device plugin, …), each with the minimum
//! version and the settings the output relies on. Minimum versions are the ones whose
//! schemas the output is validated against (`../shared/schemas/SOURCES.md`); where no
//! version was verified the entry says so instead of guessing.

use super::Artifact;
use crate::ir::{Sharing, Stack};
use serde::Serialize;
use std::collections::BTreeSet;

/// One add-on the output needs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prereq {
    /// Stable identifier (`karpenter`, `nvidia-device-plugin`, …).
    pub id: &'static str,
    pub name: &'static str,
    /// Lowest version known to serve what the output uses; `None` when not verified.
    pub min_version: Option<&'static str>,
    /// Where the minimum version comes from.
    pub version_source: &'static str,
    /// Emitted kinds or fields that need it.
    pub needed_by: Vec<String>,
    /// Settings it must have, one sentence each.
    pub settings: Vec<String>,
}

/// (apiVersion, kind) of every emitted Kubernetes object.
fn kinds(files: &[Artifact]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for a in files.iter().filter(|a| a.path.starts_with("kubernetes/") && !a.path.ends_with("kustomization.yaml")) {
        let text = String::from_utf8_lossy(&a.bytes);
        let top = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string());
        if let (Some(api), Some(kind)) = (top("apiVersion: "), top("kind: ")) {
            out.insert((api, kind));
        }
    }
    out
}

fn used(kinds: &BTreeSet<(String, String)>, group: &str) -> Vec<String> {
    kinds
        .iter()
        .filter(|(api, _)| api.split('/').next() == Some(group))
        .map(|(api, k)| format!("{k} ({api})"))
        .collect()
}

fn has_kind(kinds: &BTreeSet<(String, String)>, kind: &str) -> bool {
    kinds.iter().any(|(_, k)| k == kind)
}

/// Every add-on the emitted `files` need, in a fixed order.
pub fn prerequisites(stack: &Stack, files: &[Artifact]) -> Vec<Prereq> {
    let k = kinds(files);
    let mut out = Vec::new();
    let mut add = |id, name, min_version: Option<&'static str>, needed_by: Vec<String>, settings: Vec<String>| {
        if !needed_by.is_empty() {
            let version_source = match (id, min_version) {
                ("kubernetes", _) => "KEP-3960: the preStop sleep action is beta and on by default from 1.30",
                (_, Some(_)) => "the version whose CRDs the output is validated against (shared/schemas/SOURCES.md)",
                (_, None) => "not verified",
            };
            out.push(Prereq { id, name, min_version, version_source, needed_by, settings });
        }
    };
    add(
        "karpenter",
        "Karpenter (AWS provider)",
        Some("1.14.1"),
        used(&k, "karpenter.sh").into_iter().chain(used(&k, "karpenter.k8s.aws")).collect(),
        vec![
            format!("the node IAM role KarpenterNodeRole-{} exists (EC2NodeClass `role`)", stack.cluster),
            format!(
                "subnets and security groups of cluster {} carry the tag karpenter.sh/discovery={}",
                stack.cluster, stack.cluster
            ),
        ],
    );
    add(
        "nvidia-device-plugin",
        "NVIDIA GPU Operator (or the NVIDIA device plugin with DCGM exporter)",
        None,
        gpu_users(stack),
        gpu_settings(stack),
    );
    add(
        "prometheus-operator",
        "prometheus-operator",
        Some("0.93.0"),
        used(&k, "monitoring.coreos.com"),
        vec![
            format!("Prometheus answers at {} (autoscalers and analyses query it)", stack.prometheus_url),
            "Prometheus selects the stack's ServiceMonitors and PrometheusRules (serviceMonitorSelector, ruleSelector)"
                .into(),
            "Prometheus runs in the namespace `monitoring` (the NetworkPolicies admit scrapes from there)".into(),
        ],
    );
    add(
        "argo-rollouts",
        "Argo Rollouts",
        Some("1.9.1"),
        used(&k, "argoproj.io"),
        vec!["the controller may read Prometheus (AnalysisTemplates query it)".into()],
    );
    add(
        "keda",
        "KEDA",
        Some("2.20.2"),
        used(&k, "keda.sh"),
        vec![format!("KEDA's operator may reach {}", stack.prometheus_url)],
    );
    add(
        "kueue",
        "Kueue",
        Some("0.19.2"),
        used(&k, "kueue.x-k8s.io"),
        vec!["kueue.x-k8s.io/v1beta2 is served; batch/Job integration is enabled".into()],
    );
    add(
        "gateway-api",
        "Gateway API CRDs (standard channel) and a Gateway controller",
        Some("1.5.1"),
        used(&k, "gateway.networking.k8s.io"),
        vec![format!("a Gateway `{}` in namespace {} accepts HTTPRoutes from it", stack.gateway, stack.namespace)],
    );
    add(
        "aws-load-balancer-controller",
        "AWS Load Balancer Controller",
        None,
        if has_kind(&k, "Ingress") { vec!["Ingress (networking.k8s.io/v1), class alb".into()] } else { Vec::new() },
        vec!["IngressClass `alb` exists; ACM holds a certificate for each hostname".into()],
    );
    add(
        "metrics-server",
        "metrics-server",
        None,
        if has_kind(&k, "HorizontalPodAutoscaler") {
            vec!["HorizontalPodAutoscaler (autoscaling/v2) on CPU".into()]
        } else {
            Vec::new()
        },
        vec!["the resource metrics API (metrics.k8s.io) is served".into()],
    );
    add(
        "network-policy",
        "A CNI that enforces NetworkPolicy (Amazon VPC CNI with network policy enabled, Calico, Cilium)",
        None,
        if has_kind(&k, "NetworkPolicy") { vec!["NetworkPolicy (networking.k8s.io/v1)".into()] } else { Vec::new() },
        vec!["NetworkPolicy is enforced; otherwise the default deny is not".into()],
    );
    add(
        "kubernetes",
        "Kubernetes",
        Some("1.30"),
        if stack.services.is_empty() { Vec::new() } else { vec!["preStop `sleep` hooks of serving pods".into()] },
        vec!["the PodLifecycleSleepAction feature is on (beta and on by default from 1.30, KEP-3960)".into()],
    );
    out
}

fn gpu_users(stack: &Stack) -> Vec<String> {
    if stack.services.is_empty() && stack.pipelines.is_empty() {
        return Vec::new();
    }
    vec!["pods requesting nvidia.com/gpu; DCGM_FI_DEV_* queries".into()]
}

fn gpu_settings(stack: &Stack) -> Vec<String> {
    let mut s = vec![
        "the device plugin, DCGM exporter and GPU feature discovery tolerate the taint nvidia.com/gpu:NoSchedule (their default)".into(),
        "GPU nodes are labelled nvidia.com/gpu.present=true or feature.node.kubernetes.io/pci-10de.present=true (GPU feature discovery / NFD), which the device plugin's default affinity needs".into(),
        "the DCGM exporter's ServiceMonitor is enabled with honorLabels: false (the default), so pod labels arrive as exported_pod/exported_namespace as the queries expect".into(),
    ];
    let shared: Vec<&str> = stack
        .pools
        .iter()
        .filter(|p| matches!(p.sharing, Sharing::TimeSlicing { .. }))
        .map(|p| p.cluster_name.as_str())
        .collect();
    if !shared.is_empty() {
        s.push(format!(
            "the device plugin reads ConfigMap {} in namespace {} (GPU Operator: ClusterPolicy spec.devicePlugin.config.name; plugin chart: config.name), which holds the keys {}; with several stacks, merge their keys into the one ConfigMap it reads",
            crate::emit::k8s::sharing_config_name(stack),
            stack.device_plugin_namespace,
            shared.join(", ")
        ));
    }
    if stack.pools.iter().any(|p| matches!(p.sharing, Sharing::Mig { .. })) {
        s.push(
            "the MIG manager applies the nvidia.com/mig.config label of MIG pools (GPU Operator mig.strategy: single)"
                .into(),
        );
    }
    s
}

/// `PREREQUISITES.md`.
pub fn markdown(stack: &Stack, list: &[Prereq]) -> String {
    let mut t = format!(
        "# Prerequisites of stack {}\n\nWhat cluster {} must run before this output is applied. `manifest.json` lists the same under `prerequisites`.\n",
        stack.name, stack.cluster
    );
    for p in list {
        let v = p
            .min_version
            .map_or("no minimum version verified".to_string(), |v| format!("{v} or later ({})", p.version_source));
        t.push_str(&format!("\n## {}\n\nVersion: {v}.\n\nNeeded by: {}.\n\n", p.name, p.needed_by.join(", ")));
        for s in &p.settings {
            t.push_str(&format!("- {s}\n"));
        }
    }
    t
}
