"""Configuration: the ``llmswitch.yaml`` file, validated by pydantic-settings.

Why a hand-walked YAML tree instead of ``yaml.safe_load``: a user who mistypes ``timeout: 3O``
deserves "llmswitch.yaml:7: provider 'local': timeout: ...", so every value keeps the line
it came from, ``${VAR}`` expansion happens while walking (so a missing variable names its
provider and line), and duplicate keys — which PyYAML silently overwrites — are rejected.

Where the file is found: ``--config`` (passed as ``path``), ``$LLMSWITCH_CONFIG``,
``./llmswitch.yaml``, then ``paths.config_dir()/llmswitch.yaml``.

Secrets (``api_key`` and any header value) may be written as:
  * ``${VAR}`` / ``${VAR:-default}`` — from the environment;
  * ``keyring:NAME`` — from the system keyring (service ``llmswitch``; ``llmswitch keys set NAME``);
  * ``file:/path/to/secret`` — the first line of a file (Docker/Kubernetes secrets);
  * a literal (works, but then the file is a secret too).
Each provider entry may bound its calls: ``timeout`` (total deadline of one call, seconds),
``read_timeout`` (longest silence between bytes), ``connect_timeout``, ``health_timeout`` (one
health probe), and the read limits ``max_body_bytes``, ``max_error_body_bytes``,
``max_line_bytes``, ``max_event_bytes`` (bytes, or a size such as ``64MiB``; see ``limits.py``),
and be made resilient (``RESILIENCE_SETTINGS``): ``retries``, ``retry_max_wait``,
``retry_max_time``, ``retry_on_timeout``, ``breaker: {failure_threshold, recovery_timeout, ...}``,
``budget: {usd|tokens, per, soft, hard}`` (or a list of them) and ``rate_limit: {rpm, tpm}``.
Agents take a ``budget:`` too, and the top-level ``budgets:`` limits every provider together.

The file itself is bounded (``MAX_CONFIG_BYTES``, ``MAX_DEPTH``, ``MAX_ALIASES``, ``MAX_NODES``)
and every failure to read, parse or validate it is a ``ConfigError`` naming the file and line,
with every secret it resolves redacted.

A provider without ``api_key`` falls back to its usual env var (``OPENAI_API_KEY``...), then to
the keyring entry named after the provider. Top-level settings can also come from the
environment (``LLMSWITCH_USAGE_LOG=off``, ``LLMSWITCH_STATE='{"backend": "redis", ...}'``),
which wins over the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from ._env import VAR_PATTERN as _VAR
from ._env import expand_vars
from .errors import ConfigError, LLMSwitchError, redact

if TYPE_CHECKING:  # pragma: no cover
    from .providers.base import BaseProvider

__all__ = [
    "ProviderConfig",
    "BreakerConfig",
    "BudgetConfig",
    "RateLimitConfig",
    "RESILIENCE_SETTINGS",
    "AgentConfig",
    "StateConfig",
    "UsageLogConfig",
    "TelemetryConfig",
    "GatewayConfig",
    "GatewayKeyConfig",
    "LLMSwitchConfig",
    "CONFIG_FILENAME",
    "KEYRING_SERVICE",
    "find_config_path",
    "load_config",
    "parse_config",
    "keyring_secret",
    "set_keyring_secret",
    "delete_keyring_secret",
    "on_keyring_change",
    "implicit_api_key",
    "infer_type",
    "expand_vars",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_ALIASES",
    "MAX_NODES",
    "SECONDS_SETTINGS",
    "BYTES_SETTINGS",
]

CONFIG_FILENAME = "llmswitch.yaml"
KEYRING_SERVICE = "llmswitch"

# Options a provider type understands beyond the common fields are declared on its class
# (``option_names``, e.g. OpenRouterProvider); types without it accept any option, since we
# cannot know. Entries here override a class's (kept for callers that add to it).
KNOWN_OPTIONS: dict[str, frozenset[str]] = {}


SECONDS_SETTINGS: tuple[str, ...] = ("timeout", "read_timeout", "connect_timeout", "health_timeout")
"""Per-provider time bounds, in seconds: ``timeout`` is the total deadline of one call,
``read_timeout`` the longest silence between bytes, ``health_timeout`` bounds a health probe."""
RESILIENCE_SETTINGS: tuple[str, ...] = (
    "retries", "retry_max_wait", "retry_max_time", "retry_on_timeout", "breaker", "budget", "rate_limit",
)
"""Per-provider retry and circuit-breaker settings (README "Resilience"): ``retries`` (default 2,
0 = off), ``retry_max_wait`` and ``retry_max_time`` (seconds), ``retry_on_timeout``, and
``breaker: {failure_threshold, recovery_timeout, ...}`` (``BreakerConfig``), ``budget:``
(``BudgetConfig``, one or a list) and ``rate_limit: {rpm, tpm}`` (``RateLimitConfig``)."""
BYTES_SETTINGS: tuple[str, ...] = ("max_body_bytes", "max_error_body_bytes", "max_line_bytes", "max_event_bytes")
"""Per-provider read limits (``llmswitch._limits.Limits``): a number of bytes or a size such as ``64MiB``."""

_SIZE = re.compile(r"^\s*(\d[\d_]*)\s*([a-z]*)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
}


def _parse_size(value: str) -> int | None:
    """``"64MiB"`` → 67108864, ``"10 MB"`` → 10000000, ``"1_000"`` → 1000; None if not a size."""
    m = _SIZE.match(value)
    factor = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    return None if m is None or factor is None else int(m.group(1).replace("_", "")) * factor


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BreakerConfig(_Strict):
    """``breaker:`` under a provider: a ``CircuitBreaker`` for it (``llmswitch.routing.breaker``)."""

    failure_threshold: int = Field(default=5, ge=1)
    recovery_timeout: float = Field(default=30.0, gt=0)
    half_open_max_calls: int = Field(default=1, ge=1)
    success_threshold: int = Field(default=1, ge=1)
    failure_rate_threshold: float | None = Field(default=None, gt=0, le=1)
    minimum_calls: int = Field(default=10, ge=1)
    window: float = Field(default=60.0, gt=0)


class BudgetConfig(_Strict):
    """One budget (``llmswitch.routing.budget``): ``{usd: 10, per: day, soft: 8}`` or
    ``{tokens: 2000000, per: month}``; ``hard: false`` only warns."""

    usd: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    per: Literal["hour", "day", "month"] = "day"
    soft: float | None = Field(default=None, gt=0)
    hard: bool = True

    @model_validator(mode="after")
    def _one_amount(self) -> BudgetConfig:
        if (self.usd is None) == (self.tokens is None):
            raise ValueError("a budget needs exactly one of usd: (dollars) or tokens:")
        amount = self.usd if self.usd is not None else self.tokens
        if self.soft is not None and self.hard and amount is not None and self.soft > amount:
            raise ValueError(f"soft ({self.soft:g}) is above the limit ({amount:g}); it would never warn")
        return self


def _budget_list(v: Any) -> Any:
    """``budget: {usd: 5}`` is a list of one; ``budget: off`` / null is none."""
    if v is None or v is False:
        return None
    return [v] if isinstance(v, dict) else v


class RateLimitConfig(_Strict):
    """``rate_limit: {rpm: 60, tpm: 100000}`` (``llmswitch.routing.ratelimit``): requests and
    (estimated) tokens per minute, held on the client; either may be left out."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitConfig:
        if self.rpm is None and self.tpm is None:
            raise ValueError("give rpm: (requests per minute), tpm: (tokens per minute) or both")
        return self


class ProviderConfig(_Strict):
    """One entry under ``providers:``. Provider-specific knobs go under ``options:`` so a typo
    in a common field (``defualt_model``) is still an error, not a silently ignored option.

    Time bounds (``SECONDS_SETTINGS``) and read limits (``BYTES_SETTINGS``) are common fields,
    validated here so a bad value is reported with its line instead of surfacing as a raw
    ``ValueError`` when the provider is built; written under ``options:`` they are lifted out
    and validated the same way."""

    type: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    default_model: str | None = None
    timeout: float | None = None
    read_timeout: float | None = None
    connect_timeout: float | None = None
    health_timeout: float | None = None
    max_body_bytes: int | None = None
    max_error_body_bytes: int | None = None
    max_line_bytes: int | None = None
    max_event_bytes: int | None = None
    default_max_tokens: int | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0)
    retry_max_wait: float | None = Field(default=None, ge=0)
    retry_max_time: float | None = None
    retry_on_timeout: bool | None = None
    breaker: BreakerConfig | None = None
    budget: list[BudgetConfig] | None = None
    rate_limit: RateLimitConfig | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _max_tokens_is_the_default_limit(cls, data: Any) -> Any:
        """``max_tokens: 8192`` on a provider, as the design documents write it, is its default
        output limit (``default_max_tokens``)."""
        if not isinstance(data, dict) or "max_tokens" not in data:
            return data
        if data.get("default_max_tokens") is not None:
            raise ValueError("max_tokens and default_max_tokens given both; keep one")
        data = dict(data)
        data["default_max_tokens"] = data.pop("max_tokens")
        return data

    @model_validator(mode="before")
    @classmethod
    def _lift_settings_from_options(cls, data: Any) -> Any:
        """``options: {timeout: 5}`` would bypass validation and reach the provider anyway."""
        if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
            return data
        options = dict(data["options"])
        lifted = {k: options.pop(k) for k in (*SECONDS_SETTINGS, *BYTES_SETTINGS, *RESILIENCE_SETTINGS) if k in options}
        twice = sorted(k for k in lifted if data.get(k) is not None)
        if twice:
            raise ValueError(f"{', '.join(twice)} given both on the provider and under options:; keep one")
        return {**data, **lifted, "options": options}

    @field_validator(*SECONDS_SETTINGS, "retry_max_time", mode="before")
    @classmethod
    def _positive_seconds(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError("must be a positive, finite number of seconds, e.g. 30 or 2.5")
        return float(v)

    @field_validator("budget", mode="before")
    @classmethod
    def _one_or_many_budgets(cls, v: Any) -> Any:
        return _budget_list(v)

    @field_validator("retries", mode="before")
    @classmethod
    def _retry_count(cls, v: Any) -> Any:
        # YAML reads ``retries: off``/``false`` as False: that is 0 (off); ``true`` names no count
        if v is False:
            return 0
        if v is True:
            raise ValueError("must be a whole number of retries (0 turns retrying off; the default is 2)")
        return v

    @field_validator(*BYTES_SETTINGS, mode="before")
    @classmethod
    def _positive_bytes(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            v = _parse_size(v) if _parse_size(v) is not None else v
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError("must be a positive number of bytes, e.g. 16777216 or 16MiB")
        return v

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from .providers import canonical_type, known_types

        key = canonical_type(v)
        if key is None:
            raise ValueError(f"unknown provider type {v!r}; known: {', '.join(known_types())}")
        return key

    @model_validator(mode="after")
    def _known_options(self) -> ProviderConfig:
        allowed = KNOWN_OPTIONS.get(self.type)
        if allowed is None:
            try:
                from .providers import provider_class

                allowed = getattr(provider_class(self.type), "option_names", None)
            except Exception:  # the module may not be installed; validated when built
                allowed = None
        if allowed is not None:
            bad = sorted(set(self.options) - set(allowed))
            if bad:
                raise ValueError(
                    f"unknown option(s) {', '.join(bad)} for type {self.type!r}; allowed: {', '.join(sorted(allowed))}"
                )
        return self

    def provider_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the provider class (``BaseProvider.__init__``): every common field
        that was set, the secret header values, then the provider-specific options."""
        kw: dict[str, Any] = {}
        for field in ("base_url", "api_key", "default_model", *SECONDS_SETTINGS, *BYTES_SETTINGS, "default_max_tokens"):
            value = getattr(self, field)
            if value is not None:
                kw[field] = value
        for field in ("retries", "retry_max_wait", "retry_max_time", "retry_on_timeout"):
            value = getattr(self, field)
            if value is not None:
                kw[field] = value
        if self.breaker is not None:
            kw["breaker"] = self.breaker.model_dump()
        if self.budget:
            kw["budget"] = [b.model_dump(exclude_none=True) for b in self.budget]
        if self.rate_limit is not None:
            kw["rate_limit"] = self.rate_limit.model_dump(exclude_none=True)
        if self.headers:
            kw["headers"] = {k: v.get_secret_value() for k, v in self.headers.items()}
        kw.update(self.options)
        return kw


class AgentConfig(_Strict):
    """An agent names its provider and the providers to fall back to, in order, and may have its
    own ``budget:`` (applied to the calls made for it: ``registry.complete_for_agent``)."""

    provider: str
    fallbacks: list[str] = Field(default_factory=list)
    budget: list[BudgetConfig] | None = None

    @field_validator("budget", mode="before")
    @classmethod
    def _one_or_many_budgets(cls, v: Any) -> Any:
        return _budget_list(v)


class StateConfig(_Strict):
    """Where shared state (circuit breakers, budgets, rate limits) lives: in the process
    (``memory``), or in Redis for every process on every host (``redis``; README "Resilience")."""

    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    """``redis://[:password@]host:6379/0`` (``rediss://`` for TLS); its password is redacted everywhere."""
    key_prefix: str | None = None
    """Put before every key (default ``llmswitch:``): several deployments can share one Redis."""
    timeout: float = Field(default=0.5, gt=0)
    """Seconds each Redis call may take (connect and read) before this process uses memory instead."""
    breaker_sync_interval: float = Field(default=0.0, ge=0)
    """Seconds a process may reuse an all-clear read of a shared breaker (0: one read per call)."""

    def model_post_init(self, context: Any, /) -> None:
        """Hand the URL's password to the redaction point as soon as the config is read."""
        if self.url:
            from .errors import register_secret
            from .state.redis import url_secrets

            register_secret(*url_secrets(self.url))

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "url" and isinstance(value, str):
                from .state.redis import safe_url

                value = safe_url(value)
            yield name, value


class UsageLogConfig(_Strict):
    """``usage_log: {path: default}`` (the user data dir), a path, or ``off``."""

    path: str = "default"
    enabled: bool = True

    def resolved_path(self) -> Path | None:
        """The log file to open, or None when logging is off; ``default`` means the user data dir."""
        if not self.enabled:
            return None
        if self.path in ("default", ""):
            from ._paths import data_dir

            return data_dir() / "usage.sqlite3"
        return Path(os.path.expanduser(self.path))


class TelemetryConfig(_Strict):
    """``telemetry: {otel: true}``: OpenTelemetry spans and GenAI metrics for every call (the
    ``otel`` extra; README "Observability"). Logging needs no setting here: the ``llmswitch.calls``
    records follow the application's ``logging`` levels."""

    otel: bool = False
    """Emit a client span and the GenAI client metrics per call (``llmswitch.telemetry.enable``)."""
    capture_content: bool = False
    """Put prompt and response text in DEBUG log records and spans (keys redacted). Off: the text
    is the user's data, and often large."""
    service_name: str | None = None
    """``service.name`` when llmswitch sets up the OpenTelemetry SDK itself (no provider configured
    by the application); default ``OTEL_SERVICE_NAME``, else ``llmswitch``."""

    @field_validator("service_name")
    @classmethod
    def _service_name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("service_name must not be empty (leave it out for the default)")
        return v


_SHA256_HEX = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")


class GatewayKeyConfig(_Strict):
    """A caller of ``llmswitch serve``: its name (in the usage log and metrics), the sha256 of its
    key (never the key itself: a leaked config file then grants nothing), what it may call and
    how much at once. ``budget`` and ``rate_limit`` are accepted and handed to the routing layer's
    per-caller limits (``llmswitch.gateway.limits``)."""

    name: str = Field(min_length=1)
    key_sha256: str
    models: list[str] = Field(default_factory=lambda: ["*"])
    """Model names the key may ask for (``fnmatch`` patterns: ``"*"``, ``"ollama:*"``, an alias)."""
    max_concurrency: int | None = Field(default=None, ge=1)
    budget: dict[str, Any] | None = None
    rate_limit: dict[str, Any] | None = None

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.strip().lower()
        if not _SHA256_HEX.match(v):
            raise ValueError(
                "key_sha256 must be the 64-hex-digit sha256 of the key (`llmswitch serve --hash-key` prints it), "
                "not the key itself"
            )
        return v.removeprefix("sha256:")


class GatewayConfig(_Strict):
    """``gateway:`` — what ``llmswitch serve`` accepts (README "Gateway")."""

    keys: list[GatewayKeyConfig] = Field(default_factory=list)
    models: dict[str, str | list[str]] = Field(default_factory=dict)
    """Public alias → a model reference, or a list of them tried in order (a fallback chain)."""
    max_body_bytes: int = Field(default=16 * 2**20, gt=0)
    max_header_bytes: int = Field(default=16 * 2**10, gt=0)
    request_timeout: float = Field(default=600.0, gt=0)
    """Each call's total deadline; past it the caller gets a 504."""
    shutdown_timeout: float = Field(default=30.0, ge=0)
    """On SIGTERM: seconds running requests and streams get to finish before they are cut."""

    @field_validator("keys")
    @classmethod
    def _unique(cls, v: list[GatewayKeyConfig]) -> list[GatewayKeyConfig]:
        names = [k.name for k in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"gateway key names must be unique; repeated: {', '.join(dup)}")
        return v


def _usage_log_before(v: Any) -> Any:
    # YAML 1.1 reads a bare ``off`` as False.
    if v is False or v is None or (isinstance(v, str) and v.strip().lower() in ("off", "false", "no", "none", "disabled")):
        return {"enabled": False}
    if v is True:
        return {}
    if isinstance(v, str):
        return {"path": v}
    if isinstance(v, dict) and (v.get("path") is False or str(v.get("path", "")).lower() == "off"):
        return {**{k: x for k, x in v.items() if k != "path"}, "enabled": False}
    return v


class LLMSwitchConfig(BaseSettings):
    """The whole file. Environment variables ``LLMSWITCH_<FIELD>`` override top-level keys."""

    # env_ignore_empty: ``LLMSWITCH_STATE=`` (set but empty) means "not set", not "invalid JSON".
    model_config = SettingsConfigDict(env_prefix="LLMSWITCH_", extra="forbid", validate_default=True, env_ignore_empty=True)

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    state: StateConfig = Field(default_factory=StateConfig)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    """Total budgets: every provider's calls together (``llmswitch.routing.budget``)."""
    usage_log: Annotated[UsageLogConfig, NoDecode] = Field(default_factory=UsageLogConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)

    _source: Path | None = PrivateAttr(default=None)

    def __init__(self, **values: Any) -> None:
        """Every failure is a ConfigError: pydantic-settings raises its own ``SettingsError`` for an
        ``LLMSWITCH_*`` variable that is not JSON, and a ``ValidationError`` for a wrong shape —
        neither is an llmswitch error, so code that catches ``LLMSwitchError`` would miss them."""
        try:
            super().__init__(**values)
        except SettingsError:
            raise _Problems(_env_json_problems()) from None
        except ValidationError as exc:
            raise _InvalidValues(exc.errors()) from None

    @field_validator("providers", mode="before")
    @classmethod
    def _infer_types(cls, v: Any) -> Any:
        """A provider without ``type:`` gets the one its name or model makes unambiguous
        (``claude_main`` / ``claude-…`` → anthropic, ``openai_main`` → openai); otherwise the
        missing type is reported as usual, with the types it could be."""
        if not isinstance(v, dict):
            return v
        out = dict(v)
        for name, entry in v.items():
            if isinstance(entry, dict) and "type" not in entry and isinstance(name, str):
                model = entry.get("default_model")
                guessed = infer_type(name, model if isinstance(model, str) else None)
                if guessed is not None:
                    out[name] = {"type": guessed, **entry}
        return out

    @field_validator("usage_log", mode="before")
    @classmethod
    def _usage_log(cls, v: Any) -> Any:
        return _usage_log_before(v)

    @field_validator("budgets", mode="before")
    @classmethod
    def _total_budgets(cls, v: Any) -> Any:
        return _budget_list(v) or []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables (which win) and the values passed in; no dotenv or secrets-dir sources behind the user's back."""
        return (env_settings, init_settings)

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from (None when built in code)."""
        return self._source

    def redacted(self) -> dict[str, Any]:
        """A plain dict for display: every secret shown as ``***``."""
        data = self.model_dump(mode="python")
        for p in data.get("providers", {}).values():
            if p.get("api_key") is not None:
                p["api_key"] = "***"
            p["headers"] = {k: "***" for k in p.get("headers", {})}
        return data


# --- finding the file ---------------------------------------------------------------------


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use, or None. An explicitly named file that is missing is an error."""
    named = explicit if explicit is not None else (os.environ.get("LLMSWITCH_CONFIG") or None)
    if named is not None:
        p = Path(os.path.expanduser(str(named)))
        if not p.is_file():
            how = "--config" if explicit is not None else "$LLMSWITCH_CONFIG"
            raise ConfigError(f"config file {p} (from {how}) does not exist; `llmswitch config init` writes one")
        return p
    local = Path.cwd() / CONFIG_FILENAME
    if local.is_file():
        return local
    from ._paths import config_dir

    user = config_dir() / CONFIG_FILENAME
    return user if user.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None) -> LLMSwitchConfig | None:
    """Find and parse the config file; None when there is none (an empty setup is valid)."""
    found = find_config_path(path)
    if found is None:
        return None
    return parse_config(_read_config_file(found), source=found)


# --- reading the file safely --------------------------------------------------------------------

MAX_CONFIG_BYTES = 1024 * 1024
"""A configuration is a few kilobytes; a bigger file is the wrong file, not a config to parse."""
MAX_DEPTH = 100
"""Nesting levels (mappings and lists). PyYAML's composer recurses once per level, so a 3,000-deep
file would otherwise end in ``RecursionError``; a real configuration needs five."""
MAX_ALIASES = 500
"""``*alias`` uses. Sharing a ``headers:`` block among providers needs a handful."""
MAX_NODES = 100_000
"""Values in the file once every alias is expanded. Nine anchors that each repeat the previous one
nine times (a "billion laughs" alias bomb) expand to 9**9 values from a few hundred bytes; PyYAML's
SafeLoader has no limit, so the count is kept while composing, before anything is expanded."""


def _read_config_file(path: Path) -> str:
    """The file's text, bounded in size; an unreadable or non-UTF-8 file is a ConfigError with the
    line of the first bad byte."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB, the limit for a configuration; "
            "is it the right file? (--config or $LLMSWITCH_CONFIG names the file to use)"
        )
    return _decode(raw, str(path))


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{source}:{line}:{col}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "save it as UTF-8 (most editors: 'Save with encoding')"
        ) from None


class _LimitExceeded(Exception):
    """Raised while composing; carries the mark of the node that crossed the limit."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _limited_loader(text: str) -> Any:
    """A SafeLoader whose composer counts depth, aliases and expanded values as it goes.

    Counting in ``compose_node`` (not after loading) is the point: the tree is never expanded,
    so an alias bomb is refused after a few hundred events, and a deep file is refused before
    the composer's recursion reaches Python's limit."""
    import yaml
    from yaml.events import AliasEvent

    class LimitedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.depth = 0
            self.aliases = 0
            self.nodes = 0
            self.sizes: dict[str, int] = {}  # anchor → values it expands to
            self.open_anchors: set[str] = set()

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(AliasEvent):
                return self._alias()
            event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves peek_event unannotated
            if self.depth >= MAX_DEPTH:
                raise _LimitExceeded(
                    f"the file nests more than {MAX_DEPTH} levels deep (the limit; a configuration needs a few)", event.start_mark
                )
            anchor = event.anchor
            before = self.nodes
            self._count(1, event.start_mark)
            self.depth += 1
            if anchor is not None:
                self.open_anchors.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
                self.open_anchors.discard(anchor) if anchor is not None else None
            if anchor is not None:
                self.sizes[anchor] = self.nodes - before
            return node

        def _alias(self) -> Any:
            event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves peek_event unannotated
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _LimitExceeded(f"the file uses more than {MAX_ALIASES} aliases (*name), the limit", event.start_mark)
            if event.anchor in self.open_anchors:
                raise _LimitExceeded(f"alias *{event.anchor} refers to the value that contains it (a loop)", event.start_mark)
            self._count(self.sizes.get(event.anchor, 1), event.start_mark)
            # the stub says index: int, but PyYAML itself composes the root with (None, None)
            return super().compose_node(None, None)  # type: ignore[arg-type]

        def _count(self, n: int, mark: Any) -> None:
            self.nodes += n
            if self.nodes > MAX_NODES:
                raise _LimitExceeded(
                    f"the file expands to more than {MAX_NODES:,} values through aliases (&anchor/*alias), the limit "
                    "(an alias bomb?)",
                    mark,
                )

    return LimitedLoader(text)


def _at(source: str, mark: Any) -> str:
    """``file:line:column`` for a YAML mark (PyYAML counts from 0)."""
    if mark is None:
        return source
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def _compose(text: str, source: str) -> tuple[Any, Any]:
    """(root node, loader) or a ConfigError naming the file, line and column."""
    import yaml

    loader = None
    try:
        loader = _limited_loader(text)  # the reader refuses control characters already here
        return loader.get_single_node(), loader
    except _LimitExceeded as exc:
        raise ConfigError(f"{_at(source, exc.mark)}: refused: {exc.message}; is it the right file?") from None
    except yaml.MarkedYAMLError as exc:
        context = ""
        if exc.context and exc.context_mark is not None and exc.context_mark.line != getattr(exc.problem_mark, "line", None):
            context = f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise ConfigError(
            f"{_at(source, exc.problem_mark)}: not valid YAML: {exc.problem}{context}; "
            "check the indentation, quotes and brackets there"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise ConfigError(
            f"{source}:{line}: not valid YAML: the control character U+{char:04X} is not allowed in a YAML file; remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:  # a backstop: the depth limit should make this unreachable
        raise ConfigError(f"{source}: refused: the file nests too deeply to read") from None
    finally:
        if loader is not None:
            loader.dispose()


# --- YAML with line numbers -----------------------------------------------------------------


Loc = tuple[str, ...]

_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"




def _where(loc: Loc) -> str:
    if len(loc) >= 2 and loc[0] == "providers":
        return f"provider {loc[1]!r}"
    if len(loc) >= 2 and loc[0] == "agents":
        return f"agent {loc[1]!r}"
    return loc[0] if loc else "top level"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


class _Walker:
    """Turns a composed YAML node tree into plain data, keeping a line for every path.

    It also collects every secret it resolves (``api_key``, header values, and values read from
    the environment), so that no message about this file can print one."""

    def __init__(self, loader: Any, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[str] = []
        self.secrets: list[str] = []
        self.bad: set[Loc] = set()
        """Paths already reported (a refused tag): their validation errors would only repeat it."""

    def where(self, loc: Loc) -> str:
        return f"{self.source}:{self.line_for(loc)}: {_where(loc)}"

    def line_for(self, loc: Loc) -> int:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 1

    def tag_problem(self, node: Any, loc: Loc) -> str:
        self.bad.add(loc)
        return (
            f"{_at(self.source, node.start_mark)}: {_where(loc)}: the tag {_short_tag(node.tag)} is not supported; "
            "llmswitch.yaml takes plain values (strings, numbers, booleans, lists, mappings): remove the tag"
        )

    def walk(self, node: Any, loc: Loc) -> Any:
        import yaml

        if len(loc) > MAX_DEPTH:  # aliases can nest deeper than the text the composer counted
            raise ConfigError(
                f"{_at(self.source, node.start_mark)}: refused: the file is nested more than {MAX_DEPTH} levels "
                "deep once aliases are expanded (the limit); is it the right file?"
            )
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                self.problems.append(self.tag_problem(node, loc))
                return None
            return self.walk_mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self.problems.append(self.tag_problem(node, loc))
                return None
            return [self.walk(item, loc + (str(i),)) for i, item in enumerate(node.value)]
        value = self.scalar(node, loc)
        if isinstance(value, str):
            value = self.resolve_string(value, loc)
        return value

    def scalar(self, node: Any, loc: Loc) -> Any:
        """A scalar through SafeLoader's constructors, for the few tags a config may use. An
        explicit ``!!int abc`` makes PyYAML's constructor raise a bare ``ValueError``: reported."""
        if node.tag not in _SCALAR_TAGS:
            self.problems.append(self.tag_problem(node, loc))
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - PyYAML raises ValueError/TypeError here
            self.problems.append(
                f"{_at(self.source, node.start_mark)}: {_where(loc)}: cannot read this value as "
                f"{_short_tag(node.tag)} ({type(exc).__name__}); remove the tag or fix the value"
            )
            self.bad.add(loc)
            return None

    def walk_mapping(self, node: Any, loc: Loc) -> dict[str, Any] | None:
        import yaml

        own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        try:
            self.loader.flatten_mapping(node)  # applies ``<<: *defaults`` merge keys
        except yaml.MarkedYAMLError as exc:
            self.problems.append(f"{_at(self.source, exc.problem_mark)}: {_where(loc)}: {exc.problem}")
            return None
        out: dict[str, Any] = {}
        merged: set[str] = set()  # keys that came from ``<<``: the mapping's own keys override them
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self.scalar(key_node, loc) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                self.problems.append(f"{self.source}:{line}: {_where(loc)}: keys must be plain names")
                continue
            key = str(key)
            if id(key_node) not in own:
                merged.add(key)  # flatten_mapping puts merged pairs first, the last merge winning
            elif key in merged:
                merged.discard(key)
                out.pop(key, None)
            if key in out and key in merged:
                out.pop(key)
            if key in out:
                self.problems.append(
                    f"{self.source}:{line}: {_where(loc + (key,))}: "
                    f"duplicate key {key!r} (first on line {self.lines[loc + (key,)]})"
                )
                continue
            self.lines[loc + (key,)] = line
            out[key] = self.walk(value_node, loc + (key,))
            self.lines[loc + (key,)] = line
        return out

    def resolve_string(self, value: str, loc: Loc) -> str:
        missing: list[str] = []
        self.remember_env_secrets(value)
        value = expand_vars(value, missing)
        for name in missing:
            self.problems.append(
                f"{self.where(loc)}: environment variable {name} is not set "
                f"(needed by {'.'.join(loc[2:]) or loc[-1]}); set it, or write ${{{name}:-default}}"
            )
        is_secret = len(loc) >= 3 and loc[0] == "providers" and (loc[2] == "api_key" or loc[2] == "headers")
        if is_secret and value.startswith("keyring:"):
            name = value[len("keyring:"):].strip()
            try:
                secret = keyring_secret(name, required=True)
            except ConfigError as exc:
                self.problems.append(f"{self.where(loc)}: {exc}")
                return ""
            value = secret or ""
        elif is_secret and value.startswith("file:"):
            p = Path(os.path.expanduser(value[len("file:"):].strip()))
            try:
                value = p.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                why = getattr(exc, "strerror", None) or ("not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc)
                self.problems.append(f"{self.where(loc)}: cannot read secret file {p}: {why}")
                return ""
        if is_secret:
            self.secrets.append(value)
        return value

    def remember_env_secrets(self, text: str) -> None:
        """A ``${VAR}`` value can land anywhere (``timeout: ${OPENAI_API_KEY}`` by mistake) and a
        validation message shows what it got; every substituted value is kept for redaction."""
        if "${" not in text:
            return
        for m in _VAR.finditer(text):
            if m.group(1) and os.environ.get(m.group(1)):
                self.secrets.append(os.environ[m.group(1)])


def keyring_secret(name: str, *, required: bool = False) -> str | None:
    """The secret stored as ``llmswitch keys set NAME`` (keyring service ``llmswitch``).

    Imported lazily: the ``keyring`` package is the optional extra ``llmswitch[keyring]``.
    With ``required`` a missing package or entry is a ConfigError saying how to fix it;
    otherwise it is None (an implicit look-up must never break a setup that does not use it).
    """
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        if required:
            raise ConfigError(
                f"keyring:{name} needs the keyring package: pip install 'llmswitch[keyring]'"
            ) from None
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as exc:
        if required:
            raise ConfigError(f"keyring:{name}: the keyring could not be read ({type(exc).__name__})") from None
        return None
    if value is None and required:
        raise ConfigError(f"keyring:{name} has no entry; store it with `llmswitch keys set {name}`")
    return value


_keyring_listeners: list[Callable[[], None]] = []


def on_keyring_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` after this process stores or deletes a key, so what was built from the
    old entry is rebuilt on its next use (the resolver's provider cache subscribes)."""
    _keyring_listeners.append(listener)


def _keyring_changed() -> None:
    for listener in list(_keyring_listeners):
        listener()


def set_keyring_secret(name: str, value: str) -> None:
    """Store ``value`` as ``llmswitch keys set NAME`` does (ConfigError without the keyring extra)."""
    try:
        import keyring
    except ImportError:
        raise ConfigError("the keyring package is not installed: pip install 'llmswitch[keyring]'") from None
    keyring.set_password(KEYRING_SERVICE, name, value)
    _keyring_changed()


def delete_keyring_secret(name: str) -> None:
    """Delete a stored key (KeyError when there is none)."""
    try:
        import keyring
        from keyring.errors import PasswordDeleteError
    except ImportError:
        raise ConfigError("the keyring package is not installed: pip install 'llmswitch[keyring]'") from None
    try:
        keyring.delete_password(KEYRING_SERVICE, name)
    except PasswordDeleteError:
        raise KeyError(f"no key named {name!r} in the keyring") from None
    finally:
        _keyring_changed()


def infer_type(name: str, model: str | None = None) -> str | None:
    """The provider type a nameless-typed entry stands for, when exactly one type claims it: the
    name is a type or starts with ``<type>_``/``<type>-``, or the name or model starts with a prefix
    a provider class declares (``type_hints``: ``claude`` → anthropic). None when none or several do."""
    from .providers import provider_classes

    lowered = name.lower()
    found: set[str] = set()
    for klass in provider_classes():
        type_name = klass.provider_type.value
        if lowered == type_name or lowered.startswith((type_name + "_", type_name + "-")):
            found.add(type_name)
        for hint in klass.type_hints:
            if lowered.startswith(hint) or (model is not None and model.lower().startswith(hint)):
                found.add(type_name)
    return found.pop() if len(found) == 1 else None


def implicit_api_key(klass: type[BaseProvider], name: str | None = None) -> str | None:
    """The key a provider gets when none is configured: None when the type needs none or its env var
    is set (the provider reads that itself), else the keyring entry named after the provider, else
    the one named after its type (`llmswitch keys set openai` serves `oa2: {type: openai}`).

    The one place every path (module API, ``auto``, the registry, ``doctor``) looks keys up, so a
    key that works for one works for all."""
    if not klass.requires_api_key or (klass.api_key_env and os.environ.get(klass.api_key_env)):
        return None
    type_name = klass.provider_type.value
    for entry in dict.fromkeys(n for n in (name, type_name) if n):
        try:
            secret = keyring_secret(entry)
        except LLMSwitchError:  # an unreadable keyring is "no stored key" here, never a failure
            secret = None
        if secret:
            return secret
    return None


# --- messages -------------------------------------------------------------------------------

_ENV_EXAMPLES = {
    "providers": '{"local": {"type": "ollama"}}',
    "agents": '{"coder": {"provider": "local", "fallbacks": []}}',
    "state": '{"backend": "redis", "url": "redis://localhost:6379/0"}',
    "budgets": '[{"usd": 50, "per": "month"}]',
    "telemetry": '{"otel": true}',
}

_URL_PASSWORD = re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]+@")


def _scrub(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """No secret in a ConfigError: every registered and resolved secret, key-shaped text, and the
    password in a URL's user info (``redis://:pw@host``) are replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", redact(text, *secrets))


def _joined(problems: list[str]) -> str:
    n = len(problems)
    return f"invalid configuration ({n} problem{'s' if n > 1 else ''}):\n  - " + "\n  - ".join(problems)


def _env_var_for(field: str) -> str | None:
    """The ``LLMSWITCH_<FIELD>`` variable that sets this top-level field, if one is set and not
    empty (pydantic-settings matches the name case-insensitively; it wins over the file)."""
    want = f"llmswitch_{field}".lower()
    for name, value in os.environ.items():
        if name.lower() == want and value != "":
            return name
    return None


def _env_json_problems() -> list[str]:
    """pydantic-settings' ``SettingsError`` says a field's variable is not JSON, not where; say where."""
    problems: list[str] = []
    for field in _ENV_EXAMPLES:
        var = _env_var_for(field)
        if var is None:
            continue
        try:
            json.loads(os.environ[var])
        except ValueError as exc:
            where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            problems.append(
                f"${var} is not valid JSON ({getattr(exc, 'msg', exc)}{where}); it must be a JSON object, "
                f"e.g. {var}='{_ENV_EXAMPLES[field]}', or unset it to use the config file"
            )
    return [_scrub(p) for p in problems] or ["an LLMSWITCH_* environment variable is not valid JSON; unset it or fix it"]


class _Problems(ConfigError):
    """A ConfigError that keeps its list, so ``parse_config`` reports it with the file's problems."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(_joined(problems))


def _describe_error(err: Mapping[str, Any], walker: _Walker | None) -> str:
    loc: Loc = tuple(str(x) for x in err.get("loc", ()))
    if loc[:1] in (("providers",), ("agents",)):
        field = ".".join(loc[2:])
    else:
        field = ".".join(loc[1:])
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        hint = ""
        if len(loc) == 3 and loc[0] == "providers":
            hint = " (provider-specific settings go under options:)"
        msg = f"unknown key {loc[-1]!r}{hint}"
        field = ""
    elif err.get("type") == "missing":
        msg = f"{loc[-1]!r} is required"
        if loc[-1] == "type" and loc[:1] == ("providers",):
            from .providers import known_types

            msg += f" (neither the name nor the model tells which; one of {', '.join(known_types())})"
        field = ""
    secret = any(part in ("api_key", "headers") for part in loc)
    got = err.get("input")
    shown = ""
    if not secret and isinstance(got, (str, int, float, bool)) and err.get("type") not in ("extra_forbidden", "missing"):
        shown = f" (got {got!r})"
    env_var = _env_var_for(loc[0]) if loc else None
    if env_var is not None:
        prefix = f"${env_var}: {_where(loc)}"
    elif walker is not None:
        prefix = f"{walker.source}:{walker.line_for(loc)}: {_where(loc)}"
    else:
        prefix = _where(loc)
    return f"{prefix}: {field + ': ' if field else ''}{msg}{shown}"


class _InvalidValues(ConfigError):
    """A validation failure of ``LLMSwitchConfig(...)``; keeps pydantic's error list so that
    ``parse_config`` can say which line of the file each one came from."""

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        self.errors = errors
        super().__init__(_scrub(_joined([_describe_error(e, None) for e in errors])))


def _agent_problems(data: dict[str, Any], walker: _Walker) -> list[str]:
    """Agents must name configured providers; checked on the raw data so it is reported
    together with every other problem in the file."""
    agents, providers = data.get("agents"), data.get("providers")
    if not isinstance(agents, dict):
        return []
    known = list(providers) if isinstance(providers, dict) else []
    out: list[str] = []
    for agent, cfg in agents.items():
        if not isinstance(cfg, dict):
            continue
        fallbacks = cfg.get("fallbacks") or []
        refs = [("provider",), *[("fallbacks", str(i)) for i in range(len(fallbacks))]]
        values = [cfg.get("provider"), *fallbacks] if isinstance(fallbacks, list) else [cfg.get("provider")]
        # not strict: fallbacks that is not a list gives more places than values, and only the provider is checked
        for sub, ref in zip(refs, values, strict=False):
            if isinstance(ref, str) and ref not in known:
                loc = ("agents", agent, *sub)
                out.append(
                    f"{walker.source}:{walker.line_for(loc)}: agent {agent!r}: names provider {ref!r}, "
                    f"which is not under providers: (known: {', '.join(known) or 'none'})"
                )
    return out


def _already_reported(err: Mapping[str, Any], walker: _Walker) -> bool:
    loc = tuple(str(x) for x in err.get("loc", ()))
    return any(loc[: len(bad)] == bad for bad in walker.bad)


def parse_config(text: str | bytes, *, source: str | os.PathLike[str] = "<string>") -> LLMSwitchConfig:
    """Parse and validate YAML text; every problem in the file is reported in one ConfigError.

    Nothing else escapes: syntax errors, unsupported tags, the size/depth/alias limits, a
    malformed ``LLMSWITCH_*`` variable and validation failures are all ``ConfigError`` naming
    the file and line, with every secret the file resolves redacted."""
    src = str(source)
    if isinstance(text, (bytes, bytearray)):
        text = _decode(bytes(text), src)
    elif not isinstance(text, str):
        raise TypeError(f"parse_config takes the YAML text as str or bytes, not {type(text).__name__}")
    node, loader = _compose(text, src)
    walker = _Walker(loader, src)
    try:
        data: Any = {} if node is None else walker.walk(node, ())
    except RecursionError:  # a backstop: walk() checks the depth itself
        raise ConfigError(f"{src}: refused: the file nests too deeply to read") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{src}:1: the file must be a mapping with providers:, agents:, state:, budgets:, usage_log:, telemetry:"
        )
    problems = list(walker.problems) + _agent_problems(data, walker)
    config: LLMSwitchConfig | None = None
    try:
        config = LLMSwitchConfig(**data)
    except _InvalidValues as exc:
        problems.extend(_describe_error(e, walker) for e in exc.errors if not _already_reported(e, walker))
    except _Problems as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(_scrub(_joined(problems), walker.secrets))
    assert config is not None
    config._source = Path(src) if src != "<string>" else None
    return config
