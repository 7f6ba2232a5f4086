"""The wire protocol: every WebSocket message as a Pydantic model, and its codec.

Frames are JSON text objects tagged by ``type``. Client messages are parsed
with one discriminated union (:data:`ClientMessage`); unknown types, unknown
fields and non-finite numbers are rejected. The run's settings inside them
(``configure``, ``set``, run files) are :mod:`server.runsettings`' models,
checked against the engine's catalog. Server messages are plain dicts
built by :func:`server_message` and encoded by :func:`encode` (orjson).

Non-finite numbers are never sent bare (browsers' ``JSON.parse`` rejects
``NaN``): they travel as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, and the browser's decoder turns them back into numbers.
``docs/protocol.md`` shows every message with an example.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, Field, TypeAdapter, model_validator

# the run's settings, checked against the engine's catalog; re-exported as part of the protocol
from server.runsettings import Changes, Finite, PhaseName, RunSettings
from server.runsettings import OptimizerModel as OptimizerModel
from server.runsettings import ScheduleModel as ScheduleModel
from server.runsettings import WireModel as _Msg

# ---- client → server ---------------------------------------------------------------


class Hello(_Msg):
    """First message of a connection; ``session`` resumes a previous session.
    ``batch``: the client accepts a JSON *array* of messages in one WebSocket
    message (the server then sends what is pending together: fewer, larger sends)."""

    type: Literal["hello"]
    session: str | None = Field(None, max_length=64)
    lang: Literal["ja", "en"] | None = None
    batch: bool = False
    #: with ``batch``: the client also takes a batch as one binary message in which fast
    #: play's frames are packed as float64 (docs/protocol.md, "Packed frames")
    packed: bool = False
    #: watch the run a teacher shares under this code instead (read-only; ``session``
    #: is then ignored); letters and digits, case-insensitive
    follow: str | None = Field(None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")


class Share(_Msg):
    """Start (``on``) or stop sharing this run with a class under a short code;
    ``code`` asks for the code the run had (after a restore), granted when free or
    when ``key`` is the key of the run that holds it."""

    type: Literal["share"]
    on: bool = True
    code: str | None = Field(None, min_length=6, max_length=6, pattern=r"^[A-Za-z0-9]+$")
    #: the share key the server gave with the code (``share``): a code another run
    #: holds, maybe on another worker process, moves to this run only with its key
    key: str | None = Field(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class SwitchRun(_Msg):
    """Go back to one of this tab's earlier runs (``run.runs``); the current run takes
    its place in the list."""

    type: Literal["switch_run"]
    run: int = Field(ge=0, le=1_000_000)


class Series(_Msg):
    """Ask for another branch's (``branch``) or an earlier run's (``run``, from
    ``run.runs``) metrics series, to draw beside this one's; nothing changes."""

    type: Literal["series"]
    branch: int | None = Field(None, ge=0, le=1_000_000)
    run: int | None = Field(None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_target(self) -> Series:
        if (self.branch is None) == (self.run is None):
            raise ValueError("series names exactly one of 'branch' or 'run'")
        return self


class Fork(_Msg):
    """A follower asks for its own copy of the run it follows, as it is now."""

    type: Literal["fork"]


class Configure(_Msg):
    """Start a new run with these settings (the previous run is replaced)."""

    type: Literal["configure"]
    config: RunSettings


class Csv(_Msg):
    """A learner's own CSV file to learn from: a new run on the ``own`` dataset with the
    current settings, or a ``csv`` error saying what is wrong and where (the run goes on)."""

    type: Literal["csv"]
    text: str = Field(max_length=1_000_000)
    name: str | None = Field(None, max_length=200)


class Step(_Msg):
    """Advance by one phase or one whole iteration (pauses play); ``direction``
    ``back`` goes back one phase, or to the previous iteration boundary."""

    type: Literal["step"]
    unit: Literal["phase", "iteration"] = "phase"
    direction: Literal["forward", "back"] = "forward"


class Play(_Msg):
    """Play at ``speed`` iterations per second."""

    type: Literal["play"]
    speed: Finite = Field(2.0, gt=0)


class Pause(_Msg):
    """Stop playing; the run stays where it is."""

    type: Literal["pause"]


class Reset(_Msg):
    """Start the current run again from iteration 0 (same settings and seed)."""

    type: Literal["reset"]


# ---- views: inspector, focus, edit (see server/live/views.py) ----------------------------

Index = tuple[Annotated[int, Field(ge=0, le=1_000_000)], ...]


class Inspect(_Msg):
    """Open the inspector on a parameter entry (``L2.W`` [i, j], ``L1.b`` [j]) or a unit
    (``L1.a`` [j]); ``id`` null closes it."""

    type: Literal["inspect"]
    id: str | None = Field(None, max_length=32)
    index: Index = Field((), max_length=2)


class Focus(_Msg):
    """Follow one data point (``index`` null: back to the batch)."""

    type: Literal["focus"]
    split: Literal["train", "test"] = "train"
    index: int | None = Field(None, ge=0)


class Edit(_Msg):
    """Set one parameter entry by hand (applied between iterations)."""

    type: Literal["edit"]
    id: str = Field(max_length=32)
    index: Index = Field(max_length=2)
    value: Finite = Field(ge=-1e6, le=1e6)


class MapAxes(_Msg):
    """Which two inputs the map's plane shows, for data with more than two (real data):
    ``axes`` [x, y], input columns; the others are held at their mean."""

    type: Literal["map_axes"]
    axes: tuple[Annotated[int, Field(ge=0, le=100_000)], Annotated[int, Field(ge=0, le=100_000)]]


#: a drawing's pixels: digits' 64 values 0…16, row by row, as scikit-learn downsamples
#: its digits (the length is checked against the run's data)
Pixels = tuple[Annotated[float, Field(ge=0, le=16, allow_inf_nan=False)], ...]


class Draw(_Msg):
    """A drawing's pixels, for the network's prediction (data whose inputs are a picture);
    the prediction follows the run's weights from then on (no pixels: forget it)."""

    type: Literal["draw"]
    pixels: Pixels = Field(max_length=4096)


class LearnValue(_Msg):
    """A drawing and the class to learn it as (``learn``; a logged ``learn`` command)."""

    pixels: Pixels = Field(max_length=4096)
    label: int = Field(ge=0, le=1_000_000)


class Learn(LearnValue):
    """Run the next iteration on this one drawing with the class ``label`` (a batch of
    one, standardised as the training split), phase by phase; logged like ``set``."""

    type: Literal["learn"]


class LandscapeAxis(_Msg):
    """One parameter entry as an axis of the loss landscape (``L1.W`` [i, j], ``L2.b`` [j])."""

    id: str = Field(max_length=32)
    index: Index = Field(max_length=2)


class Landscape(_Msg):
    """Open the loss-landscape view (``open`` false closes it) on a slice of weight
    space through the current point: two random directions (``random``), the last
    step and one across it (``step``), or two parameter entries (``weights``: ``a``
    and ``b``); ``size``: grid points a side (odd), ``span``: its half-width (null:
    the mode's default)."""

    type: Literal["landscape"]
    open: bool = True
    mode: Literal["random", "step", "weights"] = "random"
    a: LandscapeAxis | None = None
    b: LandscapeAxis | None = None
    size: int = Field(31, ge=7, le=61)
    span: Finite | None = Field(None, gt=0, le=1000)

    @model_validator(mode="after")
    def _slice(self) -> Landscape:
        if self.size % 2 == 0:
            raise ValueError("size must be odd, so that the current point is the grid's centre")
        if self.open and self.mode == "weights" and (self.a is None or self.b is None):
            raise ValueError("mode 'weights' needs the two entries 'a' and 'b'")
        return self


class LessonCommand(_Msg):
    """A lesson (``docs/lessons.md``): ``open`` step ``step`` of lesson ``id`` (its preset
    and change applied), ``check`` a ``prediction`` (a choice's id or a number) on the
    live numbers, ``do`` the step's action for the learner, or ``leave`` the lesson.
    ``lang`` is the language of the explanation in the answer."""

    type: Literal["lesson"]
    id: str | None = Field(None, max_length=48, pattern=r"^[a-z0-9][a-z0-9-]*$")
    step: int = Field(1, ge=1, le=100)
    action: Literal["open", "check", "do", "leave"] = "open"
    prediction: Annotated[str, Field(max_length=24)] | Finite | None = None
    lang: Literal["ja", "en"] = "en"

    @model_validator(mode="after")
    def _named(self) -> LessonCommand:
        if self.action != "leave" and self.id is None:
            raise ValueError(f"action {self.action!r} needs the lesson's 'id'")
        return self


# ---- playback: seek, set, branches, saved runs (see server/run/history.py) ---------------

class Set(Changes):
    """Change settings from the current point on; before the end of the run this
    starts a branch and keeps the old future."""

    type: Literal["set"]


class Seek(_Msg):
    """Go to phase ``phase`` of ``iteration`` (``phase`` null: the point after
    ``iteration`` whole iterations); clamped to the run so far."""

    type: Literal["seek"]
    iteration: int = Field(ge=0, le=100_000_000)
    phase: PhaseName | None = None


class Checkout(_Msg):
    """Switch to branch ``branch`` (ids from the ``timeline`` message)."""

    type: Literal["checkout"]
    branch: int = Field(ge=0, le=1_000_000)


class EditValue(_Msg):
    """One parameter entry set by hand (as the ``edit`` message)."""

    id: str = Field(max_length=32)
    index: Index = Field(max_length=2)
    value: Finite = Field(ge=-1e6, le=1e6)


class RunCommand(_Msg):
    """One logged change of a saved run: a ``set``, an ``edit`` or a ``learn`` (a drawing
    learned as a class: the next iteration's batch) at a position."""

    iteration: int = Field(ge=0, le=100_000_000)
    phase: PhaseName = "forward"
    set: Changes | None = None
    edit: EditValue | None = None
    learn: LearnValue | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RunCommand:
        if sum(v is not None for v in (self.set, self.edit, self.learn)) != 1:
            raise ValueError("a command holds exactly one of 'set', 'edit' or 'learn'")
        return self


class RunFork(_Msg):
    """Where a branch left its parent: before ``phase`` of ``iteration``."""

    iteration: int = Field(0, ge=0, le=100_000_000)
    phase: PhaseName = "forward"


class RunBranch(_Msg):
    """One branch of a saved run (version 2). Its command log is the first ``base``
    commands of its parent's, then ``commands``; replaying it for ``length``
    iterations gives back the branch bit for bit."""

    id: int = Field(ge=0, le=1_000_000)
    parent: int | None = Field(None, ge=0, le=1_000_000)
    fork: RunFork = RunFork()
    base: int = Field(0, ge=0, le=500)
    commands: tuple[RunCommand, ...] = Field((), max_length=500)
    length: int = Field(0, ge=0, le=100_000_000)
    end_phase: PhaseName = "forward"
    #: where the learner left this branch (a checkout goes back there)
    cursor: RunFork | None = None


class RunFile(_Msg):
    """A saved run: replaying ``commands`` on ``settings`` (seed included) for
    ``length`` iterations gives back every number bit for bit. Version 2 holds
    every branch instead (``branches``, and ``branch``: the one the learner was
    on); version 1 (one branch: ``commands``, ``length``) still loads. ``metrics``
    is for people and spreadsheets; a loaded run recomputes its own."""

    format: Literal["backprop-lab-run"]
    version: Literal[1, 2]
    settings: RunSettings
    commands: tuple[RunCommand, ...] = Field((), max_length=500)
    length: int = Field(0, ge=0, le=100_000_000)
    end_phase: PhaseName = "forward"
    branch: int | None = Field(None, ge=0, le=1_000_000)
    branches: tuple[RunBranch, ...] | None = Field(None, min_length=1, max_length=8)
    metrics: dict[str, list[Any]] | None = None
    #: where the learner was on ``branch``: the run opens there (after the phase)
    position: RunFork | None = None


class Load(_Msg):
    """Open a saved run (the content of a run file) to replay it."""

    type: Literal["load"]
    run: RunFile


ClientMessage = Annotated[
    Hello | Configure | Csv | Step | Play | Pause | Reset | Inspect | Focus | Edit | MapAxes
    | Draw | Learn
    | Set | Seek | Checkout | Load | Share | Fork | SwitchRun | Landscape | Series
    | LessonCommand,
    Field(discriminator="type"),
]
client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)

# ---- encoding ------------------------------------------------------------------------

_NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _finite_safe(obj: Any) -> Any:
    """Replace non-finite floats (and arrays holding them) by their string forms.

    ``obj`` itself when it holds none (a container is copied only on the way to one
    that changes): a message whose only nulls are ``None`` fields (a ``save``'s settings,
    a ``timeline``'s root branch, a metrics point's ``dead`` under tanh) costs a walk,
    not a rebuild, and a list of numbers one C-level sum (finite ⇔ every one is,
    unless the sum overflows, which takes the element-wise road)."""
    t = type(obj)
    if t is float:
        if obj - obj == 0.0:  # (finite: inf − inf and NaN − NaN are NaN)
            return obj
        return "NaN" if obj != obj else _NONFINITE[obj]
    if t is dict:
        out = None
        for k, v in obj.items():
            if type(v) in _PLAIN:
                continue
            w = _finite_safe(v)
            if w is not v:
                if out is None:
                    out = dict(obj)
                out[k] = w
        return obj if out is None else out
    if t is list or t is tuple:
        if obj and type(obj[0]) in _NUMBER:  # (a list of numbers, likely)
            try:
                total = sum(obj)
            except (TypeError, ValueError):  # (a string, None, a list among them)
                pass
            else:
                if type(total) in _NUMBER and total - total == 0:
                    return obj
        changed = False
        items = []
        for v in obj:
            w = v if type(v) in _PLAIN else _finite_safe(v)
            changed = changed or w is not v
            items.append(w)
        return items if changed else obj
    if isinstance(obj, float):  # (a float subclass: NumPy's float64)
        return _finite_safe(float(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind != "f" or np.isfinite(obj).all():
            return obj
        return _finite_safe(obj.tolist())
    if isinstance(obj, np.floating):
        return _finite_safe(float(obj))
    if isinstance(obj, dict):  # (a subclass: compact frames' CompactValues) as a dict
        return _finite_safe(dict(obj))
    if isinstance(obj, list | tuple):
        return _finite_safe(list(obj))
    return obj


#: types :func:`_finite_safe` passes by without a look
_PLAIN = frozenset({str, int, bool, type(None)})
_NUMBER = frozenset({int, float})


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode_bytes(msg: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """Serialize a server message (or a list of them) to UTF-8 JSON; non-finite
    numbers become strings.

    orjson writes every non-finite float (Python or NumPy) as ``null``, so text
    without ``null`` is known finite and goes out as is, and so is text whose
    every ``null`` is one of the message's top-level ``None`` fields (a ``state``
    while the run is not halted); only the others pay for the walk that spells
    non-finite values out.
    """
    out = orjson.dumps(msg, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    # every non-finite number, nested None or "null" inside a string adds a null to the
    # count, so an equal count proves there is no non-finite number
    if b"null" in out and (not isinstance(msg, dict)
                           or out.count(b"null") != sum(v is None for v in msg.values())):
        out = orjson.dumps(_finite_safe(msg), default=_default,
                           option=orjson.OPT_SERIALIZE_NUMPY)
    return out


def encode(msg: dict[str, Any]) -> str:
    """:func:`encode_bytes` as text."""
    return encode_bytes(msg).decode()


def server_message(type_: str, **fields: Any) -> dict[str, Any]:
    """A server → client message dict tagged with ``type``."""
    return {"type": type_, **fields}
