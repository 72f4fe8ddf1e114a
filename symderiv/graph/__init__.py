"""Beyond the chain: small PyTorch modules, traced with ``torch.fx``, analyzed with the guarantees
of :mod:`symderiv.prover` (zeros and ties proved, moves certified, undecided never claimed).

* :mod:`.ir` - the typed graph (input, parameters, ops, loss);
* :mod:`.ops` - one forward and one VJP rule per op (a registry);
* :mod:`.engine` - the entry-level forward and reversed δ pass;
* :mod:`.torch_fx` - ``nn.Module`` -> graph (imports torch);
* :mod:`.prover`, :mod:`.analysis` - the relaxation, first moves, witnesses, and the faces.

Public entry: :func:`analyze_module` (imports torch on first use).
"""
from .analysis import GraphAnalysis, analyze_graph
from .engine import GraphPass, backprop
from .ir import Graph, Node, ParamSpec

__all__ = ["Graph", "Node", "ParamSpec", "GraphPass", "backprop", "GraphAnalysis", "analyze_graph",
           "analyze_module", "graph_from_module"]


def analyze_module(module, *, loss, input_shape, values="generic", seed=0, optimizer_class="coordinatewise",
                   seconds=5.0):
    """See :func:`symderiv.graph.analysis.analyze_module`."""
    from .analysis import analyze_module as _analyze

    return _analyze(module, loss=loss, input_shape=input_shape, values=values, seed=seed,
                    optimizer_class=optimizer_class, seconds=seconds)


def graph_from_module(module, input_shape, loss):
    """See :func:`symderiv.graph.torch_fx.graph_from_module`."""
    from .torch_fx import graph_from_module as _from

    return _from(module, input_shape, loss)
