"""The gateway's Prometheus metrics (``GET /metrics``, text format, via ``prometheus-client``).

Why plain counters and a collector instead of ``Counter``/``Histogram`` objects: those take a
lock and walk their children on every update, five to seven times per request, which measured
as the largest cost the gateway itself adds to a call. Requests are served on one event loop, so
plain ints and dicts updated in place are safe; ``collect()`` turns them into metric families
only when Prometheus scrapes (on the same loop). One ``CollectorRegistry`` per gateway, not the
process-wide default, so two gateways in one process (tests, an embedding application) never
share or collide.

Label values are the route, the public model name, the caller's key name and the error class:
all bounded by the config, except the model name, recorded only once it resolved (an unknown
name is a 404 counted under ``model=""``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..types import Response

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}
_MAX_SERIES = 100_000
"""Label combinations kept per metric; past it new ones are counted under ``model="other"``."""



def _counter(name: str, doc: str, labels: list[str], counts: dict[Any, Any]) -> CounterMetricFamily:
    """One counter family from a {label values: count} table."""
    fam = CounterMetricFamily(name, doc, labels=labels)
    for values, n in counts.items():
        fam.add_metric(values, n)
    return fam

class _Histogram:
    __slots__ = ("counts", "total", "n")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value
        self.n += 1

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class Metrics:
    """Counters, histograms and gauges of one gateway."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.ttft_seconds: dict[str, _Histogram] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}
        self.cost: dict[tuple[str, str], float] = {}
        self.in_flight = 0
        self._providers: Iterable[tuple[str, Any]] = ()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a collector: it has collect()

    def ttft(self, route: str, seconds: float) -> None:
        """Record a stream's time to its first event."""
        h = self.ttft_seconds.get(route)
        if h is None:
            h = self.ttft_seconds[route] = _Histogram()
        h.observe(seconds)

    def done(self, route: str, model: str, caller: str, status: int, seconds: float, error: BaseException | None,
             response: Response | None) -> None:
        """Record one finished request."""
        if len(self.requests) >= _MAX_SERIES:
            model = "other"
        key = (route, model, caller, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.latency.get(route)
        if h is None:
            h = self.latency[route] = _Histogram()
        h.observe(seconds)
        if error is not None:
            ekey = (route, type(error).__name__)
            self.errors[ekey] = self.errors.get(ekey, 0) + 1
        if response is not None:
            u = response.usage
            if u.known:
                tin, tout = ("input", model, caller), ("output", model, caller)
                self.tokens[tin] = self.tokens.get(tin, 0) + u.input_tokens
                self.tokens[tout] = self.tokens.get(tout, 0) + u.output_tokens
            if u.cost:
                ckey = (model, caller)
                self.cost[ckey] = self.cost.get(ckey, 0.0) + u.cost

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the counts now (prometheus-client's collector protocol)."""
        yield _counter("llmswitch_gateway_requests", "Requests answered, by route, model, caller and status.",
                       ["route", "model", "caller", "status"], self.requests)
        yield _counter("llmswitch_gateway_errors", "Failed requests by error class.", ["route", "error_class"],
                       self.errors)
        for name, doc, table in (
            ("llmswitch_gateway_request_seconds", "Time from request to last byte.", self.latency),
            ("llmswitch_gateway_time_to_first_token_seconds", "Time from request to the first streamed event.",
             self.ttft_seconds),
        ):
            hist = HistogramMetricFamily(name, doc, labels=["route"])
            for route, h in table.items():
                hist.add_metric([route], h.buckets(), h.total)
            yield hist
        yield _counter("llmswitch_gateway_tokens", "Tokens, by direction (input/output), model and caller.",
                       ["direction", "model", "caller"], self.tokens)
        yield _counter("llmswitch_gateway_cost_usd", "Priced cost in USD, by model and caller.", ["model", "caller"],
                       self.cost)
        yield GaugeMetricFamily("llmswitch_gateway_in_flight", "Requests being served now.", value=self.in_flight)
        gauge = GaugeMetricFamily("llmswitch_gateway_breaker_state",
                                  "Circuit breaker state per provider (0 closed, 1 half-open, 2 open).", labels=["provider"])
        for name, provider in self._providers:
            breaker = getattr(provider, "breaker", None)
            if breaker is not None:
                gauge.add_metric([name], _STATE_VALUE.get(str(breaker.state), 0))
        yield gauge

    def render(self, providers: Iterable[tuple[str, Any]]) -> bytes:
        """The text exposition, with breaker states read now (they change without requests)."""
        self._providers = providers
        try:
            return generate_latest(self.registry)
        finally:
            self._providers = ()
