"""Property: whatever a server sends, the wire layer answers with a valid Response or an llmswitch
error, never a raw Python exception (issue 12).

Seeds are real recorded payloads from the conformance corpus (``tests/conformance/corpus.py``
finds it; a missing corpus FAILS these tests, it does not skip them): every 200 Chat Completions
and Anthropic Messages answer, JSON and SSE. The corpus holds no Ollama traffic, so Ollama's
seeds are the documented ``/api/chat`` shapes (``reference/wire-protocols.md`` §1.8). Each
example mutates one seed: a field given a value of another type, a field dropped, the bytes
truncated anywhere, invalid UTF-8 inserted, and the stream cut into reads at random points.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmswitch._wire import anthropic, ollama, openai_chat
from llmswitch.errors import LLMSwitchError
from tests.conformance import corpus
from tests.wire.helpers import assert_valid_response, assert_valid_stream, chunks, drain, split

# --- seeds -------------------------------------------------------------------------------------


def _recorded() -> list[tuple[str, str, Any]]:
    """(wire, "json" | "sse", payload) for every recorded 200 chat answer."""
    root = corpus.corpus_dir()
    assert root is not None, (
        f"the conformance corpus is missing (looked for shared/conformance/recorded above {__file__}, "
        f"or ${corpus.ENV_VAR}); these tests need it and must not pass without it"
    )
    out: list[tuple[str, str, Any]] = []
    for cid in corpus.cassette_ids():
        for it in corpus.interactions(cid):
            if not it.is_chat or it.status != 200:
                continue
            wire = "anthropic" if it.path == "/v1/messages" else "openai"
            resp = it.response
            if "parsed_body" in resp:
                out.append((wire, "json", resp["parsed_body"]))
            elif isinstance((resp.get("body") or {}).get("string"), str):
                out.append((wire, "sse", resp["body"]["string"].encode()))
    return out


_SEEDS: list[tuple[str, str, Any]] | None = None


def seeds(wire: str, kind: str) -> list[Any]:
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = _recorded()
    found = [p for w, k, p in _SEEDS if w == wire and k == kind]
    assert found, f"no recorded {wire} {kind} answers in the corpus"
    return found


_OLLAMA_LINES = [
    {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "The"}, "done": False},
    {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
    {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_k3j9x0qa", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}}],
        },
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000,
        "eval_count": 282,
        "eval_duration": 4535599000,
    },
]


def ollama_json_seeds() -> list[Any]:
    whole = dict(_OLLAMA_LINES[-1], message={"role": "assistant", "content": "The sky is blue.", "thinking": "hm",
                                             "tool_calls": _OLLAMA_LINES[2]["message"]["tool_calls"]})
    return [whole, _OLLAMA_LINES[-1]]


def ollama_stream_seed() -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in _OLLAMA_LINES)


# --- mutations ---------------------------------------------------------------------------------

WRONG = st.sampled_from([None, 0, -1, 7, 1.5, True, "", "x", "\udcff", [], [1], ["a", None], {}, {"a": 1}, {"index": "0"}])


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys, list indexes), the root included."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, path + (i,))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


def _drop(value: Any, path: tuple[Any, ...]) -> Any:
    """``value`` without the dict key at ``path`` (a list element is left in place)."""
    if not path:
        return value
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return value
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _drop(value[path[0]], path[1:])
    return copy


@st.composite
def mutated_json(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one to three fields given a wrong-typed value or dropped."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_nodes(value)))
        value = _drop(value, path) if draw(st.booleans()) else _replace(value, path, draw(WRONG))
    return value


INVALID_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80\x80", b"\xfe\xff"])


def _sse_events(raw: bytes) -> list[bytes]:
    return [e for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]


def _mutate_event(event: bytes, draw: st.DrawFn) -> bytes:
    """An SSE event whose JSON ``data`` is mutated (the event keeps its other lines)."""
    lines = event.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                return event
            body = json.dumps(draw(mutated_json(data)), ensure_ascii=False).encode("utf-8", "surrogatepass")
            lines[i] = b"data: " + body
    return b"\n".join(lines)


@st.composite
def mutated_stream(draw: st.DrawFn, raw: bytes, *, sse: bool) -> list[bytes]:
    """The recorded stream, mutated one way or several, cut into reads at random points."""
    if sse and draw(st.booleans()):
        events = _sse_events(raw)
        i = draw(st.integers(0, len(events) - 1))
        events[i] = _mutate_event(events[i], draw)
        raw = b"\n\n".join(events) + b"\n\n"
    elif not sse and draw(st.booleans()):
        lines = raw.split(b"\n")
        i = draw(st.integers(0, max(0, len(lines) - 2)))
        lines[i] = json.dumps(draw(mutated_json(json.loads(lines[i])))).encode("utf-8", "surrogatepass")
        raw = b"\n".join(lines)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(INVALID_UTF8) + raw[at:]
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    cuts = draw(st.lists(st.integers(0, max(0, len(raw))), max_size=12))
    return split(raw, cuts)


# --- the property ------------------------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def only_llmswitch_errors(run: Callable[[], Any]) -> None:
    """``run`` returns (validated inside) or raises an llmswitch error; anything else fails."""
    try:
        run()
    except LLMSwitchError:
        pass


def _openai_stream(pieces: list[bytes]) -> None:
    acc = openai_chat.ChatStreamAccumulator(provider="openai", model="m", url="http://127.0.0.1/v1/chat/completions", expect_usage=True)
    assert_valid_stream(drain(openai_chat.iter_stream(chunks(pieces), acc)))


def _anthropic_stream(pieces: list[bytes]) -> None:
    acc = anthropic.MessagesStreamAccumulator(provider="anthropic", model="m", url="http://127.0.0.1/v1/messages")
    assert_valid_stream(drain(anthropic.iter_stream(chunks(pieces), acc)))


def _ollama_stream(pieces: list[bytes]) -> None:
    acc = ollama.OllamaChatAccumulator(provider="ollama", model="m", url="http://127.0.0.1/api/chat")
    assert_valid_stream(drain(ollama.iter_chat_stream(chunks(pieces), acc)))


def _ollama_whole(body: Any) -> None:
    acc = ollama.OllamaChatAccumulator(provider="ollama", model="m", url="http://127.0.0.1/api/chat")
    acc.feed(body)
    acc.done = True
    assert_valid_response(acc.result())


PARSE = {"openai": openai_chat.parse_response, "anthropic": anthropic.parse_response}


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@PROPERTY
@given(data=st.data())
def test_mutated_recorded_body_gives_response_or_llmswitch_error(wire: str, data: st.DataObject) -> None:
    body = data.draw(mutated_json(data.draw(st.sampled_from(seeds(wire, "json")))))
    parse = PARSE[wire]
    only_llmswitch_errors(lambda: assert_valid_response(parse(body, provider=wire, url="http://127.0.0.1/x", model="m")))


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@PROPERTY
@given(data=st.data())
def test_mutated_recorded_stream_gives_response_or_llmswitch_error(wire: str, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(seeds(wire, "sse")))
    pieces = data.draw(mutated_stream(raw, sse=True))
    only_llmswitch_errors(lambda: (_openai_stream if wire == "openai" else _anthropic_stream)(pieces))


@PROPERTY
@given(data=st.data())
def test_mutated_ollama_body_gives_response_or_llmswitch_error(data: st.DataObject) -> None:
    body = data.draw(mutated_json(data.draw(st.sampled_from(ollama_json_seeds()))))
    only_llmswitch_errors(lambda: _ollama_whole(body))


@PROPERTY
@given(data=st.data())
def test_mutated_ollama_stream_gives_response_or_llmswitch_error(data: st.DataObject) -> None:
    pieces = data.draw(mutated_stream(ollama_stream_seed(), sse=False))
    only_llmswitch_errors(lambda: _ollama_stream(pieces))


def _parses(run: Callable[[], Any]) -> bool:
    try:
        run()
    except LLMSwitchError:
        return False
    return True


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_recorded_answers_unmutated_are_valid(wire: str) -> None:
    """The unmutated seeds parse into valid Responses, so the property is not passing merely by
    raising on everything. (A few recorded chat-path answers are not answers: an echo server's
    body, an in-stream error; those must still give an llmswitch error.)"""
    bodies, streams = seeds(wire, "json"), seeds(wire, "sse")
    stream = _openai_stream if wire == "openai" else _anthropic_stream
    ok = sum(_parses(lambda b=b: assert_valid_response(PARSE[wire](b, provider=wire, model="m"))) for b in bodies)
    ok += sum(_parses(lambda r=r: stream(split(r, range(0, len(r), 4096)))) for r in streams)
    assert ok >= 0.9 * (len(bodies) + len(streams)), f"only {ok} of {len(bodies) + len(streams)} recorded answers parse"


def test_ollama_seeds_unmutated_are_valid() -> None:
    _ollama_stream([ollama_stream_seed()])
    for body in ollama_json_seeds():
        _ollama_whole(body)
