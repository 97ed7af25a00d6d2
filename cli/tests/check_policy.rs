//! `aistack check --policy` as CI runs it: exit codes by error-level findings, the formats,
//! `--output` written atomically, the suppressed count in the summary, `explain AIS101`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aistack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aistack")).args(args).output().expect("run aistack")
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-policy").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

fn write(d: &Path, body: &str) -> String {
    let p = d.join("main.ai-stack");
    std::fs::write(&p, format!("{STACK}{body}")).expect("write stack");
    p.display().to_string()
}

#[test]
fn exit_1_only_for_error_level_findings() {
    let d = dir("exit");
    // Only warnings (AIS114, AIS112): 0 with and without --policy.
    let f = write(&d, "storage a { tier = warm, backend = s3, bucket = \"b-a\" }\n");
    let o = aistack(&["check", &f, "--policy"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[AIS114]"));
    // AIS101 is an error: 1 with --policy, 0 without (no policy declaration, so it does not run).
    let f = write(&d, "storage a { tier = warm, backend = s3, bucket = \"b-a\", encryption = off }\n");
    assert_eq!(aistack(&["check", &f, "--policy"]).status.code(), Some(1));
    assert_eq!(aistack(&["check", &f]).status.code(), Some(0));
    // A policy can lower it to a warning; then --policy passes.
    let f = write(&d, "storage a { tier = warm, backend = s3, bucket = \"b-a\", encryption = off }\npolicy p { rules = { AIS101 = warning } }\n");
    assert_eq!(aistack(&["check", &f, "--policy"]).status.code(), Some(0));
}

#[test]
fn suppressed_findings_are_counted_and_do_not_fail() {
    let d = dir("suppressed");
    let f = write(
        &d,
        "// aistack:allow AIS101 public price list, nothing secret\nstorage a { tier = warm, backend = s3, bucket = \"b-a\", versioned = true, encryption = off }\n// aistack:allow AIS112 rebuilt from the price list\nstorage b { tier = warm, backend = s3, bucket = \"b-b\", versioned = true }\ndr d { rpo = 1h, rto = 4h, primary = \"us-east-1\", secondary = \"us-west-2\", replicate = [a] }\n",
    );
    let o = aistack(&["check", &f, "--policy", "--color", "false"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.trim_end().ends_with("ok, 0 errors, 0 warnings (2 findings suppressed)"), "{out}");
    let o = aistack(&["check", &f, "--policy", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["suppressed"], 2);
}

#[test]
fn output_is_written_whole_in_each_format() {
    let d = dir("output");
    let f = write(&d, "storage a { tier = warm, backend = s3, bucket = \"b-a\", encryption = off }\n");
    let out = d.join("reports");
    std::fs::create_dir_all(&out).expect("reports dir");
    for (fmt, name) in [("sarif", "r.sarif"), ("junit", "r.xml"), ("json", "r.json"), ("human", "r.txt")] {
        let target = out.join(name);
        let t = target.display().to_string();
        let o = aistack(&["check", &f, "--policy", "--format", fmt, "--output", &t]);
        assert_eq!(o.status.code(), Some(1), "{fmt}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.is_empty(), "{fmt}: --output leaves stdout empty");
        let text = std::fs::read_to_string(&target).expect("report written");
        match fmt {
            "sarif" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("sarif is json");
                assert_eq!(v["version"], "2.1.0");
                assert!(v["runs"][0]["results"].as_array().is_some_and(|r| r.iter().any(|x| x["ruleId"] == "AIS101")));
            }
            "junit" => assert!(text.starts_with("<?xml") && text.contains("<failure type=\"error\"")),
            "json" => assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok()),
            _ => assert!(text.contains("[AIS101]") && !text.contains('\u{1b}'), "no colour in a file"),
        }
    }
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "no temporary files left: {names:?}");
    // An output folder that does not exist is an I/O failure, not a half-written file.
    let bad = d.join("missing/r.sarif").display().to_string();
    assert_eq!(aistack(&["check", &f, "--format", "sarif", "--output", &bad]).status.code(), Some(2));
}

#[test]
fn explain_prints_a_rule_page() {
    let o = aistack(&["explain", "ais112"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("# AIS112: DR covers every stateful store"), "{text}");
    let list = String::from_utf8_lossy(&aistack(&["explain"]).stdout).into_owned();
    assert!(
        list.contains("AIS101  storage is encrypted at rest") && list.contains("E0440  suppression without a reason")
    );
}
