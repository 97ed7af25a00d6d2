//! `identity_<workload>.tf`: one IAM role per workload, with exactly the access it needs, and
//! `identity.tf` for what the roles share.
//!
//! Takes: the [`Ctx`] and [`access::workloads`]. Gives, per workload: an `aws_iam_role` that
//! only that workload's service account can assume — through EKS Pod Identity by default
//! (principal `pods.eks.amazonaws.com`, `sts:AssumeRole` + `sts:TagSession`, scoped by the
//! session tags EKS sets to the cluster, namespace and service account) with an
//! `aws_eks_pod_identity_association`, or under `identity = irsa` through the cluster's OIDC
//! provider (`sts:AssumeRoleWithWebIdentity` with `sub` and `aud` conditions, the provider
//! looked up from the cluster by data sources, the account checked by a precondition); and an
//! `aws_iam_role_policy`: `s3:GetObject` on exactly the prefixes it reads (the model, the data
//! set), `s3:PutObject` on the prefixes it writes (the model a pipeline produces),
//! `s3:ListBucket` on each bucket limited by an `s3:prefix` condition, `kms:Decrypt` (and
//! `kms:GenerateDataKey` for writes) on the stack key through S3 when a bucket uses it, and
//! under IRSA `secretsmanager:GetSecretValue` on exactly the secrets External Secrets reads
//! for it. Under Pod Identity External Secrets reads with its controller's role instead, so
//! `identity.tf` adds to that role (named by a variable) an inline policy for exactly this
//! stack's secrets.

use super::ctx::{raw, resource, tags, variable, Ctx, TfFile, HOME_KEY};
use super::policy::{document, Statement};
use super::secrets;
use crate::emit::access::{self, Grant, Workload};
use crate::emit::hcl::{quote, Block, Expr};
use crate::ir::Encryption;
use std::collections::BTreeMap;

pub const ESO_ROLE_VAR: &str = "external_secrets_role_name";
const CLUSTER: &str = "identity";

/// Terraform name of a workload's `aws_iam_role`.
fn role_ref(w: &Workload) -> String {
    format!("workload_{}", w.ident)
}

fn bucket_arn(ctx: &Ctx, store: usize) -> Option<Expr> {
    ctx.storage(store).map(|st| Expr::tf("aws_s3_bucket", &st.meta.ident, "arn"))
}

/// `arn/prefix` and `arn/prefix/*` (the object itself, or everything under it).
fn objects(ctx: &Ctx, grants: &[Grant]) -> Vec<Expr> {
    let mut out = Vec::new();
    for g in grants {
        let Some(arn) = bucket_arn(ctx, g.store) else { continue };
        if g.prefix.is_empty() {
            out.push(super::ctx::format("%s/*", vec![arn]));
        } else {
            out.push(super::ctx::format("%s/%s", vec![arn.clone(), Expr::str(&g.prefix)]));
            out.push(super::ctx::format("%s/%s/*", vec![arn, Expr::str(&g.prefix)]));
        }
    }
    out
}

/// One `s3:ListBucket` statement per bucket, limited to the prefixes granted in it.
fn listings(ctx: &Ctx, grants: &[Grant]) -> Vec<Statement> {
    let mut by_store: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for g in grants {
        let p = by_store.entry(g.store).or_default();
        for v in [g.prefix.clone(), format!("{}/*", g.prefix)] {
            let v = v.trim_start_matches('/').to_string();
            if !p.contains(&v) {
                p.push(v);
            }
        }
    }
    by_store
        .into_iter()
        .filter_map(|(store, prefixes)| {
            let st = ctx.storage(store)?;
            Some(
                Statement::allow(&format!("List{}", sid(&st.meta.ident)))
                    .actions(&["s3:ListBucket"])
                    .resource(bucket_arn(ctx, store)?)
                    .condition("StringLike", "s3:prefix", Expr::strs(prefixes)),
            )
        })
        .collect()
}

/// A statement id from an identifier: `model_store` → `ModelStore`.
fn sid(ident: &str) -> String {
    ident
        .split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn key_statement(ctx: &Ctx, sid: &str, actions: &[&str], service: &str) -> Statement {
    Statement::allow(sid).actions(actions).resource(Expr::tf("aws_kms_key", HOME_KEY, "arn")).condition(
        "StringEquals",
        "kms:ViaService",
        Expr::str(format!("{service}.{}.amazonaws.com", ctx.s.region)),
    )
}

/// The statements that read exactly `params`' secrets (and decrypt them with the stack key).
pub fn secret_statements(ctx: &Ctx, params: &[String]) -> Vec<Statement> {
    if params.is_empty() {
        return Vec::new();
    }
    let mut read = Statement::allow("ReadSecrets").actions(&["secretsmanager:GetSecretValue"]);
    for p in params {
        read = read.resource(Expr::tf("aws_secretsmanager_secret", &secrets::ident(p), "arn"));
    }
    vec![read, key_statement(ctx, "DecryptSecrets", &["kms:Decrypt"], "secretsmanager")]
}

fn kms_used(ctx: &Ctx, grants: &[Grant]) -> bool {
    grants.iter().any(|g| ctx.storage(g.store).is_some_and(|s| s.encryption == Encryption::Kms))
}

/// The role's permissions: S3 reads and writes on its prefixes, the key, its secrets.
pub fn statements(ctx: &Ctx, w: &Workload) -> Vec<Statement> {
    let mut out = Vec::new();
    let readable: Vec<Grant> = w.reads.iter().chain(&w.writes).cloned().collect();
    let read_objects = objects(ctx, &readable);
    if !read_objects.is_empty() {
        let mut s = Statement::allow("ReadObjects").actions(&["s3:GetObject"]);
        for o in read_objects {
            s = s.resource(o);
        }
        out.push(s);
    }
    let write_objects = objects(ctx, &w.writes);
    if !write_objects.is_empty() {
        let mut s = Statement::allow("WriteObjects").actions(&["s3:PutObject", "s3:AbortMultipartUpload"]);
        for o in write_objects {
            s = s.resource(o);
        }
        out.push(s);
    }
    out.extend(listings(ctx, &readable));
    if kms_used(ctx, &readable) {
        let actions: &[&str] =
            if kms_used(ctx, &w.writes) { &["kms:Decrypt", "kms:GenerateDataKey"] } else { &["kms:Decrypt"] };
        out.push(key_statement(ctx, "UseStackKey", actions, "s3"));
    }
    if ctx.s.irsa {
        out.extend(secret_statements(ctx, &w.secrets));
    }
    out
}

fn pod_identity_trust(ctx: &Ctx, w: &Workload) -> Expr {
    let s = ctx.s;
    document(&[Statement::allow("AssumeFromPodIdentity")
        .service("pods.eks.amazonaws.com")
        .actions(&["sts:AssumeRole", "sts:TagSession"])
        .condition("StringEquals", "aws:RequestTag/eks-cluster-name", Expr::str(&s.cluster))
        .condition("StringEquals", "aws:RequestTag/kubernetes-namespace", Expr::str(&s.namespace))
        .condition("StringEquals", "aws:RequestTag/kubernetes-service-account", Expr::str(&w.name))])
}

fn irsa_trust(ctx: &Ctx, w: &Workload) -> Expr {
    let issuer = Expr::Local(format!("{CLUSTER}_oidc_issuer"));
    let keys = Expr::List(vec![
        super::ctx::format("%s:sub", vec![issuer.clone()]),
        super::ctx::format("%s:aud", vec![issuer]),
    ]);
    let values =
        Expr::strs([format!("system:serviceaccount:{}:{}", ctx.s.namespace, w.name), "sts.amazonaws.com".into()]);
    let statement = Expr::Object(vec![
        ("Sid".into(), Expr::str("AssumeFromServiceAccount")),
        ("Effect".into(), Expr::str("Allow")),
        (
            "Principal".into(),
            Expr::Object(vec![("Federated".into(), Expr::data("aws_iam_openid_connect_provider", CLUSTER, "arn"))]),
        ),
        ("Action".into(), Expr::str("sts:AssumeRoleWithWebIdentity")),
        ("Condition".into(), Expr::Object(vec![("StringEquals".into(), Expr::call("zipmap", vec![keys, values]))])),
    ]);
    Expr::call(
        "jsonencode",
        vec![Expr::Object(vec![
            ("Version".into(), Expr::str("2012-10-17")),
            ("Statement".into(), Expr::List(vec![statement])),
        ])],
    )
}

fn role(ctx: &Ctx, w: &Workload) -> Block {
    let s = ctx.s;
    let (trust, how) =
        if s.irsa { (irsa_trust(ctx, w), "IRSA") } else { (pod_identity_trust(ctx, w), "EKS Pod Identity") };
    let mut b = resource("aws_iam_role", &format!("workload_{}", w.ident), &None)
        .attr("name", Expr::str(access::role_name(s, w)))
        .attr(
            "description",
            Expr::str(format!(
                "aistack {}: pods of {} as {}/{} ({how})",
                s.name,
                w.meta.full_address(),
                s.namespace,
                w.name
            )),
        )
        .attr("assume_role_policy", trust)
        .attr("max_session_duration", Expr::Int(3600))
        .attr("tags", tags(&w.meta.full_address()));
    if let (true, Some(acct)) = (s.irsa, &s.account) {
        // The ServiceAccount annotation names this account: refuse to create the role elsewhere.
        b = b.block(
            Block::new("lifecycle", &[]).block(
                Block::new("precondition", &[])
                    .attr("condition", raw(format!("data.aws_caller_identity.current.account_id == {}", quote(acct))))
                    .attr(
                        "error_message",
                        Expr::str(format!(
                            "The stack's account is {acct}: its ServiceAccounts name roles in that account."
                        )),
                    ),
            ),
        );
    }
    b
}

pub fn file(ctx: &Ctx, w: &Workload) -> TfFile {
    let s = ctx.s;
    let mut f = TfFile::new(
        &format!("identity_{}.tf", w.ident),
        &format!(
            "{}: the IAM role of service account {}/{}, allowed exactly what its pods read and write.",
            w.meta.full_address(),
            s.namespace,
            w.name
        ),
        w.sources.clone(),
    );
    f.blocks.push(role(ctx, w));
    let st = statements(ctx, w);
    if !st.is_empty() {
        f.blocks.push(
            resource("aws_iam_role_policy", &format!("workload_{}", w.ident), &None)
                .attr("name", Expr::str("aistack-access"))
                .attr("role", Expr::tf("aws_iam_role", &role_ref(w), "id"))
                .attr("policy", document(&st)),
        );
    }
    if !s.irsa {
        f.blocks.push(
            resource("aws_eks_pod_identity_association", &format!("workload_{}", w.ident), &None)
                .attr("cluster_name", Expr::str(&s.cluster))
                .attr("namespace", Expr::str(&s.namespace))
                .attr("service_account", Expr::str(&w.name))
                .attr("role_arn", Expr::tf("aws_iam_role", &role_ref(w), "arn"))
                .attr("tags", tags(&w.meta.full_address())),
        );
    }
    f.outputs.push(super::ctx::output(
        &format!("workload_{}_role_arn", w.ident),
        &format!("IAM role of service account {}/{}", s.namespace, w.name),
        Expr::tf("aws_iam_role", &role_ref(w), "arn"),
    ));
    f
}

/// `identity.tf`: under IRSA the cluster's OIDC provider; under Pod Identity the inline
/// policy that lets the External Secrets controller read this stack's secrets.
pub fn shared_file(ctx: &Ctx, workloads: &[Workload]) -> Option<TfFile> {
    let s = ctx.s;
    let params = secrets::params(workloads);
    if !s.irsa && params.is_empty() {
        return None;
    }
    let mut f = TfFile::new("identity.tf", "", vec![ctx.stack_addr.clone()]);
    if s.irsa {
        f.header = "The cluster's OIDC provider, which the workloads' IRSA roles trust.".into();
        f.blocks.push(Block::new("data", &["aws_eks_cluster", CLUSTER]).attr("name", Expr::str(&s.cluster)));
        let issuer = Expr::data("aws_eks_cluster", CLUSTER, "identity[0].oidc[0].issuer");
        f.blocks.push(Block::new("data", &["aws_iam_openid_connect_provider", CLUSTER]).attr("url", issuer.clone()));
        f.blocks.push(
            Block::new("locals", &[])
                .attr(&format!("{CLUSTER}_oidc_issuer"), Expr::call("trimprefix", vec![issuer, Expr::str("https://")])),
        );
        return Some(f);
    }
    f.header = "What the External Secrets controller may read for this stack: exactly its secrets.".into();
    for w in workloads.iter().filter(|w| !w.secrets.is_empty()) {
        for src in &w.sources {
            f.source(src.clone());
        }
    }
    f.blocks.push(
        resource("aws_iam_role_policy", "external_secrets", &None)
            .attr("name", Expr::str(super::ctx::fit(&format!("aistack-{}-secrets", ctx.label), 128)))
            .attr("role", Expr::var(ESO_ROLE_VAR))
            .attr("policy", document(&secret_statements(ctx, &params))),
    );
    f.variables.push(variable(
        ESO_ROLE_VAR,
        "string",
        "Name of the IAM role the External Secrets Operator controller runs as (its own Pod Identity association); this stack adds an inline policy that reads exactly its Secrets Manager secrets.",
    ));
    Some(f)
}
