"""One iteration of a run as a PyTorch script: ``torch.nn`` layers, autograd and
``torch.optim`` with the optimizer's state and the schedule's step the run had, in
float64, checking itself against the numbers the page showed as the NumPy script
does (:mod:`server.run.export_script`: the same inputs, the same ``agrees`` line).

Where a PyTorch call would give another number on purpose (docs/engine.md, "Where
the engine differs from PyTorch on purpose"), the script says so beside the line
that does it the engine's way: the loss's sums, the dropout mask (the page's, not a
new draw), softplus above 20, batch norm on a batch of one, the cosine schedule past
T_max. The bias of a layer followed by batch norm does not change the loss (the
norm subtracts it again): its gradient is rounding noise, which an adaptive
optimizer scales up to a whole step, so it is printed and not compared. No I/O here.
"""

from __future__ import annotations

from server.run.export_script import TOLERANCE
from server.run.script_formulas import arr, arrays, num
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
    # torch.nn.Softplus returns z itself above z = 20; the engine computes log(1 + e^z)
    "softplus": "torch.logaddexp(z, torch.zeros_like(z))",
    "linear": "z",
}

#: each optimizer's torch.optim class
TORCH_OPT = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam",
              "adamw": "AdamW"}


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
        return [*L, "lr = BASE_LR"]
    sched = {
        "constant": "torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)",
        "step": f"torch.optim.lr_scheduler.StepLR(opt, step_size={s.step_size}, "
                f"gamma={num(s.gamma)})",
        "exponential": f"torch.optim.lr_scheduler.ExponentialLR(opt, gamma={num(s.gamma)})",
        "cosine": f"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max={s.t_max}, "
                  f"eta_min={num(s.eta_min)})",
    }[s.name]
    L += [
        "# the schedule, stepped once per iteration (the page counts iterations, not epochs)",
        "dummy = torch.zeros(1, requires_grad=True)",
        "opt = torch.optim.SGD([dummy], lr=BASE_LR)",
        "with warnings.catch_warnings():   # stepped without optimizer.step(): only the rate",
        "    warnings.simplefilter('ignore')",
    ]
    if s.warmup > 0:
        L += [f"    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor="
              f"{num(s.warmup_start)}, total_iters={s.warmup})",
              f"    sched = torch.optim.lr_scheduler.ChainedScheduler([warm, {sched}])"]
    else:
        L.append(f"    sched = {sched}")
    steps = "ITERATION"
    if s.name == "cosine":
        steps = f"min(ITERATION, {s.t_max})"
    L += [f"    for _ in range({steps}):", "        sched.step()",
          "lr = opt.param_groups[0]['lr']"]
    if s.name == "cosine":
        L += ["# differs on purpose: past T_max CosineAnnealingLR rises again; the engine",
              "# stays at eta_min (the annealing ends at the floor)",
              f"if ITERATION >= {s.t_max}:", f"    lr = {num(s.eta_min)}"]
    return L


def torch_script(cap: Capture) -> str:
    """The PyTorch script as one file (see the module docstring)."""
    spec = cap.spec
    c, cu = cap.config, cap.update_config
    n = len(spec.layers)
    layers = []
    for l, ls in enumerate(spec.layers, start=1):
        act = spec.output_activation() if l == n else ls.activation
        layers.append(f"    {{'units': {ls.units}, 'activation': {act!r}, "
                      f"'alpha': {num(ls.alpha)}, "
                      f"'norm': {ls.norm!r}, 'dropout': {num(ls.dropout)}, "
                      f"'residual': {ls.residual}}},")
    acts = sorted({(spec.output_activation() if l == n else ls.activation)
                   for l, ls in enumerate(spec.layers, start=1)} - {"softmax"})
    act_lines = ["def activation(name, z, alpha):", '    """f(z) by name."""']
    for a in acts:
        act_lines.append(f"    if name == {a!r}:")
        act_lines.append(f"        return {TORCH_ACT[a]}")
    act_lines.append("    raise ValueError(name)")
    bn_bias = [f"L{l}.b" for l, ls in enumerate(spec.layers, start=1) if ls.norm == "batch"]
    keep = "{\n" + "\n".join(f"    {l}: {arr(m, 4)}," for l, m in cap.keep.items()) + "\n}"
    state_rows = []
    for k, st in cap.opt_state.items():
        inner = ", ".join(f"{nm!r}: {arr(a, 8)}" for nm, a in st.items())
        state_rows.append(f"    {k!r}: {{{inner}}},")
    shown: list[str] = [f"    'loss': {num(cap.loss)},", f"    'regularization': {num(cap.reg)},",
                        f"    'learning rate': {num(cap.lr)},"]
    shown += [f"    'dL/d{k}': {arr(g, 4)}," for k, g in cap.grads.items()]
    shown += [f"    'new {k}': {arr(p, 4)}," for k, p in cap.new_params.items()]
    if spec.loss == "mse":
        loss_lines = [
            "# differs on purpose: ½ Σ_k (y_k − t_k)² per sample, mean over the batch",
            "# (F.mse_loss would average (y − t)² over every element: the engine's × 2/K)",
            "loss = 0.5 * ((y - t) ** 2).sum(dim=1).mean()"]
    elif spec.loss == "bce":
        loss_lines = [
            "# bce from the logits, summed over the outputs, mean over the batch",
            "# (equal to F.binary_cross_entropy_with_logits's mean for one output)",
            "loss = F.binary_cross_entropy_with_logits(z_out, t, reduction='none')"
            ".sum(dim=1).mean()"]
    else:
        loss_lines = ["# cross-entropy from the logits, t as class probabilities",
                      "loss = F.cross_entropy(z_out, t)"]
    accumulate = cap.grad_sum is not None
    body = f'''"""Backprop Lab: iteration {cap.number} of your run, with PyTorch
(torch.nn, autograd, torch.optim) in float64.

Prints the loss, the gradients and the new weights, and ends by saying whether
they agree with the numbers the page showed (within {TOLERANCE:g}, relative to each
array's largest value). Where a PyTorch call would differ on purpose, a comment
says so and the line does what the engine does. Needs torch and NumPy.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

ITERATION = {cap.iteration}   # iterations before this one: the schedule's step
LOSS = {spec.loss!r}
LAYERS = [
{chr(10).join(layers)}
]
L1, L2 = {num(c.l1)}, {num(c.l2)}     # penalties on the weights W, part of the loss
CLIP_VALUE, CLIP_NORM = {num(cu.clip_value)}, {num(cu.clip_norm)}   # 0: off

x = torch.tensor({arr(cap.x, 0)})
t = torch.tensor({arr(cap.t, 0)})
# the weights before this iteration, in the page's layout: W is (n_in, n_out);
# torch.nn.Linear keeps weight = Wᵀ (n_out, n_in)
page_params = {arrays(cap.params)}
running = {arrays(cap.buffers)}
keep = {keep}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        sizes = [{spec.n_in}] + [layer['units'] for layer in LAYERS]
        self.linear = torch.nn.ModuleList()
        self.norm = torch.nn.ModuleList()
        for l, layer in enumerate(LAYERS, start=1):
            lin = torch.nn.Linear(sizes[l - 1], sizes[l])
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(page_params[f'L{{l}}.W'].T))
                lin.bias.copy_(torch.tensor(page_params[f'L{{l}}.b']))
            self.linear.append(lin)
            if layer['norm'] == 'batch':
                nrm = torch.nn.BatchNorm1d(sizes[l], eps=1e-5, momentum=0.1)
                nrm.running_mean.copy_(torch.tensor(running[f'L{{l}}.running_mean']))
                nrm.running_var.copy_(torch.tensor(running[f'L{{l}}.running_var']))
            elif layer['norm'] == 'layer':
                nrm = torch.nn.LayerNorm(sizes[l], eps=1e-5)
            else:
                nrm = torch.nn.Identity()
            if layer['norm'] != 'none':
                with torch.no_grad():
                    nrm.weight.copy_(torch.tensor(page_params[f'L{{l}}.gamma']))
                    nrm.bias.copy_(torch.tensor(page_params[f'L{{l}}.beta']))
            self.norm.append(nrm)

    def named(self):
        """Parameters under the page's ids (L1.W is linear[0].weight, transposed)."""
        out = {{}}
        for l in range(1, len(LAYERS) + 1):
            out[f'L{{l}}.W'] = self.linear[l - 1].weight
            out[f'L{{l}}.b'] = self.linear[l - 1].bias
            if LAYERS[l - 1]['norm'] != 'none':
                out[f'L{{l}}.gamma'] = self.norm[l - 1].weight
                out[f'L{{l}}.beta'] = self.norm[l - 1].bias
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
                return z, activation(layer['activation'], z, layer['alpha'])
            nrm = self.norm[l - 1]
            if layer['norm'] == 'batch' and z.shape[0] == 1:
                # differs on purpose: BatchNorm1d refuses a batch of one in training;
                # the engine uses the running statistics (eval mode) for it
                nrm.eval()
            zn = nrm(z)
            h = activation(layer['activation'], zn, layer['alpha'])
            if layer['dropout'] > 0:
                # differs on purpose: torch.nn.Dropout would draw a new mask; this is
                # the page's (inverted dropout: kept units × 1/(1 − p))
                h = h * torch.tensor(keep[l]) / (1.0 - layer['dropout'])
            a = h + a if layer['residual'] else h
        raise AssertionError


{chr(10).join(act_lines)}


net = Net().train()
params = net.named()

# ---- forward and loss
z_out, y = net(x)
{chr(10).join(loss_lines)}
reg = sum(L1 * p.abs().sum() + 0.5 * L2 * (p * p).sum()
          for k, p in params.items() if k.endswith('.W'))
print('loss =', loss.detach().item(), ' regularization =', reg.detach().item())

# ---- backward: autograd
grads = dict(zip(params, torch.autograd.grad(loss + reg, list(params.values()))))
for k, g in grads.items():
    print('dL/d' + k, '=')
    print(g.numpy().T if k.endswith('.W') else g.numpy())
'''
    if accumulate:
        body += f'''
# optimizer.zero_grad() forgotten: loss.backward() adds this gradient to p.grad,
# which still holds the sum of the earlier ones
grad_sum = {arrays(cap.grad_sum or {})}
for k, p in params.items():
    g = grads[k]
    p.grad = g.clone() if k not in grad_sum else torch.tensor(
        grad_sum[k].T if k.endswith('.W') else grad_sum[k]) + g
'''
    else:
        body += '''
for k, p in params.items():
    p.grad = grads[k].clone()      # what loss.backward() leaves after zero_grad()
'''
    body += '''
if CLIP_VALUE > 0:
    torch.nn.utils.clip_grad_value_(list(params.values()), CLIP_VALUE)
if CLIP_NORM > 0:
    torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP_NORM)

# ---- the learning rate of this iteration
''' + "\n".join(_schedule(cap)) + f'''
print('learning rate =', lr)

# ---- update: torch.optim with the state it had before this step
optimizer = torch.optim.{TORCH_OPT[cap.opt_name]}(list(params.values()), lr=lr, {_opt_kwargs(cap)})
STEP = {cap.opt_t}     # steps the optimizer took before this one
state = {{
{chr(10).join(state_rows)}
}}
for k, p in params.items():
    st = {{n: torch.tensor(v.T if k.endswith('.W') else v) for n, v in state.get(k, {{}}).items()}}
'''
    if cap.opt_name == "adagrad":
        body += f'''    if not st:   # Adagrad starts its sum at initial_accumulator_value
        st = {{'sum': torch.full_like(p, {num(float(cap.opt_hyper["initial_accumulator_value"]))})}}
    st['step'] = torch.tensor(float(STEP))
    optimizer.state[p] = st
'''
    elif cap.opt_name == "sgd":
        body += '''    if st:
        optimizer.state[p] = st
'''
    else:
        body += '''    if st:
        st['step'] = torch.tensor(float(STEP))
        optimizer.state[p] = st
'''
    if cap.update_params is not cap.params:
        body += f'''
# a weight was edited by hand during this iteration, before the update
edited = {arrays(cap.update_params)}
with torch.no_grad():
    for k, p in params.items():
        p.copy_(torch.tensor(edited[k].T if k.endswith('.W') else edited[k]))
'''
    body += f'''optimizer.step()
new_params = {{k: p.detach().numpy().T if k.endswith('.W') else p.detach().numpy()
              for k, p in params.items()}}
for k, p in new_params.items():
    print('new', k, '=')
    print(p)

# ---- the numbers the page showed for iteration {cap.number} (Backprop Lab's engine)
SHOWN = {{
{chr(10).join(shown)}
}}
# a bias followed by batch norm does not change the loss (the norm takes it out
# again): its gradient is rounding noise, scaled up to a step by adaptive optimizers
NOT_COMPARED = {bn_bias!r}
ours = {{'loss': loss.detach().item(), 'regularization': reg.detach().item(), 'learning rate': lr}}
ours.update({{'dL/d' + k: g.numpy().T if k.endswith('.W') else g.numpy()
             for k, g in grads.items()}})
ours.update({{'new ' + k: p for k, p in new_params.items()}})
differ = []
for name, theirs in SHOWN.items():
    if name.split(' ')[-1].removeprefix('dL/d') in NOT_COMPARED:
        continue
    theirs, mine = np.asarray(theirs), np.asarray(ours[name])
    scale = np.abs(theirs).max() if theirs.size else 0.0
    gap = np.abs(mine - theirs).max() if theirs.size else 0.0
    if not gap <= {TOLERANCE!r} * scale and gap != 0.0:
        differ.append(f'{{name}} (largest difference {{gap:.3g}})')
print('agrees' if not differ else 'differs: ' + ', '.join(differ))
'''
    return body

