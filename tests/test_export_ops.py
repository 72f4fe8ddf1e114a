"""Every rule of the Core ATen table (symderiv/graph/aten.py) against torch autograd.

Each case is a small module whose exported, decomposed program contains the ATen op under test (checked:
the case would test nothing otherwise); the graph engine's exact closed-form gradients at the module's own
values and a random example are compared entry by entry with autograd on the float64 module.  Refusals are
one line naming the op, the file and line, and the module path."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from export_oracle import assert_export_matches_autograd  # noqa: E402
from graph_oracle import wrap  # noqa: E402
from symderiv.errors import UnsupportedError  # noqa: E402
from symderiv.graph.export import tokens  # noqa: E402


def lin(i=3, o=3, bias=True):
    torch.manual_seed(len(CASES) + i * 7 + o)
    return nn.Linear(i, o, bias=bias)


class Embed(nn.Module):
    """Token ids -> embedding (+ positions from arange, a constant subgraph) -> linear head."""

    def __init__(self, vocab=5, d=3, padding_idx=None):
        super().__init__()
        torch.manual_seed(5)
        self.emb = nn.Embedding(vocab, d, padding_idx=padding_idx)
        self.pos = nn.Embedding(4, d)
        self.head = nn.Linear(d, 2)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        return self.head(self.emb(ids) + self.pos(positions))


class CausalAttention(nn.Module):
    """softmax with a causal -inf mask built from constants (tril / where / -inf), then the safe-softmax where."""

    def __init__(self, d=2):
        super().__init__()
        torch.manual_seed(6)
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


#: (ATen op under test, forward, modules, input shape, loss)
CASES = []


def case(op, fn, mods, shape=(3,), loss="mse"):
    CASES.append(pytest.param(op, fn, mods, shape, loss, id=op))


case("aten.addmm.default", lambda s, x: s.mods[0](x), [lin()])
case("aten.mm.default", lambda s, x: x @ s.mods[0].weight, [lin(bias=False)])
case("aten.bmm.default", lambda s, x: torch.bmm(s.mods[0](x), s.mods[1](x).transpose(1, 2)), [lin(2, 2), lin(2, 2)],
     (3, 2))
case("aten.add.Tensor", lambda s, x: s.mods[0](x) + x, [lin()])
case("aten.sub.Tensor", lambda s, x: s.mods[0](x) - 2 * x, [lin()])
case("aten.mul.Tensor", lambda s, x: s.mods[0](x) * s.mods[1](x), [lin(), lin()])
case("aten.div.Tensor", lambda s, x: s.mods[0](x) / (s.mods[1](x) ** 2 + 1), [lin(), lin()])
case("aten.mul.Scalar", lambda s, x: torch.ops.aten.mul.Scalar(s.mods[0](x), 0.5), [lin()])
case("aten.neg.default", lambda s, x: -s.mods[0](x), [lin()])
case("aten.exp.default", lambda s, x: torch.exp(s.mods[0](x)), [lin()])
case("aten.log.default", lambda s, x: torch.log(s.mods[0](x) ** 2 + 1), [lin()])
case("aten.sqrt.default", lambda s, x: torch.sqrt(s.mods[0](x) ** 2 + 1), [lin()])
case("aten.rsqrt.default", lambda s, x: torch.rsqrt(s.mods[0](x) ** 2 + 1), [lin()])
case("aten.reciprocal.default", lambda s, x: torch.reciprocal(s.mods[0](x) ** 2 + 1), [lin()])
case("aten.pow.Tensor_Scalar", lambda s, x: s.mods[0](x) ** 3, [lin()])
case("aten.tanh.default", lambda s, x: torch.tanh(s.mods[0](x)), [lin()])
case("aten.sigmoid.default", lambda s, x: torch.sigmoid(s.mods[0](x)), [lin()])
case("aten.relu.default", lambda s, x: torch.relu(s.mods[0](x) + 3 * x), [lin(3, 3)])
case("aten.gelu.default", lambda s, x: F.gelu(s.mods[0](x)), [lin()])
case("aten.gelu.default-tanh", lambda s, x: F.gelu(s.mods[0](x), approximate="tanh"), [lin()])
case("aten.view.default", lambda s, x: s.mods[0](x.view(-1, 6)).view(-1, 2, 3), [lin(6, 6)], (2, 3))
case("aten.unsqueeze.default", lambda s, x: s.mods[0](x).unsqueeze(1).sum(1), [lin()])
case("aten.squeeze.dims", lambda s, x: s.mods[0](x)[:, :, None].squeeze(-1), [lin()])
case("aten.permute.default", lambda s, x: s.mods[0](x).permute(0, 2, 1), [lin(2, 2)], (3, 2))
case("aten.expand.default", lambda s, x: s.mods[0](x).unsqueeze(1).expand(-1, 3, -1) * s.mods[1](x).unsqueeze(2),
     [lin(), lin()])
case("aten.slice.Tensor", lambda s, x: s.mods[0](x)[:, 1:3], [lin(3, 4)])
case("aten.select.int", lambda s, x: s.mods[0](x)[:, 1, :], [lin(2, 2)], (3, 2))
case("aten.split_with_sizes.default", lambda s, x: torch.cat(s.mods[0](x).split([1, 3], dim=-1)[::-1], -1),
     [lin(3, 4)])
case("aten.cat.default", lambda s, x: torch.cat([s.mods[0](x), x], dim=-1), [lin()])
case("aten.index.Tensor", lambda s, x: s.mods[0](x)[:, torch.tensor([2, 0, 0])], [lin()])
case("aten.where.self", lambda s, x: torch.where(torch.tensor([True, False, True]), s.mods[0](x), s.mods[1](x)),
     [lin(), lin()])
case("aten._softmax.default", lambda s, x: F.softmax(s.mods[0](x), dim=-1), [lin()], (3,), "softmax_cross_entropy")
case("aten._log_softmax.default", lambda s, x: F.log_softmax(s.mods[0](x), dim=-1), [lin()])
case("aten.mean.dim", lambda s, x: s.mods[0](x).mean(-1, keepdim=True) * x, [lin()])
case("aten.sum.dim_IntList", lambda s, x: s.mods[0](x).sum(1), [lin(2, 2)], (3, 2))
case("aten.native_layer_norm.default", lambda s, x: s.mods[1](s.mods[0](x)), [lin(), nn.LayerNorm(3)])
case("aten.embedding.default", None, None, {"ids": tokens(3)}, "softmax_cross_entropy")
case("aten.embedding.default-padding", None, "padding", {"ids": tokens(3)}, "softmax_cross_entropy")
case("aten.eq.Scalar", None, "causal", (3, 2))


def _module(op, fn, mods):
    if op.startswith("aten.embedding"):
        return Embed(padding_idx=0 if mods == "padding" else None)
    if op == "aten.eq.Scalar":
        return CausalAttention()
    return wrap(fn, *mods)


@pytest.mark.parametrize("op,fn,mods,shape,loss", CASES)
def test_aten_rule_matches_autograd(op, fn, mods, shape, loss):
    module = _module(op, fn, mods).double()
    graph = assert_export_matches_autograd(module, shape, loss, rtol=1e-9)
    target = op.split("-")[0]
    assert target in graph.aten_ops, f"{target} is not in the exported program of its case"


def test_token_ids_cover_every_sequence_and_the_padding_row_gets_no_gradient():
    from symderiv.graph.export import graph_from_export
    from symderiv.graph.engine import backprop, symbolic_values

    module = Embed(padding_idx=0).double()
    graph = graph_from_export(module, {"ids": tokens(3)}, "mse")
    x = graph.nodes[graph.input_node]
    assert x.shape == (3, 5) and x.attrs["vocab"] == 5  # one-hot rows over the vocabulary
    state = backprop(graph, symbolic_values(graph))
    assert all(v == 0 for v in state.grads["emb.weight"][0].flat)  # padding_idx: no gradient, as PyTorch
    assert any(v != 0 for v in state.grads["emb.weight"][1].flat)


def test_constant_subgraphs_are_folded_exactly():
    """Causal masks from arange/comparisons never reach the graph as ops: only consts, a masked softmax."""
    from symderiv.graph.export import graph_from_export

    graph = graph_from_export(CausalAttention().double(), (3, 2), "mse")
    ops = {n.op for n in graph.nodes}
    assert "softmax" in ops and not ops & {"le", "eq", "cumsum", "arange"}
    masks = [n.attrs["mask"] for n in graph.nodes if n.op == "softmax" and "mask" in n.attrs]
    assert masks and np.array_equal(np.asarray(masks[0]).reshape(-1, 3, 3)[0], ~np.tri(3, dtype=bool))


class Apply(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn, self.lin = fn, lin()

    def forward(self, x):
        return self.fn(self.lin(x), x)  # the line a refusal names


@pytest.mark.parametrize("fn,what", [
    (lambda h, x: torch.abs(h), "aten.abs"),
    (lambda h, x: torch.where(h > 0, x, -x), "aten.gt"),
    (lambda h, x: F.dropout(h, 0.5, training=True), "dropout"),
])
def test_refusals_name_the_op_the_line_and_the_module(fn, what):
    from symderiv.graph.export import graph_from_export

    with pytest.raises(UnsupportedError) as err:
        graph_from_export(Apply(fn), (3,), "mse")
    text = str(err.value)
    assert "\n" not in text and what in text and "test_export_ops.py:" in text and "(Apply)" in text, text


def test_a_module_mixing_the_batch_is_refused():
    from symderiv.graph.export import graph_from_export

    with pytest.raises(UnsupportedError, match="mixes the examples of a batch"):
        graph_from_export(wrap(lambda s, x: s.mods[0](x) - s.mods[0](x).mean(0, keepdim=True), lin()), (3,), "mse")


def test_module_outputs_tuple_and_dict():
    from symderiv.graph.export import graph_from_export

    torch.manual_seed(0)
    m = wrap(lambda s, x: {"other": x.sum(-1, keepdim=True), "logits": s.mods[0](x)}, lin(3, 2))
    g = graph_from_export(m, (3,), "mse")
    assert g.nodes[g.output].shape == (2,)  # logits, not the first entry
    g = graph_from_export(m, (3,), "mse", output="other")
    assert g.nodes[g.output].shape == (1,)


# ---------------------------------------------------------------- token ids: the theorem and its witnesses
class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(5, 3)
        self.head = nn.Linear(3, 5)
        with torch.no_grad():
            self.head.weight.zero_()

    def forward(self, input_ids):
        return self.head(torch.tanh(self.emb(input_ids)))


def test_token_witnesses_are_real_ids_and_verify_replays_them():
    import symderiv as sd
    from symderiv.graph.tokens import token_symbols

    m = TinyLM()
    a = sd.analyze(m, loss="softmax_cross_entropy", input_shape={"input_ids": tokens(2)})
    g = a.proof.graph
    assert a.entry_facts("emb.weight")["first_move_step"].flat[0] == 2  # behind the zero head
    names = {str(s) for s in token_symbols(g)}
    assert a.proof.trajectories
    for w in a.proof.trajectories:
        values = {k: v for k, v in w.point if k in names}
        assert len(values) == 2 * 5 and set(values.values()) <= {"0", "1"}
        assert sum(v == "1" for v in values.values()) == 2  # one id per position
    assert "every token sequence" in a.scope()
    report = a.verify(m)
    assert report.ok and any(c.kind == "witness_replay" for c in report.checks), report


def test_token_point_gives_one_hot_rows():
    import random

    from symderiv.graph.export import graph_from_export
    from symderiv.graph.tokens import ids_of, one_hot, token_point

    g = graph_from_export(TinyLM(), {"input_ids": tokens(3)}, "softmax_cross_entropy")
    point = token_point(g, random.Random(1))
    x = g.nodes[g.input_node]
    rows = np.array([[float(point[s]) for s in row] for row in
                     __import__("symderiv.graph.engine", fromlist=["input_symbols"]).input_symbols(x.shape).tolist()])
    assert np.array_equal(one_hot(ids_of(rows), 5), rows)
    with pytest.raises(ValueError):
        ids_of(rows * 2)


def test_cli_module_with_token_ids(tmp_path, monkeypatch, capsys):
    import inspect
    import re
    import sys

    from symderiv.cli import EXIT_OK, main

    name = "sd_export_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{name}.py").write_text("import torch\nfrom torch import nn\n\n" + inspect.getsource(TinyLM)
                                         + "\n\ndef make():\n    return TinyLM()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["analyze", "--module", f"{name}:make", "--input-shape", "input_ids=tokens:2",
                 "--loss", "softmax_cross_entropy"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("TinyLM: graph of") and "emb.weight at step 2" in out
    sys.modules.pop(name, None)
