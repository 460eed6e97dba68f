"""Budgets: a limit in dollars (``usd``) or tokens per ``hour``, ``day`` or ``month``.

Why: an agent in a loop can spend a month's money in an afternoon. A budget is checked *before*
a request is sent, so a hard limit costs nothing once it is reached, and it is kept on the
``StateBackend`` (``state/``), so every process sharing a Redis backend spends one budget.

* **Windows** are calendar windows in UTC (an hour, a day, a month); each window has its own
  counter (``budget:<scope>:<unit>:<per>:<window id>``), which expires shortly after its window
  ends, so nothing has to reset a budget.
* **Dollars are counted in nano-dollars** (whole numbers), so concurrent adds from many tasks and
  processes sum exactly, in any order (floats would not).
* **Hard limit** (``usd``/``tokens``): before a call, its cost is *estimated* — the prompt's size
  in characters / 4 (a rough but conservative tokens-per-character rule; no tokenizer is loaded)
  plus the call's ``max_tokens`` (else the provider's ``default_max_tokens``, else
  ``DEFAULT_OUTPUT_ESTIMATE``), priced with the pricer in ``llmswitch.hooks`` for dollars — and
  reserved atomically with ``take``: a call whose estimate does not fit raises
  ``BudgetExceededError`` and nothing is sent. After the call the reservation is *settled* with
  the real usage (the difference is added); an error releases it.
* **Soft limit** (``soft``): once spend reaches it, ``on_soft`` callbacks run and a warning is
  logged (logger ``llmswitch.budget``), once per window across every process sharing the backend.
* **Local providers cost $0**: dollar budgets do not apply to them (they never refuse a free
  call); token budgets do.
* A model the pricer cannot price has an unknown cost: a dollar budget cannot hold it, which is
  logged once per model; its tokens still count against token budgets.

Scopes: a provider's own budgets (``budget:`` on the provider), an agent's (``budget:`` on the
agent, applied by the registry to calls made for that agent) and the total (top-level
``budgets:``, applied by the registry to every provider it holds). All of a call's budgets are
reserved and settled together by ``routing.admission`` on the one call path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .. import errors as E
from .. import hooks as _hooks
from ..state import StateBackend
from ..types import Message, Usage

_ADJECTIVE = {"hour": "hourly", "day": "daily", "month": "monthly"}

__all__ = [
    "Budget",
    "BudgetStatus",
    "DEFAULT_OUTPUT_ESTIMATE",
    "PERIODS",
    "SoftLimitListener",
    "USD_SCALE",
    "add_soft_limit_listener",
    "estimate_tokens",
    "price_estimate",
    "remove_soft_limit_listener",
    "warn_unpriced",
    "window",
]

_log = logging.getLogger("llmswitch.budget")

Unit = Literal["usd", "tokens"]
Period = Literal["hour", "day", "month"]
PERIODS: tuple[str, ...] = ("hour", "day", "month")
USD_SCALE = 1_000_000_000
"""Counters hold nano-dollars: whole numbers add exactly (and stay exact in Redis up to ~$9M)."""
DEFAULT_OUTPUT_ESTIMATE = 1024
"""Output tokens assumed for a call that gives no ``max_tokens`` and whose provider has no
``default_max_tokens`` (the estimate only reserves; the real usage settles it)."""
_GRACE = 300.0
"""Seconds a window's counter outlives its window, so a call settling just after the turn still
finds its reservation (and hosts with slightly different clocks agree)."""


def window(per: str, now: float) -> tuple[str, float, float]:
    """(window id, start, end) in epoch seconds of the calendar ``per`` (UTC) holding ``now``
    (computed once per window by ``Budget.current``: ``datetime`` is imported here, on first use,
    so that importing a provider does not pay for it)."""
    import calendar
    from datetime import UTC, datetime

    t = datetime.fromtimestamp(now, UTC)
    if per == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        wid = start.strftime("%Y%m%d%H")
        s = start.timestamp()
        return wid, s, s + 3600.0
    if per == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        s = start.timestamp()
        return start.strftime("%Y%m%d"), s, s + 86400.0
    if per == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(t.year, t.month)[1]
        s = start.timestamp()
        return start.strftime("%Y%m"), s, s + days * 86400.0
    raise ValueError(f"per must be one of {', '.join(PERIODS)}, not {per!r}")


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget's spend in its current window (what ``on_soft``, ``doctor`` and ``usage`` see)."""

    scope: str
    """``total``, ``provider:NAME`` or ``agent:NAME``."""
    unit: str
    per: str
    spent: float
    """USD or tokens spent (and reserved by calls in flight) in this window."""
    limit: float | None
    """The hard limit (None: soft only)."""
    soft: float | None
    window_start: float
    resets_at: float
    """When the window ends (epoch seconds, UTC)."""

    def describe(self) -> str:
        """``$4.20 of $10.00 (day, resets 2026-12-01 00:00 UTC)``."""
        cap = self.limit if self.limit is not None else self.soft
        of = f" of {_fmt(self.unit, cap)}" if cap is not None else ""
        return f"{_fmt(self.unit, self.spent)}{of} ({self.per}, resets {_when(self.resets_at)})"


SoftLimitListener = Callable[[BudgetStatus], None]
"""``listener(status)``: called once per window when a budget's spend reaches its soft limit."""

_soft_listeners: list[SoftLimitListener] = []


def add_soft_limit_listener(fn: SoftLimitListener) -> None:
    """Call ``fn(status)`` whenever any budget reaches its soft limit (once per window), besides
    the budget's own ``on_soft``: the way to be told about budgets built from the config file."""
    if fn not in _soft_listeners:
        _soft_listeners.append(fn)


def remove_soft_limit_listener(fn: SoftLimitListener) -> None:
    """Stop calling ``fn``; removing one not added is not an error."""
    if fn in _soft_listeners:
        _soft_listeners.remove(fn)


def _fmt(unit: str, value: float) -> str:
    return f"${value:,.4f}" if unit == "usd" else f"{value:,.0f} tokens"


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 60}m {s % 60}s"


class Budget:
    """One limit: ``Budget(usd=10, per="day", soft=8)`` or ``Budget(tokens=2_000_000, per="month")``.

    ``usd``/``tokens`` is the hard limit (exactly one of them); ``hard=False`` makes it a warning
    only (the soft limit is then the amount itself unless ``soft`` is given). ``scope`` names it in
    errors and keys (``total``, ``provider:NAME``, ``agent:NAME``: set by the config, or by the
    provider a budget is given to when None; two budgets with one scope, unit and period share
    one counter). ``on_soft(status)`` runs once per window
    when spend reaches ``soft``. ``clock`` gives epoch seconds (injected by tests)."""

    SETTINGS = ("usd", "tokens", "per", "soft", "hard")
    """The keys a budget mapping in the config (or ``budget={...}``) may hold."""

    def __init__(
        self,
        *,
        usd: float | None = None,
        tokens: int | None = None,
        per: str = "day",
        soft: float | None = None,
        hard: bool = True,
        scope: str | None = None,
        on_soft: SoftLimitListener | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (usd is None) == (tokens is None):
            raise ValueError("a budget needs exactly one of usd= (dollars) or tokens=")
        amount = usd if usd is not None else tokens
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
            raise ValueError(f"a budget's {'usd' if usd is not None else 'tokens'} must be a positive number, not {amount!r}")
        if per not in PERIODS:
            raise ValueError(f"per must be one of {', '.join(PERIODS)}, not {per!r}")
        if soft is not None and (isinstance(soft, bool) or not isinstance(soft, (int, float)) or not 0 < soft):
            raise ValueError(f"soft must be a positive number, not {soft!r}")
        if soft is not None and hard and soft > amount:
            raise ValueError(f"soft ({soft:g}) is above the hard limit ({amount:g}); it would never warn")
        self.unit: Unit = "usd" if usd is not None else "tokens"
        self.amount = float(amount)
        self.per = per
        self.hard = bool(hard)
        self.limit: float | None = self.amount if self.hard else None
        self.soft: float | None = float(soft) if soft is not None else (None if self.hard else self.amount)
        self.scope = scope
        self.on_soft = on_soft
        self.clock = clock
        self._scale = USD_SCALE if self.unit == "usd" else 1
        self._limit_units = None if self.limit is None else round(self.limit * self._scale)
        self._soft_units = None if self.soft is None else round(self.soft * self._scale)
        self._soft_seen = ""  # the window whose soft warning this process knows was given
        self._window: tuple[str, float, float] | None = None  # (key, start, end), see current()

    @classmethod
    def from_settings(cls, scope: str, value: Any, *, clock: Callable[[], float] | None = None) -> tuple[Budget, ...]:
        """Budgets from a ``budget`` setting: a ``Budget``, a mapping of ``SETTINGS``, or a list of
        either (a daily and a monthly limit, say); None: none. Mappings get ``scope``."""
        if value is None or value is False:
            return ()
        items: Iterable[Any] = value if isinstance(value, (list, tuple)) else (value,)
        out: list[Budget] = []
        for item in items:
            if isinstance(item, Budget):
                if item.scope is None:
                    item.scope = scope
                    item._window = None
                out.append(item)
            elif isinstance(item, Mapping):
                unknown = sorted(set(item) - set(cls.SETTINGS))
                if unknown:
                    raise ValueError(f"unknown budget setting(s) {', '.join(unknown)}; known: {', '.join(cls.SETTINGS)}")
                kw = {k: v for k, v in item.items() if v is not None}
                out.append(cls(scope=scope, **kw) if clock is None else cls(scope=scope, clock=clock, **kw))
            else:
                raise TypeError(
                    f"budget must be a Budget, a mapping of {', '.join(cls.SETTINGS)}, or a list of them; "
                    f"got {type(item).__name__}"
                )
        return tuple(out)

    def __repr__(self) -> str:
        soft = f", soft={self.soft:g}" if self.soft is not None else ""
        hard = "" if self.hard else ", hard=False"
        return f"Budget({self.unit}={self.amount:g}, per={self.per!r}{soft}{hard}, scope={self.scope!r})"

    @property
    def label(self) -> str:
        """The scope, or ``call`` for a budget given to one call only."""
        return self.scope or "call"

    # --- the counter --------------------------------------------------------------------------
    def current(self) -> tuple[str, float, float, float]:
        """(key, window start, window end, ttl) of the window holding now; the window is computed
        again only when now leaves it (a calendar computation costs a few µs; a call pays two)."""
        now = self.clock()
        w = self._window
        if w is None or not w[1] <= now < w[2]:
            wid, start, end = window(self.per, now)
            w = self._window = (f"budget:{self.label}:{self.unit}:{self.per}:{wid}", start, end)
        return w[0], w[1], w[2], w[2] - now + _GRACE

    def units(self, value: float) -> int:
        """``value`` (USD or tokens) in counter units (nano-dollars or tokens), never below 0."""
        return max(0, round(value * self._scale))

    async def status(self, state: StateBackend) -> BudgetStatus:
        """Spend in the current window (read from ``state``)."""
        key, start, end, _ = self.current()
        spent = await state.get(key)
        return BudgetStatus(self.label, self.unit, self.per, spent / self._scale, self.limit, self.soft, start, end)

    async def reserve(self, state: StateBackend, units: int) -> tuple[str, int, float] | None:
        """Reserve ``units`` in the current window: (key, units, ttl), or None when a hard limit
        does not leave room (the caller raises ``exceeded``)."""
        key, _, _, ttl = self.current()
        limit = self._limit_units
        if limit is None:
            await state.add(key, units, ttl=ttl)
            return key, units, ttl
        # at least one unit, so a budget that is exactly spent refuses even a call estimated at $0
        if units < 1:
            units = 1
        if await state.take(key, units, limit, ttl=ttl):
            return key, units, ttl
        return None

    async def adjust(self, state: StateBackend, key: str, delta: int, ttl: float | None = None) -> None:
        """Add ``delta`` (the real use minus the reservation) to the window ``key`` it was reserved
        in (``ttl``: as reserved; it applies only if the counter expired meanwhile) and give the
        soft warning when the spend has reached the soft limit (once per window, across processes)."""
        value = await state.add(key, delta, ttl=ttl)
        soft = self._soft_units
        if soft is not None and value >= soft and self._soft_seen != key:
            await self._warn_soft(state, key, value)

    async def _warn_soft(self, state: StateBackend, key: str, value: float) -> None:
        self._soft_seen = key
        # the first process (and task) to take this flag gives the warning; the rest stay quiet
        _, start, end, ttl = self.current()
        if not await state.take(key + ":soft", 1, 1, ttl=ttl + 3600):
            return
        status = BudgetStatus(self.label, self.unit, self.per, value / self._scale, self.limit, self.soft, start, end)
        _log.warning(
            "budget %s reached its soft limit: %s spent of %s soft%s (%s window, resets %s)",
            self.label, _fmt(self.unit, status.spent), _fmt(self.unit, self.soft or 0.0),
            f", {_fmt(self.unit, self.limit)} hard" if self.limit is not None else "", self.per, _when(end),
        )
        for fn in (*((self.on_soft,) if self.on_soft is not None else ()), *_soft_listeners):
            try:
                fn(status)
            except Exception:  # a listener must never break a call
                _log.exception("budget %s: a soft-limit listener raised", self.label)

    async def exceeded(
        self, state: StateBackend, needed: int, *, provider: str | None, model: str | None
    ) -> E.BudgetExceededError:
        """The error for a call that did not fit: which budget, spent/limit, window, reset, remedy."""
        st = await self.status(state)
        now = self.clock()
        where = {"total": "top-level budgets:"}.get(self.label) or (
            f"budget: under {self.label.replace(':', ' ', 1)}" if ":" in self.label else "budget="
        )
        err = E.BudgetExceededError(
            f"the {_ADJECTIVE.get(self.per, self.per)} {self.unit} budget of {self.label} is spent: "
            f"{_fmt(self.unit, st.spent)} of "
            f"{_fmt(self.unit, self.limit or 0.0)} this {self.per} (since {_when(st.window_start)}), and this call "
            f"may need up to {_fmt(self.unit, needed / self._scale)}; nothing was sent",
            provider=provider,
            model=model,
            hint=f"the budget resets at {_when(st.resets_at)} (in {_span(st.resets_at - now)}); to go on now, "
            f"raise {self.unit} in {where} in llmswitch.yaml (or pass a larger Budget)",
        )
        # plain data only: errors are pickled across processes, and a Budget holds callables
        err.budget = self.label  # type: ignore[attr-defined]
        err.status = st  # type: ignore[attr-defined]
        err.retry_after = max(0.0, st.resets_at - now)  # type: ignore[attr-defined]
        return err


# --- estimating a call -------------------------------------------------------------------------


def estimate_tokens(messages: Sequence[Message], tools: Sequence[Any] | None, params: Mapping[str, Any] | None,
                    default_max_tokens: int | None) -> tuple[int, int]:
    """(input, output) tokens a call may use: characters / 4 for the prompt (plus a few per
    message), and ``max_tokens`` (or ``max_completion_tokens``, the provider's
    ``default_max_tokens``, else ``DEFAULT_OUTPUT_ESTIMATE``) for the answer."""
    chars = 0
    for m in messages:
        c = m.content
        if type(c) is str:
            chars += len(c)
        elif c:
            for part in c:
                text = getattr(part, "text", None)
                chars += len(text) if isinstance(text, str) else 1000  # an image: a flat guess
        if m.tool_calls:
            for call in m.tool_calls:
                chars += len(str(getattr(call, "arguments", ""))) + 16
    if tools:
        for t in tools:
            chars += len(getattr(t, "name", "")) + len(getattr(t, "description", "") or "")
            chars += len(str(getattr(t, "parameters", "")))
    out = (params.get("max_tokens") or params.get("max_completion_tokens")) if params else None
    if type(out) is not int or out <= 0:
        out = default_max_tokens or DEFAULT_OUTPUT_ESTIMATE
    return chars // 4 + 4 * len(messages), int(out)


_per_token: dict[tuple[str, str], tuple[object, tuple[float, float] | None]] = {}
_per_token_lock = threading.Lock()
_unpriced_warned: set[tuple[str, str]] = set()
_PROBE = 1_000_000


def price_estimate(provider_type: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """USD for an estimated call, or None when the model has no known price. The pricer is asked
    once per model (and pricer) for the price of a million input and a million output tokens: a
    price look-up costs ~0.1 ms, and an estimate's token counts change on every call, so they
    would never hit the pricer's own cache."""
    pricer = _hooks.pricer[0] if _hooks.pricer else None
    k = (provider_type, model)
    cached = _per_token.get(k)
    if cached is not None and cached[0] is pricer:
        rates = cached[1]
    else:
        rates = None
        if pricer is not None:
            pin = pricer(provider_type, model, Usage(input_tokens=_PROBE))
            pout = pricer(provider_type, model, Usage(output_tokens=_PROBE))
            if pin is not None and pout is not None:
                rates = (pin / _PROBE, pout / _PROBE)
            pricer = _hooks.pricer[0] if _hooks.pricer else None  # a stand-in replaces itself on first use
        with _per_token_lock:
            if len(_per_token) > 4096:
                _per_token.clear()
            _per_token[k] = (pricer, rates)
    if rates is None:
        return None
    return input_tokens * rates[0] + output_tokens * rates[1]


def warn_unpriced(provider: str, model: str) -> None:
    """Log once per (provider, model) that a dollar budget cannot hold an unpriced model."""
    k = (provider, model)
    if k in _unpriced_warned:
        return
    _unpriced_warned.add(k)
    _log.warning(
        "%s: model %r has no known price; dollar budgets cannot count its calls (token budgets still do)",
        provider, model,
    )
