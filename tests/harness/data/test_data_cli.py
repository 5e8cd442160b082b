"""`sptx datasets` through the real entry point."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.data import get_spec


def _write(folder: Path, train: str = "a\tr\tb\n") -> None:
    folder.mkdir(parents=True)
    for split, text in (("train", train), ("valid", "b\tr\ta\n"), ("test", "a\tr\ta\n")):
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")


def test_lists_every_dataset_with_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "WN18RR")
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("FB15k", "FB15k-237", "WN18", "WN18RR", "FB13", "YAGO3-10", "BioKG", "synthetic:BioKG"):
        assert name in out
    assert "missing" in out and "real" in out and str(tmp_path / "WN18RR") in out
    assert "WN18RR: n_entities expected 40,943, found 2" in out


def test_no_load_only_checks_presence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "FB13", train="broken line\n")
    assert main(["datasets", "--data-dir", str(tmp_path), "--no-load"]) == 0
    assert "FB13" in capsys.readouterr().out
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "invalid" in out and "train.txt, line 1" in out


@pytest.mark.slow
def test_real_shared_datasets_are_listed(shared_datasets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(shared_datasets_dir)]) == 0
    out = capsys.readouterr().out
    assert "FB15k-237" in out and "272,115 ✓" in out


def test_download_without_network_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = replace(get_spec("WN18RR"), url=f"http://127.0.0.1:{port}/WN18RR.tar.gz")
    monkeypatch.setattr("harness.cli.datasets_cmd.get_spec", lambda name: spec)
    assert main(["datasets", "--data-dir", str(tmp_path), "--download", "wn18rr"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sptx datasets: error: download failed") and "\n" not in err
    assert str(tmp_path / "WN18RR") in err


def test_unknown_download_name_lists_known(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(tmp_path), "--download", "nope"]) == 2
    assert "known datasets: FB15k, FB15k-237" in capsys.readouterr().err
