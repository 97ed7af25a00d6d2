//! The state document, its backends (local, S3) and the one-writer lock.
