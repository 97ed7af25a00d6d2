//! User schemas that name a Handlebars template: rendered per instance, strict, and every
//! value escaped for the target format (never HTML-escaped).

use aistack::check;
use aistack::world::MemoryWorld;
use aistack_tests::{build_text, yaml_docs};
use std::path::Path;

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

fn program(template_name: &str) -> String {
    format!(
        "{STACK}schema dashboard template \"{template_name}\" {{\n  title: string\n  panels: int = 4\n}}\n\
         dashboard chat_board {{ title = \"Chat <p95> & \\\"errors\\\"\\n---\\nyes: \\${{x}}\" }}\n"
    )
}

#[test]
fn renders_yaml_json_and_hcl_with_escaping() {
    let title = "Chat <p95> & \"errors\"\n---\nyes: ${x}";
    let yaml = build_text(&[
        ("main.ai-stack", &program("board.yaml.hbs")),
        ("board.yaml.hbs", "title: {{title}}\npanels: {{panels}}\n"),
    ]);
    let f = yaml.iter().find(|a| a.path == "rendered/dashboard/chat-board.yaml").expect("rendered YAML");
    let docs = yaml_docs(&String::from_utf8_lossy(&f.bytes));
    assert_eq!(docs.len(), 1, "no extra documents");
    assert_eq!(docs[0]["title"], title);
    assert_eq!(docs[0]["panels"], 4);

    let json = build_text(&[
        ("main.ai-stack", &program("board.json.hbs")),
        ("board.json.hbs", "{\"title\": {{title}}, \"name\": {{name}}}\n"),
    ]);
    let f = json.iter().find(|a| a.path == "rendered/dashboard/chat-board.json").expect("rendered JSON");
    let v: serde_json::Value = serde_json::from_slice(&f.bytes).expect("valid JSON");
    assert_eq!(v["title"], title);
    assert_eq!(v["name"], "chat_board");

    let hcl = build_text(&[
        ("main.ai-stack", &program("board.tf.hbs")),
        ("board.tf.hbs", "locals {\n  title = {{title}}\n}\n"),
    ]);
    let f = hcl.iter().find(|a| a.path == "rendered/dashboard/chat-board.tf").expect("rendered HCL");
    let text = String::from_utf8_lossy(&f.bytes);
    assert!(text.contains(r#"title = "Chat <p95> & \"errors\"\n---\nyes: $${x}""#), "{text}");
}

fn diags_of(files: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut world = MemoryWorld::default();
    for (p, t) in files {
        world = world.with(Path::new("/t").join(p), t.to_string());
    }
    let a = check::check(&world, Path::new("/t/main.ai-stack"), &[]);
    let mut out: Vec<(String, String)> =
        a.diags.iter().filter(|d| d.is_error()).map(|d| (d.code.to_string(), d.message.clone())).collect();
    if out.is_empty() {
        let (_, emit) = aistack::emit::emit(&aistack::ir::lower(&a));
        out = emit.iter().filter(|d| d.is_error()).map(|d| (d.code.to_string(), d.message.clone())).collect();
    }
    out
}

#[test]
fn strict_mode_and_unknown_formats_are_errors() {
    let missing_field =
        diags_of(&[("main.ai-stack", &program("board.yaml.hbs")), ("board.yaml.hbs", "title: {{titel}}\n")]);
    assert!(missing_field.iter().any(|(c, m)| c == "E0501" && m.contains("titel")), "{missing_field:?}");
    let unknown = diags_of(&[("main.ai-stack", &program("board.txt.hbs")), ("board.txt.hbs", "{{title}}")]);
    assert!(unknown.iter().any(|(c, m)| c == "E0501" && m.contains(".yaml.hbs")), "{unknown:?}");
    let absent = diags_of(&[("main.ai-stack", &program("nowhere.yaml.hbs"))]);
    assert!(absent.iter().any(|(c, m)| c == "E0501" && m.contains("cannot read template")), "{absent:?}");
    let escapes = diags_of(&[("main.ai-stack", &program("../../etc/x.yaml.hbs"))]);
    assert!(escapes.iter().any(|(c, _)| c == "E0204"), "{escapes:?}");
}
