"""Slotted dataclasses vs msgspec Structs for the hot-path types (DESIGN.md asks which is faster).

``python -m bench.types_bench`` prints one JSON line: µs per operation (best of several repeats)
for building the per-chunk and per-call objects both ways, and for decoding a stream chunk and a
completion with ``json.loads`` + dict access (what llmswitch does) against msgspec (untyped and
typed into Structs). Needs msgspec (installed in bench/.venv); llmswitch's own types are used as
the dataclass side.
"""


import json
import sys
import timeit
from typing import Any


def _best(fn, number: int = 20000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    try:
        import msgspec
    except ImportError:
        print(json.dumps({"skipped": "msgspec is not installed"}))
        return
    from bench.server import completion_body, stream_events
    from llmswitch._wire.openai_chat import parse_response
    from llmswitch.types import Response, TextDelta, Usage

    class MTextDelta(msgspec.Struct):
        text: str
        type: str = "text"

    class MUsage(msgspec.Struct):
        input_tokens: int = 0
        output_tokens: int = 0
        cache_read_tokens: int = 0
        cache_write_tokens: int = 0
        reasoning_tokens: int = 0
        cost: float | None = None
        known: bool = True

    class MResponse(msgspec.Struct):
        text: str
        tool_calls: list = msgspec.field(default_factory=list)
        finish_reason: str | None = "stop"
        model: str = ""
        provider: str = ""
        usage: MUsage = msgspec.field(default_factory=MUsage)
        latency: float = 0.0
        thinking: str | None = None
        thinking_signature: str | None = None
        id: str | None = None
        tokens_per_second: float | None = None
        raw: Any = None

    class Delta(msgspec.Struct):
        content: str | None = None
        role: str | None = None

    class Choice(msgspec.Struct):
        delta: Delta
        index: int = 0
        finish_reason: str | None = None

    class Chunk(msgspec.Struct):
        choices: list[Choice]
        id: str | None = None
        model: str | None = None

    class Msg(msgspec.Struct):
        content: str | None = None
        role: str | None = None

    class CChoice(msgspec.Struct):
        message: Msg
        finish_reason: str | None = None

    class CUsage(msgspec.Struct):
        prompt_tokens: int = 0
        completion_tokens: int = 0

    class Completion(msgspec.Struct):
        choices: list[CChoice]
        model: str | None = None
        id: str | None = None
        usage: CUsage | None = None

    chunk = stream_events("fake", 3)[1][len(b"data: ") :].strip()
    body = completion_body("fake")
    d_chunk = msgspec.json.Decoder()
    t_chunk = msgspec.json.Decoder(Chunk)
    t_comp = msgspec.json.Decoder(Completion)
    loads = json.loads

    def py_chunk():
        for ch in loads(chunk)["choices"]:
            c = ch["delta"].get("content")
            if c:
                TextDelta(c)

    def ms_untyped_chunk():
        for ch in d_chunk.decode(chunk)["choices"]:
            c = ch["delta"].get("content")
            if c:
                TextDelta(c)

    def ms_typed_chunk():
        for ch in t_chunk.decode(chunk).choices:
            if ch.delta.content:
                MTextDelta(ch.delta.content)

    def py_completion():
        parse_response(loads(body), provider="bench")

    def ms_typed_completion():
        c = t_comp.decode(body)
        u = c.usage
        MResponse(
            text=c.choices[0].message.content or "",
            finish_reason=c.choices[0].finish_reason,
            model=c.model or "",
            provider="bench",
            usage=MUsage(u.prompt_tokens, u.completion_tokens) if u else MUsage(known=False),
            id=c.id,
        )

    out = {
        "build TextDelta": {"dataclass": _best(lambda: TextDelta("tok")), "msgspec": _best(lambda: MTextDelta("tok"))},
        "build Usage": {"dataclass": _best(lambda: Usage(9, 9)), "msgspec": _best(lambda: MUsage(9, 9))},
        "build Response": {
            "dataclass": _best(lambda: Response("hello", model="m", provider="p", usage=Usage(9, 9))),
            "msgspec": _best(lambda: MResponse("hello", model="m", provider="p", usage=MUsage(9, 9))),
        },
        "decode stream chunk → TextDelta": {
            "json.loads + dataclass": _best(py_chunk),
            "msgspec untyped + dataclass": _best(ms_untyped_chunk),
            "msgspec typed Structs": _best(ms_typed_chunk),
        },
        "decode completion → Response": {
            "json.loads + parse_response": _best(py_completion, 10000),
            "msgspec typed Structs": _best(ms_typed_completion, 10000),
        },
        "msgspec": msgspec.__version__,
        "python": sys.version.split()[0],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
