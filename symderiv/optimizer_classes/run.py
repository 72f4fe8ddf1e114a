"""Running the prover for an optimizer assignment (graphs, MLPs through their graph, tensor-level proofs)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidArgument
from .assignment import OptimizerAssignment, optimizer_assignment
from .lattice import Coord, PatternLattice

__all__ = ["prove_for_optimizer", "structural_for_optimizer", "rows_moving_first", "float_init",
           "analyze_network", "ROW_MOVES_AT_FIRST_UPDATE"]


# ---------------------------------------------------------------- running the prover for an assignment
def prove_for_optimizer(graph, values_mode: str, assignment: OptimizerAssignment, *, seed: int = 0,
                        seconds: float = 5.0):
    """``(proof, lattice)``: the graph prover on the assignment's lattice (entry by entry: lumping and the
    tensor-level path assume the coordinatewise lattice), with first-move tightness kept only where it
    transfers to the assignment's optimizers (see the module docstring)."""
    from ..graph.prover import prove_graph
    from ..graph.values import init_values
    from ..prover import FirstMove

    shapes = {n: tuple(graph.params[n].shape) for n in graph.trainable()}
    lattice = PatternLattice(assignment, shapes)
    vals, symbols = init_values(graph, values_mode)
    proof = prove_graph(graph, vals, symbols, seed=seed, seconds=seconds, lattice=lattice)
    for k, fm in proof.first_moves.items():
        if fm.tight and not _move_transfers(assignment, proof.classes[k], fm.step):
            proof.first_moves[k] = FirstMove(fm.step, False, fm.undecided)
    return proof, lattice


def structural_for_optimizer(graph, assignment: OptimizerAssignment, *, name: str, seed: int = 0):
    """The tensor-level analysis (:mod:`symderiv.graph.structural`) of a large graph of zero and generic
    tensors, for ``assignment``; None where that path does not apply.  Its pattern (whole zero tensors, no
    ties) lies in every lattice and its first moves are per whole tensor (a tensor with zero gradient history
    is not updated by any class), so only the tightness of moves is restricted (:func:`_move_transfers`)."""
    from ..graph.structural import structural_analysis
    from ..prover import FirstMove

    fast = structural_analysis(graph, optimizer_class=assignment, name=name, seed=seed)
    if fast is None:
        return None
    s = fast.proof.structural  # type: ignore[attr-defined]  # a StructuralView
    for param, fm in list(s.first_moves.items()):
        if fm.tight and not _move_transfers(assignment, [(param, 0)], fm.step):
            s.first_moves[param] = FirstMove(fm.step, False, fm.undecided)
    view: Any = fast.proof
    for k, fm in list(view.first_moves.items()):
        if fm.tight and not _move_transfers(assignment, [(view.class_of.param_of(k), 0)], fm.step):
            view.first_moves[k] = FirstMove(fm.step, False, fm.undecided)
    return fast


def _move_transfers(assignment: OptimizerAssignment, members: Sequence[Coord], step: int | None) -> bool:
    """A move certified on an SGD trajectory is a move of the assignment's optimizers: at step 1 (the gradient
    at the init does not depend on the optimizer) for entrywise classes; later only when every tensor is
    trained by one coordinatewise optimizer."""
    if assignment.is_coordinatewise:
        return True
    params = {n for n, _ in members}
    return step == 1 and all(assignment.structure_of(n).entrywise_moves for n in params)


#: rowcol optimizers whose first update maps a nonzero gradient row to a nonzero row: Muon (the quintic has no
#: real root), Shampoo ((L + εI)^(-1/4) G (R + εI)^(-1/4) with L = GGᵀ: row i is U_i·(positive diagonal)·Vᵀ).
#: Not SOAP: its first step only initializes its eigenbases and leaves the parameters unchanged
ROW_MOVES_AT_FIRST_UPDATE = frozenset({"Muon", "Shampoo"})


def rows_moving_first(analysis) -> dict[str, list[int]]:
    """Per matrix trained by Muon or Shampoo: the rows (0-based) with a certified nonzero gradient at the init.  Under Muon
    (Newton–Schulz with torch's coefficients: ``a + b s² + c s⁴`` has no real root) and exact polar or
    Shampoo-type maps, a nonzero row of the momentum gives a nonzero row of the update, so each of these
    rows changes at update 1 (which of its entries is not claimed)."""
    proof, assignment = analysis.proof, analysis.optimizers
    if not isinstance(assignment, OptimizerAssignment):
        return {}
    shown = {p: opt for p, opt, _ in assignment.per_parameter}
    certified = {k for t in proof.trajectories for k, step, _ in t.moved if step == 1}
    out: dict[str, set[int]] = {}
    for k in certified:
        for name, flat in proof.classes[k]:
            shape = proof.graph.params[name].shape
            if shown[name] in ROW_MOVES_AT_FIRST_UPDATE and len(shape) >= 2:
                out.setdefault(name, set()).add(flat // int(np.prod(shape[1:])))
    return {n: sorted(rows) for n, rows in sorted(out.items())}


def float_init(net, inits: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Float arrays standing for an MLP init (:class:`~symderiv.init.ParamInit` per parameter) in the graph's
    generic-values convention: exact numbers as floats, and one float per init symbol, distinct from every
    other value, so that equal floats are exactly the entries the init makes equal."""
    import sympy as sp

    exact: dict[str, np.ndarray] = {}
    for n, p in inits.items():
        shape = net.shape(n)
        if not all(isinstance(d, int) for d in shape):
            raise InvalidArgument(f"optimizer=... analyzes the network entry by entry: {n} has symbolic shape {shape}; "
                                  "give concrete widths")
        values = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            values[idx] = p.entry(idx)
        exact[n] = values
    numbers = {float(v) for a in exact.values() for v in a.flat if getattr(v, "is_number", True)}
    stand_in: dict[object, float] = {}
    k = 0
    for name in exact:
        for v in exact[name].flat:
            if getattr(v, "is_number", True) or v in stand_in:
                continue
            while True:  # irrational-looking, nonzero, never equal to a number of the init
                k += 1
                candidate = float(sp.sqrt(k + 1)) / 7
                if candidate not in numbers:
                    break
            stand_in[v] = candidate
    return {n: np.array([float(v) if getattr(v, "is_number", True) else stand_in[v] for v in a.flat],
                        dtype=np.float64).reshape(a.shape) for n, a in exact.items()}


def analyze_network(net, init: object, optimizer: object, *, seed: int = 0, seconds: float = 5.0):
    """An MLP (:func:`symderiv.mlp`) analyzed for ``optimizer``: None when one coordinatewise optimizer trains
    every parameter (the chain prover's statements already hold), else the
    :class:`~symderiv.graph.GraphAnalysis` of the network's graph proved on the optimizer's lattice, with the
    init's zeros and equal values kept and every other value generic."""
    from ..graph.analysis import analyze_graph
    from ..graph.from_network import graph_of_network
    from ..init import resolve_init

    names = net.parameter_names()
    shapes = {n: tuple(net.shape(n)) for n in names}
    if not all(isinstance(d, int) for s in shapes.values() for d in s):
        raise InvalidArgument("optimizer=... outside the coordinatewise class analyzes entry by entry: give the "
                              "network concrete widths")
    if optimizer_assignment(optimizer, shapes).is_coordinatewise:
        return None
    graph = graph_of_network(net, float_init(net, resolve_init(net, init)))
    return analyze_graph(graph, values="generic", seed=seed, seconds=seconds, name=net.describe(),
                         optimizer=optimizer)
