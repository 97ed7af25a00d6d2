//! checkov against aistack: every checkov check that the emitted Terraform and manifests
//! skip (a `checkov:skip=ID:reason` comment), and what covers it at the `.ai-stack` line that
//! caused it: the built-in rules that report the cause, or why the output cannot and need not
//! satisfy the check (documented in `docs/rules/README.md`).
//!
//! Takes: nothing. Gives: [`SKIPS`]; `tests/tests/policy.rs` asserts that every skip id the
//! examples' build emits is listed, and that a listed rule reports each skip caused by the
//! stack.

/// One skipped checkov check.
pub struct Skip {
    pub id: &'static str,
    /// Rules that report the declaration causing the skip, with `--policy`.
    pub rules: &'static [&'static str],
    /// When the check is also (or only) skipped for reasons the stack does not control.
    pub by_design: Option<&'static str>,
}

const fn rule(id: &'static str, rules: &'static [&'static str]) -> Skip {
    Skip { id, rules, by_design: None }
}

const fn design(id: &'static str, why: &'static str) -> Skip {
    Skip { id, rules: &[], by_design: Some(why) }
}

pub static SKIPS: &[Skip] = &[
    rule("CKV_K8S_43", &["AIS105"]),
    design("CKV_K8S_35", "credentials reach the engine as environment variables from an ExternalSecret synced from Secrets Manager; the engines read them only from the environment"),
    design("CKV_K8S_8", "a batch job exits when done and serves no liveness endpoint"),
    design("CKV_K8S_9", "a batch job serves no traffic, so it has no readiness endpoint"),
    Skip {
        id: "CKV_AWS_144",
        rules: &["AIS112"],
        by_design: Some("the access-log and CloudFront-log buckets aistack adds stay in the region of what they log"),
    },
    design("CKV2_AWS_62", "the stack declares no consumer of S3 event notifications"),
    rule("CKV_AWS_21", &["AIS114"]),
    Skip {
        id: "CKV_AWS_145",
        rules: &["AIS101"],
        by_design: Some("S3 server access logging delivers only to buckets with SSE-S3 default encryption, so the access-log bucket cannot use KMS"),
    },
    rule("CKV2_AWS_6", &["AIS103"]),
    rule("CKV_AWS_54", &["AIS103"]),
    rule("CKV_AWS_56", &["AIS103"]),
    rule("CKV_AWS_70", &["AIS103"]),
    rule("CKV_AWS_190", &["AIS101", "AIS115"]),
    rule("CKV2_AWS_18", &["AIS112"]),
    rule("CKV_AWS_184", &["AIS101", "AIS115"]),
    rule("CKV_AWS_42", &["AIS101"]),
    design("CKV_AWS_18", "the access-log bucket is the logging target; logging it into itself would loop"),
    design("CKV2_AWS_65", "CloudFront standard logging delivers through a bucket ACL grant, so ACLs stay enabled on its log bucket only"),
    rule("CKV_AWS_310", &["AIS112"]),
    design("CKV_AWS_374", "the cdn schema has no country restriction: content is served worldwide"),
    rule("CKV_AWS_338", &["AIS116"]),
    design("CKV2_AWS_57", "a secret param is an external credential the operator puts in; aistack has no rotation function for it"),
    design("CKV2_AWS_23", "the failover record's alias target is the load balancer the AWS Load Balancer Controller creates, not a resource of this configuration"),
];

/// The entry for a checkov id.
pub fn lookup(id: &str) -> Option<&'static Skip> {
    SKIPS.iter().find(|s| s.id == id)
}
