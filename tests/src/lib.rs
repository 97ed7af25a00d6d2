//! The data-driven test harness.
//!
//! Takes: suite files (`tests/suite/**/*.ai-stack`) split into `--- name ---` sections, each a
//! whole program whose expected diagnostics are written as comments on the line before the
//! code they point at:
//!
//! ```text
//! // error[E0302] 13-16: expected a size
//!   size = 30d
//! ```
//!
//! (`LEVEL[CODE]`, then an optional 1-based column or column range, then an optional substring
//! of the message or its help). Gives: for each section, the list of expected diagnostics that were "not
//! emitted" and emitted diagnostics that were "not annotated". Both must be empty.
//! A section without a `stack` gets one appended after its last line, so line numbers are
//! those of the file. `//// file: NAME` starts an extra file of the section (an imported
//! module) and `//// file: end` closes it.

use aistack::check;
use aistack::world::MemoryWorld;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const STACK_LINE: &str =
    "stack suite_stack { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }";

#[derive(Debug)]
pub struct Section {
    pub name: String,
    /// Source of the section, padded with blank lines so line numbers match the suite file.
    pub source: String,
    pub expected: Vec<Expected>,
    /// Extra files of the section (`//// file: NAME` blocks), relative to the root folder.
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The extra file the annotation sits in; `None` for the section's program.
    pub file: Option<String>,
    pub severity: String,
    pub code: String,
    pub line: usize,
    pub columns: Option<(usize, Option<usize>)>,
    pub message: Option<String>,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "{}[{}] {}", self.severity, self.code, self.line)?;
        if let Some((a, b)) = self.columns {
            write!(f, ":{a}")?;
            if let Some(b) = b {
                write!(f, "-{b}")?;
            }
        }
        if let Some(m) = &self.message {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

/// An annotation line; its `line` is filled in once the annotated line is known.
fn parse_annotation(line: &str) -> Option<Expected> {
    let rest = line.trim_start().strip_prefix("// ")?;
    let (sev, rest) = rest.split_once('[')?;
    if !matches!(sev, "error" | "warning" | "info") {
        return None;
    }
    let (code, rest) = rest.split_once(']')?;
    let rest = rest.trim_start();
    let (cols, msg) = match rest.split_once(':') {
        Some((c, m)) if c.chars().all(|ch| ch.is_ascii_digit() || ch == '-') => (c.trim(), Some(m.trim().to_string())),
        _ if rest.chars().all(|ch| ch.is_ascii_digit() || ch == '-') => (rest.trim(), None),
        _ => ("", Some(rest.trim_start_matches(':').trim().to_string()).filter(|m| !m.is_empty())),
    };
    let columns = if cols.is_empty() {
        None
    } else {
        let mut it = cols.split('-');
        let a = it.next()?.parse().ok()?;
        let b = it.next().and_then(|b| b.parse().ok());
        Some((a, b))
    };
    Some(Expected { file: None, severity: sev.to_string(), code: code.to_string(), line: 0, columns, message: msg })
}

/// Splits a suite file into sections.
pub fn sections(text: &str) -> Vec<Section> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = lines[i].strip_prefix("--- ").and_then(|l| l.strip_suffix(" ---")) else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].starts_with("--- ") {
            end += 1;
        }
        let mut source = "\n".repeat(start);
        let mut files = Vec::new();
        let mut current: Option<(String, String)> = None;
        let mut expected = Vec::new();
        let mut pending = Vec::new();
        let mut pending_file: Vec<Expected> = Vec::new();
        for (k, line) in lines[start..end].iter().enumerate() {
            let lineno = start + k + 1;
            if let Some(f) = line.strip_prefix("//// file: ") {
                if let Some(c) = current.take() {
                    files.push(c);
                }
                // `//// file: end` closes the last extra file; the section's program follows.
                if f.trim() != "end" {
                    current = Some((f.trim().to_string(), String::new()));
                }
                source.push('\n');
                continue;
            }
            if let Some((name, body)) = current.as_mut() {
                body.push_str(line);
                body.push('\n');
                source.push('\n');
                let file_line = body.lines().count();
                if let Some(mut e) = parse_annotation(line) {
                    e.file = Some(name.clone());
                    pending_file.push(e);
                } else if !line.trim().is_empty() {
                    for mut p in pending_file.drain(..) {
                        p.line = file_line;
                        expected.push(p);
                    }
                }
                continue;
            }
            source.push_str(line);
            source.push('\n');
            if let Some(e) = parse_annotation(line) {
                pending.push(e);
            } else if !line.trim().is_empty() {
                for mut p in pending.drain(..) {
                    p.line = lineno;
                    expected.push(p);
                }
            }
        }
        if let Some(c) = current.take() {
            files.push(c);
        }
        if !source.lines().any(|l| l.trim_start().starts_with("stack ")) {
            source.push_str(STACK_LINE);
            source.push('\n');
        }
        out.push(Section { name: name.to_string(), source, expected, files });
        i = end;
    }
    out
}

struct Actual {
    file: Option<String>,
    severity: String,
    code: String,
    line: usize,
    col: usize,
    end_col: usize,
    text: String,
}

/// Checks one section; returns a report of mismatches (empty when it passes).
pub fn run_section(file_name: &str, s: &Section) -> String {
    run_section_with(file_name, s, check::policy::Options::default())
}

/// [`run_section`] with the policy rules `opts` selects (`--policy`).
pub fn run_section_with(file_name: &str, s: &Section, opts: check::policy::Options) -> String {
    let root = PathBuf::from("/suite").join(file_name);
    let mut world = MemoryWorld::default().with(&root, s.source.clone());
    for (name, body) in &s.files {
        world = world.with(Path::new("/suite").join(name), body.clone());
    }
    let analysis = check::check_with(&world, &root, &[], opts);
    let root_file = analysis.prog.module(analysis.prog.root).file;
    let mut actual = Vec::new();
    let mut report = String::new();
    for d in &analysis.diags {
        let Some(span) = d.primary else {
            let _ = writeln!(report, "  sourceless diagnostic: {}[{}] {}", d.severity.as_str(), d.code, d.message);
            continue;
        };
        let Some(file) = analysis.prog.sources.get(span.file) else { continue };
        let (line, col) = file.line_col(span.start);
        let (_, end_col) = file.line_col(span.end);
        let in_file = if span.file == root_file {
            None
        } else if let Some(rel) = file.name.strip_prefix("/suite/") {
            Some(rel.to_string())
        } else {
            let _ = writeln!(
                report,
                "  diagnostic outside the section ({}): {}[{}] {}",
                file.name,
                d.severity.as_str(),
                d.code,
                d.message
            );
            continue;
        };
        // Annotation text matches the message or the help.
        let text = match &d.help {
            Some(h) => format!("{} (help: {h})", d.message),
            None => d.message.clone(),
        };
        actual.push(Actual {
            file: in_file,
            severity: d.severity.as_str().to_string(),
            code: d.code.to_string(),
            line,
            col,
            end_col,
            text,
        });
    }
    let matches = |e: &Expected, a: &Actual| {
        e.file == a.file
            && e.severity == a.severity
            && e.code == a.code
            && e.line == a.line
            && e.columns.is_none_or(|(c, end)| c == a.col && end.is_none_or(|x| x == a.end_col))
            && e.message.as_ref().is_none_or(|m| a.text.contains(m.as_str()))
    };
    let not_emitted: Vec<&Expected> = s.expected.iter().filter(|e| !actual.iter().any(|a| matches(e, a))).collect();
    let not_annotated: Vec<_> = actual.iter().filter(|a| !s.expected.iter().any(|e| matches(e, a))).collect();
    if !not_emitted.is_empty() {
        let _ = writeln!(report, "  not emitted");
        for e in not_emitted {
            let _ = writeln!(report, "    {e}");
        }
    }
    if !not_annotated.is_empty() {
        let _ = writeln!(report, "  not annotated");
        for a in not_annotated {
            let file = a.file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default();
            let _ =
                writeln!(report, "    {file}{}[{}] {}:{}-{} {}", a.severity, a.code, a.line, a.col, a.end_col, a.text);
        }
    }
    report
}

/// Runs every section of every `.ai-stack` file under `dir`; panics with the full report.
pub fn run_suite(dir: &Path) -> usize {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ai-stack"))
        .collect();
    files.sort();
    let mut failures = String::new();
    let mut count = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for s in sections(&text) {
            count += 1;
            let r = run_section(&name, &s);
            if !r.is_empty() {
                let _ = writeln!(failures, "{name} › {}  FAILED\n{r}", s.name);
            }
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
    assert!(count > 0, "no sections found in {}", dir.display());
    count
}

/// `../shared` beside the workspace, when this checkout has it.
pub fn shared_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    d.is_dir().then_some(d)
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks and builds a stack held in memory (for emit tests); panics on errors.
pub fn build_text(files: &[(&str, &str)]) -> Vec<aistack::emit::Artifact> {
    let mut world = MemoryWorld::default();
    for (p, t) in files {
        world = world.with(Path::new("/b").join(p), t.to_string());
    }
    let a = check::check(&world, Path::new("/b/main.ai-stack"), &[]);
    let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "stack has errors: {errors:?}");
    let stack = aistack::ir::lower(&a);
    let (out, diags) = aistack::emit::emit(&stack);
    assert!(diags.iter().all(|d| !d.is_error()), "emit errors: {diags:?}");
    out
}

/// Checks and builds a stack on disk; panics on errors.
pub fn build_file(path: &Path) -> Vec<aistack::emit::Artifact> {
    let a = check::check(&aistack::world::DiskWorld, path, &[]);
    let errors: Vec<_> = a.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    let stack = aistack::ir::lower(&a);
    let (out, diags) = aistack::emit::emit(&stack);
    assert!(diags.iter().all(|d| !d.is_error()), "emit errors: {diags:?}");
    out
}

/// Every stack the emit tests run on: the project's examples and the design examples.
pub fn example_stacks() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(workspace().join("examples")).into_iter().flatten().flatten() {
        let main = e.path().join("main.ai-stack");
        if main.exists() {
            v.push((e.file_name().to_string_lossy().into_owned(), main));
        }
    }
    if let Some(s) = shared_dir() {
        for n in ["minimal", "llm-platform"] {
            v.push((format!("design-{n}"), s.join(format!("design/examples/{n}.ai-stack"))));
        }
    } else {
        println!("SKIPPED: the design examples (../shared is not beside this checkout)");
    }
    v.sort();
    v
}

/// A YAML file parsed back into JSON values (one per document), with a YAML 1.2 parser.
pub fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn conv(y: &Yaml) -> serde_json::Value {
        match y {
            Yaml::Real(s) => s.parse::<f64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null),
            Yaml::Integer(i) => serde_json::Value::from(*i),
            Yaml::String(s) => serde_json::Value::from(s.clone()),
            Yaml::Boolean(b) => serde_json::Value::from(*b),
            Yaml::Array(a) => serde_json::Value::Array(a.iter().map(conv).collect()),
            Yaml::Hash(h) => serde_json::Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().map(str::to_string).unwrap_or_else(|| format!("{k:?}")), conv(v)))
                    .collect(),
            ),
            _ => serde_json::Value::Null,
        }
    }
    YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}")).iter().map(conv).collect()
}

/// Every `.ai-stack` file under the given folders (recursively), sorted.
pub fn ai_stack_files(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = dirs;
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "ai-stack") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The `aistack` binary beside the running test (`target/<profile>/aistack`): this crate
/// cannot name another package's binary, and `cargo test --workspace` builds it first.
pub fn aistack_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("aistack")).expect("target folder");
    assert!(bin.is_file(), "{} is missing: run `cargo build --release -p aistack-cli`", bin.display());
    bin
}

/// A fresh folder `<target>/<group>/<name>-<pid>` (creating files in /tmp is slow on this
/// machine).
pub fn target_scratch(group: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let base = exe.parent().and_then(Path::parent).expect("target folder").join(group);
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
