"""`verify`: our SpMM models reproduce TorchKGE's scores, loss and gradients on real batches."""

import pytest
import torch

from baselines import FRAMEWORKS
from harness.data import load_dataset
from harness.models import MODELS
from harness.spec import ModelConfig, TrainConfig
from harness.verify import compare_tensors, reference_framework, verify_step
from sparse_impl.loss import LOSSES

pytest.importorskip("torchkge")


@pytest.mark.slow
@pytest.mark.parametrize("dataset_name", ["FB15k-237", "WN18RR"])
@pytest.mark.parametrize("model", tuple(MODELS))
def test_verify_passes_on_real_datasets(request, dataset_name, model):
    # WN18RR ships embedded, so its half runs on any clone; FB15k-237 needs the shared copies
    data_dir = request.getfixturevalue("embedded_datasets_dir" if dataset_name == "WN18RR" else "shared_datasets_dir")
    dataset = load_dataset(dataset_name, data_dir)
    cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, dim=32)
    report = verify_step(cfg, dataset.train, batch_size=2048)
    failed = [c for c in report.comparisons if not c.passed]
    assert not failed, failed
    names = {c.name for c in report.comparisons}
    assert {"score(positive)", "score(negative)", "loss", "grad(entity)", "grad(relation)",
            "score(positive) by model spec"} <= names


@pytest.mark.parametrize("model,dissimilarity", [("transe", "L1"), ("transe", "L2"), ("toruse", "torus_L1"),
                                                 ("toruse", "torus_eL2")])
def test_verify_passes_for_other_dissimilarities(model, dissimilarity):
    dataset = load_dataset("synthetic:WN18RR")
    cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, dim=16, dissimilarity=dissimilarity)
    assert verify_step(cfg, dataset.train, batch_size=512, train=TrainConfig(num_negatives=3)).passed


def test_verify_on_a_dataset_it_has_never_seen(tmp_path):
    """A folder that is in no registry: tiny hand-made graph with string labels."""
    folder = tmp_path / "family"
    folder.mkdir()
    people = ["ann", "bob", "cid", "dee", "eve", "fay"]
    lines = [f"{a}\tparent_of\t{b}" for a, b in zip(people, people[1:])]
    lines += [f"{b}\tchild_of\t{a}" for a, b in zip(people, people[1:])] + ["ann\tlikes\tann"]
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    (folder / "valid.txt").write_text("ann\tlikes\tbob\n")
    (folder / "test.txt").write_text("bob\tlikes\tcid\n")
    dataset = load_dataset(str(folder))
    assert (dataset.n_entities, dataset.n_relations) == (6, 3)
    for model in tuple(MODELS):
        cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, dim=8)
        assert verify_step(cfg, dataset.train, batch_size=8).passed, model


def test_compare_tensors_catches_a_wrong_value():
    exact = torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64)
    reference = exact.float()
    assert compare_tensors("x", reference + 1e-6, reference, exact).passed
    wrong = compare_tensors("x", reference * torch.tensor([1.0, 1.0, 1.01]), reference, exact)
    assert not wrong.passed and wrong.max_abs == pytest.approx(0.04, rel=1e-5) and wrong.max_rel == pytest.approx(0.01, rel=1e-4)
    assert not compare_tensors("x", reference[:2], reference, exact).passed


def test_compare_tensors_accepts_the_reference_own_rounding_error():
    exact = torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64)
    reference = (exact * (1 + 1e-3)).float()  # a reference that is itself 1e-3 off
    assert compare_tensors("x", (exact * (1 - 2e-3)).float(), reference, exact).passed
    assert not compare_tensors("x", (exact * (1 - 5e-3)).float(), reference, exact).passed


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("model", tuple(MODELS))
def test_verify_passes_with_every_always_available_backend(shared_datasets_dir, backend, model):
    from sparse_impl.backends import BACKENDS

    if (reason := BACKENDS[backend].unavailable_reason()) is not None:
        pytest.skip(reason)
    if not BACKENDS[backend].supports(model, MODELS[model].interaction):
        pytest.skip(f"the {backend} SpMM backend has no {model} (translation models only; the fused case covers it)")
    dataset = load_dataset("FB15k-237", shared_datasets_dir)
    cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, dim=32)
    report = verify_step(cfg, dataset.train, batch_size=2048, options={"backend": backend})
    assert report.passed, [c for c in report.comparisons if not c.passed]


# Models beyond translation (issue 20), every dissimilarity, on a tiny random graph: a few seconds in all.
BEYOND = [(model, dis) for model, spec in MODELS.items() if spec.interaction != "translation"
          for dis in (spec.dissimilarities or (None,))]
TINY_ENT, TINY_REL = 40, 4


def _tiny_triples(n: int = 300, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(0, TINY_ENT, (n,), generator=gen)
    t = (h + torch.randint(1, TINY_ENT, (n,), generator=gen)) % TINY_ENT
    return torch.stack((h, torch.randint(0, TINY_REL, (n,), generator=gen), t), dim=1)


@pytest.mark.parametrize("model,dissimilarity,expected", [
    ("distmult", None, "torchkge"), ("complex", None, "torchkge"), ("rotate", "L1", "pykeen"), ("rotate", "L2", "pykeen"),
])
def test_the_reference_of_a_model_beyond_translation_is_an_independent_library(model, dissimilarity, expected):
    assert reference_framework(ModelConfig(model, TINY_ENT, TINY_REL, 8, dissimilarity=dissimilarity)) == expected


def _independent_reference(framework: str, cfg: ModelConfig, loss: str) -> str:
    """verify's reference, or where the framework is that reference itself, the next library that has the model
    (gather, the spec by gathers, last)."""
    default = reference_framework(cfg)
    if framework != default:
        return default
    return next(name for name in ("pykeen", "pyg", "gather") if name != framework
                and FRAMEWORKS[name].unavailable_reason() is None
                and FRAMEWORKS[name].unsupported_reason(cfg, None, None, loss) is None)


@pytest.mark.parametrize("loss", tuple(LOSSES))
@pytest.mark.parametrize("model,dissimilarity", BEYOND)
@pytest.mark.parametrize("framework", tuple(FRAMEWORKS))
def test_models_beyond_translation_verify_on_every_framework_for_every_loss(framework, model, dissimilarity, loss):
    """Scores, loss and every gradient of each framework that has the model equal the reference's (an independent
    library; the framework that is verify's reference itself is checked against the next one)."""
    cls = FRAMEWORKS[framework]
    options = cls.resolve_options({})
    cfg = ModelConfig(model, TINY_ENT, TINY_REL, 16, dissimilarity=dissimilarity)
    if (reason := cls.unavailable_reason() or cls.unavailable_reason_for(options)) is not None:
        pytest.skip(reason)
    if (reason := cls.unsupported_reason(cfg, options, None, loss)) is not None:
        pytest.skip(reason)
    reference = _independent_reference(framework, cfg, loss)
    if (reason := FRAMEWORKS[reference].unavailable_reason()) is not None:
        pytest.skip(reason)
    train = TrainConfig(num_negatives=4, loss=loss, margin=2.0 if loss == "nssa" else TrainConfig.margin,
                        adversarial_temperature=0.7)
    report = verify_step(cfg, _tiny_triples(), batch_size=64, framework=framework, train=train, reference=reference)
    assert report.reference == reference
    assert report.passed, [c for c in report.comparisons if not c.passed]
    names = {c.name for c in report.comparisons}
    assert {"score(positive)", "score(negative)", "loss", "grad(entity)", "grad(relation)"} <= names
