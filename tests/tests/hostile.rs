//! Property: hostile strings in any string field (newlines, `---`, `${…}`, `{{…}}`, quotes,
//! YAML 1.1 booleans such as `yes`, `: ` and `#`) reach every output format unchanged, with
//! no extra YAML documents, no broken JSON and no live interpolation in Terraform strings.

use aistack_tests::{build_text, yaml_docs};
use proptest::prelude::*;
use serde_json::Value;

const PIECES: &[&str] = &[
    "\n", "---", "${x}", "${ }", "{{name}}", "\"", "'", "\\", "yes", "no", "on", "off", "~", "null", ": ", "#", "- ",
    "%{ if }", "1:20", "0777", "é", "\t", "true", " ", "[", "]", "{", "}", "&anchor", "*alias", "!tag", "|", ">", "@",
    "`", "$$",
];

fn hostile() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 1..8).prop_map(|v| v.concat())
}

/// The string as an `.ai-stack` literal.
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '$' => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes an HCL quoted string (the inverse of the emitter's escaping).
fn hcl_unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| it.next()).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            '$' | '%' if it.peek() == Some(&c) => {
                // `$${` and `%%{` are the escaped forms of `${` and `%{`.
                let mut ahead = it.clone();
                ahead.next();
                if ahead.peek() == Some(&'{') {
                    it.next();
                }
                out.push(c);
            }
            // An interpolation is allowed only as a reference the emitter wrote itself
            // (`${aws_…}`, `${var.…}`, …), never from user text; directives never.
            '$' if it.peek() == Some(&'{') => {
                let rest: String = it.clone().collect();
                let inner = rest.strip_prefix('{')?.split('}').next()?;
                let reference =
                    ["aws_", "data.", "local.", "var.", "each.", "count."].iter().any(|p| inner.starts_with(p))
                        && inner.chars().all(|c| c.is_ascii_alphanumeric() || "_.[]\"-*".contains(c));
                if !reference {
                    return None;
                }
                out.push(c);
            }
            '%' if it.peek() == Some(&'{') => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn stack(text: &str) -> String {
    format!(
        r#"stack s {{
  cloud     = aws
  region    = "us-east-1"
  cluster   = "c"
  namespace = "n"
  tags      = {{ team = {t} }}
}}
storage m {{ tier = warm, backend = s3, bucket = "b-models", versioned = true }}
model small {{
  store      = m
  path       = {t}
  version    = {t}
  digest     = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  parameters = 1e9
}}
gpu_pool l4 {{ gpu = L4, gpus_per_node = 1, nodes = 1..2 }}
service chat {{
  model = small
  pool  = l4
  env   = {{ MODE = {t} }}
}}
service embed {{
  model  = small
  pool   = l4
  engine = triton
}}
"#,
        t = lit(text)
    )
}

fn find_env<'a>(docs: &'a Value, name: &str) -> Option<&'a Value> {
    docs["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["value"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_strings_round_trip(text in hostile()) {
        let out = build_text(&[("main.ai-stack", &stack(&text))]);
        for a in &out {
            let body = String::from_utf8(a.bytes.clone()).expect("UTF-8 output");
            if a.path.ends_with(".yaml") {
                let docs = yaml_docs(&body);
                prop_assert_eq!(docs.len(), 1, "{} has exactly one document", a.path);
                // YAML 1.1 booleans and nulls never appear as plain scalars.
                for line in body.lines() {
                    let value = line.trim_start().trim_start_matches("- ").split_once(": ").map(|(_, v)| v).unwrap_or("");
                    let lower = value.to_ascii_lowercase();
                    prop_assert!(!["yes", "no", "on", "off", "y", "n", "~"].contains(&lower.as_str()), "plain YAML 1.1 scalar in {}: {}", a.path, line);
                }
            }
            if a.path.ends_with(".json") {
                prop_assert!(serde_json::from_str::<Value>(&body).is_ok(), "{} is JSON", a.path);
            }
            if a.path.ends_with(".tf") {
                // Every string literal decodes, and none can start an interpolation.
                let mut rest = body.as_str();
                while let Some(start) = rest.find('"') {
                    let tail = &rest[start + 1..];
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in tail.char_indices() {
                        if escaped { escaped = false; continue; }
                        if c == '\\' { escaped = true; continue; }
                        if c == '"' { end = Some(i); break; }
                    }
                    let Some(end) = end else { break };
                    let q = &rest[start..start + end + 2];
                    prop_assert!(hcl_unquote(q).is_some(), "{}: string literal {} does not decode or interpolates", a.path, q);
                    rest = &rest[start + end + 2..];
                }
            }
        }
        let get = |p: &str| out.iter().find(|a| a.path == p).map(|a| String::from_utf8_lossy(&a.bytes).into_owned()).unwrap_or_default();
        let deploy = &yaml_docs(&get("kubernetes/deployment-chat.yaml"))[0];
        prop_assert_eq!(find_env(deploy, "MODE"), Some(&Value::from(text.clone())));
        prop_assert_eq!(&deploy["spec"]["template"]["metadata"]["annotations"]["aistack.dev/model-version"], &Value::from(text.clone()));
        let vllm = &yaml_docs(&get("serving/chat/vllm.yaml"))[0];
        // `<path>/<version>/`: path and version are both `text` here.
        let want_uri = format!("s3://b-models/{}/{}/", text.trim_matches('/'), text.trim_matches('/'));
        prop_assert_eq!(&vllm["model"], &Value::from(want_uri.clone()));
        let model_json: Value = serde_json::from_str(&get("serving/embed/model_repository/small/1/model.json")).expect("model.json");
        prop_assert_eq!(&model_json["model"], &Value::from(want_uri));
        let nodeclass = &yaml_docs(&get("kubernetes/ec2nodeclass-s-l4.yaml"))[0];
        prop_assert_eq!(&nodeclass["spec"]["tags"]["team"], &Value::from(text.clone()));
        let tf_team = out
            .iter()
            .filter(|a| a.path.ends_with(".tf"))
            .flat_map(|a| String::from_utf8_lossy(&a.bytes).lines().map(str::to_string).collect::<Vec<_>>())
            .find_map(|l| l.trim_start().strip_prefix("team").map(|r| r.trim_start().trim_start_matches('=').trim().to_string()));
        let q = tf_team.expect("the stack's tags reach Terraform");
        prop_assert_eq!(hcl_unquote(&q), Some(text.clone()), "the tag reaches Terraform unchanged");
    }
}

#[test]
fn pbtxt_strings_are_escaped() {
    let out = build_text(&[("main.ai-stack", &stack("a\"b\\c\nd'e"))]);
    let cfg = out.iter().find(|a| a.path.ends_with("config.pbtxt")).expect("config.pbtxt");
    let text = String::from_utf8_lossy(&cfg.bytes);
    assert!(text.contains(r#"string_value: "a\"b\\c\nd\'e""#), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("string_value")).count(), 1, "no line breaks inside the literal");
}
