"""Running the gateway: bind rules, one worker's event loop, several workers on one port, SIGTERM.

Why these rules:
- A gateway with no caller key configured answers anyone who can reach it, with the
  gateway's provider keys: it binds loopback only, and a non-loopback ``--host`` is refused.
- ``--workers N`` forks N processes that each bind the same port with ``SO_REUSEPORT``; the
  kernel spreads connections over them. Each builds its own registry after the fork (pooled
  connections and event loops must not cross a fork). Shared budgets, rate limits and breakers
  across workers need ``state: redis``.
- The HTTP server is the gateway's own (``gateway/ingress.py``); ``LLMSWITCH_HTTP=aiohttp`` runs
  aiohttp's ``web.Server`` instead.
- The event loop is uvloop when it is installed (``loop="auto"``), else asyncio's (``gateway/loop.py``).
- SIGTERM (and SIGINT) stop accepting at once; requests and streams already running get
  ``gateway.shutdown_timeout`` seconds to finish (new requests on kept-alive connections get a
  503 meanwhile); whatever still runs then is cancelled, which closes its upstream request.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from .._env import lean_http
from ..config import LLMSwitchConfig
from ..errors import ConfigError
from .app import Gateway
from .loop import loop_factory

__all__ = ["check_bind", "is_loopback", "serve", "run"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) means this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(config: LLMSwitchConfig, host: str) -> None:
    """Refuse to expose a gateway that has no caller keys (module docstring)."""
    if not config.gateway.keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host!r} with no caller keys configured: anyone who can reach it would use "
            "your provider keys. Add gateway.keys (README \"Gateway\") or listen on 127.0.0.1"
        )


async def serve(config: LLMSwitchConfig, host: str, port: int, *, reuse_port: bool = False,
                ready: Callable[[int], None] | None = None, stop: asyncio.Event | None = None) -> None:
    """Run one worker until SIGTERM/SIGINT (or ``stop`` is set), then drain and exit.
    ``ready(port)`` is called once listening (with the real port when ``port`` is 0)."""
    check_bind(config, host)
    gateway = Gateway(config)
    s = config.gateway
    shutdown: Callable[[], Awaitable[None]]
    if lean_http():
        ingress = gateway.ingress()
        port = await ingress.start(host, port, reuse_port=reuse_port)
        shutdown = functools.partial(ingress.shutdown, s.shutdown_timeout)
    else:  # LLMSWITCH_HTTP=aiohttp: aiohttp's server
        server = gateway.server(access_log=None, max_line_size=s.max_header_bytes, max_field_size=s.max_header_bytes)
        runner = web.ServerRunner(server, shutdown_timeout=s.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
        await site.start()
        port = int(runner.addresses[0][1]) if runner.addresses else port
        shutdown = runner.cleanup
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests run it in one)
            pass
    if ready is not None:
        ready(port)
    try:
        await stop.wait()
    finally:
        gateway.draining = True
        try:
            await shutdown()
        finally:
            await gateway.aclose()


def _free_reuse_port(host: str, port: int) -> int:
    """A port every worker can bind with SO_REUSEPORT (``--port 0`` picks one first)."""
    if port:
        return port
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _run_worker(config: LLMSwitchConfig, host: str, port: int, factory: Callable[[], asyncio.AbstractEventLoop] | None,
                reuse_port: bool = False, ready: Callable[[int], None] | None = None) -> None:
    """One worker on its own loop (``asyncio.Runner``: ``asyncio.run`` takes no loop factory before 3.12)."""
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(config, host, port, reuse_port=reuse_port, ready=ready))


def run(config: LLMSwitchConfig, host: str = "127.0.0.1", port: int = 4000, workers: int = 1,
        ready: Callable[[int], None] | None = None, loop: str = "auto") -> int:
    """``llmswitch serve``: one worker in this process, or ``workers`` forked ones; the exit status.
    ``loop``: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop`` (an error when missing)."""
    check_bind(config, host)
    factory = loop_factory(loop)
    if workers <= 1:
        _run_worker(config, host, port, factory, ready=ready)
        return 0
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers needs SO_REUSEPORT (Linux, BSD, macOS); run one worker per port behind a balancer")
    port = _free_reuse_port(host, port)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                _run_worker(config, host, port, factory, reuse_port=True)
            except BaseException as exc:  # noqa: BLE001 - reported, then the child exits
                print(f"llmswitch serve worker {os.getpid()}: {exc}", file=sys.stderr)
                code = 1
            os._exit(code)
        children.append(pid)
    if ready is not None:
        ready(port)

    def forward(sig: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        status = status or os.waitstatus_to_exitcode(code)
    return status
