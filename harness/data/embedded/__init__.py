"""Datasets shipped inside the package (WN18RR only, see WN18RR/PROVENANCE.md), sha256-checked before use."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import SptxError

__all__ = ["EMBEDDED_ROOT", "EMBEDDED_SHA256", "embedded_names", "embedded_folder", "verify_embedded"]

EMBEDDED_ROOT: Path = Path(__file__).resolve().parent
"""The folder holding one sub-folder per embedded dataset (usable as a data folder itself)."""

EMBEDDED_SHA256: dict[str, dict[str, str]] = {
    "WN18RR": {
        "train.txt.gz": "be00cacfeffa49a33672df41e965dfccc60917da36cb05e777eec45130515848",
        "valid.txt.gz": "d5c9c681ce9ac11cf41c31c5f94d9347c21bd2489ead507b15a00e6ab3069482",
        "test.txt.gz": "44e826dc083adad5baea9dc96bb29f2bb7a55471078f2f26802a7f87de84a722",
    },
}
"""The sha256 of every embedded gzip file, as listed in its PROVENANCE.md."""


def embedded_names() -> tuple[str, ...]:
    """The registry names that have an embedded copy."""
    return tuple(EMBEDDED_SHA256)


def embedded_folder(name: str) -> Path | None:
    """The embedded folder of dataset `name` (case-insensitive), or None when it is not embedded."""
    wanted = name.strip().casefold()
    match = next((known for known in EMBEDDED_SHA256 if known.casefold() == wanted), None)
    return None if match is None else EMBEDDED_ROOT / match


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SptxError(f"embedded dataset file {path} cannot be read ({exc.strerror or exc}); reinstall sptx") from None


def verify_embedded(folder: Path) -> None:
    """Check every file of the embedded dataset in `folder` against its pinned sha256; a mismatch is a one-line error."""
    pinned = EMBEDDED_SHA256.get(folder.name)
    if pinned is None:
        raise SptxError(f"{folder}: not an embedded dataset (embedded: {', '.join(embedded_names())})")
    for file_name, want in pinned.items():
        got = _sha256(folder / file_name)
        if got != want:
            raise SptxError(
                f"embedded dataset file {folder / file_name} is corrupt: sha256 {got}, expected {want}; reinstall sptx"
            )
