"""How ranks combine their gradients after each backward pass: a registry of exchange strategies.

Every rank's loss is the *sum* over its shard of the global batch, so the sum of the ranks' gradients is
the gradient of the global batch: both strategies sum, neither averages. After an exchange every rank
holds the same full gradient table (zeros in rows no rank touched), so Adam makes the same update on
every rank and the parameters stay identical.

Each strategy also states, once, how many bytes one rank sends for a payload and how many latency-bound
message rounds that takes in the textbook ring algorithms; the records and the scaling model on paper
(harness/distributed/scaling.py) both read these formulas.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Mapping

import torch
import torch.distributed as dist

__all__ = ["STRATEGIES", "DenseAllReduce", "ExchangeCost", "ExchangeStrategy", "RowSparseAllGather",
           "get_strategy"]

INDEX_BYTES = 8  # row indices travel as int64


@dataclass(frozen=True)
class ExchangeCost:
    """What one exchange moved for one rank: the bytes it handed to the collectives (`payload_bytes`),
    the bytes a ring algorithm makes it send over the wire (`sent_bytes`), and the gradient rows it
    touched summed over its tables (`touched_rows`; every row for the dense strategy)."""

    payload_bytes: int
    sent_bytes: int
    touched_rows: int


class ExchangeStrategy(ABC):
    """Combines the ranks' gradients in place: afterwards every rank's `.grad` is the sum over ranks."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for --help and the report
    needs_touched_rows: ClassVar[bool] = True  # False: `exchange` ignores `touched`, so the step need not find them

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


STRATEGIES: dict[str, type[ExchangeStrategy]] = {cls.name: cls for cls in (DenseAllReduce, RowSparseAllGather)}


def get_strategy(name: str) -> ExchangeStrategy:
    """The named exchange strategy; SptxError naming the choices for an unknown name."""
    from harness.errors import SptxError

    if name not in STRATEGIES:
        raise SptxError(f"unknown exchange strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]()
