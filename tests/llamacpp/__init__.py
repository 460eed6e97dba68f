"""Integration tests against the real llama-server from llmswitch[local]."""
