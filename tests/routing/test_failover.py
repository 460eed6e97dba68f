"""Failover over an agent's chain (``llmswitch.routing.failover``, ``ProviderRegistry.*_for_agent``),
against OpenAI fakes: each member is a provider whose ``default_model`` picks the fake's
behaviour (``gpt-broken``, ``gpt-flaky-<n>-<status>``, ``gpt-small-ctx``, ``gpt-cut``...), and the
fakes' ``requests`` show which members were really called."""

from __future__ import annotations

from typing import Any

import pytest

from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.registry import ProviderRegistry
from llmswitch.routing.failover import should_fail_over
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


def member(fake: tuple[FakeOpenAI, str], name: str, model: str, **kw: Any) -> OpenAIProvider:
    kw.setdefault("retries", 0)
    return OpenAIProvider(name=name, base_url=fake[1], api_key=openai_server.VALID_KEY, default_model=model, **kw)


def registry(*members: OpenAIProvider) -> ProviderRegistry:
    reg = ProviderRegistry({m.name: m for m in members})
    reg.set_agent("coder", members[0].name, [m.name for m in members[1:]])
    return reg


def models_sent(fake: tuple[FakeOpenAI, str]) -> list[str]:
    return [r["model"] for r in fake[0].requests]


def test_which_errors_fail_over() -> None:
    assert should_fail_over(E.ProviderUnavailableError("500"))
    assert should_fail_over(E.RateLimitError("429"))
    assert should_fail_over(E.ProviderTimeoutError("t"))
    assert should_fail_over(E.CircuitOpenError("open"))
    assert should_fail_over(E.ContextWindowExceededError("ctx"))
    assert should_fail_over(E.BudgetExceededError("402 out of credits"))  # another member (a local model) may still answer
    own, shared = E.BudgetExceededError("spent"), E.BudgetExceededError("spent")
    own.budget, shared.budget = "provider:openai", "agent:coder"  # type: ignore[attr-defined]
    assert should_fail_over(own) and not should_fail_over(shared)
    assert should_fail_over(E.CapabilityError("no tools", feature="tools"))  # nothing was sent; a later member may take it
    assert not should_fail_over(E.ContentFilterError("filtered"))
    assert should_fail_over(E.ContentFilterError("filtered"), on_content_filter=True)
    for final in (E.InvalidRequestError("400"), E.AuthenticationError("401"), E.ModelNotFoundError("404"), ValueError("x")):
        assert not should_fail_over(final)


async def test_an_outage_fails_over_and_the_response_names_the_member(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-broken"), member(openai_fake, "backup", "gpt-test"))
    resp = await reg.acomplete_for_agent("coder", "hi")
    assert resp.text == "Hello! How can I help?" and resp.provider == "backup"
    assert models_sent(openai_fake) == ["gpt-broken", "gpt-test"]


async def test_a_scripted_outage_costs_no_failed_call(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The primary answers 500 for its first five calls, then recovers: with a breaker and a
    fallback, every one of ten calls succeeds, and the primary is used again once it is back."""
    clock = [0.0]
    from llmswitch.routing import CircuitBreaker

    primary = member(openai_fake, "primary", "gpt-flaky-5-500",
                     breaker=CircuitBreaker("primary", failure_threshold=2, recovery_timeout=10, clock=lambda: clock[0]))
    reg = registry(primary, member(openai_fake, "backup", "gpt-test"))
    answered = []
    for _ in range(20):  # one call every 3 s
        answered.append((await reg.acomplete_for_agent("coder", "hi")).provider)
        clock[0] += 3
    # t=0, 3: the primary fails twice and its circuit opens; its trials at t=15, 27, 39 meet the
    # rest of the outage (500s three to five) and open it again; the trial at t=51 succeeds
    assert answered == ["backup"] * 17 + ["primary"] * 3
    assert openai_fake[0].flaky_seen["gpt-flaky-5-500"] == 8  # 20 calls cost the failing primary 5 requests


async def test_all_members_failing_lists_every_attempt(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "a", "gpt-broken"), member(openai_fake, "b", "gpt-ratelimit-seconds"),
                   member(openai_fake, "c", "gpt-small-ctx"))
    with pytest.raises(E.AllProvidersFailedError) as info:
        await reg.acomplete_for_agent("coder", "hi")
    names = [n for n, _ in info.value.attempts]
    kinds = [type(e) for _, e in info.value.attempts]
    assert names == ["a", "b", "c"]
    assert kinds == [E.ProviderUnavailableError, E.RateLimitError, E.ContextWindowExceededError]
    assert info.value.retryable  # some attempts were transient
    assert info.value.seconds is not None and len(info.value.seconds) == 3 and all(s >= 0 for s in info.value.seconds)
    assert "  - a (" in str(info.value) and "s): " in str(info.value) and "HTTP 429" in str(info.value)


async def test_a_request_error_is_raised_at_once(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-flaky-1-400"), member(openai_fake, "backup", "gpt-test"))
    with pytest.raises(E.InvalidRequestError):
        await reg.acomplete_for_agent("coder", "hi")
    assert models_sent(openai_fake) == ["gpt-flaky-1-400"]  # the backup was never asked


async def test_a_context_window_error_fails_over(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "small", "gpt-small-ctx"), member(openai_fake, "large", "gpt-test"))
    resp = await reg.acomplete_for_agent("coder", "hi")
    assert resp.provider == "large"


async def test_an_open_circuit_skips_the_member_without_a_request(openai_fake: tuple[FakeOpenAI, str]) -> None:
    primary = member(openai_fake, "primary", "gpt-test", breaker={"failure_threshold": 1, "recovery_timeout": 60})
    assert primary.breaker is not None
    primary.breaker.open()
    reg = registry(primary, member(openai_fake, "backup", "gpt-tools"))
    resp = await reg.acomplete_for_agent("coder", "hi")
    assert resp.provider == "backup" and models_sent(openai_fake) == ["gpt-tools"]


async def test_each_member_retries_before_the_chain_moves_on(openai_fake: tuple[FakeOpenAI, str]) -> None:
    from llmswitch.routing import RetryPolicy

    async def no_wait(_: float) -> None:
        return None

    primary = member(openai_fake, "primary", "gpt-flaky-1-503", retries=RetryPolicy(sleep=no_wait))
    reg = registry(primary, member(openai_fake, "backup", "gpt-test"))
    resp = await reg.acomplete_for_agent("coder", "hi")
    assert resp.provider == "primary" and openai_fake[0].flaky_seen["gpt-flaky-1-503"] == 2


async def test_a_stream_fails_over_before_its_first_event(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-broken"), member(openai_fake, "backup", "gpt-test"))
    async with reg.stream_for_agent("coder", "hi") as stream:
        text = "".join([t async for t in stream.text()])
        final = await stream.final()
    assert text == "Hello! How can I help?" and final.provider == "backup"
    assert models_sent(openai_fake) == ["gpt-broken", "gpt-test"]


async def test_a_stream_cut_after_its_first_event_raises(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-cut"), member(openai_fake, "backup", "gpt-test"))
    seen: list[str] = []
    with pytest.raises(E.ProviderConnectionError):
        async with reg.stream_for_agent("coder", "hi") as stream:
            async for t in stream.text():
                seen.append(t)
    assert seen == ["Hello", "! How can"]
    assert models_sent(openai_fake) == ["gpt-cut"]  # never replayed elsewhere


async def test_a_stream_whose_members_all_fail(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "a", "gpt-broken"), member(openai_fake, "b", "gpt-broken"))
    with pytest.raises(E.AllProvidersFailedError) as info:
        await reg.stream_for_agent("coder", "hi").final()
    assert [n for n, _ in info.value.attempts] == ["a", "b"]
    assert info.value.seconds is not None and len(info.value.seconds) == 2


def test_the_sync_door(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-broken"), member(openai_fake, "backup", "gpt-test"))
    assert reg.complete_for_agent("coder", "hi").provider == "backup"


async def test_model_is_refused_for_a_chain(openai_fake: tuple[FakeOpenAI, str]) -> None:
    reg = registry(member(openai_fake, "primary", "gpt-test"))
    with pytest.raises(TypeError, match="model"):
        await reg.acomplete_for_agent("coder", "hi", model="gpt-test")
