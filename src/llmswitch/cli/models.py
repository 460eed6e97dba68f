"""``llmswitch models PROVIDER``: what a provider offers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich.table import Table

from ._common import cell, console, run, scrubbed


def fmt_size(n: int | None) -> str:
    """A byte count as people read it (``1.5 GB``); empty when the size is unknown."""
    if not n:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} PB"


def _fmt_price(p: float | None) -> str:
    return "" if p is None else f"${p * 1_000_000:.2f}"


async def _models(ref: str, as_json: bool) -> None:
    from ..resolve import aresolve

    provider, _ = await aresolve(ref)
    try:
        models = await provider.list_models()
    finally:
        await provider.aclose()
    if as_json:
        print(json.dumps(scrubbed([dataclasses.asdict(m) for m in models]), indent=2, default=str))
        return
    table = Table(title=f"{provider.name} models ({provider.base_url})")
    table.add_column("model")
    show_loaded = any(m.loaded is not None for m in models)
    show_ctx = any(m.context_length for m in models)
    show_size = any(m.size_bytes for m in models)
    show_price = any(m.input_price_per_token is not None for m in models)
    if show_loaded:
        table.add_column("loaded")
    if show_ctx:
        table.add_column("context", justify="right")
    if show_size:
        table.add_column("size", justify="right")
    if show_price:
        table.add_column("$/M in", justify="right")
        table.add_column("$/M out", justify="right")
    for m in models:
        row: list[Any] = [cell(m.id)]  # a server's model id is text, never rich markup
        if show_loaded:
            row.append({True: "[green]loaded[/]", False: "not loaded", None: "?"}[m.loaded])
        if show_ctx:
            row.append(str(m.context_length or ""))
        if show_size:
            row.append(fmt_size(m.size_bytes))
        if show_price:
            row += [_fmt_price(m.input_price_per_token), _fmt_price(m.output_price_per_token)]
        table.add_row(*row)
    console.print(table)
    if not models:
        console.print("[yellow]the provider answered but lists no model[/]")


def register(app: typer.Typer) -> None:
    """Add ``models`` to the top-level app."""
    @app.command()
    def models(
        provider: str = typer.Argument(..., help="Provider type or configured name (e.g. ollama, openai)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List the models a provider offers (and whether each is loaded, where it can tell)."""
        run(_models(provider, as_json))
