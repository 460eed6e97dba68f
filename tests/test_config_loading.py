"""Config loading under hostile or unlucky input: nothing but a ``ConfigError`` naming the file
and line comes out, nothing hangs, and no secret is printed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmswitch.config import (
    MAX_ALIASES,
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    LLMSwitchConfig,
    load_config,
    parse_config,
)
from llmswitch.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(autouse=True)
def _no_llmswitch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LLMSWITCH_STATE", "LLMSWITCH_PROVIDERS", "LLMSWITCH_AGENTS", "LLMSWITCH_USAGE_LOG", "LLMSWITCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs" shape: each anchor repeats the previous one ``width`` times."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# --- limits ---------------------------------------------------------------------------------


def test_alias_bomb_is_refused_naming_the_limit_and_line(tmp_path: Path) -> None:
    # 9**6 = 531,441 values: without a limit this is expanded (seconds) before anything is checked
    msg = config_error(write(tmp_path / "bomb.yaml", laughs(6)))
    assert f"{tmp_path / 'bomb.yaml'}:6:" in msg
    assert f"more than {MAX_NODES:,} values through aliases" in msg


def test_billion_laughs_does_not_hang(tmp_path: Path) -> None:
    """9**9 values: a process without the limit would run for hours; the subprocess is given 60 s."""
    path = write(tmp_path / "billion.yaml", laughs(9))
    code = "from llmswitch.config import load_config\nimport sys\nload_config(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert "llmswitch.errors.ConfigError" in out.stderr and "through aliases" in out.stderr


def test_deep_nesting_is_a_config_error_not_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("providers: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    msg = config_error(path)
    assert f"{path}:1:" in msg and f"more than {MAX_DEPTH} levels deep" in msg


def test_deep_block_mapping(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("top:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1000)), encoding="utf-8")
    assert f"more than {MAX_DEPTH} levels deep" in config_error(path)


def test_depth_reached_through_aliases(tmp_path: Path) -> None:
    """Each piece is shallow enough for the composer; expanded, the tree is not."""
    text = f"a: &a {'[' * 80}{']' * 80}\nb: &b {'[' * 60}*a{']' * 60}\nc: {'[' * 60}*b{']' * 60}\n"
    msg = config_error(write(tmp_path / "c.yaml", text))
    assert f"more than {MAX_DEPTH} levels deep once aliases are expanded" in msg


def test_alias_that_contains_itself(tmp_path: Path) -> None:
    msg = config_error(write(tmp_path / "c.yaml", "providers: &p {x: *p}\n"))
    assert f"{tmp_path / 'c.yaml'}:1:" in msg and "alias *p refers to the value that contains it" in msg


def test_too_many_aliases(tmp_path: Path) -> None:
    text = "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    msg = config_error(write(tmp_path / "c.yaml", text))
    assert f"more than {MAX_ALIASES} aliases" in msg and f"{tmp_path / 'c.yaml'}:2:" in msg


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", """
        providers:
          a: &a {type: vllm, timeout: 30, base_url: "http://127.0.0.1:1/v1"}
          b: {<<: *a, timeout: 5}
    """))
    assert cfg.providers["a"].timeout == 30 and cfg.providers["b"].timeout == 5
    assert cfg.providers["b"].base_url == "http://127.0.0.1:1/v1"


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n", encoding="utf-8")
    msg = config_error(path)
    assert str(path) in msg and f"larger than {MAX_CONFIG_BYTES // 1024} KiB" in msg


# --- reading and parsing --------------------------------------------------------------------


def test_non_utf8_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("providers:\n  local: {type: vllm, default_model: caf\xe9}\n".encode("latin-1"))
    msg = config_error(path)
    assert f"{path}:2:41:" in msg  # the byte after "caf" and "not UTF-8 (byte 0xe9)" in msg and "save it as UTF-8" in msg


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfusage_log: off\n")
    assert load_config(path).usage_log.enabled is False


@pytest.mark.parametrize(
    ("text", "tag", "where"),
    [
        ("providers: !!python/name:os.system\n", "!!python/name:os.system", ":1:12:"),
        ("usage_log:\n  path: !!python/object/apply:os.getcwd []\n", "!!python/object/apply:os.getcwd", ":2:9:"),
        ("state: !custom {backend: memory}\n", "!custom", ":1:8:"),
        ("usage_log: !!binary aGVsbG8=\n", "!!binary", ":1:12:"),
    ],
)
def test_unsupported_tags_are_one_config_error(tmp_path: Path, text: str, tag: str, where: str) -> None:
    path = write(tmp_path / "tags.yaml", text)
    msg = config_error(path)
    assert f"{path}{where}" in msg and f"the tag {tag} is not supported" in msg and "remove the tag" in msg
    assert "(1 problem)" in msg  # the refused value is not reported a second time by validation


def test_explicit_tag_that_cannot_be_constructed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "usage_log: {path: !!int not-a-number}\n")
    msg = config_error(path)  # PyYAML's constructor raises a bare ValueError here
    assert f"{path}:1:19:" in msg and "cannot read this value as !!int" in msg


def test_syntax_error_names_line_column_and_context(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        providers:
          local: {type: vllm, base_url: "http://x"
        agents: {}
    """)
    msg = config_error(path)
    assert f"{path}:3:" in msg and "not valid YAML" in msg and "flow mapping on line 2" in msg
    assert "check the indentation, quotes and brackets" in msg


def test_control_character(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("usage_log: off\nstate: {backend: memory}\x00\n", encoding="utf-8")
    msg = config_error(path)
    assert f"{path}:2:" in msg and "U+0000" in msg


def test_complex_key_is_reported_not_constructed(tmp_path: Path) -> None:
    msg = config_error(write(tmp_path / "c.yaml", "? [a, b]\n: 1\n"))
    assert "keys must be plain names" in msg


def test_parse_config_accepts_bytes_and_rejects_other_types() -> None:
    assert parse_config(b"usage_log: off\n").usage_log.enabled is False
    with pytest.raises(ConfigError, match=r"<string>:1:4: the file is not UTF-8"):
        parse_config(b"a: \xff\n")
    with pytest.raises(TypeError, match="as str or bytes"):
        parse_config(None)  # type: ignore[arg-type]


# --- LLMSWITCH_* environment variables --------------------------------------------------------


def test_malformed_state_env_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE", "{backend: redis, url: redis://:hunter2-pass@cache:6379}")
    path = write(tmp_path / "c.yaml", "usage_log: off\n")
    for attempt in (lambda: load_config(path), LLMSwitchConfig):
        with pytest.raises(ConfigError) as info:
            attempt()
        msg = str(info.value)
        assert "$LLMSWITCH_STATE is not valid JSON" in msg and "line 1 column 2" in msg
        assert '{"backend": "redis"' in msg  # shows the shape that works
        assert "hunter2" not in msg


def test_state_env_with_wrong_shape_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE", '{"backend": "mongo"}')
    with pytest.raises(ConfigError) as info:
        LLMSwitchConfig()
    assert "$LLMSWITCH_STATE: state: backend: Input should be 'memory' or 'redis'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "c.yaml", "state: {backend: memory}\n"))
    assert "$LLMSWITCH_STATE: state: backend:" in str(info.value)  # the variable, not the file's line


def test_empty_state_env_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE", "")
    assert LLMSwitchConfig().state.backend == "memory"
