"""``llmswitch serve``: run the OpenAI- and Anthropic-compatible gateway (``llmswitch.gateway``)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ._common import console, fail


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (non-loopback needs gateway.keys)."),
        port: int = typer.Option(4000, "--port", help="Port to listen on (0: any free port)."),
        workers: int = typer.Option(1, "--workers", min=1, help="Worker processes sharing the port (SO_REUSEPORT)."),
        config: Path | None = typer.Option(None, "--config", "-c", help="Config file (providers, agents, gateway)."),
        loop: str = typer.Option("auto", "--loop", help="Event loop: auto (uvloop when installed), asyncio or uvloop."),
        hash_key: bool = typer.Option(False, "--hash-key",
                                      help="Read a caller key on stdin, print its key_sha256 for gateway.keys, exit."),
    ) -> None:
        """Serve /v1/chat/completions (OpenAI) and /v1/messages (Anthropic) over the configured providers."""
        from ..errors import LLMSwitchError

        if hash_key:
            from ..gateway.auth import hash_key as digest

            key = sys.stdin.readline().strip()
            if not key:
                fail(ValueError("no key on stdin"))
            print(digest(key))
            return
        try:
            from ..config import LLMSwitchConfig, load_config
            from ..gateway import run
            from ..gateway.loop import loop_factory

            cfg = load_config(config) or LLMSwitchConfig()
            loop_used = "asyncio" if loop_factory(loop) is None else "uvloop"
            console.print(f"llmswitch gateway on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}, "
                          f"{len(cfg.gateway.keys) or 'no'} caller key{'s' if len(cfg.gateway.keys) != 1 else ''}, "
                          f"{loop_used} loop)")
            raise typer.Exit(run(cfg, host, port, workers, loop=loop))
        except ImportError as exc:
            fail(ImportError(f"{exc}; install the gateway extra: pip install 'llmswitch[gateway]'"))
        except LLMSwitchError as exc:
            fail(exc)
