"""Core value types shared by every layer.

Hot-path types (stream events, ``Usage``, ``Response``) are slotted dataclasses: they are
built once per chunk or call, and pydantic validation there would cost more than the HTTP
parsing itself. Pydantic is kept for configuration and other edges.
"""

from __future__ import annotations

import base64
import inspect
import mimetypes
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Literal, Union

__all__ = [
    "ProviderType",
    "TextPart",
    "ImagePart",
    "Part",
    "ToolCall",
    "Message",
    "LLMMessage",
    "Tool",
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


class ProviderType(str, Enum):
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


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class TextPart:
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
    def from_path(cls, path: str | Path) -> "ImagePart":
        p = Path(path)
        media_type = mimetypes.guess_type(p.name)[0] or "image/png"
        return cls(data=p.read_bytes(), media_type=media_type)

    def as_data_url(self) -> str:
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


Part = Union[TextPart, ImagePart]


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None
    """The argument string exactly as the model produced it (may be invalid JSON)."""


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class Message:
    role: Role
    content: str | list[Part] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    thinking: str | None = None
    thinking_signature: str | None = None
    is_error: bool = False
    """On a tool result: the tool failed. Anthropic gets ``is_error``; APIs without the flag get the text."""

    @classmethod
    def system(cls, text: str) -> "Message":
        return cls("system", text)

    @classmethod
    def user(cls, content: str | list[Part]) -> "Message":
        return cls("user", content)

    @classmethod
    def assistant(cls, text: str | None = None, tool_calls: list[ToolCall] | None = None) -> "Message":
        return cls("assistant", text, tool_calls or [])

    @classmethod
    def tool_result(cls, tool_call_id: str, content: str, name: str | None = None, is_error: bool = False) -> "Message":
        return cls("tool", content, tool_call_id=tool_call_id, name=name, is_error=is_error)

    @property
    def text(self) -> str:
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
        return annotation.model_json_schema()
    return {}


@dataclass(slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    function: Callable[..., Any] | None = None

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, description: str | None = None) -> "Tool":
        """Build the JSON schema from type hints so the tool and its signature cannot drift apart."""
        try:
            hints = typing.get_type_hints(fn)
        except (NameError, TypeError):
            # A string annotation naming something local to the caller's scope cannot be
            # resolved; describe those parameters loosely rather than refusing the tool.
            hints = {}
            for k, v in inspect.get_annotations(fn).items():
                try:
                    hints[k] = eval(v, getattr(fn, "__globals__", {})) if isinstance(v, str) else v
                except Exception:
                    hints[k] = Any
        sig = inspect.signature(fn)
        props: dict[str, Any] = {}
        required: list[str] = []
        for pname, param in sig.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
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
        doc = inspect.getdoc(fn) or ""
        return cls(
            name=name or fn.__name__,
            description=description if description is not None else doc,
            parameters=params,
            function=fn,
        )


@dataclass(slots=True)
class Usage:
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
        return self.input_tokens + self.output_tokens

    def __add__(self, other: "Usage") -> "Usage":
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
        self.errors += 1

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
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

    def to_message(self) -> Message:
        """The assistant turn to append to the history for the next request."""
        m = Message.assistant(self.text or None, list(self.tool_calls))
        m.thinking = self.thinking
        m.thinking_signature = self.thinking_signature
        return m


LLMResponse = Response


@dataclass(slots=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingDelta:
    text: str
    signature: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class UsageEvent:
    usage: Usage
    type: Literal["usage"] = "usage"


StreamEvent = Union[TextDelta, ThinkingDelta, ToolCallDelta, UsageEvent]


@dataclass(slots=True)
class ModelInfo:
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
    streaming: bool = True
    tools: bool = True
    vision: bool = False
    thinking: bool = False
    json_mode: bool = True
    model_management: bool = False
    local: bool = False


@dataclass
class ProviderHealthStatus:
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
        return self.connected and self.model_detected
