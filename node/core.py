"""A node's whole behaviour, once: start, connect, tick, drain, stop, in real or virtual time.

`NodeCore._life` is the story top to bottom. Everything time- or I/O-shaped is injected
(node.interfaces): a Scheduler (asyncio's loop, or the simulator's event heap), a Transport
(sockets, or the simulator's network with delays and faults), a LogSink (a JSON-lines file, or
the simulator's writer) and a Console. The tick rule itself is the pure model (node.model); the
deadlines are node.ticker's. Stop requests (signals, in real time) only set the reason; the story
then finishes the current step and drains like any other end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from node import __version__
from node.channel import Channels
from node.clock import NO_BUG, RESET_ON_RESTART, ClockOverflowError
from node.config import NodeConfig
from node.interfaces import Console, LogSink, LogWriteError, Scheduler, Transport, TransportEvents
from node.linkrules import FINISHED, UNSENT_AT_STOP, unacked_limit
from node.model import Internal, Message, NodeModel, Receive, draw_rate, node_seed
from node.process import Process, Story, Wait
from node.schema import (
    CONNECTED,
    DISCONNECTED,
    DROP,
    FORMAT,
    INTERNAL,
    QUEUE_FULL,
    RECEIVE,
    REJECT,
    SEND,
    STALL,
    START,
    STOP,
    Event,
)
from node.status import StatusLines
from node.ticker import WAKE_INTERVAL, DeadlineTicker, ms, tick_count

SIGNAL_DRAIN_SECONDS = 0.5  # on SIGTERM, peers are stopping too: their EOFs come at once
EXIT_OK, EXIT_FAILED = 0, 1


class NodeCore:
    """One model machine: its configuration, model, counters and the steps of its life."""

    def __init__(
        self,
        config: NodeConfig,
        run_id: str,
        run_seed: int,
        *,
        scheduler: Scheduler,
        transport: Callable[[TransportEvents, Channels], Transport],
        log: LogSink,
        console: Console,
        on_exit: Callable[[int], None],
        pid: int = 0,
        time_kind: str = "real",
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.run_seed = run_seed
        self.seed = node_seed(run_seed, config.node_id)
        rng = random.Random(self.seed)
        # Always draw, so that pinning CLOCK_RATE leaves the node's event draws unchanged.
        self.drawn_rate = draw_rate(rng, config.min_clock_rate, config.max_clock_rate)
        self.rate = config.clock_rate or self.drawn_rate
        self.scheduler = scheduler
        self.log = log
        self.console = console
        self.pid = pid
        self.time_kind = time_kind
        # A restarted node continues its clock from its own log (a Lamport clock never runs
        # backwards on one node) and ends with the run its log says started (README: restarts).
        resume = log.resume()
        # The planted bug reset-on-restart forgets the clock (and only the clock) on a restart.
        self.resumed_clock = 0 if config.clock_bug == RESET_ON_RESTART else resume.clock
        self.run_started_at = resume.first_tick_ts
        self.model = NodeModel(
            config.peer_ids, config.max_event_num, rng, clock=self.resumed_clock, clock_bug=config.clock_bug
        )
        # What it took and what it may have to send again, from the same log (node.channel).
        self.channels = Channels.restore(
            config.peer_ids,
            resume.taken,
            resume.sent,
            reliable=config.delivery == "reliable",
            limit=unacked_limit(config.max_queue),
        )
        self._inbox = self.channels.inbox
        self.transport = transport(self, self.channels)
        self._acknowledge = self.transport.acknowledge
        self.counts = {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
        self.stop_reason: str | None = None
        self.exit_code = EXIT_OK
        self.ticker: DeadlineTicker | None = None
        self.status: StatusLines | None = None
        self.unfinished: list[str] = []  # peers still sending when the drain ended
        self.ended = False  # after the stop line: whatever the transport still reports is not logged
        self._on_exit = on_exit
        self._reading_paused = False
        self._wall = scheduler.wall
        self._write = log.write
        self._max_queue = config.max_queue
        self._queue_limit = config.max_queue  # where reading pauses (raised for the drain)
        self._drain_until = float("inf")
        self._process = Process(scheduler, self._life(), self._crashed)

    def start(self) -> None:
        self._process.start()

    # -- the life of a node ---------------------------------------------------------------------
    def _life(self) -> Story:
        self.log_start()
        self.transport.start()
        self.say(f"rate {self.rate}/s, port {self.config.port}, connecting to {', '.join(self.config.peer_ids)}")
        if self.config.clock_bug != NO_BUG:
            self.say(f"PLANTED CLOCK BUG: {self.config.clock_bug} (CLOCK_BUG): this node breaks Lamport's rules")
        timeout = self.config.start_timeout
        # The start barrier is the run's; a restarted node rejoins it at once (under reliable
        # delivery what it sends before its links are back waits for them: node.channel).
        if self.run_started_at is None:
            connected = yield Wait(lambda: self.stop_reason is not None or self.transport.links.all(), timeout)
            if self.stop_reason is None and not connected:
                missing = "; ".join(f"{peer}: {why}" for peer, why in self.transport.missing().items())
                self._fatal("start-timeout", f"not all peers connected within {timeout:g} s: {missing}")
        if self.stop_reason is None:
            yield from self._tick()
        # Drain: stop sending (half-close) and collect what peers still send until they do the same;
        # a stop request meanwhile (SIGTERM) shortens what is left of it.
        self.transport.finish_sending()
        # No tick will shrink the queue now: read what peers still send (it counts as `left`), up
        # to all that honest peers can have unacknowledged; a flood stays bounded.
        self._queue_limit = unacked_limit(self.config.max_queue) * len(self.config.peers)
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        self._drain_until = self.scheduler.now() + self._drain_seconds()
        while self.transport.still_sending():
            until = self._drain_until
            left = until - self.scheduler.now()
            if left <= 0:
                break
            yield Wait(partial(self._drain_over, until), left if left != math.inf else None)
        self.unfinished = self.transport.still_sending()
        for peer, value in self.transport.close():
            self.frame_dropped(peer, value, UNSENT_AT_STOP)
        try:
            self.log_stop()
        except LogWriteError as error:  # the log broke for good: say so, and still exit
            self.exit_code = EXIT_FAILED
            self.console.error(f"{self.config.node_id}: cannot write its stop line: {error}")
        self.log.close()
        self._on_exit(self.exit_code)

    def _tick(self) -> Story:
        count = tick_count(self.rate, self.config.duration)
        if count is not None and self.run_started_at is not None:  # a restart: only what is left
            left = self.run_started_at + self.config.duration - self._wall()
            count = tick_count(self.rate, left) if left > 0 else 0
            self.say(f"rejoining the run that started at {self.run_started_at:.3f}: {count} ticks left")
            if count == 0:
                self.stop_reason = "duration"
                return
        now = self.scheduler.now()
        # Waking up costs CPU only in real time: the simulator wakes for every tick (none late).
        wake = WAKE_INTERVAL if self.time_kind == "real" else 0.0
        self.ticker = DeadlineTicker(
            self.scheduler,
            self.rate,
            self.tick,
            self._on_stall,
            self._process.wake,
            t0=now,
            count=count,
            wake_interval=wake,
        )
        planned = "until stopped" if count is None else f"{count} ticks in {self.config.duration:g} s"
        start = "ticking" if self.run_started_at is not None else "all peers connected: ticking"
        self.say(f"{start} at {self.rate}/s, {planned}")
        self.ticker.start()
        self.status = StatusLines(self, self.ticker)
        self.status.start()
        ticker = self.ticker
        yield Wait(lambda: ticker.finished)
        self.status.stop()
        if self.stop_reason is None:
            self.stop_reason = "duration"

    def _drain_over(self, until: float) -> bool:
        return not self.transport.still_sending() or self._drain_until < until

    def _drain_seconds(self) -> float:
        if self.stop_reason == "duration":
            return self.config.drain_timeout
        if self.stop_reason is not None and self.stop_reason.startswith("signal"):
            return min(self.config.drain_timeout, SIGNAL_DRAIN_SECONDS)
        return 0.0

    # -- start and stop lines -------------------------------------------------------------------
    def log_start(self) -> None:
        values = (
            self.rate,
            self.drawn_rate,
            self.run_seed,
            self.seed,
            self.resumed_clock,
            self.run_id,
            __version__,
            self.pid,
            self.config.as_log_fields(),
            FORMAT,
            self.time_kind,
        )
        self._write(START, self._wall(), self.model.clock.value, 0, values)

    def log_stop(self) -> None:
        counts, queue = self.counts, len(self.model.queue)
        reason = self.stop_reason or "error"
        ticks = counts["receive"] + counts["send"] + counts["internal"]
        values = (
            reason,
            self.model.queued_by_sender(),
            ticks,
            counts["receive"],
            counts["send"],
            counts["internal"],
            counts["drop"],
            counts["skipped"],
            self.unfinished,
            self.channels.unacked(),
            self.channels.acked(),
        )
        self.ended = True  # whatever happens now, nothing follows the stop line
        self._write(STOP, self._wall(), self.model.clock.value, queue, values)
        self.say(
            f"stopped ({reason}): {ticks} ticks, clock {self.model.clock.value}, queue {queue}, "
            f"received {counts['receive']}, sent {counts['send']}, internal {counts['internal']}, "
            f"dropped {counts['drop']}"
        )

    # -- one tick (the hot path) ----------------------------------------------------------------
    def tick(self, index: int, late: float) -> None:
        """One tick; a failure ends the node loudly (never an exception into the ticker, which
        would leave nothing to tick again and the node waiting forever). One function, not a
        guarded call of another: a call more per tick costs the simulator a few percent."""
        try:
            ts = self._wall()
            model = self.model
            outcome = model.tick()
            late_ms = int(late * 1_000_000 + 0.5) / 1000  # node.ticker.ms, inlined: once per tick
            counts = self.counts
            if isinstance(outcome, Internal):  # the most frequent outcome first
                counts["internal"] += 1
                self._write(INTERNAL, ts, outcome.clock, len(model.queue), (index, late_ms))
            elif isinstance(outcome, Receive):
                message = outcome.message
                sender = message.sender
                counts["receive"] += 1
                values: tuple[Any, ...] = (index, late_ms, sender, message.value, message.enqueued_at)
                self._write(RECEIVE, ts, outcome.clock, outcome.queue, values)
                self._inbox.took(sender, message.value)  # logged: now it may be acknowledged
                self._acknowledge(sender)
                if self._reading_paused and outcome.queue < self._max_queue:
                    self._reading_paused = False
                    self.transport.resume_reading()
            else:
                value = outcome.value
                counts["send"] += 1
                # Write-ahead: the send is logged before the frame leaves, so no message exists
                # that the log does not know of.
                self._write(SEND, ts, outcome.clock, len(model.queue), (index, late_ms, outcome.to, value))
                send = self.transport.send
                for peer in outcome.to:
                    why = send(peer, value)
                    if why is not None:
                        self.frame_dropped(peer, value, why)
        except ClockOverflowError as error:
            self._fatal("clock-overflow", str(error))
        except LogWriteError as error:  # write-ahead: the frame of an unlogged send never leaves
            self._fatal("log-error", str(error))
        except Exception as error:
            self._fatal("error", f"internal error in a tick: {type(error).__name__}: {error}")

    def _on_stall(self, first: int, skipped: int, late: float) -> None:
        self.counts["skipped"] += skipped
        values = (first, skipped, ms(late))
        self.note(STALL, values)
        self.say(f"stalled {late:.1f} s (paused?): skipped {skipped} ticks")

    # -- what the transport reports (node.interfaces.TransportEvents) -------------------------
    def message_arrived(self, peer: str, value: int) -> None:
        if not self._inbox.accept(peer, value):  # sent again after a reconnect: already queued or taken
            return
        queue = self.model.deliver(Message(peer, value, self._wall()))
        if queue >= self._queue_limit and not self._reading_paused and not self.ended:
            self._reading_paused = True
            self.transport.pause_reading()
            self.note(QUEUE_FULL, (self._queue_limit,))
            self.say(f"queue reached {self._queue_limit} (MAX_QUEUE, or the drain's bound): not reading from peers")

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None:
        if self.ended:
            return
        if connected:
            self.note(CONNECTED, (peer,))
        else:
            self.note(DISCONNECTED, (peer, direction, reason))
            ticking = self.ticker is not None and not self.ticker.finished
            if ticking and direction == "outbound":
                kept = "kept to send again" if self.config.delivery == "reliable" else "dropped"
                self.say(f"lost {peer} ({reason}); sends to it are {kept} until it is back")
            elif ticking and reason != FINISHED:
                self.say(f"{peer} stopped sending to us ({reason})")
        self._process.wake()

    def links_changed(self) -> None:
        self._process.wake()

    def connection_rejected(self, address: str, reason: str) -> None:
        if self.ended:
            return
        values = (address, reason)
        self.note(REJECT, values)
        self.say(f"rejected connection from {address}: {reason}")

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        if self.ended:
            return
        self.counts["drop"] += 1
        self.note(DROP, (peer, value, reason))

    def transport_failed(self, message: str) -> None:
        self._fatal("error", message)

    # -- stop requests, failures -----------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        elif reason.startswith("signal"):  # already ending (draining): a signal hurries it
            self._drain_until = min(self._drain_until, self.scheduler.now() + SIGNAL_DRAIN_SECONDS)
        if self.ticker is not None:
            self.ticker.stop()
        self._process.wake()

    def note(self, event: Event, values: tuple[Any, ...]) -> None:
        """A line that is not a tick's, with the clock and queue as they are now (none after stop)."""
        if self.ended:
            return
        try:
            self._write(event, self._wall(), self.model.clock.value, len(self.model.queue), values)
        except LogWriteError as error:
            self._fatal("log-error", str(error))

    def _fatal(self, reason: str, message: str) -> None:
        if self.exit_code != EXIT_FAILED:  # the first failure is the one worth a line
            self.exit_code = EXIT_FAILED
            self.console.error(f"{self.config.node_id}: {message}")
        self.request_stop(reason)

    def _crashed(self, error: BaseException) -> None:
        """A bug in the story itself: say so in one line and exit, never hang."""
        self.exit_code = EXIT_FAILED
        self.console.error(f"{self.config.node_id}: internal error: {type(error).__name__}: {error}")
        self._on_exit(self.exit_code)

    def say(self, text: str) -> None:
        self.console.say(text)
