"""Small PyTorch modules of the standard "zero-init beyond the chain" designs (imports torch).

Each is an ordinary ``nn.Module`` with a custom ``forward``; the tests and benchmarks analyze
them with :func:`symderiv.graph.analyze_module` and replay real ``torch.optim`` trajectories.

* :class:`LoRA` - ``y = W0 x + B A x``, ``W0`` frozen; ``zero`` in ``"B"``, ``"A"``, ``"AB"``;
* :class:`ControlNetBlock` - frozen conv block, a trainable copy fed through an input zero
  conv and read out through an output zero conv, added to the frozen output;
* :class:`ReZero` - ``x + alpha·F(x)`` with ``alpha = 0``;
* :class:`ZeroGammaLNResidual` - ``x + LN(W x)`` with ``gamma = beta = 0``;
* :class:`Attention` - single-head self-attention ``o(softmax(q kᵀ/√d) v)`` with zeroed ``q``/``k``;
* :class:`ConstantConv` - constant-init ``Conv1d`` → tanh → flatten → constant ``Linear``;
* :class:`ResidualMLP` - ``h + W2 tanh(W1 h + b1) + b2`` blocks between an input and a head layer,
  every weight and bias one constant (the width-independence benchmark of issue #9).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["LoRA", "ControlNetBlock", "ReZero", "ZeroGammaLNResidual", "Attention", "ConstantConv", "ResidualMLP"]


class LoRA(nn.Module):
    def __init__(self, d: int = 3, r: int = 2, zero: str = "B", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.base = nn.Linear(d, d, bias=False)
        self.base.weight.requires_grad_(False)
        self.lora_A = nn.Linear(d, r, bias=False)
        self.lora_B = nn.Linear(r, d, bias=False)
        with torch.no_grad():
            if "A" in zero:
                self.lora_A.weight.zero_()
            if "B" in zero:
                self.lora_B.weight.zero_()

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))


class ControlNetBlock(nn.Module):
    """Input ``(2·c, L)``: the first ``c`` channels are the features, the last ``c`` the condition."""

    def __init__(self, c: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.c = c
        self.base = nn.Sequential(nn.Conv1d(c, c, 3, padding=1), nn.Tanh())
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.copy = copy.deepcopy(self.base)
        for p in self.copy.parameters():
            p.requires_grad_(True)
        self.zero_in = nn.Conv1d(c, c, 1)
        self.zero_out = nn.Conv1d(c, c, 1)
        for m in (self.zero_in, self.zero_out):
            nn.init.zeros_(m.weight)
            if m.bias is not None:  # always there (bias=True); typed Optional
                nn.init.zeros_(m.bias)

    def forward(self, x):
        h, cond = x[:, : self.c], x[:, self.c:]
        return self.base(h) + self.zero_out(self.copy(h + self.zero_in(cond)))


class ReZero(nn.Module):
    def __init__(self, d: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.f1 = nn.Linear(d, d)
        self.f2 = nn.Linear(d, d)
        self.alpha = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.alpha * self.f2(torch.tanh(self.f1(x)))


class ZeroGammaLNResidual(nn.Module):
    def __init__(self, d: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        with torch.no_grad():
            self.norm.weight.zero_()
            self.norm.bias.zero_()

    def forward(self, x):
        return x + self.norm(self.linear(x))


class Attention(nn.Module):
    """Single-head self-attention on ``(tokens, d)``; ``zero`` names the projections set to 0."""

    def __init__(self, d: int = 3, zero: str = "qk", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.d = d
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        with torch.no_grad():
            for name in zero:
                getattr(self, name).weight.zero_()

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(-2, -1) / math.sqrt(self.d)
        return self.o(torch.softmax(scores, dim=-1) @ self.v(x))


class ConstantConv(nn.Module):
    """Input ``(1, L)``; ``channels`` filters of width ``k``, every weight and bias a constant."""

    def __init__(self, length: int = 4, channels: int = 2, k: int = 2, classes: int = 3, value: float = 0.25):
        super().__init__()
        self.conv = nn.Conv1d(1, channels, k)
        self.head = nn.Linear(channels * (length - k + 1), classes)
        with torch.no_grad():
            for p in self.parameters():
                p.fill_(value)

    def forward(self, x):
        return self.head(torch.flatten(torch.tanh(self.conv(x)), 1))


class ResidualMLP(nn.Module):
    """Input ``(d_in,)``; ``blocks`` residual blocks of width ``width``; ``classes`` outputs; constant init."""

    def __init__(self, d_in: int = 4, width: int = 3, blocks: int = 2, classes: int = 3, value: float = 0.1):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
                                     for _ in range(blocks)])
        self.head = nn.Linear(width, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.fill_(value)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)
