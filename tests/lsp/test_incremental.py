"""The language server across edits: a newer edit stops the check of an older text (only the
newest version's diagnostics are published, and they are right), and an edit of one
declaration updates the errors it causes in another. The real binary over stdio (pytest-lsp)."""
import asyncio
import pathlib
import subprocess
import sys

import pytest
from lsprotocol import types as t
from pytest_lsp import LanguageClient

from test_server import STACK, change, client, open_doc, pos, write  # noqa: F401 (the fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def record_diagnostics(client: LanguageClient) -> list:
    """Every publishDiagnostics the server sends from now on, in order."""
    seen = []
    handle = client.protocol._handle_notification

    def recording(method, params):
        if method == t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            seen.append(params)
        return handle(method, params)

    client.protocol._handle_notification = recording
    return seen


def send(client: LanguageClient, uri: str, text: str, version: int):
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))


async def until_version(seen: list, uri: str, version: int):
    for _ in range(600):
        got = [p for p in seen if p.uri == uri and p.version == version]
        if got:
            return got[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no diagnostics for version {version}: got {[(p.version, len(p.diagnostics)) for p in seen]}")


@pytest.mark.asyncio
async def test_a_newer_edit_stops_the_check_of_the_older_text(client: LanguageClient, tmp_path):
    # 10,000 lines: a check takes tens of milliseconds, the edits arrive within one.
    text = subprocess.run([sys.executable, str(ROOT / "bench/gen_stack.py"), "10000"],
                          capture_output=True, text=True, check=True).stdout
    uri = write(tmp_path, text)
    assert list(await open_doc(client, uri, text)) == []
    seen = record_diagnostics(client)
    first = text.replace("pool      = p3\n", "pool      = p3x\n", 1)
    second = text.replace("pool      = p7\n", "pool      = p7y\n", 1)
    send(client, uri, first, 2)
    send(client, uri, second, 3)
    last = await until_version(seen, uri, 3)
    assert [p.version for p in seen if p.uri == uri] == [3] * len(seen), "only the newest version is published"
    assert [(d.code, d.range.start) for d in last.diagnostics] == [("E0201", pos(second, "p7y"))], last
    assert "unknown name `p7y`" in last.diagnostics[0].message
    # A burst of ten edits: the checks of the older texts stop, the newest is published.
    seen.clear()
    for v in range(4, 14):
        send(client, uri, text.replace("pool      = p5\n", f"pool      = p5v{v}\n", 1), v)
    last = await until_version(seen, uri, 13)
    assert {p.version for p in seen if p.uri == uri} == {13}, [p.version for p in seen]
    assert [d.code for d in last.diagnostics] == ["E0201"] and "`p5v13`" in last.diagnostics[0].message
    # And back to the valid text: the error goes.
    assert list(await change(client, uri, text, 14)) == []


@pytest.mark.asyncio
async def test_an_edit_of_one_declaration_updates_the_error_it_causes_in_another(client: LanguageClient, tmp_path):
    # The fit rule reports on the service what the model's size and the pool's GPUs decide.
    base = STACK.replace("gpus_per_node = 1", "gpus_per_node = 4")
    uri = write(tmp_path, base)
    assert [d for d in await open_doc(client, uri, base) if d.code == "E0403"] == []
    big = base.replace("parameters     = 1e9", "parameters     = 20e9")
    diags = await change(client, uri, big, 2)
    fit = [d for d in diags if d.code == "E0403"]
    assert len(fit) == 1 and fit[0].range.start.line >= pos(big, "service chat").line, diags
    # an edit of the pool alone (a GPU with more memory) makes the model fit
    fewer = big.replace("gpu           = L4", "gpu           = H100_80GB")
    diags = await change(client, uri, fewer, 3)
    assert [d for d in diags if d.code == "E0403"] == [], diags
    # back to the small model: no error, whatever was cached
    diags = await change(client, uri, base, 4)
    assert [d for d in diags if d.code == "E0403"] == [], diags
    diags = await change(client, uri, big, 5)
    assert [d.message for d in diags if d.code == "E0403"] == [fit[0].message], diags
