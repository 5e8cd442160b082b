"""Fetch a paper dataset from its canonical public source into `<data dir>/<NAME>/{train,valid,test}.txt`.

Every file is checked against its pinned sha256; a file without one is refused unless unverified downloads are
allowed, and then its observed sha256 is reported so that it can be pinned. Downloads go to a temporary file that is
renamed only once complete and verified. Archives are extracted by our own code (not tarfile's extraction, whose
path checks depended on the Python version, CVE-2025-4517): links, devices, absolute paths and `..` are refused,
every member's final path is resolved inside a fresh temporary folder before it is written, and that folder is moved
into place only when complete. The dataset folder appears only when all three splits parse.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from harness.data.candidates import CANDIDATE_SPLITS, candidates_path, map_candidates, raw_candidates
from harness.data.loader import load_folder
from harness.data.locate import expected_layout, find_split_files, resolve_data_dir
from harness.data.registry import SPLITS, DatasetSpec, get_spec
from harness.errors import SptxError

__all__ = [
    "ProgressCallback",
    "UnverifiedCallback",
    "download_dataset",
    "fetch",
    "safe_extract",
    "unverified_urls",
    "normalise_text_split",
    "convert_ogb_split",
]

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as (url, bytes so far, total bytes or None) while a file downloads."""

UnverifiedCallback = Callable[[str, str], None]
"""Called as (url, observed sha256) for each file downloaded without a pinned sha256 (only when allowed)."""

_CHUNK = 1 << 20


def _hint(spec: DatasetSpec, data_dir: str | Path | None) -> str:
    return (
        f"without network access, download it elsewhere and put the files at {expected_layout(spec.name, data_dir)}, "
        f"or use synthetic:{spec.name}"
    )


def fetch(
    url: str,
    dest: Path,
    sha256: str | None,
    *,
    allow_unverified: bool = False,
    on_unverified: UnverifiedCallback | None = None,
    hint: str = "",
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download `url` to `dest` through a `.part` file renamed on success; the sha256 must match, and without a
    pinned one the download is refused unless `allow_unverified` (then the observed hash is reported)."""
    if sha256 is None and not allow_unverified:
        raise SptxError(
            f"refusing to download {url}: no sha256 is pinned for it (it cannot be known offline); "
            "pass --allow-unverified to download it anyway and print its sha256 so it can be pinned"
        )
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "sptx-datasets/0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(url, done, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise SptxError(f"download failed: {url} ({reason}); {hint}".rstrip("; ")) from None
    found = digest.hexdigest()
    if sha256 is None:
        if on_unverified is not None:
            on_unverified(url, found)
        else:
            warnings.warn(f"unverified download {url}: no sha256 is pinned for it; observed sha256 {found}", stacklevel=2)
    elif found.lower() != sha256.lower():
        part.unlink(missing_ok=True)
        raise SptxError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {found}; the file was discarded")
    part.replace(dest)
    return dest


def unverified_urls(spec: DatasetSpec) -> list[str]:
    """The URLs a download of `spec` would fetch that have no pinned sha256."""
    if spec.archive_layout == "raw":
        return [spec.url.format(member=m) for m, sha in zip(spec.members, spec.member_sha256) if sha is None]
    return [] if spec.sha256 is not None else [spec.url]


def _member_path(archive: Path, root: Path, name: str) -> Path:
    """The resolved path member `name` would be written to, refused unless it lies strictly inside `root`."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if clean and not parts:  # "." or "./": the extraction folder itself (tar -C dir . writes it first)
        return root
    if (
        not parts
        or "\0" in clean
        or PurePosixPath(clean).is_absolute()
        or ".." in parts
        or (len(clean) > 1 and clean[1] == ":")
    ):
        raise SptxError(f"{archive}: refusing unsafe archive member {name!r} (absolute path or '..')")
    try:
        resolved = (root / PurePosixPath(clean)).resolve()
    except (OSError, RuntimeError) as exc:
        raise SptxError(f"{archive}: refusing archive member {name!r}: its path cannot be resolved ({exc})") from None
    if root not in resolved.parents:
        raise SptxError(f"{archive}: refusing archive member {name!r}: it resolves outside the extraction folder")
    return resolved


def _write_member(archive: Path, root: Path, name: str, source: IO[bytes]) -> None:
    """Write one regular file, re-resolving its path just before and never following a link at the last component."""
    dest = _member_path(archive, root, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if root != dest.parent.resolve() and root not in dest.parent.resolve().parents:
        raise SptxError(f"{archive}: refusing archive member {name!r}: it resolves outside the extraction folder")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(dest, flags, 0o644), "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _extract_tar(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _member_path(archive, root, member.name)
            if member.issym() or member.islnk():
                kind = "symbolic link" if member.issym() else "hard link"
                raise SptxError(
                    f"{archive}: refusing archive member {member.name!r}: {kind} to {member.linkname!r} "
                    "(dataset archives need no links)"
                )
            if not (member.isfile() or member.isdir()):
                raise SptxError(f"{archive}: refusing archive member {member.name!r}: not a regular file or folder")
        for member in members:
            if member.isdir():
                _member_path(archive, root, member.name).mkdir(parents=True, exist_ok=True)
                continue
            source = tar.extractfile(member)
            if source is None:
                raise SptxError(f"{archive}: cannot read archive member {member.name!r}")
            with source:
                _write_member(archive, root, member.name, source)


def _extract_zip(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _member_path(archive, root, info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if stat.S_ISLNK(mode):
                raise SptxError(
                    f"{archive}: refusing archive member {info.filename!r}: symbolic link (dataset archives need no links)"
                )
            if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise SptxError(f"{archive}: refusing archive member {info.filename!r}: not a regular file or folder")
        for info in infos:
            if info.is_dir():
                _member_path(archive, root, info.filename).mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as source:
                _write_member(archive, root, info.filename, source)


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar or zip archive into `target` (absent or empty), through a temporary sibling folder moved into
    place only when complete; refuses links, devices, absolute paths, `..` and anything resolving outside."""
    archive, target = Path(archive), Path(target)
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise SptxError(f"{target}: already exists and is not an empty folder; refusing to extract {archive} into it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
    except OSError as exc:
        raise SptxError(f"cannot create a folder beside {target} ({exc.strerror or exc})") from None
    try:
        root = work.resolve()
        try:
            if tarfile.is_tarfile(archive):
                _extract_tar(archive, root)
            elif zipfile.is_zipfile(archive):
                _extract_zip(archive, root)
            else:
                raise SptxError(f"{archive}: not a tar or zip archive")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise SptxError(f"{archive}: cannot extract ({exc})") from None
        if target.exists():
            target.rmdir()
        work.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _find_member(root: Path, suffix: str, archive_name: str) -> Path:
    wanted = suffix.strip("/")
    matches = sorted(
        (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
        key=lambda p: (len(p.parts), str(p)),
    )
    for path in matches:
        rel = path.relative_to(root).as_posix()
        if rel == wanted or rel.endswith("/" + wanted):
            return path
    raise SptxError(f"{archive_name}: the archive holds no file {wanted!r}")


def normalise_text_split(source: Path, dest: Path, *, labelled: bool = False) -> None:
    """Copy a split as LF-terminated UTF-8 text; with `labelled`, keep only `h r t 1` lines (drop negatives)."""
    try:
        data = source.read_bytes()
        if source.name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise SptxError(f"{source}: cannot read ({exc})") from None
    data = data.replace(b"\r\n", b"\n")
    if labelled:
        kept: list[bytes] = []
        for line in data.split(b"\n"):
            fields = line.split(b"\t")
            if len(fields) == 4:
                if fields[3].strip() in (b"1", b"+1"):
                    kept.append(b"\t".join(fields[:3]))
            elif line.strip():
                kept.append(line)
        data = b"\n".join(kept) + b"\n"
    dest.write_bytes(data)


def _numpy_array_globals() -> list:
    """What unpickling numpy int64 / object arrays needs (the `ogb` package saves its splits' arrays as numpy),
    allowed in torch's weights-only loader instead of loading arbitrary pickles from a download."""
    core = getattr(np, "_core", None) or np.core
    allowed = [core.multiarray._reconstruct, np.ndarray, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [dtypes.Int64DType, dtypes.Int32DType, dtypes.ObjectDType, dtypes.StrDType]
    return allowed


def convert_ogb_split(source: Path, dest: Path) -> None:
    """Write an OGB link-property split (`head`, `relation`, `tail` id arrays) as text labels: the ids themselves,
    prefixed by the entity type where the split has `head_type` / `tail_type` (ogbl-biokg numbers entities per
    type). The sampled negatives of valid/test (`head_neg`, `tail_neg`), where present, are staged beside it as
    OGB ids (harness.data.candidates.raw_candidates) for `map_candidates` to put in the dataset's ids."""
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):  # no pickled code: arrays only
            split = torch.load(source, map_location="cpu", weights_only=True)
        heads = pd.Series(np.asarray(split["head"]).astype(str))
        tails = pd.Series(np.asarray(split["tail"]).astype(str))
        if "head_type" in split:
            heads = pd.Series(np.asarray(split["head_type"]).astype(str)) + ":" + heads
            tails = pd.Series(np.asarray(split["tail_type"]).astype(str)) + ":" + tails
        frame = pd.DataFrame({"head": heads, "relation": np.asarray(split["relation"]).astype(str), "tail": tails})
        split_name = dest.name.split(".")[0]
        if "head_neg" in split and split_name in CANDIDATE_SPLITS:
            raw_candidates(candidates_path(dest.parent, split_name), split["head_neg"], split["tail_neg"],
                           split.get("head_type"), split.get("tail_type"))
    except (KeyError, TypeError, ValueError, RuntimeError, OSError, EOFError, AttributeError,
            pickle.UnpicklingError) as exc:
        raise SptxError(f"{source}: not an OGB link-property split file ({exc})") from None
    frame.to_csv(dest, sep="\t", header=False, index=False, lineterminator="\n")


def _basename(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    return name or "download"


_Getter = Callable[[str, Path, "str | None"], Path]


def _stage(spec: DatasetSpec, work: Path, staging: Path, get: _Getter) -> None:
    if spec.archive_layout == "raw":
        for split, member, sha in zip(SPLITS, spec.members, spec.member_sha256):
            url = spec.url.format(member=member)
            raw = get(url, work / f"{split}-{_basename(url)}", sha)
            normalise_text_split(raw, staging / f"{split}.txt")
        return
    archive = get(spec.url, work / _basename(spec.url), spec.sha256)
    extracted = work / "extracted"
    safe_extract(archive, extracted)
    for split, member in zip(SPLITS, spec.members):
        source = _find_member(extracted, member, archive.name)
        if spec.archive_layout == "ogb":
            convert_ogb_split(source, staging / f"{split}.txt")
        else:
            labelled = spec.labelled_eval and split != "train"
            normalise_text_split(source, staging / f"{split}.txt", labelled=labelled)


def download_dataset(
    dataset: str | DatasetSpec,
    data_dir: str | Path | None = None,
    *,
    force: bool = False,
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
    allow_unverified: bool = False,
    on_unverified: UnverifiedCallback | None = None,
) -> Path:
    """Download, verify, extract and normalise one registry dataset; returns its folder (skips if already there).

    A file without a pinned sha256 is refused before anything is fetched, unless `allow_unverified`; its observed
    hash then goes to `on_unverified` (else a warning).
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_spec(dataset)
    root = resolve_data_dir(data_dir).path
    target = root / spec.name
    if not force and find_split_files(target) is not None:
        return target
    if not force and target.exists() and any(target.iterdir()):
        raise SptxError(f"{target} exists but lacks some split files; remove it or download with --force to replace it")
    unverified = unverified_urls(spec)
    if unverified and not allow_unverified:
        raise SptxError(
            f"refusing to download {spec.name}: no sha256 is pinned for {', '.join(unverified)} (it cannot be known "
            "offline); pass --allow-unverified to download anyway and print the observed sha256 so it can be pinned"
        )
    hint = _hint(spec, data_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix=f".{spec.name}.download-", dir=root)
    except OSError as exc:
        raise SptxError(f"cannot create the data folder {root} ({exc.strerror or exc}); {hint}") from None
    work = Path(work_dir)

    def get(url: str, dest: Path, sha256: str | None) -> Path:
        return fetch(url, dest, sha256, allow_unverified=allow_unverified, on_unverified=on_unverified, hint=hint,
                     timeout=timeout, progress=progress)

    try:
        staging = work / "staged"
        staging.mkdir()
        _stage(spec, work, staging, get)
        with warnings.catch_warnings():  # counts are compared when the dataset is loaded, not here
            warnings.simplefilter("ignore")
            staged = load_folder(staging, spec.name)  # all three splits parse (and a big graph's cache is built)
        assert staged.entity_labels is not None
        map_candidates(staging, staged.entity_labels)
        del staged
        if target.exists():
            target.replace(work / "previous")
        staging.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
