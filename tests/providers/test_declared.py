"""The per-provider facts that used to be if-chains on ``ProviderType`` (pydantic-ai model kinds,
start and no-model hints, pricing ids, config options) are class-level fields, and the code that
used them reads the fields: a class that declares other values gets other behaviour, with no
edit anywhere else."""

from __future__ import annotations

import socket
from typing import ClassVar

import pytest

from llmswitch import errors as E
from llmswitch.config import ProviderConfig
from llmswitch.providers import PROVIDER_TABLE, provider_class
from llmswitch.providers.base import BaseProvider
from llmswitch.providers.litellm import LiteLLMProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from llmswitch.types import ProviderCapabilities, ProviderType, Usage
from llmswitch.usage import pricing

WIRES = {
    "openai": "openai-chat",
    "openrouter": "openai-chat",
    "lmstudio": "openai-chat",
    "vllm": "openai-chat",
    "openai-compatible": "openai-chat",
    "llamacpp": "openai-chat",
    "ollama": "ollama",
    "anthropic": "anthropic",
    "litellm": "litellm",
}
KINDS = {
    "openai": "openai",
    "openrouter": "openrouter",
    "vllm": "vllm",
    "lmstudio": "openai-compatible",
    "llamacpp": "openai-compatible",
    "openai-compatible": "openai-compatible",
    "ollama": "ollama",
    "anthropic": "anthropic",
    "litellm": None,
}


@pytest.mark.parametrize("ptype", sorted(PROVIDER_TABLE))
def test_every_builtin_type_declares_its_data(ptype: str) -> None:
    cls = provider_class(ptype)
    assert cls.wire_format == WIRES[ptype]
    assert cls.pydantic_ai_kind == KINDS[ptype]
    assert bool(cls.start_hint) == (cls.is_local and ptype != "openai-compatible")
    assert cls.thinking_params, "every wire has a way to ask for thinking"
    caps = cls.default_capabilities
    for field in ("tools", "vision", "thinking"):
        assert getattr(caps, field) in (True, None), f"{ptype} refuses {field} provider-wide; declare it per model"


def test_unknown_is_allowed_where_the_server_decides() -> None:
    """Images on a llama-server need --mmproj, on vLLM and LM Studio a vision model: unknown, not False."""
    for ptype in ("llamacpp", "vllm", "lmstudio", "openai-compatible"):
        assert provider_class(ptype).default_capabilities.vision is None


# --- pricing reads genai_prices_id / price_target ------------------------------------------------


def test_pricing_ids_come_from_the_classes() -> None:
    assert pricing.GENAI_PROVIDER_IDS == {"openai": "openai", "anthropic": "anthropic", "openrouter": "openrouter"}
    assert provider_class("openai").price_target("gpt-4o") == ("openai", "gpt-4o")
    assert provider_class("vllm").price_target("openai/gpt-4o") is None  # a self-hosted server is not OpenAI
    assert LiteLLMProvider.price_target("gemini/gemini-2.0-flash") == ("google", "gemini-2.0-flash")
    assert LiteLLMProvider.price_target("gpt-4o") is None


def test_unknown_type_is_unpriced() -> None:
    assert pricing.price_usage("no-such-type", "gpt-4o", Usage(input_tokens=10, output_tokens=10)) is None


# --- config reads option_names -------------------------------------------------------------------


def test_openrouter_options_are_checked_against_the_class() -> None:
    ok = ProviderConfig(type="openrouter", options={"http_referer": "https://x.example", "x_title": "X"})
    assert ok.options["x_title"] == "X"
    with pytest.raises(ValueError) as info:
        ProviderConfig(type="openrouter", options={"referer": "https://x.example"})
    msg = str(info.value)
    assert "unknown option(s) referer for type 'openrouter'" in msg
    assert ", ".join(sorted(provider_class("openrouter").option_names)) in msg  # type: ignore[attr-defined]


# --- pydantic-ai reads pydantic_ai_kind, pydantic_ai_hint, start_hint, no_model_hint --------------

pydantic_ai = pytest.importorskip("pydantic_ai")


class Sealed(OpenAICompatibleProvider):
    """An OpenAI-wire server that declares no pydantic-ai model, with its own advice."""

    pydantic_ai_kind: ClassVar[str | None] = None
    pydantic_ai_hint = "use the sealed SDK instead"
    start_hint = "run `sealed-server --port 9`"
    no_model_hint = "load one with `sealed load MODEL`"


class ThirdParty(BaseProvider):
    """Not an OpenAI-wire class, and of a type the old if-chain refused (``litellm``), but it
    declares that pydantic-ai may drive it as an OpenAI-compatible server: the field decides."""

    provider_type: ClassVar[ProviderType] = ProviderType.LITELLM
    default_capabilities = ProviderCapabilities()
    pydantic_ai_kind = "openai-compatible"


def test_a_class_without_a_kind_is_refused_with_its_own_hint() -> None:
    with pytest.raises(E.ConfigError, match="has no pydantic-ai model in llmswitch: use the sealed SDK instead"):
        Sealed(base_url="http://127.0.0.1:9/v1").create_model("m")


def test_a_declared_kind_is_what_builds_the_model() -> None:
    from pydantic_ai.models.openai import OpenAIChatModel

    model = ThirdParty(base_url="http://127.0.0.1:9/v1").create_model("m")
    assert type(model) is OpenAIChatModel
    assert model.profile.get("openai_chat_supports_max_completion_tokens") is False  # the compatible profile


@pytest.fixture
def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_start_hint_is_the_declared_one(dead_url: str) -> None:
    async with Sealed(base_url=dead_url) as p:
        with pytest.raises(E.ProviderConnectionError) as info:
            await p.create_model_async("m")
    assert info.value.hint is not None and info.value.hint.startswith("run `sealed-server --port 9`")


async def test_no_model_hint_is_the_declared_one(dead_url: str) -> None:
    async with Sealed(base_url=dead_url) as p:
        with pytest.raises(E.ModelNotFoundError) as info:
            await p.create_model_async(auto_detect=False, test_connection=False)
    assert info.value.hint == "load one with `sealed load MODEL`"
