//! `engine_args = { … }` on services: extra vLLM arguments, checked against vLLM 0.33.0's own
//! argument list ([`VLLM_ARGS`], a table transcribed from `../shared/schemas/vllm`).
//!
//! Takes: the evaluated stack ([`super::policy::StackView`]). Gives: E0425 for an argument
//! vLLM does not have (with the nearest name), E0426 for a value of the wrong type or
//! outside argparse's choices, E0427 for an argument the compiler sets from the stack's own
//! fields, and E0428 for
//! `engine_args` on an engine that reads no vLLM arguments (TGI, Triton's onnxruntime).
//! Keys are written with underscores (`enable_prefix_caching`); the emitted
//! `vllm.yaml` uses dashes, Triton's `model.json` the `EngineArgs` field (underscores).

pub use super::engine_args_table::VLLM_ARGS;
use super::policy::StackView;
use super::value::{Record, Value};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;

/// What an argument's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    Bool,
    Int,
    /// An int, or a human-readable size string (`1k`, `2M`, `1G`).
    Size,
    Float,
    Str,
    /// A JSON object, given as a JSON string.
    Json,
    /// Space-separated values, given as a string.
    List,
}

/// Arguments the compiler derives from the stack: setting them would unpin the model or
/// break the pod's wiring. (name, the field that sets it)
pub const RESERVED: &[(&str, &str)] = &[
    ("model", "model.store/path/version"),
    ("served-model-name", "the model's name"),
    ("host", "the pod's wiring"),
    ("port", "the engine image's port"),
    ("config", "the pod's wiring"),
    ("tensor-parallel-size", "tensor_parallel"),
    ("max-num-seqs", "max_batch"),
    ("gpu-memory-utilization", "gpu_memory_utilization"),
    ("max-model-len", "model.context_length"),
    ("dtype", "model.precision"),
    ("load-format", "the model's store"),
    ("download-dir", "cache"),
];

/// The canonical (dashed) spelling of a key.
pub fn canonical(key: &str) -> String {
    key.trim_start_matches('-').replace('_', "-")
}

/// The table row for a key, if vLLM has the argument.
pub fn lookup(key: &str) -> Option<(ArgKind, &'static [&'static str])> {
    let k = canonical(key);
    VLLM_ARGS.iter().find(|(n, _, _)| *n == k).map(|(_, kind, ch)| (*kind, *ch))
}

/// Why `v` is not a valid value of an argument, if it is not.
pub fn type_error(kind: ArgKind, choices: &[&str], v: &Value) -> Option<String> {
    let ok = match (kind, v) {
        (_, Value::Unknown) => true,
        (ArgKind::Bool, Value::Bool(_)) => true,
        (ArgKind::Int, Value::Int(_)) => true,
        (ArgKind::Size, Value::Int(_)) => true,
        (ArgKind::Size, Value::Str(s)) => {
            let digits = s.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
            !digits.is_empty() && digits.parse::<f64>().is_ok()
        }
        (ArgKind::Float, Value::Int(_) | Value::Float(_)) => true,
        (ArgKind::Str, Value::Str(s)) => choices.is_empty() || choices.contains(&&**s),
        (ArgKind::Json, Value::Str(s)) => serde_json::from_str::<serde_json::Value>(s).is_ok() || !s.starts_with('{'),
        (ArgKind::List, Value::Str(_)) => true,
        _ => false,
    };
    if ok {
        return None;
    }
    Some(match (kind, v) {
        (ArgKind::Str, Value::Str(s)) => format!("`{s}` is not one of {}", choices.join(", ")),
        (ArgKind::Json, _) => "expects a JSON object, written as a string".into(),
        (ArgKind::List, _) => "expects space-separated values, written as a string".into(),
        (ArgKind::Size, _) => "expects an int or a size such as \"4k\"".into(),
        (k, _) => format!("expects {}", kind_name(k)),
    })
}

fn kind_name(k: ArgKind) -> &'static str {
    match k {
        ArgKind::Bool => "a bool",
        ArgKind::Int => "an int",
        ArgKind::Size => "an int",
        ArgKind::Float => "a number",
        ArgKind::Str => "a string",
        ArgKind::Json => "a JSON string",
        ArgKind::List => "a string",
    }
}

/// The known argument nearest to `key` (edit distance at most a third of its length).
pub fn suggest(key: &str) -> Option<&'static str> {
    let k = canonical(key);
    let best = VLLM_ARGS.iter().map(|(n, _, _)| (*n, edit_distance(&k, n))).min_by_key(|(_, d)| *d)?;
    (best.1 <= (k.len() / 3).max(2)).then_some(best.0)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl StackView<'_> {
    pub fn engine_arg_rules(&mut self) {
        for (sid, svc) in self.active_of("service") {
            let Some(Value::Map(args)) = svc.get("engine_args") else { continue };
            if args.is_empty() {
                continue;
            }
            let at = svc.span_of("engine_args").unwrap_or_else(|| self.decl_span(sid));
            if let Some(why) = self.no_vllm_args(&svc) {
                self.error(
                    Diagnostic::error(codes::ENGINE_ARGS_ENGINE, at, format!("`engine_args` has no effect: {why}"))
                        .with_primary_label("these are vLLM arguments")
                        .with_help("remove `engine_args`, or serve the model with `engine = vllm`"),
                );
                continue;
            }
            for (key, v) in args.iter() {
                self.check_engine_arg(key, v, at);
            }
        }
    }

    /// Why a service's engine reads no vLLM arguments, if it reads none.
    fn no_vllm_args(&mut self, svc: &Record) -> Option<String> {
        let engine = match svc.get("engine") {
            Some(Value::Enum(e, i, _)) => self.prog.types.enum_(*e).variants[*i].name.clone(),
            _ => return None,
        };
        match engine.as_str() {
            "tgi" => Some("Text Generation Inference does not run vLLM".into()),
            "triton" => {
                let Some(Value::Ref(m)) = svc.get("model") else { return None };
                let model = self.rec(*m)?;
                match model.get("format") {
                    Some(Value::Enum(e, i, _)) if self.prog.types.enum_(*e).variants[*i].name == "onnx" => {
                        Some("an ONNX model runs on Triton's onnxruntime backend, not vLLM".into())
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn check_engine_arg(&mut self, key: &str, v: &Value, at: Span) {
        let k = canonical(key);
        if let Some((_, field)) = RESERVED.iter().find(|(n, _)| *n == k) {
            let msg = format!("engine argument `{key}` is set from {field}");
            self.error(
                Diagnostic::error(codes::ENGINE_ARG_RESERVED, at, msg)
                    .with_primary_label("set here")
                    .with_help(format!("set {field} instead; the compiler derives `--{k}` from it")),
            );
            return;
        }
        let Some((kind, choices)) = lookup(key) else {
            let mut d =
                Diagnostic::error(codes::ENGINE_ARG_UNKNOWN, at, format!("`{key}` is not a vLLM 0.33.0 argument"))
                    .with_primary_label("in these engine arguments");
            d = match suggest(key) {
                Some(s) => d.with_help(format!("did you mean `{}`?", s.replace('-', "_"))),
                None => d.with_help("see `vllm serve --help=all` for vLLM 0.33.0's arguments"),
            };
            self.error(d);
            return;
        };
        if let Some(why) = type_error(kind, choices, v) {
            self.error(
                Diagnostic::error(codes::ENGINE_ARG_TYPE, at, format!("engine argument `{key}` {why}"))
                    .with_primary_label("in these engine arguments")
                    .with_help(format!("vLLM 0.33.0's `--{k}` {}", expects(kind, choices))),
            );
        }
    }
}

fn expects(kind: ArgKind, choices: &[&str]) -> String {
    if choices.is_empty() {
        format!("takes {}", kind_name(kind))
    } else {
        format!("takes one of {}", choices.join(", "))
    }
}
