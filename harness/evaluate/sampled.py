"""The OGB protocol (ogbl-wikikg2, ogbl-biokg): rank each evaluated triple's true head among its own sampled head
candidates and its true tail among its own sampled tail candidates (e.g. 500 + 500), as OGB's link-property
evaluator does, beside the filtered ranking over all entities (harness.evaluate.ranking).

Conventions (OGB's, stated once, here):
- Candidates are the dataset's, per triple (`{valid,test}_candidates.npz`, harness.data.candidates), not filtered:
  a candidate that forms a true triple counts like any other, and one equal to the true entity ties with it.
- Ranks: optimistic = 1 + candidates scoring strictly higher than the true entity (what OGB's older evaluator
  gave), pessimistic = 1 + candidates scoring higher or equal, realistic = their mean (what OGB's evaluator now
  reports: 0.5 * (optimistic + pessimistic) + 1 of its counts), the same rank types as the full ranking.
- A candidate the dataset does not name (-1: an entity in no triple of the converted graph) is left out of its
  row's ranking; `SampledCandidates.unknown` counts them.
- Metrics as for full ranking (RankingResult.metrics): MR, MRR, Hits@1/3/10 per side and both pooled.

Every model is scored through `ModelSpec.score` on (triple, candidate) id tensors, in blocks of at most
`max_elements` gathered parameter elements, so the memory held does not grow with the test size or the number
of entities (only the candidate arrays, (n, k) integers each, are held whole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from harness.errors import SptxError
from harness.evaluate.ranking import RankingResult, Ranks
from harness.models import ModelSpec
from harness.models.pairwise import MAX_ELEMENTS

__all__ = ["SampledCandidates", "candidates_folder", "load_sampled_candidates", "rank_against_candidates",
           "require_candidates"]


@dataclass(frozen=True)
class SampledCandidates:
    """Per evaluated triple, its head candidates (n, k_head) and tail candidates (n, k_tail): integer entity ids
    (int64, or int32 after `compact`), -1 where a candidate names no entity of the dataset."""

    head: torch.Tensor
    tail: torch.Tensor

    def __post_init__(self) -> None:
        if self.head.dim() != 2 or self.tail.dim() != 2 or self.head.shape[0] != self.tail.shape[0]:
            raise SptxError(f"sampled candidates must be two (n, k) arrays with the same n, not "
                            f"{tuple(self.head.shape)} and {tuple(self.tail.shape)}")

    @classmethod
    def from_arrays(cls, head: object, tail: object) -> "SampledCandidates":
        """From (n, k) integer arrays (numpy or torch; numpy int64 is shared, not copied)."""
        def tensor(x: object) -> torch.Tensor:
            if isinstance(x, np.ndarray):
                return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))
            return torch.as_tensor(x, dtype=torch.long)
        return cls(tensor(head), tensor(tail))

    def compact(self, n_entities: int) -> "SampledCandidates":
        """The same candidates as int32 when every id fits (half the memory: ogbl-wikikg2's test candidates are
        2.4 GB so, 4.8 GB as int64); ranking widens each block as it goes."""
        if n_entities >= 2**31 or self.head.dtype == torch.int32:
            return self
        return SampledCandidates(self.head.to(torch.int32), self.tail.to(torch.int32))

    def __len__(self) -> int:
        return int(self.head.shape[0])

    def subset(self, index: torch.Tensor) -> "SampledCandidates":
        """The candidates of the triples at `index` (positions in the evaluated split), in that order."""
        return SampledCandidates(self.head.index_select(0, index), self.tail.index_select(0, index))

    @property
    def unknown(self) -> int:
        """Candidates naming no entity of the dataset (-1), left out of the ranking."""
        return int((self.head < 0).sum()) + int((self.tail < 0).sum())

    def describe(self) -> dict[str, int]:
        """What a record keeps: candidates per triple on each side, and how many were unknown."""
        return {"head": int(self.head.shape[1]), "tail": int(self.tail.shape[1]), "unknown": self.unknown}


def load_sampled_candidates(folder: str | Path, split: str, n_triples: int | None = None,
                            n_entities: int | None = None) -> SampledCandidates:
    """The sampled candidates of `split` (valid or test) of the dataset in `folder`; a one-line SptxError naming
    the file when there are none, when their rows are not one per triple of the split (`n_triples`), or when an id
    is not an entity of the dataset (`n_entities`) nor -1."""
    from harness.data.candidates import candidates_path, load_candidates

    loaded = load_candidates(folder, split)
    path = candidates_path(Path(folder), split)
    if loaded is None:
        raise _missing(Path(folder), split)
    candidates = SampledCandidates.from_arrays(*loaded)
    if n_triples is not None and len(candidates) != n_triples:
        raise SptxError(f"{path}: {len(candidates)} rows of candidates for the {n_triples} {split} triples")
    if n_entities is not None:
        for side in (candidates.head, candidates.tail):
            if side.numel() and (int(side.max()) >= n_entities or int(side.min()) < -1):
                raise SptxError(f"{path}: candidate ids outside the dataset's {n_entities} entities (and -1); "
                                f"were they written for another dataset?")
    return candidates


def candidates_folder(dataset: str, data_dir: str | Path | None) -> Path:
    """The folder whose `{valid,test}_candidates.npz` the OGB protocol reads for `dataset` (as `load_dataset` finds
    it); a synthetic graph has none: a one-line SptxError."""
    from harness.data.loader import find_dataset_files
    from harness.data.synthetic import is_synthetic_name

    if is_synthetic_name(str(dataset).strip()):
        raise SptxError(f"the OGB protocol needs sampled candidates, and {dataset} (generated) has none; use "
                        f"--eval-protocol full")
    return find_dataset_files(dataset, data_dir).folder


def require_candidates(folder: str | Path, splits: tuple[str, ...]) -> None:
    """A one-line SptxError naming the first candidates file of `splits` that `folder` lacks (nothing is read)."""
    from harness.data.candidates import candidates_path

    for split in splits:
        if not candidates_path(Path(folder), split).is_file():
            raise _missing(Path(folder), split)


def _missing(folder: Path, split: str) -> SptxError:
    from harness.data.candidates import candidates_path

    return SptxError(f"the OGB protocol needs sampled candidates: {candidates_path(folder, split)} not found (only a "
                     f"dataset downloaded from an OGB layout has them; use --eval-protocol full)")


def _gathered_width(params: Mapping[str, torch.Tensor], spec: ModelSpec) -> int:
    """Parameter elements gathered to score one triple: each entity-indexed row twice (head and tail), each
    relation-indexed row once."""
    index = spec.table_index(params)
    return sum(math.prod(table.shape[1:]) * (2 if index[name] == "entity" else 1) for name, table in params.items())


def _side_ranks(spec: ModelSpec, params: Mapping[str, torch.Tensor], dissimilarity: str | None,
                triples: torch.Tensor, candidates: torch.Tensor, tail_side: bool, max_elements: int) -> Ranks:
    """Ranks of the true tails (tail_side) or heads of `triples` (n, 3) among `candidates` (n, k)."""
    n, k = candidates.shape
    rows = max(1, max_elements // max(1, (k + 1) * _gathered_width(params, spec) * 2))
    optimistic, pessimistic = [], []
    for start in range(0, n, rows):
        batch, cand = triples[start : start + rows], candidates[start : start + rows].long()
        b = batch.shape[0]
        true = batch[:, 2] if tail_side else batch[:, 0]
        fixed = (batch[:, 0] if tail_side else batch[:, 2]).repeat_interleave(k + 1)
        relation = batch[:, 1].repeat_interleave(k + 1)
        other = torch.cat((true.unsqueeze(1), cand.clamp_min(0)), dim=1).reshape(-1)  # column 0: the true entity
        h, t = (fixed, other) if tail_side else (other, fixed)
        scores = spec.score(params, dissimilarity, h, relation, t, view_rows=True).reshape(b, k + 1)
        true_scores, others = scores[:, :1], scores[:, 1:]
        known = cand >= 0
        better = ((others > true_scores) & known).sum(1)
        equal = ((others == true_scores) & known).sum(1)
        optimistic.append(better + 1)
        pessimistic.append(better + equal + 1)
    empty = torch.zeros(0, dtype=torch.long)
    return Ranks(torch.cat(optimistic) if optimistic else empty, torch.cat(pessimistic) if pessimistic else empty)


@torch.no_grad()
def rank_against_candidates(spec: ModelSpec, params: Mapping[str, torch.Tensor], dissimilarity: str | None,
                            triples: torch.Tensor, candidates: SampledCandidates,
                            max_elements: int = MAX_ELEMENTS) -> RankingResult:
    """Head and tail ranks of every triple of `triples` (n, 3) against its own sampled candidates (row i of
    `candidates` for triple i), unfiltered, by the OGB protocol (module docstring). Scores are the spec's `score`
    in the parameters' dtype."""
    triples = triples.long().cpu()
    if len(candidates) != triples.shape[0]:
        raise SptxError(f"{len(candidates)} rows of sampled candidates for {triples.shape[0]} evaluated triples")
    params = {name: value.detach().cpu() for name, value in params.items()}
    head = _side_ranks(spec, params, dissimilarity, triples, candidates.head.cpu(), False, max_elements)
    tail = _side_ranks(spec, params, dissimilarity, triples, candidates.tail.cpu(), True, max_elements)
    return RankingResult(head, tail)
