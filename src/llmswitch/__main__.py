"""``python -m llmswitch``: the same command line as the ``llmswitch`` script, for when the script is not on PATH."""

from .cli import main

main()
