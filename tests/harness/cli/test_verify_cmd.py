"""`sptx verify` on the command line: exit codes, output and one-line errors."""

import pytest

from harness.cli import main

pytest.importorskip("torchkge")


def test_verify_prints_a_table_and_passes(capsys):
    assert main(["verify", "--model", "transh", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256"]) == 0
    out = capsys.readouterr().out
    assert "grad(normal)" in out and "PASS" in out and "sparse[fused] vs torchkge" in out


def test_verify_fails_when_the_sparse_model_is_wrong(capsys, monkeypatch):
    from sparse_impl.models import SparseKGEModel

    original = SparseKGEModel.differences
    monkeypatch.setattr(SparseKGEModel, "differences", lambda self, batch: original(self, batch) * 1.001)
    assert main(["verify", "--model", "transe", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256",
                 "--backend", "segment"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_fails_when_the_fused_kernel_is_wrong(capsys, monkeypatch):
    from sparse_impl.backends import BACKENDS

    if (reason := BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    from sparse_impl.backends.fused.dissimilarity import DISSIMILARITY_CODES

    monkeypatch.setitem(DISSIMILARITY_CODES, "L2sq", DISSIMILARITY_CODES["L2"])  # the norm, not its square
    assert main(["verify", "--model", "transe", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256",
                 "--backend", "fused"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "NoSuchGraph"], "unknown dataset"),
    (["--batch-size", "0", "--dataset", "synthetic:WN18RR"], "must be positive"),
    (["--dissimilarity", "L7", "--dataset", "synthetic:WN18RR"], "dissimilarity 'L7'"),
    (["--backend", "dgl", "--dataset", "synthetic:WN18RR"], "unavailable"),
])
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    from sparse_impl.backends import BACKENDS

    if "dgl" in argv and BACKENDS["dgl"].unavailable_reason() is None:
        pytest.skip("dgl imports here")
    assert main(["verify", "--model", "transe", "--dim", "8", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_verdict_is_a_whole_sentence(capsys):
    assert main(["verify", "--model", "transe", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256"]) == 0
    verdict = capsys.readouterr().out.strip().splitlines()[-1]
    assert verdict.startswith("PASS:") and verdict.endswith("torchkge's own float32 error.")


def test_verify_checks_another_framework_against_the_reference(capsys):
    assert main(["verify", "--model", "transr", "--framework", "gather", "--dataset", "synthetic:WN18RR", "--dim", "8",
                 "--batch-size", "128"]) == 0
    out = capsys.readouterr().out
    assert "gather vs torchkge" in out and "PASS" in out


def test_verify_of_a_model_the_framework_lacks_is_a_one_line_error(capsys):
    assert main(["verify", "--model", "transr", "--framework", "pyg", "--dataset", "synthetic:WN18RR", "--dim", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pyg has no transr model" in err and len(err.splitlines()) == 1
