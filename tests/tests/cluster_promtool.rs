//! The emitted Prometheus rules through Prometheus's own `promtool` (Debian's `prometheus`
//! package): `promtool check rules` on every rule file of every example, and `promtool test
//! rules` with input series named exactly as vLLM 0.33 exports them, showing that the
//! error-rate SLO alert fires when HTTP 5xx rise and stays silent otherwise, and that the
//! engine-down alert fires when the engine stops answering. Without promtool the tests say
//! SKIPPED, except under `CI=true`, where they fail.

use aistack::emit::yaml;
use aistack_tests::{build_file, build_text, example_stacks, yaml_docs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn promtool() -> Option<PathBuf> {
    let p = std::env::var_os("PROMTOOL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("promtool"));
    if Command::new(&p).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "promtool is missing under CI=true (apt-get install prometheus)"
    );
    println!("SKIPPED: promtool is not installed (apt-get install prometheus)");
    None
}

/// The `groups` of every PrometheusRule of an output, as one rules file.
fn rules_file(out: &[aistack::emit::Artifact]) -> Value {
    let mut groups = Vec::new();
    for a in out.iter().filter(|a| a.path.starts_with("kubernetes/prometheusrule-")) {
        let doc = &yaml_docs(&String::from_utf8_lossy(&a.bytes))[0];
        groups.extend(doc["spec"]["groups"].as_array().cloned().unwrap_or_default());
    }
    json!({ "groups": groups })
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("promtool").join(name);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn run(tool: &Path, args: &[&str], dir: &Path) {
    let o = Command::new(tool).args(args).current_dir(dir).output().expect("run promtool");
    assert!(
        o.status.success(),
        "promtool {args:?} failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn every_emitted_rule_file_passes_promtool_check_rules() {
    let Some(tool) = promtool() else { return };
    let mut checked = 0;
    for (name, path) in example_stacks() {
        let rules = rules_file(&build_file(&path));
        if rules["groups"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        let dir = scratch(&name);
        std::fs::write(dir.join("rules.yaml"), yaml::to_string(&rules)).expect("write rules");
        run(&tool, &["check", "rules", "rules.yaml"], &dir);
        checked += 1;
    }
    assert!(checked >= 4, "rule files of the examples checked: {checked}");
}

const STACK: &str = r#"stack s { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }
storage m { tier = warm, backend = s3, bucket = "s-models", versioned = true }
model small {
  store      = m
  path       = "small"
  version    = "1"
  digest     = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  parameters = 1e9
}
gpu_pool l4 { gpu = L4, gpus_per_node = 1, nodes = 1..2 }
service chat {
  model = small
  pool  = l4
  slo { error_rate = 2% }
}
"#;

/// The rule named `alert` in the rules file, for its labels and annotations.
fn rule<'a>(rules: &'a Value, alert: &str) -> &'a Value {
    rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["alert"] == alert)
        .unwrap_or_else(|| panic!("no alert {alert} in {rules}"))
}

/// A vLLM series of service `chat` (labels as vLLM and the ServiceMonitor set them).
fn vllm(name: &str, extra: &str, values: &str) -> Value {
    json!({
        "series": format!("{name}{{namespace=\"n\",service=\"chat\",pod=\"chat-7d9f-abcde\",model_name=\"small\",engine=\"0\"{extra}}}"),
        "values": values,
    })
}

fn http(status: &str, values: &str) -> Value {
    json!({
        "series": format!("http_requests_total{{namespace=\"n\",service=\"chat\",pod=\"chat-7d9f-abcde\",handler=\"/v1/chat/completions\",method=\"POST\",status=\"{status}\"}}"),
        "values": values,
    })
}

fn expect(rules: &Value, alert: &str, at: &str, firing: bool) -> Value {
    let r = rule(rules, alert);
    // The expressions aggregate (sum, absent of a comparison): an alert carries only the
    // rule's own labels.
    let alerts =
        if firing { json!([{ "exp_labels": r["labels"], "exp_annotations": r["annotations"] }]) } else { json!([]) };
    json!({ "eval_time": at, "alertname": alert, "exp_alerts": alerts })
}

#[test]
fn error_rate_alert_fires_on_5xx_and_engine_down_alert_on_a_dead_engine() {
    let Some(tool) = promtool() else { return };
    let rules = rules_file(&build_text(&[("main.ai-stack", STACK)]));
    let slo = "ChatSloErrorRate";
    let down = "ChatDown";
    // 60 finished requests a minute; from minute 16 the API server also answers 10 a minute
    // with 500 (the 5xx series appears only then, as the instrumentator creates it). The
    // engine itself reports no finished_reason="error".
    let healthy_then_5xx = json!({
        "interval": "1m",
        "input_series": [
            vllm("vllm:request_success_total", ",finished_reason=\"stop\"", "0+60x40"),
            vllm("vllm:request_success_total", ",finished_reason=\"error\"", "0x40"),
            http("2xx", "0+60x40"),
            http("5xx", "_x15 10+10x24"),
            json!({ "series": "up{namespace=\"n\",service=\"chat\",pod=\"chat-7d9f-abcde\"}", "values": "1x40" }),
        ],
        "alert_rule_test": [
            expect(&rules, slo, "14m", false),
            expect(&rules, slo, "38m", true),
            expect(&rules, down, "38m", false),
        ],
    });
    // The engine answers for 10 minutes, then its pod is gone: no series at all.
    let dead = json!({
        "interval": "1m",
        "input_series": [
            vllm("vllm:request_success_total", ",finished_reason=\"stop\"", "0+60x10 _x30"),
            vllm("vllm:request_success_total", ",finished_reason=\"error\"", "0x10 _x30"),
            json!({ "series": "up{namespace=\"n\",service=\"chat\",pod=\"chat-7d9f-abcde\"}", "values": "1x10 _x30" }),
        ],
        "alert_rule_test": [
            expect(&rules, down, "8m", false),
            expect(&rules, down, "38m", true),
            // A dead engine has no error rate: the SLO alert neither fires on 0 % nor hides the outage.
            expect(&rules, slo, "38m", false),
        ],
    });
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [healthy_then_5xx, dead],
    });
    let dir = scratch("error-rate");
    std::fs::write(dir.join("rules.yaml"), yaml::to_string(&rules)).expect("write rules");
    std::fs::write(dir.join("tests.yaml"), yaml::to_string(&tests)).expect("write tests");
    run(&tool, &["check", "rules", "rules.yaml"], &dir);
    run(&tool, &["test", "rules", "tests.yaml"], &dir);
}
