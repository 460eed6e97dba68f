"""Server-sent events framing (WHATWG HTML, "Parsing an event stream").

Incremental: feed it bytes as they arrive, get whole events back. Lines end in LF, CR or
CRLF (a CR at the end of one chunk is held back in case the LF is in the next); ``:`` lines
are comments (OpenRouter's keep-alives); ``data`` lines of one event are joined with LF; an
event is dispatched on a blank line, and an unterminated event at EOF is discarded, as the
standard says. The non-standard ``error:`` field that older llama.cpp builds send is
surfaced as an event named ``error`` instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

__all__ = ["SSEEvent", "SSEDecoder"]


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    __slots__ = ("_tail", "_data", "_event", "_last_id", "_retry")

    def __init__(self) -> None:
        self._tail = b""
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def pending(self) -> bool:
        """True if bytes or an undispatched event are buffered (a stream cut mid-event)."""
        return bool(self._tail.strip() or self._data)

    def close(self) -> list[SSEEvent]:
        """At EOF: a held-back CR was a line end after all."""
        if self._tail.endswith(b"\r"):
            return self.feed(b"\n")
        return []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return list(self.iter_feed(chunk))

    def iter_feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        """Like ``feed``, but yields each event as soon as it is parsed, so the first event of a
        burst (many events in one read) reaches the caller before the rest are decoded."""
        buf = self._tail + chunk if self._tail else chunk
        hold_cr = buf.endswith(b"\r")
        if hold_cr:
            buf = buf[:-1]
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop() + (b"\r" if hold_cr else b"")
        for line in lines:
            if not line:
                if self._data:
                    ev = SSEEvent(self._event or "message", "\n".join(self._data), self._last_id, self._retry)
                    self._data = []
                    self._event = ""
                    yield ev
                    continue
                self._event = ""
                continue
            if line[:5] == b"data:":
                v = line[6:] if line[5:6] == b" " else line[5:]
                self._data.append(v.decode("utf-8"))
                continue
            if line[0] == 58:  # b":" comment
                continue
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
            elif name == "data":
                self._data.append(text)
            elif name == "error":
                yield SSEEvent("error", text, self._last_id)

