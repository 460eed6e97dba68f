"""Configuration file: expansion, errors with file/line/provider, unknown keys, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmswitch.config import find_config_path, load_config, parse_config
from llmswitch.errors import ConfigError
from llmswitch.registry import ProviderRegistry

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_env_expansion_with_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("LS_TEST_HOST", "127.0.0.1")
    monkeypatch.setenv("LS_TEST_EMPTY", "")
    cfg_file = write(tmp_path / "c.yaml", """
        providers:
          local:
            type: vllm
            base_url: "http://${LS_TEST_HOST}:${LS_TEST_PORT:-8123}/v1"
            timeout: ${LS_TEST_TIMEOUT:-7.5}
            default_model: "${LS_TEST_EMPTY:-fallback-model}"
            headers: {X-Note: "cost $$5 ${LS_TEST_EMPTY-unused}"}
    """)
    cfg = load_config(cfg_file)
    p = cfg.providers["local"]
    assert p.base_url == "http://127.0.0.1:8123/v1"
    assert p.timeout == 7.5
    assert p.default_model == "fallback-model"  # ':-' also replaces an empty value
    assert p.headers["X-Note"].get_secret_value() == "cost $5 "  # '-' only replaces an unset one
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    prov = reg.get("local")
    assert prov.base_url == "http://127.0.0.1:8123/v1" and prov.default_model == "fallback-model"
    assert prov._timeouts.read == 7.5


def test_missing_variable_names_variable_provider_and_line(tmp_path):
    cfg_file = write(tmp_path / "llmswitch.yaml", """
        providers:
          fine: {type: vllm}
          claude_main:
            type: openai
            api_key: "${LS_TEST_SURELY_UNSET_KEY}"
    """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    msg = str(info.value)
    assert "LS_TEST_SURELY_UNSET_KEY" in msg
    assert "claude_main" in msg
    assert f"{cfg_file}:5" in msg


def test_wrong_type_reports_file_line_provider_and_field(tmp_path):
    cfg_file = write(tmp_path / "llmswitch.yaml", """
        providers:
          ok: {type: vllm}
          local:
            type: vllm
            base_url: http://127.0.0.1:1/v1
            timeout: soon
        agents:
          coder: {provider: local, fallbacks: [ghost]}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    msg = str(info.value)
    assert f"{cfg_file}:6: provider 'local': timeout:" in msg
    assert "'soon'" in msg
    # every problem in one error: the unknown fallback too, with its line
    assert f"{cfg_file}:8: agent 'coder'" in msg and "'ghost'" in msg


def test_unknown_keys_rejected_everywhere(tmp_path):
    cfg_file = write(tmp_path / "llmswitch.yaml", """
        providers:
          local:
            type: vllm
            defualt_model: llama
          router:
            type: openrouter
            api_key: sk-or-abcdef123456
            options: {x_title: my app, http_refferer: "https://x"}
        usage_logg: {path: default}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    msg = str(info.value)
    assert f"{cfg_file}:4: provider 'local': unknown key 'defualt_model'" in msg
    assert "http_refferer" in msg and "provider 'router'" in msg
    assert "unknown key 'usage_logg'" in msg
    assert "sk-or-abcdef123456" not in msg


def test_unknown_provider_type_and_duplicate_key(tmp_path):
    cfg_file = write(tmp_path / "llmswitch.yaml", """
        providers:
          a: {type: olama}
          b: {type: vllm, timeout: 1, timeout: 2}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    msg = str(info.value)
    assert "provider 'a'" in msg and "unknown provider type 'olama'" in msg
    assert f"{cfg_file}:3" in msg and "duplicate key 'timeout'" in msg


def test_usage_log_off_and_env_override(tmp_path, monkeypatch):
    cfg_file = write(tmp_path / "c.yaml", "usage_log: off\n")
    assert load_config(cfg_file).usage_log.resolved_path() is None  # YAML reads bare off as False
    cfg_file = write(tmp_path / "c2.yaml", f"usage_log: {{path: {tmp_path / 'u.db'}}}\n")
    assert load_config(cfg_file).usage_log.resolved_path() == tmp_path / "u.db"
    monkeypatch.setenv("LLMSWITCH_USAGE_LOG", "off")
    assert load_config(cfg_file).usage_log.resolved_path() is None  # the environment wins


def test_search_order(tmp_path, monkeypatch):
    from llmswitch._paths import config_dir

    assert find_config_path() is None
    user = write(config_dir() / "llmswitch.yaml", "providers: {}\n")
    assert find_config_path() == user
    local = write(Path.cwd() / "llmswitch.yaml", "providers: {}\n")
    assert find_config_path() == local
    named = write(tmp_path / "named.yaml", "providers: {}\n")
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(named))
    assert find_config_path() == named
    assert find_config_path(user) == user  # --config beats everything
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="missing.yaml"):
        find_config_path()


def test_keyring_secret(tmp_path, memory_keyring):
    memory_keyring.set_password("llmswitch", "router", "sk-or-from-keyring-123")
    memory_keyring.set_password("llmswitch", "implicit", "sk-implicit-456789")
    cfg_file = write(tmp_path / "c.yaml", """
        providers:
          router: {type: openrouter, api_key: "keyring:router"}
          implicit: {type: openai, base_url: "http://127.0.0.1:9/v1"}
    """)
    cfg = load_config(cfg_file)
    assert cfg.providers["router"].api_key.get_secret_value() == "sk-or-from-keyring-123"
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    assert reg.get("router").api_key.get_secret_value() == "sk-or-from-keyring-123"
    # no api_key and no OPENAI_API_KEY: the keyring entry named after the provider
    assert reg.get("implicit").api_key.get_secret_value() == "sk-implicit-456789"
    for text in (repr(reg), repr(cfg), str(cfg.redacted()), repr(reg.get("router"))):
        assert "sk-or-from-keyring-123" not in text and "sk-implicit-456789" not in text


def test_keyring_entry_of_the_type_serves_a_provider_named_otherwise(tmp_path, memory_keyring, monkeypatch):
    """`llmswitch keys set openai` serves `oa2: {type: openai}` (the lookup was by name only)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    memory_keyring.set_password("llmswitch", "openai", "sk-typed-entry-987654")
    cfg_file = write(tmp_path / "c.yaml", """
        providers:
          oa2: {type: openai, base_url: "http://127.0.0.1:9/v1"}
    """)
    reg = ProviderRegistry.from_config(load_config(cfg_file), enable_log=False)
    assert reg.get("oa2").api_key.get_secret_value() == "sk-typed-entry-987654"


def test_missing_keyring_entry_is_an_error(tmp_path, memory_keyring):
    cfg_file = write(tmp_path / "c.yaml", """
        providers:
          router: {type: openrouter, api_key: "keyring:nothing-here"}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    assert "llmswitch keys set nothing-here" in str(info.value) and "provider 'router'" in str(info.value)


def test_file_secret_and_no_secret_in_errors(tmp_path):
    (tmp_path / "key.txt").write_text("sk-from-file-987654\n")
    cfg = parse_config(f"providers:\n  o: {{type: openai, api_key: 'file:{tmp_path / 'key.txt'}'}}\n")
    assert cfg.providers["o"].api_key.get_secret_value() == "sk-from-file-987654"
    with pytest.raises(ConfigError) as info:
        parse_config("providers:\n  o: {type: openai, api_key: [sk-listed-secret-123], timeout: -1}\n")
    assert "sk-listed-secret-123" not in str(info.value)
    assert "api_key" in str(info.value) and "timeout" in str(info.value)
