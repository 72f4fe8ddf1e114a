"""Width independence: the quotient of a graph by classes of identical units (docs/theory.md §4, §10).

**Index spaces.**  Every axis of every tensor of the graph is an index set.  Each op says which
axes of its inputs and output are *the same* index set (``linear``: the input's last axis is the
weight's axis 1, the weight's axis 0 is the bias's axis and the output's last axis; elementwise
ops with broadcasting: equal-size aligned axes; ``matmul``: the contracted axes, and the free
ones with the output; ``permute``: the permuted axes; reductions: the kept axes).  Union-find
over these identifications gives the graph's *index spaces* (e.g. the hidden units of every
block of a residual MLP are one space: the residual additions identify them).  An op without a
rule here (reshape, slices, layer norms, softmax, ...) makes every axis of its inputs and output
*discrete* (each index its own class): the entry-level fallback, always sound.  Convolutions lump
their channels (input channels contracted like ``linear``'s) and keep positions and kernel offsets
discrete; pooling lumps its channels; eval BatchNorm passes every axis through (a channel class must
share the frozen statistics: ``AxisSpec.labels``); train BatchNorm and group norm keep the axes their
statistics run over discrete.
The example's axes and the output's axes are discrete too (data and labels are generic).

**Partition.**  Each index space gets the coarsest partition under which every parameter
touching it (trainable or frozen) is constant on product blocks: ``i ~ i'`` when, for every
parameter axis in the space, the slices at ``i`` and ``i'`` are identical (computed on the init
floats; equal floats are one symbol in :mod:`symderiv.graph.values`, distinct floats distinct
ones, so this is the partition of the symbolic init).

**Lumpability lemma.**  Let ``G`` be the group of permutations that permute, within its classes,
each index space (simultaneously on every axis of that space).  (i) Every op with a rule here is
equivariant under ``G`` (it commutes with permuting an index space on all its axes at once);
(ii) every parameter value ``θ`` constant on its blocks is fixed by ``G``; (iii) ``G`` fixes the
example, the labels and the output (their spaces are discrete).  Hence every tensor of the
forward pass at such ``θ`` is fixed by ``G``, i.e. constant on its blocks; the loss satisfies
``ℓ(gθ) = ℓ(θ)`` for *every* ``θ`` and ``g ∈ G``, so ``∇ℓ(gθ) = g∇ℓ(θ)`` and at a ``G``-fixed
``θ`` the gradient (and every cotangent) is constant on blocks.  So the subspace ``V_blocks`` of
parameters constant on their blocks is invariant (docs/theory.md §2: tied entries get identical
gradient histories) and contains the init: *entries of one block are proved tied at every step,
for every optimizer of the class*, and the smallest invariant pattern lies in ``V_blocks``.

**Quotient.**  The quotient graph has one index per class; a parameter has one entry per block
(its value the block's common value).  Its forward pass computes the common values exactly when
every contraction over a space is weighted by the class sizes (``linear``/``matmul``: the
contracted input multiplied by the sizes along that axis; ``sum``: the summand; ``mean``: the
weighted sum divided by the full count) - the op ``scale_axis`` of :mod:`symderiv.graph.ops`.
Reverse mode on the quotient differentiates ``ℓ(lift(θ_q))``, so a block's gradient is the *sum*
of its entries' (equal) gradients; the quotient graph carries ``entry_sizes`` and
:func:`symderiv.graph.engine.backprop` divides by them, so the prover sees each entry's gradient.
On ``V_blocks`` the relaxation, the first-move iteration and the witness trajectories of
:func:`symderiv.graph.prover.prove_graph` therefore see exactly the entry-level functions, with
the entries of a block sharing one coordinate: every fact of the quotient lifts to the entries
of its blocks (:class:`LiftedProof`), and the cost depends on the number of classes, not on the
width.  :func:`lift_gradients` and the tests check the quotient against the entry-level engine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import sympy as sp

from ..errors import InitError, InternalError
from .ir import Graph, Node
from .losses import graph_loss
from .prover import Coord

__all__ = ["Lumping", "lumping", "QuotientGraph", "quotient_graph", "lift_gradients", "LiftedProof",
           "lifted_proof", "AXIS_RULES"]

Axis = tuple[int, int]  # (node id, axis)


# ---------------------------------------------------------------- axis rules (one per op)
@dataclass
class AxisSpec:
    """What an op says about its axes: pairs of axes that are one index set, axes that must be discrete."""

    same: list[tuple[Axis, Axis]] = dataclasses.field(default_factory=list)
    discrete: list[Axis] = dataclasses.field(default_factory=list)
    #: per-index labels an axis's partition must refine (constants held as attributes, e.g. the running
    #: statistics of an eval BatchNorm: channels with different statistics are never one class)
    labels: list[tuple[Axis, np.ndarray]] = dataclasses.field(default_factory=list)


AxisRule = Callable[[Node, Graph], AxisSpec]
AXIS_RULES: dict[str, AxisRule] = {}


def _all_axes(node: Node, graph: Graph) -> list[Axis]:
    out = [(node.id, a) for a in range(len(node.shape))]
    for i in node.inputs:
        if i is not None:
            out += [(i, a) for a in range(len(graph.nodes[i].shape))]
    return out


def _fallback(node: Node, graph: Graph) -> AxisSpec:
    return AxisSpec(discrete=_all_axes(node, graph))


def _broadcast(node: Node, graph: Graph) -> AxisSpec:
    """Elementwise (broadcasting): aligned from the right, equal sizes are one index set."""
    spec = AxisSpec()
    n = len(node.shape)
    for i in node.inputs:
        if i is None:
            continue
        shape = graph.nodes[i].shape
        for a in range(len(shape)):
            b = n - len(shape) + a
            if shape[a] == node.shape[b] and shape[a] > 1:
                spec.same.append(((i, a), (node.id, b)))
            elif shape[a] != 1:
                spec.discrete += [(i, a), (node.id, b)]
    return spec


def _linear(node: Node, graph: Graph) -> AxisSpec:
    x, W = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    assert x is not None and W is not None
    nx = len(graph.nodes[x].shape)
    spec = AxisSpec(same=[((x, nx - 1), (W, 1)), ((W, 0), (node.id, nx - 1))])
    if nx == 1 and len(node.shape) == 1:
        pass
    spec.same += [((x, a), (node.id, a)) for a in range(nx - 1)]
    if b is not None:
        spec.same.append(((b, 0), (W, 0)))
    return spec


def _matmul(node: Node, graph: Graph) -> AxisSpec:
    a, b = node.inputs
    assert a is not None and b is not None
    sa, sb = graph.nodes[a].shape, graph.nodes[b].shape
    if len(sa) < 2 or len(sb) < 2:
        return _fallback(node, graph)
    n = len(node.shape)
    spec = AxisSpec(same=[((a, len(sa) - 1), (b, len(sb) - 2)), ((a, len(sa) - 2), (node.id, n - 2)),
                          ((b, len(sb) - 1), (node.id, n - 1))])
    for i, shape in ((a, sa), (b, sb)):  # batch axes broadcast
        for ax in range(len(shape) - 2):
            o = n - len(shape) + ax
            if shape[ax] == node.shape[o] and shape[ax] > 1:
                spec.same.append(((i, ax), (node.id, o)))
            elif shape[ax] != 1:
                spec.discrete += [(i, ax), (node.id, o)]
    return spec


def _reduce_axes(shape: tuple[int, ...], attrs: Mapping[str, Any]) -> tuple[int, ...]:
    axis = attrs.get("axis")
    if axis is None:
        return tuple(range(len(shape)))
    return tuple(sorted(a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))))


def _reduction(node: Node, graph: Graph) -> AxisSpec:
    x = node.inputs[0]
    assert x is not None
    shape = graph.nodes[x].shape
    reduced = _reduce_axes(shape, node.attrs)
    kept = [a for a in range(len(shape)) if a not in reduced]
    spec = AxisSpec()
    if node.attrs.get("keepdim"):
        spec.same += [((x, a), (node.id, a)) for a in kept]
    else:
        spec.same += [((x, a), (node.id, o)) for o, a in enumerate(kept)]
    return spec


def _rearrange(node: Node, graph: Graph) -> AxisSpec:
    x = node.inputs[0]
    assert x is not None
    if node.attrs.get("kind") == "reshape":
        return _squeeze(node, graph, x)
    if node.attrs.get("kind") != "permute":
        return _fallback(node, graph)
    return AxisSpec(same=[((x, int(src)), (node.id, o)) for o, src in enumerate(node.attrs["perm"])])


def _squeeze(node: Node, graph: Graph, x: int) -> AxisSpec:
    """A reshape that only inserts or removes size-1 axes (a batch axis of 1, ``flatten`` of ``(C, 1, 1)``) keeps
    every other axis, in order: those are identified; any other reshape falls back to discrete axes."""
    src = [a for a, n in enumerate(graph.nodes[x].shape) if n != 1]
    dst = [a for a, n in enumerate(node.shape) if n != 1]
    if [graph.nodes[x].shape[a] for a in src] != [node.shape[a] for a in dst]:
        return _fallback(node, graph)
    return AxisSpec(same=[((x, a), (node.id, b)) for a, b in zip(src, dst)])


def _only(node: Node, graph: Graph, same: list[tuple[Axis, Axis]], **extra: Any) -> AxisSpec:
    """``same`` identified, every other axis of the node and its inputs discrete (nothing lumps by omission)."""
    named = {a for pair in same for a in pair}
    return AxisSpec(same=same, discrete=[a for a in _all_axes(node, graph) if a not in named], **extra)


def _channels(node: Node, graph: Graph) -> tuple[int, int, int]:
    """``(x node, channel axis, number of spatial axes)`` of a convolution or pooling (channels before the
    spatial axes; every axis before the channels a lead axis)."""
    x = node.inputs[0]
    assert x is not None
    nx = len(graph.nodes[x].shape)
    if node.op == "conv":
        w = node.inputs[1]
        assert w is not None
        n = len(graph.nodes[w].shape) - 2
    else:
        n = len(node.attrs["output_size"] if node.op == "adaptive_avg_pool" else node.attrs["kernel"])
    return x, nx - n - 1, n


def _conv(node: Node, graph: Graph) -> AxisSpec:
    """Input channels are contracted with the weight's axis 1, output channels are the weight's axis 0 and the
    bias's; lead axes (a batch) pass through; positions and kernel offsets are discrete (zero padding and
    strides break every permutation of positions).  Grouped convolutions keep their channels discrete."""
    x, ch, _ = _channels(node, graph)
    w, b = node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
    assert w is not None
    same = [((x, a), (node.id, a)) for a in range(ch)]
    if int(node.attrs.get("groups", 1)) == 1:
        same += [((x, ch), (w, 1)), ((w, 0), (node.id, ch))]
        if b is not None:
            same.append(((b, 0), (w, 0)))
    return _only(node, graph, same)


def _pool(node: Node, graph: Graph) -> AxisSpec:
    """Pooling acts on each channel (and lead index) alone: those axes pass through; positions are discrete."""
    x, ch, _ = _channels(node, graph)
    return _only(node, graph, [((x, a), (node.id, a)) for a in range(ch + 1)])


def _norm_axis(node: Node, graph: Graph) -> tuple[int, int | None, int | None]:
    x = node.inputs[0]
    assert x is not None
    gamma = node.inputs[1] if len(node.inputs) > 1 else None
    beta = node.inputs[2] if len(node.inputs) > 2 else None
    return x, gamma, beta


def _affine_channel(node: Node, axis: int) -> list[tuple[Axis, Axis]]:
    out = [((i, 0), (node.id, axis)) for i in node.inputs[1:3] if i is not None]
    return out


def _batch_norm_eval(node: Node, graph: Graph) -> AxisSpec:
    """Elementwise given the channel: every axis passes through; a channel class must share the frozen statistics."""
    x, _, _ = _norm_axis(node, graph)
    axis = int(node.attrs.get("channel_axis", 0))
    same = [((x, a), (node.id, a)) for a in range(len(node.shape))] + _affine_channel(node, axis)
    seen: dict[tuple, int] = {}  # the exact statistics (SymPy numbers) as keys: equal only when exactly equal
    labels = np.array([seen.setdefault((m, s), len(seen)) for m, s in zip(node.attrs["mean"], node.attrs["scale"])],
                      dtype=np.int64)
    return _only(node, graph, same, labels=[((node.id, axis), labels)])


def _batch_norm_train(node: Node, graph: Graph) -> AxisSpec:
    """Per channel: the channel axis passes through (with γ, β); the axes the batch statistics run over are
    discrete (a quotient would need weighted statistics)."""
    x, _, _ = _norm_axis(node, graph)
    axis = int(node.attrs.get("channel_axis", 0))
    return _only(node, graph, [((x, axis), (node.id, axis))] + _affine_channel(node, axis))


def _group_norm(node: Node, graph: Graph) -> AxisSpec:
    """Per example: the lead axes pass through; channels and positions (the statistics' axes) are discrete."""
    x, _, _ = _norm_axis(node, graph)
    axis = int(node.attrs.get("channel_axis", 0))
    return _only(node, graph, [((x, a), (node.id, a)) for a in range(axis)])


for _op in ("activation", "scale", "shift", "add", "sub", "mul", "div"):
    AXIS_RULES[_op] = _broadcast
AXIS_RULES.update({"linear": _linear, "matmul": _matmul, "sum": _reduction, "mean": _reduction,
                   "rearrange": _rearrange, "conv": _conv, "max_pool": _pool, "avg_pool": _pool,
                   "adaptive_avg_pool": _pool, "batch_norm_eval": _batch_norm_eval,
                   "batch_norm_train": _batch_norm_train, "group_norm": _group_norm})


# ---------------------------------------------------------------- partitions
class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Axis, Axis] = {}

    def find(self, a: Axis) -> Axis:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: Axis, b: Axis) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _first_occurrence(labels: np.ndarray) -> np.ndarray:
    """Relabel so that classes are numbered by their first index (0, 1, ... in index order)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)]


def _slice_labels(values: np.ndarray, axis: int) -> np.ndarray:
    """Index ``i`` of ``axis`` -> label, equal labels iff the slices at ``i`` are identical."""
    moved = np.ascontiguousarray(np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1) + 0.0)  # -0.0 joins 0.0
    if moved.size and np.all(moved == moved[:1]):  # a constant slice pattern (the common case): one class
        return np.zeros(len(moved), dtype=np.int64)
    if len(moved) > 1 and moved.size:  # random weights: distinct projections prove distinct slices (equal slices
        # have equal projections), without one bytes key per slice (GPT-2's embedding: 50257 keys of 6 KB)
        keys = moved @ np.random.default_rng(0).standard_normal(moved.shape[1])
        if np.all(np.isfinite(keys)) and len(np.unique(keys)) == len(keys):
            return np.arange(len(moved), dtype=np.int64)
    seen: dict[bytes, int] = {}
    return np.array([seen.setdefault(row.tobytes(), len(seen)) for row in moved], dtype=np.int64)


@dataclass
class Lumping:
    """The index spaces of a graph and their partitions (see the module docstring)."""

    graph: Graph
    space: dict[Axis, int]  # (node, axis) -> index space
    labels: list[np.ndarray]  # per space: class of each index (classes numbered by first index)
    why_discrete: dict[int, str]

    def classes(self, s: int) -> int:
        return int(self.labels[s].max()) + 1 if len(self.labels[s]) else 0

    def sizes(self, s: int) -> np.ndarray:
        return np.bincount(self.labels[s], minlength=self.classes(s))

    def axis_labels(self, nid: int, axis: int) -> np.ndarray:
        return self.labels[self.space[(nid, axis)]]

    def quotient_shape(self, nid: int) -> tuple[int, ...]:
        return tuple(self.classes(self.space[(nid, a)]) for a in range(len(self.graph.nodes[nid].shape)))

    def param_labels(self, name: str) -> list[np.ndarray]:
        nid = self.graph.param_node(name)
        return [self.axis_labels(nid, a) for a in range(len(self.graph.nodes[nid].shape))]

    def block_sizes(self, name: str) -> np.ndarray:
        """Per quotient entry of ``name``: the number of entries in its block."""
        nid = self.graph.param_node(name)
        sizes = [self.sizes(self.space[(nid, a)]) for a in range(len(self.graph.nodes[nid].shape))]
        out = np.ones(tuple(len(s) for s in sizes), dtype=np.int64)
        for a, s in enumerate(sizes):
            shape = [1] * len(sizes)
            shape[a] = len(s)
            out = out * s.reshape(shape)
        return out

    @property
    def trivial(self) -> bool:
        """Every class a single index: the quotient is the graph itself."""
        return all(self.classes(s) == len(lab) for s, lab in enumerate(self.labels))

    def entries(self) -> tuple[int, int]:
        """(trainable entries of the graph, trainable entries of the quotient)."""
        full = sum(self.graph.params[n].size for n in self.graph.trainable())
        q = sum(int(self.block_sizes(n).size) for n in self.graph.trainable())
        return full, q


def lumping(graph: Graph, *, structured: bool = False) -> Lumping:
    """The index spaces and their coarsest partitions (module docstring).

    ``structured``: the partition at a *structured point* (:mod:`symderiv.graph.structural`): every
    parameter's nonzero entries taken equal (only its zero pattern kept) and the example and labels
    chosen constant on classes, so the example's and output's axes are not forced discrete (except
    the class axis of softmax cross-entropy)."""
    uf = _UnionFind()
    discrete: dict[Axis, str] = {}
    extra_labels: list[tuple[Axis, np.ndarray]] = []
    for node in graph.nodes:
        for a in range(len(node.shape)):
            uf.find((node.id, a))
        if node.op == "input":
            if not structured or "vocab" in node.attrs:  # token ids: one-hot rows, never constant along the vocabulary
                discrete.update({(node.id, a): "the example's axes (generic data)" for a in range(len(node.shape))})
            continue
        if node.op == "param":
            continue
        rule = AXIS_RULES.get(node.op, _fallback)
        spec = rule(node, graph)
        for ax_a, ax_b in spec.same:
            if graph.nodes[ax_a[0]].shape[ax_a[1]] != graph.nodes[ax_b[0]].shape[ax_b[1]]:
                raise InternalError(f"lumping: {node.op} identifies axes of different sizes")
            uf.union(ax_a, ax_b)
        for ax in spec.discrete:
            discrete.setdefault(ax, f"{node.op} at {node.where or node.id} has no lumping rule for this axis")
        extra_labels += spec.labels
    if graph.output is not None:
        out = graph.nodes[graph.output]
        if not structured:
            discrete.update({(out.id, a): "the output's axes (generic labels)" for a in range(len(out.shape))})
        elif graph_loss(graph.loss_name or "").name == "softmax_cross_entropy":
            discrete[(out.id, len(out.shape) - 1)] = "the class axis of softmax cross-entropy"
    roots = sorted({uf.find(ax) for ax in uf.parent})
    index = {r: k for k, r in enumerate(roots)}
    space = {ax: index[uf.find(ax)] for ax in uf.parent}
    size = {index[uf.find(ax)]: graph.nodes[ax[0]].shape[ax[1]] for ax in uf.parent}
    why: dict[int, str] = {}
    for ax, reason in discrete.items():
        why.setdefault(space[ax], reason)
    columns: dict[int, list[np.ndarray]] = {s: [] for s in range(len(roots))}
    for ax, lab in extra_labels:
        columns[space[ax]].append(np.asarray(lab, dtype=np.int64))
    for name, p in graph.params.items():
        nid = graph.param_node(name)
        if p.init is None:
            why.update({space[(nid, a)]: f"{name} has no init values" for a in range(len(p.shape))})
            continue
        if not np.all(np.isfinite(p.init)):
            raise InitError(f"parameter {name} holds a non-finite value (inf or nan)")
        pattern = np.asarray(p.init, dtype=np.float64)
        if structured:  # only the zero pattern is kept: the other values are ours to choose
            pattern = (pattern != 0).astype(np.float64)
        for a in range(len(p.shape)):
            if p.shape[a] > 1:
                columns[space[(nid, a)]].append(_slice_labels(pattern, a))
    labels: list[np.ndarray] = []
    for s in range(len(roots)):
        n = size[s]
        if s in why or n == 1:
            labels.append(np.arange(n))
        elif not columns[s]:
            labels.append(np.zeros(n, dtype=np.int64))
        else:
            stacked = np.stack(columns[s], axis=1)
            _, inverse = np.unique(stacked, axis=0, return_inverse=True)
            labels.append(_first_occurrence(inverse.reshape(-1)))
    return Lumping(graph, space, [np.asarray(lab, dtype=np.int64) for lab in labels], why)


# ---------------------------------------------------------------- the quotient graph
class QuotientGraph(Graph):
    """A :class:`Graph` whose parameters are blocks: ``entry_sizes[name]`` (block sizes, the quotient
    param's shape) turns reverse mode's block sums into per-entry gradients in
    :func:`symderiv.graph.engine.backprop`; ``fan_in[name]`` is the full parameter's fan-in (the scale
    of random points)."""

    def __init__(self) -> None:
        super().__init__()
        self.entry_sizes: dict[str, np.ndarray] = {}
        self.fan_in: dict[str, int] = {}
        self.lumping: Lumping | None = None


QuotientRule = Callable[["_Builder", Node, list], int]


class _Builder:
    def __init__(self, lump: Lumping) -> None:
        self.lump = lump
        self.q = QuotientGraph()
        self.q.lumping = lump
        self.ids: dict[int, int] = {}

    def weigh(self, qid: int, nid: int, axis: int) -> int:
        """Multiply the quotient tensor by the class sizes along ``axis`` (a contraction over that space)."""
        nd = len(self.lump.graph.nodes[nid].shape)
        axis %= nd
        sizes = self.lump.sizes(self.lump.space[(nid, axis)])
        if np.all(sizes == 1):
            return qid
        return self.q.op("scale_axis", [qid], axis=axis, c=tuple(sp.Integer(int(m)) for m in sizes),
                         where=f"class sizes of axis {axis}")

    def same(self, node: Node, ins: list) -> int:
        return self.q.op(node.op, ins, where=node.where, **node.attrs)


def _q_linear(b: _Builder, node: Node, ins: list) -> int:
    x = node.inputs[0]
    assert x is not None
    ins = [b.weigh(ins[0], x, -1)] + ins[1:]
    return b.q.op("linear", ins, where=node.where, **node.attrs)


def _q_matmul(b: _Builder, node: Node, ins: list) -> int:
    a = node.inputs[0]
    assert a is not None
    if len(b.lump.graph.nodes[a].shape) < 2:
        return b.same(node, ins)
    return b.q.op("matmul", [b.weigh(ins[0], a, -1), ins[1]], where=node.where, **node.attrs)


def _q_reduction(b: _Builder, node: Node, ins: list) -> int:
    x = node.inputs[0]
    assert x is not None
    shape = b.lump.graph.nodes[x].shape
    qx = ins[0]
    axes = _reduce_axes(shape, node.attrs)
    for a in axes:
        qx = b.weigh(qx, x, a)
    out = b.q.op("sum", [qx], where=node.where, **node.attrs)
    if node.op == "mean":
        count = int(np.prod([shape[a] for a in axes]))
        out = b.q.op("scale", [out], where=node.where, c=sp.Rational(1, count))
    return out


def _q_conv(b: _Builder, node: Node, ins: list) -> int:
    """The input channels are contracted: weighted by their class sizes (grouped convolutions keep them discrete)."""
    x, ch, _ = _channels(node, b.lump.graph)
    return b.q.op("conv", [b.weigh(ins[0], x, ch)] + ins[1:], where=node.where, **node.attrs)


def _q_batch_norm_eval(b: _Builder, node: Node, ins: list) -> int:
    """The frozen statistics of one channel per class (the class shares them: :func:`_batch_norm_eval`)."""
    axis = int(node.attrs.get("channel_axis", 0))
    first = np.unique(b.lump.axis_labels(node.id, axis), return_index=True)[1]
    attrs = dict(node.attrs, mean=tuple(node.attrs["mean"][i] for i in first),
                 scale=tuple(node.attrs["scale"][i] for i in first))
    return b.q.op(node.op, ins, where=node.where, **attrs)


def _q_rearrange(b: _Builder, node: Node, ins: list) -> int:
    """A reshape lands on the quotient's shape (only size-1 axes move: :func:`_squeeze`)."""
    if node.attrs.get("kind") != "reshape":
        return b.same(node, ins)
    return b.q.op("rearrange", ins, where=node.where, **dict(node.attrs, shape=b.lump.quotient_shape(node.id)))


QUOTIENT_RULES: dict[str, QuotientRule] = {"linear": _q_linear, "matmul": _q_matmul, "sum": _q_reduction,
                                           "mean": _q_reduction, "conv": _q_conv,
                                           "batch_norm_eval": _q_batch_norm_eval, "rearrange": _q_rearrange}


def quotient_graph(lump: Lumping) -> QuotientGraph:
    """The quotient of ``lump.graph``: one index per class, block-valued parameters (module docstring)."""
    g = lump.graph
    b = _Builder(lump)
    for node in g.nodes:
        if node.op == "input":
            b.ids[node.id] = b.q.input(lump.quotient_shape(node.id))
            b.q.nodes[b.ids[node.id]].attrs.update(node.attrs)  # token inputs keep their vocabulary
        elif node.op == "param":
            name = node.attrs["name"]
            p = g.params[name]
            reps = [np.unique(lab, return_index=True)[1] for lab in lump.param_labels(name)]
            init = None if p.init is None else np.asarray(p.init)[np.ix_(*reps)] if reps else np.asarray(p.init)
            b.ids[node.id] = b.q.param(name, lump.quotient_shape(node.id), trainable=p.trainable, init=init)
            b.q.entry_sizes[name] = lump.block_sizes(name)
            b.q.fan_in[name] = int(np.prod(p.shape[1:])) if len(p.shape) >= 2 else 1
        else:
            ins = [None if i is None else b.ids[i] for i in node.inputs]
            b.ids[node.id] = QUOTIENT_RULES.get(node.op, _Builder.same)(b, node, ins)
    assert g.output is not None and g.loss_name is not None
    b.q.set_loss(b.ids[g.output], g.loss_name)
    return b.q


def expand(lump: Lumping, name: str, q_array: np.ndarray) -> np.ndarray:
    """A per-block array of parameter ``name`` (quotient shape) as a per-entry array (full shape)."""
    labels = lump.param_labels(name)
    return np.asarray(q_array)[np.ix_(*labels)] if labels else np.asarray(q_array)


def lift_gradients(lump: Lumping, q_grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The quotient's per-entry gradients (already divided by the block sizes) on the full shapes."""
    return {name: expand(lump, name, g) for name, g in q_grads.items()}


# ---------------------------------------------------------------- proving through the quotient
def _block_label(lump: Lumping, q: Graph, c: Coord) -> str:
    name, qflat = c
    shape = q.params[name].shape
    qidx = np.unravel_index(qflat, shape) if shape else ()
    first = [int(np.flatnonzero(lab == k)[0]) for lab, k in zip(lump.param_labels(name), qidx)]
    size = int(lump.block_sizes(name).reshape(-1)[qflat])
    label = f"{name}[{', '.join(map(str, first))}]"
    return label if size == 1 else f"{label} (and the {size - 1} other entries of its block)"


def quotient_values(lump: Lumping, q: QuotientGraph, mode: str) -> tuple[dict[str, np.ndarray], list[sp.Symbol]]:
    """:func:`symderiv.graph.values.init_values` of the quotient, a symbol of a single-entry block
    named after the full entry (``c_W_3_7``, not the block's quotient index)."""
    from .values import _symbol_name, init_values

    values, symbols = init_values(q, mode)
    rename: dict[sp.Symbol, sp.Symbol] = {}
    taken = {str(s) for s in symbols}
    for name in q.params:
        labels = lump.param_labels(name)
        for qidx in np.ndindex(*q.params[name].shape):
            v = values[name][qidx]
            if isinstance(v, sp.Symbol) and str(v).startswith("c_") and v not in rename:
                full = tuple(int(np.flatnonzero(lab == k)[0]) for lab, k in zip(labels, qidx))
                new = _symbol_name(name, full)
                while new in taken and new != str(v):
                    new += "_"
                taken.add(new)
                rename[v] = sp.Symbol(new, real=True, nonzero=True)
    if rename:
        values = {n: np.vectorize(lambda e: rename.get(e, e), otypes=[object])(a) if a.size else a
                  for n, a in values.items()}
        symbols = [rename.get(s, s) for s in symbols]
    return values, symbols


def prove_lumped(graph: Graph, mode: str, *, seed: int = 0, seconds: float = 5.0) -> LiftedProof | None:
    """Prove ``graph`` through its quotient; None when lumping merges nothing, or when the quotient is still
    large and the tensor-level path applies (:func:`symderiv.graph.structural.structural_analysis`)."""
    from .prover import prove_graph
    from .structural import eligible, prefers_tensor_level

    lump = lumping(graph)
    if lump.trivial:
        return None
    q = quotient_graph(lump)
    merged_little = 2 * sum(p.size for p in q.params.values()) > sum(p.size for p in graph.params.values())
    if mode == "generic" and eligible(graph) is not None and (
            prefers_tensor_level(q) or (merged_little and prefers_tensor_level(graph))):
        return None  # still large, or lumping merged little of a large graph: the tensor-level path
    q.block_label = lambda c: _block_label(lump, q, c)  # type: ignore[attr-defined]
    values, symbols = quotient_values(lump, q, mode)
    proof = prove_graph(q, values, symbols, seed=seed, seconds=seconds)
    return lifted_proof(lump, proof)


# ---------------------------------------------------------------- the analysis face of a lifted proof


from .lifted import LiftedProof, LumpedGraphAnalysis, lifted_proof  # noqa: E402,F401  (re-exported: split module)
