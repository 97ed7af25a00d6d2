//! `versions.tf`, `providers.tf`, `variables.tf` and `outputs.tf`.
//!
//! Takes: the stack (region, tags), the extra regions in the [`Ctx`], and the
//! variables and outputs the other files ask for. Gives: the Terraform and AWS provider
//! constraints (valid on the 5.100 provider and on 6.x), the home provider with default tags
//! (the stack's tags plus `managed-by` and `aistack-stack`), an aliased provider per extra
//! region, the account and partition data sources, and the collected variables and outputs.
//! Secret params are no Terraform inputs: `secrets.tf` declares a Secrets Manager secret
//! for each, whose value the operator puts in, so no value passes through Terraform or its state.

use super::ctx::{Ctx, TfFile};
use crate::emit::hcl::{Block, Expr};
use std::collections::BTreeMap;

pub fn versions(ctx: &Ctx) -> TfFile {
    let mut f = TfFile::new("versions.tf", "Terraform and AWS provider versions.", vec![ctx.stack_addr.clone()]);
    f.blocks.push(Block::new("terraform", &[]).attr("required_version", Expr::str(">= 1.5")).block(
        Block::new("required_providers", &[]).attr(
            "aws",
            Expr::Object(vec![
                ("source".into(), Expr::str("hashicorp/aws")),
                ("version".into(), Expr::str(">= 5.100, < 7.0")),
            ]),
        ),
    ));
    f
}

fn default_tags(ctx: &Ctx) -> Block {
    let mut t: BTreeMap<String, String> = ctx.s.tags.clone();
    t.insert("managed-by".into(), "aistack".into());
    t.insert("aistack-stack".into(), ctx.s.name.clone());
    Block::new("default_tags", &[]).attr("tags", Expr::Object(t.into_iter().map(|(k, v)| (k, Expr::Str(v))).collect()))
}

pub fn providers(ctx: &Ctx) -> TfFile {
    let mut f = TfFile::new(
        "providers.tf",
        "AWS providers: the stack's region, and one alias per other region that holds resources.",
        vec![ctx.stack_addr.clone()],
    );
    f.blocks.push(Block::new("provider", &["aws"]).attr("region", Expr::str(&ctx.s.region)).block(default_tags(ctx)));
    for r in &ctx.regions {
        for s in &r.sources {
            f.source(s.clone());
        }
        f.blocks.push(
            Block::new("provider", &["aws"])
                .attr("alias", Expr::str(&r.alias))
                .attr("region", Expr::str(&r.name))
                .block(default_tags(ctx)),
        );
    }
    f.blocks.push(Block::new("data", &["aws_caller_identity", "current"]));
    f.blocks.push(Block::new("data", &["aws_partition", "current"]));
    f
}

fn label(b: &Block) -> String {
    b.labels.first().cloned().unwrap_or_default()
}

/// `variables.tf`: the inputs the other files ask for, by name.
pub fn variables(ctx: &Ctx, files: &[TfFile]) -> TfFile {
    let mut f = TfFile::new(
        "variables.tf",
        "Inputs the stack cannot know: the network, DNS, certificate and add-on facts of the account.",
        vec![ctx.stack_addr.clone()],
    );
    let mut seen: BTreeMap<String, Block> = BTreeMap::new();
    for file in files {
        if !file.variables.is_empty() {
            for s in &file.sources {
                f.source(s.clone());
            }
        }
        for v in &file.variables {
            seen.entry(label(v)).or_insert_with(|| v.clone());
        }
    }
    f.blocks.extend(seen.into_values());
    f
}

pub fn outputs(ctx: &Ctx, files: &[TfFile]) -> TfFile {
    let mut f =
        TfFile::new("outputs.tf", "What the stack's resources are called once applied.", vec![ctx.stack_addr.clone()]);
    let mut seen: BTreeMap<String, Block> = BTreeMap::new();
    for file in files {
        if !file.outputs.is_empty() {
            for s in &file.sources {
                f.source(s.clone());
            }
        }
        for o in &file.outputs {
            seen.entry(label(o)).or_insert_with(|| o.clone());
        }
    }
    f.blocks.extend(seen.into_values());
    f
}
