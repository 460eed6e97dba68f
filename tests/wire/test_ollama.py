"""The Ollama wire module on its own: request building, NDJSON framing, line → event mapping."""

from __future__ import annotations

import base64

import pytest

from llmswitch import errors as E
from llmswitch._wire import ollama as wire
from llmswitch.types import ImagePart, Message, TextPart, Tool, ToolCall, ToolCallDelta, UsageEvent


def test_options_think_keep_alive_are_placed_where_ollama_reads_them() -> None:
    body = wire.build_request(
        "qwen3:8b",
        [Message.user("hi")],
        stream=True,
        params={"num_ctx": 16384, "temperature": 0.2, "max_tokens": 64, "think": "high", "keep_alive": "10m",
                "options": {"seed": 7}, "response_format": {"type": "json_object"}},
    )
    assert body["options"] == {"seed": 7, "num_ctx": 16384, "temperature": 0.2, "num_predict": 64}
    assert body["think"] == "high" and body["keep_alive"] == "10m" and body["format"] == "json"
    assert body["stream"] is True and "max_tokens" not in body and "num_ctx" not in body


def test_json_schema_response_format_becomes_format_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = wire.build_request("m", [Message.user("x")], params={"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}})
    assert body["format"] == schema


def test_images_go_as_bare_base64_and_remote_urls_are_refused() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    body = wire.build_request("llava", [Message.user([TextPart("what is this?"), ImagePart(data=png)])])
    msg = body["messages"][0]
    assert msg["content"] == "what is this?"
    assert msg["images"] == [base64.b64encode(png).decode()]
    with pytest.raises(E.InvalidRequestError, match="inline"):
        wire.build_request("llava", [Message.user([ImagePart(url="https://example.com/cat.png")])])


def test_tool_round_trip_messages_use_native_shapes() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Tokyo"})
    msgs = [Message.user("weather?"), Message.assistant(None, [call]), Message.tool_result("call_1", "11 degrees")]
    body = wire.build_request("m", msgs, tools=[Tool("get_weather", "the weather")])
    assistant, result = body["messages"][1], body["messages"][2]
    assert assistant["tool_calls"][0]["function"]["arguments"] == {"city": "Tokyo"}  # an object, not a string
    assert result == {"role": "tool", "content": "11 degrees", "tool_name": "get_weather", "tool_call_id": "call_1"}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_tool_choice_none_drops_tools() -> None:
    body = wire.build_request("m", [Message.user("x")], tools=[Tool("t")], params={"tool_choice": "none"})
    assert "tools" not in body


def test_ndjson_decoder_joins_lines_split_across_chunks() -> None:
    d = wire.NDJSONDecoder()
    assert d.feed(b'{"a": 1}\n{"b"') == [{"a": 1}]
    assert d.feed(b': 2}\n\n{"c": 3}') == [{"b": 2}]
    assert d.flush() == [{"c": 3}]
    with pytest.raises(E.ProviderError, match="malformed"):
        d.feed(b"not json\n")


def test_tool_calls_without_id_get_stable_ids_and_object_arguments() -> None:
    line = {"message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}},
        {"function": {"index": 1, "name": "get_time", "arguments": {"tz": "JST"}}},
    ]}, "done": False}
    acc1 = wire.OllamaChatAccumulator(provider="ollama", model="m")
    acc2 = wire.OllamaChatAccumulator(provider="ollama", model="m")
    ev1, ev2 = acc1.feed(line), acc2.feed(line)
    assert [e.id for e in ev1] == [e.id for e in ev2]  # same call, same id
    assert ev1[0].id != ev1[1].id and ev1[0].id.startswith("call_")
    assert all(isinstance(e, ToolCallDelta) for e in ev1)
    acc1.feed({"done": True, "done_reason": "stop", "message": {"role": "assistant", "content": ""}})
    r = acc1.result()
    assert [c.id for c in r.tool_calls] == [e.id for e in ev1]
    assert r.tool_calls[0].arguments == {"city": "Tokyo"} and r.finish_reason == "tool_calls"


def test_server_given_tool_call_id_is_kept() -> None:
    acc = wire.OllamaChatAccumulator(provider="ollama", model="m")
    acc.feed({"message": {"tool_calls": [{"id": "call_k3j9x0qa", "function": {"index": 0, "name": "f", "arguments": {}}}]}})
    assert acc.calls[0].id == "call_k3j9x0qa"


def test_absent_counters_mean_zero_and_rate_comes_from_durations() -> None:
    acc = wire.OllamaChatAccumulator(provider="ollama", model="m")
    events = acc.feed({"done": True, "done_reason": "length", "eval_count": 20, "eval_duration": 2_000_000_000})
    usage = [e for e in events if isinstance(e, UsageEvent)][0].usage
    assert (usage.input_tokens, usage.output_tokens, usage.known) == (0, 20, True)
    r = acc.result()
    assert r.tokens_per_second == pytest.approx(10.0) and r.finish_reason == "length"


def test_error_lines_map_by_meaning() -> None:
    kw = dict(provider="ollama", url="http://x/api/chat", model="m")
    assert isinstance(wire.error_from_line({"error": "pull model manifest: file does not exist"}, **kw), E.ModelNotFoundError)
    runner = wire.error_from_line({"error": "an error was encountered while running the model"}, **kw)
    assert type(runner) is E.ProviderUnavailableError and runner.retryable and runner.status_code == 200
    assert isinstance(wire.error_from_line({"error": '"m" does not support thinking'}, **kw), E.CapabilityError)
