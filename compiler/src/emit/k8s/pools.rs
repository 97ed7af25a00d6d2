//! GPU pools as Karpenter `NodePool` + `EC2NodeClass`, with the taints and labels the
//! workloads tolerate and select, and the NVIDIA device-plugin sharing configs.
//!
//! Cluster-scoped objects are named `<stack>-<pool>` ([`Pool::cluster_name`]), so stacks
//! sharing a cluster never overwrite each other. GPU nodes carry only the `nvidia.com/gpu`
//! NoSchedule taint: the NVIDIA device plugin and the GPU Operator's operands (DCGM
//! exporter, GFD) tolerate exactly that one by default (k8s-device-plugin
//! `deployments/helm/nvidia-device-plugin/values.yaml`, gpu-operator `values.yaml`
//! `daemonsets.tolerations`); any other NoSchedule taint keeps the plugin off the node and
//! the GPUs never become allocatable. Pods reach their own pool through the
//! `aistack.dev/pool` node label. Time-slicing configs go to the device plugin's namespace
//! (`stack.device_plugin_namespace`), one key per pool, which nodes select with the
//! `nvidia.com/device-plugin.config` label.

use super::crd::*;
use super::{object_meta, Obj};
use crate::ir::{Pool, Sharing, Stack};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;

fn tags(stack: &Stack, pool: &Pool) -> BTreeMap<String, String> {
    let mut t: BTreeMap<String, String> = stack.tags.clone();
    t.insert("managed-by".into(), "aistack".into());
    t.insert("aistack-stack".into(), stack.name.clone());
    t.insert("aistack-declaration".into(), pool.meta.full_address());
    t
}

/// Taints every node of the pool carries (the pods' tolerations mirror them): only the one
/// the GPU add-ons tolerate by default.
pub fn taints() -> Vec<Taint> {
    vec![Taint { key: GPU_TAINT.into(), value: None, effect: "NoSchedule".into() }]
}

/// The taint key of GPU nodes, tolerated by the NVIDIA device plugin and DCGM exporter.
pub const GPU_TAINT: &str = "nvidia.com/gpu";

/// How long Karpenter lets PodDisruptionBudgets hold a node drain.
pub const DRAIN_LIMIT: &str = "48h";

/// The node label pods select their pool by.
pub const POOL_LABEL: &str = "aistack.dev/pool";

/// Name of the ConfigMap holding the stack's time-slicing configs, in the device plugin's namespace.
pub fn sharing_config_name(stack: &Stack) -> String {
    crate::ir::lower::dns_name(&format!("{}-device-plugin-config", stack.name))
}

pub fn node_labels(pool: &Pool) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(POOL_LABEL.to_string(), pool.cluster_name.clone());
    match &pool.sharing {
        Sharing::TimeSlicing { .. } => {
            l.insert("nvidia.com/device-plugin.config".into(), pool.cluster_name.clone());
        }
        Sharing::Mig { profile } => {
            l.insert("nvidia.com/mig.config".into(), format!("all-{profile}"));
        }
        Sharing::None => {}
    }
    l
}

fn discovery(stack: &Stack) -> Vec<SelectorTerm> {
    vec![SelectorTerm { tags: [("karpenter.sh/discovery".to_string(), stack.cluster.clone())].into() }]
}

pub fn emit(stack: &Stack, objs: &mut Vec<Obj>) {
    for pool in &stack.pools {
        let name = &pool.cluster_name;
        let mut requirements = vec![
            Requirement {
                key: "node.kubernetes.io/instance-type".into(),
                operator: "In".into(),
                values: vec![pool.instance.clone()],
            },
            Requirement {
                key: "karpenter.sh/capacity-type".into(),
                operator: "In".into(),
                values: vec![if pool.spot { "spot" } else { "on-demand" }.into()],
            },
            Requirement { key: "kubernetes.io/arch".into(), operator: "In".into(), values: vec!["amd64".into()] },
        ];
        if !pool.zones.is_empty() {
            requirements.push(Requirement {
                key: "topology.kubernetes.io/zone".into(),
                operator: "In".into(),
                values: pool.zones.clone(),
            });
        }
        let mut limits = BTreeMap::new();
        limits.insert("nvidia.com/gpu".to_string(), (pool.nodes.1 * pool.gpus_per_node).to_string());
        let np = Object {
            api_version: "karpenter.sh/v1",
            kind: "NodePool",
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                namespace: None,
                ..object_meta(stack, &pool.meta, name)
            },
            spec: NodePoolSpec {
                template: NodeClaimTemplate {
                    metadata: NodeClaimMeta { labels: node_labels(pool) },
                    spec: NodeClaimSpec {
                        node_class_ref: NodeClassRef {
                            group: "karpenter.k8s.aws".into(),
                            kind: "EC2NodeClass".into(),
                            name: name.clone(),
                        },
                        requirements,
                        taints: taints(),
                        expire_after: "720h".into(),
                        // A drain waits this long for PodDisruptionBudgets (a one-replica
                        // service allows no eviction) before Karpenter deletes the pods, so
                        // expired nodes are cycled without waiting forever.
                        termination_grace_period: DRAIN_LIMIT.into(),
                    },
                },
                // Never evict running models to bin-pack: only empty nodes are removed.
                disruption: Disruption { consolidation_policy: "WhenEmpty".into(), consolidate_after: "10m".into() },
                limits,
            },
        };
        objs.push(Obj::new("NodePool", name, &np, vec![pool.meta.full_address()]));
        let mut ami = BTreeMap::new();
        ami.insert("alias".to_string(), stack.node_ami.clone());
        let nc = Object {
            api_version: "karpenter.k8s.aws/v1",
            kind: "EC2NodeClass",
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                namespace: None,
                ..object_meta(stack, &pool.meta, name)
            },
            spec: Ec2NodeClassSpec {
                ami_selector_terms: vec![ami],
                role: format!("KarpenterNodeRole-{}", stack.cluster),
                subnet_selector_terms: discovery(stack),
                security_group_selector_terms: discovery(stack),
                block_device_mappings: vec![BlockDeviceMapping {
                    device_name: "/dev/xvda".into(),
                    ebs: Ebs {
                        volume_size: "200Gi".into(),
                        volume_type: "gp3".into(),
                        encrypted: true,
                        delete_on_termination: true,
                    },
                }],
                // Local NVMe becomes the nodes' ephemeral storage: the model cache.
                instance_store_policy: Some("RAID0".into()),
                metadata_options: MetadataOptions {
                    http_endpoint: "enabled".into(),
                    http_protocol_i_pv6: "disabled".into(),
                    http_put_response_hop_limit: 1,
                    http_tokens: "required".into(),
                },
                tags: tags(stack, pool),
            },
        };
        objs.push(Obj::new("EC2NodeClass", name, &nc, vec![pool.meta.full_address()]));
    }
}

/// The NVIDIA device plugin's time-slicing configs, one key per shared pool.
pub fn sharing_configs(stack: &Stack, objs: &mut Vec<Obj>) {
    let mut sharing = BTreeMap::new();
    for pool in &stack.pools {
        let name = &pool.cluster_name;
        if let Sharing::TimeSlicing { replicas } = pool.sharing {
            let cfg = serde_json::json!({
                "version": "v1",
                "flags": { "migStrategy": "none" },
                "sharing": { "timeSlicing": { "renameByDefault": false, "failRequestsGreaterThanOne": false,
                    "resources": [{ "name": "nvidia.com/gpu", "replicas": replicas }] } },
            });
            sharing.insert(name.clone(), (crate::emit::yaml::to_string(&cfg), pool.meta.full_address()));
        }
    }
    if !sharing.is_empty() {
        // The NVIDIA device plugin reads one config per key from a ConfigMap in its own
        // namespace (GPU Operator: ClusterPolicy `devicePlugin.config.name`); nodes pick
        // theirs with the `nvidia.com/device-plugin.config` label the pool sets. Keys carry
        // the stack, so several stacks' keys can be merged into the one ConfigMap it reads.
        let sources: Vec<String> = sharing.values().map(|v| v.1.clone()).collect();
        let meta = stack.meta();
        let name = sharing_config_name(stack);
        let mut metadata = object_meta(stack, &meta, &name);
        metadata.namespace = Some(stack.device_plugin_namespace.clone());
        let cm = ConfigMap {
            metadata,
            data: Some(sharing.into_iter().map(|(k, v)| (k, v.0)).collect()),
            ..Default::default()
        };
        objs.push(Obj::new("ConfigMap", &name, &cm, sources));
    }
}
