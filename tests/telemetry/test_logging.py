"""The ``llmswitch.calls`` log records: one INFO record per call outcome with its facts in
``extra``, DEBUG detail, and never a secret — against the OpenAI fake and the hostile servers
(real HTTP, nothing of llmswitch patched). The library installs no handler: these tests attach
their own, as an application would."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from llmswitch import _observe
from llmswitch import errors as E
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.registry import ProviderRegistry
from llmswitch.routing import RetryPolicy
from tests.fakes import openai_server
from tests.fakes._threaded import ThreadedServer
from tests.fakes.hostile_server import EchoingOpenAI, serve, state
from tests.fakes.openai_server import FakeOpenAI
from tests.fixtures.servers import HEADER_SECRET, KEY


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def outcomes(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == "llmswitch.calls" and r.levelno == logging.INFO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """A handler on the ``llmswitch`` tree at DEBUG, as an application would attach it."""
    root = logging.getLogger("llmswitch")
    h = Capture()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.DEBUG)
    try:
        yield h
    finally:
        root.removeHandler(h)
        root.setLevel(old)


async def nosleep(_: float) -> None:
    return None


def provider(fake: tuple[FakeOpenAI, str], **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(base_url=fake[1], api_key=openai_server.VALID_KEY, **kw)


def test_the_library_installs_no_handler() -> None:
    import llmswitch.providers.base  # noqa: F401  (loads _observe and the loggers)

    for name in ("llmswitch", "llmswitch.calls", "llmswitch.hooks", "llmswitch.failover"):
        assert logging.getLogger(name).handlers == []


async def test_one_info_record_for_a_successful_call(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=0)
    resp = await p.complete("hi", model="gpt-test")
    [rec] = capture.outcomes()
    f = rec.__dict__
    assert (f["provider"], f["provider_type"], f["model"], f["status"], f["stream"]) == ("openai", "openai", "gpt-test", "ok", False)
    assert f["server_address"] == "127.0.0.1" and isinstance(f["server_port"], int)
    assert f["input_tokens"] == resp.usage.input_tokens > 0 and f["output_tokens"] == resp.usage.output_tokens > 0
    assert f["cost"] == resp.usage.cost and f["retries"] == 0 and f["failover_hop"] == 0
    assert f["duration_ms"] > 0 and f["ttft_ms"] is None and f["finish_reason"] == "stop"
    assert "gpt-test ok" in rec.getMessage()
    # DEBUG detail: the request, without its text (capture_content is off)
    [req] = [r for r in capture.records if getattr(r, "event", None) == "request"]
    assert req.levelno == logging.DEBUG and req.messages_count == 1 and "messages" not in req.__dict__


async def test_a_stream_records_time_to_first_token(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=0)
    async with p.stream("hi", model="gpt-test") as s:
        async for _ in s:
            pass
    [rec] = capture.outcomes()
    assert rec.status == "ok" and rec.stream is True
    assert 0 < rec.ttft_ms <= rec.duration_ms and rec.output_tokens > 0


async def test_one_record_for_an_error_with_its_class(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=0)
    with pytest.raises(E.ModelNotFoundError):
        await p.complete("hi", model="gpt-missing")
    [rec] = capture.outcomes()
    assert rec.status == "error" and rec.error_type == "ModelNotFoundError" and "input_tokens" not in rec.__dict__
    assert "gpt-missing" in rec.error


async def test_one_record_for_a_cancelled_call(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=0)
    task = asyncio.create_task(p.complete("hi", model="gpt-slow"))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [rec] = capture.outcomes()
    assert rec.status == "cancelled" and rec.error_type == "CancelledError"


async def test_a_stream_closed_early_is_one_cancelled_record(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=0)
    async with p.stream("hi", model="gpt-test") as s:
        async for _ in s:
            break
    [rec] = capture.outcomes()
    assert rec.status == "cancelled" and rec.stream is True


async def test_retries_are_counted_and_logged(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    p = provider(openai_fake, retries=RetryPolicy(retries=2, sleep=nosleep))
    await p.complete("hi", model="gpt-flaky-2-500")
    [rec] = capture.outcomes()
    assert rec.status == "ok" and rec.retries == 2
    retries = [r for r in capture.records if getattr(r, "event", None) == "retry"]
    assert [r.retry for r in retries] == [1, 2] and {r.error_type for r in retries} == {"ProviderUnavailableError"}


async def test_a_failover_hop_is_on_each_members_record(openai_fake: tuple[FakeOpenAI, str], capture: Capture) -> None:
    a = OpenAIProvider(name="primary", base_url=openai_fake[1], api_key=openai_server.VALID_KEY, default_model="gpt-broken", retries=0)
    b = OpenAIProvider(name="backup", base_url=openai_fake[1], api_key=openai_server.VALID_KEY, default_model="gpt-test", retries=0)
    reg = ProviderRegistry({"primary": a, "backup": b})
    reg.set_agent("coder", "primary", ["backup"])
    await reg.acomplete_for_agent("coder", "hi")
    recs = capture.outcomes()
    assert [(r.provider, r.status, r.failover_hop) for r in recs] == [("primary", "error", 0), ("backup", "ok", 1)]
    assert (recs[1].failover_from, recs[1].failover_reason) == ("primary", "ProviderUnavailableError")
    assert "failover_from" not in recs[0].__dict__


async def test_nothing_is_built_while_info_is_off(openai_fake: tuple[FakeOpenAI, str]) -> None:
    """The level is off (the default WARNING) and no hook is registered: no record is made and no
    ``Call`` is built — the retry policy's sleep, run mid-call, finds none in the context; with
    INFO on, the same call has one."""
    calls = logging.getLogger("llmswitch.calls")
    assert not calls.isEnabledFor(logging.INFO)
    seen: list[logging.LogRecord] = []
    during: list[object] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    async def sleep(_: float) -> None:
        during.append(_observe.current_call.get())

    spy = Spy(logging.DEBUG)
    calls.addHandler(spy)
    try:
        p = provider(openai_fake, retries=RetryPolicy(retries=1, sleep=sleep))
        await p.complete("hi", model="gpt-flaky-1-500")
        assert seen == [] and during == [None]
        calls.setLevel(logging.INFO)
        await p.complete("hi", model="gpt-flaky-1-503")
        assert len(seen) == 1 and during[1] is not None and during[1].retries == 1  # type: ignore[attr-defined]
    finally:
        calls.removeHandler(spy)
        calls.setLevel(logging.NOTSET)


# --- no secret in any record ---------------------------------------------------------------------


def _all_text(records: list[logging.LogRecord]) -> str:
    parts = []
    for r in records:
        parts.append(r.getMessage())
        parts.append(json.dumps({k: v for k, v in r.__dict__.items() if k not in ("args", "exc_info")}, default=repr))
        if r.exc_info:
            parts.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(parts)


@pytest.mark.parametrize("mode", ["echo-200", "echo-400", "echo-text-500", "echo-stream"])
async def test_a_key_echoed_by_a_server_is_in_no_record(hostile: ThreadedServer, capture: Capture, mode: str) -> None:
    _observe.capture_content.append(True)  # even with content capture on
    try:
        p = OpenAICompatibleProvider(
            base_url=hostile.url + "/v1", api_key=KEY, headers={"X-Custom-Auth": HEADER_SECRET}, retries=0
        )
        with pytest.raises(E.LLMSwitchError):
            async with p.stream("hi", model=mode) as s:
                async for _ in s:
                    pass
        with pytest.raises(E.LLMSwitchError):
            await p.complete(f"my key is {KEY}", model=mode)
        await p.aclose()
    finally:
        _observe.capture_content.clear()
    _, _, headers, _ = state(hostile).seen[-1]
    assert KEY in " ".join(headers.values()) and HEADER_SECRET in headers.values()  # it was echoed
    text = _all_text(capture.records)
    assert len(capture.outcomes()) == 2
    assert KEY not in text and HEADER_SECRET not in text


async def test_a_key_from_config_echoed_in_a_200_answer_is_in_no_record(capture: Capture) -> None:
    secret = "cfgkey-0123456789-abcdef"
    server = serve(EchoingOpenAI(secret))
    _observe.capture_content.append(True)
    try:
        reg = ProviderRegistry.from_config(
            {"echo": {"type": "openai-compatible", "base_url": server.url + "/v1", "api_key": secret, "retries": 0}},
            enable_log=False,
        )
        p = reg.get("echo")
        async with p.stream("hi", model="m") as s:
            final = await s.final()
        assert secret in final.text  # the server did echo it
        await p.aclose()
    finally:
        _observe.capture_content.clear()
        server.stop()
    text = _all_text(capture.records)
    assert capture.outcomes() and "Your key is" in text  # content captured, redacted
    assert secret not in text
