"""One iteration of a run as a Jupyter notebook (nbformat 4): the NumPy script of
:mod:`server.run.export_script`, one code cell per phase, each after a markdown
cell that explains the phase in the learner's language (Japanese or English).

Run top to bottom, the last cell prints ``agrees`` when the notebook's numbers
agree with the ones the page showed. No I/O here.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from server.run.export_script import TOLERANCE, sections
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
        "en": f"The last line says `agrees` when every number is within {TOLERANCE:g} "
              "(relative) of what the page showed. Change a number above and run again: "
              "it will say which ones differ.",
        "ja": f"すべての数値がページの表示と相対誤差 {TOLERANCE:g} 以内で一致すれば、"
              "最後の行に `agrees` と表示されます。上のセルの数値を変えて実行し直すと、"
              "どれが食い違うか教えてくれます。",
    },
}

TITLE = {
    "en": "# Backprop Lab: iteration {i} of your run, by hand\n\n"
          "Run the cells in order (Run All). Each phase of the iteration the page showed "
          "is computed here with NumPy only, with the same formulas as the inspector.",
    "ja": "# Backprop Lab：あなたの実行の {i} 回目の反復を手で計算する\n\n"
          "セルを上から順に実行してください（すべて実行）。ページで見た反復の各段階を、"
          "インスペクタと同じ式で NumPy だけを使って計算します。",
}


def notebook(cap: Capture, lang: str = "en") -> str:
    """The notebook as JSON text (nbformat 4), explained in ``lang`` (``ja`` or ``en``)."""
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
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return str(nbformat.writes(nb))
