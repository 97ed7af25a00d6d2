//! An OCI distribution API client: an image tag to the digest its registry serves.
//!
//! Takes: an [`ImageRef`]. Gives: the manifest digest (`GET /v2/<name>/manifests/<ref>` with
//! Accept for the OCI index and manifest and Docker's manifest list and v2 manifest), taken
//! from `Docker-Content-Digest` and checked against the SHA-256 of the body, so a proxy or a
//! broken registry cannot hand back a digest that is not the content's. Real registries get the
//! anonymous Bearer token flow (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`). Plain
//! HTTP only for loopback hosts and those listed (comma-separated `host[:port]`) in
//! `AISTACK_INSECURE_REGISTRIES`; every request has bounded connect and total timeouts.

use super::image::ImageRef;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What the manifest request accepts, most specific first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// Manifests are small; anything larger is refused rather than read.
const MAX_MANIFEST: u64 = 4 << 20;
/// The environment variable naming registries reached over plain HTTP.
pub const INSECURE_ENV: &str = "AISTACK_INSECURE_REGISTRIES";

/// A tag (or digest) resolved by its registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// `sha256:<hex>` of the manifest (or index) the reference names.
    pub digest: String,
    /// The manifest's media type, as the registry sent it.
    pub media_type: String,
}

/// Why a reference did not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// 404: the repository, tag or digest does not exist there. Holds the registry's message.
    NotFound(String),
    /// 401/403 after the anonymous token flow: the repository needs credentials.
    AuthRequired(String),
    /// No answer: DNS, connection refused, TLS, timeout.
    Unreachable(String),
    /// An answer that is not a usable manifest (other status, digest mismatch, no body).
    Protocol(String),
}

impl RegistryError {
    pub fn message(&self) -> &str {
        match self {
            RegistryError::NotFound(m)
            | RegistryError::AuthRequired(m)
            | RegistryError::Unreachable(m)
            | RegistryError::Protocol(m) => m,
        }
    }
}

/// A blocking client with bounded timeouts.
pub struct Client {
    agent: ureq::Agent,
    direct: ureq::Agent,
    insecure: Vec<String>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(Duration::from_secs(20))
    }
}

fn agent(timeout: Duration, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
        .http_status_as_error(false)
        .max_redirects(5)
        .proxy(proxy)
        .user_agent(concat!("aistack/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Client {
    /// A client whose every request ends within `timeout`. Proxies come from the standard
    /// environment variables, except for loopback hosts, which are always reached directly.
    pub fn new(timeout: Duration) -> Client {
        let insecure = std::env::var(INSECURE_ENV).unwrap_or_default();
        Client {
            agent: agent(timeout, ureq::Proxy::try_from_env()),
            direct: agent(timeout, None),
            insecure: insecure.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        }
    }

    fn plain_http(&self, host: &str) -> bool {
        is_loopback(host) || self.insecure.iter().any(|h| h == host)
    }

    fn agent_for(&self, host: &str) -> &ureq::Agent {
        if is_loopback(host) {
            &self.direct
        } else {
            &self.agent
        }
    }

    /// The digest `image`'s registry serves for its tag (or, for a reference with a digest,
    /// confirms the registry holds that digest).
    pub fn resolve(&self, image: &ImageRef) -> Result<Resolved, RegistryError> {
        let host = image.api_host();
        let scheme = if self.plain_http(host) { "http" } else { "https" };
        let url = format!("{scheme}://{host}/v2/{}/manifests/{}", image.repository, image.reference());
        let mut resp = self.get(&url, None)?;
        if resp.status().as_u16() == 401 {
            let challenge = header(&resp, "www-authenticate").unwrap_or_default();
            let token = self.token(&challenge, &image.repository)?;
            resp = self.get(&url, Some(&token))?;
        }
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(MAX_MANIFEST).read_to_vec();
        match status {
            200 => manifest(&resp, body.map_err(|e| transport(&url, e))?, image),
            401 | 403 => Err(RegistryError::AuthRequired(format!(
                "{} needs credentials to read {} ({})",
                image.registry,
                image.repository,
                registry_message(&body.unwrap_or_default()).unwrap_or_else(|| format!("HTTP {status}"))
            ))),
            404 => Err(RegistryError::NotFound(
                registry_message(&body.unwrap_or_default()).unwrap_or_else(|| "manifest unknown".into()),
            )),
            _ => Err(RegistryError::Protocol(format!("{url} answered HTTP {status}"))),
        }
    }

    fn get(&self, url: &str, token: Option<&str>) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default();
        let mut req = self.agent_for(host).get(url).header("Accept", ACCEPT);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req.call().map_err(|e| transport(url, e))
    }

    /// The anonymous pull token a `Bearer` challenge offers.
    fn token(&self, challenge: &str, repository: &str) -> Result<String, RegistryError> {
        let auth = |m: String| RegistryError::AuthRequired(m);
        let Some(params) = challenge.trim().strip_prefix("Bearer ").map(bearer_params) else {
            return Err(auth(format!(
                "the registry asks for credentials (`{challenge}`); aistack reads public images only"
            )));
        };
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let Some(realm) = get("realm") else {
            return Err(auth("the registry's token challenge names no realm".into()));
        };
        let realm_host = realm.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default();
        let secure = realm.starts_with("https://") || (realm.starts_with("http://") && self.plain_http(realm_host));
        if !secure {
            return Err(auth(format!("the registry's token service {realm} is not HTTPS")));
        }
        let scope = get("scope").unwrap_or_else(|| format!("repository:{repository}:pull"));
        let mut query = vec![("scope", scope)];
        query.extend(get("service").map(|s| ("service", s)));
        let mut req = self.agent_for(realm_host).get(&realm);
        for (k, v) in &query {
            req = req.query(*k, v);
        }
        let mut resp = req.call().map_err(|e| transport(&realm, e))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = json.get("token").or_else(|| json.get("access_token")).and_then(|t| t.as_str());
        match (status, token) {
            (200, Some(t)) => Ok(t.to_string()),
            _ => Err(auth(format!("the registry's token service gave no anonymous token (HTTP {status})"))),
        }
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The digest of a 200 answer: `Docker-Content-Digest`, which must be the body's SHA-256
/// (and, when asked by digest, the digest asked for).
fn manifest(
    resp: &ureq::http::Response<ureq::Body>,
    body: Vec<u8>,
    image: &ImageRef,
) -> Result<Resolved, RegistryError> {
    let computed = format!("sha256:{}", hex(&Sha256::digest(&body)));
    let claimed = header(resp, "docker-content-digest");
    let media_type = header(resp, "content-type").unwrap_or_default();
    if let Some(c) = &claimed {
        if c.starts_with("sha256:") && *c != computed {
            return Err(RegistryError::Protocol(format!(
                "the registry says the manifest's digest is {c}, but its body hashes to {computed}"
            )));
        }
    }
    let digest = match &claimed {
        Some(c) if !c.starts_with("sha256:") => c.clone(),
        _ => computed,
    };
    if let Some(want) = &image.digest {
        if *want != digest {
            return Err(RegistryError::Protocol(format!("asked for {want}, the registry served {digest}")));
        }
    }
    Ok(Resolved { digest, media_type })
}

fn transport(url: &str, e: ureq::Error) -> RegistryError {
    match e {
        ureq::Error::BodyExceedsLimit(n) => {
            RegistryError::Protocol(format!("{url}: the answer is larger than {n} bytes"))
        }
        ureq::Error::Timeout(t) => RegistryError::Unreachable(format!("{url}: no answer in time ({t})")),
        other => RegistryError::Unreachable(format!("{url}: {other}")),
    }
}

/// `errors[0].message` (and code) of a registry's JSON error body.
fn registry_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("errors")?.get(0)?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or_default();
    Some(if code.is_empty() { msg.to_string() } else { format!("{code}: {msg}") })
}

/// `realm="…",service="…",scope="…"` as (name, value) pairs; quoted values may hold commas.
pub fn bearer_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((name, value));
        rest = tail.trim_start_matches([',', ' ']);
    }
    out
}

/// Whether `host` (with an optional port) is a loopback name or address.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host })
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.3.4.5", "[::1]:5000", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["docker.io", "10.0.0.1:5000", "192.168.1.1", "localhost.example.com", "[::2]:1"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn bearer_challenges() {
        let p = bearer_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        let want = [
            ("realm", "https://auth.docker.io/token"),
            ("service", "registry.docker.io"),
            ("scope", "repository:library/nginx:pull,push"),
        ];
        assert_eq!(p, want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
        assert_eq!(
            bearer_params("realm=x, service=y"),
            vec![("realm".into(), "x".into()), ("service".into(), "y".into())]
        );
    }

    #[test]
    fn registry_error_bodies() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(registry_message(body).as_deref(), Some("MANIFEST_UNKNOWN: manifest unknown"));
        assert_eq!(registry_message(b"not json"), None);
    }
}
