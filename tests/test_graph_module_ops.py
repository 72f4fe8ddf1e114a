"""Real-world forward code: nanoGPT-style attention (shape unpacking, split, view, transpose,
``k.size(-1) ** 0.5``), scaled_dot_product_attention with chunk, nn.MultiheadAttention,
LLaMA-style RMSNorm (pow, mean, rsqrt, float, type_as), F.layer_norm, unbind, exp/log/sqrt.
Each is converted and its engine gradients compared with torch autograd on the same module;
what is not supported is refused in one line."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graph_oracle import assert_engine_matches_autograd, wrap  # noqa: E402
from symderiv.errors import UnsupportedError  # noqa: E402
from symderiv.graph import graph_from_module  # noqa: E402
from symderiv.graph.replay import engine_gradients, random_batch, torch_loss  # noqa: E402


class NanoAttention(nn.Module):
    def __init__(self, d=4, h=2):
        super().__init__()
        self.h = h
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / (k.size(-1) ** 0.5))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class SdpaAttention(nn.Module):
    def __init__(self, d=4, h=2):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, 2)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(B, T, self.h, C // self.h).permute(0, 2, 1, 3) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class MHA(nn.Module):
    def __init__(self, d=4):
        super().__init__()
        self.mha = nn.MultiheadAttention(d, 2, batch_first=True)
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        y, _ = self.mha(x, x, x, need_weights=False)
        return self.head(y)


class LlamaRMSNorm(nn.Module):
    def __init__(self, d=4, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d) * 0.5)
        self.eps = eps
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        h = self.lin(x).float()
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.eps)
        return self.weight * h.type_as(x)


class Misc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.ln_w = nn.Parameter(torch.randn(3))

    def forward(self, x):  # x (B, 2, 3)
        a, b = x.unbind(1)
        h = F.layer_norm(self.lin(a), (3,), self.ln_w, None, 1e-5)
        u = torch.square(b) + 1
        g = torch.exp(-u) + torch.log(u) + torch.sqrt(u) + torch.reciprocal(u) + u ** 1.5
        return F.dropout(h * g, p=0.1, training=False)


class KeywordTranspose(nn.Module):
    """transpose with keyword dims on a batched tensor (it used to be taken for .t() and refused)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):  # x (B, 3, 3)
        return (self.lin(x.transpose(dim0=1, dim1=2)) * torch.transpose(x, dim0=-1, dim1=-2)[:, :, :2]).flatten(1)


class PreLNBlock(nn.Module):
    """The MLP half of a GPT-style pre-LN block: GELU of a LayerNorm output (a smooth activation of a
    compound argument is built at a symbol and substituted unevaluated: 2 ms instead of 12 s per entry)."""

    def __init__(self, d=4):
        super().__init__()
        self.ln, self.fc, self.proj = nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x):
        return x + self.proj(F.gelu(self.fc(self.ln(x))))


CASES = [(PreLNBlock, (2, 4), "mse", 1e-9), (NanoAttention, (3, 4), "mse", 1e-9), (SdpaAttention, (3, 4), "ce", 1e-9), (MHA, (2, 4), "mse", 1e-9),
         (LlamaRMSNorm, (2, 4), "mse", 1e-5),  # its .float() computes in float32 in PyTorch
         (Misc, (2, 3), "bce", 1e-9), (KeywordTranspose, (3, 3), "mse", 1e-9)]


@pytest.mark.parametrize("make,shape,loss,rtol", CASES, ids=[c[0].__name__ for c in CASES])
def test_engine_matches_torch_autograd(make, shape, loss, rtol):
    torch.manual_seed(0)
    assert_engine_matches_autograd(make().double().eval(), shape, loss, rtol=rtol)


def test_wrong_gradients_would_be_caught():
    """The comparison above is sharp: a converted graph with one wrong constant disagrees."""
    torch.manual_seed(0)
    module = NanoAttention().double().eval()
    graph = graph_from_module(module, (3, 4), "mse")
    scale = next(n for n in graph.nodes if n.op == "scale")
    scale.attrs["c"] = scale.attrs["c"] * 2
    gen = torch.Generator().manual_seed(3)
    x, y = random_batch("mse", (3, 4), graph.nodes[graph.output].shape, 1, gen)
    torch_loss("mse")(module(x), y).backward()
    ours = engine_gradients(graph, module, x[0].numpy(), y[0].numpy())
    assert not np.allclose(ours["c_attn.weight"], module.c_attn.weight.grad.numpy(), rtol=1e-6)


class CausalSdpa(nn.Module):
    """A causal mask is a constant subgraph: folded exactly, then -inf entries inside the softmax."""

    def __init__(self, d=4):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        return F.scaled_dot_product_attention(*self.qkv(x).chunk(3, dim=-1), is_causal=True)


class TanhGelu(nn.Module):
    def __init__(self, d=3):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        return F.gelu(self.lin(x), approximate="tanh")


@pytest.mark.parametrize("make,shape,loss", [(CausalSdpa, (3, 4), "mse"), (TanhGelu, (3,), "mse")],
                         ids=["causal_sdpa", "tanh_gelu"])
def test_formerly_refused_forwards_match_autograd(make, shape, loss):
    torch.manual_seed(0)
    assert_engine_matches_autograd(make().double().eval(), shape, loss)


@pytest.mark.parametrize("fn,mods,needle", [
    # batch_first=False: the attention mixes the rows of the (batch) axis 0
    (lambda s, x: s.mods[0](x, x, x)[0], (nn.MultiheadAttention(4, 2),), "mixes the examples of a batch"),
    (lambda s, x: F.dropout(x, p=0.5, training=True), (), "a random op (dropout"),
    (lambda s, x: x.split(1, dim=0)[0], (), "mixes the examples of a batch"),
    (lambda s, x: x ** x, (), "the op aten.pow.Tensor_Tensor ("),
])
def test_refusals_are_one_line(fn, mods, needle):
    with pytest.raises(UnsupportedError) as info:
        graph_from_module(wrap(fn, *mods), (3, 4), "mse")
    assert "\n" not in str(info.value) and needle in str(info.value), str(info.value)


def test_wrong_input_shape_is_one_line_and_quiet(capfd):
    from symderiv.errors import NetworkError

    with pytest.raises(NetworkError) as info:
        graph_from_module(nn.Linear(3, 2), (4,), "mse")
    assert "\n" not in str(info.value) and "shapes cannot be multiplied" in str(info.value)
    assert capfd.readouterr().err == ""  # no traceback printed by torch.export on the way


def test_zero_init_output_projection_of_a_transformer_mlp():
    """GPT-2-style zero-init output projection: it moves at step 1, everything behind it at step 2;
    replayed with torch.optim."""
    from symderiv.graph import analyze_module

    torch.manual_seed(0)
    m = PreLNBlock()
    nn.init.zeros_(m.proj.weight)
    nn.init.zeros_(m.proj.bias)
    a = analyze_module(m, loss="mse", input_shape=(2, 4))
    for name, p in m.named_parameters():
        steps = {a.first_move_step(name, idx) for idx in np.ndindex(*p.shape)}
        assert steps == ({1} if name.startswith("proj.") else {2}), (name, steps)
        assert all(a.first_move_tight(name, idx) for idx in np.ndindex(*p.shape)), name
    assert a.verify(m, optimizers=("sgd", "adam"), batches=(2,)).ok
