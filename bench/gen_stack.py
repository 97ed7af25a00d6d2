#!/usr/bin/env python3
"""Generate a valid .ai-stack of about N lines: storage, models, pools, services, monitors.

usage: gen_stack.py LINES > stack.ai-stack
Every unit is a realistic group (a model on its own pool, served with a canary rollout and
watched by a monitor), so the checker does the same work per line at every size."""
import sys

def unit(i: int) -> str:
    return f'''
/// Model {i}, pinned.
model m{i} {{
  store          = artifacts
  path           = "models/m{i}"
  version        = "1.0.{i}"
  digest         = "sha256:{i:064x}"
  parameters     = 8.03e9
  precision      = bf16
  context_length = 8192
  layers         = 32
  kv_heads       = 8
  head_dim       = 128
}}

gpu_pool p{i} {{
  gpu           = L40S
  gpus_per_node = 1
  nodes         = 0..2
  capacity      = spot
}}

service svc{i} {{
  model     = m{i}
  pool      = p{i}
  engine    = vllm
  replicas  = 1..2
  max_batch = 16
  autoscale = {{ when = metric.queue_depth > 8, cooldown = 5m }}
  rollout   = canary {{
    steps      = [10%, 50%, 100%]
    interval   = 10m
    abort_when = metric.error_rate > 2% || metric.p95_latency > 2s
  }}
}}

monitor w{i} {{
  target = svc{i}
  alert slow {{
    when     = metric.p95_latency > 2s
    lasting  = 10m
    severity = page
  }}
}}
'''

def main() -> None:
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = ['stack bench {\n  cloud     = aws\n  region    = "us-east-1"\n  cluster   = "bench"\n  namespace = "bench"\n}\n',
           'storage artifacts {\n  tier       = warm\n  backend    = s3\n  bucket     = "bench-artifacts"\n  versioned  = true\n  encryption = kms\n}\n']
    lines, i = 14, 0
    while lines < target:
        u = unit(i)
        out.append(u)
        lines += u.count("\n")
        i += 1
    out.append(f'\nbudget monthly {{\n  limit  = ${max(1, i) * 5_000}/month\n  alerts = [80%, 100%]\n}}\n')
    sys.stdout.write("".join(out))

main()
