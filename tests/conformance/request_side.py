"""The request side: recorded request body -> llmswitch inputs, and sent body vs recorded body.

Three steps, each with its rules named and explained in ONE table here:

1. ``reduce_*``: strip from the recorded body what llmswitch's types cannot express at all
   (``GAPS``): file/document parts, server-tool definitions, prompt-cache markers... These are
   request features llmswitch lacks, not bugs in what it sends; each one found is counted.
2. ``inputs_*``: turn the reduced body into ``Message``/``Tool`` objects and call parameters,
   losslessly (anything not a typed field passes through as a provider parameter, as a user
   would pass it).
3. ``compare``: the body llmswitch sent must mean the same as the reduced recorded body. Known
   benign differences (``BENIGN``) are normalised away on both sides; each rule that was needed
   is reported. Any other difference fails the test with the differing paths.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmswitch.types import ImagePart, Message, TextPart, Tool, ToolCall

# --- the two tables ----------------------------------------------------------------------

GAPS: dict[str, str] = {
    "developer_role": "OpenAI's developer role has no Message role; sent as system",
    "content_part": "user content part llmswitch does not model (OpenAI file/video_url, Anthropic document); dropped",
    "server_tool": "server-side tool definition (web search, code execution, MCP, memory, advisor, tool search); only function tools are modelled",
    "tool_extra": "tool flags not modelled (strict, defer_loading, eager_input_streaming)",
    "cache_control": "Anthropic prompt-cache markers (cache_control) are not modelled",
    "history_block": "assistant history block llmswitch does not model (server_tool_use, *_tool_result, mcp_*, redacted_thinking, compaction) or a second thinking block",
    "assistant_layout": "an assistant turn is one thinking, one text and its tool calls, in that order; several text blocks are joined",
    "system_turn": "mid-conversation Anthropic system turn (tool_addition) is not modelled",
    "tool_result_part": "tool_result content block that is not text (tool_reference)",
    "tool_choice_without_tools": "tool_choice is only sent with tools; every tool in the request was a server tool",
}

# name -> (the llmswitch providers for which it is benign, why). A rule is applied ONLY for the
# providers listed: "openai" is OpenAI itself (OpenAIProvider), "compatible" any other server
# reached with OpenAICompatibleProvider, "openrouter" and "anthropic" their own providers.
_OA_LIKE = frozenset({"openai", "compatible", "openrouter"})
_ALL = _OA_LIKE | {"anthropic"}
BENIGN: dict[str, tuple[frozenset[str], str]] = {
    "stream_false": (_ALL, "llmswitch omits \"stream\": false (the default)"),
    "max_completion_tokens": (
        frozenset({"openrouter", "compatible"}),
        ("OpenRouter and compatible servers get max_tokens where the recording used max_completion_tokens (both "
        "accepted there). NOT for OpenAI: max_tokens is deprecated there and reasoning models reject it with a 400, "
        "so OpenAI must get max_completion_tokens exactly as recorded"),
    ),
    "openrouter_usage_flag": (
        frozenset({"openrouter"}),
        ("OpenRouter always reports usage; stream_options.include_usage is deprecated and ignored there (§6.4), so "
        "sending it or not is the same. Elsewhere it decides whether usage comes at all"),
    ),
    "empty_tool_description": (_ALL, "an empty tool description is omitted rather than sent as \"\" (optional on every wire)"),
    "assistant_null_content": (
        _OA_LIKE,
        ("an assistant tool-call turn carries \"content\": null where the recording omitted content (Chat Completions "
        "makes content optional when tool_calls is present)"),
    ),
    "system_as_string": (frozenset({"anthropic"}), "the Anthropic system prompt is sent as one string, the recording used a list of text blocks"),
    "content_layout": (
        frozenset({"anthropic"}),
        ("Anthropic content as a string vs a single text block, and a tool_result turn followed by text sent as two "
        "consecutive user turns (the API merges consecutive same-role turns)"),
    ),
    "is_error_false": (frozenset({"anthropic"}), "tool_result is_error=false omitted (the default)"),
}


@dataclass
class Inputs:
    model: str
    messages: list[Message]
    tools: list[Tool] | None
    params: dict[str, Any]
    stream: bool
    gaps: list[str] = field(default_factory=list)
    reduced: dict[str, Any] = field(default_factory=dict)


# --- OpenAI Chat Completions -------------------------------------------------------------

_OA_PARTS = {"text", "image_url"}
_OA_CALL_KEYS = {"model", "messages", "tools", "stream", "stream_options", "max_tokens", "max_completion_tokens"}


def reduce_openai(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    b = copy.deepcopy(body)
    gaps: list[str] = []
    for m in b.get("messages", []):
        if m.get("role") == "developer":
            gaps.append("developer_role")
            m["role"] = "system"
        c = m.get("content")
        if isinstance(c, list):
            kept = [p for p in c if p.get("type") in _OA_PARTS]
            if len(kept) != len(c):
                gaps.append("content_part")
                m["content"] = kept
    tools = []
    for t in b.get("tools") or []:
        if t.get("type") != "function":
            gaps.append("server_tool")
            continue
        extra = set(t) - {"type", "function"} | set(t["function"]) - {"name", "description", "parameters"}
        if extra:
            gaps.append("tool_extra")
            t = {"type": "function", "function": {k: v for k, v in t["function"].items() if k in ("name", "description", "parameters")}}
        tools.append(t)
    if "tools" in b:
        if tools:
            b["tools"] = tools
        else:
            del b["tools"]
    return b, gaps


def _oa_parts(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    parts: list[Any] = []
    for p in content:
        if p["type"] == "text":
            parts.append(TextPart(p["text"]))
        else:
            parts.append(ImagePart(url=p["image_url"]["url"]))
    return parts


def inputs_openai(body: dict[str, Any]) -> Inputs:
    reduced, gaps = reduce_openai(body)
    msgs: list[Message] = []
    for m in reduced["messages"]:
        role = m["role"]
        if role in ("system", "developer"):
            msgs.append(Message("system", _oa_parts(m.get("content"))))
        elif role == "user":
            msgs.append(Message.user(_oa_parts(m.get("content"))))
        elif role == "assistant":
            calls = [
                ToolCall(
                    id=tc["id"],
                    name=tc["function"]["name"],
                    arguments=json.loads(tc["function"]["arguments"] or "{}"),
                    raw_arguments=tc["function"]["arguments"],
                )
                for tc in m.get("tool_calls") or ()
            ]
            msgs.append(Message("assistant", _oa_parts(m.get("content")), calls))
        elif role == "tool":
            msgs.append(Message.tool_result(m["tool_call_id"], m.get("content")))
        else:
            raise AssertionError(f"unexpected role {role!r}")
    tools = [
        Tool(name=t["function"]["name"], description=t["function"].get("description") or "", parameters=t["function"].get("parameters") or {})
        for t in reduced.get("tools") or ()
    ] or None
    params = {k: v for k, v in reduced.items() if k not in _OA_CALL_KEYS}
    limit = reduced.get("max_completion_tokens", reduced.get("max_tokens"))
    if limit is not None:
        params["max_tokens"] = limit
    return Inputs(reduced["model"], msgs, tools, params, bool(reduced.get("stream")), gaps, reduced)


# --- Anthropic Messages ------------------------------------------------------------------

_AN_CALL_KEYS = {"model", "messages", "tools", "stream", "system"}
_AN_TOOL_KEYS = {"name", "description", "input_schema"}


def _strip_cache_control(obj: Any) -> bool:
    found = False
    if isinstance(obj, dict):
        if "cache_control" in obj:
            del obj["cache_control"]
            found = True
        for v in obj.values():
            found |= _strip_cache_control(v)
    elif isinstance(obj, list):
        for v in obj:
            found |= _strip_cache_control(v)
    return found


def reduce_anthropic(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    b = copy.deepcopy(body)
    gaps: list[str] = []
    if _strip_cache_control(b):
        gaps.append("cache_control")
    msgs = []
    for m in b.get("messages", []):
        if m["role"] == "system":
            gaps.append("system_turn")
            continue
        c = m["content"]
        if isinstance(c, list):
            kept = []
            thinking_seen = False
            for blk in c:
                t = blk.get("type")
                if m["role"] == "user":
                    if t in ("text", "image"):
                        kept.append(blk)
                    elif t == "tool_result":
                        inner = blk.get("content")
                        if isinstance(inner, list) and any(x.get("type") != "text" for x in inner):
                            gaps.append("tool_result_part")
                            blk = {**blk, "content": [x for x in inner if x.get("type") == "text"]}
                        kept.append(blk)
                    else:
                        gaps.append("content_part")
                else:
                    if t in ("text", "tool_use") or (t == "thinking" and not thinking_seen):
                        thinking_seen |= t == "thinking"
                        kept.append(blk)
                    else:
                        gaps.append("history_block")
            if m["role"] == "assistant":
                # one Message holds one text, one thinking and its tool calls, in that order
                texts = [x for x in kept if x["type"] == "text"]
                layout = [x for x in kept if x["type"] == "thinking"]
                if texts:
                    layout.append({"type": "text", "text": "".join(x["text"] for x in texts)})
                layout += [x for x in kept if x["type"] == "tool_use"]
                if layout != kept:
                    gaps.append("assistant_layout")
                kept = layout
            if not kept:
                continue
            m = {**m, "content": kept}
        msgs.append(m)
    b["messages"] = msgs
    tools = []
    for t in b.get("tools") or []:
        if t.get("type") not in (None, "custom"):
            gaps.append("server_tool")
            continue
        if set(t) - _AN_TOOL_KEYS - {"type"}:
            gaps.append("tool_extra")
            t = {k: v for k, v in t.items() if k in _AN_TOOL_KEYS}
        t.pop("type", None)
        tools.append(t)
    if "tools" in b:
        if tools:
            b["tools"] = tools
        else:
            del b["tools"]
            if "tool_choice" in b:
                del b["tool_choice"]
                gaps.append("tool_choice_without_tools")
    return b, gaps


def _an_parts(blocks: list[dict[str, Any]]) -> list[Any]:
    parts: list[Any] = []
    for blk in blocks:
        if blk["type"] == "text":
            parts.append(TextPart(blk["text"]))
        elif blk["type"] == "image":
            src = blk["source"]
            if src["type"] == "base64":
                parts.append(ImagePart(data=base64.b64decode(src["data"]), media_type=src["media_type"]))
            else:
                parts.append(ImagePart(url=src["url"]))
        else:
            raise AssertionError(f"unexpected block {blk['type']}")
    return parts


def inputs_anthropic(body: dict[str, Any]) -> Inputs:
    reduced, gaps = reduce_anthropic(body)
    msgs: list[Message] = []
    system = reduced.get("system")
    if isinstance(system, str):
        msgs.append(Message.system(system))
    elif isinstance(system, list):
        msgs.extend(Message.system(b["text"]) for b in system)
    for m in reduced["messages"]:
        c = m["content"]
        if m["role"] == "user":
            if isinstance(c, str):
                msgs.append(Message.user(c))
                continue
            rest: list[dict[str, Any]] = []
            for blk in c:
                if blk["type"] == "tool_result":
                    inner = blk.get("content")
                    content = _an_parts(inner) if isinstance(inner, list) else inner
                    msgs.append(Message("tool", content, tool_call_id=blk["tool_use_id"], is_error=bool(blk.get("is_error"))))
                else:
                    rest.append(blk)
            if rest:
                msgs.append(Message.user(_an_parts(rest)))
        else:
            if isinstance(c, str):
                msgs.append(Message.assistant(c))
                continue
            text = "".join(b["text"] for b in c if b["type"] == "text")
            calls = [ToolCall(b["id"], b["name"], dict(b["input"]), json.dumps(b["input"])) for b in c if b["type"] == "tool_use"]
            msg = Message.assistant(text or None, calls)
            for b in c:
                if b["type"] == "thinking":
                    msg.thinking, msg.thinking_signature = b["thinking"], b.get("signature")
            msgs.append(msg)
    tools = [Tool(t["name"], t.get("description") or "", t["input_schema"]) for t in reduced.get("tools") or ()] or None
    params = {k: v for k, v in reduced.items() if k not in _AN_CALL_KEYS}
    return Inputs(reduced["model"], msgs, tools, params, bool(reduced.get("stream")), gaps, reduced)


# --- comparison --------------------------------------------------------------------------

Rule = Callable[[dict[str, Any]], None]


def _r_stream_false(b: dict[str, Any]) -> None:
    if b.get("stream") is False:
        del b["stream"]


def _r_max_completion_tokens(b: dict[str, Any]) -> None:
    if "max_completion_tokens" in b:
        b["max_tokens"] = b.pop("max_completion_tokens")


def _r_empty_tool_description(b: dict[str, Any]) -> None:
    for t in b.get("tools") or ():
        fn = t.get("function", t)
        if fn.get("description") == "":
            del fn["description"]


def _r_assistant_null_content(b: dict[str, Any]) -> None:
    for m in b.get("messages") or ():
        if m.get("role") == "assistant" and m.get("tool_calls") and "content" not in m:
            m["content"] = None


def _r_system_as_string(b: dict[str, Any]) -> None:
    s = b.get("system")
    if isinstance(s, list) and all(x.get("type") == "text" for x in s):
        b["system"] = "\n\n".join(x["text"] for x in s)


def _r_content_layout(b: dict[str, Any]) -> None:
    out: list[dict[str, Any]] = []
    for m in b.get("messages") or ():
        c = m["content"]
        blocks = [{"type": "text", "text": c}] if isinstance(c, str) else list(c)
        blocks = [x for x in blocks if not (x.get("type") == "text" and not x.get("text"))]
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": m["role"], "content": blocks})
    if "messages" in b:
        b["messages"] = out


def _r_is_error_false(b: dict[str, Any]) -> None:
    for m in b.get("messages") or ():
        if isinstance(m.get("content"), list):
            for x in m["content"]:
                if x.get("type") == "tool_result" and x.get("is_error") is False:
                    del x["is_error"]


def _r_openrouter_usage_flag(b: dict[str, Any]) -> None:
    if b.get("stream_options") == {"include_usage": True}:
        del b["stream_options"]


# Every rule, in the order it is applied; which of them apply is decided by BENIGN's provider sets.
RULES: list[tuple[str, Rule]] = [
    ("stream_false", _r_stream_false),
    ("max_completion_tokens", _r_max_completion_tokens),
    ("empty_tool_description", _r_empty_tool_description),
    ("assistant_null_content", _r_assistant_null_content),
    ("openrouter_usage_flag", _r_openrouter_usage_flag),
    ("system_as_string", _r_system_as_string),
    ("is_error_false", _r_is_error_false),
    ("content_layout", _r_content_layout),
]
PROVIDER_KINDS = ("openai", "compatible", "openrouter", "anthropic")


def rules_for(provider: str) -> list[tuple[str, Rule]]:
    """The benign rules for one llmswitch provider kind (see ``BENIGN``)."""
    if provider not in PROVIDER_KINDS:
        raise ValueError(f"unknown provider kind {provider!r}; one of {PROVIDER_KINDS}")
    return [(name, rule) for name, rule in RULES if provider in BENIGN[name][0]]


def _diff(a: Any, b: Any, path: str = "$") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only sent ({json.dumps(b[k])[:120]})")
            elif k not in b:
                out.append(f"{path}.{k}: only recorded ({json.dumps(a[k])[:120]})")
            else:
                out.extend(_diff(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} recorded items vs {len(b)} sent: {json.dumps(a)[:200]} / {json.dumps(b)[:200]}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{path}[{i}]")]
    if a != b:
        return [f"{path}: recorded {json.dumps(a)[:160]} vs sent {json.dumps(b)[:160]}"]
    return []


def compare(recorded: dict[str, Any], sent: dict[str, Any], provider: str) -> tuple[list[str], list[str]]:
    """(benign rules that were needed, remaining differences). ``provider`` is the llmswitch
    provider kind that sent the body: ``openai``, ``compatible``, ``openrouter`` or ``anthropic``."""
    rules = rules_for(provider)
    rec, out = copy.deepcopy(recorded), copy.deepcopy(sent)
    used: list[str] = []
    for name, rule in rules:
        before = (json.dumps(rec, sort_keys=True), json.dumps(out, sort_keys=True))
        if before[0] == before[1]:
            break
        rule(rec)
        rule(out)
        after = (json.dumps(rec, sort_keys=True), json.dumps(out, sort_keys=True))
        if after != before:
            used.append(name)
    return used, _diff(rec, out)
