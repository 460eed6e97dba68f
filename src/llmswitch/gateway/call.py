"""One request in llmswitch's own terms, and how it is sent to each backend of its target.

Both ingress formats parse into a ``Call``: messages, tools and the parameters every provider
takes (``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``tool_choice`` in OpenAI's
spelling). What only the caller's own format knows (``seed``, ``logprobs``, ``metadata``, ...) is
kept aside in ``passthrough``: it goes, unchanged, to a backend that speaks the same wire format,
and is a 400 naming the field for any other backend — never silently dropped. Thinking is
asked for in each provider's own parameter (``thinking``, ``think``), or refused the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._streaming import ResponseStream
from ..routing.failover import complete_chain, stream_chain
from ..types import Message, Response, Tool
from .errors import GatewayError
from .targets import Member, Target

__all__ = ["Call", "Planned", "plan"]

OPENAI = "openai-chat"
ANTHROPIC = "anthropic"

_SAME_WIRE = {OPENAI: frozenset({OPENAI, "litellm"}), ANTHROPIC: frozenset({ANTHROPIC})}
"""Backends that take a format's own fields as they are (LiteLLM takes OpenAI's parameters)."""

_FIELD_WIRES = {
    "response_format": frozenset({OPENAI, "ollama", "litellm"}),
    "top_k": frozenset({ANTHROPIC, "ollama", OPENAI, "litellm"}),
}
"""Translated fields only some wire formats take; the others get a 400 naming the field."""


@dataclass(slots=True)
class Call:
    """A parsed request: what to send, in llmswitch's types."""

    wire: str
    """The caller's format (``openai-chat`` or ``anthropic``)."""
    model: str
    messages: list[Message]
    tools: list[Tool] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    passthrough: dict[str, Any] = field(default_factory=dict)
    thinking: Any = None
    """Anthropic's ``thinking`` object when the caller asked for thinking."""
    stream: bool = False


def _thinking_param(member: Member, thinking: Any) -> dict[str, Any]:
    asks = member.provider.thinking_params
    if "thinking" in asks:
        return {"thinking": thinking}
    if "think" in asks:
        return {"think": True}
    raise GatewayError(400, f"'thinking' cannot be sent to {member.name} ({member.provider.wire_format} wire format); "
                       f"it takes {', '.join(asks) or 'no thinking parameter'}", param="thinking")


def _member_params(call: Call, member: Member) -> dict[str, Any]:
    wire = member.provider.wire_format
    for name, wires in _FIELD_WIRES.items():
        if name in call.params and wire not in wires:
            raise GatewayError(400, f"'{name}' cannot be sent to {member.name} ({wire} wire format)", param=name)
    params = dict(call.params)
    if call.passthrough:
        if wire not in _SAME_WIRE[call.wire]:
            names = ", ".join(sorted(call.passthrough))
            raise GatewayError(400, f"field(s) {names} of the {call.wire} format cannot be sent to {member.name} "
                               f"({wire} wire format); remove them or choose a {call.wire} backend",
                               param=sorted(call.passthrough)[0])
        params.update(call.passthrough)
    if call.thinking is not None:
        params.update(_thinking_param(member, call.thinking))
    return params


@dataclass(slots=True)
class _Bound:
    """A member with its own parameters for this request (a chain's members may speak different wires)."""

    name: str
    member: Member
    params: dict[str, Any]

    async def complete(self, messages: Any, **params: Any) -> Response:
        return await self.member.complete(messages, **params, **self.params)

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        return self.member.stream(messages, **params, **self.params)


@dataclass(slots=True)
class Planned:
    """A call bound to its target's members, ready to run."""

    call: Call
    bound: Sequence[_Bound]

    async def complete(self, **params: Any) -> Response:
        """The whole answer (through the chain when there is more than one member)."""
        c = self.call
        if len(self.bound) == 1:  # straight to the provider (two coroutine frames less than through _Bound)
            b = self.bound[0]
            m = b.member
            return await m.provider.complete(c.messages, model=m.model, tools=c.tools, **params, **b.params)
        return await complete_chain(self.bound, c.messages, names=[b.name for b in self.bound], tools=c.tools, **params)

    def stream(self, **params: Any) -> ResponseStream:
        """The answer as a stream."""
        c = self.call
        if len(self.bound) == 1:
            return self.bound[0].stream(c.messages, tools=c.tools, **params)
        return stream_chain(self.bound, c.messages, names=[b.name for b in self.bound], tools=c.tools, **params)


def plan(call: Call, target: Target, budgets: tuple[Any, ...] = ()) -> Planned:
    """Bind ``call`` to every member of ``target``; a field some member cannot take is a 400 now,
    before anything is sent (a chain would otherwise fail over into a different answer shape).
    ``budgets``: the caller's (``gateway.keys[].budget``), counted with the agent's, if any,
    against whichever member answers — through the provider's own admission step."""
    both = (*target.budget, *budgets)
    extra = {"budget": both} if both else {}
    return Planned(call, [_Bound(m.name, m, {**_member_params(call, m), **extra}) for m in target.members])
