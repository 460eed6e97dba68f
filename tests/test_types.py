"""types.py's tool normalisation: every shape user code has for "a tool" becomes the same ``Tool``
(``Tool.from_function`` is the one normaliser, ``as_tools`` maps it over ``tools=``), and what is
sent on the wire is the same whichever shape was given. Anything else fails at once, naming the
accepted forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from llmswitch.providers.anthropic import AnthropicProvider
from llmswitch.providers.openai import OpenAIProvider
from llmswitch.types import Tool, as_tools
from tests.fakes import anthropic_server, openai_server
from tests.fakes._threaded import ThreadedServer

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "default": "c"}},
    "required": ["city"],
}


def get_weather(city: str, unit: str = "c") -> str:
    """Current weather for a city."""
    return f"{city}:{unit}"


class GetWeather(BaseModel):
    """Current weather for a city."""

    city: str = Field(description="City name")
    unit: str = "c"


class Undocumented(BaseModel):
    x: int


class Point(BaseModel):
    x: float
    y: float


class Route(BaseModel):
    """A route through points."""

    points: list[Point]


DICT_FORMS: dict[str, dict[str, Any]] = {
    "openai": {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.", "parameters": SCHEMA}},
    "flat": {"name": "get_weather", "description": "Current weather for a city.", "parameters": SCHEMA},
    "anthropic": {"name": "get_weather", "description": "Current weather for a city.", "input_schema": SCHEMA},
}


# --- one Tool from every shape --------------------------------------------------------------


@pytest.mark.parametrize("form", [*DICT_FORMS, "Tool", "function"])
def test_every_shape_gives_the_same_tool(form: str) -> None:
    given: Any = {
        **DICT_FORMS,
        "Tool": Tool("get_weather", "Current weather for a city.", SCHEMA),
        "function": get_weather,
    }[form]
    [tool] = as_tools([given]) or []
    assert (tool.name, tool.description, tool.parameters) == ("get_weather", "Current weather for a city.", SCHEMA)
    assert tool.function is (get_weather if form == "function" else None)


def test_a_tool_passes_through_unchanged() -> None:
    tool = Tool("t")
    assert (as_tools([tool]) or [])[0] is tool


def test_pydantic_model_is_named_and_described_as_the_openai_sdk_does() -> None:
    openai = pytest.importorskip("openai")
    tool = Tool.from_model(GetWeather)
    theirs = openai.pydantic_function_tool(GetWeather)["function"]
    assert (tool.name, tool.description) == (theirs["name"], theirs["description"]) == ("GetWeather", "Current weather for a city.")
    assert tool.parameters == GetWeather.model_json_schema()
    assert tool.parameters["properties"]["city"]["description"] == "City name"
    assert tool.parameters["required"] == ["city"]  # not strict mode: a default keeps a field optional
    assert tool.function is None
    assert Tool.from_function(GetWeather) == tool
    assert (as_tools([GetWeather]) or [])[0] == tool


def test_pydantic_model_without_docstring_has_no_description_and_names_can_be_given() -> None:
    tool = Tool.from_model(Undocumented)
    assert tool.description == ""  # not pydantic's own BaseModel docstring
    assert BaseModel.__doc__ and "pydantic" not in tool.description.lower()
    renamed = Tool.from_function(Undocumented, name="pick", description="Pick a number.")
    assert (renamed.name, renamed.description) == ("pick", "Pick a number.")


def test_pydantic_model_with_nested_models_keeps_defs() -> None:
    tool = Tool.from_model(Route)
    assert "Point" in tool.parameters["$defs"]
    assert tool.parameters["properties"]["points"]["items"] == {"$ref": "#/$defs/Point"}


def test_pydantic_arguments_validate_a_call() -> None:
    """What ``function=None`` leaves to the caller: the model validates the call's arguments."""
    assert GetWeather.model_validate({"city": "Oslo"}) == GetWeather(city="Oslo", unit="c")


def test_a_callable_is_built_once_and_forgotten_with_it() -> None:
    """Agents send the same tools every turn: reading the signature again each call is waste."""
    import functools
    import gc

    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    first = as_tools([lookup, GetWeather]) or []
    again = as_tools([lookup, GetWeather]) or []
    assert first == again and first[0].function is lookup and first[1].function is None
    assert first[0].parameters is again[0].parameters  # the schema was not built again
    bound = functools.partial(get_weather, unit="f")
    assert (as_tools([bound]) or [])[0].parameters is (as_tools([bound]) or [])[0].parameters
    assert (as_tools([DICT_FORMS["flat"]]) or [])[0] == (as_tools([DICT_FORMS["flat"]]) or [])[0]  # dicts: built each time
    from llmswitch import types as T

    n = len(T._FROM_CALLABLE)
    del lookup, first, again, bound
    gc.collect()
    assert len(T._FROM_CALLABLE) == n - 2


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [GetWeather(city="Oslo"), 42, "get_weather", b"x", 3.5])
def test_not_a_tool_lists_every_accepted_form(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        as_tools([bad])
    msg = str(info.value)
    assert msg.startswith("tools[0]: not a tool: ")
    for form in ("llmswitch.Tool", "a function", "functools.partial", "callable object", "pydantic model class",
                 '"type": "function"', '"parameters"', "input_schema"):
        assert form in msg


def test_from_model_refuses_what_is_not_a_model_class() -> None:
    with pytest.raises(TypeError, match="not a pydantic model class"):
        Tool.from_model(GetWeather(city="x").__class__.__mro__[-1])  # object
    with pytest.raises(TypeError, match="not a pydantic model class"):
        Tool.from_model(GetWeather(city="x"))  # type: ignore[arg-type]


@pytest.mark.parametrize("single", [DICT_FORMS["flat"], get_weather, GetWeather, Tool("t"), "get_weather"])
def test_a_single_tool_where_the_list_belongs_says_to_wrap_it(single: Any) -> None:
    with pytest.raises(TypeError, match=r"tools must be a list of tools; got a single .*: pass \[it\]"):
        as_tools(single)


def test_an_item_error_names_its_index() -> None:
    with pytest.raises(ValueError, match=r"^tools\[1\]: a tool dict needs a 'name'"):
        as_tools([get_weather, {"description": "nameless"}])


def test_duplicate_names_are_refused_before_the_server_does() -> None:
    with pytest.raises(ValueError, match=r"tools\[0\] and tools\[2\] are both named 'get_weather'"):
        as_tools([get_weather, GetWeather, DICT_FORMS["anthropic"]])


@pytest.mark.parametrize("empty", [None, [], ()])
def test_no_tools_is_none(empty: Any) -> None:
    assert as_tools(empty) is None


def test_a_generator_of_tools_is_a_list() -> None:
    assert [t.name for t in as_tools(t for t in (get_weather, GetWeather)) or []] == ["get_weather", "GetWeather"]


# --- the same request on the wire, whichever shape ------------------------------------------


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[openai_server.FakeOpenAI, str]]:
    fake = openai_server.FakeOpenAI()
    with ThreadedServer(fake.app) as server:
        yield fake, server.url + "/v1"


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[tuple[anthropic_server.FakeAnthropic, str]]:
    fake = anthropic_server.FakeAnthropic()
    with ThreadedServer(fake.app) as server:
        yield fake, server.url


SHAPES: list[Any] = [*DICT_FORMS.values(), get_weather, Tool("get_weather", "Current weather for a city.", SCHEMA)]


async def test_openai_wire_gets_one_tool_definition_from_every_shape(openai_fake: tuple[openai_server.FakeOpenAI, str]) -> None:
    fake, url = openai_fake
    sent = []
    async with OpenAIProvider(base_url=url, api_key=openai_server.VALID_KEY) as p:
        for shape in SHAPES:
            reply = await p.complete("Weather in Paris?", model="gpt-tools", tools=[shape])
            assert reply.tool_calls and reply.tool_calls[0].name == "get_weather"
            sent.append(fake.requests[-1]["tools"])
        await p.complete("Weather in Paris?", model="gpt-tools", tools=[GetWeather])
        from_model = fake.requests[-1]["tools"]
    assert all(s == sent[0] for s in sent)
    assert sent[0] == [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.", "parameters": SCHEMA}}]
    assert from_model[0]["function"]["name"] == "GetWeather"
    assert from_model[0]["function"]["parameters"] == GetWeather.model_json_schema()


async def test_anthropic_wire_gets_one_tool_definition_from_every_shape(
    anthropic_fake: tuple[anthropic_server.FakeAnthropic, str],
) -> None:
    fake, url = anthropic_fake
    sent = []
    async with AnthropicProvider(base_url=url, api_key=anthropic_server.VALID_KEY) as p:
        for shape in SHAPES:
            await p.complete("Weather in Paris?", model="claude-tools", tools=[shape])
            sent.append(fake.requests[-1]["tools"])
    assert all(s == sent[0] for s in sent)
    assert sent[0] == [{"name": "get_weather", "description": "Current weather for a city.", "input_schema": SCHEMA}]
