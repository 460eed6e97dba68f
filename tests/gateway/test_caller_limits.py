"""Per-caller budgets and rate limits (``gateway.keys[].budget`` / ``rate_limit``), through the
official SDKs: a caller over its budget or rate gets a 429 with ``Retry-After`` in its own format
and nothing reaches the backend; another caller is not affected."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.gateway.conftest import ALICE, BOB, Backends, gateway_config, hash_key, start_gateway


def limited(b: Backends, **alice: Any) -> Any:
    return gateway_config(b, keys=[
        {"name": "alice", "key_sha256": hash_key(ALICE), **alice},
        {"name": "bob", "key_sha256": hash_key(BOB)},
    ])


def sent(b: Backends) -> int:
    return len(b.openai.requests)


def test_a_callers_budget_refuses_before_anything_is_sent(backends: Backends) -> None:
    import openai

    gw = start_gateway(limited(backends, budget={"tokens": 60, "per": "day"}))
    try:
        alice = openai.OpenAI(base_url=gw.url + "/v1", api_key=ALICE, max_retries=0, timeout=20)
        bob = openai.OpenAI(base_url=gw.url + "/v1", api_key=BOB, max_retries=0, timeout=20)
        first = alice.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}], max_tokens=10)
        assert first.choices[0].message.content and sent(backends) == 1  # ~15 estimated, 19 real: fits
        with pytest.raises(openai.RateLimitError) as info:  # 429 in OpenAI's format
            alice.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x" * 400}], max_tokens=10)
        assert "caller:alice" in str(info.value) and int(info.value.response.headers["retry-after"]) > 0
        assert sent(backends) == 1  # nothing reached the backend
        bob.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x" * 400}], max_tokens=10)
        assert sent(backends) == 2  # bob has no budget
    finally:
        gw.stop()


def test_a_callers_rate_limit_answers_429_with_retry_after(backends: Backends) -> None:
    import anthropic

    into_minute = time.time() % 60
    if into_minute > 50:  # the three calls must fall in one minute window
        time.sleep(60 - into_minute + 0.2)
    config = limited(backends, rate_limit={"rpm": 2})
    config.gateway.request_timeout = 3.0  # the next minute is further away than a call may wait
    gw = start_gateway(config)
    try:
        alice = anthropic.Anthropic(base_url=gw.url, api_key=ALICE, max_retries=0, timeout=20)
        gw_cfg = {"model": "fast", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        alice.messages.create(**gw_cfg)
        alice.messages.create(**gw_cfg)
        with pytest.raises(anthropic.RateLimitError) as info:  # the third in this minute: no room before the deadline
            alice.messages.create(**gw_cfg)
        assert "client-side rate limit" in str(info.value) and float(info.value.response.headers["retry-after"]) > 0
        assert sent(backends) == 2
    finally:
        gw.stop()
