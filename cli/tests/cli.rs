//! The `aistack` binary as a user runs it: exit codes, JSON shape, params, explain, fmt, and
//! hostile input: FIFOs, folders and unreadable files, byte order marks, output folders that
//! hold sources or foreign files, and control characters that must not reach a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn aistack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aistack")).args(args).output().expect("run aistack")
}

/// Runs aistack and fails the test if it has not exited within 10 s (killing it by PID).
fn aistack_bounded(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_aistack"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aistack");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => out.expect("aistack output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("aistack {args:?} did not finish within 10 s");
        }
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aistack-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

const STACK: &str = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";

#[test]
fn clean_stack_exits_zero() {
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    let out = aistack(&["check", ex.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 0 errors"));
}

#[test]
fn errors_exit_one_with_located_json() {
    let d = temp_dir("json");
    let f = d.join("bad.ai-stack");
    std::fs::write(&f, format!("{STACK}storage c {{\n  tier    = hot\n  backend = nvme\n  size    = 30d\n}}\n"))
        .expect("write");
    let out = aistack(&["check", "--format", "json", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d0 = &v["diagnostics"][0];
    assert_eq!(d0["code"], "E0302");
    assert_eq!(d0["severity"], "error");
    assert_eq!((d0["line"].as_u64(), d0["column"].as_u64()), (Some(5), Some(13)));
    assert_eq!((d0["end_line"].as_u64(), d0["end_column"].as_u64()), (Some(5), Some(16)));
    assert!(d0["labels"].is_array());
    assert!(d0["help"].as_str().is_some_and(|h| h.contains("GiB")));
    assert!(d0["file"].as_str().is_some_and(|p| p.ends_with("bad.ai-stack")));
}

#[test]
fn usage_and_io_failures_exit_two() {
    assert_eq!(aistack(&["check", "/nonexistent/x.ai-stack"]).status.code(), Some(2));
    assert_eq!(aistack(&["frobnicate"]).status.code(), Some(2));
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    assert_eq!(aistack(&["check", ex.to_str().expect("utf-8"), "--param", "novalue"]).status.code(), Some(2));
    assert_eq!(aistack(&["explain", "E9999"]).status.code(), Some(2));
}

#[test]
fn params_override_defaults_and_are_typed() {
    let d = temp_dir("params");
    let f = d.join("p.ai-stack");
    let src = format!("{STACK}param replicas: int = 2\nparam env: string = \"prod\"\nassert replicas > 2 else \"replicas must be raised\"\nassert env == \"dev\" else \"env is dev\"\n");
    std::fs::write(&f, src).expect("write");
    let p = f.to_str().expect("utf-8");
    assert_eq!(aistack(&["check", p]).status.code(), Some(1));
    assert_eq!(aistack(&["check", p, "--param", "replicas=3", "--param", "env=dev"]).status.code(), Some(0));
    let out = aistack(&["check", p, "--format", "json", "--param", "replicas=3s", "--param", "env=dev"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["diagnostics"][0]["code"], "E0301", "{v}");
    let out = aistack(&["check", p, "--param", "nosuch=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("declares no param `nosuch`"));
}

#[test]
fn secret_values_never_reach_the_output() {
    let d = temp_dir("secret");
    let f = d.join("s.ai-stack");
    std::fs::write(&f, format!("{STACK}param key: secret\nlet header = \"Bearer ${{key}}\"\n")).expect("write");
    let out = aistack(&["check", "--format", "json", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("E0304"));
}

#[test]
fn explain_prints_the_long_form() {
    let out = aistack(&["explain", "e0403"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("# E0403"), "{text}");
    assert!(text.contains("tensor_parallel"));
    let list = String::from_utf8_lossy(&aistack(&["explain"]).stdout).lines().count();
    assert!(list >= 45, "explain lists every code, got {list}");
}

#[test]
fn version_is_printed() {
    let out = aistack(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("aistack "));
}

#[test]
fn fmt_rewrites_checks_and_refuses_broken_files() {
    let d = temp_dir("fmt");
    let f = d.join("f.ai-stack");
    let p = f.to_str().expect("utf-8");
    std::fs::write(&f, "stack s {\ncloud = aws\n  region =   \"us-east-1\"\ncluster = \"c\"\nnamespace = \"n\"\n}\n")
        .expect("write");
    assert_eq!(aistack(&["fmt", "--check", p]).status.code(), Some(1));
    assert_eq!(aistack(&["fmt", p]).status.code(), Some(0));
    let text = std::fs::read_to_string(&f).expect("read");
    assert!(text.contains("  cloud     = aws\n  region    = \"us-east-1\"\n"), "{text}");
    assert_eq!(aistack(&["fmt", "--check", p]).status.code(), Some(0));
    let broken = "stack s { cloud = = aws }\n";
    std::fs::write(&f, broken).expect("write");
    assert_eq!(aistack(&["fmt", p]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&f).expect("read"), broken, "a file with syntax errors is left untouched");
    let leftovers: Vec<_> =
        std::fs::read_dir(&d).expect("dir").flatten().filter(|e| e.file_name() != "f.ai-stack").collect();
    assert!(leftovers.is_empty(), "no temporary files are left behind");
}

#[test]
fn build_never_replaces_a_folder_it_did_not_write() {
    let d = temp_dir("build-out");
    let src = workspace().join("examples/llm-chat/main.ai-stack");
    let src = src.to_str().expect("utf-8");
    let precious = d.join("project");
    std::fs::create_dir_all(&precious).expect("mkdir");
    std::fs::write(precious.join("terraform.tfstate"), "{}").expect("write");
    let out = aistack(&["build", src, "-o", precious.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(precious.join("terraform.tfstate").exists(), "the folder is untouched");
    let target = d.join("out");
    let t = target.to_str().expect("utf-8");
    assert_eq!(aistack(&["build", src, "-o", t]).status.code(), Some(0));
    assert!(target.join("manifest.json").exists() && target.join("kubernetes/kustomization.yaml").exists());
    // A second build replaces its own earlier output.
    assert_eq!(aistack(&["build", src, "-o", t]).status.code(), Some(0));
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary folders are left behind");
}

#[test]
fn fifos_are_refused_without_blocking() {
    let d = temp_dir("fifo");
    let root = d.join("root.ai-stack");
    mkfifo(&root);
    let r = root.to_str().expect("utf-8");
    for args in [vec!["check", r], vec!["fmt", r], vec!["fmt", "--check", r], vec!["build", r, "-o", "/nonexistent/o"]]
    {
        let out = aistack_bounded(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("cannot read") && text(&out.stderr).contains("not a regular file"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    mkfifo(&d.join("lib.ai-stack"));
    mkfifo(&d.join("t.yaml.hbs"));
    let main = d.join("main.ai-stack");
    std::fs::write(
        &main,
        format!("import \"lib.ai-stack\"\n{STACK}schema thing template \"t.yaml.hbs\" {{ a: int }}\n"),
    )
    .expect("write");
    let out = aistack_bounded(&["check", "--format", "json", main.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let at = |code: &str| {
        let d = v["diagnostics"].as_array().expect("list").iter().find(|d| d["code"] == code).cloned();
        let d = d.unwrap_or_else(|| panic!("no {code} in {v}"));
        assert!(d["message"].as_str().is_some_and(|m| m.contains("not a regular file")), "{d}");
        (d["line"].as_u64(), d["column"].as_u64(), d["end_column"].as_u64())
    };
    assert_eq!(at("E0205"), (Some(1), Some(8), Some(22)), "at the import string");
    assert_eq!(at("E0501"), (Some(3), Some(23), Some(35)), "at the template string");
}

#[test]
fn unreadable_root_files_exit_two() {
    let d = temp_dir("unreadable");
    std::fs::write(d.join("latin1.ai-stack"), b"stack s { region = \"caf\xe9\" }\n").expect("write");
    std::os::unix::fs::symlink(d.join("missing.ai-stack"), d.join("dangling.ai-stack")).expect("symlink");
    let mut cases = vec![
        (d.clone(), "not a regular file"),
        (d.join("latin1.ai-stack"), "not UTF-8 text (invalid byte at offset 23)"),
        (d.join("dangling.ai-stack"), "No such file"),
        (PathBuf::from("/dev/null"), "not a regular file"),
    ];
    // A regular file whose read fails: reading /proc/self/mem at offset 0 is an I/O error.
    if Path::new("/proc/self/mem").exists() {
        cases.push((PathBuf::from("/proc/self/mem"), "error"));
    }
    let locked = d.join("locked.ai-stack");
    std::fs::write(&locked, STACK).expect("write");
    let mut perms = std::fs::metadata(&locked).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
    std::fs::set_permissions(&locked, perms).expect("chmod");
    // Root reads it anyway; then it is an ordinary readable file and not a case here.
    if std::fs::read(&locked).is_err() {
        cases.push((locked, "Permission denied"));
    }
    for (path, why) in cases {
        let p = path.to_str().expect("utf-8");
        for args in [vec!["check", p], vec!["build", p, "-o", "/nonexistent/o"], vec!["fmt", p]] {
            let out = aistack_bounded(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
            let err = text(&out.stderr);
            assert!(err.starts_with(&format!("error: cannot read {p}: ")) && err.contains(why), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn a_byte_order_mark_is_accepted_and_columns_stay_right() {
    let d = temp_dir("bom");
    let main = d.join("main.ai-stack");
    let bom = "\u{feff}";
    std::fs::write(&main, format!("{bom}import \"lib.ai-stack\" as lib\n{STACK}let x = nope\n")).expect("write");
    std::fs::write(d.join("lib.ai-stack"), format!("{bom}let y = 1 + \"a\"\n")).expect("write");
    let out = aistack_bounded(&["check", "--format", "json", main.to_str().expect("utf-8")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let codes: Vec<&str> =
        v["diagnostics"].as_array().expect("list").iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(!codes.contains(&"E0104"), "a BOM is not a bad character: {v}");
    let find = |code: &str| v["diagnostics"].as_array().and_then(|l| l.iter().find(|d| d["code"] == code).cloned());
    let unknown = find("E0201").expect("unknown name");
    assert_eq!((unknown["line"].as_u64(), unknown["column"].as_u64()), (Some(3), Some(9)));
    let mismatch = find("E0307").or_else(|| find("E0301")).expect("type error in the import");
    assert!(mismatch["file"].as_str().is_some_and(|f| f.ends_with("lib.ai-stack")), "{mismatch}");
    assert_eq!((mismatch["line"].as_u64(), mismatch["column"].as_u64()), (Some(1), Some(9)), "{mismatch}");
    // fmt keeps the BOM and rewrites the rest.
    let f = d.join("f.ai-stack");
    std::fs::write(
        &f,
        format!("{bom}stack s {{\ncloud = aws\n region = \"us-east-1\"\ncluster = \"c\"\nnamespace = \"n\"\n}}\n"),
    )
    .expect("write");
    assert_eq!(aistack_bounded(&["fmt", f.to_str().expect("utf-8")]).status.code(), Some(0));
    let formatted = std::fs::read_to_string(&f).expect("read");
    assert!(formatted.starts_with("\u{feff}stack s {\n  cloud     = aws\n"), "{formatted:?}");
    assert_eq!(aistack_bounded(&["fmt", "--check", f.to_str().expect("utf-8")]).status.code(), Some(0));
    assert_eq!(aistack_bounded(&["check", f.to_str().expect("utf-8")]).status.code(), Some(0));
}

/// A copy of the llm-chat example in `dir/stack/` with its README, returning the root file.
fn stack_copy(dir: &Path) -> PathBuf {
    let src = workspace().join("examples/llm-chat");
    let stack = dir.join("stack");
    std::fs::create_dir_all(&stack).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("example").flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), stack.join(e.file_name())).expect("copy");
        }
    }
    stack.join("main.ai-stack")
}

const PLANTED: &str = "{\"aistack\": \"0.1.0\", \"files\": []}\n";

#[test]
fn build_never_replaces_the_stacks_own_sources() {
    let d = temp_dir("build-sources");
    let main = stack_copy(&d);
    let m = main.to_str().expect("utf-8");
    let before = std::fs::read(&main).expect("read");
    for dir in [d.join("stack"), d.clone()] {
        std::fs::write(dir.join("manifest.json"), PLANTED).expect("plant");
        let out = aistack_bounded(&["build", m, "-o", dir.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(2), "{}", dir.display());
        let err = text(&out.stderr);
        assert!(err.contains("will not write to") && err.contains("the stack's own sources"), "{err}");
        assert_eq!(std::fs::read(&main).expect("the source is still there"), before);
        assert!(dir.join("manifest.json").exists());
    }
    // A folder inside the stack's folder is fine.
    let inner = d.join("stack/out");
    assert_eq!(aistack_bounded(&["build", m, "-o", inner.to_str().expect("utf-8")]).status.code(), Some(0));
    assert!(inner.join("manifest.json").exists());
}

#[test]
fn build_replaces_only_its_own_earlier_output() {
    let d = temp_dir("build-own");
    let main = stack_copy(&d);
    let m = main.to_str().expect("utf-8");
    let out_dir = d.join("out");
    let o = out_dir.to_str().expect("utf-8");
    assert_eq!(aistack_bounded(&["build", m, "-o", o]).status.code(), Some(0));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("manifest.json")).expect("manifest")).expect("json");
    assert!(manifest["root_path_sha256"].as_str().is_some_and(|h| h.len() == 64), "{manifest}");
    let keys: Vec<&String> = manifest.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["aistack", "stack", "root_path_sha256", "files", "declarations", "prerequisites"]);
    // Rebuilding over its own output works.
    assert_eq!(aistack_bounded(&["build", m, "-o", o]).status.code(), Some(0));
    // A file the build did not write is never deleted.
    let mine = out_dir.join("kubernetes/notes.txt");
    std::fs::write(&mine, "mine").expect("write");
    let out = aistack_bounded(&["build", m, "-o", o]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("it holds kubernetes/notes.txt, which the earlier build did not write"),
        "{}",
        text(&out.stderr)
    );
    assert!(mine.exists());
    std::fs::remove_file(&mine).expect("rm");
    // Another stack's output (same name, other root file) is not replaced.
    let other = d.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::copy(&main, other.join("main.ai-stack")).expect("copy");
    let out = aistack_bounded(&["build", other.join("main.ai-stack").to_str().expect("utf-8"), "-o", o]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("another stack"), "{}", text(&out.stderr));
    // A planted manifest without the identity is refused too.
    let planted = d.join("planted");
    std::fs::create_dir_all(&planted).expect("mkdir");
    std::fs::write(planted.join("manifest.json"), PLANTED).expect("plant");
    std::fs::write(planted.join("data.csv"), "1,2").expect("write");
    assert_eq!(aistack_bounded(&["build", m, "-o", planted.to_str().expect("utf-8")]).status.code(), Some(2));
    assert!(planted.join("data.csv").exists());
}

#[test]
fn build_removes_temporary_folders_of_killed_builds() {
    let d = temp_dir("build-stale");
    let main = stack_copy(&d);
    // PIDs above the kernel's maximum (4194304) are never alive.
    let stale = [d.join(".out.aistack-new.4999999"), d.join(".out.aistack-old.4999998")];
    // This test's own PID is alive: its folder is kept. So is another output's.
    let live = d.join(format!(".out.aistack-new.{}", std::process::id()));
    let unrelated = d.join(".other.aistack-new.4999999");
    for p in stale.iter().chain([&live, &unrelated]) {
        std::fs::create_dir_all(p.join("kubernetes")).expect("mkdir");
        std::fs::write(p.join("kubernetes/x.yaml"), "x").expect("write");
    }
    let out = aistack_bounded(&["build", main.to_str().expect("utf-8"), "-o", d.join("out").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for p in &stale {
        assert!(!p.exists(), "{} is removed", p.display());
    }
    assert!(live.exists() && unrelated.exists(), "live and unrelated temporary folders are kept");
}

/// Bytes a terminal would act on: C0 controls other than tab and newline, DEL, C1 controls.
fn control_bytes(out: &[u8]) -> Vec<String> {
    let s = text(out);
    s.chars()
        .filter(|c| matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'))
        .map(|c| format!("{:?}", c))
        .collect()
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let d = temp_dir("esc");
    let f = d.join("esc\x1b[1m.ai-stack");
    let esc = "\x1b]0;pwned\x07\x1b[2J\u{9b}31m\x7f\r\x0b";
    std::fs::write(
        &f,
        format!("{STACK}let x = \"{esc}\" + 1 // {esc}\nlet y = z{esc}\nlet {esc}w = 1\nassert false else \"{esc}\"\n"),
    )
    .expect("write");
    let p = f.to_str().expect("utf-8");
    let out = aistack_bounded(&["check", p]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(control_bytes(&out.stdout), Vec::<String>::new(), "{}", text(&out.stdout));
    assert_eq!(control_bytes(&out.stderr), Vec::<String>::new());
    let shown = text(&out.stdout);
    assert!(shown.contains("\u{241b}]0;pwned\u{2407}"), "visible stand-ins: {shown}");
    assert!(shown.contains("assertion failed: \u{241b}"), "{shown}");
    for args in [vec!["fmt", p], vec!["build", p, "-o", d.join("out").to_str().expect("utf-8")]] {
        let out = aistack_bounded(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(control_bytes(&out.stdout), Vec::<String>::new(), "{args:?}");
        assert_eq!(control_bytes(&out.stderr), Vec::<String>::new(), "{args:?}");
    }
    // JSON keeps the real text, escaped.
    let out = aistack_bounded(&["check", "--format", "json", p]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v.to_string().contains("\\u001b]0;pwned"), "{v}");
}

#[test]
fn graph_prints_dot_and_json() {
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    let ex = ex.to_str().expect("utf-8 path");
    let out = aistack_bounded(&["graph", ex]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph resources {\n") && dot.ends_with("}\n"), "{dot}");
    assert!(dot.contains("label=\"service.chat\""), "clustered by declaration: {dot}");
    assert!(dot.contains("\"stack/kms_key\" [label=\"stack/kms_key\\naws_kms_key\"]"), "{dot}");
    assert!(dot.contains(" -> "), "edges: {dot}");
    let json = aistack_bounded(&["graph", ex, "--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("graph JSON");
    let resources = doc["resources"].as_array().expect("resources");
    assert!(resources.iter().any(|r| r["address"] == "storage.models/bucket"), "{doc}");
    assert!(resources.iter().all(|r| r["origin"]["span"]["file"] == "main.ai-stack"), "one-file stack");
}

#[test]
fn graph_svg_needs_graphviz() {
    let ex = workspace().join("examples/llm-chat/main.ai-stack");
    let empty = temp_dir("no-graphviz");
    let out = Command::new(env!("CARGO_BIN_EXE_aistack"))
        .args(["graph", ex.to_str().expect("utf-8 path"), "--format", "svg"])
        .env("PATH", &empty)
        .output()
        .expect("run aistack");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs Graphviz's `dot` on the PATH"), "{err}");
    assert!(out.stdout.is_empty(), "nothing half-printed");
    let graphviz = Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    if graphviz {
        let out = aistack_bounded(&["graph", ex.to_str().expect("utf-8 path"), "--format", "svg"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg") && svg.contains("service.chat/"), "{svg}");
    }
}

#[test]
fn graph_of_a_broken_stack_reports_it() {
    let d = temp_dir("graph-broken");
    let f = d.join("bad.ai-stack");
    std::fs::write(&f, "service x { model = nope }\n").expect("write");
    let out = aistack_bounded(&["graph", f.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"), "{}", String::from_utf8_lossy(&out.stderr));
    let missing = aistack_bounded(&["graph", d.join("absent.ai-stack").to_str().expect("utf-8 path")]);
    assert_eq!(missing.status.code(), Some(2));
}
