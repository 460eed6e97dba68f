"""``FallbackProvider``: a chain of providers that answers as one.

Why a provider and not a helper function: a chain must be usable anywhere a provider is — the
module API (``ls.complete(["anthropic:claude-sonnet-4-5", "ollama:llama3.2"], ...)``), the
registry (an agent with ``fallbacks:`` in the config resolves to one), ``create_model()`` for
pydantic-ai — so it is a ``BaseProvider`` whose calls run the failover loop
(``llmswitch.routing.failover``) over its members instead of a wire.

Each member is a provider and the model it is called with (None: its own default). Every member
applies its own retries, breaker, budget and rate limit; the chain decides only whether the next
member is tried (``routing.failover.should_fail_over``). ``Response.provider`` and ``.model`` say
which member answered. ``timeout=`` bounds the whole chain: each member gets what is left.

The chain itself records no usage (its members do, so registry totals are not counted twice);
``get_usage()`` sums the members'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from .. import errors as E
from .._limits import check_seconds
from .._streaming import ResponseStream
from ..routing.budget import Budget
from ..routing.failover import complete_chain, stream_chain
from ..types import (
    Message,
    ModelInfo,
    ProviderCapabilities,
    ProviderHealthStatus,
    ProviderType,
    Response,
    TokenUsage,
    Tool,
)
from .base import BaseProvider, as_messages

__all__ = ["FallbackProvider", "ChainItem"]

ChainItem = BaseProvider | tuple[BaseProvider, str | None]
"""A member as given: a provider (called with its default model) or ``(provider, model)``."""


class _Member:
    """One member bound to its model: what ``routing.failover`` calls (``name``, ``complete``,
    ``stream``, ``context_window``)."""

    __slots__ = ("provider", "model", "name")

    def __init__(self, provider: BaseProvider, model: str | None) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider.name}:{model}" if model else provider.name

    def complete(self, messages: Any, **params: Any) -> Any:
        return self.provider.complete(messages, model=self.model, **params)

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        return self.provider.stream(messages, model=self.model, **params)

    def context_window(self) -> int | None:
        """The member's known context window in tokens (declared or recorded), else None."""
        model = self.model or self.provider.default_model or self.provider.detected_model
        caps = self.provider.capabilities_for(model) if model else self.provider.capabilities
        return caps.context_window


class FallbackProvider(BaseProvider):
    """Members tried in order until one answers (module docstring). ``on_content_filter``: fail
    over on a content-filter refusal too (off by default: another provider's filter is a policy
    choice). ``budget``: budgets (``Budget``, a mapping or a list) every member's call is also
    counted against — an agent's budgets, when the registry builds the chain for an agent."""

    provider_type: ClassVar[ProviderType] = ProviderType.FALLBACK

    def __init__(
        self,
        members: Iterable[ChainItem],
        *,
        name: str | None = None,
        on_content_filter: bool = False,
        budget: Any = None,
    ) -> None:
        bound: list[_Member] = []
        for item in members:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], BaseProvider):
                bound.append(_Member(item[0], item[1]))
            elif isinstance(item, BaseProvider):
                bound.append(_Member(item, None))
            else:
                raise TypeError(
                    f"a fallback chain's members are providers or (provider, model) pairs, not {type(item).__name__}; "
                    "model references ('ollama:llama3.2') are resolved by llmswitch.resolve / ls.complete([...])"
                )
        if not bound:
            raise E.ConfigError("a fallback chain needs at least one member")
        self._members = tuple(bound)
        super().__init__(name=name or " → ".join(m.name for m in bound), base_url="", retries=0, timeout=None)
        self.base_url = bound[0].provider.base_url
        self.on_content_filter = on_content_filter
        self.agent_budgets: tuple[Budget, ...] = Budget.from_settings(f"chain:{self.name}", budget)
        """Budgets every member's call is also counted against (an agent's, from the registry)."""

    @property
    def members(self) -> tuple[tuple[BaseProvider, str | None], ...]:
        """``(provider, model)`` for each member, in order."""
        return tuple((m.provider, m.model) for m in self._members)

    def __repr__(self) -> str:
        return f"FallbackProvider(name={self.name!r}, members={[m.name for m in self._members]!r})"

    # --- what a provider offers -----------------------------------------------------------------
    @property
    def capabilities(self) -> ProviderCapabilities:
        """What at least one member takes (a member that cannot take a request is skipped, see
        ``routing.failover``): True when any member takes it, None when any may, else False."""
        caps = [m.provider.capabilities for m in self._members]

        def anyone(field: str) -> bool | None:
            values = [getattr(c, field) for c in caps]
            return True if True in values else (None if None in values else False)

        return ProviderCapabilities(
            streaming=all(c.streaming for c in caps),
            tools=anyone("tools"),
            vision=anyone("vision"),
            thinking=anyone("thinking"),
            json_mode=any(c.json_mode for c in caps),
            local=all(c.local for c in caps),
        )

    def check_key(self) -> None:
        """A chain is usable when any member is: keys are checked per member, at call time."""

    def _check_key(self) -> None:
        return None

    def secrets(self) -> tuple[str, ...]:
        """Every member's secrets (the redaction point knows them already; this is for callers)."""
        return tuple(s for m in self._members for s in m.provider.secrets())

    def get_usage(self) -> TokenUsage:
        """The members' usage summed (the chain records none of its own)."""
        total = TokenUsage()
        for provider in {id(m.provider): m.provider for m in self._members}.values():
            total.add(provider.usage)
        return total

    async def resolve_model(self, model: str | None) -> str:
        """The first member's model (what a chain answers with when nothing fails)."""
        first = self._members[0]
        return first.model or await first.provider.resolve_model(None)

    async def list_models(self) -> list[ModelInfo]:
        """Each member's model, as it is called (``provider`` names the member)."""
        out = []
        for m in self._members:
            model = m.model or m.provider.default_model or m.provider.detected_model
            if model:
                window = m.context_window()
                out.append(ModelInfo(id=model, provider=m.provider.name, context_length=window))
        return out

    async def detect_model(self) -> str | None:
        """The first member's model."""
        first = self._members[0]
        return first.model or await first.provider.detect_model()

    async def health_check(self) -> ProviderHealthStatus:
        """Healthy when any member is: the first healthy member's status, its name in
        ``metadata["member"]``; when none is, the first member's status with every member's error."""
        statuses = []
        for m in self._members:
            status = await m.provider.health_check()
            if status.healthy:
                status.metadata["member"] = m.name
                return status
            statuses.append((m.name, status))
        first = statuses[0][1]
        first.error = "; ".join(f"{name}: {s.error or 'unhealthy'}" for name, s in statuses)
        first.metadata["member"] = None
        return first

    async def aclose(self) -> None:
        """Members are shared (a registry, the resolver's cache own them): closing the chain closes none."""

    def create_model(self, model_name: str | None = None) -> Any:
        """A pydantic-ai ``FallbackModel`` over the members (``llmswitch.integrations.pydantic_ai``)."""
        if model_name:
            raise TypeError("a fallback chain takes no model name: each member names its own")
        from ..hooks import model_factory

        return model_factory()[0](self, None)

    # --- calls --------------------------------------------------------------------------------
    async def complete(
        self,
        messages: str | Message | Iterable[Message | dict[str, Any]],
        *,
        model: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        **params: Any,
    ) -> Response:
        """The first member's answer that succeeds; ``AllProvidersFailedError`` lists every attempt."""
        _no_model(model)
        msgs = as_messages(messages)
        deadline = _deadline(params)
        self._add_budgets(params)
        return await complete_chain(
            self._members, msgs, on_content_filter=self.on_content_filter, deadline=deadline, tools=tools, **params
        )

    def stream(
        self,
        messages: str | Message | Iterable[Message | dict[str, Any]],
        *,
        model: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        **params: Any,
    ) -> ResponseStream:
        """A stream from the first member that yields a first event; after that, no failover."""
        _no_model(model)
        msgs = as_messages(messages)
        deadline = _deadline(params)
        self._add_budgets(params)
        return stream_chain(
            self._members, msgs, on_content_filter=self.on_content_filter, deadline=deadline, tools=tools, **params
        )


    def _add_budgets(self, params: dict[str, Any]) -> None:
        """The chain's budgets join the call's own ``budget=``, for whichever member answers."""
        if self.agent_budgets:
            own = params.get("budget")
            extra = () if own is None else ((own,) if isinstance(own, Budget) else tuple(own))
            params["budget"] = (*self.agent_budgets, *extra)


def _no_model(model: str | None) -> None:
    if model:
        raise E.ConfigError(
            f"a fallback chain takes no model ({model!r}): each member names its own, "
            "e.g. ls.complete(['anthropic:claude-sonnet-4-5', 'ollama:llama3.2'], ...)"
        )


def _deadline(params: dict[str, Any]) -> float | None:
    """``timeout=`` as an absolute deadline for the whole chain (``time.monotonic``)."""
    timeout = params.pop("timeout", None)
    check_seconds("timeout", timeout)
    return None if timeout is None else time.monotonic() + float(timeout)
