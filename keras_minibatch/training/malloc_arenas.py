"""Fewer glibc malloc arenas for a command's process: a lower, steadier peak of memory.

glibc gives threads that allocate at the same time arenas of their own (up to
eight per core), and each keeps freed memory for reuse. TensorFlow's many
threads therefore hold more memory the more of them run at once, so a
training's peak memory varies with the load of the machine. Two arenas bound
that; training was measured no slower with them.

A process-wide setting: only the command line applies it, before TensorFlow is
imported and starts its threads; a script importing the library keeps its
allocator as it is. Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_malloc_arenas(max_arenas: int = 2) -> bool:
    """Caps glibc's malloc arenas at `max_arenas`, unless `MALLOC_ARENA_MAX` is set.

    Call it before TensorFlow is imported: threads that allocated before keep
    their arenas. A user's own `MALLOC_ARENA_MAX` wins; elsewhere than Linux
    with glibc this does nothing.

    Args:
        max_arenas: The most arenas glibc may make. Defaults to `2`.

    Returns:
        Whether the cap was applied.

    Raises:
        ValueError: when `max_arenas` is not a whole number >= 1.
    """
    if not isinstance(max_arenas, int) or isinstance(max_arenas, bool) or max_arenas < 1:
        raise ValueError(f"`max_arenas` ({max_arenas!r}) must be a whole number >= 1")
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl has no arenas to cap.
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(_M_ARENA_MAX, max_arenas) == 1
