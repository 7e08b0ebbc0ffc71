"""The live status of a ticking node: every STATUS_INTERVAL one `stats` line and one console line.

Tick lateness since the previous line (node.ticker's streaming histogram), the rate over that
window, the counters and the peers connected. Read-only on the node core (node.core).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.interfaces import Handle
from node.schema import STATS
from node.ticker import DeadlineTicker, LatenessHistogram

if TYPE_CHECKING:
    from node.core import NodeCore


class StatusLines:
    def __init__(self, core: NodeCore, ticker: DeadlineTicker) -> None:
        self.core = core
        self.ticker = ticker
        self.interval = core.config.status_interval  # 0: no status lines
        self._window = (ticker.t0, 0)  # (scheduler time, ticks) at the last status line
        self._handle: Handle | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._handle = self.core.scheduler.call_at(self.ticker.t0 + self.interval, self._line)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _line(self) -> None:
        core, ticker = self.core, self.ticker
        now = core.scheduler.now()
        since, ticks_then = self._window
        ticks = ticker.index
        window_rate = (ticks - ticks_then) / (now - since) if now > since else 0.0
        late = ticker.lateness
        p50, p99, worst = late.percentile_ms(0.5), late.percentile_ms(0.99), late.max_s * 1000
        queue, counts, peers = len(core.model.queue), core.counts, core.transport.links.count()
        values = (
            ticks,
            round(now - ticker.t0, 3),
            round(window_rate, 3),
            p50,
            p99,
            round(worst, 3),
            counts["receive"],
            counts["send"],
            counts["internal"],
            counts["drop"],
            peers,
        )
        core.note(STATS, values)
        core.say(
            f"{now - ticker.t0:6.0f}s  rate {core.rate}/s ({window_rate:.2f})  tick {ticks}  "
            f"clock {core.model.clock.value}  queue {queue}  recv {counts['receive']} "
            f"send {counts['send']} int {counts['internal']} drop {counts['drop']}  "
            f"late p50 {p50:.2f} p99 {p99:.2f} ms (histogram)  peers {peers}/{len(core.config.peers)}"
        )
        ticker.lateness = LatenessHistogram()
        self._window = (now, ticks)
        self._handle = core.scheduler.call_at(now + self.interval, self._line)
