"""The row-sharded step (`--strategy sharded`): no rank holds the whole entity table.

Rank r owns the contiguous block [start_r, stop_r) of the entity rows (`EntityBlocks`; sizes differ by at
most one) and their optimizer state; the relation-side tables are replicated (they are few). Every rank
draws the same seeded global batch and trains on its shard of it (training.shard_batch), so p ranks make
the updates of one process on the whole batch. One step on one rank:

1. prepare: the sorted distinct entity ids of its shard; an all-to-all of how many it needs from each owner,
   then of the ids themselves; each owner answers with the rows (a third all-to-all). The rank's triples are
   renumbered into those rows: a compact table of U rows, U <= (2 + k) x its positives.
2. forward, backward: the existing SpMM/fused model (sparse_impl) on the compact table, in dense-gradient
   mode: the compact table's gradient is exactly the touched rows' gradient.
3. optimizer: an all-to-all of those gradient rows back to their owners; each owner sums what it received
   per row (in rank order) and applies the row-sparse optimizer (adagrad-rowwise, adam-lazy) to its block;
   the relation-side gradients are all-reduced with the rows any rank touched (RowSharded.sum_replicated)
   and every rank applies the same update to its copy.

Memory per rank: its block of the entity table and its state (table / p), the relation tables, and O(batch)
for the compact table, its gradient and the messages. The initial parameters of a block are drawn from the
same seeded stream as `init_parameters` draws the whole table, one chunk of rows at a time, keeping only the
block (`initial_block`), so a rank never holds the whole table; the one exception is `full_parameters`,
which gathers it for --save-parameters (tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from harness.distributed.exchange import CollectiveCost, ExchangeCost, RowSharded, all_to_all_rows
from harness.distributed.training import shard_batch, touched_rows
from harness.errors import SptxError
from harness.sampling import Batch
from harness.spec import ModelConfig, OwnedParameters, TrainConfig, parameter_shapes, parameter_tables

__all__ = ["EntityBlocks", "ShardedSparseStep", "initial_block"]

INIT_CHUNK_ROWS = 1 << 16  # rows drawn at a time while a rank skips to and through its block


@dataclass(frozen=True)
class EntityBlocks:
    """Which rank owns which entity rows: rank r owns [start(r), start(r + 1)), the blocks of
    torch.tensor_split (the first n_entities % world_size blocks one row longer)."""

    n_entities: int
    world_size: int

    def start(self, rank: int) -> int:
        base, extra = divmod(self.n_entities, self.world_size)
        return rank * base + min(rank, extra)

    def starts(self) -> torch.Tensor:
        """Every block's first row and the table's end: (world_size + 1,) int64."""
        return torch.tensor([self.start(r) for r in range(self.world_size + 1)], dtype=torch.int64)

    def counts(self, sorted_ids: torch.Tensor) -> list[int]:
        """How many of `sorted_ids` (ascending) each rank owns; they come in owner order."""
        edges = torch.searchsorted(sorted_ids, self.starts().to(sorted_ids.device))
        return (edges[1:] - edges[:-1]).tolist()


def initial_block(cfg: ModelConfig, seed: int, start: int, stop: int) -> OwnedParameters:
    """Rows [start, stop) of init_parameters(cfg, seed)["entity"] and every relation-side table whole, equal to
    the whole draw's, without the whole entity table: the entity table is the first table drawn, Xavier-uniform
    (torch.rand on CPU, which draws element by element, so chunks of rows continue the one stream), and the
    constraints are row-wise (tests/harness/distributed/test_sharded.py checks every model)."""
    shapes = parameter_shapes(cfg)
    names = list(shapes)
    if names[0] != "entity" or any(t.indexed_by != "relation" for n, t in parameter_tables(cfg).items() if n != "entity"):
        raise SptxError(f"--strategy sharded: {cfg.model}'s tables are not one entity table followed by "
                        "relation-side tables")
    rows, *row_shape = shapes["entity"]
    cols = math.prod(row_shape)
    bound = (6.0 / (rows + cols)) ** 0.5  # harness.models.base.xavier_uniform's, for the whole table
    gen = torch.Generator().manual_seed(seed)
    entity = torch.empty((stop - start, cols))  # filled in place: the block is never held twice
    for first in range(0, rows, INIT_CHUNK_ROWS):
        chunk = torch.rand((min(INIT_CHUNK_ROWS, rows - first), cols), generator=gen)
        low, high = max(start, first), min(stop, first + chunk.shape[0])
        if low < high:
            entity[low - start: high - start] = chunk[low - first: high - first]
    entity = entity.mul_(2).sub_(1).mul_(bound).reshape(stop - start, *row_shape)
    rest = cfg.spec.initial({n: s for n, s in shapes.items() if n != "entity"}, gen)
    params = OwnedParameters({"entity": entity, **rest})
    with torch.no_grad():
        cfg.spec.constrain_(params)  # row-wise: the block's rows as the whole table's
    return params


def _row_gradient(ids: torch.Tensor, rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`table`'s gradient as a sparse tensor of the rows `ids` (sorted, distinct: coalesced)."""
    return torch.sparse_coo_tensor(ids.unsqueeze(0), rows, table.shape, is_coalesced=True)


@dataclass
class ShardedSparseStep:
    """One rank's step of `--strategy sharded` (see the module docstring), FrameworkStep-shaped so the step
    driver runs it with the usual probes. Per measured step it appends the communication ms (every collective
    of the step, in whichever phase), the optimizer's own ms, and an ExchangeCost with each collective."""

    cfg: ModelConfig
    train: TrainConfig
    rank: int
    world_size: int
    clock: Callable[[], float]
    device: torch.device = torch.device("cpu")
    backend: str = "fused"
    group: Any = None
    exchange_ms: list[float] = field(default_factory=list)
    update_ms: list[float] = field(default_factory=list)
    costs: list[ExchangeCost] = field(default_factory=list)

    def __post_init__(self) -> None:
        from baselines.base import table_optimizer
        from sparse_impl.models import build_model

        refusal = RowSharded.refusal(self.train.optimizer)
        if refusal:
            raise SptxError(refusal)
        self.strategy = RowSharded()
        self.blocks = EntityBlocks(self.cfg.n_entities, self.world_size)
        self.start, stop = self.blocks.start(self.rank), self.blocks.start(self.rank + 1)
        params = initial_block(self.cfg, self.train.seed, self.start, stop)
        self.entity = nn.Parameter(params["entity"].to(self.device))  # this rank's block of the entity table
        self.row_shape = tuple(self.entity.shape[1:])
        compact = OwnedParameters({n: (self.entity.detach()[:0] if n == "entity" else v) for n, v in params.items()})
        # The compact table's model: dense gradients (a compact table holds only touched rows); it shares the
        # relation-side tables, which the optimizer below moves.
        self.model = build_model(self.cfg.model, compact, 0, self.cfg.n_relations, self.cfg.dissimilarity,
                                 self.backend, row_gradients=False, device=self.device)
        self.model.to(self.device)
        self.relation_side = {n: p for n, p in self.model.canonical_parameters().items() if n != "entity"}
        self.tables = {"entity": self.entity, **self.relation_side}
        self.optimizer = table_optimizer(self.tables, self.cfg.spec, self.train)
        self._relation_specs = {n: t for n, t in parameter_tables(self.cfg).items() if n != "entity"}
        self._collectives: list[CollectiveCost] = []

    def _timed(self, name: str, run: Callable[[], tuple[Any, int, int]]) -> Any:
        """Run one collective (`run` returns (result, payload bytes, sent bytes)) and note its cost."""
        started = self.clock()
        result, payload, sent = run()
        self._collectives.append(CollectiveCost(name, payload, sent, (self.clock() - started) * 1e3))
        return result

    def _counts(self, send: list[int]) -> tuple[list[int], int, int]:
        """All-to-all of how many rows each rank asks of each owner: (how many this rank receives from each
        rank, payload bytes, bytes sent)."""
        got, payload, sent = all_to_all_rows(torch.tensor(send, dtype=torch.int64, device=self.device),
                                             [1] * self.world_size, [1] * self.world_size, self.group)
        return got.tolist(), payload, sent

    def prepare(self, batch: Batch) -> Any:
        """Shard the batch, fetch the rows it needs from their owners, and prepare it on the compact table."""
        self._collectives = []
        shard = shard_batch(batch, self.rank, self.world_size)
        triples = torch.cat((shard.positives, shard.negatives)).to(self.device)
        ids, local = torch.unique(triples[:, [0, 2]], sorted=True, return_inverse=True)
        compact = triples.clone()
        compact[:, [0, 2]] = local
        self._send = self.blocks.counts(ids)
        self._recv = self._timed("counts", lambda: self._counts(self._send))
        asked = self._timed("ids", lambda: all_to_all_rows(ids, self._send, self._recv, self.group))
        self._asked = asked - self.start  # rows of this rank's block that the ranks asked for, in rank order
        rows = self._timed("rows", lambda: all_to_all_rows(self.entity.detach().index_select(0, self._asked),
                                                           self._recv, self._send, self.group))
        self.model.entity = nn.Parameter(rows)
        self.model.n_entities = ids.numel()
        self._touched = {n: touched_rows(t, triples) for n, t in self._relation_specs.items()}
        n = shard.positives.shape[0]
        return self.model.prepare(compact[:n], compact[n:])

    def forward(self, prepared: Any) -> torch.Tensor:
        return self.model.loss(prepared, self.train.loss, self.train.margin, self.train.adversarial_temperature)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def optimizer_step(self) -> None:
        """Gradient rows to their owners, relation-side gradients summed, then the row-sparse update (timed)."""
        local = self.model.entity.grad
        if local is None:
            local = torch.zeros_like(self.model.entity)
        received = self._timed("row_gradients", lambda: all_to_all_rows(local, self._send, self._recv, self.group))
        rows, slot = torch.unique(self._asked, sorted=True, return_inverse=True)
        # A row asked for by several ranks: their gradients summed in rank order on the CPU (a sequential
        # index_add_); CUDA's atomics may add them in any order (rounding only).
        summed = received.new_zeros((rows.numel(), *self.row_shape)).index_add_(0, slot, received)
        self.entity.grad = _row_gradient(rows, summed, self.entity)
        grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in self.relation_side.items()}

        def relations() -> tuple[Any, int, int]:
            cost, union = self.strategy.sum_replicated(grads, self._touched, self.group)
            return union, cost.payload_bytes, cost.sent_bytes

        union = self._timed("relations_all_reduce", relations)
        for name, param in self.relation_side.items():
            param.grad = _row_gradient(union[name], grads[name].index_select(0, union[name]), param)
        started = self.clock()
        self._update()
        self.update_ms.append((self.clock() - started) * 1e3)
        self.exchange_ms.append(sum(c.ms for c in self._collectives))
        touched = self.model.n_entities + sum(t.numel() for t in self._touched.values())
        self.costs.append(ExchangeCost(sum(c.payload_bytes for c in self._collectives),
                                       sum(c.sent_bytes for c in self._collectives), touched,
                                       tuple(self._collectives)))

    @torch.no_grad()
    def _update(self) -> None:
        """The owners' row-sparse update: entity rows kept to their constraint in the optimizer's pass, the
        relation-side rows it moved constrained after (as SparseStep's normalize_parameters does)."""
        from harness.models import constrain_touched_rows_

        self.optimizer.step()
        constrain_touched_rows_(self.cfg.spec, self.tables, entities_done=True)
        self.optimizer.zero_grad(set_to_none=True)
        self.model.entity.grad = None

    def reset_samples(self) -> None:
        self.exchange_ms.clear()
        self.update_ms.clear()
        self.costs.clear()

    def replicated_parameters(self) -> dict[str, torch.Tensor]:
        """The tables every rank holds a copy of (identical on every rank after each step)."""
        return {n: p.detach() for n, p in self.relation_side.items()}

    def held_bytes(self) -> int:
        """Bytes of the parameters and optimizer state this rank holds (its block, the relation tables)."""
        from harness.measure.memory import state_bytes

        return state_bytes(self.optimizer) + sum(t.numel() * t.element_size() for t in self.tables.values())

    def held_entity_rows(self) -> int:
        return int(self.entity.shape[0])

    def full_parameters(self) -> dict[str, torch.Tensor]:
        """Every table whole, the entity blocks gathered from every rank (a collective: every rank calls it;
        the one place the whole entity table exists, for --save-parameters)."""
        longest = max(self.blocks.start(r + 1) - self.blocks.start(r) for r in range(self.world_size))
        padded = self.entity.detach().new_zeros((longest, *self.row_shape))
        padded[: self.entity.shape[0]] = self.entity.detach()
        gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(gathered, padded, group=self.group)
        blocks = [g[: self.blocks.start(r + 1) - self.blocks.start(r)] for r, g in enumerate(gathered)]
        return {"entity": torch.cat(blocks), **self.replicated_parameters()}
