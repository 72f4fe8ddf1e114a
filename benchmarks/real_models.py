"""Whole models at real size through the export front end and the tensor-level path (issue 16, item 5).

    python benchmarks/real_models.py                 # every model, each in a fresh process; a Markdown table
    python benchmarks/real_models.py --model resnet50

Models (random init, one part zeroed as people do it):

* ``gpt2``: transformers ``GPT2LMHeadModel(GPT2Config())`` (124 M parameters), every block's MLP output
  projection ``mlp.c_proj.weight`` zeroed, 8 token ids, softmax cross-entropy on the logits;
* ``resnet50``: torchvision ``resnet50(zero_init_residual=True)`` (the last BatchNorm of every bottleneck has
  γ = 0; eval-mode BatchNorm), 3×224×224, softmax cross-entropy;
* ``vit_b16``: timm ``vit_base_patch16_224`` with its head zeroed (weight and bias), 3×224×224, softmax
  cross-entropy;
* ``resmlp1024``: :class:`symderiv.graph.examples.ResidualMLP` with 12 residual blocks of width 1024 (25 M
  parameters), every parameter 0.1 (the lumped path), 4 inputs, softmax cross-entropy over 10 classes.

``--faces`` also times ``summary()``, ``to_json()`` and ``to_latex()`` (and their sizes); ``--verify`` times
``verify(module, optimizers=("sgd", "adam"), batches=(1,))`` (real float64 ``torch.optim`` runs of the whole
model) and records whether every claim held.

Per model: the time of ``graph_from_export`` (torch.export + Core ATen + the graph), of ``analyze_graph`` (the
proof) and of ``headline()`` (every parameter's first move read back), the peak resident memory of the process,
and the headline.  Needs torch, torchvision, timm and transformers (torch 2.14.1 + torchvision 0.29.1, as CI's vision environment).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODELS = ("gpt2", "resnet50", "vit_b16", "resmlp1024")


def build(name: str):
    """``(module, input_shape, forward_kwargs, description)``."""
    import torch

    torch.manual_seed(0)
    if name == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        from symderiv.graph.export import tokens

        m = GPT2LMHeadModel(GPT2Config()).eval()
        with torch.no_grad():
            for block in m.transformer.h:
                block.mlp.c_proj.weight.zero_()
        return m, {"input_ids": tokens(8)}, {"use_cache": False}, "GPT-2 small, mlp.c_proj.weight = 0, 8 tokens"
    if name == "resnet50":
        import torchvision

        m = torchvision.models.resnet50(zero_init_residual=True).eval()
        return m, (3, 224, 224), {}, "ResNet-50, zero_init_residual=True, 3x224x224"
    if name == "vit_b16":
        import timm

        m = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
        with torch.no_grad():
            m.head.weight.zero_()
            m.head.bias.zero_()
        return m, (3, 224, 224), {}, "ViT-B/16, head = 0, 3x224x224"
    if name == "resmlp1024":  # the lumped path at width: every entry of a layer equal (constant init)
        from symderiv.graph.examples import ResidualMLP

        return (ResidualMLP(4, 1024, 12, 10, value=0.1), (4,), {},
                "residual MLP, 12 blocks of width 1024, constant init (lumped)")
    raise SystemExit(f"unknown model {name!r}; one of {', '.join(MODELS)}")


def measure_faces(analysis) -> dict:
    """Seconds and sizes of ``summary()``, ``to_json()`` and ``to_latex()`` (each on the analysis as returned; the
    per-tensor groups they share are computed once, by the first)."""
    out = {}
    for face, call in (("summary", analysis.summary), ("json", analysis.to_json), ("latex", analysis.to_latex)):
        t = time.perf_counter()
        text = call()
        out[f"{face}_s"] = round(time.perf_counter() - t, 1)
        out[f"{face}_kb"] = round(len(text.encode()) / 1024, 1)
    return out


def measure(name: str, with_faces: bool = False, with_verify: bool = False) -> dict:
    from symderiv.graph.analysis import analyze_graph
    from symderiv.graph.export import graph_from_export

    module, shape, kwargs, what = build(name)
    params = sum(p.numel() for p in module.parameters())
    t0 = time.perf_counter()
    graph = graph_from_export(module, shape, "softmax_cross_entropy", forward_kwargs=kwargs)
    t1 = time.perf_counter()
    analysis = analyze_graph(graph, name=name)
    t2 = time.perf_counter()
    headline = analysis.headline()
    t3 = time.perf_counter()
    faces = measure_faces(analysis) if with_faces else {}
    if with_verify:
        t = time.perf_counter()
        report = analysis.verify(module, optimizers=("sgd", "adam"), batches=(1,))
        claims = [c for c in report.checks if c.kind != "gradient"]
        grad = [c.max_error for c in report.checks if c.kind == "gradient"]
        faces.update(verify_s=round(time.perf_counter() - t, 1), verify_ok=bool(report.ok),
                     verify_claims_ok=all(c.ok for c in claims), verify_checks=len(report.checks),
                     verify_grad_error=f"{grad[0]:.1e}" if grad else "-")
    return {**faces, "model": name, "what": what, "parameters": params, "ops": len(graph.nodes),
            "path": type(analysis).__name__, "export_s": round(t1 - t0, 1), "analyze_s": round(t2 - t1, 1),
            "headline_s": round(t3 - t2, 1), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                   / 2**20, 2),
            "undecided": len(analysis.proof.undecided), "headline": headline}


def faces_table(rows: list[dict]) -> str:
    out = ["| model | summary() | to_json() | to_latex() | verify (SGD + Adam, batch 1) |", "|---|---|---|---|---|"]
    for r in rows:
        check = (f"{r['verify_s']} s, {'every check passes' if r['verify_ok'] else 'claims hold' if r['verify_claims_ok'] else 'FAILED'}"
                 f" (closed forms vs autograd: max rel. error {r['verify_grad_error']})" if "verify_s" in r else "-")
        out.append(f"| {r['what']} | {r['summary_s']} s, {r['summary_kb']} KB | {r['json_s']} s, {r['json_kb']} KB | "
                   f"{r['latex_s']} s, {r['latex_kb']} KB | {check} |")
    return "\n".join(out)


def table(rows: list[dict]) -> str:
    out = ["| model | parameters | graph nodes | export | analyze | headline() | peak RSS | proof path |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['what']} | {r['parameters'] / 1e6:.1f} M | {r['ops']} | {r['export_s']} s | "
                   f"{r['analyze_s']} s | {r['headline_s']} s | {r['peak_rss_gb']} GB | {r['path']} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=MODELS)
    ap.add_argument("--json", action="store_true", help="one JSON line (used by the driver)")
    ap.add_argument("--faces", action="store_true", help="also time summary(), to_json() and to_latex()")
    ap.add_argument("--verify", action="store_true", help="also time verify() on SGD and Adam runs")
    args = ap.parse_args()
    if args.model:
        row = measure(args.model, args.faces, args.verify)
        text = table([row]) + ("\n\n" + faces_table([row]) if args.faces else "") + "\n\n" + row["headline"]
        print(json.dumps(row) if args.json else text)
        return
    rows = []
    for name in MODELS:  # a fresh process per model: its peak memory is its own
        done = subprocess.run([sys.executable, __file__, "--model", name, "--json"] + (["--faces"] if args.faces else [])
                              + (["--verify"] if args.verify else []),
                              capture_output=True, text=True)
        if done.returncode:
            print(f"{name}: failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(table(rows))
    if args.faces:
        print("\n" + faces_table(rows))
    for r in rows:
        print(f"\n{r['model']}: {r['headline']}  (undecided, not claimed: {r['undecided']})")


if __name__ == "__main__":
    main()
