//! Every key the serving configs set is a real vLLM 0.33 argument: `vllm.yaml` keys are
//! engine or serve flags (for `vllm serve --config`), Triton's `model.json` keys are
//! `EngineArgs` field names. Checked against `../shared/schemas/vllm` when it is present.

use aistack_tests::{build_file, example_stacks, shared_dir, yaml_docs};
use std::collections::BTreeSet;

fn vllm_names() -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let dir = shared_dir()?.join("schemas/vllm");
    let mut flags = BTreeSet::new();
    let mut dests = BTreeSet::new();
    for (file, field) in [
        ("vllm-engine-args-v0.33.0.json", "engine_args"),
        ("vllm-serve-frontend-args-v0.33.0.json", "serve_frontend_args"),
    ] {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(file)).ok()?).ok()?;
        for a in v[field].as_array()? {
            for f in std::iter::once(&a["flag"])
                .chain(a["aliases"].as_array().into_iter().flatten())
                .chain(a["negative_flags"].as_array().into_iter().flatten())
            {
                if let Some(f) = f.as_str().and_then(|f| f.strip_prefix("--")) {
                    flags.insert(f.to_string());
                }
            }
            if field == "engine_args" {
                if let Some(d) = a["dest"].as_str() {
                    dests.insert(d.to_string());
                }
            }
        }
    }
    flags.insert("model".into());
    Some((flags, dests))
}

#[test]
fn serving_config_keys_are_real_vllm_arguments() {
    let Some((flags, dests)) = vllm_names() else {
        println!("SKIPPED: ../shared/schemas/vllm is not beside this checkout");
        return;
    };
    let mut checked = 0;
    for (name, path) in example_stacks() {
        for a in build_file(&path) {
            let text = String::from_utf8_lossy(&a.bytes);
            if a.path.ends_with("/vllm.yaml") {
                for k in yaml_docs(&text)[0].as_object().expect("mapping").keys() {
                    assert!(flags.contains(k), "{name}: {} sets `{k}`, which is not a vLLM argument", a.path);
                    checked += 1;
                }
            }
            if a.path.ends_with("/1/model.json") {
                let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                for k in v.as_object().expect("object").keys() {
                    assert!(dests.contains(k), "{name}: {} sets `{k}`, which is not an EngineArgs field", a.path);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10, "only {checked} keys checked");
}
