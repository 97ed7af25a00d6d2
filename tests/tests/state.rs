//! State, lock and apply through the `aistack` binary: crash safety of state writes (kill -9
//! at random moments), one winner among concurrent applies (local state, and S3 against
//! moto's server on loopback), force-unlock, idempotent apply, revisions, secrets kept out of
//! the state, and the Argo CD `Application` checked against its CRD's schema.
//!
//! moto comes from `$AISTACK_MOTO_VENV` (default `~/.cache/aistack-moto`, made by `.ci/run`);
//! without it the S3 test says SKIPPED, except under `CI=true`, where it fails.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = r#"stack hello {
  cloud     = aws
  region    = "us-east-1"
  cluster   = "ml-dev"
  namespace = "hello"
}

param env: string = "prod"
param hf_token: secret

storage models {
  tier       = warm
  backend    = s3
  bucket     = "acme-${env}-models"
  versioned  = true
  encryption = kms
}

model llama3_8b {
  store          = models
  path           = "llama-3.1-8b-instruct"
  version        = "VERSION"
  digest         = "sha256:7f0c3a4e5d6b8a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c"
  parameters     = 8.03e9
  context_length = 8192
}

gpu_pool l40s {
  gpu           = L40S
  gpus_per_node = 1
  nodes         = 0..4
}

service chat {
  model     = llama3_8b
  pool      = l40s
  replicas  = 1..4
  max_batch = 24
  env = { HF_TOKEN = hf_token }
}
"#;

fn binary() -> PathBuf {
    aistack_tests::aistack_binary()
}

fn scratch(name: &str) -> PathBuf {
    aistack_tests::target_scratch("state-tests", name)
}

fn write_stack(dir: &Path, version: &str) -> PathBuf {
    let file = dir.join("main.ai-stack");
    std::fs::write(&file, STACK.replace("VERSION", version)).expect("stack");
    file
}

fn aistack(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run aistack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_json(p: &Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{} does not parse: {e}\n{t}", p.display()))
}

/// Small pseudo-random numbers (xorshift), seeded from the clock; the seed is printed.
struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64);
        println!("seed {seed}");
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_during_state_writes_leaves_the_old_or_the_new_state() {
    let dir = scratch("kill");
    let state = dir.join("state.json");
    let backup = dir.join("state.json.backup");
    let mut rng = Rng::new();
    let mut last = 0;
    let mut inside = 0;
    for round in 0..200 {
        let mut child = Command::new(binary())
            .args(["state", "write-loop"])
            .arg(&state)
            .arg("0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("writer");
        // A write (state and backup, each fsync'd) takes some 30 ms here: kill within the first
        // few writes, at any instant of one.
        std::thread::sleep(Duration::from_micros(5_000 + rng.below(120_000)));
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        assert!(status.code().is_none(), "round {round}: the writer exited by itself: {status:?}");
        if !state.exists() {
            continue;
        }
        let doc = read_json(&state);
        let serial = doc["serial"].as_u64().expect("serial");
        assert!(serial >= last, "round {round}: serial went back from {last} to {serial}");
        // The state equals what the writer wrote for its serial: every record of that write.
        let resources = doc["resources"].as_object().expect("resources");
        assert_eq!(resources.len(), 300, "round {round}: a partial inventory");
        assert!(resources.values().all(|r| r["attrs"]["serial"].as_u64() == Some(serial)), "round {round}: mixed");
        if serial > 1 {
            let b = read_json(&backup);
            let bs = b["serial"].as_u64().expect("backup serial");
            assert!(bs == serial - 1 || bs == serial, "round {round}: backup serial {bs} for state {serial}");
            assert_eq!(b["lineage"], doc["lineage"], "round {round}: one lineage");
        }
        if serial > last {
            inside += 1;
        }
        last = serial;
    }
    println!("final serial {last}, {inside} rounds wrote");
    // One write to the end removes the temporary files the killed writers left.
    let done = aistack(&["state", "write-loop", state.to_str().expect("path"), "1"], &[]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let mut left: Vec<String> =
        std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["state.json", "state.json.backup"]);
    assert_eq!(read_json(&state)["serial"].as_u64(), Some(last + 1));
    assert!(last >= 50, "the writer barely ran ({last} writes in 200 rounds): the kills did not land during writes");
}

fn spawn_apply(file: &Path, extra: &[&str], envs: &[(String, String)]) -> Child {
    let mut cmd = Command::new(binary());
    cmd.arg("apply").arg(file).args(extra).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("apply")
}

/// Four applies at once, each round on a changed stack: exactly one wins; the three others
/// fail within the lock timeout with E0601 naming the winner; every winner's release is
/// recorded and the serial rises by one per round.
fn four_concurrent_applies(dir: &Path, state_args: &[&str], envs: &[(String, String)], read_state: &dyn Fn() -> Value) {
    let file = write_stack(dir, "3.1.0");
    let mut winners = Vec::new();
    for round in 1..=3u64 {
        write_stack(dir, &format!("3.1.{round}"));
        let start = Instant::now();
        let mut args = state_args.to_vec();
        args.extend(["--lock-timeout", "300ms"]);
        let kids: Vec<(usize, std::thread::JoinHandle<(Output, Duration)>)> = (0..4)
            .map(|i| {
                let mut e = envs.to_vec();
                e.push(("AISTACK_ACTOR".into(), format!("worker-{i}")));
                e.push(("AISTACK_TEST_LOCK_HOLD_MS".into(), "2000".into()));
                let t0 = Instant::now();
                let child = spawn_apply(&file, &args, &e);
                (i, std::thread::spawn(move || (child.wait_with_output().expect("wait"), t0.elapsed())))
            })
            .collect();
        let mut won = Vec::new();
        let mut lost = Vec::new();
        for (i, waiter) in kids {
            let (out, took) = waiter.join().expect("waiter");
            if out.status.success() {
                won.push((i, text(&out.stdout)));
            } else {
                lost.push((i, text(&out.stderr), took, out.status.code()));
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one winner: won {won:?}, lost {lost:?}");
        let (w, out) = &won[0];
        assert!(out.contains(&format!("release {round} written")), "round {round}: {out}");
        for (i, err, took, code) in &lost {
            assert_eq!(*code, Some(1), "worker {i}: {err}");
            assert!(err.contains("[E0601]"), "worker {i}: {err}");
            assert!(err.contains(&format!("locked by worker-{w} (apply since")), "worker {i} names the holder: {err}");
            assert!(err.contains("aistack force-unlock "), "worker {i}: {err}");
            assert!(
                *took < Duration::from_millis(1900),
                "worker {i} failed after {took:?}, past its 300ms lock timeout"
            );
        }
        winners.push(format!("worker-{w}"));
        let doc = read_state();
        assert_eq!(doc["serial"].as_u64(), Some(round), "round {round}: serial");
        println!("round {round}: {:?}", start.elapsed());
    }
    let doc = read_state();
    let releases = doc["releases"].as_array().expect("releases");
    let who: Vec<String> = releases.iter().map(|r| r["who"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(who, winners, "every winner's release recorded, in order");
    let serials: Vec<u64> = releases.iter().filter_map(|r| r["serial"].as_u64()).collect();
    assert_eq!(serials, vec![1, 2, 3], "serial strictly increasing");
    let revs = doc["services"]["service.chat"]["revisions"].as_array().expect("revisions");
    let versions: Vec<&str> = revs.iter().filter_map(|r| r["model"]["version"].as_str()).collect();
    assert_eq!(versions, ["3.1.1", "3.1.2", "3.1.3"]);
}

#[test]
fn four_concurrent_applies_on_a_local_state() {
    let dir = scratch("race-local");
    let state = dir.join(".aistack/state.json");
    four_concurrent_applies(&dir, &[], &[], &|| read_json(&state));
    assert!(!dir.join(".aistack/state.json.lock").exists(), "the lock is released");
    for n in 1..=3 {
        assert!(dir.join(format!(".aistack/releases/{n}/manifest.json")).is_file(), "release {n} on disk");
    }
}

#[test]
fn apply_is_idempotent_and_records_revisions_per_change() {
    let dir = scratch("idem");
    let file = write_stack(&dir, "3.1.0");
    let f = file.to_str().expect("path");
    let first = aistack(&["apply", f], &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("release 1 written"), "{}", text(&first.stdout));
    assert!(text(&first.stdout).contains("service.chat: revision 1"), "{}", text(&first.stdout));
    let state = dir.join(".aistack/state.json");
    let before = std::fs::read(&state).expect("state");
    let again = aistack(&["apply", f], &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).starts_with("no changes"), "{}", text(&again.stdout));
    assert_eq!(std::fs::read(&state).expect("state"), before, "an unchanged stack writes nothing");
    assert!(!dir.join(".aistack/releases/2").exists());
    // A larger pool changes files but no service: a release, no revision.
    std::fs::write(&file, std::fs::read_to_string(&file).expect("stack").replace("0..4", "0..5")).expect("stack");
    let changed = aistack(&["apply", f], &[]);
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    assert!(text(&changed.stdout).contains("release 2 written"), "{}", text(&changed.stdout));
    assert!(!text(&changed.stdout).contains("revision"), "{}", text(&changed.stdout));
    std::fs::write(&file, std::fs::read_to_string(&file).expect("stack").replace("3.1.0", "3.2.0")).expect("stack");
    let bumped = aistack(&["apply", f], &[("AISTACK_ACTOR", "alice")]);
    assert!(text(&bumped.stdout).contains("service.chat: revision 2"), "{}", text(&bumped.stdout));
    let doc = read_json(&state);
    assert_eq!(doc["serial"].as_u64(), Some(3));
    let revs = doc["services"]["service.chat"]["revisions"].as_array().expect("revisions");
    assert_eq!(revs.len(), 2, "{revs:?}");
    assert_eq!(revs[1]["model"]["version"], "3.2.0");
    assert_eq!(revs[1]["model"]["address"], "model.llama3_8b");
    assert_eq!(revs[1]["release"].as_u64(), Some(3));
    assert_eq!(revs[1]["who"], "alice");
    assert!(revs[1]["time"].as_str().is_some_and(|t| t.len() == 20 && t.ends_with('Z')), "{}", revs[1]["time"]);
    assert_eq!(revs[0]["config_hash"].as_str().map(str::len), Some(64));
    assert!(revs[0]["images"][0]["reference"].as_str().is_some_and(|r| r.contains(':')), "{}", revs[0]["images"]);
    assert_eq!(
        read_json(&dir.join(".aistack/state.json.backup"))["serial"].as_u64(),
        Some(2),
        "backup is the previous"
    );
    let lineage = doc["lineage"].as_str().expect("lineage");
    assert!(lineage.len() == 32 && lineage.chars().all(|c| c.is_ascii_hexdigit()), "{lineage}");
    // The state file is canonical: written back through a sorted, 2-space layout it is equal.
    let raw = std::fs::read_to_string(&state).expect("state");
    assert!(raw.ends_with("}\n") && raw.contains("\n  \"lineage\": "), "layout");
}

#[test]
fn state_list_and_show() {
    let dir = scratch("list");
    let file = write_stack(&dir, "3.1.0");
    let f = file.to_str().expect("path");
    let none = aistack(&["state", "list", f], &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("[E0603] Error: there is no state at"), "{}", text(&none.stderr));
    assert!(aistack(&["apply", f], &[]).status.success());
    let list = aistack(&["state", "list", f], &[]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let lines: Vec<String> = text(&list.stdout).lines().map(String::from).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted");
    // The resource graph's resources by address, and a `file:` record for each emitted file
    // the graph does not describe (manifest.json only hashes the others).
    for want in ["storage.models/bucket", "service.chat/deployment", "stack/kms_key", "file:serving/chat/vllm.yaml"] {
        assert!(lines.iter().any(|l| l == want), "{want} missing: {lines:?}");
    }
    assert!(!lines.iter().any(|l| l == "file:manifest.json"), "{lines:?}");
    let manifest = read_json(&dir.join(".aistack/releases/1/manifest.json"));
    let files = manifest["files"].as_array().expect("files");
    for f in files {
        let path = f["path"].as_str().expect("path");
        if !path.starts_with("terraform/") && !path.starts_with("kubernetes/") {
            assert!(lines.contains(&format!("file:{path}")), "{path} missing: {lines:?}");
        }
    }
    let show = aistack(&["state", "show", "storage.models/bucket", f], &[]);
    assert!(show.status.success(), "{}", text(&show.stderr));
    let record: Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(record["engine"], "terraform");
    assert_eq!(record["type"], "aws_s3_bucket");
    assert_eq!(record["attrs_hash"].as_str().map(str::len), Some(64));
    let show = aistack(&["state", "show", "service.chat/deployment", f], &[]);
    let record: Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(record["origin"]["decl"], "service.chat", "{record}");
    assert_eq!(record["origin"]["line"].as_u64(), Some(34), "{record}");
    let typo = aistack(&["state", "show", "storage.models/buckett", f], &[]);
    assert_eq!(typo.status.code(), Some(1));
    let err = text(&typo.stderr);
    assert!(err.contains("[E0609]") && err.contains("did you mean `storage.models/bucket`?"), "{err}");
    let bad = aistack(&["state", "list", "--state", "s3://only-a-bucket"], &[]);
    assert!(text(&bad.stderr).contains("[E0608]"), "{}", text(&bad.stderr));
}

#[test]
fn force_unlock_takes_only_the_holders_id_and_kill_9_leaves_the_lock() {
    let dir = scratch("unlock");
    let file = write_stack(&dir, "3.1.0");
    let f = file.to_str().expect("path");
    let lock = dir.join(".aistack/state.json.lock");
    let envs = vec![("AISTACK_TEST_LOCK_HOLD_MS".to_string(), "20000".to_string())];
    let mut holder = spawn_apply(&file, &[], &envs);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let info = read_json(&lock);
    let id = info["id"].as_str().expect("id").to_string();
    for field in ["who", "operation", "created", "pid", "host", "version"] {
        assert!(!info[field].is_null(), "lock has {field}: {info}");
    }
    assert_eq!(info["operation"], "apply");
    holder.kill().expect("kill -9");
    let _ = holder.wait();
    assert!(lock.exists(), "kill -9 leaves the lock held");
    let blocked = aistack(&["apply", f], &[]);
    assert_eq!(blocked.status.code(), Some(1));
    assert!(text(&blocked.stderr).contains(&format!("aistack force-unlock {id}")), "{}", text(&blocked.stderr));
    let wrong = aistack(&["force-unlock", "0123456789abcdef", f], &[]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stderr).contains("[E0606]"), "{}", text(&wrong.stderr));
    assert_eq!(read_json(&lock)["id"].as_str(), Some(id.as_str()), "a wrong id removes nothing");
    let right = aistack(&["force-unlock", &id, f], &[]);
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert!(!lock.exists(), "the right id removes it");
    let again = aistack(&["force-unlock", &id, f], &[]);
    assert!(text(&again.stderr).contains("[E0607]"), "{}", text(&again.stderr));
    let applied = aistack(&["apply", f], &[]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
}

#[test]
fn secrets_never_reach_the_state() {
    let dir = scratch("secret");
    let file = write_stack(&dir, "3.1.0");
    let f = file.to_str().expect("path");
    let value = "s3cr3t-hf-token-value-4711";
    let refused = aistack(&["apply", f, "--param", &format!("hf_token={value}")], &[]);
    assert_eq!(refused.status.code(), Some(1), "a --param for a secret is refused");
    assert!(text(&refused.stdout).contains("E0212"), "{}", text(&refused.stdout));
    assert!(!dir.join(".aistack").exists(), "nothing written for a refused stack");
    let ok = aistack(&["apply", f], &[("HF_TOKEN", value), ("hf_token", value)]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let state = std::fs::read_to_string(dir.join(".aistack/state.json")).expect("state");
    assert!(!state.contains(value), "the secret's value is in the state");
    assert!(state.contains("service.chat"), "the state is the real one");
    let mut grep = Command::new("grep").args(["-r", "-l", value]).arg(dir.join(".aistack")).output().expect("grep");
    grep.stdout.retain(|b| *b != b'\n');
    assert!(grep.stdout.is_empty(), "the secret is in {}", text(&grep.stdout));
}

/// Checks `v` against a Kubernetes structural (OpenAPI v3) schema: types, required fields,
/// enums, and no fields the schema does not declare (kubectl's strict field validation).
fn validate(v: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{at}: expected {ty}, found {v}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            errors.push(format!("{at}: {v} not in {allowed:?}"));
        }
    }
    if let Some(items) = v.as_array() {
        for (i, item) in items.iter().enumerate() {
            validate(item, &schema["items"], &format!("{at}[{i}]"), errors);
        }
    }
    let Some(obj) = v.as_object() else { return };
    for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(r) {
            errors.push(format!("{at}: missing required `{r}`"));
        }
    }
    let props = schema["properties"].as_object();
    for (k, child) in obj {
        match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
            (Some(s), _) => validate(child, s, &format!("{at}.{k}"), errors),
            (None, Some(extra)) if extra.is_object() => validate(child, extra, &format!("{at}.{k}"), errors),
            (None, _) if props.is_some() || at.is_empty() => errors.push(format!("{at}: unknown field `{k}`")),
            _ => {}
        }
    }
}

#[test]
fn the_argo_cd_application_matches_its_crd() {
    let Some(shared) = aistack_tests::shared_dir() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "../shared is missing under CI=true");
        println!("SKIPPED: ../shared (the Argo CD CRD) is not beside this checkout");
        return;
    };
    let dir = scratch("argo");
    let file = write_stack(&dir, "3.1.0");
    let out = aistack(
        &["apply", file.to_str().expect("path")],
        &[("AISTACK_GITOPS_REPO", "https://git.example.com/ml/hello.git")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let app_text =
        std::fs::read_to_string(dir.join(".aistack/releases/1/argocd/application.yaml")).expect("application");
    let app = aistack_tests::yaml_docs(&app_text).into_iter().next().expect("one document");
    let crd_text = std::fs::read_to_string(shared.join("schemas/argo-cd/application-crd.yaml")).expect("crd");
    let crd = aistack_tests::yaml_docs(&crd_text).into_iter().next().expect("crd document");
    assert_eq!(crd["spec"]["group"], "argoproj.io");
    let version = crd["spec"]["versions"].as_array().and_then(|v| v.first()).expect("a version");
    assert_eq!(app["apiVersion"], format!("argoproj.io/{}", version["name"].as_str().unwrap_or("")));
    assert_eq!(app["kind"], crd["spec"]["names"]["kind"]);
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    // metadata is ObjectMeta, validated by the API server rather than the CRD.
    schema["properties"]["metadata"] = serde_json::json!({"type": "object"});
    let mut errors = Vec::new();
    validate(&app, &schema, "", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}\n{app_text}");
    assert_eq!(app["spec"]["source"]["path"], ".aistack/releases/1/kubernetes");
    assert_eq!(app["spec"]["source"]["repoURL"], "https://git.example.com/ml/hello.git");
    assert_eq!(app["spec"]["destination"]["namespace"], "hello");
    assert!(dir.join(".aistack/releases/1/kubernetes/kustomization.yaml").is_file(), "the path it names exists");
    // The validator itself catches a wrong field.
    let mut broken = app.clone();
    broken["spec"]["source"]["repoUrl"] = Value::from("x");
    broken["spec"]["syncPolicy"]["automated"]["prune"] = Value::from("yes");
    let mut errors = Vec::new();
    validate(&broken, &schema, "", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

// ---- S3 against moto's server on loopback ----

fn moto_server() -> Option<PathBuf> {
    let venv = std::env::var_os("AISTACK_MOTO_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aistack-moto"),
        PathBuf::from,
    );
    let bin = venv.join("bin/moto_server");
    bin.is_file().then_some(bin)
}

/// moto on a free loopback port; stopped by PID when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto(bin: &Path) -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// One plain HTTP request to moto, which does not check signatures but treats a request
/// without an `Authorization` header as anonymous (denied on a private bucket); returns
/// status and body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

#[test]
fn four_concurrent_applies_on_an_s3_state_against_moto() {
    let Some(bin) = moto_server() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "moto is missing under CI=true (bash .ci/run makes it)");
        println!("SKIPPED: moto_server is not installed (bash .ci/run installs it into ~/.cache/aistack-moto)");
        return;
    };
    let moto = start_moto(&bin);
    let (code, _) = http(moto.port, "PUT", "/team-state");
    assert_eq!(code, 200, "create bucket");
    let envs: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", moto.port)),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let dir = scratch("race-s3");
    let loc = "s3://team-state/hello/state.json";
    let port = moto.port;
    four_concurrent_applies(&dir, &["--state", loc], &envs, &|| {
        let (code, body) = http(port, "GET", "/team-state/hello/state.json");
        assert_eq!(code, 200, "state object: {body}");
        serde_json::from_str(&body).expect("state parses")
    });
    assert!(!dir.join(".aistack/state.json").exists(), "no local state when --state is S3");
    let (code, _) = http(port, "GET", "/team-state/hello/state.json.lock");
    assert_eq!(code, 404, "the lock object is removed after each apply");
    // The lock object: a held lock names its holder; force-unlock refuses a wrong id.
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let f = dir.join("main.ai-stack");
    let mut hold_env = envs.clone();
    hold_env.push(("AISTACK_TEST_LOCK_HOLD_MS".into(), "20000".into()));
    write_stack(&dir, "4.0.0");
    let mut holder = spawn_apply(&f, &["--state", loc], &hold_env);
    let deadline = Instant::now() + Duration::from_secs(20);
    let lock = loop {
        let (code, body) = http(port, "GET", "/team-state/hello/state.json.lock");
        if code == 200 {
            break serde_json::from_str::<Value>(&body).expect("lock parses");
        }
        assert!(Instant::now() < deadline, "no lock object appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    holder.kill().expect("kill -9");
    let _ = holder.wait();
    let id = lock["id"].as_str().expect("id");
    let wrong = aistack(&["force-unlock", "feedface", "--state", loc], &env_refs);
    assert!(text(&wrong.stderr).contains("[E0606]"), "{}", text(&wrong.stderr));
    assert_eq!(http(port, "GET", "/team-state/hello/state.json.lock").0, 200, "kept");
    let right = aistack(&["force-unlock", id, "--state", loc], &env_refs);
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert_eq!(http(port, "GET", "/team-state/hello/state.json.lock").0, 404, "removed");
    let list = aistack(&["state", "list", "--state", loc], &env_refs);
    assert!(text(&list.stdout).lines().any(|l| l == "storage.models/bucket"), "{}", text(&list.stderr));
}
