"""End-to-end tests of the aistack language server: the real binary over stdio, driven by a
real LSP client (pytest-lsp), with assertions on what each request returns.

Run with `AISTACK_BIN=target/release/aistack pytest tests/lsp` (`.ci/run` does)."""
import asyncio
import os
import pathlib
import shutil
import subprocess

import pytest
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("AISTACK_BIN", str(ROOT / "target/release/aistack"))
EXAMPLE = ROOT / "examples/llm-chat/main.ai-stack"

STACK = """stack demo { cloud = aws, region = "us-east-1", cluster = "c", namespace = "n" }

/// Weights bucket.
storage models { tier = warm, backend = s3, bucket = "demo-models", encryption = kms }

/// A small model.
model small {
  store          = models
  path           = "small"
  version        = "1.0.0"
  digest         = "sha256:fb5fddcdc76518b37eccc473060da81aa47f306179e544891d3e43832639d373"
  parameters     = 1e9
  context_length = 2048
}

gpu_pool l4 {
  gpu           = L4
  gpus_per_node = 1
  nodes         = 1..2
}

service chat {
  model    = small
  pool     = l4
  replicas = 1..2
}
"""


SERVER = os.environ.get("AISTACK_LSP", "").split() or [BIN, "lsp"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path_factory):
    await lsp_client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


def write(tmp: pathlib.Path, text: str, name: str = "main.ai-stack") -> str:
    p = tmp / name
    p.write_text(text)
    return p.as_uri()


def pos(text: str, needle: str, nth: int = 0, offset: int = 0) -> t.Position:
    """Position of the `nth` occurrence of `needle` (plus `offset` characters)."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += offset
    line = text.count("\n", 0, i)
    col = i - (text.rfind("\n", 0, i) + 1)
    return t.Position(line=line, character=col)


async def open_doc(client: LanguageClient, uri: str, text: str) -> list:
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="ai-stack", version=1, text=text)))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return client.diagnostics.get(uri, [])


def doc(uri: str) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=uri)


@pytest.mark.asyncio
async def test_diagnostics_on_open_and_change(client: LanguageClient, tmp_path):
    bad = STACK.replace("pool     = l4", "pool     = l5")
    uri = write(tmp_path, bad)
    diags = await open_doc(client, uri, bad)
    codes = [d.code for d in diags]
    assert "E0201" in codes, diags
    d = next(d for d in diags if d.code == "E0201")
    assert d.range.start == pos(bad, "l5") and "unknown name `l5`" in d.message
    assert "did you mean `l4`" in d.message
    assert d.code_description is not None and d.code_description.href.endswith("/E0201")
    # A policy rule links to its rule page, not to the codes.
    unpinned = STACK.replace('  digest         = "sha256:fb5fddcdc76518b37eccc473060da81aa47f306179e544891d3e43832639d373"\n', "")
    unpinned += "\npolicy baseline {\n  encryption_at_rest = required\n}\n"
    (tmp_path / "policy").mkdir()
    uri2 = write(tmp_path / "policy", unpinned)
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri2, language_id="ai-stack", version=1, text=unpinned)))
    for _ in range(100):
        if any(d.code == "AIS104" for d in client.diagnostics.get(uri2, [])):
            break
        await asyncio.sleep(0.1)
    rule = next((d for d in client.diagnostics.get(uri2, []) if d.code == "AIS104"), None)
    assert rule is not None, pdiags
    assert rule.code_description is not None and rule.code_description.href.endswith("/docs/rules/AIS104")
    # the CLI reports the same codes
    cli = subprocess.run([BIN, "check", "--format", "json", str(tmp_path / "main.ai-stack")], capture_output=True, text=True)
    import json
    assert sorted(x["code"] for x in json.loads(cli.stdout)["diagnostics"]) == sorted(codes)
    # fixing it clears the diagnostics (the check of version 2)
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=STACK)]))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d for d in client.diagnostics[uri] if d.severity == t.DiagnosticSeverity.Error] == []


@pytest.mark.asyncio
async def test_hover_shows_docs_types_and_facts(client: LanguageClient, tmp_path):
    uri = write(tmp_path, STACK)
    await open_doc(client, uri, STACK)
    # a use of a declaration: its kind, its doc comment
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(STACK, "model    = small", 0, 11)))
    assert h is not None and "model small" in h.contents.value and "A small model." in h.contents.value
    # a field: its type from the stdlib schema, and its documentation
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(STACK, "gpus_per_node")))
    assert "gpu_pool.gpus_per_node: int" in h.contents.value
    # a pool: instance type and worst-case monthly cost computed by the compiler
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(STACK, "l4 {")))
    assert "g6.xlarge" in h.contents.value or "g6." in h.contents.value, h.contents.value
    assert "per month" in h.contents.value


@pytest.mark.asyncio
async def test_completion(client: LanguageClient, tmp_path):
    text = STACK.replace("  replicas = 1..2\n", "  replicas = 1..2\n  \n")
    uri = write(tmp_path, text)
    await open_doc(client, uri, text)
    at = pos(text, "  \n}", 0, 2)
    items = await client.text_document_completion_async(t.CompletionParams(text_document=doc(uri), position=at))
    labels = {i.label for i in items}
    assert {"engine", "rollout", "autoscale"} <= labels, labels
    assert "model" not in labels and "pool" not in labels  # already set
    # enum variants after `tier = `
    text2 = STACK.replace("tier = warm", "tier = w")
    uri2 = write(tmp_path, text2, "b.ai-stack")
    await open_doc(client, uri2, text2)
    items = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri2), position=pos(text2, "tier = w", 0, 8)))
    assert [i.label for i in items] == ["warm"], [i.label for i in items]
    # references of the right kind only after `pool = `
    items = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri), position=pos(text, "pool     = l4", 0, 11)))
    assert [i.label for i in items] == ["l4"]
    # units after a number, signals after `metric.`
    text3 = STACK.replace("  replicas = 1..2\n", "  replicas = 1..2\n  autoscale = { when = metric.q, cooldown = 5 }\n")
    uri3 = write(tmp_path, text3, "c.ai-stack")
    await open_doc(client, uri3, text3)
    items = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri3), position=pos(text3, "metric.q", 0, 8)))
    assert [i.label for i in items] == ["queue_depth"]
    items = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri3), position=pos(text3, "cooldown = 5", 0, 12)))
    assert {"5m", "5s", "5GiB"} <= {i.label for i in items}


@pytest.mark.asyncio
async def test_definition_references_and_rename(client: LanguageClient, tmp_path):
    uri = write(tmp_path, STACK)
    await open_doc(client, uri, STACK)
    loc = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc(uri), position=pos(STACK, "= l4", 0, 2)))
    assert loc.uri == uri and loc.range.start == pos(STACK, "l4 {")
    # into the standard library: the kind `gpu_pool`
    loc = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc(uri), position=pos(STACK, "gpu_pool")))
    assert loc.uri.endswith(".ai-stack") and "stdlib" in loc.uri, loc.uri
    assert pathlib.Path(loc.uri.removeprefix("file://")).read_text().count("schema gpu_pool") == 1
    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=doc(uri), position=pos(STACK, "= models", 0, 2), context=t.ReferenceContext(include_declaration=True)))
    assert sorted(r.range.start.line for r in refs) == [pos(STACK, "storage models").line, pos(STACK, "store          = models").line]
    edit = await client.text_document_rename_async(
        t.RenameParams(text_document=doc(uri), position=pos(STACK, "model small", 0, 6), new_name="tiny"))
    spans = sorted((e.range.start.line, e.range.start.character) for e in edit.changes[uri])
    a, b = pos(STACK, "model small", 0, 6), pos(STACK, "model    = small", 0, 11)
    assert spans == [(a.line, a.character), (b.line, b.character)]
    # renaming onto an existing name is refused
    with pytest.raises(Exception, match="already declared"):
        await client.text_document_rename_async(
            t.RenameParams(text_document=doc(uri), position=pos(STACK, "model small", 0, 6), new_name="chat"))


@pytest.mark.asyncio
async def test_symbols_tokens_formatting_actions_hints(client: LanguageClient, tmp_path):
    uri = write(tmp_path, STACK)
    await open_doc(client, uri, STACK)
    syms = await client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc(uri)))
    assert [(s.name, s.detail) for s in syms] == [
        ("demo", "stack"), ("models", "storage"), ("small", "model"), ("l4", "gpu_pool"), ("chat", "service")]
    ws = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="cha"))
    assert [s.name for s in ws] == ["chat"]
    toks = await client.text_document_semantic_tokens_full_async(t.SemanticTokensParams(text_document=doc(uri)))
    assert len(toks.data) % 5 == 0 and len(toks.data) > 50
    assert list(toks.data[:5]) == [0, 0, 5, 0, 0]  # `stack` at 0:0, length 5, keyword
    messy = STACK.replace("  gpu           = L4", "      gpu = L4")
    uri2 = write(tmp_path, messy, "messy.ai-stack")
    await open_doc(client, uri2, messy)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=doc(uri2), options=t.FormattingOptions(tab_size=2, insert_spaces=True)))
    formatted = subprocess.run([BIN, "fmt", "--check", str(tmp_path / "messy.ai-stack")], capture_output=True)
    assert formatted.returncode == 1 and len(edits) == 1 and edits[0].new_text == STACK
    typo = STACK.replace("pool     = l4", "pool     = l5")
    uri3 = write(tmp_path, typo, "typo.ai-stack")
    diags = await open_doc(client, uri3, typo)
    d = next(d for d in diags if d.code == "E0201")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri3), range=d.range, context=t.CodeActionContext(diagnostics=[d])))
    assert [a.title for a in actions] == ["Replace with `l4`"]
    assert actions[0].edit.changes[uri3][0].new_text == "l4"
    hints = await client.text_document_inlay_hint_async(t.InlayHintParams(
        text_document=doc(uri), range=t.Range(start=t.Position(line=0, character=0), end=t.Position(line=99, character=0))))
    assert len(hints) == 1 and hints[0].position == pos(STACK, "l4 {", 0, 2)
    assert "/month" in hints[0].label or "month" in hints[0].label or "$" in hints[0].label


@pytest.mark.asyncio
async def test_typing_an_example_character_by_character_never_crashes(client: LanguageClient, tmp_path):
    full = EXAMPLE.read_text()
    uri = write(tmp_path, "")
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="ai-stack", version=1, text="")))
    step = int(os.environ.get("AISTACK_TYPE_STEP", "1"))
    for n in range(0, len(full) + 1, step):
        text = full[:n]
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=n + 2),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))
        line = text.count("\n")
        col = len(text) - (text.rfind("\n") + 1)
        at = t.Position(line=line, character=col)
        try:
            await asyncio.wait_for(
                client.text_document_completion_async(t.CompletionParams(text_document=doc(uri), position=at)), 10)
            await asyncio.wait_for(
                client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=at)), 10)
        except asyncio.TimeoutError:
            pytest.fail(f"no answer within 10 s after typing {n} characters: ...{text[-80:]!r}")
    # the server is still alive and answers about the whole file
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(full, "l40s", 1)))
    assert h is not None and "gpu_pool l40s" in h.contents.value


def apply(text: str, edits: list) -> str:
    """`text` with LSP text edits applied (ranges of the original text)."""
    lines = text.split("\n")
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
    off = lambda p: starts[p.line] + p.character
    for e in sorted(edits, key=lambda e: off(e.range.start), reverse=True):
        text = text[:off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


async def change(client: LanguageClient, uri: str, text: str, version: int) -> list:
    """Sends the whole new text and waits for the diagnostics of that version."""
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))
    while True:
        params = await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        if params.uri == uri and params.version == version:
            return params.diagnostics


@pytest.mark.asyncio
async def test_hover_on_a_subexpression_shows_its_type_and_value(client: LanguageClient, tmp_path):
    text = STACK.replace('encryption = kms }', 'encryption = kms, size = 2 * 40GiB }')
    uri = write(tmp_path, text)
    diags = await open_doc(client, uri, text)
    assert [d for d in diags if d.severity == t.DiagnosticSeverity.Error] == [], diags
    # on `*`: the whole product, a size of 80 GiB
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(text, "* 40GiB")))
    assert h is not None and "2 * 40GiB: size" in h.contents.value, h.contents.value
    assert "value: `80.0 GiB`" in h.contents.value, h.contents.value
    assert h.range.start == pos(text, "2 * 40GiB") and h.range.end == pos(text, "2 * 40GiB", 0, 9)
    # on the literal: the literal alone
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(text, "40GiB", 0, 1)))
    assert "40GiB: size" in h.contents.value and "2 *" not in h.contents.value, h.contents.value
    # an int
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(text, "= 2048", 0, 3)))
    assert "2048: int" in h.contents.value, h.contents.value


@pytest.mark.asyncio
async def test_requests_right_after_an_edit_elsewhere_answer_for_the_new_text(client: LanguageClient, tmp_path):
    uri = write(tmp_path, STACK)
    await open_doc(client, uri, STACK)
    # two blank lines typed inside `model small`'s body: every line below moves down by two
    edited = STACK.replace("model small {\n", "model small {\n\n\n")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=edited)]))
    # asked at once, before the new check: positions are those of the new text
    loc = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc(uri), position=pos(edited, "= l4", 0, 2)))
    assert loc.uri == uri and loc.range.start == pos(edited, "l4 {"), loc
    h = await client.text_document_hover_async(
        t.HoverParams(text_document=doc(uri), position=pos(edited, "model    = small", 0, 11)))
    assert "model small" in h.contents.value and h.range.start == pos(edited, "model    = small", 0, 11), h
    # typing a field name in the service's body completes it from the new text
    typing = edited.replace("  replicas = 1..2\n", "  replicas = 1..2\n  eng\n")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=typing)]))
    items = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri), position=pos(typing, "  eng\n", 0, 5)))
    assert [i.label for i in items] == ["engine", "engine_args"], [i.label for i in items]
    # renaming a declaration is not an edit an older analysis can answer for
    renamed = typing.replace("gpu_pool l4", "gpu_pool l8").replace("= l4", "= l8")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=4),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=renamed)]))
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=pos(renamed, "= l8", 0, 2)))
    assert h is not None and "gpu_pool l8" in h.contents.value, h


@pytest.mark.asyncio
async def test_code_action_adds_required_fields(client: LanguageClient, tmp_path):
    text = STACK.replace("  model    = small\n  pool     = l4\n", "")
    uri = write(tmp_path, text)
    diags = await open_doc(client, uri, text)
    missing = [d for d in diags if d.code == "E0211"]
    assert sorted(d.message.split("`")[1] for d in missing) == ["model", "pool"], diags
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri), range=missing[0].range, context=t.CodeActionContext(diagnostics=missing)))
    add = [a for a in actions if a.title.startswith("Add required field")]
    assert [a.title for a in add] == ["Add required fields `model`, `pool`"], [a.title for a in actions]
    fixed = apply(text, add[0].edit.changes[uri])
    # the placeholders are declarations of the referenced kinds, laid out as `aistack fmt` would
    assert "service chat {\n  replicas = 1..2\n  model    = small\n  pool     = l4\n}" in fixed, fixed
    diags = await change(client, uri, fixed, 2)
    assert [d for d in diags if d.severity == t.DiagnosticSeverity.Error] == [], diags
    path = tmp_path / "fixed.ai-stack"
    path.write_text(fixed)
    assert subprocess.run([BIN, "fmt", "--check", str(path)], capture_output=True).returncode == 0
    # a nested record: an enum placeholder is its first variant
    nested = STACK.replace("  replicas = 1..2\n", "  replicas = 1..2\n  autoscale = { cooldown = 5m }\n")
    uri2 = write(tmp_path, nested, "nested.ai-stack")
    diags = await open_doc(client, uri2, nested)
    missing = [d for d in diags if d.code == "E0211"]
    assert missing and all("of autoscale" in d.message for d in missing), diags
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri2), range=missing[0].range, context=t.CodeActionContext(diagnostics=missing)))
    add = [a for a in actions if a.title.startswith("Add required field")]
    assert len(add) == 1, [a.title for a in actions]
    fixed = apply(nested, add[0].edit.changes[uri2])
    assert "autoscale = {" in fixed and "when" in fixed.split("autoscale = {")[1].split("}")[0], fixed
    diags = await change(client, uri2, fixed, 2)
    assert [d for d in diags if d.code == "E0211"] == [], diags


@pytest.mark.asyncio
async def test_code_action_raises_tensor_parallel_to_the_smallest_that_fits(client: LanguageClient, tmp_path):
    # 20e9 bf16 parameters are 37 GiB of weights: one 24 GB L4 cannot hold them, two cannot
    # either with the KV cache; the pool's nodes have 4 GPUs.
    big = (STACK.replace("parameters     = 1e9", "parameters     = 20e9")
           .replace("gpus_per_node = 1", "gpus_per_node = 4"))
    uri = write(tmp_path, big)
    diags = await open_doc(client, uri, big)
    fit = [d for d in diags if d.code == "E0403"]
    assert len(fit) == 1 and "set tensor_parallel = " in fit[0].message, diags
    want = fit[0].message.split("set tensor_parallel = ")[1].split(" ")[0]
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri), range=fit[0].range, context=t.CodeActionContext(diagnostics=fit)))
    raise_tp = [a for a in actions if a.title.startswith("Raise `tensor_parallel`")]
    assert [a.title for a in raise_tp] == [f"Raise `tensor_parallel` to {want}"], [a.title for a in actions]
    fixed = apply(big, raise_tp[0].edit.changes[uri])
    assert f"tensor_parallel = {want}\n" in fixed, fixed
    diags = await change(client, uri, fixed, 2)
    assert [d for d in diags if d.code in ("E0403", "E0404")] == [], diags
    # the smallest: one less does not fit
    if int(want) > 1:
        fewer = fixed.replace(f"tensor_parallel = {want}", f"tensor_parallel = {int(want) - 1}")
        diags = await change(client, uri, fewer, 3)
        assert [d.code for d in diags if d.code in ("E0403", "E0404")], diags
    # already set: the value is replaced
    set_low = fixed.replace(f"tensor_parallel = {want}", "tensor_parallel = 1")
    diags = await change(client, uri, set_low, 4)
    fit = [d for d in diags if d.code == "E0403"]
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri), range=fit[0].range, context=t.CodeActionContext(diagnostics=fit)))
    raise_tp = [a for a in actions if a.title.startswith("Raise `tensor_parallel`")]
    again = apply(set_low, raise_tp[0].edit.changes[uri])
    assert again.count("tensor_parallel") == 1 and f"tensor_parallel = {want}" in again, again
