"""One measurement run in a fresh process: ``python -m bench.worker MODE CONTENDER BASE_URL [opts-json]``.

Prints one JSON line (the last line of stdout). Modes:

- ``calls``: time to ready (cold import + client construction), sequential non-streamed µs/call,
  calls/s with 64 in flight, µs per streamed chunk over 500-chunk streams, time to first chunk,
  peak RSS.
- ``hold``: 1,000 streams open at once in this process (the server holds each after its first
  chunk until released): memory per stream, all complete, leaked tasks and connections.
- ``ceiling``: the fake server's own CPU cost per request, with the aiohttp client at high
  concurrency (the server must not be the bottleneck).
- ``llama``: bare aiohttp against llmswitch on a real llama-server, calls interleaved.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

_perf = time.perf_counter


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _quantile(xs: list[float], q: float) -> float:
    """Linear-interpolated quantile. Within one process the bench takes the lower quartile of
    times (upper of rates): on a shared machine, samples that lost their time slice to another
    job are the noise, and the runner then takes the median of these across fresh processes."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    i = int(pos)
    j = min(i + 1, len(s) - 1)
    return s[i] + (s[j] - s[i]) * (pos - i)


async def _raw_http(base: str, method: str, path: str) -> dict:
    """A request on its own short connection, outside any contender's pool."""
    import asyncio
    from urllib.parse import urlsplit

    u = urlsplit(base)
    r, w = await asyncio.open_connection(u.hostname, u.port)
    w.write(f"{method} {path} HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    data = await asyncio.wait_for(r.read(), 30)
    w.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def run_calls(c, base: str, o: dict) -> dict:
    import asyncio

    res: dict = {}
    await c.open(base)
    first = await c.call()
    if not first.startswith("Hello"):
        raise RuntimeError(f"unexpected completion text: {first!r}")
    n, _ = await c.stream("fake-500")
    if n != 500:
        raise RuntimeError(f"a 500-chunk stream gave {n} text chunks")
    for _ in range(o["warmup"]):
        await c.call()
    for _ in range(3):
        await c.stream("fake-500")

    # sequential non-streamed: median over batches of the mean per call
    batches = []
    deadline = _perf() + o["seq_max_s"]
    for _ in range(o["seq_batches"]):
        t = _perf()
        for _ in range(o["seq_calls"]):
            await c.call()
        batches.append((_perf() - t) / o["seq_calls"] * 1e6)
        if _perf() > deadline:
            break
    res["us_per_call"] = _quantile(batches, 0.25)
    res["us_per_call_median"] = _median(batches)

    # throughput with 64 in flight, for a fixed time, sampled in windows
    done = 0
    stop_at = 0.0

    async def worker():
        nonlocal done
        while _perf() < stop_at:
            await c.call()
            done += 1

    window = o["tput_s"] / o.get("tput_windows", 5)
    t = _perf()
    stop_at = t + o["tput_warm_s"] + o["tput_s"]
    tasks = [asyncio.ensure_future(worker()) for _ in range(64)]
    await asyncio.sleep(o["tput_warm_s"])
    rates = []
    while True:
        d0, t0 = done, _perf()
        await asyncio.sleep(window)
        if _perf() > stop_at:
            break
        rates.append((done - d0) / (_perf() - t0))
    await asyncio.gather(*tasks)
    if not rates:
        rates = [done / (_perf() - t)]
    res["calls_per_s"] = _quantile(rates, 0.75)
    res["calls_per_s_median"] = _median(rates)

    # streamed: µs per chunk over 500-chunk streams, and time to their first text chunk
    durs, ttfc = [], []
    deadline = _perf() + o["stream_max_s"]
    for _ in range(o["streams"]):
        t = _perf()
        n, f = await c.stream("fake-500")
        durs.append(_perf() - t)
        if n != 500 or f is None:
            raise RuntimeError(f"a 500-chunk stream gave {n} text chunks")
        ttfc.append((f - t) * 1e6)
        if _perf() > deadline:
            break
    res["us_per_chunk"] = _quantile(durs, 0.25) / 500 * 1e6
    res["ttfc_us"] = _quantile(ttfc, 0.25)
    res["us_per_chunk_median"] = _median(durs) / 500 * 1e6
    res["ttfc_us_median"] = _median(ttfc)
    res["streams_timed"] = len(durs)
    await c.close()
    await asyncio.sleep(0)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


async def run_paired(c, base: str, o: dict, baseline: type | None = None) -> dict:
    """Bare aiohttp (or ``baseline``) and contender ``c`` in one process, interleaved call by call
    (and window by window for throughput), so both see the same machine noise; ratios of medians."""
    import asyncio

    from bench.contenders import Aiohttp

    a = (baseline or Aiohttp)()
    await a.open(base)
    await c.open(base)
    for x in (a, c):
        for _ in range(o["warmup"]):
            await x.call()
        for _ in range(3):
            await x.stream("fake-500")
    res: dict = {}
    t_a: list[float] = []
    t_c: list[float] = []
    deadline = _perf() + o["seq_max_s"] * 2
    for i in range(o["pairs"]):
        for x, acc in ((a, t_a), (c, t_c)) if i % 2 == 0 else ((c, t_c), (a, t_a)):
            t = _perf()
            await x.call()
            acc.append(_perf() - t)
        if _perf() > deadline:
            break
    res["us_per_call"] = _median(t_c) / _median(t_a)
    d_a: list[float] = []
    d_c: list[float] = []
    f_a: list[float] = []
    f_c: list[float] = []
    deadline = _perf() + o["stream_max_s"] * 2
    for i in range(o["streams"] * 2):
        for x, d, f in ((a, d_a, f_a), (c, d_c, f_c)) if i % 2 == 0 else ((c, d_c, f_c), (a, d_a, f_a)):
            t = _perf()
            n, first = await x.stream("fake-500")
            d.append(_perf() - t)
            f.append(first - t)  # type: ignore[operator]
        if _perf() > deadline:
            break
    res["us_per_chunk"] = _median(d_c) / _median(d_a)
    res["ttfc_us"] = _median(f_c) / _median(f_a)
    if o.get("debug"):
        res["f_a"] = sorted(round(x * 1e6) for x in f_a)
        res["f_c"] = sorted(round(x * 1e6) for x in f_c)
    rates: dict[int, list[float]] = {0: [], 1: []}
    window = o["tput_s"] / o.get("tput_windows", 5)
    for i in range(o.get("tput_windows", 5) * 2):
        k = i % 2 if (i // 2) % 2 == 0 else 1 - i % 2
        x = (a, c)[k]
        done = 0
        stop_at = _perf() + window

        async def worker():
            nonlocal done
            while _perf() < stop_at:  # noqa: B023 - awaited within this iteration of the loop
                await x.call()  # noqa: B023
                done += 1

        t = _perf()
        await asyncio.gather(*(worker() for _ in range(64)))
        rates[k].append(done / (_perf() - t))
    res["calls_per_s"] = _median(rates[1]) / _median(rates[0])
    res["pairs"] = len(t_a)
    res["stream_pairs"] = len(d_a)
    await a.close()
    await c.close()
    return res


async def run_hold(c, base: str, o: dict) -> dict:
    import asyncio

    n_streams = o.get("hold", 1000)
    chunks = 20
    await c.open(base)
    await c.call()
    await c.stream("fake-20")
    before_tasks = len(asyncio.all_tasks())
    rss0 = _rss_kb()
    opened = 0
    all_open = asyncio.Event()

    def on_first():
        nonlocal opened
        opened += 1
        if opened == n_streams:
            all_open.set()

    tasks = [asyncio.ensure_future(c.stream(f"hold-{chunks}", on_first)) for _ in range(n_streams)]
    res: dict = {"streams": n_streams}
    t0 = _perf()
    try:
        await asyncio.wait_for(all_open.wait(), o.get("hold_open_s", 60))
    except TimeoutError:
        pass
    res["open_s"] = _perf() - t0
    res["held_at_once"] = opened
    rss1 = _rss_kb()
    stats = await _raw_http(base, "GET", "/__stats")
    res["server_open_while_held"] = stats["open"] - 1
    res["kb_per_stream"] = (rss1 - rss0) / max(opened, 1)
    await _raw_http(base, "POST", "/__release")
    # A contender that could not open them all at once (a pool limit) still gets to finish:
    # keep releasing what the server holds until every stream ended or time is up.
    deadline = _perf() + o.get("hold_finish_s", 60)
    while not all(t.done() for t in tasks) and _perf() < deadline:
        await asyncio.wait(tasks, timeout=0.2)
        await _raw_http(base, "POST", "/__release")
    complete = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception() is None and t.result()[0] == chunks)
    errors = [repr(t.exception())[:200] for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    for t in tasks:
        if not t.done():
            t.cancel()
    res["complete"] = complete
    res["errors"] = errors[:3]
    res["total_s"] = _perf() - t0
    await asyncio.sleep(0.05)
    res["leaked_tasks"] = len(asyncio.all_tasks()) - before_tasks
    await c.close()
    await asyncio.sleep(0.3)
    res["tasks_after_close"] = len(asyncio.all_tasks()) - before_tasks
    stats = await _raw_http(base, "GET", "/__stats")
    res["server_open_after_close"] = stats["open"] - 1
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


async def run_ceiling(c, base: str, o: dict) -> dict:
    """Server CPU per request while the bare aiohttp client drives it as hard as it can."""
    import asyncio

    await c.open(base)
    for _ in range(50):
        await c.call()
    res: dict = {}
    for label, fn, conc in (("call", c.call, 256), ("stream500", lambda: c.stream("fake-500"), 16)):
        s0 = await _raw_http(base, "GET", "/__stats")
        done = 0
        t = _perf()
        stop_at = t + o["ceiling_s"]

        async def worker():
            nonlocal done
            while _perf() < stop_at:  # noqa: B023 - awaited within this iteration of the loop
                await fn()  # noqa: B023
                done += 1

        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = _perf() - t
        s1 = await _raw_http(base, "GET", "/__stats")
        cpu = s1["cpu"] - s0["cpu"]
        reqs = s1["requests"] - s0["requests"] - 1
        res[label] = {
            "client_per_s": done / wall,
            "server_cpu_us": cpu / max(reqs, 1) * 1e6,
            "server_busy": cpu / wall,
            "server_ceiling_per_s": reqs / cpu if cpu > 0 else float("inf"),
        }
    await c.close()
    return res


async def run_llama(base: str, o: dict) -> dict:
    """Interleaved: one bare aiohttp call, one llmswitch call, against the same llama-server."""
    import aiohttp

    from llmswitch.providers.openai_compat import OpenAICompatibleProvider
    from llmswitch.types import TextDelta

    body = {"model": "gemma", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": o["max_tokens"],
            "temperature": 0}
    sbody = {**body, "stream": True, "stream_options": {"include_usage": True}}
    url = base + "/chat/completions"
    sess = aiohttp.ClientSession()
    p = OpenAICompatibleProvider(base_url=base, default_model="gemma")

    async def bare():
        async with sess.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r:
            return json.loads(await r.read())["choices"][0]["message"]["content"]

    async def bare_stream():
        n = 0
        async with sess.post(url, data=json.dumps(sbody), headers={"Content-Type": "application/json"}) as r:
            async for line in r.content:
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    for ch in json.loads(line[6:])["choices"]:
                        if ch["delta"].get("content"):
                            n += 1
        return n

    async def ls():
        return (await p.complete("Say hi.", max_tokens=o["max_tokens"], temperature=0)).text

    async def ls_stream():
        n = 0
        async with p.stream("Say hi.", max_tokens=o["max_tokens"], temperature=0) as s:
            async for ev in s:
                if type(ev) is TextDelta:
                    n += 1
        return n

    from llmswitch.errors import ProviderConnectionError

    # llama-server sometimes drops a kept-alive connection after a streamed response; the next
    # POST on it fails (bare aiohttp and llmswitch alike: aiohttp retries only idempotent
    # methods). Such a call is counted as a connection error and not timed.
    conn_errors = {"aiohttp": 0, "llmswitch": 0}

    async def attempt(fn, who: str) -> float | None:
        t = _perf()
        try:
            await fn()
        except (aiohttp.ClientError, ProviderConnectionError):
            conn_errors[who] += 1
            return None
        return _perf() - t

    res: dict = {}
    for label, a, b in (("call", bare, ls), ("stream", bare_stream, ls_stream)):
        for _ in range(3):
            await attempt(a, "aiohttp")
            await attempt(b, "llmswitch")
        ta, tb = [], []
        deadline = _perf() + o["llama_max_s"]
        for i in range(o["llama_calls"]):
            pair = ((a, ta, "aiohttp"), (b, tb, "llmswitch"))
            for fn, acc, who in pair if i % 2 == 0 else pair[::-1]:
                dt = await attempt(fn, who)
                if dt is not None:
                    acc.append(dt)
            if _perf() > deadline:
                break
        if not ta or not tb:
            res[label] = {"error": f"no successful calls ({conn_errors})"}
            continue
        ma, mb = _median(ta), _median(tb)
        res[label] = {"aiohttp_ms": ma * 1000, "llmswitch_ms": mb * 1000, "ratio": mb / ma, "delta_us": (mb - ma) * 1e6,
                      "n": min(len(ta), len(tb))}
    res["conn_errors"] = conn_errors
    await sess.close()
    await p.aclose()
    return res


def main() -> None:
    mode, name, base = sys.argv[1], sys.argv[2], sys.argv[3]
    o = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if mode == "ready":
        # Cold: nothing but this module's stdlib imports before the clock starts.
        t0 = _perf()
        import asyncio

        from bench.contenders import ALL

        c = ALL[name]()

        async def go() -> float:
            await c.open(base)
            t1 = _perf()
            await c.close()
            return t1

        t1 = asyncio.run(go())
        print(json.dumps({"ready_ms": (t1 - t0) * 1000}))
        return
    import asyncio

    from bench.contenders import ALL

    if mode == "llama":
        out = asyncio.run(run_llama(base, o))
    else:
        c = ALL[name]()
        if mode == "resilience":  # the same call with and without resilience configured, paired
            out = asyncio.run(run_paired(c, base, o, ALL["llmswitch-bare"]))
        else:
            fn = {"calls": run_calls, "hold": run_hold, "ceiling": run_ceiling, "paired": run_paired}[mode]
            out = asyncio.run(fn(c, base, o))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
