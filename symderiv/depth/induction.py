"""Statements for every depth, proved by induction on the layer recursion (docs/theory.md §11).

Every hidden block of a family is the same, so one layer transfer computed by the engine on a window
(:mod:`symderiv.depth.window`) holds at every position ``l`` of every member.  An *induction schema*
(:data:`SCHEMAS`, one entry per shape of argument) states which checks its base case and inductive step
need; it applies only when every check it rests on holds, and otherwise the family is *undecided*
(nothing is extrapolated from concrete depths):

* ``fixed_point`` - zero init with ``f(0) = 0``: the zero state ``h = 0, δ = 0`` reproduces itself under
  the transfer (induction over ``l``), so the subspace "every weight and hidden bias 0" is invariant;
* ``front`` - zero init with ``f(0) ≠ 0 ≠ f'(0)``: on ``A_t`` exactly the top ``t`` layers are free and
  ``δ^(L−t) ≢ 0``, ``δ^(l) ≡ 0`` below (induction over ``t`` with ``l`` as a parameter): ``W^(l)`` first
  moves at step ``L − l + 1``;
* ``constant`` - constant init: identical units (docs/theory.md §4) and the first moves, all at once;
* ``zero_last`` - generic first and hidden layers under a zero last layer;
* ``rezero`` (:func:`prove_rezero`) - a stack of ReZero blocks with ``α = 0``: the residual stream is a
  fixed point of the block transfer.

Non-vanishing ("the gradient is not identically zero on ``A_t``") uses two facts about real-analytic
functions on a connected domain (the activations must be analytic, :func:`~symderiv.depth.checks.analytic`):
a product of functions that are not identically zero is not identically zero, and a function that is
not identically zero on a subset (``u = 0``) is not identically zero (with ``u·G``: by continuity).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..init import Constant, Generic, Zeros
from ..engine import input_symbols
from .checks import analytic, identity, nonzero_at, nonzero_number, structural_zero
from .family import FamilyInit, MLPFamily, ReZeroFamily
from .statement import (ELL, TIGHT_CONCRETE, TIGHT_EVERY_DEPTH, DepthTheorem, EngineCheck, InductionStep,
                        LayerFact, renamed)
from . import window as win

__all__ = ["Context", "SCHEMAS", "prove_family", "prove_rezero"]

_Z = sp.Symbol("z", real=True)


@dataclass(frozen=True)
class Context:
    """A family, its init and the activation's exact values at 0."""

    family: MLPFamily
    init: FamilyInit
    f0: sp.Expr
    d0: sp.Expr
    is_analytic: bool

    @property
    def L(self) -> sp.Symbol:
        return self.family.depth

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("W", "b") if self.family.bias else ("W",)

    def all_roles(self, cls: type) -> bool:
        return all(isinstance(self.init.of(r), cls) for r in ("first", "hidden", "last"))


def _context(family: MLPFamily, init: FamilyInit) -> Context:
    act = family.activation
    return Context(family, init, sp.sympify(act(sp.Integer(0)), strict=True), sp.sympify(act.derivative(sp.Integer(0)), strict=True),
                   not act.is_kinked and analytic(act.derivative(_Z)))


def _value(spec) -> sp.Expr:
    return sp.Integer(0) if isinstance(spec, Zeros) else spec.value


def _label_dependence(ctx: Context, cid: str, vs, bs, h_value) -> list[EngineCheck]:
    """``δ^(L)`` depends on the labels (``∂δ_1/∂y_1`` a nonzero number): not identically zero, for every depth
    (labels are independent of everything below); and ``∂ℓ/∂W^(L)_{k·} = δ^(L)_k · h^(L−1)``."""
    fam = ctx.family
    out = win.output_block(fam, vs, bs)
    y1 = out["labels"][0] if out["labels"] else sp.Symbol("y_1", real=True)
    checks = [nonzero_number(cid + "a", "the output delta depends on the label: ∂δ^(L)_1/∂y_1 is a nonzero number, "
                                       "so δ^(L) is not identically zero at any depth",
                             sp.diff(out["delta"][0], y1), "∂δ^(L)_1/∂y_1"),
              identity(cid + "b", "the gradient of an output-layer entry is δ^(L)_k · h^(L−1)",
                       out["grad_w"][0], out["delta"][0] * win.H, "∂ℓ/∂W^(L)_{1,j}")]
    if h_value is not None:
        checks.append(nonzero_number(cid + "c", "the hidden state below the output layer is the nonzero constant f(0)",
                                     h_value, "h^(L−1) = f(0)"))
    return checks


# ---------------------------------------------------------------- (a) fixed point: zero init, f(0) = 0
def _fixed_point(ctx: Context) -> DepthTheorem:
    fam, L, n_in, K = ctx.family, ctx.L, ctx.family.n_in, ctx.family.n_out
    zero, zeros_in, zeros_out = sp.Integer(0), [sp.Integer(0)] * n_in, [sp.Integer(0)] * K
    fb = win.first_block(fam, zeros_in, zero, up=win.U)
    hb = win.hidden_block(fam, zero, zero, up=win.U)
    hb0 = win.hidden_block(fam, zero, zero, up=zero)
    fb0 = win.first_block(fam, zeros_in, zero, up=zero)
    ho = win.hidden_block(fam, zero, zero, above="output", up=zeros_out)
    fo = win.first_block(fam, zeros_in, zero, above="output", up=zeros_out)
    beta = [sp.Symbol(f"beta_{k}", real=True) for k in range(1, K + 1)]
    out = win.output_block(fam, zeros_out, beta)
    checks = [
        structural_zero("A1", "first block with zero entries: h^(1) = f(0) = 0 for every input x", [fb.h],
                        [fb.z, fb.h]),
        structural_zero("A2", "hidden block with zero entries: h^(l) = 0 whatever h^(l−1) (the zero state is a fixed "
                              "point of the forward transfer)", [hb.h], [hb.z, hb.h]),
        structural_zero("A3", "hidden block under a zero block: δ^(l) = 0 and zero gradients, whatever δ^(l+1)",
                        [hb0.delta, *hb0.grad_w] + ([hb0.grad_b] if fam.bias else [])),
        structural_zero("A4", "first block under a zero block: δ^(1) = 0 and zero gradients",
                        [fb0.delta, *fb0.grad_w] + ([fb0.grad_b] if fam.bias else [])),
        structural_zero("A5", "block under the zero output layer: δ^(L−1) = 0 whatever δ^(L) (hidden and, for "
                              "L = 2, first block)", [ho.delta, fo.delta]),
        structural_zero("A6", "output layer over h^(L−1) = 0: ∂ℓ/∂W^(L) = δ^(L)·h^(L−1) = 0",
                        [g.xreplace({win.H: 0}) for g in out["grad_w"]]),
    ]
    if fam.bias:
        y1 = out["labels"][0] if out["labels"] else sp.Symbol("y_1", real=True)
        checks.append(nonzero_number("A7", "the output bias's gradient δ^(L)_1 depends on the label (∂δ_1/∂y_1 ≠ 0): "
                                           "b^(L) moves at step 1 at every depth", sp.diff(out["grad_b"][0], y1),
                                     "∂(∂ℓ/∂b^(L)_1)/∂y_1"))
    facts = [LayerFact(("W",), sp.Integer(1), L, True, None)]
    if fam.bias:
        facts += [LayerFact(("b",), sp.Integer(1), L - 1, True, None),
                  LayerFact(("b",), L, L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH)]
    V = "V = {every W^(l) = 0" + (", b^(l) = 0 for l ≤ L − 1, b^(L) free}" if fam.bias else "}")
    steps = [
        InductionStep("lemma", "Layer transfer of the zero state",
                      "On a block whose entries are 0: h^(l) = f(0) = 0 whatever h^(l−1) (A2); under a block whose "
                      "entries are 0, δ^(l) = 0 whatever δ^(l+1), and the block's gradients vanish (A3).",
                      ("A2", "A3")),
        InductionStep("base", "Base case (the boundary blocks)",
                      "Forward: h^(1) = 0 for every input (A1). Backward: δ^(L−1) = 0 under the zero output layer (A5), "
                      "and the first block's gradients vanish under a zero block (A4).", ("A1", "A4", "A5")),
        InductionStep("step", "Inductive step (over l)",
                      "If h^(l−1) = 0 then h^(l) = 0 (A2); if δ^(l+1) = 0, or the block above is 0, then δ^(l) = 0 and "
                      "∂ℓ/∂W^(l) = δ^(l) h^(l−1)ᵀ = 0, ∂ℓ/∂b^(l) = δ^(l) = 0 (A3, A4). By induction every hidden h and δ "
                      "is 0 on " + V + ", and ∂ℓ/∂W^(L) = δ^(L) h^(L−1)ᵀ = 0 (A6): every per-example gradient lies in "
                      "V, so V is invariant (invariance lemma) for every depth L ≥ 2." +
                      (" The output bias's gradient δ^(L) does not depend on L and is not identically 0 (A7): b^(L) "
                       "moves at step 1." if fam.bias else " Nothing learns."),
                      ("A2", "A3", "A4", "A6") + (("A7",) if fam.bias else ())),
    ]
    head = (f"For every depth {L} ≥ 2, every weight and every hidden bias stays exactly 0 forever; "
            + ("only b^(L) learns (it moves at step 1)" if fam.bias else "nothing learns"))
    return DepthTheorem("fixed_point", "fixed point", "l", facts, True, checks, steps, head)


def _fixed_point_applies(ctx: Context) -> bool:
    return ctx.all_roles(Zeros) and ctx.f0 == 0


# ---------------------------------------------------------------- (b) front: zero init, f(0) ≠ 0 ≠ f'(0)
def _front(ctx: Context) -> DepthTheorem:
    fam, L, n_in, K, n = ctx.family, ctx.L, ctx.family.n_in, ctx.family.n_out, ctx.family.width
    zero, zeros_in, zeros_out = sp.Integer(0), [sp.Integer(0)] * n_in, [sp.Integer(0)] * K
    fb, hb = win.first_block(fam, zeros_in, zero, up=win.U), win.hidden_block(fam, zero, zero, up=win.U)
    hb0, fb0 = win.hidden_block(fam, zero, zero, up=zero), win.first_block(fam, zeros_in, zero, up=zero)
    ho, fo = win.hidden_block(fam, zero, zero, above="output"), win.first_block(fam, zeros_in, zero, above="output")
    ho0 = win.hidden_block(fam, zero, zero, above="output", up=zeros_out)
    fo0 = win.first_block(fam, zeros_in, zero, above="output", up=zeros_out)
    x1 = input_symbols(n_in)[0]
    vs, ds = win.output_columns(K), win.output_deltas(K)
    sum_vd = sp.Add(*[v * d for v, d in zip(vs, ds)])
    checks = [
        nonzero_number("B1", "f(0) ≠ 0", ctx.f0, "f(0)"),
        nonzero_number("B2", "f'(0) ≠ 0", ctx.d0, "f'(0)"),
        identity("B3", "a block frozen at 0 computes z^(l) = 0 and h^(l) = f(0) whatever h^(l−1) (hidden block)",
                 hb.h, ctx.f0, "h^(l)"),
        identity("B4", "the first block frozen at 0: h^(1) = f(0) for every input", fb.h, ctx.f0, "h^(1)"),
        structural_zero("B5", "a block under a frozen (zero) block: δ^(l) = 0 and zero gradients, whatever δ^(l+1) "
                              "(hidden, first, and under the frozen output layer)",
                        [hb0.delta, fb0.delta, ho0.delta, fo0.delta, *hb0.grad_w, *fb0.grad_w]),
        identity("B6", "a frozen block under a free hidden block with entries u: δ^(l) = f'(0)·n·u·δ^(l+1)",
                 hb.delta, ctx.d0 * n * win.U * win.D, "δ^(l)"),
        identity("B7", "a frozen block under the free output layer with columns v_k: δ^(L−1) = f'(0)·Σ_k v_k δ^(L)_k",
                 ho.delta, ctx.d0 * sum_vd, "δ^(L−1)"),
        identity("B8", "the first block the same way: δ^(1) = f'(0)·n·u·δ^(2) (and f'(0)·Σ_k v_k δ^(L)_k for L = 2)",
                 fb.delta + fo.delta, ctx.d0 * n * win.U * win.D + ctx.d0 * sum_vd, "δ^(1)"),
        identity("B9", "gradients: ∂ℓ/∂W^(l) = δ^(l)·h^(l−1) with h^(l−1) = f(0) (hidden) or x (first block)",
                 hb.grad_w[0] + fb.grad_w[0], hb.delta * win.H + fb.delta * x1, "∂ℓ/∂W^(l) + ∂ℓ/∂W^(1)_{·,1}"),
    ] + _label_dependence(ctx, "B10", zeros_out, zeros_out, ctx.f0)
    lm = L - ELL + 1
    kinds = ctx.kinds
    facts = [LayerFact(kinds, L, L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH),
             LayerFact(kinds, sp.Integer(1), L - 1, False, lm, True, TIGHT_CONCRETE)]
    steps = [
        InductionStep("lemma", "Layer transfer on the reachable sets A_t",
                      "A block frozen at 0 outputs h = f(0) whatever it receives (B3, B4). Under a frozen block δ = 0 "
                      "(B5). Under a free block with entries u, δ^(l) = f'(0)·n·u·δ^(l+1) (B6; B7 under the output "
                      "layer, B8 for the first block), and ∂ℓ/∂W^(l) = δ^(l)·h^(l−1) with h^(l−1) = f(0) ≠ 0 or x (B9).",
                      ("B3", "B4", "B5", "B6", "B7", "B8", "B9")),
        InductionStep("base", "Base case t = 0",
                      "On A_0 every block is frozen at 0. δ^(L) is not identically 0 (B10a) and ∂ℓ/∂W^(L) = "
                      "δ^(L)·f(0) (B10b, B10c): W^(L) and b^(L) leave at step 1, at every depth (the gradient at the "
                      "init does not depend on L). δ^(L−1) = 0 under the frozen output layer and δ^(l) = 0 below it (B5).",
                      ("B10a", "B10b", "B10c", "B5")),
        InductionStep("step", "Inductive step t → t + 1 (l a parameter)",
                      "Hypothesis H(t): on A_t (blocks l ≤ L − t frozen at 0, the others free) δ^(L−t) is not "
                      "identically 0 and δ^(l) ≡ 0 for l < L − t. On A_{t+1} the block L − t is free: "
                      "δ^(L−t−1) = f'(0)·n·u·δ^(L−t) (B6, B7, B8) with f'(0)·n ≠ 0 (B2); δ^(L−t) is not identically 0 "
                      "on the subset u = 0 (that is A_t, by H(t)), so u·δ^(L−t) is not identically 0 (continuity), "
                      "and δ^(l) ≡ 0 for l < L − t − 1 (B5): H(t+1). With B9 the gradient of W^(l), b^(l) is ≡ 0 on "
                      "A_t for l < L − t and not identically 0 for l = L − t: W^(l) leaves the first-move iteration at "
                      "step t + 1 = L − l + 1.", ("B2", "B5", "B6", "B7", "B8", "B9")),
    ]
    head = (f"For every depth {L} ≥ 2, W^(l) and b^(l) are unchanged before step {L} − l + 1 and step {L} − l + 1 is "
            f"the first at which an update can change them (the zero front moves back one layer per step); every "
            f"hidden layer's {n} units stay identical")
    return DepthTheorem("front", "front", "t", facts, True, checks, steps, head)


def _front_applies(ctx: Context) -> bool:
    return ctx.all_roles(Zeros) and ctx.f0 != 0 and ctx.is_analytic


# ---------------------------------------------------------------- (c) constant init, and (d) its specialization
def _constant_checks(ctx: Context, c1: sp.Expr, c: sp.Expr, cL: sp.Expr, prefix: str) -> tuple[list[EngineCheck], bool]:
    """The constant-init transfer (first block at ``c1``, hidden at ``c``, output at ``cL``); also whether the
    loss's δ^(L) sums to 0 structurally (then the hidden layers get no gradient at the init)."""
    fam, K, n = ctx.family, ctx.family.n_out, ctx.family.width
    x = input_symbols(fam.n_in)
    fb = win.first_block(fam, [c1] * fam.n_in, c1, up=win.U)
    hb = win.hidden_block(fam, c, c, up=win.U)
    ho = win.hidden_block(fam, c, c, above="output")
    vs, ds = win.output_columns(K), win.output_deltas(K)
    out = win.output_block(fam, [cL] * K, [cL] * K)
    cancels = sp.Add(*out["delta"]) == 0
    act = fam.activation
    checks = [
        nonzero_number(prefix + "1", "f'(0) ≠ 0: f is not constant (and analytic), so f' is not identically 0",
                       ctx.d0, "f'(0)"),
        identity(prefix + "2", "first block: ∂z^(1)/∂x_1 = c_1, so z^(1) is a non-constant function of the data",
                 sp.diff(fb.z, x[0]), c1, "∂z^(1)/∂x_1"),
        identity(prefix + "3", "hidden block: ∂z^(l)/∂h^(l−1) = n·c, so z^(l) is non-constant when h^(l−1) is",
                 sp.diff(hb.z, win.H), n * c, "∂z^(l)/∂h^(l−1)"),
        identity(prefix + "4", "hidden block: δ^(l) = f'(z^(l))·n·u·δ^(l+1) and ∂ℓ/∂W^(l) = δ^(l)·h^(l−1)",
                 hb.delta + hb.grad_w[0], act.derivative(hb.z) * n * win.U * win.D * (1 + win.H),
                 "δ^(l) + ∂ℓ/∂W^(l)"),
        identity(prefix + "5", "first block: δ^(1) = f'(z^(1))·n·u·δ^(2)", fb.delta,
                 act.derivative(fb.z) * n * win.U * win.D, "δ^(1)"),
        identity(prefix + "6", "under the output layer with columns v_k: δ^(L−1) = f'(z^(L−1))·Σ_k v_k δ^(L)_k",
                 ho.delta, act.derivative(ho.z) * sp.Add(*[v * d for v, d in zip(vs, ds)]), "δ^(L−1)"),
    ] + _label_dependence(ctx, prefix + "7", [cL] * K, [cL] * K, None)
    if cancels:
        checks.append(structural_zero(prefix + "8", "at the init the output deltas sum to 0 (the loss's label "
                                                    "constraint), so δ^(L−1) = f'(z)·c_L·Σ_k δ^(L)_k = 0",
                                      [sp.Add(*out["delta"])], out["delta"]))
    else:
        y1 = out["labels"][0]
        checks.append(nonzero_number(prefix + "8", "the output deltas' sum depends on the label (∂(Σ_k δ^(L)_k)/∂y_1 "
                                                   "≠ 0), so δ^(L−1) = f'(z)·c_L·Σ_k δ^(L)_k is not identically 0 "
                                                   "at the init", sp.diff(sp.Add(*out["delta"]), y1),
                                     "∂(Σ_k δ^(L)_k)/∂y_1"))
    return checks, bool(cancels)


def _constant(ctx: Context) -> DepthTheorem:
    fam, L, n = ctx.family, ctx.L, ctx.family.width
    c1, c, cL = (_value(ctx.init.of(r)) for r in ("first", "hidden", "last"))
    checks, cancels = _constant_checks(ctx, c1, c, cL, "C")
    nonzero = [v for v in {c1, c, cL} if v.is_number]
    checks += [nonzero_number(f"C9{chr(97 + i)}", "a numeric init constant is nonzero", v, "c")
               for i, v in enumerate(sorted(nonzero, key=sp.default_sort_key))]
    symbolic = any(not v.is_number for v in (c1, c, cL))
    hidden_step = 2 if cancels else 1
    kinds = ctx.kinds
    facts = [LayerFact(kinds, L, L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH),
             LayerFact(kinds, sp.Integer(1), L - 1, False, sp.Integer(hidden_step), True,
                       TIGHT_EVERY_DEPTH if hidden_step == 1 else TIGHT_CONCRETE, symbolic, exact_only=cancels)]
    when = "A_1 (the output layer free, every other block at its init)" if cancels else "A_0 (the init)"
    steps = [
        InductionStep("lemma", "Layer transfer at a constant init",
                      "Every hidden layer is one class of identical units, for every depth (docs/theory.md §4: its "
                      "incoming rows, biases and outgoing columns are uniform, and training keeps the classes). Forward: "
                      "z^(1) is non-constant (C2) and z^(l) is non-constant when h^(l−1) = f(z^(l−1)) is (C3; f analytic "
                      "and non-constant, C1). Backward: δ^(l) = f'(z^(l))·n·c·δ^(l+1) (C4, C5).",
                      ("C1", "C2", "C3", "C4", "C5")),
        InductionStep("base", "Base case: the output layer",
                      "δ^(L) is not identically 0 (C7a) and ∂ℓ/∂W^(L) = δ^(L)·h^(L−1) (C7b) with h^(L−1) non-constant: "
                      "W^(L) and b^(L) move at step 1, at every depth." +
                      (" The output deltas sum to 0 at the init (C8), so δ^(L−1) = 0 and, by C4/C5, every hidden δ "
                       "is 0 at the init: the hidden layers are unchanged at step 1." if cancels else
                       " The output deltas' sum is not identically 0 at the init (C8)."),
                      ("C7a", "C7b", "C8")),
        InductionStep("step", "Inductive step (over l, downwards)",
                      f"On {when}: δ^(L−1) = f'(z^(L−1))·Σ_k v_k δ^(L)_k (C6) is not identically 0 (f'(z) is not, "
                      "z being non-constant; Σ_k v_k δ^(L)_k is not, δ^(L) not being so). If δ^(l+1) is not identically "
                      "0 then neither is δ^(l) = f'(z^(l))·n·c·δ^(l+1) (a product of analytic functions none of which "
                      "vanishes identically, c ≠ 0), nor ∂ℓ/∂W^(l) = δ^(l)·h^(l−1). So every W^(l), b^(l) with "
                      f"l ≤ L − 1 first moves at step {hidden_step}, at every depth.", ("C4", "C5", "C6")),
    ]
    conds = ["the init constants are nonzero (generic values; c = 0 is the zero init)"] if symbolic else []
    head = (f"For every depth {L} ≥ 2, every hidden layer's {n} units stay identical forever; W^(L), b^(L) first move "
            f"at step 1 and every other W^(l), b^(l) at step {hidden_step}" + (" (for generic c)" if symbolic else ""))
    return DepthTheorem("constant", "all at once", "l", facts, True, checks, steps, head, conditions=conds)


def _constant_kinked(ctx: Context) -> DepthTheorem:
    """A constant init with a non-analytic activation: identical units and the lower bounds the zero transfer
    gives; whether the layers move at those steps is left open (the non-vanishing argument needs analyticity)."""
    fam, L, n = ctx.family, ctx.L, ctx.family.width
    c1, c, cL = (_value(ctx.init.of(r)) for r in ("first", "hidden", "last"))
    checks, cancels = _constant_checks(ctx, c1, c, cL, "K")
    checks = [chk for chk in checks if chk.id in ("K4", "K5", "K6", "K7a", "K8")]
    facts = [LayerFact(("b",), L, L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH)] if fam.bias else []
    if cancels:
        facts.append(LayerFact(ctx.kinds, sp.Integer(1), L - 1, False, sp.Integer(2), False, None, exact_only=True))
    who = "W^(L) and the hidden layers"
    steps = [
        InductionStep("lemma", "Layer transfer at a constant init",
                      "Every hidden layer is one class of identical units, for every depth (docs/theory.md §4). The "
                      "engine's backward transfer is a product: δ^(l) = f'(z^(l))·n·c·δ^(l+1) (K4, K5) and "
                      "δ^(L−1) = f'(z^(L−1))·Σ_k v_k δ^(L)_k (K6), so δ^(l+1) ≡ 0 gives δ^(l) ≡ 0.", ("K4", "K5", "K6")),
        InductionStep("base", "Base case: the output layer",
                      "δ^(L) depends on the label (K7a)" + (": b^(L) moves at step 1 at every depth." if fam.bias else ".")
                      + (" The output deltas sum to 0 at the init (K8), so δ^(L−1) = 0." if cancels else
                         " The output deltas' sum is not identically 0 (K8)."), ("K7a", "K8")),
        InductionStep("step", "Inductive step (over l, downwards)",
                      ("At the init δ^(l+1) ≡ 0 gives δ^(l) ≡ 0 (K4, K5): every hidden W^(l), b^(l) is unchanged at "
                       "step 1, at every depth." if cancels else "Nothing beyond the base case is claimed.")
                      + " The activation is not analytic, so whether a layer's gradient vanishes identically later is "
                        "not decided here.", ("K4", "K5")),
    ]
    head = (f"For every depth {L} ≥ 2, every hidden layer's {n} units stay identical forever"
            + ("; b^(L) moves at step 1" if fam.bias else "")
            + ("; every other hidden W^(l), b^(l) (l ≤ L − 1) is unchanged before step 2" if cancels else ""))
    return DepthTheorem("constant_lower_bounds", "fixed point", "l", facts, True, checks, steps, head,
                        open_questions=[f"when {who} first move: {fam.activation.describe()} is not analytic, so the "
                                        "non-vanishing argument does not apply (analyze a concrete depth)"])


def _constant_kinked_applies(ctx: Context) -> bool:
    return ctx.all_roles(Constant) and not ctx.is_analytic and all(
        not (_value(ctx.init.of(r)).is_number and _value(ctx.init.of(r)) == 0) for r in ("first", "hidden", "last"))


def _constant_applies(ctx: Context) -> bool:
    if not ctx.all_roles(Constant) or not ctx.is_analytic:
        return False
    return all(not (_value(ctx.init.of(r)).is_number and _value(ctx.init.of(r)) == 0) for r in ("first", "hidden", "last"))


def _zero_last(ctx: Context) -> DepthTheorem:
    fam, L, n, K, n_in = ctx.family, ctx.L, int(ctx.family.width), ctx.family.n_out, ctx.family.n_in
    gz = win.generic_block(fam, n, K, delta_above_zero=False, weights_above_zero=True)
    gf = win.generic_block(fam, n_in, K, delta_above_zero=False, weights_above_zero=True)
    gd = win.generic_block(fam, n, n, delta_above_zero=True, weights_above_zero=False)
    gfd = win.generic_block(fam, n_in, n, delta_above_zero=True, weights_above_zero=False)
    c = sp.Symbol("c", real=True)
    checks = [
        structural_zero("D1", "a generic block under the zero output layer: δ^(L−1) = 0 and zero gradients, whatever "
                              "δ^(L) (hidden and, for L = 2, first block)", list(gz.delta + gz.grads + gf.delta + gf.grads),
                        list(gz.delta)),
        structural_zero("D2", "a generic block under a block with δ = 0: δ^(l) = 0 and zero gradients (hidden and first "
                              "block)", list(gd.delta + gd.grads + gfd.delta + gfd.grads), list(gd.delta)),
    ] + _label_dependence(ctx, "D3", [sp.Integer(0)] * K, [sp.Integer(0)] * K, None)
    tied, _ = _constant_checks(ctx, c, c, c, "D4.")
    checks += [chk for chk in tied if chk.id in ("D4.1", "D4.2", "D4.3", "D4.4", "D4.5", "D4.6")]
    kinds = ctx.kinds
    facts = [LayerFact(kinds, L, L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH),
             LayerFact(kinds, sp.Integer(1), L - 1, False, sp.Integer(2), True, TIGHT_CONCRETE, True)]
    steps = [
        InductionStep("lemma", "Layer transfer of δ = 0 through generic blocks",
                      f"On a window of the family's width {n} with every entry its own symbol: under the zero output "
                      "layer δ^(L−1) = 0 (D1); under a block with δ = 0, δ = 0 and the gradients vanish (D2).",
                      ("D1", "D2")),
        InductionStep("base", "Base case: the output layer at the init",
                      "δ^(L) is not identically 0 (D3a) and ∂ℓ/∂W^(L) = δ^(L)·h^(L−1) (D3b), where h^(L−1) = f(z^(L−1)) "
                      "is not identically 0 (f is analytic and non-constant, D4.1, and z^(L−1) is non-constant: so it "
                      "is at the tied point of the inductive step, D4.2, D4.3): W^(L), b^(L) move at step 1 at every "
                      "depth; every other block's δ is 0 at the init (D1, then D2 by induction over l downwards): "
                      "unchanged at step 1.", ("D3a", "D3b", "D1", "D2", "D4.1", "D4.2", "D4.3")),
        InductionStep("step", "Inductive step on A_1 (over l, downwards)",
                      "On A_1 the output layer is free and the other blocks keep their generic init values. A function of "
                      "those values that is not identically 0 at one of them is not identically 0: take every entry and "
                      "bias of the first and hidden layers equal to one symbol c and the output columns tied. There the "
                      "constant-init transfer holds (D4.1-D4.6), and the downward induction of the constant init shows "
                      "that every δ^(l) and every gradient of W^(l), b^(l) (l ≤ L − 1) is not identically 0 on A_1: "
                      "they first move at step 2, for generic init values.",
                      ("D4.1", "D4.2", "D4.3", "D4.4", "D4.5", "D4.6")),
    ]
    head = (f"For every depth {L} ≥ 2, with generic first and hidden layers and a zero last layer: W^(L), b^(L) first "
            f"move at step 1 and every other W^(l), b^(l) at step 2 (for generic init values)")
    return DepthTheorem("zero_last", "all at once", "l", facts, False, checks, steps, head,
                        conditions=["generic values of the first and hidden layers' entries"])


def _zero_last_applies(ctx: Context) -> bool:
    return (isinstance(ctx.init.first, Generic) and isinstance(ctx.init.hidden, Generic)
            and isinstance(ctx.init.last, Zeros) and ctx.is_analytic and ctx.family.bias)


#: the induction schemas, tried in order: (name, applies, prove)
SCHEMAS: tuple[tuple[str, Callable[[Context], bool], Callable[[Context], DepthTheorem]], ...] = (
    ("fixed_point", _fixed_point_applies, _fixed_point),
    ("front", _front_applies, _front),
    ("constant", _constant_applies, _constant),
    ("zero_last", _zero_last_applies, _zero_last),
    ("constant_lower_bounds", _constant_kinked_applies, _constant_kinked),
)


def prove_family(family: MLPFamily, init: FamilyInit) -> DepthTheorem:
    """The first schema of :data:`SCHEMAS` that applies and whose every engine check holds; else undecided
    (its prose in the family's names for the depth and the width)."""
    return renamed(_prove_family(family, init), {"L": str(family.depth), "n": str(family.width)})


def _prove_family(family: MLPFamily, init: FamilyInit) -> DepthTheorem:
    ctx = _context(family, init)
    tried = []
    for name, applies, prove in SCHEMAS:
        if not applies(ctx):
            continue
        theorem = prove(ctx)
        if theorem.proved:
            return theorem
        tried.append(_unconfirmed(name, theorem))
    why = "; ".join(tried) if tried else (
        "no induction schema applies to this init and activation (known shapes: zero init with f(0) = 0; zero init "
        "with f(0) ≠ 0 and an analytic f; a nonzero constant init with an analytic f; generic first and hidden layers "
        "under a zero last layer)")
    return _undecided(why)


def _unconfirmed(name: str, theorem: DepthTheorem) -> str:
    failed = ", ".join(f"{c.id} ({c.claim})" for c in theorem.checks if not c.holds)
    return f"schema {name}: the engine did not confirm {failed}"


def _undecided(why: str) -> DepthTheorem:
    """A theorem that states nothing: no facts, no checks, the reason."""
    return DepthTheorem("none", "undecided", "-", [], False, [], [], "undecided for symbolic depth", undecided=[why])


# ---------------------------------------------------------------- (e) a stack of ReZero blocks
def prove_rezero(family: ReZeroFamily) -> DepthTheorem:
    """α = 0 in every block: the residual stream and its δ pass every block unchanged (a fixed point of the
    block transfer, induction over l); every α_l moves at step 1 and every branch at step 2."""
    theorem = _prove_rezero(family)
    if not theorem.proved:
        return renamed(_undecided(_unconfirmed("rezero", theorem)), {"L": str(family.depth)})
    return renamed(theorem, {"L": str(family.depth)})


def _prove_rezero(family: ReZeroFamily) -> DepthTheorem:
    from ..graph.losses import graph_loss

    import numpy as np

    L, d = family.depth, family.d
    at0 = win.rezero_block(family, sp.Integer(0))
    free = win.rezero_block(family, win.ALPHA)
    branch_names = ("f1.weight", "f1.bias", "f2.weight", "f2.bias")
    rng_point: dict[sp.Symbol, sp.Rational] = {}
    symbols = sorted(set().union(*(e.free_symbols for e in at0.grads["alpha"])), key=str)
    for k, s in enumerate(symbols):  # a fixed rational point: deterministic
        rng_point[s] = sp.Rational((-1) ** k * (k % 5 + 1), 7)
    loss = graph_loss(family.loss)
    y = loss.labels((d,))
    labels = loss.label_symbols((d,))
    out_delta = loss.delta(np.array(at0.u, dtype=object), y)
    jac = sp.Matrix(d, len(labels), lambda i, j: sp.diff(out_delta[i], labels[j]))
    checks = [
        structural_zero("R1", "one block with α = 0: its output is its input u, the δ it passes down is the δ it "
                              "receives g, and every branch gradient vanishes",
                        [o - u for o, u in zip(at0.out, at0.u)] + [db - g for db, g in zip(at0.delta_below, at0.g)]
                        + [e for name in branch_names for e in at0.grads[name]], list(at0.out) + list(at0.delta_below)),
        identity("R2", "with α = 0: ∂ℓ/∂α = Σ_i g_i F_i(u), the branch output paired with the δ received",
                 at0.grads["alpha"][0], sp.Add(*[g * f for g, f in zip(at0.g, at0.branch)]), "∂ℓ/∂α"),
        nonzero_at("R3", "∂ℓ/∂α at α = 0 is not identically 0 (certified at a rational point)",
                   at0.grads["alpha"][0], rng_point, "∂ℓ/∂α"),
        EngineCheck("R4", "the output delta reaches every vector g of the output's size: its Jacobian in the labels "
                          "is a nonzero multiple of the identity",
                    "; ".join(f"∂δ_{i + 1}/∂y_{j + 1} = {sp.sstr(jac[i, j])}" for i in range(jac.rows)
                              for j in range(jac.cols)),
                    r"\frac{\partial \delta}{\partial y} = " + sp.latex(jac),
                    bool(len(labels) == d and jac == jac[0, 0] * sp.eye(d) and jac[0, 0].is_number and jac[0, 0] != 0),
                    "structural"),
    ]
    for k, name in enumerate(branch_names):
        g0 = free.grads[name][0]
        G = sp.diff(g0, win.ALPHA)
        checks.append(identity(f"R5{chr(97 + k)}", f"with α free: ∂ℓ/∂{name} = α·G, G not depending on α",
                               g0, win.ALPHA * G, f"∂ℓ/∂{name}[0]"))
        point = {s: rng_point.get(s, sp.Rational(k + 2, 5 + s.name.__len__())) for s in G.free_symbols}
        checks.append(nonzero_at(f"R6{chr(97 + k)}", f"G of {name} is not identically 0 (certified at a rational point)",
                                 G, point, "G"))
    facts = [LayerFact(("alpha",), sp.Integer(1), L, False, sp.Integer(1), True, TIGHT_EVERY_DEPTH, True),
             LayerFact(branch_names, sp.Integer(1), L, False, sp.Integer(2), True, TIGHT_CONCRETE, True)]
    r5 = tuple(f"R5{chr(97 + k)}" for k in range(4))
    r6 = tuple(f"R6{chr(97 + k)}" for k in range(4))
    steps = [
        InductionStep("lemma", "Block transfer at α = 0",
                      "A block with α = 0 passes the stream and its δ unchanged and its branch gets no gradient (R1); "
                      "with α free every branch gradient is α·G (R5).", ("R1",) + r5),
        InductionStep("base", "Base case: the last block",
                      "δ of the last block is the loss's δ at the output, which reaches every g (R4).", ("R4",)),
        InductionStep("step", "Inductive step (over l)",
                      "On A_0 (every α = 0): if the stream entering block l is x and the δ leaving it is δ_L, then so "
                      "are those of the neighbouring blocks (R1): by induction x_l = x and δ_l = δ_L for every l, every "
                      "branch gradient vanishes (R1), and ∂ℓ/∂α_l = Σ_i δ_L,i F_l,i(x) is not identically 0 (R2, R3, "
                      "R4): every α_l moves at step 1 and no branch changes at step 1. On A_1 (every α free, branches "
                      "at their init): ∂ℓ/∂θ = α_l·G_l for every branch parameter θ of block l (R5); at α = 0, G_l is "
                      "the window's G with u = x, g = δ_L, not identically 0 (R6, R4), so G_l is not identically 0 "
                      "and neither is α_l·G_l: every branch first moves at step 2.", ("R1", "R2", "R3", "R4") + r6),
    ]
    head = (f"For every number {L} ≥ 1 of ReZero blocks with α = 0: every α_l first moves at step 1, every branch "
            f"weight and bias at step 2, and at the init the residual stream is the input in every block")
    return DepthTheorem("rezero", "fixed point", "l", facts, False, checks, steps, head,
                        conditions=["generic values of the branch weights"])
