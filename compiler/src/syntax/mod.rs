//! Syntax: text to tree. `lex` then `parse`; both recover and report located diagnostics.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod token;

use crate::diag::Diagnostic;
use crate::source::FileId;

/// A parsed file with its comments (for `fmt` and doc lookup).
pub struct Parsed {
    pub file: ast::File,
    pub comments: Vec<token::Comment>,
    pub diags: Vec<Diagnostic>,
}

pub fn parse_file(file: FileId, text: &str) -> Parsed {
    let lexed = lexer::lex(file, text);
    let (tree, mut diags) = parser::parse(file, &lexed.tokens, text);
    let mut all = lexed.diags;
    all.append(&mut diags);
    Parsed { file: tree, comments: lexed.comments, diags: all }
}
