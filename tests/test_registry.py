"""ProviderRegistry: threads, lookups, agents, usage totals, connectivity validation."""

from __future__ import annotations

import random
import threading
import time

import pytest

from llmswitch.config import parse_config
from llmswitch.errors import ConfigError, ModelNotFoundError
from llmswitch.providers import create_provider
from llmswitch.registry import ProviderRegistry, default_registry

pytestmark = pytest.mark.usefixtures("isolated")  # a bare machine: tests/fixtures/env.py


def test_sixteen_threads_register_and_get_for_a_second():
    reg = ProviderRegistry()
    shared = create_provider("vllm", base_url="http://127.0.0.1:9/v1")
    reg.register("seed", shared)
    errors: list[BaseException] = []
    counts = [0] * 16
    gets = [0] * 16
    stop = time.monotonic() + 1.0

    def worker(i: int) -> None:
        try:
            n = 0
            while n == 0 or time.monotonic() < stop:  # at least one round, however late the thread starts
                reg.register(f"t{i}-{n}", shared)
                n += 1
                assert reg.get(f"t{i}-{random.randrange(n)}") is shared
                assert reg.get("seed") is shared
                assert f"t{i}-{n - 1}" in reg
                gets[i] += 2
            counts[i] = n
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(c > 0 for c in counts)
    assert len(reg) == sum(counts) + 1
    assert len(set(reg.list_providers())) == len(reg)


def test_get_unknown_lists_known_names():
    reg = ProviderRegistry()
    reg.register("alpha", create_provider("vllm"))
    reg.register("beta", create_provider("lmstudio"))
    with pytest.raises(KeyError) as info:
        reg.get("gamma")
    assert "alpha" in str(info.value) and "beta" in str(info.value)
    assert "alpha" in reg and "gamma" not in reg and len(reg) == 2
    with pytest.raises(ValueError):
        reg.register("alpha", create_provider("vllm"), replace=False)


def test_agents_and_fallback_chain():
    cfg = parse_config("""
providers:
  main: {type: openai, api_key: sk-test-abcdefgh, base_url: "http://127.0.0.1:9/v1"}
  router: {type: openrouter, api_key: sk-or-test-abcdefgh}
  local: {type: vllm, base_url: "http://127.0.0.1:9/v1"}
agents:
  coder: {provider: main, fallbacks: [router, local]}
""")
    reg = ProviderRegistry.from_config(cfg, enable_log=False)
    assert reg.get_for_agent("coder") is reg.get("main")
    assert [p.name for p in reg.get_agent_chain("coder")] == ["main", "router", "local"]
    with pytest.raises(KeyError, match="coder"):
        reg.get_for_agent("writer")
    reg.set_agent("default", "local")
    assert reg.get_for_agent("writer") is reg.get("local")  # unconfigured agents use 'default'
    with pytest.raises(ConfigError, match="nope"):
        reg.set_agent("x", "nope")
    text = repr(reg)
    assert "main=OpenAIProvider" in text and "sk-test" not in text and "sk-or-test" not in text


async def test_usage_totals_summary_and_reset(fake_server):
    a = await fake_server(models=["m1"], usage={"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14})
    b = await fake_server(models=["m2"], usage={"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101})
    reg = ProviderRegistry()
    reg.register("a", create_provider("vllm", base_url=a.base_url, name="a"))
    reg.register("b", create_provider("openai-compatible", base_url=b.base_url, name="b"))
    try:
        await reg.get("a").complete("hi", model="m1")
        await reg.get("a").complete("hi", model="m1")
        await reg.get("b").complete("hi", model="m2")
        with pytest.raises(ModelNotFoundError):
            await reg.get("b").complete("hi", model="missing")
        total = reg.get_total_usage()
        assert (total.input_tokens, total.output_tokens, total.calls, total.errors) == (120, 9, 3, 1)
        summary = reg.get_usage_summary()
        assert summary["a"]["calls"] == 2 and summary["a"]["input_tokens"] == 20 and summary["a"]["cost"] == 0.0
        assert summary["b"]["errors"] == 1 and summary["b"]["unpriced_calls"] == 1  # no price known: not $0
        reg.reset_all_usage()
        assert reg.get_total_usage().calls == 0
    finally:
        await reg.aclose()


async def test_validate_connectivity_reports_every_failure_at_once(fake_server, refused_url, blackhole_url):
    good = await fake_server(models=["m"])
    cfg = parse_config(f"""
providers:
  good: {{type: vllm, base_url: "{good.base_url}"}}
  refused: {{type: vllm, base_url: "{refused_url}"}}
  hole: {{type: lmstudio, base_url: "{blackhole_url}", timeout: 30}}
""")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        await ProviderRegistry.afrom_config(cfg, validate_connectivity=True, enable_log=False, timeout=0.5)
    elapsed = time.perf_counter() - started
    msg = str(info.value)
    assert "2 of 3" in msg and "refused" in msg and "hole" in msg and "good (" not in msg
    assert elapsed < 2.0  # checked concurrently, each bounded by the timeout
    ok = parse_config(f'providers:\n  good: {{type: vllm, base_url: "{good.base_url}"}}\n')
    reg = await ProviderRegistry.afrom_config(ok, validate_connectivity=True, enable_log=False)
    assert reg.list_providers() == ["good"]
    await reg.aclose()


def test_default_registry_loads_config_for_the_module_api(tmp_path, monkeypatch):
    from llmswitch.api import get_provider

    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers:\n  mine: {type: vllm, base_url: 'http://127.0.0.1:9/v1', default_model: x}\nusage_log: off\n")
    monkeypatch.setenv("LLMSWITCH_CONFIG", str(cfg))
    reg = default_registry()
    assert reg.list_providers() == ["mine"] and default_registry() is reg
    provider, model = get_provider("mine:some/model:tag")
    assert provider is reg.get("mine") and model == "some/model:tag"


def test_default_registry_is_empty_without_a_config():
    from llmswitch._paths import data_dir
    from llmswitch.usage.log import current_usage_log

    assert len(default_registry()) == 0
    log = current_usage_log()  # the module-level API logs usage by default
    assert log is not None and log.path == data_dir() / "usage.sqlite3"


def test_usage_log_off_from_environment(monkeypatch):
    from llmswitch.usage.log import current_usage_log

    monkeypatch.setenv("LLMSWITCH_USAGE_LOG", "off")
    default_registry()
    assert current_usage_log() is None
