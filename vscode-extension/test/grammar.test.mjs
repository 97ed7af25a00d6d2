// Grammar tests beyond the annotated samples (node:test):
// - every scope the grammar can assign is asserted in some test/grammar/*.ai-stack sample;
// - the real stacks of the repository (stdlib/, examples/, and ../shared/design/examples when
//   present) tokenize without an `invalid.*` token, and every construct is closed at the end
//   of each file (the rule stack is back at the top level).

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const vt = require("vscode-textmate");
const onig = require("vscode-oniguruma");
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const repo = resolve(root, "..");
const grammarPath = join(root, "syntaxes", "ai-stack.tmLanguage.json");
const raw = JSON.parse(readFileSync(grammarPath, "utf8"));

/** Every scope name the grammar declares (name, contentName and capture names). */
function declaredScopes(node, out = new Set()) {
  if (Array.isArray(node)) {
    node.forEach((n) => declaredScopes(n, out));
  } else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if ((k === "name" || k === "contentName") && typeof v === "string" && k !== "$schema") {
        v.split(/\s+/).forEach((s) => out.add(s));
      } else {
        declaredScopes(v, out);
      }
    }
  }
  return out;
}

/** The scopes named in the assertions of the annotated samples. */
function assertedScopes() {
  const dir = join(here, "grammar");
  const out = new Set();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".ai-stack"))) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const m = /^\/\/\s*(?:\^+|<-+)\s+(.*)$/.exec(line);
      if (m !== null) m[1].split(/\s+/).filter((s) => s !== "-").forEach((s) => out.add(s));
    }
  }
  return out;
}

test("every scope of the grammar is asserted by an annotated sample", () => {
  delete raw.name; // the grammar's display name, not a scope
  const declared = declaredScopes(raw.repository);
  const asserted = assertedScopes();
  assert.ok(declared.size > 40, `only ${declared.size} scopes found`);
  const missing = [...declared].filter((s) => !asserted.has(s)).sort();
  assert.deepEqual(missing, [], "scopes never asserted in test/grammar/*.ai-stack");
});

async function loadGrammar() {
  const wasm = readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await onig.loadWASM(wasm);
  const registry = new vt.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s) => new onig.OnigScanner(s),
      createOnigString: (s) => new onig.OnigString(s),
    }),
    loadGrammar: async () => vt.parseRawGrammar(readFileSync(grammarPath, "utf8"), grammarPath),
  });
  return registry.loadGrammar("source.ai-stack");
}

function stacks(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? stacks(p) : p.endsWith(".ai-stack") ? [p] : [];
  });
}

test("the repository's stacks tokenize with no invalid token and every construct closed", async () => {
  const grammar = await loadGrammar();
  const files = [
    ...stacks(join(repo, "stdlib")),
    ...stacks(join(repo, "examples")),
    ...stacks(resolve(repo, "..", "shared", "design", "examples")).filter((f) => !f.includes("/errors/")),
  ];
  assert.ok(files.length >= 10, `only ${files.length} stacks found`);
  const problems = [];
  for (const file of files) {
    let stack = vt.INITIAL;
    readFileSync(file, "utf8").split(/\r?\n/).forEach((line, i) => {
      const r = grammar.tokenizeLine(line, stack, 1000);
      for (const t of r.tokens) {
        const bad = t.scopes.find((s) => s.startsWith("invalid."));
        if (bad !== undefined) problems.push(`${file}:${i + 1}:${t.startIndex + 1}: ${bad} on \`${line.slice(t.startIndex, t.endIndex)}\``);
      }
      stack = r.ruleStack;
    });
    if (stack.depth !== 1) problems.push(`${file}: ${stack.depth - 1} construct(s) still open at the end of the file`);
  }
  assert.deepEqual(problems, []);
});
