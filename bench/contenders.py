"""One adapter per contender, each doing the same one-message Chat Completions call.

Every adapter offers ``open(base_url)`` (build and keep one reused client), ``call()`` (one
non-streamed completion, returning its text), ``stream(model, on_first)`` (one streamed
completion, returning the number of non-empty text chunks and the ``perf_counter`` time of the
first one) and ``close()``. The bare clients do the minimum a caller must do to get the text:
send the JSON, parse the JSON, pick the content; split SSE lines and parse each ``data:``.

Nothing heavy is imported at module level: the worker times ``open`` from a cold process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

MESSAGES = [{"role": "user", "content": "hi"}]
API_KEY = "sk-bench"
_CT = {"Content-Type": "application/json"}
_perf = time.perf_counter


def _body(model: str, stream: bool) -> str:
    b: dict[str, Any] = {"model": model, "messages": MESSAGES}
    if stream:
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return json.dumps(b, separators=(",", ":"))


class Contender:
    name = ""
    import_stmt = ""
    """What a user writes to import the library (timed in a fresh process)."""
    label = ""

    async def open(self, base: str) -> None: ...

    async def call(self) -> str: ...

    async def stream(self, model: str, on_first: Callable[[], None] | None = None) -> tuple[int, float | None]: ...

    async def close(self) -> None: ...


class Aiohttp(Contender):
    name = "aiohttp"
    import_stmt = "import aiohttp"
    label = "bare reused aiohttp.ClientSession (the floor)"

    async def open(self, base: str) -> None:
        import aiohttp

        self.url = base + "/chat/completions"
        self.s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

    async def call(self) -> str:
        async with self.s.post(self.url, data=_body("fake", False), headers=_CT) as r:
            d = json.loads(await r.read())
        return d["choices"][0]["message"]["content"]

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        loads = json.loads
        async with self.s.post(self.url, data=_body(model, True), headers=_CT) as r:
            async for line in r.content:
                if line[:6] != b"data: ":
                    continue
                payload = line[6:].rstrip()
                if payload == b"[DONE]":
                    continue
                for ch in loads(payload)["choices"]:
                    if ch["delta"].get("content"):
                        if first is None:
                            first = _perf()
                            if on_first:
                                on_first()
                        n += 1
        return n, first

    async def close(self) -> None:
        await self.s.close()


class Httpx(Contender):
    name = "httpx"
    import_stmt = "import httpx"
    label = "bare reused httpx.AsyncClient (what every peer builds on)"

    async def open(self, base: str) -> None:
        import httpx

        self.url = base + "/chat/completions"
        self.c = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=1024), timeout=120
        )

    async def call(self) -> str:
        r = await self.c.post(self.url, content=_body("fake", False), headers=_CT)
        return json.loads(r.content)["choices"][0]["message"]["content"]

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        loads = json.loads
        async with self.c.stream("POST", self.url, content=_body(model, True), headers=_CT) as r:
            async for line in r.aiter_lines():
                if line[:6] != "data: ":
                    continue
                payload = line[6:]
                if payload == "[DONE]":
                    continue
                for ch in loads(payload)["choices"]:
                    if ch["delta"].get("content"):
                        if first is None:
                            first = _perf()
                            if on_first:
                                on_first()
                        n += 1
        return n, first

    async def close(self) -> None:
        await self.c.aclose()


class OpenAISDK(Contender):
    name = "openai"
    import_stmt = "import openai"
    label = "openai SDK (AsyncOpenAI)"

    async def open(self, base: str) -> None:
        from openai import AsyncOpenAI

        self.c = AsyncOpenAI(base_url=base, api_key=API_KEY, max_retries=0)

    async def call(self) -> str:
        r = await self.c.chat.completions.create(model="fake", messages=MESSAGES)  # type: ignore[arg-type]
        return r.choices[0].message.content or ""

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        s = await self.c.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}  # type: ignore[arg-type]
        )
        async for chunk in s:
            for ch in chunk.choices:
                if ch.delta.content:
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        await self.c.close()


class LiteLLM(Contender):
    name = "litellm"
    import_stmt = "import litellm"
    label = "LiteLLM (litellm.acompletion, openai/ provider)"

    async def open(self, base: str) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        self.litellm = litellm
        self.base = base

    async def call(self) -> str:
        r = await self.litellm.acompletion(model="openai/fake", api_base=self.base, api_key=API_KEY, messages=MESSAGES)
        return r.choices[0].message.content or ""

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        s = await self.litellm.acompletion(
            model="openai/" + model, api_base=self.base, api_key=API_KEY, messages=MESSAGES,
            stream=True, stream_options={"include_usage": True},
        )
        async for chunk in s:
            for ch in chunk.choices:
                if ch.delta.content:
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        closer = getattr(self.litellm, "close_litellm_async_clients", None)
        if closer is not None:
            await closer()


class AnyLLM(Contender):
    name = "any-llm"
    import_stmt = "import any_llm"
    label = "any-llm (AnyLLM.create('openai').acompletion)"

    async def open(self, base: str) -> None:
        from any_llm import AnyLLM as _AnyLLM

        self.llm = _AnyLLM.create("openai", api_key=API_KEY, api_base=base)

    async def call(self) -> str:
        r = await self.llm.acompletion(model="fake", messages=MESSAGES)
        return r.choices[0].message.content or ""  # type: ignore[union-attr]

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        s = await self.llm.acompletion(model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        async for chunk in s:  # type: ignore[union-attr]
            for ch in chunk.choices:
                if ch.delta.content:
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        client = getattr(self.llm, "client", None)
        if client is not None and hasattr(client, "close"):
            await client.close()


class PydanticAI(Contender):
    name = "pydantic-ai"
    import_stmt = "import pydantic_ai"
    label = "pydantic-ai (direct.model_request, OpenAIChatModel)"

    async def open(self, base: str) -> None:
        from pydantic_ai.direct import model_request, model_request_stream
        from pydantic_ai.messages import ModelRequest, PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        self.provider = OpenAIProvider(base_url=base, api_key=API_KEY)
        self._Model = OpenAIChatModel
        self.models: dict[str, Any] = {}
        self.model = self._model("fake")
        self.msgs = [ModelRequest.user_text_prompt("hi")]
        self.req, self.req_stream = model_request, model_request_stream
        self.PartStartEvent, self.PartDeltaEvent, self.TextPart, self.TextPartDelta = (
            PartStartEvent, PartDeltaEvent, TextPart, TextPartDelta,
        )

    def _model(self, name: str) -> Any:
        m = self.models.get(name)
        if m is None:
            m = self.models[name] = self._Model(name, provider=self.provider)
        return m

    async def call(self) -> str:
        r = await self.req(self.model, self.msgs)
        return r.parts[0].content  # type: ignore[union-attr]

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        PS, PD, TP, TD = self.PartStartEvent, self.PartDeltaEvent, self.TextPart, self.TextPartDelta
        async with self.req_stream(self._model(model), self.msgs) as s:
            async for ev in s:
                t = type(ev)
                if (t is PS and type(ev.part) is TP and ev.part.content) or (
                    t is PD and type(ev.delta) is TD and ev.delta.content_delta
                ):
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        client = getattr(self.provider, "client", None)
        if client is not None:
            await client.close()


class LLMSwitch(Contender):
    name = "llmswitch"
    import_stmt = "import llmswitch"
    label = "llmswitch OpenAICompatibleProvider(base_url=...)"

    async def open(self, base: str) -> None:
        from llmswitch.providers.openai_compat import OpenAICompatibleProvider
        from llmswitch.types import TextDelta

        self.p = OpenAICompatibleProvider(base_url=base, default_model="fake")
        self.TextDelta = TextDelta

    async def call(self) -> str:
        return (await self.p.complete("hi")).text

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        TD = self.TextDelta
        async with self.p.stream("hi", model=model) as s:
            async for ev in s:
                if type(ev) is TD:
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        await self.p.aclose()


class LLMSwitchBare(LLMSwitch):
    """The call path without resilience (``retries=0``, no breaker): the baseline the resilience
    budget (DESIGN.md: at most 1.05x on the happy path) is measured against."""

    name = "llmswitch-bare"
    label = "llmswitch OpenAICompatibleProvider(retries=0)"
    settings: dict = {"retries": 0}

    async def open(self, base: str) -> None:
        from llmswitch.providers.openai_compat import OpenAICompatibleProvider
        from llmswitch.types import TextDelta

        self.p = OpenAICompatibleProvider(base_url=base, default_model="fake", **self.settings)
        self.TextDelta = TextDelta


class LLMSwitchResilient(LLMSwitchBare):
    """Retries (the default 2) and a CircuitBreaker configured, nothing failing."""

    name = "llmswitch-resilient"
    label = "llmswitch OpenAICompatibleProvider(retries=2, breaker={...})"
    settings = {"retries": 2, "breaker": {"failure_threshold": 5, "recovery_timeout": 30}}


class LLMSwitchGuarded(LLMSwitchBare):
    """Retries, a CircuitBreaker and a budget configured, nothing failing: the resilience row of
    DESIGN.md (≤ 1.05×), measured paired against ``llmswitch-bare`` (README "Budgets"). The fake's
    model has no price, so the dollar budget takes its unpriced path (the estimate's price is
    cached per model either way). Each further budget adds two counter operations per call
    (``llmswitch-guarded2``)."""

    name = "llmswitch-guarded"
    label = "llmswitch OpenAICompatibleProvider(retries=2, breaker={...}, budget={usd, per: month})"
    settings = {
        "retries": 2,
        "breaker": {"failure_threshold": 5, "recovery_timeout": 30},
        "budget": {"usd": 1e6, "per": "month"},
    }

    async def open(self, base: str) -> None:
        import logging

        logging.getLogger("llmswitch.budget").setLevel(logging.ERROR)  # "no known price", once: not news here
        await super().open(base)


class LLMSwitchGuarded2(LLMSwitchGuarded):
    """As ``llmswitch-guarded``, with a second budget (tokens per day) and a rate limit."""

    name = "llmswitch-guarded2"
    label = "llmswitch OpenAICompatibleProvider(retries=2, breaker={...}, budget=[usd/month, tokens/day], rate_limit)"
    settings = {
        **LLMSwitchGuarded.settings,
        "budget": [{"usd": 1e6, "per": "month"}, {"tokens": 10**15, "per": "day"}],
        "rate_limit": {"rpm": 10**9, "tpm": 10**15},
    }

    async def open(self, base: str) -> None:
        import logging

        logging.getLogger("llmswitch.budget").setLevel(logging.ERROR)  # "no known price" once: not news here
        await super().open(base)


class LLMSwitchLogged(LLMSwitch):
    """Telemetry on, logging half: ``llmswitch.calls`` at INFO into a handler that drops the
    records (each call builds its record and ``extra``; no I/O), no OpenTelemetry."""

    name = "llmswitch-log"
    label = "llmswitch OpenAICompatibleProvider, llmswitch.calls INFO records on (dropped)"

    async def open(self, base: str) -> None:
        import logging

        self._logger = logging.getLogger("llmswitch.calls")
        self._handler = logging.NullHandler()
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)
        await super().open(base)

    async def close(self) -> None:
        import logging

        self._logger.removeHandler(self._handler)
        self._logger.setLevel(logging.NOTSET)
        await super().close()


class LLMSwitchOtel(LLMSwitch):
    """Telemetry on, OpenTelemetry half: the SDK's TracerProvider (a BatchSpanProcessor into an
    exporter that drops the spans, as a collector-bound setup minus the network) and
    MeterProvider (an in-memory reader: every measurement aggregated), ``telemetry.enable()``."""

    name = "llmswitch-otel"
    probe = "opentelemetry.sdk"
    """What the bench venv must import for this contender (installed from PIP_REQUIREMENTS)."""
    label = "llmswitch OpenAICompatibleProvider, telemetry.enable() (OpenTelemetry SDK spans + metrics)"

    async def open(self, base: str) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        from llmswitch import telemetry

        class Drop(SpanExporter):
            def export(self, spans):  # noqa: ANN001, ANN201 - the SDK's signature
                return SpanExportResult.SUCCESS

        self.tp = TracerProvider()
        self.tp.add_span_processor(BatchSpanProcessor(Drop()))
        self.mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
        telemetry.enable(tracer_provider=self.tp, meter_provider=self.mp)
        await super().open(base)

    async def close(self) -> None:
        from llmswitch import telemetry

        telemetry.disable()
        self.tp.shutdown()
        self.mp.shutdown()
        await super().close()


class LLMSwitchAPI(LLMSwitch):
    name = "llmswitch-api"
    import_stmt = "import llmswitch"
    label = "llmswitch module API (acomplete/astream 'openai_compatible:MODEL')"

    async def open(self, base: str) -> None:
        os.environ["OPENAI_COMPATIBLE_BASE_URL"] = base
        import llmswitch
        from llmswitch.types import TextDelta

        self.ls = llmswitch
        self.TextDelta = TextDelta

    async def call(self) -> str:
        return (await self.ls.acomplete("openai_compatible:fake", "hi")).text

    async def stream(self, model, on_first=None):
        n = 0
        first = None
        TD = self.TextDelta
        async with self.ls.astream("openai_compatible:" + model, "hi") as s:
            async for ev in s:
                if type(ev) is TD:
                    if first is None:
                        first = _perf()
                        if on_first:
                            on_first()
                    n += 1
        return n, first

    async def close(self) -> None:
        from llmswitch.api import aclose_cached_providers

        await aclose_cached_providers()


ALL: dict[str, type[Contender]] = {
    c.name: c
    for c in (Aiohttp, Httpx, OpenAISDK, LiteLLM, AnyLLM, PydanticAI, LLMSwitch, LLMSwitchAPI, LLMSwitchBare, LLMSwitchResilient,
              LLMSwitchGuarded, LLMSwitchGuarded2, LLMSwitchLogged, LLMSwitchOtel)
}
PIP_REQUIREMENTS: dict[str, list[str]] = {
    "aiohttp": ["aiohttp"],
    "httpx": ["httpx"],
    "openai": ["openai"],
    "litellm": ["litellm"],
    "any-llm": ["any-llm-sdk[openai]"],
    "pydantic-ai": ["pydantic-ai-slim[openai]"],
    "llmswitch-otel": ["opentelemetry-sdk"],
}
