"""Fields of the wrong type, wire by wire: a ``ProviderError`` saying "unexpected response shape"
with an excerpt and a hint naming the API, never AttributeError/TypeError/ValueError/KeyError
(issue 12). Harmless readings (``index: null`` is no index) are not errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch._wire import anthropic, ollama, openai_chat
from tests.wire.helpers import assert_valid_response, assert_valid_stream, chunks, drain

URL = "http://127.0.0.1:9/x"


def _shape(exc: E.ProviderError, api: str) -> None:
    assert "unexpected response shape" in exc.message, exc
    assert exc.hint == f"is this server speaking the {api} API?"
    assert exc.provider == "fake" and exc.url == URL


# --- OpenAI Chat Completions -------------------------------------------------------------------

OPENAI_OK = {
    "id": "chatcmpl-1",
    "model": "gpt",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}},
}


def _set(body: Any, path: str, value: Any) -> Any:
    body = json.loads(json.dumps(body))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = body
    for p in parents:
        node = node[p]
    node[last] = value
    return body


OPENAI_BAD = [
    ("choices", {"0": {}}),
    ("choices", "abc"),
    ("choices", 5),
    ("choices.0", "x"),
    ("choices.0.message", "text"),
    ("choices.0.message.content", 5),
    ("choices.0.message.content", {"text": "x"}),
    ("choices.0.message.tool_calls", {"id": "c1"}),
    ("choices.0.message.tool_calls.0", "call"),
    ("choices.0.message.tool_calls.0.id", 7),
    ("choices.0.message.tool_calls.0.function", "f"),
    ("choices.0.message.tool_calls.0.function.name", ["f"]),
    ("choices.0.message.tool_calls.0.function.arguments", 3),
    ("choices.0.finish_reason", ["stop"]),
    ("usage", [1, 2]),
    ("usage.prompt_tokens", "many"),
    ("usage.prompt_tokens", float("inf")),
    ("usage.prompt_tokens_details", [0]),
    ("model", 4),
    ("id", {"a": 1}),
]


@pytest.mark.parametrize("path,value", OPENAI_BAD, ids=[f"{p}={v!r}" for p, v in OPENAI_BAD])
def test_openai_wrong_typed_field_is_a_shape_error(path: str, value: Any) -> None:
    with pytest.raises(E.ProviderError) as info:
        openai_chat.parse_response(_set(OPENAI_OK, path, value), provider="fake", url=URL)
    _shape(info.value, "OpenAI Chat Completions")


def test_openai_unmutated_body_is_valid() -> None:
    assert_valid_response(openai_chat.parse_response(OPENAI_OK, provider="fake", url=URL))


def _chunk(delta: Any, **choice: Any) -> dict[str, Any]:
    return {"id": "c", "model": "gpt", "choices": [{"index": 0, "delta": delta, **choice}]}


STREAM_BAD = [
    {"id": "c", "choices": {"0": {"delta": {}}}},
    {"id": "c", "choices": [{"delta": "text"}]},
    _chunk({"content": 5}),
    _chunk({"reasoning": ["x"]}),
    _chunk({"tool_calls": {"index": 0}}),
    _chunk({"tool_calls": ["call"]}),
    _chunk({"tool_calls": [{"index": "0", "function": {"name": "f"}}]}),
    _chunk({"tool_calls": [{"index": 1.5, "function": {"name": "f"}}]}),
    _chunk({"tool_calls": [{"index": 0, "id": 9}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 9}}]}),
    _chunk({}, finish_reason=["stop"]),
    {"id": "c", "choices": [], "usage": [1]},
    {"id": "c", "choices": [], "usage": {"prompt_tokens": "x"}},
    {"id": 5, "choices": []},
    {"id": "c", "model": ["m"], "choices": []},
]


@pytest.mark.parametrize("chunk", STREAM_BAD, ids=[json.dumps(c)[:60] for c in STREAM_BAD])
def test_openai_wrong_typed_chunk_field_is_a_shape_error(chunk: dict[str, Any]) -> None:
    acc = openai_chat.ChatStreamAccumulator(provider="fake", model="m", url=URL)
    body = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
    with pytest.raises(E.ProviderError) as info:
        drain(openai_chat.iter_stream(chunks([body]), acc))
    _shape(info.value, "OpenAI Chat Completions")


def test_openai_null_index_reads_as_no_index() -> None:
    acc = openai_chat.ChatStreamAccumulator(provider="fake", model="m", url=URL)
    acc.feed(_chunk({"tool_calls": [{"index": None, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}, finish_reason="tool_calls"))
    assert [(c.id, c.name) for c in acc.result().tool_calls] == [("a", "f")]


# --- Anthropic Messages ------------------------------------------------------------------------

ANTHROPIC_OK = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 1, "output_tokens": 2},
}

ANTHROPIC_BAD = [
    ("content", "hi"),
    ("content", {"type": "text"}),
    ("content.0.text", 5),
    ("content.1.id", 5),
    ("content.1.name", {"n": 1}),
    ("stop_reason", ["end_turn"]),
    ("usage", [1]),
    ("model", 3),
    ("id", ["x"]),
]


@pytest.mark.parametrize("path,value", ANTHROPIC_BAD, ids=[f"{p}={v!r}" for p, v in ANTHROPIC_BAD])
def test_anthropic_wrong_typed_field_is_a_shape_error(path: str, value: Any) -> None:
    with pytest.raises(E.ProviderError) as info:
        anthropic.parse_response(_set(ANTHROPIC_OK, path, value), provider="fake", url=URL)
    _shape(info.value, "Anthropic Messages")


def test_anthropic_error_body_with_odd_type_is_still_an_llmswitch_error() -> None:
    with pytest.raises(E.ProviderError):
        anthropic.parse_response({"type": "error", "error": {"type": ["overloaded_error"], "message": "x"}}, provider="fake")


EVENTS_BAD = [
    {"type": "message_start", "message": "m"},
    {"type": "message_start", "message": {"id": 1}},
    {"type": "message_start", "message": {"usage": [1]}},
    {"type": "content_block_start", "index": "0", "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_start", "index": 0, "content_block": "text"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": 5}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": 5, "name": "f"}},
    {"type": "content_block_delta", "index": [0], "delta": {"type": "text_delta", "text": "x"}},
    {"type": "content_block_delta", "index": 0, "delta": "x"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": {}}},
    {"type": "message_delta", "delta": {"stop_reason": 1}},
    {"type": "message_delta", "delta": "x"},
    {"type": "message_delta", "delta": {}, "usage": [2]},
]


@pytest.mark.parametrize("event", EVENTS_BAD, ids=[json.dumps(e)[:70] for e in EVENTS_BAD])
def test_anthropic_wrong_typed_event_field_is_a_shape_error(event: dict[str, Any]) -> None:
    acc = anthropic.MessagesStreamAccumulator(provider="fake", model="m", url=URL)
    acc.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    with pytest.raises(E.ProviderError) as info:
        acc.feed(event)
    _shape(info.value, "Anthropic Messages")


# --- Ollama ------------------------------------------------------------------------------------

OLLAMA_OK = {
    "model": "llama3.2",
    "message": {"role": "assistant", "content": "hi", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 3,
    "eval_count": 4,
    "eval_duration": 1000,
}

OLLAMA_BAD = [
    ("message", "hi"),
    ("message", ["hi"]),
    ("message.content", 5),
    ("message.thinking", {"t": 1}),
    ("message.tool_calls", {"function": {}}),
    ("message.tool_calls.0", "call"),
    ("message.tool_calls.0.function", "f"),
    ("message.tool_calls.0.function.name", 5),
    ("message.tool_calls.0.function.arguments", [1, 2]),
    ("message.tool_calls.0.id", 5),
    ("prompt_eval_count", "many"),
    ("eval_duration", "long"),
    ("done_reason", ["stop"]),
    ("model", 5),
]


@pytest.mark.parametrize("path,value", OLLAMA_BAD, ids=[f"{p}={v!r}" for p, v in OLLAMA_BAD])
def test_ollama_wrong_typed_field_is_a_shape_error(path: str, value: Any) -> None:
    acc = ollama.OllamaChatAccumulator(provider="fake", model="m", url=URL)
    line = json.dumps(_set(OLLAMA_OK, path, value)).encode() + b"\n"
    with pytest.raises(E.ProviderError) as info:
        drain(ollama.iter_chat_stream(chunks([line]), acc))
    _shape(info.value, "Ollama")


def test_ollama_unmutated_line_is_valid() -> None:
    acc = ollama.OllamaChatAccumulator(provider="fake", model="m", url=URL)
    resp = assert_valid_stream(drain(ollama.iter_chat_stream(chunks([json.dumps(OLLAMA_OK).encode()]), acc)))
    assert resp.tool_calls[0].arguments == {"a": 1}
