"""The server-wide memory budget for runs' histories.

Each session's history is bounded on its own (``max_history_mb``); all of them
together are bounded too (``max_total_history_mb``), since ``max_sessions``
full histories would not fit in the machine. Once a second the clock asks
:func:`enforce` to look: while the sum is over the budget, the largest
histories are halved (their checkpoints thinned — a far seek replays more, no
run is lost), so memory stays bounded in bytes whatever the learners do.

Freed memory goes back to the system. A freed session's arrays return to
glibc's allocator, which keeps most of them (freed chunks inside its heaps
and arenas): a server that had held twelve sessions of the largest network
stayed at 396 MB long after they were all freed, against 74 MB idle.
:func:`release` asks glibc to hand free pages back (``malloc_trim``); the clock
calls it after the reaper frees sessions, at most every
:data:`RELEASE_EVERY_S`. Elsewhere than glibc it does nothing.

glibc's thresholds are fixed at start (:func:`tune`). By default they move: freeing
a block that had pages of its own (a large frame's text, several MB) raises the
size from which a block gets pages of its own to that block's size, and the
free space a thread's heap keeps at its top to twice that (up to 64 MB). The
engine thread allocates from a heap of its own, and ``malloc_trim`` gives back
free chunks inside a heap but not the top of a thread's heap: measured with
``bench/abuse.py --wait-gone``, once a big network's session was freed the engine
thread's heap still held 17 MB resident with 20 MB of it free, and the server
sat at 100 MB against 82 idle. With :data:`MMAP_THRESHOLD` and
:data:`TRIM_THRESHOLD` fixed, a freed thread heap's top goes back as it is freed.

Before the trim it runs the cyclic collector, at most every
:data:`COLLECT_EVERY_S` (a full collection holds the engine thread 15–40 ms):
the server holds the collector back (``GC_THRESHOLD`` in server/app.py), and
what a closed connection's tasks and tracebacks keep in reference cycles (a
big network's last frames among them) would otherwise wait for it. Measured
with ``bench/abuse.py --wait-gone`` once a fork row's sessions were all freed:
110 MB without it, 98 with it, against 83 idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Iterable

from server.run.history import History

log = logging.getLogger("backprop_lab.memory")

#: a history is never shrunk below this (its first checkpoint and series fit)
MIN_HISTORY_BYTES = 256 * 1024
#: :func:`release` does its work at most this often (a trim walks the free lists)
RELEASE_EVERY_S = 5.0
#: and runs the cyclic collector first at most this often
COLLECT_EVERY_S = 30.0


#: a block at least this large gets pages of its own, given back when it is freed
#: (a large frame's text; not a network's arrays: 128 × 133 float64 is 136 KB)
MMAP_THRESHOLD = 1 << 20
#: a heap keeps at most this much free memory at its top; more goes back at a free
TRIM_THRESHOLD = 4 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _libc(name: str, argtypes: list[type], restype: type) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's function ``name``, or None on another C library."""
    lib = ctypes.util.find_library("c")
    try:
        fn = getattr(ctypes.CDLL(lib), name) if lib else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = argtypes, restype
    return fn


_TRIM = _libc("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
_MALLOPT = _libc("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)


def tune() -> bool:
    """Fix glibc's mmap and trim thresholds (:data:`MMAP_THRESHOLD`,
    :data:`TRIM_THRESHOLD`) so freed memory of every thread's heap goes back to the
    system (see the module's docstring); whether it was done (not on another C
    library). Called once at start; costs nothing measurable per iteration (the
    largest network's step 849 against 858 µs, the default's 44 against 44)."""
    if _MALLOPT is None:
        return False
    return bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and _MALLOPT(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


_last_release = -RELEASE_EVERY_S
_last_collect = -COLLECT_EVERY_S
_pending = False  # a release was asked for too soon after the last: due later


def release(now: float | None = None) -> bool:
    """Give freed heap memory back to the system (glibc ``malloc_trim(0)``), unless
    that was done less than :data:`RELEASE_EVERY_S` ago (then it is due later:
    :func:`release_due`); whether it ran."""
    global _last_release, _last_collect, _pending
    now = time.monotonic() if now is None else now
    if _TRIM is None:
        return False
    if now - _last_release < RELEASE_EVERY_S:
        _pending = True
        return False
    _pending = False
    _last_release = now
    t0 = time.perf_counter()
    if now - _last_collect >= COLLECT_EVERY_S:
        _last_collect = now
        gc.collect()
    _TRIM(0)
    log.debug("memory released", extra={"ms": round((time.perf_counter() - t0) * 1e3, 1)})
    return True


def enforce(histories: Iterable[History], budget_bytes: int) -> int:
    """Shrink the largest histories until all together hold at most ``budget_bytes``
    (or each is at its floor); returns the bytes held afterwards."""
    sized = [(h.nbytes(), h) for h in histories]
    total = sum(n for n, _ in sized)
    if total <= budget_bytes:
        return total
    sized.sort(key=lambda p: p[0], reverse=True)
    for n, h in sized:
        if total <= budget_bytes:
            break
        if n <= MIN_HISTORY_BYTES:
            continue
        h.shrink(max(MIN_HISTORY_BYTES, n // 2))
        after = h.nbytes()
        total -= n - after
    log.info("histories shrunk", extra={"bytes": total, "budget": budget_bytes})
    return total


def release_due(now: float | None = None) -> bool:
    """A release asked for too soon, done now if its time has come (the clock asks
    once a second); whether it ran."""
    return _pending and release(now)
