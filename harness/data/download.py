"""Fetch a paper dataset from its canonical public source into `<data dir>/<NAME>/{train,valid,test}.txt`.

Downloads go to a temporary file that is renamed only once complete and verified; archives are extracted with
member checks plus tarfile's `data` filter; the dataset folder appears only when all three splits parse.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from harness.data.loader import read_triples_file
from harness.data.locate import expected_layout, find_split_files, resolve_data_dir
from harness.data.registry import SPLITS, DatasetSpec, get_spec
from harness.errors import SptxError

__all__ = [
    "ProgressCallback",
    "download_dataset",
    "fetch",
    "safe_extract",
    "normalise_text_split",
    "convert_ogb_split",
]

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as (url, bytes so far, total bytes or None) while a file downloads."""

_CHUNK = 1 << 20
_S_IFMT = 0o170000
_S_IFLNK = 0o120000


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
    hint: str = "",
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download `url` to `dest` through a `.part` file renamed on success, checking its sha256 when known."""
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
        warnings.warn(f"cannot verify {url}: no sha256 is known for it (downloaded sha256 {found})", stacklevel=2)
    elif found.lower() != sha256.lower():
        part.unlink(missing_ok=True)
        raise SptxError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {found}; the file was discarded")
    part.replace(dest)
    return dest


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _escapes(member_dir: PurePosixPath, link: str, relative_to_member: bool) -> bool:
    if PurePosixPath(link).is_absolute() or (len(link) > 1 and link[1] == ":"):
        return True
    base = member_dir if relative_to_member else PurePosixPath()
    depth = 0
    for part in (base / link).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _check_tar(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        if _unsafe(member.name):
            raise SptxError(f"{archive}: refusing unsafe archive member {member.name!r} (absolute path or '..')")
        if member.issym() or member.islnk():
            if _escapes(PurePosixPath(member.name).parent, member.linkname, member.issym()):
                raise SptxError(
                    f"{archive}: refusing archive member {member.name!r}: link to {member.linkname!r} "
                    "points outside the extraction folder"
                )
        elif not (member.isfile() or member.isdir()):
            raise SptxError(f"{archive}: refusing archive member {member.name!r}: not a regular file or folder")


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar or zip archive into `target`, refusing absolute paths, `..`, escaping links and devices."""
    target.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive, "r:*") as tar:
                _check_tar(archive, tar.getmembers())
                tar.extractall(target, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SptxError(f"{archive}: cannot extract ({exc})") from None
    elif zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if _unsafe(info.filename):
                        raise SptxError(
                            f"{archive}: refusing unsafe archive member {info.filename!r} (absolute path or '..')"
                        )
                    if (info.external_attr >> 16) & _S_IFMT == _S_IFLNK:
                        raise SptxError(f"{archive}: refusing archive member {info.filename!r}: symbolic link")
                zf.extractall(target)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SptxError(f"{archive}: cannot extract ({exc})") from None
    else:
        raise SptxError(f"{archive}: not a tar or zip archive")


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


def convert_ogb_split(source: Path, dest: Path) -> None:
    """Write an OGB biokg split (`head`, `relation`, `tail`, `head_type`, `tail_type`) as typed text labels."""
    import torch

    try:
        split = torch.load(source, map_location="cpu", weights_only=True)
        heads = np.asarray(split["head"]).astype(str)
        tails = np.asarray(split["tail"]).astype(str)
        frame = pd.DataFrame(
            {
                "head": pd.Series(np.asarray(split["head_type"]).astype(str)) + ":" + heads,
                "relation": np.asarray(split["relation"]).astype(str),
                "tail": pd.Series(np.asarray(split["tail_type"]).astype(str)) + ":" + tails,
            }
        )
    except (KeyError, TypeError, ValueError, RuntimeError, OSError, EOFError) as exc:
        raise SptxError(f"{source}: not an OGB biokg split file ({exc})") from None
    frame.to_csv(dest, sep="\t", header=False, index=False, lineterminator="\n")


def _basename(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    return name or "download"


def _stage(spec: DatasetSpec, work: Path, staging: Path, hint: str, timeout: float, progress: ProgressCallback | None) -> None:
    if spec.archive_layout == "raw":
        for split, member, sha in zip(SPLITS, spec.members, spec.member_sha256):
            url = spec.url.format(member=member)
            raw = fetch(url, work / f"{split}-{_basename(url)}", sha, hint=hint, timeout=timeout, progress=progress)
            normalise_text_split(raw, staging / f"{split}.txt")
        return
    archive = fetch(spec.url, work / _basename(spec.url), spec.sha256, hint=hint, timeout=timeout, progress=progress)
    extracted = work / "extracted"
    safe_extract(archive, extracted)
    for split, member in zip(SPLITS, spec.members):
        source = _find_member(extracted, member, archive.name)
        if spec.archive_layout == "ogb-biokg":
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
) -> Path:
    """Download, verify, extract and normalise one registry dataset; returns its folder (skips if already there)."""
    spec = dataset if isinstance(dataset, DatasetSpec) else get_spec(dataset)
    root = resolve_data_dir(data_dir).path
    target = root / spec.name
    if not force and find_split_files(target) is not None:
        return target
    if not force and target.exists() and any(target.iterdir()):
        raise SptxError(f"{target} exists but lacks some split files; remove it or download with --force to replace it")
    hint = _hint(spec, data_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix=f".{spec.name}.download-", dir=root)
    except OSError as exc:
        raise SptxError(f"cannot create the data folder {root} ({exc.strerror or exc}); {hint}") from None
    work = Path(work_dir)
    try:
        staging = work / "staged"
        staging.mkdir()
        _stage(spec, work, staging, hint, timeout, progress)
        for split in SPLITS:
            read_triples_file(staging / f"{split}.txt")
        if target.exists():
            target.replace(work / "previous")
        staging.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
