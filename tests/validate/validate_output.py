#!/usr/bin/env python3
"""Validate an `aistack build` folder with tools from the package registries alone.

usage: validate_output.py OUT_DIR [--no-checkov] [--no-terraform]

- kubernetes/: every file is one YAML document; core objects (apps, batch, core, policy,
  networking, autoscaling) pass kubernetes-validate in strict mode; custom resources are
  checked for apiVersion/kind/metadata (their schemas live outside the registries, so the
  full CRD validation is ../shared/conformance/check-output's job);
- serving/: `config.pbtxt` parses as Triton's ModelConfig (tritonclient's compiled
  model_config.proto); JSON and YAML files parse;
- terraform/: `terraform fmt -check`, `terraform init` (from a local provider mirror when one
  is found or AISTACK_TF_PLUGIN_DIR names it) and `terraform validate`;
- checkov over terraform/ and kubernetes/: no failed check.
Prints one line per finding and a summary; exits 1 on any finding, 0 otherwise.
Needs: pyyaml kubernetes-validate tritonclient[grpc] checkov (see .ci/run)."""
import argparse, glob, json, os, shutil, subprocess, sys, tempfile
import yaml

CORE = {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"}
findings = []

def finding(area, where, msg):
    findings.append(f"FINDING [{area}] {where}: {msg}")

def check_kubernetes(root, version):
    import kubernetes_validate
    n = 0
    for path in sorted(glob.glob(os.path.join(root, "*.yaml"))):
        rel = os.path.relpath(path, root)
        try:
            docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        except yaml.YAMLError as e:
            finding("kubernetes", rel, f"not YAML: {e}"); continue
        if len(docs) != 1:
            finding("kubernetes", rel, f"{len(docs)} documents, expected 1"); continue
        d = docs[0]
        if d.get("kind") == "Kustomization":
            continue
        n += 1
        if not d.get("apiVersion") or not d.get("kind") or not (d.get("metadata") or {}).get("name"):
            finding("kubernetes", rel, "apiVersion, kind or metadata.name missing"); continue
        group = d["apiVersion"].rpartition("/")[0]
        if group in CORE:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                finding("kubernetes", rel, f"{e.message} at {'.'.join(map(str, e.path))}")
    return n

def check_serving(root):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2
    n = 0
    for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        if not os.path.isfile(path):
            continue
        rel, text = os.path.relpath(path, root), open(path).read()
        n += 1
        try:
            if path.endswith("config.pbtxt"):
                text_format.Parse(text, model_config_pb2.ModelConfig())
            elif path.endswith(".json"):
                json.loads(text)
            elif path.endswith((".yaml", ".yml")):
                if not isinstance(yaml.safe_load(text), dict):
                    finding("serving", rel, "not a mapping")
        except Exception as e:  # any parse failure is a finding
            finding("serving", rel, str(e)[:300])
    return n

def plugin_dir():
    if os.environ.get("AISTACK_TF_PLUGIN_DIR"):
        return os.environ["AISTACK_TF_PLUGIN_DIR"]
    try:
        found = subprocess.run(["find", "/", "-xdev", "-name", "terraform-provider-aws*", "-path", "*registry.terraform.io*"],
                               capture_output=True, text=True, timeout=120).stdout.split()
    except subprocess.TimeoutExpired:
        return None
    for p in found:
        i = p.find("registry.terraform.io")
        if i > 0:
            return p[:i].rstrip("/")
    return None

def check_terraform(root):
    tf = shutil.which("terraform")
    if not tf:
        print("SKIPPED terraform: not on PATH"); return
    r = subprocess.run([tf, "fmt", "-check", "-recursive", "-diff", root], capture_output=True, text=True)
    if r.returncode != 0:
        finding("terraform", "fmt", r.stdout[:500])
    work = tempfile.mkdtemp(prefix="aistack-validate-")
    try:
        shutil.copytree(root, work, dirs_exist_ok=True)
        cfg = os.path.join(work, ".terraformrc")
        open(cfg, "w").close()
        env = dict(os.environ, TF_CLI_CONFIG_FILE=cfg, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
        init = [tf, "init", "-backend=false", "-input=false", "-no-color"]
        mirror = plugin_dir()
        if mirror:
            init.append(f"-plugin-dir={mirror}")
        r = subprocess.run(init, cwd=work, capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:
            finding("terraform", "init", (r.stderr or r.stdout)[-500:]); return
        r = subprocess.run([tf, "validate", "-json", "-no-color"], cwd=work, capture_output=True, text=True, env=env, timeout=600)
        for dg in json.loads(r.stdout or "{}").get("diagnostics", []):
            if dg.get("severity") == "error":
                rng = dg.get("range") or {}
                finding("terraform", f"{rng.get('filename', '?')}:{(rng.get('start') or {}).get('line', '?')}",
                        f"{dg.get('summary')}: {dg.get('detail', '')[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

def check_checkov(out):
    exe = shutil.which("checkov") or os.path.join(os.path.dirname(sys.executable), "checkov")
    for d, fw in (("terraform", "terraform"), ("kubernetes", "kubernetes")):
        path = os.path.join(out, d)
        if not os.path.isdir(path):
            continue
        r = subprocess.run([exe, "-d", path, "--framework", fw, "--skip-download", "-o", "json", "--quiet", "--compact"],
                           capture_output=True, text=True, timeout=900)
        res = json.loads(r.stdout) if r.stdout.strip() else {}
        for block in (res if isinstance(res, list) else [res]):
            for c in (block.get("results") or {}).get("failed_checks", []):
                finding("checkov", f"{d}/{c.get('file_path', '?').lstrip('/')}", f"{c.get('check_id')} {c.get('check_name')}")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--no-checkov", action="store_true")
    ap.add_argument("--no-terraform", action="store_true")
    ap.add_argument("--kubernetes-version", default="1.31")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    summary = {"kubernetes_objects": check_kubernetes(os.path.join(out, "kubernetes"), a.kubernetes_version)}
    if os.path.isdir(os.path.join(out, "serving")):
        summary["serving_files"] = check_serving(os.path.join(out, "serving"))
    if not a.no_terraform:
        check_terraform(os.path.join(out, "terraform"))
    if not a.no_checkov:
        check_checkov(out)
    for f in findings:
        print(f)
    summary["findings"] = len(findings)
    print("validate-output:", json.dumps(summary))
    sys.exit(1 if findings else 0)

main()
