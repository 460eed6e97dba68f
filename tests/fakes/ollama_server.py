"""A fake Ollama server following the native API as published.

Sources: Ollama's ``docs/api.md`` (github.com/ollama/ollama/blob/main/docs/api.md: §List Local
Models, §List Running Models, §Show Model Information, §Pull a Model, §Delete a Model,
§Generate a chat completion), ``docs/api/errors.mdx`` (errors inside a 200 stream) and the
exact shapes, status codes and error texts collected in ``/work/shared/reference/wire-protocols.md``
§1 (read from ``ollama:server/routes.go``; e.g. the 404 ``model "x" not found, try pulling it
first`` from ``handleScheduleError`` and the 400 ``<full name> does not support tools``).

Behaviour is driven by state the test sets on ``FakeOllama`` (models on disk, models loaded,
what a chat answers), and every request body is recorded in ``requests`` for assertions.

``done_reason`` (wire-protocols.md §1.8, ``llm/server.go`` and ``server/routes.go``) follows the
server: ``"stop"``; ``"length"`` when ``options.num_predict`` cuts the answer short; ``"load"``
for a request with no messages (it only loads the model) and ``"unload"`` for one with no
messages and ``keep_alive: 0``; a tool-call turn also ends with ``"stop"``. ``ChatScript.done_reason``
forces a value for one model, so each one is reachable by model name.

The OpenAI-compatible layer under ``/v1`` (wire-protocols.md §1.10;
https://docs.ollama.com/api/openai-compatibility), which pydantic-ai's ``OllamaProvider``
uses: no auth, ``GET /v1/models`` lists the models on disk, ``POST /v1/chat/completions``
plays the OpenAI fake's tool loop (``openai_server.ToolLoop``: a tool call when tools are
offered, then ``"Tool said: <result>"``) for any model on disk; an unknown model is 404
``model "x" not found, try pulling it first`` in the OpenAI error shape.

Served in a background thread (``tests/fakes/_threaded.py``); ``await fake.start()`` /
``await fake.stop()`` keep the fixtures' async shape.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._threaded import ThreadedServer
from .openai_server import ToolLoop

NDJSON = "application/x-ndjson"


def full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def tag_entry(name: str, *, family: str = "llama", params: str = "3.2B", quant: str = "Q4_K_M", size: int = 2019393189,
              capabilities: list[str] | None = None) -> dict[str, Any]:
    """An ``/api/tags`` entry exactly as docs/api.md §List Local Models shows it."""
    return {
        "name": full_name(name),
        "model": full_name(name),
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "size": size,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "", "format": "gguf", "family": family, "families": [family],
            "parameter_size": params, "quantization_level": quant,
        },
        "_capabilities": capabilities or ["completion"],
    }


@dataclass
class ChatScript:
    """What ``/api/chat`` answers for one model."""

    chunks: list[str] = field(default_factory=lambda: ["The", " sky", " is blue."])
    thinking: list[str] = field(default_factory=list)
    tool_call: dict[str, Any] | None = None
    """``{"name": ..., "arguments": {...}}``; sent whole in one chunk when the request has tools."""
    tool_call_id: str | None = None
    """None reproduces servers before v0.12.10, which send no ``id``."""
    error_after: int | None = None
    """Send an ``{"error": ...}`` line after this many content chunks (HTTP stays 200)."""
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "total_duration": 182242375, "load_duration": 41295167, "prompt_eval_count": 26,
            "prompt_eval_duration": 24573166, "eval_count": 15, "eval_duration": 500_000_000,
        }
    )
    done: bool = True
    """False cuts the stream before the final ``done: true`` line."""
    done_reason: str | None = None
    """Force the final line's ``done_reason`` (``stop``, ``length``, ``load``, ``unload``)."""


@dataclass
class PullScript:
    layers: list[tuple[str, int]] = field(
        default_factory=lambda: [
            ("sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff", 3_000_000),
            ("sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396", 1_500),
        ]
    )
    steps: int = 4


class FakeOllama:
    def __init__(self) -> None:
        self.version = "0.12.10"
        self.models: dict[str, dict[str, Any]] = {}
        self.running: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, ChatScript] = {}
        self.pullable: dict[str, PullScript] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.loop = ToolLoop()
        """The ``/v1`` conversation: its ``requests`` and the ``tool_results`` that reached it."""
        self._server: ThreadedServer | None = None

    # --- state helpers ------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def paths(self) -> list[str]:
        """The path of every recorded request, in order."""
        return [p for _, p, _ in self.requests]

    def add_model(self, name: str, *, capabilities: list[str] | None = None, loaded: bool = False,
                  context_length: int = 4096, script: ChatScript | None = None, **details: Any) -> None:
        entry = tag_entry(name, capabilities=capabilities, **details)
        self.models[entry["name"]] = entry
        if script is not None:
            self.scripts[entry["name"]] = script
        if loaded:
            self.running[entry["name"]] = {
                **{k: v for k, v in entry.items() if k not in ("modified_at", "_capabilities")},
                "expires_at": "2024-06-04T14:38:31.83753-07:00",
                "size_vram": entry["size"],
                "context_length": context_length,
            }

    def last(self, path: str) -> Any:
        return next(body for m, p, body in reversed(self.requests) if p == path)

    # --- server ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.h_root)
        app.router.add_get("/api/version", self.h_version)
        app.router.add_get("/api/tags", self.h_tags)
        app.router.add_get("/api/ps", self.h_ps)
        app.router.add_post("/api/show", self.h_show)
        app.router.add_post("/api/pull", self.h_pull)
        app.router.add_delete("/api/delete", self.h_delete)
        app.router.add_post("/api/chat", self.h_chat)
        app.router.add_get("/v1/models", self.h_v1_models)
        app.router.add_post("/v1/chat/completions", self.h_v1_chat)
        return app

    def start_sync(self) -> FakeOllama:
        self._server = ThreadedServer(self.app).start()
        return self

    def stop_sync(self) -> None:
        if self._server is not None:
            self._server.stop()

    async def start(self) -> FakeOllama:
        return self.start_sync()

    async def stop(self) -> None:
        self.stop_sync()

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append((request.method, request.path, body))
        return body

    # --- handlers ---------------------------------------------------------------------------
    async def h_root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def h_version(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, None))
        return web.json_response({"version": self.version})

    async def h_tags(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, None))
        return web.json_response(
            {"models": [{k: v for k, v in m.items() if not k.startswith("_")} for m in self.models.values()]}
        )

    async def h_ps(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, None))
        return web.json_response({"models": list(self.running.values())})

    async def h_v1_models(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, None))
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1746405464, "owned_by": "library"} for m in self.models
        ]})

    async def h_v1_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = body.get("model")
        if full_name(str(model)) not in self.models:
            return web.json_response(
                {"error": {"message": f'model "{model}" not found, try pulling it first', "type": "api_error", "param": None, "code": None}},
                status=404,
            )
        return await self.loop.respond(request, body, model)

    async def h_show(self, request: web.Request) -> web.Response:
        body = await self._body(request) or {}
        name = body.get("model") or body.get("name")
        if not name:
            return self._error(400, "model is required")
        entry = self.models.get(full_name(name))
        if entry is None:
            return self._error(404, f"model '{name}' not found")
        family = entry["details"]["family"]
        return web.json_response({
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {entry['name']}\n",
            "parameters": 'num_ctx 8192\nstop "<|start_header_id|>"\nstop "<|eot_id|>"\ntemperature 0.6',
            "template": "{{ if .System }}<|start_header_id|>system<|end_header_id|>{{ .System }}<|eot_id|>{{ end }}",
            "details": entry["details"],
            "model_info": {
                "general.architecture": family,
                "general.parameter_count": 3212749888,
                f"{family}.context_length": 131072,
                f"{family}.embedding_length": 3072,
            },
            "capabilities": entry["_capabilities"],
            "modified_at": entry["modified_at"],
        })

    async def h_pull(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request) or {}
        name = body.get("model") or body.get("name") or ""
        if not name or " " in name:
            return self._error(400, f'name "{name}" is invalid')
        resp = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
        await resp.prepare(request)

        async def line(obj: dict[str, Any]) -> None:
            await resp.write(json.dumps(obj).encode() + b"\n")

        await line({"status": "pulling manifest"})
        script = self.pullable.get(full_name(name))
        if script is None:  # registry 404 → os.ErrNotExist, after the stream started (routes.go PullHandler)
            await line({"error": "pull model manifest: file does not exist"})
            await resp.write_eof()
            return resp
        for digest, total in script.layers:
            status = f"pulling {digest[7:19]}"
            await line({"status": status, "digest": digest, "total": total})  # no `completed` yet (docs)
            for step in range(1, script.steps + 1):
                await asyncio.sleep(0)
                await line({"status": status, "digest": digest, "total": total, "completed": total * step // script.steps})
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            await line({"status": status})
        self.add_model(name)
        await resp.write_eof()
        return resp

    async def h_delete(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not body:
            return self._error(400, "missing request body")
        name = body.get("model") or body.get("name")
        if full_name(name) not in self.models:
            return self._error(404, f"model '{name}' not found")
        del self.models[full_name(name)]
        self.running.pop(full_name(name), None)
        return web.Response(status=200)  # empty body on success (DeleteHandler)

    async def h_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request) or {}
        name = body.get("model")
        if not name:
            return self._error(400, "model is required")
        entry = self.models.get(full_name(name))
        if entry is None:
            return self._error(404, f'model "{name}" not found, try pulling it first')
        caps = entry["_capabilities"]
        if body.get("tools") and "tools" not in caps:
            return self._error(400, f"registry.ollama.ai/library/{entry['name']} does not support tools")
        if body.get("think") and "thinking" not in caps:
            return self._error(400, f'"{name}" does not support thinking')
        script = self.scripts.get(entry["name"], ChatScript())
        created = "2025-07-07T20:22:19.184789Z"

        def chunk(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
            return {"model": name, "created_at": created, "message": {"role": "assistant", **message}, **extra}

        lines: list[dict[str, Any]] = []
        messages = body.get("messages") or []
        if not messages:  # load (or, with keep_alive 0, unload) the model; nothing is generated (§1.8)
            reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
            final = chunk({"content": ""}, done_reason=script.done_reason or reason, done=True)
            if body.get("stream") is False:
                return web.json_response(final)
            resp = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
            await resp.prepare(request)
            await resp.write(json.dumps(final).encode() + b"\n")
            await resp.write_eof()
            return resp
        chunks = list(script.chunks)
        done_reason = "stop"
        limit = (body.get("options") or {}).get("num_predict")
        if isinstance(limit, int) and 0 <= limit < len(chunks):  # one chunk stands for one token here
            chunks, done_reason = chunks[:limit], "length"
        done_reason = script.done_reason or done_reason
        lines += [chunk({"content": "", "thinking": t}, done=False) for t in script.thinking]
        for i, text in enumerate(chunks):
            if script.error_after is not None and i == script.error_after:
                lines.append({"error": "an error was encountered while running the model"})
                break
            lines.append(chunk({"content": text}, done=False))
        else:
            if script.tool_call and body.get("tools"):
                call: dict[str, Any] = {"function": {"index": 0, **script.tool_call}}
                if script.tool_call_id:
                    call["id"] = script.tool_call_id
                lines.append(chunk({"content": "", "tool_calls": [call]}, done=False))
            if script.done:
                lines.append(chunk({"content": ""}, done_reason=done_reason, done=True, **script.counters))

        if body.get("stream") is False:
            if lines and "error" in lines[-1]:
                return self._error(500, lines[-1]["error"])
            text = "".join(line["message"].get("content", "") for line in lines if "message" in line)
            calls = [c for line in lines if "message" in line for c in line["message"].get("tool_calls", [])]
            msg: dict[str, Any] = {"content": text}
            if calls:
                msg["tool_calls"] = calls
            return web.json_response(chunk(msg, done_reason=done_reason, done=True, **script.counters))

        resp = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
        await resp.prepare(request)
        for obj in lines:
            await resp.write(json.dumps(obj).encode() + b"\n")
        await resp.write_eof()
        return resp
