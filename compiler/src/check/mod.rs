//! Checking: a loaded program to a checked stack.
//!
//! Takes: the root path, a [`World`] and `--param` values. Gives: an [`Analysis`] (every
//! declaration instance with its evaluated record) and all diagnostics: syntax, names,
//! types and units, `where` constraints, `assert`s and the domain rules.

pub mod eval;
pub mod load;
pub mod ops;
pub mod rules;
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
    let (prog, mut diags) = load::load(world, root, params);
    let (decls, active, mut more) = {
        let mut c = Checker::new(&prog);
        evaluate_all(&mut c);
        let active: Vec<bool> = (0..c.decls.len()).map(|i| c.decl_active(DeclId(i as u32))).collect();
        check_asserts(&mut c, &active);
        c.run_rules();
        report_unused(&mut c);
        let decls = std::mem::take(&mut c.decls);
        (decls, active, std::mem::take(&mut c.diags))
    };
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
    diag::sort(&mut diags);
    Analysis { prog, decls, active, diags }
}

fn evaluate_all(c: &mut Checker) {
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
            let span = c.decls[id.0 as usize].name_span;
            c.record(id, span);
        }
    }
}

/// Top-level asserts (under active `if`s) and asserts in the bodies of active declarations.
fn check_asserts(c: &mut Checker, active: &[bool]) {
    let prog = c.prog;
    for (mi, m) in prog.modules.iter().enumerate() {
        let mid = ModuleId(mi as u32);
        for (ei, e) in m.entries.iter().enumerate() {
            if let ast::Item::Assert(a) = &e.item {
                if c.entry_active(mid, ei) {
                    let mut cx = Ctx::new(mid);
                    check_assert(c, a, &mut cx, None);
                }
            }
        }
    }
    for i in 0..c.decls.len() {
        if !active.get(i).copied().unwrap_or(false) {
            continue;
        }
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
        for item in &d.body.items {
            if let ast::BodyItem::Assert(a) = item {
                check_assert(c, a, &mut cx, owner.clone());
            }
        }
    }
}

fn check_assert(c: &mut Checker, a: &ast::Assert, cx: &mut Ctx, owner: Option<String>) {
    let msg = match c.eval(&a.message, cx, Some(&types::Ty::Str)) {
        Value::Str(s) => s.to_string(),
        Value::Unknown => "assertion failed".to_string(),
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
            let mut text = format!("assertion failed: {msg}");
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

fn report_unused(c: &mut Checker) {
    let prog = c.prog;
    for (mi, m) in prog.modules.iter().enumerate() {
        if m.std {
            continue;
        }
        let mid = ModuleId(mi as u32);
        for e in &m.entries {
            let (name, what) = match &e.item {
                ast::Item::Param(p) => (&p.name, "param"),
                ast::Item::Let(l) => (&l.name, "let"),
                _ => continue,
            };
            if !c.used.contains(&(mid, name.name.clone())) && !name.name.starts_with('_') {
                c.error(
                    Diagnostic::warning(codes::UNUSED, name.span, format!("{what} `{}` is never used", name.name))
                        .with_help(format!("remove it, or name it `_{}` to keep it", name.name)),
                );
            }
        }
    }
}
