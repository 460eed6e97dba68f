"""``OllamaClient``: list, inspect, pull and delete the models of an Ollama server.

Native API only (``ollama:docs/api.md``; shapes in ``reference/wire-protocols.md`` §1.2-1.7).
One pooled ``Transport`` per client. Its read timeout is off, because a pull of a large model
has no natural upper bound; every short call passes its own total timeout instead. Native
errors (``{"error": "..."}``) are mapped by the transport, and an ``{"error": ...}`` line in
the 200 pull stream is raised, never mistaken for the end of the download.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from .. import errors as E
from .._limits import Limits
from .._transport import Timeouts, Transport
from .._wire.ollama import error_from_line, iter_ndjson, refine_error
from ..types import ModelInfo, ProviderCapabilities

__all__ = [
    "DEFAULT_HOST",
    "resolve_host",
    "normalize_host",
    "same_model",
    "model_info_from_entry",
    "PullProgress",
    "OllamaModelDetails",
    "OllamaClient",
]

DEFAULT_HOST = "http://localhost:11434"
DEFAULT_PORT = 11434


def normalize_host(value: str) -> str:
    """An Ollama address as users write it → a base URL without ``/v1`` or ``/api``.

    Mirrors ``OLLAMA_HOST`` parsing in Ollama's ``envconfig.Host``: a bare ``host`` or
    ``host:port`` means ``http``, a bare host gets port 11434, ``0.0.0.0`` (a server's bind-all
    address, often left in the variable) is reached on loopback."""
    s = value.strip().rstrip("/")
    if not s:
        return DEFAULT_HOST
    explicit_scheme = "://" in s
    if not explicit_scheme:
        s = "http://" + s
    parts = urlsplit(s)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and not explicit_scheme:
        port = DEFAULT_PORT
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/v1", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return f"{parts.scheme}://{netloc}{path}"


def resolve_host(value: str | None = None) -> str:
    """The given address, else ``$OLLAMA_HOST``, else ``http://localhost:11434``."""
    return normalize_host(value or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST)


def _full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def same_model(a: str, b: str) -> bool:
    """``llama3.2`` and ``llama3.2:latest`` are the same model (the tag defaults to ``latest``)."""
    return _full_name(a) == _full_name(b)


def model_info_from_entry(m: Mapping[str, Any], *, provider: str = "ollama", loaded: bool | None = None) -> ModelInfo:
    """One ``/api/tags`` or ``/api/ps`` entry as ``ModelInfo``."""
    d = m.get("details") or {}
    caps = m.get("capabilities")
    meta: dict[str, Any] = {
        k: v
        for k, v in (
            ("format", d.get("format")),
            ("families", d.get("families")),
            ("parent_model", d.get("parent_model") or None),
            ("capabilities", caps),
            ("expires_at", m.get("expires_at")),
            ("size_vram", m.get("size_vram")),
            ("remote_host", m.get("remote_host")),
        )
        if v is not None
    }
    kind = None
    if isinstance(caps, list):
        kind = "embedding" if "embedding" in caps and "completion" not in caps else "llm"
    return ModelInfo(
        id=m.get("name") or m.get("model") or "",
        provider=provider,
        name=m.get("model"),
        context_length=m.get("context_length") or d.get("context_length"),
        size_bytes=m.get("size"),
        loaded=loaded,
        type=kind,
        family=d.get("family"),
        parameter_size=d.get("parameter_size"),
        quantization=d.get("quantization_level"),
        digest=m.get("digest"),
        modified_at=m.get("modified_at"),
        metadata=meta,
    )


@dataclass(slots=True)
class PullProgress:
    """One line of ``/api/pull``: a status, and for a layer download its digest and byte counts.

    ``completed`` may be missing until the first bytes arrive (docs §Pull a Model)."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None

    @property
    def done(self) -> bool:
        """The pull finished (Ollama's last line says ``success``)."""
        return self.status == "success"

    @property
    def layer(self) -> str | None:
        """The short layer name Ollama itself prints: 12 hex characters after ``sha256:``."""
        if not self.digest:
            return None
        return self.digest.split(":", 1)[-1][:12]

    @property
    def fraction(self) -> float | None:
        """Share of the current layer downloaded, 0..1; None until the server sends a total."""
        if not self.total:
            return None
        return min(1.0, (self.completed or 0) / self.total)

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> PullProgress:
        """One NDJSON line → progress. The server's values are not trusted: a byte count that is
        not a non-negative whole number is unknown (None), a digest that is not a string is
        dropped, so a display built on this never divides by a string or a negative total."""
        digest = line.get("digest")
        return cls(
            status=str(line.get("status") or ""),
            digest=digest if isinstance(digest, str) and digest else None,
            total=_byte_count(line.get("total")),
            completed=_byte_count(line.get("completed")),
        )


def _byte_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or value == float("inf"):  # NaN, negative, infinite
        return None
    return int(value)


_PARAM_LINE = re.compile(r"^(\S+)\s+(.*)$")


def _parse_parameters(text: str | None) -> dict[str, Any]:
    """``num_ctx 8192\\nstop "<|eot_id|>"`` → ``{"num_ctx": 8192, "stop": "<|eot_id|>"}``; a key
    given more than once (``stop``) becomes a list."""
    out: dict[str, Any] = {}
    for line in (text or "").splitlines():
        m = _PARAM_LINE.match(line.strip())
        if not m:
            continue
        key, raw = m.group(1), m.group(2).strip()
        value: Any
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = raw[1:-1]
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


@dataclass(slots=True)
class OllamaModelDetails:
    """What ``/api/show`` says about one model, with the fields a caller needs lifted out."""

    name: str
    capabilities: list[str] | None
    """``completion``, ``tools``, ``vision``, ``thinking``, ``embedding`` …; None on servers too old to say."""
    context_length: int | None = None
    """The trained context length (``model_info["<arch>.context_length"]``)."""
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    format: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_text: str = ""
    template: str = ""
    system: str | None = None
    license: str | None = None
    modified_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_show(cls, name: str, body: Mapping[str, Any]) -> OllamaModelDetails:
        """``/api/show``'s answer, with the context length found under the model's architecture key."""
        d = body.get("details") or {}
        info = body.get("model_info") or {}
        arch = info.get("general.architecture")
        ctx = info.get(f"{arch}.context_length") if arch else None
        if ctx is None:
            ctx = next((v for k, v in info.items() if k.endswith(".context_length")), None)
        caps = body.get("capabilities")
        return cls(
            name=name,
            capabilities=list(caps) if isinstance(caps, list) else None,
            context_length=int(ctx) if isinstance(ctx, (int, float)) else None,
            family=d.get("family"),
            parameter_size=d.get("parameter_size"),
            quantization=d.get("quantization_level"),
            format=d.get("format"),
            parameters=_parse_parameters(body.get("parameters")),
            parameters_text=body.get("parameters") or "",
            template=body.get("template") or "",
            system=body.get("system"),
            license=body.get("license"),
            modified_at=body.get("modified_at"),
            raw=dict(body),
        )

    def supports(self, capability: str) -> bool | None:
        """True/False from the server's list; None when the server does not report capabilities."""
        return None if self.capabilities is None else capability in self.capabilities

    def to_capabilities(self, default: ProviderCapabilities | None = None) -> ProviderCapabilities:
        """Per-model capabilities; where the server is silent, the provider's defaults stand."""
        base = default or ProviderCapabilities(tools=True, vision=False, thinking=False, model_management=True, local=True)
        if self.capabilities is None:
            return base
        caps = self.capabilities
        return ProviderCapabilities(
            streaming=base.streaming,
            tools="tools" in caps,
            vision="vision" in caps,
            thinking="thinking" in caps,
            json_mode=base.json_mode,
            model_management=base.model_management,
            local=base.local,
        )

    @property
    def num_ctx(self) -> int | None:
        """The context a request gets unless it sets ``num_ctx`` itself (Modelfile ``PARAMETER``)."""
        v = self.parameters.get("num_ctx")
        return v if isinstance(v, int) else None


_PULL_IDLE = 300.0
"""Seconds without a byte before a management call (a pull, mostly) is declared stalled."""


class OllamaClient:
    """Model management for one Ollama server; ``async with OllamaClient() as c: ...``.

    The address is ``host`` (positional, as ``OLLAMA_HOST`` is written) or ``base_url=`` (the
    design documents' keyword; a ``/v1`` suffix is tolerated), else ``$OLLAMA_HOST``. ``timeout``
    bounds each short call (60 s, as the documents have it); a pull has no total deadline."""

    def __init__(
        self,
        host: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        api_key: str | SecretStr | None = None,
        name: str = "ollama",
        limits: Limits | None = None,
    ) -> None:
        if host is not None and base_url is not None and normalize_host(host) != normalize_host(base_url):
            raise ValueError(f"OllamaClient got two addresses, host={host!r} and base_url={base_url!r}; give one")
        self.base_url = resolve_host(host if host is not None else base_url)
        self.timeout = timeout
        self.name = name
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        headers = {"User-Agent": "llmswitch/0.1"}
        if key:  # Ollama's cloud API (ollama.com) wants a Bearer key; a local server needs none
            headers["Authorization"] = f"Bearer {key}"
        self.transport = Transport(
            self.base_url,
            provider=name,
            headers=headers,
            # a pull of several GB has no total deadline, but a server silent for 5 minutes is stalled
            timeouts=Timeouts(connect=connect_timeout, read=_PULL_IDLE, total=None),
            secrets=(key,) if key else (),
            limits=limits,
        )

    def __repr__(self) -> str:
        return f"OllamaClient({self.base_url!r})"

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.transport.aclose()

    async def __aenter__(self) -> OllamaClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, body: Any = None, *, model: str | None = None) -> Any:
        try:
            return (await self.transport.request(method, path, json_body=body, model=model, timeout=self.timeout))[1]
        except E.ProviderError as err:
            raise refine_error(err, model) from None

    # --- information ---------------------------------------------------------------------
    async def version(self) -> str:
        """The server's version string, empty when it does not say."""
        data = await self._call("GET", "/api/version")
        return str((data or {}).get("version", ""))

    async def is_running(self) -> bool:
        """True if the server answers; never raises."""
        try:
            await self.version()
        except E.LLMSwitchError:
            return False
        return True

    async def list_models(self) -> list[ModelInfo]:
        """Models on disk (``/api/tags``); ``loaded`` is left unknown (see ``list_running``)."""
        data = await self._call("GET", "/api/tags")
        return [model_info_from_entry(m, provider=self.name) for m in (data or {}).get("models") or () if isinstance(m, dict)]

    async def list_running(self) -> list[ModelInfo]:
        """Models loaded in memory (``/api/ps``), with ``context_length`` on servers ≥ 0.9.7."""
        data = await self._call("GET", "/api/ps")
        return [
            model_info_from_entry(m, provider=self.name, loaded=True)
            for m in (data or {}).get("models") or ()
            if isinstance(m, dict)
        ]

    async def get_model_info(self, name: str) -> OllamaModelDetails:
        """``/api/show``: parameters, template, context length and capabilities of one model."""
        data = await self._call("POST", "/api/show", {"model": name}, model=name)
        return OllamaModelDetails.from_show(name, data or {})

    # --- changes -----------------------------------------------------------------------------
    async def delete_model(self, name: str) -> bool:
        """Delete a model; a model that is not there raises ``ModelNotFoundError`` (Ollama's 404)."""
        try:
            await self.transport.request("DELETE", "/api/delete", json_body={"model": name}, model=name, timeout=self.timeout)
        except E.ModelNotFoundError as err:
            raise E.ModelNotFoundError(
                err.message,
                provider=err.provider,
                model=name,
                status_code=err.status_code,
                url=err.url,
                details=err.details,
                hint="nothing to delete; `llmswitch models ollama` lists what is on disk",
            ) from None
        return True

    async def pull_model(self, name: str, *, insecure: bool = False) -> AsyncIterator[PullProgress]:
        """Download a model, yielding each progress line; the last one has ``status == "success"``.

        No overall timeout. An error before the stream starts is the mapped HTTP error; an
        ``{"error": ...}`` line after it (unknown model: ``pull model manifest: file does not
        exist``) raises too, as does a stream that ends without ``success``."""
        body: dict[str, Any] = {"model": name, "stream": True}
        if insecure:
            body["insecure"] = True
        url = self.transport.url("/api/pull")
        try:
            async with self.transport.stream("POST", "/api/pull", json_body=body, model=name) as resp:
                finished = False
                lines = iter_ndjson(
                    resp.content.iter_any(), provider=self.name, url=url, max_line_bytes=self.transport.limits.max_line_bytes
                )
                async for line in lines:
                    if not isinstance(line, dict):
                        continue
                    if line.get("error") is not None:
                        err = error_from_line(line, provider=self.name, url=url, model=name)
                        if isinstance(err, E.ModelNotFoundError):
                            err = E.ModelNotFoundError(
                                err.message,
                                provider=self.name,
                                model=name,
                                status_code=200,
                                url=url,
                                details=err.details,
                                hint=f"no model {name!r} in the registry; check the name and tag at https://ollama.com/library",
                            )
                        raise err
                    progress = PullProgress.from_line(line)
                    finished = finished or progress.done
                    yield progress
        except E.ProviderError:
            raise
        except Exception as exc:
            import aiohttp

            if isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError)):
                raise self.transport.wrap_stream_error(exc, "/api/pull") from None
            raise
        if not finished:
            raise E.ProviderConnectionError(
                f"the pull of {name!r} ended before `success`",
                provider=self.name,
                url=url,
                model=name,
                hint="the connection was cut; run the pull again (finished layers are kept)",
            )

