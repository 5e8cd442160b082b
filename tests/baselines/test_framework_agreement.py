"""Every registered framework computes the same function as the `sparse` adapter (identical mode), for every loss:
first-step scores, loss and gradients to harness.verify's tolerance, and the losses of steps 2 and 3
(after Adam updates and re-normalisation) to 1e-3 relative. Where `sparse` reports a model or loss unsupported,
the reference is `gather` (the spec by gathers)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from baselines import FRAMEWORKS
from harness.sampling import BatchStream, make_sampler
from harness.models import MODELS
from harness.spec import ModelConfig, TrainConfig, init_parameters
from harness.verify import compare_tensors
from sparse_impl.loss import LOSSES

N_ENT, N_REL, DIM, REL_DIM, N_TRAIN, BATCH, NEGATIVES = 50, 5, 8, 6, 400, 64, 2
STEPS = 3


def _triples(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(0, N_ENT, (N_TRAIN,), generator=gen)
    r = torch.randint(0, N_REL, (N_TRAIN,), generator=gen)
    t = (h + torch.randint(1, N_ENT, (N_TRAIN,), generator=gen)) % N_ENT  # no self-loops
    return torch.stack((h, r, t), dim=1)


CASES = [(model, dis) for model, spec in MODELS.items() for dis in (spec.dissimilarities or (None,))]
# The losses every case is checked with: all of them for the models beyond translation, and for the translation
# models' default dissimilarity (the margin loss for their other dissimilarities, as before the loss registry).
LOSS_CASES = [(model, dis, loss) for model, dis in CASES for loss in LOSSES
              if loss == "margin" or MODELS[model].interaction != "translation"
              or dis == MODELS[model].default_dissimilarity]


def _cfg(model: str, dis: str | None) -> ModelConfig:
    return ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=REL_DIM if model == "transr" else None, dissimilarity=dis)


def _batches(train: TrainConfig) -> list:
    triples = _triples()
    sampler = make_sampler(train.sampler, triples, N_ENT, N_REL)
    return list(itertools.islice(iter(BatchStream(triples, BATCH, sampler, NEGATIVES, train.seed)), STEPS))


def _run(name: str, cfg: ModelConfig, train: TrainConfig, batches: list) -> dict:
    cls = FRAMEWORKS[name]
    step = cls(cfg, train, init_parameters(cfg, seed=train.seed), torch.device("cpu"))
    out: dict = {"losses": []}
    for i, batch in enumerate(batches):
        prepared = step.prepare(batch)
        if i == 0:
            positive, negative = step.scores(prepared)
            out["score(positive)"], out["score(negative)"] = positive.detach(), negative.detach()
        loss = step.forward(prepared)
        step.backward(loss)
        if i == 0:
            out["loss"] = loss.detach()
            out.update({f"grad({k})": v.detach().clone() for k, v in step.canonical_gradients().items()})
        out["losses"].append(float(loss.detach()))
        step.optimizer_step()
    out["params"] = step.canonical_parameters()
    return out


_REFERENCE_CACHE: dict = {}


def _reference_name(cfg: ModelConfig, loss: str) -> str:
    """sparse where it trains the model with the loss here, else gather."""
    sparse = FRAMEWORKS["sparse"]
    options = sparse.resolve_options({})
    if sparse.unavailable_reason_for(options) is None and sparse.unsupported_reason(cfg, options, None, loss) is None:
        return "sparse"
    return "gather"


def _reference(cfg: ModelConfig, train: TrainConfig, batches: list) -> dict:
    key = (cfg.model, cfg.dissimilarity, train.loss)
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = _run(_reference_name(cfg, train.loss), cfg, train, batches)
    return _REFERENCE_CACHE[key]


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "sparse"])
@pytest.mark.parametrize("model,dis,loss", LOSS_CASES)
def test_first_steps_agree_with_sparse(framework: str, model: str, dis: str | None, loss: str) -> None:
    cls = FRAMEWORKS[framework]
    if (reason := cls.unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg = _cfg(model, dis)
    if (reason := cls.unsupported_reason(cfg, None, None, loss)) is not None:
        pytest.skip(reason)
    if framework == "gather" and _reference_name(cfg, loss) == "gather":
        pytest.skip(f"sparse has no {model} with the {loss} loss here: gather is the reference")
    train = TrainConfig(num_negatives=NEGATIVES, loss=loss, margin=2.0 if loss == "nssa" else TrainConfig.margin)
    batches = _batches(train)
    ref = _reference(cfg, train, batches)
    ours = _run(framework, cfg, train, batches)

    keys = [k for k in ref if k not in ("losses", "params")]
    assert set(keys) == {k for k in ours if k not in ("losses", "params")}
    failures = [c for c in (compare_tensors(k, ours[k], ref[k]) for k in keys) if not c.passed]
    assert not failures, f"{framework} {model}/{dis} {loss}: first step differs from the reference: {failures}"
    assert any(float(ref[k].abs().max()) > 0 for k in keys if k.startswith("grad")), "degenerate test: no gradient"

    for i, (a, b) in enumerate(zip(ours["losses"], ref["losses"])):
        assert math.isfinite(a)
        assert abs(a - b) <= 1e-3 * max(abs(b), 1e-6), f"{framework} {model}/{dis} {loss} step {i + 1} loss {a} vs {b}"
    for k, v in ref["params"].items():
        c = compare_tensors(k, ours["params"][k], v)
        assert c.max_rel <= 1e-3, f"{framework} {model}/{dis} {loss}: parameters after {STEPS} steps: {c}"


ROW_SPARSE_CASES = [(model, MODELS[model].default_dissimilarity) for model in MODELS]


@pytest.mark.parametrize("optimizer", ["adam-lazy", "adagrad-rowwise"])
@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "sparse"])
@pytest.mark.parametrize("model,dis", ROW_SPARSE_CASES)
def test_row_sparse_optimizers_keep_identical_work_identical(framework: str, model: str, dis: str,
                                                             optimizer: str) -> None:
    """With a row-sparse optimizer every framework that runs it (from its library's own sparse row gradients)
    still computes sparse[fused]'s first step and ends its first steps where sparse does."""
    from sparse_impl.backends import BACKENDS

    cls = FRAMEWORKS[framework]
    cfg = _cfg(model, dis)
    if (reason := cls.unavailable_reason() or BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    if (reason := cls.unsupported_reason(cfg, None, optimizer)
              or FRAMEWORKS["sparse"].unsupported_reason(cfg, None, optimizer)) is not None:
        pytest.skip(reason)
    train = TrainConfig(num_negatives=NEGATIVES, optimizer=optimizer, lr=0.01)
    batches = _batches(train)
    ref, ours = _run("sparse", cfg, train, batches), _run(framework, cfg, train, batches)
    keys = [k for k in ref if k not in ("losses", "params")]
    failures = [c for c in (compare_tensors(k, ours[k], ref[k]) for k in keys) if not c.passed]
    assert not failures, f"{framework} {model}/{dis} {optimizer}: first step differs from sparse: {failures}"
    for i, (a, b) in enumerate(zip(ours["losses"], ref["losses"])):
        assert abs(a - b) <= 1e-3 * max(abs(b), 1e-6), f"{framework} {model} {optimizer} step {i + 1}: loss {a} vs {b}"
    for k, v in ref["params"].items():
        c = compare_tensors(k, ours["params"][k], v)
        assert c.max_rel <= 1e-3, f"{framework} {model}/{dis} {optimizer}: parameters after {STEPS} steps: {c}"


FLOAT64_STEPS = 20


@pytest.mark.parametrize("backend", ["fused", "segment"])
@pytest.mark.parametrize("model", list(MODELS))
def test_float64_training_stays_equal_to_torchkge(model: str, backend: str) -> None:
    """In float64 our step and TorchKGE's (verify's reference: PyKEEN's for RotatE) stay equal to rounding over many
    Adam steps: a float32 difference that grows in training (TorusE's does) is float32 rounding amplified, not a
    different computation."""
    from baselines.sparse import SparseStep
    from harness.measure.driver import drive_step
    from harness.verify import reference_framework
    from sparse_impl.backends import BACKENDS

    if (reason := BACKENDS[backend].unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg = _cfg(model, MODELS[model].default_dissimilarity)
    if (reason := FRAMEWORKS["sparse"].unsupported_reason(cfg, {"backend": backend})) is not None:
        pytest.skip(reason)
    reference = FRAMEWORKS[reference_framework(cfg)]
    if (reason := reference.unavailable_reason()) is not None:
        pytest.skip(reason)
    train = TrainConfig(num_negatives=NEGATIVES, lr=0.01)
    triples = _triples()
    sampler = make_sampler(train.sampler, triples, N_ENT, N_REL)
    batches = list(itertools.islice(iter(BatchStream(triples, BATCH, sampler, NEGATIVES, train.seed)), FLOAT64_STEPS))
    params = {k: v.double() for k, v in init_parameters(cfg, seed=train.seed).items()}
    cpu = torch.device("cpu")
    steps = (SparseStep(cfg, train, params, cpu, backend=backend), reference(cfg, train, params, cpu))
    for i, batch in enumerate(batches):
        losses = [float(drive_step(step, batch).loss.detach()) for step in steps]
        assert losses[0] == pytest.approx(losses[1], rel=1e-10, abs=1e-12), f"step {i}: losses {losses}"
    ours, theirs = steps[0].canonical_parameters(), steps[1].canonical_parameters()
    for name, value in theirs.items():
        assert ours[name].dtype == torch.float64
        moved = (value - params[name].to(value)).abs().max().item()
        assert moved > 1e-3, f"degenerate test: {name} did not train"
        diff = (ours[name] - value).abs().max().item()
        assert diff <= 1e-10, f"{model}/{backend}: {name} differs by {diff:.2e} after {FLOAT64_STEPS} float64 steps"
