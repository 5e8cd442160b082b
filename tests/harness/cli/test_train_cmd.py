"""`sptx train` end to end on a tiny graph: one complete record appended, one-line errors, and the report's
quality section."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from sparse_impl.backends import DEFAULT_BACKEND


def _args(folder, out, *extra):
    return ["train", "--model", "transe", "--dataset", str(folder), "--framework", "sparse", "--epochs", "3",
            "--eval-every", "1", "--dim", "8", "--batch-size", "6", "--threads", "1", "--lr", "0.05",
            "--out", str(out), *extra]


@pytest.mark.slow
def test_train_in_a_fresh_process_appends_one_record(tiny_graph_dir, tmp_path):
    out = tmp_path / "q.jsonl"
    assert main(_args(tiny_graph_dir, out)) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["record_type"] == "training" and record["status"] == "ok"
    assert record["settings"]["steps"] == 9 and record["settings"]["warmup"] == 0  # 3 epochs x 3 batches
    assert record["env"]["process_env"]["GLIBC_TUNABLES"]  # the pinned allocator, as compare's workers
    assert record["env"]["threads"] == 1
    assert len(record["epochs"]) == 3 and record["test"]["both_mrr"] > 0


def test_report_has_a_quality_section(tiny_graph_dir, tmp_path):
    out = tmp_path / "q.jsonl"
    for framework in ("sparse", "gather"):
        args = _args(tiny_graph_dir, out, "--in-process", "--target-mrr", "0.01")
        args[args.index("sparse")] = framework
        assert main(args) == 0
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    text = (report / "README.md").read_text()
    assert "## Quality" in text and "| gather |" in text and f"| sparse[{DEFAULT_BACKEND}] |" in text
    assert any(p.suffix == ".png" for p in report.iterdir())
    assert (report / "quality.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("extra, message", [
    (("--option", "backend"), "write KEY=VALUE"),
    (("--option", "colour=red"), "sparse has no option(s) colour"),
    (("--target-mrr", "3"), "--target-mrr must be in"),
    (("--batch-size", "1000"), "larger than the 18 training triples"),
])
def test_bad_input_is_a_one_line_error(tiny_graph_dir, tmp_path, capsys, extra, message):
    args = _args(tiny_graph_dir, tmp_path / "q.jsonl", "--in-process")
    args += list(extra)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "q.jsonl").exists()


def test_unknown_framework(tiny_graph_dir, tmp_path, capsys):
    args = _args(tiny_graph_dir, tmp_path / "q.jsonl")
    args[args.index("sparse")] = "nope"
    assert main(args) == 2
    assert "unknown framework 'nope'" in capsys.readouterr().err


def test_a_device_as_out_is_refused_before_anything_runs(tiny_graph_dir, capsys):
    assert main(_args(tiny_graph_dir, "/dev/full")) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sptx train: error: /dev/full is a character device, not a regular results file"


def test_more_threads_than_cores_is_a_one_line_error(tiny_graph_dir, tmp_path, capsys):
    args = _args(tiny_graph_dir, tmp_path / "q.jsonl", "--in-process")
    args[args.index("--threads") + 1] = "999"
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "--threads 999: this machine has" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "q.jsonl").exists()


def _start_training(folder, out, tmpdir):
    """`sptx train` for very many epochs in a real process, stderr on a terminal so it shows epoch progress."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    args = _args(folder, out)
    args[args.index("--epochs") + 1] = "1000000"
    args[args.index("--eval-every") + 1] = "0"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # tqdm draws nothing 0 wide
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE, stderr=slave,
                            env=dict(os.environ, TMPDIR=str(tmpdir)))
    os.close(slave)
    return proc, master


def _read_until(master: int, pattern: str, seconds: float) -> str:
    """What the terminal showed until `pattern` appeared (or `seconds` passed, or it closed)."""
    import os
    import re
    import select
    import time

    text, deadline = "", time.monotonic() + seconds
    while not re.search(pattern, text) and time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
    return text


@pytest.mark.slow
@pytest.mark.parametrize("signals", [("SIGINT",), ("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signal_to_the_parent_is_forwarded_and_the_epochs_done_are_recorded(tiny_graph_dir, tmp_path, signals):
    import os
    import signal

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "q.jsonl"
    proc, master = _start_training(tiny_graph_dir, out, tmpdir)
    try:
        shown = _read_until(master, r"\| *[1-9]\d*/1000000", 60)
        assert proc.poll() is None, shown
        for name in signals:
            os.kill(proc.pid, getattr(signal, name))  # the parent only, not its process group
        stdout, _ = proc.communicate(timeout=30)
        shown += _read_until(master, r"(?!)", 2)  # the rest, until the terminal closes
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 130, shown
    assert "Traceback" not in shown and "sptx train: interrupted" in shown
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["status"] == "killed" and record["message"] == f"interrupted by {signals[0]}"
    assert len(record["epochs"]) >= 1
    assert b"killed" in stdout
    assert not [p for p in tmpdir.iterdir() if p.suffix == ".json"]  # no job file left behind


def _with_candidates(tiny_graph_dir, tmp_path, splits=("valid", "test")):
    """A copy of the tiny graph with OGB-style sampled candidates (every entity but the true one, each side)."""
    import shutil

    import numpy as np

    from harness.data import load_dataset

    folder = tmp_path / "tiny-ogb"
    shutil.copytree(tiny_graph_dir, folder)
    ds = load_dataset(str(folder))
    every = np.arange(ds.n_entities)
    for split in splits:
        triples = getattr(ds, split).numpy()
        others = [np.stack([every[every != x] for x in triples[:, column]]) for column in (0, 2)]
        np.savez(folder / f"{split}_candidates.npz", head_neg=others[0], tail_neg=others[1])
    return folder


def test_eval_protocol_ogb_is_recorded_printed_and_reported(tiny_graph_dir, tmp_path, capsys):
    folder = _with_candidates(tiny_graph_dir, tmp_path)
    out = tmp_path / "q.jsonl"
    assert main(_args(folder, out, "--in-process")) == 0
    shown = capsys.readouterr().out
    assert "evaluation filtered, all entities" in shown and "test (filtered, all entities, realistic ranks)" in shown
    assert main(_args(folder, out, "--in-process", "--eval-protocol", "ogb")) == 0
    shown = capsys.readouterr().out
    assert "test (sampled candidates (OGB, 11 + 11), realistic ranks): MRR" in shown
    full, ogb = [json.loads(line) for line in out.read_text().splitlines()]
    assert full["eval_protocol"] == "full" and full["training"]["eval_protocol"] == "full"
    assert ogb["eval_protocol"] == "ogb" and ogb["eval_candidates"]["test"] == {"head": 11, "tail": 11, "unknown": 0}
    assert ogb["test"]["both_mrr"] == pytest.approx(full["test"]["both_mrr"])  # nothing to filter in the ring
    # a record written before the protocol was recorded: no field at all, read as full ranking
    old = {k: v for k, v in full.items() if k not in ("eval_protocol", "eval_candidates")}
    old["training"] = {k: v for k, v in full["training"].items() if k != "eval_protocol"}
    old["run_id"] += "-old"
    old_out = tmp_path / "old.jsonl"
    old_out.write_text(json.dumps(old) + "\n" + json.dumps(ogb) + "\n")
    report = tmp_path / "report"
    assert main(["report", str(old_out), "--out", str(report)]) == 0
    text = (report / "README.md").read_text()
    assert "ranked: filtered, all entities" in text and "ranked: sampled candidates (OGB, 11 + 11)" in text
    from harness.report.quality import seed_group_key

    assert seed_group_key(old) == seed_group_key(full) != seed_group_key(ogb)


@pytest.mark.parametrize("present, missing", [((), "valid_candidates.npz"), (("valid",), "test_candidates.npz")])
def test_eval_protocol_ogb_without_candidates_names_the_missing_file(tiny_graph_dir, tmp_path, capsys, present,
                                                                     missing):
    folder = _with_candidates(tiny_graph_dir, tmp_path, splits=present)
    out = tmp_path / "q.jsonl"
    assert main(_args(folder, out, "--eval-protocol", "ogb")) == 2  # refused before a process starts
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{folder / missing} not found" in err and "Traceback" not in err
    assert not out.exists()


def test_eval_protocol_ogb_on_a_synthetic_graph_is_refused(tmp_path, capsys):
    args = _args("synthetic:FB15k-237", tmp_path / "q.jsonl", "--eval-protocol", "ogb")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "synthetic:FB15k-237 (generated) has none" in err
