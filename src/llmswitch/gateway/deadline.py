"""The gateway's ``request_timeout`` for whole answers: one ticker per gateway, not a timer per request.

Why: ``asyncio.timeout`` schedules and cancels a timer handle for every request; measured here
that was 2–3% of the gateway's CPU per call (py-spy), to enforce a bound (600 s by default) that almost
no call comes near. A ``Deadlines`` keeps the running requests in a set and looks at them once per
tick — a tenth of the timeout, at most a second — while any is running: a request pays two set
operations, and one past its deadline is cancelled at most a tick late (a 0.5 s timeout fires
within 0.55 s; the default 600 s one within 601 s). The handler turns that cancellation into a 504
(``Deadline.expired``), as ``asyncio.timeout`` did, using ``Task.uncancel`` so a caller's own
disconnect arriving at the same moment still cancels the handler.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadline", "Deadlines"]


class Deadline:
    """One request's bound: the task to cancel and when."""

    __slots__ = ("task", "when", "fired")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.fired = False

    def expired(self) -> bool:
        """After a ``CancelledError``: True when this deadline caused it (and nothing else asked to
        cancel the task), so the handler answers 504 instead of going away."""
        return self.fired and self.task.uncancel() == 0


class Deadlines:
    """The running requests' deadlines of one gateway (on one event loop)."""

    __slots__ = ("seconds", "tick", "_running", "_handle")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 10)
        self._running: set[Deadline] = set()
        self._handle: asyncio.TimerHandle | None = None

    def enter(self) -> Deadline:
        """Bound the current task to ``seconds`` from now; ``leave`` it when the request is done."""
        task = asyncio.current_task()
        assert task is not None, "Deadlines.enter() outside a task"
        loop = task.get_loop()
        d = Deadline(task, loop.time() + self.seconds)
        self._running.add(d)
        if self._handle is None:
            self._handle = loop.call_at(loop.time() + self.tick, self._check, loop)
        return d

    def leave(self, d: Deadline) -> None:
        """The request is over (answered, failed or cancelled)."""
        self._running.discard(d)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        late = [d for d in self._running if d.when <= now]
        for d in late:
            self._running.discard(d)
            d.fired = True
            d.task.cancel()
        self._handle = loop.call_at(now + self.tick, self._check, loop) if self._running else None
