"""Resilience primitives: the retry policy and the ``CircuitBreaker`` (``retry``, ``breaker``),
the failover loop over a chain of providers (``failover``), budgets and client-side rate limits
(``budget``, ``ratelimit``) and the admission step that applies those two before a call is sent
(``admission``).

Placed *below* ``providers/`` in the layer table (tests/test_layers.py), not above it as DESIGN.md
first drew it: every call goes through ``BaseProvider.complete()``/``stream()``, so that is where
retries and the breaker are applied, and providers/ may only import downwards. Nothing here
imports a provider; the failover loop takes any object with ``complete``/``stream``.
"""

from __future__ import annotations

from .breaker import BreakerStats, CircuitBreaker, CircuitState, default_counts
from .budget import Budget, BudgetStatus, add_soft_limit_listener, remove_soft_limit_listener
from .ratelimit import RateLimit
from .retry import DEFAULT_RETRIES, RetryPolicy, is_retryable

__all__ = [
    "BreakerStats",
    "Budget",
    "BudgetStatus",
    "CircuitBreaker",
    "CircuitState",
    "DEFAULT_RETRIES",
    "RateLimit",
    "RetryPolicy",
    "add_soft_limit_listener",
    "default_counts",
    "is_retryable",
    "remove_soft_limit_listener",
]
