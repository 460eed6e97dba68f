"""``llmswitch doctor``: the health of every known endpoint in one table."""

from __future__ import annotations

import asyncio
import json
import os

import typer
from rich.table import Table

from ._common import console, run


def _known_providers():
    """Configured providers, then the default local endpoints, then clouds whose key is set."""
    from ..auto import CLOUD_KEYS, LOCAL_DEFAULTS
    from ..providers import create_provider

    out = []
    seen: set[tuple[str, str]] = set()
    try:
        from ..registry import default_registry

        for p in default_registry().list_providers():
            out.append(p if not isinstance(p, str) else default_registry().get(p))
    except Exception:
        pass
    for p in out:
        seen.add((p.provider_type.value, p.base_url))
    for type_name, url in LOCAL_DEFAULTS:
        if (type_name, url.rstrip("/")) not in seen:
            try:
                out.append(create_provider(type_name, base_url=url, connect_timeout=2.0, timeout=5.0))
            except Exception:
                continue
    for type_name, env in CLOUD_KEYS:
        if os.environ.get(env):
            try:
                p = create_provider(type_name)
            except Exception:
                continue
            if (type_name, p.base_url) not in seen:
                out.append(p)
    return out


async def _doctor(as_json: bool) -> int:
    providers = _known_providers()
    statuses = await asyncio.gather(*(p.health_check() for p in providers))
    for p in providers:
        await p.aclose()
    if as_json:
        print(json.dumps([
            {"provider": p.name, **{k: (v.value if hasattr(v, "value") else v) for k, v in vars(s).items()}}
            for p, s in zip(providers, statuses)
        ], indent=2, default=str))
        return 0 if any(s.healthy for s in statuses) else 1
    table = Table(title="llmswitch doctor")
    for col in ("provider", "type", "endpoint", "status", "model", "ms", "detail"):
        table.add_column(col, overflow="fold")
    for p, s in zip(providers, statuses):
        if s.healthy:
            state = "[green]healthy[/]"
        elif s.connected:
            state = "[yellow]no model[/]" if not s.metadata.get("status") else f"[yellow]{s.metadata['status']}[/]"
        else:
            state = "[red]down[/]"
        detail = (s.error or "").split(" — ")[0] or ", ".join(f"{k}={v}" for k, v in s.metadata.items() if k not in ("status",))
        table.add_row(
            p.name, p.provider_type.value, s.base_url, state, s.model_id or "",
            f"{s.latency_ms:.0f}" if s.latency_ms is not None else "", detail[:160],
        )
    console.print(table)
    try:
        from ..auto import explain_choice, resolve_auto
        from ..errors import ConfigError

        try:  # what `auto` would pick here (never starting the bundled runtime from doctor)
            chosen, _ = await resolve_auto(allow_local_runtime=False)
            await chosen.aclose()
        except ConfigError:
            pass
        note = explain_choice()
        console.print(note or "auto: no backend found (see the table above)", highlight=False)
    except ImportError:
        pass
    return 0 if any(s.healthy for s in statuses) else 1


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Check every configured and default local endpoint and show one table."""
        raise SystemExit(run(_doctor(as_json)))
