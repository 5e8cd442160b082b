"""A scaling model on paper: time per epoch of data-parallel SpMM training on p ranks, predicted from one
measured single-process step and the exchange strategies' ring-algorithm costs.

Assumptions (stated in the report beside the table):
- Strong scaling: the global batch B stays fixed; each rank trains on b = ceil(B / p) positives.
- The per-triple part of a step (prepare + forward + backward) scales linearly with the triples a rank
  trains on, at the per-triple cost measured on one process (also for the larger graph: no extra cache
  misses are modelled).
- Adam and the re-normalisation run over the whole tables on every rank (every row moves: Adam's
  momentum and weight decay), so that part does not shrink with p; it grows with the table size.
  (Replicated strategies: dense, rowsparse.)
- Exchange time = bytes one rank sends / link bandwidth + message rounds x latency, using each strategy's
  ring formula (harness/distributed/exchange.py): dense all-reduce 2(p-1)/p x table bytes in 2(p-1)
  rounds; row-sparse all-gather (p-1) x per-rank payload in (p-1) rounds per collective. No overlap of
  exchange and compute, one link per rank, no congestion.
- Rows touched per rank (row-sparse): each of b positives with k negatives references at most 2 + k
  distinct entities and one relation, so at most min(N, (2 + k) b) entity rows and min(R, b) relation-indexed
  rows: the worst case, no repeats. Real graphs repeat popular entities, so this over-states the bytes for
  small graphs (FB15k-237 at small p is capped by N) and is close for a 100M-entity graph with uniform negatives.
- Sharded (entity rows in p contiguous blocks, relation tables replicated): a rank's shard touches the same
  worst-case min(N, (2 + k) b) entity rows, of which (p-1)/p are owned elsewhere (ids spread evenly over the
  blocks); it sends their int64 ids, and as an owner answers as many requests as it makes, so it sends as
  many rows and, after the backward, as many row gradients: bytes = p - 1 int64 counts + remote rows x
  (8 + 2 x row bytes), plus the all-reduce of the relation-side tables' gradients (and one count per row),
  2(p-1)/p x their bytes. Message rounds: 4 all-to-alls (counts, ids, rows, gradients) of p - 1 pairwise rounds,
  and the all-reduce's 2(p-1). Its optimizer moves only touched rows: the entity rows the global batch
  touches (worst case min(N, (2 + k) B)) divided over the p owners, plus min(R, B) relation-side rows on every
  rank, each value at the measured whole-table cost per value. Parameters per rank: N/p entity rows plus the
  relation tables (optimizer state scales the same way: adagrad-rowwise 1 float per row, adam-lazy 2 per value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from harness.data.registry import find_spec
from harness.distributed.exchange import INDEX_BYTES, STRATEGIES, DenseAllReduce, RowSharded, RowSparseAllGather
from harness.models import TableSpec
from harness.spec import ModelConfig, parameter_tables

__all__ = ["BANDWIDTHS_GBIT", "BIG_GRAPH", "FB15K_237", "FREEBASE86M", "GRAPHS", "GraphScale", "MeasuredStep",
           "Network", "OGBL_WIKIKG2", "Prediction", "RANKS", "WIKIDATA5M", "predict", "prediction_grid",
           "rows_touched", "sharded_sent_bytes"]

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


def _registered(name: str) -> GraphScale:
    """A registry dataset's published counts (harness/data/registry.py)."""
    spec = find_spec(name)
    return GraphScale(spec.name, spec.n_entities, spec.n_relations, spec.n_train)


FB15K_237 = GraphScale("FB15k-237", 14_541, 237, 272_115)
WIKIDATA5M = _registered("Wikidata5M")
OGBL_WIKIKG2 = _registered("ogbl-wikikg2")
# Freebase86m (PyTorch-BigGraph's Freebase subset as Marius distributes it): 86,054,151 entities, 14,824 relations,
# 338,586,276 edges, 90% of them for training.
FREEBASE86M = GraphScale("Freebase86m-sized", 86_054_151, 14_824, 304_727_650)
# Assumed shape of "a graph of 100M entities": 10 training triples per entity, 1,000 relations.
BIG_GRAPH = GraphScale("100M entities (assumed 1e9 triples, 1000 relations)", 100_000_000, 1_000, 1_000_000_000)
GRAPHS: tuple[GraphScale, ...] = (FB15K_237, OGBL_WIKIKG2, WIKIDATA5M, FREEBASE86M, BIG_GRAPH)


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
    """Predicted seconds per step (compute, exchange) and per epoch, bytes one rank sends per step, and the
    parameter bytes one rank holds (optimizer state not counted)."""

    graph: str
    strategy: str
    ranks: int
    bandwidth_gbit: float
    compute_s: float
    communicate_s: float
    sent_bytes: float
    steps_per_epoch: int
    parameter_bytes: float = 0.0

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


def sharded_sent_bytes(model: str, graph: GraphScale, dim: int, ranks: int, per_rank_batch: int,
                       num_negatives: int) -> float:
    """Bytes one rank sends per step under `sharded` (see the module docstring): counts, then ids, rows and row
    gradients of the touched entity rows owned elsewhere, then the relation-side tables' all-reduce."""
    tables = _tables(model, graph, dim)
    entity = tables["entity"]
    remote = rows_touched(entity, graph, per_rank_batch, num_negatives) * (ranks - 1) / ranks
    all_to_all = (ranks - 1) * INDEX_BYTES + remote * (INDEX_BYTES + 2 * _row_values(entity.shape) * VALUE_BYTES)
    relation_side = sum(math.prod(t.shape) + t.shape[0] for n, t in tables.items() if n != "entity") * VALUE_BYTES
    return all_to_all + DenseAllReduce.sent_bytes(ranks, relation_side)


def _sharded_updated_values(model: str, graph: GraphScale, dim: int, ranks: int, batch_size: int,
                            num_negatives: int) -> float:
    """Values one owner's row-sparse optimizer moves per step: its share of the entity rows the global batch
    touches, and every touched relation-side row (replicated)."""
    tables = _tables(model, graph, dim)
    entity = tables["entity"]
    owned = min(graph.n_entities, (2 + num_negatives) * batch_size) / ranks * _row_values(entity.shape)
    return owned + sum(rows_touched(t, graph, batch_size, num_negatives) * _row_values(t.shape)
                       for n, t in tables.items() if n != "entity")


def predict(measured: MeasuredStep, graph: GraphScale, strategy: str, ranks: int, network: Network) -> Prediction:
    """Predicted step and epoch time of `strategy` on `ranks` ranks for `graph` (see the module docstring)."""
    cls = STRATEGIES[strategy]
    per_rank_batch = math.ceil(measured.batch_size / ranks)
    measured_values = sum(math.prod(t.shape) for t in _tables(measured.model, GraphScale(
        "measured", measured.n_entities, measured.n_relations, 0), measured.dim).values())
    tables = _tables(measured.model, graph, measured.dim)
    graph_values = sum(math.prod(t.shape) for t in tables.values())
    per_triple = measured.per_triple_s * per_rank_batch / measured.batch_size
    if cls.replicated:
        compute = per_triple + measured.whole_table_s * graph_values / measured_values
        payload = _payload_bytes(strategy, measured.model, graph, measured.dim, per_rank_batch, measured.num_negatives)
        sent = cls.sent_bytes(ranks, payload)
        rounds = cls.message_rounds(ranks) * _collectives(strategy, len(tables))
        parameter_values = graph_values
    else:
        updated = _sharded_updated_values(measured.model, graph, measured.dim, ranks, measured.batch_size,
                                          measured.num_negatives)
        compute = per_triple + measured.whole_table_s * updated / measured_values
        sent = sharded_sent_bytes(measured.model, graph, measured.dim, ranks, per_rank_batch, measured.num_negatives)
        rounds = 4 * RowSharded.message_rounds(ranks) + DenseAllReduce.message_rounds(ranks)
        parameter_values = graph_values - math.prod(tables["entity"].shape) * (ranks - 1) / ranks
    communicate = sent / network.bytes_per_s + rounds * network.latency_s
    return Prediction(graph.name, strategy, ranks, network.bandwidth_gbit, compute, communicate, sent,
                      math.ceil(graph.train_triples / measured.batch_size), parameter_values * VALUE_BYTES)


def prediction_grid(measured: MeasuredStep, graphs: tuple[GraphScale, ...] = GRAPHS,
                    ranks: tuple[int, ...] = RANKS, bandwidths: tuple[float, ...] = BANDWIDTHS_GBIT,
                    latency_s: float = 10e-6) -> Iterator[Prediction]:
    """Every graph x strategy x rank count x bandwidth, in that order."""
    for graph in graphs:
        for strategy in STRATEGIES:
            for p in ranks:
                for bandwidth in bandwidths:
                    yield predict(measured, graph, strategy, p, Network(bandwidth, latency_s))
