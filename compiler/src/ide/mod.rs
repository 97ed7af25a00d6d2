//! Editor queries: pure functions over a checked stack and its semantic index.
//!
//! Takes: a [`Workspace`] (the checked program, its [`index::Index`], diagnostics and facts
//! computed from the lowered stack), a file and a byte offset. Gives: hover text, definition
//! and reference spans, rename edits, symbols, completions, code actions and inlay hints, as
//! plain data the language server turns into protocol messages. Nothing here does IO.

mod fixes;
pub mod index;

use crate::check::eval::{TypeAt, EVALS, METRICS};
use crate::check::load::{Name, Program};
use crate::check::types::{SchemaId, Ty};
use crate::check::value::ModuleId;
use crate::diag::Diagnostic;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{self, ExprKind};
use crate::world::World;
use index::{DefKind, Index};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

/// Everything the editor needs about one stack, as `Send` plain data.
pub struct Workspace {
    pub prog: Program,
    index: OnceLock<Index>,
    pub diags: Vec<Diagnostic>,
    /// The type (and scalar value) of every evaluated expression of a user file, sorted by
    /// span; empty for a names-only analysis.
    pub types: Vec<TypeAt>,
    /// Derived facts per declaration name span (file, start): instance type and monthly cost
    /// of a pool, the memory a model needs.
    pub facts: HashMap<(FileId, u32), String>,
    /// Inlay hint per GPU pool name span: instance type and worst-case monthly cost (summed
    /// over the instances of a `for` pool).
    pub pool_hints: HashMap<(FileId, u32), String>,
}

/// Loads and indexes the stack rooted at `root` without evaluating it: enough for completion,
/// hover on names, definitions and references while the user types (no diagnostics or facts).
pub fn analyze_names(world: &dyn World, root: &Path) -> Workspace {
    let (prog, _) = crate::check::load::load(world, root, &[]);
    Workspace {
        diags: Vec::new(),
        types: Vec::new(),
        prog,
        index: OnceLock::new(),
        facts: HashMap::new(),
        pool_hints: HashMap::new(),
    }
}

/// Checks the stack rooted at `root` (its index is built on first use).
pub fn analyze(world: &dyn World, root: &Path, params: &[(String, String)]) -> Workspace {
    let Ok(ws) = analyze_until::<std::convert::Infallible>(world, root, params, &|| Ok(()), |_, _| {});
    ws
}

/// [`analyze`] for the editor: hands the diagnostics (and the sources their spans point into)
/// to `checked` as soon as the check ends, before the hover facts and inlay hints are computed,
/// and stops with `stop`'s error at its first (see [`crate::check::check_until`]; asked again
/// before the facts). A run that ends gives what [`analyze`] gives.
pub fn analyze_until<E>(
    world: &dyn World,
    root: &Path,
    params: &[(String, String)],
    stop: &dyn Fn() -> Result<(), E>,
    checked: impl FnOnce(&[Diagnostic], &SourceMap),
) -> Result<Workspace, E> {
    let mut a = crate::check::check_until(world, root, params, Default::default(), stop)?;
    checked(&a.diags, &a.prog.sources);
    stop()?;
    let (facts, pool_hints) = if a.has_errors() { Default::default() } else { facts(&a) };
    let mut types = std::mem::take(&mut a.types);
    types.sort_by_key(|t| (t.span.file.0, t.span.start, std::cmp::Reverse(t.span.end)));
    types.dedup_by_key(|t| t.span);
    Ok(Workspace { diags: a.diags, types, prog: a.prog, index: OnceLock::new(), facts, pool_hints })
}

type BySpan = HashMap<(FileId, u32), String>;

/// Hover facts and pool inlay hints, keyed by declaration name span.
fn facts(a: &crate::check::Analysis) -> (BySpan, BySpan) {
    let stack = crate::ir::lower(a);
    let spans: HashMap<String, Span> = a
        .decls
        .iter()
        .filter_map(|d| Some((format!("{}.{}", a.prog.types.schema(d.kind?).name, d.address()), d.name_span)))
        .collect();
    let mut out: HashMap<(FileId, u32), String> = HashMap::new();
    // Instances of one `for` declaration share its name: their facts are listed together.
    let mut put = |address: String, text: String| {
        if let Some(s) = spans.get(&address) {
            let line = if address.contains('[') { format!("`{}`: {text}", address) } else { text };
            out.entry((s.file, s.start)).and_modify(|t| t.push_str(&format!("\n\n{line}"))).or_insert(line);
        }
    };
    // Pool facts and hints come from the cost model that the budget rule and `aistack cost` use.
    let report = crate::cost::of_analysis(a);
    let mut pool_cost: HashMap<(FileId, u32), (String, f64)> = HashMap::new();
    for l in &report.lines {
        let Some(p) = &l.pool else { continue };
        let e = pool_cost.entry((l.span.file, l.span.start)).or_insert_with(|| (p.instance.clone(), 0.0));
        e.1 += l.worst.monthly;
        put(
            format!("gpu_pool.{}", l.address),
            format!(
                "{} × {} GPU per node on `{}` at ${:.2}/h; worst case {} nodes on demand: ${} per month; expected {} nodes: ${} per month",
                p.gpus_per_node,
                p.gpu,
                p.instance,
                p.hourly,
                p.nodes_max,
                money(l.worst.monthly),
                p.nodes_expected,
                money(l.expected.monthly)
            ),
        );
    }
    for m in &stack.models {
        let bytes = m.parameters * precision_bytes(&m.precision);
        put(
            format!("model.{}", m.meta.address),
            format!(
                "weights {:.1} GiB at {} ({:.3e} parameters)",
                bytes / f64::from(1u32 << 30),
                m.precision,
                m.parameters
            ),
        );
    }
    let hints = pool_cost
        .into_iter()
        .map(|(k, (instance, cost))| (k, format!(": {instance}, ${} per month worst case", money(cost))))
        .collect();
    (out, hints)
}

fn precision_bytes(p: &str) -> f64 {
    match p {
        "fp32" => 4.0,
        "fp8" | "int8" => 1.0,
        "int4" => 0.5,
        _ => 2.0,
    }
}

fn money(x: f64) -> String {
    let whole = x.round() as i64;
    let s = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}{out}", if whole < 0 { "-" } else { "" })
}

impl Workspace {
    /// The semantic index, built on first use.
    pub fn index(&self) -> &Index {
        self.index.get_or_init(|| index::build(&self.prog))
    }
    /// The innermost evaluated expression around `offset` of `file`, with its type.
    pub fn type_at(&self, file: FileId, offset: u32) -> Option<&TypeAt> {
        let from = self.types.partition_point(|t| (t.span.file.0, t.span.start) <= (file.0, offset));
        self.types[..from]
            .iter()
            .rev()
            .take_while(|t| t.span.file == file)
            .filter(|t| t.span.start <= offset && offset <= t.span.end)
            .min_by_key(|t| t.span.end - t.span.start)
    }
    /// The file loaded from `path` (as the loader named it), if it is part of the stack.
    pub fn file(&self, name: &str) -> Option<FileId> {
        self.prog.sources.iter().find(|(_, f)| f.name == name).map(|(id, _)| id)
    }
    fn text(&self, file: FileId) -> &str {
        self.prog.sources.get(file).map_or("", |f| f.text.as_str())
    }
    fn is_std_file(&self, file: FileId) -> bool {
        self.prog.modules.iter().any(|m| m.file == file && m.std)
    }
}

pub struct Hover {
    pub span: Span,
    pub markdown: String,
}

/// Hover at `offset`: the name there (its definition, doc and facts, and its value when the
/// checker evaluated it), else the innermost evaluated expression's type and value.
pub fn hover(ws: &Workspace, file: FileId, offset: u32) -> Option<Hover> {
    let Some(d) = ws.index().at(file, offset) else {
        let t = ws.type_at(file, offset)?;
        let text = ws.prog.sources.get(file).map_or("", |f| f.slice(t.span));
        return Some(Hover { span: t.span, markdown: type_markdown(ws, text, t) });
    };
    let def = &ws.index().defs[d];
    let span = ws
        .index()
        .uses
        .iter()
        .filter(|u| u.def == d && u.span.file == file && u.span.start <= offset && offset <= u.span.end)
        .map(|u| u.span)
        .next()
        .unwrap_or(def.span);
    let mut md = format!("```ai-stack\n{}\n```", def.detail);
    if let Some(doc) = &def.doc {
        md.push_str(&format!("\n\n{doc}"));
    }
    if let Some(f) = ws.facts.get(&(def.span.file, def.span.start)) {
        md.push_str(&format!("\n\n{f}"));
    }
    if let Some(t) = ws.type_at(file, offset).filter(|t| t.span == span && def.kind != DefKind::Field) {
        md.push_str(&format!("\n\nhere: `{}`", ws.prog.types.display(&t.ty)));
        if let Some(v) = &t.value {
            md.push_str(&format!(" = `{v}`"));
        }
    }
    Some(Hover { span, markdown: md })
}

/// An expression's type, with its value when it is a scalar: `2 * 40GiB: size` / `= 80GiB`.
fn type_markdown(ws: &Workspace, text: &str, t: &TypeAt) -> String {
    let shown: String = if text.len() > 80 || text.contains('\n') {
        format!("{}…", text.lines().next().unwrap_or("").chars().take(60).collect::<String>())
    } else {
        text.to_string()
    };
    let mut md = format!("```ai-stack\n{shown}: {}\n```", ws.prog.types.display(&t.ty));
    if let Some(v) = &t.value {
        md.push_str(&format!("\n\nvalue: `{v}`"));
    }
    md
}

pub fn definition(ws: &Workspace, file: FileId, offset: u32) -> Option<Span> {
    ws.index().at(file, offset).map(|d| ws.index().defs[d].span)
}

/// The definition (when `with_def`) and every use of the name under the cursor.
pub fn references(ws: &Workspace, file: FileId, offset: u32, with_def: bool) -> Vec<Span> {
    let Some(d) = ws.index().at(file, offset) else { return Vec::new() };
    let mut out: Vec<Span> = ws.index().uses_of(d).map(|u| u.span).collect();
    if with_def {
        out.insert(0, ws.index().defs[d].span);
    }
    out
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && crate::syntax::token::Kw::parse(s).is_none()
}

/// Edits that rename the name under the cursor everywhere, or why it cannot be renamed.
pub fn rename(ws: &Workspace, file: FileId, offset: u32, new_name: &str) -> Result<Vec<Span>, String> {
    let d = ws.index().at(file, offset).ok_or("there is no name here")?;
    let def = &ws.index().defs[d];
    if !is_ident(new_name) {
        return Err(format!("`{new_name}` is not a name"));
    }
    if def.std || ws.is_std_file(def.span.file) {
        return Err(format!("`{}` is defined in the standard library", def.name));
    }
    if matches!(def.kind, DefKind::Field | DefKind::Variant)
        && ws.index().defs.iter().any(|x| x.std && x.name == def.name)
    {
        return Err(format!("`{}` belongs to a standard-library schema", def.name));
    }
    if let Some(m) = def.module {
        if ws.prog.module(m).names.contains_key(new_name) {
            return Err(format!("`{new_name}` is already declared in this module"));
        }
    }
    let spans = references(ws, file, offset, true);
    Ok(spans.into_iter().filter(|s| !ws.is_std_file(s.file)).collect())
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    /// The definition kind, or the declaration's kind (`service`).
    pub kind: String,
    pub def_kind: DefKind,
    pub span: Span,
    pub full: Span,
}

/// Top-level names of one file, in source order.
pub fn symbols(ws: &Workspace, file: FileId) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = ws
        .index()
        .defs
        .iter()
        .filter(|d| d.span.file == file && d.module.is_some())
        .map(|d| Symbol {
            name: d.name.clone(),
            kind: d.detail.split_whitespace().next().unwrap_or("").to_string(),
            def_kind: d.kind,
            span: d.span,
            full: d.full,
        })
        .collect();
    out.sort_by_key(|s| s.span.start);
    out.dedup_by_key(|s| s.span.start);
    out
}

/// Top-level names of every user file whose name contains `query` (case-insensitive).
pub fn workspace_symbols(ws: &Workspace, query: &str) -> Vec<Symbol> {
    let q = query.to_lowercase();
    let mut out = Vec::new();
    for (id, _) in ws.prog.sources.iter() {
        if ws.is_std_file(id) {
            continue;
        }
        out.extend(symbols(ws, id).into_iter().filter(|s| s.name.to_lowercase().contains(&q)));
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
pub enum CompletionKind {
    Field,
    Variant,
    Reference,
    Unit,
    Signal,
    Keyword,
    Kind,
    Module,
}

#[derive(Clone, Debug)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: String,
    pub doc: Option<String>,
    /// Text to insert (the label when `None`).
    pub insert: Option<String>,
}

const UNITS: &[(&str, &str)] = &[
    ("ms", "milliseconds"),
    ("s", "seconds"),
    ("m", "minutes"),
    ("h", "hours"),
    ("d", "days"),
    ("w", "weeks"),
    ("GiB", "gibibytes"),
    ("MiB", "mebibytes"),
    ("TiB", "tebibytes"),
    ("GB", "gigabytes"),
    ("TB", "terabytes"),
    ("%", "percent"),
    ("/s", "per second"),
    ("/h", "per hour"),
];

const KEYWORDS: &[&str] = &["import", "param", "let", "schema", "enum", "if", "assert", "stack"];

/// Completions at byte `offset` of `file` (the workspace was analysed from its text, which may
/// be half-typed).
pub fn completion(ws: &Workspace, file: FileId, offset: u32) -> Vec<Completion> {
    completion_in(ws, file, ws.text(file), offset, offset)
}

/// Completions at byte `offset` of `text`, the file's current text, with a workspace
/// analysed from an older text of it in which the cursor is at `analysed` (an edit elsewhere
/// in the same body moved it). What is being typed is read from `text`; the declaration and
/// fields around the cursor from the analysis.
pub fn completion_in(ws: &Workspace, file: FileId, text: &str, offset: u32, analysed: u32) -> Vec<Completion> {
    let at = (offset as usize).min(text.len());
    let before = &text[..at];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let prefix = &before[word_start..];
    let lead = &before[..word_start];
    // `metric.` / `eval.`
    for (ns, names) in [("metric", METRICS), ("eval", EVALS)] {
        if lead.ends_with(&format!("{ns}.")) {
            return names
                .iter()
                .filter(|n| n.starts_with(prefix))
                .map(|n| Completion {
                    label: (*n).to_string(),
                    kind: CompletionKind::Signal,
                    detail: crate::check::eval::signal_type(ns, n)
                        .map_or_else(String::new, |t| format!("{ns}.{n}: {}", ws.prog.types.display(&t))),
                    doc: None,
                    insert: None,
                })
                .collect();
        }
    }
    // A unit right after a number: `15` → `15m`.
    if prefix.chars().next().is_some_and(|c| c.is_ascii_digit()) || lead.ends_with(|c: char| c.is_ascii_digit()) {
        let digits: String = prefix.chars().take_while(|c| c.is_ascii_digit() || *c == '_').collect();
        return UNITS
            .iter()
            .map(|(u, what)| Completion {
                label: format!("{digits}{u}"),
                kind: CompletionKind::Unit,
                detail: (*what).to_string(),
                doc: None,
                insert: None,
            })
            .collect();
    }
    // `import "std/…"`.
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    if line.trim_start().starts_with("import") && line.matches('"').count() == 1 {
        return crate::world::STDLIB
            .iter()
            .filter(|(_, prelude, _)| !prelude)
            .map(|(name, _, _)| Completion {
                label: (*name).to_string(),
                kind: CompletionKind::Module,
                detail: "standard library module".into(),
                doc: None,
                insert: None,
            })
            .collect();
    }
    let module = ws.prog.modules.iter().position(|m| m.file == file).map(|i| ModuleId(i as u32));
    let Some(module) = module else { return Vec::new() };
    let ctx = context(ws, module, analysed.min(ws.text(file).len() as u32));
    let value_position = line.contains('=') && !line.trim_end().ends_with('{');
    match ctx {
        Some(Ctx { schema, field, .. }) if value_position => {
            let field_ty = field.and_then(|f| ws.prog.types.schema(schema).field(&f).map(|d| d.ty.clone()));
            value_completions(ws, module, field_ty.as_ref(), prefix)
        }
        Some(Ctx { schema, set, .. }) => {
            let def = ws.prog.types.schema(schema);
            def.fields
                .iter()
                .filter(|f| !set.contains(&f.name) && f.name.starts_with(prefix))
                .map(|f| {
                    let required = f.default.is_none() && !matches!(f.ty, Ty::Opt(_));
                    Completion {
                        label: f.name.clone(),
                        kind: CompletionKind::Field,
                        detail: format!(
                            "{}{}",
                            ws.prog.types.display(&f.ty),
                            if required { " (required)" } else { "" }
                        ),
                        doc: f.doc.clone(),
                        insert: Some(format!("{} = ", f.name)),
                    }
                })
                .collect()
        }
        None => {
            let mut out: Vec<Completion> = KEYWORDS
                .iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| Completion {
                    label: (*k).to_string(),
                    kind: CompletionKind::Keyword,
                    detail: "keyword".into(),
                    doc: None,
                    insert: None,
                })
                .collect();
            out.extend(ws.prog.std_schemas.iter().filter(|(n, _)| n.starts_with(prefix) && !n.contains('.')).map(
                |(n, s)| Completion {
                    label: n.clone(),
                    kind: CompletionKind::Kind,
                    detail: "declaration kind".into(),
                    doc: ws.prog.types.schema(*s).doc.clone(),
                    insert: None,
                },
            ));
            out.sort_by(|a, b| a.label.cmp(&b.label));
            out
        }
    }
}

/// Values that fit a field of type `ty`: an enum's variants, declarations of the referenced
/// kind, booleans.
fn value_completions(ws: &Workspace, module: ModuleId, ty: Option<&Ty>, prefix: &str) -> Vec<Completion> {
    let mut out = Vec::new();
    let ty = ty.map(Ty::strip_opt);
    match ty {
        Some(Ty::Enum(e)) => {
            let def = ws.prog.types.enum_(*e);
            out.extend(def.variants.iter().filter(|v| v.name.starts_with(prefix)).map(|v| Completion {
                label: v.name.clone(),
                kind: CompletionKind::Variant,
                detail: def.name.clone(),
                doc: v.doc.clone(),
                insert: None,
            }));
        }
        Some(Ty::Ref(s)) => out.extend(refs_of(ws, module, *s, prefix)),
        Some(Ty::Bool) => out.extend(["true", "false"].iter().map(|b| Completion {
            label: (*b).to_string(),
            kind: CompletionKind::Keyword,
            detail: "bool".into(),
            doc: None,
            insert: None,
        })),
        _ => {}
    }
    out
}

/// Declarations of kind `schema` visible from `module`.
fn refs_of(ws: &Workspace, module: ModuleId, schema: SchemaId, prefix: &str) -> Vec<Completion> {
    let m = ws.prog.module(module);
    let mut out: Vec<Completion> = m
        .names
        .iter()
        .filter_map(|(n, (t, _))| match t {
            Name::Decl(g) if ws.prog.groups.get(*g).is_some_and(|g| g.kind == Some(schema)) => Some(n),
            _ => None,
        })
        .filter(|n| n.starts_with(prefix))
        .map(|n| Completion {
            label: n.clone(),
            kind: CompletionKind::Reference,
            detail: ws.prog.types.schema(schema).name.clone(),
            doc: None,
            insert: None,
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// Where the cursor is: the schema of the innermost body around it, the fields set there,
/// and the field whose value is being written (on its line).
struct Ctx {
    schema: SchemaId,
    set: Vec<String>,
    field: Option<String>,
}

fn context(ws: &Workspace, module: ModuleId, at: u32) -> Option<Ctx> {
    let m = ws.prog.module(module);
    let inside = |s: Span| s.start < at && at <= s.end.max(s.start + 1);
    let mut found = None;
    for e in &m.entries {
        let ast::Item::Decl(d) = &e.item else { continue };
        if !inside(d.span) {
            continue;
        }
        let schema = m.names.get(&d.name.name).and_then(|(n, _)| match n {
            Name::Decl(g) => ws.prog.groups.get(*g).and_then(|g| g.kind),
            _ => None,
        })?;
        found = Some(innermost(ws, schema, &d.body, at));
    }
    found
}

fn innermost(ws: &Workspace, schema: SchemaId, body: &ast::Body, at: u32) -> Ctx {
    let mut set = Vec::new();
    let mut field = None;
    for it in &body.items {
        if let ast::BodyItem::Field { name, value } = it {
            set.push(name.name.clone());
            if name.span.start < at && at <= value.span.end.max(name.span.end + 1) {
                field = Some(name.name.clone());
            }
            let sub = ws.prog.types.schema(schema).field(&name.name).and_then(|f| match f.ty.strip_opt() {
                Ty::Record(s) => Some(*s),
                _ => None,
            });
            if let (ExprKind::Record(b), Some(s)) = (&value.kind, sub) {
                if value.span.start < at && at < value.span.end {
                    return innermost(ws, s, b, at);
                }
            }
        }
    }
    Ctx { schema, set, field }
}

/// Where an edit of `start..end` (offsets of the analysed text) of `file` falls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EditPlace {
    /// Inside the braces of a declaration's body.
    Body,
    /// Outside every top-level item.
    Between,
    /// In an item's header, a schema, enum, param, let, import or assert.
    Other,
}

pub fn edit_place(ws: &Workspace, file: FileId, start: u32, end: u32) -> EditPlace {
    let mut place = EditPlace::Between;
    for m in ws.prog.modules.iter().filter(|m| m.file == file) {
        for e in &m.entries {
            let span = e.item.span();
            if end < span.start || start > span.end {
                continue;
            }
            match &e.item {
                ast::Item::Decl(d) if d.body.span.start <= start && end < d.span.end => place = EditPlace::Body,
                _ => return EditPlace::Other,
            }
        }
    }
    place
}

/// A quick fix: replace `span` of the file with `new_text`.
pub struct Action {
    pub title: String,
    pub span: Span,
    pub new_text: String,
    pub code: &'static str,
}

/// Quick fixes for the diagnostics of `file` that touch `start..end`: "did you mean"
/// replacements, "add required fields" on missing fields, and "raise `tensor_parallel`" on a
/// model that does not fit when the checker found a `tensor_parallel` that does.
pub fn code_actions(ws: &Workspace, file: FileId, start: u32, end: u32) -> Vec<Action> {
    let mut out = Vec::new();
    let mut missing: Vec<(Span, Vec<String>)> = Vec::new();
    for d in &ws.diags {
        let Some(span) = d.primary else { continue };
        if span.file != file || span.end < start || span.start > end {
            continue;
        }
        if d.code == crate::diag::codes::MISSING_FIELD {
            if let Some(name) = quoted_after(&d.message, "missing field `") {
                match missing.iter_mut().find(|(s, _)| *s == span) {
                    Some((_, names)) => names.push(name),
                    None => missing.push((span, vec![name])),
                }
            }
        }
        let Some(help) = &d.help else { continue };
        if let Some(s) = quoted_after(help, "did you mean `") {
            out.push(Action { title: format!("Replace with `{s}`"), span, new_text: s, code: d.code });
        }
        if let Some(tp) = help.strip_prefix("set tensor_parallel = ").and_then(|r| r.split(' ').next()) {
            if let Some(a) = fixes::raise_tp(ws, file, span, tp) {
                out.push(Action { code: d.code, ..a });
            }
        }
    }
    for (owner, names) in missing {
        if let Some(a) = fixes::add_fields(ws, file, owner, &names) {
            out.push(a);
        }
    }
    out
}

/// The text between `prefix` and the next backquote.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?;
    rest.split_once('`').map(|(s, _)| s.to_string())
}

/// Inlay hints: after each GPU pool's name, its instance type and worst-case monthly cost.
pub fn inlay_hints(ws: &Workspace, file: FileId) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = ws
        .index()
        .defs
        .iter()
        .filter(|d| d.span.file == file && d.kind == DefKind::Decl && d.detail.starts_with("gpu_pool "))
        .filter_map(|d| Some((d.span.end, ws.pool_hints.get(&(d.span.file, d.span.start))?.clone())))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::MemoryWorld;

    /// The editor holds a workspace across threads: this stops compiling if it ever is not.
    #[test]
    fn workspace_is_send_and_sync() {
        fn holdable<T: Send + Sync + 'static>() {}
        holdable::<Workspace>();
    }

    /// A world that hands out a parse cache, as the language server's does.
    struct Cached(MemoryWorld, crate::check::load::ParseCache);
    impl World for Cached {
        fn read(&self, path: &Path) -> Result<String, String> {
            self.0.read(path)
        }
        fn canonical(&self, path: &Path) -> Option<std::path::PathBuf> {
            self.0.canonical(path)
        }
        fn parse_cache(&self) -> Option<&crate::check::load::ParseCache> {
            Some(&self.1)
        }
    }

    #[test]
    fn unchanged_files_are_parsed_once_and_the_prelude_once_per_process() {
        let src = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";
        let world = Cached(MemoryWorld::default().with("/p/main.ai-stack", src), Default::default());
        let a = analyze(&world, Path::new("/p/main.ai-stack"), &[]);
        assert_eq!(world.1.stats(), (0, 1), "the user file is parsed, the prelude is not");
        let b = analyze_names(&world, Path::new("/p/main.ai-stack"));
        assert_eq!(world.1.stats(), (1, 1), "the second load reuses the parse");
        assert_eq!(a.prog.sources.iter().count(), b.prog.sources.iter().count());
        let first = crate::check::load::std_prelude();
        assert!(std::sync::Arc::ptr_eq(&first[0], &crate::check::load::std_prelude()[0]));
        // an edited text is parsed again
        let world = Cached(MemoryWorld::default().with("/p/main.ai-stack", format!("{src}\n")), world.1);
        analyze_names(&world, Path::new("/p/main.ai-stack"));
        assert_eq!(world.1.stats(), (1, 2));
    }

    #[test]
    fn types_are_recorded_per_span() {
        let src = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n\
                   let big = 2 * 40GiB\n\
                   storage b { tier = warm, backend = s3, bucket = \"b\", size = big }\n";
        let world = MemoryWorld::default().with("/p/main.ai-stack", src);
        let ws = analyze(&world, Path::new("/p/main.ai-stack"), &[]);
        let file = ws.file("/p/main.ai-stack").expect("file");
        let at = |needle: &str| src.find(needle).map(|i| i as u32).expect("needle");
        let t = ws.type_at(file, at("* 40")).expect("the product has a type");
        assert_eq!(ws.prog.types.display(&t.ty), "size");
        assert_eq!(t.value.as_deref(), Some("80.0 GiB"));
        assert_eq!((t.span.start, t.span.end), (at("2 *"), at("2 *") + 9));
        // hovering the use of `big` shows the let and its value there
        let h = hover(&ws, file, at("= big") + 3).expect("hover");
        assert!(h.markdown.contains("let big") && h.markdown.contains("`80.0 GiB`"), "{}", h.markdown);
        // a names-only analysis records none
        assert!(analyze_names(&world, Path::new("/p/main.ai-stack")).types.is_empty());
    }

    #[test]
    fn locals_and_fields_resolve() {
        let src = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n\
                   gpu_pool p for z in [\"us-east-1a\"] {\n  gpu = L4\n  gpus_per_node = 1\n  nodes = 1..2\n  zones = [z]\n}\n\
                   assert all(x in gpu_pool, x.gpus_per_node >= 1) else \"m\"\n";
        let world = MemoryWorld::default().with("/p/main.ai-stack", src);
        let ws = analyze(&world, Path::new("/p/main.ai-stack"), &[]);
        let file = ws.file("/p/main.ai-stack").expect("file");
        let at = |needle: &str, nth: usize| src.match_indices(needle).nth(nth).map(|(i, _)| i as u32).expect("needle");
        // `z` in `zones = [z]` is the `for` variable.
        let def = definition(&ws, file, at("[z]", 0) + 1).expect("z resolves");
        assert_eq!(def.start, at("z in", 0));
        // `x` in the binder is the binder's variable; `.gpus_per_node` is the schema field.
        let x = definition(&ws, file, at("x.gpus", 0)).expect("x resolves");
        assert_eq!(x.start, at("x in", 0));
        let field = definition(&ws, file, at("gpus_per_node >=", 0)).expect("field resolves");
        assert!(ws.is_std_file(field.file), "the field is declared in the standard library");
        // the body field `gpu` resolves to the same schema's field
        let hover = hover(&ws, file, at("gpu =", 0)).expect("hover");
        assert!(hover.markdown.contains("gpu_pool.gpu:"), "{}", hover.markdown);
        // a `for` pool's inlay hint names its instance type and sums its instances' cost
        let hints = inlay_hints(&ws, file);
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(hints[0].1.starts_with(": g6.") && hints[0].1.ends_with("per month worst case"), "{hints:?}");
    }
}
