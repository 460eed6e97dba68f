"""The ``llmswitch`` command: a typer + rich front end with no logic the library lacks.

Each command group lives in its own module exposing ``register(app)``; modules that are not
present (an area not built yet) are simply skipped, so areas never edit each other's files.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import typer

COMMAND_MODULES = ("chat", "models", "doctor", "local", "ollama", "usage", "config_cmd", "keys", "serve")

app = typer.Typer(
    name="llmswitch",
    help="One command line for every LLM backend, cloud and local.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="LLMSWITCH_CONFIG",
        help="Config file (default: ./llmswitch.yaml, then the user config dir).",
    ),
) -> None:
    """One command line for every LLM backend, cloud and local."""
    if config is not None:  # every layer reads $LLMSWITCH_CONFIG, so one place sets it
        os.environ["LLMSWITCH_CONFIG"] = str(config)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        modname = f"llmswitch.cli.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(app)


_register_all()


def main() -> None:
    """The ``llmswitch`` console script's entry point."""
    app()
