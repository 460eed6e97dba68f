"""``llmswitch doctor``: the health of every known endpoint in one table."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from ._common import cell, console, err_console, markup, register_provider_secrets, run, scrubbed

if TYPE_CHECKING:
    from ..providers import BaseProvider
    from ..types import ProviderHealthStatus

DEFAULT_PROBE_TIMEOUT = 10.0
"""Seconds one endpoint may take to answer ``doctor`` when its provider sets no ``health_timeout``."""


def _known_providers() -> list[BaseProvider]:
    """Configured providers, then the default local endpoints, then clouds whose key is set (env
    var or keyring: the resolver's rule, so doctor checks what ``auto`` would use)."""
    from ..auto import cloud_provider, local_endpoints
    from ..errors import ConfigError
    from ..providers import cloud_defaults, create_provider

    out: list[BaseProvider] = []
    seen: set[tuple[str, str]] = set()
    try:
        from ..registry import default_registry

        out.extend(default_registry().providers.values())
    except ConfigError as exc:  # a broken config is what doctor is for: say so, check the rest
        err_console.print(f"[yellow]config:[/] {markup(exc, None)}", highlight=False, soft_wrap=True)
    except Exception:
        pass
    for p in out:
        seen.add((p.provider_type.value, p.base_url))
    for type_name, url in local_endpoints():
        if (type_name, url.rstrip("/")) not in seen:
            try:
                out.append(create_provider(type_name, base_url=url, connect_timeout=2.0, timeout=5.0))
            except Exception:
                continue
    for cloud in cloud_defaults():
        try:
            found = cloud_provider(cloud)
        except Exception:
            continue
        if found is not None and (cloud.type_name, found[0].base_url) not in seen:
            out.append(found[0])
    return out


def _probe_timeout(provider: BaseProvider, override: float | None) -> float:
    """``--timeout``, else the provider's ``health_timeout`` setting, else the default."""
    if override is not None:
        return override
    value = getattr(provider, "health_timeout", None)
    return value if isinstance(value, (int, float)) and value > 0 else DEFAULT_PROBE_TIMEOUT


async def _check(provider: BaseProvider, timeout: float) -> ProviderHealthStatus:
    """One health status, whatever happens: ``health_check`` promises not to raise, and the bound
    here makes sure a silent server cannot hold ``doctor`` past ``timeout`` either."""
    from ..types import ProviderHealthStatus

    def down(error: str) -> ProviderHealthStatus:
        return ProviderHealthStatus(
            connected=False, model_detected=False, model_id=None, base_url=provider.base_url,
            error=error, provider_type=provider.provider_type,
        )

    try:
        return await asyncio.wait_for(provider.health_check(), timeout)
    except TimeoutError:
        return down(f"no answer within {timeout:g}s (set health_timeout for this provider, or doctor --timeout)")
    except Exception as exc:  # noqa: BLE001 - one bad provider must not hide the others
        return down(f"{type(exc).__name__}: {exc}")


def _breaker(provider: BaseProvider) -> str:
    """The provider's circuit state (``closed``/``open``/``half_open``), or ``off`` without a breaker."""
    breaker = getattr(provider, "breaker", None)
    return breaker.state.value if breaker is not None else "off"


async def _budgets(providers: list[BaseProvider]) -> dict[int, list[Any]]:
    """Each configured provider's own budgets and the totals with their use (``cli._budgets``), by
    ``id(provider)``; empty when nothing is configured."""
    from ._budgets import budget_use, usage_log_path

    try:
        from ..registry import default_registry

        reg = default_registry()
        if not (reg.budgets or any(getattr(p, "budgets", ()) for p in reg.providers.values())):
            return {}
        uses = await budget_use(reg, usage_log_path())
    except Exception:  # noqa: BLE001 - a broken config is reported above; budgets are extra
        return {}
    out: dict[int, list[Any]] = {}
    for p in providers:
        scopes = {b.label for b in getattr(p, "budgets", ())}
        out[id(p)] = [u for u in uses if u.status.scope in scopes]
    return out


def _row_json(provider: BaseProvider, status: ProviderHealthStatus, budgets: list[Any] | None = None) -> dict[str, Any]:
    fields = {k: (v.value if hasattr(v, "value") else v) for k, v in vars(status).items()}
    data: dict[str, Any] = {"provider": provider.name, **fields, "breaker": _breaker(provider),
                            "budgets": [u.as_json() for u in budgets or ()]}
    shown: dict[str, Any] = scrubbed(data)
    return shown


def _state(s: ProviderHealthStatus) -> str:
    if s.healthy:
        return "[green]healthy[/]"
    if s.connected:
        return "[yellow]no model[/]" if not s.metadata.get("status") else f"[yellow]{markup(s.metadata['status'], 40)}[/]"
    return "[red]down[/]"


async def _doctor(as_json: bool, timeout: float | None = None) -> int:
    providers = _known_providers()
    for p in providers:
        register_provider_secrets(p)
    statuses = await asyncio.gather(*(_check(p, _probe_timeout(p, timeout)) for p in providers))
    budgets = await _budgets(providers)
    for p in providers:
        try:
            await p.aclose()
        except Exception:  # noqa: BLE001 - closing must not turn a report into a crash
            pass
    if as_json:
        rows = [_row_json(p, s, budgets.get(id(p))) for p, s in zip(providers, statuses, strict=True)]
        print(json.dumps(rows, indent=2, default=str))
        return 0 if any(s.healthy for s in statuses) else 1
    table = Table(title="llmswitch doctor")
    columns = ["provider", "type", "endpoint", "status", "model", "ms", "detail", "breaker"]
    if budgets:
        columns.append("budget")
    for col in columns:
        table.add_column(col, overflow="fold")
    for p, s in zip(providers, statuses, strict=True):
        detail = (s.error or "").split(" — ")[0] or ", ".join(f"{k}={v}" for k, v in s.metadata.items() if k not in ("status",))
        row = [
            cell(p.name), p.provider_type.value, cell(s.base_url), _state(s), cell(s.model_id or ""),
            f"{s.latency_ms:.0f}" if s.latency_ms is not None else "", cell(detail, 160), _breaker(p),
        ]
        if budgets:
            from ._budgets import short

            row.append("\n".join(f"{u.status.scope}: {short(u)}" for u in budgets.get(id(p), ())) or "-")
        table.add_row(*row)
    console.print(table)
    try:
        from ..auto import explain_choice, resolve_auto
        from ..errors import LLMSwitchError

        try:  # what `auto` would pick here (never starting the bundled runtime from doctor)
            chosen, _ = await resolve_auto(allow_local_runtime=False)
            await chosen.aclose()
        except LLMSwitchError:  # nothing usable: the table above says why
            pass
        note = explain_choice()
        console.print(markup(note, None) if note else "auto: no backend found (see the table above)", highlight=False)
    except ImportError:
        pass
    return 0 if any(s.healthy for s in statuses) else 1


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the top-level app."""
    @app.command()
    def doctor(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        timeout: float | None = typer.Option(
            None, "--timeout", min=0.001,
            help=f"Seconds each endpoint may take (default: its health_timeout, else {DEFAULT_PROBE_TIMEOUT:g}).",
        ),
    ) -> None:
        """Check every configured and default local endpoint and show one table."""
        raise SystemExit(run(_doctor(as_json, timeout)))
