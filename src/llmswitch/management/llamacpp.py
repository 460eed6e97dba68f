"""``LlamaCppClient``: the server-side view of a llama-server (health, props, slots, metrics).

These endpoints live at the server root, not under ``/v1``, so the client takes either URL and
talks to the root. It uses the shared :class:`~llmswitch._transport.Transport` (one pooled
aiohttp session per loop) so errors are mapped the same way as for providers. Reference:
``reference/wire-protocols.md`` §2.4-2.6.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import SecretStr

from .. import errors as E
from .._transport import Timeouts, Transport
from ..types import ModelInfo

__all__ = ["LlamaCppClient", "EndpointDisabledError", "parse_prometheus", "server_root", "model_info_from_wire"]

_DISABLED_HINTS = {
    "/slots": "restart llama-server with `--slots` (on by default; it was started with `--no-slots`)",
    "/metrics": "restart llama-server with `--metrics` (off by default)",
    "/props": "restart llama-server with `--props` to change properties",
}


class EndpointDisabledError(E.CapabilityError):
    """A llama-server endpoint answered 501: it was not enabled by the server's flags."""

    default_hint = "restart llama-server with the flag that enables this endpoint"


def server_root(url: str) -> str:
    """``http://h:p/v1`` → ``http://h:p``: health, props, slots and metrics are served at the root."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text format → {metric name: value}. Labelled samples keep their labels in the key
    (``name{a="b"}``); comments, blank lines and unparsable values are skipped."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            close = line.rfind("}")
            if close < 0:
                continue
            name, rest = line[: close + 1], line[close + 1 :].split()
        else:
            parts = line.split()
            name, rest = parts[0], parts[1:]
        if not rest:
            continue
        try:
            value = float(rest[0])  # accepts NaN, +Inf, -Inf
        except ValueError:
            continue
        out[name] = value
    return out


class LlamaCppClient:
    """Management calls against one llama-server.

    ``base_url`` may be the server root or its ``/v1`` URL; default ``$LLAMACPP_BASE_URL`` else
    ``http://localhost:8080``. ``api_key`` (default ``$LLAMACPP_API_KEY``) is needed for ``/props``
    and ``/slots`` on servers started with ``--api-key``; ``/health`` and ``/v1/models`` are public.
    ``LlamaCppClient(base_url=None, timeout=30)`` is the design documents' signature.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | SecretStr | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
    ) -> None:
        self.timeout = timeout
        self.base_url = server_root(base_url or os.environ.get("LLAMACPP_BASE_URL") or "http://localhost:8080")
        if api_key is None:
            api_key = os.environ.get("LLAMACPP_API_KEY") or None
        self.api_key: SecretStr | None = SecretStr(api_key) if isinstance(api_key, str) else api_key
        key = self.api_key.get_secret_value() if self.api_key else None
        self.transport = Transport(
            self.base_url,
            provider="llamacpp",
            headers={"User-Agent": "llmswitch/0.1", **({"Authorization": f"Bearer {key}"} if key else {})},
            timeouts=Timeouts(connect=connect_timeout, read=timeout, total=timeout),
            secrets=(key,) if key else (),
            keepalive_timeout=4.0,  # below cpp-httplib's 5 s keep-alive (see LlamaCppProvider)
        )

    def __repr__(self) -> str:
        return f"LlamaCppClient({self.base_url!r}, api_key={'set' if self.api_key else 'none'})"

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.transport.aclose()

    async def __aenter__(self) -> LlamaCppClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # --- helpers ----------------------------------------------------------------------------
    def _disabled(self, path: str, exc: E.ProviderError) -> EndpointDisabledError:
        return EndpointDisabledError(
            f"{path} is disabled on this llama-server ({exc.message})",
            provider="llamacpp",
            status_code=exc.status_code,
            url=exc.url,
            hint=_DISABLED_HINTS.get(path),
            details=exc.details,
        )

    async def _get(self, path: str) -> Any:
        try:
            return await self.transport.get_json(path)
        except E.ProviderError as exc:
            if exc.status_code == 501:
                raise self._disabled(path, exc) from None
            raise

    # --- the calls ----------------------------------------------------------------------------
    async def health_check(self) -> dict[str, Any]:
        """``{"status": "ok"}`` when the model is loaded, ``{"status": "loading"}`` while it loads
        (HTTP 503). A server that does not answer raises ProviderConnectionError."""
        try:
            body = await self.transport.get_json("/health")
        except E.ProviderUnavailableError as exc:
            if exc.status_code == 503:
                return {"status": "loading", "message": exc.message}
            raise
        body = body if isinstance(body, dict) else {}
        # Old builds answered 200 {"status": "no slot available"}; keep their word if not ok.
        return {**body, "status": body.get("status", "ok")}

    async def get_props(self) -> dict[str, Any]:
        """``/props``: per-slot ``n_ctx``, ``total_slots``, ``model_alias``, ``model_path``, build..."""
        props: dict[str, Any] = await self._get("/props")
        return props

    async def get_slots(self) -> list[dict[str, Any]]:
        """``/slots``: one object per slot (``id``, ``n_ctx``, ``is_processing``, ...)."""
        data = await self._get("/slots")
        return data if isinstance(data, list) else []

    async def get_metrics(self) -> dict[str, float]:
        """``/metrics`` (needs ``--metrics``), parsed: ``{"llamacpp:tokens_predicted_total": 16.0, ...}``."""
        try:
            _, raw = await self.transport.request_raw("GET", "/metrics")
        except E.ProviderError as err:
            if err.status_code == 501:
                raise self._disabled("/metrics", err) from None
            raise
        return parse_prometheus(raw.decode("utf-8", "replace"))

    async def list_models(self) -> list[ModelInfo]:
        """``/v1/models``: the served model (its ``--alias``, else the file name) and its metadata."""
        data = await self.transport.get_json("/v1/models")
        items = data.get("data", []) if isinstance(data, dict) else []
        return [model_info_from_wire(m, provider="llamacpp") for m in items if isinstance(m, dict) and m.get("id")]

    async def is_running(self) -> bool:
        """The server answers ``/health`` with ``ok``: up *and* ready for requests.

        A server still loading its model answers 503 and is not "running" in this sense (as the
        design documents define it): a caller that checks this before a request wants to know the
        request will be served. ``health_check()`` tells loading from down when that matters."""
        return await self.is_model_loaded()

    async def is_model_loaded(self) -> bool:
        """The model is loaded and the server takes requests (``/health`` is ok)."""
        try:
            return (await self.health_check()).get("status") == "ok"
        except E.LLMSwitchError:
            return False


def model_info_from_wire(m: dict[str, Any], *, provider: str) -> ModelInfo:
    """One ``/v1/models`` entry. ``meta`` is null while the model loads; newer builds put the
    served ``n_ctx`` in it, older ones only ``n_ctx_train``. Router mode adds ``status.value``."""
    meta = m.get("meta") if isinstance(m.get("meta"), dict) else None
    status = m.get("status") if isinstance(m.get("status"), dict) else None
    if status is not None:
        loaded: bool | None = status.get("value") == "loaded"
    else:
        loaded = meta is not None
    ctx = None
    size = None
    if meta:
        ctx = meta.get("n_ctx") or meta.get("n_ctx_train")
        size = meta.get("size")
    n_params = (meta or {}).get("n_params")
    param_size = None
    if isinstance(n_params, (int, float)) and n_params > 0:
        exp = int(math.log10(n_params))
        param_size = f"{n_params / 1e9:.1f}B" if exp >= 9 else f"{n_params / 1e6:.0f}M"
    return ModelInfo(
        id=m["id"],
        provider=provider,
        context_length=int(ctx) if isinstance(ctx, (int, float)) else None,
        size_bytes=int(size) if isinstance(size, (int, float)) else None,
        loaded=loaded,
        type="llm",
        parameter_size=param_size,
        metadata={k: v for k, v in m.items() if k not in ("id", "object")},
    )
