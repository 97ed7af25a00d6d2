//! The model-fit rule against the H100 calibration (`gpu-memory-calibration.json`): weights
//! are 2 bytes per bf16 parameter, KV bytes per token exactly 2 × layers × kv_heads ×
//! head_dim × bytes, the estimate for models without a shape never under-counts the
//! calibrated Llama-family models, and the stdlib's H100 memory is what the device reported.

use aistack::check::rules::{model_memory, precision_bytes};
use aistack::check::value::Value;
use aistack::check::{self};
use aistack::world::MemoryWorld;
use aistack_tests::{shared_dir, STACK_LINE};
use std::path::Path;

fn calibration() -> Option<serde_json::Value> {
    let Some(shared) = shared_dir() else {
        println!("SKIPPED: ../shared is not beside this checkout; no calibration file to compare with");
        return None;
    };
    let text = std::fs::read_to_string(shared.join("design/gpu-memory-calibration.json")).expect("calibration file");
    Some(serde_json::from_str(&text).expect("calibration JSON"))
}

#[test]
fn weights_and_kv_match_the_measurements() {
    let Some(cal) = calibration() else { return };
    let models = cal["models"].as_object().expect("models");
    assert_eq!(models.len(), 3);
    let bf16 = precision_bytes("bf16").expect("bf16");
    for (name, m) in models {
        let params = m["parameters"].as_f64().expect("parameters");
        let shape = (
            m["layers"].as_f64().expect("layers"),
            m["kv_heads"].as_f64().expect("kv"),
            m["head_dim"].as_f64().expect("hd"),
        );
        for (ctx, c) in m["contexts"].as_object().expect("contexts") {
            let ctx: f64 = ctx.parse().expect("context");
            let mem = model_memory(params, bf16, ctx, Some(shape));
            let measured_weights = m["weight_bytes"].as_f64().expect("weights");
            let rel = (mem.weights - measured_weights).abs() / measured_weights;
            assert!(rel < 1e-3, "{name}: weights {} vs measured {measured_weights} ({rel})", mem.weights);
            assert_eq!(
                mem.kv_per_token,
                c["kv_bytes_per_token"].as_f64().expect("kv/token"),
                "{name} KV bytes per token"
            );
            assert_eq!(mem.kv_sequence(), c["kv_cache_bytes"].as_f64().expect("kv bytes"), "{name} KV of {ctx} tokens");
            let estimated = model_memory(params, bf16, ctx, None);
            assert!(
                estimated.kv_per_token >= mem.kv_per_token,
                "{name}: the estimate must not under-count the KV cache"
            );
        }
        assert_eq!(
            model_memory(params, bf16, 1.0, Some(shape)).kv_per_token,
            m["formula_kv_bytes_per_token"].as_f64().expect("formula")
        );
    }
}

#[test]
fn stdlib_h100_memory_is_what_the_device_reports() {
    let Some(cal) = calibration() else { return };
    let idle = cal["nvidia_smi_idle"].as_str().expect("idle line");
    let mib: f64 =
        idle.split(',').nth(1).and_then(|s| s.trim().strip_suffix(" MiB")).and_then(|s| s.parse().ok()).expect("MiB");
    let src = format!("{STACK_LINE}\nlet h100 = filter(g in gpu_model, g.gpu == H100_80GB)[0].memory\nassert h100 > 0B else \"uses it\"\n");
    let world = MemoryWorld::default().with("/t/main.ai-stack", src);
    let a = check::check(&world, Path::new("/t/main.ai-stack"), &[]);
    assert!(!a.has_errors(), "{:?}", a.diags);
    let gpu_model = a.prog.std_schema("gpu_model").expect("gpu_model schema");
    let h100 = a
        .decls
        .iter()
        .filter(|d| d.kind == Some(gpu_model))
        .filter_map(|d| d.record.as_ref())
        .find(|r| matches!(r.get("karpenter_name"), Some(Value::Str(s)) if &**s == "h100"))
        .expect("an h100 gpu_model");
    match h100.get("memory") {
        Some(Value::Qty(bytes, _)) => assert_eq!(*bytes, mib * 1024.0 * 1024.0),
        other => panic!("memory is {other:?}"),
    }
}
