"""Batches and negatives: the stage between a dataset and a framework's training step."""

from harness.sampling.batches import Batch, BatchStream, iter_batches
from harness.sampling.negatives import SAMPLERS, BernoulliSampler, NegativeSampler, UniformSampler, make_sampler

__all__ = [
    "Batch",
    "BatchStream",
    "iter_batches",
    "SAMPLERS",
    "NegativeSampler",
    "UniformSampler",
    "BernoulliSampler",
    "make_sampler",
]
