"""The statement for every depth against independent computations at several concrete depths.

For each depth ``L`` of ``depths``, :func:`verify_depth` reads the statement at ``L``
(:meth:`~symderiv.depth.analysis.DepthAnalysis.at`) and compares it with

* ``concrete``: :func:`symderiv.analyze` of the member (the chain prover, or the graph prover for a ReZero
  stack, with its own certified witness trajectories): every entry's "stays zero" and first-move step, the
  certified moves the statement promises, and the identical hidden units;
* ``torch``: real ``torch.optim`` runs in float64 (SGD, and Adam with a tiny ``eps``, which turns a tiny
  first gradient into a visible step): proved zeros exactly 0 at every step, entries bitwise unchanged
  before their first-move step, a visible change at it (Adam), identical hidden units.

A symbolic width is run at the concrete width ``width`` (default 3).  The report is a
:class:`symderiv.verify.VerifyReport`; ``ok`` is False as soon as one comparison disagrees.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import sympy as sp

from ..errors import InternalError, InvalidArgument, check_argument
from ..init import Constant, Generic, Zeros
from ..verify import Check, VerifyReport
from .family import FamilyInit, MLPFamily, ReZeroFamily, mlp_family

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import DepthAnalysis, MemberStatement

__all__ = ["verify_depth", "DEFAULT_DEPTHS", "TORCH_OPTIMIZERS"]

DEFAULT_DEPTHS = (2, 3, 5)
#: (name, learning rate, eps): Adam's eps is tiny so that a first gradient of any size gives a step of about lr
TORCH_OPTIMIZERS: tuple[tuple[str, float, float | None], ...] = (("sgd", 0.25, None), ("adam", 0.05, 1e-300))


def verify_depth(analysis: "DepthAnalysis", *, depths: Sequence[int] = DEFAULT_DEPTHS, concrete: bool = True,
                 torch: bool = True, width: int = 3, seed: int = 0, batch: int = 4) -> VerifyReport:
    """Compare the statement with concrete analyses and PyTorch runs at each depth of ``depths``."""
    fam = analysis.family
    check_argument(not isinstance(depths, (str, bytes)) and len(depths) > 0 and all(
        isinstance(L, int) and not isinstance(L, bool) and fam.min_depth <= L <= 64 for L in depths),
        "depths must be a non-empty list of integers between {} and 64, got {!r}", fam.min_depth, depths,
        error=InvalidArgument)
    report = VerifyReport()
    if not analysis.proved:
        report.notes.append("undecided for symbolic depth: there is no statement to verify")
        return report
    for L in depths:
        member = analysis.at(L)
        if isinstance(fam, MLPFamily):
            if concrete:
                report.checks.append(_mlp_concrete(analysis, fam, member, L, seed))
            if torch:
                report.checks.extend(_mlp_torch(analysis, _concrete_width(fam, width), member, L, seed, batch))
        elif isinstance(fam, ReZeroFamily):
            if concrete:
                report.checks.append(_rezero_concrete(analysis, fam, member, L, seed))
            if torch:
                report.checks.extend(_rezero_torch(fam, member, L, seed, batch))
    return report


def _concrete_width(fam: MLPFamily, width: int) -> MLPFamily:
    if not fam.symbolic_width:
        return fam
    return mlp_family(fam.n_in, width, str(fam.depth), fam.n_out, fam.activation, fam.loss, fam.bias)


def _mismatch(name: str, index: tuple, what: str, want: object, got: object) -> str:
    return f"{name}{list(index)}: {what} {got!r}, the statement says {want!r}"


# ---------------------------------------------------------------- MLP families
def _init_of(analysis: "DepthAnalysis") -> "FamilyInit":
    if analysis.init is None:
        raise InternalError("an MLP family's analysis without its init")
    return analysis.init


def _mlp_indices(net, name: str, inits: dict) -> list[tuple[int, ...]]:
    """Every entry for concrete shapes; for symbolic widths one entry per block (uniform inits)."""
    shape = net.shape(name)
    if all(isinstance(n, int) for n in shape):
        return list(np.ndindex(*shape))
    return [tuple(0 if not isinstance(n, int) else i for n, i in zip(shape, idx))
            for idx in np.ndindex(*[n if isinstance(n, int) else 1 for n in shape])]


def _mlp_concrete(analysis: "DepthAnalysis", fam: MLPFamily, member: "MemberStatement", L: int, seed: int) -> Check:
    from ..analysis import analyze

    net = fam.at(L)
    a = analyze(net, _init_of(analysis).mapping(L, fam.bias), seed=seed)
    bad: list[str] = []
    for name, fact in member.facts.items():
        for idx in _mlp_indices(net, name, {}):
            zero, step, tight = a.stays_zero(name, idx), a.first_move_step(name, idx), a.first_move_tight(name, idx)
            if zero != fact.stays_zero:
                bad.append(_mismatch(name, idx, "stays_zero", fact.stays_zero, zero))
            elif not zero and not fact.can_move:  # a lower bound only
                if step is not None and fact.first_move is not None and step < fact.first_move:
                    bad.append(_mismatch(name, idx, "first-move step (at least)", fact.first_move, step))
            elif not zero and step != fact.first_move:
                bad.append(_mismatch(name, idx, "first-move step", fact.first_move, step))
            elif not zero and fact.first_move is not None and not tight:
                bad.append(f"{name}{list(idx)}: the move at step {step} is not certified by the concrete analysis")
    if analysis.theorem.identical_units:
        split = [l for l, _, k in a.hidden_layer_classes() if k != 1]
        if split:
            bad.append(f"hidden layers {split} are not one class of identical units in the concrete analysis")
    return Check("concrete_analysis", f"depth {L}", not bad, float(len(bad)),
                 f"symderiv.analyze of {net.describe()}", bad[0] if bad else None, seed)


def _mlp_params(fam: MLPFamily, analysis: "DepthAnalysis", L: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    net = fam.at(L)
    params = {}
    for name in net.parameter_names():
        kind, l = net.parse_name(name)
        spec = _init_of(analysis).of("first" if l == 1 else "last" if l == L else "hidden")
        shape = tuple(int(n) for n in net.shape(name))
        if isinstance(spec, Zeros):
            params[name] = np.zeros(shape)
        elif isinstance(spec, Constant):
            value = spec.value if spec.value.is_number else sp.Rational(3, 10)  # a generic value of the symbol
            params[name] = np.full(shape, float(value))
        elif isinstance(spec, Generic):
            params[name] = rng.uniform(-1, 1, shape) / np.sqrt(shape[-1])
    return params


def _mlp_torch(analysis: "DepthAnalysis", fam: MLPFamily, member: "MemberStatement", L: int, seed: int,
               batch: int) -> list[Check]:
    from fractions import Fraction

    from ..torch import torch_trajectory

    rng = np.random.default_rng(seed + L)
    net = fam.at(L)
    params = _mlp_params(fam, analysis, L, rng)
    X = rng.uniform(-1, 1, (batch, fam.n_in))
    Y = np.array([[float(Fraction(v)) for v in net.loss.sample_labels(rng, fam.n_out)] for _ in range(batch)])
    horizon = max([f.first_move for f in member.facts.values() if f.first_move is not None] + [1]) + 1
    checks = []
    for opt, lr, eps in TORCH_OPTIMIZERS:
        traj = (torch_trajectory(net, params, X, Y, optimizer=opt, steps=horizon, lr=lr) if eps is None else
                torch_trajectory(net, params, X, Y, optimizer=opt, steps=horizon, lr=lr, eps=eps))
        bad = _trajectory_mismatches(member, traj.params, visible=(opt == "adam"), amplifying=(opt == "adam"), lr=lr)
        if analysis.theorem.identical_units:
            bad += _identical_units(net, traj.params)
        checks.append(Check("torch_trajectory", f"depth {L}, {opt}", not bad, float(len(bad)),
                            f"torch.optim {opt}, {horizon} steps, float64, width {fam.width}",
                            bad[0] if bad else None, seed))
    zeros = {k: f for k, f in member.facts.items() if f.stays_zero}
    if zeros:  # zeros and identical units are pattern statements: they hold under weight decay too
        from .analysis import MemberStatement

        traj = torch_trajectory(net, params, X, Y, optimizer="adamw", steps=horizon, lr=0.05, weight_decay=0.1)
        bad = _trajectory_mismatches(MemberStatement(L, zeros, member.identical_units), traj.params, visible=False,
                                     amplifying=True, lr=0.05)
        if analysis.theorem.identical_units:
            bad += _identical_units(net, traj.params)
        checks.append(Check("torch_trajectory", f"depth {L}, adamw with weight decay", not bad, float(len(bad)),
                            f"torch.optim AdamW (weight_decay 0.1), {horizon} steps: the proved zeros and ties",
                            bad[0] if bad else None, seed))
    return checks


#: an "unchanged" that rests on an exact cancellation may drift by a rounding residue under SGD (relative to lr)
RESIDUE = 1e-12


def _trajectory_mismatches(member: "MemberStatement", history: list[dict[str, np.ndarray]], visible: bool,
                           amplifying: bool, lr: float) -> list[str]:
    """Exact zeros at every step; bitwise unchanged before the first-move step (within a rounding residue where
    the statement is exact-arithmetic only, and not checked under an optimizer that amplifies residues); a
    change at it when ``visible``."""
    bad = []
    start = history[0]
    for name, fact in member.facts.items():
        if fact.exact_only and amplifying:
            continue
        for t, theta in enumerate(history):
            if fact.stays_zero and np.any(theta[name] != 0):
                bad.append(f"{name} is not exactly 0 at step {t}")
                break
            if fact.first_move is not None and t < fact.first_move:
                drift = float(np.max(np.abs(theta[name] - start[name]))) if theta[name].size else 0.0
                if (drift > RESIDUE * lr) if fact.exact_only else drift != 0.0:
                    bad.append(f"{name} changed at step {t} (by {drift:.3g}), before its first-move step "
                               f"{fact.first_move}")
                    break
        s = fact.first_move
        if visible and fact.can_move and s is not None and s < len(history) and np.array_equal(history[s][name],
                                                                                             start[name]):
            bad.append(f"{name} did not change at its first-move step {s}")
    return bad


def _identical_units(net, history: list[dict[str, np.ndarray]]) -> list[str]:
    """Every hidden layer's units identical: equal rows of W^(l), b^(l) and equal columns of W^(l+1)."""
    bad = []
    for t, theta in enumerate(history):
        for l in range(1, net.depth):
            rows = [theta[f"W{l}"]] + ([theta[f"b{l}"][:, None]] if net.bias else []) + [theta[f"W{l + 1}"].T]
            for m in rows:
                if not np.allclose(m, m[:1], rtol=1e-12, atol=0):
                    bad.append(f"the units of layer {l} differ at step {t}")
                    break
    return bad[:1]


# ---------------------------------------------------------------- ReZero families
def _rezero_concrete(analysis: "DepthAnalysis", fam: ReZeroFamily, member: "MemberStatement", L: int,
                     seed: int) -> Check:
    from ..graph import analyze_module

    a = analyze_module(fam.module(L, seed), loss=fam.loss, input_shape=(fam.d,), seed=seed)
    bad = []
    shapes = {name: a.proof.graph.params[name].shape for name in member.facts}
    for name, fact in member.facts.items():
        for idx in np.ndindex(*shapes[name]):
            zero, step, tight = a.stays_zero(name, idx), a.first_move_step(name, idx), a.first_move_tight(name, idx)
            if zero != fact.stays_zero or step != fact.first_move:
                bad.append(_mismatch(name, idx, "(stays_zero, first-move step)", (fact.stays_zero, fact.first_move),
                                     (zero, step)))
            elif not tight:
                bad.append(f"{name}{list(idx)}: the move at step {step} is not certified by the concrete analysis")
    return Check("concrete_analysis", f"depth {L}", not bad, float(len(bad)),
                 f"symderiv.analyze of a stack of {L} ReZero blocks", bad[0] if bad else None, seed)


def _rezero_torch(fam: ReZeroFamily, member: "MemberStatement", L: int, seed: int, batch: int) -> list[Check]:
    import torch

    from ..graph.replay import torch_loss

    checks = []
    gen = torch.Generator().manual_seed(seed + L)
    x = torch.rand((batch, fam.d), generator=gen, dtype=torch.float64) * 2 - 1
    y = torch.rand((batch, fam.d), generator=gen, dtype=torch.float64) * 2 - 1
    loss_fn = torch_loss(fam.loss)
    for opt, lr, eps in TORCH_OPTIMIZERS:
        model = fam.module(L, seed).double()
        params = dict(model.named_parameters())
        optimizer = (torch.optim.SGD(params.values(), lr=lr) if eps is None
                     else torch.optim.Adam(params.values(), lr=lr, eps=eps))
        history = [{k: p.detach().numpy().copy() for k, p in params.items()}]
        for _ in range(3):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            history.append({k: p.detach().numpy().copy() for k, p in params.items()})
        bad = _trajectory_mismatches(member, history, visible=True, amplifying=(opt == "adam"), lr=lr)
        checks.append(Check("torch_trajectory", f"depth {L}, {opt}", not bad, float(len(bad)),
                            "torch.optim on the stack, 3 steps, float64", bad[0] if bad else None, seed))
    return checks

