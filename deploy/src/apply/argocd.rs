//! The Argo CD `Application` that syncs a release folder (argoproj.io/v1alpha1).
//!
//! Takes: the stack and the release number. Gives: `argocd/application.yaml` for the release
//! folder: source path `.aistack/releases/<n>/kubernetes` (relative to the repository root,
//! which is taken to be the stack's root folder), repository `$AISTACK_GITOPS_REPO` (set it
//! to the Git URL the stack folder is pushed to; without it a placeholder
//! `https://git.example.invalid/<stack>.git` is written, which Argo CD will not resolve),
//! destination the in-cluster API server and the stack's namespace, automated sync with prune
//! and self-heal. One Application per stack (`aistack-<stack>`): each release moves its path.

use aistack::emit::Artifact;
use aistack::ir;

/// The Application as an artifact at `argocd/application.yaml`.
pub fn application(stack: &ir::Stack, release: u64) -> Artifact {
    let name = aistack::emit::label_value(&format!("aistack-{}", stack.name));
    let repo = std::env::var("AISTACK_GITOPS_REPO")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| format!("https://git.example.invalid/{}.git", aistack::emit::label_value(&stack.name)));
    let value = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {
                "app.kubernetes.io/managed-by": "aistack",
                "app.kubernetes.io/part-of": aistack::emit::label_value(&stack.name),
                "aistack.dev/release": release.to_string(),
            },
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo,
                "targetRevision": "HEAD",
                "path": format!(".aistack/releases/{release}/kubernetes"),
            },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": stack.namespace },
            "syncPolicy": { "automated": { "prune": true, "selfHeal": true }, "syncOptions": ["ServerSideApply=true"] },
        },
    });
    Artifact::new(
        "argocd/application.yaml",
        aistack::emit::yaml::to_string(&value),
        vec![format!("stack.{}", stack.name)],
    )
}
