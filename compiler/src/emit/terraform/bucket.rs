//! A hardened S3 bucket: the resources every bucket of the stack gets.
//!
//! Takes: a [`Bucket`] description (name, region, encryption, where it logs, lifecycle, extra
//! policy statements, checkov skips with their reasons). Gives: `aws_s3_bucket` with its
//! versioning, default encryption (SSE-KMS with a bucket key where a key is given), public
//! access block, ownership controls, access logging, lifecycle rules (always aborting
//! incomplete multipart uploads) and a bucket policy that denies plain HTTP and TLS below 1.2.
//! Used for declared storages, their DR replicas and the stack's own log buckets.

use super::ctx::{resource, skip, tags};
use super::policy::{document, Principal, Statement};
use crate::emit::hcl::{Block, Expr};
use crate::ir::Tier;

pub const STANDARD_IA: &str = "STANDARD_IA";
pub const GLACIER_IR: &str = "GLACIER_IR";
pub const DEEP_ARCHIVE: &str = "DEEP_ARCHIVE";

/// Days after which unfinished multipart uploads (half-written checkpoints) are removed.
const ABORT_MULTIPART_DAYS: i64 = 7;

pub enum Name {
    Fixed(String),
    /// `bucket_prefix`: Terraform appends a unique suffix at apply time.
    Prefix(String),
}

pub enum Sse {
    /// SSE-KMS with this key and an S3 bucket key.
    Key(Expr),
    /// SSE-KMS with the AWS-managed `aws/s3` key.
    AwsManaged,
    /// SSE-S3 (AES256).
    S3Managed,
}

#[derive(Default)]
pub struct Lifecycle {
    /// (days, storage class), increasing in both.
    pub transitions: Vec<(u64, &'static str)>,
    /// Move noncurrent versions on the same schedule.
    pub noncurrent: bool,
    pub expire_days: Option<u64>,
    pub noncurrent_expire_days: Option<u64>,
    /// Why the rule differs from the declaration (written as comments).
    pub notes: Vec<String>,
}

/// Checkov skips, per resource they apply to: (check id, reason).
#[derive(Default)]
pub struct Skips {
    pub bucket: Vec<(&'static str, String)>,
    pub public_access: Vec<(&'static str, String)>,
    pub ownership: Vec<(&'static str, String)>,
    pub policy: Vec<(&'static str, String)>,
}

pub struct Bucket {
    /// Terraform name shared by all the bucket's resources.
    pub tf: String,
    pub name: Name,
    pub provider: Option<Expr>,
    /// Full address of the declaration the bucket comes from (its tag).
    pub declaration: String,
    pub versioned: bool,
    /// Why versioning is on when the declaration says otherwise.
    pub versioning_note: Option<String>,
    pub sse: Sse,
    /// Keep ACLs enabled (BucketOwnerPreferred): only for CloudFront standard logs.
    pub acls: bool,
    /// (Terraform name of the log bucket, key prefix).
    pub log_to: Option<(String, String)>,
    pub lifecycle: Lifecycle,
    /// Statements besides the transport-security denies.
    pub statements: Vec<Statement>,
    /// Declared public with no CDN in front: the public access block lets a public policy in.
    pub public: bool,
    pub skips: Skips,
}

fn with_skips(mut b: Block, skips: &[(&'static str, String)]) -> Block {
    for (check, reason) in skips {
        b = b.comment(&skip(check, reason));
    }
    b
}

impl Bucket {
    fn id(&self) -> Expr {
        Expr::tf("aws_s3_bucket", &self.tf, "id")
    }
    pub fn arn(&self) -> Expr {
        Expr::tf("aws_s3_bucket", &self.tf, "arn")
    }
    fn objects(&self) -> Expr {
        Expr::suffixed(Expr::tf("aws_s3_bucket", &self.tf, "arn"), "/*")
    }
    fn sub(&self, kind: &str) -> Block {
        resource(kind, &self.tf, &self.provider).attr("bucket", self.id())
    }

    pub fn blocks(&self) -> Vec<Block> {
        let mut out = Vec::new();
        let mut b = with_skips(resource("aws_s3_bucket", &self.tf, &self.provider), &self.skips.bucket);
        b = match &self.name {
            Name::Fixed(n) => b.attr("bucket", Expr::str(n)),
            Name::Prefix(p) => b.attr("bucket_prefix", Expr::str(p)),
        };
        out.push(b.attr("tags", tags(&self.declaration)));

        if self.versioned {
            let mut v = self.sub("aws_s3_bucket_versioning");
            if let Some(note) = &self.versioning_note {
                v = v.comment(note);
            }
            out.push(v.block(Block::new("versioning_configuration", &[]).attr("status", Expr::str("Enabled"))));
        }

        let default =
            match &self.sse {
                Sse::Key(k) => Block::new("apply_server_side_encryption_by_default", &[])
                    .attr("sse_algorithm", Expr::str("aws:kms"))
                    .attr("kms_master_key_id", k.clone()),
                Sse::AwsManaged => Block::new("apply_server_side_encryption_by_default", &[])
                    .attr("sse_algorithm", Expr::str("aws:kms")),
                Sse::S3Managed => Block::new("apply_server_side_encryption_by_default", &[])
                    .attr("sse_algorithm", Expr::str("AES256")),
            };
        let mut rule = Block::new("rule", &[]).block(default);
        if !matches!(self.sse, Sse::S3Managed) {
            rule = rule.attr("bucket_key_enabled", Expr::Bool(true));
        }
        out.push(self.sub("aws_s3_bucket_server_side_encryption_configuration").block(rule));

        let blocked = !self.public;
        out.push(
            with_skips(
                resource("aws_s3_bucket_public_access_block", &self.tf, &self.provider),
                &self.skips.public_access,
            )
            .attr("bucket", self.id())
            .attr("block_public_acls", Expr::Bool(true))
            .attr("block_public_policy", Expr::Bool(blocked))
            .attr("ignore_public_acls", Expr::Bool(true))
            .attr("restrict_public_buckets", Expr::Bool(blocked)),
        );

        let ownership = if self.acls { "BucketOwnerPreferred" } else { "BucketOwnerEnforced" };
        out.push(
            with_skips(resource("aws_s3_bucket_ownership_controls", &self.tf, &self.provider), &self.skips.ownership)
                .attr("bucket", self.id())
                .block(Block::new("rule", &[]).attr("object_ownership", Expr::str(ownership))),
        );

        if let Some((target, prefix)) = &self.log_to {
            out.push(
                self.sub("aws_s3_bucket_logging")
                    .attr("target_bucket", Expr::tf("aws_s3_bucket", target, "id"))
                    .attr("target_prefix", Expr::str(prefix)),
            );
        }

        out.push(self.lifecycle_block());

        let mut statements = vec![
            Statement::deny("DenyInsecureTransport")
                .principal(Principal::Any)
                .actions(&["s3:*"])
                .resource(self.arn())
                .resource(self.objects())
                .condition("Bool", "aws:SecureTransport", Expr::str("false")),
            Statement::deny("DenyOutdatedTls")
                .principal(Principal::Any)
                .actions(&["s3:*"])
                .resource(self.arn())
                .resource(self.objects())
                .condition("NumericLessThan", "s3:TlsVersion", Expr::str("1.2")),
        ];
        statements.extend(self.statements.iter().cloned());
        let mut depends = vec![Expr::tf_resource("aws_s3_bucket_public_access_block", &self.tf)];
        if self.acls {
            depends.push(Expr::tf_resource("aws_s3_bucket_ownership_controls", &self.tf));
        }
        out.push(
            with_skips(resource("aws_s3_bucket_policy", &self.tf, &self.provider), &self.skips.policy)
                .attr("bucket", self.id())
                .attr("policy", document(&statements))
                .attr("depends_on", Expr::List(depends)),
        );
        out
    }

    fn lifecycle_block(&self) -> Block {
        let l = &self.lifecycle;
        let mut rule = Block::new("rule", &[])
            .attr(
                "id",
                Expr::str(if l.transitions.is_empty() && l.expire_days.is_none() {
                    "abort-incomplete-uploads"
                } else {
                    "aistack-lifecycle"
                }),
            )
            .attr("status", Expr::str("Enabled"))
            .block(Block::new("filter", &[]));
        for (days, class) in &l.transitions {
            rule = rule.block(
                Block::new("transition", &[])
                    .attr("days", Expr::Int(*days as i64))
                    .attr("storage_class", Expr::str(*class)),
            );
        }
        if l.noncurrent && self.versioned {
            for (days, class) in &l.transitions {
                rule = rule.block(
                    Block::new("noncurrent_version_transition", &[])
                        .attr("noncurrent_days", Expr::Int(*days as i64))
                        .attr("storage_class", Expr::str(*class)),
                );
            }
        }
        if let Some(days) = l.expire_days {
            rule = rule.block(Block::new("expiration", &[]).attr("days", Expr::Int(days as i64)));
        }
        if let (Some(days), true) = (l.noncurrent_expire_days, self.versioned) {
            rule = rule.block(
                Block::new("noncurrent_version_expiration", &[]).attr("noncurrent_days", Expr::Int(days as i64)),
            );
        }
        rule = rule.block(
            Block::new("abort_incomplete_multipart_upload", &[])
                .attr("days_after_initiation", Expr::Int(ABORT_MULTIPART_DAYS)),
        );
        let mut b = resource("aws_s3_bucket_lifecycle_configuration", &self.tf, &self.provider);
        for note in &l.notes {
            b = b.comment(note);
        }
        b = b.attr("bucket", self.id()).block(rule);
        if self.versioned {
            b = b.attr("depends_on", Expr::List(vec![Expr::tf_resource("aws_s3_bucket_versioning", &self.tf)]));
        }
        b
    }
}

/// The S3 storage class a lifecycle tier moves objects to; `None` for `hot` (S3 lifecycle
/// cannot move objects back to STANDARD).
pub fn storage_class(tier: Tier) -> Option<&'static str> {
    match tier {
        Tier::Hot => None,
        Tier::Warm => Some(STANDARD_IA),
        Tier::Cold => Some(GLACIER_IR),
        Tier::Archive => Some(DEEP_ARCHIVE),
    }
}

fn coldness(class: &str) -> u8 {
    match class {
        STANDARD_IA => 1,
        GLACIER_IR => 2,
        _ => 3,
    }
}

/// A storage's lifecycle as S3 transitions: sorted by day, only towards colder classes, and
/// moved to the days S3 accepts (STANDARD_IA from day 30, and 30 days in STANDARD_IA before
/// the next class). Notes say what changed and why.
pub fn transitions(steps: &[(u64, Tier)]) -> (Vec<(u64, &'static str)>, Vec<String>) {
    let mut sorted = steps.to_vec();
    sorted.sort_by_key(|s| s.0);
    let mut out: Vec<(u64, &'static str)> = Vec::new();
    let mut notes = Vec::new();
    for (days, tier) in sorted {
        let Some(class) = storage_class(tier) else {
            notes.push(format!(
                "The move to hot after {days} days is left out: S3 lifecycle cannot move objects back to STANDARD."
            ));
            continue;
        };
        let prev = out.last().copied();
        if let Some((_, pc)) = prev {
            if coldness(class) <= coldness(pc) {
                notes.push(format!(
                    "The move to {class} after {days} days is left out: objects are already in {pc} and lifecycle only moves them colder."
                ));
                continue;
            }
        }
        let mut min = if class == STANDARD_IA { 30 } else { 0 };
        if let Some((pd, pc)) = prev {
            min = min.max(if pc == STANDARD_IA { pd + 30 } else { pd + 1 });
        }
        let d = days.max(min);
        if d != days {
            notes.push(format!(
                "{class} after {d} days rather than {days}: S3 needs 30 days in STANDARD or STANDARD_IA before this move."
            ));
        }
        out.push((d, class));
    }
    (out, notes)
}

/// When audit logs expire: after `retain_days`, but never before the last transition (S3
/// rejects an expiration that comes first), with a note when that moved the day.
pub fn audit_expiry(retain_days: u64, transitions: &[(u64, &'static str)]) -> (u64, Option<String>) {
    let last = transitions.last().map_or(0, |t| t.0);
    let days = retain_days.max(last + 1);
    let note = (days != retain_days).then(|| {
        format!("Audit logs expire after {days} days rather than {retain_days}: S3 expires objects only after their last transition.")
    });
    (days, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_logs_expire_after_their_last_transition() {
        assert_eq!(audit_expiry(400, &[(90, DEEP_ARCHIVE)]), (400, None));
        let (days, note) = audit_expiry(30, &[(60, DEEP_ARCHIVE)]);
        assert_eq!(days, 61);
        assert!(note.is_some());
    }

    #[test]
    fn tiers_map_to_storage_classes() {
        assert_eq!(storage_class(Tier::Warm), Some("STANDARD_IA"));
        assert_eq!(storage_class(Tier::Cold), Some("GLACIER_IR"));
        assert_eq!(storage_class(Tier::Archive), Some("DEEP_ARCHIVE"));
        assert_eq!(storage_class(Tier::Hot), None);
    }

    #[test]
    fn transitions_follow_the_declaration_when_s3_accepts_it() {
        let (t, notes) = transitions(&[(30, Tier::Cold), (180, Tier::Archive)]);
        assert_eq!(t, vec![(30, GLACIER_IR), (180, DEEP_ARCHIVE)]);
        assert!(notes.is_empty());
    }

    #[test]
    fn transitions_respect_s3_minimums_and_order() {
        let (t, notes) = transitions(&[(40, Tier::Cold), (7, Tier::Warm), (20, Tier::Warm), (90, Tier::Hot)]);
        assert_eq!(t, vec![(30, STANDARD_IA), (60, GLACIER_IR)]);
        assert_eq!(notes.len(), 4, "{notes:?}");
    }
}
