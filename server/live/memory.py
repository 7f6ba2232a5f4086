"""The server-wide memory budget for runs' histories.

Each session's history is bounded on its own (``max_history_mb``); all of them
together are bounded too (``max_total_history_mb``), since ``max_sessions``
full histories would not fit in the machine. Once a second the clock asks
:func:`enforce` to look: while the sum is over the budget, the largest
histories are halved (their checkpoints thinned — a far seek replays more, no
run is lost), so memory stays bounded in bytes whatever the learners do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from server.run.history import History

log = logging.getLogger("backprop_lab.memory")

#: a history is never shrunk below this (its first checkpoint and series fit)
MIN_HISTORY_BYTES = 256 * 1024


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
