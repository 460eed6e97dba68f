"""Unit tests of Ollama's native wire (``llmswitch._wire.ollama``): the exact request body, the
errors read from a stream line or refined from an HTTP error, and the NDJSON framing. Written
against the survivors of ``scripts/mutation --module wire.ollama``."""

from __future__ import annotations

import hashlib

import pytest

from llmswitch import errors as E
from llmswitch._limits import Limits
from llmswitch._wire.ollama import (
    NDJSONDecoder,
    OllamaChatAccumulator,
    _counts,
    build_request,
    error_from_line,
    iter_chat_stream,
    iter_ndjson,
    messages_to_wire,
    ndjson_decoder,
    pull_hint,
    refine_error,
    tool_call_id,
)
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


# --- the stream mapping (OllamaChatAccumulator on the shared assembler) --------------------------


def _acc() -> OllamaChatAccumulator:
    return OllamaChatAccumulator(provider="ollama", model="m", url="http://u/api/chat")


def test_a_new_accumulator() -> None:
    a = _acc()
    assert (a.provider, a.model, a.url, a.final, a.done) == ("ollama", "m", "http://u/api/chat", None, False)
    assert OllamaChatAccumulator.API == "Ollama"


def test_lines_become_events() -> None:
    a = _acc()
    assert a.feed({"message": {"thinking": "hm", "content": "He"}}) == [ThinkingDelta("hm"), TextDelta("He")]
    assert a.feed({"message": {"thinking": "", "content": ""}}) == []
    assert a.feed({"message": None}) == [] and a.feed({}) == []
    done = {"model": "llama3.2", "done": True, "done_reason": "stop", "prompt_eval_count": 4, "eval_count": 2}
    assert a.feed(done) == [UsageEvent(Usage(input_tokens=4, output_tokens=2))]
    assert (a.done, a.final, a.model, a.usage) == (True, done, "llama3.2", Usage(input_tokens=4, output_tokens=2))
    r = a.result()
    assert (r.text, r.thinking, r.finish_reason, r.model, r.provider, r.raw) == ("He", "hm", "stop", "llama3.2", "ollama", done)
    assert r.tokens_per_second is None
    b = _acc()
    b.feed({"done": True, "model": ""})
    assert b.model == "m" and b.result().usage == Usage()


def test_lines_of_the_wrong_shape() -> None:
    for line in ([1], "x", None):
        with pytest.raises(E.ProviderError) as info:
            _acc().feed(line)
        assert info.value.message == f"unexpected stream line: {str(line)[:200]!r}"
        assert (info.value.provider, info.value.url) == ("ollama", "http://u/api/chat")
    long = ["x" * 300]
    with pytest.raises(E.ProviderError) as info:
        _acc().feed(long)
    assert info.value.message == f"unexpected stream line: {str(long)[:200]!r}"
    for line in ({"message": {"content": 1}}, {"message": {"thinking": 2}}, {"done": True, "model": 3},
                 {"message": {"tool_calls": [{"function": {"name": 1}}]}}, {"message": {"tool_calls": [{"function": {"arguments": 5}}]}},
                 {"message": {"tool_calls": [{"id": 5, "function": {}}]}}):
        with pytest.raises(E.ProviderError) as info:
            _acc().feed(line)
        assert "unexpected response shape" in info.value.message and info.value.hint == "is this server speaking the Ollama API?"
    with pytest.raises(E.ProviderUnavailableError) as err:
        _acc().feed({"error": "runner crashed"})
    assert (err.value.provider, err.value.url, err.value.model) == ("ollama", "http://u/api/chat", "m")
    assert _acc().feed({"error": None, "message": {"content": "ok"}}) == [TextDelta("ok")]


def test_whole_tool_calls() -> None:
    a = _acc()
    out = a.feed({"message": {"tool_calls": [
        {"id": "given", "function": {"name": "f", "arguments": {"b": 1, "a": 2}}},
        {"function": {"name": "g", "arguments": '{"s": 1}'}},
        {"function": {"name": "h", "arguments": "[1]"}},
        {"function": {}},
        {},
    ]}})
    gid = tool_call_id(1, "g", '{"s": 1}')
    assert out == [
        ToolCallDelta(0, "given", "f", '{"b": 1, "a": 2}'),
        ToolCallDelta(1, gid, "g", '{"s": 1}'),
        ToolCallDelta(2, tool_call_id(2, "h", "[1]"), "h", "[1]"),
        ToolCallDelta(3, tool_call_id(3, "", {}), "", "{}"),
        ToolCallDelta(4, tool_call_id(4, "", {}), "", "{}"),
    ]
    a.feed({"done": True, "done_reason": "stop"})
    r = a.result()
    assert r.tool_calls[:3] == [
        ToolCall("given", "f", {"b": 1, "a": 2}, raw_arguments='{"b": 1, "a": 2}'),
        ToolCall(gid, "g", {"s": 1}, raw_arguments='{"s": 1}'),
        ToolCall(tool_call_id(2, "h", "[1]"), "h", {"value": [1]}, raw_arguments="[1]"),
    ]
    assert r.tool_calls[3].arguments == {} and r.tool_calls[3].raw_arguments == "{}"
    assert r.finish_reason == "tool_calls"
    b = _acc()
    b.feed({"message": {"tool_calls": [{"function": {"name": "x", "arguments": "{bad"}}]}})
    b.feed({"done": True, "done_reason": "length"})
    r = b.result()
    assert r.tool_calls[0].arguments == {} and r.tool_calls[0].raw_arguments == "{bad" and r.finish_reason == "length"


def test_done_reasons_and_rates() -> None:
    for reason, ours in (("stop", "stop"), ("length", "length"), ("load", "stop"), ("unload", "stop"), ("odd", "stop"),
                         (None, "stop"), ("", "stop")):
        a = _acc()
        a.feed({"done": True, "done_reason": reason})
        assert a.result().finish_reason == ours
    a = _acc()
    a.feed({"done": True, "eval_count": 30, "eval_duration": 3_000_000_000})
    assert a.result().tokens_per_second == 10.0
    for final in ({"done": True, "eval_count": 30}, {"done": True, "eval_duration": 5}, {"done": True, "eval_count": 0, "eval_duration": 5}):
        a = _acc()
        a.feed(final)
        assert a.result().tokens_per_second is None
    assert _acc().result().tokens_per_second is None


def test_a_whole_answer_without_done() -> None:
    a = _acc()
    a.feed({"message": {"content": "all"}, "prompt_eval_count": 3, "eval_count": 1})
    assert a.result().usage == Usage(known=False)
    a.done = True
    r = a.result()
    assert r.usage == Usage() and r.finish_reason == "stop" and r.raw is None


def test_end_problem_and_shape_errors() -> None:
    a = _acc()
    assert a.end_problem(None) == "no final `done: true` line"
    a.feed({"message": {"content": "x"}, "seen": 1})
    assert '"seen": 1' in a.shape_error(TypeError("t")).message
    a.feed({"done": True, "final": 2})
    assert a.end_problem(None) is None
    assert '"final": 2' in a.shape_error(TypeError("t")).message
    assert '{"given": 3}' in a.shape_error(TypeError("t"), {"given": 3}).message
    b = _acc()
    b.feed({"done": True, "done_reason": ["x"]})
    with pytest.raises(E.ProviderError) as info:
        b.result()
    assert "unexpected response shape (TypeError" in info.value.message and '"done_reason": ["x"]' in info.value.message


def test_counts() -> None:
    assert _counts({}) == Usage()
    assert _counts({"prompt_eval_count": None, "eval_count": 5}) == Usage(output_tokens=5)
    assert _counts({"prompt_eval_count": 7.0}) == Usage(input_tokens=7)


def test_iter_chat_stream_and_its_decoder() -> None:
    lines = b'{"message": {"content": "a"}}\n{"done": true, "eval_count": 1}'
    items = drain(iter_chat_stream(chunks([lines]), _acc()))
    assert items[0] == TextDelta("a") and UsageEvent(Usage(output_tokens=1)) == items[1] and type(items[2]) is Response
    with pytest.raises(E.ProviderConnectionError, match="no final `done: true` line"):
        drain(iter_chat_stream(chunks([b'{"message": {"content": "a"}}\n']), _acc()))
    d = ndjson_decoder(_acc(), Limits(max_line_bytes=64))
    assert (d._line.limit, d.provider, d.url) == (64, "ollama", "http://u/api/chat")
    with pytest.raises(E.ResponseTooLargeError):
        drain(iter_chat_stream(chunks([b'{"message": {"content": "' + b"x" * 100 + b'"}}\n']), _acc(), limits=Limits(max_line_bytes=64)))


def test_ndjson_decoder_is_what_the_driver_reads() -> None:
    d = NDJSONDecoder()
    assert d.iter_feed(b'{"a": 1}\n') == [{"a": 1}]
    d.feed(b'{"b": 2}')
    assert d.close() == [{"b": 2}]
    assert d.feed(b'\xef\xbb\xbf{"bom": 1}\n') == [{"bom": 1}]


async def test_iter_ndjson() -> None:
    got = [o async for o in iter_ndjson(chunks([b'{"a": 1}\n{"b"', b": 2}"]), provider="p", url="http://u", max_line_bytes=64)]
    assert got == [{"a": 1}, {"b": 2}]
    with pytest.raises(E.ProviderConnectionError) as info:
        [o async for o in iter_ndjson(chunks([b'{"a"']), provider="p", url="http://u")]
    assert (info.value.provider, info.value.url) == ("p", "http://u")
    with pytest.raises(E.ResponseTooLargeError):
        [o async for o in iter_ndjson(chunks([b'{"a": "' + b"x" * 100 + b'"}\n']), max_line_bytes=64)]


# --- exact errors (the field, its type, what was expected; provider and url on every error) -------


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ({"message": {"thinking": 1}}, "message.thinking is int, expected a string"),
        ({"message": {"content": 2}}, "message.content is int, expected a string"),
        ({"done": True, "model": 3}, "model is int, expected a string"),
        ({"message": {"tool_calls": [{"function": {"name": 4}}]}}, "tool_calls[].function.name is int, expected a string"),
        ({"message": {"tool_calls": [{"function": {"arguments": 5}}]}}, "tool_calls[].function.arguments is int, expected an object"),
        ({"message": {"tool_calls": [{"id": 6, "function": {}}]}}, "tool_calls[].id is int, expected a string"),
    ],
)
def test_a_line_names_the_field_of_the_wrong_type(line: dict, said: str) -> None:
    with pytest.raises(E.ProviderError) as info:
        _acc().feed(line)
    assert f"(TypeError: {said}) in " in info.value.message


def test_a_mapping_line_that_is_not_a_dict() -> None:
    from types import MappingProxyType

    assert _acc().feed(MappingProxyType({"message": {"content": "x"}})) == [TextDelta("x")]


def test_object_arguments_are_kept_as_sent() -> None:
    inner = [1, 2]
    a = _acc()
    a.feed({"message": {"tool_calls": [{"function": {"name": "f", "arguments": {"x": inner}}}]}})
    assert a.calls[0].arguments is not None and a.calls[0].arguments["x"] is inner


def test_error_lines_keep_their_message_and_context() -> None:
    body = {"error": "llama3 does not support tools"}
    e = _line_error(body)
    assert type(e) is E.CapabilityError and e.message == "llama3 does not support tools"
    assert (e.provider, e.url, e.model, e.status_code, e.details) == ("ollama", "http://u", "m", 200, body)
    body = {"error": "input exceeds the context length"}
    e = _line_error(body)
    assert type(e) is E.ContextWindowExceededError and e.message == "input exceeds the context length"
    assert (e.provider, e.url, e.model, e.status_code, e.details) == ("ollama", "http://u", "m", 200, body)


def test_dropped_parameters_do_not_end_the_others() -> None:
    body = build_request("m", [Message("user", "hi")], params={"tool_choice": "auto", "stream": False, "seed": None, "temperature": 0.5})
    assert body["options"] == {"temperature": 0.5}


def test_unsupported_parts_are_named() -> None:
    with pytest.raises(TypeError, match="unsupported content part: 3"):
        messages_to_wire([_bad_part_message()])


def _bad_part_message() -> Message:
    m = Message("user", "x")
    m.content = [3]  # type: ignore[list-item]
    return m


def test_a_tool_result_without_its_call_id_finds_a_call_without_id() -> None:
    msgs = [Message("assistant", None, tool_calls=[ToolCall("", "f", {})]), Message("tool", "r")]
    assert messages_to_wire(msgs)[1]["tool_name"] == "f"


def test_the_decoder_knows_its_provider_and_url() -> None:
    d = NDJSONDecoder()
    assert d.provider == "ollama" and d.url is None
    a = OllamaChatAccumulator(provider="mine", model="m", url="http://v")
    d = ndjson_decoder(a)
    assert (d.provider, d.url) == ("mine", "http://v")
    d = NDJSONDecoder(provider="p", url="http://w", max_line_bytes=4)
    d.feed(b"abc")
    with pytest.raises(E.ResponseTooLargeError) as info:
        d.feed(b"de")
    assert (info.value.provider, info.value.url) == ("p", "http://w")
    with pytest.raises(E.ProviderError) as bad:
        NDJSONDecoder(provider="p", url="http://w").feed(b'"\xff"\n')
    assert (bad.value.provider, bad.value.url) == ("p", "http://w")


def test_long_lines_are_quoted_to_a_limit() -> None:
    line = b"x" * 300
    with pytest.raises(E.ProviderError) as info:
        NDJSONDecoder().feed(line + b"\n")
    assert info.value.message == f"malformed stream line: {line[:200]!r}"
    d = NDJSONDecoder()
    held = b'{"a": "' + b"y" * 100
    d.feed(held)
    with pytest.raises(E.ProviderConnectionError) as cut:
        d.flush()
    assert cut.value.message == f"the stream ended before it was complete (in the middle of a line: {held[:80]!r})"


async def test_iter_ndjson_defaults_to_ollama() -> None:
    with pytest.raises(E.ProviderConnectionError) as info:
        [o async for o in iter_ndjson(chunks([b'{"a"']))]
    assert info.value.provider == "ollama"
