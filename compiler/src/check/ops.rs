//! Operators and built-in functions over compile-time values, with unit checking.
//!
//! Takes: evaluated operands. Gives: the result, or a located E03xx diagnostic when the
//! types or dimensions do not fit (`10GiB + 5m`, `metric.p95_latency > 5%`).

use super::budget::{MAX_ELEMENTS, MAX_STRING};
use super::eval::Checker;
use super::types::{Dim, Ty};
use super::value::{Cond, Field, Record, Value};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Ident};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

fn is_cmp(op: BinOp) -> bool {
    matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
}

/// A value standing for "some value of type `ty`", to reuse value rules on types.
fn sample(ty: &Ty) -> Value {
    match ty {
        Ty::Int => Value::Int(1),
        Ty::Float => Value::Float(1.0),
        Ty::Qty(d) => Value::Qty(1.0, *d),
        Ty::Ratio => Value::Ratio(0.5),
        Ty::Bool | Ty::Condition => Value::Bool(true),
        Ty::Str => Value::Str("".into()),
        _ => Value::Unknown,
    }
}

pub fn binary(c: &mut Checker, op: BinOp, l: Value, r: Value, span: Span, ls: Span, rs: Span) -> Value {
    if l.is_unknown() || r.is_unknown() {
        return Value::Unknown;
    }
    if let (Value::Secret(n), _) | (_, Value::Secret(n)) = (&l, &r) {
        let what = if is_cmp(op) { "compared" } else { "used in arithmetic" };
        c.error(
            Diagnostic::error(
                codes::SECRET_MISUSE,
                if matches!(l, Value::Secret(_)) { ls } else { rs },
                format!("secret `{n}` cannot be {what}"),
            )
            .with_help(if is_cmp(op) {
                "a comparison would reveal the secret through the stack's behaviour"
            } else {
                "arithmetic would put a value derived from the secret in plain text"
            }),
        );
        return Value::Unknown;
    }
    if matches!(l, Value::Cond(..)) || matches!(r, Value::Cond(..)) {
        return cond_binary(c, op, l, r, span, ls, rs);
    }
    if !fits(c, op, &l, &r, span) {
        return Value::Unknown;
    }
    if is_cmp(op) {
        return match compare(op, &l, &r) {
            Some(b) => Value::Bool(b),
            None => {
                let (lt, rt) = (c.type_of(&l), c.type_of(&r));
                mismatch(c, op, &l, &r, &lt, &rt, span, ls, rs);
                Value::Unknown
            }
        };
    }
    match arith(op, &l, &r) {
        Ok(v) => v,
        Err(Some(msg)) => {
            c.error(Diagnostic::error(codes::ARITHMETIC, span, msg));
            Value::Unknown
        }
        Err(None) => {
            let (lt, rt) = (c.type_of(&l), c.type_of(&r));
            mismatch(c, op, &l, &r, &lt, &rt, span, ls, rs);
            Value::Unknown
        }
    }
}

/// Charges what the operation walks and checks, before anything is allocated, that the
/// result of `+` on strings or lists stays within the size limits.
fn fits(c: &mut Checker, op: BinOp, l: &Value, r: &Value, span: Span) -> bool {
    if is_cmp(op) || op == BinOp::Add {
        let (Some(a), Some(b)) = (c.measure(l, span), c.measure(r, span)) else {
            return false;
        };
        if op == BinOp::Add && matches!((l, r), (Value::List(_), Value::List(_))) && a + b > MAX_ELEMENTS + 1 {
            c.too_large(span, format!("the list would have more than {MAX_ELEMENTS} elements"));
            return false;
        }
    }
    match (op, l, r) {
        (BinOp::Add, Value::Str(a), Value::Str(b)) => c.bounded_str(a.len() + b.len(), span),
        _ => true,
    }
}

#[allow(clippy::too_many_arguments)]
fn mismatch(c: &mut Checker, op: BinOp, l: &Value, r: &Value, lt: &Ty, rt: &Ty, span: Span, ls: Span, rs: Span) {
    let (ln, rn) = (c.ty_name(lt), c.ty_name(rt));
    let dims = matches!(lt, Ty::Qty(_) | Ty::Ratio) && matches!(rt, Ty::Qty(_) | Ty::Ratio | Ty::Int | Ty::Float)
        || matches!(rt, Ty::Qty(_) | Ty::Ratio) && matches!(lt, Ty::Int | Ty::Float);
    let code = if dims { codes::UNIT_MISMATCH } else { codes::TYPE_MISMATCH };
    let verb = if is_cmp(op) { "compare" } else { "apply" };
    let a = |n: &str| if n.starts_with(['a', 'e', 'i', 'o', 'u']) { format!("an {n}") } else { format!("a {n}") };
    let msg = if is_cmp(op) {
        format!("cannot {verb} {} with {}", a(&ln), a(&rn))
    } else {
        format!("cannot {verb} `{}` to {} and {}", op.as_str(), a(&ln), a(&rn))
    };
    let show = |v: &Value| match v {
        Value::Cond(c2, _) => describe_cond(c2),
        other => c.show(other),
    };
    let (lshow, rshow) = (show(l), show(r));
    c.error(
        Diagnostic::error(code, span, msg)
            .with_label(ls, format!("{lshow}: a {ln}"))
            .with_label(rs, format!("{rshow}: a {rn}")),
    );
}

fn describe_cond(c: &Cond) -> String {
    match c {
        Cond::Signal { namespace, name } => format!("{namespace}.{name}"),
        _ => "this condition".into(),
    }
}

fn cond_binary(c: &mut Checker, op: BinOp, l: Value, r: Value, span: Span, ls: Span, rs: Span) -> Value {
    let (lt, rt) = (c.type_of(&l), c.type_of(&r));
    let to_cond = |v: &Value| match v {
        Value::Cond(x, _) => x.clone(),
        other => Rc::new(Cond::Const(other.clone())),
    };
    let result = if is_cmp(op) {
        let ok = match (&lt, &rt) {
            (Ty::Condition, _) | (_, Ty::Condition) => false,
            (a, b) if a.is_numeric() && b.is_numeric() => true,
            (Ty::Qty(a), Ty::Qty(b)) => a == b,
            (Ty::Ratio, Ty::Ratio) => true,
            _ => false,
        };
        ok.then_some(Ty::Condition)
    } else {
        match arith(op, &sample(&lt), &sample(&rt)) {
            Ok(v) => Some(c.type_of(&v)),
            Err(_) => None,
        }
    };
    match result {
        Some(ty) => Value::Cond(Rc::new(Cond::Binary(op, to_cond(&l), to_cond(&r))), ty),
        None => {
            mismatch(c, op, &l, &r, &lt, &rt, span, ls, rs);
            Value::Unknown
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// Orders two numbers, treating a relative difference below 1e-9 as equal, so that
/// `10% + 20% == 30%` holds despite binary floating point.
fn approx_cmp(a: f64, b: f64) -> Option<std::cmp::Ordering> {
    if a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) {
        Some(std::cmp::Ordering::Equal)
    } else {
        a.partial_cmp(&b)
    }
}

/// `Some(result)` when the two values can be compared with `op`.
fn compare(op: BinOp, l: &Value, r: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (l, r) {
        (Value::None, _) | (_, Value::None) => {
            let eq = matches!(l, Value::None) && matches!(r, Value::None);
            return match op {
                BinOp::Eq => Some(eq),
                BinOp::Ne => Some(!eq),
                _ => None,
            };
        }
        (a, b) if num(a).is_some() && num(b).is_some() => approx_cmp(num(a)?, num(b)?),
        (Value::Qty(a, da), Value::Qty(b, db)) if da == db => approx_cmp(*a, *b),
        (Value::Ratio(a), Value::Ratio(b)) => approx_cmp(*a, *b),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, BinOp::Eq | BinOp::Ne) => Some(a.cmp(b)),
        (Value::Enum(ea, va, _), Value::Enum(eb, vb, _)) if ea == eb && matches!(op, BinOp::Eq | BinOp::Ne) => {
            Some(va.cmp(vb))
        }
        (Value::Ref(a), Value::Ref(b)) if matches!(op, BinOp::Eq | BinOp::Ne) => Some(a.cmp(b)),
        (Value::List(a), Value::List(b)) if matches!(op, BinOp::Eq | BinOp::Ne) => {
            let eq = a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| compare(BinOp::Eq, x, y) == Some(true));
            Some(if eq { Ordering::Equal } else { Ordering::Less })
        }
        _ => return None,
    };
    let o = ord?;
    Some(match op {
        BinOp::Eq => o == Ordering::Equal,
        BinOp::Ne => o != Ordering::Equal,
        BinOp::Lt => o == Ordering::Less,
        BinOp::Le => o != Ordering::Greater,
        BinOp::Gt => o == Ordering::Greater,
        _ => o != Ordering::Less,
    })
}

/// Arithmetic with units. `Err(None)` means the types do not fit; `Err(Some(msg))` is a
/// numeric failure (division by zero, overflow).
pub fn arith(op: BinOp, l: &Value, r: &Value) -> Result<Value, Option<String>> {
    use BinOp::*;
    let qty = |x: f64, d: Dim| {
        if d.is_none() {
            Value::Float(x)
        } else {
            Value::Qty(x, d)
        }
    };
    let check = |v: Value| match v.as_f64() {
        Some(x) if !x.is_finite() => Err(Some("the result is not a finite number".to_string())),
        _ => Ok(v),
    };
    if op == Div && r.as_f64() == Some(0.0) {
        return Err(Some("division by zero".into()));
    }
    let v = match (op, l, r) {
        (Add, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_add(*b).ok_or(Some("integer overflow".to_string()))?)
        }
        (Sub, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_sub(*b).ok_or(Some("integer overflow".to_string()))?)
        }
        (Mul, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_mul(*b).ok_or(Some("integer overflow".to_string()))?)
        }
        (Div, Value::Int(a), Value::Int(b)) if a % b == 0 => Value::Int(a / b),
        (Add | Sub | Mul | Div, a, b) if num(a).is_some() && num(b).is_some() => {
            let (x, y) = (num(a).unwrap_or(0.0), num(b).unwrap_or(0.0));
            Value::Float(match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                _ => x / y,
            })
        }
        (Add, Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}").into()),
        (Add, Value::List(a), Value::List(b)) => Value::List(Rc::new(a.iter().chain(b.iter()).cloned().collect())),
        (Add | Sub, Value::Qty(a, da), Value::Qty(b, db)) if da == db => {
            Value::Qty(if op == Add { a + b } else { a - b }, *da)
        }
        (Add | Sub, Value::Ratio(a), Value::Ratio(b)) => Value::Ratio(if op == Add { a + b } else { a - b }),
        (Mul, Value::Qty(a, d), b) | (Mul, b, Value::Qty(a, d)) if num(b).is_some() => {
            Value::Qty(a * num(b).unwrap_or(0.0), *d)
        }
        (Div, Value::Qty(a, d), b) if num(b).is_some() => Value::Qty(a / num(b).unwrap_or(1.0), *d),
        (Div, a, Value::Qty(b, d)) if num(a).is_some() => qty(num(a).unwrap_or(0.0) / b, Dim::NONE.per(*d)),
        (Mul, Value::Qty(a, da), Value::Qty(b, db)) => qty(a * b, da.times(*db)),
        (Div, Value::Qty(a, da), Value::Qty(b, db)) => qty(a / b, da.per(*db)),
        (Mul, Value::Ratio(a), Value::Ratio(b)) => Value::Ratio(a * b),
        (Mul, Value::Ratio(a), b) | (Mul, b, Value::Ratio(a)) if num(b).is_some() => {
            Value::Ratio(a * num(b).unwrap_or(0.0))
        }
        (Div, Value::Ratio(a), b) if num(b).is_some() => Value::Ratio(a / num(b).unwrap_or(1.0)),
        (Div, Value::Ratio(a), Value::Ratio(b)) => Value::Float(a / b),
        (Mul, Value::Ratio(a), Value::Qty(b, d)) | (Mul, Value::Qty(b, d), Value::Ratio(a)) => Value::Qty(a * b, *d),
        (Div, Value::Qty(a, d), Value::Ratio(b)) => Value::Qty(a / b, *d),
        _ => return Err(None),
    };
    check(v)
}

/// `sum(xs)`: lists and strings are joined in one pass (their total size checked first),
/// anything else added up with `+`.
fn sum(items: &[Value]) -> Result<Value, (String, Option<usize>)> {
    if !items.is_empty() && items.iter().all(|x| matches!(x, Value::List(_))) {
        let total: usize = items.iter().map(|x| x.as_list().map_or(0, <[Value]>::len)).sum();
        if total as u64 > MAX_ELEMENTS {
            return Err(too_large_list(total));
        }
        let joined = items.iter().flat_map(|x| x.as_list().unwrap_or(&[]).iter().cloned()).collect();
        return Ok(Value::List(Rc::new(joined)));
    }
    if !items.is_empty() && items.iter().all(|x| matches!(x, Value::Str(_))) {
        let total: usize = items.iter().map(|x| x.as_str().map_or(0, str::len)).sum();
        if total > MAX_STRING {
            return Err(too_large_str(total));
        }
        return Ok(Value::Str(items.iter().filter_map(Value::as_str).collect::<String>().into()));
    }
    let mut acc = Value::Int(0);
    for (i, x) in items.iter().enumerate() {
        acc = if i == 0 {
            x.clone()
        } else {
            arith(BinOp::Add, &acc, x).map_err(|_| ("cannot add these values".to_string(), Some(0)))?
        };
    }
    Ok(acc)
}

fn too_large_str(len: usize) -> (String, Option<usize>) {
    (format!("value too large: the string would be over {len} bytes (the limit is {} MiB)", MAX_STRING >> 20), None)
}

fn too_large_list(len: usize) -> (String, Option<usize>) {
    (format!("value too large: the result would have {len} elements (the limit is {MAX_ELEMENTS})"), None)
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Result<regex::Regex, String>>> = RefCell::new(HashMap::new());
}

/// Compiles (and caches) a regex; `Err` carries the regex engine's message.
pub fn regex(pattern: &str) -> Result<regex::Regex, String> {
    REGEXES.with(|cache| {
        cache
            .borrow_mut()
            .entry(pattern.to_string())
            .or_insert_with(|| regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| e.to_string()))
            .clone()
    })
}

pub const BUILTINS: &[&str] = &[
    "min", "max", "len", "sum", "lower", "upper", "concat", "merge", "keys", "values", "contains", "matches", "semver",
    "format",
];

impl Checker<'_> {
    pub fn call(&mut self, f: &Ident, args: Vec<(Value, Span)>, span: Span) -> Value {
        let name = f.name.as_str();
        if !BUILTINS.contains(&name) {
            let mut d = Diagnostic::error(codes::UNKNOWN_NAME, f.span, format!("unknown function `{name}`"));
            d = match super::suggest(name, BUILTINS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("built-in functions: {}", BUILTINS.join(", "))),
            };
            self.error(d);
            return Value::Unknown;
        }
        if args.iter().any(|(v, _)| v.is_unknown()) {
            return Value::Unknown;
        }
        if let Some((Value::Secret(n), s)) = args.iter().find(|(v, _)| matches!(v, Value::Secret(_))) {
            self.error(Diagnostic::error(
                codes::SECRET_MISUSE,
                *s,
                format!("secret `{n}` cannot be passed to `{name}`"),
            ));
            return Value::Unknown;
        }
        match self.builtin(name, &args) {
            Ok(v) => v,
            Err((msg, at)) => {
                let at = at.and_then(|i| args.get(i).map(|a| a.1)).unwrap_or(span);
                let code = if msg.starts_with("value too large") { codes::VALUE_TOO_LARGE } else { codes::BAD_CALL };
                self.error(Diagnostic::error(code, at, format!("{name}: {msg}")));
                Value::Unknown
            }
        }
    }

    fn builtin(&mut self, name: &str, args: &[(Value, Span)]) -> Result<Value, (String, Option<usize>)> {
        let arity = |n: usize| -> Result<(), (String, Option<usize>)> {
            if args.len() == n {
                Ok(())
            } else {
                Err((format!("takes {n} argument{}, got {}", if n == 1 { "" } else { "s" }, args.len()), None))
            }
        };
        let string = |i: usize| -> Result<&str, (String, Option<usize>)> {
            args.get(i).and_then(|a| a.0.as_str()).ok_or_else(|| ("expects a string here".to_string(), Some(i)))
        };
        Ok(match name {
            "len" => {
                arity(1)?;
                Value::Int(match &args[0].0 {
                    Value::List(x) => x.len(),
                    Value::Map(x) => x.len(),
                    Value::Str(s) => s.chars().count(),
                    Value::Record(r) => r.fields.len(),
                    _ => return Err(("expects a list, map or string".into(), Some(0))),
                } as i64)
            }
            "lower" | "upper" => {
                arity(1)?;
                let s = string(0)?;
                let out = if name == "lower" { s.to_lowercase() } else { s.to_uppercase() };
                if out.len() > MAX_STRING {
                    return Err(too_large_str(out.len()));
                }
                Value::Str(out.into())
            }
            "min" | "max" | "sum" => {
                let items: Vec<Value> = match args {
                    [(Value::List(xs), _)] => xs.as_ref().clone(),
                    [_] if name != "sum" => return Err(("expects a list, or two or more values".into(), Some(0))),
                    [_] => return Err(("expects a list".into(), Some(0))),
                    _ if name == "sum" => return Err(("takes one list".into(), None)),
                    _ => args.iter().map(|a| a.0.clone()).collect(),
                };
                if name == "sum" {
                    sum(&items)?
                } else {
                    let mut best: Option<Value> = None;
                    for x in items {
                        best = Some(match best {
                            None => x,
                            Some(b) => {
                                let op = if name == "min" { BinOp::Lt } else { BinOp::Gt };
                                match compare(op, &x, &b) {
                                    Some(true) => x,
                                    Some(false) => b,
                                    None => return Err(("values of different types cannot be ordered".into(), None)),
                                }
                            }
                        });
                    }
                    best.ok_or_else(|| ("needs at least one value".to_string(), None))?
                }
            }
            "concat" => match args.first().map(|a| &a.0) {
                Some(Value::Str(_)) => {
                    let total: usize = args.iter().map(|a| a.0.as_str().map_or(0, str::len)).sum();
                    if total > MAX_STRING {
                        return Err(too_large_str(total));
                    }
                    let mut out = String::new();
                    for i in 0..args.len() {
                        out.push_str(string(i)?);
                    }
                    Value::Str(out.into())
                }
                _ => {
                    let total: usize = args.iter().map(|a| a.0.as_list().map_or(0, <[Value]>::len)).sum();
                    if total as u64 > MAX_ELEMENTS {
                        return Err(too_large_list(total));
                    }
                    let mut out = Vec::new();
                    for (i, a) in args.iter().enumerate() {
                        out.extend(
                            a.0.as_list()
                                .ok_or_else(|| ("expects lists (or strings)".to_string(), Some(i)))?
                                .iter()
                                .cloned(),
                        );
                    }
                    Value::List(Rc::new(out))
                }
            },
            "merge" => {
                let total: usize = args
                    .iter()
                    .map(|a| match &a.0 {
                        Value::Map(m) => m.len(),
                        Value::Record(r) => r.fields.len(),
                        _ => 0,
                    })
                    .sum();
                if total as u64 > MAX_ELEMENTS {
                    return Err(too_large_list(total));
                }
                let mut out: BTreeMap<String, Value> = BTreeMap::new();
                for (i, a) in args.iter().enumerate() {
                    match &a.0 {
                        Value::Map(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
                        Value::Record(r) if r.schema.is_none() => {
                            out.extend(r.fields.iter().map(|(k, f)| (k.clone(), f.value.clone())))
                        }
                        _ => return Err(("expects maps".into(), Some(i))),
                    }
                }
                Value::Map(Rc::new(out))
            }
            "keys" | "values" => {
                arity(1)?;
                let pairs: Vec<(String, Value)> = match &args[0].0 {
                    Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    Value::Record(r) => r.fields.iter().map(|(k, f)| (k.clone(), f.value.clone())).collect(),
                    _ => return Err(("expects a map".into(), Some(0))),
                };
                Value::List(Rc::new(
                    pairs.into_iter().map(|(k, v)| if name == "keys" { Value::Str(k.into()) } else { v }).collect(),
                ))
            }
            "contains" => {
                arity(2)?;
                Value::Bool(match (&args[0].0, &args[1].0) {
                    (Value::List(xs), x) => xs.iter().any(|y| compare(BinOp::Eq, y, x) == Some(true)),
                    (Value::Str(s), Value::Str(sub)) => s.contains(sub.as_ref()),
                    (Value::Map(m), Value::Str(k)) => m.contains_key(k.as_ref()),
                    _ => return Err(("expects (list, value), (string, string) or (map, key)".into(), None)),
                })
            }
            "matches" => {
                arity(2)?;
                let s = string(0)?;
                let re = regex(string(1)?)
                    .map_err(|e| (format!("invalid regex: {}", e.lines().last().unwrap_or("")), Some(1)))?;
                Value::Bool(re.is_match(s))
            }
            "semver" => {
                arity(1)?;
                let s = string(0)?;
                let core = s.split(['-', '+']).next().unwrap_or("");
                let parts: Vec<Option<i64>> = core.split('.').map(|p| p.parse().ok()).collect();
                match parts.as_slice() {
                    [Some(a), Some(b), Some(c)] => {
                        let mut r = Record::default();
                        for (k, v) in [("major", *a), ("minor", *b), ("patch", *c)] {
                            r.fields.insert(k.into(), Field { value: Value::Int(v), span: args[0].1, name_span: None });
                        }
                        Value::Record(Rc::new(r))
                    }
                    _ => return Err((format!("\"{s}\" is not a semantic version (MAJOR.MINOR.PATCH)"), Some(0))),
                }
            }
            "format" => {
                let fmt = string(0)?;
                let pieces: Vec<&str> = fmt.split("{}").collect();
                if pieces.len() != args.len() {
                    return Err((
                        format!("the format has {} `{{}}` but {} values were given", pieces.len() - 1, args.len() - 1),
                        None,
                    ));
                }
                let mut out = String::from(pieces[0]);
                for (i, p) in pieces.iter().enumerate().skip(1) {
                    if !self.show_into(&args[i].0, &mut out, MAX_STRING) || out.len() + p.len() > MAX_STRING {
                        return Err((
                            format!("value too large: the string would be over {} MiB", MAX_STRING >> 20),
                            None,
                        ));
                    }
                    out.push_str(p);
                }
                Value::Str(out.into())
            }
            _ => return Err(("is not a function".into(), None)),
        })
    }
}
