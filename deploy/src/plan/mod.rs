//! Plan: the desired resources against the recorded state.
//!
//! Takes: the stack's [`ResourceGraph`] and the files emitted outside it (serving configs,
//! templates), and the state as read. Gives: a [`Plan`] — one [`Change`] per address that
//! differs (`create`, `update`, `replace` with the attributes that force it, `delete`), each
//! with its declaration, source line and attribute diff, plus the lineage and serial of the
//! state it was computed against and a hash of the desired inventory, so that a saved plan
//! can be refused once it is stale ([`check_fresh`]). Attribute values are recorded through
//! [`doc::redact`]; secret params reach the graph only as references, so no secret value can
//! enter a plan. Terraform remains the authority on what forces a replacement of a cloud
//! resource (apply runs its plan); [`forces_replacement`] names the attributes we know force
//! one — names that AWS cannot change in place and fields Kubernetes declares immutable — so
//! the summary says so before anything runs.

pub mod render;

use crate::error::OpError;
use crate::state::doc::{self, Origin, Resource, StateDoc};
use aistack::diag::codes;
use aistack::emit::Artifact;
use aistack::graph::{self, Attrs, Engine, ResourceGraph};
use aistack::ir;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The plan document's format version (`aistack plan --json`, `--out`).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One attribute that differs; `path` is dotted with list indices (`spec.template.spec.containers[0].image`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AttrChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Change {
    pub address: String,
    pub action: Action,
    pub engine: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub origin: Origin,
    /// The attributes whose change forces the replacement (only for `replace`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub forced_by: Vec<String>,
    pub attrs: Vec<AttrChange>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }
}

/// A plan: what apply would change, and the state it was computed against.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    /// The stack's root file as given to `plan`.
    pub root: String,
    /// The `--state` the plan was made with (`None`: the default beside the stack), where that
    /// is as shown to people, and the state's lineage and serial when the plan was made (no
    /// state yet: lineage `None`, serial 0).
    pub state: Option<String>,
    pub state_shown: String,
    pub lineage: Option<String>,
    pub serial: u64,
    /// Hex SHA-256 over the desired inventory's addresses and attribute hashes.
    pub desired_hash: String,
    pub summary: Summary,
    pub changes: Vec<Change>,
    /// Whether preflight ran (`plan --preflight`); `apply PLAN` then runs it again, so a tag
    /// moved since the plan makes the plan stale.
    #[serde(default)]
    pub preflight: bool,
    /// The images preflight resolved, as rendered (pinned by digest).
    #[serde(default)]
    pub images: Vec<PinnedImage>,
}

/// An image tag resolved to the digest its registry serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PinnedImage {
    /// `service.chat`.
    pub declaration: String,
    /// As written (or the engine's default image).
    pub written: String,
    pub digest: String,
    /// `registry/repository@sha256:…`, what the workload runs.
    pub pinned: String,
}

/// Renders each resolved image pinned: the services and pipelines whose image preflight
/// resolved run `registry/repository@sha256:…` instead of the tag.
pub fn pin_images(stack: &mut ir::Stack, images: &[PinnedImage]) {
    let find = |decl: &str, written: &str| {
        images.iter().find(|i| i.declaration == decl && i.written == written).map(|i| i.pinned.clone())
    };
    for s in &mut stack.services {
        if let Some(p) = find(&s.meta.full_address(), &s.image) {
            s.image = p;
        }
    }
    for p in &mut stack.pipelines {
        if let Some(pinned) = find(&p.meta.full_address(), &p.image) {
            p.image = pinned;
        }
    }
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn parse(text: &str, source: &str) -> Result<Plan, OpError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| {
            OpError::new(codes::PLAN_UNREADABLE, format!("{source} is not an aistack plan: {e}"))
                .with_help("save one with `aistack plan FILE --out PLAN`")
        })?;
        if plan.format_version != FORMAT_VERSION {
            return Err(OpError::new(
                codes::PLAN_UNREADABLE,
                format!(
                    "{source} is a plan of format {}; this aistack reads format {FORMAT_VERSION}",
                    plan.format_version
                ),
            )
            .with_help("make the plan again with this aistack"));
        }
        Ok(plan)
    }
}

/// The desired inventory: every resource of the graph, plus one `file:` record for each
/// emitted file the graph does not describe (serving configs, templates, PREREQUISITES.md).
/// `manifest.json` is left out: it only hashes the others.
pub fn desired(
    graph: &ResourceGraph,
    artifacts: &[Artifact],
    stack: &ir::Stack,
    origins: &BTreeMap<String, (String, u32)>,
) -> BTreeMap<String, Resource> {
    let secrets: BTreeSet<String> = stack.secrets.iter().cloned().collect();
    let none = BTreeSet::new();
    let mut out = BTreeMap::new();
    for r in graph.resources() {
        let attrs = doc::canonical(doc::redact(attrs_json(&r.attrs), &secrets, &none));
        let origin = match &r.origin.span {
            Some(s) => Origin { decl: r.origin.decl.clone(), file: Some(s.file.clone()), line: Some(s.line) },
            None => origin_of(&r.origin.decl, origins),
        };
        let engine = match r.engine {
            Engine::Terraform => "terraform",
            Engine::Kubernetes => "kubernetes",
        };
        let rec = Resource {
            address: r.address.to_string(),
            engine: engine.into(),
            kind: r.type_.clone(),
            name: r.name.clone(),
            attrs_hash: doc::attrs_hash(&attrs),
            attrs,
            origin,
        };
        out.insert(rec.address.clone(), rec);
    }
    // The files' origins as the graph gives them (relative to the root file's folder).
    let by_decl: BTreeMap<String, Origin> = out.values().map(|r| (r.origin.decl.clone(), r.origin.clone())).collect();
    let files = crate::apply::inventory(artifacts, origins);
    for (addr, mut rec) in files {
        if let Some(o) = by_decl.get(&rec.origin.decl) {
            rec.origin = o.clone();
        }
        let path = rec.name.as_str();
        let in_graph = path.starts_with("terraform/") || path.starts_with("kubernetes/");
        if !in_graph && path != "manifest.json" {
            out.insert(addr, rec);
        }
    }
    out
}

fn origin_of(decl: &str, origins: &BTreeMap<String, (String, u32)>) -> Origin {
    let at = origins.get(decl);
    Origin { decl: decl.to_string(), file: at.map(|o| o.0.clone()), line: at.map(|o| o.1) }
}

/// A resource's attributes as plain JSON: a Kubernetes object as itself; a Terraform body as
/// an object of its attributes, nested blocks as lists of objects under their kind (labels
/// under `_labels`), references as Terraform would print them before apply
/// (`${<address>.<attr>}`). Comments (checkov skips) are not attributes and are left out.
pub fn attrs_json(attrs: &Attrs) -> Value {
    match attrs {
        Attrs::Kubernetes(e) => graph::to_json(e),
        Attrs::Terraform(items) => items_json(items),
    }
}

fn items_json(items: &[aistack::emit::hcl::Item]) -> Value {
    use aistack::emit::hcl::Item;
    let mut m = Map::new();
    for it in items {
        match it {
            Item::Attr(k, e) => {
                m.insert(k.clone(), expr_json(e));
            }
            Item::Block(b) => {
                let mut body = items_json(&b.items);
                if let (Value::Object(o), false) = (&mut body, b.labels.is_empty()) {
                    o.insert("_labels".into(), Value::from(b.labels.clone()));
                }
                match m.entry(b.kind.clone()).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(xs) => xs.push(body),
                    other => *other = Value::Array(vec![body]),
                }
            }
            Item::Comment(_) => {}
        }
    }
    Value::Object(m)
}

fn expr_json(e: &aistack::emit::hcl::Expr) -> Value {
    use aistack::emit::hcl::Expr;
    match e {
        Expr::Null => Value::Null,
        Expr::Str(s) => Value::String(s.clone()),
        Expr::Int(i) => Value::from(*i),
        Expr::Num(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Expr::Bool(b) => Value::Bool(*b),
        Expr::List(xs) => Value::Array(xs.iter().map(expr_json).collect()),
        Expr::Object(kv) => Value::Object(kv.iter().map(|(k, x)| (k.clone(), expr_json(x))).collect()),
        Expr::Ref(r) => Value::String(match &r.attr {
            Some(a) => format!("${{{}.{a}}}", r.to),
            None => format!("${{{}}}", r.to),
        }),
        Expr::Tf { type_, name, attr } => Value::String(match attr {
            Some(a) => format!("${{{type_}.{name}.{a}}}"),
            None => format!("${{{type_}.{name}}}"),
        }),
        Expr::Data { type_, name, attr } => Value::String(format!("${{data.{type_}.{name}.{attr}}}")),
        Expr::Var(v) => Value::String(format!("${{var.{v}}}")),
        Expr::Local(l) => Value::String(format!("${{local.{l}}}")),
        Expr::Raw(r) => Value::String(format!("${{{r}}}")),
        Expr::Template(parts) => Value::String(
            parts
                .iter()
                .map(|p| match p {
                    Expr::Str(s) => s.clone(),
                    other => match expr_json(other) {
                        Value::String(s) => s,
                        v => v.to_string(),
                    },
                })
                .collect(),
        ),
        Expr::Call(name, args) => {
            let args: Vec<String> = args.iter().map(|a| expr_json(a).to_string()).collect();
            Value::String(format!("${{{name}({})}}", args.join(", ")))
        }
    }
}

/// Hex SHA-256 over addresses and attribute hashes, in address order.
pub fn desired_hash(desired: &BTreeMap<String, Resource>) -> String {
    let mut h = Sha256::new();
    for (a, r) in desired {
        h.update(a.as_bytes());
        h.update([0]);
        h.update(r.attrs_hash.as_bytes());
        h.update([0]);
    }
    doc::hex(&h.finalize())
}

/// What the plan is computed against.
pub struct Against<'a> {
    /// `--state` as given (`None`: the default) and where that is, as shown.
    pub state_arg: Option<String>,
    pub location: String,
    pub state: Option<&'a StateDoc>,
    pub stack: &'a str,
    pub root: &'a str,
}

/// The changes that take the recorded inventory to `desired`, in address order.
pub fn compute(desired: &BTreeMap<String, Resource>, against: &Against) -> Plan {
    let empty = BTreeMap::new();
    let recorded = against.state.map_or(&empty, |s| &s.resources);
    let mut changes = Vec::new();
    for (addr, want) in desired {
        match recorded.get(addr) {
            None => changes.push(change(want, Action::Create, Vec::new(), diff(&Value::Null, &want.attrs))),
            Some(have) if have.attrs_hash == want.attrs_hash && have.kind == want.kind => {}
            Some(have) => {
                let attrs = diff(&have.attrs, &want.attrs);
                let forced = forced_by(want, have, &attrs);
                let action = if forced.is_empty() { Action::Update } else { Action::Replace };
                changes.push(change(want, action, forced, attrs));
            }
        }
    }
    for (addr, have) in recorded {
        if !desired.contains_key(addr) {
            changes.push(change(have, Action::Delete, Vec::new(), diff(&have.attrs, &Value::Null)));
        }
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.delete += 1,
        }
    }
    Plan {
        format_version: FORMAT_VERSION,
        stack: against.stack.to_string(),
        root: against.root.to_string(),
        state: against.state_arg.clone(),
        state_shown: against.location.clone(),
        lineage: against.state.map(|s| s.lineage.clone()),
        serial: against.state.map_or(0, |s| s.serial),
        desired_hash: desired_hash(desired),
        summary,
        changes,
        preflight: false,
        images: Vec::new(),
    }
}

fn change(r: &Resource, action: Action, forced_by: Vec<String>, attrs: Vec<AttrChange>) -> Change {
    Change {
        address: r.address.clone(),
        action,
        engine: r.engine.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        origin: r.origin.clone(),
        forced_by,
        attrs,
    }
}

fn forced_by(want: &Resource, have: &Resource, attrs: &[AttrChange]) -> Vec<String> {
    if want.kind != have.kind {
        return vec!["type".into()];
    }
    let fixed = forces_replacement(&want.kind);
    let mut out: Vec<String> = attrs
        .iter()
        .filter(|a| {
            fixed
                .iter()
                .any(|f| a.path == *f || a.path.starts_with(&format!("{f}.")) || a.path.starts_with(&format!("{f}[")))
        })
        .map(|a| a.path.clone())
        .collect();
    out.dedup();
    out
}

/// Attributes that cannot change in place, per type: names AWS never renames (a bucket, an
/// IAM role or policy, a KMS alias, a node group and the cluster it joins, a backup vault or
/// plan, a budget, a web ACL and its scope, a pod identity association's subject), the node
/// group's instance shape (EKS creates a new group for `instance_types`, `ami_type`,
/// `capacity_type`, `disk_size`), and the fields the Kubernetes API declares immutable: a
/// workload's `spec.selector`, a Job's `spec.template`, a Service's `spec.clusterIP`.
pub fn forces_replacement(kind: &str) -> &'static [&'static str] {
    match kind {
        "aws_s3_bucket" => &["bucket"],
        "aws_iam_role" | "aws_iam_policy" | "aws_kms_alias" | "aws_budgets_budget" | "aws_backup_vault" => &["name"],
        "aws_backup_plan" => &["name"],
        "aws_wafv2_web_acl" => &["name", "scope"],
        "aws_eks_node_group" => {
            &["cluster_name", "node_group_name", "instance_types", "ami_type", "capacity_type", "disk_size"]
        }
        "aws_eks_pod_identity_association" => &["cluster_name", "namespace", "service_account"],
        "apps/v1 Deployment" | "apps/v1 StatefulSet" | "argoproj.io/v1alpha1 Rollout" => &["spec.selector"],
        "batch/v1 Job" => &["spec.template"],
        "v1 Service" => &["spec.clusterIP"],
        _ => &[],
    }
}

/// Leaf-level differences between two JSON trees (objects by key, lists by index).
pub fn diff(before: &Value, after: &Value) -> Vec<AttrChange> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<AttrChange>) {
    if a == b {
        return;
    }
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(&join(k), x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{path}[{i}]"), x.get(i).unwrap_or(&Value::Null), y.get(i).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Null, Value::Object(y)) => {
            for (k, v) in y {
                walk(&join(k), &Value::Null, v, out);
            }
        }
        (Value::Object(x), Value::Null) => {
            for (k, v) in x {
                walk(&join(k), v, &Value::Null, out);
            }
        }
        _ => out.push(AttrChange {
            path: path.to_string(),
            before: (!a.is_null()).then(|| a.clone()),
            after: (!b.is_null()).then(|| b.clone()),
        }),
    }
}

/// Refuses a saved plan whose state moved on (another serial), that was made against another
/// state (another lineage), or whose stack changed since (another desired inventory) — before
/// any mutating call.
pub fn check_fresh(
    plan: &Plan,
    state: Option<&StateDoc>,
    location: &str,
    desired: &BTreeMap<String, Resource>,
) -> Result<(), OpError> {
    let (lineage, serial) = (state.map(|s| s.lineage.clone()), state.map_or(0, |s| s.serial));
    if plan.lineage.is_some() && plan.lineage != lineage {
        return Err(OpError::new(
            codes::PLAN_FOREIGN,
            format!(
                "the plan was made against another state (lineage {}), not {location} (lineage {})",
                plan.lineage.as_deref().unwrap_or("none"),
                lineage.as_deref().unwrap_or("none")
            ),
        )
        .with_help("make a new plan against this state: `aistack plan FILE --out PLAN`"));
    }
    if plan.serial != serial || (plan.lineage.is_none() && lineage.is_some()) {
        return Err(OpError::new(
            codes::PLAN_STALE,
            format!(
                "the plan is stale: it was made at serial {} of {location}, which is now at serial {serial}",
                plan.serial
            ),
        )
        .with_help("someone applied since; make a new plan: `aistack plan FILE --out PLAN`"));
    }
    if plan.desired_hash != desired_hash(desired) {
        return Err(OpError::new(codes::PLAN_STALE, "the plan is stale: the stack changed since it was made")
            .with_help("make a new plan from the stack as it is: `aistack plan FILE --out PLAN`"));
    }
    Ok(())
}
