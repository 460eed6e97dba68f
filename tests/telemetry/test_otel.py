"""OpenTelemetry spans and metrics by the GenAI semantic conventions, read back through the SDK's
in-memory span exporter and metric reader, against the OpenAI fake (real HTTP; nothing of
llmswitch patched)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from llmswitch import errors as E  # noqa: E402
from llmswitch import hooks, telemetry  # noqa: E402
from llmswitch.providers.openai import OpenAIProvider  # noqa: E402
from llmswitch.registry import ProviderRegistry  # noqa: E402
from llmswitch.routing import RetryPolicy  # noqa: E402
from tests.fakes import openai_server  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tp, self.mp = tp, MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        out.extend(m.data.data_points)
        return out


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    telemetry.enable(tracer_provider=o.tp, meter_provider=o.mp)
    try:
        yield o
    finally:
        telemetry.disable()
        telemetry.set_capture_content(False)
    assert not telemetry.enabled() and not hooks.global_hooks.own()


async def nosleep(_: float) -> None:
    return None


def _p(fake: tuple[FakeOpenAI, str], **kw: Any) -> OpenAIProvider:
    kw.setdefault("retries", 0)
    return OpenAIProvider(base_url=fake[1], api_key=openai_server.VALID_KEY, **kw)


async def test_a_streamed_call_is_one_client_span_with_the_conventions_attributes(
    openai_fake: tuple[FakeOpenAI, str], otel: Otel
) -> None:
    p = _p(openai_fake)
    async with p.stream("hi", model="gpt-test", max_tokens=50, temperature=0.5, stop=["END"]) as s:
        final = await s.final()
    [span] = otel.finished()
    a = dict(span.attributes or {})
    assert span.name == "chat gpt-test" and span.kind == SpanKind.CLIENT and span.status.status_code == StatusCode.UNSET
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-test" and a["gen_ai.request.stream"] is True
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == int(openai_fake[1].split(":")[2].split("/")[0])
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.temperature"] == 0.5
    assert list(a["gen_ai.request.stop_sequences"]) == ["END"]
    assert a["gen_ai.response.model"] == final.model and a["gen_ai.response.id"] == final.id
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.usage.input_tokens"] == final.usage.input_tokens and a["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert "llmswitch.cost_usd" not in a and final.usage.cost is None and a["llmswitch.retries"] == 0  # unpriced model
    assert 0 < a["gen_ai.response.time_to_first_chunk"] < 5
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a  # content is opt-in
    [d] = otel.points("gen_ai.client.operation.duration")
    assert d.count == 1 and d.attributes["gen_ai.request.model"] == "gpt-test" and "error.type" not in d.attributes
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")}
    assert tokens == {"input": final.usage.input_tokens, "output": final.usage.output_tokens}
    [t] = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert t.count == 1 and t.sum == pytest.approx(a["gen_ai.response.time_to_first_chunk"])


async def test_the_cost_is_an_llmswitch_attribute(fake_server: Any, otel: Otel) -> None:
    pytest.importorskip("genai_prices")
    fake = await fake_server(models=["gpt-4o"])
    resp = await OpenAIProvider(base_url=fake.base_url, api_key="sk-any-0123456789", retries=0).complete("hi", model="gpt-4o")
    [span] = otel.finished()
    assert resp.usage.cost and span.attributes["llmswitch.cost_usd"] == resp.usage.cost


async def test_a_failing_call_has_error_type_and_error_status(openai_fake: tuple[FakeOpenAI, str], otel: Otel) -> None:
    with pytest.raises(E.ModelNotFoundError):
        await _p(openai_fake).complete("hi", model="gpt-missing")
    [span] = otel.finished()
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "ModelNotFoundError"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    [d] = otel.points("gen_ai.client.operation.duration")
    assert d.attributes["error.type"] == "ModelNotFoundError"
    assert otel.points("gen_ai.client.token.usage") == [] and otel.points("gen_ai.client.operation.time_to_first_chunk") == []


async def test_a_retried_call_is_one_span_with_a_retry_event_per_retry(
    openai_fake: tuple[FakeOpenAI, str], otel: Otel
) -> None:
    p = _p(openai_fake, retries=RetryPolicy(retries=3, sleep=nosleep, jitter=lambda: 0.0))
    resp = await p.complete("hi", model="gpt-flaky-2-429")
    [span] = otel.finished()
    assert span.status.status_code == StatusCode.UNSET and span.attributes["llmswitch.retries"] == 2
    events = [(e.name, e.attributes["error.type"], e.attributes["llmswitch.retry.attempt"]) for e in span.events]
    assert events == [("llmswitch.retry", "RateLimitError", 1), ("llmswitch.retry", "RateLimitError", 2)]
    assert span.attributes["gen_ai.usage.output_tokens"] == resp.usage.output_tokens
    assert [d.count for d in otel.points("gen_ai.client.operation.duration")] == [1]


async def test_a_failover_is_a_span_per_member_with_its_hop(openai_fake: tuple[FakeOpenAI, str], otel: Otel) -> None:
    a = OpenAIProvider(name="primary", base_url=openai_fake[1], api_key=openai_server.VALID_KEY, default_model="gpt-broken", retries=0)
    b = OpenAIProvider(name="backup", base_url=openai_fake[1], api_key=openai_server.VALID_KEY, default_model="gpt-test", retries=0)
    reg = ProviderRegistry({"primary": a, "backup": b})
    reg.set_agent("coder", "primary", ["backup"])
    async with reg.stream_for_agent("coder", "hi") as s:
        await s.final()
    spans = otel.finished()
    assert [(s.attributes["llmswitch.provider"], s.attributes.get("llmswitch.failover.hop", 0), s.status.status_code) for s in spans] == [
        ("primary", 0, StatusCode.ERROR), ("backup", 1, StatusCode.UNSET)
    ]
    assert spans[0].attributes["error.type"] == "ProviderUnavailableError" and spans[0].events == ()
    [event] = spans[1].events
    assert event.name == "llmswitch.failover"
    assert dict(event.attributes) == {"llmswitch.failover.from": "primary", "error.type": "ProviderUnavailableError"}
    by_error = sorted(str(d.attributes.get("error.type")) for d in otel.points("gen_ai.client.operation.duration"))
    assert by_error == ["None", "ProviderUnavailableError"]


async def test_content_only_when_opted_in(openai_fake: tuple[FakeOpenAI, str], otel: Otel) -> None:
    telemetry.set_capture_content(True)
    resp = await _p(openai_fake).complete([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], model="gpt-test")
    [span] = otel.finished()
    sent = json.loads(span.attributes["gen_ai.input.messages"])
    assert sent == [{"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    out = json.loads(span.attributes["gen_ai.output.messages"])
    assert out == [{"role": "assistant", "parts": [{"type": "text", "content": resp.text}], "finish_reason": "stop"}]


def test_enable_from_config_and_import_cost() -> None:
    """``telemetry: {otel: true}`` turns it on through the registry; ``import llmswitch`` loads
    neither telemetry nor OpenTelemetry."""
    from tests.test_hooks import run

    out = run(
        """
        import sys, llmswitch
        print(sorted(m for m in sys.modules if m.startswith(("llmswitch.telemetry", "opentelemetry"))))
        from llmswitch.registry import ProviderRegistry
        reg = ProviderRegistry.from_config({"providers": {"o": {"type": "openai", "api_key": "sk-x-0123456789"}},
                                            "telemetry": {"otel": True, "capture_content": False}}, enable_log=False)
        from llmswitch import telemetry
        print(telemetry.enabled())
        """
    )
    assert out.splitlines() == ["[]", "True"]


async def test_a_key_echoed_by_the_server_is_in_no_span(otel: Otel, hostile: Any) -> None:
    """Content capture on, a server that echoes the key in the answer's id, model and text, and
    one that echoes the key and a secret header in an error: no span attribute, event or status
    carries either."""
    from tests.fakes.hostile_server import EchoingOpenAI, serve
    from tests.fixtures.servers import HEADER_SECRET, KEY

    telemetry.set_capture_content(True)
    secret = "otelkey-0123456789-abcdef"
    server = serve(EchoingOpenAI(secret))
    try:
        p = OpenAIProvider(base_url=server.url + "/v1", api_key=secret, retries=0)
        async with p.stream("hi", model="m") as s:
            final = await s.final()
        assert secret in final.text  # the server did echo it
        await p.aclose()
    finally:
        server.stop()
    h = OpenAIProvider(base_url=hostile.url + "/v1", api_key=KEY, headers={"X-Custom-Auth": HEADER_SECRET}, retries=0)
    with pytest.raises(E.LLMSwitchError):
        await h.complete("hi", model="echo-400")
    await h.aclose()
    spans = otel.finished()
    assert len(spans) == 2 and "Your key is" in spans[0].attributes["gen_ai.output.messages"]
    dumped = json.dumps(
        [{"a": dict(s.attributes or {}), "e": [dict(e.attributes or {}) for e in s.events], "s": s.status.description, "n": s.name}
         for s in spans],
        default=str,
    )
    for leaked in (secret, KEY, HEADER_SECRET):
        assert leaked not in dumped
