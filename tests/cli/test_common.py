"""The CLI's shared "safe to print" helpers (``cli/_common.py``): keys redacted even when split
across writes, rich markup and terminal escapes shown literally, long text capped."""

from __future__ import annotations

import io

from llmswitch.cli._common import RedactingWriter, cell, markup, scrubbed, shown
from llmswitch.errors import register_secret


def test_redacting_writer_catches_a_key_split_across_writes() -> None:
    register_secret("split-secret-55555")
    out = io.StringIO()
    w = RedactingWriter(out)
    for piece in ("one two split-se", "cret-55", "555 three", " fo", "ur"):
        w.write(piece)
    assert out.getvalue() == "one two *** three "  # the last word is held until whitespace or close
    w.close()
    assert out.getvalue() == "one two *** three four"


def test_redacting_writer_bounds_what_it_holds() -> None:
    out = io.StringIO()
    w = RedactingWriter(out)
    w.write("x" * (RedactingWriter.HOLD_LIMIT + 10))
    assert len(out.getvalue()) == RedactingWriter.HOLD_LIMIT + 10 and w.pending == ""


def test_shown_markup_cell_scrubbed() -> None:
    register_secret("helper-secret-77777")
    text = "a [/] \x1b[31mred\x1b[0m helper-secret-77777 " + "z" * 3000
    s = shown(text)
    assert "helper-secret" not in s and "\x1b" not in s and s.startswith("a [/] [31mred[0m *** ")
    assert s.endswith("more characters]") and len(s) < 2100
    assert markup("[/]") == "\\[/]"
    assert cell("[bold]x[/bold]").plain == "[bold]x[/bold]"  # a Text: never parsed as markup
    assert scrubbed({"k": ["helper-secret-77777", 1, None, {"helper-secret-77777": True}]}) == {"k": ["***", 1, None, {"***": True}]}
