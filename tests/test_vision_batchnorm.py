"""Train-mode BatchNorm through the export front end at a stated batch size: refused without ``batch_size``,
analysed with it (the scope says the theorem is about batches of that size), the engine's batch gradient equals
autograd's, and every claim holds on real torch.optim runs at that batch size."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="train-mode BatchNorm is checked on torch modules")
nn = torch.nn

from symderiv.errors import NetworkError, UnsupportedError  # noqa: E402
from symderiv.graph.analysis import analyze_graph  # noqa: E402
from symderiv.graph.export import graph_from_export  # noqa: E402


class ZeroResidual(nn.Module):
    """conv-BN-relu-conv-BN(γ = 0) + skip, pooled head: a ResNet basic block with zero_init_residual."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(width)
        self.c2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(width)
        nn.init.zeros_(self.b2.weight)
        self.fc = nn.Linear(width, 2)

    def forward(self, x):
        h = torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + x)
        return self.fc(torch.nn.functional.max_pool2d(h, 2).mean((2, 3)))


@pytest.fixture(scope="module")
def block():
    torch.manual_seed(0)
    return ZeroResidual().double().train()


def test_train_mode_is_refused_without_a_batch_size(block):
    with pytest.raises(UnsupportedError) as err:
        graph_from_export(block, (3, 4, 4), "mse")
    assert "batch_size=B" in str(err.value) and "BatchNorm" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_batch_size_is_one_line(block, bad):
    with pytest.raises(NetworkError) as err:
        graph_from_export(block, (3, 4, 4), "mse", batch_size=bad)
    assert "batch_size must be a positive int" in str(err.value)


def test_batch_gradient_equals_autograd(block):
    """The graph's example is the whole batch: the engine's gradient of the batch loss equals autograd's (a
    subset of entries through the closed forms, evaluated in 60-digit balls)."""
    from symderiv.graph.replay import engine_gradients, torch_loss

    torch.manual_seed(1)
    small = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(2, 2)).double().train()
    g = graph_from_export(small, (2, 2, 2), "mse", batch_size=2)
    assert g.input_shapes() == [(2, 2, 2, 2)] and g.nodes[g.output].shape == (2, 2)
    assert "batch_norm_train" in {n.op for n in g.nodes}
    gen = torch.Generator().manual_seed(5)
    x = torch.randn((2, 2, 2, 2), generator=gen, dtype=torch.float64)
    y = torch.randn((2, 2), generator=gen, dtype=torch.float64)
    small.zero_grad()
    torch_loss("mse")(small(x), y).backward()
    ours = engine_gradients(g, small, x.numpy(), y.numpy())
    for name, p in small.named_parameters():
        assert np.allclose(ours[name], p.grad.numpy(), rtol=1e-9, atol=1e-12), name


def test_zero_gamma_residual_first_moves_and_verify(block):
    g = graph_from_export(block, (3, 4, 4), "ce", batch_size=3)
    a = analyze_graph(g, name="ZeroResidual")
    assert "every dataset at batch size 3" in a.scope()
    assert "batch size 3" in a.to_dict()["assumptions"]["scope"]
    for name in ("c1.weight", "b1.weight", "b1.bias", "c2.weight"):  # the branch waits behind γ = 0 of b2
        assert a.first_move_step(name, (0,) * len(g.params[name].shape)) == 2, name
    for name in ("b2.weight", "b2.bias", "fc.weight", "fc.bias"):
        assert a.first_move_step(name, (0,) * len(g.params[name].shape)) == 1, name
    report = a.verify(block)
    assert report.ok, report
    # a wrong claim is rejected: the module without the pattern (γ of b2 no longer 0)
    other = ZeroResidual().double().train()
    with torch.no_grad():
        other.b2.weight.fill_(1.0)
    assert not a.verify(other).ok
