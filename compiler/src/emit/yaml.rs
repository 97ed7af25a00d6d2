//! A YAML writer for JSON-shaped values, in the block style `kubectl` prints.
//!
//! Takes: a `serde_json::Value` (objects keep insertion order). Gives: YAML text. Why not a
//! crate: serde_yaml is archived and unmaintained, and Kubernetes parses YAML 1.1, where
//! `yes`, `on`, `0777` or `1:20` are not strings; this writer prints a scalar plain only
//! when it is unambiguous under both YAML 1.1 and 1.2 and double-quotes everything else
//! (JSON escapes are valid YAML), so no value can change type or open a new document.

use serde_json::Value;
use std::fmt::Write as _;

/// Words YAML 1.1 or 1.2 read as booleans or null.
const SPECIAL: &[&str] = &["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"];

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if SPECIAL.contains(&s.to_ascii_lowercase().as_str()) || s.len() > 200 {
        return false;
    }
    let mut prev = ' ';
    for c in s.chars() {
        let ok = c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '@' | '+' | '=' | ':');
        if !ok {
            return false;
        }
        // `: ` and a trailing `:` would start a mapping.
        if prev == ':' && c == ':' {
            return false;
        }
        prev = c;
    }
    !s.ends_with(':')
}

pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => quote(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => return None,
    })
}

/// A literal block (`|`) for multi-line text that reads back exactly, else `None`.
fn literal(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || !s.ends_with('\n') || s.ends_with("\n\n") || s.starts_with([' ', '\n']) {
        return None;
    }
    let printable = s.chars().all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'));
    let clean_lines = s.lines().all(|l| !l.ends_with([' ', '\t']) && !l.starts_with('\t'));
    if !printable || !clean_lines {
        return None;
    }
    let pad = "  ".repeat(indent);
    let mut out = String::from("|\n");
    for line in s.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    out.pop();
    Some(out)
}

fn key(k: &str) -> String {
    if plain_ok(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                write_child(out, x, indent);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                out.push_str(&pad);
                out.push('-');
                match x {
                    Value::Object(o) if !o.is_empty() => {
                        // The first entry shares the dash's line.
                        let mut first = true;
                        for (k, y) in o {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&pad);
                                out.push_str("  ");
                            }
                            out.push_str(&key(k));
                            out.push(':');
                            write_child(out, y, indent + 1);
                        }
                    }
                    Value::Array(inner) if !inner.is_empty() => {
                        out.push('\n');
                        write_value(out, x, indent + 1);
                    }
                    other => {
                        out.push(' ');
                        match other {
                            Value::String(s) => match literal(s, indent + 1) {
                                Some(l) => out.push_str(&l),
                                None => out.push_str(&scalar(other).unwrap_or_default()),
                            },
                            _ => out.push_str(&scalar(other).unwrap_or_default()),
                        }
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// The value of `key:` (already written).
fn write_child(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            out.push('\n');
            write_value(out, v, indent + 1);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_value(out, v, indent);
        }
        Value::String(s) => {
            out.push(' ');
            match literal(s, indent + 1) {
                Some(l) => out.push_str(&l),
                None => out.push_str(&scalar(v).unwrap_or_default()),
            }
            out.push('\n');
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// One YAML document (no `---` marker), ending in a newline.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

/// Serialises anything `serde` can, through JSON values, to YAML.
pub fn of<T: serde::Serialize>(v: &T) -> String {
    to_string(&serde_json::to_value(v).unwrap_or(Value::Null))
}
