"""``llmswitch pull`` against a hostile Ollama, and the CLI's shared "safe to print" helpers:
rich markup, terminal escapes and wrong-typed byte counts never crash the pull or reach the
screen as such; echoed keys are redacted.

Commands run as a user runs them (a subprocess) against the fakes in
``tests/fakes/hostile_server.py``; the helpers of ``cli/_common.py`` are also tested directly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch.cli._common import RedactingWriter, cell, markup, scrubbed, shown
from llmswitch.errors import register_secret
from llmswitch.management.ollama import PullProgress
from tests.fakes.hostile_server import HostilePull, serve

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("LLMSWITCH_CONFIG", "OLLAMA_HOST")}
    env.update({"PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1",
                "LLMSWITCH_AUTO_ENDPOINTS": "", "LLMSWITCH_USAGE_LOG": "off"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout)


# --- llmswitch pull ---------------------------------------------------------------------------


def test_pull_survives_markup_and_bad_byte_counts() -> None:
    server = serve(HostilePull())
    try:
        r = run_cli("pull", "tinyllama", "--host", server.url)
    finally:
        server.stop()
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert "pulling manifest [/] [bold]not bold[/bold] [link=http://evil.example]click[/link]" in r.stdout  # literally
    bars = [line for line in r.stdout.splitlines() if line.startswith("pulling dde5aa3fc5ff")]
    assert bars and "100%" in bars[-1] and "3.0/3.0 MB" in bars[-1]
    assert "verifying sha256 digest [/]" in r.stdout and "success: tinyllama" in r.stdout
    assert "\x1b]0;pwned" not in r.stdout and "writing manifest ]0;pwned" in r.stdout  # ESC and BEL removed


@pytest.mark.parametrize(
    ("line", "total", "completed", "digest"),
    [
        ({"status": "s", "digest": "sha256:ab", "total": "300", "completed": "3"}, None, None, "sha256:ab"),
        ({"status": "s", "digest": "sha256:ab", "total": -5, "completed": -1}, None, None, "sha256:ab"),
        ({"status": "s", "digest": 7, "total": float("nan"), "completed": float("inf")}, None, None, None),
        ({"status": "s", "digest": ["x"], "total": True, "completed": 2.0}, None, 2, None),
        ({"status": "s", "digest": "sha256:ab", "total": 300, "completed": 3}, 300, 3, "sha256:ab"),
    ],
)
def test_pull_progress_from_untrusted_line(line: dict, total: int | None, completed: int | None, digest: str | None) -> None:
    p = PullProgress.from_line(line)
    assert (p.total, p.completed, p.digest) == (total, completed, digest)
    assert p.fraction is None or 0 <= p.fraction <= 1
    assert p.layer is None or isinstance(p.layer, str)


# --- the shared helpers -------------------------------------------------------------------------


def test_redacting_writer_catches_a_key_split_across_writes() -> None:
    register_secret("split-secret-55555")
    out = io.StringIO()
    w = RedactingWriter(out)
    for piece in ("one two split-se", "cret-55", "555 three", " fo", "ur"):
        w.write(piece)
    assert out.getvalue() == "one two *** three "  # the last word is held until whitespace or close
    w.close()
    assert out.getvalue() == "one two *** three four"


def test_redacting_writer_bounds_what_it_holds() -> None:
    out = io.StringIO()
    w = RedactingWriter(out)
    w.write("x" * (RedactingWriter.HOLD_LIMIT + 10))
    assert len(out.getvalue()) == RedactingWriter.HOLD_LIMIT + 10 and w.pending == ""


def test_shown_markup_cell_scrubbed() -> None:
    register_secret("helper-secret-77777")
    text = "a [/] \x1b[31mred\x1b[0m helper-secret-77777 " + "z" * 3000
    s = shown(text)
    assert "helper-secret" not in s and "\x1b" not in s and s.startswith("a [/] [31mred[0m *** ")
    assert s.endswith("more characters]") and len(s) < 2100
    assert markup("[/]") == "\\[/]"
    assert cell("[bold]x[/bold]").plain == "[bold]x[/bold]"  # a Text: never parsed as markup
    assert scrubbed({"k": ["helper-secret-77777", 1, None, {"helper-secret-77777": True}]}) == {"k": ["***", 1, None, {"***": True}]}
