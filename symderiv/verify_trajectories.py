"""The trajectory checks of :func:`symderiv.verify.verify`: what a float training run must show of
a proved analysis.

* :func:`trajectory_checks`: every proved zero exactly 0, every proved tie held, every entry
  unchanged before its first-move step (by array reductions over every entry), and an observation
  of the tight first moves;
* :func:`shifted_checks`: the differences of shifted ties keep their init value;
* :func:`law_checks`: proved conservation laws along the run (linear laws on runs linear in the
  gradient, quadratic laws changing by exactly η²·gᵀQg per SGD step).

The theorem is about exact arithmetic; how float roundoff is told from a real move is in
:func:`trajectory_checks`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import sympy as sp

from . import numeric
from .certify import Uncertifiable
from .genericity import NO_WEIGHT_DECAY
from .symbol_names import parameter_entry_of
from .verify_report import Check, entry_label

__all__ = ["NORMALIZED_OPTIMIZERS", "trajectory_checks", "shifted_checks", "law_checks", "per_block"]


#: optimizers that divide by a running gradient magnitude: Adam's first step is lr·g/(|g| + ε),
#: so a 1e-11 roundoff gradient already moves an entry by ~lr·1e-3 while any real gradient
#: above ~1e-7 moves it by ~lr; on their runs a first deviation counts as roundoff up to 0.1·lr
NORMALIZED_OPTIMIZERS = frozenset({"rmsprop", "adam", "adamw"})


def _first_deviation(series: np.ndarray) -> np.ndarray:
    """Per column of ``series`` (steps × entries, nonnegative deviations): the first nonzero value."""
    if series.size == 0:
        return np.zeros(series.shape[1:])
    nonzero = series != 0
    first = np.argmax(nonzero, axis=0)
    return np.where(nonzero.any(axis=0), series[first, np.arange(series.shape[1])], 0.0)


class _Deviations:
    """The deviations of one kind of check, accumulated array by array: ``first`` (an entry's first
    nonzero deviation) and ``worst`` (its largest), with a function naming entry ``i`` of an array.
    Only the entries a message names are turned into text, so the cost is that of NumPy reductions
    whatever the width."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.bad: tuple[float, str] | None = None  # the largest first deviation beyond atol, where
        self.amplified = 0
        self.example: tuple[float, float, str] | None = None  # the most amplified: first, worst, where

    def add(self, first: np.ndarray, worst: np.ndarray, atol: float, where: Any) -> None:
        if not worst.size:
            return
        self.worst = max(self.worst, float(worst.max()))
        if first.max() > atol:
            i = int(first.argmax())
            if self.bad is None or first[i] > self.bad[0]:
                self.bad = (float(first[i]), where(i))
        amplified = (first <= atol) & (worst > atol)
        if amplified.any():
            self.amplified += int(amplified.sum())
            i = int(np.where(amplified, worst, -1.0).argmax())
            if self.example is None or worst[i] > self.example[1]:
                self.example = (float(first[i]), float(worst[i]), where(i))


def _class_extremes(ids: np.ndarray, values: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step (rows of ``values``) and class (``ids`` of its columns, < ``n_ids``): the largest and
    smallest value; ±inf for a class without columns."""
    steps = values.shape[0]
    high = np.full((steps, n_ids), -np.inf)
    low = np.full((steps, n_ids), np.inf)
    if ids.size:
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        present = sorted_ids[starts]
        high[:, present] = np.maximum.reduceat(values[:, order], starts, axis=1)
        low[:, present] = np.minimum.reduceat(values[:, order], starts, axis=1)
    return high, low


def trajectory_checks(analysis, trajectory, subject: str, seed: int, tie_rtol: float, atol: float,
                       first_moves: bool = True, facts_of: Mapping[str, dict] | None = None) -> list[Check]:
    """Zeros, ties and unchanged-before-first-move on one trajectory, and an observation of the
    tight first moves.

    The theorem is about exact arithmetic.  In floats, a proof that rests on an exact
    cancellation (``Σ_k (p_k − y_k) = 0``) leaves a roundoff-level gradient, and an optimizer may
    amplify what it seeds (Adam's normalization turns a 1e-19 asymmetry into an lr-sized one a
    few steps later).  A wrong claim shows at once: the entry's *first* deviation is a real step.
    So each check fails on a first deviation beyond ``atol`` (ties: beyond ``tie_rtol`` relative
    and ``atol`` absolute) and reports the largest deviation over the run, and any roundoff that
    was amplified beyond ``atol``, in its detail.  Every entry is checked, by array reductions
    (the cost is a few passes over the trajectory, whatever the width)."""
    net = analysis.net
    thetas = trajectory.params
    names = net.parameter_names()
    facts_of = facts_of if facts_of is not None else {name: analysis.entry_facts(name) for name in names}
    found = {"zeros": _Deviations(), "unchanged": _Deviations(), "ties": _Deviations()}
    zero_total, zero_exact = 0, 0
    tight_total, tight_seen = 0, 0
    n_ids = 1 + max((int(facts_of[n]["tie_class"].max()) for n in names if facts_of[n]["tie_class"].size), default=0)
    high = np.full((len(thetas), n_ids), -np.inf)
    low = np.full((len(thetas), n_ids), np.inf)
    members = np.zeros(n_ids, dtype=np.int64)
    extreme_at: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        facts = facts_of[name]
        zero, tie, step, tight = facts["stays_zero"], facts["tie_class"], facts["first_move_step"], facts["first_move_tight"]
        shape = zero.shape
        # on weight-decay runs, statements made under the condition "no weight decay" are not claimed
        assumed = (np.zeros(shape, dtype=bool) if first_moves
                   else per_block(facts, lambda b: NO_WEIGHT_DECAY in analysis.facts_of(b).conditions, bool))
        zero = zero & ~assumed
        tight_total += int(tight.sum())
        flat = np.array([theta[name] for theta in thetas]).reshape(len(thetas), -1)  # steps × entries
        at = lambda cols, extra=None, n=name: (  # noqa: E731
            lambda i: entry_label(n, np.unravel_index(int(cols[i]), shape)) + (extra(int(cols[i])) if extra else ""))
        zf = zero.reshape(-1)
        zero_total += int(zf.sum())
        zero_cols = np.flatnonzero(zf)
        zero_dev = np.abs(flat[:, zero_cols])
        zero_exact += int((zero_dev.max(axis=0) == 0).sum()) if zero_dev.size else 0
        found["zeros"].add(_first_deviation(zero_dev), zero_dev.max(axis=0, initial=0), atol, at(zero_cols))
        steps_f = step.reshape(-1)
        s_idx = np.arange(len(thetas))[:, None]
        must_stay = ((steps_f < 0) | (s_idx < steps_f)) & ~zf
        change = np.where(must_stay, np.abs(flat - flat[0]), 0.0)
        moved_cols = np.flatnonzero(change.max(axis=0) > 0)
        change = change[:, moved_cols]
        found["unchanged"].add(
            _first_deviation(change), change.max(axis=0, initial=0), atol,
            at(moved_cols, lambda c: f" (first-move step {'never' if steps_f[c] < 0 else steps_f[c]})"))
        tight_f = tight.reshape(-1)
        moved = flat[1:] != flat[:-1]
        tight_seen += int(np.sum(tight_f & moved[np.clip(steps_f - 1, 0, None), np.arange(len(steps_f))] & (steps_f >= 1)))
        claimed = np.flatnonzero(~assumed.reshape(-1))
        ids = tie.reshape(-1)[claimed]
        h, l_ = _class_extremes(ids, flat[:, claimed], n_ids)
        high, low = np.maximum(high, h), np.minimum(low, l_)
        members += np.bincount(ids, minlength=n_ids)
        extreme_at[name] = (ids, claimed)
    tied = members >= 2
    if tied.any():
        spread = np.where(tied, high - low, 0.0)
        magnitude = np.maximum(np.abs(np.where(tied, high, 0.0)), np.abs(np.where(tied, low, 0.0)))
        relevant = np.where(spread / np.maximum(magnitude, 1e-300) > tie_rtol, spread, 0.0)
        classes = np.flatnonzero(relevant.max(axis=0) > 0)

        def tie_where(i: int) -> str:  # the entries holding the class's extremes at its worst step
            k = int(classes[i])
            t = int(relevant[:, k].argmax())
            ends = []
            for target in (high[t, k], low[t, k]):
                for name, (ids, claimed) in extreme_at.items():
                    values = thetas[t][name].reshape(-1)[claimed]
                    hit = np.flatnonzero((ids == k) & (values == target))
                    if hit.size:
                        ends.append(entry_label(name, np.unravel_index(int(claimed[hit[0]]), thetas[t][name].shape)))
                        break
            return " vs ".join(ends)

        found["ties"].add(_first_deviation(relevant[:, classes]), relevant[:, classes].max(axis=0, initial=0), atol,
                          tie_where)

    def check(kind: str, what: str) -> Check:
        d = found[{"unchanged_before": "unchanged"}.get(kind, kind)]
        detail = f"{what}; fails on a first deviation beyond {atol:g}"
        if d.example is not None:
            first, worst, where = d.example
            detail += (f"; float roundoff amplified by the optimizer in {d.amplified} entr"
                       f"{'y' if d.amplified == 1 else 'ies'} (e.g. {where}: first {first:.2g}, then {worst:.2g})")
        offending = None if d.bad is None else f"{d.bad[1]}: first deviation {d.bad[0]:.3g}"
        return Check(kind, subject, d.bad is None, float(d.worst), detail, offending, seed)

    checks = [
        check("zeros", f"{zero_exact} of {zero_total} proved zeros exactly 0 at every step"),
        check("ties", f"proved ties (relative tolerance {tie_rtol:g})"),
    ]
    if first_moves:
        checks.append(check("unchanged_before", "entries before their first-move step"))
        checks.append(Check(
            "moves_observed", subject, True, 0.0,
            f"observation: {tight_seen} of {tight_total} entries with a tight step changed at it on this data "
            "(tightness is certified by the witness trajectory, not by this run)", None, seed))
    return checks


def per_block(facts: dict, value: Any, dtype: Any) -> np.ndarray:
    """``value(block)`` at every entry of a parameter, one call per distinct block
    (:meth:`~symderiv.analysis.Analysis.entry_facts`'s ``block_id`` and ``blocks``)."""
    table = np.array([value(b) for b in facts["blocks"]], dtype=dtype)
    return table[facts["block_id"]]


#: optimizers linear in the gradient history (a linear law is exactly conserved along their runs)
_LINEAR_RUNS = ("sgd", "momentum", "nesterov")


def shifted_checks(analysis, traj, name: str) -> list[Check]:
    """Shifted ties (:mod:`symderiv.shifted`): each pair's difference keeps its init value along a run
    without weight decay (checked on one representative entry per class)."""
    shifted = getattr(analysis, "shifted", None)
    if shifted is None or getattr(analysis, "inputs", None) is not None or not shifted.groups:
        return []
    p = analysis.proof
    worst, where = 0.0, ""
    for group in shifted.groups:
        entries = []
        for k in group.classes:
            b = p.classes[k][0]
            C = p.partition.classes[b.layer][b.row]
            index = (C.first,) if b.kind == "b" else (C.first, p.partition.classes[b.layer - 1][b.col].first)
            entries.append((b.param, index))
        (n0, i0) = entries[0]
        for (n, i), offset in zip(entries[1:], group.offsets[1:]):
            diff = np.array([theta[n][i] - theta[n0][i0] for theta in traj.params])
            scale = 1.0 + max(abs(float(theta[n][i])) + abs(float(theta[n0][i0])) for theta in traj.params)
            dev = float(np.max(np.abs(diff - float(offset)))) / scale if offset.is_number else 0.0
            if dev > worst:
                worst, where = dev, f"{entry_label(n, i)} − {entry_label(n0, i0)}"
    ok = worst <= 1e-9
    return [Check("shifted_ties", f"{name}: differences of shifted ties", ok, worst,
                  f"largest relative deviation {worst:.3g}" + (f" at {where}" if where else ""))]


def _law_value(expr: sp.Expr, theta: Mapping[str, np.ndarray]) -> float:
    """A law's expression (over entry symbols such as ``W2_1_3``, 1-based) at float parameters."""
    values = {}
    for sym in expr.free_symbols:
        entry = parameter_entry_of(str(sym))
        if entry is None or entry[0] not in theta or len(entry[1]) != np.ndim(theta[entry[0]]):
            raise Uncertifiable(f"no parameter entry named {sym}")
        name, index = entry
        values[sym] = sp.Float(float(theta[name][index]), 30)
    return float(expr.xreplace(values))


def law_checks(analysis, traj, name: str, lr: float, X, Y, decays: bool) -> tuple[list[Check], list[str]]:
    """Every proved conservation law along one float trajectory: linear laws conserved to roundoff on
    runs linear in the gradient (SGD, momentum, Nesterov, no weight decay); quadratic laws change by
    exactly η²·gᵀQg per plain SGD step; other runs' drift is reported, not judged (not claimed there)."""
    laws = list(getattr(analysis, "conserved", []) or [])
    if not laws or getattr(analysis, "inputs", None) is not None:
        return [], []
    checks, notes = [], []
    params = traj.params
    for law in laws:
        try:
            values = [_law_value(law.expression, theta) for theta in params]
        except Uncertifiable:
            continue
        scale = 1.0 + max(abs(v) for v in values)
        drift = max(abs(v - values[0]) for v in values)
        if law.kind == "linear":
            if name in _LINEAR_RUNS and not decays:
                ok = drift <= 1e-9 * scale * max(1, len(params))
                checks.append(Check("conservation", f"{name}: {law.expression} conserved", ok, drift,
                                    f"largest change {drift:.3g} over {len(params) - 1} steps"))
            elif drift > 1e-9 * scale:
                notes.append(f"{name}: the linear law {law.expression} drifts by {drift:.3g} (not claimed for this "
                             "optimizer)")
        elif law.kind == "quadratic" and name == "sgd" and not decays:
            # the change of θᵀQθ is a difference of two O(|θ|²) numbers: its float error is a few ulps of
            # |θ|², whatever the (possibly tiny, even exactly-0-in-exact-arithmetic) predicted change
            squares = sp.Add(*[sym ** 2 for sym in law.expression.free_symbols])
            worst = 0.0
            for t in range(len(params) - 1):
                batch = traj.batches[t] if t < len(traj.batches) else None
                xb, yb = (X, Y) if batch is None else (X[batch], Y[batch])
                g = numeric.gradients(analysis.net, params[t], xb, yb)
                predicted = lr * lr * _law_value(law.expression, g)
                actual = values[t + 1] - values[t]
                roundoff = 1e-12 * (1.0 + _law_value(squares, params[t]) + _law_value(squares, params[t + 1]))
                worst = max(worst, abs(actual - predicted) / roundoff)
            ok = worst <= 1.0
            checks.append(Check("conservation", f"sgd: {law.expression} changes by η² gᵀQg per step", ok, worst,
                                f"largest mismatch {worst:.3g} × the roundoff bound 1e-12·(1 + |θ|²)"))
    return checks, notes
