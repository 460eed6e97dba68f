"""OpenAI Chat Completions: our types to and from the wire, plain and streamed.

Shared by OpenAI, OpenRouter, LM Studio, vLLM, llama.cpp's ``/v1`` and any compatible server.
Reference: ``reference/wire-protocols.md`` §4 (from openai-python's OpenAPI spec). Usage
convention used throughout llmswitch: ``input_tokens`` counts every prompt token, cached or
not, so ``cache_read_tokens`` is a part of it (as OpenAI reports ``prompt_tokens``).
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
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from .assemble import StreamAssembler, drive, given, parse_tool_arguments
from .framing import SHAPE_ERRORS, loads, shape_error, text_or_none, wrong_type
from .sse import SSEDecoder, SSEEvent

__all__ = [
    "build_request",
    "messages_to_wire",
    "tool_to_wire",
    "asks_for_usage",
    "parse_usage",
    "parse_response",
    "normalize_finish_reason",
    "ChatStreamAccumulator",
    "iter_stream",
    "sse_decoder",
    "parse_tool_arguments",
]

_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "error": "error",
}


def normalize_finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return _FINISH.get(reason, "stop")


def _part_to_wire(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.as_data_url()}}
    raise TypeError(f"unsupported content part: {part!r}")


def messages_to_wire(messages: Iterable[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role}
        c = m.content
        if c is None or isinstance(c, str):
            d["content"] = c
        else:
            d["content"] = [_part_to_wire(p) for p in c]
        if m.tool_calls:
            d["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {
                        "name": tc.name,
                        "arguments": tc.raw_arguments if tc.raw_arguments is not None else json.dumps(tc.arguments),
                    },
                }
                for tc in m.tool_calls
            ]
        if m.role == "tool":
            d["tool_call_id"] = m.tool_call_id
            if d["content"] is None:
                d["content"] = ""
        if m.name and m.role != "tool":
            d["name"] = m.name
        out.append(d)
    return out


def tool_to_wire(tool: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        fn["description"] = tool.description
    return {"type": "function", "function": fn}


def build_request(
    model: str,
    messages: Iterable[Message],
    *,
    tools: Iterable[Tool] | None = None,
    stream: bool = False,
    include_usage: bool = True,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | list[str] | None = None,
    tool_choice: Any = None,
    response_format: Any = None,
    extra_body: Mapping[str, Any] | None = None,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages_to_wire(messages)}
    if tools:
        body["tools"] = [tool_to_wire(t) for t in tools]
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body[max_tokens_field] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p
    if stop is not None:
        body["stop"] = stop
    if response_format is not None:
        body["response_format"] = response_format
    if extra_body:
        body.update(extra_body)
    return body


def asks_for_usage(body: Mapping[str, Any]) -> bool:
    """Whether a request body asks for the usage chunk (``stream_options.include_usage``)."""
    opts = body.get("stream_options")
    return (type(opts) is dict or isinstance(opts, Mapping)) and bool(opts.get("include_usage"))


def parse_usage(u: Mapping[str, Any] | None) -> Usage:
    if not u:
        return Usage(known=False)
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    cost = u.get("cost")
    return Usage(
        input_tokens=int(u.get("prompt_tokens") or 0),
        output_tokens=int(u.get("completion_tokens") or 0),
        cache_read_tokens=int(ptd.get("cached_tokens") or 0),
        cache_write_tokens=int(ptd.get("cache_write_tokens") or 0),
        reasoning_tokens=int(ctd.get("reasoning_tokens") or 0),
        cost=float(cost) if isinstance(cost, (int, float)) else None,
    )


def _tokens_per_second(timings: Any) -> float | None:
    """llama.cpp's ``timings.predicted_per_second``; anything else (absent, another shape) is no figure."""
    if timings is None or (type(timings) is not dict and not isinstance(timings, Mapping)):  # the ABC check is slow
        return None
    tps = timings.get("predicted_per_second")
    return float(tps) if isinstance(tps, (int, float)) else None


def body_error_status(err: Any) -> int:
    """The HTTP status an error object that arrived with a 200 stands for.

    OpenRouter and llama.cpp put the status in ``code``; an OpenAI-style object names a
    ``server_error``/overload in ``type``; a bare string (LM Studio, Ollama) is a refusal of the
    request, not an outage, so it must not be retried as a 5xx."""
    if isinstance(err, dict):
        code = err.get("code")
        if isinstance(code, int) and 400 <= code < 600:
            return code
        etype = str(err.get("type") or "").lower()
        if any(w in etype for w in ("server", "overload", "unavailable", "api_error")):
            return 500
    return 400


def _raise_body_error(body: Mapping[str, Any], provider: str, url: str | None, model: str | None) -> None:
    from .._classify import error_from_response

    raise error_from_response(body_error_status(body["error"]), body, provider=provider, url=url, model=model)


_API = "OpenAI Chat Completions"


def _finish_error(obj: Any, provider: str, url: str | None, model: str | None) -> E.ProviderError:
    """A choice that ended with ``finish_reason: "error"`` and no error object (OpenRouter when an
    upstream failed mid-answer): the answer is incomplete, never a normal Response."""
    return E.ProviderUnavailableError(
        'the server ended the answer with finish_reason "error"',
        provider=provider,
        url=url,
        model=model,
        details=obj,
        hint="the model or an upstream provider failed mid-answer; retry",
    )


def parse_response(
    body: Mapping[str, Any],
    *,
    provider: str,
    latency: float = 0.0,
    url: str | None = None,
    model: str | None = None,
) -> Response:
    """A non-streamed completion. A 200 whose body carries ``error`` (OpenRouter, LM Studio) raises;
    so does a field of the wrong type (a ``ProviderError``, never a Python error)."""
    if type(body) is not dict and not isinstance(body, Mapping):  # exact-type check first: the ABC check is slow
        raise E.ProviderError(f"unexpected response body: {str(body)[:200]}", provider=provider, url=url)
    if body.get("error") is not None:
        _raise_body_error(body, provider, url, model)
    try:
        return _parse_response(body, provider, latency, url, model)
    except SHAPE_ERRORS as exc:
        raise shape_error(exc, body, api=_API, provider=provider, url=url, model=model) from None


def _message_text(content: Any) -> str:
    """``message.content``: a string, or (some compatible servers) a list of text parts."""
    if isinstance(content, list):
        return "".join(text_or_none(p.get("text"), "content[].text") or "" for p in content if isinstance(p, dict))
    return text_or_none(content, "message.content") or ""


def _tool_call(i: int, tc: Mapping[str, Any]) -> ToolCall:
    fn = tc.get("function") or {}
    args = fn.get("arguments")
    return ToolCall(
        id=text_or_none(tc.get("id"), "tool_calls[].id") or f"call_{i}",
        name=text_or_none(fn.get("name"), "tool_calls[].function.name") or "",
        arguments=parse_tool_arguments(args),
        raw_arguments=args if args is None or isinstance(args, str) else json.dumps(args),
    )


def _parse_response(body: Mapping[str, Any], provider: str, latency: float, url: str | None, model: str | None) -> Response:
    choices = body.get("choices")
    if not choices:
        raise E.ProviderError("the response has no choices", provider=provider, url=url, details=body)
    choice = choices[0]
    msg = choice.get("message") or {}
    raw_calls = msg.get("tool_calls")
    tool_calls = [_tool_call(i, tc) for i, tc in enumerate(raw_calls)] if raw_calls else []
    reason = text_or_none(choice.get("finish_reason"), "finish_reason")
    if reason == "error":
        raise _finish_error(body, provider, url, model)
    finish = normalize_finish_reason(reason)
    if tool_calls and finish == "stop":
        finish = "tool_calls"
    thinking = msg.get("reasoning_content") or msg.get("reasoning")
    return Response(
        text=_message_text(msg.get("content")),
        tool_calls=tool_calls,
        finish_reason=finish,  # type: ignore[arg-type]
        model=text_or_none(body.get("model"), "model") or model or "",
        provider=provider,
        usage=parse_usage(body.get("usage")),
        latency=latency,
        thinking=thinking if isinstance(thinking, str) and thinking else None,
        id=text_or_none(body.get("id"), "id"),
        tokens_per_second=_tokens_per_second(body.get("timings")),
        raw=body,
    )


def _differs(new: str | None, old: str | None) -> bool:
    return bool(new and old and new != old)


_DELTA_MODELLED = frozenset({"role", "content", "reasoning", "reasoning_content", "tool_calls"})


class ChatStreamAccumulator(StreamAssembler):
    """The Chat Completions mapping: chunks (SSE events) into parts and events; the shared
    ``StreamAssembler`` makes the Response.

    Tool calls are keyed by their ``index``; ``id`` and ``name`` are set once (first non-empty
    wins), never concatenated, because some servers repeat them on every delta (§4.4). A delta
    without ``index`` continues the last call, unless it names a different ``id`` (or function):
    then it is the next call, so two whole calls sent without indexes stay two calls.
    ``expect_usage`` says the request asked for the usage chunk, so an end without ``[DONE]`` is
    a cut stream (the usage may be what was lost)."""

    __slots__ = ("timings", "usage_raw", "extras", "thinking_key", "expect_usage", "_last_call")

    API = _API
    FINISH = _FINISH

    def __init__(self, *, provider: str, model: str, url: str | None = None, expect_usage: bool = False) -> None:
        super().__init__(provider=provider, model=model, url=url)
        self.timings: Mapping[str, Any] | None = None
        self.usage_raw: Any = None
        self.extras: dict[str, Any] = {}
        """Message fields we do not model (annotations, reasoning_details, refusal...), assembled
        across deltas so ``raw`` keeps what the non-streamed completion would have carried."""
        self.thinking_key = "reasoning"
        self.expect_usage = expect_usage
        self._last_call: int | None = None

    @property
    def last_chunk(self) -> Any:
        return self.seen

    def take(self, item: Any) -> list[StreamEvent]:
        """One SSE event (or an already parsed chunk, as ``feed`` is given by LiteLLM) → events.
        ``[DONE]`` ends the stream; a ``data:`` that is not a JSON object is an error, never
        skipped; an ``error`` (object, event or finish reason) raises the mapped error."""
        if type(item) is not SSEEvent:
            chunk = item
        else:
            data = item.data
            if data == "[DONE]":
                self.done = True
                return []
            try:
                chunk = loads(data)
            except (ValueError, RecursionError):
                raise E.ProviderError(
                    f"malformed stream chunk: {data[:200]!r}",
                    provider=self.provider,
                    url=self._url,
                    hint="the server sent a line that is not JSON; check it is OpenAI-compatible",
                ) from None
            if type(chunk) is not dict:
                raise E.ProviderError(f"unexpected stream chunk: {data[:200]!r}", provider=self.provider, url=self._url)
            if item.event == "error" and "error" not in chunk:
                chunk = {"error": chunk}
        self.seen = chunk
        if chunk.get("error") is not None:
            _raise_body_error(chunk, self.provider, self._url, self.model)
        events: list[StreamEvent] = []
        if self.id is None:
            self.id = text_or_none(chunk.get("id"), "id")
            m = text_or_none(chunk.get("model"), "model")
            if m:
                self.model = m
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                if type(content) is not str:
                    raise wrong_type("delta.content", content, "a string")
                self.text.append(content)
                events.append(TextDelta(content))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                if type(reasoning) is not str:
                    raise wrong_type("delta.reasoning", reasoning, "a string")
                if not self.thinking and delta.get("reasoning_content"):
                    self.thinking_key = "reasoning_content"
                self.thinking.append(reasoning)
                events.append(ThinkingDelta(reasoning))
            for k, v in delta.items():
                if v and k not in _DELTA_MODELLED:
                    self._extra(k, v)
            tcs = delta.get("tool_calls")
            if tcs:
                for tc in tcs:
                    events.append(self._tool_delta(tc))
            fr = choice.get("finish_reason")
            if fr:
                if fr == "error":
                    raise _finish_error(chunk, self.provider, self._url, self.model)
                self.finish = text_or_none(fr, "finish_reason")
        usage = chunk.get("usage")
        if usage:
            self.usage_raw = usage
            self.usage = parse_usage(usage)
            events.append(UsageEvent(self.usage))
        timings = chunk.get("timings")
        if timings:
            self.timings = timings
        return events

    def _tool_delta(self, tc: Mapping[str, Any]) -> ToolCallDelta:
        """One tool-call delta: its call (see ``_call_index``), ``id`` and ``name`` once, ``arguments`` appended."""
        fn = tc.get("function") or {}
        call_id = text_or_none(tc.get("id"), "tool_calls[].id")
        name = text_or_none(fn.get("name"), "tool_calls[].function.name")
        args = fn.get("arguments") or ""
        if type(args) is not str:
            if not isinstance(args, Mapping):
                raise wrong_type("tool_calls[].function.arguments", args, "a string")
            args = json.dumps(args)  # a whole object instead of a JSON fragment: same meaning
        return self.tool_part(self._call_index(tc.get("index"), call_id, name), call_id, name, args)

    def _call_index(self, index: Any, call_id: str | None, name: str | None) -> int:
        """The call a delta belongs to: its ``index``; without one, the last call, or the next one
        when the delta's ``id`` (or function name) differs from the last call's."""
        if type(index) is int:
            self._last_call = index
            return index
        if index is not None:
            raise wrong_type("tool_calls[].index", index, "an integer")
        last = self._last_call
        if last is None:
            idx = max(self.calls, default=-1) + 1
        else:
            prev = self.calls[last]
            idx = max(self.calls) + 1 if _differs(call_id, prev.id) or _differs(name, prev.name) else last
        self._last_call = idx
        return idx

    def _extra(self, key: str, value: Any) -> None:
        prev = self.extras.get(key)
        if isinstance(value, list):
            self.extras[key] = (prev if isinstance(prev, list) else []) + value
        elif isinstance(value, str) and isinstance(prev, str):
            self.extras[key] = prev + value
        else:
            self.extras[key] = value

    def end_problem(self, decoder: Any) -> str | None:
        """Why a stream that reached EOF is incomplete, or None if it ended as the protocol says.

        ``[DONE]`` is the end. Without it: bytes of an unfinished event mean the connection was cut
        mid-event (a final ``data: [DONE]`` without its blank line is still the end); no finish
        reason means the answer was cut; and when the request asked for the usage chunk, which
        comes after the finish reason, its absence may be exactly what was lost."""
        if self.done:
            return None
        if decoder.pending:
            return None if decoder.pending_data == "[DONE]" and not decoder.pending_line else "an unfinished event was pending"
        if self.finish is None:
            return "no [DONE] / finish_reason"
        if self.expect_usage:
            return "no [DONE] after the finish_reason; the usage chunk that was asked for may be lost"
        return None

    def _tokens_per_second(self) -> float | None:
        return _tokens_per_second(self.timings)

    def _raw(self, calls: list[ToolCall]) -> dict[str, Any]:
        """The stream as the non-streamed ``chat.completion`` body would read: the last chunk's
        top-level fields, the usage chunk, and one assembled message."""
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.thinking:
            msg[self.thinking_key] = "".join(self.thinking)
        if calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}} for c in calls
            ]
        msg.update(self.extras)
        raw = dict(self.seen) if isinstance(self.seen, Mapping) else {}
        raw.update(object="chat.completion", choices=[{"index": 0, "message": msg, "finish_reason": self.finish}])
        if self.usage_raw is not None:
            raw["usage"] = self.usage_raw
        return raw


def iter_stream(
    chunks: AsyncIterator[bytes], acc: ChatStreamAccumulator, *, limits: Limits = DEFAULT_LIMITS
) -> AsyncIterator[StreamEvent | Response]:
    """Decode an SSE body into events, ending with the assembled Response (see ``drive``).

    A ``data:`` that is not JSON is an error, never skipped; an ``error`` payload raises the mapped
    error; a body that ends incomplete (see ``end_problem``) is a cut stream, retryable."""
    return drive(acc, sse_decoder(acc, limits), given(chunks))


def sse_decoder(acc: StreamAssembler, limits: Limits = DEFAULT_LIMITS) -> SSEDecoder:
    """The SSE framing for ``acc``'s stream, bounded by ``limits``."""
    return SSEDecoder(
        max_line_bytes=limits.max_line_bytes, max_event_bytes=limits.max_event_bytes, provider=acc.provider, url=acc.url
    )
