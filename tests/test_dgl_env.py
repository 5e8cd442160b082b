"""The DGL stack: in the tox environment `dgl` (torch 2.2.1 + dgl 2.1.0, SPTX_REQUIRE_DGL=1) dgl must
import and the `dgl` backend must verify against TorchKGE; in the main environment (torch 2.13, where dgl
does not load) the backend says why it is unavailable and cells using it are recorded `unavailable`."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil

import pytest

from sparse_impl.backends import BACKENDS


def _dgl_reason() -> str | None:
    return BACKENDS["dgl"].unavailable_reason()


def _need_dgl() -> None:
    if (reason := _dgl_reason()) is not None:
        if os.environ.get("SPTX_REQUIRE_DGL"):
            pytest.fail(f"SPTX_REQUIRE_DGL is set but {reason}")
        pytest.skip(reason)


@pytest.mark.dgl
def test_dgl_imports_where_it_is_required() -> None:
    _need_dgl()
    from baselines.dglke import dgl_unavailable_reason

    assert dgl_unavailable_reason() is None


def test_every_module_of_the_package_imports() -> None:
    import baselines
    import harness
    import sparse_impl

    for pkg in (harness, sparse_impl, baselines):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            if info.name.startswith("sparse_impl.backends.triton.") and importlib.util.find_spec("triton") is None:
                continue  # the Triton kernels need the optional `gpu` extra (tox -e triton imports them)
            importlib.import_module(info.name)


def test_without_dgl_the_backend_and_its_cells_are_unavailable_with_the_reason() -> None:
    reason = _dgl_reason()
    if reason is None:
        pytest.skip("dgl imports here")
    assert "tox environment `dgl`" in reason and "torch" in reason
    from harness.runner.cell import make_cell
    from harness.runner.isolation import precheck

    record = precheck(make_cell("sparse", model="transe", dataset="synthetic:WN18RR", backend="dgl"), "run", None)
    assert record is not None and record.status == "unavailable" and record.message == reason


@pytest.mark.dgl
def test_verify_with_the_dgl_backend_passes(capsys: pytest.CaptureFixture[str]) -> None:
    _need_dgl()
    pytest.importorskip("torchkge")
    from harness.cli import main

    argv = ["verify", "--model", "transe", "--dataset", "synthetic:WN18RR", "--backend", "dgl",
            "--dim", "16", "--batch-size", "512"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sparse[dgl] vs torchkge" in out and "PASS" in out
