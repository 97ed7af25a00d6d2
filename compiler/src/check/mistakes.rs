//! Rules for mistakes the output cannot survive (issue 8): a pool zone outside the stack's
//! region, scaling from zero on a signal only pods export, a signal the service's engine does
//! not export, and pools too small for their services' rollouts and pipelines.
//!
//! Takes: the evaluated stack ([`super::policy::StackView`], read only). Gives: E0430–E0432,
//! E0434 and W0406, located at the field that causes them, with the figures in the user's
//! terms.

use super::policy::StackView;
use super::rules::{field, range, ref_of, span, variant};
use super::value::{Cond, DeclId, Record, Value};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;
use std::collections::BTreeMap;
use std::rc::Rc;

/// `zone` is an availability zone (`us-east-1a`) or a local zone (`us-east-1-bos-1a`) of `region`.
pub fn zone_in_region(zone: &str, region: &str) -> bool {
    match zone.strip_prefix(region) {
        Some(rest) => {
            let local =
                |r: &str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            (rest.len() == 1 && local(rest) && !rest.as_bytes()[0].is_ascii_digit())
                || rest.strip_prefix('-').is_some_and(local)
        }
        None => false,
    }
}

/// The `metric.*` signals a condition reads, in order of appearance.
pub fn metric_signals(c: &Cond, out: &mut Vec<String>) {
    match c {
        Cond::Signal { namespace: "metric", name } if !out.contains(name) => out.push(name.clone()),
        Cond::Binary(_, a, b) => {
            metric_signals(a, out);
            metric_signals(b, out);
        }
        Cond::Not(a) | Cond::Neg(a) => metric_signals(a, out),
        _ => {}
    }
}

fn cond_of(r: &Record, name: &str) -> Option<Rc<Cond>> {
    match r.get(name)? {
        Value::Cond(c, _) => Some(c.clone()),
        _ => None,
    }
}

/// The objectives of an `slo` (`emit/k8s/observe.rs` renders them); each reads the signal of
/// its name, except `availability`, which reads `error_rate`.
const SLO_FIELDS: [&str; 7] =
    ["p50_latency", "p95_latency", "p99_latency", "mean_latency", "time_to_first_token", "availability", "error_rate"];

/// One condition of a service, where it was written and what it drives.
struct Use {
    cond: Rc<Cond>,
    at: Span,
    what: &'static str,
}

impl StackView<'_> {
    pub fn mistake_rules(&mut self) {
        self.zone_rules();
        let signals = self.engine_signals();
        for (sid, svc) in self.active_of("service") {
            let uses = self.service_conditions(sid, &svc);
            self.scale_from_zero(sid, &svc, &uses);
            self.engine_signal_rules(sid, &svc, &uses, &signals);
        }
    }

    fn zone_rules(&mut self) {
        let stacks = self.active_of("stack");
        let Some(region) = stacks.first().and_then(|(_, s)| field(s, "region")?.as_str().map(str::to_string)) else {
            return;
        };
        for (id, pool) in self.active_of("gpu_pool") {
            let Some(Value::List(zones)) = field(&pool, "zones") else { continue };
            let outside: Vec<&str> =
                zones.iter().filter_map(Value::as_str).filter(|z| !zone_in_region(z, &region)).collect();
            if outside.is_empty() {
                continue;
            }
            let shown: Vec<String> = outside.iter().map(|z| format!("\"{z}\"")).collect();
            let msg = format!(
                "zone{} {} of pool `{}` {} not in the stack's region \"{region}\"",
                if outside.len() == 1 { "" } else { "s" },
                shown.join(", "),
                self.addr(id),
                if outside.len() == 1 { "is" } else { "are" }
            );
            let stack_span = stacks.first().map(|(s, r)| span(r, "region", self.decl_span(*s)));
            let mut d = Diagnostic::error(codes::ZONE_REGION, span(&pool, "zones", self.decl_span(id)), msg)
                .with_primary_label("Karpenter can never launch a node there")
                .with_help(format!("list zones of {region} only (\"{region}a\", \"{region}b\", …), or leave `zones` empty for every zone of the region"));
            if let Some(at) = stack_span {
                d = d.with_label(at, format!("the stack runs in {region}"));
            }
            self.error(d);
        }
    }

    /// Engine variant name → the metric signals its `engine_signals` declaration lists.
    fn engine_signals(&mut self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (_, r) in self.active_of("engine_signals") {
            let (Some((engine, _)), Some(Value::List(xs))) = (variant(self, field(&r, "engine")), field(&r, "signals"))
            else {
                continue;
            };
            out.insert(engine, xs.iter().filter_map(Value::as_str).map(str::to_string).collect());
        }
        out
    }

    /// Autoscaling, rollout gates and the alerts of monitors on this service.
    fn service_conditions(&mut self, sid: DeclId, svc: &Record) -> Vec<Use> {
        let name_span = self.decl_span(sid);
        let mut uses = Vec::new();
        if let Some(a) = field(svc, "autoscale").and_then(Value::as_record) {
            if let Some(cond) = cond_of(a, "when") {
                uses.push(Use { cond, at: span(a, "when", name_span), what: "autoscaling" });
            }
        }
        if let Some((_, Some(p))) = variant(self, field(svc, "rollout")) {
            for f in ["abort_when", "promote_when"] {
                if let Some(cond) = cond_of(&p, f) {
                    uses.push(Use { cond, at: span(&p, f, name_span), what: "the rollout" });
                }
            }
        }
        // Each objective of the service's `slo` becomes an alert on its signal.
        if let Some(slo) = field(svc, "slo").and_then(Value::as_record) {
            for f in SLO_FIELDS {
                if matches!(slo.get(f), None | Some(Value::None)) {
                    continue;
                }
                let signal = if f == "availability" { "error_rate" } else { f };
                let cond = Rc::new(Cond::Signal { namespace: "metric", name: signal.to_string() });
                uses.push(Use { cond, at: span(slo, f, name_span), what: "the SLO" });
            }
        }
        for (_, m) in self.active_of("monitor") {
            if ref_of(field(&m, "target")) != Some(sid) {
                continue;
            }
            let Some(Value::Map(alerts)) = field(&m, "alert") else { continue };
            for a in alerts.values().filter_map(Value::as_record) {
                if let Some(cond) = cond_of(a, "when") {
                    uses.push(Use { cond, at: span(a, "when", name_span), what: "an alert" });
                }
            }
        }
        uses
    }

    /// At zero replicas no engine pod runs, so no engine or GPU signal exists to scale up on.
    fn scale_from_zero(&mut self, sid: DeclId, svc: &Record, uses: &[Use]) {
        let Some((min, max)) = range(svc, "replicas") else { return };
        if min > 0.0 {
            return;
        }
        let Some(u) = uses.iter().find(|u| u.what == "autoscaling") else { return };
        let mut names = Vec::new();
        metric_signals(&u.cond, &mut names);
        let Some(first) = names.first() else { return };
        let msg = format!(
            "`{}` may scale to 0 replicas, but its autoscaling reads `metric.{first}`, which only its pods export",
            self.addr(sid)
        );
        let d = Diagnostic::error(codes::SCALE_FROM_ZERO, u.at, msg)
            .with_primary_label("at 0 replicas this signal has no value, so the service never scales up")
            .with_label(span(svc, "replicas", self.decl_span(sid)), "replicas.min is 0")
            .with_help(format!(
                "keep one replica warm: `replicas = 1..{}`; every metric.* signal comes from the service's own pods (a gateway or router queue would exist at zero, but aistack does not emit one)",
                super::value::trim_float(max.max(1.0))
            ));
        self.error(d);
    }

    fn engine_signal_rules(
        &mut self,
        sid: DeclId,
        svc: &Record,
        uses: &[Use],
        signals: &BTreeMap<String, Vec<String>>,
    ) {
        let Some((engine, _)) = variant(self, field(svc, "engine")) else { return };
        let Some(has) = signals.get(&engine) else { return };
        for u in uses {
            let mut names = Vec::new();
            metric_signals(&u.cond, &mut names);
            for n in names.iter().filter(|n| !has.contains(n)) {
                let msg =
                    format!("{engine} does not export `metric.{n}`, which {} of `{}` reads", u.what, self.addr(sid));
                let d = Diagnostic::error(codes::ENGINE_SIGNAL, u.at, msg)
                    .with_label(span(svc, "engine", self.decl_span(sid)), format!("engine {engine}"))
                    .with_help(format!(
                        "{engine} exports: {}{}",
                        has.iter().map(|s| format!("metric.{s}")).collect::<Vec<_>>().join(", "),
                        if n.ends_with("_latency") && has.iter().any(|s| s == "mean_latency") {
                            if u.what == "the SLO" {
                                "; it has no latency histogram, so set `mean_latency` in the slo instead"
                            } else {
                                "; it has no latency histogram, so read `metric.mean_latency` instead"
                            }
                        } else {
                            ""
                        }
                    ));
                self.error(d);
            }
        }
    }
}

/// Pods a service runs at its maximum on one pool: its replicas (for A/B, each variant's
/// share rounded up, at least one) plus one surge pod per workload during a rollout.
pub fn pods_at_max(max: f64, ab_weights: &[f64]) -> (f64, f64) {
    if ab_weights.is_empty() {
        return (max, 1.0);
    }
    let pods: f64 = ab_weights.iter().map(|w| if max <= 0.0 { 0.0 } else { (max * w).ceil().max(1.0) }).sum();
    (pods, ab_weights.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_of_a_region() {
        assert!(zone_in_region("us-east-1a", "us-east-1"));
        assert!(zone_in_region("us-east-1-bos-1a", "us-east-1"));
        assert!(!zone_in_region("us-west-2a", "us-east-1"));
        assert!(!zone_in_region("us-east-12a", "us-east-1"));
        assert!(!zone_in_region("us-east-1", "us-east-1"));
        assert!(!zone_in_region("us-east-1-x${y}\"]", "us-east-1"));
    }

    #[test]
    fn ab_variants_round_up() {
        // 5 replicas split 50/30/20: 3 + 2 + 1 pods, plus one surge pod per variant.
        assert_eq!(pods_at_max(5.0, &[0.5, 0.3, 0.2]), (6.0, 3.0));
        assert_eq!(pods_at_max(4.0, &[]), (4.0, 1.0));
    }
}
