"""The HTTP face: routes, the request flow shared by both formats, health and metrics.

One request: authenticate the caller (before the body is read) → read the body (bounded) →
parse it in the caller's format → check the caller may use the model → resolve the model to
its backends → bind the call to them (fields a backend cannot take are a 400 now) → take a
concurrency slot → call through the registry's path (retries, breaker, failover) under the
caller's name (usage log) → answer in the caller's format. Every failure on the way is
rendered by the format's one error function.

A stream's HTTP status is sent only once its first event arrived: until then an error (a 429,
an open breaker, a failover that found nothing) is still a proper error status the SDK turns
into its exception class; after it, the error travels in the stream as the format does it.
With ``handler_cancellation`` on, a caller that disconnects cancels its handler at once, and the
upstream request is closed by the stream's ``aclose`` on the way out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from .. import _json as jsonio
from .. import errors as E
from ..config import LLMSwitchConfig
from ..registry import ProviderRegistry
from ..types import Response
from ..usage.log import current_caller
from . import anthropic_format, openai_format
from .auth import Caller, KeyRing
from .call import Call, Planned, plan
from .coalesce import Coalescer
from .deadline import Deadlines
from .errors import GatewayError, anthropic_body, anthropic_error, failure_of, openai_body, openai_error
from .ingress import IngressServer, JSONAnswer, Request, Stream
from .limits import CallerLimits, RoutingLimits
from .loop import loop_name
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .targets import Targets

__all__ = ["Gateway"]


@dataclass(frozen=True, slots=True)
class _Format:
    """What differs between the two ingress formats."""

    route: str
    parse: Callable[[Any], Call]
    body: Callable[[Response, str], dict[str, Any]]
    error: Callable[[BaseException], web.Response]
    stream_error: Callable[[BaseException], bytes]
    writer: Callable[[Call, Any], Any]


def _openai_stream_error(exc: BaseException) -> bytes:
    return b"data: " + json.dumps(openai_body(failure_of(exc))).encode() + b"\n\n"


def _anthropic_stream_error(exc: BaseException) -> bytes:
    return b"event: error\ndata: " + json.dumps(anthropic_body(failure_of(exc))).encode() + b"\n\n"


OPENAI = _Format("chat", openai_format.parse_request, openai_format.response_body, openai_error, _openai_stream_error,
                 lambda call, body: openai_format.ChunkWriter(call.model, openai_format.wants_usage(body)))
ANTHROPIC = _Format("messages", anthropic_format.parse_request, anthropic_format.response_body, anthropic_error,
                    _anthropic_stream_error, lambda call, body: anthropic_format.EventWriter(call.model))

Incoming = web.BaseRequest | Request
"""A request from either server: aiohttp's (``server()``, ``app()``) or the gateway's own (``ingress()``)."""
Reply = web.StreamResponse | Stream | JSONAnswer
Handler = Callable[[Incoming], Awaitable[Reply]]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_SSE_HEAD = b"".join(f"{k}: {v}\r\n".encode() for k, v in _SSE_HEADERS.items())


async def _open_stream(request: Incoming) -> web.StreamResponse | Stream:
    """A 200 event-stream answer on whichever server the request came from."""
    if isinstance(request, Request):
        return request.open_stream(_SSE_HEAD)
    resp = web.StreamResponse(headers=_SSE_HEADERS)
    await resp.prepare(request)
    return resp


async def _end(resp: web.StreamResponse | Stream) -> None:
    """The chunked body's terminator, after the stream's last event was written. A caller that read
    that event (``[DONE]``, ``message_stop``) may hang up before the terminator reaches it — the SDKs
    do, and on uvloop the close is seen in time to refuse the write: it has the whole answer, so
    that is a finished stream, not an error (it was logged as a failed request and counted a 500)."""
    try:
        await resp.write_eof()
    except ConnectionResetError:
        pass


class Gateway:
    """One gateway over one registry: ``ingress()`` for ``llmswitch serve``, ``server()`` for the same on
    aiohttp's server (``LLMSWITCH_HTTP=aiohttp``), ``app()`` to mount it in an aiohttp application."""

    def __init__(self, config: LLMSwitchConfig, registry: ProviderRegistry | None = None, *,
                 limits: CallerLimits | None = None) -> None:
        self.config = config
        self.settings = config.gateway
        self.registry = registry if registry is not None else ProviderRegistry.from_config(config)
        self.keys = KeyRing(self.settings.keys)
        self.targets = Targets(self.registry, self.settings.models)
        self.metrics = Metrics()
        self.limits: CallerLimits = limits if limits is not None else RoutingLimits.for_keys(
            self.settings.keys, self.registry.state, self.settings.request_timeout)
        self.draining = False
        """Set on SIGTERM: new requests get a 503 while running ones finish."""
        self._deadlines = Deadlines(self.settings.request_timeout)

    def _routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/v1/messages"): self.messages,
            ("POST", "/v1/messages/count_tokens"): self.count_tokens,
            ("GET", "/v1/models"): self.models,
            ("GET", "/health/live"): self.live,
            ("GET", "/health/ready"): self.ready,
            ("GET", "/metrics"): self.metrics_handler,
        }

    def ingress(self) -> IngressServer:
        """The gateway's own HTTP/1.1 server (``ingress.py``), which ``llmswitch serve`` runs: the
        routes, the body and header bounds, a body that stops arriving bounded by ``request_timeout``.
        Close the registry with ``aclose()`` after its ``shutdown``."""
        s = self.settings
        return IngressServer(self._routes(), max_body=s.max_body_bytes, max_header=s.max_header_bytes,
                             body_timeout=s.request_timeout)

    def server(self, **kwargs: Any) -> web.Server:
        """The low-level ``aiohttp.web.Server`` that ``llmswitch serve`` runs under ``LLMSWITCH_HTTP=aiohttp``
        (``kwargs`` go to each connection's handler: header bounds, access log). Why not an ``Application``: seven fixed routes
        need one dictionary lookup, not a router and a middleware chain per request (this, the deadline
        ticker and the caller set without a context manager together took 6% of the gateway's
        instructions per call). Close the registry with ``aclose()`` after the server."""
        routes = self._routes()
        paths = {path for _, path in routes}
        max_size = self.settings.max_body_bytes
        loop = asyncio.get_running_loop()

        def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=max_size)

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            handler = routes.get((request.method, request.path))
            if handler is not None:
                return cast(web.StreamResponse, await handler(request))  # on this server, always aiohttp's
            if request.path in paths:
                allowed = sorted(m for m, p in routes if p == request.path)
                raise web.HTTPMethodNotAllowed(request.method, allowed)
            raise web.HTTPNotFound()

        return web.Server(handle, request_factory=request_factory, handler_cancellation=True, **kwargs)

    def app(self) -> web.Application:
        """The same endpoints as an ``aiohttp.web.Application``, to mount in an application of one's
        own (bodies bounded by ``gateway.max_body_bytes``; the registry is closed on its cleanup)."""
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        for (method, path), handler in self._routes().items():
            app.router.add_route(method, path, cast(Callable[[web.Request], Awaitable[web.StreamResponse]], handler))
        app.on_cleanup.append(self._close)
        return app

    async def aclose(self) -> None:
        """Close the registry (its pooled connections); after the server stopped."""
        await self.registry.aclose()

    async def _close(self, app: web.Application) -> None:
        await self.aclose()

    # --- the shared request flow -------------------------------------------------------------
    async def chat_completions(self, request: Incoming) -> Reply:
        """``POST /v1/chat/completions`` (OpenAI format)."""
        return await self._serve(request, OPENAI)

    async def messages(self, request: Incoming) -> Reply:
        """``POST /v1/messages`` (Anthropic format)."""
        return await self._serve(request, ANTHROPIC)

    async def _body(self, request: Incoming) -> Any:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise GatewayError(413, f"request body larger than {self.settings.max_body_bytes} bytes",
                               kind="too_large") from None
        except web.HTTPRequestTimeout as exc:  # the gateway's own server only (ingress.py)
            raise GatewayError(408, exc.text or "the request body stopped arriving", kind="timeout") from None
        try:
            return jsonio.loads(raw)
        except ValueError:
            raise GatewayError(400, "the request body is not valid JSON") from None

    def _admit(self, request: Incoming) -> Caller:
        if self.draining:
            raise GatewayError(503, "the gateway is shutting down", kind="overloaded", retry_after=1.0)
        length = request.content_length
        if length is not None and length > self.settings.max_body_bytes:
            raise GatewayError(413, f"request body larger than {self.settings.max_body_bytes} bytes", kind="too_large")
        return self.keys.caller(request.headers)

    async def _serve(self, request: Incoming, fmt: _Format) -> Reply:
        started = time.perf_counter()
        caller: Caller | None = None
        model = ""
        status = 500
        error: BaseException | None = None
        final: Response | None = None
        entered = False
        self.metrics.in_flight += 1
        try:
            try:
                caller = self._admit(request)
                body = await self._body(request)
                call = fmt.parse(body)
                if not caller.may_use(call.model):
                    raise GatewayError(403, f"this key may not use model {call.model!r}", kind="permission", param="model")
                planned = plan(call, self.targets.get(call.model), self.limits.budgets_for(caller))
                model = call.model
                caller.enter()
                entered = True
                await self.limits.admit(caller, call)
            except (GatewayError, E.LLMSwitchError) as exc:
                error = exc
                resp = fmt.error(exc)
                status = resp.status
                return resp
            # the usage log's caller for this request: set, not reset (each request runs in a task
            # of its own, with its own copy of the context; no contextmanager on the hot path)
            current_caller.set(caller.name)
            if call.stream:
                sresp, final, error = await self._stream(request, fmt, planned, body, started)
                status = sresp.status
                return sresp
            try:
                final = await self._complete(planned)
            except Exception as exc:
                error = exc
                resp = fmt.error(exc)
                status = resp.status
                return resp
            status = 200
            answer = jsonio.dumps(fmt.body(final, call.model))
            if type(request) is Request:
                return JSONAnswer(answer)
            return web.Response(body=answer, content_type="application/json")
        except asyncio.CancelledError:
            status = 499  # the caller went away (nginx's code for it)
            raise
        finally:
            if entered and caller is not None:
                caller.leave()
                self.limits.settle(caller, final, error)
            self.metrics.in_flight -= 1
            self.metrics.done(fmt.route, model, caller.name if caller else "", status, time.perf_counter() - started,
                              error, final)

    async def _complete(self, planned: Planned) -> Response:
        """The whole answer within ``request_timeout`` (``deadline.py``: one ticker for all requests
        rather than a deadline passed down, which takes the provider's slower path); past it, a 504."""
        d = self._deadlines.enter()
        try:
            return await planned.complete()
        except asyncio.CancelledError:
            if not d.expired():
                raise
            raise GatewayError(504, f"no answer within the gateway's request_timeout of {self.settings.request_timeout:g}s",
                               kind="timeout") from None
        finally:
            self._deadlines.leave(d)

    async def _stream(self, request: Incoming, fmt: _Format, planned: Planned, body: Any,
                      started: float) -> tuple[Reply, Response | None, BaseException | None]:
        stream = planned.stream(timeout=self.settings.request_timeout)
        events = stream.__aiter__()
        try:
            try:
                first = await events.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as exc:
                return fmt.error(exc), None, exc
            self.metrics.ttft(fmt.route, time.perf_counter() - started)
            writer = fmt.writer(planned.call, body)
            resp = await _open_stream(request)
            head = writer.first()
            if first is not None:
                chunk = writer.event(first)
                if chunk:
                    head += chunk
            await resp.write(head)  # the first event at once: a burst behind it must not delay it
            out = Coalescer(resp.write)
            try:
                try:
                    if first is not None:
                        async for ev in events:
                            chunk = writer.event(ev)
                            if chunk and out.push(chunk):
                                await out.flush()
                    final = await stream.final()
                except Exception as exc:  # after the status went out: the error travels in the stream
                    await out.add(fmt.stream_error(exc))
                    await out.flush()
                    await _end(resp)
                    return resp, None, exc
                await out.add(writer.last(final))
                await out.flush()
            finally:
                out.cancel()
            await _end(resp)
            return resp, final, None
        finally:
            await stream.aclose()

    # --- the other endpoints -----------------------------------------------------------------
    async def count_tokens(self, request: Incoming) -> Reply:
        """``POST /v1/messages/count_tokens``: asked of the backend when it speaks the Messages API
        (Anthropic, llama-server), since only the backend's own tokenizer gives the true count."""
        try:
            caller = self._admit(request)
            body = await self._body(request)
            if not isinstance(body, dict):
                raise GatewayError(400, "the request body must be a JSON object")
            model = body.get("model")
            if not isinstance(model, str) or not caller.may_use(model):
                raise GatewayError(403, f"this key may not use model {model!r}", kind="permission", param="model")
            member = self.targets.get(model).members[0]
            provider = member.provider
            if provider.wire_format != "anthropic":
                raise GatewayError(400, f"{member.name} ({provider.wire_format} wire format) cannot count tokens; "
                                   "count_tokens is served for Anthropic-format backends", param="model")
            upstream = {**body, "model": member.model or provider.default_model or model}
            data = await provider.transport.post_json("/v1/messages/count_tokens", upstream, model=upstream["model"])
            if not isinstance(data, dict) or not isinstance(data.get("input_tokens"), int):
                raise GatewayError(502, "the backend's count_tokens answer has no input_tokens", kind="upstream")
            return web.json_response({"input_tokens": data["input_tokens"]})
        except Exception as exc:
            return anthropic_error(exc)

    async def models(self, request: Incoming) -> Reply:
        """``GET /v1/models``: the names this caller may use, in OpenAI's list format (Anthropic's
        when the request carries ``anthropic-version``, as the Anthropic SDK's does)."""
        anthropic = "anthropic-version" in request.headers
        try:
            caller = self._admit(request)
        except GatewayError as exc:
            return anthropic_error(exc) if anthropic else openai_error(exc)
        names = [n for n in self.targets.public_names() if caller.may_use(n)]
        if anthropic:
            data = [{"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"} for n in names]
            return web.json_response({"data": data, "has_more": False, "first_id": names[0] if names else None,
                                      "last_id": names[-1] if names else None})
        return web.json_response({"object": "list", "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": "llmswitch"} for n in names]})

    async def live(self, request: Incoming) -> Reply:
        """``GET /health/live``: the process answers (and says which event loop it runs on)."""
        return web.json_response({"status": "ok", "loop": loop_name(asyncio.get_running_loop())})

    async def ready(self, request: Incoming) -> Reply:
        """``GET /health/ready``: 200 when at least one provider is healthy (and the shared state
        backend answers, when one is configured); 503 otherwise, or while draining."""
        checks = await self.registry.check_health(timeout=5.0)
        providers = {n: {"healthy": s.healthy, "error": s.error} for n, s in checks.items()}
        state = await self._state_ok()
        ok = not self.draining and (not providers or any(p["healthy"] for p in providers.values())) and state is not False
        body = {"status": "ok" if ok else "unavailable", "providers": providers, "draining": self.draining,
                "state": {"backend": self.config.state.backend, "ok": state}}
        return web.json_response(body, status=200 if ok else 503)

    async def _state_ok(self) -> bool | None:
        """Whether the Redis state backend answers a PING (None: memory state, nothing to check)."""
        st = self.config.state
        if st.backend != "redis" or not st.url:
            return None
        try:
            import redis.asyncio as aioredis
        except ImportError:
            return False
        client = aioredis.from_url(st.url)
        try:
            return bool(await asyncio.wait_for(client.ping(), 2.0))
        except Exception:
            return False
        finally:
            await client.aclose()

    async def metrics_handler(self, request: Incoming) -> Reply:
        """``GET /metrics``: Prometheus text format."""
        body = self.metrics.render(self.registry.items())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

