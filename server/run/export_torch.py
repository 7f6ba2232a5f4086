"""One iteration of a run with PyTorch: ``torch.nn`` layers, autograd and
``torch.optim`` with the optimizer's state and the schedule's step the run had, in
float64, checking itself against the numbers the page showed as the NumPy script
does (:mod:`server.run.export_script`: the same inputs, the same ``compare`` and
``agrees`` line).

:func:`torch_sections` gives the PyTorch part phase by phase (model, forward and
loss, backward, update, check), each with a short explanation in Japanese and
English; :func:`torch_script` joins them, after the NumPy script's settings and
inputs, into a standalone file, and the notebook (:mod:`server.run.export_notebook`)
puts them after its NumPy part, guarded so that it runs to the end without torch.
Names on the PyTorch side end in ``_torch`` (or are ``net``, ``optimizer``) so that
in a notebook they never overwrite the NumPy part's.

Where a PyTorch call would give another number on purpose (docs/engine.md, "Where
the engine differs from PyTorch on purpose"), the code says so beside the line that
does it the engine's way (:func:`differences` lists them for a configuration): the
loss's sums, the dropout mask (the page's, not a new draw), softplus above 20, GELU's
tanh form, batch norm on a batch of one, the cosine schedule past T_max, L1/L2 as
terms of the loss. The bias of a layer followed by batch norm does not change the
loss (the norm subtracts it again): its gradient is rounding noise, which an
adaptive optimizer scales up to a whole step, so it is printed and not compared.
No I/O here.
"""

from __future__ import annotations

from server.run.export_script import (
    TOLERANCE,
    Section,
    inputs_section,
    penalty_changed,
    script,
    settings_section,
    shown_code,
)
from server.run.script_formulas import arr, arrays, num
from server.run.script_text import wrapped
from server.run.stepcapture import Capture

#: each activation as torch computes it (GELU in its tanh form, as the engine's)
TORCH_ACT = {
    "sigmoid": "torch.sigmoid(z)",
    "tanh": "torch.tanh(z)",
    "relu": "torch.relu(z)",
    "leaky_relu": "F.leaky_relu(z, negative_slope=alpha)",
    "elu": "F.elu(z, alpha=alpha)",
    "gelu": "F.gelu(z, approximate='tanh')",
    "swish": "F.silu(z)",
    "silu": "F.silu(z)",
    "softplus": "torch.logaddexp(z, torch.zeros_like(z))",
    "linear": "z",
}

#: why an activation's line is not the obvious torch call, written above it
TORCH_ACT_NOTE = {
    "softplus": ["# differs on purpose: F.softplus returns z itself above z = 20; the",
                 "# engine computes log(1 + e^z) exactly: logaddexp(z, 0)"],
    "gelu": ["# the engine's GELU is the tanh form: nn.GELU() defaults to the exact (erf)",
             "# one, so approximate='tanh' is asked for"],
}

#: each optimizer's torch.optim class
TORCH_OPT = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam",
             "adamw": "AdamW"}


def _t(en: str, ja: str) -> dict[str, str]:
    return {"en": en, "ja": ja}


def _uses(cap: Capture) -> set[str]:
    spec = cap.spec
    n = len(spec.layers)
    acts = {spec.output_activation() if l == n else ls.activation
            for l, ls in enumerate(spec.layers, start=1)}
    out: set[str] = {a for a in acts if a in TORCH_ACT_NOTE}
    if spec.loss == "mse":
        out.add("mse")
    if spec.loss == "bce" and spec.layers[-1].units > 1:
        out.add("bce-many")
    if any(ls.dropout > 0 for ls in spec.layers):
        out.add("dropout")
    if any(ls.norm == "batch" for ls in spec.layers):
        out.add("batchnorm")
        if len(cap.x) == 1:
            out.add("batch-of-one")
    s = cap.update_config.schedule
    if s.name != "constant" or s.warmup > 0:
        out.add("per-iteration")
    if s.name == "cosine":
        out.add("cosine")
    if cap.config.l1 or cap.config.l2 or any(cap.loss_penalty):
        out.add("penalty")
    if cap.grad_sum is not None:
        out.add("accumulate")
    return out


#: what differs on purpose from the obvious PyTorch call, by the feature that brings it
DIFFERENCES: dict[str, dict[str, str]] = {
    "mse": _t("the MSE loss is ½ Σₖ (yₖ − tₖ)² per sample, averaged over the batch: "
              "`F.mse_loss` would average (y − t)² over every element (the engine's × 2/K).",
              "MSE 損失は 1 サンプルあたり ½ Σₖ (yₖ − tₖ)² をバッチで平均したものです。"
              "`F.mse_loss` は全要素の (y − t)² の平均なので、値が 2/K 倍になります。"),
    "bce-many": _t("the BCE loss is summed over the outputs of a sample, averaged over the "
                   "batch: `F.binary_cross_entropy_with_logits`'s mean would average over "
                   "every element.",
                   "BCE 損失は 1 サンプルの出力について足し合わせ、バッチで平均します。"
                   "`F.binary_cross_entropy_with_logits` の平均は全要素で割ってしまいます。"),
    "softplus": _t("softplus is computed as log(1 + eᶻ) everywhere: `F.softplus` returns z "
                   "itself above z = 20.",
                   "softplus はどこでも log(1 + eᶻ) として計算します。`F.softplus` は "
                   "z > 20 で z そのものを返すからです。"),
    "gelu": _t("GELU is the tanh form, as the engine's: `approximate='tanh'` "
               "(`nn.GELU()` defaults to the exact erf form).",
               "GELU はエンジンと同じ tanh 近似の形です（`approximate='tanh'`。"
               "`nn.GELU()` の既定は erf を使う厳密な形です）。"),
    "dropout": _t("dropout uses the page's mask for this iteration: `nn.Dropout` would draw "
                  "a new one.",
                  "ドロップアウトはページがこの反復で使ったマスクをそのまま使います。"
                  "`nn.Dropout` だと新しいマスクを引いてしまうからです。"),
    "batchnorm": _t("the bias of a layer followed by batch norm does not change the loss (the "
                    "norm subtracts it again): its gradient is rounding noise, so it is "
                    "printed but not compared.",
                    "バッチ正規化の前の層のバイアスは損失を変えません（正規化で引き戻される）。"
                    "その勾配は丸め誤差だけなので、表示はしますが照合はしません。"),
    "batch-of-one": _t("a batch of one goes through batch norm with the running statistics "
                       "(eval mode): `BatchNorm1d` refuses it in training mode.",
                       "1 サンプルのバッチは移動平均の統計量でバッチ正規化します（eval モード）。"
                       "`BatchNorm1d` は訓練モードでは 1 サンプルを受け付けないためです。"),
    "per-iteration": _t("the schedule is stepped once per iteration (the page counts "
                        "iterations, not epochs).",
                        "スケジューラはエポックごとではなく反復ごとに 1 回進めます"
                        "（ページは反復を数えるため）。"),
    "cosine": _t("past T_max the learning rate stays at η_min: `CosineAnnealingLR` would "
                 "rise again.",
                 "T_max を過ぎると学習率は η_min のままです。`CosineAnnealingLR` は"
                 "そこから再び上がってしまいます。"),
    "penalty": _t("L1 and L2 are terms of the loss (λ₁ Σ|W| + λ₂/2 Σ W², weights W only), not "
                  "the optimizer's `weight_decay`, which is a setting of its own.",
                  "L1・L2 は損失に加える項です（重み W だけに λ₁ Σ|W| + λ₂/2 Σ W²）。"
                  "オプティマイザの `weight_decay` とは別の設定です。"),
    "accumulate": _t("`optimizer.zero_grad()` is forgotten on purpose: `p.grad` still holds "
                     "the gradients of every earlier iteration, and this one is added to them.",
                     "`optimizer.zero_grad()` をわざと呼んでいません。`p.grad` にはそれまでの"
                     "反復の勾配が残り、この反復の勾配がそこに足されます。"),
}


def differences(cap: Capture) -> list[dict[str, str]]:
    """Where the PyTorch code of ``cap`` does not make the obvious call, on purpose, and
    why, in Japanese and English (the notebook lists them; the code comments them)."""
    uses = _uses(cap)
    return [text for key, text in DIFFERENCES.items() if key in uses]


def _opt_kwargs(cap: Capture) -> str:
    h = dict(cap.opt_hyper)
    if cap.opt_name in ("adam", "adamw"):
        b1, b2 = h.pop("beta1"), h.pop("beta2")
        h_src = [f"betas=({num(float(b1))}, {num(float(b2))})"]
    else:
        h_src = []
    h_src += [f"{k}={v}" if isinstance(v, bool) else f"{k}={num(float(v))}"
              for k, v in h.items()]
    return ", ".join(h_src)


def _schedule(cap: Capture) -> list[str]:
    s = cap.update_config.schedule
    L = [f"BASE_LR = {num(cap.update_config.lr)}"]
    if s.name == "constant" and s.warmup == 0:
        return [*L, "lr_torch = BASE_LR"]
    sched = {
        "constant": "torch.optim.lr_scheduler.ConstantLR(sched_opt, factor=1.0, total_iters=0)",
        "step": f"torch.optim.lr_scheduler.StepLR(sched_opt, step_size={s.step_size}, "
                f"gamma={num(s.gamma)})",
        "exponential": f"torch.optim.lr_scheduler.ExponentialLR(sched_opt, "
                       f"gamma={num(s.gamma)})",
        "cosine": f"torch.optim.lr_scheduler.CosineAnnealingLR(sched_opt, T_max={s.t_max}, "
                  f"eta_min={num(s.eta_min)})",
    }[s.name]
    L += [
        "# the schedule, stepped once per iteration (the page counts iterations, not epochs)",
        "sched_param = torch.zeros(1, requires_grad=True)",
        "sched_opt = torch.optim.SGD([sched_param], lr=BASE_LR)",
        "with warnings.catch_warnings():   # stepped without optimizer.step(): only the rate",
        "    warnings.simplefilter('ignore')",
    ]
    if s.warmup > 0:
        L += [f"    warm = torch.optim.lr_scheduler.LinearLR(sched_opt, start_factor="
              f"{num(s.warmup_start)}, total_iters={s.warmup})",
              f"    sched = torch.optim.lr_scheduler.ChainedScheduler([warm, {sched}])"]
    else:
        L.append(f"    sched = {sched}")
    steps = "ITERATION"
    if s.name == "cosine":
        steps = f"min(ITERATION, {s.t_max})"
    L += [f"    for _ in range({steps}):", "        sched.step()",
          "lr_torch = sched_opt.param_groups[0]['lr']"]
    if s.name == "cosine":
        L += ["# differs on purpose: past T_max CosineAnnealingLR rises again; the engine",
              "# stays at eta_min (the annealing ends at the floor)",
              f"if ITERATION >= {s.t_max}:", f"    lr_torch = {num(s.eta_min)}"]
    return L


def _model(cap: Capture) -> Section:
    spec = cap.spec
    n = len(spec.layers)
    acts = sorted({(spec.output_activation() if l == n else ls.activation)
                   for l, ls in enumerate(spec.layers, start=1)} - {"softmax"})
    L = ["def torch_activation(name, z, alpha):", '    """f(z) by name, as torch computes it."""']
    for a in acts:
        L.append(f"    if name == {a!r}:")
        L += ["        " + line for line in TORCH_ACT_NOTE.get(a, [])]
        L.append(f"        return {TORCH_ACT[a]}")
    L.append("    raise ValueError(name)")
    code = "\n".join(L) + '''


class Net(torch.nn.Module):
    """The page's network: Linear (+ norm) + activation per layer, with the page's
    weights (torch.nn.Linear keeps weight = Wᵀ, (n_out, n_in); the page's W is
    (n_in, n_out))."""

    def __init__(self):
        super().__init__()
        sizes = [N_IN] + [layer['units'] for layer in LAYERS]
        self.linear = torch.nn.ModuleList()
        self.norm = torch.nn.ModuleList()
        for l, layer in enumerate(LAYERS, start=1):
            lin = torch.nn.Linear(sizes[l - 1], sizes[l])
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(params[f'L{l}.W'].T))
                lin.bias.copy_(torch.tensor(params[f'L{l}.b']))
            self.linear.append(lin)
            if layer['norm'] == 'batch':
                nrm = torch.nn.BatchNorm1d(sizes[l], eps=NORM_EPS, momentum=0.1)
                nrm.running_mean.copy_(torch.tensor(running[f'L{l}.running_mean']))
                nrm.running_var.copy_(torch.tensor(running[f'L{l}.running_var']))
            elif layer['norm'] == 'layer':
                nrm = torch.nn.LayerNorm(sizes[l], eps=NORM_EPS)
            else:
                nrm = torch.nn.Identity()
            if layer['norm'] != 'none':
                with torch.no_grad():
                    nrm.weight.copy_(torch.tensor(params[f'L{l}.gamma']))
                    nrm.bias.copy_(torch.tensor(params[f'L{l}.beta']))
            self.norm.append(nrm)

    def named(self):
        """Parameters under the page's ids (L1.W is linear[0].weight, transposed)."""
        out = {}
        for l in range(1, len(LAYERS) + 1):
            out[f'L{l}.W'] = self.linear[l - 1].weight
            out[f'L{l}.b'] = self.linear[l - 1].bias
            if LAYERS[l - 1]['norm'] != 'none':
                out[f'L{l}.gamma'] = self.norm[l - 1].weight
                out[f'L{l}.beta'] = self.norm[l - 1].bias
        return out

    def forward(self, x):
        """Returns the output layer's z (the logits) and y = its activation."""
        a = x
        for l, layer in enumerate(LAYERS, start=1):
            z = self.linear[l - 1](a)
            if l == len(LAYERS):
                if LOSS == 'cross_entropy':
                    return z, torch.softmax(z, dim=1)
                if LOSS == 'bce':
                    return z, torch.sigmoid(z)
                return z, torch_activation(layer['activation'], z, layer['alpha'])
            nrm = self.norm[l - 1]
            if layer['norm'] == 'batch' and z.shape[0] == 1:
                # differs on purpose: BatchNorm1d refuses a batch of one in training;
                # the engine uses the running statistics (eval mode) for it
                nrm.eval()
            zn = nrm(z)
            h = torch_activation(layer['activation'], zn, layer['alpha'])
            if layer['dropout'] > 0:
                # differs on purpose: torch.nn.Dropout would draw a new mask; this is
                # the page's (inverted dropout: kept units × 1/(1 − p))
                h = h * torch.tensor(keep[l]) / (1.0 - layer['dropout'])
            a = h + a if layer['residual'] else h
        raise AssertionError


net = Net().train()
params_torch = net.named()
'''
    return Section(
        "torch-model", _t("The network in PyTorch", "PyTorch でネットワークを作る"),
        _t("The same layers as torch.nn modules, holding the weights the page had before "
           "this iteration.",
           "同じ層を torch.nn のモジュールで組み、この反復の前にページが持っていた"
           "重みを入れます。"),
        code)


def _forward(cap: Capture) -> Section:
    loss = cap.spec.loss
    L = ["x_torch, t_torch = torch.tensor(x), torch.tensor(t)",
         "z_out_torch, y_torch = net(x_torch)"]
    if loss == "mse":
        L += ["# differs on purpose: ½ Σ_k (y_k − t_k)² per sample, mean over the batch",
              "# (F.mse_loss would average (y − t)² over every element: the engine's × 2/K)",
              "loss_torch = 0.5 * ((y_torch - t_torch) ** 2).sum(dim=1).mean()"]
    elif loss == "bce":
        L += ["# bce from the logits, summed over the outputs, mean over the batch (equal to",
              "# F.binary_cross_entropy_with_logits's mean for one output; differs on purpose",
              "# for several: that mean would divide by the outputs too)",
              "loss_torch = F.binary_cross_entropy_with_logits(",
              "    z_out_torch, t_torch, reduction='none').sum(dim=1).mean()"]
    else:
        L += ["# cross-entropy from the logits, t as class probabilities",
              "loss_torch = F.cross_entropy(z_out_torch, t_torch)"]
    L += ["",
          "",
          "def penalty_torch(l1, l2):",
          '    """λ₁ Σ|W| + (λ₂/2) Σ W² over every layer\'s W: a term of the loss (the',
          "    optimizer's weight_decay is a setting of its own)\"\"\"",
          "    return sum(l1 * p.abs().sum() + 0.5 * l2 * (p * p).sum()",
          "               for k, p in params_torch.items() if k.endswith('.W'))",
          "",
          "",
          "reg_torch = penalty_torch(L1, L2)"]
    if penalty_changed(cap):
        L += ["# λ₁ and λ₂ changed after the loss phase: the page's loss used the earlier ones",
              "reg_shown_torch = penalty_torch(L1_AT_LOSS, L2_AT_LOSS)"]
    else:
        L.append("reg_shown_torch = reg_torch")
    L.append("print('loss =', loss_torch.detach().item(), ' regularization =', "
             "reg_shown_torch.detach().item())")
    return Section(
        "torch-forward", _t("Forward pass and loss in PyTorch", "PyTorch で順伝播と損失"),
        _t("The batch through the network, and the loss with its regularization term.",
           "バッチをネットワークに通し、正則化項を含めた損失を求めます。"),
        "\n".join(L) + "\n")


def _backward(cap: Capture) -> Section:
    L = ["# autograd: ∂(loss + penalty)/∂p for every parameter",
         "grads_torch = dict(zip(params_torch, torch.autograd.grad(",
         "    loss_torch + reg_torch, list(params_torch.values()))))",
         "for k, g in grads_torch.items():",
         "    print('dL/d' + k, '=')",
         "    print(g.numpy().T if k.endswith('.W') else g.numpy())   # W in the page's layout",
         ""]
    if cap.grad_sum is not None:
        L += ["# optimizer.zero_grad() forgotten: loss.backward() adds this gradient to p.grad,",
              "# which still holds the sum of the earlier ones",
              f"grad_sum = {arrays(cap.grad_sum)}",
              "for k, p in params_torch.items():",
              "    g = grads_torch[k]",
              "    p.grad = g.clone() if k not in grad_sum else torch.tensor(",
              "        grad_sum[k].T if k.endswith('.W') else grad_sum[k]) + g"]
    else:
        L += ["for k, p in params_torch.items():",
              "    # what loss.backward() leaves after optimizer.zero_grad()",
              "    p.grad = grads_torch[k].clone()"]
    return Section(
        "torch-backward", _t("Backward pass in PyTorch", "PyTorch で逆伝播"),
        _t("Autograd finds every gradient: no chain rule written by hand this time.",
           "今度は連鎖律を手で書かず、autograd にすべての勾配を求めさせます。"),
        "\n".join(L) + "\n")


def _update(cap: Capture) -> Section:
    state_rows = []
    for k, st in cap.opt_state.items():
        inner = ", ".join(f"{nm!r}: {arr(a, 8)}" for nm, a in st.items())
        state_rows.append(f"    {k!r}: {{{inner}}},")
    L = [f"CLIP_VALUE, CLIP_NORM = {num(cap.update_config.clip_value)}, "
         f"{num(cap.update_config.clip_norm)}   # 0: off",
         "if CLIP_VALUE > 0:",
         "    torch.nn.utils.clip_grad_value_(list(params_torch.values()), CLIP_VALUE)",
         "if CLIP_NORM > 0:",
         "    torch.nn.utils.clip_grad_norm_(list(params_torch.values()), CLIP_NORM)",
         "",
         "# the learning rate of this iteration",
         *_schedule(cap),
         "print('learning rate =', lr_torch)",
         "",
         "# torch.optim with the state it had before this step",
         f"optimizer = torch.optim.{TORCH_OPT[cap.opt_name]}(",
         f"    list(params_torch.values()), lr=lr_torch, {_opt_kwargs(cap)})",
         f"STEPS_BEFORE = {cap.opt_t}     # steps the optimizer took before this one",
         "# the optimizer's state before this step, per parameter (W in the page's layout)",
         "opt_state = {", *state_rows, "}",
         "for k, p in params_torch.items():",
         "    st = {n: torch.tensor(v.T if k.endswith('.W') else v)",
         "          for n, v in opt_state.get(k, {}).items()}"]
    if cap.opt_name == "adagrad":
        init = num(float(cap.opt_hyper["initial_accumulator_value"]))
        L += ["    if not st:   # Adagrad starts its sum at initial_accumulator_value",
              f"        st = {{'sum': torch.full_like(p, {init})}}",
              "    st['step'] = torch.tensor(float(STEPS_BEFORE))",
              "    optimizer.state[p] = st"]
    elif cap.opt_name == "sgd":
        L += ["    if st:", "        optimizer.state[p] = st"]
    else:
        L += ["    if st:", "        st['step'] = torch.tensor(float(STEPS_BEFORE))",
              "        optimizer.state[p] = st"]
    if cap.update_params is not cap.params:
        L += ["# a weight was edited by hand during this iteration, before the update",
              f"params_before_update = {arrays(cap.update_params)}",
              "with torch.no_grad():",
              "    for k, p in params_torch.items():",
              "        v = params_before_update[k]",
              "        p.copy_(torch.tensor(v.T if k.endswith('.W') else v))"]
    L += ["optimizer.step()",
          "new_params_torch = {k: p.detach().numpy().T if k.endswith('.W')",
          "                    else p.detach().numpy() for k, p in params_torch.items()}",
          "for k, p in new_params_torch.items():",
          "    print('new', k, '=')",
          "    print(p)"]
    c = cap.update_config
    return Section(
        "torch-update", _t("Update with torch.optim", "torch.optim で更新"),
        _t(f"torch.optim.{TORCH_OPT[cap.opt_name]} takes one step with the learning rate "
           "the scheduler gives"
           + (", after clipping the gradients" if c.clip_value > 0 or c.clip_norm > 0 else "")
           + ", starting from the state the page's optimizer had.",
           f"torch.optim.{TORCH_OPT[cap.opt_name]} が、ページのオプティマイザと同じ状態から、"
           "スケジューラの学習率で 1 ステップ進みます"
           + ("（勾配をクリップしてから）" if c.clip_value > 0 or c.clip_norm > 0 else "")
           + "。"),
        "\n".join(L) + "\n")


def _check(cap: Capture) -> Section:
    bn_bias = [f"L{l}.b" for l, ls in enumerate(cap.spec.layers, start=1) if ls.norm == "batch"]
    why = ("# a bias followed by batch norm does not change the loss (the norm takes it out\n"
           "# again): its gradient is rounding noise, scaled up to a step by adaptive "
           "optimizers\n") if bn_bias else ""
    code = why + f"""NOT_COMPARED = {bn_bias!r}   # parameters printed but not compared
ours_torch = {{'loss': loss_torch.detach().item(),
              'regularization': reg_shown_torch.detach().item(),
              'learning rate': lr_torch}}
ours_torch.update({{'dL/d' + k: g.numpy().T if k.endswith('.W') else g.numpy()
                   for k, g in grads_torch.items()}})
ours_torch.update({{'new ' + k: p for k, p in new_params_torch.items()}})
print(compare(ours_torch, NOT_COMPARED))
"""
    return Section(
        "torch-check", _t("Check PyTorch against the page", "PyTorch の数値をページと照合"),
        _t("Whether PyTorch's numbers agree with the page's "
           f"(within {TOLERANCE:g}, relative).",
           f"PyTorch で求めた数値がページの数値と一致するか（相対誤差 {TOLERANCE:g} 以内）"
           "を確かめます。"),
        code)


def torch_sections(cap: Capture) -> list[Section]:
    """The PyTorch part phase by phase: model, forward and loss, backward, update, check.
    It reads the NumPy script's settings, inputs (``x``, ``t``, ``params``, ``running``,
    ``keep``) and ``SHOWN``/``compare``, and needs ``torch``, ``F`` (torch.nn.functional)
    and ``warnings`` imported."""
    return [_model(cap), _forward(cap), _backward(cap), _update(cap), _check(cap)]


def torch_script(cap: Capture, lang: str = "en") -> str:
    """The PyTorch script as one file (see the module docstring), its explanations in
    ``lang`` (``en`` or ``ja``; the code's own comments are English, as the notebook's)."""
    notes = "\n".join(wrapped(d[lang], lang, "- ", "  ") for d in differences(cap))
    title = _t(f"Backprop Lab: iteration {cap.number} of your run, with PyTorch "
               "(torch.nn, autograd, torch.optim) in float64.",
               f"Backprop Lab：あなたの実行の反復 {cap.number} を PyTorch（torch.nn、"
               "autograd、torch.optim）で float64 のまま計算します。")
    about = _t(
        "Prints the loss, the gradients and the new weights, and ends by saying whether "
        f"they agree with the numbers the page showed (within {TOLERANCE:g}, relative to "
        "each array's largest value). Needs torch and NumPy: python3 this_file.py",
        "損失・勾配・新しい重みを表示し、最後にページに表示された数値と一致するか（各配列の"
        f"最大の値に対する相対誤差 {TOLERANCE:g} 以内）を伝えます。torch と NumPy が必要"
        "です：python3 this_file.py")
    on_purpose = _t("Where this script does not make the obvious PyTorch call, on purpose "
                    "(a comment says so beside the line):",
                    "このスクリプトがわざと PyTorch の素直な呼び方をしない所（その行の横の"
                    "コメントにも書いてあります）：")
    quotes = '"""'
    head = (f"{wrapped(title[lang], lang, quotes)}\n\n{wrapped(about[lang], lang)}\n"
            + (f"\n{wrapped(on_purpose[lang], lang)}\n{notes}\n" if notes else "")
            + '''"""
import warnings

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
''')

    def code(s: Section) -> str:
        """A part's code; the check's after the numbers the page showed."""
        return shown_code(cap) + "\n\n" + s.code if s.key == "torch-check" else s.code

    parts = [settings_section(cap), inputs_section(cap), *torch_sections(cap)]
    return script(head, parts, lang, code)
