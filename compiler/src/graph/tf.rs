//! Terraform resources into the graph: each `resource` block of the emitted files becomes a
//! [`Resource`] owned by its file's first declaration, and every reference by Terraform
//! identity ([`Expr::Tf`]) — in resources and in the other blocks (outputs) alike — becomes a
//! [`Ref`] by address, with an edge from the referenced resource ([`Why::Ref`], or
//! [`Why::DependsOn`] for `depends_on`).

use super::*;
use crate::diag::codes;
use crate::emit::hcl::{Block, Item};
use crate::emit::terraform::TfFile;

/// `aws_s3_bucket_versioning` → `bucket_versioning`, `aws_kms_key` → `kms_key`.
fn role(type_: &str) -> &str {
    let t = type_.strip_prefix("aws_").unwrap_or(type_);
    t.strip_prefix("s3_").unwrap_or(t)
}

pub(super) fn add(g: &mut ResourceGraph, decls: &Decls, files: Vec<TfFile>, diags: &mut Vec<Diagnostic>) {
    let mut ids: BTreeMap<String, Address> = BTreeMap::new();
    let mut layout = Vec::new();
    let mut resources = Vec::new();
    for f in files {
        let owner = decls.owner(f.sources.first());
        let prefix = decls.prefix(owner);
        let own = if prefix == "stack" { crate::emit::terraform::HOME_KEY } else { owner.ident.as_str() };
        let mut parts = Vec::new();
        for b in f.blocks {
            let [type_, name] = b.labels.as_slice() else {
                parts.push(Part::Block(b));
                continue;
            };
            if b.kind != "resource" || ids.contains_key(&format!("{type_}.{name}")) {
                parts.push(Part::Block(b));
                continue;
            }
            let address = Address::new(&prefix, role(type_), name, own);
            ids.insert(format!("{type_}.{name}"), address.clone());
            parts.push(Part::Resource(address.clone()));
            resources.push(Resource {
                address,
                engine: Engine::Terraform,
                type_: type_.clone(),
                name: name.clone(),
                attrs: Attrs::Terraform(b.items),
                origin: decls.origin(owner),
            });
        }
        layout.push(TerraformFile { name: f.name, header: f.header, sources: f.sources, parts });
    }
    let mut edges = Vec::new();
    for r in &mut resources {
        let me = r.address.clone();
        if let Attrs::Terraform(items) = &mut r.attrs {
            for i in items.iter_mut() {
                resolve_item(i, &ids, &mut |to, attr| edges.push((me.clone(), to.clone(), attr)));
            }
        }
    }
    for f in &mut layout {
        for p in &mut f.parts {
            if let Part::Block(b) = p {
                resolve_block(b, &ids, &mut |_, _| {});
            }
        }
    }
    for r in resources {
        if let Err(e) = g.insert(r) {
            diags.push(Diagnostic::sourceless(codes::OUTPUT_CLASH, e.to_string()));
        }
    }
    for (from, to, attr) in edges {
        let why = attr.map_or(Why::DependsOn, Why::Ref);
        // Both ends were inserted above; a clash was reported there.
        let _ = g.depend(&from, &to, why);
    }
    g.terraform_files.extend(layout);
}

type Found<'a> = dyn FnMut(&Address, Option<String>) + 'a;

fn resolve_block(b: &mut Block, ids: &BTreeMap<String, Address>, found: &mut Found) {
    for i in &mut b.items {
        resolve_item(i, ids, found);
    }
}

fn resolve_item(i: &mut Item, ids: &BTreeMap<String, Address>, found: &mut Found) {
    match i {
        Item::Attr(_, e) => resolve(e, ids, found),
        Item::Block(b) => resolve_block(b, ids, found),
        Item::Comment(_) => {}
    }
}

/// Replaces each [`Expr::Tf`] whose target is in `ids` by an [`Expr::Ref`] (an unknown target
/// stays as written, which `terraform validate` and the graph tests report).
fn resolve(e: &mut Expr, ids: &BTreeMap<String, Address>, found: &mut Found) {
    match e {
        Expr::Tf { type_, name, attr } => {
            if let Some(to) = ids.get(&format!("{type_}.{name}")) {
                found(to, attr.clone());
                *e = Expr::Ref(Ref { to: to.clone(), attr: attr.take() });
            }
        }
        Expr::List(xs) | Expr::Template(xs) | Expr::Call(_, xs) => xs.iter_mut().for_each(|x| resolve(x, ids, found)),
        Expr::Object(kv) => kv.iter_mut().for_each(|(_, x)| resolve(x, ids, found)),
        _ => {}
    }
}

pub(super) fn item_refs<'a>(i: &'a Item, out: &mut Vec<&'a Ref>) {
    match i {
        Item::Attr(_, e) => expr_refs(e, out),
        Item::Block(b) => b.items.iter().for_each(|i| item_refs(i, out)),
        Item::Comment(_) => {}
    }
}

pub(super) fn expr_refs<'a>(e: &'a Expr, out: &mut Vec<&'a Ref>) {
    match e {
        Expr::Ref(r) => out.push(r),
        Expr::List(xs) | Expr::Template(xs) | Expr::Call(_, xs) => xs.iter().for_each(|x| expr_refs(x, out)),
        Expr::Object(kv) => kv.iter().for_each(|(_, x)| expr_refs(x, out)),
        _ => {}
    }
}
