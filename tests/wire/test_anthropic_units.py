"""Unit tests of the Anthropic Messages wire (``llmswitch._wire.anthropic``): the exact request
body, the parsed Message, and the stream mapping (``MessagesStreamAccumulator``) event by event.
Shapes follow ``reference/wire-protocols.md`` §5 (docs.anthropic.com/en/api/messages and
/en/docs/build-with-claude/streaming). Written against the survivors of
``scripts/mutation --module wire.anthropic``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch._wire import anthropic as w
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

URL = "http://127.0.0.1:9/v1/messages"


# --- request -----------------------------------------------------------------------------------


def test_stop_reasons_and_error_statuses() -> None:
    table = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
             "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "odd": "stop"}
    for reason, ours in table.items():
        assert w.map_stop_reason(reason) == ours
    assert w.map_stop_reason(None) is None
    statuses = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
                "not_found_error": 404, "conflict_error": 409, "request_too_large": 413, "rate_limit_error": 429,
                "api_error": 500, "timeout_error": 504, "overloaded_error": 529, "new_error": 500}
    for etype, status in statuses.items():
        assert w.error_status(etype) == status
    assert w.error_status(None) == 500 and w.error_status(429) == 500


def test_parts_to_wire() -> None:
    assert w._part_to_wire(TextPart("t")) == {"type": "text", "text": "t"}
    assert w._part_to_wire(ImagePart(url="https://x/a.png")) == {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}
    img = ImagePart(data=b"\x89PNG", media_type="image/png")
    media, data = img.as_base64()
    assert w._part_to_wire(img) == {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    durl = ImagePart(url="data:image/png;base64,iVBORw==")
    assert w._part_to_wire(durl)["source"]["type"] == "base64"
    with pytest.raises(TypeError, match="unsupported content part"):
        w._part_to_wire(3)
    assert w._content_blocks(None) == []
    assert w._content_blocks("") == []
    assert w._content_blocks("x") == [{"type": "text", "text": "x"}]
    assert w._content_blocks([TextPart("a")]) == [{"type": "text", "text": "a"}]


def test_assistant_blocks() -> None:
    m = Message("assistant", "", tool_calls=[ToolCall("t1", "f", {"a": 1}), ToolCall("t2", "g", {}, raw_arguments='{"b": 2}'),
                                            ToolCall("t3", "h", {}, raw_arguments=None)])
    m.thinking, m.thinking_signature = "hm", "SIG"
    assert w._assistant_blocks(m) == [
        {"type": "thinking", "thinking": "hm", "signature": "SIG"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "t2", "name": "g", "input": {"b": 2}},
        {"type": "tool_use", "id": "t3", "name": "h", "input": {}},
    ]
    m = Message("assistant", [TextPart(""), TextPart("x")])
    m.thinking = "no signature"
    assert w._assistant_blocks(m) == [{"type": "text", "text": "x"}]
    m = Message("assistant", "a")
    m.thinking_signature = "S"
    assert w._assistant_blocks(m) == [{"type": "thinking", "thinking": "", "signature": "S"}, {"type": "text", "text": "a"}]


def test_messages_to_wire() -> None:
    msgs = [
        Message("system", "one"), Message("system", ""), Message("system", "two"),
        Message("user", "q"),
        Message("assistant", None, tool_calls=[ToolCall("t1", "f", {}), ToolCall("t2", "f", {})]),
        Message("tool", "r1", tool_call_id="t1"),
        Message("tool", [TextPart("r2")], tool_call_id="t2", is_error=True),
        Message("assistant", ""),
        Message("assistant", "done"),
        Message("user", [TextPart("p")]),
        Message("user", None),
        Message("tool", None),
    ]
    system, out = w.messages_to_wire(msgs)
    assert system == "one\n\ntwo"
    assert out == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                                          {"type": "tool_use", "id": "t2", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r1"},
                                     {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "r2"}], "is_error": True}]},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": [{"type": "text", "text": "p"}]},
        {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "", "content": ""}]},
    ]
    assert w.messages_to_wire([Message("user", "x")]) == (None, [{"role": "user", "content": "x"}])
    _, out = w.messages_to_wire([Message("user", "x"), Message("tool", "r", tool_call_id="a")])
    assert out[1] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"}]}


def test_tools_choice_and_thinking() -> None:
    assert w.tool_to_wire(Tool("f", "d", {"type": "object", "properties": {"a": {}}})) == {
        "name": "f", "input_schema": {"type": "object", "properties": {"a": {}}}, "description": "d"}
    assert w.tool_to_wire(Tool("g", "", {})) == {"name": "g", "input_schema": {"type": "object", "properties": {}}}
    assert w.tool_choice_to_wire(None) is None
    for c in ("auto", "none", "any"):
        assert w.tool_choice_to_wire(c) == {"type": c}
    assert w.tool_choice_to_wire("required") == {"type": "any"}
    assert w.tool_choice_to_wire("lookup") == {"type": "tool", "name": "lookup"}
    assert w.tool_choice_to_wire({"type": "function", "function": {"name": "f"}}) == {"type": "tool", "name": "f"}
    assert w.tool_choice_to_wire({"type": "function"}) == {"type": "tool", "name": ""}
    own = {"type": "tool", "name": "x"}
    assert w.tool_choice_to_wire(own) == own and w.tool_choice_to_wire(own) is not own
    with pytest.raises(TypeError, match="unsupported tool_choice"):
        w.tool_choice_to_wire(3)
    assert w.thinking_to_wire(None) is None and w.thinking_to_wire(False) is None
    assert w.thinking_to_wire(True) == {"type": "enabled", "budget_tokens": 1024}
    assert w.thinking_to_wire(2048) == {"type": "enabled", "budget_tokens": 2048}
    d = {"type": "adaptive"}
    assert w.thinking_to_wire(d) == d and w.thinking_to_wire(d) is not d


def test_build_request() -> None:
    msgs = [Message("system", "s"), Message("user", "hi")]
    assert w.build_request("m", msgs, max_tokens=10) == {
        "model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "system": "s"}
    t = Tool("f", "", {"type": "object", "properties": {}})
    body = w.build_request("m", [Message("user", "hi")], max_tokens=10, tools=[t], stream=True, temperature=0.0, top_p=0.9,
                           top_k=5, stop="END", tool_choice="required", thinking=True, extra_body={"metadata": {"user_id": "u"}})
    assert body == {
        "model": "m", "max_tokens": 1034, "messages": [{"role": "user", "content": "hi"}], "tools": [w.tool_to_wire(t)],
        "tool_choice": {"type": "any"}, "thinking": {"type": "enabled", "budget_tokens": 1024}, "stream": True,
        "temperature": 0.0, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"], "metadata": {"user_id": "u"},
    }
    b = w.build_request("m", [Message("user", "hi")], max_tokens=2000, thinking=1000, stop=["a", "b"], tool_choice="auto")
    assert b["max_tokens"] == 2000 and b["stop_sequences"] == ["a", "b"] and "tool_choice" not in b
    assert w.build_request("m", [Message("user", "hi")], max_tokens=1000, thinking=1000)["max_tokens"] == 2000
    assert w.build_request("m", [Message("user", "hi")], max_tokens=50, thinking={"type": "adaptive"})["max_tokens"] == 50
    assert "tool_choice" not in w.build_request("m", [Message("user", "hi")], max_tokens=5, tools=[t])


# --- response ----------------------------------------------------------------------------------


def test_parse_usage() -> None:
    assert w.parse_usage(None) == Usage(known=False) and w.parse_usage({}) == Usage(known=False)
    u = w.parse_usage({"input_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2, "output_tokens": 7,
                       "output_tokens_details": {"thinking_tokens": 4}})
    assert u == Usage(input_tokens=10, output_tokens=7, cache_read_tokens=3, cache_write_tokens=2, reasoning_tokens=4)
    u = w.parse_usage({"input_tokens": 2.0, "output_tokens": "9", "output_tokens_details": "x"})
    assert u == Usage(input_tokens=2, output_tokens=0) and type(u.input_tokens) is int
    assert w._int(None) == 0 and w._int(True) == 1 and w._int(3.7) == 3


def _message(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                            "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                            "usage": {"input_tokens": 3, "output_tokens": 1}}
    body.update(over)
    return body


def test_parse_response() -> None:
    body = _message(content=[
        {"type": "thinking", "thinking": "hm", "signature": "S1"}, {"type": "text", "text": "a"}, "junk",
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}, {"type": "server_tool_use", "id": "s"},
        {"type": "text", "text": None}, {"type": "thinking", "thinking": None, "signature": None},
        {"type": "tool_use", "input": None}, {"type": "text", "text": "b"},
    ])
    r = w.parse_response(body, provider="p", latency=0.5, url=URL, model="asked")
    assert (r.text, r.thinking, r.thinking_signature, r.finish_reason) == ("ab", "hm", "S1", "tool_calls")
    assert r.tool_calls == [ToolCall("t1", "f", {"x": 1}, raw_arguments='{"x": 1}'), ToolCall("toolu_1", "", {}, raw_arguments="{}")]
    assert (r.model, r.provider, r.latency, r.id, r.raw) == ("claude-x", "p", 0.5, "msg_1", body)
    assert r.usage == Usage(input_tokens=3, output_tokens=1)
    r = w.parse_response(_message(model=None, id=None, content=None, stop_reason="max_tokens"), provider="p", model="asked")
    assert (r.model, r.id, r.text, r.thinking, r.finish_reason, r.latency) == ("asked", None, "", None, "length", 0.0)
    assert w.parse_response(_message(model=None), provider="p").model == ""
    r = w.parse_response(_message(content=[{"type": "tool_use", "id": "t", "name": "f", "input": {}}], stop_reason="max_tokens"), provider="p")
    assert r.finish_reason == "length"


def test_parse_response_errors() -> None:
    with pytest.raises(E.ProviderError, match="unexpected response body: oops") as info:
        w.parse_response("oops", provider="p", url=URL)  # type: ignore[arg-type]
    assert (info.value.provider, info.value.url) == ("p", URL)
    with pytest.raises(E.RateLimitError) as rl:
        w.parse_response({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, provider="p", url=URL, model="m")
    assert (rl.value.status_code, rl.value.provider, rl.value.url, rl.value.model) == (429, "p", URL, "m")
    with pytest.raises(E.ProviderError) as e500:
        w.parse_response({"error": "bare"}, provider="p")
    assert e500.value.status_code == 500
    r = w.parse_response(_message(error=None), provider="p")
    assert r.text == "Hi"
    r = w.parse_response(_message(error={"type": "x"}), provider="p")  # content beside an error: a Message
    assert r.text == "Hi"
    with pytest.raises(E.ProviderError) as shape:
        w.parse_response(_message(content="text"), provider="p", url=URL, model="m")
    assert "content is str, expected a list of blocks" in shape.value.message
    assert shape.value.hint == "is this server speaking the Anthropic Messages API?"
    assert (shape.value.provider, shape.value.url, shape.value.model) == ("p", URL, "m")
    r = w.parse_response(_message(content=({"type": "text", "text": "tuple"},)), provider="p")
    assert r.text == "tuple"


# --- stream mapping ------------------------------------------------------------------------------


def acc() -> w.MessagesStreamAccumulator:
    return w.MessagesStreamAccumulator(provider="p", model="m", url=URL)


def start(**message: Any) -> dict[str, Any]:
    return {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}, **message}}


def block(index: int, **content: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: Any, **d: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def test_a_new_accumulator() -> None:
    a = acc()
    assert (a.blocks, a.ncalls, a.stop_sequence, a.usage_raw, a.stop_reason) == ({}, 0, None, {}, None)
    assert w.MessagesStreamAccumulator.API == "Anthropic Messages" and w.MessagesStreamAccumulator.CALL_ID_PREFIX == "toolu_"


def test_message_start_and_stop() -> None:
    a = acc()
    assert a.feed(start()) == []
    assert (a.id, a.model, a.usage_raw) == ("msg_1", "claude-x", {"input_tokens": 5, "output_tokens": 1})
    assert a.usage == Usage(input_tokens=5, output_tokens=1)
    b = acc()
    b.feed({"type": "message_start", "message": {"model": "", "usage": {"input_tokens": None}}})
    assert (b.id, b.model, b.usage_raw) == (None, "m", {})
    c = acc()
    c.feed({"type": "message_start"})
    assert c.usage_raw == {} and c.usage == Usage(known=False)
    assert a.feed({"type": "content_block_stop", "index": 0}) == []
    assert a.feed({"type": "ping"}) == [] and a.feed({}) == []
    assert a.done is False
    assert a.feed({"type": "message_stop"}) == [] and a.done is True


def test_text_and_thinking_blocks() -> None:
    a = acc()
    assert a.feed(block(0, type="thinking", thinking="a", signature="S0")) == [ThinkingDelta("a")]
    assert a.signature == "S0"
    assert a.feed(delta(0, type="thinking_delta", thinking="b")) == [ThinkingDelta("b")]
    assert a.feed(delta(0, type="thinking_delta", thinking="")) == []
    assert a.feed(delta(0, type="signature_delta", signature="S1")) == [ThinkingDelta("", signature="S1")]
    assert a.feed(delta(0, type="signature_delta", signature="")) == []
    assert a.signature == "S1" and a.blocks[0].data["signature"] == "S1"
    assert a.feed(block(1, type="text", text="")) == []
    assert a.feed(block(2, type="text", text="x")) == [TextDelta("x")]
    assert a.feed(delta(1, type="text_delta", text="y")) == [TextDelta("y")]
    assert a.feed(delta(1, type="text_delta", text="")) == []
    assert a.feed(delta(9, type="text_delta", text="lost")) == []
    assert a.feed(delta(None, type="text_delta", text="lost")) == []
    assert a.feed(delta(9, type="thinking_delta", thinking="lost")) == []
    assert a.feed(delta(9, type="signature_delta", signature="S9")) == [ThinkingDelta("", signature="S9")]
    assert a.signature == "S1"
    assert a.feed(delta(2, type="signature_delta", signature="on text")) == [ThinkingDelta("", signature="on text")]
    assert a.signature == "S1" and a.blocks[2].data["signature"] == "on text"
    assert a.feed(delta(1, type="citations_delta", citation={"n": 1})) == []
    a.feed(delta(1, type="citations_delta", citation={"n": 2}))
    a.feed(delta(1, type="citations_delta", citation=None))
    a.feed(delta(9, type="citations_delta", citation={"n": 3}))
    assert a.blocks[1].data["citations"] == [{"n": 1}, {"n": 2}]
    assert a.feed(delta(1, type="unknown_delta", text="z")) == []
    assert (a.text, a.thinking) == (["x", "y"], ["a", "b"])
    b = acc()
    b.feed(block(0, type="thinking", thinking=""))
    assert b.signature is None and b.thinking == []
    b.feed(block(1, type="thinking", thinking="t", signature="Z"))
    b.feed(block(2, type="thinking", thinking="u"))
    assert b.signature == "Z"


def test_block_index_defaults_and_wrong_types() -> None:
    a = acc()
    a.feed({"type": "content_block_start", "content_block": {"type": "text", "text": "a"}})
    a.feed({"type": "content_block_start", "content_block": {"type": "text", "text": "b"}})
    assert sorted(a.blocks) == [0, 1]
    for bad in ({"type": "content_block_start", "index": "0", "content_block": {}}, delta("0", type="text_delta", text="x"),
                delta(0, type="text_delta", text=5), block(5, type="text", text=5), block(6, type="thinking", thinking=[1]),
                block(7, type="thinking", thinking="t", signature=3), {"type": "message_delta", "delta": {"stop_reason": 1}},
                {"type": "message_delta", "delta": {"stop_sequence": 2}}, start(id=3), start(model=4),
                block(8, type="tool_use", id=5), block(8, type="tool_use", name=5)):
        with pytest.raises(E.ProviderError) as info:
            acc().feed(bad)
        assert "unexpected response shape" in info.value.message, bad
        assert info.value.hint == "is this server speaking the Anthropic Messages API?"
    c = acc()
    c.feed({"type": "content_block_start", "index": 0})
    assert c.blocks[0].data == {}


def test_tool_use_blocks() -> None:
    a = acc()
    assert a.feed(block(0, type="text", text="a")) == [TextDelta("a")]
    assert a.feed(block(1, type="tool_use", id="t1", name="f", input={})) == [ToolCallDelta(0, "t1", "f", "")]
    assert a.feed(delta(1, type="input_json_delta", partial_json='{"q"')) == [ToolCallDelta(0, None, None, '{"q"')]
    assert a.feed(delta(1, type="input_json_delta", partial_json="")) == []
    assert a.feed(delta(9, type="input_json_delta", partial_json="x")) == []
    a.feed(delta(1, type="input_json_delta", partial_json=": 1}"))
    assert a.feed(block(2, type="tool_use", id="t2", name="g", input={"whole": True})) == [ToolCallDelta(1, "t2", "g", "")]
    assert a.feed(block(3, type="server_tool_use", id="s1", name="web_search", input={})) == []
    assert a.feed(delta(3, type="input_json_delta", partial_json='{"query": "x"}')) == []
    assert a.feed(block(4, type="tool_use", input="not an object")) == [ToolCallDelta(2, None, None, "")]
    assert a.ncalls == 3
    a.feed({"type": "message_delta", "delta": {"stop_reason": "tool_use"}})
    a.feed({"type": "message_stop"})
    r = a.result()
    assert r.tool_calls == [
        ToolCall("t1", "f", {"q": 1}, raw_arguments='{"q": 1}'),
        ToolCall("t2", "g", {"whole": True}, raw_arguments="{}"),
        ToolCall("toolu_2", "", {}, raw_arguments="{}"),
    ]
    assert r.finish_reason == "tool_calls" and r.text == "a"
    assert r.raw["content"] == [
        {"type": "text", "text": "a"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}},
        {"type": "tool_use", "id": "t2", "name": "g", "input": {"whole": True}},
        {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "x"}},
        {"type": "tool_use", "input": "not an object"},
    ]


def test_message_delta() -> None:
    a = acc()
    a.feed(start())
    out = a.feed({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None}, "usage": {"output_tokens": 9, "x": None}})
    assert out == [UsageEvent(Usage(input_tokens=5, output_tokens=9))]
    assert (a.stop_reason, a.finish, a.stop_sequence, a.usage_raw) == ("max_tokens", "max_tokens", None, {"input_tokens": 5, "output_tokens": 9})
    assert a.feed({"type": "message_delta", "delta": {"stop_reason": "", "stop_sequence": "END"}}) == []
    assert (a.stop_reason, a.stop_sequence) == ("max_tokens", "END")
    assert a.feed({"type": "message_delta", "delta": {}, "usage": {}}) == []
    a.feed({"type": "message_delta"})
    assert a.stop_sequence == "END"


def test_the_result_and_its_raw() -> None:
    a = acc()
    for e in (start(), block(0, type="thinking", thinking=""), delta(0, type="thinking_delta", thinking="hm"),
              delta(0, type="signature_delta", signature="SIG"), block(1, type="text", text=""), delta(1, type="text_delta", text="He"),
              delta(1, type="text_delta", text="y"),
              {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}},
              {"type": "message_stop"}):
        a.feed(e)
    r = a.result()
    assert (r.text, r.thinking, r.thinking_signature, r.finish_reason, r.id, r.model, r.provider) == (
        "Hey", "hm", "SIG", "stop", "msg_1", "claude-x", "p")
    assert r.usage == Usage(input_tokens=5, output_tokens=3)
    assert r.raw == {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "thinking", "thinking": "hm", "signature": "SIG"}, {"type": "text", "text": "Hey"}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 3},
    }
    assert r.raw["usage"] is not a.usage_raw
    empty = acc().result()
    assert empty.usage == Usage(known=False) and empty.finish_reason is None and empty.raw["content"] == []


def test_end_problem_and_shape_errors_quote_what_was_seen() -> None:
    a = acc()
    assert a.end_problem(None) == "no message_stop"
    a.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}})
    assert '"type": "message_delta"' in a.shape_error(TypeError("t")).message
    assert '{"given": 1}' in a.shape_error(TypeError("t"), {"given": 1}).message
    a.feed({"type": "message_stop"})
    assert a.end_problem(None) is None
    msg = a.shape_error(TypeError("t")).message
    assert '"stop_reason": "end_turn"' in msg and '"usage": {"output_tokens": 1}' in msg


def test_take_sse_events() -> None:
    a = acc()
    assert a.take(SSEEvent("content_block_start", json.dumps(block(0, type="text", text="hi")))) == [TextDelta("hi")]
    assert a.seen == block(0, type="text", text="hi")
    with pytest.raises(E.ProviderError) as info:
        a.take(SSEEvent("message", "{bad"))
    e = info.value
    assert e.message == "malformed stream event: '{bad'" and (e.provider, e.url) == ("p", URL)
    assert e.hint == "the server sent an event that is not JSON; is the base URL an Anthropic endpoint?"
    with pytest.raises(E.ProviderError, match="malformed stream event"):
        a.take(SSEEvent("message", "[" * 100000))
    with pytest.raises(E.ProviderError) as info:
        a.take(SSEEvent("message", "[" + "1," * 150 + "1]"))
    assert info.value.message == "unexpected stream event: " + repr(("[" + "1," * 150 + "1]")[:200])
    assert (info.value.provider, info.value.url) == ("p", URL)
    long = "y" * 300
    with pytest.raises(E.ProviderError) as info:
        a.take(SSEEvent("message", long))
    assert info.value.message == f"malformed stream event: {long[:200]!r}"


def test_error_events() -> None:
    with pytest.raises(E.RateLimitError) as info:
        acc().feed({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    assert (info.value.provider, info.value.url, info.value.model) == ("p", URL, "m")
    with pytest.raises(E.ProviderError) as info:
        acc().take(SSEEvent("error", json.dumps({"error": {"type": "overloaded_error", "message": "busy"}})))
    assert info.value.status_code == 529
    with pytest.raises(E.ProviderError) as info:
        acc().take(SSEEvent("error", json.dumps({"type": "not_found_error", "message": "gone"})))
    assert info.value.status_code == 404 and info.value.details == {"type": "error", "error": {"type": "not_found_error", "message": "gone"}}
    with pytest.raises(E.ProviderError) as info:
        acc().take(SSEEvent("error", json.dumps({"message": "flat"})))
    assert info.value.status_code == 500 and info.value.details == {"type": "error", "error": {"message": "flat"}}
    with pytest.raises(E.ProviderError) as info:
        acc().take(SSEEvent("error", json.dumps({"type": "error", "error": {"type": "not_found_error", "message": "x"}})))
    assert info.value.status_code == 404
    with pytest.raises(E.ProviderError) as info:
        acc().feed({"type": "error", "error": "flat"})
    assert info.value.status_code == 500


def test_iter_stream() -> None:
    events = [start(), block(0, type="text", text=""), delta(0, type="text_delta", text="ok"), {"type": "message_stop"}]
    body = b"".join(b"event: e\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events)
    items = drain(w.iter_stream(chunks([body]), acc()))
    assert items[0] == TextDelta("ok") and type(items[1]) is Response and items[1].text == "ok"
    with pytest.raises(E.ProviderConnectionError, match="no message_stop"):
        drain(w.iter_stream(chunks([body[: body.rindex(b"event:")]]), acc()))


# --- exact shape errors (the field, its type, what was expected) --------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (_message(model=1), "model is int, expected a string"),
        (_message(id=2), "id is int, expected a string"),
        (_message(stop_reason=3), "stop_reason is int, expected a string"),
        (_message(content=[{"type": "thinking", "thinking": "t", "signature": 4}]), "thinking.signature is int, expected a string"),
        (_message(content=[{"type": "tool_use", "id": 5}]), "tool_use.id is int, expected a string"),
        (_message(content=[{"type": "tool_use", "name": 6}]), "tool_use.name is int, expected a string"),
    ],
)
def test_parse_response_names_the_field_of_the_wrong_type(body: dict[str, Any], said: str) -> None:
    with pytest.raises(E.ProviderError) as info:
        w.parse_response(body, provider="p", url=URL, model="m")
    assert f"(TypeError: {said}) in " in info.value.message
    assert '"role": "assistant"' in info.value.message  # the body is quoted


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (start(id=1), "message.id is int, expected a string"),
        (start(model=2), "message.model is int, expected a string"),
        (delta("0", type="text_delta", text="x"), "index is str, expected an integer"),
        ({"type": "content_block_start", "index": "1", "content_block": {}}, "index is str, expected an integer"),
        (delta(0, type="text_delta", text=3), "delta.text is int, expected a string"),
        (delta(0, type="input_json_delta", partial_json=4), "delta.partial_json is int, expected a string"),
        (delta(0, type="thinking_delta", thinking=5), "delta.thinking is int, expected a string"),
        (delta(0, type="signature_delta", signature=6), "delta.signature is int, expected a string"),
        (block(0, type="thinking", thinking="t", signature=7), "thinking.signature is int, expected a string"),
        (block(0, type="tool_use", id=8), "tool_use.id is int, expected a string"),
        (block(0, type="tool_use", name=9), "tool_use.name is int, expected a string"),
        (block(0, type="text", text=10), "text.text is int, expected a string"),
        ({"type": "message_delta", "delta": {"stop_reason": 11}}, "delta.stop_reason is int, expected a string"),
        ({"type": "message_delta", "delta": {"stop_sequence": 12}}, "delta.stop_sequence is int, expected a string"),
    ],
)
def test_an_event_names_the_field_of_the_wrong_type(event: dict[str, Any], said: str) -> None:
    with pytest.raises(E.ProviderError) as info:
        acc().feed(event)
    assert f"(TypeError: {said}) in " in info.value.message


def test_shape_error_names_the_python_error() -> None:
    a = acc()
    a.feed({"type": "message_stop"})
    assert a.shape_error(TypeError("t")).message.startswith("unexpected response shape (TypeError: t) in ")


def test_given_arguments_win_over_raw_ones() -> None:
    m = Message("assistant", None, tool_calls=[ToolCall("t", "f", {"a": 1}, raw_arguments='{"b": 2}')])
    assert w._assistant_blocks(m) == [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]


def test_an_error_event_already_in_shape_is_kept() -> None:
    with pytest.raises(E.ProviderError) as info:
        acc().take(SSEEvent("error", '{"type": "error"}'))
    assert info.value.details == {"type": "error"}


def test_no_thinking_means_no_signature() -> None:
    assert w.parse_response(_message(), provider="p").thinking_signature is None


def test_a_tool_result_first() -> None:
    assert w.messages_to_wire([Message("tool", "r", tool_call_id="a")]) == (
        None, [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"}]}])


def test_an_error_type_with_content_is_still_an_error() -> None:
    with pytest.raises(E.ProviderError) as info:
        w.parse_response({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}, "content": []}, provider="p")
    assert info.value.status_code == 529


def test_a_long_unexpected_body_is_cut_at_200() -> None:
    body = ["x" * 300]
    with pytest.raises(E.ProviderError) as info:
        w.parse_response(body, provider="p")  # type: ignore[arg-type]
    assert info.value.message == f"unexpected response body: {str(body)[:200]}"


def test_iter_stream_applies_its_limits() -> None:
    from llmswitch._limits import Limits

    with pytest.raises(E.ResponseTooLargeError):
        drain(w.iter_stream(chunks([b"data: " + b"x" * 500 + b"\n\n"]), acc(), limits=Limits(max_line_bytes=100)))
