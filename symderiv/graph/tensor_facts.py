"""Per-tensor facts: the entries of one parameter grouped by what is proved about them.

A proof that is tensor-level (:mod:`.structural`: one record per tensor) or class-level (:mod:`.lumping`:
one record per class of identical units) should not be read back entry by entry: GPT-2 small has 124 M
entries.  :func:`entry_groups` gives, per trainable parameter, its :class:`EntryGroup` s: maximal sets of
entries with the same :class:`~symderiv.graph.facts.ClassFacts`, where ``tie_id`` is kept only when the
tie class has several entries (``None``: no tie claimed, every entry its own class).  A group is the whole
tensor, a set of blocks of the lumped quotient (``blocks``, quotient indices; the parameter's per-axis
``block_labels`` say which block each entry is in), or a list of flat indices (the entry path, small).

Every face that counts or lists (summary, headline, the JSON of a large analysis, the LaTeX document)
reads these groups, so its cost and size grow with the number of tensors and classes, not entries.
Each analysis class supplies ``_raw_groups(name)`` (one group per class of its proof, tie ids as
proved); :func:`entry_groups` drops tie ids held by a single entry and merges what is then equal.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .facts import ClassFacts

__all__ = ["EntryGroup", "entry_groups", "first_entries", "COMPACT_JSON_ENTRIES", "tie_summary"]

#: above this many trainable entries ``to_dict`` writes one record per group, not per entry (bounded output)
COMPACT_JSON_ENTRIES = 65536


@dataclass(frozen=True)
class EntryGroup:
    """Entries of one parameter tensor with the same proved facts.

    ``facts.tie_id`` is None when no tie is claimed among them; ``blocks`` (quotient indices of a lumped
    proof) or ``flat`` (flat indices) say which entries, both None for the whole tensor."""

    facts: ClassFacts
    count: int
    blocks: tuple[tuple[int, ...], ...] | None = None
    flat: tuple[int, ...] | None = None


def _merge(groups: list[EntryGroup]) -> list[EntryGroup]:
    """Groups with equal facts (tie ids included) as one group, in order of first appearance."""
    out: dict[ClassFacts, EntryGroup] = {}
    for g in groups:
        old = out.get(g.facts)
        if old is None:
            out[g.facts] = g
        elif old.blocks is not None and g.blocks is not None:
            out[g.facts] = EntryGroup(g.facts, old.count + g.count, old.blocks + g.blocks)
        elif old.flat is not None and g.flat is not None:
            out[g.facts] = EntryGroup(g.facts, old.count + g.count, flat=tuple(sorted(old.flat + g.flat)))
        else:  # pragma: no cover - an analysis gives one kind of group per tensor
            out[g.facts] = EntryGroup(g.facts, old.count + g.count)
    return list(out.values())


def entry_groups(analysis: Any) -> dict[str, list[EntryGroup]]:
    """Per trainable parameter (``named_parameters()`` order), its groups (cached on the analysis)."""
    cached = analysis.__dict__.get("_entry_groups")
    if cached is not None:
        return cached
    names = analysis.proof.graph.trainable()
    raw = {name: analysis._raw_groups(name) for name in names}
    held: Counter = Counter()
    for groups in raw.values():
        for g in groups:
            held[g.facts.tie_id] += g.count
    out = {}
    for name, groups in raw.items():
        untied = [dataclasses.replace(g, facts=dataclasses.replace(g.facts, tie_id=None))
                  if g.facts.tie_id is None or held[g.facts.tie_id] == 1 else g for g in groups]
        out[name] = _merge(untied)
    analysis.__dict__["_entry_groups"] = out
    return out


def first_entries(analysis: Any, name: str, group: EntryGroup, k: int = 3) -> list[int]:
    """The ``k`` smallest flat indices of a group's entries (vectorized over the tensor for blocks)."""
    if group.flat is not None:
        return list(group.flat[:k])
    if group.blocks is None:
        return list(range(min(k, group.count)))
    lump = analysis.proof.lumping
    qshape = analysis.proof.quotient.graph.params[name].shape
    mask = np.zeros(qshape, dtype=bool)
    for b in group.blocks:
        mask[b] = True
    from .lumping import expand

    return [int(i) for i in np.flatnonzero(expand(lump, name, mask))[:k]]


def tie_summary(analysis: Any) -> tuple[int, int, list[tuple[str, int]]]:
    """(tie classes of several entries that do not stay zero, entries of the largest, its first three
    entries as ``(name, flat)``); the largest is the first in entry order among equals."""
    groups = entry_groups(analysis)
    order = {name: i for i, name in enumerate(groups)}
    size: Counter = Counter()
    firsts: dict[int, list[tuple[int, int, str]]] = {}
    for name, gs in groups.items():
        for g in gs:
            if g.facts.stays_zero or g.facts.tie_id is None:
                continue
            size[g.facts.tie_id] += g.count
            firsts.setdefault(g.facts.tie_id, []).extend(
                (order[name], i, name) for i in first_entries(analysis, name, g))
    if not size:
        return 0, 0, []
    by_first = sorted(size, key=lambda t: min(firsts[t]))
    largest = max(by_first, key=lambda t: size[t])
    return len(size), size[largest], [(n, i) for _, i, n in sorted(firsts[largest])[:3]]


def groups_of_entries(facts_of: Iterable[tuple[int, ClassFacts]]) -> list[EntryGroup]:
    """Flat index -> facts pairs of one tensor as groups by tie id (the entry path)."""
    members: dict[ClassFacts, list[int]] = {}
    for flat, f in facts_of:
        members.setdefault(f, []).append(flat)
    return [EntryGroup(f, len(m), flat=tuple(m)) for f, m in members.items()]
