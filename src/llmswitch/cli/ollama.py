"""``llmswitch pull|rm|show|ps``: Ollama model management from the command line.

Thin on purpose: every command is one ``OllamaClient`` call and a rich rendering of it.
``--host`` accepts what ``OLLAMA_HOST`` accepts (``host:port``, a URL, with or without ``/v1``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from ._common import cell, console, markup, run, scrubbed

if TYPE_CHECKING:
    from ..management.ollama import OllamaClient
from .models import fmt_size

HOST_HELP = "Ollama server (default: $OLLAMA_HOST or http://localhost:11434)."


def _client(host: str | None) -> OllamaClient:
    from ..management.ollama import OllamaClient

    return OllamaClient(host)


class _PullDisplay:
    """One progress bar per layer (by digest): bytes, speed and ETA; other statuses as lines.

    Everything here comes from the server, which may be broken or hostile: text is shown
    through ``markup``/``shown`` (a status of ``[/]`` would crash rich's markup parser), and a
    byte count that is missing, non-numeric or negative is unknown — the bar keeps going
    (indeterminate until a total arrives) instead of the pull failing."""

    def __init__(self, name: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.name = name
        self.progress = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.totals: dict[str, int] = {}
        self.last_status: str | None = None

    def __enter__(self) -> _PullDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def update(self, p: Any) -> None:
        digest = p.digest if isinstance(p.digest, str) and p.digest else None
        total, completed = _count(p.total), _count(p.completed)
        if digest and (total or completed is not None or digest in self.tasks):
            self._update_layer(digest, total, completed)
            return
        if p.status and p.status != self.last_status:
            self.last_status = p.status
            line = f"[green]success[/]: {markup(self.name, 200)}" if p.done else f"[dim]{markup(p.status, 200)}[/]"
            self.progress.console.print(line, highlight=False)

    def _update_layer(self, digest: str, total: int | None, completed: int | None) -> None:
        if total:
            self.totals[digest] = total
        known_total = self.totals.get(digest)
        task = self.tasks.get(digest)
        if task is None:
            # the description is rendered as markup by the TextColumn: escaped
            task = self.tasks[digest] = self.progress.add_task(f"pulling {markup(_layer(digest), 40)}", total=known_total)
        if completed is not None and known_total is not None:
            completed = min(completed, known_total)
        if completed is not None:
            self.progress.update(task, total=known_total, completed=completed)
        else:
            self.progress.update(task, total=known_total)


def _count(value: Any) -> int | None:
    """A byte count from the server, or None if it is not a non-negative whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(value) if value != float("inf") else None


def _layer(digest: str) -> str:
    """The short layer name Ollama itself prints: 12 hex characters after ``sha256:``."""
    return digest.split(":", 1)[-1][:12]


async def _pull(name: str, host: str | None) -> None:
    async with _client(host) as client:
        with _PullDisplay(name) as display:
            async for progress in client.pull_model(name):
                display.update(progress)


async def _rm(name: str, host: str | None) -> None:
    async with _client(host) as client:
        await client.delete_model(name)
    console.print(f"deleted [bold]{markup(name, 200)}[/]")


async def _show(name: str, host: str | None, as_json: bool) -> None:
    async with _client(host) as client:
        info = await client.get_model_info(name)
    if as_json:
        d = dataclasses.asdict(info)
        d.pop("raw", None)
        print(json.dumps(scrubbed(d), indent=2, default=str))
        return
    table = Table(title=f"{markup(name, 200)} ({markup(client.base_url, 200)})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    caps = "unknown (server too old to say)" if info.capabilities is None else ", ".join(info.capabilities)
    for field, value in (
        ("family", info.family),
        ("parameters", info.parameter_size),
        ("quantization", info.quantization),
        ("format", info.format),
        ("context length", f"{info.context_length} (trained)" if info.context_length else None),
        ("num_ctx", info.num_ctx),
        ("capabilities", caps),
        ("modelfile parameters", info.parameters_text.strip() or None),
        ("template", (info.template[:300] + " …") if len(info.template) > 300 else info.template or None),
    ):
        if value is not None:
            table.add_row(field, cell(value, None))
    console.print(table)


async def _ps(host: str | None, as_json: bool) -> None:
    async with _client(host) as client:
        models = await client.list_running()
    if as_json:
        print(json.dumps(scrubbed([dataclasses.asdict(m) for m in models]), indent=2, default=str))
        return
    if not models:
        console.print(f"no model is loaded ({markup(client.base_url, 200)})")
        return
    table = Table(title=f"loaded models ({markup(client.base_url, 200)})")
    for col in ("model", "size", "in VRAM", "context", "until"):
        table.add_column(col, justify="right" if col in ("size", "in VRAM", "context") else "left")
    for m in models:
        table.add_row(
            cell(m.id, 200),
            fmt_size(_count(m.size_bytes)),
            fmt_size(_count(m.metadata.get("size_vram"))),
            cell(m.context_length or ""),
            cell(m.metadata.get("expires_at", ""), 80),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the Ollama model commands (pull, rm, show, ps) to the top-level app."""
    @app.command()
    def pull(
        name: str = typer.Argument(..., help="Model to download, e.g. llama3.2 or qwen3:8b."),
        host: str | None = typer.Option(None, "--host", help=HOST_HELP),
    ) -> None:
        """Download an Ollama model, with a progress bar per layer."""
        run(_pull(name, host))

    @app.command()
    def rm(
        name: str = typer.Argument(..., help="Model to delete."),
        host: str | None = typer.Option(None, "--host", help=HOST_HELP),
    ) -> None:
        """Delete an Ollama model (a model that is not there is an error)."""
        run(_rm(name, host))

    @app.command()
    def show(
        name: str = typer.Argument(..., help="Model to describe."),
        host: str | None = typer.Option(None, "--host", help=HOST_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """An Ollama model's capabilities, context length, parameters and template."""
        run(_show(name, host, as_json))

    @app.command()
    def ps(
        host: str | None = typer.Option(None, "--host", help=HOST_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Models Ollama has loaded in memory."""
        run(_ps(host, as_json))


