"""The process a training run executes in: started by `sptx train` with the run's thread count and
allocator in its environment (harness.runner.process_env), it trains and appends the one record.

Usage (internal): python -m harness.train.worker JOB.json OUT.jsonl
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
        bar.set_postfix(postfix)
        bar.update(1)

    try:
        record = run_training(job, on_epoch)
    finally:
        bar.close()
    ResultsStore(out).append(record)
    return record


def main(argv: list[str]) -> int:
    from harness.errors import SptxError
    from harness.train.loop import TrainingJob

    import signal

    def stop(signum, frame):  # SIGTERM: end like Ctrl-C, so the epochs so far are recorded as killed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    job_path, out = argv[0], argv[1]
    with open(job_path, encoding="utf-8") as fh:
        job = TrainingJob.from_dict(json.load(fh))
    try:
        record = train_and_append(job, out, progress=sys.stderr.isatty() or len(argv) > 2)
    except SptxError as exc:
        print(f"sptx train: error: {exc}", file=sys.stderr)
        return 2
    return 0 if record.status == "ok" else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
