"""benchmarks/gpu.sh --dry-run: the GPU command's three stages (verify every model x backend, the `gpu` grid's
cells, the report with the paper's GPU figures) on CPU at tiny sizes, on a synthetic graph (no network, no
dataset files); here for TransE and two frameworks to keep it to well under a minute. The Triton backend is
verified through its interpreter where triton is installed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_command_dry_run_verifies_measures_and_reports(tmp_path):
    out, results = tmp_path / "report", tmp_path / "gpu.jsonl"
    env = {**os.environ, "PYTHON": sys.executable, "SPTX": f"{sys.executable} -m harness"}
    done = subprocess.run(["bash", "benchmarks/gpu.sh", "--dry-run", "--models", "transe", "--frameworks",
                           "sparse,gather", "--out", str(out), "--results", str(results)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verify passed" in done.stdout

    verified = [json.loads(line) for line in (out / "verify.jsonl").read_text().splitlines()]
    status = {r["backend"]: r["status"] for r in verified}
    assert {r["model"] for r in verified} == {"transe"}
    assert status["fused"] == status["torch"] == status["segment"] == "pass"
    if importlib.util.find_spec("triton") is not None:  # interpreted: gpu.sh sets TRITON_INTERPRET=1 for the dry run
        assert status["triton"] == status["triton-sorted"] == "pass"
    else:
        assert status["triton"] == "unavailable"

    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["label"] for r in records) == ["gather", "sparse[fused]", "sparse[segment]", "sparse[torch]"]
    assert all(r["status"] == "ok" and r["settings"]["device"] == "cpu" for r in records)
    assert all(r["settings"]["batch_size"] == 400 and r["batch_clamped_from"] == 512 for r in records)

    readme = (out / "README.md").read_text()
    assert readme.startswith("# GPU comparison, dry run on CPU")
    assert "## GPU: speedups and memory beside the paper's GPU figures" in readme
    assert "## Verification (sptx verify, every model x backend)" in readme
    gpu = pd.read_csv(out / "gpu_vs_paper.csv")
    assert set(gpu["framework"]) == {"gather", "sparse[segment]", "sparse[torch]"}
    assert gpu["note"].str.contains("not comparable with the paper's GPU figures").all()
    assert (gpu["speedup"] > 0).all() and (gpu["memory_ratio"] > 0).all()
