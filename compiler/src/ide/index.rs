//! The semantic index: every definition of a loaded program with its span, and every use of
//! a name mapped to its definition.
//!
//! Takes: a [`Program`] (after loading). Gives: an [`Index`] of plain data (strings, spans),
//! `Send`, so an editor can hold it across threads. Resolution follows the checker's rules
//! (locals, then the module's names, then the prelude; `import`ed modules through `m.x`;
//! fields against the schema of the declaration, record or variant they are written in), but
//! statically: nothing is evaluated, so every branch and every body is indexed.

use crate::check::load::{Name, Program};
use crate::check::types::{SchemaId, Ty};
use crate::check::value::ModuleId;
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, ExprKind};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    Param,
    Let,
    Decl,
    Import,
    Schema,
    Enum,
    Variant,
    Field,
    /// A `for` variable or the variable of a binding form (`all(x in xs, …)`).
    Local,
}

impl DefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DefKind::Param => "param",
            DefKind::Let => "let",
            DefKind::Decl => "declaration",
            DefKind::Import => "module",
            DefKind::Schema => "schema",
            DefKind::Enum => "enum",
            DefKind::Variant => "variant",
            DefKind::Field => "field",
            DefKind::Local => "local",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Def {
    pub name: String,
    pub kind: DefKind,
    /// The defining name.
    pub span: Span,
    /// The whole item (for symbols and folding).
    pub full: Span,
    /// `service`, `param: string`, `field replicas: range<int> = 1..1`, …
    pub detail: String,
    pub doc: Option<String>,
    /// The module whose top-level names hold it (none for fields, variants and locals).
    pub module: Option<ModuleId>,
    /// For a declaration: its kind's schema; for a field: its record type's schema.
    pub schema: Option<SchemaId>,
    pub std: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Use {
    pub span: Span,
    pub def: usize,
}

#[derive(Default, Debug)]
pub struct Index {
    pub defs: Vec<Def>,
    /// Sorted by file and start.
    pub uses: Vec<Use>,
    /// Schema fields by (schema, field name).
    fields: HashMap<(SchemaId, String), usize>,
    /// Top-level names by (module, name).
    tops: HashMap<(ModuleId, String), usize>,
}

impl Index {
    /// The definition or use under byte `offset` of `file`, narrowest first.
    pub fn at(&self, file: FileId, offset: u32) -> Option<usize> {
        let hit = |s: &Span| s.file == file && s.start <= offset && offset <= s.end;
        self.uses
            .iter()
            .filter(|u| hit(&u.span))
            .min_by_key(|u| u.span.end - u.span.start)
            .map(|u| u.def)
            .or_else(|| self.defs.iter().position(|d| hit(&d.span)))
    }
    /// Every use of `def`, in source order.
    pub fn uses_of(&self, def: usize) -> impl Iterator<Item = &Use> {
        self.uses.iter().filter(move |u| u.def == def)
    }
    pub fn field(&self, schema: SchemaId, name: &str) -> Option<usize> {
        self.fields.get(&(schema, name.to_string())).copied()
    }
    pub fn top(&self, module: ModuleId, name: &str) -> Option<usize> {
        self.tops.get(&(module, name.to_string())).copied()
    }
}

pub fn build(prog: &Program) -> Index {
    let mut b = Builder { prog, ix: Index::default(), locals: Vec::new(), seen_files: HashSet::new() };
    b.schema_defs();
    for mi in 0..prog.modules.len() {
        b.module_defs(ModuleId(mi as u32));
    }
    for mi in 0..prog.modules.len() {
        let m = prog.module(ModuleId(mi as u32));
        // A module imported twice is two instances of one file: index its text once.
        if b.seen_files.insert(m.file) {
            b.module_uses(ModuleId(mi as u32));
        }
    }
    b.ix.uses.sort_by_key(|u| (u.span.file.0, u.span.start));
    b.ix.uses.dedup_by_key(|u| (u.span.file.0, u.span.start, u.span.end));
    b.ix
}

struct Builder<'p> {
    prog: &'p Program,
    ix: Index,
    locals: Vec<(String, usize)>,
    seen_files: HashSet<FileId>,
}

/// The schema a value of this type is a record of, looking through `?`, lists and maps.
fn record_schema(t: &Ty) -> Option<SchemaId> {
    match t {
        Ty::Record(s) => Some(*s),
        Ty::Opt(t) | Ty::List(t) | Ty::Map(t) => record_schema(t),
        Ty::Union(ts) => ts.iter().find_map(record_schema),
        _ => None,
    }
}

impl<'p> Builder<'p> {
    fn add(&mut self, d: Def) -> usize {
        self.ix.defs.push(d);
        self.ix.defs.len() - 1
    }
    fn is_std(&self, file: FileId) -> bool {
        self.prog.modules.iter().any(|m| m.file == file && m.std)
    }

    /// Every schema field and enum variant of the type table.
    fn schema_defs(&mut self) {
        let prog = self.prog;
        for (si, s) in prog.types.schemas.iter().enumerate() {
            let sid = SchemaId(si as u32);
            for f in &s.fields {
                let mut detail = format!("{}.{}: {}", s.name, f.name, prog.types.display(&f.ty));
                if let Some(d) = &f.default {
                    detail.push_str(&format!(
                        " = {}",
                        prog.sources.get(d.span.file).map_or("", |file| file.slice(d.span))
                    ));
                }
                let std = self.is_std(f.span.file);
                let def = self.add(Def {
                    name: f.name.clone(),
                    kind: DefKind::Field,
                    span: f.span,
                    full: f.span,
                    detail,
                    doc: f.doc.clone(),
                    module: None,
                    schema: record_schema(&f.ty),
                    std,
                });
                self.ix.fields.insert((sid, f.name.clone()), def);
            }
        }
    }

    /// The top-level names of a module: params, lets, declarations, imports, schemas, enums.
    fn module_defs(&mut self, mid: ModuleId) {
        let prog = self.prog;
        let m = prog.module(mid);
        let mut names: Vec<(&String, &(Name, Span))> = m.names.iter().collect();
        names.sort_by_key(|(_, (_, s))| (s.file.0, s.start));
        for (name, (target, span)) in names {
            let (kind, full, detail, schema) = match *target {
                Name::Param(e) => match &m.entries[e].item {
                    ast::Item::Param(p) => {
                        let ty = prog.sources.get(p.ty.span().file).map_or("", |f| f.slice(p.ty.span()));
                        (DefKind::Param, p.span, format!("param {name}: {ty}"), None)
                    }
                    other => (DefKind::Param, other.span(), format!("param {name}"), None),
                },
                Name::Let(e) => (DefKind::Let, m.entries[e].item.span(), format!("let {name}"), None),
                Name::Decl(g) => {
                    let group = &prog.groups[g];
                    let item = &prog.module(group.module).entries[group.entry].item;
                    let kind = match item {
                        ast::Item::Decl(d) => d.kind.name.clone(),
                        _ => String::new(),
                    };
                    (DefKind::Decl, item.span(), format!("{kind} {name}"), group.kind)
                }
                Name::Import(_) => (DefKind::Import, *span, format!("module {name}"), None),
                Name::Schema(s) => {
                    let def = prog.types.schema(s);
                    (DefKind::Schema, def.span, format!("schema {name}"), Some(s))
                }
                Name::Enum(e) => {
                    let def = prog.types.enum_(e);
                    let vs: Vec<&str> = def.variants.iter().map(|v| v.name.as_str()).collect();
                    (DefKind::Enum, def.span, format!("enum {name} {{ {} }}", vs.join(", ")), None)
                }
            };
            let doc = match *target {
                Name::Schema(s) => prog.types.schema(s).doc.clone(),
                Name::Enum(e) => prog.types.enum_(e).doc.clone(),
                _ => prog.doc_before(full.file, full.start),
            };
            let def = self.add(Def {
                name: name.clone(),
                kind,
                span: *span,
                full,
                detail,
                doc,
                module: Some(mid),
                schema,
                std: m.std,
            });
            self.ix.tops.insert((mid, name.clone()), def);
            if let Name::Enum(e) = *target {
                for v in &prog.types.enum_(e).variants {
                    let vspan = Span { end: v.span.start + v.name.len() as u32, ..v.span };
                    self.add(Def {
                        name: v.name.clone(),
                        kind: DefKind::Variant,
                        span: vspan,
                        full: v.span,
                        detail: format!("{}.{}", prog.types.enum_(e).name, v.name),
                        doc: v.doc.clone(),
                        module: None,
                        schema: v.payload,
                        std: m.std,
                    });
                }
            }
        }
    }

    /// A top-level name visible from `mid`: its own, then the prelude's.
    fn lookup(&self, mid: ModuleId, name: &str) -> Option<usize> {
        self.ix.top(mid, name).or_else(|| {
            self.prog
                .modules
                .iter()
                .enumerate()
                .filter(|(_, m)| m.prelude)
                .find_map(|(i, _)| self.ix.top(ModuleId(i as u32), name))
        })
    }

    fn use_(&mut self, span: Span, def: Option<usize>) {
        if let Some(def) = def {
            self.ix.uses.push(Use { span, def });
        }
    }

    fn module_uses(&mut self, mid: ModuleId) {
        let prog = self.prog;
        for e in &prog.module(mid).entries {
            self.item(mid, &e.item);
        }
        for g in &prog.module(mid).guards {
            self.expr(mid, g, None);
        }
    }

    fn item(&mut self, mid: ModuleId, item: &ast::Item) {
        let prog = self.prog;
        match item {
            ast::Item::Import(i) => {
                let alias = i.alias.as_ref().map(|a| a.name.clone());
                let target = prog.module(mid).names.iter().find_map(|(n, (t, s))| match t {
                    Name::Import(m) if alias.as_deref().is_none_or(|a| a == n) && s.file == i.span.file => Some(*m),
                    _ => None,
                });
                if let Some(a) = &i.alias {
                    self.use_(a.span, self.ix.top(mid, &a.name));
                }
                if let (Some(body), Some(target)) = (&i.args, target) {
                    for it in &body.items {
                        if let ast::BodyItem::Field { name, value } = it {
                            self.use_(name.span, self.ix.top(target, &name.name));
                            self.expr(mid, value, None);
                        }
                    }
                }
            }
            ast::Item::Param(p) => {
                if let Some(d) = &p.default {
                    self.expr(mid, d, None);
                }
            }
            ast::Item::Let(l) => self.expr(mid, &l.value, None),
            ast::Item::Schema(s) => {
                let sid = match self.ix.top(mid, &s.name.name).and_then(|d| self.ix.defs[d].schema) {
                    Some(sid) => sid,
                    None => return,
                };
                self.field_decls(mid, sid, &s.fields);
            }
            ast::Item::Enum(e) => {
                let Some(Name::Enum(eid)) = prog.module(mid).names.get(&e.name.name).map(|n| n.0) else { return };
                for (v, def) in e.variants.iter().zip(&prog.types.enum_(eid).variants) {
                    if let (Some(fields), Some(sid)) = (&v.fields, def.payload) {
                        self.field_decls(mid, sid, fields);
                    }
                }
            }
            ast::Item::Decl(d) => {
                self.use_(d.kind.span, self.lookup(mid, &d.kind.name));
                let schema = self.lookup(mid, &d.name.name).and_then(|x| self.ix.defs[x].schema);
                let pushed = match &d.each {
                    Some((var, list)) => {
                        self.expr(mid, list, None);
                        self.local(var, None);
                        true
                    }
                    None => false,
                };
                self.body(mid, &d.body, schema);
                if pushed {
                    self.locals.pop();
                }
            }
            ast::Item::If(b) => {
                self.expr(mid, &b.cond, None);
                for it in b.then_items.iter().chain(&b.else_items) {
                    self.item(mid, it);
                }
            }
            ast::Item::Assert(a) => {
                self.expr(mid, &a.cond, None);
                self.expr(mid, &a.message, None);
            }
            ast::Item::Error(_) => {}
        }
    }

    /// Field declarations of a schema or payload: defaults, and `where` constraints with the
    /// record's fields in scope.
    fn field_decls(&mut self, mid: ModuleId, sid: SchemaId, fields: &[ast::FieldDecl]) {
        for f in fields {
            let field_schema = self.ix.field(sid, &f.name.name).and_then(|d| self.ix.defs[d].schema);
            if let Some(d) = &f.default {
                self.expr(mid, d, field_schema);
            }
        }
        let scope: Vec<(String, usize)> =
            fields.iter().filter_map(|f| Some((f.name.name.clone(), self.ix.field(sid, &f.name.name)?))).collect();
        let depth = self.locals.len();
        self.locals.extend(scope);
        for f in fields {
            if let Some(c) = &f.constraint {
                self.expr(mid, c, None);
            }
        }
        self.locals.truncate(depth);
    }

    fn local(&mut self, var: &ast::Ident, schema: Option<SchemaId>) {
        let def = self.add(Def {
            name: var.name.clone(),
            kind: DefKind::Local,
            span: var.span,
            full: var.span,
            detail: format!("local {}", var.name),
            doc: None,
            module: None,
            schema,
            std: false,
        });
        self.locals.push((var.name.clone(), def));
    }

    /// A body whose fields belong to `schema` (when known).
    fn body(&mut self, mid: ModuleId, body: &ast::Body, schema: Option<SchemaId>) {
        for it in &body.items {
            match it {
                ast::BodyItem::Field { name, value } => {
                    let def = schema.and_then(|s| self.ix.field(s, &name.name));
                    self.use_(name.span, def);
                    let inner = def.and_then(|d| self.ix.defs[d].schema);
                    self.expr(mid, value, inner);
                }
                ast::BodyItem::Named { field, body, .. } => {
                    let def = schema.and_then(|s| self.ix.field(s, &field.name));
                    self.use_(field.span, def);
                    let inner = def.and_then(|d| self.ix.defs[d].schema);
                    self.body(mid, body, inner);
                }
                ast::BodyItem::Assert(a) => {
                    self.expr(mid, &a.cond, None);
                    self.expr(mid, &a.message, None);
                }
                ast::BodyItem::Error(_) => {}
            }
        }
    }

    fn name(&self, mid: ModuleId, name: &str) -> Option<usize> {
        if let Some((_, d)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Some(*d);
        }
        self.lookup(mid, name).or_else(|| self.variant(name))
    }

    /// An enum variant written as a bare name, when exactly one enum has it.
    fn variant(&self, name: &str) -> Option<usize> {
        let mut hits = self.ix.defs.iter().enumerate().filter(|(_, d)| d.kind == DefKind::Variant && d.name == name);
        let first = hits.next().map(|(i, _)| i);
        if hits.next().is_some() {
            None
        } else {
            first
        }
    }

    /// An expression; `record` is the schema of the record it should be (for `{ … }`).
    fn expr(&mut self, mid: ModuleId, e: &ast::Expr, record: Option<SchemaId>) {
        match &e.kind {
            ExprKind::Name(n) => {
                let def = self.name(mid, n);
                self.use_(e.span, def);
            }
            ExprKind::Str(parts) => {
                for p in parts {
                    if let ast::StrPart::Interp(x) = p {
                        self.expr(mid, x, None);
                    }
                }
            }
            ExprKind::List(xs) => {
                for x in xs {
                    self.expr(mid, x, record);
                }
            }
            ExprKind::Record(b) => self.body(mid, b, record),
            ExprKind::Variant(name, b) => {
                let def = self.variant(&name.name);
                self.use_(name.span, def);
                let payload = def.and_then(|d| self.ix.defs[d].schema);
                self.body(mid, b, payload);
            }
            ExprKind::Field(base, f) => {
                self.expr(mid, base, None);
                let target = self.field_target(mid, base, &f.name);
                self.use_(f.span, target);
            }
            ExprKind::Index(a, b) => {
                self.expr(mid, a, None);
                self.expr(mid, b, None);
            }
            ExprKind::Call(_, args) => {
                for a in args {
                    self.expr(mid, a, None);
                }
            }
            ExprKind::Bind { var, list, body, .. } => {
                self.expr(mid, list, None);
                // `all(s in service, …)`: `s` is one declaration of that kind.
                let each = match &list.kind {
                    ExprKind::Name(n) => self.name(mid, n).and_then(|d| {
                        let def = &self.ix.defs[d];
                        matches!(def.kind, DefKind::Schema | DefKind::Decl).then_some(def.schema).flatten()
                    }),
                    _ => None,
                };
                self.local(var, each);
                self.expr(mid, body, None);
                self.locals.pop();
            }
            ExprKind::Unary(_, a) => self.expr(mid, a, None),
            ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) => {
                self.expr(mid, a, None);
                self.expr(mid, b, None);
            }
            ExprKind::If(c, a, b) => {
                self.expr(mid, c, None);
                self.expr(mid, a, record);
                self.expr(mid, b, record);
            }
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Quantity(..)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Error => {}
        }
    }

    /// `base.f`: a name of an imported module, or a field of a declaration's kind.
    fn field_target(&self, mid: ModuleId, base: &ast::Expr, f: &str) -> Option<usize> {
        let target = match &base.kind {
            ExprKind::Name(n) => self.name(mid, n)?,
            ExprKind::Index(a, _) => match &a.kind {
                ExprKind::Name(n) => self.name(mid, n)?,
                _ => return None,
            },
            _ => return None,
        };
        let def = &self.ix.defs[target];
        match def.kind {
            DefKind::Import => {
                let module = self.prog.module(def.module?).names.get(&def.name).and_then(|(n, _)| match n {
                    Name::Import(m) => Some(*m),
                    _ => None,
                })?;
                self.ix.top(module, f)
            }
            DefKind::Decl | DefKind::Field | DefKind::Local => self.ix.field(def.schema?, f),
            _ => None,
        }
    }
}
