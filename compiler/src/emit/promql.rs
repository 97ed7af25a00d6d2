//! Conditions to PromQL, on the metric names each engine really exports.
//!
//! Takes: an IR [`Cond`] and the [`Scope`] it is evaluated in (engine, namespace, service).
//! Gives: PromQL. A whole condition compiles to a vector that is 1 when it holds and 0
//! otherwise ([`holds`]), built from `bool` comparisons, so alerts (`== 1`), Argo analyses
//! (`result[0] == 1`) and gates read it the same way. A bare signal compiles to its value
//! ([`signal`]) in base units: seconds, bytes, fractions, per-second rates.
//! Metric names: vLLM 0.33 (`vllm:*`, and `http_requests_total` from the
//! prometheus-fastapi-instrumentator on the same `/metrics`), Triton (`nv_inference_*`), TGI
//! (`tgi_*`), DCGM exporter (`DCGM_FI_DEV_*`); eval signals are gauges `aistack_eval_<name>`
//! that pipelines push, labelled with the pipeline. [`METRIC_NAMES`] lists every name this
//! module may emit, with where it is exported; a test checks emitted queries against it and
//! against `../shared/schemas/vllm/vllm-metrics-v0.33.0.json`.
//!
//! DCGM series are scraped through the GPU Operator's ServiceMonitor with its default
//! `honorLabels: false`, so the workload's labels arrive as `exported_namespace` and
//! `exported_pod` (the plain `namespace`/`pod` are the exporter's own).
//!
//! Error rates count server-side failures and never read 0 for a dead engine: the error
//! counters that exist only after the first error are `or vector(0)`, while the
//! denominator is a series the live engine always exports, so with no engine the ratio has
//! no value (and the per-service `absent(up)` alert in `k8s/observe.rs` fires).

use crate::ir::{Cond, Engine};

/// Where a condition is evaluated.
#[derive(Clone, Debug)]
pub struct Scope {
    pub engine: Engine,
    pub namespace: String,
    /// Kubernetes Service (and pod-name prefix) of the serving workload, if any; several
    /// names (the workloads of an A/B service) are joined with `|` and matched as a regex.
    pub service: Option<String>,
    /// Pipeline that publishes `eval.*` signals, if any.
    pub pipeline: Option<String>,
    /// Range of `rate()` windows.
    pub window: &'static str,
    /// Pod-name prefix for per-pod (DCGM) signals, when it differs from the Service.
    pub pods: Option<String>,
}

impl Scope {
    pub fn service(engine: Engine, namespace: &str, service: &str) -> Scope {
        Scope {
            engine,
            namespace: namespace.into(),
            service: Some(service.into()),
            pipeline: None,
            window: "5m",
            pods: None,
        }
    }
    /// Every workload of a service (one, or one per A/B variant).
    pub fn workloads(engine: Engine, namespace: &str, names: &[String]) -> Scope {
        Scope::service(engine, namespace, &names.join("|"))
    }
    fn sel(&self, extra: &str) -> String {
        let mut parts = vec![format!("namespace=\"{}\"", self.namespace)];
        if let Some(s) = &self.service {
            let op = if s.contains('|') { "=~" } else { "=" };
            parts.push(format!("service{op}\"{s}\""));
        }
        if !extra.is_empty() {
            parts.push(extra.to_string());
        }
        format!("{{{}}}", parts.join(","))
    }
    /// DCGM series of the workload's pods (`exported_*`: see the module header).
    fn pod_sel(&self) -> String {
        if let Some(p) = &self.pods {
            return format!("{{exported_namespace=\"{}\",exported_pod=~\"{p}-.*\"}}", self.namespace);
        }
        match &self.service {
            Some(s) if s.contains('|') => {
                format!("{{exported_namespace=\"{}\",exported_pod=~\"({s})-.*\"}}", self.namespace)
            }
            Some(s) => format!("{{exported_namespace=\"{}\",exported_pod=~\"{s}-.*\"}}", self.namespace),
            None => format!("{{exported_namespace=\"{}\"}}", self.namespace),
        }
    }
}

fn quantile(q: &str, bucket: &str, sel: &str, w: &str) -> String {
    format!("histogram_quantile({q}, sum by (le) (rate({bucket}{sel}[{w}])))")
}

/// The value of a signal in base units.
pub fn signal(namespace: &str, name: &str, s: &Scope) -> String {
    let w = s.window;
    let sel = s.sel("");
    if namespace == "eval" {
        let p = s.pipeline.as_deref().map(|p| format!(",pipeline=\"{p}\"")).unwrap_or_default();
        return format!("max(aistack_eval_{name}{{namespace=\"{}\"{p}}})", s.namespace);
    }
    let q = |n: &str| match n {
        "p50_latency" => "0.5",
        "p99_latency" => "0.99",
        _ => "0.95",
    };
    match (s.engine, name) {
        (_, "gpu_utilization") => format!("avg(DCGM_FI_DEV_GPU_UTIL{}) / 100", s.pod_sel()),
        (_, "gpu_memory_used") => format!("sum(DCGM_FI_DEV_FB_USED{}) * 1048576", s.pod_sel()),
        (Engine::Vllm, "kv_cache_usage" | "preemptions") => vllm_cache_signal(name, s),
        (Engine::Triton, "mean_latency") => triton_mean_latency(s),
        (Engine::Vllm, "queue_depth") => format!("sum(vllm:num_requests_waiting{sel})"),
        (Engine::Vllm, "p50_latency" | "p95_latency" | "p99_latency") => {
            quantile(q(name), "vllm:e2e_request_latency_seconds_bucket", &sel, w)
        }
        (Engine::Vllm, "time_to_first_token") => quantile("0.95", "vllm:time_to_first_token_seconds_bucket", &sel, w),
        (Engine::Vllm, "error_rate") => vllm_error_rate(s),
        (Engine::Vllm, "tokens_per_second") => format!("sum(rate(vllm:generation_tokens_total{sel}[{w}]))"),
        (Engine::Vllm, "requests_per_second") => format!("sum(rate(vllm:request_success_total{sel}[{w}]))"),
        (Engine::Triton, "queue_depth") => format!("sum(nv_inference_pending_request_count{sel})"),
        (Engine::Triton, "time_to_first_token") => {
            format!("{} / 1000", quantile("0.95", "nv_inference_first_response_histogram_ms_bucket", &sel, w))
        }
        // Triton exports no HTTP-status counter; its per-model failure counter counts every
        // failed inference request (created with the model, so present while it is loaded).
        (Engine::Triton, "error_rate") => format!(
            "sum(rate(nv_inference_request_failure{sel}[{w}])) / clamp_min(sum(rate(nv_inference_request_success{sel}[{w}])) + sum(rate(nv_inference_request_failure{sel}[{w}])), 1e-9)"
        ),
        // Triton exports cumulative durations, not histograms, and no token counter: its
        // `engine_signals` (stdlib) list neither latency quantiles nor tokens, so the checker
        // refuses them (E0432) before they reach here.
        (Engine::Triton, "requests_per_second") => {
            format!("sum(rate(nv_inference_request_success{sel}[{w}]))")
        }
        (Engine::Tgi, "queue_depth") => format!("sum(tgi_queue_size{sel})"),
        (Engine::Tgi, "p50_latency" | "p95_latency" | "p99_latency") => {
            quantile(q(name), "tgi_request_duration_bucket", &sel, w)
        }
        (Engine::Tgi, "time_to_first_token") => {
            quantile("0.95", "tgi_batch_inference_duration_bucket", &s.sel("method=\"prefill\""), w)
        }
        // TGI exports no HTTP-status counter; `tgi_request_failure{err}` counts failed
        // requests (router/src: `err` is validation, overloaded, generation, timeout, dropped,
        // …). Client errors (`validation`, 422) and client disconnects (`dropped`) are not
        // the server's; the counter exists only after the first failure.
        (Engine::Tgi, "error_rate") => format!(
            "(sum(rate(tgi_request_failure{}[{w}])) or vector(0)) / clamp_min(sum(rate(tgi_request_count{sel}[{w}])), 1e-9)",
            s.sel("err!~\"validation|dropped\"")
        ),
        (Engine::Tgi, "tokens_per_second") => format!("sum(rate(tgi_request_generated_tokens_sum{sel}[{w}]))"),
        (Engine::Tgi, "requests_per_second") => format!("sum(rate(tgi_request_success{sel}[{w}]))"),
        (_, other) => format!("sum(aistack_{other}{sel})"),
    }
}

/// vLLM's KV-cache pressure: the cache's used fraction (`vllm:kv_cache_usage_perc`, a gauge
/// in 0..1 despite its name; the busiest replica) and preemptions per second
/// (`vllm:num_preemptions_total`, a counter), names as in vLLM 0.33's metrics.
fn vllm_cache_signal(name: &str, s: &Scope) -> String {
    let sel = s.sel("");
    if name == "kv_cache_usage" {
        format!("max(vllm:kv_cache_usage_perc{sel})")
    } else {
        format!("sum(rate(vllm:num_preemptions_total{sel}[{}]))", s.window)
    }
}

/// Triton's mean request latency: cumulative duration over successful requests (Triton
/// exports no latency histogram, so no quantiles).
fn triton_mean_latency(s: &Scope) -> String {
    let (sel, w) = (s.sel(""), s.window);
    format!(
        "sum(rate(nv_inference_request_duration_us{sel}[{w}])) / clamp_min(sum(rate(nv_inference_request_success{sel}[{w}])), 1e-9) / 1e6"
    )
}

/// vLLM's error ratio: HTTP 5xx answered by the API server (exceptions, timeouts, engine
/// crashes: `http_requests_total{status="5xx"}`, created at the first 5xx) plus requests the
/// engine finished with `finished_reason="error"` (streamed requests end so after their 200),
/// over finished requests plus 5xx. `vllm:request_success_total` exists for every reason from
/// start, so a live idle engine reads 0 and a dead one reads nothing. A non-streamed engine
/// error is counted twice (it is also a 500): the ratio errs high, never low.
fn vllm_error_rate(s: &Scope) -> String {
    let w = s.window;
    let http5xx = format!("(sum(rate(http_requests_total{}[{w}])) or vector(0))", s.sel("status=\"5xx\""));
    let engine = format!("sum(rate(vllm:request_success_total{}[{w}]))", s.sel("finished_reason=\"error\""));
    let finished = format!("sum(rate(vllm:request_success_total{}[{w}]))", s.sel(""));
    format!("clamp_max(({engine} + {http5xx}) / clamp_min({finished} + {http5xx}, 1e-9), 1)")
}

/// Every metric name the queries of this module (and the `up` alert) may name, with the
/// exporter it comes from; `aistack_eval_*` gauges are pushed by pipelines.
pub const METRIC_NAMES: &[(&str, &str)] = &[
    ("up", "Prometheus, per scrape target"),
    ("http_requests_total", "vLLM API server (prometheus-fastapi-instrumentator)"),
    ("DCGM_FI_DEV_GPU_UTIL", "DCGM exporter default counters"),
    ("DCGM_FI_DEV_FB_USED", "DCGM exporter default counters"),
    ("nv_inference_pending_request_count", "Triton metrics"),
    ("nv_inference_request_duration_us", "Triton metrics"),
    ("nv_inference_request_success", "Triton metrics"),
    ("nv_inference_request_failure", "Triton metrics"),
    ("nv_inference_first_response_histogram_ms_bucket", "Triton metrics"),
    ("tgi_queue_size", "TGI router"),
    ("tgi_request_duration_bucket", "TGI router"),
    ("tgi_batch_inference_duration_bucket", "TGI router"),
    ("tgi_request_failure", "TGI router"),
    ("tgi_request_count", "TGI router"),
    ("tgi_request_generated_tokens_sum", "TGI router"),
    ("tgi_request_success", "TGI router"),
];

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A value-valued condition (signals, constants, arithmetic).
pub fn value(c: &Cond, s: &Scope) -> String {
    match c {
        Cond::Signal { namespace, name } => signal(namespace, name, s),
        Cond::Num(x) => num(*x),
        Cond::Bool(b) => if *b { "1" } else { "0" }.into(),
        Cond::Arith(op, a, b) => format!("({}) {op} ({})", value(a, s), value(b, s)),
        Cond::Neg(a) => format!("-({})", value(a, s)),
        other => holds(other, s),
    }
}

fn negate(op: &str) -> &'static str {
    match op {
        ">" => "<=",
        ">=" => "<",
        "<" => ">=",
        "<=" => ">",
        "==" => "!=",
        _ => "==",
    }
}

/// A 0/1 vector: 1 when the condition holds.
pub fn holds(c: &Cond, s: &Scope) -> String {
    match c {
        Cond::Bool(b) => format!("vector({})", u8::from(*b)),
        Cond::Cmp(op, a, b) => {
            let (l, r) = (value(a, s), value(b, s));
            // One side is usually a constant: keep it a scalar so the result has the
            // signal's (empty) label set.
            format!("({l}) {op} bool ({r})")
        }
        Cond::And(a, b) => format!("({}) * ({})", holds(a, s), holds(b, s)),
        Cond::Or(a, b) => format!("clamp_max(({}) + ({}), 1)", holds(a, s), holds(b, s)),
        Cond::Not(a) => match a.as_ref() {
            Cond::Cmp(op, x, y) => holds(&Cond::Cmp(negate(op).into(), x.clone(), y.clone()), s),
            other => format!("1 - ({})", holds(other, s)),
        },
        other => format!("({}) != bool 0", value(other, s)),
    }
}

/// Signals that add up over replicas (a target per replica makes sense); the others
/// (latencies, ratios) are compared as they are.
pub fn additive(signal: &str) -> bool {
    matches!(signal, "queue_depth" | "requests_per_second" | "tokens_per_second" | "gpu_memory_used")
}

/// The leaves of `a || b || …` when each is `signal > value` or `signal >= value`:
/// (signal name, signal query, threshold). `None` when the condition has another shape.
pub fn scale_triggers(c: &Cond, s: &Scope) -> Option<Vec<(String, String, f64)>> {
    match c {
        Cond::Or(a, b) => {
            let mut v = scale_triggers(a, s)?;
            v.extend(scale_triggers(b, s)?);
            Some(v)
        }
        Cond::Cmp(op, a, b) if op == ">" || op == ">=" => match (a.as_ref(), b.as_ref()) {
            (Cond::Signal { namespace, name }, Cond::Num(x)) => {
                Some(vec![(name.clone(), signal(namespace, name, s), *x)])
            }
            _ => None,
        },
        _ => None,
    }
}

/// The `(signal, op, threshold)` leaves of a condition, for human-readable annotations.
pub fn describe(c: &Cond) -> String {
    match c {
        Cond::Signal { namespace, name } => format!("{namespace}.{name}"),
        Cond::Num(x) => num(*x),
        Cond::Bool(b) => b.to_string(),
        Cond::Cmp(op, a, b) | Cond::Arith(op, a, b) => format!("{} {op} {}", describe(a), describe(b)),
        Cond::And(a, b) => format!("({} && {})", describe(a), describe(b)),
        Cond::Or(a, b) => format!("({} || {})", describe(a), describe(b)),
        Cond::Not(a) => format!("!({})", describe(a)),
        Cond::Neg(a) => format!("-({})", describe(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_signals_read_the_exported_pod_labels() {
        let s = Scope::service(Engine::Vllm, "llm", "chat");
        let q = signal("metric", "gpu_utilization", &s);
        assert_eq!(q, "avg(DCGM_FI_DEV_GPU_UTIL{exported_namespace=\"llm\",exported_pod=~\"chat-.*\"}) / 100");
    }

    fn sig(n: &str) -> Box<Cond> {
        Box::new(Cond::Signal { namespace: "metric".into(), name: n.into() })
    }

    #[test]
    fn conditions_compile_to_zero_one_vectors() {
        let s = Scope::service(Engine::Vllm, "llm", "chat");
        let c = Cond::Or(
            Box::new(Cond::Cmp(">".into(), sig("error_rate"), Box::new(Cond::Num(0.02)))),
            Box::new(Cond::Cmp(">".into(), sig("p95_latency"), Box::new(Cond::Num(2.0)))),
        );
        let q = holds(&c, &s);
        assert!(q.starts_with("clamp_max(("), "{q}");
        assert!(q.contains("vllm:request_success_total{namespace=\"llm\",service=\"chat\",finished_reason=\"error\"}"));
        assert!(q.contains(
            "(sum(rate(http_requests_total{namespace=\"llm\",service=\"chat\",status=\"5xx\"}[5m])) or vector(0))"
        ));
        assert!(q.contains(") > bool (0.02)"));
        assert!(q.contains("histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket"));
        let n = holds(&Cond::Not(Box::new(Cond::Cmp(">".into(), sig("queue_depth"), Box::new(Cond::Num(8.0))))), &s);
        assert_eq!(n, "(sum(vllm:num_requests_waiting{namespace=\"llm\",service=\"chat\"})) <= bool (8)");
    }

    #[test]
    fn only_greater_than_leaves_drive_autoscalers() {
        let s = Scope::service(Engine::Tgi, "ns", "svc");
        let c = Cond::Cmp(">".into(), sig("queue_depth"), Box::new(Cond::Num(16.0)));
        assert_eq!(
            scale_triggers(&c, &s),
            Some(vec![("queue_depth".into(), "sum(tgi_queue_size{namespace=\"ns\",service=\"svc\"})".into(), 16.0)])
        );
        let lt = Cond::Cmp("<".into(), sig("queue_depth"), Box::new(Cond::Num(16.0)));
        assert_eq!(scale_triggers(&lt, &s), None);
    }
}
