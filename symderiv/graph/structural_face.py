"""The face of a tensor-level proof (:mod:`symderiv.graph.structural`): the analysis and its verify.

:class:`StructuralGraphAnalysis` reads the per-tensor facts of a :class:`~symderiv.graph.structural.StructuralProof`
per entry (lazy views, no per-entry storage) and per group (one group per tensor,
:mod:`symderiv.graph.tensor_facts`); :func:`verify_structural` replays the module with ``torch.optim`` and
judges every claim per tensor (:func:`tensor_claims`).  Split from :mod:`.structural`, which re-exports these
names.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import sympy as sp

from ..prover import FirstMove, TrajectoryWitness
from .analysis import GraphAnalysis
from .facts import ClassFacts
from .ir import Graph
from .prover import Coord
from .tensor_facts import EntryGroup

if TYPE_CHECKING:  # the proof module imports this one at its end (re-export): no import cycle at run time
    from .structural import StructuralProof

__all__ = ["StructuralGraphAnalysis", "StructuralView", "structural_analysis", "tensor_claims", "verify_structural"]


class _ClassOf(Mapping):
    """Entry -> class: 0 for the zero class, else a class of its own (``base[name] + flat``)."""

    def __init__(self, graph: Graph, zero: set[str]) -> None:
        self.graph, self.zero = graph, zero
        self.base: dict[str, int] = {}
        k = 1 if zero else 0
        for name in graph.trainable():
            if name not in zero:
                self.base[name] = k
                k += graph.params[name].size
        self.count = k
        self.owner = sorted((b, n) for n, b in self.base.items())

    def __getitem__(self, c: Coord) -> int:
        name, flat = c
        if name in self.zero:
            return 0
        return self.base[name] + flat

    def __iter__(self):
        for name in self.graph.trainable():
            for i in range(self.graph.params[name].size):
                yield (name, i)

    def __len__(self) -> int:
        return sum(self.graph.params[n].size for n in self.graph.trainable())

    def param_of(self, k: int) -> str:
        import bisect

        i = bisect.bisect_right([b for b, _ in self.owner], k) - 1
        return self.owner[i][1]


class _MovesOf(Mapping):
    """Class -> :class:`FirstMove`, lazily (every class of a tensor has the tensor's first move; a dict over the
    entries of a 25M-parameter model would cost seconds and gigabytes).  ``values()`` yields one first move per
    tensor (what the faces read from it: the steps and their tightness)."""

    def __init__(self, class_of: _ClassOf, moves: Mapping[str, FirstMove]) -> None:
        self.class_of, self.moves = class_of, moves

    def __getitem__(self, k: int) -> FirstMove:
        if not isinstance(k, (int, np.integer)) or not 0 <= k < self.class_of.count or \
                (k == 0 and self.class_of.zero):
            raise KeyError(k)
        return self.moves[self.class_of.param_of(int(k))]

    def __iter__(self):
        for name, base in self.class_of.base.items():
            yield from range(base, base + self.class_of.graph.params[name].size)

    def __len__(self) -> int:
        return self.class_of.count - (1 if self.class_of.zero else 0)

    def values(self):
        return [self.moves[name] for name in self.class_of.base]


@dataclass
class StructuralView:
    """The :class:`StructuralProof` with the attributes the graph faces read from a proof."""

    graph: Graph
    structural: StructuralProof
    class_of: _ClassOf
    zero_class: int | None
    first_moves: Mapping[int, FirstMove]
    undecided: list[str]
    iterations: int
    trajectories: list[TrajectoryWitness]
    init_symbols: list[sp.Symbol] = field(default_factory=list)

    @property
    def coords(self):
        return list(iter(self.class_of))


class StructuralGraphAnalysis(GraphAnalysis):
    """:class:`GraphAnalysis` of a :class:`StructuralProof`: facts per parameter tensor, read per entry (every
    entry of a generic or released tensor its own tie class: no tie claimed).  ``gradient_at_init`` is
    0 where the tensor-level argument proves it, otherwise None (not computed: the proof needs no closed
    form, and one per entry of a 4096-wide tensor would cost what this path avoids)."""

    @functools.cached_property
    def _param_facts(self) -> dict[str, ClassFacts]:
        from ..floats import BIT_EXACT
        from ..genericity import GENERIC_INIT, NO_WEIGHT_DECAY

        view: StructuralView = self.proof  # type: ignore[assignment]
        s = view.structural
        out: dict[str, ClassFacts] = {}
        for name in view.graph.trainable():
            if name in s.zero_params:
                out[name] = ClassFacts(True, -1, None, False, (), BIT_EXACT, None)
                continue
            fm = s.first_moves[name]
            never_zero = fm.step is None and s.kinds[name] == "zero"
            conditions = ((NO_WEIGHT_DECAY,) if never_zero else ()) + (
                (GENERIC_INIT,) if fm.tight and self.values_mode == "generic" else ())
            out[name] = ClassFacts(never_zero, -1, fm.step, fm.tight, conditions, BIT_EXACT if never_zero else None,
                                   None if fm.step == 1 else BIT_EXACT)
        return out

    @functools.cached_property
    def _tie_bases(self) -> dict[str, int | None]:
        """Per parameter: the tie id of its first entry (None: its entries share the zero id)."""
        ids: dict[str, int | None] = {}
        zero_id: int | None = None
        k = 0
        self._zero_id = -1
        for name in self.proof.graph.trainable():
            if self._param_facts[name].stays_zero:
                if zero_id is None:
                    zero_id, k = k, k + 1
                    self._zero_id = zero_id
                ids[name] = None
            else:
                ids[name] = k
                k += self.proof.graph.params[name].size
        return ids

    def _entry(self, name: str, flat: int) -> ClassFacts:
        base = self._tie_bases[name]
        f = self._param_facts[name]
        return dataclasses.replace(f, tie_id=self._zero_id if base is None else base + flat)

    def _raw_groups(self, name: str) -> list[EntryGroup]:
        """One group per tensor: its facts; the zero tensors share the zero tie id, no other tie is claimed."""
        base = self._tie_bases[name]
        tie = self._zero_id if base is None else None
        return [EntryGroup(dataclasses.replace(self._param_facts[name], tie_id=tie),  # type: ignore[arg-type]
                           self.proof.graph.params[name].size)]

    @functools.cached_property
    def facts(self) -> Mapping[int, ClassFacts]:  # type: ignore[override]
        view: StructuralView = self.proof  # type: ignore[assignment]
        analysis = self

        class _Facts(Mapping):
            def __getitem__(self, k: int) -> ClassFacts:
                if k == 0 and view.zero_class == 0:
                    name = next(n for n in view.graph.trainable() if n in view.structural.zero_params)
                    return analysis._entry(name, 0)
                name = view.class_of.param_of(k)
                return analysis._entry(name, k - view.class_of.base[name])

            def __iter__(self):
                return iter(range(view.class_of.count))

            def __len__(self) -> int:
                return view.class_of.count
        return _Facts()

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        """As :meth:`GraphAnalysis.entry_facts`; every field but ``tie_class`` is one value per tensor, returned as a
        read-only broadcast view (no per-entry storage: a 25M-parameter model reads its facts in seconds)."""
        shape = self.proof.graph.params[name].shape
        f = self._entry(name, 0)

        def uniform(value: Any) -> np.ndarray:
            cell = np.empty((), dtype=object)
            cell[()] = value
            return np.broadcast_to(cell, shape)

        base = self._tie_bases[name]
        size = self.proof.graph.params[name].size
        ties = np.full(size, self._zero_id, dtype=np.int64) if base is None else np.arange(base, base + size)
        return {"stays_zero": uniform(f.stays_zero), "tie_class": ties.reshape(shape),
                "first_move_step": uniform(f.first_move_step), "first_move_tight": uniform(f.first_move_tight),
                "conditions": uniform(list(f.conditions)), "float": uniform(f.float_status),
                "first_move_float": uniform(f.first_move_float)}

    def to_latex(self, *, title: str | None = None) -> str:
        """The tensor-level proof as a standalone LaTeX document
        (:func:`symderiv.graph.structural_latex.structural_proof_document`)."""
        from .structural_latex import structural_proof_document

        return structural_proof_document(self, title=title)

    def verify(self, module: Any, **options: Any):
        """Real ``torch.optim`` runs of ``module`` against every claim (:func:`verify_structural`)."""
        return verify_structural(self, module, **options)

    def gradient_at_init(self, name: str, index: Any = ()) -> sp.Expr | None:
        self._coord(name, index)  # validates the name and index
        s: StructuralProof = self.proof.structural  # type: ignore[attr-defined]
        if name in s.zero_params or name in s.unchanged.get(0, []):
            return sp.Integer(0)
        return None

    def init_symbol_values(self) -> dict[sp.Symbol, sp.Rational]:
        return {}

    def scope(self) -> str:
        base = super().scope().replace(" (moves are certified at random values of that pattern)", "")
        return base + (" Tensor-level proof (symderiv.graph.structural): the zeros and 'unchanged before "
                                  "step t' hold for every value of the nonzero entries; moves are certified at a "
                                  "structured point (every entry of a tensor equal, the example constant); ties "
                                  "among the entries of a nonzero tensor are not examined (none claimed).")


def structural_analysis(graph: Graph, *, optimizer_class: Any, name: str, seed: int = 0) -> StructuralGraphAnalysis | None:
    """The :class:`StructuralGraphAnalysis` of a large (:func:`prefers_tensor_level`) eligible graph with generic
    values, else None."""
    from .structural import prefers_tensor_level, prove_structural

    if not prefers_tensor_level(graph):
        return None
    s = prove_structural(graph, seed=seed)
    if s is None:
        return None
    class_of = _ClassOf(graph, s.zero_params)
    view = StructuralView(graph, s, class_of, 0 if s.zero_params else None, _MovesOf(class_of, s.first_moves),
                          s.undecided, s.iterations, s.trajectories)
    return StructuralGraphAnalysis(view, optimizer_class, "generic", name)  # type: ignore[arg-type]


def tensor_claims(analysis: StructuralGraphAnalysis, snaps: list[dict[str, np.ndarray]],
                  exact_only_tolerance: float = 1e-12) -> list[str]:
    """Every claim of a tensor-level analysis violated along ``snaps``, one vectorized check per tensor (the
    claims are per tensor; the per-entry checker of :mod:`.replay` would walk 11M entries of a ResNet-18 in
    Python): a zero tensor is exactly 0 at every snapshot; a tensor whose first move is step ``t`` equals its
    init at every snapshot before ``t`` (bit for bit when ``bit_exact``; to ``exact_only_tolerance`` relative
    to its init for ``exact_arithmetic_only``; never-moving tensors at every snapshot).  No tie is claimed."""
    bad: list[str] = []
    for name in analysis.proof.graph.trainable():
        f = analysis._entry(name, 0)
        init = snaps[0][name]
        if f.stays_zero:
            if any(np.any(sn[name] != 0) for sn in snaps):
                bad.append(f"{name} claimed to stay zero but moved")
            continue
        t = f.first_move_step
        last = len(snaps) if t is None else min(t, len(snaps))
        tol = 0.0 if f.first_move_float != "exact_arithmetic_only" else exact_only_tolerance
        for k in range(1, last):
            if np.any(np.abs(snaps[k][name] - init) > tol * np.maximum(1.0, np.abs(init))):
                bad.append(f"{name} claimed unchanged before step {t} but changed at step {k}")
                break
    return bad


def _tight_seen(analysis: StructuralGraphAnalysis, snaps: list[dict[str, np.ndarray]]) -> tuple[int, int]:
    """(entries with a tight first move at ``t`` that changed at ``t`` on this run, such entries)."""
    seen = total = 0
    for name in analysis.proof.graph.trainable():
        f = analysis._entry(name, 0)
        t = f.first_move_step
        if t is not None and f.first_move_tight and t < len(snaps):
            total += snaps[t][name].size
            seen += int(np.count_nonzero(snaps[t][name] != snaps[t - 1][name]))
    return seen, total


def verify_structural(analysis: StructuralGraphAnalysis, module: Any, *, seed: int = 0,
                      optimizers: tuple[str, ...] | None = None, batches: tuple[int, ...] = (1, 3),
                      steps: int | None = None, lr: float = 0.1, strict: bool = False):
    """:func:`symderiv.graph.replay.verify_graph` for a tensor-level proof.

    * ``pattern``: the module has the analyzed pattern (every entry of a zero tensor 0, no entry of a
      generic tensor 0, frozen tensors as analyzed);
    * ``gradient``: autograd's gradient of every tensor the proof says vanishes at the init is exactly 0
      (a random batch; there are no closed forms to compare otherwise);
    * ``claims`` per optimizer and batch size: every stays-zero and "unchanged before the first-move step"
      on a real float64 run (:func:`tensor_claims`, per tensor).

    The certified moves were witnessed at a structured point of the quotient, not replayed here; the
    report says how many tight first moves were observed on the random runs."""
    import copy

    import torch

    from ..verify import Check, VerifyReport
    from .replay import (VERIFY_OPTIMIZERS, _module_values, example_batch, replay,
                         run_module, torch_loss)

    g = analysis.proof.graph
    if getattr(g, "batch_size", None):  # a batch graph: every run uses batches of exactly B examples
        batches = (int(getattr(g, "batch_size")),)
    values = _module_values(module, g)
    s: StructuralProof = analysis.proof.structural  # type: ignore[attr-defined]
    bad_pattern = []
    for name, p in g.params.items():
        kind = s.kinds.get(name)
        v = values[name]
        if kind == "zero" and np.any(v != 0):
            bad_pattern.append(f"{name} is not all zero")
        elif kind == "generic" and not np.all(v != 0):
            bad_pattern.append(f"{name} has a zero entry")
        elif kind == "mixed" and p.init is not None and not np.array_equal(v == 0, p.init == 0):
            bad_pattern.append(f"{name} has another pattern of zero entries")
        elif not p.trainable and p.init is not None and not np.array_equal(v, p.init):
            bad_pattern.append(f"frozen {name} differs from the analyzed values")
    report = VerifyReport()
    report.checks.append(Check("pattern", "the module has the analyzed pattern", not bad_pattern,
                               float(len(bad_pattern)), "zero tensors all zero, generic tensors without zeros",
                               bad_pattern[0] if bad_pattern else None, seed))
    if bad_pattern:
        return report
    _, output, loss_name = g.ends()
    gen = torch.Generator().manual_seed(seed)
    x, y = example_batch(g, max(batches), gen)
    model = copy.deepcopy(module).double()
    model.zero_grad()
    torch_loss(loss_name)(run_module(g, model, x), y).backward()
    named = dict(model.named_parameters())
    zero_at_init = [n for n in g.trainable() if n in s.zero_params or n in s.unchanged.get(0, [])]
    nonzero = [n for n in zero_at_init if named[n].grad is not None and bool(torch.any(named[n].grad != 0))]
    report.checks.append(Check("gradient", f"autograd at the init, batch {max(batches)}", not nonzero,
                               float(len(nonzero)), "gradients proved 0 at the init are exactly 0 in autograd",
                               f"{nonzero[0]} has a nonzero gradient" if nonzero else None, seed))
    finite = [fm.step for fm in s.first_moves.values() if fm.step is not None]
    horizon = steps if steps is not None else max(finite, default=0) + 2
    tight_seen = tight_total = 0
    for k, name in enumerate(optimizers or getattr(analysis.optimizers, "replay", ()) or VERIFY_OPTIMIZERS):
        for b in batches:
            snaps = replay(module, analysis, optimizer=name, batch=b, steps=horizon, lr=lr, seed=seed + 101 * k + b)
            bad = tensor_claims(analysis, snaps)
            report.checks.append(Check("claims", f"{name}, batch {b} ({horizon} steps)", not bad, float(len(bad)),
                                       "zeros and unchanged-before-first-move on a torch.optim run"
                                       + (f"; {len(bad)} violations" if bad else ""), bad[0] if bad else None, seed))
            seen, total = _tight_seen(analysis, snaps)
            tight_seen, tight_total = tight_seen + seen, tight_total + total
    report.notes.append(f"observation: {tight_seen} of {tight_total} (entry, run) pairs with a tight first-move step "
                        "changed at it on random data (tightness is certified at a structured point, not replayed)")
    if strict:
        report.raise_for_failures()
    return report
