"""The simulator's logs: node.interfaces.LogSink for nodes in virtual time, fast enough for it.

A `SimLog` is one node's log across its incarnations (its disk): a restarted node reads back from
it what a real node reads back from its file (node.eventlog.Progress, fed line by line as it is
written: the same Resume for the same lines). Where the lines go is the
`Output`: nowhere (speed runs), to a callback as dicts (tests, benchmarks), or into one
`<node>.jsonl` per node: the bytes a real node writes, formatted and written a batch at a time
(node.eventlog.LineBatch), with a bound on the lines waiting across all nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

from node.eventlog import DEFAULT_KEEP, LineBatch, Progress
from node.interfaces import Resume
from node.schema import DROP, INTERNAL, RECEIVE, SEND, Event

Writer = Callable[[Event, float, int, int, tuple[Any, ...]], None]  # one node's (event, ts, clock, queue, values)
Output = Callable[[str], Writer]  # where lines go: a writer for each node


class SimLog:
    """One node's log across its incarnations; `keep` sent values per peer (node.linkrules.unacked_limit)."""

    def __init__(self, node_id: str, output: Output | None, keep: int = DEFAULT_KEEP) -> None:
        self.node_id = node_id
        self.lines = 0
        self._progress = Progress(keep)
        # write() is the simulator's hot path (a line per event): it updates the progress inline,
        # as Progress.received and Progress.sent_to do (tests/unit/test_resume.py holds them equal).
        self._clock = 0
        self._first_tick_ts: float | None = None
        self._taken = self._progress.taken
        self._sent = self._progress.sent
        self._output = output(node_id) if output is not None else None

    def resume(self) -> Resume:
        self._progress.clock = self._clock
        self._progress.first_tick_ts = self._first_tick_ts
        return self._progress.resume()

    def write(self, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
        self.lines += 1
        self._clock = clock
        if event is INTERNAL:  # the most frequent line
            pass
        elif event is RECEIVE:
            sender, value = values[2], values[3]
            if value > self._taken.get(sender, -1):
                self._taken[sender] = value
        elif event is SEND:
            sent, value = self._sent, values[3]
            for peer in values[2]:
                sent[peer].append(value)
        elif event is DROP:
            self._progress.dropped(values[0], values[1])
        if self._first_tick_ts is None and (event is RECEIVE or event is SEND or event is INTERNAL):
            self._first_tick_ts = ts
        if self._output is not None:
            self._output(event, ts, clock, queue, values)

    def close(self) -> None:
        pass


def record_output(sink: Callable[[str, dict[str, Any]], None]) -> Output:
    """Each line to `sink(node, record)` as the dict a node would log."""

    def output(node: str) -> Writer:
        def write(event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
            sink(node, event.record(ts, node, clock, queue, values))

        return write

    return output


class JsonLinesOutput:
    """One `<node>.jsonl` per node; each node's lines formatted and written a batch at a time."""

    # Lines a node's batch holds before it is written: small enough that formatting one stays in
    # the processor's cache (measured: 680 ns a line at 1,024-4,096 lines, 930 at 65,536), and at
    # most PENDING across all nodes (1,000 nodes: 64 each), but never fewer than MIN_BATCH.
    BATCH = 2048
    PENDING = 1 << 16
    MIN_BATCH = 64

    def __init__(self, folder: Path, node_ids: tuple[str, ...]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[bytes]] = {n: (folder / f"{n}.jsonl").open("wb") for n in node_ids}
        limit = max(self.MIN_BATCH, min(self.BATCH, self.PENDING // max(1, len(node_ids))))
        self.batches = {n: LineBatch(n, limit, partial(self._flush, n)) for n in node_ids}

    def __call__(self, node: str) -> Writer:
        return self.batches[node].add

    def _flush(self, node: str) -> None:
        self.files[node].write(self.batches[node].take())

    def close(self) -> None:
        for node, f in self.files.items():
            self._flush(node)
            f.close()
