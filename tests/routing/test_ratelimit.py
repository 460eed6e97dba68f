"""Client-side rate limits (``llmswitch.routing.ratelimit``): exactly ``rpm`` calls per minute are
admitted across every task sharing the backend, the rest wait for the next window; tokens per
minute; a wait longer than the call's deadline raises a client-side ``RateLimitError`` — all
through providers against the OpenAI fake, on the ``state_backend`` fixture, with the injected
clock (no test sleeps)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.config import load_config
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.registry import ProviderRegistry
from llmswitch.routing.budget import Budget
from llmswitch.routing.ratelimit import RateLimit
from llmswitch.state import StateBackend
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI
from tests.routing.conftest import FakeClock


class Gate:
    """A ``sleep`` that holds every sleeper until the test opens the gate; then each wakes at the
    time it asked for (the clock jumps there), and later sleepers wait for the next opening."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waiting = 0
        self._open = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        wake = self.clock.now + seconds
        self.waiting += 1
        event = self._open
        try:
            await event.wait()
        finally:
            self.waiting -= 1
        self.clock.now = max(self.clock.now, wake)

    def open(self) -> None:
        event, self._open = self._open, asyncio.Event()
        event.set()


def provider(fake: tuple[FakeOpenAI, str], state: StateBackend, **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(name="p", base_url=fake[1], api_key=openai_server.VALID_KEY, state=state, retries=0, **kw)


async def until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true")


async def test_n_per_minute_admits_exactly_n_and_the_rest_wait_for_the_next_window(openai_fake, state_backend, clock) -> None:
    gate = Gate(clock)
    limit = RateLimit(rpm=5, name="p", clock=clock, sleep=gate)
    # two provider objects (think: two workers) sharing the backend and the limit's name
    p1, p2 = provider(openai_fake, state_backend, rate_limit=limit), provider(openai_fake, state_backend, rate_limit=limit)
    requests = openai_fake[0].requests
    tasks = [asyncio.create_task((p1 if i % 2 else p2).complete("hi", model="gpt-test")) for i in range(12)]
    await until(lambda: len(requests) == 5 and gate.waiting == 7)
    await asyncio.sleep(0.1)
    assert len(requests) == 5 and (await limit.used(state_backend))[0] == 5  # no sixth slipped through
    minute0 = clock.now
    gate.open()  # the next minute: five more, two wait again
    await until(lambda: len(requests) == 10 and gate.waiting == 2)
    await asyncio.sleep(0.1)
    assert len(requests) == 10 and clock.now == minute0 + 50  # woke exactly at the window's start
    gate.open()
    await asyncio.gather(*tasks)
    assert len(requests) == 12 and clock.now == minute0 + 110
    assert (await limit.used(state_backend))[0] == 2
    assert limit.waits == 7 + 2
    await p1.aclose()
    await p2.aclose()


async def test_tokens_per_minute(openai_fake, state_backend, clock) -> None:
    limit = RateLimit(tpm=30, name="p", clock=clock, sleep=clock.sleep)
    p = provider(openai_fake, state_backend, rate_limit=limit)
    for _ in range(3):  # each is estimated at 4 + 10 tokens: two fit in a minute
        await p.complete("hi", model="gpt-test", max_tokens=10)
    assert clock.sleeps == [50.0] and len(openai_fake[0].requests) == 3
    assert await limit.used(state_backend) == (0, 14)
    with pytest.raises(E.RateLimitError, match="client-side rate limit: this call is estimated at 104 tokens, more than the 30"):
        await p.complete("hi", model="gpt-test", max_tokens=100)
    assert len(openai_fake[0].requests) == 3
    await p.aclose()


async def test_a_wait_past_the_calls_deadline_raises_at_once(openai_fake, state_backend, clock) -> None:
    limit = RateLimit(rpm=1, name="p", clock=clock, sleep=clock.sleep)
    p = provider(openai_fake, state_backend, rate_limit=limit)
    await p.complete("hi", model="gpt-test")
    with pytest.raises(E.RateLimitError) as info:
        await p.complete("hi", model="gpt-test", timeout=5)
    err = info.value
    assert err.retry_after == 50.0 and "client-side rate limit" in str(err) and "1 requests for p are taken" in str(err)
    assert "deadline of 5s" in str(err) and "nothing was sent" in str(err) and err.provider == "p"
    assert clock.sleeps == [] and len(openai_fake[0].requests) == 1
    with pytest.raises(E.RateLimitError, match="client-side"):  # a stream too, before its first send
        async with p.stream("hi", model="gpt-test", timeout=5) as s:
            await s.final()
    assert len(openai_fake[0].requests) == 1
    await p.aclose()


async def test_without_timeout_the_providers_timeout_bounds_the_wait(openai_fake, state_backend, clock) -> None:
    short = provider(openai_fake, state_backend, timeout=20, rate_limit=RateLimit(rpm=1, name="p", clock=clock, sleep=clock.sleep))
    await short.complete("hi", model="gpt-test")
    with pytest.raises(E.RateLimitError, match="deadline of 20s"):
        await short.complete("hi", model="gpt-test")
    patient = provider(openai_fake, state_backend, timeout=120, rate_limit=RateLimit(rpm=1, name="p", clock=clock, sleep=clock.sleep))
    await patient.complete("hi", model="gpt-test")  # waits its turn: 50 s of fake time
    assert clock.sleeps == [50.0] and len(openai_fake[0].requests) == 2
    await short.aclose()
    await patient.aclose()


async def test_a_call_over_budget_takes_no_rate_limit_slot(openai_fake, state_backend, clock) -> None:
    limit = RateLimit(rpm=1, name="p", clock=clock, sleep=clock.sleep)
    p = provider(openai_fake, state_backend, rate_limit=limit, budget=Budget(tokens=20, clock=clock))
    with pytest.raises(E.BudgetExceededError):
        await p.complete("hi", model="gpt-test", max_tokens=100)
    assert await limit.used(state_backend) == (0, 0)
    await p.complete("hi", model="gpt-test", max_tokens=10)
    assert len(openai_fake[0].requests) == 1
    await p.aclose()


async def test_a_failed_rate_limit_wait_releases_the_budget(openai_fake, state_backend, clock) -> None:
    b = Budget(tokens=1000, clock=clock)
    p = provider(openai_fake, state_backend, rate_limit=RateLimit(rpm=1, name="p", clock=clock), budget=b)
    await p.complete("hi", model="gpt-test", max_tokens=10)
    with pytest.raises(E.RateLimitError):
        await p.complete("hi", model="gpt-test", max_tokens=10, timeout=1)
    assert (await b.status(state_backend)).spent == openai_server.USAGE["total_tokens"]
    await p.aclose()


@pytest.mark.parametrize(
    ("kw", "message"),
    [({}, "rpm= .*tpm="), ({"rpm": 0}, "rpm must be"), ({"tpm": 2.5}, "tpm must be"), ({"rpm": True}, "rpm must be")],
)
def test_bad_limits_say_what_is_wrong(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimit(**kw)


def test_from_settings() -> None:
    assert RateLimit.from_settings("x", None) is None
    made = RateLimit.from_settings("x", {"rpm": 60, "tpm": 100_000})
    assert made is not None and (made.rpm, made.tpm, made.name) == (60, 100_000, "x")
    with pytest.raises(ValueError, match="unknown rate_limit setting"):
        RateLimit.from_settings("x", {"rps": 1})
    with pytest.raises(TypeError, match="mapping of rpm, tpm"):
        RateLimit.from_settings("x", 60)  # type: ignore[arg-type]


@pytest.fixture
def _no_llmswitch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LLMSWITCH_STATE", "LLMSWITCH_PROVIDERS", "LLMSWITCH_AGENTS", "LLMSWITCH_USAGE_LOG", "LLMSWITCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.usefixtures("_no_llmswitch_env")
def test_rate_limit_in_the_config_reaches_the_provider(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          main: {type: openai-compatible, base_url: "http://127.0.0.1:9/v1", rate_limit: {rpm: 60, tpm: 100000}}
          other: {type: openai-compatible, base_url: "http://127.0.0.1:9/v1", options: {rate_limit: {tpm: 5000}}}
          free: {type: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
    """))
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    main, other = reg.get("main").rate_limit, reg.get("other").rate_limit
    assert main is not None and (main.rpm, main.tpm, main.name) == (60, 100_000, "main")
    assert other is not None and (other.rpm, other.tpm) == (None, 5000)
    assert reg.get("free").rate_limit is None and reg.get("free").budgets == ()


@pytest.mark.usefixtures("_no_llmswitch_env")
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("rate_limit: {rpm: 0}", "rate_limit.rpm: Input should be greater than or equal to 1"),
        ("rate_limit: {}", "give rpm: (requests per minute), tpm: (tokens per minute) or both"),
        ("rate_limit: {rps: 3}", "unknown key 'rps'"),
        ("rate_limit: {rpm: lots}", "rate_limit.rpm: Input should be a valid integer"),
    ],
)
def test_bad_rate_limits_name_file_and_line(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path / "c.yaml", f"""
        providers:
          main:
            base_url: "http://127.0.0.1:9/v1"
            type: openai-compatible
            {entry}
    """)
    with pytest.raises(E.ConfigError) as info:
        load_config(path)
    assert "c.yaml:5:" in str(info.value) and message in str(info.value)
