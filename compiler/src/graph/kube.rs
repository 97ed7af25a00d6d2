//! Kubernetes objects into the graph: one [`Resource`] per object file (a second object with
//! the same file is dropped: identical ones silently, different ones with `E0502`), owned by
//! the declaration of its `aistack.dev/address` annotation, with the ordering facts the
//! workloads rely on as edges ([`Why::Order`]): the namespace before everything in it; a
//! ServiceAccount before the pods that run as it; ConfigMaps before the pods that mount them;
//! the ExternalSecret that creates a Secret before the pods that read it, and its SecretStore
//! before it; AnalysisTemplates before the Rollouts that run them; a scale target before its
//! autoscaler; Services before the routes, Ingresses and Rollouts that send to them; a ClusterQueue
//! before its LocalQueue; an EC2NodeClass before the NodePool that names it.

use super::*;
use crate::diag::codes;
use crate::emit::k8s::Obj;
use serde_json::Value;

/// A JSON value as an attribute tree (numbers keep whether they were integers).
pub fn from_json(v: &Value) -> Expr {
    match v {
        Value::Null => Expr::Null,
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Expr::Int(i),
            None => Expr::Num(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Expr::Str(s.clone()),
        Value::Array(xs) => Expr::List(xs.iter().map(from_json).collect()),
        Value::Object(o) => Expr::Object(o.iter().map(|(k, x)| (k.clone(), from_json(x))).collect()),
    }
}

/// An attribute tree of a Kubernetes object back to JSON, for the YAML writer.
pub fn to_json(e: &Expr) -> Value {
    match e {
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Int(i) => Value::from(*i),
        Expr::Num(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Expr::Str(s) => Value::String(s.clone()),
        Expr::List(xs) => Value::Array(xs.iter().map(to_json).collect()),
        Expr::Object(kv) => Value::Object(kv.iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
        _ => Value::Null,
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

pub(super) fn add(g: &mut ResourceGraph, decls: &Decls, objs: Vec<Obj>, diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, (Value, Option<String>)> = BTreeMap::new();
    let mut kept = Vec::new();
    for o in objs {
        if let Some((body, first)) = seen.get(&o.file) {
            if *body != o.body {
                diags.push(Diagnostic::sourceless(
                    codes::OUTPUT_CLASH,
                    format!(
                        "{} and {} both produce kubernetes/{}.yaml; rename one of them",
                        first.as_deref().unwrap_or("the stack"),
                        o.sources.first().map_or("the stack", String::as_str),
                        o.file
                    ),
                ));
            }
            continue;
        }
        seen.insert(o.file.clone(), (o.body.clone(), o.sources.first().cloned()));
        kept.push(o);
    }
    let mut names: BTreeMap<(String, String), Address> = BTreeMap::new();
    let mut secrets: BTreeMap<String, Address> = BTreeMap::new();
    let mut facts = Vec::new();
    for o in kept {
        let r = resource(decls, &o);
        let kind = text(&o.body, &["kind"]).unwrap_or_default().to_string();
        let name = text(&o.body, &["metadata", "name"]).unwrap_or_default().to_string();
        names.entry((kind.clone(), name)).or_insert_with(|| r.address.clone());
        if kind == "ExternalSecret" {
            if let Some(target) = text(&o.body, &["spec", "target", "name"]) {
                secrets.insert(target.to_string(), r.address.clone());
            }
        }
        let mut needs = Vec::new();
        if let Some(ns) = text(&o.body, &["metadata", "namespace"]) {
            needs.push(("Namespace".to_string(), ns.to_string(), "namespace"));
        }
        walk(&o.body, &mut needs);
        facts.push((r.address.clone(), needs));
        g.kubernetes_files.push(KubernetesFile { file: o.file, address: r.address.clone(), sources: o.sources });
        if let Err(e) = g.insert(r) {
            diags.push(Diagnostic::sourceless(codes::OUTPUT_CLASH, e.to_string()));
        }
    }
    for (me, needs) in facts {
        for (kind, name, why) in needs {
            let target = if kind == "Secret" { secrets.get(&name) } else { names.get(&(kind, name)) };
            if let Some(t) = target {
                let _ = g.depend(&me, t, Why::Order(why.to_string()));
            }
        }
    }
}

fn resource(decls: &Decls, o: &Obj) -> Resource {
    let declared = text(&o.body, &["metadata", "annotations", "aistack.dev/address"]).map(str::to_string);
    let owner = decls.owner(declared.as_ref().or(o.sources.first()));
    let kind = text(&o.body, &["kind"]).unwrap_or_default();
    let name = text(&o.body, &["metadata", "name"]).unwrap_or_default();
    let qualified = match text(&o.body, &["metadata", "namespace"]) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    Resource {
        address: Address::new(&decls.prefix(owner), &kind.to_ascii_lowercase(), name, &owner.name),
        engine: Engine::Kubernetes,
        type_: format!("{} {kind}", text(&o.body, &["apiVersion"]).unwrap_or_default()),
        name: qualified,
        attrs: Attrs::Kubernetes(from_json(&o.body)),
        origin: decls.origin(owner),
    }
}

/// The objects `v` names that must exist first: (kind, name, the field that names it).
fn walk(v: &Value, out: &mut Vec<(String, String, &'static str)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if let Some(n) = named(k, x) {
                    out.push(n);
                }
                if k == "backendRefs" {
                    let backends = x.as_array().into_iter().flatten();
                    out.extend(
                        backends.filter_map(|b| Some(("Service".into(), text(b, &["name"])?.into(), "backendRefs"))),
                    );
                }
                walk(x, out);
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

fn named(key: &str, v: &Value) -> Option<(String, String, &'static str)> {
    let name = || text(v, &["name"]).map(str::to_string);
    let kind_or = |d: &str| text(v, &["kind"]).unwrap_or(d).to_string();
    Some(match key {
        "serviceAccountName" => ("ServiceAccount".into(), v.as_str()?.to_string(), "serviceAccountName"),
        "configMap" => ("ConfigMap".into(), name()?, "configMap"),
        "secretKeyRef" | "secretRef" => ("Secret".into(), name()?, "secretKeyRef"),
        "secretStoreRef" => (kind_or("SecretStore"), name()?, "secretStoreRef"),
        "templateName" => ("AnalysisTemplate".into(), v.as_str()?.to_string(), "templateName"),
        "scaleTargetRef" => (kind_or("Deployment"), name()?, "scaleTargetRef"),
        "clusterQueue" => ("ClusterQueue".into(), v.as_str()?.to_string(), "clusterQueue"),
        "nodeClassRef" => (kind_or("EC2NodeClass"), name()?, "nodeClassRef"),
        "service" if v.get("port").is_some() => ("Service".into(), name()?, "backend"),
        "canaryService" | "stableService" | "activeService" | "previewService" => {
            ("Service".into(), v.as_str()?.to_string(), "rollout service")
        }
        _ => return None,
    })
}
