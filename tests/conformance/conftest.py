from __future__ import annotations

from typing import Iterator

import pytest

from . import stats
from .replay import ReplayServer


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not stats.ran:
        return
    terminalreporter.section("conformance replay")
    for line in stats.summary_lines():
        terminalreporter.write_line(line)
