"""Unit tests of ``llmswitch.routing.admission``: what ``admit`` reserves, refuses and waits for,
and what a ``Ticket`` settles or gives back — each rule on its own, for mutation testing.

A provider is a plain stand-in with the attributes ``admit`` reads (budgets, state, rate limit,
timeouts): admission is duck-typed on purpose, so these tests need no server. Counters live on a
``MemoryBackend`` on the fake clock; every budget has its own scope and every priced model its own
name, so the module-level price cache and the once-per-model note never depend on test order."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch import hooks
from llmswitch._transport import Timeouts, call_deadline
from llmswitch.routing.admission import Ticket, admit
from llmswitch.routing.budget import USD_SCALE, Budget, estimate_tokens
from llmswitch.routing.ratelimit import RateLimit
from llmswitch.state import MemoryBackend
from llmswitch.types import Message, ProviderType, Tool, Usage
from tests.routing.conftest import START, FakeClock

IN_PRICE, OUT_PRICE = 2e-6, 10e-6


def _budget_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """This logger's records only: asyncio may report an unclosed session of another test at any time."""
    return [r for r in caplog.records if r.name == "llmswitch.budget"]


def pricer(provider_type: str, model: str, usage: Usage) -> float | None:
    if model.startswith("unpriced"):
        return None
    return usage.input_tokens * IN_PRICE + usage.output_tokens * OUT_PRICE


@pytest.fixture(autouse=True)
def _pricer() -> Iterator[None]:
    saved = list(hooks.pricer)
    hooks.set_pricer(pricer)
    yield
    hooks.pricer[:] = saved


@dataclass
class Stand:
    """The attributes of a provider that ``admit`` reads."""

    state: MemoryBackend
    budgets: tuple[Budget, ...] = ()
    rate_limit: RateLimit | None = None
    is_local: bool = False
    name: str = field(default_factory=lambda: f"p-{uuid.uuid4().hex[:8]}")
    provider_type: ProviderType = ProviderType.OPENAI
    default_max_tokens: int | None = None
    _timeouts: Timeouts = field(default_factory=Timeouts)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


MSGS = [Message(role="user", content="x" * 400)]  # 100 tokens + 4 per message
PARAMS = {"max_tokens": 50}
TOKENS = 104 + 50


def usd_budget(clock: FakeClock, usd: float = 1.0, **kw: Any) -> Budget:
    return Budget(usd=usd, per="day", scope=uniq("provider:p"), clock=clock, **kw)


def tok_budget(clock: FakeClock, tokens: int = 10_000, **kw: Any) -> Budget:
    return Budget(tokens=tokens, per="day", scope=uniq("provider:p"), clock=clock, **kw)


def nano(inp: int, out: int) -> int:
    return round((inp * IN_PRICE + out * OUT_PRICE) * USD_SCALE)


async def spent(state: MemoryBackend, b: Budget) -> float:
    return await state.get(b.current()[0])


async def test_the_estimate_is_what_is_reserved_in_tokens_and_dollars(clock: FakeClock) -> None:
    assert estimate_tokens(MSGS, None, PARAMS, None) == (104, 50)
    state = MemoryBackend(clock=clock)
    t, d = tok_budget(clock), usd_budget(clock)
    p = Stand(state, budgets=(t, d))
    ticket = await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert await spent(state, t) == TOKENS
    assert await spent(state, d) == nano(104, 50)
    assert [(h[0], h[2]) for h in ticket.held] == [(t, TOKENS), (d, nano(104, 50))]
    assert ticket.usd_known is True
    assert ticket.held[0][1] == t.current()[0] and ticket.held[0][3] == t.current()[3]


async def test_the_providers_default_max_tokens_is_the_output_estimate(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock)
    await admit(Stand(state, budgets=(t,), default_max_tokens=7), uniq("m"), MSGS, None, None)
    assert await spent(state, t) == 104 + 7


async def test_a_single_extra_budget_and_a_list_of_them_add_to_the_providers(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    own, one, two, three = (tok_budget(clock) for _ in range(4))
    p = Stand(state, budgets=(own,))
    t1 = await admit(p, uniq("m"), MSGS, None, PARAMS, one)
    assert [h[0] for h in t1.held] == [own, one]
    t2 = await admit(p, uniq("m"), MSGS, None, PARAMS, [two, three])
    assert [h[0] for h in t2.held] == [own, two, three]
    assert [await spent(state, b) for b in (own, one, two, three)] == [2 * TOKENS, TOKENS, TOKENS, TOKENS]


async def test_a_local_provider_skips_dollar_budgets_but_counts_tokens(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    d, t = usd_budget(clock, usd=1e-9), tok_budget(clock)
    ticket = await admit(Stand(state, budgets=(d, t), is_local=True), uniq("m"), MSGS, None, PARAMS)
    assert [h[0] for h in ticket.held] == [t]
    assert await spent(state, d) == 0 and await spent(state, t) == TOKENS


async def test_an_unpriced_model_reserves_nothing_in_dollars_says_so_once_and_settles_at_zero(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryBackend(clock=clock)
    d1, d2 = usd_budget(clock, soft=None, hard=False), usd_budget(clock, soft=None, hard=False)
    p = Stand(state, budgets=(d1, d2))
    model = uniq("unpriced")
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        ticket = await admit(p, model, MSGS, None, PARAMS)
    notes = [r.getMessage() for r in _budget_log(caplog)]
    assert notes == [f"{p.name}: model {model!r} has no known price; dollar budgets cannot count its calls "
                     "(token budgets still do)"]
    assert ticket.usd_known is False
    assert [h[2] for h in ticket.held] == [0, 0]
    await ticket.settle(Usage(input_tokens=1000, output_tokens=1000))
    assert await spent(state, d1) == 0 and await spent(state, d2) == 0


async def test_the_price_is_asked_once_per_call_for_all_dollar_budgets(clock: FakeClock) -> None:
    asked: list[str] = []

    def counting(provider_type: str, model: str, usage: Usage) -> float | None:
        asked.append(model)
        return pricer(provider_type, model, usage)

    hooks.set_pricer(counting)
    state = MemoryBackend(clock=clock)
    model = uniq("m")
    await admit(Stand(state, budgets=(usd_budget(clock), usd_budget(clock), usd_budget(clock))), model, MSGS, None, PARAMS)
    assert asked == [model, model]  # one probe for input, one for output


async def test_an_unpriced_model_is_looked_up_once_per_call(clock: FakeClock) -> None:
    asked: list[str] = []

    def counting(provider_type: str, model: str, usage: Usage) -> float | None:
        asked.append(model)
        return None

    hooks.set_pricer(counting)
    state = MemoryBackend(clock=clock)
    model = uniq("m")
    b = (usd_budget(clock, hard=False), usd_budget(clock, hard=False))
    await admit(Stand(state, budgets=b), model, MSGS, None, PARAMS)
    assert asked == [model, model]


async def test_a_budget_exactly_spent_refuses_a_call_estimated_at_zero(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    d = usd_budget(clock, usd=1.0)
    await state.add(d.current()[0], USD_SCALE)
    hooks.set_pricer(lambda t, m, u: 0.0)
    with pytest.raises(E.BudgetExceededError):
        await admit(Stand(state, budgets=(d,)), uniq("free"), MSGS, None, PARAMS)
    assert await spent(state, d) == USD_SCALE


async def test_a_free_call_under_a_hard_limit_reserves_one_unit(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    d = usd_budget(clock, usd=1.0)
    hooks.set_pricer(lambda t, m, u: 0.0)
    ticket = await admit(Stand(state, budgets=(d,)), uniq("free"), MSGS, None, PARAMS)
    assert ticket.held[0][2] == 1 and await spent(state, d) == 1


async def test_a_soft_only_budget_adds_the_estimate_without_a_limit(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock, tokens=10, hard=False)
    await state.add(t.current()[0], 1000)
    ticket = await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, None, PARAMS)
    assert ticket.held[0][2] == TOKENS and await spent(state, t) == 1000 + TOKENS


async def test_a_refusal_names_provider_and_model_and_gives_back_earlier_reservations(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    first, full = tok_budget(clock), tok_budget(clock, tokens=TOKENS - 1)
    p = Stand(state, budgets=(first, full))
    model = uniq("m")
    with pytest.raises(E.BudgetExceededError) as ei:
        await admit(p, model, MSGS, None, PARAMS)
    assert ei.value.provider == p.name and ei.value.model == model
    assert f"this call may need up to {TOKENS:,} tokens" in str(ei.value)
    assert ei.value.budget == full.label  # type: ignore[attr-defined]
    assert await spent(state, first) == 0 and await spent(state, full) == 0
    assert (await state.peek([first.current()[0]]))[0][1] is not None  # given back with its ttl


async def test_a_call_that_fits_exactly_is_admitted(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock, tokens=TOKENS)
    await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, None, PARAMS)
    assert await spent(state, t) == TOKENS


async def test_the_rate_limit_waits_for_room_for_the_estimated_tokens(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    name = uniq("rl")
    limit = RateLimit(tpm=TOKENS, name=name, clock=clock, sleep=clock.sleep)
    p = Stand(state, rate_limit=limit)
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert clock.sleeps == []
    await admit(p, uniq("m"), MSGS, None, PARAMS)  # the minute is full: waits for the next one
    assert clock.sleeps == [50.0]


async def test_the_rate_limit_refuses_a_call_larger_than_its_tpm_and_releases_the_budgets(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock)
    p = Stand(state, budgets=(t,), rate_limit=RateLimit(tpm=TOKENS - 1, name=uniq("rl"), clock=clock, sleep=clock.sleep))
    with pytest.raises(E.RateLimitError) as ei:
        await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert ei.value.provider == p.name
    assert f"estimated at {TOKENS:,} tokens" in str(ei.value)
    assert await spent(state, t) == 0


async def test_the_rate_limit_wait_is_bounded_by_the_providers_total_timeout(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    limit = RateLimit(rpm=1, name=uniq("rl"), clock=clock, sleep=clock.sleep)
    t = tok_budget(clock)
    p = Stand(state, budgets=(t,), rate_limit=limit, _timeouts=Timeouts(total=49.0))
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    with pytest.raises(E.RateLimitError):
        await admit(p, uniq("m"), MSGS, None, PARAMS)  # the next slot is 50 s away
    assert clock.sleeps == []
    assert await spent(state, t) == TOKENS  # the first call's reservation only
    p._timeouts = Timeouts(total=51.0)
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert clock.sleeps == [50.0]


async def test_without_a_total_timeout_the_rate_limit_waits_unbounded(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    limit = RateLimit(rpm=1, name=uniq("rl"), clock=clock, sleep=clock.sleep)
    p = Stand(state, rate_limit=limit, _timeouts=Timeouts(total=None))
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert clock.sleeps == [50.0]


async def test_a_call_deadline_bounds_the_rate_limit_wait_before_the_providers_timeout(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    limit = RateLimit(rpm=1, name=uniq("rl"), clock=clock, sleep=clock.sleep)
    p = Stand(state, rate_limit=limit, _timeouts=Timeouts(total=600.0))
    await admit(p, uniq("m"), MSGS, None, PARAMS)
    with call_deadline(10.0), pytest.raises(E.RateLimitError):
        await admit(p, uniq("m"), MSGS, None, PARAMS)
    assert clock.sleeps == []


# --- settling and releasing -----------------------------------------------------------------


async def test_settle_replaces_token_reservations_with_the_real_total(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock)
    ticket = await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, None, PARAMS)
    await ticket.settle(Usage(input_tokens=30, output_tokens=12))
    assert await spent(state, t) == 42
    assert ticket.held == []
    await ticket.settle(Usage(input_tokens=1, output_tokens=1))  # settled once only
    await ticket.release()
    assert await spent(state, t) == 42


@pytest.mark.parametrize("usage", [None, Usage(input_tokens=0, output_tokens=0, known=False)])
async def test_an_unknown_usage_keeps_the_token_estimate(clock: FakeClock, usage: Usage | None) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock)
    ticket = await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, None, PARAMS)
    await ticket.settle(usage)
    assert await spent(state, t) == TOKENS


async def test_settle_counts_the_reported_cost_in_dollars(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    d = usd_budget(clock)
    ticket = await admit(Stand(state, budgets=(d,)), uniq("m"), MSGS, None, PARAMS)
    await ticket.settle(Usage(input_tokens=1, output_tokens=1, cost=0.25))
    assert await spent(state, d) == 0.25 * USD_SCALE


@pytest.mark.parametrize("usage", [None, Usage(input_tokens=5, output_tokens=5)])
async def test_without_a_cost_a_priced_call_keeps_its_dollar_estimate(clock: FakeClock, usage: Usage | None) -> None:
    state = MemoryBackend(clock=clock)
    d = usd_budget(clock)
    ticket = await admit(Stand(state, budgets=(d,)), uniq("m"), MSGS, None, PARAMS)
    await ticket.settle(usage)
    assert await spent(state, d) == nano(104, 50)


async def expire(state: MemoryBackend, clock: FakeClock, key: str) -> None:
    await state.set(key, 0, ttl=0.001)
    clock.advance(0.01)


async def test_settle_and_release_keep_the_counters_ttl(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t, d = tok_budget(clock), usd_budget(clock)
    key_t, key_d = t.current()[0], d.current()[0]
    ticket = await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, None, PARAMS)
    await expire(state, clock, key_t)  # the counter expired while the call ran: settling creates it again
    await ticket.settle(Usage(input_tokens=10, output_tokens=10))
    [(value, left)] = await state.peek([key_t])
    assert value == -TOKENS + 20 and left == pytest.approx(t.current()[2] - clock() + 300)
    ticket = await admit(Stand(state, budgets=(d,)), uniq("m"), MSGS, None, PARAMS)
    await expire(state, clock, key_d)
    await ticket.release()
    [(value, left)] = await state.peek([key_d])
    assert value == -nano(104, 50) and left == pytest.approx(d.current()[2] - clock() + 300)


async def test_release_gives_every_reservation_back_once(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t, d = tok_budget(clock), usd_budget(clock)
    ticket = await admit(Stand(state, budgets=(t, d)), uniq("m"), MSGS, None, PARAMS)
    await ticket.release()
    await ticket.release()
    assert await spent(state, t) == 0 and await spent(state, d) == 0
    assert ticket.held == []


async def test_settling_past_the_soft_limit_warns_once_per_window(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryBackend(clock=clock)
    seen: list[float] = []
    t = tok_budget(clock, tokens=1000, soft=100, on_soft=lambda st: seen.append(st.spent))
    p = Stand(state, budgets=(t,))
    with caplog.at_level(logging.WARNING, logger="llmswitch.budget"):
        ticket = await admit(p, uniq("m"), MSGS, None, PARAMS)
        await ticket.settle(Usage(input_tokens=60, output_tokens=39))  # 99: below
        assert seen == []
        ticket = await admit(p, uniq("m"), MSGS, None, PARAMS)
        await ticket.settle(Usage(input_tokens=1, output_tokens=0))  # 100: reached
        assert seen == [100.0]
        ticket = await admit(p, uniq("m"), MSGS, None, PARAMS)
        await ticket.settle(Usage(input_tokens=1, output_tokens=0))
    assert seen == [100.0]
    assert [r.getMessage() for r in _budget_log(caplog)] == [
        f"budget {t.label} reached its soft limit: 100 tokens spent of 100 tokens soft, 1,000 tokens hard "
        "(day window, resets 2026-12-02 00:00 UTC)"
    ]


async def test_a_ticket_without_budgets_settles_to_nothing(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    ticket = Ticket(state, [], True)
    await ticket.settle(Usage(input_tokens=1))
    await ticket.release()
    assert await state.peek(["x"]) == [(0.0, None)]
    assert clock() == START


async def test_reservations_carry_the_windows_ttl(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    hard, soft_only = tok_budget(clock), tok_budget(clock, hard=False)
    await admit(Stand(state, budgets=(hard, soft_only)), uniq("m"), MSGS, None, PARAMS)
    ttl = 86400 - (3 * 3600 + 10) + 300  # the rest of the day, plus the grace
    assert await state.peek([hard.current()[0], soft_only.current()[0]]) == [(TOKENS, ttl), (TOKENS, ttl)]


async def test_tools_count_in_the_estimate(clock: FakeClock) -> None:
    state = MemoryBackend(clock=clock)
    t = tok_budget(clock)
    tools = [Tool(name="n" * 40, description="d" * 60, parameters={})]
    assert estimate_tokens(MSGS, tools, PARAMS, None) == (104 + 25, 50)
    await admit(Stand(state, budgets=(t,)), uniq("m"), MSGS, tools, PARAMS)
    assert await spent(state, t) == TOKENS + 25


async def test_the_pricer_is_asked_with_the_providers_type(clock: FakeClock) -> None:
    def anthropic_only(provider_type: str, model: str, usage: Usage) -> float | None:
        return pricer(provider_type, model, usage) if provider_type == "anthropic" else None

    hooks.set_pricer(anthropic_only)
    state = MemoryBackend(clock=clock)
    d = usd_budget(clock)
    ticket = await admit(Stand(state, budgets=(d,), provider_type=ProviderType.ANTHROPIC), uniq("m"), MSGS, None, PARAMS)
    assert ticket.usd_known is True and await spent(state, d) == nano(104, 50)
