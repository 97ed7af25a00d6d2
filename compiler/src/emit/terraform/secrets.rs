//! `secrets.tf`: an AWS Secrets Manager secret for every secret param that reaches a workload.
//!
//! Takes: the [`Ctx`] and [`access::workloads`](crate::emit::access::workloads). Gives: one
//! `aws_secretsmanager_secret` per such param, named `aistack/<stack>/<param>` (the key the
//! ExternalSecrets read), encrypted with the stack's KMS key. Terraform declares the secret
//! and never its value: there is no `aws_secretsmanager_secret_version`, so the value is in
//! neither the generated files nor the Terraform state. The operator puts it in once
//! (`aws secretsmanager put-secret-value --secret-id NAME --secret-string file://…`).

use super::ctx::{output, skip, tags, Ctx, TfFile, HOME_KEY};
use crate::emit::access::Workload;
use crate::emit::hcl::{Block, Expr};
use crate::emit::k8s::identity::secret_id;

/// Terraform name of the secret holding param `param`.
pub fn ident(param: &str) -> String {
    crate::ir::lower::tf_ident(param)
}

/// The secret params that reach any workload, in first-use order.
pub fn params(workloads: &[Workload]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in workloads.iter().flat_map(|w| &w.secrets) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

pub fn file(ctx: &Ctx, workloads: &[Workload]) -> Option<TfFile> {
    let params = params(workloads);
    if params.is_empty() {
        return None;
    }
    let mut f = TfFile::new(
        "secrets.tf",
        "Secrets Manager secrets for the stack's secret params. Terraform never holds a value: put it in with\n`aws secretsmanager put-secret-value --secret-id NAME --secret-string file://VALUE`; External Secrets\nsyncs it into the workloads' Secrets.",
        vec![ctx.stack_addr.clone()],
    );
    for w in workloads.iter().filter(|w| !w.secrets.is_empty()) {
        for src in &w.sources {
            f.source(src.clone());
        }
    }
    for p in &params {
        let name = secret_id(ctx.s, p);
        f.blocks.push(
            Block::new("resource", &["aws_secretsmanager_secret", &ident(p)])
                .comment(&skip(
                    "CKV2_AWS_57",
                    "the value is an external credential put in by the operator; aistack has no rotation function for it",
                ))
                .attr("name", Expr::str(&name))
                .attr(
                    "description",
                    Expr::str(format!(
                        "Secret param `{p}` of stack {}: the operator puts the value in; Terraform never sees it.",
                        ctx.s.name
                    )),
                )
                .attr("kms_key_id", Expr::tf("aws_kms_key", HOME_KEY, "arn"))
                .attr("recovery_window_in_days", Expr::Int(7))
                .attr("tags", tags(&ctx.stack_addr)),
        );
        f.outputs.push(output(
            &format!("secret_{}_arn", ident(p)),
            &format!("Secrets Manager secret for secret param `{p}` ({name}); put its value in before deploying"),
            Expr::tf("aws_secretsmanager_secret", &ident(p), "arn"),
        ));
    }
    Some(f)
}
