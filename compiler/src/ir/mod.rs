//! The intermediate representation: a checked stack as plain, typed, provider-neutral data.
//!
//! Takes: an [`Analysis`](crate::check::Analysis) without errors (via [`lower`]). Gives: a
//! [`Stack`] whose quantities are in the units the targets use (seconds, bytes, dollars,
//! fractions), whose references are indices, and whose names are already safe for
//! Kubernetes (`name`) and Terraform (`ident`). Every emitter reads only this. Each
//! declaration's [`Meta`] keeps where it was written ([`DeclSpan`]: the file relative to the
//! root file's folder, a byte range and line/column), so what is built from it can point back
//! at the `.ai-stack` source.

pub mod lower;

pub use lower::lower;
use std::collections::BTreeMap;

/// Where a declaration is written: its file relative to the root file's folder (`/`
/// separators; a standard-library file keeps its own name), its byte range, and the 1-based
/// line and character column of its start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeclSpan {
    pub file: String,
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub col: u32,
}

/// Where an object came from: its kind and address in the stack, and the names derived from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// `service`, `gpu_pool`, …
    pub kind: &'static str,
    /// `chat` or `embed["us-east-1"]`.
    pub address: String,
    /// DNS-1123 label: `embed-us-east-1` (≤ 63 characters).
    pub name: String,
    /// Terraform identifier: `embed_us_east_1`.
    pub ident: String,
    /// The declaration in the source (`None` only for objects no declaration wrote).
    pub span: Option<DeclSpan>,
}

impl Stack {
    /// The stack itself as a declaration (`stack.<name>`), for what belongs to no other one.
    pub fn meta(&self) -> Meta {
        Meta {
            kind: "stack",
            address: self.name.clone(),
            name: lower::dns_name(&self.name),
            ident: lower::tf_ident(&self.name),
            span: self.span.clone(),
        }
    }
}

impl Meta {
    /// `service.embed["us-east-1"]`.
    pub fn full_address(&self) -> String {
        format!("{}.{}", self.kind, self.address)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    pub name: String,
    /// The `stack` declaration in the source.
    pub span: Option<DeclSpan>,
    pub region: String,
    pub cluster: String,
    pub namespace: String,
    pub tags: BTreeMap<String, String>,
    pub prometheus_url: String,
    pub node_ami: String,
    pub node_groups: bool,
    /// Gateway API Gateway for weighted (A/B) routes.
    pub gateway: String,
    /// Workload identity by IRSA (else EKS Pod Identity), and the account its role ARNs name.
    pub irsa: bool,
    pub account: Option<String>,
    /// Namespace of the NVIDIA device plugin, where its time-slicing ConfigMap lives.
    pub device_plugin_namespace: String,
    /// Names of the secret params; they reach outputs only as references.
    pub secrets: Vec<String>,
    pub storages: Vec<Storage>,
    pub models: Vec<Model>,
    pub datasets: Vec<Dataset>,
    pub pools: Vec<Pool>,
    pub services: Vec<Service>,
    pub pipelines: Vec<Pipeline>,
    pub cdns: Vec<Cdn>,
    pub policy: Option<Policy>,
    pub drs: Vec<Dr>,
    pub budgets: Vec<Budget>,
    pub monitors: Vec<Monitor>,
    pub rendered: Vec<Rendered>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Hot,
    Warm,
    Cold,
    Archive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    S3,
    FsxLustre,
    Efs,
    Nvme,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    Kms,
    AwsManaged,
    Off,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    pub meta: Meta,
    pub tier: Tier,
    pub backend: Backend,
    pub bucket: Option<String>,
    pub size_bytes: Option<f64>,
    pub versioned: bool,
    pub encryption: Encryption,
    /// (days after creation, tier to move to), in the order written.
    pub lifecycle: Vec<(u64, Tier)>,
    pub public: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub meta: Meta,
    pub store: usize,
    pub path: String,
    pub version: String,
    pub digest: Option<String>,
    pub format: String,
    pub parameters: f64,
    /// `bf16`, `fp8`, …
    pub precision: String,
    pub context_length: u64,
    /// `generate` or `embed`.
    pub task: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub meta: Meta,
    pub store: usize,
    pub path: String,
    pub version: String,
    pub digest: Option<String>,
    pub contains_pii: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Sharing {
    None,
    TimeSlicing { replicas: u32 },
    Mig { profile: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub meta: Meta,
    /// Cluster-wide name `<stack>-<pool>` (DNS-1123, ≤ 63 characters, hash-suffixed when
    /// cut): NodePool, EC2NodeClass, ResourceFlavor and the `aistack.dev/pool` node label
    /// carry it, so two stacks on one cluster never share or overwrite a pool.
    pub cluster_name: String,
    /// Enum variant, e.g. `H100_80GB`.
    pub gpu: String,
    /// Karpenter's `instance-gpu-name`, e.g. `h100`.
    pub gpu_label: String,
    pub gpu_memory_bytes: f64,
    pub gpus_per_node: u32,
    pub nodes: (u32, u32),
    pub spot: bool,
    pub sharing: Sharing,
    pub zones: Vec<String>,
    pub efa: bool,
    pub instance: String,
    pub price_per_hour: f64,
    pub vcpus: u32,
    pub memory_bytes: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Vllm,
    Triton,
    Tgi,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EnvValue {
    Plain(String),
    /// The name of a secret param.
    Secret(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rollout {
    AllAtOnce,
    Canary { steps: Vec<f64>, interval_s: u64, abort_when: Option<Cond> },
    BlueGreen { preview_s: u64, promote_when: Option<Cond> },
    Ab { variants: Vec<AbVariant>, sticky: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AbVariant {
    pub name: String,
    pub model: usize,
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Slo {
    pub p50_latency_s: Option<f64>,
    pub p95_latency_s: Option<f64>,
    pub p99_latency_s: Option<f64>,
    pub mean_latency_s: Option<f64>,
    pub time_to_first_token_s: Option<f64>,
    pub availability: Option<f64>,
    pub error_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Guard {
    /// Requests per second per client.
    pub rate_limit: Option<f64>,
    pub max_input_tokens: Option<u64>,
    pub block_prompts: Vec<String>,
    pub block_outputs: Vec<String>,
    pub redact_pii: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub meta: Meta,
    pub model: usize,
    pub pool: usize,
    pub engine: Engine,
    pub tensor_parallel: u32,
    pub replicas: (u32, u32),
    pub max_batch: u32,
    pub gpu_memory_utilization: f64,
    pub cache: Option<usize>,
    pub public: bool,
    pub autoscale: Option<Autoscale>,
    pub rollout: Rollout,
    pub slo: Slo,
    pub guard: Guard,
    pub env: Vec<(String, EnvValue)>,
    pub image: String,
    pub port: u16,
    pub hostname: Option<String>,
    /// Longest request, seconds: the preStop drain.
    pub request_timeout_s: u64,
    /// Extra vLLM arguments, dashed names (checked against vLLM's list), in written order.
    pub engine_args: Vec<(String, serde_json::Value)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Autoscale {
    pub when: Cond,
    pub cooldown_s: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub meta: Meta,
    /// `train`, `fine_tune`, `eval`, `batch`.
    pub kind: String,
    pub image: String,
    pub pool: usize,
    pub dataset: Option<usize>,
    pub base: Option<usize>,
    pub produces: Option<usize>,
    pub schedule: Option<String>,
    pub gate: Option<Cond>,
    pub gpus: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cdn {
    pub meta: Meta,
    pub origin: usize,
    pub ttl_s: u64,
    pub price_class: String,
    pub signed_urls: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub meta: Meta,
    pub encryption_required: bool,
    /// `tls12` or `tls13`.
    pub tls: String,
    pub default_deny: bool,
    pub audit: Option<(u64, usize)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Backup {
    pub targets: Vec<usize>,
    pub every_s: u64,
    pub retain_days: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dr {
    pub meta: Meta,
    pub rpo_s: u64,
    pub rto_s: u64,
    pub primary: String,
    pub secondary: String,
    pub replicate: Vec<usize>,
    pub backup: Option<Backup>,
    /// `Some` for automatic failover: (service checked, failure threshold).
    pub failover: Option<(Option<usize>, u32)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub meta: Meta,
    pub limit_per_month: f64,
    pub alerts: Vec<f64>,
    pub notify: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub name: String,
    pub when: Cond,
    pub for_s: u64,
    pub severity: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Drift {
    pub baseline: usize,
    pub method: String,
    pub threshold: f64,
    pub on_breach: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Monitor {
    pub meta: Meta,
    pub target: usize,
    pub alerts: Vec<Alert>,
    pub drift: Option<Drift>,
}

/// An instance of a user schema that names a template.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub meta: Meta,
    pub schema: String,
    /// Template path as written, relative to the file that declares the schema.
    pub template: std::path::PathBuf,
    /// The template's text (read at check time).
    pub source: String,
    /// The instance's fields as JSON (secrets appear as `{"secret": NAME}`).
    pub data: serde_json::Value,
}

/// A run-time condition, with constants in the units Prometheus uses (seconds, bytes,
/// fractions, per-second rates).
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Signal {
        namespace: String,
        name: String,
    },
    Num(f64),
    Bool(bool),
    /// `>`, `>=`, `<`, `<=`, `==`, `!=`.
    Cmp(String, Box<Cond>, Box<Cond>),
    /// `+`, `-`, `*`, `/`.
    Arith(String, Box<Cond>, Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Neg(Box<Cond>),
}
