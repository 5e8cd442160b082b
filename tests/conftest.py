"""Fixtures shared by every test folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# The Triton backend's tests (tests/sparse_impl/test_triton.py) run its kernels on CPU tensors in Triton's
# interpreter, which triton.jit picks only when TRITON_INTERPRET=1 is set before triton is first imported (and
# torch._dynamo imports it as soon as any module uses torch.compiler): so here, before any test module is imported.
if importlib.util.find_spec("triton") is not None and "TRITON_INTERPRET" not in os.environ:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"

__all__ = ["shared_datasets_dir", "embedded_datasets_dir", "embedded_wn18rr_dir", "embedded_wn18rr", "tiny_graph_dir"]

_REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_datasets_dir() -> Path:
    """The local copies of the real benchmark datasets ($SPTX_SHARED_DATASETS, else `<repo>/../shared/datasets`);
    skips the test when absent. Use it for FB15k-237 and WN18; WN18RR is always there as `embedded_wn18rr`."""
    path = Path(os.environ.get("SPTX_SHARED_DATASETS") or _REPO / ".." / "shared" / "datasets").resolve()
    if not path.is_dir():
        pytest.skip(f"real datasets not available: {path} does not exist")
    return path


@pytest.fixture(scope="session")
def embedded_datasets_dir() -> Path:
    """The folder of datasets shipped inside the package (it holds WN18RR/); usable as a data dir on any clone."""
    from harness.data.embedded import EMBEDDED_ROOT

    return EMBEDDED_ROOT


@pytest.fixture(scope="session")
def embedded_wn18rr_dir(embedded_datasets_dir: Path) -> Path:
    """The embedded real WN18RR folder ({train,valid,test}.txt.gz), sha256-checked once per session."""
    from harness.data.embedded import verify_embedded

    folder = embedded_datasets_dir / "WN18RR"
    verify_embedded(folder)
    return folder


@pytest.fixture(scope="session")
def embedded_wn18rr(embedded_wn18rr_dir: Path):  # -> harness.data.KGDataset (imported lazily)
    """The embedded real WN18RR, loaded once per session (40,943 entities, 11 relations, 86,835 train triples)."""
    from harness.data import load_dataset

    return load_dataset("WN18RR", embedded_wn18rr_dir.parent)



@pytest.fixture(scope="session")
def tiny_graph_dir(tmp_path_factory) -> Path:
    """Folder `tiny/` with train/valid/test.txt: 12 entities on a ring, relation `next` and its inverse `prev`."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "tiny"
    folder.mkdir()
    triples = [(f"e{i}", "next", f"e{(i + 1) % 12}") for i in range(12)]
    triples += [(f"e{(i + 1) % 12}", "prev", f"e{i}") for i in range(12)]
    test, valid, train = triples[:3], triples[3:6], triples[6:]
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}.txt").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows))
    return folder


@pytest.fixture(autouse=True, scope="session")
def _graph_cache_in_a_temporary_folder(tmp_path_factory):
    """Tests (and the processes they start) never write the user's graph cache."""
    previous = os.environ.get("SPTX_CACHE_DIR")
    os.environ["SPTX_CACHE_DIR"] = str(tmp_path_factory.mktemp("graph-cache"))
    yield
    if previous is None:
        os.environ.pop("SPTX_CACHE_DIR", None)
    else:
        os.environ["SPTX_CACHE_DIR"] = previous
