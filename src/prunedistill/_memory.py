"""Keep freed memory in the process, so the next big array reuses pages already mapped.

glibc's malloc serves every allocation above ~32 MiB (an RF-map copy, a float64 energy
matrix, a shuffle table) with a fresh ``mmap`` and unmaps it on free. The next array of that
size is then new memory that the kernel must fault in page by page. On an ordinary Linux box
that costs ~0.2 s per GiB; on the development virtual machine (which likely hands freed
memory back to its host) it measured 0.2-15 s per GiB, and in the per-layer
analysis of VGG16 the kernel's time exceeded the arithmetic (benchmarks/HISTORY.md, analysis,
2026-12-06). :func:`retain_freed_memory` asks malloc to serve big blocks from its heap and
never to give the heap back: the process keeps its peak resident size until it exits, which
is what a batch run does anyway. Results are unchanged: only where arrays live changes.

The CLI, the pipeline's worker processes and the benchmarks call it; library users may too.
Set ``PRUNEDISTILL_RETAIN_FREED_MEMORY=0`` to keep malloc's own behaviour (for example in a
long-lived process whose memory must shrink after a run).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ENVIRONMENT_VARIABLE = "PRUNEDISTILL_RETAIN_FREED_MEMORY"

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def retain_freed_memory() -> bool:
    """Tell glibc malloc to keep freed memory for reuse (no ``mmap`` per big block, no heap
    trimming). Returns whether the setting took effect: ``False`` off glibc (macOS, musl,
    Windows) or when ``PRUNEDISTILL_RETAIN_FREED_MEMORY=0``; calling it twice is harmless."""
    if os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # -1 is SIZE_MAX once glibc casts it: never trim (documented in mallopt(3)).
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))
