"""``llmswitch config init|show|path``: write a starter file, show the loaded one (secrets redacted)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import typer

from ._common import console, fail, run


async def _discover(timeout: float) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(type, base_url, model) of every local endpoint that answers, and the cloud types whose key is set."""
    from ..auto import probe_endpoints
    from ..providers import cloud_defaults

    results, _ = await probe_endpoints(None, None, timeout, stop_at_first=False)
    local = [(r.provider.provider_type.value, r.provider.base_url, r.status.model_id) for r in results
             if r.status is not None and r.status.connected]
    clouds = [c.type_name for c in cloud_defaults() if os.environ.get(c.key_env)]
    return local, clouds


def starter_yaml(local: list[tuple[str, str, str | None]], clouds: list[str]) -> str:
    """A commented config with what was found enabled and the rest as commented examples."""
    from ..providers import cloud_defaults, local_defaults

    envs = {c.type_name: c.key_env for c in cloud_defaults()}
    models = {c.type_name: c.model for c in cloud_defaults()}
    found_types = {t for t, _, _ in local}
    lines = [
        f"# llmswitch configuration, written by `llmswitch config init` on {_dt.date.today().isoformat()}.",
        "# Any value may use ${VAR} or ${VAR:-default}; api_key may also be keyring:NAME",
        "# (`llmswitch keys set NAME`) or file:/path. Provider-specific settings go under options:.",
        "# Check it with `llmswitch config show` and `llmswitch doctor`.",
        "",
        "providers:",
    ]
    names: list[str] = []
    for type_name, url, model in local:
        name = type_name if type_name not in names else f"{type_name}_{len(names)}"
        names.append(name)
        lines += [
            f"  {name}:  # found running{f' with {model}' if model else ''}", f"    type: {type_name}", f"    base_url: {url}",
        ]
        if model:
            lines.append(f"    # default_model: {model}")
    for type_name in clouds:
        names.append(type_name)
        lines += [
            f"  {type_name}:  # {envs[type_name]} is set",
            f"    type: {type_name}",
            f"    api_key: ${{{envs[type_name]}}}",
            f"    default_model: {models.get(type_name) or 'MODEL'}",
        ]
    for type_name, url in local_defaults():
        if type_name not in found_types:
            lines += [
                f"  # {type_name}:  # not running when this file was written",
                f"  #   type: {type_name}",
                f"  #   base_url: {url}",
            ]
    for type_name, env in envs.items():
        if type_name not in clouds:
            lines += [f"  # {type_name}:", f"  #   type: {type_name}", f"  #   api_key: ${{{env}}}   # or keyring:{type_name}"]
    if not names:
        lines.append("  {}")
    lines += ["", "agents:"]
    if names:
        fallbacks = f", fallbacks: [{', '.join(names[1:])}]" if len(names) > 1 else ""
        lines.append(f"  default: {{provider: {names[0]}{fallbacks}}}  # agents without an entry use this one")
    else:
        lines.append("  {}  # e.g. coder: {provider: NAME, fallbacks: [OTHER]}")
    lines += [
        "",
        "state: {backend: memory}  # or {backend: redis, url: \"redis://localhost:6379/0\"}",
        "usage_log: {path: default}  # SQLite in the user data dir; a path; or off",
        "",
    ]
    return "\n".join(lines)


def _default_target() -> Path:
    env = os.environ.get("LLMSWITCH_CONFIG")
    if env:
        return Path(env)
    from .._paths import config_dir
    from ..config import CONFIG_FILENAME

    return config_dir() / CONFIG_FILENAME


def register(app: typer.Typer) -> None:
    """Add the ``config`` group (init, show, path) to the top-level app."""
    cfg = typer.Typer(help="Write, show and locate the config file.", no_args_is_help=True)
    app.add_typer(cfg, name="config")

    @cfg.command("init")
    def init(
        path: Path | None = typer.Option(
            None, "--path", help="Where to write (default: $LLMSWITCH_CONFIG or the user config dir)."
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
        probe: bool = typer.Option(True, "--probe/--no-probe", help="Probe local servers and env keys first."),
        timeout: float = typer.Option(1.5, "--timeout", help="Seconds per probe."),
    ) -> None:
        """Write a commented starter config with the backends found running right now."""
        target = path or _default_target()
        if target.exists() and not force:
            fail(FileExistsError(f"{target} already exists; pass --force to overwrite it"))
        local, clouds = run(_discover(timeout)) if probe else ([], [])
        text = starter_yaml(local, clouds)
        from .._paths import make_private_dir, write_private_text

        # 0600 in a 0700 folder if we create it: the file is meant to receive keys or key refs.
        make_private_dir(target.parent)
        write_private_text(target, text)
        found = ", ".join([f"{t} at {u}" for t, u, _ in local] + clouds) or "nothing running"
        console.print(f"wrote {target} (found: {found})", highlight=False)

    @cfg.command("show")
    def show(
        config: Path | None = typer.Option(None, "--config", "-c", help="Config file (default: the usual search)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print the loaded configuration with every secret redacted."""
        from ..config import load_config
        from ..errors import LLMSwitchError

        try:
            loaded = load_config(config)
        except LLMSwitchError as exc:
            fail(exc)
        if loaded is None:
            console.print("no config file found; `llmswitch config init` writes one", highlight=False)
            raise SystemExit(1)
        data: dict[str, Any] = loaded.redacted()
        if as_json:
            print(json.dumps({"source": str(loaded.source), **data}, indent=2, default=str))
            return
        import yaml

        console.print(f"[dim]# {loaded.source}[/]", highlight=False)
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())

    @cfg.command("path")
    def path_() -> None:
        """Print which config file would be used (exit 1 if none)."""
        from ..config import find_config_path
        from ..errors import LLMSwitchError

        try:
            found = find_config_path()
        except LLMSwitchError as exc:
            fail(exc)
        if found is None:
            console.print("none (looked at $LLMSWITCH_CONFIG, ./llmswitch.yaml, the user config dir)", highlight=False)
            raise SystemExit(1)
        print(found)
