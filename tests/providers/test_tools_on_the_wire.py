"""Tools in the shapes user code has them reach the server as each wire's tool schema."""

from __future__ import annotations

import functools
import json

import pytest

from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from tests.fakes._threaded import ThreadedServer
from tests.fakes.hostile_server import state

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
FORMS = {
    "openai": {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": SCHEMA}},
    "flat": {"name": "get_weather", "description": "Weather now", "parameters": SCHEMA},
    "anthropic": {"name": "get_weather", "description": "Weather now", "input_schema": SCHEMA},
}


def _weather(city: str, unit: str = "c") -> str:
    """Weather now"""
    return f"sunny in {city}"


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_dict_tools_reach_the_openai_wire(hostile: ThreadedServer, form: str) -> None:
    async with OpenAICompatibleProvider(base_url=hostile.url + "/v1") as p:
        await p.complete("weather?", model="ok", tools=[FORMS[form]])
    sent = json.loads(state(hostile).seen[-1][3])
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA, "description": "Weather now"}}]


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_dict_tools_reach_the_anthropic_wire(hostile: ThreadedServer, form: str) -> None:
    async with AnthropicProvider(base_url=hostile.url, api_key="k-test-123456") as p:
        await p.complete("weather?", model="ok", tools=[FORMS[form]])
    sent = json.loads(state(hostile).seen[-1][3])
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather now", "input_schema": SCHEMA}]


async def test_a_partial_is_sent_without_its_bound_argument(hostile: ThreadedServer) -> None:
    async with OpenAICompatibleProvider(base_url=hostile.url + "/v1") as p:
        await p.complete("weather?", model="ok", tools=[functools.partial(_weather, unit="f")])
    fn = json.loads(state(hostile).seen[-1][3])["tools"][0]["function"]
    assert fn["name"] == "_weather" and set(fn["parameters"]["properties"]) == {"city"}


@pytest.mark.parametrize(
    "messages, exc, text",
    [
        (None, TypeError, "messages must be a prompt string, a Message, or a list"),
        ([{"content": "hi"}], ValueError, "message 0 has no 'role'"),
        ([42], TypeError, "message 0 is a int"),
        ([], ValueError, "messages is empty"),
        ({"role": "user", "content": "hi"}, TypeError, "got dict"),
    ],
)
async def test_bad_messages_are_a_clear_error_before_any_request(
    hostile: ThreadedServer, messages: object, exc: type[Exception], text: str
) -> None:
    async with OpenAICompatibleProvider(base_url=hostile.url + "/v1") as p:
        with pytest.raises(exc, match=text):
            await p.complete(messages, model="ok")  # type: ignore[arg-type]
        with pytest.raises(exc, match=text):
            p.stream(messages, model="ok")  # type: ignore[arg-type]
    assert state(hostile).seen == []
