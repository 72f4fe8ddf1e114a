"""The derivation corpus (tests/derivations/*.json): real derivations as their authors write
them (Nielsen's BP1-BP4, CS231n, Goodfellow et al., Bishop, Ng, Q&A threads, code), each with
the network it refers to and the verdict it deserves, right ones and realistic wrong ones.

Every item is checked with the first seed, and every other item (a fixed half, chosen by position,
never by how long a check took) with the second seed too (the seed only moves the random evaluation
points). Asserted: no wrong verdict (a "proved" for a wrong claim or a "refuted" for a right one), no
crash, at least 95 % correct, at most 1 % undecided. Verdicts rest on work budgets, so nothing here
depends on the machine's speed; the time per check is a benchmark figure, not an assertion."""
import glob
import json
import os

import pytest

import symderiv as sd
from symderiv.claims import check

HERE = os.path.join(os.path.dirname(__file__), "derivations")
SEEDS = (1, 2)


def _net(spec: str):
    """``"3-4-3 tanh ce"`` / ``"4-3 ce"`` (no hidden layer) -> a network."""
    parts = spec.split()
    sizes = [int(n) for n in parts[0].split("-")]
    if len(sizes) == 2:
        return sd.mlp(sizes, loss=parts[1])
    return sd.mlp(sizes, parts[1], parts[2])


def _init(text: str):
    if text == "generic":
        return None
    if text == "zeros":
        return sd.zeros()
    if text.startswith("constant:"):
        return sd.constant(float(text.split(":", 1)[1]))
    raise ValueError(text)


def _corpus():
    items = []
    for path in sorted(glob.glob(os.path.join(HERE, "*.json"))):
        with open(path, encoding="utf-8") as f:
            for k, item in enumerate(json.load(f)):
                items.append((f"{os.path.basename(path)}#{k}", item))
    return items


CORPUS = _corpus()


def test_corpus_is_well_formed():
    assert len(CORPUS) >= 100
    for name, item in CORPUS:
        assert set(item) <= {"source", "claim", "net", "init", "expected", "why"}, name
        assert item["expected"] in ("proved", "refuted"), name
        assert item["source"] and item["claim"], name
        if item["expected"] == "refuted":
            assert item.get("why"), f"{name}: say what is wrong"
        _net(item["net"]), _init(item["init"])
    expected = [item["expected"] for _, item in CORPUS]
    assert expected.count("refuted") >= 30 and expected.count("proved") >= 50  # both kinds, in earnest


def test_corpus_verdicts():
    results = []  # (name, seed, expected, status, error)
    for seed in SEEDS:
        for position, (name, item) in enumerate(CORPUS):
            if seed != SEEDS[0] and position % 2:
                continue
            try:
                v = check(item["claim"], _net(item["net"]), _init(item["init"]), seed=seed)
                status, error = v.status, ""
                if status == "refuted" and v.counterexample is None:
                    error = "refuted without a counterexample"
                    assert v.links[v.first_wrong_link - 1].reason, name  # a shape refutation says why
                    error = ""
            except Exception as exc:  # a crash is recorded and fails the test below
                status, error = "crash", f"{type(exc).__name__}: {exc}"
            results.append((name, seed, item["expected"], status, error))
    n = len(results)
    wrong = [r for r in results if r[3] in ("proved", "refuted") and r[3] != r[2]]
    crashes = [r for r in results if r[3] == "crash"]
    undecided = [r for r in results if r[3] == "undecided"]
    correct = [r for r in results if r[3] == r[2]]
    assert not wrong, f"wrong verdicts: {wrong}"
    assert not crashes, f"crashes: {crashes}"
    assert len(correct) >= 0.95 * n, f"{len(correct)}/{n} correct; undecided: {undecided}"
    assert len(undecided) <= 0.01 * n, f"undecided: {undecided}"


@pytest.mark.parametrize("name, item", [c for c in CORPUS if c[1]["expected"] == "refuted"][:6], ids=lambda x: x if isinstance(x, str) else "")
def test_refutations_name_the_entry_and_the_data(name, item):
    """A refutation comes with a certified counterexample naming indices and exact data (or,
    for sides of different shapes, the shapes)."""
    v = check(item["claim"], _net(item["net"]), _init(item["init"]), seed=1)
    assert v.status == "refuted", str(v)
    ce = v.counterexample
    if ce is None:
        assert "×" in v.links[v.first_wrong_link - 1].reason
    else:
        assert ce.data and ce.difference and (ce.indices or "the only index assignment" in ce.describe())
