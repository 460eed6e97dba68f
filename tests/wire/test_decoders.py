"""SSE and NDJSON decoding: bounded by the read limits, linear in the input, and every fault an
llmswitch error (issue 12). Speed is measured in ``bench/big_event.py``, not here."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from llmswitch import errors as E
from llmswitch._limits import DEFAULT_LIMITS, MiB
from llmswitch._wire.ollama import NDJSONDecoder
from llmswitch._wire.sse import SSEDecoder

URL = "http://127.0.0.1:9/v1/chat/completions"
LIMIT = 1 * MiB


def sse(**kw: int) -> SSEDecoder:
    return SSEDecoder(provider="fake", url=URL, **kw)


def peak_while(feed: Callable[[bytes], object], piece: bytes, *, most: int) -> tuple[int, BaseException | None]:
    """Feed ``piece`` until an error (or ``most`` bytes): (peak traced bytes, the error)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fed = 0
        while fed < most:
            try:
                feed(piece)
            except Exception as exc:  # noqa: BLE001 - the caller asserts what it was
                return tracemalloc.get_traced_memory()[1], exc
            fed += len(piece)
        return tracemalloc.get_traced_memory()[1], None
    finally:
        tracemalloc.stop()


# --- limits ------------------------------------------------------------------------------------


def test_endless_sse_line_raises_with_bounded_memory() -> None:
    d = sse(max_line_bytes=LIMIT, max_event_bytes=16 * LIMIT)
    d.feed(b"data: ")
    peak, err = peak_while(d.feed, b"x" * 4096, most=64 * LIMIT)
    assert isinstance(err, E.ResponseTooLargeError), err
    assert peak < 3 * LIMIT, f"peak {peak} bytes for a {LIMIT}-byte limit"
    assert f"max_line_bytes={LIMIT}" in str(err) and "raise max_line_bytes" in str(err)
    assert err.provider == "fake" and err.url == URL and not err.retryable


def test_endless_sse_event_of_short_lines_raises_with_bounded_memory() -> None:
    d = sse(max_line_bytes=LIMIT, max_event_bytes=LIMIT)
    peak, err = peak_while(d.feed, b"data: " + b"y" * 4000 + b"\n", most=64 * LIMIT)
    assert isinstance(err, E.ResponseTooLargeError), err
    assert peak < 3 * LIMIT, f"peak {peak} bytes for a {LIMIT}-byte limit"
    assert f"max_event_bytes={LIMIT}" in str(err)


def test_endless_ndjson_line_raises_with_bounded_memory() -> None:
    d = NDJSONDecoder(provider="ollama", url=URL, max_line_bytes=LIMIT)
    peak, err = peak_while(d.feed, b'{"a":"' + b"z" * 4090, most=64 * LIMIT)
    assert isinstance(err, E.ResponseTooLargeError), err
    assert peak < 3 * LIMIT, f"peak {peak} bytes for a {LIMIT}-byte limit"
    assert f"an NDJSON line exceeded max_line_bytes={LIMIT}" in str(err)


def test_a_line_just_under_the_limit_passes_and_one_byte_more_does_not() -> None:
    body = b"data: " + b"a" * 994
    assert len(body) == 1000
    ok = sse(max_line_bytes=1000)
    ok.feed(body[:500])
    assert [e.data for e in ok.feed(body[500:] + b"\n\n")] == ["a" * 994]
    for end in (b"", b"\n\n", b"\r\n"):  # still open, or ended in the read that passes the limit
        over = sse(max_line_bytes=1000)
        over.feed(body[:500])
        with pytest.raises(E.ResponseTooLargeError):
            over.feed(body[500:] + b"a" + end)
    nd = NDJSONDecoder(max_line_bytes=10)
    nd.feed(b'{"a":')
    with pytest.raises(E.ResponseTooLargeError):
        nd.feed(b'"xyz"}\n')


def test_one_read_holding_a_whole_over_long_line_raises() -> None:
    """A read can be bigger than the limit (``iter_any`` hands over all that is buffered)."""
    with pytest.raises(E.ResponseTooLargeError, match="max_line_bytes=100"):
        sse(max_line_bytes=100).feed(b"data: " + b"b" * 200 + b"\n\ndata: x\n\n")
    with pytest.raises(E.ResponseTooLargeError, match="max_line_bytes=100"):
        NDJSONDecoder(max_line_bytes=100).feed(b'{"a":"' + b"b" * 200 + b'"}\n')


def test_reads_bigger_than_the_limits_are_decoded_in_pieces() -> None:
    body = b"".join(b"id: %d\r\ndata: {\"n\":%d}\r\n\r\n" % (i, i) for i in range(200))
    events = sse(max_line_bytes=40, max_event_bytes=60).feed(body)
    assert [(e.id, e.data) for e in events] == [(str(i), f'{{"n":{i}}}') for i in range(200)]
    lines = b"".join(b'{"n":%d}\n' % i for i in range(200))
    assert NDJSONDecoder(max_line_bytes=16).feed(lines) == [{"n": i} for i in range(200)]


def test_defaults_come_from_default_limits() -> None:
    d = sse()
    assert d._line.limit == DEFAULT_LIMITS.max_line_bytes and d._max_event == DEFAULT_LIMITS.max_event_bytes
    assert NDJSONDecoder()._line.limit == DEFAULT_LIMITS.max_line_bytes


# --- linear decoding, unchanged results --------------------------------------------------------


@pytest.mark.parametrize("read", [1, 7, 4096, 1 << 20])
def test_big_event_in_any_read_size_decodes_whole(read: int) -> None:
    # byte by byte, 60 kB is enough (and keeps the mutation run's traced copy inside its timeout)
    payload = b'{"x":"' + b"q" * (60_000 if read == 1 else 300_000) + b'"}'
    body = b"event: big\r\ndata: " + payload + b"\r\n\r\ndata: [DONE]\n\n"
    d = sse()
    events = [ev for i in range(0, len(body), read) for ev in d.feed(body[i : i + read])]
    assert [(e.event, e.data) for e in events] == [("big", payload.decode()), ("message", "[DONE]")]
    assert not d.pending


def test_partial_line_is_held_as_pieces_not_rejoined() -> None:
    """The fix for the quadratic cost: a read without a line end is appended, never joined."""
    d = sse()
    d.feed(b"data: ")
    for _ in range(50):
        d.feed(b"x" * 100)
    assert len(d._line.parts) == 51 and d._line.size == 5006


def test_cr_ending_a_read_dispatches_without_waiting_for_the_next() -> None:
    d = sse()
    assert [e.data for e in d.feed(b"data: a\r\r")] == ["a"]
    assert d.feed(b"\ndata: b\r\n\r\n")[0].data == "b"  # the LF after a CR is skipped once, not a blank line


def test_ndjson_line_split_over_many_reads() -> None:
    d = NDJSONDecoder()
    line = b'{"message":{"content":"' + b"w" * 10_000 + b'"}}\n{"done":true}\n'
    out = [obj for i in range(0, len(line), 333) for obj in d.feed(line[i : i + 333])]
    assert out == [{"message": {"content": "w" * 10_000}}, {"done": True}]


# --- invalid UTF-8 and cut lines ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3(", b"\xed\xa0\x80"])
def test_invalid_utf8_in_sse_data_is_a_provider_error(bad: bytes) -> None:
    with pytest.raises(E.ProviderError, match="not valid UTF-8") as info:
        sse().feed(b'data: {"t":"' + bad + b'"}\n\n')
    assert info.value.provider == "fake" and info.value.url == URL and info.value.hint
    assert not isinstance(info.value.__context__, UnicodeDecodeError) or info.value.__suppress_context__


def test_invalid_utf8_in_ndjson_is_a_provider_error() -> None:
    with pytest.raises(E.ProviderError, match="not valid UTF-8"):
        NDJSONDecoder(url=URL).feed(b'{"t":"\xff"}\n')


def test_ndjson_cut_mid_line_is_a_retryable_connection_error() -> None:
    d = NDJSONDecoder(url=URL)
    assert d.feed(b'{"done":false}\n{"message":{"cont') == [{"done": False}]
    with pytest.raises(E.ProviderConnectionError, match="middle of a line") as info:
        d.flush()
    assert info.value.retryable


def test_ndjson_whole_last_line_without_newline_still_counts() -> None:
    d = NDJSONDecoder()
    d.feed(b'{"done":true}')
    assert d.flush() == [{"done": True}]
