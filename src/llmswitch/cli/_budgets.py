"""Budget use for ``llmswitch doctor`` and ``llmswitch usage``: every configured budget (provider,
agent, total) with what has been spent in its current window.

Where the spend comes from: a shared state backend (Redis) holds the live counters of every
process, so it is read directly; the per-process ``memory`` backend of a fresh command-line
process knows nothing, so the spend is summed from the usage log over the budget's window
instead (calls of that provider, of that agent — when the calls were attributed to it — or of
all providers for the total).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..registry import ProviderRegistry
    from ..routing.budget import Budget, BudgetStatus
    from ..state import StateBackend


@dataclass(slots=True)
class BudgetUse:
    """One budget's line: its status in the current window and where the spend was read."""

    status: BudgetStatus
    source: str
    """``state:<backend>`` or ``usage log``."""

    def as_json(self) -> dict[str, Any]:
        s = self.status
        return {
            "scope": s.scope, "unit": s.unit, "per": s.per, "spent": s.spent, "limit": s.limit, "soft": s.soft,
            "window_start": s.window_start, "resets_at": s.resets_at, "source": self.source,
        }


def usage_log_path(explicit: Path | None = None) -> Path:
    """--log, else the config's usage_log path, else the default file."""
    if explicit is not None:
        return explicit
    from ..config import load_config
    from ..usage.log import default_log_path

    cfg = load_config()
    if cfg is not None and cfg.usage_log.enabled:
        p = cfg.usage_log.resolved_path()
        if p is not None:
            return p
    return default_log_path()


def configured_budgets(registry: ProviderRegistry) -> list[tuple[Budget, StateBackend]]:
    """(budget, backend) for every provider's own budgets, every agent's, then the totals, once each."""
    from ..state import default_backend

    out: list[tuple[Budget, StateBackend]] = []
    seen: set[int] = set()
    providers = list(registry.providers.values())
    state: StateBackend = getattr(providers[0], "state", None) or default_backend() if providers else default_backend()
    for p in providers:
        for b in getattr(p, "budgets", ()):
            if b.scope != "total" and id(b) not in seen:
                seen.add(id(b))
                out.append((b, getattr(p, "state", state)))
    for agent in registry.list_agents():
        for b in registry.agent_budgets(agent):
            if id(b) not in seen:
                seen.add(id(b))
                out.append((b, state))
    for b in registry.budgets:
        if id(b) not in seen:
            seen.add(id(b))
            out.append((b, state))
    return out


def _from_log(budget: Budget, log: Path | None) -> float:
    from ..usage.log import query_usage

    if log is None:
        return 0.0
    _, start, _, _ = budget.current()
    scope = budget.label
    by, name = ("agent", scope[6:]) if scope.startswith("agent:") else ("provider", scope.partition(":")[2])
    rows = query_usage(log, since=start, by=by)
    if scope != "total":
        rows = [r for r in rows if r[by] == name]
    if budget.unit == "usd":
        return round(sum(r["cost"] or 0.0 for r in rows), 9)  # whole nano-dollars, as the counters hold
    return float(sum(r["input_tokens"] + r["output_tokens"] for r in rows))


async def budget_use(registry: ProviderRegistry, log: Path | None) -> list[BudgetUse]:
    """Every configured budget with its spend in the current window (module docstring)."""
    from ..routing.budget import BudgetStatus

    out: list[BudgetUse] = []
    for budget, state in configured_budgets(registry):
        if state.name != "memory":
            out.append(BudgetUse(await budget.status(state), f"state:{state.name}"))
            continue
        _, start, end, _ = budget.current()
        spent = _from_log(budget, log)
        status = BudgetStatus(budget.label, budget.unit, budget.per, spent, budget.limit, budget.soft, start, end)
        out.append(BudgetUse(status, "usage log"))
    return out


def marker(use: BudgetUse) -> str:
    """`` spent`` once the hard limit is reached, `` soft limit reached`` once the soft one is."""
    s = use.status
    if s.limit is not None and s.spent >= s.limit:
        return " [red]spent[/]"
    if s.soft is not None and s.spent >= s.soft:
        return " [yellow]soft limit reached[/]"
    return ""


def short(use: BudgetUse) -> str:
    """``$1.2000 of $10.0000 (day, resets …)`` and the ``marker``."""
    return use.status.describe() + marker(use)
