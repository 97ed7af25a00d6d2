//! A plan for people: the summary first, then the changes grouped by declaration with the
//! source line each comes from, and (on request) the attribute diff.
//!
//! Takes: a [`Plan`]. Gives: text. Values longer than a line are cut, control characters are
//! shown as visible stand-ins, so a hostile string cannot rewrite the terminal.

use super::{Action, Plan};
use aistack::diag::render::clean;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const MAX_VALUE: usize = 120;

pub fn human(plan: &Plan, with_attrs: bool) -> String {
    let mut out = String::new();
    let s = &plan.summary;
    let against = match &plan.lineage {
        Some(_) => format!("{} (serial {})", plan.state_shown, plan.serial),
        None => format!("{} (no state yet)", plan.state_shown),
    };
    let _ = writeln!(out, "Plan for stack `{}` against {against}", clean(&plan.stack));
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes: what is recorded matches the stack.");
        return out;
    }
    let _ = writeln!(
        out,
        "{} to create, {} to update, {} to replace, {} to delete.",
        s.create, s.update, s.replace, s.delete
    );
    let mut by_decl: BTreeMap<&str, Vec<&super::Change>> = BTreeMap::new();
    for c in &plan.changes {
        by_decl.entry(c.origin.decl.as_str()).or_default().push(c);
    }
    let width = plan.changes.iter().map(|c| c.address.chars().count()).max().unwrap_or(0);
    for (decl, changes) in by_decl {
        let at = changes
            .iter()
            .find_map(|c| Some(format!("  ({}:{})", c.origin.file.as_deref()?, c.origin.line?)))
            .unwrap_or_default();
        let _ = writeln!(out, "\n{}{}", clean(decl), clean(&at));
        for c in changes {
            let mut line = format!("  {:<3} {:<width$}  {}", c.action.symbol(), clean(&c.address), clean(&c.kind));
            if c.action == Action::Replace {
                let _ = write!(line, "  (forces replacement: {})", clean(&c.forced_by.join(", ")));
            }
            let _ = writeln!(out, "{}", line.trim_end());
            if with_attrs && c.action != Action::Delete {
                for a in &c.attrs {
                    let before = a.before.as_ref().map_or("(none)".to_string(), show);
                    let after = a.after.as_ref().map_or("(none)".to_string(), show);
                    let _ = writeln!(out, "        {}: {before} -> {after}", clean(&a.path));
                }
            }
        }
    }
    out
}

fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let s = clean(&s).into_owned();
    if s.chars().count() > MAX_VALUE {
        format!("{}…", s.chars().take(MAX_VALUE).collect::<String>())
    } else {
        s
    }
}
