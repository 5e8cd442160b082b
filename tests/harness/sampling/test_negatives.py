"""Negative samplers and batch streams: layout, seeding, Bernoulli probabilities, entity 0 drawable."""

import pytest
import torch

from harness.sampling import SAMPLERS, BatchStream, NegativeSampler, make_sampler
from harness.sampling.negatives import bernoulli_head_probabilities

# relation 0: one head, three tails (one-to-many); relation 1: two heads, one tail (many-to-one)
TRAIN = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 0, 3], [4, 1, 5], [6, 1, 5]])


def test_bernoulli_probabilities_by_hand():
    # r0: tph = 3, hpt = 1 -> 3/4; r1: tph = 1, hpt = 2 -> 1/3; r2 absent -> 1/2
    probs = bernoulli_head_probabilities(TRAIN, 3)
    torch.testing.assert_close(probs, torch.tensor([0.75, 1 / 3, 0.5]))


def test_negatives_corrupt_exactly_one_side_in_blocks():
    sampler = make_sampler("uniform", TRAIN, 7, 2)
    positives = TRAIN
    negatives = sampler.corrupt(positives, 3, torch.Generator().manual_seed(0))
    assert negatives.shape == (15, 3)
    repeated = positives.repeat(3, 1)
    assert torch.equal(negatives[:, 1], repeated[:, 1])
    same_head = negatives[:, 0] == repeated[:, 0]
    same_tail = negatives[:, 2] == repeated[:, 2]
    assert bool((same_head | same_tail).all())


def test_every_entity_including_zero_is_drawn():
    train = torch.tensor([[1, 0, 2]]).repeat(2000, 1)
    negatives = make_sampler("bernoulli", train, 5, 1).corrupt(train, 1, torch.Generator().manual_seed(1))
    drawn = torch.unique(torch.cat([negatives[:, 0], negatives[:, 2]]))
    assert torch.equal(drawn, torch.arange(5))


def test_streams_with_the_same_seed_are_identical_and_batches_are_distinct():
    sampler = make_sampler("bernoulli", TRAIN, 7, 2)
    a = [b for _, b in zip(range(4), BatchStream(TRAIN, 2, sampler, 1, seed=9))]
    b = [b for _, b in zip(range(4), BatchStream(TRAIN, 2, sampler, 1, seed=9))]
    for x, y in zip(a, b):
        assert torch.equal(x.positives, y.positives) and torch.equal(x.negatives, y.negatives)
    first_epoch = torch.cat([x.positives for x in a[:3]])  # 5 triples in batches of 2, 2, 1
    assert sorted(map(tuple, first_epoch.tolist())) == sorted(map(tuple, TRAIN.tolist()))
    c = [b for _, b in zip(range(4), BatchStream(TRAIN, 2, sampler, 1, seed=10))]
    assert any(not torch.equal(x.negatives, z.negatives) for x, z in zip(a, c))


class _HeadsOnly(NegativeSampler):
    name = "heads-only"

    def head_probability(self, relations: torch.Tensor) -> torch.Tensor:
        return torch.ones(relations.shape)


def test_a_registered_sampler_is_a_choice_of_settings_cli_and_verify(monkeypatch):
    import argparse

    from harness.cli import build_parser
    from harness.errors import SptxError
    from harness.settings import RunSettings, add_settings_arguments

    with pytest.raises(SptxError, match="--sampler 'heads-only'"):
        RunSettings(sampler="heads-only")
    monkeypatch.setitem(SAMPLERS, _HeadsOnly.name, _HeadsOnly)
    assert RunSettings(sampler="heads-only").sampler == "heads-only"
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    assert parser.parse_args(["--sampler", "heads-only"]).sampler == "heads-only"
    assert build_parser().parse_args(["verify", "--model", "transe", "--sampler", "heads-only"]).sampler == "heads-only"
    negatives = make_sampler("heads-only", TRAIN, 7, 2).corrupt(TRAIN, 1, torch.Generator().manual_seed(0))
    assert torch.equal(negatives[:, 1:], TRAIN[:, 1:])  # only heads corrupted


def test_the_default_sampler_is_registered():
    from harness.settings import RunSettings
    from harness.spec import TrainConfig

    assert TrainConfig.sampler in SAMPLERS and RunSettings().sampler == TrainConfig.sampler


def test_shared_negatives_are_the_same_entities_on_the_same_side_within_a_chunk():
    from harness.sampling.negatives import SharedSampler

    chunk, k, b = SharedSampler.CHUNK, 5, 2 * SharedSampler.CHUNK + 7  # two full chunks and a short one
    g = torch.Generator().manual_seed(0)
    positives = torch.stack((torch.randint(1000, (b,), generator=g), torch.randint(7, (b,), generator=g),
                             torch.randint(1000, (b,), generator=g)), 1)
    negatives = SharedSampler(positives, 1000, 7).corrupt(positives, k, torch.Generator().manual_seed(1))
    blocks = negatives.view(k, b, 3)
    assert torch.equal(blocks[:, :, 1], positives[:, 1].expand(k, b))
    for start in range(0, b, chunk):
        part, pos = blocks[:, start : start + chunk], positives[start : start + chunk]
        head_side = torch.equal(part[:, :, 2], pos[:, 2].expand_as(part[:, :, 2]))
        side, kept = (0, 2) if head_side else (2, 0)
        assert torch.equal(part[:, :, kept], pos[:, kept].expand_as(part[:, :, kept]))
        assert (part[:, :, side] == part[:, :1, side]).all()  # one entity per negative slot for the whole chunk
