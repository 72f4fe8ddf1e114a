"""Every depth at once: families of networks with a symbolic number ``L`` of identical blocks, and
statements proved for every ``L`` by induction on the layer recursion (docs/theory.md §11).

    >>> import symderiv as sd
    >>> fam = sd.depth.mlp_family(n_in=4, width="n", depth="L", n_out=3, activation="sigmoid")
    >>> a = sd.depth.analyze_depth(fam, sd.zeros())
    >>> a.at(1000).first_move_step("W1")        # the zero front: L − l + 1
    1000

* :mod:`.family` - :func:`mlp_family` (``n_in → L − 1 hidden layers of width n → n_out``, ``L ≥ 2``) and
  :func:`rezero_family` (``L`` ReZero blocks with ``α = 0``); inits per role (``first``, ``hidden``, ``last``);
* :mod:`.window` - one generic block with symbolic neighbour states, run by the engines;
* :mod:`.checks` - sound, bounded decisions about a window's closed forms;
* :mod:`.induction` - the induction schemas (fixed point, front, constant, zero last layer, ReZero);
  a family no schema covers is undecided;
* :mod:`.analysis` - :func:`analyze_depth` and :class:`DepthAnalysis` (summary, JSON, :meth:`~DepthAnalysis.at`);
* :mod:`.member` - :func:`analyze_member`: a concrete ``mlp([n_in, n, …, n, n_out])`` read as a member of its
  family (a 1000-layer network answered from the statement for every depth);
* :mod:`.latex` - the proof by induction as a LaTeX document;
* :mod:`.verify` - the statement against concrete analyses and PyTorch runs at several depths.
"""
from .analysis import DepthAnalysis, MemberStatement, analyze_depth
from .family import MLPFamily, ReZeroFamily, mlp_family, rezero_family
from .member import analyze_member, family_of
from .statement import DepthTheorem, EngineCheck, LayerFact

__all__ = ["DepthAnalysis", "MemberStatement", "analyze_depth", "MLPFamily", "ReZeroFamily", "mlp_family",
           "rezero_family", "DepthTheorem", "EngineCheck", "LayerFact", "analyze_member", "family_of"]
