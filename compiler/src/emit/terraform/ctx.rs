//! What the Terraform files need to know about each other.
//!
//! Takes: the [`ir::Stack`]. Gives: a [`Ctx`] with the facts several files share (the audit
//! store; which buckets are replicated, backed up or behind a CDN; which extra regions need an
//! aliased provider, a KMS key and an access-log bucket), the Terraform names of shared
//! resources (chosen so they never collide with a declaration's identifier), and helpers for
//! references, tags, AWS resource names, variables, outputs and checkov skip comments.

use crate::emit::hcl::{Block, Expr};
use crate::ir::lower::{hex, tf_ident};
use crate::ir::{self, Backend};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Terraform name of the stack's KMS key in its home region.
pub const HOME_KEY: &str = "stack";
/// CloudFront-scope WAF web ACLs (and their logs) live here.
pub const CLOUDFRONT_REGION: &str = "us-east-1";

/// A region other than the stack's that holds resources (DR replicas and vaults, or the
/// CloudFront WAF).
#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    /// Provider alias: `us_west_2`.
    pub alias: String,
    /// Terraform name of its KMS key.
    pub key: String,
    /// Terraform name of its S3 access-log bucket, when buckets live there.
    pub log_bucket: Option<String>,
    /// Declarations that put resources there.
    pub sources: Vec<String>,
}

/// The policy's audit trail, when its store is an S3 bucket.
#[derive(Clone, Debug)]
pub struct Audit {
    pub store: usize,
    pub retain_days: u64,
}

pub struct Ctx<'a> {
    pub s: &'a ir::Stack,
    /// `stack.<name>`: the declaration behind stack-wide resources.
    pub stack_addr: String,
    /// The stack's name as a DNS label, the prefix of every AWS resource name.
    pub label: String,
    pub audit: Option<Audit>,
    /// S3 storage → the dr that replicates it (the first one, if several do).
    pub replicated: BTreeMap<usize, usize>,
    /// Storage → the dr whose backup plan selects it (the first one).
    pub backed_up: BTreeMap<usize, usize>,
    /// S3 storage → the cdns it is the origin of.
    pub cdn_origins: BTreeMap<usize, Vec<usize>>,
    pub regions: Vec<Region>,
    /// Terraform name of the home region's access-log bucket.
    pub access_logs: String,
    /// Terraform name of the CloudFront standard-log bucket (when there are cdns).
    pub cdn_logs: Option<String>,
    /// Replicated storage → Terraform name of its replica bucket.
    pub replicas: BTreeMap<usize, String>,
}

impl<'a> Ctx<'a> {
    pub fn new(s: &'a ir::Stack) -> Ctx<'a> {
        let is_s3 = |i: usize| s.storages.get(i).is_some_and(|st| st.backend == Backend::S3);
        let mut replicated = BTreeMap::new();
        let mut backed_up = BTreeMap::new();
        for (d, dr) in s.drs.iter().enumerate() {
            for &t in dr.replicate.iter().filter(|&&t| is_s3(t)) {
                replicated.entry(t).or_insert(d);
            }
            for &t in dr.backup.iter().flat_map(|b| &b.targets) {
                backed_up.entry(t).or_insert(d);
            }
        }
        let mut cdn_origins: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (c, cdn) in s.cdns.iter().enumerate() {
            if is_s3(cdn.origin) {
                cdn_origins.entry(cdn.origin).or_default().push(c);
            }
        }
        let audit = s
            .policy
            .as_ref()
            .and_then(|p| p.audit)
            .filter(|(_, store)| is_s3(*store))
            .map(|(days, store)| Audit { store, retain_days: days.max(1) });

        // Names of aws_s3_bucket resources: declarations first, then the stack's own buckets.
        let mut taken: BTreeSet<String> =
            s.storages.iter().filter(|st| st.backend == Backend::S3).map(|st| st.meta.ident.clone()).collect();
        let mut fresh = |base: String| {
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(name.clone());
            name
        };
        let access_logs = fresh("access_logs".into());
        let mut regions: Vec<Region> = Vec::new();
        let add = |regions: &mut Vec<Region>, name: &str, buckets: bool, source: String| {
            if name == s.region {
                return;
            }
            let alias = tf_ident(name);
            let r = match regions.iter_mut().position(|r| r.alias == alias) {
                Some(i) => regions.get_mut(i),
                None => {
                    regions.push(Region {
                        name: name.to_string(),
                        key: alias.clone(),
                        alias,
                        log_bucket: None,
                        sources: Vec::new(),
                    });
                    regions.last_mut()
                }
            };
            if let Some(r) = r {
                if buckets && r.log_bucket.is_none() {
                    r.log_bucket = Some(String::new());
                }
                if !r.sources.contains(&source) {
                    r.sources.push(source);
                }
            }
        };
        for dr in &s.drs {
            let replicates = dr.replicate.iter().any(|&t| is_s3(t));
            if replicates || dr.backup.is_some() {
                add(&mut regions, &dr.secondary, replicates, dr.meta.full_address());
            }
        }
        for cdn in &s.cdns {
            add(&mut regions, CLOUDFRONT_REGION, false, cdn.meta.full_address());
        }
        for r in &mut regions {
            if r.log_bucket.is_some() {
                r.log_bucket = Some(fresh(format!("access_logs_{}", r.alias)));
            }
        }
        let cdn_logs = (!s.cdns.is_empty()).then(|| fresh("cdn_logs".into()));
        let replicas = replicated
            .keys()
            .filter_map(|&i| Some((i, fresh(format!("{}_replica", s.storages.get(i)?.meta.ident)))))
            .collect();
        Ctx {
            s,
            stack_addr: format!("stack.{}", s.name),
            label: crate::ir::lower::dns_name(&s.name),
            audit,
            replicated,
            backed_up,
            cdn_origins,
            regions,
            access_logs,
            cdn_logs,
            replicas,
        }
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        if name == self.s.region {
            return None;
        }
        self.regions.iter().find(|r| r.name == name)
    }

    /// `provider = aws.<alias>` for resources in `region`, nothing for the home region.
    pub fn provider(&self, region: &str) -> Option<Expr> {
        self.region(region).map(|r| Expr::raw(format!("aws.{}", r.alias)))
    }

    /// The KMS key of `region` (the home key for the home region or an unknown one).
    pub fn key(&self, region: &str) -> String {
        self.region(region).map_or_else(|| HOME_KEY.to_string(), |r| r.key.clone())
    }
    pub fn key_arn(&self, region: &str) -> Expr {
        Expr::tf("aws_kms_key", &self.key(region), "arn")
    }

    /// The access-log bucket that buckets in `region` log to.
    pub fn log_bucket(&self, region: &str) -> String {
        self.region(region).and_then(|r| r.log_bucket.clone()).unwrap_or_else(|| self.access_logs.clone())
    }

    /// An AWS resource name: the stack label and `parts` joined by `-`, at most `max` bytes.
    pub fn name(&self, parts: &[&str], max: usize) -> String {
        let mut s = self.label.clone();
        for p in parts {
            s.push('-');
            s.push_str(p);
        }
        fit(&s, max)
    }

    pub fn storage(&self, i: usize) -> Option<&'a ir::Storage> {
        self.s.storages.get(i)
    }
}

/// `s` cut to `max` bytes, keeping it unique with a hash of the whole when it is cut.
pub fn fit(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash = hex(&Sha256::digest(s.as_bytes()));
    let keep: String = s.chars().take(max.saturating_sub(9)).collect();
    format!("{}-{}", keep.trim_end_matches(['-', '_', '.']), hash.get(..8).unwrap_or_default())
}

pub fn raw(s: impl Into<String>) -> Expr {
    Expr::Raw(s.into())
}

pub fn account() -> Expr {
    Expr::data("aws_caller_identity", "current", "account_id")
}

pub fn partition() -> Expr {
    Expr::data("aws_partition", "current", "partition")
}

/// `format(pattern, args…)`: an ARN built from references and escaped strings.
pub fn format(pattern: &str, args: Vec<Expr>) -> Expr {
    let mut all = vec![Expr::str(pattern)];
    all.extend(args);
    Expr::call("format", all)
}

/// `tags = { aistack-declaration = "<address>" }`; provider default tags add the rest.
pub fn tags(address: &str) -> Expr {
    Expr::Object(vec![("aistack-declaration".into(), Expr::str(address))])
}

/// A checkov skip comment for the enclosing resource, with its reason.
pub fn skip(check: &str, reason: &str) -> String {
    format!("checkov:skip={check}:{}", reason.replace('\n', " "))
}

/// Adds `provider = …` first, when the resource is not in the home region.
pub fn resource(kind: &str, name: &str, provider: &Option<Expr>) -> Block {
    Block::new("resource", &[kind, name]).attr_opt("provider", provider.clone())
}

/// Name of a variable or output that belongs to one declaration: `<kind>_<ident>_<what>`, so
/// names of different declarations, and of the stack's own inputs, never meet.
pub fn io_name(meta: &ir::Meta, what: &str) -> String {
    format!("{}_{}_{what}", meta.kind, meta.ident)
}

pub fn variable(name: &str, ty: &str, description: &str) -> Block {
    Block::new("variable", &[name]).attr("type", raw(ty)).attr("description", Expr::str(description))
}

pub fn output(name: &str, description: &str, value: Expr) -> Block {
    Block::new("output", &[name]).attr("description", Expr::str(description)).attr("value", value)
}

/// One emitted `.tf` file before it is written, with the variables and outputs it adds to
/// `variables.tf` and `outputs.tf`.
#[derive(Default)]
pub struct TfFile {
    pub name: String,
    pub header: String,
    pub sources: Vec<String>,
    pub blocks: Vec<Block>,
    pub variables: Vec<Block>,
    pub outputs: Vec<Block>,
}

impl TfFile {
    pub fn new(name: &str, header: &str, sources: Vec<String>) -> TfFile {
        TfFile { name: name.to_string(), header: header.to_string(), sources, ..TfFile::default() }
    }
    pub fn source(&mut self, address: String) {
        if !self.sources.contains(&address) {
            self.sources.push(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_short_names_and_hashes_long_ones() {
        assert_eq!(fit("llm-platform-audit", 64), "llm-platform-audit");
        let long = "a".repeat(80);
        let cut = fit(&long, 64);
        assert_eq!(cut.len(), 64);
        assert_ne!(cut, fit(&"a".repeat(81), 64));
    }
}
