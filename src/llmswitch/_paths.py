"""Where llmswitch keeps its files, following the XDG base-directory convention, and how it
creates them: private to the user.

Each directory can be moved with an environment variable (tests point them at temp dirs).

Why private: the usage log says which models, agents and amounts a user spends on, the local
runtime's log can hold prompts, and a config file may hold a literal API key. So every file
llmswitch creates is 0600 and every directory it creates is 0700, whatever the umask. Files are
created with that mode from the start (``os.open(..., 0o600)``), never written first and
chmod-ed after, so there is no window in which another user can open them; the process umask is
never touched (it is process-wide, and changing it would race with other threads). A file that
an older llmswitch created with a wider mode is tightened the next time llmswitch opens it.
Directories are tightened only when they are llmswitch's own (the ``llmswitch`` folder under an
XDG base): a directory the user named (``$LLMSWITCH_DATA_DIR``, the parent of a ``--path``) may
be shared on purpose, and is created 0700 if missing but otherwise left as it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "config_dir",
    "data_dir",
    "state_dir",
    "FILE_MODE",
    "DIR_MODE",
    "make_private_dir",
    "tighten",
    "open_private",
    "write_private_text",
]

FILE_MODE = 0o600
"""Mode of every file llmswitch creates: read and write for the owner only."""
DIR_MODE = 0o700
"""Mode of every directory llmswitch creates."""


def tighten(path: str | os.PathLike[str], mode: int = FILE_MODE) -> None:
    """Remove group/other permission bits from ``path`` if it has any and we own it.

    Never widens, never follows a symlink's target we do not own, and never raises: a file
    owned by someone else (or on a file system without modes) is left alone, because failing
    the call would be worse than a mode we cannot fix."""
    try:
        st = os.stat(path)
    except OSError:
        return
    _tighten_stat(path, st, mode)


def _tighten_stat(path: str | os.PathLike[str] | int, st: os.stat_result, mode: int) -> None:
    current = stat.S_IMODE(st.st_mode)
    if current & ~mode & 0o777 == 0:
        return
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return
    try:
        if isinstance(path, int):
            os.fchmod(path, current & mode)
        else:
            os.chmod(path, current & mode)
    except (OSError, AttributeError, NotImplementedError):  # no fchmod/chmod modes (Windows)
        pass


def make_private_dir(path: str | os.PathLike[str], *, tighten_existing: bool = False) -> Path:
    """``mkdir -p`` where every directory created is 0700 (intermediate ones too).

    ``Path.mkdir(parents=True, mode=...)`` applies the mode to the last directory only and
    leaves the parents it creates at 0777 minus the umask (0755 usually), which would leave
    e.g. a fresh ``~/.local/state`` readable by everyone. ``tighten_existing`` also removes
    group/other bits from ``path`` itself when it already exists (for llmswitch's own folders)."""
    p = Path(path)
    missing: list[Path] = []
    q = p
    while not q.exists():
        missing.append(q)
        if q.parent == q:
            break
        q = q.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created by another process meanwhile
            pass
    if not p.is_dir():
        p.mkdir(mode=DIR_MODE, exist_ok=True)  # raises the clear NotADirectoryError/FileExistsError
    if tighten_existing and not missing:
        tighten(p, DIR_MODE)
    return p


def open_private(path: str | os.PathLike[str], flags: int = os.O_WRONLY | os.O_CREAT) -> int:
    """``os.open`` that creates the file 0600 and tightens an existing wider one; returns the fd.

    ``O_CREAT`` is always added. The mode is fixed through the descriptor just opened, so a
    file swapped for another between a stat and a chmod cannot be affected."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        _tighten_stat(fd, os.fstat(fd), FILE_MODE)
    except OSError:
        pass
    return fd


def write_private_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` (replacing its content) as a 0600 file."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding=encoding) as f:
        f.write(text)


def _xdg(env: str, xdg_env: str, fallback: str) -> Path:
    override = os.environ.get(env)
    if override:
        # The user named this directory: create it private if missing, else leave its mode.
        return make_private_dir(override)
    base = os.environ.get(xdg_env) or str(Path.home() / fallback)
    # Our own folder: private, and tightened if an older version created it 0755.
    return make_private_dir(Path(base) / "llmswitch", tighten_existing=True)


def config_dir() -> Path:
    """``$LLMSWITCH_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/llmswitch`` (``~/.config/llmswitch``)."""
    return _xdg("LLMSWITCH_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """``$LLMSWITCH_DATA_DIR``, else ``$XDG_DATA_HOME/llmswitch`` (``~/.local/share/llmswitch``): the usage log."""
    return _xdg("LLMSWITCH_DATA_DIR", "XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """``$LLMSWITCH_STATE_DIR``, else ``$XDG_STATE_HOME/llmswitch`` (``~/.local/state``): the local runtime's pid/port."""
    return _xdg("LLMSWITCH_STATE_DIR", "XDG_STATE_HOME", ".local/state")
