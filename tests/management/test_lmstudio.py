"""LMStudioClient (the management side) against the fake LM Studio server."""

from __future__ import annotations

from llmswitch.management.lmstudio import LMStudioClient
from tests.fakes.lmstudio_server import FakeLMStudio


async def test_client_loaded_models_and_is_running(lmstudio: FakeLMStudio) -> None:
    async with LMStudioClient(lmstudio.url + "/v1") as c:
        assert c.root == lmstudio.url
        assert {m.id for m in await c.loaded_models()} == {"qwen2.5-7b-instruct", "text-embedding-nomic-embed-text-v1.5"}
        assert await c.is_running()
    async with LMStudioClient(lmstudio.url + "/nothing-here") as c:
        assert not await c.is_running()
