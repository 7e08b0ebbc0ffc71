"""One Resume, whoever keeps the log: a node's file read back (node.eventlog) and the simulator's log
(node.simlog) give the same for the same lines; the reader's fast path is never more lenient than
node.schema; `python -m node` refuses a log it cannot trust in one line."""

import dataclasses
import json
import random
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from node import eventlog
from node.eventlog import EventLog, LineBatch, read_resume
from node.interfaces import LogCorruptError, Resume
from node.schema import (
    CONNECTED,
    DISCONNECTED,
    DROP,
    EVENTS,
    FORMAT,
    INTERNAL,
    RECEIVE,
    REJECT,
    SEND,
    STALL,
    START,
    STATS,
    STOP,
    Event,
)
from node.simlog import SimLog
from node.simulation import Fault, cluster, write_simulation
from tests.unit.test_node_cli import run_node

PEERS = ("node2", "node3")
DEFAULT_BY_TYPE: dict[str, Any] = {
    "int": 7,
    "number": 0.25,
    "node": "node2",
    "nodes": ["node2"],
    "text": "x",
    "object": {},
    "counts": {},
}
Write = tuple[Event, float, int, int, tuple[Any, ...]]


def values(event: Event, **given: Any) -> tuple[Any, ...]:
    """A valid values tuple for `event`: `given` fields, the others a default of their type."""
    given = {"format": FORMAT, "time": "real", **given} if event is START else given
    return tuple(given.get(f.name, DEFAULT_BY_TYPE[f.type]) for f in event.fields)


def random_writes(rng: random.Random, count: int) -> list[Write]:
    """A node's life as its core writes it: ticks, receives (values growing per sender), sends to
    one peer or both, drops of a value just sent or of one sent a little earlier, restarts."""
    clock, ts, taken, recent = 0, 100.0, dict.fromkeys(PEERS, 0), {p: deque[int](maxlen=20) for p in PEERS}
    writes: list[Write] = [(START, ts, 0, 0, values(START))]
    for index in range(count):
        ts += 0.01
        draw = rng.random()
        if draw < 0.3:
            clock += 1
            writes.append((INTERNAL, ts, clock, 0, (index, 0.1)))
        elif draw < 0.55:
            sender = rng.choice(PEERS)
            taken[sender] += rng.randint(1, 9)
            clock = max(clock, taken[sender]) + 1
            writes.append((RECEIVE, ts, clock, 0, (index, 0.1, sender, taken[sender], ts)))
        elif draw < 0.8:
            clock += 1
            to = rng.choice((["node2"], ["node3"], ["node2", "node3"]))
            writes.append((SEND, ts, clock, 0, (index, 0.1, to, clock)))
            for peer in to:
                recent[peer].append(clock)
        elif draw < 0.9:
            peer = rng.choice(PEERS)
            if recent[peer]:
                value = recent[peer][-1] if rng.random() < 0.7 else rng.choice(list(recent[peer]))
                writes.append((DROP, ts, clock, 0, (peer, value, "peer down")))
        elif draw < 0.93:
            writes.append((STOP, ts, clock, 0, values(STOP)))
            writes.append((START, ts + 1, clock, 0, values(START, resumed_clock=clock)))
        else:
            event = rng.choice((CONNECTED, DISCONNECTED, REJECT, STALL, STATS))
            writes.append((event, ts, clock, 0, values(event)))
    return writes


def reference(writes: list[Write], keep: int) -> Resume:
    """Resume by its definition, with plain lists (node.interfaces.Resume, node.eventlog.Progress)."""
    taken: dict[str, int] = {}
    sent: dict[str, list[int]] = {}
    first = None
    for event, ts, _clock, _queue, vals in writes:
        if event is RECEIVE:
            taken[vals[2]] = max(taken.get(vals[2], 0), vals[3])
        elif event is SEND:
            for peer in vals[2]:
                held = sent.setdefault(peer, [])
                held.append(vals[3])
                del held[:-keep]
        elif event is DROP and vals[1] in sent.get(vals[0], []):
            sent[vals[0]].remove(vals[1])
        if first is None and event in (RECEIVE, SEND, INTERNAL):
            first = ts
    return Resume(writes[-1][2], first, taken, {p: v for p, v in sent.items() if v})


@pytest.mark.parametrize("seed", range(3))
def test_eventlog_and_simlog_give_the_same_resume(tmp_path: Path, seed: int) -> None:
    """The same writes into a file and into the simulator's log: the same Resume at every restart
    (read back by a new EventLog, as a restarted node does), and the one its definition gives."""
    rng = random.Random(seed)
    keep = rng.choice((3, 10, 1000))
    writes = random_writes(rng, 1500)
    path = tmp_path / "node1.jsonl"
    log, sim = EventLog(path, "node1", keep), SimLog("node1", None, keep)
    checked = 0
    for done, write in enumerate(writes, 1):
        log.write(*write)
        sim.write(*write)
        if write[0] is START or done == len(writes):
            expected = reference(writes[:done], keep)
            assert sim.resume() == expected
            assert EventLog(path, "node1", keep).resume() == expected
            checked += 1
    log.close()
    assert checked > 10


def records_to_simlog(path: Path, keep: int) -> SimLog:
    """A SimLog fed the lines of a log file, as the simulator fed its own."""
    sim = SimLog(path.stem, None, keep)
    for raw in path.read_text().splitlines():
        record = json.loads(raw)
        event = EVENTS[record["event"]]
        vals = tuple(record[f.name] for f in event.fields)
        sim.write(event, record["ts"], record["clock"], record["queue"], vals)
    return sim


def test_a_simulated_run_with_a_kill_reads_back_as_its_simlog_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's own files (its f-string lines, restarts, drops at the peers of the killed
    node): every line but start and stop takes the fast path, and the file gives the SimLog's Resume."""
    sim = cluster(3, seed=7, rates={"node1": 40, "node2": 50, "node3": 60}, duration=4)
    sim = dataclasses.replace(sim, faults=(Fault("kill", ("node1",), 1.5, 0.5),))
    outcome = write_simulation(sim, tmp_path)
    assert outcome.ok, outcome.errors
    full: list[int] = []
    check = eventlog._Reader.check

    def counted(self: eventlog._Reader, number: int, line: bytes) -> dict[str, Any] | None:
        full.append(number)
        return check(self, number, line)

    monkeypatch.setattr(eventlog._Reader, "check", counted)
    for node in sim.node_ids:
        path = tmp_path / f"{node}.jsonl"
        full.clear()
        resume = read_resume(path, node, 50)
        assert resume == records_to_simlog(path, 50).resume()
        lines = path.read_text().splitlines()
        assert [lines[n - 1].split('"event": "')[1].split('"')[0] for n in full] == [
            json.loads(raw)["event"] for raw in lines if json.loads(raw)["event"] in ("start", "stop")
        ]
        assert resume.first_tick_ts is not None
        assert resume.clock == json.loads(lines[-1])["clock"]
    assert len([r for r in (tmp_path / "node1.jsonl").read_text().splitlines() if '"start"' in r]) == 2


# -- the fast path (a line pattern per event) against node.schema ---------------------------------------
def sample_lines() -> list[tuple[Event, bytes]]:
    """Lines of every event with a line pattern, as both writers write them."""
    out: list[tuple[Event, bytes]] = []
    for event in EVENTS.values():
        if eventlog._line_pattern(event, "node1") is None:
            continue
        for ts, clock in ((1795621149.25, 7), (0.0006000000000000001, 0), (1e-05, 999_999_999)):
            vals = values(event)
            if event is SEND:
                vals = (3, 0.052, ["node2", "node3"], clock)
            if event is REJECT:
                vals = ("10.0.0.9", 'bad hello: "GET / HT" \u2014 not LAMP\n')
            record = event.record(ts, "node1", clock, 2, vals)
            out.append((event, (json.dumps(record) + "\n").encode()))
            out.append((event, (json.dumps(record, ensure_ascii=False) + "\n").encode()))
            simulated = tuple(tuple(v) if isinstance(v, list) else v for v in vals)  # as the core passes them
            batch = LineBatch("node1", 1, lambda: None)
            batch.add(event, ts, clock, 2, simulated)
            out.append((event, batch.take()))
    return out


def test_every_line_a_writer_writes_takes_the_fast_path_but_non_ascii_text() -> None:
    for event, raw in sample_lines():
        match = eventlog._line_pattern(event, "node1")
        assert match is not None
        assert (match.fullmatch(raw) is not None) == raw.isascii(), raw


MUTANTS = [b'"', b"\\", b",", b"}", b"{", b"9", b"0", b"-", b".", b"e", b"E", b" ", b"x", b"\x00", b"\xe2", b"\n"]


def test_the_fast_path_is_never_more_lenient_than_the_schema() -> None:
    """Thousands of lines mangled a byte or a number at a time: whatever a line pattern still
    matches, the full check (JSON, record_problem, node, 32-bit clock) accepts with the same values."""
    rng = random.Random(12)
    reader = eventlog._Reader(Path("node1.jsonl"), "node1")
    samples = sample_lines()
    matched = 0
    for _ in range(12_000):
        event, raw = rng.choice(samples)
        cut = rng.randrange(len(raw))
        kind = rng.random()
        if kind < 0.4:
            mangled = raw[:cut] + rng.choice(MUTANTS) + raw[cut + 1 :]
        elif kind < 0.6:
            mangled = raw[:cut] + raw[cut + 1 :]
        elif kind < 0.8:
            mangled = raw[:cut] + rng.choice(MUTANTS) + raw[cut:]
        else:
            big = rng.choice((b"4294967296", b"99999999999", b"1e999", b"-1", b"NaN", b"1.5", b"01"))
            digits = [i for i in range(len(raw)) if raw[i : i + 1].isdigit()]
            at = rng.choice(digits)
            mangled = raw[:at] + big + raw[at + 1 :]
        match = eventlog._line_pattern(event, "node1")
        assert match is not None
        found = match.fullmatch(mangled)
        if found is None:
            continue
        matched += 1
        record = reader.check(1, mangled)  # raises LogCorruptError if the fast path was too lenient
        assert record is not None, mangled
        assert float(found["ts"]) == record["ts"]
        assert int(found["clock"]) == record["clock"]
        for group in ("value", "peer"):
            if group in found.groupdict():
                text = found[group]
                key = {"value": "value", "peer": "to" if event is not RECEIVE else "from"}[group]
                assert (int(text) if group == "value" else json.loads(text)) == record[key]
    assert matched > 1000  # mangled digits and spaces inside text often stay valid: the test bites


# -- python -m node --------------------------------------------------------------------------------
def test_python_m_node_refuses_a_corrupt_log_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / "node1.jsonl"
    good = json.dumps(INTERNAL.record(100.0, "node1", 1, 0, (0, 0.1))) + "\n"
    path.write_text(good + "garbage\n" + good)
    env = {
        "NODE_ID": "node1",
        "PEERS": "node2@127.0.0.1:1",
        "RUN_ID": "r",
        "DURATION": "1",
        "START_TIMEOUT": "0.2",
        "LOG_DIR": str(tmp_path),
    }
    result = run_node(env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"node1: cannot resume from its log: {path}:2: not a line of this log (nor the beginning of one)"
    ]
    assert path.read_text() == good + "garbage\n" + good  # nothing appended to a log it cannot trust
    with pytest.raises(LogCorruptError):
        read_resume(path, "node1")
