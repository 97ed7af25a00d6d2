//! Observability: a ServiceMonitor per service, and PrometheusRules for SLOs and monitors
//! with every condition compiled to PromQL on the engine's real metric names, plus a
//! `<service>-engine-health` rule per service whose `absent(up{…} == 1)` alert fires when no
//! engine of a workload answers its scrape (a dead engine has no error rate to alert on).

use super::crd::*;

use super::{object_meta, Obj};
use crate::emit::promql::{self, Scope};
use crate::ir::{Cond, Engine, Stack};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

fn duration(s: u64) -> String {
    if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn camel(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn rule(alert: String, expr: String, for_s: u64, severity: &str, summary: String, address: &str) -> Rule {
    let mut labels = BTreeMap::new();
    labels.insert("severity".to_string(), severity.to_string());
    labels.insert("aistack_declaration".to_string(), address.to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), summary);
    Rule { alert, expr, for_: duration(for_s), labels, annotations }
}

fn cmp(name: &str, op: &str, x: f64) -> Cond {
    Cond::Cmp(
        op.into(),
        Box::new(Cond::Signal { namespace: "metric".into(), name: name.into() }),
        Box::new(Cond::Num(x)),
    )
}

pub fn emit(stack: &Stack, objs: &mut Vec<Obj>) {
    for svc in &stack.services {
        let name = &svc.meta.name;
        let port = if svc.engine == Engine::Triton { "metrics" } else { "http" };
        let sm = Object {
            api_version: "monitoring.coreos.com/v1",
            kind: "ServiceMonitor",
            metadata: object_meta(stack, &svc.meta, name),
            spec: ServiceMonitorSpec {
                selector: LabelSelector {
                    match_labels: Some(
                        crate::emit::labels(stack, &svc.meta)
                            .into_iter()
                            .filter(|(k, _)| k == "aistack.dev/declaration" || k == "aistack.dev/stack")
                            .collect(),
                    ),
                    ..Default::default()
                },
                endpoints: vec![MonitorEndpoint { port: port.into(), path: "/metrics".into(), interval: "30s".into() }],
            },
        };
        objs.push(Obj::new("ServiceMonitor", name, &sm, vec![svc.meta.full_address()]));
        // An A/B service's signals span the Services of all its variants.
        let workloads: Vec<String> = crate::emit::serving::workloads(svc).into_iter().map(|w| w.0).collect();
        objs.push(health_rule(stack, svc, &workloads));
        let scope = Scope::workloads(svc.engine, &stack.namespace, &workloads);
        let slo = &svc.slo;
        let mut rules = Vec::new();
        let mut add = |key: &str, c: Cond, what: String| {
            let expr = format!("({}) == 1", promql::holds(&c, &scope));
            rules.push(rule(
                format!("{}Slo{}", camel(name), camel(key)),
                expr,
                600,
                "page",
                what,
                &svc.meta.full_address(),
            ));
        };
        for (key, v) in [
            ("p50_latency", slo.p50_latency_s),
            ("p95_latency", slo.p95_latency_s),
            ("p99_latency", slo.p99_latency_s),
            ("mean_latency", slo.mean_latency_s),
            ("time_to_first_token", slo.time_to_first_token_s),
        ] {
            if let Some(x) = v {
                add(
                    key,
                    cmp(key, ">", x),
                    format!("{} of {} is above its SLO of {x}s", key.replace('_', " "), svc.meta.address),
                );
            }
        }
        if let Some(a) = slo.availability {
            let budget = ((1.0 - a) * 1e6).round() / 1e6;
            add(
                "availability",
                cmp("error_rate", ">", budget),
                format!("errors of {} exceed the {}% availability SLO", svc.meta.address, a * 100.0),
            );
        }
        if let Some(e) = slo.error_rate {
            add(
                "error_rate",
                cmp("error_rate", ">", e),
                format!("error rate of {} is above its SLO", svc.meta.address),
            );
        }
        if !rules.is_empty() {
            objs.push(prometheus_rule(stack, &svc.meta, &format!("{name}-slo"), rules));
        }
    }
    for m in &stack.monitors {
        let Some(svc) = stack.services.get(m.target) else { continue };
        let workloads: Vec<String> = crate::emit::serving::workloads(svc).into_iter().map(|w| w.0).collect();
        let scope = Scope::workloads(svc.engine, &stack.namespace, &workloads);
        let mut rules: Vec<Rule> = m
            .alerts
            .iter()
            .map(|a| {
                let expr = format!("({}) == 1", promql::holds(&a.when, &scope));
                let summary = format!("{} on {}: {}", a.name, svc.meta.address, promql::describe(&a.when));
                rule(camel(&a.name), expr, a.for_s, &a.severity, summary, &m.meta.full_address())
            })
            .collect();
        if let Some(d) = &m.drift {
            let baseline = stack.datasets.get(d.baseline).map_or(String::new(), |b| b.meta.name.clone());
            // The drift job publishes one gauge per method: aistack_eval_drift_psi, _ks, _kl.
            let expr = format!(
                "max(aistack_eval_drift_{}{{namespace=\"{}\",dataset=\"{baseline}\"}}) > {}",
                d.method, stack.namespace, d.threshold
            );
            let mut r = rule(
                format!("{}Drift", camel(&m.meta.name)),
                expr,
                0,
                "ticket",
                format!("{} drift against {baseline} passed {}", d.method, d.threshold),
                &m.meta.full_address(),
            );
            if let Some(p) = d.on_breach.and_then(|i| stack.pipelines.get(i)) {
                r.labels.insert("aistack_on_breach".into(), p.meta.name.clone());
            }
            rules.push(r);
        }
        if !rules.is_empty() {
            objs.push(prometheus_rule(stack, &m.meta, &m.meta.name, rules));
        }
    }
}

/// Minutes a workload may go unscraped before it pages: longer than a rolling replacement,
/// shorter than an outage anyone tolerates.
const DOWN_FOR_S: u64 = 600;

fn health_rule(stack: &Stack, svc: &crate::ir::Service, workloads: &[String]) -> Obj {
    let rules = workloads
        .iter()
        .map(|w| {
            let expr = format!("absent(up{{namespace=\"{}\",service=\"{w}\"}} == 1)", stack.namespace);
            let summary = format!("no engine of {w} ({}) answers its metrics scrape", svc.meta.address);
            rule(format!("{}Down", camel(w)), expr, DOWN_FOR_S, "page", summary, &svc.meta.full_address())
        })
        .collect();
    prometheus_rule(stack, &svc.meta, &format!("{}-engine-health", svc.meta.name), rules)
}

fn prometheus_rule(stack: &Stack, meta: &crate::ir::Meta, name: &str, rules: Vec<Rule>) -> Obj {
    let pr = Object {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: object_meta(stack, meta, name),
        spec: PrometheusRuleSpec { groups: vec![RuleGroup { name: name.to_string(), rules }] },
    };
    Obj::new("PrometheusRule", name, &pr, vec![meta.full_address()])
}
