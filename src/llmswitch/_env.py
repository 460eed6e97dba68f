"""``${VAR}`` expansion, one implementation for the config file and for values passed to a
provider's constructor (``api_key="${ANTHROPIC_API_KEY}"``, as the design documents write it)."""

from __future__ import annotations

import os
import re

__all__ = ["VAR_PATTERN", "expand_vars"]

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
