"""Small helpers shared by CLI commands: running coroutines, printing errors in one line, and
making any text that came from a server or an error safe to print.

Why one place for "safe to print": errors and health statuses are redacted when they are built,
but the CLI also prints what a server said directly (a model id, a pull status, a health
detail, an answer). Every such string passes ``shown`` (terminal) or ``scrubbed`` (JSON), so a
key a server echoes back, a rich markup tag (``[/]`` crashes rich, ``[link=…]`` forges a link)
or a terminal escape sequence never reaches the user's screen as such.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..errors import LLMSwitchError, redact, register_secret

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

MAX_SHOWN_CHARS = 2000
"""A server's text shown in a table cell or status line is cut here (the rest is in --json)."""

# C0 controls but tab and newline, DEL, C1 controls: ESC starts terminal sequences that can
# retitle the window, move the cursor or hide text; rich strips only BEL/BS/VT/FF/CR.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(value: Any, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """Text from a server or an error, safe for a terminal: secrets redacted, control
    characters removed, cut to ``limit`` characters. Not markup-escaped: see ``markup``/``cell``."""
    text = _CONTROL.sub("", redact("" if value is None else str(value)))
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"… [{len(text) - limit} more characters]"
    return text


def markup(value: Any, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """``shown`` and escaped, for interpolation into a rich markup string of our own."""
    return escape(shown(value, limit))


def cell(value: Any, limit: int | None = MAX_SHOWN_CHARS) -> Text:
    """A table cell that rich never parses as markup."""
    return Text(shown(value, limit))


def scrubbed(value: Any) -> Any:
    """A copy of JSON-ready data with every string (keys too) redacted, for ``--json`` output.
    Control characters need no removal there: ``json.dumps`` escapes them."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {(redact(k) if isinstance(k, str) else k): scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


class RedactingWriter:
    """Writes streamed text redacted. A secret can be split across two deltas, so the last word
    (text after the last whitespace) is held back until whitespace or the end arrives; keys
    contain no whitespace, and the held word is bounded so memory stays flat."""

    HOLD_LIMIT = 4096

    def __init__(self, out: Any = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.pending = ""

    def write(self, text: str) -> None:
        self.pending += text
        cut = max(self.pending.rfind(c) for c in (" ", "\n", "\t"))
        if cut < 0 and len(self.pending) < self.HOLD_LIMIT:
            return
        ready, self.pending = (self.pending[: cut + 1], self.pending[cut + 1 :]) if cut >= 0 else (self.pending, "")
        self._emit(ready)

    def close(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = ""

    def _emit(self, text: str) -> None:
        self.out.write(shown(text, None))
        self.out.flush()


_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_AMBIENT_SECRET = 8
"""Shorter values of such variables (``1``, ``true``) would redact ordinary words."""


def register_ambient_secrets() -> None:
    """Make ``redact`` know the keys in this process's environment (``OPENAI_API_KEY``, …).

    Providers register their own key when built; this covers text printed before or without
    one (a server echoing a key the user exported for another provider), so the CLI's
    redaction does not depend on which provider path ran."""
    register_secret(*(v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_AMBIENT_SECRET))


def register_provider_secrets(provider: Any) -> None:
    """Every secret a provider holds (key, custom header values, base-URL query values), for text
    printed about it (``doctor``); a third-party provider without ``secrets()`` gives its key."""
    secrets = getattr(provider, "secrets", None)
    if callable(secrets):
        register_secret(*secrets())
        return
    key: Any = getattr(provider, "api_key", None)
    value = key.get_secret_value() if hasattr(key, "get_secret_value") else key
    register_secret(value if isinstance(value, str) else None)


def fail(exc: BaseException, code: int = 1) -> NoReturn:
    """One line, red, with the error's own hint; no traceback for errors we understand."""
    register_ambient_secrets()
    # escape: errors start with "[provider HTTP 404 url]", which rich would eat as a markup tag
    err_console.print(f"[bold red]error:[/] {markup(exc, None)}", markup=True, highlight=False, soft_wrap=True)
    raise SystemExit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    register_ambient_secrets()
    try:
        return asyncio.run(coro)
    except LLMSwitchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
