"""Every recorded interaction the conformance suite does NOT replay, and why. One place.

Interactions are selected by endpoint: llmswitch serves Chat Completions
(``.../chat/completions``) and Anthropic Messages (``/v1/messages``); everything else in a
cassette is listed here with its reason, so nothing is dropped silently. An agent-loop
cassette that mixes endpoints still replays its chat interactions, in order.

``SKIPPED_INTERACTIONS`` holds individual chat interactions that are not replayed; it must stay
short (the bar is 90 % of chat + messages interactions replayed green) and every entry says
what would have to change for it to be replayed.
"""

from __future__ import annotations

import re

# (method, path regex, reason) — first match wins.
SKIPPED_ENDPOINTS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/responses$"), "OpenAI Responses API (/v1/responses): llmswitch speaks Chat Completions"),
    ("POST", re.compile(r"^/v1/messages/count_tokens$"), "Anthropic count_tokens: llmswitch has no token-counting call"),
    ("POST", re.compile(r"^/v1beta/models/[^/]+:generateContent$"), "Google Gemini native API (another provider in the same agent run)"),
    ("GET", re.compile(r".*"), "document download by the recording client (not an LLM API call)"),
]

# (cassette "provider/stem", interaction index) -> reason
SKIPPED_INTERACTIONS: dict[tuple[str, int], str] = {}


def skip_reason(cassette: str, index: int, method: str, path: str, provider: str) -> str | None:
    reason = SKIPPED_INTERACTIONS.get((cassette, index))
    if reason:
        return reason
    if path.endswith("/chat/completions") or path == "/v1/messages":
        return None
    for m, pattern, why in SKIPPED_ENDPOINTS:
        if m == method and pattern.search(path):
            return why
    return f"endpoint {method} {path} is not served by llmswitch"
