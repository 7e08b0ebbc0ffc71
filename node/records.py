"""The log format's event-specific fields, built in one place for the real node and the simulator.

Every line is {"ts", "node", "event", "clock", "queue"} followed by the fields returned here
(README: Log format). Keeping them here is what makes simulator logs indistinguishable in
shape from container logs, so one analysis reads both.
"""

from __future__ import annotations

from typing import Any

from node.model import Message

Fields = dict[str, Any]


def log_line(ts: float, node: str, event: str, clock: int, queue: int, fields: Fields | None = None) -> Fields:
    """A whole log line: the five fields every line has, in order, then the event's own."""
    record: Fields = {"ts": ts, "node": node, "event": event, "clock": clock, "queue": queue}
    if fields:
        record.update(fields)
    return record


def start_fields(
    *,
    rate: int,
    drawn_rate: int,
    seed: int,
    node_seed: int,
    resumed_clock: int,
    run_id: str,
    version: str,
    pid: int,
    config: Fields,
) -> Fields:
    return {
        "rate": rate,
        "drawn_rate": drawn_rate,
        "seed": seed,
        "node_seed": node_seed,
        "resumed_clock": resumed_clock,
        "run_id": run_id,
        "version": version,
        "pid": pid,
        "config": config,
    }


def receive_fields(tick: int, late_ms: float, message: Message) -> Fields:
    return {
        "tick": tick,
        "late_ms": late_ms,
        "from": message.sender,
        "value": message.value,
        "enq_ts": message.enqueued_at,
    }


def send_fields(tick: int, late_ms: float, to: tuple[str, ...], value: int) -> Fields:
    return {"tick": tick, "late_ms": late_ms, "to": list(to), "value": value}


def internal_fields(tick: int, late_ms: float) -> Fields:
    return {"tick": tick, "late_ms": late_ms}


def drop_fields(to: str, value: int, reason: str) -> Fields:
    return {"to": to, "value": value, "reason": reason}


def stop_fields(
    *,
    reason: str,
    queue_by_peer: dict[str, int],
    counts: dict[str, int],
    unfinished: list[str],
) -> Fields:
    return {
        "reason": reason,
        "queue_by_peer": queue_by_peer,
        "ticks": counts["receive"] + counts["send"] + counts["internal"],
        "received": counts["receive"],
        "sent": counts["send"],
        "internal": counts["internal"],
        "dropped": counts["drop"],
        "skipped": counts["skipped"],
        "unfinished": unfinished,
    }
