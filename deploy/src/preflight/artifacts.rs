//! Model and data-set artifacts against their digests.
//!
//! Takes: an artifact's prefix in an [`ObjectStore`] and its pinned `digest`. Gives: what was
//! verified, or the first [`Finding`] that fails it. The layout and the digest are those the
//! serving pods' `verify-model` step checks (docs/outputs.md §3.1): the prefix holds the files
//! and a `MANIFEST.sha256` in `sha256sum` format (paths relative to the prefix); the digest is
//! the SHA-256 of `MANIFEST.sha256`; the objects under the prefix must be exactly the files it
//! lists, each with its SHA-256. A data set may instead be one object, whose digest is its own
//! SHA-256. Without a digest, only existence is checked.
//!
//! Cost: verifying reads every byte of every file once. [`HashCache`] remembers each object's
//! SHA-256 by location, key, size and tag (S3 ETag; size and modification time on disk), in
//! `.aistack/preflight-cache.json`, so an unchanged object is not read again.

use super::store::{ObjectInfo, ObjectStore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The manifest's file name inside an artifact's prefix.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// Larger manifests are refused rather than read (one line per file).
const MAX_MANIFEST: usize = 16 << 20;

/// One artifact to verify.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    /// `<path>/<version>/` for a model; `<path>` for a data set (a prefix, or one object).
    pub prefix: String,
    /// Whether the artifact may be a single object named by `prefix` (data sets).
    pub may_be_object: bool,
    /// `sha256:<hex>`, if pinned.
    pub digest: Option<String>,
}

/// An artifact that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `s3://bucket/prefix/` or the local folder.
    pub location: String,
    pub files: usize,
    pub bytes: u64,
    /// Bytes actually read and hashed this run (cache misses).
    pub hashed_bytes: u64,
    /// The digest found: the manifest's SHA-256 (or the single object's), when pinned.
    pub digest: Option<String>,
}

/// Why an artifact failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Nothing under the prefix.
    Missing { location: String },
    /// Files, but no `MANIFEST.sha256` (needed to check a digest).
    NoManifest { location: String },
    /// The manifest (or the single object) hashes to `found`, not the pinned digest.
    DigestMismatch { location: String, found: String },
    /// A manifest line that is not `<64 hex>  <path>`.
    BadManifest { location: String, line: usize },
    /// The objects under the prefix are not the files the manifest lists.
    FilesDiffer { location: String, unlisted: Vec<String>, absent: Vec<String> },
    /// A file whose SHA-256 is not the manifest's.
    FileMismatch { location: String, file: String, found: String, listed: String },
    /// The store could not be read.
    Unreadable(String),
}

/// Verifies `art` in `store`.
pub fn verify(store: &dyn ObjectStore, art: &Artifact, cache: &mut HashCache) -> Result<Verified, Finding> {
    let root = store.location();
    let base = art.prefix.trim_matches('/');
    if art.may_be_object {
        let objs = store.list(base).map_err(Finding::Unreadable)?;
        if let Some(obj) = objs.iter().find(|o| o.key == base) {
            return verify_object(store, obj, art, cache);
        }
    }
    let prefix = format!("{base}/");
    let location = format!("{root}{prefix}");
    let objs = store.list(&prefix).map_err(Finding::Unreadable)?;
    if objs.is_empty() {
        return Err(Finding::Missing { location });
    }
    let bytes = objs.iter().map(|o| o.size).sum();
    let Some(want) = &art.digest else {
        return Ok(Verified { location, files: objs.len(), bytes, hashed_bytes: 0, digest: None });
    };
    let manifest_key = format!("{prefix}{MANIFEST}");
    if !objs.iter().any(|o| o.key == manifest_key) {
        return Err(Finding::NoManifest { location });
    }
    let text = read_small(store, &manifest_key).map_err(Finding::Unreadable)?;
    let found = format!("sha256:{}", hex(&Sha256::digest(&text)));
    if found != *want {
        return Err(Finding::DigestMismatch { location, found });
    }
    let listed = parse_manifest(&String::from_utf8_lossy(&text))
        .map_err(|line| Finding::BadManifest { location: location.clone(), line })?;
    let files: BTreeMap<&str, &ObjectInfo> =
        objs.iter().filter(|o| o.key != manifest_key).map(|o| (&o.key[prefix.len()..], o)).collect();
    compare_sets(&files, &listed, &location)?;
    let mut hashed = 0;
    for (name, obj) in &files {
        let (sum, read) = cache.sha256(store, obj).map_err(Finding::Unreadable)?;
        hashed += read;
        let want = &listed[*name];
        if sum != *want {
            let (file, listed) = (name.to_string(), want.clone());
            return Err(Finding::FileMismatch { location, file, found: sum, listed });
        }
    }
    Ok(Verified { location, files: objs.len(), bytes, hashed_bytes: hashed, digest: Some(found) })
}

fn verify_object(
    store: &dyn ObjectStore,
    obj: &ObjectInfo,
    art: &Artifact,
    cache: &mut HashCache,
) -> Result<Verified, Finding> {
    let location = format!("{}{}", store.location(), obj.key);
    let Some(want) = &art.digest else {
        return Ok(Verified { location, files: 1, bytes: obj.size, hashed_bytes: 0, digest: None });
    };
    let (sum, hashed_bytes) = cache.sha256(store, obj).map_err(Finding::Unreadable)?;
    let found = format!("sha256:{sum}");
    if found != *want {
        return Err(Finding::DigestMismatch { location, found });
    }
    Ok(Verified { location, files: 1, bytes: obj.size, hashed_bytes, digest: Some(found) })
}

fn compare_sets(
    files: &BTreeMap<&str, &ObjectInfo>,
    listed: &BTreeMap<String, String>,
    location: &str,
) -> Result<(), Finding> {
    let have: BTreeSet<&str> = files.keys().copied().collect();
    let want: BTreeSet<&str> = listed.keys().map(String::as_str).collect();
    if have == want {
        return Ok(());
    }
    Err(Finding::FilesDiffer {
        location: location.to_string(),
        unlisted: have.difference(&want).map(|s| s.to_string()).collect(),
        absent: want.difference(&have).map(|s| s.to_string()).collect(),
    })
}

fn read_small(store: &dyn ObjectStore, key: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    store.read(key, &mut |chunk| {
        if out.len() + chunk.len() > MAX_MANIFEST {
            return Err(format!("{key} is larger than {} MiB", MAX_MANIFEST >> 20));
        }
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(out)
}

/// `sha256sum` output: `<64 hex> <space or *><path>` per line, `./` dropped from paths.
/// Gives path → hex, or the 1-based number of the first malformed line.
pub fn parse_manifest(text: &str) -> Result<BTreeMap<String, String>, usize> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (sum, rest) = line.split_at_checked(64).ok_or(i + 1)?;
        let name = rest.strip_prefix(" ").and_then(|r| r.strip_prefix([' ', '*'])).ok_or(i + 1)?;
        let hex_ok = sum.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        let name = name.trim_start_matches("./");
        if !hex_ok || name.is_empty() {
            return Err(i + 1);
        }
        out.insert(name.to_string(), sum.to_string());
    }
    Ok(out)
}

/// The hash cache kept in `.aistack/preflight-cache.json`.
#[derive(Default)]
pub struct HashCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, CacheEntry>,
    dirty: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    size: u64,
    tag: String,
    sha256: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    objects: BTreeMap<String, CacheEntry>,
}

impl HashCache {
    /// The cache at `path`; a missing or unreadable file is an empty cache.
    pub fn load(path: &Path) -> HashCache {
        let parsed = std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok());
        let entries = parsed.filter(|f| f.version == 1).map(|f| f.objects).unwrap_or_default();
        HashCache { path: Some(path.to_path_buf()), entries, dirty: false }
    }

    /// A cache that is never written (every object is read).
    pub fn in_memory() -> HashCache {
        HashCache::default()
    }

    /// The object's SHA-256 (hex) and how many bytes were read to get it (0 when cached).
    pub fn sha256(&mut self, store: &dyn ObjectStore, obj: &ObjectInfo) -> Result<(String, u64), String> {
        let id = format!("{}{}", store.location(), obj.key);
        if let Some(e) = self.entries.get(&id) {
            if e.size == obj.size && e.tag == obj.tag && !obj.tag.is_empty() {
                return Ok((e.sha256.clone(), 0));
            }
        }
        let mut h = Sha256::new();
        let mut n = 0u64;
        store.read(&obj.key, &mut |chunk| {
            h.update(chunk);
            n += chunk.len() as u64;
            Ok(())
        })?;
        let sum = hex(&h.finalize());
        self.entries.insert(id, CacheEntry { size: obj.size, tag: obj.tag.clone(), sha256: sum.clone() });
        self.dirty = true;
        Ok((sum, n))
    }

    /// Writes the cache (temp file, then rename) if it changed. A failure only costs the
    /// next run a re-read, so it is returned for the caller to mention, not to fail on.
    pub fn save(&mut self) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let file = CacheFile { version: 1, objects: self.entries.clone() };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        let shown = path.display();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {shown}: {e}"))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {shown}: {e}")
        })?;
        self.dirty = false;
        Ok(())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::store::LocalStore;

    fn sha(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    /// A model folder `m/1/` with two files and its manifest; gives (store root, digest).
    fn model(dir: &Path) -> String {
        let v = dir.join("m/1");
        std::fs::create_dir_all(v.join("sub")).expect("mkdir");
        std::fs::write(v.join("config.json"), b"{}").expect("write");
        std::fs::write(v.join("sub/w.bin"), b"weights").expect("write");
        let manifest = format!("{}  ./config.json\n{} *sub/w.bin\n", sha(b"{}"), sha(b"weights"));
        std::fs::write(v.join(MANIFEST), &manifest).expect("write");
        format!("sha256:{}", sha(manifest.as_bytes()))
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aistack-artifacts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_matching_folder_passes_and_the_cache_skips_rereads() {
        let dir = scratch("ok");
        let digest = model(&dir);
        let store = LocalStore { root: dir.clone() };
        let art = Artifact { prefix: "m/1".into(), may_be_object: false, digest: Some(digest.clone()) };
        let cache_path = dir.join(".aistack/preflight-cache.json");
        let mut cache = HashCache::load(&cache_path);
        let v = verify(&store, &art, &mut cache).expect("verifies");
        assert_eq!((v.files, v.hashed_bytes, v.digest.as_deref()), (3, 9, Some(digest.as_str())));
        cache.save().expect("saves");
        let mut again = HashCache::load(&cache_path);
        let v = verify(&store, &art, &mut again).expect("verifies");
        assert_eq!(v.hashed_bytes, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_kind_of_difference_is_found() {
        let dir = scratch("bad");
        let digest = model(&dir);
        let store = LocalStore { root: dir.clone() };
        let mut cache = HashCache::in_memory();
        let mut art = Artifact { prefix: "m/2".into(), may_be_object: false, digest: Some(digest.clone()) };
        assert!(matches!(verify(&store, &art, &mut cache), Err(Finding::Missing { .. })));
        art.prefix = "m/1".into();
        art.digest = Some(format!("sha256:{}", "0".repeat(64)));
        let Err(Finding::DigestMismatch { found, .. }) = verify(&store, &art, &mut cache) else { panic!("mismatch") };
        assert_eq!(found, digest);
        art.digest = Some(digest);
        std::fs::write(dir.join("m/1/sub/w.bin"), b"other").expect("write");
        let got = verify(&store, &art, &mut cache);
        assert!(matches!(&got, Err(Finding::FileMismatch { file, .. }) if file == "sub/w.bin"), "{got:?}");
        std::fs::write(dir.join("m/1/extra"), b"").expect("write");
        let got = verify(&store, &art, &mut cache);
        assert!(matches!(&got, Err(Finding::FilesDiffer { unlisted, .. }) if unlisted == &["extra"]), "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_data_set_may_be_one_object() {
        let dir = scratch("one");
        std::fs::create_dir_all(dir.join("d")).expect("mkdir");
        std::fs::write(dir.join("d/train.jsonl"), b"{\"x\":1}\n").expect("write");
        let store = LocalStore { root: dir.clone() };
        let digest = format!("sha256:{}", sha(b"{\"x\":1}\n"));
        let art = Artifact { prefix: "d/train.jsonl".into(), may_be_object: true, digest: Some(digest) };
        let v = verify(&store, &art, &mut HashCache::in_memory()).expect("verifies");
        assert_eq!(v.files, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn manifests_in_sha256sum_format() {
        let h = "a".repeat(64);
        let m = parse_manifest(&format!("{h}  ./a\n\n{h} *b c\n")).expect("parses");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b c"]);
        assert_eq!(parse_manifest(&format!("{h}  a\nnot a line\n")), Err(2));
        assert_eq!(parse_manifest(&format!("{}  a\n", "A".repeat(64))), Err(1));
    }
}
