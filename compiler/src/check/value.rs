//! Compile-time values: what every expression of a checked stack evaluates to.
//!
//! Quantities are normalised to base units (milliseconds, bytes, cents) so `1GiB == 1024MiB`.
//! Conditions stay symbolic ([`Cond`]) for the emitters to compile to PromQL.

use super::types::{Dim, EnumId, SchemaId, Ty};
use crate::source::Span;
use crate::syntax::ast::BinOp;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeclId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

#[derive(Clone, Debug)]
pub enum Value {
    /// After an error, or not computable at compile time; accepted everywhere.
    Unknown,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    /// Amount in base units (ms, bytes, cents, and their products).
    Qty(f64, Dim),
    /// A fraction: `90%` is 0.9.
    Ratio(f64),
    /// A secret param, by name. Never holds the secret itself.
    Secret(Rc<str>),
    /// A run-time condition or signal, with its type.
    Cond(Rc<Cond>, Ty),
    List(Rc<Vec<Value>>),
    Map(Rc<BTreeMap<String, Value>>),
    Record(Rc<Record>),
    Enum(EnumId, usize, Option<Rc<Record>>),
    Ref(DeclId),
    Range(Rc<(Value, Value)>),
    Module(ModuleId),
    /// `metric` or `eval`: a namespace of run-time signals.
    Signals(&'static str),
}

/// A record: fields of a schema (or an untyped literal) with where each value was written.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub schema: Option<SchemaId>,
    pub fields: BTreeMap<String, Field>,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub value: Value,
    /// Span of the value expression (or of the default in the schema).
    pub span: Span,
    /// Span of the field name where it was set; `None` for defaults.
    pub name_span: Option<Span>,
}

impl Record {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).map(|f| &f.value)
    }
    pub fn span_of(&self, name: &str) -> Option<Span> {
        self.fields.get(name).map(|f| f.span)
    }
}

/// A symbolic run-time condition.
#[derive(Clone, Debug)]
pub enum Cond {
    /// `metric.p95_latency`, `eval.accuracy`.
    Signal {
        namespace: &'static str,
        name: String,
    },
    /// A compile-time constant inside a condition.
    Const(Value),
    Binary(BinOp, Rc<Cond>, Rc<Cond>),
    Not(Rc<Cond>),
    Neg(Rc<Cond>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) | Value::Qty(x, _) | Value::Ratio(x) => Some(*x),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_record(&self) -> Option<&Rc<Record>> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }
    pub fn as_range(&self) -> Option<(&Value, &Value)> {
        match self {
            Value::Range(r) => Some((&r.0, &r.1)),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
}

/// Formats a quantity in the unit a person would write.
pub fn format_qty(v: f64, dim: Dim) -> String {
    match dim {
        Dim::DURATION => format_duration(v),
        Dim::SIZE => format_size(v),
        Dim::MONEY => format_money(v / 100.0),
        Dim::MONEY_RATE => {
            let per_month = v / 100.0 * 730.0 * 3_600_000.0;
            if per_month >= 10_000.0 {
                format!("{}/month", format_money(per_month))
            } else {
                format!("{}/h", format_money(v / 100.0 * 3_600_000.0))
            }
        }
        Dim::RATE => format!("{}/s", trim_float(v * 1000.0)),
        Dim::NONE => trim_float(v),
        d => format!("{} {}", trim_float(v), d.name()),
    }
}

pub fn format_duration(ms: f64) -> String {
    for (unit, len) in [("w", 604_800e3), ("d", 86_400e3), ("h", 3_600e3), ("m", 60e3), ("s", 1e3)] {
        if ms.abs() >= len && (ms / len).fract() == 0.0 {
            return format!("{}{unit}", ms / len);
        }
    }
    if ms.abs() >= 3_600e3 {
        return format!("{}h", trim_float(ms / 3_600e3));
    }
    format!("{}ms", trim_float(ms))
}

pub fn format_size(bytes: f64) -> String {
    const GIB: f64 = 1_073_741_824.0;
    if bytes.abs() >= 1024.0 * GIB {
        format!("{:.1} TiB", bytes / (1024.0 * GIB))
    } else if bytes.abs() >= GIB {
        format!("{:.1} GiB", bytes / GIB)
    } else if bytes.abs() >= 1_048_576.0 {
        format!("{:.1} MiB", bytes / 1_048_576.0)
    } else {
        format!("{bytes} B")
    }
}

/// `$1,234` or `$1,234.56` for dollars.
pub fn format_money(dollars: f64) -> String {
    let cents = (dollars * 100.0).round() as i64;
    let whole = cents.abs() / 100;
    let frac = cents.abs() % 100;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if cents < 0 { "-" } else { "" };
    if frac == 0 {
        format!("{sign}${grouped}")
    } else {
        format!("{sign}${grouped}.{frac:02}")
    }
}

pub fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
