"""The request-side rules themselves, without the corpus: a difference is benign only for the
providers it is benign for (``request_side.BENIGN``), so e.g. OpenAI sending ``max_tokens``
where the recording has ``max_completion_tokens`` is a failure, not a normalised-away detail."""

from __future__ import annotations

import pytest

from . import request_side as rs

RECORDED = {"model": "o3-mini", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 100}
SENT_MAX_TOKENS = {"model": "o3-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}


def test_openai_must_send_max_completion_tokens() -> None:
    used, diffs = rs.compare(RECORDED, SENT_MAX_TOKENS, "openai")
    assert used == []
    assert diffs == ["$.max_completion_tokens: only recorded (100)", "$.max_tokens: only sent (100)"]
    assert rs.compare(RECORDED, dict(RECORDED), "openai") == ([], [])


@pytest.mark.parametrize("kind", ["openrouter", "compatible"])
def test_max_tokens_spelling_is_benign_for_openrouter_and_compatible(kind: str) -> None:
    assert rs.compare(RECORDED, SENT_MAX_TOKENS, kind) == (["max_completion_tokens"], [])


def test_openrouter_usage_flag_is_benign_only_on_openrouter() -> None:
    rec = {"model": "m", "messages": [], "stream": True}
    sent = {**rec, "stream_options": {"include_usage": True}}
    assert rs.compare(rec, sent, "openrouter") == (["openrouter_usage_flag"], [])
    for kind in ("openai", "compatible"):
        assert rs.compare(rec, sent, kind)[1] == ['$.stream_options: only sent ({"include_usage": true})'], kind


def test_anthropic_layout_rules_do_not_apply_to_chat_completions() -> None:
    rec = {"model": "m", "system": [{"type": "text", "text": "a"}], "messages": []}
    sent = {"model": "m", "system": "a", "messages": []}
    assert rs.compare(rec, sent, "anthropic") == (["system_as_string"], [])
    assert rs.compare(rec, sent, "openai")[1] == ['$.system: recorded [{"type": "text", "text": "a"}] vs sent "a"']


def test_rule_sets_per_provider() -> None:
    names = {kind: [n for n, _ in rs.rules_for(kind)] for kind in rs.PROVIDER_KINDS}
    assert names == {
        "openai": ["stream_false", "empty_tool_description", "assistant_null_content"],
        "compatible": ["stream_false", "max_completion_tokens", "empty_tool_description", "assistant_null_content"],
        "openrouter": ["stream_false", "max_completion_tokens", "empty_tool_description", "assistant_null_content",
                       "openrouter_usage_flag"],
        "anthropic": ["stream_false", "empty_tool_description", "system_as_string", "is_error_false", "content_layout"],
    }
    assert set(rs.BENIGN) == {n for n, _ in rs.RULES}
    with pytest.raises(ValueError, match="unknown provider kind"):
        rs.rules_for("openai-ish")
