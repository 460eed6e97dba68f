"""``llmswitch chat``: stream an answer to the terminal.

Bounded by default (``--max-tokens 256``, ``--timeout 120``): a small local model can otherwise
ramble until its context is full, and the first command a new user runs must come back. Both
bounds are options; 0 lifts either.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Any

import typer

from ..errors import ProviderTimeoutError
from ..types import Response
from ._common import RedactingWriter, console, err_console, fail, markup, run, scrubbed

DEFAULT_MAX_TOKENS = 256
"""Generated tokens ``chat`` asks for unless told: a few paragraphs, seconds on a small local model."""
DEFAULT_TIMEOUT = 120.0
"""Seconds for the whole answer (first byte to last) unless told; the stream stops there."""


def _response_json(resp: Response) -> str:
    """The final Response as JSON, without ``raw`` (the server's body, printed nowhere) and with
    every string redacted: a server can echo a key in any field of a 200 answer."""
    d = dataclasses.asdict(resp)
    d.pop("raw", None)
    return json.dumps(scrubbed(d), indent=2, default=str)


class _Debug:
    """``--debug``: the facts the ``llmswitch.calls`` log records carry, for a person (stderr):
    each retry as it happens, then provider, model, time to first token, total time, tokens,
    cost and retries. Reads the call through the call hooks, like any subscriber."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __enter__(self) -> _Debug:
        from .. import hooks

        hooks.add_hook("on_request", self.on_request)
        hooks.add_hook("on_retry", self.on_retry)
        return self

    def __exit__(self, *exc: Any) -> None:
        from .. import hooks

        hooks.remove_hook("on_request", self.on_request)
        hooks.remove_hook("on_retry", self.on_retry)

    def on_request(self, call: Any) -> None:
        self.calls.append(call)
        where = f"{markup(call.provider.name, 200)}:{markup(call.model, 200)}"
        hop = ""
        if call.failover_from is not None:
            member, etype = call.failover_from
            hop = f" (failover member {call.hop + 1}, after {markup(member, 200)} failed: {etype})"
        err_console.print(f"[dim]debug: request to {where} at {markup(call.provider.base_url, 300)}{hop}[/]", highlight=False)

    def on_retry(self, call: Any, error: BaseException, wait: float) -> None:
        err_console.print(
            f"[dim]debug: retry {call.retries} after {type(error).__name__}, waiting {wait:.2f} s[/]", highlight=False
        )

    def report(self) -> None:
        from .._observe import record_fields

        for call in self.calls:
            if call.seconds is None:
                continue
            f = record_fields(call)
            parts = [f"{markup(f['provider'], 200)}:{markup(f['model'], 200)}", str(f["status"])]
            if f["ttft_ms"] is not None:
                parts.append(f"TTFT {f['ttft_ms']:.1f} ms")
            parts.append(f"total {f['duration_ms']:.1f} ms")
            if f["status"] == "ok":
                known = f["input_tokens"] is not None
                parts.append(f"{f['input_tokens']} in / {f['output_tokens']} out tokens" if known else "tokens not reported")
                parts.append("cost unknown" if f["cost"] is None else f"cost ${f['cost']:.6f}")
                if f["finish_reason"]:
                    parts.append(f"finish {markup(f['finish_reason'], 50)}")
            else:
                parts.append(f"{f['error_type']}")
            parts.append(f"{f['retries']} retries")
            err_console.print("[dim]debug: " + " · ".join(parts) + "[/]", highlight=False)


async def _chat(
    ref: str, prompt: str, system: str | None, max_tokens: int | None, as_json: bool, timeout: float | None = None,
    debug: bool = False,
) -> None:
    if debug:
        with _Debug() as d:
            try:
                await _chat(ref, prompt, system, max_tokens, as_json, timeout)
            finally:
                d.report()
        return
    from .. import api
    from ..types import Message, TextDelta

    messages = ([Message.system(system)] if system else []) + [Message.user(prompt)]
    params: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    if timeout:
        params["timeout"] = timeout
    out = RedactingWriter(sys.stdout)
    streamed = False
    started = time.monotonic()
    try:
        async with api.astream(ref, messages, **params) as stream:
            async for ev in stream:
                if not as_json and type(ev) is TextDelta:
                    out.write(ev.text)
                    streamed = streamed or bool(ev.text)
            final = await stream.final()
    except BaseException as exc:
        out.close()
        if streamed:
            sys.stdout.write("\n")  # the error line (stderr) starts on a line of its own
            sys.stdout.flush()
        if timeout and isinstance(exc, ProviderTimeoutError) and time.monotonic() - started >= timeout:
            # our own bound, not a server fault: say which option moves it
            err_console.print(
                f"[yellow]stopped at the {timeout:g} s limit (--timeout); the answer above is cut short. "
                "Raise --timeout, or lower --max-tokens for a shorter answer.[/]",
                highlight=False,
            )
            raise SystemExit(1) from None
        raise
    finally:
        out.close()  # what was streamed before an error is still shown, redacted
    if as_json:
        print(_response_json(final))
    else:
        sys.stdout.write("\n")
        u = final.usage
        cost = "unknown" if u.cost is None else f"${u.cost:.6f}"
        tokens = f"{u.input_tokens} in / {u.output_tokens} out" if u.known else "usage not reported"
        console.print(
            f"[dim]{markup(final.provider, 200)} · {markup(final.model, 200)} · {tokens} · {cost} · {final.latency:.2f}s[/]",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``chat`` to the top-level app (each command module registers its own)."""
    @app.command()
    def chat(
        prompt: str = typer.Argument(..., help="What to ask."),
        provider: str = typer.Option("auto", "--provider", "-p", help="'provider:model', a provider name, or 'auto'."),
        model: str | None = typer.Option(None, "--model", "-m", help="Model, if not given in --provider."),
        system: str | None = typer.Option(None, "--system", "-s", help="System prompt."),
        max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", help="Cap on generated tokens (0: no cap)."),
        timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", help="Seconds for the whole answer (0: no deadline)."),
        as_json: bool = typer.Option(False, "--json", help="Print the final Response as JSON instead of streaming."),
        debug: bool = typer.Option(
            False, "--debug", help="Show timings (TTFT, total), tokens, cost and retries on stderr."
        ),
    ) -> None:
        """Stream an answer from a provider (default: the first one that is running)."""
        ref = provider if (model is None or ":" in provider) else f"{provider}:{model}"
        if model and ":" in provider:
            fail(ValueError("give the model either in --provider 'p:model' or with --model, not both"))
        if max_tokens < 0 or timeout < 0:
            fail(ValueError("--max-tokens and --timeout take 0 (no bound) or a positive number"))
        run(_chat(ref, prompt, system, max_tokens or None, as_json, timeout or None, debug))
