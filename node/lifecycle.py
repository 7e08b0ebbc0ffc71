"""A node's life, top to bottom: start, connect, tick, drain, stop.

`Node.run` is the whole story; everything it calls is either the pure model (node.model),
the timing layer (node.ticker) or the network layer (node.network). Signal handlers only
request a stop; the lifecycle then finishes the current step and drains like any other end.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from node import __version__
from node.clock import ClockOverflowError
from node.config import NodeConfig
from node.eventlog import EventLog, end_torn_line, read_first_tick, read_last_record
from node.model import Message, NodeModel, Receive, Send, draw_rate, node_seed
from node.network import FINISHED, Network
from node.records import drop_fields, internal_fields, receive_fields, send_fields, start_fields, stop_fields
from node.ticker import DeadlineTicker, LatenessHistogram, tick_count
from node.wire import encode_frame

SIGNAL_DRAIN_SECONDS = 0.5  # on SIGTERM, peers are stopping too: their EOFs come at once
EXIT_OK, EXIT_FAILED = 0, 1


class Node:
    """One model machine: its configuration, model, log and links, and the steps of its life."""

    def __init__(
        self,
        config: NodeConfig,
        run_dir: Path,
        run_seed: int,
        *,
        out: TextIO | None = None,
        listen_host: str = "0.0.0.0",
        handle_signals: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.run_seed = run_seed
        self.seed = node_seed(run_seed, config.node_id)
        rng = random.Random(self.seed)
        # Always draw, so that pinning CLOCK_RATE leaves the node's event draws unchanged.
        self.drawn_rate = draw_rate(rng, config.min_clock_rate, config.max_clock_rate)
        self.rate = config.clock_rate or self.drawn_rate
        self.log_path = run_dir / f"{config.node_id}.jsonl"
        # A restarted node continues its clock from its last logged value: a Lamport clock
        # must never run backwards on one node (README: restarts).
        previous = read_last_record(self.log_path)
        self.resumed_clock = int(previous["clock"]) if previous else 0
        # ... and ends with the run: the first tick of its log marks when the run started.
        first_tick = read_first_tick(self.log_path) if previous else None
        self.run_started_at: float | None = float(first_tick["ts"]) if first_tick else None
        end_torn_line(self.log_path)
        self.model = NodeModel(config.peer_ids, config.max_event_num, rng, clock=self.resumed_clock)
        self.log = EventLog(self.log_path, config.node_id)
        self.network = Network(config.node_id, config.peers, config.port, self, host=listen_host)
        self.out = out if out is not None else sys.stdout
        self.handle_signals = handle_signals
        self.stop_reason: str | None = None
        self.exit_code = EXIT_OK
        self.ticker: DeadlineTicker | None = None
        self.counts = {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
        self.lateness = LatenessHistogram()
        self._stop_requested: asyncio.Event | None = None
        self._reading_paused = False
        self._status_handle: asyncio.TimerHandle | None = None
        self._window = (0.0, 0)  # (loop time, ticks) at the last status line
        self.unfinished: list[str] = []  # peers still sending when the drain ended

    # -- the life of a node ---------------------------------------------------------------------
    async def run(self) -> int:
        self._stop_requested = asyncio.Event()
        self._log_start()
        if self.handle_signals:
            self._watch_signals()
        try:
            await self.network.listen()
        except OSError as error:
            return self._fail_early(f"cannot listen on port {self.config.port}: {error}")
        self.network.dial()
        if await self._connect():
            await self._tick()
        await self._drain()
        self._log_stop()
        await self.network.close()
        self.log.close()
        return self.exit_code

    async def _connect(self) -> bool:
        """Wait until every peer is connected both ways; False on timeout or a stop request."""
        self._say(
            f"rate {self.rate}/s, listening on :{self.config.port}, connecting to {', '.join(self.config.peer_ids)}"
        )
        assert self._stop_requested is not None
        connected = asyncio.ensure_future(self.network.wait_connected())
        stopping = asyncio.ensure_future(self._stop_requested.wait())
        done, pending = await asyncio.wait(
            {connected, stopping}, timeout=self.config.start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if connected in done:
            return True
        if stopping not in done:
            missing = "; ".join(f"{peer}: {why}" for peer, why in self.network.missing().items())
            self._fatal("start-timeout", f"not all peers connected within {self.config.start_timeout:g} s: {missing}")
        return False

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        count = tick_count(self.rate, self.config.duration)
        if count is not None and self.run_started_at is not None:  # a restart: only what is left
            left = self.run_started_at + self.config.duration - time.time()
            count = tick_count(self.rate, left) if left > 0 else 0
            self._say(f"rejoining the run that started at {self.run_started_at:.3f}: {count} ticks left")
            if count == 0:
                self.stop_reason = "duration"
                return
        self.ticker = DeadlineTicker(loop, self.rate, self._on_tick, self._on_stall, t0=loop.time(), count=count)
        self._window = (self.ticker.t0, 0)
        planned = "until stopped" if count is None else f"{count} ticks in {self.config.duration:g} s"
        self._say(f"all peers connected: ticking at {self.rate}/s, {planned}")
        self.ticker.start()
        if self.config.status_interval > 0:
            self._status_handle = loop.call_later(self.config.status_interval, self._status)
        await self.ticker.done
        if self._status_handle is not None:
            self._status_handle.cancel()
        if self.stop_reason is None:
            self.stop_reason = "duration"

    async def _drain(self) -> None:
        """Stop sending (half-close) and collect what peers still send until they do the same."""
        self.network.finish_sending()
        if self.stop_reason == "duration":
            timeout = self.config.drain_timeout
        elif self.stop_reason is not None and self.stop_reason.startswith("signal"):
            timeout = min(self.config.drain_timeout, SIGNAL_DRAIN_SECONDS)
        else:
            timeout = 0.0
        self.unfinished = await self.network.wait_inbound_ended(timeout)

    # -- start and stop lines -------------------------------------------------------------------
    def _log_start(self) -> None:
        fields = start_fields(
            rate=self.rate,
            drawn_rate=self.drawn_rate,
            seed=self.run_seed,
            node_seed=self.seed,
            resumed_clock=self.resumed_clock,
            run_id=self.run_dir.name,
            version=__version__,
            pid=os.getpid(),
            config=self.config.as_log_fields(),
        )
        self.log.emit("start", time.time(), self.model.clock.value, 0, fields)

    def _log_stop(self) -> None:
        queue = len(self.model.queue)
        fields = stop_fields(
            reason=self.stop_reason or "error",
            queue_by_peer=self.model.queued_by_sender(),
            counts=self.counts,
            unfinished=self.unfinished,
        )
        self.log.emit("stop", time.time(), self.model.clock.value, queue, fields)
        self._say(
            f"stopped ({fields['reason']}): {fields['ticks']} ticks, clock {self.model.clock.value}, "
            f"queue {queue}, received {fields['received']}, sent {fields['sent']}, "
            f"internal {fields['internal']}, dropped {fields['dropped']}"
        )

    # -- one tick (the hot path) ----------------------------------------------------------------
    def _on_tick(self, index: int, late: float) -> None:
        ts = time.time()
        try:
            outcome = self.model.tick()
        except ClockOverflowError as error:
            self._fatal("clock-overflow", str(error))
            return
        self.lateness.add(late)
        late_ms = round(late * 1000, 3)
        kind = type(outcome)
        if kind is Receive:
            assert isinstance(outcome, Receive)
            message = outcome.message
            self.counts["receive"] += 1
            self.log.emit(
                "receive",
                ts,
                outcome.clock,
                outcome.queue,
                receive_fields(index, late_ms, message),
            )
            if self._reading_paused and outcome.queue < self.config.max_queue:
                self._reading_paused = False
                self.network.resume_reading()
        elif kind is Send:
            assert isinstance(outcome, Send)
            clock = outcome.clock
            queue = len(self.model.queue)
            self.counts["send"] += 1
            # Write-ahead: the send is logged before the frame leaves, so no message exists that
            # the log does not know of.
            self.log.emit("send", ts, clock, queue, send_fields(index, late_ms, outcome.to, clock))
            frame = encode_frame(clock)
            for peer in outcome.to:
                why = self.network.send(peer, frame)
                if why is not None:
                    self.counts["drop"] += 1
                    self.log.emit("drop", time.time(), clock, queue, drop_fields(peer, clock, why))
        else:
            self.counts["internal"] += 1
            self.log.emit("internal", ts, outcome.clock, len(self.model.queue), internal_fields(index, late_ms))

    def _on_stall(self, first: int, skipped: int, late: float) -> None:
        self.counts["skipped"] += skipped
        self.log.emit(
            "stall",
            time.time(),
            self.model.clock.value,
            len(self.model.queue),
            {"tick": first, "skipped": skipped, "late_ms": round(late * 1000, 3)},
        )
        self._say(f"stalled {late:.1f} s (paused?): skipped {skipped} ticks")

    # -- network events (node.network.NetworkEvents) ------------------------------------------
    def message_arrived(self, peer: str, value: int) -> None:
        queue = self.model.deliver(Message(peer, value, time.time()))
        if queue >= self.config.max_queue and not self._reading_paused:
            self._reading_paused = True
            self.network.pause_reading()
            self.log.emit("queue_full", time.time(), self.model.clock.value, queue, {"limit": self.config.max_queue})
            self._say(f"queue reached MAX_QUEUE={self.config.max_queue}: not reading from peers until it shrinks")

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None:
        clock, queue = self.model.clock.value, len(self.model.queue)
        if connected:
            self.log.emit("connected", time.time(), clock, queue, {"peer": peer})
            return
        self.log.emit("disconnected", time.time(), clock, queue, {"peer": peer, "link": direction, "reason": reason})
        ticking = self.ticker is not None and not self.ticker.done.done()
        if ticking and direction == "outbound":
            self._say(f"lost {peer} ({reason}); sends to it are dropped until it is back")
        elif ticking and reason != FINISHED:
            self._say(f"{peer} stopped sending to us ({reason})")

    def connection_rejected(self, address: str, reason: str) -> None:
        self.log.emit(
            "reject", time.time(), self.model.clock.value, len(self.model.queue), {"address": address, "reason": reason}
        )
        self._say(f"rejected connection from {address}: {reason}")

    # -- status, stop requests, failures ----------------------------------------------------------
    def _status(self) -> None:
        assert self.ticker is not None
        loop = self.ticker.loop
        now = loop.time()
        since, ticks_then = self._window
        ticks = self.ticker.index
        window_rate = (ticks - ticks_then) / (now - since) if now > since else 0.0
        late = self.lateness
        p50, p99, worst = late.percentile_ms(0.5), late.percentile_ms(0.99), late.max_s * 1000
        queue = len(self.model.queue)
        self.log.emit(
            "stats",
            time.time(),
            self.model.clock.value,
            queue,
            {
                "ticks": ticks,
                "elapsed": round(now - self.ticker.t0, 3),
                "window_rate": round(window_rate, 3),
                "late_p50_ms": p50,
                "late_p99_ms": p99,
                "late_max_ms": round(worst, 3),
                "received": self.counts["receive"],
                "sent": self.counts["send"],
                "internal": self.counts["internal"],
                "dropped": self.counts["drop"],
                "peers": len(self.network.connected),
            },
        )
        self._say(
            f"{now - self.ticker.t0:6.0f}s  rate {self.rate}/s ({window_rate:.2f})  tick {ticks}  "
            f"clock {self.model.clock.value}  queue {queue}  recv {self.counts['receive']} "
            f"send {self.counts['send']} int {self.counts['internal']} drop {self.counts['drop']}  "
            f"late p50 {p50:.2f} p99 {p99:.2f} ms  peers {len(self.network.connected)}/{len(self.config.peers)}"
        )
        self.lateness = LatenessHistogram()
        self._window = (now, ticks)
        self._status_handle = loop.call_later(self.config.status_interval, self._status)

    def _watch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._stop_requested is not None:
            self._stop_requested.set()
        if self.ticker is not None:
            self.ticker.stop()

    def _fatal(self, reason: str, message: str) -> None:
        self.exit_code = EXIT_FAILED
        print(f"{self.config.node_id}: {message}", file=sys.stderr, flush=True)
        self.request_stop(reason)

    def _fail_early(self, message: str) -> int:
        self._fatal("error", message)
        self._log_stop()
        self.log.close()
        return self.exit_code

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)
