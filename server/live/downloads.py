"""What a learner downloads of its run, built from the session: the run file, CSVs
of its metrics and weights (docs/protocol.md, "Run files and downloads"), and an
iteration as a script or notebook to check it by hand (docs/server.md, "Check it
yourself").

Each builder is a generator run on the engine thread, a piece per turn, that
returns ``(body, file name)``: :mod:`server.routes.export` serves it for a session
of this process, and :mod:`server.live.relay` for a session another worker asked
about (its page's request landed there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator

import orjson

from server.live.session import Session
from server.protocol import encode
from server.run.export_notebook import notebook
from server.run.export_script import numpy_script
from server.run.export_torch import torch_script
from server.run.runfile import metrics_csv, run_file, weights_csv
from server.run.stepcapture import capture_at

Built = Generator[None, None, tuple[str, str]]


def run_json(s: Session) -> Built:
    """The run file: every branch, replaying bit-identically (opened on the active one)."""
    body = encode(run_file(s.history))
    yield
    # re-indent for people reading the file; numbers keep their exact repr
    pretty = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    return pretty, f"backprop-lab-{s.history.head[0]}-iterations.json"


def metrics(s: Session) -> Built:
    """The sampled metrics of the active branch."""
    return (yield from metrics_csv(s.history)), "backprop-lab-metrics.csv"


def weights(s: Session) -> Built:
    """The weights and biases at the current point of the run (of one iteration, though
    the file is built in pieces)."""
    iteration = s.stepper.iteration
    body = yield from weights_csv(s.stepper)
    return body, f"backprop-lab-weights-{iteration}.csv"


#: each download by its path under ``/runs/``: (builder, media type)
DOWNLOADS: dict[str, tuple[Callable[[Session], Built], str]] = {
    "run.json": (run_json, "application/json"),
    "metrics.csv": (metrics, "text/csv; charset=utf-8"),
    "weights.csv": (weights, "text/csv; charset=utf-8"),
}


def step_file(iteration: int, kind: str, lang: str) -> Callable[[Session], Built]:
    """Iteration ``iteration`` of the active branch, captured without moving the session,
    as a NumPy script that checks itself (``kind`` ``py``,
    :mod:`server.run.export_script`), the same with PyTorch (``torch``,
    :mod:`server.run.export_torch`) or a notebook (``ipynb``,
    :mod:`server.run.export_notebook`), each explained in ``lang``."""
    def build(s: Session) -> Built:
        cap = yield from capture_at(s.history, iteration)
        yield
        if kind == "ipynb":
            return notebook(cap, lang), f"backprop-lab-step-{cap.number}-{lang}.ipynb"
        tail = "" if lang == "en" else f"-{lang}"  # (an English script's name as before)
        if kind == "torch":
            return torch_script(cap, lang), f"backprop-lab-step-{cap.number}-torch{tail}.py"
        return numpy_script(cap, lang), f"backprop-lab-step-{cap.number}{tail}.py"
    return build


#: the downloads of one iteration: ``step-<i>.py`` (NumPy), ``step-<i>-torch.py`` (their
#: explanations in English, or in Japanese as ``step-<i>-ja.py``, ``step-<i>-torch-ja.py``),
#: ``step-<i>-<ja|en>.ipynb``
_STEP = re.compile(r"step-(\d{1,9})(?:(-torch)?(?:-(ja))?\.(py)|-(ja|en)\.(ipynb))")
_MEDIA = {"py": "text/x-python; charset=utf-8", "torch": "text/x-python; charset=utf-8",
          "ipynb": "application/x-ipynb+json"}


def find_download(name: str) -> tuple[Callable[[Session], Built], str] | None:
    """The builder and media type of the download called ``name``: one of
    :data:`DOWNLOADS`, or an iteration's script or notebook; None if there is no such
    download."""
    found = DOWNLOADS.get(name)
    if found is not None:
        return found
    m = _STEP.fullmatch(name)
    if m is None:
        return None
    i, torch, script_lang, py, notebook_lang, _ = m.groups()
    kind = ("torch" if torch else "py") if py else "ipynb"
    return step_file(int(i), kind, script_lang or notebook_lang or "en"), _MEDIA[kind]
