"""The analysis: what is proved about a network at an init, and how to read it.

:func:`analyze` runs the prover and wraps its :class:`~symderiv.prover.Proof`
in an :class:`Analysis`: a plain-language summary, the machine-readable JSON of
issue #3 (per entry for concrete widths, per block for symbolic ones), and the
scope of the theorem (optimizer class, kink convention, label domain).

The class is assembled from one module per face: the queries and :func:`analyze` here, the
summary in :mod:`symderiv.analysis_text`, the JSON in :mod:`symderiv.analysis_json`, and the
reading of an input-reduced proof on the full network in :mod:`symderiv.analysis_inputs`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import sympy as sp

from . import analysis_inputs, analysis_json, analysis_text
from .analysis_inputs import certified_on_full_network as _certified_on_full_network
from .analysis_json import MAX_JSON_ENTRIES, MAX_PRINTED_NODES, dag_size, printed  # noqa: F401  (their old home)
from .analysis_json import _SEE, _shared_closed_forms  # noqa: F401
from .analysis_text import _join, _runs_of_equal_layers  # noqa: F401
from .closed_forms import ClosedForms
from .errors import InvalidArgument, SizeLimitError, check_argument, check_seed
from .faces import face
from .facts import BlockFacts, block_facts, tie_ids
from .floats import FloatReport, float_facts
from .shifted import ShiftedTies, shifted_ties
from .genericity import (GENERIC_INIT, GENERIC_WIDTHS, NO_WEIGHT_DECAY, Condition, ExceptionalCase,
                         compare_case, exceptional_candidates, substituted_init)
from .guard import public_entry
from .jsontext import JsonFace
from .init import resolve_init
from .network import Network, require_concrete
from .optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .passes import Passes
from .patterns import Block, block_of
from .inputs import InputMap, columns_label, init_specs, is_symmetric, reduce_inputs
from .prover import Proof, block_label, prove
from .witness_full import FullWitness

__all__ = ["Analysis", "analyze", "MAX_JSON_ENTRIES"]

@dataclass
class Analysis(JsonFace):
    """The result of :func:`analyze`: :meth:`summary`, :meth:`to_dict` / :meth:`to_json` (the dict / its
    deterministic text), :meth:`to_latex`, :meth:`verify`."""

    proof: Proof
    optimizers: OptimizerClass
    init_description: str
    _gradient_at_init: dict[Block, sp.Expr] | None = None
    _gradient_definitions: dict[sp.Symbol, sp.Expr] | None = None
    _conditions: list[Condition] | None = None
    _floats: FloatReport | None = None
    _block_facts: dict[Block, BlockFacts] | None = None
    _shifted: "ShiftedTies | None" = None
    _passes: Passes | None = None
    #: find exceptional values of the init symbols (off for the analyses of exceptional cases themselves)
    search_exceptional: bool = True
    #: the input reduction (see :mod:`symderiv.inputs`): ``proof`` is about the reduced network,
    #: every per-entry query maps the full index through it; None when the proof is the full one
    inputs: InputMap | None = None
    _tie_id_cache: dict | None = None
    _lifted_cache: dict | None = None
    _conservation: Any = None
    _signed: Any = None
    #: with an input reduction: the witness trajectories run again and certified on the full network
    #: (:mod:`symderiv.witness_full`), the published ones; None without an input reduction
    full_witnesses: "list[FullWitness] | None" = None

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
        if self.inputs is not None:
            index = self.inputs.reduced_index(name, tuple(index))
            return block_of(self.proof.net, self.proof.partition, name, index)
        return block_of(self.net, self.proof.partition, name, tuple(index))

    def stays_zero(self, name: str, index: tuple[int, ...]) -> bool:
        """Proved: the entry is exactly 0 at every step (see :meth:`conditions_of`)."""
        return self.facts_of(self.block(name, index)).stays_zero

    def tie_class(self, name: str, index: tuple[int, ...]) -> int:
        """The id of the entry's tie class (equal ids are proved equal at every step)."""
        kind, l = self.net.parse_name(name)
        column = int(index[1]) if (kind, l) == ("W", 1) and len(index) == 2 else None
        return self._tie_ids()[self._tie_key(self.block(name, index), column)]

    def first_move_step(self, name: str, index: tuple[int, ...]) -> int | None:
        """First step whose update can change the entry; None = proved never."""
        return self.facts_of(self.block(name, index)).first_move_step

    def first_move_tight(self, name: str, index: tuple[int, ...]) -> bool:
        """Whether a move at :meth:`first_move_step` is certified (see :meth:`conditions_of`)."""
        return self.facts_of(self.block(name, index)).first_move_tight

    def conditions_of(self, name: str, index: tuple[int, ...]) -> tuple[str, ...]:
        """Ids of the :attr:`conditions` the entry's statements need (empty: unconditional)."""
        return self.facts_of(self.block(name, index)).conditions

    @property
    def conservation(self):
        """Linear and quadratic conservation laws with their completeness (:mod:`symderiv.laws`), computed once.
        Not searched with an input reduction (the laws are about the full network's entries)."""
        if self._conservation is None:
            from .laws import Conservation, LawSearch, conservation_laws

            if self.inputs is not None:
                note = "not searched: the proof ran on an input-reduced network"
                self._conservation = Conservation(LawSearch("linear", note=note), LawSearch("quadratic", note=note))
            else:
                self._conservation = conservation_laws(self.proof)
        return self._conservation

    @property
    def conserved(self) -> list:
        """The proved conservation laws (:class:`symderiv.laws.Law`: linear, then quadratic)."""
        return self.conservation.laws

    @property
    def signed_ties(self):
        """Classes proved to stay exact negatives under odd optimizers (:mod:`symderiv.signed`), computed once."""
        if self._signed is None:
            from .signed import SignedTies, signed_ties

            self._signed = SignedTies() if self.inputs is not None else signed_ties(self.proof)
        return self._signed

    def tie_sign(self, name: str, index: tuple[int, ...]) -> int:
        """+1, or −1 when the entry is proved to stay the exact negative of its signed group's lead."""
        return self.signed_ties.sign_of(self.proof.class_of[self.block(name, index)])[1]

    def facts_of(self, b: Block) -> BlockFacts:
        """The :class:`~symderiv.facts.BlockFacts` of one block of the proof."""
        if self._block_facts is None:
            self._block_facts = block_facts(self.proof, self.floats, self._shifted_tie_groups())
        return self._block_facts[b]

    @property
    def shifted(self) -> ShiftedTies:
        """Shifted ties (:mod:`symderiv.shifted`): classes of one parameter whose differences never change
        (without weight decay); not searched on an input-reduced proof."""
        if self._shifted is None:
            self._shifted = ShiftedTies() if self.inputs is not None else shifted_ties(self.proof)
        return self._shifted

    def _shifted_tie_groups(self) -> list[tuple[int, ...]]:
        return self.shifted.tie_groups()

    @property
    def floats(self) -> FloatReport:
        """Which proved zeros, ties and first-move bounds also hold in IEEE arithmetic."""
        if self._floats is None:
            self._floats = float_facts(self.proof)
        return self._floats

    @property
    def conditions(self) -> list[Condition]:
        """The conditions some statements need (generic values of init symbols or widths, no weight
        decay); a statement that references none holds at every value of every symbol."""
        if self._conditions is None:
            self._conditions = self._find_conditions()
        return self._conditions

    def _find_conditions(self) -> list[Condition]:
        p = self.proof
        out: list[Condition] = []
        tight = any(fm.tight for k, fm in p.first_moves.items() if k != p.zero_class)
        witness = next((t for t in p.trajectories if t.moved), None)
        point = dict(witness.point) if witness is not None else {}
        if p.init_symbols and tight:
            names = tuple(str(s) for s in p.init_symbols)
            exceptional, checked = self._exceptional_cases() if self.search_exceptional else ([], [])
            plural = "s" if len(names) > 1 else ""
            listed = ", ".join(names) if len(names) <= 6 else f"({len(names)} symbols: {', '.join(names[:3])}, …)"
            out.append(Condition(
                GENERIC_INIT,
                f"Certified first moves hold for generic values of the init symbol{plural} {listed} "
                "(each is certified by a witness trajectory at one value); zeros, ties and 'unchanged before "
                "step t' hold at every value.",
                names, True, tuple((s, point[s]) for s in names if s in point), tuple(exceptional), tuple(checked)))
        if self.net.is_symbolic and tight:
            widths = tuple(dict.fromkeys(str(n) for n in self.net.sizes if isinstance(n, sp.Symbol)))
            out.append(Condition(
                GENERIC_WIDTHS,
                "Certified first moves hold for generic values of the symbolic widths (certified by a trajectory "
                "at one concrete width); zeros, ties and 'unchanged before step t' hold for every width.",
                widths, True, tuple((w, point[w]) for w in widths if w in point)))
        if any(NO_WEIGHT_DECAY in self.facts_of(b).conditions for b in p.blocks):
            out.append(Condition(
                NO_WEIGHT_DECAY,
                "Some 'stays zero' and 'tied' statements rest on classes that never move (their gradient vanishes "
                "once the never-moving classes are held at their init values) or on shifted ties (differences "
                "that never change); both arguments assume no weight decay, which moves nonzero values.",
                (), False))
        return out

    def _exceptional_cases(self) -> tuple[list[ExceptionalCase], list[tuple[tuple[str, str], ...]]]:
        """Re-analyze at each candidate value (:func:`~symderiv.genericity.exceptional_candidates`) and
        keep those where a generic statement fails, each with the summary of its own analysis."""
        p = self.proof
        exceptional: list[ExceptionalCase] = []
        checked: list[tuple[tuple[str, str], ...]] = []
        labels = {b: self.block_label(b) for b in p.blocks}
        for values in exceptional_candidates(p.init_symbols):
            shown = tuple(sorted((str(s), str(v)) for s, v in values.items()))
            case_proof = prove(p.net, substituted_init(p.net, p.inits, values))
            failures = compare_case(p, case_proof, labels)
            if failures:
                at = ", ".join(f"{s} = {v}" for s, v in shown)
                case = Analysis(case_proof, self.optimizers, f"{self.init_description} at {at}",
                                search_exceptional=False)
                exceptional.append(ExceptionalCase(shown, tuple(failures), case.summary()))
            else:
                checked.append(shown)
        return exceptional, checked

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        """Per-entry arrays for a concrete parameter: ``stays_zero`` (bool), ``tie_class``
        (int), ``first_move_step`` (int, -1 = never), ``first_move_tight`` (bool), ``block``
        (object: the entry's :class:`Block`), ``block_id`` (int: the entry's block as a position in
        ``blocks``, the parameter's distinct blocks)."""
        require_concrete(self.net, "entry_facts")
        p = self.proof
        ids = self._tie_ids()
        kind, l = self.net.parse_name(name)
        shape = tuple(int(n) for n in self.net.shape(name))
        part = p.partition
        rows = np.array([part.of(l, i).index for i in range(shape[0])])
        reduced = self.inputs if (kind, l) == ("W", 1) else None
        # the facts live on blocks (row class × column class): build small per-block tables and spread
        # them over the entries by fancy indexing, so the cost is NumPy's whatever the width
        row_ids, row_of = np.unique(rows, return_inverse=True)
        if kind == "W":
            if reduced is not None:  # a full column has the facts of its representative (symderiv.inputs)
                cols = np.array([reduced.rep(j) for j in range(shape[1])])
            else:
                cols = np.array([part.of(l - 1, j).index for j in range(shape[1])])
            col_ids, col_of = np.unique(cols, return_inverse=True)
            table: np.ndarray = np.empty((len(row_ids), len(col_ids)), dtype=object)
            for a, r in enumerate(row_ids):
                for c_, c in enumerate(col_ids):
                    table[a, c_] = Block(l, "W", int(r), int(c))
            spread = lambda t: t[row_of.reshape(-1)[:, None], col_of.reshape(-1)[None, :]]  # noqa: E731
        else:
            table = np.empty(len(row_ids), dtype=object)
            for a, r in enumerate(row_ids):
                table[a] = Block(l, "b", int(r))
            spread = lambda t: t[row_of.reshape(-1)]  # noqa: E731
        block_grid = spread(table)
        facts = {}
        for b in table.flat:
            k = p.class_of[b]
            f = self.facts_of(b)
            facts[b] = (f.stays_zero, ids[k], -1 if f.first_move_step is None else f.first_move_step,
                        f.first_move_tight)
        pick = lambda f, dtype: spread(np.vectorize(lambda b: facts[b][f], otypes=[dtype])(table))  # noqa: E731
        out = {"stays_zero": pick(0, bool), "tie_class": pick(1, np.int64), "first_move_step": pick(2, np.int64),
               "first_move_tight": pick(3, bool), "block": block_grid,
               # the same blocks as small integers: entry -> position in ``blocks`` (cheap per-block look-ups)
               "block_id": spread(np.arange(table.size).reshape(table.shape)), "blocks": table.reshape(-1)}
        if self.inputs is not None:  # the full network's tie ids (symderiv.inputs)
            full_ids = self._tie_ids()
            if reduced is not None:  # per (row class, full column): untied columns have classes of their own
                per_row = {int(r): np.array([full_ids[self._tie_key(Block(1, "W", int(r), int(c)), j)]
                                             for j, c in enumerate(cols)], dtype=np.int64) for r in np.unique(rows)}
                out["tie_class"] = np.stack([per_row[int(r)] for r in rows])
            else:
                out["tie_class"] = spread(np.vectorize(lambda b: full_ids[p.class_of[b]], otypes=[np.int64])(table))
        return out

    def gradient_at_init(self, name: str, index: tuple[int, ...], *, abbreviated: bool = False) -> sp.Expr:
        """The closed-form gradient of the entry at the init (data symbolic).

        For networks whose expanded closed forms are too costly to build (deep, or
        exponentially large trees at a generic init; see
        :func:`symderiv.engine.expansion_refusal`) the gradients at the init are kept
        abbreviated: every hidden class's ``z`` and ``δ`` is a named symbol defined in
        :meth:`gradient_definitions`.  Those forms are returned with ``abbreviated=True``;
        without it they are refused with a :class:`~symderiv.errors.SizeLimitError`.
        For every other network both give the expanded closed form."""
        self._gradients()
        if self._gradient_definitions and (not abbreviated or self.inputs is not None):
            why = ("with an input reduction only expanded forms are available" if self.inputs is not None
                   else "pass abbreviated=True and read gradient_definitions() for its named z and δ")
            raise SizeLimitError(f"the closed form of {name}{list(index)} at the init is too large to expand "
                                 f"(limits MAX_EXPANDED_NODES / MAX_EXPANDED_DEPTH of symderiv.closed_forms); {why}")
        if self.inputs is not None:  # the representative's form, data mapped back (symderiv.inputs)
            kind, l = self.net.parse_name(name)
            column = int(index[1]) if (kind, l) == ("W", 1) and len(index) == 2 else None
            return self._lifted_gradient(self.block(name, index), column)
        return self._gradients()[self.block(name, index)]

    @property
    def passes(self) -> Passes:
        """The forward and backward passes at the init and on ``V(P*)`` (:mod:`symderiv.passes`):
        computed once, read by every face (summary, JSON, LaTeX) instead of running the engine again."""
        if self._passes is None:
            self._passes = Passes(self.proof)
        return self._passes

    def _gradients(self) -> dict[Block, sp.Expr]:
        """The gradient of every block at the init: expanded when that is cheap to build, else
        abbreviated (named ``z``/``δ``, defined in :meth:`gradient_definitions`)."""
        if self._gradient_at_init is None:
            at_init = self.passes.at_init
            self._gradient_at_init = dict(at_init.grad)
            self._gradient_definitions = dict(at_init.definitions)
        return self._gradient_at_init

    def gradient_definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """The named ``z``/``δ`` of abbreviated gradients at the init, in dependency order (each
        refers to data, init symbols and earlier names); empty when the gradients are expanded."""
        self._gradients()
        return dict(self._gradient_definitions or {})

    def _tie_ids(self) -> dict[int, int]:
        """Class -> tie id of the proof (see :func:`symderiv.facts.tie_ids`).

        With an input reduction the keys are :meth:`_tie_key` s (a class, or ``(class, full column)``
        for the untied columns of a reduced input class) and the ids are those of the full network,
        numbered in its parameter order; a split class's own key maps to its kept column's id."""
        if self.inputs is None:
            return tie_ids(self.proof, self._shifted_tie_groups())
        return analysis_inputs._lifted_tie_ids(self)

    # ------------------------------------------------------------ the facts, per parameter
    def _entries(self, name: str) -> int | sp.Expr:
        shape = self.net.shape(name)
        return sp.Mul(*shape) if any(not isinstance(n, int) for n in shape) else int(np.prod(shape))

    def _param_blocks(self, name: str) -> list[Block]:
        kind, l = self.net.parse_name(name)
        return [b for b in self.proof.blocks if b.layer == l and b.kind == kind]

    def _block_size(self, b: Block):
        """The number of the network's entries whose facts are those of the proof's block ``b``."""
        part = self.proof.partition
        size = part.classes[b.layer][b.row].size
        if b.kind == "W":
            if self.inputs is not None and b.layer == 1:  # the full columns b's column represents
                return size * len(self.inputs.represented(b.col))
            size = size * part.classes[b.layer - 1][b.col].size
        return size

    def hidden_layer_classes(self) -> list[tuple[int, int | sp.Symbol, int]]:
        """``(layer, width, number of classes)`` for every hidden layer."""
        part = self.proof.partition
        return [(l, self.net.sizes[l], part.n_classes(l)) for l in range(1, self.net.depth)]

    # ------------------------------------------------------------ faces (one module each)
    @public_entry
    def summary(self) -> str:
        """A few plain sentences: what stays zero, what stays tied, when things move, and the scope
        (:func:`symderiv.analysis_text.summary`)."""
        return analysis_text.summary(self)

    def scope(self) -> str:
        """The theorem's scope: optimizer class, kink convention, labels, weight decay."""
        return analysis_text.scope(self)

    def _float_summary(self) -> str:
        return analysis_text._float_summary(self)

    def assumptions(self) -> dict[str, Any]:
        """The assumptions of every statement, as JSON (:func:`symderiv.analysis_json.assumptions`)."""
        return analysis_json.assumptions(self)

    @public_entry
    def to_dict(self) -> dict[str, Any]:
        """The result as a plain JSON-ready dict (deterministic; :meth:`to_json` is its text;
        :func:`symderiv.analysis_json.to_dict`)."""
        return analysis_json.to_dict(self)

    def _closed_form_printer(self) -> ClosedForms:
        return analysis_json._closed_form_printer(self)

    def input_reduction_note(self) -> str | None:
        """One sentence on the input reduction, or None when the proof is about the full network."""
        return analysis_inputs.input_reduction_note(self)

    def _tie_key(self, b: Block, column: int | None = None) -> Any:
        return analysis_inputs._tie_key(self, b, column)

    def _lifted_gradient(self, b: Block, column: int | None = None, column_value: object = None) -> sp.Expr:
        return analysis_inputs._lifted_gradient(self, b, column, column_value)

    def __str__(self) -> str:
        return self.summary()

    def _repr_latex_(self) -> str:
        """Jupyter: the key statements as one MathJax block (:func:`symderiv.latex.analysis_latex`)."""
        return face("latex")(self)

    @public_entry
    def to_latex(self, *, title: str | None = None) -> str:
        """The proof as a standalone LaTeX document (see :mod:`symderiv.latex`)."""
        return face("proof_document")(self, title=title)

    def __repr__(self) -> str:
        return f"Analysis({self.net.describe()}, init={self.init_description})"

    def block_label(self, b: Block) -> str:
        if self.inputs is not None and (b.layer, b.kind) == (1, "W"):  # the full columns it stands for
            return f"W1[{self.proof.partition.classes[1][b.row].label()}, {columns_label(self.inputs.represented(b.col))}]"
        return block_label(self.net, self.proof.partition, b)

    def verify(self, **options: Any):
        """Cross-check this analysis numerically; see :func:`symderiv.verify.verify`."""
        return face("verify")(self, **options)

    def _repr_html_(self) -> str:
        """Jupyter: the summary as an itemized list and key closed forms (:mod:`symderiv.notebook`)."""
        return face("html")(self)



#: zero-initialized weight matrices beyond which a concrete analysis whose zero front moves is refused
MAX_FRONT_DEPTH = 48


def _check_front_depth(net: Network, inits: Mapping[str, Any]) -> None:
    """Refuse, in one line, a concrete analysis that would iterate once per layer for very many layers.

    With zero weights after an activation with ``f(0) ≠ 0`` (sigmoid, softplus) the zero front moves
    back one layer per step: the relaxation and the first moves iterate once per layer, each iteration
    a backward pass, so the work grows with the square of the depth (a depth-1000 sigmoid net would not
    return).  Its statement for every depth, read at this one: :func:`symderiv.depth.analyze_member`."""
    zero_weights = [l for l in range(2, net.depth + 1)
                    if inits[f"W{l}"].kind == "uniform" and inits[f"W{l}"].value == 0]
    if len(zero_weights) <= MAX_FRONT_DEPTH:
        return
    moving = sorted({a.name for l in range(1, net.depth) for a in [net.activation_of(l)]
                     if sp.sympify(a.entry.function(sp.Integer(0), **dict(a.params)), strict=True) != 0})
    if not moving:  # f(0) = 0: zero weights see zero inputs and the front does not move
        return
    raise SizeLimitError(
        f"{len(zero_weights)} zero-initialized weight matrices after {', '.join(moving)} (f(0) ≠ 0): the zero "
        f"front moves back one layer per step, so the concrete analysis iterates once per layer; it is refused "
        f"beyond {MAX_FRONT_DEPTH} such layers. The statement proved for every depth, read at this one: "
        f"symderiv.depth.analyze_member(net, init)")


@public_entry
def analyze(
    net: "Network | Any",
    init: object = None,
    *,
    optimizer_class: "str | OptimizerClass" = "coordinatewise",
    relu_grad_at_zero: object = None,
    seed: int = 0,
    seconds: float = 5.0,
    loss: str | None = None,
    input_shape: "tuple[int, ...] | None" = None,
    values: str = "generic",
    optimizer: object = None,
    forward_kwargs: "dict | None" = None,
    output: object = None,
    batch_size: "int | None" = None,
    _reduce_inputs: bool = True,
) -> "Analysis | Any":
    """Prove which parameters stay zero or tied forever, and when each first moves.

    * ``net``: a network from :func:`symderiv.mlp`, or a PyTorch ``nn.Module`` (traced with
      ``torch.export``; then ``loss`` and ``input_shape`` (without the batch axis; a dict keyword -> shape,
      ``tokens(T)`` for token ids) are required, ``forward_kwargs`` fixes keyword arguments
      (``{"use_cache": False}``), ``output`` picks an output, ``batch_size=B`` analyses modules that couple
      the examples of a batch (train-mode BatchNorm) on whole batches of B (every dataset at that batch
      size), ``values``
      is ``"generic"`` (exact zeros and equal entries kept, every other value a symbol: the theorem
      covers every model with that pattern) or ``"exact"``, and the result is a
      :class:`symderiv.graph.GraphAnalysis`; see :func:`symderiv.graph.analyze_module`).
    * ``init``: ``zeros()``, ``constant(v)``, ``generic()``, or a per-parameter mapping.
    * ``optimizer_class``: the class the theorem is stated for (``coordinatewise``:
      SGD, momentum, Nesterov, RMSProp, Adam, AdamW, weight decay, clipping).
    * ``relu_grad_at_zero``: ``f'(0)`` for every kinked activation (overrides the network's).
    * ``seed``: the random rational points used for witnesses (results are deterministic).
    * ``seconds``: the work budget of each simplification, in reference seconds of counted steps (the same
      on every machine and load); beyond it an identity is undecided.
    * ``optimizer``: the optimizer you train with (``"muon"``, ``"adafactor"``, ``"lion"``, ``"lamb"``,
      ``"shampoo"``, …, a class name, or a per-parameter mapping): the statements are proved on the
      patterns it preserves (:mod:`symderiv.optimizer_classes`); outside the coordinatewise class the
      result is a :class:`symderiv.graph.GraphAnalysis` of the network's graph.
    """
    check_seed(seed)
    check_argument(isinstance(values, str) and values in ("generic", "exact"),
                   "values must be 'generic' or 'exact', got {!r}", values, error=InvalidArgument)
    if not isinstance(net, Network) and hasattr(net, "named_parameters") and hasattr(net, "forward"):
        from .graph import analyze_module

        if loss is None or input_shape is None:
            raise InvalidArgument("analyzing an nn.Module needs loss=... ('softmax_cross_entropy', 'mse', 'bce') "
                                  "and input_shape=... (the shape of one example, without the batch axis)")
        if init is not None or relu_grad_at_zero is not None:
            raise InvalidArgument("an nn.Module's own parameter values are its init: set them on the module "
                                  "(init= and relu_grad_at_zero= apply to mlp networks)")
        return analyze_module(net, loss=loss, input_shape=input_shape, values=values, seed=seed,
                              optimizer_class=optimizer_class, seconds=seconds, optimizer=optimizer,
                              forward_kwargs=forward_kwargs, output=output, batch_size=batch_size)
    if not isinstance(net, Network):
        raise InvalidArgument(f"analyze needs a network from symderiv.mlp(...) or a torch nn.Module, "
                              f"got {type(net).__name__}")
    if loss is not None or input_shape is not None or batch_size is not None:
        raise InvalidArgument("loss=, input_shape= and batch_size= are for nn.Module inputs; an mlp network carries "
                              "its loss, and its theorems cover every batch size")
    opt = _optimizer_class(optimizer_class)
    if relu_grad_at_zero is not None:
        net = net.with_kink_grad(relu_grad_at_zero)
    if optimizer is None and opt.preserves != "coordinatewise":  # a class outside the chain prover's lattice
        optimizer = opt
    if optimizer is not None:  # outside the coordinatewise class: the graph prover on the optimizer's lattice
        from .optimizer_classes import analyze_network

        restricted = analyze_network(net, init, optimizer, seed=seed, seconds=seconds)
        if restricted is not None:
            return restricted
    inits = resolve_init(net, init)
    _check_front_depth(net, inits)
    specs = sorted({p.spec for p in inits.values()})
    description = specs[0] if len(specs) == 1 else "mixed (" + ", ".join(f"{k}: {v.spec}" for k, v in inits.items()) + ")"
    imap = reduce_inputs(net, inits) if _reduce_inputs else None
    if imap is not None:  # prove on the reduced network and lift (symderiv.inputs)
        proof = prove(imap.reduced_net, init_specs(imap.reduced_inits), seed=seed, seconds=seconds)
        if not is_symmetric(proof, imap):  # a bounded simplification broke the symmetry: no lemma
            imap = None
    if imap is None:
        proof = prove(net, init, seed=seed, seconds=seconds)
        return Analysis(proof, opt, description)
    return _certified_on_full_network(Analysis(proof, opt, description, inputs=imap))
