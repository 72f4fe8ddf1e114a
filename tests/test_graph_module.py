"""Modules -> graphs through the one front end (torch.export and Core ATen, ``graph_from_module``): custom
forwards, values generic/exact, and one-line refusals (op, library file:line, module path) of what is
unsupported."""
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


def _refused(module, shape, *needles, loss="mse"):
    with pytest.raises(UnsupportedError) as info:
        graph_from_module(module, shape, loss)
    text = str(info.value)
    assert "\n" not in text and all(n in text for n in needles), text


def test_unsupported_op_names_op_line_and_module_path():
    # PReLU decomposes to a comparison with 0 feeding a select: the op, torch's line, the module path and class
    _refused(nn.Sequential(nn.Linear(3, 3), nn.PReLU()), (3,), "aten.gt.Scalar", "nn/modules/activation.py:",
             "module 1 (PReLU)")


def test_unsupported_function_and_method():
    for fn in (lambda s, x: torch.abs(x), lambda s, x: x.abs()):  # both decompose to the same Core ATen op
        _refused(wrap(fn), (3,), "the op aten.abs.default (", "graph_oracle.py:", "(Wrap)")


def test_activation_arguments_are_kept():
    """Activations with arguments become graph activations with those exact arguments (elu's alpha,
    leaky_relu's slope), and the engine agrees with autograd on them."""
    import torch.nn.functional as F

    from graph_oracle import assert_engine_matches_autograd

    fn = lambda s, x: F.leaky_relu(F.elu(s.mods[0](x), 0.5), 0.2)  # noqa: E731
    g = graph_from_module(wrap(fn, nn.Linear(3, 3)), (3,), "mse")
    acts = [n.attrs["activation"] for n in g.nodes if n.op == "activation"]
    assert [(a.name, dict(a.params)) for a in acts] == [("elu", {"alpha": sp.Rational(1, 2)}),
                                                         ("leaky_relu", {"slope": sp.Rational(1, 5)})]
    torch.manual_seed(0)
    assert_engine_matches_autograd(wrap(fn, nn.Linear(3, 3)).double(), (3,), "mse")
    # softplus is kept whole (its decomposition branches on the data): log(1 + e^(βx))/β, β exact
    assert_engine_matches_autograd(wrap(lambda s, x: F.softplus(s.mods[0](x), beta=2), nn.Linear(3, 3)).double(),
                                   (3,), "mse")


def test_data_dependent_control_flow_is_refused():
    def fn(s, x):
        return x if x.sum() > 0 else -x
    _refused(wrap(fn), (3,), "torch.export could not trace Wrap")


def test_operations_along_the_batch_axis_are_refused():
    _refused(wrap(lambda s, x: x - x.mean(0)), (3,), "mixes the examples of a batch")
    _refused(wrap(lambda s, x: x.view(-1)), (3,), "does not keep the batch axis first")
    _refused(wrap(lambda s, x: x[0]), (2, 3), "does not keep the batch axis first")


def test_dropout_in_training_mode_is_refused_and_identity_in_eval():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    _refused(m, (3,), "a random op (dropout", "aten.native_dropout", "module 1 (Dropout)")
    g = graph_from_module(m.eval(), (3,), "mse")
    assert [n.op for n in g.nodes if n.op in ("linear", "matmul", "mul", "activation")] == ["linear"]


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
    assert list(g.params) == ["lin.weight", "lin.bias"]  # one parameter, used twice
    assert g.frozen() == []  # a buffer is a constant of the graph, with its exact values
    assert sum(1 for n in g.nodes if n.op == "linear") == 2
    consts = [n.attrs["value"] for n in g.nodes if n.op == "const"]
    assert any(np.shape(v) and all(e == 1 for e in np.asarray(v).flat) for v in consts)
    from graph_oracle import assert_engine_matches_autograd

    torch.manual_seed(0)
    assert_engine_matches_autograd(Tied().double(), (3,), "mse")


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
