"""A DGL-KE-style training step (TransE, TransR, DistMult, ComplEx, RotatE) behind the uniform adapter: `DGLKEStep`
(framework `dglke`, identical work) and `DGLKENativeStep` (what `dglke` builds in native mode), over one shared
`DGLKEAdapter`.

DGL-KE itself (awslabs/dgl-ke) is not installable beside torch 2.13 (it needs dgl, whose compiled
parts exist only for torch 2.0 - 2.2.1, and it has not been released since 2020), so this module
reproduces its step structure:

- Embeddings live in plain tables (DGL-KE's ExternalEmbedding). Per batch, the entity ids of the batch
  are made unique (DGL-KE's subgraph node ids) and their rows gathered into a fresh leaf tensor;
  relation rows (and TransR's projection rows) are gathered per positive edge into leaf tensors, as
  DGL-KE gathers `edata['id']`. Negatives reuse the relation rows of the positive they corrupt.
- The positive edges' h - t is computed on the batch graph with DGL's g-SDDMM
  (`dgl.ops.gsddmm(g, 'sub', e, e, 'u', 'v')`, whose backward is a g-SpMM) where dgl imports, and with
  PyTorch index_select gathers otherwise. The option `kernel` chooses ('auto': dgl where it imports);
  `self.kernel` records which ran: 'dgl' or 'torch-gather' (this environment: torch 2.13, where dgl does
  not import, so 'torch-gather'; the 'dgl' path is written for a torch 2.2.1 + dgl 2.1.0 environment).
- TransR projection rows are stored DGL-KE's way, (dim * rel_dim) per relation, applied as e @ M,
  i.e. the transpose of the canonical (rel_dim, dim) M_r.

Score function: the shared one (entity rows L2-normalised inside the score, then TorchKGE's
dissimilarity: L1 / L2 / L2sq for TransE, L2sq for TransR), not DGL-KE's gamma - ||h + r - t||_p on raw
rows; the normalisation is applied to the gathered unique rows.

DistMult, ComplEx, RotatE: DGL-KE's score functions (dglke/models/pytorch/score_fun.py) on the same gathered rows.
Each edge is scored as DGL-KE's `edge_func` does from edges.src / edges.dst / edges.data (a gather of the head and
tail rows per edge under either `kernel`: DGL's apply_edges with a Python function reads those rows per edge;
only the translation models' h - t has a g-SDDMM):
- DistMult (DistMultScore): sum(h * r * t), on unit entity rows (the spec's in-score view, as for TransE; DGL-KE
  scores raw rows).
- ComplEx (ComplExScore): rows [re | im] (DGL-KE's own layout, th.chunk(emb, 2)), Re(sum h * r * conj t).
- RotatE (RotatEScore): rows [re | im], -sum_i |h_i r_i - t_i| with r = cos theta + i sin theta (the sum of the
  coordinates' moduli: DGL-KE's RotatE is the spec's L1; L2 is refused). DGL-KE stores the relation as
  theta * emb_init / pi and scores gamma - D; here the table holds theta itself and the score is -D, the spec's
  (a constant offset and a constant scale of the parameter: the same training with the scale folded into lr).
Native mode scores the chunks' shared negatives with DGL-KE's `create_neg`: DistMult and ComplEx as one batched
GEMM per chunk (the query (h * r), or for a head corruption (r * t) / (t * conj r) in [re | im] form, against the
chunk's entities), RotatE by rotating the fixed side (h * r, or t * conj r for a head corruption) and summing the
moduli of its difference with every shared entity.

Identical mode (default): the given negatives (the Batch's k blocks), the shared margin ranking loss
(sum), and Adam on the full tables: `backward` scatters the leaf gradients into full-table gradients
with index_add_, then Adam steps and TorchKGE's normalize_parameters runs, like every framework. So
the first-step scores, loss and gradients equal everyone's. With `--optimizer adagrad-rowwise` (DGL-KE's
own optimizer, the run's lr / eps / weight decay) the leaf gradients become sparse row gradients of the
tables instead (DGL-KE's traced rows, no full-table gradient), sptx's RowwiseAdagrad moves those rows and
only they are re-normalised. DGL-KE has no lazy Adam: `adam-lazy` is refused.

Native mode (`DGLKENativeStep`, options `neg_sample_size` and `chunk_size`), what differs from identical mode:
- Negatives: DGL-KE's chunked negatives. The batch's positives are cut into chunks of
  `chunk_size` (DGL-KE's neg_chunk_size, default = neg_sample_size = 256; a smaller final chunk when
  B is not a multiple); each chunk shares `neg_sample_size` (DGL-KE default 256) uniformly drawn
  entities, and every positive is scored against all of its chunk's shared entities. The corrupted
  side alternates per step, tail first (DGL-KE's BidirectionalOneShotIterator). The Batch's own
  negatives are ignored. Negative scores of TransE use torch.cdist as DGL-KE does.
- Optimizer: DGL-KE's row-wise sparse Adagrad (ExternalEmbedding.update): one state value per row,
  state[i] += mean(g_i^2), row -= lr * g_i / (sqrt(state[i]) + 1e-10), applied to the touched rows only
  (lr from TrainConfig; DGL-KE's default lr is 0.01, ours 4e-4), no weight decay.
- After the update, only the touched TransR relation rows are re-normalised (TorchKGE's constraint).
- After the update, only the touched entity rows are kept to the model's constraint (unit rows for TransE, TransR
  and DistMult; ComplEx and RotatE have none).
- Kept from identical mode (DGL-KE differs): the run's loss (`--loss`; by default the margin ranking loss) summed
  over every (positive, shared negative) pair (DGL-KE defaults to a logsigmoid loss, mean-reduced, with L2
  regularisation) and the in-score normalisation.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch.nn.functional import normalize

from baselines.base import AdapterOption, FrameworkStep, dense_gradient, moves_constrained_rows, table_optimizer
from harness.models import constrain_touched_rows_
from harness.models.base import ROW_CONSTRAINTS
from harness.models.complex_ import complex_halves
from harness.models.rotate import rotated_difference
from harness.optim import OPTIMIZERS
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, parameter_shapes
from sparse_impl.dissimilarity import dissimilarity

__all__ = ["DGLKEAdapter", "DGLKENativeStep", "DGLKEStep", "KERNELS", "dgl_unavailable_reason", "resolve_kernel"]

KERNELS = ("dgl", "torch-gather")
DEFAULT_NEG_SAMPLE_SIZE = 256  # DGL-KE's --neg_sample_size default
DEFAULT_CHUNK_SIZE = 256  # DGL-KE's --neg_chunk_size default (-1 = neg_sample_size)

KERNEL_OPTION = AdapterOption(
    "kernel", "auto", "h - t of the batch's edges by DGL's g-SDDMM (dgl), by PyTorch gathers (torch-gather), or dgl "
    "where it imports (auto)", choices=lambda: ("auto", *KERNELS))
NEG_SAMPLE_SIZE_OPTION = AdapterOption(
    "neg_sample_size", DEFAULT_NEG_SAMPLE_SIZE, "native mode: entities each chunk of positives shares as negatives "
    "(DGL-KE's --neg_sample_size)")
CHUNK_SIZE_OPTION = AdapterOption(
    "chunk_size", DEFAULT_CHUNK_SIZE, "native mode: positives per chunk that share negatives (DGL-KE's --neg_chunk_size)")


@functools.lru_cache(maxsize=1)
def dgl_unavailable_reason() -> str | None:
    """None when `import dgl` works here, else why not (dgl fails in several ways beside a new torch)."""
    try:
        import dgl  # noqa: F401, PLC0415
    except Exception as exc:  # noqa: BLE001
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"dgl does not import beside torch {torch.__version__} ({type(exc).__name__}: {first})"
    return None


def resolve_kernel(kernel: str) -> str:
    """The kernel that runs for an option value: 'auto' is dgl where it imports, else torch-gather."""
    if kernel == "auto":
        return "dgl" if dgl_unavailable_reason() is None else "torch-gather"
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of auto, {', '.join(KERNELS)}")
    if kernel == "dgl" and dgl_unavailable_reason() is not None:
        raise RuntimeError(dgl_unavailable_reason())
    return kernel


def _batch_graph(h: torch.Tensor, t: torch.Tensor, n_nodes: int) -> Any:
    """The DGL graph of edges h -> t over the batch's unique entities (DGL-KE's subgraph)."""
    import dgl  # noqa: PLC0415

    return dgl.graph((h, t), num_nodes=n_nodes)


@dataclass(kw_only=True)
class _Prepared:
    """What both steps prepare: the batch's unique entities and its positive edges in their local ids."""

    entity_ids: torch.Tensor  # unique entity ids of the batch
    relation_ids: torch.Tensor  # per positive edge
    pos_h: torch.Tensor  # local (into entity_ids) ids, (B,)
    pos_t: torch.Tensor
    pos_graph: Any = None


@dataclass(kw_only=True)
class _IdenticalPrepared(_Prepared):
    """Identical work: the given negatives as edges in local ids, (k*B,)."""

    neg_h: torch.Tensor
    neg_t: torch.Tensor
    neg_graph: Any = None


@dataclass(kw_only=True)
class _NativePrepared(_Prepared):
    """Native work: each chunk's shared negative entities in local ids, (n_chunks, n), and the corrupted side."""

    neg_local: torch.Tensor
    corrupt_head: bool


class DGLKEAdapter(FrameworkStep):
    """What both DGL-KE steps share: DGL-KE's tables, unique-id gathers into traced leaf tensors, the positive
    edges' h - t by g-SDDMM or gathers, and the canonical views; a subclass adds negatives and the update."""

    name = "dglke"
    models = frozenset({"transe", "transr", "distmult", "complex", "rotate"})
    library = None  # dgl is optional here: without it the step uses PyTorch gathers (see `kernel`)
    has_native = True
    options = (KERNEL_OPTION,)

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        reason = super().unsupported_reason(cfg, options, optimizer, loss)
        if reason is None and cfg.model == "rotate" and cfg.dissimilarity != "L1":
            reason = (f"dglke rotate has no {cfg.dissimilarity} dissimilarity: DGL-KE's RotatE sums the coordinates' "
                      "moduli (L1)")
        return reason

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, kernel: str = "auto") -> None:
        super().__init__(cfg, train, params, device)
        reason = self.unsupported_reason(cfg)
        if reason is not None:
            raise ValueError(reason)
        self.kernel = resolve_kernel(kernel)
        self._translation = cfg.spec.interaction == "translation"  # h - t by g-SDDMM; else DGL-KE's edge_func
        if self._translation:
            assert cfg.dissimilarity is not None
            self._dissimilarity = dissimilarity(cfg.dissimilarity)
        tables = {"entity": params["entity"], "relation": params["relation"]}
        if cfg.model == "transr":  # DGL-KE layout: (n_rel, dim * rel_dim), applied e @ M
            tables["projection"] = params["projection"].transpose(1, 2).reshape(cfg.n_relations, -1)
        self.tables = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.detach().clone().contiguous().to(device)) for k, v in tables.items()})
        self._trace: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    @classmethod
    def unavailable_reason_for(cls, options: Mapping[str, Any]) -> str | None:
        """Why the step cannot run here: only the dgl kernel, asked for by name, needs dgl."""
        return dgl_unavailable_reason() if options.get("kernel") == "dgl" else None

    def _graph(self, h: torch.Tensor, t: torch.Tensor, n_nodes: int) -> Any:
        """The batch graph of these edges where the dgl kernel computes h - t (translation models), else None."""
        return _batch_graph(h, t, n_nodes) if self.kernel == "dgl" and self._translation else None

    def _gather(self, name: str, ids: torch.Tensor) -> torch.Tensor:
        """ExternalEmbedding.__call__(ids, trace=True): rows copied into a leaf tensor that is traced."""
        leaf = self.tables[name].detach().index_select(0, ids).requires_grad_(True)
        self._trace.append((name, ids, leaf))
        return leaf

    def _head_minus_tail(self, ent: torch.Tensor, h: torch.Tensor, t: torch.Tensor, graph: Any) -> torch.Tensor:
        """h - t per edge: DGL's g-SDDMM on the batch graph, or two gathers."""
        if self.kernel == "dgl":
            import dgl  # noqa: PLC0415

            return dgl.ops.gsddmm(graph, "sub", ent, ent, lhs_target="u", rhs_target="v")
        return ent.index_select(0, h) - ent.index_select(0, t)

    def _translate(self, x: torch.Tensor, rel: torch.Tensor, proj: torch.Tensor | None) -> torch.Tensor:
        """x: (k, B, d) h - t rows; rel (B, d_r), proj (B, d, d_r) -> (k, B, d_r) translated differences."""
        if proj is not None:
            x = torch.einsum("kbd,bdr->kbr", x, proj)
        return x + rel

    def _edge_score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """DGL-KE's edge_func of DistMult, ComplEx or RotatE on rows (..., d) (relations (..., d_r), broadcast)."""
        if self.cfg.model == "distmult":  # DistMultScore
            return (h * r * t).sum(dim=-1)
        if self.cfg.model == "complex":  # ComplExScore
            (h_re, h_im), (t_re, t_im), (r_re, r_im) = complex_halves(h), complex_halves(t), complex_halves(r)
            return (h_re * t_re * r_re + h_im * t_im * r_re + h_re * t_im * r_im - h_im * t_re * r_im).sum(dim=-1)
        re, im = rotated_difference(h, r, t)  # RotatEScore: h * exp(i theta) - t
        return -torch.stack((re, im), dim=0).norm(dim=0).sum(dim=-1)

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather the batch's rows (a fresh trace), score the positive edges, then the step's negatives."""
        p: _Prepared = prepared
        self._trace = []
        b = p.pos_h.shape[0]
        ent = self.cfg.spec.entity_view(self._gather("entity", p.entity_ids))
        rel = self._gather("relation", p.relation_ids)
        proj = None
        if self.cfg.model == "transr":
            proj = self._gather("projection", p.relation_ids).view(b, self.cfg.dim, -1)
        if not self._translation:
            positive = self._edge_score(ent.index_select(0, p.pos_h), rel, ent.index_select(0, p.pos_t))
            return positive, self._negative_scores(p, ent, rel, proj)
        pos_x = self._translate(self._head_minus_tail(ent, p.pos_h, p.pos_t, p.pos_graph).unsqueeze(0), rel, proj)
        return -self._dissimilarity(pos_x[0]), self._negative_scores(p, ent, rel, proj)

    @abstractmethod
    def _negative_scores(self, prepared: Any, ent: torch.Tensor, rel: torch.Tensor,
                         proj: torch.Tensor | None) -> torch.Tensor:
        """Scores of the negatives as the Batch lays them out (k blocks of B rows), from the gathered rows."""

    def _to_canonical(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """A table in DGL-KE's layout as the canonical parameter (TransR's M transposed back)."""
        shape = parameter_shapes(self.cfg)[name]
        if name == "projection":
            return value.reshape(shape[0], shape[2], shape[1]).transpose(1, 2)
        return value.reshape(shape)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: self._to_canonical(k, v.detach()) for k, v in self.tables.items()}


class DGLKENativeStep(DGLKEAdapter):
    """DGL-KE's own step (native mode): chunked shared negatives, row-wise sparse Adagrad on the touched rows,
    only those rows re-normalised."""

    options = (KERNEL_OPTION, NEG_SAMPLE_SIZE_OPTION, CHUNK_SIZE_OPTION)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, kernel: str = "auto", neg_sample_size: int = DEFAULT_NEG_SAMPLE_SIZE,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__(cfg, train, params, device, kernel)
        self.neg_sample_size = neg_sample_size
        self.chunk_size = chunk_size
        self._generator = torch.Generator().manual_seed(train.seed)
        self._calls = 0
        self.state = {k: torch.zeros(v.shape[0], device=device) for k, v in self.tables.items()}

    def prepare(self, batch: Batch) -> _NativePrepared:
        """Draw each chunk's shared entities (the Batch's negatives are ignored) and alternate the corrupted
        side, tail first."""
        pos = batch.positives.to(self.device)
        b = pos.shape[0]
        corrupt_head = self._calls % 2 == 1
        self._calls += 1
        n_chunks = -(-b // min(self.chunk_size, b))
        negs = torch.randint(0, self.cfg.n_entities, (n_chunks, self.neg_sample_size),
                             generator=self._generator).to(self.device)
        uniq, inv = torch.unique(torch.cat((pos[:, 0], pos[:, 2], negs.reshape(-1))), return_inverse=True)
        pos_h, pos_t = inv[:b], inv[b:2 * b]
        return _NativePrepared(entity_ids=uniq, relation_ids=pos[:, 1], pos_h=pos_h, pos_t=pos_t,
                               pos_graph=self._graph(pos_h, pos_t, int(uniq.shape[0])),
                               neg_local=inv[2 * b:].view(n_chunks, -1), corrupt_head=corrupt_head)

    def _negative_scores(self, prepared: Any, ent: torch.Tensor, rel: torch.Tensor,
                         proj: torch.Tensor | None) -> torch.Tensor:
        """Every positive against its chunk's shared entities, as n blocks of B rows."""
        return self._chunked_negative_scores(prepared, ent, rel, proj).t().reshape(-1)

    def _chunked_negative_scores(self, p: _NativePrepared, ent: torch.Tensor, rel: torch.Tensor,
                                 proj: torch.Tensor | None) -> torch.Tensor:
        """DGL-KE's create_neg: every positive of a chunk against the chunk's shared entities. -> (B, n)."""
        b = p.pos_h.shape[0]
        chunk = min(self.chunk_size, b)
        # the fixed side of each positive: tail corruption keeps h (and r), head corruption keeps t
        fixed = ent.index_select(0, p.pos_t if p.corrupt_head else p.pos_h)
        negs = ent.index_select(0, p.neg_local.reshape(-1)).view(p.neg_local.shape[0], -1, ent.shape[1])
        full = (b // chunk) * chunk
        groups = [(0, full, chunk, 0, b // chunk)]
        if full < b:
            groups.append((full, b, b - full, b // chunk, b // chunk + 1))
        out = []
        for start, end, size, c0, c1 in groups:
            f = fixed[start:end].view(-1, size, fixed.shape[1])  # (g, c, d)
            r = rel[start:end].view(-1, size, rel.shape[1])  # (g, c, d_r)
            n = negs[c0:c1]  # (g, n, d)
            if not self._translation:
                out.append(self._chunk_scores(f, r, n, p.corrupt_head).reshape(-1, n.shape[1]))
            elif proj is None:  # TransE: || (h + r) - n || or || n - (t - r) ||, by cdist as DGL-KE
                anchor = f - r if p.corrupt_head else f + r
                out.append(self._pairwise(anchor, n).reshape(-1, n.shape[1]))
            else:  # TransR: negatives projected by each positive's M_r
                m = proj[start:end].view(-1, size, *proj.shape[1:])  # (g, c, d, d_r)
                f_proj = torch.einsum("gcd,gcdr->gcr", f, m)
                n_proj = torch.einsum("gnd,gcdr->gcnr", n, m)
                if p.corrupt_head:  # M n + r - M t
                    x = n_proj + (r - f_proj).unsqueeze(2)
                else:  # M h + r - M n
                    x = (f_proj + r).unsqueeze(2) - n_proj
                out.append(-self._dissimilarity(x).reshape(-1, n.shape[1]))
        return torch.cat(out, dim=0)

    def _chunk_scores(self, fixed: torch.Tensor, rel: torch.Tensor, negs: torch.Tensor,
                      corrupt_head: bool) -> torch.Tensor:
        """DGL-KE's create_neg for DistMult, ComplEx, RotatE: every positive of a chunk against the chunk's shared
        entities. fixed (g, c, d) (h, or t for a head corruption), rel (g, c, d_r), negs (g, n, d) -> (g, c, n)."""
        if self.cfg.model == "distmult":  # (h * r) @ N^T, or (t * r) @ N^T
            return torch.bmm(fixed * rel, negs.transpose(1, 2))
        f_re, f_im = complex_halves(fixed)
        if self.cfg.model == "complex":  # tail: q = h * r; head: q = t * conj(r) (score Re(n * r * conj t) = <q, n>)
            r_re, r_im = complex_halves(rel)
            if corrupt_head:
                query = torch.cat((f_re * r_re + f_im * r_im, -f_re * r_im + f_im * r_re), dim=-1)
            else:
                query = torch.cat((f_re * r_re - f_im * r_im, f_re * r_im + f_im * r_re), dim=-1)
            return torch.bmm(query, negs.transpose(1, 2))
        c, s = torch.cos(rel), torch.sin(rel)  # RotatE: rotate h by r, or t by conj(r), then sum |q_i - n_i|
        if corrupt_head:
            s = -s
        q_re, q_im = f_re * c - f_im * s, f_re * s + f_im * c
        n_re, n_im = complex_halves(negs)
        re, im = q_re.unsqueeze(2) - n_re.unsqueeze(1), q_im.unsqueeze(2) - n_im.unsqueeze(1)  # (g, c, n, k)
        return -torch.stack((re, im), dim=0).norm(dim=0).sum(dim=-1)

    def _pairwise(self, anchor: torch.Tensor, negs: torch.Tensor) -> torch.Tensor:
        """Scores -d(anchor_i - neg_j) for (g, c, d) x (g, n, d) -> (g, c, n)."""
        name = self.cfg.dissimilarity
        if name == "L1":
            return -torch.cdist(anchor, negs, p=1)
        dist = torch.cdist(anchor, negs, p=2)
        return -(dist**2) if name == "L2sq" else -dist

    def optimizer_note(self) -> str | None:
        """Native mode always runs DGL-KE's own update, whatever the run's optimizer: the record says so."""
        return ("optimizer: DGL-KE's row-wise Adagrad (native mode: ExternalEmbedding.update, eps 1e-10, no weight "
                f"decay; the run's {self.train.optimizer} is not used)")

    def optimizer_step(self) -> None:
        """DGL-KE's ExternalEmbedding.update (row-wise Adagrad) on the traced rows, then keep the touched entity rows
        to the model's constraint (and re-normalise TransR's touched relation rows)."""
        with torch.no_grad():
            for name, ids, leaf in self._trace:
                if leaf.grad is None:
                    continue
                grad = leaf.grad
                state = self.state[name]
                state.index_add_(0, ids, (grad * grad).mean(1))
                std = state.index_select(0, ids).sqrt_().add_(1e-10).unsqueeze(1)
                self.tables[name].index_add_(0, ids, -self.train.lr * grad / std)
            constraint = self.cfg.spec.entity_constraint
            touched = [("entity", self._trace[0][1], ROW_CONSTRAINTS[constraint])] if self._trace else []
            if constraint == "none":
                touched = []
            if self.cfg.model == "transr" and len(self._trace) > 1:
                touched.append(("relation", self._trace[1][1], lambda rows: normalize(rows, p=2, dim=1)))
            for name, ids, constrain in touched:
                table = self.tables[name]
                table.index_copy_(0, ids, constrain(table.index_select(0, ids)))
        self._trace = []

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        """A dense view of the traced leaf gradients."""
        grads = {k: torch.zeros_like(v) for k, v in self.tables.items()}
        for name, ids, leaf in self._trace:
            if leaf.grad is not None:
                grads[name].index_add_(0, ids, leaf.grad)
        return {k: self._to_canonical(k, v) for k, v in grads.items()}


class DGLKEStep(DGLKEAdapter):
    """The framework `dglke` in identical mode: the given negatives, Adam on the full tables (the leaf gradients
    scattered back into them) and TorchKGE's re-normalisation, like every framework; native mode builds
    `DGLKENativeStep`."""

    native_step = DGLKENativeStep
    row_optimizers = frozenset({"adagrad-rowwise"})
    row_gradients = "DGL-KE's traced rows (ExternalEmbedding), as sparse row gradients of the tables"

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, kernel: str = "auto") -> None:
        super().__init__(cfg, train, params, device, kernel)
        self.check_optimizer(train.optimizer, self.resolve_options({"kernel": kernel}))
        self.row_sparse = OPTIMIZERS[train.optimizer].row_sparse
        self.optimizer = table_optimizer(self.tables, cfg.spec, train)

    def prepare(self, batch: Batch) -> _IdenticalPrepared:
        """Local ids of the positives and the given negatives (only h or t is corrupted: relations repeat the
        positives')."""
        pos = batch.positives.to(self.device)
        neg = batch.negatives.to(self.device)
        b, n = pos.shape[0], neg.shape[0]
        uniq, inv = torch.unique(torch.cat((pos[:, 0], pos[:, 2], neg[:, 0], neg[:, 2])), return_inverse=True)
        n_nodes = int(uniq.shape[0])
        pos_h, pos_t, neg_h, neg_t = inv[:b], inv[b:2 * b], inv[2 * b:2 * b + n], inv[2 * b + n:]
        return _IdenticalPrepared(entity_ids=uniq, relation_ids=pos[:, 1], pos_h=pos_h, pos_t=pos_t,
                                  pos_graph=self._graph(pos_h, pos_t, n_nodes), neg_h=neg_h, neg_t=neg_t,
                                  neg_graph=self._graph(neg_h, neg_t, n_nodes))

    def _negative_scores(self, prepared: Any, ent: torch.Tensor, rel: torch.Tensor,
                         proj: torch.Tensor | None) -> torch.Tensor:
        """The given negatives' scores, each reusing the relation rows of the positive it corrupts."""
        p: _IdenticalPrepared = prepared
        b = p.pos_h.shape[0]
        if not self._translation:  # (k, B, d) rows against each positive's relation row
            h = ent.index_select(0, p.neg_h).view(-1, b, ent.shape[1])
            t = ent.index_select(0, p.neg_t).view(-1, b, ent.shape[1])
            return self._edge_score(h, rel, t).reshape(-1)
        neg_x = self._head_minus_tail(ent, p.neg_h, p.neg_t, p.neg_graph).view(-1, b, ent.shape[1])
        return -self._dissimilarity(self._translate(neg_x, rel, proj)).reshape(-1)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward, then the leaf gradients as the tables' gradients: scattered into full tables (for Adam), or,
        with a row-sparse optimizer, as sparse row gradients of the traced rows."""
        loss.backward()
        if self.row_sparse:
            for name, ids, leaf in self._trace:
                table = self.tables[name]
                rows = torch.sparse_coo_tensor(ids.unsqueeze(0), leaf.grad, table.shape)
                table.grad = rows if table.grad is None else table.grad + rows
            return
        for table in self.tables.values():
            table.grad = torch.zeros_like(table)
        for name, ids, leaf in self._trace:
            self.tables[name].grad.index_add_(0, ids, leaf.grad)

    def optimizer_step(self) -> None:
        """The update, then the model's constraints (TorchKGE's normalize_parameters): on the whole tables after
        Adam, on the rows it moved after a row-sparse optimizer."""
        assert self.optimizer is not None
        self.optimizer.step()
        if self.row_sparse:  # before zero_grad: the row gradients say which rows moved
            constrain_touched_rows_(self.cfg.spec, self.tables, entities_done=moves_constrained_rows(self.optimizer))
        else:
            self.cfg.spec.constrain_({k: self._to_canonical(k, v.detach()) for k, v in self.tables.items()})
        self.optimizer.zero_grad(set_to_none=True)
        self._trace = []

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {k: self._to_canonical(k, dense_gradient(v)) for k, v in self.tables.items()}
