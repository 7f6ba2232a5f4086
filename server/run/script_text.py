"""Comment text for the step scripts (:mod:`server.run.export_script`,
:mod:`server.run.export_torch`): lines of at most :data:`COLUMNS` columns in a
terminal, English wrapped at its spaces and Japanese between its wide characters,
never inside a formula. No I/O."""

from __future__ import annotations

import textwrap
import unicodedata

#: a script's lines are at most this many columns (a wide character takes two)
COLUMNS = 79


def columns(text: str) -> int:
    """How many columns ``text`` takes in a terminal (East Asian wide characters two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrapped(text: str, lang: str, first: str = "", rest: str = "") -> str:
    """``text`` in lines of at most :data:`COLUMNS` columns, the first starting with
    ``first`` and the others with ``rest``: English at its spaces (``textwrap``),
    Japanese between any two of its wide characters but never inside a run of narrow
    ones (``a_prev``, ``∂L/∂z``, ``F.mse_loss``), nor before a comma, a full stop or a
    closing bracket; after a comma or a full stop where one is near the end of the
    line."""
    if lang != "ja":
        return textwrap.fill(text, COLUMNS, initial_indent=first, subsequent_indent=rest)
    lines: list[str] = []
    line = [first]  # (the line's tokens after its indent)
    for token in _tokens(text):
        if token == " " and len(line) == 1:
            continue  # (no line starts with a space)
        if columns("".join(line) + token) > COLUMNS and len(line) > 1:
            keep = len(line)  # the tokens line[:keep] stay on this line
            marks = [k for k in range(1, len(line)) if line[k] in "、。）"]
            if marks and columns("".join(line[marks[-1] + 1:])) <= 24:
                keep = marks[-1] + 1
            if token in _NO_LINE_START and keep == len(line):
                keep -= 1  # (the piece before it goes down with it)
            if keep <= 1:
                keep = len(line)
            lines.append("".join(line[:keep]).rstrip())
            carry = line[keep:]
            while carry and carry[0] == " ":
                carry.pop(0)
            line = [rest, *carry]
            if token == " ":
                continue
        line.append(token)
    lines.append("".join(line).rstrip())
    return "\n".join(lines)


def _tokens(text: str) -> list[str]:
    """A Japanese text's pieces a line may end after: a run of narrow characters that
    are not spaces (a formula, a name, a number: ``a_prevᵀ``, ``∂L/∂z``, ``λ₂/2``), a
    space, or one wide character."""
    out: list[str] = []
    run = ""
    for ch in text:
        if ch != " " and unicodedata.east_asian_width(ch) not in "WF":
            run += ch
            continue
        if run:
            out.append(run)
            run = ""
        out.append(ch)
    if run:
        out.append(run)
    return out


#: what a Japanese line does not start with (a comma, a full stop, a closing bracket)
_NO_LINE_START = frozenset("、。，．）」』：；！？")
