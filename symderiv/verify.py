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

import dataclasses
import inspect
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from . import numeric
from .analysis import Analysis, analyze
from .certify import Uncertifiable, enclose, midpoint
from .engine import input_symbols
from .errors import InvalidArgument
from .faces import register_face
from .graph.analysis import GraphAnalysis
from .guard import public_entry
from .init import constant, entry_symbol, generic
from .network import require_concrete
from .verify_report import CHECK_GROUPS, Check, VerificationError, VerifyReport, entry_label
from .verify_trajectories import NORMALIZED_OPTIMIZERS, law_checks, per_block, shifted_checks, trajectory_checks

__all__ = ["Check", "VerifyReport", "VerificationError", "VerifyOptions", "verify", "DEFAULT_OPTIMIZERS", "FD_SAMPLE",
           "finite_difference_sample", "CHECK_GROUPS", "NORMALIZED_OPTIMIZERS"]

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
#: entries per parameter compared with finite differences unless ``full=True`` (a seeded sample)
FD_SAMPLE = 64

log = logging.getLogger("symderiv")

#: the trajectory checks under their former names (tests and callers reach them here)
_trajectory_checks, _shifted_checks, _law_checks, _per_block = trajectory_checks, shifted_checks, law_checks, per_block
_entry = entry_label


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
    x, y = numeric._checked_batch(net, X, Y)
    theta = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
    return numeric.central_differences(net, theta, x, y, sample, eps, progress.step)


class _Progress:
    """A progress counter on stderr, only when stderr is a terminal: tqdm if it is installed, else
    one rewritten line.  Silent (and free) otherwise, so logs and pipes stay clean."""

    def __init__(self, total: int, what: str, enabled: bool | None = None):
        stream = sys.stderr
        self.on = bool(enabled if enabled is not None else (stream is not None and stream.isatty()))
        self.total, self.what, self.done, self._bar = total, what, 0, None
        if self.on:
            try:
                from tqdm import tqdm  # optional, never a dependency: imported only when a terminal shows it

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


def init_spec(analysis) -> dict[str, object]:
    """The analysis's init, in a form :func:`numeric.params_from_init` accepts."""
    spec: dict[str, object] = {}
    for name, p in analysis.inits.items():
        spec[name] = constant(p.value) if p.kind == "uniform" else generic() if p.kind == "generic" else p.array
    return spec


def init_symbol_values(analysis, seed: int) -> dict[sp.Symbol, float]:
    """A float for every symbol of the analysis's init (``constant(c)``), drawn from ``seed``: the
    values the numeric runs use (:func:`verify`, :mod:`symderiv.plot`)."""
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
    x_syms = input_symbols(net.sizes[0])
    label_syms = [s for s in net.loss.labels(net.n_outputs) if isinstance(s, sp.Symbol)]
    base: dict = {s: sp.Rational(v) for s, v in symbol_values.items()}
    for name, p in analysis.inits.items():
        if p.kind == "generic":
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
    return {name: per_block(facts_of[name], lambda b: mean[b], float) for name in net.parameter_names()}


def _compare(kind: str, subject: str, want: dict, got: dict, rtol: float, atol: float, seed: int,
             locate: Callable[[str, tuple[int, ...]], str] = entry_label) -> Check:
    """The worst relative discrepancy of ``got`` from ``want`` (parameter by parameter); ``locate``
    names the entry at a position of an array (default: the array is the parameter itself)."""
    worst, where = 0.0, None
    for name in want:
        a, n = np.asarray(want[name], float), np.asarray(got[name], float)
        err = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)
        err = np.where(np.isnan(a), 0.0, err)  # a closed form not evaluated there (a sampled column)
        if err.size and err.max() > worst:
            worst = float(err.max())
            where = locate(name, tuple(int(i) for i in np.unravel_index(int(err.argmax()), err.shape)))
            where += f": closed form {a.flat[err.argmax()]:.12g}, reference {n.flat[err.argmax()]:.12g}"
    return Check(kind, subject, worst <= rtol, worst, f"rtol {rtol:g}", where, seed)


def _reduced_closed_forms(analysis, base: dict, X, Y, label_syms, facts_of: Mapping[str, dict],
                          columns: Sequence[int]) -> dict[str, np.ndarray]:
    """:func:`_closed_form_gradients` for an analysis with an input reduction (:mod:`symderiv.inputs`):
    an entry's closed form is its representative's, evaluated at the reduced data of the entry's
    own column (the class sums, and that column's datum in the representative's place).  Every block
    at the class sums; the W1 entries of reduced classes at the listed ``columns`` only."""
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
    out = {name: per_block(facts, lambda b: totals[(None, b)] / len(X), float) for name, facts in facts_of.items()}
    in_reduced = np.array([m.classes[c].reduced for c in m.column_class], dtype=bool)
    w1 = out["W1"]
    w1[:, in_reduced] = np.nan  # their own column's data: evaluated at the sampled columns below
    ids = facts_of["W1"]["block_id"]
    for j in own:
        table = np.array([totals[(j, b)] / len(X) for b in facts_of["W1"]["blocks"]])
        w1[:, j] = table[ids[:, j]]
    return out


def _witness_replay(analysis, move_atol: float, facts_of: Mapping[str, dict] | None = None) -> Check | None:
    """Replay the prover's certified witness trajectory (one example, plain SGD) in NumPy:
    every class it certifies must change at its step."""
    proof = analysis.proof
    w = proof.trajectory
    full = getattr(analysis, "full_witnesses", None)
    if analysis.inputs is not None:  # input reduction: the published witness ran on the full network
        w = full[0] if full else None
        if w is None or not w.moves:
            return None
        pairs = w.point
        moves = [(m.param, m.index, m.step, m.change, m.magnitude) for m in w.moves]
    else:
        if w is None or not w.moved:
            return None
        pairs, moves = w.point, []
        for n, (k, step, change) in enumerate(w.moved):
            b = proof.classes[k][0]
            facts = facts_of[b.param] if facts_of is not None else analysis.entry_facts(b.param)
            position = next(i for i, c in enumerate(facts["blocks"]) if c == b)
            idx = tuple(int(i) for i in np.argwhere(facts["block_id"] == position)[0])
            moves.append((b.param, idx, step, change, w.magnitudes[n]))
    net = analysis.net
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
    for name, idx, step, change, magnitude in moves:
        before = traj.params[step - 1][name][idx]
        # a certified change below float64 resolution of the value cannot show in a float replay
        if magnitude <= 1e-12 * max(1.0, abs(before)):
            unresolvable += 1
            continue
        replayed += 1
        if traj.params[step][name][idx] == before:
            missing = f"{entry_label(name, idx)} did not change at step {step} in the float replay (certified change {change})"
            break
    detail = f"{replayed} certified first moves replayed in float64"
    if unresolvable:
        detail += f"; {unresolvable} below float64 resolution not replayable"
    return Check("witness_replay", f"SGD, {w.steps} step{'' if w.steps == 1 else 's'}, lr {w.learning_rate}", missing is None, 0.0,
                 detail, missing, 0)


# ---------------------------------------------------------------- the options
@dataclass(frozen=True)
class VerifyOptions:
    """How :func:`verify` checks an analysis (every field is also a keyword of :func:`verify`).

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

    seed: int = 0
    batch: int = 6
    steps: int | None = None
    lr: float = 0.05
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS
    use_torch: bool = False
    grad_rtol: float = 1e-9
    fd_rtol: float = 1e-6
    tie_rtol: float = 1e-9
    move_atol: float = 1e-8
    strict: bool = False
    full: bool = False
    fd_sample: int = FD_SAMPLE
    progress: bool | None = None

    def __post_init__(self) -> None:  # every field checked before any work: one line naming the field
        from .errors import check_seed

        check_seed(self.seed)
        for name in ("batch", "fd_sample") + (() if self.steps is None else ("steps",)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
                shown = "a huge integer" if isinstance(value, int) and value.bit_length() > 64 else repr(value)[:60]
                raise InvalidArgument(f"{name} must be a positive integer (at most 10**6), got {shown}")
        for name in ("lr", "grad_rtol", "fd_rtol", "tie_rtol", "move_atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf") \
                    or (name == "lr" and value == 0):
                raise InvalidArgument(f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}, got {value!r}")

    def atol_for(self, optimizer: str) -> float:
        """The roundoff tolerance of a first deviation on a run of ``optimizer`` (``move_atol``)."""
        return max(self.move_atol, 0.1 * self.lr) if optimizer in NORMALIZED_OPTIMIZERS else self.move_atol


def _of_run(checks: list[Check], run: str) -> list[Check]:
    """``checks``, each marked as looking at ``run`` (the short report counts runs by it)."""
    for c in checks:
        c.run = run
    return checks


def _gradient_checks(analysis, report: VerifyReport, o: VerifyOptions, data: tuple, symbol_values: dict,
                     facts_of: Mapping[str, dict]) -> None:
    """The closed forms against the NumPy backward pass, finite differences and (``use_torch``) PyTorch
    autograd, at the init on the batch ``data = (params, X, Y)``."""
    params, X, Y = data
    net = analysis.net
    shapes = {name: tuple(np.shape(params[name])) for name in net.parameter_names()}
    sample = finite_difference_sample(shapes, o.seed, None if o.full else o.fd_sample,
                                      {name: f["block_id"] for name, f in facts_of.items()})
    log.info("verify: %s; closed forms against the NumPy backward pass", net.describe())
    try:
        closed = _closed_form_gradients(analysis, params, X, Y, symbol_values, facts_of,
                                        [ix[1] for ix in sample.get("W1", [])])
    except Uncertifiable as exc:  # a pre-activation at a kink: closed forms need the kink convention there
        report.notes.append(f"closed forms not evaluated: {exc}")
        return
    reference = numeric.gradients(net, params, X, Y)
    check = _compare("gradient", "NumPy backward pass", closed, reference, o.grad_rtol, 1e-12, o.seed)
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
        bar = _Progress(n_sample, "verify: finite differences", o.progress)
        try:
            fd = _sampled_finite_differences(net, params, X, Y, sample, bar)
        finally:
            bar.close()
        want = {name: np.array([closed[name][ix] for ix in sample[name]]) for name in sample}
        # the arrays hold the sample in order: position k of a parameter is its k-th sampled entry
        check = _compare("finite_differences", "central differences", want, fd, o.fd_rtol, 1e-8, o.seed,
                         lambda name, position: entry_label(name, sample[name][position[0]]))
        scope = (f"every entry ({n_total})" if n_sample == n_total else
                 f"{n_sample} of {n_total} entries (at most {o.fd_sample} per parameter, seeded sample, seed {o.seed})")
        check.detail = f"{check.detail}; {scope}"
        report.checks.append(check)
    if o.use_torch:
        from .torch import torch_gradients  # optional heavy dependency (symderiv[torch]): only when asked for

        check = _compare("gradient", "PyTorch autograd", closed, torch_gradients(net, params, X, Y), o.grad_rtol,
                         1e-12, o.seed)
        if not check.ok and numeric.at_kink(net, params, X, eps=KINK_ROUNDOFF):
            report.notes.append(f"PyTorch autograd not compared: a pre-activation lies within {KINK_ROUNDOFF:g} "
                                f"of a kink ({check.detail})")
        else:
            report.checks.append(check)


def _training_checks(analysis, report: VerifyReport, o: VerifyOptions, data: tuple,
                     facts_of: Mapping[str, dict]) -> bool:
    """Float training runs with each optimizer (and ``torch.optim`` with ``use_torch``) on ``data =
    (params, X, Y)``, checked against the analysis; whether a run had weight decay."""
    params, X, Y = data
    net = analysis.net
    finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
    horizon = o.steps if o.steps is not None else max([3] + [s + 2 for s in finite])
    batch_size = max(1, o.batch // 2)
    decayed = False
    bar = _Progress(len(o.optimizers), "verify: trajectories", o.progress)
    for name in o.optimizers:
        log.info("verify: %s trajectory, %d steps", name, horizon)
        bar.step()
        traj = numeric.train(net, params, X, Y, optimizer=name, steps=horizon, lr=o.lr, batch_size=batch_size,
                             seed=o.seed)
        decays = name == "adamw" or traj.options.get("weight_decay", 0) not in (0, 0.0)
        decayed = decayed or decays
        subject = f"{name} ({horizon} steps{', weight decay' if decays else ''})"
        report.checks.extend(_of_run(trajectory_checks(analysis, traj, subject, o.seed, o.tie_rtol, o.atol_for(name),
                                                       not decays, facts_of), name))
        if not decays:
            report.checks.extend(_of_run(shifted_checks(analysis, traj, name), name))
        law_found, law_notes = law_checks(analysis, traj, name, o.lr, X, Y, decays)
        report.checks.extend(_of_run(law_found, name))
        report.notes.extend(law_notes)
    bar.close()
    if o.use_torch:
        from .torch import torch_trajectory  # optional heavy dependency (symderiv[torch]): only when asked for

        for name in o.optimizers:
            traj = torch_trajectory(net, params, X, Y, optimizer=name, steps=horizon, lr=o.lr,
                                    batch_size=batch_size, seed=o.seed)
            decays = name == "adamw"
            report.checks.extend(_of_run(trajectory_checks(analysis, traj, f"torch {name} ({horizon} steps)", o.seed,
                                                           o.tie_rtol, o.atol_for(name), not decays, facts_of),
                                         f"torch {name}"))
    return decayed


# ---------------------------------------------------------------- the public function
def verify(target: Any, init: object = None, *, options: VerifyOptions | None = None, module: Any = None,
           **settings: Any) -> VerifyReport:
    """Cross-check an analysis (or ``analyze(net, init)``) numerically.

    * ``target``: an :class:`~symderiv.analysis.Analysis`, or a network (then ``init`` is used), or a
      :class:`~symderiv.graph.GraphAnalysis` with ``module=`` the analyzed ``nn.Module``
      (:func:`symderiv.graph.replay.verify_graph`: real ``torch.optim`` runs; ``seed``, ``steps`` and
      ``strict`` apply).
    * ``options``: a :class:`VerifyOptions`; each of its fields may also be given as a keyword
      (``seed=3``, ``optimizers=("sgd",)``, ``use_torch=True``, …), which overrides it.  The fields
      and their meaning: :class:`VerifyOptions`.
    """
    o = dataclasses.replace(options if options is not None else VerifyOptions(), **settings)
    if isinstance(target, GraphAnalysis):  # a traced module: real torch.optim runs of ``module``
        if module is None:
            raise InvalidArgument("verify of a graph analysis needs the analyzed nn.Module: verify(analysis, module=model)")
        from .graph.replay import verify_graph  # imports torch (optional, symderiv[torch]): only for a module

        return verify_graph(target, module, seed=o.seed, steps=o.steps, strict=o.strict)
    analysis = target if isinstance(target, Analysis) else analyze(target, init, seed=o.seed)
    net = analysis.net
    require_concrete(net, "verify (it trains real networks; analyze a concrete width)")
    report = VerifyReport()
    symbol_values = init_symbol_values(analysis, o.seed)
    params = numeric.params_from_init(net, init_spec(analysis), seed=o.seed, values=symbol_values)
    X, Y = numeric.random_data(net, o.batch, seed=o.seed)
    facts_of = {name: analysis.entry_facts(name) for name in net.parameter_names()}
    _gradient_checks(analysis, report, o, (params, X, Y), symbol_values, facts_of)
    decayed = _training_checks(analysis, report, o, (params, X, Y), facts_of)
    log.info("verify: witness replay")
    replay = _witness_replay(analysis, o.move_atol, facts_of)
    if replay is not None:
        report.checks.append(replay)
    if decayed:
        report.notes.append("first-move steps assume no weight decay: they are not checked on weight-decay runs "
                            "(zeros and ties are)")
    log.info("verify: %s (%d checks)", "OK" if report.ok else "FAILED", len(report.checks))
    if o.strict:
        report.raise_for_failures()
    return report


# the keywords verify() accepts are VerifyOptions' fields: stated in its signature, so help() lists them and a
# misspelled keyword is refused by Python's own binding (symderiv.guard.public_entry checks the signature)
verify.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p for p in inspect.signature(verify).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    + [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
       for f in dataclasses.fields(VerifyOptions)],
    return_annotation=inspect.signature(verify).return_annotation)
verify = public_entry(verify)
register_face("verify", verify)  # Analysis.verify
