"""SSE framing per the WHATWG event-stream rules."""

from __future__ import annotations

import pytest

from llmswitch._wire.sse import SSEDecoder


def feed_all(chunks: list[bytes]) -> list[tuple[str, str, str | None]]:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += [(e.event, e.data, e.id) for e in d.feed(c)]
    out += [(e.event, e.data, e.id) for e in d.close()]
    return out


def test_basic_and_multiline_data() -> None:
    assert feed_all([b"data: a\ndata: b\n\n"]) == [("message", "a\nb", None)]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol: bytes) -> None:
    raw = b"event: ping" + eol + b"data: {}" + eol + eol + b"data: x" + eol + eol
    assert feed_all([raw]) == [("ping", "{}", None), ("message", "x", None)]


def test_crlf_split_across_chunks_does_not_dispatch_early() -> None:
    events = feed_all([b"data: a\r", b"\ndata: b\r\n\r\n"])
    assert events == [("message", "a\nb", None)]


def test_comments_ids_and_no_space_after_colon() -> None:
    raw = b": OPENROUTER PROCESSING\n\nid: 7\ndata:{\"x\":1}\n\n"
    assert feed_all([raw]) == [("message", '{"x":1}', "7")]


def test_byte_at_a_time() -> None:
    raw = b"event: message_start\ndata: {\"a\": 1}\n\n"
    assert feed_all([bytes([b]) for b in raw]) == [("message_start", '{"a": 1}', None)]


def test_unterminated_event_is_pending_not_dispatched() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: half") == []
    assert d.pending


def test_legacy_llamacpp_error_field_surfaces() -> None:
    assert feed_all([b'error: {"code":500}\n\n']) == [("error", '{"code":500}', None)]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: héllo\n\n".encode()
    cut = raw.index(b"\xc3") + 1
    assert feed_all([raw[:cut], raw[cut:]]) == [("message", "héllo", None)]
