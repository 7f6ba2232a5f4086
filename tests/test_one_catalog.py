"""One catalog: the lists of choices live in ``engine/catalog.py`` and nowhere else.

The server validates against it and the page builds its controls, address-bar
state and timeline from what ``GET /api/catalog`` sends. A list of optimizers,
activations, datasets, … written again in the server, the page's scripts or its
template is a second copy that drifts: these tests find one by its string
literals. The page's labels (``static/js/strings-ja.js`` and ``strings-en.js``, keyed by
catalog name) are the one allowed exception.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import catalog

ROOT = Path(__file__).resolve().parents[1]
#: where a copy would be: the server, the page's scripts, its template
SCANNED = [*(ROOT / "server").rglob("*.py"), *(ROOT / "static" / "js").rglob("*.js"),
           *(ROOT / "templates").rglob("*.html")]
#: the labels, keyed by catalog name; and the "check it yourself" scripts' code, bound to
#: each name as the engine's modules bind theirs (tests/server/test_export_step.py fails
#: when a catalog name has no code there)
ALLOWED = {ROOT / "static" / "js" / f"strings-{lang}.js" for lang in ("ja", "en")} | {
    ROOT / "server" / "run" / f"{m}.py" for m in ("export_script", "export_torch",
                                                  "script_formulas")}
#: every list the catalog holds: its sections, and the optimizers' hyper-parameters and
#: state buffers and the schedules' parameters
LISTS: dict[str, tuple[str, ...]] = {
    **{s: catalog.names(s) for s in ("optimizers", "activations", "losses", "initializers",
                                     "schedules", "datasets", "features", "norms")},
    "optimizer parameters": tuple(dict.fromkeys(
        p.name for o in catalog.OPTIMIZERS for p in o.params)),
    "optimizer states": tuple(dict.fromkeys(s.name for o in catalog.OPTIMIZERS for s in o.state)),
    "schedule parameters": tuple(p.name for p in catalog.SCHEDULE_PARAMS),
}
#: how many of a list's names together make a copy: two optimizers ('sgd' and 'adamw');
#: three of the others, whose names include everyday words a file may use once or twice
#: for its own reasons ('step', 'batch', 'layer', 'circle', 'normal', 'alpha', 'sum')
TOGETHER = {"optimizers": 2}
LITERAL = re.compile(r"""(["'`])((?:\\.|(?!\1).)*?)\1""")
#: an object's unquoted key in JavaScript (``{ sgd: [...], x1: 'x₁' }``)
KEY = re.compile(r"(?:^|[{,])\s*([A-Za-z_$][\w$]*)\s*:(?!:)")


def literals(text: str) -> set[str]:
    """Every one-line string literal in ``text`` (Python, JavaScript or HTML attributes)
    and every unquoted object key: the ways a name can be written down as data."""
    out = set()
    for line in text.splitlines():
        out |= {m.group(2) for m in LITERAL.finditer(line)}
        out |= {m.group(1) for m in KEY.finditer(line)}
    return out


def copies(text: str) -> dict[str, list[str]]:
    """The catalog's lists ``text`` writes again, with the names it spells out."""
    found = literals(text)
    out = {}
    for what, all_names in LISTS.items():
        names = [n for n in all_names if n in found]
        if len(names) >= min(TOGETHER.get(what, 3), len(all_names)):
            out[what] = names
    return out


def test_no_other_file_lists_the_catalogs_choices() -> None:
    assert len(SCANNED) > 40  # the scan sees the server, the scripts and the template
    found = {str(p.relative_to(ROOT)): c for p in SCANNED if p not in ALLOWED
             if (c := copies(p.read_text()))}
    assert found == {}, ("lists of choices written again outside engine/catalog.py (take them "
                         f"from the catalog instead): {found}")


@pytest.mark.parametrize("copy", [
    # what server/protocol.py and the page's scripts held before there was one catalog
    'name: Literal["sgd", "rmsprop", "adagrad", "adam", "adamw"] = "sgd"',
    "const OPTIMIZERS = ['sgd', 'rmsprop', 'adagrad', 'adam', 'adamw'];",
    "sgd: ['momentum', 'dampening'],\n  adamw: ['beta1', 'beta2'],",
    "const ACTIVATIONS = Object.freeze(['sigmoid', 'tanh', 'relu', 'leaky_relu']);",
    "const REGRESSION = ['sine', 'plane', 'single'];",
    "FEATURE_TEXT = { x1: 'x₁', x2: 'x₂', 'x1^2': 'x₁²' }",
    "['norm', 'select', ['none', 'batch', 'layer']],",
    "loss: Literal[\"auto\", \"mse\", \"bce\", \"cross_entropy\"] = \"auto\"",
    "['schedule.name', 'select', ['constant', 'step', 'exponential', 'cosine']],",
    "init: Literal['zeros', 'constant', 'uniform', 'normal']",
    "{ name: 'momentum', path: 'optimizer.momentum' }, { name: 'eps', path: 'optimizer.eps' },"
    " { name: 'beta1', path: 'optimizer.beta1' }",
    "step: ['step_size', 'gamma'], cosine: ['t_max', 'eta_min']",
])
def test_the_scan_finds_a_copy(copy: str) -> None:
    assert copies(copy), copy


def test_one_name_or_an_everyday_word_is_not_a_copy() -> None:
    assert copies("if (name === 'custom') return; const c = h('circle');") == {}
    assert copies("mode === 'batch' ? 'layer' : null; msg.loss === 'mse'") == {}
