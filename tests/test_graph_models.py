"""The zero-init designs beyond the chain: expected first moves, checked on real torch.optim runs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symderiv.graph import analyze_module  # noqa: E402
from symderiv.graph.examples import (Attention, ConstantConv, ControlNetBlock, LoRA, ReZero,  # noqa: E402
                                     ZeroGammaLNResidual)
from symderiv.graph.replay import check_claims, engine_gradients, random_batch, replay, torch_loss  # noqa: E402

NEVER = None
#: name -> (module factory, input shape, loss, {parameter: first-move step of every entry}, zero parameters)
CASES = {
    "lora_B0": (lambda: LoRA(zero="B"), (3,), "mse", {"lora_B.weight": 1, "lora_A.weight": 2}, set()),
    "lora_A0": (lambda: LoRA(zero="A"), (3,), "mse", {"lora_A.weight": 1, "lora_B.weight": 2}, set()),
    "lora_AB0": (lambda: LoRA(zero="AB"), (3,), "mse", {"lora_A.weight": NEVER, "lora_B.weight": NEVER},
                 {"lora_A.weight", "lora_B.weight"}),
    "controlnet": (ControlNetBlock, (4, 3), "mse",
                   {"zero_out.weight": 1, "zero_out.bias": 1, "copy.0.weight": 2, "copy.0.bias": 2,
                    "zero_in.weight": 2, "zero_in.bias": 2}, set()),
    "rezero": (ReZero, (3,), "mse", {"alpha": 1, "f1.weight": 2, "f1.bias": 2, "f2.weight": 2, "f2.bias": 2}, set()),
    "ln_zero_gamma": (ZeroGammaLNResidual, (3,), "mse",
                      {"norm.weight": 1, "norm.bias": 1, "linear.weight": 2, "linear.bias": 2}, set()),
    "attention_qk0": (lambda: Attention(zero="qk"), (2, 3), "mse",
                      {"q.weight": NEVER, "k.weight": NEVER, "v.weight": 1, "o.weight": 1}, {"q.weight", "k.weight"}),
    "attention_q0": (lambda: Attention(zero="q"), (2, 3), "mse",
                     {"q.weight": 1, "k.weight": 2, "v.weight": 1, "o.weight": 1}, set()),
    "constant_conv": (ConstantConv, (1, 4), "ce",
                      {"conv.weight": 2, "conv.bias": 2, "head.weight": 1, "head.bias": 1}, set()),
}
_CACHE: dict = {}


def analysis(case):
    if case not in _CACHE:
        make, shape, loss, _, _ = CASES[case]
        module = make()
        _CACHE[case] = (module, analyze_module(module, loss=loss, input_shape=shape))
    return _CACHE[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_expected_first_moves(case):
    module, a = analysis(case)
    _, _, _, steps, zeros = CASES[case]
    assert set(a.proof.graph.trainable()) == set(steps)
    assert a.proof.undecided == []
    for name, step in steps.items():
        facts = a.entry_facts(name)
        assert set(facts["first_move_step"].flat) == {step}, name
        assert set(facts["stays_zero"].flat) == {name in zeros}, name
        if step is not None:  # every finite step is certified by an exact trajectory
            assert set(facts["first_move_tight"].flat) == {True}, name
    doc = a.to_dict()
    for name in steps:
        assert doc["parameters"][name]["shape"] == list(dict(module.named_parameters())[name].shape)
    assert "every model with the same pattern of zeros and equal values" in doc["assumptions"]["scope"]


def test_constant_conv_filters_tied_forever():
    _, a = analysis("constant_conv")
    ids = a.entry_facts("conv.weight")["tie_class"]
    assert ids[0, 0, 0] == ids[1, 0, 0] and ids[0, 0, 1] == ids[1, 0, 1]  # filter k equals filter k' forever
    assert ids[0, 0, 0] != ids[0, 0, 1]  # taps of one filter are not tied (a certified witness split them)
    assert len(set(a.entry_facts("conv.bias")["tie_class"].flat)) == 1


def test_frozen_listed_apart():
    _, a = analysis("controlnet")
    doc = a.to_dict()
    assert set(doc["frozen"]) == {"base.0.weight", "base.0.bias"}
    assert not set(doc["frozen"]) & set(doc["parameters"])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("optimizer,batch", [("sgd", 1), ("momentum", 3), ("adam", 1), ("adam", 3), ("sgd", 3)])
def test_claims_hold_on_real_trajectories(case, optimizer, batch):
    module, a = analysis(case)
    snaps = replay(module, a, optimizer=optimizer, batch=batch, seed=7)
    # Adam amplifies the rounding residue of a zero that rests on the loss's cancellation: such
    # "unchanged before t" claims are marked exact_arithmetic_only and checked only under SGD/momentum
    tolerance = None if optimizer == "adam" else 1e-12
    assert check_claims(a, snaps, exact_only_tolerance=tolerance) == []


def test_loss_cancellation_is_flagged():
    """Constant conv under softmax CE: the conv's zero gradient at init is c·Σ_k δ_k = 0 (exact only)."""
    _, a = analysis("constant_conv")
    assert set(a.entry_facts("conv.weight")["first_move_float"].flat) == {"exact_arithmetic_only"}
    _, b = analysis("rezero")  # alpha = 0 multiplies: exact zeros only, bit for bit in floats
    assert set(b.entry_facts("f1.weight")["first_move_float"].flat) == {"bit_exact"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_matches_torch_autograd(case):
    module, a = analysis(case)
    g = a.proof.graph
    model = module.double()
    gen = torch.Generator().manual_seed(3)
    x, y = random_batch(g.loss_name, g.nodes[g.input_node].shape, g.nodes[g.output].shape, 1, gen)
    x = x * 0.5
    for p in model.parameters():  # move off the init so no gradient is trivially zero
        with torch.no_grad():
            p.add_(0.25 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    model.zero_grad()
    for p in model.parameters():
        p.requires_grad_(True)
    torch_loss(g.loss_name)(model(x), y).backward()
    ours = engine_gradients(g, model, x[0].numpy(), y[0].numpy())
    for name in g.trainable():
        ref = dict(model.named_parameters())[name].grad.numpy()
        assert np.allclose(ours[name], ref, rtol=1e-9, atol=1e-12), name


def test_wrong_claims_are_rejected():
    """The replay check is not vacuous: a fabricated claim is caught."""
    module, a = analysis("lora_B0")
    snaps = replay(module, a, optimizer="sgd", batch=1, seed=1)
    a.proof.zero_class = a.proof.class_of[("lora_A.weight", 0)]  # pretend lora_A[0,0] stays zero
    try:
        assert any("stays zero" in v or "claimed" in v for v in check_claims(a, snaps))
    finally:
        _CACHE.pop("lora_B0")
