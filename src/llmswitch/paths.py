"""Where llmswitch keeps its files, following the XDG base-directory convention.

Each directory can be moved with an environment variable (tests point them at temp dirs).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_dir", "data_dir", "state_dir"]


def _xdg(env: str, xdg_env: str, fallback: str) -> Path:
    override = os.environ.get(env)
    if override:
        path = Path(override)
    else:
        base = os.environ.get(xdg_env) or str(Path.home() / fallback)
        path = Path(base) / "llmswitch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """``$LLMSWITCH_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/llmswitch`` (``~/.config/llmswitch``)."""
    return _xdg("LLMSWITCH_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """``$LLMSWITCH_DATA_DIR``, else ``$XDG_DATA_HOME/llmswitch`` (``~/.local/share/llmswitch``): the usage log."""
    return _xdg("LLMSWITCH_DATA_DIR", "XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """``$LLMSWITCH_STATE_DIR``, else ``$XDG_STATE_HOME/llmswitch`` (``~/.local/state``): the local runtime's pid/port."""
    return _xdg("LLMSWITCH_STATE_DIR", "XDG_STATE_HOME", ".local/state")
