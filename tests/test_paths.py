"""paths.py: directories llmswitch creates are 0700 (parents included), its own folders are
tightened, folders the user named keep their mode; ``llmswitch config init`` writes 0600."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch._paths import config_dir, data_dir, make_private_dir, state_dir, write_private_text
from tests.fixtures.forked import mode

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("LLMSWITCH_CONFIG_DIR", "LLMSWITCH_DATA_DIR", "LLMSWITCH_STATE_DIR", "LLMSWITCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        monkeypatch.setenv(var, str(tmp_path / "home" / sub))
    old = os.umask(0o022)
    yield tmp_path
    os.umask(old)


def test_xdg_dirs_and_the_parents_created_for_them_are_0700(xdg: Path) -> None:
    for fn in (config_dir, data_dir, state_dir):
        d = fn()
        assert d.name == "llmswitch"
        assert mode(d) == 0o700 and mode(d.parent) == 0o700, d
    assert mode(xdg / "home") == 0o700


def test_our_own_folder_left_0755_by_an_older_version_is_tightened(xdg: Path) -> None:
    old = xdg / "home" / "state" / "llmswitch"
    old.mkdir(parents=True)
    os.chmod(old, 0o755)
    os.chmod(old.parent, 0o755)
    assert state_dir() == old
    assert mode(old) == 0o700
    assert mode(old.parent) == 0o755  # XDG_STATE_HOME itself is the user's, not ours


def test_a_folder_the_user_named_keeps_its_mode(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = xdg / "shared-data"
    named.mkdir()
    os.chmod(named, 0o750)
    monkeypatch.setenv("LLMSWITCH_DATA_DIR", str(named))
    assert data_dir() == named and mode(named) == 0o750
    monkeypatch.setenv("LLMSWITCH_DATA_DIR", str(xdg / "fresh" / "data"))
    assert mode(data_dir()) == 0o700 and mode(xdg / "fresh") == 0o700


def test_make_private_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError):
        make_private_dir(tmp_path / "f")


def test_write_private_text_creates_0600_and_tightens_an_existing_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        f = tmp_path / "x.txt"
        write_private_text(f, "one")
        assert mode(f) == 0o600 and f.read_text() == "one"
        os.chmod(f, 0o664)
        write_private_text(f, "two")
        assert mode(f) == 0o600 and f.read_text() == "two"
    finally:
        os.umask(old)


def _config_init(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-m", "llmswitch", "config", "init", "--no-probe", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def test_config_init_writes_a_private_file(xdg: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = _config_init(env)
    assert out.returncode == 0, out.stdout + out.stderr
    written = xdg / "home" / "config" / "llmswitch" / "llmswitch.yaml"
    assert mode(written) == 0o600 and mode(written.parent) == 0o700
    # --force over a file left 0644 tightens it; --path into a folder the user made keeps the folder's mode.
    os.chmod(written, 0o644)
    assert _config_init(env, "--force").returncode == 0
    assert mode(written) == 0o600
    mine = xdg / "proj"
    mine.mkdir()
    os.chmod(mine, 0o755)
    assert _config_init(env, "--path", str(mine / "llmswitch.yaml")).returncode == 0
    assert mode(mine / "llmswitch.yaml") == 0o600 and mode(mine) == 0o755
