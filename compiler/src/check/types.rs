//! Types of the language: scalars, quantities with dimensions, compounds, schemas and enums.
//!
//! Takes: `schema`/`enum` declarations and type expressions. Gives: [`Ty`] values and the
//! [`TypeTable`] of every schema and enum, with fields, defaults and `where` constraints.

use crate::source::Span;
use crate::syntax::ast;
use std::fmt;

/// Physical dimension as exponents of time, bytes and money. `(0,0,0)` is a plain number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dim {
    pub time: i8,
    pub bytes: i8,
    pub money: i8,
}

impl Dim {
    pub const NONE: Dim = Dim { time: 0, bytes: 0, money: 0 };
    pub const DURATION: Dim = Dim { time: 1, bytes: 0, money: 0 };
    pub const SIZE: Dim = Dim { time: 0, bytes: 1, money: 0 };
    pub const MONEY: Dim = Dim { time: 0, bytes: 0, money: 1 };
    pub const RATE: Dim = Dim { time: -1, bytes: 0, money: 0 };
    pub const MONEY_RATE: Dim = Dim { time: -1, bytes: 0, money: 1 };

    pub fn times(self, o: Dim) -> Dim {
        Dim { time: self.time + o.time, bytes: self.bytes + o.bytes, money: self.money + o.money }
    }
    pub fn per(self, o: Dim) -> Dim {
        Dim { time: self.time - o.time, bytes: self.bytes - o.bytes, money: self.money - o.money }
    }
    pub fn is_none(self) -> bool {
        self == Dim::NONE
    }
    /// The language's name for this dimension, or a product of base names.
    pub fn name(self) -> String {
        match self {
            Dim::DURATION => "duration".into(),
            Dim::SIZE => "size".into(),
            Dim::MONEY => "money".into(),
            Dim::RATE => "rate".into(),
            Dim::MONEY_RATE => "money_rate".into(),
            Dim::NONE => "float".into(),
            d => {
                let mut num = Vec::new();
                let mut den = Vec::new();
                for (e, n) in [(d.money, "money"), (d.bytes, "size"), (d.time, "duration")] {
                    let part = if e.abs() > 1 { format!("{n}^{}", e.abs()) } else { n.to_string() };
                    if e > 0 {
                        num.push(part);
                    } else if e < 0 {
                        den.push(part);
                    }
                }
                let num = if num.is_empty() { "1".to_string() } else { num.join("·") };
                if den.is_empty() {
                    num
                } else {
                    format!("{num}/{}", den.join("·"))
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnumId(pub u32);

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// Unknown (after an error) or unconstrained: accepts anything.
    Any,
    Bool,
    Int,
    Float,
    Str,
    Qty(Dim),
    Ratio,
    Secret,
    Condition,
    None,
    List(Box<Ty>),
    Map(Box<Ty>),
    Opt(Box<Ty>),
    Range(Box<Ty>),
    Union(Vec<Ty>),
    Record(SchemaId),
    Enum(EnumId),
    Ref(SchemaId),
}

impl Ty {
    /// The type with one layer of `?` removed.
    pub fn strip_opt(&self) -> &Ty {
        match self {
            Ty::Opt(t) => t,
            t => t,
        }
    }
    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }
}

#[derive(Clone, Debug)]
pub struct FieldDef {
    pub name: String,
    pub ty: Ty,
    pub default: Option<ast::Expr>,
    pub constraint: Option<ast::Expr>,
    pub span: Span,
    pub doc: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SchemaDef {
    /// `model`, or `rollout.canary` for a variant's payload.
    pub name: String,
    pub fields: Vec<FieldDef>,
    pub span: Span,
    pub doc: Option<String>,
    pub template: Option<String>,
    /// The template's text, read through the World when the schema was loaded.
    pub template_source: Option<String>,
    /// Declared in the standard library.
    pub std: bool,
    /// The module (one per import of a file) whose scope its defaults and constraints see.
    pub module: super::value::ModuleId,
}

impl SchemaDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct VariantDef {
    pub name: String,
    pub payload: Option<SchemaId>,
    pub span: Span,
    pub doc: Option<String>,
}

#[derive(Clone, Debug)]
pub struct EnumDef {
    pub name: String,
    pub variants: Vec<VariantDef>,
    pub span: Span,
    pub doc: Option<String>,
}

impl EnumDef {
    pub fn variant(&self, name: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.name == name)
    }
}

#[derive(Default, Debug)]
pub struct TypeTable {
    pub schemas: Vec<SchemaDef>,
    pub enums: Vec<EnumDef>,
}

impl TypeTable {
    pub fn schema(&self, id: SchemaId) -> &SchemaDef {
        &self.schemas[id.0 as usize]
    }
    pub fn enum_(&self, id: EnumId) -> &EnumDef {
        &self.enums[id.0 as usize]
    }
    pub fn display(&self, ty: &Ty) -> String {
        TyDisplay(self, ty).to_string()
    }
}

struct TyDisplay<'a>(&'a TypeTable, &'a Ty);

impl fmt::Display for TyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        match self.1 {
            Ty::Any => write!(f, "any"),
            Ty::Bool => write!(f, "bool"),
            Ty::Int => write!(f, "int"),
            Ty::Float => write!(f, "float"),
            Ty::Str => write!(f, "string"),
            Ty::Qty(d) => write!(f, "{}", d.name()),
            Ty::Ratio => write!(f, "ratio"),
            Ty::Secret => write!(f, "secret"),
            Ty::Condition => write!(f, "condition"),
            Ty::None => write!(f, "none"),
            Ty::List(e) => write!(f, "list<{}>", TyDisplay(t, e)),
            Ty::Map(e) => write!(f, "map<{}>", TyDisplay(t, e)),
            Ty::Opt(e) => write!(f, "{}?", TyDisplay(t, e)),
            Ty::Range(e) => write!(f, "range<{}>", TyDisplay(t, e)),
            Ty::Union(ts) => {
                let parts: Vec<String> = ts.iter().map(|x| TyDisplay(t, x).to_string()).collect();
                write!(f, "{}", parts.join(" | "))
            }
            Ty::Record(s) => write!(f, "{}", t.schema(*s).name),
            Ty::Enum(e) => write!(f, "{}", t.enum_(*e).name),
            Ty::Ref(s) => write!(f, "ref<{}>", t.schema(*s).name),
        }
    }
}

/// Built-in scalar type names.
pub fn scalar(name: &str) -> Option<Ty> {
    Some(match name {
        "bool" => Ty::Bool,
        "int" => Ty::Int,
        "float" => Ty::Float,
        "string" => Ty::Str,
        "duration" => Ty::Qty(Dim::DURATION),
        "size" => Ty::Qty(Dim::SIZE),
        "money" => Ty::Qty(Dim::MONEY),
        "rate" => Ty::Qty(Dim::RATE),
        "money_rate" => Ty::Qty(Dim::MONEY_RATE),
        "ratio" => Ty::Ratio,
        "secret" => Ty::Secret,
        "condition" => Ty::Condition,
        _ => return None,
    })
}

pub const SCALARS: &[&str] = &[
    "bool",
    "int",
    "float",
    "string",
    "duration",
    "size",
    "money",
    "rate",
    "money_rate",
    "ratio",
    "secret",
    "condition",
];
