//! `aistack-lsp`: `aistack-lsp` alone serves the Language Server Protocol on stdio (as
//! `aistack lsp` does); `aistack-lsp diagnostics FILE` checks a stack and prints the
//! `textDocument/publishDiagnostics` params an editor would receive.

use aistack_lsp::convert;

use aistack::check;
use aistack::world::DiskWorld;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn uri(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args == ["lsp"] {
        return aistack_lsp::run_stdio();
    }
    let [cmd, file] = args.as_slice() else {
        eprintln!("usage: aistack-lsp diagnostics FILE");
        return ExitCode::from(2);
    };
    if cmd != "diagnostics" {
        eprintln!("usage: aistack-lsp diagnostics FILE");
        return ExitCode::from(2);
    }
    let path = PathBuf::from(file);
    if !path.is_file() {
        eprintln!("error: cannot read {file}");
        return ExitCode::from(2);
    }
    let a = check::check(&DiskWorld, &path, &[]);
    let root = a.prog.module(a.prog.root).file;
    let Some(source) = a.prog.sources.get(root) else { return ExitCode::from(2) };
    let related = |span: aistack::source::Span| {
        let f = a.prog.sources.get(span.file)?;
        let u = if span.file == root { uri(&path) } else { format!("aistack:{}", f.name) };
        Some((u, convert::range(f, span)))
    };
    let diags: Vec<_> = a
        .diags
        .iter()
        .filter(|d| d.primary.is_some_and(|s| s.file == root))
        .filter_map(|d| convert::diagnostic(source, d, related))
        .collect();
    let params = json!({ "uri": uri(&path), "diagnostics": diags });
    println!("{}", serde_json::to_string_pretty(&params).unwrap_or_default());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use aistack::source::SourceFile;
    use aistack_lsp::convert::position;

    #[test]
    fn columns_count_utf16_code_units() {
        let f = SourceFile::new("t", "let a = \"é😀\" x\nb");
        let x = f.text.find(" x").expect("x") as u32 + 1;
        // `let a = "` is 9 units, é is 1, 😀 is 2 (a surrogate pair), `" ` is 2.
        assert_eq!(position(&f, x), (0, 14));
        assert_eq!(position(&f, f.text.len() as u32), (1, 1));
    }
}
