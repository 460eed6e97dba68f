"""Replay the recorded real OpenAI, Anthropic and OpenRouter interactions through llmswitch.

One test per cassette. Each chat interaction (Chat Completions or Messages) is, in order:
turned from its recorded request body into our ``Message``/``Tool`` inputs, sent through the
matching llmswitch provider to the replay server, and checked against the recorded response
(text, tool calls with parsed arguments, thinking, finish reason, usage, OpenRouter cost,
unknown blocks kept in ``raw``, or the right error class); then the body llmswitch sent is
compared with the recorded request (``request_side.py``). Interactions on endpoints llmswitch
does not serve are listed in ``skips.py``.

The corpus cannot vanish quietly: when it is not found, the one ``corpus-missing`` case FAILS
under ``CI`` (naming the path it expected) and skips, saying why, elsewhere; the number of
interactions replayed is printed at the end (``conformance: N interactions replayed``) and
written where ``LLMSWITCH_CONFORMANCE_REPORT`` points, which ``scripts/test`` checks in CI.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlparse

import pytest

from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.base import BaseProvider
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.providers.openrouter import OpenRouterProvider
from llmswitch.types import Response, TextDelta, ThinkingDelta, ToolCallDelta

from . import corpus, oracle, request_side, stats
from .replay import ReplayServer

KEY = "sk-test-conformance-0000"
CASSETTES = corpus.cassette_ids()


def _kind(provider: BaseProvider) -> str:
    """Which request-side rule set applies: the provider llmswitch used, not the cassette folder
    (``openai/`` also holds recordings against compatible servers)."""
    if isinstance(provider, AnthropicProvider):
        return "anthropic"
    if isinstance(provider, OpenRouterProvider):
        return "openrouter"
    if isinstance(provider, OpenAIProvider):
        return "openai"
    return "compatible"


def _provider(it: corpus.Interaction, server: ReplayServer) -> BaseProvider:
    # retries=0: a recording is one exchange, replayed once (retries are tested in tests/routing)
    if it.provider == "anthropic":
        return AnthropicProvider(base_url=server.url, api_key=KEY, retries=0)
    base = server.url + it.path[: -len("/chat/completions")]
    if it.provider == "openrouter":
        return OpenRouterProvider(base_url=base, api_key=KEY, retries=0)
    host = urlparse(it.data["request"]["uri"]).hostname
    if host == "api.openai.com":
        return OpenAIProvider(base_url=base, api_key=KEY, retries=0)
    return OpenAICompatibleProvider(name="compatible", base_url=base, api_key=KEY, retries=0)


async def _call(provider: BaseProvider, inp: request_side.Inputs) -> tuple[Response, list[Any]]:
    kw: dict[str, Any] = dict(model=inp.model, tools=inp.tools, **inp.params)
    if not inp.stream:
        return await provider.complete(inp.messages, **kw), []
    events: list[Any] = []
    async with provider.stream(inp.messages, **kw) as s:
        async for ev in s:
            events.append(ev)
        return await s.final(), events


def _check(it: corpus.Interaction, resp: Response, events: list[Any], exp: oracle.Expected) -> None:
    where = f"{it.cassette}#{it.index}"
    assert resp.text == exp.text, where
    assert (resp.thinking or None) == exp.thinking, where
    assert len(resp.tool_calls) == len(exp.tool_calls), where
    for got, (cid, name, args) in zip(resp.tool_calls, exp.tool_calls, strict=True):
        assert got.name == name, where
        assert got.arguments == args, where
        assert got.id == cid if cid else got.id, where  # an empty recorded id gets a generated one
    assert resp.finish_reason == exp.finish, where
    if exp.usage is None:
        assert not resp.usage.known, where
    else:
        u = resp.usage
        assert u.known, where
        assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == exp.usage, where
        if exp.reasoning_tokens is not None:
            assert u.reasoning_tokens == exp.reasoning_tokens, where
    if exp.cost is not None:  # OpenRouter's reported cost (older recordings have none)
        assert resp.usage.cost is not None and math.isclose(resp.usage.cost, exp.cost, rel_tol=1e-9, abs_tol=1e-12), where
    assert resp.model == exp.model and resp.id == exp.id, where
    if exp.signature is not None or it.provider == "anthropic":
        assert resp.thinking_signature == exp.signature, where
    raw_msg = resp.raw["choices"][0]["message"] if it.provider != "anthropic" else {}
    for k, v in exp.extras.items():
        assert raw_msg.get(k) == v, f"{where}: {k} not kept in raw"
    if exp.block_types is not None:
        # every block, including types llmswitch does not model, is kept in raw
        assert [b.get("type") for b in resp.raw["content"]] == exp.block_types, where
    if events:
        # the streamed events add up to the final Response
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == resp.text, where
        assert ("".join(e.text for e in events if isinstance(e, ThinkingDelta)) or None) == resp.thinking, where
        for i, call in enumerate(resp.tool_calls):
            frags = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == i)
            assert (frags or "{}") == (call.raw_arguments or "{}"), where


def _inputs(it: corpus.Interaction) -> request_side.Inputs:
    if it.provider == "anthropic":
        return request_side.inputs_anthropic(it.request)
    return request_side.inputs_openai(it.request)


def _expected(it: corpus.Interaction) -> oracle.Expected:
    key = (it.cassette, it.index)
    if it.provider == "anthropic":
        return oracle.expect_anthropic(key, it.response)
    return oracle.expect_openai(key, it.response)


@pytest.mark.parametrize("cassette", CASSETTES or [pytest.param(None, id="corpus-missing")])
async def test_replay(cassette: str | None, replay_server: ReplayServer) -> None:
    stats.ran = True
    if cassette is None:
        if corpus.in_ci():
            pytest.fail(corpus.missing_message() + " — in CI the replay must run (CI is set)", pytrace=False)
        pytest.skip(corpus.missing_message())
    all_items = corpus.interactions(cassette)
    todo = [it for it in all_items if not it.skip]
    if not todo:
        pytest.skip("; ".join(sorted({it.skip or "" for it in all_items})))
    replay_server.load([(it.method, it.path, it.data) for it in todo])
    providers: dict[tuple[type, str], BaseProvider] = {}
    try:
        for n, it in enumerate(todo):
            p = _provider(it, replay_server)
            p = providers.setdefault((type(p), p.base_url), p)
            inp = _inputs(it)
            exp = _expected(it)
            if exp.error is not None:
                with pytest.raises(exp.error) as info:
                    await _call(p, inp)
                assert "replay" not in str(info.value), f"{it.cassette}#{it.index}: {info.value}"
            else:
                resp, events = await _call(p, inp)
                _check(it, resp, events, exp)
            assert not replay_server.unmatched, replay_server.unmatched
            sent = replay_server.received[n]["body"]
            used, diffs = request_side.compare(inp.reduced, sent, _kind(p))
            assert not diffs, f"{it.cassette}#{it.index}: request differs from the recording:\n" + "\n".join(diffs)
            stats.green[it.provider] += 1
            stats.benign.update(set(used))
            stats.gaps.update(set(inp.gaps))
            if inp.gaps:
                stats.with_gaps[it.provider] += 1
    finally:
        for p in providers.values():
            await p.aclose()
