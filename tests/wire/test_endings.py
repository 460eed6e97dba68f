"""How streams end, told truthfully (issue 12): calls without ``index`` stay separate, an error
finish raises, a cut stream is a retryable ``ProviderConnectionError`` on every wire, a 200
JSON error body on a stream raises the mapped error, and providers apply their read limits.
Wire-level cases drive the iterators directly; provider-level ones use a scripted server on
127.0.0.1 (``tests/fakes/scripted_server.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch._wire import openai_chat
from llmswitch.management.ollama import OllamaClient
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.ollama import OllamaProvider
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.types import Response, TextDelta, ToolCallDelta
from tests.fakes.scripted_server import ScriptedServer
from tests.wire.helpers import assert_valid_stream, chunks, drain

URL = "http://127.0.0.1:9/v1/chat/completions"


def sse(*objs: Any, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chat_stream(body: bytes | list[bytes], *, expect_usage: bool = False) -> list[Any]:
    acc = openai_chat.ChatStreamAccumulator(provider="fake", model="m", url=URL, expect_usage=expect_usage)
    return drain(openai_chat.iter_stream(chunks([body] if isinstance(body, bytes) else body), acc))


def choice(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **top}


USAGE = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}


# --- tool calls without index ------------------------------------------------------------------


def test_two_whole_tool_calls_without_index_are_two_calls() -> None:
    items = chat_stream(sse(
        choice({"tool_calls": [{"id": "a", "type": "function", "function": {"name": "q", "arguments": '{"q":1}'}}]}),
        choice({"tool_calls": [{"id": "b", "type": "function", "function": {"name": "r", "arguments": '{"r":2}'}}]}),
        choice(finish="tool_calls"),
    ))
    resp = assert_valid_stream(items)
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [("a", "q", {"q": 1}), ("b", "r", {"r": 2})]
    assert [e.index for e in items if isinstance(e, ToolCallDelta)] == [0, 1]


def test_fragments_without_index_or_id_continue_the_call() -> None:
    resp = chat_stream(sse(
        choice({"tool_calls": [{"id": "a", "function": {"name": "q", "arguments": ""}}]}),
        choice({"tool_calls": [{"function": {"arguments": '{"q":'}}]}),
        choice({"tool_calls": [{"id": "a", "function": {"arguments": "1}"}}]}),  # a server repeating the id
        choice(finish="tool_calls"),
    ))[-1]
    assert [(c.id, c.arguments) for c in resp.tool_calls] == [("a", {"q": 1})]


def test_calls_without_index_or_id_split_on_a_new_function_name() -> None:
    resp = chat_stream(sse(
        choice({"tool_calls": [{"function": {"name": "q", "arguments": "{}"}}]}),
        choice({"tool_calls": [{"function": {"name": "r", "arguments": "{}"}}]}),
        choice(finish="tool_calls"),
    ))[-1]
    assert [c.name for c in resp.tool_calls] == ["q", "r"]


# --- error finishes ----------------------------------------------------------------------------


def test_finish_reason_error_raises_retryable_unavailable() -> None:
    with pytest.raises(E.ProviderUnavailableError, match='finish_reason "error"') as info:
        chat_stream(sse(choice({"content": "Hel"}), choice(finish="error")))
    assert info.value.retryable and info.value.url == URL


def test_finish_reason_error_with_error_object_raises_the_mapped_error() -> None:
    chunk = choice({"content": ""}, "error", error={"code": 429, "message": "Rate limit exceeded"})
    with pytest.raises(E.RateLimitError):
        chat_stream(sse(chunk))


def test_non_streamed_finish_reason_error_raises() -> None:
    body = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hel"}, "finish_reason": "error"}]}
    with pytest.raises(E.ProviderUnavailableError):
        openai_chat.parse_response(body, provider="fake", url=URL)


# --- cut streams -------------------------------------------------------------------------------


def test_usage_asked_and_no_done_after_finish_is_a_cut_stream() -> None:
    with pytest.raises(E.ProviderConnectionError, match="usage") as info:
        chat_stream(sse(choice({"content": "hi"}), choice(finish="stop"), done=False), expect_usage=True)
    assert info.value.retryable


def test_usage_not_asked_and_no_done_after_finish_is_complete() -> None:
    resp = chat_stream(sse(choice({"content": "hi"}), choice(finish="stop"), done=False))[-1]
    assert isinstance(resp, Response) and resp.text == "hi" and not resp.usage.known


def test_usage_asked_and_received_with_done_is_complete() -> None:
    resp = chat_stream(sse(choice({"content": "hi"}), choice(finish="stop"), USAGE), expect_usage=True)[-1]
    assert resp.usage.known and resp.usage.output_tokens == 4


@pytest.mark.parametrize("tail", [b'data: {"id":"c1","choices":[],"usa', b'data: {"id":"c1","choices":[],"usage":{}}\n'])
def test_unfinished_event_pending_at_eof_is_a_cut_stream(tail: bytes) -> None:
    body = sse(choice({"content": "hi"}), choice(finish="stop"), done=False) + tail
    with pytest.raises(E.ProviderConnectionError, match="unfinished event"):
        chat_stream(body)


def test_done_without_its_blank_line_still_ends_the_stream() -> None:
    body = sse(choice({"content": "hi"}), choice(finish="stop"), USAGE, done=False) + b"data: [DONE]\n"
    assert chat_stream(body, expect_usage=True)[-1].text == "hi"


# --- through providers, against a scripted server ----------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer().start()
    try:
        yield s
    finally:
        s.stop()


async def _final(provider: Any, **kw: Any) -> tuple[list[Any], Response]:
    events: list[Any] = []
    try:
        async with provider.stream("Hi", model="m", **kw) as s:
            async for ev in s:
                events.append(ev)
            return events, await s.final()
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    "body, cls",
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, E.ProviderUnavailableError),
        ({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}, E.AuthenticationError),
        ({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}, E.InvalidRequestError),
    ],
)
async def test_anthropic_stream_answered_with_200_json_error_raises_mapped(server: ScriptedServer, body: Any, cls: type) -> None:
    server.serve(json.dumps(body).encode(), content_type="application/json")
    with pytest.raises(cls) as info:
        await _final(AnthropicProvider(base_url=server.url, api_key="test-key-1234"))
    assert not isinstance(info.value, E.ProviderConnectionError)  # not "ended before message_stop"


async def test_anthropic_stream_answered_with_a_whole_message_yields_it(server: ScriptedServer) -> None:
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "Hello"}],
           "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
    server.serve(json.dumps(msg).encode(), content_type="application/json")
    events, final = await _final(AnthropicProvider(base_url=server.url, api_key="test-key-1234"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello"] and final.text == "Hello"


async def test_ollama_stream_answered_with_200_json_error_raises_mapped(server: ScriptedServer) -> None:
    server.serve(json.dumps({"error": "model 'm' not found"}, indent=2).encode(), content_type="application/json")
    with pytest.raises(E.ModelNotFoundError, match="not found"):
        await _final(OllamaProvider(base_url=server.url))


async def test_ollama_stream_answered_with_a_whole_answer_yields_it(server: ScriptedServer) -> None:
    server.serve(json.dumps({"model": "m", "message": {"role": "assistant", "content": "Hi!"}, "done": True}).encode(),
                 content_type="application/json")
    events, final = await _final(OllamaProvider(base_url=server.url))
    assert final.text == "Hi!" and [e.text for e in events if isinstance(e, TextDelta)] == ["Hi!"]


@pytest.mark.parametrize("cut", [False, True], ids=["body-ends-mid-line", "connection-dropped"])
async def test_ollama_chat_stream_cut_mid_line_is_retryable(server: ScriptedServer, cut: bool) -> None:
    server.serve([b'{"message":{"content":"The"},"done":false}\n', b'{"message":{"cont'], content_type="application/x-ndjson", cut=cut)
    with pytest.raises(E.ProviderConnectionError) as info:
        await _final(OllamaProvider(base_url=server.url))
    assert info.value.retryable


async def test_ollama_pull_cut_mid_line_is_retryable(server: ScriptedServer) -> None:
    server.serve([b'{"status":"pulling manifest"}\n', b'{"status":"pulling abc","total":10'], content_type="application/x-ndjson")
    client = OllamaClient(server.url)
    seen = []
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            async for p in client.pull_model("m"):
                seen.append(p.status)
    finally:
        await client.aclose()
    assert info.value.retryable and seen == ["pulling manifest"]


async def test_openai_stream_cut_after_finish_is_retryable(server: ScriptedServer) -> None:
    """OpenAIProvider asks for the usage chunk, so a stream ending after the finish reason
    without ``[DONE]`` lost it: a retryable cut, not a Response with ``usage.known=False``."""
    server.serve(sse(choice({"content": "hi"}), choice(finish="stop"), done=False))
    with pytest.raises(E.ProviderConnectionError, match="usage"):
        await _final(OpenAIProvider(base_url=server.url + "/v1", api_key="test-key-1234"))
    assert server.requests[-1][1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "make, body, ctype",
    [
        (lambda u: OpenAIProvider(base_url=u + "/v1", api_key="k-1234", max_line_bytes=1000),
         b'data: {"x":"' + b"a" * 5000 + b'"}\n\n', "text/event-stream"),
        (lambda u: AnthropicProvider(base_url=u, api_key="k-1234", max_event_bytes=1000),
         b"event: message_start\n" + b"data: {}\n" * 400 + b"\n", "text/event-stream"),
        (lambda u: OllamaProvider(base_url=u, max_line_bytes=1000), b'{"message":{"content":"' + b"a" * 5000, "application/x-ndjson"),
    ],
    ids=["openai-line", "anthropic-event", "ollama-line"],
)
async def test_providers_apply_their_read_limits_to_streams(server: ScriptedServer, make: Any, body: bytes, ctype: str) -> None:
    server.serve([body[i : i + 512] for i in range(0, len(body), 512)], content_type=ctype)
    with pytest.raises(E.ResponseTooLargeError, match="=1000; raise max_"):
        await _final(make(server.url))
