"""Anthropic Messages on the server side: a request body → a ``Call``; a ``Response`` or a
stream of events → the message and the named SSE events the ``anthropic`` SDK reads.

The client side (``_wire/anthropic.py``) goes the other way; its tables are read backwards here
(stop reasons), not written again. Tool choice is turned into OpenAI's spelling, the neutral
one every provider takes (the Anthropic provider turns it back). Reference:
``reference/wire-protocols.md`` §5.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Mapping
from typing import Any

from .. import _json as jsonio
from .._wire.anthropic import stop_reason_for
from ..types import (
    ImagePart,
    Message,
    Part,
    Response,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    as_tools,
)
from .call import ANTHROPIC, Call
from .errors import GatewayError

__all__ = ["parse_request", "response_body", "usage_body", "EventWriter", "stop_reason"]

_TRANSLATED = frozenset({"model", "messages", "system", "max_tokens", "tools", "tool_choice", "stream", "temperature",
                         "top_p", "top_k", "stop_sequences", "thinking"})

stop_reason = stop_reason_for
"""Anthropic's ``stop_reason`` for one of llmswitch's finish reasons (the client side's table, read backwards)."""


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def _image(block: Mapping[str, Any], where: str) -> ImagePart:
    src = block.get("source")
    if isinstance(src, Mapping) and src.get("type") == "base64" and isinstance(src.get("data"), str):
        try:
            data = base64.b64decode(src["data"], validate=True)
        except ValueError:
            raise _bad(f"{where}: image data is not base64", where) from None
        return ImagePart(data=data, media_type=str(src.get("media_type") or "image/png"))
    if isinstance(src, Mapping) and src.get("type") == "url" and isinstance(src.get("url"), str):
        return ImagePart(url=src["url"])
    raise _bad(f"{where}: an image source is {{type: base64, media_type, data}} or {{type: url, url}}", where)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for i, b in enumerate(content):
            if not isinstance(b, Mapping) or b.get("type") != "text":
                raise _bad(f"{where}[{i}]: only text blocks are taken here", where)
            out.append(str(b.get("text") or ""))
        return "".join(out)
    if content is None:
        return ""
    raise _bad(f"{where} must be a string or a list of text blocks", where)


def _user_turn(content: Any, where: str) -> list[Message]:
    """One user turn → messages: its tool results first (each its own ``tool`` message), then the rest."""
    if isinstance(content, str):
        return [Message("user", content)]
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of blocks", f"{where}.content")
    out: list[Message] = []
    parts: list[Part] = []
    for i, b in enumerate(content):
        kind = b.get("type") if isinstance(b, Mapping) else None
        bw = f"{where}.content[{i}]"
        if kind == "text":
            parts.append(TextPart(str(b.get("text") or "")))
        elif kind == "image":
            parts.append(_image(b, bw))
        elif kind == "tool_result":
            out.append(Message("tool", _text(b.get("content"), bw + ".content"), tool_call_id=str(b.get("tool_use_id") or ""),
                               is_error=bool(b.get("is_error"))))
        else:
            raise _bad(f"{bw}: block type {kind!r} is not supported by this gateway in a user turn "
                       "(text, image, tool_result are)", bw)
    if parts:
        out.append(Message("user", parts if any(isinstance(p, ImagePart) for p in parts) else "".join(
            p.text for p in parts if isinstance(p, TextPart))))
    return out


def _assistant_turn(content: Any, where: str) -> Message:
    if isinstance(content, str):
        return Message("assistant", content)
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of blocks", f"{where}.content")
    text: list[str] = []
    calls: list[ToolCall] = []
    msg = Message("assistant")
    for i, b in enumerate(content):
        kind = b.get("type") if isinstance(b, Mapping) else None
        if kind == "text":
            text.append(str(b.get("text") or ""))
        elif kind == "thinking":
            msg.thinking = str(b.get("thinking") or "")
            msg.thinking_signature = b.get("signature") if isinstance(b.get("signature"), str) else None
        elif kind == "tool_use":
            args = b.get("input")
            args = dict(args) if isinstance(args, Mapping) else {}
            calls.append(ToolCall(str(b.get("id") or f"toolu_{i}"), str(b.get("name") or ""), args, json.dumps(args)))
        else:
            raise _bad(f"{where}.content[{i}]: block type {kind!r} is not supported by this gateway in an assistant turn "
                       "(text, thinking, tool_use are)", f"{where}.content")
    msg.content = "".join(text) or None
    msg.tool_calls = calls
    return msg


def _tool_choice(choice: Any) -> Any:
    """Anthropic's ``tool_choice`` in OpenAI's spelling (``_wire.anthropic.tool_choice_to_wire`` reads it back)."""
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind in ("auto", "none"):
        return kind
    if kind == "any":
        return "required"
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice is {type: auto | any | none} or {type: tool, name}", "tool_choice")


def parse_request(body: Any) -> Call:
    """A ``POST /v1/messages`` body → a ``Call``; a malformed one is a 400 naming the field."""
    if not isinstance(body, Mapping):
        raise _bad("the request body must be a JSON object")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("messages: a non-empty list is required", "messages")
    if not isinstance(body.get("max_tokens"), int):
        raise _bad("max_tokens: Field required", "max_tokens")
    messages: list[Message] = []
    system = body.get("system")
    if system is not None:
        messages.append(Message("system", _text(system, "system")))
    for i, m in enumerate(raw):
        role = m.get("role") if isinstance(m, Mapping) else None
        if role == "user":
            messages.extend(_user_turn(m.get("content"), f"messages.{i}"))
        elif role == "assistant":
            messages.append(_assistant_turn(m.get("content"), f"messages.{i}"))
        else:
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'", f"messages.{i}.role")
    try:
        tools: list[Tool] | None = as_tools(body.get("tools"))
    except (TypeError, ValueError) as exc:
        raise _bad(f"tools: {exc}", "tools") from None
    params: dict[str, Any] = {"max_tokens": body["max_tokens"]}
    for k in ("temperature", "top_p", "top_k"):
        if body.get(k) is not None:
            params[k] = body[k]
    if body.get("stop_sequences"):
        params["stop"] = list(body["stop_sequences"])
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        params["tool_choice"] = choice
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
        thinking = None
    passthrough = {k: v for k, v in body.items() if k not in _TRANSLATED and v is not None}
    return Call(ANTHROPIC, str(body.get("model") or ""), messages, tools, params, passthrough, thinking,
                stream=bool(body.get("stream")))


def usage_body(u: Usage) -> dict[str, Any]:
    """llmswitch's usage in Anthropic's words: ``input_tokens`` there is the uncached part only."""
    return {
        "input_tokens": max(0, u.input_tokens - u.cache_read_tokens - u.cache_write_tokens),
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    }


_ids = itertools.count()
_ID_PREFIX = "msg_" + uuid.uuid4().hex[:12]


def _new_id() -> str:
    """A unique id per answer: a per-process random prefix and a counter (no ``os.urandom`` read per answer)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


def response_body(resp: Response, model: str) -> dict[str, Any]:
    """A whole answer as a Message."""
    content: list[dict[str, Any]] = []
    if resp.thinking or resp.thinking_signature:
        content.append({"type": "thinking", "thinking": resp.thinking or "", "signature": resp.thinking_signature or ""})
    if resp.text:
        content.append({"type": "text", "text": resp.text})
    for c in resp.tool_calls:
        content.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
    return {"id": _new_id(), "type": "message", "role": "assistant", "model": resp.model or model, "content": content,
            "stop_reason": stop_reason(resp.finish_reason), "stop_sequence": None, "usage": usage_body(resp.usage)}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + jsonio.dumps(data) + b"\n\n"


_TEXT_DELTA = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":',
               b',"delta":{"type":"text_delta","text":', b"}}\n\n")


class EventWriter:
    """Stream events → Anthropic's named events: ``message_start``; for each block a start, its
    deltas and a stop (a new block begins whenever the kind of event changes, or a new tool call
    does); then ``message_delta`` with the stop reason and usage, and ``message_stop``."""

    __slots__ = ("model", "_index", "_open", "_calls")

    def __init__(self, model: str) -> None:
        self.model = model
        self._index = -1
        self._open: str | None = None
        """The kind of the open block (``text``, ``thinking``, ``tool:N``), None when none is open."""
        self._calls: dict[int, int] = {}

    def first(self) -> bytes:
        """``message_start`` with an empty message (usage arrives at the end)."""
        msg: dict[str, Any] = {"id": _new_id(), "type": "message", "role": "assistant", "model": self.model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        return _sse("message_start", {"type": "message_start", "message": msg})

    def _switch(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = kind
        return out + _sse("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _sse("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def event(self, ev: StreamEvent) -> bytes | None:
        """One event as block events (None: nothing to send)."""
        t = type(ev)
        if t is TextDelta:
            assert isinstance(ev, TextDelta)
            head = self._switch("text", {"type": "text", "text": ""}) if self._open != "text" else b""
            a, b, c = _TEXT_DELTA  # the per-token event, from a template: most of a stream is these
            return head + a + str(self._index).encode() + b + jsonio.string(ev.text) + c
        if t is ThinkingDelta:
            assert isinstance(ev, ThinkingDelta)
            out = b""
            if self._open != "thinking":
                if not ev.text and ev.signature is None:
                    return None
                out = self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            if ev.text:
                out += self._delta({"type": "thinking_delta", "thinking": ev.text})
            if ev.signature:
                out += self._delta({"type": "signature_delta", "signature": ev.signature})
            return out
        if t is ToolCallDelta:
            assert isinstance(ev, ToolCallDelta)
            kind = f"tool:{ev.index}"
            out = b""
            if self._open != kind:
                out = self._switch(kind, {"type": "tool_use", "id": ev.id or f"toolu_{ev.index}", "name": ev.name or "",
                                          "input": {}})
            if ev.arguments:
                out += self._delta({"type": "input_json_delta", "partial_json": ev.arguments})
            return out or None
        return None

    def last(self, final: Response) -> bytes:
        """The open block's stop, ``message_delta`` (stop reason, usage) and ``message_stop``."""
        out = self._close()
        out += _sse("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": stop_reason(final.finish_reason), "stop_sequence": None},
                                      "usage": usage_body(final.usage)})
        return out + _sse("message_stop", {"type": "message_stop"})
