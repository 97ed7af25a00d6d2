#!/usr/bin/env python3
"""Apply the workload identity and secrets Terraform of built examples against moto, and read
back what AWS would hold.

usage: apply_identity.py AISTACK_BIN [--work DIR]

For each case (llm-chat and fine-tuning under EKS Pod Identity, llm-chat under IRSA), builds
the stack, starts `moto_server` on a free loopback port, points the AWS provider at it with a
`providers_override.tf`, runs `terraform init` (from the local provider mirror) and
`terraform apply` on the roles, role policies and Secrets Manager secrets (Terraform pulls in
the buckets and the KMS key they reference), then checks with boto3, against what the built
Kubernetes output tells the pods:

- each pod's serviceAccountName has a ServiceAccount, and under Pod Identity an
  `aws_eks_pod_identity_association` for namespace + account (declared, not applied: moto
  5.2.5 has no CreatePodIdentityAssociation — its eks/urls.py routes no
  /clusters/{name}/pod-identity-associations path), under IRSA the role-arn annotation of the
  role that exists in moto;
- each role's policy allows s3:GetObject on exactly the S3 URIs the pods are given (engine
  config, job env), s3:PutObject on exactly the URIs a pipeline writes, s3:ListBucket per
  bucket limited to those prefixes, kms:Decrypt on exactly the KMS key of each SSE-KMS bucket
  (read from moto), and nothing else;
- each secretKeyRef names a Secret an ExternalSecret creates with that key; the reader (the
  External Secrets controller's role under Pod Identity, the workload's under IRSA) may
  GetSecretValue on exactly the secrets named by those ExternalSecrets; no secret has a value.

moto is stopped by PID whatever happens. Exit 0 when every check passes, 1 on a finding, 2 on
a set-up failure (missing moto, terraform or provider mirror).
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCOUNT = "123456789012"  # moto's default account
ESO_ROLE = "external-secrets"
FINDINGS = []


def finding(case, msg):
    FINDINGS.append(f"{case}: {msg}")
    print(f"FINDING {case}: {msg}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mirror():
    d = os.environ.get("AISTACK_TF_PLUGIN_DIR")
    if d:
        return d
    for p in glob.glob("/opt/**/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*", recursive=True):
        return p[: p.find("registry.terraform.io")]
    r = subprocess.run(["find", "/", "-xdev", "-name", "terraform-provider-aws*", "-path", "*registry.terraform.io*"],
                       capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        return line[: line.find("registry.terraform.io")]
    return None


def start_moto(work):
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    if not os.path.exists(exe):
        print("moto_server not found", file=sys.stderr)
        sys.exit(2)
    port = free_port()
    log = open(os.path.join(work, "moto.log"), "w")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return proc, url
        except Exception:
            time.sleep(0.3)
    stop(proc)
    print("moto_server did not start", file=sys.stderr)
    sys.exit(2)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


ENDPOINTS = ["iam", "sts", "s3", "kms", "secretsmanager", "eks", "cloudtrail", "logs", "sns", "ec2"]


def override(tf_dir, url):
    aliases = re.findall(r'alias\s*=\s*"([^"]+)"', open(os.path.join(tf_dir, "providers.tf")).read())
    eps = "\n".join(f'    {e} = "{url}"' for e in ENDPOINTS)
    blocks = []
    for alias in [None] + aliases:
        a = f'  alias = "{alias}"\n' if alias else ""
        blocks.append(f'''provider "aws" {{
{a}  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {{
{eps}
  }}
}}
''')
    open(os.path.join(tf_dir, "providers_override.tf"), "w").write("\n".join(blocks))


def tfvars(tf_dir):
    text = open(os.path.join(tf_dir, "variables.tf")).read()
    values = {}
    for name, ty in re.findall(r'variable "([^"]+)" \{\s*type\s*=\s*([^\n]+)', text):
        ty = ty.strip()
        values[name] = {} if ty.startswith("map") else [] if ty.startswith("list") else 1 if ty == "number" else "x"
    if ESO_ROLE_VAR in values:
        values[ESO_ROLE_VAR] = ESO_ROLE
    path = os.path.join(tf_dir, "moto.auto.tfvars.json")
    json.dump(values, open(path, "w"))


ESO_ROLE_VAR = "external_secrets_role_name"


def terraform(tf_dir, args, env, timeout=600):
    r = subprocess.run(["terraform", *args], cwd=tf_dir, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"terraform {args[0]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def targets(tf_dir):
    out = []
    for f in glob.glob(os.path.join(tf_dir, "*.tf")):
        for kind, name in re.findall(r'^resource "([^"]+)" "([^"]+)"', open(f).read(), re.M):
            # The buckets' encryption too, so the test can read which key each bucket uses.
            if kind in ("aws_iam_role", "aws_iam_role_policy", "aws_secretsmanager_secret",
                        "aws_s3_bucket_server_side_encryption_configuration"):
                out.append(f"-target={kind}.{name}")
    return sorted(out)


def docs(out_dir):
    objs = []
    for f in sorted(glob.glob(os.path.join(out_dir, "kubernetes", "*.yaml"))):
        for d in yaml.safe_load_all(open(f)):
            if isinstance(d, dict) and d.get("kind"):
                objs.append(d)
    return objs


def pod_specs(objs):
    """(kind/name, pod spec) of every workload."""
    for o in objs:
        spec = o.get("spec") or {}
        kind = o["kind"]
        if kind in ("Deployment", "Rollout", "Job"):
            yield f"{kind}/{o['metadata']['name']}", spec["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{o['metadata']['name']}", spec["jobTemplate"]["spec"]["template"]["spec"]


S3_URI = re.compile(r"s3://([a-z0-9.\-]+)/([^\s\"',]+)")


def uris(spec, objs):
    """S3 URIs (bucket, prefix) a pod is given: env values and mounted ConfigMaps; and the written ones."""
    reads, writes = set(), set()
    cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    for c in spec["containers"]:
        for e in c.get("env") or []:
            for b, p in S3_URI.findall(str(e.get("value", ""))):
                (writes if e["name"] == "AISTACK_OUTPUT_MODEL" else reads).add((b, p.strip("/")))
    for v in spec.get("volumes") or []:
        cm = cms.get((v.get("configMap") or {}).get("name"))
        for text in (cm or {}).get("data", {}).values():
            reads.update((b, p.strip("/")) for b, p in S3_URI.findall(text))
    return reads, writes


def as_list(x):
    return x if isinstance(x, list) else [x]


def statements(doc, action):
    return [s for s in doc["Statement"] if action in as_list(s["Action"])]


def granted_roots(doc, ps):
    """Each (bucket, prefix) a pod uses, as the role grants it: the prefix itself, or for a
    versioned model (`<path>/<version>/`) its root one segment above, so that a rollback can
    read the previous version (the same rule tests/tests/identity.rs checks)."""
    arns = {r for s in doc["Statement"] for r in as_list(s.get("Resource", []))}
    out = set()
    for b, p in ps:
        parent = p.rsplit("/", 1)[0] if "/" in p else p
        if f"arn:aws:s3:::{b}/{p}" not in arns and f"arn:aws:s3:::{b}/{parent}" in arns:
            out.add((b, parent))
        else:
            out.add((b, p))
    return out


def check_role_policy(case, sa, doc, reads, writes, s3, secret_arns):
    reads, writes = granted_roots(doc, reads), granted_roots(doc, writes)
    objects = lambda ps: {f"arn:aws:s3:::{b}/{p}" for b, p in ps} | {f"arn:aws:s3:::{b}/{p}/*" for b, p in ps}
    got = {r for s in statements(doc, "s3:GetObject") for r in as_list(s["Resource"])}
    if got != objects(reads | writes):
        finding(case, f"{sa}: s3:GetObject on {sorted(got)}, pods read {sorted(objects(reads | writes))}")
    got = {r for s in statements(doc, "s3:PutObject") for r in as_list(s["Resource"])}
    if got != objects(writes):
        finding(case, f"{sa}: s3:PutObject on {sorted(got)}, pods write {sorted(objects(writes))}")
    want_list = {}
    for b, p in reads | writes:
        want_list.setdefault(f"arn:aws:s3:::{b}", set()).update({p, p + "/*"})
    got_list = {}
    for s in statements(doc, "s3:ListBucket"):
        prefixes = set(as_list(s.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])))
        if not prefixes:
            finding(case, f"{sa}: s3:ListBucket without an s3:prefix condition")
        for r in as_list(s["Resource"]):
            got_list.setdefault(r, set()).update(prefixes)
    if got_list != want_list:
        finding(case, f"{sa}: s3:ListBucket {got_list}, expected {want_list}")
    want_keys = set()
    for b, _ in reads | writes:
        rules = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
        sse = rules[0]["ApplyServerSideEncryptionByDefault"]
        if sse["SSEAlgorithm"] == "aws:kms":
            want_keys.add(sse["KMSMasterKeyID"])
    got_keys = {r for s in statements(doc, "kms:Decrypt")
                if "s3." in json.dumps(s.get("Condition", {})) for r in as_list(s["Resource"])}
    if got_keys != want_keys:
        finding(case, f"{sa}: kms:Decrypt (via S3) on {got_keys}, buckets are encrypted with {want_keys}")
    got = {r for s in statements(doc, "secretsmanager:GetSecretValue") for r in as_list(s["Resource"])}
    if got != secret_arns:
        finding(case, f"{sa}: secretsmanager:GetSecretValue on {got}, its ExternalSecrets read {secret_arns}")
    allowed = {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket", "kms:Decrypt",
               "kms:GenerateDataKey", "secretsmanager:GetSecretValue"}
    extra = {a for s in doc["Statement"] for a in as_list(s["Action"])} - allowed
    if extra or any("*" == r for s in doc["Statement"] for r in as_list(s.get("Resource", []))):
        finding(case, f"{sa}: unexpected actions or wildcard resources: {extra}")


def run_case(case, stack_file, irsa, aistack, work, plugin_dir):
    out = os.path.join(work, case)
    shutil.rmtree(out, ignore_errors=True)
    src = stack_file
    if irsa:
        text = open(stack_file).read()
        text = re.sub(r"(stack \w+ \{)", r'\1\n  identity = irsa\n  account  = "' + ACCOUNT + '"', text, count=1)
        src = os.path.join(os.path.dirname(stack_file), f".irsa-{os.getpid()}.ai-stack")
        open(src, "w").write(text)
    try:
        subprocess.run([aistack, "build", src, "-o", out], check=True, capture_output=True, timeout=120)
    finally:
        if irsa:
            os.remove(src)
    tf_dir = os.path.join(out, "terraform")
    objs = docs(out)
    ns = next(o["metadata"]["name"] for o in objs if o["kind"] == "Namespace")
    proc, url = start_moto(work)
    try:
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        iam, s3, sm, eks = (boto3.client(s, **kw) for s in ("iam", "s3", "secretsmanager", "eks"))
        region = re.search(r'region\s*=\s*"([^"]+)"', open(os.path.join(tf_dir, "providers.tf")).read()).group(1)
        sm, eks = (boto3.client(s, **dict(kw, region_name=region)) for s in ("secretsmanager", "eks"))
        s3 = boto3.client("s3", **dict(kw, region_name=region))
        iam.create_role(RoleName=ESO_ROLE, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        if irsa:
            cluster = re.search(r'data "aws_eks_cluster" "identity" \{\s*name = "([^"]+)"',
                                open(os.path.join(tf_dir, "identity.tf")).read()).group(1)
            c = eks.create_cluster(name=cluster, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                                   resourcesVpcConfig={"subnetIds": []})
            issuer = c["cluster"]["identity"]["oidc"]["issuer"]
            iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"],
                                                ThumbprintList=["9" * 40])
        override(tf_dir, url)
        tfvars(tf_dir)
        rc = os.path.join(work, "terraformrc")
        open(rc, "w").write(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{plugin_dir}"\n  }}\n}}\n')
        env = dict(os.environ, TF_CLI_CONFIG_FILE=rc, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", TF_DATA_DIR=os.path.join(out, ".tf"))
        terraform(tf_dir, ["init", "-input=false", "-no-color"], env)
        terraform(tf_dir, ["validate", "-no-color"], env)
        terraform(tf_dir, ["apply", "-auto-approve", "-input=false", "-no-color", *targets(tf_dir)], env)
        outputs = json.loads(terraform(tf_dir, ["output", "-json"], env))
        tf_text = "\n".join(open(f).read() for f in glob.glob(os.path.join(tf_dir, "*.tf")))
        check_case(case, irsa, ns, objs, outputs, tf_text, iam, s3, sm)
    finally:
        stop(proc)


def check_case(case, irsa, ns, objs, outputs, tf_text, iam, s3, sm):
    sas = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ServiceAccount"}
    externals = {o["spec"]["target"]["name"]: o for o in objs if o["kind"] == "ExternalSecret"}
    stores = {o["metadata"]["name"]: o for o in objs if o["kind"] == "SecretStore"}
    specs = list(pod_specs(objs))
    if not specs:
        finding(case, "no workloads")
    all_secret_arns = set()
    for what, spec in specs:
        sa = spec.get("serviceAccountName")
        if sa not in sas:
            finding(case, f"{what}: serviceAccountName {sa} has no ServiceAccount")
            continue
        role_arn = outputs.get(f"workload_{sa.replace('-', '_')}_role_arn", {}).get("value")
        if not role_arn:
            finding(case, f"{what}: no role output for {sa}")
            continue
        role_name = role_arn.split("/")[-1]
        role = iam.get_role(RoleName=role_name)["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        principal = trust["Statement"][0]["Principal"]
        if irsa:
            ann = (sas[sa]["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
            if ann != role_arn:
                finding(case, f"{sa}: role-arn annotation {ann}, role is {role_arn}")
            cond = trust["Statement"][0]["Condition"]["StringEquals"]
            subs = [v for k, v in cond.items() if k.endswith(":sub")]
            if subs != [f"system:serviceaccount:{ns}:{sa}"] or "Federated" not in principal:
                finding(case, f"{sa}: IRSA trust {trust}")
        else:
            if principal != {"Service": "pods.eks.amazonaws.com"}:
                finding(case, f"{sa}: trust principal {principal}")
            assoc = re.search(r'resource "aws_eks_pod_identity_association" "[^"]+" \{\s*cluster_name\s*= "[^"]+"\s*'
                              rf'namespace\s*= "{re.escape(ns)}"\s*service_account = "{re.escape(sa)}"', tf_text)
            if not assoc:
                finding(case, f"{sa}: no Pod Identity association for {ns}/{sa}")
        # Secrets the pod references, and the ones its ExternalSecret reads.
        secret_arns = set()
        for c in spec["containers"]:
            for e in c.get("env") or []:
                ref = ((e.get("valueFrom") or {}).get("secretKeyRef"))
                if not ref:
                    continue
                es = externals.get(ref["name"])
                keys = {d["secretKey"]: d["remoteRef"]["key"] for d in (es or {}).get("spec", {}).get("data", [])}
                if ref["key"] not in keys:
                    finding(case, f"{what}: secretKeyRef {ref} is produced by no ExternalSecret")
                    continue
                store = stores.get(es["spec"]["secretStoreRef"]["name"])
                if store is None:
                    finding(case, f"{what}: ExternalSecret {es['metadata']['name']} names a missing SecretStore")
                desc = sm.describe_secret(SecretId=keys[ref["key"]])
                if sm.list_secret_version_ids(SecretId=desc["ARN"]).get("Versions"):
                    finding(case, f"{keys[ref['key']]} has a value: Terraform must never write one")
                secret_arns.add(desc["ARN"])
        all_secret_arns |= secret_arns
        policies = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        doc = {"Statement": []}
        if policies:
            doc = iam.get_role_policy(RoleName=role_name, PolicyName=policies[0])["PolicyDocument"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
        reads, writes = uris(spec, objs)
        check_role_policy(case, sa, doc, reads, writes, s3, secret_arns if irsa else set())
        print(f"ok {case}: {sa} reads {sorted(reads)} writes {sorted(writes)} secrets {len(secret_arns)}")
    if not irsa and all_secret_arns:
        names = iam.list_role_policies(RoleName=ESO_ROLE)["PolicyNames"]
        doc = iam.get_role_policy(RoleName=ESO_ROLE, PolicyName=names[0])["PolicyDocument"] if names else {}
        doc = json.loads(doc) if isinstance(doc, str) else doc
        got = {r for s in statements(doc, "secretsmanager:GetSecretValue") for r in as_list(s["Resource"])} if doc else set()
        if got != all_secret_arns:
            finding(case, f"External Secrets role reads {got}, the ExternalSecrets need {all_secret_arns}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aistack")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/aistack-moto-work"))
    a = ap.parse_args()
    if not shutil.which("terraform"):
        print("terraform is not on the PATH", file=sys.stderr)
        return 2
    plugin_dir = mirror()
    if not plugin_dir:
        print("no local hashicorp/aws provider mirror found", file=sys.stderr)
        return 2
    os.makedirs(a.work, exist_ok=True)
    aistack = os.path.abspath(a.aistack)
    cases = [
        ("llm-chat", os.path.join(ROOT, "examples/llm-chat/main.ai-stack"), False),
        ("fine-tuning", os.path.join(ROOT, "examples/fine-tuning/main.ai-stack"), False),
        ("llm-chat-irsa", os.path.join(ROOT, "examples/llm-chat/main.ai-stack"), True),
    ]
    for case, path, irsa in cases:
        try:
            run_case(case, path, irsa, aistack, a.work, plugin_dir)
        except Exception as e:  # a failed step is a finding for this case; the others still run
            finding(case, f"{type(e).__name__}: {e}")
    print(f"{len(FINDINGS)} finding(s)")
    return 1 if FINDINGS else 0


if __name__ == "__main__":
    sys.exit(main())
