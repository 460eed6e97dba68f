from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import corpus, stats
from .replay import ReplayServer

REPORT_ENV = "LLMSWITCH_CONFORMANCE_REPORT"
"""A file to write the number of interactions replayed green into, at session end (``scripts/test``
sets it in CI and fails when the number is missing or 0)."""


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    try:
        yield server
    finally:
        server.stop()


def count_line() -> str:
    n = sum(stats.green.values())
    line = f"conformance: {n} interactions replayed"
    if not corpus.cassette_ids():
        line += f" ({corpus.missing_message()})"
    return line


def pytest_sessionfinish(session, exitstatus) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{sum(stats.green.values())}\n")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if stats.ran and corpus.cassette_ids():
        terminalreporter.section("conformance replay")
        for line in stats.summary_lines():
            terminalreporter.write_line(line)
    terminalreporter.write_line(count_line())
