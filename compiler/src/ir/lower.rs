//! Lowering: the checked stack's declaration records to the typed [`Stack`] IR.
//!
//! Takes: an [`Analysis`] without errors. Gives: the IR, in declaration order, with every
//! reference resolved to an index and every quantity converted to the unit its targets use.

use super::*;
use crate::check::types::Dim;
use crate::check::value::{Cond as VCond, DeclId, Record, Value};
use crate::check::Analysis;
use crate::syntax::ast::BinOp;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const KINDS: &[&str] =
    &["storage", "model", "dataset", "gpu_pool", "service", "pipeline", "cdn", "policy", "dr", "budget", "monitor"];

struct Lowerer<'a> {
    a: &'a Analysis,
    /// Position of each declaration in its kind's list.
    index: HashMap<DeclId, usize>,
}

/// A DNS-1123 label for an address: lowercase, `-` for anything else, at most 63 characters
/// (long names keep a hash of the whole so they stay unique).
pub fn dns_name(address: &str) -> String {
    let mut out = String::new();
    for c in address.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    let out = if out.is_empty() { "x".to_string() } else { out };
    if out.len() <= 63 {
        return out;
    }
    let hash = hex(&Sha256::digest(address.as_bytes()))[..8].to_string();
    format!("{}-{hash}", out[..54].trim_end_matches('-'))
}

/// A Terraform identifier for an address: `embed["us-east-1"]` → `embed_us_east_1`.
pub fn tf_ident(address: &str) -> String {
    let mut out = String::new();
    for c in address.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        format!("_{out}")
    } else {
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn meta(kind: &'static str, address: String, span: Option<DeclSpan>) -> Meta {
    Meta { kind, name: dns_name(&address), ident: tf_ident(&address), address, span }
}

/// Where a declaration is written, its file relative to the root file's folder.
fn decl_span(a: &Analysis, span: crate::source::Span) -> Option<DeclSpan> {
    let sources = &a.prog.sources;
    let file = sources.get(span.file)?;
    let root = sources.get(a.prog.module(a.prog.root).file)?;
    let dir = std::path::Path::new(&root.name).parent().unwrap_or(std::path::Path::new(""));
    let path = std::path::Path::new(&file.name);
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let (line, col) = file.line_col(span.start);
    Some(DeclSpan { file: rel.join("/"), start: span.start, end: span.end, line: line as u32, col: col as u32 })
}

impl Lowerer<'_> {
    fn variant(&self, v: Option<&Value>) -> String {
        match v {
            Some(Value::Enum(e, i, _)) => self.a.prog.types.enum_(*e).variants[*i].name.clone(),
            _ => String::new(),
        }
    }
    fn payload<'v>(&self, v: Option<&'v Value>) -> Option<&'v Record> {
        match v {
            Some(Value::Enum(_, _, Some(p))) => Some(p),
            _ => None,
        }
    }
    fn idx(&self, v: Option<&Value>) -> Option<usize> {
        match v {
            Some(Value::Ref(d)) => self.index.get(d).copied(),
            _ => None,
        }
    }
    fn idxs(&self, v: Option<&Value>) -> Vec<usize> {
        match v {
            Some(Value::List(xs)) => xs.iter().filter_map(|x| self.idx(Some(x))).collect(),
            _ => Vec::new(),
        }
    }
}

/// `engine_args` as (dashed vLLM flag name, JSON value).
fn engine_args(r: &Record) -> Vec<(String, serde_json::Value)> {
    let Some(Value::Map(m)) = r.get("engine_args") else { return Vec::new() };
    m.iter()
        .filter_map(|(k, v)| {
            let j = match v {
                Value::Bool(x) => serde_json::json!(x),
                Value::Int(x) => serde_json::json!(x),
                Value::Float(x) => serde_json::json!(x),
                Value::Str(x) => serde_json::json!(x.to_string()),
                _ => return None,
            };
            Some((crate::check::engine_args::canonical(k), j))
        })
        .collect()
}

fn s(r: &Record, f: &str) -> String {
    r.get(f).and_then(Value::as_str).unwrap_or_default().to_string()
}
fn opt_s(r: &Record, f: &str) -> Option<String> {
    r.get(f).and_then(Value::as_str).map(str::to_string)
}
fn b(r: &Record, f: &str) -> bool {
    matches!(r.get(f), Some(Value::Bool(true)))
}
fn num(r: &Record, f: &str) -> f64 {
    r.get(f).and_then(Value::as_f64).unwrap_or(0.0)
}
fn int(r: &Record, f: &str) -> u64 {
    r.get(f).and_then(Value::as_f64).map_or(0, |x| x.max(0.0) as u64)
}
fn secs(r: &Record, f: &str) -> u64 {
    match r.get(f) {
        Some(Value::Qty(ms, Dim::DURATION)) => (ms / 1000.0).round().max(0.0) as u64,
        _ => 0,
    }
}
fn opt_secs(r: &Record, f: &str) -> Option<f64> {
    match r.get(f) {
        Some(Value::Qty(ms, Dim::DURATION)) => Some(ms / 1000.0),
        _ => None,
    }
}
fn range(r: &Record, f: &str) -> (u32, u32) {
    match r.get(f).and_then(Value::as_range) {
        Some((a, b)) => (a.as_f64().unwrap_or(0.0) as u32, b.as_f64().unwrap_or(0.0) as u32),
        None => (0, 0),
    }
}
fn strings(r: &Record, f: &str) -> Vec<String> {
    match r.get(f) {
        Some(Value::List(xs)) => xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}
fn ratios(r: &Record, f: &str) -> Vec<f64> {
    match r.get(f) {
        Some(Value::List(xs)) => xs.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    }
}
fn tier(name: &str) -> Tier {
    match name {
        "hot" => Tier::Hot,
        "cold" => Tier::Cold,
        "archive" => Tier::Archive,
        _ => Tier::Warm,
    }
}

/// A compile-time constant in the unit Prometheus reports.
fn prom_unit(v: &Value) -> Cond {
    match v {
        Value::Bool(x) => Cond::Bool(*x),
        Value::Qty(x, Dim::DURATION) => Cond::Num(x / 1000.0),
        Value::Qty(x, Dim::RATE) => Cond::Num(x * 1000.0),
        Value::Qty(x, Dim::MONEY) => Cond::Num(x / 100.0),
        Value::Qty(x, Dim::MONEY_RATE) => Cond::Num(x / 100.0 * 1000.0),
        other => Cond::Num(other.as_f64().unwrap_or(0.0)),
    }
}

pub fn cond(c: &VCond) -> Cond {
    match c {
        VCond::Signal { namespace, name } => Cond::Signal { namespace: namespace.to_string(), name: name.clone() },
        VCond::Const(v) => prom_unit(v),
        VCond::Not(x) => Cond::Not(Box::new(cond(x))),
        VCond::Neg(x) => Cond::Neg(Box::new(cond(x))),
        VCond::Binary(op, l, r) => {
            let (l, r) = (Box::new(cond(l)), Box::new(cond(r)));
            match op {
                BinOp::And => Cond::And(l, r),
                BinOp::Or => Cond::Or(l, r),
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => Cond::Arith(op.as_str().into(), l, r),
                _ => Cond::Cmp(op.as_str().into(), l, r),
            }
        }
    }
}

fn value_cond(v: Option<&Value>) -> Option<Cond> {
    match v {
        Some(Value::Cond(c, _)) => Some(cond(c)),
        Some(Value::Bool(x)) => Some(Cond::Bool(*x)),
        _ => None,
    }
}

/// Lowers a checked stack. Call only when the analysis has no errors.
pub fn lower(a: &Analysis) -> Stack {
    let prog = &a.prog;
    let mut index = HashMap::new();
    let mut per_kind: HashMap<&str, Vec<DeclId>> = HashMap::new();
    let mut stack_rec = None;
    let mut rendered_ids = Vec::new();
    let mut engine_images: HashMap<String, (String, u16)> = HashMap::new();
    let mut offers: Vec<Rc<Record>> = Vec::new();
    let mut gpu_models: Vec<Rc<Record>> = Vec::new();
    for (i, d) in a.decls.iter().enumerate() {
        if !a.active.get(i).copied().unwrap_or(false) {
            continue;
        }
        let (Some(kind), Some(rec)) = (d.kind, d.record.as_ref()) else { continue };
        let schema = prog.types.schema(kind);
        let id = DeclId(i as u32);
        match (schema.std, schema.name.as_str()) {
            (true, "stack") => stack_rec = Some(rec.clone()),
            (true, "gpu_offer") => offers.push(rec.clone()),
            (true, "gpu_model") => gpu_models.push(rec.clone()),
            (true, "engine_image") => {}
            (true, k) if KINDS.contains(&k) => {
                let list = per_kind.entry(KINDS.iter().find(|x| **x == k).copied().unwrap_or("")).or_default();
                index.insert(id, list.len());
                list.push(id);
            }
            (false, _) if schema.template.is_some() => rendered_ids.push(id),
            _ => {}
        }
    }
    let l = Lowerer { a, index };
    for (i, d) in a.decls.iter().enumerate() {
        let Some(rec) = d.record.as_ref() else { continue };
        if a.active.get(i).copied().unwrap_or(false)
            && d.kind.is_some_and(|k| prog.types.schema(k).name == "engine_image" && prog.types.schema(k).std)
        {
            let port = int(rec, "port") as u16;
            engine_images.insert(l.variant(rec.get("engine")), (s(rec, "image"), port));
        }
    }
    let ids = |k: &str| per_kind.get(k).cloned().unwrap_or_default();
    let rec = |id: &DeclId| a.decls[id.0 as usize].record.clone().unwrap_or_default();
    let addr = |id: &DeclId| a.decls[id.0 as usize].address();
    let mk = |kind: &'static str, id: &DeclId| meta(kind, addr(id), decl_span(a, a.decls[id.0 as usize].span));
    let stack_span = a
        .decls
        .iter()
        .zip(&a.active)
        .find(|(d, on)| **on && d.kind.is_some_and(|k| prog.types.schema(k).name == "stack"))
        .and_then(|(d, _)| decl_span(a, d.span));
    let st = stack_rec.unwrap_or_default();
    let stack_name = a
        .decls
        .iter()
        .zip(&a.active)
        .find(|(d, on)| **on && d.kind.is_some_and(|k| prog.types.schema(k).name == "stack"))
        .map(|(d, _)| d.name.clone())
        .unwrap_or_default();

    let storages = ids("storage")
        .iter()
        .map(|id| {
            let r = rec(id);
            let lifecycle = match r.get("lifecycle") {
                Some(Value::List(xs)) => xs
                    .iter()
                    .filter_map(|x| x.as_record())
                    .map(|t| (secs(t, "after") / 86_400, tier(&l.variant(t.get("to")))))
                    .collect(),
                _ => Vec::new(),
            };
            Storage {
                meta: mk("storage", id),
                tier: tier(&l.variant(r.get("tier"))),
                backend: match l.variant(r.get("backend")).as_str() {
                    "fsx_lustre" => Backend::FsxLustre,
                    "efs" => Backend::Efs,
                    "nvme" => Backend::Nvme,
                    _ => Backend::S3,
                },
                bucket: opt_s(&r, "bucket"),
                size_bytes: match r.get("size") {
                    Some(Value::Qty(x, _)) => Some(*x),
                    _ => None,
                },
                versioned: b(&r, "versioned"),
                encryption: match l.variant(r.get("encryption")).as_str() {
                    "aws_managed" => Encryption::AwsManaged,
                    "off" => Encryption::Off,
                    _ => Encryption::Kms,
                },
                lifecycle,
                public: b(&r, "public"),
            }
        })
        .collect();
    let models = ids("model")
        .iter()
        .map(|id| {
            let r = rec(id);
            Model {
                meta: mk("model", id),
                store: l.idx(r.get("store")).unwrap_or(0),
                path: s(&r, "path"),
                version: s(&r, "version"),
                digest: opt_s(&r, "digest"),
                format: l.variant(r.get("format")),
                parameters: num(&r, "parameters"),
                precision: l.variant(r.get("precision")),
                context_length: int(&r, "context_length"),
                task: l.variant(r.get("task")),
            }
        })
        .collect();
    let datasets = ids("dataset")
        .iter()
        .map(|id| {
            let r = rec(id);
            Dataset {
                meta: mk("dataset", id),
                store: l.idx(r.get("store")).unwrap_or(0),
                path: s(&r, "path"),
                version: s(&r, "version"),
                digest: opt_s(&r, "digest"),
                contains_pii: b(&r, "contains_pii"),
            }
        })
        .collect();
    let pools = ids("gpu_pool")
        .iter()
        .map(|id| {
            let r = rec(id);
            let gpu = l.variant(r.get("gpu"));
            let per_node = int(&r, "gpus_per_node") as u32;
            let model = gpu_models.iter().find(|m| l.variant(m.get("gpu")) == gpu).cloned().unwrap_or_default();
            let offer = offers
                .iter()
                .find(|o| l.variant(o.get("gpu")) == gpu && int(o, "gpus") == per_node as u64)
                .cloned()
                .unwrap_or_default();
            let sharing = match (l.variant(r.get("sharing")).as_str(), l.payload(r.get("sharing"))) {
                ("time_slicing", Some(p)) => Sharing::TimeSlicing { replicas: int(p, "replicas") as u32 },
                ("mig", Some(p)) => Sharing::Mig { profile: s(p, "profile") },
                _ => Sharing::None,
            };
            let meta = mk("gpu_pool", id);
            Pool {
                cluster_name: dns_name(&format!("{stack_name}-{}", meta.name)),
                meta,
                gpu,
                gpu_label: s(&model, "karpenter_name"),
                gpu_memory_bytes: num(&model, "memory"),
                gpus_per_node: per_node,
                nodes: range(&r, "nodes"),
                spot: l.variant(r.get("capacity")) == "spot",
                sharing,
                zones: strings(&r, "zones"),
                efa: l.variant(r.get("interconnect")) == "efa",
                instance: s(&offer, "instance"),
                price_per_hour: num(&offer, "price") / 100.0 * 3_600_000.0,
                vcpus: int(&offer, "vcpus") as u32,
                memory_bytes: num(&offer, "memory"),
            }
        })
        .collect();
    let services = ids("service")
        .iter()
        .map(|id| {
            let r = rec(id);
            let engine = match l.variant(r.get("engine")).as_str() {
                "triton" => Engine::Triton,
                "tgi" => Engine::Tgi,
                _ => Engine::Vllm,
            };
            let (default_image, port) = engine_images.get(&l.variant(r.get("engine"))).cloned().unwrap_or_default();
            let rollout = match (l.variant(r.get("rollout")).as_str(), l.payload(r.get("rollout"))) {
                ("canary", Some(p)) => Rollout::Canary {
                    steps: ratios(p, "steps"),
                    interval_s: secs(p, "interval"),
                    abort_when: value_cond(p.get("abort_when")),
                },
                ("blue_green", Some(p)) => Rollout::BlueGreen {
                    preview_s: secs(p, "preview_for"),
                    promote_when: value_cond(p.get("promote_when")),
                },
                ("ab", Some(p)) => Rollout::Ab {
                    variants: match p.get("variants") {
                        Some(Value::Map(m)) => m
                            .iter()
                            .filter_map(|(k, v)| {
                                let vr = v.as_record()?;
                                Some(AbVariant {
                                    name: k.clone(),
                                    model: l.idx(vr.get("model"))?,
                                    weight: num(vr, "weight"),
                                })
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    sticky: b(p, "sticky"),
                },
                _ => Rollout::AllAtOnce,
            };
            let slo = r.get("slo").and_then(Value::as_record).map_or_else(Slo::default, |p| Slo {
                p50_latency_s: opt_secs(p, "p50_latency"),
                p95_latency_s: opt_secs(p, "p95_latency"),
                p99_latency_s: opt_secs(p, "p99_latency"),
                mean_latency_s: opt_secs(p, "mean_latency"),
                time_to_first_token_s: opt_secs(p, "time_to_first_token"),
                availability: p.get("availability").and_then(Value::as_f64),
                error_rate: p.get("error_rate").and_then(Value::as_f64),
            });
            let guard = r.get("guard").and_then(Value::as_record).map_or_else(Guard::default, |g| Guard {
                rate_limit: match g.get("rate_limit") {
                    Some(Value::Qty(x, Dim::RATE)) => Some(x * 1000.0),
                    _ => None,
                },
                max_input_tokens: g.get("max_input_tokens").and_then(Value::as_int).map(|n| n.max(0) as u64),
                block_prompts: strings(g, "block_prompts"),
                block_outputs: strings(g, "block_outputs"),
                redact_pii: b(g, "redact_pii"),
            });
            let env = match r.get("env") {
                Some(Value::Map(m)) => m
                    .iter()
                    .filter_map(|(k, v)| match v {
                        Value::Str(x) => Some((k.clone(), EnvValue::Plain(x.to_string()))),
                        Value::Secret(n) => Some((k.clone(), EnvValue::Secret(n.to_string()))),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let autoscale = r
                .get("autoscale")
                .and_then(Value::as_record)
                .and_then(|p| Some(Autoscale { when: value_cond(p.get("when"))?, cooldown_s: secs(p, "cooldown") }));
            Service {
                meta: mk("service", id),
                model: l.idx(r.get("model")).unwrap_or(0),
                pool: l.idx(r.get("pool")).unwrap_or(0),
                engine,
                tensor_parallel: int(&r, "tensor_parallel").max(1) as u32,
                replicas: range(&r, "replicas"),
                max_batch: int(&r, "max_batch") as u32,
                gpu_memory_utilization: num(&r, "gpu_memory_utilization"),
                cache: l.idx(r.get("cache")),
                public: l.variant(r.get("expose")) == "public",
                autoscale,
                rollout,
                slo,
                guard,
                env,
                image: opt_s(&r, "image").unwrap_or(default_image),
                port: if port == 0 { 8000 } else { port },
                hostname: opt_s(&r, "hostname"),
                request_timeout_s: secs(&r, "request_timeout").max(1),
                engine_args: engine_args(&r),
            }
        })
        .collect();
    let pipelines = ids("pipeline")
        .iter()
        .map(|id| {
            let r = rec(id);
            Pipeline {
                meta: mk("pipeline", id),
                kind: l.variant(r.get("kind")),
                image: s(&r, "image"),
                pool: l.idx(r.get("pool")).unwrap_or(0),
                dataset: l.idx(r.get("dataset")),
                base: l.idx(r.get("base")),
                produces: l.idx(r.get("produces")),
                schedule: opt_s(&r, "schedule"),
                gate: value_cond(r.get("gate")),
                gpus: int(&r, "gpus").max(1) as u32,
            }
        })
        .collect();
    let cdns = ids("cdn")
        .iter()
        .map(|id| {
            let r = rec(id);
            Cdn {
                meta: mk("cdn", id),
                origin: l.idx(r.get("origin")).unwrap_or(0),
                ttl_s: secs(&r, "ttl"),
                price_class: s(&r, "price_class"),
                signed_urls: b(&r, "signed_urls"),
            }
        })
        .collect();
    let policy = ids("policy").first().map(|id| {
        let r = rec(id);
        let audit = r
            .get("audit")
            .and_then(Value::as_record)
            .and_then(|p| Some((secs(p, "retain") / 86_400, l.idx(p.get("store"))?)));
        Policy {
            meta: mk("policy", id),
            encryption_required: l.variant(r.get("encryption_at_rest")) == "required",
            tls: l.variant(r.get("encryption_in_transit")),
            default_deny: l.variant(r.get("network")) == "default_deny",
            audit,
        }
    });
    let drs = ids("dr")
        .iter()
        .map(|id| {
            let r = rec(id);
            let backup = r.get("backup").and_then(Value::as_record).map(|p| Backup {
                targets: l.idxs(p.get("targets")),
                every_s: secs(p, "every"),
                retain_days: secs(p, "retain") / 86_400,
            });
            let failover = match (l.variant(r.get("failover")).as_str(), l.payload(r.get("failover"))) {
                ("automatic", Some(p)) => Some((l.idx(p.get("health_check")), int(p, "threshold") as u32)),
                _ => None,
            };
            Dr {
                meta: mk("dr", id),
                rpo_s: secs(&r, "rpo"),
                rto_s: secs(&r, "rto"),
                primary: s(&r, "primary"),
                secondary: s(&r, "secondary"),
                replicate: l.idxs(r.get("replicate")),
                backup,
                failover,
            }
        })
        .collect();
    let budgets = ids("budget")
        .iter()
        .map(|id| {
            let r = rec(id);
            let limit = match r.get("limit") {
                Some(Value::Qty(x, _)) => x / 100.0 * 730.0 * 3_600_000.0,
                _ => 0.0,
            };
            Budget {
                meta: mk("budget", id),
                limit_per_month: (limit * 100.0).round() / 100.0,
                alerts: ratios(&r, "alerts"),
                notify: strings(&r, "notify"),
            }
        })
        .collect();
    let monitors = ids("monitor")
        .iter()
        .map(|id| {
            let r = rec(id);
            let alerts = match r.get("alert") {
                Some(Value::Map(m)) => m
                    .iter()
                    .filter_map(|(k, v)| {
                        let p = v.as_record()?;
                        Some(Alert {
                            name: k.clone(),
                            when: value_cond(p.get("when"))?,
                            for_s: secs(p, "lasting"),
                            severity: l.variant(p.get("severity")),
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let drift = r.get("drift").and_then(Value::as_record).and_then(|p| {
                Some(Drift {
                    baseline: l.idx(p.get("baseline"))?,
                    method: l.variant(p.get("method")),
                    threshold: num(p, "threshold"),
                    on_breach: l.idx(p.get("on_breach")),
                })
            });
            Monitor { meta: mk("monitor", id), target: l.idx(r.get("target")).unwrap_or(0), alerts, drift }
        })
        .collect();
    let rendered = rendered_ids
        .iter()
        .filter_map(|id| {
            let d = &a.decls[id.0 as usize];
            let schema = prog.types.schema(d.kind?);
            Some(Rendered {
                meta: meta("rendered", d.address(), decl_span(a, d.span)),
                schema: schema.name.clone(),
                template: std::path::PathBuf::from(schema.template.as_deref()?),
                source: schema.template_source.clone()?,
                data: to_json(&l, &Value::Record(d.record.clone()?)),
            })
        })
        .collect();
    let secrets = prog
        .module(prog.root)
        .entries
        .iter()
        .filter_map(|e| match &e.item {
            crate::syntax::ast::Item::Param(p) if matches!(&p.ty, crate::syntax::ast::TypeExpr::Name(n) if n.name == "secret") => {
                Some(p.name.name.clone())
            }
            _ => None,
        })
        .collect();
    Stack {
        name: stack_name,
        span: stack_span,
        region: s(&st, "region"),
        cluster: s(&st, "cluster"),
        namespace: s(&st, "namespace"),
        tags: match st.get("tags") {
            Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect(),
            _ => BTreeMap::new(),
        },
        prometheus_url: s(&st, "prometheus_url"),
        node_ami: s(&st, "node_ami"),
        node_groups: l.variant(st.get("node_provisioner")) == "node_group",
        gateway: s(&st, "gateway"),
        irsa: l.variant(st.get("identity")) == "irsa",
        account: opt_s(&st, "account"),
        device_plugin_namespace: s(&st, "device_plugin_namespace"),
        secrets,
        storages,
        models,
        datasets,
        pools,
        services,
        pipelines,
        cdns,
        policy,
        drs,
        budgets,
        monitors,
        rendered,
    }
}

use std::rc::Rc;

/// A value as template data: durations in seconds, sizes in bytes, money in dollars,
/// ratios as fractions, variants and references by name, secrets as `{"secret": NAME}`.
fn to_json(l: &Lowerer, v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Unknown | Value::None | Value::Module(_) | Value::Signals(_) => serde_json::Value::Null,
        Value::Bool(x) => json!(x),
        Value::Int(n) => json!(n),
        Value::Float(x) => json!(x),
        Value::Str(x) => json!(x.as_ref()),
        Value::Qty(x, d) => match *d {
            Dim::DURATION => json!(x / 1000.0),
            Dim::MONEY => json!((x / 100.0 * 1e6).round() / 1e6),
            Dim::RATE => json!(x * 1000.0),
            Dim::MONEY_RATE => json!((x / 100.0 * 3_600_000.0 * 1e6).round() / 1e6),
            _ => json!(x),
        },
        Value::Ratio(x) => json!(x),
        Value::Secret(n) => json!({ "secret": n.as_ref() }),
        Value::Cond(..) => serde_json::Value::Null,
        Value::List(xs) => serde_json::Value::Array(xs.iter().map(|x| to_json(l, x)).collect()),
        Value::Map(m) => serde_json::Value::Object(m.iter().map(|(k, x)| (k.clone(), to_json(l, x))).collect()),
        Value::Record(r) => {
            serde_json::Value::Object(r.fields.iter().map(|(k, f)| (k.clone(), to_json(l, &f.value))).collect())
        }
        Value::Enum(..) => json!(l.variant(Some(v))),
        Value::Ref(d) => json!(l.a.decls[d.0 as usize].address()),
        Value::Range(r) => json!({ "min": to_json(l, &r.0), "max": to_json(l, &r.1) }),
    }
}
