"""One iteration of a run as a standalone NumPy script a learner runs to check it.

The script needs NumPy only. It holds the iteration's inputs (weights before
the forward pass, the batch, the dropout mask, the optimizer's state, the
schedule's step, every setting), runs forward → loss → backward → update
written out by hand with the engine's formulas (engine/model.py,
engine/losses.py, engine/optim.py, engine/schedules.py; docs/engine.md), prints
the loss, the gradients and the new weights, and ends by comparing them with
the numbers the page showed (the engine's, embedded): ``agrees`` when every one
is within 1e-9 of the engine's, relative to the largest magnitude of its
array, else ``differs: …`` naming which.

The code is written for the configuration at hand: only the activations,
norms, loss, optimizer and schedule the run uses appear. :func:`sections` gives
the script phase by phase, each with a short explanation in Japanese and
English (the notebook, :mod:`server.run.export_notebook`, is built from them);
:func:`numpy_script` joins them into one file. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from server.run.script_formulas import (
    ACTIVATION_CODE,
    SIGMOID,
    TOLERANCE,
    arr,
    arrays,
    num,
    optimizer_code,
    schedule_code,
    shown_code,
)
from server.run.script_text import columns, wrapped
from server.run.stepcapture import Capture

Array = np.ndarray

@dataclass(frozen=True)
class Section:
    """One phase of the script: a title and an explanation per language, and its code."""

    key: str
    title: dict[str, str]
    text: dict[str, str]
    code: str


def _act_name(name: str) -> str:
    return "swish" if name == "silu" else name


def _uses(cap: Capture) -> dict[str, bool]:
    layers = cap.spec.layers
    return {
        "batch": any(ls.norm == "batch" for ls in layers),
        "layer": any(ls.norm == "layer" for ls in layers),
        "dropout": any(ls.dropout > 0 for ls in layers),
        "residual": any(ls.residual for ls in layers),
    }


def _hidden_acts(cap: Capture) -> list[str]:
    spec = cap.spec
    names = [_act_name(ls.activation) for ls in spec.layers[:-1]]
    out = spec.output_activation()
    if spec.loss == "mse":
        names.append(_act_name(out))
    return list(dict.fromkeys(names))


def _t(en: str, ja: str) -> dict[str, str]:
    return {"en": en, "ja": ja}


def settings_section(cap: Capture) -> Section:
    spec = cap.spec
    c = cap.config
    rows = []
    for l, ls in enumerate(spec.layers, start=1):
        act = spec.output_activation() if l == len(spec.layers) else ls.activation
        rows.append(
            f"    {{'units': {ls.units}, 'activation': {_act_name(act)!r}, "
            f"'alpha': {num(ls.alpha)}, 'norm': {ls.norm!r}, 'dropout': {num(ls.dropout)}, "
            f"'residual': {ls.residual}}},   # layer {l}")
    code = f"""import numpy as np

ITERATION = {cap.iteration}   # iterations before this one: the schedule's step
LOSS = {spec.loss!r}
N_IN = {spec.n_in}
#: one dense layer per row, layer 1 first (the last is the output layer)
LAYERS = [
{chr(10).join(rows)}
]
NORM_EPS = 1e-05      # ε of batch and layer norm, as PyTorch's default
L1 = {num(c.l1)}    # λ₁: L1 penalty on the weights W (not the biases)
L2 = {num(c.l2)}    # λ₂: L2 penalty on the weights W
"""
    if penalty_changed(cap):
        l1, l2 = cap.loss_penalty
        code += ("# λ₁ and λ₂ were changed after this iteration's loss phase: its loss used\n"
                 "# these, its backward pass the ones above\n"
                 f"L1_AT_LOSS, L2_AT_LOSS = {num(l1)}, {num(l2)}\n")
    return Section(
        "settings", _t("Settings", "設定"),
        _t(f"The network and the settings of iteration {cap.number} of your run. "
           "A dense layer computes z = a_prev @ W + b, then a = f(z).",
           f"あなたの実行の {cap.number} 回目の反復で使われたネットワークと設定です。"
           "全結合層は z = a_prev @ W + b を計算し、a = f(z) を出力します。"),
        code)


def inputs_section(cap: Capture) -> Section:
    u = _uses(cap)
    parts = [
        "# the mini-batch of this iteration: x (B, n_in), targets t (B, K)",
        f"x = {arr(cap.x, 0)}",
        f"t = {arr(cap.t, 0)}",
        "",
        "# the weights before this iteration's forward pass",
        f"params = {arrays(cap.params)}",
    ]
    if u["batch"]:
        parts += ["", "# batch norm's running statistics (used only for a batch of one)",
                  f"running = {arrays(cap.buffers)}"]
    if u["dropout"]:
        rows = "\n".join(f"    {l}: {arr(m, 4)}," for l, m in cap.keep.items())
        parts += ["", "# dropout: which units this iteration kept (1) or dropped (0), per layer",
                  "keep = {\n" + rows + "\n}"]
    return Section(
        "inputs", _t("The numbers going in", "入力される数値"),
        _t("The mini-batch the run drew for this iteration and the weights before it"
           + (", and which units dropout kept" if u["dropout"] else "") + ".",
           "この反復で引かれたミニバッチと、反復の前の重みです"
           + ("（ドロップアウトで残ったユニットも）" if u["dropout"] else "") + "。"),
        "\n".join(parts) + "\n")


def _functions(cap: Capture) -> Section:
    spec = cap.spec
    acts = _hidden_acts(cap)
    code = [SIGMOID, *(ACTIVATION_CODE[a] for a in acts)]
    table = ", ".join(f"{a!r}: (f_{a}, df_{a})" for a in acts)
    code.append(f"ACTIVATIONS = {{{table}}}\n")
    if spec.loss == "cross_entropy":
        code.append('''
def softmax(z):
    """softmax over each row, the row's max subtracted first (same value, no overflow)"""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
''')
    return Section(
        "functions", _t("Activation functions", "活性化関数"),
        _t("Each activation f with its derivative f′ beside it: backward multiplies by f′.",
           "各活性化関数 f と、その導関数 f′ です。逆伝播では f′ を掛けます。"),
        "\n\n".join(code))


def _forward(cap: Capture) -> Section:
    u = _uses(cap)
    loss = cap.spec.loss
    L = [
        "def forward(params, x):",
        '    """Every layer in order; keeps what backward needs (a_prev, z, zn, h, a …)."""',
        "    caches = []",
        "    a = x",
        "    for l, layer in enumerate(LAYERS, start=1):",
        "        output = l == len(LAYERS)",
        "        z = a @ params[f'L{l}.W'] + params[f'L{l}.b']     # z = a_prev W + b",
        "        c = {'a_prev': a, 'z': z, 'zn': z}",
    ]
    if u["batch"]:
        L += [
            "        if layer['norm'] == 'batch':",
            "            # batch norm: each unit over the batch",
            "            # (a batch of one uses the running statistics)",
            "            if z.shape[0] > 1:",
            "                mean, var = z.mean(axis=0), z.var(axis=0)",
            "            else:",
            "                mean = running[f'L{l}.running_mean']",
            "                var = running[f'L{l}.running_var']",
            "            c['inv_std'] = 1.0 / np.sqrt(var + NORM_EPS)",
            "            c['u'] = (z - mean) * c['inv_std']              # u = (z − μ)/σ",
            "            c['zn'] = params[f'L{l}.gamma'] * c['u'] + params[f'L{l}.beta']",
        ]
    if u["layer"]:
        L += [
            "        if layer['norm'] == 'layer':",
            "            # layer norm: each sample over the layer's units",
            "            mean = z.mean(axis=1, keepdims=True)",
            "            var = z.var(axis=1, keepdims=True)",
            "            c['inv_std'] = 1.0 / np.sqrt(var + NORM_EPS)",
            "            c['u'] = (z - mean) * c['inv_std']              # u = (z − μ)/σ",
            "            c['zn'] = params[f'L{l}.gamma'] * c['u'] + params[f'L{l}.beta']",
        ]
    if loss == "bce":
        L += [
            "        if output:",
            "            # sigmoid output for bce: σ(z) = e^(z − softplus(z)), the stable form",
            "            h = np.exp(z - np.logaddexp(0.0, z))",
            "        else:",
            "            f, _ = ACTIVATIONS[layer['activation']]",
            "            h = f(c['zn'], layer['alpha'])",
        ]
    elif loss == "cross_entropy":
        L += [
            "        if output:",
            "            h = softmax(z)                                 # softmax output",
            "        else:",
            "            f, _ = ACTIVATIONS[layer['activation']]",
            "            h = f(c['zn'], layer['alpha'])",
        ]
    else:
        L += [
            "        f, _ = ACTIVATIONS[layer['activation']]",
            "        h = f(c['zn'], layer['alpha'])                    # h = f(z)",
        ]
    L.append("        c['h'] = h")
    if u["dropout"]:
        L += [
            "        if layer['dropout'] > 0:",
            "            # inverted dropout: kept units scaled by 1/(1 − p), dropped ones 0",
            "            c['mask'] = keep[l] / (1.0 - layer['dropout'])",
            "            h = h * c['mask']",
        ]
    if u["residual"]:
        L += [
            "        a = h + a if layer['residual'] else h            # residual: a = h + a_prev",
        ]
    else:
        L.append("        a = h")
    L += [
        "        c['a'] = a",
        "        caches.append(c)",
        "    return caches",
        "",
        "",
        "caches = forward(params, x)",
        "y = caches[-1]['a']          # the network's output (B, K)",
        "print('output y =')",
        "print(y)",
    ]
    return Section(
        "forward", _t("Forward pass", "順伝播"),
        _t("The batch flows through the layers: z = a_prev W + b, "
           + ("then the norm, " if u["batch"] or u["layer"] else "")
           + "a = f(z)" + (", dropout's mask" if u["dropout"] else "")
           + (", plus a_prev where the layer is residual" if u["residual"] else "") + ".",
           "バッチが層を順に流れます。z = a_prev W + b"
           + "、正規化" * (u["batch"] or u["layer"]) + "、a = f(z)"
           + "、ドロップアウトのマスク" * u["dropout"]
           + "、残差接続では a_prev を足す" * u["residual"] + "。"),
        "\n".join(L) + "\n")


def penalty_changed(cap: Capture) -> bool:
    """Whether λ₁ or λ₂ changed between the iteration's loss and backward phases."""
    return cap.loss_penalty != (cap.config.l1, cap.config.l2)


def _loss(cap: Capture) -> Section:
    loss = cap.spec.loss
    l1, l2 = ("L1_AT_LOSS", "L2_AT_LOSS") if penalty_changed(cap) else ("L1", "L2")
    L = ["B = x.shape[0]", "z_out = caches[-1]['z']"]
    if loss == "mse":
        out = _act_name(cap.spec.output_activation())
        L += [
            "# mse: ℓ = ½ Σ_k (y_k − t_k)² per sample; ∂L/∂y = (y − t)/B",
            "per_sample = 0.5 * ((y - t) ** 2).sum(axis=1)",
            "dL_dy = (y - t) / B",
        ]
        if out == "linear":
            L.append("delta_out = dL_dy                      # linear output: δ = ∂L/∂y")
        else:
            L += [
                "_, df_out = ACTIVATIONS[LAYERS[-1]['activation']]",
                "# δ = (y − t)/B ⊙ f'(z)",
                "delta_out = dL_dy * df_out(z_out, y, LAYERS[-1]['alpha'])",
            ]
    elif loss == "bce":
        L += [
            "# bce: ℓ = Σ_k softplus(z_k) − t_k z_k (= −t log y − (1 − t) log(1 − y), no log 0)",
            "per_sample = (np.logaddexp(0.0, z_out) - t * z_out).sum(axis=1)",
            "delta_out = (y - t) / B                # sigmoid and bce together: δ = (y − t)/B",
        ]
    else:
        L += [
            "# cross-entropy: ℓ = logsumexp(z) − Σ_k t_k z_k (the row's max m taken out first)",
            "m = z_out.max(axis=1, keepdims=True)",
            "lse = np.log(np.exp(z_out - m).sum(axis=1))     # logsumexp(z) − m",
            "per_sample = lse + (m[:, 0] - (t * z_out).sum(axis=1))",
            "# softmax and cross-entropy together: δ = (y − t)/B",
            "delta_out = (y - t) / B",
        ]
    L += [
        "loss = per_sample.mean()                # L = (1/B) Σ_i ℓ_i",
        "weights = [params[f'L{l}.W'] for l in range(1, len(LAYERS) + 1)]",
        "# regularization: λ₁ Σ|W| + (λ₂/2) Σ W² over every layer's W",
        f"reg = sum({l1} * np.abs(W).sum() + 0.5 * {l2} * (W * W).sum() for W in weights)",
        "print('loss =', loss, ' regularization =', reg)",
    ]
    return Section(
        "loss", _t("Loss", "損失"),
        _t("The loss of each sample, averaged over the batch, and ∂L/∂z of the output layer "
           "(the δ backward starts from).",
           "サンプルごとの損失をバッチで平均し、出力層の ∂L/∂z（逆伝播の出発点 δ）を求めます。"),
        "\n".join(L) + "\n")


def _backward(cap: Capture) -> Section:
    u = _uses(cap)
    norm = u["batch"] or u["layer"]
    L = [
        "def backward(params, caches, delta_out):",
        '    """The chain rule from the output back: dW = a_prevᵀ δ, db = Σ_batch δ,',
        '    ∂L/∂a_prev = δ Wᵀ, and through each layer δ = ∂L/∂a ⊙ f\'(z)."""',
        "    grads = {}",
        "    da = None",
        "    for l in range(len(LAYERS), 0, -1):",
        "        layer, c = LAYERS[l - 1], caches[l - 1]",
        "        if da is None:",
        "            delta = delta_out                     # the output layer: from the loss",
        "        else:",
        "            dh = da",
    ]
    if u["dropout"]:
        L += ["            if layer['dropout'] > 0:",
              "                dh = dh * c['mask']        # dropped units pass nothing back"]
    L += [
        "            _, df = ACTIVATIONS[layer['activation']]",
        "            dzn = dh * df(c['zn'], c['h'], layer['alpha'])   # ∂L/∂z = ∂L/∂a ⊙ f'(z)",
        "            delta = dzn",
    ]
    if norm:
        L += [
            "            if layer['norm'] != 'none':",
            "                grads[f'L{l}.gamma'] = (dzn * c['u']).sum(axis=0)",
            "                grads[f'L{l}.beta'] = dzn.sum(axis=0)",
            "                du = dzn * params[f'L{l}.gamma']",
            "                axis = 0 if layer['norm'] == 'batch' else 1",
        ]
        if u["batch"]:
            L += [
                "                if layer['norm'] == 'batch' and du.shape[0] == 1:",
                "                    delta = du * c['inv_std']      # fixed running statistics",
                "                else:",
                "                    # statistics depend on z:",
                "                    # δ = (du − mean(du) − u mean(du u))/σ",
                "                    m1 = du.mean(axis=axis, keepdims=True)",
                "                    m2 = (du * c['u']).mean(axis=axis, keepdims=True)",
                "                    delta = (du - m1 - c['u'] * m2) * c['inv_std']",
            ]
        else:
            L += [
                "                # statistics depend on z: δ = (du − mean(du) − u mean(du u))/σ",
                "                m1 = du.mean(axis=axis, keepdims=True)",
                "                m2 = (du * c['u']).mean(axis=axis, keepdims=True)",
                "                delta = (du - m1 - c['u'] * m2) * c['inv_std']",
            ]
    L += [
        "        W = params[f'L{l}.W']",
        "        # dW = a_prevᵀ δ, with the penalty's terms λ₁ sign(W) + λ₂ W",
        "        grads[f'L{l}.W'] = c['a_prev'].T @ delta + L1 * np.sign(W) + L2 * W",
        "        grads[f'L{l}.b'] = np.ones(len(delta)) @ delta   # db = Σ over the batch of δ",
        "        da_prev = delta @ W.T",
    ]
    if u["residual"]:
        L += ["        if layer['residual']:",
              "            da_prev = da_prev + da     # the skip path carries ∂L/∂a back too"]
    L += [
        "        da = da_prev",
        "    return grads",
        "",
        "",
        "grads = backward(params, caches, delta_out)",
        "for key in params:",
        "    print('dL/d' + key, '=')",
        "    print(grads[key])",
    ]
    return Section(
        "backward", _t("Backward pass", "逆伝播"),
        _t("The chain rule from the loss back to every weight: each layer's δ = ∂L/∂z gives "
           "dW = a_prevᵀ δ and db = Σ δ, and passes δ Wᵀ to the layer before.",
           "損失からすべての重みへ連鎖律をさかのぼります。各層の δ = ∂L/∂z から "
           "dW = a_prevᵀ δ と db = Σ δ が決まり、δ Wᵀ が一つ前の層へ渡ります。"),
        "\n".join(L) + "\n")


def _update(cap: Capture) -> Section:
    c = cap.update_config
    L: list[str] = []
    L += schedule_code(c.schedule, c.lr)
    L += ["", "", *optimizer_code(cap.opt_name, cap.opt_hyper, cap.opt_t), ""]
    L.append("# the optimizer's state before this step, per parameter")
    L.append("state = {")
    for k, st in cap.opt_state.items():
        inner = ", ".join(f"{n!r}: {arr(a, 8)}" for n, a in st.items())
        L.append(f"    {k!r}: {{{inner}}},")
    L.append("}")
    L += [f"CLIP_VALUE = {num(c.clip_value)}   # 0: off",
          f"CLIP_NORM = {num(c.clip_norm)}    # 0: off"]
    if cap.grad_sum is not None:
        L += ["# zero_grad() forgotten: p.grad still holds the gradients summed so far",
              f"grad_sum = {arrays(cap.grad_sum)}",
              "received = {k: g if k not in grad_sum else grad_sum[k] + g",
              "            for k, g in grads.items()}"]
    else:
        L.append("received = dict(grads)")
    L += ["if CLIP_VALUE > 0:   # clip_grad_value_: every entry into [−c, c]",
          "    received = {k: np.clip(g, -CLIP_VALUE, CLIP_VALUE) for k, g in received.items()}",
          "if CLIP_NORM > 0:    # clip_grad_norm_: all together to a global norm ≤ c",
          "    total = np.sqrt(sum((g * g).sum() for g in received.values()))",
          "    coef = CLIP_NORM / (total + 1e-6)",
          "    if coef < 1:",
          "        received = {k: g * coef for k, g in received.items()}"]
    if cap.update_params is not cap.params:
        L += ["# a weight was edited by hand during this iteration, before the update",
              f"params_before_update = {arrays(cap.update_params)}"]
    else:
        L.append("params_before_update = params")
    L += ["",
          "lr = learning_rate(ITERATION)",
          "new_params = {}",
          "for key, p in params_before_update.items():",
          "    new_params[key], state[key] = update(p, received[key], state.get(key, {}), lr)",
          "print('learning rate =', lr)",
          "for key in new_params:",
          "    print('new', key, '=')",
          "    print(new_params[key])"]
    return Section(
        "update", _t("Update", "更新"),
        _t(f"The optimizer ({cap.opt_name}) moves every parameter with the learning rate the "
           "schedule gives at this step"
           + (", after clipping the gradients" if c.clip_value > 0 or c.clip_norm > 0 else "")
           + ".",
           f"オプティマイザ（{cap.opt_name}）が、スケジュールがこのステップで与える学習率で"
           "すべてのパラメータを動かします"
           + ("（勾配をクリップしてから）" if c.clip_value > 0 or c.clip_norm > 0 else "")
           + "。"),
        "\n".join(L) + "\n")


def _check(cap: Capture) -> Section:
    code = shown_code(cap) + """

ours = {'loss': loss, 'regularization': reg, 'learning rate': lr}
ours.update({'dL/d' + k: g for k, g in grads.items()})
ours.update({'new ' + k: p for k, p in new_params.items()})
print(compare(ours))
"""
    return Section(
        "check", _t("Check against the page", "ページの数値と照合"),
        _t("The numbers the page showed, and whether ours agree with them "
           f"(within {TOLERANCE:g}, relative).",
           "ページに表示された数値と、ここで計算した数値が一致するか"
           f"（相対誤差 {TOLERANCE:g} 以内）を確かめます。"),
        code)


def sections(cap: Capture) -> list[Section]:
    """The script phase by phase: settings, inputs, functions, forward, loss, backward,
    update, check."""
    return [settings_section(cap), inputs_section(cap), _functions(cap), _forward(cap), _loss(cap),
            _backward(cap), _update(cap), _check(cap)]


def script(head: str, parts: list[Section], lang: str, code: Callable[[Section], str]
           ) -> str:
    """A script of ``parts`` under its docstring ``head``: each part's title and
    explanation in ``lang`` as comments, then its code (``code`` of the part)."""
    body = []
    for s in parts:
        title = s.title[lang]
        body.append(f"# ---- {title} " + "-" * max(4, 70 - columns(title)))
        body.append(wrapped(s.text[lang], lang, "# ", "# "))
        body.append(code(s))
    return head + "\n" + "\n\n".join(body)


def numpy_script(cap: Capture, lang: str = "en") -> str:
    """The whole script as one file (see the module docstring), its explanations in
    ``lang`` (``en`` or ``ja``; the code's own comments are English, as the notebook's)."""
    about = _t(
        "Runs forward, loss, backward and update with the formulas the inspector shows, "
        "prints the loss, the gradients and the new weights, and ends by saying whether "
        f"they agree with the numbers the page showed (within {TOLERANCE:g}, relative to "
        "each array's largest value). Needs only NumPy: python3 this_file.py",
        "インスペクタが示す式のとおりに順伝播・損失・逆伝播・更新を計算し、損失・勾配・新しい"
        "重みを表示して、最後にページに表示された数値と一致するか（各配列の最大の値に対する"
        f"相対誤差 {TOLERANCE:g} 以内）を伝えます。必要なのは NumPy だけです："
        "python3 this_file.py")
    title = _t(f"Backprop Lab: iteration {cap.number} of your run, by hand with NumPy.",
               f"Backprop Lab：あなたの実行の反復 {cap.number} を NumPy で手計算します。")
    head = f'"""{title[lang]}\n\n{wrapped(about[lang], lang)}\n"""\n'
    return script(head, sections(cap), lang, lambda s: s.code)
