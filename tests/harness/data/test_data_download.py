"""Downloads against local sources: checksums, refusing unverified files, malicious archives (the CVE-2025-4517
PATH_MAX symlink attack included), layouts, and the no-network message."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
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


def test_unknown_checksum_is_refused_before_fetching_anything(tmp_path: Path) -> None:
    """Issue 8 item 2: without a pinned sha256 nothing is downloaded (the old code warned and extracted anyway)."""
    spec = replace(get_spec("FB15k-237"), url=f"http://127.0.0.1:{_closed_port()}/FB15k-237.tar.gz", sha256=None)
    with pytest.raises(SptxError) as info:
        download_dataset(spec, tmp_path / "data")
    message = str(info.value)
    assert message.startswith("refusing to download FB15k-237: no sha256 is pinned for http://127.0.0.1:")
    assert "--allow-unverified" in message and "\n" not in message
    assert not (tmp_path / "data").exists()


def test_allow_unverified_downloads_and_reports_the_observed_hash(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "x.tar.gz", SPLITS)
    spec = replace(get_spec("FB15k-237"), url=archive.as_uri(), sha256=None)
    seen: list[tuple[str, str]] = []
    folder = download_dataset(spec, tmp_path / "data", allow_unverified=True,
                              on_unverified=lambda url, sha: seen.append((url, sha)))
    assert seen == [(archive.as_uri(), _sha(archive))]
    assert (folder / "test.txt").read_bytes() == b"c\tr1\ta\n"
    with pytest.warns(UserWarning, match=f"observed sha256 {_sha(archive)}"):
        download_dataset(spec, tmp_path / "data2", allow_unverified=True)


def test_every_registry_download_is_pinned_or_needs_allow_unverified() -> None:
    from harness.data import REGISTRY
    from harness.data.download import unverified_urls

    for spec in REGISTRY:
        urls = unverified_urls(spec)
        if urls:
            with pytest.raises(SptxError, match=f"refusing to download {spec.name}.*--allow-unverified"):
                download_dataset(spec, "/nonexistent-sptx-data")
    assert unverified_urls(get_spec("WN18")) == [get_spec("WN18").url.format(member="train.txt")]


@pytest.mark.parametrize(
    ("files", "links", "expected"),
    [
        ({"../evil.txt": b"x", **SPLITS}, None, "unsafe archive member '../evil.txt'"),
        ({"/tmp/evil.txt": b"x", **SPLITS}, None, "unsafe archive member '/tmp/evil.txt'"),
        (SPLITS, {"escape": ("../../outside", tarfile.SYMTYPE)}, "symbolic link to '../../outside'"),
        (SPLITS, {"hard": ("/etc/passwd", tarfile.LNKTYPE)}, "hard link to '/etc/passwd'"),
        (SPLITS, {"inside": ("train.txt", tarfile.SYMTYPE)}, "symbolic link to 'train.txt'"),
        (SPLITS, {"inside": ("train.txt", tarfile.LNKTYPE)}, "hard link to 'train.txt'"),
        (SPLITS, {"fifo": ("", tarfile.FIFOTYPE)}, "not a regular file or folder"),
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


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("train.txt")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "train.txt")
    with pytest.raises(SptxError, match="symbolic link"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _path_max_attack(archive: Path, target: Path, up: int = 1) -> Path:
    """The CVE-2025-4517 archive (as in CPython's test_realpath_limit_attack): 16 long directory names reached
    through symlinks push `os.path.realpath` past PATH_MAX, so a final `..` symlink is never expanded by the check
    while the kernel follows it; `escape` then points `up` levels above `target`, where the archive overwrites
    `flag` through a hard link and creates `newfile`."""
    steps = "abcdefghijklmnop"
    max_path = os.pathconf(str(target.parent), "PC_PATH_MAX")
    component = "d" * ((max_path - len(str(target)) - 1) // (len(steps) + 1))

    def add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        info.mode = 0o777 if kind == tarfile.DIRTYPE else 0o644
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    with tarfile.open(archive, "w") as tar:
        path = ""
        for step in steps:
            add(tar, os.path.join(path, component), tarfile.DIRTYPE)
            add(tar, os.path.join(path, step), tarfile.SYMTYPE, component)
            path = os.path.join(path, component)
        linkpath = os.path.join(*steps, "l" * 254)
        add(tar, linkpath, tarfile.SYMTYPE, os.path.join(*[".."] * len(steps)))
        add(tar, "escape", tarfile.SYMTYPE, os.path.join(linkpath, *[".."] * up))
        add(tar, "flaglink", tarfile.LNKTYPE, "escape/flag")
        add(tar, "flaglink", data=b"overwrite")
        add(tar, "escape/newfile", data=b"new")
        for name, data in SPLITS.items():
            add(tar, name, data=data)
    return archive


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in folder.rglob("*")}


def test_path_max_symlink_attack_cannot_escape(tmp_path: Path) -> None:
    """Issue 8 item 1: on Python 3.11.7 the old `safe_extract` let this archive write `../newfile` and overwrite
    `../flag`; now every link is refused before anything is written and nothing lands outside."""
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "flag").write_bytes(b"original")
    target = outer / "dest"
    archive = _path_max_attack(tmp_path / "attack.tar", target)
    before = _tree(tmp_path)
    with pytest.raises(SptxError, match="symbolic link") as info:
        safe_extract(archive, target)
    assert "\n" not in str(info.value)
    assert (outer / "flag").read_bytes() == b"original"
    assert not (outer / "newfile").exists() and not target.exists()
    assert _tree(tmp_path) == before


def test_path_max_symlink_attack_through_download(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "flag").write_bytes(b"original")
    # the download extracts into <data>/.WN18RR.download-XXXXXXXX/extracted: size the components for that depth
    target = data / ".WN18RR.download-XXXXXXXX" / "extracted"
    archive = _path_max_attack(tmp_path / "attack.tar", target, up=2)
    spec = replace(get_spec("WN18RR"), url=archive.as_uri(), sha256=_sha(archive))
    before = _tree(tmp_path)
    with pytest.raises(SptxError, match="refusing archive member .*symbolic link"):
        download_dataset(spec, data)
    assert (data / "flag").read_bytes() == b"original" and not (data / "newfile").exists()
    assert _tree(tmp_path) == before


def test_extraction_is_all_or_nothing(tmp_path: Path) -> None:
    """A member that fails while writing (its parent is a file) leaves no partial target and no temporary folder."""
    archive = _tar_gz(tmp_path / "x.tar.gz", {"train.txt": b"a\tr\tb\n", "train.txt/oops": b"x"})
    target = tmp_path / "out" / "extracted"
    with pytest.raises(SptxError, match="cannot extract"):
        safe_extract(archive, target)
    assert list((tmp_path / "out").iterdir()) == []
    safe_extract(_tar_gz(tmp_path / "ok.tar.gz", SPLITS), target)
    assert sorted(p.name for p in target.iterdir()) == sorted(SPLITS)
    with pytest.raises(SptxError, match="already exists"):
        safe_extract(tmp_path / "ok.tar.gz", target)


def test_archive_made_with_tar_c_dot_extracts(tmp_path: Path) -> None:
    """`tar -czf x.tar.gz -C folder .` writes a `./` member first; that is the extraction folder, not an escape."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, data in SPLITS.items():
        (folder / name).write_bytes(data)
    archive = tmp_path / "dot.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    assert tarfile.open(archive).getnames()[0] == "."
    safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(SPLITS)


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
    spec = replace(get_spec("YAGO3-10"), url=f"{base}/missing.tar.gz", sha256="0" * 64)
    with pytest.raises(SptxError, match="download failed: .*missing.tar.gz"):
        download_dataset(spec, tmp_path / "data")


def test_no_network_says_where_to_put_files(tmp_path: Path) -> None:
    spec = replace(get_spec("FB15k-237"), url=f"http://127.0.0.1:{_closed_port()}/FB15k-237.tar.gz", sha256="0" * 64)
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


def test_wikidata5m_transductive_layout_loads(tmp_path: Path) -> None:
    """The files as the Wikidata5M archive holds them (Q-ids and P-ids, tab-separated)."""
    lines = {"train": b"Q1\tP31\tQ5\nQ2\tP31\tQ5\nQ1\tP17\tQ2\n", "valid": b"Q2\tP17\tQ1\n", "test": b"Q5\tP17\tQ1\n"}
    archive = _tar_gz(tmp_path / "wikidata5m_transductive.tar.gz",
                      {f"wikidata5m_transductive_{split}.txt": data for split, data in lines.items()})
    spec = replace(get_spec("Wikidata5M"), url=archive.as_uri(), sha256=_sha(archive))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's counts are not the published ones
        download_dataset(spec, tmp_path / "data")
        dataset = load_dataset("Wikidata5M", tmp_path / "data")
    assert (dataset.n_entities, dataset.n_relations, dataset.train.shape[0]) == (3, 2, 3)
    # ids by first appearance over train, valid, test (head before tail): Q1=0, Q5=1, Q2=2; P31=0, P17=1
    assert dataset.train.tolist() == [[0, 0, 1], [2, 0, 1], [0, 1, 2]]
    assert dataset.test.tolist() == [[1, 1, 0]]


@pytest.mark.parametrize("as_numpy", [False, True])
def test_ogb_wikikg2_layout_is_converted_and_loads(tmp_path: Path, as_numpy: bool) -> None:
    """The `ogb` package's ogbl-wikikg2 layout: split/time/*.pt dictionaries of id arrays (numpy, as `ogb` saves
    them, or tensors), valid/test with their sampled negatives."""
    import numpy as np

    archive = tmp_path / "wikikg-v2.zip"
    rows = {"train": ([0, 1, 2], [0, 1, 0], [1, 2, 3]), "valid": ([3], [1], [0]), "test": ([2], [0], [0])}
    with zipfile.ZipFile(archive, "w") as zf:
        for split, (h, r, t) in rows.items():
            array = np.asarray if as_numpy else torch.tensor
            content = {"head": array(h), "relation": array(r), "tail": array(t)}
            if split != "train":
                content |= {"head_neg": array([[1, 2]] * len(h)), "tail_neg": array([[2, 3]] * len(h))}
            buffer = io.BytesIO()
            torch.save(content, buffer)
            zf.writestr(f"wikikg-v2/split/time/{split}.pt", buffer.getvalue())
    spec = replace(get_spec("ogbl-wikikg2"), url=archive.as_uri(), sha256=_sha(archive))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = download_dataset(spec, tmp_path / "data")
        dataset = load_dataset("ogbl-wikikg2", tmp_path / "data")
    assert (folder / "valid.txt").read_text() == "3\t1\t0\n"
    assert (dataset.n_entities, dataset.n_relations) == (4, 2)
    assert dataset.train.shape == (3, 3) and dataset.test.shape == (1, 3)


def test_an_ogb_split_with_pickled_code_is_refused(tmp_path: Path) -> None:
    """Downloads are not trusted to unpickle code: torch's weights-only loader, numpy arrays allowed."""
    from harness.data.download import convert_ogb_split

    source = tmp_path / "train.pt"
    torch.save({"head": functools.partial(print, "hi")}, source)
    with pytest.raises(SptxError, match="not an OGB link-property split"):
        convert_ogb_split(source, tmp_path / "train.txt")
