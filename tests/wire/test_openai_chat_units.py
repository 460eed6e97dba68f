"""Unit tests of the Chat Completions wire (``llmswitch._wire.openai_chat``): the exact request
body, the parsed answer, and the stream mapping (``ChatStreamAccumulator``) chunk by chunk.
Shapes follow ``reference/wire-protocols.md`` §4. Written against the survivors of
``scripts/mutation --module wire.openai_chat``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch._limits import Limits
from llmswitch._wire import openai_chat as w
from llmswitch._wire.sse import SSEEvent
from llmswitch.types import (
    ImagePart,
    Message,
    Response,
    TextDelta,
    TextPart,
    ThinkingDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from tests.wire.helpers import chunks, drain

URL = "http://127.0.0.1:9/v1/chat/completions"


# --- request -----------------------------------------------------------------------------------


def test_finish_reasons() -> None:
    table = {
        "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "eos": "stop", "length": "length",
        "max_tokens": "length", "tool_calls": "tool_calls", "function_call": "tool_calls", "tool_use": "tool_calls",
        "content_filter": "content_filter", "refusal": "content_filter", "error": "error", "odd": "stop",
    }
    for wire_reason, ours in table.items():
        assert w.normalize_finish_reason(wire_reason) == ours
    assert w.normalize_finish_reason(None) is None


def test_messages_to_wire() -> None:
    img = ImagePart(data=b"\x89PNG", media_type="image/png")
    msgs = [
        Message("system", "be brief"),
        Message("user", [TextPart("look"), img], name="ann"),
        Message("assistant", None, tool_calls=[ToolCall("c1", "f", {"a": 1}), ToolCall("c2", "g", {}, raw_arguments='{"b"')]),
        Message("tool", None, tool_call_id="c1", name="f"),
        Message("tool", "42", tool_call_id="c2"),
    ]
    assert w.messages_to_wire(msgs) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": img.as_data_url()}}],
         "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"b"'}},
        ]},
        {"role": "tool", "content": "", "tool_call_id": "c1"},
        {"role": "tool", "content": "42", "tool_call_id": "c2"},
    ]
    with pytest.raises(TypeError, match="unsupported content part"):
        w._part_to_wire(object())


def test_tool_to_wire() -> None:
    params = {"type": "object", "properties": {"q": {"type": "string"}}}
    assert w.tool_to_wire(Tool("f", "finds", params)) == {
        "type": "function", "function": {"name": "f", "parameters": params, "description": "finds"}}
    assert w.tool_to_wire(Tool("g", "", params)) == {"type": "function", "function": {"name": "g", "parameters": params}}


def test_build_request_minimal_and_full() -> None:
    msgs = [Message("user", "hi")]
    assert w.build_request("m", msgs) == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    t = Tool("f", "", {"type": "object", "properties": {}})
    body = w.build_request(
        "m", msgs, tools=[t], stream=True, include_usage=True, max_tokens=5, temperature=0.0, top_p=0.5,
        stop=["x"], tool_choice="auto", response_format={"type": "json_object"}, extra_body={"seed": 1, "model": "n"},
        max_tokens_field="max_completion_tokens",
    )
    assert body == {
        "model": "n", "messages": [{"role": "user", "content": "hi"}], "tools": [w.tool_to_wire(t)], "tool_choice": "auto",
        "stream": True, "stream_options": {"include_usage": True}, "max_completion_tokens": 5, "temperature": 0.0,
        "top_p": 0.5, "stop": ["x"], "response_format": {"type": "json_object"}, "seed": 1,
    }
    assert w.build_request("m", msgs, stream=True, include_usage=False) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert w.build_request("m", msgs, tool_choice="auto", max_tokens=3) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def test_asks_for_usage() -> None:
    assert w.asks_for_usage({"stream_options": {"include_usage": True}}) is True
    assert w.asks_for_usage({"stream_options": {"include_usage": False}}) is False
    assert w.asks_for_usage({"stream_options": {}}) is False
    assert w.asks_for_usage({"stream_options": "yes"}) is False
    assert w.asks_for_usage({}) is False

    class M(dict):  # a Mapping that is not exactly a dict
        pass

    assert w.asks_for_usage({"stream_options": M(include_usage=1)}) is True


# --- response ----------------------------------------------------------------------------------


def test_parse_usage() -> None:
    assert w.parse_usage(None) == Usage(known=False)
    assert w.parse_usage({}) == Usage(known=False)
    u = w.parse_usage({
        "prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1}, "cost": 2,
    })
    assert u == Usage(input_tokens=10, output_tokens=4, cache_read_tokens=3, cache_write_tokens=2, reasoning_tokens=1, cost=2.0)
    assert type(u.cost) is float
    u = w.parse_usage({"prompt_tokens": None, "completion_tokens_details": None, "prompt_tokens_details": None, "cost": "1"})
    assert u == Usage() and u.cost is None and u.known is True


def test_tokens_per_second() -> None:
    assert w._tokens_per_second(None) is None
    assert w._tokens_per_second("fast") is None
    assert w._tokens_per_second({}) is None
    assert w._tokens_per_second({"predicted_per_second": "9"}) is None
    assert w._tokens_per_second({"predicted_per_second": 12}) == 12.0
    assert type(w._tokens_per_second({"predicted_per_second": 12})) is float

    class M(dict):
        pass

    assert w._tokens_per_second(M(predicted_per_second=2.5)) == 2.5


def test_body_error_status() -> None:
    assert w.body_error_status({"code": 429}) == 429
    assert w.body_error_status({"code": 400}) == 400
    assert w.body_error_status({"code": 599}) == 599
    assert w.body_error_status({"code": 600}) == 400
    assert w.body_error_status({"code": 399}) == 400
    assert w.body_error_status({"code": "503"}) == 400
    for etype in ("server_error", "Overloaded", "service_unavailable", "api_error"):
        assert w.body_error_status({"type": etype}) == 500
    assert w.body_error_status({"type": "invalid_request_error"}) == 400
    assert w.body_error_status({"type": None}) == 400
    assert w.body_error_status("model not found") == 400


def _completion(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "cmpl-1", "model": "served", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    body.update(over)
    return body


def test_parse_response_fields() -> None:
    body = _completion(timings={"predicted_per_second": 7.5})
    r = w.parse_response(body, provider="p", latency=0.25, url=URL, model="asked")
    assert (r.text, r.finish_reason, r.model, r.provider, r.latency, r.id) == ("Hi", "stop", "served", "p", 0.25, "cmpl-1")
    assert r.usage == Usage(input_tokens=3, output_tokens=1) and r.tool_calls == [] and r.thinking is None
    assert r.tokens_per_second == 7.5 and r.raw is body
    r = w.parse_response(_completion(model=None, id=None), provider="p", model="asked")
    assert (r.model, r.id, r.latency) == ("asked", None, 0.0)
    assert w.parse_response(_completion(model=None), provider="p").model == ""


def test_parse_response_thinking_and_content_parts() -> None:
    msg = {"role": "assistant", "content": [{"type": "text", "text": "a"}, "junk", {"type": "text", "text": None}, {"text": "b"}],
           "reasoning_content": "why"}
    r = w.parse_response(_completion(choices=[{"message": msg, "finish_reason": "length"}]), provider="p")
    assert (r.text, r.thinking, r.finish_reason) == ("ab", "why", "length")
    msg = {"content": None, "reasoning": "r2"}
    r = w.parse_response(_completion(choices=[{"message": msg, "finish_reason": None}]), provider="p")
    assert (r.text, r.thinking, r.finish_reason) == ("", "r2", None)
    for thinking in ("", 5):
        r = w.parse_response(_completion(choices=[{"message": {"content": "x", "reasoning_content": thinking}}]), provider="p")
        assert r.thinking is None


def test_parse_response_tool_calls() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"function": {"name": "g", "arguments": {"b": 2}}},
        {"id": None, "function": {"arguments": None}},
        {},
    ]
    r = w.parse_response(_completion(choices=[{"message": {"content": None, "tool_calls": calls}, "finish_reason": "stop"}]), provider="p")
    assert r.finish_reason == "tool_calls"
    assert r.tool_calls == [
        ToolCall("c1", "f", {"a": 1}, raw_arguments='{"a": 1}'),
        ToolCall("call_1", "g", {"b": 2}, raw_arguments='{"b": 2}'),
        ToolCall("call_2", "", {}, raw_arguments=None),
        ToolCall("call_3", "", {}, raw_arguments=None),
    ]
    r = w.parse_response(_completion(choices=[{"message": {"tool_calls": calls[:1]}, "finish_reason": "length"}]), provider="p")
    assert r.finish_reason == "length"


def test_parse_response_errors() -> None:
    with pytest.raises(E.ProviderError, match="unexpected response body: \\[1, 2\\]") as info:
        w.parse_response([1, 2], provider="p", url=URL)  # type: ignore[arg-type]
    assert (info.value.provider, info.value.url) == ("p", URL)
    with pytest.raises(E.RateLimitError) as rl:
        w.parse_response({"error": {"code": 429, "message": "slow down"}}, provider="p", url=URL, model="m")
    assert (rl.value.status_code, rl.value.provider, rl.value.url, rl.value.model) == (429, "p", URL, "m")
    with pytest.raises(E.ProviderError, match="the response has no choices") as nc:
        w.parse_response({"choices": []}, provider="p", url=URL)
    assert nc.value.details == {"choices": []} and nc.value.url == URL
    with pytest.raises(E.ProviderUnavailableError) as fe:
        w.parse_response(_completion(choices=[{"message": {"content": "half"}, "finish_reason": "error"}]), provider="p", url=URL, model="m")
    e = fe.value
    assert e.message == 'the server ended the answer with finish_reason "error"'
    assert e.hint == "the model or an upstream provider failed mid-answer; retry"
    assert (e.provider, e.url, e.model) == ("p", URL, "m") and e.details["choices"][0]["finish_reason"] == "error"
    with pytest.raises(E.ProviderError) as shape:
        w.parse_response(_completion(choices=[{"message": {"content": 5}}]), provider="p", url=URL, model="m")
    assert "message.content is int" in shape.value.message
    assert shape.value.hint == "is this server speaking the OpenAI Chat Completions API?"
    assert (shape.value.provider, shape.value.url, shape.value.model) == ("p", URL, "m")


def test_a_200_string_error_is_a_refusal_not_an_outage() -> None:
    with pytest.raises(E.ProviderError) as info:
        w.parse_response({"error": "Unexpected endpoint or method"}, provider="p")
    assert info.value.status_code == 400


# --- stream mapping ------------------------------------------------------------------------------


def acc(**kw: Any) -> w.ChatStreamAccumulator:
    return w.ChatStreamAccumulator(provider="p", model="m", url=URL, **kw)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {"id": "c1", "model": "served", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **top}


def ev(data: str, event: str = "message") -> SSEEvent:
    return SSEEvent(event, data)


def test_a_new_accumulator() -> None:
    a = acc()
    assert (a.provider, a.model, a.url, a.expect_usage) == ("p", "m", URL, False)
    assert (a.timings, a.usage_raw, a.extras, a.thinking_key, a._last_call, a.last_chunk) == (None, None, {}, "reasoning", None, None)
    assert acc(expect_usage=True).expect_usage is True
    assert w.ChatStreamAccumulator.API == "OpenAI Chat Completions"


def test_take_sse_events() -> None:
    a = acc()
    assert a.take(ev(json.dumps(chunk({"content": "Hi"})))) == [TextDelta("Hi")]
    assert a.last_chunk == chunk({"content": "Hi"}) and (a.id, a.model) == ("c1", "served")
    assert a.take(ev("[DONE]")) == [] and a.done is True


def test_take_rejects_what_is_not_a_json_object() -> None:
    with pytest.raises(E.ProviderError) as info:
        acc().take(ev("{nope"))
    e = info.value
    assert e.message == "malformed stream chunk: '{nope'" and (e.provider, e.url) == ("p", URL)
    assert e.hint == "the server sent a line that is not JSON; check it is OpenAI-compatible"
    with pytest.raises(E.ProviderError) as info:
        acc().take(ev("[1]"))
    assert info.value.message == "unexpected stream chunk: '[1]'" and (info.value.provider, info.value.url) == ("p", URL)
    with pytest.raises(E.ProviderError, match="malformed stream chunk"):
        acc().take(ev("[" * 100000))
    long = "x" * 300
    with pytest.raises(E.ProviderError) as info:
        acc().take(ev(long))
    assert info.value.message == f"malformed stream chunk: {long[:200]!r}"
    with pytest.raises(E.ProviderError) as info:
        acc().take(ev("[" + "1," * 150 + "1]"))
    assert len(info.value.message) == len("unexpected stream chunk: ''") + 200


def test_an_error_event_or_object_raises_the_mapped_error() -> None:
    with pytest.raises(E.RateLimitError) as info:
        acc().take(ev(json.dumps({"code": 429, "message": "slow"}), event="error"))
    assert (info.value.provider, info.value.url, info.value.model) == ("p", URL, "m")
    with pytest.raises(E.AuthenticationError):
        acc().take(ev(json.dumps({"error": {"code": 401, "message": "bad key"}}), event="error"))
    with pytest.raises(E.ProviderError) as info:
        acc().feed({"error": {"message": "boom", "type": "server_error"}})
    assert info.value.status_code == 500


def test_finish_error_raises() -> None:
    a = acc()
    with pytest.raises(E.ProviderUnavailableError) as info:
        a.feed(chunk(finish="error"))
    assert (info.value.provider, info.value.url, info.value.model) == ("p", URL, "served")


def test_id_and_model_come_from_the_first_chunk() -> None:
    a = acc()
    a.feed({"id": "first", "model": "", "choices": []})
    a.feed({"id": "second", "model": "other", "choices": []})
    assert (a.id, a.model) == ("first", "m")
    b = acc()
    b.feed({"choices": []})
    b.feed({"id": "later", "model": "x", "choices": []})
    assert (b.id, b.model) == ("later", "x")


def test_text_reasoning_and_extras() -> None:
    a = acc()
    assert a.feed(chunk({"role": "assistant", "content": "", "reasoning_content": "r1"})) == [ThinkingDelta("r1")]
    assert a.thinking_key == "reasoning_content"
    assert a.feed(chunk({"reasoning": "r2", "content": "t"})) == [TextDelta("t"), ThinkingDelta("r2")]
    a.feed(chunk({"refusal": "no", "annotations": [1]}))
    a.feed(chunk({"refusal": "pe", "annotations": [2], "audio": {"id": 1}}))
    a.feed(chunk({"audio": {"id": 2}, "refusal": None, "empty": ""}))
    assert a.extras == {"refusal": "nope", "annotations": [1, 2], "audio": {"id": 2}}
    assert (a.text, a.thinking) == (["t"], ["r1", "r2"])
    b = acc()
    b.feed(chunk({"reasoning": "x"}))
    b.feed(chunk({"reasoning_content": "y"}))
    assert b.thinking_key == "reasoning"
    c = acc()
    c._extra("k", 1)
    c._extra("k", [2])
    c._extra("s", "a")
    c._extra("s", 3)
    assert c.extras == {"k": [2], "s": 3}


def test_wrong_types_in_a_delta() -> None:
    for delta, field in (({"content": 5}, "delta.content"), ({"reasoning": ["x"]}, "delta.reasoning")):
        with pytest.raises(E.ProviderError, match=field):
            acc().feed(chunk(delta))
    with pytest.raises(E.ProviderError, match="finish_reason is int"):
        acc().feed(chunk(finish=3))  # type: ignore[arg-type]


def test_usage_and_timings() -> None:
    a = acc()
    u = {"prompt_tokens": 2, "completion_tokens": 3}
    assert a.feed({"choices": [], "usage": u, "timings": {"predicted_per_second": 4}}) == [UsageEvent(Usage(input_tokens=2, output_tokens=3))]
    assert a.usage_raw is u and a.usage == Usage(input_tokens=2, output_tokens=3) and a.timings == {"predicted_per_second": 4}
    assert a.feed({"choices": [], "usage": None, "timings": None}) == []
    assert a.usage_raw is u and a.timings == {"predicted_per_second": 4}
    assert a.result().tokens_per_second == 4.0


def test_tool_call_deltas() -> None:
    a = acc()
    out = a.feed(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}]}))
    assert out == [ToolCallDelta(0, "a", "f", '{"x"')]
    assert a.feed(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ":1}"}}]})) == [
        ToolCallDelta(0, "a", "f", ":1}")]
    assert a.feed(chunk({"tool_calls": [{"index": 1, "function": {"arguments": {"y": 2}}}]})) == [ToolCallDelta(1, None, None, '{"y": 2}')]
    assert a.feed(chunk({"tool_calls": [{"index": 1}]})) == [ToolCallDelta(1, None, None, "")]
    r = a.result()
    assert r.tool_calls == [ToolCall("a", "f", {"x": 1}, raw_arguments='{"x":1}'), ToolCall("call_1", "", {"y": 2}, raw_arguments='{"y": 2}')]
    assert r.finish_reason == "tool_calls"
    with pytest.raises(E.ProviderError, match="tool_calls\\[\\].function.arguments is int"):
        acc().feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": 5}}]}))
    with pytest.raises(E.ProviderError, match="tool_calls\\[\\].index is str"):
        acc().feed(chunk({"tool_calls": [{"index": "0", "function": {"arguments": "{}"}}]}))
    with pytest.raises(E.ProviderError, match="tool_calls\\[\\].id is int"):
        acc().feed(chunk({"tool_calls": [{"index": 0, "id": 1}]}))
    with pytest.raises(E.ProviderError, match="tool_calls\\[\\].function.name is int"):
        acc().feed(chunk({"tool_calls": [{"index": 0, "function": {"name": 1}}]}))


def test_call_index_without_index() -> None:
    a = acc()
    assert a._call_index(None, "a", "f") == 0
    a.tool_part(0, "a", "f", "")
    assert a._call_index(None, None, None) == 0
    assert a._call_index(None, "a", "f") == 0
    assert a._call_index(None, "b", None) == 1
    a.tool_part(1, "b", None, "")
    assert a._call_index(None, None, "g") == 1  # the call has no name yet: a name does not split it
    a.tool_part(1, None, "g", "")
    assert a._call_index(None, None, "h") == 2
    assert a._last_call == 2
    assert a._call_index(5, None, None) == 5 and a._last_call == 5
    b = acc()
    b.tool_part(3, "z", "f", "")
    assert b._call_index(None, None, None) == 4
    assert w._differs("a", "b") is True
    assert w._differs("a", "a") is False
    assert w._differs(None, "b") is False and w._differs("a", None) is False and w._differs("", "b") is False


def test_end_problem() -> None:
    class D:
        def __init__(self, pending: bool, data: str | None = None, line: bool = False) -> None:
            self.pending, self.pending_data, self.pending_line = pending, data, line

    a = acc()
    assert a.end_problem(D(False)) == "no [DONE] / finish_reason"
    assert a.end_problem(D(True)) == "an unfinished event was pending"
    assert a.end_problem(D(True, "[DONE]")) is None
    assert a.end_problem(D(True, "[DONE]", line=True)) == "an unfinished event was pending"
    assert a.end_problem(D(True, "x")) == "an unfinished event was pending"
    a.finish = "stop"
    assert a.end_problem(D(False)) is None
    a.expect_usage = True
    assert a.end_problem(D(False)) == "no [DONE] after the finish_reason; the usage chunk that was asked for may be lost"
    a.done = True
    assert a.end_problem(D(True)) is None


def test_the_raw_reads_like_a_completion() -> None:
    a = acc()
    a.feed(chunk({"content": "He", "reasoning_content": "th"}))
    a.feed(chunk({"content": "y", "refusal": "r"}, finish="stop", system_fingerprint="fp"))
    u = {"prompt_tokens": 1, "completion_tokens": 2}
    a.feed({"id": "c1", "choices": [], "usage": u, "x_extra": 1})
    r = a.result()
    assert r.raw == {
        "id": "c1", "object": "chat.completion", "x_extra": 1, "usage": u,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hey", "reasoning_content": "th", "refusal": "r"},
                     "finish_reason": "stop"}],
    }
    b = acc()
    b.feed(chunk({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]}, finish="tool_calls"))
    assert b.result().raw["choices"][0]["message"] == {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert "usage" not in b.result().raw
    assert acc().result().raw == {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                                                                           "finish_reason": None}]}


def test_iter_stream_and_the_decoder_limits() -> None:
    a = acc()
    body = b"data: " + json.dumps(chunk({"content": "ok"}, finish="stop")).encode() + b"\n\ndata: [DONE]\n\n"
    items = drain(w.iter_stream(chunks([body]), a))
    assert items[0] == TextDelta("ok") and type(items[1]) is Response and items[1].finish_reason == "stop"
    d = w.sse_decoder(a, Limits(max_line_bytes=100, max_event_bytes=200))
    assert (d._line.limit, d._max_event, d._provider, d._url) == (100, 200, "p", URL)
    with pytest.raises(E.ResponseTooLargeError):
        drain(w.iter_stream(chunks([b"data: " + b"x" * 500 + b"\n\n"]), acc(), limits=Limits(max_line_bytes=100)))


# --- exact shape errors (the field, its type, what was expected) --------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (_completion(choices=[{"message": {"content": [{"text": 1}]}}]), "content[].text is int, expected a string"),
        (_completion(choices=[{"message": {"content": 1}}]), "message.content is int, expected a string"),
        (_completion(model=2), "model is int, expected a string"),
        (_completion(id=3), "id is int, expected a string"),
        (_completion(choices=[{"message": {}, "finish_reason": 4}]), "finish_reason is int, expected a string"),
        (_completion(choices=[{"message": {"tool_calls": [{"id": 5}]}}]), "tool_calls[].id is int, expected a string"),
        (_completion(choices=[{"message": {"tool_calls": [{"function": {"name": 6}}]}}]),
         "tool_calls[].function.name is int, expected a string"),
    ],
)
def test_parse_response_names_the_field_of_the_wrong_type(body: dict[str, Any], said: str) -> None:
    with pytest.raises(E.ProviderError) as info:
        w.parse_response(body, provider="p", url=URL, model="m")
    assert f"(TypeError: {said}) in " in info.value.message
    assert '"choices": [' in info.value.message  # the body is quoted


@pytest.mark.parametrize(
    ("chunk_", "said"),
    [
        ({"id": 1, "choices": []}, "id is int, expected a string"),
        ({"model": 2, "choices": []}, "model is int, expected a string"),
        (chunk({"content": 3}), "delta.content is int, expected a string"),
        (chunk({"reasoning": 4}), "delta.reasoning is int, expected a string"),
        (chunk({"tool_calls": [{"index": "0"}]}), "tool_calls[].index is str, expected an integer"),
        (chunk({"tool_calls": [{"index": 0, "function": {"arguments": 5}}]}), "tool_calls[].function.arguments is int, expected a string"),
    ],
)
def test_a_chunk_names_the_field_of_the_wrong_type(chunk_: dict[str, Any], said: str) -> None:
    with pytest.raises(E.ProviderError) as info:
        acc().feed(chunk_)
    assert f"(TypeError: {said}) in " in info.value.message


def test_no_choices_exactly() -> None:
    with pytest.raises(E.ProviderError) as info:
        w.parse_response({"choices": None, "id": "x"}, provider="p", url=URL)
    e = info.value
    assert e.message == "the response has no choices" and (e.provider, e.url, e.details) == ("p", URL, {"choices": None, "id": "x"})


def test_a_long_unexpected_body_is_cut_at_200() -> None:
    body = ["x" * 300]
    with pytest.raises(E.ProviderError) as info:
        w.parse_response(body, provider="p")  # type: ignore[arg-type]
    assert info.value.message == f"unexpected response body: {str(body)[:200]}"


def test_a_mapping_that_is_not_a_dict_is_a_body() -> None:
    from types import MappingProxyType

    r = w.parse_response(MappingProxyType(_completion()), provider="p")
    assert r.text == "Hi"


def test_a_code_400_with_a_server_type_is_400() -> None:
    assert w.body_error_status({"code": 400, "type": "server_error"}) == 400
    assert w.body_error_status({"code": 401, "type": "server_error"}) == 401
    assert w.body_error_status({"code": 399, "type": "server_error"}) == 500


def test_streams_ask_for_usage_by_default() -> None:
    body = w.build_request("m", [Message("user", "hi")], stream=True)
    assert body["stream_options"] == {"include_usage": True}


def test_the_finish_error_carries_the_chunk() -> None:
    c = chunk({"content": "half"}, finish="error")
    with pytest.raises(E.ProviderUnavailableError) as info:
        acc().feed(c)
    assert info.value.details == c


def test_calls_without_index_split_on_a_new_id_even_with_the_same_name() -> None:
    a = acc()
    a.feed(chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}))
    a.feed(chunk({"tool_calls": [{"id": "b", "function": {"name": "f", "arguments": "{}"}}]}))
    assert [(c.id, c.name) for c in a.result().tool_calls] == [("a", "f"), ("b", "f")]


def test_the_raw_joins_thinking_pieces() -> None:
    a = acc()
    a.feed(chunk({"reasoning": "a"}))
    a.feed(chunk({"reasoning": "b"}, finish="stop"))
    assert a.result().raw["choices"][0]["message"]["reasoning"] == "ab"
