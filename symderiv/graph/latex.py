"""The proof document of a graph analysis (a traced PyTorch module), and the graph entries of ``proofs/``.

:func:`graph_proof_document` writes what :class:`~symderiv.graph.analysis.GraphAnalysis`
established as a standalone LaTeX document: the result in the first lines (a
``% headline:`` comment and a boxed sentence under the title, e.g. "lora_B.weight moves
at step 1, lora_A.weight at step 2; base.weight frozen"), the setting (the traced graph,
the loss, the parameters and their init pattern), the theorem (per parameter: stays
zero, tie classes, first-move step; for every optimizer of the class and every dataset;
what generic values mean), the proof (the invariance lemma; the pattern on which every
per-example gradient respects the pattern; the decisive closed forms, written with the
zero entries of the init free and the output deltas ``δ`` free, so one sees *why* a
gradient vanishes, e.g. ``∂ℓ/∂lora_A.weight[0,0] = x_1 Σ_k lora_B.weight[k,0] δ_k``;
the first-move argument), and an appendix with the certified witness trajectories as
exact fractions.  Nothing is claimed that the analysis did not prove; undecided items
are listed.

The document uses amsmath, amssymb, amsthm and geometry; it is deterministic (the same
analysis gives byte-identical output).  :func:`graph_library` lists the example modules
of :mod:`symderiv.graph.examples` that ``proofs/build.py`` renders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy as sp

from ..errors import InvalidArgument, check_argument
from ..floats import BIT_EXACT, EXACT_ONLY, IDENTICAL_ROUNDING
from ..genericity import GENERIC_INIT, NO_WEIGHT_DECAY
from ..guard import public_entry
from ..latex.document import HEADLINE_MARK, enclosure_tex, latex_text, standalone_preamble
from ..latex.printer import latex
from .engine import backprop, data_symbols, input_symbols
from .latex_names import (  # noqa: F401  (the names and formulas of the document; split module)
    MAX_FORMULA_CHARS,
    _param_tex,
    _entry_tex,
    _visual,
    _index_of,
    _Names,
    _display,
    _plural,
    _join,
    _params_text)
from .losses import graph_loss

__all__ = ["graph_proof_document", "GraphEntry", "graph_library", "HEADLINE_MARK", "MAX_FORMULA_CHARS"]

#: at most this many tie classes, members of a class, closed forms are listed
_MAX_TIES = 12
_MAX_MEMBERS = 6


# ---------------------------------------------------------------- the document's parts
@dataclass
class _Doc:
    analysis: Any

    def __post_init__(self) -> None:
        self.proof = self.analysis.proof
        self.graph = self.proof.graph
        self.names = _Names(self.analysis)
        self.facts = {n: self.analysis.entry_facts(n) for n in self.graph.trainable()}
        self.init_pass: Any = None  # the pass at the init values, when a matrix form needs it


def _preamble(doc: _Doc, title: str) -> list[str]:
    headline = doc.analysis.headline()
    return standalone_preamble(title, headline, "symderiv.graph.analyze_module") + [
        r"\noindent\fbox{\parbox{\dimexpr\linewidth-2\fboxsep-2\fboxrule\relax}{\textbf{Result.} "
        + latex_text(headline) + r". Proved for every dataset and every optimizer of the "
        r"class (Theorem~\ref{thm:main}); first moves certified by exact trajectories (Appendix).}}",
        r"\medskip",
    ]


def _summary(doc: _Doc) -> list[str]:
    lines = [r"\paragraph{In plain words} (each sentence is proved below):", r"\begin{itemize}"]
    lines += [rf"\item {latex_text(line)}" for line in doc.analysis.summary().splitlines()[1:]]
    return lines + [r"\end{itemize}"]


def _init_text(doc: _Doc, name: str) -> str:
    p = doc.graph.params[name]
    values = [doc.analysis.init_value(name, idx) for idx in np.ndindex(*p.shape)]
    if all(v == 0 for v in values):
        return "all entries $0$"
    distinct = set(values)
    zeros = sum(1 for v in values if v == 0)
    if len(distinct) == 1:
        return f"every entry equal to ${doc.names.tex(values[0])}$"
    kind = "generic" if doc.analysis.values_mode == "generic" else "exact"
    text = f"{kind} values (${doc.names.tex(values[0])}$, \\dots)"
    if zeros:
        text += f", {_plural(zeros, 'entry', 'entries')} $0$"
    if len(distinct) < len(values) - max(zeros - 1, 0):
        text += ", some entries sharing one value"
    return text


def _setting(doc: _Doc) -> list[str]:
    a, g = doc.analysis, doc.graph
    loss = graph_loss(g.loss_name)
    shape = g.nodes[g.input_node].shape
    out_shape = g.nodes[g.output].shape
    lines = [
        r"\section{Setting}",
        f"The module \\texttt{{{latex_text(a.module_name)}}}"
        + (f" (\\texttt{{{latex_text(a.module_spec)}}})" if a.module_spec else "")
        + f", traced by \\texttt{{torch.export}} (Core ATen) into a {latex_text(g.describe())}. One example is a tensor "
        f"$x$ of shape ${latex_text(shape)}$ with symbolic entries "
        f"${doc.names.tex(input_symbols(shape).flat[0])}, \\dots$ (1-based)" + _further_inputs(doc)
        + ", the output has shape "
        f"${latex_text(out_shape)}$, and the loss is {latex_text(loss.name)}: {latex_text(loss.label_domain)}. "
        r"$\delta_{k} = \partial\ell/\partial(\text{output})_{k}$ is the loss's delta at output entry $k$.",
        r"Parameters are named as by \texttt{named\_parameters()}: $W^{\mathrm{path}}$ is \texttt{path.weight}, "
        r"$b^{\mathrm{path}}$ is \texttt{path.bias}; an entry $W^{\mathrm{path}}_{i,j}$ has PyTorch's 0-based "
        r"indices, and its init value is written $\mathring{W}^{\mathrm{path}}_{i,j}$.",
        r"\begin{itemize}",
    ]
    for name, p in g.params.items():
        role = "trainable" if p.trainable else r"\emph{frozen} (a constant, never updated)"
        lines.append(rf"\item ${_param_tex(name)}$, shape ${latex_text(p.shape)}$, {role}; init: {_init_text(doc, name)}.")
    lines.append(r"\end{itemize}")
    if a.values_mode == "generic":
        lines.append(r"\paragraph{Generic values.} The init was made generic: exact zeros are kept, entries with "
                     r"exactly equal values share one symbol (written $e_{k}$ when shared), and every other value is "
                     r"its own symbol. Zeros, ties and ``unchanged before step $t$'' are identities in these symbols, so "
                     r"they hold for \emph{every} model with this pattern of zeros and equal values; a first move is "
                     r"certified at one exact point of the pattern (the Appendix), so it holds for generic values.")
    else:
        lines.append(r"\paragraph{Exact values.} Every init value is the exact rational of the module's float.")
    return lines


def _group_entries(doc: _Doc, name: str, key: Callable[[tuple[int, ...]], Any]) -> dict[Any, list[tuple[int, ...]]]:
    out: dict[Any, list[tuple[int, ...]]] = {}
    for idx in np.ndindex(*doc.graph.params[name].shape):
        out.setdefault(key(idx), []).append(tuple(int(i) for i in idx))
    return out


def _entries_text(name: str, members: list[tuple[int, ...]], size: int) -> str:
    if len(members) == size:
        return f"every entry of ${_param_tex(name)}$"
    shown = ", ".join(f"${_entry_tex(name, i)}$" for i in members[:_MAX_MEMBERS])
    more = f" and {len(members) - _MAX_MEMBERS} more" if len(members) > _MAX_MEMBERS else ""
    return f"{shown}{more}"


def _move_text(step: int | None, tight: bool, merged: bool) -> str:
    if step is None:
        return "never changes (proved" + (", without weight decay)" if merged else ")")
    unchanged = "unchanged by the first update" if step == 2 else f"unchanged by the first {step - 1} updates"
    if step == 1:
        return "moves at update 1 (certified)" if tight else "can move at update 1 (a move is not certified)"
    return f"{unchanged} (proved)" + (f" and moves at update {step} (certified)" if tight
                                      else f"; a move at update {step} is not certified")


def _theorem(doc: _Doc) -> list[str]:
    a, g = doc.analysis, doc.graph
    opt = a.optimizers
    lines = [
        r"\section{Result}",
        r"\begin{theorem}\label{thm:main}",
        r"Let $\theta^{(t)}$ be the trainable parameters after $t$ updates of any optimizer of the class "
        rf"\emph{{{latex_text(opt.name)}}} ({latex_text(_join(list(opt.members)))}), on any dataset, with any batch "
        r"size, sample order and learning-rate schedule, started at the init above"
        + (" (any values with its pattern of zeros and equal values)" if a.values_mode == "generic" else "")
        + (f"; the frozen {_params_text(g.frozen())} {'is a constant' if len(g.frozen()) == 1 else 'are constants'}"
           if g.frozen() else "")
        + r". Then for every $t \ge 0$:",
        r"\begin{enumerate}",
    ]
    zero_whole = [n for n in g.trainable() if all(doc.facts[n]["stays_zero"].flat)]
    zero_part = [(n, [i for i in np.ndindex(*g.params[n].shape) if doc.facts[n]["stays_zero"][i]])
                 for n in g.trainable() if n not in zero_whole and any(doc.facts[n]["stays_zero"].flat)]
    if zero_whole or zero_part:
        items = ([f"${' = '.join(_param_tex(n) for n in zero_whole)} = 0$"] if zero_whole else []) + [
            _entries_text(n, [tuple(int(j) for j in i) for i in m], g.params[n].size) + " are $0$" for n, m in zero_part]
        lines.append(r"\item \textbf{Zeros.} Exactly $0$ at every step: " + "; ".join(items) + ".")
    else:
        lines.append(r"\item \textbf{Zeros.} No trainable entry is forced to stay $0$.")
    ties: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
    for n in g.trainable():
        for idx in np.ndindex(*g.params[n].shape):
            if not doc.facts[n]["stays_zero"][idx]:
                ties.setdefault(int(doc.facts[n]["tie_class"][idx]), []).append((n, tuple(int(i) for i in idx)))
    several = [(k, m) for k, m in sorted(ties.items()) if len(m) > 1]
    if several:
        lines.append(r"\item \textbf{Ties.} Within each of the following classes, all entries stay equal:")
        lines.append(r"\begin{itemize}")
        for k, members in several[:_MAX_TIES]:
            shown = ", ".join(f"${_entry_tex(n, i)}$" for n, i in members[:_MAX_MEMBERS])
            more = f" and {len(members) - _MAX_MEMBERS} more" if len(members) > _MAX_MEMBERS else ""
            lines.append(rf"\item[] class {k} ({len(members)} entries): {shown}{more}")
        if len(several) > _MAX_TIES:
            lines.append(rf"\item[] and {len(several) - _MAX_TIES} more classes (the JSON's \texttt{{tie\_class}})")
        lines.append(r"\end{itemize}")
    else:
        lines.append(r"\item \textbf{Ties.} No two nonzero trainable entries are forced to stay equal.")
    moves: list[str] = []
    for n in g.trainable():
        f = doc.facts[n]

        def key(i: tuple[int, ...], f: dict[str, np.ndarray] = f) -> tuple[bool, Any, bool, bool]:
            return (bool(f["stays_zero"][i]), f["first_move_step"][i], bool(f["first_move_tight"][i]),
                    NO_WEIGHT_DECAY in f["conditions"][i])

        for (zero, step, tight, merged), entries in _group_entries(doc, n, key).items():
            if zero and step is None and not merged:
                continue  # stated under Zeros
            moves.append(rf"\item[] {_entries_text(n, entries, g.params[n].size)}: {_move_text(step, tight, merged)}.")
    if moves:
        lines += [r"\item \textbf{First moves} (assuming no weight decay):", r"\begin{itemize}"] + moves + [r"\end{itemize}"]
    else:
        lines.append(r"\item \textbf{First moves.} Every trainable entry stays $0$ (above): nothing learns.")
    lines.append(r"\end{enumerate}")
    if doc.proof.undecided:
        lines.append(rf"The {_plural(len(doc.proof.undecided), 'item')} of Section~\ref{{sec:undecided}} were neither "
                     r"proved nor refuted; nothing above depends on them.")
    lines.append(r"\end{theorem}")
    lines += _conditions(doc)
    return lines


def _conditions(doc: _Doc) -> list[str]:
    facts = list(doc.analysis.facts.values())
    lines = [r"\paragraph{Conditions.}"]
    used = {c for f in facts for c in f.conditions}
    parts = []
    if NO_WEIGHT_DECAY in used:
        parts.append(r"zeros and ties of entries that never move hold because those entries keep their init value: "
                     r"without weight decay")
    if GENERIC_INIT in used:
        parts.append("a certified first move holds for generic values of the init symbols (it is certified at one "
                     "exact point); zeros, ties and ``unchanged before step $t$'' hold at every value")
    lines.append(("Every statement holds unconditionally, except: " + "; ".join(parts) + ".") if parts else
                 "Every statement holds unconditionally (first-move steps without weight decay).")
    counts: dict[str, int] = {}
    for n in doc.graph.trainable():
        for key in ("float", "first_move_float"):
            for v in doc.facts[n][key].flat:
                if v is not None:
                    counts[v] = counts.get(v, 0) + 1
    lines.append(r"\paragraph{Floating point.} Every statement is a theorem of exact arithmetic. Per entry, the JSON "
                 r"says how its zero or tie (\texttt{float}) and its ``unchanged before step $t$'' "
                 r"(\texttt{first\_move\_float}) hold in IEEE arithmetic: \texttt{bit\_exact} (only multiplications by "
                 r"exact zeros: bit for bit), \texttt{identical\_rounding} (identical operations on identical inputs), "
                 r"\texttt{exact\_arithmetic\_only} (an exact cancellation of the loss, e.g. $\sum_k \delta_k = 0$: a "
                 r"rounding residue in floats, which Adam and RMSProp can amplify).")
    if counts:
        lines.append("Here, counted per entry: " + ", ".join(f"{counts[s]} \\texttt{{{latex_text(s)}}}"
                                          for s in (BIT_EXACT, IDENTICAL_ROUNDING, EXACT_ONLY) if s in counts) + ".")
    return lines


def _lemma(doc: _Doc) -> list[str]:
    if getattr(doc.analysis, "lattice", None) is not None:  # proved on an optimizer's lattice
        from ..optimizer_classes import lattice_latex

        return lattice_latex(doc.analysis)
    return [
        r"\section{Proof}",
        r"A \emph{pattern} $P$ is a set $Z$ of trainable entries and an equivalence relation (tie classes) on the "
        r"others; $V(P)$ is the linear space of parameters that vanish on $Z$ and are constant on each class, one "
        r"coordinate $\theta_{k}$ per class.",
        r"\begin{lemma}[Invariance]\label{lem:inv}",
        r"If for every $\theta \in V(P)$ and every single example the per-example gradient lies in $V(P)$, then every "
        r"trajectory of every optimizer of the class started in $V(P)$ stays in $V(P)$, for every dataset and batch "
        r"size.",
        r"\end{lemma}",
        r"\begin{proof}A minibatch gradient is an average of per-example gradients, so it lies in $V(P)$. Every "
        r"optimizer of the class updates each coordinate by the same function of that coordinate's own gradient "
        r"history (and of its value: weight decay, and of norms of the whole gradient: clipping); entries that agree "
        r"in value and gradient history therefore agree after the update, and an entry whose value and gradients are "
        r"all $0$ stays $0$. By induction on $t$ the trajectory stays in $V(P)$.\end{proof}",
    ]


def _pattern(doc: _Doc) -> list[str]:
    p = doc.proof
    n_classes = len(p.classes) - (p.zero_class is not None)
    lines = [
        r"\subsection{The invariant pattern}",
        f"Let $P^*$ be the pattern of Theorem~\\ref{{thm:main}} before never-moving entries are merged: the zero set "
        f"and {_plural(n_classes, 'tie class', 'tie classes')}, with coordinates $\\theta_k$. The per-example gradient "
        r"was computed entry by entry on $V(P^*)$ with the data and labels symbolic (a reversed $\delta$ pass over "
        r"the graph; SymPy never differentiates the loss), and on $V(P^*)$ every gradient respects the pattern: the "
        r"gradient of every entry of the zero set is identically $0$, and within each tie class all entries have "
        r"the same gradient. These identities were proved (structurally, or by bounded exact simplification); by "
        r"Lemma~\ref{lem:inv} the pattern holds at every step.",
    ]
    methods: dict[str, int] = {}
    for ident in p.identities:
        methods[ident.method] = methods.get(ident.method, 0) + 1
    if methods:
        lines.append("Identities checked: " + ", ".join(f"{v} {latex_text(k)}" for k, v in sorted(methods.items())) + ".")
    lines.append(
        f"The pattern is the smallest invariant one containing the init pattern $P_0$ (zeros of the init, equal init "
        f"values tied): the relaxation reached it in {_plural(p.iterations, 'iteration')}"
        + _dropped_text(p) + " (no identity is claimed that was not proved).")
    return lines


def _dropped_text(p: Any) -> str:
    """How the relaxation's dropped constraints were justified: a certified witness, or undecided."""
    if not p.splits:
        return ", dropping nothing"
    certified = sum(1 for split in p.splits if split.witness is not None)
    text = f", through {_plural(len(p.splits), 'split')} of a class (a tie broken or a zero released)"
    if certified == len(p.splits):
        return text + ", each justified at an exact rational point by certified interval enclosures"
    return (text + f"; {certified} of the splits are justified at exact rational points by certified interval "
            r"enclosures, the others were undecided and dropped (Section~\ref{sec:undecided})")


def _structure_pass(doc: _Doc, own: str) -> tuple[Any, list[str]]:
    """The gradient of parameter ``own`` at the init with the zero entries of the *other* trainable
    parameters free (named as the entries) and the output deltas free: the closed form that shows
    why it vanishes (or not); and the parameters whose zero entries were freed."""
    g, a = doc.graph, doc.analysis
    freed: list[str] = []
    values: dict[str, np.ndarray] = {}
    for name, p in g.params.items():
        arr = np.empty(p.shape, dtype=object)
        for idx in np.ndindex(*p.shape):
            v = a.init_value(name, idx)
            if v == 0 and p.trainable and name != own:
                s = sp.Symbol("zfree_" + name.replace(".", "_") + "_" + "_".join(map(str, idx)), real=True)
                doc.names.map[s] = _entry_tex(name, idx)
                if name not in freed:
                    freed.append(name)
                v = s
            arr[idx] = v
        values[name] = arr
    return backprop(g, values, output_delta=_free_deltas(doc)), freed


def _free_deltas(doc: _Doc) -> np.ndarray:
    """The output deltas as free symbols ``δ_k`` (named in the document)."""
    out_shape = doc.graph.nodes[doc.graph.output].shape
    delta = np.empty(out_shape, dtype=object)
    for idx in np.ndindex(*out_shape):
        s = sp.Symbol("dfree_" + "_".join(str(i + 1) for i in idx), real=True)
        doc.names.map[s] = r"\delta_{" + ",".join(str(i + 1) for i in idx) + "}"
        delta[idx] = s
    return delta


def _matrix_form(doc: _Doc, name: str, gpass: Any, closed_form: Callable[[tuple[int, ...]], Any],
                 deltas: np.ndarray | None = None, general: Any = None) -> tuple[Any, list[str]] | None:
    """``(form, lines)``: the gradient of ``name`` as ``g hᵀ`` (:mod:`.latex_matrix`: checked entry by entry),
    or None.  With ``deltas`` (the loss's δ at the init), ``gpass`` has the output deltas free and the check
    substitutes them; a form equal to ``general`` (the one with the other zeros named) is not repeated."""
    from .latex_matrix import outer_form, outer_form_lines

    free = _free_deltas(doc)
    if deltas is not None and deltas.ndim != 1:  # δ is displayed as one column: a vector output only
        return None
    # the δ displayed is the δ substituted in the check
    delta = None if deltas is None else np.array([sp.factor_terms(v) for v in deltas.flat], dtype=object)
    substitute = None if delta is None else dict(zip(free.flat, delta))
    form = outer_form(doc.graph, gpass, name, closed_form, substitute)
    if form is None:
        return None
    path = name.rpartition(".")[0] or name
    label = rf"\mathrm{{{latex_text(path)}}}"
    lhs = rf"\frac{{\partial \ell}}{{\partial {_param_tex(name)}}}" + (r"\Big|_{\theta^{(0)}}" if deltas is not None else "")
    if delta is None:
        shown = outer_form_lines(form, lhs, label, doc.names.tex, _visual)
        intro = (rf"In matrix form: the outer product of $g^{{{label}}} = \partial\ell/\partial(\text{{output of the "
                 rf"layer}})$ and the layer's input $h^{{{label}}}$, with the output deltas $\delta_k$ free and the zero "
                 r"entries of the other parameters named (checked: every entry of $g h^{\top}$ minus its closed form "
                 r"expands to $0$).")
        return None if shown is None else (form, [intro] + shown)
    if general is not None and form.same_as(general):
        shown = outer_form_lines(None, lhs, label, doc.names.tex, _visual, ((r"\delta", delta),))
        intro = r"The same vectors, with $\delta$ the loss's output deltas at $\theta^{(0)}$ (checked the same way):"
    else:
        shown = outer_form_lines(form, lhs, label, doc.names.tex, _visual, ((r"\delta", delta),))
        intro = (r"In matrix form, with the init values and $\delta$ the loss's output deltas at $\theta^{(0)}$ "
                 r"(checked the same way):")
    return None if shown is None else (form, [intro] + shown)


def _init_pass(doc: _Doc) -> tuple[Any, np.ndarray]:
    """The pass at the init values with the output deltas free, and the loss's δ at the init (once per document)."""
    if doc.init_pass is None:
        g, a = doc.graph, doc.analysis
        values = {}
        for name, p in g.params.items():
            arr = np.empty(p.shape, dtype=object)
            for idx in np.ndindex(*p.shape):
                arr[idx] = a.init_value(name, idx)
            values[name] = arr
        deltas = backprop(g, values, backward=False)
        loss_delta = graph_loss(g.loss_name).delta(deltas.output, deltas.y)
        doc.init_pass = (backprop(g, values, output_delta=_free_deltas(doc)), np.asarray(loss_delta, dtype=object))
    return doc.init_pass


def _decisive(doc: _Doc) -> list[str]:
    g, a = doc.graph, doc.analysis
    lines = [
        r"\subsection{The decisive closed forms}",
        r"For each trainable parameter, in matrix form where it is the weight of one linear layer, else for one "
        r"entry: its per-example gradient at the init, written with the "
        r"output deltas $\delta_k$ free and with the entries of the \emph{other} parameters that are $0$ at the "
        r"init kept as their names, so the factors that vanish are visible; then its value at $\theta^{(0)}$ "
        r"(those entries $0$, the loss's own $\delta$).",
    ]
    for name in g.trainable():
        idx = (0,) * len(g.params[name].shape)
        gpass, freed = _structure_pass(doc, name)
        general_all = gpass.grads[name]
        general = general_all[idx]
        lhs = rf"\frac{{\partial \ell}}{{\partial {_entry_tex(name, idx)}}}"
        matrix = _matrix_form(doc, name, gpass, lambda i: general_all[i])
        lines.extend(matrix[1] if matrix else [_display(doc.names, lhs, general)])
        at_init = a.gradient_at_init(name, idx)
        if at_init is None:
            lines.append(r"At $\theta^{(0)}$ its closed form was not computed: the tensor-level argument needs none.")
        elif at_init == 0:
            zeroed = general.xreplace({s: 0 for s in general.free_symbols if s.name.startswith("zfree_")})
            reason = (f"setting {_params_text(freed)} to $0$" if freed and zeroed == 0
                      else "it vanishes for every $\\delta$" if general == 0
                      else r"the loss's exact cancellation of the $\delta_k$")
            lines.append(rf"At $\theta^{{(0)}}$ this is $0$ ({reason}).")
        else:
            free_pass, deltas = _init_pass(doc)
            at = _matrix_form(doc, name, free_pass, lambda i: a.gradient_at_init(name, i), deltas,
                              matrix[0] if matrix else None)
            lines.append(r"At $\theta^{(0)}$ it is not identically $0$" + ("." if at else ":"))
            lines.extend(at[1] if at else [_display(doc.names, lhs + r"\Big|_{\theta^{(0)}}", at_init)])
    return lines


def _first_moves(doc: _Doc) -> list[str]:
    p = doc.proof
    steps = sorted({fm.step for fm in p.first_moves.values() if fm.step is not None})
    lines = [
        r"\subsection{First moves}",
        r"Let $F_0$ be every class, and $F_{t+1}$ the classes of $F_t$ whose gradient vanishes identically on "
        r"$A_t$: the parameters with the classes of $F_t$ held at their init values and the others free in "
        r"$V(P^*)$. By induction, the classes of $F_t$ are unchanged by the first $t$ updates of every optimizer of "
        r"the class without weight decay (their gradient history is $0$ so far); a class leaving $F_t$ can first move "
        r"at update $t+1$. A class never leaving is proved never to move.",
    ]
    if getattr(doc.analysis, "lattice", None) is not None:  # F_t is the lattice's closure (section Proof)
        lines[1] = (r"$F_t$, $H_t$ and $A_t$ are as in the Proof section (for the assigned optimizers); a class "
                    r"leaving $F_t$ can first move at update $t+1$, and a class never leaving is proved never to "
                    r"move (without weight decay).")
    by_t: dict[int, int] = {}
    for t, _ in p.first_move_identities:
        by_t[t] = by_t.get(t, 0) + 1
    for t in range(max(steps, default=0) + 1):
        leaving = sorted({n for n in doc.graph.trainable() for f in [doc.facts[n]]
                          for s in f["first_move_step"].flat if s == t + 1})
        if not leaving and t not in by_t:
            continue
        kept = by_t.get(t, 0)
        text = (rf"On $A_{{{t}}}$ the gradient of {_plural(kept, 'class', 'classes')} vanishes identically (proved)"
                if kept else rf"On $A_{{{t}}}$ no remaining class has a vanishing gradient")
        if leaving:
            text += rf"; the others move first at update {t + 1}: {_params_text(leaving)}"
        lines.append(text + ".")
    tight = sum(1 for fm in p.first_moves.values() if fm.tight)
    finite = sum(1 for fm in p.first_moves.values() if fm.step is not None)
    lines.append(f"Of the {_plural(finite, 'class', 'classes')} with a finite first-move step, {tight} are certified "
                 r"to move at it by the exact trajectories of the Appendix: their first-move steps are tight.")
    return lines


def _undecided(doc: _Doc) -> list[str]:
    lines = [r"\section{Undecided}\label{sec:undecided}"]
    if not doc.proof.undecided:
        return lines + [r"Nothing: every constraint was either proved by an identity or dropped with a certified "
                        r"witness."]
    lines.append(r"Neither proved nor refuted within the work budget; \emph{not} claimed:")
    return lines + [r"\begin{enumerate}"] + [rf"\item {latex_text(u)}" for u in doc.proof.undecided] + [
        r"\end{enumerate}"]


def _appendix(doc: _Doc) -> list[str]:
    p = doc.proof
    lines = [r"\appendix", r"\section{Certified witness trajectories}"]
    if not p.trajectories:
        return lines + ["None is needed: no class has a finite first-move step." if not any(
            fm.step is not None for fm in p.first_moves.values()) else
            "No certified trajectory was found: the first-move steps are lower bounds only."]
    lines.append(r"Plain SGD on one example, in exact rational arithmetic for the data, labels, init values and "
                 r"learning rate below; every gradient along the way is enclosed in certified interval arithmetic, "
                 r"and the change of each listed class at its first-move step excludes $0$.")
    for n, w in enumerate(p.trajectories, 1):
        values = []
        for name, value in sorted(w.point, key=lambda kv: _natural(kv[0])):
            sym = next((s for s in doc.names.map if getattr(s, "name", None) == name), None)
            shown = doc.names.map[sym] if sym is not None else latex_text(name)
            values.append(f"${shown} = {latex(sp.Rational(value))}$")
        lines.append(rf"\paragraph{{Trajectory {n}}} ({_plural(w.steps, 'step')}, learning rate "
                     rf"$\eta = {latex(sp.Rational(w.learning_rate))}$). Data, labels and init values: "
                     + ", ".join(values) + ".")
        lines.append(r"\begin{itemize}")
        for k, step, change in w.moved:
            members = p.classes[k]
            label = _entry_tex(members[0][0], _index_of(doc.graph, members[0]))
            size = len(members)
            lines.append(rf"\item the class of ${label}$" + (f" ({size} entries)" if size > 1 else "")
                         + rf" changes at update {step} by ${enclosure_tex(change)}$;")
        lines.append(r"\end{itemize}")
    return lines


def _further_inputs(doc: _Doc) -> str:
    """``; with it the further inputs of ``forward``: $x^{(2)}$ of shape …`` (empty for one input)."""
    g = doc.graph
    syms = data_symbols(g)[1:]
    if not syms:
        return ""
    parts = [f"$x^{{({k + 2})}}$ of shape ${latex_text(xs.shape)}$ (entries ${doc.names.tex(xs.flat[0])}, \\dots$)"
             for k, xs in enumerate(syms)]
    return "; with it the further inputs of \\texttt{forward}, in order: " + ", ".join(parts)


def _natural(name: str) -> tuple[int, str]:
    import re

    order = 0 if re.match(r"x\d*_", name) else 1 if name.startswith("y_") else 2
    return order, re.sub(r"\d+", lambda m: m[0].zfill(6), name)


SECTIONS: tuple[Callable[[_Doc], list[str]], ...] = (
    _summary, _setting, _theorem, _lemma, _pattern, _decisive, _first_moves, _undecided, _appendix,
)


@public_entry
def graph_proof_document(analysis: Any, *, title: str | None = None) -> str:
    """A complete, standalone LaTeX document proving what a graph analysis established.

    * ``analysis``: a :class:`~symderiv.graph.analysis.GraphAnalysis` (``analyze_module(...)``);
    * ``title``: plain text (escaped); default: the module's name and the headline.

    Deterministic: the same analysis gives byte-identical output."""
    from .analysis import GraphAnalysis

    check_argument(isinstance(analysis, GraphAnalysis),
                   "graph_proof_document needs the result of symderiv.graph.analyze_module(...), got {!r}", analysis,
                   error=InvalidArgument)
    check_argument(title is None or isinstance(title, str), "title must be a string, got {!r}", title,
                   error=InvalidArgument)
    doc = _Doc(analysis)
    if title is None:
        title = f"{analysis.module_name}: what stays zero or tied, and when it moves"
    lines = _preamble(doc, title)
    for section in SECTIONS:
        lines += section(doc)
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the library entries of proofs/
@dataclass(frozen=True)
class GraphEntry:
    """One graph result of ``proofs/``: a file name, a one-line title, and how to analyze it."""

    name: str
    title: str
    analysis: Callable[[], Any]


def _example(factory: str, input_shape: tuple[int, ...], loss: str, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        from . import analyze_module, examples

        return analyze_module(getattr(examples, factory)(**kwargs), loss=loss, input_shape=input_shape)

    return run


def graph_library() -> tuple[GraphEntry, ...]:
    """The example modules of :mod:`symderiv.graph.examples` rendered into ``proofs/`` (needs torch to run)."""
    return (
        GraphEntry("graph_lora_B_zero", "LoRA with B = 0: B moves at step 1, A at step 2",
                   _example("LoRA", (3,), "mse", zero="B")),
        GraphEntry("graph_lora_A_zero", "LoRA with A = 0: A moves at step 1, B at step 2",
                   _example("LoRA", (3,), "mse", zero="A")),
        GraphEntry("graph_lora_AB_zero", "LoRA with A = B = 0: the adapter never learns",
                   _example("LoRA", (3,), "mse", zero="AB")),
        GraphEntry("graph_controlnet_zero_convs", "ControlNet block with two zero convolutions",
                   _example("ControlNetBlock", (4, 3), "mse")),
        GraphEntry("graph_rezero", "ReZero: alpha = 0 moves first, the branch one step later",
                   _example("ReZero", (3,), "mse")),
        GraphEntry("graph_layernorm_zero_gamma", "Zero-gamma LayerNorm residual",
                   _example("ZeroGammaLNResidual", (3,), "mse")),
        GraphEntry("graph_attention_zero_qk", "Attention with zero query and key projections: they never move",
                   _example("Attention", (2, 3), "mse", zero="qk")),
        GraphEntry("graph_attention_zero_q", "Attention with a zero query projection: query at step 1, key at step 2",
                   _example("Attention", (2, 3), "mse", zero="q")),
        GraphEntry("graph_constant_conv1d", "Constant-init Conv1d: filters stay tied, the conv waits one step",
                   _example("ConstantConv", (1, 4), "ce")),
    )
