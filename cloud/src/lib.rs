//! AWS for aistack, through aws-sdk-rust.
//!
//! Takes: a region and the standard AWS configuration chain (environment, profile, SSO, and
//! `AWS_ENDPOINT_URL` for an emulator such as moto on loopback). Gives: blocking wrappers over
//! the SDK calls the deploy crate makes, each returning plain data, so callers need no async
//! runtime of their own. [`s3`] holds the object calls with conditional writes that the state
//! backend needs.

pub mod s3;

pub mod objects;

use std::future::Future;

/// Runs one SDK future to completion on a single-threaded runtime owned by the call.
pub fn block_on<F: Future>(f: F) -> Result<F::Output, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the AWS runtime: {e}"))?;
    Ok(rt.block_on(f))
}

/// The shared SDK configuration for `region` (endpoint, credentials and retries from the
/// standard chain).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await
}

/// An S3 client; path-style addressing when an endpoint override is set (emulators and
/// S3-compatible stores do not resolve virtual-hosted bucket names on loopback).
pub async fn s3(region: &str) -> aws_sdk_s3::Client {
    let cfg = sdk_config(region).await;
    let path_style =
        std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let conf = aws_sdk_s3::config::Builder::from(&cfg).force_path_style(path_style).build();
    aws_sdk_s3::Client::from_conf(conf)
}
