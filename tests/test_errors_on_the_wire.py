"""No secret leaves the process: a server that echoes the credentials it received, on every path.

The key used here is not shaped like ``sk-…`` (a llama.cpp ``--api-key``), so only the one
redaction point — which knows every secret the provider holds — can remove it. Each test
asserts the echo really happened (in the recorded request) before asserting it was redacted.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback

import pytest

import llmswitch as ls
from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai_compat import OpenAICompatibleProvider
from tests.fakes._threaded import ThreadedServer
from tests.fakes.hostile_server import state
from tests.fixtures.servers import HEADER_SECRET, KEY


def _every_rendering(exc: BaseException) -> str:
    """Everything a user, a log or a crash report could show of an error."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for attr in ("message", "url", "hint"):
        parts.append(str(getattr(exc, attr, "")))
    parts.append(json.dumps(getattr(exc, "details", None), default=repr))
    return "\n".join(parts)


def _openai(hostile: ThreadedServer) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        base_url=hostile.url + "/v1", api_key=KEY, headers={"X-Custom-Auth": HEADER_SECRET}
    )


def _assert_echoed(hostile: ThreadedServer) -> None:
    """The server did receive the secrets (else the test below proves nothing)."""
    _, _, headers, _ = state(hostile).seen[-1]
    assert KEY in " ".join(headers.values()) and HEADER_SECRET in headers.values()


@pytest.mark.parametrize("mode", ["echo-200", "echo-400", "echo-text-500"])
async def test_key_and_secret_header_echoed_in_an_error_body_are_redacted(hostile: ThreadedServer, mode: str) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ls.ProviderError) as info:
            await p.complete("hi", model=mode)
    _assert_echoed(hostile)
    shown = _every_rendering(info.value)
    assert KEY not in shown and HEADER_SECRET not in shown
    assert "***" in shown  # redacted, not silently dropped: the user sees something was there


async def test_key_echoed_inside_a_stream_is_redacted(hostile: ThreadedServer) -> None:
    async with _openai(hostile) as p:
        with pytest.raises(ls.ProviderError) as info:
            async with p.stream("hi", model="echo-stream") as s:
                async for _ in s:
                    pass
    _assert_echoed(hostile)
    shown = _every_rendering(info.value)
    assert KEY not in shown and HEADER_SECRET not in shown


@pytest.mark.parametrize("mode", ["echo-200", "echo-400", "echo-stream"])
async def test_anthropic_x_api_key_echo_is_redacted(hostile: ThreadedServer, mode: str) -> None:
    async with AnthropicProvider(base_url=hostile.url, api_key=KEY) as p:
        with pytest.raises(ls.ProviderError) as info:
            if mode == "echo-stream":
                async with p.stream("hi", model=mode) as s:
                    async for _ in s:
                        pass
            else:
                await p.complete("hi", model=mode)
    assert state(hostile).seen[-1][2].get("x-api-key") == KEY
    assert KEY not in _every_rendering(info.value)


@pytest.mark.parametrize("mode", ["echo-200", "echo-400", "echo-text-500"])
async def test_health_status_never_carries_the_key(hostile: ThreadedServer, mode: str) -> None:
    state(hostile).models_mode = mode
    async with _openai(hostile) as p:
        status = await p.health_check()
    _assert_echoed(hostile)
    assert status.error
    assert KEY not in repr(status) and HEADER_SECRET not in repr(status)


async def test_no_log_record_at_debug_carries_the_key(hostile: ThreadedServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with _openai(hostile) as p:
        for mode in ("echo-200", "echo-400"):
            with pytest.raises(ls.ProviderError):
                await p.complete("hi", model=mode)
        state(hostile).models_mode = "echo-400"
        await p.health_check()
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert KEY not in text and HEADER_SECRET not in text


def test_a_key_in_the_base_url_query_is_redacted(hostile: ThreadedServer) -> None:
    url_key = "qs-secret-value-4242"
    p = OpenAICompatibleProvider(base_url=hostile.url + "/v1?key=" + url_key + "&x=1")
    assert url_key in p.secrets()
    err = ls.ProviderError(f"failed calling {p.base_url}/chat/completions", provider=p.name)
    _ = p.transport  # building the transport registers the provider's secrets
    assert url_key not in str(ls.ProviderError(f"echo {url_key}", provider=p.name))
    assert url_key not in str(err)


# --- the command line -----------------------------------------------------------------------------

def _cli(*args: str, config: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "LLMSWITCH_NO_LOCAL_RUNTIME": "1", "LLMSWITCH_CONFIG": config})
    return subprocess.run([sys.executable, "-m", "llmswitch", *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def hostile_config(hostile: ThreadedServer, tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "llmswitch.yaml"
    path.write_text(
        "providers:\n"
        "  evil:\n"
        "    type: openai-compatible\n"
        f"    base_url: {hostile.url}/v1\n"
        f"    api_key: {KEY}\n"
        "    default_model: echo-200\n"
        f"    headers: {{X-Custom-Auth: {HEADER_SECRET}}}\n"
    )
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ("doctor",),
        ("doctor", "--json"),
        ("chat", "-p", "evil:echo-200", "hi"),
        ("chat", "--json", "-p", "evil:echo-200", "hi"),
        ("chat", "-p", "evil:echo-stream", "hi"),
        ("chat", "--json", "-p", "evil:echo-400", "hi"),
    ],
)
def test_cli_output_never_carries_the_key(hostile: ThreadedServer, hostile_config: str, args: tuple[str, ...]) -> None:
    state(hostile).models_mode = "echo-400"
    r = _cli(*args, config=hostile_config)
    out = r.stdout + r.stderr
    assert state(hostile).seen, "the command never reached the hostile server"
    assert KEY not in out and HEADER_SECRET not in out, out[-2000:]
    assert "Traceback" not in out
