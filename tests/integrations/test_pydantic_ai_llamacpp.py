"""pydantic-ai Agents on the real llama-server (the bundled gemma 270M), started by LocalRuntime.

Small ``max_tokens`` and ``temperature=0`` + ``seed``: two shared CPU cores run the suite, and
the usage comparison needs the same answer twice.
"""

from __future__ import annotations

import pytest
from pydantic_ai import Agent

import llmswitch
from llmswitch import api
from llmswitch.integrations.pydantic_ai import create_model_async
from llmswitch.providers.llamacpp import LlamaCppProvider

pytestmark = pytest.mark.integration

PROMPT = "Say hello in three words."
SETTINGS = {"temperature": 0.0, "seed": 42, "max_tokens": 12}


async def _predicted_total(provider: LlamaCppProvider) -> float:
    """llama-server's own count of generated tokens (``/metrics``)."""
    metrics = await provider.management().get_metrics()
    return metrics["llamacpp:tokens_predicted_total"]


async def test_agent_on_llama_server_with_detected_model_reports_the_servers_usage(runtime_env) -> None:
    provider = LlamaCppProvider()  # no URL: found through the runtime's state file, as on a user's machine
    assert provider.base_url == runtime_env.url
    model = await create_model_async(provider, auto_detect=True)
    assert model.model_name == runtime_env.alias  # detected from /v1/models

    before = await _predicted_total(provider)
    result = await Agent(model).run(PROMPT, model_settings=SETTINGS)
    after = await _predicted_total(provider)
    usage = result.usage
    assert isinstance(result.output, str) and result.output.strip()
    assert usage.requests == 1
    assert 0 < usage.output_tokens <= SETTINGS["max_tokens"]
    assert usage.output_tokens == after - before  # what the server says it generated

    # The same request through llmswitch's own client: the server reports the same usage.
    same = await provider.complete(PROMPT, **SETTINGS)
    assert same.text == result.output
    assert (usage.input_tokens, usage.output_tokens) == (same.usage.input_tokens, same.usage.output_tokens)
    await provider.aclose()


@pytest.fixture
def auto_on_bare_machine(runtime_env, monkeypatch: pytest.MonkeyPatch):
    """Nothing configured, no cloud keys, no other local server: only the bundled runtime."""
    from llmswitch.auto import reset_auto

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "LLMSWITCH_CONFIG", "LLMSWITCH_NO_LOCAL_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LLMSWITCH_AUTO_ENDPOINTS", "")  # probe no default port: this machine may run others
    api.reset_provider_cache()
    reset_auto()
    try:
        from llmswitch.registry import reset_default_registry
    except ImportError:  # pragma: no cover
        reset_default_registry = None
    if reset_default_registry:
        reset_default_registry()
    yield runtime_env
    reset_auto()
    if reset_default_registry:
        reset_default_registry()
    api.reset_provider_cache()


def test_agent_with_pydantic_ai_model_auto_uses_the_local_runtime(auto_on_bare_machine) -> None:
    rt = auto_on_bare_machine
    model = llmswitch.pydantic_ai_model("auto")
    assert model.model_name == rt.alias
    assert model.base_url.rstrip("/") == rt.url
    result = Agent(model).run_sync(PROMPT, model_settings=SETTINGS)
    assert result.output.strip()
    assert result.usage.output_tokens <= SETTINGS["max_tokens"]


def test_agent_with_pydantic_ai_model_llamacpp(auto_on_bare_machine) -> None:
    rt = auto_on_bare_machine
    model = llmswitch.pydantic_ai_model("llamacpp")
    assert model.model_name == rt.alias and model.base_url.rstrip("/") == rt.url
    result = Agent(model, instructions="Answer in one short sentence.").run_sync(PROMPT, model_settings=SETTINGS)
    assert result.output.strip()


async def test_create_model_async_takes_the_alias_or_the_model_path_the_server_answers_to(runtime_env) -> None:
    """seeds/004: ``create_model_async("name")`` with the name llama-server answers to — its alias
    (listed by /v1/models) or the path of the model it loaded (/props) — not only the listed id."""
    from llmswitch.errors import ModelNotFoundError

    provider = LlamaCppProvider()
    props = await provider.management().get_props()
    path = props["model_path"]
    for name in (runtime_env.alias, path, path.rsplit("/", 1)[-1]):
        model = await create_model_async(provider, name)
        assert model.model_name == name
    with pytest.raises(ModelNotFoundError) as info:
        await create_model_async(provider, "not-this-model.gguf")
    assert runtime_env.alias in str(info.value)
    await provider.aclose()
