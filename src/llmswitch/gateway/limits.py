"""The hook where per-caller budgets and rate limits plug in.

``gateway.keys[].budget`` and ``rate_limit`` are accepted by the config and carried on each
``Caller``; enforcing them is the routing layer's job (``routing/budget.py`` and
``routing/ratelimit.py``, over the shared ``state/`` backend so every worker on every host sees
the same counters). Until that is wired in, ``NoLimits`` admits every call. An implementation
raises ``BudgetExceededError`` or ``RateLimitError(retry_after=...)`` from ``admit``; the
gateway renders them as 429 with ``Retry-After`` in the caller's format, and calls ``settle``
with the outcome (usage and cost) when the request ends, whatever happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ..types import Response
    from .auth import Caller
    from .call import Call

__all__ = ["CallerLimits", "NoLimits"]


class CallerLimits(Protocol):
    """Budgets and rate limits per caller key."""

    async def admit(self, caller: Caller, call: Call) -> None:
        """Raise ``BudgetExceededError`` / ``RateLimitError`` to refuse the call before it is sent."""
        ...

    def settle(self, caller: Caller, response: Response | None, error: BaseException | None) -> None:
        """Account for a finished call (its usage and cost), successful or not."""
        ...


class NoLimits:
    """Admits everything (no budget or rate limit enforced)."""

    async def admit(self, caller: Caller, call: Call) -> None:
        """Nothing to check."""

    def settle(self, caller: Caller, response: Response | None, error: BaseException | None) -> None:
        """Nothing to count."""
