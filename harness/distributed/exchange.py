"""How ranks combine their gradients after each backward pass: a registry of exchange strategies.

Every rank's loss is the *sum* over its shard of the global batch, so the sum of the ranks' gradients is
the gradient of the global batch: every strategy sums, none averages. The replicated strategies (`dense`,
`rowsparse`) leave every rank holding the same full gradient table (zeros in rows no rank touched), so Adam
makes the same update on every rank and the parameters stay identical. `sharded` replicates only the
relation-side tables: each rank owns a block of the entity rows and their optimizer state, and the rows a
step needs travel to and from their owners by all-to-all (the step: harness/distributed/sharded.py).

Each strategy also states, once, how many bytes one rank sends for a payload and how many latency-bound
message rounds that takes in the textbook ring algorithms; the records and the scaling model on paper
(harness/distributed/scaling.py) both read these formulas.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Mapping

import torch
import torch.distributed as dist

__all__ = ["STRATEGIES", "CollectiveCost", "DenseAllReduce", "ExchangeCost", "ExchangeStrategy", "RowSharded",
           "RowSparseAllGather", "all_to_all_rows", "get_strategy"]

INDEX_BYTES = 8  # row indices travel as int64


@dataclass(frozen=True)
class CollectiveCost:
    """One collective of a step on one rank: what it was for (`name`), the bytes handed to it, the bytes that
    left this rank (an all-to-all: exactly the blocks addressed to other ranks; an all-reduce: the ring
    formula), and its wall-clock ms (waiting for the slowest peer included)."""

    name: str
    payload_bytes: int
    sent_bytes: int
    ms: float


@dataclass(frozen=True)
class ExchangeCost:
    """What one exchange moved for one rank: the bytes it handed to the collectives (`payload_bytes`),
    the bytes a ring algorithm makes it send over the wire (`sent_bytes`), and the gradient rows it
    touched summed over its tables (`touched_rows`; every row for the dense strategy). `collectives`:
    the step's collectives one by one, where the strategy times them separately (sharded)."""

    payload_bytes: int
    sent_bytes: int
    touched_rows: int
    collectives: tuple[CollectiveCost, ...] = ()


class ExchangeStrategy(ABC):
    """Combines the ranks' gradients in place: afterwards every rank's `.grad` is the sum over ranks."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for --help and the report
    needs_touched_rows: ClassVar[bool] = True  # False: `exchange` ignores `touched`, so the step need not find them
    replicated: ClassVar[bool] = True  # every rank holds every table (False: entity rows sharded, see RowSharded)

    @classmethod
    def refusal(cls, optimizer: str) -> str | None:
        """Why this strategy cannot train with `optimizer` (one line), or None. The replicated strategies
        exchange dense `.grad` tables; a row-sparse optimizer's gradients are row gradients that the fused
        backward keeps out of `.grad`, so they refuse those."""
        from harness.optim import row_sparse_optimizers

        if cls.replicated and optimizer in row_sparse_optimizers():
            return (f"--strategy {cls.name} exchanges dense gradient tables and cannot train with the row-sparse "
                    f"optimizer {optimizer}; use --strategy sharded (or a dense optimizer)")
        return None

    @staticmethod
    @abstractmethod
    def sent_bytes(world_size: int, payload_bytes: int) -> float:
        """Bytes one rank sends for a payload of `payload_bytes` per rank (ring algorithm)."""

    @staticmethod
    @abstractmethod
    def message_rounds(world_size: int) -> int:
        """Sequential latency-bound message rounds of one collective over `world_size` ranks."""

    @abstractmethod
    def exchange(self, grads: Mapping[str, torch.Tensor], touched: Mapping[str, torch.Tensor],
                 group: dist.ProcessGroup | None = None) -> ExchangeCost:
        """Sum `grads` (parameter name -> gradient table, changed in place) over the ranks of `group`.

        `touched[name]` holds the row ids of that table this rank's shard referenced (int64, unique);
        rows outside it carry a zero gradient on this rank.
        """


class DenseAllReduce(ExchangeStrategy):
    """All-reduce of every gradient table whole, flattened into one buffer (as DDP's buckets do)."""

    name = "dense"
    summary = "all-reduce (sum) of the whole gradient tables, in one flat buffer"
    needs_touched_rows = False

    @staticmethod
    def sent_bytes(world_size: int, payload_bytes: int) -> float:
        return 2 * (world_size - 1) / world_size * payload_bytes

    @staticmethod
    def message_rounds(world_size: int) -> int:
        return 2 * (world_size - 1)

    def exchange(self, grads: Mapping[str, torch.Tensor], touched: Mapping[str, torch.Tensor],
                 group: dist.ProcessGroup | None = None) -> ExchangeCost:
        tables = list(grads.values())
        flat = torch.cat([g.reshape(-1) for g in tables])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        offset = 0
        for g in tables:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()
        payload = flat.numel() * flat.element_size()
        world = dist.get_world_size(group)
        return ExchangeCost(payload, round(self.sent_bytes(world, payload)), sum(g.shape[0] for g in tables))


class RowSparseAllGather(ExchangeStrategy):
    """Only the rows a rank touched travel: all-gather of their counts, then of their indices and rows
    (padded to the largest count, as all-gather needs equal sizes), then a local index_add in rank order."""

    name = "rowsparse"
    summary = "all-gather of the touched rows' indices and values, then a local sum (index_add)"
    collectives_per_table: ClassVar[int] = 2  # indices, rows (the counts of all tables go in one more)

    @staticmethod
    def sent_bytes(world_size: int, payload_bytes: int) -> float:
        return (world_size - 1) * payload_bytes

    @staticmethod
    def message_rounds(world_size: int) -> int:
        return world_size - 1

    def exchange(self, grads: Mapping[str, torch.Tensor], touched: Mapping[str, torch.Tensor],
                 group: dist.ProcessGroup | None = None) -> ExchangeCost:
        world = dist.get_world_size(group)
        names = list(grads)
        device = next(iter(grads.values())).device
        counts = torch.tensor([touched[n].numel() for n in names], dtype=torch.int64, device=device)
        all_counts = [torch.empty_like(counts) for _ in range(world)]
        dist.all_gather(all_counts, counts, group=group)
        payload = counts.numel() * INDEX_BYTES
        for i, name in enumerate(names):
            grad, rows = grads[name], touched[name].to(device)
            longest = int(max(int(c[i]) for c in all_counts))
            padded_ids = torch.zeros(longest, dtype=torch.int64, device=device)
            padded_ids[: rows.numel()] = rows
            padded_rows = grad.new_zeros((longest, *grad.shape[1:]))
            padded_rows[: rows.numel()] = grad.index_select(0, rows)
            gathered_ids = [torch.empty_like(padded_ids) for _ in range(world)]
            gathered_rows = [torch.empty_like(padded_rows) for _ in range(world)]
            dist.all_gather(gathered_ids, padded_ids, group=group)
            dist.all_gather(gathered_rows, padded_rows, group=group)
            grad.zero_()
            # One rank's ids are unique, so no two of its rows land on one target: each index_add_ is exact and
            # order-free (also with CUDA atomics), and ranks are added in rank order, so every rank gets the same bits.
            for rank in range(world):
                n = int(all_counts[rank][i])
                grad.index_add_(0, gathered_ids[rank][:n], gathered_rows[rank][:n])
            payload += padded_ids.numel() * INDEX_BYTES + padded_rows.numel() * padded_rows.element_size()
        return ExchangeCost(payload, round(self.sent_bytes(world, payload)),
                            int(sum(touched[n].numel() for n in names)))


def all_to_all_rows(rows: torch.Tensor, send_counts: list[int], recv_counts: list[int],
                    group: dist.ProcessGroup | None = None) -> tuple[torch.Tensor, int, int]:
    """Send `rows` in consecutive blocks, `send_counts[r]` rows to rank r, and receive `recv_counts[r]` rows
    from each rank r, stacked in rank order: (received rows, payload bytes, bytes that left this rank).

    One torch.distributed.all_to_all_single with uneven splits along dim 0: gloo implements it (as
    alltoallv: every pair of ranks exchanges its blocks directly, p - 1 rounds), as NCCL does, so neither
    padding nor point-to-point sends are needed."""
    rows = rows.contiguous()
    out = rows.new_empty((sum(recv_counts), *rows.shape[1:]))
    dist.all_to_all_single(out, rows, recv_counts, send_counts, group=group)
    row_bytes = math.prod(rows.shape[1:]) * rows.element_size()
    payload = rows.shape[0] * row_bytes
    return out, payload, payload - send_counts[dist.get_rank(group)] * row_bytes


class RowSharded(ExchangeStrategy):
    """The entity table is not replicated: rank r owns a contiguous block of its rows and their optimizer
    state. Per step (harness/distributed/sharded.py): all-to-all of the counts and then of the entity ids a
    rank's shard of the batch references, to their owners; all-to-all of those rows back; the local loss on
    a compact table of them; all-to-all of their gradient rows to the owners, who sum them and apply the
    row-sparse optimizer. The relation-side tables (few rows) stay replicated: `exchange` all-reduces their
    gradients, with one count per row of the ranks that touched it, so every rank moves the same rows."""

    name = "sharded"
    summary = ("entity rows and their optimizer state sharded over the ranks: all-to-all of the ids each rank's "
               "batch needs, of those rows, and of their gradients back to the owners; relation tables replicated "
               "and all-reduced; needs a row-sparse optimizer")
    replicated = False

    @staticmethod
    def sent_bytes(world_size: int, payload_bytes: int) -> float:
        """An all-to-all whose rows are spread evenly over the owners sends all but this rank's own block."""
        return (world_size - 1) / world_size * payload_bytes

    @staticmethod
    def message_rounds(world_size: int) -> int:
        return world_size - 1  # pairwise exchange: one round per peer

    @classmethod
    def refusal(cls, optimizer: str) -> str | None:
        from harness.optim import row_sparse_optimizers

        if optimizer not in row_sparse_optimizers():
            return (f"--strategy sharded keeps each row's optimizer state on its owner and moves only the rows a step "
                    f"touched; dense Adam ({optimizer}) moves every row every step: use --optimizer "
                    f"{' or '.join(sorted(row_sparse_optimizers()))}")
        return None

    def exchange(self, grads: Mapping[str, torch.Tensor], touched: Mapping[str, torch.Tensor],
                 group: dist.ProcessGroup | None = None) -> ExchangeCost:
        """Sum the replicated tables' gradients (sum_replicated, the union of touched rows left out)."""
        return self.sum_replicated(grads, touched, group)[0]

    def sum_replicated(self, grads: Mapping[str, torch.Tensor], touched: Mapping[str, torch.Tensor],
                       group: dist.ProcessGroup | None = None) -> tuple[ExchangeCost, dict[str, torch.Tensor]]:
        """All-reduce (sum) of the replicated tables' gradients in place, in one flat buffer that also carries
        a count per row of the ranks whose shard touched it: (cost, the rows any rank touched, per table). A
        row-sparse optimizer moves exactly those rows (Adam's momentum moves a touched row whose summed
        gradient is zero), as one process on the whole batch would."""
        names = list(grads)
        tables = [grads[n] for n in names]
        marks = []
        for name, g in zip(names, tables):
            mark = g.new_zeros(g.shape[0])
            mark[touched[name].to(g.device)] = 1.0
            marks.append(mark)
        flat = torch.cat([g.reshape(-1) for g in tables] + marks)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        offset, union = 0, {}
        for g in tables:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()
        for name, g in zip(names, tables):
            union[name] = torch.nonzero(flat[offset: offset + g.shape[0]]).reshape(-1)
            offset += g.shape[0]
        payload = flat.numel() * flat.element_size()
        world = dist.get_world_size(group)
        cost = ExchangeCost(payload, round(DenseAllReduce.sent_bytes(world, payload)),
                            int(sum(touched[n].numel() for n in names)))
        return cost, union


STRATEGIES: dict[str, type[ExchangeStrategy]] = {
    cls.name: cls for cls in (DenseAllReduce, RowSparseAllGather, RowSharded)}


def get_strategy(name: str) -> ExchangeStrategy:
    """The named exchange strategy; SptxError naming the choices for an unknown name."""
    from harness.errors import SptxError

    if name not in STRATEGIES:
        raise SptxError(f"unknown exchange strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]()
