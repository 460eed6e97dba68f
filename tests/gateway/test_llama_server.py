"""A real server behind the gateway: the bundled llama-server, reached both through its OpenAI
``/v1/chat/completions`` (provider type ``llamacpp``) and its Anthropic ``/v1/messages``
(provider type ``anthropic`` at its root), by both SDKs, plain and streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from llmswitch.config import LLMSwitchConfig
from llmswitch.gateway import hash_key
from tests.gateway.conftest import ALICE, RunningGateway, start_gateway

pytestmark = pytest.mark.integration

HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def real_gateway(runtime: Any) -> Iterator[RunningGateway]:
    cfg = LLMSwitchConfig(
        providers={
            "llama": {"type": "llamacpp", "base_url": runtime.url, "default_model": runtime.alias},
            "llama_msgs": {"type": "anthropic", "base_url": runtime.root, "api_key": "unused-by-llama-server",
                           "default_model": runtime.alias},
        },
        gateway={"keys": [{"name": "alice", "key_sha256": hash_key(ALICE)}],
                 "models": {"local": "llama", "local-msgs": "llama_msgs"}},
    )
    gw = start_gateway(cfg)
    try:
        yield gw
    finally:
        gw.stop()


@pytest.mark.parametrize("model", ["local", "local-msgs"])
def test_openai_sdk_through_both_wires(real_gateway: RunningGateway, model: str) -> None:
    client = openai.OpenAI(base_url=real_gateway.url + "/v1", api_key=ALICE, max_retries=0, timeout=120)
    r = client.chat.completions.create(model=model, messages=HI, max_tokens=8)
    assert r.choices[0].message.content and r.usage.completion_tokens > 0
    chunks = [c.choices[0].delta.content or "" for c in
              client.chat.completions.create(model=model, messages=HI, max_tokens=8, stream=True) if c.choices]
    assert "".join(chunks)


@pytest.mark.parametrize("model", ["local", "local-msgs"])
def test_anthropic_sdk_through_both_wires(real_gateway: RunningGateway, model: str) -> None:
    client = anthropic.Anthropic(base_url=real_gateway.url, api_key=ALICE, max_retries=0, timeout=120)
    m = client.messages.create(model=model, max_tokens=8, messages=HI)
    assert m.content[0].text and m.usage.output_tokens > 0
    with client.messages.stream(model=model, max_tokens=8, messages=HI) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text and final.stop_reason in ("end_turn", "max_tokens")


def test_count_tokens_where_the_backend_counts(real_gateway: RunningGateway) -> None:
    client = anthropic.Anthropic(base_url=real_gateway.url, api_key=ALICE, max_retries=0, timeout=60)
    try:
        n = client.messages.count_tokens(model="local-msgs", messages=HI)
    except anthropic.NotFoundError:
        pytest.skip("this llama-server build has no /v1/messages/count_tokens")
    assert n.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError) as err:  # an OpenAI-wire backend cannot count
        client.messages.count_tokens(model="local", messages=HI)
    assert "cannot count tokens" in str(err.value)
