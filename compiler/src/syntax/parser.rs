//! Parser: tokens to the syntax tree, by recursive descent.
//!
//! Takes: the lexer's spanned tokens. Gives: an [`ast::File`] and E0101 diagnostics. It
//! recovers: a broken field or declaration is reported once and skipped up to the next place
//! where one begins, so one run reports every syntax error and still checks the rest; the
//! skipped region becomes an `Error` node so the checker does not cascade.
//!
//! Why hand-written rather than chumsky (which the language core started with): the grammar
//! needs one to three tokens of lookahead everywhere, but chumsky's recovery strategies
//! (`skip_then_retry_until`, `nested_delimiters`) re-parse a failed region once per enclosing
//! level, so an unclosed `{a=` repeated 22 times took over 20 s (each level doubled the time),
//! and `memoized` cannot cache across recovery. Here every decision is made on the next few
//! tokens, every token is consumed once (parsed, or skipped by recovery, which only moves
//! forward), and nesting is bounded before any work is done on the deeper part: time is linear
//! in the input and recursion depth is at most [`MAX_DEPTH`] constructs.

use super::ast::*;
use super::lexer::Spanned;
use super::token::{Kw, Token};
use crate::diag::{codes, Diagnostic};
use crate::source::{FileId, Span};

/// Most operands in one chain of an operator level (`a + b + …`), postfix accesses or prefix
/// operators. With [`MAX_DEPTH`] it bounds the depth of every tree, so no later stage can
/// exhaust the stack; real stacks stay far below it.
pub const MAX_CHAIN: usize = 256;

/// Deepest nesting of brackets, interpolations and `if` expressions. A group nested deeper is
/// reported once and skipped whole, without being parsed.
pub const MAX_DEPTH: usize = 64;

/// An error was reported (or the lexer already reported the token); the caller recovers.
struct Fail;
type PResult<T> = Result<T, Fail>;

/// Parses one file's tokens. Always returns a tree (possibly with `Error` nodes).
pub fn parse(file: FileId, tokens: &[Spanned], text: &str) -> (File, Vec<Diagnostic>) {
    let mut p = Parser::new(file, tokens, text);
    let items = p.items(false);
    (File { items }, p.diags)
}

/// Parses a lone expression (a `--param` value given on the command line).
pub fn parse_expr(file: FileId, tokens: &[Spanned], text: &str) -> (Option<Expr>, Vec<Diagnostic>) {
    let mut p = Parser::new(file, tokens, text);
    let e = p.expr(true).ok();
    if e.is_some() && p.peek().is_some() {
        let _ = p.fail("the end of the value");
        return (None, p.diags);
    }
    (e, p.diags)
}

struct Parser<'t> {
    file: FileId,
    toks: &'t [Spanned],
    /// The source, to tell where lines begin (recovery resumes at the start of a line).
    text: &'t str,
    pos: usize,
    eof: u32,
    /// End of the last consumed token: the end of the construct being built.
    prev_end: u32,
    depth: usize,
    /// The deepest-nesting error is reported once per file, not once per level.
    depth_reported: bool,
    /// An unexpected end of file is reported once, not once per unclosed level.
    eof_reported: bool,
    diags: Vec<Diagnostic>,
}

impl<'t> Parser<'t> {
    fn new(file: FileId, toks: &'t [Spanned], text: &'t str) -> Parser<'t> {
        let eof = text.len() as u32;
        Parser {
            file,
            toks,
            text,
            pos: 0,
            eof,
            prev_end: 0,
            depth: 0,
            depth_reported: false,
            eof_reported: false,
            diags: Vec::new(),
        }
    }

    // ---- tokens -------------------------------------------------------------------------

    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn peek_at(&self, n: usize) -> Option<&'t Token> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }
    fn at_op(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Token::Op(o)) if *o == s)
    }
    fn op_at(&self, n: usize, s: &str) -> bool {
        matches!(self.peek_at(n), Some(Token::Op(o)) if *o == s)
    }
    fn at_kw(&self, k: Kw) -> bool {
        matches!(self.peek(), Some(Token::Kw(x)) if *x == k)
    }
    fn ident_at(&self, n: usize) -> bool {
        matches!(self.peek_at(n), Some(Token::Ident(_)))
    }
    /// Start offset of the next token (the end of file when there is none).
    fn start(&self) -> u32 {
        self.toks.get(self.pos).map_or(self.eof, |(_, s)| s.start)
    }
    fn here(&self) -> Span {
        self.toks.get(self.pos).map_or_else(|| self.span(self.eof, self.eof), |(_, s)| *s)
    }
    fn span(&self, start: u32, end: u32) -> Span {
        Span::new(self.file, start as usize..end.max(start) as usize)
    }
    /// From `start` to the end of the last consumed token.
    fn since(&self, start: u32) -> Span {
        self.span(start, self.prev_end)
    }
    fn bump(&mut self) -> Option<&'t Token> {
        let (t, s) = self.toks.get(self.pos)?;
        self.pos += 1;
        self.prev_end = s.end;
        Some(t)
    }
    fn eat_op(&mut self, s: &str) -> bool {
        let hit = self.at_op(s);
        if hit {
            self.bump();
        }
        hit
    }
    fn eat_kw(&mut self, k: Kw) -> bool {
        let hit = self.at_kw(k);
        if hit {
            self.bump();
        }
        hit
    }

    // ---- errors -------------------------------------------------------------------------

    /// Reports "unexpected <next token>" (what was expected in the label) and fails. A token
    /// the lexer already reported, a second end-of-file error, or a second error at the same
    /// place is not reported again.
    fn fail(&mut self, expected: &str) -> Fail {
        let span = self.here();
        match self.peek() {
            Some(Token::Error) => {}
            None if self.eof_reported => {}
            found => {
                let repeated = self.diags.last().is_some_and(|d| d.primary == Some(span));
                if !repeated {
                    self.eof_reported |= found.is_none();
                    let found = found.map_or_else(|| "end of file".to_string(), |t| t.to_string());
                    self.diags.push(
                        Diagnostic::error(codes::SYNTAX, span, format!("unexpected {found}"))
                            .with_primary_label(format!("expected {expected}")),
                    );
                }
            }
        }
        Fail
    }
    fn expect_op(&mut self, s: &'static str) -> PResult<()> {
        if self.eat_op(s) {
            Ok(())
        } else {
            Err(self.fail(&format!("`{s}`")))
        }
    }
    fn expect_kw(&mut self, k: Kw) -> PResult<()> {
        if self.eat_kw(k) {
            Ok(())
        } else {
            Err(self.fail(&format!("`{}`", k.as_str())))
        }
    }
    fn ident(&mut self) -> PResult<Ident> {
        match self.peek() {
            Some(Token::Ident(name)) => {
                let span = self.here();
                self.bump();
                Ok(Ident { name: name.clone(), span })
            }
            _ => Err(self.fail("a name")),
        }
    }

    // ---- nesting and recovery -------------------------------------------------------------

    /// Runs `f` one nesting level deeper. Past [`MAX_DEPTH`] the group that starts at the next
    /// token is reported once and skipped whole (it is never parsed), and this fails.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                let msg =
                    format!("brackets, interpolations and `if` expressions nest more than {MAX_DEPTH} levels deep");
                self.diags.push(
                    Diagnostic::error(codes::SYNTAX, self.here(), msg)
                        .with_help("name the inner part with a `let` and use the name"),
                );
            }
            self.skip_group();
            return Err(Fail);
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Skips the next token and, when it opens a bracket, everything up to its match.
    fn skip_group(&mut self) {
        let mut open = 0usize;
        while let Some(t) = self.bump() {
            match t {
                Token::Op("{" | "[" | "(") => open += 1,
                Token::Op("}" | "]" | ")") => open = open.saturating_sub(1),
                _ => {}
            }
            if open == 0 {
                return;
            }
        }
    }

    /// After a failure in the construct that began at token `from`: skips forward (brackets
    /// kept balanced) to the next token where `starts` says a construct of this level begins,
    /// to a `}` that closes this level (when `in_braces`), or to the end. Always moves past
    /// `from`, so recovery makes progress.
    fn recover(&mut self, from: usize, in_braces: bool, starts: fn(&Self) -> bool) {
        if self.pos == from {
            self.skip_group();
        }
        let mut open = 0usize;
        while let Some(t) = self.peek() {
            // A top-level keyword at the start of a line ends the skip even inside brackets
            // left open by the broken text, so one stray `[` cannot swallow the file.
            let top = self.at_top_level_keyword()
                || (!in_braces && self.at_kw(Kw::Assert) && self.at_line_start() && starts(self));
            if top || (open == 0 && ((in_braces && self.at_op("}")) || starts(self))) {
                return;
            }
            match t {
                Token::Op("{" | "[" | "(") => open += 1,
                Token::Op("}" | "]" | ")") => open = open.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    /// The next token is the first of its line.
    fn at_line_start(&self) -> bool {
        let Some((_, s)) = self.toks.get(self.pos) else { return false };
        let from = self.pos.checked_sub(1).and_then(|i| self.toks.get(i)).map_or(0, |(_, p)| p.end as usize);
        self.text.get(from..s.start as usize).is_none_or(|gap| gap.contains('\n'))
    }

    /// A declaration starts here: its keyword or `KIND NAME` first on a line.
    fn at_item_start(&self) -> bool {
        if !self.at_line_start() {
            return false;
        }
        match self.peek() {
            Some(Token::Kw(Kw::Import | Kw::Param | Kw::Let | Kw::Schema | Kw::Enum | Kw::If | Kw::Assert)) => true,
            Some(Token::Ident(_) | Token::Kw(Kw::Stack)) => self.ident_at(1),
            _ => false,
        }
    }
    /// A field starts here: first on its line or after a `,`.
    fn at_body_item_start(&self) -> bool {
        let after_comma =
            self.pos.checked_sub(1).is_some_and(|i| matches!(self.toks.get(i), Some((Token::Op(","), _))));
        if !(after_comma || self.at_line_start()) {
            return false;
        }
        match self.peek() {
            Some(Token::Kw(Kw::Assert)) => true,
            Some(Token::Ident(_)) => {
                self.op_at(1, "=") || self.op_at(1, "{") || (self.ident_at(1) && self.op_at(2, "{"))
            }
            _ => false,
        }
    }
    /// A top-level keyword first on its line inside a body: the body was left unclosed (a
    /// half-typed block above the rest of the file), so the body ends here and the file goes on.
    fn at_top_level_keyword(&self) -> bool {
        matches!(
            self.peek(),
            Some(Token::Kw(Kw::Import | Kw::Param | Kw::Let | Kw::Schema | Kw::Enum | Kw::Stack | Kw::If))
        ) && self.at_line_start()
    }

    /// The end of a block's contents: its `}`, the end of the file, or a top-level keyword.
    fn at_block_end(&self) -> bool {
        self.peek().is_none() || self.at_op("}") || self.at_top_level_keyword()
    }

    fn at_field_decl_start(&self) -> bool {
        let after_comma =
            self.pos.checked_sub(1).is_some_and(|i| matches!(self.toks.get(i), Some((Token::Op(","), _))));
        (after_comma || self.at_line_start()) && self.ident_at(0) && self.op_at(1, ":")
    }

    // ---- items ----------------------------------------------------------------------------

    /// Items up to the end, or (inside an `if` block) up to its `}`.
    fn items(&mut self, in_braces: bool) -> Vec<Item> {
        let mut items = Vec::new();
        while self.peek().is_some() && !(in_braces && self.at_op("}")) {
            let from = self.pos;
            let start = self.start();
            match self.item() {
                Ok(item) => items.push(item),
                Err(Fail) => {
                    self.recover(from, in_braces, Self::at_item_start);
                    items.push(Item::Error(self.since(start)));
                }
            }
        }
        items
    }

    fn item(&mut self) -> PResult<Item> {
        let start = self.start();
        match self.peek() {
            Some(Token::Kw(Kw::Import)) => {
                self.bump();
                let (path, path_span) = self.plain_string()?;
                let alias = if self.eat_kw(Kw::As) { Some(self.ident()?) } else { None };
                let args = if self.at_op("{") { Some(self.braced_body()?) } else { None };
                Ok(Item::Import(Import { path, path_span, alias, args, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::Param)) => {
                self.bump();
                let name = self.ident()?;
                self.expect_op(":")?;
                let ty = self.type_expr()?;
                let default = if self.eat_op("=") { Some(self.expr(true)?) } else { None };
                Ok(Item::Param(Param { name, ty, default, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::Let)) => {
                self.bump();
                let name = self.ident()?;
                self.expect_op("=")?;
                let value = self.expr(true)?;
                Ok(Item::Let(Let { name, value, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::Schema)) => {
                self.bump();
                let name = self.kind_name()?;
                let template = match self.peek() {
                    Some(Token::Ident(s)) if s == "template" => {
                        self.bump();
                        Some(self.plain_string()?)
                    }
                    _ => None,
                };
                let fields = self.braced_field_decls()?;
                Ok(Item::Schema(Schema { name, template, fields, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::Enum)) => {
                self.bump();
                let name = self.ident()?;
                let variants = self.variants()?;
                Ok(Item::Enum(Enum { name, variants, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::If)) => {
                self.bump();
                let cond = self.expr(false)?;
                let then_items = self.item_block()?;
                let else_items = if self.eat_kw(Kw::Else) { self.item_block()? } else { Vec::new() };
                Ok(Item::If(IfBlock { cond, then_items, else_items, span: self.since(start) }))
            }
            Some(Token::Kw(Kw::Assert)) => Ok(Item::Assert(self.assert()?)),
            Some(Token::Ident(_) | Token::Kw(Kw::Stack)) => {
                let kind = self.kind_name()?;
                let name = self.ident()?;
                let each = if self.eat_kw(Kw::For) {
                    let var = self.ident()?;
                    self.expect_kw(Kw::In)?;
                    Some((var, self.expr(false)?))
                } else {
                    None
                };
                if !self.at_op("{") {
                    return Err(self.fail(if each.is_some() { "`{`" } else { "`{` or `for`" }));
                }
                let body = self.braced_body()?;
                Ok(Item::Decl(Decl { kind, name, each, body, span: self.since(start) }))
            }
            _ => Err(self.fail("a declaration")),
        }
    }

    /// A declaration kind or schema name: a name, or the keyword `stack`.
    fn kind_name(&mut self) -> PResult<Ident> {
        if self.at_kw(Kw::Stack) {
            let span = self.here();
            self.bump();
            return Ok(Ident { name: "stack".into(), span });
        }
        self.ident()
    }

    fn item_block(&mut self) -> PResult<Vec<Item>> {
        if !self.at_op("{") {
            return Err(self.fail("`{`"));
        }
        self.nested(|p| {
            p.bump();
            let items = p.items(true);
            p.close_brace()?;
            Ok(items)
        })
    }

    /// The `}` that ends a block; at the end of the file the block is kept as it is (one
    /// error), so a half-typed declaration still reaches the checker.
    fn close_brace(&mut self) -> PResult<()> {
        if self.eat_op("}") {
            return Ok(());
        }
        let e = self.fail("`}`");
        if self.peek().is_none() {
            Ok(())
        } else {
            Err(e)
        }
    }

    fn plain_string(&mut self) -> PResult<(String, Span)> {
        let start = self.start();
        if !matches!(self.peek(), Some(Token::StrStart)) {
            return Err(self.fail("a string"));
        }
        self.bump();
        let text = match self.peek() {
            Some(Token::StrText(s)) => {
                self.bump();
                s.clone()
            }
            _ => String::new(),
        };
        if !matches!(self.peek(), Some(Token::StrEnd)) {
            return Err(self.fail("the end of the string (no `${…}` here)"));
        }
        self.bump();
        Ok((text, self.since(start)))
    }

    fn assert(&mut self) -> PResult<Assert> {
        let start = self.start();
        self.expect_kw(Kw::Assert)?;
        let cond = self.expr(true)?;
        self.expect_kw(Kw::Else)?;
        let message = self.expr(true)?;
        Ok(Assert { cond, message, span: self.since(start) })
    }

    // ---- bodies ---------------------------------------------------------------------------

    /// `{ BODY }`.
    fn braced_body(&mut self) -> PResult<Body> {
        if !self.at_op("{") {
            return Err(self.fail("`{`"));
        }
        self.nested(|p| {
            p.bump();
            let body = p.body();
            p.close_brace()?;
            Ok(body)
        })
    }

    /// Fields, named entries and asserts up to the `}` that ends the body.
    fn body(&mut self) -> Body {
        let start = self.start();
        let mut items = Vec::new();
        while !self.at_block_end() {
            let from = self.pos;
            let item_start = self.start();
            match self.body_item() {
                Ok(item) => {
                    items.push(item);
                    self.eat_op(",");
                }
                Err(Fail) => {
                    self.recover(from, true, Self::at_body_item_start);
                    items.push(BodyItem::Error(self.since(item_start)));
                }
            }
        }
        Body { items, span: self.since(start) }
    }

    fn body_item(&mut self) -> PResult<BodyItem> {
        if self.at_kw(Kw::Assert) {
            return Ok(BodyItem::Assert(self.assert()?));
        }
        if !self.ident_at(0) {
            return Err(self.fail("a field, `assert` or `}`"));
        }
        let start = self.start();
        let name = self.ident()?;
        if self.eat_op("=") {
            let value = self.expr(true)?;
            return Ok(BodyItem::Field { name, value });
        }
        if self.at_op("{") {
            let b = self.braced_body()?;
            return Ok(BodyItem::Field { name, value: Expr { kind: ExprKind::Record(b), span: self.since(start) } });
        }
        if self.ident_at(0) && self.op_at(1, "{") {
            let entry = self.ident()?;
            let body = self.braced_body()?;
            return Ok(BodyItem::Named { field: name, name: entry, body });
        }
        Err(self.fail("`=`, `{` or an entry name"))
    }

    // ---- schemas and enums ----------------------------------------------------------------

    fn braced_field_decls(&mut self) -> PResult<Vec<FieldDecl>> {
        if !self.at_op("{") {
            return Err(self.fail("`{`"));
        }
        self.nested(|p| {
            p.bump();
            let mut fields = Vec::new();
            while !p.at_block_end() {
                let from = p.pos;
                match p.field_decl() {
                    Ok(f) => {
                        fields.push(f);
                        p.eat_op(",");
                    }
                    Err(Fail) => p.recover(from, true, Self::at_field_decl_start),
                }
            }
            p.close_brace()?;
            Ok(fields)
        })
    }

    fn field_decl(&mut self) -> PResult<FieldDecl> {
        let start = self.start();
        let name = self.ident()?;
        self.expect_op(":")?;
        let ty = self.type_expr()?;
        let default = if self.eat_op("=") { Some(self.expr(true)?) } else { None };
        let constraint = match self.peek() {
            Some(Token::Ident(w)) if w == "where" => {
                self.bump();
                Some(self.expr(true)?)
            }
            _ => None,
        };
        Ok(FieldDecl { name, ty, default, constraint, span: self.since(start) })
    }

    fn variants(&mut self) -> PResult<Vec<Variant>> {
        if !self.at_op("{") {
            return Err(self.fail("`{`"));
        }
        self.nested(|p| {
            p.bump();
            let mut variants = Vec::new();
            while !p.at_op("}") {
                let start = p.start();
                let name = p.ident()?;
                let fields = if p.at_op("{") { Some(p.braced_field_decls()?) } else { None };
                variants.push(Variant { name, fields, span: p.since(start) });
                if !p.eat_op(",") {
                    break;
                }
            }
            p.expect_op("}")?;
            Ok(variants)
        })
    }

    fn type_expr(&mut self) -> PResult<TypeExpr> {
        let start = self.start();
        let mut alts = vec![self.optional_type()?];
        while self.eat_op("|") {
            alts.push(self.optional_type()?);
        }
        Ok(if alts.len() == 1 { alts.remove(0) } else { TypeExpr::Union(alts, self.since(start)) })
    }

    fn optional_type(&mut self) -> PResult<TypeExpr> {
        let start = self.start();
        if !self.ident_at(0) {
            return Err(self.fail("a type"));
        }
        let name = self.ident()?;
        let mut t = if self.at_op("<") {
            let args = self.nested(|p| {
                p.bump();
                let mut args = vec![p.type_expr()?];
                while p.eat_op(",") {
                    args.push(p.type_expr()?);
                }
                p.expect_op(">")?;
                Ok(args)
            })?;
            TypeExpr::Generic(name, args, self.since(start))
        } else {
            TypeExpr::Name(name)
        };
        while self.eat_op("?") {
            t = TypeExpr::Optional(Box::new(t), self.since(start));
        }
        Ok(t)
    }

    // ---- expressions ----------------------------------------------------------------------

    /// An expression. With `braces == false` a bare `name { … }` or `{ … }` is not an
    /// expression (inside brackets it is again), so `if cond { … }` and `for x in xs { … }`
    /// read their block correctly.
    fn expr(&mut self, braces: bool) -> PResult<Expr> {
        self.binary(0, braces)
    }

    /// Binary operators by precedence level, loosest first; each level is a left-folded chain
    /// of at most [`MAX_CHAIN`] operands, built by a loop (no recursion along the chain).
    fn binary(&mut self, level: usize, braces: bool) -> PResult<Expr> {
        const LEVELS: [&[(&str, BinOp)]; 5] = [
            &[("||", BinOp::Or)],
            &[("&&", BinOp::And)],
            &[
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div)],
        ];
        let Some(ops) = LEVELS.get(level) else { return self.unary(braces) };
        // Ranges sit between comparison and sums: `a..b` of two sums.
        let operand = |p: &mut Self| if level == 2 { p.range(braces) } else { p.binary(level + 1, braces) };
        let start = self.start();
        let mut lhs = operand(self)?;
        let mut operators = 0;
        while let Some(op) = ops.iter().find(|(s, _)| self.at_op(s)).map(|&(_, o)| o) {
            if operators == MAX_CHAIN {
                return Err(self.chain_too_long());
            }
            operators += 1;
            self.bump();
            let rhs = operand(self)?;
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span: self.since(start) };
        }
        Ok(lhs)
    }

    fn chain_too_long(&mut self) -> Fail {
        let msg = format!("more than {MAX_CHAIN} operators, accesses or prefix operators in one chain");
        self.diags.push(
            Diagnostic::error(codes::SYNTAX, self.here(), msg).with_help("split the chain with `let`s or brackets"),
        );
        Fail
    }

    fn range(&mut self, braces: bool) -> PResult<Expr> {
        let start = self.start();
        let lo = self.binary(3, braces)?;
        if !self.eat_op("..") {
            return Ok(lo);
        }
        let hi = self.binary(3, braces)?;
        Ok(Expr { kind: ExprKind::Range(Box::new(lo), Box::new(hi)), span: self.since(start) })
    }

    fn unary(&mut self, braces: bool) -> PResult<Expr> {
        let mut ops = Vec::new();
        loop {
            let op = if self.at_op("!") {
                UnOp::Not
            } else if self.at_op("-") {
                UnOp::Neg
            } else {
                break;
            };
            if ops.len() == MAX_CHAIN {
                return Err(self.chain_too_long());
            }
            ops.push((op, self.start()));
            self.bump();
        }
        let mut e = self.postfix(braces)?;
        for (op, start) in ops.into_iter().rev() {
            let span = self.span(start, e.span.end);
            e = Expr { kind: ExprKind::Unary(op, Box::new(e)), span };
        }
        Ok(e)
    }

    fn postfix(&mut self, braces: bool) -> PResult<Expr> {
        let start = self.start();
        let mut e = self.atom(braces)?;
        let mut count = 0;
        while self.at_op(".") || self.at_op("[") {
            if count == MAX_CHAIN {
                return Err(self.chain_too_long());
            }
            count += 1;
            let kind = if self.eat_op(".") {
                ExprKind::Field(Box::new(e), self.ident()?)
            } else {
                let index = self.nested(|p| {
                    p.bump();
                    let i = p.expr(true)?;
                    p.expect_op("]")?;
                    Ok(i)
                })?;
                ExprKind::Index(Box::new(e), Box::new(index))
            };
            e = Expr { kind, span: self.since(start) };
        }
        Ok(e)
    }

    fn atom(&mut self, braces: bool) -> PResult<Expr> {
        let start = self.start();
        let mk = |p: &Self, kind| Expr { kind, span: p.since(start) };
        let literal = match self.peek() {
            Some(Token::Int(n)) => Some(ExprKind::Int(*n)),
            Some(Token::Float(x)) => Some(ExprKind::Float(*x)),
            Some(Token::Quantity(x, u)) => Some(ExprKind::Quantity(*x, *u)),
            Some(Token::Kw(Kw::True)) => Some(ExprKind::Bool(true)),
            Some(Token::Kw(Kw::False)) => Some(ExprKind::Bool(false)),
            Some(Token::Kw(Kw::None)) => Some(ExprKind::None),
            Some(Token::Error) => Some(ExprKind::Error),
            _ => None,
        };
        if let Some(kind) = literal {
            self.bump();
            return Ok(mk(self, kind));
        }
        match self.peek() {
            Some(Token::StrStart) => self.string(),
            Some(Token::Op("[")) => {
                let xs = self.nested(|p| {
                    p.bump();
                    let xs = p.comma_list("]")?;
                    p.expect_op("]")?;
                    Ok(xs)
                })?;
                Ok(mk(self, ExprKind::List(xs)))
            }
            Some(Token::Op("(")) => self.nested(|p| {
                p.bump();
                let e = p.expr(true)?;
                p.expect_op(")")?;
                Ok(e)
            }),
            Some(Token::Op("{")) if braces => {
                let b = self.braced_body()?;
                Ok(mk(self, ExprKind::Record(b)))
            }
            Some(Token::Kw(Kw::If)) => self.nested(|p| {
                p.bump();
                let c = p.expr(braces)?;
                p.expect_kw(Kw::Then)?;
                let a = p.expr(braces)?;
                p.expect_kw(Kw::Else)?;
                let b = p.expr(braces)?;
                Ok(mk(p, ExprKind::If(Box::new(c), Box::new(a), Box::new(b))))
            }),
            Some(Token::Ident(name)) => {
                if self.op_at(1, "(") {
                    let func = self.ident()?;
                    return self.call(func, start);
                }
                if braces && self.op_at(1, "{") {
                    let name = self.ident()?;
                    let b = self.braced_body()?;
                    return Ok(mk(self, ExprKind::Variant(name, b)));
                }
                self.bump();
                Ok(mk(self, ExprKind::Name(name.clone())))
            }
            _ => Err(self.fail("an expression")),
        }
    }

    /// `f(a, b)`, or a binding form `all(x in XS, PRED)`.
    fn call(&mut self, func: Ident, start: u32) -> PResult<Expr> {
        let bind = self.ident_at(1) && matches!(self.peek_at(2), Some(Token::Kw(Kw::In)));
        let kind = self.nested(|p| {
            p.bump();
            if bind {
                let var = p.ident()?;
                p.bump();
                let list = p.expr(true)?;
                p.expect_op(",")?;
                let body = p.expr(true)?;
                p.eat_op(",");
                p.expect_op(")")?;
                return Ok(ExprKind::Bind { func, var, list: Box::new(list), body: Box::new(body) });
            }
            let args = p.comma_list(")")?;
            p.expect_op(")")?;
            Ok(ExprKind::Call(func, args))
        })?;
        Ok(Expr { kind, span: self.since(start) })
    }

    /// Comma-separated expressions (a trailing comma allowed) up to, not including, `close`.
    fn comma_list(&mut self, close: &str) -> PResult<Vec<Expr>> {
        let mut xs = Vec::new();
        while !self.at_op(close) {
            xs.push(self.expr(true)?);
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(xs)
    }

    fn string(&mut self) -> PResult<Expr> {
        let start = self.start();
        self.bump();
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                Some(Token::StrText(s)) => {
                    self.bump();
                    parts.push(StrPart::Text(s.clone()));
                }
                Some(Token::InterpStart) => {
                    let e = self.nested(|p| {
                        p.bump();
                        let e = p.expr(true)?;
                        if !matches!(p.peek(), Some(Token::InterpEnd)) {
                            return Err(p.fail("`}` closing the interpolation"));
                        }
                        p.bump();
                        Ok(e)
                    })?;
                    parts.push(StrPart::Interp(e));
                }
                Some(Token::StrEnd) => {
                    self.bump();
                    return Ok(Expr { kind: ExprKind::Str(parts), span: self.since(start) });
                }
                _ => return Err(self.fail("the end of the string")),
            }
        }
    }
}
