"""Unit tests of the shared stream assembler and driver loop (``llmswitch._wire.assemble``).

The assembler is driven through a small mapping written here (``Script``: one JSON object per
line, each naming the part it carries), the same way the three wire modules subclass it, so
each rule of assembly (ids and names once, fragments joined, defaults, the finish reason, the
end check, shape errors, the JSON-instead-of-a-stream answer) is pinned without a wire's own
rules in between. Written against the survivors of ``scripts/mutation --module wire.assemble``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from llmswitch import errors as E
from llmswitch._wire.assemble import (
    PendingCall,
    StreamAssembler,
    drive,
    given,
    parse_tool_arguments,
)
from llmswitch.types import (
    Response,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from tests.wire.helpers import chunks, drain

URL = "http://127.0.0.1:9/x"


class Script(StreamAssembler):
    """A test wire: ``{"t": text}``, ``{"th": thinking}``, ``{"sig": s}``, ``{"call": [index, id, name, args]}``,
    ``{"whole": [index, id, name, arguments, raw]}``, ``{"usage": n}``, ``{"finish": reason}``, ``{"end": true}``;
    a value of the wrong type raises ``TypeError`` as a wire's mapping would."""

    __slots__ = ()
    API = "Script"
    FINISH: ClassVar[Mapping[str, str]] = {"done": "stop", "cut": "length", "calls": "tool_calls"}
    CALL_ID_PREFIX = "id_"

    def take(self, item: Any) -> list[StreamEvent]:
        self.seen = item
        out: list[StreamEvent] = []
        if "t" in item:
            self.text.append(item["t"] + "")
            out.append(TextDelta(item["t"]))
        if "th" in item:
            self.thinking.append(item["th"] + "")
            out.append(ThinkingDelta(item["th"]))
        if "sig" in item:
            self.signature = item["sig"]
        if "call" in item:
            out.append(self.tool_part(*item["call"]))
        if "whole" in item:
            index, call_id, name, arguments, raw = item["whole"]
            call = self.calls[index] = PendingCall(call_id, name)
            call.arguments = arguments
            call.raw = raw
        if "usage" in item:
            self.usage = Usage(input_tokens=1, output_tokens=item["usage"] + 0)
            out.append(UsageEvent(self.usage))
        if "finish" in item:
            self.finish = item["finish"]
        if item.get("end"):
            self.done = True
        return out


class Lines:
    """NDJSON-like framing for ``Script``: whole lines only; ``tail`` is what ``close`` hands over at EOF."""

    def __init__(self, tail: list[Any] | None = None) -> None:
        self.tail = tail or []
        self.closed = 0

    def iter_feed(self, chunk: bytes) -> list[Any]:
        return [json.loads(x) for x in chunk.split(b"\n") if x.strip()]

    def close(self) -> list[Any]:
        self.closed += 1
        return self.tail


def body(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def acc() -> Script:
    return Script(provider="p", model="m", url=URL)


def run(*items: dict[str, Any], a: Script | None = None, tail: list[Any] | None = None, **kw: Any) -> list[Any]:
    a = a or acc()
    return drain(drive(a, Lines(tail), given(chunks([body(*items)])), **kw))


# --- parse_tool_arguments ----------------------------------------------------------------------


def test_parse_tool_arguments() -> None:
    assert parse_tool_arguments(None) == {}
    assert parse_tool_arguments("") == {}
    assert parse_tool_arguments('{"a": 1}') == {"a": 1}
    assert parse_tool_arguments("[1, 2]") == {"value": [1, 2]}
    assert parse_tool_arguments("3") == {"value": 3}
    assert parse_tool_arguments('{"a": ') == {}
    m = {"k": "v"}
    got = parse_tool_arguments(m)
    assert got == m and got is not m


# --- the assembler's state and parts -----------------------------------------------------------


def test_a_new_assembler_holds_nothing() -> None:
    before = time.perf_counter()
    a = acc()
    assert (a.provider, a.model, a.url, a._url) == ("p", "m", URL, URL)
    assert before <= a.started <= time.perf_counter()
    assert (a.text, a.thinking, a.calls) == ([], [], {})
    assert (a.signature, a.finish, a.usage, a.id, a.seen) == (None, None, None, None, None)
    assert a.done is False
    assert Script(provider="p", model="m").url is None
    c = PendingCall()
    assert (c.id, c.name, c.args, c.arguments, c.raw) == (None, None, [], None, "")
    c = PendingCall("i", "n")
    assert (c.id, c.name) == ("i", "n")


def test_the_base_has_no_mapping_and_no_raw() -> None:
    a = StreamAssembler(provider="p", model="m")
    with pytest.raises(NotImplementedError):
        a.take({})
    assert a._raw([]) is None and a._tokens_per_second() is None
    assert StreamAssembler.API == "streaming" and StreamAssembler.FINISH == {} and StreamAssembler.CALL_ID_PREFIX == "call_"
    r = a.result()
    assert r.raw is None and r.tokens_per_second is None
    assert r.tool_calls == [] or r.tool_calls[0].id.startswith("call_")


def test_tool_part_sets_id_and_name_once_and_appends_arguments() -> None:
    a = acc()
    assert a.tool_part(1, "a", "f", '{"x":') == ToolCallDelta(1, "a", "f", '{"x":')
    assert a.tool_part(1, "b", "g", "") == ToolCallDelta(1, "b", "g", "")
    assert a.tool_part(1, None, None, "1}") == ToolCallDelta(1, None, None, "1}")
    assert a.tool_part(0, "", "", "") == ToolCallDelta(0, "", "", "")
    assert list(a.calls) == [1, 0]
    c = a.calls[1]
    assert (c.id, c.name, c.args) == ("a", "f", ['{"x":', "1}"])
    c0 = a.calls[0]
    assert (c0.id, c0.name, c0.args) == (None, None, [])
    a.tool_part(0, "late", "named", "")
    assert (c0.id, c0.name) == ("late", "named")


def test_tool_calls_are_sorted_defaulted_and_parsed() -> None:
    a = acc()
    a.tool_part(2, None, None, '{"b": 2}')
    a.tool_part(0, "x", "f", '{"a"')
    a.tool_part(0, None, None, ": 1}")
    a.tool_part(1, None, None, "not json")
    calls = a.tool_calls()
    assert calls == [
        ToolCall(id="x", name="f", arguments={"a": 1}, raw_arguments='{"a": 1}'),
        ToolCall(id="id_1", name="", arguments={}, raw_arguments="not json"),
        ToolCall(id="id_2", name="", arguments={"b": 2}, raw_arguments='{"b": 2}'),
    ]


def test_whole_arguments_count_only_without_fragments() -> None:
    a = acc()
    whole = a.calls[0] = PendingCall("w", "f")
    whole.arguments, whole.raw = {"k": 1}, '{"k":1}'
    over = a.calls[1] = PendingCall("o", "g")
    over.arguments, over.raw = {"start": True}, "{}"
    over.args.append('{"frag": 2}')
    empty = a.calls[2] = PendingCall("e", "h")
    empty.arguments = {}
    a.calls[3] = PendingCall("n", "i")
    calls = a.tool_calls()
    assert calls[0] == ToolCall(id="w", name="f", arguments={"k": 1}, raw_arguments='{"k":1}')
    assert calls[0].arguments is whole.arguments
    assert calls[1] == ToolCall(id="o", name="g", arguments={"frag": 2}, raw_arguments='{"frag": 2}')
    assert calls[2] == ToolCall(id="e", name="h", arguments={}, raw_arguments="")
    assert calls[3] == ToolCall(id="n", name="i", arguments={}, raw_arguments="")


# --- the Response ------------------------------------------------------------------------------


def test_the_result_joins_the_parts() -> None:
    a = acc()
    for item in ({"t": "Hel", "th": "hm"}, {"t": "lo", "th": "m"}, {"sig": "S"}, {"usage": 5}, {"finish": "cut"}):
        a.feed(item)
    a.id = "r1"
    r = a.result()
    assert (r.text, r.thinking, r.thinking_signature, r.id, r.finish_reason) == ("Hello", "hmm", "S", "r1", "length")
    assert (r.model, r.provider, r.usage) == ("m", "p", Usage(input_tokens=1, output_tokens=5))
    assert r.tool_calls == [] and r.raw is None and r.tokens_per_second is None
    assert 0 <= r.latency < 5


def test_the_result_of_nothing() -> None:
    r = acc().result()
    assert (r.text, r.thinking, r.thinking_signature, r.id, r.finish_reason) == ("", None, None, None, None)
    assert r.usage == Usage(known=False) and r.usage.known is False


@pytest.mark.parametrize(
    ("reason", "with_calls", "expected"),
    [
        (None, False, None), ("done", False, "stop"), ("cut", False, "length"), ("calls", False, "tool_calls"),
        ("whatever", False, "stop"), (None, True, "tool_calls"), ("done", True, "tool_calls"),
        ("whatever", True, "tool_calls"), ("cut", True, "length"),
    ],
)
def test_the_finish_reason(reason: str | None, with_calls: bool, expected: str | None) -> None:
    a = acc()
    a.finish = reason
    if with_calls:
        a.tool_part(0, "c", "f", "{}")
    assert a.result().finish_reason == expected


def test_latency_is_measured_from_the_start() -> None:
    a = acc()
    a.started -= 2.0
    assert 2.0 <= a.result().latency < 7.0


# --- shape errors ------------------------------------------------------------------------------


def test_feed_turns_a_wrong_type_into_a_provider_error_quoting_the_item() -> None:
    a = acc()
    with pytest.raises(E.ProviderError) as info:
        a.feed({"t": 5})
    e = info.value
    assert type(e) is E.ProviderError
    assert (e.provider, e.url, e.model) == ("p", URL, "m")
    assert "unexpected response shape (TypeError" in e.message and '{"t": 5}' in e.message
    assert e.hint == "is this server speaking the Script API?"
    assert a.feed({"t": "ok"}) == [TextDelta("ok")]


def test_shape_error_quotes_the_given_object_or_the_item_being_mapped() -> None:
    a = acc()
    a.seen = {"seen": 1}
    assert '{"seen": 1}' in a.shape_error(ValueError("x")).message
    e = a.shape_error(KeyError("k"), {"other": 2})
    assert '{"other": 2}' in e.message and "seen" not in e.message and "KeyError" in e.message


def test_a_wrong_type_found_while_assembling_is_a_provider_error() -> None:
    class Bad(Script):
        __slots__ = ()

        def _raw(self, calls: list[ToolCall]) -> Any:
            raise TypeError("raw broke")

    a = Bad(provider="p", model="m", url=URL)
    a.seen = {"last": True}
    with pytest.raises(E.ProviderError, match=r"raw broke\) in \{\"last\": true\}") as info:
        a.result()
    assert info.value.hint == "is this server speaking the Script API?"


# --- the driver --------------------------------------------------------------------------------


def test_drive_yields_events_then_the_response() -> None:
    items = run({"t": "a"}, {"call": [0, "c", "f", '{"q":1}']}, {"usage": 2}, {"end": True})
    assert items[:3] == [TextDelta("a"), ToolCallDelta(0, "c", "f", '{"q":1}'), UsageEvent(Usage(input_tokens=1, output_tokens=2))]
    r = items[3]
    assert type(r) is Response and len(items) == 4
    assert r.text == "a" and r.tool_calls == [ToolCall(id="c", name="f", arguments={"q": 1}, raw_arguments='{"q":1}')]


def test_drive_maps_what_the_decoder_hands_over_at_eof() -> None:
    dec = Lines([{"t": "z"}, {"end": True}])
    items = drain(drive(acc(), dec, given(chunks([body({"t": "y"})]))))
    assert items[:2] == [TextDelta("y"), TextDelta("z")] and items[2].text == "yz"
    assert dec.closed == 1


def test_a_stream_without_its_end_is_cut_and_retryable() -> None:
    with pytest.raises(E.ProviderConnectionError) as info:
        run({"t": "a"})
    e = info.value
    assert type(e) is E.ProviderConnectionError
    assert e.message == "the stream ended before it was complete (no end marker)"
    assert (e.provider, e.url, e.model) == ("p", URL, "m")
    a = acc()
    assert a.end_problem(None) == "no end marker"
    a.done = True
    assert a.end_problem(None) is None


def test_a_wrong_type_in_the_stream_is_a_provider_error() -> None:
    for tail in (None, [{"t": 1}]):
        with pytest.raises(E.ProviderError) as info:
            run({"t": "a"}, *([] if tail else [{"usage": "x"}]), tail=tail)
        assert type(info.value) is E.ProviderError and "unexpected response shape (TypeError: " in info.value.message
        assert info.value.hint == "is this server speaking the Script API?"


def test_finish_post_processes_only_the_assembled_response() -> None:
    seen: list[Response] = []

    def finish(r: Response) -> Response:
        seen.append(r)
        return Response(text=r.text + "!", model="post")

    items = run({"t": "a"}, {"end": True}, finish=finish)
    assert [type(i) for i in items] == [TextDelta, Response]
    assert items[1].text == "a!" and items[1].model == "post" and seen[0].text == "a"


def test_a_whole_answer_instead_of_a_stream() -> None:
    full = Response(text="all of it", model="w")

    async def whole(b: Any) -> Response | None:
        return full

    assert run({"t": "ignored"}, whole=whole, finish=lambda r: Response(text="no")) == [TextDelta("all of it"), full]
    empty = Response(text="", model="w")

    async def whole_empty(b: Any) -> Response | None:
        return empty

    assert run(whole=whole_empty) == [empty]

    async def no(b: Any) -> Response | None:
        return None

    items = run({"t": "s"}, {"end": True}, whole=no)
    assert items[0] == TextDelta("s") and items[1].text == "s"


def test_whole_and_chunks_get_the_opened_body() -> None:
    got: list[Any] = []

    class Opened:
        async def __aenter__(self) -> str:
            return "BODY"

        async def __aexit__(self, *exc: object) -> None:
            got.append("exit")

    async def whole(b: Any) -> Response | None:
        got.append(("whole", b))
        return None

    def read(b: Any) -> Any:
        got.append(("read", b))
        return chunks([body({"t": "q"}, {"end": True})])

    items = drain(drive(acc(), Lines(), Opened(), read, whole=whole))
    assert items[-1].text == "q"
    assert got == [("whole", "BODY"), ("read", "BODY"), "exit"]


def test_refine_rewrites_provider_errors_only() -> None:
    def refine(err: E.ProviderError) -> E.ProviderError:
        return E.ModelNotFoundError("refined: " + err.message, provider=err.provider)

    with pytest.raises(E.ModelNotFoundError) as info:
        run({"t": "a"}, refine=refine)
    assert info.value.message.startswith("refined: the stream ended before it was complete")
    assert info.value.__suppress_context__ is True
    with pytest.raises(E.ProviderConnectionError):
        run({"t": "a"}, refine=None)


def test_given_hands_over_the_chunks_and_never_swallows_an_error() -> None:
    src = chunks([b""])
    cm = given(src)

    async def use() -> Any:
        async with cm as got:
            assert got is src
            raise KeyError("inside")

    step = use().__await__()
    with pytest.raises(KeyError, match="inside"):
        step.send(None)
