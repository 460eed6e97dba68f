"""The recorded corpus: where it is, and its cassettes' interactions, classified.

The corpus lives outside the repository (``<x>/shared/conformance/recorded`` beside
``<x>/main``; see ``shared/conformance/README.md`` for its format and licence) and is read at
test time, never copied in. ``LLMSWITCH_CONFORMANCE_DIR`` points elsewhere; otherwise every
ancestor of this file is searched for a ``shared/conformance`` directory beside it, which
finds it both from ``<x>/main`` and from a worktree such as ``<x>/wt/NAME``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from .skips import skip_reason

PROVIDERS = ("openai", "anthropic", "openrouter")
ENV_VAR = "LLMSWITCH_CONFORMANCE_DIR"
REPO = Path(__file__).resolve().parents[2]
EXPECTED = REPO.parent / "shared" / "conformance" / "recorded"
"""Where the corpus is expected when ``LLMSWITCH_CONFORMANCE_DIR`` is not set: ``../shared/conformance``."""


def in_ci() -> bool:
    """``CI`` set to anything but empty/0/false/no (GitHub Actions, GitLab and most CIs set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@functools.lru_cache(maxsize=1)
def corpus_dir() -> Path | None:
    """The ``recorded`` directory, or None when the corpus is not available."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        cand = p / "recorded" if (p / "recorded").is_dir() else p
        return cand if cand.is_dir() else None
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "conformance" / "recorded"
        if cand.is_dir():
            return cand
    return None


def missing_message() -> str:
    """Why there is nothing to replay, naming the path that was expected."""
    env = os.environ.get(ENV_VAR)
    root = corpus_dir()
    if env and root is None:
        where = f"{ENV_VAR}={env} is not a directory (expected <dir>/recorded/{{{','.join(PROVIDERS)}}}/*.yaml)"
    elif root is None:
        where = (
            f"expected {EXPECTED} (the repository's ../shared/conformance/recorded; every ancestor of "
            f"{REPO} was searched for shared/conformance/recorded); set {ENV_VAR} to point elsewhere"
        )
    else:
        where = f"{root} holds no cassettes under {{{','.join(PROVIDERS)}}}/*.yaml"
    return f"conformance corpus not found: {where}"


def cassette_ids() -> list[str]:
    """``provider/stem`` for every cassette, sorted (stable test ids)."""
    root = corpus_dir()
    if root is None:
        return []
    out = []
    for prov in PROVIDERS:
        d = root / prov
        if d.is_dir():
            out.extend(f"{prov}/{p.stem}" for p in sorted(d.glob("*.yaml")))
    return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load(cassette_id: str) -> list[dict[str, Any]]:
    root = corpus_dir()
    assert root is not None
    with open(root / f"{cassette_id}.yaml", encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)["interactions"]


def is_chat_path(path: str) -> bool:
    """The two endpoints llmswitch serves: Chat Completions and Anthropic Messages."""
    return path.endswith("/chat/completions") or path == "/v1/messages"


@dataclass(frozen=True)
class Interaction:
    cassette: str  # provider/stem
    index: int
    method: str
    path: str
    data: dict[str, Any]

    @property
    def provider(self) -> str:
        return self.cassette.split("/", 1)[0]

    @property
    def stem(self) -> str:
        return self.cassette.split("/", 1)[1]

    @property
    def request(self) -> dict[str, Any]:
        return self.data["request"].get("parsed_body") or {}

    @property
    def response(self) -> dict[str, Any]:
        return self.data["response"]

    @property
    def status(self) -> int:
        return int(self.response["status"]["code"])

    @property
    def is_chat(self) -> bool:
        return is_chat_path(self.path)

    @property
    def skip(self) -> str | None:
        return skip_reason(self.cassette, self.index, self.method, self.path, self.provider)


def interactions(cassette_id: str) -> list[Interaction]:
    out = []
    for i, it in enumerate(load(cassette_id)):
        req = it["request"]
        out.append(Interaction(cassette_id, i, req["method"].upper(), urlparse(req["uri"]).path, it))
    return out
