//! Reading objects in S3 for the artifact preflight: list a prefix, stream an object.
//!
//! Takes: a region and a bucket (endpoint and credentials from the standard chain,
//! `AWS_ENDPOINT_URL` for moto). Gives: [`Objects`], a blocking reader that owns its runtime
//! and client, so one preflight makes one connection pool; objects are streamed chunk by chunk
//! to the caller, never held whole in memory.

use aws_sdk_s3::error::DisplayErrorContext;

/// One object under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The full key.
    pub key: String,
    pub size: u64,
    /// The ETag as S3 reports it (quotes removed); changes when the object is rewritten.
    pub etag: String,
}

/// A blocking S3 reader for one region.
pub struct Objects {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl Objects {
    pub fn new(region: &str) -> Result<Objects, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the AWS runtime: {e}"))?;
        let client = rt.block_on(crate::s3(region));
        Ok(Objects { rt, client })
    }

    /// Every object whose key starts with `prefix`, in key order (all pages).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = self.client.list_objects_v2().bucket(bucket).prefix(prefix);
                if let Some(t) = &token {
                    req = req.continuation_token(t);
                }
                let page = req
                    .send()
                    .await
                    .map_err(|e| format!("cannot list s3://{bucket}/{prefix}: {}", DisplayErrorContext(&e)))?;
                out.extend(page.contents().iter().map(|o| ObjectInfo {
                    key: o.key().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                }));
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    /// Streams the object at `key` to `each`, chunk by chunk; `each` may stop the read by
    /// returning an error.
    pub fn read(
        &self,
        bucket: &str,
        key: &str,
        each: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        self.rt.block_on(async {
            let what = || format!("s3://{bucket}/{key}");
            let out = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| format!("cannot read {}: {}", what(), DisplayErrorContext(&e)))?;
            let mut body = out.body;
            while let Some(chunk) = body.try_next().await.map_err(|e| format!("cannot read {}: {e}", what()))? {
                each(&chunk)?;
            }
            Ok(())
        })
    }
}
