//! The built-in policy rules AIS101–AIS116, one function each (documented in
//! `docs/rules/AIS1xx.md`).
//!
//! Takes: the [`StackView`] (evaluated records only) and its first `policy`. Gives: findings
//! with the rule's id as code and its default severity (the runner applies a policy's
//! override), each at the field that causes it when the user wrote that field, else at the
//! declaration's name.

use super::StackView;
use crate::check::rules::{field, ref_of, span};
use crate::check::types::Dim;
use crate::check::value::{format_duration, DeclId, Record, Value};
use crate::diag::Diagnostic;
use crate::source::Span;

/// The span of `name` when the user set it, else `or` (a default's span is in the stdlib).
fn set_at(r: &Record, name: &str, or: Span) -> Span {
    match r.fields.get(name) {
        Some(f) if f.name_span.is_some() => f.span,
        _ => or,
    }
}

fn is(v: &StackView, r: &Record, name: &str, variant: &str) -> bool {
    v.variant_name(field(r, name)).as_deref() == Some(variant)
}

fn is_none(r: &Record, name: &str) -> bool {
    matches!(field(r, name), None | Some(Value::None))
}

fn public_services(v: &StackView) -> Vec<(DeclId, std::rc::Rc<Record>)> {
    v.active_of("service").into_iter().filter(|(_, s)| is(v, s, "expose", "public")).collect()
}

/// Storages that are the origin of an active cdn.
fn cdn_origins(v: &StackView) -> Vec<DeclId> {
    v.active_of("cdn").iter().filter_map(|(_, c)| ref_of(field(c, "origin"))).collect()
}

/// AIS101: no storage has `encryption = off` (unless the policy makes encryption optional).
pub fn encryption_at_rest(v: &mut StackView) {
    let policy = v.policy.clone();
    if policy.as_ref().is_some_and(|(_, p)| is(v, p, "encryption_at_rest", "optional")) {
        return;
    }
    for (sid, st) in v.active_of("storage") {
        if !is(v, &st, "encryption", "off") {
            continue;
        }
        let at = span(&st, "encryption", v.decl_span(sid));
        let mut d = Diagnostic::error("AIS101", at, format!("storage `{}` is not encrypted at rest", v.addr(sid)));
        if let Some((pid, _)) = &policy {
            let label =
                format!("policy `{}` requires encryption at rest (rule AIS101 encryption_at_rest)", v.addr(*pid));
            d = d.with_label(v.decl_span(*pid), label);
        }
        v.error(d.with_help("set `encryption = kms`"));
    }
}

/// AIS102: a public service without a `hostname` gets a plain-HTTP load balancer.
pub fn encryption_in_transit(v: &mut StackView) {
    for (sid, svc) in public_services(v) {
        if !is_none(&svc, "hostname") {
            continue;
        }
        let msg = format!("public service `{}` is served over plain HTTP: it has no `hostname`", v.addr(sid));
        v.error(
            Diagnostic::error("AIS102", set_at(&svc, "expose", v.decl_span(sid)), msg)
                .with_primary_label("without a hostname the load balancer has no certificate and listens on port 80")
                .with_help("set `hostname = \"chat.example.com\"` (an ACM certificate must cover it): it then answers HTTPS only, TLS 1.2 or later"),
        );
    }
}

/// AIS103: no storage is public unless it is the origin of a cdn.
pub fn no_public_bucket(v: &mut StackView) {
    let origins = cdn_origins(v);
    let policy = v.policy.clone();
    for (sid, st) in v.active_of("storage") {
        if !matches!(field(&st, "public"), Some(Value::Bool(true))) || origins.contains(&sid) {
            continue;
        }
        let at = span(&st, "public", v.decl_span(sid));
        let mut d =
            Diagnostic::error("AIS103", at, format!("storage `{}` is public with no cdn in front", v.addr(sid)));
        if let Some((pid, _)) = &policy {
            d = d.with_label(
                v.decl_span(*pid),
                format!("policy `{}` forbids it (rule AIS103 no_public_buckets)", v.addr(*pid)),
            );
        }
        v.error(d.with_help("keep it private and serve it through a `cdn` with origin access control"));
    }
}

/// AIS104: every model has a `digest`.
pub fn model_digest(v: &mut StackView) {
    for (mid, m) in v.active_of("model") {
        if matches!(field(&m, "digest"), Some(Value::None)) {
            v.error(
                Diagnostic::warning(
                    "AIS104",
                    v.decl_span(mid),
                    format!("model `{}` is not pinned by digest", v.addr(mid)),
                )
                .with_help(
                    "set `digest = \"sha256:…\"` so every replica loads the same bytes (rule AIS104 digests_pinned)",
                ),
            );
        }
    }
}

/// AIS105: pipeline images, and the image each service runs, are pinned by digest.
pub fn image_digest(v: &mut StackView) {
    let help = "reference it as image@sha256:… (rule AIS105 images_pinned)";
    for (pid, p) in v.active_of("pipeline") {
        if let Some(Value::Str(img)) = field(&p, "image") {
            if !img.contains("@sha256:") {
                let at = span(&p, "image", v.decl_span(pid));
                v.error(
                    Diagnostic::warning("AIS105", at, format!("image \"{img}\" is not pinned by digest"))
                        .with_help(help),
                );
            }
        }
    }
    let defaults: Vec<(Option<String>, String)> = v
        .active_of("engine_image")
        .iter()
        .filter_map(|(_, r)| Some((v.variant_name(field(r, "engine")), field(r, "image")?.as_str()?.to_string())))
        .collect();
    for (sid, svc) in v.active_of("service") {
        if let Some(Value::Str(img)) = field(&svc, "image") {
            if !img.contains("@sha256:") {
                let at = span(&svc, "image", v.decl_span(sid));
                v.error(
                    Diagnostic::warning("AIS105", at, format!("image \"{img}\" is not pinned by digest"))
                        .with_help(help),
                );
            }
            continue;
        }
        let engine = v.variant_name(field(&svc, "engine"));
        let Some((_, img)) = defaults.iter().find(|(e, _)| *e == engine) else { continue };
        if !img.contains("@sha256:") {
            let msg =
                format!("service `{}` runs the engine's default image \"{img}\", pinned by tag only", v.addr(sid));
            v.error(
                Diagnostic::warning("AIS105", v.decl_span(sid), msg)
                    .with_help("set `image = \"…@sha256:…\"` on the service (rule AIS105 images_pinned)"),
            );
        }
    }
}

fn pii_datasets(v: &StackView) -> Vec<(DeclId, std::rc::Rc<Record>)> {
    v.active_of("dataset")
        .into_iter()
        .filter(|(_, d)| matches!(field(d, "contains_pii"), Some(Value::Bool(true))))
        .collect()
}

/// AIS106: a data set with `contains_pii = true` declares a `privacy` setting.
pub fn pii_privacy(v: &mut StackView) {
    for (did, d) in pii_datasets(v) {
        if is_none(&d, "privacy") {
            let at = set_at(&d, "contains_pii", v.decl_span(did));
            v.error(
                Diagnostic::error(
                    "AIS106",
                    at,
                    format!("data set `{}` contains personal data and declares no `privacy`", v.addr(did)),
                )
                .with_help(
                    "set `privacy = differential { epsilon = 8 }` so models trained on it are differentially private",
                ),
            );
        }
    }
}

/// AIS107: no public service caches in a storage that holds a data set with personal data.
pub fn pii_public_cache(v: &mut StackView) {
    let pii: Vec<(DeclId, Option<DeclId>)> =
        pii_datasets(v).iter().map(|(id, d)| (*id, ref_of(field(d, "store")))).collect();
    for (sid, svc) in public_services(v) {
        let Some(cache) = ref_of(field(&svc, "cache")) else { continue };
        for (did, _) in pii.iter().filter(|(_, store)| *store == Some(cache)) {
            let msg = format!(
                "public service `{}` caches in `{}`, which holds data set `{}` with personal data",
                v.addr(sid),
                v.addr(cache),
                v.addr(*did)
            );
            v.error(
                Diagnostic::error("AIS107", span(&svc, "cache", v.decl_span(sid)), msg)
                    .with_label(v.decl_span(*did), "contains_pii = true")
                    .with_help("give the service a cache of its own that holds only the model's weights"),
            );
        }
    }
}

/// AIS108: a public service has a `guard` with a `rate_limit` and `max_input_tokens`.
pub fn public_guard(v: &mut StackView) {
    for (sid, svc) in public_services(v) {
        let name = v.addr(sid);
        let Some(guard) = field(&svc, "guard").and_then(Value::as_record) else {
            v.error(
                Diagnostic::error(
                    "AIS108",
                    set_at(&svc, "expose", v.decl_span(sid)),
                    format!("public service `{name}` has no `guard`"),
                )
                .with_help(
                    "add `guard { rate_limit = 10/s, max_input_tokens = 8192 }`: the rate limit becomes a WAF rule",
                ),
            );
            continue;
        };
        let at = span(&svc, "guard", v.decl_span(sid));
        let missing: Vec<&str> = ["rate_limit", "max_input_tokens"].into_iter().filter(|f| is_none(guard, f)).collect();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            v.error(
                Diagnostic::error(
                    "AIS108",
                    at,
                    format!("the guard of public service `{name}` sets no {}", shown.join(" or ")),
                )
                .with_help("set `rate_limit = 10/s` (requests per client) and `max_input_tokens = 8192`"),
            );
        }
    }
}

/// AIS109: every service declares an `slo`.
pub fn service_slo(v: &mut StackView) {
    for (sid, svc) in v.active_of("service") {
        if is_none(&svc, "slo") {
            v.error(
                Diagnostic::warning("AIS109", v.decl_span(sid), format!("service `{}` declares no `slo`", v.addr(sid)))
                    .with_help("add `slo { p95_latency = 2s, availability = 99.9% }`: each objective becomes an alert and a rollout gate"),
            );
        }
    }
}

/// AIS110: every service is the target of a `monitor`.
pub fn service_monitor(v: &mut StackView) {
    let watched: Vec<DeclId> = v.active_of("monitor").iter().filter_map(|(_, m)| ref_of(field(m, "target"))).collect();
    for (sid, _) in v.active_of("service") {
        if !watched.contains(&sid) {
            let name = v.addr(sid);
            v.error(
                Diagnostic::warning("AIS110", v.decl_span(sid), format!("no monitor watches service `{name}`"))
                    .with_help(format!("add `monitor {name}_watch {{ target = {name}, alert = {{ … }} }}`")),
            );
        }
    }
}

/// Whether the stack's tags say it is not production (`environment`, `env` or `stage` set to
/// something other than `prod`/`production`).
fn non_production(v: &StackView) -> bool {
    let stacks = v.active_of("stack");
    let Some(Value::Map(tags)) = stacks.first().and_then(|(_, s)| field(s, "tags")) else { return false };
    ["environment", "env", "stage"].iter().filter_map(|k| tags.get(*k)?.as_str()).any(|e| {
        let e = e.to_ascii_lowercase();
        e != "prod" && e != "production"
    })
}

/// AIS111: in production, a pool that never scales to zero is not spot capacity.
pub fn spot_always_on(v: &mut StackView) {
    if non_production(v) {
        return;
    }
    for (pid, pool) in v.active_of("gpu_pool") {
        let min = crate::check::rules::range(&pool, "nodes").map_or(0.0, |r| r.0);
        if min >= 1.0 && is(v, &pool, "capacity", "spot") {
            let msg =
                format!("pool `{}` never scales to zero (nodes.min = {min}) but runs on spot capacity", v.addr(pid));
            v.error(
                Diagnostic::warning("AIS111", set_at(&pool, "capacity", v.decl_span(pid)), msg)
                    .with_primary_label("a spot interruption takes the always-on nodes away with two minutes' notice")
                    .with_help(
                        "use `capacity = on_demand` for the always-on pool, or let it scale to zero (`nodes = 0..N`)",
                    ),
            );
        }
    }
}

/// AIS112: every S3 store is in some dr's `replicate`, every file system in some `backup`.
pub fn dr_covers_stores(v: &mut StackView) {
    let mut replicated = Vec::new();
    let mut backed_up = Vec::new();
    for (_, dr) in v.active_of("dr") {
        if let Some(Value::List(xs)) = field(&dr, "replicate") {
            replicated.extend(xs.iter().filter_map(|x| ref_of(Some(x))));
        }
        if let Some(Value::List(xs)) = field(&dr, "backup").and_then(Value::as_record).and_then(|b| b.get("targets")) {
            backed_up.extend(xs.iter().filter_map(|x| ref_of(Some(x))));
        }
    }
    for (sid, st) in v.active_of("storage") {
        let backend = v.variant_name(field(&st, "backend")).unwrap_or_default();
        let (covered, wants) = match backend.as_str() {
            "s3" => (replicated.contains(&sid), "the `replicate` list"),
            "efs" | "fsx_lustre" => (backed_up.contains(&sid), "the `backup` targets"),
            _ => continue,
        };
        if !covered {
            let msg = format!("{backend} storage `{}` is in {wants} of no dr: a region outage loses it", v.addr(sid));
            v.error(Diagnostic::warning("AIS112", v.decl_span(sid), msg).with_help(format!(
                "add `{}` to {wants} of a `dr`, or suppress this with a reason if the data can be rebuilt",
                v.addr(sid)
            )));
        }
    }
}

/// AIS113: a stack that declares GPU pools declares a `budget`.
pub fn gpu_budget(v: &mut StackView) {
    let pools = v.active_of("gpu_pool");
    let Some((first, _)) = pools.first() else { return };
    if !v.active_of("budget").is_empty() {
        return;
    }
    let msg = format!(
        "the stack declares {} GPU pool{} but no `budget`",
        pools.len(),
        if pools.len() == 1 { "" } else { "s" }
    );
    v.error(
        Diagnostic::error("AIS113", v.decl_span(*first), msg)
            .with_help("add `budget monthly { limit = $20_000/month }`: the checker then holds the worst case to it"),
    );
}

/// AIS114: S3 storage is versioned.
pub fn bucket_versioning(v: &mut StackView) {
    for (sid, st) in v.active_of("storage") {
        if is(v, &st, "backend", "s3") && !matches!(field(&st, "versioned"), Some(Value::Bool(true))) {
            v.error(
                Diagnostic::warning(
                    "AIS114",
                    set_at(&st, "versioned", v.decl_span(sid)),
                    format!("S3 storage `{}` keeps no object versions", v.addr(sid)),
                )
                .with_help("set `versioned = true`: an overwritten or deleted model can then be restored"),
            );
        }
    }
}

/// AIS115: storage uses the stack's KMS key, not the AWS-managed one.
pub fn customer_key(v: &mut StackView) {
    for (sid, st) in v.active_of("storage") {
        if is(v, &st, "encryption", "aws_managed") {
            v.error(
                Diagnostic::warning(
                    "AIS115",
                    span(&st, "encryption", v.decl_span(sid)),
                    format!("storage `{}` is encrypted with the AWS-managed key", v.addr(sid)),
                )
                .with_help(
                    "set `encryption = kms`: the stack's own key can be rotated, audited and shared with CloudFront",
                ),
            );
        }
    }
}

/// AIS116: the policy's audit trail is kept at least 365 days.
pub fn audit_retention(v: &mut StackView) {
    let Some((pid, policy)) = v.policy.clone() else { return };
    let Some(audit) = field(&policy, "audit").and_then(Value::as_record) else { return };
    let Some(Value::Qty(retain, Dim::DURATION)) = audit.get("retain") else { return };
    let year = 365.0 * 86_400e3;
    if *retain < year {
        let msg = format!(
            "the audit trail of policy `{}` is kept {}, less than a year",
            v.addr(pid),
            format_duration(*retain)
        );
        v.error(
            Diagnostic::warning("AIS116", span(audit, "retain", v.decl_span(pid)), msg)
                .with_help("set `retain = 365d` or more: incident reviews and audits look back a year"),
        );
    }
}
