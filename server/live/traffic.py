"""What this process sent its clients, for ``/metrics``.

Each connection's :class:`~server.live.outbox.Outbox` counts the messages and
frames it handed to its send loop and the frames it dropped (a slow reader's
coalesced frames); when a connection ends its counts are *retired* here, so
the totals only grow (Prometheus counters) however many connections came and
went. Bytes are counted by the send loop itself, as they go out. Everything
here is touched on the event loop only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from server.live.outbox import Outbox


@dataclass
class Traffic:
    """Totals over every connection of the process, closed ones included."""

    bytes_sent: int = 0  # JSON text handed to the sockets (UTF-8 bytes ≈ characters)
    retired_messages: int = 0
    retired_frames: int = 0
    retired_dropped: int = 0

    def retire(self, ob: Outbox) -> None:
        """Add a closed connection's counts to the totals."""
        self.retired_messages += ob.sent
        self.retired_frames += ob.frames
        self.retired_dropped += ob.dropped

    def totals(self, live: Iterable[Outbox]) -> dict[str, int]:
        """Messages and frames sent, frames dropped and bytes queued: the retired
        counts plus those of the connections still open (``live``)."""
        live = list(live)
        return {
            "messages": self.retired_messages + sum(ob.sent for ob in live),
            "frames": self.retired_frames + sum(ob.frames for ob in live),
            "dropped": self.retired_dropped + sum(ob.dropped for ob in live),
            "queued_bytes": sum(ob.bytes for ob in live),
            "bytes": self.bytes_sent,
        }
