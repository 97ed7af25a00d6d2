// Snippet tests (node:test): every standard-library kind has a snippet that sets all of its
// required fields, and the snippets expanded with their default placeholders form a stack
// that the real `aistack check` accepts with no errors.
//
// The binary is `$AISTACK_BIN`, else `../target/release/aistack`; without one, the check test
// fails rather than being skipped, unless AISTACK_SKIP_BINARY=1 says so explicitly.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const repo = resolve(root, "..");
const snippets = JSON.parse(readFileSync(join(root, "snippets", "ai-stack.json"), "utf8"));

/** The schemas of the standard library with their required fields (no default, not optional). */
function stdlibSchemas() {
  const dir = join(repo, "stdlib");
  const schemas = new Map();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ai-stack"))) {
    const src = readFileSync(join(dir, file), "utf8");
    for (const m of src.matchAll(/^schema (\w+)[^{\n]*\{\n([\s\S]*?)^\}/gm)) {
      const required = [];
      for (const line of m[2].split("\n")) {
        const f = /^\s*(\w+):\s*(.*)$/.exec(line);
        if (f === null) continue;
        const beforeWhere = f[2].split(/\swhere\s/)[0];
        const type = beforeWhere.split(/\s=\s/)[0].trim();
        if (!/\s=\s/.test(beforeWhere) && !type.endsWith("?")) required.push(f[1]);
      }
      schemas.set(m[1], required);
    }
  }
  return schemas;
}

/** A snippet body with every placeholder replaced by its default (the first choice of a choice). */
export function expand(body) {
  let text = body.join("\n").replace(/\\\$/g, "\u0000");
  for (let i = 0; i < 10; i++) {
    const next = text
      .replace(/\$\{\d+\|([^,|]*)[^|]*\|\}/g, "$1")
      .replace(/\$\{\d+:((?:[^{}]|\{[^{}]*\})*)\}/g, "$1")
      .replace(/\$\d+/g, "");
    if (next === text) break;
    text = next;
  }
  return text.replace(/\u0000/g, "$").replace(/\t/g, "  ");
}

test("expand resolves nested placeholders, choices and escaped dollars", () => {
  assert.equal(expand(['import "${1:./m/${2:x}.ai-stack}"$0']), 'import "./m/x.ai-stack"');
  assert.equal(expand(["a = ${1|warm,hot|}", "b = \\$${2:3}/h"]), "a = warm\nb = $3/h");
});

test("every standard-library kind has a snippet setting all its required fields", () => {
  const schemas = stdlibSchemas();
  assert.ok(schemas.size >= 20, `found only ${schemas.size} schemas in stdlib/`);
  for (const [kind, required] of schemas) {
    const snippet = snippets[kind];
    assert.ok(snippet !== undefined, `no snippet for the kind \`${kind}\``);
    const text = expand(snippet.body);
    assert.match(text, new RegExp(`^${kind} \\w+ \\{`, "m"), `snippet \`${kind}\` does not declare a ${kind}`);
    for (const field of required) {
      assert.match(text, new RegExp(`^\\s*${field}\\s*=`, "m"), `snippet \`${kind}\` misses the required field \`${field}\``);
    }
  }
});

test("the language snippets exist: stack, import, param, let, schema, enum, assert", () => {
  for (const name of ["stack", "import", "param", "let", "schema", "enum", "assert"]) {
    assert.ok(snippets[name] !== undefined, `no snippet \`${name}\``);
    assert.ok(expand(snippets[name].body).startsWith(name === "param" || name === "schema" || name === "enum" || name === "stack" ? "///" : name));
  }
});

function binary() {
  const fromEnv = process.env.AISTACK_BIN;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const built = join(repo, "target", "release", "aistack");
  return existsSync(built) ? built : undefined;
}

test("the expanded snippets form a stack that aistack check accepts with no errors", { skip: process.env.AISTACK_SKIP_BINARY === "1" }, () => {
  const bin = binary();
  assert.ok(bin !== undefined, "no aistack binary: build it (cargo build --release) or set AISTACK_BIN");
  // Declarations only: the import and assert snippets are statements of their own, checked above.
  const skip = new Set(["import", "assert"]);
  const parts = Object.entries(snippets)
    .filter(([name]) => !skip.has(name))
    .map(([, s]) => expand(s.body));
  const dir = mkdtempSync(join(tmpdir(), "aistack-snippets-"));
  try {
    const file = join(dir, "main.ai-stack");
    writeFileSync(file, parts.join("\n") + "\n");
    let out;
    try {
      out = execFileSync(bin, ["check", "--format", "json", file], { encoding: "utf8" });
    } catch (err) {
      out = err.stdout; // exit 1 when there are errors: read them below
    }
    const report = JSON.parse(out);
    const errors = report.diagnostics.filter((d) => d.severity === "error");
    assert.deepEqual(
      errors.map((d) => `${d.code} ${d.line}:${d.column} ${d.message}`),
      [],
      "the expanded snippets do not check",
    );
    assert.equal(report.errors, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
