//! Tokens of the `.ai-stack` language and the units a quantity literal may carry.

use std::fmt;

/// A unit written directly after a number: `15m`, `80GiB`, `99.9%`, `$3`, `100/s`, `$98.32/h`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Milliseconds per unit of this duration.
    Time(TimeUnit),
    Size(SizeUnit),
    Percent,
    Dollars,
    /// `N/unit`: a count per time.
    PerTime(TimeUnit),
    /// `$N/unit`: money per time.
    DollarsPer(TimeUnit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Ms,
    S,
    M,
    H,
    D,
    W,
    Month,
}

impl TimeUnit {
    pub fn parse(s: &str) -> Option<TimeUnit> {
        Some(match s {
            "ms" => TimeUnit::Ms,
            "s" => TimeUnit::S,
            "m" => TimeUnit::M,
            "h" => TimeUnit::H,
            "d" => TimeUnit::D,
            "w" => TimeUnit::W,
            "month" => TimeUnit::Month,
            _ => return None,
        })
    }
    /// Length in milliseconds (a month is 730 hours).
    pub fn millis(self) -> f64 {
        match self {
            TimeUnit::Ms => 1.0,
            TimeUnit::S => 1e3,
            TimeUnit::M => 60e3,
            TimeUnit::H => 3_600e3,
            TimeUnit::D => 86_400e3,
            TimeUnit::W => 604_800e3,
            TimeUnit::Month => 730.0 * 3_600e3,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
            TimeUnit::M => "m",
            TimeUnit::H => "h",
            TimeUnit::D => "d",
            TimeUnit::W => "w",
            TimeUnit::Month => "month",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeUnit {
    pub name: &'static str,
    pub bytes: u64,
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("PB", 1_000_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
];

impl SizeUnit {
    pub fn parse(s: &str) -> Option<SizeUnit> {
        SIZE_UNITS.iter().find(|(n, _)| *n == s).map(|&(name, bytes)| SizeUnit { name, bytes })
    }
}

/// Every unit name, for "did you mean" suggestions.
pub fn unit_names() -> impl Iterator<Item = &'static str> {
    ["ms", "s", "m", "h", "d", "w"].into_iter().chain(SIZE_UNITS.iter().map(|(n, _)| *n))
}

impl Unit {
    pub fn parse_suffix(s: &str) -> Option<Unit> {
        TimeUnit::parse(s)
            .filter(|t| *t != TimeUnit::Month)
            .map(Unit::Time)
            .or_else(|| SizeUnit::parse(s).map(Unit::Size))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kw {
    Stack,
    Import,
    As,
    Param,
    Let,
    Schema,
    Enum,
    For,
    In,
    If,
    Then,
    Else,
    Assert,
    True,
    False,
    None,
}

impl Kw {
    pub fn parse(s: &str) -> Option<Kw> {
        Some(match s {
            "stack" => Kw::Stack,
            "import" => Kw::Import,
            "as" => Kw::As,
            "param" => Kw::Param,
            "let" => Kw::Let,
            "schema" => Kw::Schema,
            "enum" => Kw::Enum,
            "for" => Kw::For,
            "in" => Kw::In,
            "if" => Kw::If,
            "then" => Kw::Then,
            "else" => Kw::Else,
            "assert" => Kw::Assert,
            "true" => Kw::True,
            "false" => Kw::False,
            "none" => Kw::None,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kw::Stack => "stack",
            Kw::Import => "import",
            Kw::As => "as",
            Kw::Param => "param",
            Kw::Let => "let",
            Kw::Schema => "schema",
            Kw::Enum => "enum",
            Kw::For => "for",
            Kw::In => "in",
            Kw::If => "if",
            Kw::Then => "then",
            Kw::Else => "else",
            Kw::Assert => "assert",
            Kw::True => "true",
            Kw::False => "false",
            Kw::None => "none",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Ident(String),
    Kw(Kw),
    Int(i64),
    Float(f64),
    Quantity(f64, Unit),
    /// Opening quote of a string (`"` or `"""`).
    StrStart,
    /// Literal text of a string, escapes already applied.
    StrText(String),
    /// `${` inside a string.
    InterpStart,
    /// The `}` that closes an interpolation.
    InterpEnd,
    StrEnd,
    /// Punctuation and operators, by their spelling.
    Op(&'static str),
    /// Stands for text the lexer already reported; the parser skips over it.
    Error,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "`{s}`"),
            Token::Kw(k) => write!(f, "`{}`", k.as_str()),
            Token::Int(n) => write!(f, "`{n}`"),
            Token::Float(n) => write!(f, "`{n}`"),
            Token::Quantity(..) => write!(f, "a quantity"),
            Token::StrStart | Token::StrEnd => write!(f, "`\"`"),
            Token::StrText(_) => write!(f, "string text"),
            Token::InterpStart => write!(f, "`${{`"),
            Token::InterpEnd => write!(f, "`}}`"),
            Token::Op(s) => write!(f, "`{s}`"),
            Token::Error => write!(f, "invalid text"),
        }
    }
}

/// A comment kept for the formatter and for doc lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub start: u32,
    pub end: u32,
    /// `///` doc comment (text without the slashes and one leading space).
    pub doc: Option<String>,
}
