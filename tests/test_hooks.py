"""The call path's extension points (``llmswitch.hooks``): filled from above, defaults on.

providers/ no longer imports usage/ or integrations/ (``tests/test_layers.py``); these check
that pricing and ``provider.create_model()`` still work from any entry point, and that
``import llmswitch`` loads neither.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmswitch import hooks
from llmswitch.providers.openai import OpenAIProvider

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_llmswitch_loads_neither_usage_nor_integrations() -> None:
    out = run(
        """
        import sys, llmswitch
        heavy = ("llmswitch.usage", "llmswitch.integrations", "genai_prices", "pydantic_ai", "aiohttp")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    assert out == "[]"


def test_a_provider_used_directly_prices_its_calls() -> None:
    """No module API, no registry: the root's stand-in loads usage.pricing on the first priced
    call, and usage.pricing puts itself in its place."""
    pytest.importorskip("genai_prices")
    out = run(
        """
        from llmswitch.providers.openai import OpenAIProvider
        from llmswitch.types import Response, Usage
        from llmswitch import hooks
        p = OpenAIProvider(api_key="sk-test-key-123456")
        r = Response(text="hi", model="gpt-4o", usage=Usage(input_tokens=1000, output_tokens=100))
        p._record("gpt-4o", r, None, 0.01)
        from llmswitch.usage.pricing import price_usage
        print(r.usage.cost == price_usage("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=100)) > 0,
              hooks.pricer == [price_usage])
        """
    )
    assert out == "True True"


def test_provider_create_model_goes_through_the_hook() -> None:
    saved = list(hooks._model_factory)
    seen: list[tuple[object, ...]] = []

    def sync(provider: object, name: str | None) -> str:
        seen.append((provider, name))
        return "model"

    async def asynchronous(provider: object, name: str | None, **kw: object) -> str:
        seen.append((provider, name, kw))
        return "async-model"

    p = OpenAIProvider(api_key="sk-test-key-123456")
    try:
        hooks.set_model_factory(sync, asynchronous)
        assert p.create_model("m") == "model"
        assert asyncio.run(p.create_model_async("m", test_connection=False)) == "async-model"
    finally:
        hooks._model_factory[:] = saved
    assert seen == [(p, "m"), (p, "m", {"auto_detect": True, "test_connection": False})]


def test_pricer_can_be_turned_off_and_back() -> None:
    saved = list(hooks.pricer)
    try:
        hooks.set_pricer(None)
        from llmswitch.types import Response, Usage

        r = Response(text="hi", model="gpt-4o", usage=Usage(input_tokens=10, output_tokens=1))
        OpenAIProvider(api_key="sk-test-key-123456")._record("gpt-4o", r, None, 0.0)
        assert r.usage.cost is None  # unknown, never $0
    finally:
        hooks.pricer[:] = saved
