"""The proved facts of every block, in one record: the single source every face reads.

The prover establishes three kinds of statements about a block's entries:

* the invariant pattern (zeros and ties that hold for the whole optimizer class,
  weight decay included);
* first-move steps (lower bounds "unchanged before step t", proved; a move at
  step t certified by a witness trajectory);
* never-moving classes: the first-move iteration reached a fixed point where a
  class's gradient vanishes identically on the affine set of the never-moving
  classes held at their init values.  Without weight decay such a class keeps its
  init value forever, so one with init value 0 *stays zero* and two with equal
  init values *stay tied*; these statements carry the condition
  :data:`~symderiv.genericity.NO_WEIGHT_DECAY` (decay moves nonzero values and
  breaks the argument).

:func:`block_facts` merges them so that summary, JSON, LaTeX and verify never
disagree (an entry proved never to change from 0 is ``stays_zero``; entries proved
never to change from equal values share a tie id).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .floats import EXACT_ONLY, IDENTICAL_ROUNDING, FloatReport
from .genericity import GENERIC_INIT, GENERIC_WIDTHS, NO_WEIGHT_DECAY
from .patterns import Block

if TYPE_CHECKING:  # pragma: no cover
    from .prover import Proof

__all__ = ["BlockFacts", "block_facts", "tie_ids"]


@dataclass(frozen=True)
class BlockFacts:
    """Everything proved about the entries of one block.

    * ``stays_zero``: exactly 0 at every step;
    * ``tie_id``: equal ids are equal at every step;
    * ``first_move_step``: the first step whose update can change the entries (None = never), proved
      as a lower bound; ``first_move_tight``: a move at that step is certified by a witness trajectory;
    * ``conditions``: ids of the :class:`~symderiv.genericity.Condition` s these statements need
      (empty: they hold at every value of every symbol, for the whole optimizer class);
    * ``float_status``: how the zero or tie holds in IEEE arithmetic (:mod:`symderiv.floats`), None
      when the entries carry no zero or tie; ``first_move_float``: the same for "unchanged before
      step t"; ``visible``: the certified first move is visible in float64.
    """

    stays_zero: bool
    tie_id: int
    first_move_step: int | None
    first_move_tight: bool
    conditions: tuple[str, ...]
    float_status: str | None
    first_move_float: str | None
    visible: bool


def _group_key(proof: "Proof", k: int, frozen_zero: set[int], groups: dict[int, int]) -> object:
    return "zero" if (k == proof.zero_class or k in frozen_zero) else groups[k]


def _merged_groups(proof: "Proof", extra_ties: Sequence[tuple[int, ...]]) -> dict[int, int]:
    """Class -> representative: :meth:`Proof.tie_groups` joined with ``extra_ties`` (union-find)."""
    parent = dict(proof.tie_groups())

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for group in extra_ties:
        for k in group[1:]:
            a, b = find(group[0]), find(k)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {k: find(k) for k in parent}


def tie_ids(proof: "Proof", extra_ties: Sequence[tuple[int, ...]] = ()) -> dict[int, int]:
    """Class -> tie id, numbered in parameter order; classes proved to stay equal share an id
    (never-moving classes with equal init values; never-moving zeros with the zero class; the
    ``extra_ties`` groups, e.g. the equal-valued classes of a shifted tie)."""
    groups = _merged_groups(proof, extra_ties)
    frozen_zero = proof.frozen_zero_classes()
    by_key: dict = {}
    ids: dict[int, int] = {}
    for b in proof.blocks:  # parameter order, so ids read left to right
        k = proof.class_of[b]
        ids[k] = by_key.setdefault(_group_key(proof, k, frozen_zero, groups), len(by_key))
    return ids


def block_facts(proof: "Proof", floats: FloatReport,
                extra_ties: Sequence[tuple[int, ...]] = ()) -> dict[Block, BlockFacts]:
    """The :class:`BlockFacts` of every block of ``proof``; ``extra_ties`` are groups of classes proved to
    stay equal without weight decay (shifted ties, :mod:`symderiv.shifted`)."""
    frozen_zero = proof.frozen_zero_classes()
    groups = _merged_groups(proof, extra_ties)
    in_extra = {k for g in extra_ties for k in g}
    group_sizes: dict[int, int] = {}
    for g in groups.values():
        group_sizes[g] = group_sizes.get(g, 0) + 1
    ids = tie_ids(proof, extra_ties)
    symbolic_init = bool(proof.init_symbols)
    symbolic_widths = proof.net.is_symbolic
    part = proof.partition
    out: dict[Block, BlockFacts] = {}
    for b in proof.blocks:
        k = proof.class_of[b]
        in_pattern_zero = k == proof.zero_class
        fm = None if in_pattern_zero else proof.first_moves[k]
        step = None if fm is None else fm.step
        tight = bool(fm is not None and fm.tight)
        merged = not in_pattern_zero and ((step is None and (k in frozen_zero or group_sizes[groups[k]] > 1))
                                          or k in in_extra)
        conditions: list[str] = []
        if merged:
            conditions.append(NO_WEIGHT_DECAY)
        if tight and symbolic_init:
            conditions.append(GENERIC_INIT)
        if tight and symbolic_widths:
            conditions.append(GENERIC_WIDTHS)
        status = floats.status_of(b)
        if k in in_extra:  # a tie through a shifted tie rests on a cancellation (e.g. Σ_k δ_k = 0)
            status = EXACT_ONLY
        elif status is None and merged:
            status = floats.first_moves.get(k)
        if status is None:
            size = part.classes[b.layer][b.row].size
            if b.kind == "W":
                size = size * part.classes[b.layer - 1][b.col].size
            if size != 1:  # the entries of one block are tied through identical units
                status = IDENTICAL_ROUNDING
        out[b] = BlockFacts(
            stays_zero=in_pattern_zero or k in frozen_zero,
            tie_id=ids[k],
            first_move_step=step,
            first_move_tight=tight,
            conditions=tuple(conditions),
            float_status=status,
            first_move_float=None if in_pattern_zero else floats.first_moves.get(k),
            visible=tight and proof.is_visible(k),
        )
    return out
