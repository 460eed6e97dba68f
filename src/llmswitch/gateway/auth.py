"""Callers' keys: who is calling, what it may ask for, and how many of its calls may run at once.

Keys are stored as sha256 digests (``gateway.keys[].key_sha256``), so a config file or a memory
dump never holds a usable key. A presented key is hashed once and compared with *every* stored
digest by ``hmac.compare_digest`` without stopping at a match, so neither the comparison nor the
position of the matching key shows in the time taken. The key itself is never stored, logged or
put in an error.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..config import GatewayKeyConfig
from .errors import GatewayError

__all__ = ["Caller", "KeyRing", "hash_key", "ANONYMOUS"]


def hash_key(key: str) -> str:
    """The digest a key is stored as: ``sha256`` of its UTF-8 bytes, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True, eq=False)
class Caller:
    """One configured key (or the anonymous caller of a keyless, loopback-only gateway)."""

    name: str
    models: tuple[str, ...] = ("*",)
    max_concurrency: int | None = None
    budget: Mapping[str, object] | None = None
    rate_limit: Mapping[str, object] | None = None
    in_flight: int = field(default=0)

    def may_use(self, model: str) -> bool:
        """Whether this caller may ask for ``model`` (exact name or an ``fnmatch`` pattern)."""
        if "*" in self.models or model in self.models:
            return True
        return any(fnmatch.fnmatchcase(model, p) for p in self.models)

    def enter(self) -> None:
        """Take one of its concurrency slots; a caller already at its limit gets a 429 at once
        (queueing would hold a connection and memory for a caller that is already at its share)."""
        if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
            raise GatewayError(429, f"too many concurrent requests for this key (limit {self.max_concurrency})",
                               kind="rate_limit", retry_after=1.0)
        self.in_flight += 1

    def leave(self) -> None:
        """Give the slot back."""
        self.in_flight -= 1


ANONYMOUS = "anonymous"


class KeyRing:
    """The configured callers, looked up by a presented key in constant time."""

    def __init__(self, keys: Sequence[GatewayKeyConfig]) -> None:
        self._entries: list[tuple[bytes, Caller]] = [
            (bytes.fromhex(k.key_sha256), Caller(k.name, tuple(k.models), k.max_concurrency, k.budget, k.rate_limit))
            for k in keys
        ]
        self._anonymous = Caller(ANONYMOUS) if not self._entries else None

    @property
    def open(self) -> bool:
        """No key configured: every caller is accepted (the server then binds loopback only)."""
        return self._anonymous is not None

    @staticmethod
    def presented(headers: Mapping[str, str]) -> str | None:
        """The key a request carries: ``Authorization: Bearer KEY`` (OpenAI SDK) or ``x-api-key`` (Anthropic SDK)."""
        auth = headers.get("Authorization")
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        key = headers.get("x-api-key")
        return key.strip() if key and key.strip() else None

    def caller(self, headers: Mapping[str, str]) -> Caller:
        """The caller a request's key belongs to; 401 when the key is missing or unknown."""
        if self._anonymous is not None:
            return self._anonymous
        key = self.presented(headers)
        if key is None:
            raise GatewayError(401, "no API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'",
                               kind="authentication")
        digest = hashlib.sha256(key.encode()).digest()
        found: Caller | None = None
        for stored, caller in self._entries:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, stored):
                found = caller
        if found is None:
            raise GatewayError(401, "invalid API key", kind="authentication")
        return found
