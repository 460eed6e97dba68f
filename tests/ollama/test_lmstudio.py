"""LMStudioProvider and LMStudioClient against the fake LM Studio server."""

from __future__ import annotations

import pytest

from llmswitch import errors as E
from llmswitch.management.lmstudio import LMStudioClient
from llmswitch.providers import create_provider
from llmswitch.providers.lmstudio import LMStudioProvider
from llmswitch.types import UsageEvent
from tests.fakes.lmstudio_server import FakeLMStudio, v0_model


@pytest.fixture
async def provider(lmstudio: FakeLMStudio):
    p = LMStudioProvider(base_url=lmstudio.url + "/v1")
    yield p
    await p.aclose()


async def test_v0_list_has_state_type_context_and_quantization(provider: LMStudioProvider, lmstudio: FakeLMStudio) -> None:
    models = {m.id: m for m in await provider.list_models()}
    emb, vlm, llm = models["text-embedding-nomic-embed-text-v1.5"], models["qwen2-vl-7b-instruct"], models["qwen2.5-7b-instruct"]
    assert (emb.type, emb.loaded, emb.context_length, emb.quantization) == ("embeddings", True, 2048, "Q4_0")
    assert (vlm.type, vlm.loaded, vlm.quantization, vlm.family) == ("vlm", False, "4bit", "qwen2_vl")
    assert (llm.type, llm.loaded, llm.context_length) == ("llm", True, 32768)
    assert llm.metadata["capabilities"] == ["tool_use"] and llm.metadata["publisher"] == "lmstudio-community"
    assert ("GET", "/api/v0/models", None) in lmstudio.requests


async def test_older_versions_fall_back_to_v1_models(provider: LMStudioProvider, lmstudio: FakeLMStudio) -> None:
    lmstudio.legacy = True  # /api/v0 answers 200 {"error": "Unexpected endpoint..."}
    models = await provider.list_models()
    assert [m.id for m in models] == [m["id"] for m in lmstudio.models]
    assert all(m.loaded is None for m in models)  # /v1/models cannot tell
    assert ("GET", "/v1/models", None) in lmstudio.requests


async def test_detect_prefers_a_loaded_llm_over_a_loaded_embedder(provider: LMStudioProvider, lmstudio: FakeLMStudio) -> None:
    assert await provider.detect_model() == "qwen2.5-7b-instruct"
    lmstudio.models[2]["state"] = "not-loaded"
    assert await provider.detect_model() == "qwen2-vl-7b-instruct"  # no LLM loaded: first chat model, never the embedder


async def test_health_reports_the_loaded_model(provider: LMStudioProvider) -> None:
    h = await provider.health_check()
    assert h.healthy and h.model_id == "qwen2.5-7b-instruct"
    assert h.metadata["loaded_model"] == "qwen2.5-7b-instruct"
    assert set(h.metadata["loaded_models"]) == {"qwen2.5-7b-instruct", "text-embedding-nomic-embed-text-v1.5"}


async def test_health_with_only_embedders(lmstudio: FakeLMStudio) -> None:
    lmstudio.models = [v0_model("text-embedding-x", type="embeddings", state="loaded")]
    async with LMStudioProvider(base_url=lmstudio.url) as p:
        h = await p.health_check()
    assert h.connected and not h.model_detected and h.metadata["loaded_model"] is None and "no chat model" in (h.error or "")


async def test_200_error_body_is_an_error_not_an_empty_reply(lmstudio: FakeLMStudio) -> None:
    async with LMStudioProvider(base_url=lmstudio.url + "/wrong/v1") as p:  # every path unknown → 200 + error
        with pytest.raises(E.InvalidRequestError, match="Unexpected endpoint") as info:
            await p.complete("hi", model="qwen2.5-7b-instruct")
        assert info.value.status_code == 200 and "/v1" in info.value.hint and not info.value.retryable
        with pytest.raises(E.InvalidRequestError, match="Unexpected endpoint"):
            await p.stream("hi", model="qwen2.5-7b-instruct").final()
        with pytest.raises(E.InvalidRequestError, match="Unexpected endpoint"):
            await p.list_models()
        h = await p.health_check()
        assert not h.healthy and "Unexpected endpoint" in (h.error or "")


async def test_stream_with_usage(provider: LMStudioProvider, lmstudio: FakeLMStudio) -> None:
    s = provider.stream("hi", model="qwen2.5-7b-instruct")
    events = [e async for e in s]
    final = await s.final()
    assert final.text == "Hello from LM Studio."
    assert final.usage.known and (final.usage.input_tokens, final.usage.output_tokens) == (12, 3)
    assert any(isinstance(e, UsageEvent) for e in events)
    assert lmstudio.requests[-1][2]["stream_options"] == {"include_usage": True}


async def test_stream_from_a_version_without_include_usage_marks_usage_unknown(provider: LMStudioProvider, lmstudio: FakeLMStudio) -> None:
    lmstudio.include_usage_supported = False
    final = await provider.stream("hi", model="qwen2.5-7b-instruct").final()
    assert final.text == "Hello from LM Studio."
    assert final.usage.known is False  # unknown, not a silent zero
    assert final.usage.cost == 0.0  # local: still free


async def test_complete(provider: LMStudioProvider) -> None:
    r = await provider.complete("hi")  # no model: the loaded LLM is detected
    assert r.text == "Hello from LM Studio." and r.usage.output_tokens == 3


async def test_model_capabilities_from_v0(provider: LMStudioProvider) -> None:
    llm = await provider.model_capabilities("qwen2.5-7b-instruct")
    vlm = await provider.model_capabilities("qwen2-vl-7b-instruct")
    assert llm.tools and not llm.vision
    assert vlm.vision


async def test_client_loaded_models_and_is_running(lmstudio: FakeLMStudio) -> None:
    async with LMStudioClient(lmstudio.url + "/v1") as c:
        assert c.root == lmstudio.url
        assert {m.id for m in await c.loaded_models()} == {"qwen2.5-7b-instruct", "text-embedding-nomic-embed-text-v1.5"}
        assert await c.is_running()
    async with LMStudioClient(lmstudio.url + "/nothing-here") as c:
        assert not await c.is_running()


def test_base_url_defaults() -> None:
    assert create_provider("lmstudio").base_url == "http://localhost:1234/v1"
    assert LMStudioProvider(base_url="http://box:1234/").base_url == "http://box:1234/v1"
    assert LMStudioProvider(base_url="http://box:1234/v1").base_url == "http://box:1234/v1"
