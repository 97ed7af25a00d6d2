//! CI policy checks (issue 11): the built-in rules AIS101–AIS116, a policy's overrides,
//! in-source suppressions, the SARIF 2.1.0 and JUnit reports, and the checkov skip table.
//!
//! Stacks are in `tests/policy/`: annotated sections as in `tests/suite` (each `-bad` section
//! raises exactly its rule where annotated, its `-good` twin nothing). SARIF is validated
//! against the official SARIF 2.1.0 JSON schema (`tests/policy/sarif-schema-2.1.0.json`, a
//! copy of `../shared/schemas/sarif/`) with Python's `jsonschema` from the validator venv
//! that `.ci/run` installs (`AISTACK_VALIDATE_VENV`, default `~/.cache/aistack-validate`);
//! JUnit is parsed with Python's `xml.etree`. Under `CI=true` a missing tool fails the test.

use aistack::check::policy::{self, checkov, Options, RULES};
use aistack::check::{self, Analysis};
use aistack::report::{junit, sarif};
use aistack::world::MemoryWorld;
use aistack_tests::{build_file, example_stacks, run_section_with, sections, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

const ON: Options = Options { policy: true };

fn run_file(name: &str, opts: Options) -> usize {
    let path = workspace().join("tests/policy").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let secs = sections(&text);
    let mut report = String::new();
    for s in &secs {
        let r = run_section_with(name, s, opts);
        if !r.is_empty() {
            report.push_str(&format!("section `{}`:\n{r}", s.name));
        }
    }
    assert!(report.is_empty(), "{name}:\n{report}");
    secs.len()
}

fn analyse(src: &str, opts: Options) -> Analysis {
    let root = PathBuf::from("/p/main.ai-stack");
    check::check_with(&MemoryWorld::default().with(&root, src.to_string()), &root, &[], opts)
}

#[test]
fn each_builtin_rule_has_a_violating_and_a_fixed_stack() {
    let n = run_file("rules.ai-stack", ON);
    let text = std::fs::read_to_string(workspace().join("tests/policy/rules.ai-stack")).expect("read");
    for r in RULES.iter().filter(|r| r.policy) {
        let bad = sections(&text).into_iter().find(|s| s.name == format!("{}-bad", r.id));
        let bad = bad.unwrap_or_else(|| panic!("no section {}-bad", r.id));
        assert!(!bad.expected.is_empty(), "{}-bad annotates nothing", r.id);
        assert!(bad.expected.iter().all(|e| e.code == r.id), "{}-bad expects other codes: {:?}", r.id, bad.expected);
        let good = sections(&text).into_iter().find(|s| s.name == format!("{}-good", r.id));
        assert!(good.is_some_and(|g| g.expected.is_empty()), "{}-good must exist and expect nothing", r.id);
    }
    assert!(n >= 33, "{n} sections");
}

#[test]
fn policy_overrides_without_the_flag() {
    run_file("overrides.ai-stack", Options::default());
}

#[test]
fn suppressions_behave_as_documented() {
    run_file("suppress.ai-stack", ON);
}

const SUPPRESSED: &str = r#"
stack s { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }
// aistack:allow AIS114 rebuilt nightly from the warehouse
storage a { tier = warm, backend = s3, bucket = "b-a" }
storage b { tier = warm, backend = s3, bucket = "b-b" } // aistack:allow AIS114 scratch space, emptied daily
// aistack:allow AIS112 — données reconstruites 🙂
storage a2 { tier = warm, backend = s3, bucket = "b-a2", versioned = true }
"#;

#[test]
fn suppressed_findings_are_counted_and_kept_with_their_reason() {
    let a = analyse(SUPPRESSED, ON);
    let mut got: Vec<(&str, &str)> = a.rules.suppressed.iter().map(|s| (s.diag.code, s.reason.as_str())).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("AIS112", "— données reconstruites 🙂"),
            ("AIS114", "rebuilt nightly from the warehouse"),
            ("AIS114", "scratch space, emptied daily")
        ]
    );
    // What is left: AIS112 for `a` and `b` (not suppressed), nothing else.
    let left: Vec<(&str, String)> = a.diags.iter().map(|d| (d.code, d.message.clone())).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|(c, _)| *c == "AIS112"), "{left:?}");
    // Without --policy the rules do not run, so nothing is suppressed and nothing is unused.
    let quiet = analyse(SUPPRESSED, Options::default());
    assert!(quiet.rules.suppressed.is_empty() && quiet.diags.is_empty(), "{:?}", quiet.diags);
}

// ------------------------------------------------------------------ SARIF

/// A stack with a finding after non-ASCII text on its line: `é` is one UTF-16 unit, `🙂` two.
const UNICODE: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }
storage m { tier = warm, backend = s3, bucket = \"b-m\", versioned = true }
dr d { rpo = 1h, rto = 4h, primary = \"us-east-1\", secondary = \"us-west-2\", replicate = [m] }
dataset x { store = m, path = \"données/🙂\", version = \"1\", contains_pii = true }
// aistack:allow AIS114 a reason with <xml> & \"quotes\"
storage n { tier = warm, backend = s3, bucket = \"b-n\", encryption = off }
";

fn sarif_of(src: &str, include_suppressed: bool) -> serde_json::Value {
    sarif::report(&analyse(src, ON), Some(Path::new("/p")), include_suppressed)
}

fn results(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["runs"][0]["results"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sarif_columns_count_utf16_code_units() {
    let v = sarif_of(UNICODE, false);
    let r = results(&v);
    let pii = r.iter().find(|x| x["ruleId"] == "AIS106").expect("AIS106 result");
    let region = &pii["locations"][0]["physicalLocation"]["region"];
    let line = UNICODE.lines().nth(3).expect("line 4");
    let at = line.find("true").expect("true");
    let chars = line[..at].chars().count();
    let units = line[..at].encode_utf16().count();
    assert_eq!(units, chars + 1, "the line holds one astral character");
    assert_eq!(region["startLine"], 4);
    // `contains_pii = true`: the finding is at `true`.
    assert_eq!(region["startColumn"], units + 1);
    assert_eq!(region["endColumn"], units + 1 + 4);
    assert_eq!(pii["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "main.ai-stack");
    assert_eq!(v["runs"][0]["originalUriBaseIds"]["ROOT"]["uri"], "file:///p/");
    let level = |id: &str| r.iter().find(|x| x["ruleId"] == id).map(|x| x["level"].clone());
    assert_eq!(level("AIS101"), Some(serde_json::json!("error")));
}

#[test]
fn sarif_leaves_suppressed_results_out_unless_asked() {
    let out = sarif_of(UNICODE, false);
    assert!(!results(&out).iter().any(|x| x["ruleId"] == "AIS114"), "suppressed AIS114 left out");
    let with = sarif_of(UNICODE, true);
    let s = results(&with).into_iter().find(|x| x["ruleId"] == "AIS114").expect("suppressed result included");
    assert_eq!(s["suppressions"][0]["kind"], "inSource");
    assert_eq!(s["suppressions"][0]["justification"], "a reason with <xml> & \"quotes\"");
}

#[test]
fn sarif_rules_carry_their_metadata() {
    let v = sarif_of(UNICODE, false);
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    for r in RULES {
        assert!(ids.contains(&r.id), "{} missing from tool.driver.rules", r.id);
    }
    let r101 = rules.iter().find(|r| r["id"] == "AIS101").expect("AIS101");
    assert_eq!(r101["name"], "encryption-at-rest");
    assert_eq!(r101["helpUri"], "https://aistack.dev/docs/rules/AIS101");
    assert_eq!(r101["defaultConfiguration"]["level"], "error");
    assert!(r101["fullDescription"]["text"].as_str().is_some_and(|t| t.contains("encryption = off")));
    for res in results(&v) {
        let i = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[i]["id"], res["ruleId"], "ruleIndex points at its rule");
    }
}

fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("AISTACK_VALIDATE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aistack-validate")))?;
    let py = venv.join("bin/python");
    let ok = Command::new(&py).args(["-c", "import jsonschema"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

fn missing(tool: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {tool} is needed (installed by .ci/run)");
    println!("SKIPPED: {tool} is not installed; run .ci/run once to install it");
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scratch file");
    p
}

const VALIDATE: &str = "import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    jsonschema.Draft7Validator(schema).validate(json.load(open(path)))
print('valid', len(sys.argv) - 2)
";

#[test]
fn sarif_validates_against_the_official_schema() {
    let Some(py) = venv_python() else { return missing("python jsonschema in the validator venv") };
    let schema = workspace().join("tests/policy/sarif-schema-2.1.0.json");
    let mut files = Vec::new();
    for (i, (src, inc)) in [(UNICODE, false), (UNICODE, true), (SUPPRESSED, true)].into_iter().enumerate() {
        files.push(scratch(&format!("log{i}.sarif"), &sarif_of(src, inc).to_string()));
    }
    for (name, path) in example_stacks() {
        let a = check::check_with(&aistack::world::DiskWorld, &path, &[], ON);
        files.push(scratch(&format!("{name}.sarif"), &sarif::report(&a, path.parent(), false).to_string()));
    }
    let out = Command::new(py).arg("-c").arg(VALIDATE).arg(&schema).args(&files).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("valid {}", files.len()));
}

#[test]
fn the_schema_copy_is_the_shared_one() {
    let Some(shared) = aistack_tests::shared_dir() else { return missing("../shared") };
    let a = std::fs::read(shared.join("schemas/sarif/sarif-schema-2.1.0.json")).expect("shared schema");
    let b = std::fs::read(workspace().join("tests/policy/sarif-schema-2.1.0.json")).expect("copy");
    assert!(a == b, "tests/policy/sarif-schema-2.1.0.json differs from ../shared/schemas/sarif");
}

// ------------------------------------------------------------------ JUnit

const JUNIT_CHECK: &str = "import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == 'testsuite', root.tag
cases = root.findall('testcase')
assert int(root.get('tests')) == len(cases)
fails = [f for c in cases for f in c.findall('failure')]
assert int(root.get('failures')) == len(fails)
print(len(cases), len(fails))
for c in cases:
    for f in c.findall('failure'):
        print(c.get('name').split(' ')[0], f.get('type'), f.get('message'))
";

#[test]
fn junit_has_one_testcase_per_rule_evaluated() {
    let hostile = format!("{UNICODE}pipeline p {{ kind = batch, image = \"ghcr.io/a]]><&'\\\"x:1\", pool = l4 }}\ngpu_pool l4 {{ gpu = L4, gpus_per_node = 1, nodes = 0..1 }}\n");
    let a = analyse(&hostile, ON);
    let xml = junit::report(&a);
    let path = scratch("report.xml", &xml);
    let out = Command::new("python3").arg("-c").arg(JUNIT_CHECK).arg(&path).output();
    let Ok(out) = out else { return missing("python3") };
    assert!(out.status.success(), "{}\n{xml}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    let counts = lines.next().unwrap_or_default().to_string();
    // One case per rule evaluated, plus one for the checker's own findings.
    assert_eq!(counts, format!("{} {}", a.rules.evaluated.len() + 1, a.diags.len()), "{stdout}");
    assert_eq!(a.rules.evaluated.len(), RULES.len(), "--policy evaluates every rule");
    let fails: Vec<&str> = lines.collect();
    assert!(fails.iter().any(|l| l.starts_with("AIS105 warning [AIS105] image \"ghcr.io/a]]><&'\"x:1\"")), "{stdout}");
    assert!(fails.iter().any(|l| l.starts_with("AIS101 error")), "{stdout}");
}

#[test]
fn xml_escape_keeps_every_string_well_formed() {
    assert_eq!(junit::escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
    assert_eq!(junit::escape("bell\u{7}\ttab\u{FFFF}"), "bell\\u{7}\ttab\\u{ffff}");
}

// ------------------------------------------------------------------ docs and the table

#[test]
fn every_rule_has_one_doc_page() {
    for r in RULES {
        let doc = policy::doc(r);
        assert!(!policy::summary(r).is_empty(), "{} has no summary", r.id);
        assert!(doc.starts_with(&format!("# {}: ", r.id)), "{}: {doc:.40}", r.id);
        if r.policy {
            for h in ["## What", "## Why", "## Example", "## How to fix"] {
                assert!(doc.contains(h), "{} lacks {h}", r.id);
            }
            let page = workspace().join(format!("docs/rules/{}.md", r.id));
            assert_eq!(std::fs::read_to_string(&page).ok().as_deref(), Some(doc), "{}", page.display());
        }
    }
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
}

// ------------------------------------------------------------------ checkov

/// `checkov:skip=ID:` comments in the emitted files.
fn skip_ids(artifacts: &[aistack::emit::Artifact]) -> Vec<String> {
    let mut ids = Vec::new();
    for a in artifacts {
        let text = String::from_utf8_lossy(&a.bytes);
        for part in text.split("checkov:skip=").skip(1) {
            let id: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

fn assert_covered(name: &str, path: &Path) -> Vec<String> {
    let ids = skip_ids(&build_file(path));
    let a = check::check_with(&aistack::world::DiskWorld, path, &[], ON);
    let raised: Vec<&str> =
        a.diags.iter().map(|d| d.code).chain(a.rules.suppressed.iter().map(|s| s.diag.code)).collect();
    for id in &ids {
        let entry = checkov::lookup(id).unwrap_or_else(|| panic!("{name}: checkov skip {id} is not in checkov::SKIPS"));
        if entry.by_design.is_none() {
            assert!(
                entry.rules.iter().any(|r| raised.contains(r)),
                "{name}: the output skips {id}, but none of {:?} reports its cause",
                entry.rules
            );
        }
    }
    ids
}

#[test]
fn every_checkov_skip_the_examples_emit_is_covered() {
    let mut all = Vec::new();
    for (name, path) in example_stacks() {
        all.extend(assert_covered(&name, &path));
    }
    assert!(all.len() >= 10, "the examples emit skips: {all:?}");
}

#[test]
fn every_checkov_skip_a_careless_stack_emits_is_raised() {
    let path = workspace().join("tests/policy/checkov/main.ai-stack");
    let ids = assert_covered("tests/policy/checkov", &path);
    for must in ["CKV_AWS_145", "CKV2_AWS_6", "CKV_AWS_54", "CKV_AWS_21", "CKV_AWS_42", "CKV_AWS_184", "CKV_AWS_190"] {
        assert!(ids.iter().any(|i| i == must), "{must} not emitted: {ids:?}");
    }
    let documented = std::fs::read_to_string(workspace().join("docs/rules/README.md")).expect("docs/rules/README.md");
    for s in checkov::SKIPS {
        assert!(documented.contains(s.id), "docs/rules/README.md does not mention {}", s.id);
    }
}
