"""A block of whole log lines read as columns by pyarrow, each tick line taken only if the per-line path would take it.

Nearly every line of a log is a tick event. Read a line at a time (orjson, a dict per line, the
checks in Python: analysis.loader) a million lines took 2.1 s; pyarrow's JSON reader parses a
block in C++ into typed columns, on every core, and the checks become array operations
(README, Design decisions: the comparison). The per-line path stays the one definition of what
is valid: a row is taken here only where it would accept the line with the same values, and
every other line is left to it, in order. Why that holds:

- pyarrow is strict where orjson is: a value of another JSON type than its column's (an integer
  written 1.0, a string, true), an integer beyond int64, a duplicated key or any syntax error
  fails the whole block, which is then read line by line;
- pyarrow accepts a few things orjson refuses (NaN and Infinity, numbers beyond the float range,
  nesting past 1,024 levels, bytes that are not UTF-8), but only as a non-finite float, which is
  not taken, or inside fields it does not read: so a row is taken only if its line has no other
  field. Its double quotes are then exactly those of its keys and string values; a key adds two,
  so the block's count is checked against the sum of the taken rows' own and the other lines';
- one JSON object a line and no blank line: every line starts with `{` and the rows are as many
  as the lines (pyarrow skips blank lines and reads `{} {}` as two rows);
- values as the per-line path checks them: the event one of the tick events, the file's node,
  finite times, clocks, values and queue within 0..MAX_CLOCK, a `from` among the run's node ids,
  a `to` list seen before (its elements joined by commas, which no node id holds, and as many);
  and floats as parsed by both are the correctly rounded ones (tests/unit/test_bulk.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from node.clock import MAX_CLOCK
from node.schema import TICK_EVENTS

# The analysis's array types (analysis.columns gives them to the rest): defined here, where the
# columns are first made, as the loader imports this module.
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
KINDS = tuple(event.name for event in TICK_EVENTS)  # a tick event's kind code is its position here
RECEIVE, SEND = KINDS.index("receive"), KINDS.index("send")
SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("node", pa.string()),
        ("event", pa.string()),
        ("clock", pa.int64()),
        ("queue", pa.int64()),
        ("tick", pa.int64()),
        ("late_ms", pa.float64()),
        ("from", pa.string()),
        ("value", pa.int64()),
        ("enq_ts", pa.float64()),
        ("to", pa.list_(pa.string())),
    ]
)
PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
READ = pj.ReadOptions(use_threads=True, block_size=1 << 20)  # a block per thread; lines are shorter
# malloc's, which gives memory back when freed: pyarrow's default (mimalloc) kept 50 MB more at
# the analysis's peak, for nothing (every column leaves for numpy at once).
POOL = pa.system_memory_pool()
# Double quotes of a tick line with no other field: two per key and per string value.
QUOTES = {"receive": 2 * (10 + 3), "send": 2 * (9 + 2), "internal": 2 * (7 + 2)}  # send: + 2 per peer
QUOTE, NEWLINE, BRACE = ord('"'), ord("\n"), ord("{")
MOST_LEFT = 4  # more than one line in this many left to the per-line path: read the block line by line


@dataclass(frozen=True)
class Block:
    """A block's rows (one a line) and their columns; which rows to take depends on the `to` lists
    known so far (`taken`), which reading the rows left to the per-line path may add to.

    Values are arbitrary in rows not taken; `source` indexes `names`, `list_index` `lists`."""

    starts: IntArray  # each line's first byte in the block
    ends: IntArray  # and the byte after its last
    checked: BoolArray  # every check but the `to` list's being known
    kind: IntArray
    ts: FloatArray
    clock: IntArray
    queue: IntArray
    late_ms: FloatArray
    value: IntArray
    enq_ts: FloatArray
    source: IntArray
    names: list[str]
    list_index: IntArray  # -1: no list, or one whose elements hold a comma
    lists: list[tuple[str, ...]]
    exact: BoolArray  # the line's double quotes are its own keys' and string values' (no other field)

    def taken(self, codes: Mapping[tuple[str, ...], int]) -> tuple[BoolArray, IntArray]:
        """The rows the per-line path would take as tick events, given the file's `to` lists so far
        (`codes`), and each row's code there (-1: none)."""
        taken, peers = _known(self.checked, self.kind, self.list_index, self.lists, codes)
        return taken & self.exact, peers


def _known(
    checked: BoolArray,
    kind: IntArray,
    index: IntArray,
    lists: list[tuple[str, ...]],
    codes: Mapping[tuple[str, ...], int],
) -> tuple[BoolArray, IntArray]:
    """The `checked` rows that are not sends or are sends to a list in `codes`; each row's code there."""
    known = np.array([codes.get(peers, -1) for peers in lists] + [-1], dtype=np.int64)
    peers = known[index]
    return checked & ((kind != SEND) | (peers >= 0)), peers


def _ints(column: pa.ChunkedArray) -> IntArray:
    """An int64 column as numpy, -1 where null (every int the checks bound is >= 0)."""
    return np.asarray(pc.coalesce(column, -1, memory_pool=POOL).to_numpy(), dtype=np.int64)


def _codes(column: pa.ChunkedArray, values: list[str]) -> IntArray:
    """Each row's index in `values`, -1 where it is not there or null."""
    if not values:
        return np.full(len(column), -1, dtype=np.int64)
    found = pc.index_in(column, value_set=pa.array(values, type=pa.string()), memory_pool=POOL)
    return np.asarray(pc.coalesce(found, -1, memory_pool=POOL).to_numpy(), dtype=np.int64)


def _lists(to: pa.ChunkedArray) -> tuple[IntArray, list[tuple[str, ...]], IntArray]:
    """Each row's `to` as an index into the distinct lists (-1: null, or elements holding a comma),
    the lists, and each row's list length (-1: null)."""
    joined = pc.dictionary_encode(pc.binary_join(to, ",", memory_pool=POOL), memory_pool=POOL).combine_chunks(POOL)
    lists = [tuple(text.split(",")) for text in joined.dictionary.to_pylist()]
    sizes = np.array([len(peers) for peers in lists] + [-1], dtype=np.int64)
    index = np.asarray(pc.coalesce(joined.indices, len(lists), memory_pool=POOL).to_numpy(), dtype=np.int64)
    lengths = _ints(pc.list_value_length(to, memory_pool=POOL))
    # A list whose elements hold a comma joins to more parts than it has elements.
    return np.where(sizes[index] == lengths, index, -1), lists, lengths


def read_block(
    block: memoryview, node: str, ids: Collection[str], codes: Mapping[tuple[str, ...], int]
) -> Block | None:
    """The rows of `block` (whole lines, joined by newlines) as tick events of `node`, given the
    run's node ids and the file's `to` lists so far; None when the block must be read line by
    line (module docstring)."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == NEWLINE)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [data.size]))
    if starts[-1] >= data.size or not (data[starts] == BRACE).all():
        return None
    try:
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(block)), parse_options=PARSE, read_options=READ, memory_pool=POOL
        )
    except pa.ArrowException:  # anything pyarrow refuses: the per-line path says what
        return None
    if table.num_rows != starts.size:
        return None
    kind = _codes(table["event"], list(KINDS))
    ts = np.asarray(table["ts"].to_numpy(), dtype=np.float64)  # null: NaN
    late = np.asarray(table["late_ms"].to_numpy(), dtype=np.float64)
    enq = np.asarray(table["enq_ts"].to_numpy(), dtype=np.float64)
    clock, queue, value = _ints(table["clock"]), _ints(table["queue"]), _ints(table["value"])
    names = sorted(ids)
    source = _codes(table["from"], names)
    list_index, lists, lengths = _lists(table["to"])
    receive, send = kind == RECEIVE, kind == SEND
    valued = (value >= 0) & (value <= MAX_CLOCK)
    with np.errstate(invalid="ignore"):
        checked = (
            (kind >= 0)
            & np.asarray(pc.coalesce(pc.equal(table["node"], node, memory_pool=POOL), False).to_numpy(False))
            & np.isfinite(ts)
            & np.isfinite(late)
            & (clock >= 0)
            & (clock <= MAX_CLOCK)
            & (queue >= 0)
            & (queue <= MAX_CLOCK)
            & ~np.asarray(pc.is_null(table["tick"], memory_pool=POOL).to_numpy(False))
            & (~receive | (valued & (source >= 0) & np.isfinite(enq)))
            & (~send | (valued & (list_index >= 0)))
        )
    if np.count_nonzero(~checked) * MOST_LEFT > starts.size:
        return None
    # Quotes: those of a row taken here must be its own (no other field). Counted for the lines
    # not taken at first; the others' together, against the whole block's count.
    own = np.array([QUOTES[name] for name in KINDS] + [-1], dtype=np.int64)[kind]
    own += np.where(send, 2 * lengths, 0)
    counted = own.copy()
    left = np.flatnonzero(~_known(checked, kind, list_index, lists, codes)[0])
    quotes = np.flatnonzero(data == QUOTE)
    if left.size:  # their own counts: the quotes between their first and last byte
        counted[left] = np.searchsorted(quotes, ends[left]) - np.searchsorted(quotes, starts[left])
    if int(counted.sum()) != quotes.size:
        return None
    exact = counted == own
    return Block(
        starts, ends, checked, kind, ts, clock, queue, late, value, enq, source, names, list_index, lists, exact
    )
