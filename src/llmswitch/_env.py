"""Reading the environment: ``${VAR}`` expansion, one implementation for the config file and for
values passed to a provider's constructor (``api_key="${ANTHROPIC_API_KEY}"``, as the design
documents write it); ``LLMSWITCH_HTTP``."""

from __future__ import annotations

import os
import re

__all__ = ["VAR_PATTERN", "expand_vars", "lean_http"]

VAR_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def expand_vars(value: str, missing: list[str] | None = None) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset only);
    ``$$`` is a literal ``$``. Missing variables without a default are appended to ``missing``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1), m.group(2), m.group(3)
        val = os.environ.get(name)
        if op == ":-" and not val:
            return default or ""
        if op == "-" and val is None:
            return default or ""
        if val is None:
            if missing is not None:
                missing.append(name)
            return ""
        return val

    return VAR_PATTERN.sub(sub, value)


def lean_http() -> bool:
    """False when ``LLMSWITCH_HTTP=aiohttp``: llmswitch's own HTTP/1.1 code is off and everything goes
    through aiohttp — requests (``_h1``, for transports made after it is set) and the gateway's
    server (``gateway/ingress.py``). A way out should a peer need aiohttp's leniency."""
    return os.environ.get("LLMSWITCH_HTTP", "").strip().lower() != "aiohttp"
