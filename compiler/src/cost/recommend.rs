//! Recommendations the compiler can make because it knows both memory needs and prices.
//!
//! Takes: the [`View`], the [`Catalog`] and the priced [`Line`]s. Gives: for each service,
//! the cheapest catalog offer and `tensor_parallel` on which its model still fits, and a
//! smaller `tensor_parallel` on its own GPU when one fits (memory by the fit rule's
//! arithmetic, [`model_memory`]); pools whose `nodes.min` keeps nodes idle; on-demand pools
//! that scale to zero, where spot is allowed (priced at the catalog's spot estimate). Each
//! with the figures behind it and the saving per month, expected and worst case.
//!
//! A service's cost here is that of the nodes its replicas take (⌈replicas × GPUs per replica
//! ÷ GPUs per node⌉), at its minimum replicas (expected) and its maximum (worst case).
//! Candidates are whole GPUs (no sharing); memory fit says nothing of throughput.

use super::input::{float, int, range, reference, Catalog, Item, Offer, View};
use super::{money, share, trim_float, Line};
use crate::check::rules::{model_memory, precision_bytes};
use crate::check::value::Value;
use serde::Serialize;

/// One recommendation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// `cheaper_gpu`, `tensor_parallel`, `idle_minimum` or `spot`.
    pub kind: String,
    /// The service or pool it is about.
    pub address: String,
    pub message: String,
    /// The arithmetic behind it.
    pub figures: Vec<String>,
    /// Dollars per month saved at the expected level and in the worst case.
    pub saving_expected: f64,
    pub saving_worst: f64,
}

pub fn all(v: &View, cat: &Catalog, lines: &[Line]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for s in v.of("service") {
        out.extend(service(v, cat, s));
    }
    for l in lines.iter().filter(|l| l.kind == "gpu_pool") {
        out.extend(idle(v, cat, l));
        out.extend(spot(cat, l));
    }
    out
}

/// Bytes one replica of `svc` needs (weights + one full-context sequence of KV cache), the
/// share of GPU memory it may use, and the model's precision.
fn need(v: &View, svc: &Item) -> Option<(f64, f64, String)> {
    let model = v.get(reference(svc.rec.get("model"))?)?;
    let prec = v.name(&model.rec, "precision")?;
    let bytes = precision_bytes(&prec)?;
    let shape = match (int(&model.rec, "layers"), int(&model.rec, "kv_heads"), int(&model.rec, "head_dim")) {
        (Some(l), Some(h), Some(d)) => Some((l as f64, h as f64, d as f64)),
        _ => None,
    };
    let context = int(&model.rec, "context_length")? as f64;
    let mem = model_memory(float(&model.rec, "parameters")?, bytes, context, shape);
    let util = match svc.rec.get("gpu_memory_utilization") {
        Some(Value::Ratio(r)) => *r,
        _ => 0.9,
    };
    Some((mem.weights + mem.kv_sequence(), util, prec))
}

/// The service's replicas on an offer: (expected, worst) dollars per month.
fn cost(o: &Offer, gpus_per_replica: f64, slots: f64, replicas: (f64, f64)) -> (f64, f64) {
    let nodes = |r: f64| (r * gpus_per_replica / slots).ceil();
    (o.monthly(nodes(replicas.0)), o.monthly(nodes(replicas.1)))
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / 1_073_741_824.0)
}

struct Fit<'c> {
    offer: &'c Offer,
    tp: i64,
    cost: (f64, f64),
}

/// The smallest `tensor_parallel` dividing the offer's GPUs on which `need` fits.
fn fit<'c>(cat: &'c Catalog, o: &'c Offer, need: f64, util: f64, prec: &str, replicas: (f64, f64)) -> Option<Fit<'c>> {
    let g = cat.gpu(&o.gpu)?;
    if prec == "fp8" && !g.fp8 {
        return None;
    }
    let tp = (1..=o.gpus).find(|t| o.gpus % t == 0 && g.memory * *t as f64 * util >= need)?;
    Some(Fit { offer: o, tp, cost: cost(o, tp as f64, o.gpus as f64, replicas) })
}

fn service(v: &View, cat: &Catalog, svc: &Item) -> Vec<Recommendation> {
    let (Some(pool), Some((need, util, prec))) = (reference(svc.rec.get("pool")).and_then(|p| v.get(p)), need(v, svc))
    else {
        return Vec::new();
    };
    let (Some(gpu), Some(per_node), Some(tp), Some(replicas)) = (
        v.name(&pool.rec, "gpu"),
        int(&pool.rec, "gpus_per_node"),
        int(&svc.rec, "tensor_parallel"),
        range(&svc.rec, "replicas"),
    ) else {
        return Vec::new();
    };
    let Some(current) = cat.offer(&gpu, per_node) else { return Vec::new() };
    let now = cost(current, tp as f64, per_node as f64 * share(v, &pool.rec), replicas);
    let basis = |f: &Fit| {
        format!(
            "{} × {} × {}: ⌈{} replicas × {} GPUs ÷ {}⌉ nodes × {} × 730 h = {}/month",
            trim_float(replicas.1),
            f.offer.gpu,
            f.tp,
            trim_float(replicas.1),
            f.tp,
            f.offer.gpus,
            super::per_hour(f.offer.hourly),
            money(f.cost.1)
        )
    };
    let head = format!(
        "`{}` needs {} per replica (weights + one full-context sequence) at {}% of GPU memory; now {} × {} on {} ({}/month at {} replicas)",
        svc.address,
        gib(need),
        trim_float(util * 100.0),
        tp,
        gpu,
        current.instance,
        money(now.1),
        trim_float(replicas.1)
    );
    let mut out = Vec::new();
    let best = cat
        .offers
        .iter()
        .filter_map(|o| fit(cat, o, need, util, &prec, replicas))
        .min_by(|a, b| a.cost.1.total_cmp(&b.cost.1).then(a.cost.0.total_cmp(&b.cost.0)));
    if let Some(b) = best.filter(|b| now.1 - b.cost.1 >= 0.005 && !(b.offer.instance == current.instance && b.tp == tp))
    {
        out.push(Recommendation {
            kind: "cheaper_gpu".into(),
            address: svc.address.clone(),
            message: format!(
                "serve `{}` on {} with tensor_parallel = {} ({}): saves {}/month in the worst case",
                svc.address,
                b.offer.gpu,
                b.tp,
                b.offer.instance,
                money(now.1 - b.cost.1)
            ),
            figures: vec![head.clone(), basis(&b), "memory fit only: measure throughput before switching".into()],
            saving_expected: now.0 - b.cost.0,
            saving_worst: now.1 - b.cost.1,
        });
    }
    let same = fit(cat, current, need, util, &prec, replicas).filter(|f| f.tp < tp && share(v, &pool.rec) == 1.0);
    if let Some(f) = same.filter(|f| now.1 - f.cost.1 >= 0.005) {
        out.push(Recommendation {
            kind: "tensor_parallel".into(),
            address: svc.address.clone(),
            message: format!(
                "`{}` fits on {} × {}: tensor_parallel = {} (and nodes.max to match) saves {}/month in the worst case",
                svc.address,
                f.tp,
                gpu,
                f.tp,
                money(now.1 - f.cost.1)
            ),
            figures: vec![head, basis(&f), "fewer GPUs per replica: lower throughput per replica".into()],
            saving_expected: now.0 - f.cost.0,
            saving_worst: now.1 - f.cost.1,
        });
    }
    out
}

/// A pool whose minimum keeps more nodes up than its services' minimum replicas need.
fn idle(v: &View, cat: &Catalog, l: &Line) -> Option<Recommendation> {
    let p = l.pool.as_ref()?;
    let item = v.get(l.decl)?;
    if v.job_pools.contains(&item.id) {
        return None; // jobs take the nodes between services' needs
    }
    let busy = super::nodes_for_min_replicas(v, item);
    let idle = p.nodes_min - busy;
    if idle <= 0.0 {
        return None;
    }
    let offer = cat.offer(&p.gpu, p.gpus_per_node)?;
    let discount = if p.capacity == "spot" { cat.spot_discount } else { 0.0 };
    let saving = offer.monthly(idle) * (1.0 - discount);
    Some(Recommendation {
        kind: "idle_minimum".into(),
        address: l.address.clone(),
        message: format!(
            "pool `{}` keeps {} idle node(s): nodes.min = {} but its services' minimum replicas need {}; lower nodes.min to save {}/month",
            l.address,
            trim_float(idle),
            trim_float(p.nodes_min),
            trim_float(busy),
            money(saving)
        ),
        figures: vec![format!(
            "{} idle × {} × {} × 730 h{}",
            trim_float(idle),
            p.instance,
            super::per_hour(p.hourly),
            if discount > 0.0 { format!(" × (1 − {}%)", trim_float(discount * 100.0)) } else { String::new() }
        )],
        saving_expected: saving,
        saving_worst: 0.0,
    })
}

/// An on-demand pool that scales to zero, where spot capacity is allowed.
fn spot(cat: &Catalog, l: &Line) -> Option<Recommendation> {
    let p = l.pool.as_ref()?;
    if p.capacity != "on_demand" || p.nodes_min > 0.0 || cat.spot_discount <= 0.0 {
        return None;
    }
    let offer = cat.offer(&p.gpu, p.gpus_per_node)?;
    let (expected, worst) = (offer.monthly(p.nodes_expected), offer.monthly(p.nodes_max));
    let pct = trim_float(cat.spot_discount * 100.0);
    Some(Recommendation {
        kind: "spot".into(),
        address: l.address.clone(),
        message: format!(
            "pool `{}` scales to zero, so spot is allowed (only pools that never scale to zero must stay on demand): at a {pct}% spot discount it saves {}/month at its maximum",
            l.address,
            money(worst * cat.spot_discount)
        ),
        figures: vec![
            format!("{} × {pct}% (worst case), {} × {pct}% (expected)", money(worst), money(expected)),
            format!("spot discount: {}", cat.spot_source),
        ],
        saving_expected: expected * cat.spot_discount,
        saving_worst: worst * cat.spot_discount,
    })
}
