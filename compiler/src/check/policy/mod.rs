//! Rules as data: every domain rule and built-in policy rule of the checker, one table.
//!
//! Takes: the checked program, its evaluated declaration instances and which are active (a
//! [`StackView`], read only: a rule never evaluates anything, it reads the records the checker
//! already built), the `--policy` switch and the stack's first `policy` declaration. Gives: the
//! findings of every rule that ran (their severity set by the policy), the list of rules
//! evaluated, and the in-source suppressions applied ([`suppress`]).
//!
//! [`RULES`] lists each rule once with its id, name, default severity, summary, help URI and
//! check. Domain rules (E04xx, and the E0202 bucket-name check) keep their diagnostic codes and
//! always run: the outputs depend on them, so a policy cannot switch them off. Built-in policy
//! rules (AIS1xx, [`builtin`]) run with `--policy`, or without it when a `policy` declaration
//! switches them on; the four rules that existed before ids (`encryption_at_rest` AIS101,
//! `no_public_buckets` AIS103, `digests_pinned` AIS104, `images_pinned` AIS105) also run
//! whenever the stack declares a `policy`, as they always did. User `assert`s are the rule
//! E0402 and `where` constraints E0401: the checker reports them while it evaluates.

pub mod builtin;
pub mod checkov;
pub mod config;
pub mod suppress;

use super::eval::DeclInst;
use super::load::Program;
use super::value::{DeclId, Record};
use crate::diag::{codes, Diagnostic, Severity};
use crate::source::Span;
use std::rc::Rc;

/// How a rule finds what it reports.
#[derive(Clone, Copy)]
pub enum Check {
    /// A read-only pass over the checked stack. Domain rules whose findings one pass computes
    /// together name the same pass (its first field), which runs once.
    Pass(&'static str, fn(&mut StackView)),
    /// Reported by the checker while it evaluates (asserts, `where` constraints).
    Evaluation,
}

/// One rule: what SARIF, JUnit, suppressions, `policy` overrides and the LSP see.
pub struct Rule {
    /// Stable id: the diagnostic code of its findings (`E0403`, `AIS101`).
    pub id: &'static str,
    /// Short kebab-case name (SARIF `name`).
    pub name: &'static str,
    pub default_severity: Severity,
    /// One line: what the rule wants.
    pub summary: &'static str,
    /// Its long form (`aistack explain ID`).
    pub doc: &'static str,
    pub check: Check,
    /// A built-in policy rule: switchable, suppressible and run by `--policy`.
    pub policy: bool,
    /// The name a `policy`'s `rules` map used before ids (`encryption_at_rest`); such a rule
    /// also runs whenever the stack declares a `policy`.
    pub legacy: Option<&'static str>,
}

impl Rule {
    /// Where its documentation is published.
    pub fn help_uri(&self) -> String {
        if self.policy {
            format!("https://aistack.dev/docs/rules/{}", self.id)
        } else {
            format!("https://aistack.dev/docs/codes/{}", self.id)
        }
    }
}

/// Which rules run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `--policy`: every built-in policy rule, not only those the stack's policy enables.
    pub policy: bool,
}

/// A finding left out of the report by an `// aistack:allow` comment.
#[derive(Clone, Debug)]
pub struct Suppressed {
    pub diag: Diagnostic,
    pub reason: String,
}

/// What the rules did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Ids of the rules evaluated, in table order.
    pub evaluated: Vec<&'static str>,
    pub suppressed: Vec<Suppressed>,
}

/// The checked stack as the rules read it: evaluated records only, never evaluation.
pub struct StackView<'a> {
    pub prog: &'a Program,
    pub(crate) decls: &'a [DeclInst],
    pub(crate) active: &'a [bool],
    diags: Vec<Diagnostic>,
    /// The stack's first `policy` declaration, if any.
    pub policy: Option<(DeclId, Rc<Record>)>,
}

impl<'a> StackView<'a> {
    pub fn new(prog: &'a Program, decls: &'a [DeclInst], active: &'a [bool]) -> StackView<'a> {
        let mut v = StackView { prog, decls, active, diags: Vec::new(), policy: None };
        v.policy = v.active_of("policy").into_iter().next();
        v
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Every active, evaluated declaration of the standard-library kind `kind`, in load order.
    pub fn active_of(&self, kind: &str) -> Vec<(DeclId, Rc<Record>)> {
        let Some(schema) = self.prog.std_schema(kind) else {
            return Vec::new();
        };
        let mut ids: Vec<usize> = (0..self.decls.len())
            .filter(|&i| self.decls[i].kind == Some(schema) && self.active.get(i).copied().unwrap_or(false))
            .collect();
        ids.sort_by_key(|&i| (self.decls[i].group, i));
        ids.into_iter().filter_map(|i| Some((DeclId(i as u32), self.decls[i].record.clone()?))).collect()
    }

    /// The evaluated record of a declaration (`None` if it has none, e.g. after an error).
    pub fn rec(&self, id: DeclId) -> Option<Rc<Record>> {
        self.decls.get(id.0 as usize)?.record.clone()
    }

    pub fn decl_span(&self, id: DeclId) -> Span {
        self.decls.get(id.0 as usize).map_or_else(Span::default, |d| d.name_span)
    }

    pub fn addr(&self, id: DeclId) -> String {
        self.decls.get(id.0 as usize).map_or_else(String::new, DeclInst::address)
    }

    /// The name of an enum value.
    pub fn variant_name(&self, v: Option<&super::value::Value>) -> Option<String> {
        super::rules::variant(self, v).map(|v| v.0)
    }
}

/// Runs every rule that `opts` and the stack's policy switch on; returns the findings (with
/// the policy's severities) and what ran.
pub fn run(prog: &Program, decls: &[DeclInst], active: &[bool], opts: Options) -> (Vec<Diagnostic>, Outcome) {
    let mut view = StackView::new(prog, decls, active);
    let cfg = config::read(&mut view);
    let mut passes: Vec<&'static str> = Vec::new();
    let mut out = Outcome::default();
    for rule in RULES {
        let Some(level) = cfg.level(rule, opts, view.policy.is_some()) else { continue };
        out.evaluated.push(rule.id);
        let Check::Pass(pass, f) = rule.check else { continue };
        if passes.contains(&pass) {
            continue;
        }
        passes.push(pass);
        let start = view.diags.len();
        f(&mut view);
        if rule.policy {
            view.diags[start..].iter_mut().filter(|d| d.code == rule.id).for_each(|d| d.severity = level);
        }
    }
    (view.diags, out)
}

/// The rule with this id (case-insensitive), or whose legacy name this is.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id) || r.legacy == Some(id))
}

/// The rule that reports diagnostic code `code`.
pub fn rule_of(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == code)
}

fn doc_of(code: &str) -> &'static str {
    codes::lookup(code).map_or("", |c| c.2)
}

macro_rules! domain {
    ($id:expr, $name:literal, $sev:ident, $pass:literal, $f:expr) => {
        Rule {
            id: $id,
            name: $name,
            default_severity: Severity::$sev,
            summary: "",
            doc: "",
            check: Check::Pass($pass, $f),
            policy: false,
            legacy: None,
        }
    };
}

macro_rules! ais {
    ($id:literal, $name:literal, $sev:ident, $summary:literal, $f:expr, $legacy:expr) => {
        Rule {
            id: $id,
            name: $name,
            default_severity: Severity::$sev,
            summary: $summary,
            doc: include_str!(concat!("../../../../docs/rules/", $id, ".md")),
            check: Check::Pass($id, $f),
            policy: true,
            legacy: $legacy,
        }
    };
}

fn pools(v: &mut StackView) {
    let cat = v.catalog();
    v.pool_rules(&cat);
}
fn services(v: &mut StackView) {
    let cat = v.catalog();
    v.service_rules(&cat);
}
fn budgets(v: &mut StackView) {
    let cat = v.catalog();
    v.budget_rules(&cat);
}
fn training(v: &mut StackView) {
    let cat = v.catalog();
    v.training_rules(&cat);
}

/// Every rule. Domain rules first (their summary and doc are their code's title and page).
pub static RULES: &[Rule] = &[
    Rule {
        id: codes::CONSTRAINT,
        name: "where-constraint",
        default_severity: Severity::Error,
        summary: "",
        doc: "",
        check: Check::Evaluation,
        policy: false,
        legacy: None,
    },
    Rule {
        id: codes::ASSERT_FAILED,
        name: "assert",
        default_severity: Severity::Error,
        summary: "",
        doc: "",
        check: Check::Evaluation,
        policy: false,
        legacy: None,
    },
    domain!(codes::NO_INSTANCE, "gpu-shape-offered", Error, "pools", pools),
    domain!(codes::SHARING, "gpu-sharing-supported", Error, "pools", pools),
    domain!(codes::MODEL_DOES_NOT_FIT, "model-fits", Error, "services", services),
    domain!(codes::TENSOR_PARALLEL, "tensor-parallel-matches-pool", Error, "services", services),
    domain!(codes::ROLLOUT, "rollout-completes", Error, "services", services),
    domain!(codes::AUTOSCALE_SHAPE, "autoscale-shape", Error, "services", services),
    domain!(codes::BATCH_BELOW_MAX, "batch-fits", Warning, "services", services),
    domain!(codes::POOL_TOO_SMALL, "pool-holds-services", Warning, "services", services),
    domain!(codes::RPO_UNMET, "rpo-met", Error, "dr", |v| v.dr_rules()),
    domain!(codes::DR_REGIONS, "dr-regions-differ", Error, "dr", |v| v.dr_rules()),
    domain!(codes::RPO_NOT_ENFORCED, "rpo-cold-tier", Info, "dr", |v| v.dr_rules()),
    domain!(codes::BUDGET_EXCEEDED, "budget-worst-case", Error, "budget", budgets),
    domain!(codes::EXPECTED_COST, "budget-expected-cost", Warning, "budget", budgets),
    domain!(codes::POLICY_RULE, "storage-fits-its-use", Error, "outputs", |v| v.output_rules()),
    domain!(codes::DUPLICATE_NAME, "bucket-names-unique", Error, "buckets", |v| v.bucket_rules()),
    domain!(codes::ARTIFACT_STORE, "artifacts-in-s3", Error, "artifacts", |v| v.artifact_rules()),
    domain!(codes::IRSA_ACCOUNT, "irsa-account", Error, "identity", |v| v.identity_rules()),
    domain!(codes::ENGINE_ARG_UNKNOWN, "engine-arg-known", Error, "engine-args", |v| v.engine_arg_rules()),
    domain!(codes::ENGINE_ARG_TYPE, "engine-arg-type", Error, "engine-args", |v| v.engine_arg_rules()),
    domain!(codes::ENGINE_ARG_RESERVED, "engine-arg-reserved", Error, "engine-args", |v| v.engine_arg_rules()),
    domain!(codes::ENGINE_ARGS_ENGINE, "engine-args-engine", Error, "engine-args", |v| v.engine_arg_rules()),
    domain!(codes::ZONE_REGION, "zones-in-region", Error, "mistakes", |v| v.mistake_rules()),
    domain!(codes::SCALE_FROM_ZERO, "scale-from-zero", Error, "mistakes", |v| v.mistake_rules()),
    domain!(codes::ENGINE_SIGNAL, "engine-signal", Error, "mistakes", |v| v.mistake_rules()),
    domain!(codes::TRAINING_DOES_NOT_FIT, "training-fits", Error, "training", training),
    domain!(codes::TRAINING_DEFAULT_MAY_NOT_FIT, "training-default-fits", Warning, "training", training),
    ais!(
        "AIS101",
        "encryption-at-rest",
        Error,
        "storage is encrypted at rest",
        builtin::encryption_at_rest,
        Some("encryption_at_rest")
    ),
    ais!(
        "AIS102",
        "encryption-in-transit",
        Error,
        "public services answer over TLS only",
        builtin::encryption_in_transit,
        None
    ),
    ais!(
        "AIS103",
        "no-public-bucket",
        Error,
        "no public storage without a cdn with origin access in front",
        builtin::no_public_bucket,
        Some("no_public_buckets")
    ),
    ais!(
        "AIS104",
        "model-digest",
        Warning,
        "models are pinned by digest",
        builtin::model_digest,
        Some("digests_pinned")
    ),
    ais!(
        "AIS105",
        "image-digest",
        Warning,
        "pipeline and serving images are pinned by digest",
        builtin::image_digest,
        Some("images_pinned")
    ),
    ais!(
        "AIS106",
        "pii-privacy",
        Error,
        "data sets with personal data declare a privacy setting",
        builtin::pii_privacy,
        None
    ),
    ais!(
        "AIS107",
        "pii-not-public-cache",
        Error,
        "personal data never sits in a public service's cache",
        builtin::pii_public_cache,
        None
    ),
    ais!(
        "AIS108",
        "public-guard",
        Error,
        "public services have a guard with a rate limit and an input limit",
        builtin::public_guard,
        None
    ),
    ais!("AIS109", "service-slo", Warning, "every service declares an SLO", builtin::service_slo, None),
    ais!("AIS110", "service-monitor", Warning, "every service has a monitor", builtin::service_monitor, None),
    ais!(
        "AIS111",
        "no-spot-always-on",
        Warning,
        "production pools that never scale to zero are not spot",
        builtin::spot_always_on,
        None
    ),
    ais!(
        "AIS112",
        "dr-covers-stores",
        Warning,
        "disaster recovery covers every stateful store",
        builtin::dr_covers_stores,
        None
    ),
    ais!("AIS113", "gpu-budget", Error, "a stack with GPUs declares a budget", builtin::gpu_budget, None),
    ais!("AIS114", "bucket-versioning", Warning, "S3 storage keeps object versions", builtin::bucket_versioning, None),
    ais!(
        "AIS115",
        "customer-managed-key",
        Warning,
        "storage is encrypted with the stack's own KMS key",
        builtin::customer_key,
        None
    ),
    ais!(
        "AIS116",
        "audit-retention",
        Warning,
        "the audit trail is kept at least a year",
        builtin::audit_retention,
        None
    ),
];

/// The summary of a rule (its code's title for domain rules).
pub fn summary(rule: &Rule) -> &'static str {
    if rule.summary.is_empty() {
        codes::lookup(rule.id).map_or("", |c| c.1)
    } else {
        rule.summary
    }
}

/// The long form of a rule (its code's page for domain rules).
pub fn doc(rule: &Rule) -> &'static str {
    if rule.doc.is_empty() {
        doc_of(rule.id)
    } else {
        rule.doc
    }
}
