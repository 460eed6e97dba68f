"""The one resolver: a model reference (``"provider:model"``, a configured name, ``auto``) → a
provider instance and a model name. Every path that turns a name into a provider comes here — the
module API, ``auto``, the registry's implicit keys, ``doctor``, ``config init`` and the pydantic-ai
integration — so a reference, an alias or a stored key that works in one works in all.

``"provider:model"`` splits on the FIRST colon, so ``ollama:llama3.2:3b`` is provider ``ollama``
and model ``llama3.2:3b``. The provider part is, in this order: the name of a provider in the
default registry (loaded from config), a provider type or one of its aliases (the one alias table,
``llmswitch.providers.canonical_type``), or ``auto``.

A provider built here from a bare type follows the environment: the next call after
``os.environ["OPENAI_API_KEY"] = ...`` (or a new ``OPENAI_BASE_URL``, or ``llmswitch keys set``
in this process) builds it again. Checking costs one dict lookup and two raw env lookups per call.
A key changed in the keyring by *another* process is read again after the current one is refused
(any ``AuthenticationError`` drops the cached provider) or after ``reset_provider_cache()``.

Default local endpoints and the cloud key list are not written anywhere: ``llmswitch.providers``
reads them off the provider classes (``default_base_url``, ``api_key_env``, ``is_local``,
``auto_rank``, ``default_chat_model``) for ``auto``, ``doctor`` and ``config init``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

from .config import implicit_api_key, on_keyring_change
from .errors import ConfigError
from .providers import BaseProvider, canonical_type, known_types, provider_class

__all__ = [
    "ModelRef",
    "parse_model_ref",
    "is_auto",
    "resolve",
    "aresolve",
    "forget",
    "reset_provider_cache",
    "aclose_cached_providers",
]

ModelRef = str | BaseProvider


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """``"ollama:llama3.2:3b"`` → ``("ollama", "llama3.2:3b")``; ``"auto"`` → ``("auto", None)``."""
    if not ref or not isinstance(ref, str):
        raise ConfigError(f"a model reference looks like 'provider:model', got {ref!r}")
    provider, sep, model = ref.partition(":")
    return provider.strip(), (model.strip() or None) if sep else None


def is_auto(ref: object) -> bool:
    """True for ``auto`` and ``auto:MODEL`` (resolved by probing, so only asynchronously)."""
    return isinstance(ref, str) and ref.partition(":")[0].strip() == "auto"


# --- the provider cache -----------------------------------------------------------------------

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
        encode = os.environ.encodekey
        keys = _ENV_KEYS[cls] = (
            encode(cls.api_key_env) if cls.api_key_env else None,
            encode(cls.base_url_env) if cls.base_url_env else None,
        )
    k, u = keys
    return (data.get(k) if k is not None else None, data.get(u) if u is not None else None)


class _Hit(NamedTuple):
    provider: BaseProvider
    model: str | None
    table: Mapping[str, BaseProvider]
    """The registry table it was resolved against (replaced, never mutated, on every change)."""
    env: tuple[Any, Any] | None
    """The env values a provider built from a bare type depends on; None for a configured one."""


_lock = threading.Lock()
_built: dict[str, tuple[BaseProvider, tuple[Any, Any]]] = {}
"""Providers built from a bare type (canonical type → provider, env values it was built from)."""
_resolved: dict[str, _Hit] = {}
"""ref → what it resolved to: the module API resolves the same few references on every call, and
this keeps that to one dict lookup."""
_retiring: set[asyncio.Task[None]] = set()
_registry: Any = None


def _table() -> Mapping[str, BaseProvider]:
    global _registry
    if _registry is None:
        from . import registry

        _registry = registry
    table: Mapping[str, BaseProvider] = _registry.default_registry().providers
    return table


def _retire(provider: BaseProvider) -> None:
    """Close a provider the environment has replaced, without making the caller wait for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop here: its sessions are released at exit
    task = loop.create_task(provider.aclose())
    _retiring.add(task)
    task.add_done_callback(_retiring.discard)


def _build(type_name: str, ref: str) -> tuple[BaseProvider, tuple[Any, Any]]:
    """The cached provider for a bare type, rebuilt when the env values it read have changed."""
    key = canonical_type(type_name)
    if key is None:
        raise ConfigError(
            f"unknown provider {type_name!r} in {ref!r}; use one of {', '.join(known_types())} "
            "or a provider name from your llmswitch.yaml"
        )
    with _lock:
        cached = _built.get(key)
        if cached is not None and cached[1] == _env_seen(cached[0]):
            return cached
        if cached is not None:
            _retire(cached[0])
        klass = provider_class(key)
        key_from_keyring = implicit_api_key(klass, key)
        provider = klass(api_key=key_from_keyring) if key_from_keyring else klass()
        entry = _built[key] = (provider, _env_seen(provider))
        return entry


def resolve(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    """A reference (not ``auto``: see ``aresolve``) → (provider instance, model name or None)."""
    if isinstance(ref, BaseProvider):
        return ref, None
    table = _table()
    hit = _resolved.get(ref)
    if hit is not None and hit.table is table and (hit.env is None or hit.env == _env_seen(hit.provider)):
        return hit.provider, hit.model
    name, model = parse_model_ref(ref)
    if name == "auto":
        raise ConfigError("'auto' needs detection; use the async API (acomplete/astream) or llmswitch.resolve.aresolve()")
    named = table.get(name)
    if named is not None:
        _resolved[ref] = _Hit(named, model, table, None)
        return named, model
    provider, env = _build(name, ref)
    _resolved[ref] = _Hit(provider, model, table, env)
    return provider, model


async def aresolve(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    """``resolve`` for async code, ``auto`` included (probed once per process, see ``llmswitch.auto``)."""
    if is_auto(ref):
        from .auto import resolve_auto

        assert isinstance(ref, str)
        return await resolve_auto(parse_model_ref(ref)[1])
    return resolve(ref)


def forget(provider: BaseProvider) -> None:
    """Drop a provider built from a bare type (its key was refused): the next call builds it again,
    reading the env var and the keyring afresh. Configured providers are left alone."""
    with _lock:
        for key, (built, _) in list(_built.items()):
            if built is provider:
                del _built[key]
        for ref, hit in list(_resolved.items()):
            if hit.provider is provider:
                del _resolved[ref]


def reset_provider_cache() -> None:
    """Forget every provider built from a bare type and every remembered resolution."""
    with _lock:
        _built.clear()
        _resolved.clear()


on_keyring_change(reset_provider_cache)


async def aclose_cached_providers() -> None:
    """Close the providers built from bare types (their pooled connections)."""
    with _lock:
        providers = [p for p, _ in _built.values()]
    for p in providers:
        await p.aclose()
