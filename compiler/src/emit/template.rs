//! User templates: instances of a user schema that names a Handlebars template are
//! rendered to `rendered/<schema>/<instance>.<ext>`.
//!
//! Takes: the IR's [`Rendered`] instances (the template text was read at check time,
//! through the World). Gives: the rendered files. Handlebars runs in strict mode (a missing
//! field is an error, not an empty string) and never HTML-escapes. Instead every string in
//! the data is serialised for the target format before rendering, chosen from the template's
//! name: `*.yaml.hbs`/`*.yml.hbs` and `*.json.hbs` (a double-quoted JSON string, also valid
//! YAML), `*.tf.hbs`/`*.hcl.hbs` (an HCL string with `${` escaped). So `{{x}}` and `{{{x}}}`
//! both insert the escaped literal, while numbers and booleans keep their type. Any other
//! name is rejected at check time: text with no known syntax cannot be escaped safely.

use super::Artifact;
use crate::diag::{codes, Diagnostic};
use crate::ir::{Rendered, Stack};
use handlebars::Handlebars;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Yaml,
    Json,
    Hcl,
}

pub fn format_of(path: &std::path::Path) -> Option<(Format, &'static str)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".hbs")?;
    Some(if stem.ends_with(".yaml") {
        (Format::Yaml, "yaml")
    } else if stem.ends_with(".yml") {
        (Format::Yaml, "yml")
    } else if stem.ends_with(".json") {
        (Format::Json, "json")
    } else if stem.ends_with(".tf") {
        (Format::Hcl, "tf")
    } else if stem.ends_with(".hcl") {
        (Format::Hcl, "hcl")
    } else {
        return None;
    })
}

/// Escapes one rendered value for the target format.
pub fn escape(format: Format, text: &str) -> String {
    match format {
        Format::Yaml | Format::Json => serde_json::to_string(text).unwrap_or_default(),
        Format::Hcl => super::hcl::quote(text),
    }
}

/// The data with every string replaced by its literal in the target format.
fn escape_strings(format: Format, v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(escape(format, s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| escape_strings(format, x)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), escape_strings(format, x))).collect()),
        other => other.clone(),
    }
}

pub fn render(r: &Rendered, source: &str) -> Result<(String, &'static str), String> {
    let (format, ext) = format_of(&r.template).ok_or_else(|| {
        format!("template {} must end in .yaml.hbs, .yml.hbs, .json.hbs, .tf.hbs or .hcl.hbs", r.template.display())
    })?;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_template_string("t", source).map_err(|e| format!("template {}: {e}", r.template.display()))?;
    let data = serde_json::json!({ "name": r.meta.address, "schema": r.schema });
    let mut merged = r.data.clone();
    if let (Some(m), Some(extra)) = (merged.as_object_mut(), data.as_object()) {
        for (k, v) in extra {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let out = hb
        .render("t", &escape_strings(format, &merged))
        .map_err(|e| format!("template {}: {e}", r.template.display()))?;
    Ok((out, ext))
}

pub fn emit(stack: &Stack, out: &mut Vec<Artifact>, diags: &mut Vec<Diagnostic>) {
    for r in &stack.rendered {
        match render(r, &r.source) {
            Ok((text, ext)) => out.push(Artifact::new(
                format!("rendered/{}/{}.{ext}", crate::ir::lower::dns_name(&r.schema), r.meta.name),
                text,
                vec![format!("{}.{}", r.schema, r.meta.address)],
            )),
            Err(e) => diags.push(Diagnostic::sourceless(codes::TEMPLATE, format!("{}: {e}", r.meta.address))),
        }
    }
}
