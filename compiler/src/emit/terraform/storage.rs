//! `storage_<ident>.tf` for each storage, and `logging.tf` for the stack's log buckets.
//!
//! Takes: the storages of the IR and the [`Ctx`] (who replicates, backs up, fronts or audits
//! into each one). Gives: for `s3`, a hardened bucket (see [`bucket`](super::bucket)) whose
//! lifecycle follows the declared tiers and whose policy also lets in the CDNs, CloudTrail or
//! (when declared public without a CDN) everyone for reads; for `fsx_lustre`, a PERSISTENT_2
//! file system with its capacity rounded up to a size FSx accepts; for `efs`, an encrypted
//! elastic file system with a mount target per subnet and a TLS-only file-system policy.
//! `nvme` caches are node-local and have no Terraform side. `logging.tf` holds the S3
//! server-access-log bucket of each region with buckets and, with cdns, the CloudFront
//! standard-log bucket.

use super::bucket::{self, Bucket, Lifecycle, Name, Skips, Sse};
use super::ctx::{account, fit, format, io_name, output, raw, resource, skip, tags, variable, Ctx, TfFile};
use super::policy::{document, Principal, Statement};
use crate::emit::hcl::{Block, Expr};
use crate::ir::{Backend, Encryption, Storage, Tier};

const GIB: f64 = (1u64 << 30) as f64;
/// Access logs are kept at least this long (longer when the audit trail is kept longer).
const ACCESS_LOG_DAYS: u64 = 365;

pub const SUBNETS_VAR: &str = "private_subnet_ids";
pub const STORAGE_SG_VAR: &str = "storage_security_group_ids";

pub fn subnets_variable() -> Block {
    variable(
        SUBNETS_VAR,
        "map(string)",
        "Private subnet of each availability zone the stack uses, keyed by zone name (e.g. { \"us-east-1a\" = \"subnet-…\" }). EFS gets a mount target in each, FSx for Lustre lives in the first, node groups use the zones their pool names.",
    )
}

fn security_groups_variable() -> Block {
    variable(
        STORAGE_SG_VAR,
        "list(string)",
        "Security groups for EFS mount targets and FSx for Lustre: allow NFS (TCP 2049) and Lustre (TCP 988, 1018-1023) from the cluster's nodes.",
    )
}

pub fn file(ctx: &Ctx, i: usize, st: &Storage) -> Option<TfFile> {
    match st.backend {
        Backend::S3 => Some(s3(ctx, i, st)),
        Backend::FsxLustre => Some(fsx(ctx, st)),
        Backend::Efs => Some(efs(ctx, i, st)),
        Backend::Nvme => None,
    }
}

fn s3(ctx: &Ctx, i: usize, st: &Storage) -> TfFile {
    let s = ctx.s;
    let addr = st.meta.full_address();
    let id = &st.meta.ident;
    let mut f = TfFile::new(
        &format!("storage_{id}.tf"),
        &format!("{addr}: S3 bucket, encrypted, private, logged, with lifecycle rules for its tiers."),
        vec![addr.clone()],
    );
    let dr = ctx.replicated.get(&i).and_then(|d| s.drs.get(*d));
    let backup = ctx.backed_up.get(&i).and_then(|d| s.drs.get(*d));
    let versioned = st.versioned || dr.is_some() || backup.is_some();
    for d in dr.iter().chain(backup.iter()) {
        f.source(d.meta.full_address());
    }
    let versioning_note = match (st.versioned, dr, backup) {
        (true, _, _) => None,
        (false, Some(d), _) => Some(format!(
            "Versioning is on although {addr} declares versioned = false: S3 replication for {} needs it.",
            d.meta.full_address()
        )),
        (false, None, Some(d)) => Some(format!(
            "Versioning is on although {addr} declares versioned = false: AWS Backup for {} needs it.",
            d.meta.full_address()
        )),
        _ => None,
    };
    let mut skips = Skips::default();
    if dr.is_none() {
        skips.bucket.push(("CKV_AWS_144", format!("{addr} is not in the replicate list of any dr declaration")));
    }
    skips.bucket.push(("CKV2_AWS_62", "the stack declares no consumer of S3 event notifications".into()));
    if !versioned {
        skips.bucket.push(("CKV_AWS_21", format!("{addr} declares versioned = false")));
    }
    let sse = match st.encryption {
        Encryption::Kms => Sse::Key(ctx.key_arn(&s.region)),
        Encryption::AwsManaged => Sse::AwsManaged,
        Encryption::Off => {
            skips.bucket.push(("CKV_AWS_145", format!("{addr} declares encryption = off; S3 still applies SSE-S3")));
            Sse::S3Managed
        }
    };

    let arn = Expr::tf("aws_s3_bucket", id, "arn");
    let objects = Expr::suffixed(Expr::tf("aws_s3_bucket", id, "arn"), "/*");
    let mut statements = Vec::new();
    let distributions = cdn_distributions(ctx, i, &mut f);
    let fronted = !distributions.is_empty();
    if fronted {
        statements.push(cloudfront_read(objects.clone(), distributions));
    }
    let audit = ctx.audit.as_ref().filter(|a| a.store == i);
    if audit.is_some() {
        if let Some(p) = &s.policy {
            f.source(p.meta.full_address());
        }
        let trail = super::audit::trail_arn(ctx);
        statements.push(
            Statement::allow("AllowCloudTrailAclCheck")
                .service("cloudtrail.amazonaws.com")
                .actions(&["s3:GetBucketAcl"])
                .resource(arn.clone())
                .condition("StringEquals", "aws:SourceArn", trail.clone()),
        );
        statements.push(
            Statement::allow("AllowCloudTrailWrite")
                .service("cloudtrail.amazonaws.com")
                .actions(&["s3:PutObject"])
                .resource(format("%s/AWSLogs/%s/*", vec![arn, account()]))
                .condition("StringEquals", "s3:x-amz-acl", Expr::str("bucket-owner-full-control"))
                .condition("StringEquals", "aws:SourceArn", trail),
        );
    }
    // Declared public behind a cdn: public through the CDN only, the bucket stays private.
    let public = st.public && !fronted;
    if public {
        let why = format!("{addr} declares public = true and no cdn fronts it");
        skips.bucket.push(("CKV2_AWS_6", why.clone()));
        skips.public_access.push(("CKV_AWS_54", why.clone()));
        skips.public_access.push(("CKV_AWS_56", why.clone()));
        skips.policy.push(("CKV_AWS_70", why));
        statements.push(
            Statement::allow("AllowPublicRead").principal(Principal::Any).actions(&["s3:GetObject"]).resource(objects),
        );
    }

    let (transitions, mut notes) = bucket::transitions(&st.lifecycle);
    let expire_days = audit.map(|a| {
        let (days, note) = bucket::audit_expiry(a.retain_days, &transitions);
        notes.extend(note);
        days
    });
    let b = Bucket {
        tf: id.clone(),
        name: match &st.bucket {
            Some(n) => Name::Fixed(n.clone()),
            None => Name::Prefix(format!("{}-", fit(&format!("{}-{}", ctx.label, st.meta.name), 36))),
        },
        provider: None,
        declaration: addr.clone(),
        versioned,
        versioning_note,
        sse,
        acls: false,
        log_to: Some((ctx.access_logs.clone(), format!("s3/{}/", st.meta.name))),
        lifecycle: Lifecycle { transitions, noncurrent: true, expire_days, noncurrent_expire_days: None, notes },
        statements,
        public,
        skips,
    };
    f.blocks = b.blocks();
    let what = st.bucket.clone().map_or_else(|| addr.clone(), |n| format!("{addr} ({n})"));
    f.outputs.push(output(
        &io_name(&st.meta, "bucket"),
        &format!("Bucket name of {what}"),
        Expr::tf("aws_s3_bucket", id, "bucket"),
    ));
    f.outputs.push(output(
        &io_name(&st.meta, "bucket_arn"),
        &format!("Bucket ARN of {addr}"),
        Expr::tf("aws_s3_bucket", id, "arn"),
    ));
    f
}

/// Lets the given distributions read objects through origin access control.
/// ARNs of the CloudFront distributions whose origin is storage `i` (recorded as sources).
pub fn cdn_distributions(ctx: &Ctx, i: usize, f: &mut TfFile) -> Vec<Expr> {
    ctx.cdn_origins
        .get(&i)
        .into_iter()
        .flatten()
        .filter_map(|c| ctx.s.cdns.get(*c))
        .map(|c| {
            f.source(c.meta.full_address());
            Expr::tf("aws_cloudfront_distribution", &c.meta.ident, "arn")
        })
        .collect()
}

pub fn cloudfront_read(objects: Expr, mut distributions: Vec<Expr>) -> Statement {
    let value = if distributions.len() == 1 { distributions.remove(0) } else { Expr::List(distributions) };
    Statement::allow("AllowCloudFrontRead")
        .service("cloudfront.amazonaws.com")
        .actions(&["s3:GetObject"])
        .resource(objects)
        .condition("StringEquals", "AWS:SourceArn", value)
}

/// FSx for Lustre PERSISTENT_2 (SSD) capacity in GiB: 1200, 2400 or a multiple of 2400,
/// rounded up from the declared size (1200 GiB when none is declared).
pub fn lustre_capacity_gib(size_bytes: Option<f64>) -> u64 {
    let gib = size_bytes.map_or(0.0, |b| (b / GIB).ceil()).max(0.0) as u64;
    match gib {
        0..=1200 => 1200,
        1201..=2400 => 2400,
        _ => gib.div_ceil(2400) * 2400,
    }
}

/// MB/s per TiB: hot storages get the fast tier, cold ones the cheapest.
fn lustre_throughput(tier: Tier) -> i64 {
    match tier {
        Tier::Hot => 500,
        Tier::Warm => 250,
        Tier::Cold | Tier::Archive => 125,
    }
}

fn fsx(ctx: &Ctx, st: &Storage) -> TfFile {
    let s = ctx.s;
    let addr = st.meta.full_address();
    let id = &st.meta.ident;
    let mut f = TfFile::new(
        &format!("storage_{id}.tf"),
        &format!("{addr}: FSx for Lustre file system (PERSISTENT_2, SSD)."),
        vec![addr.clone()],
    );
    let capacity = lustre_capacity_gib(st.size_bytes);
    let mut b = resource("aws_fsx_lustre_file_system", id, &None);
    match st.encryption {
        Encryption::Kms => {}
        Encryption::AwsManaged => {
            b = b.comment(&skip("CKV_AWS_190", &format!("{addr} declares encryption = aws_managed (the aws/fsx key)")))
        }
        Encryption::Off => {
            b = b.comment(&skip(
                "CKV_AWS_190",
                &format!("{addr} declares encryption = off; FSx still encrypts with the aws/fsx key"),
            ))
        }
    }
    match st.size_bytes {
        Some(bytes) if (bytes / GIB - capacity as f64).abs() > 0.5 => {
            b = b.comment(&format!(
                "{addr} asks for {:.1} GiB; PERSISTENT_2 capacity is 1200, 2400 or a multiple of 2400 GiB.",
                bytes / GIB
            ))
        }
        None => b = b.comment(&format!("{addr} declares no size: the smallest PERSISTENT_2 file system.")),
        _ => {}
    }
    b = b
        .attr("deployment_type", Expr::str("PERSISTENT_2"))
        .attr("storage_type", Expr::str("SSD"))
        .attr("storage_capacity", Expr::Int(capacity as i64))
        .attr("per_unit_storage_throughput", Expr::Int(lustre_throughput(st.tier)))
        .attr("file_system_type_version", Expr::str("2.15"))
        .attr("data_compression_type", Expr::str("LZ4"))
        .attr("subnet_ids", Expr::List(vec![raw(format!("values(var.{SUBNETS_VAR})[0]"))]))
        .attr("security_group_ids", Expr::var(STORAGE_SG_VAR));
    if st.encryption == Encryption::Kms {
        b = b.attr("kms_key_id", ctx.key_arn(&s.region));
    }
    b = b
        .attr("copy_tags_to_backups", Expr::Bool(true))
        .block(Block::new("log_configuration", &[]).attr("level", Expr::str("WARN_ERROR")))
        .attr("tags", tags(&addr));
    f.blocks.push(b);
    f.variables.push(subnets_variable());
    f.variables.push(security_groups_variable());
    f.outputs.push(output(
        &io_name(&st.meta, "dns_name"),
        &format!("DNS name of the {addr} file system"),
        Expr::tf("aws_fsx_lustre_file_system", id, "dns_name"),
    ));
    f.outputs.push(output(
        &io_name(&st.meta, "mount_name"),
        &format!("Lustre mount name of {addr}"),
        Expr::tf("aws_fsx_lustre_file_system", id, "mount_name"),
    ));
    f
}

/// EFS lifecycle values: the smallest allowed `AFTER_<n>_DAYS` at or after `days`.
pub fn efs_after(days: u64) -> &'static str {
    const STEPS: &[(u64, &str)] = &[
        (1, "AFTER_1_DAY"),
        (7, "AFTER_7_DAYS"),
        (14, "AFTER_14_DAYS"),
        (30, "AFTER_30_DAYS"),
        (60, "AFTER_60_DAYS"),
        (90, "AFTER_90_DAYS"),
        (180, "AFTER_180_DAYS"),
        (270, "AFTER_270_DAYS"),
        (365, "AFTER_365_DAYS"),
    ];
    STEPS.iter().find(|(d, _)| *d >= days).map_or("AFTER_365_DAYS", |(_, v)| v)
}

fn efs(ctx: &Ctx, i: usize, st: &Storage) -> TfFile {
    let s = ctx.s;
    let addr = st.meta.full_address();
    let id = &st.meta.ident;
    let mut f = TfFile::new(
        &format!("storage_{id}.tf"),
        &format!("{addr}: EFS file system (elastic throughput), a mount target per subnet, TLS-only policy."),
        vec![addr.clone()],
    );
    let mut b = resource("aws_efs_file_system", id, &None);
    if !ctx.backed_up.contains_key(&i) {
        b = b.comment(&skip("CKV2_AWS_18", &format!("{addr} is not a backup target of any dr declaration")));
    }
    match st.encryption {
        Encryption::Kms => {}
        Encryption::AwsManaged => {
            b = b.comment(&skip(
                "CKV_AWS_184",
                &format!("{addr} declares encryption = aws_managed (the aws/elasticfilesystem key)"),
            ))
        }
        Encryption::Off => {
            b = b
                .comment(&skip("CKV_AWS_42", &format!("{addr} declares encryption = off")))
                .comment(&skip("CKV_AWS_184", &format!("{addr} declares encryption = off")))
        }
    }
    b = b
        .attr("creation_token", Expr::str(ctx.name(&[&st.meta.name], 64)))
        .attr("encrypted", Expr::Bool(st.encryption != Encryption::Off));
    if st.encryption == Encryption::Kms {
        b = b.attr("kms_key_id", ctx.key_arn(&s.region));
    }
    b = b.attr("performance_mode", Expr::str("generalPurpose")).attr("throughput_mode", Expr::str("elastic"));
    let mut ia = None;
    let mut archive = None;
    for (days, tier) in &st.lifecycle {
        match tier {
            Tier::Warm | Tier::Cold if ia.is_none() => ia = Some(*days),
            Tier::Archive if archive.is_none() => archive = Some(*days),
            _ => {}
        }
    }
    if let Some(d) = ia {
        b = b.block(Block::new("lifecycle_policy", &[]).attr("transition_to_ia", Expr::str(efs_after(d))));
    }
    if let Some(d) = archive {
        b = b.block(Block::new("lifecycle_policy", &[]).attr("transition_to_archive", Expr::str(efs_after(d))));
    }
    if ia.is_some() || archive.is_some() {
        b = b.block(
            Block::new("lifecycle_policy", &[])
                .attr("transition_to_primary_storage_class", Expr::str("AFTER_1_ACCESS")),
        );
    }
    f.blocks.push(b.attr("tags", tags(&addr)));
    f.blocks.push(
        resource("aws_efs_mount_target", id, &None)
            .attr("for_each", Expr::var(SUBNETS_VAR))
            .attr("file_system_id", Expr::tf("aws_efs_file_system", id, "id"))
            .attr("subnet_id", raw("each.value"))
            .attr("security_groups", Expr::var(STORAGE_SG_VAR)),
    );
    let fs = Expr::tf("aws_efs_file_system", id, "arn");
    f.blocks.push(
        resource("aws_efs_file_system_policy", id, &None)
            .attr("file_system_id", Expr::tf("aws_efs_file_system", id, "id"))
            .attr(
                "policy",
                document(&[
                    Statement::allow("AllowMountThroughMountTargets")
                        .principal(Principal::Aws(Expr::str("*")))
                        .actions(&["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"])
                        .resource(fs.clone())
                        .condition("Bool", "elasticfilesystem:AccessedViaMountTarget", Expr::str("true")),
                    Statement::deny("DenyInsecureTransport")
                        .principal(Principal::Aws(Expr::str("*")))
                        .actions(&["*"])
                        .resource(fs)
                        .condition("Bool", "aws:SecureTransport", Expr::str("false")),
                ]),
            ),
    );
    f.variables.push(subnets_variable());
    f.variables.push(security_groups_variable());
    f.outputs.push(output(
        &io_name(&st.meta, "file_system_id"),
        &format!("EFS file system id of {addr}"),
        Expr::tf("aws_efs_file_system", id, "id"),
    ));
    f
}

/// `logging.tf`: where S3 access logs (per region) and CloudFront standard logs go.
pub fn logging_file(ctx: &Ctx) -> TfFile {
    let s = ctx.s;
    let mut f = TfFile::new(
        "logging.tf",
        "Log buckets of the stack: S3 server access logs of every bucket in each region, and CloudFront standard logs.",
        vec![ctx.stack_addr.clone()],
    );
    let keep = ACCESS_LOG_DAYS.max(ctx.audit.as_ref().map_or(0, |a| a.retain_days));
    let mut targets: Vec<(String, Option<Expr>, String)> = vec![(ctx.access_logs.clone(), None, s.region.clone())];
    for r in &ctx.regions {
        if let Some(tf) = &r.log_bucket {
            targets.push((tf.clone(), ctx.provider(&r.name), r.name.clone()));
            for src in &r.sources {
                f.source(src.clone());
            }
        }
    }
    for (tf, provider, region) in targets {
        let mut skips = Skips::default();
        skips.bucket.push(("CKV_AWS_18", "this is the access-log target; logging it into itself would loop".into()));
        skips.bucket.push(("CKV_AWS_144", "access logs stay in the region of the buckets they describe".into()));
        skips.bucket.push(("CKV2_AWS_62", "the stack declares no consumer of S3 event notifications".into()));
        skips.bucket.push((
            "CKV_AWS_145",
            "S3 server access logging delivers only to buckets with SSE-S3 default encryption, not SSE-KMS".into(),
        ));
        let suffix =
            if region == s.region { String::new() } else { format!("-{}", crate::ir::lower::dns_name(&region)) };
        let b = Bucket {
            tf: tf.clone(),
            name: Name::Prefix(format!("{}-", fit(&format!("{}-access-logs{suffix}", ctx.label), 36))),
            provider,
            declaration: ctx.stack_addr.clone(),
            versioned: true,
            versioning_note: None,
            sse: Sse::S3Managed,
            acls: false,
            log_to: None,
            lifecycle: Lifecycle { expire_days: Some(keep), noncurrent_expire_days: Some(30), ..Lifecycle::default() },
            statements: vec![Statement::allow("AllowS3ServerAccessLogs")
                .service("logging.s3.amazonaws.com")
                .actions(&["s3:PutObject"])
                .resource(Expr::suffixed(Expr::tf("aws_s3_bucket", &tf, "arn"), "/*"))
                .condition("StringEquals", "aws:SourceAccount", account())],
            public: false,
            skips,
        };
        f.blocks.extend(b.blocks());
        let (name, what) = if region == s.region {
            ("access_log_bucket".to_string(), "Bucket that receives S3 server access logs".to_string())
        } else {
            (
                format!("access_log_bucket_{}", crate::ir::lower::tf_ident(&region)),
                format!("Bucket that receives S3 server access logs in {region}"),
            )
        };
        f.outputs.push(output(&name, &what, Expr::tf("aws_s3_bucket", &tf, "bucket")));
    }
    if let Some(tf) = &ctx.cdn_logs {
        for c in &s.cdns {
            f.source(c.meta.full_address());
        }
        let mut skips = Skips::default();
        skips.bucket.push(("CKV_AWS_144", "CloudFront logs are operational data kept in the home region".into()));
        skips.bucket.push(("CKV2_AWS_62", "the stack declares no consumer of S3 event notifications".into()));
        skips.ownership.push((
            "CKV2_AWS_65",
            "CloudFront standard logging delivers log files through a bucket ACL grant (awslogsdelivery); ACLs stay enabled on this log bucket only".into(),
        ));
        let b = Bucket {
            tf: tf.clone(),
            name: Name::Prefix(format!("{}-", fit(&format!("{}-cdn-logs", ctx.label), 36))),
            provider: None,
            declaration: ctx.stack_addr.clone(),
            versioned: true,
            versioning_note: None,
            sse: Sse::Key(ctx.key_arn(&s.region)),
            acls: true,
            log_to: Some((ctx.access_logs.clone(), "s3/cdn-logs/".into())),
            lifecycle: Lifecycle { expire_days: Some(keep), noncurrent_expire_days: Some(30), ..Lifecycle::default() },
            statements: Vec::new(),
            public: false,
            skips,
        };
        f.blocks.extend(b.blocks());
        f.outputs.push(output(
            "cdn_log_bucket",
            "Bucket that receives CloudFront standard logs",
            Expr::tf("aws_s3_bucket", tf, "bucket"),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lustre_capacity_rounds_up_to_valid_sizes() {
        let tib = 1024.0 * GIB;
        assert_eq!(lustre_capacity_gib(None), 1200);
        assert_eq!(lustre_capacity_gib(Some(100.0 * GIB)), 1200);
        assert_eq!(lustre_capacity_gib(Some(1200.0 * GIB)), 1200);
        assert_eq!(lustre_capacity_gib(Some(1.2 * tib)), 2400);
        assert_eq!(lustre_capacity_gib(Some(2400.0 * GIB)), 2400);
        assert_eq!(lustre_capacity_gib(Some(4.8 * tib)), 7200);
        assert_eq!(lustre_capacity_gib(Some(12.0 * tib)), 14400);
    }

    #[test]
    fn efs_lifecycle_rounds_up_to_allowed_values() {
        assert_eq!(efs_after(1), "AFTER_1_DAY");
        assert_eq!(efs_after(20), "AFTER_30_DAYS");
        assert_eq!(efs_after(90), "AFTER_90_DAYS");
        assert_eq!(efs_after(1000), "AFTER_365_DAYS");
    }
}
