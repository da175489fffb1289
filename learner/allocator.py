"""Keep freed memory in the process instead of returning it to the kernel (glibc only).

An update allocates and frees some hundred MB of tensors (image batches, activations and their
gradients). By default glibc serves each block over 32 MB with a fresh mmap and unmaps it when
freed, so every update page-faults all of that memory back in; on a 2-core machine that
was half of an update's time at 128x128. With mmap off for malloc and no trimming, the same
heap pages are reused from one update to the next. The replay buffers do not depend on this:
they are their own anonymous or file mappings (`learner.replay`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_done = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory (process-wide, once); False where it cannot."""
    global _done
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError) as exc:
        log.info("malloc tuning unavailable: %s", exc)
        return False
    return _done
