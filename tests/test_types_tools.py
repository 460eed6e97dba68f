"""Caller input: every form a user hands over as "a tool" or "a message" either works or fails
at once with a TypeError/ValueError naming what is accepted — never ``AttributeError: __name__``
from deep inside a wire encoder."""

from __future__ import annotations

import functools

import pytest

from llmswitch.types import ImagePart, Message, TextPart, Tool, ToolCall


def get_weather(city: str, unit: str = "c", *, api_key: str = "") -> str:
    """Current weather for a city."""
    return f"{city}:{unit}"


class Search:
    """A search client (class docstring)."""

    def __call__(self, query: str, limit: int = 3) -> list[str]:
        """Search the web."""
        return [query] * limit


# --- tools --------------------------------------------------------------------------------


def test_partial_is_a_tool_named_after_its_function_without_the_bound_keyword() -> None:
    secret = "sk-bound-in-partial-123456"
    tool = Tool.from_function(functools.partial(get_weather, api_key=secret))
    assert tool.name == "get_weather"
    assert tool.description == "Current weather for a city."
    assert tool.parameters == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "default": "c"}},
        "required": ["city"],
    }
    assert secret not in repr(tool.parameters)  # a bound value is never shown to the model
    assert tool.function(city="Oslo") == "Oslo:c"


def test_partial_binding_positionally_and_nested_partials() -> None:
    tool = Tool.from_function(functools.partial(functools.partial(get_weather, "Paris"), unit="f"))
    assert tool.name == "get_weather"
    assert tool.parameters["properties"] == {"api_key": {"type": "string", "default": ""}}  # city bound positionally
    assert "required" not in tool.parameters


def test_callable_object_is_a_tool_named_after_its_class() -> None:
    tool = Tool.from_function(Search())
    assert tool.name == "Search"
    assert tool.description == "Search the web."  # __call__'s doc, not the class's
    assert tool.parameters["properties"] == {"query": {"type": "string"}, "limit": {"type": "integer", "default": 3}}
    assert tool.parameters["required"] == ["query"]
    assert Tool.from_function(Search().__call__).name == "Search"


def test_callable_object_without_call_doc_uses_class_doc_and_name_can_be_given() -> None:
    class Lookup:
        """Look a thing up."""

        def __call__(self, key: str) -> str:
            return key

    tool = Tool.from_function(Lookup(), name="lookup")
    assert (tool.name, tool.description) == ("lookup", "Look a thing up.")


@pytest.mark.parametrize("bad", [42, "get_weather", None, 3.5, ["x"]])
def test_not_a_tool_is_a_type_error_naming_every_accepted_form(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        Tool.from_function(bad)  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith(f"not a tool: {type(bad).__name__}")
    for form in ("llmswitch.Tool", "a function", "functools.partial", "callable object", '"type": "function"', "input_schema"):
        assert form in msg


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ValueError, match="pass name="):
        Tool.from_function(lambda x: x)
    assert Tool.from_function(lambda x: x, name="echo").name == "echo"


def test_builtin_without_signature_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="cannot read the parameters"):
        Tool.from_function(max)  # a builtin without a signature


def test_tool_passed_to_from_function_is_returned() -> None:
    tool = Tool(name="t")
    assert Tool.from_function(tool) is tool
    assert Tool.from_function(tool, name="u").name == "u"


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize(
    "data",
    [
        {"type": "function", "function": {"name": "weather", "description": "Weather.", "parameters": SCHEMA, "strict": True}},
        {"name": "weather", "description": "Weather.", "parameters": SCHEMA},
        {"name": "weather", "description": "Weather.", "input_schema": SCHEMA, "cache_control": {"type": "ephemeral"}},
    ],
    ids=["openai", "flat", "anthropic"],
)
def test_dict_forms(data: dict) -> None:
    for tool in (Tool.from_dict(data), Tool.from_function(data)):
        assert (tool.name, tool.description, tool.parameters, tool.function) == ("weather", "Weather.", SCHEMA, None)


def test_dict_without_schema_gets_an_empty_object() -> None:
    assert Tool.from_dict({"name": "ping"}).parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("data", "exc", "text"),
    [
        ({"description": "no name"}, ValueError, "needs a 'name'"),
        ({"name": "x", "parameters": "object"}, TypeError, "parameters must be a JSON schema dict"),
        ({"name": 7}, TypeError, "tool name must be a non-empty str"),
        ({"type": "function", "function": "weather"}, TypeError, '"function" must be a dict'),
        ({"type": "web_search_20250305", "name": "web_search"}, ValueError, "built-in tool"),
    ],
)
def test_bad_dicts(data: dict, exc: type[Exception], text: str) -> None:
    with pytest.raises(exc, match=text):
        Tool.from_dict(data)


def test_tool_constructor_checks_types() -> None:
    with pytest.raises(TypeError, match="Tool name must be a non-empty str"):
        Tool(name=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Tool parameters must be a JSON schema dict"):
        Tool(name="t", parameters="{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Tool function must be callable"):
        Tool(name="t", function="get_weather")  # type: ignore[arg-type]


# --- messages -----------------------------------------------------------------------------


def test_unknown_role_names_the_accepted_roles() -> None:
    with pytest.raises(ValueError, match="role must be one of system, user, assistant, tool; got 'usr'"):
        Message("usr", "hi")  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [5, {"text": "hi"}, b"hi"])
def test_wrong_content_type(content: object) -> None:
    with pytest.raises(TypeError, match="content must be a str, a list of parts"):
        Message("user", content)  # type: ignore[arg-type]


def test_content_list_accepts_strings_and_openai_part_dicts() -> None:
    m = Message.user(["a", {"type": "text", "text": "b"}, {"type": "image_url", "image_url": {"url": "https://x/i.png"}}])  # type: ignore[list-item]
    assert m.content == [TextPart("a"), TextPart("b"), ImagePart(url="https://x/i.png")]
    assert m.text == "ab"
    with pytest.raises(TypeError, match=r"content\[1\] is 3; a content list holds TextPart"):
        Message.user(["a", 3])  # type: ignore[list-item]


def test_tool_calls_and_string_fields_are_checked() -> None:
    with pytest.raises(TypeError, match="tool_calls must be a list of ToolCall"):
        Message("assistant", None, [{"id": "1"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="tool_call_id must be a str or None; got int"):
        Message.tool_result(7, "done")  # type: ignore[arg-type]
    m = Message("assistant", None, None)  # type: ignore[arg-type]
    assert m.tool_calls == []
    ok = Message.assistant(None, [ToolCall("c1", "f", {})])
    assert ok.tool_calls[0].name == "f"


def test_message_from_dict() -> None:
    assert Message.from_dict({"role": "user", "content": "hi"}) == Message.user("hi")
    with pytest.raises(ValueError, match=r"needs 'role' \(one of system, user, assistant, tool\); got keys \['content'\]"):
        Message.from_dict({"content": "hi"})
    with pytest.raises(ValueError, match="unknown key"):
        Message.from_dict({"role": "user", "contents": "hi"})
    with pytest.raises(TypeError, match="a message is a Message or a dict"):
        Message.from_dict("hi")  # type: ignore[arg-type]
