"""Resilience primitives: the retry policy and the ``CircuitBreaker`` (``retry``, ``breaker``), and
the failover loop over a chain of providers (``failover``).

Placed *below* ``providers/`` in the layer table (tests/test_layers.py), not above it as DESIGN.md
first drew it: every call goes through ``BaseProvider.complete()``/``stream()``, so that is where
retries and the breaker are applied, and providers/ may only import downwards. Nothing here
imports a provider; the failover loop takes any object with ``complete``/``stream``.
"""

from __future__ import annotations

from .breaker import BreakerStats, CircuitBreaker, CircuitState, default_counts
from .retry import DEFAULT_RETRIES, RetryPolicy, is_retryable

__all__ = [
    "BreakerStats",
    "CircuitBreaker",
    "CircuitState",
    "DEFAULT_RETRIES",
    "RetryPolicy",
    "default_counts",
    "is_retryable",
]
