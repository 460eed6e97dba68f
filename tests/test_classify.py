"""classify: an HTTP status and an error body → the error class, its fields and its Retry-After.

Pure functions, so these call them directly with the bodies and headers the servers document
(OpenAI/llama.cpp/OpenRouter ``{"error": {...}}``, Anthropic ``{"type": "error", "error": {...}}``,
Ollama/LM Studio ``{"error": "..."}``, vLLM ``{"object": "error", ...}``; rate-limit headers as in
../shared/reference/wire-protocols.md). Every assertion is exact: the class (not a base class),
the message, the code, the numbers.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from llmswitch import errors as E
from llmswitch._classify import MAX_RETRY_AFTER, error_from_response, extract_error, parse_retry_after

# --- Retry-After ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"retry-after-ms": "0"}, 0.0),
        # retry-after-ms wins over retry-after and the reset headers
        ({"retry-after-ms": "1500", "retry-after": "7", "x-ratelimit-reset-requests": "9s"}, 1.5),
        # an unusable retry-after-ms falls through to retry-after
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "inf", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "", "retry-after": "7"}, 7.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "86400"}, 86400.0),
        ({"retry-after": "86401"}, None),
        # an unusable retry-after falls through to the reset headers
        ({"retry-after": "whenever", "x-ratelimit-reset-requests": "2s"}, 2.0),
        ({"retry-after": "1e999", "x-ratelimit-reset-tokens": "3s"}, 3.0),
        ({"retry-after": "", "x-ratelimit-reset-tokens": "3s"}, 3.0),
        # OpenAI's Go durations: the longer of the two resets
        ({"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "6ms"}, 90.0),
        ({"x-ratelimit-reset-requests": "6ms", "x-ratelimit-reset-tokens": "1m30s"}, 90.0),
        ({"x-ratelimit-reset-requests": "1h"}, 3600.0),
        ({"x-ratelimit-reset-tokens": "250ms"}, 0.25),
        ({"x-ratelimit-reset-tokens": "1.5s"}, 1.5),
        ({"x-ratelimit-reset-tokens": "2h1m1s"}, 7261.0),
        ({"x-ratelimit-reset-requests": "never", "x-ratelimit-reset-tokens": "4s"}, 4.0),
        ({"x-ratelimit-reset-requests": "never"}, None),
        ({"x-ratelimit-reset-requests": "25h"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def test_go_duration_reads_at_most_eight_parts() -> None:
    # nine 1s parts: a pathological header is read only so far
    assert parse_retry_after({"x-ratelimit-reset-tokens": "1s" * 9}) == 8.0


def _http_date(seconds_from_now: float, *, gmt: bool = True) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    if gmt:
        return format_datetime(when, usegmt=True)
    # "-0000" means "UTC, source zone unknown": email.utils parses it to a naive datetime
    return when.strftime("%a, %d %b %Y %H:%M:%S -0000")


@pytest.mark.parametrize("gmt", [True, False])
def test_retry_after_http_date(gmt: bool) -> None:
    got = parse_retry_after({"retry-after": _http_date(120, gmt=gmt)})
    assert got is not None and 115 < got <= 120


def test_retry_after_http_date_in_the_past_is_zero_and_beyond_a_day_is_none() -> None:
    assert parse_retry_after({"retry-after": _http_date(-600)}) == 0.0
    assert parse_retry_after({"retry-after": _http_date(2 * 86400), "x-ratelimit-reset-tokens": "5s"}) == 5.0
    assert MAX_RETRY_AFTER == 86400.0


def _iso(seconds_from_now: float, *, z: bool = True, naive: bool = False) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    if naive:
        return when.replace(tzinfo=None).isoformat()
    text = when.isoformat()
    return text.replace("+00:00", "Z") if z else text


def _near(got: float | None, expected: float) -> bool:
    return got is not None and expected - 5 < got <= expected


@pytest.mark.parametrize("limit", ["requests", "tokens", "input-tokens", "output-tokens"])
def test_anthropic_reset_of_the_spent_limit(limit: str) -> None:
    headers = {f"anthropic-ratelimit-{n}-reset": _iso(600) for n in ("requests", "tokens", "input-tokens", "output-tokens")}
    headers.update({f"anthropic-ratelimit-{n}-remaining": "10" for n in ("requests", "tokens", "input-tokens", "output-tokens")})
    headers[f"anthropic-ratelimit-{limit}-remaining"] = " 0 "
    headers[f"anthropic-ratelimit-{limit}-reset"] = _iso(30)
    assert _near(parse_retry_after(headers), 30)


def test_anthropic_reset_when_none_says_spent_is_the_latest() -> None:
    headers = {"anthropic-ratelimit-requests-reset": _iso(30), "anthropic-ratelimit-tokens-reset": _iso(90, z=False)}
    assert _near(parse_retry_after(headers), 90)
    assert _near(parse_retry_after({"anthropic-ratelimit-output-tokens-reset": _iso(45, naive=True)}), 45)
    assert _near(parse_retry_after({"anthropic-ratelimit-input-tokens-reset": "  " + _iso(20) + " "}), 20)


def test_anthropic_reset_of_two_spent_limits_is_the_later() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": _iso(30),
        "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": _iso(60),
        "anthropic-ratelimit-input-tokens-reset": _iso(600),
    }
    assert _near(parse_retry_after(headers), 60)


def test_anthropic_reset_unusable_values() -> None:
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": "soon"}) is None
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": ""}) is None
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": _iso(3 * 86400)}) is None
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": _iso(-60)}) == 0.0
    # a spent limit without a reset: the others' resets are not used for it
    assert parse_retry_after({"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-tokens-reset": _iso(60)}) is None
    assert parse_retry_after({"anthropic-ratelimit-requests-remaining": "3", "anthropic-ratelimit-requests-reset": "x"}) is None


def test_the_other_headers_win_over_anthropic_resets() -> None:
    anthropic = {"anthropic-ratelimit-requests-reset": _iso(300)}
    assert parse_retry_after({**anthropic, "retry-after": "7"}) == 7.0
    assert parse_retry_after({**anthropic, "x-ratelimit-reset-tokens": "2s"}) == 2.0


# --- error bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        (None, (None, None, None)),
        ("", (None, None, None)),
        ("upstream died", ("upstream died", None, None)),
        (b"raw", ("b'raw'", None, None)),
        ([1, 2], ("[1, 2]", None, None)),
        ({"error": "model 'x' not found"}, ("model 'x' not found", None, None)),
        ({"error": {"message": "bad", "code": "invalid_api_key", "type": "invalid_request_error"}},
         ("bad", "invalid_api_key", "invalid_request_error")),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, ("Overloaded", None, "overloaded_error")),
        ({"object": "error", "message": "vllm says no", "type": "BadRequestError", "code": 400},
         ("vllm says no", "400", "BadRequestError")),
        ({"error": {"detail": "from detail"}}, ("from detail", None, None)),
        ({"error": {"code": "c"}, "message": "outer message"}, ("outer message", "c", None)),
        ({"error": {"message": "", "detail": "second"}}, ("second", None, None)),
        ({"error": {"message": 42}}, ("42", None, None)),
        ({"error": {}}, (None, None, None)),
        ({"error": 17}, ("17", None, None)),
        # OpenRouter: ``code`` repeats the HTTP status; the reason is in availability or metadata
        ({"error": {"message": "m", "code": 404, "availability": {"code": "model_not_found"}}}, ("m", "model_not_found", None)),
        ({"error": {"message": "m", "code": 404, "metadata": {"error_type": "model_not_found"}}}, ("m", "model_not_found", None)),
        ({"error": {"message": "m", "code": 404, "availability": {"code": "a"}, "metadata": {"error_type": "b"}}}, ("m", "a", None)),
        ({"error": {"message": "m", "code": 404, "availability": {}, "metadata": {"error_type": "b"}}}, ("m", "b", None)),
        ({"error": {"message": "m", "code": 502, "availability": "x", "metadata": "y"}}, ("m", "502", None)),
        ({"error": {"message": "m", "code": 502}}, ("m", "502", None)),
    ],
)
def test_extract_error(body: object, expected: tuple[str | None, str | None, str | None]) -> None:
    assert extract_error(body) == expected


# --- status + body → class ---------------------------------------------------------------------------

KW = dict(provider="prov", url="http://127.0.0.1:1/v1/chat/completions", model="mod")


def _err(status: int, body: object, headers: dict[str, str] | None = None) -> E.ProviderError:
    """The error for this answer, after checking what every branch must carry: the server's
    message (capped), the status, provider, URL, model, code and the body as details."""
    err = error_from_response(status, body, headers, **KW)  # type: ignore[arg-type]
    message, code, _ = extract_error(body)
    assert err.message == E._cap(message or f"HTTP {status}", E.MAX_MESSAGE_CHARS)
    assert (err.provider, err.url, err.model, err.status_code, err.code) == ("prov", KW["url"], "mod", status, code)
    assert err.details == E.redact_details(body)
    return err


def _oa(message: str, code: str | None = None, etype: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "code": code, "type": etype}}


def test_every_field_is_carried() -> None:
    body = _oa("Incorrect API key provided", "invalid_api_key", "invalid_request_error")
    err = _err(401, body)
    assert type(err) is E.AuthenticationError
    assert err.message == "Incorrect API key provided"
    assert (err.provider, err.url, err.model, err.status_code, err.code) == (
        "prov", KW["url"], "mod", 401, "invalid_api_key"
    )
    assert err.details == body
    assert err.hint == E.AuthenticationError.default_hint


def test_no_message_says_the_status() -> None:
    err = error_from_response(500, None)
    assert type(err) is E.ProviderUnavailableError
    assert err.message == "HTTP 500"
    assert (err.provider, err.url, err.model, err.details, err.code) == (None, None, None, None, None)


def test_a_long_message_is_cut_before_it_is_scanned() -> None:
    # the context-window words sit after the scanned head: not a context error
    text = "x" * (E.MAX_MESSAGE_CHARS * 4) + " maximum context length is 10 tokens"
    err = error_from_response(400, text, **KW)  # type: ignore[arg-type]
    assert type(err) is E.InvalidRequestError
    assert err.message == "x" * E.MAX_MESSAGE_CHARS + f"… [{E.MAX_MESSAGE_CHARS * 3} more characters]"


def test_rate_limit_by_status_carries_retry_after() -> None:
    err = _err(429, _oa("Rate limit reached"), {"retry-after-ms": "1500"})
    assert type(err) is E.RateLimitError and err.retryable
    assert err.retry_after == 1.5
    assert str(err).endswith("(retry after 1.5s)")


def test_rate_limit_by_anthropic_type_on_another_status() -> None:
    err = _err(400, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, {"retry-after": "3"})
    assert type(err) is E.RateLimitError and err.retry_after == 3.0


def test_rate_limit_without_headers() -> None:
    err = _err(429, _oa("slow"))
    assert type(err) is E.RateLimitError and err.retry_after is None


@pytest.mark.parametrize(
    "status,body",
    [
        (401, _oa("no key")),
        (403, _oa("forbidden")),
        (400, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        (400, {"type": "error", "error": {"type": "permission_error", "message": "not allowed"}}),
    ],
)
def test_authentication(status: int, body: object) -> None:
    err = _err(status, body)
    assert type(err) is E.AuthenticationError and not err.retryable


def test_402_is_out_of_credits() -> None:
    err = _err(402, _oa("Insufficient credits"))
    assert type(err) is E.BudgetExceededError
    assert err.hint == "the account is out of credits; add credits or raise its limit"


@pytest.mark.parametrize(
    "status,body,prompt,limit",
    [
        (400, _oa("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                  "context_length_exceeded", "invalid_request_error"), 9000, 8192),
        (400, _oa("This model's maximum context length is 4096 tokens, you requested 5000 tokens"), 5000, 4096),
        (400, _oa("request (9000 tokens) exceeds the available context size (4096 tokens), try increasing it",
                  None, "exceed_context_size_error"), 9000, 4096),
        (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}},
         210000, 200000),
        (413, _oa("too many tokens in the prompt"), None, None),
        (400, _oa("the input exceeds the context window"), None, None),
        (500, _oa("whatever", "context_length_exceeded"), None, None),
        (500, _oa("whatever", None, "exceed_context_size_error"), None, None),
        (400, _oa("string too long", "string_above_max_length"), None, None),
    ],
)
def test_context_window(status: int, body: object, prompt: int | None, limit: int | None) -> None:
    err = _err(status, body)
    assert type(err) is E.ContextWindowExceededError
    assert (err.prompt_tokens, err.limit) == (prompt, limit)


def test_context_words_on_a_5xx_are_an_outage_not_a_context_error() -> None:
    assert type(_err(500, _oa("context length exceeded while loading"))) is E.ProviderUnavailableError


@pytest.mark.parametrize(
    "status,body",
    [
        (404, _oa("The model `gpt-9` does not exist", "model_not_found", "invalid_request_error")),
        (404, {"error": "model 'llama9' not found, try pulling it first"}),
        (400, _oa("no such thing", "model_not_found")),
        (400, {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}}),
        (404, {"error": {"message": "No endpoints found", "code": 404, "metadata": {"error_type": "model_not_found"}}}),
        (404, _oa("The MODEL is gone")),
    ],
)
def test_model_not_found(status: int, body: object) -> None:
    assert type(_err(status, body)) is E.ModelNotFoundError


@pytest.mark.parametrize("code", ["no_endpoints", "model_deprecated", "model_unavailable_upstream", "free_variant_ended"])
@pytest.mark.parametrize("status", [400, 404])
def test_openrouter_availability_codes_mean_the_model_is_gone(code: str, status: int) -> None:
    body = {"error": {"message": "No endpoints found for x", "code": status, "availability": {"code": code}}}
    assert type(_err(status, body)) is E.ModelNotFoundError


def test_404_without_a_model_is_a_wrong_endpoint() -> None:
    err = _err(404, "404 page not found")
    assert type(err) is E.InvalidRequestError
    assert err.hint == "the endpoint was not found; check the provider's base URL"
    # "models" is not the word "model"
    assert type(_err(404, "no route for /v1/models/x")) is E.InvalidRequestError
    assert type(_err(400, {"type": "error", "error": {"type": "not_found_error", "message": "no such file"}})) is E.InvalidRequestError


@pytest.mark.parametrize(
    "body",
    [
        _oa("flagged", "content_filter"),
        _oa("The response was filtered due to content_filter rules"),
        _oa("The prompt triggered Azure OpenAI's Content Management Policy."),
    ],
)
def test_content_filter(body: object) -> None:
    assert type(_err(400, body)) is E.ContentFilterError


@pytest.mark.parametrize("meta", [{"reasons": ["violence"], "flagged_input": "..."}, {"reasons": []}, {"flagged_input": "x"}])
def test_openrouter_moderation_403_is_a_content_filter_not_an_auth_error(meta: dict[str, object]) -> None:
    body = {"error": {"code": 403, "message": "Your input was flagged", "metadata": meta}}
    err = _err(403, body)
    assert type(err) is E.ContentFilterError and err.code == "content_filter"


def test_openrouter_403_without_moderation_metadata_is_auth() -> None:
    assert type(_err(403, {"error": {"code": 403, "message": "forbidden", "metadata": {"provider_name": "x"}}})) is E.AuthenticationError


def test_408_is_a_timeout() -> None:
    err = _err(408, "Request Timeout")
    assert type(err) is E.ProviderTimeoutError and err.retryable


def test_501_is_a_capability_error() -> None:
    assert type(_err(501, "Not Implemented")) is E.CapabilityError


def test_413_without_context_words_is_too_large() -> None:
    err = _err(413, "Payload Too Large")
    assert type(err) is E.InvalidRequestError
    assert err.hint == "the request is too large; send less"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529, 599])
def test_5xx_is_unavailable_and_retryable(status: int) -> None:
    err = _err(status, _oa("boom"))
    assert type(err) is E.ProviderUnavailableError and err.retryable
    assert err.hint == E.ProviderUnavailableError.default_hint


def test_5xx_keeps_its_retry_after() -> None:
    err = _err(503, _oa("overloaded"), {"retry-after": "5"})
    assert type(err) is E.ProviderUnavailableError and err.retry_after == 5.0
    assert _err(529, _oa("overloaded"), {"retry-after-ms": "2500"}).retry_after == 2.5
    assert _err(502, _oa("bad gateway")).retry_after is None


def test_503_loading_says_so() -> None:
    err = _err(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})
    assert type(err) is E.ProviderUnavailableError
    assert err.hint == "the server is still loading its model; retry in a few seconds"
    assert _err(500, _oa("loading")).hint == E.ProviderUnavailableError.default_hint


@pytest.mark.parametrize("etype", ["overloaded_error", "api_error"])
def test_anthropic_overloaded_and_api_error_on_any_status(etype: str) -> None:
    err = _err(400, {"type": "error", "error": {"type": etype, "message": "Overloaded"}})
    assert type(err) is E.ProviderUnavailableError


def test_409_is_unavailable() -> None:
    err = _err(409, _oa("model is being swapped"))
    assert type(err) is E.ProviderUnavailableError
    assert err.hint == E.ProviderUnavailableError.default_hint


@pytest.mark.parametrize("what", ["tools", "thinking", "image", "vision"])
def test_does_not_support_a_feature_is_a_capability_error(what: str) -> None:
    assert type(_err(400, {"error": f"registry.ollama.ai/library/gemma does not support {what}"})) is E.CapabilityError


def test_does_not_support_something_else_is_an_invalid_request() -> None:
    assert type(_err(400, {"error": "this server does not support streaming"})) is E.InvalidRequestError


@pytest.mark.parametrize("status", [400, 405, 418, 422])
def test_anything_else_is_an_invalid_request(status: int) -> None:
    err = _err(status, _oa("messages: field required"))
    assert type(err) is E.InvalidRequestError and not err.retryable
    assert err.hint == E.InvalidRequestError.default_hint
    assert err.message == "messages: field required"
