"""ComplEx (Trouillon et al., 2016): Re(sum(h * r * conj(t))) over complex vectors stored as real rows."""

from __future__ import annotations

import torch

from harness.errors import SptxError
from harness.models.base import CandidateGroup, ModelSpec, TableSpec, Tables

__all__ = ["ComplEx", "complex_halves"]


def complex_halves(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, imaginary) parts of complex rows stored as [re_0 .. re_{k-1}, im_0 .. im_{k-1}] (the layout of
    DGL-KE and LibKGE): (n, 2k) -> two (n, k) views."""
    k = rows.shape[-1] // 2
    return rows[..., :k], rows[..., k:]


def check_even(model: str, dim: int) -> None:
    """A complex model's real row width must be even (d real = d/2 complex)."""
    if dim % 2:
        raise SptxError(f"{model} stores complex rows as [real | imaginary] halves: --dim must be even, not {dim}")


class ComplEx(ModelSpec):
    """ComplEx. `--dim` counts real parameters per row: d = 128 is 64 complex coordinates, each row [re | im]. No
    constraint and no in-score view (TorchKGE's ComplExModel, PyKEEN's ComplEx and PyG's ComplEx have none)."""

    name = "complex"
    title = "ComplEx"
    interaction = "complex"
    entity_constraint = "none"

    def tables(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, TableSpec]:
        check_even(self.name, dim)
        return super().tables(n_entities, n_relations, dim, rel_dim)

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        return entity

    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        entity = params["entity"]
        (h_re, h_im), (t_re, t_im) = complex_halves(entity.index_select(0, heads)), complex_halves(
            entity.index_select(0, tails))
        r_re, r_im = complex_halves(params["relation"].index_select(0, relations))
        return ((h_re * r_re - h_im * r_im) * t_re + (h_re * r_im + h_im * r_re) * t_im).sum(dim=1)

    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        # k = d/2 complex products h * r (6 each), then Re(x conj t) summed (4 each)
        return 10 * (dim // 2)

    def candidate_groups(self, params: Tables, triples: torch.Tensor) -> list[CandidateGroup]:
        return [CandidateGroup(torch.arange(triples.shape[0]), params["entity"].double())]

    def candidate_scores(self, params: Tables, dissimilarity: str | None, group: CandidateGroup,
                         anchors: torch.Tensor, relations: torch.Tensor, tail_side: bool,
                         max_elements: int) -> torch.Tensor:
        """Linear in the candidate either way, so one GEMM: tail (h, r, ?) scores Re(q conj e) with q = h r, i.e.
        [q_re | q_im] . [e_re | e_im]; head (?, r, t) scores Re(e w) with w = r conj t, i.e. [w_re | -w_im] . e."""
        entities = group.context
        a_re, a_im = complex_halves(entities.index_select(0, anchors))
        r_re, r_im = complex_halves(params["relation"].index_select(0, relations).double())
        if tail_side:
            query = torch.cat((a_re * r_re - a_im * r_im, a_re * r_im + a_im * r_re), dim=1)
        else:
            query = torch.cat((r_re * a_re + r_im * a_im, -(r_im * a_re - r_re * a_im)), dim=1)
        return query @ entities.t()

    def describe(self) -> str:
        return "ComplEx (Trouillon et al., 2016): Re(sum(h * r * conj(t)))"
