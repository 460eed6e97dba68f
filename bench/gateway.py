"""``python -m bench.gateway``: ``llmswitch serve`` against LiteLLM's proxy, in front of the same
fake backend (``bench/server.py``), driven by the same aiohttp client in the same run.

Figures (issue 18, "Performance"):
- added latency of a non-streamed call over calling the backend directly, p50 and p99, measured
  *paired*: each round calls direct, gateway and proxy once, in a rotated order, so the noise of
  a shared machine falls on all three alike;
- calls/s with 64 in flight through one worker (each target alone, alternated, median of runs);
- per-chunk cost of a 500-chunk stream and its time to first chunk, gateway vs direct;
- start time (spawn → first 200 on the health endpoint) and RSS of a worker;
- 1,000 concurrent streams through one gateway worker: all complete, memory per stream.

LiteLLM's proxy runs from a virtualenv that has its proxy dependencies (``--litellm-python``,
default ``bench/.venv-gateway/bin/python``), one worker, ``LITELLM_MASTER_KEY`` set, the cost
map local. The gateway runs with one caller key and ``usage_log: off`` by default (the proxy
keeps no spend log without a database either); ``--usage-log`` measures it with the log on.
Prints a markdown table and writes ``bench/results/gateway.md`` / ``gateway.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY = "sk-bench-caller-0123456789"
MASTER = "sk-bench-master-0123456789"
HI = [{"role": "user", "content": "hi"}]
PROFILES = {
    "full": dict(rounds=1500, tput_s=5.0, tput_runs=3, streams=30, hold=1000),
    "quick": dict(rounds=400, tput_s=2.0, tput_runs=2, streams=10, hold=1000),
    "smoke": dict(rounds=20, tput_s=0.3, tput_runs=1, streams=2, hold=50),
}


def log(msg: str) -> None:
    print(f"[bench.gateway {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra)
    return env


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, MB, from /proc."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds a process has used (``/proc/PID/stat``); 0 for no process."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def _median(xs: list[float]) -> float:
    return _pct(xs, 50)


class Target:
    def __init__(self, name: str, base: str, headers: dict[str, str], model: str, stream_model: str, hold_model: str) -> None:
        self.name, self.base, self.headers = name, base, headers
        self.model, self.stream_model, self.hold_model = model, stream_model, hold_model
        self.url = base + "/chat/completions"
        self.body = json.dumps({"model": model, "messages": HI}).encode()


def _has_text(line: bytes) -> bool:
    """A chunk that carries answer text (not the empty role chunk every OpenAI stream opens with)."""
    return line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line


async def _call(s: aiohttp.ClientSession, t: Target) -> None:
    async with s.post(t.url, data=t.body, headers=t.headers) as r:
        data = await r.read()
        if r.status != 200:
            raise RuntimeError(f"{t.name}: HTTP {r.status} {data[:200]!r}")


async def _stream(s: aiohttp.ClientSession, t: Target, model: str) -> tuple[int, float, float]:
    """(content chunks, seconds to first chunk, seconds to the end)."""
    body = json.dumps({"model": model, "messages": HI, "stream": True, "stream_options": {"include_usage": True}})
    started = time.perf_counter()
    first = 0.0
    n = 0
    async with s.post(t.url, data=body, headers=t.headers) as r:
        if r.status != 200:
            raise RuntimeError(f"{t.name}: HTTP {r.status} {(await r.read())[:200]!r}")
        async for line in r.content:
            if _has_text(line):
                if not n:
                    first = time.perf_counter() - started
                n += 1
    return n, first, time.perf_counter() - started


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} not ready in {timeout}s")


async def _throughput(s: aiohttp.ClientSession, t: Target, seconds: float, inflight: int = 64) -> tuple[float, int]:
    """(calls/s after half a second of warm-up, every call made): runs at least ``seconds`` and at
    least two calls per slot, so a slow target (the proxy) still gives a figure."""
    warm_until = time.perf_counter() + 0.5
    done = 0
    total = 0

    async def worker() -> None:
        nonlocal done, total
        while True:
            await _call(s, t)
            total += 1
            now = time.perf_counter()
            if now < warm_until:
                continue
            done += 1
            if now - warm_until >= seconds and done >= 2 * inflight:
                return

    await asyncio.gather(*(worker() for _ in range(inflight)))
    return done / (time.perf_counter() - warm_until), total


async def _hold(s: aiohttp.ClientSession, t: Target, backend: str, n: int, pid: int) -> dict[str, Any]:
    """n streams open at once through the gateway (the backend holds them after their first chunk)."""
    before, _ = _rss_mb(pid)
    firsts: list[asyncio.Future[None]] = [asyncio.get_running_loop().create_future() for _ in range(n)]
    body = json.dumps({"model": t.hold_model, "messages": HI, "stream": True})

    async def one(i: int) -> int:
        chunks = 0
        async with s.post(t.url, data=body, headers=t.headers) as r:
            if r.status != 200:
                firsts[i].set_result(None)
                return -1
            async for line in r.content:
                if _has_text(line):
                    chunks += 1
                    if not firsts[i].done():
                        firsts[i].set_result(None)
        if not firsts[i].done():
            firsts[i].set_result(None)
        return chunks

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.wait_for(asyncio.gather(*firsts), 120)
    during, _ = _rss_mb(pid)
    async with s.post(backend + "/__release") as r:
        await r.read()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 120)
    after, peak = _rss_mb(pid)
    complete = sum(1 for c in results if c > 0)
    return {"streams": n, "completed": complete, "rss_before_mb": before, "rss_during_mb": during, "rss_after_mb": after,
            "kb_per_stream": (during - before) * 1024 / n}


def _gateway_config(backend_v1: str, usage_log: bool, path: Path) -> None:
    import hashlib

    import yaml

    def hash_key(key: str) -> str:  # llmswitch.gateway.hash_key, without importing the tree under test here
        return hashlib.sha256(key.encode()).hexdigest()

    path.write_text(yaml.safe_dump({
        "providers": {"fake": {"type": "openai-compatible", "base_url": backend_v1, "api_key": "sk-bench"}},
        "usage_log": "default" if usage_log else "off",
        "gateway": {"keys": [{"name": "bench", "key_sha256": hash_key(KEY)}],
                    "models": {"fake": "fake:fake-1", "fake-500": "fake:fake-500", "hold": "fake:hold-20"}},
    }))


def _litellm_config(backend_v1: str, path: Path) -> None:
    import yaml

    models = [{"model_name": name,
               "litellm_params": {"model": f"openai/{upstream}", "api_base": backend_v1, "api_key": "sk-bench"}}
              for name, upstream in (("fake", "fake-1"), ("fake-500", "fake-500"), ("hold", "hold-20"))]
    path.write_text(yaml.safe_dump({"model_list": models, "general_settings": {"master_key": MASTER}}))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    prof = PROFILES[args.profile]
    out: dict[str, Any] = {"profile": args.profile, "cpus": os.cpu_count(), "usage_log": args.usage_log,
                           "workers": args.workers}
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake = subprocess.Popen([sys.executable, "-m", "bench.server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=_env(), cwd=ROOT)
        procs.append(fake)
        assert fake.stdout is not None
        line = fake.stdout.readline().decode()
        backend = f"http://127.0.0.1:{int(line.split()[1])}"
        targets = [Target("direct", backend + "/v1", {"Authorization": "Bearer sk-bench"}, "fake-1", "fake-500", "hold-20")]

        gw_port = _port()
        _gateway_config(backend + "/v1", args.usage_log, tmp / "llmswitch.yaml")
        gw = subprocess.Popen([sys.executable, "-m", "llmswitch", "serve", "--port", str(gw_port), "--workers",
                               str(args.workers), "--loop", args.loop, "--config", str(tmp / "llmswitch.yaml")],
                              stdout=subprocess.DEVNULL,
                              env=_env(LLMSWITCH_DATA_DIR=str(tmp)),
                              cwd=ROOT)
        procs.append(gw)
        out["gateway_start_s"] = await _wait_ready(f"http://127.0.0.1:{gw_port}/health/live", gw)
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{gw_port}/health/live") as r:
            out["loop"] = (await r.json()).get("loop", "asyncio")  # what the worker got; the floor runs on the same
        targets.append(Target("gateway", f"http://127.0.0.1:{gw_port}/v1", {"Authorization": f"Bearer {KEY}"}, "fake",
                              "fake-500", "hold"))
        pids = {"gateway": gw.pid}
        for name, parts in (("floor", "aiohttp"), ("hop", "own")):  # the two floors (bench/gateway_floor.py)
            fl_port = _port()
            fl = subprocess.Popen([sys.executable, "-m", "bench.gateway_floor", backend + "/v1", str(fl_port),
                                   out["loop"], parts], env=_env(), cwd=ROOT)
            procs.append(fl)
            out[f"{name}_start_s"] = await _wait_ready(f"http://127.0.0.1:{fl_port}/health/live", fl)
            targets.append(Target(name, f"http://127.0.0.1:{fl_port}/v1", {"Authorization": f"Bearer {KEY}"}, "fake-1",
                                  "fake-500", "hold-20"))
            pids[name] = fl.pid
        if args.litellm_python:
            lt_port = _port()
            _litellm_config(backend + "/v1", tmp / "litellm.yaml")
            code = ("import sys\n"
                    "try:\n    from litellm_cli.main import proxy_server as cli\n"  # newer releases
                    "except ImportError:\n    from litellm import run_server as cli\n"  # 1.108 and before
                    "sys.argv = ['litellm', '--config', sys.argv[1], '--host', '127.0.0.1', '--port', sys.argv[2], "
                    "'--num_workers', '1']\ncli()")
            lt = subprocess.Popen([args.litellm_python, "-c", code, str(tmp / "litellm.yaml"), str(lt_port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=_env(LITELLM_MASTER_KEY=MASTER), cwd=tmp)
            procs.append(lt)
            out["litellm_start_s"] = await _wait_ready(f"http://127.0.0.1:{lt_port}/health/liveliness", lt, 300)
            targets.append(Target("litellm", f"http://127.0.0.1:{lt_port}/v1", {"Authorization": f"Bearer {MASTER}"}, "fake",
                                  "fake-500", "hold"))
            pids["litellm"] = lt.pid
        # keepalive_timeout 4 s: under uvicorn's 5 s (LiteLLM), so the client never reuses a connection the proxy
        # is closing at that moment (one full run lost its streams phase to that race)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2048, keepalive_timeout=4)) as s:
            for t in targets:  # warm every path (pools, caches, imports done lazily)
                for _ in range(30):
                    await _call(s, t)
            log(f"latency: {prof['rounds']} paired rounds")
            lat: dict[str, list[float]] = {t.name: [] for t in targets}
            for i in range(prof["rounds"]):
                k = i % len(targets)
                for t in targets[k:] + targets[:k]:
                    t0 = time.perf_counter()
                    await _call(s, t)
                    lat[t.name].append((time.perf_counter() - t0) * 1e6)
            direct = lat["direct"]
            for t in targets:
                xs = lat[t.name]
                added = [x - d for x, d in zip(xs, direct, strict=True)]
                out[f"{t.name}_p50_us"] = _median(xs)
                out[f"{t.name}_p99_us"] = _pct(xs, 99)
                if t.name != "direct":
                    out[f"{t.name}_added_p50_us"] = _median(added)
                    out[f"{t.name}_added_p99_us"] = _pct(added, 99)
            log(f"throughput: 64 in flight, {prof['tput_s']} s x {prof['tput_runs']}")
            runs: dict[str, list[float]] = {t.name: [] for t in targets}
            cpu: dict[str, list[float]] = {t.name: [] for t in targets}
            for r in range(prof["tput_runs"]):
                order = targets if r % 2 == 0 else list(reversed(targets))
                for t in order:
                    c0 = _cpu_s(pids.get(t.name))
                    rate, total = await _throughput(s, t, prof["tput_s"])
                    runs[t.name].append(rate)
                    cpu[t.name].append((_cpu_s(pids.get(t.name)) - c0) / total * 1e6)
            for t in targets:
                out[f"{t.name}_calls_per_s"] = _median(runs[t.name])
                if t.name in pids:
                    out[f"{t.name}_cpu_us_per_call"] = _median(cpu[t.name])
            log(f"streams: {prof['streams']} x 500 chunks")
            for t in targets:
                per_chunk, ttfc = [], []
                c0 = _cpu_s(pids.get(t.name))
                for _ in range(prof["streams"]):
                    try:
                        n, first, total = await _stream(s, t, t.stream_model)
                    except aiohttp.ClientError as exc:
                        raise RuntimeError(f"{t.name}: stream failed: {exc!r}") from exc
                    assert n == 500, f"{t.name}: {n} chunks"
                    per_chunk.append(total / n * 1e6)
                    ttfc.append(first * 1e6)
                out[f"{t.name}_us_per_chunk"] = _median(per_chunk)
                out[f"{t.name}_ttfc_us"] = _median(ttfc)
                if t.name in pids:
                    out[f"{t.name}_cpu_us_per_chunk"] = (_cpu_s(pids[t.name]) - c0) / (prof["streams"] * 500) * 1e6
            for name, pid in pids.items():
                out[f"{name}_rss_mb"], out[f"{name}_peak_rss_mb"] = _rss_mb(pid)
            log(f"hold: {prof['hold']} concurrent streams through the gateway")
            out["hold"] = await _hold(s, targets[1], backend, prof["hold"], gw.pid)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
    return out


def report(r: dict[str, Any]) -> str:
    names = [n for n in ("direct", "floor", "hop", "gateway", "litellm") if f"{n}_p50_us" in r]
    rows = [
        ("p50 per call (µs)", "p50_us", "{:.0f}"), ("p99 per call (µs)", "p99_us", "{:.0f}"),
        ("added p50 over direct (µs)", "added_p50_us", "{:.0f}"), ("added p99 over direct (µs)", "added_p99_us", "{:.0f}"),
        ("calls/s @64 in flight", "calls_per_s", "{:.0f}"),
        ("server CPU µs per call (its process)", "cpu_us_per_call", "{:.0f}"),
        ("server CPU µs per streamed chunk", "cpu_us_per_chunk", "{:.1f}"),
        ("µs per chunk (500-chunk stream)", "us_per_chunk", "{:.1f}"),
        ("time to first chunk (µs)", "ttfc_us", "{:.0f}"), ("start (s)", "start_s", "{:.2f}"),
        ("RSS after the run (MB)", "rss_mb", "{:.0f}"), ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"),
    ]
    lines = [f"Gateway bench ({r['profile']}, {r['cpus']} CPUs, usage log {'on' if r['usage_log'] else 'off'}, "
             f"gateway workers {r['workers']}, {r.get('loop', 'asyncio')} loop for the gateway and the floor). "
             "floor = a bare aiohttp.web + aiohttp client forwarder; hop = the same forwarder on the gateway's own "
             "HTTP parts (ingress.py in, _h1 out), no llmswitch logic (both bench/gateway_floor.py)",
             "",
             "| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key, fmt in rows:
        cells = [fmt.format(r[f"{n}_{key}"]) if f"{n}_{key}" in r else "" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    if "litellm_calls_per_s" in r:
        tput = r["gateway_calls_per_s"] / r["litellm_calls_per_s"]
        added = r["litellm_added_p50_us"] / max(r["gateway_added_p50_us"], 1)
        lines += [f"- gateway calls/s ÷ LiteLLM proxy calls/s: **{tput:.1f}×** "
                  "(issue target ≥ 20×)",
                  f"- LiteLLM added p50 ÷ gateway added p50: **{added:.0f}×** "
                  "(issue target ≥ 50×)"]
        if "hop_added_p50_us" in r:
            lines.append(f"- LiteLLM added p50 ÷ hop added p50: {r['litellm_added_p50_us'] / max(r['hop_added_p50_us'], 1):.0f}× "
                         "(the most any gateway on these HTTP parts could reach here)")
    if "hop_added_p50_us" in r:
        lines.append(f"- the gateway's own work per call: added p50 {r['gateway_added_p50_us']:.0f} µs − the bare hop's "
                     f"{r['hop_added_p50_us']:.0f} µs = **{r['gateway_added_p50_us'] - r['hop_added_p50_us']:.0f} µs**")
    lines += [f"- gateway calls/s ÷ floor calls/s: **{r['gateway_calls_per_s'] / r['floor_calls_per_s']:.2f}×**; "
              f"floor ÷ direct: {r['floor_calls_per_s'] / r['direct_calls_per_s']:.2f}×",
              f"- gateway calls/s ÷ direct calls/s: **{r['gateway_calls_per_s'] / r['direct_calls_per_s']:.2f}×** "
              "(target ≥ 0.5×)",
              f"- gateway added p50 {r['gateway_added_p50_us']:.0f} µs vs direct p50 {r['direct_p50_us']:.0f} µs "
              "(target: added ≤ direct)"]
    h = r.get("hold")
    if h:
        lines.append(f"- {h['streams']} concurrent streams through one gateway worker: {h['completed']} completed; RSS "
                     f"{h['rss_before_mb']:.0f} → {h['rss_during_mb']:.0f} MB while open "
                     f"(≈{h['kb_per_stream']:.0f} KB per stream), {h['rss_after_mb']:.0f} MB after")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    default_lt = ROOT / "bench" / ".venv-gateway" / "bin" / "python"
    ap.add_argument("--litellm-python", default=str(default_lt) if default_lt.exists() else "",
                    help="a Python with litellm's proxy dependencies ('' to skip LiteLLM)")
    ap.add_argument("--usage-log", action="store_true", help="run the gateway with its usage log on")
    ap.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                    help="the gateway's event loop (llmswitch serve --loop); the floor runs on the one the gateway got")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (RSS and the hold figures are "
                    "the parent's when > 1)")
    ap.add_argument("--out", type=Path, default=None, help="the report's path (.md; the figures go beside it as "
                    ".json); default bench/results/gateway[-usage-log][-wN][-LOOP].md")
    args = ap.parse_args()
    r = asyncio.run(measure(args))
    text = report(r)
    print(text)
    suffix = ("-usage-log" if args.usage_log else "") + (f"-w{args.workers}" if args.workers > 1 else "") + \
        (f"-{args.loop}" if args.loop != "auto" else "")
    out: Path = args.out or RESULTS / f"gateway{suffix}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
