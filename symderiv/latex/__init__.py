"""LaTeX: symderiv's notation for SymPy expressions, and proof documents.

* :func:`latex` / :class:`SymderivLatexPrinter`: ``W1_2_3`` prints as ``W^{(1)}_{2,3}``;
* :func:`proof_document`: a standalone LaTeX document proving what an analysis found: the result in
  its first lines (a ``% headline:`` comment and the **Result** under the title), the theorem in
  general form, the lemmas, one proof by block, and an appendix with closed forms and exact
  certificates (modules ``context``, ``setting``, ``statements``, ``appendix``, ``certificates``);
* :func:`analysis_latex`: a short LaTeX summary (for notebooks' ``_repr_latex_``).
"""
from .document import analysis_latex, proof_document
from .printer import SymderivLatexPrinter, latex

__all__ = ["SymderivLatexPrinter", "latex", "proof_document", "analysis_latex"]
