//! The resource graph: what a stack asks the engines to create, between the IR and the writers.
//!
//! Takes: an [`ir::Stack`] (via [`build`]). Gives: a [`ResourceGraph`] of desired
//! [`Resource`]s — every Terraform `resource` block and every Kubernetes object — each with a
//! stable [`Address`], its engine, type and name, a typed attribute tree ([`Attrs`]) whose
//! references to other resources are [`Ref`]s by address, and its [`Origin`] (the
//! declaration and where it is written). Dependencies form a petgraph `StableDiGraph`: an edge
//! for every reference and `depends_on` ([`tf`]), and the Kubernetes ordering the workloads
//! rely on ([`kube`]: the namespace first, ServiceAccounts, ConfigMaps, Secrets' stores and
//! analyses before the objects that name them). The graph also keeps how the resources are
//! laid out in files ([`TerraformFile`], [`KubernetesFile`]), so the HCL and YAML writers
//! render `terraform/` and `kubernetes/` from it. It serialises to JSON in a fixed
//! order (resources by address, then edges and files) and renders as DOT ([`ResourceGraph::to_dot`]).
//!
//! Addresses are the declaration's address as the checker prints it (`service.chat`,
//! `storage.obs.audit_logs`, `service.embed["us-east-1"]`; `stack` for the stack's own
//! resources), `/`, and a role: for Terraform the resource type without `aws_` and `s3_`
//! (`storage.models/bucket_versioning`, `stack/kms_key`), for Kubernetes the kind in lower
//! case (`service.chat/rollout`); `.<name>` follows when the Terraform or Kubernetes name is
//! not the declaration's own (`stack/bucket.access_logs`, `service.chat/service.chat-canary`).
//! Nothing machine-specific enters an address, so it is identical across runs and machines.

mod dot;
mod kube;
mod tf;

pub use kube::{from_json, to_json};

use crate::diag::Diagnostic;
use crate::emit::hcl::{self, Expr};
use crate::ir::{self, DeclSpan};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::Direction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A resource's stable, human-readable name: `<declaration>/<role>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// `<owner>/<role>`, with `.<name>` when `name` is not the owner's own.
    pub fn new(owner: &str, role: &str, name: &str, own_name: &str) -> Address {
        if name == own_name {
            Address(format!("{owner}/{role}"))
        } else {
            Address(format!("{owner}/{role}.{name}"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The declaration part: `service.chat`, or `stack`.
    pub fn owner(&self) -> &str {
        self.0.rsplit_once('/').map_or(self.0.as_str(), |(o, _)| o)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to another resource, or (`attr: None`) to the resource itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ref {
    pub to: Address,
    pub attr: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Terraform,
    Kubernetes,
}

/// A resource's attributes: the body of a Terraform block (attributes, nested blocks and
/// checkov comments, in written order) or a Kubernetes object as a value tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attrs {
    Terraform(Vec<hcl::Item>),
    Kubernetes(Expr),
}

/// The declaration a resource comes from (`service.chat`, `stack.hello`) and where it is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub decl: String,
    pub span: Option<DeclSpan>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    pub engine: Engine,
    /// `aws_s3_bucket`, or `apps/v1 Deployment`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The Terraform name, or the Kubernetes `namespace/name` (`name` when cluster-scoped).
    pub name: String,
    pub attrs: Attrs,
    pub origin: Origin,
}

impl Resource {
    /// Hex SHA-256 of the attributes' canonical JSON (fixed field and entry order).
    pub fn attrs_hash(&self) -> String {
        let json = serde_json::to_string(&self.attrs).unwrap_or_default();
        crate::ir::lower::hex(&Sha256::digest(json.as_bytes()))
    }

    /// Every reference in the attributes, in written order.
    pub fn refs(&self) -> Vec<&Ref> {
        let mut out = Vec::new();
        match &self.attrs {
            Attrs::Terraform(items) => items.iter().for_each(|i| tf::item_refs(i, &mut out)),
            Attrs::Kubernetes(e) => tf::expr_refs(e, &mut out),
        }
        out
    }
}

/// Why one resource comes after another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The dependent reads this attribute of the dependency.
    Ref(String),
    /// An explicit `depends_on`.
    DependsOn,
    /// A Kubernetes ordering fact, e.g. `serviceAccountName`.
    Order(String),
}

/// One `terraform/*.tf` file: its header and, in order, resources and other blocks
/// (`terraform`, `provider`, `variable`, `output`, `data`, `locals`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerraformFile {
    pub name: String,
    pub header: String,
    pub sources: Vec<String>,
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Resource(Address),
    Block(hcl::Block),
}

/// One `kubernetes/<file>.yaml`, holding one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KubernetesFile {
    /// File stem: `deployment-chat`.
    pub file: String,
    pub address: Address,
    pub sources: Vec<String>,
}

/// What went wrong putting resources into a graph: always a bug of the emitters.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphError {
    Duplicate(Address),
    Missing(Address),
    Cycle(Address),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Duplicate(a) => write!(f, "two resources have the address {a}"),
            GraphError::Missing(a) => write!(f, "no resource has the address {a}"),
            GraphError::Cycle(a) => write!(f, "{a} depends on itself through a cycle"),
        }
    }
}

/// Which engines' resources to build.
#[derive(Clone, Debug)]
pub struct Options {
    pub terraform: bool,
    pub kubernetes: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { terraform: true, kubernetes: true }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ResourceGraph {
    graph: StableDiGraph<Resource, Why>,
    index: BTreeMap<Address, NodeIndex>,
    pub terraform_files: Vec<TerraformFile>,
    pub kubernetes_files: Vec<KubernetesFile>,
}

/// The stack's resources; see [`build_with_diags`] for the diagnostics emitting reports.
pub fn build(stack: &ir::Stack, options: &Options) -> ResourceGraph {
    build_with_diags(stack, options).0
}

/// [`build`], with what the emitters report (unrenderable settings, output clashes).
pub fn build_with_diags(stack: &ir::Stack, options: &Options) -> (ResourceGraph, Vec<Diagnostic>) {
    let decls = Decls::new(stack);
    let mut g = ResourceGraph::default();
    let mut diags = Vec::new();
    if options.kubernetes {
        let objs = crate::emit::k8s::objects(stack, &mut diags);
        kube::add(&mut g, &decls, objs, &mut diags);
    }
    if options.terraform {
        tf::add(&mut g, &decls, crate::emit::terraform::files(stack), &mut diags);
    }
    (g, diags)
}

/// What the graph needs to know of each declaration, by full address.
pub(crate) struct Decls {
    stack: ir::Meta,
    by_addr: BTreeMap<String, ir::Meta>,
}

impl Decls {
    fn new(s: &ir::Stack) -> Decls {
        let mut metas: Vec<&ir::Meta> = Vec::new();
        metas.extend(s.storages.iter().map(|x| &x.meta));
        metas.extend(s.models.iter().map(|x| &x.meta));
        metas.extend(s.datasets.iter().map(|x| &x.meta));
        metas.extend(s.pools.iter().map(|x| &x.meta));
        metas.extend(s.services.iter().map(|x| &x.meta));
        metas.extend(s.pipelines.iter().map(|x| &x.meta));
        metas.extend(s.cdns.iter().map(|x| &x.meta));
        metas.extend(s.policy.iter().map(|x| &x.meta));
        metas.extend(s.drs.iter().map(|x| &x.meta));
        metas.extend(s.budgets.iter().map(|x| &x.meta));
        metas.extend(s.monitors.iter().map(|x| &x.meta));
        metas.extend(s.rendered.iter().map(|x| &x.meta));
        let stack = s.meta();
        let mut by_addr: BTreeMap<String, ir::Meta> =
            metas.into_iter().map(|m| (m.full_address(), m.clone())).collect();
        by_addr.insert(stack.full_address(), stack.clone());
        Decls { stack, by_addr }
    }

    /// The declaration `addr` names, or the stack's own when it names none.
    fn owner(&self, addr: Option<&String>) -> &ir::Meta {
        addr.and_then(|a| self.by_addr.get(a)).unwrap_or(&self.stack)
    }

    /// `stack` for the stack, else the full address.
    fn prefix(&self, m: &ir::Meta) -> String {
        if m.kind == "stack" && m.address == self.stack.address {
            "stack".into()
        } else {
            m.full_address()
        }
    }

    fn origin(&self, m: &ir::Meta) -> Origin {
        Origin { decl: m.full_address(), span: m.span.clone() }
    }
}

impl ResourceGraph {
    /// Adds a resource; its address must be new.
    pub fn insert(&mut self, r: Resource) -> Result<(), GraphError> {
        if self.index.contains_key(&r.address) {
            return Err(GraphError::Duplicate(r.address));
        }
        let a = r.address.clone();
        let ix = self.graph.add_node(r);
        self.index.insert(a, ix);
        Ok(())
    }

    /// Records that `dependent` comes after `dependency` (once per pair; the first reason wins).
    pub fn depend(&mut self, dependent: &Address, dependency: &Address, why: Why) -> Result<(), GraphError> {
        let to = *self.index.get(dependent).ok_or_else(|| GraphError::Missing(dependent.clone()))?;
        let from = *self.index.get(dependency).ok_or_else(|| GraphError::Missing(dependency.clone()))?;
        if from != to && self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, why);
        }
        Ok(())
    }

    /// Every resource, in address order.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.index.values().filter_map(|&ix| self.graph.node_weight(ix))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, a: &Address) -> Option<&Resource> {
        self.index.get(a).and_then(|&ix| self.graph.node_weight(ix))
    }

    fn neighbours(&self, a: &Address, dir: Direction) -> Vec<&Address> {
        let Some(&ix) = self.index.get(a) else { return Vec::new() };
        let mut out: Vec<&Address> = self
            .graph
            .neighbors_directed(ix, dir)
            .filter_map(|n| self.graph.node_weight(n))
            .map(|r| &r.address)
            .collect();
        out.sort();
        out
    }

    /// What `a` needs first, in address order.
    pub fn deps(&self, a: &Address) -> Vec<&Address> {
        self.neighbours(a, Direction::Incoming)
    }

    /// What needs `a` first, in address order.
    pub fn dependents(&self, a: &Address) -> Vec<&Address> {
        self.neighbours(a, Direction::Outgoing)
    }

    /// Every edge as (dependent, dependency, why), sorted.
    pub fn edges(&self) -> Vec<(&Address, &Address, &Why)> {
        let mut out: Vec<(&Address, &Address, &Why)> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (from, to) = self.graph.edge_endpoints(e)?;
                Some((
                    &self.graph.node_weight(to)?.address,
                    &self.graph.node_weight(from)?.address,
                    self.graph.edge_weight(e)?,
                ))
            })
            .collect();
        out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        out
    }

    /// Every address, each after all it depends on; among the ready ones, address order.
    pub fn topo_order(&self) -> Result<Vec<&Address>, GraphError> {
        let mut waiting: BTreeMap<&Address, usize> =
            self.resources().map(|r| (&r.address, self.deps(&r.address).len())).collect();
        let mut ready: BTreeSet<&Address> = waiting.iter().filter(|(_, n)| **n == 0).map(|(a, _)| *a).collect();
        let mut out = Vec::with_capacity(waiting.len());
        while let Some(a) = ready.pop_first() {
            waiting.remove(a);
            out.push(a);
            for d in self.dependents(a) {
                if let Some(n) = waiting.get_mut(d) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(d);
                    }
                }
            }
        }
        match waiting.keys().next() {
            Some(a) => Err(GraphError::Cycle((*a).clone())),
            None => Ok(out),
        }
    }

    /// The graph as Graphviz DOT: nodes labelled by address and type, clustered by declaration,
    /// an edge from each dependency to its dependent.
    pub fn to_dot(&self) -> String {
        dot::render(self)
    }
}

impl hcl::Names for ResourceGraph {
    fn terraform(&self, a: &Address) -> Option<String> {
        self.get(a).filter(|r| r.engine == Engine::Terraform).map(|r| format!("{}.{}", r.type_, r.name))
    }
}

/// The serialised form: resources in address order, then the sorted edges and the files.
#[derive(Serialize, Deserialize)]
struct Doc {
    resources: Vec<Resource>,
    edges: Vec<Edge>,
    terraform_files: Vec<TerraformFile>,
    kubernetes_files: Vec<KubernetesFile>,
}

#[derive(Serialize, Deserialize)]
struct Edge {
    dependent: Address,
    dependency: Address,
    why: Why,
}

impl ResourceGraph {
    fn doc(&self) -> Doc {
        Doc {
            resources: self.resources().cloned().collect(),
            edges: self
                .edges()
                .into_iter()
                .map(|(a, b, w)| Edge { dependent: a.clone(), dependency: b.clone(), why: w.clone() })
                .collect(),
            terraform_files: self.terraform_files.clone(),
            kubernetes_files: self.kubernetes_files.clone(),
        }
    }
}

impl PartialEq for ResourceGraph {
    fn eq(&self, other: &ResourceGraph) -> bool {
        serde_json::to_value(self.doc()).ok() == serde_json::to_value(other.doc()).ok()
    }
}

impl Serialize for ResourceGraph {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.doc().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResourceGraph {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ResourceGraph, D::Error> {
        let doc = Doc::deserialize(d)?;
        let mut g = ResourceGraph {
            terraform_files: doc.terraform_files,
            kubernetes_files: doc.kubernetes_files,
            ..ResourceGraph::default()
        };
        for r in doc.resources {
            g.insert(r).map_err(serde::de::Error::custom)?;
        }
        for e in doc.edges {
            g.depend(&e.dependent, &e.dependency, e.why).map_err(serde::de::Error::custom)?;
        }
        Ok(g)
    }
}
