"""OpenAI Chat Completions on the server side: a request body → a ``Call``; a ``Response`` or a
stream of events → the bodies and chunks the ``openai`` SDK reads.

The client side (``_wire/openai_chat.py``) goes the other way; what both directions share is
taken from it (tool-argument parsing, the finish-reason vocabulary, which is llmswitch's own).
Reference: ``reference/wire-protocols.md`` §4.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .. import _json as jsonio
from .._wire.assemble import parse_tool_arguments
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
    UsageEvent,
    as_tools,
)
from .call import OPENAI, Call
from .errors import GatewayError

__all__ = ["parse_request", "response_body", "usage_body", "wants_usage", "ChunkWriter"]

_TRANSLATED = frozenset({"model", "messages", "tools", "tool_choice", "stream", "stream_options", "max_tokens",
                         "max_completion_tokens", "temperature", "top_p", "stop", "response_format", "n"})
_NEUTRAL = ("temperature", "top_p", "stop", "tool_choice", "response_format")


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def _parts(content: Any, where: str) -> str | list[Part] | None:
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of content parts", f"{where}.content")
    out: list[Part] = []
    for i, p in enumerate(content):
        kind = p.get("type") if isinstance(p, Mapping) else None
        if kind == "text" and isinstance(p.get("text"), str):
            out.append(TextPart(p["text"]))
        elif kind == "image_url":
            img = p.get("image_url")
            url = img.get("url") if isinstance(img, Mapping) else img
            if not isinstance(url, str):
                raise _bad(f"{where}.content[{i}].image_url.url must be a string", f"{where}.content")
            out.append(ImagePart(url=url))
        else:
            raise _bad(f"{where}.content[{i}]: content part type {kind!r} is not supported by this gateway "
                       "(text and image_url are)", f"{where}.content")
    return out


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if not raw:
        return []
    if not isinstance(raw, list):
        raise _bad(f"{where}.tool_calls must be a list", f"{where}.tool_calls")
    calls = []
    for j, tc in enumerate(raw):
        fn = tc.get("function") if isinstance(tc, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise _bad(f"{where}.tool_calls[{j}] needs function.name", f"{where}.tool_calls")
        args = fn.get("arguments")
        raw_args = args if isinstance(args, str) else json.dumps(args if args is not None else {})
        calls.append(ToolCall(str(tc.get("id") or f"call_{j}"), fn["name"], parse_tool_arguments(raw_args), raw_args))
    return calls


def _message(i: int, m: Any) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping):
        raise _bad(f"{where} must be an object", "messages")
    role = m.get("role")
    if role in ("system", "developer"):
        return Message("system", _text_of(m.get("content"), where))
    if role == "user":
        return Message("user", _parts(m.get("content"), where), name=_opt_str(m.get("name")))
    if role == "assistant":
        msg = Message("assistant", _parts(m.get("content"), where), _tool_calls(m.get("tool_calls"), where))
        thinking = m.get("reasoning_content") or m.get("reasoning")
        msg.thinking = thinking if isinstance(thinking, str) and thinking else None
        return msg
    if role == "tool":
        return Message("tool", _text_of(m.get("content"), where), tool_call_id=_opt_str(m.get("tool_call_id")))
    raise _bad(f"{where}.role must be system, developer, user, assistant or tool; got {role!r}", f"{where}.role")


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _text_of(content: Any, where: str) -> str:
    parts = _parts(content, where)
    if parts is None or isinstance(parts, str):
        return parts or ""
    if any(isinstance(p, ImagePart) for p in parts):
        raise _bad(f"{where}: images are only taken in user messages", f"{where}.content")
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def parse_request(body: Any) -> Call:
    """A ``POST /v1/chat/completions`` body → a ``Call``; a malformed one is a 400 naming the field."""
    if not isinstance(body, Mapping):
        raise _bad("the request body must be a JSON object")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("'messages' must be a non-empty list", "messages")
    messages = [_message(i, m) for i, m in enumerate(raw_messages)]
    n = body.get("n")
    if n not in (None, 1):
        raise _bad("this gateway returns one choice: 'n' must be 1", "n")
    try:
        tools: list[Tool] | None = as_tools(body.get("tools"))
    except (TypeError, ValueError) as exc:
        raise _bad(f"tools: {exc}", "tools") from None
    params: dict[str, Any] = {k: body[k] for k in _NEUTRAL if body.get(k) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    passthrough = {k: v for k, v in body.items() if k not in _TRANSLATED and v is not None}
    return Call(OPENAI, str(body.get("model") or ""), messages, tools, params, passthrough, stream=bool(body.get("stream")))


def wants_usage(body: Mapping[str, Any]) -> bool:
    """``stream_options.include_usage``: the caller asked for the usage chunk."""
    opts = body.get("stream_options")
    return isinstance(opts, Mapping) and bool(opts.get("include_usage"))


def usage_body(u: Usage) -> dict[str, Any]:
    """llmswitch's usage in OpenAI's words (``input_tokens`` already counts cached ones, as ``prompt_tokens`` does)."""
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


_ids = itertools.count()
_ID_PREFIX = "chatcmpl-" + uuid.uuid4().hex[:12]


def _new_id() -> str:
    """A unique id per answer: a per-process random prefix and a counter (no ``os.urandom`` read per answer)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


def _arguments(call: ToolCall) -> str:
    """A call's arguments as the JSON text the model produced (re-encoded only when it was not kept)."""
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)


def response_body(resp: Response, model: str) -> dict[str, Any]:
    """A whole answer as a ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.text if resp.text or not resp.tool_calls else None}
    if resp.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _arguments(c)}}
            for c in resp.tool_calls
        ]
    if resp.thinking:
        message["reasoning_content"] = resp.thinking
    return {
        "id": _new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.model or model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": resp.finish_reason or "stop"}],
        "usage": usage_body(resp.usage),
    }


class ChunkWriter:
    """Stream events → ``chat.completion.chunk`` SSE lines, as OpenAI sends them: a first chunk
    with the role, one chunk per event, a last chunk with ``finish_reason``, the usage chunk when
    asked for, then ``data: [DONE]``."""

    __slots__ = ("_head", "_tail", "include_usage", "_sent_call")

    def __init__(self, model: str, include_usage: bool) -> None:
        head = json.dumps({"id": _new_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model},
                          separators=(",", ":"))
        self._head = b"data: " + head[:-1].encode() + b',"choices":[{"index":0,"delta":'
        self._tail = b',"finish_reason":null}]}\n\n'
        self.include_usage = include_usage
        self._sent_call: set[int] = set()

    def first(self) -> bytes:
        """The role chunk every OpenAI stream starts with."""
        return self._head + b'{"role":"assistant","content":""}' + self._tail

    def event(self, ev: StreamEvent) -> bytes | None:
        """One event as a chunk (None: nothing for the caller, e.g. a signature or a usage event)."""
        t = type(ev)
        if t is TextDelta:
            return self._head + b'{"content":' + jsonio.string(ev.text) + b"}" + self._tail  # type: ignore[union-attr]
        if t is ToolCallDelta:
            assert isinstance(ev, ToolCallDelta)
            call: dict[str, Any] = {"index": ev.index}
            fn: dict[str, Any] = {"arguments": ev.arguments}
            if ev.index not in self._sent_call:
                self._sent_call.add(ev.index)
                call["id"] = ev.id or f"call_{ev.index}"
                call["type"] = "function"
                fn["name"] = ev.name or ""
            call["function"] = fn
            return self._head + jsonio.dumps({"tool_calls": [call]}) + self._tail
        if t is ThinkingDelta and ev.text:  # type: ignore[union-attr]
            return self._head + b'{"reasoning_content":' + jsonio.string(ev.text) + b"}" + self._tail  # type: ignore[union-attr]
        if t is UsageEvent:
            return None
        return None

    def last(self, final: Response) -> bytes:
        """The finish chunk, the usage chunk (when asked for) and ``[DONE]``."""
        reason = json.dumps(final.finish_reason or "stop").encode()
        out = self._head + b"{}," + b'"finish_reason":' + reason + b"}]}\n\n"
        if self.include_usage:
            head = self._head[: self._head.index(b'"choices"')]
            out += head + b'"choices":[],"usage":' + jsonio.dumps(usage_body(final.usage)) + b"}\n\n"
        return out + b"data: [DONE]\n\n"
