"""The C heap of a rendering process: keep freed blocks while rendering, hand them back after.

Two needs pull apart. While a batch renders, activations of a 512 px image reach 32 MB
per tensor, above glibc's mmap threshold: every op then got fresh pages from the kernel
and paid a page fault per 4 KB on first touch, 40% of the 26-style network's eager time
at 512 px (one core: 280 -> 150 ms). :func:`keep_freed_memory` tells glibc to serve such
blocks from its heap and not to hand freed memory back to the kernel. But then a worker
keeps the peak of its largest render for the rest of its life: measured with
``bench/jobs.py``, 1.45 GB of a worker's 1.83 GB was free heap kept after a 1024 px
render of the 26-style network. :func:`release_free_memory`, called between tasks,
returns what is free (``malloc_trim``), so a worker's resident memory is its live data
plus the current task's peak, not the largest peak it ever reached.

No torch here: a task that never rendered calls this without loading the engine.
"""
import ctypes
import ctypes.util
import functools

#: glibc ``mallopt`` parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BYTES = 1 << 30


@functools.cache
def _glibc():
    """glibc, or None (musl, macOS: their allocators have no such knobs)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Make glibc reuse large freed blocks instead of unmapping them (see the module docs).

    Process-wide; returns whether it applied (False off glibc).
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, _HEAP_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _HEAP_BYTES)
    )


def release_free_memory() -> bool:
    """Give the free pages of every glibc arena back to the kernel (``malloc_trim(0)``).

    Costs a few milliseconds, and the next task page-faults its working memory in once
    again (not once per op, as without :func:`keep_freed_memory`). Returns whether
    memory was released (False off glibc, or when nothing was free).
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
