//! Domain rules over the evaluated stack (brief §6): model memory fit, tensor parallelism,
//! rollouts, disaster recovery, worst-case budget, GPU shapes, unique bucket names, artifact
//! stores and storage the outputs cannot use (a cdn origin, the audit store).
//!
//! Takes: the [`StackView`] (evaluated records, read only) after every declaration was
//! evaluated. Gives: E04xx errors and W04xx warnings that name the figures in the user's
//! terms. Each pass is registered in [`super::policy::RULES`]; the built-in policy rules are
//! in [`super::policy::builtin`].

use super::policy::StackView;
use super::types::Dim;
use super::value::{format_duration, format_money, format_size, DeclId, Record, Value};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Upper envelope of KV-cache bytes per token per byte of precision, as a multiple of
/// sqrt(parameters), fitted over Llama-family GQA shapes (1.1B, 8B, 32B, 70B: 0.34, 0.73,
/// 0.72 and 0.62). Used only when a model omits layers/kv_heads/head_dim.
pub const KV_ESTIMATE_PER_SQRT_PARAM: f64 = 0.75;
/// S3 Replication Time Control replicates 99.99 % of objects within 15 minutes.
pub const REPLICATION_BOUND_MS: f64 = 15.0 * 60e3;
/// The AWS Backup rule's start and completion windows we emit (60 and 180 minutes): a backup
/// may start an hour late and take three hours, so the newest recovery point can be this much
/// older than its schedule.
pub const BACKUP_WINDOWS_MS: f64 = 4.0 * MS_PER_HOUR;
/// The shortest backup interval the `backup` schema accepts.
const MIN_BACKUP_EVERY_MS: f64 = MS_PER_HOUR;
pub const HOURS_PER_MONTH: f64 = 730.0;
const MS_PER_HOUR: f64 = 3_600e3;

/// Bytes per parameter of each precision variant.
pub fn precision_bytes(name: &str) -> Option<f64> {
    Some(match name {
        "fp32" => 4.0,
        "bf16" | "fp16" => 2.0,
        "fp8" | "int8" => 1.0,
        "int4" => 0.5,
        _ => return None,
    })
}

/// Memory needed by a model: weights, and the KV cache of one full-context sequence.
pub struct ModelMemory {
    pub weights: f64,
    pub kv_per_token: f64,
    pub kv_estimated: bool,
    pub context: f64,
}

impl ModelMemory {
    pub fn kv_sequence(&self) -> f64 {
        self.kv_per_token * self.context
    }
}

/// The fit rule's arithmetic (shared with tests that check it against the H100 calibration).
pub fn model_memory(parameters: f64, bytes: f64, context: f64, shape: Option<(f64, f64, f64)>) -> ModelMemory {
    let weights = parameters * bytes;
    let (kv_per_token, kv_estimated) = match shape {
        Some((layers, kv_heads, head_dim)) => (2.0 * layers * kv_heads * head_dim * bytes, false),
        None => (KV_ESTIMATE_PER_SQRT_PARAM * parameters.sqrt() * bytes, true),
    };
    ModelMemory { weights, kv_per_token, kv_estimated, context }
}

#[derive(Clone)]
pub(super) struct GpuFacts {
    pub(super) name: String,
    pub(super) memory: f64,
    mig: bool,
    fp8: bool,
}

struct Offer {
    gpu: usize,
    gpus: i64,
    instance: String,
    /// Cents per millisecond.
    price: f64,
}

pub struct Catalog {
    gpus: HashMap<usize, GpuFacts>,
    offers: Vec<Offer>,
}

impl Catalog {
    fn offer(&self, gpu: usize, gpus: i64) -> Option<&Offer> {
        self.offers.iter().find(|o| o.gpu == gpu && o.gpus == gpus)
    }
}

pub(super) fn field<'r>(r: &'r Record, name: &str) -> Option<&'r Value> {
    r.get(name)
}
pub(super) fn int(r: &Record, name: &str) -> Option<i64> {
    field(r, name).and_then(Value::as_int)
}
pub(super) fn float(r: &Record, name: &str) -> Option<f64> {
    field(r, name).and_then(Value::as_f64)
}
pub(super) fn range(r: &Record, name: &str) -> Option<(f64, f64)> {
    let (a, b) = field(r, name)?.as_range()?;
    Some((a.as_f64()?, b.as_f64()?))
}
pub(super) fn span(r: &Record, name: &str, or: Span) -> Span {
    r.span_of(name).unwrap_or(or)
}
pub(super) fn variant(c: &StackView, v: Option<&Value>) -> Option<(String, Option<Rc<Record>>)> {
    match v? {
        Value::Enum(e, i, p) => Some((c.prog.types.enum_(*e).variants[*i].name.clone(), p.clone())),
        _ => None,
    }
}
pub(super) fn variant_index(v: Option<&Value>) -> Option<usize> {
    match v? {
        Value::Enum(_, i, _) => Some(*i),
        _ => None,
    }
}
pub(super) fn ref_of(v: Option<&Value>) -> Option<DeclId> {
    match v? {
        Value::Ref(d) => Some(*d),
        _ => None,
    }
}

pub(super) fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / 1_073_741_824.0)
}

impl StackView<'_> {
    pub fn catalog(&self) -> Catalog {
        let mut gpus = HashMap::new();
        for (id, r) in self.active_of("gpu_model") {
            if let (Some(g), Some(Value::Qty(mem, Dim::SIZE))) = (variant_index(field(&r, "gpu")), field(&r, "memory"))
            {
                let name = variant(self, field(&r, "gpu")).map(|v| v.0).unwrap_or_else(|| self.addr(id));
                let flag = |f: &str| matches!(field(&r, f), Some(Value::Bool(true)));
                gpus.insert(g, GpuFacts { name, memory: *mem, mig: flag("mig"), fp8: flag("fp8") });
            }
        }
        let mut offers = Vec::new();
        for (_, r) in self.active_of("gpu_offer") {
            if let (Some(g), Some(n), Some(Value::Str(inst)), Some(Value::Qty(p, Dim::MONEY_RATE))) =
                (variant_index(field(&r, "gpu")), int(&r, "gpus"), field(&r, "instance"), field(&r, "price"))
            {
                offers.push(Offer { gpu: g, gpus: n, instance: inst.to_string(), price: *p });
            }
        }
        Catalog { gpus, offers }
    }

    /// IRSA puts each role's ARN in a ServiceAccount annotation, which needs the account ID.
    pub(super) fn identity_rules(&mut self) {
        for (id, st) in self.active_of("stack") {
            let irsa = variant(self, field(&st, "identity")).is_some_and(|v| v.0 == "irsa");
            if irsa && matches!(field(&st, "account"), None | Some(Value::None)) {
                let at = span(&st, "identity", self.decl_span(id));
                self.error(
                    Diagnostic::error(codes::IRSA_ACCOUNT, at, "`identity = irsa` needs the stack's `account`")
                        .with_primary_label("IRSA role ARNs are written into ServiceAccount annotations")
                        .with_help("set `account = \"123456789012\"` (the 12-digit AWS account ID), or use `identity = pod_identity`, which needs no ARN in the manifests"),
                );
            }
        }
    }

    /// The emitters stream weights and data from S3 (vLLM's run:ai streamer, job env URIs), and
    /// a multi-node job takes whole nodes.
    pub(super) fn artifact_rules(&mut self) {
        let s3 = |this: &mut Self, d: DeclId| -> Option<(bool, DeclId)> {
            let art = this.rec(d)?;
            let store = ref_of(field(&art, "store"))?;
            let st = this.rec(store)?;
            Some((variant(this, field(&st, "backend")).is_some_and(|v| v.0 == "s3"), store))
        };
        let mut uses: Vec<(DeclId, Span, String)> = Vec::new();
        for (sid, svc) in self.active_of("service") {
            if let Some(m) = ref_of(field(&svc, "model")) {
                uses.push((m, span(&svc, "model", self.decl_span(sid)), "served".into()));
            }
            // A/B variants serve their own models.
            if let Some((kind, Some(p))) = variant(self, field(&svc, "rollout")) {
                if let (true, Some(Value::Map(vs))) = (kind == "ab", p.get("variants")) {
                    let at = span(&p, "variants", self.decl_span(sid));
                    for v in vs.values() {
                        if let Some(m) = ref_of(v.as_record().and_then(|r| r.get("model"))) {
                            uses.push((m, at, "served by an A/B variant".into()));
                        }
                    }
                }
            }
        }
        for (pid, p) in self.active_of("pipeline") {
            for f in ["dataset", "base", "produces"] {
                if let Some(d) = ref_of(field(&p, f)) {
                    uses.push((d, span(&p, f, self.decl_span(pid)), format!("the pipeline's {f}")));
                }
            }
            let (Some(gpus), Some(pool)) = (int(&p, "gpus"), ref_of(field(&p, "pool"))) else { continue };
            let Some(per_node) = self.rec(pool).and_then(|r| int(&r, "gpus_per_node")) else {
                continue;
            };
            let max_nodes = self.rec(pool).and_then(|r| range(&r, "nodes")).map_or(f64::INFINITY, |r| r.1);
            let needed = (gpus as f64 / per_node as f64).ceil();
            if needed > max_nodes {
                let msg =
                    format!("the job needs {needed} nodes of `{}`, which has at most {max_nodes}", self.addr(pool));
                self.error(
                    Diagnostic::error(codes::TENSOR_PARALLEL, span(&p, "gpus", self.decl_span(pid)), msg)
                        .with_help("raise the pool's nodes.max, or lower gpus"),
                );
            }
            if gpus > per_node && gpus % per_node != 0 {
                let msg = format!("a multi-node job takes whole nodes: {gpus} GPUs is not a multiple of the {per_node} per node of `{}`", self.addr(pool));
                self.error(Diagnostic::error(codes::TENSOR_PARALLEL, span(&p, "gpus", self.decl_span(pid)), msg));
            }
        }
        for (d, at, what) in uses {
            if let Some((true, store)) = s3(self, d) {
                let named = self.rec(store).is_some_and(|st| matches!(field(&st, "bucket"), Some(Value::Str(_))));
                if !named {
                    let msg = format!(
                        "`{}` ({what}) lives in `{}`, which has no bucket name",
                        self.addr(d),
                        self.addr(store)
                    );
                    self.error(Diagnostic::error(codes::ARTIFACT_STORE, at, msg).with_help(
                        "set `bucket = \"…\"` on the storage: the pods are given s3://BUCKET/PATH at build time",
                    ));
                }
            }
            if let Some((false, store)) = s3(self, d) {
                let msg =
                    format!("`{}` ({what}) lives in `{}`, which is not S3 storage", self.addr(d), self.addr(store));
                self.error(
                    Diagnostic::error(codes::ARTIFACT_STORE, at, msg).with_help(
                        "keep models and data sets in an S3 storage; file systems and caches can hold copies",
                    ),
                );
            }
        }
    }

    /// S3 bucket names are global: two storages (or two imports of one module) cannot share one.
    pub(super) fn bucket_rules(&mut self) {
        let mut seen: HashMap<String, DeclId> = HashMap::new();
        for (id, st) in self.active_of("storage") {
            let Some(Value::Str(bucket)) = field(&st, "bucket") else { continue };
            match seen.get(bucket.as_ref()) {
                Some(first) => {
                    let msg =
                        format!("bucket name \"{bucket}\" is used by `{}` and `{}`", self.addr(*first), self.addr(id));
                    let first_span = self.decl_span(*first);
                    self.error(
                        Diagnostic::error(codes::DUPLICATE_NAME, span(&st, "bucket", self.decl_span(id)), msg)
                            .with_label(first_span, "first used here")
                            .with_help("S3 bucket names are global; give each storage its own (a module imported twice needs a param for it)"),
                    );
                }
                None => {
                    seen.insert(bucket.to_string(), id);
                }
            }
        }
    }

    /// A CDN serves an S3 origin through origin access control, which can read SSE-KMS
    /// objects under the stack's key but not the S3-managed `aws/s3` key.
    fn cdn_rules(&mut self) {
        for (id, cdn) in self.active_of("cdn") {
            let Some(origin) = ref_of(field(&cdn, "origin")) else { continue };
            let Some(st) = self.rec(origin) else { continue };
            let at = span(&cdn, "origin", self.decl_span(id));
            let backend = variant(self, field(&st, "backend")).map(|v| v.0).unwrap_or_default();
            if backend != "s3" {
                let msg =
                    format!("the cdn origin `{}` is {backend} storage; a cdn serves an S3 bucket", self.addr(origin));
                self.error(Diagnostic::error(codes::POLICY_RULE, at, msg));
            } else if variant(self, field(&st, "encryption")).is_some_and(|v| v.0 == "aws_managed") {
                let msg = format!(
                    "CloudFront cannot decrypt `{}`: it is encrypted with the S3-managed key",
                    self.addr(origin)
                );
                self.error(
                    Diagnostic::error(codes::POLICY_RULE, at, msg)
                        .with_help(format!("set `encryption = kms` on `{}`", self.addr(origin))),
                );
            }
        }
    }

    pub(super) fn pool_rules(&mut self, cat: &Catalog) {
        for (id, pool) in self.active_of("gpu_pool") {
            let (Some(g), Some(n)) = (variant_index(field(&pool, "gpu")), int(&pool, "gpus_per_node")) else {
                continue;
            };
            let Some(facts) = cat.gpus.get(&g) else {
                continue;
            };
            if cat.offer(g, n).is_none() {
                let shapes: Vec<String> =
                    cat.offers.iter().filter(|o| o.gpu == g).map(|o| format!("{} ({})", o.gpus, o.instance)).collect();
                self.error(
                    Diagnostic::error(
                        codes::NO_INSTANCE,
                        span(&pool, "gpus_per_node", self.decl_span(id)),
                        format!("no AWS instance type carries {n} × {}", facts.name),
                    )
                    .with_help(format!(
                        "GPUs per node offered for {}: {}",
                        facts.name,
                        shapes.join(", ")
                    )),
                );
            }
            if let Some(("mig", _)) = variant(self, field(&pool, "sharing")).as_ref().map(|(n, p)| (n.as_str(), p)) {
                if !facts.mig {
                    self.error(
                        Diagnostic::error(
                            codes::SHARING,
                            span(&pool, "sharing", self.decl_span(id)),
                            format!("{} does not support MIG partitions", facts.name),
                        )
                        .with_help("MIG needs A100, H100 or H200; use time_slicing on other GPUs"),
                    );
                }
            }
        }
    }

    /// GPU memory one replica can use on `pool`: per GPU, after sharing.
    pub(super) fn memory_per_gpu(&self, cat: &Catalog, pool: &Record) -> Option<(f64, String, GpuFacts)> {
        let g = variant_index(field(pool, "gpu"))?;
        let facts = cat.gpus.get(&g)?.clone();
        Some(match variant(self, field(pool, "sharing")) {
            Some((v, Some(p))) if v == "time_slicing" => {
                let reps = int(&p, "replicas").unwrap_or(1).max(1) as f64;
                (facts.memory / reps, format!("{} shared {} ways", facts.name, reps), facts)
            }
            Some((v, Some(p))) if v == "mig" => {
                let profile = p.get("profile").and_then(Value::as_str).unwrap_or("");
                let gb: f64 =
                    profile.split('.').nth(1).and_then(|s| s.trim_end_matches("gb").parse().ok()).unwrap_or(0.0);
                (gb * 1e9, format!("{} MIG {profile}", facts.name), facts)
            }
            _ => (facts.memory, facts.name.clone(), facts),
        })
    }

    pub(super) fn service_rules(&mut self, cat: &Catalog) {
        let mut demand: BTreeMap<DeclId, Vec<(DeclId, f64)>> = BTreeMap::new();
        for (sid, svc) in self.active_of("service") {
            let name_span = self.decl_span(sid);
            let (Some(pool_id), Some(model_id)) = (ref_of(field(&svc, "pool")), ref_of(field(&svc, "model"))) else {
                continue;
            };
            let (Some(pool), Some(model)) = (self.rec(pool_id), self.rec(model_id)) else {
                continue;
            };
            // Unknown figures (after an error elsewhere) are not guessed at.
            let (Some(tp), Some(per_node)) = (int(&svc, "tensor_parallel"), int(&pool, "gpus_per_node")) else {
                continue;
            };
            if let Some((_, max)) = range(&svc, "replicas") {
                demand.entry(pool_id).or_default().push((sid, max * tp as f64));
            }
            if tp > per_node || (tp > 0 && per_node % tp != 0) {
                let divisors: Vec<String> =
                    (1..=per_node).filter(|d| per_node % d == 0).map(|d| d.to_string()).collect();
                let msg = if tp > per_node {
                    format!(
                        "tensor_parallel {tp} needs {tp} GPUs in one node, but nodes of `{}` have {per_node}",
                        self.addr(pool_id)
                    )
                } else {
                    format!(
                        "tensor_parallel {tp} does not divide gpus_per_node {per_node} of pool `{}`",
                        self.addr(pool_id)
                    )
                };
                self.error(
                    Diagnostic::error(codes::TENSOR_PARALLEL, span(&svc, "tensor_parallel", name_span), msg)
                        .with_label(
                            span(&pool, "gpus_per_node", self.decl_span(pool_id)),
                            format!("{per_node} GPUs per node"),
                        )
                        .with_help(format!("use a tensor_parallel that divides {per_node}: {}", divisors.join(", "))),
                );
                continue;
            }
            self.fit(cat, sid, &svc, model_id, &model, pool_id, &pool, tp);
            self.rollout_rules(sid, &svc);
            self.autoscale_rules(sid, &svc);
        }
        for (pool_id, users) in demand {
            let Some(pool) = self.rec(pool_id) else {
                continue;
            };
            let (Some((_, nodes)), Some(per_node)) = (range(&pool, "nodes"), int(&pool, "gpus_per_node")) else {
                continue;
            };
            let share = match variant(self, field(&pool, "sharing")) {
                Some((v, Some(p))) if v == "time_slicing" => int(&p, "replicas").unwrap_or(1) as f64,
                _ => 1.0,
            };
            let capacity = nodes * per_node as f64 * share;
            let need: f64 = users.iter().map(|u| u.1).sum();
            if need > capacity {
                let who: Vec<String> = users.iter().map(|(s, n)| format!("`{}` {}", self.addr(*s), n)).collect();
                self.error(
                    Diagnostic::warning(
                        codes::POOL_TOO_SMALL,
                        span(&pool, "nodes", self.decl_span(pool_id)),
                        format!("pool `{}` offers at most {capacity} GPUs, its services need up to {need} at their maximum replicas", self.addr(pool_id)),
                    )
                    .with_help(format!("raise nodes.max or lower replicas.max ({})", who.join(", "))),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        cat: &Catalog,
        sid: DeclId,
        svc: &Record,
        model_id: DeclId,
        model: &Record,
        pool_id: DeclId,
        pool: &Record,
        tp: i64,
    ) {
        let name_span = self.decl_span(sid);
        let Some((prec, _)) = variant(self, field(model, "precision")) else {
            return;
        };
        let (Some(bytes), Some(params), Some(context)) =
            (precision_bytes(&prec), float(model, "parameters"), int(model, "context_length"))
        else {
            return;
        };
        let Some((per_gpu, gpu_desc, facts)) = self.memory_per_gpu(cat, pool) else {
            return;
        };
        let util = match field(svc, "gpu_memory_utilization") {
            Some(Value::Ratio(r)) => *r,
            _ => 0.9,
        };
        let shape = match (int(model, "layers"), int(model, "kv_heads"), int(model, "head_dim")) {
            (Some(l), Some(h), Some(d)) => Some((l as f64, h as f64, d as f64)),
            _ => None,
        };
        let mem = model_memory(params, bytes, context as f64, shape);
        let usable = tp as f64 * per_gpu * util;
        let need = mem.weights + mem.kv_sequence();
        let model_name = self.addr(model_id);
        let pct = format!("{}%", super::value::trim_float(util * 100.0));
        if need > usable {
            let per_gpu_usable = per_gpu * util;
            let min_tp = (need / per_gpu_usable).ceil() as i64;
            let per_node = int(pool, "gpus_per_node").unwrap_or(1);
            let fits_here = (min_tp..=per_node).find(|t| per_node % t == 0);
            let shared = per_gpu < facts.memory && gpu_desc.contains("shared");
            let mut help = match fits_here {
                _ if shared && need <= tp as f64 * facts.memory * util => format!(
                    "remove `sharing` from pool `{}`: time slicing leaves each replica {} of the GPU",
                    self.addr(pool_id),
                    gib(per_gpu)
                ),
                Some(t) => format!("set tensor_parallel = {t} (needs {t} GPUs per replica)"),
                None => {
                    // The cheapest catalog shape (GPU-hours per replica) of a larger GPU whose node
                    // holds it; fp8 weights need a GPU with fp8 support.
                    let mut best: Option<(f64, String)> = None;
                    for o in &cat.offers {
                        let Some(f) = cat.gpus.get(&o.gpu) else {
                            continue;
                        };
                        if f.memory <= facts.memory || (prec == "fp8" && !f.fp8) {
                            continue;
                        }
                        let Some(t) = (1..=o.gpus).find(|t| o.gpus % t == 0 && f.memory * *t as f64 * util >= need)
                        else {
                            continue;
                        };
                        let cost = o.price * MS_PER_HOUR / 100.0 * t as f64 / o.gpus as f64;
                        if best.as_ref().is_none_or(|b| cost < b.0) {
                            let text = format!(
                                "{} with tensor_parallel = {t} ({}, about {}/h per replica)",
                                f.name,
                                o.instance,
                                format_money(cost)
                            );
                            best = Some((cost, text));
                        }
                    }
                    match best {
                        Some((_, first)) => format!("use a larger GPU, e.g. {first}"),
                        None => "no single node in the catalog holds it; quantize the model".to_string(),
                    }
                }
            };
            if bytes > 1.0 {
                help.push_str(", or serve an fp8/int4 quantized model");
            }
            let kv = if mem.kv_estimated { "estimated KV cache" } else { "KV cache" };
            self.error(
                Diagnostic::error(
                    codes::MODEL_DOES_NOT_FIT,
                    name_span,
                    format!(
                        "model `{model_name}` does not fit: it needs {} of weights + {} of {kv} for one {context}-token sequence; {tp} × {gpu_desc} hold{} {} at {pct}",
                        gib(mem.weights),
                        gib(mem.kv_sequence()),
                        if tp == 1 { "s" } else { "" },
                        gib(usable)
                    ),
                )
                .with_label(span(model, "parameters", self.decl_span(model_id)), format!("{} parameters × {bytes} bytes ({prec})", count(params)))
                .with_label(span(pool, "gpu", self.decl_span(pool_id)), format!("{}: {} per GPU", gpu_desc, gib(per_gpu)))
                .with_help(help),
            );
            return;
        }
        let sequences = ((usable - mem.weights) / mem.kv_sequence()).floor();
        let max_batch = int(svc, "max_batch").unwrap_or(1);
        if sequences < max_batch as f64 {
            let at = svc.fields.get("max_batch").and_then(|f| f.name_span.map(|_| f.span)).unwrap_or(name_span);
            self.error(
                Diagnostic::warning(
                    codes::BATCH_BELOW_MAX,
                    at,
                    format!(
                        "only {sequences} full-context ({context}-token) sequences of `{model_name}` fit beside its weights; max_batch is {max_batch}"
                    ),
                )
                .with_help(format!(
                    "weights take {} of {}; each full sequence needs {}{}. Shorter requests share the cache; raise tensor_parallel or lower max_batch to guarantee it",
                    gib(mem.weights),
                    gib(usable),
                    format_size(mem.kv_sequence()),
                    if mem.kv_estimated { " (estimated: give layers, kv_heads, head_dim for the exact figure)" } else { "" }
                )),
            );
        }
    }

    /// `autoscale.when` becomes KEDA triggers: only `signal > value` leaves joined by `||`.
    fn autoscale_rules(&mut self, sid: DeclId, svc: &Record) {
        fn scalable(c: &super::value::Cond) -> bool {
            use super::value::Cond as C;
            use crate::syntax::ast::BinOp;
            match c {
                C::Binary(BinOp::Or, a, b) => scalable(a) && scalable(b),
                C::Binary(BinOp::Gt | BinOp::Ge, a, b) => matches!(**a, C::Signal { .. }) && matches!(**b, C::Const(_)),
                _ => false,
            }
        }
        let Some(a) = field(svc, "autoscale").and_then(Value::as_record) else { return };
        let constant = matches!(a.get("when"), Some(Value::Bool(_)));
        if let Some(c) = a
            .get("when")
            .and_then(|w| match w {
                Value::Cond(c, _) => Some(c.clone()),
                _ => None,
            })
            .or(if constant { Some(std::rc::Rc::new(super::value::Cond::Const(Value::Bool(true)))) } else { None })
        {
            if !scalable(&c) {
                let at = span(a, "when", self.decl_span(sid));
                self.error(
                    Diagnostic::error(codes::AUTOSCALE_SHAPE, at, "an autoscaler needs `signal > value`, or several joined with `||`")
                        .with_help("each comparison becomes a KEDA trigger (per replica for queue depth and rates, as is for latencies and ratios); write `metric.queue_depth > 8 || …`"),
                );
            }
        }
    }

    fn rollout_rules(&mut self, sid: DeclId, svc: &Record) {
        let name_span = self.decl_span(sid);
        let Some((kind, Some(payload))) = variant(self, field(svc, "rollout")) else {
            return;
        };
        let rollout_span = span(svc, "rollout", name_span);
        match kind.as_str() {
            "canary" => {
                let steps: Vec<f64> = match field(&payload, "steps") {
                    Some(Value::List(xs)) => xs.iter().filter_map(Value::as_f64).collect(),
                    _ => return,
                };
                let at = span(&payload, "steps", rollout_span);
                let shown: Vec<String> =
                    steps.iter().map(|s| format!("{}%", super::value::trim_float(s * 100.0))).collect();
                if let Some(w) = steps.windows(2).find(|w| w[1] <= w[0]) {
                    self.error(
                        Diagnostic::error(
                            codes::ROLLOUT,
                            at,
                            format!("canary steps must strictly increase: {} comes after {}", pctf(w[1]), pctf(w[0])),
                        )
                        .with_help("list the traffic shares in increasing order, ending at 100%"),
                    );
                } else if steps.iter().any(|s| *s <= 0.0 || *s > 1.0) {
                    self.error(Diagnostic::error(codes::ROLLOUT, at, "canary steps must lie in (0%, 100%]"));
                } else if steps.last().is_some_and(|l| (l - 1.0).abs() > 1e-9) {
                    self.error(
                        Diagnostic::error(
                            codes::ROLLOUT,
                            at,
                            format!(
                                "canary steps must end at 100%; [{}] stops at {}",
                                shown.join(", "),
                                shown.last().map_or("", String::as_str)
                            ),
                        )
                        .with_primary_label("the rollout would never send all traffic to the new version")
                        .with_help(format!("add a final step: [{}, 100%]", shown.join(", "))),
                    );
                }
            }
            "ab" => {
                let Some(Value::Map(variants)) = field(&payload, "variants") else {
                    return;
                };
                let total: f64 = variants
                    .values()
                    .filter_map(|v| v.as_record().and_then(|r| r.get("weight")).and_then(Value::as_f64))
                    .sum();
                if (total - 1.0).abs() > 1e-9 {
                    self.error(
                        Diagnostic::error(
                            codes::ROLLOUT,
                            span(&payload, "variants", rollout_span),
                            format!("A/B weights sum to {}, not 100%", pctf(total)),
                        )
                        .with_help("make the variants' weights add up to 100%"),
                    );
                }
            }
            _ => {}
        }
    }

    pub(super) fn dr_rules(&mut self) {
        let mut replicated_by: HashMap<DeclId, DeclId> = HashMap::new();
        for (id, dr) in self.active_of("dr") {
            let name_span = self.decl_span(id);
            if let (Some(Value::Str(p)), Some(Value::Str(s))) = (field(&dr, "primary"), field(&dr, "secondary")) {
                if p == s {
                    self.error(
                        Diagnostic::error(
                            codes::DR_REGIONS,
                            span(&dr, "secondary", name_span),
                            format!("secondary region is the primary region (\"{s}\")"),
                        )
                        .with_label(span(&dr, "primary", name_span), "primary set here")
                        .with_help("recover into a different region"),
                    );
                }
            }
            let Some(Value::Qty(rpo, Dim::DURATION)) = field(&dr, "rpo") else {
                continue;
            };
            let rpo = *rpo;
            let rpo_span = span(&dr, "rpo", name_span);
            let replicated: Vec<DeclId> = match field(&dr, "replicate") {
                Some(Value::List(xs)) => xs.iter().filter_map(|x| ref_of(Some(x))).collect(),
                _ => Vec::new(),
            };
            for t in &replicated {
                let backend = self.rec(*t).and_then(|r| variant(self, field(&r, "backend")).map(|v| v.0));
                if let Some(b) = backend.filter(|b| b != "s3") {
                    let msg = format!("`{}` is {b} storage; only S3 buckets are replicated", self.addr(*t));
                    self.error(
                        Diagnostic::error(codes::RPO_UNMET, span(&dr, "replicate", name_span), msg)
                            .with_help("protect file systems and caches with `backup`"),
                    );
                }
            }
            for t in &replicated {
                match replicated_by.get(t) {
                    Some(first) if *first != id => {
                        let msg = format!(
                            "`{}` is already replicated by dr `{}`; a bucket has one replication configuration",
                            self.addr(*t),
                            self.addr(*first)
                        );
                        self.error(Diagnostic::error(codes::RPO_UNMET, span(&dr, "replicate", name_span), msg));
                    }
                    _ => {
                        replicated_by.insert(*t, id);
                    }
                }
            }
            if !replicated.is_empty() && rpo < REPLICATION_BOUND_MS {
                self.error(
                    Diagnostic::error(
                        codes::RPO_UNMET,
                        rpo_span,
                        format!("an RPO of {} is below the 15m bound of S3 replication", format_duration(rpo)),
                    )
                    .with_help("S3 Replication Time Control replicates within 15 minutes; set rpo >= 15m"),
                );
            }
            let backup = field(&dr, "backup").and_then(Value::as_record).cloned();
            let (targets, every, every_span) = match &backup {
                Some(b) => (
                    match field(b, "targets") {
                        Some(Value::List(xs)) => xs.iter().filter_map(|x| ref_of(Some(x))).collect(),
                        _ => Vec::new(),
                    },
                    match field(b, "every") {
                        Some(Value::Qty(e, Dim::DURATION)) => Some(*e),
                        _ => None,
                    },
                    span(b, "every", name_span),
                ),
                None => (Vec::new(), None, name_span),
            };
            for t in targets {
                if replicated.contains(&t) {
                    continue;
                }
                let Some(every) = every else { continue };
                if backup_loss(every) <= rpo {
                    continue;
                }
                let tier = self.rec(t).and_then(|r| variant(self, field(&r, "tier")).map(|v| v.0));
                let tname = self.addr(t);
                if matches!(tier.as_deref(), Some("cold" | "archive")) {
                    self.error(
                        Diagnostic::info(
                            codes::RPO_NOT_ENFORCED,
                            every_span,
                            format!(
                                "`{tname}` is in the {} tier: its recovery point is its backup every {} (up to {} with the backup windows), not the RPO of {}",
                                tier.unwrap_or_default(),
                                format_duration(every),
                                format_duration(backup_loss(every)),
                                format_duration(rpo)
                            ),
                        )
                        .with_help(format!("add `{tname}` to `replicate` if it must meet the RPO")),
                    );
                    continue;
                }
                let s3 = self.rec(t).and_then(|r| variant(self, field(&r, "backend"))).is_some_and(|v| v.0 == "s3");
                self.error(
                    Diagnostic::error(
                        codes::RPO_UNMET,
                        every_span,
                        format!(
                            "backups every {} lose up to {} of `{tname}` (interval + 1h start window + 3h completion window), more than the RPO of {}; it is not replicated",
                            format_duration(every),
                            format_duration(backup_loss(every)),
                            format_duration(rpo)
                        ),
                    )
                    .with_label(rpo_span, format!("RPO of {}", format_duration(rpo)))
                    .with_help(rpo_help(&tname, rpo, every, s3)),
                );
            }
        }
    }

    /// Worst case and expected cost against each budget, from the one cost model
    /// ([`crate::cost`]) that `aistack cost` and the editor's hints read too.
    pub(super) fn budget_rules(&mut self, _cat: &Catalog) {
        let budgets = self.active_of("budget");
        if budgets.is_empty() {
            return;
        }
        let report = crate::cost::compute(&crate::cost::View::new(self.prog, self.decls, self.active));
        let (worst, expected) = (report.worst, report.expected);
        for (bid, b) in budgets {
            let Some(Value::Qty(limit, Dim::MONEY_RATE)) = field(&b, "limit") else {
                continue;
            };
            let limit_month = limit * MS_PER_HOUR * HOURS_PER_MONTH / 100.0;
            let limit_span = span(&b, "limit", self.decl_span(bid));
            if worst > limit_month {
                let mut d = Diagnostic::error(
                    codes::BUDGET_EXCEEDED,
                    limit_span,
                    format!(
                        "worst-case cost {}/month exceeds the budget `{}` of {}/month",
                        format_money(worst),
                        self.addr(bid),
                        format_money(limit_month)
                    ),
                );
                let mut sorted: Vec<&crate::cost::Line> =
                    report.lines.iter().filter(|l| l.worst.monthly > 0.0).collect();
                sorted.sort_by(|a, b| b.worst.monthly.total_cmp(&a.worst.monthly));
                for l in &sorted {
                    let text = match &l.pool {
                        Some(p) => format!(
                            "{} × {} ({}) at ${}/h = {}/month",
                            super::value::trim_float(p.nodes_max),
                            p.instance,
                            if p.capacity == "spot" {
                                "spot, priced on demand for the worst case"
                            } else {
                                "on demand"
                            },
                            super::value::trim_float(p.hourly),
                            format_money(l.worst.monthly)
                        ),
                        None => format!("{}: {} = {}/month", l.what, l.worst.basis, format_money(l.worst.monthly)),
                    };
                    let kind = if l.kind == "gpu_pool" { "pool" } else { l.kind.as_str() };
                    d = d.with_label(l.span, format!("{kind} `{}`: {text}", l.address));
                }
                if let Some(top) = sorted.first() {
                    let date = top.prices.first().map_or("", |p| p.date.as_str());
                    let what = if top.pool.is_some() {
                        format!("lower nodes.max of `{}`", top.address)
                    } else {
                        format!("reduce `{}`", top.address)
                    };
                    d = d.with_help(format!(
                        "{what} or raise the limit; prices are on-demand us-east-1 list prices of {date} (730 h per month; `aistack cost` itemizes them)"
                    ));
                }
                self.error(d);
                continue;
            }
            let first_alert = match field(&b, "alerts") {
                Some(Value::List(xs)) => xs.iter().filter_map(Value::as_f64).fold(f64::INFINITY, f64::min),
                _ => f64::INFINITY,
            };
            if first_alert.is_finite() && expected > first_alert * limit_month {
                self.error(
                    Diagnostic::warning(
                        codes::EXPECTED_COST,
                        span(&b, "alerts", limit_span),
                        format!(
                            "expected cost {}/month (every pool at its minimum, or what the services' minimum replicas need) already passes the first alert at {} of {}/month",
                            format_money(expected),
                            pctf(first_alert),
                            format_money(limit_month)
                        ),
                    )
                    .with_help("the alert would fire every month; raise it or the limit"),
                );
            }
        }
    }

    /// Storage the outputs cannot use where it is put: a cdn origin (here) and the policy's
    /// audit store, which CloudTrail can deliver to only in S3.
    pub(super) fn output_rules(&mut self) {
        self.cdn_rules();
        let Some((pid, policy)) = self.policy.clone() else { return };
        let Some(audit) = field(&policy, "audit").and_then(Value::as_record) else { return };
        let Some(store) = ref_of(audit.get("store")) else { return };
        let backend = self.rec(store).and_then(|r| variant(self, field(&r, "backend")).map(|v| v.0));
        if backend.as_deref().is_some_and(|b| b != "s3") {
            let at = span(audit, "store", self.decl_span(pid));
            let msg = format!(
                "the audit store `{}` is {} storage; CloudTrail writes only to S3",
                self.addr(store),
                backend.unwrap_or_default()
            );
            self.error(
                Diagnostic::error(codes::POLICY_RULE, at, msg).with_help("name an S3 storage as the audit store"),
            );
        }
    }
}

/// Worst-case data loss of a store protected only by backups every `every` ms.
pub fn backup_loss(every: f64) -> f64 {
    every + BACKUP_WINDOWS_MS
}

/// What makes `rpo` hold for a backed-up store, each accepted by the checker: a whole-hour
/// interval of at least 1h whose worst-case loss fits, replication (S3, RPO >= 15m), or the
/// RPO that the declared interval meets.
fn rpo_help(tname: &str, rpo: f64, every: f64, s3: bool) -> String {
    let mut ways = Vec::new();
    let hours = ((rpo - BACKUP_WINDOWS_MS) / MS_PER_HOUR).floor() * MS_PER_HOUR;
    if hours >= MIN_BACKUP_EVERY_MS {
        ways.push(format!("set `every = {}`", format_duration(hours)));
    }
    if s3 && rpo >= REPLICATION_BOUND_MS {
        ways.push(format!("add `{tname}` to `replicate` (S3 Replication Time Control: 15m)"));
    }
    ways.push(format!("relax the RPO to `rpo = {}`", format_duration(backup_loss(every))));
    ways.join(", or ")
}

pub(super) fn pctf(x: f64) -> String {
    format!("{}%", super::value::trim_float(x * 100.0))
}

/// `70B`, `335M` or the plain number.
pub(super) fn count(x: f64) -> String {
    if x >= 1e9 {
        format!("{}B", super::value::trim_float((x / 1e8).round() / 10.0))
    } else if x >= 1e6 {
        format!("{}M", super::value::trim_float((x / 1e5).round() / 10.0))
    } else {
        super::value::trim_float(x)
    }
}
