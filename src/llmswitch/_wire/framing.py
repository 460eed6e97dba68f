"""What every streamed wire needs below the event level: a bounded partial line, and the errors
for bytes that are not the protocol (too long, not UTF-8, cut off, the wrong JSON shape).

Why a list of pieces and not one ``bytes``: a partial line used to be re-joined with every read
(``tail + chunk``), which copies the whole line again each time; a 10 MB event then took ~10 s.
Pieces are joined once, when the line ends, so decoding is linear in the input, and the count of
held bytes bounds memory under an endless line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import errors as E
from ..types import Response, StreamEvent, TextDelta

__all__ = [
    "PartialLine",
    "pieces",
    "too_large",
    "not_utf8",
    "cut_stream",
    "shape_error",
    "SHAPE_ERRORS",
    "collect_json",
    "whole_response_events",
    "loads",
]

# the C scanner when available, with json.loads' defaults (JSONDecoder sets it; typeshed omits it)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(doc: str | bytes) -> Any:
    """``json.loads(doc)``: the same value or the same error, for one stream item.

    A whole document with nothing around it (every chunk a conforming server sends) goes straight
    to the scanner; ``json.loads`` adds three Python calls and two regex matches around that, a
    third of the cost of decoding a typical 150-byte chunk. Anything else (whitespace around it,
    extra data, not JSON, bytes that are not UTF-8 or carry a BOM) is handed to ``json.loads``
    itself, which decides."""
    if isinstance(doc, str):
        text = doc
    else:
        try:
            text = doc.decode()
        except UnicodeDecodeError:
            return json.loads(doc)
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return json.loads(doc)
    if end != len(text):
        return json.loads(doc)
    return value


_LIMIT_HINT = "raise {setting} in the provider's config if the server is trusted"


def too_large(what: str, setting: str, value: int, *, provider: str | None, url: str | None) -> E.ResponseTooLargeError:
    """The error for a line, event or body over its limit, naming the limit, its value and the setting."""
    return E.ResponseTooLargeError(
        f"{what} exceeded {setting}={value}; {_LIMIT_HINT.format(setting=setting)}",
        provider=provider,
        url=url,
        hint="the server sent far more than any real answer holds; it is broken or hostile",
    )


def not_utf8(exc: UnicodeDecodeError, *, provider: str | None, url: str | None) -> E.ProviderError:
    """Invalid UTF-8 where text was due: the server is not speaking the protocol (or is corrupting it)."""
    bad = exc.object[exc.start : exc.start + 8]
    return E.ProviderError(
        f"the stream is not valid UTF-8 (bytes {bad!r} at offset {exc.start} of a line)",
        provider=provider,
        url=url,
        hint="the server sent bytes that are not text; is the base URL an LLM API, and is nothing in between rewriting it?",
    )


def cut_stream(why: str, *, provider: str | None, url: str | None, model: str | None = None) -> E.ProviderConnectionError:
    """A stream that ended before its protocol said it was complete: retryable, like a dropped connection."""
    return E.ProviderConnectionError(
        f"the stream ended before it was complete ({why})",
        provider=provider,
        url=url,
        model=model,
        hint="the connection was cut or the server failed mid-answer; retry",
    )


SHAPE_ERRORS = (AttributeError, TypeError, ValueError, LookupError, ArithmeticError, RecursionError)
"""What Python raises when JSON of the wrong shape meets code that expects the documented one
(``"x".get``, ``None + ""``, ``int("a")``, a missing key, ``int(Infinity)``, nesting too deep).
Caught once per wire, at its boundary."""


def _excerpt(obj: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(obj, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "…"


def shape_error(
    exc: BaseException, obj: Any, *, api: str, provider: str | None, url: str | None, model: str | None = None
) -> E.ProviderError:
    """JSON that parsed but is not the shape ``api`` documents (a field of the wrong type)."""
    return E.ProviderError(
        f"unexpected response shape ({type(exc).__name__}: {exc}) in {_excerpt(obj)}",
        provider=provider,
        url=url,
        model=model,
        hint=f"is this server speaking the {api} API?",
    )


def wrong_type(field: str, value: Any, expected: str) -> TypeError:
    """The ``TypeError`` a wire raises for a field whose type it cannot read (turned into
    ``shape_error`` at the boundary); used only where the wrong type would otherwise pass silently
    into our types (text, ids, indexes)."""
    return TypeError(f"{field} is {type(value).__name__}, expected {expected}")


def text_or_none(value: Any, field: str) -> str | None:
    """``value`` if it is a string or absent; anything else is the wrong shape."""
    if value is None or type(value) is str:
        return value
    raise wrong_type(field, value, "a string")


def pieces(chunk: bytes, size: int) -> list[bytes]:
    """``chunk`` in reads of at most ``size`` bytes. A decoder splits a read bigger than its limit
    (``iter_any`` hands over all that is buffered) so every line and event is measured, and never
    more than one read past its limit is held."""
    return [chunk[i : i + size] for i in range(0, len(chunk), size)]


class PartialLine:
    """The unfinished last line of a byte stream, held as pieces and joined once when it ends."""

    __slots__ = ("parts", "size", "limit", "what", "setting", "provider", "url")

    def __init__(self, limit: int, *, what: str, setting: str, provider: str | None, url: str | None) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.what = what
        self.setting = setting
        self.provider = provider
        self.url = url

    def hold(self, piece: bytes) -> None:
        """Keep ``piece`` (it holds no line end); over the limit raises before it is kept."""
        self.size += len(piece)
        if self.size > self.limit:
            self.parts = []
            raise too_large(self.what, self.setting, self.limit, provider=self.provider, url=self.url)
        self.parts.append(piece)

    def extend(self, chunk: bytes, end: int) -> bytes | None:
        """Add ``chunk`` (whose first line end is at ``end``, -1 for none) to the held pieces: None
        if it holds no line end (then it is held too), else the held pieces and ``chunk`` joined,
        the one copy of the line. The line is measured before it is joined."""
        if end < 0:
            self.hold(chunk)  # only the new bytes were searched: linear in the input
            return None
        if self.size + end > self.limit:
            self.parts = []
            raise too_large(self.what, self.setting, self.limit, provider=self.provider, url=self.url)
        return self.complete(chunk)

    def complete(self, chunk: bytes) -> bytes:
        """The held pieces followed by ``chunk``, as one buffer; empties the hold."""
        parts = self.parts
        parts.append(chunk)
        self.parts = []
        self.size = 0
        return b"".join(parts)

    def take(self) -> bytes:
        """Everything held (at EOF), emptying the hold."""
        return self.complete(b"")

    @property
    def blank(self) -> bool:
        return not any(p.strip() for p in self.parts)


async def collect_json(
    chunks: AsyncIterator[bytes], *, max_bytes: int, provider: str | None, url: str | None
) -> Any:
    """A whole JSON body read from ``chunks`` (bounded by ``max_bytes``): what a server that
    answers a stream request with ``application/json`` sent instead. Text that is not JSON comes
    back as a string, so the caller can still report it."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise too_large("a JSON body", "max_body_bytes", max_bytes, provider=provider, url=url)
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def whole_response_events(full: Response) -> list[StreamEvent | Response]:
    """A non-streamed answer delivered on a stream call: its text as one delta, then the Response."""
    return [TextDelta(full.text), full] if full.text else [full]
