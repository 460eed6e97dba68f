"""errors: the one redaction point, finite waits, capping, and what every error says.

The secrets used here are not shaped like a key (no ``sk-``, no ``Bearer``): only the registry of
secrets, or the secrets passed to ``redact``, can remove them. Each test registers values of its
own (the registry is process-wide), so no test relies on another's registration.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import llmswitch as ls
from llmswitch import errors as E


def _secret(tag: str = "s") -> str:
    return f"{tag}-{uuid.uuid4().hex}"


# --- redact -------------------------------------------------------------------------------------------


def test_redact_removes_a_registered_secret_of_any_shape() -> None:
    key = _secret("llamacpp")
    assert E.redact(f"bad key {key}!") == f"bad key {key}!"  # not yet known, not key-shaped
    E.register_secret(key)
    assert E.redact(f"bad key {key}!") == "bad key ***!"
    assert E.redact(f"{key}{key}") == "******"


def test_redact_removes_the_secrets_it_is_given() -> None:
    a, b = _secret("a"), _secret("b")
    assert E.redact(f"x {a} y {b} z", a, None, "", b) == "x *** y *** z"
    assert E.redact(f"{a} only", b) == f"{a} only"


def test_redact_ignores_secrets_shorter_than_four_characters() -> None:
    assert E.redact("abc is a word", "abc") == "abc is a word"
    assert E.redact("abcd is a key", "abcd") == "*** is a key"
    E.register_secret("xyz", "", None)
    assert E.redact("xyz stays") == "xyz stays"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("key sk-abcdef123456 leaked", "key *** leaked"),
        ("sk-ant-api03-AbC_dEf-123 here", "*** here"),
        ("Authorization: Bearer tok.en-123/+=xyz", "Authorization: ***"),
        ("GET https://h/v1?key=AIzaSy123&alt=sse", "GET https://h/v1?***&alt=sse"),
        ("sk-short", "sk-short"),
        ("Bearer abc", "Bearer abc"),
        ("apikey=abc", "apikey=abc"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_removes_key_shaped_text(text: str, expected: str) -> None:
    assert E.redact(text) == expected


def test_redact_accepts_anything_printable() -> None:
    key = _secret("obj")
    E.register_secret(key)
    assert E.redact({"k": key}) == "{'k': '***'}"  # type: ignore[arg-type]
    assert E.redact(12345) == "12345"  # type: ignore[arg-type]


def test_the_longest_registered_secret_is_removed_whole() -> None:
    short = uuid.uuid4().hex[:8]
    long = short + "-and-more-" + uuid.uuid4().hex
    E.register_secret(short)
    E.register_secret(long)
    assert E.redact(f"[{long}]") == "[***]"
    assert E.redact(f"[{short}]") == "[***]"


def test_a_registered_secret_of_exactly_four_characters_is_redacted() -> None:
    # four CJK ideographs drawn at random: no other text holds them, and no earlier run in this
    # process (the registry is process-wide) registered them
    four = "".join(chr(0x4E00 + int.from_bytes(os.urandom(2), "big") % 20000) for _ in range(4))
    E.register_secret(four)
    assert E.redact(f"pin {four}.") == "pin ***."


def test_registering_nothing_in_a_fresh_process_redacts_nothing() -> None:
    """The first registration of a process may bring no usable value (a provider without a key):
    redaction must then still leave text alone. A fresh interpreter, importing this same package."""
    pkg_parent = str(Path(E.__file__).resolve().parent.parent)
    code = (
        "from llmswitch import errors as E\n"
        "E.register_secret(None, '', 'abc')\n"
        "print(E.redact('plain text stays'))\n"
    )
    env = {**os.environ, "PYTHONPATH": pkg_parent}
    E.register_secret(None, "", "abc")  # and in this process, where other secrets are known
    assert E.redact("plain text stays") == "plain text stays"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "plain text stays\n"


def test_register_secret_takes_many_values_and_repeats() -> None:
    a, b = _secret("m1"), _secret("m2")
    E.register_secret(a, None, b)
    E.register_secret(a)
    assert E.redact(f"{a} {b}") == "*** ***"


# --- finite_wait and capping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, None),
        ("abc", None),
        ([1], None),
        (float("inf"), None),
        (float("-inf"), None),
        (float("nan"), None),
        (86400.0, 86400.0),
        (86400.5, None),
        (1e999, None),
        (-5, 0.0),
        (0, 0.0),
        ("2.5", 2.5),
        (3, 3.0),
    ],
)
def test_finite_wait(value: object, expected: float | None) -> None:
    got = E.finite_wait(value)  # type: ignore[arg-type]
    assert got == expected and (got is None or type(got) is float)


def test_error_message_is_capped_with_a_count_of_what_was_cut() -> None:
    exact = "m" * E.MAX_MESSAGE_CHARS
    assert E.ProviderError(exact).message == exact
    err = E.ProviderError(exact + "tail")
    assert err.message == exact + "… [4 more characters]"
    assert E.MAX_MESSAGE_CHARS == 2000 and E.MAX_DETAIL_CHARS == 64 * 1024


# --- redact_details -----------------------------------------------------------------------------------------


def test_redact_details_keeps_structure_and_redacts_every_string() -> None:
    key = _secret("det")
    body = {
        "error": {"message": f"bad {key}", "code": 401, "param": None, "ok": True, "ratio": 0.5},
        key: [f"a {key}", ("t", key)],
        7: b"bytes " + key.encode(),
    }
    got = E.redact_details(body, key)
    assert got == {
        "error": {"message": "bad ***", "code": 401, "param": None, "ok": True, "ratio": 0.5},
        "***": ["a ***", ["t", "***"]],
        7: "bytes ***",
    }


def test_redact_details_uses_the_registry_too() -> None:
    key = _secret("reg")
    E.register_secret(key)
    assert E.redact_details({"m": key}) == {"m": "***"}


def test_redact_details_caps_each_string() -> None:
    limit = E.MAX_DETAIL_CHARS
    assert E.redact_details("d" * limit) == "d" * limit
    assert E.redact_details("d" * (limit + 10)) == "d" * limit + "… [10 more characters]"
    assert E.redact_details(bytearray(b"e" * (limit + 1))) == "e" * limit + "… [1 more characters]"


def test_redact_details_decodes_invalid_utf8_with_replacement_characters() -> None:
    assert E.redact_details(b"ok \xff\xfe end") == "ok \ufffd\ufffd end"
    assert E.redact_details({"raw": b"\xc3"}) == {"raw": "\ufffd"}


def test_redact_details_of_other_objects_is_their_redacted_capped_repr() -> None:
    key = _secret("obj")

    class Thing:
        def __repr__(self) -> str:
            return f"Thing({key})" + "z" * E.MAX_DETAIL_CHARS

    got = E.redact_details(Thing(), key)
    assert got.startswith("Thing(***)zz") and got.endswith("… [10 more characters]")
    assert E.redact_details({1, 2}) == "{1, 2}"


def test_redact_details_stops_at_depth_32() -> None:
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]
    got = E.redact_details(deep)
    depth = 0
    while isinstance(got, list):
        got = got[0]
        depth += 1
    assert (depth, got) == (33, "…")
    shallow: object = "leaf"
    for _ in range(33):
        shallow = {"k": shallow}
    got = E.redact_details(shallow)
    for _ in range(33):
        got = got["k"]
    assert got == "leaf"
    deep_dict: object = "leaf"
    for _ in range(40):
        deep_dict = {"k": deep_dict}
    got = E.redact_details(deep_dict)
    depth = 0
    while isinstance(got, dict):
        got = got["k"]
        depth += 1
    assert (depth, got) == (33, "…")



# --- what an error says -------------------------------------------------------------------------------------


def test_llmswitch_error_redacts_string_arguments_only() -> None:
    key = _secret("root")
    E.register_secret(key)
    err = ls.LLMSwitchError(f"failed with {key}", 42)
    assert err.args == ("failed with ***", 42)
    assert key not in str(ls.ConfigError(f"missing {key}"))


def test_provider_error_fields_and_format() -> None:
    key = _secret("pe")
    E.register_secret(key)
    err = E.ProviderError(
        f"denied {key}", provider="openai", model="gpt", status_code=401, url=f"http://h/v1?key={key}",
        hint=f"use another than {key}", details={"m": key}, code="invalid_api_key",
    )
    assert err.message == "denied ***"
    assert (err.provider, err.model, err.status_code, err.code) == ("openai", "gpt", 401, "invalid_api_key")
    assert err.url == "http://h/v1?***"
    assert err.hint == "use another than ***"
    assert err.details == {"m": "***"}
    assert str(err) == "[openai HTTP 401 http://h/v1?***] denied *** — use another than ***"
    assert not err.retryable


def test_provider_error_format_parts() -> None:
    assert str(E.ProviderError("m")) == "m — check the provider's status and your request"
    assert str(E.ProviderError("m", hint="")) == "m"
    assert str(E.ProviderError("m", provider="p", hint="")) == "[p] m"
    assert str(E.ProviderError("m", status_code=0, hint="")) == "[HTTP 0] m"
    assert str(E.ProviderError("m", url="http://u", hint="")) == "[http://u] m"
    err = E.ProviderError("m", url="", details=None)
    assert err.url == "" and err.details is None and err.code is None
    assert E.ProviderError("m", details=0).details == 0


def test_provider_error_survives_pickling_with_every_field() -> None:
    err = E.RateLimitError("slow", provider="p", status_code=429, url="http://u", retry_after=2.0, code="c", details={"a": 1})
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is E.RateLimitError
    assert again.__dict__ == err.__dict__
    assert str(again) == str(err) == "[p HTTP 429 http://u] slow — slow down or wait; llmswitch's retry honours Retry-After (retry after 2s)"
    assert again.args == err.args


def test_rate_limit_error_keeps_only_a_finite_wait() -> None:
    assert E.RateLimitError("x", retry_after=1.5).retry_after == 1.5
    err = E.RateLimitError("x", retry_after=float("inf"), hint="")
    assert err.retry_after is None and str(err) == "x"
    assert str(E.RateLimitError("x", retry_after=0.25, hint="")) == "x (retry after 0.25s)"
    assert str(E.RateLimitError("x", retry_after=0, hint="")) == "x (retry after 0s)"


def test_provider_unavailable_error_keeps_only_a_finite_wait() -> None:
    err = E.ProviderUnavailableError("loading", retry_after=5, provider="p", status_code=503)
    assert err.retry_after == 5.0 and err.message == "loading" and err.status_code == 503 and err.retryable
    assert str(err) == f"[p HTTP 503] loading — {E.ProviderUnavailableError.default_hint}"
    assert E.ProviderUnavailableError("x", retry_after=float("nan")).retry_after is None
    assert E.ProviderUnavailableError("x").retry_after is None


def test_circuit_open_error_keeps_only_a_finite_wait() -> None:
    err = E.CircuitOpenError("open", retry_after=30, provider="p")
    assert err.retry_after == 30.0 and err.retryable and err.provider == "p"
    assert err.message == "open" and str(err) == f"[p] open — {E.CircuitOpenError.default_hint}"
    assert E.CircuitOpenError("open", retry_after=1e999).retry_after is None
    assert E.CircuitBreakerError is E.CircuitOpenError


def test_context_window_error_fields() -> None:
    err = E.ContextWindowExceededError("too long", prompt_tokens=9000, limit=8192, provider="p")
    assert (err.prompt_tokens, err.limit, err.provider, err.message) == (9000, 8192, "p", "too long")
    assert E.TokenLimitError is E.ContextWindowExceededError


@pytest.mark.parametrize(
    "cls,retryable",
    [
        (E.ProviderError, False), (E.ProviderConnectionError, True), (E.ProviderTimeoutError, True),
        (E.AuthenticationError, False), (E.RateLimitError, True), (E.ModelNotFoundError, False),
        (E.ContextWindowExceededError, False), (E.ContentFilterError, False), (E.InvalidRequestError, False),
        (E.CapabilityError, False), (E.ProviderUnavailableError, True), (E.CircuitOpenError, True),
        (E.BudgetExceededError, False), (E.ResponseTooLargeError, False),
    ],
)
def test_retryable_per_class(cls: type[E.ProviderError], retryable: bool) -> None:
    assert cls("x").retryable is retryable


def test_all_providers_failed_lists_each_attempt_and_is_retryable_if_any_is() -> None:
    key = _secret("all")
    E.register_secret(key)
    a = E.AuthenticationError("bad key", provider="a", hint="")
    b = E.ProviderUnavailableError(f"down {key}", provider="b", hint="")
    err = E.AllProvidersFailedError([("a", a), ("b", b)])
    assert str(err) == "every provider failed:\n  - a: [a] bad key\n  - b: [b] down ***"
    assert err.attempts == [("a", a), ("b", b)]
    assert err.retryable is True
    assert E.AllProvidersFailedError([("a", a), ("x", ValueError("v"))]).retryable is False
    assert E.AllProvidersFailedError([]).retryable is False
    assert str(E.AllProvidersFailedError([])) == "every provider failed:\n"


def test_a_capability_error_names_the_feature_and_keeps_its_message() -> None:
    from llmswitch.errors import CapabilityError, InvalidRequestError

    err = CapabilityError("model 'm' does not take tools", feature="tools", provider="p", model="m")
    assert err.feature == "tools" and isinstance(err, InvalidRequestError)
    assert "model 'm' does not take tools" in str(err) and err.provider == "p" and err.model == "m"
    assert err.status_code is None
    assert CapabilityError("x").feature is None


def test_all_providers_failed_says_how_long_each_attempt_took() -> None:
    a, b = E.ProviderError("down", provider="a"), E.ProviderError("slow", provider="b")
    err = E.AllProvidersFailedError([("a", a), ("b", b)], seconds=[0.5, 1.25])
    assert err.seconds == [0.5, 1.25]
    assert str(err).splitlines()[1:] == [f"  - a (0.50s): {a}", f"  - b (1.25s): {b}"]
    assert E.AllProvidersFailedError([("a", a)], seconds=[1.0, 2.0]).seconds is None  # not one per attempt
    assert str(E.AllProvidersFailedError([("a", a)])).splitlines()[1] == f"  - a: {a}"
