"""seeds/000 (provider protocol and types): its success criteria, import paths changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str) -> str:
    """``python -c CODE`` as the document runs it: a fresh interpreter, stdout returned."""
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_imports_ok() -> None:
    out = _python("from llmswitch import ProviderType, ProviderHealthStatus, LLMProviderProtocol; print('Imports OK')")
    assert out == "Imports OK"


def test_provider_type_values() -> None:
    """The documented five, in their order, among llmswitch's (which adds cloud backends)."""
    values = eval(_python("from llmswitch import ProviderType; print([p.value for p in ProviderType])"))
    documented = ["openai", "lmstudio", "ollama", "llamacpp", "auto"]
    assert [v for v in values if v in documented] == documented


def test_provider_type_prints_its_value() -> None:
    from llmswitch import ProviderType

    assert f"{ProviderType.OLLAMA}" == "ollama" and str(ProviderType.LLAMACPP) == "llamacpp"
    assert ProviderType("ollama") is ProviderType.OLLAMA and ProviderType.AUTO == "auto"


def test_health_status_repr_keeps_the_documented_fields_first() -> None:
    out = _python(
        "from llmswitch import ProviderHealthStatus; h = ProviderHealthStatus(connected=True, model_detected=True,"
        " model_id='test', base_url='http://localhost'); print(h)"
    )
    documented = ("ProviderHealthStatus(connected=True, model_detected=True, model_id='test', "
                  "base_url='http://localhost', error=None, provider_type=None, metadata={}")
    assert out.startswith(documented)  # llmswitch adds latency_ms after them


def test_package_exports() -> None:
    assert _python("from llmswitch import ProviderType, ProviderHealthStatus; print('Package exports OK')") == "Package exports OK"


def test_protocol_has_the_five_methods() -> None:
    from llmswitch import LLMProviderProtocol

    for name in ("health_check", "list_models", "detect_model", "create_model", "create_model_async"):
        assert callable(getattr(LLMProviderProtocol, name)), name
