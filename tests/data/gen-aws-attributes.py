#!/usr/bin/env python3
"""Regenerates tests/data/aws-attributes.json: for every resource type the examples emit,
its attribute and block names in the hashicorp/aws provider schema (`terraform providers
schema -json`, provider from the local filesystem mirror). tests/tests/graph.rs checks that
every attribute a Ref of the resource graph names is in this table.

Usage (from the repository root, after `cargo build --release`):
    python3 tests/data/gen-aws-attributes.py [AISTACK_BIN] [PLUGIN_DIR]
Defaults: target/release/aistack, and the plugin folder from $AISTACK_TF_PLUGIN_DIR or else
found on this machine (the folder holding registry.terraform.io/hashicorp/aws), as
tests/validate/validate_output.py finds it.
"""
import glob, json, os, re, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/aistack")


def plugin_dir():
    if os.environ.get("AISTACK_TF_PLUGIN_DIR"):
        return os.environ["AISTACK_TF_PLUGIN_DIR"]
    found = subprocess.run(["find", "/", "-xdev", "-name", "terraform-provider-aws*", "-path", "*registry.terraform.io*"],
                           capture_output=True, text=True, timeout=120).stdout.split()
    for p in found:
        i = p.find("registry.terraform.io")
        if i > 0:
            return p[:i].rstrip("/")
    sys.exit("no hashicorp/aws provider mirror found: set AISTACK_TF_PLUGIN_DIR")


plugins = sys.argv[2] if len(sys.argv) > 2 else plugin_dir()
stacks = sorted(glob.glob(os.path.join(root, "examples/*/main.ai-stack")))
stacks += sorted(glob.glob(os.path.join(root, "../shared/design/examples/*.ai-stack")))

with tempfile.TemporaryDirectory() as work:
    types = set()
    for i, stack in enumerate(stacks):
        out = os.path.join(work, f"out{i}")
        subprocess.run([binary, "build", stack, "-o", out], check=True, capture_output=True)
        for tf in glob.glob(os.path.join(out, "terraform/*.tf")):
            types.update(re.findall(r'^resource "([a-z0-9_]+)"', open(tf).read(), re.M))
    tfdir = os.path.join(work, "schema")
    os.makedirs(tfdir)
    with open(os.path.join(tfdir, "main.tf"), "w") as f:
        f.write('terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n')
    rc = os.path.join(work, "terraformrc")
    with open(rc, "w") as f:
        f.write(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{plugins}"\n  }}\n}}\n')
    env = dict(os.environ, TF_CLI_CONFIG_FILE=rc, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    subprocess.run(["terraform", "init", "-input=false"], cwd=tfdir, env=env, check=True, capture_output=True)
    schema = json.loads(subprocess.run(["terraform", "providers", "schema", "-json"], cwd=tfdir, env=env,
                                       check=True, capture_output=True, text=True).stdout)
    version = subprocess.run(["terraform", "version", "-json"], cwd=tfdir, env=env, check=True,
                             capture_output=True, text=True).stdout
    provider = schema["provider_schemas"]["registry.terraform.io/hashicorp/aws"]
    table = {}
    for t in sorted(types):
        block = provider["resource_schemas"][t]["block"]
        table[t] = sorted(set(block.get("attributes", {})) | set(block.get("block_types", {})))
    doc = {
        "provider": "registry.terraform.io/hashicorp/aws",
        "versions": json.loads(version).get("provider_selections", {}),
        "resources": table,
    }
    with open(os.path.join(root, "tests/data/aws-attributes.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(table)} resource types written to tests/data/aws-attributes.json")
