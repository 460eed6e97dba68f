"""OllamaClient against the fake server: tags, ps, show, pull, delete, version."""

from __future__ import annotations

import socket

import pytest

from llmswitch import errors as E
from llmswitch.management.ollama import OllamaClient, PullProgress
from tests.fakes.ollama_server import FakeOllama


@pytest.fixture
async def client(ollama: FakeOllama):
    async with OllamaClient(ollama.url) as c:
        yield c


async def test_version_and_is_running(client: OllamaClient) -> None:
    assert await client.version() == "0.12.10"
    assert await client.is_running() is True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with OllamaClient(f"127.0.0.1:{port}") as down:
        assert await down.is_running() is False
        with pytest.raises(E.ProviderConnectionError):
            await down.version()


async def test_list_models_and_running(client: OllamaClient) -> None:
    tags = {m.id: m for m in await client.list_models()}
    assert tags["gemma3:270m"].parameter_size == "268.10M" and tags["gemma3:270m"].loaded is None
    assert tags["nomic-embed-text:latest"].metadata["format"] == "gguf"
    running = await client.list_running()
    assert [m.id for m in running] == ["qwen3:8b"]
    assert running[0].loaded is True and running[0].context_length == 8192
    assert running[0].metadata["size_vram"] == 2019393189 and running[0].metadata["expires_at"]


async def test_show_parses_parameters_context_and_capabilities(client: OllamaClient) -> None:
    info = await client.get_model_info("qwen3:8b")
    assert info.capabilities == ["completion", "tools", "thinking"]
    assert info.supports("tools") is True and info.supports("vision") is False
    assert info.context_length == 131072 and info.num_ctx == 8192
    assert info.parameters["stop"] == ["<|start_header_id|>", "<|eot_id|>"] and info.parameters["temperature"] == 0.6
    assert info.template.startswith("{{ if .System }}") and info.family == "qwen3"


async def test_show_of_missing_model_hints_pull(client: OllamaClient) -> None:
    with pytest.raises(E.ModelNotFoundError) as info:
        await client.get_model_info("nope:1b")
    assert info.value.status_code == 404 and "llmswitch pull nope:1b" in str(info.value)


async def test_pull_streams_progress_to_success(client: OllamaClient, ollama: FakeOllama) -> None:
    events: list[PullProgress] = [p async for p in client.pull_model("tinyllama")]
    assert events[0].status == "pulling manifest" and events[-1].done
    layers = {e.digest for e in events if e.digest}
    assert len(layers) == 2
    for digest in layers:
        last = [e for e in events if e.digest == digest][-1]
        assert last.fraction == 1.0 and last.completed == last.total
    first_layer = next(e for e in events if e.digest)
    assert first_layer.completed is None and first_layer.fraction == 0.0  # `completed` absent at first
    assert first_layer.layer == "dde5aa3fc5ff" and first_layer.status == "pulling dde5aa3fc5ff"
    assert ollama.last("/api/pull") == {"model": "tinyllama", "stream": True}
    assert "tinyllama:latest" in {m.id for m in await client.list_models()}


async def test_pull_of_unknown_model_raises_the_error_line(client: OllamaClient) -> None:
    seen: list[PullProgress] = []
    with pytest.raises(E.ModelNotFoundError, match="file does not exist") as info:
        async for p in client.pull_model("no-such-model"):
            seen.append(p)
    assert [p.status for p in seen] == ["pulling manifest"]
    assert info.value.status_code == 200 and "ollama.com/library" in info.value.hint


async def test_pull_with_bad_name_is_rejected_before_streaming(client: OllamaClient) -> None:
    with pytest.raises(E.InvalidRequestError, match="is invalid") as info:
        async for _ in client.pull_model("bad name"):
            pass
    assert info.value.status_code == 400


async def test_delete(client: OllamaClient, ollama: FakeOllama) -> None:
    assert await client.delete_model("gemma3:270m") is True
    assert "gemma3:270m" not in ollama.models
    assert ollama.last("/api/delete") == {"model": "gemma3:270m"}
    with pytest.raises(E.ModelNotFoundError) as info:
        await client.delete_model("gemma3:270m")
    assert info.value.status_code == 404
    assert info.value.message == "model 'gemma3:270m' not found"
