//! `dr_<ident>.tf`: disaster recovery into the secondary region.
//!
//! Takes: a dr declaration and the [`Ctx`] (the secondary region's provider alias, KMS key
//! and log bucket; the CDNs reading a replicated bucket). Gives: for `replicate`, a replica
//! bucket per S3 storage in the secondary region, hardened like its source, with S3
//! replication (Replication Time Control: 15 minutes, delete markers, SSE-KMS objects) and
//! the IAM role it runs as; for `backup`, an AWS Backup vault (KMS) and plan whose schedule
//! follows `every`, whose recovery points expire after `retain` and are copied to a vault in
//! the secondary region, a selection of the targets' ARNs and the IAM role it runs as; for
//! automatic `failover`, a Route 53 health check on the primary endpoint and PRIMARY and
//! SECONDARY failover alias records.

use super::bucket::{self, Bucket, Lifecycle, Name, Skips, Sse};
use super::ctx::{account, fit, format, io_name, output, partition, raw, resource, tags, variable, Ctx, TfFile};
use super::policy::{document, Statement};
use super::storage::{cdn_distributions, cloudfront_read};
use crate::emit::hcl::{Block, Expr};
use crate::ir::{Backend, Dr, Encryption};

/// `90s`, `15m`, `6h`, `35d`: the largest unit that divides the duration.
pub fn duration(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Largest number of hours dividing a day, at most `hours` (so a schedule never backs up
/// less often than declared).
fn hour_step(hours: u64) -> u64 {
    (1..=hours.clamp(1, 24)).rev().find(|h| 24 % h == 0).unwrap_or(1)
}

/// An AWS Backup schedule that runs at least every `every_s` seconds, and a note when the
/// interval had to be shortened to one cron can express.
pub fn backup_schedule(every_s: u64) -> (String, Option<String>) {
    const DAY: u64 = 86_400;
    if every_s >= DAY && every_s % DAY == 0 {
        return match every_s / DAY {
            1 => ("cron(0 0 * * ? *)".into(), None),
            7 => ("cron(0 0 ? * SUN *)".into(), None),
            d @ 2..=28 => {
                (format!("cron(0 0 1/{d} * ? *)"), Some(format!("Every {d} days, counted from the 1st of each month.")))
            }
            d => {
                ("cron(0 0 1 * ? *)".into(), Some(format!("Monthly on the 1st: cron cannot count {d}-day intervals.")))
            }
        };
    }
    if every_s >= DAY {
        return ("cron(0 0 * * ? *)".into(), Some(format!("Daily: cron cannot express every {}.", duration(every_s))));
    }
    let hours = (every_s / 3600).max(1);
    let step = hour_step(hours);
    let note = (step * 3600 != every_s).then(|| {
        format!(
            "Every {step}h: the declared interval of {} is shortened to one that divides a day (backups run at least as often).",
            duration(every_s)
        )
    });
    (format!("cron(0 0/{step} * * ? *)"), note)
}

pub fn file(ctx: &Ctx, d: usize, dr: &Dr) -> Option<TfFile> {
    let replicated: Vec<usize> = ctx.replicated.iter().filter(|(_, dd)| **dd == d).map(|(s, _)| *s).collect();
    if replicated.is_empty() && dr.backup.is_none() && dr.failover.is_none() {
        return None;
    }
    let addr = dr.meta.full_address();
    let mut f = TfFile::new(
        &format!("dr_{}.tf", dr.meta.ident),
        &format!(
            "{addr}: recovery from {} into {} (RPO {}, RTO {}): S3 replication, AWS Backup and Route 53 failover.",
            dr.primary,
            dr.secondary,
            duration(dr.rpo_s),
            duration(dr.rto_s)
        ),
        vec![addr.clone()],
    );
    if !replicated.is_empty() {
        replication(ctx, dr, &replicated, &mut f);
    }
    if dr.backup.is_some() {
        backup(ctx, dr, &mut f);
    }
    if dr.failover.is_some() {
        failover(ctx, dr, &mut f);
    }
    Some(f)
}

fn replication(ctx: &Ctx, dr: &Dr, sources: &[usize], f: &mut TfFile) {
    let s = ctx.s;
    let addr = dr.meta.full_address();
    let id = &dr.meta.ident;
    let provider = ctx.provider(&dr.secondary);
    let role = format!("{id}_replication");
    let mut read_buckets = Vec::new();
    let mut read_objects = Vec::new();
    let mut write_objects = Vec::new();
    let mut kms_sources = false;
    let mut aws_managed_sources = false;
    for &i in sources {
        let (Some(st), Some(replica)) = (ctx.storage(i), ctx.replicas.get(&i)) else { continue };
        let src = &st.meta.ident;
        f.source(st.meta.full_address());
        kms_sources |= st.encryption == Encryption::Kms;
        aws_managed_sources |= st.encryption == Encryption::AwsManaged;
        let (transitions, notes) = bucket::transitions(&st.lifecycle);
        let audit = ctx.audit.as_ref().filter(|a| a.store == i);
        let expire_days = audit.map(|a| bucket::audit_expiry(a.retain_days, &transitions).0);
        let mut statements = Vec::new();
        let distributions = cdn_distributions(ctx, i, f);
        if !distributions.is_empty() {
            statements
                .push(cloudfront_read(Expr::suffixed(Expr::tf("aws_s3_bucket", replica, "arn"), "/*"), distributions));
        }
        let mut skips = Skips::default();
        skips.bucket.push((
            "CKV_AWS_144",
            format!("this bucket is the {} replica of {} for {addr}", dr.secondary, st.meta.full_address()),
        ));
        skips.bucket.push(("CKV2_AWS_62", "the stack declares no consumer of S3 event notifications".into()));
        let name = match &st.bucket {
            Some(n) => Name::Fixed(fit(&format!("{n}-{}", crate::ir::lower::dns_name(&dr.secondary)), 63)),
            None => Name::Prefix(format!("{}-", fit(&format!("{}-{}-replica", ctx.label, st.meta.name), 36))),
        };
        let b = Bucket {
            tf: replica.clone(),
            name,
            provider: provider.clone(),
            declaration: addr.clone(),
            versioned: true,
            versioning_note: None,
            sse: Sse::Key(ctx.key_arn(&dr.secondary)),
            acls: false,
            log_to: Some((ctx.log_bucket(&dr.secondary), format!("s3/{}-replica/", st.meta.name))),
            lifecycle: Lifecycle { transitions, noncurrent: true, expire_days, noncurrent_expire_days: None, notes },
            statements,
            public: false,
            skips,
        };
        f.blocks.extend(b.blocks());
        f.blocks.push(
            resource("aws_s3_bucket_replication_configuration", src, &None)
                .attr("role", Expr::tf("aws_iam_role", &role, "arn"))
                .attr("bucket", Expr::tf("aws_s3_bucket", src, "id"))
                .block(
                    Block::new("rule", &[])
                        .attr("id", Expr::str(fit(&format!("to-{}", crate::ir::lower::dns_name(&dr.secondary)), 255)))
                        .attr("status", Expr::str("Enabled"))
                        .block(Block::new("filter", &[]))
                        .block(Block::new("delete_marker_replication", &[]).attr("status", Expr::str("Enabled")))
                        .block(
                            Block::new("source_selection_criteria", &[]).block(
                                Block::new("sse_kms_encrypted_objects", &[]).attr("status", Expr::str("Enabled")),
                            ),
                        )
                        .block(
                            Block::new("destination", &[])
                                .attr("bucket", Expr::tf("aws_s3_bucket", replica, "arn"))
                                .attr("storage_class", Expr::str("STANDARD"))
                                .block(
                                    Block::new("encryption_configuration", &[])
                                        .attr("replica_kms_key_id", ctx.key_arn(&dr.secondary)),
                                )
                                .block(
                                    Block::new("replication_time", &[])
                                        .attr("status", Expr::str("Enabled"))
                                        .block(Block::new("time", &[]).attr("minutes", Expr::Int(15))),
                                )
                                .block(
                                    Block::new("metrics", &[])
                                        .attr("status", Expr::str("Enabled"))
                                        .block(Block::new("event_threshold", &[]).attr("minutes", Expr::Int(15))),
                                ),
                        ),
                )
                .attr(
                    "depends_on",
                    Expr::List(vec![
                        Expr::tf_resource("aws_s3_bucket_versioning", src),
                        Expr::tf_resource("aws_s3_bucket_versioning", replica),
                    ]),
                ),
        );
        read_buckets.push(Expr::tf("aws_s3_bucket", src, "arn"));
        read_objects.push(Expr::suffixed(Expr::tf("aws_s3_bucket", src, "arn"), "/*"));
        write_objects.push(Expr::suffixed(Expr::tf("aws_s3_bucket", replica, "arn"), "/*"));
        f.outputs.push(output(
            &io_name(&dr.meta, &format!("{}_replica_bucket", st.meta.ident)),
            &format!("Bucket name of the {} replica of {}", dr.secondary, st.meta.full_address()),
            Expr::tf("aws_s3_bucket", replica, "bucket"),
        ));
    }
    f.blocks.push(
        resource("aws_iam_role", &role, &None)
            .attr("name", Expr::str(ctx.name(&[&dr.meta.name, "replication"], 64)))
            .attr("description", Expr::str(format!("S3 replication for {addr}")))
            .attr(
                "assume_role_policy",
                document(&[Statement::allow("S3AssumeRole")
                    .service("s3.amazonaws.com")
                    .actions(&["sts:AssumeRole"])
                    .condition("StringEquals", "aws:SourceAccount", account())]),
            )
            .attr("tags", tags(&addr)),
    );
    let mut read_config =
        Statement::allow("ReadReplicationConfiguration").actions(&["s3:GetReplicationConfiguration", "s3:ListBucket"]);
    for b in read_buckets {
        read_config = read_config.resource(b);
    }
    let mut read_versions = Statement::allow("ReadSourceVersions").actions(&[
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
    ]);
    for o in read_objects {
        read_versions = read_versions.resource(o);
    }
    let mut write =
        Statement::allow("WriteReplicas").actions(&["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]);
    for o in write_objects {
        write = write.resource(o);
    }
    let mut statements = vec![read_config, read_versions, write];
    if kms_sources || aws_managed_sources {
        let mut decrypt = Statement::allow("DecryptSourceObjects").actions(&["kms:Decrypt"]);
        if kms_sources {
            decrypt = decrypt.resource(ctx.key_arn(&s.region));
        }
        if aws_managed_sources {
            decrypt =
                decrypt.resource(format("arn:%s:kms:%s:%s:key/*", vec![partition(), Expr::str(&s.region), account()]));
        }
        statements.push(decrypt.condition(
            "StringLike",
            "kms:ViaService",
            Expr::str(format!("s3.{}.amazonaws.com", s.region)),
        ));
    }
    statements.push(
        Statement::allow("EncryptReplicas")
            .actions(&["kms:Encrypt", "kms:GenerateDataKey"])
            .resource(ctx.key_arn(&dr.secondary))
            .condition("StringLike", "kms:ViaService", Expr::str(format!("s3.{}.amazonaws.com", dr.secondary))),
    );
    f.blocks.push(
        resource("aws_iam_role_policy", &role, &None)
            .attr("name", Expr::str("s3-replication"))
            .attr("role", Expr::tf("aws_iam_role", &role, "id"))
            .attr("policy", document(&statements)),
    );
}

fn backup(ctx: &Ctx, dr: &Dr, f: &mut TfFile) {
    let Some(b) = &dr.backup else { return };
    let s = ctx.s;
    let addr = dr.meta.full_address();
    let id = &dr.meta.ident;
    let role = format!("{id}_backup");
    let copy = ctx.region(&dr.secondary).map(|_| format!("{id}_copy"));
    let vault_name = ctx.name(&[&dr.meta.name], 50);
    f.blocks.push(
        resource("aws_backup_vault", id, &None)
            .attr("name", Expr::str(&vault_name))
            .attr("kms_key_arn", ctx.key_arn(&s.region))
            .attr("tags", tags(&addr)),
    );
    if let Some(copy) = &copy {
        f.blocks.push(
            resource("aws_backup_vault", copy, &ctx.provider(&dr.secondary))
                .attr("name", Expr::str(&vault_name))
                .attr("kms_key_arn", ctx.key_arn(&dr.secondary))
                .attr("tags", tags(&addr)),
        );
    }
    let (schedule, note) = backup_schedule(b.every_s);
    let retain = b.retain_days.max(1) as i64;
    let mut rule = Block::new("rule", &[]);
    if let Some(n) = note {
        rule = rule.comment(&n);
    }
    rule = rule
        .attr("rule_name", Expr::str(fit(&format!("{}-every-{}", dr.meta.name, duration(b.every_s)), 50)))
        .attr("target_vault_name", Expr::tf("aws_backup_vault", id, "name"))
        .attr("schedule", Expr::str(schedule))
        .attr("start_window", Expr::Int(60))
        .attr("completion_window", Expr::Int(180))
        .block(Block::new("lifecycle", &[]).attr("delete_after", Expr::Int(retain)));
    if let Some(copy) = &copy {
        rule = rule.block(
            Block::new("copy_action", &[])
                .attr("destination_vault_arn", Expr::tf("aws_backup_vault", copy, "arn"))
                .block(Block::new("lifecycle", &[]).attr("delete_after", Expr::Int(retain))),
        );
    }
    f.blocks.push(
        resource("aws_backup_plan", id, &None)
            .attr("name", Expr::str(&vault_name))
            .block(rule)
            .attr("tags", tags(&addr)),
    );

    let mut arns = Vec::new();
    let mut skipped = Vec::new();
    let mut s3 = false;
    for &t in &b.targets {
        let Some(st) = ctx.storage(t) else { continue };
        f.source(st.meta.full_address());
        let ident = &st.meta.ident;
        match st.backend {
            Backend::S3 => {
                s3 = true;
                arns.push(Expr::tf("aws_s3_bucket", ident, "arn"));
            }
            Backend::Efs => arns.push(Expr::tf("aws_efs_file_system", ident, "arn")),
            Backend::FsxLustre => arns.push(Expr::tf("aws_fsx_lustre_file_system", ident, "arn")),
            Backend::Nvme => skipped.push(st.meta.full_address()),
        }
    }
    f.blocks.push(
        resource("aws_iam_role", &role, &None)
            .attr("name", Expr::str(ctx.name(&[&dr.meta.name, "backup"], 64)))
            .attr("description", Expr::str(format!("AWS Backup for {addr}")))
            .attr(
                "assume_role_policy",
                document(&[Statement::allow("BackupAssumeRole")
                    .service("backup.amazonaws.com")
                    .actions(&["sts:AssumeRole"])
                    .condition("StringEquals", "aws:SourceAccount", account())]),
            )
            .attr("tags", tags(&addr)),
    );
    let mut policies =
        vec!["service-role/AWSBackupServiceRolePolicyForBackup", "service-role/AWSBackupServiceRolePolicyForRestores"];
    if s3 {
        policies.extend(["AWSBackupServiceRolePolicyForS3Backup", "AWSBackupServiceRolePolicyForS3Restore"]);
    }
    f.blocks.push(
        resource("aws_iam_role_policy_attachment", &role, &None)
            .attr("for_each", Expr::call("toset", vec![Expr::strs(policies)]))
            .attr("role", Expr::tf("aws_iam_role", &role, "name"))
            .attr(
                "policy_arn",
                Expr::Template(vec![Expr::str("arn:"), partition(), Expr::str(":iam::aws:policy/"), raw("each.value")]),
            ),
    );
    let mut sel = resource("aws_backup_selection", id, &None);
    for a in &skipped {
        sel = sel.comment(&format!("{a} is a node-local NVMe cache: there is nothing for AWS Backup to copy."));
    }
    if !arns.is_empty() {
        f.blocks.push(
            sel.attr("name", Expr::str(ctx.name(&[&dr.meta.name], 50)))
                .attr("plan_id", Expr::tf("aws_backup_plan", id, "id"))
                .attr("iam_role_arn", Expr::tf("aws_iam_role", &role, "arn"))
                .attr("resources", Expr::List(arns)),
        );
    }
    f.outputs.push(output(
        &io_name(&dr.meta, "backup_vault"),
        &format!("AWS Backup vault of {addr}"),
        Expr::tf("aws_backup_vault", id, "name"),
    ));
}

fn failover(ctx: &Ctx, dr: &Dr, f: &mut TfFile) {
    let Some((service, threshold)) = dr.failover else { return };
    let s = ctx.s;
    let addr = dr.meta.full_address();
    let id = &dr.meta.ident;
    let svc = service.and_then(|i| s.services.get(i));
    if let Some(svc) = svc {
        f.source(svc.meta.full_address());
    }
    let zone = io_name(&dr.meta, "route53_zone_id");
    let primary = io_name(&dr.meta, "primary_endpoint");
    let secondary = io_name(&dr.meta, "secondary_endpoint");
    let what = svc.map_or_else(|| "the service".to_string(), |v| v.meta.full_address());
    let hostname = match svc.and_then(|v| v.hostname.clone()) {
        Some(h) => Expr::str(h),
        None => {
            let var = io_name(&dr.meta, "hostname");
            f.variables.push(variable(
                &var,
                "string",
                &format!(
                    "Public DNS name clients use for {what}; Route 53 fails it over from {} to {}.",
                    dr.primary, dr.secondary
                ),
            ));
            Expr::var(&var)
        }
    };
    f.variables.push(variable(
        &zone,
        "string",
        &format!("Route 53 hosted zone that holds the failover records of {addr}."),
    ));
    let endpoint = "object({ dns_name = string, zone_id = string })";
    f.variables.push(variable(
        &primary,
        endpoint,
        &format!("Load balancer of {what} in {} (DNS name and hosted zone id): the PRIMARY alias target and the health-checked endpoint.", dr.primary),
    ));
    f.variables.push(variable(
        &secondary,
        endpoint,
        &format!(
            "Load balancer of {what} in {} (DNS name and hosted zone id): the SECONDARY alias target.",
            dr.secondary
        ),
    ));
    let threshold = threshold.clamp(1, 10);
    // The engine's own readiness endpoint (Triton serves /v2/health/ready, not /health).
    let health_path = match svc.map(|s| s.engine) {
        Some(crate::ir::Engine::Triton) => "/v2/health/ready",
        _ => "/health",
    };
    f.blocks.push(
        resource("aws_route53_health_check", id, &None)
            .attr("fqdn", Expr::var(format!("{primary}.dns_name")))
            .attr("port", Expr::Int(443))
            .attr("type", Expr::str("HTTPS"))
            .attr("resource_path", Expr::str(health_path))
            .attr("failure_threshold", Expr::Int(threshold as i64))
            .attr("request_interval", Expr::Int(30))
            .attr(
                "tags",
                Expr::Object(vec![
                    ("Name".into(), Expr::str(ctx.name(&[&dr.meta.name, "primary"], 255))),
                    ("aistack-declaration".into(), Expr::str(&addr)),
                ]),
            ),
    );
    for (role, region, var) in [("PRIMARY", &dr.primary, &primary), ("SECONDARY", &dr.secondary, &secondary)] {
        let lower = role.to_lowercase();
        let mut r = resource("aws_route53_record", &format!("{id}_{lower}"), &None);
        r = r
            .comment(&super::ctx::skip(
                "CKV2_AWS_23",
                "the alias target is the load balancer the AWS Load Balancer Controller creates for the service, not a resource of this configuration",
            ))
            .attr("zone_id", Expr::var(&zone))
            .attr("name", hostname.clone())
            .attr("type", Expr::str("A"))
            .attr("set_identifier", Expr::str(format!("{lower}-{region}")));
        if role == "PRIMARY" {
            r = r.attr("health_check_id", Expr::tf("aws_route53_health_check", id, "id"));
        }
        f.blocks.push(
            r.block(Block::new("failover_routing_policy", &[]).attr("type", Expr::str(role))).block(
                Block::new("alias", &[])
                    .attr("name", Expr::var(format!("{var}.dns_name")))
                    .attr("zone_id", Expr::var(format!("{var}.zone_id")))
                    .attr("evaluate_target_health", Expr::Bool(true)),
            ),
        );
    }
    f.outputs.push(output(
        &io_name(&dr.meta, "health_check_id"),
        &format!("Route 53 health check of the primary endpoint of {addr}"),
        Expr::tf("aws_route53_health_check", id, "id"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_unit() {
        assert_eq!(duration(900), "15m");
        assert_eq!(duration(21_600), "6h");
        assert_eq!(duration(35 * 86_400), "35d");
        assert_eq!(duration(90), "90s");
    }

    #[test]
    fn schedules_follow_the_interval() {
        assert_eq!(backup_schedule(6 * 3600), ("cron(0 0/6 * * ? *)".to_string(), None));
        assert_eq!(backup_schedule(3600).0, "cron(0 0/1 * * ? *)");
        assert_eq!(backup_schedule(12 * 3600).0, "cron(0 0/12 * * ? *)");
        assert_eq!(backup_schedule(86_400), ("cron(0 0 * * ? *)".to_string(), None));
        assert_eq!(backup_schedule(7 * 86_400).0, "cron(0 0 ? * SUN *)");
    }

    #[test]
    fn schedules_never_run_less_often_than_declared() {
        let (cron, note) = backup_schedule(5 * 3600);
        assert_eq!(cron, "cron(0 0/4 * * ? *)");
        assert!(note.is_some());
        assert_eq!(backup_schedule(90 * 60).0, "cron(0 0/1 * * ? *)");
        assert_eq!(backup_schedule(36 * 3600).0, "cron(0 0 * * ? *)");
        assert_eq!(backup_schedule(3 * 86_400).0, "cron(0 0 1/3 * ? *)");
    }
}
