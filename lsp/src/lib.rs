//! `aistack-lsp`: the editor side of aistack.
//!
//! Takes: the Language Server Protocol over stdio. Gives: the compiler's analysis as editor
//! features ([`server`]). `convert` maps spans and diagnostics to protocol values, `session`
//! holds open documents and analyses. The `aistack lsp` command runs [`run_stdio`].

pub mod convert;
pub mod server;
pub mod session;

/// Runs the server on stdin/stdout until the client exits; returns the process exit code.
pub fn run_stdio() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    match runtime {
        Ok(rt) => {
            rt.block_on(server::serve_stdio());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot start the language server: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
