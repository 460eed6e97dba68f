"""Unit tests of the framing helpers every streamed wire shares (``llmswitch._wire.framing``): the
bounded partial line, the JSON body of a stream call, and the exact errors (message, hint,
provider, url, model) for bytes that are not the protocol. Written against the survivors of
``scripts/mutation --module wire.framing``."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator

import pytest

from llmswitch._wire.framing import (
    PartialLine,
    collect_json,
    cut_stream,
    loads,
    not_utf8,
    shape_error,
    text_or_none,
    too_large,
    whole_response_events,
    wrong_type,
)
from llmswitch.errors import (
    ProviderConnectionError,
    ProviderError,
    ResponseTooLargeError,
)
from llmswitch.types import Response, TextDelta

TOO_LARGE_HINT = "the server sent far more than any real answer holds; it is broken or hostile"


def _collect(chunks: list[bytes], max_bytes: int) -> object:
    async def gen() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    return asyncio.run(collect_json(gen(), max_bytes=max_bytes, provider="p", url="http://u"))


# --- errors ------------------------------------------------------------------------------------


def test_too_large_names_the_limit_its_value_and_setting() -> None:
    e = too_large("a thing", "max_x", 12, provider="p", url="http://u")
    assert type(e) is ResponseTooLargeError
    assert e.message == "a thing exceeded max_x=12; raise max_x in the provider's config if the server is trusted"
    assert (e.provider, e.url, e.hint) == ("p", "http://u", TOO_LARGE_HINT)


def test_not_utf8_shows_up_to_eight_bad_bytes_and_their_offset() -> None:
    raw = b"ok\xff\xfe234567890"
    with pytest.raises(UnicodeDecodeError) as info:
        raw.decode("utf-8")
    e = not_utf8(info.value, provider="p", url="http://u")
    assert type(e) is ProviderError
    assert e.message == "the stream is not valid UTF-8 (bytes b'\\xff\\xfe234567' at offset 2 of a line)"
    assert (e.provider, e.url) == ("p", "http://u")
    assert e.hint == ("the server sent bytes that are not text; is the base URL an LLM API, "
                      "and is nothing in between rewriting it?")


def test_cut_stream_is_a_retryable_connection_error_with_its_context() -> None:
    e = cut_stream("no [DONE]", provider="p", url="http://u", model="m")
    assert type(e) is ProviderConnectionError
    assert e.message == "the stream ended before it was complete (no [DONE])"
    assert (e.provider, e.url, e.model) == ("p", "http://u", "m")
    assert e.hint == "the connection was cut or the server failed mid-answer; retry"


def test_shape_error_names_the_exception_and_an_excerpt() -> None:
    e = shape_error(TypeError("boom"), {"a": "é", "b": b"x"}, api="Ollama", provider="p", url="http://u", model="m")
    assert e.message == """unexpected response shape (TypeError: boom) in {"a": "é", "b": "b'x'"}"""
    assert (e.provider, e.url, e.model, e.hint) == ("p", "http://u", "m", "is this server speaking the Ollama API?")


def test_shape_error_excerpt_of_what_json_cannot_dump_is_its_repr() -> None:
    loop: list[object] = []
    loop.append(loop)
    e = shape_error(ValueError("x"), loop, api="a", provider=None, url=None)
    assert e.message == "unexpected response shape (ValueError: x) in [[...]]"


@pytest.mark.parametrize("n, excerpt", [(198, '"' + "a" * 198 + '"'), (199, '"' + "a" * 199 + "…")])
def test_shape_error_excerpt_is_cut_after_200_characters(n: int, excerpt: str) -> None:
    e = shape_error(KeyError("k"), "a" * n, api="a", provider=None, url=None)
    assert e.message == f"unexpected response shape (KeyError: 'k') in {excerpt}"


def test_wrong_type_and_text_or_none() -> None:
    assert str(wrong_type("id", 3, "a string")) == "id is int, expected a string"
    assert text_or_none(None, "id") is None
    assert text_or_none("x", "id") == "x"
    with pytest.raises(TypeError) as info:
        text_or_none(3, "message.content")
    assert str(info.value) == "message.content is int, expected a string"


def test_whole_response_events() -> None:
    full = Response("hi")
    assert whole_response_events(full) == [TextDelta("hi"), full]
    empty = Response("")
    assert whole_response_events(empty) == [empty]


# --- collect_json ------------------------------------------------------------------------------


def test_collect_json_joins_the_reads() -> None:
    assert _collect([b'{"a":', b" 1}"], 100) == {"a": 1}
    assert _collect([], 100) is None


def test_collect_json_text_that_is_not_json_comes_back_as_text() -> None:
    assert _collect([b"oops \xff"], 100) == "oops \ufffd"


def test_collect_json_accepts_exactly_max_bytes_and_counts_every_read() -> None:
    assert _collect([b"12", b"345"], 5) == 12345
    with pytest.raises(ResponseTooLargeError) as info:
        _collect([b"123", b"456"], 5)
    e = info.value
    assert e.message == "a JSON body exceeded max_body_bytes=5; raise max_body_bytes in the provider's config if the server is trusted"
    assert (e.provider, e.url) == ("p", "http://u")


# --- PartialLine -------------------------------------------------------------------------------


def _line(limit: int) -> PartialLine:
    return PartialLine(limit, what="a line", setting="max_line_bytes", provider="p", url="http://u")


def test_hold_accepts_exactly_the_limit_and_refuses_one_more() -> None:
    pl = _line(4)
    pl.hold(b"ab")
    pl.hold(b"cd")
    with pytest.raises(ResponseTooLargeError):
        pl.hold(b"e")
    assert pl.parts == [] and pl.blank


def test_a_completed_line_restarts_the_count() -> None:
    pl = _line(4)
    pl.hold(b"ab")
    assert pl.extend(b"c\nrest", 1) == b"abc\nrest"
    pl.hold(b"wxyz")  # exactly the limit again
    assert pl.take() == b"wxyz"


def test_extend_measures_the_line_to_its_end_and_names_the_limit() -> None:
    pl = _line(4)
    pl.hold(b"ab")
    assert pl.extend(b"cd", -1) is None
    assert pl.parts == [b"ab", b"cd"]
    pl = _line(4)
    pl.hold(b"abc")
    with pytest.raises(ResponseTooLargeError) as info:
        pl.extend(b"de\n", 2)
    e = info.value
    assert e.message == "a line exceeded max_line_bytes=4; raise max_line_bytes in the provider's config if the server is trusted"
    assert (e.provider, e.url) == ("p", "http://u")
    assert pl.parts == [] and pl.blank


# --- loads: json.loads, faster for a whole document --------------------------------------------


@pytest.mark.parametrize(
    "doc",
    ['{"a": [1, 2.5, null, true]}', "[]", '"s"', "3", " {}", "{} ", "\t[1]\n", "NaN", '{"a": 1}{"b": 2}', "{} x",
     b'{"a": 1}', b" [1] ", b"\xef\xbb\xbf{\"bom\": 1}", '"\\u00e9"', '{"k": "\u00e9"}'.encode(), "[1,]", "", "{", b"", "\ufeff[]",
     '"a\x01b"', b'"\x00a\x00"\x00'],
)
def test_loads_is_json_loads(doc: str | bytes) -> None:
    """The same value, or the same error class and message, as ``json.loads`` for every kind of input."""
    try:
        want: object = json.loads(doc)
    except ValueError as exc:
        with pytest.raises(type(exc)) as info:
            loads(doc)
        assert str(info.value) == str(exc)
        return
    got = loads(doc)
    assert got == want or (math.isnan(got) and math.isnan(want))
    assert type(got) is type(want)


def test_loads_of_bytes_that_are_not_utf8_is_json_loads_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        loads(b'"\xff"')
