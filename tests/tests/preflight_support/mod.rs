//! Shared by the preflight tests: scratch folders under `$HOME`, servers started on a free
//! loopback port and stopped by PID, checking a stack from disk, and where a diagnostic points.

#![allow(dead_code)]

use aistack::check::{self, Analysis};
use aistack::diag::Diagnostic;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder under `$HOME/.cache/aistack-preflight-tests/`, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
        let dir = home.join(".cache/aistack-preflight-tests").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        Scratch(dir)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tool is missing: SKIPPED locally, a failure under `CI=true`.
pub fn missing(what: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{what} is missing under CI=true; .ci/run installs it");
    println!("SKIPPED: {what} is missing");
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("its address").port()
}

/// A child process killed (by its PID, through `Child::kill`) and reaped when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (which listens on `port`) and waits, at most `within`, until `ready_path`
/// answers over HTTP.
pub fn start(mut cmd: Command, port: u16, ready_path: &str, within: Duration) -> Server {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start the server");
    let mut server = Server { child, port };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}{ready_path}");
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the server exited early ({status})");
        }
        if agent.get(&url).call().is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the server on port {} did not answer {ready_path} within {within:?}", server.port);
}

/// Checks the stack at `path`; panics on errors (preflight runs on checked stacks).
pub fn check_file(path: &Path) -> Analysis {
    let a = check::check(&aistack::world::DiskWorld, path, &[]);
    let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "the stack has errors: {errors:?}");
    a
}

/// (line, column), 1-based, of a diagnostic's primary span.
pub fn place(a: &Analysis, d: &Diagnostic) -> (u64, u64) {
    let v = aistack::diag::json::diagnostic(d, &a.prog.sources);
    (v["line"].as_u64().unwrap_or(0), v["column"].as_u64().unwrap_or(0))
}

/// (line, column), 1-based, of the first occurrence of `needle` in `text`.
pub fn find(text: &str, needle: &str) -> (u64, u64) {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` is not in the stack"));
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, col)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `aistack` binary beside this test's executable (`target/<profile>/aistack`), if built.
pub fn aistack_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("aistack");
    bin.is_file().then_some(bin)
}
