"""OpenRouterProvider against the fake OpenRouter API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmswitch import errors as E
from llmswitch.providers.openrouter import OpenRouterProvider
from llmswitch.types import TextDelta
from tests.fakes.openrouter_server import COST, KEY_DATA, VALID_KEY


@pytest.fixture
async def router(openrouter_fake):
    _, url = openrouter_fake
    p = OpenRouterProvider(base_url=url, api_key=VALID_KEY, http_referer="https://myapp.example", x_title="My App")
    yield p
    await p.aclose()


async def test_attribution_headers_and_reported_cost(openrouter_fake, router):
    fake, _ = openrouter_fake
    resp = await router.complete("Hi", model="openai/gpt-test")
    assert resp.text == "Hello! How can I help?"
    assert resp.usage.cost == pytest.approx(COST)
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.cache_read_tokens) == (12, 7, 4)
    h = fake.headers[-1]
    assert h["HTTP-Referer"] == "https://myapp.example"
    assert h["X-Title"] == "My App" and h["X-OpenRouter-Title"] == "My App"
    assert h["Authorization"] == f"Bearer {VALID_KEY}"
    assert router.usage.cost == pytest.approx(COST)


async def test_stream_cost_from_final_usage_chunk(openrouter_fake, router):
    fake, _ = openrouter_fake
    async with router.stream("Hi", model="openai/gpt-test") as s:
        text = [ev.text async for ev in s if isinstance(ev, TextDelta)]
        final = await s.final()
    assert text == ["Hello", "! How can", " I help?"]  # ": OPENROUTER PROCESSING" comments skipped
    assert final.usage.cost == pytest.approx(COST)
    assert final.usage.input_tokens == 12
    assert "stream_options" not in fake.requests[-1]  # deprecated on OpenRouter; usage always comes
    assert router.usage.cost == pytest.approx(COST)


async def test_byok_cost_adds_upstream(router):
    resp = await router.complete("Hi", model="openai/gpt-byok")
    assert resp.usage.cost == pytest.approx(0.00001 + 0.0002)
    async with router.stream("Hi", model="openai/gpt-byok") as s:
        final = await s.final()
    assert final.usage.cost == pytest.approx(0.00001 + 0.0002)


async def test_error_chunk_mid_stream_raises(router):
    seen = []
    with pytest.raises(E.ProviderUnavailableError) as info:
        async with router.stream("Hi", model="openai/gpt-error-stream") as s:
            async for ev in s:
                seen.append(ev)
    assert info.value.status_code == 502 and info.value.retryable
    assert "Provider returned error" in str(info.value)
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["Hel"]


async def test_error_in_200_body_raises(router):
    with pytest.raises(E.ProviderUnavailableError) as info:
        await router.complete("Hi", model="openai/gpt-error-body")
    assert info.value.status_code == 502 and info.value.retryable
    assert "] Provider returned error — " in str(info.value)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_unknown_model_is_model_not_found(router, streamed):
    """§6.6: an unknown model is a 400 whose ``error.availability.code`` is ``model_not_found``."""
    with pytest.raises(E.ModelNotFoundError) as info:
        if streamed:
            async with router.stream("Hi", model="nobody/nothing") as s:
                await s.final()
        else:
            await router.complete("Hi", model="nobody/nothing")
    assert info.value.status_code == 400
    assert info.value.retryable is False
    assert "] nobody/nothing is not a valid model ID — " in str(info.value)
    assert info.value.details["error"]["availability"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    "model, cls, status, retryable, retry_after",
    [
        ("openai/gpt-capacity_exhausted", E.RateLimitError, 429, True, 12.0),
        ("openai/gpt-temporarily_unavailable", E.ProviderUnavailableError, 503, True, 5.0),
        # no endpoint serves the model: the model is not usable here (not "check the base URL")
        ("openai/gpt-no_endpoints", E.ModelNotFoundError, 404, False, None),
    ],
)
async def test_availability_errors(router, model, cls, status, retryable, retry_after):
    with pytest.raises(cls) as info:
        await router.complete("Hi", model=model)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.retryable is retryable
    assert getattr(err, "retry_after", None) == retry_after
    assert err.details["error"]["availability"]["code"] == model.removeprefix("openai/gpt-")


async def test_insufficient_credits_is_budget_exceeded(router):
    with pytest.raises(E.BudgetExceededError) as info:
        await router.complete("Hi", model="openai/gpt-no-credits")
    assert info.value.status_code == 402
    assert info.value.retryable is False  # §6.6: a 402 "is not a wait-and-retry case"
    assert "] Insufficient credits. Add more using https://openrouter.ai/credits — " in str(info.value)


async def test_moderation_403_is_a_content_filter(router):
    """§6.6: moderation errors are 403 with ``metadata.reasons``/``flagged_input``; the key is fine."""
    with pytest.raises(E.ContentFilterError) as info:
        await router.complete("Hi", model="openai/gpt-moderated")
    assert info.value.status_code == 403
    assert "check the API key" not in str(info.value)


async def test_models_with_prices_and_context(router):
    models = {m.id: m for m in await router.list_models()}
    gpt = models["openai/gpt-test"]
    assert gpt.input_price_per_token == pytest.approx(2.5e-6)
    assert gpt.output_price_per_token == pytest.approx(1e-5)
    assert gpt.context_length == 128000 and gpt.name == "OpenAI: GPT Test"
    assert models["meta-llama/llama-free:free"].input_price_per_token == 0.0  # free is 0, not unknown
    assert models["openrouter/auto"].input_price_per_token is None  # "-1" = varies = unknown


async def test_health_reports_key_credit(openrouter_fake):
    _, url = openrouter_fake
    async with OpenRouterProvider(base_url=url, api_key=VALID_KEY, default_model="openai/gpt-test") as p:
        h = await p.health_check()
    assert h.healthy
    assert h.metadata["key"]["limit"] == KEY_DATA["limit"]
    assert h.metadata["key"]["limit_remaining"] == KEY_DATA["limit_remaining"]
    assert h.metadata["key"]["usage"] == KEY_DATA["usage"]


async def test_bad_key_unhealthy_and_never_shown(openrouter_fake):
    _, url = openrouter_fake
    secret = "sk-or-v1-wrongwrongwrong999"
    async with OpenRouterProvider(base_url=url, api_key=secret, default_model="openai/gpt-test") as p:
        h = await p.health_check()  # /models is public, so only /key can tell
        assert not h.healthy and not h.connected
        with pytest.raises(E.AuthenticationError) as info:
            await p.complete("Hi")
        assert info.value.status_code == 401
        assert "] No auth credentials found — " in str(info.value)
        assert secret not in str(info.value) and secret not in repr(p) and secret not in (h.error or "")


async def test_missing_key_header_is_401(openrouter_fake):
    """The documented 401 body (§6.6 OpenAPI example) when no key reaches the server: a
    compatible provider with no key configured sends no Authorization header."""
    from llmswitch.providers.openai_compat import OpenAICompatibleProvider

    fake, url = openrouter_fake
    async with OpenAICompatibleProvider(base_url=url) as p:
        with pytest.raises(E.AuthenticationError) as info:
            await p.complete("Hi", model="openai/gpt-test")
    assert "Authorization" not in fake.headers[-1]
    assert info.value.status_code == 401
    assert "] Missing Authentication header — " in str(info.value)


def test_cli_models_shows_prices(openrouter_fake, monkeypatch):
    from llmswitch.cli import app

    _, url = openrouter_fake
    monkeypatch.setenv("OPENROUTER_BASE_URL", url)
    monkeypatch.setenv("OPENROUTER_API_KEY", VALID_KEY)
    monkeypatch.setenv("COLUMNS", "200")
    from llmswitch import api

    try:
        result = CliRunner().invoke(app, ["models", "openrouter"])
        as_json = CliRunner().invoke(app, ["models", "openrouter", "--json"])
    finally:
        api.reset_provider_cache()  # the CLI cached a provider bound to this fake's URL
    assert result.exit_code == 0, result.output
    assert "$/M in" in result.output
    line = next(ln for ln in result.output.splitlines() if "openai/gpt-test" in ln)
    assert "$2.50" in line and "$10.00" in line and "128000" in line
    data = json.loads(as_json.output)
    assert data[0]["input_price_per_token"] == pytest.approx(2.5e-6)
