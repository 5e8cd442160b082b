"""Hand-made records with known times, memory and FLOPs for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.runner import make_cell
from harness.runner.worker import base_record

MODEL_FRAMEWORKS = {
    "transe": ("sparse", "gather", "torchkge", "pyg", "pykeen", "dglke"),
    "transr": ("sparse", "gather", "torchkge", "pykeen", "dglke"),
    "transh": ("sparse", "gather", "torchkge", "pykeen"),
    "toruse": ("sparse", "gather", "torchkge", "pykeen"),
}


def make_record(framework: str, *, model: str = "transe", dataset: str = "FB15k", device: str = "cpu",
                status: str = "ok", step_ms: float = 10.0, memory: int | None = 100 * 2**20,
                flops: int | None = 10**9, flops_profiler: int | None = 5 * 10**10, message: str = "",
                dim: int = 64, batch_size: int = 1024, run_id: str = "run-1", round: int = 0, rounds: int = 1,
                options: dict | None = None, **settings) -> dict:
    """One record as it would come from the store; phases split 10/30/40/20 % of the step."""
    cell = make_cell(framework, options=options, model=model, dataset=dataset, device=device, dim=dim,
                     batch_size=batch_size, backend="torch" if framework == "sparse" else None, round=round,
                     rounds=rounds, **settings)
    record = base_record(cell, run_id, status, message)
    if status == "ok":
        def stats(v: float) -> dict:
            return {"median": v, "iqr": v * 0.05, "ci_low": v * 0.95, "ci_high": v * 1.05}

        record.time_ms = {"prepare": stats(step_ms * 0.1), "forward": stats(step_ms * 0.3),
                          "backward": stats(step_ms * 0.4), "optimizer": stats(step_ms * 0.2), "step": stats(step_ms)}
        record.peak_memory_bytes = memory
        record.memory_kind = "cuda_allocator" if device.startswith("cuda") else "cpu_live_tensors"
        record.flops_executed, record.flops_profiler_dense = flops, flops_profiler
        record.flops_model = 10**9
        record.steps_measured, record.batches_per_epoch = 5, 100
        record.epoch_time_s, record.epoch_time_extrapolated = step_ms * 100 / 1e3, True
    return record.to_dict()


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def record_factory():
    """`make_record` (test modules cannot import conftest under --import-mode=importlib)."""
    return make_record


@pytest.fixture
def simple_records() -> list[dict]:
    return build_simple_records()


@pytest.fixture
def multi_records() -> list[dict]:
    return build_multi_records()


def build_simple_records() -> list[dict]:
    """TransE on FB15k CPU: sparse 10 ms, torchkge 30 ms, pyg OOM."""
    return [
        make_record("sparse", step_ms=10.0, memory=100 * 2**20),
        make_record("torchkge", step_ms=30.0, memory=250 * 2**20, flops=2 * 10**9, flops_profiler=3 * 10**9),
        make_record("pyg", status="oom", message="RuntimeError: CUDA out of memory"),
    ]


def build_multi_records(datasets: tuple[str, ...] = ("FB15k-237", "synthetic:FB15k")) -> list[dict]:
    """Four models on a real and a synthetic dataset on cpu, TransE on cuda too, with failures."""
    out = []
    for device, models in (("cpu", MODEL_FRAMEWORKS), ("cuda", {"transe": MODEL_FRAMEWORKS["transe"]})):
        for model, frameworks in models.items():
            for d, dataset in enumerate(datasets):
                for f, framework in enumerate(frameworks):
                    step = 10.0 * (1 + d) if framework == "sparse" else 10.0 * (1 + d) * (1.2 + 0.7 * f)
                    status, message = "ok", ""
                    if (model, dataset, framework) == ("transe", "synthetic:FB15k", "pyg"):
                        status, message = "oom", "RuntimeError: out of memory (tried to allocate 2.00 GiB)"
                    if (model, framework) == ("toruse", "pykeen"):
                        status, message = "unsupported", "pykeen has no TorusE with torus_L2"
                    if (model, dataset, framework) == ("transr", "FB15k-237", "sparse"):
                        status, message = "error", "ValueError: boom"
                    out.append(make_record(framework, model=model, dataset=dataset, device=device, status=status,
                                           message=message, step_ms=step, memory=int((50 + 40 * f) * 2**20),
                                           flops=10**8 * (1 + f), flops_profiler=10**8 * (1 + f) * (400 if f == 0 else 2)))
    return out
