"""Tensor-level proofs for generic (random) parameters: structural zeros, first moves, structured witnesses.

When a graph's trainable parameters are each either **entirely zero** or **generic** (no zero entry,
as a random init), no class of identical units exists to lump
(:mod:`symderiv.graph.lumping`), yet the facts people ask about are structural: with ``B = 0``
in LoRA, ``∂ℓ/∂A = Bᵀ(…)xᵀ`` vanishes whatever ``A``, ``W0`` and the data are.  This module
reasons at the level of tensors, never entries, so its cost does not depend on the widths.

**Abstract values.**  Every tensor is *zero* (every entry is the exact number 0 for *all* values
of the data and of every tensor marked unknown) or *unknown*.  Forward rules: a product
(``linear``, ``matmul``, ``mul``, ``conv``) is zero when a factor is (and its bias is zero or
absent), a sum when every term is, ``f(x)`` when ``x`` is zero and ``f(0) = 0`` exactly, and so
on (:data:`FORWARD`); an op without a rule is unknown.  Backward: every VJP is linear in the
output cotangent, so a zero cotangent gives zero cotangents to every input; otherwise the
cotangent of a product's factor is zero when the *other* factor is (:data:`BACKWARD`).  Each
rule states an exact identity, so a parameter whose cotangent is zero has a gradient that is
*identically* 0: a proof, valid for every example and every value of the unknown tensors.

**Pattern.**  The zero parameters form the zero class of ``P0``; a zero parameter whose gradient
is structurally zero on ``V(P)`` (zeros at 0, everything else free) is kept, the others are
released, until nothing changes: every kept zero is proved invariant (docs/theory.md §2).
Entries of a released zero parameter are reported as separate classes *without* a refutation of
their ties (listed in ``undecided``: not claimed sharp); generic entries have distinct values
and are separate classes of ``P0`` already.

**First moves** (docs/theory.md §3), per parameter tensor: ``F_0`` = every trainable parameter
outside the zero class; at step ``t`` the parameters of ``F_t`` sit at their init values (a zero
parameter is zero, a generic one unknown), the others are unknown; a parameter whose gradient is
structurally zero stays in ``F`` (proved: unchanged before step ``t + 1``), the others leave at
``t + 1`` - a lower bound until a witness certifies the move.  If ``F`` stops shrinking, its
parameters never move (proved; without weight decay).

**Witnesses at a structured point.**  A move is certified on one exact trajectory.  The point is
chosen where everything lumps: every generic tensor constant (one value per tensor and block of
its zero pattern), the example constant along every axis it can be (the data and labels are
ours to choose).  That point is a specialization of the generic init symbols - the same kind of
point as the random rationals the entry path certifies at - and there the graph's quotient
(:mod:`symderiv.graph.lumping`, with the data's axes lumped too) is tiny, so the exact SGD
trajectory is computed in Arb ball arithmetic on the quotient, whose per-entry gradients equal
the full model's by the lumpability lemma.  A certified nonzero change of a block at step ``t``
is a nonzero change of every entry of that block in the full model.  It also shows that the
step-``t`` gradient is not identically zero as a function of the init values: the trajectory's
updates are analytic in them wherever no kink argument is 0, and the enclosures keep every kink
argument away from 0, so the change stays nonzero on a neighbourhood, which contains points
where all generic entries are distinct (``generic_init``: it may fail on an exceptional set).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from ..certify import precision
from ..prover import FirstMove, TrajectoryWitness
from .ir import Graph, Node
from .losses import graph_loss

__all__ = ["eligible", "StructuralProof", "prove_structural", "structural_zeros", "FORWARD", "BACKWARD"]

Zero = bool  # True: the tensor is structurally zero


# ---------------------------------------------------------------- abstract rules
def _zin(node: Node, zero: Mapping[int, Zero], k: int) -> Zero | None:
    """Whether input ``k`` is zero (None when absent)."""
    if k >= len(node.inputs) or node.inputs[k] is None:
        return None
    return zero[node.inputs[k]]  # type: ignore[index]


def _product(node: Node, zero: Mapping[int, Zero]) -> Zero:
    a, b, bias = _zin(node, zero, 0), _zin(node, zero, 1), _zin(node, zero, 2)
    return bool((a or b) and bias in (None, True))


def _activation(node: Node, zero: Mapping[int, Zero]) -> Zero:
    return bool(_zin(node, zero, 0)) and node.attrs["activation"](sp.Integer(0)) == 0


def _gamma_beta_zero(node: Node, zero: Mapping[int, Zero]) -> Zero:
    """A normalization ``γ·x̂ + β`` is zero when ``γ`` is zero and ``β`` is zero or absent (an absent ``γ`` is 1)."""
    return _zin(node, zero, 1) is True and _zin(node, zero, 2) in (None, True)


FORWARD: dict[str, Callable[[Node, Mapping[int, Zero]], Zero]] = {
    "linear": _product, "conv": _product, "matmul": _product,
    "mul": lambda n, z: bool(_zin(n, z, 0) or _zin(n, z, 1)),
    "div": lambda n, z: bool(_zin(n, z, 0)),
    "add": lambda n, z: bool(_zin(n, z, 0) and _zin(n, z, 1)),
    "sub": lambda n, z: bool(_zin(n, z, 0) and _zin(n, z, 1)),
    "scale": lambda n, z: bool(_zin(n, z, 0)) or n.attrs["c"] == 0,
    "scale_axis": lambda n, z: bool(_zin(n, z, 0)),
    "shift": lambda n, z: bool(_zin(n, z, 0)) and n.attrs["c"] == 0,
    "activation": _activation,
    "sum": lambda n, z: bool(_zin(n, z, 0)), "mean": lambda n, z: bool(_zin(n, z, 0)),
    "rearrange": lambda n, z: bool(_zin(n, z, 0)),
    "cat": lambda n, z: all(z[i] for i in n.inputs if i is not None),
    "const": lambda n, z: not any(v != 0 for v in np.asarray(n.attrs["value"]).flat),
    "select": lambda n, z: bool(_zin(n, z, 0) and _zin(n, z, 1)),
    "detach": lambda n, z: bool(_zin(n, z, 0)),
    # gamma·x̂ + beta: zero when gamma and beta are (an absent gamma is 1)
    "layer_norm": _gamma_beta_zero, "group_norm": _gamma_beta_zero, "batch_norm_eval": _gamma_beta_zero,
    "batch_norm_train": _gamma_beta_zero,
    # pooling of a zero tensor: every window average or maximum of zeros is 0
    "max_pool": lambda n, z: bool(_zin(n, z, 0)), "avg_pool": lambda n, z: bool(_zin(n, z, 0)),
    "adaptive_avg_pool": lambda n, z: bool(_zin(n, z, 0)),
}


def _other_factor(k: int) -> Callable[[Node, Mapping[int, Zero]], Zero]:
    """Backward through a product: the cotangent of input ``k`` is zero when the other factor is."""
    def rule(node: Node, zero: Mapping[int, Zero]) -> Zero:
        return bool(_zin(node, zero, 1 - k)) if k < 2 else False
    return rule


def _through_zero_gamma(node: Node, zero: Mapping[int, Zero], k: int) -> Zero:
    return k == 0 and _zin(node, zero, 1) is True


#: op -> (input index -> whether that input's cotangent is zero although the output's is not)
BACKWARD: dict[str, Callable[[Node, Mapping[int, Zero], int], Zero]] = {
    "linear": lambda n, z, k: _other_factor(k)(n, z),
    "conv": lambda n, z, k: _other_factor(k)(n, z),
    "matmul": lambda n, z, k: _other_factor(k)(n, z),
    "mul": lambda n, z, k: _other_factor(k)(n, z),
    "div": lambda n, z, k: k == 1 and bool(_zin(n, z, 0)),
    "scale": lambda n, z, k: n.attrs["c"] == 0,
    "detach": lambda n, z, k: True,  # no gradient flows back
    # where(cond, a, b): a gets the cotangent where cond holds, b elsewhere
    "select": lambda n, z, k: not np.any(n.attrs["cond"]) if k == 0 else bool(np.all(n.attrs["cond"])),
    # gx = gamma·(…): zero when gamma is zero (batch statistics too: every term of ∂ℓ/∂x carries gamma)
    "layer_norm": _through_zero_gamma, "group_norm": _through_zero_gamma, "batch_norm_eval": _through_zero_gamma,
    "batch_norm_train": _through_zero_gamma,
}


def structural_zeros(graph: Graph, zero_params: set[str]) -> tuple[dict[int, Zero], dict[str, Zero]]:
    """(node -> value structurally zero, trainable parameter -> gradient structurally zero) when exactly the
    parameters in ``zero_params`` are zero and every other tensor (data included) is unknown."""
    zero: dict[int, Zero] = {}
    for node in graph.nodes:
        if node.op == "input":
            zero[node.id] = False
        elif node.op == "param":
            zero[node.id] = node.attrs["name"] in zero_params
        else:
            rule = FORWARD.get(node.op)
            zero[node.id] = bool(rule(node, zero)) if rule is not None else False
    cot: dict[int, Zero] = {n.id: True for n in graph.nodes}  # True: no nonzero contribution yet
    assert graph.output is not None
    cot[graph.output] = False  # the loss's δ is unknown
    for node in reversed(graph.nodes):
        if node.op in ("input", "param") or cot[node.id]:
            continue
        back = BACKWARD.get(node.op)
        for k, i in enumerate(node.inputs):
            if i is None:
                continue
            if not (back is not None and back(node, zero, k)):
                cot[i] = False
    grads = {name: cot[graph.param_node(name)] for name in graph.trainable()}
    return zero, grads


# ---------------------------------------------------------------- eligibility
def eligible(graph: Graph) -> dict[str, str] | None:
    """``name -> "zero" | "generic" | "mixed"`` (entirely zero, no zero entry, some zero entries) for every
    trainable parameter; None when an init is missing or not finite.  Equal values inside generic tensors are
    allowed: the tensor-level statements hold for *every* value of the nonzero entries, so no tie among them
    is used or claimed.  A mixed tensor (an embedding's zero padding row) is unknown, as a generic one: its
    statements hold for every value of it, its zeros included, and no zero of it is claimed."""
    kinds: dict[str, str] = {}
    for name in graph.trainable():
        init = graph.params[name].init
        if init is None or not np.all(np.isfinite(init)):
            return None
        if not np.any(init):
            kinds[name] = "zero"
        elif np.all(init != 0):
            kinds[name] = "generic"
        else:
            kinds[name] = "mixed"
    return kinds


# ---------------------------------------------------------------- the proof
@dataclass
class StructuralProof:
    """What the tensor-level argument proved (per parameter tensor) and the structured witnesses."""

    graph: Graph
    kinds: dict[str, str]
    zero_params: set[str]  # the proved invariant zero class
    first_moves: dict[str, FirstMove]  # trainable parameters outside the zero class
    trajectories: list[TrajectoryWitness]
    undecided: list[str]
    iterations: int
    #: step t -> parameters proved unchanged before step t + 1 (their gradient structurally zero on A_t)
    unchanged: dict[int, list[str]] = field(default_factory=dict)
    witness_notes: list[str] = field(default_factory=list)
    init_symbols: list[sp.Symbol] = field(default_factory=list)


def prove_structural(graph: Graph, *, seed: int = 0, attempts: int = 4) -> StructuralProof | None:
    """The tensor-level proof (module docstring); None when ``graph`` is not :func:`eligible`."""
    kinds = eligible(graph)
    if kinds is None:
        return None
    frozen_zero = {n for n in graph.frozen() if graph.params[n].init is not None and not np.any(graph.params[n].init)}
    Z = {n for n, k in kinds.items() if k == "zero"}
    iterations = 0
    while True:
        iterations += 1
        _, grads = structural_zeros(graph, Z | frozen_zero)
        keep = {n for n in Z if grads[n]}
        if keep == Z:
            break
        Z = keep
    undecided = [f"ties among the entries of {n} (released from the zero class at tensor level) were not examined: "
                 "each entry is reported as its own class, no tie is claimed and the pattern is not claimed sharp"
                 for n in graph.trainable() if kinds[n] == "zero" and n not in Z]
    moving = [n for n in graph.trainable() if n not in Z]
    F = set(moving)
    moves: dict[str, FirstMove] = {}
    unchanged: dict[int, list[str]] = {}
    t = 0
    while F:
        at_zero = Z | frozen_zero | {n for n in F if kinds[n] == "zero"}
        _, grads = structural_zeros(graph, at_zero)
        leaving = sorted(n for n in F if not grads[n])
        unchanged[t] = sorted(n for n in F if grads[n])
        if not leaving:
            break
        for n in leaving:
            moves[n] = FirstMove(t + 1, False, False)
            F.discard(n)
        t += 1
    for n in F:
        moves[n] = FirstMove(None, False)
    targets = {n: fm.step for n, fm in moves.items() if fm.step is not None}
    trajectories: list[TrajectoryWitness] = []
    notes: list[str] = []
    if targets:
        trajectories, tight, notes = structured_witnesses(graph, targets, seed=seed, attempts=attempts)
        moves = {n: FirstMove(fm.step, n in tight, fm.undecided) for n, fm in moves.items()}
        for n, step in sorted(targets.items()):
            if n not in tight:
                undecided.append(f"{n}: no structured witness certified its move at step {step}; the step is a "
                                 "lower bound only")
    return StructuralProof(graph, kinds, Z, moves, trajectories, undecided, iterations, unchanged, notes)


# ---------------------------------------------------------------- witnesses at a structured point
#: above this many multiply-adds per forward pass of the quotient no exact witness trajectory is attempted (SymPy
#: closed forms through convolutions: a quotient of ~4700 took 15 s)
WITNESS_MAX_COST = 2500
#: (digits, data scale, learning-rate factor) of the attempts
PLAN = ((80, 1, 1), (600, 1, 1), (200, 4, 1), (200, 1, 8), (3000, 1, 1), (200, 16, 1))


def _output_weights(lump, q: Graph, graph: Graph) -> np.ndarray:
    """Per quotient output entry: block size × (quotient count / full count) of the loss's mean, so that the
    quotient's loss δ becomes the block sum of the per-entry δ (reverse mode on ``ℓ(lift(θ_q))``)."""
    assert graph.output is not None and q.output is not None and graph.loss_name is not None
    out = graph.nodes[graph.output]
    sizes = [lump.sizes(lump.space[(out.id, a)]) for a in range(len(out.shape))]
    block = np.ones(q.nodes[q.output].shape, dtype=object)
    for a, m in enumerate(sizes):
        shape = [1] * len(sizes)
        shape[a] = len(m)
        block = block * np.asarray([sp.Integer(int(v)) for v in m], dtype=object).reshape(shape)
    qshape, full = q.nodes[q.output].shape, out.shape
    if graph_loss(graph.loss_name).name == "softmax_cross_entropy":  # a mean over rows, the last axis discrete
        ratio = sp.Rational(int(np.prod(qshape[:-1])), int(np.prod(full[:-1])))
    else:  # a mean over every entry
        ratio = sp.Rational(int(np.prod(qshape)), int(np.prod(full)))
    return block * ratio


def structured_witnesses(graph: Graph, targets: Mapping[str, int], *, seed: int = 0, attempts: int = 4
                         ) -> tuple[list[TrajectoryWitness], set[str], list[str]]:
    """Certified single-example SGD trajectories at a structured point (module docstring): the witnesses,
    the parameters every entry of which is certified to move at its ``targets`` step, and notes."""
    from .engine import backprop, input_symbols
    from .cost import forward_cost
    from .lumping import lumping, quotient_graph
    from .prover import _one  # the entry path's certified trajectory, reused on the quotient
    from .tokens import token_point

    lump = lumping(graph, structured=True)
    cost = forward_cost(graph, lump.quotient_shape)
    if cost > WITNESS_MAX_COST:  # positions of convolutions never lump: a real-size image stays large
        return [], set(), [f"no structured witness was attempted: one forward pass of the quotient costs {cost} "
                           f"multiply-adds (more than {WITNESS_MAX_COST}); the first-move steps are lower bounds"]
    q = quotient_graph(lump)
    loss = graph_loss(graph.loss_name)  # type: ignore[arg-type]
    assert q.output is not None and q.input_node is not None
    weights = _output_weights(lump, q, graph)
    rng = random.Random(seed + 7727)
    coords = [(n, i) for n in q.trainable() for i in range(q.params[n].size)]
    reps = dict(enumerate(coords))
    symbols = [sp.Symbol(f"theta_{k}", real=True) for k in range(len(coords))]
    kinds = {n: "zero" if q.params[n].init is not None and not np.any(q.params[n].init) else "nonzero"
             for n in q.params}
    data = [x for k, nid in enumerate(q.input_nodes) for x in input_symbols(q.nodes[nid].shape, k).flat]
    targets_k = {k: targets[c[0]] for k, c in reps.items() if c[0] in targets}
    horizon = max(targets.values())
    kept: list[TrajectoryWitness] = []
    moved_blocks: set[int] = set()
    notes = [f"witness point: every entry of a block takes the block's value (a specialization of the generic init "
             f"symbols); the example is constant on the classes of the quotient ({q.describe()})"]
    for n, (dps, scale, lr_factor) in enumerate(PLAN[: max(attempts, 1) + 2]):
        if moved_blocks >= set(targets_k):
            break

        def value(name: str, flat: int) -> sp.Expr:
            init = q.params[name].init
            assert init is not None
            if float(np.asarray(init).reshape(-1)[flat]) == 0.0:
                return sp.Integer(0)
            fan_in = q.fan_in.get(name, 1)
            return sp.Rational(rng.choice([k for k in range(-12, 13) if k]), rng.randint(3, 9) * fan_in)
        init_values = {c: value(*c) for c in coords}
        values: dict[str, np.ndarray] = {}
        shown: list[tuple[str, str]] = []
        for name, p in q.params.items():
            a = np.empty(p.size, dtype=object)
            for i in range(p.size):
                if p.trainable:
                    k = coords.index((name, i))
                    a[i] = symbols[k]
                    shown.append((f"{name} block {i} (init)", str(init_values[(name, i)])))
                else:
                    a[i] = value(name, i)
                    shown.append((f"{name} block {i} (frozen)", str(a[i])))
            values[name] = a.reshape(p.shape)
        point = {x: sp.Rational(rng.choice([k for k in range(-12, 13) if k]) * scale, rng.randint(3, 9)) for x in data}
        point.update(loss.sample(rng, q.nodes[q.output].shape))
        point.update(token_point(q, rng))  # token inputs: one-hot rows of real ids
        z = backprop(q, values, backward=False).output
        y = loss.labels(q.nodes[q.output].shape)
        delta = loss.delta(z, y) * weights
        state = backprop(q, values, output_delta=delta)
        exprs = [state.grads[name].reshape(-1)[i] for name, i in coords]
        widest = max([q.fan_in.get(m, 1) for m in q.params] + [1])
        lr = sp.Rational(rng.choice([1, 2, 3]) * lr_factor, rng.choice([2, 4, 5]) * widest)
        with precision(dps):
            w = _one(point, lr, reps, exprs, symbols, init_values, targets_k, horizon, dps, scale)
        if w is None:
            continue
        new = {k for k, _, _ in w.moved} - moved_blocks
        if new:
            described = tuple(sorted(w.point + tuple(shown)))
            kept.append(TrajectoryWitness(described, w.learning_rate, w.steps, w.moved, w.visible, w.data_scale,
                                          w.magnitudes))
            moved_blocks |= new
    tight = {name for name in targets
             if all(k in moved_blocks for k, c in reps.items() if c[0] == name)}
    del kinds
    return kept, tight, notes


# ---------------------------------------------------------------- the analysis face
#: below this many parameter entries (trainable and frozen) the entry path runs: it also refutes ties
STRUCTURAL_MIN_ENTRIES = 4096
#: ... unless one forward pass costs this many multiply-adds (:func:`symderiv.graph.cost.forward_cost`): the
#: entry path's closed forms then explode (a 4-channel ResNet block on 6×6 positions, ~1.1e4: 150 s)
STRUCTURAL_MIN_COST = 4000


def prefers_tensor_level(graph: Graph) -> bool:
    """Whether a graph is too large for the entry path (entries or forward cost; the tensor-level path runs when
    the graph is also :func:`eligible`)."""
    from .cost import forward_cost

    return (sum(p.size for p in graph.params.values()) >= STRUCTURAL_MIN_ENTRIES
            or forward_cost(graph) >= STRUCTURAL_MIN_COST)


# the analysis face and verify of a tensor-level proof (split module; re-exported)
from .structural_face import (StructuralGraphAnalysis, StructuralView, structural_analysis,  # noqa: E402,F401
                              tensor_claims, verify_structural)
