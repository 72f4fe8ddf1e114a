"""Numeric cross-checks of an analysis: closed forms against NumPy, finite differences and
real training trajectories (and, optionally, PyTorch).

A symbolic result is trusted when independent numbers agree with it:

* ``gradient``: the closed-form gradients at the init (evaluated per example by rigorous
  interval arithmetic, averaged over the batch) against :mod:`symderiv.numeric`'s
  NumPy backward pass;
* ``finite_differences``: the same closed forms against central differences of the
  NumPy loss; entries whose pre-activations sit at a kink are reported apart
  (finite differences mean nothing there), never silently skipped;
* ``trajectory``: for each optimizer, a real float64 training run on random data, on
  which every proved zero must be exactly 0, every proved tie must hold to a tight
  relative tolerance (the drift is reported), every entry must be unchanged before its
  first-move step, and an entry with a tight first-move step must change at it;
* ``torch``: autograd gradients and a ``torch.optim`` trajectory, when asked for.

The report's ``ok`` is False as soon as one check fails, and each failure names the
offending entry (1-based, as written by hand).
"""
from __future__ import annotations

import math
import re
import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import sympy as sp

from .certify import Uncertifiable, enclose, midpoint
from .errors import SymderivError
from .genericity import NO_WEIGHT_DECAY
from .guard import public_entry
from .jsontext import JsonFace
from .network import require_concrete

__all__ = ["Check", "VerifyReport", "VerificationError", "verify", "DEFAULT_OPTIMIZERS", "FD_SAMPLE",
           "finite_difference_sample"]

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
#: entries per parameter compared with finite differences unless ``full=True`` (a seeded sample)
FD_SAMPLE = 64

log = logging.getLogger("symderiv")


class VerificationError(SymderivError):
    """A numeric cross-check disagreed with a symbolic result."""


@dataclass
class Check(JsonFace):
    """One cross-check: what was compared, the worst discrepancy, and where."""

    kind: str
    subject: str
    ok: bool
    max_error: float = 0.0
    detail: str = ""
    offending: str | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        # plain Python values: checks are built from NumPy results (np.bool_ is not JSON), and inf / nan
        # are not JSON numbers (written as text)
        error = float(self.max_error)
        return {"kind": str(self.kind), "subject": str(self.subject), "ok": bool(self.ok),
                "max_error": error if math.isfinite(error) else str(error), "detail": str(self.detail),
                "offending": None if self.offending is None else str(self.offending), "seed": int(self.seed)}


@dataclass
class VerifyReport(JsonFace):
    """All checks of one :func:`verify` run."""

    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def raise_for_failures(self) -> None:
        """Raise :class:`VerificationError` naming the first offending entry."""
        bad = self.failures()
        if bad:
            c = bad[0]
            raise VerificationError(f"{c.kind} check failed for {c.subject}: {c.offending or ''} {c.detail}".strip())

    def to_dict(self) -> dict[str, Any]:
        """The report as a plain JSON-ready dict (:meth:`to_json` is its deterministic text)."""
        return {"ok": bool(self.ok), "checks": [c.to_dict() for c in self.checks], "notes": [str(n) for n in self.notes]}

    def _repr_html_(self) -> str:
        """Jupyter: the checks as a table (:func:`symderiv.notebook.report_html`)."""
        from .notebook import report_html

        return report_html(self)

    def verdict(self) -> str:
        """The one-line verdict, e.g. ``verify: OK (25 checks)``."""
        failed = len(self.failures())
        return (f"verify: {'OK' if self.ok else 'FAILED'} ({len(self.checks)} checks"
                + (f", {failed} failed" if failed else "") + ")")

    def details(self) -> str:
        """Every check on its own line, the notes, and the verdict last."""
        lines = [_check_line(c) for c in self.checks]
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(self.verdict())
        return "\n".join(lines)

    def __str__(self) -> str:
        """Short: one line per group of checks (every failing check in full), the notes, the verdict
        last; :meth:`details` lists every check."""
        groups: dict[str, list[Check]] = {}
        for c in self.checks:
            groups.setdefault(CHECK_GROUPS.get(c.kind, c.kind), []).append(c)
        lines = []
        for group, checks in groups.items():
            bad = [c for c in checks if not c.ok]
            worst = max(c.max_error for c in checks)
            if len(checks) == 1:
                lines.append(_check_line(checks[0]))
                continue
            runs = list(dict.fromkeys(c.subject.split(":")[0].split(" (")[0] for c in checks))
            scope = f"{len(checks)} checks on {len(runs)} run{'' if len(runs) == 1 else 's'}"
            lines.append(f"  {'ok  ' if not bad else 'FAIL'} {group:<19} {scope}: "
                         + ", ".join(dict.fromkeys(c.kind for c in checks)) + f"; max error {worst:.2e}")
            lines.extend(_check_line(c) for c in bad)
        lines.extend(f"  note: {n}" for n in self.notes)
        if len(self.checks) > len(groups):
            lines.append("  (every check: --details, or report.details())")
        lines.append(self.verdict())
        return "\n".join(lines)


#: check kinds shown as one line of :class:`VerifyReport`'s short form (the same runs, several checks)
CHECK_GROUPS = {"zeros": "trajectories", "ties": "trajectories", "unchanged_before": "trajectories",
                "moves_observed": "trajectories", "shifted_ties": "trajectories", "conservation": "trajectories"}


def _check_line(c: Check) -> str:
    text = f"  {'ok  ' if c.ok else 'FAIL'} {c.kind:<19} {c.subject:<22} max error {c.max_error:.2e}"
    if c.detail:
        text += f"  {c.detail}"
    if c.offending and not c.ok:
        text += f"  [{c.offending}]"
    return text


# ---------------------------------------------------------------- helpers
def finite_difference_sample(shapes: dict[str, tuple[int, ...]], seed: int, per_parameter: int | None = FD_SAMPLE,
                             block_ids: Mapping[str, np.ndarray] | None = None) -> dict[str, list[tuple[int, ...]]]:
    """The entries finite differences compare, per parameter: all of them when the parameter has at
    most ``per_parameter`` entries (or ``per_parameter`` is None), else ``per_parameter`` entries drawn
    without replacement by ``numpy.random.default_rng(seed + 29)`` (parameters in ``shapes`` order),
    sorted.  With ``block_ids`` (per parameter, each entry's block: the quotient) the first entry of
    every block is taken first, as far as ``per_parameter`` allows, and the draw fills the rest.
    Deterministic: the same shapes and seed give the same sample."""
    rng = np.random.default_rng(seed + 29)
    out: dict[str, list[tuple[int, ...]]] = {}
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        if per_parameter is None or size <= per_parameter:
            flat = np.arange(size)
        else:
            firsts = np.zeros(0, dtype=np.int64)
            if block_ids is not None and name in block_ids:
                firsts = np.unique(np.asarray(block_ids[name]).reshape(-1), return_index=True)[1][:per_parameter]
            rest = np.setdiff1d(rng.choice(size, size=per_parameter, replace=False), firsts)
            flat = np.sort(np.concatenate([firsts, rest[:per_parameter - len(firsts)]]))
        out[name] = [tuple(int(i) for i in np.unravel_index(int(k), shape)) for k in flat]
    return out


def _sampled_finite_differences(net, params, X, Y, sample: dict[str, list[tuple[int, ...]]],
                                progress: "_Progress", eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of the NumPy batch loss at the ``sample`` entries (one array per parameter,
    in sample order); :func:`symderiv.numeric.finite_differences` restricted to a sample."""
    from .numeric import _checked_batch, central_differences

    x, y = _checked_batch(net, X, Y)
    theta = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
    return central_differences(net, theta, x, y, sample, eps, progress.step)


class _Progress:
    """A progress counter on stderr, only when stderr is a terminal: tqdm if it is installed, else
    one rewritten line.  Silent (and free) otherwise, so logs and pipes stay clean."""

    def __init__(self, total: int, what: str, enabled: bool | None = None):
        stream = sys.stderr
        self.on = bool(enabled if enabled is not None else (stream is not None and stream.isatty()))
        self.total, self.what, self.done, self._bar = total, what, 0, None
        if self.on:
            try:
                from tqdm import tqdm  # optional: never a dependency

                self._bar = tqdm(total=total, desc=what, leave=False, file=stream)
            except ImportError:
                self._bar = None

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.on:
            return
        if self._bar is not None:
            self._bar.update(n)
        elif self.done == self.total or self.done % max(1, self.total // 50) == 0:
            sys.stderr.write(f"\r{self.what}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if not self.on:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\r" + " " * (len(self.what) + 24) + "\r")
            sys.stderr.flush()



#: pre-activations this close to a kink are float roundoff of an exact kink: the float references
#: (NumPy, PyTorch) may take either one-sided derivative there
KINK_ROUNDOFF = 1e-9

def _entry(name: str, index: Sequence[Any]) -> str:
    return f"{name}[{','.join(str(i + 1) for i in index)}]"


def _init_spec(analysis) -> dict[str, object]:
    """The analysis's init, in a form :func:`numeric.params_from_init` accepts."""
    from .init import constant, generic

    spec: dict[str, object] = {}
    for name, p in analysis.inits.items():
        spec[name] = constant(p.value) if p.kind == "uniform" else generic() if p.kind == "generic" else p.array
    return spec


def _init_symbol_values(analysis, seed: int) -> dict[sp.Symbol, float]:
    rng = np.random.default_rng(seed + 17)
    symbols: set = set()
    for p in analysis.inits.values():
        if p.kind == "uniform":
            symbols |= p.value.free_symbols
        elif p.kind == "array":
            for v in p.array.flat:
                symbols |= getattr(v, "free_symbols", set())
    return {s: float(rng.uniform(0.2, 0.9)) for s in sorted(symbols, key=str)}


def _closed_form_gradients(analysis, params, X, Y, symbol_values, facts_of: Mapping[str, dict],
                           columns: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Mean over the batch of the closed forms at the init, evaluated with interval arithmetic, once
    per block (the quotient) and spread over the entries.  With an input reduction the W1 entries of a
    reduced input class depend on their own column: only ``columns`` are evaluated there, the other
    entries of such classes are nan (not compared)."""
    net = analysis.net
    proof = analysis.proof
    from .engine import input_symbols

    x_syms = input_symbols(net.sizes[0])
    label_syms = [s for s in net.loss.labels(net.n_outputs) if isinstance(s, sp.Symbol)]
    base: dict = {s: sp.Rational(v) for s, v in symbol_values.items()}
    for name, p in analysis.inits.items():
        if p.kind == "generic":
            from .init import entry_symbol

            for index in np.ndindex(*params[name].shape):
                base[entry_symbol(name, index)] = sp.Rational(float(params[name][index]))
    if analysis.inputs is not None:
        return _reduced_closed_forms(analysis, base, X, Y, label_syms, facts_of, columns)
    blocks = list(proof.blocks)
    exprs = [analysis._gradients()[b] for b in blocks]
    total = np.zeros(len(blocks))
    for x, y in zip(X, Y):
        point = dict(base)
        point.update({s: sp.Rational(float(v)) for s, v in zip(x_syms, x)})
        point.update({s: sp.Rational(float(v)) for s, v in zip(label_syms, y)})
        values = enclose(exprs, point, dps=30, definitions=analysis.gradient_definitions())
        total += np.array([midpoint(v) for v in values])
    mean = dict(zip(blocks, total / len(X)))
    return {name: _per_block(facts_of[name], lambda b: mean[b], float) for name in net.parameter_names()}


def _compare(kind: str, subject: str, want: dict, got: dict, rtol: float, atol: float, seed: int,
             skip: dict | None = None) -> Check:
    worst, where = 0.0, None
    for name in want:
        a, n = np.asarray(want[name], float), np.asarray(got[name], float)
        err = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)
        err = np.where(np.isnan(a), 0.0, err)  # a closed form not evaluated there (a sampled column)
        if skip is not None and name in skip:
            err = np.where(skip[name], 0.0, err)
        if err.size and err.max() > worst:
            worst = float(err.max())
            where = _entry(name, np.unravel_index(int(err.argmax()), err.shape))
            where += f": closed form {a.flat[err.argmax()]:.12g}, reference {n.flat[err.argmax()]:.12g}"
    return Check(kind, subject, worst <= rtol, worst, f"rtol {rtol:g}", where, seed)


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


def _trajectory_checks(analysis, trajectory, subject: str, seed: int, tie_rtol: float, atol: float,
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
                   else _per_block(facts, lambda b: NO_WEIGHT_DECAY in analysis.facts_of(b).conditions, bool))
        zero = zero & ~assumed
        tight_total += int(tight.sum())
        flat = np.array([theta[name] for theta in thetas]).reshape(len(thetas), -1)  # steps × entries
        at = lambda cols, extra=None, n=name: (  # noqa: E731
            lambda i: _entry(n, np.unravel_index(int(cols[i]), shape)) + (extra(int(cols[i])) if extra else ""))
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
                        ends.append(_entry(name, np.unravel_index(int(claimed[hit[0]]), thetas[t][name].shape)))
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


def _per_block(facts: dict, value: Any, dtype: Any) -> np.ndarray:
    """``value(block)`` at every entry of a parameter, one call per distinct block
    (:meth:`~symderiv.analysis.Analysis.entry_facts`'s ``block_id`` and ``blocks``)."""
    table = np.array([value(b) for b in facts["blocks"]], dtype=dtype)
    return table[facts["block_id"]]


def _reduced_closed_forms(analysis, base: dict, X, Y, label_syms, facts_of: Mapping[str, dict],
                          columns: Sequence[int]) -> dict[str, np.ndarray]:
    """:func:`_closed_form_gradients` for an analysis with an input reduction (:mod:`symderiv.inputs`):
    an entry's closed form is its representative's, evaluated at the reduced data of the entry's
    own column (the class sums, and that column's datum in the representative's place).  Every block
    at the class sums; the W1 entries of reduced classes at the listed ``columns`` only."""
    from .engine import input_symbols

    m = analysis.inputs
    grads = analysis._gradients()
    xr = input_symbols(m.n_reduced)
    own = [j for j in sorted(set(columns)) if m.classes[m.column_class[j]].reduced]
    wanted: dict = {None: [b for name in facts_of for b in facts_of[name]["blocks"]]}
    for j in own:
        wanted[j] = list(facts_of["W1"]["blocks"])
    totals = {(column, b): 0.0 for column, bs in wanted.items() for b in bs}
    # the class sums of each example once (a sum over every member column)
    xs_all = [[sp.Rational(float(v)) for v in x] for x in X]
    for xs, y in zip(xs_all, Y):
        labels = {s: sp.Rational(float(v)) for s, v in zip(label_syms, y)}
        sums = m.reduced_data(xs, None)
        for column, bs in wanted.items():
            point = dict(base)
            point.update(labels)
            data = m.reduced_data(xs, column, sums=sums)
            point.update(zip(xr, data))
            for b, v in zip(bs, enclose([grads[b] for b in bs], point, dps=30,
                                        definitions=analysis.gradient_definitions())):
                totals[(column, b)] += midpoint(v)
    out = {name: _per_block(facts, lambda b: totals[(None, b)] / len(X), float) for name, facts in facts_of.items()}
    in_reduced = np.array([m.classes[c].reduced for c in m.column_class], dtype=bool)
    w1 = out["W1"]
    w1[:, in_reduced] = np.nan  # their own column's data: evaluated at the sampled columns below
    ids = facts_of["W1"]["block_id"]
    for j in own:
        table = np.array([totals[(j, b)] / len(X) for b in facts_of["W1"]["blocks"]])
        w1[:, j] = table[ids[:, j]]
    return out


#: optimizers linear in the gradient history (a linear law is exactly conserved along their runs)
_LINEAR_RUNS = ("sgd", "momentum", "nesterov")
_ENTRY = re.compile(r"^([Wb]\d+)_(\d+)(?:_(\d+))?$")


def _shifted_checks(analysis, traj, name: str) -> list[Check]:
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
                worst, where = dev, f"{_entry(n, i)} − {_entry(n0, i0)}"
    ok = worst <= 1e-9
    return [Check("shifted_ties", f"{name}: differences of shifted ties", ok, worst,
                  f"largest relative deviation {worst:.3g}" + (f" at {where}" if where else ""))]


def _law_value(expr: sp.Expr, theta: Mapping[str, np.ndarray]) -> float:
    """A law's expression (over entry symbols such as ``W2_1_3``, 1-based) at float parameters."""
    values = {}
    for sym in expr.free_symbols:
        m = _ENTRY.match(str(sym))
        if m is None:
            raise Uncertifiable(f"no parameter entry named {sym}")
        name, i, j = m.group(1), int(m.group(2)) - 1, m.group(3)
        values[sym] = sp.Float(float(theta[name][i] if j is None else theta[name][i, int(j) - 1]), 30)
    return float(expr.xreplace(values))


def _law_checks(analysis, traj, name: str, lr: float, X, Y, decays: bool) -> tuple[list[Check], list[str]]:
    """Every proved conservation law along one float trajectory: linear laws conserved to roundoff on
    runs linear in the gradient (SGD, momentum, Nesterov, no weight decay); quadratic laws change by
    exactly η²·gᵀQg per plain SGD step; other runs' drift is reported, not judged (not claimed there)."""
    from . import numeric

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


def _witness_replay(analysis, move_atol: float, facts_of: Mapping[str, dict] | None = None) -> Check | None:
    """Replay the prover's certified witness trajectory (one example, plain SGD) in NumPy:
    every class it certifies must change at its step."""
    from . import numeric

    proof = analysis.proof
    w = proof.trajectory
    if w is None or not w.moved:
        return None
    net = analysis.net
    # with an input reduction the witness ran on the reduced network: zero-padded data (symderiv.inputs)
    pairs = w.point if analysis.inputs is None else analysis.inputs.lift_point(w.point)
    point = {sp.Symbol(k, real=True): sp.Rational(v) for k, v in pairs}
    by_name = {str(k): v for k, v in point.items()}
    def value(v: Any) -> float:
        if isinstance(v, sp.Basic) and v.free_symbols:
            v = v.subs({s: by_name[str(s)] for s in v.free_symbols})
        return float(v)

    params = {}
    for name, p in analysis.inits.items():
        shape = tuple(int(n) for n in net.shape(name))
        if p.kind == "uniform":  # one value: no loop over the entries
            params[name] = np.full(shape, value(p.uniform_value()))
            continue
        arr = np.empty(shape)
        for index in np.ndindex(*shape):
            arr[index] = value(p.entry(index))
        params[name] = arr
    x = np.array([[float(by_name[f"x_{j}"]) for j in range(1, net.sizes[0] + 1)]])
    labels: list[Any] = [float(by_name[str(s)]) if isinstance(s, sp.Symbol) else None
                         for s in net.loss.labels(net.n_outputs)]
    if labels[-1] is None:  # the simplex: y_K = 1 − Σ_{k<K} y_k
        labels[-1] = 1.0 - sum(labels[:-1])
    y = np.array([labels])
    traj = numeric.train(net, params, x, y, optimizer="sgd", steps=w.steps, lr=float(sp.Rational(w.learning_rate)))
    missing, replayed, unresolvable = None, 0, 0
    for n, (k, step, change) in enumerate(w.moved):
        b = proof.classes[k][0]
        name = b.param
        facts = facts_of[name] if facts_of is not None else analysis.entry_facts(name)
        position = next(i for i, c in enumerate(facts["blocks"]) if c == b)
        idx = tuple(int(i) for i in np.argwhere(facts["block_id"] == position)[0])
        before = traj.params[step - 1][name][idx]
        # a certified change below float64 resolution of the value cannot show in a float replay
        if w.magnitudes[n] <= 1e-12 * max(1.0, abs(before)):
            unresolvable += 1
            continue
        replayed += 1
        if traj.params[step][name][idx] == before:
            missing = f"{_entry(name, idx)} did not change at step {step} in the float replay (certified change {change})"
            break
    detail = f"{replayed} certified first moves replayed in float64"
    if unresolvable:
        detail += f"; {unresolvable} below float64 resolution not replayable"
    return Check("witness_replay", f"SGD, {w.steps} step{'' if w.steps == 1 else 's'}, lr {w.learning_rate}", missing is None, 0.0,
                 detail, missing, 0)


# ---------------------------------------------------------------- the public function
@public_entry
def verify(
    target: Any,
    init: object = None,
    *,
    seed: int = 0,
    batch: int = 6,
    steps: int | None = None,
    lr: float = 0.05,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    use_torch: bool = False,
    grad_rtol: float = 1e-9,
    fd_rtol: float = 1e-6,
    tie_rtol: float = 1e-9,
    move_atol: float = 1e-8,
    strict: bool = False,
    full: bool = False,
    fd_sample: int = FD_SAMPLE,
    progress: bool | None = None,
    module: Any = None,
) -> VerifyReport:
    """Cross-check an analysis (or ``analyze(net, init)``) numerically.

    * ``target``: an :class:`~symderiv.analysis.Analysis`, or a network (then ``init`` is used), or a
      :class:`~symderiv.graph.GraphAnalysis` with ``module=`` the analyzed ``nn.Module``
      (:func:`symderiv.graph.replay.verify_graph`: real ``torch.optim`` runs; ``seed``, ``steps`` and
      ``strict`` apply).
    * ``seed``: data, generic inits and minibatches are drawn from it (reported per check).
    * ``batch``, ``steps``, ``lr``: the training runs (``steps`` default: the largest
      finite first-move step + 2, at least 3).
    * ``optimizers``: names from :data:`symderiv.numeric.OPTIMIZERS` (no weight decay:
      first-move steps assume none).
    * ``use_torch``: also compare with PyTorch autograd and ``torch.optim``.
    * ``grad_rtol``, ``fd_rtol``, ``tie_rtol``: relative tolerances.
    * ``move_atol``: the largest *first* deviation of a proved zero, a tied pair or an entry
      before its first-move step that counts as float roundoff.  An exact cancellation
      (e.g. ``Σ_k (p_k − y_k) = 0``) leaves a ~1e-17 gradient in floats, which an optimizer may
      later amplify (Adam can turn it into an lr-sized asymmetry); such amplification is
      reported in the check's detail, not counted as a failure of the theorem, which is a
      statement about exact arithmetic.  On RMSProp/Adam/AdamW runs, whose normalized steps
      make a 1e-11 gradient look like lr·1e-3, the tolerance is ``max(move_atol, 0.1·lr)``:
      those runs resolve only gradients above ~1e-7 from roundoff.
    * ``strict``: raise :class:`VerificationError` on the first failure.
    * ``full``: compare *every* entry with finite differences; by default at most ``fd_sample``
      entries per parameter, a seeded sample (:func:`finite_difference_sample`, stated in the
      check's detail).  The closed forms are compared with the NumPy backward pass and the
      trajectories checked at every entry either way.
    * ``progress``: a progress counter on stderr (default: only when stderr is a terminal;
      ``tqdm`` is used if installed).  Stages are also logged to the ``symderiv`` logger.
    """
    from . import numeric
    from .analysis import Analysis, analyze

    from .graph.analysis import GraphAnalysis

    if isinstance(target, GraphAnalysis):  # a traced module: real torch.optim runs of ``module``
        if module is None:
            from .errors import InvalidArgument

            raise InvalidArgument("verify of a graph analysis needs the analyzed nn.Module: verify(analysis, module=model)")
        from .graph.replay import verify_graph

        return verify_graph(target, module, seed=seed, steps=steps, strict=strict)
    analysis = target if isinstance(target, Analysis) else analyze(target, init, seed=seed)
    net = analysis.net
    require_concrete(net, "verify (it trains real networks; analyze a concrete width)")
    report = VerifyReport()
    symbol_values = _init_symbol_values(analysis, seed)
    params = numeric.params_from_init(net, _init_spec(analysis), seed=seed, values=symbol_values)
    X, Y = numeric.random_data(net, batch, seed=seed)
    facts_of = {name: analysis.entry_facts(name) for name in net.parameter_names()}
    shapes = {name: tuple(np.shape(params[name])) for name in net.parameter_names()}
    sample = finite_difference_sample(shapes, seed, None if full else fd_sample,
                                      {name: f["block_id"] for name, f in facts_of.items()})

    # closed forms against the NumPy backward pass and against finite differences
    log.info("verify: %s; closed forms against the NumPy backward pass", net.describe())
    try:
        closed = _closed_form_gradients(analysis, params, X, Y, symbol_values, facts_of,
                                        [ix[1] for ix in sample.get("W1", [])])
    except Uncertifiable as exc:  # a pre-activation at a kink: closed forms need the kink convention there
        closed = None
        report.notes.append(f"closed forms not evaluated: {exc}")
    if closed is not None:
        reference = numeric.gradients(net, params, X, Y)
        check = _compare("gradient", "NumPy backward pass", closed, reference, grad_rtol, 1e-12, seed)
        unevaluated = int(np.isnan(closed["W1"]).sum()) if "W1" in closed else 0
        if unevaluated:  # input reduction: W1 entries of reduced classes at the sampled columns only
            total = sum(int(np.size(v)) for v in closed.values())
            check.detail += (f"; {total - unevaluated} of {total} entries: every block, and the W1 entries of "
                             "reduced input classes at the sampled columns")
        if not check.ok and numeric.at_kink(net, params, X, eps=KINK_ROUNDOFF):
            # a pre-activation that is exactly 0 (a kink) in exact arithmetic comes out as ±1e-20 in
            # float64 (e.g. FMA in the matrix product), so the float reference takes a one-sided
            # derivative where the closed form rightly uses the kink convention: not comparable
            report.notes.append("the NumPy backward pass was not compared with the closed forms: a pre-activation "
                                f"lies within {KINK_ROUNDOFF:g} of a kink, where float roundoff picks the side "
                                f"({check.detail})")
        else:
            report.checks.append(check)
        if numeric.at_kink(net, params, X):
            report.notes.append("some pre-activation sits at a kink at the init: finite differences are meaningless "
                                "there and were not compared (the closed forms use the stated kink convention)")
        else:
            n_sample = sum(len(v) for v in sample.values())
            n_total = sum(int(np.prod(s)) for s in shapes.values())
            log.info("verify: finite differences at %d of %d entries", n_sample, n_total)
            bar = _Progress(n_sample, "verify: finite differences", progress)
            try:
                fd = _sampled_finite_differences(net, params, X, Y, sample, bar)
            finally:
                bar.close()
            want = {name: np.array([closed[name][ix] for ix in sample[name]]) for name in sample}
            check = _compare("finite_differences", "central differences", want, fd, fd_rtol, 1e-8, seed)
            if check.offending:  # _compare names the position in the sample: name the entry
                name, _, rest = check.offending.partition("[")
                k = int(rest.split("]")[0]) - 1
                check.offending = _entry(name, sample[name][k]) + check.offending.split("]", 1)[1]
            scope = (f"every entry ({n_total})" if n_sample == n_total else
                     f"{n_sample} of {n_total} entries (at most {fd_sample} per parameter, seeded sample, seed {seed})")
            check.detail = f"{check.detail}; {scope}"
            report.checks.append(check)
        if use_torch:
            from .torch import torch_gradients

            check = _compare("gradient", "PyTorch autograd", closed, torch_gradients(net, params, X, Y), grad_rtol,
                             1e-12, seed)
            if not check.ok and numeric.at_kink(net, params, X, eps=KINK_ROUNDOFF):
                report.notes.append(f"PyTorch autograd not compared: a pre-activation lies within {KINK_ROUNDOFF:g} "
                                    f"of a kink ({check.detail})")
            else:
                report.checks.append(check)

    # training trajectories
    finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
    horizon = steps if steps is not None else max([3] + [s + 2 for s in finite])
    batch_size = max(1, batch // 2)
    bar = _Progress(len(optimizers), "verify: trajectories", progress)
    for name in optimizers:
        log.info("verify: %s trajectory, %d steps", name, horizon)
        bar.step()
        traj = numeric.train(net, params, X, Y, optimizer=name, steps=horizon, lr=lr, batch_size=batch_size, seed=seed)
        decays = name == "adamw" or traj.options.get("weight_decay", 0) not in (0, 0.0)
        subject = f"{name} ({horizon} steps{', weight decay' if decays else ''})"
        atol = max(move_atol, 0.1 * lr) if name in NORMALIZED_OPTIMIZERS else move_atol
        report.checks.extend(_trajectory_checks(analysis, traj, subject, seed, tie_rtol, atol, not decays, facts_of))
        if not decays:
            report.checks.extend(_shifted_checks(analysis, traj, name))
        law_checks, law_notes = _law_checks(analysis, traj, name, lr, X, Y, decays)
        report.checks.extend(law_checks)
        report.notes.extend(law_notes)
    bar.close()
    if use_torch:
        from .torch import torch_trajectory

        for name in optimizers:
            traj = torch_trajectory(net, params, X, Y, optimizer=name, steps=horizon, lr=lr,
                                    batch_size=batch_size, seed=seed)
            decays = name == "adamw"
            atol = max(move_atol, 0.1 * lr) if name in NORMALIZED_OPTIMIZERS else move_atol
            report.checks.extend(_trajectory_checks(analysis, traj, f"torch {name} ({horizon} steps)", seed, tie_rtol,
                                                    atol, not decays, facts_of))
    log.info("verify: witness replay")
    replay = _witness_replay(analysis, move_atol, facts_of)
    if replay is not None:
        report.checks.append(replay)
    if any("weight decay" in c.subject for c in report.checks):
        report.notes.append("first-move steps assume no weight decay: they are not checked on weight-decay runs "
                            "(zeros and ties are)")
    log.info("verify: %s (%d checks)", "OK" if report.ok else "FAILED", len(report.checks))
    if strict:
        report.raise_for_failures()
    return report
