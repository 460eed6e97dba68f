"""The module-level API: references, async and sync calls, inside and outside a running loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import pytest

import llmswitch as ls
from llmswitch.api import parse_model_ref
from tests.fakes.openai_server import VALID_KEY


@pytest.fixture
def compat_env(openai_fake, monkeypatch: pytest.MonkeyPatch) -> str:
    """The generic openai-compatible provider configured only through its env vars."""
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", openai_fake[1])
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", VALID_KEY)
    from llmswitch import api

    api.reset_provider_cache()
    yield "openai-compatible"
    api.reset_provider_cache()


def test_model_ref_splits_on_first_colon() -> None:
    assert parse_model_ref("ollama:llama3.2:3b") == ("ollama", "llama3.2:3b")
    assert parse_model_ref("openai") == ("openai", None)
    with pytest.raises(ls.ConfigError):
        parse_model_ref("")


def test_unknown_provider_is_config_error() -> None:
    with pytest.raises(ls.ConfigError, match="unknown provider 'nope'"):
        ls.complete("nope:model", "hi")


async def test_acomplete_and_astream(compat_env: str) -> None:
    resp = await ls.acomplete(f"{compat_env}:gpt-test", "hi")
    assert resp.text == "Hello! How can I help?"
    async with ls.astream(f"{compat_env}:gpt-test", "hi") as s:
        chunks = [t async for t in s.text()]
        final = await s.final()
    assert "".join(chunks) == final.text
    assert final.provider == "openai-compatible"


@pytest.mark.parametrize("alias", ["compatible", "openai_compatible", "OpenAI-Compatible"])
async def test_every_alias_create_provider_accepts_works_in_a_reference(compat_env: str, alias: str) -> None:
    """One alias table: what ``create_provider`` takes, ``complete("ALIAS:model")`` takes too."""
    ls.create_provider(alias)
    resp = await ls.acomplete(f"{alias}:gpt-test", "hi")
    assert resp.text == "Hello! How can I help?"


async def test_module_api_follows_env_changes_like_a_notebook_user_expects(openai_fake, monkeypatch: pytest.MonkeyPatch) -> None:
    """First call without a key fails; the user sets the env var and calls again: it works, with
    no reset_provider_cache(). Pointing the base URL elsewhere is followed the same way."""
    from llmswitch import api

    api.reset_provider_cache()
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", openai_fake[1])
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    try:
        with pytest.raises(ls.AuthenticationError):
            await ls.acomplete("openai-compatible:gpt-test", "hi")
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", VALID_KEY)
        assert (await ls.acomplete("openai-compatible:gpt-test", "hi")).text == "Hello! How can I help?"
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:9/v1")
        with pytest.raises(ls.ProviderConnectionError, match="127.0.0.1:9"):
            await ls.acomplete("openai-compatible:gpt-test", "hi")
    finally:
        api.reset_provider_cache()


async def test_model_detected_when_omitted(compat_env: str) -> None:
    resp = await ls.acomplete(compat_env, "hi")
    assert resp.model.startswith("gpt-test")


def test_sync_complete_from_plain_code(compat_env: str) -> None:
    resp = ls.complete(f"{compat_env}:gpt-test", "hi", timeout=10)
    assert resp.text == "Hello! How can I help?"


def test_sync_stream(compat_env: str) -> None:
    with ls.stream(f"{compat_env}:gpt-test", "hi", timeout=10) as s:
        texts = list(s.text())
        final = s.final()
    assert texts == ["Hello", "! How can", " I help?"]
    assert final.usage.output_tokens == 7


async def test_sync_complete_inside_running_loop(compat_env: str) -> None:
    """Jupyter runs cells inside a loop; the sync API must still work there."""
    assert asyncio.get_running_loop().is_running()
    resp = ls.complete(f"{compat_env}:gpt-test", "hi", timeout=10)
    assert resp.finish_reason == "stop"


def test_sync_from_many_threads(compat_env: str) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(ls.complete(f"{compat_env}:gpt-test", "hi", timeout=10).text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == ["Hello! How can I help?"] * 8


def test_sync_timeout_is_provider_timeout(compat_env: str) -> None:
    with pytest.raises(ls.ProviderTimeoutError):
        ls.complete(f"{compat_env}:gpt-slow", "hi", timeout=0.3)


def test_sync_errors_keep_their_class(compat_env: str) -> None:
    with pytest.raises(ls.ModelNotFoundError):
        ls.complete(f"{compat_env}:gpt-missing", "hi", timeout=10)


def test_tool_from_function_schema() -> None:
    def search(query: str, limit: int = 5, mode: Literal["fast", "deep"] = "fast", tags: list[str] | None = None) -> str:
        """Search the docs."""
        return ""

    tool = ls.Tool.from_function(search)
    props = tool.parameters["properties"]
    assert tool.description == "Search the docs."
    assert tool.parameters["required"] == ["query"]
    assert props["limit"] == {"type": "integer", "default": 5}
    assert props["mode"]["enum"] == ["fast", "deep"]
    assert props["tags"]["type"] == "array"
