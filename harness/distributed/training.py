"""Data-parallel SpMM training on one rank: every rank draws the same seeded global batches, trains on its
own shard of each, and combines gradients with an exchange strategy before the (replicated) Adam step.

The step below is a FrameworkStep-shaped wrapper around `baselines.sparse.SparseStep`, so the one step
driver (harness/measure/driver.py) runs it with the usual probes; the exchange runs at the start of the
`optimizer` phase and is timed on its own, so `optimizer` = exchange + Adam + re-normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as dist

from harness.distributed.exchange import ExchangeCost, ExchangeStrategy
from harness.models import TableSpec
from harness.sampling import Batch
from harness.spec import parameter_tables

__all__ = ["DistributedSparseStep", "parameter_spread", "shard_batch", "touched_rows"]


def shard_batch(batch: Batch, rank: int, world_size: int) -> Batch:
    """Rank `rank`'s contiguous share of a global batch: its positives and, from each of the k negative
    blocks (row j*B + i corrupts positive i), the rows corrupting those positives, in the same layout."""
    size = batch.size
    ids = torch.tensor_split(torch.arange(size), world_size)[rank]
    k = batch.negatives.shape[0] // size
    negative_ids = torch.cat([ids + j * size for j in range(k)])
    return Batch(batch.positives.index_select(0, ids), batch.negatives.index_select(0, negative_ids))


def touched_rows(table: TableSpec, triples: torch.Tensor) -> torch.Tensor:
    """The sorted unique rows of a parameter table that `triples` (n, 3) reference: the only rows whose
    gradient can be non-zero on this rank."""
    return torch.unique(triples[:, list(table.row_columns)].reshape(-1))


@dataclass
class DistributedSparseStep:
    """One rank's training step: SpMM forward/backward on its shard, gradient exchange, Adam.

    `exchange_ms`, `update_ms` (the optimizer's own ms: Adam and re-normalisation) and `costs` get one entry
    per step (clear them after warm-up).
    """

    inner: Any  # baselines.sparse.SparseStep
    strategy: ExchangeStrategy
    rank: int
    world_size: int
    clock: Callable[[], float]
    group: Any = None
    exchange_ms: list[float] = field(default_factory=list)
    update_ms: list[float] = field(default_factory=list)
    costs: list[ExchangeCost] = field(default_factory=list)
    _touched: dict[str, torch.Tensor] = field(default_factory=dict)

    def prepare(self, batch: Batch) -> Any:
        shard = shard_batch(batch, self.rank, self.world_size)
        if self.strategy.needs_touched_rows:
            triples = torch.cat((shard.positives, shard.negatives))
            tables = parameter_tables(self.inner.cfg)
            self._touched = {name: touched_rows(table, triples) for name, table in tables.items()}
        return self.inner.prepare(shard)

    def forward(self, prepared: Any) -> torch.Tensor:
        return self.inner.forward(prepared)

    def backward(self, loss: torch.Tensor) -> None:
        self.inner.backward(loss)

    def optimizer_step(self) -> None:
        """Exchange gradients (timed), then the inner step's Adam update and re-normalisation."""
        started = self.clock()
        grads = {}
        for name, param in self.inner.model.canonical_parameters().items():
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            grads[name] = param.grad
        self.costs.append(self.strategy.exchange(grads, self._touched, self.group))
        self.exchange_ms.append((self.clock() - started) * 1e3)
        started = self.clock()
        self.inner.optimizer_step()
        self.update_ms.append((self.clock() - started) * 1e3)

    def reset_samples(self) -> None:
        self.exchange_ms.clear()
        self.update_ms.clear()
        self.costs.clear()

    def replicated_parameters(self) -> dict[str, torch.Tensor]:
        """The tables every rank holds a copy of: all of them (identical on every rank after each step)."""
        return self.inner.canonical_parameters()

    def full_parameters(self) -> dict[str, torch.Tensor]:
        """Every table whole: this rank's copy."""
        return self.inner.canonical_parameters()

    def held_bytes(self) -> int:
        """Bytes of the parameters and optimizer state this rank holds (every table, Adam's moments)."""
        from harness.measure.memory import state_bytes

        return state_bytes(self.inner.model) + state_bytes(self.inner.optimizer)

    def held_entity_rows(self) -> int:
        return int(self.inner.model.entity.shape[0])


def parameter_spread(parameters: dict[str, torch.Tensor], group: Any = None) -> float:
    """The largest element-wise difference of the parameters between any two ranks (0.0: identical),
    from an all-reduce MAX and MIN of every table."""
    spread = 0.0
    for value in parameters.values():
        high, low = value.detach().clone(), value.detach().clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX, group=group)
        dist.all_reduce(low, op=dist.ReduceOp.MIN, group=group)
        spread = max(spread, float((high - low).abs().max()))
    return spread
