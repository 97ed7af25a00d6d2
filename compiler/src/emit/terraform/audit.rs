//! `audit.tf`: the policy's audit trail.
//!
//! Takes: the policy's `audit { retain, store }` when the store is an S3 bucket. Gives: a
//! multi-region CloudTrail trail with log file validation, KMS encryption, delivery to the
//! store's bucket (whose policy, in `storage_<store>.tf`, lets CloudTrail in), a copy in a
//! KMS-encrypted CloudWatch log group kept for `retain`, an encrypted SNS topic for delivery
//! notifications, and S3 data events for the buckets that hold models and data sets (who read
//! or changed the weights).

use super::ctx::{account, format, output, partition, resource, tags, Ctx, TfFile};
use super::policy::{document, Statement};
use crate::emit::hcl::{Block, Expr};
use crate::ir::Backend;

/// CloudWatch Logs accepts only these retention periods (days).
const RETENTION_DAYS: &[u64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The smallest retention CloudWatch Logs accepts that keeps logs at least `days` (ten years
/// at most).
pub fn log_retention(days: u64) -> u64 {
    RETENTION_DAYS.iter().copied().find(|d| *d >= days).unwrap_or(3653)
}

/// The trail's AWS name.
pub fn trail_name(ctx: &Ctx) -> String {
    ctx.name(&["audit"], 128)
}

/// The trail's ARN, built from its name so key, bucket and topic policies can name it
/// without depending on the trail (which depends on them).
pub fn trail_arn(ctx: &Ctx) -> Expr {
    format(
        "arn:%s:cloudtrail:%s:%s:trail/%s",
        vec![partition(), Expr::str(&ctx.s.region), account(), Expr::str(trail_name(ctx))],
    )
}

pub fn file(ctx: &Ctx) -> Option<TfFile> {
    let s = ctx.s;
    let audit = ctx.audit.as_ref()?;
    let policy = s.policy.as_ref()?;
    let store = ctx.storage(audit.store)?;
    let addr = policy.meta.full_address();
    let id = &policy.meta.ident;
    let store_id = &store.meta.ident;
    let mut f = TfFile::new(
        "audit.tf",
        &format!(
            "{addr}: audit trail. CloudTrail (all regions, log file validation, KMS) writes to {} and to a\nCloudWatch log group kept {} days; model and data set buckets also log S3 data events.",
            store.meta.full_address(),
            log_retention(audit.retain_days)
        ),
        vec![addr.clone(), store.meta.full_address()],
    );
    let group = format!("{id}_cloudtrail");
    let retention = log_retention(audit.retain_days);
    let mut lg = resource("aws_cloudwatch_log_group", &group, &None);
    if retention < 365 {
        lg = lg.comment(&super::ctx::skip(
            "CKV_AWS_338",
            &format!("{addr} keeps the audit trail {} days; the S3 copy follows the same retention", audit.retain_days),
        ));
    }
    f.blocks.push(
        lg.attr("name", Expr::str(format!("/aistack/{}/cloudtrail", ctx.label)))
            .attr("retention_in_days", Expr::Int(retention as i64))
            .attr("kms_key_id", ctx.key_arn(&s.region))
            .attr("tags", tags(&addr)),
    );
    let trail = trail_arn(ctx);
    f.blocks.push(
        resource("aws_iam_role", &group, &None)
            .attr("name", Expr::str(ctx.name(&["cloudtrail-logs"], 64)))
            .attr("description", Expr::str(format!("CloudTrail delivers the {addr} trail to CloudWatch Logs")))
            .attr(
                "assume_role_policy",
                document(&[Statement::allow("CloudTrailAssumeRole")
                    .service("cloudtrail.amazonaws.com")
                    .actions(&["sts:AssumeRole"])
                    .condition("StringEquals", "aws:SourceArn", trail.clone())]),
            )
            .attr("tags", tags(&addr)),
    );
    f.blocks.push(
        resource("aws_iam_role_policy", &group, &None)
            .attr("name", Expr::str("cloudwatch-logs"))
            .attr("role", Expr::tf("aws_iam_role", &group, "id"))
            .attr(
                "policy",
                document(&[Statement::allow("WriteTrailLogStreams")
                    .actions(&["logs:CreateLogStream", "logs:PutLogEvents"])
                    .resource(Expr::suffixed(Expr::tf("aws_cloudwatch_log_group", &group, "arn"), ":log-stream:*"))]),
            ),
    );
    f.blocks.push(
        resource("aws_sns_topic", &group, &None)
            .attr("name", Expr::str(ctx.name(&["cloudtrail"], 256)))
            .attr("kms_master_key_id", Expr::tf("aws_kms_key", &ctx.key(&s.region), "arn"))
            .attr("tags", tags(&addr)),
    );
    f.blocks.push(
        resource("aws_sns_topic_policy", &group, &None).attr("arn", Expr::tf("aws_sns_topic", &group, "arn")).attr(
            "policy",
            document(&[Statement::allow("AllowCloudTrailPublish")
                .service("cloudtrail.amazonaws.com")
                .actions(&["SNS:Publish"])
                .resource(Expr::tf("aws_sns_topic", &group, "arn"))
                .condition("StringEquals", "aws:SourceArn", trail)]),
        ),
    );

    let mut data_buckets: Vec<&str> = Vec::new();
    let stores = s.models.iter().map(|m| m.store).chain(s.datasets.iter().map(|d| d.store));
    for i in stores {
        let Some(st) = ctx.storage(i) else { continue };
        if st.backend == Backend::S3 && i != audit.store && !data_buckets.contains(&st.meta.ident.as_str()) {
            data_buckets.push(&st.meta.ident);
        }
    }
    let mut t = resource("aws_cloudtrail", id, &None)
        .attr("name", Expr::str(trail_name(ctx)))
        .attr("s3_bucket_name", Expr::tf("aws_s3_bucket", store_id, "id"))
        .attr("is_multi_region_trail", Expr::Bool(true))
        .attr("include_global_service_events", Expr::Bool(true))
        .attr("enable_log_file_validation", Expr::Bool(true))
        .attr("enable_logging", Expr::Bool(true))
        .attr("kms_key_id", ctx.key_arn(&s.region))
        .attr("cloud_watch_logs_group_arn", Expr::suffixed(Expr::tf("aws_cloudwatch_log_group", &group, "arn"), ":*"))
        .attr("cloud_watch_logs_role_arn", Expr::tf("aws_iam_role", &group, "arn"))
        .attr("sns_topic_name", Expr::tf("aws_sns_topic", &group, "arn"))
        .block(
            Block::new("advanced_event_selector", &[]).attr("name", Expr::str("Management events")).block(
                Block::new("field_selector", &[])
                    .attr("field", Expr::str("eventCategory"))
                    .attr("equals", Expr::strs(["Management"])),
            ),
        );
    if !data_buckets.is_empty() {
        t = t.block(
            Block::new("advanced_event_selector", &[])
                .attr("name", Expr::str("Reads and writes of model and data set objects"))
                .block(
                    Block::new("field_selector", &[])
                        .attr("field", Expr::str("eventCategory"))
                        .attr("equals", Expr::strs(["Data"])),
                )
                .block(
                    Block::new("field_selector", &[])
                        .attr("field", Expr::str("resources.type"))
                        .attr("equals", Expr::strs(["AWS::S3::Object"])),
                )
                .block(Block::new("field_selector", &[]).attr("field", Expr::str("resources.ARN")).attr(
                    "starts_with",
                    Expr::List(
                        data_buckets.iter().map(|b| Expr::suffixed(Expr::tf("aws_s3_bucket", b, "arn"), "/")).collect(),
                    ),
                )),
        );
    }
    f.blocks.push(t.attr("tags", tags(&addr)).attr(
        "depends_on",
        Expr::List(vec![
            Expr::tf_resource("aws_s3_bucket_policy", store_id),
            Expr::tf_resource("aws_sns_topic_policy", &group),
        ]),
    ));
    f.outputs.push(output(
        "audit_trail_arn",
        &format!("CloudTrail trail of {addr}"),
        Expr::tf("aws_cloudtrail", id, "arn"),
    ));
    f.outputs.push(output(
        "audit_log_group",
        &format!("CloudWatch log group with the {addr} trail"),
        Expr::tf("aws_cloudwatch_log_group", &group, "name"),
    ));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_retention_rounds_up_to_an_allowed_value() {
        assert_eq!(log_retention(365), 365);
        assert_eq!(log_retention(366), 400);
        assert_eq!(log_retention(400), 400);
        assert_eq!(log_retention(2), 3);
        assert_eq!(log_retention(5000), 3653);
    }
}
