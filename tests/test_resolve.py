"""The resolver (``llmswitch.resolve``): one alias table, one key lookup, a cache that follows the
environment and the keyring — for the module API, ``auto``, the registry and ``doctor`` alike."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmswitch
from llmswitch import resolve
from llmswitch.auto import explain_choice, reset_auto, resolve_auto
from llmswitch.config import LLMSwitchConfig, set_keyring_secret
from llmswitch.errors import AuthenticationError, ConfigError
from llmswitch.providers import cloud_defaults, local_defaults, provider_classes
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.registry import ProviderRegistry, set_default_registry
from tests.fakes import openai_server

_CLOUD_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "OPENAI_BASE_URL")


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cloud key in the environment, no config, an empty default registry, nothing cached."""
    for env in _CLOUD_ENVS:
        monkeypatch.delenv(env, raising=False)
    set_default_registry(ProviderRegistry())
    resolve.reset_provider_cache()
    reset_auto()
    yield
    resolve.reset_provider_cache()
    reset_auto()
    set_default_registry(None)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    fake, server = openai_server.start()
    try:
        yield server.url + "/v1"
    finally:
        server.stop()


def test_an_alias_means_the_same_in_every_path(clean: None) -> None:
    """`create_provider("compatible")` worked while `complete("compatible:foo")` raised ConfigError."""
    provider, model = resolve.resolve("compatible:foo")
    assert type(provider) is OpenAICompatibleProvider and model == "foo"
    assert type(llmswitch.create_provider("compatible")) is OpenAICompatibleProvider
    assert resolve.resolve("llama.cpp:m:q4")[0].provider_type.value == "llamacpp"
    assert resolve.resolve("llama.cpp:m:q4")[1] == "m:q4"


def test_an_unknown_type_names_the_known_ones(clean: None) -> None:
    with pytest.raises(ConfigError) as info:
        resolve.resolve("nosuch:model")
    from llmswitch.providers import known_types

    assert str(info.value) == (
        f"unknown provider 'nosuch' in 'nosuch:model'; use one of {', '.join(known_types())} "
        "or a provider name from your llmswitch.yaml"
    )


def test_auto_is_refused_by_the_synchronous_resolver(clean: None) -> None:
    with pytest.raises(ConfigError) as info:
        resolve.resolve("auto")
    assert str(info.value) == "'auto' needs detection; use the async API (acomplete/astream) or llmswitch.resolve.aresolve()"


def test_which_references_are_auto() -> None:
    assert resolve.is_auto("auto") and resolve.is_auto("auto:m") and resolve.is_auto("auto:m:tag") and resolve.is_auto(" auto :m")
    assert not resolve.is_auto("openai:auto") and not resolve.is_auto("autox") and not resolve.is_auto(None)
    assert not resolve.is_auto(OpenAIProvider(api_key="sk-x-0000000000"))


def test_a_reference_is_split_on_its_first_colon() -> None:
    assert resolve.parse_model_ref("ollama:llama3.2:3b") == ("ollama", "llama3.2:3b")
    assert resolve.parse_model_ref(" ollama : m ") == ("ollama", "m")
    assert resolve.parse_model_ref("openai") == ("openai", None)
    assert resolve.parse_model_ref("openai:") == ("openai", None)
    for bad in ("", None, 3):
        with pytest.raises(ConfigError) as info:
            resolve.parse_model_ref(bad)  # type: ignore[arg-type]
        assert str(info.value) == f"a model reference looks like 'provider:model', got {bad!r}"


async def test_the_async_resolver_answers_like_the_sync_one_and_probes_auto(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-cccccccc")
    assert await resolve.aresolve("openai:gpt-x") == resolve.resolve("openai:gpt-x")
    mine = OpenAIProvider(api_key="sk-x-0000000000")
    assert await resolve.aresolve(mine) == (mine, None)
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", "")
    monkeypatch.setenv("LLMSWITCH_NO_LOCAL_RUNTIME", "1")
    provider, model = await resolve.aresolve("auto:my-model")
    assert provider.provider_type.value == "openai" and model == "my-model"
    provider, model = await resolve.aresolve("auto")
    assert model == "gpt-4o-mini"


async def test_a_provider_the_environment_replaced_is_closed_quietly(clean: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    problems: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: problems.append(ctx))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-dddddddd")
    old = resolve.resolve("openai:a")[0]
    session = old.transport.session()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-eeeeeeee")
    assert resolve.resolve("openai:a")[0] is not old
    for _ in range(20):
        await asyncio.sleep(0.01)
        if session.closed:
            break
    assert session.closed and problems == []


def test_a_configured_name_wins_over_a_type(clean: None) -> None:
    mine = OpenAIProvider(name="openai", api_key="sk-configured-000000", base_url="http://127.0.0.1:9/v1")
    set_default_registry(ProviderRegistry({"openai": mine}))
    assert resolve.resolve("openai:gpt-x") == (mine, "gpt-x")
    assert resolve.resolve("openai:gpt-x") == (mine, "gpt-x")  # the remembered answer is the same answer
    # the registry changed: the remembered resolution is not reused
    set_default_registry(ProviderRegistry())
    assert resolve.resolve("openai:gpt-x")[0] is not mine


def test_auto_takes_a_key_stored_by_type(clean: None, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key saved with `llmswitch keys set openai` works for `openai:...`; `auto` never saw it."""
    memory_keyring.store[("llmswitch", "openai")] = "sk-stored-by-type-1234"
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", "")
    monkeypatch.setenv("LLMSWITCH_NO_LOCAL_RUNTIME", "1")
    provider, model = _run(resolve_auto())
    assert provider.provider_type.value == "openai"
    assert provider.api_key is not None and provider.api_key.get_secret_value() == "sk-stored-by-type-1234"
    assert model == "gpt-4o-mini"
    assert "llmswitch keys set openai" in (explain_choice() or "")


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def test_a_configured_provider_gets_the_entry_named_after_its_type(clean: None, memory_keyring: Any) -> None:
    memory_keyring.store[("llmswitch", "openai")] = "sk-type-entry-5678"
    reg = ProviderRegistry.from_config(LLMSwitchConfig.model_validate({"providers": {"oa2": {"type": "openai"}}}), enable_log=False)
    key = reg.get("oa2").api_key
    assert key is not None and key.get_secret_value() == "sk-type-entry-5678"
    # the entry named after the provider is more specific, so it wins
    memory_keyring.store[("llmswitch", "oa2")] = "sk-name-entry-9999"
    reg = ProviderRegistry.from_config(LLMSwitchConfig.model_validate({"providers": {"oa2": {"type": "openai"}}}), enable_log=False)
    key = reg.get("oa2").api_key
    assert key is not None and key.get_secret_value() == "sk-name-entry-9999"


async def test_a_key_stored_in_this_process_is_used_on_the_next_call(
    clean: None, memory_keyring: Any, fake_openai: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notebook: the first call fails for want of a key; `keys set` (or set_keyring_secret); call again."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai)
    with pytest.raises(AuthenticationError) as info:
        await llmswitch.acomplete("openai:gpt-test", "hi")
    assert "llmswitch keys set openai" in str(info.value)
    set_keyring_secret("openai", openai_server.VALID_KEY)
    reply = await llmswitch.acomplete("openai:gpt-test", "hi")
    assert reply.text == "Hello! How can I help?"
    await resolve.aclose_cached_providers()


async def test_a_key_changed_by_another_process_is_read_after_a_refusal(
    clean: None, memory_keyring: Any, fake_openai: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai)
    memory_keyring.store[("llmswitch", "openai")] = "sk-wrong-key-00000000"
    with pytest.raises(AuthenticationError) as info:
        await llmswitch.acomplete("openai:gpt-test", "hi")
    assert info.value.status_code == 401
    # another process (`llmswitch keys set openai` in a terminal) writes the keyring directly
    memory_keyring.store[("llmswitch", "openai")] = openai_server.VALID_KEY
    reply = await llmswitch.acomplete("openai:gpt-test", "hi")
    assert reply.text == "Hello! How can I help?"
    await resolve.aclose_cached_providers()


def test_the_cache_is_one_lookup_while_nothing_changes(clean: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-aaaaaaaa")
    first = resolve.resolve("openai:a")[0]
    assert resolve.resolve("openai:b")[0] is first  # same type, same env: the same provider
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-bbbbbbbb")
    second = resolve.resolve("openai:a")[0]
    assert second is not first and second.api_key is not None
    assert second.api_key.get_secret_value() == "sk-env-key-bbbbbbbb"


class NoEnvProvider(OpenAICompatibleProvider):
    """A third-party type (as an entry point would add it) that reads no env var at all."""

    api_key_env = None
    base_url_env = None


def test_a_type_that_reads_no_env_var_is_cached_too(clean: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmswitch.providers import PROVIDER_TABLE

    monkeypatch.setitem(PROVIDER_TABLE, "noenv", "tests.test_resolve:NoEnvProvider")
    first = resolve.resolve("noenv:m")
    assert type(first[0]) is NoEnvProvider and first[1] == "m"
    assert resolve.resolve("noenv:m") == first and resolve.resolve("noenv:n")[0] is first[0]


def test_defaults_are_read_off_the_provider_classes() -> None:
    """auto, doctor and config init share one list, declared by the classes themselves."""
    assert local_defaults() == [
        ("lmstudio", "http://localhost:1234/v1"),
        ("ollama", "http://localhost:11434"),
        ("llamacpp", "http://localhost:8080/v1"),
        ("vllm", "http://localhost:8000/v1"),
    ]
    assert [(c.type_name, c.key_env, c.model) for c in cloud_defaults()] == [
        ("openai", "OPENAI_API_KEY", "gpt-4o-mini"),
        ("anthropic", "ANTHROPIC_API_KEY", "claude-haiku-4-5"),
        ("openrouter", "OPENROUTER_API_KEY", "openrouter/auto"),
    ]
    ranked = {c.provider_type.value for c in provider_classes() if c.auto_rank is not None}
    assert ranked == {"lmstudio", "ollama", "llamacpp", "vllm", "openai", "anthropic", "openrouter"}
    import llmswitch.auto as auto

    assert auto.LOCAL_DEFAULTS == local_defaults()  # the older names still answer
    assert auto.CLOUD_KEYS[0] == ("openai", "OPENAI_API_KEY")


# --- nothing reaches into another module's private names ---------------------------------------

SRC = Path(llmswitch.__file__).resolve().parent
_ALLOWED_GETATTR = {"_hidden_params", "_data"}
"""Private names of *other packages* read defensively: litellm's response, CPython's os.environ."""


def _module(path: Path, src: Path) -> str:
    parts = ["llmswitch", *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_reaches(src: Path = SRC) -> list[str]:
    found: list[str] = []
    for path in sorted(src.rglob("*.py")):
        me = _module(path, src)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
                if not target.startswith("llmswitch"):
                    continue
                for alias in node.names:
                    submodule = src.joinpath(*target.split(".")[1:], alias.name)
                    if submodule.is_dir() or submodule.with_suffix(".py").exists():
                        continue  # a private module of the package itself: that is what they are for
                    if _private(alias.name) and target != me:
                        found.append(f"{me}: from {target} import {alias.name}")
                    if node.module is None or alias.name[:1].islower():
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                modules.update(a.asname or a.name for a in node.names if a.name.startswith("llmswitch"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules and _private(node.attr):
                found.append(f"{me}: {node.value.id}.{node.attr}")
            if (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and _private(node.args[1].value) and node.args[1].value not in _ALLOWED_GETATTR
            ):
                found.append(f"{me}: {ast.unparse(node)}")
    return found


def test_no_module_reaches_into_another_modules_private_names() -> None:
    assert private_reaches() == []


def test_the_private_name_check_sees_each_form(tmp_path: Path) -> None:
    pkg = tmp_path / "llmswitch"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text("from . import registry\nx = registry._providers\n")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "doctor.py").write_text("from ..api import _aresolve\nfrom ._common import shown\n")
    (pkg / "integ.py").write_text("def f(p):\n    return getattr(p, '_detected_model', None)\n")
    found = private_reaches(pkg)
    assert sorted(found) == sorted([
        "llmswitch.api: registry._providers",
        "llmswitch.cli.doctor: from llmswitch.api import _aresolve",
        "llmswitch.integ: getattr(p, '_detected_model', None)",
    ])
