"""Bridges from llmswitch providers to other frameworks (pydantic-ai, ...).

Each integration lives in its own module and is imported only when used, so that
``import llmswitch`` never pulls in a framework; a missing framework raises an ImportError
that names the extra to install (``pip install 'llmswitch[pydantic-ai]'``).
"""

__all__: list[str] = []  # each integration is its own module: llmswitch.integrations.pydantic_ai
