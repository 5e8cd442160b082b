"""Time the fused backend's row-gradient step phase by phase (distinct ids, row gather, loss kernel, row-wise
Adagrad update), calling its kernels directly on a seeded synthetic graph: where a big graph's step goes, and
what a kernel change buys, without the harness around it. TransE L2sq, d=128, B=32,768 + 1 uniform negative.

Compare two code versions side by side, interleaved, on the same machine (each checkout on PYTHONPATH in turn):

    for i in 1 2 3; do for tree in /tmp/before /tmp/after; do
      OMP_NUM_THREADS=2 PYTHONPATH=$tree python benchmarks/fused_phases.py --entities 4M --steps 20
    done; done
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PHASES = ("distinct", "gather", "loss", "optimizer")
DIM, BATCH, L2SQ = 128, 32768, 2


def main() -> None:
    import numba

    from harness.data.synthetic import generate_synthetic, parse_count
    from harness.errors import SptxError
    from sparse_impl.backends.fused import kernels, optimizers
    from sparse_impl.backends.fused.workspace import RowWorkspace

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", default="4M", help="entities of the synthetic graph (k/M suffixes)")
    parser.add_argument("--steps", type=int, default=20, help="measured steps (after 2 unmeasured)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    try:
        n_entities = parse_count("entities", args.entities, "--entities")
    except SptxError as error:
        parser.error(str(error))
    graph = generate_synthetic(f"synthetic:entities={n_entities},relations=1000,triples={5 * n_entities}")
    train = graph.train.numpy()
    rng = np.random.default_rng(1)
    entity = rng.standard_normal((n_entities, DIM), dtype=np.float32)
    entity /= np.linalg.norm(entity, axis=1, keepdims=True)
    relation = rng.standard_normal((graph.n_relations, DIM), dtype=np.float32)
    state = np.zeros(n_entities, np.float32)
    workspace = RowWorkspace()
    times: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for step in range(args.steps + 2):
        positives = train[rng.integers(0, train.shape[0], BATCH)]
        negatives = positives.copy()
        corrupt_head = rng.random(BATCH) < 0.5
        replacement = rng.integers(0, n_entities, BATCH)
        negatives[corrupt_head, 0] = replacement[corrupt_head]
        negatives[~corrupt_head, 2] = replacement[~corrupt_head]
        triples = np.concatenate([positives, negatives])
        heads, relations, tails = (np.ascontiguousarray(triples[:, i]) for i in range(3))
        marks = [time.perf_counter()]
        ids, local_h, local_t = workspace.distinct_ids(heads, tails, n_entities)
        marks.append(time.perf_counter())
        rows, inverse_norms = workspace.entity_rows(ids, entity, True)
        marks.append(time.perf_counter())
        partial, touched = workspace.partial(args.threads, ids.shape[0], (DIM,), np.dtype(np.float32))
        g_relation = np.empty((args.threads, graph.n_relations, DIM), np.float32)
        kernels.translation_loss(local_h, relations, local_t, local_h, local_t, inverse_norms, rows, relation, False,
                                 L2SQ, BATCH, 1.0, partial, g_relation, touched)
        marks.append(time.perf_counter())
        optimizers.adagrad_rowwise_partial(entity, state, ids, rows, partial, touched, inverse_norms, True,
                                           1.0 / BATCH, 0.01, 1e-10, 0.0, 1)
        marks.append(time.perf_counter())
        if step >= 2:
            for phase, start, end in zip(PHASES, marks, marks[1:]):
                times[phase].append((end - start) * 1e3)
    medians = {phase: float(np.median(values)) for phase, values in times.items()}
    print(f"entities {n_entities:,}, distinct rows {ids.shape[0]:,}, median ms over {args.steps} steps: "
          + ", ".join(f"{phase} {value:.2f}" for phase, value in medians.items())
          + f", total {sum(medians.values()):.2f}")


if __name__ == "__main__":
    main()
