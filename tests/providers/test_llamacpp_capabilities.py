"""The real llama-server's ``/props`` ``modalities.vision`` is recorded by the health check, so images
sent to a server without a multimodal projector are refused before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llmswitch import errors as E
from llmswitch.providers.llamacpp import LlamaCppProvider
from llmswitch.types import ImagePart, Message, TextPart
from tests.fixtures.llama_server import TEST_ALIAS, RunningRuntime

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
async def provider(runtime_env: RunningRuntime) -> AsyncIterator[LlamaCppProvider]:
    p = LlamaCppProvider(base_url=runtime_env.url)
    yield p
    await p.aclose()


async def test_images_to_a_text_only_server_are_refused_after_health(provider: LlamaCppProvider) -> None:
    assert provider.capabilities_for(TEST_ALIAS).vision is None  # unknown before the server said
    async with provider.management() as client:
        props = await client.get_props()
    assert props["modalities"]["vision"] is False  # the bundled gemma3 270M has no projector
    status = await provider.health_check()
    assert status.healthy, status.error
    assert provider.capabilities_for(TEST_ALIAS).vision is False
    image = [Message.user([TextPart("What is this?"), ImagePart(data=PNG)])]
    with pytest.raises(E.CapabilityError) as info:
        await provider.complete(image, model=TEST_ALIAS, max_tokens=2)
    assert info.value.feature == "images" and info.value.status_code is None  # ours, not the server's
    with pytest.raises(E.CapabilityError):
        await provider.stream(image, max_tokens=2).final()  # the detected model is the same one
    reply = await provider.complete("Say hi", model=TEST_ALIAS, max_tokens=2)  # text still goes
    assert reply.usage.output_tokens >= 1
