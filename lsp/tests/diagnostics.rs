//! `aistack-lsp diagnostics` prints publishDiagnostics params with zero-based positions.

use std::process::Command;

#[test]
fn publishes_located_diagnostics() {
    let dir = std::env::temp_dir().join(format!("aistack-lsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("main.ai-stack");
    let src = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\nstorage c {\n  tier    = hot\n  backend = nvme\n  size    = 30d\n}\n";
    std::fs::write(&f, src).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_aistack-lsp")).arg("diagnostics").arg(&f).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["uri"].as_str().is_some_and(|u| u.starts_with("file://") && u.ends_with("main.ai-stack")));
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0302");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["range"]["start"]["line"], 4);
    assert_eq!(d["range"]["start"]["character"], 12);
    assert_eq!(d["range"]["end"]["character"], 15);
    // Unknown arguments are a usage error; no arguments serve the protocol (and end with stdin).
    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_aistack-lsp")).arg("bogus").output().expect("run").status.code(),
        Some(2)
    );
    let served =
        Command::new(env!("CARGO_BIN_EXE_aistack-lsp")).stdin(std::process::Stdio::null()).output().expect("run");
    assert_eq!(served.status.code(), Some(0));
}
