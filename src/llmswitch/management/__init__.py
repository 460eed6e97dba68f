"""Model-management clients for local servers (pull, delete, inspect, list loaded models).

Kept apart from ``providers/`` because managing models is not inference: these clients are
used by the CLI (`llmswitch pull`, `ps`, `show`, `rm`) and by providers that need a model's
capabilities, and they import nothing heavy until used.
"""

__all__: list[str] = []  # one module per server: llmswitch.management.ollama, .llamacpp, .lmstudio
