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
A provider without ``api_key`` falls back to its usual env var (``OPENAI_API_KEY``...), then to
the keyring entry named after the provider. Top-level settings can also come from the
environment (``LLMSWITCH_USAGE_LOG=off``, ``LLMSWITCH_STATE='{"backend": "redis", ...}'``),
which wins over the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

__all__ = [
    "ProviderConfig",
    "AgentConfig",
    "StateConfig",
    "UsageLogConfig",
    "LLMSwitchConfig",
    "CONFIG_FILENAME",
    "KEYRING_SERVICE",
    "find_config_path",
    "load_config",
    "parse_config",
    "keyring_secret",
    "expand_vars",
]

CONFIG_FILENAME = "llmswitch.yaml"
KEYRING_SERVICE = "llmswitch"

# Options a provider type understands beyond the common fields. Types not listed here (and
# not declaring ``option_names`` on their class) accept any option, since we cannot know.
KNOWN_OPTIONS: dict[str, frozenset[str]] = {
    "openrouter": frozenset({"http_referer", "x_title", "site_url", "app_name"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderConfig(_Strict):
    """One entry under ``providers:``. Provider-specific knobs go under ``options:`` so a typo
    in a common field (``defualt_model``) is still an error, not a silently ignored option."""

    type: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    default_model: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    connect_timeout: float | None = Field(default=None, gt=0)
    default_max_tokens: int | None = Field(default=None, gt=0)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from .providers import known_types
        from .providers import _ALIASES  # type: ignore[attr-defined]

        key = _ALIASES.get(v.lower(), v.lower())
        if key not in known_types():
            raise ValueError(f"unknown provider type {v!r}; known: {', '.join(known_types())}")
        return key

    @model_validator(mode="after")
    def _known_options(self) -> "ProviderConfig":
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
        """Keyword arguments for the provider class (``BaseProvider.__init__``)."""
        kw: dict[str, Any] = {}
        for field in ("base_url", "api_key", "default_model", "timeout", "connect_timeout", "default_max_tokens"):
            value = getattr(self, field)
            if value is not None:
                kw[field] = value
        if self.headers:
            kw["headers"] = {k: v.get_secret_value() for k, v in self.headers.items()}
        kw.update(self.options)
        return kw


class AgentConfig(_Strict):
    """An agent names its provider and the providers to fall back to, in order."""

    provider: str
    fallbacks: list[str] = Field(default_factory=list)


class StateConfig(_Strict):
    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    key_prefix: str | None = None


class UsageLogConfig(_Strict):
    """``usage_log: {path: default}`` (the user data dir), a path, or ``off``."""

    path: str = "default"
    enabled: bool = True

    def resolved_path(self) -> Path | None:
        if not self.enabled:
            return None
        if self.path in ("default", ""):
            from .paths import data_dir

            return data_dir() / "usage.sqlite3"
        return Path(os.path.expanduser(self.path))


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

    model_config = SettingsConfigDict(env_prefix="LLMSWITCH_", extra="forbid", validate_default=True)

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    state: StateConfig = Field(default_factory=StateConfig)
    usage_log: Annotated[UsageLogConfig, NoDecode] = Field(default_factory=UsageLogConfig)

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("usage_log", mode="before")
    @classmethod
    def _usage_log(cls, v: Any) -> Any:
        return _usage_log_before(v)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
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
    from .paths import config_dir

    user = config_dir() / CONFIG_FILENAME
    return user if user.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None) -> LLMSwitchConfig | None:
    """Find and parse the config file; None when there is none (an empty setup is valid)."""
    found = find_config_path(path)
    if found is None:
        return None
    try:
        text = found.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {found}: {exc.strerror or exc}") from None
    return parse_config(text, source=found)


# --- YAML with line numbers -----------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")

Loc = tuple[str, ...]


def expand_vars(value: str, missing: list[str] | None = None) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset only);
    ``$$`` is a literal ``$``. Missing variables without a default are appended to ``missing``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1), m.group(2), m.group(3)
        val = os.environ.get(name)
        if op == ":-" and not val:
            return default or ""
        if op == "-" and val is None:
            return default or ""
        if val is None:
            if missing is not None:
                missing.append(name)
            return ""
        return val

    return _VAR.sub(sub, value)


def _where(loc: Loc) -> str:
    if len(loc) >= 2 and loc[0] == "providers":
        return f"provider {loc[1]!r}"
    if len(loc) >= 2 and loc[0] == "agents":
        return f"agent {loc[1]!r}"
    return loc[0] if loc else "top level"


class _Walker:
    """Turns a composed YAML node tree into plain data, keeping a line for every path."""

    def __init__(self, loader: Any, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[str] = []

    def where(self, loc: Loc) -> str:
        return f"{self.source}:{self.line_for(loc)}: {_where(loc)}"

    def line_for(self, loc: Loc) -> int:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 1

    def walk(self, node: Any, loc: Loc) -> Any:
        import yaml

        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    self.problems.append(f"{self.source}:{key_node.start_mark.line + 1}: keys must be plain names")
                    continue
                key = str(key)
                if key in out:
                    self.problems.append(
                        f"{self.source}:{key_node.start_mark.line + 1}: {_where(loc + (key,))}: "
                        f"duplicate key {key!r} (first on line {self.lines[loc + (key,)]})"
                    )
                    continue
                self.lines[loc + (key,)] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, loc + (key,))
                self.lines[loc + (key,)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, loc + (str(i),)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            value = self.resolve_string(value, loc)
        return value

    def resolve_string(self, value: str, loc: Loc) -> str:
        missing: list[str] = []
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
            return secret or ""
        if is_secret and value.startswith("file:"):
            p = Path(os.path.expanduser(value[len("file:"):].strip()))
            try:
                return p.read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problems.append(f"{self.where(loc)}: cannot read secret file {p}: {exc.strerror or exc}")
                return ""
        return value


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


def _describe_error(err: dict[str, Any], walker: _Walker) -> str:
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
        field = ""
    secret = any(part in ("api_key", "headers") for part in loc)
    got = err.get("input")
    shown = ""
    if not secret and isinstance(got, (str, int, float, bool)) and err.get("type") not in ("extra_forbidden", "missing"):
        shown = f" (got {got!r})"
    prefix = f"{walker.source}:{walker.line_for(loc)}: {_where(loc)}"
    return f"{prefix}: {field + ': ' if field else ''}{msg}{shown}"


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
        refs = [("provider",), *[("fallbacks", str(i)) for i in range(len(cfg.get("fallbacks") or []))]]
        values = [cfg.get("provider"), *(cfg.get("fallbacks") or [])] if isinstance(cfg.get("fallbacks") or [], list) else [cfg.get("provider")]
        for sub, ref in zip(refs, values):
            if isinstance(ref, str) and ref not in known:
                loc = ("agents", agent, *sub)
                out.append(
                    f"{walker.source}:{walker.line_for(loc)}: agent {agent!r}: names provider {ref!r}, "
                    f"which is not under providers: (known: {', '.join(known) or 'none'})"
                )
    return out


def parse_config(text: str, *, source: str | os.PathLike[str] = "<string>") -> LLMSwitchConfig:
    """Parse and validate YAML text; every problem in the file is reported in one ConfigError."""
    import yaml

    src = str(source)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{src}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    walker = _Walker(loader, src)
    data: Any = {} if node is None else walker.walk(node, ())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{src}:1: the file must be a mapping with providers:, agents:, state:, usage_log:")
    problems = list(walker.problems) + _agent_problems(data, walker)
    config: LLMSwitchConfig | None = None
    try:
        config = LLMSwitchConfig(**data)
    except ValidationError as exc:
        problems.extend(_describe_error(e, walker) for e in exc.errors())
    if problems:
        raise ConfigError(f"invalid configuration ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n  - " + "\n  - ".join(problems))
    assert config is not None
    config._source = Path(src) if src != "<string>" else None
    return config
