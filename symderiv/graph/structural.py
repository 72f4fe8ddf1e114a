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

import dataclasses
import functools
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

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


from .analysis import GraphAnalysis  # noqa: E402  (analysis imports this module lazily)
from .facts import ClassFacts  # noqa: E402
from .tensor_facts import EntryGroup  # noqa: E402
from .prover import Coord  # noqa: E402


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
