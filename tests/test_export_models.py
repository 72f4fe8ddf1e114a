"""Models as they ship, through the torch.export front end: peft LoRA (``get_peft_model``) on an MLP and on a tiny
LlamaForCausalLM, and tiny GPT2LMHeadModel, LlamaForCausalLM and BertModel with one module zeroed by the user.

Each is analysed with ``sd.analyze(model, loss=..., input_shape=...)`` (token ids for the language models), its
expected first moves are checked against what the architecture implies, and ``verify(model)`` replays every
claim on real float64 torch SGD and Adam runs (and the other optimizers of the class)."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from torch import nn  # noqa: E402

import symderiv as sd  # noqa: E402
from symderiv.graph import tokens  # noqa: E402

transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", category=FutureWarning)

TINY = dict(vocab_size=16, max_position_embeddings=8)


def llama(**kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, **TINY, **kw)).eval()


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=2, resid_pdrop=0,
                                      embd_pdrop=0, attn_pdrop=0)).eval()


def bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    return BertModel(BertConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                hidden_dropout_prob=0, attention_probs_dropout_prob=0, **TINY)).eval()


def steps(a, names):
    """name -> the set of first-move steps of its entries (None: never)."""
    return {n: set(a.entry_facts(n)["first_move_step"].flat) for n in names}


LM = dict(loss="softmax_cross_entropy", input_shape={"input_ids": tokens(3)}, forward_kwargs={"use_cache": False})


def zeroed(model, path):
    with torch.no_grad():
        model.get_parameter(path).zero_()
    return model


def test_gpt2_zero_mlp_output_projection():
    m = zeroed(gpt2(), "transformer.h.0.mlp.c_proj.weight")
    a = sd.analyze(m, **LM)
    got = steps(a, a.proof.graph.trainable())
    # behind the zero projection, the MLP's input side waits one step; everything else moves at step 1
    for name in ("transformer.h.0.mlp.c_fc.weight", "transformer.h.0.ln_2.weight"):
        assert got[name] == {2}, (name, got[name])
    for name in ("transformer.h.0.mlp.c_proj.weight", "transformer.h.0.attn.c_attn.weight", "transformer.wte.weight"):
        assert got[name] == {1}, (name, got[name])
    assert "lm_head.weight" not in a.proof.graph.params  # tied to wte: one parameter, as named_parameters()
    report = a.verify(m, optimizers=("sgd", "adam"))
    assert report.ok, report


def test_llama_zero_down_projection():
    m = zeroed(llama(), "model.layers.0.mlp.down_proj.weight")
    a = sd.analyze(m, **LM)
    got = steps(a, a.proof.graph.trainable())
    for name in ("model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                 "model.layers.0.post_attention_layernorm.weight"):
        assert got[name] == {2}, (name, got[name])
    assert got["model.layers.0.self_attn.q_proj.weight"] == {1}
    report = a.verify(m, optimizers=("sgd", "adam"))
    assert report.ok, report


def test_bert_zero_output_dense():
    m = zeroed(bert(), "encoder.layer.0.output.dense.weight")
    a = sd.analyze(m, loss="mse", input_shape={"input_ids": tokens(3)})  # last_hidden_state
    got = steps(a, a.proof.graph.trainable())
    assert got["encoder.layer.0.intermediate.dense.weight"] == {2}
    assert got["encoder.layer.0.output.dense.weight"] == {1}
    assert got["pooler.dense.weight"] == {None}  # the pooler output is not the analysed output
    report = a.verify(m, optimizers=("sgd", "adam"))
    assert report.ok, report


# ---------------------------------------------------------------- peft as shipped
peft = pytest.importorskip("peft")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def lora(model, targets):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(2)
    return get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=targets, lora_dropout=0.0))


def lora_steps(a):
    g = a.proof.graph
    by_kind = {"lora_A": set(), "lora_B": set()}
    for name, s in steps(a, g.trainable()).items():
        kind = "lora_A" if "lora_A" in name else "lora_B" if "lora_B" in name else None
        assert kind is not None, f"{name} is trainable"  # the base is frozen by peft
        by_kind[kind] |= s
    return by_kind, g


@pytest.mark.parametrize("which", ["mlp", "llama"])
def test_peft_lora_b_moves_at_step_1_then_a_at_step_2(which):
    if which == "mlp":
        m, kw = lora(MLP(), ["fc1", "fc2"]), dict(loss="mse", input_shape=(4,))
    else:
        m, kw = lora(llama(), ["q_proj", "v_proj"]), LM
    a = sd.analyze(m, **kw)
    by_kind, g = lora_steps(a)
    assert by_kind == {"lora_B": {1}, "lora_A": {2}}
    assert g.frozen() and all("lora" not in n for n in g.frozen())
    assert a.verify(m, optimizers=("sgd", "adam")).ok
    # the inner model as peft exposes it: the same statements, the same parameter names
    inner = sd.analyze(m.base_model.model, **kw)
    assert lora_steps(inner)[0] == by_kind


@pytest.mark.parametrize("which", ["mlp", "llama"])
def test_peft_with_a_and_b_zero_nothing_ever_moves(which):
    m = lora(MLP(), ["fc1", "fc2"]) if which == "mlp" else lora(llama(), ["q_proj", "v_proj"])
    kw = dict(loss="mse", input_shape=(4,)) if which == "mlp" else LM
    for name, p in m.named_parameters():
        if "lora_A" in name:
            with torch.no_grad():
                p.zero_()
    a = sd.analyze(m, **kw)
    g = a.proof.graph
    for name in g.trainable():
        facts = a.entry_facts(name)
        assert all(facts["stays_zero"].flat), name
    report = a.verify(m, optimizers=("sgd", "adam"))
    assert report.ok, report


def test_faces_of_an_exported_model():
    """summary, to_dict/to_json (deterministic), to_latex: the existing faces, unchanged."""
    m = zeroed(gpt2(), "transformer.h.0.mlp.c_proj.weight")
    a = sd.analyze(m, **LM)
    assert a.to_json() == sd.analyze(m, **LM).to_json()
    d = a.to_dict()
    assert d["parameters"]["transformer.h.0.mlp.c_fc.weight"]["first_move_step"][0][0] == 2
    assert "GPT2LMHeadModel" in a.summary()
    tex = a.to_latex()
    assert tex.startswith("\\documentclass") and "\\end{document}" in tex
    assert np.isfinite(len(tex))
