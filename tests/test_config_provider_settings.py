"""Per-provider time bounds and read limits in ``llmswitch.yaml``: accepted, validated with
file/line/setting, passed to the provider constructor; and no secret in any ConfigError."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from llmswitch._limits import Limits
from llmswitch.config import BYTES_SETTINGS, SECONDS_SETTINGS, load_config

# the same bare environment and file helpers as the config-loading tests (one copy, there)
from tests.test_config_loading import _no_llmswitch_env, config_error, write  # noqa: F401 - the fixture is autouse


def test_every_read_limit_has_a_config_setting() -> None:
    assert set(BYTES_SETTINGS) == {f.name for f in fields(Limits)}


def test_all_settings_accepted_and_passed_to_the_provider(tmp_path: Path) -> None:
    from llmswitch.registry import ProviderRegistry

    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          local:
            type: vllm
            base_url: "http://127.0.0.1:9/v1"
            timeout: 120
            read_timeout: 30.5
            connect_timeout: 2
            health_timeout: 3
            max_body_bytes: 32MiB
            max_error_body_bytes: 65536
            max_line_bytes: "1 MB"
            max_event_bytes: 2_000_000
    """))
    kw = cfg.providers["local"].provider_kwargs()
    assert kw == {
        "base_url": "http://127.0.0.1:9/v1",
        "timeout": 120.0, "read_timeout": 30.5, "connect_timeout": 2.0, "health_timeout": 3.0,
        "max_body_bytes": 32 * 1024 * 1024, "max_error_body_bytes": 65536,
        "max_line_bytes": 1_000_000, "max_event_bytes": 2_000_000,
    }
    provider = ProviderRegistry.from_config(cfg, enable_log=False).get("local")
    assert provider._limits == Limits(32 * 1024 * 1024, 65536, 1_000_000, 2_000_000)


def test_settings_under_options_are_lifted_and_validated(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          local: {type: vllm, options: {max_line_bytes: 4KiB, health_timeout: 1, custom: x}}
    """))
    p = cfg.providers["local"]
    assert (p.max_line_bytes, p.health_timeout, p.options) == (4096, 1.0, {"custom": "x"})
    msg = config_error(write(tmp_path / "bad.yaml", """
        providers:
          local: {type: vllm, options: {max_line_bytes: -1}}
    """))
    assert "provider 'local': max_line_bytes: must be a positive number of bytes" in msg
    msg = config_error(write(tmp_path / "twice.yaml", """
        providers:
          local: {type: vllm, timeout: 5, options: {timeout: 6}}
    """))
    assert "timeout given both on the provider and under options:" in msg


@pytest.mark.parametrize("setting", SECONDS_SETTINGS)
@pytest.mark.parametrize("value", ["0", "-5", "true", ".nan", ".inf", "soon"])
def test_bad_seconds(tmp_path: Path, setting: str, value: str) -> None:
    path = write(tmp_path / "c.yaml", f"""
        providers:
          fine: {{type: vllm}}
          local:
            type: vllm
            {setting}: {value}
    """)
    msg = config_error(path)
    assert f"{path}:5: provider 'local': {setting}: must be a positive, finite number of seconds" in msg


@pytest.mark.parametrize("setting", BYTES_SETTINGS)
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "false", "lots", "12 parsecs"])
def test_bad_bytes(tmp_path: Path, setting: str, value: str) -> None:
    path = write(tmp_path / "c.yaml", f"""
        providers:
          local:
            type: vllm
            {setting}: {value}
    """)
    msg = config_error(path)
    assert f"{path}:4: provider 'local': {setting}: must be a positive number of bytes, e.g. 16777216 or 16MiB" in msg


def test_no_secret_in_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret can land where a message echoes the value; it is redacted, wherever it came from."""
    token = "tok-not-key-shaped-314159"
    monkeypatch.setenv("LS_TEST_TOKEN", token)
    path = write(tmp_path / "c.yaml", """
        providers:
          local:
            type: vllm
            api_key: "literal-secret-271828"
            headers: {X-Token: "${LS_TEST_TOKEN}"}
            default_max_tokens: "${LS_TEST_TOKEN}"
            base_url: 42
            default_model: ["literal-secret-271828"]
          other:
            type: vllm
            timeout: "literal-secret-271828"
    """)
    msg = config_error(path)
    assert "default_max_tokens" in msg and "timeout" in msg
    assert token not in msg and "literal-secret-271828" not in msg and "***" in msg


def test_url_password_is_not_shown(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        state: {backend: redis, url: "redis://:hunter2-pass@cache:6379/0", key_prefix: [x]}
        providers:
          p: {type: vllm, default_max_tokens: "http://user:pw-secret-99@host/"}
    """)
    msg = config_error(path)
    assert "pw-secret-99" not in msg and "hunter2" not in msg and "user:***@host" in msg
