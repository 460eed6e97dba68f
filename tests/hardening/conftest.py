"""Fixtures for the hardening tests: a hostile server and a second origin that records what reached it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import hostile_server
from tests.fakes._threaded import ThreadedServer

KEY = "llamacpp-KEY-not-shaped-like-sk-0123456789"
"""A key no pattern recognises (a llama.cpp ``--api-key``): only the registered secret can redact it."""
HEADER_SECRET = "hdr-SECRET-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def other_origin() -> Iterator[ThreadedServer]:
    server = hostile_server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hostile(other_origin: ThreadedServer) -> Iterator[ThreadedServer]:
    server = hostile_server.start()
    hostile_server.state(server).other_url = other_origin.url
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _reset(hostile: ThreadedServer, other_origin: ThreadedServer) -> None:
    for s in (hostile, other_origin):
        st = hostile_server.state(s)
        st.seen.clear()
        st.models_mode = "ok"
