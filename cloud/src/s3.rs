//! S3 objects with conditional writes: what the state backend needs.
//!
//! Takes: a bucket and keys. Gives: [`Bucket`], blocking `get`, `put` (unconditional, `If-Match`
//! an ETag, or `If-None-Match: *`) and `delete` (optionally `If-Match`), each returning plain
//! data or an [`S3Error`] that tells a failed precondition (HTTP 412, or 409 when S3 reports a
//! conflicting concurrent conditional write) from any other failure.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;

/// A failed S3 call.
#[derive(Debug, Clone, PartialEq)]
pub enum S3Error {
    /// The condition did not hold: the object changed, or already exists.
    Precondition,
    /// Anything else, with the SDK's description.
    Other(String),
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Error::Precondition => f.write_str("precondition failed"),
            S3Error::Other(s) => f.write_str(s),
        }
    }
}

/// What a `put` is conditional on.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    None,
    /// The object still has this ETag.
    IfMatch(String),
    /// The object does not exist.
    IfAbsent,
}

/// An object read back: its bytes and ETag.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// One bucket with its own runtime and client; calls block the calling thread.
pub struct Bucket {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    pub name: String,
}

fn classify<E: std::fmt::Debug>(e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> S3Error {
    match e.raw_response().map(|r| r.status().as_u16()) {
        Some(412) | Some(409) => S3Error::Precondition,
        Some(code) => S3Error::Other(format!("HTTP {code}: {e:?}")),
        None => S3Error::Other(format!("{e:?}")),
    }
}

fn is_not_found<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    e.raw_response().map(|r| r.status().as_u16()) == Some(404)
}

impl Bucket {
    /// A client for `name` in `region` (the standard configuration chain decides endpoint and
    /// credentials, as for [`crate::s3()`]).
    pub fn open(region: &str, name: &str) -> Result<Bucket, S3Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| S3Error::Other(format!("cannot start the AWS runtime: {e}")))?;
        let client = rt.block_on(crate::s3(region));
        Ok(Bucket { rt, client, name: name.to_string() })
    }

    /// The object at `key`, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Object>, S3Error> {
        self.rt.block_on(async {
            match self.client.get_object().bucket(&self.name).key(key).send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    let body = out.body.collect().await.map_err(|e| S3Error::Other(format!("reading {key}: {e}")))?;
                    Ok(Some(Object { bytes: body.into_bytes().to_vec(), etag }))
                }
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(classify(e)),
            }
        })
    }

    /// Writes `bytes` to `key` if `cond` holds; returns the new ETag.
    pub fn put(&self, key: &str, bytes: Vec<u8>, cond: &Condition) -> Result<String, S3Error> {
        let mut req = self.client.put_object().bucket(&self.name).key(key).body(ByteStream::from(bytes));
        req = match cond {
            Condition::None => req,
            Condition::IfMatch(etag) => req.if_match(etag),
            Condition::IfAbsent => req.if_none_match("*"),
        };
        self.rt.block_on(async {
            let out = req.send().await.map_err(classify)?;
            Ok(out.e_tag().unwrap_or_default().to_string())
        })
    }

    /// Deletes `key`, only if it still has `etag` when one is given.
    pub fn delete(&self, key: &str, etag: Option<&str>) -> Result<(), S3Error> {
        let mut req = self.client.delete_object().bucket(&self.name).key(key);
        if let Some(t) = etag {
            req = req.if_match(t);
        }
        self.rt.block_on(async { req.send().await.map(|_| ()).map_err(classify) })
    }

    /// Creates the bucket (for tests against an emulator).
    pub fn create(&self) -> Result<(), S3Error> {
        self.rt.block_on(async {
            self.client.create_bucket().bucket(&self.name).send().await.map(|_| ()).map_err(classify)
        })
    }
}
