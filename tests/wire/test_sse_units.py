"""Unit tests of the SSE decoder (``llmswitch._wire.sse``): exact events for exact bytes, the edges
of its limits, and the field rules of the WHATWG event-stream format that the wire tests do not
reach. Written against the survivors of ``scripts/mutation --module wire.sse``."""

from __future__ import annotations

import pytest

from llmswitch._wire.sse import SSEDecoder, SSEEvent
from llmswitch.errors import ProviderError, ResponseTooLargeError

HINT = "raise {0} in the provider's config if the server is trusted"


def test_an_event_without_id_or_retry_carries_none_for_both() -> None:
    assert SSEDecoder().feed(b"data: a\n\n") == [SSEEvent("message", "a", None, None)]


def test_retry_is_read_as_an_integer_and_carried_by_later_events() -> None:
    d = SSEDecoder()
    assert d.feed(b"retry: 3000\ndata: a\n\n") == [SSEEvent("message", "a", None, 3000)]
    assert d.feed(b"retry: soon\ndata: b\n\n") == [SSEEvent("message", "b", None, 3000)]


def test_an_id_holding_nul_is_ignored() -> None:
    d = SSEDecoder()
    assert d.feed(b"id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n") == [
        SSEEvent("message", "a", "7"), SSEEvent("message", "b", "7"),
    ]


def test_an_error_line_is_an_event_carrying_the_last_id() -> None:
    assert SSEDecoder().feed(b"id: 7\nerror: boom\n") == [SSEEvent("error", "boom", "7")]


def test_invalid_utf8_in_a_field_name_or_value_is_replaced_not_fatal() -> None:
    d = SSEDecoder()
    assert d.feed(b"\xffname: x\nevent: \xff\ndata: a\n\n") == [SSEEvent("\ufffd", "a")]


def test_invalid_utf8_in_data_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="not valid UTF-8"):
        SSEDecoder().feed(b"data: \xff\n\n")


def test_a_bare_data_line_is_an_empty_data_value() -> None:
    assert SSEDecoder().feed(b"data\n\n") == [SSEEvent("message", "")]
    assert SSEDecoder().feed(b"data\ndata: x\n\n") == [SSEEvent("message", "\nx")]


def test_a_one_byte_comment_and_a_one_byte_field_are_skipped() -> None:
    assert SSEDecoder().feed(b":\nx\ndata: a\n\n") == [SSEEvent("message", "a")]


def test_a_held_line_finished_by_lone_crs() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: a") == []
    assert d.feed(b"bc\r\r") == [SSEEvent("message", "abc")]
    d = SSEDecoder()
    assert d.feed(b"data: x") == []
    assert d.feed(b"\r\r") == [SSEEvent("message", "x")]


@pytest.mark.parametrize("rest", [b"\n::\r\n\n", b"\r:::\n\r\n", b"\r::\n"])
def test_a_held_line_is_measured_to_its_first_line_end(rest: bytes) -> None:
    # 8 bytes held, limit 10: the line ends at most 1 byte later, whatever line ends follow
    d = SSEDecoder(max_line_bytes=10)
    assert d.feed(b"data:abc") == []
    events = d.feed(rest) + d.feed(b"\n\n")
    assert events == [SSEEvent("message", "abc")]


def test_a_line_over_the_limit_names_it() -> None:
    d = SSEDecoder(max_line_bytes=10, provider="p", url="http://u")
    d.feed(b"data:abc")
    with pytest.raises(ResponseTooLargeError) as info:
        d.feed(b"defgh\n")
    assert info.value.message == "an SSE line exceeded max_line_bytes=10; " + HINT.format("max_line_bytes")


def test_an_event_of_exactly_max_event_bytes_passes_and_one_more_is_refused() -> None:
    d = SSEDecoder(max_event_bytes=20, provider="p", url="http://u")
    assert d.feed(b"data: " + b"x" * 14) == []  # 20 bytes, open
    with pytest.raises(ResponseTooLargeError) as info:
        d.feed(b"y\n")  # 22
    e = info.value
    assert e.message == "an SSE event exceeded max_event_bytes=20; " + HINT.format("max_event_bytes")
    assert (e.provider, e.url) == ("p", "http://u")
    assert d.pending_data is None
    # the decoder starts the next event from nothing
    assert d.feed(b"data: " + b"z" * 14) == []
    assert d.feed(b"\n\n") == [SSEEvent("message", "z" * 14)]


def test_a_blank_line_restarts_the_event_count() -> None:
    d = SSEDecoder(max_event_bytes=20)
    chunk = b"data: a\n\ndata: bbbbb"
    assert len(chunk) == 20
    assert d.feed(chunk) == [SSEEvent("message", "a")]
    assert d.feed(b"\n\n") == [SSEEvent("message", "bbbbb")]


def test_the_first_event_of_a_fresh_decoder_counts_from_zero() -> None:
    d = SSEDecoder(max_event_bytes=20)
    assert d.feed(b"data: " + b"q" * 14) == []
    assert d.feed(b"\n\n") == [SSEEvent("message", "q" * 14)]
