//! The cost model: the one monthly cost computation that the budget rule (E0408, W0402),
//! `aistack cost` and the editor's pool hints all read.
//!
//! Takes: a [`View`] of a checked stack's active declarations (built by the checker while the
//! rules run, or from an [`Analysis`](crate::check::Analysis) by [`of_analysis`]). Gives: a
//! [`CostReport`]: one [`Line`] per priced declaration (GPU pools, storage by tier and size,
//! CDN egress and replication transfer at the stated traffic assumptions, backups), each with
//! its expected and worst-case monthly cost in dollars and the arithmetic behind both; the
//! totals against every budget; and [`recommend`]ations.
//!
//! Expected: every range at its minimum, a pool at the larger of its `nodes.min` and the nodes
//! its services' minimum replicas need (the autoscaling estimate: replicas at their minimum;
//! the autoscalers' conditions name no target level to take a midpoint from), spot pools at
//! the catalog's spot discount. Worst case: every range at its maximum, on demand (spot priced
//! on demand). A month is 730 h. Prices are the stack's catalog (`gpu_offer`, `storage_price`,
//! `transfer_price`, `backup_price`, `spot_estimate`, `cost_assumptions` declarations).

pub mod input;
pub mod recommend;
pub mod report;

use crate::check::rules::HOURS_PER_MONTH;
use crate::check::value::{format_money, format_size, trim_float, DeclId, Record};
use crate::source::Span;
use input::{int, qty, range, refs, Item, GB, MS_PER_HOUR};
pub use input::{Catalog, View};
use serde::Serialize;

/// A catalog price with its date and source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Price {
    /// What is priced: `p5.48xlarge on demand`, `S3 Standard, first 50 TB/month`.
    pub item: String,
    /// The unit: `instance-hour`, `GB-month` or `GB`.
    pub per: String,
    pub dollars: f64,
    pub date: String,
    pub source: String,
}

/// A monthly cost and the arithmetic that gives it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// Dollars per month, exact (renderers round to the cent; totals are exact sums, rounded
    /// once, so a column of many rounded rows may differ from its total by their rounding).
    pub monthly: f64,
    /// `2 × $55.04/h × 730 h`.
    pub basis: String,
}

/// The shape of a priced GPU pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolFacts {
    pub instance: String,
    pub gpu: String,
    pub gpus_per_node: i64,
    pub nodes_min: f64,
    pub nodes_max: f64,
    /// Nodes at the expected level.
    pub nodes_expected: f64,
    /// `on_demand` or `spot`.
    pub capacity: String,
    /// Dollars per instance-hour, on demand.
    pub hourly: f64,
}

/// One priced declaration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// `gpu_pool`, `storage`, `cdn`, `replication` (a `dr`'s replicated store) or `backup`
    /// (a `dr`'s backed-up store).
    pub kind: String,
    /// The declaration's address; for replication and backup lines, `DR → STORE`.
    pub address: String,
    #[serde(skip)]
    pub span: Span,
    /// The declaration priced (the `dr` for replication and backup lines).
    #[serde(skip)]
    pub decl: DeclId,
    /// One line of description: `2..8 × g6e.xlarge (on demand)`.
    pub what: String,
    pub expected: Figure,
    pub worst: Figure,
    pub prices: Vec<Price>,
    /// What is assumed or left out.
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolFacts>,
}

/// A budget against the totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetLine {
    pub address: String,
    /// Dollars per month.
    pub limit: f64,
    /// Alert thresholds as shares of the limit.
    pub alerts: Vec<f64>,
    /// Totals as shares of the limit.
    pub expected_share: f64,
    pub worst_share: f64,
    /// The worst case exceeds the limit.
    pub over: bool,
}

/// The traffic and discount figures the report assumes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assumptions {
    pub hours_per_month: f64,
    /// GB (2^30 bytes) each cdn serves per month.
    pub cdn_egress_gb: f64,
    /// Share of a replicated or backed-up store written per month.
    pub churn: f64,
    pub spot_discount: f64,
    pub spot_source: String,
    /// `standard library `cost_defaults`` or the stack's `cost_assumptions` declaration.
    pub from: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostReport {
    pub assumptions: Assumptions,
    pub lines: Vec<Line>,
    pub expected: f64,
    pub worst: f64,
    pub budgets: Vec<BudgetLine>,
    pub recommendations: Vec<recommend::Recommendation>,
}

/// The cost report of a checked stack.
pub fn of_analysis(a: &crate::check::Analysis) -> CostReport {
    compute(&View::new(&a.prog, &a.decls, &a.active))
}

/// The cost report of the declarations in `v`.
pub fn compute(v: &View) -> CostReport {
    let cat = Catalog::read(v);
    let mut lines = pool_lines(v, &cat);
    lines.extend(storage_lines(v, &cat));
    lines.extend(cdn_lines(v, &cat));
    lines.extend(dr_lines(v, &cat));
    let expected = lines.iter().map(|l| l.expected.monthly).sum();
    let worst = lines.iter().map(|l| l.worst.monthly).sum();
    let budgets = budget_lines(v, expected, worst);
    let recommendations = recommend::all(v, &cat, &lines);
    let assumptions = Assumptions {
        hours_per_month: HOURS_PER_MONTH,
        cdn_egress_gb: cat.cdn_egress / GB,
        churn: cat.churn,
        spot_discount: cat.spot_discount,
        spot_source: cat.spot_source.clone(),
        from: cat.assumptions_from.clone(),
    };
    CostReport { assumptions, lines, expected, worst, budgets, recommendations }
}

/// A price with up to six decimals, trailing zeros trimmed: `10.49264`, `0.00099`.
pub fn exact(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `$55.04/h`.
pub fn per_hour(dollars: f64) -> String {
    format!("${}/h", exact(dollars))
}

/// `$0.023`: a unit price with all its digits.
pub fn unit_price(dollars: f64) -> String {
    format!("${}", exact(dollars))
}

fn gb(bytes: f64) -> String {
    trim_float((bytes / GB * 100.0).round() / 100.0)
}

/// GPUs one physical GPU counts as (time slicing advertises each GPU `replicas` times).
pub fn share(v: &View, pool: &Record) -> f64 {
    match v.variant(pool.get("sharing")) {
        Some((s, Some(p))) if s == "time_slicing" => int(&p, "replicas").unwrap_or(1).max(1) as f64,
        _ => 1.0,
    }
}

/// Nodes of `pool` that the minimum replicas of its services need.
fn nodes_for_min_replicas(v: &View, pool: &Item) -> f64 {
    let per_node = int(&pool.rec, "gpus_per_node").unwrap_or(1).max(1) as f64 * share(v, &pool.rec);
    (v.min_gpus.get(&pool.id).copied().unwrap_or(0.0) / per_node).ceil()
}

fn pool_lines(v: &View, cat: &Catalog) -> Vec<Line> {
    let mut out = Vec::new();
    for p in v.of("gpu_pool") {
        let (Some(gpu), Some(n), Some((lo, hi))) =
            (v.name(&p.rec, "gpu"), int(&p.rec, "gpus_per_node"), range(&p.rec, "nodes"))
        else {
            continue;
        };
        let Some(offer) = cat.offer(&gpu, n) else { continue };
        let capacity = v.name(&p.rec, "capacity").unwrap_or_else(|| "on_demand".into());
        let spot = capacity == "spot";
        let busy = nodes_for_min_replicas(v, p);
        let nodes = lo.max(busy).min(hi);
        let discount = if spot { cat.spot_discount } else { 0.0 };
        let hourly = per_hour(offer.hourly);
        let mut basis = format!("{} × {hourly} × 730 h", trim_float(nodes));
        if spot {
            basis.push_str(&format!(" × (1 − {}% spot discount)", trim_float(discount * 100.0)));
        }
        let mut notes = Vec::new();
        if busy > lo {
            notes.push(format!(
                "expected nodes: {} (what the services' minimum replicas need), above nodes.min {}",
                trim_float(nodes),
                trim_float(lo)
            ));
        }
        let mut prices = vec![offer.price()];
        if spot {
            notes.push("spot: expected at the spot estimate, worst case priced on demand".into());
            prices.push(spot_price(cat));
        }
        let capacity_note = if spot { "spot, priced on demand for the worst case" } else { "on demand" };
        out.push(Line {
            kind: "gpu_pool".into(),
            address: p.address.clone(),
            span: p.span,
            decl: p.id,
            what: format!("{} × {} ({capacity_note})", range_text(lo, hi), offer.instance),
            expected: Figure { monthly: offer.monthly(nodes) * (1.0 - discount), basis },
            worst: Figure { monthly: offer.monthly(hi), basis: format!("{} × {hourly} × 730 h", trim_float(hi)) },
            prices,
            notes,
            pool: Some(PoolFacts {
                instance: offer.instance.clone(),
                gpu,
                gpus_per_node: n,
                nodes_min: lo,
                nodes_max: hi,
                nodes_expected: nodes,
                capacity,
                hourly: offer.hourly,
            }),
        });
    }
    out
}

fn spot_price(cat: &Catalog) -> Price {
    Price {
        item: "spot discount".into(),
        per: "share of on-demand".into(),
        dollars: cat.spot_discount,
        date: String::new(),
        source: cat.spot_source.clone(),
    }
}

fn range_text(lo: f64, hi: f64) -> String {
    if lo == hi {
        trim_float(hi)
    } else {
        format!("{}..{}", trim_float(lo), trim_float(hi))
    }
}

/// Bytes billed for a storage: the FSx capacity it is created with (1200, 2400 or a multiple
/// of 2400 GiB, as the Terraform emitter rounds), else its declared `size`.
pub fn billed_bytes(backend: &str, size: Option<f64>) -> Option<f64> {
    if backend != "fsx_lustre" {
        return size;
    }
    let gib = size.map_or(0.0, |b| (b / GB).ceil()).max(0.0) as u64;
    let cap = match gib {
        0..=1200 => 1200,
        1201..=2400 => 2400,
        _ => gib.div_ceil(2400) * 2400,
    };
    Some(cap as f64 * GB)
}

fn flat(monthly: f64, basis: String) -> (Figure, Figure) {
    (Figure { monthly, basis: basis.clone() }, Figure { monthly, basis })
}

fn storage_lines(v: &View, cat: &Catalog) -> Vec<Line> {
    let mut out = Vec::new();
    for s in v.of("storage") {
        let (Some(backend), Some(tier)) = (v.name(&s.rec, "backend"), v.name(&s.rec, "tier")) else { continue };
        if backend == "nvme" {
            continue; // node-local: part of the instance price
        }
        let Some(price) = cat.storage_price(&backend, &tier) else { continue };
        let size = qty(&s.rec, "size", crate::check::types::Dim::SIZE);
        let mut notes = Vec::new();
        let (monthly, basis) = match billed_bytes(&backend, size) {
            Some(bytes) => {
                if backend == "fsx_lustre" && size != Some(bytes) {
                    notes.push(format!("FSx capacity {} GiB (the size FSx accepts)", trim_float(bytes / GB)));
                }
                (bytes / GB * price.dollars, format!("{} GB × {}/GB-month", gb(bytes), unit_price(price.dollars)))
            }
            None => {
                notes.push("no `size`: the stored volume is unknown, not priced (declare `size` to price it)".into());
                (0.0, "size unknown".into())
            }
        };
        if matches!(s.rec.get("lifecycle").and_then(|l| l.as_list()), Some(xs) if !xs.is_empty()) {
            notes.push("priced at its declared tier; lifecycle transitions would lower it".into());
        }
        let (expected, worst) = flat(monthly, basis);
        out.push(Line {
            kind: "storage".into(),
            address: s.address.clone(),
            span: s.span,
            decl: s.id,
            what: format!("{tier} {backend} ({})", price.item),
            expected,
            worst,
            prices: vec![price.clone()],
            notes,
            pool: None,
        });
    }
    out
}

fn cdn_lines(v: &View, cat: &Catalog) -> Vec<Line> {
    let Some(price) = cat.transfer_price("cdn_egress") else { return Vec::new() };
    v.of("cdn")
        .map(|c| {
            let basis = format!("{} GB × {}/GB", gb(cat.cdn_egress), unit_price(price.dollars));
            let (expected, worst) = flat(cat.cdn_egress / GB * price.dollars, basis);
            Line {
                kind: "cdn".into(),
                address: c.address.clone(),
                span: c.span,
                decl: c.id,
                what: format!("{} per month to the internet (assumed)", format_size(cat.cdn_egress)),
                expected,
                worst,
                prices: vec![price.clone()],
                notes: vec![format!(
                    "egress is the traffic assumption of {}; origin fetches from S3 to CloudFront are free",
                    cat.assumptions_from
                )],
                pool: None,
            }
        })
        .collect()
}

/// The stored size and facts of a store that a `dr` replicates or backs up.
fn store_of<'v>(v: &'v View, id: crate::check::value::DeclId) -> Option<(&'v Item, String, String, Option<f64>)> {
    let st = v.get(id)?;
    let backend = v.name(&st.rec, "backend")?;
    let tier = v.name(&st.rec, "tier")?;
    let size = billed_bytes(&backend, qty(&st.rec, "size", crate::check::types::Dim::SIZE));
    Some((st, backend, tier, size))
}

fn dr_lines(v: &View, cat: &Catalog) -> Vec<Line> {
    let mut out = Vec::new();
    for dr in v.of("dr") {
        let secondary = input::text(&dr.rec, "secondary").unwrap_or_default();
        for t in refs(&dr.rec, "replicate") {
            if let Some(l) = replication_line(v, cat, dr, t, &secondary) {
                out.push(l);
            }
        }
        let Some(b) = dr.rec.get("backup").and_then(|b| b.as_record()) else { continue };
        let retain = qty(b, "retain", crate::check::types::Dim::DURATION).unwrap_or(0.0);
        for t in refs(b, "targets") {
            if let Some(l) = backup_line(v, cat, dr, t, retain) {
                out.push(l);
            }
        }
    }
    out
}

fn no_size(kind: &str, address: String, dr: &Item, what: String, prices: Vec<Price>) -> Line {
    let (expected, worst) = flat(0.0, "size unknown".into());
    let notes = vec!["the store has no `size`: not priced (declare `size` to price it)".into()];
    let (span, decl) = (dr.span, dr.id);
    Line { kind: kind.into(), address, span, decl, what, expected, worst, prices, notes, pool: None }
}

fn replication_line(v: &View, cat: &Catalog, dr: &Item, t: crate::check::value::DeclId, to: &str) -> Option<Line> {
    let (st, backend, tier, size) = store_of(v, t)?;
    let transfer = cat.transfer_price("inter_region")?;
    let rtc = cat.transfer_price("replication_time_control")?;
    let stored = cat.storage_price(&backend, &tier)?;
    let address = format!("{} → {}", dr.address, st.address);
    let what = format!("`{}` replicated to {to}", st.address);
    let prices = vec![transfer.clone(), rtc.clone(), stored.clone()];
    let Some(bytes) = size else { return Some(no_size("replication", address, dr, what, prices)) };
    let churn = bytes * cat.churn;
    let monthly = churn / GB * (transfer.dollars + rtc.dollars) + bytes / GB * stored.dollars;
    let basis = format!(
        "{} GB written × ({} + {})/GB + {} GB replica × {}/GB-month",
        gb(churn),
        unit_price(transfer.dollars),
        unit_price(rtc.dollars),
        gb(bytes),
        unit_price(stored.dollars)
    );
    let (expected, worst) = flat(monthly, basis);
    let notes = vec![
        format!("{}% of the store written per month ({})", trim_float(cat.churn * 100.0), cat.assumptions_from),
        "the replica is priced at the source region's storage price".into(),
    ];
    let (span, decl) = (dr.span, dr.id);
    Some(Line { kind: "replication".into(), address, span, decl, what, expected, worst, prices, notes, pool: None })
}

fn backup_line(v: &View, cat: &Catalog, dr: &Item, t: crate::check::value::DeclId, retain: f64) -> Option<Line> {
    let (st, backend, _, size) = store_of(v, t)?;
    let price = cat.backup_price(&backend)?;
    let address = format!("{} → {}", dr.address, st.address);
    let months = retain / MS_PER_HOUR / HOURS_PER_MONTH;
    let what = format!("backups of `{}` kept {}", st.address, crate::check::value::format_duration(retain));
    let prices = vec![price.clone()];
    let Some(bytes) = size else { return Some(no_size("backup", address, dr, what, prices)) };
    // One full copy plus the changes written over the retention window.
    let stored = bytes * (1.0 + cat.churn * months);
    let basis = format!(
        "{} GB × (1 + {}% × {} months kept) × {}/GB-month",
        gb(bytes),
        trim_float(cat.churn * 100.0),
        trim_float((months * 1000.0).round() / 1000.0),
        unit_price(price.dollars)
    );
    let (expected, worst) = flat(stored / GB * price.dollars, basis);
    let notes = vec!["a full copy plus incremental changes at the churn assumption".into()];
    let (span, decl) = (dr.span, dr.id);
    Some(Line { kind: "backup".into(), address, span, decl, what, expected, worst, prices, notes, pool: None })
}

fn budget_lines(v: &View, expected: f64, worst: f64) -> Vec<BudgetLine> {
    v.of("budget")
        .filter_map(|b| {
            let limit =
                qty(&b.rec, "limit", crate::check::types::Dim::MONEY_RATE)? * MS_PER_HOUR * HOURS_PER_MONTH / 100.0;
            let alerts = b
                .rec
                .get("alerts")
                .and_then(|a| a.as_list())
                .map_or(Vec::new(), |xs| xs.iter().filter_map(crate::check::value::Value::as_f64).collect());
            Some(BudgetLine {
                address: b.address.clone(),
                limit,
                alerts,
                expected_share: expected / limit,
                worst_share: worst / limit,
                over: worst > limit,
            })
        })
        .collect()
}

/// `$1,234.56`.
pub fn money(dollars: f64) -> String {
    format_money(dollars)
}
