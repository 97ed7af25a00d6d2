//! aistack: a typed infrastructure-as-code compiler for AI stacks.
//!
//! ```text
//! source ──lex──▶ tokens ──parse──▶ ast::File ──load──▶ Program ──check──▶ Analysis
//!                                                  (modules, types)   (values, diagnostics)
//! ```
//! `fmt` works on tokens and comments and never changes meaning.
#![deny(clippy::unwrap_used)]

pub mod check;
pub mod cost;
pub mod diag;
#[cfg(feature = "emit")]
pub mod emit;
pub mod fmt;
#[cfg(feature = "emit")]
pub mod graph;
pub mod ide;
pub mod ir;
pub mod report;
pub mod source;
pub mod syntax;
pub mod world;
