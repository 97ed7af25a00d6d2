//! Models pinned end to end: the start-up step that checks (or, for Triton's onnxruntime
//! backend, fetches and checks) a served model's artifact against its `digest` before the
//! engine starts, and the hash of the configs a pod mounts.
//!
//! Takes: the IR's service, model and the engine ConfigMap's data. Gives: an init container
//! `verify-model` (or `fetch-model`) and the `aistack.dev/config-hash` annotation value.
//! The artifact layout the step requires: `<path>/<version>/` holds the weights and
//! `MANIFEST.sha256` (the output of `sha256sum` over every other file, paths relative to
//! that prefix); the model's `digest` is the SHA-256 of `MANIFEST.sha256`. The step fails
//! the pod (`Init:Error`, the reason in its log) when the manifest's digest differs, a file's
//! hash differs from the manifest, or the prefix holds a file the manifest does not list.

use super::workloads::container_security;
use crate::emit::serving;
use crate::ir::{Model, Service, Stack};
use k8s_openapi::api::core::v1::{Container, EnvVar, ResourceRequirements, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The AWS CLI image the start-up step runs (AWS CLI v2, Amazon Linux 2 with coreutils).
pub const AWS_CLI_IMAGE: &str = "public.ecr.aws/aws-cli/aws-cli:2.17.0";
/// Where the onnxruntime model repository is assembled (an emptyDir).
pub const MODELS_DIR: &str = "/models";

/// `sha256:<hex>` over the ConfigMap's keys and values, in key order: any change to an engine
/// argument, `max_batch` or the served path changes the pod template, so it is a rollout.
pub fn config_hash(data: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        for part in [k, v] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    format!("sha256:{}", crate::ir::lower::hex(&h.finalize()))
}

/// Checks every file under `$MODEL_URI` in S3 against `MANIFEST.sha256`, streaming each one
/// through `sha256sum` (the weights are read once more than the engine reads them).
const VERIFY_S3: &str = r#"set -eu
cd /tmp
aws s3 cp --only-show-errors "${MODEL_URI}MANIFEST.sha256" manifest
got="sha256:$(sha256sum manifest | cut -d' ' -f1)"
if [ "$got" != "$MODEL_DIGEST" ]; then
  echo "aistack: ${MODEL_URI}MANIFEST.sha256 has digest $got; the stack pins $MODEL_DIGEST" >&2
  exit 1
fi
bucket="${MODEL_URI#s3://}"; key="${bucket#*/}"; bucket="${bucket%%/*}"
aws s3api list-objects-v2 --bucket "$bucket" --prefix "$key" --query 'Contents[].Key' --output text \
  | tr '\t' '\n' | while read -r k; do echo "${k#"$key"}"; done | grep -vx -e 'MANIFEST.sha256' -e '' | sort > listed
cut -d' ' -f3- manifest | while read -r f; do f="${f#\*}"; echo "${f#./}"; done | sort > declared
if [ "$(cat listed)" != "$(cat declared)" ]; then
  echo "aistack: the objects under $MODEL_URI are not the files MANIFEST.sha256 lists" >&2
  exit 1
fi
while read -r want f; do
  f="${f#\*}"; f="${f#./}"
  got="$(aws s3 cp --only-show-errors "${MODEL_URI}${f}" - | sha256sum | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    echo "aistack: ${MODEL_URI}${f} has sha256 $got; MANIFEST.sha256 says $want" >&2
    exit 1
  fi
done < manifest
echo "aistack: ${MODEL_URI} matches $MODEL_DIGEST"
"#;

/// Copies the artifact into Triton's model repository (`$REPO/1/`), puts the engine
/// ConfigMap's `config.pbtxt` beside it, and checks the copy when a digest is pinned.
const FETCH_ONNX: &str = r#"set -eu
mkdir -p "$REPO/1"
aws s3 cp --only-show-errors --recursive "$MODEL_URI" "$REPO/1/"
cp "$CONFIG_PBTXT" "$REPO/config.pbtxt"
if [ -n "${MODEL_DIGEST:-}" ]; then
  cd "$REPO/1"
  got="sha256:$(sha256sum MANIFEST.sha256 | cut -d' ' -f1)"
  if [ "$got" != "$MODEL_DIGEST" ]; then
    echo "aistack: ${MODEL_URI}MANIFEST.sha256 has digest $got; the stack pins $MODEL_DIGEST" >&2
    exit 1
  fi
  sha256sum --check --strict --quiet MANIFEST.sha256
  listed="$(find . -type f ! -name MANIFEST.sha256 | sort)"
  declared="$(cut -d' ' -f3- MANIFEST.sha256 | while read -r f; do f="${f#\*}"; echo "./${f#./}"; done | sort)"
  if [ "$listed" != "$declared" ]; then
    echo "aistack: the files under $MODEL_URI are not the files MANIFEST.sha256 lists" >&2
    exit 1
  fi
fi
"#;

fn env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value), ..Default::default() }
}

fn step(name: &str, script: &str, env: Vec<EnvVar>, mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: name.into(),
        image: Some(AWS_CLI_IMAGE.into()),
        image_pull_policy: Some("Always".into()),
        resources: Some(step_resources()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        env: Some(env),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

/// One CPU and 1 GiB: the step streams and hashes, it holds nothing in memory.
fn step_resources() -> ResourceRequirements {
    let q: BTreeMap<String, Quantity> =
        [("cpu".to_string(), Quantity("1".into())), ("memory".to_string(), Quantity("1Gi".into()))].into();
    ResourceRequirements { limits: Some(q.clone()), requests: Some(q), ..Default::default() }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), read_only: Some(read_only), ..Default::default() }
}

/// The start-up step of a pod serving `model`, if it needs one: the onnxruntime fetch, or
/// the S3 digest check when the model pins a digest.
pub fn init_container(stack: &Stack, svc: &Service, model: &Model) -> Option<Container> {
    let (uri, s3) = serving::model_uri(stack, model);
    let mut vars = vec![env("MODEL_URI", uri), env("AWS_REGION", stack.region.clone()), env("HOME", "/tmp".into())];
    if let Some(d) = &model.digest {
        vars.push(env("MODEL_DIGEST", d.clone()));
    }
    let tmp = mount("tmp", "/tmp", false);
    if svc.engine == crate::ir::Engine::Triton && serving::onnx(model) && s3 {
        let name = model.meta.name.clone();
        vars.push(env("REPO", format!("{MODELS_DIR}/{name}")));
        vars.push(env("CONFIG_PBTXT", format!("{}/model_repository/{name}/config.pbtxt", serving::CONFIG_DIR)));
        let mounts = vec![tmp, mount("models", MODELS_DIR, false), mount("config", serving::CONFIG_DIR, true)];
        return Some(step("fetch-model", FETCH_ONNX, vars, mounts));
    }
    (s3 && model.digest.is_some()).then(|| step("verify-model", VERIFY_S3, vars, vec![tmp]))
}
