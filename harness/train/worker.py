"""The process a training run executes in: started by `sptx train` with the run's thread count and
allocator in its environment (harness.runner.process_env), it trains and appends the one record.

Usage (internal): python -m harness.train.worker JOB.json|- OUT.jsonl [--progress]   (`-`: the job on stdin)

SIGINT or SIGTERM (forwarded by `sptx train`) ends the run as a `killed` record with the epochs done.
"""

from __future__ import annotations

import json
import sys

__all__ = ["main", "train_and_append"]


def train_and_append(job, out: str, progress: bool = True):
    """Run the job with a progress bar on stderr and append its record whole to `out`; return the record."""
    import torch
    from tqdm import tqdm

    from harness.records.store import ResultsStore
    from harness.train.loop import run_training

    torch.set_num_threads(job.settings.threads)
    bar = tqdm(total=job.training.epochs, desc=f"{job.framework} {job.settings.model}", unit="epoch",
               disable=not progress, file=sys.stderr, leave=True)

    def on_epoch(result) -> None:
        postfix = {"loss": f"{result.loss:.4f}"}
        if result.valid is not None:
            postfix["valid MRR"] = f"{result.valid['both_mrr']:.4f}"
        bar.set_postfix(postfix, refresh=False)  # drawn by update(), at most every mininterval
        bar.update(1)

    try:
        record = run_training(job, on_epoch)
    finally:
        bar.close()
    ResultsStore(out).append(record)
    return record


def _read_job(source: str):
    """The job from a JSON file, or from stdin for `-` (how `sptx train` passes it: no file to leave behind)."""
    from harness.train.loop import TrainingJob

    if source == "-":
        return TrainingJob.from_dict(json.load(sys.stdin))
    with open(source, encoding="utf-8") as fh:
        return TrainingJob.from_dict(json.load(fh))


def main(argv: list[str]) -> int:
    """Train the job and append its record; 2 when it could not start, 130 when stopped before any record."""
    from harness.errors import SptxError
    from harness.interrupts import install_interrupt_handlers

    install_interrupt_handlers()
    try:
        job = _read_job(argv[0])
        record = train_and_append(job, argv[1], progress=sys.stderr.isatty() or len(argv) > 2)
    except SptxError as exc:
        print(f"sptx train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if record.status == "ok" else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
