"""A scaling model on paper: time per epoch of data-parallel SpMM training on p ranks, predicted from one
measured single-process step and the exchange strategies' ring-algorithm costs.

Assumptions (stated in the report beside the table):
- Strong scaling: the global batch B stays fixed; each rank trains on b = ceil(B / p) positives.
- The per-triple part of a step (prepare + forward + backward) scales linearly with the triples a rank
  trains on, at the per-triple cost measured on one process (also for the larger graph: no extra cache
  misses are modelled).
- Adam and the re-normalisation run over the whole tables on every rank (every row moves: Adam's
  momentum and weight decay), so that part does not shrink with p; it grows with the table size.
- Exchange time = bytes one rank sends / link bandwidth + message rounds x latency, using each strategy's
  ring formula (harness/distributed/exchange.py): dense all-reduce 2(p-1)/p x table bytes in 2(p-1)
  rounds; row-sparse all-gather (p-1) x per-rank payload in (p-1) rounds per collective. No overlap of
  exchange and compute, one link per rank, no congestion.
- Rows touched per rank (row-sparse): each of b positives with k negatives references at most 2 + k
  distinct entities and one relation, so at most min(N, (2 + k) b) entity rows and min(R, b) relation-indexed
  rows: the worst case, no repeats. Real graphs repeat popular entities, so this over-states the bytes for
  small graphs (FB15k-237 at small p is capped by N) and is close for a 100M-entity graph with uniform negatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from harness.distributed.exchange import INDEX_BYTES, STRATEGIES, RowSparseAllGather
from harness.models import TableSpec
from harness.spec import ModelConfig, parameter_tables

__all__ = ["BANDWIDTHS_GBIT", "BIG_GRAPH", "FB15K_237", "GraphScale", "MeasuredStep", "Network", "Prediction",
           "RANKS", "predict", "prediction_grid", "rows_touched"]

RANKS: tuple[int, ...] = (8, 64, 512)
BANDWIDTHS_GBIT: tuple[float, ...] = (10.0, 100.0, 400.0)
VALUE_BYTES = 4  # float32 gradients


@dataclass(frozen=True)
class GraphScale:
    """A graph the model predicts for: its sizes and the triples one epoch trains on."""

    name: str
    n_entities: int
    n_relations: int
    train_triples: int


FB15K_237 = GraphScale("FB15k-237", 14_541, 237, 272_115)
# Assumed shape of "a graph of 100M entities": 10 training triples per entity, 1,000 relations.
BIG_GRAPH = GraphScale("100M entities (assumed 1e9 triples, 1000 relations)", 100_000_000, 1_000, 1_000_000_000)


@dataclass(frozen=True)
class MeasuredStep:
    """One measured single-process step: the per-triple part and the whole-table part, in seconds, and
    what was measured (model, dimension, global batch, negatives, the measured graph's table rows)."""

    model: str
    dim: int
    batch_size: int
    num_negatives: int
    per_triple_s: float  # prepare + forward + backward of the whole global batch
    whole_table_s: float  # Adam + re-normalisation over every table
    n_entities: int
    n_relations: int


@dataclass(frozen=True)
class Network:
    """The link between ranks: bandwidth in Gbit/s and the latency of one message round in seconds."""

    bandwidth_gbit: float
    latency_s: float = 10e-6

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_gbit * 1e9 / 8


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds per step (compute, exchange) and per epoch, and bytes one rank sends per step."""

    graph: str
    strategy: str
    ranks: int
    bandwidth_gbit: float
    compute_s: float
    communicate_s: float
    sent_bytes: float
    steps_per_epoch: int

    @property
    def step_s(self) -> float:
        return self.compute_s + self.communicate_s

    @property
    def epoch_s(self) -> float:
        return self.step_s * self.steps_per_epoch


def _tables(model: str, graph: GraphScale, dim: int) -> dict[str, TableSpec]:
    return parameter_tables(ModelConfig(model, graph.n_entities, graph.n_relations, dim))


def _row_values(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def rows_touched(table: TableSpec, graph: GraphScale, per_rank_batch: int, num_negatives: int) -> int:
    """Worst-case distinct rows of a table one rank's shard references (see the module's assumptions)."""
    if table.indexed_by == "relation":
        return min(graph.n_relations, per_rank_batch)
    return min(graph.n_entities, (2 + num_negatives) * per_rank_batch)


def _payload_bytes(strategy: str, model: str, graph: GraphScale, dim: int, per_rank_batch: int,
                   num_negatives: int) -> int:
    tables = _tables(model, graph, dim)
    if strategy != RowSparseAllGather.name:
        return sum(math.prod(table.shape) for table in tables.values()) * VALUE_BYTES
    counts = len(tables) * INDEX_BYTES
    return counts + sum(rows_touched(table, graph, per_rank_batch, num_negatives)
                        * (INDEX_BYTES + _row_values(table.shape) * VALUE_BYTES) for table in tables.values())


def _collectives(strategy: str, n_tables: int) -> int:
    """Collectives per exchange: one flat all-reduce, or the counts plus indices and rows of every table."""
    return 1 + RowSparseAllGather.collectives_per_table * n_tables if strategy == RowSparseAllGather.name else 1


def predict(measured: MeasuredStep, graph: GraphScale, strategy: str, ranks: int, network: Network) -> Prediction:
    """Predicted step and epoch time of `strategy` on `ranks` ranks for `graph` (see the module docstring)."""
    cls = STRATEGIES[strategy]
    per_rank_batch = math.ceil(measured.batch_size / ranks)
    measured_values = sum(math.prod(t.shape) for t in _tables(measured.model, GraphScale(
        "measured", measured.n_entities, measured.n_relations, 0), measured.dim).values())
    graph_values = sum(math.prod(t.shape) for t in _tables(measured.model, graph, measured.dim).values())
    compute = (measured.per_triple_s * per_rank_batch / measured.batch_size
               + measured.whole_table_s * graph_values / measured_values)
    payload = _payload_bytes(strategy, measured.model, graph, measured.dim, per_rank_batch, measured.num_negatives)
    sent = cls.sent_bytes(ranks, payload)
    rounds = cls.message_rounds(ranks) * _collectives(strategy, len(_tables(measured.model, graph, measured.dim)))
    communicate = sent / network.bytes_per_s + rounds * network.latency_s
    return Prediction(graph.name, strategy, ranks, network.bandwidth_gbit, compute, communicate, sent,
                      math.ceil(graph.train_triples / measured.batch_size))


def prediction_grid(measured: MeasuredStep, graphs: tuple[GraphScale, ...] = (FB15K_237, BIG_GRAPH),
                    ranks: tuple[int, ...] = RANKS, bandwidths: tuple[float, ...] = BANDWIDTHS_GBIT,
                    latency_s: float = 10e-6) -> Iterator[Prediction]:
    """Every graph x strategy x rank count x bandwidth, in that order."""
    for graph in graphs:
        for strategy in STRATEGIES:
            for p in ranks:
                for bandwidth in bandwidths:
                    yield predict(measured, graph, strategy, p, Network(bandwidth, latency_s))
