"""What llmswitch should return for a recorded response, read straight from the recording.

Deliberately naive and independent of ``llmswitch._wire``: JSON bodies are read field by field
and SSE bodies are split on lines by hand, so a parser bug cannot hide in the expectation.
Conventions checked (llmswitch's, from ``wire/openai_chat.py`` and ``wire/anthropic.py``):
``input_tokens`` counts every prompt token, cached or not (Anthropic: input + cache read +
cache creation); finish reasons are normalised to stop/length/tool_calls/content_filter/error,
and a turn with tool calls reports ``tool_calls``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmswitch import errors as E

# Error interactions and the class llmswitch must raise. Keyed (cassette, interaction index).
EXPECTED_ERRORS: dict[tuple[str, int], type[Exception]] = {
    ("openai/test_openai_o1_mini_system_role[developer]", 0): E.InvalidRequestError,  # 400 unsupported_value
    ("openai/test_openai_o1_mini_system_role[system]", 0): E.InvalidRequestError,  # 400 unsupported_value
    ("openai/test_openai_web_search_tool_model_not_supported", 0): E.InvalidRequestError,  # 400 param web_search_options
    ("openai/test_invalid_response", 0): E.ProviderError,  # 200 JSON that is not a completion (no choices)
    ("openai/test_text_response", 0): E.ProviderError,  # 200 text/plain body
    ("openrouter/test_openrouter_errors_raised", 0): E.RateLimitError,  # 429 upstream rate limit
    ("openrouter/test_openrouter_errors_raised", 1): E.RateLimitError,
    ("openrouter/test_openrouter_errors_raised", 2): E.RateLimitError,
    ("openrouter/test_openrouter_stream_error", 0): E.InvalidRequestError,  # 200 stream, then error chunk code 400
    ("anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors", 0): E.InvalidRequestError,  # 400
}

_OA_EXTRAS = ("annotations", "reasoning_details", "refusal")
_OA_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
              "content_filter": "content_filter", "error": "error"}
_AN_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
              "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}


@dataclass
class Expected:
    text: str = ""
    thinking: str | None = None
    tool_calls: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    finish: str | None = None
    usage: tuple[int, int, int, int] | None = None  # input (all), output, cache read, cache write
    reasoning_tokens: int | None = None
    cost: float | None = None
    block_types: list[str] | None = None  # Anthropic: every content block type, in order, kept in raw
    signature: str | None = None  # Anthropic: the thinking block's signature (to send back)
    model: str | None = None
    id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # OpenAI-style message fields we do not model, kept in raw
    error: type[Exception] | None = None


def _sse_data(text: str) -> list[tuple[str, str]]:
    """(event name, data) per event; comment lines skipped. Naive but enough for recorded bodies."""
    out, event, data = [], "message", []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if data:
                out.append((event, "\n".join(data)))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        out.append((event, "\n".join(data)))
    return out


def _oa_usage(u: dict[str, Any] | None, exp: Expected) -> None:
    if not u:
        return
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    exp.usage = (u["prompt_tokens"], u["completion_tokens"], ptd.get("cached_tokens") or 0, ptd.get("cache_write_tokens") or 0)
    exp.reasoning_tokens = ctd.get("reasoning_tokens") or 0
    # dollars spent: OpenRouter's credits charged, plus, with your own provider key (BYOK), the
    # upstream provider's charge, which OpenRouter reports in cost_details
    exp.cost = u.get("cost")
    upstream = (u.get("cost_details") or {}).get("upstream_inference_cost")
    if u.get("is_byok") and exp.cost is not None and isinstance(upstream, (int, float)):
        exp.cost += upstream


def expect_openai(key: tuple[str, int], response: dict[str, Any]) -> Expected:
    exp = Expected()
    status = int(response["status"]["code"])
    if key in EXPECTED_ERRORS:
        exp.error = EXPECTED_ERRORS[key]
        return exp
    assert status < 400, f"error interaction {key} needs an entry in EXPECTED_ERRORS"
    if "parsed_body" in response:
        body = response["parsed_body"]
        assert isinstance(body, dict) and body.get("choices") and "error" not in body, f"{key}: add to EXPECTED_ERRORS"
        choice = body["choices"][0]
        msg = choice.get("message") or {}
        exp.text = msg.get("content") or ""
        exp.thinking = msg.get("reasoning") or msg.get("reasoning_content") or None
        for tc in msg.get("tool_calls") or ():
            exp.tool_calls.append((tc.get("id") or None, tc["function"]["name"], json.loads(tc["function"].get("arguments") or "{}")))
        exp.finish = _OA_FINISH[choice["finish_reason"]]
        _oa_usage(body.get("usage"), exp)
        exp.model, exp.id = body.get("model"), body.get("id")
        exp.extras = {k: msg[k] for k in _OA_EXTRAS if msg.get(k)}
    else:
        text, thinking, finish, calls = [], [], None, {}
        for _, data in _sse_data(response["body"]["string"]):
            if data == "[DONE]":
                continue
            chunk = json.loads(data)
            assert "error" not in chunk, f"{key}: add to EXPECTED_ERRORS"
            exp.model = exp.model or chunk.get("model")
            exp.id = exp.id or chunk.get("id")
            for ch in chunk.get("choices") or ():
                d = ch.get("delta") or {}
                if d.get("content"):
                    text.append(d["content"])
                for k in _OA_EXTRAS:
                    if d.get(k):
                        v = d[k]
                        exp.extras[k] = exp.extras.get(k, type(v)()) + v
                r = d.get("reasoning") or d.get("reasoning_content")
                if r:
                    thinking.append(r)
                for tc in d.get("tool_calls") or ():
                    c = calls.setdefault(tc.get("index", 0), {"id": None, "name": None, "args": ""})
                    c["id"] = c["id"] or tc.get("id")
                    fn = tc.get("function") or {}
                    c["name"] = c["name"] or fn.get("name")
                    c["args"] += fn.get("arguments") or ""
                if ch.get("finish_reason"):
                    finish = ch["finish_reason"]
            if chunk.get("usage"):
                _oa_usage(chunk["usage"], exp)
        exp.text = "".join(text)
        exp.thinking = "".join(thinking) or None
        exp.tool_calls = [(c["id"], c["name"], json.loads(c["args"] or "{}")) for _, c in sorted(calls.items())]
        exp.finish = _OA_FINISH[finish] if finish else None
    if exp.tool_calls and exp.finish == "stop":
        exp.finish = "tool_calls"
    return exp


def _an_usage(u: dict[str, Any], exp: Expected) -> None:
    read = u.get("cache_read_input_tokens") or 0
    write = u.get("cache_creation_input_tokens") or 0
    exp.usage = ((u.get("input_tokens") or 0) + read + write, u.get("output_tokens") or 0, read, write)
    exp.reasoning_tokens = (u.get("output_tokens_details") or {}).get("thinking_tokens") or 0


def _an_blocks(content: list[dict[str, Any]], exp: Expected) -> None:
    thinking = []
    for b in content:
        if b["type"] == "text":
            exp.text += b["text"]
        elif b["type"] == "thinking":
            thinking.append(b["thinking"])
            exp.signature = b.get("signature") or exp.signature
        elif b["type"] == "tool_use":
            exp.tool_calls.append((b["id"], b["name"], b["input"]))
    exp.thinking = "".join(thinking) or None
    exp.block_types = [b["type"] for b in content]


def expect_anthropic(key: tuple[str, int], response: dict[str, Any]) -> Expected:
    exp = Expected()
    status = int(response["status"]["code"])
    if key in EXPECTED_ERRORS:
        exp.error = EXPECTED_ERRORS[key]
        return exp
    assert status < 400, f"error interaction {key} needs an entry in EXPECTED_ERRORS"
    if "parsed_body" in response:
        body = response["parsed_body"]
        assert body.get("type") == "message", f"{key}: add to EXPECTED_ERRORS"
        _an_blocks(body["content"], exp)
        exp.finish = _AN_FINISH[body["stop_reason"]]
        _an_usage(body["usage"], exp)
        exp.model, exp.id = body["model"], body["id"]
    else:
        blocks: dict[int, dict[str, Any]] = {}
        usage: dict[str, Any] = {}
        stop = None
        for _, data in _sse_data(response["body"]["string"]):
            ev = json.loads(data)
            t = ev["type"]
            assert t != "error", f"{key}: add to EXPECTED_ERRORS"
            if t == "message_start":
                exp.model, exp.id = ev["message"]["model"], ev["message"]["id"]
                usage.update({k: v for k, v in ev["message"]["usage"].items() if v is not None})
            elif t == "content_block_start":
                blocks[ev["index"]] = {**ev["content_block"], "_json": ""}
            elif t == "content_block_delta":
                b, d = blocks[ev["index"]], ev["delta"]
                if d["type"] == "text_delta":
                    b["text"] = b.get("text", "") + d["text"]
                elif d["type"] == "thinking_delta":
                    b["thinking"] = b.get("thinking", "") + d["thinking"]
                elif d["type"] == "input_json_delta":
                    b["_json"] += d["partial_json"]
                elif d["type"] == "signature_delta":
                    b["signature"] = d["signature"]
            elif t == "message_delta":
                stop = ev["delta"].get("stop_reason") or stop
                usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
        content = []
        for _, b in sorted(blocks.items()):
            if b["_json"]:
                b["input"] = json.loads(b["_json"])
            content.append(b)
        _an_blocks(content, exp)
        exp.finish = _AN_FINISH[stop]
        _an_usage(usage, exp)
    if exp.tool_calls and exp.finish == "stop":
        exp.finish = "tool_calls"
    return exp
