//! Checking: a loaded program to a checked stack.
//!
//! Takes: the root path, a [`World`] and `--param` values. Gives: an [`Analysis`] (every
//! declaration instance with its evaluated record) and all diagnostics: syntax, names,
//! types and units, `where` constraints, `assert`s, the domain rules and the built-in policy
//! rules that `--policy` or the stack's `policy` switch on ([`policy`]), less the findings
//! suppressed in source.

pub mod budget;
pub mod engine_args;
mod engine_args_table;
pub mod eval;
pub mod load;
pub mod mistakes;
pub mod ops;
pub mod policy;
pub mod rules;
pub mod training;
pub mod types;
pub mod value;

use crate::diag::{self, codes, Diagnostic};
use crate::syntax::ast::{self, ExprKind};
use crate::world::World;
use eval::{Checker, Ctx, DeclInst};
use load::Program;
use std::path::Path;
use value::{DeclId, ModuleId, Value};

/// The result of `check`: the program, its declaration instances and what was reported.
pub struct Analysis {
    pub prog: Program,
    pub decls: Vec<DeclInst>,
    /// Whether each instance is declared (its `if` guards hold).
    pub active: Vec<bool>,
    pub diags: Vec<Diagnostic>,
    /// Ids of the rules evaluated ([`policy::RULES`]), and the findings suppressed in source.
    pub rules: policy::Outcome,
    /// The type at each evaluated span of the user's files (for the editor).
    pub types: Vec<eval::TypeAt>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// The closest candidate to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = strsim::levenshtein(name, c);
        let limit = (name.len().max(c.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

pub fn check(world: &dyn World, root: &Path, params: &[(String, String)]) -> Analysis {
    check_with(world, root, params, policy::Options::default())
}

/// [`check`] with the built-in policy rules chosen by `opts` (`--policy`).
pub fn check_with(world: &dyn World, root: &Path, params: &[(String, String)], opts: policy::Options) -> Analysis {
    let Ok(a) = check_until::<std::convert::Infallible>(world, root, params, opts, &|| Ok(()));
    a
}

/// [`check_with`] that asks `stop` between its steps (after loading, before each declaration
/// instance is evaluated, before the rule passes) and ends with its error as soon as it gives
/// one, reporting nothing: the language server stops the check of a text that a newer edit
/// replaced. What a check that runs to the end reports does not depend on `stop`.
pub fn check_until<E>(
    world: &dyn World,
    root: &Path,
    params: &[(String, String)],
    opts: policy::Options,
    stop: &dyn Fn() -> Result<(), E>,
) -> Result<Analysis, E> {
    let (prog, mut diags) = load::load(world, root, params);
    stop()?;
    let (decls, active, mut more, types) = {
        let mut c = Checker::new(&prog);
        evaluate_all(&mut c, stop)?;
        c.check_unevaluated();
        let active: Vec<bool> = (0..c.decls.len()).map(|i| c.decl_active(DeclId(i as u32))).collect();
        check_module_args(&mut c);
        check_inactive_refs(&mut c, &active);
        check_asserts(&mut c, &active);
        report_unused(&mut c);
        let decls = std::mem::take(&mut c.decls);
        (decls, active, std::mem::take(&mut c.diags), std::mem::take(&mut c.types))
    };
    stop()?;
    let (mut found, mut outcome) = policy::run(&prog, &decls, &active, opts);
    more.append(&mut found);
    for name in prog.cli_params.keys() {
        let root = prog.module(prog.root);
        if !matches!(root.names.get(name), Some((load::Name::Param(_), _))) {
            diags.push(Diagnostic::sourceless(
                codes::PARAM_VALUE,
                format!("--param {name}: the stack declares no param `{name}`"),
            ));
        }
    }
    diags.append(&mut more);
    let (mut diags, suppressed) = policy::suppress::apply(&prog, diags, &outcome.evaluated);
    outcome.suppressed = suppressed;
    diag::sort(&mut diags);
    Ok(Analysis { prog, decls, active, diags, rules: outcome, types })
}

fn evaluate_all<E>(c: &mut Checker, stop: &dyn Fn() -> Result<(), E>) -> Result<(), E> {
    let prog = c.prog;
    for (mi, m) in prog.modules.iter().enumerate() {
        let mid = ModuleId(mi as u32);
        for g in 0..m.guards.len() {
            c.guard(mid, g);
        }
        for (ei, e) in m.entries.iter().enumerate() {
            match &e.item {
                ast::Item::Param(_) => {
                    c.param_value(mid, ei);
                }
                ast::Item::Let(l) => {
                    c.let_value(mid, ei, l.name.span);
                }
                _ => {}
            }
        }
    }
    for gid in 0..prog.groups.len() {
        for id in c.instances(gid) {
            stop()?;
            let span = c.decls[id.0 as usize].name_span;
            c.record(id, span);
        }
    }
    Ok(())
}

/// Every entry of an import's body must set a param of the imported module.
fn check_module_args(c: &mut Checker) {
    let prog = c.prog;
    for m in &prog.modules {
        let Some((_, Some(body))) = &m.importer else { continue };
        let params: Vec<&str> = m
            .entries
            .iter()
            .filter_map(|e| match &e.item {
                ast::Item::Param(p) => Some(p.name.name.as_str()),
                _ => None,
            })
            .collect();
        for item in &body.items {
            match item {
                ast::BodyItem::Field { name, .. } if !params.contains(&name.name.as_str()) => {
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        name.span,
                        format!("the module has no param `{}`", name.name),
                    );
                    d = match suggest(&name.name, params.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None if params.is_empty() => d.with_help("the module declares no params"),
                        None => d.with_help(format!("its params: {}", params.join(", "))),
                    };
                    c.error(d);
                }
                ast::BodyItem::Named { field, .. } => {
                    c.error(Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        field.span,
                        "an import's body sets params: `NAME = VALUE`",
                    ));
                }
                ast::BodyItem::Assert(a) => {
                    c.error(Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        a.span,
                        "`assert` belongs in the module, not in its import",
                    ));
                }
                _ => {}
            }
        }
    }
}

/// An active declaration may not reference one whose `if` does not hold.
fn check_inactive_refs(c: &mut Checker, active: &[bool]) {
    fn refs(v: &Value, out: &mut Vec<DeclId>) {
        match v {
            Value::Ref(d) => out.push(*d),
            Value::List(xs) => xs.iter().for_each(|x| refs(x, out)),
            Value::Map(m) => m.values().for_each(|x| refs(x, out)),
            Value::Record(r) => r.fields.values().for_each(|f| refs(&f.value, out)),
            Value::Enum(_, _, Some(r)) => r.fields.values().for_each(|f| refs(&f.value, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for (i, d) in c.decls.iter().enumerate() {
        if !active.get(i).copied().unwrap_or(false) {
            continue;
        }
        let Some(rec) = &d.record else { continue };
        for f in rec.fields.values() {
            let mut out = Vec::new();
            refs(&f.value, &mut out);
            for target in out {
                if !active.get(target.0 as usize).copied().unwrap_or(true) {
                    found.push((f.span, target));
                }
            }
        }
    }
    for (span, target) in found {
        let t = &c.decls[target.0 as usize];
        c.error(
            Diagnostic::error(
                codes::UNKNOWN_NAME,
                span,
                format!("`{}` is not declared: the `if` around it does not hold", t.address()),
            )
            .with_label(t.name_span, "declared under an `if` here"),
        );
    }
}

/// Top-level asserts and asserts in declaration bodies: checked under active `if`s,
/// type-checked only (speculatively) under `if`s that do not hold and in `for`s over nothing.
fn check_asserts(c: &mut Checker, active: &[bool]) {
    let prog = c.prog;
    for (mi, m) in prog.modules.iter().enumerate() {
        let mid = ModuleId(mi as u32);
        for (ei, e) in m.entries.iter().enumerate() {
            if let ast::Item::Assert(a) = &e.item {
                let mut cx = Ctx::new(mid);
                if c.entry_active(mid, ei) {
                    check_assert(c, a, &mut cx, None);
                } else {
                    // Under an `if` that does not hold: type-checked only.
                    c.speculating(|c| check_assert(c, a, &mut cx, None));
                }
            }
        }
    }
    for i in 0..c.decls.len() {
        let inst = &c.decls[i];
        let group = &prog.groups[inst.group];
        let ast::Item::Decl(d) = &prog.module(group.module).entries[group.entry].item else {
            continue;
        };
        let mut cx = Ctx::new(group.module);
        if let Some(v) = &inst.loop_var {
            cx.locals.push(v.clone());
        }
        let owner = Some(inst.address());
        let is_active = active.get(i).copied().unwrap_or(false);
        for item in &d.body.items {
            if let ast::BodyItem::Assert(a) = item {
                if is_active {
                    check_assert(c, a, &mut cx, owner.clone());
                } else {
                    c.speculating(|c| check_assert(c, a, &mut cx, owner.clone()));
                }
            }
        }
    }
    // The asserts of a `for` declaration over nothing, with its variable unknown.
    for (gid, g) in prog.groups.iter().enumerate() {
        let ast::Item::Decl(d) = &prog.module(g.module).entries[g.entry].item else { continue };
        let Some((var, _)) = &d.each else { continue };
        if !c.instances(gid).is_empty() {
            continue;
        }
        let mut cx = Ctx::new(g.module);
        cx.locals.push((var.name.clone(), Value::Unknown));
        for item in &d.body.items {
            if let ast::BodyItem::Assert(a) = item {
                c.speculating(|c| check_assert(c, a, &mut cx, None));
            }
        }
    }
}

fn check_assert(c: &mut Checker, a: &ast::Assert, cx: &mut Ctx, owner: Option<String>) {
    let msg = match c.eval(&a.message, cx, Some(&types::Ty::Str)) {
        Value::Str(s) => s.to_string(),
        Value::Unknown => String::new(),
        other => {
            let t = c.ty_name(&c.type_of(&other));
            c.error(Diagnostic::error(
                codes::TYPE_MISMATCH,
                a.message.span,
                format!("an assert's message is a string, found {t}"),
            ));
            return;
        }
    };
    let v = c.eval(&a.cond, cx, Some(&types::Ty::Bool));
    match v {
        Value::Bool(true) | Value::Unknown => {}
        Value::Bool(false) => {
            let failing = failing_elements(c, &a.cond, cx);
            let mut text =
                if msg.is_empty() { "assertion failed".to_string() } else { format!("assertion failed: {msg}") };
            if !failing.is_empty() {
                let names: Vec<String> = failing.iter().map(|n| format!("`{n}`")).collect();
                text.push_str(&format!(" (fails for {})", names.join(", ")));
            }
            let mut d = Diagnostic::error(codes::ASSERT_FAILED, a.cond.span, text);
            if let Some(o) = owner {
                d = d.with_primary_label(format!("asserted by `{o}`"));
            }
            c.error(d);
        }
        other => {
            let t = c.ty_name(&c.type_of(&other));
            c.error(Diagnostic::error(
                codes::TYPE_MISMATCH,
                a.cond.span,
                format!("an assert needs a bool known at compile time, found {t}"),
            ));
        }
    }
}

/// For `all(x in XS, P)`, the elements for which P is false.
fn failing_elements(c: &mut Checker, cond: &ast::Expr, cx: &mut Ctx) -> Vec<String> {
    let ExprKind::Bind { func, var, list, body } = &cond.kind else {
        return Vec::new();
    };
    if func.name != "all" {
        return Vec::new();
    }
    let items: Vec<Value> = match c.eval(list, cx, None) {
        Value::List(xs) => xs.as_ref().clone(),
        Value::Map(m) => m.values().cloned().collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for item in items {
        cx.locals.push((var.name.clone(), item.clone()));
        let v = c.eval(body, cx, None);
        cx.locals.pop();
        if matches!(v, Value::Bool(false)) {
            out.push(c.show(&item));
        }
    }
    out
}

/// Every bare name written in an expression of the file (a static view, so short-circuits
/// and untaken branches still count as uses).
fn names_used(m: &load::Module) -> std::collections::HashSet<String> {
    fn expr(e: &ast::Expr, out: &mut std::collections::HashSet<String>) {
        match &e.kind {
            ExprKind::Name(n) => {
                out.insert(n.clone());
            }
            ExprKind::Str(parts) => parts.iter().for_each(|p| {
                if let ast::StrPart::Interp(x) = p {
                    expr(x, out)
                }
            }),
            ExprKind::List(xs) | ExprKind::Call(_, xs) => xs.iter().for_each(|x| expr(x, out)),
            ExprKind::Record(b) | ExprKind::Variant(_, b) => body(b, out),
            ExprKind::Field(a, _) | ExprKind::Unary(_, a) => expr(a, out),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) => {
                expr(a, out);
                expr(b, out);
            }
            ExprKind::Bind { list, body: b, .. } => {
                expr(list, out);
                expr(b, out);
            }
            ExprKind::If(a, b, c) => {
                expr(a, out);
                expr(b, out);
                expr(c, out);
            }
            _ => {}
        }
    }
    fn body(b: &ast::Body, out: &mut std::collections::HashSet<String>) {
        for item in &b.items {
            match item {
                ast::BodyItem::Field { value, .. } => expr(value, out),
                ast::BodyItem::Named { body: nb, .. } => body(nb, out),
                ast::BodyItem::Assert(a) => {
                    expr(&a.cond, out);
                    expr(&a.message, out);
                }
                ast::BodyItem::Error(_) => {}
            }
        }
    }
    let mut out = std::collections::HashSet::new();
    for g in &m.guards {
        expr(g, &mut out);
    }
    for e in &m.entries {
        match &e.item {
            ast::Item::Let(l) => expr(&l.value, &mut out),
            ast::Item::Param(p) => p.default.iter().for_each(|d| expr(d, &mut out)),
            ast::Item::Decl(d) => {
                if let Some((_, list)) = &d.each {
                    expr(list, &mut out);
                }
                body(&d.body, &mut out);
            }
            ast::Item::Import(i) => i.args.iter().for_each(|b| body(b, &mut out)),
            ast::Item::Assert(a) => {
                expr(&a.cond, &mut out);
                expr(&a.message, &mut out);
            }
            ast::Item::Enum(en) => en.variants.iter().flat_map(|v| v.fields.iter().flatten()).for_each(|f| {
                f.default.iter().for_each(|d| expr(d, &mut out));
                f.constraint.iter().for_each(|c| expr(c, &mut out));
            }),
            ast::Item::Schema(s) => s.fields.iter().for_each(|f| {
                f.default.iter().for_each(|d| expr(d, &mut out));
                f.constraint.iter().for_each(|c| expr(c, &mut out));
            }),
            _ => {}
        }
    }
    out
}

fn report_unused(c: &mut Checker) {
    let prog = c.prog;
    let mut seen_files = std::collections::HashSet::new();
    for m in prog.modules.iter() {
        // One report per file, however many times it is imported.
        if m.std || !seen_files.insert(m.file) {
            continue;
        }
        let used = names_used(m);
        for e in &m.entries {
            let is_root = m.file == prog.module(prog.root).file;
            let (name, what) = match &e.item {
                ast::Item::Param(p) => (&p.name, "param"),
                // A module's lets are what it exports to its importers.
                ast::Item::Let(l) if is_root => (&l.name, "let"),
                _ => continue,
            };
            if !used.contains(&name.name) && !name.name.starts_with('_') {
                c.error(
                    Diagnostic::warning(codes::UNUSED, name.span, format!("{what} `{}` is never used", name.name))
                        .with_help(format!("remove it, or name it `_{}` to keep it", name.name)),
                );
            }
        }
    }
}
