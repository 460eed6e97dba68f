"""Server-sent events framing (WHATWG HTML, "Parsing an event stream").

Incremental: feed it bytes as they arrive, get whole events back. Lines end in LF, CR or
CRLF (a line that ends in a CR at the end of one read is taken at once, and an LF opening the
next read is then skipped); ``:`` lines are comments (OpenRouter's keep-alives); ``data`` lines
of one event are joined with LF; an event is dispatched on a blank line, and an unterminated
event at EOF is discarded, as the standard says. The non-standard ``error:`` field that older
llama.cpp builds send is surfaced as an event named ``error`` instead of being ignored.

Bounded and linear: a partial line is held as pieces (``framing.PartialLine``) and joined once,
so a 50 MB event costs about what ``json.loads`` of it costs; see ``SSEDecoder`` for the limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .._limits import DEFAULT_LIMITS
from .framing import PartialLine, not_utf8, pieces, too_large

__all__ = ["SSEEvent", "SSEDecoder"]


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None
    retry: int | None = None


def _first_line_end(chunk: bytes) -> int:
    nl = chunk.find(b"\n")
    cr = chunk.find(b"\r")
    return nl if cr < 0 else cr if nl < 0 else min(nl, cr)


class SSEDecoder:
    """Bounded: a line longer than ``max_line_bytes`` or an event longer than ``max_event_bytes``
    raises ``ResponseTooLargeError`` (naming the limit and its setting). A line is measured exactly;
    an event in whole reads (a read that ends with an event open, or a line unfinished, adds its
    length; a blank line starts the count again), so it is refused at most a read (and a line
    before it) early: counting every line cost ~6% of the loop that runs for every line of every
    stream. A read larger than a limit is decoded in limit-sized pieces."""

    __slots__ = (
        "_line", "_skip_lf", "_data", "_size", "_event", "_last_id", "_retry", "_max_event", "_cap", "_provider", "_url",
    )

    def __init__(
        self,
        *,
        max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
        max_event_bytes: int = DEFAULT_LIMITS.max_event_bytes,
        provider: str | None = None,
        url: str | None = None,
    ) -> None:
        self._line = PartialLine(max_line_bytes, what="an SSE line", setting="max_line_bytes", provider=provider, url=url)
        self._skip_lf = False
        self._data: list[str] = []
        self._size = 0
        """Bytes of the reads the current event has been open across (see the class docstring)."""
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._max_event = max_event_bytes
        self._cap = min(max_line_bytes, max_event_bytes)
        self._provider = provider
        self._url = url

    @property
    def pending(self) -> bool:
        """True if bytes or an undispatched event are buffered (a stream cut mid-event)."""
        return bool(self._data) or not self._line.blank

    @property
    def pending_line(self) -> bool:
        """True if bytes of an unfinished line (other than whitespace) are held."""
        return not self._line.blank

    @property
    def pending_data(self) -> str | None:
        """The ``data`` of an event still waiting for its blank line, if any (``[DONE]`` without it)."""
        return "\n".join(self._data) if self._data else None

    def close(self) -> list[SSEEvent]:
        """At EOF. Kept for callers: a line end is never held back, so nothing more can complete."""
        return []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return list(self.iter_feed(chunk))

    def iter_feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        """Like ``feed``, but yields each event as soon as it is parsed, so the first event of a
        burst (many events in one read) reaches the caller before the rest are decoded. (A plain
        function returning the generator: a second generator layer cost ~5% per event.)"""
        if len(chunk) > self._cap:
            return self._read_pieces(chunk)
        return self._read(chunk)

    def _read_pieces(self, chunk: bytes) -> Iterator[SSEEvent]:
        for piece in pieces(chunk, self._cap):
            yield from self._read(piece)

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines that ``chunk`` finishes; its unfinished end is held."""
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == 10:  # the LF of a CRLF split across reads
                chunk = chunk[1:]
        line = self._line
        if line.parts:
            joined = line.extend(chunk, _first_line_end(chunk))
            if joined is None:
                return []
            chunk = joined
        if b"\r" in chunk:
            self._skip_lf = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            line.hold(tail)
        return lines

    def _read(self, chunk: bytes) -> Iterator[SSEEvent]:
        size = self._size  # a local, stored back once: this loop runs for every line of every stream
        try:
            for line in self._lines(chunk):
                if not line:  # the end of an event, dispatched if it has data
                    size = 0
                    if self._data:
                        ev = SSEEvent(self._event or "message", "\n".join(self._data), self._last_id, self._retry)
                        self._data = []
                        self._event = ""
                        yield ev
                        continue
                    self._event = ""
                    continue
                if line[:5] != b"data:":
                    if line[0] == 58:  # b":" comment
                        continue
                    if line != b"data":  # a bare ``data`` is a data line with an empty value
                        named = self._field(line)
                        if named is not None:
                            yield named
                        continue
                    line = b"data:"
                self._data.append((line[6:] if line[5:6] == b" " else line[5:]).decode("utf-8"))
            if self._data or self._line.parts:
                size += len(chunk)
                if size > self._max_event:
                    self._data = []
                    size = 0
                    raise too_large("an SSE event", "max_event_bytes", self._max_event, provider=self._provider, url=self._url)
        except UnicodeDecodeError as exc:
            raise not_utf8(exc, provider=self._provider, url=self._url) from None
        finally:
            self._size = size

    def _field(self, line: bytes) -> SSEEvent | None:
        """A field line other than ``data``; an ``error:`` line is an event of its own."""
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        name = field.decode("utf-8", "replace")
        text = value.decode("utf-8", "replace")
        if name == "event":
            self._event = text
        elif name == "id":
            if "\x00" not in text:
                self._last_id = text
        elif name == "retry":
            if text.isdigit():
                self._retry = int(text)
        elif name == "error":
            return SSEEvent("error", text, self._last_id)
        return None
