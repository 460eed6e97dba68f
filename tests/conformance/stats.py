"""Tally of one run, printed at the end by ``conftest.pytest_terminal_summary``."""

from __future__ import annotations

from collections import Counter

from . import corpus

green: Counter[str] = Counter()  # provider -> chat interactions replayed green
gaps: Counter[str] = Counter()  # GAPS name -> interactions where it applied
benign: Counter[str] = Counter()  # BENIGN name -> interactions where it was needed
with_gaps: Counter[str] = Counter()  # provider -> green interactions whose request had a gap
ran = False


def corpus_counts() -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(chat interactions per provider, skipped chat per provider, skip reason -> count over all)."""
    chat: Counter[str] = Counter()
    skipped_chat: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for cid in corpus.cassette_ids():
        for it in corpus.interactions(cid):
            if it.is_chat:
                chat[it.provider] += 1
            reason = it.skip
            if reason:
                reasons[reason] += 1
                if it.is_chat:
                    skipped_chat[it.provider] += 1
    return chat, skipped_chat, reasons


def summary_lines() -> list[str]:
    chat, skipped_chat, reasons = corpus_counts()
    total_chat = sum(chat.values())
    n_green = sum(green.values())
    n_skipped = sum(reasons.values())
    lines = []
    pct = 100.0 * n_green / total_chat if total_chat else 0.0
    lines.append(
        f"{n_green} replayed, {n_skipped} skipped; {n_green}/{total_chat} chat-completions + messages interactions green ({pct:.1f}%)"
    )
    for prov in corpus.PROVIDERS:
        lines.append(
            f"  {prov}: {green[prov]}/{chat[prov]} green, {skipped_chat[prov]} chat skipped, "
            f"{with_gaps[prov]} green with a request-side gap"
        )
    if reasons:
        lines.append("skipped (reasons):")
        lines.extend(f"  {n:3d}  {r}" for r, n in reasons.most_common())
    if gaps:
        lines.append("request features llmswitch cannot express (interactions):")
        lines.extend(f"  {n:3d}  {k}" for k, n in gaps.most_common())
    if benign:
        lines.append("benign request differences (interactions):")
        lines.extend(f"  {n:3d}  {k}" for k, n in benign.most_common())
    return lines
