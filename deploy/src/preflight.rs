//! Preflight: model artifacts exist and match their digests; image tags resolve to digests.
