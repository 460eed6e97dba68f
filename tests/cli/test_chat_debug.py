"""``llmswitch chat --debug``: timings, tokens, cost and retries for a person, on stderr."""

from __future__ import annotations

import re

from tests.cli._run import run_cli
from tests.fakes.openai_server import VALID_KEY


def _env(url: str) -> dict[str, str]:
    return {"OPENAI_COMPATIBLE_BASE_URL": url, "OPENAI_COMPATIBLE_API_KEY": VALID_KEY}


def test_debug_shows_ttft_total_tokens_cost_and_retries(openai_fake) -> None:
    r = run_cli("chat", "--debug", "-p", "openai-compatible:gpt-test", "hi", env_extra=_env(openai_fake[1]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "Hello! How can I help?"  # the answer is unchanged on stdout
    request, summary = r.stderr.splitlines()
    assert request.startswith("debug: request to openai-compatible:gpt-test at http://127.0.0.1:")
    assert re.fullmatch(
        r"debug: openai-compatible:gpt-test · ok · TTFT \d+\.\d ms · total \d+\.\d ms · 12 in / 7 out tokens · "
        r"cost unknown · finish stop · 0 retries",
        summary,
    ), summary
    assert VALID_KEY not in r.stderr + r.stdout


def test_debug_shows_each_retry_and_the_count(openai_fake) -> None:
    r = run_cli("chat", "--debug", "-p", "openai-compatible:gpt-flaky-1-503", "hi", env_extra=_env(openai_fake[1]))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert re.fullmatch(r"debug: retry 1 after ProviderUnavailableError, waiting \d+\.\d\d s", lines[1]), lines
    assert lines[-1].endswith(" · 1 retries") and " · ok · " in lines[-1]


def test_debug_on_a_failure_names_the_error_then_the_usual_error_line(openai_fake) -> None:
    r = run_cli("chat", "--debug", "-p", "openai-compatible:gpt-missing", "hi", env_extra=_env(openai_fake[1]))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert " · error · total " in lines[1] and "ModelNotFoundError" in lines[1]
    assert lines[2].startswith("error: [openai-compatible HTTP 404 ")


def test_without_debug_nothing_more_is_printed(openai_fake) -> None:
    r = run_cli("chat", "-p", "openai-compatible:gpt-test", "hi", env_extra=_env(openai_fake[1]))
    assert r.returncode == 0 and r.stderr == ""
