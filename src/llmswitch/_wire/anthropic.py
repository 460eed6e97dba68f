"""Anthropic Messages API: our types to and from the wire, plain and streamed.

Reference: ``reference/wire-protocols.md`` §5 (from anthropic-sdk-python's types and the
docs pages docs.anthropic.com/en/api/messages, /en/docs/build-with-claude/streaming and
/en/api/errors). Differences from Chat Completions that this module absorbs:

- the system prompt is a top-level ``system`` field, not a message;
- ``max_tokens`` is required;
- tool calls are ``tool_use`` blocks with ``input`` as an object, and tool results go back as
  ``tool_result`` blocks inside a *user* turn (consecutive results share one turn);
- thinking blocks carry a ``signature`` that must be sent back unchanged on the next turn;
- usage splits the prompt into ``input_tokens`` (uncached), ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``. llmswitch's ``Usage.input_tokens`` counts *all* prompt
  tokens (see ``wire/openai_chat.py``), so here it is the sum of the three;
- streams are SSE with named events and no ``[DONE]``; ``message_stop`` ends them, and an
  ``error`` event can arrive after the 200 status.

Block types we do not model (``server_tool_use``, ``web_search_tool_result``,
``redacted_thinking``, ...) never fail a call: they are kept, whole, in ``Response.raw``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from .. import errors as E
from .._limits import DEFAULT_LIMITS, Limits
from ..types import (
    ImagePart,
    Message,
    Response,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    Tool,
    ToolCall,
    Usage,
    UsageEvent,
)
from .assemble import StreamAssembler, drive, given, parse_tool_arguments
from .framing import SHAPE_ERRORS, loads, shape_error, text_or_none, wrong_type
from .openai_chat import sse_decoder
from .sse import SSEEvent

__all__ = [
    "ANTHROPIC_VERSION",
    "build_request",
    "messages_to_wire",
    "tool_to_wire",
    "tool_choice_to_wire",
    "thinking_to_wire",
    "parse_usage",
    "parse_response",
    "map_stop_reason",
    "stop_reason_for",
    "error_status",
    "error_type",
    "MessagesStreamAccumulator",
    "iter_stream",
]

ANTHROPIC_VERSION = "2023-06-01"

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# HTTP status each documented error type comes with (docs.anthropic.com/en/api/errors). Used
# for errors that arrive inside a 200 stream, so they map to the class they would have had
# before the stream started.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def map_stop_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return _STOP.get(reason, "stop")


def error_status(error_type: Any) -> int:
    """The HTTP status a documented error type stands for; an unknown (or not a string) is a 500."""
    return _ERROR_STATUS.get(error_type, 500) if isinstance(error_type, str) else 500


_TYPE_OF_STATUS = {status: etype for etype, status in _ERROR_STATUS.items()}
_STOP_OF_FINISH: dict[str, str] = {}
for _reason, _finish in _STOP.items():
    _STOP_OF_FINISH.setdefault(_finish, _reason)


def error_type(status: int) -> str:
    """``error_status`` read backwards (the server side, ``llmswitch serve``): the documented error
    type for a status; other 5xx are ``api_error``, other 4xx ``invalid_request_error``."""
    return _TYPE_OF_STATUS.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def stop_reason_for(finish: str | None) -> str:
    """``map_stop_reason`` read backwards: the first Anthropic stop reason that maps to one of
    llmswitch's finish reasons (``error``, which has none, is ``end_turn``)."""
    return _STOP_OF_FINISH.get(finish or "stop", "end_turn")


# --- request -------------------------------------------------------------------------


def _part_to_wire(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        if part.data is None and part.url and not part.url.startswith("data:"):
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        media_type, data = part.as_base64()
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    raise TypeError(f"unsupported content part: {part!r}")


def _content_blocks(content: str | list[Any] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [_part_to_wire(p) for p in content]


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # A thinking block is only valid with its signature; one without (from another provider's
    # reasoning) would be rejected, so it is dropped rather than sent. The text may be empty
    # (thinking display "omitted"): the signature alone must still go back.
    if m.thinking_signature:
        blocks.append({"type": "thinking", "thinking": m.thinking or "", "signature": m.thinking_signature})
    blocks.extend(b for b in _content_blocks(m.content) if not (b["type"] == "text" and not b["text"]))
    for tc in m.tool_calls:
        args = tc.arguments
        if not args and tc.raw_arguments:
            args = parse_tool_arguments(tc.raw_arguments)
        blocks.append({"type": "tool_use", "id": tc.id, "name": tc.name, "input": args or {}})
    return blocks


def messages_to_wire(messages: Iterable[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, messages). System messages are lifted out and joined; tool results become
    ``tool_result`` blocks, and consecutive ones are merged into a single user turn, which is
    what the API requires after an assistant turn with several ``tool_use`` blocks."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            if m.text:
                system.append(m.text)
            continue
        if m.role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or ""}
            if isinstance(m.content, list):
                block["content"] = [_part_to_wire(p) for p in m.content]
            else:
                block["content"] = m.content or ""
            if m.is_error:
                block["is_error"] = True
            prev = out[-1] if out else None
            if prev is not None and prev["role"] == "user" and prev.get("_tool_turn"):
                prev["content"].append(block)
            else:
                out.append({"role": "user", "content": [block], "_tool_turn": True})
            continue
        if m.role == "assistant":
            blocks = _assistant_blocks(m)
            if not blocks:
                continue  # the API rejects empty assistant turns
            if len(blocks) == 1 and blocks[0]["type"] == "text":
                out.append({"role": "assistant", "content": blocks[0]["text"]})
            else:
                out.append({"role": "assistant", "content": blocks})
            continue
        # user
        if isinstance(m.content, list):
            out.append({"role": "user", "content": _content_blocks(m.content)})
        else:
            out.append({"role": "user", "content": m.content or ""})
    for d in out:
        d.pop("_tool_turn", None)
    return ("\n\n".join(system) if system else None), out


def tool_to_wire(tool: Tool) -> dict[str, Any]:
    d: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters or {"type": "object", "properties": {}}}
    if tool.description:
        d["description"] = tool.description
    return d


def tool_choice_to_wire(choice: Any) -> dict[str, Any] | None:
    """Accept the OpenAI spellings (``"auto"``, ``"required"``, ``"none"``,
    ``{"type": "function", "function": {"name": ...}}``), a bare tool name, or Anthropic's own."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("auto", "none", "any"):
            return {"type": choice}
        if choice == "required":
            return {"type": "any"}
        return {"type": "tool", "name": choice}
    if isinstance(choice, Mapping):
        if choice.get("type") == "function":
            return {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
        return dict(choice)
    raise TypeError(f"unsupported tool_choice: {choice!r}")


def thinking_to_wire(thinking: Any) -> dict[str, Any] | None:
    """``True`` or an int budget are shorthands for ``{"type": "enabled", "budget_tokens": N}``;
    a dict passes through unchanged; ``False``/``None`` sends nothing."""
    if thinking is None or thinking is False:
        return None
    if thinking is True:
        return {"type": "enabled", "budget_tokens": 1024}
    if isinstance(thinking, int):
        return {"type": "enabled", "budget_tokens": thinking}
    return dict(thinking)


def build_request(
    model: str,
    messages: Iterable[Message],
    *,
    max_tokens: int,
    tools: Iterable[Tool] | None = None,
    stream: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    stop: str | list[str] | None = None,
    tool_choice: Any = None,
    thinking: Any = None,
    extra_body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    system, wire_messages = messages_to_wire(messages)
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": wire_messages}
    if system is not None:
        body["system"] = system
    if tools:
        body["tools"] = [tool_to_wire(t) for t in tools]
        tc = tool_choice_to_wire(tool_choice)
        if tc is not None:
            body["tool_choice"] = tc
    th = thinking_to_wire(thinking)
    if th is not None:
        body["thinking"] = th
        budget = th.get("budget_tokens")
        if isinstance(budget, int) and budget >= max_tokens:
            # The API requires budget_tokens < max_tokens; leave room for the answer itself.
            body["max_tokens"] = budget + max_tokens
    if stream:
        body["stream"] = True
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p
    if top_k is not None:
        body["top_k"] = top_k
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if extra_body:
        body.update(extra_body)
    return body


# --- response ------------------------------------------------------------------------


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) else 0


def parse_usage(u: Mapping[str, Any] | None) -> Usage:
    if not u:
        return Usage(known=False)
    uncached = _int(u.get("input_tokens"))
    read = _int(u.get("cache_read_input_tokens"))
    write = _int(u.get("cache_creation_input_tokens"))
    details = u.get("output_tokens_details")
    return Usage(
        input_tokens=uncached + read + write,
        output_tokens=_int(u.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=_int(details.get("thinking_tokens")) if isinstance(details, Mapping) else 0,
    )


def _raise_error_body(body: Mapping[str, Any], provider: str, url: str | None, model: str | None) -> None:
    from .._classify import error_from_response

    err = body.get("error")
    etype = err.get("type") if isinstance(err, Mapping) else None
    raise error_from_response(error_status(etype), body, provider=provider, url=url, model=model)


_API = "Anthropic Messages"


def parse_response(
    body: Mapping[str, Any],
    *,
    provider: str,
    latency: float = 0.0,
    url: str | None = None,
    model: str | None = None,
) -> Response:
    """A non-streamed Message. A 200 body of ``{"type": "error", ...}`` raises; so does a field of
    the wrong type (a ``ProviderError``, never a Python error)."""
    if not isinstance(body, Mapping):
        raise E.ProviderError(f"unexpected response body: {str(body)[:200]}", provider=provider, url=url)
    if body.get("type") == "error" or (body.get("error") is not None and "content" not in body):
        _raise_error_body(body, provider, url, model)
    try:
        return _parse_response(body, provider, latency, url, model)
    except SHAPE_ERRORS as exc:
        raise shape_error(exc, body, api=_API, provider=provider, url=url, model=model) from None


def _tool_use(block: Mapping[str, Any], ncalls: int) -> ToolCall:
    args = block.get("input")
    return ToolCall(
        id=text_or_none(block.get("id"), "tool_use.id") or f"toolu_{ncalls}",
        name=text_or_none(block.get("name"), "tool_use.name") or "",
        arguments=dict(args) if isinstance(args, Mapping) else {},
        raw_arguments=json.dumps(args if args is not None else {}),
    )


def _parse_response(body: Mapping[str, Any], provider: str, latency: float, url: str | None, model: str | None) -> Response:
    text: list[str] = []
    thinking: list[str] = []
    signature: str | None = None
    calls: list[ToolCall] = []
    content = body.get("content") or ()
    if not isinstance(content, (list, tuple)):
        raise wrong_type("content", content, "a list of blocks")
    for block in content:
        if not isinstance(block, Mapping):
            continue
        btype = block.get("type")
        if btype == "text":
            text.append(block.get("text") or "")
        elif btype == "thinking":
            thinking.append(block.get("thinking") or "")
            signature = text_or_none(block.get("signature"), "thinking.signature") or signature
        elif btype == "tool_use":
            calls.append(_tool_use(block, len(calls)))
        # every other block type stays in ``raw`` only
    finish = map_stop_reason(text_or_none(body.get("stop_reason"), "stop_reason"))
    if calls and finish == "stop":
        finish = "tool_calls"
    return Response(
        text="".join(text),
        tool_calls=calls,
        finish_reason=finish,  # type: ignore[arg-type]
        model=text_or_none(body.get("model"), "model") or model or "",
        provider=provider,
        usage=parse_usage(body.get("usage")),
        latency=latency,
        thinking="".join(thinking) or None,
        thinking_signature=signature,
        id=text_or_none(body.get("id"), "id"),
        raw=body,
    )


# --- streaming -----------------------------------------------------------------------


class _Block:
    __slots__ = ("data", "parts", "call_index")

    def __init__(self, data: dict[str, Any], call_index: int | None) -> None:
        self.data = data
        self.parts: list[str] = []
        """Delta fragments: text, thinking, or ``input_json_delta`` (tool_use and server-tool blocks)."""
        self.call_index = call_index


class MessagesStreamAccumulator(StreamAssembler):
    """The Messages mapping: stream events into parts and events; the shared ``StreamAssembler``
    makes the Response at ``message_stop``.

    Content blocks are kept by their ``index`` (their position in the final message), so the
    assembled ``raw`` message has every block, including types we do not model. Tool calls get
    their own 0-based index in order of appearance, as in Chat Completions, so a caller sees the
    same ``ToolCallDelta.index`` sequence from every provider."""

    __slots__ = ("blocks", "ncalls", "stop_sequence", "usage_raw")

    API = _API
    FINISH = _STOP
    CALL_ID_PREFIX = "toolu_"

    def __init__(self, *, provider: str, model: str, url: str | None = None) -> None:
        super().__init__(provider=provider, model=model, url=url)
        self.blocks: dict[int, _Block] = {}
        self.ncalls = 0
        self.stop_sequence: str | None = None
        self.usage_raw: dict[str, Any] = {}

    @property
    def stop_reason(self) -> str | None:
        return self.finish

    def take(self, item: Any) -> list[StreamEvent]:
        """One SSE event (or an already parsed event) → events. An ``error`` event raises the mapped error."""
        ev = _event_data(item, self) if type(item) is SSEEvent else item
        self.seen = ev
        etype = ev.get("type")
        if etype == "content_block_delta":
            return self._block_delta(ev)
        if etype == "content_block_start":
            return self._block_start(ev)
        if etype == "content_block_stop":
            return []
        if etype == "message_start":
            msg = ev.get("message") or {}
            self.id = text_or_none(msg.get("id"), "message.id")
            model = text_or_none(msg.get("model"), "message.model")
            if model:
                self.model = model
            self._add_usage(msg.get("usage") or {})
            return []
        if etype == "message_delta":
            return self._message_delta(ev)
        if etype == "message_stop":
            self.done = True
            return []
        if etype == "error":
            _raise_error_body(ev, self.provider, self._url, self.model)
        return []  # ping and event types added later

    def _add_usage(self, usage: Mapping[str, Any]) -> None:
        """Cumulative counts: later values replace earlier ones."""
        self.usage_raw.update({k: v for k, v in usage.items() if v is not None})
        self.usage = parse_usage(self.usage_raw)

    def _block(self, ev: Mapping[str, Any]) -> _Block | None:
        """The block a delta is for (None if it never started: the delta is dropped)."""
        index = ev.get("index")
        if index is None:
            return None
        if type(index) is not int:
            raise wrong_type("index", index, "an integer")
        return self.blocks.get(index)

    def _block_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        delta = ev.get("delta") or {}
        dtype = delta.get("type")
        block = self._block(ev)
        if dtype == "text_delta":
            t = text_or_none(delta.get("text"), "delta.text")
            if not t or block is None:
                return []
            block.parts.append(t)
            self.text.append(t)
            return [TextDelta(t)]
        if dtype == "input_json_delta":
            frag = text_or_none(delta.get("partial_json"), "delta.partial_json")
            if block is None or not frag:
                return []
            block.parts.append(frag)
            if block.call_index is not None:
                return [self.tool_part(block.call_index, None, None, frag)]
            return []
        if dtype == "thinking_delta":
            t = text_or_none(delta.get("thinking"), "delta.thinking")
            if not t or block is None:
                return []
            block.parts.append(t)
            self.thinking.append(t)
            return [ThinkingDelta(t)]
        if dtype == "signature_delta":
            sig = text_or_none(delta.get("signature"), "delta.signature")
            if not sig:
                return []
            if block is not None:
                block.data["signature"] = sig
                if block.data.get("type") == "thinking":
                    self.signature = sig
            return [ThinkingDelta("", signature=sig)]
        if dtype == "citations_delta" and block is not None and delta.get("citation") is not None:
            block.data.setdefault("citations", []).append(delta["citation"])
        return []

    def _block_start(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        index = ev.get("index", len(self.blocks))
        if type(index) is not int:
            raise wrong_type("index", index, "an integer")
        data = dict(ev.get("content_block") or {})
        btype = data.get("type")
        call_index = None
        out: list[StreamEvent] = []
        if btype == "tool_use":
            call_index = self.ncalls
            self.ncalls += 1
            call_id = text_or_none(data.get("id"), "tool_use.id")
            name = text_or_none(data.get("name"), "tool_use.name")
            out.append(self.tool_part(call_index, call_id, name, ""))
            args = data.get("input")
            call = self.calls[call_index]
            call.arguments = dict(args) if isinstance(args, Mapping) else {}
            call.raw = "{}"
        block = self.blocks[index] = _Block(data, call_index)
        if btype == "text" or btype == "thinking":
            t = text_or_none(data.get(btype), f"{btype}.{btype}")
            if t:
                block.parts.append(t)
                if btype == "text":
                    self.text.append(t)
                    out.append(TextDelta(t))
                else:
                    self.thinking.append(t)
                    out.append(ThinkingDelta(t))
            if btype == "thinking":
                self.signature = text_or_none(data.get("signature"), "thinking.signature") or self.signature
        return out

    def _message_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        delta = ev.get("delta") or {}
        reason = text_or_none(delta.get("stop_reason"), "delta.stop_reason")
        if reason:
            self.finish = reason
        if "stop_sequence" in delta:
            self.stop_sequence = text_or_none(delta["stop_sequence"], "delta.stop_sequence")
        usage = ev.get("usage")
        if usage:
            self._add_usage(usage)
            return [UsageEvent(self.usage)]  # type: ignore[arg-type]
        return []

    def end_problem(self, decoder: Any) -> str | None:
        return None if self.done else "no message_stop"

    def shape_error(self, exc: BaseException, obj: Any = None) -> E.ProviderError:
        seen = obj if obj is not None else self.seen if not self.done else {"stop_reason": self.finish, "usage": self.usage_raw}
        return super().shape_error(exc, seen)

    def _raw(self, calls: list[ToolCall]) -> dict[str, Any]:
        """The stream as the non-streamed Message would read: every block, in index order."""
        content: list[dict[str, Any]] = []
        for _, block in sorted(self.blocks.items()):
            data = block.data
            btype = data.get("type")
            joined = "".join(block.parts)
            if btype == "text":
                data["text"] = joined
            elif btype == "thinking":
                data["thinking"] = joined
            elif joined:
                # tool_use and server-tool blocks: input arrives as JSON fragments
                data["input"] = parse_tool_arguments(joined)
            content.append(data)
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.finish,
            "stop_sequence": self.stop_sequence,
            "usage": dict(self.usage_raw),
        }


def _event_data(ev: SSEEvent, acc: MessagesStreamAccumulator) -> dict[str, Any]:
    """One SSE event's JSON object; an ``event: error`` whose data is not Anthropic-shaped is made so."""
    try:
        data = loads(ev.data)
    except (ValueError, RecursionError):
        raise E.ProviderError(
            f"malformed stream event: {ev.data[:200]!r}",
            provider=acc.provider,
            url=acc._url,
            hint="the server sent an event that is not JSON; is the base URL an Anthropic endpoint?",
        ) from None
    if type(data) is not dict:
        raise E.ProviderError(f"unexpected stream event: {ev.data[:200]!r}", provider=acc.provider, url=acc._url)
    if ev.event == "error" and data.get("type") != "error":
        data = {"type": "error", "error": data.get("error", data)}
    return data


def iter_stream(
    chunks: AsyncIterator[bytes], acc: MessagesStreamAccumulator, *, limits: Limits = DEFAULT_LIMITS
) -> AsyncIterator[StreamEvent | Response]:
    """Decode an SSE body into events, ending with the assembled Response (see ``assemble.drive``).

    A ``data:`` that is not JSON raises; an ``error`` event raises the mapped error; a body that
    ends before ``message_stop`` is a cut stream (ProviderConnectionError)."""
    return drive(acc, sse_decoder(acc, limits), given(chunks))
