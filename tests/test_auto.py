"""auto: concurrent probes, fixed preference order, cloud keys, a useful error, bounded time."""

from __future__ import annotations

import time

import pytest

from llmswitch.auto import explain_choice, resolve_auto
from llmswitch.config import parse_config
from llmswitch.errors import ConfigError
from llmswitch.registry import ProviderRegistry

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py

EMPTY = ProviderRegistry()


async def test_first_healthy_in_preference_order(fake_server, refused_url):
    lm = await fake_server(models=["lm-model"])
    vl = await fake_server(models=["vllm-model"])
    endpoints = [("lmstudio", lm.base_url), ("vllm", vl.base_url)]
    provider, model = await resolve_auto(registry=EMPTY, local_endpoints=endpoints, refresh=True)
    assert provider.provider_type.value == "lmstudio" and provider.base_url == lm.base_url and model == "lm-model"
    # LM Studio down: the next one in order
    endpoints = [("lmstudio", refused_url), ("vllm", vl.base_url)]
    provider, model = await resolve_auto(registry=EMPTY, local_endpoints=endpoints, refresh=True)
    assert provider.provider_type.value == "vllm" and model == "vllm-model"
    note = explain_choice()
    assert note and "vllm" in note and refused_url in note
    # the choice is remembered for the process: a later call does not probe again
    vl.server.stop()
    again, model2 = await resolve_auto("explicit-model", registry=EMPTY, local_endpoints=[("lmstudio", lm.base_url)])
    assert again is provider and model2 == "explicit-model"
    await provider.aclose()


async def test_configured_provider_wins_over_local_defaults(fake_server):
    local = await fake_server(models=["default-port-model"])
    configured = await fake_server(models=["configured-model"])
    reg = ProviderRegistry.from_config(
        parse_config(f"providers:\n  mybox: {{type: openai-compatible, base_url: '{configured.base_url}'}}\n"),
        enable_log=False,
    )
    provider, model = await resolve_auto(registry=reg, local_endpoints=[("lmstudio", local.base_url)], refresh=True)
    assert provider is reg.get("mybox") and model == "configured-model"
    await reg.aclose()


async def test_server_without_models_is_skipped(fake_server):
    empty = await fake_server(models=[])
    full = await fake_server(models=["x"])
    provider, model = await resolve_auto(
        registry=EMPTY, local_endpoints=[("lmstudio", empty.base_url), ("vllm", full.base_url)], refresh=True
    )
    assert provider.base_url == full.base_url and model == "x"
    await provider.aclose()


async def test_endpoints_from_environment(fake_server, monkeypatch):
    vl = await fake_server(models=["env-model"])
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", f"vllm={vl.base_url}")
    provider, model = await resolve_auto(registry=EMPTY, refresh=True)
    assert provider.base_url == vl.base_url and model == "env-model"
    await provider.aclose()


async def test_nothing_found_lists_what_was_tried(refused_url):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        await resolve_auto(registry=EMPTY, local_endpoints=[("lmstudio", refused_url), ("vllm", refused_url + "x")],
                           refresh=True)
    elapsed = time.perf_counter() - started
    msg = str(info.value)
    assert refused_url in msg and "LM Studio" in msg  # each entry says how to fix it
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        assert env in msg
    assert "LLMSWITCH_NO_LOCAL_RUNTIME" in msg
    assert elapsed < 1.0  # refused ports cost milliseconds
    assert explain_choice() is None


async def test_cloud_key_when_nothing_local(refused_url, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value-1234")
    provider, model = await resolve_auto(registry=EMPTY, local_endpoints=[("lmstudio", refused_url)], refresh=True)
    assert provider.provider_type.value == "openai" and model == "gpt-4o-mini"
    assert "OPENAI_API_KEY" in (explain_choice() or "")
    assert "sk-test-secret" not in (explain_choice() or "") and "sk-test-secret" not in repr(provider)


async def test_key_stored_with_keys_set_is_seen_by_auto(refused_url, monkeypatch, memory_keyring):
    """`llmswitch keys set anthropic` with no env var: auto uses the stored key (it read env only)."""
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    memory_keyring.set_password("llmswitch", "anthropic", "sk-ant-stored-in-keyring-42")
    provider, model = await resolve_auto(registry=EMPTY, local_endpoints=[("lmstudio", refused_url)], refresh=True)
    assert provider.provider_type.value == "anthropic"
    assert provider.api_key.get_secret_value() == "sk-ant-stored-in-keyring-42"
    assert "keys set anthropic" in (explain_choice() or "")
    assert "stored-in-keyring" not in (explain_choice() or "")


async def test_black_hole_costs_at_most_the_probe_timeout(blackhole_url, fake_server):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        await resolve_auto(registry=EMPTY, local_endpoints=[("lmstudio", blackhole_url)], probe_timeout=0.4, refresh=True)
    elapsed = time.perf_counter() - started
    assert 0.35 <= elapsed < 0.9, elapsed
    assert "0.4s" in str(info.value) or "timed out" in str(info.value)
    # a healthy endpoint preferred to the black hole answers without waiting for it
    good = await fake_server(models=["quick"])
    started = time.perf_counter()
    provider, _ = await resolve_auto(
        registry=EMPTY, local_endpoints=[("lmstudio", good.base_url), ("vllm", blackhole_url)], probe_timeout=5, refresh=True
    )
    assert provider.base_url == good.base_url and time.perf_counter() - started < 1.0
    await provider.aclose()


async def test_an_auto_stream_reads_the_chosen_providers_own_stream(fake_server, monkeypatch):
    """`astream("auto", ...)` probes when first iterated, then reads the chosen provider's event
    source itself: one stream object, one async generator per chunk, not a stream inside a stream."""
    import llmswitch as ls
    from llmswitch.auto import reset_auto

    vl = await fake_server(models=["env-model"])
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", f"vllm={vl.base_url}")
    reset_auto()
    stream = ls.astream("auto", "hi")
    assert explain_choice() is None  # nothing probed before the first read
    async with stream:
        texts = [t async for t in stream.text()]
        final = await stream.final()
    assert final.text and "".join(texts) == final.text and final.model.startswith("env-model")
    assert stream._opener is None and type(stream._source).__name__ == "async_generator"
    assert stream._source.ag_code.co_name != "opener"  # the provider's generator, not a relay
    chosen, _ = await resolve_auto()
    assert chosen.usage.calls == 1  # recorded once, by the provider's own stream
    await chosen.aclose()


async def test_an_auto_stream_closed_unread_probes_nothing(monkeypatch):
    import llmswitch as ls
    from llmswitch.auto import reset_auto

    reset_auto()
    stream = ls.astream("auto", "hi")
    await stream.aclose()
    assert explain_choice() is None
