"""Admission: the one step a call passes before its first request is sent — budgets, then the
rate limit — and the settling of its budgets afterwards.

``BaseProvider.complete()``/``stream()`` call ``admit`` only when the provider has budgets or a
rate limit, or the call brings budgets of its own (``budget=``: how the registry applies an
agent's budgets): a provider without them pays one test per call. Budgets are reserved first (a
call that would overspend is refused at once, without waiting for a rate-limit slot), then the
rate limit waits for room; if that wait fails, the reservations are released.

The returned ``Ticket`` is settled with the real usage once the call has its answer (a stream:
when it ends), or released when the call fails. A stream that the caller stops early keeps its
reservation: the server has probably billed for what it generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._transport import time_left
from ..state import StateBackend
from ..types import Message, Usage
from .budget import Budget, estimate_tokens, price_estimate, warn_unpriced
from .ratelimit import RateLimit

__all__ = ["Ticket", "admit"]


class Ticket:
    """A call's reservations: ``settle(usage)`` after it answered, ``release()`` when it failed."""

    __slots__ = ("state", "held", "usd_known")

    def __init__(self, state: StateBackend, held: list[tuple[Budget, str, int, float]], usd_known: bool) -> None:
        self.state = state
        self.held = held
        self.usd_known = usd_known

    async def settle(self, usage: Usage | None) -> None:
        """Replace each reservation with what the call used (an unknown usage keeps the estimate)."""
        held, self.held = self.held, []
        for budget, key, reserved, ttl in held:
            if budget.unit == "tokens":
                actual = usage.total_tokens if usage is not None and usage.known else reserved
            elif usage is not None and usage.cost is not None:
                actual = budget.units(usage.cost)
            else:
                actual = reserved if self.usd_known else 0
            # budget.adjust, inlined: this runs on every call of a provider with budgets
            value = await self.state.add(key, actual - reserved, ttl=ttl)
            soft = budget._soft_units
            if soft is not None and value >= soft and budget._soft_seen != key:
                await budget._warn_soft(self.state, key, value)

    async def release(self) -> None:
        """Give every reservation back (the call failed)."""
        held, self.held = self.held, []
        for _, key, reserved, ttl in held:
            await self.state.add(key, -reserved, ttl=ttl)


async def admit(
    provider: Any,
    model: str,
    messages: Sequence[Message],
    tools: Sequence[Any] | None,
    params: dict[str, Any] | None,
    extra: Sequence[Budget] | Budget | None = None,
) -> Ticket:
    """Reserve the call's budgets and wait for its rate-limit slot (module docstring); raises
    ``BudgetExceededError`` or a client-side ``RateLimitError`` before anything is sent."""
    budgets: tuple[Budget, ...] = provider.budgets
    if extra is not None:
        budgets = (*budgets, *((extra,) if isinstance(extra, Budget) else extra))
    state: StateBackend = provider.state
    inp, out = estimate_tokens(messages, tools, params, provider.default_max_tokens)
    tokens = inp + out
    held: list[tuple[Budget, str, int, float]] = []
    usd: float | None = None
    usd_known = True
    try:
        for b in budgets:
            if b.unit == "tokens":
                units = tokens
            elif provider.is_local:  # free: dollar budgets never refuse it
                continue
            else:
                if usd is None and usd_known:
                    usd = price_estimate(provider.provider_type.value, model, inp, out)
                    if usd is None:
                        usd_known = False
                        warn_unpriced(provider.name, model)
                units = b.units(usd) if usd is not None else 0
            # b.reserve, inlined: this runs on every call of a provider with budgets
            key, _, _, ttl = b.current()
            limit_units = b._limit_units
            if limit_units is None:
                await state.add(key, units, ttl=ttl)
            else:
                if units < 1:  # a budget exactly spent refuses even a call estimated at $0
                    units = 1
                if not await state.take(key, units, limit_units, ttl=ttl):
                    raise await b.exceeded(state, units, provider=provider.name, model=model)
            held.append((b, key, units, ttl))
        limit: RateLimit | None = provider.rate_limit
        if limit is not None:
            left = time_left()
            if left is None:
                left = provider._timeouts.total
            await limit.acquire(state, tokens, deadline=left, provider=provider.name)
    except BaseException:
        await Ticket(state, held, usd_known).release()
        raise
    return Ticket(state, held, usd_known)
