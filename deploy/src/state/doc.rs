//! The state document: what aistack last applied, as versioned, canonical JSON.
//!
//! Takes: JSON text (any schema version up to [`VERSION`]) or the parts of a new state. Gives:
//! [`StateDoc`] — `version`, `lineage` (random 128-bit hex, fixed for the life of a state),
//! `serial` (raised by one on every write), the resource inventory keyed by address, the
//! revision history per service, the releases, and where the Terraform state lives.
//! [`StateDoc::to_json`] is canonical: every object's keys sorted, 2-space indent, trailing
//! newline, so equal states are equal bytes. Older documents are upgraded on read through the
//! chain [`UPGRADES`] (`upgrade_vN_to_vN+1`); a newer one is refused (E0602), never guessed at.
//! Secret values never enter a document: attributes pass through [`redact`] first.

use crate::error::OpError;
use aistack::diag::codes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The schema version this build writes (and the newest it reads).
pub const VERSION: u32 = 1;

/// What replaces a secret value in recorded attributes.
pub const REDACTED: &str = "(sensitive)";

/// One upgrade step: the document of version N (as JSON) to version N+1.
type Upgrade = fn(Value) -> Result<Value, String>;

/// `UPGRADES[i]` upgrades version `i + 1` to `i + 2`. Version 1 is the first format, so the
/// chain is empty; a format change appends `upgrade_v1_to_v2` here and raises [`VERSION`].
pub const UPGRADES: &[Upgrade] = &[];

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StateDoc {
    pub version: u32,
    /// Random 128-bit hex, set once when the state is created.
    pub lineage: String,
    /// Raised by one on every write.
    pub serial: u64,
    /// The stack's name.
    pub stack: String,
    /// What exists, keyed by address.
    pub resources: BTreeMap<String, Resource>,
    /// Revision history per service, keyed by the service's address (`service.chat`).
    pub services: BTreeMap<String, ServiceHistory>,
    /// Every release applied, oldest first.
    pub releases: Vec<Release>,
    /// Where the Terraform state lives, once Terraform has run for this stack.
    pub terraform: Option<TerraformState>,
}

/// One resource in the inventory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Resource {
    /// `service.chat/rollout`, or `file:kubernetes/chat.yaml` until the resource graph lands.
    pub address: String,
    /// Which engine executes it: `file`, `terraform`, `kubernetes`.
    pub engine: String,
    /// The engine's type (`aws_s3_bucket`, `apps/v1/Deployment`, `file`).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Hex SHA-256 of the canonical JSON of `attrs`.
    pub attrs_hash: String,
    /// Attributes, secrets already replaced by [`REDACTED`].
    pub attrs: Value,
    pub origin: Origin,
}

/// The declaration a resource came from and where it is written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// `service.chat`.
    pub decl: String,
    /// File name as the compiler shows it, and 1-based line, when known.
    pub file: Option<String>,
    pub line: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ServiceHistory {
    /// Oldest first; `n` counts from 1.
    pub revisions: Vec<Revision>,
}

/// One revision of a service: what it served and who shipped it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Revision {
    pub n: u64,
    /// The release that carried it.
    pub release: u64,
    pub model: ModelRef,
    pub images: Vec<ImageRef>,
    /// Hex SHA-256 over the service's emitted serving files (path and bytes).
    pub config_hash: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub who: String,
}

impl Revision {
    /// Whether `self` and `other` serve the same thing (ignoring number, time and author).
    pub fn same_content(&self, other: &Revision) -> bool {
        self.model == other.model && self.images == other.images && self.config_hash == other.config_hash
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelRef {
    /// `model.llama`.
    pub address: String,
    pub version: String,
    pub digest: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ImageRef {
    /// As written in the stack (`vllm/vllm-openai:v0.8.5`).
    pub reference: String,
    /// `sha256:…` once resolved against its registry; `None` until the resolver is wired.
    pub digest: Option<String>,
}

/// One applied release.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Release {
    pub n: u64,
    /// The release folder, relative to the stack's root folder (`.aistack/releases/3`).
    pub path: String,
    /// Hex SHA-256 of the release's `manifest.json`.
    pub manifest_sha256: String,
    /// The state serial this release was recorded at.
    pub serial: u64,
    pub time: String,
    pub who: String,
}

/// Where the Terraform state lives (`local` and a path, or `s3` and `s3://bucket/key`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TerraformState {
    pub backend: String,
    pub location: String,
}

impl StateDoc {
    /// A fresh state for `stack`: new lineage, serial 0, nothing recorded.
    pub fn new(stack: &str) -> Result<StateDoc, OpError> {
        Ok(StateDoc {
            version: VERSION,
            lineage: new_lineage()?,
            serial: 0,
            stack: stack.to_string(),
            resources: BTreeMap::new(),
            services: BTreeMap::new(),
            releases: Vec::new(),
            terraform: None,
        })
    }

    /// Parses a document of any known version, upgrading it to [`VERSION`]. `source` names
    /// where it was read from, for the error.
    pub fn parse(text: &str, source: &str) -> Result<StateDoc, OpError> {
        let unreadable = |why: String| {
            OpError::new(codes::STATE_UNREADABLE, format!("the state at {source} cannot be read: {why}")).with_help(
                format!("restore it from its backup ({source}.backup locally, or an earlier object version on S3)"),
            )
        };
        let value: Value = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
        let version = value.get("version").and_then(Value::as_u64).ok_or_else(|| unreadable("no `version`".into()))?;
        let value = upgrade(value, version, source)?;
        serde_json::from_value(value).map_err(|e| unreadable(e.to_string()))
    }

    /// Canonical JSON: keys sorted at every level, 2-space indent, trailing newline.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut text = serde_json::to_string_pretty(&canonical(value)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The last release, if any.
    pub fn last_release(&self) -> Option<&Release> {
        self.releases.last()
    }
}

/// Runs the upgrade chain from `version` to [`VERSION`]; refuses a version we do not know.
pub fn upgrade(mut value: Value, version: u64, source: &str) -> Result<Value, OpError> {
    if version == 0 || version > u64::from(VERSION) {
        return Err(OpError::new(
            codes::STATE_TOO_NEW,
            format!("the state at {source} has schema version {version}; this aistack reads versions 1 to {VERSION}"),
        )
        .with_help("use the aistack release that wrote it (or a newer one); never edit the version by hand"));
    }
    for (i, step) in UPGRADES.iter().enumerate().skip(version as usize - 1) {
        value = step(value).map_err(|why| {
            OpError::new(
                codes::STATE_UNREADABLE,
                format!("upgrading the state at {source} to version {}: {why}", i + 2),
            )
        })?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("version".into(), Value::from(i as u64 + 2));
        }
    }
    Ok(value)
}

/// `value` with every object's keys sorted, recursively.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Hex SHA-256 of the canonical JSON of `attrs`.
pub fn attrs_hash(attrs: &Value) -> String {
    let text = serde_json::to_string(&canonical(attrs.clone())).unwrap_or_default();
    hex(&Sha256::digest(text.as_bytes()))
}

/// `attrs` with every string that contains one of `secrets` replaced by [`REDACTED`], and the
/// value of every key named in `sensitive_keys` replaced whatever it holds.
pub fn redact(attrs: Value, secrets: &BTreeSet<String>, sensitive_keys: &BTreeSet<String>) -> Value {
    match attrs {
        Value::String(s) if secrets.iter().any(|v| !v.is_empty() && s.contains(v.as_str())) => REDACTED.into(),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, secrets, sensitive_keys)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v =
                        if sensitive_keys.contains(&k) { REDACTED.into() } else { redact(v, secrets, sensitive_keys) };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits from the operating system, as 32 hex digits.
pub fn new_lineage() -> Result<String, OpError> {
    random_hex(16)
}

/// `n` random bytes from `/dev/urandom`, as hex.
pub fn random_hex(n: usize) -> Result<String, OpError> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| OpError::new(codes::STATE_WRITE, format!("cannot read /dev/urandom for an id: {e}")))?;
    Ok(hex(&buf))
}

/// Who is acting: `$AISTACK_ACTOR`, else `user@host`.
pub fn actor() -> String {
    if let Some(a) = std::env::var("AISTACK_ACTOR").ok().filter(|a| !a.trim().is_empty()) {
        return a;
    }
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", hostname())
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The current time, RFC 3339 in UTC to the second (`2026-12-01T21:35:30Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the Unix epoch as RFC 3339 UTC (civil date by Howard Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateDoc {
        let mut doc = StateDoc::new("hello").expect("lineage");
        let attrs = serde_json::json!({"z": 1, "a": {"y": "x", "b": [1, 2]}});
        doc.resources.insert(
            "file:a.yaml".into(),
            Resource {
                address: "file:a.yaml".into(),
                engine: "file".into(),
                kind: "file".into(),
                name: "a.yaml".into(),
                attrs_hash: attrs_hash(&attrs),
                attrs,
                origin: Origin { decl: "service.chat".into(), file: Some("main.ai-stack".into()), line: Some(3) },
            },
        );
        doc
    }

    #[test]
    fn round_trips_canonically() {
        let doc = sample();
        let text = doc.to_json();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\n  \"lineage\""), "2-space indent: {text}");
        let back = StateDoc::parse(&text, "t").expect("parses");
        assert_eq!(back, doc);
        assert_eq!(back.to_json(), text, "identity: parse then write gives the same bytes");
        let a = text.find("\"a\": {").expect("a");
        let z = text.find("\"z\": 1").expect("z");
        assert!(a < z, "keys sorted");
    }

    #[test]
    fn lineage_is_128_random_bits() {
        let a = new_lineage().expect("a");
        let b = new_lineage().expect("b");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn newer_version_is_refused() {
        let mut v = serde_json::to_value(sample()).expect("value");
        v["version"] = Value::from(VERSION + 1);
        let err = StateDoc::parse(&v.to_string(), "s").expect_err("refused");
        assert_eq!(err.code, codes::STATE_TOO_NEW);
        assert!(err.message.contains(&format!("version {}", VERSION + 1)), "{}", err.message);
        v["version"] = Value::from(0);
        assert_eq!(StateDoc::parse(&v.to_string(), "s").expect_err("refused").code, codes::STATE_TOO_NEW);
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        for text in ["", "{", "[]", "{\"version\": 1}", "{\"version\": \"1\"}"] {
            assert_eq!(StateDoc::parse(text, "s").expect_err(text).code, codes::STATE_UNREADABLE, "{text}");
        }
    }

    #[test]
    fn redaction_replaces_secret_values_and_keys() {
        let secrets: BTreeSet<String> = ["hunter2".to_string()].into();
        let keys: BTreeSet<String> = ["password".to_string()].into();
        let v = serde_json::json!({"env": ["TOKEN=hunter2", "plain"], "password": {"x": 1}, "n": 3});
        let r = redact(v, &secrets, &keys);
        assert_eq!(r, serde_json::json!({"env": [REDACTED, "plain"], "password": REDACTED, "n": 3}));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_160_930), "2026-12-01T21:35:30Z");
    }
}
