"""The extension points of the call path: defined here, below ``providers/``, filled from above.

``providers/`` runs these on every call and imports nothing that fills them, so the call path
never imports ``usage/`` or ``integrations/`` (imports only point down; ``tests/test_layers.py``):

* call observers — ``usage.log`` adds one while a usage log is enabled; users add their own
  (``llmswitch.add_call_observer``);
* call hooks — ``on_request``/``on_response``/``on_error``/``on_stream_event``/``on_retry``,
  global (``add_hook``), per registry (``registry.hooks``) or per provider (``provider.hooks``),
  run by ``_observe``; ``telemetry/`` subscribes through them (below);
* the pricer — ``usage.pricing`` sets ``price_usage`` when imported; it fills
  ``Response.usage.cost`` when the provider did not report one;
* the model factory — ``integrations.pydantic_ai`` sets it when imported;
  ``provider.create_model()`` and ``create_model_async()`` build the pydantic-ai model through it.

The package root (``llmswitch/__init__``, the top layer) sets stand-ins for the last two that
import their module on first use (which then replaces the stand-in), so every program that
imports any part of llmswitch prices its calls and can build models, while ``import llmswitch``
loads neither ``usage/`` nor ``integrations/``.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .providers.base import BaseProvider
    from .types import Response, Usage

__all__ = [
    "HOOK_EVENTS",
    "Call",
    "CallObserver",
    "HookSet",
    "add_hook",
    "global_hooks",
    "remove_hook",
    "Pricer",
    "add_call_observer",
    "model_factory",
    "remove_call_observer",
    "set_model_factory",
    "set_pricer",
]

CallObserver = Callable[["BaseProvider", str, "Response | None", "BaseException | None", float], None]
"""Called after every call: (provider, model, response or None, error or None, seconds)."""

Pricer = Callable[[str, str, "Usage"], "float | None"]
"""(provider type, model, usage) → USD, or None when the price is unknown."""

call_observers: list[CallObserver] = []
"""Read on every call by ``BaseProvider._record`` (the same list object, bound once)."""

pricer: list[Pricer] = []
"""Zero or one pricer; a list so the call path reads it without a function call."""

_model_factory: list[tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]] = []


def add_call_observer(fn: CallObserver) -> None:
    """Hook for usage logs and metrics; observers must be cheap and must not raise."""
    if fn not in call_observers:
        call_observers.append(fn)


def remove_call_observer(fn: CallObserver) -> None:
    """Stop calling an observer (a closed usage log); removing one not added is not an error."""
    if fn in call_observers:
        call_observers.remove(fn)


def set_pricer(fn: Pricer | None) -> None:
    """The function that prices a call the provider did not price; None turns pricing off."""
    pricer[:] = [fn] if fn is not None else []


def set_model_factory(create_model: Callable[..., Any], create_model_async: Callable[..., Awaitable[Any]]) -> None:
    """What ``BaseProvider.create_model`` / ``create_model_async`` delegate to:
    ``create_model(provider, model_name)`` and
    ``create_model_async(provider, model_name, auto_detect=..., test_connection=...)``."""
    _model_factory[:] = [(create_model, create_model_async)]


def model_factory() -> tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]:
    """The registered ``(create_model, create_model_async)``; ImportError names the module to import when none is."""
    if not _model_factory:
        raise ImportError(
            "no model factory is registered for provider.create_model(): import llmswitch.integrations.pydantic_ai"
        )
    return _model_factory[0]


# --- call hooks: on_request, on_response, on_error, on_stream_event, on_retry -------------------
#
# One mechanism with the call observers above: the observers see every outcome with a fixed
# signature (usage logs); call hooks see a ``Call`` object from the moment the request is known,
# and are what ``telemetry/`` (logging detail, OpenTelemetry) and users subscribe through. The
# call path pays one truthiness test (``tap``) while no hook is registered anywhere.

HOOK_EVENTS = ("on_request", "on_response", "on_error", "on_stream_event", "on_retry")
"""The events a hook can be registered for:

* ``on_request(call)`` — before the request is sent (after the model is resolved);
* ``on_response(call, response)`` — the call succeeded (``response.usage.cost`` is filled);
* ``on_error(call, error)`` — the call failed or was cancelled (``asyncio.CancelledError``);
* ``on_stream_event(call, event)`` — each event of a stream, in order, before the caller sees it;
* ``on_retry(call, error, wait)`` — an attempt failed and is tried again after ``wait`` seconds.

Each may be a plain function or a coroutine function (awaited on the call's event loop)."""

Hook = Callable[..., Any]

tap: list[bool] = []
"""Non-empty while any hook set anywhere (global, a registry's, a provider's) holds a hook
(``telemetry`` subscribes with hooks too): the call path's one test."""

_held: weakref.WeakSet[HookSet] = weakref.WeakSet()  # the sets that were given a hook


class HookSet:
    """Hooks for a scope: ``global_hooks`` (every call), ``registry.hooks`` (the providers of a
    registry) or ``provider.hooks`` (one provider). Read-only hooks see the request frozen
    (``call.messages`` a tuple, ``call.params`` a read-only mapping); a hook added with
    ``transformer=True`` (``on_request`` only) runs first, on the live request, and may change
    ``call.messages`` / ``call.params`` / ``call.tools`` — what it leaves there is what is sent."""

    __slots__ = ("on_request", "on_response", "on_error", "on_stream_event", "on_retry", "transformers", "linked", "__weakref__")

    def __init__(self) -> None:
        self.on_request: list[Hook] = []
        self.on_response: list[Hook] = []
        self.on_error: list[Hook] = []
        self.on_stream_event: list[Hook] = []
        self.on_retry: list[Hook] = []
        self.transformers: list[Hook] = []
        self.linked: list[HookSet] = []
        """Sets whose hooks also apply here (a registry's set, linked into each of its providers)."""

    def add(self, event: str, fn: Hook, *, transformer: bool = False) -> Hook:
        """Register ``fn`` for ``event`` (one of ``HOOK_EVENTS``); returns ``fn`` so it can decorate."""
        if event not in HOOK_EVENTS:
            raise ValueError(f"unknown hook event {event!r}; one of {', '.join(HOOK_EVENTS)}")
        if not callable(fn):
            raise TypeError(f"a hook must be callable, not {type(fn).__name__}")
        if transformer and event != "on_request":
            raise ValueError("only on_request hooks can be transformers (they change the request)")
        target = self.transformers if transformer else getattr(self, event)
        if fn not in target:
            target.append(fn)
        if self not in _held:
            _held.add(self)
            weakref.finalize(self, _refresh)  # a dropped provider's hooks stop holding the tap open
        _refresh()
        return fn

    def remove(self, event: str, fn: Hook) -> None:
        """Stop calling ``fn`` for ``event``; removing one not added is not an error."""
        for target in (getattr(self, event, None), self.transformers if event == "on_request" else None):
            if target is not None and fn in target:
                target.remove(fn)
        _refresh()

    def clear(self) -> None:
        """Remove every hook of this set (links stay)."""
        for name in HOOK_EVENTS:
            getattr(self, name).clear()
        self.transformers.clear()
        _refresh()

    def link(self, other: HookSet) -> None:
        """Apply ``other``'s hooks here too, before this set's own (a registry's hooks run before
        its provider's); idempotent."""
        if other is not self and other not in self.linked:
            self.linked.append(other)
        _refresh()

    def own(self) -> bool:
        """Whether this set itself holds a hook (links not counted)."""
        return bool(self.transformers or any(getattr(self, name) for name in HOOK_EVENTS))

    def __repr__(self) -> str:
        counts = {name: len(getattr(self, name)) for name in HOOK_EVENTS if getattr(self, name)}
        if self.transformers:
            counts["transformers"] = len(self.transformers)
        return f"HookSet({counts})"


global_hooks = HookSet()
"""Hooks for every call in the process (``llmswitch.hooks.add_hook``)."""


def _refresh() -> None:
    """Recompute ``tap`` after a change (rare: registration, not calls)."""
    if global_hooks.own() or any(s.own() for s in list(_held)):
        tap[:] = [True]
    else:
        tap.clear()


def add_hook(event: str, fn: Hook, *, transformer: bool = False) -> Hook:
    """Register ``fn`` for ``event`` on every call in the process (see ``HOOK_EVENTS``)."""
    return global_hooks.add(event, fn, transformer=transformer)


def remove_hook(event: str, fn: Hook) -> None:
    """Stop calling a global hook."""
    global_hooks.remove(event, fn)


class Call:
    """One call as its hooks see it, from ``on_request`` to ``on_response``/``on_error``.

    ``provider`` and ``model`` say where it goes; ``messages``, ``tools`` and ``params`` are the
    request (frozen for read-only hooks); ``stream`` whether it streams. Timing: ``started`` and
    ``first_chunk`` are ``time.perf_counter()`` readings (``ttft`` is their difference), ``seconds``
    the whole call once it ended. ``retries`` counts attempts tried again; ``hop`` is the call's
    position in a failover chain (0: first member, or no chain), and ``failover_from`` (member
    name, error class) says which member failed before it and how. ``data`` is free for
    subscribers (telemetry keeps its span there)."""

    __slots__ = (
        "provider", "model", "messages", "tools", "params", "stream", "started", "first_chunk",
        "retries", "hop", "failover_from", "response", "error", "seconds", "data", "hook_sets",
    )

    def __init__(
        self, provider: BaseProvider, model: str, messages: Any, tools: Any, params: Any, stream: bool, started: float
    ) -> None:
        self.provider = provider
        self.model = model
        self.messages = messages
        self.tools = tools
        self.params = params
        self.stream = stream
        self.started = started
        self.first_chunk: float | None = None
        self.retries = 0
        self.hop = 0
        self.failover_from: tuple[str, str] | None = None
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.seconds: float | None = None
        self.data: dict[str, Any] = {}
        self.hook_sets: tuple[HookSet, ...] = ()

    @property
    def ttft(self) -> float | None:
        """Seconds from sending to the first streamed event (None: not a stream, or none came)."""
        return None if self.first_chunk is None else self.first_chunk - self.started

    def __repr__(self) -> str:
        name = getattr(self.provider, "name", "?")
        return f"Call({name}:{self.model}, stream={self.stream}, retries={self.retries}, hop={self.hop})"
