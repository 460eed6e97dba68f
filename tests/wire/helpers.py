"""Driving the wire layer's async stream iterators without an event loop, and checking what
comes out. The iterators only await the chunk source; a source that never suspends lets one
``send(None)`` finish each step, so thousands of hypothesis examples stay fast."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from llmswitch.types import Response, TextDelta, ThinkingDelta, ToolCall, ToolCallDelta, Usage, UsageEvent


async def chunks(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for p in pieces:
        yield p


def drain(agen: AsyncIterator[Any]) -> list[Any]:
    """Every item of ``agen``; its exceptions propagate as they are."""
    out: list[Any] = []
    while True:
        step = agen.__anext__()
        try:
            step.send(None)
        except StopIteration as stop:
            out.append(stop.value)
            continue
        except StopAsyncIteration:
            return out
        step.close()
        raise AssertionError("the stream iterator awaited something other than its chunk source")


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, any value), as a list of reads."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def _is_usage(u: Any) -> bool:
    ints = (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens)
    return isinstance(u, Usage) and all(type(n) is int for n in ints) and (u.cost is None or isinstance(u.cost, float))


def _is_call(c: Any) -> bool:
    return (
        isinstance(c, ToolCall)
        and isinstance(c.id, str)
        and isinstance(c.name, str)
        and isinstance(c.arguments, dict)
        and (c.raw_arguments is None or isinstance(c.raw_arguments, str))
    )


def assert_valid_response(r: Any) -> None:
    """A Response whose fields have the types llmswitch promises (what a caller relies on)."""
    assert isinstance(r, Response), r
    assert isinstance(r.text, str) and isinstance(r.model, str)
    assert r.thinking is None or isinstance(r.thinking, str)
    assert r.id is None or isinstance(r.id, str)
    assert r.finish_reason in (None, "stop", "length", "tool_calls", "content_filter", "error")
    assert all(_is_call(c) for c in r.tool_calls), r.tool_calls
    assert _is_usage(r.usage), r.usage


def assert_valid_event(ev: Any) -> None:
    if isinstance(ev, (TextDelta, ThinkingDelta)):
        assert isinstance(ev.text, str)
    elif isinstance(ev, ToolCallDelta):
        assert type(ev.index) is int and isinstance(ev.arguments, str)
        assert ev.id is None or isinstance(ev.id, str)
        assert ev.name is None or isinstance(ev.name, str)
    elif isinstance(ev, UsageEvent):
        assert _is_usage(ev.usage)
    else:
        raise AssertionError(f"not a stream event: {ev!r}")


def assert_valid_stream(items: list[Any]) -> Response:
    """Events of our types, then exactly one Response, last."""
    assert items, "the stream yielded nothing and raised nothing"
    *events, last = items
    for ev in events:
        assert_valid_event(ev)
    assert_valid_response(last)
    return last
