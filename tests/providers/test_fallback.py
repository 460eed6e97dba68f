"""``FallbackProvider`` (``llmswitch.providers.fallback``): a chain usable wherever a provider is —
the module API with a list of references, an agent's name, the registry, pydantic-ai — and the
chain's own rules (context windows, capabilities, one deadline), against the OpenAI fake.

Members are OpenAI providers on the fake whose model picks the behaviour (``gpt-broken`` 500s,
``gpt-small-ctx`` answers ``context_length_exceeded``, ``gpt-slow`` waits 2 s); the fake's
``requests`` show which members were really called."""

from __future__ import annotations

import time
from typing import Any

import pytest

import llmswitch as ls
from llmswitch import errors as E
from llmswitch.providers.fallback import FallbackProvider
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.registry import ProviderRegistry, set_default_registry
from llmswitch.resolve import reset_provider_cache, resolve
from llmswitch.types import ProviderCapabilities, ProviderType, Tool
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


def member(fake: tuple[FakeOpenAI, str], name: str, model: str | None = None, **kw: Any) -> OpenAIProvider:
    kw.setdefault("retries", 0)
    return OpenAIProvider(name=name, base_url=fake[1], api_key=openai_server.VALID_KEY, default_model=model, **kw)


def models_sent(fake: tuple[FakeOpenAI, str]) -> list[str]:
    return [r["model"] for r in fake[0].requests]


@pytest.fixture
def registry(openai_fake: tuple[FakeOpenAI, str]) -> Any:
    """A default registry with providers ``down`` (500s), ``up`` and ``small`` (context errors),
    and agents: ``coder`` (down → up), ``solo`` (up alone)."""
    reg = ProviderRegistry({
        "down": member(openai_fake, "down", "gpt-broken"),
        "up": member(openai_fake, "up", "gpt-test"),
        "small": member(openai_fake, "small", "gpt-small-ctx"),
    })
    reg.set_agent("coder", "down", ["up"])
    reg.set_agent("solo", "up")
    set_default_registry(reg)
    reset_provider_cache()
    yield reg
    set_default_registry(None)
    reset_provider_cache()


async def test_a_list_of_references_is_a_chain(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    resp = await ls.acomplete(["down", "up:gpt-test"], "hi")
    assert resp.text == "Hello! How can I help?"
    assert resp.provider == "up" and resp.model.startswith("gpt-test")  # the member that answered (the fake dates its model)
    assert models_sent(openai_fake) == ["gpt-broken", "gpt-test"]


def test_the_sync_api_takes_a_list_too(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    assert ls.complete(["down", "up"], "hi").provider == "up"
    with ls.stream(["down", "up"], "hi") as s:
        assert "".join(s.text()) == "Hello! How can I help?"


def test_the_same_list_resolves_to_the_same_chain(registry: ProviderRegistry) -> None:
    first, model = resolve(["down", "up:gpt-test"])
    again, _ = resolve(["down", "up:gpt-test"])
    other, _ = resolve(["down", "up:gpt-4o"])
    assert isinstance(first, FallbackProvider) and model is None
    assert first is again and other is not first
    assert [(p.name, m) for p, m in first.members] == [("down", None), ("up", "gpt-test")]
    assert first.provider_type is ProviderType.FALLBACK


async def test_an_agent_name_resolves_to_its_chain(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    chain, _ = resolve("coder")
    assert isinstance(chain, FallbackProvider) and chain.name == "coder"
    assert resolve("coder")[0] is chain  # built once per change of the registry
    resp = await ls.acomplete("coder", "hi")
    assert resp.provider == "up"
    solo, model = resolve("solo:gpt-4o")  # an agent without fallbacks is its provider, and takes a model
    assert solo is registry.get("up") and model == "gpt-4o"
    registry.set_agent("coder", "up", ["down"])
    assert resolve("coder")[0] is not chain  # the agent changed: a new chain
    assert (await ls.acomplete("coder", "hi")).provider == "up"


async def test_a_model_for_a_chain_is_refused(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    with pytest.raises(E.ConfigError, match="each member names its own"):
        await ls.acomplete("coder:gpt-4o", "hi")
    assert openai_fake[0].requests == []


async def test_a_stream_from_a_list_fails_over_before_its_first_event(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    async with ls.astream(["down", "up"], "hi") as s:
        text = "".join([t async for t in s.text()])
        final = await s.final()
    assert text == "Hello! How can I help?" and final.provider == "up"


async def test_a_chain_registered_as_a_provider(openai_fake: tuple[FakeOpenAI, str]) -> None:
    down, up = member(openai_fake, "down", "gpt-broken"), member(openai_fake, "up", "gpt-test")
    reg = ProviderRegistry({"down": down, "up": up})
    reg.register("both", FallbackProvider([down, up], name="both"))
    resp = await reg.get("both").complete("hi")
    assert resp.provider == "up"
    total = reg.get_total_usage()
    assert total.calls == 1 and total.errors == 1  # the chain records nothing itself: no call counted twice
    assert reg.get("both").get_usage().calls == 1


# --- context windows ------------------------------------------------------------------------------
async def test_a_member_whose_window_the_prompt_exceeds_is_skipped_unasked(openai_fake: tuple[FakeOpenAI, str]) -> None:
    tiny, big = member(openai_fake, "tiny", "gpt-test"), member(openai_fake, "big", "gpt-test")
    tiny.set_model_capabilities("gpt-test", ProviderCapabilities(context_window=100))
    chain = FallbackProvider([tiny, big])
    resp = await chain.complete("x" * 4000)  # about 1,000 tokens
    assert resp.provider == "big"
    assert len(openai_fake[0].requests) == 1  # tiny was never asked
    short = await chain.complete("hi")  # a prompt that fits goes to the first member
    assert short.provider == "tiny"


async def test_after_a_context_error_no_smaller_window_is_tried(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The first member (window 8k) answers ``context_length_exceeded``; the second (8k too) is
    skipped without a request, the third (128k) answers."""
    first = member(openai_fake, "first", "gpt-small-ctx")
    same = member(openai_fake, "same", "gpt-test")
    large = member(openai_fake, "large", "gpt-test")
    first.set_model_capabilities("gpt-small-ctx", ProviderCapabilities(context_window=8192))
    same.set_model_capabilities("gpt-test", ProviderCapabilities(context_window=8192))
    large.set_model_capabilities("gpt-test", ProviderCapabilities(context_window=128000))
    resp = await FallbackProvider([first, same, large]).complete("hi")
    assert resp.provider == "large"
    assert models_sent(openai_fake) == ["gpt-small-ctx", "gpt-test"]


async def test_skipped_members_are_listed_with_the_reason(openai_fake: tuple[FakeOpenAI, str]) -> None:
    a, b = member(openai_fake, "a", "gpt-test"), member(openai_fake, "b", "gpt-test")
    for p in (a, b):
        p.set_model_capabilities("gpt-test", ProviderCapabilities(context_window=10))
    with pytest.raises(E.AllProvidersFailedError) as info:
        await FallbackProvider([a, b]).complete("y" * 400)
    assert [n for n, _ in info.value.attempts] == ["a", "b"]
    assert all(isinstance(e, E.ContextWindowExceededError) for _, e in info.value.attempts)
    assert "skipped" in str(info.value) and "about 104 tokens" in str(info.value)  # 400 characters / 4, plus 4 for the message
    assert openai_fake[0].requests == []


# --- capabilities and deadlines ---------------------------------------------------------------------
async def test_a_member_that_cannot_take_the_request_passes_it_on(openai_fake: tuple[FakeOpenAI, str]) -> None:
    no_tools = member(openai_fake, "no-tools", "gpt-test")
    no_tools.set_model_capabilities("gpt-test", ProviderCapabilities(tools=False))
    with_tools = member(openai_fake, "tools", "gpt-tools")
    weather = Tool(name="get_weather", description="weather", parameters={"type": "object", "properties": {}})
    chain = FallbackProvider([no_tools, with_tools])
    resp = await chain.complete("weather?", tools=[weather])
    assert resp.provider == "tools" and resp.tool_calls
    assert models_sent(openai_fake) == ["gpt-tools"]  # the first refused before sending
    assert chain.capabilities.tools is True  # someone in the chain takes tools


async def test_timeout_bounds_the_whole_chain(openai_fake: tuple[FakeOpenAI, str]) -> None:
    slow1, slow2 = member(openai_fake, "slow1", "gpt-slow"), member(openai_fake, "slow2", "gpt-slow")
    started = time.monotonic()
    with pytest.raises(E.AllProvidersFailedError) as info:
        await FallbackProvider([slow1, slow2]).complete("hi", timeout=1.0)
    took = time.monotonic() - started
    assert took < 1.9  # not 1 s per member
    assert all(isinstance(e, E.ProviderTimeoutError) for _, e in info.value.attempts)


async def test_health_is_the_first_healthy_member(openai_fake: tuple[FakeOpenAI, str]) -> None:
    gone = OpenAIProvider(name="gone", base_url="http://127.0.0.1:9/v1", api_key="k", default_model="gpt-test",
                          health_timeout=1)
    up = member(openai_fake, "up", "gpt-test")
    status = await FallbackProvider([gone, up]).health_check()
    assert status.healthy and status.metadata["member"] == "up"
    down = await FallbackProvider([gone]).health_check()
    assert not down.healthy and down.error and down.error.startswith("gone:")


def test_members_must_be_providers() -> None:
    with pytest.raises(TypeError, match="providers or \\(provider, model\\) pairs"):
        FallbackProvider(["openai:gpt-4o"])  # type: ignore[list-item]
    with pytest.raises(E.ConfigError, match="at least one member"):
        FallbackProvider([])


def test_pydantic_ai_gets_a_fallback_model(openai_fake: tuple[FakeOpenAI, str]) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai.models.fallback import FallbackModel

    chain = FallbackProvider([member(openai_fake, "a", "gpt-broken"), member(openai_fake, "b", "gpt-test")])
    model = chain.create_model()
    assert isinstance(model, FallbackModel)
    assert [m.model_name for m in model.models] == ["gpt-broken", "gpt-test"]


async def test_an_agents_budget_holds_on_every_path(registry: ProviderRegistry, openai_fake: tuple[FakeOpenAI, str]) -> None:
    """An agent's budget applies whether it is called by name through the module API, through
    the registry, or streamed — and for an agent without fallbacks too."""
    registry.set_agent("capped", "up", budget={"tokens": 50, "per": "day"})
    registry.set_agent("capped-chain", "down", ["up"], budget={"tokens": 50, "per": "day"})
    with pytest.raises(E.BudgetExceededError):
        await ls.acomplete("capped", "x" * 400, max_tokens=10)  # ~100 prompt tokens: over 50
    with pytest.raises(E.BudgetExceededError):
        await registry.acomplete_for_agent("capped", "x" * 400, max_tokens=10)
    for call in (ls.acomplete("capped-chain", "x" * 400, max_tokens=10),
                 registry.acomplete_for_agent("capped-chain", "x" * 400, max_tokens=10)):
        with pytest.raises(E.BudgetExceededError, match="agent:capped-chain"):  # binds every member: no failover
            await call
    assert openai_fake[0].requests == []  # refused before anything was sent
    assert (await ls.acomplete("capped", "hi", max_tokens=10)).provider == "up"  # a small call fits


async def test_a_spent_provider_budget_fails_over(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """A provider whose own budget is spent passes the call to the next member (a local model,
    another account) without sending anything."""
    capped = member(openai_fake, "capped", "gpt-broken", budget={"tokens": 10, "per": "day"})
    resp = await FallbackProvider([capped, member(openai_fake, "spare", "gpt-test")]).complete("x" * 400, max_tokens=10)
    assert resp.provider == "spare" and models_sent(openai_fake) == ["gpt-test"]


def test_a_list_with_auto_among_its_members_is_auto() -> None:
    from llmswitch.resolve import is_auto

    assert is_auto(["openai:gpt-4o", "auto"]) and is_auto(("auto:llama",))
    assert not is_auto(["openai:gpt-4o", "ollama:llama3.2"]) and not is_auto([])


async def test_aresolve_takes_a_list_too(registry: ProviderRegistry) -> None:
    from llmswitch.resolve import aresolve

    chain, model = await aresolve(["down", "up:gpt-test"])
    assert isinstance(chain, FallbackProvider) and model is None
    assert [(p.name, m) for p, m in chain.members] == [("down", None), ("up", "gpt-test")]
    assert (await aresolve(["down", "up:gpt-test"]))[0] is chain


def test_many_different_lists_keep_the_chain_cache_bounded(registry: ProviderRegistry) -> None:
    first = resolve(["down", "up:m0"])[0]
    for i in range(1, 300):
        resolve(["down", f"up:m{i}"])
    assert resolve(["down", "up:m299"])[0] is resolve(["down", "up:m299"])[0]  # still cached after the flush
    assert resolve(["down", "up:m0"])[0] is not first  # the oldest went with the flush
