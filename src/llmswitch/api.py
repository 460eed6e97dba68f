"""The module-level API: one call for any backend, named by a model reference.

``"provider:model"`` splits on the FIRST colon, so ``ollama:llama3.2:3b`` is provider
``ollama`` and model ``llama3.2:3b``. The provider part is a provider type or the name of a
provider in the default registry (loaded from config); ``auto`` picks by detection.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

from .bridge import get_bridge
from .errors import ConfigError
from .providers import BaseProvider, canonical_type, create_provider, known_types
from .streaming import ResponseStream
from .types import Message, Response, StreamEvent, TextDelta, Tool

__all__ = ["parse_model_ref", "get_provider", "reset_provider_cache", "aclose_cached_providers", "acomplete", "astream", "complete", "stream", "SyncResponseStream"]

ModelRef = str | BaseProvider
MessagesArg = str | Message | Iterable[Message | dict[str, Any]]

_cache: dict[str, tuple[BaseProvider, tuple[Any, Any]]] = {}
"""Providers the module API built from env vars, with the env values they were built from."""
_cache_lock = threading.Lock()


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """``"ollama:llama3.2:3b"`` → ``("ollama", "llama3.2:3b")``; ``"auto"`` → ``("auto", None)``."""
    if not ref or not isinstance(ref, str):
        raise ConfigError(f"a model reference looks like 'provider:model', got {ref!r}")
    provider, sep, model = ref.partition(":")
    return provider.strip(), (model.strip() or None) if sep else None


def _registry_providers() -> Any:
    """The default registry's provider table. The registry replaces the table on every change
    (copy-on-write), so its identity tells whether a cached resolution is still valid."""
    from .registry import default_registry

    return default_registry()._providers


# ref → (provider, model, registry table it was resolved against): the module API resolves the
# same few references on every call, and this keeps that to one dict lookup.
_resolved: dict[str, tuple[BaseProvider, str | None, Any, tuple[Any, Any] | None]] = {}


async def aclose_cached_providers() -> None:
    """Close the providers the module API built from env vars (their pooled connections)."""
    with _cache_lock:
        providers = [p for p, _ in _cache.values()]
    for p in providers:
        await p.aclose()


def reset_provider_cache() -> None:
    """Forget the providers the module API built from env vars (after changing those vars)."""
    with _cache_lock:
        _cache.clear()
        _resolved.clear()


def _implicit_key(type_name: str) -> dict[str, Any]:
    """A key stored with ``llmswitch keys set TYPE`` when the usual env var is not set."""
    from .providers import provider_class

    cls = provider_class(type_name)
    if not cls.requires_api_key or (cls.api_key_env and os.environ.get(cls.api_key_env)):
        return {}
    from .config import keyring_secret

    secret = keyring_secret(type_name)
    return {"api_key": secret} if secret else {}


_ENV_DATA: Any = getattr(os.environ, "_data", None)
"""CPython's raw mapping behind ``os.environ`` (encoded keys and values, updated by every
``os.environ[...] = ...``): one C-level lookup instead of ``os.environ.get``'s four Python calls,
on every module-API call. Elsewhere (or if it is ever gone) the portable lookup is used."""
_ENV_KEYS: dict[type, tuple[Any, Any]] = {}


def _env_seen(provider: BaseProvider) -> tuple[Any, Any]:
    """The env values a provider built from the environment depends on (key, base URL), compared
    on every call so a changed variable is noticed (encoded bytes when read raw)."""
    cls = type(provider)
    data = _ENV_DATA
    if data is None:
        get = os.environ.get
        return (get(cls.api_key_env) if cls.api_key_env else None, get(cls.base_url_env) if cls.base_url_env else None)
    keys = _ENV_KEYS.get(cls)
    if keys is None:
        encode = os.environ.encodekey  # type: ignore[attr-defined]
        keys = _ENV_KEYS[cls] = tuple(encode(k) if k else None for k in (cls.api_key_env, cls.base_url_env))  # type: ignore[assignment]
    k, u = keys
    return (data.get(k) if k is not None else None, data.get(u) if u is not None else None)


def _retire(provider: BaseProvider) -> None:
    """Close a provider the environment has replaced, without making the caller wait for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop here: its sessions are released at exit
    task = loop.create_task(provider.aclose())
    _retiring.add(task)
    task.add_done_callback(_retiring.discard)


_retiring: set[Any] = set()


def get_provider(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    """Resolve a reference (not ``auto``) to a provider instance and a model name.

    A provider built from env vars follows them: after ``os.environ["OPENAI_API_KEY"] = ...`` (or a
    new ``OPENAI_BASE_URL``) the next call builds it again, as a notebook user expects; checking
    costs two env lookups."""
    if isinstance(ref, BaseProvider):
        return ref, None
    table = _registry_providers()
    hit = _resolved.get(ref)
    if hit is not None and hit[2] is table and (hit[3] is None or hit[3] == _env_seen(hit[0])):
        return hit[0], hit[1]
    name, model = parse_model_ref(ref)
    if name == "auto":
        raise ConfigError("'auto' needs detection; use the async API or llmswitch.auto.resolve_auto()")
    named = table.get(name)
    if named is not None:
        _resolved[ref] = (named, model, table, None)
        return named, model
    with _cache_lock:
        cached = _cache.get(name)
        provider = cached[0] if cached is not None and cached[1] == _env_seen(cached[0]) else None
        if provider is None:
            if canonical_type(name) is None:
                raise ConfigError(
                    f"unknown provider {name!r} in {ref!r}; use one of {', '.join(known_types())} "
                    "or a provider name from your llmswitch.yaml"
                )
            if cached is not None:
                _retire(cached[0])
            provider = create_provider(name, **_implicit_key(name))
            _cache[name] = (provider, _env_seen(provider))
    _resolved[ref] = (provider, model, table, _cache[name][1])
    return provider, model


async def _aresolve(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    if isinstance(ref, str) and ref.partition(":")[0].strip() == "auto":
        from .auto import resolve_auto

        return await resolve_auto(parse_model_ref(ref)[1])
    return get_provider(ref)


async def acomplete(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    **params: Any,
) -> Response:
    provider, model_name = await _aresolve(model)
    return await provider.complete(messages, model=model_name, tools=tools, **params)


def astream(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    **params: Any,
) -> ResponseStream:
    """``async with astream(...) as s: async for text in s.text(): ...; final = await s.final()``."""
    if not (isinstance(model, str) and parse_model_ref(model)[0] == "auto"):
        provider, model_name = get_provider(model)
        return provider.stream(messages, model=model_name, tools=tools, **params)

    async def source():
        provider, model_name = await _aresolve(model)
        inner = provider.stream(messages, model=model_name, tools=tools, **params)
        async for ev in inner:
            yield ev
        yield await inner.final()

    return ResponseStream(source())


def complete(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    timeout: float | None = None,
    **params: Any,
) -> Response:
    """Blocking ``acomplete``; safe from plain scripts, threads and inside Jupyter's running loop.
    ``timeout`` is the call's total deadline, exactly as for ``acomplete``."""
    if timeout is not None:
        params["timeout"] = timeout
    return get_bridge().run(acomplete(model, messages, tools=tools, **params), _backstop(timeout))


_GRACE = 1.0
"""Seconds the bridge waits past a call's own deadline: the deadline inside the call raises a
ProviderTimeoutError naming the provider; the bridge's wait is only a backstop."""


def _backstop(timeout: float | None) -> float | None:
    return None if timeout is None else timeout + _GRACE


class SyncResponseStream:
    """The blocking twin of ResponseStream: iterate events, ``.text()``, ``.final()``."""

    def __init__(self, inner: ResponseStream, timeout: float | None) -> None:
        self._inner = inner
        # the deadline itself travels inside the call; each wait here is only a backstop
        self._timeout = _backstop(timeout)
        self._iter: Iterator[StreamEvent] | None = None

    def __enter__(self) -> "SyncResponseStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iter is None:
            self._iter = get_bridge().iterate(self._inner.__aiter__(), self._timeout)
        return self._iter

    def text(self) -> Iterator[str]:
        for ev in self:
            if type(ev) is TextDelta:
                yield ev.text

    def final(self) -> Response:
        for _ in self:
            pass
        return get_bridge().run(self._inner.final(), self._timeout)

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()  # type: ignore[attr-defined]
        get_bridge().run(self._inner.aclose(), 10)


def stream(
    model: ModelRef,
    messages: MessagesArg,
    *,
    tools: Sequence[Tool | Callable[..., Any]] | None = None,
    timeout: float | None = None,
    **params: Any,
) -> SyncResponseStream:
    """Blocking ``astream``; ``timeout`` is the whole stream's deadline (first byte to last)."""
    if timeout is not None:
        params["timeout"] = timeout
    return SyncResponseStream(astream(model, messages, tools=tools, **params), timeout)
