"""Moved to ``tests/fakes/hostile_server.py`` (part 3, scripted bytes); kept only because
``tests/wire/test_endings.py`` still imports it from here. Delete once that import is updated."""

from .hostile_server import Script, ScriptedServer

__all__ = ["Script", "ScriptedServer"]
