"""Prices from genai-prices and the SQLite usage log (concurrency, cancelled and failed calls)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch.errors import LLMSwitchError
from llmswitch.providers import create_provider
from llmswitch.types import Usage
from llmswitch.usage.log import UsageLog, UsageRow, agent_scope, enable_usage_log, query_usage
from llmswitch.usage.pricing import price_usage

genai_prices = pytest.importorskip("genai_prices")
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize(
    "ptype,model",
    [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5")],
)
def test_prices_match_genai_prices(ptype, model):
    ours = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000, cache_write_tokens=1_000)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000, cache_write_tokens=1_000),
        model, provider_id=ptype,
    ).total_price
    assert price_usage(ptype, model, ours) == pytest.approx(float(theirs), rel=1e-12)
    plain = price_usage(ptype, model, Usage(input_tokens=12_000, output_tokens=800))
    assert plain > price_usage(ptype, model, ours)  # cache tokens are priced at their own (here lower) rates
    only_input = genai_prices.calc_price(genai_prices.Usage(input_tokens=1000), model, provider_id=ptype).total_price
    assert float(only_input) > 0
    assert price_usage(ptype, model, Usage(input_tokens=1000)) == pytest.approx(float(only_input), rel=1e-12)


def test_unknown_is_none_not_zero():
    assert price_usage("openai", "no-such-model-xyz", Usage(100, 100)) is None
    assert price_usage("openai-compatible", "gpt-4o", Usage(100, 100)) is None  # a self-hosted server is not OpenAI
    assert price_usage("openai", "gpt-4o", Usage(known=False)) is None


async def test_provider_prices_its_calls(fake_server):
    server = await fake_server(models=["gpt-4o"], usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100})
    p = create_provider("openai", base_url=server.base_url, api_key="sk-test-abcdef123")
    try:
        resp = await p.complete("hi", model="gpt-4o")
    finally:
        await p.aclose()
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=1000, output_tokens=100), "gpt-4o", provider_id="openai")
    assert resp.usage.cost == pytest.approx(float(expected.total_price))
    assert p.usage.cost == pytest.approx(float(expected.total_price))


_WRITER = """
import sys, time
from llmswitch.usage.log import UsageLog, UsageRow
log = UsageLog(sys.argv[1])
for i in range(1000):
    log.record(UsageRow(ts=time.time(), provider=sys.argv[2], provider_type="vllm", model="m",
                        input_tokens=i, output_tokens=1, cost=0.0, latency=0.01))
    if i % 50 == 0:
        time.sleep(0.001)  # interleave with the other process
log.close()
print(log.rows_written, log.write_errors)
"""


def test_two_processes_write_1000_rows_each(tmp_path):
    db = tmp_path / "usage.sqlite3"
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), f"proc{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].split() for o in outs] == [["1000", "0"], ["1000", "0"]]
    conn = sqlite3.connect(db)
    rows = dict(conn.execute("SELECT provider, COUNT(*) FROM calls GROUP BY provider").fetchall())
    assert rows == {"proc0": 1000, "proc1": 1000}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT SUM(input_tokens) FROM calls").fetchone()[0] == 2 * sum(range(1000))


def _rows(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]


async def test_ok_error_and_cancelled_calls_all_logged(fake_server, tmp_path):
    db = tmp_path / "log.sqlite3"
    log = enable_usage_log(db)
    server = await fake_server(models=["m"], chunks=50, chunk_delay=0.01)
    p = create_provider("vllm", base_url=server.base_url, name="fakevllm")
    try:
        with agent_scope("coder"):
            await p.complete("hi", model="m")
        with pytest.raises(LLMSwitchError):
            await p.complete("hi", model="absent")
        # 1) leave a stream early
        async with p.stream("hi", model="m") as s:
            async for _ in s:
                break
        # 2) cancel the task consuming a stream
        async def consume():
            async with p.stream("hi", model="m") as s2:
                async for _ in s2:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await p.aclose()
    assert log.flush(5)
    rows = _rows(db)
    assert [r["status"] for r in rows] == ["ok", "error", "cancelled", "cancelled"]
    ok, err, early, cancelled = rows
    assert (ok["provider"], ok["provider_type"], ok["model"], ok["agent"]) == ("fakevllm", "vllm", "m", "coder")
    assert ok["input_tokens"] == 12 and ok["output_tokens"] == 5 and ok["cost"] == 0.0 and ok["latency"] > 0
    assert err["error_class"] == "ModelNotFoundError" and err["cost"] is None and err["agent"] is None
    assert cancelled["error_class"] == "CancelledError"


def test_query_groups_and_unknown_cost(tmp_path):
    log = UsageLog(tmp_path / "q.sqlite3")
    log.record(UsageRow(ts=1e9 + 10, provider="a", provider_type="openai", model="gpt-4o", input_tokens=10, output_tokens=2, cost=0.5))
    log.record(UsageRow(ts=1e9 + 20, provider="a", provider_type="openai", model="mystery", input_tokens=5, cost=None))
    log.record(UsageRow(ts=1e9 + 30, provider="b", provider_type="vllm", model="m", status="error", error_class="X"))
    log.close()
    by_provider = {r["provider"]: r for r in query_usage(log.path, by="provider")}
    assert by_provider["a"]["calls"] == 2 and by_provider["a"]["cost"] == 0.5 and by_provider["a"]["unpriced"] == 1
    assert by_provider["b"]["errors"] == 1 and by_provider["b"]["cost"] is None and by_provider["b"]["unpriced"] == 0
    assert {r["model"] for r in query_usage(log.path, by="model")} == {"gpt-4o", "mystery", "m"}
    assert query_usage(log.path, since=1e9 + 25, by="provider")[0]["provider"] == "b"
    with pytest.raises(ValueError):
        query_usage(log.path, by="colour")
