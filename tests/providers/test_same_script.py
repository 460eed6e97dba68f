"""One script, four backends: only the provider changes; tool calls and usage come back alike.

Every fake reports the same usage in its own dialect (OpenAI: 12 prompt tokens of which 4
cached; Anthropic: 8 uncached + 4 cache reads), so equal normalised numbers also check the
"input_tokens counts every prompt token" convention.
"""

from __future__ import annotations

import importlib.util

import pytest

import llmswitch as ls
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.providers.openrouter import OpenRouterProvider
from llmswitch.types import ToolCallDelta, Usage, UsageEvent
from tests.fakes import anthropic_server, openrouter_server
from tests.fakes.openai_server import VALID_KEY as OPENAI_KEY

BACKENDS = ["openai-compatible", "anthropic", "openrouter", "litellm"]


def get_weather(city: str, unit: str = "c") -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.fixture
def providers(openai_fake, anthropic_fake, openrouter_fake):
    made = {
        "openai-compatible": OpenAICompatibleProvider(base_url=openai_fake[1], api_key=OPENAI_KEY, default_model="gpt-tools"),
        "anthropic": AnthropicProvider(base_url=anthropic_fake[1], api_key=anthropic_server.VALID_KEY,
                                       default_model="claude-tools"),
        "openrouter": OpenRouterProvider(base_url=openrouter_fake[1], api_key=openrouter_server.VALID_KEY,
                                         default_model="openai/gpt-tools"),
    }
    if importlib.util.find_spec("litellm") is not None:
        from llmswitch.providers.litellm import LiteLLMProvider

        made["litellm"] = LiteLLMProvider(base_url=openai_fake[1], api_key=OPENAI_KEY, default_model="openai/gpt-tools")
    return made


async def script(provider) -> dict:
    """The user's code: a completion and a stream with one tool. Knows nothing of the backend."""
    messages = [ls.Message.system("You are a weather bot."), ls.Message.user("Weather in Paris?")]
    reply = await ls.acomplete(provider, messages, tools=[get_weather], max_tokens=100)
    deltas, usage_events = [], []
    async with ls.astream(provider, messages, tools=[get_weather], max_tokens=100) as s:
        async for ev in s:
            if isinstance(ev, ToolCallDelta):
                deltas.append(ev)
            elif isinstance(ev, UsageEvent):
                usage_events.append(ev)
        final = await s.final()
    await provider.aclose()
    return {"reply": reply, "final": final, "deltas": deltas, "usage_events": usage_events}


def shape(resp) -> dict:
    u = resp.usage
    return {
        "finish": resp.finish_reason,
        "calls": [(c.name, c.arguments, type(c.id), bool(c.id)) for c in resp.tool_calls],
        "usage": (type(u), u.input_tokens, u.output_tokens, u.cache_read_tokens, u.known),
        "cost_type": type(u.cost) in (float, type(None)),
    }


@pytest.mark.parametrize("backend", BACKENDS)
async def test_same_script_same_shape(providers, backend):
    if backend not in providers:
        pytest.skip("litellm is not installed")
    out = await script(providers[backend])
    expected = {
        "finish": "tool_calls",
        "calls": [("get_weather", {"city": "Paris", "unit": "c"}, str, True)],
        "usage": (Usage, 12, 7, 4, True),
        "cost_type": True,
    }
    assert shape(out["reply"]) == expected
    assert shape(out["final"]) == expected
    deltas = out["deltas"]
    assert deltas[0].index == 0 and deltas[0].name == "get_weather" and deltas[0].id
    assert {d.index for d in deltas} == {0}
    assert "".join(d.arguments for d in deltas) == '{"city": "Paris", "unit": "c"}'
    assert out["usage_events"], "every backend reports usage while streaming"
    if backend == "openrouter":
        assert out["final"].usage.cost == pytest.approx(openrouter_server.COST)
