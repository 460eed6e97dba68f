"""The hook where per-caller budgets and rate limits plug in.

``gateway.keys[].budget`` and ``rate_limit`` are accepted by the config and carried on each
``Caller``; enforcing them is the routing layer's job (``routing/budget.py`` and
``routing/ratelimit.py``, over the shared ``state/`` backend so every worker on every host sees
the same counters). ``RoutingLimits`` is that wiring:

* a caller's ``budget`` becomes ``Budget``s scoped ``caller:NAME``, handed to the call as its
  ``budget=`` (``budgets_for``): the provider's one admission step reserves the estimate before
  anything is sent and settles the real usage after — the same path every library call takes,
  so a caller's spend is exact across workers sharing Redis;
* a caller's ``rate_limit`` (``rpm``/``tpm``) is a ``RateLimit`` keyed ``caller:NAME``, waited
  for in ``admit`` within the request's deadline (else a client-side ``RateLimitError``).

A refusal (``BudgetExceededError``, ``RateLimitError(retry_after=...)``) is rendered as 429 with
``Retry-After`` in the caller's format. ``NoLimits`` admits everything (no key sets a limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..routing.budget import Budget, estimate_tokens
from ..routing.ratelimit import RateLimit
from ..state import StateBackend, default_backend

if TYPE_CHECKING:  # pragma: no cover
    from ..types import Response
    from .auth import Caller
    from .call import Call

__all__ = ["CallerLimits", "NoLimits", "RoutingLimits"]


class CallerLimits(Protocol):
    """Budgets and rate limits per caller key."""

    def budgets_for(self, caller: Caller) -> tuple[Budget, ...]:
        """The caller's budgets, passed to the call as ``budget=`` (checked and settled by the provider)."""
        ...

    async def admit(self, caller: Caller, call: Call) -> None:
        """Raise ``BudgetExceededError`` / ``RateLimitError`` to refuse the call before it is sent."""
        ...

    def settle(self, caller: Caller, response: Response | None, error: BaseException | None) -> None:
        """Account for a finished call (its usage and cost), successful or not."""
        ...


class NoLimits:
    """Admits everything (no budget or rate limit enforced)."""

    def budgets_for(self, caller: Caller) -> tuple[Budget, ...]:
        """None."""
        return ()

    async def admit(self, caller: Caller, call: Call) -> None:
        """Nothing to check."""

    def settle(self, caller: Caller, response: Response | None, error: BaseException | None) -> None:
        """Nothing to count."""


class RoutingLimits:
    """Per-caller budgets and rate limits on the registry's state backend (module docstring)."""

    def __init__(self, keys: Sequence[Any], state: StateBackend | None, deadline: float) -> None:
        self.state = state if state is not None else default_backend()
        self.deadline = deadline
        self._budgets = {k.name: Budget.from_settings(f"caller:{k.name}", k.budget) for k in keys}
        self._rates = {k.name: RateLimit.from_settings(f"caller:{k.name}", k.rate_limit) for k in keys}

    @classmethod
    def for_keys(cls, keys: Sequence[Any], state: StateBackend | None, deadline: float) -> CallerLimits:
        """``RoutingLimits`` when any key sets a budget or a rate limit, else ``NoLimits`` (nothing per request)."""
        if any(k.budget or k.rate_limit for k in keys):
            return cls(keys, state, deadline)
        return NoLimits()

    def budgets_for(self, caller: Caller) -> tuple[Budget, ...]:
        """The caller's budgets (``caller:NAME``)."""
        return self._budgets.get(caller.name, ())

    async def admit(self, caller: Caller, call: Call) -> None:
        """Wait for the caller's rate-limit slot (bounded by the request's deadline)."""
        rate = self._rates.get(caller.name)
        if rate is not None:
            inp, out = estimate_tokens(call.messages, call.tools, call.params, None)
            await rate.acquire(self.state, inp + out, deadline=self.deadline, provider=f"caller {caller.name}")

    def settle(self, caller: Caller, response: Response | None, error: BaseException | None) -> None:
        """Budgets settle in the provider's admission step; rate limits count requests when admitted."""
