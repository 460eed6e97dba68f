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


# --- call hooks: on_request / on_response / on_error / on_stream_event / on_retry ----------------

import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import llmswitch as ls  # noqa: E402
from llmswitch import errors as E  # noqa: E402
from llmswitch.registry import ProviderRegistry  # noqa: E402
from llmswitch.routing import RetryPolicy  # noqa: E402
from llmswitch.types import Response, TextDelta, UsageEvent  # noqa: E402
from tests.fakes import openai_server  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402


@pytest.fixture
def clean_hooks() -> Iterator[None]:
    """No global hook leaks from one test into the next."""
    yield
    hooks.global_hooks.clear()
    import gc

    gc.collect()  # the tests' providers (and their hooks) are gone
    assert hooks.tap == []


def _p(fake: tuple[FakeOpenAI, str], **kw: Any) -> OpenAIProvider:
    kw.setdefault("retries", 0)
    return OpenAIProvider(base_url=fake[1], api_key=openai_server.VALID_KEY, **kw)


def test_tap_is_empty_until_a_hook_is_added_anywhere(clean_hooks: None) -> None:
    p = OpenAIProvider(api_key="sk-test-key-123456")
    assert hooks.tap == []
    fn = p.hooks.add("on_error", lambda call, err: None)
    assert hooks.tap == [True]
    p.hooks.remove("on_error", fn)
    assert hooks.tap == []
    with pytest.raises(ValueError, match="unknown hook event"):
        hooks.add_hook("on_reply", print)
    with pytest.raises(ValueError, match="only on_request"):
        hooks.add_hook("on_response", print, transformer=True)


async def test_hooks_run_in_order_with_the_call_and_the_response(
    openai_fake: tuple[FakeOpenAI, str], clean_hooks: None
) -> None:
    seen: list[tuple[Any, ...]] = []
    p = _p(openai_fake)
    reg = ProviderRegistry({"main": p})
    hooks.add_hook("on_request", lambda call: seen.append(("global request", call.model, call.messages)))
    reg.hooks.add("on_request", lambda call: seen.append(("registry request", call.provider)))
    p.hooks.add("on_request", lambda call: seen.append(("provider request", call.stream)))

    async def on_response(call: hooks.Call, resp: Response) -> None:  # async hooks are awaited
        await asyncio.sleep(0)
        seen.append(("response", resp.text, call.seconds is not None and call.seconds > 0))

    p.hooks.add("on_response", on_response)
    p.hooks.add("on_error", lambda call, err: seen.append(("error",)))
    resp = await reg.get("main").complete("hi", model="gpt-test")
    assert seen[0][0] == "global request" and seen[0][1] == "gpt-test"
    assert [m.content for m in seen[0][2]] == ["hi"] and isinstance(seen[0][2], tuple)  # frozen for read-only hooks
    assert seen[1] == ("registry request", p) and seen[2] == ("provider request", False)
    assert seen[3] == ("response", resp.text, True) and len(seen) == 4


async def test_on_error_gets_the_error_and_stream_events_come_in_order(
    openai_fake: tuple[FakeOpenAI, str], clean_hooks: None
) -> None:
    p = _p(openai_fake)
    errors: list[BaseException] = []
    events: list[Any] = []
    p.hooks.add("on_error", lambda call, err: errors.append(err))
    p.hooks.add("on_stream_event", lambda call, ev: events.append(ev))
    with pytest.raises(E.ModelNotFoundError) as raised:
        await p.complete("hi", model="gpt-missing")
    assert errors == [raised.value]
    async with p.stream("hi", model="gpt-test") as s:
        got = [ev async for ev in s]
    assert events == got and [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", "! How can", " I help?"]
    assert any(isinstance(e, UsageEvent) for e in events) and not any(isinstance(e, Response) for e in events)


async def test_a_raising_hook_is_logged_and_the_call_goes_on(
    openai_fake: tuple[FakeOpenAI, str], clean_hooks: None, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("hook bug")

    async def aboom(*args: Any) -> None:
        raise RuntimeError("async hook bug")

    for event in ("on_request", "on_response", "on_stream_event"):
        hooks.add_hook(event, boom)
        hooks.add_hook(event, aboom)
    with caplog.at_level(logging.WARNING, logger="llmswitch.hooks"):
        resp = await _p(openai_fake).complete("hi", model="gpt-test")
        async with _p(openai_fake).stream("hi", model="gpt-test") as s:
            final = await s.final()
    assert resp.text == final.text == "Hello! How can I help?"
    assert {r.exc_info[1].args[0] for r in caplog.records if r.exc_info} == {"hook bug", "async hook bug"}  # type: ignore[index]


async def test_read_only_hooks_cannot_change_the_request_transformers_can(
    openai_fake: tuple[FakeOpenAI, str], clean_hooks: None
) -> None:
    def meddle(call: hooks.Call) -> None:
        with pytest.raises((TypeError, AttributeError)):
            call.params["max_tokens"] = 1  # type: ignore[index]
        with pytest.raises(AttributeError):
            call.messages.append("x")

    def add_system(call: hooks.Call) -> None:
        call.messages.insert(0, ls.Message.system("be brief"))
        call.params["temperature"] = 0.25

    hooks.add_hook("on_request", meddle)
    hooks.add_hook("on_request", add_system, transformer=True)
    await _p(openai_fake).complete("hi", model="gpt-test")
    body = openai_fake[0].requests[-1]
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["temperature"] == 0.25


async def test_on_retry_sees_each_retry(openai_fake: tuple[FakeOpenAI, str], clean_hooks: None) -> None:
    async def nosleep(_: float) -> None:
        return None

    seen: list[tuple[str, float, int]] = []
    hooks.add_hook("on_retry", lambda call, err, wait: seen.append((type(err).__name__, wait, call.retries)))
    p = _p(openai_fake, retries=RetryPolicy(retries=2, sleep=nosleep, jitter=lambda: 0.0))
    await p.complete("hi", model="gpt-flaky-2-503")
    assert seen == [("ProviderUnavailableError", 0.0, 1), ("ProviderUnavailableError", 0.0, 2)]


def test_hooks_run_for_the_sync_api(openai_fake: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch, clean_hooks: None) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", openai_fake[1])
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", openai_server.VALID_KEY)
    from llmswitch import api

    api.reset_provider_cache()
    seen: list[str] = []

    async def on_request(call: hooks.Call) -> None:
        seen.append(f"request {call.model}")

    hooks.add_hook("on_request", on_request)
    hooks.add_hook("on_response", lambda call, resp: seen.append(f"response {resp.text}"))
    hooks.add_hook("on_stream_event", lambda call, ev: seen.append("event"))
    try:
        ls.complete("openai-compatible:gpt-test", "hi", timeout=10)
        with ls.stream("openai-compatible:gpt-test", "hi", timeout=10) as s:
            s.final()
    finally:
        api.reset_provider_cache()
    assert seen[:2] == ["request gpt-test", "response Hello! How can I help?"]
    assert seen[2] == "request gpt-test" and seen[-1] == "response Hello! How can I help?" and seen.count("event") >= 3


async def test_a_stream_closed_early_with_an_event_hook_is_one_cancelled_outcome(
    openai_fake: tuple[FakeOpenAI, str], clean_hooks: None
) -> None:
    p = _p(openai_fake)
    events: list[Any] = []
    errors: list[BaseException] = []
    p.hooks.add("on_stream_event", lambda call, ev: events.append(ev))
    p.hooks.add("on_error", lambda call, err: errors.append(err))
    p.hooks.add("on_response", lambda call, resp: errors.append(AssertionError("no response expected")))
    async with p.stream("hi", model="gpt-test") as s:
        async for _ in s:
            break
    assert len(events) == 1 and [type(e).__name__ for e in errors] == ["CancelledError"]
    assert p.usage.errors == 1
    # the connection went back to the pool or was closed: the next call works at once
    assert (await p.complete("hi", model="gpt-test")).text == "Hello! How can I help?"
    await p.aclose()
