"""The analysis of a graph (a traced PyTorch module): summary, JSON, LaTeX and verify faces.

:func:`analyze_module` traces the module (:mod:`symderiv.graph.export`), turns its init
into values (:mod:`symderiv.graph.values`), runs :func:`symderiv.graph.prover.prove_graph`
and wraps the proof in a :class:`GraphAnalysis`.  Per entry of every trainable parameter
(keyed by its ``named_parameters()`` name): ``stays_zero`` (proved invariant, every
optimizer of the class), ``tie_class`` (equal ids are proved equal at every step),
``first_move_step`` (proved: unchanged before it; None = proved never, without weight
decay) and ``first_move_tight`` (a certified exact trajectory moves it at that step); never-moving
zeros and equal never-moving classes merged, conditions and float statuses as for MLPs
(:mod:`symderiv.graph.facts`).  Faces: :meth:`GraphAnalysis.summary`, ``to_dict``/``to_json``,
``to_latex`` (:mod:`symderiv.graph.latex`) and ``verify(module)`` (:mod:`symderiv.graph.replay`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import sympy as sp

from ..analysis import printed
from ..errors import InvalidArgument
from ..genericity import GENERIC_INIT, NO_WEIGHT_DECAY
from ..guard import public_entry
from ..jsontext import JsonFace, dumps
from ..optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .engine import backprop
from .facts import ClassFacts, graph_facts
from .losses import graph_loss
from .prover import GraphProof, coord_label, prove_graph
from .tensor_facts import COMPACT_JSON_ENTRIES, EntryGroup, entry_groups, groups_of_entries, tie_summary
from .tokens import token_inputs
from .values import VALUE_MODES, init_values

__all__ = ["GraphAnalysis", "analyze_module", "analyze_graph"]


@dataclass
class GraphAnalysis(JsonFace):
    """The result of :func:`analyze_module`."""

    proof: GraphProof
    optimizers: OptimizerClass
    values_mode: str
    module_name: str = "module"
    #: the ``pkg.mod:factory`` spec the module came from (the CLI), or None
    module_spec: str | None = None
    #: the optimizer's pattern lattice when the proof was restricted to one (:mod:`symderiv.optimizer_classes`)
    lattice: Any = None

    # ------------------------------------------------------------ per-class facts (one source for every face)
    @functools.cached_property
    def facts(self) -> dict[int, ClassFacts]:
        """Class -> :class:`~symderiv.graph.facts.ClassFacts` (zeros, ties, moves, conditions, floats)."""
        facts = graph_facts(self.proof, generic_init=self.values_mode == "generic")
        if self.lattice is not None:  # how the assigned optimizers' float implementations keep them
            from ..optimizer_classes import optimizer_floats

            facts = optimizer_floats(self, facts)
        return facts

    def _class(self, name: str, index: Any) -> int:
        return self.proof.class_of[self._coord(name, index)]

    # ------------------------------------------------------------ per-entry queries
    def _coord(self, name: str, index: Any) -> tuple[str, int]:
        p = self.proof.graph.params.get(name)
        if p is None or not p.trainable:
            raise KeyError(f"{name!r} is not a trainable parameter; trainable: {', '.join(self.proof.graph.trainable())}")
        index = tuple(index) if isinstance(index, (tuple, list)) else (index,)
        return name, int(np.ravel_multi_index(index, p.shape)) if p.shape else 0

    def stays_zero(self, name: str, index: Any = ()) -> bool:
        """Proved: the entry is exactly 0 at every step (a never-moving zero: without weight decay)."""
        return self.facts[self._class(name, index)].stays_zero

    def tie_class(self, name: str, index: Any = ()) -> int:
        """Entries with equal ids are proved equal at every step."""
        return self.facts[self._class(name, index)].tie_id

    def first_move_step(self, name: str, index: Any = ()) -> int | None:
        """Proved: unchanged before this step (None: never, without weight decay)."""
        return self.facts[self._class(name, index)].first_move_step

    def first_move_tight(self, name: str, index: Any = ()) -> bool:
        """A certified exact trajectory moves the entry at its first-move step."""
        return self.facts[self._class(name, index)].first_move_tight

    def first_move_float(self, name: str, index: Any = ()) -> str | None:
        """How "unchanged before the first-move step" holds in floats (``bit_exact``, ``identical_rounding``
        or ``exact_arithmetic_only``, as :mod:`symderiv.floats`); None when nothing is claimed before a move."""
        return self.facts[self._class(name, index)].first_move_float

    def float_status(self, name: str, index: Any = ()) -> str | None:
        """How the entry's proved zero or tie holds in floats; None for an untied nonzero entry."""
        return self.facts[self._class(name, index)].float_status

    def conditions_of(self, name: str, index: Any = ()) -> tuple[str, ...]:
        """The conditions (:mod:`symderiv.genericity` ids) the entry's statements need."""
        return self.facts[self._class(name, index)].conditions

    def entry_facts(self, name: str) -> dict[str, np.ndarray]:
        """Per-entry object arrays of the parameter's shape: ``stays_zero``, ``tie_class``, ``first_move_step``,
        ``first_move_tight``, ``conditions``, ``float``, ``first_move_float``."""
        shape = self.proof.graph.params[name].shape
        fields = {"stays_zero": "stays_zero", "tie_class": "tie_id", "first_move_step": "first_move_step",
                  "first_move_tight": "first_move_tight", "conditions": "conditions", "float": "float_status",
                  "first_move_float": "first_move_float"}
        out = {k: np.empty(shape, dtype=object) for k in fields}
        for idx in np.ndindex(*shape):
            f = self.facts[self._class(name, idx)]
            for key, attr in fields.items():
                value = getattr(f, attr)
                out[key][idx] = list(value) if key == "conditions" else value
        return out

    @functools.cached_property
    def _init_pass(self) -> dict[str, np.ndarray]:
        values = dict(self.proof.frozen_values)
        g = self.proof.graph
        for name in g.trainable():
            a = np.empty(g.params[name].size, dtype=object)
            for i in range(a.size):
                a[i] = self.proof.init_values[(name, i)]
            values[name] = a.reshape(g.params[name].shape)
        return backprop(g, values).grads

    def gradient_at_init(self, name: str, index: Any = ()) -> sp.Expr | None:
        """The closed-form per-example gradient of the entry at the init (data symbolic; with generic
        values, the init symbols ``c_…``/``e_…`` stand for the module's values); None where a
        tensor-level proof computed no closed form (JSON ``null``)."""
        coord = self._coord(name, index)
        return self._init_pass[name].reshape(-1)[coord[1]]

    def init_value(self, name: str, index: Any = ()) -> sp.Expr:
        """The init value the proof used for an entry of any parameter (trainable or frozen): 0, an
        exact number, or an init symbol (generic values)."""
        p = self.proof.graph.params[name]
        index = tuple(index) if isinstance(index, (tuple, list)) else (index,)
        if p.trainable:
            return self.proof.init_values[self._coord(name, index)]
        lump = getattr(self.proof, "lumping", None)
        if lump is not None:  # a lumped proof keeps the quotient's frozen values: the entry's block
            index = tuple(int(lab[i]) for lab, i in zip(lump.param_labels(name), index))
        return self.proof.frozen_values[name][index]

    def init_symbol_values(self) -> dict[sp.Symbol, sp.Rational]:
        """Each init symbol (generic values) -> the module's float as an exact rational."""
        wanted = set(self.proof.init_symbols)
        out: dict[sp.Symbol, sp.Rational] = {}
        for name, p in self.proof.graph.params.items():
            if p.init is None:
                continue
            for flat, idx in enumerate(np.ndindex(*p.shape)):
                v = self.proof.frozen_values[name][idx] if not p.trainable else self.proof.init_values[(name, flat)]
                if v in wanted and v not in out:
                    out[v] = sp.Rational(float(p.init[idx]))
        return out

    # ------------------------------------------------------------ faces
    def scope(self) -> str:
        g = self.proof.graph
        kinks = sorted({n.attrs["activation"].describe() for n in g.nodes
                        if n.op == "activation" and n.attrs["activation"].is_kinked})
        batch = getattr(g, "batch_size", None)
        data = ("every dataset, batch size, sample order" if not batch else
                f"every dataset at batch size {batch} (the module couples the examples of a batch, e.g. BatchNorm "
                "in training mode: the graph's example is a whole batch), every sample order")
        text = f"Holds for {data} and learning-rate schedule, for {self.optimizers.scope_phrase()}."
        if kinks:
            text += f" Kink convention: {_join(kinks)}."
        text += f" Labels: {graph_loss(g.ends()[2]).label_domain}."
        vocab = token_inputs(g)
        if vocab:  # token ids as one-hot rows (symderiv.graph.tokens)
            text += (f" Token ids (input{'s' if len(vocab) > 1 else ''} "
                     f"{_join([f'{k + 1} over {v} ids' for k, v in sorted(vocab.items())])}) enter as one-hot rows: "
                     "zeros, ties and 'unchanged before step t' hold for every token sequence of that shape; "
                     "certified moves were witnessed at real token ids.")
        if g.frozen():
            text += f" Frozen (constants, never updated): {_join(g.frozen())}."
        if self.values_mode == "generic":
            text += (" Init values were made generic: the theorem covers every model with the same pattern of zeros "
                     "and equal values (moves are certified at random values of that pattern).")
        else:
            text += " Init values are the exact rationals of the module's floats."
        text += " First-move steps assume no weight decay."
        return text

    def _raw_groups(self, name: str) -> list[EntryGroup]:
        """The entries of ``name`` grouped by proved class (:mod:`symderiv.graph.tensor_facts`; the entry path:
        one pass over the entries, whose number the entry prover keeps small)."""
        return groups_of_entries((i, self.facts[self.proof.class_of[(name, i)]])
                                 for i in range(self.proof.graph.params[name].size))

    def entry_groups(self) -> dict[str, list[EntryGroup]]:
        """Per trainable parameter, its entries grouped by what is proved about them
        (:func:`symderiv.graph.tensor_facts.entry_groups`): what the summary, headline and large JSON read."""
        return entry_groups(self)

    def headline(self) -> str:
        """The result in one line: which parameters move first, at which step, and what never moves,
        e.g. ``lora_B.weight moves at step 1, then lora_A.weight at step 2; base.weight frozen``."""
        g = self.proof.graph
        by_step: dict[int, list[str]] = {}
        zero, never, mixed = [], [], []
        for name, groups in self.entry_groups().items():
            steps = {grp.facts.first_move_step for grp in groups}
            if all(grp.facts.stays_zero for grp in groups):
                zero.append(name)
            elif steps == {None}:
                never.append(name)
            elif len(steps) == 1:
                by_step.setdefault(cast(int, next(iter(steps))), []).append(name)
            else:
                mixed.append(name)
        parts = []
        for k, (step, names) in enumerate(sorted(by_step.items())):
            verb = ("moves" if len(names) == 1 else "move") if k == 0 else ""
            parts.append(f"{_join(names)} {verb + ' ' if verb else ''}at step {step}")
        text = ", then ".join(parts)
        if mixed:
            text += ("; " if text else "") + f"{_join(mixed)}: entries move at different steps"
        if zero:
            text += ("; " if text else "") + f"{_join(zero)} stay{'s' if len(zero) == 1 else ''} 0 forever"
        if never:
            text += ("; " if text else "") + f"{_join(never)} never move{'s' if len(never) == 1 else ''}"
        if g.frozen():
            text += ("; " if text else "") + f"{_join(g.frozen())} frozen"
        return text or "nothing is trainable"

    def summary(self) -> str:
        """The result in a few lines; counts and lists per tensor and per class, never per entry (its length
        grows with the number of parameters, not of entries)."""
        p = self.proof
        g = p.graph
        groups = self.entry_groups()
        lines = [f"{self.module_name}: {g.describe()}; values: {self.values_mode}.", self.headline() + "."]
        zero_params, partial = [], []
        for name, gs in groups.items():
            z = sum(grp.count for grp in gs if grp.facts.stays_zero)
            if z == g.params[name].size:
                zero_params.append(name)
            elif z:
                partial.append(f"{z} of the {g.params[name].size} entries of {name}")
        if zero_params:
            lines.append(f"{_join(zero_params)} stay{'s' if len(zero_params) == 1 else ''} exactly 0 forever (proved).")
        if partial:
            lines.append(f"Also exactly 0 forever: {_join(partial)}.")
        n_ties, largest, example = tie_summary(self)
        if n_ties:
            lines.append(f"{n_ties} tie class{'es' if n_ties != 1 else ''} of several entries stay equal forever "
                         f"(proved; largest: {largest} entries, e.g. "
                         f"{_join([coord_label(g, c) for c in example])}).")
        moves = []
        for name, gs in groups.items():
            steps = {grp.facts.first_move_step for grp in gs}
            steps_text = "/".join("never" if s is None else str(s) for s in sorted(steps, key=lambda s: (s is None, s or 0)))
            if steps != {None} or not self.stays_zero(name, (0,) * len(g.params[name].shape)):
                moves.append(f"{name} at step {steps_text}")
        if moves:
            lines.append("First moves: " + "; ".join(moves) + ".")
        if any(NO_WEIGHT_DECAY in grp.facts.conditions for gs in groups.values() for grp in gs):
            lines.append("Some zeros or ties hold because those entries never move: without weight decay.")
        fragile = [n for n, gs in groups.items() if any(grp.facts.first_move_float == "exact_arithmetic_only" for grp in gs)]
        if fragile:
            lines.append(f"Floating point: 'unchanged before the first move' of {_join(fragile)} rests on the loss's "
                         "exact cancellation (Σ_k δ_k = 0): in floats a rounding residue, which Adam/RMSProp amplify.")
        fragile_pattern = [n for n, gs in groups.items() if any(grp.facts.float_status == "exact_arithmetic_only" for grp in gs)]
        if fragile_pattern:
            lines.append(f"Floating point: some zeros or ties of {_join(fragile_pattern)} rest on an exact cancellation "
                         "(exact arithmetic only).")
        if self.lattice is not None:
            from ..optimizer_classes import lattice_notes

            lines.extend(lattice_notes(self))
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
            "optimizer_class": self.optimizers.to_dict(),
            "labels": graph_loss(self.proof.graph.ends()[2]).label_domain,
            "first_move_assumes": "no weight decay",
            "data": "every statement holds for every example (data are symbols)",
            "values": self.values_mode,
            "scope": self.scope(),
        }

    def conditions(self) -> list[dict[str, Any]]:
        """The conditions named by the per-entry ``conditions`` (ids of :mod:`symderiv.genericity`)."""
        used = {c for gs in self.entry_groups().values() for grp in gs for c in grp.facts.conditions}
        out = []
        if GENERIC_INIT in used:
            out.append({"id": GENERIC_INIT, "text": "a certified first move holds for generic values of the init "
                        "symbols (it was certified at the exact point of a witness trajectory); zeros, ties and "
                        "'unchanged before step t' hold at every value", "symbols": [str(s) for s in self.proof.init_symbols]})
        if NO_WEIGHT_DECAY in used:
            out.append({"id": NO_WEIGHT_DECAY, "text": "these entries never move, so they keep their init value (0, "
                        "or a value shared with other never-moving entries) forever without weight decay",
                        "symbols": []})
        return out

    def _block_labels(self, name: str) -> list[np.ndarray] | None:
        """Per axis of ``name``, each index's block (a lumped proof), else None."""
        return None

    def _entry_record(self, name: str) -> dict[str, Any]:
        facts = self.entry_facts(name)
        shape = self.proof.graph.params[name].shape
        grads = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            at_init = self.gradient_at_init(name, idx)
            grads[idx] = None if at_init is None else printed(at_init)
        entry: dict[str, Any] = {"shape": list(shape), "optimizer_class": self.optimizers.class_of(name).name}
        for key in ("stays_zero", "tie_class", "first_move_step", "first_move_tight"):
            entry[key] = facts[key].tolist()
        entry["gradient_at_init"] = grads.tolist()
        for key in ("conditions", "float", "first_move_float"):
            entry[key] = facts[key].tolist()
        return entry

    def _gradient_text(self, name: str, index: tuple[int, ...]) -> str | None:
        at_init = self.gradient_at_init(name, index)
        return None if at_init is None else printed(at_init)

    def _group_record(self, name: str, grp: EntryGroup) -> dict[str, Any]:
        shape = self.proof.graph.params[name].shape
        f = grp.facts
        out: dict[str, Any] = {"entries": grp.count}
        if grp.blocks is not None:
            labels = self._block_labels(name) or []
            out["blocks"] = [list(b) for b in grp.blocks]
            firsts = [tuple(int(np.argmax(lab == k)) for lab, k in zip(labels, b)) for b in grp.blocks]
            gradient: Any = [self._gradient_text(name, i) for i in firsts]
        elif grp.flat is not None:
            out["flat"] = list(grp.flat)
            gradient = [self._gradient_text(name, tuple(int(i) for i in np.unravel_index(k, shape))) for k in grp.flat]
        else:  # the whole tensor: one value (a tensor-level proof's gradients are per tensor)
            gradient = self._gradient_text(name, (0,) * len(shape))
        out.update({"stays_zero": f.stays_zero, "tie_class": f.tie_id, "first_move_step": f.first_move_step,
                    "first_move_tight": f.first_move_tight, "gradient_at_init": gradient,
                    "conditions": list(f.conditions), "float": f.float_status, "first_move_float": f.first_move_float})
        return out

    def _group_records(self, name: str) -> dict[str, Any]:
        g = self.proof.graph
        record: dict[str, Any] = {"shape": list(g.params[name].shape), "size": g.params[name].size,
                                  "optimizer_class": self.optimizers.class_of(name).name}
        labels = self._block_labels(name)
        if labels is not None:
            record["block_labels"] = [lab.tolist() for lab in labels]
        record["groups"] = [self._group_record(name, grp) for grp in self.entry_groups()[name]]
        return record

    @property
    def per_entry_json(self) -> bool:
        """Whether :meth:`to_dict` lists every entry (at most ``COMPACT_JSON_ENTRIES`` trainable entries) or
        one record per group of entries with the same facts (larger analyses: bounded output)."""
        g = self.proof.graph
        return sum(g.params[n].size for n in g.trainable()) <= COMPACT_JSON_ENTRIES

    @public_entry
    def to_dict(self) -> dict[str, Any]:
        """Deterministic JSON-serializable dict: per trainable parameter (``named_parameters()`` names) its
        ``shape`` and per-entry nested lists of ``stays_zero``, ``tie_class`` (global ids), ``first_move_step``,
        ``first_move_tight``, ``gradient_at_init``, ``conditions``, ``float``, ``first_move_float``;
        frozen parameters listed apart.

        Above ``COMPACT_JSON_ENTRIES`` trainable entries (:attr:`per_entry_json` false; top-level ``"layout":
        "groups"``) a parameter is ``shape``, ``size``, ``optimizer_class`` and ``groups``: one record per
        set of entries with the same facts (:mod:`symderiv.graph.tensor_facts`) with ``entries`` (how many),
        the same fact fields as single values, ``tie_class`` null when no tie is claimed among them (each
        entry its own class), and which entries: the whole tensor (no key), ``blocks`` (indices into the
        lumped quotient; the parameter's ``block_labels`` give each index's block per axis, and
        ``gradient_at_init`` is then a list, one per block) or ``flat`` (flat indices, one gradient each)."""
        g = self.proof.graph
        per_entry = self.per_entry_json
        params: dict[str, Any] = {name: self._entry_record(name) if per_entry else self._group_records(name)
                                  for name in g.trainable()}
        p = self.proof
        return {
            "module": self.module_name,
            **({"module_spec": self.module_spec} if self.module_spec else {}),
            **({} if per_entry else {"layout": "groups"}),
            "graph": g.describe(),
            "headline": self.headline(),
            "assumptions": self.assumptions(),
            "parameters": params,
            "frozen": {name: {"shape": list(g.params[name].shape)} for name in g.frozen()},
            "summary": self.summary(),
            "conditions": self.conditions(),
            "floats": {
                "arithmetic": "every statement is proved in exact arithmetic; per entry, 'float' says how its zero or "
                              "tie holds in IEEE arithmetic and 'first_move_float' the same for 'unchanged before "
                              "step t'",
                "statuses": {
                    "bit_exact": "rests only on multiplications by exact zeros: holds bit for bit",
                    "identical_rounding": "identical operations on identical inputs: holds when identical "
                                          "computations round identically (elementwise code does; blocked matrix "
                                          "products may not)",
                    "exact_arithmetic_only": "rests on an exact cancellation (e.g. the output deltas summing to 0): "
                                             "a rounding residue in floats, which Adam/RMSProp can amplify",
                },
            },
            "undecided": list(p.undecided),
            "relaxation_iterations": p.iterations,
            "witness_trajectories": [t.to_dict() for t in p.trajectories],
            **({} if self.lattice is None else {"optimizer_lattice": _lattice_json(self)}),
        }

    @public_entry
    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, byte-identical for the same input."""
        return dumps(self.to_dict())

    @public_entry
    def to_latex(self, *, title: str | None = None) -> str:
        """The proof as a standalone LaTeX document (:func:`symderiv.graph.latex.graph_proof_document`)."""
        from .latex import graph_proof_document

        return graph_proof_document(self, title=title)

    def widest_classes(self, **options: Any):
        """Per claim, the widest optimizer class it is proved for: the graph proved again on every class's
        lattice (:func:`symderiv.optimizer_classes.widest_classes`; entry by entry)."""
        from ..optimizer_classes import widest_classes

        return widest_classes(self.proof.graph, self.values_mode, **options)

    def verify(self, module: Any, **options: Any):
        """Replay real ``torch.optim`` trajectories of ``module`` against every claim
        (:func:`symderiv.graph.replay.verify_graph`); returns a :class:`symderiv.verify.VerifyReport`."""
        from .replay import verify_graph

        return verify_graph(self, module, **options)


def _lattice_json(analysis: GraphAnalysis) -> dict[str, Any]:
    from ..optimizer_classes import lattice_json

    return lattice_json(analysis)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def analyze_graph(graph, *, values: str = "generic", optimizer_class: str = "coordinatewise", seed: int = 0,
                  seconds: float = 5.0, name: str = "graph", lumped: bool = True,
                  optimizer: Any = None) -> GraphAnalysis:
    """Analyze a :class:`~symderiv.graph.ir.Graph` whose parameters carry init values.  Classes of identical
    units are lumped first (:mod:`symderiv.graph.lumping`: the proof runs on the quotient, whose size is
    the number of classes; ``lumped=False`` forces the entry-by-entry path).  ``optimizer`` (``"muon"``,
    ``"adafactor"``, a class name, a per-parameter mapping, …: :mod:`symderiv.optimizer_classes`) proves
    the statements on that optimizer's pattern lattice instead of the coordinatewise one."""
    if optimizer is None and _optimizer_class(optimizer_class).preserves != "coordinatewise":
        optimizer = _optimizer_class(optimizer_class)  # a class outside the coordinatewise lattice
    if optimizer is not None:
        from ..optimizer_classes import optimizer_assignment, prove_for_optimizer

        assignment = optimizer_assignment(optimizer, {n: graph.params[n].shape for n in graph.trainable()})
        if not assignment.is_coordinatewise:
            if values == "generic":  # large graphs of zero and generic tensors: the tensor-level proof
                from ..optimizer_classes import structural_for_optimizer

                fast = structural_for_optimizer(graph, assignment, name=name, seed=seed)
                if fast is not None:
                    return fast
            proof, lattice = prove_for_optimizer(graph, values, assignment, seed=seed, seconds=seconds)
            return GraphAnalysis(proof, assignment, values, name, lattice=lattice)  # type: ignore[arg-type]
    if lumped:
        from .lumping import LumpedGraphAnalysis, prove_lumped

        if values not in VALUE_MODES:
            raise InvalidArgument(f"values must be one of {', '.join(VALUE_MODES)}, got {values!r}")
        lifted = prove_lumped(graph, values, seed=seed, seconds=seconds)
        if lifted is not None:
            return LumpedGraphAnalysis(lifted, _optimizer_class(optimizer_class), values, name)
        if values == "generic":  # large graphs of zero and generic tensors: tensor-level proof
            from .structural import structural_analysis

            fast = structural_analysis(graph, optimizer_class=_optimizer_class(optimizer_class), name=name, seed=seed)
            if fast is not None:
                return fast
    vals, symbols = init_values(graph, values)
    proof = prove_graph(graph, vals, symbols, seed=seed, seconds=seconds)
    return GraphAnalysis(proof, _optimizer_class(optimizer_class), values, name)


@public_entry
def analyze_module(module, *, loss: str, input_shape: Any, values: str = "generic", seed: int = 0,
                   optimizer_class: str = "coordinatewise", seconds: float = 5.0,
                   optimizer: Any = None, forward_kwargs: dict | None = None, output: Any = None,
                   batch_size: int | None = None) -> GraphAnalysis:
    """Prove which entries of a PyTorch module's parameters stay zero or tied forever, and when each first moves.

    * ``module``: an ``nn.Module``, traced with ``torch.export`` and decomposed to Core ATen
      (:mod:`symderiv.graph.export`): ``transformers`` and ``peft`` models as shipped;
    * ``loss``: ``softmax_cross_entropy`` (over the last axis), ``mse`` or ``bce``;
    * ``input_shape``: one example's shape, without the batch axis; a list of shapes (one per positional
      argument of ``forward``); or a dict keyword -> shape, with ``tokens(T)`` for integer token ids
      (``{"input_ids": tokens(4)}``: the theorem covers every token sequence of that length);
    * ``forward_kwargs``: fixed keyword arguments of ``forward`` (``{"use_cache": False}``);
    * ``output``: which output is analysed (default: the tensor; the first of a tuple; ``logits``, else
      ``last_hidden_state``, of a ``ModelOutput``);
    * ``values``: ``"generic"`` (zeros and equal values kept, every other value a symbol) or ``"exact"``;
    * ``optimizer``: restrict the statements to what that optimizer preserves (see :func:`analyze_graph`);
    * ``batch_size``: for modules that couple the examples of a batch (BatchNorm in train mode): the graph's
      example is a whole batch of that size, and the theorem covers every dataset at that batch size.
    """
    from .export import graph_from_export

    graph = graph_from_export(module, input_shape, loss, forward_kwargs=forward_kwargs, output=output,
                              batch_size=batch_size)
    return analyze_graph(graph, values=values, optimizer_class=optimizer_class, seed=seed, seconds=seconds,
                         name=type(module).__name__, optimizer=optimizer)
