"""Helpers of the graph test files: a module from a forward function, and the graph engine against torch
autograd on the same module."""
from __future__ import annotations

import numpy as np


def wrap(fn, *mods):
    """An ``nn.Module`` whose forward is ``fn(self, x)``, holding ``mods`` as ``self.mods``."""
    from torch import nn

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fn = fn
            self.mods = nn.ModuleList(mods)

        def forward(self, x):
            return self.fn(self, x)

    return Wrap()


def assert_engine_matches_autograd(module, input_shape, loss: str, *, rtol: float = 1e-9, seed: int = 3) -> None:
    """Convert ``module`` (float64), draw one random example, and compare the engine's closed-form
    gradients with torch autograd entry by entry; also assert the gradients are not all zero (a
    comparison between zeros would prove nothing)."""
    import torch

    from symderiv.graph import graph_from_module
    from symderiv.graph.replay import call_module, engine_gradients, graph_input_shape, random_batch, torch_loss

    graph = graph_from_module(module, input_shape, loss)
    gen = torch.Generator().manual_seed(seed)
    x, y = random_batch(loss, graph_input_shape(graph), graph.nodes[graph.output].shape, 1, gen)
    module.zero_grad()
    torch_loss(loss)(call_module(module, x), y).backward()
    xs = [t[0].numpy() for t in x] if isinstance(x, tuple) else x[0].numpy()
    ours = engine_gradients(graph, module, xs, y[0].numpy())
    for name, p in module.named_parameters():
        assert np.allclose(ours[name], p.grad.numpy(), rtol=rtol, atol=1e-12), name
        assert np.any(p.grad.numpy() != 0), name
