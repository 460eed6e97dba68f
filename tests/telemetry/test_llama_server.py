"""The real llama-server: a streamed call gives one INFO record and one span with the same facts
(tokens as llama.cpp counts them, a time to first chunk, cost 0 for a local server)."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("opentelemetry.sdk")

from llmswitch import telemetry  # noqa: E402
from llmswitch.providers.llamacpp import LlamaCppProvider  # noqa: E402
from tests.telemetry.test_logging import Capture  # noqa: E402
from tests.telemetry.test_otel import Otel  # noqa: E402

pytestmark = pytest.mark.integration


async def test_a_real_stream_has_one_record_and_one_span_that_agree(runtime_env) -> None:
    o = Otel()
    telemetry.enable(tracer_provider=o.tp, meter_provider=o.mp)
    calls = logging.getLogger("llmswitch.calls")
    h = Capture()
    calls.addHandler(h)
    calls.setLevel(logging.INFO)
    p = LlamaCppProvider(base_url=runtime_env.url)
    try:
        async with p.stream("Count: one, two, three,", max_tokens=8) as s:
            final = await s.final()
    finally:
        await p.aclose()
        calls.removeHandler(h)
        calls.setLevel(logging.NOTSET)
        telemetry.disable()
    [rec] = h.outcomes()
    [span] = o.finished()
    a = span.attributes
    assert rec.status == "ok" and rec.provider_type == "llamacpp" and rec.cost == 0.0 == a["llmswitch.cost_usd"]
    assert rec.output_tokens == final.usage.output_tokens == a["gen_ai.usage.output_tokens"] > 0
    assert rec.input_tokens == a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.provider.name"] == "llamacpp" and a["server.address"] == "127.0.0.1"
    assert 0 < rec.ttft_ms / 1000 == pytest.approx(a["gen_ai.response.time_to_first_chunk"], abs=1e-5)
