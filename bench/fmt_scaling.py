#!/usr/bin/env python3
"""Benchmark: `aistack fmt` (and `aistack check`, which parses the same input) time on inputs
of growing size, for four shapes of input.

usage: bench/fmt_scaling.py [--bin target/release/aistack] [--sizes 1e3,1e4,1e5,1e6,1e7]
                            [--runs 3] [--tmp DIR] [--commands fmt,check]

Shapes: `blank` (a stack then blank lines), `comments` (runs of `///` doc comments and `//`
comments between declarations), `flat` (many unindented `let` lines and single-line fields)
and `nested` (multi-line objects and lists four levels deep, unindented). Each input is cut
to about the given size in bytes, written badly indented so fmt has work to do, and timed
with `aistack fmt --check` (no write) --runs times. Reported: the best wall time, the best
CPU time (user + system, steadier than wall time on a shared machine), peak memory (with a
floor of about 14 MiB, the size of the spawning Python process), CPU per
KB and the growth of the CPU time from the previous size (about 10 for ten times the bytes
when fmt is linear, once process start-up no longer dominates; 100 would be quadratic). Prints a table
and writes bench/out/fmt_scaling.json. This is a benchmark, not a test: it asserts nothing
about time (it only stops when fmt reports a syntax error, which would make the numbers
meaningless)."""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STACK = 'stack s { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }\n'

def unit(shape: str, i: int) -> str:
    """One repeatable chunk of input of the given shape."""
    if shape == "blank":
        return "\n"
    if shape == "comments":
        return f"/// Doc comment {i} for the next declaration.\n// plain comment {i}\n"
    if shape == "flat":
        return f"let value_{i} = {i} + 1\nlet name_{i}   =   \"n{i}\"\n"
    return (f"let n{i} = {{\na = [\n1,\n{{ b = [\n2,\n3,\n] }},\n],\nlong_name = {{\nc = \"x\"\n"
            f"d = [{{ e = {i} }}]\n}}\n}}\n")

def generate(shape: str, size: int) -> str:
    parts, n, i = [STACK], len(STACK), 0
    while n < size:
        chunk = unit(shape, i)
        if shape == "comments" and i % 50 == 49:
            chunk += f"let c{i} = {i}\n"
        parts.append(chunk)
        n += len(chunk)
        i += 1
    return "".join(parts)

def run_once(binary: str, path: str, err_path: str, command: str = "fmt") -> tuple[float, float, int, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS KiB, exit code, stderr."""
    # posix_spawn (vfork-like on Linux), so the child's peak memory does not start from a
    # copy of this Python process's.
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    start = time.perf_counter()
    argv = [binary, "fmt", "--check", path] if command == "fmt" else [binary, "check", "--format", "json", path]
    pid = os.posix_spawn(binary, argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), Path(err_path).read_text(errors="replace")

def count(path: str) -> tuple[int, int]:
    """Bytes and lines of a file, read in chunks."""
    length = lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            length += len(chunk)
            lines += chunk.count(b"\n")
    return length, lines

def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--write":
        Path(sys.argv[4]).write_text(generate(sys.argv[2], int(sys.argv[3])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent / "target/release/aistack"))
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmp", default=None, help="folder for the generated inputs (default: the system's)")
    ap.add_argument("--commands", default="fmt", help="fmt, check or both (fmt,check)")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for command in args.commands.split(","):
          for shape in ["blank", "comments", "flat", "nested"]:
            prev = None
            for size in sizes:
                path = os.path.join(tmp, f"{shape}-{size}.ai-stack")
                # Written by a child process, so this one stays small: a spawned child's peak
                # memory starts from its parent's.
                if not os.path.exists(path):
                    subprocess.run([sys.executable, __file__, "--write", shape, str(size), path], check=True)
                length, lines = count(path)
                results = [run_once(args.bin, path, path + ".err", command) for _ in range(args.runs)]
                for *_, code, err in results:
                    if code not in (0, 1) or "not formatted" in err:
                        sys.exit(f"aistack {command} failed on {shape} at {size} bytes (exit {code}): {err[:500]}")
                wall = min(r[0] for r in results)
                cpu = min(r[1] for r in results)
                per_kb = cpu / (length / 1024) * 1e6
                growth = cpu / prev["cpu_seconds"] if prev and prev["cpu_seconds"] > 0 else None
                prev = {"command": command, "shape": shape, "bytes": length, "lines": lines, "seconds": wall,
                        "cpu_seconds": cpu, "peak_kib": max(r[2] for r in results), "cpu_us_per_kb": per_kb,
                        "cpu_vs_previous_size": growth}
                rows.append(prev)
    print(f"{'command':>7} {'shape':>9} {'bytes':>10} {'lines':>9} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'cpu µs/KB':>10}"
          f" {'cpu vs prev':>11}")
    for r in rows:
        growth = "" if r["cpu_vs_previous_size"] is None else f"{r['cpu_vs_previous_size']:.1f}x"
        print(f"{r['command']:>7} {r['shape']:>9} {r['bytes']:>10} {r['lines']:>9} {r['seconds']:>8.3f} {r['cpu_seconds']:>8.3f} "
              f"{r['peak_kib'] / 1024:>9.1f} {r['cpu_us_per_kb']:>10.1f} {growth:>11}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "fmt_scaling.json").write_text(json.dumps({"binary": args.bin, "runs": args.runs, "rows": rows}, indent=2))

main()
