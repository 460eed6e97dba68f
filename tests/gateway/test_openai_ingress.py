"""The official ``openai`` SDK against ``llmswitch serve``: plain, streamed, tools, images, and
its own error classes, with an OpenAI and an Anthropic backend behind the gateway."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes import anthropic_server, openai_server

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def test_plain_completion_through_a_model_reference(oai_client: Any, backends: Any) -> None:
    r = oai_client.chat.completions.create(model="oai:gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello! How can I help?"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 12 and r.usage.completion_tokens == 7
    sent = backends.openai.requests[-1]
    assert sent["model"] == "gpt-test" and sent["messages"] == [{"role": "user", "content": "hi"}]


def test_alias_and_provider_name_resolve(oai_client: Any, backends: Any) -> None:
    r = oai_client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello! How can I help?"
    assert backends.openai.requests[-1]["model"] == "gpt-test"


def test_stream_with_usage(oai_client: Any) -> None:
    stream = oai_client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}], stream=True,
                                                stream_options={"include_usage": True})
    text, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(text) == "Hello! How can I help?"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens == 19


def test_tools_plain_and_streamed(oai_client: Any, backends: Any) -> None:
    r = oai_client.chat.completions.create(model="oai:gpt-tools", messages=[{"role": "user", "content": "weather?"}],
                                           tools=TOOLS, tool_choice="auto")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris", "unit": "c"}
    sent = backends.openai.requests[-1]
    assert sent["tools"][0]["function"]["name"] == "get_weather" and sent["tool_choice"] == "auto"

    with oai_client.chat.completions.stream(model="oai:gpt-tools", messages=[{"role": "user", "content": "weather?"}],
                                            tools=TOOLS) as s:
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert len(calls) == 1 and calls[0].id == "call_abc123"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "c"}


def test_tool_result_round_trip(oai_client: Any, backends: Any) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    r = oai_client.chat.completions.create(model="oai:gpt-agent", messages=messages, tools=TOOLS)
    assert r.choices[0].message.content == "Tool said: sunny"
    sent = backends.openai.requests[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}' and sent[2]["tool_call_id"] == "call_1"


def test_image_reaches_the_backend(oai_client: Any, backends: Any) -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    oai_client.chat.completions.create(model="fast", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]}])
    parts = backends.openai.requests[-1]["messages"][0]["content"]
    assert parts == [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]


def test_openai_client_reaches_an_anthropic_backend(oai_client: Any, backends: Any) -> None:
    r = oai_client.chat.completions.create(model="claude-fast", messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], max_tokens=50)
    assert r.choices[0].message.content == "Hello! How can I help?"
    assert r.usage.prompt_tokens == 12 and r.usage.prompt_tokens_details.cached_tokens == 4
    sent = backends.anthropic.requests[-1]
    assert sent["system"] == "be brief" and sent["max_tokens"] == 50 and sent["model"] == "claude-test"

    stream = oai_client.chat.completions.create(model="claude:claude-tools", messages=[{"role": "user", "content": "w?"}],
                                                tools=TOOLS, stream=True)
    args, name, finish = "", None, None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            name = tc.function.name or name
            args += tc.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert name == "get_weather" and json.loads(args) == {"city": "Paris", "unit": "c"} and finish == "tool_calls"
    assert backends.anthropic.requests[-1]["tools"][0]["input_schema"]["required"] == ["city"]


def test_openai_only_field_to_an_anthropic_backend_is_a_400(oai_client: Any, backends: Any) -> None:
    before = len(backends.anthropic.requests)
    with pytest.raises(openai.BadRequestError) as err:
        oai_client.chat.completions.create(model="claude-fast", messages=[{"role": "user", "content": "hi"}], seed=7)
    assert "seed" in err.value.message and "anthropic" in err.value.message
    assert len(backends.anthropic.requests) == before  # refused before anything was sent
    # the same field to an OpenAI backend passes through unchanged
    oai_client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}], seed=7)
    assert backends.openai.requests[-1]["seed"] == 7


def test_models_lists_what_the_key_may_use(gateway: Any) -> None:
    import openai as sdk

    alice = sdk.OpenAI(base_url=gateway.url + "/v1", api_key="gw-alice-key-0123456789", max_retries=0)
    bob = sdk.OpenAI(base_url=gateway.url + "/v1", api_key="gw-bob-key-9876543210", max_retries=0)
    assert {m.id for m in alice.models.list()} >= {"fast", "claude-fast", "chain", "oai", "claude"}
    assert [m.id for m in bob.models.list()] == ["fast"]


def test_fallback_chain_answers_from_the_second_member(oai_client: Any, backends: Any) -> None:
    r = oai_client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert r.choices[0].message.content == "Hello! How can I help?"
    assert backends.openai.requests[-1]["model"] == "gpt-broken" and backends.anthropic.requests[-1]["model"] == "claude-test"


def test_anthropic_fake_key_never_reaches_the_caller(oai_client: Any) -> None:
    r = oai_client.chat.completions.with_raw_response.create(model="claude-fast", messages=[{"role": "user", "content": "x"}])
    assert anthropic_server.VALID_KEY not in r.http_response.text


def test_a_bare_provider_type_reference_uses_the_env_key(backends: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``openai-compatible:MODEL`` names no configured provider: the resolver builds one from the
    environment (its key and base URL stay on the gateway's side)."""
    from tests.gateway.conftest import ALICE, gateway_config, start_gateway

    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", backends.openai.base_url)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", openai_server.VALID_KEY)
    gw = start_gateway(gateway_config(backends))
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=ALICE, max_retries=0)
        r = client.chat.completions.create(model="openai-compatible:gpt-test", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "Hello! How can I help?"
        assert backends.openai.headers[-1]["Authorization"] == f"Bearer {openai_server.VALID_KEY}"
    finally:
        gw.stop()
