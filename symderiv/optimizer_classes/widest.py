"""The widest optimizer class of every claim: the proof on each lattice of a chain."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jsontext import JsonFace
from .assignment import optimizer_assignment
from .run import prove_for_optimizer

__all__ = ["LATTICE_CHAIN", "HOLDS_FOR", "WidestClasses", "widest_classes", "widest_classes_of_network"]


# ---------------------------------------------------------------- the widest class of every claim
#: the lattices from the most restrictive (its statements hold for every class) to the least: each class's
#: patterns are patterns of the next ones (a product pattern has tied row and column statistics; those are
#: patterns inside one tensor; those are patterns), so a statement proved on one holds for all the later ones
LATTICE_CHAIN = ("rowcol", "factored", "tensorwise", "coordinatewise")
#: the classes a statement proved on a lattice of :data:`LATTICE_CHAIN` holds for (Lion's lattice is the
#: coordinatewise one)
HOLDS_FOR = {level: tuple(c for lvl in LATTICE_CHAIN[i:] for c in ((lvl, "sign") if lvl == "coordinatewise"
                                                                     else (lvl,)))
             for i, level in enumerate(LATTICE_CHAIN)}


@dataclass
class WidestClasses(JsonFace):
    """Per claim, the widest optimizer class it is proved for (:func:`widest_classes`).

    ``zeros``: parameter -> object array, per entry the most restrictive lattice of :data:`LATTICE_CHAIN` on
    which it is proved to stay 0 (None: on none); ``ties``: ``(entries, lattice)`` groups proved equal;
    ``first_moves``: parameter -> lattice -> array of proved first-move steps (lower bounds; None = never)."""

    zeros: dict[str, np.ndarray]
    ties: list[tuple[tuple[str, ...], str]]
    first_moves: dict[str, dict[str, np.ndarray]]

    def summary(self) -> str:
        lines = []
        for name, arr in self.zeros.items():
            levels = {v for v in arr.flat if v is not None}
            for level in LATTICE_CHAIN:
                if level in levels:
                    count = sum(1 for v in arr.flat if v == level)
                    lines.append(f"{name}: {count} entr{'y' if count == 1 else 'ies'} stay 0 for "
                                 f"{_classes_text(level)}.")
        for entries, level in self.ties:
            shown = ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")
            lines.append(f"Tied ({len(entries)} entries: {shown}) for {_classes_text(level)}.")
        for name, by in self.first_moves.items():
            texts = {lvl: "/".join("never" if s is None else str(s)
                                   for s in sorted(set(a.flat), key=lambda s: (s is None, s or 0)))
                     for lvl, a in by.items()}
            if len({a.tobytes() if a.dtype != object else repr(a.tolist()) for a in by.values()}) > 1:
                lines.append(f"{name}: first-move steps depend on the class ("
                             + "; ".join(f"{lvl}: {t}" for lvl, t in texts.items()) + ").")
        return "\n".join(lines) if lines else "No zero or tie is claimed for any class."

    def to_dict(self) -> dict:
        return {"chain": list(LATTICE_CHAIN), "holds_for": {k: list(v) for k, v in HOLDS_FOR.items()},
                "zeros": {n: a.tolist() for n, a in self.zeros.items()},
                "ties": [{"entries": list(e), "holds_for": list(HOLDS_FOR[level])} for e, level in self.ties],
                "first_move_step": {n: {lvl: a.tolist() for lvl, a in by.items()} for n, by in self.first_moves.items()}}


def _classes_text(level: str) -> str:
    return "every class" if level == LATTICE_CHAIN[0] else "the classes " + ", ".join(HOLDS_FOR[level])


def widest_classes(graph, values_mode: str = "generic", *, seed: int = 0, seconds: float = 5.0) -> WidestClasses:
    """Prove the graph's statements on every lattice of :data:`LATTICE_CHAIN` (entry by entry) and name, per
    claim, the most restrictive lattice it holds on: the widest set of optimizer classes it is proved for."""
    from ..graph.analysis import GraphAnalysis
    from ..graph.prover import coord_label

    shapes = {n: tuple(graph.params[n].shape) for n in graph.trainable()}
    analyses = {}
    for level in LATTICE_CHAIN:
        assignment = optimizer_assignment(level, shapes)
        proof, lattice = prove_for_optimizer(graph, values_mode, assignment, seed=seed, seconds=seconds)
        analyses[level] = GraphAnalysis(proof, assignment, values_mode, "graph", lattice=lattice)  # type: ignore[arg-type]
    zeros: dict[str, np.ndarray] = {}
    moves: dict[str, dict[str, np.ndarray]] = {}
    for name, shape in shapes.items():
        facts = {level: a.entry_facts(name) for level, a in analyses.items()}
        z = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            z[idx] = next((lvl for lvl in LATTICE_CHAIN if facts[lvl]["stays_zero"][idx]), None)
        zeros[name] = z
        moves[name] = {lvl: facts[lvl]["first_move_step"] for lvl in LATTICE_CHAIN}
    ties: list[tuple[tuple[str, ...], str]] = []
    seen: set[frozenset] = set()
    for level in LATTICE_CHAIN:
        a = analyses[level]
        groups: dict[int, list[tuple[str, int]]] = {}
        for c in a.proof.coords:
            f = a.facts[a.proof.class_of[c]]
            if not f.stays_zero:
                groups.setdefault(f.tie_id, []).append(c)
        for members in groups.values():
            key = frozenset(members)
            if len(members) > 1 and key not in seen:
                seen.add(key)
                ties.append((tuple(coord_label(graph, c) for c in members), level))
    return WidestClasses(zeros, ties, moves)


def widest_classes_of_network(net, init: object = None, *, seed: int = 0, seconds: float = 5.0) -> WidestClasses:
    """:func:`widest_classes` of an MLP (:func:`symderiv.mlp`) at ``init``, through its graph (the init's zeros
    and equal values kept, every other value generic; concrete widths)."""
    from ..graph.from_network import graph_of_network
    from ..init import resolve_init
    from .run import float_init

    return widest_classes(graph_of_network(net, float_init(net, resolve_init(net, init))), "generic",
                          seed=seed, seconds=seconds)
