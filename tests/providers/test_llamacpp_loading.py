"""The 503 "Loading model" state, against a tiny fake that answers exactly llama-server's bodies.

The real server loads the bundled model in about two seconds, so ``test_special_servers`` also
watches it load; this fake makes the mapping deterministic (reference §2.4: every route except
``/v1/models`` answers the same 503 until the model is ready).
"""

from __future__ import annotations

import pytest
from aiohttp import web

from llmswitch.errors import ProviderUnavailableError
from llmswitch.management.llamacpp import LlamaCppClient
from llmswitch.providers.llamacpp import LlamaCppProvider
from tests.fakes._threaded import ThreadedServer
from tests.fixtures.llama_server import free_port

LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
MODELS_WHILE_LOADING = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "llamacpp", "meta": None}]}


def _app() -> web.Application:
    async def loading(request: web.Request) -> web.Response:
        return web.json_response(LOADING, status=503)

    async def models(request: web.Request) -> web.Response:
        return web.json_response(MODELS_WHILE_LOADING)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_route("*", "/{tail:.*}", loading)
    return app


@pytest.fixture(scope="module")
def loading_server():
    with ThreadedServer(_app) as srv:
        yield srv


async def test_provider_health_while_loading(loading_server) -> None:
    p = LlamaCppProvider(base_url=loading_server.url + "/v1")
    try:
        status = await p.health_check()
        assert status.connected is False and status.model_detected is False
        assert status.metadata["status"] == "loading"
        assert "loading" in status.error and "retry" in status.error
        models = await p.list_models()
        assert models[0].id == "m" and models[0].loaded is False  # meta is null while loading
        with pytest.raises(ProviderUnavailableError) as info:
            await p.complete("hi", model="m", max_tokens=1)
        assert info.value.status_code == 503 and info.value.retryable
        assert "loading" in info.value.hint
    finally:
        await p.aclose()


async def test_client_health_while_loading(loading_server) -> None:
    c = LlamaCppClient(loading_server.url)
    try:
        assert (await c.health_check())["status"] == "loading"
        # not ready yet: neither "running" (the documents' sense: ready for requests) nor loaded
        assert await c.is_running() is False
        assert await c.is_model_loaded() is False
    finally:
        await c.aclose()


async def test_provider_health_refused() -> None:
    p = LlamaCppProvider(base_url=f"http://127.0.0.1:{free_port()}/v1", connect_timeout=2)
    try:
        status = await p.health_check()
        assert status.connected is False and status.model_detected is False
        assert "status" not in status.metadata
        assert "cannot connect" in status.error
    finally:
        await p.aclose()
