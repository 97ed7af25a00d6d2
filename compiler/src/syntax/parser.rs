//! Parser: tokens to the syntax tree, with chumsky.
//!
//! Takes: the lexer's spanned tokens. Gives: an [`ast::File`] and E0101 diagnostics. It
//! recovers: a broken field is skipped up to the next field that parses, a broken block
//! becomes an `Error` node, so one run reports every syntax error and still checks the rest.

use super::ast::*;
use super::lexer::Spanned;
use super::token::{Kw, Token};
use crate::diag::{codes, Diagnostic};
use crate::source::{FileId, Span};
use chumsky::error::{RichPattern, RichReason};
use chumsky::input::ValueInput;
use chumsky::prelude::*;

type Err<'t> = extra::Err<Rich<'t, Token, SimpleSpan>>;

/// Most operands in one chain of an operator level (`a + b + …`), postfix accesses or prefix
/// operators. With the lexer's bracket limit it bounds the depth of every tree, so no later
/// stage can exhaust the stack; real stacks stay far below it.
pub const MAX_CHAIN: usize = 256;

fn sp(file: FileId, s: SimpleSpan) -> Span {
    Span::new(file, s.start..s.end)
}

fn op<'t, I: ValueInput<'t, Token = Token, Span = SimpleSpan>>(
    s: &'static str,
) -> impl Parser<'t, I, Token, Err<'t>> + Clone {
    just(Token::Op(s))
}

fn kw<'t, I: ValueInput<'t, Token = Token, Span = SimpleSpan>>(k: Kw) -> impl Parser<'t, I, Token, Err<'t>> + Clone {
    just(Token::Kw(k))
}

fn ident<'t, I: ValueInput<'t, Token = Token, Span = SimpleSpan>>(
    file: FileId,
) -> impl Parser<'t, I, Ident, Err<'t>> + Clone {
    select! { Token::Ident(s) => s }
        .map_with(move |name, e| Ident { name, span: sp(file, e.span()) })
        .labelled("a name")
}

/// A string without interpolation (import paths, template names).
fn plain_string<'t, I: ValueInput<'t, Token = Token, Span = SimpleSpan>>(
    file: FileId,
) -> impl Parser<'t, I, (String, Span), Err<'t>> + Clone {
    just(Token::StrStart)
        .ignore_then(select! { Token::StrText(s) => s }.or_not())
        .then_ignore(just(Token::StrEnd))
        .map_with(move |s, e| (s.unwrap_or_default(), sp(file, e.span())))
        .labelled("a string")
}

/// Fields of a record body, plus named entries and asserts; also used for decl bodies.
fn body<'t, I, P>(file: FileId, expr: P) -> impl Parser<'t, I, Body, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
    P: Parser<'t, I, Expr, Err<'t>> + Clone + 't,
{
    recursive(move |body| {
        let braced = body.clone().delimited_by(op("{"), op("}")).recover_with(via_parser(nested_delimiters(
            Token::Op("{"),
            Token::Op("}"),
            [(Token::Op("["), Token::Op("]")), (Token::Op("("), Token::Op(")"))],
            move |s| Body { items: vec![BodyItem::Error(sp(file, s))], span: sp(file, s) },
        )));
        let field =
            ident(file).then_ignore(op("=")).then(expr.clone()).map(|(name, value)| BodyItem::Field { name, value });
        let block_field = ident(file).then(braced.clone()).map_with(move |(name, b), e| BodyItem::Field {
            name,
            value: Expr { kind: ExprKind::Record(b), span: sp(file, e.span()) },
        });
        let named = ident(file).then(ident(file)).then(braced.clone()).map(|((field, name), body)| BodyItem::Named {
            field,
            name,
            body,
        });
        let assert = assert_parser(file, expr.clone()).map(BodyItem::Assert);
        let item = choice((field, block_field, named, assert))
            .recover_with(skip_then_retry_until(any().ignored(), op("}").ignored()))
            .then_ignore(op(",").or_not());
        item.repeated().collect::<Vec<_>>().map_with(move |items, e| Body { items, span: sp(file, e.span()) }).boxed()
    })
}

fn assert_parser<'t, I, P>(file: FileId, expr: P) -> impl Parser<'t, I, Assert, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
    P: Parser<'t, I, Expr, Err<'t>> + Clone + 't,
{
    kw(Kw::Assert)
        .ignore_then(expr.clone())
        .then_ignore(kw(Kw::Else))
        .then(expr)
        .map_with(move |(cond, message), e| Assert { cond, message, span: sp(file, e.span()) })
}

/// Expressions. With `braces == false` a bare `name { … }` or `{ … }` is not an expression,
/// so `if cond { … }` and `for x in xs { … }` read their block correctly.
fn expr<'t, I>(file: FileId, braces: bool) -> impl Parser<'t, I, Expr, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
{
    recursive(move |expr: Recursive<dyn Parser<'t, I, Expr, Err<'t>> + 't>| {
        let mk = move |kind: ExprKind, s: SimpleSpan| Expr { kind, span: sp(file, s) };
        let literal = select! {
            Token::Int(n) => ExprKind::Int(n),
            Token::Float(x) => ExprKind::Float(x),
            Token::Quantity(x, u) => ExprKind::Quantity(x, u),
            Token::Kw(Kw::True) => ExprKind::Bool(true),
            Token::Kw(Kw::False) => ExprKind::Bool(false),
            Token::Kw(Kw::None) => ExprKind::None,
            Token::Error => ExprKind::Error,
        }
        .map_with(move |k, e| mk(k, e.span()));

        let part = select! { Token::StrText(s) => StrPart::Text(s) }
            .or(expr.clone().delimited_by(just(Token::InterpStart), just(Token::InterpEnd)).map(StrPart::Interp));
        let string = part
            .repeated()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::StrStart), just(Token::StrEnd))
            .map_with(move |parts, e| mk(ExprKind::Str(parts), e.span()));

        let list = expr
            .clone()
            .separated_by(op(","))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(op("["), op("]"))
            .map_with(move |xs, e| mk(ExprKind::List(xs), e.span()))
            .recover_with(via_parser(nested_delimiters(
                Token::Op("["),
                Token::Op("]"),
                [(Token::Op("("), Token::Op(")")), (Token::Op("{"), Token::Op("}"))],
                move |s| mk(ExprKind::Error, s),
            )));

        let full_body = body(file, expr.clone());
        let braced = full_body.clone().delimited_by(op("{"), op("}"));
        let record = braced.clone().map_with(move |b, e| mk(ExprKind::Record(b), e.span()));
        let variant =
            ident(file).then(braced.clone()).map_with(move |(name, b), e| mk(ExprKind::Variant(name, b), e.span()));

        let bind = ident(file)
            .then_ignore(op("("))
            .then(ident(file))
            .then_ignore(kw(Kw::In))
            .then(expr.clone())
            .then_ignore(op(","))
            .then(expr.clone())
            .then_ignore(op(",").or_not())
            .then_ignore(op(")"))
            .map_with(move |(((func, var), list), body), e| {
                mk(ExprKind::Bind { func, var, list: Box::new(list), body: Box::new(body) }, e.span())
            });
        let call = ident(file)
            .then(
                expr.clone().separated_by(op(",")).allow_trailing().collect::<Vec<_>>().delimited_by(op("("), op(")")),
            )
            .map_with(move |(f, args), e| mk(ExprKind::Call(f, args), e.span()));

        let if_expr = kw(Kw::If)
            .ignore_then(expr.clone())
            .then_ignore(kw(Kw::Then))
            .then(expr.clone())
            .then_ignore(kw(Kw::Else))
            .then(expr.clone())
            .map_with(move |((c, a), b), e| mk(ExprKind::If(Box::new(c), Box::new(a), Box::new(b)), e.span()));

        let name = select! { Token::Ident(s) => s }.map_with(move |s, e| mk(ExprKind::Name(s), e.span()));
        let paren = expr.clone().delimited_by(op("("), op(")"));

        let atom = if braces {
            choice((literal, string, list, if_expr, bind, call, variant, record, name, paren)).boxed()
        } else {
            choice((literal, string, list, if_expr, bind, call, name, paren)).boxed()
        }
        .labelled("an expression");

        enum Post {
            Field(Ident),
            Index(Expr),
        }
        let post = op(".")
            .ignore_then(ident(file))
            .map(Post::Field)
            .or(expr.clone().delimited_by(op("["), op("]")).map(Post::Index));
        let postfix = atom
            .foldl_with(post.repeated().at_most(MAX_CHAIN), move |a, p, e| {
                let kind = match p {
                    Post::Field(f) => ExprKind::Field(Box::new(a), f),
                    Post::Index(i) => ExprKind::Index(Box::new(a), Box::new(i)),
                };
                mk(kind, e.span())
            })
            .boxed();

        let unary_op = op("!").to(UnOp::Not).or(op("-").to(UnOp::Neg));
        let unary = unary_op
            .map_with(move |o, e| (o, sp(file, e.span())))
            .repeated()
            .at_most(MAX_CHAIN)
            .foldr(postfix, move |(o, s), a: Expr| {
                let span = s.to(a.span);
                Expr { kind: ExprKind::Unary(o, Box::new(a)), span }
            })
            .boxed();

        let binary = move |lower: Boxed<'t, 't, I, Expr, Err<'t>>, ops: Vec<(&'static str, BinOp)>| {
            let op_p = choice(ops.into_iter().map(|(s, b)| op(s).to(b)).collect::<Vec<_>>());
            lower
                .clone()
                .foldl_with(op_p.then(lower).repeated().at_most(MAX_CHAIN), move |a, (o, b), e| {
                    mk(ExprKind::Binary(o, Box::new(a), Box::new(b)), e.span())
                })
                .boxed()
        };
        let product = binary(unary, vec![("*", BinOp::Mul), ("/", BinOp::Div)]);
        let sum = binary(product, vec![("+", BinOp::Add), ("-", BinOp::Sub)]);
        let range = sum
            .clone()
            .then(op("..").ignore_then(sum).or_not())
            .map_with(move |(a, b), e| match b {
                Some(b) => mk(ExprKind::Range(Box::new(a), Box::new(b)), e.span()),
                None => a,
            })
            .boxed();
        let compare = binary(
            range,
            vec![
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
        );
        let and = binary(compare, vec![("&&", BinOp::And)]);
        let or = binary(and, vec![("||", BinOp::Or)]);
        or.labelled("an expression").as_context()
    })
}

fn type_expr<'t, I>(file: FileId) -> impl Parser<'t, I, TypeExpr, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
{
    recursive(move |ty| {
        let base = ident(file)
            .then(ty.separated_by(op(",")).at_least(1).collect::<Vec<_>>().delimited_by(op("<"), op(">")).or_not())
            .map_with(move |(name, args), e| match args {
                Some(args) => TypeExpr::Generic(name, args, sp(file, e.span())),
                None => TypeExpr::Name(name),
            });
        let opt =
            base.foldl_with(op("?").repeated(), move |t, _, e| TypeExpr::Optional(Box::new(t), sp(file, e.span())));
        opt.clone()
            .separated_by(op("|"))
            .at_least(1)
            .collect::<Vec<_>>()
            .map_with(
                move |mut ts, e| {
                    if ts.len() == 1 {
                        ts.remove(0)
                    } else {
                        TypeExpr::Union(ts, sp(file, e.span()))
                    }
                },
            )
            .labelled("a type")
    })
}

fn field_decls<'t, I>(file: FileId) -> impl Parser<'t, I, Vec<FieldDecl>, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
{
    ident(file)
        .then_ignore(op(":"))
        .then(type_expr(file))
        .then(op("=").ignore_then(expr(file, true)).or_not())
        .then(select! { Token::Ident(s) if s == "where" => () }.ignore_then(expr(file, true)).or_not())
        .map_with(move |(((name, ty), default), constraint), e| FieldDecl {
            name,
            ty,
            default,
            constraint,
            span: sp(file, e.span()),
        })
        .recover_with(skip_then_retry_until(any().ignored(), op("}").ignored()))
        .then_ignore(op(",").or_not())
        .repeated()
        .collect::<Vec<_>>()
}

fn items<'t, I>(file: FileId) -> impl Parser<'t, I, Vec<Item>, Err<'t>> + Clone
where
    I: ValueInput<'t, Token = Token, Span = SimpleSpan>,
{
    recursive(move |items| {
        let full = expr(file, true);
        let nobrace = expr(file, false);
        let braced_body =
            body(file, full.clone()).delimited_by(op("{"), op("}")).recover_with(via_parser(nested_delimiters(
                Token::Op("{"),
                Token::Op("}"),
                [(Token::Op("["), Token::Op("]")), (Token::Op("("), Token::Op(")"))],
                move |s| Body { items: vec![BodyItem::Error(sp(file, s))], span: sp(file, s) },
            )));

        let import = kw(Kw::Import)
            .ignore_then(plain_string(file))
            .then(kw(Kw::As).ignore_then(ident(file)).or_not())
            .then(braced_body.clone().or_not())
            .map_with(move |(((path, path_span), alias), args), e| {
                Item::Import(Import { path, path_span, alias, args, span: sp(file, e.span()) })
            });
        let param = kw(Kw::Param)
            .ignore_then(ident(file))
            .then_ignore(op(":"))
            .then(type_expr(file))
            .then(op("=").ignore_then(full.clone()).or_not())
            .map_with(move |((name, ty), default), e| {
                Item::Param(Param { name, ty, default, span: sp(file, e.span()) })
            });
        let let_ = kw(Kw::Let)
            .ignore_then(ident(file))
            .then_ignore(op("="))
            .then(full.clone())
            .map_with(move |(name, value), e| Item::Let(Let { name, value, span: sp(file, e.span()) }));
        let template = select! { Token::Ident(s) if s == "template" => () }.ignore_then(plain_string(file)).or_not();
        let stack_name = kw(Kw::Stack).map_with(move |_, e| Ident { name: "stack".into(), span: sp(file, e.span()) });
        let schema = kw(Kw::Schema)
            .ignore_then(ident(file).or(stack_name))
            .then(template)
            .then(field_decls(file).delimited_by(op("{"), op("}")))
            .map_with(move |((name, template), fields), e| {
                Item::Schema(Schema { name, template, fields, span: sp(file, e.span()) })
            });
        let variant = ident(file)
            .then(field_decls(file).delimited_by(op("{"), op("}")).or_not())
            .map_with(move |(name, fields), e| Variant { name, fields, span: sp(file, e.span()) });
        let enum_ = kw(Kw::Enum)
            .ignore_then(ident(file))
            .then(variant.separated_by(op(",")).allow_trailing().collect::<Vec<_>>().delimited_by(op("{"), op("}")))
            .map_with(move |(name, variants), e| Item::Enum(Enum { name, variants, span: sp(file, e.span()) }));
        let kind = ident(file)
            .or(kw(Kw::Stack).map_with(move |_, e| Ident { name: "stack".into(), span: sp(file, e.span()) }));
        let decl = kind
            .then(ident(file))
            .then(kw(Kw::For).ignore_then(ident(file)).then_ignore(kw(Kw::In)).then(nobrace.clone()).or_not())
            .then(braced_body.clone())
            .map_with(move |(((kind, name), each), body), e| {
                Item::Decl(Decl { kind, name, each, body, span: sp(file, e.span()) })
            });
        let block = items.clone().delimited_by(op("{"), op("}"));
        let if_ = kw(Kw::If)
            .ignore_then(nobrace)
            .then(block.clone())
            .then(kw(Kw::Else).ignore_then(block).or_not())
            .map_with(move |((cond, then_items), else_items), e| {
                Item::If(IfBlock {
                    cond,
                    then_items,
                    else_items: else_items.unwrap_or_default(),
                    span: sp(file, e.span()),
                })
            });
        let assert = assert_parser(file, full).map(Item::Assert);
        choice((import, param, let_, schema, enum_, if_, assert, decl))
            .recover_with(skip_then_retry_until(any().ignored(), op("}").ignored().or(end())))
            .repeated()
            .collect::<Vec<_>>()
            .boxed()
    })
}

fn describe(p: &RichPattern<'_, Token>) -> String {
    match p {
        RichPattern::Token(t) => format!("{}", &**t),
        RichPattern::Label(l) => l.to_string(),
        RichPattern::Identifier(s) => format!("`{s}`"),
        RichPattern::Any => "anything".into(),
        RichPattern::SomethingElse => "something else".into(),
        RichPattern::EndOfInput => "end of file".into(),
        _ => "something else".into(),
    }
}

fn to_diagnostic(file: FileId, e: &Rich<'_, Token, SimpleSpan>, eof: usize) -> Diagnostic {
    let span = Span::new(file, e.span().start.min(eof)..e.span().end.min(eof));
    match e.reason() {
        RichReason::ExpectedFound { expected, found } => {
            let found = found.as_ref().map_or_else(|| "end of file".to_string(), |t| format!("{}", &**t));
            let mut exp: Vec<String> = expected.iter().map(describe).collect();
            exp.sort();
            exp.dedup();
            let mut d = Diagnostic::error(codes::SYNTAX, span, format!("unexpected {found}"));
            if !exp.is_empty() {
                let shown: Vec<_> = exp.iter().take(6).cloned().collect();
                d = d.with_primary_label(format!("expected {}", shown.join(", ")));
            }
            d
        }
        RichReason::Custom(msg) => Diagnostic::error(codes::SYNTAX, span, msg.clone()),
    }
}

/// Parses one file's tokens. Always returns a tree (possibly with `Error` nodes).
pub fn parse(file: FileId, tokens: &[Spanned], eof: usize) -> (File, Vec<Diagnostic>) {
    let toks: Vec<(Token, SimpleSpan)> =
        tokens.iter().map(|(t, s)| (t.clone(), SimpleSpan::from(s.start as usize..s.end as usize))).collect();
    let input = toks.as_slice().map(SimpleSpan::from(eof..eof), |(t, s)| (t, s));
    // Whatever top-level recovery could not consume is reported here, so the items parsed
    // before it are kept.
    let rest = any().map_with(|t: Token, e| (t, e.span())).repeated().collect::<Vec<_>>();
    let (out, errs) = items(file).then(rest).then_ignore(end()).parse(input).into_output_errors();
    let mut diags: Vec<Diagnostic> = errs.iter().map(|e| to_diagnostic(file, e, eof)).collect();
    let (items, rest) = out.unwrap_or_default();
    if let Some((tok, s)) = rest.first() {
        if diags.is_empty() {
            let span = Span::new(file, s.start..s.end);
            diags.push(
                Diagnostic::error(codes::SYNTAX, span, format!("unexpected {tok}"))
                    .with_primary_label("expected a declaration"),
            );
        }
    }
    (File { items }, diags)
}

/// Parses a lone expression (a `--param` value given on the command line).
pub fn parse_expr(file: FileId, tokens: &[Spanned], eof: usize) -> (Option<Expr>, Vec<Diagnostic>) {
    let toks: Vec<(Token, SimpleSpan)> =
        tokens.iter().map(|(t, s)| (t.clone(), SimpleSpan::from(s.start as usize..s.end as usize))).collect();
    let input = toks.as_slice().map(SimpleSpan::from(eof..eof), |(t, s)| (t, s));
    let (out, errs) = expr(file, true).then_ignore(end()).parse(input).into_output_errors();
    (out, errs.iter().map(|e| to_diagnostic(file, e, eof)).collect())
}
