"""`sptx datasets` through the real entry point."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.data import get_spec


def _write(folder: Path, train: str = "a\tr\tb\n") -> None:
    folder.mkdir(parents=True)
    for split, text in (("train", train), ("valid", "b\tr\ta\n"), ("test", "a\tr\ta\n")):
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip("│┃ ").startswith(f"{name} "))


def test_lists_every_dataset_with_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "WN18RR")
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("FB15k", "FB15k-237", "WN18", "WN18RR", "FB13", "YAGO3-10", "BioKG", "synthetic:BioKG"):
        assert name in out
    assert "missing" in _row(out, "FB15k-237") and str(tmp_path / "WN18RR") in out
    assert "modified" in _row(out, "WN18RR") and "--data-dir" in _row(out, "WN18RR")
    assert "WN18RR: n_entities expected 40,943, found 2" in out


def test_embedded_wn18rr_is_listed_with_source_embedded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(tmp_path / "empty")]) == 0
    row = _row(capsys.readouterr().out, "WN18RR")
    assert "real" in row and "embedded" in row and "86,835 ✓" in row


def test_incomplete_registry_folder_is_invalid_and_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "FB15k-237")
    (tmp_path / "FB15k-237" / "valid.txt").unlink()
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "invalid" in _row(out, "FB15k-237") and "FB15k-237/valid.txt[.gz]: missing split file" in out


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
    spec = replace(get_spec("WN18RR"), url=f"http://127.0.0.1:{port}/WN18RR.tar.gz", sha256="0" * 64)
    monkeypatch.setattr("harness.cli.datasets_cmd.get_spec", lambda name: spec)
    assert main(["datasets", "--data-dir", str(tmp_path), "--download", "wn18rr"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sptx datasets: error: download failed") and "\n" not in err
    assert str(tmp_path / "WN18RR") in err


def test_unknown_download_name_lists_known(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(tmp_path), "--download", "nope"]) == 2
    assert "known datasets: FB15k, FB15k-237" in capsys.readouterr().err


def test_unverified_download_needs_the_flag_and_prints_the_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 2 from the command line: refused without --allow-unverified; with it, the observed sha256."""
    archive = tmp_path / "FB15k-237.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split, text in (("train", b"a\tr\tb\n"), ("valid", b"b\tr\ta\n"), ("test", b"a\tr\ta\n")):
            info = tarfile.TarInfo(f"FB15k-237/{split}.txt")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = replace(get_spec("FB15k-237"), url=archive.as_uri(), sha256=None)
    monkeypatch.setattr("harness.cli.datasets_cmd.get_spec", lambda name: spec)
    data = tmp_path / "data"
    assert main(["datasets", "--data-dir", str(data), "--download", "FB15k-237"]) == 2
    err = capsys.readouterr().err.strip()
    assert "refusing to download FB15k-237" in err and "--allow-unverified" in err and "\n" not in err
    assert not (data / "FB15k-237").exists()
    assert main(["datasets", "--data-dir", str(data), "--download", "FB15k-237", "--allow-unverified"]) == 0
    out = capsys.readouterr().out
    assert f"UNVERIFIED download {archive.as_uri()} has sha256 {sha}" in out
    assert (data / "FB15k-237" / "train.txt").is_file()
