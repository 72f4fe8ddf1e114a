"""Helper of the export test files: the graph engine's closed-form gradients of an exported module against
torch autograd on the same float64 module and the same random example (token ids included)."""
from __future__ import annotations

import copy

import numpy as np


def assert_export_matches_autograd(module, input_shape, loss: str = "mse", *, forward_kwargs=None, output=None,
                                   rtol: float = 1e-9, seed: int = 3, nonzero: bool = True):
    """Convert ``module`` through torch.export, draw one example, and compare every parameter's gradient entry by
    entry; with ``nonzero``, also assert some gradient is nonzero (a comparison of zeros proves nothing).
    Returns the graph."""
    import torch

    from symderiv.graph.export import graph_from_export
    from symderiv.graph.replay import engine_gradients, example_batch, example_data, run_module, torch_loss

    graph = graph_from_export(module, input_shape, loss, forward_kwargs=forward_kwargs, output=output)
    gen = torch.Generator().manual_seed(seed)
    x, y = example_batch(graph, 1, gen)
    model = copy.deepcopy(module).double()
    model.zero_grad()
    torch_loss(loss)(run_module(graph, model, x), y).backward()
    data = example_data(graph, x, 0)
    ours = engine_gradients(graph, model, data if len(data) > 1 else data[0], y[0].numpy())
    named = dict(model.named_parameters())
    for name in graph.trainable():
        ref = named[name].grad
        ref = np.zeros(graph.params[name].shape) if ref is None else ref.numpy()
        assert np.allclose(ours[name], ref, rtol=rtol, atol=1e-12), (name, ours[name], ref)
    if nonzero:
        assert any(np.any(named[n].grad.numpy() != 0) for n in graph.trainable() if named[n].grad is not None)
    return graph
