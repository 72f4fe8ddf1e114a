"""The analysis of a graph (a traced PyTorch module): summary and JSON faces.

:func:`analyze_module` traces the module (:mod:`symderiv.graph.torch_fx`), turns its init
into values (:mod:`symderiv.graph.values`), runs :func:`symderiv.graph.prover.prove_graph`
and wraps the proof in a :class:`GraphAnalysis`.  Per entry of every trainable parameter
(keyed by its ``named_parameters()`` name): ``stays_zero`` (proved invariant, every
optimizer of the class), ``tie_class`` (equal ids are proved equal at every step),
``first_move_step`` (proved: unchanged before it; None = proved never, without weight
decay) and ``first_move_tight`` (a certified exact trajectory moves it at that step).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..guard import public_entry
from ..optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .losses import graph_loss
from .prover import GraphProof, coord_label, prove_graph
from .values import init_values

__all__ = ["GraphAnalysis", "analyze_module", "analyze_graph"]


@dataclass
class GraphAnalysis:
    """The result of :func:`analyze_module`."""

    proof: GraphProof
    optimizers: OptimizerClass
    values_mode: str
    module_name: str = "module"

    # ------------------------------------------------------------ per-entry queries
    def _coord(self, name: str, index) -> tuple[str, int]:
        p = self.proof.graph.params.get(name)
        if p is None or not p.trainable:
            raise KeyError(f"{name!r} is not a trainable parameter; trainable: {', '.join(self.proof.graph.trainable())}")
        index = tuple(index) if isinstance(index, (tuple, list)) else (index,)
        return name, int(np.ravel_multi_index(index, p.shape)) if p.shape else 0

    def stays_zero(self, name: str, index=()) -> bool:
        """Proved: the entry is exactly 0 at every step, for every optimizer of the class."""
        return self.proof.class_of[self._coord(name, index)] == self.proof.zero_class

    def tie_class(self, name: str, index=()) -> int:
        return self._tie_ids()[self.proof.class_of[self._coord(name, index)]]

    def first_move_step(self, name: str, index=()) -> int | None:
        return self.proof.first_moves.get(self.proof.class_of[self._coord(name, index)], _NEVER).step

    def first_move_tight(self, name: str, index=()) -> bool:
        return self.proof.first_moves.get(self.proof.class_of[self._coord(name, index)], _NEVER).tight

    def first_move_float(self, name: str, index=()) -> str | None:
        """How "unchanged before the first-move step" holds in floats: ``"exact_arithmetic_only"`` when it
        rests on the loss's exact cancellation (Σ_k δ_k = 0: a rounding residue in floats, which Adam and
        RMSProp amplify), ``"no_loss_cancellation"`` otherwise; None when nothing is claimed before a move."""
        k = self.proof.class_of[self._coord(name, index)]
        step = self.first_move_step(name, index)
        if k == self.proof.zero_class or step == 1:
            return None
        return "exact_arithmetic_only" if k in self.proof.loss_cancellation else "no_loss_cancellation"

    def _tie_ids(self) -> dict[int, int]:
        ids: dict[int, int] = {}
        for c in self.proof.coords:  # numbered in parameter order
            ids.setdefault(self.proof.class_of[c], len(ids))
        return ids

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        """Per-entry arrays of the parameter's shape: stays_zero, tie_class, first_move_step, first_move_tight."""
        shape = self.proof.graph.params[name].shape
        keys = ("stays_zero", "tie_class", "first_move_step", "first_move_tight", "first_move_float")
        out = {k: np.empty(shape, dtype=object) for k in keys}
        for idx in np.ndindex(*shape):
            out["stays_zero"][idx] = self.stays_zero(name, idx)
            out["tie_class"][idx] = self.tie_class(name, idx)
            out["first_move_step"][idx] = self.first_move_step(name, idx)
            out["first_move_tight"][idx] = self.first_move_tight(name, idx)
            out["first_move_float"][idx] = self.first_move_float(name, idx)
        return out

    # ------------------------------------------------------------ faces
    def scope(self) -> str:
        g = self.proof.graph
        kinks = sorted({n.attrs["activation"].describe() for n in g.nodes
                        if n.op == "activation" and n.attrs["activation"].is_kinked})
        text = (f"Holds for every dataset, batch size, sample order and learning-rate schedule, for "
                f"{_join(list(self.optimizers.members))} (class '{self.optimizers.name}').")
        if kinks:
            text += f" Kink convention: {_join(kinks)}."
        text += f" Labels: {graph_loss(g.loss_name).label_domain}."
        if g.frozen():
            text += f" Frozen (constants, never updated): {_join(g.frozen())}."
        if self.values_mode == "generic":
            text += (" Init values were made generic: the theorem covers every model with the same pattern of zeros "
                     "and equal values (moves are certified at random values of that pattern).")
        else:
            text += " Init values are the exact rationals of the module's floats."
        text += " First-move steps assume no weight decay."
        return text

    def summary(self) -> str:
        p = self.proof
        g = p.graph
        lines = [f"{self.module_name}: {g.describe()}; values: {self.values_mode}."]
        zero_params, partial = [], []
        for name in g.trainable():
            facts = self.entry_facts(name)
            z = int(sum(bool(v) for v in facts["stays_zero"].flat))
            if z == g.params[name].size:
                zero_params.append(name)
            elif z:
                partial.append(f"{z} of the {g.params[name].size} entries of {name}")
        if zero_params:
            lines.append(f"{_join(zero_params)} stay{'s' if len(zero_params) == 1 else ''} exactly 0 forever (proved).")
        if partial:
            lines.append(f"Also exactly 0 forever: {_join(partial)}.")
        ties = [m for k, m in enumerate(p.classes) if k != p.zero_class and len(m) > 1]
        if ties:
            lines.append(f"{len(ties)} tie class{'es' if len(ties) != 1 else ''} of several entries stay equal forever "
                         f"(proved; largest: {max(len(m) for m in ties)} entries, e.g. "
                         f"{_join([coord_label(g, c) for c in max(ties, key=len)[:3]])}).")
        moves = []
        for name in g.trainable():
            steps = {self.first_move_step(name, idx) for idx in np.ndindex(*g.params[name].shape)}
            steps_text = "/".join("never" if s is None else str(s) for s in sorted(steps, key=lambda s: (s is None, s or 0)))
            if steps != {None} or not self.stays_zero(name, (0,) * len(g.params[name].shape)):
                moves.append(f"{name} at step {steps_text}")
        if moves:
            lines.append("First moves: " + "; ".join(moves) + ".")
        fragile = [n for n in g.trainable()
                   if "exact_arithmetic_only" in set(self.entry_facts(n)["first_move_float"].flat)]
        if fragile:
            lines.append(f"Floating point: 'unchanged before the first move' of {_join(fragile)} rests on the loss's "
                         "exact cancellation (Σ_k δ_k = 0): in floats a rounding residue, which Adam/RMSProp amplify.")
        lines.append(self.scope())
        if p.undecided:
            lines.append(f"Undecided (not claimed): {len(p.undecided)}; see .proof.undecided.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """Jupyter: the summary as an itemized list (:func:`symderiv.notebook.summary_html`)."""
        from ..notebook import summary_html

        lines = self.summary().splitlines()
        return summary_html(lines[0], lines[1:])

    def assumptions(self) -> dict[str, Any]:
        return {
            "optimizer_class": self.optimizers.to_json(),
            "labels": graph_loss(self.proof.graph.loss_name).label_domain,
            "first_move_assumes": "no weight decay",
            "data": "every statement holds for every example (data are symbols)",
            "values": self.values_mode,
            "scope": self.scope(),
        }

    def to_json(self) -> dict[str, Any]:
        """Deterministic JSON: per trainable parameter, per-entry nested lists of the facts."""
        g = self.proof.graph
        params: dict[str, Any] = {}
        for name in g.trainable():
            facts = self.entry_facts(name)
            params[name] = {"shape": list(g.params[name].shape),
                            **{k: np.asarray(v, dtype=object).tolist() for k, v in facts.items()}}
        p = self.proof
        return {
            "module": self.module_name,
            "graph": g.describe(),
            "assumptions": self.assumptions(),
            "parameters": params,
            "frozen": {name: {"shape": list(g.params[name].shape)} for name in g.frozen()},
            "summary": self.summary(),
            "undecided": list(p.undecided),
            "relaxation_iterations": p.iterations,
            "witness_trajectories": [t.to_json() for t in p.trajectories],
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)


class _Never:
    step = None
    tight = False


_NEVER = _Never()


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def analyze_graph(graph, *, values: str = "generic", optimizer_class: str = "coordinatewise", seed: int = 0,
                  seconds: float = 5.0, name: str = "graph") -> GraphAnalysis:
    """Analyze a :class:`~symderiv.graph.ir.Graph` whose parameters carry init values."""
    vals, symbols = init_values(graph, values)
    proof = prove_graph(graph, vals, symbols, seed=seed, seconds=seconds)
    return GraphAnalysis(proof, _optimizer_class(optimizer_class), values, name)


@public_entry
def analyze_module(module, *, loss: str, input_shape: tuple[int, ...], values: str = "generic", seed: int = 0,
                   optimizer_class: str = "coordinatewise", seconds: float = 5.0) -> GraphAnalysis:
    """Prove which entries of a PyTorch module's parameters stay zero or tied forever, and when each first moves.

    * ``module``: an ``nn.Module`` traceable by ``torch.fx`` (see :mod:`symderiv.graph.torch_fx`);
    * ``loss``: ``softmax_cross_entropy`` (over the last axis), ``mse`` or ``bce``;
    * ``input_shape``: one example's shape, without the batch axis;
    * ``values``: ``"generic"`` (zeros and equal values kept, every other value a symbol) or ``"exact"``.
    """
    from .torch_fx import graph_from_module

    graph = graph_from_module(module, tuple(input_shape), loss)
    return analyze_graph(graph, values=values, optimizer_class=optimizer_class, seed=seed, seconds=seconds,
                         name=type(module).__name__)
