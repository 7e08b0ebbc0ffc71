"""The simulator's logs: node.interfaces.LogSink for nodes in virtual time, fast enough for it.

A `SimLog` is one node's log across its incarnations (its disk): a restarted node reads back from
it what a real node reads back from its file (node.eventlog.Progress, fed line by line as it is
written: the same Resume for the same lines). Where the lines go is the
`Output`: nowhere (speed runs), to a callback as dicts (tests, benchmarks), or into one
`<node>.jsonl` per node, formatted by node.schema's generated formatters (the same bytes
json.dumps would write, without building a dict per line) and written in batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from node.eventlog import DEFAULT_KEEP, Progress
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
    """One `<node>.jsonl` per node; lines collected per node and written in batches."""

    BATCH = 8192  # lines per node between writes

    def __init__(self, folder: Path, node_ids: tuple[str, ...]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[str]] = {n: (folder / f"{n}.jsonl").open("w", encoding="utf-8") for n in node_ids}
        self.pending: dict[str, list[str]] = {n: [] for n in node_ids}
        self._formatters: dict[tuple[str, str], Callable[[float, int, int, tuple[Any, ...]], str] | None] = {}
        self.lines = 0

    def __call__(self, node: str) -> Writer:
        """`node`'s writer: each event's formatter made once (node.schema), lines batched."""
        formatters: dict[str, Callable[[float, int, int, tuple[Any, ...]], str] | None] = {}
        pending = self.pending[node]
        flush = self._flush

        def write(event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
            name = event.name
            formatter = formatters[name] if name in formatters else formatters.setdefault(name, event.formatter(node))
            if formatter is not None:
                pending.append(formatter(ts, clock, queue, values))
            else:
                pending.append(json.dumps(event.record(ts, node, clock, queue, values)) + "\n")
            if len(pending) >= self.BATCH:
                flush(node)

        return write

    def _flush(self, node: str) -> None:
        pending = self.pending[node]
        self.files[node].writelines(pending)
        self.lines += len(pending)
        pending.clear()  # the same list: writers hold it

    def close(self) -> None:
        for node, f in self.files.items():
            self._flush(node)
            f.close()
