"""The analysis: what is proved about a network at an init, and how to read it.

:func:`analyze` runs the prover and wraps its :class:`~symderiv.prover.Proof`
in an :class:`Analysis`: a plain-language summary, the machine-readable JSON of
issue #3 (per entry for concrete widths, per block for symbolic ones), and the
scope of the theorem (optimizer class, kink convention, label domain).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .engine import backprop
from .guard import public_entry
from .network import Network
from .optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .patterns import Block
from .inputs import InputMap
from .prover import Proof, block_label, prove

__all__ = ["Analysis", "analyze", "MAX_JSON_ENTRIES"]

#: parameters with more entries than this are written per block in JSON, not per entry
MAX_JSON_ENTRIES = 4_096
#: closed forms with more distinct sub-expressions than this are not printed into the JSON
MAX_PRINTED_NODES = 600


def dag_size(expr: sp.Basic, limit: int) -> int:
    """The number of distinct sub-expressions of ``expr`` (counted up to ``limit``).

    Deep closed forms share sub-expressions; walking the DAG, not the tree, keeps this linear."""
    seen: set = set()
    stack = [expr]
    while stack and len(seen) <= limit:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.args)
    return len(seen)


def printed(expr: sp.Expr) -> str:
    """SymPy's ``str`` of ``expr``, or a note when the closed form is too large to print."""
    size = dag_size(expr, MAX_PRINTED_NODES)
    if size > MAX_PRINTED_NODES:
        return f"<closed form of more than {MAX_PRINTED_NODES} sub-expressions, omitted>"
    return str(expr)


@dataclass
class Analysis:
    """The result of :func:`analyze`."""

    proof: Proof
    optimizers: OptimizerClass
    init_description: str
    _gradient_at_init: dict[Block, sp.Expr] | None = None
    #: the input reduction (see :mod:`symderiv.inputs`): ``proof`` is about the reduced network,
    #: every per-entry query maps the full index through it; None when the proof is the full one
    inputs: InputMap | None = None
    _tie_id_cache: dict | None = None
    _lifted_cache: dict | None = None

    # ------------------------------------------------------------ queries
    @property
    def net(self) -> Network:
        """The user's network (with an input reduction, ``proof.net`` is the smaller one)."""
        return self.proof.net if self.inputs is None else self.inputs.full_net

    @property
    def inits(self) -> dict:
        """The resolved init of every parameter of :attr:`net` (full shapes)."""
        return self.proof.inits if self.inputs is None else self.inputs.full_inits

    def block(self, name: str, index: tuple[int, ...]) -> Block:
        """The proof's block holding the entry (with an input reduction: of its representative)."""
        from .patterns import block_of

        if self.inputs is not None:
            index = self.inputs.reduced_index(name, tuple(index))
            return block_of(self.proof.net, self.proof.partition, name, index)
        return block_of(self.net, self.proof.partition, name, tuple(index))

    def input_reduction_note(self) -> str | None:
        """One sentence on the input reduction, or None when the proof is about the full network."""
        m = self.inputs
        if m is None:
            return None
        wide = [D for D in m.classes if D.reduced]
        listed = ", ".join(D.label() for D in wide[:4]) + (", …" if len(wide) > 4 else "")
        return (f"Input reduction (proved exact, symderiv.inputs): the {m.n_full} inputs form {len(m.classes)} "
                f"class{'es' if len(m.classes) != 1 else ''} of exchangeable coordinates (identical columns of W1 "
                f"at the init; of 5 or more: {listed}); the proof ran on the same "
                f"network with {m.n_reduced} inputs (4 per such class) and every fact is lifted entry by entry to "
                f"the {m.n_full} inputs; witness data are zero-padded to the full input.")

    def stays_zero(self, name: str, index: tuple[int, ...]) -> bool:
        """Proved: the entry is exactly 0 at every step."""
        return self.proof.class_of[self.block(name, index)] == self.proof.zero_class

    def tie_class(self, name: str, index: tuple[int, ...]) -> int:
        """The id of the entry's tie class (equal ids are proved equal at every step)."""
        return self._tie_ids()[self.proof.class_of[self.block(name, index)]]

    def first_move_step(self, name: str, index: tuple[int, ...]) -> int | None:
        """First step whose update can change the entry; None = proved never."""
        k = self.proof.class_of[self.block(name, index)]
        if k == self.proof.zero_class:
            return None
        return self.proof.first_moves[k].step

    def first_move_tight(self, name: str, index: tuple[int, ...]) -> bool:
        k = self.proof.class_of[self.block(name, index)]
        return k != self.proof.zero_class and self.proof.first_moves[k].tight

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        """Per-entry arrays for a concrete parameter: ``stays_zero`` (bool), ``tie_class``
        (int), ``first_move_step`` (int, -1 = never), ``first_move_tight`` (bool), ``block``
        (object: the entry's :class:`Block`)."""
        from .network import require_concrete

        require_concrete(self.net, "entry_facts")
        p = self.proof
        ids = self._tie_ids()
        kind, l = self.net.parse_name(name)
        shape = tuple(int(n) for n in self.net.shape(name))
        part = p.partition
        rows = np.array([part.of(l, i).index for i in range(shape[0])])
        if kind == "W":
            cols = np.array([part.of(l - 1, j).index for j in range(shape[1])])
            block_grid = np.empty(shape, dtype=object)
            for r in np.unique(rows):
                for c in np.unique(cols):
                    block_grid[np.ix_(rows == r, cols == c)] = Block(l, "W", int(r), int(c))
        else:
            block_grid = np.empty(shape, dtype=object)
            for i, r in enumerate(rows):
                block_grid[i] = Block(l, "b", int(r))
        facts = {}
        for b in set(block_grid.flat):
            k = p.class_of[b]
            zero = k == p.zero_class
            fm = None if zero else p.first_moves[k]
            facts[b] = (zero, ids[k], -1 if zero or fm.step is None else fm.step, bool(fm and fm.tight))
        pick = lambda f, dtype: np.vectorize(lambda b: facts[b][f], otypes=[dtype])(block_grid)  # noqa: E731
        return {"stays_zero": pick(0, bool), "tie_class": pick(1, np.int64), "first_move_step": pick(2, np.int64),
                "first_move_tight": pick(3, bool), "block": block_grid}

    def gradient_at_init(self, name: str, index: tuple[int, ...]) -> sp.Expr:
        """The closed-form gradient of the entry at the init (data symbolic)."""
        return self._gradients()[self.block(name, index)]

    def _gradients(self) -> dict[Block, sp.Expr]:
        if self._gradient_at_init is None:
            p = self.proof
            self._gradient_at_init = dict(backprop(p.net, p.partition, p.init_values).grad)
        return self._gradient_at_init

    def _tie_ids(self) -> dict[int, int]:
        ids: dict[int, int] = {}
        for b in self.proof.blocks:  # parameter order, so ids read left to right
            k = self.proof.class_of[b]
            ids.setdefault(k, len(ids))
        return ids

    # ------------------------------------------------------------ the facts, per parameter
    def _entries(self, name: str) -> int | sp.Expr:
        shape = self.net.shape(name)
        return sp.Mul(*shape) if any(not isinstance(n, int) for n in shape) else int(np.prod(shape))

    def _param_blocks(self, name: str) -> list[Block]:
        kind, l = self.net.parse_name(name)
        return [b for b in self.proof.blocks if b.layer == l and b.kind == kind]

    def _block_size(self, b: Block):
        part = self.proof.partition
        size = part.classes[b.layer][b.row].size
        if b.kind == "W":
            size = size * part.classes[b.layer - 1][b.col].size
        return size

    def hidden_layer_classes(self) -> list[tuple[int, int | sp.Symbol, int]]:
        """``(layer, width, number of classes)`` for every hidden layer."""
        part = self.proof.partition
        return [(l, self.net.sizes[l], part.n_classes(l)) for l in range(1, self.net.depth)]

    # ------------------------------------------------------------ summary
    def summary(self) -> str:
        """A few plain sentences: what stays zero, what stays tied, when things move, and the scope."""
        lines = [f"{self.net.describe()}; init: {self.init_description}."]
        p = self.proof
        names = self.net.parameter_names()
        zero_params, learning = [], []
        for name in names:
            bl = self._param_blocks(name)
            if all(p.class_of[b] == p.zero_class for b in bl):
                zero_params.append(name)
            else:
                learning.append(name)
        weights = [n for n in names if n.startswith("W")]
        zero_weights = [n for n in zero_params if n.startswith("W")]
        n_weights = sp.Add(*[self._entries(n) for n in weights])
        if zero_weights and zero_weights == weights:
            lines.append(f"All {n_weights} weights stay exactly 0 forever (proved).")
        elif zero_params:
            lines.append(f"{_join(zero_params)} stay{'s' if len(zero_params) == 1 else ''} exactly 0 forever (proved).")
        partial = []
        for name in learning:
            bl = self._param_blocks(name)
            z = sp.Add(*[self._block_size(b) for b in bl if p.class_of[b] == p.zero_class])
            if z != 0:
                partial.append(f"{z} of the {self._entries(name)} entries of {name}")
        if partial:
            lines.append(f"Also exactly 0 forever: {_join(partial)}.")
        if not learning:
            lines.append("Nothing learns.")
        elif zero_params:
            lines.append(f"Only {_join(learning)} learn{'s' if len(learning) == 1 else ''}.")
        for l, width, n_cls in self.hidden_layer_classes():
            if n_cls == 1 and width != 1:
                lines.append(
                    f"The {width} units of layer {l} stay identical forever: the network behaves as if "
                    f"that layer had width 1."
                )
            elif isinstance(width, int) and n_cls < width:
                lines.append(f"The {width} units of layer {l} fall into {n_cls} classes of identical units, forever.")
        ties = self._tie_summary()
        if ties:
            lines.append(ties)
        moves = self._move_summary()
        if moves:
            lines.append(moves)
        lines.append(self.scope())
        if p.undecided:
            lines.append(f"Undecided (not claimed): {len(p.undecided)} identit{'y' if len(p.undecided) == 1 else 'ies'}; "
                         "see .proof.undecided.")
        return "\n".join(lines)

    def _tie_summary(self) -> str:
        p = self.proof
        cross = []
        for k, members in enumerate(p.classes):
            if k == p.zero_class:
                continue
            params = sorted({b.param for b in members}, key=self.net.parameter_names().index)
            if len(params) > 1:
                cross.append(_join(params))
        if cross:
            return "Tied across parameters forever (equal entries stay equal): " + "; ".join(sorted(set(cross))) + "."
        return ""

    def _move_summary(self) -> str:
        p = self.proof
        parts = []
        for name in self.net.parameter_names():
            steps = {}
            for b in self._param_blocks(name):
                k = p.class_of[b]
                if k == p.zero_class:
                    continue
                fm = p.first_moves[k]
                steps.setdefault(fm.step, []).append(fm.tight)
            if not steps:
                continue
            finite = sorted(s for s in steps if s is not None)
            text = name
            if finite:
                lo = finite[0]
                tight = all(steps[lo])
                text += (f" first moves at step {lo}" if tight
                         else f" is unchanged before step {lo} (proved; a move at step {lo} is not certified)")
                if len(finite) > 1:
                    text += f" (some entries only from step {finite[-1]})"
            if None in steps:
                text += ("; " if finite else " ") + "never changes (proved)" if not finite else "; some entries never change (proved)"
            parts.append(text)
        if not parts:
            return ""
        return "First moves: " + "; ".join(parts) + "."

    def scope(self) -> str:
        """The theorem's scope: optimizer class, kink convention, labels, weight decay."""
        kinks = sorted({a.describe() for a in self.net.activations if a.is_kinked})
        text = (f"Holds for every dataset, batch size, sample order and learning-rate schedule, for "
                f"{_join(list(self.optimizers.members))} (class '{self.optimizers.name}').")
        if kinks:
            text += f" Kink convention: {_join(kinks)}."
        text += f" Labels: {self.net.loss.label_domain}."
        text += " First-move steps assume no weight decay."
        if self.net.is_symbolic:
            text += (" Zeros, ties and 'unchanged before step t' hold for every value of the symbolic widths;"
                     " a first move at step t is certified by a trajectory at the widths it names.")
        return text

    def __str__(self) -> str:
        return self.summary()

    def _repr_latex_(self) -> str:
        from .latex import analysis_latex

        return analysis_latex(self)

    def to_latex(self, *, title: str | None = None) -> str:
        """The proof as a standalone LaTeX document (see :mod:`symderiv.latex`)."""
        from .latex import proof_document

        return proof_document(self, title=title)

    def __repr__(self) -> str:
        return f"Analysis({self.net.describe()}, init={self.init_description})"

    # ------------------------------------------------------------ JSON
    def assumptions(self) -> dict[str, Any]:
        return {
            "optimizer_class": self.optimizers.to_json(),
            "kink_convention": {a.name: str(a.kink_grad) for a in self.net.activations if a.is_kinked},
            "labels": self.net.loss.label_domain,
            "first_move_assumes": "no weight decay",
            "data": "every statement holds for every example (data are symbols)",
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON-serializable contract of issue #3 (deterministic)."""
        p = self.proof
        ids = self._tie_ids()
        grads = self._gradients()
        params: dict[str, Any] = {}
        for name in self.net.parameter_names():
            shape = self.net.shape(name)
            concrete = all(isinstance(n, int) for n in shape)
            if concrete and int(np.prod(shape)) <= MAX_JSON_ENTRIES:
                params[name] = self._entry_json(name, shape, ids, grads)
            else:
                params[name] = self._block_json(name, shape, ids, grads)
        return {
            "network": self.net.to_json(),
            "init": {name: p.inits[name].spec for name in self.net.parameter_names()},
            "assumptions": self.assumptions(),
            "parameters": params,
            "summary": self.summary(),
            "undecided": list(p.undecided),
            "relaxation_iterations": p.iterations,
            "witness_trajectory": None if p.trajectory is None else p.trajectory.to_json(),
        }

    def _facts(self, b: Block, ids, grads) -> tuple[bool, int, int | None, bool, str]:
        p = self.proof
        k = p.class_of[b]
        zero = k == p.zero_class
        fm = None if zero else p.first_moves[k]
        return (zero, ids[k], None if zero else fm.step, False if zero else fm.tight, printed(grads[b]))

    def _entry_json(self, name, shape, ids, grads) -> dict[str, Any]:
        part = self.proof.partition
        kind, l = self.net.parse_name(name)
        facts: dict[Block, tuple] = {}  # once per block: entries of a block share every fact

        def fact(b: Block) -> tuple:
            if b not in facts:
                facts[b] = self._facts(b, ids, grads)
            return facts[b]

        rows = [part.of(l, i).index for i in range(shape[0])]
        if len(shape) == 1:
            grid = [fact(Block(l, "b", r)) for r in rows]
            cols = lambda f: [g[f] for g in grid]  # noqa: E731
        else:
            cls = [part.of(l - 1, j).index for j in range(shape[1])]
            grid = [[fact(Block(l, "W", r, c)) for c in cls] for r in rows]
            cols = lambda f: [[g[f] for g in row] for row in grid]  # noqa: E731
        return {
            "shape": list(shape),
            "stays_zero": cols(0),
            "tie_class": cols(1),
            "first_move_step": cols(2),
            "first_move_tight": cols(3),
            "gradient_at_init": cols(4),
        }

    def _block_json(self, name, shape, ids, grads) -> dict[str, Any]:
        part = self.proof.partition
        out = []
        for b in self._param_blocks(name):
            zero, tid, step, tight, g = self._facts(b, ids, grads)
            entry = {"rows": part.classes[b.layer][b.row].label()}
            if b.kind == "W":
                entry["columns"] = part.classes[b.layer - 1][b.col].label()
            entry.update({"entries": str(self._block_size(b)), "stays_zero": zero, "tie_class": tid,
                          "first_move_step": step, "first_move_tight": tight, "gradient_at_init": g})
            out.append(entry)
        return {"shape": [n if isinstance(n, int) else str(n) for n in shape], "layout": "blocks", "blocks": out}

    def to_json_text(self) -> str:
        """``to_json()`` as text, byte-identical for the same input."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    def block_label(self, b: Block) -> str:
        return block_label(self.net, self.proof.partition, b)

    def verify(self, **options: Any):
        """Cross-check this analysis numerically; see :func:`symderiv.verify.verify`."""
        from .verify import verify

        return verify(self, **options)


def _join(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@public_entry
def analyze(
    net: Network,
    init: object = None,
    *,
    optimizer_class: "str | OptimizerClass" = "coordinatewise",
    relu_grad_at_zero: object = None,
    seed: int = 0,
    seconds: float = 5.0,
) -> Analysis:
    """Prove which parameters stay zero or tied forever, and when each first moves.

    * ``net``: a network from :func:`symderiv.mlp`.
    * ``init``: ``zeros()``, ``constant(v)``, ``generic()``, or a per-parameter mapping.
    * ``optimizer_class``: the class the theorem is stated for (``coordinatewise``:
      SGD, momentum, Nesterov, RMSProp, Adam, AdamW, weight decay, clipping).
    * ``relu_grad_at_zero``: ``f'(0)`` for every kinked activation (overrides the network's).
    * ``seed``: the random rational points used for witnesses (results are deterministic).
    * ``seconds``: the time bound of each simplification; beyond it an identity is undecided.
    """
    from .init import resolve_init

    opt = _optimizer_class(optimizer_class)
    if relu_grad_at_zero is not None:
        net = net.with_kink_grad(relu_grad_at_zero)
    inits = resolve_init(net, init)
    specs = sorted({p.spec for p in inits.values()})
    description = specs[0] if len(specs) == 1 else "mixed (" + ", ".join(f"{k}: {v.spec}" for k, v in inits.items()) + ")"
    proof = prove(net, init, seed=seed, seconds=seconds)
    return Analysis(proof, opt, description)
