"""``gateway.deadline``: one ticker bounds every running request; a late one is cancelled within a
tick and told apart from a caller's own cancellation (which must still go through)."""

from __future__ import annotations

import asyncio

import pytest

from llmswitch.gateway.deadline import Deadlines


async def _bounded(deadlines: Deadlines, seconds: float) -> str:
    d = deadlines.enter()
    try:
        await asyncio.sleep(seconds)
        return "answered"
    except asyncio.CancelledError:
        if d.expired():
            return "504"
        raise
    finally:
        deadlines.leave(d)


async def test_a_late_request_is_cut_within_a_tick_and_a_quick_one_is_not() -> None:
    deadlines = Deadlines(0.2)
    assert deadlines.tick == pytest.approx(0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()
    quick, late = await asyncio.gather(_bounded(deadlines, 0.05), _bounded(deadlines, 5))
    took = loop.time() - started
    assert (quick, late) == ("answered", "504")
    assert 0.2 <= took < 0.2 + 0.02 + 0.15  # a tick late at most, plus scheduling slack on a busy machine
    await asyncio.sleep(0.05)
    assert deadlines._handle is None  # nothing running: the ticker stopped


async def test_a_callers_cancel_at_the_deadline_still_cancels() -> None:
    deadlines = Deadlines(10)
    entries = []

    async def handler() -> str:
        d = deadlines.enter()
        entries.append(d)
        try:
            await asyncio.sleep(5)
            return "answered"
        except asyncio.CancelledError:
            if d.expired():
                return "504"
            raise
        finally:
            deadlines.leave(d)

    task = asyncio.create_task(handler())
    await asyncio.sleep(0)
    entries[0].when = 0.0  # past due: the next check fires it
    task.cancel()  # the caller went away in the same moment ...
    deadlines._check(asyncio.get_running_loop())  # ... as the deadline fired
    assert entries[0].fired
    with pytest.raises(asyncio.CancelledError):  # the caller's cancel wins: no 504 to nobody
        await task


async def test_the_tick_is_a_tenth_of_the_timeout_and_at_most_a_second() -> None:
    assert Deadlines(600).tick == 1.0
    assert Deadlines(0.5).tick == pytest.approx(0.05)
