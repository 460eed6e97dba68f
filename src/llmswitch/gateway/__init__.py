"""``llmswitch serve``: an OpenAI- and Anthropic-compatible HTTP gateway over the registry.

Callers use the official SDKs (or curl) against it; every request goes through the same path as
``llmswitch.acomplete`` (resolver, retries, breaker, failover, usage log), so any ingress format
reaches any backend. Needs the ``gateway`` extra (``prometheus-client``). README "Gateway".
"""

from __future__ import annotations

from .app import Gateway
from .auth import hash_key
from .server import check_bind, is_loopback, run, serve

__all__ = ["Gateway", "hash_key", "check_bind", "is_loopback", "run", "serve"]
