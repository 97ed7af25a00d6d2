//! The graph as Graphviz DOT: one `cluster_N` subgraph per declaration (in address order),
//! each node named by its address and labelled with its address and type, an edge from each
//! dependency to its dependent. Every name is a quoted DOT string with `"` and `\` escaped.

use super::ResourceGraph;
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn render(g: &ResourceGraph) -> String {
    let mut by_owner: BTreeMap<&str, Vec<&super::Resource>> = BTreeMap::new();
    for r in g.resources() {
        by_owner.entry(r.address.owner()).or_default().push(r);
    }
    let mut out = String::from("digraph resources {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, (owner, rs)) in by_owner.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label={};", quoted(owner));
        for r in rs {
            let label = format!("{}\n{}", r.address, r.type_);
            let _ = writeln!(out, "    {} [label={}];", quoted(r.address.as_str()), quoted(&label));
        }
        out.push_str("  }\n");
    }
    for (dependent, dependency, _) in g.edges() {
        let _ = writeln!(out, "  {} -> {};", quoted(dependency.as_str()), quoted(dependent.as_str()));
    }
    out.push_str("}\n");
    out
}
