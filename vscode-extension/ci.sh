#!/usr/bin/env bash
# CI for the VS Code extension: install from the lockfile, type-check, bundle, run the grammar
# tests (annotated samples with vscode-tmgrammar-test, then the node:test suites: scope
# coverage, the repository's stacks, snippets checked by the real binary), package a .vsix
# and check what it contains. Exits non-zero on any failure.
#
# The snippet test runs `aistack check`: $AISTACK_BIN, else ../target/release/aistack.
set -euo pipefail
cd "$(dirname "$0")"

echo "-- npm ci"
npm ci --no-audit --no-fund

echo "-- type-check (tsc --noEmit)"
npx tsc --noEmit -p .

echo "-- bundle (esbuild)"
rm -rf dist
npm run -s bundle
test -s dist/extension.js

echo "-- grammar tests (vscode-tmgrammar-test)"
samples=(test/grammar/*.ai-stack)
assertions=$(grep -cE '^//\s*(\^+|<-+)\s' "${samples[@]}" | awk -F: '{s += $2} END {print s + 0}')
npx vscode-tmgrammar-test -g syntaxes/ai-stack.tmLanguage.json "${samples[@]}"
echo "grammar: ${#samples[@]} passed, 0 failed ($assertions scope assertions)"

echo "-- node tests (grammar coverage, repository stacks, snippets)"
node --test test/

echo "-- package (vsce)"
rm -f ./*.vsix
npx vsce package --no-dependencies --allow-missing-repository --out "aistack-$(node -p 'require("./package.json").version').vsix"
vsix=$(ls ./*.vsix)
listing=$(unzip -l "$vsix")
for f in extension/package.json extension/dist/extension.js extension/syntaxes/ai-stack.tmLanguage.json \
  extension/snippets/ai-stack.json extension/language-configuration.json extension/LICENSE.txt extension/readme.md; do
  if ! grep -q " $f\$" <<<"$listing"; then
    echo "$vsix does not contain $f" >&2
    echo "$listing" >&2
    exit 1
  fi
done
if grep -qE ' extension/(src|test|node_modules)/' <<<"$listing"; then
  echo "$vsix ships sources, tests or node_modules" >&2
  exit 1
fi
echo "vsix: $vsix ($(wc -c <"$vsix") bytes, $(grep -c ' extension/' <<<"$listing") files)"
