"""Read limits: how much of a server's answer llmswitch will hold before it gives up.

A broken or hostile server can send an endless body or an endless line; without a bound, the
process grows until the kernel kills it. Each limit is generous for real traffic, settable per
provider (constructor keyword or the provider's entry in ``llmswitch.yaml``), and exceeding one
raises ``ResponseTooLargeError`` naming the limit and its setting. This module sits at the bottom
of the house (no imports from llmswitch) so ``wire/`` and ``transport`` share one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Limits", "DEFAULT_LIMITS", "MiB", "check_seconds"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what a server may send, so a broken or hostile server cannot grow memory without bound."""

    max_body_bytes: int = 64 * MiB
    """A whole non-streamed answer (a JSON completion, a model list)."""
    max_error_body_bytes: int = 1 * MiB
    """The body of an HTTP error: read up to this much, the rest is dropped (the error is still raised)."""
    max_line_bytes: int = 16 * MiB
    """One SSE or NDJSON line of a stream."""
    max_event_bytes: int = 16 * MiB
    """One SSE event (its ``data:`` lines joined)."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Limits:
        """Limits from a provider's keyword options (those not given keep their defaults)."""
        given = {f.name: options[f.name] for f in fields(cls) if options.get(f.name) is not None}
        for name, value in given.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive number of bytes, got {value!r}")
        return cls(**given) if given else DEFAULT_LIMITS


DEFAULT_LIMITS = Limits()


def check_seconds(name: str, value: object) -> None:
    """A timeout is a positive, finite number of seconds (not a bool, not a string); say so early."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
