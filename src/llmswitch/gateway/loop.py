"""Which event loop a gateway worker runs on: ``--loop asyncio|uvloop|auto``.

Why: a gateway worker spends most of its CPU in the event loop, the socket transports and
aiohttp, not in llmswitch's code (README "Gateway", bench). uvloop (libuv, in C) does the loop and
transport part for less: measured here, 15% fewer instructions per call through the gateway
(callgrind) and a quarter less CPU per streamed chunk. It stays optional (the
``gateway`` extra installs it): ``auto`` takes it when it is installed and asyncio's own loop
otherwise, silently; ``uvloop`` asked for by name and missing is an error that says how to get
it, rather than a quietly slower gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from ..errors import ConfigError

__all__ = ["LOOPS", "LoopChoice", "loop_factory", "loop_name"]

LoopChoice = Literal["auto", "asyncio", "uvloop"]
LOOPS: tuple[LoopChoice, ...] = ("auto", "asyncio", "uvloop")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _uvloop_factory() -> LoopFactory | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_factory(choice: str) -> LoopFactory | None:
    """The factory for ``asyncio.Runner(loop_factory=...)``; None means asyncio's default loop."""
    if choice not in LOOPS:
        raise ConfigError(f"--loop must be one of {', '.join(LOOPS)}; got {choice!r}")
    if choice == "asyncio":
        return None
    factory = _uvloop_factory()
    if factory is None and choice == "uvloop":
        raise ConfigError("--loop uvloop: uvloop is not installed; pip install 'llmswitch[gateway]' (or uvloop), "
                          "or use --loop auto to fall back to asyncio's loop")
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what a running worker actually got (reported on start and in /health/live)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
