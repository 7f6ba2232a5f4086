"""The formulas of the "check it yourself" scripts, as Python source: numbers written
so they read back to the same bits, each activation's f and f′, the schedule's
learning rate and the optimizer's update of one parameter, as engine/activations.py,
engine/schedules.py and engine/optim.py compute them (written out, not imported:
a learner reads them), and the check against the page's numbers that ends each
script. Used by :mod:`server.run.export_script` and :mod:`server.run.export_torch`.
No I/O here.
"""

from __future__ import annotations

import math

import numpy as np

from engine.schedules import Schedule
from server.run.stepcapture import Capture

Array = np.ndarray

#: the agreement the scripts ask for, relative to each array's largest magnitude
TOLERANCE = 1e-9


# ---- numbers as Python source ---------------------------------------------------------

def num(v: float) -> str:
    """A float as source that reads back to the same bits (``float('nan')`` spelled out)."""
    v = float(v)
    if math.isfinite(v):
        return repr(v)
    return f"float({str(v)!r})"


def arr(a: Array, indent: int = 4) -> str:
    """``np.array([...])`` for a 0-, 1- or 2-D float64 array, one row per line."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return f"np.array({num(float(a))})"
    if a.ndim == 1:
        return "np.array([" + ", ".join(num(v) for v in a) + "])"
    pad = " " * (indent + 4)
    rows = [pad + "[" + ", ".join(num(v) for v in row) + "]," for row in a]
    return "np.array([\n" + "\n".join(rows) + "\n" + " " * indent + "])"


def arrays(d: dict[str, Array], indent: int = 0) -> str:
    """A dict of arrays as source, one entry per key, in ``d``'s order."""
    pad = " " * (indent + 4)
    lines = [f"{pad}{k!r}: {arr(v, indent + 4)}," for k, v in d.items()]
    return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"


# ---- the formulas, as code ------------------------------------------------------------

#: each activation's f(z, alpha) and f'(z, a, alpha), as engine/activations.py has them
ACTIVATION_CODE: dict[str, str] = {
    "sigmoid": '''def f_sigmoid(z, alpha):
    """σ(z) = 1 / (1 + e^(−z))"""
    return sigmoid(z)


def df_sigmoid(z, a, alpha):
    """σ'(z) = σ(z) (1 − σ(z)) = a (1 − a)"""
    return (1.0 - a) * a
''',
    "tanh": '''def f_tanh(z, alpha):
    """tanh(z)"""
    return np.tanh(z)


def df_tanh(z, a, alpha):
    """tanh'(z) = 1 − tanh(z)² = 1 − a²"""
    return 1.0 - a * a
''',
    "relu": '''def f_relu(z, alpha):
    """max(z, 0)"""
    return np.maximum(z, 0.0)


def df_relu(z, a, alpha):
    """1 where z > 0, else 0 (0 at z = 0, as PyTorch)"""
    return (z > 0.0).astype(np.float64)
''',
    "leaky_relu": '''def f_leaky_relu(z, alpha):
    """z where z > 0, else α z"""
    return np.where(z > 0.0, z, alpha * z)


def df_leaky_relu(z, a, alpha):
    """1 where z > 0, else α"""
    return np.where(z > 0.0, 1.0, alpha)
''',
    "elu": '''def f_elu(z, alpha):
    """z where z > 0, else α (e^z − 1)"""
    return np.where(z > 0.0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def df_elu(z, a, alpha):
    """1 where z > 0, else α e^z"""
    return np.where(z > 0.0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))
''',
    "gelu": '''SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)


def f_gelu(z, alpha):
    """GELU, tanh form (PyTorch's approximate="tanh"):
    ½ z (1 + tanh(u)), u = √(2/π) (z + 0.044715 z³)"""
    return 0.5 * z * (1.0 + np.tanh(SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


def df_gelu(z, a, alpha):
    """½ (1 + tanh u) + ½ z (1 − tanh² u) u', u' = √(2/π) (1 + 3·0.044715 z²)"""
    u = SQRT_2_OVER_PI * (z + 0.044715 * z**3)
    th = np.tanh(u)
    du = SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z**2)
    return 0.5 * (1.0 + th) + 0.5 * z * (1.0 - th**2) * du
''',
    "swish": '''def f_swish(z, alpha):
    """swish (SiLU): z σ(z)"""
    return z * sigmoid(z)


def df_swish(z, a, alpha):
    """σ(z) + z σ(z) (1 − σ(z))"""
    s = sigmoid(z)
    return s + z * s * (1.0 - s)
''',
    "softplus": '''def f_softplus(z, alpha):
    """log(1 + e^z), computed stably"""
    return np.logaddexp(0.0, z)


def df_softplus(z, a, alpha):
    """σ(z)"""
    return sigmoid(z)
''',
    "linear": '''def f_linear(z, alpha):
    """z"""
    return z.copy()


def df_linear(z, a, alpha):
    """1"""
    return np.ones_like(z)
''',
}
SIGMOID = '''def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)); e^(−z) capped at e^709 so it never overflows."""
    return 1.0 / (1.0 + np.exp(np.minimum(-z, 709.0)))
'''


def schedule_code(s: Schedule, base: float) -> list[str]:
    """``learning_rate(step)`` for schedule ``s`` (engine/schedules.py's formulas)."""
    L = [f"BASE_LR = {num(base)}"]
    w = s.warmup
    if w > 0:
        L += [f"WARMUP, WARMUP_START = {w}, {num(s.warmup_start)}", "",
              "",
              "def warmup_factor(step):",
              '    """f = s + (1 − s) min(step, w)/w: LinearLR(start_factor=s, total_iters=w)"""',
              "    return WARMUP_START + (1 - WARMUP_START) * min(step, WARMUP) / WARMUP"]
    L += ["", ""]
    if s.name == "constant":
        L += ["def learning_rate(step):", '    """constant"""',
              "    return BASE_LR" + (" * warmup_factor(step)" if w > 0 else "")]
    elif s.name == "step":
        L = [f"STEP_SIZE, GAMMA = {s.step_size}, {num(s.gamma)}", *L,
             "def learning_rate(step):", '    """StepLR: η₀ γ^⌊step / step_size⌋"""',
             "    return BASE_LR * GAMMA ** (step // STEP_SIZE)"
             + (" * warmup_factor(step)" if w > 0 else "")]
    elif s.name == "exponential":
        L = [f"GAMMA = {num(s.gamma)}", *L,
             "def learning_rate(step):", '    """ExponentialLR: η₀ γ^step"""',
             "    return BASE_LR * GAMMA**step" + (" * warmup_factor(step)" if w > 0 else "")]
    else:
        L = [f"T_MAX, ETA_MIN = {s.t_max}, {num(s.eta_min)}", *L,
             "def c(step):", '    """c = (1 + cos(π step/T))/2"""',
             "    return (1 + np.cos(np.pi * step / T_MAX)) / 2", "", ""]
        if w <= 0:
            L += ["def learning_rate(step):",
                  '    """CosineAnnealingLR: η_min + (η₀ − η_min) c(step), η_min after T"""',
                  "    if step >= T_MAX:", "        return ETA_MIN",
                  "    return ETA_MIN + (BASE_LR - ETA_MIN) * c(step)"]
        else:
            L += ["def S(step):",
                  '    """Σ_{k=1..step} (1/c_k − 1/c_{k−1}) / f_k: what chaining LinearLR with',
                  '    CosineAnnealingLR adds up (docs/engine.md, learning-rate schedules)"""',
                  "    return sum((1 / c(k) - 1 / c(k - 1)) / warmup_factor(k)",
                  "               for k in range(1, step + 1))",
                  "", "",
                  "def learning_rate(step):",
                  '    """ChainedScheduler([LinearLR, CosineAnnealingLR]) unrolled: warm-up',
                  '    factor times the cosine, then plain cosine annealing from where the',
                  '    warm-up ended"""',
                  "    if step >= T_MAX:", "        return ETA_MIN",
                  "    if step <= WARMUP:",
                  "        return warmup_factor(step) * c(step) * (BASE_LR + ETA_MIN * S(step))",
                  "    eta_w = c(WARMUP) * (BASE_LR + ETA_MIN * S(WARMUP))",
                  "    return ETA_MIN + (eta_w - ETA_MIN) * c(step) / c(WARMUP)"]
    return L


def optimizer_code(name: str, h: dict[str, float | bool], t: int) -> list[str]:
    """``update(p, g, st, lr)``: one parameter's update by optimizer ``name`` with
    hyper-parameters ``h``, its step count ``t`` before this step."""
    wd = float(h["weight_decay"])
    hyper = ", ".join(f"{k!r}: {num(v) if not isinstance(v, bool) else v}" for k, v in h.items())
    L = [f"OPTIMIZER = {name!r}", f"HYPER = {{{hyper}}}",
         f"STEP = {t} + 1     # the optimizer's step count t, this step included",
         "", "", "def update(p, g, st, lr):",
         '    """One parameter\'s new value and state; st holds the state before this step."""',
         "    h = HYPER", "    st = dict(st)"]
    if name != "adamw" and wd != 0.0:
        L.append("    g = g + h['weight_decay'] * p       # weight decay: g + λ p")
    if name == "sgd":
        if float(h["momentum"]) != 0.0:
            L += ["    mu = h['momentum']",
                  "    buf = st.get('momentum_buffer')",
                  "    # b = μ b + (1 − τ) g (b = g on the first step)",
                  "    buf = g.copy() if buf is None else buf * mu + (1.0 - h['dampening']) * g",
                  "    st['momentum_buffer'] = buf",
                  "    g = g + mu * buf if h['nesterov'] else buf"]
        L.append("    return p - lr * g, st                 # p ← p − η g")
    elif name == "rmsprop":
        L += ["    alpha = h['alpha']",
              "    v = st.get('square_avg')",
              "    v = (1 - alpha) * g * g if v is None else alpha * v + (1 - alpha) * g * g",
              "    st['square_avg'] = v                 # v = α v + (1 − α) g²"]
        if h["centered"]:
            L += ["    ga = st.get('grad_avg')",
                  "    ga = (1 - alpha) * g if ga is None else alpha * ga + (1 - alpha) * g",
                  "    st['grad_avg'] = ga",
                  "    d = np.sqrt(v - ga * ga) + h['eps']   # centered: √(v − ḡ²) + ε"]
        else:
            L.append("    d = np.sqrt(v) + h['eps']")
        if float(h["momentum"]) > 0.0:
            L += ["    buf = st.get('momentum_buffer')",
                  "    buf = g / d if buf is None else h['momentum'] * buf + g / d",
                  "    st['momentum_buffer'] = buf",
                  "    return p - lr * buf, st"]
        else:
            L.append("    return p - lr * (g / d), st           # p ← p − η g/(√v + ε)")
    elif name == "adagrad":
        L += ["    s = st.get('sum')",
              "    if s is None:",
              "        s = np.full_like(p, h['initial_accumulator_value'])",
              "    s = s + g * g                         # s = s + g²",
              "    st['sum'] = s",
              "    clr = lr / (1 + (STEP - 1) * h['lr_decay'])",
              "    return p - clr * (g / (np.sqrt(s) + h['eps'])), st"]
    else:
        if name == "adamw" and wd != 0.0:
            L.append("    p = p * (1 - lr * h['weight_decay'])   # AdamW: decoupled decay first")
        L += ["    b1, b2 = h['beta1'], h['beta2']",
              "    m, v = st.get('exp_avg'), st.get('exp_avg_sq')",
              "    # m = β₁ m + (1 − β₁) g and v = β₂ v + (1 − β₂) g² (m = (1 − β₁) g … at first)",
              "    m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g",
              "    v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g",
              "    st['exp_avg'], st['exp_avg_sq'] = m, v",
              "    bc1, bc2 = 1 - b1**STEP, 1 - b2**STEP       # bias corrections",
              "    return p - (lr / bc1) * m / (np.sqrt(v) / np.sqrt(bc2) + h['eps']), st"]
    return L


# ---- the check against the page ----------------------------------------------------

def shown_code(cap: Capture) -> str:
    """``SHOWN``, the numbers the page showed (the engine's), and ``compare(ours, skip)``,
    the check that gives the last line: ``agrees`` or ``differs: …`` naming which."""
    shown: dict[str, Array | float] = {"loss": cap.loss, "regularization": cap.reg,
                                       "learning rate": cap.lr}
    shown.update({f"dL/d{k}": g for k, g in cap.grads.items()})
    shown.update({f"new {k}": p for k, p in cap.new_params.items()})
    lines = []
    for k, v in shown.items():
        src = num(v) if isinstance(v, float) else arr(v, 4)
        lines.append(f"    {k!r}: {src},")
    return f"""# the numbers the page showed for iteration {cap.number} (Backprop Lab's engine)
SHOWN = {{
{chr(10).join(lines)}
}}


def compare(ours, skip=()):
    \"\"\"'agrees' if every number of ours is within {TOLERANCE:g} of the page's, relative
    to the largest magnitude of its array; else 'differs: ' and which (skip: parameters
    left out of the comparison).\"\"\"
    differ = []
    for name, theirs in SHOWN.items():
        if name.split(' ')[-1].removeprefix('dL/d') in skip:
            continue
        theirs, mine = np.asarray(theirs), np.asarray(ours[name])
        scale = np.abs(theirs).max() if theirs.size else 0.0
        gap = np.abs(mine - theirs).max() if theirs.size else 0.0
        if not gap <= {TOLERANCE!r} * scale and gap != 0.0:
            differ.append(f'{{name}} (largest difference {{gap:.3g}})')
    return 'agrees' if not differ else 'differs: ' + ', '.join(differ)
"""
