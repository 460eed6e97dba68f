from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmswitch.providers.openai import OpenAIProvider
from tests.fakes import openai_server


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[tuple[openai_server.FakeOpenAI, str]]:
    fake, server = openai_server.start()
    try:
        yield fake, server.url + "/v1"
    finally:
        server.stop()


@pytest.fixture
def openai_provider(fake_openai) -> OpenAIProvider:
    _, url = fake_openai
    return OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY)
