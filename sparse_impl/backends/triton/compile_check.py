"""Compile the Triton backend's kernels for a GPU that is not here: every kernel specialization the launcher picks
(launch.py's block sizes and warps) for each model, dissimilarity, reduction and pass, at the paper's GPU sizes
and at tiny ones, through Triton's whole pipeline to a cubin (LLVM and the ptxas bundled with triton; no driver
or device needed), with the registers and spill bytes ptxas reports. The interpreter tests check the numbers; this
checks that the compiler accepts the code, which the interpreter does not.

    python -m sparse_impl.backends.triton.compile_check [--arch 90] [--quiet] [--default-dissimilarities]

Runs without TRITON_INTERPRET (it unsets it before importing the kernels); exits 1 when a kernel does not compile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

__all__ = ["Specialization", "compile_all", "specializations"]


@dataclass(frozen=True)
class Specialization:
    kernel: str
    constants: dict[str, int]
    num_warps: int
    dtype: str = "fp32"

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.constants.items())
        return f"{self.kernel}[{inner}] warps={self.num_warps} {self.dtype}"


# (model, d, rel_dim, B): the paper's GPU settings, and tiny sizes
PAPER_SIZES = (("transe", 1024, None, 393216), ("toruse", 1024, None, 393216), ("transh", 128, None, 32768),
               ("transr", 128, 128, 65536))
TINY_SIZES = (("transe", 8, None, 32), ("transh", 8, None, 32), ("transr", 8, 6, 32))


def specializations(every_dissimilarity: bool = True) -> list[Specialization]:
    """What the launcher would compile for the paper's sizes and tiny ones with every dissimilarity of each model,
    both reductions; or (every_dissimilarity False) the paper's sizes with each model's default dissimilarity."""
    from harness.models import MODELS
    from sparse_impl.backends.triton import kernels as K
    from sparse_impl.backends.triton import launch as L

    out: list[Specialization] = []
    for model, d, rd, b in PAPER_SIZES + (TINY_SIZES if every_dissimilarity else ()):
        names = MODELS[model].dissimilarities if every_dissimilarity else MODELS[model].dissimilarities[:1]
        codes = [K.DISSIMILARITY_CODES[name] for name in names]
        block_d = L._pow2(d)
        for code in codes:
            if model == "transr":
                block_rd = L._pow2(rd)
                warps = L._warps(block_rd * block_d)
                tiles = {"BLOCK_RD": block_rd, "BLOCK_D": block_d}
                out.append(Specialization("transr_score_kernel", {"CODE": code, **tiles}, warps))
                for atomic in (1, 0):
                    for kernel in ("transr_margin_kernel", "transr_coef_kernel"):
                        out.append(Specialization(kernel, {"CODE": code, "ATOMIC": atomic, **tiles}, warps))
                continue
            model_code = K.MODEL_CODES[model]
            block = L._rows_per_block(2 * b, block_d)
            out.append(Specialization("score_kernel", {"CODE": code, "MODEL": model_code, "BLOCK": block,
                                                       "BLOCK_D": block_d}, L._warps(block * block_d)))
            for atomic in (1, 0):
                for kernel, rows in (("margin_kernel", b), ("coef_kernel", 2 * b)):
                    block = L._rows_per_block(rows, block_d)
                    out.append(Specialization(kernel, {"CODE": code, "MODEL": model_code, "ATOMIC": atomic,
                                                       "BLOCK": block, "BLOCK_D": block_d}, L._warps(block * block_d)))
    out.append(Specialization("margin_kernel", {"CODE": 2, "MODEL": 0, "ATOMIC": 1, "BLOCK": 8, "BLOCK_D": 128}, 8,
                              "fp64"))
    out.append(Specialization("segment_sum_kernel", {"BLOCK_N": 16, "BLOCK_D": 256}, 4))
    out.append(Specialization("segment_outer_kernel", {"BLOCK_N": 8, "BLOCK_A": 32, "BLOCK_B": 32}, 4))
    unique: dict[str, Specialization] = {}
    for spec in out:
        unique.setdefault(spec.describe(), spec)
    return list(unique.values())


_INDEX_ARGS = {"heads", "rels", "tails", "gheads", "gtails", "perm", "starts", "out_rows"}
_INT_ARGS = {"n", "D", "RD", "n_pos", "k"}


def _signature(fn: Any, spec: Specialization) -> dict[str, str]:
    out = {}
    for name in fn.arg_names:
        if name in spec.constants:
            out[name] = "constexpr"
        elif name in _INDEX_ARGS:
            out[name] = "*i64"
        elif name in _INT_ARGS:
            out[name] = "i32"
        elif name == "margin":
            out[name] = "fp32"
        else:
            out[name] = f"*{spec.dtype}"
    return out


def _resources(cubin: bytes) -> str:
    """ptxas's 'REG:n STACK:n' of a cubin (cuobjdump, bundled with triton), or '' where it cannot be read."""
    import triton.backends.nvidia as nvidia

    tool = os.path.join(os.path.dirname(nvidia.__file__), "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
        fh.write(cubin)
        fh.flush()
        try:
            text = subprocess.run([tool, "--dump-resource-usage", fh.name], capture_output=True, text=True,
                                  check=False).stdout
        except OSError:
            return ""
    for line in text.splitlines():
        if "REG:" in line:
            return " ".join(part for part in line.split() if part.startswith(("REG:", "STACK:")))
    return ""


def compile_all(arch: int = 90, quiet: bool = False,
                every_dissimilarity: bool = True) -> list[tuple[Specialization, str | None]]:
    """(specialization, None or the error) for every specialization, compiled to a cubin for sm_<arch>."""
    os.environ.pop("TRITON_INTERPRET", None)
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from sparse_impl.backends.triton import kernels as K

    if K.INTERPRETED:
        raise RuntimeError("the kernels were imported under TRITON_INTERPRET=1; run this in a fresh process")
    target = GPUTarget("cuda", arch, 32)
    results = []
    for spec in specializations(every_dissimilarity):
        fn = getattr(K, spec.kernel)
        try:
            compiled = triton.compile(ASTSource(fn=fn, signature=_signature(fn, spec), constexprs=spec.constants),
                                      target=target, options={"num_warps": spec.num_warps})
            usage = _resources(compiled.asm["cubin"])
            results.append((spec, None))
            if not quiet:
                print(f"ok    {spec.describe()}  {usage}", flush=True)
        except Exception as exc:  # noqa: BLE001 - every specialization is reported
            message = f"{type(exc).__name__}: {exc}"
            results.append((spec, message))
            print(f"FAIL  {spec.describe()}: {message[:4000]}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", type=int, default=90, help="the CUDA compute capability, e.g. 80 (A100), 90 (H100)")
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    parser.add_argument("--default-dissimilarities", action="store_true",
                        help="the paper's sizes with each model's default dissimilarity only (a quick check)")
    args = parser.parse_args(argv)
    results = compile_all(args.arch, args.quiet, not args.default_dissimilarities)
    failed = [spec for spec, error in results if error is not None]
    print(f"compile_check: {len(results)} specializations for sm_{args.arch}, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
