"""The provider protocol and the base class every provider module builds on.

A provider module is small on purpose: defaults (base URL, env vars), how it checks health,
lists and detects models, and which wire module it speaks. Everything else — pooling, error
mapping, usage totals, call observers, the stream wrapper — lives here once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from .. import _observe
from .. import errors as E
from .. import hooks as _hooks
from .._env import expand_vars
from .._limits import Limits, check_seconds
from .._streaming import ResponseStream
from .._transport import Timeouts, Transport, call_deadline, reset_call_deadline, set_call_deadline
from ..hooks import CallObserver, Pricer, add_call_observer, remove_call_observer
from ..routing.admission import Ticket, admit
from ..routing.breaker import CircuitBreaker
from ..routing.budget import Budget
from ..routing.ratelimit import RateLimit
from ..routing.retry import RetryPolicy
from ..routing.shared_breaker import SharedBreaker
from ..state import StateBackend, default_backend
from ..types import (
    ImagePart,
    Message,
    ModelInfo,
    ProviderCapabilities,
    ProviderHealthStatus,
    ProviderType,
    Response,
    StreamEvent,
    TokenUsage,
    Tool,
    as_tools,
)

__all__ = ["LLMProviderProtocol", "BaseProvider", "CallObserver", "add_call_observer", "remove_call_observer", "as_messages"]

# The extension points live below providers/ (``llmswitch.hooks``); these names are kept here for
# the code that imports them from this module. ``_observers`` and ``_PRICER`` are the hooks' own
# lists, bound once, so the call path reads them as module globals.
_observers: list[CallObserver] = _hooks.call_observers
_PRICER: list[Pricer] = _hooks.pricer
_TAP: list[bool] = _hooks.tap
"""Non-empty while a hook is registered anywhere: the call path then builds a ``hooks.Call``."""
_CALLS_LOG = _observe.CALLS_LOG
_INFO = 20  # logging.INFO: the call path asks ``_CALLS_LOG.isEnabledFor(_INFO)`` (a cached look-up)


@runtime_checkable
class LLMProviderProtocol(Protocol):
    """What callers may rely on from any provider, a ``BaseProvider`` subclass or not (``isinstance`` checks it)."""

    provider_type: ProviderType
    usage: TokenUsage

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the provider takes (tools, images, thinking), checked before a call is sent."""
        ...

    async def health_check(self) -> ProviderHealthStatus:
        """Whether the server answers and offers a model; failures are reported, not raised."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """The models the server offers."""
        ...

    async def detect_model(self) -> str | None:
        """The model to use when none is given, or None when the server offers none."""
        ...

    async def complete(self, messages: Any, *, model: str | None = None, tools: Any = None, **params: Any) -> Response:
        """One whole answer to ``messages``."""
        ...

    def stream(self, messages: Any, *, model: str | None = None, tools: Any = None, **params: Any) -> ResponseStream:
        """The answer as it is generated; ``await stream.final()`` gives the whole Response."""
        ...

    def create_model(self, model_name: str | None = None) -> Any:
        """The pydantic-ai model for this provider."""
        ...

    async def create_model_async(
        self, model_name: str | None = None, auto_detect: bool = True, test_connection: bool = True
    ) -> Any:
        """``create_model`` after checking the server and detecting the model."""
        ...


_ACCEPTED_MESSAGES = "a prompt string, a Message, or a list of Messages / {'role': ..., 'content': ...} dicts"


def as_messages(messages: str | Message | Iterable[Message | dict[str, Any]]) -> list[Message]:
    """Accept a bare prompt, one Message, or a list of Messages / OpenAI-style dicts; anything
    else is a TypeError/ValueError that names what is accepted (raised before any request)."""
    if isinstance(messages, str):
        return [Message.user(messages)]
    if isinstance(messages, Message):
        return [messages]
    if type(messages) is list and messages:  # the common call: a list of Messages, copied as the loop below would
        for m in messages:
            if type(m) is not Message:
                break
        else:
            return messages.copy()
    if messages is None or isinstance(messages, (bytes, dict)) or not hasattr(messages, "__iter__"):
        raise TypeError(f"messages must be {_ACCEPTED_MESSAGES}; got {type(messages).__name__}")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, dict):
            role = m.get("role")
            if not isinstance(role, str) or not role:
                raise ValueError(f"message {i} has no 'role' (one of system, user, assistant, tool): {sorted(m)!r}")
            out.append(Message(role=role, content=m.get("content"), tool_call_id=m.get("tool_call_id"), name=m.get("name")))  # type: ignore[arg-type]
        else:
            raise TypeError(f"message {i} is a {type(m).__name__}; messages must be {_ACCEPTED_MESSAGES}")
    if not out:
        raise ValueError("messages is empty; give at least one message")
    return out


_FIELD = {"tools": "tools", "images": "vision", "thinking": "thinking"}
_MAX_CACHED_MODELS = 1024
_THINKING_OFF = frozenset({"none", "disabled", "off", "false", "0"})


def _asks_thinking(value: Any) -> bool:
    """Whether a thinking parameter's value asks for thinking: ``think=False``,
    ``reasoning_effort="none"`` and ``thinking={"type": "disabled"}`` do not."""
    if value is None or value is False or value == 0:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in _THINKING_OFF
    if isinstance(value, dict):
        return not (value.get("type") == "disabled" or value.get("enabled") is False or value.get("effort") == "none")
    return True


_BACKSTOP_GRACE = 0.5

_PUBLIC_HEADERS = frozenset(
    {"user-agent", "accept", "content-type", "http-referer", "referer", "x-title", "anthropic-version", "anthropic-beta"}
)
"""Custom headers whose values are not secrets; every other custom header value is redacted."""


def _in_turn(*steps: Awaitable[None] | None) -> Awaitable[None] | None:
    """What a stream's ``on_done`` returns for several steps: None when there is none, else one
    awaitable running them in order."""
    todo = [s for s in steps if s is not None]
    if not todo:
        return None
    if len(todo) == 1:
        return todo[0]

    async def run() -> None:
        for step in todo:
            await step

    return run()


def _expanded(value: Any, field: str) -> Any:
    """``api_key="${ANTHROPIC_API_KEY}"`` in code, as the design documents write it: expanded the
    way the config file expands it; a variable that is not set is a ConfigError naming it."""
    if not isinstance(value, str) or "$" not in value:
        return value
    missing: list[str] = []
    out = expand_vars(value, missing)
    if missing:
        name = missing[0]
        raise E.ConfigError(f"{field} names ${{{name}}}, which is not set: export {name}=... or pass the value itself")
    return out


class BaseProvider:
    """Common machinery; subclasses implement ``_complete``, ``_stream`` and the model/health calls."""

    provider_type: ClassVar[ProviderType]
    default_base_url: ClassVar[str] = ""
    api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    requires_api_key: ClassVar[bool] = False
    is_local: ClassVar[bool] = False
    auto_rank: ClassVar[int | None] = None
    """Where ``auto`` (and ``doctor``, ``config init``) put this type: local types with a rank are
    probed at ``default_base_url`` in rank order; cloud types with a rank are taken, in rank order,
    when their key is set. None: never picked implicitly (a generic type with no fixed address)."""
    type_hints: ClassVar[tuple[str, ...]] = ()
    """Name or model prefixes that make a config entry without ``type:`` this type (``claude`` →
    anthropic), as the design documents' config leaves it out; several claimants is an error."""
    default_chat_model: ClassVar[str | None] = None
    """The model ``auto`` names for a cloud type: a cloud listing's first model is arbitrary (often
    an old or non-chat one). Local servers say which model they serve, so they leave it None."""
    keepalive_timeout: ClassVar[float] = 15.0
    """Seconds an idle pooled connection is kept; below the server's own keep-alive limit, so a
    request is never written to a connection the server is about to close."""
    default_capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities()
    """What the provider takes; None fields are unknown and allowed (see ``ProviderCapabilities``)."""
    # --- declared data: read by the call path, pricing and the integrations instead of if-chains
    # on ``provider_type`` (README "Capabilities"), so a new provider is one class, not five edits.
    model_capabilities_table: ClassVar[tuple[tuple[str, ProviderCapabilities], ...]] = ()
    """(model id prefix, what models with that prefix take), first match wins; laid over
    ``default_capabilities``. Only what is documented as refused belongs here."""
    thinking_params: ClassVar[tuple[str, ...]] = ()
    """The call parameters that ask this wire for thinking (``think``, ``thinking``, ``reasoning_effort``)."""
    wire_format: ClassVar[str] = ""
    """The wire format spoken: ``openai-chat``, ``anthropic``, ``ollama`` or ``litellm`` (in-process)."""
    pydantic_ai_kind: ClassVar[str | None] = None
    """Which pydantic-ai model/provider pair drives it (``integrations.pydantic_ai``); None: none can."""
    pydantic_ai_hint: ClassVar[str] = (
        "use an OpenAI-compatible endpoint of it (type 'openai-compatible' with its base_url) instead"
    )
    """What to do instead when ``pydantic_ai_kind`` is None."""
    start_hint: ClassVar[str | None] = None
    """How to start a local server of this type, for "not reachable" errors."""
    no_model_hint: ClassVar[str | None] = None
    """How to get a model onto the server when it offers none (pull, load)."""
    genai_prices_id: ClassVar[str | None] = None
    """The genai-prices provider id its models are priced under; None: not priced (self-hosted)."""

    @classmethod
    def price_target(cls, model: str) -> tuple[str, str] | None:
        """(genai-prices provider id, model) to price a call with, or None when it is not priced."""
        return (cls.genai_prices_id, model) if cls.genai_prices_id else None

    def __init__(
        self,
        *,
        name: str | None = None,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        default_model: str | None = None,
        timeout: float | None = 600.0,
        connect_timeout: float = 10.0,
        read_timeout: float | None = 300.0,
        health_timeout: float = 5.0,
        ca_bundle: str | None = None,
        headers: dict[str, str] | None = None,
        default_max_tokens: int | None = None,
        retries: int | RetryPolicy | None = None,
        retry_max_wait: float | None = None,
        retry_max_time: float | None = None,
        retry_on_timeout: bool | None = None,
        breaker: CircuitBreaker | dict[str, Any] | bool | None = None,
        state: StateBackend | None = None,
        budget: Any = None,
        rate_limit: RateLimit | dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.name = name or self.provider_type.value
        api_key, base_url = _expanded(api_key, "api_key"), _expanded(base_url, "base_url")
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
        self._model_caps: dict[str, ProviderCapabilities] = {}
        self._refusing: dict[str, ProviderCapabilities | None] = {}
        self._extra_headers = dict(headers or {})
        for label, value in (
            ("timeout", timeout),
            ("read_timeout", read_timeout),
            ("connect_timeout", connect_timeout),
            ("health_timeout", health_timeout),
        ):
            check_seconds(label, value)
        # the idle bound never exceeds the whole call's deadline
        read = read_timeout if timeout is None or read_timeout is None else min(read_timeout, timeout)
        self._timeouts = Timeouts(connect=connect_timeout, read=read, total=timeout)
        self.health_timeout = health_timeout
        self._ca_bundle = ca_bundle
        # known to the redaction point from the start, whether or not a request is ever sent
        E.register_secret(*self.secrets())
        self._limits = Limits.from_options(options)
        self._transport: Transport | None = None
        self._detected_model: str | None = None
        # resilience (README "Resilience"): None when off, so the call path pays one test for it
        # the provider's ``timeout`` stays the bound of a whole call: no retry starts a wait past it
        self.retry_policy: RetryPolicy | None = RetryPolicy.from_settings(
            retries, max_wait=retry_max_wait, max_time=retry_max_time if retry_max_time is not None else timeout,
            on_timeout=retry_on_timeout,
        )
        self.breaker: CircuitBreaker | None = CircuitBreaker.from_settings(self.name, breaker)
        # where shared counters live (budgets, rate limits, shared breakers): the registry passes
        # the configured backend (``state:``); alone, a provider uses the process's memory backend
        self.state: StateBackend = state if state is not None else default_backend()
        # a breaker over a shared backend (redis) is one circuit for every process; None otherwise
        self._shared_breaker: SharedBreaker | None = SharedBreaker.for_provider(self.breaker, self.state)
        # budgets and the client-side rate limit (README "Budgets", "Rate limits"): checked by the
        # one admission step of complete()/stream(), which is skipped while both are empty
        self.budgets: tuple[Budget, ...] = Budget.from_settings(f"provider:{self.name}", budget)
        self.rate_limit: RateLimit | None = RateLimit.from_settings(self.name, rate_limit)
        self._plain_resolve = type(self).resolve_model is BaseProvider.resolve_model
        self._type_value: str = self.provider_type.value
        """``provider_type.value`` for the pricer, read once (an Enum's ``value`` is a Python-level descriptor)."""
        self.hooks = _hooks.HookSet()
        """This provider's call hooks (``provider.hooks.add("on_response", fn)``; ``llmswitch.hooks``)."""

    # --- plumbing --------------------------------------------------------------------
    @staticmethod
    def _normalize_base_url(url: str) -> str:
        return url.rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the key (a bearer token here; Anthropic overrides it with ``x-api-key``)."""
        key = self.api_key.get_secret_value() if self.api_key else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def secrets(self) -> tuple[str, ...]:
        """Every secret this provider holds, for the one redaction point: the API key, the values of
        custom headers (all but a few well-known public ones), and the values of the base URL's
        query string (``?key=...`` on some gateways)."""
        out: list[str] = []
        if self.api_key is not None:
            out.append(self.api_key.get_secret_value())
        for name, value in self._extra_headers.items():
            if name.lower() not in _PUBLIC_HEADERS and isinstance(value, str):
                out.append(value)
                # "Bearer abc…" is redacted whole and as its token alone
                scheme, _, token = value.partition(" ")
                if token and scheme.lower() in ("bearer", "basic", "token"):
                    out.append(token)
        out.extend(v for _, v in parse_qsl(urlsplit(self.base_url).query) if v)
        return tuple(v for v in out if v)

    @property
    def transport(self) -> Transport:
        """The pooled HTTP transport, made on first use so that building a provider opens nothing."""
        t = self._transport
        if t is None:
            headers = {"User-Agent": "llmswitch/0.1", **self.auth_headers(), **self._extra_headers}
            t = self._transport = Transport(
                self.base_url,
                provider=self.name,
                headers=headers,
                timeouts=self._timeouts,
                secrets=self.secrets(),
                limits=self._limits,
                ca_bundle=self._ca_bundle,
                keepalive_timeout=self.keepalive_timeout,
            )
        return t

    async def aclose(self) -> None:
        """Close the pooled connections (``async with provider:`` does it on exit)."""
        if self._transport is not None:
            await self._transport.aclose()

    async def __aenter__(self) -> BaseProvider:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
            f"default_model={self.default_model!r}, api_key={key})"
        )

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the provider takes as a whole; ``capabilities_for`` answers for one model."""
        return self._capabilities

    @property
    def detected_model(self) -> str | None:
        """The model the server offered when none was given (remembered after the first detection)."""
        return self._detected_model

    def check_key(self) -> None:
        """Raise our ``AuthenticationError`` (naming the env var and ``llmswitch keys set``) when this
        provider needs a key and has none: integrations call it before handing over to an SDK whose
        own error would say less."""
        self._check_key()

    # --- capabilities, checked before anything is sent -------------------------------------------
    def capabilities_for(self, model: str) -> ProviderCapabilities:
        """What ``model`` takes: what the server reported or the caller set
        (``set_model_capabilities``), else the declared table's first matching prefix, laid over
        the provider's own capabilities."""
        base = self._capabilities
        known = self._model_caps.get(model)
        if known is not None:
            return known.over(base)
        for prefix, caps in self.model_capabilities_table:
            if model.startswith(prefix):
                return caps.over(base)
        return base

    def set_model_capabilities(self, model: str, caps: ProviderCapabilities) -> None:
        """Record what ``model`` takes (reported by the server, or known to the caller: a
        llama-server without ``--mmproj`` takes no images); overrides the declared table."""
        self._model_caps[model] = caps
        self._refusing.clear()

    def _refuse_unsupported(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> None:
        """Raise ``CapabilityError`` when the call asks for tools, images or thinking that ``model``
        is known not to take. Callers gate it with ``self._refusing.get(model, self) is not None``:
        the call path's cost is one dict look-up, since models with nothing refused are cached as
        None, and only a refusing model's call is inspected."""
        refusing = self._refusing.get(model, self)
        if refusing is self:  # first call with this model
            if len(self._refusing) >= _MAX_CACHED_MODELS:
                self._refusing.clear()
            caps = self.capabilities_for(model)
            refusing = self._refusing[model] = caps if caps.refuses_any else None
        if refusing is None:
            return
        assert isinstance(refusing, ProviderCapabilities)
        asked: tuple[str, str] | None = None
        if tools and refusing.tools is False:
            asked = ("tools", "drop tools= from the call")
        elif refusing.thinking is False and params and (
            wanted := next((k for k in self.thinking_params if _asks_thinking(params.get(k))), None)
        ):
            asked = ("thinking", f"drop {wanted}= from the call")
        elif refusing.vision is False and any(
            isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content) for m in messages
        ):
            asked = ("images", "send text only")
        if asked is None:
            return
        feature, fix = asked
        source = "as recorded for it" if model in self._model_caps else "as declared for it"
        raise E.CapabilityError(
            f"model {model!r} does not take {feature} ({source}); nothing was sent",
            feature=feature,
            provider=self.name,
            model=model,
            url=self.base_url,
            hint=f"{fix}, or choose a model that takes {feature}; if this one does, "
            f"provider.set_model_capabilities({model!r}, ProviderCapabilities({_FIELD[feature]}=True))",
        )

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
        if _PRICER:  # set by usage.pricing (see llmswitch.hooks)
            response.usage.cost = _PRICER[0](self._type_value, response.model, response.usage)

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
        """One whole answer. ``timeout=`` bounds this call; what the model is known not to take raises
        ``CapabilityError`` before anything is sent; usage and call observers see every outcome."""
        timeout = params.pop("timeout", None) if params else None
        policy = self._policy_for(params.pop("retries")) if params and "retries" in params else self.retry_policy
        extra = params.pop("budget", None) if params and "budget" in params else None
        msgs, tool_list = as_messages(messages), (as_tools(tools) if tools else None)
        self._check_key()
        if timeout is None and not _TAP and not _CALLS_LOG.isEnabledFor(_INFO):
            # the common call: no deadline object, nobody watching (hooks, INFO records)
            ticket: Ticket | None = None
            # a given model is the answer of the base ``resolve_model``: no coroutine for it
            model_id = model if model and self._plain_resolve else await self.resolve_model(model)
            if self._refusing.get(model_id, self) is not None:  # None: nothing refused (the common case)
                self._refuse_unsupported(model_id, msgs, tool_list, params)
            if self.budgets or self.rate_limit is not None or extra is not None:
                ticket = await admit(self, model_id, msgs, tool_list, params, extra)
            started = time.perf_counter()
            resp: Response
            try:
                if self.breaker is not None:
                    resp = await self._guarded(policy, lambda: self._complete(model_id, msgs, tool_list, params))
                elif policy is None:
                    resp = await self._complete(model_id, msgs, tool_list, params)
                else:
                    # the policy's ``run`` without its frame on the first attempt: the common call
                    # succeeds at once; a failure is handed to the policy, which goes on as ``run``
                    first: Exception | None = None
                    clock0 = policy.clock()
                    try:
                        resp = await self._complete(model_id, msgs, tool_list, params)
                    except Exception as err:
                        first = err
                    if first is not None:  # outside the handler: a later error is not chained to it
                        resp = await policy.run_after(
                            first, clock0, lambda: self._complete(model_id, msgs, tool_list, params)
                        )
            except BaseException as exc:
                if ticket is not None:
                    await ticket.release()
                self._record(model_id, None, exc, time.perf_counter() - started)
                raise
            self._record(model_id, resp, None, resp.latency)
            if ticket is not None:
                await ticket.settle(resp.usage)
            return resp
        return await self._complete_watched(model, msgs, tool_list, params, timeout, policy, extra)

    async def _complete_watched(
        self,
        model: str | None,
        msgs: list[Message],
        tool_list: list[Tool] | None,
        params: dict[str, Any],
        timeout: float | None,
        policy: RetryPolicy | None,
        extra: Any,
    ) -> Response:
        """``complete`` with a deadline, or watched: the same steps, plus the deadline and the
        ``Call`` the hooks and the ``llmswitch.calls`` records see (``llmswitch._observe``)."""
        with call_deadline(timeout):
            model_id = await self.resolve_model(model)
            if self._refusing.get(model_id, self) is not None:
                self._refuse_unsupported(model_id, msgs, tool_list, params)
            ticket: Ticket | None = None
            if self.budgets or self.rate_limit is not None or extra is not None:
                ticket = await admit(self, model_id, msgs, tool_list, params, extra)
            call = None
            if _TAP or _CALLS_LOG.isEnabledFor(_INFO):
                call = await _observe.begin(self, model_id, msgs, tool_list, params, False)
                msgs, tool_list, params = _observe.request_of(call)
            token = _observe.current_call.set(call)
            started = time.perf_counter()
            resp: Response
            try:
                if timeout is None:
                    resp = await self._guarded(policy, lambda: self._complete(model_id, msgs, tool_list, params))
                else:
                    resp = await self._guarded(
                        policy, lambda: self._complete_within(timeout, model_id, msgs, tool_list, params)
                    )
            except BaseException as exc:
                seconds = time.perf_counter() - started
                if ticket is not None:
                    await ticket.release()
                self._record(model_id, None, exc, seconds)
                if call is not None:
                    await _observe.finish(call, None, exc, seconds)
                raise
            finally:
                _observe.current_call.reset(token)
        self._record(model_id, resp, None, resp.latency)
        if ticket is not None:
            await ticket.settle(resp.usage)
        if call is not None:
            await _observe.finish(call, resp, None, time.perf_counter() - started)
        return resp

    def _policy_for(self, retries: Any) -> RetryPolicy | None:
        """A call's ``retries=`` over the provider's policy (0 or None: one attempt)."""
        if retries is None or retries == 0:
            return None
        if isinstance(retries, RetryPolicy):
            return retries
        base = self.retry_policy or RetryPolicy()
        return base.with_retries(retries)

    async def _guarded(self, policy: RetryPolicy | None, attempt: Callable[[], Any]) -> Any:
        """One call through the retry policy and the breaker, whichever are on."""
        if self._shared_breaker is not None:  # the breaker shared through ``state:`` (README "Resilience")
            return await self._shared_breaker.run(policy, attempt)
        if policy is not None:
            return await policy.run(attempt, self.breaker)
        if self.breaker is not None:
            return await self.breaker.acall(attempt)
        return await attempt()

    async def _complete_within(
        self, timeout: float, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> Response:
        """A backstop for providers whose I/O is not ours (LiteLLM): our transport raises at the
        deadline itself, with the provider and URL; this catches whatever else runs past it."""
        try:
            async with asyncio.timeout(timeout + _BACKSTOP_GRACE):
                return await self._complete(model, messages, tools, params)
        except TimeoutError:
            raise E.ProviderTimeoutError(
                f"the call did not finish within its deadline of {timeout:g}s",
                provider=self.name,
                url=self.base_url,
                hint="raise timeout= for this call if the answer is long",
            ) from None

    def stream(
        self,
        messages: str | Message | Iterable[Message | dict[str, Any]],
        *,
        model: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        **params: Any,
    ) -> ResponseStream:
        """The answer as it is generated. Nothing is sent until the stream is iterated; usage and
        call observers are recorded when it ends."""
        timeout = params.pop("timeout", None) if params else None
        check_seconds("timeout", timeout)
        policy = self._policy_for(params.pop("retries")) if params and "retries" in params else self.retry_policy
        extra = params.pop("budget", None) if params and "budget" in params else None
        msgs = as_messages(messages)
        tool_list = as_tools(tools)
        state: dict[str, Any] = {"model": model or self.default_model or "", "t": time.perf_counter()}

        async def source() -> AsyncIterator[StreamEvent | Response]:
            nonlocal msgs, tool_list, params
            self._check_key()
            # The deadline is set only until the request is open: a value set in an async generator
            # would leak into the consumer between items. The open request carries it to the end
            # (aiohttp's total timeout guards every read of the body).
            token = set_call_deadline(timeout)
            ticket: Ticket | None = None
            call = ctoken = None
            try:
                model_id = await self.resolve_model(model)
                state["model"] = model_id
                if self._refusing.get(model_id, self) is not None:
                    self._refuse_unsupported(model_id, msgs, tool_list, params)
                if self.budgets or self.rate_limit is not None or extra is not None:
                    ticket = await admit(self, model_id, msgs, tool_list, params, extra)
                if _TAP or _CALLS_LOG.isEnabledFor(_INFO):  # watched: hooks, INFO records (llmswitch._observe)
                    call = state["call"] = await _observe.begin(self, model_id, msgs, tool_list, params, True)
                    msgs, tool_list, params = _observe.request_of(call)
                    ctoken = _observe.current_call.set(call)
                if policy is None and self.breaker is None:
                    items = self._stream(model_id, msgs, tool_list, params)
                    first = await items.__anext__()
                else:
                    # retried only until its first event: what the caller has seen is never replayed
                    items, opened = await self._guarded(policy, lambda: self._open_stream(model_id, msgs, tool_list, params))
                    if opened is None:
                        raise StopAsyncIteration
                    first = opened
            except BaseException as exc:
                if ticket is not None:  # nothing was generated: give the reservation back
                    await ticket.release()
                if isinstance(exc, StopAsyncIteration):
                    return
                raise
            finally:
                reset_call_deadline(token)
                if ctoken is not None:
                    _observe.current_call.reset(ctoken)
            state["opened"] = True
            if ticket is not None:
                state["ticket"] = ticket  # settled (or released) by on_done, when the stream ends
            if call is not None:
                call.first_chunk = time.perf_counter()
                if _observe.stream_hooks(call):
                    tapped = _observe.tapped(call, first, items)
                    try:
                        async for item in tapped:
                            yield item
                    finally:
                        await tapped.aclose()
                    return
            yield first
            async for item in items:
                yield item

        def on_done(final: Response | None, error: BaseException | None) -> Awaitable[None] | None:
            if error is not None and self.breaker is not None and "opened" in state:
                self.breaker.after_mid_stream(error)  # cut after its first event: a failure too
            seconds = time.perf_counter() - state["t"]
            self._record(state["model"], final, error, seconds)
            if "ticket" not in state:
                return _observe.finish(state["call"], final, error, seconds) if "call" in state else None
            # settled with the final usage; a stream that broke releases its reservation, one the
            # caller stopped early keeps it (what was generated was probably billed)
            ticket: Ticket = state["ticket"]
            settle = ticket.settle(final.usage) if final is not None else (
                ticket.release() if isinstance(error, Exception) else None)
            finish = _observe.finish(state["call"], final, error, seconds) if "call" in state else None
            return _in_turn(settle, finish)

        return ResponseStream(source(), on_done)

    async def _open_stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> tuple[AsyncIterator[StreamEvent | Response], StreamEvent | Response | None]:
        """Open a stream and read its first item (one attempt of a guarded stream); None: it was empty."""
        items = self._stream(model, messages, tools, params)
        try:
            return items, await items.__anext__()
        except StopAsyncIteration:
            return items, None
        except BaseException:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()
            raise

    # --- to implement ----------------------------------------------------------------------
    async def _complete(self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]) -> Response:
        raise NotImplementedError

    def _stream(
        self, model: str, messages: list[Message], tools: list[Tool] | None, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent | Response]:
        raise NotImplementedError

    async def list_models(self) -> list[ModelInfo]:
        """The models the server offers; each provider asks its own endpoint."""
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
            with call_deadline(self.health_timeout):
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
            status.error = f"{type(exc).__name__}: {str(exc)}"
        # the one redaction point, for whatever a probe put in the status
        if status.error:
            status.error = E.redact(status.error, *self.secrets())[: E.MAX_MESSAGE_CHARS]
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
        """The pydantic-ai model for this provider (``llmswitch.integrations.pydantic_ai``,
        reached through the model factory it registers in ``llmswitch.hooks``)."""
        return _hooks.model_factory()[0](self, model_name)

    async def create_model_async(
        self, model_name: str | None = None, auto_detect: bool = True, test_connection: bool = True
    ) -> Any:
        """``create_model`` after a health check and model detection (see ``create_model``)."""
        factory = _hooks.model_factory()[1]
        return await factory(self, model_name, auto_detect=auto_detect, test_connection=test_connection)

    # --- the design documents' names (seeds/001) ------------------------------------------------
    def supports_tools(self) -> bool | None:
        """``capabilities.tools``: whether this provider takes ``tools=`` (None: unknown, allowed)."""
        return self.capabilities.tools

    def supports_thinking(self) -> bool | None:
        """``capabilities.thinking``: whether this provider can return reasoning (``Response.thinking``;
        None: unknown, allowed)."""
        return self.capabilities.thinking

    def supports_code_execution(self) -> bool:
        """``capabilities.code_execution`` where a provider declares it; False otherwise (no
        backend here runs code for the model)."""
        return bool(getattr(self.capabilities, "code_execution", False))

    def get_usage(self) -> TokenUsage:
        """A copy of this provider's running totals (``usage``), which later calls do not change."""
        import dataclasses  # here, not at the top: these methods are an additive block

        return dataclasses.replace(self.usage)

    def reset_usage(self) -> None:
        """Start the totals again from zero."""
        self.usage = TokenUsage()
