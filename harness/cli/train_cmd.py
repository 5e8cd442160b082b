"""`sptx train`: train one model with one framework for real epochs, evaluate link prediction (filtered among all
entities, or OGB's sampled candidates) on a schedule, stop at a target validation MRR, and append one complete
record."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from rich.markup import escape

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.interrupts import Interrupted, signal_name_of, stop_worker
from harness.settings import add_settings_arguments

__all__ = ["TrainCommand", "parse_options"]

# Run-identity fields that belong to step measurements, not to training: steps is derived (epochs x batches
# per epoch) and there is no warm-up.
_MEASUREMENT_ONLY = ("steps", "warmup")


def _send_job(proc: subprocess.Popen, job) -> None:
    """Write the job to the worker's stdin and close it; a worker that already ended simply does not read it."""
    try:
        proc.stdin.write(json.dumps(job.to_dict()).encode("utf-8"))
        proc.stdin.close()
    except BrokenPipeError:
        pass


def _last_record(out: str, start: int) -> dict | None:
    """The last record appended to `out` after byte `start`, reading only what was appended."""
    from harness.records.store import ResultsStore

    records = ResultsStore(out).records_after(start)
    return records[-1] if records else None


def parse_options(items: list[str]) -> dict[str, object]:
    """`--option KEY=VALUE` items as a dict; true/false become booleans."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SptxError(f"--option {item!r}: write KEY=VALUE, e.g. backend=segment")
        out[key.strip()] = {"true": True, "false": False}.get(value.strip().lower(), value.strip())
    return out


class TrainCommand(Command):
    name = "train"
    help = "train for real epochs with one framework; MRR / Hits@k (filtered, or OGB's candidates), time to target MRR"
    description = (
        "Trains --model on --dataset with --framework for --epochs real epochs (each a fresh seeded shuffle and "
        "fresh negatives, every batch used; the same batches and initial parameters for every framework). Every "
        "--eval-every epochs it evaluates filtered link prediction on the validation split (rank of the true head "
        "and the true tail among all entities, other known triples of train/valid/test removed, ties ranked "
        "'realistically': the mean of the optimistic and pessimistic rank); at the end, on the test split. With "
        "--target-mrr it stops when the validation MRR first reaches the target and records the training time to "
        "get there (evaluation time excluded, recorded apart). --eval-protocol ogb ranks instead, as OGB's "
        "link-property evaluator, each true head and tail among the triple's own sampled candidates, unfiltered "
        "(e.g. 500 + 500 for ogbl-wikikg2; the dataset's {valid,test}_candidates.npz, kept by an OGB download); the "
        "record's eval_protocol says which produced its metrics. The run executes in a fresh process with the "
        "--threads and --allocator settings, like `sptx compare`, and appends one complete record to --out. "
        "Example: sptx train --model transe --dataset FB15k-237 --framework sparse --epochs 50 --eval-every 5 "
        "--lr 0.01 --out results/quality.jsonl"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from harness.train.settings import TrainingSettings

        parser.add_argument("--framework", required=True, help="framework to train with (see `sptx compare --help`)")
        parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                            help="an adapter option, e.g. backend=segment for sparse (repeatable; default: none)")
        add_settings_arguments(parser, exclude=_MEASUREMENT_ONLY)
        add_settings_arguments(parser, cls=TrainingSettings)
        add_data_dir_argument(parser)
        parser.add_argument("--out", required=True, metavar="FILE.jsonl", help="JSON Lines file the record is appended to")
        parser.add_argument("--in-process", action="store_true",
                            help="train in this process instead of a fresh one (--allocator then does not apply)")

    def run(self, args: argparse.Namespace) -> int:
        from baselines import get_framework
        from harness.cli.compare_cmd import check_device
        from harness.data import load_dataset
        from harness.evaluate import protocol_label
        from harness.records.store import ResultsStore
        from harness.settings import settings_from_args
        from harness.spec import ModelConfig
        from harness.train import TrainingJob, TrainingSettings

        check_device(args.device)
        start = ResultsStore(args.out).size()
        cls = get_framework(args.framework)
        options = cls.resolve_options(parse_options(args.option))
        training = settings_from_args(args, cls=TrainingSettings)
        if training.eval_protocol == "ogb":  # refused before loading or starting anything, naming the missing file
            from harness.evaluate import candidates_folder, require_candidates

            require_candidates(candidates_folder(args.dataset, args.data_dir),
                               ("valid", "test") if training.eval_every else ("test",))
        dataset = load_dataset(args.dataset, args.data_dir)
        probe = settings_from_args(args, steps=1, warmup=0)
        reason = cls.unsupported_reason(ModelConfig(probe.model, 1, 1, 1, probe.rel_dim, probe.dissimilarity), options,
                                        probe.optimizer, probe.loss) \
            or cls.unavailable_reason_for(options)
        if reason:
            raise SptxError(reason)
        steps = training.epochs * -(-int(dataset.train.shape[0]) // probe.batch_size)
        settings = settings_from_args(args, dataset_sha256=dataset.content_sha256,
                                      steps=steps, warmup=0)
        job = TrainingJob(settings, training, args.framework, options, args.data_dir, ("sptx", *sys.argv[1:]))
        console = make_console()
        console.print(f"sptx train: {escape(cls.label(options))}, {settings.describe().split(', ', 1)[0]}, "
                      f"{training.epochs} epoch(s) of {steps // training.epochs} batch(es), lr {training.lr:g}, "
                      f"margin {training.margin:g}, evaluation {protocol_label(training.eval_protocol)}",
                      highlight=False)
        if args.in_process:
            from harness.train.worker import train_and_append

            record = train_and_append(job, args.out).to_dict()
        else:
            record = self._run_isolated(job, args.out, start)
        if record is None:
            raise SptxError(f"the training process ended without a record in {args.out}")
        self._summarise(record, console)
        if record["status"] == "killed":
            raise KeyboardInterrupt
        return 0 if record["status"] == "ok" else 1

    @staticmethod
    def _run_isolated(job, out: str, start: int) -> dict | None:
        """Run the job in a fresh process with the run's thread count and allocator, the job on its stdin (no
        file to leave behind); return the record it appended after byte `start` of `out`. SIGINT or SIGTERM
        here is forwarded to it, so its killed record keeps the epochs done."""
        from harness.runner.isolation import _start_worker
        from harness.runner.process_env import worker_environment

        env = worker_environment(os.environ, job.settings.threads, job.settings.allocator)
        argv = [sys.executable, "-m", "harness.train.worker", "-", out]
        if sys.stderr.isatty():
            argv.append("--progress")
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, preexec_fn=_start_worker)
        try:
            _send_job(proc, job)
            proc.wait()
        except KeyboardInterrupt as exc:
            name = signal_name_of(exc)
            stop_worker(proc, name)
            record = _last_record(out, start)
            if record is None:
                raise Interrupted(name) from None
            return record
        if proc.returncode == 2:
            raise SptxError("training did not start (see the message above)")
        return _last_record(out, start)

    @staticmethod
    def _summarise(record, console) -> None:
        if record["status"] != "ok":
            console.print(f"[red]{record['status']}[/red]: {record['message']}")
        from harness.evaluate import record_protocol_label

        test = record.get("test") or {}
        if test:
            console.print(f"test ({record_protocol_label(record)}, realistic ranks): MRR {test['both_mrr']:.4f}, "
                          f"MR {test['both_mr']:.1f}, Hits@1 {test['both_hits_at_1']:.4f}, "
                          f"Hits@3 {test['both_hits_at_3']:.4f}, Hits@10 {test['both_hits_at_10']:.4f}",
                          highlight=False)
        text = (f"{len(record['epochs'])} epoch(s), training {record['train_time_s']:.1f} s, "
                f"evaluation {record['eval_time_s']:.1f} s")
        target = record["training"].get("target_mrr")
        if target is not None:
            text += (f"; target valid MRR {target:g} reached after {record['time_to_target_s']:.1f} s of training "
                     f"(epoch {record['target_epoch']})" if record["time_to_target_s"] is not None
                     else f"; target valid MRR {target:g} not reached")
        console.print(text, highlight=False)
