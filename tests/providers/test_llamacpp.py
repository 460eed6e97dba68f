"""LlamaCppProvider against the real llama-server: health, model detection, completions, streams."""

from __future__ import annotations

import pytest

import llmswitch as ls
from llmswitch.errors import ContextWindowExceededError
from llmswitch.providers import create_provider
from llmswitch.providers.llamacpp import LlamaCppProvider
from llmswitch.types import ProviderType, TextDelta, UsageEvent
from tests.fixtures.llama_server import CTX, TEST_ALIAS

pytestmark = pytest.mark.integration

PROMPT = "Count: one, two, three,"


@pytest.fixture
async def provider(runtime_env):
    p = LlamaCppProvider(base_url=runtime_env.url)
    yield p
    await p.aclose()


def test_defaults_and_local_runtime_discovery(runtime_env, monkeypatch) -> None:
    p = create_provider("llamacpp")
    assert isinstance(p, LlamaCppProvider)
    assert p.base_url == runtime_env.url  # no base_url, no env: the running local runtime
    assert p.is_local and p.provider_type is ProviderType.LLAMACPP
    monkeypatch.setenv("LLAMACPP_BASE_URL", "http://127.0.0.1:9/v1")
    assert create_provider("llamacpp").base_url == "http://127.0.0.1:9/v1"  # the env var wins
    assert create_provider("llamacpp", base_url="http://h:1/v1/").base_url == "http://h:1/v1"


def test_default_url_without_runtime(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("LLAMACPP_BASE_URL", raising=False)
    assert LlamaCppProvider().base_url == "http://localhost:8080/v1"


async def test_health_ok_with_model_and_props(provider) -> None:
    status = await provider.health_check()
    assert status.connected and status.model_detected and status.healthy, status.error
    assert status.model_id == TEST_ALIAS
    assert status.error is None
    assert status.metadata["status"] == "ok"
    assert status.metadata["n_ctx"] == CTX
    assert status.metadata["total_slots"] == 1
    assert status.latency_ms is not None and status.latency_ms > 0


async def test_list_and_detect_model(provider) -> None:
    models = await provider.list_models()
    assert [m.id for m in models] == [TEST_ALIAS]
    m = models[0]
    assert m.loaded is True
    assert m.context_length == CTX
    assert m.size_bytes and m.size_bytes > 100_000_000
    assert await provider.detect_model() == TEST_ALIAS


async def test_complete_has_timings_usage_and_respects_max_tokens(provider) -> None:
    r = await provider.complete(PROMPT, max_tokens=4, temperature=0)
    assert r.finish_reason == "length"
    assert r.usage.known and r.usage.output_tokens == 4
    assert r.usage.input_tokens > 0
    assert r.usage.cost == 0.0  # local: free, not unknown
    assert r.tokens_per_second is not None and r.tokens_per_second > 0
    assert r.model == TEST_ALIAS and r.provider == "llamacpp"
    assert r.raw["timings"]["predicted_n"] == 4
    assert provider.usage.calls == 1 and provider.usage.output_tokens == 4
    print(f"\nnon-streamed: {r.tokens_per_second:.1f} tokens/s, latency {r.latency:.2f}s")


async def test_stream_deltas_usage_chunk_and_final(provider) -> None:
    texts: list[str] = []
    usage_events: list[UsageEvent] = []
    async with provider.stream(PROMPT, max_tokens=6, temperature=0) as s:
        async for ev in s:
            if isinstance(ev, TextDelta):
                texts.append(ev.text)
            elif isinstance(ev, UsageEvent):
                usage_events.append(ev)
        final = await s.final()
    assert len(usage_events) == 1  # the include_usage chunk
    assert usage_events[0].usage.output_tokens == 6
    assert final.text == "".join(texts) and len(texts) >= 1
    assert final.finish_reason == "length"
    assert final.usage.output_tokens == 6 and final.usage.cost == 0.0
    assert final.tokens_per_second is not None and final.tokens_per_second > 0
    print(f"\nstreamed: {final.tokens_per_second:.1f} tokens/s")


def test_sync_module_api_with_provider_object(runtime_env) -> None:
    p = LlamaCppProvider(base_url=runtime_env.url)
    r = ls.complete(p, "Hello", max_tokens=2, temperature=0, timeout=60)
    assert r.usage.output_tokens <= 2 and r.finish_reason in ("length", "stop")
    assert r.usage.input_tokens > 0


async def test_prompt_longer_than_context_is_a_context_error(provider) -> None:
    long_prompt = "word " * (CTX + 200)
    with pytest.raises(ContextWindowExceededError) as info:
        await provider.complete(long_prompt, max_tokens=1)
    assert info.value.status_code == 400
    assert info.value.provider == "llamacpp"
    assert info.value.limit == CTX and info.value.prompt_tokens > CTX
