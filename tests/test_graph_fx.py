"""torch.fx conversion: custom forwards, values generic/exact, and one-line refusals of what is unsupported."""
import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graph_oracle import wrap  # noqa: E402
from symderiv.errors import InvalidArgument, NetworkError, RegistryError, UnsupportedError  # noqa: E402
from symderiv.graph import analyze_module, graph_from_module  # noqa: E402
from symderiv.graph.examples import ControlNetBlock, LoRA  # noqa: E402
from symderiv.graph.values import init_values  # noqa: E402


def _refused(module, shape, needle, loss="mse"):
    with pytest.raises(UnsupportedError) as info:
        graph_from_module(module, shape, loss)
    text = str(info.value)
    assert "\n" not in text and needle in text, text


def test_unsupported_module_names_class_and_path():
    _refused(nn.Sequential(nn.Linear(3, 3), nn.PReLU()), (3,), "module PReLU at '1'")


def test_unsupported_function_and_method():
    _refused(wrap(lambda s, x: torch.abs(x)), (3,), "abs")
    _refused(wrap(lambda s, x: x.abs()), (3,), ".abs()")


def test_activation_arguments_are_checked():
    import torch.nn.functional as F

    _refused(wrap(lambda s, x: F.softplus(x, beta=2)), (3,), "softplus(beta=2)")
    _refused(wrap(lambda s, x: F.gelu(x, approximate="tanh")), (3,), "gelu(approximate='tanh')")
    g = graph_from_module(wrap(lambda s, x: F.leaky_relu(F.elu(x, 0.5), 0.2)), (3,), "mse")
    acts = [n.attrs["activation"] for n in g.nodes if n.op == "activation"]
    assert [(a.name, dict(a.params)) for a in acts] == [("elu", {"alpha": sp.Rational(1, 2)}),
                                                         ("leaky_relu", {"slope": sp.Rational(1, 5)})]


def test_data_dependent_control_flow_is_refused():
    def fn(s, x):
        return x if x.sum() > 0 else -x
    _refused(wrap(fn), (3,), "torch.fx could not trace")


def test_operations_along_the_batch_axis_are_refused():
    _refused(wrap(lambda s, x: x - x.mean(0)), (3,), "batch axis")
    _refused(wrap(lambda s, x: x.view(-1)), (3,), "batch axis")
    _refused(wrap(lambda s, x: x[0]), (2, 3), "batch axis")


def test_dropout_in_training_mode_is_refused_and_identity_in_eval():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    _refused(m, (3,), "Dropout(p=0.5) in training mode")
    g = graph_from_module(m.eval(), (3,), "mse")
    assert [n.op for n in g.nodes if n.op not in ("input", "param")] == ["linear"]


def test_bad_arguments():
    with pytest.raises(NetworkError):
        graph_from_module(nn.Linear(3, 2), (0,), "mse")
    with pytest.raises(NetworkError):
        graph_from_module(nn.Linear(3, 2), (4,), "mse")  # the module fails on that shape
    with pytest.raises(RegistryError):
        graph_from_module(nn.Linear(3, 2), (3,), "hinge")
    with pytest.raises(InvalidArgument):
        analyze_module(nn.Linear(3, 2), loss="ce", input_shape=(3,), values="approximate")
    with pytest.raises(NetworkError):
        graph_from_module(nn.Linear(3, 1), (3,), "ce")  # softmax over a single class


def test_generic_values_share_symbols_across_parameters():
    """ControlNet's trainable copy starts equal to the frozen base: the same symbols, not new ones."""
    g = graph_from_module(ControlNetBlock(), (4, 3), "mse")
    values, symbols = init_values(g, "generic")
    assert (values["copy.0.weight"] == values["base.0.weight"]).all()
    assert all(v == 0 for v in values["zero_out.weight"].flat)
    assert len(set(values["base.0.weight"].flat)) == values["base.0.weight"].size
    assert not g.params["base.0.weight"].trainable and g.params["copy.0.weight"].trainable


def test_exact_values_are_the_floats():
    m = LoRA(zero="B")
    g = graph_from_module(m, (3,), "mse")
    values, symbols = init_values(g, "exact")
    assert symbols == []
    w = m.base.weight.detach().double().numpy()
    assert all(values["base.weight"][idx] == sp.Rational(float(w[idx])) for idx in np.ndindex(*w.shape))
    a = analyze_module(m, loss="mse", input_shape=(3,), values="exact")
    assert set(a.entry_facts("lora_A.weight")["first_move_step"].flat) == {2}
    assert "exact rationals" in a.to_dict()["assumptions"]["scope"]


def test_json_is_deterministic_and_keyed_by_parameter_names():
    a = analyze_module(LoRA(zero="B"), loss="mse", input_shape=(3,))
    b = analyze_module(LoRA(zero="B"), loss="mse", input_shape=(3,))
    assert a.to_json() == b.to_json()
    doc = a.to_dict()
    assert list(doc["parameters"]) == ["lora_A.weight", "lora_B.weight"]
    assert list(doc["frozen"]) == ["base.weight"]
    p = doc["parameters"]["lora_B.weight"]
    assert p["shape"] == [3, 2] and np.shape(p["first_move_step"]) == (3, 2)
    assert "AdamW" in " ".join(doc["assumptions"]["optimizer_class"]["members"])


def test_shared_module_and_buffers():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.register_buffer("shift", torch.ones(3))

        def forward(self, x):
            return self.lin(torch.tanh(self.lin(x)) + self.shift)

    g = graph_from_module(Tied(), (3,), "mse")
    assert list(g.params) == ["lin.weight", "lin.bias", "buffer:shift"]
    assert g.frozen() == ["buffer:shift"]
    assert sum(1 for n in g.nodes if n.op == "linear") == 2


def test_colliding_sanitized_names_get_distinct_symbols():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a_b = nn.Parameter(torch.tensor([0.5]))
            self.sub = nn.Module()
            self.sub.b = nn.Parameter(torch.tensor([0.75]))
            self.a = nn.Module()
            self.a.b = nn.Parameter(torch.tensor([0.25]))

        def forward(self, x):
            return x * self.a_b + x * self.a.b + x * self.sub.b

    g = graph_from_module(Two(), (1,), "mse")
    values, symbols = init_values(g, "generic")
    assert len(set(symbols)) == len(symbols) == 3
    assert values["a_b"][0] != values["a.b"][0]
