"""The plain-language face of an analysis: :meth:`~symderiv.analysis.Analysis.summary` and its scope.

A mixin of :class:`symderiv.analysis.Analysis`: a few sentences on what stays zero, what stays
tied, when things first move, the theorem's scope, its conditions and what holds in IEEE arithmetic;
deep networks' identical layers read as one sentence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy as sp

from .genericity import GENERIC_INIT, GENERIC_WIDTHS, NO_WEIGHT_DECAY

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["summary", "scope"]


def summary(analysis: "Analysis") -> str:
    """A few plain sentences: what stays zero, what stays tied, when things move, and the scope."""
    lines = [f"{analysis.net.describe()}; init: {analysis.init_description}."]
    p = analysis.proof
    names = analysis.net.parameter_names()
    zero_params, learning = [], []
    for name in names:
        bl = analysis._param_blocks(name)
        if all(analysis.facts_of(b).stays_zero for b in bl):
            zero_params.append(name)
        else:
            learning.append(name)
    weights = [n for n in names if n.startswith("W")]
    zero_weights = [n for n in zero_params if n.startswith("W")]
    n_weights = sp.Add(*[analysis._entries(n) for n in weights])
    assumed = any(NO_WEIGHT_DECAY in analysis.facts_of(b).conditions and analysis.facts_of(b).stays_zero
                  for name in zero_params for b in analysis._param_blocks(name))
    proved = "(proved; without weight decay, see below)" if assumed else "(proved)"
    if zero_weights and zero_weights == weights:
        lines.append(f"All {n_weights} weights stay exactly 0 forever {proved}.")
    elif zero_params:
        lines.append(f"{_join(zero_params)} stay{'s' if len(zero_params) == 1 else ''} exactly 0 forever {proved}.")
    partial = []
    for name in learning:
        bl = analysis._param_blocks(name)
        z = sp.Add(*[analysis._block_size(b) for b in bl if analysis.facts_of(b).stays_zero])
        if z != 0:
            partial.append(f"{z} of the {analysis._entries(name)} entries of {name}")
    if partial:
        lines.append(f"Also exactly 0 forever: {_join(partial)}.")
    if not learning:
        lines.append("Nothing learns.")
    elif zero_params:
        lines.append(f"Only {_join(learning)} learn{'s' if len(learning) == 1 else ''}.")
    for layers, width, n_cls in _runs_of_equal_layers(analysis.hidden_layer_classes()):
        where = f"layer {layers}" if layers.isdigit() else f"each of layers {layers}"
        if n_cls == 1 and width != 1:
            lines.append(
                f"The {width} units of {where} stay identical forever: the network behaves as if "
                + ("that layer" if where.startswith("layer") else "each of those layers") + " had width 1."
            )
        elif isinstance(width, int) and n_cls < width:
            lines.append(f"The {width} units of {where} fall into {n_cls} classes of identical units, forever.")
    ties = _tie_summary(analysis)
    if ties:
        lines.append(ties)
    from .laws import conservation_sentences

    lines.extend(conservation_sentences(analysis.conservation, analysis.signed_ties, p))
    moves = _move_summary(analysis)
    if moves:
        lines.append(moves)
    lines.append(scope(analysis))
    shifted = _shifted_summary(analysis)
    if shifted:
        lines.append(shifted)
    lines.extend(_condition_sentences(analysis))
    floats = _float_summary(analysis)
    if floats:
        lines.append(floats)
    if p.undecided:
        lines.append(f"Undecided (not claimed): {len(p.undecided)} identit{'y' if len(p.undecided) == 1 else 'ies'}; "
                     "see .proof.undecided.")
    return "\n".join(lines)


def _shifted_groups_labelled(analysis: "Analysis") -> list[tuple[list[str], list[str]]]:
    p = analysis.proof
    out = []
    for g in analysis.shifted.groups:
        if not g.shifted:
            continue
        out.append(([analysis.block_label(p.classes[k][0]) for k in g.classes], [str(o) for o in g.offsets]))
    return out


def _shifted_summary(analysis: "Analysis") -> str:
    groups = _shifted_groups_labelled(analysis)
    tied = analysis.shifted.tie_groups()
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


def _condition_sentences(analysis: "Analysis") -> list[str]:
    out = []
    for c in analysis.conditions:
        marker = {GENERIC_INIT: "Generic values", GENERIC_WIDTHS: "Generic widths",
                  NO_WEIGHT_DECAY: "No weight decay"}.get(c.id, c.id)
        out.append(f"{marker} (condition '{c.id}'): {c.sentence()}")
    note = getattr(analysis, "input_reduction_note", None)
    text = note() if callable(note) else None
    if text:
        out.append(text)
    return out


def _float_summary(analysis: "Analysis") -> str:
    """One sentence on IEEE arithmetic: which proved statements are exact-arithmetic only."""
    exact_only = sorted({b.param for b in analysis.proof.blocks
                         if "exact_arithmetic_only" in (analysis.facts_of(b).float_status, analysis.facts_of(b).first_move_float)},
                        key=analysis.net.parameter_names().index)
    kink = any(fact.kink and fact.status != "bit_exact" for fact in analysis.floats.layers.values()) or any(
        f.kink and f.status != "bit_exact" for f in analysis.floats.blocks.values())
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


def _tie_summary(analysis: "Analysis") -> str:
    p = analysis.proof
    cross = []
    for k, members in enumerate(p.classes):
        if k == p.zero_class:
            continue
        params = sorted({b.param for b in members}, key=analysis.net.parameter_names().index)
        if len(params) > 1:
            cross.append(_join(params))
    if cross:
        return "Tied across parameters forever (equal entries stay equal): " + "; ".join(sorted(set(cross))) + "."
    return ""


def _move_summary(analysis: "Analysis") -> str:
    parts = []
    for name in analysis.net.parameter_names():
        steps: dict = {}
        generic: set[str] = set()
        for b in analysis._param_blocks(name):
            f = analysis.facts_of(b)
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


def scope(analysis: "Analysis") -> str:
    """The theorem's scope: optimizer class, kink convention, labels, weight decay."""
    kinks = sorted({a.describe() for a in analysis.net.activations if a.is_kinked})
    text = (f"Holds for every dataset, batch size, sample order and learning-rate schedule, for "
            f"{_join(list(analysis.optimizers.members))} (class '{analysis.optimizers.name}').")
    if kinks:
        text += f" Kink convention: {_join(kinks)}."
    text += f" Labels: {analysis.net.loss.label_domain}."
    text += " First-move steps assume no weight decay."
    if analysis.net.is_symbolic:
        text += (" Zeros, ties and 'unchanged before step t' hold for every value of the symbolic widths;"
                 " a first move at step t is certified by a trajectory at the widths it names.")
    return text


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
