"""``llmswitch usage``: tokens and dollars from the usage log, grouped one way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ._common import console, fail


def _log_path(explicit: Path | None) -> Path:
    """--log, else the config's usage_log path, else the default file."""
    from ._budgets import usage_log_path

    return usage_log_path(explicit)


def _cost(row: dict[str, Any]) -> str:
    """Unknown prices stay visible: '$0.0123 + 3 unpriced' or 'unknown', never a silent $0."""
    cost, unpriced, ok = row["cost"], row["unpriced"], row["calls"] - row["errors"] - row["cancelled"]
    if cost is None or (unpriced and unpriced == ok and not cost):
        return "unknown" if ok else "-"
    text = f"${cost:.4f}"
    return f"{text} + {unpriced} unpriced" if unpriced else text


def register(app: typer.Typer) -> None:
    """Add ``usage`` to the top-level app."""
    @app.command()
    def usage(
        since: str = typer.Option("7d", "--since", help="How far back: 7d, 24h, 30m, 2w, a date (2025-01-31), or all."),
        by: str = typer.Option("provider", "--by", help="Group by provider, model, agent, caller, day or type."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
        log: Path | None = typer.Option(None, "--log", help="Usage log file (default: from config, else the user data dir)."),
        config: Path | None = typer.Option(None, "--config", "-c", help="Config file to read usage_log from."),
    ) -> None:
        """Calls, errors, tokens and cost per provider/model/agent/day from the usage log."""
        from ..errors import LLMSwitchError
        from ..usage.log import parse_since, query_usage

        if config is not None:
            import os

            os.environ["LLMSWITCH_CONFIG"] = str(config)
        try:
            cutoff = parse_since(since)
            path = _log_path(log)
            rows = query_usage(path, since=cutoff, by=by)
            budgets = _budget_uses(path)
        except (ValueError, LLMSwitchError) as exc:
            fail(exc)
        if as_json:
            print(json.dumps({"log": str(path), "since": since, "by": by, "rows": rows,
                              "budgets": [u.as_json() for u in budgets]}, indent=2))
            return
        if not rows:
            console.print(f"no calls logged since {since} in {path}", highlight=False)
            _print_budgets(budgets)
            return
        table = Table(title=f"llmswitch usage — since {since}, by {by}")
        for col, justify in ((by, "left"), ("calls", "right"), ("errors", "right"), ("input", "right"),
                             ("output", "right"), ("cache read", "right"), ("cost", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        tot = {"calls": 0, "errors": 0, "cancelled": 0, "input_tokens": 0, "output_tokens": 0,
               "cache_read_tokens": 0, "unpriced": 0, "cost": None}
        for r in rows:
            errors = f"{r['errors']}" + (f" (+{r['cancelled']} cancelled)" if r["cancelled"] else "")
            table.add_row(str(r[by]), str(r["calls"]), errors, f"{r['input_tokens']:,}", f"{r['output_tokens']:,}",
                          f"{r['cache_read_tokens']:,}", _cost(r))
            for k in ("calls", "errors", "cancelled", "input_tokens", "output_tokens", "cache_read_tokens", "unpriced"):
                tot[k] += r[k]
            if r["cost"] is not None:
                tot["cost"] = (tot["cost"] or 0.0) + r["cost"]
        if len(rows) > 1:
            table.add_section()
            table.add_row("total", str(tot["calls"]), str(tot["errors"]), f"{tot['input_tokens']:,}",
                          f"{tot['output_tokens']:,}", f"{tot['cache_read_tokens']:,}", _cost(tot))
        console.print(table)
        console.print(f"[dim]{path}[/]", highlight=False)
        _print_budgets(budgets)


def _budget_uses(log: Path) -> list[Any]:
    """Spend against every budget in the config (none without a config file)."""
    import asyncio

    from ..config import load_config
    from ..registry import ProviderRegistry
    from ._budgets import budget_use

    cfg = load_config()
    if cfg is None or not (cfg.budgets or any(p.budget for p in cfg.providers.values())
                           or any(a.budget for a in cfg.agents.values())):
        return []
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    return asyncio.run(budget_use(reg, log))


def _print_budgets(uses: list[Any]) -> None:
    if not uses:
        return
    from ._budgets import marker

    table = Table(title="budgets — current window")
    for col, justify in (("budget", "left"), ("per", "left"), ("spent", "right"), ("limit", "right"),
                         ("soft", "right"), ("resets", "left"), ("source", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for u in uses:
        s = u.status

        def fmt(v: float, unit: str = s.unit) -> str:
            return f"${v:,.4f}" if unit == "usd" else f"{v:,.0f} tokens"

        table.add_row(s.scope, s.per, fmt(s.spent) + marker(u), fmt(s.limit) if s.limit is not None else "-",
                      fmt(s.soft) if s.soft is not None else "-", _when(s.resets_at), u.source)
    console.print(table)


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
