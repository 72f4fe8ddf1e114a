"""Statements proved for an optimizer, checked on real runs of that optimizer (float64).

torch.optim.Muon and torch.optim.Adafactor (torch 2.13), Lion, LAMB, Shampoo and SOAP from pytorch-optimizer.
Each test trains the module itself, independently of the analysis, and compares what the real optimizer did
with what the analysis claims (and does not claim) for it.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import symderiv as sd  # noqa: E402
from symderiv.graph import analyze_module  # noqa: E402
from symderiv.graph.replay import OPTIMIZERS, check_claims, replay, torch_loss  # noqa: E402


try:  # Lion, LAMB, LARS, Shampoo and SOAP come from pytorch-optimizer (the test extra); Muon and Adafactor from torch
    import pytorch_optimizer  # noqa: F401
    HAVE_PACKAGE = True
except ImportError:  # pragma: no cover
    HAVE_PACKAGE = False
FROM_PACKAGE = {"lion", "lamb", "lars", "shampoo", "soap"}


def needs(*optimizers: str) -> None:
    if not HAVE_PACKAGE and FROM_PACKAGE & set(optimizers):
        pytest.skip("pytorch-optimizer is not installed")


class LoRA(nn.Module):
    """A frozen base weight plus a low-rank update B A with B = 0 (the usual LoRA init)."""

    def __init__(self, d: int = 4, r: int = 2, k: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.base = nn.Linear(d, k, bias=False)
        self.base.weight.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, d, generator=g))
        self.B = nn.Parameter(torch.zeros(k, r))

    def forward(self, x):
        return self.base(x) + x @ self.A.t() @ self.B.t()


class Masked(nn.Module):
    """A linear layer with a frozen mask: W[0, 1] is masked and 0, so its gradient is identically 0."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        w = torch.randn(3, 3, generator=g)
        w[0, 1] = 0.0
        mask = torch.ones(3, 3)
        mask[0, 1] = 0.0
        self.W = nn.Parameter(w)
        self.mask = nn.Parameter(mask, requires_grad=False)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(torch.tanh(F.linear(x, self.W * self.mask)))


def tied_units_mlp() -> nn.Module:
    """3-4-2 tanh MLP whose hidden units 0 and 1 are identical (rows of W1, entries of b1, columns of W2)."""
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        m[0].weight[1] = m[0].weight[0]
        m[0].bias[1] = m[0].bias[0]
        m[2].weight[:, 1] = m[2].weight[:, 0]
    return m


#: (inputs, outputs) of the modules above
SIZES = {LoRA: (4, 3), Masked: (3, 2), nn.Sequential: (3, 2)}


def run(module: nn.Module, optimizer: str, steps: int, *, seed: int = 0, batch: int = 3, lr: float = 0.05):
    """Independent of the analysis: train a float64 copy with the real optimizer; snapshots per step."""
    n_in, n_out = SIZES[type(module)]
    model = copy.deepcopy(module).double()
    params = [p for p in model.parameters() if p.requires_grad]
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    opt = OPTIMIZERS[optimizer](params, lr)
    gen = torch.Generator().manual_seed(seed)
    snaps = [{n: p.detach().clone() for n, p in named.items()}]
    for _ in range(steps):
        x = torch.randn(batch, n_in, generator=gen, dtype=torch.float64)
        y = torch.softmax(torch.randn(batch, n_out, generator=gen, dtype=torch.float64), -1)
        opt.zero_grad()
        torch_loss("softmax_cross_entropy")(model(x), y).backward()
        opt.step()
        snaps.append({n: p.detach().clone() for n, p in named.items()})
    return snaps


@pytest.fixture(scope="module")
def lora():
    return LoRA()


@pytest.mark.parametrize("optimizer", ["muon", "adafactor", "lion", "lamb", "shampoo", "soap"])
def test_lora_first_moves_and_zeros_hold_on_real_runs(lora, optimizer):
    needs(optimizer)
    a = analyze_module(lora, loss="softmax_cross_entropy", input_shape=(4,), optimizer=optimizer)
    facts = {n: a.entry_facts(n) for n in ("A", "B")}
    # the claims: B can move at update 1, A is unchanged by update 1 (B = 0 kills A's gradient) and moves later
    assert set(facts["B"]["first_move_step"].flat) == {1}
    assert set(facts["A"]["first_move_step"].flat) == {2}
    assert not any(facts["A"]["stays_zero"].flat) and not any(facts["B"]["stays_zero"].flat)
    assert a.to_dict()["parameters"]["A"]["optimizer_class"] == a.optimizers.class_of("A").name
    assert f"optimizer '{optimizer}'" in a.scope()
    # the real optimizer, run here: A bit-identical after update 1, B changed by it (SOAP's first step only
    # sets up its preconditioners: B moves at update 2 there, which "can move at update 1" allows)
    snaps = run(lora, optimizer, 4)
    assert torch.equal(snaps[1]["A"], snaps[0]["A"])
    moved_b = 2 if optimizer == "soap" else 1
    assert not torch.equal(snaps[moved_b]["B"], snaps[0]["B"])
    assert not torch.equal(snaps[moved_b + 1]["A"], snaps[moved_b]["A"])
    # and verify() replays the same optimizer with its own runs
    report = a.verify(lora)
    assert report.ok, str(report)
    assert any(c.kind == "claims" and optimizer in c.subject for c in report.checks)


def test_lora_under_muon_rows_of_b_are_certified_to_move(lora):
    a = analyze_module(lora, loss="softmax_cross_entropy", input_shape=(4,), optimizer="muon")
    assert a.to_dict()["optimizer_lattice"]["rows_certified_to_move_at_update_1"] == {"B": [0, 1, 2]}
    assert not any(a.entry_facts("B")["first_move_tight"].flat)  # entries: not claimed under Muon
    report = a.verify(lora)
    assert any(c.kind == "row_moves" and c.ok for c in report.checks)


def test_a_per_entry_zero_that_muon_breaks_is_not_claimed_under_muon():
    m = Masked()
    coordinatewise = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,))
    muon = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="muon")
    adafactor = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="adafactor")
    assert coordinatewise.stays_zero("W", (0, 1)) and adafactor.stays_zero("W", (0, 1))
    assert not muon.stays_zero("W", (0, 1))
    assert muon.first_move_step("W", (0, 1)) == 1  # nothing claimed about it either
    assert "W[0, 1]" in muon.to_dict()["optimizer_lattice"]["init_zeros_not_claimed"]
    # torch's Muon really moves it; Adam and Adafactor keep it exactly 0
    assert run(m, "muon", 1)[1]["W"][0, 1].item() != 0.0
    for optimizer in ("adam", "adafactor"):
        assert all(s["W"][0, 1].item() == 0.0 for s in run(m, optimizer, 3))
    # the coordinatewise claim, judged on a real Muon run, is rejected: the checker catches a wrong scope
    snaps = replay(m, coordinatewise, optimizer="muon", batch=3, steps=2)
    assert any("W[0, 1] claimed to stay zero" in v for v in check_claims(coordinatewise, snaps))
    # and the Muon analysis passes its own verify
    assert muon.verify(m).ok


def test_tied_units_mlp_under_muon_reports_ties_of_whole_rows_only():
    m = tied_units_mlp()
    a = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="muon")
    g = a.proof.graph
    members: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
    for name in g.trainable():
        ids = a.entry_facts(name)["tie_class"]
        for idx in np.ndindex(*ids.shape):
            members.setdefault(int(ids[idx]), []).append((name, idx))
    ties = [c for c in members.values() if len(c) > 1]
    assert ties
    for cls in ties:
        assert len({n for n, _ in cls}) == 1  # no tie across tensors
        name = cls[0][0]
        if len(g.params[name].shape) == 2:  # a product of rows and columns: whole rows (and columns) tied
            rows, cols = {i for _, (i, _) in cls}, {j for _, (_, j) in cls}
            assert {(i, j) for _, (i, j) in cls} == {(i, j) for i in rows for j in cols}
    w1 = a.entry_facts("0.weight")["tie_class"]
    assert all(w1[0, j] == w1[1, j] for j in range(3)) and len({w1[0, j] for j in range(3)}) == 3
    w2 = a.entry_facts("2.weight")["tie_class"]
    assert all(w2[k, 0] == w2[k, 1] for k in range(2))
    # real Muon: rows 0 and 1 of W1, columns 0 and 1 of W2 stay equal (NS runs in bfloat16 on identical rows)
    for s in run(m, "muon", 5):
        assert torch.allclose(s["0.weight"][0], s["0.weight"][1], rtol=0, atol=1e-12)
        assert torch.allclose(s["2.weight"][:, 0], s["2.weight"][:, 1], rtol=0, atol=1e-12)
    assert a.verify(m).ok


def test_mlp_analyze_with_optimizer_names_each_class():
    net = sd.mlp([3, 4, 2], activation="sigmoid")
    a = sd.analyze(net, sd.zeros(), optimizer="muon")
    d = a.to_dict()
    assert d["parameters"]["W1"]["optimizer_class"] == "rowcol"
    assert d["parameters"]["b1"]["optimizer_class"] == "coordinatewise"
    assert "Muon on W1, W2 (class 'rowcol') and AdamW on b1, b2 (class 'coordinatewise')" in a.scope()
    assert a.first_move_step("W1", (0, 0)) == 2 and a.first_move_step("W2", (0, 0)) == 1
    assert a.to_json() == sd.analyze(net, sd.zeros(), optimizer="muon").to_json()  # deterministic
    # one coordinatewise optimizer: the chain prover's analysis, unchanged
    assert type(sd.analyze(net, sd.zeros(), optimizer="adam")).__name__ == "Analysis"


def _unchanged_before(step):
    return float("inf") if step is None else step


@pytest.mark.parametrize("make, shape", [(Masked, (3,)), (tied_units_mlp, (3,)), (LoRA, (4,))])
def test_widest_class_of_every_claim(make, shape):
    m = make()
    w = analyze_module(m, loss="softmax_cross_entropy", input_shape=shape).widest_classes()
    chain = ["rowcol", "factored", "tensorwise", "coordinatewise"]
    # four independent proofs, one per lattice: a statement proved on a stricter lattice is proved on every
    # wider one (never fewer zeros, ties or steps for a wider class)
    for name, by in w.first_moves.items():
        for strict, wide in zip(chain, chain[1:]):
            for idx in np.ndindex(*by[strict].shape):
                assert _unchanged_before(by[strict][idx]) <= _unchanged_before(by[wide][idx])
    if make is Masked:
        assert w.zeros["W"][0, 1] == "factored"  # not Muon/Shampoo/SOAP: torch's Muon breaks it (see above)
        assert w.first_moves["W"]["rowcol"][0, 1] == 1 and w.first_moves["W"]["coordinatewise"][0, 1] is None
        assert "W: first-move steps depend on the class" in w.summary()
    if make is tied_units_mlp:  # identical units: whole rows tied, for every class
        assert ("0.weight[0, 0]", "0.weight[1, 0]") in {e for e, lvl in w.ties if lvl == "rowcol"}
    d = w.to_dict()
    assert d["holds_for"]["rowcol"] == ["rowcol", "factored", "tensorwise", "coordinatewise", "sign"]


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex not installed")
def test_the_proof_for_an_optimizer_compiles_and_states_its_lemma(lora, tmp_path):
    import re
    import subprocess

    a = analyze_module(lora, loss="softmax_cross_entropy", input_shape=(4,), optimizer="muon")
    tex = a.to_latex()
    assert "Newton--Schulz" in tex and "Rows that move at update 1" in tex
    assert "same function of that coordinate's own gradient" not in tex  # the coordinatewise lemma is not used
    (tmp_path / "muon.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-halt-on-error", "-interaction=nonstopmode", "muon.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "muon.log").read_text(errors="replace")
    assert run.returncode == 0, [line for line in log.splitlines() if line.startswith("!")]
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert all(w <= 1.0 for w in widths), widths


def test_a_per_parameter_mapping_is_replayed_as_assigned():
    needs("shampoo", "lion")
    m = tied_units_mlp()
    mapping = {"0.weight": "muon", "0.bias": "adamw", "2.weight": "shampoo", "2.bias": "lion"}
    a = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer=mapping)
    assert [a.optimizers.class_of(n).name for n in mapping] == ["rowcol", "coordinatewise", "rowcol", "sign"]
    assert "Shampoo on 2.weight (class 'rowcol')" in a.scope()
    report = a.verify(m)
    assert report.ok and any(c.kind == "claims" and c.subject.startswith("assigned") for c in report.checks)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@st.composite
def patterned_mlps(draw):
    """A 3-4-2 tanh MLP with a random pattern: zero rows and single zero entries of W1, a copied hidden unit,
    zero columns of W2 (dead units whose rows then get no gradient)."""
    pattern = {"seed": draw(st.integers(0, 10_000)), "copy_unit": draw(st.booleans()),
               "zero_rows": sorted(draw(st.sets(st.integers(0, 3), max_size=2))),
               "zero_entries": sorted(draw(st.sets(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=2))),
               "dead_units": sorted(draw(st.sets(st.integers(0, 3), max_size=2)))}
    return patterned_mlp(**pattern)


def patterned_mlp(seed, copy_unit, zero_rows, zero_entries, dead_units):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        if copy_unit:
            m[0].weight[1] = m[0].weight[0]
            m[0].bias[1] = m[0].bias[0]
            m[2].weight[:, 1] = m[2].weight[:, 0]
        for i in zero_rows:
            m[0].weight[i] = 0.0
        for i, j in zero_entries:
            m[0].weight[i, j] = 0.0
        for j in dead_units:
            m[2].weight[:, j] = 0.0
    m.pattern = dict(seed=seed, copy_unit=copy_unit, zero_rows=zero_rows, zero_entries=zero_entries,
                     dead_units=dead_units)
    return m


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterned_mlps(), st.sampled_from(["muon", "adafactor"] + (["lamb"] if HAVE_PACKAGE else [])))
def test_every_claim_for_an_optimizer_holds_on_its_real_runs(m, optimizer):
    a = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer=optimizer)
    finite = [s for n in a.proof.graph.trainable() for s in a.entry_facts(n)["first_move_step"].flat if s]
    for seed, batch in ((0, 1), (1, 4)):
        snaps = replay(m, a, optimizer=optimizer, batch=batch, steps=max(finite, default=0) + 2, seed=seed)
        assert check_claims(a, snaps, exact_only_tolerance=None, judge_tight=False) == [], m.pattern


def test_soap_ties_are_exact_arithmetic_only_and_its_real_run_shows_why():
    needs("soap", "shampoo")
    m = tied_units_mlp()
    soap = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="soap")
    shampoo = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="shampoo")
    muon = analyze_module(m, loss="softmax_cross_entropy", input_shape=(3,), optimizer="muon")
    assert soap.tie_class("0.weight", (0, 0)) == soap.tie_class("0.weight", (1, 0))  # proved (exact arithmetic)
    assert soap.float_status("0.weight", (0, 0)) == "exact_arithmetic_only"
    assert shampoo.float_status("0.weight", (0, 0)) == "identical_rounding"
    assert muon.float_status("0.weight", (0, 0)) == "identical_rounding"
    assert "SOAP keeps them in exact arithmetic only" in soap.summary()
    # measured: SOAP's Adam in a computed eigenbasis turns the rounding residue into a visible split;
    # Shampoo stays within rounding; Muon keeps the rows bit-identical
    gap = {opt: max(float((s["0.weight"][0] - s["0.weight"][1]).abs().max()) for s in run(m, opt, 6))
           for opt in ("soap", "shampoo", "muon")}
    assert gap["soap"] > 1e-3 and gap["shampoo"] < 1e-12 and gap["muon"] == 0.0
    assert soap.verify(m).ok and shampoo.verify(m).ok
