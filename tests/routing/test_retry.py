"""Retries (``llmswitch.routing.retry``): the policy alone, then through a provider against the
OpenAI fake, whose ``gpt-ratelimit-<form>``, ``gpt-broken``, ``gpt-flaky-<n>-<status>`` and
``gpt-slow`` models script the faults and whose ``requests`` list counts the attempts.

No test sleeps for the waits it checks: the policy's ``sleep`` is a recorder."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.routing import DEFAULT_RETRIES, RetryPolicy, is_retryable
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


class Sleeps(list[float]):
    """A ``sleep`` that records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps, **kw: Any) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, jitter=lambda: 0.5, **kw)


def provider(fake: tuple[FakeOpenAI, str], **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(base_url=fake[1], api_key=openai_server.VALID_KEY, **kw)


def sent(fake: tuple[FakeOpenAI, str], model: str) -> int:
    return sum(1 for r in fake[0].requests if r["model"] == model)


# --- the policy alone ----------------------------------------------------------------------------


def test_defaults_are_the_sdks() -> None:
    p = RetryPolicy()
    assert (p.retries, p.initial_backoff, p.max_backoff, p.max_wait, p.retry_on_timeout) == (2, 0.5, 8.0, 60.0, True)
    assert DEFAULT_RETRIES == 2
    assert RetryPolicy.from_settings(None) == RetryPolicy()
    assert RetryPolicy.from_settings(0) is None  # off: nothing on the call path


def test_backoff_is_exponential_full_jitter_and_capped() -> None:
    top = RetryPolicy(jitter=lambda: 0.999999)
    assert [round(top.backoff(n), 3) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(jitter=lambda: 0.0).backoff(3) == 0.0
    real = RetryPolicy()
    waits = [real.backoff(2) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits) and len(set(waits)) > 100  # jittered, not fixed


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_retries_must_be_a_whole_number(bad: Any) -> None:
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy(retries=bad)


def test_only_retryable_errors_are_retried() -> None:
    p = RetryPolicy(jitter=lambda: 0.5)
    assert p.wait_before(E.InvalidRequestError("bad"), 0, 0.0) is None
    assert p.wait_before(E.ContextWindowExceededError("long"), 0, 0.0) is None
    assert p.wait_before(E.AuthenticationError("key"), 0, 0.0) is None
    assert p.wait_before(E.ProviderUnavailableError("500"), 0, 0.0) == 0.25
    assert p.wait_before(E.ProviderUnavailableError("500"), 1, 0.0) == 0.5
    assert p.wait_before(E.ProviderUnavailableError("500"), 2, 0.0) is None  # out of retries
    assert p.wait_before(ValueError("not ours"), 0, 0.0) is None


def test_a_servers_wait_is_honoured_up_to_max_wait() -> None:
    p = RetryPolicy(max_wait=10)
    assert p.wait_before(E.RateLimitError("429", retry_after=3), 0, 0.0) == 3.0
    assert p.wait_before(E.ProviderUnavailableError("503", retry_after=0.2), 0, 0.0) == 0.2
    assert p.wait_before(E.RateLimitError("429", retry_after=10.5), 0, 0.0) is None  # raised at once


def test_max_time_bounds_the_whole_call() -> None:
    p = RetryPolicy(max_time=5)
    assert p.wait_before(E.RateLimitError("429", retry_after=2), 0, 2.5) == 2.0
    assert p.wait_before(E.RateLimitError("429", retry_after=2), 0, 3.5) is None


def test_retry_on_timeout_off_skips_only_unknown_outcomes() -> None:
    read_timeout = E.ProviderTimeoutError("no answer")
    refused = E.ProviderConnectionError("cannot connect")
    assert read_timeout.outcome_unknown and not refused.outcome_unknown
    assert is_retryable(read_timeout) and is_retryable(refused)
    assert not is_retryable(read_timeout, retry_on_timeout=False)
    assert is_retryable(refused, retry_on_timeout=False)


async def test_run_retries_then_returns_and_injected_clock_bounds_time() -> None:
    sleeps = Sleeps()
    now = [0.0]
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        now[0] += 4.0  # each attempt "takes" four seconds
        if len(calls) < 3:
            raise E.ProviderUnavailableError("503")
        return "ok"

    assert await policy(sleeps, retries=5).run(flaky) == "ok"
    assert len(calls) == 3 and sleeps == [0.25, 0.5]
    calls.clear()
    with pytest.raises(E.ProviderUnavailableError):
        await RetryPolicy(retries=5, max_time=6, sleep=sleeps, clock=lambda: now[0], jitter=lambda: 0.5).run(flaky)
    assert len(calls) == 2  # the third attempt would start past max_time


async def test_run_after_goes_on_as_run_would_from_a_first_failure() -> None:
    """``complete`` makes the first attempt itself and hands a failure to ``run_after``: the same
    waits, the same retry count, the same ``max_time`` bound, and the first error raised as it is
    when it is not retryable."""
    sleeps = Sleeps()
    now = [0.0]
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        now[0] += 4.0
        if len(calls) < 3:
            raise E.ProviderUnavailableError("503")
        return "ok"

    calls.append(1)  # the caller's first attempt, which failed
    first = E.ProviderUnavailableError("503")
    assert await policy(sleeps, retries=5).run_after(first, 0.0, flaky) == "ok"
    assert len(calls) == 3 and sleeps == [0.25, 0.5]
    refused = E.InvalidRequestError("400")
    with pytest.raises(E.InvalidRequestError) as info:
        await policy(Sleeps()).run_after(refused, 0.0, flaky)
    assert info.value is refused
    calls[:] = [1]
    now[0] = 4.0
    bounded = RetryPolicy(retries=5, max_time=6, sleep=Sleeps(), clock=lambda: now[0], jitter=lambda: 0.5)
    with pytest.raises(E.ProviderUnavailableError):
        await bounded.run_after(E.ProviderUnavailableError("503"), 0.0, flaky)
    assert len(calls) == 2  # as ``run``: the third attempt would start past max_time


async def test_real_backoff_waits_briefly() -> None:
    calls: list[float] = []

    async def failing() -> None:
        calls.append(time.perf_counter())
        raise E.ProviderConnectionError("refused")

    with pytest.raises(E.ProviderConnectionError):
        await RetryPolicy(retries=2, initial_backoff=0.02, max_backoff=0.02, jitter=lambda: 1.0).run(failing)
    assert len(calls) == 3
    assert calls[2] - calls[0] >= 0.035


# --- through a provider, against the fake ------------------------------------------------------

EXPECTED_WAIT = {"seconds": 3.0, "ms": 1.5, "reset-requests": 90.5, "reset-tokens": 360.0}


@pytest.mark.parametrize("form", openai_server.RATE_LIMIT_FORMS)
async def test_each_retry_after_form_is_waited_exactly(openai_fake: tuple[FakeOpenAI, str], form: str) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps, retries=1, max_wait=400))
    model = f"gpt-ratelimit-{form}"
    with pytest.raises(E.RateLimitError):
        await p.complete("hi", model=model)
    assert sent(openai_fake, model) == 2
    if form == "http-date":  # a date 30 s ahead, at one-second resolution, read a moment later
        assert len(sleeps) == 1 and openai_server.HTTP_DATE_AHEAD - 2 <= sleeps[0] <= openai_server.HTTP_DATE_AHEAD
    else:
        assert sleeps == [EXPECTED_WAIT[form]]


@pytest.mark.parametrize("form", ["reset-requests", "reset-tokens"])
async def test_a_wait_over_max_wait_is_raised_at_once(openai_fake: tuple[FakeOpenAI, str], form: str) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps, max_wait=60))
    with pytest.raises(E.RateLimitError) as info:
        await p.complete("hi", model=f"gpt-ratelimit-{form}")
    assert sleeps == [] and sent(openai_fake, f"gpt-ratelimit-{form}") == 1
    assert info.value.retry_after == EXPECTED_WAIT[form]  # the caller still learns how long


@pytest.mark.parametrize("status", [429, 500, 503, 529])
async def test_a_transient_failure_is_retried_then_succeeds(openai_fake: tuple[FakeOpenAI, str], status: int) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    model = f"gpt-flaky-2-{status}"
    resp = await p.complete("hi", model=model)
    assert resp.text == "Hello! How can I help?"
    assert openai_fake[0].flaky_seen[model] == 3
    assert sleeps == ([1.0, 1.0] if status == 429 else [0.25, 0.5])
    assert p.usage.calls == 1 and p.usage.errors == 0  # one call, whatever it took


async def test_retries_end_and_the_last_error_is_raised(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    with pytest.raises(E.ProviderUnavailableError) as info:
        await p.complete("hi", model="gpt-broken")
    assert info.value.status_code == 500
    assert sent(openai_fake, "gpt-broken") == 1 + DEFAULT_RETRIES


@pytest.mark.parametrize("model, error", [("gpt-flaky-1-400", E.InvalidRequestError), ("gpt-missing", E.ModelNotFoundError),
                                          ("gpt-small-ctx", E.ContextWindowExceededError)])
async def test_client_errors_are_never_retried(openai_fake: tuple[FakeOpenAI, str], model: str, error: type[Exception]) -> None:
    sleeps = Sleeps()
    with pytest.raises(error):
        await provider(openai_fake, retries=policy(sleeps)).complete("hi", model=model)
    assert sleeps == [] and sent(openai_fake, model) == 1


async def test_a_wrong_key_is_never_retried(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = OpenAIProvider(base_url=openai_fake[1], api_key="sk-wrong-0000000000", retries=policy(sleeps))
    with pytest.raises(E.AuthenticationError):
        await p.complete("hi", model="gpt-broken")
    assert sleeps == []


async def test_per_call_retries_override_the_providers(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    with pytest.raises(E.ProviderUnavailableError):
        await p.complete("hi", model="gpt-broken", retries=0)
    assert sent(openai_fake, "gpt-broken") == 1
    with pytest.raises(E.ProviderUnavailableError):
        await p.complete("hi", model="gpt-broken", retries=4)
    assert sent(openai_fake, "gpt-broken") == 1 + 5
    assert "retries" not in openai_fake[0].requests[-1]  # never sent as a body field


async def test_retries_zero_turns_it_off(openai_fake: tuple[FakeOpenAI, str]) -> None:
    p = provider(openai_fake, retries=0)
    assert p.retry_policy is None
    with pytest.raises(E.ProviderUnavailableError):
        await p.complete("hi", model="gpt-broken")
    assert sent(openai_fake, "gpt-broken") == 1


async def test_on_by_default(openai_fake: tuple[FakeOpenAI, str]) -> None:
    p = provider(openai_fake, retry_max_wait=5)
    assert p.retry_policy is not None and p.retry_policy.retries == 2 and p.retry_policy.max_wait == 5
    resp = await p.complete("hi", model="gpt-flaky-1-503")  # one real, jittered backoff (<= 0.5 s)
    assert resp.text and openai_fake[0].flaky_seen["gpt-flaky-1-503"] == 2


async def test_the_call_deadline_bounds_the_retries(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    with pytest.raises(E.RateLimitError):  # asks for 1 s; the call has 0.5 s in all
        await p.complete("hi", model="gpt-flaky-3-429", timeout=0.5)
    assert sleeps == [] and openai_fake[0].flaky_seen["gpt-flaky-3-429"] == 1


@pytest.mark.parametrize("on_timeout, attempts", [(True, 2), (False, 1)])
async def test_retry_on_timeout(openai_fake: tuple[FakeOpenAI, str], on_timeout: bool, attempts: int) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, read_timeout=0.2, retries=policy(sleeps, retries=1, retry_on_timeout=on_timeout))
    with pytest.raises(E.ProviderTimeoutError) as info:
        await p.complete("hi", model="gpt-slow")
    assert info.value.outcome_unknown  # the server may have run it: may bill twice
    assert sent(openai_fake, "gpt-slow") == attempts


async def test_a_refused_connection_is_retried_even_without_retry_on_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    sleeps = Sleeps()
    p = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x-00000000", retries=policy(sleeps, retry_on_timeout=False))
    with pytest.raises(E.ProviderConnectionError) as info:
        await p.complete("hi", model="gpt-test")
    assert not info.value.outcome_unknown and len(sleeps) == 2  # never sent: safe to retry
    await p.aclose()


async def test_a_stream_is_retried_before_its_first_event(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    async with p.stream("hi", model="gpt-flaky-2-500") as stream:
        text = [t async for t in stream.text()]
    assert "".join(text) == "Hello! How can I help?"
    assert openai_fake[0].flaky_seen["gpt-flaky-2-500"] == 3 and sleeps == [0.25, 0.5]


async def test_a_stream_is_never_replayed_after_its_first_event(openai_fake: tuple[FakeOpenAI, str]) -> None:
    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    seen: list[str] = []
    with pytest.raises(E.ProviderConnectionError):
        async with p.stream("hi", model="gpt-cut") as stream:
            async for t in stream.text():
                seen.append(t)
    assert seen == ["Hello", "! How can"]  # what the caller saw, once
    assert sent(openai_fake, "gpt-cut") == 1 and sleeps == []


def test_the_sync_door_retries_too(openai_fake: tuple[FakeOpenAI, str]) -> None:
    from llmswitch._bridge import get_bridge

    sleeps = Sleeps()
    p = provider(openai_fake, retries=policy(sleeps))
    resp = get_bridge().run(p.complete("hi", model="gpt-flaky-1-500"))
    assert resp.text and sleeps == [0.25]


@pytest.fixture
def compat_env(openai_fake: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The generic openai-compatible provider configured only through its env vars."""
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", openai_fake[1])
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", openai_server.VALID_KEY)
    from llmswitch import api

    api.reset_provider_cache()
    yield "openai-compatible"
    api.reset_provider_cache()


async def test_the_module_api_retries_by_default_and_takes_retries(openai_fake: tuple[FakeOpenAI, str], compat_env: str) -> None:
    import llmswitch as ls

    resp = await ls.acomplete(f"{compat_env}:gpt-flaky-1-503", "hi")  # one real backoff, at most 0.5 s
    assert resp.text and openai_fake[0].flaky_seen["gpt-flaky-1-503"] == 2
    with pytest.raises(E.ProviderUnavailableError):
        await ls.acomplete(f"{compat_env}:gpt-flaky-1-500", "hi", retries=0)
    async with ls.astream(f"{compat_env}:gpt-flaky-2-500", "hi", retries=0) as s:
        with pytest.raises(E.ProviderUnavailableError):
            await s.final()
    assert openai_fake[0].flaky_seen["gpt-flaky-1-500"] == 1 and openai_fake[0].flaky_seen["gpt-flaky-2-500"] == 1
