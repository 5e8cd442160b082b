"""`sptx verify`: check that a framework's step (by default our SpMM model) computes exactly what the
reference computes: TorchKGE where it has the model, else PyKEEN where it has it, else the model spec evaluated by
gathers (harness.verify.reference_framework)."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from baselines import FRAMEWORKS
from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.models import MODELS
from harness.sampling import SAMPLERS
from harness.spec import ModelConfig, TrainConfig
from harness.verify import FACTOR, RTOL, verify_step
from sparse_impl.backends import BACKENDS, DEFAULT_BACKEND, BackendUnavailable
from sparse_impl.loss import LOSSES

__all__ = ["VerifyCommand"]


class VerifyCommand(Command):
    name = "verify"
    help = "compare scores, loss and gradients of our SpMM model (or another framework) with a reference"
    description = (
        "Builds one real batch with negatives, loads the same initial parameters into the framework's step "
        "(default: our SpMM model) and into the reference's (TorchKGE's model where TorchKGE has it, else PyKEEN's "
        "where PyKEEN has it, else the model spec evaluated by gathers), and compares positive and negative scores, "
        "the loss (--loss) and the "
        "gradient of every parameter, in float32. The reference also runs in float64 as the exact answer: a "
        f"tensor passes when our error against it is at most {RTOL:g} of the tensor's scale (max |exact|), or at "
        f"most {FACTOR:g}x the reference's own float32 error. Exits 1 when any tensor fails."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, choices=tuple(MODELS), help="model to verify")
        parser.add_argument("--framework", default="sparse", choices=tuple(FRAMEWORKS),
                            help="the framework whose step is verified (default: sparse, our SpMM model)")
        parser.add_argument("--dataset", default="FB15k-237",
                            help="registry name, synthetic:NAME, or a folder with {train,valid,test}.txt[.gz]")
        add_data_dir_argument(parser)
        parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=sorted(BACKENDS),
                            help="SpMM backend (framework sparse)")
        parser.add_argument("--dissimilarity", default=None,
                            help="score function; default per model: " + ", ".join(
                                f"{m}: {'/'.join(spec.dissimilarities) or 'none'}" for m, spec in MODELS.items()))
        parser.add_argument("--dim", type=int, default=128, help="embedding dimension (TransR: both spaces)")
        parser.add_argument("--batch-size", type=int, default=4096, help="positives in the batch")
        parser.add_argument("--negatives", type=int, default=TrainConfig.num_negatives, help="negatives per positive")
        parser.add_argument("--sampler", default=TrainConfig.sampler, choices=tuple(SAMPLERS), help="negative sampler")
        parser.add_argument("--loss", default=TrainConfig.loss, choices=tuple(LOSSES), help="training loss")
        parser.add_argument("--margin", type=float, default=TrainConfig.margin,
                            help="margin of the margin loss, gamma of nssa")
        parser.add_argument("--adversarial-temperature", type=float, default=TrainConfig.adversarial_temperature,
                            help="alpha of the nssa loss")
        parser.add_argument("--seed", type=int, default=TrainConfig.seed,
                            help="seed of parameters, batch order and negatives")
        parser.add_argument("--device", default="cpu",
                            help="torch device of both steps: cpu, cuda or cuda:N (on CUDA, backend fused runs the "
                                 "Triton kernels)")

    def run(self, args: argparse.Namespace) -> int:
        import torch

        from harness.cli.compare_cmd import check_device
        from harness.data import load_dataset

        check_device(args.device)
        if args.batch_size < 1 or args.negatives < 1 or args.dim < 1:
            raise SptxError("--batch-size, --negatives and --dim must be positive")
        dataset = load_dataset(args.dataset, args.data_dir)
        cfg = ModelConfig(args.model, dataset.n_entities, dataset.n_relations, args.dim,
                          dissimilarity=args.dissimilarity)
        train = TrainConfig(num_negatives=args.negatives, sampler=args.sampler, seed=args.seed, loss=args.loss,
                            margin=args.margin, adversarial_temperature=args.adversarial_temperature)
        try:
            options = {"backend": args.backend} if args.framework == "sparse" else {}
            report = verify_step(cfg, dataset.train, args.batch_size, args.framework, options, train,
                                 torch.device(args.device))
        except BackendUnavailable as exc:
            raise SptxError(str(exc)) from None

        loss = "" if args.loss == TrainConfig.loss else f", loss {args.loss}"
        table = Table(title=f"sptx verify: {cfg.model} ({cfg.dissimilarity}){loss}, {dataset.label}, "
                            f"{escape(report.label)} vs {report.reference} on {args.device}, batch {report.batch_size} x (1 + {args.negatives}), d={cfg.dim}")
        for column in ("tensor", "shape", "max abs diff", "max rel diff", "ours vs exact", f"{report.reference} vs exact",
                       "result"):
            table.add_column(column, justify="left" if column in ("tensor", "shape") else "right")
        for c in report.comparisons:
            table.add_row(c.name, "x".join(map(str, c.shape)) or "scalar", f"{c.max_abs:.3e}", f"{c.max_rel:.3e}",
                          f"{c.error:.2e}", f"{c.reference_error:.2e}",
                          "[green]ok[/green]" if c.passed else "[red]FAIL[/red]")
        console = make_console()
        console.print(table)
        verdict = "PASS" if report.passed else "FAIL"
        ref = report.reference
        console.print(f"{verdict}: diffs are ours vs {ref} in float32 (relative to max|{ref}|); a tensor passes when "
                      f"its error vs exact ({ref} in float64) is <= {RTOL:g} of scale or <= {FACTOR:g}x {ref}'s own "
                      f"float32 error.")
        return 0 if report.passed else 1
