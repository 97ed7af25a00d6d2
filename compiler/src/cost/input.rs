//! What the cost model reads: the active declarations of a checked stack and the price
//! catalog they declare.
//!
//! Takes: the program, its declaration instances and which are active, either from the
//! checker while the rules run or from an [`Analysis`](crate::check::Analysis). Gives: a
//! [`View`] (records by kind, enum variant names) and the [`Catalog`] read from it: GPU
//! memory and offers, storage, transfer and backup prices, the spot estimate and the traffic
//! assumptions, each price with its date and source.

use super::Price;
use crate::check::eval::DeclInst;
use crate::check::load::Program;
use crate::check::types::Dim;
use crate::check::value::{DeclId, Record, Value};
use crate::source::Span;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// AWS bills a GB as 2^30 bytes.
pub const GB: f64 = 1_073_741_824.0;
/// Milliseconds per hour (quantities are stored in ms, bytes and cents).
pub const MS_PER_HOUR: f64 = 3_600e3;

/// One active declaration with its evaluated record.
pub struct Item {
    pub id: DeclId,
    pub kind: String,
    pub address: String,
    pub span: Span,
    /// Declared in the standard library.
    pub std: bool,
    pub rec: Rc<Record>,
}

/// The active declarations of a stack, by kind, in load order, with the figures several
/// lines need computed once (so a stack of 20,000 `for` instances stays linear).
pub struct View<'a> {
    pub prog: &'a Program,
    pub items: Vec<Item>,
    by_id: HashMap<DeclId, usize>,
    /// GPUs the services of each pool take at their minimum replicas.
    pub min_gpus: HashMap<DeclId, f64>,
    /// Pools that a pipeline runs on.
    pub job_pools: HashSet<DeclId>,
}

impl<'a> View<'a> {
    pub fn new(prog: &'a Program, decls: &[DeclInst], active: &[bool]) -> View<'a> {
        let items = decls
            .iter()
            .enumerate()
            .filter(|(i, _)| active.get(*i).copied().unwrap_or(false))
            .filter_map(|(i, d)| {
                let schema = prog.types.schema(d.kind?);
                Some(Item {
                    id: DeclId(i as u32),
                    kind: schema.name.clone(),
                    address: d.address(),
                    span: d.name_span,
                    std: prog.module(d.module).std,
                    rec: d.record.clone()?,
                })
            })
            .filter(|it| prog.std_schema(&it.kind).is_some_and(|s| Some(s) == decls[it.id.0 as usize].kind))
            .collect::<Vec<Item>>();
        let by_id = items.iter().enumerate().map(|(i, it)| (it.id, i)).collect();
        let mut min_gpus: HashMap<DeclId, f64> = HashMap::new();
        let mut job_pools = HashSet::new();
        for it in &items {
            let Some(pool) = reference(it.rec.get("pool")) else { continue };
            match it.kind.as_str() {
                "service" => {
                    if let (Some((lo, _)), Some(tp)) = (range(&it.rec, "replicas"), int(&it.rec, "tensor_parallel")) {
                        *min_gpus.entry(pool).or_default() += lo * tp as f64;
                    }
                }
                "pipeline" => {
                    job_pools.insert(pool);
                }
                _ => {}
            }
        }
        View { prog, items, by_id, min_gpus, job_pools }
    }

    pub fn of<'v>(&'v self, kind: &'v str) -> impl Iterator<Item = &'v Item> + 'v {
        self.items.iter().filter(move |i| i.kind == kind)
    }

    pub fn get(&self, id: DeclId) -> Option<&Item> {
        self.items.get(*self.by_id.get(&id)?)
    }

    /// The variant name of an enum value, and its payload.
    pub fn variant(&self, v: Option<&Value>) -> Option<(String, Option<Rc<Record>>)> {
        match v? {
            Value::Enum(e, i, p) => Some((self.prog.types.enum_(*e).variants[*i].name.clone(), p.clone())),
            _ => None,
        }
    }

    pub fn name(&self, r: &Record, field: &str) -> Option<String> {
        self.variant(r.get(field)).map(|v| v.0)
    }
}

pub fn int(r: &Record, name: &str) -> Option<i64> {
    r.get(name).and_then(Value::as_int)
}
pub fn float(r: &Record, name: &str) -> Option<f64> {
    r.get(name).and_then(Value::as_f64)
}
pub fn text(r: &Record, name: &str) -> Option<String> {
    r.get(name).and_then(Value::as_str).map(str::to_string)
}
pub fn range(r: &Record, name: &str) -> Option<(f64, f64)> {
    let (a, b) = r.get(name)?.as_range()?;
    Some((a.as_f64()?, b.as_f64()?))
}
pub fn qty(r: &Record, name: &str, dim: Dim) -> Option<f64> {
    match r.get(name) {
        Some(Value::Qty(x, d)) if *d == dim => Some(*x),
        _ => None,
    }
}
pub fn ratio(r: &Record, name: &str) -> Option<f64> {
    match r.get(name) {
        Some(Value::Ratio(x)) => Some(*x),
        _ => None,
    }
}
pub fn reference(v: Option<&Value>) -> Option<DeclId> {
    match v? {
        Value::Ref(d) => Some(*d),
        _ => None,
    }
}
pub fn refs(r: &Record, name: &str) -> Vec<DeclId> {
    r.get(name).and_then(Value::as_list).map_or(Vec::new(), |xs| xs.iter().filter_map(|x| reference(Some(x))).collect())
}

/// A GPU model: its name and memory per GPU (bytes), and fp8 support.
#[derive(Clone)]
pub struct Gpu {
    pub name: String,
    pub memory: f64,
    pub fp8: bool,
}

/// An instance type carrying `gpus` GPUs of one model.
#[derive(Clone)]
pub struct Offer {
    pub gpu: String,
    pub gpus: i64,
    pub instance: String,
    /// Dollars per instance-hour, on demand.
    pub hourly: f64,
    /// Cents per millisecond, as declared.
    pub rate: f64,
    pub date: String,
    pub source: String,
}

impl Offer {
    /// Dollars per month for `nodes` instances (730 h).
    pub fn monthly(&self, nodes: f64) -> f64 {
        nodes * self.rate * MS_PER_HOUR * crate::check::rules::HOURS_PER_MONTH / 100.0
    }
    pub fn price(&self) -> Price {
        Price {
            item: format!("{} on demand", self.instance),
            per: "instance-hour".into(),
            dollars: self.hourly,
            date: self.date.clone(),
            source: self.source.clone(),
        }
    }
}

/// The price catalog and assumptions the stack declares.
pub struct Catalog {
    pub gpus: Vec<Gpu>,
    pub offers: Vec<Offer>,
    /// (backend, tier or none, price per GB-month).
    pub storage: Vec<(String, Option<String>, Price)>,
    /// (kind, price per GB).
    pub transfer: Vec<(String, Price)>,
    /// (backend, price per GB-month).
    pub backup: Vec<(String, Price)>,
    pub spot_discount: f64,
    pub spot_source: String,
    /// Bytes per month each cdn serves.
    pub cdn_egress: f64,
    pub churn: f64,
    /// Where the traffic assumptions come from.
    pub assumptions_from: String,
}

fn price(it: &Item, per_field: &str, per: &str) -> Option<Price> {
    Some(Price {
        item: text(&it.rec, "product").unwrap_or_else(|| it.address.clone()),
        per: per.into(),
        dollars: qty(&it.rec, per_field, Dim::MONEY)? / 100.0,
        date: text(&it.rec, "price_date").unwrap_or_default(),
        source: text(&it.rec, "price_source").unwrap_or_else(|| format!("{} `{}`", it.kind, it.address)),
    })
}

impl Catalog {
    pub fn read(v: &View) -> Catalog {
        let gpus = v
            .of("gpu_model")
            .filter_map(|it| {
                let name = v.name(&it.rec, "gpu")?;
                let memory = qty(&it.rec, "memory", Dim::SIZE)?;
                Some(Gpu { name, memory, fp8: matches!(it.rec.get("fp8"), Some(Value::Bool(true))) })
            })
            .collect();
        let offers = v
            .of("gpu_offer")
            .filter_map(|it| {
                let rate = qty(&it.rec, "price", Dim::MONEY_RATE)?;
                Some(Offer {
                    gpu: v.name(&it.rec, "gpu")?,
                    gpus: int(&it.rec, "gpus")?,
                    instance: text(&it.rec, "instance")?,
                    hourly: (rate * MS_PER_HOUR / 100.0 * 1e6).round() / 1e6,
                    rate,
                    date: text(&it.rec, "price_date").unwrap_or_default(),
                    source: text(&it.rec, "price_source").unwrap_or_default(),
                })
            })
            .collect();
        let storage = v
            .of("storage_price")
            .filter_map(|it| {
                Some((v.name(&it.rec, "backend")?, v.name(&it.rec, "tier"), price(it, "per_gb_month", "GB-month")?))
            })
            .collect();
        let transfer = v
            .of("transfer_price")
            .filter_map(|it| Some((text(&it.rec, "kind")?, price(it, "per_gb", "GB")?)))
            .collect();
        let backup = v
            .of("backup_price")
            .filter_map(|it| Some((v.name(&it.rec, "backend")?, price(it, "per_gb_month", "GB-month")?)))
            .collect();
        let spot = v.of("spot_estimate").last();
        // A stack's own assumptions replace the standard library's defaults.
        let assumptions = v.of("cost_assumptions").find(|i| !i.std).or_else(|| v.of("cost_assumptions").next());
        Catalog {
            gpus,
            offers,
            storage,
            transfer,
            backup,
            spot_discount: spot.and_then(|s| ratio(&s.rec, "discount")).unwrap_or(0.0),
            spot_source: spot.and_then(|s| text(&s.rec, "source")).unwrap_or_default(),
            cdn_egress: assumptions.and_then(|a| qty(&a.rec, "cdn_egress", Dim::SIZE)).unwrap_or(0.0),
            churn: assumptions.and_then(|a| ratio(&a.rec, "churn")).unwrap_or(0.0),
            assumptions_from: match assumptions {
                Some(a) if a.std => format!("standard library `{}`", a.address),
                Some(a) => format!("cost_assumptions `{}`", a.address),
                None => "none declared".into(),
            },
        }
    }

    pub fn offer(&self, gpu: &str, gpus: i64) -> Option<&Offer> {
        self.offers.iter().find(|o| o.gpu == gpu && o.gpus == gpus)
    }
    pub fn gpu(&self, name: &str) -> Option<&Gpu> {
        self.gpus.iter().find(|g| g.name == name)
    }
    pub fn storage_price(&self, backend: &str, tier: &str) -> Option<&Price> {
        let exact = self.storage.iter().find(|(b, t, _)| b == backend && t.as_deref() == Some(tier));
        exact.or_else(|| self.storage.iter().find(|(b, t, _)| b == backend && t.is_none())).map(|s| &s.2)
    }
    pub fn transfer_price(&self, kind: &str) -> Option<&Price> {
        self.transfer.iter().find(|(k, _)| k == kind).map(|t| &t.1)
    }
    pub fn backup_price(&self, backend: &str) -> Option<&Price> {
        self.backup.iter().find(|(b, _)| b == backend).map(|t| &t.1)
    }
}
