"""The official ``anthropic`` SDK against ``llmswitch serve``: plain, streamed, tools, thinking,
images, with an Anthropic and an OpenAI backend behind the gateway."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

TOOLS = [{"name": "get_weather", "description": "Weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def test_plain_message(ant_client: Any, backends: Any) -> None:
    m = ant_client.messages.create(model="claude-fast", max_tokens=64, system="be brief",
                                   messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == "Hello! How can I help?"
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens == 8 and m.usage.cache_read_input_tokens == 4 and m.usage.output_tokens == 7
    sent = backends.anthropic.requests[-1]
    assert sent["system"] == "be brief" and sent["max_tokens"] == 64


def test_stream_text(ant_client: Any) -> None:
    with ant_client.messages.stream(model="claude-fast", max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello! How can I help?"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7


def test_tools_plain_and_streamed(ant_client: Any, backends: Any) -> None:
    m = ant_client.messages.create(model="claude:claude-tools", max_tokens=64, tools=TOOLS,
                                   tool_choice={"type": "tool", "name": "get_weather"},
                                   messages=[{"role": "user", "content": "weather?"}])
    use = [b for b in m.content if b.type == "tool_use"][0]
    assert m.stop_reason == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris", "unit": "c"}
    assert backends.anthropic.requests[-1]["tool_choice"] == {"type": "tool", "name": "get_weather"}
    with ant_client.messages.stream(model="claude:claude-tools", max_tokens=64, tools=TOOLS,
                                    messages=[{"role": "user", "content": "weather?"}]) as s:
        final = s.get_final_message()
    use = [b for b in final.content if b.type == "tool_use"][0]
    assert use.input == {"city": "Paris", "unit": "c"} and final.stop_reason == "tool_use"


def test_tool_result_round_trip_to_an_openai_backend(ant_client: Any, backends: Any) -> None:
    m = ant_client.messages.create(model="oai:gpt-agent", max_tokens=64, tools=TOOLS, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}]},
    ])
    assert m.content[0].text == "Tool said: sunny"
    sent = backends.openai.requests[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_anthropic_client_reaches_an_openai_backend_streamed(ant_client: Any, backends: Any) -> None:
    with ant_client.messages.stream(model="fast", max_tokens=32, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello! How can I help?"
    assert final.usage.output_tokens == 7
    sent = backends.openai.requests[-1]
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 32

    with ant_client.messages.stream(model="oai:gpt-tools", max_tokens=32, tools=TOOLS,
                                    messages=[{"role": "user", "content": "w?"}]) as s:
        final = s.get_final_message()
    use = [b for b in final.content if b.type == "tool_use"][0]
    assert use.id == "call_abc123" and use.input == {"city": "Paris", "unit": "c"} and final.stop_reason == "tool_use"


def test_thinking_plain_and_streamed(ant_client: Any, backends: Any) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    m = ant_client.messages.create(model="claude:claude-thinking", max_tokens=2048, thinking=thinking,
                                   messages=[{"role": "user", "content": "think"}])
    block = m.content[0]
    assert block.type == "thinking" and block.thinking == "Let me think about this." and block.signature.startswith("Eq")
    assert backends.anthropic.requests[-1]["thinking"] == thinking
    with ant_client.messages.stream(model="claude:claude-thinking", max_tokens=2048, thinking=thinking,
                                    messages=[{"role": "user", "content": "think"}]) as s:
        final = s.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == m.content[0].signature
    assert final.content[1].text == "Hello! How can I help?"


def test_thinking_to_an_openai_backend_is_a_400(ant_client: Any, backends: Any) -> None:
    before = len(backends.openai.requests)
    with pytest.raises(anthropic.BadRequestError) as err:
        ant_client.messages.create(model="fast", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                                   messages=[{"role": "user", "content": "think"}])
    assert "thinking" in str(err.value) and err.value.body["error"]["type"] == "invalid_request_error"
    assert len(backends.openai.requests) == before


def test_image_to_an_openai_backend(ant_client: Any, backends: Any) -> None:
    ant_client.messages.create(model="fast", max_tokens=16, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "what is this?"}]}])
    parts = backends.openai.requests[-1]["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert parts[1] == {"type": "text", "text": "what is this?"}


def test_models_in_anthropic_format(ant_client: Any) -> None:
    ids = [m.id for m in ant_client.models.list()]
    assert "claude-fast" in ids and "fast" in ids
