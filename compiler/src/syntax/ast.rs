//! The syntax tree of one `.ai-stack` file, as written (no names resolved, no types).
//!
//! Every node carries its [`Span`]. Regions the parser recovered from become `Error` nodes,
//! which later stages treat as "unknown" so one typo does not cascade.

use super::token::Unit;
use crate::source::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Import(Import),
    Param(Param),
    Let(Let),
    Schema(Schema),
    Enum(Enum),
    Decl(Decl),
    If(IfBlock),
    Assert(Assert),
    Error(Span),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Param(p) => p.span,
            Item::Let(l) => l.span,
            Item::Schema(s) => s.span,
            Item::Enum(e) => e.span,
            Item::Decl(d) => d.span,
            Item::If(i) => i.span,
            Item::Assert(a) => a.span,
            Item::Error(s) => *s,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Import {
    pub path: String,
    pub path_span: Span,
    pub alias: Option<Ident>,
    pub args: Option<Body>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub name: Ident,
    /// `template "file.hbs"`: a user template that renders instances (used by `build`).
    pub template: Option<(String, Span)>,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub constraint: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Enum {
    pub name: Ident,
    pub variants: Vec<Variant>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Variant {
    pub name: Ident,
    pub fields: Option<Vec<FieldDecl>>,
    pub span: Span,
}

/// `KIND NAME [for VAR in EXPR] { BODY }`
#[derive(Clone, Debug)]
pub struct Decl {
    pub kind: Ident,
    pub name: Ident,
    pub each: Option<(Ident, Expr)>,
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct IfBlock {
    pub cond: Expr,
    pub then_items: Vec<Item>,
    pub else_items: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Assert {
    pub cond: Expr,
    pub message: Expr,
    pub span: Span,
}

/// The inside of `{ … }`: fields, named entries and asserts.
#[derive(Clone, Debug)]
pub struct Body {
    pub items: Vec<BodyItem>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum BodyItem {
    /// `FIELD = EXPR`, or `FIELD { … }` (then `value` is a record).
    Field {
        name: Ident,
        value: Expr,
    },
    /// `FIELD NAME { … }`: adds entry NAME to the map field FIELD.
    Named {
        field: Ident,
        name: Ident,
        body: Body,
    },
    Assert(Assert),
    Error(Span),
}

#[derive(Clone, Debug)]
pub enum TypeExpr {
    Name(Ident),
    Generic(Ident, Vec<TypeExpr>, Span),
    Optional(Box<TypeExpr>, Span),
    Union(Vec<TypeExpr>, Span),
    Error(Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Name(i) => i.span,
            TypeExpr::Generic(_, _, s) | TypeExpr::Optional(_, s) | TypeExpr::Union(_, s) | TypeExpr::Error(s) => *s,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Debug)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Quantity(f64, Unit),
    Bool(bool),
    None,
    Str(Vec<StrPart>),
    Name(String),
    List(Vec<Expr>),
    Record(Body),
    /// `NAME { … }`: an enum variant with a payload.
    Variant(Ident, Body),
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Call(Ident, Vec<Expr>),
    /// `all(x in XS, PRED)` and friends.
    Bind {
        func: Ident,
        var: Ident,
        list: Box<Expr>,
        body: Box<Expr>,
    },
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Error,
}
