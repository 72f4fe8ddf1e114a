"""A quotient proof read on the full graph: lazy per-entry views and the analysis of a lumped proof.

:func:`lifted_proof` wraps the proof of the quotient graph (:mod:`symderiv.graph.lumping`) as a
:class:`~symderiv.graph.prover.GraphProof` of the full graph whose ``coords``, ``class_of`` and ``classes`` are
lazy views over the entries (class ``k`` = the union of the blocks of the quotient's class ``k``);
:class:`LumpedGraphAnalysis` reads its facts per entry through the entry's block, per group of entries
(:mod:`symderiv.graph.tensor_facts`) through the quotient's classes.  Split from :mod:`.lumping` (which
re-exports these names): the partition and the quotient there, their reading here.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import sympy as sp

from ..errors import InternalError
from .analysis import GraphAnalysis
from .ir import Graph
from .prover import Coord, GraphProof

if TYPE_CHECKING:  # lumping imports this module at its end (re-export): its names are imported where used
    from .lumping import Lumping

__all__ = ["LiftedProof", "lifted_proof", "LumpedGraphAnalysis"]


# ---------------------------------------------------------------- the lifted proof
class _FullCoords(Sequence):
    """The trainable entries of the full graph, lazily (``(name, flat index)`` in parameter order)."""

    def __init__(self, graph: Graph) -> None:
        self.names = graph.trainable()
        self.sizes = [graph.params[n].size for n in self.names]
        self.offsets = np.cumsum([0] + self.sizes)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return (self.names[k], int(i - self.offsets[k]))

    def __iter__(self) -> Iterator[Coord]:
        for name, n in zip(self.names, self.sizes):
            for i in range(n):
                yield (name, i)


class _ClassOf(Mapping):
    """Full entry -> class of the quotient proof (through the entry's block)."""

    def __init__(self, lump: Lumping, q: GraphProof) -> None:
        self.lump, self.q = lump, q
        self.coords = _FullCoords(lump.graph)
        self._labels = {n: lump.param_labels(n) for n in lump.graph.trainable()}

    def quotient_coord(self, c: Coord) -> Coord:
        name, flat = c
        shape = self.lump.graph.params[name].shape
        if not shape:
            return (name, 0)
        idx = np.unravel_index(flat, shape)
        qidx = tuple(int(lab[i]) for lab, i in zip(self._labels[name], idx))
        return (name, int(np.ravel_multi_index(qidx, self.q.graph.params[name].shape)))

    def __getitem__(self, c: Coord) -> int:
        if c[0] not in self._labels:
            raise KeyError(c)
        return self.q.class_of[self.quotient_coord(c)]

    def __iter__(self) -> Iterator[Coord]:
        return iter(self.coords)

    def __len__(self) -> int:
        return len(self.coords)


class _FullClass(Sequence):
    """The entries of one quotient class: the union of the blocks of its quotient coordinates."""

    def __init__(self, lump: Lumping, q: GraphProof, members: Sequence[Coord]) -> None:
        self.lump, self.q, self.members = lump, q, list(members)

    def _blocks(self) -> Iterator[Coord]:
        for name, qflat in self.members:
            qshape = self.q.graph.params[name].shape
            full = self.lump.graph.params[name].shape
            if not full:
                yield (name, 0)
                continue
            qidx = np.unravel_index(qflat, qshape)
            axes = [np.flatnonzero(lab == k) for lab, k in zip(self.lump.param_labels(name), qidx)]
            for idx in np.ndindex(*[len(a) for a in axes]):
                yield (name, int(np.ravel_multi_index(tuple(a[i] for a, i in zip(axes, idx)), full)))

    def __len__(self) -> int:
        graph = self.q.graph
        from .lumping import QuotientGraph

        if not isinstance(graph, QuotientGraph):
            raise InternalError("a full class of a proof that is not on a quotient graph")
        return int(sum(int(graph.entry_sizes[n].reshape(-1)[i]) for n, i in self.members))

    def __getitem__(self, i):
        items = list(self._blocks())
        return items[i]

    def __iter__(self) -> Iterator[Coord]:
        return self._blocks()


@dataclass
class LiftedProof(GraphProof):
    """A :class:`GraphProof` on the full graph read through the quotient: ``coords``, ``class_of`` and
    ``classes`` are lazy views over the entries (class ``k`` = the union of the blocks of the quotient's
    class ``k``); everything else (first moves, identities, witnesses, undecided) is the quotient's.
    ``quotient`` is the proof of the quotient graph, ``lumping`` the partition."""

    quotient: GraphProof | None = None
    lumping: Lumping | None = None


def lifted_proof(lump: Lumping, q: GraphProof) -> LiftedProof:
    """The quotient proof ``q`` read on the full graph of ``lump``."""
    class_of = _ClassOf(lump, q)
    classes = [_FullClass(lump, q, m) for m in q.classes]
    init_values = _LazyInit(class_of, q)
    fields = {f.name: getattr(q, f.name) for f in dataclasses.fields(GraphProof)}
    fields.update(graph=lump.graph, coords=class_of.coords, class_of=class_of, classes=classes,
                  init_values=init_values)
    return LiftedProof(**fields, quotient=q, lumping=lump)


class _LazyInit(Mapping):
    """Full entry -> its init value (its block's)."""

    def __init__(self, class_of: _ClassOf, q: GraphProof) -> None:
        self.class_of, self.q = class_of, q

    def __getitem__(self, c: Coord) -> sp.Expr:
        return self.q.init_values[self.class_of.quotient_coord(c)]

    def __iter__(self) -> Iterator[Coord]:
        return iter(self.class_of.coords)

    def __len__(self) -> int:
        return len(self.class_of.coords)


class LumpedGraphAnalysis(GraphAnalysis):
    """:class:`GraphAnalysis` of a :class:`LiftedProof`: the facts are the quotient's classes' facts, read
    per entry through the entry's block (vectorized, so a 1024×1024 parameter costs one index
    lookup per axis).  Floating point: the quotient's "untied" pass unties blocks, not the entries of
    a block, so a zero it classifies ``bit_exact`` is reported ``identical_rounding`` (the claim
    that survives: it holds when identical computations round identically)."""

    @functools.cached_property
    def facts(self) -> dict[int, Any]:
        from ..floats import BIT_EXACT, IDENTICAL_ROUNDING
        from .facts import graph_facts

        proof: LiftedProof = self.proof  # type: ignore[assignment]
        assert proof.quotient is not None
        out = graph_facts(proof.quotient, generic_init=self.values_mode == "generic")

        def weaker(status: str | None) -> str | None:
            return IDENTICAL_ROUNDING if status == BIT_EXACT else status

        def tie_status(k: int, f: Any) -> str | None:
            # a class of one block of several entries: tied by identical computations (the lemma)
            if f.float_status is None and not f.stays_zero and len(proof.classes[k]) > 1:
                return IDENTICAL_ROUNDING
            return weaker(f.float_status)
        return {k: dataclasses.replace(f, float_status=tie_status(k, f), first_move_float=weaker(f.first_move_float))
                for k, f in out.items()}

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        proof: LiftedProof = self.proof  # type: ignore[assignment]
        assert proof.quotient is not None and proof.lumping is not None
        q = proof.quotient
        shape = q.graph.params[name].shape
        fields = {"stays_zero": "stays_zero", "tie_class": "tie_id", "first_move_step": "first_move_step",
                  "first_move_tight": "first_move_tight", "conditions": "conditions", "float": "float_status",
                  "first_move_float": "first_move_float"}
        small = {k: np.empty(shape, dtype=object) for k in fields}
        for flat, idx in enumerate(np.ndindex(*shape)):
            f = self.facts[q.class_of[(name, flat)]]
            for key, attr in fields.items():
                value = getattr(f, attr)
                small[key][idx] = list(value) if key == "conditions" else value
        from .lumping import expand

        return {k: expand(proof.lumping, name, v) for k, v in small.items()}

    def _raw_groups(self, name: str) -> list[Any]:
        """One group per quotient class met in ``name``: its blocks and their number of entries."""
        from .tensor_facts import EntryGroup

        proof: LiftedProof = self.proof  # type: ignore[assignment]
        assert proof.quotient is not None and proof.lumping is not None
        q = proof.quotient
        sizes = proof.lumping.block_sizes(name)
        members: dict[int, list[tuple[int, ...]]] = {}
        for qflat, qidx in enumerate(np.ndindex(*q.graph.params[name].shape)):
            members.setdefault(q.class_of[(name, qflat)], []).append(tuple(int(i) for i in qidx))
        return [EntryGroup(self.facts[k], int(sum(int(sizes[b]) for b in blocks)), blocks=tuple(blocks))
                for k, blocks in members.items()]

    def to_latex(self, *, title: str | None = None) -> str:
        """The entry-level proof document (:mod:`symderiv.graph.latex`) while the JSON is per entry; above that
        size the class-level one (:func:`symderiv.graph.lumped_latex.lumped_proof_document`)."""
        if self.per_entry_json:
            return super().to_latex(title=title)
        from .lumped_latex import lumped_proof_document

        return lumped_proof_document(self, title=title)

    def _block_labels(self, name: str) -> list[np.ndarray]:
        return self.proof.lumping.param_labels(name)  # type: ignore[attr-defined]

    @functools.cached_property
    def _quotient_init_pass(self) -> dict[str, np.ndarray]:
        from .engine import backprop

        q: GraphProof = self.proof.quotient  # type: ignore[attr-defined]
        values = dict(q.frozen_values)
        for name in q.graph.trainable():
            a = np.empty(q.graph.params[name].size, dtype=object)
            for i in range(a.size):
                a[i] = q.init_values[(name, i)]
            values[name] = a.reshape(q.graph.params[name].shape)
        return backprop(q.graph, values).grads

    def gradient_at_init(self, name: str, index: Any = ()) -> sp.Expr:
        class_of: _ClassOf = self.proof.class_of  # type: ignore[assignment]
        _, qflat = class_of.quotient_coord(self._coord(name, index))
        return self._quotient_init_pass[name].reshape(-1)[qflat]

    def init_symbol_values(self) -> dict[sp.Symbol, sp.Rational]:
        proof: LiftedProof = self.proof  # type: ignore[assignment]
        assert proof.quotient is not None and proof.lumping is not None
        q = proof.quotient
        wanted = set(proof.init_symbols)
        out: dict[sp.Symbol, sp.Rational] = {}
        for name, p in q.graph.params.items():
            if p.init is None:
                continue
            for flat, idx in enumerate(np.ndindex(*p.shape)):
                v = q.frozen_values[name][idx] if not p.trainable else q.init_values[(name, flat)]
                if v in wanted and v not in out:
                    out[v] = sp.Rational(float(p.init[idx]))
        return out
