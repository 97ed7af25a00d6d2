//! The S3 backend: the state object at `s3://bucket/key`, its lock at `<key>.lock`.
//!
//! Writes are conditional on the ETag read (`If-Match`; `If-None-Match: *` when there was no
//! state), so a lost update is impossible even without the lock. The lock object is created
//! with `If-None-Match: *`, as Terraform 1.11's S3 backend does with `use_lockfile`, and removed
//! with `If-Match` on the ETag of the holder read. Region: `$AWS_REGION`, else `us-east-1`;
//! endpoint and credentials from the standard AWS chain (`AWS_ENDPOINT_URL` for an emulator).
//! No `.backup` object is written: enable bucket versioning to keep earlier states.

use super::backend::{Backend, Snapshot, Tag};
use super::doc::StateDoc;
use super::local::{conflict, parse_lock};
use super::lock::{self, LockInfo};
use crate::error::OpError;
use aistack::diag::codes;
use aistack_aws::s3::{Bucket, Condition, S3Error};

pub struct S3 {
    bucket: Bucket,
    key: String,
}

fn api(what: &str, loc: &str, e: S3Error) -> OpError {
    OpError::new(codes::STATE_BACKEND, format!("S3 {what} on {loc} failed: {e}"))
        .with_help("check the bucket exists, the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and AWS_REGION")
}

impl S3 {
    pub fn open(bucket: &str, key: &str) -> Result<S3, OpError> {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
        let b = Bucket::open(&region, bucket).map_err(|e| api("setup", &format!("s3://{bucket}/{key}"), e))?;
        Ok(S3 { bucket: b, key: key.to_string() })
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn read_lock_tagged(&self) -> Result<Option<(LockInfo, String)>, OpError> {
        let loc = self.location();
        match self.bucket.get(&self.lock_key()).map_err(|e| api("GetObject (lock)", &loc, e))? {
            None => Ok(None),
            Some(obj) => {
                let text = String::from_utf8_lossy(&obj.bytes);
                Ok(Some((parse_lock(&text, &format!("{loc}.lock"))?, obj.etag)))
            }
        }
    }
}

impl Backend for S3 {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket.name, self.key)
    }

    fn read(&self) -> Result<Snapshot, OpError> {
        let loc = self.location();
        match self.bucket.get(&self.key).map_err(|e| api("GetObject", &loc, e))? {
            None => Ok(Snapshot { doc: None, tag: Tag(None) }),
            Some(obj) => {
                let doc = StateDoc::parse(&String::from_utf8_lossy(&obj.bytes), &loc)?;
                Ok(Snapshot { doc: Some(doc), tag: Tag(Some(obj.etag)) })
            }
        }
    }

    fn write(&self, doc: &StateDoc, tag: &Tag) -> Result<Tag, OpError> {
        let loc = self.location();
        let cond = match &tag.0 {
            Some(etag) => Condition::IfMatch(etag.clone()),
            None => Condition::IfAbsent,
        };
        match self.bucket.put(&self.key, doc.to_json().into_bytes(), &cond) {
            Ok(etag) => Ok(Tag(Some(etag))),
            Err(S3Error::Precondition) => Err(conflict(&loc, tag, &Tag(Some("a newer object".into())))),
            Err(e) => Err(api("PutObject", &loc, e)),
        }
    }

    fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, OpError> {
        let loc = self.location();
        match self.bucket.put(&self.lock_key(), info.to_json().into_bytes(), &Condition::IfAbsent) {
            Ok(_) => Ok(None),
            Err(S3Error::Precondition) => match self.read_lock_tagged()? {
                Some((holder, _)) => Ok(Some(holder)),
                // Released between our put and our read: report it as held; the caller retries.
                None => Ok(Some(LockInfo { id: "released".into(), ..info.clone() })),
            },
            Err(e) => Err(api("PutObject (lock)", &loc, e)),
        }
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, OpError> {
        Ok(self.read_lock_tagged()?.map(|(h, _)| h))
    }

    fn remove_lock(&self, id: &str) -> Result<LockInfo, OpError> {
        let loc = self.location();
        let (holder, etag) = self.read_lock_tagged()?.ok_or_else(|| lock::not_locked(&loc))?;
        if holder.id != id {
            return Err(lock::wrong_id(&loc, id, &holder));
        }
        match self.bucket.delete(&self.lock_key(), Some(&etag)) {
            Ok(()) => Ok(holder),
            Err(S3Error::Precondition) => Err(OpError::new(
                codes::STATE_CONFLICT,
                format!("the lock on {loc} changed while it was being removed; nothing was removed"),
            )),
            Err(e) => Err(api("DeleteObject (lock)", &loc, e)),
        }
    }
}
