"""The one stream assembler and the one driver loop behind every streaming wire.

OpenAI Chat Completions, Anthropic Messages and Ollama ``/api/chat`` stream the same things in
different envelopes: text, thinking (and Anthropic's signature), tool calls keyed by an index
(id and name once, arguments as fragments), usage, a finish reason. Each wire module keeps only
its *mapping*: a ``StreamAssembler`` subclass whose ``take`` turns one decoded wire item into
parts (appended here) and the ``StreamEvent``s a caller sees. Assembling the final ``Response``
(joining, defaulting ids, parsing arguments, "tool calls mean ``tool_calls``") lives here once.

``drive`` is the loop for all three: open the body, decode its bytes into wire items (SSE
events or NDJSON objects), map each item, yield the events, then check that the stream ended
as its protocol says (else a retryable cut stream) and yield the ``Response`` last. It is the
only async generator between the socket and ``ResponseStream``: the provider returns it as it
is, so a chunk passes through one frame fewer than when each provider wrapped a wire iterator,
and a field of the wrong type is caught once per stream (a ``try`` costs nothing in 3.11 until
it fires), not by a wrapper call per chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Protocol, TypeVar

from .. import errors as E
from ..types import Response, StreamEvent, ToolCall, ToolCallDelta, Usage
from .framing import SHAPE_ERRORS, cut_stream, shape_error, whole_response_events

__all__ = ["Decoder", "PendingCall", "StreamAssembler", "drive", "given", "parse_tool_arguments"]

R = TypeVar("R")


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


class PendingCall:
    """One tool call as it arrives: ``id`` and ``name`` set once, ``args`` as fragments.

    ``arguments``/``raw`` are for wires that (also) send the arguments whole: an Anthropic
    ``tool_use`` block's ``input`` at its start, an Ollama call's object. They count only when no
    fragment came."""

    __slots__ = ("args", "arguments", "id", "name", "raw")

    def __init__(self, call_id: str | None = None, name: str | None = None) -> None:
        self.id = call_id
        self.name = name
        self.args: list[str] = []
        self.arguments: dict[str, Any] | None = None
        self.raw = ""


class StreamAssembler:
    """What a stream has said so far, and the ``Response`` it adds up to.

    Subclasses (one per wire) implement ``take`` (one decoded item → events) and may refine the
    hooks ``_finish_reason``, ``_tokens_per_second``, ``_raw`` and ``end_problem``. ``finish``
    holds the wire's own reason (mapped through ``FINISH`` at the end), ``usage`` the latest
    counts, ``done`` whether the protocol's end marker came."""

    __slots__ = (
        "_url",
        "calls",
        "done",
        "finish",
        "id",
        "model",
        "provider",
        "seen",
        "signature",
        "started",
        "text",
        "thinking",
        "usage",
    )

    API: ClassVar[str] = "streaming"
    """The API's name, for "is this server speaking the … API?" hints."""
    FINISH: ClassVar[Mapping[str, str]] = {}
    """Wire finish reason → ours; an unknown one is ``stop``."""
    CALL_ID_PREFIX: ClassVar[str] = "call_"
    """A call that came without an id gets ``PREFIX + index``."""

    def __init__(self, *, provider: str, model: str, url: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.started = time.perf_counter()
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.signature: str | None = None
        self.calls: dict[int, PendingCall] = {}
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.id: str | None = None
        self.done = False
        self.seen: Any = None
        """The wire item being mapped (what a shape error quotes)."""
        self._url = url

    @property
    def url(self) -> str | None:
        return self._url

    # --- mapping (per wire) -------------------------------------------------------------------
    def take(self, item: Any) -> list[StreamEvent]:
        """Events for one decoded wire item; may raise SHAPE_ERRORS (``drive`` and ``feed`` map them)."""
        raise NotImplementedError

    def feed(self, item: Any) -> list[StreamEvent]:
        """``take`` for callers outside ``drive``: a field of the wrong type is a ``ProviderError``,
        never a Python error from deeper down."""
        try:
            return self.take(item)
        except SHAPE_ERRORS as exc:
            raise self.shape_error(exc) from None

    def shape_error(self, exc: BaseException, obj: Any = None) -> E.ProviderError:
        return shape_error(
            exc, self.seen if obj is None else obj, api=self.API, provider=self.provider, url=self._url, model=self.model
        )

    # --- parts --------------------------------------------------------------------------------
    def tool_part(self, index: int, call_id: str | None, name: str | None, args: str) -> ToolCallDelta:
        """Add one tool-call delta to call ``index``: ``id`` and ``name`` once (first non-empty
        wins: some servers repeat them on every delta), ``args`` appended."""
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = PendingCall()
        if call_id and not call.id:
            call.id = call_id
        if name and not call.name:
            call.name = name
        if args:
            call.args.append(args)
        return ToolCallDelta(index, call_id, name, args)

    # --- the end ------------------------------------------------------------------------------
    def end_problem(self, decoder: Any) -> str | None:
        """Why a stream that reached EOF is incomplete, or None if it ended as the protocol says."""
        return None if self.done else "no end marker"

    def _finish_reason(self) -> str | None:
        reason = self.finish
        return None if reason is None else self.FINISH.get(reason, "stop")

    def _tokens_per_second(self) -> float | None:
        return None

    def _raw(self, calls: list[ToolCall]) -> Any:
        """``Response.raw``: the stream as the wire's non-streamed answer would read."""
        return None

    def tool_calls(self) -> list[ToolCall]:
        prefix = self.CALL_ID_PREFIX
        out: list[ToolCall] = []
        for i, c in sorted(self.calls.items()):
            joined = "".join(c.args)
            arguments = c.arguments if c.arguments is not None and not joined else parse_tool_arguments(joined)
            out.append(ToolCall(id=c.id or f"{prefix}{i}", name=c.name or "", arguments=arguments, raw_arguments=joined or c.raw))
        return out

    def result(self) -> Response:
        """The assembled Response; a field of the wrong type found now is a ``ProviderError``."""
        try:
            return self._result()
        except SHAPE_ERRORS as exc:
            raise self.shape_error(exc) from None

    def _result(self) -> Response:
        calls = self.tool_calls()
        finish = self._finish_reason()
        if calls and finish in (None, "stop"):
            finish = "tool_calls"  # servers say "stop" (or nothing) on tool turns
        return Response(
            text="".join(self.text),
            tool_calls=calls,
            finish_reason=finish,  # type: ignore[arg-type]
            model=self.model,
            provider=self.provider,
            usage=self.usage if self.usage is not None else Usage(known=False),
            latency=time.perf_counter() - self.started,
            thinking="".join(self.thinking) or None,
            thinking_signature=self.signature,
            id=self.id,
            tokens_per_second=self._tokens_per_second(),
            raw=self._raw(calls),
        )


class Decoder(Protocol):
    """Framing: bytes in, wire items out (``SSEDecoder``, ``NDJSONDecoder``)."""

    def iter_feed(self, chunk: bytes) -> Iterable[Any]: ...

    def close(self) -> list[Any]: ...


class _Given:
    """An already open body (the chunks a caller hands over): what ``given`` wraps."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks

    async def __aenter__(self) -> AsyncIterator[bytes]:
        return self.chunks

    async def __aexit__(self, *exc: object) -> None:
        return None


def given(chunks: AsyncIterator[bytes]) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
    """``chunks`` as the "opened body" ``drive`` takes, for callers that already read the body."""
    return _Given(chunks)


def _same(body: Any) -> AsyncIterator[bytes]:
    return body  # type: ignore[no-any-return]


async def drive(
    acc: StreamAssembler,
    decoder: Decoder,
    opened: AbstractAsyncContextManager[R],
    chunks: Callable[[R], AsyncIterator[bytes]] = _same,
    *,
    whole: Callable[[R], Awaitable[Response | None]] | None = None,
    finish: Callable[[Response], Response] | None = None,
    refine: Callable[[E.ProviderError], E.ProviderError] | None = None,
) -> AsyncIterator[StreamEvent | Response]:
    """Events as the body arrives, then the assembled Response.

    ``opened`` is entered on the first step (the request is sent then) and gives the body;
    ``chunks(body)`` its bytes. ``whole(body)``, if given, may answer with a whole Response
    instead (a server that sent JSON where a stream was asked for): its text is one delta, then
    it comes last. ``finish`` post-processes the assembled Response (provider quirks);
    ``refine`` rewrites any ``ProviderError`` raised on the way (Ollama's hints)."""
    try:
        async with opened as body:
            if whole is not None:
                full = await whole(body)
                if full is not None:
                    for whole_item in whole_response_events(full):
                        yield whole_item
                    return
            take = acc.take
            feed = decoder.iter_feed
            async for raw in chunks(body):
                for item in feed(raw):
                    try:
                        events = take(item)
                    except SHAPE_ERRORS as exc:
                        raise acc.shape_error(exc) from None
                    for ev in events:
                        yield ev
            for item in decoder.close():
                try:
                    events = take(item)
                except SHAPE_ERRORS as exc:
                    raise acc.shape_error(exc) from None
                for ev in events:
                    yield ev
            problem = acc.end_problem(decoder)
            if problem is not None:
                raise cut_stream(problem, provider=acc.provider, url=acc.url, model=acc.model)
            resp = acc.result()
            yield resp if finish is None else finish(resp)
    except E.ProviderError as err:
        if refine is None:
            raise
        raise refine(err) from None
