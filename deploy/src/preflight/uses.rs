//! What a checked stack asks preflight to look at: the images it runs and the artifacts it
//! pins, each with the declaration and the source spans an error points at.
//!
//! Takes: an [`Analysis`] (read from its declaration records, which keep the span of every
//! field's value). Gives: [`ImageUse`]s (each active service's `image`, or its engine's
//! default from the standard library's `engine_image` table; each active pipeline's `image`)
//! and [`ArtifactUse`]s (each active model's `<path>/<version>/` and data set's `<path>` in its
//! store).

use aistack::check::eval::DeclInst;
use aistack::check::value::{Record, Value};
use aistack::check::Analysis;
use aistack::source::Span;

/// One image a declaration runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageUse {
    /// `service.chat`, `pipeline.tune`.
    pub declaration: String,
    /// The image string as written (or the engine default).
    pub image: String,
    /// The image string's span: the declaration's own `image` value, or the standard
    /// library's `engine_image` entry when the service takes the default.
    pub span: Span,
    /// For a default image: the declaration's name, where the error is reported.
    pub default_for: Option<Span>,
}

/// Where an artifact's store keeps its bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    /// An S3 bucket (the storage's `bucket`, else its DNS name, as the outputs use).
    S3 { bucket: String },
    /// A file system or cache (`fsx_lustre`, `efs`, `nvme`): not reachable from here unless
    /// mapped to a local folder.
    FileSystem { backend: String },
}

/// One model or data set artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactUse {
    /// `model.llama`, `dataset.chats`.
    pub declaration: String,
    /// The store's address (`models`), as `--store NAME=DIR` names it.
    pub store: String,
    pub location: Location,
    /// `<path>/<version>` for a model, `<path>` for a data set.
    pub prefix: String,
    pub may_be_object: bool,
    pub digest: Option<String>,
    /// Spans of `path`, `version` (models) and `digest` (when written).
    pub path_span: Span,
    pub version_span: Option<Span>,
    pub digest_span: Option<Span>,
    /// The declaration's name.
    pub name_span: Span,
}

/// Active declarations of a standard-library kind, with their records.
fn active<'a>(a: &'a Analysis, kind: &'a str) -> impl Iterator<Item = (&'a DeclInst, &'a Record)> + 'a {
    a.decls.iter().enumerate().filter_map(move |(i, d)| {
        let schema = a.prog.types.schema(d.kind?);
        let on = a.active.get(i).copied().unwrap_or(false);
        (on && schema.std && schema.name == kind).then_some(())?;
        Some((d, d.record.as_deref()?))
    })
}

fn variant(a: &Analysis, v: Option<&Value>) -> String {
    match v {
        Some(Value::Enum(e, i, _)) => {
            a.prog.types.enum_(*e).variants.get(*i).map(|v| v.name.clone()).unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn string(r: &Record, f: &str) -> Option<String> {
    r.get(f).and_then(Value::as_str).map(str::to_string)
}

/// Every image the stack's active services and pipelines run, in declaration order.
pub fn images(a: &Analysis) -> Vec<ImageUse> {
    let defaults: Vec<(String, String, Span)> = active(a, "engine_image")
        .filter_map(|(_, r)| Some((variant(a, r.get("engine")), string(r, "image")?, r.span_of("image")?)))
        .collect();
    let mut out = Vec::new();
    for (d, r) in active(a, "service") {
        let declaration = format!("service.{}", d.address());
        match (string(r, "image"), r.span_of("image")) {
            (Some(image), Some(span)) => out.push(ImageUse { declaration, image, span, default_for: None }),
            _ => {
                let engine = variant(a, r.get("engine"));
                if let Some((_, image, span)) = defaults.iter().find(|(e, _, _)| *e == engine) {
                    let (image, span) = (image.clone(), *span);
                    out.push(ImageUse { declaration, image, span, default_for: Some(d.name_span) });
                }
            }
        }
    }
    for (d, r) in active(a, "pipeline") {
        if let (Some(image), Some(span)) = (string(r, "image"), r.span_of("image")) {
            out.push(ImageUse { declaration: format!("pipeline.{}", d.address()), image, span, default_for: None });
        }
    }
    out
}

/// Every active model's and data set's artifact, in declaration order.
pub fn artifacts(a: &Analysis) -> Vec<ArtifactUse> {
    let mut out = Vec::new();
    for kind in ["model", "dataset"] {
        for (d, r) in active(a, kind) {
            let Some(Value::Ref(store)) = r.get("store") else { continue };
            let Some(st) = a.decls.get(store.0 as usize) else { continue };
            let Some(st_rec) = st.record.as_deref() else { continue };
            let (Some(path), Some(path_span)) = (string(r, "path"), r.span_of("path")) else { continue };
            let path = path.trim_matches('/').to_string();
            let model = kind == "model";
            let version = if model { string(r, "version").map(|v| v.trim_matches('/').to_string()) } else { None };
            let prefix = match &version {
                Some(v) => format!("{path}/{v}"),
                None => path,
            };
            let digest = string(r, "digest");
            out.push(ArtifactUse {
                declaration: format!("{kind}.{}", d.address()),
                store: st.address(),
                location: location(a, st, st_rec),
                prefix,
                may_be_object: !model,
                digest_span: digest.as_ref().and_then(|_| r.span_of("digest")),
                digest,
                path_span,
                version_span: if model { r.span_of("version") } else { None },
                name_span: d.name_span,
            });
        }
    }
    out
}

fn location(a: &Analysis, st: &DeclInst, r: &Record) -> Location {
    match variant(a, r.get("backend")).as_str() {
        "s3" => {
            Location::S3 { bucket: string(r, "bucket").unwrap_or_else(|| aistack::ir::lower::dns_name(&st.address())) }
        }
        other => Location::FileSystem { backend: other.to_string() },
    }
}
