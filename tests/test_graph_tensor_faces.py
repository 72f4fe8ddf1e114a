"""The faces of large analyses are per tensor and per class (symderiv.graph.tensor_facts): summary, headline and
JSON read groups of entries with the same facts, never one record per entry, and say exactly what the per-entry
view says (checked against it entry by entry, and against real torch.optim runs through verify)."""
import functools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symderiv.graph import analyze_module  # noqa: E402
from symderiv.graph.examples import LoRA, ResidualMLP  # noqa: E402
from symderiv.graph.tensor_facts import COMPACT_JSON_ENTRIES, tie_summary  # noqa: E402

FIELDS = {"stays_zero": "stays_zero", "first_move_step": "first_move_step", "first_move_tight": "first_move_tight",
          "float": "float", "first_move_float": "first_move_float"}


def _per_entry_from_groups(record: dict) -> dict[str, np.ndarray]:
    """Rebuild per-entry arrays from a parameter's group records (blocks through block_labels, flat, or all)."""
    shape = tuple(record["shape"])
    out = {k: np.full(shape, "unset", dtype=object) for k in FIELDS}
    covered = np.zeros(shape, dtype=np.int64)
    for grp in record["groups"]:
        if "blocks" in grp:
            mask = np.zeros(shape, dtype=bool)
            for b in grp["blocks"]:
                axes = [(np.asarray(lab) == k).reshape([-1 if i == j else 1 for j in range(len(shape))])
                        for i, (lab, k) in enumerate(zip(record["block_labels"], b))]
                mask |= functools.reduce(np.logical_and, axes, np.ones(shape, dtype=bool))
        elif "flat" in grp:
            mask = np.zeros(int(np.prod(shape)), dtype=bool)
            mask[grp["flat"]] = True
            mask = mask.reshape(shape)
        else:
            mask = np.ones(shape, dtype=bool)
        assert int(mask.sum()) == grp["entries"]
        covered += mask
        for key in FIELDS:
            out[key][mask] = grp[key]
    assert np.all(covered == 1)  # the groups partition the tensor
    return out


def _agrees_with_entry_view(a, doc):
    for name, record in doc["parameters"].items():
        assert record["size"] == int(np.prod(record["shape"]))
        rebuilt = _per_entry_from_groups(record)
        facts = a.entry_facts(name)
        for key, field in FIELDS.items():
            assert np.array_equal(rebuilt[key], np.asarray(facts[field], dtype=object)), (name, key)
        for grp in record["groups"]:  # tie ids: null exactly when no other entry shares the id
            if grp["tie_class"] is not None:
                assert grp["entries"] > 1 or any(g is not grp and g["tie_class"] == grp["tie_class"]
                                                 for r in doc["parameters"].values() for g in r["groups"])


@pytest.fixture(scope="module")
def wide_lora():
    m = LoRA(d=1024, r=64, zero="B")
    return m, analyze_module(m, loss="mse", input_shape=(1024,))


def test_tensor_level_json_is_one_record_per_tensor(wide_lora):
    m, a = wide_lora
    assert not a.per_entry_json  # 131072 trainable entries > COMPACT_JSON_ENTRIES
    text = a.to_json()
    assert text == analyze_module(m, loss="mse", input_shape=(1024,)).to_json()  # deterministic
    doc = json.loads(text)
    assert doc["layout"] == "groups" and len(text) < 20_000  # bounded: no per-entry list
    for name in ("lora_A.weight", "lora_B.weight"):
        assert len(doc["parameters"][name]["groups"]) == 1
    b = doc["parameters"]["lora_B.weight"]["groups"][0]
    assert b["first_move_step"] == 1 and b["tie_class"] is None and b["entries"] == 1024 * 64
    assert doc["parameters"]["lora_A.weight"]["groups"][0]["gradient_at_init"] == "0"  # B = 0 at the init
    _agrees_with_entry_view(a, doc)


@pytest.mark.slow  # real torch.optim runs of a wide model (CI runs --run-slow)
def test_tensor_level_summary_counts_and_real_runs(wide_lora):
    m, a = wide_lora
    s = a.summary()
    assert "lora_B.weight moves at step 1, then lora_A.weight at step 2" in s
    assert "tie class" not in s  # the tensor-level path claims no tie
    assert len(s) < 4000
    assert a.verify(m, optimizers=("sgd", "adam"), batches=(2,)).ok


@pytest.fixture(scope="module")
def lumped():
    torch.manual_seed(0)
    m = ResidualMLP(4, 160, 2, 3, value=0.05)  # constant-init hidden layers: classes of identical units
    return m, analyze_module(m, loss="softmax_cross_entropy", input_shape=(4,))


def test_lumped_json_lists_classes_through_block_labels(lumped):
    from symderiv.graph.lumping import LumpedGraphAnalysis

    m, a = lumped
    assert isinstance(a, LumpedGraphAnalysis) and not a.per_entry_json
    doc = json.loads(a.to_json())
    assert doc["layout"] == "groups"
    for record in doc["parameters"].values():
        for grp in record["groups"]:
            assert len(grp["gradient_at_init"]) == len(grp["blocks"])  # one closed form per block
    _agrees_with_entry_view(a, doc)
    assert len(a.to_json()) < 200_000


def test_tie_summary_is_the_per_entry_count(lumped):
    """The summary's tie line from classes equals a brute-force count over every entry's tie id."""
    _, a = lumped
    members: dict[int, list] = {}
    for name in a.proof.graph.trainable():
        f = a.entry_facts(name)
        for flat, (tie, zero) in enumerate(zip(np.ravel(f["tie_class"]), np.ravel(f["stays_zero"]))):
            if not zero:
                members.setdefault(int(tie), []).append((name, flat))
    ties = [v for v in members.values() if len(v) > 1]
    n, largest, example = tie_summary(a)
    assert n == len(ties) > 0
    assert largest == max(len(v) for v in ties)
    assert example == max(ties, key=len)[:3]
    assert f"{n} tie class" in a.summary()


def test_small_analyses_keep_the_per_entry_json():
    a = analyze_module(LoRA(zero="B"), loss="mse", input_shape=(3,))
    assert a.per_entry_json and COMPACT_JSON_ENTRIES >= 65536
    doc = a.to_dict()
    assert "layout" not in doc and np.shape(doc["parameters"]["lora_B.weight"]["first_move_step"]) == (3, 2)


@pytest.mark.slow  # real torch.optim runs of a wide model (CI runs --run-slow)
def test_a_transformer_at_width_256_reads_back_per_tensor():
    """GPT-2 blocks at width 256 (2.9 M parameters), zeroed MLP output projections: summary, JSON and LaTeX are
    per tensor and bounded; every claim holds on real SGD runs."""
    transformers = pytest.importorskip("transformers")
    from symderiv.graph import tokens

    torch.manual_seed(0)
    m = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=512, n_positions=16, n_embd=256, n_layer=2, n_head=4, resid_pdrop=0, embd_pdrop=0,
        attn_pdrop=0)).eval()
    with torch.no_grad():
        for block in m.transformer.h:
            block.mlp.c_proj.weight.zero_()
    a = analyze_module(m, loss="softmax_cross_entropy", input_shape={"input_ids": tokens(4)},
                       forward_kwargs={"use_cache": False})
    doc = json.loads(a.to_json())
    assert doc["layout"] == "groups" and len(a.to_json()) < 100_000
    steps = {n: {g["first_move_step"] for g in r["groups"]} for n, r in doc["parameters"].items()}
    assert steps["transformer.h.0.mlp.c_proj.weight"] == {1} and steps["transformer.h.0.mlp.c_fc.weight"] == {2}
    assert len(a.summary()) < 20_000
    tex = a.to_latex()
    assert tex.startswith("\\documentclass") and len(tex) < 300_000
    assert a.verify(m, optimizers=("sgd",), batches=(1,)).ok


def test_lumped_latex_is_per_class_and_bounded(lumped):
    m, a = lumped
    tex = a.to_latex()
    assert tex == a.to_latex() and tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert len(tex) < 50_000 and "Lumpability" in tex
    for name in a.proof.graph.trainable():  # every parameter's classes are stated
        assert "\\texttt{" + name.replace("_", "\\_") + "}" in tex


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex not installed")
def test_lumped_latex_compiles(lumped, tmp_path):
    import subprocess

    _, a = lumped
    (tmp_path / "doc.tex").write_text(a.to_latex(), encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.slow  # real torch.optim runs of a wide model (CI runs --run-slow)
def test_lumped_verify_runs_per_group_and_catches_a_broken_tie(lumped):
    """verify of a large lumped analysis: real SGD/Adam runs judged per group (symderiv.graph.replay_groups);
    the group checker rejects a forged run where one entry of a tied block moved alone."""
    from symderiv.graph.replay import replay
    from symderiv.graph.replay_groups import group_claims

    m, a = lumped
    report = a.verify(m, optimizers=("sgd", "adam"), batches=(2,))
    assert report.ok, report
    from symderiv.graph.replay import check_claims

    snaps = replay(m, a, optimizer="sgd", batch=1, steps=3, seed=5)
    # the same verdicts as the per-entry checker (an independent loop over every entry)
    assert group_claims(a, snaps, judge_tight=False) == [] == check_claims(a, snaps, judge_tight=False)
    forged = [dict(s) for s in snaps]
    w = forged[2]["blocks.0.0.weight"].copy()
    w[0, 0] += 1e-3
    forged[2]["blocks.0.0.weight"] = w
    assert any("not tied" in v for v in group_claims(a, forged, judge_tight=False))
    assert any("not tied" in v for v in check_claims(a, forged, judge_tight=False))


def test_cli_module_at_width_prints_groups(tmp_path, monkeypatch, capsys):
    """``symderiv analyze --module`` of a wide constant-init MLP: the JSON has one record per group (the same as
    the API's), the text summary a few lines."""
    import re
    import textwrap

    from symderiv.cli import EXIT_OK, main

    name = "sd_tensor_faces_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        from symderiv.graph.examples import ResidualMLP

        def wide():
            return ResidualMLP(4, 160, 2, 3, value=0.05)
    """), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["analyze", "--module", f"{name}:wide", "--input-shape", "4", "--loss", "softmax_cross_entropy"]
    assert main(args + ["--json"]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["layout"] == "groups"
    assert sum(g["entries"] for g in doc["parameters"]["blocks.0.0.weight"]["groups"]) == 160 * 160
    assert main(args) == EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) < 20
