"""The protocol every state backend follows (see the package docstring).

Every operation is atomic on its own key: two processes adding to one counter never lose an
update, and ``take`` never admits more than ``limit`` across all of them. Keys are plain strings
chosen by ``routing/`` (``budget:openai:day:20261130``); a backend adds its own prefix. A counter
that does not exist reads 0; ``ttl`` (seconds) makes a window's counter expire by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["StateBackend", "PeekingBackend"]


@runtime_checkable
class StateBackend(Protocol):
    """Atomic counters with expiry (``memory`` or ``redis``)."""

    name: str
    """``"memory"`` or ``"redis"``: what ``llmswitch doctor`` shows."""

    async def get(self, key: str) -> float:
        """The counter's value (0 when it does not exist or has expired)."""
        ...

    async def add(self, key: str, amount: float, *, ttl: float | None = None) -> float:
        """Add ``amount`` (may be negative) and return the new value; ``ttl`` sets the expiry
        when the counter is created (a window's counter lives as long as its window)."""
        ...

    async def take(self, key: str, amount: float, limit: float, *, ttl: float | None = None) -> bool:
        """Add ``amount`` only if the result stays ``<= limit``; whether it did (a rate-limit slot,
        a hard budget)."""
        ...

    async def set(self, key: str, value: float, *, ttl: float | None = None) -> None:
        """Overwrite the value (``ttl`` None: no expiry)."""
        ...

    async def aclose(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...


@runtime_checkable
class PeekingBackend(StateBackend, Protocol):
    """A backend that also reads several counters with their expiry at once (both built-in ones
    do): what a shared circuit breaker checks before every call, in one Redis round trip."""

    shared: bool
    """Whether other processes see these counters (``redis``) or only this one (``memory``)."""

    async def peek(self, keys: Sequence[str]) -> list[tuple[float, float | None]]:
        """``(value, seconds left or None for no expiry)`` per key, in order; missing reads ``(0, None)``."""
        ...
