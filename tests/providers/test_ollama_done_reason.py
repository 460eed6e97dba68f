"""Every documented Ollama ``done_reason`` (wire-protocols.md §1.8: ``stop``, ``length``,
``load``, ``unload``) through the native ``/api/chat``: llmswitch's normalised ``finish_reason``,
plain and streamed."""

from __future__ import annotations

import pytest

from llmswitch.providers.ollama import OllamaProvider
from llmswitch.types import Response
from tests.fakes.ollama_server import ChatScript, FakeOllama

# done_reason -> llmswitch finish_reason (load/unload end a turn that generated nothing more)
DONE = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


@pytest.fixture
async def provider(ollama: FakeOllama):
    for reason in DONE:
        ollama.add_model(f"done-{reason}", script=ChatScript(chunks=["Hi", " there."], done_reason=reason))
    p = OllamaProvider(base_url=ollama.url)
    yield p
    await p.aclose()


async def _call(p: OllamaProvider, model: str, streamed: bool, **params) -> Response:
    if not streamed:
        return await p.complete("hi", model=model, **params)
    async with p.stream("hi", model=model, **params) as s:
        return await s.final()


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("reason", list(DONE))
async def test_done_reason_normalised(provider: OllamaProvider, ollama: FakeOllama, reason: str, streamed: bool) -> None:
    resp = await _call(provider, f"done-{reason}", streamed)
    assert resp.finish_reason == DONE[reason]
    assert resp.text == "Hi there."
    assert ollama.last("/api/chat")["stream"] is streamed


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_num_predict_cuts_the_answer_with_length(provider: OllamaProvider, ollama: FakeOllama, streamed: bool) -> None:
    """The server's own ``length``: ``max_tokens`` goes out as ``options.num_predict``."""
    resp = await _call(provider, "gemma3:270m", streamed, max_tokens=2)
    assert ollama.last("/api/chat")["options"] == {"num_predict": 2}
    assert resp.finish_reason == "length"
    assert resp.text == "The sky"
