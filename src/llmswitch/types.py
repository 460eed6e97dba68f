"""Core value types shared by every layer.

Hot-path types (stream events, ``Usage``, ``Response``) are slotted dataclasses: they are
built once per chunk or call, and pydantic validation there would cost more than the HTTP
parsing itself. Pydantic is kept for configuration and other edges.
"""

from __future__ import annotations

import base64
import functools
import inspect
import mimetypes
import sys
import typing
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Literal, Union

__all__ = [
    "ProviderType",
    "TextPart",
    "ImagePart",
    "Part",
    "ToolCall",
    "Message",
    "LLMMessage",
    "Tool",
    "as_tools",
    "Usage",
    "TokenUsage",
    "Response",
    "LLMResponse",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "UsageEvent",
    "StreamEvent",
    "ModelInfo",
    "ProviderCapabilities",
    "ProviderHealthStatus",
    "FinishReason",
]


class ProviderType(StrEnum):
    """A backend kind; a ``StrEnum``, so ``f"{t}"`` and ``str(t)`` give the value (``"ollama"``)."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    OPENROUTER = "openrouter"
    LMSTUDIO = "lmstudio"
    OLLAMA = "ollama"
    LLAMACPP = "llamacpp"
    VLLM = "vllm"
    LITELLM = "litellm"
    OPENAI_COMPATIBLE = "openai-compatible"
    AUTO = "auto"
    FALLBACK = "fallback"
    """A chain of providers answering as one (``llmswitch.providers.fallback.FallbackProvider``)."""


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class TextPart:
    """A piece of text in a message's content list, beside ``ImagePart``s."""

    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image given either as a URL (``http(s)://`` or ``data:``) or as raw bytes."""

    url: str | None = None
    data: bytes | None = None
    media_type: str = "image/png"
    type: Literal["image"] = "image"

    @classmethod
    def from_path(cls, path: str | Path) -> ImagePart:
        """An inline image read from a file, its media type guessed from the name (PNG when unknown)."""
        p = Path(path)
        media_type = mimetypes.guess_type(p.name)[0] or "image/png"
        return cls(data=p.read_bytes(), media_type=media_type)

    def as_data_url(self) -> str:
        """The image as one URL (the given one, or a ``data:`` URL of the bytes), as OpenAI-style wires take it."""
        if self.url is not None:
            return self.url
        assert self.data is not None, "ImagePart needs url or data"
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"

    def as_base64(self) -> tuple[str, str]:
        """(media_type, base64 data) for wire formats that do not take URLs."""
        if self.data is not None:
            return self.media_type, base64.b64encode(self.data).decode()
        if self.url and self.url.startswith("data:"):
            header, _, payload = self.url.partition(",")
            return header[5:].split(";")[0] or self.media_type, payload
        raise ValueError("this image is a remote URL; the wire format needs inline data")


Part = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    """A tool call the model asked for, with its arguments parsed from the JSON it produced."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None
    """The argument string exactly as the model produced it (may be invalid JSON)."""


Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = typing.get_args(Role)
_ROLE_SET = frozenset(ROLES)


def _short(value: Any, limit: int = 60) -> str:
    """A repr short enough for an error message (the value may be a whole document)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_part(item: Any, index: int) -> Part:
    """One item of a content list. A plain string and the OpenAI-style ``{"type": "text", ...}`` /
    ``{"type": "image_url", ...}`` dicts are accepted because users write them; anything else
    would fail deep inside a wire encoder with an ``AttributeError``, so it fails here."""
    if isinstance(item, (TextPart, ImagePart)):
        return item
    if isinstance(item, str):
        return TextPart(item)
    if isinstance(item, Mapping):
        kind = item.get("type")
        if kind == "text" and isinstance(item.get("text"), str):
            return TextPart(item["text"])
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if kind == "image_url" and isinstance(url, str):
            return ImagePart(url=url)
    raise TypeError(
        f"Message content[{index}] is {_short(item)}; a content list holds TextPart, ImagePart, str, "
        '{"type": "text", "text": ...} or {"type": "image_url", "image_url": {"url": ...}}'
    )


@dataclass(slots=True)
class Message:
    """One turn of a conversation, in the one shape every wire module encodes (checked when built)."""

    role: Role
    content: str | list[Part] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    thinking: str | None = None
    thinking_signature: str | None = None
    is_error: bool = False
    """On a tool result: the tool failed. Anthropic gets ``is_error``; APIs without the flag get the text."""

    def __post_init__(self) -> None:
        """Wrong types fail here, naming the field and what it accepts, instead of as an
        ``AttributeError`` inside a wire encoder. Messages are built per call, not per stream
        chunk, so a few ``isinstance`` checks cost nothing that matters."""
        if self.role not in _ROLE_SET:
            raise ValueError(f"Message role must be one of {', '.join(ROLES)}; got {_short(self.role)}")
        content = self.content
        if content is not None and type(content) is not str:
            if isinstance(content, (list, tuple)):
                self.content = [_as_part(item, i) for i, item in enumerate(content)]
            elif not isinstance(content, str):
                raise TypeError(
                    f"Message content must be a str, a list of parts (TextPart, ImagePart) or None; "
                    f"got {type(content).__name__}"
                )
        calls = self.tool_calls
        if calls is None:
            self.tool_calls = []
        elif not isinstance(calls, list) or (calls and not all(isinstance(c, ToolCall) for c in calls)):
            raise TypeError(f"Message tool_calls must be a list of ToolCall; got {_short(calls)}")
        if (
            self.tool_call_id is not None
            or self.name is not None
            or self.thinking is not None
            or self.thinking_signature is not None
        ):
            for name in ("tool_call_id", "name", "thinking", "thinking_signature"):
                value = getattr(self, name)
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"Message {name} must be a str or None; got {type(value).__name__}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """A message written as a dict (``{"role": "user", "content": "hi"}``), with a clear error
        for a missing role or an unknown key instead of a ``KeyError``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a message is a Message or a dict with 'role' and 'content'; got {type(data).__name__}")
        if "role" not in data:
            raise ValueError(f"a message dict needs 'role' (one of {', '.join(ROLES)}); got keys {sorted(map(str, data))}")
        known = {"role", "content", "tool_calls", "tool_call_id", "name", "thinking", "thinking_signature", "is_error"}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)} in a message dict; known: {', '.join(sorted(known))}")
        return cls(**{str(k): v for k, v in data.items()})

    @classmethod
    def system(cls, text: str) -> Message:
        """The instructions turn, placed before the conversation."""
        return cls("system", text)

    @classmethod
    def user(cls, content: str | list[Part]) -> Message:
        """A user turn: a prompt string, or a list of text and image parts."""
        return cls("user", content)

    @classmethod
    def assistant(cls, text: str | None = None, tool_calls: list[ToolCall] | None = None) -> Message:
        """An earlier answer of the model (text and/or tool calls), to replay a conversation."""
        return cls("assistant", text, tool_calls or [])

    @classmethod
    def tool_result(cls, tool_call_id: str, content: str, name: str | None = None, is_error: bool = False) -> Message:
        """What running a tool gave, answering the call ``tool_call_id``; ``is_error`` marks a failure."""
        return cls("tool", content, tool_call_id=tool_call_id, name=name, is_error=is_error)

    @property
    def text(self) -> str:
        """The text parts joined, images left out; "" when there is no content."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


LLMMessage = Message

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_schema_for(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": _json_schema_for(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, getattr(__import__("types"), "UnionType", Union)):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _json_schema_for(non_none[0])
        return {"anyOf": [_json_schema_for(a) for a in non_none]}
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        return {"enum": [m.value for m in annotation]}
    if annotation is Any:
        return {}
    if hasattr(annotation, "model_json_schema"):
        schema: dict[str, Any] = annotation.model_json_schema()
        return schema
    return {}


_TOOL_FORMS = (
    "a tool is a llmswitch.Tool, a function, a functools.partial, a callable object (with __call__), "
    "a pydantic model class (its fields are the parameters), "
    'or a dict: OpenAI {"type": "function", "function": {"name", "description", "parameters"}}, '
    'flat {"name", "description", "parameters"}, or Anthropic {"name", "description", "input_schema"}'
)


def _is_pydantic_model_class(obj: Any) -> bool:
    """A ``pydantic.BaseModel`` subclass, without importing pydantic: if it is not imported yet,
    nothing can be a subclass of its ``BaseModel`` (``import llmswitch`` stays light)."""
    if not isinstance(obj, type):
        return False
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None) if pydantic is not None else None
    return base is not None and issubclass(obj, base) and obj is not base


def _partial_bound_keywords(fn: Any) -> set[str]:
    """Names a ``functools.partial`` (or a chain of them) binds by keyword. ``inspect.signature``
    keeps them as keyword-only parameters defaulting to the bound value; they are left out of
    the schema, since the bound value (an API key, a DB handle) must not be shown to the model."""
    bound: set[str] = set()
    while isinstance(fn, functools.partial):
        bound.update(fn.keywords)
        fn = fn.func
    return bound


def _callable_parts(fn: Any) -> tuple[Any, str | None, str]:
    """(what holds the type hints, the default tool name, the docstring) for any callable form.

    A ``functools.partial`` and a callable object have no ``__name__`` and their ``inspect.getdoc``
    is the doc of ``partial`` or of the class, so each form is unwrapped to the function that
    was actually written; the signature still comes from ``fn`` itself, so arguments bound by a
    partial are not offered to the model as required parameters."""
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.ismethod(target) and target.__name__ == "__call__":  # obj.__call__ names the class
        return target, type(target.__self__).__name__, inspect.getdoc(target) or inspect.getdoc(type(target.__self__)) or ""
    if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target) or inspect.isbuiltin(target):
        return target, getattr(target, "__name__", None), inspect.getdoc(target) or ""
    # the method itself is wanted (its hints and doc), not a callability test
    call = getattr(type(target), "__call__", None)  # noqa: B004
    name = type(target).__name__
    doc = (inspect.getdoc(call) if call is not None and call.__doc__ else None) or inspect.getdoc(type(target)) or ""
    return call if call is not None else target, name, doc


def _type_hints(holder: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(holder)
    except Exception:  # noqa: BLE001 - NameError, TypeError, and worse from exotic annotations
        # A string annotation naming something local to the caller's scope cannot be
        # resolved; describe those parameters loosely rather than refusing the tool.
        hints: dict[str, Any] = {}
        try:
            annotations = inspect.get_annotations(holder)
        except TypeError:
            return hints
        for k, v in annotations.items():
            try:
                hints[k] = eval(v, getattr(holder, "__globals__", {})) if isinstance(v, str) else v
            except Exception:
                hints[k] = Any
        return hints


def _require_str(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value):
        raise TypeError(f"{what} must be a{'' if optional else ' non-empty'} str; got {_short(value)}")
    return value


@dataclass(slots=True)
class Tool:
    """A function the model may call: name, description and JSON-schema parameters, plus the Python
    function that runs it when there is one."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    function: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        """Checked once per tool (not per chunk): a wrong type would otherwise surface as an
        error from a wire encoder or a 400 from the server naming none of this."""
        _require_str(self.name, "Tool name")
        if self.description is None:
            self.description = ""
        _require_str(self.description, "Tool description", optional=True)
        if not isinstance(self.parameters, Mapping):
            raise TypeError(f"Tool parameters must be a JSON schema dict; got {type(self.parameters).__name__}")
        if self.function is not None and not callable(self.function):
            raise TypeError(f"Tool function must be callable; got {type(self.function).__name__}")

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, description: str | None = None) -> Tool:
        """Build the JSON schema from type hints so the tool and its signature cannot drift apart.

        Accepts every form a caller may hand over as "a tool": a function or method, a
        ``functools.partial`` (bound arguments are left out of the schema), a callable object,
        a ``Tool`` (returned as is, renamed if asked) and the dict forms of ``from_dict``."""
        if isinstance(fn, Tool):
            if name is None and description is None:
                return fn
            return cls(name or fn.name, fn.description if description is None else description, fn.parameters, fn.function)
        if isinstance(fn, Mapping):
            tool = cls.from_dict(fn)
            return tool if name is None and description is None else cls.from_function(tool, name, description)
        if _is_pydantic_model_class(fn):
            return cls.from_model(typing.cast("type[Any]", fn), name, description)
        if not callable(fn):
            raise TypeError(f"not a tool: {type(fn).__name__} {_short(fn)}; {_TOOL_FORMS}")
        holder, default_name, doc = _callable_parts(fn)
        tool_name = name or default_name
        if not tool_name or tool_name == "<lambda>":
            raise ValueError(f"cannot name a tool made from {_short(fn)}; pass name=")
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"cannot read the parameters of {_short(fn)} ({exc}); wrap it in a def with type hints, "
                "or build a Tool(name=..., parameters=...) by hand"
            ) from None
        hints = _type_hints(holder)
        bound = _partial_bound_keywords(fn)
        props: dict[str, Any] = {}
        required: list[str] = []
        for pname, param in sig.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or pname in bound:
                continue
            schema = _json_schema_for(hints.get(pname, str))
            if param.default is inspect.Parameter.empty:
                required.append(pname)
            else:
                schema = {**schema, "default": param.default}
            props[pname] = schema
        params: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            params["required"] = required
        return cls(
            name=tool_name,
            description=description if description is not None else doc,
            parameters=params,
            function=fn,
        )

    @classmethod
    def from_model(cls, model: type[Any], name: str | None = None, description: str | None = None) -> Tool:
        """A pydantic model class as the parameter schema, named and described the way the OpenAI
        SDK's ``openai.pydantic_function_tool(Model)`` does it, so code moving from there gets the
        same tool: the class name (``GetWeather``), the class's own docstring (``__doc__``, not
        pydantic's inherited one) and ``Model.model_json_schema()`` (field descriptions, defaults,
        nested models under ``$defs``). ``function`` stays None: a schema is not something to run;
        validate a call's arguments with ``Model.model_validate(call.arguments)``."""
        if not _is_pydantic_model_class(model):
            raise TypeError(f"not a pydantic model class: {_short(model)}; {_TOOL_FORMS}")
        doc = model.__doc__
        return cls(
            name=name or model.__name__,
            description=description if description is not None else (inspect.cleandoc(doc) if doc else ""),
            parameters=model.model_json_schema(),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tool:
        """A tool written as a provider's JSON: OpenAI ``{"type": "function", "function": {...}}``,
        flat ``{"name", "description", "parameters"}`` or Anthropic ``{"name", "description",
        "input_schema"}``. Provider-specific extras (``strict``, ``cache_control``) are ignored."""
        if not isinstance(data, Mapping):
            raise TypeError(f"not a tool: {type(data).__name__} {_short(data)}; {_TOOL_FORMS}")
        spec: Mapping[str, Any] = data
        if "function" in data and data.get("type", "function") == "function":
            spec = data["function"]
            if not isinstance(spec, Mapping):
                raise TypeError(f'a tool\'s "function" must be a dict with "name" and "parameters"; got {_short(spec)}')
        elif data.get("type") not in (None, "function", "custom") and "input_schema" not in data:
            raise ValueError(
                f"tool type {data.get('type')!r} is a provider's built-in tool, not a function llmswitch can describe; "
                f"{_TOOL_FORMS}"
            )
        if "name" not in spec:
            raise ValueError(f"a tool dict needs a 'name'; got keys {sorted(map(str, spec))}; {_TOOL_FORMS}")
        schema = spec.get("parameters", spec.get("input_schema"))
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, Mapping):
            raise TypeError(f"tool {spec['name']!r}: parameters must be a JSON schema dict; got {_short(schema)}")
        return cls(
            name=_require_str(spec["name"], "tool name") or "",
            description=_require_str(spec.get("description"), f"tool {spec['name']!r} description", optional=True) or "",
            parameters=dict(schema),
        )


_FROM_CALLABLE: weakref.WeakKeyDictionary[Any, tuple[str, str, dict[str, Any], bool]] = weakref.WeakKeyDictionary()
"""(name, description, parameters, runs) of tools already built from a function, partial or model
class. An agent sends the same tools on every turn, and reading a signature and its type hints
costs tens of µs per tool per call. The entry holds no reference to its function (a value that
did would keep its weak key alive), so it goes when the function does."""


def _tool_of(item: Any) -> Tool:
    if isinstance(item, Mapping):
        return Tool.from_dict(item)
    try:
        cached = _FROM_CALLABLE.get(item)
    except TypeError:  # not weak-referenceable or not hashable: build it every time
        return Tool.from_function(item)
    if cached is None:
        tool = Tool.from_function(item)
        if tool is not item:
            _FROM_CALLABLE[item] = (tool.name, tool.description, tool.parameters, tool.function is item)
        return tool
    name, description, parameters, runs = cached
    return Tool(name, description, parameters, item if runs else None)


def as_tools(tools: Any) -> list[Tool] | None:
    """``tools=`` of every call, normalised once before anything is sent: each item through
    ``Tool.from_function`` (the one normaliser; callables are built once and remembered), None
    for no tools. A single tool given where the list belongs, and two tools with one name (which
    every API refuses with a 400), are errors that say what to do; an item's error names its index."""
    if not tools:
        return None
    if isinstance(tools, (Mapping, Tool, str, bytes)) or callable(tools) or not hasattr(tools, "__iter__"):
        raise TypeError(f"tools must be a list of tools; got a single {type(tools).__name__} {_short(tools)}: pass [it]")
    out: list[Tool] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(tools):
        if type(item) is Tool:
            tool = item
        else:
            try:
                tool = _tool_of(item)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"tools[{i}]: {exc}") from None
        first = seen.setdefault(tool.name, i)
        if first != i:
            raise ValueError(f"tools[{first}] and tools[{i}] are both named {tool.name!r}; tool names must be unique")
        out.append(tool)
    return out


@dataclass(slots=True)
class Usage:
    """Tokens (and cost, when known) of one call, as the server reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    """USD. ``None`` means unknown (not free): an unpriced model is never shown as $0."""
    known: bool = True
    """False when the server did not report usage at all (counts are then not zeros)."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens: the one number to compare calls by."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            cost,
            self.known and other.known,
        )


@dataclass(slots=True)
class TokenUsage:
    """Running totals for one provider instance."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    errors: int = 0
    unpriced_calls: int = 0

    def record(self, usage: Usage | None) -> None:
        """Add one call; a call whose cost is unknown counts in ``unpriced_calls``, never as $0."""
        self.calls += 1
        if usage is None:
            return
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        if usage.cost is None:
            self.unpriced_calls += 1
        else:
            self.cost += usage.cost

    def record_error(self) -> None:
        """Count a failed call, which has no usage to add."""
        self.errors += 1

    def add(self, other: TokenUsage) -> None:
        """Add another provider's totals to these (a registry's total, a fallback chain's members)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost
        self.calls += other.calls
        self.errors += other.errors
        self.unpriced_calls += other.unpriced_calls

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens over every recorded call."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    """The whole answer of one call (text, tool calls, thinking, usage, timing), streamed or not."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = "stop"
    model: str = ""
    provider: str = ""
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    """Seconds from sending the request to the last byte."""
    thinking: str | None = None
    thinking_signature: str | None = None
    id: str | None = None
    tokens_per_second: float | None = None
    raw: Any = None

    @property
    def content(self) -> str:
        """The answer's text: ``text`` under the name the design documents use."""
        return self.text

    def to_message(self) -> Message:
        """The assistant turn to append to the history for the next request."""
        m = Message.assistant(self.text or None, list(self.tool_calls))
        m.thinking = self.thinking
        m.thinking_signature = self.thinking_signature
        return m


LLMResponse = Response


@dataclass(slots=True)
class TextDelta:
    """A piece of the answer. ``str()`` of any stream event is the answer text it carries (empty
    for thinking, tool-call and usage events), so the documents' loop
    ``async for chunk in provider.stream(msgs): print(chunk, end="")`` prints the answer."""

    text: str
    type: Literal["text"] = "text"

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class ThinkingDelta:
    """A piece of the model's reasoning, streamed apart from the answer; ``signature`` is Anthropic's,
    needed to send the thinking back in a later turn."""

    text: str
    signature: str | None = None
    type: Literal["thinking"] = "thinking"

    def __str__(self) -> str:
        return ""  # reasoning is not the answer (see TextDelta)


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a tool call as it streams: ``index`` says which call, the arguments come as JSON fragments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"

    def __str__(self) -> str:
        return ""  # see TextDelta


@dataclass(slots=True)
class UsageEvent:
    """The call's usage, sent once the server reports it (usually at the end of the stream)."""

    usage: Usage
    type: Literal["usage"] = "usage"

    def __str__(self) -> str:
        return ""  # see TextDelta


StreamEvent = TextDelta | ThinkingDelta | ToolCallDelta | UsageEvent


@dataclass(slots=True)
class ModelInfo:
    """One model a server offers, with whatever the backend reports about it (None: not reported)."""

    id: str
    provider: str = ""
    name: str | None = None
    context_length: int | None = None
    size_bytes: int | None = None
    loaded: bool | None = None
    """True/False where the backend can tell; None where it cannot."""
    type: str | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    digest: str | None = None
    modified_at: str | None = None
    input_price_per_token: float | None = None
    output_price_per_token: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderCapabilities:
    """What a provider (or one of its models) takes. ``tools``, ``vision`` (images in messages)
    and ``thinking`` are three-valued on purpose: True = takes it, False = known not to (a call
    that asks for it raises ``CapabilityError`` before anything is sent), None = unknown, which
    is allowed — a self-hosted server may well take images or tools, and refusing what it would
    have served is worse than letting the server answer."""

    streaming: bool = True
    tools: bool | None = None
    vision: bool | None = None
    thinking: bool | None = None
    json_mode: bool = True
    model_management: bool = False
    local: bool = False
    context_window: int | None = None
    """The model's context window in tokens, where declared or recorded (None: unknown). A
    fallback chain skips a member whose window the prompt clearly exceeds."""

    @property
    def refuses_any(self) -> bool:
        """Whether any of tools, images or thinking is known not to be taken (the check's gate)."""
        return self.tools is False or self.vision is False or self.thinking is False

    def over(self, base: ProviderCapabilities) -> ProviderCapabilities:
        """These capabilities where they are known (not None), ``base``'s elsewhere: a model's
        declared or reported capabilities laid over its provider's."""
        return ProviderCapabilities(
            streaming=self.streaming and base.streaming,
            tools=base.tools if self.tools is None else self.tools,
            vision=base.vision if self.vision is None else self.vision,
            thinking=base.thinking if self.thinking is None else self.thinking,
            json_mode=self.json_mode and base.json_mode,
            model_management=base.model_management,
            local=base.local,
            context_window=base.context_window if self.context_window is None else self.context_window,
        )


@dataclass
class ProviderHealthStatus:
    """What ``health_check`` found: reachable, model found, and the error when not (reported, never raised)."""

    connected: bool
    model_detected: bool
    model_id: str | None
    base_url: str
    error: str | None = None
    provider_type: ProviderType | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None

    @property
    def healthy(self) -> bool:
        """Usable for a call: reachable and with a model."""
        return self.connected and self.model_detected
