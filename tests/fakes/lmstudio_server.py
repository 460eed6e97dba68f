"""A fake LM Studio server: the OpenAI-compatible ``/v1`` and the native REST ``/api/v0``.

Sources: LM Studio's REST docs (lmstudio.ai/docs/developer/rest/endpoints, source
github.com/lmstudio-ai/docs ``1_developer/2_rest/endpoints.mdx``: ``GET /api/v0/models`` with
``type``/``state``/``quantization``/``max_context_length``), the OpenAI-compatibility pages
(``1_developer/3_openai-compat/*``), the API changelog (``stream_options.include_usage`` only
from 0.3.18) and ``/work/shared/reference/wire-protocols.md`` §3 (``/v1`` §3.2, ``/api/v0`` §3.3). An unknown path answers HTTP
200 with ``{"error": "Unexpected endpoint or method. (...)"}`` as observed from real servers
(§3.6); ``legacy=True`` reproduces a version before 0.3.6, where ``/api/v0`` is such a path.

Served in a background thread (``tests/fakes/_threaded.py``); ``await fake.start()`` /
``await fake.stop()`` keep the fixtures' async shape.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ._threaded import ThreadedServer


def v0_model(id: str, *, type: str = "llm", state: str = "not-loaded", arch: str = "qwen2", quant: str = "Q4_K_M",
             ctx: int = 32768, publisher: str = "lmstudio-community", capabilities: list[str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {
        "id": id, "object": "model", "type": type, "publisher": publisher, "arch": arch,
        "compatibility_type": "gguf", "quantization": quant, "state": state, "max_context_length": ctx,
    }
    if capabilities is not None:
        m["capabilities"] = capabilities
    return m


class FakeLMStudio:
    def __init__(self) -> None:
        self.models: list[dict[str, Any]] = [
            v0_model("text-embedding-nomic-embed-text-v1.5", type="embeddings", state="loaded", arch="nomic-bert",
                     quant="Q4_0", ctx=2048, publisher="nomic-ai"),
            v0_model("qwen2-vl-7b-instruct", type="vlm", state="not-loaded", arch="qwen2_vl", quant="4bit",
                     publisher="mlx-community"),
            v0_model("qwen2.5-7b-instruct", state="loaded", capabilities=["tool_use"]),
        ]
        self.legacy = False
        """True: no ``/api/v0`` (before 0.3.6); it answers like any unknown path."""
        self.include_usage_supported = True
        """False: ``stream_options.include_usage`` is ignored (before 0.3.18)."""
        self.chunks = ["Hello", " from", " LM Studio."]
        self.requests: list[tuple[str, str, Any]] = []
        self._server: ThreadedServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.h_v1_models)
        app.router.add_get("/api/v0/models", self.h_v0_models)
        app.router.add_post("/v1/chat/completions", self.h_chat)
        app.router.add_route("*", "/{tail:.*}", self.h_unknown)
        return app

    async def start(self) -> FakeLMStudio:
        self._server = ThreadedServer(self.app).start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    async def h_unknown(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, None))
        return web.json_response({"error": f"Unexpected endpoint or method. ({request.method} {request.path})"}, status=200)

    async def h_v1_models(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, None))
        # JIT loading on (the default): every downloaded model is listed, OpenAI shape only.
        return web.json_response(
            {"object": "list", "data": [{"id": m["id"], "object": "model", "owned_by": "organization_owner"} for m in self.models]}
        )

    async def h_v0_models(self, request: web.Request) -> web.Response:
        if self.legacy:
            return await self.h_unknown(request)
        self.requests.append(("GET", request.path, None))
        return web.json_response({"object": "list", "data": self.models})

    async def h_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(("POST", request.path, body))
        model = body.get("model")
        created = 1755800000
        base = {"id": "chatcmpl-lms1", "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": model}
        usage = {"prompt_tokens": 12, "completion_tokens": len(self.chunks), "total_tokens": 12 + len(self.chunks)}
        if not body.get("stream"):
            return web.json_response({
                "id": "chatcmpl-lms1", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(self.chunks)}}],
                "usage": usage, "stats": {}, "system_fingerprint": model,
            })
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(obj: Any) -> None:
            await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        for i, text in enumerate(self.chunks):
            delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
            await send({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]})
        await send({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
        if self.include_usage_supported and (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
