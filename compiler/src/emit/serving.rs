//! Serving-engine configs: what each engine reads, derived from the model and the service.
//!
//! Takes: the IR. Gives, per service: `serving/<service>/vllm.yaml` (keys are vLLM 0.33
//! engine/serve arguments, for `vllm serve --config`), a Triton model repository entry
//! (`model_repository/<model>/config.pbtxt` and the vLLM backend's `1/model.json`), or
//! `tgi-env.json` (Text Generation Inference environment); an ONNX model gets a Triton
//! onnxruntime `config.pbtxt` instead. The engine follows the model: KV-cache dtype,
//! a pooling runner for embedding models, and the service's checked `engine_args`. The same contents go into the
//! Kubernetes ConfigMaps the pods mount, so the two can never disagree.

use super::{yaml, Artifact};
use crate::diag::Diagnostic;
use crate::ir::{Backend, Engine, Model, Service, Sharing, Stack};
use serde_json::{json, Map, Value};

/// Where the pod reads the engine config.
pub const CONFIG_DIR: &str = "/etc/aistack";
/// Where the node-local weight cache is mounted.
pub const CACHE_DIR: &str = "/cache";

/// The model's root in its store, every version under it: `s3://bucket/<path>` (the grant
/// workloads get, so a rollback can read the previous version), or `/mnt/<store>/<path>`.
pub fn model_root(stack: &Stack, model: &Model) -> (String, bool) {
    let path = model.path.trim_matches('/');
    match stack.storages.get(model.store) {
        Some(st) if st.backend == Backend::S3 => {
            (format!("s3://{}/{path}", st.bucket.as_deref().unwrap_or(&st.meta.name)), true)
        }
        Some(st) => (format!("/mnt/{}/{path}", st.meta.name), false),
        None => (model.path.clone(), false),
    }
}

/// The pinned artifact the engine loads: `<root>/<version>/` (layout: one prefix per
/// version, holding the weights and their `MANIFEST.sha256`), so a new version is a new
/// path and a rollback loads the old weights. S3 objects are streamed directly.
pub fn model_uri(stack: &Stack, model: &Model) -> (String, bool) {
    let (root, s3) = model_root(stack, model);
    (format!("{root}/{}/", model.version.trim_matches('/')), s3)
}

/// File listing each artifact file's SHA-256, beside the weights; `digest` is its SHA-256.
pub const MANIFEST: &str = "MANIFEST.sha256";

pub fn dtype(precision: &str) -> &'static str {
    match precision {
        "bf16" => "bfloat16",
        "fp16" => "float16",
        "fp32" => "float32",
        _ => "auto",
    }
}

fn served_name(model: &Model) -> String {
    model.meta.name.clone()
}

/// Whether the served model is an embedding model.
pub fn embeds(model: &Model) -> bool {
    model.task == "embed"
}

/// KV-cache dtype matching the checker's fit rule, which sizes the KV cache at the model's
/// precision (`check/rules.rs`): one byte per element for 8-bit and 4-bit models.
pub fn kv_cache_dtype(model: &Model) -> Option<&'static str> {
    matches!(model.precision.as_str(), "fp8" | "int8" | "int4").then_some("fp8")
}

/// `--quantization` only where the checkpoint needs it: a quantized checkpoint (`precision`
/// fp8/int8/int4 in safetensors) carries its scheme in `quantization_config`, which vLLM reads
/// itself; forcing `fp8` on an AWQ, GPTQ or compressed-tensors checkpoint breaks it. GGUF
/// files carry their quantization type in the file; vLLM detects it from the file. So the only
/// model that needs it is none of the declared ones: we pass nothing, and `engine_args`
/// (`quantization = "fp8"`) asks for on-the-fly quantization of a 16-bit checkpoint.
pub fn quantization(_model: &Model) -> Option<&'static str> {
    None
}

/// vLLM engine arguments, in `--config` file form (long option names without dashes).
pub fn vllm_args(stack: &Stack, svc: &Service, model: &Model) -> Map<String, Value> {
    let (uri, s3) = model_uri(stack, model);
    let mut m = Map::new();
    m.insert("model".into(), json!(uri));
    m.insert("served-model-name".into(), json!([served_name(model)]));
    m.insert("host".into(), json!("0.0.0.0"));
    m.insert("port".into(), json!(svc.port));
    m.insert("tensor-parallel-size".into(), json!(svc.tensor_parallel));
    m.insert("max-model-len".into(), json!(model.context_length));
    m.insert("dtype".into(), json!(dtype(&model.precision)));
    if let Some(q) = quantization(model) {
        m.insert("quantization".into(), json!(q));
    }
    if let Some(kv) = kv_cache_dtype(model) {
        m.insert("kv-cache-dtype".into(), json!(kv));
    }
    if embeds(model) {
        // An embedding model runs vLLM's pooling runner (`/v1/embeddings`), not chat.
        m.insert("runner".into(), json!("pooling"));
    }
    m.insert("gpu-memory-utilization".into(), json!(memory_fraction(stack, svc)));
    m.insert("max-num-seqs".into(), json!(svc.max_batch));
    if s3 {
        m.insert("load-format".into(), json!("runai_streamer"));
    }
    if svc.cache.is_some() {
        m.insert("download-dir".into(), json!(CACHE_DIR));
    }
    // Request bodies can carry personal data: keep them out of the logs.
    m.insert("enable-log-requests".into(), json!(false));
    for (k, v) in &svc.engine_args {
        m.insert(k.clone(), v.clone());
    }
    m
}

/// The fraction of each GPU's memory one engine may take: `gpu_memory_utilization`, divided
/// among the replicas that time-share a GPU (vLLM's `--gpu-memory-utilization` is a
/// per-instance limit, so two instances on one GPU take 0.5 each: vLLM 0.33 engine argument
/// help, `../shared/schemas/vllm/vllm-engine-args-v0.33.0.json`). The checker's fit rule
/// (`check/rules.rs`, `memory_per_gpu`) gives each replica the same share.
pub fn memory_fraction(stack: &Stack, svc: &Service) -> f64 {
    let share = match stack.pools.get(svc.pool).map(|p| &p.sharing) {
        Some(Sharing::TimeSlicing { replicas }) => f64::from((*replicas).max(1)),
        _ => 1.0,
    };
    round3(svc.gpu_memory_utilization / share)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// vLLM `EngineArgs` field names for Triton's vLLM backend (`model.json`).
pub fn triton_model_json(stack: &Stack, svc: &Service, model: &Model) -> Map<String, Value> {
    let (uri, s3) = model_uri(stack, model);
    let mut m = Map::new();
    m.insert("model".into(), json!(uri));
    m.insert("tensor_parallel_size".into(), json!(svc.tensor_parallel));
    m.insert("max_model_len".into(), json!(model.context_length));
    m.insert("dtype".into(), json!(dtype(&model.precision)));
    m.insert("gpu_memory_utilization".into(), json!(memory_fraction(stack, svc)));
    m.insert("max_num_seqs".into(), json!(svc.max_batch));
    if s3 {
        m.insert("load_format".into(), json!("runai_streamer"));
    }
    if let Some(kv) = kv_cache_dtype(model) {
        m.insert("kv_cache_dtype".into(), json!(kv));
    }
    if embeds(model) {
        m.insert("runner".into(), json!("pooling"));
    }
    for (k, v) in &svc.engine_args {
        m.insert(k.replace('-', "_"), v.clone());
    }
    m
}

/// A protobuf text-format string literal.
pub fn pbtxt_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether Triton serves the model with its onnxruntime backend (else its vLLM backend).
pub fn onnx(model: &Model) -> bool {
    model.format == "onnx"
}

/// Triton `config.pbtxt` (a `ModelConfig` in protobuf text format) for the vLLM backend:
/// vLLM batches internally (`max_batch_size: 0`) and places itself on GPUs (`KIND_MODEL`).
pub fn triton_config(model: &Model) -> String {
    format!(
        "name: {}\nbackend: \"vllm\"\nmax_batch_size: 0\nmodel_transaction_policy {{\n  decoupled: true\n}}\ninstance_group [\n  {{\n    count: 1\n    kind: KIND_MODEL\n  }}\n]\n{}",
        pbtxt_string(&served_name(model)),
        version_parameter(model)
    )
}

fn version_parameter(model: &Model) -> String {
    format!(
        "parameters {{\n  key: \"aistack_model_version\"\n  value {{\n    string_value: {}\n  }}\n}}\n",
        pbtxt_string(&model.version)
    )
}

/// Triton `config.pbtxt` for an ONNX model on the onnxruntime backend: Triton reads the
/// inputs and outputs from the graph (`--strict-model-config=false` is the default since
/// 24.x: auto-complete), batches dynamically up to `max_batch`, and runs one instance on the
/// pod's GPU (`KIND_GPU`). The weights are the `1/model.onnx` the start-up step copies.
pub fn triton_onnx_config(svc: &Service, model: &Model) -> String {
    format!(
        "name: {}\nbackend: \"onnxruntime\"\nmax_batch_size: {}\ndynamic_batching {{\n  max_queue_delay_microseconds: 1000\n}}\ninstance_group [\n  {{\n    count: 1\n    kind: KIND_GPU\n  }}\n]\n{}",
        pbtxt_string(&served_name(model)),
        svc.max_batch,
        version_parameter(model)
    )
}

/// Text Generation Inference settings, as environment variables.
pub fn tgi_env(stack: &Stack, svc: &Service, model: &Model) -> Vec<(String, String)> {
    let (uri, _) = model_uri(stack, model);
    let max_input = svc
        .guard
        .max_input_tokens
        .unwrap_or(model.context_length.saturating_sub(1))
        .min(model.context_length.saturating_sub(1));
    let mut env = vec![
        ("MODEL_ID".to_string(), uri),
        ("NUM_SHARD".into(), svc.tensor_parallel.to_string()),
        ("MAX_INPUT_TOKENS".into(), max_input.max(1).to_string()),
        ("MAX_TOTAL_TOKENS".into(), model.context_length.to_string()),
        ("MAX_CONCURRENT_REQUESTS".into(), svc.max_batch.to_string()),
        ("CUDA_MEMORY_FRACTION".into(), memory_fraction(stack, svc).to_string()),
        ("PORT".into(), svc.port.to_string()),
        ("HOSTNAME".into(), "0.0.0.0".into()),
    ];
    if dtype(&model.precision) != "auto" {
        env.push(("DTYPE".into(), dtype(&model.precision).into()));
    }
    if kv_cache_dtype(model).is_some() {
        env.push(("KV_CACHE_DTYPE".into(), "fp8_e4m3fn".into()));
    }
    env
}

/// The engine files of one service, as (path under `serving/<service>/`, text).
pub fn files(stack: &Stack, svc: &Service) -> Vec<(String, String)> {
    let Some(model) = stack.models.get(svc.model) else { return Vec::new() };
    match svc.engine {
        Engine::Vllm => vec![("vllm.yaml".into(), yaml::to_string(&Value::Object(vllm_args(stack, svc, model))))],
        Engine::Triton if onnx(model) => {
            vec![(format!("model_repository/{}/config.pbtxt", served_name(model)), triton_onnx_config(svc, model))]
        }
        Engine::Triton => {
            let name = served_name(model);
            let mut json_text =
                serde_json::to_string_pretty(&Value::Object(triton_model_json(stack, svc, model))).unwrap_or_default();
            json_text.push('\n');
            vec![
                (format!("model_repository/{name}/config.pbtxt"), triton_config(model)),
                (format!("model_repository/{name}/1/model.json"), json_text),
            ]
        }
        Engine::Tgi => {
            let obj: Map<String, Value> = tgi_env(stack, svc, model).into_iter().map(|(k, v)| (k, json!(v))).collect();
            let mut text = serde_json::to_string_pretty(&Value::Object(obj)).unwrap_or_default();
            text.push('\n');
            vec![("tgi-env.json".into(), text)]
        }
    }
}

/// The workloads of a service, as (workload name, model index): the service itself, or one
/// per A/B variant (named `<service>-<variant>`, as its Deployment is).
pub fn workloads(svc: &Service) -> Vec<(String, usize)> {
    match &svc.rollout {
        crate::ir::Rollout::Ab { variants, .. } => variants
            .iter()
            .map(|v| (crate::ir::lower::dns_name(&format!("{}-{}", svc.meta.name, v.name)), v.model))
            .collect(),
        _ => vec![(svc.meta.name.clone(), svc.model)],
    }
}

pub fn emit(stack: &Stack, out: &mut Vec<Artifact>, _diags: &mut Vec<Diagnostic>) {
    for svc in &stack.services {
        for (name, model) in workloads(svc) {
            let mut sources = vec![svc.meta.full_address()];
            if let Some(m) = stack.models.get(model) {
                sources.push(m.meta.full_address());
            }
            let view = Service { model, ..svc.clone() };
            for (path, text) in files(stack, &view) {
                out.push(Artifact::new(format!("serving/{name}/{path}"), text, sources.clone()));
            }
        }
    }
}
