"""The paper's reference figures as typed data (SparseTransX, Anik & Azad, MLSys 2025; arXiv 2502.16949).

These are the paper's numbers, not our measurements (see /work/shared/paper_reference.md). Ratios are
always "baseline time / SpTransX time", the same direction as our `speedup_of_sparse`. Baseline names
are mapped to our framework names: TorchKGE -> torchkge, DGL-KE -> dglke, PyG -> pyg.

- `ARTIFACT_FB15K`: the artifact's FB15k tables (seconds for 200 epochs, CPU and GPU).
- `GPU_FIGURE`: the GPU speedup figure, dataset x model x baseline (a value, or OOM).
- `PAPER_CELLS`: every reported speedup cell, from both sources, in one list.
- `paper_speedup(device, dataset, model, framework)`: the value charts draw beside ours
  (GPU figure for cuda, artifact table for cpu), matched on the real dataset's name.
- `HEADLINES`, `PEAK_GPU_MEMORY_GB`, `FLOPS_E10`, `TRANSE_PHASE_SECONDS`: headline claims and the
  secondary review's memory, FLOPs and phase figures (unverified against the paper's own tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BASELINE_TO_FRAMEWORK", "PAPER_DATASETS", "PAPER_HARDWARE", "ArtifactRow", "PaperCell", "ARTIFACT_FB15K",
    "GPU_FIGURE", "PAPER_CELLS", "HEADLINES", "BEST_SPEEDUP_BY_MODEL", "PEAK_GPU_MEMORY_GB", "FLOPS_E10",
    "TRANSE_PHASE_SECONDS", "device_kind", "base_dataset", "paper_speedup", "paper_cells_for",
]

BASELINE_TO_FRAMEWORK: dict[str, str] = {"TorchKGE": "torchkge", "DGL-KE": "dglke", "PyG": "pyg"}
FRAMEWORK_TO_BASELINE: dict[str, str] = {v: k for k, v in BASELINE_TO_FRAMEWORK.items()}
PAPER_DATASETS: tuple[str, ...] = ("FB15k", "FB15k-237", "WN18", "WN18RR", "FB13", "YAGO3-10", "BioKG")
PAPER_HARDWARE: dict[str, str] = {
    "cpu": "one AMD EPYC 7763 (64 cores)",
    "cuda": "one NVIDIA A100-SXM4 40 GB",
    "software": "PyTorch 2.3.1",
}

Device = Literal["cpu", "cuda"]
SOURCE_ARTIFACT = "artifact table (FB15k, 200 epochs, extrapolated from one batch)"
SOURCE_GPU_FIGURE = "GPU speedup figure"


@dataclass(frozen=True)
class ArtifactRow:
    """One baseline of the artifact's FB15k table: seconds for 200 epochs and the slowdown vs SpTransX."""

    device: Device
    model: str
    framework: str
    sptransx_s: float
    baseline_s: float
    slowdown: float

    @property
    def baseline(self) -> str:
        return FRAMEWORK_TO_BASELINE[self.framework]


@dataclass(frozen=True)
class PaperCell:
    """One speedup the paper reports: `speedup` is baseline / SpTransX, or None when `status` is 'oom'."""

    device: Device
    dataset: str
    model: str
    framework: str
    speedup: float | None
    status: Literal["ok", "oom"]
    source: str

    @property
    def baseline(self) -> str:
        return FRAMEWORK_TO_BASELINE[self.framework]

    @property
    def text(self) -> str:
        return "OOM" if self.status == "oom" else f"{self.speedup:.2f}x"


def _artifact(device: Device, model: str, sptransx_s: float, *baselines: tuple[str, float, float]) -> list[ArtifactRow]:
    return [ArtifactRow(device, model, BASELINE_TO_FRAMEWORK[name], sptransx_s, seconds, slowdown)
            for name, seconds, slowdown in baselines]


ARTIFACT_FB15K: tuple[ArtifactRow, ...] = tuple(
    _artifact("cpu", "transe", 165.7, ("TorchKGE", 804.0, 4.85), ("DGL-KE", 898.2, 5.42), ("PyG", 770.3, 4.65))
    + _artifact("cpu", "transr", 273.9, ("TorchKGE", 665.6, 2.43), ("DGL-KE", 1064.6, 3.89))
    + _artifact("cpu", "transh", 200.0, ("TorchKGE", 244.2, 1.22))
    + _artifact("cpu", "toruse", 444.8, ("TorchKGE", 872.4, 1.96))
    + _artifact("cuda", "transe", 21.7, ("TorchKGE", 85.5, 3.94), ("DGL-KE", 53.9, 2.48), ("PyG", 84.5, 3.90))
    + _artifact("cuda", "transr", 142.1, ("TorchKGE", 254.8, 1.79), ("DGL-KE", 219.7, 1.55))
    + _artifact("cuda", "transh", 30.0, ("TorchKGE", 83.9, 2.79))
    + _artifact("cuda", "toruse", 50.8, ("TorchKGE", 88.3, 1.74))
)

_OOM = None
# (dataset, model, framework) -> speedup, None = the baseline ran out of memory.
GPU_FIGURE: dict[tuple[str, str, str], float | None] = {}
for _dataset, _transe, _transr, _transh, _toruse in (
    # TransE PyG / DGL-KE / TorchKGE | TransR DGL-KE / TorchKGE | TransH TorchKGE | TorusE TorchKGE
    ("FB15k", (3.4, 2.0, 3.7), (1.2, 2.2), 1.8, 1.7),
    ("FB15k-237", (3.2, 1.6, 3.4), (1.2, 2.2), 1.8, 1.6),
    ("WN18", (3.4, 1.4, 4.2), (1.2, 2.1), 1.1, 1.8),
    ("WN18RR", (3.5, 1.1, 4.1), (1.2, 2.2), 1.4, 1.8),
    ("FB13", (3.1, 1.7, 3.3), (1.1, _OOM), _OOM, 1.6),
    ("YAGO3-10", (3.4, 1.9, 3.8), (1.3, 2.3), 1.3, 1.6),
    ("BioKG", (3.7, 2.1, 3.9), (1.1, 2.8), 1.2, 1.5),
):
    for _fw, _v in zip(("pyg", "dglke", "torchkge"), _transe):
        GPU_FIGURE[(_dataset, "transe", _fw)] = _v
    for _fw, _v in zip(("dglke", "torchkge"), _transr):
        GPU_FIGURE[(_dataset, "transr", _fw)] = _v
    GPU_FIGURE[(_dataset, "transh", "torchkge")] = _transh
    GPU_FIGURE[(_dataset, "toruse", "torchkge")] = _toruse

PAPER_CELLS: tuple[PaperCell, ...] = tuple(
    [PaperCell(r.device, "FB15k", r.model, r.framework, r.slowdown, "ok", SOURCE_ARTIFACT) for r in ARTIFACT_FB15K]
    + [PaperCell("cuda", d, m, f, v, "ok" if v is not None else "oom", SOURCE_GPU_FIGURE)
       for (d, m, f), v in GPU_FIGURE.items()]
)

HEADLINES: tuple[str, ...] = (
    "Training speedup over the best baseline: up to 5.3x on CPU and 4.2x on GPU (TransE).",
    "GPU memory: 1.3x to 11.1x lower.",
)
# model -> (best CPU speedup, best GPU speedup); secondary summary.
BEST_SPEEDUP_BY_MODEL: dict[str, tuple[float, float]] = {
    "transe": (5.3, 4.2), "transr": (2.9, 2.3), "transh": (3.3, 1.8), "toruse": (2.0, 1.8),
}
# Secondary review, unverified: model -> (SpTransX, TorchKGE).
PEAK_GPU_MEMORY_GB: dict[str, tuple[float, float]] = {
    "transe": (5.61, 13.55), "transr": (13.65, 20.42), "transh": (0.28, 3.1), "toruse": (12.03, 15.87),
}
FLOPS_E10: dict[str, tuple[float, float]] = {
    "transe": (220.0, 483.87), "transr": (567.37, 1157.94), "transh": (9.66, 19.58), "toruse": (289.99, 387.93),
}
# TransE averaged over datasets, seconds: (device, phase) -> (SpTransX, TorchKGE).
TRANSE_PHASE_SECONDS: dict[tuple[str, str], tuple[float, float]] = {
    ("cpu", "forward"): (74.86, 299.2), ("cpu", "backward"): (166.59, 919.17),
    ("cuda", "forward"): (18.2, 48.8), ("cuda", "backward"): (17.49, 89.51),
}


def device_kind(device: str) -> str:
    """'cuda:1' -> 'cuda', 'cpu' -> 'cpu' (the paper has one CPU and one GPU setting)."""
    return str(device).split(":", 1)[0]


def base_dataset(dataset: str) -> tuple[str, bool]:
    """('FB15k', True) for 'synthetic:FB15k', ('FB15k', False) for 'FB15k'."""
    if str(dataset).startswith("synthetic:"):
        return dataset.split(":", 1)[1], True
    return str(dataset), False


def paper_speedup(device: str, dataset: str, model: str, framework: str) -> PaperCell | None:
    """The paper's figure to draw beside ours: the GPU figure on cuda, the FB15k artifact table on cpu.

    `dataset` may be our synthetic stand-in (`synthetic:FB15k`): the paper's value is for the real
    dataset, and callers must say so.
    """
    kind, (name, _) = device_kind(device), base_dataset(dataset)
    wanted = SOURCE_GPU_FIGURE if kind == "cuda" else SOURCE_ARTIFACT
    for cell in PAPER_CELLS:
        if (cell.device, cell.dataset, cell.model, cell.framework, cell.source) == (kind, name, model, framework, wanted):
            return cell
    return None


def paper_cells_for(device: str, dataset: str, model: str) -> list[PaperCell]:
    """The chart's paper cells of one (device, dataset, model) panel group, one per baseline."""
    out = []
    for framework in BASELINE_TO_FRAMEWORK.values():
        cell = paper_speedup(device, dataset, model, framework)
        if cell is not None:
            out.append(cell)
    return out
