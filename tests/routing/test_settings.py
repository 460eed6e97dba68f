"""Resilience settings in ``llmswitch.yaml`` (``retries``, ``retry_max_wait``, ``retry_max_time``,
``retry_on_timeout``, ``breaker: {...}``): validated with file and line, passed to the provider,
and the provider built from them retries and breaks against the OpenAI fake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmswitch import errors as E
from llmswitch.config import load_config
from llmswitch.registry import ProviderRegistry
from llmswitch.routing import CircuitState
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(autouse=True)
def _no_llmswitch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LLMSWITCH_STATE", "LLMSWITCH_PROVIDERS", "LLMSWITCH_AGENTS", "LLMSWITCH_USAGE_LOG", "LLMSWITCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_settings_reach_the_provider(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          main:
            type: openai-compatible
            base_url: "http://127.0.0.1:9/v1"
            retries: 4
            retry_max_wait: 10
            retry_max_time: 30
            retry_on_timeout: false
            breaker: {failure_threshold: 3, recovery_timeout: 15, failure_rate_threshold: 0.5}
          quiet:
            type: openai-compatible
            base_url: "http://127.0.0.1:9/v1"
            options: {retries: 0}
          noretry:
            type: openai-compatible
            base_url: "http://127.0.0.1:9/v1"
            retries: off
    """))
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    main = reg.get("main")
    assert main.retry_policy is not None
    p = main.retry_policy
    assert (p.retries, p.max_wait, p.max_time, p.retry_on_timeout) == (4, 10.0, 30.0, False)
    b = main.breaker
    assert b is not None and (b.name, b.failure_threshold, b.recovery_timeout, b.failure_rate_threshold) == ("main", 3, 15.0, 0.5)
    quiet = reg.get("quiet")
    assert quiet.retry_policy is None and quiet.breaker is None  # lifted from options:, and off
    assert reg.get("noretry").retry_policy is None  # YAML's off (False) is 0


def test_defaults_without_settings(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          main: {type: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
    """))
    main = ProviderRegistry.from_config(cfg, enable_log=False).get("main")
    assert main.retry_policy is not None and main.retry_policy.retries == 2
    assert main.breaker is None  # a breaker only when configured


@pytest.mark.parametrize("line, where", [
    ("retries: -1", "retries"),
    ("retries: lots", "retries"),
    ("retries: true", "retries"),
    ("retry_max_time: 0", "retry_max_time"),
    ("breaker: {failure_treshold: 3}", "failure_treshold"),
    ("breaker: {failure_threshold: 0}", "failure_threshold"),
    ("breaker: {failure_rate_threshold: 2}", "failure_rate_threshold"),
])
def test_bad_values_name_the_setting_and_line(tmp_path: Path, line: str, where: str) -> None:
    path = write(tmp_path / "c.yaml", f"""
        providers:
          main:
            type: openai-compatible
            base_url: "http://127.0.0.1:9/v1"
            {line}
    """)
    with pytest.raises(E.ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert where in text and "c.yaml" in text


async def test_a_configured_provider_retries_and_breaks(tmp_path: Path, openai_fake: tuple[FakeOpenAI, str]) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", f"""
        providers:
          main:
            type: openai
            base_url: "{openai_fake[1]}"
            api_key: "{openai_server.VALID_KEY}"
            retries: 1
            breaker: {{failure_threshold: 2, recovery_timeout: 60}}
    """))
    main = ProviderRegistry.from_config(cfg, enable_log=False).get("main")
    with pytest.raises(E.ProviderUnavailableError):  # 2 attempts (one retry) open the circuit
        await main.complete("hi", model="gpt-broken")
    assert len(openai_fake[0].requests) == 2
    assert main.breaker is not None and main.breaker.state is CircuitState.OPEN
    with pytest.raises(E.CircuitOpenError):
        await main.complete("hi", model="gpt-test")
    assert len(openai_fake[0].requests) == 2
    await main.aclose()
