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
from .registry import default_registry

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

ModelRef = str | BaseProvider | list[str | BaseProvider] | tuple[str | BaseProvider, ...]
"""A reference, a provider, or a list of them: a fallback chain (``providers.fallback``)."""


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """``"ollama:llama3.2:3b"`` → ``("ollama", "llama3.2:3b")``; ``"auto"`` → ``("auto", None)``."""
    if not ref or not isinstance(ref, str):
        raise ConfigError(f"a model reference looks like 'provider:model', got {ref!r}")
    provider, sep, model = ref.partition(":")
    return provider.strip(), (model.strip() or None) if sep else None


def is_auto(ref: object) -> bool:
    """True for ``auto`` and ``auto:MODEL`` (resolved by probing, so only asynchronously), and
    for a chain that has one among its members."""
    if isinstance(ref, (list, tuple)):
        return any(is_auto(r) for r in ref)
    return isinstance(ref, str) and ref.partition(":")[0].strip() == "auto"


# --- the provider cache -----------------------------------------------------------------------

_ENV_DATA: Any = os.environ._data  # type: ignore[attr-defined]
"""CPython's (and PyPy's) raw mapping behind ``os.environ``: encoded keys and values, updated by
every ``os.environ[...] = ...``. One C-level ``dict.get`` instead of ``os.environ.get``'s four
Python calls, on every module-API call."""

_EnvKeys = tuple[Any, Any]
"""The encoded names of the env vars a provider built from a bare type read (key, base URL)."""


def _env_keys(provider: BaseProvider) -> _EnvKeys:
    encode = os.environ.encodekey
    cls = type(provider)
    return (encode(cls.api_key_env) if cls.api_key_env else None, encode(cls.base_url_env) if cls.base_url_env else None)


def _env_values(keys: _EnvKeys) -> tuple[Any, Any]:
    """The current values of those env vars (``dict.get(None)`` is None for a type without one)."""
    data = _ENV_DATA
    return (data.get(keys[0]), data.get(keys[1]))


class _Hit(NamedTuple):
    provider: BaseProvider
    model: str | None
    table: Mapping[str, BaseProvider]
    """The registry table it was resolved against (replaced, never mutated, on every change)."""
    keys: _EnvKeys | None
    """For a provider built from a bare type, the env vars it read; None for a configured one."""
    values: tuple[Any, Any] | None
    """Their values when it was built."""


class _Built(NamedTuple):
    provider: BaseProvider
    keys: _EnvKeys
    values: tuple[Any, Any]


_lock = threading.Lock()
_built: dict[str, _Built] = {}
"""Providers built from a bare type, by canonical type."""
_resolved: dict[str, _Hit] = {}
"""ref → what it resolved to: the module API resolves the same few references on every call, and
this keeps that to one dict lookup."""
_retiring: set[asyncio.Task[None]] = set()


def _retire(provider: BaseProvider) -> None:
    """Close a provider the environment has replaced, without making the caller wait for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop here: its sessions are released at exit
    task = loop.create_task(provider.aclose())
    _retiring.add(task)  # a strong reference until it is done (the loop keeps only a weak one)
    task.add_done_callback(_retiring.discard)


def _build(type_name: str, ref: str) -> _Built:
    """The cached provider for a bare type, rebuilt when the env values it read have changed."""
    key = canonical_type(type_name)
    if key is None:
        raise ConfigError(
            f"unknown provider {type_name!r} in {ref!r}; use one of {', '.join(known_types())} "
            "or a provider name from your llmswitch.yaml"
        )
    with _lock:
        cached = _built.get(key)
        if cached is not None and cached.values == _env_values(cached.keys):
            return cached
        if cached is not None:
            _retire(cached.provider)
        klass = provider_class(key)
        provider = klass(api_key=implicit_api_key(klass))  # None: the provider reads its env var
        keys = _env_keys(provider)
        entry = _built[key] = _Built(provider, keys, _env_values(keys))
        return entry


def resolve(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    """A reference (not ``auto``: see ``aresolve``) → (provider instance, model name or None).
    A list of references is a fallback chain: one ``FallbackProvider`` and no model."""
    if isinstance(ref, BaseProvider):
        return ref, None
    if isinstance(ref, (list, tuple)):
        return _chain([resolve(r) for r in ref]), None
    registry = default_registry()
    table = registry.providers
    hit = _resolved.get(ref)
    if hit is not None and hit.table is table and (hit.keys is None or hit.values == _env_values(hit.keys)):
        return hit.provider, hit.model
    name, model = parse_model_ref(ref)
    if name == "auto":
        raise ConfigError("'auto' needs detection; use the async API (acomplete/astream) or llmswitch.resolve.aresolve()")
    named = table.get(name)
    if named is not None:
        _resolved[ref] = _Hit(named, model, table, None, None)
        return named, model
    if name in registry.agents:  # an agent: its provider, or its fallback chain (not cached here: the registry does)
        return registry.chain_for_agent(name), model
    built = _build(name, ref)
    _resolved[ref] = _Hit(built.provider, model, table, built.keys, built.values)
    return built.provider, model


async def aresolve(ref: ModelRef) -> tuple[BaseProvider, str | None]:
    """``resolve`` for async code, ``auto`` included (probed once per process, see ``llmswitch.auto``)."""
    if isinstance(ref, (list, tuple)):
        return _chain([await aresolve(r) for r in ref]), None
    if is_auto(ref):
        from .auto import resolve_auto

        assert isinstance(ref, str)
        return await resolve_auto(parse_model_ref(ref)[1])
    return resolve(ref)


_chains: dict[tuple[tuple[BaseProvider, str | None], ...], BaseProvider] = {}
"""The chains the module API built, by their members' identities: ``ls.complete([...])`` on
every call reuses one ``FallbackProvider`` while its members stay the same."""


def _chain(members: list[tuple[BaseProvider, str | None]]) -> BaseProvider:
    from .providers.fallback import FallbackProvider

    pairs = tuple(members)
    chain = _chains.get(pairs)
    if chain is None:
        if len(_chains) >= 256:
            _chains.clear()
        chain = _chains[pairs] = FallbackProvider(pairs)
    return chain


def forget(provider: BaseProvider) -> None:
    """Drop a provider built from a bare type (its key was refused): the next call builds it again,
    reading the env var and the keyring afresh. Configured providers are left alone."""
    with _lock:
        for key, built in list(_built.items()):
            if built.provider is provider:
                del _built[key]
        for ref, hit in list(_resolved.items()):
            if hit.provider is provider:
                del _resolved[ref]


def reset_provider_cache() -> None:
    """Forget every provider built from a bare type and every remembered resolution."""
    with _lock:
        _built.clear()
        _resolved.clear()
        _chains.clear()


on_keyring_change(reset_provider_cache)


async def aclose_cached_providers() -> None:
    """Close the providers built from bare types (their pooled connections)."""
    with _lock:
        providers = [b.provider for b in _built.values()]
    for p in providers:
        await p.aclose()
