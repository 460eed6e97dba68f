"""usage.pricing: which prices genai-prices is asked for, and when a call is unpriced (None, never $0).

The expected figures come from genai-prices itself, asked directly with the provider id and
model the mapping should produce, so these pin our mapping and conventions, not today's prices.
"""

from __future__ import annotations

import pytest

from llmswitch.providers import create_provider
from llmswitch.types import Usage
from llmswitch.usage.pricing import GENAI_PROVIDER_IDS, price_usage

genai_prices = pytest.importorskip("genai_prices")


def _theirs(provider_id: str, model: str, **counts: int) -> float:
    return float(genai_prices.calc_price(genai_prices.Usage(**counts), model, provider_id=provider_id).total_price)


@pytest.mark.parametrize(
    "ptype,model,pid,ref",
    [
        ("openai", "gpt-4o", "openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("openrouter", "openai/gpt-4o", "openrouter", "openai/gpt-4o"),
        # LiteLLM names the upstream in the model: the first segment is the provider, the rest the model
        ("litellm", "gemini/gemini-2.0-flash", "google", "gemini-2.0-flash"),
        ("litellm", "groq/llama-3.1-8b-instant", "groq", "llama-3.1-8b-instant"),
        ("litellm", "openrouter/anthropic/claude-sonnet-4", "openrouter", "anthropic/claude-sonnet-4"),
        ("litellm", "anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_price_is_genai_prices_for_the_mapped_provider_and_model(ptype: str, model: str, pid: str, ref: str) -> None:
    got = price_usage(ptype, model, Usage(input_tokens=1000, output_tokens=100))
    assert got == _theirs(pid, ref, input_tokens=1000, output_tokens=100)
    assert type(got) is float and got > 0


def test_cache_tokens_are_passed_and_priced_at_their_own_rates() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=6_000, cache_write_tokens=2_000)
    got = price_usage("anthropic", "claude-sonnet-4-5", usage)
    want = _theirs("anthropic", "claude-sonnet-4-5", input_tokens=10_000, output_tokens=500, cache_read_tokens=6_000, cache_write_tokens=2_000)
    assert got == want
    reads_only = price_usage("anthropic", "claude-sonnet-4-5", Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=6_000))
    assert reads_only == _theirs("anthropic", "claude-sonnet-4-5", input_tokens=10_000, output_tokens=500, cache_read_tokens=6_000)
    writes_only = price_usage("anthropic", "claude-sonnet-4-5", Usage(input_tokens=10_000, output_tokens=500, cache_write_tokens=2_000))
    assert writes_only == _theirs("anthropic", "claude-sonnet-4-5", input_tokens=10_000, output_tokens=500, cache_write_tokens=2_000)
    assert len({got, reads_only, writes_only}) == 3


def test_reasoning_tokens_are_not_priced_twice() -> None:
    plain = price_usage("openai", "gpt-4o", Usage(input_tokens=100, output_tokens=1000))
    assert price_usage("openai", "gpt-4o", Usage(input_tokens=100, output_tokens=1000, reasoning_tokens=800)) == plain


@pytest.mark.parametrize(
    "ptype,model",
    [
        ("openai-compatible", "gpt-4o"),  # a self-hosted server is not OpenAI
        ("ollama", "gpt-4o"),
        ("vllm", "openai/gpt-4o"),
        ("litellm", "gpt-4o"),  # no upstream named
        ("litellm", "unknown_upstream/gpt-4o"),
        ("litellm", "/gpt-4o"),
        ("openai", "no-such-model-xyz"),
        ("litellm", "openai/no-such-model-xyz"),
        ("openai", ""),
    ],
)
def test_unpriced_is_none_not_zero(ptype: str, model: str) -> None:
    assert price_usage(ptype, model, Usage(input_tokens=100, output_tokens=100)) is None


def test_unreported_usage_is_unpriced() -> None:
    assert price_usage("openai", "gpt-4o", Usage(input_tokens=100, output_tokens=100, known=False)) is None


def test_zero_tokens_of_a_known_model_cost_zero() -> None:
    assert price_usage("openai", "gpt-4o", Usage()) == 0.0


def test_only_cloud_providers_are_mapped() -> None:
    assert GENAI_PROVIDER_IDS == {"openai": "openai", "anthropic": "anthropic", "openrouter": "openrouter"}


# --- prices of whole calls (moved from the registry tests) ---------------------------------------


@pytest.mark.parametrize(
    "ptype,model",
    [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5")],
)
def test_prices_match_genai_prices(ptype, model):
    ours = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000, cache_write_tokens=1_000)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000, cache_write_tokens=1_000),
        model, provider_id=ptype,
    ).total_price
    assert price_usage(ptype, model, ours) == pytest.approx(float(theirs), rel=1e-12)
    plain = price_usage(ptype, model, Usage(input_tokens=12_000, output_tokens=800))
    assert plain > price_usage(ptype, model, ours)  # cache tokens are priced at their own (here lower) rates
    only_input = genai_prices.calc_price(genai_prices.Usage(input_tokens=1000), model, provider_id=ptype).total_price
    assert float(only_input) > 0
    assert price_usage(ptype, model, Usage(input_tokens=1000)) == pytest.approx(float(only_input), rel=1e-12)


def test_unknown_is_none_not_zero():
    assert price_usage("openai", "no-such-model-xyz", Usage(100, 100)) is None
    assert price_usage("openai-compatible", "gpt-4o", Usage(100, 100)) is None  # a self-hosted server is not OpenAI
    assert price_usage("openai", "gpt-4o", Usage(known=False)) is None


@pytest.mark.usefixtures("isolated")
async def test_provider_prices_its_calls(fake_server):
    server = await fake_server(models=["gpt-4o"], usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100})
    p = create_provider("openai", base_url=server.base_url, api_key="sk-test-abcdef123")
    try:
        resp = await p.complete("hi", model="gpt-4o")
    finally:
        await p.aclose()
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=1000, output_tokens=100), "gpt-4o", provider_id="openai")
    assert resp.usage.cost == pytest.approx(float(expected.total_price))
    assert p.usage.cost == pytest.approx(float(expected.total_price))


def test_an_unknown_provider_type_is_not_priced() -> None:
    from llmswitch.types import Usage
    from llmswitch.usage.pricing import price_usage

    assert price_usage("no-such-type", "gpt-4o", Usage(input_tokens=10, output_tokens=5)) is None


def test_genai_ids_are_read_off_the_provider_classes() -> None:
    from llmswitch.usage import pricing

    assert pricing.GENAI_PROVIDER_IDS == {"openai": "openai", "openrouter": "openrouter", "anthropic": "anthropic"}
    with pytest.raises(AttributeError) as info:
        pricing.NO_SUCH_NAME  # noqa: B018 - the module's __getattr__ is what is tested
    assert str(info.value) == "module 'llmswitch.usage.pricing' has no attribute 'NO_SUCH_NAME'"
