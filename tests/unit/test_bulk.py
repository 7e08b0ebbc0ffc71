"""Blocks read by pyarrow (analysis.bulk) give the loader exactly what its per-line path gives.

The per-line path (orjson, node.schema's checks) is the definition; every test loads the same
bytes twice, once with blocks and once with every block refused, and compares the node logs and
the problems. Mutations target where the two JSON parsers differ (NaN, numbers beyond the float
range, duplicated keys, escapes, blank lines, two objects on a line, bytes that are not UTF-8).
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from analysis import loader
from analysis.bulk import read_block
from tests.unit.test_analysis import rec, receive, start, stop_line


def lines_of(seed: int, count: int, compact: bool) -> list[bytes]:
    """A valid log of node a (peers b and c) as JSON lines, as the nodes' writers write them."""
    rng = random.Random(seed)

    def dump(record: dict[str, Any]) -> bytes:
        return orjson.dumps(record) if compact else json.dumps(record).encode()

    out = [dump(start("a", 5, ["b", "c"]))]
    clock, t = 0, 100.0
    for tick in range(count):
        clock += 1
        t += rng.random() / 100
        late = rng.choice([0.0, 0.1, 1e-05, 0.123456789, 7])
        kind = rng.random()
        if kind < 0.3:
            value = rng.randint(0, clock + 5)
            clock = max(clock, value + 1)
            record = receive(t, "a", clock, rng.choice("bc"), value, t - 0.001, tick)
        elif kind < 0.5:
            record = rec(t, "a", "send", clock, tick=tick, late_ms=late, to=rng.choice([["b"], ["c"], ["b", "c"]]))
            record["value"] = clock
        else:
            record = rec(t, "a", "internal", clock, tick=tick, late_ms=late)
        out.append(dump(record))
        if tick % 97 == 50:
            out.append(dump(rec(t, "a", "stats", clock, ticks=tick, elapsed=1.0)))
    out.append(dump(stop_line(t + 1, "a", clock, {"b": 0, "c": 0})))
    return out


MUTATIONS: list[tuple[bytes, bytes]] = [
    (b'"late_ms": ', b'"late_ms": NaN, "x": '),
    (b'"tick": ', b'"extra": Infinity, "tick": '),
    (b'"tick": ', b'"extra": 1e400, "tick": '),
    (b'"tick": ', b'"extra": 99999999999999999999999999999999999999, "tick": '),
    (b'"tick": ', b'"extra": [[[[[[[[[[1]]]]]]]]]], "tick": '),
    (b'"tick": ', b'"extra": "\xff\xfe", "tick": '),
    (b'"tick": ', b'"extra": "\\ud800", "tick": '),
    (b'"tick": ', b'"clock": 3, "tick": '),
    (b'"tick": ', b'"clo\\u0063k": 3, "tick": '),
    (b'"node": "a"', b'"node": "\\u0061"'),
    (b'"node": "a"', b'"node": 5'),
    (b'"ts": ', b'"ts": 1e999, "y": '),
    (b'"clock": ', b'"clock": 1.0, "z": '),
    (b'"clock": ', b'"clock": -1, "z": '),
    (b'"clock": ', b'"clock": 4294967296, "z": '),
    (b'"clock": ', b'"clock": true, "z": '),
    (b'"tick": ', b'"tick": 9223372036854775808, "q": '),
    (b'"tick": ', b'"tick": null, "q": '),
    (b'"to": [', b'"to": ["b,c", '),
    (b'"to": [', b'"to": [null, '),
    (b'"from": "', b'"from": "zz'),
    (b"}", b"} {}"),
    (b"}", b"}\r"),
    (b"{", b"\xef\xbb\xbf{"),
    (b"{", b" {"),
    (b"{", b""),
]


def mutated(lines: list[bytes], rng: random.Random, share: float) -> bytes:
    out = []
    for line in lines:
        old, new = rng.choice(MUTATIONS) if rng.random() < share else (b"", b"")
        out.append(line.replace(old, new, 1) if old else line)
        if rng.random() < share / 4:
            out.append(rng.choice([b"", b"   ", b"not json"]))
    return b"\n".join(out) + b"\n"


def load_both(folder: Path, text: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, int]:
    """(node log and problems) with blocks, the same with every block refused, and the blocks read."""
    (folder / "a.jsonl").write_bytes(text)
    read = [0]

    def counted(*args: Any) -> Any:
        found = read_block(*args)
        read[0] += found is not None
        return found

    monkeypatch.setattr(loader, "read_block", counted)
    fast = loader.load_run(folder)
    monkeypatch.setattr(loader, "read_block", lambda *args: None)
    slow = loader.load_run(folder)
    return plain(fast), plain(slow), read[0]


def plain(run: loader.RunData) -> Any:
    logs = {  # senders by name: their codes are numbered as each path meets them
        name: {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in vars(log).items() if "source" not in k}
        | {"receive_from": log.receive_from}
        for name, log in run.nodes.items()
    }
    return logs, [str(p) for p in run.problems]


@pytest.mark.parametrize("compact", [False, True])
def test_a_valid_log_is_read_in_blocks_with_the_per_line_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compact: bool
) -> None:
    monkeypatch.setattr(loader, "CHUNK", 1 << 14)  # many blocks
    fast, slow, blocks = load_both(tmp_path, b"\n".join(lines_of(1, 3000, compact)) + b"\n", monkeypatch)
    assert fast == slow
    assert blocks >= 10  # the blocks were read by pyarrow, not refused


@pytest.mark.parametrize("seed", range(12))
def test_mutated_logs_give_the_per_line_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(loader, "CHUNK", rng.choice([1 << 12, 1 << 14, 1 << 16]))
    text = mutated(lines_of(seed, 1500, compact=seed % 2 == 1), rng, share=rng.choice([0.001, 0.01, 0.05]))
    fast, slow, _ = load_both(tmp_path, text, monkeypatch)
    assert fast == slow


def test_every_mutation_alone_gives_the_per_line_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "CHUNK", 1 << 13)
    lines = lines_of(3, 400, compact=False)
    for k, (old, new) in enumerate(MUTATIONS):
        text = b"\n".join(line.replace(old, new, 1) if i % 37 == 5 else line for i, line in enumerate(lines)) + b"\n"
        fast, slow, _ = load_both(tmp_path, text, monkeypatch)
        assert fast == slow, (k, old, new)


def test_floats_are_read_as_the_per_line_path_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every finite double, written as repr writes it and with long mantissas: the same value both ways."""
    rng = random.Random(5)
    doubles: list[str] = []
    while len(doubles) < 3000:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            doubles.append(repr(x))
    doubles += [f"{rng.randint(1, 10**20)}.{rng.randint(0, 10**25)}e{rng.randint(-320, 300)}" for _ in range(2000)]
    lines = [orjson.dumps(start("a", 5, []))]
    for tick, text in enumerate(doubles):
        line = orjson.dumps(rec(100.0, "a", "internal", tick + 1, tick=tick, late_ms=0.5))
        lines.append(line.replace(b'"late_ms":0.5', b'"late_ms":' + text.encode()))
    fast, slow, blocks = load_both(tmp_path, b"\n".join(lines) + b"\n", monkeypatch)
    assert fast == slow
    assert blocks > 0
