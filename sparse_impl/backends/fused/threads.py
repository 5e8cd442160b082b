"""numba's parallel kernels run on torch's thread count, the one the harness fixes per run (--threads).

numba's OpenMP threading layer, when it first launches its pool, sets OpenMP's thread count to the pool's size
(NUMBA_NUM_THREADS: every core unless set). torch shares that libgomp, so from then on torch's own operations
ran on every core and, through torch's count, so did the next numba kernel, whatever --threads said: a
2-rank run of 1 thread per rank ran 2 threads per rank on 2 cores. match_torch_threads keeps both at torch's
count.
"""

from __future__ import annotations

import torch

__all__ = ["match_torch_threads"]


def match_torch_threads() -> int:
    """Set numba's thread count to torch's (at most numba's pool size), put torch's back if launching the pool
    moved it, and return numba's count."""
    import numba

    wanted = torch.get_num_threads()
    numba.set_num_threads(min(wanted, numba.config.NUMBA_NUM_THREADS))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return numba.get_num_threads()
