#!/usr/bin/env python3
"""Benchmark: language-server latency on a generated stack.

usage: bench/lsp_latency.py [--bin target/release/aistack] [--lines 10000] [--runs 40]

Starts `aistack lsp`, opens a generated stack (gen_stack.py) and measures, as an editor would
see them: diagnostics after an edit (didChange until publishDiagnostics for the file at that
version), completion and hover on an unchanged file, completion and hover right after an edit
elsewhere in the file, completion right after an edit on the cursor's own line (which needs a
new names-only analysis), and the server's peak memory (VmHWM from /proc/PID/status). Prints
p50/p95 per request and writes bench/out/lsp_latency.json. A benchmark, not a test: it
asserts nothing. terraform-ls is not in the package registries this project can use (Debian,
PyPI, npm, crates.io), so no side-by-side figure is taken. Set LSP_STDERR=FILE (with
AISTACK_LSP_TIMING=1) to keep the server's timing log."""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Client:
    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(os.environ.get("LSP_STDERR","/dev/null"),"w"))
        self.next_id = 0

    def send(self, method, params, request=True):
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()
        return msg.get("id")

    def read(self):
        length = 0
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("server closed its output")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(length))

    def request(self, method, params):
        rid = self.send(method, params)
        while True:
            m = self.read()
            if m.get("id") == rid and "method" not in m:
                return m

    def wait_diagnostics(self, uri, version=None):
        while True:
            m = self.read()
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri:
                if version is None or m["params"].get("version") == version:
                    return m


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent / "target/release/aistack"))
    ap.add_argument("--lines", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("HOME")) as tmp:
        path = Path(tmp) / "main.ai-stack"
        with open(path, "w") as f:
            subprocess.run([sys.executable, str(HERE / "gen_stack.py"), str(args.lines)], stdout=f, check=True)
        text = path.read_text()
        uri = path.as_uri()
        lines = text.split("\n")
        # a field line of a service body, for completion at its start and hover on its name
        target = next(i for i, l in enumerate(lines) if l.strip().startswith("replicas") and i > len(lines) // 2)
        col = len(lines[target]) - len(lines[target].lstrip())
        c = Client([args.bin, "lsp"])
        c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
        c.send("initialized", {}, request=False)
        t0 = time.perf_counter()
        c.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "ai-stack", "version": 1, "text": text}}, request=False)
        c.wait_diagnostics(uri)
        open_s = time.perf_counter() - t0
        res = {"diagnostics_after_edit": [], "completion": [], "hover": [], "completion_after_edit": [],
               "hover_after_edit": [], "completion_on_edited_line": []}
        pos = {"textDocument": {"uri": uri}, "position": {"line": target, "character": col + 2}}
        # the end of the line above the target, to type on the cursor's own line
        own = {"textDocument": {"uri": uri}, "position": {"line": target, "character": len(lines[target]) + 1}}
        for i in range(args.runs):
            edited = text.replace("max_batch = 8", f"max_batch = {8 + (i % 5) + 1}", 1) if "max_batch = 8" in text else text + f"\n// edit {i}\n"
            t0 = time.perf_counter()
            c.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 2},
                                              "contentChanges": [{"text": edited}]}, request=False)
            c.wait_diagnostics(uri, i + 2)
            res["diagnostics_after_edit"].append(time.perf_counter() - t0)
            for kind, method in (("completion", "textDocument/completion"), ("hover", "textDocument/hover")):
                t0 = time.perf_counter()
                c.request(method, pos)
                res[kind].append(time.perf_counter() - t0)
            c.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 1000 + i},
                                              "contentChanges": [{"text": edited + " "}]}, request=False)
            t0 = time.perf_counter()
            c.request("textDocument/completion", pos)
            res["completion_after_edit"].append(time.perf_counter() - t0)
            c.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2000 + i},
                                              "contentChanges": [{"text": edited + "  "}]}, request=False)
            t0 = time.perf_counter()
            c.request("textDocument/hover", pos)
            res["hover_after_edit"].append(time.perf_counter() - t0)
            # type a space at the end of the target line, then complete there
            typed = edited.split("\n")
            typed[target] = typed[target] + " "
            c.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3000 + i},
                                              "contentChanges": [{"text": "\n".join(typed)}]}, request=False)
            t0 = time.perf_counter()
            c.request("textDocument/completion", own)
            res["completion_on_edited_line"].append(time.perf_counter() - t0)
        status = Path(f"/proc/{c.p.pid}/status").read_text()
        hwm = next((int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM")), 0) / 1024
        c.request("shutdown", None)
        c.send("exit", None, request=False)
        c.p.wait(timeout=10)
    print(f"{len(lines):,} lines; open to first diagnostics {open_s * 1000:.0f} ms; server peak RSS {hwm:.0f} MiB")
    print(f"{'request':>26} {'p50 ms':>8} {'p95 ms':>8}")
    out = {"lines": len(lines), "open_ms": open_s * 1000, "peak_rss_mib": hwm}
    for k, xs in res.items():
        p50, p95 = pct(xs, 0.5) * 1000, pct(xs, 0.95) * 1000
        out[k] = {"p50_ms": p50, "p95_ms": p95}
        print(f"{k:>26} {p50:8.1f} {p95:8.1f}")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out/lsp_latency.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
