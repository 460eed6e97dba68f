"""Shared counters for ``routing/``: circuit-breaker state, budget spend and rate-limit windows.

Why a layer of its own: one process keeps these in memory (``memory``, the default); several
processes on several hosts share them through Redis (``redis``, the ``llmswitch[redis]`` extra).
``routing/`` talks only to the ``StateBackend`` protocol below, so a breaker, a budget or a rate
limit behaves the same over either backend. ``redis`` (the package) is imported only when a Redis
backend is built, never by ``import llmswitch``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors as E
from ._base import PeekingBackend, StateBackend
from .memory import MemoryBackend

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = ["MemoryBackend", "PeekingBackend", "RedisBackend", "StateBackend", "backend_from_config", "default_backend"]

_default: list[MemoryBackend] = []


def default_backend() -> MemoryBackend:
    """The process's memory backend: what a provider uses when no ``state:`` backend is given."""
    if not _default:
        _default.append(MemoryBackend())
    return _default[0]


def backend_from_config(config: Any) -> StateBackend:
    """The backend a ``state:`` config section names (a ``config.StateConfig``, or None: memory).

    ``memory`` is the process's own backend (``default_backend()``); ``redis`` is a new
    ``RedisBackend`` for the section's ``url``, ``key_prefix``, ``timeout`` and
    ``breaker_sync_interval``. A missing url or a
    missing ``redis`` package is a ``ConfigError`` saying what to do."""
    backend = getattr(config, "backend", "memory") if config is not None else "memory"
    if backend == "memory":
        return default_backend()
    if backend != "redis":
        raise E.ConfigError(f"state: backend must be memory or redis, not {backend!r}")
    url = getattr(config, "url", None)
    if not url:
        raise E.ConfigError(
            "state: backend redis needs a url, e.g. state: {backend: redis, url: \"redis://localhost:6379/0\"}"
        )
    try:
        import redis.asyncio  # noqa: F401 - only to say how to install it when missing
    except ImportError:
        raise E.ConfigError(
            "state: backend redis needs the redis package, which is not installed: pip install 'llmswitch[redis]'"
        ) from None
    from .redis import DEFAULT_KEY_PREFIX, RedisBackend

    prefix = getattr(config, "key_prefix", None)
    options = {k: v for k in ("timeout", "breaker_sync_interval") if (v := getattr(config, k, None)) is not None}
    return RedisBackend(url, key_prefix=DEFAULT_KEY_PREFIX if prefix is None else prefix, **options)


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":  # imported on first use: it needs the redis extra
        from .redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
