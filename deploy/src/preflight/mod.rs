//! Preflight: the checks only an AI-aware tool makes before a change. Each model and data set
//! artifact exists at its store and path and matches its `digest`; each image tag resolves to
//! a digest in its registry, which the plan records and apply pins.
//!
//! Takes: a checked [`Analysis`] without errors and [`Options`]. Gives: a [`Report`]: the
//! resolved images ([`ImageCheck`]: tag → digest, the pinned reference), the verified
//! artifacts, what could not be checked from here and why, and every failure as a located
//! [`Diagnostic`] (E0620–E0627) at the image string, or the model's `path` / `digest`.
//!
//! Modules: [`image`] parses references, [`registry`] speaks the OCI distribution API,
//! [`uses`] finds what the stack runs and pins, [`store`] reads objects (local folder, S3),
//! [`artifacts`] checks them against their manifests.

pub mod artifacts;
pub mod image;
pub mod registry;
pub mod store;
pub mod uses;

use aistack::check::Analysis;
use aistack::diag::{codes, Diagnostic};
use artifacts::{Artifact, Finding, HashCache, Verified};
use image::ImageRef;
use registry::{Client, RegistryError};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{LocalStore, ObjectStore};
use uses::{ArtifactUse, ImageUse, Location};

/// What to check and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub images: bool,
    pub artifacts: bool,
    /// Store address → a local folder read in its place (a file-system store mounted here, a
    /// mirror, a test). Stores not listed are read from S3, or skipped when not S3.
    pub local_stores: BTreeMap<String, PathBuf>,
    /// The hash cache file ([`default_cache`]); `None` reads every object every time.
    pub cache: Option<PathBuf>,
    /// Bound on each registry request.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            images: true,
            artifacts: true,
            local_stores: BTreeMap::new(),
            cache: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// `.aistack/preflight-cache.json` beside the stack's root file.
pub fn default_cache(root_file: &Path) -> PathBuf {
    let dir = root_file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(".aistack").join("preflight-cache.json")
}

/// One image resolved by its registry.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageCheck {
    pub declaration: String,
    /// As written in the stack (or the engine default).
    pub written: String,
    pub image: ImageRef,
    /// `sha256:…` the registry serves for the reference.
    pub digest: String,
    /// `registry/repository@sha256:…`, what apply renders.
    pub pinned: String,
}

/// One artifact that passed.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactCheck {
    pub declaration: String,
    pub verified: Verified,
}

/// A declaration preflight could not check from here, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub declaration: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub images: Vec<ImageCheck>,
    pub artifacts: Vec<ArtifactCheck>,
    pub skipped: Vec<Skipped>,
    /// Located errors, sorted like the compiler's.
    pub diags: Vec<Diagnostic>,
    /// Non-fatal remarks (a hash cache that could not be written).
    pub notes: Vec<String>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// The report as JSON (the `aistack preflight --json` schema); diagnostics as
    /// `check --format json` writes them.
    pub fn to_json(&self, sources: &aistack::source::SourceMap) -> serde_json::Value {
        use serde_json::json;
        let images: Vec<_> = self
            .images
            .iter()
            .map(|i| {
                json!({"declaration": i.declaration, "image": i.written, "reference": i.image.to_string(),
                       "digest": i.digest, "pinned": i.pinned})
            })
            .collect();
        let artifacts: Vec<_> = self
            .artifacts
            .iter()
            .map(|a| {
                let v = &a.verified;
                json!({"declaration": a.declaration, "location": v.location, "digest": v.digest,
                       "files": v.files, "bytes": v.bytes, "hashed_bytes": v.hashed_bytes})
            })
            .collect();
        let skipped: Vec<_> =
            self.skipped.iter().map(|s| json!({"declaration": s.declaration, "reason": s.reason})).collect();
        let mut out = aistack::diag::json::report(&self.diags, sources);
        if let Some(o) = out.as_object_mut() {
            o.insert("images".into(), json!(images));
            o.insert("artifacts".into(), json!(artifacts));
            o.insert("skipped".into(), json!(skipped));
            o.insert("notes".into(), json!(self.notes));
        }
        out
    }
}

/// Runs the preflight checks `opts` asks for on a checked stack.
pub fn run(a: &Analysis, opts: &Options) -> Report {
    let mut report = Report::default();
    if opts.images {
        check_images(&uses::images(a), &Client::new(opts.timeout), &mut report);
    }
    if opts.artifacts {
        check_artifacts(a, &uses::artifacts(a), opts, &mut report);
    }
    aistack::diag::sort(&mut report.diags);
    report
}

/// Resolves each distinct reference once; each use gets the result.
pub fn check_images(list: &[ImageUse], client: &Client, report: &mut Report) {
    let mut seen: HashMap<ImageRef, Result<String, RegistryError>> = HashMap::new();
    for u in list {
        let parsed = match image::parse(&u.image) {
            Ok(p) => p,
            Err(why) => {
                report.diags.push(at_image(u, codes::IMAGE_REFERENCE, format!("malformed image reference: {why}")));
                continue;
            }
        };
        let result = seen.entry(parsed.clone()).or_insert_with(|| client.resolve(&parsed).map(|r| r.digest)).clone();
        match result {
            Ok(digest) => report.images.push(ImageCheck {
                declaration: u.declaration.clone(),
                written: u.image.clone(),
                pinned: parsed.pinned(&digest),
                image: parsed,
                digest,
            }),
            Err(e) => report.diags.push(registry_diag(u, &parsed, &e)),
        }
    }
}

/// A diagnostic at the image string, or at the service for an engine default.
fn at_image(u: &ImageUse, code: &'static str, message: String) -> Diagnostic {
    match u.default_for {
        Some(name) => Diagnostic::error(code, name, message)
            .with_primary_label(format!("{} runs its engine's default image", u.declaration))
            .with_label(u.span, "the default image, from the standard library"),
        None => Diagnostic::error(code, u.span, message),
    }
}

fn registry_diag(u: &ImageUse, image: &ImageRef, e: &RegistryError) -> Diagnostic {
    let what = image.to_string();
    let (code, message, help) = match e {
        RegistryError::NotFound(m) => (
            codes::IMAGE_NOT_FOUND,
            format!("image `{what}` is not in its registry: {m}"),
            format!("push `{what}` to {}, or fix the repository or tag", image.registry),
        ),
        RegistryError::AuthRequired(m) => (
            codes::REGISTRY_AUTH,
            format!("cannot read image `{what}`: {m}"),
            "make the repository public to anonymous pulls, or pin the image by digest (`repo@sha256:…`) \
             so the plan records it without asking the registry"
                .to_string(),
        ),
        RegistryError::Unreachable(m) | RegistryError::Protocol(m) => (
            codes::REGISTRY_UNREACHABLE,
            format!("cannot resolve image `{what}`: {m}"),
            format!(
                "check that {} is reachable from here; a registry on plain HTTP must be listed in {}",
                image.registry,
                registry::INSECURE_ENV
            ),
        ),
    };
    at_image(u, code, message).with_help(help)
}

/// Verifies each artifact in its store.
pub fn check_artifacts(a: &Analysis, list: &[ArtifactUse], opts: &Options, report: &mut Report) {
    let mut cache = opts.cache.as_deref().map_or_else(HashCache::in_memory, HashCache::load);
    let mut s3 = S3Stores::default();
    for u in list {
        let store: Box<dyn ObjectStore> = match (opts.local_stores.get(&u.store), &u.location) {
            (Some(dir), _) => Box::new(LocalStore { root: dir.clone() }),
            (None, Location::S3 { bucket }) => match s3.store(bucket, region(a)) {
                Ok(s) => s,
                Err(reason) => {
                    report.skipped.push(Skipped { declaration: u.declaration.clone(), reason });
                    continue;
                }
            },
            (None, Location::FileSystem { backend }) => {
                let reason = format!(
                    "its store `{}` is a {backend} file system, not reachable from here; map it to a local \
                     folder with --store {}=DIR to check it",
                    u.store, u.store
                );
                report.skipped.push(Skipped { declaration: u.declaration.clone(), reason });
                continue;
            }
        };
        let art = Artifact { prefix: u.prefix.clone(), may_be_object: u.may_be_object, digest: u.digest.clone() };
        match artifacts::verify(store.as_ref(), &art, &mut cache) {
            Ok(verified) => report.artifacts.push(ArtifactCheck { declaration: u.declaration.clone(), verified }),
            Err(f) => report.diags.push(artifact_diag(u, &f)),
        }
    }
    if let Err(e) = cache.save() {
        report.notes.push(format!("the hash cache was not saved ({e}); the next run reads every object again"));
    }
}

fn region(a: &Analysis) -> String {
    uses_region(a).unwrap_or_else(|| "us-east-1".into())
}

fn uses_region(a: &Analysis) -> Option<String> {
    a.decls.iter().zip(&a.active).find_map(|(d, on)| {
        let schema = a.prog.types.schema(d.kind?);
        (*on && schema.std && schema.name == "stack").then_some(())?;
        d.record.as_ref()?.get("region")?.as_str().map(str::to_string)
    })
}

/// One S3 reader per run, shared by every bucket's store.
#[derive(Default)]
struct S3Stores {
    #[cfg(feature = "aws")]
    objects: Option<std::rc::Rc<aistack_aws::objects::Objects>>,
}

impl S3Stores {
    #[cfg(feature = "aws")]
    fn store(&mut self, bucket: &str, region: String) -> Result<Box<dyn ObjectStore>, String> {
        let objects = match &self.objects {
            Some(o) => o.clone(),
            None => {
                let o = std::rc::Rc::new(aistack_aws::objects::Objects::new(&region)?);
                self.objects = Some(o.clone());
                o
            }
        };
        Ok(Box::new(store::S3Store::new(bucket, objects)))
    }

    #[cfg(not(feature = "aws"))]
    fn store(&mut self, _bucket: &str, _region: String) -> Result<Box<dyn ObjectStore>, String> {
        Err("this aistack was built without AWS support (the `aws` feature), so S3 stores are not read".into())
    }
}

fn artifact_diag(u: &ArtifactUse, f: &Finding) -> Diagnostic {
    let digest_at = u.digest_span.unwrap_or(u.path_span);
    let pinned = u.digest.as_deref().unwrap_or_default();
    match f {
        Finding::Missing { location } => {
            let mut d = Diagnostic::error(codes::ARTIFACT_MISSING, u.path_span, format!("{} has no artifact: nothing under {location}", u.declaration))
                .with_help("upload the artifact there (docs/outputs.md §3.1: one prefix per version, with MANIFEST.sha256), or fix `path`");
            if let Some(v) = u.version_span {
                d = d.with_label(v, "the version is the last folder of the prefix");
            }
            d
        }
        Finding::NoManifest { location } => Diagnostic::error(
            codes::ARTIFACT_MISSING,
            digest_at,
            format!("{} pins a digest, but {location} has no {}", u.declaration, artifacts::MANIFEST),
        )
        .with_help("write MANIFEST.sha256 beside the files (`sha256sum` of every file, paths relative to the prefix) and upload it; its SHA-256 is the digest"),
        Finding::DigestMismatch { location, found } => Diagnostic::error(
            codes::ARTIFACT_DIGEST,
            digest_at,
            format!("{} does not match its digest: {location} has digest {found}", u.declaration),
        )
        .with_primary_label(format!("pins {pinned}"))
        .with_help(format!("if {location} holds the artifact you mean, set `digest = \"{found}\"`; otherwise upload the artifact the digest pins")),
        Finding::BadManifest { location, line } => Diagnostic::error(
            codes::ARTIFACT_FILES,
            digest_at,
            format!("{location}{} line {line} is not `<sha256>  <path>`", artifacts::MANIFEST),
        )
        .with_help("write the manifest with `sha256sum` (docs/outputs.md §3.1)"),
        Finding::FilesDiffer { location, unlisted, absent } => Diagnostic::error(
            codes::ARTIFACT_FILES,
            digest_at,
            format!("the objects under {location} are not the files its {} lists", artifacts::MANIFEST),
        )
        .with_help(files_help(unlisted, absent)),
        Finding::FileMismatch { location, file, found, listed } => Diagnostic::error(
            codes::ARTIFACT_FILES,
            digest_at,
            format!("{location}{file} has sha256 {found}; {} lists {listed}", artifacts::MANIFEST),
        )
        .with_help("upload the file the manifest lists, or regenerate the manifest (and then the digest) for the files there"),
        Finding::Unreadable(why) => Diagnostic::error(
            codes::ARTIFACT_UNREADABLE,
            u.path_span,
            format!("cannot read the artifact of {}: {why}", u.declaration),
        )
        .with_help("check the credentials, the bucket name and AWS_ENDPOINT_URL (or the folder given with --store)"),
    }
}

fn files_help(unlisted: &[String], absent: &[String]) -> String {
    let few = |xs: &[String]| {
        let mut s = xs.iter().take(5).map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ");
        if xs.len() > 5 {
            s.push_str(&format!(" and {} more", xs.len() - 5));
        }
        s
    };
    let mut parts = Vec::new();
    if !unlisted.is_empty() {
        parts.push(format!("not in the manifest: {}", few(unlisted)));
    }
    if !absent.is_empty() {
        parts.push(format!("listed but absent: {}", few(absent)));
    }
    format!("{}; upload the missing files or regenerate the manifest (and the digest)", parts.join("; "))
}
