"""The claims of a large analysis checked on real runs per group of entries, vectorized.

:func:`symderiv.graph.replay.check_claims` judges every entry in Python, with a message naming the entry; above
``COMPACT_JSON_ENTRIES`` trainable entries (:attr:`GraphAnalysis.per_entry_json` false) :func:`verify_graph` uses
the functions here instead: the same judgements (zeros, "unchanged before the first-move step", ties, each to the
tolerance of its float status), one NumPy comparison per group of entries with the same facts
(:mod:`symderiv.graph.tensor_facts`), the message naming the group by its first entry.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .tensor_facts import EntryGroup

__all__ = ["group_mask", "group_claims", "group_tight_observed", "group_init_point"]


def group_mask(analysis: Any, name: str, grp: EntryGroup) -> np.ndarray:
    """The entries of ``name`` in the group, as a boolean array of the parameter's shape."""
    shape = analysis.proof.graph.params[name].shape
    if grp.blocks is None and grp.flat is None:
        return np.ones(shape, dtype=bool)
    if grp.flat is not None:
        mask = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=bool)
        mask[list(grp.flat)] = True
        return mask.reshape(shape)
    from .lumping import expand

    q = np.zeros(analysis.proof.quotient.graph.params[name].shape, dtype=bool)
    for b in grp.blocks or ():
        q[b] = True
    return np.asarray(expand(analysis.proof.lumping, name, q), dtype=bool)


def _tolerance(status: str | None, init: np.ndarray, exact_only: float | None, rounding: float) -> np.ndarray | None:
    if status == "exact_arithmetic_only":
        return None if exact_only is None else exact_only * np.maximum(1.0, np.abs(init))
    if status == "identical_rounding":
        return rounding * np.maximum(1.0, np.abs(init))
    return np.zeros_like(init)


def _first(analysis: Any, name: str, mask: np.ndarray) -> str:
    idx = np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape) if mask.shape else ()
    return f"{name}{[int(i) for i in idx]}"


def group_claims(analysis: Any, snaps: list[dict[str, np.ndarray]], *, rtol: float = 1e-12,
                 exact_only_tolerance: float | None = 1e-12, rounding_tolerance: float = 1e-12,
                 judge_tight: bool = True) -> list[str]:
    """:func:`symderiv.graph.replay.check_claims`, per group (one message per violated group)."""
    bad: list[str] = []
    ties: dict[int, list[tuple[str, np.ndarray, bool]]] = {}
    for name, groups in analysis.entry_groups().items():
        for grp in groups:
            f = grp.facts
            mask = group_mask(analysis, name, grp)
            init = np.asarray(snaps[0][name])[mask]
            if f.tie_id is not None:
                ties.setdefault(f.tie_id, []).append((name, mask, f.float_status == "exact_arithmetic_only"))
            if f.stays_zero:
                tol = _tolerance(f.float_status or f.first_move_float, np.zeros_like(init), exact_only_tolerance,
                                 rounding_tolerance)
                if tol is not None and any(np.any(np.abs(np.asarray(s[name])[mask]) > tol) for s in snaps):
                    bad.append(f"{_first(analysis, name, mask)} (and its group of {grp.count}) claimed to stay zero "
                               "but moved")
                continue
            t = f.first_move_step
            last = len(snaps) if t is None else min(t, len(snaps))
            tol = _tolerance(f.first_move_float, init, exact_only_tolerance, rounding_tolerance)
            if tol is not None and any(np.any(np.abs(np.asarray(snaps[k][name])[mask] - init) > tol)
                                       for k in range(1, last)):
                bad.append(f"{_first(analysis, name, mask)} (and its group of {grp.count}) claimed unchanged before "
                           f"step {t} but changed earlier")
            if judge_tight and t is not None and f.first_move_tight and t < len(snaps) and \
                    np.any(np.asarray(snaps[t][name])[mask] == init):
                bad.append(f"{_first(analysis, name, mask)} (group of {grp.count}) claimed (tight) to move at step "
                           f"{t} but did not")
    for tid, members in ties.items():
        if exact_only_tolerance is None and any(exact for _, _, exact in members):
            continue
        for s in snaps:
            vals = np.concatenate([np.asarray(s[name])[mask].ravel() for name, mask, _ in members])
            scale = max(float(np.max(np.abs(vals))), 1e-300)
            if float(np.max(vals) - np.min(vals)) > rtol * scale:
                bad.append(f"tie class {tid} ({_first(analysis, members[0][0], members[0][1])} …) not tied along the "
                           "trajectory")
                break
    return bad


def group_tight_observed(analysis: Any, snaps: list[dict[str, np.ndarray]]) -> tuple[int, int]:
    """(entries with a tight first move at ``t`` that changed at ``t`` on this run, such entries)."""
    seen = total = 0
    for name, groups in analysis.entry_groups().items():
        for grp in groups:
            t = grp.facts.first_move_step
            if t is not None and grp.facts.first_move_tight and t < len(snaps):
                mask = group_mask(analysis, name, grp)
                total += grp.count
                seen += int(np.count_nonzero(np.asarray(snaps[t][name])[mask] != np.asarray(snaps[t - 1][name])[mask]))
    return seen, total


def group_init_point(analysis: Any, values: dict[str, np.ndarray]) -> dict:
    """Init symbol -> the module's value for a lumped analysis, checked block by block (every entry of a block
    equal to the one value of its symbol, or to the exact number the analysis used); as
    :func:`symderiv.graph.replay._init_point`, vectorized over the blocks."""
    import sympy as sp

    from ..errors import InvalidArgument

    proof = analysis.proof
    lump, q = proof.lumping, proof.quotient
    point: dict = {}
    for name, p in proof.graph.params.items():
        labels = lump.param_labels(name)
        v = np.asarray(values[name], dtype=np.float64)
        axes = [[np.flatnonzero(lab == k) for k in range(int(lab.max()) + 1 if len(lab) else 0)] for lab in labels]
        for qidx in np.ndindex(*q.graph.params[name].shape):
            block = v[np.ix_(*[axes[a][k] for a, k in enumerate(qidx)])] if qidx else v
            expr = analysis.init_value(name, tuple(int(axes[a][k][0]) for a, k in enumerate(qidx)))
            first = float(block.flat[0])
            where = f"{name} block {list(qidx)}"
            if np.any(block != first):
                raise InvalidArgument(f"the module's {where} has unequal entries where the analysis has one value: "
                                      "verify the module that was analyzed")
            if isinstance(expr, sp.Symbol):
                if first == 0.0 or point.setdefault(expr, first) != first:
                    raise InvalidArgument(f"the module's {where} = {first!r} does not have the analyzed pattern of "
                                          "zeros and equal values: verify the module that was analyzed")
            elif float(expr) != first:
                raise InvalidArgument(f"the module's {where} = {first!r} differs from the analyzed init value {expr}: "
                                      "verify the module that was analyzed")
    return point
