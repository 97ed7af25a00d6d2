#!/usr/bin/env python3
"""Benchmark: `aistack build` time and output size on generated stacks of growing size, next
to the tools a team would otherwise run on the same output.

usage: bench/build_scaling.py [--bin target/release/aistack] [--sizes 1000,5000,20000] [--runs 3]

For each size: generates a stack (gen_stack.py), times `aistack build` (best of --runs) and
measures the output (files, bytes). On the same output it times `kubectl kustomize` (render
the manifests) and `terraform fmt -check` (read and format-check the Terraform) when those
tools are on the PATH, and reports the ratios. Writes bench/out/build_scaling.json.
A benchmark, not a test: it asserts nothing."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

def best(cmd, runs, **kw):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            return None, r.stderr.decode()[-300:]
    return min(times), None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent / "target/release/aistack"))
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    rows = []
    kubectl, terraform = shutil.which("kubectl"), shutil.which("terraform")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in a.sizes.split(",")):
            src = os.path.join(tmp, f"s{n}.ai-stack")
            with open(src, "w") as f:
                subprocess.run([sys.executable, str(HERE / "gen_stack.py"), str(n)], stdout=f, check=True)
            lines = sum(1 for _ in open(src))
            out = os.path.join(tmp, f"out{n}")
            build, err = best([a.bin, "build", src, "-o", out], a.runs)
            if build is None:
                sys.exit(f"aistack build failed on {n} lines: {err}")
            files = [p for p in Path(out).rglob("*") if p.is_file()]
            row = {"lines": lines, "build_s": build, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
            if kubectl:
                t, err = best([kubectl, "kustomize", os.path.join(out, "kubernetes")], a.runs)
                row["kustomize_s"] = t
            if terraform:
                t, err = best([terraform, "fmt", "-check", "-recursive", os.path.join(out, "terraform")], a.runs,
                              env=dict(os.environ, CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull))
                row["terraform_fmt_s"] = t
            rows.append(row)
    print(f"{'lines':>7} {'build s':>8} {'files':>6} {'MiB':>6} {'kustomize s':>12} {'ratio':>6} {'tf fmt s':>9} {'ratio':>6}")
    for r in rows:
        k, t = r.get("kustomize_s"), r.get("terraform_fmt_s")
        kr = f"{k / r['build_s']:.1f}x" if k else "-"
        tr = f"{t / r['build_s']:.1f}x" if t else "-"
        print(f"{r['lines']:>7} {r['build_s']:>8.3f} {r['files']:>6} {r['bytes'] / 1048576:>6.1f} "
              f"{(f'{k:.3f}' if k else '-'):>12} {kr:>6} {(f'{t:.3f}' if t else '-'):>9} {tr:>6}")
    print("ratio = that tool's time on aistack's own output / aistack build time (higher: aistack is faster)")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "build_scaling.json").write_text(json.dumps(rows, indent=2))

main()
