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

Code pages count too. A CUDA build of torch loads its GPU libraries at import (cuBLAS,
NVRTC, nvJitLink...), and their static initialisers fault in code pages all over them:
on a machine without a GPU, 200-220 MB of a worker's resident memory was code it never
runs again. :func:`release_library_pages` drops such pages from the process's page
tables (``MADV_DONTNEED`` on read-only, unmodified mappings: a page touched again is
read back from the file, identical).

No torch here: a task that never rendered calls this without loading the engine.
"""
import ctypes
import ctypes.util
import functools
import re

#: glibc ``mallopt`` parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BYTES = 1 << 30
_MADV_DONTNEED = 4


@functools.cache
def _glibc():
    """glibc, or None (musl, macOS: their allocators have no such knobs)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
            return None
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        return libc
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


def release_library_pages(names: re.Pattern) -> float:
    """Drop the resident pages of the shared libraries whose file name ``names`` matches
    (``re.search``) from this process's page tables; returns how many MB were resident.

    Only mappings that cannot hold a change are touched: not writable, with no private
    dirty page (code, read-only data; not the relocated parts). Dropping one only costs a
    page fault if it is used again. Linux with glibc only (``/proc/self/smaps``); 0 elsewhere.
    """
    libc = _glibc()
    if libc is None:
        return 0.0
    try:
        with open("/proc/self/smaps") as smaps:
            lines = smaps.read().splitlines()
    except OSError:
        return 0.0
    mappings = []
    for line in lines:
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's header: range, permissions, offset, device, inode, path
            start, end = (int(address, 16) for address in fields[0].split("-"))
            name = fields[5].rpartition("/")[2] if len(fields) > 5 else ""
            mappings.append({"start": start, "end": end, "fits": "w" not in fields[1] and bool(names.search(name)),
                             "Rss": 0, "Private_Dirty": 0})
        elif fields[0] in ("Rss:", "Private_Dirty:"):
            mappings[-1][fields[0][:-1]] = int(fields[1])
    released = 0.0
    for m in mappings:
        if m["fits"] and m["Rss"] and not m["Private_Dirty"]:
            if libc.madvise(m["start"], m["end"] - m["start"], _MADV_DONTNEED) == 0:
                released += m["Rss"] / 1024
    return released
