"""The pydantic-ai integration needs the ``pydantic-ai`` extra: without it every test here is
skipped (``test_pydantic_ai_missing_extra.py`` fakes its absence in a fresh interpreter instead).

The fakes and the real llama-server come from the shared fixtures (``tests/fixtures/``); the
OpenAI fake's ``gpt-agent`` and the Anthropic fake's ``claude-agent`` play a whole tool loop, and
the Ollama fake serves its OpenAI-compatible ``/v1`` with the same loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("pydantic_ai", reason="pydantic-ai is not installed (pip install 'llmswitch[pydantic-ai]')")

from llmswitch.integrations.pydantic_ai import clear_model_cache
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def openai_fake() -> Iterator[tuple[FakeOpenAI, str]]:
    """The shared OpenAI fake, listing ``gpt-agent`` first: a client that detects its model
    (the first one ``/v1/models`` lists) lands on the tool loop."""
    fake, server = openai_server.start([openai_server.AGENT_MODEL, "gpt-test"])
    try:
        yield fake, fake.base_url
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    yield
    clear_model_cache()
