"""Budgets and rate limits shared by two OS processes through the real Redis (issue 16): each
process has its own provider object, its own Redis client and its own event loop; only the
counters in Redis are shared. The OpenAI fake runs in the parent; its request log is the count
of what was really sent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.routing import Budget
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI
from tests.fixtures.forked import CHILD_JOIN_SECONDS, fork_context
from tests.fixtures.redis import RedisServer

pytest.importorskip("redis")

from llmswitch.state.redis import RedisBackend  # noqa: E402 - after the importorskip

CALL_TOKENS = openai_server.USAGE["total_tokens"]
PREFIX = "shared-limits:"


def _child(url: str, base_url: str, settings: dict[str, Any], calls: int, queue: Any) -> None:
    async def main() -> dict[str, int]:
        state = RedisBackend(url, key_prefix=PREFIX, timeout=5.0)
        p = OpenAIProvider(name="p", base_url=base_url, api_key=openai_server.VALID_KEY, state=state, retries=0, **settings)
        results = await asyncio.gather(
            *(p.complete("hi", model="gpt-test", max_tokens=10, timeout=3) for _ in range(calls)), return_exceptions=True
        )
        await p.aclose()
        await state.aclose()
        out = {"ok": 0, "budget": 0, "rate": 0, "other": 0}
        for r in results:
            key = ("budget" if isinstance(r, E.BudgetExceededError) else "rate" if isinstance(r, E.RateLimitError)
                   else "ok" if not isinstance(r, BaseException) else "other")
            out[key] += 1
        return out

    queue.put(asyncio.run(main()))


def run_two(url: str, base_url: str, settings: dict[str, Any], calls: int) -> list[dict[str, int]]:
    ctx = fork_context()
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(url, base_url, settings, calls, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=CHILD_JOIN_SECONDS) for _ in procs]
        for p in procs:
            p.join(CHILD_JOIN_SECONDS)
            assert p.exitcode == 0, f"child exited with {p.exitcode}"
        return results
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def test_two_processes_spend_one_budget_that_adds_up_exactly(redis_server: RedisServer, openai_fake: tuple[FakeOpenAI, str]) -> None:
    """200 concurrent calls, 100 in each process, against one daily token budget in Redis: the
    spend is exactly 200 calls' real usage (reserved by estimate, settled with the real usage)."""
    results = run_two(redis_server.url, openai_fake[1], {"budget": {"tokens": 1_000_000, "per": "day"}}, 100)
    assert [r["ok"] for r in results] == [100, 100]
    assert len(openai_fake[0].requests) == 200

    async def spent() -> float:
        state = RedisBackend(redis_server.url, key_prefix=PREFIX)
        try:
            return (await Budget(tokens=1_000_000, per="day", scope="provider:p").status(state)).spent
        finally:
            await state.aclose()

    assert asyncio.run(spent()) == 200 * CALL_TOKENS


def test_a_hard_budget_holds_across_two_processes(redis_server: RedisServer, openai_fake: tuple[FakeOpenAI, str]) -> None:
    """A budget with room for about 20 calls: the two processes together never send more than
    the budget admits, and the refused calls raise ``BudgetExceededError`` without a request."""
    limit = 20 * CALL_TOKENS
    results = run_two(redis_server.url, openai_fake[1], {"budget": {"tokens": limit, "per": "day"}}, 40)
    sent = len(openai_fake[0].requests)
    assert sum(r["ok"] for r in results) == sent
    assert sum(r["budget"] for r in results) == 80 - sent and sum(r["other"] for r in results) == 0
    # each call reserves its estimate (prompt/4 + max_tokens = 10) and settles at 19 real tokens:
    # never more than the limit's worth of reservations are admitted at once
    assert 0 < sent <= limit // 10 and sent * CALL_TOKENS <= limit + 10 * sent


def test_a_rate_limit_admits_exactly_n_per_minute_across_two_processes(
    redis_server: RedisServer, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    """rpm 7 shared by two processes making 20 calls each with a 3 s deadline: exactly 7 are sent
    in this minute; the others cannot wait for the next window within their deadline and raise a
    client-side ``RateLimitError``."""
    into_minute = time.time() % 60
    if into_minute > 50:  # keep the whole run inside one minute window
        time.sleep(60 - into_minute + 0.2)
    results = run_two(redis_server.url, openai_fake[1], {"rate_limit": {"rpm": 7}}, 20)
    assert sum(r["ok"] for r in results) == 7 == len(openai_fake[0].requests)
    assert sum(r["rate"] for r in results) == 33 and sum(r["other"] for r in results) == 0
