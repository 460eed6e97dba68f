"""ProviderRegistry: named provider instances, agents and their fallback chains, usage totals.

Budgets (README "Budgets"): a provider's own budgets live on the provider; the registry's total
budgets (``budgets:`` at the top of the config) are added to every provider it registers, and an
agent's budgets (``budget:`` on the agent) are handed to each call made for the agent
(``complete_for_agent``/``stream_for_agent`` pass them as the call's ``budget=``). So every
budget is checked by the one admission step of ``BaseProvider.complete()``/``stream()``, once per
attempt, on the one call path; a call made on an agent's provider directly (``get_for_agent``)
counts against the provider's and the total budgets, not the agent's.

Thread safety without a lock on the read path: the name → provider mapping is replaced
wholesale (copy-on-write) under a lock on every mutation, and readers only ever read the
current mapping object, which is never mutated once published. ``get`` from many threads
therefore needs no lock and can never see a half-updated mapping.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .hooks import HookSet
from .types import Response, TokenUsage

if TYPE_CHECKING:  # pragma: no cover
    from ._streaming import ResponseStream
    from .config import LLMSwitchConfig
    from .providers.base import BaseProvider
    from .routing.budget import Budget
    from .state import StateBackend

__all__ = ["ProviderRegistry", "default_registry", "set_default_registry", "reset_default_registry"]


class ProviderRegistry:
    """Providers by name, agents by id. Build one with ``from_config`` or ``register``."""

    def __init__(
        self, providers: Mapping[str, BaseProvider] | None = None, *, agents: Mapping[str, list[str]] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._providers: dict[str, BaseProvider] = dict(providers or {})
        self._agents: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (agents or {}).items()}
        self._chains: dict[tuple[str, tuple[str, ...]], tuple[Mapping[str, BaseProvider], Any, BaseProvider]] = {}
        self._agent_budgets: dict[str, tuple[Budget, ...]] = {}
        self.budgets: tuple[Budget, ...] = ()
        """The total budgets, added to every provider registered (``set_budgets``)."""
        self.config: LLMSwitchConfig | None = None
        self.state: StateBackend | None = None
        """The configured state backend (``state:``) its providers share; None: each uses the process's memory one."""
        self.hooks = HookSet()
        """Call hooks for every provider of this registry (``registry.hooks.add("on_error", fn)``)."""
        for p in self._providers.values():
            _link_hooks(p, self.hooks)

    # --- mutation (locked, copy-on-write) ---------------------------------------------------
    def register(self, name: str, provider: BaseProvider, *, replace: bool = True) -> None:
        """Add ``provider`` under ``name``; with ``replace=False`` an existing name is an error."""
        if not name or not isinstance(name, str):
            raise ValueError("a provider needs a non-empty name")
        _check_provider(name, provider)
        self._add_total_budgets(provider)
        with self._lock:
            if not replace and name in self._providers:
                raise ValueError(f"a provider named {name!r} is already registered")
            new = dict(self._providers)
            new[name] = provider
            self._providers = new
        _link_hooks(provider, self.hooks)

    def unregister(self, name: str) -> BaseProvider:
        """Remove a provider and hand it back (the caller closes it); KeyError lists the known names."""
        with self._lock:
            new = dict(self._providers)
            provider = new.pop(name, None)
            if provider is None:
                raise KeyError(self._unknown(name))
            self._providers = new
            return provider

    def set_budgets(self, budgets: Any) -> None:
        """Total budgets (a ``Budget``, a mapping such as ``{"usd": 50, "per": "month"}``, or a list):
        every provider's calls count against them, the ones registered already and those to come."""
        from .routing.budget import Budget

        new = Budget.from_settings("total", budgets)
        old = set(map(id, self.budgets))
        with self._lock:
            self.budgets = new
            for p in self._providers.values():
                mine = getattr(p, "budgets", None)
                if isinstance(mine, tuple):
                    p.budgets = tuple(b for b in mine if id(b) not in old)
        for p in self._providers.values():
            self._add_total_budgets(p)

    def _add_total_budgets(self, provider: Any) -> None:
        mine = getattr(provider, "budgets", None)
        if self.budgets and isinstance(mine, tuple):
            provider.budgets = (*mine, *(b for b in self.budgets if b not in mine))

    def agent_budgets(self, agent_id: str) -> tuple[Budget, ...]:
        """The budgets of calls made for ``agent_id`` (its own, or the ``default`` agent's when it
        has no entry of its own)."""
        budgets = self._agent_budgets
        if agent_id in budgets or agent_id in self._agents:
            return budgets.get(agent_id, ())
        return budgets.get("default", ())

    def set_agent(
        self, agent_id: str, provider: str, fallbacks: list[str] | tuple[str, ...] = (), *, budget: Any = None
    ) -> None:
        """Point ``agent_id`` at a provider name and its fallback names (checked now, not at call
        time); ``budget`` (a ``Budget``, a mapping or a list) limits the calls made for it."""
        from .routing.budget import Budget

        chain = (provider, *fallbacks)
        budgets = Budget.from_settings(f"agent:{agent_id}", budget)
        providers = self._providers
        missing = [n for n in chain if n not in providers]
        if missing:
            raise ConfigError(f"agent {agent_id!r} names unknown provider(s) {', '.join(missing)}; {self._known()}")
        with self._lock:
            new = dict(self._agents)
            new[agent_id] = chain
            self._agents = new
            spent = dict(self._agent_budgets)
            if budgets:
                spent[agent_id] = budgets
            else:
                spent.pop(agent_id, None)
            self._agent_budgets = spent

    # --- lookup (lock-free) -------------------------------------------------------------------
    def _known(self) -> str:
        names = sorted(self._providers)
        return f"known providers: {', '.join(names)}" if names else "no providers are registered (is a config file loaded?)"

    def _unknown(self, name: str) -> str:
        return f"no provider named {name!r}; {self._known()}"

    def get(self, name: str) -> BaseProvider:
        """The provider registered under ``name``; KeyError lists the known names."""
        try:
            return self._providers[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def _chain_names(self, agent_id: str) -> tuple[str, ...]:
        agents = self._agents
        chain = agents.get(agent_id) or agents.get("default")
        if chain is None:
            known = ", ".join(sorted(agents)) or "none"
            raise KeyError(f"no agent named {agent_id!r} (and no 'default' agent); known agents: {known}")
        return chain

    def get_for_agent(self, agent_id: str, agents_config: Any = None) -> BaseProvider:
        """The agent's primary provider. An agent that is not configured gets the ``default``
        agent's provider when there is one, so new agents work without a config change.

        ``agents_config`` (the design documents' second argument) maps agent ids to a provider
        name, to ``{"provider": name, ...}`` or to an object with a ``provider`` attribute; when
        it names the agent (or a ``default`` agent), it wins over the registry's own agents."""
        if agents_config is not None:
            named = _agent_provider(agents_config, agent_id)
            if named is not None:
                return self.get(named)
        return self.get(self._chain_names(agent_id)[0])

    def get_agent_chain(self, agent_id: str) -> list[BaseProvider]:
        """The agent's provider followed by its fallbacks, in order (for failover routing)."""
        return [self.get(n) for n in self._chain_names(agent_id)]

    # --- an agent as one provider: its chain (llmswitch.providers.fallback) ----------------------
    def chain_for_agent(self, agent_id: str) -> BaseProvider:
        """The agent as one provider: its provider alone when it has no fallbacks and no budget of
        its own, else a ``FallbackProvider`` named after the agent over its chain, carrying the
        agent's budgets to every member (built once per change of the providers, agents or
        budgets). An agent that is not configured gets the ``default`` agent's."""
        providers = self._providers
        names = self._chain_names(agent_id)
        budgets = self.agent_budgets(agent_id)
        if len(names) == 1 and not budgets:
            return self.get(names[0])
        key = (agent_id if agent_id in self._agents else "default", names)
        cached = self._chains.get(key)
        if cached is not None and cached[0] is providers and cached[1] is budgets:
            return cached[2]
        from .providers.fallback import FallbackProvider

        chain = FallbackProvider([self.get(n) for n in names], name=key[0], budget=budgets)
        if len(self._chains) > 256:
            self._chains.clear()
        self._chains[key] = (providers, budgets, chain)
        return chain

    async def acomplete_for_agent(
        self, agent_id: str, messages: Any, *, on_content_filter: bool = False, **params: Any
    ) -> Response:
        """The agent's provider answers, else its fallbacks in order (README "Resilience"): the
        next is tried on retryable errors, an open circuit, a context-window or capability error;
        when all fail, ``AllProvidersFailedError.attempts`` lists each. Each member uses its own
        model (``default_model`` or detection), so ``model=`` is not taken."""
        if "model" in params:
            raise TypeError("acomplete_for_agent takes no model=: each member of the chain uses its own default_model")
        return await self._agent_call(agent_id, on_content_filter).complete(messages, **params)

    def complete_for_agent(self, agent_id: str, messages: Any, **params: Any) -> Response:
        """``acomplete_for_agent`` from synchronous code (over the shared background loop)."""
        from ._bridge import get_bridge

        return get_bridge().run(self.acomplete_for_agent(agent_id, messages, **params))

    def stream_for_agent(self, agent_id: str, messages: Any, *, on_content_filter: bool = False, **params: Any) -> ResponseStream:
        """A stream from the agent's chain: failover happens only before the first event."""
        if "model" in params:
            raise TypeError("stream_for_agent takes no model=: each member of the chain uses its own default_model")
        return self._agent_call(agent_id, on_content_filter).stream(messages, **params)

    def _agent_call(self, agent_id: str, on_content_filter: bool) -> BaseProvider:
        provider = self.chain_for_agent(agent_id)
        if on_content_filter:
            from .providers.fallback import FallbackProvider

            members = provider.members if isinstance(provider, FallbackProvider) else (provider,)
            return FallbackProvider(members, name=provider.name, on_content_filter=True,
                                    budget=getattr(provider, "agent_budgets", ()))
        return provider

    @property
    def agents(self) -> Mapping[str, tuple[str, ...]]:
        """The current agent id → (provider, *fallbacks) table; replaced, never mutated."""
        return self._agents

    @property
    def providers(self) -> Mapping[str, BaseProvider]:
        """The current name → provider table. It is replaced, never mutated, on every change, so
        its identity tells a cache (the resolver's) whether anything changed since it looked."""
        return self._providers

    def list_providers(self) -> list[str]:
        """Names in registration order."""
        return list(self._providers)

    def list_agents(self) -> list[str]:
        """Names of the configured agents."""
        return list(self._agents)

    def items(self) -> list[tuple[str, BaseProvider]]:
        """A snapshot of (name, provider) pairs, safe to iterate while others register."""
        return list(self._providers.items())

    def __len__(self) -> int:
        return len(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._providers))

    def __repr__(self) -> str:
        parts = [f"{n}={type(p).__name__}" for n, p in self._providers.items()]
        return f"ProviderRegistry(providers=[{', '.join(parts)}], agents={sorted(self._agents)})"

    # --- usage -----------------------------------------------------------------------------------
    def get_total_usage(self) -> TokenUsage:
        """Token, cost and call counts summed over every provider in this process."""
        total = TokenUsage()
        for p in self._providers.values():
            total.add(p.usage)
        return total

    def get_usage_summary(self) -> dict[str, dict[str, Any]]:
        """Per provider: type, calls, errors, tokens, cost (also as ``cost_usd``, the documents'
        name) and how many calls had no price; plus a ``"total"`` entry summing them all."""
        out: dict[str, dict[str, Any]] = {}
        for name, p in self._providers.items():
            u = p.usage
            out[name] = {
                "provider_type": p.provider_type.value,
                "calls": u.calls,
                "errors": u.errors,
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "total_tokens": u.total_tokens,
                "cost": u.cost,
                "cost_usd": u.cost,
                "unpriced_calls": u.unpriced_calls,
            }
        t = self.get_total_usage()
        out["total"] = {
            "providers": len(self._providers),
            "calls": t.calls,
            "errors": t.errors,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "total_tokens": t.total_tokens,
            "cost": t.cost,
            "cost_usd": t.cost,
            "unpriced_calls": t.unpriced_calls,
        }
        return out

    def reset_all_usage(self) -> None:
        """Zero every provider's counters (for example between test runs or billing periods)."""
        for p in self._providers.values():
            p.usage = TokenUsage()

    # --- lifecycle -------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every provider's connection pool."""
        await asyncio.gather(*(p.aclose() for p in self._providers.values()), return_exceptions=True)

    async def __aenter__(self) -> ProviderRegistry:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def check_health(self, timeout: float = 10.0) -> dict[str, Any]:
        """Health of every provider, checked concurrently; each check bounded by ``timeout``."""
        from .types import ProviderHealthStatus

        names = list(self._providers)

        async def one(name: str) -> ProviderHealthStatus:
            p = self._providers[name]
            try:
                return await asyncio.wait_for(p.health_check(), timeout)
            except TimeoutError:
                return ProviderHealthStatus(False, False, None, p.base_url, error=f"no answer within {timeout:g}s",
                                            provider_type=p.provider_type)

        results = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, results, strict=True))

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        path_or_model: str | os.PathLike[str] | LLMSwitchConfig | Mapping[str, Any] | None = None,
        validate_connectivity: bool = False,
        *,
        enable_log: bool = True,
        timeout: float = 10.0,
    ) -> ProviderRegistry:
        """Build from a config file path, an ``LLMSwitchConfig`` or a dict (a whole config, or
        just its providers by name) (None: the usual search).

        With ``validate_connectivity`` every provider is health-checked concurrently and one
        ConfigError lists every failure. Unless the config says ``usage_log: off`` (or
        ``enable_log=False``), the usage log is switched on for this process.
        """
        reg = cls._prepared(path_or_model, enable_log)
        if validate_connectivity:
            from ._bridge import get_bridge

            get_bridge().run(reg._validate(timeout))
        return reg

    @classmethod
    async def afrom_config(
        cls,
        path_or_model: str | os.PathLike[str] | LLMSwitchConfig | None = None,
        validate_connectivity: bool = False,
        *,
        enable_log: bool = True,
        timeout: float = 10.0,
    ) -> ProviderRegistry:
        """``from_config`` for async code (the health checks run on the caller's loop)."""
        reg = cls._prepared(path_or_model, enable_log)
        if validate_connectivity:
            await reg._validate(timeout)
        return reg

    @classmethod
    def _prepared(cls, path_or_model: Any, enable_log: bool) -> ProviderRegistry:
        """The registry for a config, with its usage log switched on (shared by both constructors)."""
        reg = cls._build(cls._load(path_or_model))
        if reg.config is not None and enable_log:
            _apply_usage_log(reg.config)
        if reg.config is not None:
            _apply_telemetry(reg.config)
        return reg

    @staticmethod
    def _load(path_or_model: Any) -> LLMSwitchConfig:
        from .config import LLMSwitchConfig, load_config

        if isinstance(path_or_model, LLMSwitchConfig):
            return path_or_model
        if isinstance(path_or_model, Mapping):
            return _config_from_mapping(path_or_model)
        if isinstance(path_or_model, (str, os.PathLike)) or path_or_model is None:
            cfg = load_config(path_or_model)
            if cfg is None:
                raise ConfigError(
                    "no config file found (looked at $LLMSWITCH_CONFIG, ./llmswitch.yaml and the user config "
                    "dir); `llmswitch config init` writes one"
                )
            return cfg
        raise TypeError(
            f"from_config takes a path, an LLMSwitchConfig or a dict of providers, not {type(path_or_model).__name__}"
        )

    @classmethod
    def _build(cls, config: LLMSwitchConfig) -> ProviderRegistry:
        from .config import implicit_api_key
        from .providers import provider_class
        from .providers.base import BaseProvider
        from .state import backend_from_config

        reg = cls()
        reg.config = config
        where = f" in {config.source}" if config.source else ""
        # one state backend (``state:``) for every provider built here: their breakers, budgets
        # and rate limits are shared with every process that uses the same backend
        state = reg.state = backend_from_config(config.state)
        problems: list[str] = []
        if config.budgets:
            reg.set_budgets([b.model_dump(exclude_none=True) for b in config.budgets])
        for name, pc in config.providers.items():
            try:
                klass = provider_class(pc.type)
            except ImportError as exc:
                problems.append(f"provider {name!r}{where}: type {pc.type!r} cannot be loaded ({exc.name or exc})")
                continue
            except ConfigError as exc:
                problems.append(f"provider {name!r}{where}: {exc}")
                continue
            kw = pc.provider_kwargs()
            if "api_key" not in kw:
                secret = implicit_api_key(klass, name)  # never an error when absent
                if secret:
                    kw["api_key"] = secret
            if isinstance(klass, type) and issubclass(klass, BaseProvider):
                kw["state"] = state
            try:
                reg.register(name, klass(name=name, **kw))
            except (TypeError, ValueError) as exc:
                problems.append(f"provider {name!r}{where}: {exc}")
        for agent, ac in config.agents.items():
            try:
                budget = [b.model_dump(exclude_none=True) for b in ac.budget] if ac.budget else None
                reg.set_agent(agent, ac.provider, ac.fallbacks, budget=budget)
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("cannot build the providers:\n  - " + "\n  - ".join(problems))
        return reg

    async def _validate(self, timeout: float) -> None:
        statuses = await self.check_health(timeout)
        failures = [f"{name} ({s.base_url}): {s.error or 'no model detected'}" for name, s in statuses.items() if not s.healthy]
        if failures:
            raise ConfigError(
                f"{len(failures)} of {len(statuses)} provider(s) failed the connectivity check:\n  - "
                + "\n  - ".join(failures)
                + "\n`llmswitch doctor` shows every endpoint's status."
            )


def _check_provider(name: str, provider: object) -> None:
    """``register`` takes providers only: anything else would fail later, far from the mistake.

    A provider is a ``BaseProvider`` or, structurally (the protocol is a ``typing.Protocol``),
    anything with ``complete``, ``stream`` and ``health_check`` methods, ``provider_type`` and
    ``usage`` (what the registry itself reads)."""
    from .providers.base import BaseProvider

    structural = all(callable(getattr(provider, m, None)) for m in ("complete", "stream", "health_check")) and all(
        hasattr(provider, a) for a in ("provider_type", "usage")
    )
    if not (isinstance(provider, BaseProvider) or structural):
        raise TypeError(
            f"register({name!r}, ...) needs a provider (a BaseProvider such as OpenAIProvider or "
            f"OllamaProvider, or one from create_provider()), not {type(provider).__name__}"
        )


def _agent_provider(agents_config: Any, agent_id: str) -> str | None:
    """The provider name ``agents_config`` gives ``agent_id`` (else its ``default`` agent), or None."""
    agents = getattr(agents_config, "agents", agents_config)
    if not isinstance(agents, Mapping):
        raise TypeError(f"agents_config must map agent ids to providers, not {type(agents_config).__name__}")
    entry = agents.get(agent_id, agents.get("default"))
    if entry is None:
        return None
    if isinstance(entry, str):
        return entry
    name = entry.get("provider") if isinstance(entry, Mapping) else getattr(entry, "provider", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"agents_config entry for {agent_id!r} names no provider (give `provider: NAME`)")
    return name


def _plain(value: Any) -> Any:
    """Config data as plain JSON values: pydantic models dumped, secrets revealed (for parsing only)."""
    from pydantic import BaseModel, SecretStr

    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_none=True))
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _config_from_mapping(data: Mapping[str, Any]) -> LLMSwitchConfig:
    """A whole config as a dict (``{"providers": {...}, "agents": {...}}``) or just the providers
    (``{"claude_main": {"type": "anthropic", ...}}``, values dicts or ``ProviderConfig`` objects),
    parsed by the same code as a file, so ``${VAR}`` expansion and every check apply."""
    import json

    from .config import parse_config

    whole = dict(data) if isinstance(data.get("providers"), Mapping) else {"providers": dict(data)}
    return parse_config(json.dumps(_plain(whole)), source="<dict>")


def _link_hooks(provider: Any, hooks: HookSet) -> None:
    """The registry's hooks apply to ``provider`` too (a provider object that is not a
    ``BaseProvider`` has no hooks, and is left alone)."""
    own = getattr(provider, "hooks", None)
    if isinstance(own, HookSet):
        own.link(hooks)


def _apply_usage_log(config: LLMSwitchConfig) -> None:
    path = config.usage_log.resolved_path()
    if path is None:
        return
    from .usage.log import enable_usage_log

    enable_usage_log(path)


def _apply_telemetry(config: LLMSwitchConfig) -> None:
    """``telemetry:``: content capture, and OpenTelemetry when ``otel: true`` (imported only then).
    A config without the section changes nothing (what code set stays)."""
    t = config.telemetry
    if "telemetry" not in config.model_fields_set:
        return
    from . import _observe

    _observe.capture_content[:] = [True] if t.capture_content else []
    if t.otel:
        from . import telemetry

        if not telemetry.enabled():
            telemetry.enable(service_name=t.service_name)


# --- the process-wide registry the module-level API uses ---------------------------------------

_default: ProviderRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ProviderRegistry:
    """The registry for ``llmswitch.complete("name:model", ...)``: the config file if one is
    found, else empty. Built once per process; ``reset_default_registry()`` forgets it.

    The usage log follows the config (``usage_log``; ``LLMSWITCH_USAGE_LOG=off`` disables it);
    with no config file it is on, at the default path.
    """
    global _default
    reg = _default
    if reg is not None:
        return reg
    with _default_lock:
        if _default is None:
            from .config import LLMSwitchConfig, load_config

            cfg = load_config()
            if cfg is not None:
                reg = ProviderRegistry._build(cfg)
            else:
                reg = ProviderRegistry()
                cfg = LLMSwitchConfig()
                reg.config = None
            _apply_usage_log(cfg)
            _apply_telemetry(cfg)
            _default = reg
        return _default


def set_default_registry(registry: ProviderRegistry | None) -> None:
    """Use ``registry`` for the module-level API (None: load from config again on next use)."""
    global _default
    with _default_lock:
        _default = registry


def reset_default_registry() -> None:
    """Forget the default registry, so the next use builds it again from the current config."""
    set_default_registry(None)

