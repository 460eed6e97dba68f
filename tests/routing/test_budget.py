"""Budgets (``llmswitch.routing.budget``): windows, the hard limit refused before anything is sent,
settling with the real usage, the soft warning once per window, exact spend under concurrency,
and the agent and total budgets applied by the registry — through providers against the fakes.

Time is the injected ``clock`` (no sleeping); the counters live on the ``state_backend`` fixture,
so these tests run unchanged over any ``StateBackend``."""

from __future__ import annotations

import asyncio
import logging
import pickle
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch import hooks
from llmswitch.config import load_config
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.providers.vllm import VLLMProvider
from llmswitch.registry import ProviderRegistry
from llmswitch.routing.budget import (
    Budget,
    BudgetStatus,
    add_soft_limit_listener,
    estimate_tokens,
    remove_soft_limit_listener,
    window,
)
from llmswitch.state import StateBackend
from llmswitch.types import Message, Usage
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI
from tests.routing.conftest import START

IN_PRICE, OUT_PRICE = 3e-6, 15e-6
"""The test pricer: $3 per million input tokens, $15 per million output tokens."""
CALL_USD = openai_server.USAGE["prompt_tokens"] * IN_PRICE + openai_server.USAGE["completion_tokens"] * OUT_PRICE
CALL_TOKENS = openai_server.USAGE["total_tokens"]


def test_pricer(provider_type: str, model: str, usage: Usage) -> float | None:
    if model == "gpt-unpriced":
        return None
    return usage.input_tokens * IN_PRICE + usage.output_tokens * OUT_PRICE


test_pricer.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def pricer() -> Iterator[None]:
    """Prices through the public hook (``llmswitch.hooks.set_pricer``), restored afterwards."""
    saved = list(hooks.pricer)
    hooks.set_pricer(test_pricer)
    yield
    hooks.pricer[:] = saved


def provider(fake: tuple[FakeOpenAI, str], state: StateBackend, **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(name="p", base_url=fake[1], api_key=openai_server.VALID_KEY, state=state, retries=0, **kw)


# --- windows and settings ------------------------------------------------------------------


def test_windows_are_calendar_windows_in_utc() -> None:
    t = START + 20 * 3600 + 59 * 60  # 2026-12-01 23:59:10 UTC
    day0 = START - 10 - 3 * 3600
    assert window("hour", t) == ("2026120123", day0 + 23 * 3600, day0 + 24 * 3600)
    assert window("day", t) == ("20261201", day0, day0 + 86400)
    assert window("month", t) == ("202612", day0, day0 + 31 * 86400)  # December has 31 days
    feb = 1_801_440_000.0  # 2027-02-01 00:00 UTC
    assert window("month", feb + 5)[2] - window("month", feb + 5)[1] == 28 * 86400
    with pytest.raises(ValueError, match="hour, day, month"):
        window("week", t)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "exactly one of usd"),
        ({"usd": 1, "tokens": 5}, "exactly one of usd"),
        ({"usd": 0}, "positive"),
        ({"tokens": True}, "positive"),
        ({"usd": 5, "per": "week"}, "hour, day, month"),
        ({"usd": 5, "soft": 6}, "above the hard limit"),
    ],
)
def test_bad_budgets_say_what_is_wrong(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Budget(**kw)


def test_from_settings_takes_a_mapping_a_list_or_budgets() -> None:
    assert Budget.from_settings("provider:x", None) == ()
    one = Budget.from_settings("provider:x", {"usd": 5, "per": "hour", "soft": 4})
    assert len(one) == 1 and (one[0].unit, one[0].limit, one[0].soft, one[0].per, one[0].scope) == ("usd", 5, 4, "hour", "provider:x")
    two = Budget.from_settings("agent:a", [{"tokens": 1000}, Budget(usd=1, per="month")])
    assert [b.scope for b in two] == ["agent:a", "agent:a"]  # a Budget without a scope takes it
    warn_only = Budget(usd=3, hard=False)
    assert warn_only.limit is None and warn_only.soft == 3
    with pytest.raises(ValueError, match="unknown budget setting"):
        Budget.from_settings("total", {"dollars": 5})
    with pytest.raises(TypeError, match="mapping of usd"):
        Budget.from_settings("total", 5)


def test_estimate_is_characters_over_four_plus_max_tokens() -> None:
    msgs = [Message.user("x" * 400), Message.system("y" * 40)]
    assert estimate_tokens(msgs, None, {"max_tokens": 50}, None) == (110 + 8, 50)
    assert estimate_tokens(msgs, None, {}, 300) == (118, 300)  # the provider's default_max_tokens
    assert estimate_tokens(msgs, None, None, None) == (118, 1024)  # DEFAULT_OUTPUT_ESTIMATE


# --- through a provider ----------------------------------------------------------------------


async def test_a_hard_limit_refuses_before_anything_is_sent(openai_fake, state_backend, clock) -> None:
    p = provider(openai_fake, state_backend, budget=Budget(tokens=100, clock=clock))
    with pytest.raises(E.BudgetExceededError) as info:
        await p.complete("hi", model="gpt-test", max_tokens=500)
    assert openai_fake[0].requests == []  # the server saw nothing
    err = info.value
    text = str(err)
    assert "provider:p" in text and "0 tokens of 100 tokens" in text and "nothing was sent" in text
    assert "resets at 2026-12-02 00:00 UTC (in 20h 59m)" in text
    assert "raise tokens in budget: under provider p in llmswitch.yaml" in text
    assert err.retry_after == pytest.approx(86400 - 3 * 3600 - 10)  # type: ignore[attr-defined]
    assert not err.retryable and err.provider == "p" and err.model == "gpt-test"
    assert err.budget == "provider:p"  # type: ignore[attr-defined]
    assert err.status == await p.budgets[0].status(state_backend)  # type: ignore[attr-defined]
    assert err.status.spent == 0  # type: ignore[attr-defined]  # a refused call reserves nothing
    again = pickle.loads(pickle.dumps(err))  # errors cross processes
    assert str(again) == str(err) and again.status == err.status  # type: ignore[attr-defined]
    await p.aclose()


async def test_spend_is_settled_with_the_real_usage_and_then_refuses(openai_fake, state_backend, clock) -> None:
    tokens = Budget(tokens=2 * CALL_TOKENS + 5, clock=clock)
    dollars = Budget(usd=1.0, per="month", clock=clock)
    p = provider(openai_fake, state_backend, budget=[tokens, dollars])
    for _ in range(2):  # each call reserves 4 + 10 tokens, then settles at the 19 the server reports
        await p.complete("hi", model="gpt-test", max_tokens=10)
    assert (await tokens.status(state_backend)).spent == 2 * CALL_TOKENS
    assert (await dollars.status(state_backend)).spent == pytest.approx(2 * CALL_USD, abs=1e-9)
    with pytest.raises(E.BudgetExceededError, match=f"{2 * CALL_TOKENS} tokens of {2 * CALL_TOKENS + 5} tokens"):
        await p.complete("hi", model="gpt-test", max_tokens=10)
    assert len(openai_fake[0].requests) == 2
    # the dollar budget, reserved before the token budget refused, was given back
    assert (await dollars.status(state_backend)).spent == pytest.approx(2 * CALL_USD, abs=1e-9)
    clock.advance(86400)  # the next day: a fresh token window, the same month
    await p.complete("hi", model="gpt-test", max_tokens=10)
    assert (await tokens.status(state_backend)).spent == CALL_TOKENS
    assert (await dollars.status(state_backend)).spent == pytest.approx(3 * CALL_USD, abs=1e-9)
    await p.aclose()


async def test_a_failed_call_releases_its_reservation(openai_fake, state_backend, clock) -> None:
    b = Budget(tokens=10_000, clock=clock)
    p = provider(openai_fake, state_backend, budget=b)
    with pytest.raises(E.ProviderUnavailableError):
        await p.complete("hi", model="gpt-broken", max_tokens=10)
    assert len(openai_fake[0].requests) == 1 and (await b.status(state_backend)).spent == 0
    await p.aclose()


async def test_a_soft_limit_warns_once_per_window(openai_fake, state_backend, clock, caplog) -> None:
    seen: list[BudgetStatus] = []
    everywhere: list[BudgetStatus] = []
    add_soft_limit_listener(everywhere.append)
    b = Budget(tokens=10_000, soft=CALL_TOKENS + 1, per="hour", on_soft=seen.append, clock=clock)
    p = provider(openai_fake, state_backend, budget=b)
    try:
        with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
            await p.complete("hi", model="gpt-test", max_tokens=10)
            assert seen == []  # 19 < 20
            for _ in range(3):
                await p.complete("hi", model="gpt-test", max_tokens=10)
            assert len(seen) == 1 and seen[0].spent == 2 * CALL_TOKENS and seen[0].soft == CALL_TOKENS + 1
            assert seen[0].resets_at == START - 10 + 3600 and everywhere == seen
            warnings = [r for r in caplog.records if r.name == "llmswitch.budget"]
            assert len(warnings) == 1 and "provider:p reached its soft limit" in warnings[0].getMessage()
            clock.advance(3600)  # the next hour: warned again, once
            for _ in range(3):
                await p.complete("hi", model="gpt-test", max_tokens=10)
            assert len(seen) == 2 and len([r for r in caplog.records if r.name == "llmswitch.budget"]) == 2
    finally:
        remove_soft_limit_listener(everywhere.append)
        await p.aclose()


async def test_the_soft_warning_is_given_once_across_budgets_sharing_a_counter(openai_fake, state_backend, clock) -> None:
    """Two processes sharing a backend build two Budget objects for one budget: one warning."""
    seen: list[BudgetStatus] = []
    a = Budget(tokens=10_000, soft=1, scope="total", on_soft=seen.append, clock=clock)
    b = Budget(tokens=10_000, soft=1, scope="total", on_soft=seen.append, clock=clock)
    p1, p2 = provider(openai_fake, state_backend, budget=a), provider(openai_fake, state_backend, budget=b)
    await p1.complete("hi", model="gpt-test")
    await p2.complete("hi", model="gpt-test")
    assert len(seen) == 1 and (await a.status(state_backend)).spent == 2 * CALL_TOKENS
    await p1.aclose()
    await p2.aclose()


async def test_200_concurrent_calls_spend_exactly(openai_fake, state_backend, clock) -> None:
    dollars, tokens = Budget(usd=10, clock=clock), Budget(tokens=1_000_000, clock=clock)
    p = provider(openai_fake, state_backend, budget=[dollars, tokens])
    await asyncio.gather(*(p.complete("hi", model="gpt-test", max_tokens=10) for _ in range(200)))
    assert len(openai_fake[0].requests) == 200
    assert (await tokens.status(state_backend)).spent == 200 * CALL_TOKENS
    # whole nano-dollars add exactly, in any order
    assert (await dollars.status(state_backend)).spent == 200 * round(CALL_USD * 1e9) / 1e9
    await p.aclose()


async def test_concurrent_calls_never_overspend_a_hard_limit(openai_fake, state_backend, clock) -> None:
    # each call reserves 14 tokens; 20 calls fit in 280, the rest are refused, none sent
    b = Budget(tokens=280, clock=clock)
    p = provider(openai_fake, state_backend, budget=b)
    results = await asyncio.gather(*(p.complete("hi", model="gpt-test", max_tokens=10) for _ in range(50)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, E.BudgetExceededError)]
    assert len(openai_fake[0].requests) == 50 - len(refused) and len(refused) >= 30
    assert (await b.status(state_backend)).spent <= 280 + 5 * 50  # settled at 19 each, reserved at 14
    await p.aclose()


async def test_a_stream_is_admitted_before_sending_and_settled_at_its_end(openai_fake, state_backend, clock) -> None:
    b = Budget(tokens=50, clock=clock)
    p = provider(openai_fake, state_backend, budget=b)
    async with p.stream("hi", model="gpt-test", max_tokens=10) as s:
        text = "".join([t async for t in s.text()])
    assert text == "".join(openai_server.REPLY)
    assert (await b.status(state_backend)).spent == CALL_TOKENS  # the usage chunk settled it
    with pytest.raises(E.BudgetExceededError):
        async with p.stream("hi", model="gpt-test", max_tokens=40) as s:
            await s.final()
    assert len(openai_fake[0].requests) == 1
    async with p.stream("hi", model="gpt-cut", max_tokens=10) as s:  # cut after two chunks: released
        with pytest.raises(E.ProviderError):
            await s.final()
    assert (await b.status(state_backend)).spent == CALL_TOKENS
    await p.aclose()


async def test_local_providers_cost_nothing_but_count_tokens(fake_server, state_backend, clock) -> None:
    fake = await fake_server(models=["local-model"])
    dollars, tokens = Budget(usd=1e-9, clock=clock), Budget(tokens=10_000, clock=clock)
    p = VLLMProvider(base_url=fake.base_url, state=state_backend, retries=0, budget=[dollars, tokens])
    await p.complete("hi", model="local-model")
    await p.complete("hi", model="local-model")
    assert (await dollars.status(state_backend)).spent == 0  # never refused, never charged
    assert (await tokens.status(state_backend)).spent == 2 * CALL_TOKENS
    await p.aclose()


async def test_an_unpriced_model_is_not_held_by_dollars_and_says_so(openai_fake, state_backend, clock, caplog) -> None:
    openai_fake[0].models.append("gpt-unpriced")
    b = Budget(usd=1e-6, clock=clock)
    # the note is once per process for each (provider, model): a name of its own per run
    p = OpenAIProvider(name=f"p-{uuid.uuid4().hex[:8]}", base_url=openai_fake[1], api_key=openai_server.VALID_KEY,
                       state=state_backend, retries=0, budget=b)
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        await p.complete("hi", model="gpt-unpriced")
        await p.complete("hi", model="gpt-unpriced")
    assert len(openai_fake[0].requests) == 2 and (await b.status(state_backend)).spent == 0
    notes = [r.getMessage() for r in caplog.records if "no known price" in r.getMessage()]
    assert len(notes) == 1 and "gpt-unpriced" in notes[0]
    await p.aclose()


async def test_a_calls_own_budget_adds_to_the_providers(openai_fake, state_backend, clock) -> None:
    mine = Budget(tokens=10, clock=clock)
    p = provider(openai_fake, state_backend)
    with pytest.raises(E.BudgetExceededError, match="budget of call"):
        await p.complete("hi", model="gpt-test", max_tokens=20, budget=mine)
    assert openai_fake[0].requests == []
    await p.complete("hi", model="gpt-test", max_tokens=20)  # without it: no budget at all
    assert len(openai_fake[0].requests) == 1 and "budget" not in openai_fake[0].requests[0]


# --- the config and the registry ----------------------------------------------------------------


@pytest.fixture
def _no_llmswitch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LLMSWITCH_STATE", "LLMSWITCH_PROVIDERS", "LLMSWITCH_AGENTS", "LLMSWITCH_USAGE_LOG",
                "LLMSWITCH_CONFIG", "LLMSWITCH_BUDGETS"):
        monkeypatch.delenv(var, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.usefixtures("_no_llmswitch_env")
def test_budgets_in_the_config_reach_providers_agents_and_the_total(tmp_path: Path, openai_fake) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", f"""
        providers:
          main:
            type: openai
            base_url: "{openai_fake[1]}"
            api_key: "{openai_server.VALID_KEY}"
            budget: {{usd: 10, per: day, soft: 8}}
          second:
            type: openai
            base_url: "{openai_fake[1]}"
            api_key: "{openai_server.VALID_KEY}"
            options:
              budget: [{{tokens: 5000, per: hour}}, {{usd: 100, per: month}}]
        agents:
          coder: {{provider: main, fallbacks: [second], budget: {{tokens: 1000000}}}}
        budgets:
          - {{usd: 50, per: month, soft: 40}}
    """))
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    main, second = reg.get("main"), reg.get("second")
    assert [(b.scope, b.unit, b.limit, b.per, b.soft) for b in main.budgets] == [
        ("provider:main", "usd", 10, "day", 8), ("total", "usd", 50, "month", 40)]
    assert [(b.scope, b.unit, b.per) for b in second.budgets] == [
        ("provider:second", "tokens", "hour"), ("provider:second", "usd", "month"), ("total", "usd", "month")]
    assert main.budgets[-1] is second.budgets[-1]  # one total, shared
    assert [(b.scope, b.limit) for b in reg.agent_budgets("coder")] == [("agent:coder", 1_000_000)]
    assert reg.agent_budgets("nobody") == ()


@pytest.mark.usefixtures("_no_llmswitch_env")
@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("budget: {usd: -1}", 4, "budget.0.usd: Input should be greater than 0"),
        ("budget: {per: week, usd: 5}", 4, "budget.0.per: Input should be 'hour', 'day' or 'month'"),
        ("budget: {usd: 5, tokens: 9}", 4, "a budget needs exactly one of usd: (dollars) or tokens:"),
        ("budget: {usd: 5, soft: 9}", 4, "soft (9) is above the limit (5)"),
        ("budget: {dollars: 5}", 4, "unknown key 'dollars'"),
    ],
)
def test_bad_budget_settings_name_file_and_line(tmp_path: Path, entry: str, line: int, message: str) -> None:
    path = write(tmp_path / "c.yaml", f"""
        providers:
          main:
            type: openai-compatible
            {entry}
            base_url: "http://127.0.0.1:9/v1"
    """)
    with pytest.raises(E.ConfigError) as info:
        load_config(path)
    assert f"c.yaml:{line}:" in str(info.value) and message in str(info.value)


@pytest.mark.usefixtures("_no_llmswitch_env")
def test_a_bad_total_budget_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        providers: {}
        budgets:
          - {usd: 5, per: fortnight}
    """)
    with pytest.raises(E.ConfigError, match=r"c\.yaml:3: .*per: Input should be 'hour', 'day' or 'month'"):
        load_config(path)


async def test_the_registry_applies_agent_and_total_budgets(openai_fake, state_backend, clock) -> None:
    total = Budget(tokens=3 * CALL_TOKENS, scope="total", clock=clock)
    agent = Budget(tokens=CALL_TOKENS + 5, clock=clock)
    a, b = provider(openai_fake, state_backend), provider(openai_fake, state_backend)
    reg = ProviderRegistry({"a": a})
    reg.set_budgets(total)
    reg.register("b", b)  # registered later: the total applies too
    reg.set_agent("coder", "a", ["b"], budget=agent)
    assert a.budgets == (total,) and b.budgets == (total,)
    await reg.acomplete_for_agent("coder", "hi", max_tokens=10)
    assert (await agent.status(state_backend)).spent == CALL_TOKENS and agent.scope == "agent:coder"
    with pytest.raises(E.BudgetExceededError, match="agent:coder"):
        await reg.acomplete_for_agent("coder", "hi", max_tokens=10)
    async with b.stream("hi", model="gpt-test", max_tokens=10) as s:
        await s.final()  # b alone: the total counts it, the agent does not
    await a.complete("hi", model="gpt-test", max_tokens=10)
    assert (await total.status(state_backend)).spent == 3 * CALL_TOKENS
    assert (await agent.status(state_backend)).spent == CALL_TOKENS
    with pytest.raises(E.BudgetExceededError, match="budget of total"):
        await b.complete("hi", model="gpt-test", max_tokens=10)
    assert len(openai_fake[0].requests) == 3
    reg.set_budgets(None)  # removed from every provider
    assert a.budgets == () and b.budgets == ()
    await a.aclose()


async def test_an_agents_stream_counts_against_its_budget(openai_fake, state_backend, clock) -> None:
    agent = Budget(tokens=CALL_TOKENS + 5, clock=clock)
    a = provider(openai_fake, state_backend, default_model="gpt-test")
    reg = ProviderRegistry({"a": a})
    reg.set_agent("coder", "a", budget=agent)
    async with reg.stream_for_agent("coder", "hi", max_tokens=10) as s:
        await s.final()
    assert (await agent.status(state_backend)).spent == CALL_TOKENS
    with pytest.raises(E.BudgetExceededError):
        async with reg.stream_for_agent("coder", "hi", max_tokens=10) as s:
            await s.final()
    assert len(openai_fake[0].requests) == 1
    await a.aclose()
