"""A node's whole behaviour, once: start, connect, tick, drain, stop, in real or virtual time.

`NodeCore._life` is the story top to bottom. Everything time- or I/O-shaped is injected
(node.interfaces): a Scheduler (asyncio's loop, or the simulator's event heap), a Transport
(sockets, or the simulator's network with delays and faults), a LogSink (a JSON-lines file, or
the simulator's writer) and a Console. The tick rule itself is the pure model (node.model); the
deadlines are node.ticker's. Stop requests (signals, in real time) only set the reason; the story
then finishes the current step and drains like any other end.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from node import __version__
from node.clock import ClockOverflowError
from node.config import NodeConfig
from node.interfaces import Console, Handle, LogSink, Scheduler, Transport, TransportEvents
from node.linkrules import FINISHED, UNSENT_AT_STOP
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
    STATS,
    STOP,
)
from node.ticker import DeadlineTicker, LatenessHistogram, ms, tick_count

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
        transport: Callable[[TransportEvents], Transport],
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
        self.resumed_clock = resume.clock
        self.run_started_at = resume.first_tick_ts
        self.model = NodeModel(config.peer_ids, config.max_event_num, rng, clock=self.resumed_clock)
        self.transport = transport(self)
        self.counts = {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
        self.stop_reason: str | None = None
        self.exit_code = EXIT_OK
        self.ticker: DeadlineTicker | None = None
        self.unfinished: list[str] = []  # peers still sending when the drain ended
        self.ended = False  # after the stop line: whatever the transport still reports is not logged
        self._on_exit = on_exit
        self._reading_paused = False
        self._status_handle: Handle | None = None
        self._window = (0.0, 0)  # (scheduler time, ticks) at the last status line
        self._wall = scheduler.wall
        self._write = log.write
        self._max_queue = config.max_queue
        self._process = Process(scheduler, self._life(), self._crashed)

    def start(self) -> None:
        self._process.start()

    # -- the life of a node ---------------------------------------------------------------------
    def _life(self) -> Story:
        self.log_start()
        self.transport.start()
        self._say(f"rate {self.rate}/s, port {self.config.port}, connecting to {', '.join(self.config.peer_ids)}")
        timeout = self.config.start_timeout
        connected = yield Wait(lambda: self.stop_reason is not None or self.transport.links.all(), timeout)
        if self.stop_reason is None and not connected:
            missing = "; ".join(f"{peer}: {why}" for peer, why in self.transport.missing().items())
            self._fatal("start-timeout", f"not all peers connected within {timeout:g} s: {missing}")
        if self.stop_reason is None:
            yield from self._tick()
        # Drain: stop sending (half-close) and collect what peers still send until they do the same.
        self.transport.finish_sending()
        yield Wait(lambda: not self.transport.still_sending(), self._drain_seconds())
        self.unfinished = self.transport.still_sending()
        for peer, value in self.transport.close():
            self.frame_dropped(peer, value, UNSENT_AT_STOP)
        self.log_stop()
        self.log.close()
        self._on_exit(self.exit_code)

    def _tick(self) -> Story:
        count = tick_count(self.rate, self.config.duration)
        if count is not None and self.run_started_at is not None:  # a restart: only what is left
            left = self.run_started_at + self.config.duration - self._wall()
            count = tick_count(self.rate, left) if left > 0 else 0
            self._say(f"rejoining the run that started at {self.run_started_at:.3f}: {count} ticks left")
            if count == 0:
                self.stop_reason = "duration"
                return
        now = self.scheduler.now()
        self.ticker = DeadlineTicker(
            self.scheduler, self.rate, self.tick, self._on_stall, self._process.wake, t0=now, count=count
        )
        self._window = (now, 0)
        planned = "until stopped" if count is None else f"{count} ticks in {self.config.duration:g} s"
        self._say(f"all peers connected: ticking at {self.rate}/s, {planned}")
        self.ticker.start()
        if self.config.status_interval > 0:
            self._status_handle = self.scheduler.call_at(now + self.config.status_interval, self._status)
        ticker = self.ticker
        yield Wait(lambda: ticker.finished)
        if self._status_handle is not None:
            self._status_handle.cancel()
        if self.stop_reason is None:
            self.stop_reason = "duration"

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
        )
        self._write(STOP, self._wall(), self.model.clock.value, queue, values)
        self.ended = True
        self._say(
            f"stopped ({reason}): {ticks} ticks, clock {self.model.clock.value}, queue {queue}, "
            f"received {counts['receive']}, sent {counts['send']}, internal {counts['internal']}, "
            f"dropped {counts['drop']}"
        )

    # -- one tick (the hot path) ----------------------------------------------------------------
    def tick(self, index: int, late: float) -> None:
        ts = self._wall()
        model = self.model
        try:
            outcome = model.tick()
        except ClockOverflowError as error:
            self._fatal("clock-overflow", str(error))
            return
        late_ms = int(late * 1_000_000 + 0.5) / 1000  # node.ticker.ms, inlined: once per tick
        counts = self.counts
        if isinstance(outcome, Internal):  # the most frequent outcome first
            counts["internal"] += 1
            self._write(INTERNAL, ts, outcome.clock, len(model.queue), (index, late_ms))
        elif isinstance(outcome, Receive):
            message = outcome.message
            counts["receive"] += 1
            values: tuple[Any, ...] = (index, late_ms, message.sender, message.value, message.enqueued_at)
            self._write(RECEIVE, ts, outcome.clock, outcome.queue, values)
            if self._reading_paused and outcome.queue < self._max_queue:
                self._reading_paused = False
                self.transport.resume_reading()
        else:
            clock = outcome.clock
            counts["send"] += 1
            # Write-ahead: the send is logged before the frame leaves, so no message exists that
            # the log does not know of.
            self._write(SEND, ts, clock, len(model.queue), (index, late_ms, outcome.to, clock))
            send = self.transport.send
            for peer in outcome.to:
                why = send(peer, clock)
                if why is not None:
                    self.frame_dropped(peer, clock, why)

    def _on_stall(self, first: int, skipped: int, late: float) -> None:
        self.counts["skipped"] += skipped
        values = (first, skipped, ms(late))
        self._write(STALL, self._wall(), self.model.clock.value, len(self.model.queue), values)
        self._say(f"stalled {late:.1f} s (paused?): skipped {skipped} ticks")

    # -- what the transport reports (node.interfaces.TransportEvents) -------------------------
    def message_arrived(self, peer: str, value: int) -> None:
        queue = self.model.deliver(Message(peer, value, self._wall()))
        if queue >= self._max_queue and not self._reading_paused and not self.ended:
            self._reading_paused = True
            self.transport.pause_reading()
            self._write(QUEUE_FULL, self._wall(), self.model.clock.value, queue, (self.config.max_queue,))
            self._say(f"queue reached MAX_QUEUE={self.config.max_queue}: not reading from peers until it shrinks")

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None:
        if self.ended:
            return
        clock, queue = self.model.clock.value, len(self.model.queue)
        if connected:
            self._write(CONNECTED, self._wall(), clock, queue, (peer,))
        else:
            self._write(DISCONNECTED, self._wall(), clock, queue, (peer, direction, reason))
            ticking = self.ticker is not None and not self.ticker.finished
            if ticking and direction == "outbound":
                self._say(f"lost {peer} ({reason}); sends to it are dropped until it is back")
            elif ticking and reason != FINISHED:
                self._say(f"{peer} stopped sending to us ({reason})")
        self._process.wake()

    def links_changed(self) -> None:
        self._process.wake()

    def connection_rejected(self, address: str, reason: str) -> None:
        if self.ended:
            return
        values = (address, reason)
        self._write(REJECT, self._wall(), self.model.clock.value, len(self.model.queue), values)
        self._say(f"rejected connection from {address}: {reason}")

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        if self.ended:
            return
        self.counts["drop"] += 1
        self._write(DROP, self._wall(), self.model.clock.value, len(self.model.queue), (peer, value, reason))

    def transport_failed(self, message: str) -> None:
        self._fatal("error", message)

    # -- status, stop requests, failures ----------------------------------------------------------
    def _status(self) -> None:
        ticker = self.ticker
        assert ticker is not None
        now = self.scheduler.now()
        since, ticks_then = self._window
        ticks = ticker.index
        window_rate = (ticks - ticks_then) / (now - since) if now > since else 0.0
        late = ticker.lateness
        p50, p99, worst = late.percentile_ms(0.5), late.percentile_ms(0.99), late.max_s * 1000
        queue, counts, peers = len(self.model.queue), self.counts, self.transport.links.count()
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
        self._write(STATS, self._wall(), self.model.clock.value, queue, values)
        self._say(
            f"{now - ticker.t0:6.0f}s  rate {self.rate}/s ({window_rate:.2f})  tick {ticks}  "
            f"clock {self.model.clock.value}  queue {queue}  recv {counts['receive']} "
            f"send {counts['send']} int {counts['internal']} drop {counts['drop']}  "
            f"late p50 {p50:.2f} p99 {p99:.2f} ms (histogram)  peers {peers}/{len(self.config.peers)}"
        )
        ticker.lateness = LatenessHistogram()
        self._window = (now, ticks)
        self._status_handle = self.scheduler.call_at(now + self.config.status_interval, self._status)

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.ticker is not None:
            self.ticker.stop()
        self._process.wake()

    def _fatal(self, reason: str, message: str) -> None:
        self.exit_code = EXIT_FAILED
        self.console.error(f"{self.config.node_id}: {message}")
        self.request_stop(reason)

    def _crashed(self, error: BaseException) -> None:
        """A bug in the story itself: say so in one line and exit, never hang."""
        self.exit_code = EXIT_FAILED
        self.console.error(f"{self.config.node_id}: internal error: {type(error).__name__}: {error}")
        self._on_exit(self.exit_code)

    def _say(self, text: str) -> None:
        self.console.say(text)
