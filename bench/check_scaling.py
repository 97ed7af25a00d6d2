#!/usr/bin/env python3
"""Benchmark: `aistack check` time and peak memory on generated stacks of growing size.

usage: bench/check_scaling.py [--bin target/release/aistack] [--sizes 1000,10000,100000,200000] [--runs 3]

Generates each stack with gen_stack.py, runs `aistack check` --runs times, and reports the
best wall time, the peak resident memory of that process (from wait4), the cost per line
and how that cost changes with size (1.00 = perfectly linear). Prints a table and writes
bench/out/check_scaling.json. This is a benchmark, not a test: it asserts nothing."""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

def run_once(binary: str, path: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "check", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent / "target/release/aistack"))
    ap.add_argument("--sizes", default="1000,10000,50000,100000,200000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"stack-{n}.ai-stack")
            with open(path, "w") as f:
                subprocess.run([sys.executable, str(HERE / "gen_stack.py"), str(n)], stdout=f, check=True)
            lines = sum(1 for _ in open(path))
            results = [run_once(args.bin, path) for _ in range(args.runs)]
            codes = {r[2] for r in results}
            if codes != {0}:
                sys.exit(f"aistack check failed on the generated {n}-line stack (exit {codes})")
            wall = min(r[0] for r in results)
            rss = max(r[1] for r in results)
            rows.append({"lines": lines, "seconds": wall, "peak_kib": rss, "us_per_line": wall / lines * 1e6})
    base = rows[0]["us_per_line"]
    print(f"{'lines':>9} {'check s':>9} {'peak MiB':>9} {'µs/line':>8} {'vs smallest':>11}")
    for r in rows:
        r["per_line_vs_smallest"] = r["us_per_line"] / base
        print(f"{r['lines']:>9} {r['seconds']:>9.3f} {r['peak_kib'] / 1024:>9.1f} {r['us_per_line']:>8.2f} {r['per_line_vs_smallest']:>11.2f}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "check_scaling.json").write_text(json.dumps({"binary": args.bin, "runs": args.runs, "rows": rows}, indent=2))

main()
