"""Small helpers shared by CLI commands: running coroutines and printing errors in one line."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Coroutine, NoReturn, TypeVar

from rich.console import Console

from ..errors import LLMSwitchError

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def fail(exc: BaseException, code: int = 1) -> NoReturn:
    """One line, red, with the error's own hint; no traceback for errors we understand."""
    from rich.markup import escape

    # escape: errors start with "[provider HTTP 404 url]", which rich would eat as a markup tag
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
    raise SystemExit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except LLMSwitchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
