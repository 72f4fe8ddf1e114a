"""The analysis: what is proved about a network at an init, and how to read it.

:func:`analyze` runs the prover and wraps its :class:`~symderiv.prover.Proof`
in an :class:`Analysis`: a plain-language summary, the machine-readable JSON of
issue #3 (per entry for concrete widths, per block for symbolic ones), and the
scope of the theorem (optimizer class, kink convention, label domain).
"""
from __future__ import annotations

import dataclasses
import functools
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import sympy as sp

from .closed_forms import MAX_INLINE_NODES, ClosedForms, dag_size as _dag_size
from .engine import backprop, expansion_refusal
from .errors import InternalError, SizeLimitError
from .facts import BlockFacts, block_facts, tie_ids
from .floats import FloatReport, float_facts
from .shifted import ShiftedTies, shifted_ties
from .genericity import (GENERIC_INIT, GENERIC_WIDTHS, NO_WEIGHT_DECAY, Condition, ExceptionalCase,
                         compare_case, exceptional_candidates, substituted_init)
from .guard import public_entry
from .jsontext import JsonFace
from .network import Network
from .optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .patterns import Block
from .inputs import InputMap, columns_label, init_specs, is_symmetric, reduce_inputs
from .prover import FirstMove, Proof, block_label, prove
from .witness_full import SPREAD_NOTE, FullWitness, certify_full_network

__all__ = ["Analysis", "analyze", "MAX_JSON_ENTRIES"]

#: parameters with more entries than this are written per block in JSON, not per entry
MAX_JSON_ENTRIES = 4_096
#: closed forms whose printed TREE has at most this many nodes are printed as SymPy prints them;
#: larger ones are abbreviated (see :mod:`symderiv.closed_forms` and :meth:`Analysis.to_dict`)
MAX_PRINTED_NODES = MAX_INLINE_NODES
#: where the note of an omitted closed form points the reader
_SEE = "Analysis.gradient_at_init(name, index, abbreviated=True) and Analysis.gradient_definitions()"
#: the printer shared by the closed forms of the JSON document being written (see _shared_closed_forms)
_ACTIVE_FORMS: ContextVar["ClosedForms | None"] = ContextVar("symderiv_closed_forms", default=None)


def dag_size(expr: sp.Basic, limit: int) -> int:
    """The number of distinct sub-expressions of ``expr`` (counted up to ``limit``).

    Deep closed forms share sub-expressions; walking the DAG, not the tree, keeps this linear."""
    return _dag_size(expr, limit)


def printed(expr: sp.Expr) -> str:
    """A closed form as text, bounded (see :mod:`symderiv.closed_forms`).

    Inside :meth:`Analysis.to_dict` the names of an abbreviated form refer to the JSON's
    ``"definitions"``; elsewhere the text is self-contained (``... where u1 = ...; u2 = ...``)."""
    forms = _ACTIVE_FORMS.get()
    if forms is not None:
        return forms.text(expr)
    form = ClosedForms(see=_SEE).abbreviate(expr)
    if form.omitted and form.note is not None:  # an omitted form always carries its note
        return form.note
    if not form.definitions:
        return str(form.expr)
    return f"{form.expr} where " + "; ".join(f"{name} = {rhs}" for name, rhs in form.definitions)


def _shared_closed_forms(to_dict):
    """Wraps :meth:`Analysis.to_dict`: its closed forms share one printer, whose definitions
    become the document's ``"definitions"`` object (``{}`` when nothing was abbreviated)."""

    @functools.wraps(to_dict)
    def wrapper(self: "Analysis", *args: Any, **kwargs: Any) -> dict[str, Any]:
        forms = self._closed_form_printer()
        token = _ACTIVE_FORMS.set(forms)
        try:
            data = to_dict(self, *args, **kwargs)
        finally:
            _ACTIVE_FORMS.reset(token)
        data["definitions"] = forms.definitions_text()
        return data

    return wrapper


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
                f"the {m.n_full} inputs; the witness trajectories are run again and certified on the full network, "
                f"every input carrying a nonzero datum.")

    def stays_zero(self, name: str, index: tuple[int, ...]) -> bool:
        """Proved: the entry is exactly 0 at every step (see :meth:`conditions_of`)."""
        return self.facts_of(self.block(name, index)).stays_zero

    def tie_class(self, name: str, index: tuple[int, ...]) -> int:
        """The id of the entry's tie class (equal ids are proved equal at every step)."""
        kind, l = self.net.parse_name(name)
        column = int(index[1]) if (kind, l) == ("W", 1) and len(index) == 2 else None
        return self._tie_ids()[self._tie_key(self.block(name, index), column)]

    def _tie_key(self, b: Block, column: int | None = None):
        """The key of an entry's tie class in :meth:`_tie_ids`: the proof's class of its block, or,
        for a ``W1`` entry of a reduced input class whose columns are not tied in this row (the
        columns of a class are all tied or pairwise untied, see :mod:`symderiv.inputs`),
        ``(class, full column)``: untied columns get tie classes of their own."""
        p = self.proof
        k = p.class_of[b]
        m = self.inputs
        if m is None or column is None or b.layer != 1 or b.kind != "W":
            return k
        D = m.classes[m.column_class[column]]
        if not D.reduced:
            return k
        if self._lifted_cache is None:
            self._lifted_cache = {}
        tied = self._lifted_cache.get(("tied", b.row, D.index))
        if tied is None:
            base = self._lifted_cache.get("tie_ids")
            if base is None:
                base = self._lifted_cache["tie_ids"] = tie_ids(p)
            tied = base[p.class_of[Block(1, "W", b.row, D.kept[0])]] == base[p.class_of[Block(1, "W", b.row, D.kept[1])]]
            self._lifted_cache[("tied", b.row, D.index)] = tied
        return k if tied else (k, column)

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
        from .network import require_concrete

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

    def _lifted_gradient(self, b: Block, column: int | None = None, column_value: object = None) -> sp.Expr:
        """The closed form at the init of the proof's block ``b``, in the full network's data: for a
        ``W1`` entry of full ``column``, that column's datum is ``x_column`` (or ``column_value``)
        and every class enters through its sum (the columns of a class are identical at the init)."""
        g = self._gradients()[b]
        if self.inputs is None:
            return g
        if self._lifted_cache is None:
            self._lifted_cache = {}
        if b.layer != 1 or b.kind != "W":
            column = None
        key = (b, column, column_value)
        if key not in self._lifted_cache:
            mkey = ("data", column, column_value)
            if mkey not in self._lifted_cache:
                self._lifted_cache[mkey] = self.inputs.data_at_init(column, column_value)
            self._lifted_cache[key] = g.xreplace(self._lifted_cache[mkey])
        return self._lifted_cache[key]

    def _gradients(self) -> dict[Block, sp.Expr]:
        """The gradient of every block at the init: expanded when that is cheap to build, else
        abbreviated (named ``z``/``δ``, defined in :meth:`gradient_definitions`)."""
        if self._gradient_at_init is None:
            p = self.proof
            short = backprop(p.net, p.partition, p.init_values, abbreviate=True)  # linear in depth
            if expansion_refusal(short) is None:
                self._gradient_at_init = dict(backprop(p.net, p.partition, p.init_values).grad)
                self._gradient_definitions = {}
            else:
                self._gradient_at_init = dict(short.grad)
                self._gradient_definitions = dict(short.definitions)
        return self._gradient_at_init

    def gradient_definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """The named ``z``/``δ`` of abbreviated gradients at the init, in dependency order (each
        refers to data, init symbols and earlier names); empty when the gradients are expanded."""
        self._gradients()
        return dict(self._gradient_definitions or {})

    def _closed_form_printer(self) -> ClosedForms:
        """A fresh printer for one document of this analysis's closed forms."""
        self._gradients()
        widths = [str(n) for n in self.net.sizes if isinstance(n, sp.Symbol)]
        if self._gradient_definitions and self.inputs is not None:
            # the abbreviations are in the reduced network's data; lifting is only defined for
            # expanded forms, so every abbreviated form is omitted rather than printed wrongly
            return ClosedForms(self._gradient_definitions, reserved=widths, see=_SEE, inline_nodes=0, max_nodes=0)
        return ClosedForms(self._gradient_definitions, reserved=widths, see=_SEE)

    def _tie_ids(self) -> dict[int, int]:
        """Class -> tie id of the proof (see :func:`symderiv.facts.tie_ids`).

        With an input reduction the keys are :meth:`_tie_key` s (a class, or ``(class, full column)``
        for the untied columns of a reduced input class) and the ids are those of the full network,
        numbered in its parameter order; a split class's own key maps to its kept column's id."""
        m = self.inputs
        if m is None:
            return tie_ids(self.proof, self._shifted_tie_groups())
        if self._tie_id_cache is None:
            p = self.proof
            base = tie_ids(p)
            numbers: dict = {}
            ids: dict = {}

            def number(key) -> None:
                group = base[key] if isinstance(key, int) else (base[key[0]], key[1])
                ids[key] = numbers.setdefault(group, len(numbers))

            for b in p.blocks:  # parameter order; W1 row by row over the full columns
                if b.layer == 1 and b.kind == "W":
                    if b.col == 0:
                        for j in range(m.n_full):
                            number(self._tie_key(Block(1, "W", b.row, m.rep(j)), j))
                    continue
                number(p.class_of[b])
            for b in p.blocks:
                k = p.class_of[b]
                if k not in ids:  # a class split by column: its block's own (kept) column
                    ids[k] = ids[(k, m.full_of_reduced[b.col])]
            self._tie_id_cache = ids
        return self._tie_id_cache

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

    # ------------------------------------------------------------ summary
    @public_entry
    def summary(self) -> str:
        """A few plain sentences: what stays zero, what stays tied, when things move, and the scope."""
        lines = [f"{self.net.describe()}; init: {self.init_description}."]
        p = self.proof
        names = self.net.parameter_names()
        zero_params, learning = [], []
        for name in names:
            bl = self._param_blocks(name)
            if all(self.facts_of(b).stays_zero for b in bl):
                zero_params.append(name)
            else:
                learning.append(name)
        weights = [n for n in names if n.startswith("W")]
        zero_weights = [n for n in zero_params if n.startswith("W")]
        n_weights = sp.Add(*[self._entries(n) for n in weights])
        assumed = any(NO_WEIGHT_DECAY in self.facts_of(b).conditions and self.facts_of(b).stays_zero
                      for name in zero_params for b in self._param_blocks(name))
        proved = "(proved; without weight decay, see below)" if assumed else "(proved)"
        if zero_weights and zero_weights == weights:
            lines.append(f"All {n_weights} weights stay exactly 0 forever {proved}.")
        elif zero_params:
            lines.append(f"{_join(zero_params)} stay{'s' if len(zero_params) == 1 else ''} exactly 0 forever {proved}.")
        partial = []
        for name in learning:
            bl = self._param_blocks(name)
            z = sp.Add(*[self._block_size(b) for b in bl if self.facts_of(b).stays_zero])
            if z != 0:
                partial.append(f"{z} of the {self._entries(name)} entries of {name}")
        if partial:
            lines.append(f"Also exactly 0 forever: {_join(partial)}.")
        if not learning:
            lines.append("Nothing learns.")
        elif zero_params:
            lines.append(f"Only {_join(learning)} learn{'s' if len(learning) == 1 else ''}.")
        for layers, width, n_cls in _runs_of_equal_layers(self.hidden_layer_classes()):
            where = f"layer {layers}" if layers.isdigit() else f"each of layers {layers}"
            if n_cls == 1 and width != 1:
                lines.append(
                    f"The {width} units of {where} stay identical forever: the network behaves as if "
                    + ("that layer" if where.startswith("layer") else "each of those layers") + " had width 1."
                )
            elif isinstance(width, int) and n_cls < width:
                lines.append(f"The {width} units of {where} fall into {n_cls} classes of identical units, forever.")
        ties = self._tie_summary()
        if ties:
            lines.append(ties)
        from .laws import conservation_sentences

        lines.extend(conservation_sentences(self.conservation, self.signed_ties, p))
        moves = self._move_summary()
        if moves:
            lines.append(moves)
        lines.append(self.scope())
        shifted = self._shifted_summary()
        if shifted:
            lines.append(shifted)
        lines.extend(self._condition_sentences())
        floats = self._float_summary()
        if floats:
            lines.append(floats)
        if p.undecided:
            lines.append(f"Undecided (not claimed): {len(p.undecided)} identit{'y' if len(p.undecided) == 1 else 'ies'}; "
                         "see .proof.undecided.")
        return "\n".join(lines)

    def _shifted_groups_labelled(self) -> list[tuple[list[str], list[str]]]:
        p = self.proof
        out = []
        for g in self.shifted.groups:
            if not g.shifted:
                continue
            out.append(([self.block_label(p.classes[k][0]) for k in g.classes], [str(o) for o in g.offsets]))
        return out

    def _shifted_summary(self) -> str:
        groups = self._shifted_groups_labelled()
        tied = self.shifted.tie_groups()
        if not groups and not tied:
            return ""
        parts = ["; ".join(f"{lab} − {labels[0]} stays {off}" for lab, off in zip(labels[1:], offsets[1:]))
                 for labels, offsets in groups[:6]]
        if len(groups) > 6:
            parts.append(f"and {len(groups) - 6} more groups (see the JSON)")
        text = "Shifted ties (proved, without weight decay): " + "; ".join(parts) if parts else ""
        if tied:
            text += ("; " if text else "Shifted ties (proved, without weight decay): ") + (
                "through them, entries with equal init values stay tied although their units differ "
                "(e.g. softmax ignores a common shift of the logits)")
        return text + "."

    def _shifted_json(self) -> dict[str, Any]:
        p = self.proof
        groups = []
        for g in self.shifted.groups:
            groups.append({
                "blocks": [self.block_label(p.classes[k][0]) for k in g.classes],
                "offsets": [str(o) for o in g.offsets],
                "tied": [[self.block_label(p.classes[k][0]) for k in sub] for sub in g.tied_subsets],
                "proof": g.method,
            })
        return {"optimizers": "every coordinatewise optimizer without weight decay (identical gradient histories "
                              "give identical updates, so differences never change)",
                "groups": groups, "undecided": list(self.shifted.undecided), "not_searched": list(self.shifted.skipped)}

    def _condition_sentences(self) -> list[str]:
        out = []
        for c in self.conditions:
            marker = {GENERIC_INIT: "Generic values", GENERIC_WIDTHS: "Generic widths",
                      NO_WEIGHT_DECAY: "No weight decay"}.get(c.id, c.id)
            out.append(f"{marker} (condition '{c.id}'): {c.sentence()}")
        note = getattr(self, "input_reduction_note", None)
        text = note() if callable(note) else None
        if text:
            out.append(text)
        return out

    def _float_summary(self) -> str:
        """One sentence on IEEE arithmetic: which proved statements are exact-arithmetic only."""
        exact_only = sorted({b.param for b in self.proof.blocks
                             if "exact_arithmetic_only" in (self.facts_of(b).float_status, self.facts_of(b).first_move_float)},
                            key=self.net.parameter_names().index)
        kink = any(fact.kink and fact.status != "bit_exact" for fact in self.floats.layers.values()) or any(
            f.kink and f.status != "bit_exact" for f in self.floats.blocks.values())
        parts = []
        if exact_only:
            parts.append(f"the zeros, ties or 'unchanged before step t' of {_join(exact_only)} rest on an exact "
                         "cancellation (such as the output deltas summing to 0): in floats they are rounding residues, "
                         "which Adam and RMSProp can amplify into visible moves")
        if kink:
            parts.append("tied units at a kink can separate in floats when identical rows round differently")
        if not parts:
            return ""
        return "In IEEE arithmetic (every statement above is exact arithmetic): " + "; ".join(parts) + "."

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
        parts = []
        for name in self.net.parameter_names():
            steps: dict = {}
            generic: set[str] = set()
            for b in self._param_blocks(name):
                f = self.facts_of(b)
                if f.stays_zero:
                    continue
                steps.setdefault(f.first_move_step, []).append(f.first_move_tight)
                if f.first_move_tight:
                    generic |= {c for c in f.conditions if c in (GENERIC_INIT, GENERIC_WIDTHS)}
            if not steps:
                continue
            finite = sorted(s for s in steps if s is not None)
            text = name
            if finite:
                lo = finite[0]
                tight = all(steps[lo])
                qualifier = ""
                if tight and generic:
                    qualifier = " (for generic " + " and ".join(
                        "init values" if c == GENERIC_INIT else "widths" for c in sorted(generic)) + ")"
                text += (f" first moves at step {lo}{qualifier}" if tight
                         else f" is unchanged before step {lo} (proved; a move at step {lo} is not certified)")
                if len(finite) > 1:
                    text += f" (some entries only from step {finite[-1]})"
            if None in steps:
                text += ("; " if finite else " ") + "never changes (proved)" if not finite else "; some entries never change (proved)"
            parts.append((name, text[len(name):]))
        if not parts:
            return ""
        # consecutive parameters with the same statement in one clause: "W1 and b1 first move at step 16"
        grouped: list[tuple[list[str], str]] = []
        for name, rest in parts:
            if grouped and grouped[-1][1] == rest:
                grouped[-1][0].append(name)
            else:
                grouped.append(([name], rest))
        plural = {" first moves": " first move", " is unchanged": " are unchanged", " never changes": " never change"}
        clauses = []
        for names, rest in grouped:
            if len(names) > 1:
                for one, many in plural.items():
                    if rest.startswith(one):
                        rest = many + rest[len(one):]
                        break
            clauses.append(_join(names) + rest)
        return "First moves: " + "; ".join(clauses) + "."

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

    @public_entry
    def to_latex(self, *, title: str | None = None) -> str:
        """The proof as a standalone LaTeX document (see :mod:`symderiv.latex`)."""
        from .latex import proof_document

        return proof_document(self, title=title)

    def __repr__(self) -> str:
        return f"Analysis({self.net.describe()}, init={self.init_description})"

    # ------------------------------------------------------------ JSON
    def assumptions(self) -> dict[str, Any]:
        return {
            "optimizer_class": self.optimizers.to_dict(),
            "kink_convention": {a.name: str(a.kink_grad) for a in self.net.activations if a.is_kinked},
            "labels": self.net.loss.label_domain,
            "first_move_assumes": "no weight decay",
            "data": "every statement holds for every example (data are symbols)",
        }

    @public_entry
    @_shared_closed_forms
    def to_dict(self) -> dict[str, Any]:
        """The result as a plain JSON-ready dict (deterministic; :meth:`to_json` is its text)."""
        p = self.proof
        ids = self._tie_ids()
        grads = self._gradients()
        params: dict[str, Any] = {}
        trajectories = self._published_trajectories()
        for name in self.net.parameter_names():
            shape = self.net.shape(name)
            concrete = all(isinstance(n, int) for n in shape)
            if concrete and int(np.prod(shape)) <= MAX_JSON_ENTRIES:
                params[name] = self._entry_json(name, shape, ids, grads)
            else:
                params[name] = self._block_json(name, shape, ids, grads)
        return {
            "network": self.net.to_dict(),
            "init": {name: p.inits[name].spec for name in self.net.parameter_names()},
            "assumptions": self.assumptions(),
            "parameters": params,
            "summary": self.summary(),
            "undecided": list(p.undecided),
            "relaxation_iterations": p.iterations,
            "witness_trajectory": (trajectories or [None])[0],
            "witness_trajectories": trajectories,
            **({} if self.inputs is None else {"inputs": self.inputs.to_dict()}),
            "conditions": [c.to_dict() for c in self.conditions],
            "shifted_ties": self._shifted_json(),
            "floats": self._floats_json(),
            "conserved": [law.to_dict() for law in self.conserved],
            "conservation": self.conservation.to_dict(),
            "signed_ties": [g.to_dict(p) for g in self.signed_ties.groups],
        }

    def _floats_json(self) -> dict[str, Any]:
        f = self.floats
        return {
            "arithmetic": "every statement is proved in exact arithmetic; per entry, 'float' says how its zero or "
                          "tie holds in IEEE arithmetic and 'first_move_float' the same for 'unchanged before step t'",
            "statuses": {
                "bit_exact": "rests only on multiplications by exact zeros: holds bit for bit",
                "identical_rounding": "identical operations on identical inputs: holds when identical computations "
                                      "round identically (elementwise code does; blocked matrix products may not)",
                "exact_arithmetic_only": "rests on an exact cancellation (e.g. the output deltas summing to 0): a "
                                         "rounding residue in floats, which Adam/RMSProp can amplify",
            },
            "counts": f.statuses(),
            "hidden_layers_with_identical_units": {str(l): fact.to_dict() for l, fact in sorted(f.layers.items())},
        }

    def _facts(self, b: Block, ids, grads) -> tuple:
        """(stays_zero, tie id, first-move step, tight, printed gradient, conditions, float, first-move float)."""
        f = self.facts_of(b)
        return (f.stays_zero, ids[self.proof.class_of[b]], f.first_move_step, f.first_move_tight,
                printed(grads[b]), list(f.conditions), f.float_status, f.first_move_float)

    def _entry_json(self, name, shape, ids, grads) -> dict[str, Any]:
        part = self.proof.partition
        kind, l = self.net.parse_name(name)
        facts: dict[tuple, tuple] = {}  # once per block: entries of a block share every fact
        m = self.inputs

        def fact(b: Block, column: int | None = None) -> tuple:
            if (b, column) not in facts:
                f = self._facts(b, ids, grads)
                if m is not None:  # the full network's tie id and data (symderiv.inputs)
                    f = (f[0], ids[self._tie_key(b, column)], f[2], f[3],
                         printed(self._lifted_gradient(b, column))) + tuple(f[5:])
                facts[(b, column)] = f + self.signed_ties.sign_of(self.proof.class_of[b])
            return facts[(b, column)]

        rows = [part.of(l, i).index for i in range(shape[0])]
        grid: list  # the facts per entry: a list (b), a list of rows (W)
        if len(shape) == 1:
            grid = [fact(Block(l, "b", r)) for r in rows]
            cols = lambda f: [g[f] for g in grid]  # noqa: E731
        elif m is not None and l == 1:  # a full column has the facts of its representative
            grid = [[fact(Block(1, "W", r, m.rep(j)), j) for j in range(shape[1])] for r in rows]
            cols = lambda f: [[g[f] for g in row] for row in grid]  # noqa: E731
        else:
            cls = [part.of(l - 1, j).index for j in range(shape[1])]
            grid = [[fact(Block(l, "W", r, c)) for c in cls] for r in rows]
            cols = lambda f: [[g[f] for g in row] for row in grid]  # noqa: E731
        return {
            "shape": list(shape),
            "stays_zero": cols(0),
            "tie_class": cols(1),
            "tie_sign": cols(9),
            "signed_tie": cols(8),
            "first_move_step": cols(2),
            "first_move_tight": cols(3),
            "gradient_at_init": cols(4),
            "conditions": cols(5),
            "float": cols(6),
            "first_move_float": cols(7),
        }

    def _block_json(self, name, shape, ids, grads) -> dict[str, Any]:
        part = self.proof.partition
        out = []
        if self.inputs is not None and name == "W1":
            return self._input_class_blocks(shape, ids, grads)
        for b in self._param_blocks(name):
            zero, tid, step, tight, g, conds, fl, fmf = self._facts(b, ids, grads)
            if self.inputs is not None:  # in the full network's data
                g = printed(self._lifted_gradient(b))
            entry = {"rows": part.classes[b.layer][b.row].label()}
            if b.kind == "W":
                entry["columns"] = part.classes[b.layer - 1][b.col].label()
            group, sign = self.signed_ties.sign_of(self.proof.class_of[b])
            entry.update({"entries": str(self._block_size(b)), "stays_zero": zero, "tie_class": tid,
                          "tie_sign": sign, "signed_tie": group,
                          "first_move_step": step, "first_move_tight": tight, "gradient_at_init": g,
                          "conditions": conds, "float": fl, "first_move_float": fmf})
            out.append(entry)
        return {"shape": [n if isinstance(n, int) else str(n) for n in shape], "layout": "blocks", "blocks": out}

    def _input_class_blocks(self, shape, ids, grads) -> dict[str, Any]:
        """``W1`` per block with an input reduction: one entry per (row class, input class) when its
        columns share every fact (else one per representative), ``"columns"`` the full columns
        (``"1..784"``).  Untied columns (``"columns_tied": false``) list one tie id per column, and
        the gradient is written for column ``j`` (``x_j``), the class entering through its sum."""
        p, m, part = self.proof, self.inputs, self.proof.partition
        if m is None:
            raise InternalError("input-class blocks of W1 without an input reduction")
        x_j = sp.Symbol("x_j", real=True)
        out = []
        for C in part.classes[1]:
            for D in m.classes:
                groups = []  # (kept column, the full columns it represents, facts)
                for position, r in enumerate(D.kept):
                    b = Block(1, "W", C.index, r)
                    f = self._facts(b, ids, grads)
                    members = D.represented(position)
                    tied = not isinstance(self._tie_key(b, members[0]), tuple)
                    groups.append((b, members, (f[0], f[2], f[3], tuple(f[5]), f[6], f[7], tied)))
                if D.reduced and all(g[2] == groups[0][2] for g in groups):
                    groups = [(groups[0][0], D.members, groups[0][2])]
                for b, members, (zero, step, tight, conds, fl, fmf, tied) in groups:
                    single = len(members) == 1
                    tid = (ids[self._tie_key(b, members[0])] if tied else
                           [ids[self._tie_key(Block(1, "W", C.index, m.rep(j)), j)] for j in members])
                    g = self._lifted_gradient(b, members[0], None if single else x_j)
                    entry = {"rows": C.label(), "columns": columns_label(members),
                             "entries": str(C.size * len(members)), "stays_zero": zero, "tie_class": tid}
                    if not single:
                        entry["columns_tied"] = tied
                    group, sign = self.signed_ties.sign_of(p.class_of[b])
                    entry.update({"tie_sign": sign, "signed_tie": group, "first_move_step": step, "first_move_tight": tight, "gradient_at_init": printed(g),
                                  "conditions": list(conds), "float": fl, "first_move_float": fmf})
                    out.append(entry)
        return {"shape": list(shape), "layout": "blocks", "blocks": out}

    def _trajectory_json(self, t) -> dict[str, Any]:
        """A witness trajectory's JSON, its moves named by the published tie ids (never-moving classes
        merged), not the proof's class numbers."""
        data = t.to_dict()
        ids = self._tie_ids()
        for move in data["moves"]:
            move["class"] = ids[move["class"]]
        return data

    def _full_trajectory_json(self, w: "FullWitness") -> dict[str, Any]:
        """A witness run on the full network (input reduction, :mod:`symderiv.witness_full`): its full data,
        one move per published tie class; for a parameter written per block, the moves of consecutive tie
        classes with the same step and certified change are one entry listing their ids (as the block's
        ``"tie_class"`` does)."""
        per_block = {name for name in self.net.parameter_names()
                     if int(np.prod([int(n) for n in self.net.shape(name)])) > MAX_JSON_ENTRIES}
        moves: list[dict[str, Any]] = []
        for move in w.moves:
            entry = move.to_dict()
            last = moves[-1] if moves else None
            if (move.param in per_block and last is not None and last["parameter"] == move.param
                    and (last["step"], last["change"], last["visible_in_float64"]) == (move.step, move.change, move.visible)):
                last["class"] = (last["class"] if isinstance(last["class"], list) else [last["class"]]) + [move.tie_class]
                continue
            moves.append(entry)
        return {"data_and_init": dict(w.point), "learning_rate": w.learning_rate, "steps": w.steps,
                "data_scale": w.data_scale, "moves": moves, "network": "full", "inputs": SPREAD_NOTE}

    def _published_trajectories(self) -> list[dict[str, Any]]:
        """The witness trajectories as published: the proof's, or with an input reduction the full runs."""
        if self.inputs is None:
            return [self._trajectory_json(t) for t in self.proof.trajectories]
        return [self._full_trajectory_json(w) for w in (self.full_witnesses or [])]

    def block_label(self, b: Block) -> str:
        if self.inputs is not None and (b.layer, b.kind) == (1, "W"):  # the full columns it stands for
            return f"W1[{self.proof.partition.classes[1][b.row].label()}, {columns_label(self.inputs.represented(b.col))}]"
        return block_label(self.net, self.proof.partition, b)

    def verify(self, **options: Any):
        """Cross-check this analysis numerically; see :func:`symderiv.verify.verify`."""
        from .verify import verify

        return verify(self, **options)

    def _repr_html_(self) -> str:
        """Jupyter: the summary as an itemized list and key closed forms (:mod:`symderiv.notebook`)."""
        from .notebook import analysis_html

        return analysis_html(self)


def _join(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs_of_equal_layers(layers: list) -> list[tuple[str, Any, Any]]:
    """``(l, width, classes)`` per hidden layer -> one ``("3–15", width, classes)`` per run of consecutive
    layers with the same width and number of classes ("1" for a run of one, "1 and 2" for two), so a deep
    network's identical layers read as one sentence."""
    runs: list[list] = []
    for l, width, n_cls in layers:
        if runs and runs[-1][2] == width and runs[-1][3] == n_cls and runs[-1][1] == l - 1:
            runs[-1][1] = l
        else:
            runs.append([l, l, width, n_cls])
    label = lambda lo, hi: str(lo) if lo == hi else f"{lo} and {hi}" if hi == lo + 1 else f"{lo}–{hi}"  # noqa: E731
    return [(label(lo, hi), width, n_cls) for lo, hi, width, n_cls in runs]


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
    from .errors import SizeLimitError

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
    from .init import resolve_init

    if not isinstance(net, Network) and hasattr(net, "named_parameters") and hasattr(net, "forward"):
        from .errors import InvalidArgument
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
        from .errors import InvalidArgument

        raise InvalidArgument(f"analyze needs a network from symderiv.mlp(...) or a torch nn.Module, "
                              f"got {type(net).__name__}")
    if loss is not None or input_shape is not None or batch_size is not None:
        from .errors import InvalidArgument

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


def _certified_on_full_network(analysis: Analysis) -> Analysis:
    """An input-reduced analysis whose witnesses were run again and certified on the full network
    (:mod:`symderiv.witness_full`): a first move the reduced proof certified but no full run does is no
    longer called tight (its step stays a proved lower bound), nor visible in float64 unless a full run
    shows it so."""
    witnesses, lost = certify_full_network(analysis)
    if lost:  # keep only the moves of classes still called tight
        witnesses = [dataclasses.replace(w, moves=tuple(m for m in w.moves if m.proof_class not in lost))
                     for w in witnesses]
        witnesses = [w for w in witnesses if w.moves]
    p = analysis.proof
    visible = {m.proof_class for w in witnesses for m in w.moves if m.visible}
    if lost or any(t.visible - visible for t in p.trajectories):
        moves = {k: (FirstMove(fm.step, False, fm.undecided) if k in lost else fm) for k, fm in p.first_moves.items()}
        runs = [dataclasses.replace(t, visible=t.visible & frozenset(visible)) for t in p.trajectories]
        analysis = Analysis(dataclasses.replace(p, first_moves=moves, trajectories=runs), analysis.optimizers,
                            analysis.init_description, inputs=analysis.inputs)
    analysis.full_witnesses = witnesses
    return analysis
