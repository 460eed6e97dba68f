"""Ollama's native ``/api/chat``: our types to and from the wire, plain and streamed (NDJSON).

Why native and not ``/v1``: Ollama's OpenAI layer silently drops ``num_ctx``, ``think`` and
``keep_alive`` (``reference/wire-protocols.md`` §1.10), and those are exactly the knobs a local
user needs. Shapes follow ``ollama:docs/api.md`` §Generate a chat completion (§1.8 of the
reference): one JSON object per line, the counters only on the final ``done: true`` line (and
omitted when zero), tool calls arrive whole with ``arguments`` as an object and, before
v0.12.10, without an ``id``. An ``{"error": ...}`` line can arrive inside an HTTP 200 stream
(§1.9); it is raised, never treated as the end of a reply.
"""

from __future__ import annotations

import hashlib
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
from .assemble import PendingCall, StreamAssembler, drive, given
from .framing import PartialLine, cut_stream, loads, not_utf8, pieces, text_or_none, wrong_type
from .openai_chat import tool_to_wire

__all__ = [
    "TOP_LEVEL_PARAMS",
    "build_request",
    "messages_to_wire",
    "NDJSONDecoder",
    "iter_ndjson",
    "OllamaChatAccumulator",
    "iter_chat_stream",
    "ndjson_decoder",
    "error_from_line",
    "pull_hint",
    "refine_error",
    "tool_call_id",
]

TOP_LEVEL_PARAMS = frozenset({"think", "keep_alive", "format", "truncate", "shift", "logprobs", "top_logprobs"})
"""Request fields that sit beside ``options``; every other unknown parameter is a Modelfile option."""

_OPTION_ALIASES = {"max_tokens": "num_predict", "max_completion_tokens": "num_predict"}
_DROPPED = frozenset({"tool_choice", "extra_body", "options", "response_format", "stream"})


def pull_hint(model: str | None) -> str:
    name = model or "NAME"
    return f"the model is not pulled; run `llmswitch pull {name}` (or `ollama pull {name}`)"


def tool_call_id(index: int, name: str, arguments: Mapping[str, Any] | str) -> str:
    """A stable id for servers that send none: the same call always gets the same id, in the
    streamed delta and the final Response alike, so tool results can be matched back."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha1(f"{index}:{name}:{raw}".encode()).hexdigest()[:8]
    return f"call_{index}_{digest}"


# --- request ---------------------------------------------------------------------------------
def _tool_names_by_id(messages: Iterable[Message]) -> dict[str, str]:
    return {tc.id: tc.name for m in messages for tc in m.tool_calls}


def messages_to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Native message shape: text in ``content``, images as bare base64 in ``images``, tool
    results carry ``tool_name`` (Ollama matches results by name) and ``tool_call_id``."""
    names = _tool_names_by_id(messages)
    out: list[dict[str, Any]] = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role}
        c = m.content
        if c is None or isinstance(c, str):
            d["content"] = c or ""
        else:
            texts: list[str] = []
            images: list[str] = []
            for p in c:
                if isinstance(p, TextPart):
                    texts.append(p.text)
                elif isinstance(p, ImagePart):
                    try:
                        images.append(p.as_base64()[1])
                    except ValueError:
                        raise E.InvalidRequestError(
                            "Ollama takes images inline only, not as remote URLs",
                            provider="ollama",
                            hint="pass ImagePart(data=...) or ImagePart.from_path(...)",
                        ) from None
                else:
                    raise TypeError(f"unsupported content part: {p!r}")
            d["content"] = "".join(texts)
            if images:
                d["images"] = images
        if m.thinking and m.role == "assistant":
            d["thinking"] = m.thinking
        if m.tool_calls:
            d["tool_calls"] = [
                {"id": tc.id, "function": {"index": i, "name": tc.name, "arguments": tc.arguments}}
                for i, tc in enumerate(m.tool_calls)
            ]
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "")
            if name:
                d["tool_name"] = name
            if m.tool_call_id:
                d["tool_call_id"] = m.tool_call_id
        out.append(d)
    return out


def _format_from_response_format(rf: Any) -> Any:
    """OpenAI's ``response_format`` → Ollama's ``format`` (``"json"`` or a JSON schema)."""
    if not isinstance(rf, Mapping):
        return rf
    kind = rf.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        js = rf.get("json_schema") or {}
        return js.get("schema", js)
    return None


def build_request(
    model: str,
    messages: list[Message],
    *,
    tools: list[Tool] | None = None,
    stream: bool = True,
    params: Mapping[str, Any] | None = None,
    default_max_tokens: int | None = None,
) -> dict[str, Any]:
    """The ``/api/chat`` body. ``think``, ``keep_alive``, ``format`` … go top-level; ``num_ctx``,
    ``temperature``, ``max_tokens`` (as ``num_predict``) and any other parameter go into
    ``options``, merged over an explicit ``options={...}``."""
    params = dict(params or {})
    body: dict[str, Any] = {"model": model, "messages": messages_to_wire(messages), "stream": stream}
    if tools and params.get("tool_choice") != "none":
        body["tools"] = [tool_to_wire(t) for t in tools]
    options: dict[str, Any] = dict(params.get("options") or {})
    if default_max_tokens is not None and "max_tokens" not in params and "num_predict" not in options:
        options["num_predict"] = default_max_tokens
    for key, value in params.items():
        if value is None or key in _DROPPED:
            continue
        if key in TOP_LEVEL_PARAMS:
            body[key] = value
        else:
            options[_OPTION_ALIASES.get(key, key)] = value
    if "format" not in body and params.get("response_format") is not None:
        fmt = _format_from_response_format(params["response_format"])
        if fmt is not None:
            body["format"] = fmt
    if options:
        body["options"] = options
    return body


# --- NDJSON framing ----------------------------------------------------------------------------
class NDJSONDecoder:
    """Incremental: feed bytes as they come, get whole JSON objects back (one per line).

    Linear and bounded like ``SSEDecoder``: a partial line is held as pieces and joined once, and
    one longer than ``max_line_bytes`` raises ``ResponseTooLargeError``."""

    __slots__ = ("_line", "provider", "url")

    def __init__(
        self, *, provider: str = "ollama", url: str | None = None, max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes
    ) -> None:
        self._line = PartialLine(max_line_bytes, what="an NDJSON line", setting="max_line_bytes", provider=provider, url=url)
        self.provider = provider
        self.url = url

    def _parse(self, line: bytes) -> Any:
        try:
            return loads(line)
        except UnicodeDecodeError as exc:
            raise not_utf8(exc, provider=self.provider, url=self.url) from None
        except (ValueError, RecursionError):
            raise E.ProviderError(
                f"malformed stream line: {line[:200]!r}",
                provider=self.provider,
                url=self.url,
                hint="the server sent a line that is not JSON; is this an Ollama server?",
            ) from None

    def feed(self, chunk: bytes) -> list[Any]:
        line = self._line
        if len(chunk) > line.limit:
            return [obj for piece in pieces(chunk, line.limit) for obj in self.feed(piece)]
        if line.parts:
            joined = line.extend(chunk, chunk.find(b"\n"))
            if joined is None:
                return []
            chunk = joined
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            line.hold(tail)
        return [self._parse(x) for x in lines if x.strip()]

    iter_feed = feed  # what ``assemble.drive`` calls

    def flush(self) -> list[Any]:
        """A last line without its newline still counts if it is whole; a partial one means the
        stream was cut mid-line (retryable), not that the server sent garbage."""
        tail = self._line.take()
        if not tail.strip():
            return []
        try:
            return [json.loads(tail)]
        except (ValueError, RecursionError):
            raise cut_stream(f"in the middle of a line: {tail[:80]!r}", provider=self.provider, url=self.url) from None

    close = flush  # what ``assemble.drive`` calls at EOF


async def iter_ndjson(
    chunks: AsyncIterator[bytes],
    *,
    provider: str = "ollama",
    url: str | None = None,
    max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
) -> AsyncIterator[Any]:
    decoder = NDJSONDecoder(provider=provider, url=url, max_line_bytes=max_line_bytes)
    async for chunk in chunks:
        for obj in decoder.feed(chunk):
            yield obj
    for obj in decoder.flush():
        yield obj


# --- errors ------------------------------------------------------------------------------------
def error_from_line(
    body: Mapping[str, Any], *, provider: str, url: str | None, model: str | None = None
) -> E.ProviderError:
    """An ``{"error": "..."}`` line inside an HTTP 200 stream (chat or pull) as our error.

    The status stays 200 on the wire, so the class is chosen from the text: a missing model
    (``pull model manifest: file does not exist``, ``... not found``) cannot be fixed by
    retrying; a runner failure mid-answer can."""
    err = body.get("error")
    message = err if isinstance(err, str) else (err or {}).get("message") if isinstance(err, Mapping) else str(err)
    message = str(message or "unknown error")
    lowered = message.lower()
    kw: dict[str, Any] = dict(provider=provider, url=url, model=model, status_code=200, details=dict(body))
    if "does not support" in lowered:
        return E.CapabilityError(message, **kw)
    if "file does not exist" in lowered or "not found" in lowered:
        return E.ModelNotFoundError(message, hint=f"check the name; {pull_hint(model)}" if model else None, **kw)
    if "context" in lowered and ("length" in lowered or "window" in lowered):
        return E.ContextWindowExceededError(message, **kw)
    return E.ProviderUnavailableError(
        message, hint="the server failed while answering (reported inside the stream); retry or check its log", **kw
    )


def refine_error(err: E.ProviderError, model: str | None) -> E.ProviderError:
    """Give Ollama's HTTP errors the hint that fixes them: pull a missing model, or drop a
    feature (tools, thinking, images) the model does not have."""
    lowered = err.message.lower()
    kw: dict[str, Any] = dict(
        provider=err.provider, model=err.model or model, status_code=err.status_code, url=err.url,
        details=err.details, code=err.code,
    )
    if isinstance(err, E.ModelNotFoundError):
        return E.ModelNotFoundError(err.message, hint=pull_hint(model), **kw)
    if err.status_code == 400 and "does not support" in lowered:
        feature = next((f for f in ("tools", "thinking", "vision", "image", "chat") if f in lowered), "this feature")
        return E.CapabilityError(
            err.message,
            hint=f"{model or 'this model'} cannot do {feature}; check with `llmswitch show {model or 'NAME'}` "
            "(or `await provider.model_capabilities(model)`) and choose a model that can, or drop it from the request",
            **kw,
        )
    return err


# --- responses -----------------------------------------------------------------------------------
_DONE_REASONS = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


class OllamaChatAccumulator(StreamAssembler):
    """The ``/api/chat`` mapping: lines (streamed, or the one non-streamed object) into parts and
    events; the shared ``StreamAssembler`` makes the Response."""

    __slots__ = ("final",)

    API = "Ollama"

    def __init__(self, *, provider: str, model: str, url: str | None = None) -> None:
        super().__init__(provider=provider, model=model, url=url)
        self.final: Mapping[str, Any] | None = None

    def take(self, item: Any) -> list[StreamEvent]:
        """Events for one line; an ``{"error": ...}`` line raises (see ``error_from_line``)."""
        if type(item) is not dict and not isinstance(item, Mapping):
            raise E.ProviderError(f"unexpected stream line: {str(item)[:200]!r}", provider=self.provider, url=self._url)
        self.seen = item
        if item.get("error") is not None:
            raise error_from_line(item, provider=self.provider, url=self._url, model=self.model)
        events: list[StreamEvent] = []
        msg = item.get("message") or {}
        thinking = text_or_none(msg.get("thinking"), "message.thinking")
        if thinking:
            self.thinking.append(thinking)
            events.append(ThinkingDelta(thinking))
        content = text_or_none(msg.get("content"), "message.content")
        if content:
            self.text.append(content)
            events.append(TextDelta(content))
        for tc in msg.get("tool_calls") or ():
            events.append(self._call(tc))
        if item.get("done"):
            self.done = True
            self.final = item
            model = text_or_none(item.get("model"), "model")
            if model:
                self.model = model
            self.usage = _counts(item)
            events.append(UsageEvent(self.usage))
        return events

    def _call(self, tc: Mapping[str, Any]) -> ToolCallDelta:
        """One whole tool call; ``arguments`` is an object (a string from some servers)."""
        fn = tc.get("function") or {}
        name = text_or_none(fn.get("name"), "tool_calls[].function.name") or ""
        args = fn.get("arguments")
        if args is not None and not isinstance(args, (Mapping, str)):
            raise wrong_type("tool_calls[].function.arguments", args, "an object")
        raw = args if isinstance(args, str) else json.dumps(args if args is not None else {})
        index = len(self.calls)  # calls arrive whole; our own counter never collides across lines
        call_id = text_or_none(tc.get("id"), "tool_calls[].id") or tool_call_id(index, name, args if args is not None else {})
        call = self.calls[index] = PendingCall(call_id, name)
        call.arguments = dict(args if isinstance(args, Mapping) else _loads_object(raw))
        call.raw = raw
        return ToolCallDelta(index, call_id, name, raw)

    def end_problem(self, decoder: Any) -> str | None:
        return None if self.done else "no final `done: true` line"

    def _finish_reason(self) -> str | None:
        f = self.final or {}
        return _DONE_REASONS.get(f.get("done_reason") or "stop", "stop")

    def _tokens_per_second(self) -> float | None:
        f = self.final or {}
        count, ns = f.get("eval_count") or 0, f.get("eval_duration") or 0
        return count / (ns / 1e9) if count and ns else None

    def _raw(self, calls: list[ToolCall]) -> Any:
        return self.final

    def _result(self) -> Response:
        if self.done and self.usage is None:
            self.usage = _counts(self.final or {})  # a whole answer from a server that omits `done`
        return super()._result()


def _counts(final: Mapping[str, Any]) -> Usage:
    """Counters from the ``done`` line; Ollama omits a counter that is zero, so absent is 0."""
    return Usage(input_tokens=int(final.get("prompt_eval_count") or 0), output_tokens=int(final.get("eval_count") or 0))


def _loads_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def iter_chat_stream(
    chunks: AsyncIterator[bytes], acc: OllamaChatAccumulator, *, limits: Limits = DEFAULT_LIMITS
) -> AsyncIterator[StreamEvent | Response]:
    """Events as lines arrive, then the Response (see ``assemble.drive``); a stream that ends
    before ``done: true`` (or in the middle of a line) was cut: a retryable ``ProviderConnectionError``."""
    return drive(acc, ndjson_decoder(acc, limits), given(chunks))


def ndjson_decoder(acc: StreamAssembler, limits: Limits = DEFAULT_LIMITS) -> NDJSONDecoder:
    """The NDJSON framing for ``acc``'s stream, bounded by ``limits``."""
    return NDJSONDecoder(provider=acc.provider, url=acc.url, max_line_bytes=limits.max_line_bytes)
