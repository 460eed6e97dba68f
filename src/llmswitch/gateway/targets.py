"""What the ``model`` of a request names, and the call that serves it.

In this order: a public alias from ``gateway.models`` (one reference, or a list tried in order),
an agent of the config (its provider, then its fallbacks), a provider of the config (its
``default_model``), or a model reference ``provider:model`` (the resolver's, so a configured
name or a provider type). Chains go through ``routing.failover``, the same rules as
``registry.acomplete_for_agent``: the gateway adds no failover logic of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors as E
from .._streaming import ResponseStream
from ..providers.base import BaseProvider
from ..registry import ProviderRegistry
from ..resolve import parse_model_ref, resolve
from ..types import Response
from .errors import GatewayError

__all__ = ["Member", "Target", "Targets"]


@dataclass(slots=True)
class Member:
    """One backend of a target: a provider and the model to ask it for (None: its default)."""

    name: str
    provider: BaseProvider
    model: str | None

    async def complete(self, messages: Any, **params: Any) -> Response:
        """One answer from this member (retries and breaker inside the provider, as everywhere)."""
        return await self.provider.complete(messages, model=self.model, **params)

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        """A stream from this member."""
        return self.provider.stream(messages, model=self.model, **params)


@dataclass(slots=True)
class Target:
    """The backends one public model name stands for, in failover order (``call.plan`` binds a
    request to them and runs the chain)."""

    name: str
    members: tuple[Member, ...]
    budget: tuple[Any, ...] = ()
    """An agent's budgets (``Budget``s): every member's call counts against them."""


class Targets:
    """Public model names → targets, resolved once per name and remembered (the config is fixed
    for the life of the server; a reference to a bare provider type follows the resolver's cache)."""

    def __init__(self, registry: ProviderRegistry, aliases: Mapping[str, str | Sequence[str]]) -> None:
        self._registry = registry
        self._aliases = {k: ([v] if isinstance(v, str) else list(v)) for k, v in aliases.items()}
        self._cache: dict[str, Target] = {}

    def public_names(self) -> list[str]:
        """What ``GET /v1/models`` lists: aliases, agents and providers of the config."""
        names = list(self._aliases)
        names += [a for a in self._registry.list_agents() if a not in names]
        names += [p for p in self._registry.list_providers() if p not in names]
        return names

    def get(self, model: Any) -> Target:
        """The target for a request's ``model``; a 404 in the caller's format when it names nothing."""
        if not isinstance(model, str) or not model.strip():
            raise GatewayError(400, "'model' is required: a model reference, an alias, an agent or a provider name",
                               param="model")
        hit = self._cache.get(model)
        if hit is not None:
            return hit
        target = self._build(model)
        # Only targets made of configured providers are kept: a provider the resolver built from a
        # bare type is replaced (and closed) when its env var changes, so it is asked for each time
        # (the resolver's own cache makes that one lookup). Names come from callers: bounded.
        configured = self._registry.providers.values()
        if len(self._cache) < 4096 and all(any(m.provider is p for p in configured) for m in target.members):
            self._cache[model] = target
        return target

    def _build(self, model: str) -> Target:
        alias = self._aliases.get(model)
        if alias is not None:
            return Target(model, tuple(self._member(ref) for ref in alias))
        reg = self._registry
        if model in reg.list_agents():
            return Target(model, tuple(Member(p.name, p, None) for p in reg.get_agent_chain(model)),
                          reg.agent_budgets(model))
        if model in reg:
            return Target(model, (Member(model, reg.get(model), None),))
        return Target(model, (self._member(model),))

    def _member(self, ref: str) -> Member:
        name, model = parse_model_ref(ref)
        if model is None and ref in self._registry:
            return Member(ref, self._registry.get(ref), None)
        if name == "auto" or model is None:
            raise GatewayError(404, f"model {ref!r} is not an alias, agent or provider of this gateway, nor a "
                               "'provider:model' reference", kind="not_found", param="model")
        if name in self._registry:
            return Member(ref, self._registry.get(name), model)
        try:  # a provider type (``ollama:llama3.2``): the resolver's cached instance, keys from the env
            provider, model_name = resolve(ref)
        except E.ConfigError as exc:
            raise GatewayError(404, f"model {ref!r}: {exc}", kind="not_found", param="model") from None
        return Member(ref, provider, model_name)
