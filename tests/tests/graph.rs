//! The resource graph between the IR and the emitters: addresses that are unique and stable
//! (across builds and across moving the stack's folder), references that resolve to real
//! resources and to attributes the hashicorp/aws provider schema has
//! (`tests/data/aws-attributes.json`, written by `tests/data/gen-aws-attributes.py`), a
//! topological order that respects every dependency, cycles refused, a lossless JSON round
//! trip that renders the same files, attribute hashes, origins that point at the declaration
//! in the source, and DOT that Graphviz reads (or, without Graphviz, that is well formed).

use aistack::emit::hcl::Expr;
use aistack::graph::{self, Address, Attrs, Engine, GraphError, Origin, Resource, ResourceGraph, Why};
use aistack_tests::{build_file, example_stacks, workspace};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn graph_of(path: &Path) -> ResourceGraph {
    let a = aistack::check::check(&aistack::world::DiskWorld, path, &[]);
    assert!(!a.has_errors(), "{}: {:?}", path.display(), a.diags);
    let (g, diags) = graph::build_with_diags(&aistack::ir::lower(&a), &graph::Options::default());
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    g
}

fn json(g: &ResourceGraph) -> String {
    serde_json::to_string(g).expect("graph serialises")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn examples() -> Vec<(String, PathBuf)> {
    let v = example_stacks();
    assert!(v.len() >= 4, "the examples are found");
    v
}

#[test]
fn addresses_are_stable_across_builds_and_folders() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("graph-moved");
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, path) in examples().into_iter().filter(|(n, _)| !n.starts_with("design-")) {
        let g = graph_of(&path);
        assert_eq!(json(&g), json(&graph_of(&path)), "{name}: two builds differ");
        let dir = path.parent().expect("example folder");
        for place in ["a/deep/er", "b"] {
            let moved = tmp.join(place).join(&name);
            copy_dir(dir, &moved);
            let other = graph_of(&moved.join("main.ai-stack"));
            assert_eq!(json(&g), json(&other), "{name}: moving the folder to {place} changes the graph");
        }
    }
}

#[test]
fn every_emitted_resource_and_object_has_one_address() {
    for (name, path) in examples() {
        let g = graph_of(&path);
        let out = build_file(&path);
        let mut blocks = 0;
        let mut objects = 0;
        for a in &out {
            let text = String::from_utf8_lossy(&a.bytes);
            if a.path.starts_with("terraform/") {
                blocks += text.lines().filter(|l| l.starts_with("resource \"")).count();
            } else if a.path.starts_with("kubernetes/") && !a.path.ends_with("kustomization.yaml") {
                objects += 1;
            }
        }
        let count = |e: Engine| g.resources().filter(|r| r.engine == e).count();
        assert_eq!(count(Engine::Terraform), blocks, "{name}: one resource per `resource` block");
        assert_eq!(count(Engine::Kubernetes), objects, "{name}: one resource per object file");
        let addrs: BTreeSet<&Address> = g.resources().map(|r| &r.address).collect();
        assert_eq!(addrs.len(), g.len(), "{name}: addresses are unique");
        let ordered: Vec<&Address> = g.resources().map(|r| &r.address).collect();
        assert!(ordered.windows(2).all(|w| w[0] < w[1]), "{name}: resources() is in address order");
        for r in g.resources() {
            assert_eq!(g.get(&r.address).map(|x| &x.address), Some(&r.address));
        }
    }
}

#[test]
fn addresses_read_as_declaration_and_role() {
    let g = graph_of(&workspace().join("examples/llm-chat/main.ai-stack"));
    for a in [
        "storage.models/bucket",
        "storage.models/bucket_versioning",
        "stack/kms_key",
        "stack/bucket.access_logs",
        "service.chat/rollout",
        "service.chat/serviceaccount",
        "stack/namespace.chat",
    ] {
        assert!(g.get(&addr(&g, a)).is_some(), "no {a} in {:?}", g.resources().map(|r| &r.address).collect::<Vec<_>>());
    }
    let bucket = g.get(&addr(&g, "storage.models/bucket")).expect("bucket");
    assert_eq!((bucket.type_.as_str(), bucket.name.as_str()), ("aws_s3_bucket", "models"));
    assert_eq!(bucket.origin.decl, "storage.models");
    let rollout = g.get(&addr(&g, "service.chat/rollout")).expect("rollout");
    assert_eq!(rollout.type_, "argoproj.io/v1alpha1 Rollout");
    let multi = graph_of(&workspace().join("examples/multi-region-dr/main.ai-stack"));
    assert!(multi.resources().any(|r| r.address.as_str() == "storage.obs.audit_logs/bucket"), "module-qualified");
    assert!(multi
        .resources()
        .any(|r| r.address.as_str() == "service.chat[\"us-east-1\"]/iam_role.workload_chat_us_east_1"));
}

/// The graph's own address whose text is `text`.
fn addr(g: &ResourceGraph, text: &str) -> Address {
    g.resources().map(|r| r.address.clone()).find(|a| a.as_str() == text).unwrap_or_else(|| panic!("no {text}"))
}

#[test]
fn a_duplicate_address_is_refused() {
    let mut g = graph_of(&workspace().join("examples/llm-chat/main.ai-stack"));
    let first = g.resources().next().cloned().expect("a resource");
    let before = json(&g);
    assert_eq!(g.insert(first.clone()), Err(GraphError::Duplicate(first.address.clone())));
    assert_eq!(json(&g), before, "the graph is unchanged");
}

fn attribute_table() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("tests/data/aws-attributes.json")).expect("attribute table");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let resources = doc["resources"].as_object().expect("resources");
    resources
        .iter()
        .map(|(t, attrs)| {
            (t.clone(), attrs.as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect())
        })
        .collect()
}

/// Every `{"tf": …}` and `{"raw": …}` in a serialised graph.
fn leftovers(v: &Value, tf: &mut Vec<String>, raw: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let (1, Some(x)) = (o.len(), o.get("tf")) {
                tf.push(x.to_string());
            }
            if let (1, Some(Value::String(s))) = (o.len(), o.get("raw")) {
                raw.push(s.clone());
            }
            o.values().for_each(|x| leftovers(x, tf, raw));
        }
        Value::Array(xs) => xs.iter().for_each(|x| leftovers(x, tf, raw)),
        _ => {}
    }
}

#[test]
fn every_reference_is_typed_and_names_a_real_attribute() {
    let table = attribute_table();
    for (name, path) in examples() {
        let g = graph_of(&path);
        let doc: Value = serde_json::to_value(&g).expect("JSON");
        let (mut tf, mut raw) = (Vec::new(), Vec::new());
        leftovers(&doc, &mut tf, &mut raw);
        assert!(tf.is_empty(), "{name}: references left unresolved: {tf:?}");
        for r in &raw {
            assert!(!r.contains("aws_") || r.starts_with("data."), "{name}: a raw reference: {r}");
        }
        let mut refs = 0;
        for res in g.resources() {
            for r in res.refs() {
                refs += 1;
                let target =
                    g.get(&r.to).unwrap_or_else(|| panic!("{name}: {} refers to missing {}", res.address, r.to));
                assert!(g.deps(&res.address).contains(&&r.to), "{name}: {} -> {} is an edge", res.address, r.to);
                let Some(attr) = &r.attr else { continue };
                assert_eq!(target.engine, Engine::Terraform);
                let known =
                    table.get(&target.type_).unwrap_or_else(|| panic!("{name}: {} not in the table", target.type_));
                assert!(known.contains(attr), "{name}: {}.{attr} is not an attribute of the provider", target.type_);
            }
        }
        assert!(refs > 20, "{name}: only {refs} references");
    }
}

#[test]
fn topological_order_puts_every_dependency_first() {
    for (name, path) in examples() {
        let g = graph_of(&path);
        let order = g.topo_order().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(order.len(), g.len(), "{name}");
        let pos: BTreeMap<&Address, usize> = order.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let edges = g.edges();
        assert!(!edges.is_empty(), "{name}: no dependencies");
        for (dependent, dependency, why) in edges {
            assert!(pos[dependency] < pos[dependent], "{name}: {dependency} must precede {dependent} ({why:?})");
            assert!(g.dependents(dependency).contains(&dependent));
        }
        assert_eq!(g.topo_order().ok(), Some(order), "{name}: the order is deterministic");
    }
}

#[test]
fn kubernetes_ordering_facts_are_edges() {
    let g = graph_of(&workspace().join("examples/llm-chat/main.ai-stack"));
    let rollout = addr(&g, "service.chat/rollout");
    let deps = g.deps(&rollout);
    assert!(deps.contains(&&addr(&g, "service.chat/serviceaccount")), "{deps:?}");
    assert!(deps.contains(&&addr(&g, "stack/namespace.chat")), "{deps:?}");
    assert!(deps.iter().any(|d| d.as_str().starts_with("service.chat/configmap")), "{deps:?}");
    let versioning = addr(&g, "storage.models/bucket_versioning");
    assert!(g.deps(&versioning).contains(&&addr(&g, "storage.models/bucket")));
    assert!(g.dependents(&addr(&g, "stack/kms_key")).len() > 3, "the key is used widely");
}

fn tiny(a: &str) -> Resource {
    Resource {
        address: Address::new("stack", a, "x", "x"),
        engine: Engine::Kubernetes,
        type_: "v1 ConfigMap".into(),
        name: "n/x".into(),
        attrs: Attrs::Kubernetes(Expr::Null),
        origin: Origin { decl: "stack.s".into(), span: None },
    }
}

#[test]
fn a_cycle_is_refused() {
    let mut g = ResourceGraph::default();
    for r in ["a", "b", "c"] {
        g.insert(tiny(r)).expect("new address");
    }
    let [a, b, c] = ["a", "b", "c"].map(|r| tiny(r).address);
    g.depend(&b, &a, Why::Order("test".into())).expect("edge");
    assert_eq!(g.topo_order().map(|o| o.len()), Ok(3));
    g.depend(&c, &b, Why::Order("test".into())).expect("edge");
    g.depend(&a, &c, Why::Order("test".into())).expect("edge");
    assert!(matches!(g.topo_order(), Err(GraphError::Cycle(_))));
    let missing = Address::new("stack", "nothing", "x", "x");
    assert_eq!(g.depend(&missing, &a, Why::DependsOn), Err(GraphError::Missing(missing.clone())));
}

#[test]
fn json_round_trip_is_lossless_and_renders_the_same_files() {
    for (name, path) in examples() {
        let g = graph_of(&path);
        let text = serde_json::to_string_pretty(&g).expect("serialise");
        let back: ResourceGraph = serde_json::from_str(&text).expect("deserialise");
        assert!(back == g, "{name}: round trip changes the graph");
        assert_eq!(serde_json::to_string_pretty(&back).expect("serialise"), text, "{name}");
        for r in g.resources() {
            assert_eq!(back.deps(&r.address), g.deps(&r.address), "{name}: {}", r.address);
        }
        let mut rendered = Vec::new();
        aistack::emit::k8s::render(&back, &mut rendered);
        aistack::emit::terraform::render(&back, &mut rendered);
        let built: BTreeMap<String, Vec<u8>> = build_file(&path).into_iter().map(|a| (a.path, a.bytes)).collect();
        assert!(rendered.len() > 10, "{name}");
        for a in rendered {
            assert_eq!(built.get(&a.path), Some(&a.bytes), "{name}: {} rendered from JSON differs", a.path);
        }
    }
}

#[test]
fn attribute_hashes_are_stable_and_follow_the_attributes() {
    let path = workspace().join("examples/rag/main.ai-stack");
    let (g, again) = (graph_of(&path), graph_of(&path));
    let hashes: BTreeSet<String> = g.resources().map(Resource::attrs_hash).collect();
    assert!(hashes.len() > g.len() * 9 / 10, "distinct attributes, distinct hashes");
    for r in g.resources() {
        let h = r.attrs_hash();
        assert!(h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()), "{h}");
        assert_eq!(again.get(&r.address).map(Resource::attrs_hash), Some(h.clone()));
        let mut changed = r.clone();
        match &mut changed.attrs {
            Attrs::Terraform(items) => items.push(aistack::emit::hcl::Item::Comment("x".into())),
            Attrs::Kubernetes(e) => *e = Expr::List(vec![e.clone()]),
        }
        assert_ne!(changed.attrs_hash(), h, "{}", r.address);
    }
}

#[test]
fn origins_point_at_the_declaration_in_the_source() {
    for (name, path) in examples() {
        let g = graph_of(&path);
        let dir = path.parent().expect("folder");
        for r in g.resources() {
            let span = r.origin.span.as_ref().unwrap_or_else(|| panic!("{name}: {} has no span", r.address));
            assert!(!span.file.starts_with('/') && !span.file.contains(".."), "{name}: {} is relative", span.file);
            let text = std::fs::read_to_string(dir.join(&span.file)).expect("source file");
            let at = text.get(span.start as usize..span.end as usize).expect("span in the file");
            let (kind, rest) = r.origin.decl.split_once('.').expect("kind.address");
            let short = rest.rsplit('.').next().unwrap_or(rest);
            let short = short.split('[').next().unwrap_or(short);
            assert!(
                at.starts_with(kind) || at.starts_with(short),
                "{name}: {} points at `{}`",
                r.address,
                &at[..at.len().min(40)]
            );
            let line = text[..span.start as usize].matches('\n').count() + 1;
            assert_eq!(span.line as usize, line, "{name}: {}", r.address);
        }
    }
}

#[test]
fn dot_output_parses() {
    let g = graph_of(&workspace().join("examples/multi-region-dr/main.ai-stack"));
    let dot = g.to_dot();
    assert!(dot.starts_with("digraph resources {\n") && dot.ends_with("}\n"));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "balanced");
    assert_eq!(dot.lines().filter(|l| l.contains(" -> ")).count(), g.edges().len());
    assert!(dot.contains(r#""service.chat[\"us-east-1\"]/rollout""#), "quotes are escaped: {dot}");
    for r in g.resources() {
        let quoted = format!("\"{}\" [label=", r.address.as_str().replace('"', "\\\""));
        assert_eq!(dot.matches(&quoted).count(), 1, "{} is one node", r.address);
    }
    match Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(dot.as_bytes()).expect("write");
            let out = child.wait_with_output().expect("dot");
            assert!(out.status.success(), "dot -Tsvg rejects the graph");
            let svg = String::from_utf8_lossy(&out.stdout);
            assert_eq!(svg.matches("class=\"node\"").count(), g.len(), "every resource is drawn");
            assert_eq!(
                svg.matches("class=\"cluster\"").count(),
                g.resources().map(|r| r.address.owner()).collect::<BTreeSet<_>>().len()
            );
        }
        Err(_) => println!("SKIPPED: Graphviz's dot is not on the PATH; the structural checks ran"),
    }
}
