"""The fakes under ``tests/fakes/`` are what the rest of the suite trusts: one per API, each citing
the section of ``../shared/reference/wire-protocols.md`` it follows, and behaving as that section
says where the suite relies on it (auth only where the real server takes it, documented errors)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import anthropic_server, openai_server
from tests.fakes._threaded import ThreadedServer
from tests.fakes.ollama_server import FakeOllama

FAKES = Path(__file__).parent / "fakes"
ONE_PER_API = {
    "openai_server.py": "FakeOpenAI",
    "anthropic_server.py": "FakeAnthropic",
    "openrouter_server.py": "FakeOpenRouter",
    "ollama_server.py": "FakeOllama",
    "lmstudio_server.py": "FakeLMStudio",
}


@pytest.mark.parametrize("module", [*ONE_PER_API, "hostile_server.py"])
def test_each_fake_cites_the_wire_protocols_section_it_follows(module: str) -> None:
    doc = ast.get_docstring(ast.parse((FAKES / module).read_text())) or ""
    assert re.search(r"wire-protocols\.md[^\n]*§\d", doc.replace("\n", " ")), f"{module} cites no wire-protocols.md section"


def test_one_fake_class_per_api_and_one_threaded_server() -> None:
    """Three ``FakeOpenAI``s and two threaded-server helpers once drifted apart; keep it at one each:
    a ``Fake*`` class that builds an ``app`` lives in ``tests/fakes/`` under its API's name, and only
    ``tests/fakes/_threaded.py`` sets up an aiohttp ``AppRunner``."""
    servers: dict[str, list[str]] = {}
    runners: list[str] = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = str(path.relative_to(FAKES.parent))
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name.startswith("Fake")
                    and any(isinstance(f, ast.FunctionDef) and f.name == "app" for f in node.body)):
                servers.setdefault(node.name, []).append(where)
            if isinstance(node, ast.Attribute) and node.attr == "AppRunner":
                runners.append(where)
    assert servers == {name: [f"fakes/{module}"] for module, name in ONE_PER_API.items()}
    assert sorted(set(runners)) == ["fakes/_threaded.py"]


async def test_anthropic_fake_takes_the_key_only_in_x_api_key(anthropic_fake: tuple[anthropic_server.FakeAnthropic, str]) -> None:
    """§5.1: ``x-api-key`` carries an API key; ``Authorization: Bearer`` is for OAuth tokens."""
    _, url = anthropic_fake
    body = {"model": "claude-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    version = {"anthropic-version": anthropic_server.VERSION}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/v1/messages", json=body, headers={"Authorization": f"Bearer {anthropic_server.VALID_KEY}", **version}) as r:
            assert r.status == 401
            assert (await r.json())["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
        async with http.post(url + "/v1/messages", json=body, headers={"x-api-key": anthropic_server.VALID_KEY, "anthropic-version": "2099-01-01"}) as r:
            assert r.status == 400
        async with http.post(url + "/v1/messages", json=body, headers={"x-api-key": anthropic_server.VALID_KEY, **version}) as r:
            assert r.status == 200
            assert (await r.json())["content"] == [{"type": "text", "text": "Hello! How can I help?"}]


async def test_openai_fake_without_a_key_is_a_keyless_local_server() -> None:
    """``key=None``: a server started without ``--api-key`` takes any request (§2.3)."""
    fake, server = openai_server.start(["local-model"], key=None)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(fake.base_url + "/models") as r:
                assert [m["id"] for m in (await r.json())["data"]] == ["local-model"]
            async with http.post(fake.base_url + "/chat/completions", json={"model": "local-model", "messages": []}) as r:
                assert r.status == 200
                assert (await r.json())["choices"][0]["message"]["content"] == "Hello! How can I help?"
    finally:
        server.stop()
        server.stop()  # stopping twice is harmless: fixtures and tests may both stop a server


async def test_ollama_fake_v1_unknown_model_is_the_documented_404(ollama: FakeOllama) -> None:
    """§1.10: Ollama's ``/v1`` answers an unknown model in the OpenAI error shape."""
    async with aiohttp.ClientSession() as http, http.post(ollama.url + "/v1/chat/completions", json={"model": "nope", "messages": []}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["message"] == 'model "nope" not found, try pulling it first'
    assert ollama.paths == ["/v1/chat/completions"]


def test_threaded_server_serves_from_its_own_thread() -> None:
    from aiohttp import web

    with ThreadedServer(web.Application) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
