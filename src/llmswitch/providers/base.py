"""The provider protocol and the base class every provider module builds on.

A provider module is small on purpose: defaults (base URL, env vars), how it checks health,
lists and detects models, and which wire module it speaks. Everything else — pooling, error
mapping, usage totals, call observers, the stream wrapper — lives here once.
"""

from __future__ import annotations

import os
import time
from typing import Any, AsyncIterator, Callable, ClassVar, Iterable, Protocol, Sequence, runtime_checkable

from pydantic import SecretStr

from .. import errors as E
from ..limits import Limits
from ..streaming import ResponseStream
from ..transport import Timeouts, Transport
from ..types import (
    Message,
    ModelInfo,
    ProviderCapabilities,
    ProviderHealthStatus,
    ProviderType,
    Response,
    StreamEvent,
    TokenUsage,
    Tool,
)

__all__ = ["LLMProviderProtocol", "BaseProvider", "CallObserver", "add_call_observer", "remove_call_observer", "as_messages"]

CallObserver = Callable[["BaseProvider", str, "Response | None", "BaseException | None", float], None]
"""Called after every call: (provider, model, response or None, error or None, seconds)."""

_observers: list[CallObserver] = []


def add_call_observer(fn: CallObserver) -> None:
    """Hook for usage logs and metrics; observers must be cheap and must not raise."""
    if fn not in _observers:
        _observers.append(fn)


def remove_call_observer(fn: CallObserver) -> None:
    if fn in _observers:
        _observers.remove(fn)


@runtime_checkable
class LLMProviderProtocol(Protocol):
    provider_type: ProviderType
    usage: TokenUsage

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    async def health_check(self) -> ProviderHealthStatus: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def detect_model(self) -> str | None: ...

    async def complete(self, messages: Any, *, model: str | None = None, tools: Any = None, **params: Any) -> Response: ...

    def stream(self, messages: Any, *, model: str | None = None, tools: Any = None, **params: Any) -> ResponseStream: ...

    def create_model(self, model_name: str | None = None) -> Any: ...

    async def create_model_async(
        self, model_name: str | None = None, auto_detect: bool = True, test_connection: bool = True
    ) -> Any: ...


_PRICER: list[Any] = []


def _pricer() -> Callable[..., Any] | None:
    """``usage.pricing.price_usage``, looked up once: a failed import, retried on every call,
    cost ~80 µs per call (the import system searches the path each time)."""
    if not _PRICER:
        try:
            from ..usage.pricing import price_usage
        except ImportError:
            price_usage = None
        _PRICER.append(price_usage)
    return _PRICER[0]


def as_messages(messages: str | Message | Iterable[Message | dict[str, Any]]) -> list[Message]:
    """Accept a bare prompt, one Message, or a list of Messages / OpenAI-style dicts."""
    if isinstance(messages, str):
        return [Message.user(messages)]
    if isinstance(messages, Message):
        return [messages]
    out: list[Message] = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, dict):
            out.append(Message(role=m["role"], content=m.get("content"), tool_call_id=m.get("tool_call_id"), name=m.get("name")))
        else:
            raise TypeError(f"not a message: {m!r}")
    return out


def as_tools(tools: Sequence[Tool | Callable[..., Any]] | None) -> list[Tool] | None:
    if not tools:
        return None
    return [t if isinstance(t, Tool) else Tool.from_function(t) for t in tools]


class BaseProvider:
    """Common machinery; subclasses implement ``_complete``, ``_stream`` and the model/health calls."""

    provider_type: ClassVar[ProviderType]
    default_base_url: ClassVar[str] = ""
    api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    requires_api_key: ClassVar[bool] = False
    is_local: ClassVar[bool] = False
    default_capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities()

    def __init__(
        self,
        *,
        name: str | None = None,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        default_model: str | None = None,
        timeout: float | None = 600.0,
        connect_timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        default_max_tokens: int | None = None,
        **options: Any,
    ) -> None:
        self.name = name or self.provider_type.value
        env_url = os.environ.get(self.base_url_env) if self.base_url_env else None
        self.base_url = self._normalize_base_url(base_url or env_url or self.default_base_url)
        if api_key is None and self.api_key_env:
            api_key = os.environ.get(self.api_key_env) or None
        self.api_key: SecretStr | None = (
            api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
        )
        self.default_model = default_model
        self.default_max_tokens = default_max_tokens
        self.options = options
        self.usage = TokenUsage()
        self._capabilities = self.default_capabilities
        self._extra_headers = dict(headers or {})
        self._timeouts = Timeouts(connect=connect_timeout, read=timeout)
        self._limits = Limits.from_options(options)
        self._transport: Transport | None = None
        self._detected_model: str | None = None

    # --- plumbing --------------------------------------------------------------------
    @staticmethod
    def _normalize_base_url(url: str) -> str:
        return url.rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key.get_secret_value() if self.api_key else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def transport(self) -> Transport:
        t = self._transport
        if t is None:
            key = self.api_key.get_secret_value() if self.api_key else None
            headers = {"User-Agent": "llmswitch/0.1", **self.auth_headers(), **self._extra_headers}
            t = self._transport = Transport(
                self.base_url,
                provider=self.name,
                headers=headers,
                timeouts=self._timeouts,
                secrets=(key,) if key else (),
                limits=self._limits,
            )
        return t

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()

    async def __aenter__(self) -> "BaseProvider":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, default_model={self.default_model!r}, api_key={key})"

    @property
    def capabilities(self) -> ProviderCapabilities:
        return self._capabilities

    def _check_key(self) -> None:
        if self.requires_api_key and not self.api_key:
            env = f" set {self.api_key_env} or" if self.api_key_env else ""
            raise E.AuthenticationError(
                "no API key configured",
                provider=self.name,
                url=self.base_url,
                hint=f"{env} pass api_key=... (or `llmswitch keys set {self.name}`)".strip(),
            )

    async def resolve_model(self, model: str | None) -> str:
        """The explicit model, else the configured default, else the server's detected one."""
        if model:
            return model
        if self.default_model:
            return self.default_model
        if self._detected_model:
            return self._detected_model
        detected = await self.detect_model()
        if not detected:
            raise E.ModelNotFoundError(
                "no model given and none could be detected",
                provider=self.name,
                url=self.base_url,
                hint=f"pass a model as '{self.name}:MODEL' or set default_model",
            )
        self._detected_model = detected
        return detected

    # --- accounting --------------------------------------------------------------------
    def _price(self, response: Response) -> None:
        """Fill ``usage.cost`` where the provider did not report it."""
        if response.usage.cost is not None:
            return
        if self.is_local:
            response.usage.cost = 0.0
            return
        price_usage = _pricer()
        if price_usage is None:
            return
        response.usage.cost = price_usage(self.provider_type.value, response.model, response.usage)

    def _record(self, model: str, response: Response | None, error: BaseException | None, seconds: float) -> None:
        if response is not None:
            self._price(response)
            self.usage.record(response.usage)
        else:
            self.usage.record_error()
        for obs in _observers:
            try:
                obs(self, model, response, error, seconds)
            except Exception:  # an observer must never break a call
                pass

    # --- public calls --------------------------------------------------------------------
    async def complete(
        self,
        messages: str | Message | Iterable[Message | dict[str, Any]],
        *,
        model: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        **params: Any,
    ) -> Response:
        self._check_key()
        model_id = await self.resolve_model(model)
        started = time.perf_counter()
        try:
            resp = await self._complete(model_id, as_messages(messages), as_tools(tools), params)
        except BaseException as exc:
            self._record(model_id, None, exc, time.perf_counter() - started)
            raise
        self._record(model_id, resp, None, resp.latency)
        return resp

    def stream(
        self,
        messages: str | Message | Iterable[Message | dict[str, Any]],
        *,
        model: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        **params: Any,
    ) -> ResponseStream:
        msgs = as_messages(messages)
        tool_list = as_tools(tools)
        state: dict[str, Any] = {"model": model or self.default_model or "", "t": time.perf_counter()}

        async def source() -> AsyncIterator[StreamEvent | Response]:
            self._check_key()
            model_id = await self.resolve_model(model)
            state["model"] = model_id
            async for item in self._stream(model_id, msgs, tool_list, params):
                yield item

        def on_done(final: Response | None, error: BaseException | None) -> None:
            self._record(state["model"], final, error, time.perf_counter() - state["t"])

        return ResponseStream(source(), on_done)

    # --- to implement ----------------------------------------------------------------------
    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        raise NotImplementedError

    def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        raise NotImplementedError

    async def list_models(self) -> list[ModelInfo]:
        raise NotImplementedError

    async def detect_model(self) -> str | None:
        """The configured default if the server has it, else the first model the server lists."""
        models = await self.list_models()
        if not models:
            return None
        ids = [m.id for m in models]
        if self.default_model and self.default_model in ids:
            return self.default_model
        loaded = [m.id for m in models if m.loaded]
        return loaded[0] if loaded else ids[0]

    async def health_check(self) -> ProviderHealthStatus:
        """Connected + model detected. Never raises: failures are reported in ``error``.

        Providers override ``_probe_health`` (what to ask their server); how failures become a
        status lives here once, so every provider reports them the same way."""
        started = time.perf_counter()
        status = ProviderHealthStatus(
            connected=False, model_detected=False, model_id=None, base_url=self.base_url, provider_type=self.provider_type
        )
        try:
            self._check_key()
            await self._probe_health(status)
        except E.AuthenticationError as exc:
            # reachable, but not for us: not usable, which is what connected=False tells auto/doctor
            status.connected = status.model_detected = False
            status.metadata["status"] = "unauthorized"
            status.error = str(exc)
        except E.LLMSwitchError as exc:
            # an HTTP answer, even an error, means the server is there
            status.connected = isinstance(exc, E.ProviderError) and exc.status_code is not None
            status.error = str(exc)
        except Exception as exc:  # health must never raise
            status.error = f"{type(exc).__name__}: {E.redact(str(exc))}"
        status.latency_ms = (time.perf_counter() - started) * 1000
        return status

    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """The model list answers, and offers the configured model (or any, when none is configured)."""
        models = await self.list_models()
        status.connected = True
        ids = [m.id for m in models]
        status.metadata["models"] = len(ids)
        found = self.default_model if self.default_model and (self.default_model in ids or not ids) else None
        loaded = [m.id for m in models if m.loaded]
        self._settle_model(
            status,
            found,
            loaded[0] if loaded else (ids[0] if ids else None),
            missing=f"model {self.default_model!r} is not offered by the server",
            empty="the server is up but offers no model",
        )

    def _settle_model(
        self, status: ProviderHealthStatus, default_found: str | None, picked: str | None, *, missing: str, empty: str
    ) -> None:
        """Record the model verdict: the configured model if it was found (under the id the server
        uses), else the picked one when nothing is configured, else the given error."""
        if self.default_model:
            status.model_id = default_found or self.default_model
            status.model_detected = default_found is not None
            if default_found is None:
                status.error = missing
        elif picked:
            status.model_id = picked
            status.model_detected = True
        else:
            status.error = empty

    def create_model(self, model_name: str | None = None) -> Any:
        from ..integrations.pydantic_ai import create_model

        return create_model(self, model_name)

    async def create_model_async(
        self, model_name: str | None = None, auto_detect: bool = True, test_connection: bool = True
    ) -> Any:
        from ..integrations.pydantic_ai import create_model_async

        return await create_model_async(self, model_name, auto_detect=auto_detect, test_connection=test_connection)
