"""``python -m bench.big_event``: the cost of one huge SSE event, and of the small ones.

Issue 12: decoding a long event used to grow with the square of its size (the held-back partial
line was re-joined on every 4 KiB read: 10 MB took ~10 s). The bar is that one 10 MB or 50 MB
event, fed in 4 KiB reads as aiohttp hands them over, costs about what ``json.loads`` of the
same payload costs. Two small-event figures guard the hot path: µs per typical ~180-byte chunk
fed one event per read (how servers flush tokens), and per event when reads are 4 KiB bursts.

Standalone and quick (a few seconds); ``--sizes`` takes MB values (``--sizes 1,2,5`` measures
the old quadratic decoder without waiting minutes). Run against another tree with
``PYTHONPATH=/path/to/src python -m bench.big_event``; ``--against /path/to/src`` adds paired
small-event ratios (both decoders interleaved in one process).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmswitch._wire.sse import SSEDecoder

READ = 4096
_HUGE = 1 << 40


def _decoder(cls: Any = SSEDecoder) -> Any:
    """A decoder whose limits do not get in the way of the measurement (the tree before the
    limits existed takes no arguments)."""
    try:
        return cls(max_line_bytes=_HUGE, max_event_bytes=_HUGE)
    except TypeError:
        return cls()


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


def _small_runs(n: int, cls: Any = SSEDecoder) -> tuple[Callable[[], None], Callable[[], None]]:
    stream = _CHUNK * n
    bursts = [stream[i : i + READ] for i in range(0, len(stream), READ)]

    def one_per_read() -> None:
        d = _decoder(cls)
        for _ in range(n):
            d.feed(_CHUNK)

    def in_bursts() -> None:
        d = _decoder(cls)
        for b in bursts:
            d.feed(b)

    return one_per_read, in_bursts


def small_events(n: int, repeat: int) -> tuple[float, float]:
    """(µs per event, one event per read; µs per event, 4 KiB reads of many events)."""
    one, burst = _small_runs(n)
    return _best(one, repeat) / n * 1e6, _best(burst, repeat) / n * 1e6


def _other_decoder(src: str) -> Any:
    """``SSEDecoder`` of another tree's ``llmswitch/wire/sse.py``, loaded beside ours (it must not
    import from its package; the decoder before issue 12 does not)."""
    path = Path(src) / "llmswitch" / "wire" / "sse.py"
    spec = importlib.util.spec_from_file_location("bench_other_sse", path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.SSEDecoder


def paired(src: str, n: int = 2000, rounds: int = 60) -> tuple[float, float]:
    """Median new/other time ratio for the two small-event cases, runs interleaved in one process
    (a shared, busy machine makes separate runs too noisy to compare a few per cent)."""
    ours, theirs = _small_runs(n), _small_runs(n, _other_decoder(src))
    out = []
    for a, b in zip(ours, theirs, strict=True):
        ratios = []
        for _ in range(rounds):
            t_b = _best(b, 3)
            ratios.append(_best(a, 3) / t_b)
        out.append(statistics.median(ratios))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,50", help="event sizes in MB, comma-separated (default 10,50)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--against", metavar="SRC", help="also a paired small-event ratio against another tree's src/ (e.g. main)")
    args = ap.parse_args()
    print(f"{'event':>8} {'SSE decode (4 KiB reads)':>26} {'json.loads':>12} {'ratio':>7}")
    for mb in (int(x) for x in args.sizes.split(",")):
        dec, loads = big_event(mb, args.repeat)
        print(f"{mb:>5} MB {dec * 1000:>23.1f} ms {loads * 1000:>9.1f} ms {dec / loads:>6.2f}x")
    one, burst = small_events(20_000, max(args.repeat, 5))
    print(f"small events (~{len(_CHUNK)} B): {one:.2f} µs/event one per read, {burst:.2f} µs/event in 4 KiB reads")
    if args.against:
        r_one, r_burst = paired(args.against)
        print(f"paired vs {args.against} (this/that, median): {r_one:.3f} one per read, {r_burst:.3f} in 4 KiB reads")


if __name__ == "__main__":
    main()
