"""Unit tests of Ollama's native wire (``llmswitch._wire.ollama``): the exact request body, the
errors read from a stream line or refined from an HTTP error, and the NDJSON framing. Written
against the survivors of ``scripts/mutation --module wire.ollama``."""

from __future__ import annotations

import hashlib

import pytest

from llmswitch import errors as E
from llmswitch.types import ImagePart, Message, TextPart, Tool, ToolCall
from llmswitch._wire.ollama import (
    NDJSONDecoder,
    build_request,
    error_from_line,
    messages_to_wire,
    pull_hint,
    refine_error,
    tool_call_id,
)

RETRY_HINT = "the server failed while answering (reported inside the stream); retry or check its log"


# --- errors ------------------------------------------------------------------------------------


def test_pull_hint_names_the_model_or_a_placeholder() -> None:
    assert pull_hint("qwen3") == "the model is not pulled; run `llmswitch pull qwen3` (or `ollama pull qwen3`)"
    assert pull_hint(None) == "the model is not pulled; run `llmswitch pull NAME` (or `ollama pull NAME`)"


def test_tool_call_id_is_stable_and_hashes_index_name_and_sorted_arguments() -> None:
    a = tool_call_id(0, "get", {"b": 1, "a": "x"})
    assert a == tool_call_id(0, "get", '{"a":"x","b":1}')
    assert a == "call_0_" + hashlib.sha1(b'0:get:{"a":"x","b":1}').hexdigest()[:8]
    assert tool_call_id(1, "get", {"a": "x", "b": 1}).startswith("call_1_")
    assert len({a, tool_call_id(1, "get", {"a": "x", "b": 1}), tool_call_id(0, "put", {"a": "x", "b": 1})}) == 3


def _line_error(body: dict, model: str | None = "m") -> E.ProviderError:
    return error_from_line(body, provider="ollama", url="http://u", model=model)


def test_an_error_line_about_a_missing_model() -> None:
    body = {"error": "pull model manifest: file does not exist"}
    e = _line_error(body)
    assert type(e) is E.ModelNotFoundError
    assert e.message == "pull model manifest: file does not exist"
    assert e.hint == "check the name; " + pull_hint("m")
    assert (e.provider, e.url, e.model, e.status_code, e.details) == ("ollama", "http://u", "m", 200, body)
    e = _line_error({"error": "model 'x' Not Found"}, model=None)
    assert type(e) is E.ModelNotFoundError and e.hint == E.ModelNotFoundError.default_hint


def test_an_error_line_about_a_missing_capability_or_the_context() -> None:
    assert type(_line_error({"error": "m Does Not Support tools"})) is E.CapabilityError
    for text in ("Context Length exceeded", "the context window is full"):
        e = _line_error({"error": text})
        assert type(e) is E.ContextWindowExceededError and e.message == text
    assert type(_line_error({"error": "context lost"})) is E.ProviderUnavailableError


def test_an_error_line_otherwise_is_a_retryable_failure() -> None:
    e = _line_error({"error": {"message": "runner crashed"}})
    assert type(e) is E.ProviderUnavailableError
    assert (e.message, e.hint, e.status_code, e.model) == ("runner crashed", RETRY_HINT, 200, "m")
    assert _line_error({"error": 42}).message == "42"
    assert _line_error({"error": {}}).message == "unknown error"
    assert _line_error({"error": None}).message == "None"
    assert _line_error({}).message == "None"


def _http_error(cls: type[E.ProviderError], message: str, status: int, model: str | None = None) -> E.ProviderError:
    return cls(message, provider="ollama", model=model, status_code=status, url="http://u", details={"a": 1}, code="c")


def test_refine_a_missing_model_adds_the_pull_hint_and_keeps_the_context() -> None:
    e = refine_error(_http_error(E.ModelNotFoundError, 'model "q" not found', 404), "q")
    assert type(e) is E.ModelNotFoundError
    assert (e.message, e.hint) == ('model "q" not found', pull_hint("q"))
    assert (e.provider, e.model, e.status_code, e.url, e.details, e.code) == ("ollama", "q", 404, "http://u", {"a": 1}, "c")
    e = refine_error(_http_error(E.ModelNotFoundError, "gone", 404, model="own"), "q")
    assert e.model == "own"


@pytest.mark.parametrize("text, feature", [
    ("registry.ollama.ai/library/gemma does not support Tools", "tools"),
    ("does not support thinking", "thinking"),
    ("does not support vision", "vision"),
    ("does not support image input", "image"),
    ("does not support chat", "chat"),
    ("does not support that", "this feature"),
])
def test_refine_a_missing_capability_names_the_feature(text: str, feature: str) -> None:
    e = refine_error(_http_error(E.ProviderError, text, 400), "gemma")
    assert type(e) is E.CapabilityError
    assert e.message == text
    assert e.hint == (f"gemma cannot do {feature}; check with `llmswitch show gemma` "
                      "(or `await provider.model_capabilities(model)`) and choose a model that can, or drop it from the request")
    assert (e.status_code, e.url, e.details, e.code, e.model) == (400, "http://u", {"a": 1}, "c", "gemma")


def test_refine_a_missing_capability_without_a_model() -> None:
    e = refine_error(_http_error(E.ProviderError, "does not support tools", 400), None)
    assert e.hint.startswith("this model cannot do tools; check with `llmswitch show NAME` ")


def test_refine_leaves_other_errors_alone() -> None:
    err = _http_error(E.ProviderError, "does not support tools", 500)
    assert refine_error(err, "m") is err
    err = _http_error(E.ProviderError, "bad request", 400)
    assert refine_error(err, "m") is err


# --- request -----------------------------------------------------------------------------------


def test_messages_to_wire_exact_shapes() -> None:
    call = ToolCall("c1", "get", {"q": 1})
    msgs = [
        Message("system", None),
        Message("user", [TextPart("look "), ImagePart(data=b"\x89PNG"), TextPart("here")]),
        Message("assistant", "ok", tool_calls=[call, ToolCall("c2", "put", {})], thinking="hmm"),
        Message("user", "x", thinking="not sent"),
        Message("tool", "42", tool_call_id="c1"),
        Message("tool", "0", tool_call_id="zz", name="named"),
        Message("tool", "?"),
    ]
    assert messages_to_wire(msgs) == [
        {"role": "system", "content": ""},
        {"role": "user", "content": "look here", "images": ["iVBORw=="]},
        {"role": "assistant", "content": "ok", "thinking": "hmm", "tool_calls": [
            {"id": "c1", "function": {"index": 0, "name": "get", "arguments": {"q": 1}}},
            {"id": "c2", "function": {"index": 1, "name": "put", "arguments": {}}},
        ]},
        {"role": "user", "content": "x"},
        {"role": "tool", "content": "42", "tool_name": "get", "tool_call_id": "c1"},
        {"role": "tool", "content": "0", "tool_name": "named", "tool_call_id": "zz"},
        {"role": "tool", "content": "?"},
    ]


def test_messages_to_wire_refuses_remote_images() -> None:
    with pytest.raises(E.InvalidRequestError) as info:
        messages_to_wire([Message("user", [ImagePart(url="https://x/y.png")])])
    e = info.value
    assert (e.message, e.provider, e.hint) == (
        "Ollama takes images inline only, not as remote URLs", "ollama", "pass ImagePart(data=...) or ImagePart.from_path(...)")


def test_build_request_exact_body() -> None:
    tool = Tool("get", "fetch it", {"type": "object", "properties": {}})
    body = build_request(
        "m", [Message("user", "hi")], tools=[tool], stream=False,
        params={"think": True, "keep_alive": "5m", "temperature": 0.2, "max_tokens": 9, "num_ctx": 4096,
                "options": {"seed": 1}, "tool_choice": "auto", "extra_body": {"x": 1}, "top_p": None,
                "response_format": {"type": "json_object"}},
        default_max_tokens=100,
    )
    assert body == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False,
        "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object", "properties": {}},
                                                     "description": "fetch it"}}],
        "think": True, "keep_alive": "5m", "format": "json",
        "options": {"seed": 1, "temperature": 0.2, "num_predict": 9, "num_ctx": 4096},
    }


def test_build_request_defaults_and_formats() -> None:
    hi = [Message("user", "hi")]
    assert build_request("m", hi) == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert build_request("m", hi, default_max_tokens=7)["options"] == {"num_predict": 7}
    assert "options" not in build_request("m", hi, default_max_tokens=7, params={"max_tokens": None})
    assert build_request("m", hi, default_max_tokens=7, params={"options": {"num_predict": 3}})["options"] == {"num_predict": 3}
    assert build_request("m", hi, default_max_tokens=7, params={"max_completion_tokens": 5})["options"] == {"num_predict": 5}
    assert "tools" not in build_request("m", hi, tools=[Tool("t")], params={"tool_choice": "none"})
    schema = {"type": "object"}
    assert build_request("m", hi, params={"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}})[
        "format"] == schema
    assert build_request("m", hi, params={"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})[
        "format"] == {"name": "x"}
    assert build_request("m", hi, params={"response_format": {"type": "json_schema"}})["format"] == {}
    assert "format" not in build_request("m", hi, params={"response_format": {"type": "text"}})
    assert build_request("m", hi, params={"response_format": "json"})["format"] == "json"
    assert build_request("m", hi, params={"format": "json", "response_format": {"type": "json_schema"}})["format"] == "json"


# --- NDJSON ------------------------------------------------------------------------------------


def test_ndjson_lines_split_across_reads() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a": 1}\n{"b"') == [{"a": 1}]
    assert d.feed(b": 2}") == []
    assert d.feed(b"\n \n[3]\n") == [{"b": 2}, [3]]
    assert d.flush() == []


def test_ndjson_a_last_line_without_newline_counts_if_whole() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a": 1}') == []
    assert d.flush() == [{"a": 1}]


def test_ndjson_a_cut_last_line_is_a_cut_stream() -> None:
    d = NDJSONDecoder(provider="p", url="http://u")
    d.feed(b'{"a": ')
    with pytest.raises(E.ProviderConnectionError) as info:
        d.flush()
    assert info.value.message == "the stream ended before it was complete (in the middle of a line: b'{\"a\": ')"
    assert (info.value.provider, info.value.url) == ("p", "http://u")


def test_ndjson_a_line_that_is_not_json() -> None:
    d = NDJSONDecoder(provider="p", url="http://u")
    with pytest.raises(E.ProviderError) as info:
        d.feed(b"oops\n")
    e = info.value
    assert e.message == "malformed stream line: b'oops'"
    assert (e.provider, e.url, e.hint) == ("p", "http://u", "the server sent a line that is not JSON; is this an Ollama server?")
    with pytest.raises(E.ProviderError, match="not valid UTF-8"):
        NDJSONDecoder().feed(b'"\xff"\n')


def test_ndjson_line_limit() -> None:
    d = NDJSONDecoder(max_line_bytes=8, provider="p")
    assert d.feed(b'{"a":1}\n') == [{"a": 1}]  # 8 bytes in one read, split at the limit
    d.feed(b'{"a":')
    with pytest.raises(E.ResponseTooLargeError) as info:
        d.feed(b'1234}\n')
    assert info.value.message.startswith("an NDJSON line exceeded max_line_bytes=8; ")
    assert info.value.provider == "p"
