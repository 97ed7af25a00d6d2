//! Emit: the IR to the files a platform team ships.
//!
//! Takes: an [`ir::Stack`], through its [`crate::graph`] for `kubernetes/` and `terraform/`.
//! Gives: [`Artifact`]s (path, bytes, the declarations each came
//! from) for `kubernetes/` (one YAML per object and a `kustomization.yaml`), `terraform/`,
//! `serving/<service>/` and user templates, `PREREQUISITES.md` (the add-ons the output
//! needs, [`prereq`]), plus `manifest.json` with content hashes and the same prerequisites.
//! Output is deterministic: fixed orders, no clocks, no randomness. `build` also records the
//! stack's identity in the manifest ([`identity`]: a hash of the root file's canonical path,
//! so no machine path is shipped), which is how it recognises its own earlier output.

pub mod access;
pub mod hcl;
pub mod k8s;
pub mod prereq;
pub mod promql;
pub mod serving;
pub mod template;
pub mod terraform;
pub mod yaml;

use crate::diag::Diagnostic;
use crate::ir::{self, lower::hex};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One emitted file.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    /// Path relative to the output folder, with `/` separators.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Full addresses (`service.chat`) of the declarations it was built from.
    pub sources: Vec<String>,
}

impl Artifact {
    pub fn new(path: impl Into<String>, text: impl Into<String>, sources: Vec<String>) -> Artifact {
        Artifact { path: path.into(), bytes: text.into().into_bytes(), sources }
    }
}

/// The manifest field that holds [`identity`].
pub const IDENTITY_FIELD: &str = "root_path_sha256";

/// Which stack an output came from: the hex SHA-256 of its root file's canonical path.
pub fn identity(canonical_root: &std::path::Path) -> String {
    hex(&Sha256::digest(canonical_root.as_os_str().as_encoded_bytes()))
}

/// Everything `build` writes, sorted by path, with `manifest.json` last-added; the manifest
/// carries no identity (see [`emit_with_identity`]).
pub fn emit(stack: &ir::Stack) -> (Vec<Artifact>, Vec<Diagnostic>) {
    emit_with_identity(stack, None)
}

/// [`emit`], with `identity` recorded in `manifest.json` as [`IDENTITY_FIELD`] after `stack`.
pub fn emit_with_identity(stack: &ir::Stack, identity: Option<&str>) -> (Vec<Artifact>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let (graph, mut diags) = crate::graph::build_with_diags(stack, &crate::graph::Options::default());
    k8s::render(&graph, &mut out);
    terraform::render(&graph, &mut out);
    serving::emit(stack, &mut out, &mut diags);
    template::emit(stack, &mut out, &mut diags);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    for pair in out.windows(2) {
        if pair[0].path == pair[1].path && pair[0].bytes != pair[1].bytes {
            diags.push(Diagnostic::sourceless(
                crate::diag::codes::OUTPUT_CLASH,
                format!(
                    "{} and {} both produce {}; rename one of them",
                    pair[0].sources.first().map_or("the stack", String::as_str),
                    pair[1].sources.first().map_or("the stack", String::as_str),
                    pair[0].path
                ),
            ));
        }
    }
    out.dedup_by(|a, b| a.path == b.path);
    let prereqs = prereq::prerequisites(stack, &out);
    out.push(Artifact::new(
        "PREREQUISITES.md",
        prereq::markdown(stack, &prereqs),
        vec![format!("stack.{}", stack.name)],
    ));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.push(manifest(stack, &out, &prereqs, identity));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    (out, diags)
}

/// Hex SHA-256 of a file's bytes, as `manifest.json` records it.
pub fn content_hash(a: &Artifact) -> String {
    hex(&Sha256::digest(&a.bytes))
}

fn manifest(stack: &ir::Stack, files: &[Artifact], prereqs: &[prereq::Prereq], identity: Option<&str>) -> Artifact {
    let mut by_decl: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|a| {
            for s in &a.sources {
                by_decl.entry(s.clone()).or_default().push(a.path.clone());
            }
            serde_json::json!({
                "path": a.path,
                "sha256": content_hash(a),
                "bytes": a.bytes.len(),
                "from": a.sources,
            })
        })
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert("aistack".into(), env!("CARGO_PKG_VERSION").into());
    doc.insert("stack".into(), stack.name.clone().into());
    if let Some(id) = identity {
        doc.insert(IDENTITY_FIELD.into(), id.into());
    }
    doc.insert("files".into(), entries.into());
    doc.insert("declarations".into(), serde_json::json!(by_decl));
    doc.insert("prerequisites".into(), serde_json::json!(prereqs));
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    Artifact::new("manifest.json", text, Vec::new())
}

/// Labels every object carries: who manages it, which stack and which declaration.
pub fn labels(stack: &ir::Stack, meta: &ir::Meta) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("app.kubernetes.io/managed-by".into(), "aistack".into());
    l.insert("app.kubernetes.io/part-of".into(), label_value(&stack.name));
    l.insert("aistack.dev/stack".into(), label_value(&stack.name));
    l.insert("aistack.dev/kind".into(), meta.kind.to_string());
    l.insert("aistack.dev/declaration".into(), label_value(&meta.name));
    l
}

/// A valid label value: at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
pub fn label_value(s: &str) -> String {
    let v: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' }).collect();
    let v: String = v.chars().take(63).collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}
