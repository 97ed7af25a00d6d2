//! Serving workloads: for each service the engine ConfigMap, a Deployment
//! or an Argo Rollout (canary / blue-green with analyses compiled from the stack's
//! conditions), Services, a PodDisruptionBudget, a NetworkPolicy, a KEDA ScaledObject or an
//! HPA, an Ingress when public, and for A/B one Deployment per variant behind a weighted
//! HTTPRoute. Pods run as their workload's ServiceAccount ([`identity`](super::identity)).

use super::crd::*;
use super::{object_meta, skip_checks, Obj};
use crate::diag::{codes, Diagnostic};
use crate::emit::promql::{self, Scope};
use crate::emit::serving::{self, CACHE_DIR, CONFIG_DIR};
use crate::ir::{Engine, EnvValue, Model, Pool, Rollout, Service, Sharing, Stack};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::*;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Non-root user the engines run as (checkov CKV_K8S_40 wants a UID of 10000 or more).
pub const RUN_AS: i64 = 10001;
const METRICS_PORT: i32 = 8002;

pub fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Vllm => "vllm",
        Engine::Triton => "triton",
        Engine::Tgi => "tgi",
    }
}

/// Labels that select one workload's pods.
pub fn selector(stack: &Stack, name: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("app.kubernetes.io/name".to_string(), name.to_string());
    m.insert("aistack.dev/stack".to_string(), crate::emit::label_value(&stack.name));
    m
}

/// CPU (millicores) and memory (MiB) for `gpus` GPUs' share of a node, leaving a fifth of
/// the node to the system; shares of time-sliced GPUs split it further.
pub fn node_share(pool: &Pool, gpus: u32) -> (u64, u64) {
    let slices = match pool.sharing {
        Sharing::TimeSlicing { replicas } => replicas.max(1),
        _ => 1,
    };
    let per = f64::from(pool.gpus_per_node.max(1) * slices);
    let frac = f64::from(gpus) / per * 0.8;
    let cpu = (f64::from(pool.vcpus.max(1)) * frac * 1000.0).floor().max(250.0) as u64;
    let mem = (pool.memory_bytes / 1_048_576.0 * frac).floor().max(512.0) as u64;
    (cpu, mem)
}

pub fn resources(pool: &Pool, gpus: u32) -> ResourceRequirements {
    let (cpu, mem) = node_share(pool, gpus);
    let mut q = BTreeMap::new();
    q.insert("cpu".to_string(), Quantity(format!("{cpu}m")));
    q.insert("memory".to_string(), Quantity(format!("{mem}Mi")));
    q.insert("nvidia.com/gpu".to_string(), Quantity(gpus.to_string()));
    ResourceRequirements { limits: Some(q.clone()), requests: Some(q), ..Default::default() }
}

/// Pods land only on their pool's nodes: the pool label, and a toleration for its taint.
pub fn placement(pool: &Pool) -> (BTreeMap<String, String>, Vec<Toleration>) {
    let mut sel = BTreeMap::new();
    sel.insert(super::pools::POOL_LABEL.to_string(), pool.cluster_name.clone());
    let tolerations = vec![Toleration {
        key: Some(super::pools::GPU_TAINT.into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }];
    (sel, tolerations)
}

pub fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        privileged: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// `workload`'s secret params come from the Secret its ExternalSecret creates.
fn env_var(workload: &str, name: &str, v: &EnvValue) -> EnvVar {
    match v {
        EnvValue::Plain(s) => EnvVar { name: name.into(), value: Some(s.clone()), ..Default::default() },
        EnvValue::Secret(param) => EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: format!("{workload}-secrets"),
                    key: param.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}

fn empty_dir(name: &str, medium: Option<&str>, size: Option<String>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource { medium: medium.map(str::to_string), size_limit: size.map(Quantity) }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), read_only: Some(read_only), ..Default::default() }
}

/// The engine ConfigMap's data and how the pod mounts it.
fn engine_config(stack: &Stack, svc: &Service, model: &Model) -> (BTreeMap<String, String>, Vec<KeyToPath>) {
    let mut data = BTreeMap::new();
    let mut items = Vec::new();
    let mut view = svc.clone();
    view.model = stack.models.iter().position(|m| m == model).unwrap_or(svc.model);
    for (path, text) in serving::files(stack, &view) {
        let key = path.replace('/', "_");
        items.push(KeyToPath { key: key.clone(), path, mode: None });
        data.insert(key, text);
    }
    (data, items)
}

/// The pod template of one workload serving `model`.
fn pod_template(
    stack: &Stack,
    svc: &Service,
    model: &Model,
    name: &str,
    config: &str,
    (items, config_hash): (Vec<KeyToPath>, String),
) -> PodTemplateSpec {
    let pool = &stack.pools[svc.pool];
    let (node_selector, tolerations) = placement(pool);
    let mut labels = crate::emit::labels(stack, &svc.meta);
    labels.extend(selector(stack, name));
    let mut annotations = BTreeMap::new();
    annotations.insert("aistack.dev/model".to_string(), model.meta.full_address());
    annotations.insert("aistack.dev/model-version".to_string(), model.version.clone());
    if let Some(d) = &model.digest {
        annotations.insert("aistack.dev/model-digest".to_string(), d.clone());
    }
    annotations.insert("aistack.dev/config-hash".to_string(), config_hash);
    let onnx = svc.engine == Engine::Triton && serving::onnx(model);
    let mut env = vec![
        EnvVar { name: "HOME".into(), value: Some("/tmp".into()), ..Default::default() },
        EnvVar { name: "HF_HOME".into(), value: Some(format!("{CACHE_DIR}/huggingface")), ..Default::default() },
        EnvVar { name: "AWS_REGION".into(), value: Some(stack.region.clone()), ..Default::default() },
    ];
    if svc.engine == Engine::Tgi {
        env.extend(serving::tgi_env(stack, svc, model).into_iter().map(|(k, v)| EnvVar {
            name: k,
            value: Some(v),
            ..Default::default()
        }));
    }
    env.extend(svc.env.iter().map(|(k, v)| env_var(name, k, v)));
    let (command, args, health, live) = match svc.engine {
        Engine::Vllm => (None, vec!["--config".to_string(), format!("{CONFIG_DIR}/vllm.yaml")], "/health", "/health"),
        Engine::Triton => (
            Some(vec!["tritonserver".to_string()]),
            vec![
                if onnx {
                    format!("--model-repository={}", super::pinning::MODELS_DIR)
                } else {
                    format!("--model-repository={CONFIG_DIR}/model_repository")
                },
                format!("--http-port={}", svc.port),
                format!("--metrics-port={METRICS_PORT}"),
                // nv_inference_first_response_histogram_ms (time to first token) is opt-in.
                "--metrics-config=histogram_latencies=true".into(),
                "--allow-grpc=false".into(),
            ],
            "/v2/health/ready",
            "/v2/health/live",
        ),
        Engine::Tgi => (None, Vec::new(), "/health", "/health"),
    };
    let mut ports = vec![ContainerPort {
        name: Some("http".into()),
        container_port: i32::from(svc.port),
        protocol: Some("TCP".into()),
        ..Default::default()
    }];
    if svc.engine == Engine::Triton {
        ports.push(ContainerPort {
            name: Some("metrics".into()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    let mut mounts =
        vec![mount("config", CONFIG_DIR, true), mount("tmp", "/tmp", false), mount("cache", CACHE_DIR, false)];
    let cache_size = svc
        .cache
        .and_then(|c| stack.storages.get(c))
        .and_then(|s| s.size_bytes)
        .map(|b| format!("{}Gi", (b / 1_073_741_824.0).ceil() as u64));
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource { name: config.into(), items: Some(items), ..Default::default() }),
            ..Default::default()
        },
        empty_dir("tmp", None, Some("10Gi".into())),
        empty_dir("cache", None, Some(cache_size.unwrap_or_else(|| "200Gi".into()))),
    ];
    if svc.tensor_parallel > 1 {
        mounts.push(mount("shm", "/dev/shm", false));
        volumes.push(shm_volume(pool, svc.tensor_parallel));
    }
    if onnx {
        mounts.push(mount("models", super::pinning::MODELS_DIR, true));
        volumes.push(empty_dir("models", None, Some("50Gi".into())));
    }
    let init = super::pinning::init_container(stack, svc, model);
    let container = Container {
        name: engine_name(svc.engine).into(),
        image: Some(svc.image.clone()),
        image_pull_policy: Some("Always".into()),
        command,
        args: if args.is_empty() { None } else { Some(args) },
        ports: Some(ports),
        env: Some(env),
        resources: Some(resources(pool, svc.tensor_parallel)),
        // Loading weights takes minutes: the startup probe allows 30 of them.
        startup_probe: Some(probe(health, 10, 180)),
        readiness_probe: Some(probe(health, 10, 3)),
        liveness_probe: Some(probe(live, 20, 3)),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        lifecycle: Some(drain(svc)),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels), annotations: Some(annotations), ..Default::default() }),
        spec: Some(PodSpec {
            service_account_name: Some(name.to_string()),
            automount_service_account_token: Some(false),
            security_context: Some(pod_security()),
            node_selector: Some(node_selector),
            tolerations: Some(tolerations),
            init_containers: init.map(|c| vec![c]),
            containers: vec![container],
            volumes: Some(volumes),
            termination_grace_period_seconds: Some(grace_period(svc)),
            ..Default::default()
        }),
    }
}

/// GiB of `/dev/shm` per GPU of a multi-GPU pod (NCCL's shared-memory transport).
pub const SHM_PER_GPU_GIB: u64 = 8;

/// A memory-backed `/dev/shm` for a pod with `gpus` GPUs: 8 GiB per GPU, at most half the
/// pod's memory limit (a Memory emptyDir counts against it).
pub fn shm_volume(pool: &Pool, gpus: u32) -> Volume {
    let (_, mem_mib) = node_share(pool, gpus);
    let gib = (u64::from(gpus) * SHM_PER_GPU_GIB).min(mem_mib / 2048).max(1);
    empty_dir("shm", Some("Memory"), Some(format!("{gib}Gi")))
}

/// Seconds the engine gets to exit after its drain.
const SHUTDOWN_S: i64 = 30;

/// A stopping pod keeps serving for the request timeout before the engine gets SIGTERM:
/// the endpoint is removed from the Service meanwhile and requests in flight finish. The
/// `sleep` action needs no binary in the image (Kubernetes >= 1.30, KEP-3960).
fn drain(svc: &Service) -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction { seconds: svc.request_timeout_s as i64 }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `terminationGracePeriodSeconds`: the drain plus time for the engine to exit.
pub fn grace_period(svc: &Service) -> i64 {
    svc.request_timeout_s as i64 + SHUTDOWN_S
}

/// checkov checks a serving workload cannot satisfy, with the reason.
fn workload_skips(svc: &Service) -> Vec<(&'static str, String)> {
    let mut skips = Vec::new();
    if !svc.image.contains("@sha256:") {
        skips.push((
            "CKV_K8S_43",
            format!(
                "image {} is pinned by tag; set `image` on service {} to pin a digest",
                svc.image, svc.meta.address
            ),
        ));
    }
    if svc.env.iter().any(|(_, v)| matches!(v, EnvValue::Secret(_))) {
        skips.push((
            "CKV_K8S_35",
            format!(
                "the engine reads its credentials from the environment; service {}'s ExternalSecret syncs the value from AWS Secrets Manager",
                svc.meta.address
            ),
        ));
    }
    skips
}

fn service_object(stack: &Stack, svc: &Service, name: &str, select: &str) -> Obj {
    let mut ports = vec![ServicePort {
        name: Some("http".into()),
        port: i32::from(svc.port),
        target_port: Some(IntOrString::String("http".into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }];
    if svc.engine == Engine::Triton {
        ports.push(ServicePort {
            name: Some("metrics".into()),
            port: METRICS_PORT,
            target_port: Some(IntOrString::String("metrics".into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    let s = k8s_openapi::api::core::v1::Service {
        metadata: object_meta(stack, &svc.meta, name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(stack, select)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    };
    Obj::new("Service", name, &s, vec![svc.meta.full_address()])
}

fn deployment(
    stack: &Stack,
    svc: &Service,
    name: &str,
    replicas: u32,
    template: PodTemplateSpec,
    sources: Vec<String>,
) -> Obj {
    let mut meta = object_meta(stack, &svc.meta, name);
    skip_checks(&mut meta, &workload_skips(svc));
    let d = Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas as i32),
            revision_history_limit: Some(5),
            selector: LabelSelector { match_labels: Some(selector(stack, name)), ..Default::default() },
            // `all_at_once`: every replica moves to the new version in one rollout, but one at
            // a time, a new pod Ready before an old one stops, so serving never pauses. The
            // surge pod needs one replica's GPUs free (or a node Karpenter can add); without
            // them the rollout waits and the old pods keep serving.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template,
            ..Default::default()
        }),
        ..Default::default()
    };
    Obj::new("Deployment", name, &d, sources)
}

fn analysis(
    stack: &Stack,
    svc: &Service,
    name: &str,
    metric: &str,
    holds: &str,
    success: bool,
    count: Option<i32>,
) -> Obj {
    let cond =
        if success { (Some("result[0] == 1".to_string()), None) } else { (None, Some("result[0] == 1".to_string())) };
    let t = Object {
        api_version: "argoproj.io/v1alpha1",
        kind: "AnalysisTemplate",
        metadata: object_meta(stack, &svc.meta, name),
        spec: AnalysisTemplateSpec {
            metrics: vec![AnalysisMetric {
                name: metric.into(),
                interval: "1m".into(),
                count,
                success_condition: cond.0,
                failure_condition: cond.1,
                failure_limit: 0,
                provider: MetricProvider {
                    prometheus: PrometheusMetric { address: stack.prometheus_url.clone(), query: holds.into() },
                },
            }],
        },
    };
    Obj::new("AnalysisTemplate", name, &t, vec![svc.meta.full_address()])
}

fn rollout(stack: &Stack, svc: &Service, template: PodTemplateSpec, strategy: RolloutStrategy) -> Obj {
    let name = &svc.meta.name;
    let mut meta = object_meta(stack, &svc.meta, name);
    skip_checks(&mut meta, &workload_skips(svc));
    let r = Object {
        api_version: "argoproj.io/v1alpha1",
        kind: "Rollout",
        metadata: meta,
        spec: RolloutSpec {
            replicas: svc.replicas.0.max(1) as i32,
            revision_history_limit: 5,
            progress_deadline_seconds: 3600,
            selector: LabelSelector { match_labels: Some(selector(stack, name)), ..Default::default() },
            template,
            strategy,
        },
    };
    Obj::new("Rollout", name, &r, vec![svc.meta.full_address(), stack.models[svc.model].meta.full_address()])
}

/// Voluntary evictions (node drains, Karpenter disruption) never take the last healthy
/// replica: with two or more replicas one may go at a time; with one, none may (`minAvailable:
/// 1`), so a drain waits for a second replica or for the NodePool's `terminationGracePeriod`.
/// Unhealthy pods may always be evicted (`unhealthyPodEvictionPolicy: AlwaysAllow`), so a
/// pod that never became Ready cannot block a drain. Rollouts replace pods through their
/// controller, not evictions, so the budget never blocks a replacement.
fn pdb(stack: &Stack, svc: &Service, name: &str, replicas: u32) -> Obj {
    let (min_available, max_unavailable) =
        if replicas >= 2 { (None, Some(IntOrString::Int(1))) } else { (Some(IntOrString::Int(1)), None) };
    let p = PodDisruptionBudget {
        metadata: object_meta(stack, &svc.meta, name),
        spec: Some(PodDisruptionBudgetSpec {
            min_available,
            max_unavailable,
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            selector: Some(LabelSelector { match_labels: Some(selector(stack, name)), ..Default::default() }),
        }),
        ..Default::default()
    };
    Obj::new("PodDisruptionBudget", name, &p, vec![svc.meta.full_address()])
}

/// Ingress on the serving port (from anywhere when public; else from the namespace and
/// the monitoring namespace), egress to DNS and HTTPS (object storage, model hubs, STS).
fn network_policy(stack: &Stack, svc: &Service, select: &str) -> Obj {
    let name = format!("{select}-allow");
    let ns = super::namespace_peer;
    let mut ports = vec![NetworkPolicyPort {
        port: Some(IntOrString::String("http".into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }];
    if svc.engine == Engine::Triton {
        ports.push(NetworkPolicyPort {
            port: Some(IntOrString::String("metrics".into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    let from = if svc.public { None } else { Some(vec![ns(&stack.namespace), ns("monitoring")]) };
    let np = NetworkPolicy {
        metadata: object_meta(stack, &svc.meta, &name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(selector(stack, select)), ..Default::default() }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule { from, ports: Some(ports) }]),
            egress: Some(
                [super::dns_egress(), super::https_egress()]
                    .into_iter()
                    .chain(super::identity::agent_egress(stack))
                    .collect(),
            ),
        }),
    };
    Obj::new("NetworkPolicy", &name, &np, vec![svc.meta.full_address()])
}

/// KEDA for `autoscale` (one Prometheus trigger per `signal > value`: additive signals such
/// as queue depth are targets per replica, latencies and ratios are compared as they are),
/// else an HPA on CPU when the replica count is a range.
fn autoscaler(
    stack: &Stack,
    svc: &Service,
    name: &str,
    replicas: (u32, u32),
    kind: (&str, &str),
    diags: &mut Vec<Diagnostic>,
) -> Option<Obj> {
    let (min, max) = replicas;
    let name = &name.to_string();
    match &svc.autoscale {
        Some(a) => {
            let scope = Scope::service(svc.engine, &stack.namespace, name);
            let Some(triggers) = promql::scale_triggers(&a.when, &scope) else {
                diags.push(Diagnostic::sourceless(
                    codes::AUTOSCALE_SHAPE,
                    format!(
                        "service {}: autoscale.when must be `signal > value`, or several joined with ||",
                        svc.meta.address
                    ),
                ));
                return None;
            };
            let triggers = triggers
                .into_iter()
                .enumerate()
                .map(|(i, (signal, query, threshold))| {
                    let mut md = BTreeMap::new();
                    md.insert("serverAddress".to_string(), stack.prometheus_url.clone());
                    md.insert("query".to_string(), query);
                    md.insert("threshold".to_string(), crate::check::value::trim_float(threshold));
                    let metric_type = if promql::additive(&signal) { "AverageValue" } else { "Value" };
                    ScaleTrigger {
                        type_: "prometheus".into(),
                        name: format!("when-{}", i + 1),
                        metric_type: metric_type.into(),
                        metadata: md,
                    }
                })
                .collect();
            let so = Object {
                api_version: "keda.sh/v1alpha1",
                kind: "ScaledObject",
                metadata: object_meta(stack, &svc.meta, name),
                spec: ScaledObjectSpec {
                    scale_target_ref: ScaleTargetRef {
                        api_version: kind.0.into(),
                        kind: kind.1.into(),
                        name: name.clone(),
                    },
                    polling_interval: 15,
                    cooldown_period: a.cooldown_s.max(1) as i32,
                    min_replica_count: min as i32,
                    max_replica_count: max.max(1) as i32,
                    triggers,
                },
            };
            Some(Obj::new("ScaledObject", name, &so, vec![svc.meta.full_address()]))
        }
        None if max > min => {
            let h = HorizontalPodAutoscaler {
                metadata: object_meta(stack, &svc.meta, name),
                spec: Some(HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some(kind.0.into()),
                        kind: kind.1.into(),
                        name: name.clone(),
                    },
                    min_replicas: Some(min.max(1) as i32),
                    max_replicas: max as i32,
                    metrics: Some(vec![MetricSpec {
                        type_: "Resource".into(),
                        resource: Some(ResourceMetricSource {
                            name: "cpu".into(),
                            target: MetricTarget {
                                type_: "Utilization".into(),
                                average_utilization: Some(80),
                                ..Default::default()
                            },
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            Some(Obj::new("HorizontalPodAutoscaler", name, &h, vec![svc.meta.full_address()]))
        }
        None => None,
    }
}

/// The ALB in front of a public service. With `hostname`: HTTPS on 443 with the ACM
/// certificate discovered by host name. Without one (the documented default) no certificate
/// can be found or issued (ACM cannot certify the ALB's own `*.elb.amazonaws.com` name), so the
/// ALB answers plain HTTP on 80 on its generated DNS name, for trying a stack out; the WAF
/// still attaches. The idle timeout is the service's `request_timeout`, so a long generation
/// is not cut at the ALB's default 60 s.
fn ingress(stack: &Stack, svc: &Service) -> Obj {
    let host = svc.hostname.clone();
    let mut meta = object_meta(stack, &svc.meta, &svc.meta.name);
    let ann = meta.annotations.get_or_insert_with(BTreeMap::new);
    // AWS Load Balancer Controller: an internet-facing ALB; Terraform attaches the WAF web ACL.
    ann.insert("alb.ingress.kubernetes.io/scheme".into(), "internet-facing".into());
    ann.insert("alb.ingress.kubernetes.io/target-type".into(), "ip".into());
    let listen = if host.is_some() { "[{\"HTTPS\":443}]" } else { "[{\"HTTP\":80}]" };
    ann.insert("alb.ingress.kubernetes.io/listen-ports".into(), listen.into());
    if host.is_some() {
        ann.insert("alb.ingress.kubernetes.io/ssl-policy".into(), "ELBSecurityPolicy-TLS13-1-2-2021-06".into());
    }
    ann.insert(
        "alb.ingress.kubernetes.io/load-balancer-attributes".into(),
        format!("idle_timeout.timeout_seconds={}", idle_timeout(svc)),
    );
    ann.insert(
        "alb.ingress.kubernetes.io/healthcheck-path".into(),
        if svc.engine == Engine::Triton { "/v2/health/ready" } else { "/health" }.into(),
    );
    let i = Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: Some("alb".into()),
            tls: host.clone().map(|h| vec![IngressTLS { hosts: Some(vec![h]), secret_name: None }]),
            rules: Some(vec![IngressRule {
                host,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: svc.meta.name.clone(),
                                port: Some(ServiceBackendPort { name: Some("http".into()), number: None }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Obj::new("Ingress", &svc.meta.name, &i, vec![svc.meta.full_address()])
}

/// ALB idle timeout, seconds: the request timeout, within the ALB's 1..=4000 s.
pub fn idle_timeout(svc: &Service) -> u64 {
    svc.request_timeout_s.clamp(1, 4000)
}

fn config_map(stack: &Stack, svc: &Service, name: &str, data: BTreeMap<String, String>, sources: Vec<String>) -> Obj {
    let cm = ConfigMap { metadata: object_meta(stack, &svc.meta, name), data: Some(data), ..Default::default() };
    Obj::new("ConfigMap", name, &cm, sources)
}

pub fn emit(stack: &Stack, objs: &mut Vec<Obj>, diags: &mut Vec<Diagnostic>) {
    for svc in &stack.services {
        let Some(model) = stack.models.get(svc.model) else { continue };
        let name = svc.meta.name.clone();
        let sources = vec![svc.meta.full_address(), model.meta.full_address()];
        if let Rollout::Ab { variants, .. } = &svc.rollout {
            ab(stack, svc, variants, objs, diags);
            continue;
        }
        let config = format!("{name}-engine");
        let (data, items) = engine_config(stack, svc, model);
        let hash = super::pinning::config_hash(&data);
        objs.push(config_map(stack, svc, &config, data, sources.clone()));
        let template = pod_template(stack, svc, model, &name, &config, (items, hash));
        let kind = match &svc.rollout {
            Rollout::Canary { steps, interval_s, abort_when } => {
                let mut st: Vec<CanaryStep> = Vec::new();
                for (i, w) in steps.iter().enumerate() {
                    st.push(CanaryStep { set_weight: Some((w * 100.0).round() as i32), pause: None });
                    if i + 1 < steps.len() {
                        st.push(CanaryStep {
                            set_weight: None,
                            pause: Some(Pause { duration: format!("{interval_s}s") }),
                        });
                    }
                }
                // Argo Rollouts points `<svc>-canary` at the new pods only (it adds their
                // pod-template hash to the selector), so the abort analysis reads the canary's
                // series, not the stable pods' with them. Pods of both share the Rollout's
                // name, so per-pod (DCGM) signals still read both.
                let canary = format!("{name}-canary");
                objs.push(service_object(stack, svc, &canary, &name));
                let canary_scope =
                    Scope { pods: Some(name.clone()), ..Scope::service(svc.engine, &stack.namespace, &canary) };
                let analysis_ref = abort_when.as_ref().map(|c| {
                    let t = format!("{name}-abort");
                    objs.push(analysis(stack, svc, &t, "abort-when", &promql::holds(c, &canary_scope), false, None));
                    RolloutAnalysis { templates: vec![TemplateRef { template_name: t }] }
                });
                let strategy = RolloutStrategy {
                    canary: Some(CanaryStrategy {
                        canary_service: canary,
                        stable_service: name.clone(),
                        steps: st,
                        analysis: analysis_ref,
                        max_surge: 1,
                        max_unavailable: 0,
                    }),
                    blue_green: None,
                };
                objs.push(rollout(stack, svc, template, strategy));
                ("argoproj.io/v1alpha1", "Rollout")
            }
            Rollout::BlueGreen { preview_s, promote_when } => {
                let preview = format!("{name}-preview");
                objs.push(service_object(stack, svc, &preview, &name));
                let pre = promote_when.as_ref().map(|c| {
                    let t = format!("{name}-promote");
                    let count = ((*preview_s / 60).max(1)) as i32;
                    // The new version answers on the preview Service until it is promoted.
                    // Rollout pods are named after the Rollout, whichever Service points at them.
                    let preview_scope = Scope {
                        pods: Some(name.clone()),
                        ..Scope::service(svc.engine, &stack.namespace, &format!("{name}-preview"))
                    };
                    objs.push(analysis(
                        stack,
                        svc,
                        &t,
                        "promote-when",
                        &promql::holds(c, &preview_scope),
                        true,
                        Some(count),
                    ));
                    RolloutAnalysis { templates: vec![TemplateRef { template_name: t }] }
                });
                let strategy = RolloutStrategy {
                    canary: None,
                    blue_green: Some(BlueGreenStrategy {
                        active_service: name.clone(),
                        preview_service: preview,
                        auto_promotion_enabled: true,
                        auto_promotion_seconds: Some(*preview_s as i32),
                        pre_promotion_analysis: pre,
                        scale_down_delay_seconds: 300,
                    }),
                };
                objs.push(rollout(stack, svc, template, strategy));
                ("argoproj.io/v1alpha1", "Rollout")
            }
            _ => {
                objs.push(deployment(stack, svc, &name, svc.replicas.0.max(1), template, sources.clone()));
                ("apps/v1", "Deployment")
            }
        };
        objs.push(service_object(stack, svc, &name, &name));
        objs.push(pdb(stack, svc, &name, svc.replicas.0.max(1)));
        objs.push(network_policy(stack, svc, &name));
        if let Some(a) = autoscaler(stack, svc, &name, svc.replicas, kind, diags) {
            objs.push(a);
        }
        if svc.public {
            objs.push(ingress(stack, svc));
        }
    }
}

/// A/B: one Deployment, ConfigMap and Service per variant, and an HTTPRoute that splits
/// traffic by the variants' weights.
fn ab(
    stack: &Stack,
    svc: &Service,
    variants: &[crate::ir::AbVariant],
    objs: &mut Vec<Obj>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut backends = Vec::new();
    for (v, (name, _)) in variants.iter().zip(serving::workloads(svc)) {
        let Some(model) = stack.models.get(v.model) else { continue };
        let config = format!("{name}-engine");
        let sources = vec![svc.meta.full_address(), model.meta.full_address()];
        let (data, items) = engine_config(stack, svc, model);
        let hash = super::pinning::config_hash(&data);
        objs.push(config_map(stack, svc, &config, data, sources.clone()));
        let replicas = ((f64::from(svc.replicas.0.max(1)) * v.weight).ceil() as u32).max(1);
        let template = pod_template(stack, svc, model, &name, &config, (items, hash));
        objs.push(deployment(stack, svc, &name, replicas, template, sources));
        // Each variant scales on its own share of the traffic.
        let share = |n: u32| if n == 0 { 0 } else { ((f64::from(n) * v.weight).ceil() as u32).max(1) };
        if let Some(a) = autoscaler(
            stack,
            svc,
            &name,
            (share(svc.replicas.0), share(svc.replicas.1)),
            ("apps/v1", "Deployment"),
            diags,
        ) {
            objs.push(a);
        }
        objs.push(service_object(stack, svc, &name, &name));
        objs.push(pdb(stack, svc, &name, replicas));
        objs.push(network_policy(stack, svc, &name));
        backends.push(BackendRef { name, port: i32::from(svc.port), weight: (v.weight * 100.0).round() as i32 });
    }
    let route = Object {
        api_version: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: object_meta(stack, &svc.meta, &svc.meta.name),
        spec: HttpRouteSpec {
            parent_refs: vec![ParentRef { name: stack.gateway.clone() }],
            rules: vec![HttpRouteRule { backend_refs: backends }],
        },
    };
    objs.push(Obj::new("HTTPRoute", &svc.meta.name, &route, vec![svc.meta.full_address()]));
}
