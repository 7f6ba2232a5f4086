"""One iteration of a run as a Jupyter notebook (nbformat 4) in two parts: the NumPy
script of :mod:`server.run.export_script`, then the same iteration with PyTorch
(:mod:`server.run.export_torch`), one code cell per phase, each after a markdown
cell that explains the phase in the learner's language (Japanese or English).

Run top to bottom, each part's last cell prints ``agrees`` when its numbers agree
with the ones the page showed. The PyTorch cells run only where torch can be
imported: without it they do nothing and the notebook's last line says, in the
learner's language, that the PyTorch part needs torch and was not run. No I/O here.
"""

from __future__ import annotations

import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from server.run.export_script import TOLERANCE, Section, sections
from server.run.export_torch import differences, torch_sections
from server.run.stepcapture import Capture

LANGS = ("ja", "en")

#: what each phase does, a little more than the script's one line, per language
MORE: dict[str, dict[str, str]] = {
    "forward": {
        "en": "For each layer $l$: $z = a_{l-1} W_l + b_l$ (a row per sample), "
              "then $a_l = f(z)$. Run the cell and look at `y`, the output for the batch.",
        "ja": "各層 $l$ で $z = a_{l-1} W_l + b_l$（1 行が 1 サンプル）を求め、"
              "$a_l = f(z)$ を次の層へ渡します。セルを実行して、バッチに対する出力 `y` を"
              "見てみましょう。",
    },
    "loss": {
        "en": "$L = \\frac{1}{B}\\sum_i \\ell_i$ plus the regularization. "
              "`delta_out` is $\\partial L / \\partial z$ of the output layer: "
              "backward starts from it.",
        "ja": "$L = \\frac{1}{B}\\sum_i \\ell_i$ に正則化項を加えたものが損失です。"
              "`delta_out` は出力層の $\\partial L / \\partial z$ で、逆伝播はここから始まります。",
    },
    "backward": {
        "en": "$\\delta_l = \\partial L/\\partial z_l$; "
              "$\\partial L/\\partial W_l = a_{l-1}^\\top \\delta_l$, "
              "$\\partial L/\\partial b_l = \\sum_{\\text{batch}} \\delta_l$, and "
              "$\\delta_{l-1} = (\\delta_l W_l^\\top) \\odot f'(z_{l-1})$.",
        "ja": "$\\delta_l = \\partial L/\\partial z_l$ とすると "
              "$\\partial L/\\partial W_l = a_{l-1}^\\top \\delta_l$、"
              "$\\partial L/\\partial b_l = \\sum_{\\text{batch}} \\delta_l$、そして "
              "$\\delta_{l-1} = (\\delta_l W_l^\\top) \\odot f'(z_{l-1})$ です。",
    },
    "update": {
        "en": "The same rule as `torch.optim`, with the state it had before this step "
              "(momentum, Adam's $m$ and $v$ …) written in the cell.",
        "ja": "`torch.optim` と同じ更新式です。このステップの前の状態"
              "（モーメンタム、Adam の $m$ と $v$ など）はセルに書いてあります。",
    },
    "check": {
        "en": f"This cell's last line says `agrees` when every number is within "
              f"{TOLERANCE:g} (relative) of what the page showed. Change a number above and "
              "run again: it will say which ones differ.",
        "ja": f"すべての数値がページの表示と相対誤差 {TOLERANCE:g} 以内で一致すれば、"
              "このセルの最後の行に `agrees` と表示されます。上のセルの数値を変えて実行し直すと、"
              "どれが食い違うか教えてくれます。",
    },
}

TITLE = {
    "en": "# Backprop Lab: iteration {i} of your run, by hand\n\n"
          "Run the cells in order (Run All). First each phase of the iteration the page "
          "showed is computed with NumPy only, with the same formulas as the inspector; "
          "then the same iteration with PyTorch (autograd and `torch.optim`), which needs "
          "torch installed. Each part ends by checking its numbers against the page's.",
    "ja": "# Backprop Lab：あなたの実行の {i} 回目の反復を手で計算する\n\n"
          "セルを上から順に実行してください（すべて実行）。まず、ページで見た反復の各段階を、"
          "インスペクタと同じ式で NumPy だけを使って計算します。次に同じ反復を PyTorch"
          "（autograd と `torch.optim`）で計算します。こちらには torch のインストールが必要です。"
          "どちらの部分も、最後に自分の数値をページの数値と照合します。",
}

#: the PyTorch part's heading and what it needs
TORCH_INTRO = {
    "en": "## The same iteration with PyTorch\n\n"
          "The same inputs (the cells above), now through `torch.nn`, autograd and "
          "`torch.optim` with the optimizer's state and the schedule's step the run had, "
          "in float64. This part needs PyTorch (`pip install torch`); without it the cells "
          "below do nothing and the last one says so.",
    "ja": "## 同じ反復を PyTorch で\n\n"
          "上のセルと同じ入力を、今度は `torch.nn`・autograd・`torch.optim` で計算します"
          "（オプティマイザの状態とスケジュールのステップも実行と同じ、float64）。"
          "この部分には PyTorch が必要です（`pip install torch`）。入っていなければ下のセルは"
          "何もせず、最後のセルがそのことを知らせます。",
}

#: before the list of what the PyTorch code does on purpose in another way
DIFFER_HEAD = {
    "en": "Where the code below does not make the obvious PyTorch call, on purpose "
          "(a comment says so beside the line):",
    "ja": "下のコードが、わざと PyTorch のいちばん素直な呼び方をしていない箇所"
          "（その行の横にコメントがあります）：",
}

#: the notebook's last line where torch cannot be imported
NOT_RUN = {
    "en": "PyTorch part not run: torch is not installed "
          "(pip install torch, then run the PyTorch cells again).",
    "ja": "PyTorch の部分は実行していません：torch がインストールされていないためです"
          "（pip install torch でインストールしてから、PyTorch のセルをもう一度"
          "実行してください）。",
}


def _import_cell(lang: str) -> str:
    return f"""# the PyTorch part needs torch: without it the cells below do nothing
import warnings

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    HAVE_TORCH = False
    print({NOT_RUN[lang]!r})
else:
    HAVE_TORCH = True
    torch.set_default_dtype(torch.float64)
    print('torch', torch.__version__)"""


def _guarded(s: Section, lang: str) -> str:
    """A PyTorch cell's code, run only where torch was imported (the last one says
    otherwise that the part was not run)."""
    code = "if HAVE_TORCH:\n" + textwrap.indent(s.code.rstrip("\n"), "    ")
    if s.key == "torch-check":
        code += f"\nelse:\n    print({NOT_RUN[lang]!r})"
    return code


def notebook(cap: Capture, lang: str = "en") -> str:
    """The notebook as JSON text (nbformat 4), explained in ``lang`` (``ja`` or ``en``):
    the NumPy part, then the PyTorch part (see the module docstring)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}")
    cells = [new_markdown_cell(TITLE[lang].format(i=cap.number))]
    for s in sections(cap):
        text = f"## {s.title[lang]}\n\n{s.text[lang]}"
        more = MORE.get(s.key)
        if more is not None:
            text += "\n\n" + more[lang]
        cells.append(new_markdown_cell(text))
        cells.append(new_code_cell(s.code.rstrip("\n")))
    intro = TORCH_INTRO[lang]
    notes = differences(cap)
    if notes:
        intro += "\n\n" + DIFFER_HEAD[lang] + "\n\n" + "\n".join(f"- {d[lang]}" for d in notes)
    cells.append(new_markdown_cell(intro))
    cells.append(new_code_cell(_import_cell(lang)))
    for s in torch_sections(cap):
        cells.append(new_markdown_cell(f"## {s.title[lang]}\n\n{s.text[lang]}"))
        cells.append(new_code_cell(_guarded(s, lang)))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return str(nbformat.writes(nb))
