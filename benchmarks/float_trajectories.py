"""Do `sparse` and TorchKGE train the same model, or only nearly? Several implementations ("arms") step side
by side in one process from the same initial parameters through the same batches; after every epoch this
prints how far each arm's parameters are from the first arm's (the reference: by default TorchKGE in
float64, the exact computation), and at the end every arm's filtered test MRR.

In float64 the arms must stay on the reference to rounding for the whole run: then what their float32
runs differ by is float32 rounding amplified by training, and the float32 arm closest to the reference
is the more exact one, not a different computation.

    python benchmarks/float_trajectories.py --model toruse --dataset WN18RR --epochs 30 \\
        --arms torchkge:float64,sparse:float64:fused
    python benchmarks/float_trajectories.py --model toruse --dataset WN18RR --epochs 30 \\
        --arms torchkge:float64,sparse:float32:fused,sparse:float32:segment,torchkge:float32
    python benchmarks/float_trajectories.py --arms sparse:float64:fused,sparse:float32:fused --seeds 0-11

Settings default to benchmarks/quality.sh's for WN18RR. Requires sptx importable and the datasets.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Arm:
    """One implementation in one dtype: `framework:dtype[:backend]`."""

    framework: str
    dtype: str
    backend: str = ""

    @classmethod
    def parse(cls, text: str) -> "Arm":
        parts = text.split(":")
        if len(parts) not in (2, 3) or parts[0] not in ("sparse", "torchkge") or parts[1] not in ("float32", "float64"):
            raise argparse.ArgumentTypeError(f"arm {text!r}: use sparse:DTYPE:BACKEND or torchkge:DTYPE")
        return cls(*parts)

    @property
    def name(self) -> str:
        return f"{self.framework}[{self.backend}] {self.dtype}" if self.backend else f"{self.framework} {self.dtype}"


def _seeds(text: str) -> list[int]:
    """`3`, `0,2,5` or `0-11`."""
    try:
        if "-" in text:
            low, high = (int(x) for x in text.split("-"))
            return list(range(low, high + 1))
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r}: use N, N,M,... or N-M") from None


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", default="torchkge:float64,sparse:float64:fused",
                   type=lambda s: [Arm.parse(a) for a in s.split(",")],
                   help="comma-separated framework:dtype[:backend], the first the reference "
                        "(default: torchkge:float64,sparse:float64:fused)")
    p.add_argument("--model", default="toruse")
    p.add_argument("--dissimilarity", default=None, help="default: the model's")
    p.add_argument("--dataset", default="WN18RR")
    p.add_argument("--data-dir", default="../shared/datasets")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8192)
    p.add_argument("--negatives", type=int, default=4)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--margin", type=float, default=0.5)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--seeds", type=_seeds, default=[0], help="N, N,M,... or N-M: one run per seed (default: 0)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the per-epoch distances and test MRRs here")
    return p.parse_args()


def run_seed(args: argparse.Namespace, dataset, seed: int) -> dict:
    """Train every arm side by side from `seed`; return the per-epoch distances and the test MRRs."""
    from baselines.sparse import SparseStep
    from baselines.torchkge import TorchKGEStep
    from harness.evaluate import KnownTriples, rank_triples
    from harness.measure.driver import drive_step
    from harness.sampling import BatchStream, make_sampler
    from harness.models import MODELS
    from harness.spec import ModelConfig, TrainConfig, init_parameters

    dissimilarity = args.dissimilarity or MODELS[args.model].default_dissimilarity
    cfg = ModelConfig(args.model, dataset.n_entities, dataset.n_relations, args.dim, dissimilarity=dissimilarity)
    train = TrainConfig(margin=args.margin, lr=args.lr, weight_decay=args.weight_decay, num_negatives=args.negatives,
                        seed=seed)  # TrainConfig's sampler and optimizer
    initial = init_parameters(cfg, seed=seed)
    cpu = torch.device("cpu")

    def build(arm: Arm):
        params = {k: v.to(getattr(torch, arm.dtype)) for k, v in initial.items()}
        if arm.framework == "sparse":
            return SparseStep(cfg, train, params, cpu, backend=arm.backend or "fused")
        return TorchKGEStep(cfg, train, params, cpu)

    reference = args.arms[0]
    steps = {arm.name: build(arm) for arm in args.arms}
    stream = BatchStream(dataset.train, args.batch_size, make_sampler(train.sampler, dataset.train, dataset.n_entities,
                                                                      dataset.n_relations), args.negatives, seed)
    batches, per_epoch = iter(stream), stream.batches_per_epoch()
    print(f"seed {seed}: {args.model} ({dissimilarity}) on {args.dataset}, {args.epochs} epochs of {per_epoch} "
          f"batches, {args.threads} thread(s); reference: {reference.name}")
    epochs, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        for _ in range(per_epoch):
            batch = next(batches)
            for step in steps.values():
                drive_step(step, batch)
        exact = {k: v.double() for k, v in steps[reference.name].canonical_parameters().items()}
        distance = {name: max((step.canonical_parameters()[k].double() - exact[k]).abs().max().item() for k in exact)
                    for name, step in steps.items() if name != reference.name}
        epochs.append({"epoch": epoch, "max_param_abs_diff_from_reference": distance})
        print(f"epoch {epoch:3d}: largest parameter difference from {reference.name}: "
              + (", ".join(f"{name} {d:.2e}" for name, d in distance.items()) or "-")
              + f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    known = KnownTriples.from_splits([dataset.train, dataset.valid, dataset.test], dataset.n_entities,
                                     dataset.n_relations)
    test = {name: rank_triples(cfg.spec, step.canonical_parameters(), dissimilarity, dataset.test, known).metrics()["both_mrr"]
            for name, step in steps.items()}
    print(f"seed {seed}: test filtered MRR: " + ", ".join(f"{name} {mrr:.6f}" for name, mrr in test.items()), flush=True)
    return {"seed": seed, "reference": reference.name, "epochs": epochs, "test_mrr": test}


def main() -> None:
    from harness.data import load_dataset

    args = _parse()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, args.data_dir)
    runs = [run_seed(args, dataset, seed) for seed in args.seeds]
    names = [arm.name for arm in args.arms]
    if len(runs) > 1:
        print("\n| seed | " + " | ".join(f"{n} test MRR" for n in names) + " | largest parameter difference at the end |")
        print("|" + "---|" * (len(names) + 2))
        for run in runs:
            final = run["epochs"][-1]["max_param_abs_diff_from_reference"]
            print(f"| {run['seed']} | " + " | ".join(f"{run['test_mrr'][n]:.6f}" for n in names) + " | "
                  + (", ".join(f"{n} {d:.1e}" for n, d in final.items()) or "-") + " |")
        print("| mean | " + " | ".join(f"{sum(r['test_mrr'][n] for r in runs) / len(runs):.6f}" for n in names)
              + " | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arguments": {**vars(args), "arms": names}, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
