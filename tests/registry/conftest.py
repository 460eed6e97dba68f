"""Fixtures for the registry/config/auto/usage tests.

Every test runs with its own config/data/state dirs, no cloud keys, no auto endpoints
inherited from the machine, the local-runtime fallback switched off, and the process-wide
auto choice, default registry and usage log reset afterwards.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

_CLEARED = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "LMSTUDIO_API_KEY", "VLLM_API_KEY",
    "OPENAI_COMPATIBLE_API_KEY", "OPENAI_BASE_URL", "OPENAI_COMPATIBLE_BASE_URL", "VLLM_BASE_URL",
    "LLMSWITCH_CONFIG", "LLMSWITCH_AUTO_ENDPOINTS", "LLMSWITCH_USAGE_LOG", "LLMSWITCH_PROVIDERS",
    "LLMSWITCH_AGENTS", "LLMSWITCH_STATE", "LLMSWITCH_PROBE_TIMEOUT",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for var in _CLEARED:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    home = tmp_path / "home"
    for sub, var in (("config", "LLMSWITCH_CONFIG_DIR"), ("data", "LLMSWITCH_DATA_DIR"), ("state", "LLMSWITCH_STATE_DIR")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("LLMSWITCH_NO_LOCAL_RUNTIME", "1")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    yield tmp_path
    from llmswitch.auto import reset_auto
    from llmswitch.registry import reset_default_registry
    from llmswitch.usage.log import disable_usage_log

    reset_auto()
    reset_default_registry()
    disable_usage_log()


# --- a fake OpenAI-compatible server (shapes from the OpenAI API reference) ------------------


class FakeOpenAI:
    """``GET /v1/models`` and ``POST /v1/chat/completions`` (plain and SSE), as documented:
    https://platform.openai.com/docs/api-reference/models/list and .../chat/create."""

    def __init__(self, models: list[str] | None = None, *, usage: dict[str, Any] | None = None,
                 chunks: int = 3, chunk_delay: float = 0.0, hang_after: int | None = None) -> None:
        self.models = ["fake-model"] if models is None else models
        self.usage = usage or {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.hang_after = hang_after
        self.requests: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.base_url = ""
        self.port = 0

    async def models_handler(self, request: web.Request) -> web.Response:
        return web.json_response({
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 1686935002, "owned_by": "organization-owner"} for m in self.models],
        })

    async def chat_handler(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = body.get("model")
        if model not in self.models:
            return web.json_response(
                {"error": {"message": f"The model `{model}` does not exist", "type": "invalid_request_error",
                           "param": None, "code": "model_not_found"}}, status=404)
        created = int(time.time())
        if not body.get("stream"):
            return web.json_response({
                "id": "chatcmpl-1", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": self.usage,
            })
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if usage:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n".encode()

        await resp.write(chunk({"role": "assistant", "content": ""}))
        for i in range(self.chunks):
            if self.hang_after is not None and i >= self.hang_after:
                await asyncio.sleep(3600)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await resp.write(chunk({"content": f"w{i} "}))
        await resp.write(chunk({}, "stop"))
        await resp.write(chunk({}, usage=self.usage))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_get("/v1/models", self.models_handler)
        app.router.add_post("/v1/chat/completions", self.chat_handler)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[..., Any]]:
    """``await fake_server(models=[...])`` → a started FakeOpenAI; all stopped at the end."""
    servers: list[FakeOpenAI] = []

    async def start(**kw: Any) -> FakeOpenAI:
        s = await FakeOpenAI(**kw).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        await s.stop()


@pytest.fixture
def refused_url() -> str:
    """A loopback port with nothing listening (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def blackhole_url():
    """A loopback socket that listens but never accepts or answers: connects succeed, replies never come."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()


# --- an in-memory keyring backend ------------------------------------------------------------


@pytest.fixture
def memory_keyring():
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if self.store.pop((service, username), None) is None:
                raise PasswordDeleteError(username)

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
