"""``python -m bench.big_event``: the cost of one huge SSE event, and of the small ones.

Issue 12: decoding a long event used to grow with the square of its size (the held-back partial
line was re-joined on every 4 KiB read: 10 MB took ~10 s). The bar is that one 10 MB or 50 MB
event, fed in 4 KiB reads as aiohttp hands them over, costs about what ``json.loads`` of the
same payload costs. Two small-event figures guard the hot path: µs per typical ~180-byte chunk
fed one event per read (how servers flush tokens), and per event when reads are 4 KiB bursts.

Standalone and quick (a few seconds); ``--sizes`` takes MB values (``--sizes 1,2,5`` measures
the old quadratic decoder without waiting minutes). Run against another tree with
``PYTHONPATH=/path/to/src python -m bench.big_event``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

from llmswitch.wire.sse import SSEDecoder

READ = 4096
_HUGE = 1 << 40


def _decoder() -> SSEDecoder:
    """A decoder whose limits do not get in the way of the measurement (the tree before the
    limits existed takes no arguments)."""
    try:
        return SSEDecoder(max_line_bytes=_HUGE, max_event_bytes=_HUGE)  # type: ignore[call-arg]
    except TypeError:
        return SSEDecoder()


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def big_event(mb: int, repeat: int) -> tuple[float, float]:
    """(seconds to decode one ``mb`` MB event in 4 KiB reads, seconds for ``json.loads`` of it)."""
    payload = json.dumps({"choices": [{"delta": {"content": "x" * (mb * 1_000_000)}}]})
    body = b"data: " + payload.encode() + b"\n\n"
    reads = [body[i : i + READ] for i in range(0, len(body), READ)]

    def decode() -> None:
        d = _decoder()
        out = []
        for r in reads:
            out += d.feed(r)
        assert len(out) == 1 and len(out[0].data) == len(payload)

    return _best(decode, repeat), _best(lambda: json.loads(payload), repeat)


_CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}\n\n'
)


def small_events(n: int, repeat: int) -> tuple[float, float]:
    """(µs per event, one event per read; µs per event, 4 KiB reads of many events)."""
    stream = _CHUNK * n
    bursts = [stream[i : i + READ] for i in range(0, len(stream), READ)]

    def one_per_read() -> None:
        d = _decoder()
        for _ in range(n):
            d.feed(_CHUNK)

    def in_bursts() -> None:
        d = _decoder()
        for b in bursts:
            d.feed(b)

    return _best(one_per_read, repeat) / n * 1e6, _best(in_bursts, repeat) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,50", help="event sizes in MB, comma-separated (default 10,50)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    args = ap.parse_args()
    print(f"{'event':>8} {'SSE decode (4 KiB reads)':>26} {'json.loads':>12} {'ratio':>7}")
    for mb in (int(x) for x in args.sizes.split(",")):
        dec, loads = big_event(mb, args.repeat)
        print(f"{mb:>5} MB {dec * 1000:>23.1f} ms {loads * 1000:>9.1f} ms {dec / loads:>6.2f}x")
    one, burst = small_events(20_000, max(args.repeat, 5))
    print(f"small events (~{len(_CHUNK)} B): {one:.2f} µs/event one per read, {burst:.2f} µs/event in 4 KiB reads")


if __name__ == "__main__":
    main()
