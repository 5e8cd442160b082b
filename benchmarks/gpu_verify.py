"""`sptx verify` for every model x backend of `sparse` on one device, in one process (the dataset loaded once):
benchmarks/gpu.sh's first stage. Writes a markdown table (for the report, `sptx report --section`) and one JSON
line per pair; exits 1 when any supported pair fails or errors.

    python benchmarks/gpu_verify.py --device cuda --dataset FB15k-237 --out reports/gpu-DATE/verify.md

Backends by default: on CUDA fused (the Triton kernels there), triton-sorted and the SpMM backends (torch, segment,
dgl); on CPU also triton (its interpreter, with TRITON_INTERPRET=1). A pair whose backend lacks the model is listed
as unsupported, a backend that cannot load here as unavailable (with the reason); neither fails the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from harness.data import load_dataset
from harness.errors import SptxError
from harness.models import MODELS
from harness.spec import ModelConfig, TrainConfig
from harness.verify import verify_step
from sparse_impl.backends import BACKENDS, BackendUnavailable, backend_for_device

CUDA_BACKENDS = ("fused", "triton-sorted", "torch", "segment", "dgl")
CPU_BACKENDS = ("fused", "triton", "triton-sorted", "torch", "segment", "dgl")


def verify_all(device: torch.device, dataset_name: str, data_dir: str | None, models: list[str], backends: list[str],
               dim: int, batch_size: int, negatives: int, rows: list[dict]) -> list[dict]:
    """Append one row per (model, backend) to `rows` (so an interrupted run keeps what it verified)."""
    dataset = load_dataset(dataset_name, data_dir)
    for model in models:
        cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, dim)
        for backend in backends:
            ran = backend_for_device(backend, device)
            row = {"model": model, "dissimilarity": cfg.dissimilarity, "backend": backend, "runs": ran,
                   "device": str(device), "dataset": dataset.label, "dim": dim, "batch_size": batch_size}
            started = time.perf_counter()
            cls = BACKENDS[ran]
            reason = cls.unavailable_reason()
            if reason is not None:
                rows.append({**row, "status": "unavailable", "detail": reason})
                continue
            if not cls.supports(model, MODELS[model].interaction):
                rows.append({**row, "status": "unsupported", "detail": f"backend {ran} has no {model}"})
                continue
            try:
                report = verify_step(cfg, dataset.train, batch_size, "sparse", {"backend": backend},
                                     TrainConfig(num_negatives=negatives), device)
            except (SptxError, BackendUnavailable) as exc:
                rows.append({**row, "status": "unsupported", "detail": str(exc).splitlines()[0]})
                continue
            except Exception as exc:  # noqa: BLE001 - every pair is reported, the run goes on
                rows.append({**row, "status": "error", "detail": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]})
                continue
            worst = max(report.comparisons, key=lambda c: c.error / max(c.reference_error * 4, 1e-4))
            failed = [c.name for c in report.comparisons if not c.passed]
            rows.append({**row, "status": "pass" if report.passed else "FAIL", "reference": report.reference,
                         "worst_tensor": worst.name, "worst_error": worst.error,
                         "worst_reference_error": worst.reference_error,
                         "detail": ("failed: " + ", ".join(failed)) if failed else "",
                         "seconds": round(time.perf_counter() - started, 2)})
            print(f"verify {model:9s} {backend:14s} ({ran} on {device}): {rows[-1]['status']}", flush=True)
    return rows


def markdown(rows: list[dict], device: torch.device) -> str:
    lines = [
        "## Verification (sptx verify, every model x backend)",
        "",
        f"On `{device}`, {rows[0]['dataset'] if rows else ''}, d={rows[0]['dim'] if rows else ''}, batch "
        f"{rows[0]['batch_size'] if rows else ''} positives: our step (`sparse` on the backend; `runs` = the backend "
        "that ran, `fused` being the Triton kernels on CUDA) against the reference (TorchKGE where it has the model, "
        "else the model spec by gathers), scores, loss and every gradient in float32, each error measured against "
        "the reference in float64 (harness/verify.py: pass at <= 1e-4 of scale or <= 4x the reference's own "
        "float32 error). `worst` is the tensor closest to failing, with our error and the reference's.",
        "",
        "| model | backend | runs | status | reference | worst | ours vs exact | reference vs exact | detail |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        err = f"{r['worst_error']:.2e}" if "worst_error" in r else ""
        ref = f"{r['worst_reference_error']:.2e}" if "worst_reference_error" in r else ""
        lines.append(f"| {r['model']} | {r['backend']} | {r['runs']} | {r['status']} | {r.get('reference', '')} | "
                     f"{r.get('worst_tensor', '')} | {err} | {ref} | {r['detail'].replace('|', '/')} |")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines += ["", "Verdicts: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dataset", default="FB15k-237")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default=None, help="comma-separated (default: every backend for the device)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--negatives", type=int, default=1)
    parser.add_argument("--out", required=True, help="markdown file to write (a .jsonl beside it too)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_verify: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    backends = (args.backends.split(",") if args.backends
                else list(CUDA_BACKENDS if device.type == "cuda" else CPU_BACKENDS))
    models = [m for m in args.models.split(",") if m]
    rows: list[dict] = []
    interrupted = False
    try:
        verify_all(device, args.dataset, args.data_dir, models, backends, args.dim, args.batch_size, args.negatives,
                   rows)
    except KeyboardInterrupt:  # benchmarks/gpu.sh's time budget: keep what was verified
        interrupted = True
        rows.append({"model": "-", "dissimilarity": None, "backend": "-", "runs": "-", "device": str(device),
                     "dataset": rows[0]["dataset"] if rows else args.dataset, "dim": args.dim,
                     "batch_size": args.batch_size, "status": "error",
                     "detail": "interrupted (time budget): the pairs after this were not verified"})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(rows, device), encoding="utf-8")
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    bad = [r for r in rows if r["status"] in ("FAIL", "error")]
    print(f"gpu_verify: {len(rows)} pairs, {len(bad)} failed or errored{' (interrupted)' if interrupted else ''} "
          f"-> {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
