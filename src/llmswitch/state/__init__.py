"""Shared counters for ``routing/``: circuit-breaker state, budget spend and rate-limit windows.

Why a layer of its own: one process keeps these in memory (``memory``, the default); several
processes on several hosts share them through Redis (``redis``, the ``llmswitch[redis]`` extra).
``routing/`` talks only to the ``StateBackend`` protocol below, so a breaker, a budget or a rate
limit behaves the same over either backend.
"""

from __future__ import annotations

from ._base import StateBackend
from .memory import MemoryBackend

__all__ = ["MemoryBackend", "StateBackend", "default_backend"]

_default: list[MemoryBackend] = []


def default_backend() -> MemoryBackend:
    """The process's memory backend: what a provider uses when no ``state:`` backend is given."""
    if not _default:
        _default.append(MemoryBackend())
    return _default[0]
