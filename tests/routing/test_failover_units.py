"""The failover loop's rules one by one (``llmswitch.routing.failover``), with in-process members:
a chain member is any object with ``name``, ``complete`` and ``stream`` (a provider, usually), so
these members answer or fail as scripted and record what they were asked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmswitch import _observe
from llmswitch import errors as E
from llmswitch._streaming import ResponseStream
from llmswitch.routing.failover import complete_chain, estimate_tokens, stream_chain
from llmswitch.types import Message, Response, StreamEvent, TextDelta


class Member:
    """Answers ``text`` (or raises ``error`` before anything is streamed); ``window``: its context window."""

    def __init__(self, name: str, *, text: str = "ok", error: BaseException | None = None, window: int | None = None,
                 empty: bool = False) -> None:
        self.name = name
        self.text = text
        self.error = error
        self.window = window
        self.empty = empty
        self.calls: list[dict[str, Any]] = []
        self.closed_with: list[BaseException | None] = []
        self.hops: list[Any] = []
        """What the telemetry is told about this member's place in the chain, as it runs."""

    def context_window(self) -> int | None:
        return self.window

    async def complete(self, messages: Any, **params: Any) -> Response:
        self.calls.append(params)
        self.hops.append(_observe.failover_hop.get())
        if self.error is not None:
            raise self.error
        return Response(text=self.text, provider=self.name)

    def stream(self, messages: Any, **params: Any) -> ResponseStream:
        self.calls.append(params)
        member = self

        async def source() -> AsyncIterator[StreamEvent | Response]:
            member.hops.append(_observe.failover_hop.get())
            if member.error is not None:
                raise member.error
            if not member.empty:
                yield TextDelta(member.text)
            yield Response(text=member.text, provider=member.name)

        def on_done(final: Response | None, error: BaseException | None) -> None:
            member.closed_with.append(error)

        return ResponseStream(source(), on_done)


def down(name: str) -> Member:
    return Member(name, error=E.ProviderUnavailableError("503", provider=name))


async def read(stream: ResponseStream) -> tuple[str, Response]:
    text = "".join([str(e) async for e in stream])
    return text, await stream.final()


# --- the estimate -------------------------------------------------------------------------------


def test_estimate_of_a_string_is_its_characters_over_four() -> None:
    assert estimate_tokens("x" * 41) == 10
    assert isinstance(estimate_tokens("x" * 41), int)


def test_estimate_of_one_message_or_a_list() -> None:
    one = Message.user("x" * 40)
    assert estimate_tokens(one) == estimate_tokens([one]) == 10 + 4  # characters / 4, plus 4 per message


# --- which member answers, and what a failed chain raises -----------------------------------------


async def test_names_given_name_the_attempts() -> None:
    with pytest.raises(E.AllProvidersFailedError) as info:
        await complete_chain([down("a"), down("b")], "hi", names=["first", "second"])
    assert [n for n, _ in info.value.attempts] == ["first", "second"]


async def test_a_chain_of_one_raises_its_members_own_error() -> None:
    only = down("only")
    with pytest.raises(E.ProviderUnavailableError):
        await complete_chain([only], "hi")
    with pytest.raises(E.ProviderUnavailableError):
        await read(stream_chain([down("only")], "hi"))


async def test_a_chain_of_one_whose_member_is_skipped_raises_the_skip() -> None:
    with pytest.raises(E.ContextWindowExceededError, match="skipped"):
        await complete_chain([Member("tiny", window=1)], "x" * 400)


async def test_a_chain_of_two_raises_all_providers_failed_with_both_in_order() -> None:
    a, b = down("a"), Member("b", window=1)
    with pytest.raises(E.AllProvidersFailedError) as info:
        await complete_chain([a, b], "x" * 400)
    assert [(n, type(e)) for n, e in info.value.attempts] == [("a", E.ProviderUnavailableError),
                                                              ("b", E.ContextWindowExceededError)]


async def test_each_failover_is_logged_once_with_the_member_error_and_what_is_left(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmswitch.failover"):
        resp = await complete_chain([down("a"), down("b"), Member("c")], "hi")
    assert resp.provider == "c"
    assert [r.getMessage() for r in caplog.records if r.name == "llmswitch.failover"] == [
        "a failed (ProviderUnavailableError); failing over to the next of 2 member(s)",
        "b failed (ProviderUnavailableError); failing over to the next of 1 member(s)",
    ]


async def test_the_last_member_failing_is_not_logged_as_a_failover(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmswitch.failover"), pytest.raises(E.AllProvidersFailedError):
        await complete_chain([down("a"), down("b")], "hi")
    assert len([r for r in caplog.records if r.name == "llmswitch.failover"]) == 1


# --- streams ------------------------------------------------------------------------------------


async def test_a_stream_fails_over_and_closes_the_failed_stream_with_its_error() -> None:
    a, b = down("a"), Member("b", text="from b")
    text, final = await read(stream_chain([a, b], "hi", timeout_note="x"))
    assert text == "from b" and final.provider == "b"
    assert len(a.closed_with) == 1 and isinstance(a.closed_with[0], E.ProviderUnavailableError)
    assert a.calls == [{"timeout_note": "x"}] and b.calls == [{"timeout_note": "x"}]  # params reach every member


async def test_a_stream_chain_skips_small_windows_and_tries_the_rest() -> None:
    tiny, big = Member("tiny", window=1), Member("big", text="big")
    text, final = await read(stream_chain([tiny, big], "x" * 400))
    assert (text, final.provider) == ("big", "big") and tiny.calls == []


async def test_a_stream_chain_lists_every_attempt_under_the_names_given() -> None:
    with pytest.raises(E.AllProvidersFailedError) as info:
        await read(stream_chain([down("a"), down("b")], "hi", names=["x", "y"]))
    assert [n for n, _ in info.value.attempts] == ["x", "y"]


async def test_a_stream_does_not_fail_over_on_a_content_filter_unless_asked() -> None:
    filtered = Member("f", error=E.ContentFilterError("no", provider="f"))
    with pytest.raises(E.ContentFilterError):
        await read(stream_chain([filtered, Member("b")], "hi"))
    text, _ = await read(stream_chain([Member("f", error=E.ContentFilterError("no")), Member("b", text="b")], "hi",
                                      on_content_filter=True))
    assert text == "b"


async def test_an_answer_without_events_ends_the_chain_without_failing_over() -> None:
    empty, b = Member("empty", text="", empty=True), Member("b")
    stream = stream_chain([empty, b], "hi")
    assert [e async for e in stream] == []  # no event, not even an empty one
    assert (await stream.final()).provider == "empty" and b.calls == []


async def test_a_stream_chains_deadline_bounds_each_member() -> None:
    a, b = down("a"), Member("b")
    deadline = time.monotonic() + 5
    await read(stream_chain([a, b], "hi", deadline=deadline))
    assert 0 < b.calls[0]["timeout"] <= 5


async def test_a_stream_chain_whose_deadline_passed_tries_nobody() -> None:
    a = Member("a")
    with pytest.raises(E.ProviderTimeoutError, match="deadline had passed"):
        await read(stream_chain([a], "hi", deadline=time.monotonic() - 1))
    assert a.calls == []


def test_the_chain_runs_from_plain_asyncio() -> None:
    assert asyncio.run(complete_chain([down("a"), Member("b")], "hi")).provider == "b"


async def test_each_member_after_the_first_runs_knowing_its_hop() -> None:
    """The telemetry's failover hop (``llmswitch.calls`` records, spans): the member's place and
    the member that failed before it, with its error — for calls and streams alike."""
    a, b = down("a"), Member("b")
    await complete_chain([a, b], "hi")
    assert a.hops == [None] and b.hops == [(1, "a", "ProviderUnavailableError")]
    c, d = down("c"), Member("d")
    await read(stream_chain([c, d], "hi"))
    assert c.hops == [None] and d.hops == [(1, "c", "ProviderUnavailableError")]
    assert _observe.failover_hop.get() is None  # reset after each member
