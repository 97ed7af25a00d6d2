//! `kms.tf`: the stack's customer-managed KMS keys.
//!
//! Takes: the [`Ctx`] (which regions hold resources, which services write to each key).
//! Gives: one key with rotation, a 30-day deletion window and an explicit key policy, plus an
//! alias, in the home region and in every extra region (DR replicas and vaults, the
//! CloudFront WAF's logs). The policy delegates to IAM through the account root and adds the
//! service principals that encrypt with the key directly: CloudWatch Logs (WAF and CloudTrail
//! log groups), CloudTrail (log files, SNS notifications), CloudFront (reading SSE-KMS
//! origins through origin access control) and CloudFront standard logging.

use super::ctx::{account, format, output, partition, resource, tags, Ctx, TfFile, CLOUDFRONT_REGION, HOME_KEY};
use super::policy::{document, Principal, Statement};
use crate::emit::hcl::Expr;
use crate::ir::Encryption;

pub fn file(ctx: &Ctx) -> TfFile {
    let s = ctx.s;
    let mut f = TfFile::new(
        "kms.tf",
        "Customer-managed KMS keys of the stack: S3, EFS, FSx, CloudWatch Logs, CloudTrail, SNS and AWS Backup\nencrypt with them.",
        vec![ctx.stack_addr.clone()],
    );
    if let Some(p) = &s.policy {
        f.source(p.meta.full_address());
    }
    let mut regions: Vec<(&str, String, Option<Expr>)> = vec![(s.region.as_str(), HOME_KEY.to_string(), None)];
    for r in &ctx.regions {
        regions.push((r.name.as_str(), r.key.clone(), ctx.provider(&r.name)));
        for src in &r.sources {
            f.source(src.clone());
        }
    }
    for (region, name, provider) in &regions {
        let statements = statements(ctx, region, &mut f);
        let description = if *region == s.region {
            format!("aistack {}: data, logs and backups", s.name)
        } else {
            format!("aistack {}: data, logs and backups in {region}", s.name)
        };
        f.blocks.push(
            resource("aws_kms_key", name, provider)
                .attr("description", Expr::str(description))
                .attr("enable_key_rotation", Expr::Bool(true))
                .attr("deletion_window_in_days", Expr::Int(30))
                .attr("policy", document(&statements))
                .attr("tags", tags(&ctx.stack_addr)),
        );
        f.blocks.push(
            resource("aws_kms_alias", name, provider)
                .attr("name", Expr::str(format!("alias/aistack/{}", ctx.label)))
                .attr("target_key_id", Expr::tf("aws_kms_key", name, "key_id")),
        );
        let (out, what) = if *region == s.region {
            ("kms_key_arn".to_string(), "ARN of the stack's KMS key".to_string())
        } else {
            (format!("kms_key_arn_{name}"), format!("ARN of the stack's KMS key in {region}"))
        };
        f.outputs.push(output(&out, &what, Expr::tf("aws_kms_key", name, "arn")));
    }
    f
}

/// Does `region` hold CloudWatch log groups (WAF logs, the CloudTrail group)?
fn has_log_groups(ctx: &Ctx, region: &str) -> bool {
    let s = ctx.s;
    let home = region == s.region;
    (home && (s.services.iter().any(super::waf::needs_acl) || ctx.audit.is_some()))
        || (region == CLOUDFRONT_REGION && !s.cdns.is_empty())
}

fn statements(ctx: &Ctx, region: &str, f: &mut TfFile) -> Vec<Statement> {
    let s = ctx.s;
    let home = region == s.region;
    let mut out = vec![Statement::allow("EnableIamPolicies")
        .principal(Principal::Aws(format("arn:%s:iam::%s:root", vec![partition(), account()])))
        .actions(&["kms:*"])
        .resource(Expr::str("*"))];
    if has_log_groups(ctx, region) {
        out.push(
            Statement::allow("AllowCloudWatchLogs")
                .service(&format!("logs.{region}.amazonaws.com"))
                .actions(&["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"])
                .resource(Expr::str("*"))
                .condition(
                    "ArnLike",
                    "kms:EncryptionContext:aws:logs:arn",
                    format("arn:%s:logs:%s:%s:log-group:*", vec![partition(), Expr::str(region), account()]),
                ),
        );
    }
    if home && ctx.audit.is_some() {
        let trail = super::audit::trail_arn(ctx);
        out.push(
            Statement::allow("AllowCloudTrailEncryptLogs")
                .service("cloudtrail.amazonaws.com")
                .actions(&["kms:GenerateDataKey*", "kms:DescribeKey"])
                .resource(Expr::str("*"))
                .condition("StringEquals", "aws:SourceArn", trail.clone())
                .condition(
                    "StringLike",
                    "kms:EncryptionContext:aws:cloudtrail:arn",
                    format("arn:%s:cloudtrail:*:%s:trail/*", vec![partition(), account()]),
                ),
        );
        out.push(
            Statement::allow("AllowCloudTrailTopicNotifications")
                .service("cloudtrail.amazonaws.com")
                .actions(&["kms:GenerateDataKey*", "kms:Decrypt"])
                .resource(Expr::str("*"))
                .condition("StringEquals", "aws:SourceArn", trail),
        );
    }
    // CloudFront reads SSE-KMS origins: the home bucket, or its replica in this region.
    let mut distributions = Vec::new();
    for cdn in &s.cdns {
        let Some(origin) = ctx.storage(cdn.origin) else { continue };
        let reads_home = home && origin.encryption == Encryption::Kms;
        let reads_replica = !home
            && ctx.replicated.get(&cdn.origin).and_then(|d| s.drs.get(*d)).is_some_and(|dr| dr.secondary == region);
        if reads_home || reads_replica {
            distributions.push(Expr::tf("aws_cloudfront_distribution", &cdn.meta.ident, "arn"));
            f.source(cdn.meta.full_address());
        }
    }
    if !distributions.is_empty() {
        let value = if distributions.len() == 1 { distributions.remove(0) } else { Expr::List(distributions) };
        out.push(
            Statement::allow("AllowCloudFrontOriginAccess")
                .service("cloudfront.amazonaws.com")
                .actions(&["kms:Decrypt"])
                .resource(Expr::str("*"))
                .condition("StringEquals", "AWS:SourceArn", value),
        );
    }
    if home && ctx.cdn_logs.is_some() {
        out.push(
            Statement::allow("AllowCloudFrontStandardLogs")
                .service("delivery.logs.amazonaws.com")
                .actions(&["kms:GenerateDataKey*"])
                .resource(Expr::str("*")),
        );
    }
    out
}
