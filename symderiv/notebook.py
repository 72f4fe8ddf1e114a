"""Notebook display: formatted mathematics for symderiv's results in Jupyter.

* :func:`notebook` - SymPy's ``init_printing`` with symderiv's LaTeX printer, so that
  expressions in output cells show ``W1_2_3`` as :math:`W^{(1)}_{2,3}`, ``x_1`` as
  :math:`x_{1}` and the prover's class symbols as :math:`w^{(2)}`, :math:`\\theta_{4}`;
* the ``_repr_html_`` / ``_repr_latex_`` methods of :class:`~symderiv.analysis.Analysis`,
  :class:`~symderiv.engine.Derivation`, :class:`~symderiv.verify.VerifyReport` and
  :class:`~symderiv.graph.analysis.GraphAnalysis` call the helpers here: the summary as an
  itemized list and a few key closed forms, printed by :func:`symderiv.latex.latex`.

Closed forms are shown only while short (:data:`MAX_SHOWN_TEX` characters of LaTeX); the
rest of the result is one ``print(...)`` or ``.to_latex()`` away.
"""
from __future__ import annotations

import html
from typing import Any, Iterable

import sympy as sp

from .errors import SymderivError
from .faces import register_face
from .latex.printer import latex

__all__ = ["notebook", "summary_html", "analysis_html", "derivation_latex", "report_html"]

#: closed forms longer than this (characters of LaTeX) are not shown in a notebook cell
MAX_SHOWN_TEX = 600
#: entries of a gradient matrix shown as a matrix at most (larger: per block)
MAX_SHOWN_ENTRIES = 36


def notebook(**settings: Any) -> None:
    """Make SymPy print with symderiv's notation in Jupyter (``W^{(1)}_{2,3}``, not ``W_{1 2 3}``).

    Calls :func:`sympy.init_printing` with :func:`symderiv.latex.latex` as the LaTeX printer;
    ``settings`` are passed on (e.g. ``use_unicode=False``)."""
    settings.setdefault("use_latex", "mathjax")
    sp.init_printing(latex_printer=latex, **settings)


def _tex_or_none(expr: Any) -> str | None:
    try:
        text = latex(expr)
    except Exception:  # a display helper must never break a cell: the text form is printed instead
        return None
    return text if len(text) <= MAX_SHOWN_TEX else None


def summary_html(title: str, lines: Iterable[str], formulas: Iterable[tuple[str, str]] = ()) -> str:
    """``<b>title</b>`` over an itemized list of ``lines`` (escaped) and ``(label, LaTeX)`` formulas."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines if line.strip())
    shown = "".join(f"<li>{html.escape(label)}: $\\displaystyle {tex}$</li>" for label, tex in formulas)
    out = f"<div class=\"symderiv\"><b>{html.escape(title)}</b><ul>{items}</ul>"
    if shown:
        out += f"<i>Closed forms at the init (data symbolic):</i><ul>{shown}</ul>"
    return out + "</div>"


def analysis_html(analysis: Any) -> str:
    """The summary of an :class:`~symderiv.analysis.Analysis` as an itemized list, and the gradient
    of the first entry of every learning last-layer parameter at the init."""
    lines = analysis.summary().splitlines()
    formulas = []
    net = analysis.net
    if not net.is_symbolic:
        for name in (f"W{net.depth}", f"b{net.depth}"):
            if name not in net.parameter_names():
                continue
            index = (0,) * len(net.shape(name))
            try:
                if analysis.stays_zero(name, index):
                    continue
                tex = _tex_or_none(analysis.gradient_at_init(name, index))
            except SymderivError:
                tex = None
            if tex is not None:
                kind, l = name[0], name[1:]
                sub = ",".join("1" for _ in index)
                formulas.append((f"∂ℓ/∂{name}[{sub}]", rf"\frac{{\partial \ell}}{{\partial {kind}^{{({l})}}_{{{sub}}}}} = {tex}"))
    return summary_html(lines[0], lines[1:], formulas)


def derivation_latex(d: Any) -> str:
    """The gradients of a :class:`~symderiv.engine.Derivation`, one display line per parameter
    (a matrix when small, else one closed form per block; omitted when too long to read)."""
    rows = []
    for name in d.net.parameter_names():
        kind, l = name[0], name[1:]
        head = rf"\frac{{\partial \ell}}{{\partial {kind}^{{({l})}}}}"
        g = d[name]
        if isinstance(g, sp.MatrixBase) and len(g) <= MAX_SHOWN_ENTRIES:
            tex = _tex_or_none(g)
            rows.append(f"{head} = {tex}" if tex else rf"{head}: \text{{too long to show; print(d['{name}'])}}")
            continue
        forms = g.block_forms() if hasattr(g, "block_forms") else []
        for label, expr in forms[:4]:
            tex = _tex_or_none(expr)
            rows.append(rf"{head}\big|_{{\text{{{label}}}}} = {tex}" if tex else
                        rf"{head}\big|_{{\text{{{label}}}}}: \text{{too long to show}}")
        if len(forms) > 4:
            rows.append(rf"\text{{… {len(forms) - 4} more blocks of }} {head}")
    return "$$\\begin{array}{l}\n" + " \\\\[4pt]\n".join(rows) + "\n\\end{array}$$"


def report_html(report: Any) -> str:
    """A :class:`~symderiv.verify.VerifyReport` as a table: check, subject, ok, largest error, detail."""
    head = "<tr><th>check</th><th>subject</th><th>result</th><th>max error</th><th>detail</th></tr>"
    rows = []
    for c in report.checks:
        mark = "ok" if c.ok else "<b style=\"color:#b2182b\">FAILED</b>"
        detail = c.detail + (f" [{c.offending}]" if c.offending and not c.ok else "")
        rows.append(f"<tr><td>{html.escape(c.kind)}</td><td>{html.escape(c.subject)}</td><td>{mark}</td>"
                    f"<td>{c.max_error:.2e}</td><td>{html.escape(detail)}</td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    title = f"verify: {'OK' if report.ok else 'FAILED'} ({len(report.checks)} checks)"
    return (f"<div class=\"symderiv\"><b>{html.escape(title)}</b><table>{head}{''.join(rows)}</table>"
            + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


register_face("html", analysis_html)  # Analysis._repr_html_
