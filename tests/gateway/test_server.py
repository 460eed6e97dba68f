"""The server around the endpoints: a caller that disconnects cancels the upstream request, the
loopback rule, /metrics, health, the usage log under the caller's name, and SIGTERM draining
(``llmswitch serve`` run as a real process)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from llmswitch.config import LLMSwitchConfig
from llmswitch.errors import ConfigError
from llmswitch.gateway import check_bind, hash_key
from llmswitch.usage.log import current_usage_log
from tests.fakes import openai_server
from tests.fixtures.http_paths import both_http_paths  # noqa: F401  # every test here runs on both servers
from tests.gateway.conftest import ALICE, RunningGateway, start_gateway

HI = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parents[2]


def test_disconnect_mid_stream_cancels_the_upstream_request(oai_client: Any, backends: Any) -> None:
    stream = oai_client.chat.completions.create(model="oai:gpt-slowstream", messages=HI, stream=True)
    it = iter(stream)
    next(it)
    next(it)
    started = time.monotonic()
    stream.close()  # the caller goes away after two chunks of a 4-second stream
    assert backends.openai.cut.wait(3), "the backend kept streaming to a caller that left"
    assert time.monotonic() - started < 1.0


def test_no_keys_means_loopback_only() -> None:
    open_cfg = LLMSwitchConfig()
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(open_cfg, host)
    with pytest.raises(ConfigError, match="no caller keys"):
        check_bind(open_cfg, "0.0.0.0")
    with pytest.raises(ConfigError):
        start_gateway(open_cfg, host="0.0.0.0")
    keyed = LLMSwitchConfig(gateway={"keys": [{"name": "a", "key_sha256": hash_key("k" * 20)}]})
    check_bind(keyed, "0.0.0.0")


def test_cli_refuses_a_public_host_without_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "llmswitch.yaml"
    cfg.write_text("providers: {}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "llmswitch", "serve", "--host", "0.0.0.0", "--port", "0", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode != 0 and "no caller keys" in r.stderr


def test_metrics_and_health(gateway: RunningGateway, oai_client: Any) -> None:
    import urllib.request

    oai_client.chat.completions.create(model="fast", messages=HI)
    with pytest.raises(openai.NotFoundError):
        oai_client.chat.completions.create(model="oai:gpt-missing", messages=HI)
    for _ in oai_client.chat.completions.create(model="fast", messages=HI, stream=True):
        pass
    text = urllib.request.urlopen(gateway.url + "/metrics", timeout=10).read().decode()
    assert 'llmswitch_gateway_requests_total{caller="alice",model="fast",route="chat",status="200"} 2.0' in text
    assert 'llmswitch_gateway_errors_total{error_class="ModelNotFoundError",route="chat"} 1.0' in text
    assert 'llmswitch_gateway_tokens_total{caller="alice",direction="output",model="fast"} 14.0' in text
    assert 'llmswitch_gateway_time_to_first_token_seconds_count{route="chat"} 1.0' in text
    assert "llmswitch_gateway_in_flight 0.0" in text
    assert "llmswitch_gateway_request_seconds_bucket" in text
    live = urllib.request.urlopen(gateway.url + "/health/live", timeout=10)
    assert live.status == 200
    ready = urllib.request.urlopen(gateway.url + "/health/ready", timeout=30)
    assert ready.status == 200


def test_usage_log_records_the_caller(gateway: RunningGateway, oai_client: Any) -> None:
    oai_client.chat.completions.create(model="fast", messages=HI)
    log = current_usage_log()
    assert log is not None and log.flush()
    rows = sqlite3.connect(str(log.path)).execute(
        "SELECT caller, provider, model FROM calls ORDER BY id DESC LIMIT 1").fetchall()
    assert rows == [("alice", "oai", "gpt-test-2024-07-18")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_lets_a_running_stream_finish_then_exits(tmp_path: Path) -> None:
    fake, server = openai_server.start(["gpt-test", "gpt-slowstream"], chunks=30, chunk_delay=0.05)
    try:
        cfg = tmp_path / "llmswitch.yaml"
        cfg.write_text(yaml.safe_dump({
            "providers": {"oai": {"type": "openai", "base_url": fake.base_url, "api_key": openai_server.VALID_KEY}},
            "usage_log": "off",
            "gateway": {"keys": [{"name": "alice", "key_sha256": hash_key(ALICE)}], "shutdown_timeout": 10},
        }))
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "llmswitch", "serve", "--port", str(port), "--config", str(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ALICE, max_retries=0)
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.models.list()
                    break
                except openai.APIConnectionError:
                    assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    time.sleep(0.2)
            stream = client.chat.completions.create(model="oai:gpt-slowstream", messages=HI, stream=True)
            it = iter(stream)
            next(it)
            proc.send_signal(signal.SIGTERM)  # 1.5 s of stream left
            time.sleep(0.3)
            with pytest.raises(openai.APIConnectionError):  # no longer accepting
                openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ALICE, max_retries=0).models.list()
            text = "".join(c.choices[0].delta.content or "" for c in it if c.choices)
            assert text.endswith("t29 ")  # the stream ran to its end
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    finally:
        server.stop()


def test_two_workers_share_one_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    fake, server = openai_server.start(["gpt-test"])
    log = tmp_path / "usage.sqlite3"
    try:
        cfg = tmp_path / "llmswitch.yaml"
        cfg.write_text(yaml.safe_dump({
            "providers": {"oai": {"type": "openai", "base_url": fake.base_url, "api_key": openai_server.VALID_KEY}},
            "usage_log": {"path": str(log)},
            "gateway": {"keys": [{"name": "alice", "key_sha256": hash_key(ALICE)}], "shutdown_timeout": 5},
        }))
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "llmswitch", "serve", "--port", str(port), "--workers", "2",
                                 "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 60
            answered = 0
            while answered < 40:
                assert time.monotonic() < deadline and proc.poll() is None, "the workers did not answer"
                try:
                    # a new connection each time: the kernel spreads them over the listening workers
                    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ALICE, max_retries=0) as c:
                        assert c.chat.completions.create(model="oai:gpt-test", messages=HI).choices[0].message.content
                    answered += 1
                except openai.APIConnectionError:
                    pass
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        rows = sqlite3.connect(str(log)).execute("SELECT DISTINCT pid, caller FROM calls").fetchall()
        pids = {pid for pid, _ in rows}
        assert len(pids) == 2 and proc.pid not in pids and {c for _, c in rows} == {"alice"}
        for pid in pids:  # both workers are gone with the parent
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        server.stop()


def test_unknown_path_is_404_and_wrong_method_is_405(gateway: RunningGateway) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(gateway.url + "/v1/nothing-here", timeout=10)
    assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(gateway.url + "/v1/chat/completions", timeout=10)  # a GET
    assert err.value.code == 405 and err.value.headers["Allow"] == "POST"


def test_the_application_form_mounts_the_same_endpoints(backends: Any) -> None:
    """``Gateway.app()``: the endpoints as an ``aiohttp.web.Application``, for an application of one's own."""
    from llmswitch.gateway import Gateway
    from tests.fakes._threaded import ThreadedServer
    from tests.gateway.conftest import gateway_config

    with ThreadedServer(lambda: Gateway(gateway_config(backends)).app()) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=ALICE, max_retries=0, timeout=20)
        assert client.chat.completions.create(model="fast", messages=HI).choices[0].message.content
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url + "/v1", api_key="not-a-key-0123456789", max_retries=0).models.list()


def test_a_caller_that_hangs_up_right_after_done_got_a_finished_stream(gateway: RunningGateway) -> None:
    """The SDKs close the connection once ``[DONE]`` is read, which can be before the chunked body's
    terminator is written: that is a complete answer (status 200 in the metrics), not a failed request."""
    import json
    import urllib.request

    body = json.dumps({"model": "fast", "messages": HI, "stream": True}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ALICE}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
            s.sendall(head + body)
            got = b""
            while b"data: [DONE]" not in got:
                data = s.recv(65536)
                assert data, got[-200:]
                got += data
        assert got.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while True:
        text = urllib.request.urlopen(gateway.url + "/metrics", timeout=10).read().decode()
        if 'status="200"} 20.0' in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 'llmswitch_gateway_requests_total{caller="alice",model="fast",route="chat",status="200"} 20.0' in text
    assert 'status="500"' not in text
