"""``auto``: the first healthy backend, probed concurrently with a short timeout.

Order (DESIGN.md): configured providers, then the default local endpoints (LM Studio :1234,
Ollama :11434, llama.cpp :8080, vLLM :8000), then a cloud provider whose key is set. The
choice is remembered for the process.
"""

from __future__ import annotations

import asyncio
import os

from .errors import ConfigError
from .providers import BaseProvider, create_provider

__all__ = ["resolve_auto", "candidates", "reset_auto"]

LOCAL_DEFAULTS: list[tuple[str, str]] = [
    ("lmstudio", "http://localhost:1234/v1"),
    ("ollama", "http://localhost:11434"),
    ("llamacpp", "http://localhost:8080/v1"),
    ("vllm", "http://localhost:8000/v1"),
]
CLOUD_KEYS: list[tuple[str, str]] = [
    ("openai", "OPENAI_API_KEY"),
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("openrouter", "OPENROUTER_API_KEY"),
]
PROBE_TIMEOUT = 1.5

_chosen: tuple[BaseProvider, str | None] | None = None


def reset_auto() -> None:
    global _chosen
    _chosen = None


def candidates() -> list[BaseProvider]:
    out: list[BaseProvider] = []
    for type_name, url in LOCAL_DEFAULTS:
        try:
            out.append(create_provider(type_name, base_url=url, connect_timeout=PROBE_TIMEOUT, timeout=PROBE_TIMEOUT))
        except ConfigError:
            continue
    return out


async def resolve_auto(model: str | None = None) -> tuple[BaseProvider, str | None]:
    global _chosen
    if _chosen is not None:
        return _chosen[0], model or _chosen[1]
    probes = candidates()
    results = await asyncio.gather(*(asyncio.wait_for(p.health_check(), PROBE_TIMEOUT + 0.5) for p in probes), return_exceptions=True)
    tried: list[str] = []
    for p, r in zip(probes, results):
        if not isinstance(r, BaseException) and r.connected and r.model_detected:
            fresh = create_provider(p.provider_type.value, base_url=p.base_url)
            _chosen = (fresh, r.model_id)
            for q in probes:
                await q.aclose()
            return fresh, model or r.model_id
        tried.append(f"{p.name} at {p.base_url}: {getattr(r, 'error', r)}")
    for q in probes:
        await q.aclose()
    for type_name, env in CLOUD_KEYS:
        if os.environ.get(env):
            try:
                provider = create_provider(type_name)
            except ConfigError:
                continue
            _chosen = (provider, None)
            return provider, model
        tried.append(f"{type_name}: {env} is not set")
    raise ConfigError(
        "no LLM backend found. Tried:\n  - " + "\n  - ".join(tried) + "\nStart a local server "
        "(`llmswitch local start` after `pip install 'llmswitch[local]'`), or set an API key such as OPENAI_API_KEY."
    )
