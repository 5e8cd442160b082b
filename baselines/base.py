"""The uniform adapter every framework implements (as TorchBench does per model), so each phase of a
training step can be timed on its own and every framework can be fed identical work."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import torch

from harness.errors import SptxError
from harness import optim
from harness.optim import OPTIMIZERS, LazyAdam, RowwiseAdagrad, build_optimizer, row_sparse_optimizers
from harness.sampling import Batch
from harness.models import ModelSpec
from harness.spec import ModelConfig, TrainConfig
from sparse_impl.loss import LOSSES, batch_loss

__all__ = ["COMMON_OPTIONS", "DENSE_OPTIMIZERS", "AdapterOption", "FrameworkStep", "adam", "dense_gradient",
           "library_optimizer", "moves_constrained_rows", "optimizer_implementation", "optimizer_kind",
           "table_optimizer"]

# The optimizers any step can run: they take whatever gradient the step hands them.
DENSE_OPTIMIZERS: frozenset[str] = frozenset(OPTIMIZERS) - row_sparse_optimizers()


@dataclass(frozen=True)
class AdapterOption:
    """One keyword option of a framework's adapter, declared as data (asv-style) so the CLI, the cell's
    identity and the labels can be derived from it. `in_label`: always shown in the framework's label
    (e.g. sparse[segment]); otherwise shown as name=value only when it differs from the default."""

    name: str
    default: Any
    help: str
    choices: Callable[[], tuple[Any, ...]] | None = None
    in_label: bool = False
    label_text: str | None = None  # shown instead of name=value when the value is not the default


# Options every framework has, applied by the harness after the adapter is built (see `apply_common_options`).
COMMON_OPTIONS: tuple[AdapterOption, ...] = (
    AdapterOption("compile", False, "run the forward pass (and so its backward) under torch.compile",
                  choices=lambda: (False, True), label_text="compiled"),
)


def _typed(framework: str, option: AdapterOption, value: Any) -> Any:
    """`value` as the type of the option's default when that is a number and `value` a string (as from
    `--option chunk_size=64`), so a cell's key and its adapter see the number."""
    kind = type(option.default)
    if not isinstance(value, str) or kind not in (int, float):
        return value
    try:
        return kind(value)
    except ValueError:
        raise SptxError(f"{framework} {option.name} {value!r}: expected a number ({kind.__name__})") from None


class FrameworkStep(ABC):
    """One framework's training step for one model, split into timeable phases.

    Life cycle per step: `prepare(batch)` -> `forward(prepared)` (returns the loss) -> `backward(loss)`
    -> `optimizer_step()` (step, zero the gradients, re-normalise parameters as TorchKGE does).
    Parameters come in and go out under canonical names (harness.spec.parameter_shapes).
    """

    name: ClassVar[str]
    models: ClassVar[frozenset[str]] = frozenset()  # the models the framework's library has (see supported_models)
    library: ClassVar[str | None] = None  # the importable distribution whose version records carry
    options: ClassVar[tuple[AdapterOption, ...]] = ()  # keyword options of __init__ (see AdapterOption)
    has_native: ClassVar[bool] = False  # True: the framework has its own step for native mode
    native_step: ClassVar[type["FrameworkStep"] | None] = None  # the adapter native mode builds (None: this one)
    # The row-sparse optimizers the library's own sparse-gradient path can feed (see supported_optimizers), and
    # where that path's row gradients come from, for the record (e.g. "nn.Embedding(sparse=True)").
    row_optimizers: ClassVar[frozenset[str]] = frozenset()
    row_gradients: ClassVar[str | None] = None
    # The losses (sparse_impl.loss.LOSSES) the step computes: every one by default (`forward` takes the registry's
    # on the step's scores); an adapter that computes its library's own loss names the ones it has.
    losses: ClassVar[frozenset[str]] = frozenset(LOSSES)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        self.cfg = cfg
        self.train = train
        self.device = device

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the framework's library can run here, else a one-line reason."""
        if cls.library is not None and importlib.util.find_spec(cls.library) is None:
            return f"{cls.library} is not installed (pip install -c constraints.txt 'sptx[all]')"
        return None

    @classmethod
    def all_options(cls) -> tuple[AdapterOption, ...]:
        """The adapter's own options, its native step's further ones, then those every framework has: one
        framework name takes every option either of its steps reads."""
        names = {o.name for o in cls.options}
        native = tuple(o for o in cls.native_step.options if o.name not in names) if cls.native_step else ()
        return (*cls.options, *native, *COMMON_OPTIONS)

    @classmethod
    def step_class(cls, native: bool) -> type["FrameworkStep"]:
        """The adapter a cell builds: the framework's native step in native mode where it has one, else this one."""
        return cls.native_step if native and cls.native_step is not None else cls

    @classmethod
    def build(cls, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor], device: torch.device,
              options: Mapping[str, Any], native: bool = False) -> "FrameworkStep":
        """The adapter for the mode (`step_class`) with its own options passed to __init__, then the common ones
        applied; an option only the other mode's step reads must keep its default, so it never changes a label
        without changing the work."""
        resolved = cls.resolve_options(options)
        step_cls = cls.step_class(native)
        own = {o.name: resolved[o.name] for o in step_cls.options}
        common = {o.name for o in COMMON_OPTIONS}
        unused = [o.name for o in cls.all_options()
                  if o.name not in own and o.name not in common and resolved[o.name] != o.default]
        if unused:
            mode = "native" if native else "identical"
            raise SptxError(f"{cls.name} option(s) {', '.join(unused)} do nothing in {mode} mode")
        cls.check_optimizer(train.optimizer, resolved)
        if (reason := cls.loss_refusal(train.loss, resolved)) is not None:
            raise SptxError(reason)
        step = step_cls(cfg, train, params, device, **own)
        if resolved.get("compile"):
            step.forward = torch.compile(step.forward)  # type: ignore[method-assign]
        return step

    @classmethod
    def unavailable_reason_for(cls, options: Mapping[str, Any]) -> str | None:
        """Why the step cannot run here with these options (by default: its library's reason)."""
        return cls.unavailable_reason()

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option with its value (defaults filled in, a string given for a number's option read as
        that number); unknown names or values raise SptxError."""
        declared = {o.name: o for o in cls.all_options()}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise SptxError(f"{cls.name} has no option(s) {', '.join(unknown)} (its options: {known})")
        out = {}
        for option in cls.all_options():
            value = _typed(cls.name, option, given.get(option.name, option.default))
            if option.choices is not None and value not in option.choices():
                raise SptxError(f"{cls.name} {option.name} {value!r}: choose one of "
                                f"{', '.join(map(str, option.choices()))}")
            out[option.name] = value
        return out

    @classmethod
    def label(cls, options: Mapping[str, Any]) -> str:
        """`sparse[segment]`, `gather[normalize=rows]`, or the plain name when nothing is worth showing."""
        parts = []
        for option in cls.all_options():
            value = options.get(option.name, option.default)
            if option.in_label:
                parts.append(str(value))
            elif value != option.default:
                parts.append(option.label_text or f"{option.name}={value}")
        return f"{cls.name}[{','.join(parts)}]" if parts else cls.name

    @classmethod
    def supported_models(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """The models this framework trains with these options: by default its library's (`models`)."""
        return cls.models

    @classmethod
    def supported_optimizers(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """The optimizers this framework's step can run with these options: the dense ones and the row-sparse ones
        its library's sparse-gradient path feeds (`row_optimizers`; a row-sparse optimizer needs row gradients)."""
        return DENSE_OPTIMIZERS | cls.row_optimizers

    @classmethod
    def optimizer_refusal(cls, optimizer: str, options: Mapping[str, Any]) -> str | None:
        """None when the step runs `optimizer` with these (resolved) options, else one line saying why not."""
        supported = cls.supported_optimizers(options)
        if optimizer in supported:
            return None
        return f"{cls.label(options)} cannot run optimizer {optimizer} (runs: {', '.join(sorted(supported))})"

    @classmethod
    def supported_losses(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """The losses this framework's step computes with these options (`losses` by default)."""
        return cls.losses

    @classmethod
    def loss_refusal(cls, loss: str, options: Mapping[str, Any]) -> str | None:
        """None when the step trains with `loss` under these (resolved) options, else one line saying why not."""
        supported = cls.supported_losses(options)
        if loss in supported:
            return None
        return f"{cls.label(options)} has no {loss} loss here (has: {', '.join(sorted(supported))})"

    @classmethod
    def check_optimizer(cls, optimizer: str, options: Mapping[str, Any]) -> None:
        """Refuse (SptxError, one line) an optimizer the step cannot run, rather than run another in its place."""
        if (reason := cls.optimizer_refusal(optimizer, options)) is not None:
            raise SptxError(reason)

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        """None when this framework can train `cfg` with these options (defaults when None), optimizer and loss
        (any when None), else why not."""
        resolved = cls.resolve_options(options or {})
        supported = cls.supported_models(resolved)
        if cfg.model not in supported:
            return f"{cls.label(resolved)} has no {cfg.model} model (supports: {', '.join(sorted(supported)) or 'none'})"
        if optimizer is not None and (reason := cls.optimizer_refusal(optimizer, resolved)) is not None:
            return reason
        return None if loss is None else cls.loss_refusal(loss, resolved)

    @abstractmethod
    def prepare(self, batch: Batch) -> Any:
        """Per-batch work before the forward pass: moving indices to the device, building structures."""

    @abstractmethod
    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (higher is better) of positives (B,) and negatives (k*B,)."""

    def forward(self, prepared: Any) -> torch.Tensor:
        """The scalar loss of the batch: the run's loss (sparse_impl.loss), summed."""
        positive, negative = self.scores(prepared)
        return batch_loss(self.train.loss, positive, negative, self.train.margin, self.train.adversarial_temperature)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def optimizer_note(self) -> str | None:
        """For the record, with a row-sparse optimizer: which implementation ran and where its row gradients came
        from, e.g. 'optimizer: adam-lazy (torch.optim.SparseAdam; row gradients: nn.Embedding(sparse=True))';
        None with a dense one (the settings' optimizer says it; the worker notes a fallback)."""
        optimizer = getattr(self, "optimizer", None)
        if not OPTIMIZERS[self.train.optimizer].row_sparse or not isinstance(optimizer, torch.optim.Optimizer):
            return None
        source = f"; row gradients: {self.row_gradients}" if self.row_gradients else ""
        return f"optimizer: {optimizer_kind(optimizer)} ({optimizer_implementation(optimizer)}{source})"

    def work_outside_aten(self) -> str | None:
        """What of the step runs in kernels torch's dispatcher never sees (FLOP counters miss it), or None."""
        return None

    @abstractmethod
    def optimizer_step(self) -> None:
        """Apply the update, zero the gradients and re-normalise the parameters."""

    @abstractmethod
    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """Current parameters under canonical names and shapes (detached copies or views)."""

    @abstractmethod
    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        """Gradients of the last backward under canonical names and shapes (zeros where none)."""


def dense_gradient(parameter: torch.Tensor) -> torch.Tensor:
    """A parameter's gradient as a dense tensor (zeros where none; a row gradient made dense)."""
    grad = parameter.grad
    if grad is None:
        return torch.zeros_like(parameter)
    return grad.to_dense() if grad.is_sparse else grad


def adam(parameters: Any, train: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer the run chose (`train.optimizer`, harness.optim), the same for every framework in identical
    mode; by default the paper's Adam. `optimizer_kind` says which implementation ran."""
    return build_optimizer(parameters, train)


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    """Which registered optimizer runs (harness.optim.optimizer_kind), torch.optim.SparseAdam being `adam-lazy`."""
    return "adam-lazy" if isinstance(optimizer, torch.optim.SparseAdam) else optim.optimizer_kind(optimizer)


def optimizer_implementation(optimizer: torch.optim.Optimizer) -> str:
    """The code that moves the rows, for the record: torch's SparseAdam, or sptx's LazyAdam / RowwiseAdagrad with
    its numba row kernel (CPU tables, numba installed) or its torch arithmetic."""
    if isinstance(optimizer, torch.optim.SparseAdam):
        return "torch.optim.SparseAdam"
    if not isinstance(optimizer, (LazyAdam, RowwiseAdagrad)):
        return f"torch.optim.{type(optimizer).__name__}"
    on_cpu = all(p.device.type == "cpu" for g in optimizer.param_groups for p in g["params"])
    kernel = "numba row kernel" if on_cpu and importlib.util.find_spec("numba") is not None else "torch ops"
    return f"sptx {type(optimizer).__name__}, {kernel}"


def library_optimizer(parameters: Any, train: TrainConfig) -> torch.optim.Optimizer:
    """The run's optimizer as a user of a torch library with sparse nn.Embedding gradients runs it: `adam-lazy` is
    torch.optim.SparseAdam (the registry's lr, betas and eps: the same update as sptx's LazyAdam) where the weight
    decay is 0; SparseAdam has none, so with weight decay (the paper's 1e-5) it is the registry's LazyAdam, whose
    update is SparseAdam's plus the decay on touched rows. Every other optimizer is the registry's."""
    optimizer = build_optimizer(parameters, train)
    if not isinstance(optimizer, LazyAdam) or train.weight_decay:
        return optimizer
    groups = [{"params": group["params"]} for group in optimizer.param_groups]
    d = optimizer.defaults
    return torch.optim.SparseAdam(groups, lr=d["lr"], betas=d["betas"], eps=d["eps"])


def moves_constrained_rows(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer keeps the rows it moves to a param group's `row_constraint` (sptx's row optimizers
    do, in the same pass, where table_optimizer set one; torch's never do), so the step need not after it."""
    return isinstance(optimizer, (LazyAdam, RowwiseAdagrad)) and any(
        group.get("row_constraint", "none") != "none" for group in optimizer.param_groups)


def table_optimizer(tables: Mapping[str, torch.Tensor], spec: ModelSpec, train: TrainConfig) -> torch.optim.Optimizer:
    """The run's optimizer over canonical tables; a row-sparse one keeps every entity row it moves to the spec's
    entity constraint in the same pass (the relation-side constraints follow: constrain_touched_rows_)."""
    if not OPTIMIZERS[train.optimizer].row_sparse:
        return build_optimizer(tables.values(), train)
    rest = [t for name, t in tables.items() if name != "entity"]
    return build_optimizer([{"params": [tables["entity"]], "row_constraint": spec.entity_constraint},
                            {"params": rest}], train)
