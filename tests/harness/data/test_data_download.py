"""Downloads against local sources: checksums, malicious archives, layouts, and the no-network message."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from harness.data import download_dataset, get_spec, load_dataset, safe_extract
from harness.errors import SptxError

SPLITS = {
    "train.txt": b"a\tr1\tb\r\nb\tr2\tc\r\n",
    "valid.txt": b"a\tr2\tc\r\n",
    "test.txt": b"c\tr1\ta\r\n",
}


def _tar_gz(path: Path, files: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (target, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tar.addfile(info)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_archive_from_file_url_with_good_checksum(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "WN18RR.tar.gz", {f"WN18RR/{k}": v for k, v in SPLITS.items()})
    spec = replace(get_spec("WN18RR"), url=archive.as_uri(), sha256=_sha(archive))
    data = tmp_path / "data"
    folder = download_dataset(spec, data)
    assert folder == data / "WN18RR"
    assert (folder / "train.txt").read_bytes() == b"a\tr1\tb\nb\tr2\tc\n"
    assert sorted(p.name for p in data.iterdir()) == ["WN18RR"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ds = load_dataset("WN18RR", data)
    assert ds.train.tolist() == [[0, 0, 1], [1, 1, 2]] and ds.n_entities == 3


def test_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "x.tar.gz", SPLITS)
    spec = replace(get_spec("WN18RR"), url=archive.as_uri(), sha256="0" * 64)
    data = tmp_path / "data"
    with pytest.raises(SptxError, match=f"checksum mismatch .*got {_sha(archive)}"):
        download_dataset(spec, data)
    assert list(data.iterdir()) == []


def test_unknown_checksum_warns_it_cannot_verify(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "x.tar.gz", SPLITS)
    spec = replace(get_spec("FB15k-237"), url=archive.as_uri(), sha256=None)
    with pytest.warns(UserWarning, match="cannot verify"):
        download_dataset(spec, tmp_path / "data")
    assert (tmp_path / "data" / "FB15k-237" / "test.txt").is_file()


@pytest.mark.parametrize(
    ("files", "links", "expected"),
    [
        ({"../evil.txt": b"x", **SPLITS}, None, "unsafe archive member '../evil.txt'"),
        ({"/tmp/evil.txt": b"x", **SPLITS}, None, "unsafe archive member '/tmp/evil.txt'"),
        (SPLITS, {"escape": ("../../outside", tarfile.SYMTYPE)}, "points outside"),
        (SPLITS, {"hard": ("/etc/passwd", tarfile.LNKTYPE)}, "points outside"),
    ],
)
def test_malicious_archive_is_rejected(
    tmp_path: Path, files: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None, expected: str
) -> None:
    archive = _tar_gz(tmp_path / "bad.tar.gz", files, links)
    spec = replace(get_spec("WN18RR"), url=archive.as_uri(), sha256=_sha(archive))
    data = tmp_path / "a" / "data"
    with pytest.raises(SptxError, match=expected):
        download_dataset(spec, data)
    assert not (tmp_path / "a" / "evil.txt").exists() and not (data / "WN18RR").exists()
    assert list(data.iterdir()) == []


def test_zip_with_parent_member_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(SptxError, match="unsafe archive member"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_raw_layout_over_local_http_server(http_root: tuple[Path, str], tmp_path: Path) -> None:
    root, base = http_root
    (root / "wn18").mkdir()
    for name, data in SPLITS.items():
        (root / "wn18" / name).write_bytes(data)
    shas = tuple(hashlib.sha256(SPLITS[f"{s}.txt"]).hexdigest() for s in ("train", "valid", "test"))
    spec = replace(get_spec("WN18"), url=f"{base}/wn18/{{member}}", member_sha256=shas)
    seen: list[int] = []
    folder = download_dataset(spec, tmp_path / "data", progress=lambda url, done, total: seen.append(done))
    assert (folder / "valid.txt").read_bytes() == b"a\tr2\tc\n"
    assert seen and seen[-1] == len(SPLITS["test.txt"])


def test_http_404_is_a_download_failure(http_root: tuple[Path, str], tmp_path: Path) -> None:
    _, base = http_root
    spec = replace(get_spec("YAGO3-10"), url=f"{base}/missing.tar.gz")
    with pytest.raises(SptxError, match="download failed: .*missing.tar.gz"):
        download_dataset(spec, tmp_path / "data")


def test_no_network_says_where_to_put_files(tmp_path: Path) -> None:
    spec = replace(get_spec("FB15k-237"), url=f"http://127.0.0.1:{_closed_port()}/FB15k-237.tar.gz")
    with pytest.raises(SptxError) as info:
        download_dataset(spec, tmp_path / "data", timeout=5)
    message = str(info.value)
    assert message.startswith("download failed: http://127.0.0.1:")
    assert f"{tmp_path / 'data' / 'FB15k-237'}/{{train,valid,test}}.txt[.gz]" in message
    assert "synthetic:FB15k-237" in message and "\n" not in message


def test_labelled_eval_splits_keep_positive_triples(tmp_path: Path) -> None:
    files = {
        "code/data/Wordnet/train.txt": b"w\tr\tw2\n",
        "code/data/Freebase/train.txt": b"a\tr1\tb\n",
        "code/data/Freebase/dev.txt": b"a\tr1\tc\t1\nb\tr1\tc\t-1\n",
        "code/data/Freebase/test.txt": b"b\tr1\ta\t1\n",
    }
    archive = tmp_path / "ntn.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    spec = replace(get_spec("FB13"), url=archive.as_uri(), sha256=_sha(archive))
    folder = download_dataset(spec, tmp_path / "data")
    assert (folder / "train.txt").read_bytes() == b"a\tr1\tb\n"
    assert (folder / "valid.txt").read_bytes() == b"a\tr1\tc\n"


def test_ogb_biokg_layout_is_converted(tmp_path: Path) -> None:
    archive = tmp_path / "biokg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split, n in (("train", 3), ("valid", 1), ("test", 1)):
            buffer = io.BytesIO()
            torch.save(
                {
                    "head": torch.arange(n),
                    "relation": torch.zeros(n, dtype=torch.long),
                    "tail": torch.arange(n) + 1,
                    "head_type": ["protein"] * n,
                    "tail_type": ["drug"] * n,
                },
                buffer,
            )
            zf.writestr(f"biokg/split/random/{split}.pt", buffer.getvalue())
    spec = replace(get_spec("BioKG"), url=archive.as_uri(), sha256=_sha(archive))
    folder = download_dataset(spec, tmp_path / "data")
    assert (folder / "train.txt").read_text().splitlines() == [
        "protein:0\t0\tdrug:1",
        "protein:1\t0\tdrug:2",
        "protein:2\t0\tdrug:3",
    ]


def test_existing_dataset_is_kept_and_incomplete_one_needs_force(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "x.tar.gz", SPLITS)
    spec = replace(get_spec("WN18RR"), url=archive.as_uri(), sha256=_sha(archive))
    data = tmp_path / "data"
    (data / "WN18RR").mkdir(parents=True)
    (data / "WN18RR" / "train.txt").write_bytes(b"mine\tr\tx\n")
    with pytest.raises(SptxError, match="lacks some split files.*--force"):
        download_dataset(spec, data)
    assert (data / "WN18RR" / "train.txt").read_bytes() == b"mine\tr\tx\n"
    folder = download_dataset(spec, data, force=True)
    assert (folder / "train.txt").read_bytes() == b"a\tr1\tb\nb\tr2\tc\n"
    (folder / "train.txt").write_bytes(b"kept\tr\tx\n")
    assert download_dataset(replace(spec, url="file:///nonexistent.tar.gz"), data) == folder
    assert (folder / "train.txt").read_bytes() == b"kept\tr\tx\n"
