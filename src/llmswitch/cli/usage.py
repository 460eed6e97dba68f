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
        except (ValueError, LLMSwitchError) as exc:
            fail(exc)
        if as_json:
            print(json.dumps({"log": str(path), "since": since, "by": by, "rows": rows}, indent=2))
            return
        if not rows:
            console.print(f"no calls logged since {since} in {path}", highlight=False)
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
