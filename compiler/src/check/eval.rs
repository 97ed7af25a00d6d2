//! The checker's evaluator: expressions to typed values, against an expected type.
//!
//! Takes: a loaded [`Program`]. Gives: the value of every param, let and declaration
//! instance, checked against its schema (types, units, refs, defaults, `where`
//! constraints), plus diagnostics. Evaluation is lazy and memoised, so declarations may
//! appear in any order; a definition that needs itself is reported as a cycle.
//!
//! Code whose value is not used — an untaken `if` branch, a short-circuited operand, the
//! body of a loop over nothing, overridden param defaults, schema and payload defaults and
//! constraints — is still type-checked, by evaluating it *speculatively*: value-dependent
//! failures are dropped, type, unit and name errors kept ([`Checker::speculate`]). Every
//! evaluation step and every value built is held to the limits of [`super::budget`], and
//! the standard library's fields to what the outputs can hold (`within_limits`).

use super::budget::{self, is_compound, weight, MAX_ELEMENTS, MAX_STEPS, MAX_STRING};
use super::load::{Name, Program};
use super::types::{Dim, EnumId, SchemaId, Ty};
use super::value::{format_qty, Cond, DeclId, Field, ModuleId, Record, Value};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, StrPart, UnOp};
use crate::syntax::token::Unit;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// Known run-time signals and their types.
pub fn signal_type(namespace: &str, name: &str) -> Option<Ty> {
    Some(match (namespace, name) {
        ("metric", "queue_depth") => Ty::Float,
        ("metric", "p50_latency" | "p95_latency" | "p99_latency" | "mean_latency" | "time_to_first_token") => {
            Ty::Qty(Dim::DURATION)
        }
        ("metric", "error_rate" | "gpu_utilization" | "kv_cache_usage") => Ty::Ratio,
        ("metric", "tokens_per_second" | "requests_per_second" | "preemptions") => Ty::Qty(Dim::RATE),
        ("metric", "gpu_memory_used") => Ty::Qty(Dim::SIZE),
        ("eval", "accuracy" | "f1" | "toxicity" | "demographic_parity_gap") => Ty::Ratio,
        ("eval", "drift_psi") => Ty::Float,
        _ => return None,
    })
}

pub const METRICS: &[&str] = &[
    "queue_depth",
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "error_rate",
    "tokens_per_second",
    "gpu_utilization",
    "gpu_memory_used",
    "requests_per_second",
    "time_to_first_token",
    "mean_latency",
    "kv_cache_usage",
    "preemptions",
];
pub const EVALS: &[&str] = &["accuracy", "f1", "toxicity", "drift_psi", "demographic_parity_gap"];

enum Slot {
    Busy,
    Done(Value),
}

/// One instance of a declaration (`chat`, or `embed["us-east-1"]`).
#[derive(Debug)]
pub struct DeclInst {
    pub group: usize,
    pub module: ModuleId,
    pub kind: Option<SchemaId>,
    pub name: String,
    /// The importing module's alias path (`obs.`), empty in the root module.
    pub prefix: String,
    pub key: Option<String>,
    pub name_span: Span,
    pub span: Span,
    pub loop_var: Option<(String, Value)>,
    pub record: Option<Rc<Record>>,
    busy: bool,
}

impl DeclInst {
    /// `chat` or `embed["us-east-1"]`.
    pub fn address(&self) -> String {
        match &self.key {
            Some(k) => format!("{}{}[\"{}\"]", self.prefix, self.name, k),
            None => format!("{}{}", self.prefix, self.name),
        }
    }
}

/// The type of an evaluated expression of a user file, for the editor's hover: recorded by
/// [`Checker::eval`] outside speculation, with how the value reads when it is a scalar.
#[derive(Clone, Debug)]
pub struct TypeAt {
    pub span: Span,
    pub ty: Ty,
    pub value: Option<String>,
}

/// Local bindings (loop variables, `all(x in …)`, fields inside `where`).
pub struct Ctx {
    pub module: ModuleId,
    pub locals: Vec<(String, Value)>,
}

impl Ctx {
    pub fn new(module: ModuleId) -> Ctx {
        Ctx { module, locals: Vec::new() }
    }
    fn local(&self, name: &str) -> Option<&Value> {
        self.locals.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

pub struct Checker<'a> {
    pub prog: &'a Program,
    pub diags: Vec<Diagnostic>,
    lets: HashMap<(ModuleId, usize), Slot>,
    params: HashMap<(ModuleId, usize), Slot>,
    guards: HashMap<(ModuleId, usize), Option<bool>>,
    guard_busy: HashSet<(ModuleId, usize)>,
    groups: Vec<Option<Vec<DeclId>>>,
    group_busy: Vec<bool>,
    /// A `for` declaration's value (the map of its instances by key), built once: every use
    /// (`pool = p[k]` in each of n instances) would otherwise rebuild it, n² in all.
    group_maps: Vec<Option<Value>>,
    pub decls: Vec<DeclInst>,
    pub user_evals: HashSet<String>,
    /// The type at each evaluated span of a user file (see [`TypeAt`]).
    pub types: Vec<TypeAt>,
    /// The declaration body being evaluated (asserts are allowed only at its top).
    decl_body: Option<Span>,
    /// Evaluation steps so far, against [`budget::MAX_STEPS`].
    steps: u64,
    /// The step budget ran out (reported once).
    exhausted: bool,
    /// Above zero while type-checking an expression whose value is not used (an untaken
    /// branch, a short-circuited operand, the body of a loop over nothing): only errors
    /// that hold whatever the values are reported, see [`Checker::speculate`].
    speculative: u32,
}

fn enum_in(ty: &Ty) -> Option<EnumId> {
    match ty {
        Ty::Enum(e) => Some(*e),
        Ty::Opt(t) => enum_in(t),
        Ty::Union(ts) => ts.iter().find_map(enum_in),
        _ => None,
    }
}

impl<'a> Checker<'a> {
    pub fn new(prog: &'a Program) -> Checker<'a> {
        let mut user_evals = HashSet::new();
        // `evals = ["name", …]` in pipelines declare eval.NAME; read from the tree so that
        // checking a gate never has to evaluate another pipeline first.
        for m in &prog.modules {
            for e in &m.entries {
                if let ast::Item::Decl(d) = &e.item {
                    for item in &d.body.items {
                        if let ast::BodyItem::Field { name, value } = item {
                            if name.name == "evals" {
                                if let ExprKind::List(xs) = &value.kind {
                                    for x in xs {
                                        if let ExprKind::Str(parts) = &x.kind {
                                            if let [StrPart::Text(t)] = parts.as_slice() {
                                                user_evals.insert(t.clone());
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Checker {
            prog,
            diags: Vec::new(),
            lets: HashMap::new(),
            params: HashMap::new(),
            guards: HashMap::new(),
            guard_busy: HashSet::new(),
            groups: vec![None; prog.groups.len()],
            group_busy: vec![false; prog.groups.len()],
            group_maps: vec![None; prog.groups.len()],
            decls: Vec::new(),
            user_evals,
            types: Vec::new(),
            decl_body: None,
            steps: 0,
            exhausted: false,
            speculative: 0,
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        // Value-dependent failures are not errors in code whose value is not used:
        // `xs[0]` in the untaken branch of `if len(xs) > 0 then xs[0] else 0`.
        let value_dependent = [
            codes::NOT_FOUND,
            codes::ARITHMETIC,
            codes::CONSTRAINT,
            codes::ASSERT_FAILED,
            codes::BAD_CALL,
            codes::OUT_OF_RANGE,
            codes::NEGATIVE_QUANTITY,
        ];
        if self.speculative > 0 && value_dependent.contains(&d.code) {
            return;
        }
        self.diags.push(d);
    }

    /// Type-checks `e` without using its value: names, types, units and kinds are checked,
    /// failures that depend on the values (an index out of range, a division by zero, a
    /// `none` field) are not, since the expression is not evaluated for real. Memoised
    /// lets, params and declarations it reaches are still evaluated in full.
    pub fn speculate(&mut self, e: &Expr, cx: &mut Ctx, expect: Option<&Ty>) -> Value {
        self.speculative += 1;
        let v = self.eval(e, cx, expect);
        self.speculative -= 1;
        v
    }

    /// Runs `f` speculatively (see [`Checker::speculate`]).
    pub fn speculating<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.speculative += 1;
        let r = f(self);
        self.speculative -= 1;
        r
    }

    pub fn ty_name(&self, ty: &Ty) -> String {
        self.prog.types.display(ty)
    }

    // ------------------------------------------------------------------ budget

    /// Counts `n` steps of work; `false` once the step budget is spent (reported once, at
    /// the expression that crossed it).
    pub fn charge(&mut self, n: u64, span: Span) -> bool {
        self.steps = self.steps.saturating_add(n);
        if self.steps <= MAX_STEPS {
            return true;
        }
        if !self.exhausted {
            self.exhausted = true;
            self.error(
                Diagnostic::error(
                    codes::EVAL_BUDGET,
                    span,
                    format!("evaluation budget exceeded: checking needs more than {MAX_STEPS} steps"),
                )
                .with_primary_label("the budget ran out here")
                .with_help("the stack computes too much at compile time: look for loops over large lists, or `for` declarations with thousands of instances"),
            );
        }
        false
    }

    /// Reports a value over the size limits at `span`.
    pub fn too_large(&mut self, span: Span, what: String) {
        self.error(Diagnostic::error(codes::VALUE_TOO_LARGE, span, format!("value too large: {what}")).with_help(
            format!("values are limited to {MAX_ELEMENTS} elements and strings to {} MiB", MAX_STRING >> 20),
        ));
    }

    /// The deep size of `v`, charged to the step budget; `None` once the budget is spent.
    pub fn measure(&mut self, v: &Value, span: Span) -> Option<u64> {
        if !is_compound(v) {
            return Some(1);
        }
        let w = weight(v, MAX_ELEMENTS);
        self.charge(w, span).then_some(w)
    }

    /// `v`, or `Unknown` with a located error when it is over the element limit.
    pub fn bounded(&mut self, v: Value, span: Span) -> Value {
        match self.measure(&v, span) {
            None => Value::Unknown,
            Some(w) if w > MAX_ELEMENTS => {
                self.too_large(span, format!("more than {MAX_ELEMENTS} elements"));
                Value::Unknown
            }
            Some(_) => v,
        }
    }

    /// Whether a string of `len` bytes is within the limit; reports it at `span` when not.
    pub fn bounded_str(&mut self, len: usize, span: Span) -> bool {
        if len <= MAX_STRING {
            return true;
        }
        self.too_large(span, format!("a string of {len} bytes (the limit is {} MiB)", MAX_STRING >> 20));
        false
    }

    // ------------------------------------------------------------------ top-level items

    pub fn param_value(&mut self, module: ModuleId, entry: usize) -> Value {
        match self.params.get(&(module, entry)) {
            Some(Slot::Done(v)) => return v.clone(),
            Some(Slot::Busy) => return Value::Unknown,
            None => {}
        }
        self.params.insert((module, entry), Slot::Busy);
        let saved = std::mem::take(&mut self.speculative);
        let v = self.compute_param(module, entry);
        self.speculative = saved;
        self.params.insert((module, entry), Slot::Done(v.clone()));
        v
    }

    fn compute_param(&mut self, module: ModuleId, entry: usize) -> Value {
        let prog = self.prog;
        let m = prog.module(module);
        let ast::Item::Param(p) = &m.entries[entry].item else {
            return Value::Unknown;
        };
        let ty = super::load::resolve_type(prog, module, &p.ty, &mut self.diags);
        if ty == Ty::Secret {
            if p.default.is_some() {
                self.error(
                    Diagnostic::error(
                        codes::SECRET_MISUSE,
                        p.name.span,
                        format!("secret param `{}` cannot have a default", p.name.name),
                    )
                    .with_help("secrets are never written in the stack; their values are supplied when it is applied"),
                );
            }
            if module == prog.root && prog.cli_params.contains_key(&p.name.name) {
                self.error(
                    Diagnostic::error(
                        codes::PARAM_VALUE,
                        p.name.span,
                        format!("`{}` is a secret: --param cannot set it", p.name.name),
                    )
                    .with_help("check and build need no value for a secret; outputs only reference it"),
                );
            }
            // A module's secret comes from its importer, which must pass a secret.
            if let Some((importer, body)) = &m.importer {
                let set = body.iter().flat_map(|b| &b.items).find_map(|item| match item {
                    ast::BodyItem::Field { name, value } if name.name == p.name.name => Some(value),
                    _ => None,
                });
                return match set {
                    Some(value) => {
                        let mut cx = Ctx::new(*importer);
                        let v = self.eval(value, &mut cx, Some(&ty));
                        self.conform(v, &ty, value.span)
                    }
                    None => {
                        self.error(
                            Diagnostic::error(
                                codes::PARAM_VALUE,
                                p.name.span,
                                format!("secret param `{}` has no value", p.name.name),
                            )
                            .with_help(format!(
                                "pass a secret param of the importer: `{} = NAME` in the import's body",
                                p.name.name
                            )),
                        );
                        Value::Unknown
                    }
                };
            }
            return Value::Secret(p.name.name.as_str().into());
        }
        if contains_secret(&ty) {
            self.error(Diagnostic::error(
                codes::SECRET_MISUSE,
                p.ty.span(),
                "only a param of type `secret` may hold a secret",
            ));
        }
        // A value from the importer's body, or from the command line for the root module.
        if let Some((importer, Some(body))) = &m.importer {
            for item in &body.items {
                if let ast::BodyItem::Field { name, value } = item {
                    if name.name == p.name.name {
                        let mut cx = Ctx::new(*importer);
                        let v = self.eval(value, &mut cx, Some(&ty));
                        return self.conform(v, &ty, value.span);
                    }
                }
            }
        }
        if module == prog.root {
            if let Some(cli) = prog.cli_params.get(&p.name.name) {
                if matches!(ty.strip_opt(), Ty::Str) {
                    return Value::Str(cli.raw.as_str().into());
                }
                let Some(expr) = &cli.expr else {
                    self.error(Diagnostic::error(
                        codes::PARAM_VALUE,
                        p.name.span,
                        format!("--param {}={} is not a valid {}", p.name.name, cli.raw, self.ty_name(&ty)),
                    ));
                    return Value::Unknown;
                };
                let mut cx = Ctx::new(module);
                let v = self.eval(expr, &mut cx, Some(&ty));
                return self.conform(v, &ty, expr.span);
            }
        }
        match &p.default {
            Some(d) => {
                let mut cx = Ctx::new(module);
                let v = self.eval(d, &mut cx, Some(&ty));
                self.conform(v, &ty, d.span)
            }
            None if matches!(ty, Ty::Opt(_)) => Value::None,
            None => {
                let how = if module == prog.root {
                    format!("pass --param {}=VALUE", p.name.name)
                } else {
                    format!("set `{} = …` in the body of the import", p.name.name)
                };
                self.error(
                    Diagnostic::error(codes::PARAM_VALUE, p.name.span, format!("param `{}` has no value", p.name.name))
                        .with_help(format!("{how}, or give it a default")),
                );
                Value::Unknown
            }
        }
    }

    pub fn let_value(&mut self, module: ModuleId, entry: usize, use_span: Span) -> Value {
        match self.lets.get(&(module, entry)) {
            Some(Slot::Done(v)) => return v.clone(),
            Some(Slot::Busy) => {
                let prog = self.prog;
                if let ast::Item::Let(l) = &prog.module(module).entries[entry].item {
                    self.error(
                        Diagnostic::error(codes::CYCLE, use_span, format!("`{}` depends on itself", l.name.name))
                            .with_label(l.name.span, "defined here"),
                    );
                }
                return Value::Unknown;
            }
            None => {}
        }
        self.lets.insert((module, entry), Slot::Busy);
        let prog = self.prog;
        let saved = std::mem::take(&mut self.speculative);
        let v = match &prog.module(module).entries[entry].item {
            ast::Item::Let(l) => {
                let mut cx = Ctx::new(module);
                self.eval(&l.value, &mut cx, None)
            }
            _ => Value::Unknown,
        };
        self.speculative = saved;
        self.lets.insert((module, entry), Slot::Done(v.clone()));
        v
    }

    /// Whether the `if` guard holds; `None` when unknown (its body is then still checked).
    pub fn guard(&mut self, module: ModuleId, g: usize) -> Option<bool> {
        if let Some(v) = self.guards.get(&(module, g)) {
            return *v;
        }
        let prog = self.prog;
        let cond = &prog.module(module).guards[g];
        if !self.guard_busy.insert((module, g)) {
            self.error(Diagnostic::error(
                codes::CYCLE,
                cond.span,
                "this condition depends on the declarations it guards",
            ));
            return None;
        }
        let mut cx = Ctx::new(module);
        let saved = std::mem::take(&mut self.speculative);
        let v = self.eval(cond, &mut cx, Some(&Ty::Bool));
        self.speculative = saved;
        let result = match v {
            Value::Bool(b) => Some(b),
            Value::Unknown => None,
            other => {
                let t = self.type_of(&other);
                let msg = format!("an `if` block needs a bool known at compile time, found {}", self.ty_name(&t));
                self.error(Diagnostic::error(codes::TYPE_MISMATCH, cond.span, msg));
                None
            }
        };
        self.guards.insert((module, g), result);
        result
    }

    /// Whether every `if` around the entry takes the branch it sits in.
    pub fn entry_active(&mut self, module: ModuleId, entry: usize) -> bool {
        let prog = self.prog;
        let guards = &prog.module(module).entries[entry].guards;
        guards.iter().all(|&(g, want)| self.guard(module, g).is_none_or(|b| b == want))
    }

    /// The instances of a declaration group, created on first use.
    pub fn instances(&mut self, gid: usize) -> Vec<DeclId> {
        if let Some(ids) = &self.groups[gid] {
            return ids.clone();
        }
        let prog = self.prog;
        let group = &prog.groups[gid];
        let ast::Item::Decl(d) = &prog.module(group.module).entries[group.entry].item else {
            return Vec::new();
        };
        if self.group_busy[gid] {
            self.error(Diagnostic::error(
                codes::CYCLE,
                d.name.span,
                format!("the instances of `{}` depend on themselves", d.name.name),
            ));
            return Vec::new();
        }
        self.group_busy[gid] = true;
        let saved = std::mem::take(&mut self.speculative);
        let mut ids = Vec::new();
        let mut make = |this: &mut Self, key: Option<String>, var: Option<(String, Value)>| {
            let id = DeclId(this.decls.len() as u32);
            this.decls.push(DeclInst {
                group: gid,
                module: group.module,
                kind: group.kind,
                name: d.name.name.clone(),
                prefix: prog.module(group.module).prefix.clone(),
                key,
                name_span: d.name.span,
                span: d.span,
                loop_var: var,
                record: None,
                busy: false,
            });
            ids.push(id);
        };
        match &d.each {
            None => make(self, None, None),
            Some((var, list)) => {
                let mut cx = Ctx::new(group.module);
                let v = self.eval(list, &mut cx, None);
                let keys: Vec<(String, Value)> = match &v {
                    Value::List(items) => items
                        .iter()
                        .filter_map(|x| match x {
                            Value::Str(s) => Some((s.to_string(), x.clone())),
                            Value::Unknown => None,
                            other => {
                                let t = self.type_of(other);
                                let msg = format!("`for` runs over strings, found {}", self.ty_name(&t));
                                self.error(Diagnostic::error(codes::TYPE_MISMATCH, list.span, msg));
                                None
                            }
                        })
                        .collect(),
                    Value::Map(m) => m.keys().map(|k| (k.clone(), Value::Str(k.as_str().into()))).collect(),
                    Value::Record(r) if r.schema.is_none() => {
                        r.fields.keys().map(|k| (k.clone(), Value::Str(k.as_str().into()))).collect()
                    }
                    Value::Unknown => Vec::new(),
                    other => {
                        let t = self.type_of(other);
                        let msg = format!("`for` runs over a list of strings or a map, found {}", self.ty_name(&t));
                        self.error(Diagnostic::error(codes::TYPE_MISMATCH, list.span, msg));
                        Vec::new()
                    }
                };
                let mut seen = HashSet::new();
                for (k, val) in keys {
                    if !seen.insert(k.clone()) {
                        self.error(Diagnostic::error(
                            codes::DUPLICATE_KEY,
                            list.span,
                            format!("key \"{k}\" appears twice, so `{}[\"{k}\"]` would be declared twice", d.name.name),
                        ));
                        continue;
                    }
                    // An instance costs far more than a step (its body, the domain rules,
                    // its outputs): charged so that the budget bounds the instance count.
                    if !self.charge(budget::INSTANCE_STEPS, list.span) {
                        break;
                    }
                    make(self, Some(k), Some((var.name.clone(), val)));
                }
            }
        }
        self.group_busy[gid] = false;
        self.speculative = saved;
        self.groups[gid] = Some(ids.clone());
        ids
    }

    /// The evaluated record of a declaration instance.
    pub fn record(&mut self, id: DeclId, use_span: Span) -> Option<Rc<Record>> {
        let inst = &self.decls[id.0 as usize];
        if let Some(r) = &inst.record {
            return Some(r.clone());
        }
        if inst.busy {
            let msg = format!("`{}` depends on itself through its own fields", inst.address());
            let span = inst.name_span;
            self.error(Diagnostic::error(codes::CYCLE, use_span, msg).with_label(span, "declared here"));
            return None;
        }
        let kind = inst.kind?;
        let gid = inst.group;
        self.decls[id.0 as usize].busy = true;
        let prog = self.prog;
        let group = &prog.groups[gid];
        let ast::Item::Decl(d) = &prog.module(group.module).entries[group.entry].item else {
            return None;
        };
        let mut cx = Ctx::new(group.module);
        if let Some(v) = &self.decls[id.0 as usize].loop_var {
            cx.locals.push(v.clone());
        }
        self.decl_body = Some(d.body.span);
        let saved = std::mem::take(&mut self.speculative);
        let rec = self.eval_body(&d.body, kind, &mut cx, d.name.span);
        self.speculative = saved;
        let inst = &mut self.decls[id.0 as usize];
        inst.busy = false;
        inst.record = Some(rec.clone());
        Some(rec)
    }

    pub fn decl_active(&mut self, id: DeclId) -> bool {
        let inst = &self.decls[id.0 as usize];
        let group = &self.prog.groups[inst.group];
        self.entry_active(group.module, group.entry)
    }

    /// Every active declaration of kind `schema`, across all modules, in load order.
    pub fn kind_list(&mut self, schema: SchemaId) -> Vec<DeclId> {
        let mut out = Vec::new();
        for gid in 0..self.prog.groups.len() {
            if self.prog.groups[gid].kind != Some(schema) {
                continue;
            }
            let g = &self.prog.groups[gid];
            if !self.entry_active(g.module, g.entry) {
                continue;
            }
            out.extend(self.instances(gid));
        }
        out
    }

    // ------------------------------------------------------------------ code not evaluated

    /// Type-checks what evaluation never reaches: the body of a `for` declaration over an
    /// empty collection, param defaults overridden by a value, and the defaults and `where`
    /// constraints of user schemas and enum payloads (instantiated or not).
    pub fn check_unevaluated(&mut self) {
        let prog = self.prog;
        for gid in 0..prog.groups.len() {
            let g = &prog.groups[gid];
            let ast::Item::Decl(d) = &prog.module(g.module).entries[g.entry].item else { continue };
            let (Some((var, _)), Some(kind)) = (&d.each, g.kind) else { continue };
            if self.instances(gid).is_empty() {
                let mut cx = Ctx::new(g.module);
                cx.locals.push((var.name.clone(), Value::Unknown));
                self.speculative += 1;
                self.decl_body = Some(d.body.span);
                self.eval_body(&d.body, kind, &mut cx, d.name.span);
                self.decl_body = None;
                self.speculative -= 1;
            }
        }
        for (mi, m) in prog.modules.iter().enumerate() {
            for e in &m.entries {
                let ast::Item::Param(p) = &e.item else { continue };
                let Some(default) = &p.default else { continue };
                let mid = ModuleId(mi as u32);
                let ty = super::load::resolve_type(prog, mid, &p.ty, &mut self.diags);
                if ty == Ty::Secret {
                    continue;
                }
                let mut cx = Ctx::new(mid);
                let v = self.speculate(default, &mut cx, Some(&ty));
                self.speculative += 1;
                self.conform(v, &ty, default.span);
                self.speculative -= 1;
            }
        }
        for (i, def) in prog.types.schemas.iter().enumerate() {
            if !def.std {
                self.check_schema(SchemaId(i as u32));
            }
        }
    }

    /// A schema's defaults against their types, and its constraints with every field bound
    /// to a sample value of the field's type.
    fn check_schema(&mut self, schema: SchemaId) {
        let prog = self.prog;
        let def = prog.types.schema(schema);
        let module = self.schema_module(schema);
        self.speculative += 1;
        for fd in &def.fields {
            if let Some(d) = &fd.default {
                let v = self.eval(d, &mut Ctx::new(module), Some(&fd.ty));
                self.conform(v, &fd.ty, d.span);
            }
        }
        let locals: Vec<(String, Value)> = def.fields.iter().map(|f| (f.name.clone(), sample(&f.ty))).collect();
        for fd in &def.fields {
            let Some(c) = &fd.constraint else { continue };
            let mut cx = Ctx { module, locals: locals.clone() };
            let ok = self.eval(c, &mut cx, Some(&Ty::Bool));
            if !matches!(ok, Value::Bool(_) | Value::Unknown) {
                let t = self.ty_name(&self.type_of(&ok));
                self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    c.span,
                    format!("a `where` constraint must be a bool, found {t}"),
                ));
            }
        }
        self.speculative -= 1;
    }

    // ------------------------------------------------------------------ bodies

    /// Checks a `{ … }` body against a schema: fields, duplicates, defaults, missing fields
    /// and `where` constraints. `owner` is where "missing field" errors point.
    pub fn eval_body(&mut self, body: &ast::Body, schema: SchemaId, cx: &mut Ctx, owner: Span) -> Rc<Record> {
        let top = self.decl_body.take() == Some(body.span);
        let prog = self.prog;
        let def = prog.types.schema(schema);
        let mut rec = Record { schema: Some(schema), fields: BTreeMap::new() };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut incomplete = self
            .prog
            .broken
            .iter()
            .any(|b| b.file == body.span.file && b.start >= body.span.start && b.start <= body.span.end);
        let mut named: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for item in &body.items {
            match item {
                ast::BodyItem::Field { name, value } => {
                    if let Some(first) = seen.get(name.name.as_str()) {
                        self.error(
                            Diagnostic::error(
                                codes::DUPLICATE_FIELD,
                                name.span,
                                format!("field `{}` is set twice", name.name),
                            )
                            .with_label(*first, "first set here")
                            .with_help("remove one of the two settings"),
                        );
                        continue;
                    }
                    seen.insert(&name.name, name.span);
                    let Some(fd) = def.field(&name.name) else {
                        self.unknown_field(def.name.as_str(), schema, name);
                        continue;
                    };
                    let v = self.eval(value, cx, Some(&fd.ty));
                    let v = self.conform(v, &fd.ty, value.span);
                    let v = if def.std { self.within_limits(fd, v, value.span) } else { v };
                    rec.fields
                        .insert(name.name.clone(), Field { value: v, span: value.span, name_span: Some(name.span) });
                }
                ast::BodyItem::Named { field, name, body } => {
                    let Some(fd) = def.field(&field.name) else {
                        self.unknown_field(def.name.as_str(), schema, field);
                        continue;
                    };
                    let Ty::Map(inner) = fd.ty.strip_opt() else {
                        self.error(Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            field.span,
                            format!(
                                "`{} NAME {{ … }}` adds a named entry, but `{}` is a {}",
                                field.name,
                                field.name,
                                self.ty_name(&fd.ty)
                            ),
                        ));
                        continue;
                    };
                    if seen.get(field.name.as_str()).is_some_and(|_| !named.contains_key(&field.name)) {
                        self.error(Diagnostic::error(
                            codes::DUPLICATE_FIELD,
                            field.span,
                            format!("field `{}` is set twice", field.name),
                        ));
                        continue;
                    }
                    seen.entry(&field.name).or_insert(field.span);
                    let v = match inner.as_ref() {
                        Ty::Record(s) => Value::Record(self.eval_body(body, *s, cx, name.span)),
                        other => {
                            let other = other.clone();
                            let e = Expr { kind: ExprKind::Record(body.clone()), span: body.span };
                            let v = self.eval(&e, cx, Some(&other));
                            self.conform(v, &other, body.span)
                        }
                    };
                    let entries = named.entry(field.name.clone()).or_default();
                    if entries.insert(name.name.clone(), v).is_some() {
                        self.error(Diagnostic::error(
                            codes::DUPLICATE_FIELD,
                            name.span,
                            format!("`{} {}` is set twice", field.name, name.name),
                        ));
                    }
                    let span = field.span.to(body.span);
                    rec.fields.entry(field.name.clone()).and_modify(|f| f.span = f.span.to(span)).or_insert(Field {
                        value: Value::Unknown,
                        span,
                        name_span: Some(field.span),
                    });
                }
                ast::BodyItem::Assert(a) if !top => {
                    self.error(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            a.span,
                            "`assert` belongs at the top of a declaration's body",
                        )
                        .with_help("move it out of the nested block, or to the top level"),
                    );
                }
                ast::BodyItem::Assert(_) => {}
                ast::BodyItem::Error(_) => incomplete = true,
            }
        }
        for (field, entries) in named {
            if let Some(f) = rec.fields.get_mut(&field) {
                f.value = Value::Map(Rc::new(entries));
            }
        }
        let schema_module = self.schema_module(schema);
        for fd in &def.fields {
            if rec.fields.contains_key(&fd.name) {
                continue;
            }
            if let Some(d) = &fd.default {
                let mut dcx = Ctx::new(schema_module);
                let v = self.eval(d, &mut dcx, Some(&fd.ty));
                let v = self.conform(v, &fd.ty, d.span);
                rec.fields.insert(fd.name.clone(), Field { value: v, span: owner, name_span: None });
            } else if matches!(fd.ty, Ty::Opt(_)) {
                rec.fields.insert(fd.name.clone(), Field { value: Value::None, span: owner, name_span: None });
            } else {
                rec.fields.insert(fd.name.clone(), Field { value: Value::Unknown, span: owner, name_span: None });
                if !incomplete {
                    let d = Diagnostic::error(
                        codes::MISSING_FIELD,
                        owner,
                        format!("missing field `{}` of {}", fd.name, def.name),
                    )
                    .with_label(fd.span, format!("`{}: {}` declared here", fd.name, self.ty_name(&fd.ty)))
                    .with_help(format!("set `{} = …`", fd.name));
                    self.error(d);
                }
            }
        }
        // `where` constraints see every field of the record by name.
        let locals: Vec<(String, Value)> = rec.fields.iter().map(|(k, f)| (k.clone(), f.value.clone())).collect();
        for fd in &def.fields {
            let Some(c) = &fd.constraint else { continue };
            let Some(field) = rec.fields.get(&fd.name) else {
                continue;
            };
            if field.value.is_unknown() {
                continue;
            }
            let mut ccx = Ctx { module: schema_module, locals: locals.clone() };
            let before = self.diags.len();
            let ok = self.eval(c, &mut ccx, Some(&Ty::Bool));
            if def.std && self.diags.len() > before {
                // A standard-library constraint that cannot be evaluated on this value: the
                // user cannot see or edit the stdlib, so the error is moved to the field they
                // wrote, with the constraint and the evaluator's message beside it (never
                // dropped; `std_schemas_check_clean` keeps the stdlib's own constraints sound).
                let inner: Vec<Diagnostic> = self.diags.drain(before..).collect();
                let src = prog.sources.get(c.span.file).map_or("", |f| f.slice(c.span)).to_string();
                let shown = self.show(&field.value);
                let first = &inner[0];
                let d = Diagnostic::error(
                    first.code,
                    field.span,
                    format!("`{}` = {} cannot be checked against `{}`: {}", fd.name, shown, src, first.message),
                )
                .with_label(c.span, format!("constraint of {} in the standard library", def.name))
                .with_help(format!("change `{}`: the standard library cannot check this value", fd.name));
                self.error(d);
                continue;
            }
            if !matches!(ok, Value::Bool(_) | Value::Unknown) {
                let t = self.ty_name(&self.type_of(&ok));
                self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    c.span,
                    format!("a `where` constraint must be a bool, found {t}"),
                ));
            }
            if let Value::Bool(false) = ok {
                let src = prog.sources.get(c.span.file).map_or("", |f| f.slice(c.span)).to_string();
                let shown = self.show(&field.value);
                let d = Diagnostic::error(
                    codes::CONSTRAINT,
                    field.span,
                    format!("`{}` = {} does not satisfy `{}`", fd.name, shown, src),
                )
                .with_label(c.span, "constraint declared here");
                self.error(d);
            }
        }
        Rc::new(rec)
    }

    /// A standard-library field's value, or `Unknown` with a located error when a number in
    /// it is outside what its field and the emitted outputs can hold: integers are 32-bit
    /// (ports 1..65535; counts are kept at or above zero by their `where`), percentages 0%..100% (budget alerts may pass
    /// 100%), durations, sizes and money not negative.
    fn within_limits(&mut self, fd: &super::types::FieldDef, v: Value, span: Span) -> Value {
        match self.out_of_limits(&fd.name, &v) {
            None => v,
            Some((code, bad, allowed)) => {
                let shown = self.show(&bad);
                let msg = if code == codes::NEGATIVE_QUANTITY {
                    format!("`{}` cannot be negative, found {shown}", fd.name)
                } else {
                    format!("{shown} is out of range for `{}`: {allowed}", fd.name)
                };
                let mut d = Diagnostic::error(code, span, msg);
                if matches!(bad, Value::Int(_)) && code == codes::OUT_OF_RANGE && !allowed.starts_with("a port") {
                    d = d.with_help("Kubernetes and Terraform hold this field as a 32-bit integer");
                }
                self.error(d);
                Value::Unknown
            }
        }
    }

    /// The first number in `v` that the field `name` cannot hold: its code, the number
    /// and the range allowed.
    fn out_of_limits(&self, name: &str, v: &Value) -> Option<(&'static str, Value, String)> {
        let out = |allowed: String| Some((codes::OUT_OF_RANGE, v.clone(), allowed));
        match v {
            Value::Int(n) if name == "port" || name.ends_with("_port") => {
                (!(1..=65_535).contains(n)).then(|| "a port is 1..65535".to_string()).and_then(out)
            }
            // Below zero is left to the field's own `where` (every count has one).
            Value::Int(n) if i32::try_from(*n).is_err() => out(format!("it must be at most {}", i32::MAX)),
            Value::Ratio(r) if *r < 0.0 || (*r > 1.0 + 1e-9 && name != "alerts") => {
                out(if name == "alerts" { "a percentage is at least 0%" } else { "a percentage is 0%..100%" }.into())
            }
            Value::Qty(x, _) | Value::Ratio(x) | Value::Float(x) if !x.is_finite() => {
                out("it must be a finite number".into())
            }
            Value::Qty(x, _) if *x < 0.0 => Some((codes::NEGATIVE_QUANTITY, v.clone(), String::new())),
            Value::List(xs) => xs.iter().find_map(|x| self.out_of_limits(name, x)),
            Value::Map(m) => m.values().find_map(|x| self.out_of_limits(name, x)),
            Value::Range(r) => self.out_of_limits(name, &r.0).or_else(|| self.out_of_limits(name, &r.1)),
            _ => None,
        }
    }

    /// The module instance that declared `schema`: a file imported twice has two, each
    /// with its own params, so the file alone does not say which.
    fn schema_module(&self, schema: SchemaId) -> ModuleId {
        self.prog.types.schema(schema).module
    }

    fn unknown_field(&mut self, schema_name: &str, schema: SchemaId, name: &ast::Ident) {
        let def = self.prog.types.schema(schema);
        let mut d =
            Diagnostic::error(codes::UNKNOWN_FIELD, name.span, format!("{schema_name} has no field `{}`", name.name));
        match super::suggest(&name.name, def.fields.iter().map(|f| f.name.as_str())) {
            Some(s) => d = d.with_help(format!("did you mean `{s}`?")),
            None => {
                let all: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
                d = d.with_help(format!("fields of {schema_name}: {}", all.join(", ")));
            }
        }
        self.error(d);
    }

    // ------------------------------------------------------------------ expressions

    pub fn eval(&mut self, e: &Expr, cx: &mut Ctx, expect: Option<&Ty>) -> Value {
        if !self.charge(1, e.span) {
            return Value::Unknown;
        }
        let v = self.eval_kind(e, cx, expect);
        let v = match &e.kind {
            // Expressions that build values are held to the size limits.
            ExprKind::List(_)
            | ExprKind::Record(_)
            | ExprKind::Variant(..)
            | ExprKind::Range(..)
            | ExprKind::Binary(..)
            | ExprKind::Unary(..)
            | ExprKind::Call(..)
            | ExprKind::Bind { .. } => self.bounded(v, e.span),
            // Speculatively, `none` is a value whose check was skipped (`x != none && x.f`).
            ExprKind::Name(_) | ExprKind::Field(..) | ExprKind::Index(..)
                if self.speculative > 0 && matches!(v, Value::None) =>
            {
                Value::Unknown
            }
            _ => v,
        };
        self.note_type(e.span, cx.module, &v);
        v
    }

    /// Records the type of a value computed at `span` (not while speculating, not in the
    /// standard library, not for unknowns).
    fn note_type(&mut self, span: Span, module: ModuleId, v: &Value) {
        if self.speculative > 0 || matches!(v, Value::Unknown) || self.prog.module(module).std {
            return;
        }
        let scalar = !matches!(v, Value::List(_) | Value::Map(_) | Value::Record(_) | Value::Cond(..));
        let value = scalar.then(|| self.show(v));
        self.types.push(TypeAt { span, ty: self.type_of(v), value });
    }

    fn eval_kind(&mut self, e: &Expr, cx: &mut Ctx, expect: Option<&Ty>) -> Value {
        match &e.kind {
            ExprKind::Error => Value::Unknown,
            ExprKind::Int(n) => Value::Int(*n),
            ExprKind::Float(x) => Value::Float(*x),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::None => Value::None,
            ExprKind::Quantity(x, unit) => quantity(*x, *unit),
            ExprKind::Str(parts) => self.eval_string(parts, cx),
            ExprKind::Name(n) => self.eval_name(n, e.span, cx, expect),
            ExprKind::List(items) => {
                let elem = match expect.map(Ty::strip_opt) {
                    Some(Ty::List(t)) => Some(t.as_ref().clone()),
                    _ => None,
                };
                let vals = items
                    .iter()
                    .map(|x| {
                        let v = self.eval(x, cx, elem.as_ref());
                        match &elem {
                            Some(t) => self.conform(v, t, x.span),
                            None => v,
                        }
                    })
                    .collect();
                Value::List(Rc::new(vals))
            }
            ExprKind::Record(body) => self.eval_record(body, e.span, cx, expect),
            ExprKind::Variant(name, body) => self.eval_variant(name, body, e.span, cx, expect),
            ExprKind::Range(a, b) => {
                let elem = match expect.map(Ty::strip_opt) {
                    Some(Ty::Range(t)) => Some(t.as_ref().clone()),
                    _ => None,
                };
                let lo = self.eval(a, cx, elem.as_ref());
                let hi = self.eval(b, cx, elem.as_ref());
                let (lo, hi) = match &elem {
                    Some(t) => (self.conform(lo, t, a.span), self.conform(hi, t, b.span)),
                    None => (lo, hi),
                };
                if !self.same_kind("the bounds of a range", &lo, &hi, e.span) {
                    return Value::Unknown;
                }
                if let (Some(x), Some(y)) = (lo.as_f64(), hi.as_f64()) {
                    if x > y {
                        let msg = format!("range starts above its end ({} > {})", self.show(&lo), self.show(&hi));
                        self.error(
                            Diagnostic::error(codes::CONSTRAINT, e.span, msg)
                                .with_help("write the smaller bound first: min..max"),
                        );
                    }
                }
                Value::Range(Rc::new((lo, hi)))
            }
            ExprKind::Field(base, field) => {
                let b = self.eval(base, cx, None);
                self.field_of(b, field, base.span)
            }
            ExprKind::Index(base, idx) => {
                let b = self.eval(base, cx, None);
                let i = self.eval(idx, cx, None);
                self.index(b, i, e.span)
            }
            ExprKind::Call(f, args) => {
                let vals: Vec<(Value, Span)> = args.iter().map(|a| (self.eval(a, cx, None), a.span)).collect();
                self.call(f, vals, e.span)
            }
            ExprKind::Bind { func, var, list, body } => self.eval_bind(func, var, list, body, e.span, cx),
            ExprKind::Unary(op, a) => {
                let v = self.eval(a, cx, expect);
                self.unary(*op, v, e.span)
            }
            ExprKind::Binary(op, a, b) => self.eval_binary(*op, a, b, e.span, cx),
            ExprKind::If(c, a, b) => {
                let cv = self.eval(c, cx, Some(&Ty::Bool));
                let (av, bv) = match cv {
                    Value::Bool(true) => (self.eval(a, cx, expect), self.speculate(b, cx, expect)),
                    Value::Bool(false) => (self.speculate(a, cx, expect), self.eval(b, cx, expect)),
                    _ => (self.eval(a, cx, expect), self.eval(b, cx, expect)),
                };
                self.check_branches(&cv, (&av, a.span), (&bv, b.span), e.span, expect);
                match cv {
                    Value::Bool(true) => av,
                    Value::Bool(false) => bv,
                    Value::Unknown => Value::Unknown,
                    other => {
                        let t = self.type_of(&other);
                        let msg = format!("`if` needs a bool known at compile time, found {}", self.ty_name(&t));
                        self.error(Diagnostic::error(codes::TYPE_MISMATCH, c.span, msg));
                        Value::Unknown
                    }
                }
            }
        }
    }

    /// Both branches of an `if` must fit where the `if` is used: the untaken one is checked
    /// against the expected type as the taken one is by the caller. Without an expected type
    /// the two must have one type.
    fn check_branches(&mut self, cv: &Value, a: (&Value, Span), b: (&Value, Span), span: Span, expect: Option<&Ty>) {
        let (taken, untaken) = match cv {
            Value::Bool(true) => (a, b),
            Value::Bool(false) => (b, a),
            _ => (a, b),
        };
        match expect {
            Some(t) if *t != Ty::Any => {
                // Only when the taken branch fits: `expect` may be a hint from the other
                // side of a comparison rather than a requirement.
                if matches!(cv, Value::Bool(_))
                    && !matches!(untaken.0, Value::None)
                    && self.try_conform(taken.0, t).is_ok()
                    && self.try_conform(untaken.0, t).is_err()
                {
                    self.conform(untaken.0.clone(), t, untaken.1);
                }
            }
            _ => {
                self.same_kind("the branches of `if`", a.0, b.0, span);
            }
        }
    }

    /// Whether two values (a range's bounds, an `if`'s branches) have one type; reports
    /// at `span` when they do not. Unknown values and `none` fit anything.
    fn same_kind(&mut self, what: &str, a: &Value, b: &Value, span: Span) -> bool {
        if matches!(a, Value::Unknown | Value::None) || matches!(b, Value::Unknown | Value::None) {
            return true;
        }
        let (ta, tb) = (self.type_of(a), self.type_of(b));
        if let (Value::Cond(..), _) | (_, Value::Cond(..)) = (a, b) {
            let logical = |t: &Ty| matches!(t, Ty::Condition | Ty::Bool);
            if ta == tb || logical(&ta) && logical(&tb) {
                return true;
            }
        }
        if self.try_conform(b, &ta).is_ok() || self.try_conform(a, &tb).is_ok() {
            return true;
        }
        let code = match (a, b) {
            (Value::Qty(..) | Value::Ratio(_), Value::Qty(..) | Value::Ratio(_)) => codes::UNIT_MISMATCH,
            _ => codes::TYPE_MISMATCH,
        };
        let (na, nb) = (self.ty_name(&ta), self.ty_name(&tb));
        let (sa, sb) = (self.show(a), self.show(b));
        self.error(Diagnostic::error(code, span, format!("{what} have different types: {na} ({sa}) and {nb} ({sb})")));
        false
    }

    fn eval_string(&mut self, parts: &[StrPart], cx: &mut Ctx) -> Value {
        let mut out = String::new();
        let mut unknown = false;
        for p in parts {
            match p {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(e) => {
                    let v = self.eval(e, cx, None);
                    match self.interpolate(&v) {
                        Ok(s) if !self.bounded_str(out.len() + s.len(), e.span) => return Value::Unknown,
                        Ok(s) => out.push_str(&s),
                        Err(None) => unknown = true,
                        Err(Some(d)) => {
                            unknown = true;
                            let d = d(e.span);
                            self.error(d);
                        }
                    }
                }
            }
        }
        if unknown {
            Value::Unknown
        } else {
            Value::Str(out.into())
        }
    }

    #[allow(clippy::type_complexity)]
    fn interpolate(&self, v: &Value) -> Result<String, Option<Box<dyn Fn(Span) -> Diagnostic>>> {
        Ok(match v {
            Value::Unknown => return Err(None),
            Value::Str(s) => s.to_string(),
            Value::Secret(name) => {
                let name = name.to_string();
                return Err(Some(Box::new(move |span| {
                    Diagnostic::error(codes::SECRET_MISUSE, span, format!("secret `{name}` cannot be interpolated into a string"))
                        .with_primary_label("this would put the secret in plain text")
                        .with_help("pass the secret whole to a field that accepts `secret` (e.g. a service's `env`); it is emitted as a reference")
                })));
            }
            Value::Cond(..)
            | Value::List(_)
            | Value::Map(_)
            | Value::Record(_)
            | Value::Module(_)
            | Value::Signals(_) => {
                let t = self.ty_name(&self.type_of(v));
                return Err(Some(Box::new(move |span| {
                    Diagnostic::error(codes::TYPE_MISMATCH, span, format!("a {t} cannot be interpolated into a string"))
                })));
            }
            other => {
                let mut out = String::new();
                if !self.show_into(other, &mut out, MAX_STRING) {
                    return Err(Some(Box::new(|span| {
                        Diagnostic::error(codes::VALUE_TOO_LARGE, span, "value too large: it reads as more than 16 MiB")
                    })));
                }
                out
            }
        })
    }

    /// How a value reads in a message, cut after [`budget::SHOW_LIMIT`] bytes.
    pub fn show(&self, v: &Value) -> String {
        let mut out = String::new();
        if !self.show_into(v, &mut out, budget::SHOW_LIMIT) {
            let mut end = budget::SHOW_LIMIT.min(out.len());
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
        }
        out
    }

    /// Appends how `v` reads to `out`; `false` (stopping early) once `out` passes `limit` bytes.
    pub fn show_into(&self, v: &Value, out: &mut String, limit: usize) -> bool {
        use std::fmt::Write as _;
        match v {
            Value::Unknown => out.push('?'),
            Value::None => out.push_str("none"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(x) => out.push_str(&super::value::trim_float(*x)),
            Value::Str(s) if out.len() + s.len() > limit => return false,
            Value::Str(s) => out.push_str(s),
            Value::Qty(x, d) => out.push_str(&format_qty(*x, *d)),
            Value::Ratio(r) => {
                let _ = write!(out, "{}%", super::value::trim_float(r * 100.0));
            }
            Value::Secret(n) => {
                let _ = write!(out, "<secret {n}>");
            }
            Value::Cond(..) => out.push_str("<condition>"),
            Value::List(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > limit || !self.show_into(x, out, limit) {
                        return false;
                    }
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("{ ");
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{k} = ");
                    if out.len() > limit || !self.show_into(x, out, limit) {
                        return false;
                    }
                }
                out.push_str(" }");
            }
            Value::Record(_) => out.push_str("{ … }"),
            Value::Enum(e, i, _) => out.push_str(&self.prog.types.enum_(*e).variants[*i].name),
            Value::Ref(d) => out.push_str(&self.decls[d.0 as usize].address()),
            Value::Range(r) => {
                if !self.show_into(&r.0, out, limit) {
                    return false;
                }
                out.push_str("..");
                return self.show_into(&r.1, out, limit);
            }
            Value::Module(_) => out.push_str("<module>"),
            Value::Signals(ns) => out.push_str(ns),
        }
        out.len() <= limit
    }

    fn eval_record(&mut self, body: &ast::Body, span: Span, cx: &mut Ctx, expect: Option<&Ty>) -> Value {
        match expect.map(Ty::strip_opt) {
            Some(Ty::Record(s)) => Value::Record(self.eval_body(body, *s, cx, span)),
            Some(Ty::Map(elem)) => {
                let elem = elem.as_ref().clone();
                let mut out = BTreeMap::new();
                let mut seen: HashMap<String, Span> = HashMap::new();
                for item in &body.items {
                    match item {
                        ast::BodyItem::Field { name, value } => {
                            if let Some(first) = seen.get(&name.name) {
                                self.error(
                                    Diagnostic::error(
                                        codes::DUPLICATE_FIELD,
                                        name.span,
                                        format!("key `{}` is set twice", name.name),
                                    )
                                    .with_label(*first, "first set here"),
                                );
                                continue;
                            }
                            seen.insert(name.name.clone(), name.span);
                            let v = self.eval(value, cx, Some(&elem));
                            let v = self.conform(v, &elem, value.span);
                            out.insert(name.name.clone(), v);
                        }
                        ast::BodyItem::Named { name, .. } => {
                            self.error(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                name.span,
                                "a map takes `KEY = VALUE` entries",
                            ));
                        }
                        ast::BodyItem::Assert(a) => {
                            self.error(Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                a.span,
                                "`assert` belongs in a declaration or at the top level",
                            ));
                        }
                        ast::BodyItem::Error(_) => {}
                    }
                }
                Value::Map(Rc::new(out))
            }
            Some(Ty::Enum(e)) => {
                let name = self.prog.types.enum_(*e).name.clone();
                self.error(
                    Diagnostic::error(codes::TYPE_MISMATCH, span, format!("expected a {name} variant, found a record"))
                        .with_help(format!("write `VARIANT {{ … }}` with a variant of {name}")),
                );
                Value::Unknown
            }
            Some(Ty::Any) | None | Some(Ty::Union(_)) => {
                // An untyped record literal: fields evaluate without expectations.
                let mut rec = Record::default();
                for item in &body.items {
                    if let ast::BodyItem::Assert(a) = item {
                        self.error(Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            a.span,
                            "`assert` belongs at the top of a declaration's body",
                        ));
                    }
                    if let ast::BodyItem::Field { name, value } = item {
                        if rec.fields.contains_key(&name.name) {
                            self.error(Diagnostic::error(
                                codes::DUPLICATE_FIELD,
                                name.span,
                                format!("field `{}` is set twice", name.name),
                            ));
                            continue;
                        }
                        let v = self.eval(value, cx, None);
                        rec.fields.insert(
                            name.name.clone(),
                            Field { value: v, span: value.span, name_span: Some(name.span) },
                        );
                    }
                }
                Value::Record(Rc::new(rec))
            }
            Some(other) => {
                let t = self.ty_name(other);
                self.error(Diagnostic::error(codes::TYPE_MISMATCH, span, format!("expected {t}, found a record")));
                Value::Unknown
            }
        }
    }

    fn eval_variant(
        &mut self,
        name: &ast::Ident,
        body: &ast::Body,
        span: Span,
        cx: &mut Ctx,
        expect: Option<&Ty>,
    ) -> Value {
        let Some(eid) = expect.and_then(enum_in) else {
            match expect.map(Ty::strip_opt) {
                // `slo { … }`-style sugar is parsed as a variant when written after `=`; treat a
                // schema-typed position as a record whose type name was repeated.
                Some(Ty::Record(s)) if self.prog.types.schema(*s).name == name.name => {
                    return Value::Record(self.eval_body(body, *s, cx, span));
                }
                Some(t) if *t != Ty::Any => {
                    let t = self.ty_name(t);
                    self.error(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        span,
                        format!("expected {t}, found variant `{}`", name.name),
                    ));
                }
                _ => self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    name.span,
                    format!("cannot tell which enum `{}` belongs to here", name.name),
                )),
            }
            return Value::Unknown;
        };
        let def = self.prog.types.enum_(eid);
        let Some(vi) = def.variant(&name.name) else {
            self.unknown_variant(eid, name);
            return Value::Unknown;
        };
        match def.variants[vi].payload {
            Some(p) => {
                let rec = self.eval_body(body, p, cx, name.span);
                Value::Enum(eid, vi, Some(rec))
            }
            None => {
                self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    body.span,
                    format!("variant `{}` of {} takes no fields", name.name, def.name),
                ));
                Value::Enum(eid, vi, None)
            }
        }
    }

    fn unknown_variant(&mut self, eid: EnumId, name: &ast::Ident) {
        let def = self.prog.types.enum_(eid);
        let names: Vec<&str> = def.variants.iter().map(|v| v.name.as_str()).collect();
        let mut d = Diagnostic::error(
            codes::UNKNOWN_VARIANT,
            name.span,
            format!("{} has no variant `{}`", def.name, name.name),
        );
        d = match super::suggest(&name.name, names.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`? variants: {}", names.join(", "))),
            None => d.with_help(format!("variants of {}: {}", def.name, names.join(", "))),
        };
        self.error(d);
    }

    /// Whether the global `target` (found in `module`) is a value of enum `eid`, so that a
    /// bare name where that enum is expected could mean it rather than the variant: a
    /// `param` of that type or a `let` whose value is one of its variants. A declaration is
    /// never a value of an enum type, nor are imports, schemas and enums; a `let` being
    /// evaluated could only be meant through a cycle.
    fn could_mean(&mut self, target: Name, module: ModuleId, eid: EnumId, use_span: Span) -> bool {
        let prog = self.prog;
        match target {
            Name::Param(e) => {
                let ast::Item::Param(p) = &prog.module(module).entries[e].item else { return false };
                let ty = super::load::resolve_type(prog, module, &p.ty, &mut Vec::new());
                enum_in(&ty) == Some(eid)
            }
            Name::Let(e) => {
                if matches!(self.lets.get(&(module, e)), Some(Slot::Busy)) {
                    return false;
                }
                matches!(self.let_value(module, e, use_span), Value::Enum(id, _, _) if id == eid)
            }
            Name::Decl(_) | Name::Import(_) | Name::Schema(_) | Name::Enum(_) => false,
        }
    }

    /// Resolves a bare name: local, enum variant (when an enum is expected), module name,
    /// prelude name, kind (a schema used as a value), or a signal namespace.
    fn eval_name(&mut self, name: &str, span: Span, cx: &mut Ctx, expect: Option<&Ty>) -> Value {
        if let Some(v) = cx.local(name) {
            return v.clone();
        }
        let global = self.lookup(cx.module, name);
        if let Some(eid) = expect.and_then(enum_in) {
            let def = self.prog.types.enum_(eid);
            if let Some(vi) = def.variant(name) {
                if let Some((target, def_span, module)) = global {
                    if self.could_mean(target, module, eid, span) {
                        let what = if matches!(target, Name::Param(_)) { "param" } else { "`let`" };
                        let ename = self.prog.types.enum_(eid).name.clone();
                        self.error(
                            Diagnostic::error(
                                codes::AMBIGUOUS_NAME,
                                span,
                                format!("`{name}` is both a variant of {ename} and a {what} of that type"),
                            )
                            .with_label(def_span, "declared here")
                            .with_help(format!("rename the {what} so the variant is unambiguous")),
                        );
                        return Value::Unknown;
                    }
                }
                let payload = def.variants[vi].payload;
                let rec = payload.map(|p| {
                    let empty = ast::Body { items: Vec::new(), span };
                    self.eval_body(&empty, p, cx, span)
                });
                return Value::Enum(eid, vi, rec);
            }
        }
        if let (None, Some(eid)) = (&global, expect.and_then(enum_in)) {
            if !matches!(name, "metric" | "eval") {
                let ident = ast::Ident { name: name.to_string(), span };
                self.unknown_variant(eid, &ident);
                return Value::Unknown;
            }
        }
        match global {
            Some((target, _, module)) => self.name_value(target, module, span),
            None if name == "metric" => Value::Signals("metric"),
            None if name == "eval" => Value::Signals("eval"),
            None => {
                let mut d = Diagnostic::error(codes::UNKNOWN_NAME, span, format!("unknown name `{name}`"));
                let mut candidates: Vec<String> = cx.locals.iter().map(|(n, _)| n.clone()).collect();
                candidates.extend(self.prog.module(cx.module).names.keys().cloned());
                if let Some(eid) = expect.and_then(enum_in) {
                    let def = self.prog.types.enum_(eid);
                    candidates.extend(def.variants.iter().map(|v| v.name.clone()));
                    d = d.with_primary_label(format!("expected a {} variant or a name", def.name));
                }
                if let Some(s) = super::suggest(name, candidates.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                Value::Unknown
            }
        }
    }

    /// A top-level name visible from `module`: its own names, then the prelude's.
    pub fn lookup(&mut self, module: ModuleId, name: &str) -> Option<(Name, Span, ModuleId)> {
        let prog = self.prog;
        if let Some(n) = prog.module(module).names.get(name) {
            return Some((n.0, n.1, module));
        }
        prog.modules
            .iter()
            .enumerate()
            .filter(|(_, m)| m.prelude)
            .find_map(|(i, m)| m.names.get(name).map(|n| (n.0, n.1, ModuleId(i as u32))))
    }

    fn name_value(&mut self, target: Name, module: ModuleId, span: Span) -> Value {
        let prog = self.prog;
        match target {
            Name::Param(e) => self.param_value(module, e),
            Name::Let(e) => self.let_value(module, e, span),
            Name::Decl(gid) => {
                let ids = self.instances(gid);
                let g = &prog.groups[gid];
                let ast::Item::Decl(d) = &prog.module(g.module).entries[g.entry].item else {
                    return Value::Unknown;
                };
                if d.each.is_some() {
                    if let Some(v) = &self.group_maps[gid] {
                        return v.clone();
                    }
                    let map = ids
                        .iter()
                        .filter_map(|id| self.decls[id.0 as usize].key.clone().map(|k| (k, Value::Ref(*id))))
                        .collect();
                    let v = Value::Map(Rc::new(map));
                    // Only a finished group is final (a use inside its own `for` sees it partial).
                    if self.groups[gid].is_some() {
                        self.group_maps[gid] = Some(v.clone());
                    }
                    v
                } else {
                    ids.first().map_or(Value::Unknown, |id| Value::Ref(*id))
                }
            }
            Name::Import(m) => Value::Module(m),
            Name::Schema(s) => Value::List(Rc::new(self.kind_list(s).into_iter().map(Value::Ref).collect())),
            Name::Enum(e) => {
                let en = prog.types.enum_(e).name.clone();
                self.error(
                    Diagnostic::error(codes::BAD_OPERATION, span, format!("`{en}` is an enum type, not a value"))
                        .with_help(format!(
                            "name one of its variants, e.g. `{}`",
                            prog.types.enum_(e).variants.first().map_or("…", |v| v.name.as_str())
                        )),
                );
                Value::Unknown
            }
        }
    }

    fn field_of(&mut self, base: Value, field: &ast::Ident, base_span: Span) -> Value {
        let f = field.name.as_str();
        match base {
            Value::Unknown => Value::Unknown,
            Value::Signals(ns) => {
                let ty =
                    signal_type(ns, f).or_else(|| (ns == "eval" && self.user_evals.contains(f)).then_some(Ty::Ratio));
                match ty {
                    Some(ty) => Value::Cond(Rc::new(Cond::Signal { namespace: ns, name: f.to_string() }), ty),
                    None => {
                        let known: Vec<String> = if ns == "metric" {
                            METRICS.iter().map(|s| s.to_string()).collect()
                        } else {
                            EVALS.iter().map(|s| s.to_string()).chain(self.user_evals.iter().cloned()).collect()
                        };
                        let mut d =
                            Diagnostic::error(codes::UNKNOWN_SIGNAL, field.span, format!("unknown signal `{ns}.{f}`"));
                        d = match super::suggest(f, known.iter().map(String::as_str)) {
                            Some(s) => d.with_help(format!("did you mean `{ns}.{s}`?")),
                            None if ns == "eval" => d.with_help(format!(
                                "known: {}; declare your own with `evals = [\"{f}\"]` in a pipeline",
                                known.join(", ")
                            )),
                            None => d.with_help(format!("known: {}", known.join(", "))),
                        };
                        self.error(d);
                        Value::Unknown
                    }
                }
            }
            Value::Module(m) => match self.lookup_in(m, f) {
                Some(t) => self.name_value(t, m, field.span),
                None => {
                    self.error(Diagnostic::error(codes::UNKNOWN_NAME, field.span, format!("the module has no `{f}`")));
                    Value::Unknown
                }
            },
            Value::Ref(id) => {
                if f == "name" || f == "key" {
                    let inst = &self.decls[id.0 as usize];
                    let has_field = inst.kind.is_some_and(|k| self.prog.types.schema(k).field(f).is_some());
                    if !has_field {
                        let v = if f == "name" { Some(inst.address()) } else { inst.key.clone() };
                        return v.map_or(Value::None, |s| Value::Str(s.into()));
                    }
                }
                match self.record(id, field.span) {
                    Some(r) => self.record_field(&r, field),
                    None => Value::Unknown,
                }
            }
            Value::Record(r) => self.record_field(&r, field),
            Value::Enum(_, _, Some(r)) => self.record_field(&r, field),
            Value::Range(r) => match f {
                "min" => r.0.clone(),
                "max" => r.1.clone(),
                _ => {
                    self.error(Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        field.span,
                        format!("a range has `min` and `max`, not `{f}`"),
                    ));
                    Value::Unknown
                }
            },
            Value::Map(m) => match m.get(f) {
                Some(v) => v.clone(),
                None => {
                    self.error(Diagnostic::error(codes::NOT_FOUND, field.span, format!("no key `{f}`")));
                    Value::Unknown
                }
            },
            Value::None => {
                self.error(
                    Diagnostic::error(
                        codes::BAD_OPERATION,
                        base_span,
                        format!("this is `none`, so it has no field `{f}`"),
                    )
                    .with_help("check it first: `x != none && x.field …`"),
                );
                Value::Unknown
            }
            other => {
                let t = self.ty_name(&self.type_of(&other));
                self.error(Diagnostic::error(codes::BAD_OPERATION, field.span, format!("a {t} has no field `{f}`")));
                Value::Unknown
            }
        }
    }

    fn lookup_in(&mut self, module: ModuleId, name: &str) -> Option<Name> {
        self.prog.module(module).names.get(name).map(|n| n.0)
    }

    fn record_field(&mut self, r: &Record, field: &ast::Ident) -> Value {
        match r.get(&field.name) {
            Some(v) => v.clone(),
            None => {
                let names: Vec<&str> = r.fields.keys().map(String::as_str).collect();
                let schema =
                    r.schema.map_or_else(|| "the record".to_string(), |s| self.prog.types.schema(s).name.clone());
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_FIELD,
                    field.span,
                    format!("{schema} has no field `{}`", field.name),
                );
                if let Some(s) = super::suggest(&field.name, names.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                Value::Unknown
            }
        }
    }

    fn index(&mut self, base: Value, idx: Value, span: Span) -> Value {
        match (&base, &idx) {
            (Value::Unknown, _) | (_, Value::Unknown) => Value::Unknown,
            (Value::List(xs), Value::Int(i)) => match usize::try_from(*i).ok().and_then(|i| xs.get(i)) {
                Some(v) => v.clone(),
                None => {
                    self.error(Diagnostic::error(
                        codes::NOT_FOUND,
                        span,
                        format!("index {i} is outside the list (length {})", xs.len()),
                    ));
                    Value::Unknown
                }
            },
            (Value::Map(m), Value::Str(k)) => match m.get(k.as_ref()) {
                Some(v) => v.clone(),
                None => {
                    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                    let mut d = Diagnostic::error(codes::NOT_FOUND, span, format!("no key \"{k}\""));
                    d = d.with_help(format!(
                        "keys: {}",
                        keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
                    ));
                    self.error(d);
                    Value::Unknown
                }
            },
            (Value::Record(r), Value::Str(k)) => r.get(k).cloned().unwrap_or(Value::Unknown),
            _ => {
                let (bt, it) = (self.ty_name(&self.type_of(&base)), self.ty_name(&self.type_of(&idx)));
                self.error(Diagnostic::error(codes::BAD_OPERATION, span, format!("cannot index a {bt} with a {it}")));
                Value::Unknown
            }
        }
    }

    fn eval_bind(
        &mut self,
        func: &ast::Ident,
        var: &ast::Ident,
        list: &Expr,
        body: &Expr,
        span: Span,
        cx: &mut Ctx,
    ) -> Value {
        let lv = self.eval(list, cx, None);
        let items: Vec<Value> = match &lv {
            Value::List(xs) => xs.as_ref().clone(),
            Value::Map(m) => m.values().cloned().collect(),
            Value::Unknown => return Value::Unknown,
            other => {
                let t = self.ty_name(&self.type_of(other));
                self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    list.span,
                    format!("`{}` runs over a list or map, found {t}", func.name),
                ));
                return Value::Unknown;
            }
        };
        let f = func.name.as_str();
        if !matches!(f, "all" | "any" | "count" | "filter" | "map") {
            self.error(
                Diagnostic::error(codes::BAD_CALL, func.name_span(), format!("`{f}` does not bind a variable"))
                    .with_help("binding forms are all, any, count, filter and map: all(x in XS, PRED)"),
            );
            return Value::Unknown;
        }
        if items.is_empty() {
            // Nothing to run over: the body is still type-checked, with the variable unknown.
            cx.locals.push((var.name.clone(), Value::Unknown));
            let v = self.speculate(body, cx, None);
            cx.locals.pop();
            if f != "map" && !matches!(v, Value::Bool(_) | Value::Unknown) {
                let t = self.ty_name(&self.type_of(&v));
                self.error(Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    body.span,
                    format!("`{f}` needs a bool known at compile time, found {t}"),
                ));
            }
        }
        let mut results = Vec::with_capacity(items.len());
        for item in &items {
            cx.locals.push((var.name.clone(), item.clone()));
            let v = self.eval(body, cx, None);
            cx.locals.pop();
            results.push(v);
        }
        if f == "map" {
            return Value::List(Rc::new(results));
        }
        let mut bools = Vec::with_capacity(results.len());
        for r in &results {
            match r {
                Value::Bool(b) => bools.push(Some(*b)),
                Value::Unknown => bools.push(None),
                other => {
                    let t = self.ty_name(&self.type_of(other));
                    self.error(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        body.span,
                        format!("`{f}` needs a bool known at compile time, found {t}"),
                    ));
                    return Value::Unknown;
                }
            }
        }
        let _ = span;
        match f {
            "all" => {
                if bools.contains(&Some(false)) {
                    Value::Bool(false)
                } else if bools.contains(&None) {
                    Value::Unknown
                } else {
                    Value::Bool(true)
                }
            }
            "any" => {
                if bools.contains(&Some(true)) {
                    Value::Bool(true)
                } else if bools.contains(&None) {
                    Value::Unknown
                } else {
                    Value::Bool(false)
                }
            }
            "count" => Value::Int(bools.iter().filter(|b| **b == Some(true)).count() as i64),
            _ => Value::List(Rc::new(
                items.into_iter().zip(bools).filter(|(_, b)| *b == Some(true)).map(|(x, _)| x).collect(),
            )),
        }
    }

    fn eval_binary(&mut self, op: BinOp, a: &Expr, b: &Expr, span: Span, cx: &mut Ctx) -> Value {
        if matches!(op, BinOp::And | BinOp::Or) {
            let l = self.eval(a, cx, None);
            if let (BinOp::And, Value::Bool(false)) | (BinOp::Or, Value::Bool(true)) = (op, &l) {
                // Short-circuited: the right operand is type-checked, not evaluated.
                let r = self.speculate(b, cx, None);
                self.speculative += 1;
                self.logic(op, l.clone(), r, a.span, b.span);
                self.speculative -= 1;
                return l;
            }
            let r = self.eval(b, cx, None);
            return self.logic(op, l, r, a.span, b.span);
        }
        // A bare variant on either side takes its enum from the other side.
        let a_is_variant = matches!(&a.kind, ExprKind::Name(n) if !self.is_value_name(n, cx));
        let b_is_variant = matches!(&b.kind, ExprKind::Name(n) if !self.is_value_name(n, cx));
        let (l, r) = if a_is_variant {
            let r = self.eval(b, cx, None);
            let rt = self.type_of(&r);
            // Speculatively a skipped value is unknown; its variant cannot be resolved.
            let l = if r.is_unknown() && self.speculative > 0 { Value::Unknown } else { self.eval(a, cx, Some(&rt)) };
            (l, r)
        } else {
            let l = self.eval(a, cx, None);
            let lt = self.type_of(&l);
            let r = if b_is_variant && l.is_unknown() && self.speculative > 0 {
                Value::Unknown
            } else {
                self.eval(b, cx, Some(&lt))
            };
            (l, r)
        };
        super::ops::binary(self, op, l, r, span, a.span, b.span)
    }

    fn is_value_name(&mut self, n: &str, cx: &Ctx) -> bool {
        cx.local(n).is_some() || n == "metric" || n == "eval" || {
            let prog = self.prog;
            prog.module(cx.module).names.contains_key(n)
                || prog.modules.iter().any(|m| m.prelude && m.names.contains_key(n))
        }
    }

    fn logic(&mut self, op: BinOp, l: Value, r: Value, ls: Span, rs: Span) -> Value {
        let as_cond = |this: &mut Self, v: &Value, s: Span| -> Option<Rc<Cond>> {
            match v {
                Value::Cond(c, Ty::Condition) => Some(c.clone()),
                Value::Bool(_) => Some(Rc::new(Cond::Const(v.clone()))),
                Value::Unknown => None,
                other => {
                    let t = this.ty_name(&this.type_of(other));
                    this.error(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        s,
                        format!("`{}` needs a bool or condition, found {t}", op.as_str()),
                    ));
                    None
                }
            }
        };
        match (&l, &r) {
            (Value::Bool(x), Value::Bool(y)) => Value::Bool(if op == BinOp::And { *x && *y } else { *x || *y }),
            _ => {
                let lc = as_cond(self, &l, ls);
                let rc = as_cond(self, &r, rs);
                match (lc, rc) {
                    (Some(x), Some(y)) => Value::Cond(Rc::new(Cond::Binary(op, x, y)), Ty::Condition),
                    _ => Value::Unknown,
                }
            }
        }
    }

    fn unary(&mut self, op: UnOp, v: Value, span: Span) -> Value {
        match (op, v) {
            (_, Value::Unknown) => Value::Unknown,
            (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
            (UnOp::Not, Value::Cond(c, Ty::Condition)) => Value::Cond(Rc::new(Cond::Not(c)), Ty::Condition),
            (UnOp::Neg, Value::Int(n)) => Value::Int(n.saturating_neg()),
            (UnOp::Neg, Value::Float(x)) => Value::Float(-x),
            (UnOp::Neg, Value::Qty(x, d)) => Value::Qty(-x, d),
            (UnOp::Neg, Value::Ratio(x)) => Value::Ratio(-x),
            (UnOp::Neg, Value::Cond(c, t)) if t != Ty::Condition => Value::Cond(Rc::new(Cond::Neg(c)), t),
            (op, other) => {
                let t = self.ty_name(&self.type_of(&other));
                let o = if op == UnOp::Not { "!" } else { "-" };
                self.error(Diagnostic::error(codes::BAD_OPERATION, span, format!("`{o}` is not defined for a {t}")));
                Value::Unknown
            }
        }
    }

    // ------------------------------------------------------------------ types of values

    pub fn type_of(&self, v: &Value) -> Ty {
        match v {
            Value::Unknown | Value::Module(_) | Value::Signals(_) => Ty::Any,
            Value::None => Ty::None,
            Value::Bool(_) => Ty::Bool,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Str(_) => Ty::Str,
            Value::Qty(_, d) => Ty::Qty(*d),
            Value::Ratio(_) => Ty::Ratio,
            Value::Secret(_) => Ty::Secret,
            Value::Cond(_, t) => t.clone(),
            Value::List(xs) => Ty::List(Box::new(xs.first().map_or(Ty::Any, |x| self.type_of(x)))),
            Value::Map(m) => Ty::Map(Box::new(m.values().next().map_or(Ty::Any, |x| self.type_of(x)))),
            Value::Record(r) => r.schema.map_or(Ty::Any, Ty::Record),
            Value::Enum(e, _, _) => Ty::Enum(*e),
            Value::Ref(d) => self.decls[d.0 as usize].kind.map_or(Ty::Any, Ty::Ref),
            Value::Range(r) => Ty::Range(Box::new(self.type_of(&r.0))),
        }
    }

    /// Checks `v` against `ty`, converting where the language allows (int to float).
    /// Reports a located error and returns `Unknown` when it does not fit.
    pub fn conform(&mut self, v: Value, ty: &Ty, span: Span) -> Value {
        // Conformance walks lists, maps and ranges: their size is charged to the budget.
        if matches!(v, Value::List(_) | Value::Map(_) | Value::Range(_)) && self.measure(&v, span).is_none() {
            return Value::Unknown;
        }
        match self.try_conform(&v, ty) {
            Ok(Some(converted)) => converted,
            Ok(None) => v,
            Err(d) => {
                self.error(d(span));
                Value::Unknown
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn try_conform(&self, v: &Value, ty: &Ty) -> Result<Option<Value>, Box<dyn Fn(Span) -> Diagnostic>> {
        let mismatch = |expected: String,
                        found: String,
                        help: Option<String>,
                        code: &'static str|
         -> Box<dyn Fn(Span) -> Diagnostic> {
            Box::new(move |span| {
                let mut d = Diagnostic::error(code, span, format!("expected {expected}, found {found}"));
                if let Some(h) = &help {
                    d = d.with_help(h.clone());
                }
                d
            })
        };
        let found = || {
            let t = self.type_of(v);
            match v {
                Value::Qty(..) | Value::Ratio(_) => {
                    format!("a {} ({})", self.ty_name(&t), self.show(v))
                }
                Value::Ref(d) => {
                    let inst = &self.decls[d.0 as usize];
                    let k = inst.kind.map_or("declaration".to_string(), |k| self.prog.types.schema(k).name.clone());
                    format!("{k} `{}`", inst.address())
                }
                _ => self.ty_name(&t),
            }
        };
        let article = |t: &Ty| -> String {
            let n = self.ty_name(t);
            match t {
                Ty::Qty(_)
                | Ty::Ratio
                | Ty::Record(_)
                | Ty::Enum(_)
                | Ty::Str
                | Ty::Bool
                | Ty::Int
                | Ty::Float
                | Ty::Condition
                | Ty::Secret => {
                    let a = if n.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                    format!("{a} {n}")
                }
                _ => n,
            }
        };
        match (ty, v) {
            (_, Value::Unknown) | (Ty::Any, _) => Ok(None),
            (Ty::Opt(_), Value::None) => Ok(None),
            (Ty::Opt(t), _) => self.try_conform(v, t),
            (Ty::Union(ts), _) => {
                for t in ts {
                    if let Ok(x) = self.try_conform(v, t) {
                        return Ok(x);
                    }
                }
                if let Value::Secret(_) = v {
                    return Err(Box::new(|span| {
                        Diagnostic::error(codes::SECRET_MISUSE, span, "a secret is not accepted here")
                            .with_help("secrets go only where a field's type admits `secret`")
                    }));
                }
                Err(mismatch(self.ty_name(ty), found(), None, codes::TYPE_MISMATCH))
            }
            (Ty::Bool, Value::Bool(_))
            | (Ty::Int, Value::Int(_))
            | (Ty::Float, Value::Float(_))
            | (Ty::Str, Value::Str(_)) => Ok(None),
            (Ty::Ratio, Value::Ratio(_)) | (Ty::Secret, Value::Secret(_)) => Ok(None),
            (Ty::Float, Value::Int(n)) => Ok(Some(Value::Float(*n as f64))),
            (Ty::Qty(d), Value::Qty(_, d2)) if d == d2 => Ok(None),
            (Ty::Qty(d), Value::Qty(..)) => {
                let help = Some(format!("use a {} unit, e.g. {}", d.name(), example_unit(*d)));
                Err(mismatch(article(ty), found(), help, codes::UNIT_MISMATCH))
            }
            (Ty::Qty(d), Value::Int(_) | Value::Float(_)) => {
                let help = Some(format!("add a unit, e.g. {}", example_unit(*d)));
                Err(mismatch(article(ty), "a plain number".into(), help, codes::TYPE_MISMATCH))
            }
            (Ty::Ratio, Value::Int(_) | Value::Float(_)) => {
                let x = v.as_f64().unwrap_or(0.0);
                let help = Some(format!("write a percentage, e.g. {}%", super::value::trim_float(x * 100.0)));
                Err(mismatch("a ratio".into(), "a plain number".into(), help, codes::TYPE_MISMATCH))
            }
            (Ty::Condition, Value::Cond(_, Ty::Condition) | Value::Bool(_)) => Ok(None),
            (Ty::Condition, Value::Cond(_, t)) => {
                let t = self.ty_name(t);
                Err(mismatch(
                    "a condition".into(),
                    format!("a {t} signal"),
                    Some("compare it: `metric.p95_latency > 500ms`".into()),
                    codes::TYPE_MISMATCH,
                ))
            }
            (_, Value::Cond(..)) => Err(Box::new(|span| {
                Diagnostic::error(codes::TYPE_MISMATCH, span, "a run-time condition cannot be used here").with_help(
                    "conditions over metric.* and eval.* go in fields of type `condition` (when, abort_when, gate, …)",
                )
            })),
            (Ty::Str, Value::Secret(name)) => {
                let name = name.to_string();
                Err(Box::new(move |span| {
                    Diagnostic::error(codes::SECRET_MISUSE, span, format!("secret `{name}` cannot be used as a plain string"))
                        .with_help("only fields whose type admits `secret` (e.g. a service's env) accept it; it is emitted as a reference")
                }))
            }
            (_, Value::Secret(name)) => {
                let name = name.to_string();
                let expected = self.ty_name(ty);
                Err(Box::new(move |span| {
                    Diagnostic::error(
                        codes::SECRET_MISUSE,
                        span,
                        format!("secret `{name}` cannot be used as {expected}"),
                    )
                }))
            }
            (Ty::List(t), Value::List(xs)) => {
                let mut out = Vec::with_capacity(xs.len());
                let mut changed = false;
                for x in xs.iter() {
                    match self.try_conform(x, t)? {
                        Some(c) => {
                            changed = true;
                            out.push(c);
                        }
                        None => out.push(x.clone()),
                    }
                }
                Ok(changed.then(|| Value::List(Rc::new(out))))
            }
            (Ty::Map(t), Value::Map(m)) => {
                let mut out = BTreeMap::new();
                let mut changed = false;
                for (k, x) in m.iter() {
                    match self.try_conform(x, t)? {
                        Some(c) => {
                            changed = true;
                            out.insert(k.clone(), c);
                        }
                        None => {
                            out.insert(k.clone(), x.clone());
                        }
                    }
                }
                Ok(changed.then(|| Value::Map(Rc::new(out))))
            }
            (Ty::Range(t), Value::Range(r)) => {
                let a = self.try_conform(&r.0, t)?;
                let b = self.try_conform(&r.1, t)?;
                if a.is_none() && b.is_none() {
                    return Ok(None);
                }
                Ok(Some(Value::Range(Rc::new((a.unwrap_or_else(|| r.0.clone()), b.unwrap_or_else(|| r.1.clone()))))))
            }
            (Ty::Record(s), Value::Record(r)) if r.schema == Some(*s) => Ok(None),
            (Ty::Enum(e), Value::Enum(e2, _, _)) if e == e2 => Ok(None),
            (Ty::Ref(k), Value::Ref(d)) => {
                let inst = &self.decls[d.0 as usize];
                match inst.kind {
                    Some(kind) if kind == *k => Ok(None),
                    None => Ok(None),
                    Some(kind) => {
                        let (have, want, name) = (
                            self.prog.types.schema(kind).name.clone(),
                            self.prog.types.schema(*k).name.clone(),
                            inst.address(),
                        );
                        let decl_span = inst.name_span;
                        Err(Box::new(move |span| {
                            let a = if want.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                            Diagnostic::error(
                                codes::WRONG_KIND,
                                span,
                                format!("`{name}` is a {have}, {a} {want} is required"),
                            )
                            .with_label(decl_span, format!("`{name}` declared here as a {have}"))
                            .with_help(format!("name a {want} declaration here"))
                        }))
                    }
                }
            }
            (Ty::Ref(k), Value::Map(_)) => {
                let want = self.prog.types.schema(*k).name.clone();
                Err(Box::new(move |span| {
                    Diagnostic::error(
                        codes::WRONG_KIND,
                        span,
                        format!("this names every instance of a `for` declaration; a single {want} is required"),
                    )
                    .with_help("pick one instance: NAME[\"key\"]")
                }))
            }
            _ => Err(mismatch(article(ty), found(), None, codes::TYPE_MISMATCH)),
        }
    }
}

fn contains_secret(ty: &Ty) -> bool {
    match ty {
        Ty::Secret => true,
        Ty::List(t) | Ty::Map(t) | Ty::Opt(t) | Ty::Range(t) => contains_secret(t),
        Ty::Union(ts) => ts.iter().any(contains_secret),
        _ => false,
    }
}

fn example_unit(d: Dim) -> &'static str {
    match d {
        Dim::DURATION => "15m",
        Dim::SIZE => "80GiB",
        Dim::MONEY => "$500",
        Dim::RATE => "50/s",
        Dim::MONEY_RATE => "$10_000/month",
        _ => "a quantity",
    }
}

/// A value standing for any value of `ty`, to type-check code that no instance reaches;
/// `Unknown` where no simple stand-in exists (references, records, enums, secrets).
fn sample(ty: &Ty) -> Value {
    match ty {
        Ty::Bool => Value::Bool(false),
        Ty::Int => Value::Int(0),
        Ty::Float => Value::Float(0.0),
        Ty::Str => Value::Str("".into()),
        Ty::Qty(d) => Value::Qty(0.0, *d),
        Ty::Ratio => Value::Ratio(0.0),
        Ty::None => Value::None,
        Ty::Opt(t) => sample(t),
        Ty::Union(ts) => ts.first().map_or(Value::Unknown, sample),
        Ty::Range(t) => Value::Range(Rc::new((sample(t), sample(t)))),
        Ty::List(t) => match sample(t) {
            Value::Unknown => Value::List(Rc::new(Vec::new())),
            v => Value::List(Rc::new(vec![v])),
        },
        Ty::Map(t) => match sample(t) {
            Value::Unknown => Value::Map(Rc::new(BTreeMap::new())),
            v => Value::Map(Rc::new(BTreeMap::from([("key".to_string(), v)]))),
        },
        _ => Value::Unknown,
    }
}

/// Normalises a literal to base units.
pub fn quantity(x: f64, unit: Unit) -> Value {
    match unit {
        Unit::Time(t) => Value::Qty(x * t.millis(), Dim::DURATION),
        Unit::Size(s) => Value::Qty(x * s.bytes as f64, Dim::SIZE),
        Unit::Percent => Value::Ratio(x / 100.0),
        Unit::Dollars => Value::Qty(x * 100.0, Dim::MONEY),
        Unit::PerTime(t) => Value::Qty(x / t.millis(), Dim::RATE),
        Unit::DollarsPer(t) => Value::Qty(x * 100.0 / t.millis(), Dim::MONEY_RATE),
    }
}

trait NameSpan {
    fn name_span(&self) -> Span;
}
impl NameSpan for ast::Ident {
    fn name_span(&self) -> Span {
        self.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::MemoryWorld;
    use std::path::Path;

    /// The standard library's schemas pass the checks a user's schemas get (defaults of
    /// their types, `where` constraints that evaluate to a bool for any value of the field's
    /// type), so an error inside one of its constraints on a user's value is never the
    /// stdlib's own mistake.
    #[test]
    fn std_schemas_check_clean() {
        let world = MemoryWorld::default().with(
            "/t/main.ai-stack",
            "import \"std/aws\"\nstack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n",
        );
        let (prog, diags) = crate::check::load::load(&world, Path::new("/t/main.ai-stack"), &[]);
        assert!(diags.is_empty(), "{diags:?}");
        let mut c = Checker::new(&prog);
        let std: Vec<usize> = (0..prog.types.schemas.len()).filter(|i| prog.types.schemas[*i].std).collect();
        assert!(std.len() > 20, "the stdlib's schemas are loaded: {}", std.len());
        for i in std {
            c.check_schema(SchemaId(i as u32));
        }
        let msgs: Vec<String> = c.diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
        assert!(msgs.is_empty(), "{msgs:#?}");
    }

    /// An error while a standard-library constraint evaluates a user's value is reported at
    /// the field the user wrote (the stdlib cannot be edited), never dropped. No constraint
    /// of today's stdlib fails so on a value of its type (above), so the schema here is a
    /// user's one marked as the stdlib's.
    #[test]
    fn std_constraint_errors_point_at_the_users_field() {
        let src = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n\
                   schema share { parts: int where 100 / parts >= 1 }\n\
                   share a { parts = 0 }\n";
        let world = MemoryWorld::default().with("/t/main.ai-stack", src);
        let (mut prog, diags) = crate::check::load::load(&world, Path::new("/t/main.ai-stack"), &[]);
        assert!(diags.is_empty(), "{diags:?}");
        let share = prog.types.schemas.iter().position(|d| d.name == "share").expect("schema share");
        prog.types.schemas[share].std = true;
        let mut c = Checker::new(&prog);
        let Ok(()) = super::super::evaluate_all::<std::convert::Infallible>(&mut c, &|| Ok(()));
        let errs: Vec<&Diagnostic> = c.diags.iter().filter(|d| d.code == codes::ARITHMETIC).collect();
        assert_eq!(errs.len(), 1, "{:?}", c.diags);
        let at = errs[0].primary.expect("located");
        let text = prog.sources.get(at.file).map(|f| f.slice(at)).unwrap_or_default();
        assert_eq!(text, "0", "at the user's value");
        assert!(
            errs[0].message.contains("`parts` = 0 cannot be checked against `100 / parts >= 1`"),
            "{}",
            errs[0].message
        );
        assert!(errs[0].message.contains("division by zero"), "{}", errs[0].message);
    }
}
