"""Where does the process-to-process variance of a step come from? A/B of process settings, interleaved.

Each round runs every (variant, framework) pair once, in a fresh seeded order, each in a fresh measuring
process (harness.runner.run_cell_isolated, as `sptx compare` does); a variant is a set of environment
variables the measuring process starts with. Printed per variant and framework: the median over processes
of the per-process median step, the spread of those medians across processes (min-max and the
coefficient of variation), and the median step's ratio to the first variant's.

Usage (alone on a quiet machine; ~10 s per process):
    python benchmarks/process_variance.py --rounds 6 --frameworks sparse,gather \\
        --variant default: --variant spin10k:GOMP_SPINCOUNT=10000 --out results/variance.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """`name:VAR=value,VAR2=value` -> (name, {VAR: value, ...}); `name:` is the unchanged environment."""
    name, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return name, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, metavar="NAME:VAR=VALUE,...")
    parser.add_argument("--frameworks", default="sparse")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--dataset", default="FB15k-237")
    parser.add_argument("--data-dir", default=os.environ.get("SPTX_SHARED_DATASETS", "../shared/datasets"))
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32768)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default="results/process-variance.jsonl")
    args = parser.parse_args(argv)

    from harness.data import dataset_fingerprint
    from harness.runner import make_cell, new_run_id, run_cell_isolated

    variants = [parse_variant(v) for v in args.variant]
    frameworks = [f for f in args.frameworks.split(",") if f]
    sha = dataset_fingerprint(args.dataset, args.data_dir)
    cells = {f: make_cell(f, model="transe", dataset=args.dataset, dataset_sha256=sha, data_dir=args.data_dir,
                          dim=args.dim, batch_size=args.batch_size, steps=args.steps, measure_flops=False,
                          measure_memory=False) for f in frameworks}
    base_env = dict(os.environ)
    run_id = new_run_id()
    rng = random.Random(0)
    steps: dict[tuple[str, str], list[float]] = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for round_ in range(args.rounds):
        pairs = [(name, env, f) for name, env in variants for f in frameworks]
        rng.shuffle(pairs)
        for name, env, framework in pairs:
            os.environ.clear()
            os.environ.update(base_env)
            os.environ.update(env)
            record = run_cell_isolated(cells[framework], run_id).to_dict()
            os.environ.clear()
            os.environ.update(base_env)
            median = (record.get("time_ms") or {}).get("step", {}).get("median")
            faults = sum((record.get("samples") or {}).get("minor_faults") or [0])
            print(f"round {round_ + 1}: {name:>12} {framework:>9} {record['status']:>6} "
                  f"{median if median is None else round(median, 2)} ms, {faults} minor faults, "
                  f"neighbours {record.get('load', {}).get('neighbour_cores', 0) or 0:.2f} cores", flush=True)
            with out.open("a") as fh:
                fh.write(json.dumps({"variant": name, "variant_env": env, "framework": framework,
                                     "round": round_, "record": record}) + "\n")
            if median is not None:
                steps.setdefault((name, framework), []).append(median)
    print(f"\n{'variant':>12} {'framework':>9} {'median ms':>10} {'min-max':>14} {'CV':>6} {'vs first':>8}")
    for framework in frameworks:
        first = None
        for name, _ in variants:
            values = steps.get((name, framework), [])
            if not values:
                continue
            median = statistics.median(values)
            first = first or median
            cv = statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else float("nan")
            print(f"{name:>12} {framework:>9} {median:10.2f} {min(values):6.1f}-{max(values):6.1f} {cv:6.1%} "
                  f"{median / first:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
