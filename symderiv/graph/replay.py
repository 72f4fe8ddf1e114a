"""Replay real ``torch.optim`` trajectories of a module and check an analysis's claims on them.

Independent of the proof: the module itself (a float64 copy) is trained with PyTorch's own
autograd and optimizers on random data, and every claim of a
:class:`~symderiv.graph.analysis.GraphAnalysis` is checked along the way (imports torch):

* ``stays_zero``: exactly 0 after every step;
* equal ``tie_class``: equal after every step (to ``rtol`` relative to the class's scale,
  for ties computed through matrix products);
* ``first_move_step = t``: bit-identical to the init after steps ``1 … t−1`` (never: after
  every step); tight: changed after step ``t``.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgument
from .engine import backprop
from .losses import graph_loss

__all__ = ["torch_loss", "random_batch", "replay", "check_claims", "engine_gradients", "OPTIMIZERS"]

#: optimizer name -> factory(params, lr); none uses weight decay (first-move steps assume none)
OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr),
    "momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
    "nesterov": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
    "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr),
}


def torch_loss(name: str) -> Callable:
    """The batch-mean loss of the graph loss ``name``, written with PyTorch's functions."""
    key = graph_loss(name).name
    if key == "softmax_cross_entropy":
        return lambda z, y: -(y * F.log_softmax(z, dim=-1)).sum(-1).mean()
    if key == "mse":
        return F.mse_loss
    return F.binary_cross_entropy_with_logits


def random_batch(loss: str, input_shape, output_shape, batch: int, gen: torch.Generator):
    """Random float64 inputs and labels from the loss's label domain."""
    x = torch.randn((batch,) + tuple(input_shape), generator=gen, dtype=torch.float64)
    shape = (batch,) + tuple(output_shape)
    key = graph_loss(loss).name
    if key == "softmax_cross_entropy":
        y = torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64), dim=-1)
    elif key == "mse":
        y = torch.randn(shape, generator=gen, dtype=torch.float64)
    else:
        y = torch.rand(shape, generator=gen, dtype=torch.float64)
    return x, y


def replay(module: nn.Module, analysis, *, optimizer: str = "sgd", batch: int = 1, steps: int | None = None,
           lr: float = 0.1, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Snapshots (step 0 = init) of every trainable parameter along a real trajectory."""
    if optimizer not in OPTIMIZERS:
        raise InvalidArgument(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    g = analysis.proof.graph
    if steps is None:
        finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
        steps = max(finite, default=0) + 1
    model = copy.deepcopy(module).double()
    named = dict(model.named_parameters())
    trainable = [named[n] for n in g.trainable()]
    opt = OPTIMIZERS[optimizer](trainable, lr)
    loss_fn = torch_loss(g.loss_name)
    gen = torch.Generator().manual_seed(seed)
    in_shape, out_shape = g.nodes[g.input_node].shape, g.nodes[g.output].shape

    def snap():
        return {n: named[n].detach().numpy().copy() for n in g.trainable()}

    snaps = [snap()]
    for _ in range(steps):
        x, y = random_batch(g.loss_name, in_shape, out_shape, batch, gen)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        snaps.append(snap())
    return snaps


def check_claims(analysis, snaps: list[dict[str, np.ndarray]], *, rtol: float = 1e-12,
                 exact_only_tolerance: float | None = 1e-12) -> list[str]:
    """Every claim of ``analysis`` violated along ``snaps`` (empty: all hold).

    An "unchanged before step t" that the analysis marks ``exact_arithmetic_only`` (it rests on the
    loss's exact cancellation) is checked to ``exact_only_tolerance`` (relative to the entry's init and
    1), or not at all when it is None (Adam/RMSProp amplify the rounding residue)."""
    g = analysis.proof.graph
    bad: list[str] = []
    by_tie: dict[int, list[tuple[str, tuple]]] = {}
    for name in g.trainable():
        facts = analysis.entry_facts(name)
        for idx in np.ndindex(*g.params[name].shape):
            init = snaps[0][name][idx]
            by_tie.setdefault(facts["tie_class"][idx], []).append((name, idx))
            if facts["stays_zero"][idx] and any(s[name][idx] != 0 for s in snaps):
                bad.append(f"{name}{list(idx)} claimed to stay zero but moved")
            t = facts["first_move_step"][idx]
            last = len(snaps) if t is None else min(t, len(snaps))
            if facts["first_move_float"][idx] == "exact_arithmetic_only":
                tol = None if exact_only_tolerance is None else exact_only_tolerance * max(1.0, abs(float(init)))
                if tol is not None and any(abs(snaps[s][name][idx] - init) > tol for s in range(1, last)):
                    bad.append(f"{name}{list(idx)} claimed unchanged (up to rounding) before step {t} but moved")
            elif any(snaps[s][name][idx] != init for s in range(1, last)):
                bad.append(f"{name}{list(idx)} claimed unchanged before step {t} but changed earlier")
            if t is not None and facts["first_move_tight"][idx] and t < len(snaps) and snaps[t][name][idx] == init:
                bad.append(f"{name}{list(idx)} claimed (tight) to move at step {t} but did not")
    for tid, members in by_tie.items():
        for s in snaps:
            vals = np.array([s[n][i] for n, i in members])
            scale = max(float(np.max(np.abs(vals))), 1e-300)
            if float(np.max(vals) - np.min(vals)) > rtol * scale:
                bad.append(f"tie class {tid} ({members[0][0]}{list(members[0][1])} …) not tied along the trajectory")
                break
    return bad


def engine_gradients(graph, module: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The graph engine's per-example gradients at the module's own parameter values and at ``x``/``y``
    (floats taken as exact rationals), evaluated to float64 from rigorous 60-digit balls.

    The closed forms are built with a symbol per parameter entry and evaluated at the point
    (plugging exact numbers in first would make SymPy's automatic evaluation crawl)."""
    import sympy as sp

    from ..certify import enclose, midpoint
    from .engine import symbolic_values

    named = dict(module.named_parameters())
    symbols = symbolic_values(graph, prefix="theta")
    point = {}
    for name, p in graph.params.items():
        src = named[name].detach().double().numpy() if name in named else p.init
        for idx in np.ndindex(*p.shape):
            point[symbols[name][idx]] = sp.Rational(float(src[idx]))
    state = backprop(graph, symbols)
    point.update({s: sp.Rational(float(v)) for s, v in zip(state.x.flat, np.asarray(x).flat)})
    ysyms = graph_loss(graph.loss_name).labels(tuple(np.shape(y)))
    for e, v in zip(ysyms.flat, np.asarray(y).flat):
        if isinstance(e, sp.Symbol):
            point[e] = sp.Rational(float(v))
    out = {}
    for n in graph.trainable():
        g = state.grads[n]
        out[n] = np.array([midpoint(b) for b in enclose(list(g.flat), point, dps=60)], dtype=float).reshape(g.shape)
    return out
