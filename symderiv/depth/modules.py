"""The members of a ReZero family as PyTorch modules (imports torch).

``ReZeroStack(d, L)``: ``x ← x + α_l · (W2_l f(W1_l x + b1_l) + b2_l)`` for ``l = 1 … L``, every ``α_l = 0``,
the branch weights PyTorch's default (random, generic) init from a seeded generator.  Parameter names:
``blocks.{l}.f1.weight``, ``blocks.{l}.f1.bias``, ``blocks.{l}.f2.weight``, ``blocks.{l}.f2.bias`` and
``alpha.{l}`` (0-based ``l``, as ``named_parameters()`` writes them).
"""
from __future__ import annotations

from typing import Callable, cast

import torch
from torch import nn

__all__ = ["ReZeroStack", "TORCH_ACTIVATIONS"]

#: the branch activations of a ReZero member, by symderiv registry name
TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": nn.functional.softplus,
                     "gelu": nn.functional.gelu, "silu": nn.functional.silu, "identity": lambda t: t}


class ReZeroStack(nn.Module):
    f: Callable[[torch.Tensor], torch.Tensor]

    def __init__(self, d: int, L: int, activation: str = "tanh", seed: int = 0):
        super().__init__()
        if activation not in TORCH_ACTIVATIONS:
            from ..errors import UnsupportedError

            raise UnsupportedError(f"activation {activation!r} has no PyTorch counterpart here; "
                                   f"accepted: {', '.join(sorted(TORCH_ACTIVATIONS))}")
        generator = torch.Generator().manual_seed(seed)
        self.f = TORCH_ACTIVATIONS[activation]
        self.blocks = nn.ModuleList([nn.ModuleDict({"f1": nn.Linear(d, d), "f2": nn.Linear(d, d)}) for _ in range(L)])
        with torch.no_grad():  # seeded, so that the same (d, L, seed) is the same module
            for p in self.blocks.parameters():
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / d ** 0.5)
        self.alpha = nn.ParameterList([nn.Parameter(torch.zeros(1)) for _ in range(L)])

    def forward(self, x):
        for block, a in zip(self.blocks, self.alpha):
            branch = cast(nn.ModuleDict, block)
            x = x + a * branch["f2"](self.f(branch["f1"](x)))
        return x
