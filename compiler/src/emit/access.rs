//! Who may touch what: the AWS access each workload needs, derived from the IR.
//!
//! Takes: an [`ir::Stack`]. Gives: one [`Workload`] per pod identity — each service (each
//! A/B variant, which serves its own model, separately) and each pipeline — with the S3
//! prefixes it reads and writes and the secret params it is given. The Kubernetes side
//! (service accounts, External Secrets) and the Terraform side (IAM roles, Pod Identity
//! associations, Secrets Manager secrets) both read this, so the pods are told exactly the
//! paths their role allows. Prefixes come from the same URIs the pods are given
//! ([`serving::model_root`], every version under it, so a rollback can still read the previous
//! version's weights).

use crate::emit::serving;
use crate::ir::{Backend, EnvValue, Meta, Stack};

/// An S3 prefix in one of the stack's storages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// Index into `stack.storages` (always S3).
    pub store: usize,
    /// Key prefix without a leading or trailing `/`.
    pub prefix: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// The declaration (service or pipeline) the workload comes from.
    pub meta: Meta,
    /// Kubernetes name of the pods' ServiceAccount (and prefix of its Secret).
    pub name: String,
    /// Terraform identifier derived from `name`.
    pub ident: String,
    /// Full address of the declaration (`service.chat`), and of the models it reads.
    pub sources: Vec<String>,
    pub reads: Vec<Grant>,
    pub writes: Vec<Grant>,
    /// Secret params that reach the pods, in first-use order.
    pub secrets: Vec<String>,
}

impl Workload {
    /// The Secret that External Secrets creates for this workload's pods.
    pub fn secret_name(&self) -> String {
        format!("{}-secrets", self.name)
    }
}

/// The IAM role name of a workload: the stack label and the workload, at most 64 bytes.
pub fn role_name(stack: &Stack, w: &Workload) -> String {
    crate::emit::terraform::fit(&format!("{}-{}", crate::ir::lower::dns_name(&stack.name), w.name), 64)
}

/// `s3://bucket/key` split into the key prefix, when the storage is S3.
fn grant(stack: &Stack, store: usize, uri: &str) -> Option<Grant> {
    stack.storages.get(store).filter(|s| s.backend == Backend::S3)?;
    let rest = uri.strip_prefix("s3://")?;
    let (_, key) = rest.split_once('/').unwrap_or((rest, ""));
    Some(Grant { store, prefix: key.trim_matches('/').to_string() })
}

fn model_grant(stack: &Stack, model: usize) -> Option<Grant> {
    let m = stack.models.get(model)?;
    grant(stack, m.store, &serving::model_root(stack, m).0)
}

fn dataset_grant(stack: &Stack, dataset: usize) -> Option<Grant> {
    let d = stack.datasets.get(dataset)?;
    Some(Grant { store: d.store, prefix: d.path.trim_matches('/').to_string() })
        .filter(|g| stack.storages.get(g.store).is_some_and(|s| s.backend == Backend::S3))
}

pub fn workloads(stack: &Stack) -> Vec<Workload> {
    let mut out = Vec::new();
    for svc in &stack.services {
        let mut secrets: Vec<String> = Vec::new();
        for (_, v) in &svc.env {
            if let EnvValue::Secret(p) = v {
                if !secrets.contains(p) {
                    secrets.push(p.clone());
                }
            }
        }
        for (name, model) in serving::workloads(svc) {
            let mut sources = vec![svc.meta.full_address()];
            sources.extend(stack.models.get(model).map(|m| m.meta.full_address()));
            out.push(Workload {
                meta: svc.meta.clone(),
                ident: crate::ir::lower::tf_ident(&name),
                name,
                sources,
                reads: model_grant(stack, model).into_iter().collect(),
                writes: Vec::new(),
                secrets: secrets.clone(),
            });
        }
    }
    for p in &stack.pipelines {
        let mut reads: Vec<Grant> = p.dataset.and_then(|d| dataset_grant(stack, d)).into_iter().collect();
        reads.extend(p.base.and_then(|m| model_grant(stack, m)));
        let writes: Vec<Grant> = p.produces.and_then(|m| model_grant(stack, m)).into_iter().collect();
        reads.sort();
        reads.dedup();
        out.push(Workload {
            meta: p.meta.clone(),
            name: p.meta.name.clone(),
            ident: crate::ir::lower::tf_ident(&p.meta.name),
            sources: vec![p.meta.full_address()],
            reads,
            writes,
            secrets: Vec::new(),
        });
    }
    out
}
