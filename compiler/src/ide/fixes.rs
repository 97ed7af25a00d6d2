//! Quick fixes that rewrite a declaration: "add required fields" and "raise
//! `tensor_parallel`".
//!
//! Takes: a [`Workspace`], the span a diagnostic points at and what to add or change. Gives:
//! an [`Action`] replacing the whole top-level declaration with its edited text laid out by
//! [`crate::fmt::format`] (so `=` stays aligned as `aistack fmt` would leave it). The values
//! come from the checker: missing fields from its E0211 diagnostics (each gets a placeholder
//! of its type: the first enum variant, a declaration of the referenced kind, `1GiB`, …), the
//! `tensor_parallel` from the fit rule's own help (`rules::fit`, which computes the smallest
//! value that fits with `model_memory` and `memory_per_gpu`), never recomputed here.

use super::{Action, Workspace};
use crate::check::load::Name;
use crate::check::types::{Dim, Ty};
use crate::check::value::ModuleId;
use crate::diag::codes;
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BodyItem, ExprKind};

/// Inserts `names` (fields of the record `owner` points at) with placeholders.
pub(super) fn add_fields(ws: &Workspace, file: FileId, owner: Span, names: &[String]) -> Option<Action> {
    let (module, decl) = decl_around(ws, file, owner)?;
    let (body, schema) = body_of(ws, module, decl, owner)?;
    let mut fields = Vec::new();
    for n in names {
        let field = ws.prog.types.schema(schema).field(n)?;
        fields.push(format!("{n} = {}", placeholder(ws, module, &field.ty)));
    }
    let (at, insert) = insertion(ws.text(file), body, &fields)?;
    let title = match names {
        [one] => format!("Add required field `{one}`"),
        _ => format!("Add required fields {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    };
    rewrite(ws, file, decl.span, at, at, &insert, title, codes::MISSING_FIELD)
}

/// Sets `tensor_parallel = tp` in the service whose name `name_span` is.
pub(super) fn raise_tp(ws: &Workspace, file: FileId, name_span: Span, tp: &str) -> Option<Action> {
    tp.parse::<u32>().ok()?;
    let (_, decl) = decl_around(ws, file, name_span)?;
    let title = format!("Raise `tensor_parallel` to {tp}");
    let set = decl.body.items.iter().find_map(|it| match it {
        BodyItem::Field { name, value } if name.name == "tensor_parallel" => Some(value.span),
        _ => None,
    });
    match set {
        Some(v) => rewrite(ws, file, decl.span, v.start, v.end, tp, title, codes::MODEL_DOES_NOT_FIT),
        None => {
            let (at, insert) = insertion(ws.text(file), &decl.body, &[format!("tensor_parallel = {tp}")])?;
            rewrite(ws, file, decl.span, at, at, &insert, title, codes::MODEL_DOES_NOT_FIT)
        }
    }
}

/// The declaration `decl` with `from..to` replaced by `insert`, formatted.
#[allow(clippy::too_many_arguments)]
fn rewrite(
    ws: &Workspace,
    file: FileId,
    decl: Span,
    from: u32,
    to: u32,
    insert: &str,
    title: String,
    code: &'static str,
) -> Option<Action> {
    let text = ws.text(file);
    let mut edited = String::new();
    edited.push_str(text.get(decl.start as usize..from as usize)?);
    edited.push_str(insert);
    edited.push_str(text.get(to as usize..decl.end as usize)?);
    let new_text = match crate::fmt::format(&edited) {
        Ok(f) => f.trim_end_matches('\n').to_string(),
        Err(_) => return Some(Action { title, span: decl, new_text: edited, code }),
    };
    // A declaration under an `if` is indented: keep its lines at its column.
    let line_start = text[..decl.start as usize].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..decl.start as usize];
    let new_text = if indent.is_empty() || !indent.chars().all(char::is_whitespace) {
        new_text
    } else {
        new_text
            .lines()
            .map(|l| if l.is_empty() { String::new() } else { format!("{indent}{l}") })
            .collect::<Vec<_>>()
            .join("\n")[indent.len()..]
            .to_string()
    };
    Some(Action { title, span: decl, new_text, code })
}

/// The top-level declaration of `file` whose text holds `span`, and its module.
fn decl_around(ws: &Workspace, file: FileId, span: Span) -> Option<(ModuleId, &ast::Decl)> {
    let mi = ws.prog.modules.iter().position(|m| m.file == file && !m.std)?;
    let module = ModuleId(mi as u32);
    ws.prog.module(module).entries.iter().find_map(|e| match &e.item {
        ast::Item::Decl(d) if d.span.start <= span.start && span.end <= d.span.end => Some((module, d)),
        _ => None,
    })
}

/// The body (and its schema) whose missing fields are reported at `owner`: the declaration's
/// own, or a nested record, named entry or variant payload inside it.
fn body_of<'a>(
    ws: &Workspace,
    module: ModuleId,
    decl: &'a ast::Decl,
    owner: Span,
) -> Option<(&'a ast::Body, crate::check::types::SchemaId)> {
    let kind = match ws.prog.module(module).names.get(&decl.name.name) {
        Some((Name::Decl(g), _)) => ws.prog.groups.get(*g)?.kind?,
        _ => return None,
    };
    if decl.name.span == owner {
        return Some((&decl.body, kind));
    }
    nested(ws, &decl.body, kind, owner)
}

fn nested<'a>(
    ws: &Workspace,
    body: &'a ast::Body,
    schema: crate::check::types::SchemaId,
    owner: Span,
) -> Option<(&'a ast::Body, crate::check::types::SchemaId)> {
    for it in &body.items {
        let (name, inner, value_span) = match it {
            BodyItem::Field { name, value } => match &value.kind {
                ExprKind::Record(b) => (name, b, value.span),
                ExprKind::Variant(v, b) => (v, b, value.span),
                _ => continue,
            },
            BodyItem::Named { field, name, body } => {
                let ty = ws.prog.types.schema(schema).field(&field.name)?.ty.clone();
                let Ty::Map(elem) = ty.strip_opt() else { continue };
                let Ty::Record(s) = elem.strip_opt() else { continue };
                if name.span == owner {
                    return Some((body, *s));
                }
                if let Some(found) = nested(ws, body, *s, owner) {
                    return Some(found);
                }
                continue;
            }
            _ => continue,
        };
        let Some(inner_schema) = field_schema(ws, schema, it, name) else { continue };
        if name.span == owner || value_span == owner {
            return Some((inner, inner_schema));
        }
        if let Some(found) = nested(ws, inner, inner_schema, owner) {
            return Some(found);
        }
    }
    None
}

/// The schema of a nested body: the field's record type, or the payload of the variant named.
fn field_schema(
    ws: &Workspace,
    schema: crate::check::types::SchemaId,
    item: &BodyItem,
    variant: &ast::Ident,
) -> Option<crate::check::types::SchemaId> {
    let BodyItem::Field { name, .. } = item else { return None };
    match ws.prog.types.schema(schema).field(&name.name)?.ty.strip_opt() {
        Ty::Record(s) => Some(*s),
        Ty::Enum(e) => {
            let def = ws.prog.types.enum_(*e);
            def.variants.iter().find(|v| v.name == variant.name)?.payload
        }
        _ => None,
    }
}

/// Where and what to insert to add `fields` to `body`: after its last item, on lines of their
/// own when the body spans lines, else inline.
fn insertion(text: &str, body: &ast::Body, fields: &[String]) -> Option<(u32, String)> {
    let from = body.span.end.max(body.span.start);
    let close = from + text.get(from as usize..)?.find('}')? as u32;
    let multiline = text.get(body.span.start as usize..close as usize)?.contains('\n')
        || text.get(..body.span.start as usize)?.trim_end_matches([' ', '\t']).ends_with('\n');
    if body.items.is_empty() {
        let insert = if multiline { format!("\n{}\n", fields.join("\n")) } else { format!(" {} ", fields.join(", ")) };
        return Some((close, insert));
    }
    let sep = if multiline { "\n" } else { ", " };
    Some((from, fields.iter().map(|f| format!("{sep}{f}")).collect()))
}

/// A value of type `ty` to start from.
fn placeholder(ws: &Workspace, module: ModuleId, ty: &Ty) -> String {
    match ty.strip_opt() {
        Ty::Bool => "false".into(),
        Ty::Int => "1".into(),
        Ty::Float => "1.0".into(),
        Ty::Str | Ty::Secret | Ty::Any | Ty::None | Ty::Opt(_) => "\"TODO\"".into(),
        Ty::Ratio => "50%".into(),
        Ty::Qty(d) if *d == Dim::DURATION => "1m".into(),
        Ty::Qty(d) if *d == Dim::SIZE => "1GiB".into(),
        Ty::Qty(d) if *d == Dim::MONEY => "$1".into(),
        Ty::Qty(d) if *d == Dim::RATE => "1/s".into(),
        Ty::Qty(d) if *d == Dim::MONEY_RATE => "$1/h".into(),
        Ty::Qty(_) => "1".into(),
        Ty::Condition => "false".into(),
        Ty::List(_) => "[]".into(),
        Ty::Map(_) | Ty::Record(_) => "{}".into(),
        Ty::Range(t) => {
            let p = placeholder(ws, module, t);
            format!("{p}..{p}")
        }
        Ty::Union(ts) => ts.first().map_or_else(|| "none".into(), |t| placeholder(ws, module, t)),
        Ty::Enum(e) => ws.prog.types.enum_(*e).variants.first().map_or_else(
            || "none".into(),
            |v| if v.payload.is_some() { format!("{} {{}}", v.name) } else { v.name.clone() },
        ),
        Ty::Ref(s) => first_of_kind(ws, module, *s).unwrap_or_else(|| "TODO".into()),
    }
}

/// The first declaration (in source order) of kind `schema` visible in `module`.
fn first_of_kind(ws: &Workspace, module: ModuleId, schema: crate::check::types::SchemaId) -> Option<String> {
    let m = ws.prog.module(module);
    m.names
        .iter()
        .filter(
            |(_, (n, _))| matches!(n, Name::Decl(g) if ws.prog.groups.get(*g).is_some_and(|g| g.kind == Some(schema))),
        )
        .min_by_key(|(_, (_, span))| span.start)
        .map(|(name, _)| name.clone())
}
