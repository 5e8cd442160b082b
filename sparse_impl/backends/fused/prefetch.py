"""Software prefetch for the fused kernels: a hint to the CPU to start loading a table row a few iterations
before the loop reads (or writes) it. The rows a step touches on a big graph are scattered over a table far
beyond the caches (at 4M entities, 93K rows of 512 B over 2 GB): each read is a cache and TLB miss that the
hardware prefetcher cannot foresee, so the loops that walk them wait on memory. Issuing the loads PREFETCH_AHEAD
iterations early overlaps those misses (LLVM's `llvm.prefetch`; no effect on results).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

__all__ = ["PREFETCH_AHEAD", "prefetch_row_read", "prefetch_row_write"]

PREFETCH_AHEAD = 12  # iterations ahead: covers a memory miss at the loops' per-row cost (measured 8-16 best)
_LINE_BYTES = 64


def _prefetch_codegen(write: int):
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        address = builder.gep(array.data, [args[1]])
        pointer = builder.bitcast(address, ir.IntType(8).as_pointer())
        module = builder.module
        function_type = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] + [ir.IntType(32)] * 3)
        function = cgutils.get_or_insert_function(module, function_type, "llvm.prefetch")
        # (address, rw: 0 read / 1 write, locality 3: keep in all cache levels, cache type 1: data)
        builder.call(function, [pointer, ir.Constant(ir.IntType(32), write), ir.Constant(ir.IntType(32), 3),
                                ir.Constant(ir.IntType(32), 1)])
        return context.get_dummy_value()

    return codegen


def _prefetch_line(write: int):
    """An intrinsic prefetching, for reading (write=0) or writing (1), the cache line holding array[index] of a
    C-contiguous 1-D array."""

    def typer(typingctx, array, index):
        if isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer):
            return types.void(array, index), _prefetch_codegen(write)
        return None

    typer.__name__ = typer.__qualname__ = "_prefetch_write" if write else "_prefetch_read"  # names its LLVM function
    return intrinsic(typer)


_prefetch_read, _prefetch_write = _prefetch_line(0), _prefetch_line(1)


@register_jitable(inline="always")
def prefetch_row_read(row):
    """Prefetch every cache line of `row` (a C-contiguous 1-D view, e.g. table[r]) for reading."""
    for k in range(0, row.shape[0], max(1, _LINE_BYTES // row.itemsize)):
        _prefetch_read(row, k)


@register_jitable(inline="always")
def prefetch_row_write(row):
    """Prefetch every cache line of `row` (a C-contiguous 1-D view) for writing."""
    for k in range(0, row.shape[0], max(1, _LINE_BYTES // row.itemsize)):
        _prefetch_write(row, k)
