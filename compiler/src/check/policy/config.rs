//! What the stack's first `policy` says about the rules: `rules = { AIS101 = off, AIS105 =
//! error, digests_pinned = false }`.
//!
//! Takes: the policy's `rules` map, keyed by rule id or by a rule's name from before ids
//! (`encryption_at_rest`), valued `true`/`false` or a `rule_level` (`off`, `on`, `info`,
//! `warning`, `error`). Gives: per rule, whether it runs and at which severity; E0210 for a key
//! that names no built-in policy rule (domain rules cannot be switched: the outputs depend
//! on them).

use super::{Options, Rule, StackView, RULES};
use crate::check::rules::span;
use crate::check::value::Value;
use crate::diag::{codes, Diagnostic, Severity};
use std::collections::HashMap;

/// One key of `rules`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setting {
    Off,
    /// On at the rule's default severity.
    On,
    At(Severity),
}

/// The policy's settings, by rule id.
#[derive(Debug, Default)]
pub struct Config {
    settings: HashMap<&'static str, Setting>,
}

impl Config {
    /// The severity `rule` runs at, or `None` when it does not run. Domain rules always run;
    /// a built-in policy rule runs when the policy switches it on, under `--policy`, and (for
    /// the four rules from before ids) whenever a policy is declared, unless switched off.
    pub fn level(&self, rule: &Rule, opts: Options, has_policy: bool) -> Option<Severity> {
        if !rule.policy {
            return Some(rule.default_severity);
        }
        match self.settings.get(rule.id) {
            Some(Setting::Off) => None,
            Some(Setting::On) => Some(rule.default_severity),
            Some(Setting::At(s)) => Some(*s),
            None if opts.policy || (has_policy && rule.legacy.is_some()) => Some(rule.default_severity),
            None => None,
        }
    }
}

fn setting(v: &StackView, value: &Value) -> Option<Setting> {
    match value {
        Value::Bool(true) => Some(Setting::On),
        Value::Bool(false) => Some(Setting::Off),
        Value::Enum(..) => Some(match v.variant_name(Some(value))?.as_str() {
            "off" => Setting::Off,
            "on" => Setting::On,
            "info" => Setting::At(Severity::Info),
            "warning" => Setting::At(Severity::Warning),
            "error" => Setting::At(Severity::Error),
            _ => return None,
        }),
        _ => None,
    }
}

/// Reads the policy's `rules`, reporting keys that name no built-in policy rule.
pub fn read(v: &mut StackView) -> Config {
    let mut cfg = Config::default();
    let Some((pid, policy)) = v.policy.clone() else { return cfg };
    let Some(Value::Map(m)) = policy.get("rules") else { return cfg };
    let at = span(&policy, "rules", v.decl_span(pid));
    for (key, value) in m.iter() {
        match super::lookup(key) {
            Some(rule) if rule.policy => {
                if let Some(s) = setting(v, value) {
                    cfg.settings.insert(rule.id, s);
                }
            }
            Some(rule) => v.error(
                Diagnostic::error(
                    codes::UNKNOWN_FIELD,
                    at,
                    format!("rule {} is a domain rule; a policy cannot switch it", rule.id),
                )
                .with_help("the outputs depend on it: fix what it reports instead"),
            ),
            None => v.error(unknown(key, at)),
        }
    }
    cfg
}

fn unknown(key: &str, at: crate::source::Span) -> Diagnostic {
    let names: Vec<&str> =
        RULES.iter().filter(|r| r.policy).flat_map(|r| std::iter::once(r.id).chain(r.legacy)).collect();
    let d = Diagnostic::error(codes::UNKNOWN_FIELD, at, format!("unknown policy rule `{key}`"));
    match crate::check::suggest(key, names.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help("rules: AIS101 … AIS116 (`aistack explain AIS101`), or the names encryption_at_rest, no_public_buckets, digests_pinned, images_pinned"),
    }
}
