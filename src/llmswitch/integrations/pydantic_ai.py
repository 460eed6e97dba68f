"""pydantic-ai models for llmswitch providers.

``Agent(llmswitch.pydantic_ai_model("auto"))`` runs a pydantic-ai agent on whatever backend
llmswitch finds; ``provider.create_model()`` / ``await provider.create_model_async()`` give the
pydantic-ai model for one configured provider, and ``fallback_model([...])`` a
``FallbackModel`` over a chain of them.

Which pydantic-ai classes (tested with pydantic-ai 2.31.1 and 2.68.0; releases without
``VLLMProvider``, ``OpenAICompatibleProvider`` or ``OllamaModel`` get ``OpenAIProvider`` on the
server's base URL and ``OpenAIChatModel`` instead):

==================================================  ===============================================
llmswitch provider type                             pydantic-ai model / provider
==================================================  ===============================================
openai                                              ``OpenAIChatModel`` + ``OpenAIProvider``
openrouter                                          ``OpenAIChatModel`` + ``OpenRouterProvider``
vllm                                                ``OpenAIChatModel`` + ``VLLMProvider``
llamacpp, lmstudio, openai-compatible (and any      ``OpenAIChatModel`` + ``OpenAICompatibleProvider``
third-party type built on OpenAICompatibleProvider) (``max_tokens``, not ``max_completion_tokens``)
ollama                                              ``OllamaModel`` + ``OllamaProvider`` on ``<base>/v1``
anthropic                                           ``AnthropicModel`` + ``AnthropicProvider``
==================================================  ===============================================

pydantic-ai talks to the server with its own (httpx-based) SDK clients: these models do not
go through llmswitch's transport, so llmswitch's usage totals and call observers do not see
agent calls (pydantic-ai reports usage itself: ``result.usage()``). What llmswitch adds is the
resolution (``auto``, config names, keys from env/keyring, detected model names), a health
check that fails early with our errors and a fix, and one model object per (provider, model).

pydantic-ai is an optional extra: nothing here imports it until a model is built, and a
missing install raises an ImportError that says ``pip install 'llmswitch[pydantic-ai]'``.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from .. import errors as E
from .. import hooks
from ..providers.fallback import FallbackProvider

if TYPE_CHECKING:  # pragma: no cover
    from pydantic_ai.models import Model
    from pydantic_ai.models.fallback import FallbackModel

    from ..providers.base import BaseProvider

__all__ = [
    "INSTALL_HINT",
    "create_model",
    "create_model_async",
    "pydantic_ai_model",
    "pydantic_ai_model_async",
    "fallback_model",
    "fallback_model_async",
    "clear_model_cache",
]

INSTALL_HINT = "pip install 'llmswitch[pydantic-ai]'"


# --- importing pydantic-ai ---------------------------------------------------------------------


def _import(module: str) -> Any:
    """Import a pydantic-ai module, or fail with the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"llmswitch's pydantic-ai integration needs pydantic-ai with its OpenAI and Anthropic SDKs "
            f"({type(exc).__name__}: {exc}). Install them with: {INSTALL_HINT}",
            name=module,
        ) from exc


def _optional(module: str) -> Any:
    """A pydantic-ai module that older releases lack, or None."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _require_pydantic_ai() -> None:
    _import("pydantic_ai")


# --- building one model ------------------------------------------------------------------------


def _key(provider: BaseProvider) -> str | None:
    secret = getattr(provider, "api_key", None)
    if secret is None:
        return None
    value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
    return value or None


def _ollama_v1(base_url: str) -> str:
    """Ollama's OpenAI-compatible layer lives under ``/v1`` of the server root."""
    url = base_url.rstrip("/")
    for suffix in ("/api", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url + "/v1"


def _settings(provider: BaseProvider) -> Any:
    max_tokens = getattr(provider, "default_max_tokens", None)
    if not max_tokens:
        return None
    return _import("pydantic_ai.settings").ModelSettings(max_tokens=max_tokens)


def _build(provider: BaseProvider, model_name: str) -> Model:
    """The pydantic-ai model for ``provider``; pydantic-ai's own refusals become our ConfigError."""
    user_error = _import("pydantic_ai.exceptions").UserError
    try:
        return _build_model(provider, model_name)
    except user_error as exc:
        raise E.ConfigError(f"pydantic-ai cannot use model {model_name!r} of provider {provider.name!r}: {exc}") from None


def _build_model(provider: BaseProvider, model_name: str) -> Model:
    """Dispatch on the provider class's declared ``pydantic_ai_kind`` (``BaseProvider``)."""
    provider.check_key()  # our AuthenticationError (with the env var to set), not the SDK's
    kind = getattr(provider, "pydantic_ai_kind", None)
    key = _key(provider)
    base_url = provider.base_url
    settings = _settings(provider)

    if kind is None:
        hint = getattr(provider, "pydantic_ai_hint", "") or ""
        raise E.ConfigError(
            f"provider {provider.name!r} (type {provider.provider_type.value!r}) has no pydantic-ai model in llmswitch"
            + (f": {hint}" if hint else "")
        )
    if kind == "anthropic":
        anthropic_models = _import("pydantic_ai.models.anthropic")
        anthropic_providers = _import("pydantic_ai.providers.anthropic")
        pa_provider = anthropic_providers.AnthropicProvider(api_key=key, base_url=base_url)
        return cast("Model", anthropic_models.AnthropicModel(model_name, provider=pa_provider, settings=settings))

    openai_models = _import("pydantic_ai.models.openai")
    # ``OpenAIChatModel`` since pydantic-ai 1.0; ``OpenAIModel`` before (now a deprecated alias).
    chat_model = getattr(openai_models, "OpenAIChatModel", None) or openai_models.OpenAIModel

    if kind == "ollama":
        pa_provider = _import("pydantic_ai.providers.ollama").OllamaProvider(base_url=_ollama_v1(base_url), api_key=key)
        ollama_models = _optional("pydantic_ai.models.ollama")  # OllamaModel: newer pydantic-ai (not in 2.31)
        ollama_model = getattr(ollama_models, "OllamaModel", None) or chat_model
        return cast("Model", ollama_model(model_name, provider=pa_provider, settings=settings))
    if kind == "openai":
        pa_provider = _import("pydantic_ai.providers.openai").OpenAIProvider(base_url=base_url, api_key=key)
        return cast("Model", chat_model(model_name, provider=pa_provider, settings=settings))
    # pydantic-ai's OpenRouterProvider has the public URL built in; elsewhere (a proxy) it is a compatible server
    if kind == "openrouter" and base_url.rstrip("/") == type(provider).default_base_url.rstrip("/"):
        pa_provider = _import("pydantic_ai.providers.openrouter").OpenRouterProvider(api_key=key)
        return cast("Model", chat_model(model_name, provider=pa_provider, settings=settings))
    if kind == "vllm":
        vllm = _optional("pydantic_ai.providers.vllm")  # VLLMProvider: newer pydantic-ai (not in 2.31)
        if vllm is not None and hasattr(vllm, "VLLMProvider"):
            pa_provider = vllm.VLLMProvider(base_url=base_url, api_key=key)
            return cast("Model", chat_model(model_name, provider=pa_provider, settings=settings))
    # "openai-compatible", "openrouter" behind a proxy, "vllm" on older pydantic-ai, and any kind a
    # third-party type declares that this release does not know: the server speaks OpenAI chat
    return _compatible(provider, model_name, key, settings, chat_model)


def _compatible(provider: BaseProvider, model_name: str, key: str | None, settings: Any, chat_model: Any) -> Model:
    """A server that speaks OpenAI Chat Completions but is not OpenAI.

    Every compatible server (llama.cpp, LM Studio, proxies) reads ``max_tokens``; only OpenAI
    itself insists on ``max_completion_tokens``, so the profile says to send ``max_tokens``."""
    profiles = _import("pydantic_ai.profiles.openai")
    override = profiles.OpenAIModelProfile(openai_chat_supports_max_completion_tokens=False)
    compat = _optional("pydantic_ai.providers.openai_compatible")
    if compat is not None and hasattr(compat, "OpenAICompatibleProvider"):  # newer pydantic-ai (not in 2.31)
        pa_provider = compat.OpenAICompatibleProvider(provider.name, base_url=provider.base_url, api_key=key, profile=override)
        return cast("Model", chat_model(model_name, provider=pa_provider, settings=settings))
    # Older pydantic-ai: OpenAIProvider on another base URL (the SDK needs some key) + the override.
    openai_providers = _import("pydantic_ai.providers.openai")
    pa_provider = openai_providers.OpenAIProvider(base_url=provider.base_url, api_key=key or "api-key-not-set")
    merge = getattr(_import("pydantic_ai.profiles"), "merge_profile", None)
    base = pa_provider.model_profile(model_name)
    profile = merge(base, override) if merge is not None and base is not None else None
    return cast("Model", chat_model(model_name, provider=pa_provider, settings=settings, profile=profile))


# --- the cache: one pydantic-ai model per (provider, model) ----------------------------------

_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str, int | None], Model]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _fingerprint(provider: BaseProvider) -> str:
    key = _key(provider) or ""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


def _cached(provider: BaseProvider, model_name: str, max_retries: int | None = None) -> Model:
    """Building a pydantic-ai model builds an SDK client: do it once per provider and model.

    Keyed by provider object (weakly: a dropped provider drops its models), then by model,
    base URL and a hash of the key, so a provider whose URL or key is changed gets a new one.
    ``max_retries`` (the SDK client's own retries; None keeps its default) is part of the key."""
    slot = (model_name, provider.base_url, _fingerprint(provider), max_retries)
    with _cache_lock:
        per_provider = _cache.get(provider)
        if per_provider is not None and slot in per_provider:
            return per_provider[slot]
    model = _build(provider, model_name)
    if max_retries is not None:
        client = getattr(model, "client", None)
        if client is not None and hasattr(client, "max_retries"):
            client.max_retries = max_retries
    with _cache_lock:
        per_provider = _cache.setdefault(provider, {})
        return per_provider.setdefault(slot, model)


def clear_model_cache() -> None:
    """Forget every cached pydantic-ai model (their HTTP clients close when collected)."""
    with _cache_lock:
        _cache.clear()


# --- model names and connection checks ---------------------------------------------------------

def _no_model(provider: BaseProvider, detail: str) -> E.ModelNotFoundError:
    fix = getattr(provider, "no_model_hint", None) or (
        f"pass a model name (create_model('MODEL') or '{provider.name}:MODEL') or set default_model"
    )
    return E.ModelNotFoundError(detail, provider=provider.name, url=provider.base_url, hint=fix)


def _name_offered(name: str, ids: Sequence[str]) -> bool:
    return name in ids or f"{name}:latest" in ids or any(i.endswith("/" + name) for i in ids)


async def _check_connection(provider: BaseProvider, model_name: str | None) -> Any:
    """Run the provider's health check; raise our error with the fix when it is not usable."""
    status = await provider.health_check()
    if not status.connected:
        detail = status.error or "no answer"
        if "HTTP 401" in detail or "HTTP 403" in detail or "API key" in detail:
            raise E.AuthenticationError(
                f"{provider.name} rejected the credentials: {detail}", provider=provider.name, url=provider.base_url
            )
        hint = getattr(provider, "start_hint", None)
        raise E.ProviderConnectionError(
            f"{provider.name} is not reachable at {provider.base_url}: {detail}",
            provider=provider.name,
            url=provider.base_url,
            hint=(hint + "; `llmswitch doctor` checks every endpoint") if hint else None,
        )
    if model_name:
        if getattr(provider, "is_local", False):
            # Local servers list exactly what they can serve; cloud lists omit aliases.
            ids = [m.id for m in await provider.list_models()]
            # llama-server answers to its alias and to the path of the model it loaded (``/props``)
            path = status.metadata.get("model_path")
            names = [*ids, path, path.rsplit("/", 1)[-1]] if isinstance(path, str) and path else ids
            if ids and not _name_offered(model_name, names):
                shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
                raise _no_model(provider, f"model {model_name!r} is not offered by {provider.name} (it has: {shown})")
    elif not status.model_detected:
        raise _no_model(provider, status.error or f"{provider.name} offers no model")
    return status


def create_model(provider: BaseProvider, model_name: str | None = None) -> Model:
    """The pydantic-ai model for ``provider``: ``model_name``, else its default, else the detected one.

    Detection needs the server (through llmswitch's background loop); pass a name or use
    :func:`create_model_async` to avoid that round trip."""
    _require_pydantic_ai()
    if isinstance(provider, FallbackProvider):  # a chain: pydantic-ai's FallbackModel over its members
        return fallback_model(list(provider.members))
    name = model_name or provider.default_model or provider.detected_model
    if not name:
        from .._bridge import get_bridge

        name = get_bridge().run(provider.resolve_model(None))  # raises ModelNotFoundError with the fix
    return _cached(provider, name)


async def create_model_async(
    provider: BaseProvider,
    model_name: str | None = None,
    auto_detect: bool = True,
    test_connection: bool = True,
) -> Model:
    """The pydantic-ai model for ``provider``, checked against the server first.

    - ``test_connection``: run ``provider.health_check()`` and raise
      :class:`~llmswitch.ProviderConnectionError` (not reachable) or
      :class:`~llmswitch.ModelNotFoundError` (no such / no model) with what to do.
    - ``auto_detect``: without a name or default model, use the model the server offers
      (``await provider.detect_model()``).
    """
    _require_pydantic_ai()
    if isinstance(provider, FallbackProvider):
        return await fallback_model_async(
            list(provider.members), auto_detect=auto_detect, test_connection=test_connection
        )
    name = await _model_name_async(provider, model_name, auto_detect, test_connection)
    return _cached(provider, name)


async def _model_name_async(provider: BaseProvider, model_name: str | None, auto_detect: bool, test_connection: bool) -> str:
    name = model_name or provider.default_model
    status = await _check_connection(provider, name) if test_connection else None
    if not name:
        if not auto_detect:
            raise _no_model(provider, "no model name given, no default_model set, and auto_detect=False")
        if status is not None and status.model_detected and status.model_id:
            name = status.model_id  # the health check just asked the server (same rule as detect_model)
        else:
            name = await provider.detect_model()
        if not name:
            raise _no_model(provider, f"{provider.name} offers no model to detect")
    return name


# --- the one-line entry points -----------------------------------------------------------------


async def _resolve(ref: Any) -> tuple[BaseProvider, str | None]:
    from ..resolve import aresolve

    return await aresolve(ref)


async def pydantic_ai_model_async(
    ref: Any = "auto", *, auto_detect: bool = True, test_connection: bool = True
) -> Model:
    """``"provider:model"``, ``"provider"``, a config name, ``"auto"`` or a provider → a pydantic-ai model."""
    _require_pydantic_ai()
    provider, model_name = await _resolve(ref)
    return await create_model_async(provider, model_name, auto_detect=auto_detect, test_connection=test_connection)


def pydantic_ai_model(
    ref: Any = "auto", *, auto_detect: bool = True, test_connection: bool = True, timeout: float | None = 60.0
) -> Model:
    """``Agent(llmswitch.pydantic_ai_model("auto"))`` — the blocking twin of :func:`pydantic_ai_model_async`.

    Runs detection and the health check on llmswitch's background loop, so it works from plain
    scripts, threads and inside a running loop (Jupyter) alike. With ``test_connection=False``
    and a model in the reference (``"ollama:llama3.2"``) it needs no network at all."""
    _require_pydantic_ai()
    from ..resolve import resolve

    if not test_connection and not _is_auto(ref):
        provider, model_name = resolve(ref)
        if model_name or provider.default_model or not auto_detect:
            name = model_name or provider.default_model
            if not name:
                raise _no_model(provider, "no model name given, no default_model set, and auto_detect=False")
            return _cached(provider, name)
    from .._bridge import get_bridge

    return get_bridge().run(
        pydantic_ai_model_async(ref, auto_detect=auto_detect, test_connection=test_connection), timeout
    )


def _is_auto(ref: Any) -> bool:
    from ..resolve import is_auto

    return is_auto(ref)


# --- fallback chains ---------------------------------------------------------------------------


def _agent_chain(agent: str, registry: Any = None) -> list[Any]:
    """The agent's providers from the registry (``get_agent_chain``): primary, then fallbacks."""
    if registry is None:
        try:
            from ..registry import default_registry
        except ImportError:
            default_registry = None  # type: ignore[assignment]
        registry = default_registry() if default_registry is not None else None
    get_chain = getattr(registry, "get_agent_chain", None)
    if get_chain is None:
        raise E.ConfigError(
            f"fallback_model(agent={agent!r}) needs a registry with agent chains (llmswitch.registry); "
            "pass the chain as a list instead: fallback_model(['anthropic:claude-sonnet-4-5', 'ollama:llama3.2'])"
        )
    return list(get_chain(agent))


def _chain_items(chain: Iterable[Any] | None, agent: str | None, registry: Any) -> list[Any]:
    if (chain is None) == (agent is None):
        raise TypeError("pass either a chain (list of providers or 'provider:model' refs) or agent=NAME")
    items = _agent_chain(agent, registry) if agent is not None else list(chain)  # type: ignore[arg-type]
    if not items:
        raise E.ConfigError("a fallback chain needs at least one provider")
    return items


def _is_pa_model(item: Any) -> TypeGuard[Model]:
    try:
        from pydantic_ai.models import Model
    except ImportError:  # pragma: no cover
        return False
    return isinstance(item, Model)


def _retries_for(i: int, n: int, member_max_retries: int | None) -> int | None:
    """Members before the last fail over instead of retrying inside their SDK; the last keeps its retries."""
    return member_max_retries if i < n - 1 else None


async def _member_async(item: Any, auto_detect: bool, test_connection: bool, max_retries: int | None) -> Model:
    if _is_pa_model(item):
        return item
    if isinstance(item, tuple):
        provider, name = item
    else:
        provider, name = await _resolve(item)
    name = await _model_name_async(provider, name, auto_detect, test_connection)
    return _cached(provider, name, max_retries)


def _member_offline(item: Any, max_retries: int | None) -> Model | None:
    """A member built without touching the network, or None when it needs detection."""
    if _is_pa_model(item):
        return item
    if isinstance(item, tuple):
        provider, name = item
    elif _is_auto(item):
        return None
    else:
        from ..resolve import resolve

        provider, name = resolve(item)
    name = name or provider.default_model or provider.detected_model
    return _cached(provider, name, max_retries) if name else None


def _fallback(models: list[Model], fallback_on: Any) -> FallbackModel:
    fallback = _import("pydantic_ai.models.fallback")
    if fallback_on is None:
        return cast("FallbackModel", fallback.FallbackModel(models[0], *models[1:]))
    return cast("FallbackModel", fallback.FallbackModel(models[0], *models[1:], fallback_on=fallback_on))


async def fallback_model_async(
    chain: Iterable[Any] | None = None,
    *,
    agent: str | None = None,
    registry: Any = None,
    auto_detect: bool = True,
    test_connection: bool = False,
    fallback_on: Any = None,
    member_max_retries: int | None = 0,
) -> FallbackModel:
    """A pydantic-ai ``FallbackModel`` over a chain — providers, ``(provider, model)`` pairs,
    ``"provider:model"`` refs, pydantic-ai models — or over ``agent="coder"``'s chain from the
    registry (``registry=``, else the default one built from the config file).

    - ``test_connection`` is off by default: a member that is down when the chain is built is
      what the fallback is for (a member with no model name still needs its server to detect one).
    - ``member_max_retries`` (default 0): the SDK retries of every member but the last, so a
      refused connection or a 429 moves on to the next member at once instead of after the
      SDK's backoff (about 2.5 s for two retries); None keeps the SDK's default.
    - ``fallback_on``: passed to ``FallbackModel`` (default: any ``ModelAPIError``).
    """
    _require_pydantic_ai()
    items = _chain_items(chain, agent, registry)
    models = [
        await _member_async(item, auto_detect, test_connection, _retries_for(i, len(items), member_max_retries))
        for i, item in enumerate(items)
    ]
    return _fallback(models, fallback_on)


def fallback_model(
    chain: Iterable[Any] | None = None,
    *,
    agent: str | None = None,
    registry: Any = None,
    auto_detect: bool = True,
    test_connection: bool = False,
    fallback_on: Any = None,
    member_max_retries: int | None = 0,
    timeout: float | None = 60.0,
) -> FallbackModel:
    """Blocking :func:`fallback_model_async`; needs no network call when every member names its
    model (or has a default) and ``test_connection`` is off."""
    _require_pydantic_ai()
    items = _chain_items(chain, agent, registry)
    if not test_connection:
        models: list[Model] = []
        for i, item in enumerate(items):
            built = _member_offline(item, _retries_for(i, len(items), member_max_retries))
            if built is None:
                break
            models.append(built)
        else:
            return _fallback(models, fallback_on)
    from .._bridge import get_bridge

    return get_bridge().run(
        fallback_model_async(
            items,
            auto_detect=auto_detect,
            test_connection=test_connection,
            fallback_on=fallback_on,
            member_max_retries=member_max_retries,
        ),
        timeout,
    )


# ``provider.create_model()`` / ``create_model_async()`` delegate here through the hook
# (providers/ sits below integrations/ and never imports it; see ``llmswitch.hooks``).
hooks.set_model_factory(create_model, create_model_async)
