"""Real-world zero-init designs through the graph front end: modules with several inputs
(DiT's adaLN-Zero block ``forward(self, x, c)``, a ControlNet hint, cross-attention context),
GroupNorm, BatchNorm in eval mode (frozen statistics).  Each is converted, its engine gradients
compared with torch autograd on the same module (float64, rtol 1e-9, never between zeros), the
first-move facts of the adaLN-Zero block checked against real ``torch.optim.SGD`` steps, and what
is not supported refused in one line."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graph_oracle import assert_engine_matches_autograd  # noqa: E402
from symderiv.errors import NetworkError, UnsupportedError  # noqa: E402
from symderiv.graph import graph_from_module  # noqa: E402
from symderiv.graph.replay import check_claims, engine_gradients, replay, torch_loss  # noqa: E402


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class DiTBlock(nn.Module):
    """DiT's adaLN-Zero block (attention branch): the modulation Linear zero-initialized."""

    def __init__(self, d=4, heads=2, zero=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 3 * d))
        if zero:
            nn.init.zeros_(self.adaLN_modulation[-1].weight)
            nn.init.zeros_(self.adaLN_modulation[-1].bias)

    def forward(self, x, c):
        shift, scale, gate = self.adaLN_modulation(c).chunk(3, dim=-1)
        h = modulate(self.norm1(x), shift, scale)
        a, _ = self.attn(h, h, h, need_weights=False)
        return x + gate.unsqueeze(1) * a


class DiTMlpBlock(nn.Module):
    """DiT's adaLN-Zero block, MLP branch (cheap enough to analyze in a test), zero modulation."""

    def __init__(self, d=4, c=2):
        super().__init__()
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(c, 3 * d))
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)

    def forward(self, x, c):
        shift, scale, gate = self.adaLN_modulation(c).chunk(3, dim=-1)
        return x + gate.unsqueeze(1) * self.mlp(modulate(self.norm(x), shift, scale))


class ControlNetHint(nn.Module):
    """A ControlNet-style block: the hint enters through a convolution, GroupNorm, SiLU and a zero convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 1)
        self.hint = nn.Conv1d(1, 4, 1)
        self.norm = nn.GroupNorm(2, 4)
        self.zero_conv = nn.Conv1d(4, 4, 1)

    def forward(self, x, hint):
        return (self.conv(x) + self.zero_conv(F.silu(self.norm(self.hint(hint))))).flatten(1)


class CrossAttention(nn.Module):
    """Queries from the tokens, keys and values from a context of another length."""

    def __init__(self, d=4):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, 1, batch_first=True)
        self.out = nn.Linear(d, 2)

    def forward(self, x, context):
        y, _ = self.attn(x, context, context, need_weights=False)
        return self.out(x + y)


class GroupNormPlain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 2)
        self.gn = nn.GroupNorm(2, 4)
        self.w2 = nn.Parameter(torch.randn(4))
        self.head = nn.Linear(4, 3)

    def forward(self, x):  # x (B, 2, 4)
        h = F.silu(self.gn(self.conv(x)))  # (B, 4, 3)
        h = F.group_norm(h, 1, self.w2, None, 1e-5)
        return self.head(h.transpose(1, 2))


class GroupNorm2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 2)
        self.gn = nn.GroupNorm(2, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):  # x (B, 2, 3, 3)
        return self.head(F.silu(self.gn(self.conv(x))).flatten(2).transpose(1, 2))


class BatchNormEval(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm1d(3)
        self.lin = nn.Linear(3, 4)
        self.conv = nn.Conv1d(1, 2, 1)
        self.bn1 = nn.BatchNorm1d(2)
        self.bn2 = nn.BatchNorm2d(2, affine=False)

    def forward(self, x):  # x (B, 3)
        h = torch.tanh(self.lin(self.bn0(x)))  # (B, 4)
        h = self.bn1(self.conv(h.unsqueeze(1)))  # (B, 2, 4)
        return self.bn2(h.view(-1, 2, 2, 2)).flatten(1)


class GroupedConvs(nn.Module):
    """A depthwise Conv2d (groups = channels), a grouped Conv1d, and F.conv1d with groups (MobileNet/ConvNeXt style)."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(2, 2, 2, groups=2, padding=1)
        self.pw = nn.Conv1d(2, 4, 1)
        self.grouped = nn.Conv1d(4, 4, 2, groups=2, bias=False)
        self.k = nn.Parameter(torch.randn(2, 2, 1))

    def forward(self, x):  # x (B, 2, 2, 2)
        h = torch.tanh(self.dw(x)).flatten(2)  # (B, 2, 9)
        h = self.grouped(self.pw(h))  # (B, 4, 8)
        return F.conv1d(h, self.k, None, 2, 0, 1, 2).flatten(1)  # groups=2: (B, 2, 4)


def _randomize_stats(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                if m.affine:
                    m.weight.normal_()
                    m.bias.normal_()
            if isinstance(m, nn.GroupNorm):
                m.weight.normal_()
                m.bias.normal_()
    return module


CASES = [
    ("dit_attention", lambda: DiTBlock(zero=False), [(2, 4), (4,)], "mse"),
    ("controlnet_hint", ControlNetHint, [(2, 3), (1, 3)], "mse"),
    ("cross_attention", CrossAttention, [(2, 4), (3, 4)], "ce"),
    ("group_norm_1d", GroupNormPlain, (2, 4), "mse"),
    ("group_norm_2d", GroupNorm2d, (2, 3, 3), "bce"),
    ("batch_norm_eval", BatchNormEval, (3,), "mse"),
    ("grouped_convs", GroupedConvs, (2, 2, 2), "mse"),
]


@pytest.mark.parametrize("name,make,shape,loss", CASES, ids=[c[0] for c in CASES])
def test_engine_matches_torch_autograd(name, make, shape, loss):
    torch.manual_seed(0)
    assert_engine_matches_autograd(_randomize_stats(make()).double().eval(), shape, loss)


def test_several_inputs_have_distinct_data_symbols():
    from symderiv.graph.engine import data_symbols

    graph = graph_from_module(DiTMlpBlock(), [(2, 4), (2,)], "mse")
    xs = data_symbols(graph)
    assert [a.shape for a in xs] == [(2, 4), (2,)]
    names = [s.name for a in xs for s in a.flat]
    assert len(set(names)) == len(names) and names[0] == "x_1_1" and names[-1] == "x2_2"
    assert not any(n.startswith(("c_", "e_", "y_", "t_", "w_")) for n in names)


def test_inputs_are_fed_in_order():
    """Swapping the two inputs of a module with differently shaped inputs changes which data the graph reads:
    the gradients of the engine at (x, c) match autograd at (x, c) and not at (c', x')."""
    torch.manual_seed(1)
    module = DiTBlock(zero=False).double()
    graph = graph_from_module(module, [(2, 4), (4,)], "mse")
    x = torch.randn(1, 2, 4, dtype=torch.float64)
    c = torch.randn(1, 4, dtype=torch.float64)
    y = torch.randn(1, 2, 4, dtype=torch.float64)
    ours = engine_gradients(graph, module, [x[0].numpy(), c[0].numpy()], y[0].numpy())
    module.zero_grad()
    torch_loss("mse")(module(x, c), y).backward()
    g = module.adaLN_modulation[1].weight.grad.numpy()
    assert np.allclose(ours["adaLN_modulation.1.weight"], g, rtol=1e-9, atol=1e-12)
    other = engine_gradients(graph, module, [x[0].numpy(), 2 * c[0].numpy()], y[0].numpy())
    assert not np.allclose(other["adaLN_modulation.1.weight"], g, rtol=1e-6)


@pytest.fixture(scope="module")
def dit_analysis():
    import symderiv as sd

    torch.manual_seed(0)
    block = DiTMlpBlock().double()
    return block, sd.analyze(block, loss="mse", input_shape=[(2, 4), (2,)])


def test_dit_adaln_zero_first_moves_on_real_sgd(dit_analysis):
    """adaLN-Zero: with the modulation Linear at zero, the block is the identity; only the gate's rows of the
    modulation move at step 1 (their gradient is Σ δ·mlp(norm(x))); shift, scale and the MLP get a gradient
    through gate = 0 only from step 2.  Checked on real torch.optim.SGD steps, independently of the analysis."""
    block, a = dit_analysis
    w = a.entry_facts("adaLN_modulation.1.weight")["first_move_step"]
    b = a.entry_facts("adaLN_modulation.1.bias")["first_move_step"]
    assert w.tolist() == [[2, 2]] * 8 + [[1, 1]] * 4  # rows 0-3 shift, 4-7 scale, 8-11 gate
    assert b.tolist() == [2] * 8 + [1] * 4
    for name in ("mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"):
        assert set(a.entry_facts(name)["first_move_step"].flat) == {2}, name
    assert a.proof.undecided == []

    snaps = replay(block, a, optimizer="sgd", batch=2, steps=3, seed=5)
    assert check_claims(a, snaps) == []
    # the same facts read directly off the trajectory (init, step 1, step 2)
    m0, m1, m2 = (s["adaLN_modulation.1.weight"] for s in snaps[:3])
    assert np.all(m1[:8] == 0) and np.all(m1[8:] != 0) and np.all(m2[:8] != 0)
    assert np.array_equal(snaps[1]["mlp.0.weight"], snaps[0]["mlp.0.weight"])
    assert np.all(snaps[2]["mlp.2.bias"] != snaps[0]["mlp.2.bias"])
    assert a.verify(block).ok
    from symderiv.graph.engine import data_symbols
    from symderiv.graph.latex import _Names  # the LaTeX names (the whole document costs seconds)

    names = _Names(a).map
    x, c = data_symbols(a.proof.graph)
    assert names[c[0]] == "x^{(2)}_{1}" and names[x[1, 0]] == "x_{2,1}"  # never x2_1 (SymPy: x_{2 1})


def test_verify_catches_a_wrong_claim_on_two_inputs(dit_analysis):
    """The replay check is sharp on a several-input module: a shift row that moved at step 1 is caught."""
    block, a = dit_analysis
    snaps = replay(block, a, optimizer="sgd", batch=1, steps=2, seed=5)
    forged = [dict(s) for s in snaps]
    forged[1] = dict(forged[1])
    w = forged[1]["adaLN_modulation.1.weight"].copy()
    w[0, 0] = 1e-3  # a shift row "moved" at step 1, against the claim
    forged[1]["adaLN_modulation.1.weight"] = w
    assert any("adaLN_modulation.1.weight[0, 0]" in v for v in check_claims(a, forged))


def test_input_shape_count_must_match_forward():
    with pytest.raises(NetworkError) as info:
        graph_from_module(DiTMlpBlock(), (2, 4), "mse")
    msg = str(info.value)
    assert "\n" not in msg and "takes 2 input(s) (x, c)" in msg and "1 shape(s)" in msg


@pytest.mark.parametrize("bad", [[(2, 4), ()], [(2, 4), (0,)], [(2, 4), 3], [], [(2, 4), (True,)]])
def test_bad_input_shapes_are_refused(bad):
    with pytest.raises(NetworkError) as info:
        graph_from_module(DiTMlpBlock(), bad, "mse")
    assert "\n" not in str(info.value) and "must be a tuple of positive ints" in str(info.value)


def test_wrong_second_shape_is_the_modules_own_error():
    with pytest.raises(NetworkError) as info:
        graph_from_module(DiTMlpBlock(), [(2, 4), (3,)], "mse")
    msg = str(info.value)  # the module's own error, at the shapes it was called with (batch axis first)
    assert "\n" not in msg and "(1, 2, 4), (1, 3)" in msg and "shapes cannot be multiplied" in msg


@pytest.mark.parametrize("module,shape,needle", [
    (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), (3,), "BatchNorm in training mode"),
    (nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)), (1, 2, 2), "call .eval()"),
    (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, track_running_stats=False).eval()), (3,),
     "without running statistics"),
])
def test_batch_norm_with_batch_statistics_is_refused_without_a_batch_size(module, shape, needle):
    """Batch statistics couple the examples: refused in one line that says how to analyse them (batch_size=B,
    tests/test_batch_size_api.py) or freeze them (.eval())."""
    with pytest.raises((UnsupportedError, NetworkError)) as info:
        graph_from_module(module.double(), shape, "mse")
    msg = str(info.value)
    assert "\n" not in msg and needle in msg and "batch_size=B" in msg


def test_batch_norm_eval_is_exact_affine_with_frozen_statistics():
    """The running statistics are constants of the graph (not parameters): eval-mode BatchNorm of a zero input
    is exactly −m·s·γ + β, with s = (v + eps)^(-1/2) exact."""
    import sympy as sp

    from symderiv.graph.engine import backprop
    from symderiv.graph.values import init_values

    bn = nn.BatchNorm1d(2).double()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, 0.0]))
        bn.running_var.copy_(torch.tensor([3.0, 1.0]))
    graph = graph_from_module(nn.Sequential(bn).eval(), (2,), "mse")
    assert sorted(graph.params) == ["0.bias", "0.weight"] and not graph.frozen()
    values, _ = init_values(graph, "exact")
    out = backprop(graph, values, backward=False).output
    eps = sp.Rational(bn.eps)
    x1, x2 = sp.symbols("x_1 x_2", real=True)
    assert sp.simplify(out[0] - (x1 - sp.Rational(1, 2)) / sp.sqrt(3 + eps)) == 0
    assert sp.simplify(out[1] - x2 / sp.sqrt(1 + eps)) == 0


def test_cli_repeated_input_shape(tmp_path, monkeypatch, capsys):
    """``--input-shape`` repeated: one shape per argument of forward, in order."""
    import json
    import re
    import textwrap

    from symderiv.cli import EXIT_OK, main

    name = "sd_realworld_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Gated(nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.body = nn.Linear(3, 3)
                self.gate = nn.Linear(2, 3)
                nn.init.zeros_(self.gate.weight)
                nn.init.zeros_(self.gate.bias)

            def forward(self, x, c):
                return x + self.gate(c) * torch.tanh(self.body(x))
    """), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["analyze", "--module", f"{name}:Gated", "--input-shape", "3", "--input-shape", "2", "--loss", "mse"]
    assert main(args + ["--json"]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"]["gate.weight"]["first_move_step"] == [[1, 1]] * 3
    assert doc["parameters"]["body.weight"]["first_move_step"] == [[2] * 3] * 3
    assert main(args[:-4] + ["--loss", "mse"]) != EXIT_OK  # one shape for a forward of two inputs
    err = capsys.readouterr().err
    assert "takes 2 input(s) (x, c)" in err and len(err.strip().splitlines()) == 1


class DilatedConv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.k = nn.Parameter(torch.randn(2, 2, 2, dtype=torch.float64))

    def forward(self, x):
        return F.conv1d(x, self.k, None, 1, 0, 2)


@pytest.mark.parametrize("make", [DilatedConv1d, lambda: nn.Conv1d(2, 2, 2, dilation=2).double()],
                         ids=["functional", "module"])
def test_dilated_convolutions_match_autograd(make):
    """Dilation (once refused) is a rule of the export front end (symderiv.graph.conv): engine against autograd."""
    from graph_oracle import assert_engine_matches_autograd

    torch.manual_seed(0)
    assert_engine_matches_autograd(make(), (2, 5), "mse")


def _steps(a, name):
    return set(a.entry_facts(name)["first_move_step"].flat)


def test_controlnet_zero_conv_first_moves():
    """ControlNet: the hint branch (conv, GroupNorm) waits behind the zero convolution; the zero convolution and
    the main branch move at step 1, the hint branch at step 2; verified on real torch.optim runs."""
    import symderiv as sd

    torch.manual_seed(0)
    m = ControlNetHint().double()
    nn.init.zeros_(m.zero_conv.weight)
    nn.init.zeros_(m.zero_conv.bias)
    a = sd.analyze(m, loss="mse", input_shape=[(2, 3), (1, 3)])
    for name in ("conv.weight", "conv.bias", "zero_conv.weight", "zero_conv.bias"):
        assert _steps(a, name) == {1}, name
    for name in ("hint.weight", "hint.bias", "norm.weight", "norm.bias"):
        assert _steps(a, name) == {2}, name
    assert a.proof.undecided == [] and a.verify(m).ok


def test_batch_norm_eval_first_moves_with_frozen_statistics():
    """A zero last layer after an eval-mode BatchNorm: the BatchNorm's weight and bias wait for step 2 like the
    first layer; the replay trains the module in eval mode (frozen statistics), as the theorem states."""
    import symderiv as sd

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2.0)
    nn.init.zeros_(m[3].weight)
    a = sd.analyze(m.eval(), loss="ce", input_shape=(3,))
    assert _steps(a, "3.weight") == _steps(a, "3.bias") == {1}
    for name in ("0.weight", "0.bias", "1.weight", "1.bias"):
        assert _steps(a, name) == {2}, name
    assert a.proof.undecided == [] and a.verify(m).ok
    assert not m[1].training  # verify trained a copy: the analyzed module keeps its mode and statistics


class WithDefaults(nn.Module):
    """forward(self, x, c, mask=None, scale=2.0): the defaulted arguments stay at their defaults."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.gate = nn.Linear(2, 3)

    def forward(self, x, c, mask=None, scale=2.0):
        h = self.lin(x)
        if mask is not None:
            h = h * mask
        return x + self.gate(c) * h * scale


def test_defaulted_arguments_are_traced_at_their_defaults():
    torch.manual_seed(0)
    module = WithDefaults().double()
    graph = graph_from_module(module, [(3,), (2,)], "mse")
    assert len(graph.input_nodes) == 2
    x, c, y = (torch.randn(1, n, dtype=torch.float64) for n in (3, 2, 3))
    ours = engine_gradients(graph, module, [x[0].numpy(), c[0].numpy()], y[0].numpy())
    torch_loss("mse")(module(x, c), y).backward()
    for pname, p in module.named_parameters():
        assert np.allclose(ours[pname], p.grad.numpy(), rtol=1e-9, atol=1e-12), pname
        assert np.any(p.grad.numpy() != 0), pname
    with pytest.raises(NetworkError) as info:  # only the arguments without a default need a shape
        graph_from_module(module, (3,), "mse")
    assert "takes 2 input(s) (x, c) and 2 with a default but input_shape gives 1 shape(s)" in str(info.value)
