//! Pipelines as CronJobs (scheduled) or Jobs (on demand), admitted by Kueue queues that
//! hold the GPU quota of the pools they run on. Eval gates travel with the job as a
//! ConfigMap (the condition and its PromQL over the `aistack_eval_*` gauges it publishes).

use super::crd::*;
use super::workloads::{container_security, placement, pod_security, resources, shm_volume};
use super::{object_meta, skip_checks, Obj};
use crate::emit::promql::{self, Scope};
use crate::emit::serving::model_uri;
use crate::ir::{Engine, Pipeline, Stack};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::*;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::{BTreeMap, BTreeSet};

fn queue_name(stack: &Stack) -> String {
    format!("{}-gpu", crate::ir::lower::dns_name(&stack.name))
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value), ..Default::default() }
}

/// Nodes a job spans: whole nodes when it needs more GPUs than one node has.
pub fn job_nodes(stack: &Stack, p: &Pipeline) -> u32 {
    let per_node = stack.pools[p.pool].gpus_per_node.max(1);
    p.gpus.div_ceil(per_node).max(1)
}

/// Port the workers of a multi-node job rendezvous on (torchrun's default).
const RENDEZVOUS_PORT: i32 = 29500;

fn workers_service(p: &Pipeline) -> String {
    format!("{}-workers", p.meta.name)
}

fn job_spec(stack: &Stack, p: &Pipeline, gate: Option<&str>) -> JobSpec {
    let pool = &stack.pools[p.pool];
    let (node_selector, tolerations) = placement(pool);
    let nodes = job_nodes(stack, p);
    let gpus_per_pod = if nodes > 1 { pool.gpus_per_node } else { p.gpus.min(pool.gpus_per_node.max(1)) };
    let mut vars = vec![
        env("AISTACK_PIPELINE", p.meta.address.clone()),
        env("AISTACK_KIND", p.kind.clone()),
        env("HOME", "/tmp".into()),
        env("AWS_REGION", stack.region.clone()),
    ];
    let uri = |i: Option<usize>, models: bool| -> Option<String> {
        let i = i?;
        if models {
            stack.models.get(i).map(|m| model_uri(stack, m).0)
        } else {
            stack.datasets.get(i).and_then(|d| {
                let st = stack.storages.get(d.store)?;
                Some(format!(
                    "s3://{}/{}",
                    st.bucket.as_deref().unwrap_or(&st.meta.name),
                    d.path.trim_start_matches('/')
                ))
            })
        }
    };
    for (k, v) in [
        ("AISTACK_DATASET", uri(p.dataset, false)),
        ("AISTACK_BASE_MODEL", uri(p.base, true)),
        ("AISTACK_OUTPUT_MODEL", uri(p.produces, true)),
    ] {
        if let Some(v) = v {
            vars.push(env(k, v));
        }
    }
    let mut mounts = vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }];
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity("200Gi".into())), ..Default::default() }),
        ..Default::default()
    }];
    if gpus_per_pod > 1 || nodes > 1 {
        // NCCL's shared-memory transport needs more than the container runtime's 64 MiB.
        mounts.push(VolumeMount { name: "shm".into(), mount_path: "/dev/shm".into(), ..Default::default() });
        volumes.push(shm_volume(pool, gpus_per_pod));
    }
    if let Some(g) = gate {
        vars.push(env("AISTACK_GATE_FILE", "/etc/aistack/gate.json".into()));
        mounts.push(VolumeMount {
            name: "gate".into(),
            mount_path: "/etc/aistack".into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "gate".into(),
            config_map: Some(ConfigMapVolumeSource { name: g.into(), ..Default::default() }),
            ..Default::default()
        });
    }
    let mut labels = crate::emit::labels(stack, &p.meta);
    labels.insert("kueue.x-k8s.io/queue-name".into(), queue_name(stack));
    if nodes > 1 {
        // An Indexed Job, one pod per node; pod 0 of this run is the rendezvous point.
        let label = EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.labels['batch.kubernetes.io/job-name']".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        vars.push(EnvVar { name: "JOB_NAME".into(), value_from: Some(label), ..Default::default() });
        vars.push(env("MASTER_ADDR", format!("$(JOB_NAME)-0.{}", workers_service(p))));
        vars.push(env("MASTER_PORT", RENDEZVOUS_PORT.to_string()));
        vars.push(env("AISTACK_NODES", nodes.to_string()));
        vars.push(env("AISTACK_GPUS_PER_NODE", gpus_per_pod.to_string()));
    }
    let indexed = nodes > 1;
    JobSpec {
        completion_mode: indexed.then(|| "Indexed".to_string()),
        completions: indexed.then_some(nodes as i32),
        parallelism: indexed.then_some(nodes as i32),
        backoff_limit: Some(2),
        ttl_seconds_after_finished: Some(86_400),
        // Kueue admits the job when the pool's GPU quota allows it.
        suspend: Some(true),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
            spec: Some(PodSpec {
                restart_policy: Some("Never".into()),
                subdomain: indexed.then(|| workers_service(p)),
                service_account_name: Some(p.meta.name.clone()),
                automount_service_account_token: Some(false),
                security_context: Some(pod_security()),
                node_selector: Some(node_selector),
                tolerations: Some(tolerations),
                containers: vec![Container {
                    name: p.kind.replace('_', "-"),
                    image: Some(p.image.clone()),
                    image_pull_policy: Some("Always".into()),
                    env: Some(vars),
                    resources: Some(resources(pool, gpus_per_pod)),
                    security_context: Some(container_security()),
                    volume_mounts: Some(mounts),
                    ..Default::default()
                }],
                volumes: Some(volumes),
                ..Default::default()
            }),
        },
        ..Default::default()
    }
}

/// Jobs read their data and write their model through HTTPS (S3, registries) and DNS; they
/// accept no connections.
fn network_policy(stack: &Stack, p: &Pipeline) -> Obj {
    use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicySpec};
    let name = format!("{}-allow", p.meta.name);
    let np = NetworkPolicy {
        metadata: object_meta(stack, &p.meta, &name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(
                    [("aistack.dev/declaration".to_string(), crate::emit::label_value(&p.meta.name))].into(),
                ),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            // Workers of a multi-node job reach each other on the rendezvous port.
            ingress: Some(if job_nodes(stack, p) > 1 {
                vec![k8s_openapi::api::networking::v1::NetworkPolicyIngressRule {
                    from: Some(vec![k8s_openapi::api::networking::v1::NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(
                                [("aistack.dev/declaration".to_string(), crate::emit::label_value(&p.meta.name))]
                                    .into(),
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ports: None,
                }]
            } else {
                Vec::new()
            }),
            egress: Some(
                vec![
                    super::dns_egress(),
                    // Prometheus, where eval gates are read.
                    NetworkPolicyEgressRule { to: Some(vec![super::namespace_peer("monitoring")]), ports: None },
                    super::https_egress(),
                ]
                .into_iter()
                .chain(super::identity::agent_egress(stack))
                .collect(),
            ),
        }),
    };
    Obj::new("NetworkPolicy", &name, &np, vec![p.meta.full_address()])
}

fn skips(p: &Pipeline) -> Vec<(&'static str, String)> {
    let mut s = vec![
        ("CKV_K8S_8", "a batch job exits when done; it serves no liveness endpoint".to_string()),
        ("CKV_K8S_9", "a batch job serves no traffic, so it has no readiness endpoint".to_string()),
    ];
    if !p.image.contains("@sha256:") {
        s.push((
            "CKV_K8S_43",
            format!("image {} is pinned by tag; pin it as image@sha256:… in pipeline {}", p.image, p.meta.address),
        ));
    }
    s
}

pub fn emit(stack: &Stack, objs: &mut Vec<Obj>) {
    if stack.pipelines.is_empty() {
        return;
    }
    for p in &stack.pipelines {
        let name = &p.meta.name;
        objs.push(network_policy(stack, p));
        if job_nodes(stack, p) > 1 {
            // Stable DNS names for the workers: <job>-<index>.<name>-workers.
            let svc = Service {
                metadata: object_meta(stack, &p.meta, &workers_service(p)),
                spec: Some(ServiceSpec {
                    cluster_ip: Some("None".into()),
                    selector: Some(
                        [("aistack.dev/declaration".to_string(), crate::emit::label_value(&p.meta.name))].into(),
                    ),
                    ports: Some(vec![ServicePort {
                        name: Some("rendezvous".into()),
                        port: RENDEZVOUS_PORT,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            objs.push(Obj::new("Service", &workers_service(p), &svc, vec![p.meta.full_address()]));
        }
        let gate = p.gate.as_ref().map(|g| {
            let scope = Scope {
                engine: Engine::Vllm,
                namespace: stack.namespace.clone(),
                service: None,
                pipeline: Some(p.meta.name.clone()),
                pods: None,
                window: "5m",
            };
            let doc = serde_json::json!({ "condition": promql::describe(g), "promql": promql::holds(g, &scope) });
            let cm_name = format!("{name}-gate");
            let mut data = BTreeMap::new();
            data.insert(
                "gate.json".to_string(),
                format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()),
            );
            let cm =
                ConfigMap { metadata: object_meta(stack, &p.meta, &cm_name), data: Some(data), ..Default::default() };
            objs.push(Obj::new("ConfigMap", &cm_name, &cm, vec![p.meta.full_address()]));
            cm_name
        });
        let spec = job_spec(stack, p, gate.as_deref());
        let mut meta = object_meta(stack, &p.meta, name);
        meta.labels.get_or_insert_with(BTreeMap::new).insert("kueue.x-k8s.io/queue-name".into(), queue_name(stack));
        skip_checks(&mut meta, &skips(p));
        match &p.schedule {
            Some(cron) => {
                let cj = CronJob {
                    metadata: meta,
                    spec: Some(CronJobSpec {
                        schedule: cron.clone(),
                        time_zone: Some("Etc/UTC".into()),
                        concurrency_policy: Some("Forbid".into()),
                        successful_jobs_history_limit: Some(3),
                        failed_jobs_history_limit: Some(3),
                        // The Jobs the CronJob creates carry the queue label Kueue admits by.
                        job_template: JobTemplateSpec {
                            metadata: Some(ObjectMeta {
                                labels: Some([("kueue.x-k8s.io/queue-name".to_string(), queue_name(stack))].into()),
                                ..Default::default()
                            }),
                            spec: Some(spec),
                        },
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                objs.push(Obj::new("CronJob", name, &cj, vec![p.meta.full_address()]));
            }
            None => {
                let j = Job { metadata: meta, spec: Some(spec), ..Default::default() };
                objs.push(Obj::new("Job", name, &j, vec![p.meta.full_address()]));
            }
        }
    }
    kueue(stack, objs);
}

/// One ResourceFlavor per pool used by a pipeline, a ClusterQueue with the pools' GPU,
/// CPU and memory as quota, and the namespace's LocalQueue.
fn kueue(stack: &Stack, objs: &mut Vec<Obj>) {
    let pools: BTreeSet<usize> = stack.pipelines.iter().map(|p| p.pool).collect();
    let stack_meta = stack.meta();
    let sources: Vec<String> = stack.pipelines.iter().map(|p| p.meta.full_address()).collect();
    let mut flavors = Vec::new();
    for &i in &pools {
        let pool = &stack.pools[i];
        let (labels, tolerations) = placement(pool);
        let flavor = Object {
            api_version: "kueue.x-k8s.io/v1beta2",
            kind: "ResourceFlavor",
            metadata: ObjectMeta { namespace: None, ..object_meta(stack, &pool.meta, &pool.cluster_name) },
            spec: ResourceFlavorSpec { node_labels: labels, tolerations },
        };
        objs.push(Obj::new("ResourceFlavor", &pool.cluster_name, &flavor, vec![pool.meta.full_address()]));
        let nodes = u64::from(pool.nodes.1);
        flavors.push(FlavorQuotas {
            name: pool.cluster_name.clone(),
            resources: vec![
                FlavorResource { name: "cpu".into(), nominal_quota: (nodes * u64::from(pool.vcpus)).to_string() },
                FlavorResource {
                    name: "memory".into(),
                    nominal_quota: format!("{}Mi", (pool.memory_bytes / 1_048_576.0) as u64 * nodes),
                },
                FlavorResource {
                    name: "nvidia.com/gpu".into(),
                    nominal_quota: (nodes * u64::from(pool.gpus_per_node)).to_string(),
                },
            ],
        });
    }
    let name = queue_name(stack);
    let cq = Object {
        api_version: "kueue.x-k8s.io/v1beta2",
        kind: "ClusterQueue",
        metadata: ObjectMeta { namespace: None, ..object_meta(stack, &stack_meta, &name) },
        spec: ClusterQueueSpec {
            namespace_selector: LabelSelector {
                match_labels: Some([("kubernetes.io/metadata.name".to_string(), stack.namespace.clone())].into()),
                ..Default::default()
            },
            queueing_strategy: "BestEffortFIFO".into(),
            resource_groups: vec![ResourceGroup {
                covered_resources: vec!["cpu".into(), "memory".into(), "nvidia.com/gpu".into()],
                flavors,
            }],
        },
    };
    objs.push(Obj::new("ClusterQueue", &name, &cq, sources.clone()));
    let lq = Object {
        api_version: "kueue.x-k8s.io/v1beta2",
        kind: "LocalQueue",
        metadata: object_meta(stack, &stack_meta, &name),
        spec: LocalQueueSpec { cluster_queue: name.clone() },
    };
    objs.push(Obj::new("LocalQueue", &name, &lq, sources));
}
