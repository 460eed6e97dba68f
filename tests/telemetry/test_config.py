"""The ``telemetry:`` section of the config: validated, off by default, applied by the registry."""

from __future__ import annotations

import pytest

from llmswitch import _observe
from llmswitch.config import LLMSwitchConfig, parse_config
from llmswitch.errors import ConfigError


def test_off_by_default() -> None:
    t = LLMSwitchConfig().telemetry
    assert (t.otel, t.capture_content, t.service_name) == (False, False, None)


def test_parsed_from_yaml() -> None:
    cfg = parse_config("telemetry: {otel: true, capture_content: true, service_name: agents}\n", source="t.yaml")
    assert (cfg.telemetry.otel, cfg.telemetry.capture_content, cfg.telemetry.service_name) == (True, True, "agents")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("telemetry: {otle: true}\n", "unknown key 'otle'"),
        ("telemetry: {otel: maybe}\n", "otel"),
        ("telemetry: {service_name: '  '}\n", "service_name must not be empty"),
    ],
)
def test_invalid_values_are_config_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(text, source="t.yaml")


def test_capture_content_follows_the_config() -> None:
    from llmswitch.registry import ProviderRegistry

    try:
        ProviderRegistry.from_config({"providers": {}, "telemetry": {"capture_content": True}}, enable_log=False)
        assert _observe.capture_content == [True]
        ProviderRegistry.from_config({"providers": {}, "telemetry": {"capture_content": False}}, enable_log=False)
        assert _observe.capture_content == []
    finally:
        _observe.capture_content.clear()
