"""``PullProgress.from_line``: one line of Ollama's ``/api/pull`` stream (wire-protocols.md §1.6) from
an untrusted server: wrong-typed, negative or non-finite byte counts become None, never a crash."""

from __future__ import annotations

import pytest

from llmswitch.management.ollama import PullProgress


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
