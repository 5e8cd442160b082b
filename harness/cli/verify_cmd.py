"""`sptx verify`: check that our SpMM model computes exactly what TorchKGE computes."""

from __future__ import annotations

import argparse

from rich.table import Table

from baselines.torchkge import TorchKGEStep
from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.spec import DISSIMILARITIES, MODEL_NAMES, ModelConfig, TrainConfig
from harness.verify import FACTOR, RTOL, verify_against_torchkge
from sparse_impl.backends import BACKENDS, DEFAULT_BACKEND, BackendUnavailable

__all__ = ["VerifyCommand"]


class VerifyCommand(Command):
    name = "verify"
    help = "compare scores, loss and gradients of our SpMM model with TorchKGE's on one real batch"
    description = (
        "Builds one real batch with negatives, loads the same initial parameters into the SpMM model and "
        "into TorchKGE's model of the same kind, and compares positive and negative scores, the loss and the "
        "gradient of every parameter, in float32. TorchKGE also runs in float64 as the exact answer: a tensor "
        f"passes when our error against it is at most {RTOL:g} of the tensor's scale (max |exact|), or at most "
        f"{FACTOR:g}x TorchKGE's own float32 error. Exits 1 when any tensor fails."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, choices=MODEL_NAMES, help="model to verify")
        parser.add_argument("--dataset", default="FB15k-237",
                            help="registry name, synthetic:NAME, or a folder with {train,valid,test}.txt[.gz]")
        add_data_dir_argument(parser)
        parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=sorted(BACKENDS), help="SpMM backend")
        parser.add_argument("--dissimilarity", default=None,
                            help="score function; default per model: " + ", ".join(
                                f"{m}: {'/'.join(d)}" for m, d in DISSIMILARITIES.items()))
        parser.add_argument("--dim", type=int, default=128, help="embedding dimension (TransR: both spaces)")
        parser.add_argument("--batch-size", type=int, default=4096, help="positives in the batch")
        parser.add_argument("--negatives", type=int, default=1, help="negatives per positive")
        parser.add_argument("--sampler", default="bernoulli", choices=("bernoulli", "uniform"))
        parser.add_argument("--seed", type=int, default=0, help="seed of parameters, batch order and negatives")

    def run(self, args: argparse.Namespace) -> int:
        from harness.data import load_dataset

        reason = TorchKGEStep.unavailable_reason()
        if reason:
            raise SptxError(f"verify needs TorchKGE as the reference: {reason}")
        if args.batch_size < 1 or args.negatives < 1 or args.dim < 1:
            raise SptxError("--batch-size, --negatives and --dim must be positive")
        dataset = load_dataset(args.dataset, args.data_dir)
        cfg = ModelConfig(args.model, dataset.n_entities, dataset.n_relations, args.dim,
                          dissimilarity=args.dissimilarity)
        train = TrainConfig(num_negatives=args.negatives, sampler=args.sampler, seed=args.seed)
        try:
            report = verify_against_torchkge(cfg, dataset.train, args.batch_size, args.backend, train)
        except BackendUnavailable as exc:
            raise SptxError(str(exc)) from None

        table = Table(title=f"sptx verify: {cfg.model} ({cfg.dissimilarity}), {dataset.label}, "
                            f"backend {args.backend}, batch {report.batch_size} x (1 + {args.negatives}), d={cfg.dim}")
        for column in ("tensor", "shape", "max abs diff", "max rel diff", "ours vs exact", "TorchKGE vs exact",
                       "result"):
            table.add_column(column, justify="left" if column in ("tensor", "shape") else "right")
        for c in report.comparisons:
            table.add_row(c.name, "x".join(map(str, c.shape)) or "scalar", f"{c.max_abs:.3e}", f"{c.max_rel:.3e}",
                          f"{c.error:.2e}", f"{c.reference_error:.2e}",
                          "[green]ok[/green]" if c.passed else "[red]FAIL[/red]")
        console = make_console()
        console.print(table)
        verdict = "PASS" if report.passed else "FAIL"
        console.print(f"{verdict}: diffs are ours vs TorchKGE in float32 (relative to max|TorchKGE|); a tensor passes when "
                      f"its error vs exact (TorchKGE in float64) is <= {RTOL:g} of scale or <= {FACTOR:g}x TorchKGE's own "
                      f"float32 error.")
        return 0 if report.passed else 1
