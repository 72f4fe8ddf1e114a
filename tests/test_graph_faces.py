"""The faces of a graph analysis (issue #9): JSON, CLI --module, LaTeX proof documents, verify, facts."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symderiv as sd  # noqa: E402
from symderiv.cli import EXIT_OK, EXIT_REFUTED, EXIT_USAGE, main  # noqa: E402
from symderiv.errors import InvalidArgument  # noqa: E402
from symderiv.graph import analyze_module  # noqa: E402
from symderiv.graph.examples import Attention, ConstantConv, LoRA, ReZero  # noqa: E402
from symderiv.graph.latex import HEADLINE_MARK, graph_library, graph_proof_document  # noqa: E402
from symderiv.graph.spec import load_module, parse_input_shape  # noqa: E402
from symderiv.verify import VerifyReport  # noqa: E402

_CACHE: dict = {}


def cached(key: str, make, shape, loss, **kw):
    if key not in _CACHE:
        module = make()
        _CACHE[key] = (module, analyze_module(module, loss=loss, input_shape=shape, **kw))
    return _CACHE[key]


def lora_b():
    return cached("lora_b", lambda: LoRA(zero="B"), (3,), "mse")


def constant_conv():
    return cached("conv", ConstantConv, (1, 4), "ce")


class Dead(torch.nn.Module):
    """``lin(x) + relu(b) + relu(c)`` with ``b = 0`` (relu'(0) = 0: a pattern zero) and ``c = (-1, -1)``: at
    the exact values c never moves and its entries stay equal."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(2, 2)
        self.b = torch.nn.Parameter(torch.zeros(2))
        self.c = torch.nn.Parameter(torch.tensor([-1.0, -1.0]))

    def forward(self, x):
        return self.lin(x) + torch.relu(self.b) + torch.relu(self.c)


# ---------------------------------------------------------------- JSON
def test_json_parameters_by_name_with_shapes_and_per_entry_fields():
    module, a = constant_conv()
    doc = a.to_dict()
    named = {n: p for n, p in module.named_parameters() if p.requires_grad}
    assert list(doc["parameters"]) == list(named)  # named_parameters() order, trainable only
    fields = ("stays_zero", "tie_class", "first_move_step", "first_move_tight", "gradient_at_init", "conditions",
              "float", "first_move_float")
    for name, entry in doc["parameters"].items():
        shape = list(named[name].shape)
        assert entry["shape"] == shape
        for field in fields:
            item, depth = entry[field], []
            while isinstance(item, list) and len(depth) < len(shape):  # nested lists of the tensor's shape
                depth.append(len(item))
                item = item[0]
            assert depth == shape, field
        # the same facts as the query methods, entry by entry
        for idx in np.ndindex(*shape):
            item = entry["tie_class"]
            for i in idx:
                item = item[i]
            assert item == a.tie_class(name, idx)
    # tie ids are global: two parameters never share an id unless their entries are tied
    ids = {n: {t for t in np.array(e["tie_class"]).flat} for n, e in doc["parameters"].items()}
    assert not ids["conv.weight"] & ids["head.weight"]
    assert doc["frozen"] == {}
    assert json.loads(a.to_json()) == json.loads(json.dumps(doc))
    assert a.to_json() == a.to_json()  # deterministic text


def test_json_frozen_listed_apart_and_gradient_at_init():
    module, a = lora_b()
    doc = a.to_dict()
    assert doc["frozen"] == {"base.weight": {"shape": [3, 3]}}
    assert "base.weight" not in doc["parameters"]
    assert doc["parameters"]["lora_A.weight"]["gradient_at_init"] == [["0"] * 3] * 2  # B = 0 kills dA
    assert all(g != "0" for row in doc["parameters"]["lora_B.weight"]["gradient_at_init"] for g in row)
    assert doc["headline"] == "lora_B.weight moves at step 1, then lora_A.weight at step 2; base.weight frozen"


# ---------------------------------------------------------------- facts: never-moving merges and floats
def test_never_moving_equal_classes_share_a_tie_id_without_weight_decay():
    m = Dead()
    a = analyze_module(m, loss="mse", input_shape=(2,), values="exact")
    f = a.entry_facts("c")
    assert list(f["first_move_step"]) == [None, None]
    assert f["tie_class"][0] == f["tie_class"][1]
    assert all("no_weight_decay" in c for c in f["conditions"])
    assert not f["stays_zero"].any()
    zero = a.entry_facts("b")  # a pattern zero: every optimizer, no condition
    assert zero["stays_zero"].all() and zero["conditions"].tolist() == [[], []]
    assert set(zero["float"].flat) == {"bit_exact"}  # relu'(0) = 0 multiplies: exact zeros only
    assert a.verify(m).ok
    generic = analyze_module(m, loss="mse", input_shape=(2,))  # generic c moves: m's values are exceptional
    assert generic.first_move_step("c", 0) == 1
    report = generic.verify(m)  # ... which is no failure: separation is observed, not claimed
    assert report.ok and any("moved bit-identically" in n for n in report.notes)


def test_float_statuses():
    _, conv = constant_conv()
    assert set(conv.entry_facts("conv.weight")["first_move_float"].flat) == {"exact_arithmetic_only"}
    assert set(conv.entry_facts("conv.weight")["float"].flat) == {"identical_rounding"}  # tied filters
    _, att = cached("att_qk", lambda: Attention(zero="qk"), (2, 3), "mse")
    assert att.entry_facts("q.weight")["stays_zero"].all()
    assert set(att.entry_facts("q.weight")["float"].flat) <= {"bit_exact", "identical_rounding"}  # no cancellation
    rezero = analyze_module(ReZero(), loss="mse", input_shape=(3,))
    assert set(rezero.entry_facts("f1.weight")["first_move_float"].flat) == {"bit_exact"}  # alpha = 0 multiplies


# ---------------------------------------------------------------- verify
def test_verify_passes_on_examples_and_has_the_mlp_report_type():
    for module, a in (lora_b(), constant_conv()):
        report = sd.verify(a, module=module)
        assert isinstance(report, VerifyReport) and report.ok, str(report)
        kinds = {c.kind for c in report.checks}
        assert {"gradient", "claims", "witness_replay"} <= kinds
        assert any("untied entries separated" in n for n in report.notes)


def _fabricated(a, k, **changes):
    b = dataclasses.replace(a)
    b.facts = dict(a.facts)  # the cached facts of a copy: fabricate one class's claim
    b.facts[k] = dataclasses.replace(a.facts[k], **changes)
    return b


@pytest.mark.parametrize("claim", ["zero", "late_move", "tie"])
def test_verify_rejects_a_fabricated_claim(claim):
    module, a = lora_b()
    k_a = a.proof.class_of[("lora_A.weight", 0)]
    k_b = a.proof.class_of[("lora_B.weight", 0)]
    if claim == "zero":  # lora_A[0,0] "stays zero": it is generic, not 0
        b = _fabricated(a, k_a, stays_zero=True)
    elif claim == "late_move":  # lora_B[0,0] "unchanged before step 3": it moves at step 1
        b = _fabricated(a, k_b, first_move_step=3)
    else:  # lora_B[0,0] "tied" with lora_B[0,1]
        b = _fabricated(a, k_b, tie_id=a.facts[a.proof.class_of[("lora_B.weight", 1)]].tie_id)
    report = b.verify(module)
    assert not report.ok
    assert any(c.kind == "claims" for c in report.failures())
    with pytest.raises(sd.SymderivError):
        b.verify(module, strict=True)


def test_verify_refuses_another_module():
    _, a = lora_b()
    with pytest.raises(InvalidArgument):
        a.verify(LoRA(zero="A"))  # lora_B is not zero there: not the analyzed pattern
    with pytest.raises(InvalidArgument):
        sd.verify(a)  # the module is needed


# ---------------------------------------------------------------- CLI --module
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    name = "sd_faces_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Gate(nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(1)
                self.inner = nn.Linear(4, 3)
                self.outer = nn.Linear(3, 2)
                nn.init.zeros_(self.outer.weight)

            def forward(self, x):
                return self.outer(torch.tanh(self.inner(x)))

        def make():
            return Gate()

        model = Gate()
        not_a_module = 3

        def returns_int():
            return 3
    """), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_cli_analyze_module(user_module, capsys, tmp_path):
    assert main(["analyze", "--module", f"{user_module}:make", "--input-shape", "4", "--loss", "mse"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("Gate: graph of") and "outer.weight" in out
    tex = tmp_path / "gate.tex"
    assert main(["analyze", "--module", f"{user_module}:model", "--input-shape", "4", "--loss", "mse", "--json",
                 "--latex", str(tex)]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["module_spec"] == f"{user_module}:model"
    assert doc["parameters"]["outer.weight"]["shape"] == [2, 3]
    assert doc["parameters"]["inner.weight"]["first_move_step"] == [[2] * 4] * 3  # waits for the zero layer
    assert tex.read_text(encoding="utf-8").startswith(r"\documentclass")
    assert main(["verify", "--module", f"{user_module}:make", "--input-shape", "4", "--loss", "mse"]) == EXIT_OK
    assert "verify: OK" in capsys.readouterr().out


@pytest.mark.parametrize("spec, shape, message", [
    ("{m}:returns_int", "4", "returned a int, not an nn.Module"),
    ("{m}:not_a_module", "4", "neither an nn.Module nor a function"),
    ("{m}:missing", "4", "has no attribute 'missing'"),
    ("no_such_module_xyz:make", "4", "no Python module named 'no_such_module_xyz'"),
    ("__import__('os').system('true')", "4", "is not a module spec"),
    ("{m}:make", "4,x", "is not a shape"),
    ("{m}:make", None, "needs --input-shape"),
])
def test_cli_module_errors_are_one_line(user_module, capsys, spec, shape, message):
    argv = ["analyze", "--module", spec.format(m=user_module), "--loss", "mse"]
    if shape is not None:
        argv += ["--input-shape", shape]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("symderiv: error:") and "\n" not in err


def test_module_spec_without_torch_is_one_line(monkeypatch):
    import sys

    from symderiv.errors import UnsupportedError

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(UnsupportedError, match="needs PyTorch"):
        load_module("symderiv.graph.examples:ReZero")


def test_spec_helpers():
    assert parse_input_shape("4") == (4,) and parse_input_shape("3,8") == (3, 8)
    with pytest.raises(InvalidArgument):
        parse_input_shape("0")
    module, name = load_module("symderiv.graph.examples:ReZero")
    assert isinstance(module, torch.nn.Module) and name == "ReZero"


def test_cli_verify_exit_status_on_failure(user_module, capsys, monkeypatch):
    """A failed graph verify exits 1 (refuted), as the MLP verify."""
    from symderiv.graph import analysis as graph_analysis

    real = graph_analysis.GraphAnalysis.verify

    def failing(self, module, **kw):
        report = real(self, module, **kw)
        report.checks[0].ok = False
        return report

    monkeypatch.setattr(graph_analysis.GraphAnalysis, "verify", failing)
    assert main(["verify", "--module", f"{user_module}:make", "--input-shape", "4", "--loss", "mse"]) == EXIT_REFUTED


# ---------------------------------------------------------------- LaTeX
def test_document_headline_first_and_deterministic():
    module, a = lora_b()
    tex = a.to_latex()
    lines = tex.splitlines()
    assert lines[1] == HEADLINE_MARK + "lora_B.weight moves at step 1, then lora_A.weight at step 2; base.weight frozen"
    assert tex == graph_proof_document(analyze_module(LoRA(zero="B"), loss="mse", input_shape=(3,)))
    assert r"\begin{theorem}" in tex and r"\section{Certified witness trajectories}" in tex
    assert r"setting $W^{\mathrm{lora\_B}}$ to $0$" in tex  # the decisive closed form of dA
    with pytest.raises(sd.SymderivError):
        graph_proof_document("not an analysis")


def test_library_lists_the_issue_examples():
    names = {e.name for e in graph_library()}
    assert {"graph_lora_B_zero", "graph_lora_A_zero", "graph_lora_AB_zero", "graph_controlnet_zero_convs",
            "graph_rezero", "graph_layernorm_zero_gamma", "graph_attention_zero_qk", "graph_attention_zero_q",
            "graph_constant_conv1d"} <= names
    root = Path(__file__).resolve().parent.parent / "proofs"
    assert all((root / f"{n}.tex").exists() for n in names)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_documents_compile_without_overfull_boxes(tmp_path):
    # one document here (proofs/ compiles every library entry in tests/test_latex.py): the attention one has
    # the largest closed forms (named sub-expressions) and a lumped analysis behind it
    for key, (module, a) in {"att": cached("att_qk", lambda: Attention(zero="qk"), (2, 3), "mse")}.items():
        (tmp_path / f"{key}.tex").write_text(a.to_latex(), encoding="utf-8")
        run = subprocess.run(["pdflatex", "-halt-on-error", "-interaction=nonstopmode", f"{key}.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        log = (tmp_path / f"{key}.log").read_text(errors="replace")
        assert run.returncode == 0, [line for line in log.splitlines() if line.startswith("!")]
        widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
        assert all(w <= 1.0 for w in widths), (key, widths)
