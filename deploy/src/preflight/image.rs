//! Image references, parsed and normalised as Docker and containerd do
//! (`github.com/distribution/reference`).
//!
//! Takes: an image string as written in a stack. Gives: an [`ImageRef`] with the registry
//! host, the repository path, and the tag and/or digest: `nginx` is
//! `docker.io/library/nginx:latest`, `host:5000/a/b:tag` keeps its host, `repo@sha256:…` and
//! `repo:tag@sha256:…` carry a digest (which wins over the tag when pulling). A malformed
//! reference is an error saying which part is wrong.

use std::fmt;

/// Docker Hub's name in references; its API lives at [`DOCKER_HUB_API`].
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's distribution API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME: usize = 255;

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
    pub registry: String,
    /// `library/nginx`, `vllm/vllm-openai`.
    pub repository: String,
    /// `latest` when neither a tag nor a digest is written.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    /// What the registry API is asked for: the digest when there is one, else the tag.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }
    /// The host the distribution API is served from (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
    /// `registry/repository@digest`: the reference pinned to `digest`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Parses `text` as Docker does (`reference.ParseNormalizedNamed` plus the default tag).
pub fn parse(text: &str) -> Result<ImageRef, String> {
    if text.is_empty() {
        return Err("the image reference is empty".into());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("an image reference has no {}", describe(c)));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => (r, Some(parse_digest(d)?)),
        None => (text, None),
    };
    let (name, tag) = split_tag(rest);
    if let Some(t) = tag {
        check_tag(t)?;
    }
    let (registry, repository) = split_domain(name)?;
    check_repository(&repository)?;
    if registry.len() + 1 + repository.len() > MAX_NAME {
        return Err(format!("the repository name is longer than {MAX_NAME} characters"));
    }
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some("latest".to_string()),
    };
    Ok(ImageRef { registry, repository, tag, digest })
}

fn describe(c: char) -> String {
    if c == ' ' {
        "spaces".into()
    } else {
        format!("whitespace or control characters (found {:?})", c)
    }
}

/// `name:tag` → (`name`, `tag`), where the `:` must come after the last `/` (a `:` before it
/// is a registry port).
fn split_tag(rest: &str) -> (&str, Option<&str>) {
    match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    }
}

/// The registry host and the repository path, normalised: a first component without `.` or
/// `:` that is not `localhost` (and has no capitals) is part of a Docker Hub path.
fn split_domain(name: &str) -> Result<(String, String), String> {
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if d.contains(['.', ':']) || d == "localhost" || d.chars().any(|c| c.is_ascii_uppercase()) => {
            (d, p.to_string())
        }
        _ => (DOCKER_HUB, name.to_string()),
    };
    check_domain(domain)?;
    let domain = if domain == "index.docker.io" { DOCKER_HUB } else { domain };
    let path = if domain == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
    Ok((domain.to_string(), path))
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || Err(format!("`{domain}` is not a registry host (a host name or address, with an optional :port)"));
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else { return bad() };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return bad();
        }
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return bad(),
        };
        (None, port)
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !h.split('.').all(label_ok) {
            return bad();
        }
    }
    match port {
        Some(p) if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) => bad(),
        _ => Ok(()),
    }
}

/// Each `/`-separated component: lowercase letters and digits, separated by `.`, `_`, `__`
/// or runs of `-`.
fn check_repository(path: &str) -> Result<(), String> {
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("the repository `{path}` must be lowercase"));
    }
    for comp in path.split('/') {
        if !component_ok(comp) {
            return Err(format!(
                "`{comp}` is not a repository path component (lowercase letters and digits, \
                 separated by `.`, `_`, `__` or `-`)"
            ));
        }
    }
    Ok(())
}

fn component_ok(comp: &str) -> bool {
    let b = comp.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = tag.len() <= 128
        && tag.chars().next().is_some_and(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a tag (letters, digits, `_`, `.` and `-`, at most 128, not starting with `.` or `-`)"
        ))
    }
}

/// `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
fn parse_digest(d: &str) -> Result<String, String> {
    let hex_ok =
        |h: &str, n: usize| h.len() == n && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    match d.split_once(':') {
        Some(("sha256", h)) if hex_ok(h, 64) => Ok(d.to_string()),
        Some(("sha512", h)) if hex_ok(h, 128) => Ok(d.to_string()),
        _ => Err(format!("`{d}` is not a digest (`sha256:` and 64 lowercase hex digits)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse(s).map(|r| r.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_docker() {
        assert_eq!(p("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(p("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(p("vllm/vllm-openai:v0.33.0"), "docker.io/vllm/vllm-openai:v0.33.0");
        assert_eq!(p("index.docker.io/library/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(p("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(p("localhost/a"), "localhost/a:latest");
        assert_eq!(p("localhost:5000/a/b:tag"), "localhost:5000/a/b:tag");
        assert_eq!(p("host:5000/a/b:tag"), "host:5000/a/b:tag");
        assert_eq!(p("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
        assert_eq!(p("[::1]:5000/a"), "[::1]:5000/a:latest");
        assert_eq!(
            p("ghcr.io/huggingface/text-generation-inference:3.3.4"),
            "ghcr.io/huggingface/text-generation-inference:3.3.4"
        );
        assert_eq!(p("a__b/c.d-e--f_g"), "docker.io/a__b/c.d-e--f_g:latest");
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = parse(&format!("repo@{D}")).expect("parses");
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (None, Some(D)));
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/repo@{D}"));
        let r = parse(&format!("host:5000/repo:v1@{D}")).expect("parses");
        assert_eq!((r.tag.as_deref(), r.reference()), (Some("v1"), D));
        assert_eq!(r.pinned(D), format!("host:5000/repo@{D}"));
        assert_eq!(parse("nginx").expect("parses").api_host(), DOCKER_HUB_API);
    }

    #[test]
    fn rejects_malformed() {
        for (bad, why) in [
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("nginx:", "not a tag"),
            ("nginx:-x", "not a tag"),
            ("nginx:a/b", "registry host"),
            ("a//b", "path component"),
            ("-a/b", "path component"),
            ("a/b-", "path component"),
            ("a/b...c", "path component"),
            ("nginx@sha256:abc", "not a digest"),
            ("nginx@md5:0123", "not a digest"),
            (&format!("nginx@{}", D.to_uppercase()), "not a digest"),
            ("my image", "spaces"),
            ("host:port/a", "registry host"),
            ("ho_st.io/a", "registry host"),
            ("[zz]:5000/a", "registry host"),
        ] {
            let got = p(bad);
            assert!(got.starts_with("error:") && got.contains(why), "{bad:?}: {got}");
        }
        let long = format!("a/{}", "b".repeat(300));
        assert!(p(&long).contains("longer than 255"));
    }

    #[test]
    fn tags_are_bounded() {
        assert!(parse(&format!("a:{}", "t".repeat(128))).is_ok());
        assert!(parse(&format!("a:{}", "t".repeat(129))).is_err());
    }
}
