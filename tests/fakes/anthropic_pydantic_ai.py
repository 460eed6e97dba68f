"""The Anthropic fake plus a whole tool loop on ``claude-agent``, for pydantic-ai agent runs.

Reuses ``anthropic_server.FakeAnthropic``'s checks (``x-api-key``, ``anthropic-version``,
required ``max_tokens``, every ``tool_use`` answered by a ``tool_result`` in the next user
turn) and decides from the conversation (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use):

- the last user turn holds a ``tool_result`` block → text ``"Tool said: <content>"``;
- else, with ``tools`` offered → a ``tool_use`` block calling the first tool
  (``stop_reason: "tool_use"``), arguments from its ``input_schema``;
- else → ``"Hello! How can I help?"``.

Auth: the key only in ``x-api-key`` (wire-protocols.md §5.1: ``Authorization: Bearer`` carries
OAuth tokens, not API keys), which is what the Anthropic SDK that pydantic-ai uses sends for an
``api_key`` (``anthropic/_client.py`` ``_api_key_auth``: ``{"X-Api-Key": api_key}``); a key sent
as ``Authorization: Bearer`` is rejected with 401 like a missing one. The SDK sends its own
dated ``anthropic-version``, so any ``YYYY-MM-DD`` is accepted; a missing one is a 400.
"""

from __future__ import annotations

from typing import Any

import re

from aiohttp import web

from .anthropic_server import VALID_KEY, FakeAnthropic, error

AGENT_MODEL = "claude-agent"
USAGE = {"input_tokens": 30, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

__all__ = ["AGENT_MODEL", "USAGE", "VALID_KEY", "FakeAnthropicPydanticAI", "start"]


def _example_args(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        t = prop.get("type")
        out[name] = 1 if t in ("integer", "number") else True if t == "boolean" else "Paris"
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


class FakeAnthropicPydanticAI(FakeAnthropic):
    def __init__(self) -> None:
        super().__init__()
        self.tool_results: list[str] = []

    def _auth(self, request: web.Request) -> web.Response | None:
        self.headers.append(dict(request.headers))
        if request.headers.get("x-api-key") != VALID_KEY:
            return error(401, "authentication_error", "invalid x-api-key")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", request.headers.get("anthropic-version", "")):
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("model") != AGENT_MODEL:
            return await super().messages(request)  # aiohttp keeps the body: read again there
        denied = self._auth(request)
        if denied:
            return denied
        self.requests.append(body)
        invalid = self._validate(body)
        if invalid:
            return invalid
        if body.get("stream"):
            return error(400, "invalid_request_error", "this fake answers claude-agent without streaming only")
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        blocks = last.get("content") if isinstance(last.get("content"), list) else []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if results:
            text = _text_of(results[-1].get("content"))
            self.tool_results.append(text)
            content, stop = [{"type": "text", "text": f"Tool said: {text}"}], "end_turn"
        elif body.get("tools"):
            tool = body["tools"][0]
            n = sum(1 for m in messages if m.get("role") == "assistant") + 1
            content = [{"type": "tool_use", "id": f"toolu_{n:02d}", "name": tool["name"], "input": _example_args(tool.get("input_schema") or {})}]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": "Hello! How can I help?"}], "end_turn"
        return web.json_response({
            "id": f"msg_agent{len(self.requests):04d}", "type": "message", "role": "assistant", "model": AGENT_MODEL,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": USAGE,
        }, headers={"request-id": "req_agent"})


def start() -> tuple[FakeAnthropicPydanticAI, Any]:
    from ._threaded import ThreadedServer

    fake = FakeAnthropicPydanticAI()
    return fake, ThreadedServer(fake.app).start()

