"""The course: lesson files read once, checked, and given to the page in one language.

A lesson is one TOML file under ``lessons/`` holding both languages side by
side (every text is a ``{ja = "…", en = "…"}`` table), so the two cannot
drift apart in steps, hints or choices; ``docs/lessons.md`` is the format a
teacher writes. Everything in a file is checked when it is read:

* the run it starts (``preset``, and a step's own ``preset``) is a
  :class:`~server.runsettings.RunSettings` and a step's ``change`` a
  :class:`~server.protocol.Set` — the catalog's choices and ranges, the
  one list (``engine/catalog.py``), never a second one;
* every check, condition and revealed value is an :mod:`engine.expr`
  expression, parsed (and so refused if unsafe) at load time;
* formulas in ``$…$`` use only the TeX subset of :data:`TEX_COMMANDS`, with
  balanced braces;
* controls are the catalog's run settings or the page's :data:`PAGE_CONTROLS`.

Whether every id a check names exists for the lesson's network is decided by
building the run (``tests/server/test_lessons_course.py`` does, and drives every
lesson to its end). :func:`course` reads the directory once per process;
:func:`localized` is what ``GET /api/lessons/{id}`` sends.
"""

from __future__ import annotations

import functools
import re
import threading
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from engine import catalog
from engine.expr import Expr, parse
from engine.owndata import CsvError, parse_csv
from server.protocol import Set
from server.runsettings import RunSettings
from server.settings import Settings

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
LANGS = ("ja", "en")
MAX_MINUTES = 10
#: the page's own controls a step may show or lock (beside the catalog's run settings)
PAGE_CONTROLS = ("step_phase", "step_iteration", "play", "pause", "reset", "step_back",
                 "timeline", "inspector", "map", "charts", "landscape", "edit_weight",
                 "add_points", "network", "settings")
#: the parts of the page a step may keep hidden until its prediction is checked (their
#: numbers would give the answer away: the Numbers panel shows the loss one-neuron's
#: second step asks for before its loss phase runs)
CONCEALABLE = ("numbers",)
#: TeX commands a formula may use (the page renders them as MathML)
TEX_COMMANDS = frozenset({
    "frac", "partial", "cdot", "times", "leftarrow", "rightarrow", "to", "sum", "prod",
    "sqrt", "div", "approx", "ne", "lfloor", "rfloor", "le", "ge", "lt", "gt", "pm",
    "infty", "log", "exp", "max", "min", "tanh", "mathrm", "text", "left", "right",
    "lVert", "rVert", "quad", ",",
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "eta", "theta", "lambda",
    "mu", "sigma", "tau", "phi", "pi", "rho", "omega", "nu", "xi", "Delta", "Sigma",
    "nabla", "ell", "odot", "hat", "bar", "sim", "cdots", "ldots", "top",
})
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"


#: a placeholder of an explanation: ``{actual}`` or ``{expression}`` (docs/lessons.md)
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _formulas(text: str) -> str:
    """``text`` if its ``$…$`` formulas use only :data:`TEX_COMMANDS` with balanced
    braces; ``ValueError`` naming the first one that does not."""
    if text.count("$") % 2:
        raise ValueError(f"an unclosed $ formula in {text[:60]!r}")
    for formula in re.findall(r"\$([^$]*)\$", text):
        for cmd in re.findall(r"\\([A-Za-z]+|.)", formula):
            if cmd not in TEX_COMMANDS:
                raise ValueError(f"formula ${formula}$ uses \\{cmd}; the page renders "
                                 f"only {sorted(TEX_COMMANDS)}")
        depth = 0
        for ch in formula.replace(r"\{", "").replace(r"\}", ""):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                break
        if depth != 0:
            raise ValueError(f"formula ${formula}$ has unbalanced braces")
    return text


class Text(_Strict):
    """One text in both languages, neither empty; formulas in ``$…$``."""

    ja: Annotated[str, Field(min_length=1, max_length=4000)]
    en: Annotated[str, Field(min_length=1, max_length=4000)]

    @field_validator("ja", "en")
    @classmethod
    def _tex(cls, v: str) -> str:
        return _formulas(v.strip())

    def get(self, lang: str) -> str:
        """The text in ``lang``."""
        return str(getattr(self, lang))


def _expr(text: str) -> str:
    parse(text)  # ExprError (a ValueError) says what is refused
    return text


ExprText = Annotated[str, Field(min_length=1, max_length=300)]


class Choice(_Strict):
    """One answer of a choice prediction: ``when`` is true on the live numbers exactly
    when this answer is the right one; ``explain`` (optional) is said instead of the
    prediction's when it is (a ratio's "{actual} times" reads wrong when both sides are
    0 and this answer says so)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,24}$")]
    text: Text
    when: ExprText
    explain: Text | None = None

    @field_validator("when")
    @classmethod
    def _w(cls, v: str) -> str:
        return _expr(v)


class Prediction(_Strict):
    """Asked before the action: a ``choice`` among ``choices`` or a ``number`` within
    ``tolerance`` (absolute) or ``relative`` (a fraction of the actual value) of
    ``value``. ``value`` is the number revealed with the verdict; ``expect`` is the
    author's answer, which the course test checks against the live numbers."""

    kind: Literal["choice", "number"]
    question: Text
    value: ExprText
    choices: tuple[Choice, ...] = ()
    expect: str | float
    tolerance: float = Field(0.0, ge=0)
    relative: float = Field(0.0, ge=0, le=1)
    unit: str = Field("", max_length=16)
    explain: Text

    @field_validator("value")
    @classmethod
    def _v(cls, v: str) -> str:
        return _expr(v)

    @model_validator(mode="after")
    def _consistent(self) -> Prediction:
        if self.kind == "choice":
            ids = [c.id for c in self.choices]
            if len(ids) < 2 or len(set(ids)) != len(ids):
                raise ValueError("a choice prediction needs two or more choices, ids unique")
            if self.expect not in ids:
                raise ValueError(f"expect {self.expect!r} is not one of the choices {ids}")
        else:
            if self.choices:
                raise ValueError("a number prediction has no choices")
            if isinstance(self.expect, str):
                raise ValueError("a number prediction expects a number")
            if self.tolerance == 0 and self.relative == 0:
                raise ValueError("a number prediction needs a tolerance or a relative one")
        return self


class Action(_Strict):
    """What the learner does in a step (``docs/lessons.md``): ``step`` (``count`` phases or
    iterations), ``play`` (at ``speed`` until ``until`` holds, at most ``max_iterations``),
    ``set`` (the live settings in ``set``), ``edit`` (set ``id[index]`` to ``value``),
    ``inspect`` (click the weight ``id[index]``), ``learn`` (one iteration on the
    learner's drawing, or when there is none the first training picture of that class,
    as the class ``label``: a run on pictures only), ``csv`` (a table to learn from: the
    learner's own CSV file, or the lesson's ``example``) or ``read`` (nothing to run)."""

    do: Literal["step", "play", "set", "edit", "inspect", "learn", "csv", "read"]
    unit: Literal["phase", "iteration"] = "phase"
    count: int = Field(1, ge=1, le=50)
    speed: float = Field(30.0, gt=0, le=1000)
    until: ExprText | None = None
    max_iterations: int = Field(2000, ge=1, le=20_000)
    set: dict[str, Any] | None = None
    id: str | None = Field(None, max_length=32)
    index: tuple[int, ...] = Field((), max_length=2)
    value: float | None = None
    label: int | None = Field(None, ge=0, le=1_000_000)

    @field_validator("until")
    @classmethod
    def _u(cls, v: str | None) -> str | None:
        return v if v is None else _expr(v)

    def wire(self) -> dict[str, Any]:
        """The action as the page gets it (``GET /api/lessons/{id}``, ``lesson_step``):
        every field the step sets or defaults, the unset ones left out (a default such
        as ``speed`` 30 is the step's too: left out, the page played at its own)."""
        return self.model_dump(mode="json", exclude_none=True)

    @model_validator(mode="after")
    def _complete(self) -> Action:
        if self.do == "play" and self.until is None:
            raise ValueError("a play action needs 'until'")
        if self.do == "set":
            if not self.set:
                raise ValueError("a set action needs 'set' (the live settings to change)")
            Set.model_validate({"type": "set", **self.set})
        if self.do in ("edit", "inspect") and (self.id is None or not self.index):
            raise ValueError(f"an {self.do} action needs 'id' and 'index'")
        if self.do == "edit" and self.value is None:
            raise ValueError("an edit action needs 'value'")
        if self.do == "learn" and self.label is None:
            raise ValueError("a learn action needs 'label' (the class to learn the drawing as)")
        return self

    def changes(self) -> Set:
        """A ``set`` action's settings as the protocol's ``set`` message."""
        return Set.model_validate({"type": "set", **(self.set or {})})


class Controls(_Strict):
    """Which controls the page shows (empty: all), which it locks, and which parts it
    keeps hidden until the step's prediction is checked (``conceal``)."""

    show: tuple[str, ...] = ()
    lock: tuple[str, ...] = ()
    conceal: tuple[str, ...] = ()

    @field_validator("conceal")
    @classmethod
    def _concealable(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for n in names:
            if n not in CONCEALABLE:
                raise ValueError(f"conceal {n!r}: only {', '.join(CONCEALABLE)} "
                                 "(hidden until the prediction is checked)")
        return names

    @field_validator("show", "lock")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        settings = {p.name for p in catalog.SETTINGS}
        for n in names:
            if n not in settings and n not in PAGE_CONTROLS:
                raise ValueError(f"unknown control {n!r}: a run setting "
                                 f"({', '.join(sorted(settings))}) or a page control "
                                 f"({', '.join(PAGE_CONTROLS)})")
        return names


#: the page's charts of a run's health (static/js/views/health-chart.js), by name
Chart = Literal["loss", "accuracy", "gnorm", "ratio", "lr"]


class Step(_Strict):
    """One step: its text, what it sets up (``preset``: a new run over the lesson's;
    ``change``: live settings), the controls, the action, an optional prediction, the
    goal ``done``, the values revealed with the check, hints and the answer; ``chart``:
    the chart the step talks about, the one a projector shows while the step is open
    (it shows one chart at a time: the teacher's pick otherwise)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    title: Text
    text: Text
    preset: dict[str, Any] | None = None
    change: dict[str, Any] | None = None
    controls: Controls = Controls()
    action: Action = Action(do="read")
    prediction: Prediction | None = None
    done: ExprText | None = None
    reveal: tuple[ExprText, ...] = Field((), max_length=8)
    #: revealed expressions in words, where the page's own (a name such as ``test_loss``,
    #: a weight's ``L1.W[0,0]``) cannot say them: ``max(abs(L1.dW[27,:]))``
    names: dict[ExprText, Text] = Field(default_factory=dict, max_length=8)
    hints: tuple[Text, ...] = Field((), max_length=5)
    answer: Text
    chart: Chart | None = None

    @field_validator("done")
    @classmethod
    def _d(cls, v: str | None) -> str | None:
        return v if v is None else _expr(v)

    @field_validator("reveal")
    @classmethod
    def _r(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for e in v:
            _expr(e)
        return v

    @field_validator("change")
    @classmethod
    def _c(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            Set.model_validate({"type": "set", **v})
        return v

    @model_validator(mode="after")
    def _chart_shown(self) -> Step:
        unknown = [k for k in self.names if k not in self.reveal]
        if unknown:
            raise ValueError(f"names {unknown}: not among the step's reveal")
        if self.controls.conceal and self.prediction is None:
            raise ValueError("controls.conceal hides a part until the prediction is "
                             "checked: the step has no prediction")
        show = self.controls.show
        if self.chart is not None and show and "charts" not in show:
            raise ValueError(f"chart {self.chart!r}: the step hides the charts "
                             "(add \"charts\" to controls.show)")
        return self

    def changes(self) -> Set | None:
        """``change`` as the protocol's ``set`` message."""
        return None if self.change is None else Set.model_validate(
            {"type": "set", **self.change})


class Lesson(_Strict):
    """One lesson file: ``order`` in the course, ``minutes`` (≤ :data:`MAX_MINUTES`),
    ``concepts`` (words a page may filter on), the run it starts (``preset``) and its
    steps. ``example``: a CSV file beside it (``lessons/<name>.csv``) the lesson offers
    as a table to learn from (a ``csv`` step's button), and the table a run on the
    ``own`` dataset starts on when the learner has loaded none; :func:`read_lesson`
    reads it into :attr:`example_text`."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    order: int = Field(ge=1, le=1000)
    minutes: int = Field(ge=1, le=MAX_MINUTES)
    concepts: tuple[Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")], ...]
    title: Text
    summary: Text
    preset: dict[str, Any] = {}
    example: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}\.csv$")] | None = None
    steps: tuple[Step, ...] = Field(min_length=1, max_length=20)
    _example_text: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _runs(self) -> Lesson:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"step ids repeat: {ids}")
        for s in self.steps:
            self.settings_at(s)  # every run it starts is valid
        own = self.preset.get("dataset") == "own" or any(
            (s.preset or {}).get("dataset") == "own" for s in self.steps)
        if (own or any(s.action.do == "csv" for s in self.steps)) and self.example is None:
            raise ValueError("a lesson on the own dataset, or with a csv step, needs "
                             "'example' (a CSV file beside it to start from)")
        return self

    @property
    def example_text(self) -> str:
        """The text of the lesson's ``example`` CSV (read with the lesson)."""
        if self._example_text is None:
            raise ValueError(f"lesson {self.id} has no example CSV")
        return self._example_text

    def settings_at(self, step: Step) -> RunSettings:
        """The run ``step`` starts if it has a preset (over the lesson's), checked
        against the catalog; the lesson's own preset otherwise."""
        return RunSettings.model_validate({**self.preset, **(step.preset or {})})

    def number(self, step_id: str) -> int:
        """The 1-based number of the step ``step_id``."""
        return [s.id for s in self.steps].index(step_id) + 1

    def expressions(self) -> list[tuple[str, Expr]]:
        """Every expression in the lesson with where it is (for the course test)."""
        return [(f"{self.id}/{where}", e) for s in self.steps
                for where, e in self.expressions_of(s)]

    @staticmethod
    def expressions_of(s: Step) -> list[tuple[str, Expr]]:
        """Every expression of one step, with where it is in the step."""
        out: list[tuple[str, Expr]] = []
        where = s.id
        if s.done:
            out.append((f"{where} done", parse(s.done)))
        if s.action.until:
            out.append((f"{where} until", parse(s.action.until)))
        out += [(f"{where} reveal", parse(r)) for r in s.reveal]
        p = s.prediction
        if p is not None:
            out.append((f"{where} value", parse(p.value)))
            out += [(f"{where} explain {{{name}}}", parse(name))
                    for text in (p.explain.ja, p.explain.en)
                    for name in PLACEHOLDER.findall(text) if name != "actual"]
            out += [(f"{where} choice {c.id}", parse(c.when)) for c in p.choices]
            out += [(f"{where} choice {c.id} explain {{{name}}}", parse(name))
                    for c in p.choices if c.explain is not None
                    for text in (c.explain.ja, c.explain.en)
                    for name in PLACEHOLDER.findall(text) if name != "actual"]
        return out


class LessonFileError(ValueError):
    """A lesson file that cannot be read or does not follow the format."""


def read_lesson(path: Path) -> Lesson:
    """One lesson file, checked; :class:`LessonFileError` names the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        lesson = Lesson.model_validate(data)
    except (tomllib.TOMLDecodeError, ValueError) as e:
        raise LessonFileError(f"{path.name}: {e}") from None
    if lesson.id != path.stem:
        raise LessonFileError(f"{path.name}: its id is {lesson.id!r}; name the file "
                              f"{lesson.id}.toml")
    if lesson.example is not None:
        csv_path = path.parent / lesson.example
        limits = Settings()
        try:
            text = csv_path.read_text(encoding="utf-8")
            parse_csv(text, limits.max_samples, limits.max_inputs)
        except (OSError, CsvError) as e:
            raise LessonFileError(f"{path.name}: example {lesson.example}: {e}") from None
        lesson._example_text = text
    return lesson


_COURSE_LOCK = threading.Lock()


def course(directory: Path = LESSONS_DIR) -> dict[str, Lesson]:
    """Every lesson under ``directory`` by id, in course order (read once: the HTTP
    routes' threads and the engine thread asking at once get the same objects)."""
    with _COURSE_LOCK:
        return _read_course(directory)


@functools.cache
def _read_course(directory: Path) -> dict[str, Lesson]:
    lessons = [read_lesson(p) for p in sorted(directory.glob("*.toml"))]
    return {ls.id: ls for ls in sorted(lessons, key=lambda ls: (ls.order, ls.id))}


def summary(lesson: Lesson, lang: str) -> dict[str, Any]:
    """One line of ``GET /api/lessons``."""
    return {"id": lesson.id, "order": lesson.order, "title": lesson.title.get(lang),
            "summary": lesson.summary.get(lang), "concepts": list(lesson.concepts),
            "minutes": lesson.minutes, "steps": len(lesson.steps)}


def localized(lesson: Lesson, lang: str) -> dict[str, Any]:
    """``GET /api/lessons/{id}``: the lesson in ``lang`` for the page. Predictions carry
    their question and choices but not the author's ``expect`` nor the conditions:
    the verdict comes from the live numbers (the ``lesson_check`` message)."""
    steps = []
    for n, s in enumerate(lesson.steps, start=1):
        p = s.prediction
        steps.append({
            "n": n, "id": s.id, "title": s.title.get(lang), "text": s.text.get(lang),
            "new_run": n == 1 or s.preset is not None, "change": s.change,
            "controls": s.controls.model_dump(), "action": s.action.wire(),
            "prediction": None if p is None else {
                "kind": p.kind, "question": p.question.get(lang), "unit": p.unit,
                "choices": [{"id": c.id, "text": c.text.get(lang)} for c in p.choices],
                "tolerance": p.tolerance, "relative": p.relative},
            "done": s.done, "reveal": list(s.reveal),
            "names": {k: v.get(lang) for k, v in s.names.items()},
            "hints": [h.get(lang) for h in s.hints], "answer": s.answer.get(lang),
            "chart": s.chart,
        })
    return {**summary(lesson, lang), "lang": lang,
            "preset": RunSettings.model_validate(lesson.preset).model_dump(mode="json"),
            "example": lesson.example, "steps": steps}
