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
    # the CLI reports the same codes
    cli = subprocess.run([BIN, "check", "--format", "json", str(tmp_path / "main.ai-stack")], capture_output=True, text=True)
    import json
    assert sorted(x["code"] for x in json.loads(cli.stdout)["diagnostics"]) == sorted(codes)
    # fixing it clears the diagnostics (after the debounce)
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
