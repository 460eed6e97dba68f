"""LlamaCppClient against the real llama-server: health, props, slots, metrics, models."""

from __future__ import annotations

import math

import pytest

from llmswitch.errors import ProviderConnectionError
from llmswitch.management.llamacpp import LlamaCppClient, parse_prometheus, server_root
from llmswitch.providers.llamacpp import LlamaCppProvider
from tests.fixtures.llama_server import CTX, TEST_ALIAS, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(runtime_env):
    c = LlamaCppClient(runtime_env.url)  # the /v1 URL is accepted and trimmed to the root
    yield c
    await c.aclose()


async def test_health_and_running(client, runtime_env) -> None:
    assert client.base_url == runtime_env.root
    assert await client.health_check() == {"status": "ok"}
    assert await client.is_running() is True
    assert await client.is_model_loaded() is True


async def test_props(client) -> None:
    props = await client.get_props()
    assert props["model_alias"] == TEST_ALIAS
    assert props["default_generation_settings"]["n_ctx"] == CTX
    assert props["total_slots"] == 1
    assert props["endpoint_metrics"] is True and props["endpoint_slots"] is True
    assert props["model_path"].endswith(".gguf")


async def test_slots(client) -> None:
    slots = await client.get_slots()
    assert len(slots) == 1
    assert slots[0]["id"] == 0 and slots[0]["n_ctx"] == CTX
    assert isinstance(slots[0]["is_processing"], bool)


async def test_metrics_parsed_and_counting(client, runtime_env) -> None:
    before = await client.get_metrics()
    assert all(isinstance(v, float) for v in before.values())
    for name in ("llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total", "llamacpp:requests_processing"):
        assert name in before, sorted(before)
    p = LlamaCppProvider(base_url=runtime_env.url)
    try:
        r = await p.complete("Metrics", max_tokens=3, temperature=0)
    finally:
        await p.aclose()
    after = await client.get_metrics()
    grown = after["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"]
    assert grown == r.usage.output_tokens > 0


async def test_list_models(client) -> None:
    models = await client.list_models()
    assert [m.id for m in models] == [TEST_ALIAS]
    assert models[0].loaded is True and models[0].context_length == CTX


async def test_nothing_listening() -> None:
    c = LlamaCppClient(f"http://127.0.0.1:{free_port()}", timeout=3)
    try:
        assert await c.is_running() is False
        assert await c.is_model_loaded() is False
        with pytest.raises(ProviderConnectionError):
            await c.health_check()
    finally:
        await c.aclose()


def test_parse_prometheus_text() -> None:
    text = (
        "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n"
        "# TYPE llamacpp:prompt_tokens_total counter\n"
        "llamacpp:prompt_tokens_total 25\n"
        "\n"
        "llamacpp:prompt_seconds_total 0.582901 1700000000000\n"
        'http_requests_total{method="post",code="200"} 1027\n'
        "llamacpp:predicted_tokens_seconds NaN\n"
        "llamacpp:broken notanumber\n"
    )
    m = parse_prometheus(text)
    assert m["llamacpp:prompt_tokens_total"] == 25.0
    assert m["llamacpp:prompt_seconds_total"] == 0.582901
    assert m['http_requests_total{method="post",code="200"}'] == 1027.0
    assert math.isnan(m["llamacpp:predicted_tokens_seconds"])
    assert "llamacpp:broken" not in m and len(m) == 4


def test_server_root() -> None:
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
