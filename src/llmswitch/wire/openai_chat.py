"""OpenAI Chat Completions: our types to and from the wire, plain and streamed.

Shared by OpenAI, OpenRouter, LM Studio, vLLM, llama.cpp's ``/v1`` and any compatible server.
Reference: ``reference/wire-protocols.md`` §4 (from openai-python's OpenAPI spec). Usage
convention used throughout llmswitch: ``input_tokens`` counts every prompt token, cached or
not, so ``cache_read_tokens`` is a part of it (as OpenAI reports ``prompt_tokens``).
"""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator, Iterable, Mapping

from .. import errors as E
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
from .sse import SSEDecoder

__all__ = [
    "build_request",
    "messages_to_wire",
    "tool_to_wire",
    "parse_usage",
    "parse_response",
    "normalize_finish_reason",
    "ChatStreamAccumulator",
    "iter_stream",
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


def parse_tool_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Arguments are a JSON string the model may have garbled; a bad one gives ``{}`` and the raw
    text stays on ``ToolCall.raw_arguments`` so the caller can tell the model."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _tokens_per_second(timings: Mapping[str, Any] | None) -> float | None:
    if not timings:
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
    from ..transport import error_from_response

    raise error_from_response(body_error_status(body["error"]), body, provider=provider, url=url, model=model)


def parse_response(
    body: Mapping[str, Any],
    *,
    provider: str,
    latency: float = 0.0,
    url: str | None = None,
    model: str | None = None,
) -> Response:
    """A non-streamed completion. A 200 whose body carries ``error`` (OpenRouter, LM Studio) raises."""
    if type(body) is not dict and not isinstance(body, Mapping):  # exact-type check first: the ABC check is slow
        raise E.ProviderError(f"unexpected response body: {str(body)[:200]}", provider=provider, url=url)
    if body.get("error") is not None:
        _raise_body_error(body, provider, url, model)
    choices = body.get("choices")
    if not choices:
        raise E.ProviderError("the response has no choices", provider=provider, url=url, details=body)
    choice = choices[0]
    msg = choice.get("message") or {}
    raw_calls = msg.get("tool_calls")
    tool_calls = [
        ToolCall(
            id=tc.get("id") or f"call_{i}",
            name=(tc.get("function") or {}).get("name") or "",
            arguments=parse_tool_arguments((tc.get("function") or {}).get("arguments")),
            raw_arguments=(tc.get("function") or {}).get("arguments"),
        )
        for i, tc in enumerate(raw_calls)
    ] if raw_calls else []
    finish = normalize_finish_reason(choice.get("finish_reason"))
    if tool_calls and finish == "stop":
        finish = "tool_calls"
    content = msg.get("content")
    if isinstance(content, list):  # some compatible servers return parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    thinking = msg.get("reasoning_content") or msg.get("reasoning")
    return Response(
        text=content or "",
        tool_calls=tool_calls,
        finish_reason=finish,  # type: ignore[arg-type]
        model=body.get("model") or model or "",
        provider=provider,
        usage=parse_usage(body.get("usage")),
        latency=latency,
        thinking=thinking if isinstance(thinking, str) and thinking else None,
        id=body.get("id"),
        tokens_per_second=_tokens_per_second(body.get("timings")),
        raw=body,
    )


class _PendingCall:
    __slots__ = ("id", "name", "args")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []


_DELTA_MODELLED = frozenset({"role", "content", "reasoning", "reasoning_content", "tool_calls"})


class ChatStreamAccumulator:
    """Turns Chat Completions chunks into events and, at the end, one Response.

    Tool calls are keyed by their ``index``; ``id`` and ``name`` are set once (first non-empty
    wins), never concatenated, because some servers repeat them on every delta (§4.4)."""

    __slots__ = (
        "provider", "model", "started", "text", "thinking", "calls", "finish", "usage", "id",
        "timings", "done", "last_chunk", "_url", "usage_raw", "extras", "thinking_key",
    )

    def __init__(self, *, provider: str, model: str, url: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.started = time.perf_counter()
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.calls: dict[int, _PendingCall] = {}
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.id: str | None = None
        self.timings: Mapping[str, Any] | None = None
        self.done = False
        self.last_chunk: Any = None
        self._url = url
        self.usage_raw: Any = None
        self.extras: dict[str, Any] = {}
        """Message fields we do not model (annotations, reasoning_details, refusal...), assembled
        across deltas so ``raw`` keeps what the non-streamed completion would have carried."""
        self.thinking_key = "reasoning"

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        if chunk.get("error") is not None:
            _raise_body_error(chunk, self.provider, self._url, self.model)
        self.last_chunk = chunk
        events: list[StreamEvent] = []
        if self.id is None:
            self.id = chunk.get("id")
            m = chunk.get("model")
            if m:
                self.model = m
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                events.append(TextDelta(content))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
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
                    idx = tc.get("index", 0)
                    call = self.calls.get(idx)
                    if call is None:
                        call = self.calls[idx] = _PendingCall()
                    fn = tc.get("function") or {}
                    if tc.get("id") and not call.id:
                        call.id = tc["id"]
                    if fn.get("name") and not call.name:
                        call.name = fn["name"]
                    args = fn.get("arguments") or ""
                    if args:
                        call.args.append(args)
                    events.append(ToolCallDelta(idx, tc.get("id"), fn.get("name"), args))
            fr = choice.get("finish_reason")
            if fr:
                self.finish = fr
        usage = chunk.get("usage")
        if usage:
            self.usage_raw = usage
            self.usage = parse_usage(usage)
            events.append(UsageEvent(self.usage))
        timings = chunk.get("timings")
        if timings:
            self.timings = timings
        return events

    def _extra(self, key: str, value: Any) -> None:
        prev = self.extras.get(key)
        if isinstance(value, list):
            self.extras[key] = (prev if isinstance(prev, list) else []) + value
        elif isinstance(value, str) and isinstance(prev, str):
            self.extras[key] = prev + value
        else:
            self.extras[key] = value

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
        raw = dict(self.last_chunk) if isinstance(self.last_chunk, Mapping) else {}
        raw.update(object="chat.completion", choices=[{"index": 0, "message": msg, "finish_reason": self.finish}])
        if self.usage_raw is not None:
            raw["usage"] = self.usage_raw
        return raw

    def result(self) -> Response:
        calls = [
            ToolCall(
                id=c.id or f"call_{i}",
                name=c.name or "",
                arguments=parse_tool_arguments("".join(c.args)),
                raw_arguments="".join(c.args),
            )
            for i, c in sorted(self.calls.items())
        ]
        finish = normalize_finish_reason(self.finish)
        if calls and finish in (None, "stop"):
            finish = "tool_calls"
        return Response(
            text="".join(self.text),
            tool_calls=calls,
            finish_reason=finish,  # type: ignore[arg-type]
            model=self.model,
            provider=self.provider,
            usage=self.usage if self.usage is not None else Usage(known=False),
            latency=time.perf_counter() - self.started,
            thinking="".join(self.thinking) or None,
            id=self.id,
            tokens_per_second=_tokens_per_second(self.timings),
            raw=self._raw(calls),
        )


def _on_event(ev: Any, acc: ChatStreamAccumulator) -> list[StreamEvent]:
    data = ev.data
    if data == "[DONE]":
        acc.done = True
        return []
    try:
        chunk = json.loads(data)
    except ValueError:
        raise E.ProviderError(
            f"malformed stream chunk: {data[:200]!r}",
            provider=acc.provider,
            url=acc._url,
            hint="the server sent a line that is not JSON; check it is OpenAI-compatible",
        ) from None
    if not isinstance(chunk, dict):
        raise E.ProviderError(f"unexpected stream chunk: {data[:200]!r}", provider=acc.provider, url=acc._url)
    if ev.event == "error" and "error" not in chunk:
        chunk = {"error": chunk}
    return acc.feed(chunk)


async def iter_stream(
    chunks: AsyncIterator[bytes], acc: ChatStreamAccumulator
) -> AsyncIterator[StreamEvent | Response]:
    """Decode an SSE body into events, ending with the assembled Response.

    A ``data:`` that is not JSON is an error, never skipped; an ``error`` payload raises the mapped
    error; a body that ends before ``[DONE]`` or a finish reason is a cut stream."""
    decoder = SSEDecoder()
    async for raw in chunks:
        for ev in decoder.iter_feed(raw):
            for out in _on_event(ev, acc):
                yield out
    for ev in decoder.close():
        for out in _on_event(ev, acc):
            yield out
    if not acc.done and acc.finish is None:
        raise E.ProviderConnectionError(
            "the stream ended before it was complete (no [DONE] / finish_reason)",
            provider=acc.provider,
            url=acc._url,
            hint="the connection was cut or the server crashed mid-answer; retry",
        )
    yield acc.result()
