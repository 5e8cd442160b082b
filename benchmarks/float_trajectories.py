"""Do `sparse` and TorchKGE train the same model, or only nearly? Both step side by side in one process
from the same initial parameters through the same batches, in float64 or float32, and after every epoch
this prints how far their parameters and losses are apart; at the end, both models' filtered test MRR.

In float64 the two must stay together to rounding for the whole run: then any difference of their
float32 runs is float32 rounding amplified by training, not a difference in what they compute.

    python benchmarks/float_trajectories.py --model toruse --dataset WN18RR --epochs 30 --dtype float64
    python benchmarks/float_trajectories.py --model toruse --dataset WN18RR --epochs 3 --dtype float32

Settings default to benchmarks/quality.sh's for WN18RR. Requires sptx importable and the datasets.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--backend", default="fused", help="sparse backend (default: fused)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the per-epoch figures and test MRRs here")
    return p.parse_args()


def main() -> None:
    from baselines.sparse import SparseStep
    from baselines.torchkge import TorchKGEStep
    from harness.data import load_dataset
    from harness.evaluate import KnownTriples, rank_triples
    from harness.sampling import BatchStream, make_sampler
    from harness.spec import DEFAULT_DISSIMILARITY, ModelConfig, TrainConfig, init_parameters

    args = _parse()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, args.data_dir)
    dissimilarity = args.dissimilarity or DEFAULT_DISSIMILARITY[args.model]
    cfg = ModelConfig(args.model, dataset.n_entities, dataset.n_relations, args.dim, dissimilarity=dissimilarity)
    train = TrainConfig(margin=args.margin, lr=args.lr, weight_decay=args.weight_decay, num_negatives=args.negatives,
                        sampler="bernoulli", seed=args.seed, optimizer="adam-fused")
    dtype = getattr(torch, args.dtype)
    params = {k: v.to(dtype) for k, v in init_parameters(cfg, seed=args.seed).items()}
    cpu = torch.device("cpu")
    steps = {"sparse": SparseStep(cfg, train, params, cpu, backend=args.backend),
             "torchkge": TorchKGEStep(cfg, train, params, cpu)}
    stream = BatchStream(dataset.train, args.batch_size, make_sampler("bernoulli", dataset.train, dataset.n_entities,
                                                                      dataset.n_relations), args.negatives, args.seed)
    batches, per_epoch = iter(stream), stream.batches_per_epoch()
    print(f"{args.model} ({dissimilarity}) on {args.dataset}, {args.dtype}, sparse[{args.backend}] vs torchkge, "
          f"{args.epochs} epochs of {per_epoch} batches, {args.threads} thread(s)")
    epochs, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        worst_loss = 0.0
        for _ in range(per_epoch):
            batch = next(batches)
            losses = {}
            for name, step in steps.items():
                loss = step.forward(step.prepare(batch))
                step.backward(loss)
                step.optimizer_step()
                losses[name] = float(loss.detach())
            worst_loss = max(worst_loss, abs(losses["sparse"] - losses["torchkge"]) / abs(losses["torchkge"]))
        ours, theirs = steps["sparse"].canonical_parameters(), steps["torchkge"].canonical_parameters()
        worst_param = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
        epochs.append({"epoch": epoch, "max_loss_rel_diff": worst_loss, "max_param_abs_diff": worst_param})
        print(f"epoch {epoch:3d}: largest step-loss difference {worst_loss:.2e} (relative), "
              f"largest parameter difference {worst_param:.2e}  [{time.perf_counter() - start:.0f} s]", flush=True)
    known = KnownTriples.from_splits([dataset.train, dataset.valid, dataset.test], dataset.n_entities,
                                     dataset.n_relations)
    test = {name: rank_triples(cfg.spec, step.canonical_parameters(), dissimilarity, dataset.test, known).metrics()["both_mrr"]
            for name, step in steps.items()}
    print(f"test filtered MRR: sparse {test['sparse']:.6f}, torchkge {test['torchkge']:.6f} "
          f"(sparse / torchkge - 1 = {test['sparse'] / test['torchkge'] - 1:+.2e})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arguments": vars(args), "epochs": epochs, "test_mrr": test}, f, indent=1)


if __name__ == "__main__":
    main()
