"""limits.Limits.from_options: which read limits a provider's options set, and what it refuses."""

from __future__ import annotations

import pytest

from llmswitch._limits import DEFAULT_LIMITS, Limits, MiB, check_seconds


def test_no_options_keeps_every_default() -> None:
    assert Limits.from_options({}) == DEFAULT_LIMITS
    assert Limits.from_options({"max_body_bytes": None, "timeout": 5}) == DEFAULT_LIMITS
    assert DEFAULT_LIMITS == Limits(64 * MiB, 1 * MiB, 16 * MiB, 16 * MiB)


def test_given_options_override_only_themselves() -> None:
    got = Limits.from_options({"max_body_bytes": 1, "max_line_bytes": 2048, "unrelated": "x"})
    assert got == Limits(max_body_bytes=1, max_error_body_bytes=1 * MiB, max_line_bytes=2048, max_event_bytes=16 * MiB)


@pytest.mark.parametrize("value", [0, -1, -(2**40), 1.5, "1024", True, False, [1]])
def test_a_bad_value_is_a_value_error_naming_the_setting_and_the_value(value: object) -> None:
    with pytest.raises(ValueError) as info:
        Limits.from_options({"max_error_body_bytes": value})
    assert str(info.value) == f"max_error_body_bytes must be a positive number of bytes, got {value!r}"


def test_one_byte_is_a_valid_limit() -> None:
    assert Limits.from_options({"max_event_bytes": 1}).max_event_bytes == 1


@pytest.mark.parametrize("value", [None, 1, 0.001, 86400 * 365, 1e300])
def test_check_seconds_accepts_none_and_positive_finite_numbers(value: object) -> None:
    check_seconds("read_timeout", value)


@pytest.mark.parametrize("value", [0, 0.0, -1, float("inf"), float("nan"), "5", True, False, [1]])
def test_check_seconds_refuses_anything_else_naming_the_setting(value: object) -> None:
    with pytest.raises(ValueError) as info:
        check_seconds("read_timeout", value)
    assert str(info.value) == f"read_timeout must be a positive number of seconds, got {value!r}"
