"""The coach's rules: read once from ``coach/rules.toml``, checked, both languages side by side.

While a run plays, the coach (:mod:`server.live.coach`) watches each metrics
point and, when a rule's condition becomes true, says in plain words what is
happening and what to try. A rule is data a teacher writes
(``docs/coach.md``), checked here when it is read, with the lessons' own
pieces (:mod:`server.lessons`): every text is a :class:`~server.lessons.Text`
(Japanese and English, neither empty), every condition and value an
:mod:`engine.expr` expression (parsed at load time, so an unsafe or broken one
fails before anyone plays). Beyond that, a rule's expressions may read only
the names of :data:`server.run.facts.NAMES` (the metrics of the point and the
facts derived from the points before it), and every ``{placeholder}`` in its
words is one of its ``values``, the same ones in both languages.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.expr import Expr, parse
from server.lessons import ID_PATTERN, ExprText, Text
from server.run.facts import NAMES

RULES_FILE = Path(__file__).resolve().parents[1] / "coach" / "rules.toml"
MAX_RULES = 32
MAX_VALUES = 8
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,23}$"


def _expr(text: str) -> str:
    """``text`` if it parses and reads only the coach's names; ``ValueError`` otherwise."""
    unknown = sorted(parse(text).names - NAMES)  # (ExprError is a ValueError)
    if unknown:
        raise ValueError(f"{text!r} reads {', '.join(unknown)}; a coach rule reads only "
                         f"{', '.join(sorted(NAMES))}")
    return text


def _plain(text: Text) -> Text:
    if "$" in text.ja + text.en:
        raise ValueError("the coach's words are plain text: no $…$ formulas")
    return text


class Words(BaseModel):
    """A rule's words in one language, as the page gets them."""

    model_config = ConfigDict(frozen=True)

    title: str
    text: str
    try_: str = Field(alias="try")


class Rule(BaseModel):
    """One rule: the condition ``when`` (true at a point: the note is due), how many
    points in a row it must hold (``hold``) before the note and be false (``rearm``)
    before the rule may speak again, the look-back of ``…_before`` (``window``,
    iterations), the ``values`` its words fill in, an optional iteration the note
    can take the learner to (``mark``), and the words: ``title``, ``text``, ``try``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    when: ExprText
    hold: int = Field(1, ge=1, le=100)
    rearm: int = Field(10, ge=1, le=1000)
    window: int = Field(100, ge=1, le=100_000)
    values: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ExprText] = Field(
        default_factory=dict, max_length=MAX_VALUES)
    mark: ExprText | None = None
    title: Text
    text: Text
    try_: Text = Field(alias="try")

    @field_validator("when", "mark")
    @classmethod
    def _condition(cls, v: str | None) -> str | None:
        return v if v is None else _expr(v)

    @field_validator("values")
    @classmethod
    def _values(cls, v: dict[str, str]) -> dict[str, str]:
        for e in v.values():
            _expr(e)
        return v

    @field_validator("title", "text", "try_")
    @classmethod
    def _words(cls, v: Text) -> Text:
        return _plain(v)

    @model_validator(mode="after")
    def _placeholders(self) -> Rule:
        for lang in ("ja", "en"):
            said = {m for t in (self.title, self.text, self.try_)
                    for m in PLACEHOLDER.findall(t.get(lang))}
            unknown = sorted(said - set(self.values))
            if unknown:
                raise ValueError(f"{lang} words fill {{{'}, {'.join(unknown)}}}, which are "
                                 f"not among values ({', '.join(self.values) or 'none'})")
        ja, en = (sorted({m for t in (self.title, self.text, self.try_)
                          for m in PLACEHOLDER.findall(t.get(lang))}) for lang in ("ja", "en"))
        if ja != en:
            raise ValueError(f"the two languages fill different values: ja {ja}, en {en}")
        return self

    def words(self, lang: str) -> Words:
        """The rule's words in ``lang``, placeholders left for the page to fill."""
        return Words.model_validate({"title": self.title.get(lang), "text": self.text.get(lang),
                                     "try": self.try_.get(lang)})


class RuleFile(BaseModel):
    """The rules file: ``[[rules]]``, ids unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = Field(min_length=1, max_length=MAX_RULES)

    @model_validator(mode="after")
    def _unique(self) -> RuleFile:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids repeat: {ids}")
        return self


class RuleFileError(ValueError):
    """A rules file that cannot be read or does not follow the format."""


class Compiled:
    """A rule with its expressions parsed (once per process)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.when: Expr = parse(rule.when)
        self.values: dict[str, Expr] = {k: parse(e) for k, e in rule.values.items()}
        self.mark: Expr | None = None if rule.mark is None else parse(rule.mark)


def read_rules(path: Path) -> tuple[Rule, ...]:
    """The rules of one file, checked; :class:`RuleFileError` names the file and the field
    (``rules.2.when``)."""
    try:
        return RuleFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))).rules
    except (tomllib.TOMLDecodeError, ValueError) as e:
        raise RuleFileError(f"{path.name}: {e}") from None


@functools.cache
def rules(path: Path = RULES_FILE) -> tuple[Compiled, ...]:
    """The coach's rules in file order, parsed (read once)."""
    return tuple(Compiled(r) for r in read_rules(path))
