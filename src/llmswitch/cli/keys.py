"""``llmswitch keys set|get|rm NAME``: API keys in the system keyring (service ``llmswitch``).

A config file can then say ``api_key: keyring:NAME``; a provider with no key configured also
looks up the entry named after it (``llmswitch keys set openai``).
"""

from __future__ import annotations

import sys
from types import ModuleType

import typer

from ._common import console, fail


def _keyring() -> ModuleType:
    try:
        import keyring
    except ImportError:
        from ..errors import ConfigError

        fail(ConfigError("the keyring package is not installed: pip install 'llmswitch[keyring]'"))
    return keyring


def mask(secret: str) -> str:
    """Enough to recognise a key, never enough to use it."""
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:4]}…{secret[-4:]} ({len(secret)} chars)"


def register(app: typer.Typer) -> None:
    """Add the ``keys`` group (set, delete, list) to the top-level app."""
    from ..config import KEYRING_SERVICE, delete_keyring_secret, set_keyring_secret

    keys = typer.Typer(help="Store API keys in the system keyring.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("set")
    def set_(
        name: str = typer.Argument(..., help="Entry name, e.g. openai or a provider name from your config."),
        value: str | None = typer.Option(None, "--value", help="The key (default: prompt, or read stdin when piped)."),
    ) -> None:
        """Store a key (prompted without echo, or read from stdin)."""
        _keyring()  # a clear error before prompting when the extra is missing
        if value is None:
            value = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt(f"key for {name}", hide_input=True)
        if not value:
            fail(ValueError("empty key; nothing stored"))
        try:
            set_keyring_secret(name, value)
        except Exception as exc:  # keyring backends raise their own types
            fail(RuntimeError(f"the keyring refused to store {name}: {type(exc).__name__}"))
        console.print(f"stored {name} ({mask(value)}); use it as api_key: keyring:{name}", highlight=False)

    @keys.command("get")
    def get(
        name: str = typer.Argument(...),
        show: bool = typer.Option(False, "--show", help="Print the whole key instead of a masked one."),
    ) -> None:
        """Print a stored key, masked unless --show."""
        value = _keyring().get_password(KEYRING_SERVICE, name)
        if value is None:
            fail(KeyError(f"no key named {name!r} in the keyring; `llmswitch keys set {name}` stores one"))
        print(value if show else mask(value))

    @keys.command("rm")
    def rm(name: str = typer.Argument(...)) -> None:
        """Delete a stored key."""
        _keyring()
        try:
            delete_keyring_secret(name)
        except Exception:
            fail(KeyError(f"no key named {name!r} in the keyring"))
        console.print(f"removed {name}", highlight=False)
