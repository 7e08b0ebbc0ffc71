"""The analysis on crafted run folders: it reports or refuses, and never crashes, hangs or blows up.

Structure-aware fuzzing (hypothesis): valid runs are built, then mutated where a broken disk or
someone who can write into the logs folder would: field types, sizes (clocks beyond 32 bits, times
beyond any clock), node ids (many, invalid), nesting, line lengths, run.json, special files and
links planted where the analysis writes. After it, one test per finding, each of which failed
before its fix (with the same bounds added to the old code, so that only the behaviour differed).
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from analysis import loader, plots
from analysis.__main__ import main
from analysis.api import analyse_folder, load_and_analyse
from analysis.loader import load_run
from node.schema import record_problem
from tests.unit.test_analysis import rec, receive, start, stop_line, write

Run = dict[str, list[dict[str, Any]]]
OUTPUTS = (
    "summary.json",
    "summary.md",
    "shiviz.log",
    "clock.png",
    "gap.png",
    "queue.png",
    "jumps.png",
    "spacetime.png",
)
PROBLEM = re.compile(r"[^\s:]+(:\d+)?: \S.*")  # file[:line]: reason, one line


def valid_run(seed: int, nodes: int = 3, steps: int = 30) -> Run:
    """A run with no problem at all: nodes tick in turn, sends go to every chosen peer's FIFO queue,
    a receive takes the oldest message and sets its clock to max(clock, value) + 1."""
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(1, nodes + 1)]
    lines: Run = {n: [start(n, 1, [p for p in names if p != n])] for n in names}
    clock = dict.fromkeys(names, 0)
    ticks = dict.fromkeys(names, 0)
    queues: dict[str, list[tuple[str, int, float]]] = {n: [] for n in names}
    t = 100.0
    for _ in range(steps):
        n = rng.choice(names)
        t += 0.01
        tick, ticks[n] = ticks[n], ticks[n] + 1
        if queues[n] and rng.random() < 0.5:
            sender, value, enq = queues[n].pop(0)
            clock[n] = max(clock[n], value) + 1
            lines[n].append(receive(t, n, clock[n], sender, value, enq, tick=tick, queue=len(queues[n])))
            continue
        clock[n] += 1
        if rng.random() < 0.5:
            to = sorted(rng.sample([p for p in names if p != n], rng.randint(1, nodes - 1)))
            lines[n].append(rec(t, n, "send", clock[n], len(queues[n]), tick=tick, late_ms=0.1, to=to, value=clock[n]))
            for p in to:
                queues[p].append((n, clock[n], t + 0.001))
        else:
            lines[n].append(rec(t, n, "internal", clock[n], len(queues[n]), tick=tick, late_ms=0.1))
    for n in names:
        left = {s: sum(1 for q in queues[n] if q[0] == s) for s in names if s != n}
        lines[n].append(stop_line(t + 0.1, n, clock[n], left, queue=len(queues[n])))
    return lines


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# JSON texts of every kind and size a field might be given.
INTS = [0, -1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**62, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 10**30]
RAW_VALUES = st.one_of(
    st.sampled_from(INTS).map(str),
    st.integers().map(str),
    st.sampled_from(["1e308", "-1e308", "5e-324", "-0.0", "1.5", "1e999"]),
    st.sampled_from(["", " ", "n1", "n2", "ghost", "x" * 64, "x" * 3000, "n1\n", "$\\foo{$", "é", "\x00"]).map(
        json.dumps
    ),
    st.sampled_from(["[]", '["n1"]', '["n1", "n1"]', '["n2", 1]', '[["n1"]]', '{"n1": -5}', "{}", "null", "true"]),
    st.sampled_from([nested(1000), nested(1030), nested(5000), '{"a":' * 1100 + "1" + "}" * 1100]),
)
FIELDS = ["ts", "node", "event", "clock", "queue", "tick", "late_ms", "from", "to", "value", "enq_ts", "config", "rate"]
RAW_LINES = st.sampled_from(
    ["", "not json", "{", "[1, 2]", "null", '"text"', nested(1030), nested(20000), "\udcff\udcfe", '{"event": "x"}']
)


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, Any]:
    """One mutation: a field set to a raw JSON text or removed, a line replaced, ids multiplied,
    a file cut short, run.json replaced."""
    kind = draw(st.sampled_from(["set", "set", "set", "drop", "line", "ids", "cut", "run.json"]))
    if kind == "set":
        return kind, (draw(st.integers(0, 50)), draw(st.sampled_from(FIELDS)), draw(RAW_VALUES))
    if kind == "drop":
        return kind, (draw(st.integers(0, 50)), draw(st.sampled_from(FIELDS)))
    if kind == "line":
        return kind, (draw(st.integers(0, 50)), draw(RAW_LINES))
    if kind == "ids":  # many receives from (or sends to) distinct ids: beyond MAX_NODES, refused per line
        return kind, (draw(st.sampled_from(["from", "to"])), draw(st.integers(1, 3 * loader.MAX_NODES)))
    if kind == "cut":
        return kind, draw(st.floats(0, 1))
    return kind, draw(st.one_of(RAW_LINES, RAW_VALUES))


PLACEHOLDER = "\x00raw\x00"


def apply(run: Run, node: str, edit: tuple[str, Any]) -> tuple[list[str], set[int], str | None]:
    """The node's file as text lines after `edit`, the (1-based) numbers of the lines it touched,
    and run.json's new text if the edit is to that."""
    kind, what = edit
    records = run[node]
    texts = [json.dumps(r) for r in records]
    touched: set[int] = set()
    if kind in ("set", "drop", "line"):
        i = what[0] % len(records)
        touched.add(i + 1)
        if kind == "line":
            texts[i] = what[1]
        else:
            record = dict(records[i])
            record.pop(what[1], None)
            if kind == "set":
                record[what[1]] = PLACEHOLDER
            texts[i] = json.dumps(record).replace(json.dumps(PLACEHOLDER), what[2] if kind == "set" else "")
    elif kind == "ids":
        field, count = what
        for k in range(count):
            line = rec(200.0, node, "send", 1, tick=k, late_ms=0.1, to=[f"x{k}"], value=1)
            if field == "from":
                line = receive(200.0, node, 2, f"x{k}", 1, 199.0, tick=k)
            texts.insert(len(texts) - 1, json.dumps(line))
            touched.add(len(texts) - 1)
    elif kind == "cut":
        joined = "\n".join(texts)
        texts = joined[: int(len(joined) * what)].split("\n")
    return texts, touched, what if kind == "run.json" else None


def expected_bad(text: str, node: str) -> bool:
    """Whether a line can only be reported: not JSON, or not a valid record of this node."""
    if not text.strip():
        return False
    try:
        record = orjson.loads(text.encode("utf-8", "surrogateescape"))
    except orjson.JSONDecodeError:
        return True
    return record_problem(record, 1) is not None or record.get("node") != node


def check_summary(folder: Path, summary: Any, bad: dict[str, set[int]]) -> None:
    if summary is None:
        return
    problems = summary["problems"]
    for problem in problems:
        assert PROBLEM.fullmatch(problem), problem
        assert len(problem) < 300, problem[:300]
    listed = {p.split(": ", 1)[0] for p in problems}
    for name, numbers in bad.items():
        for number in numbers:
            assert f"{name}:{number}" in listed, (name, number, problems)
    assert json.loads((folder / "summary.json").read_text())["problems"] == problems


# Entries planted in the run folder: node files that are not regular files of their own (a FIFO is
# left to its own test: a regression would hang here), and links where the analysis writes.
SPECIALS = {
    "z1.jsonl": lambda path, outside: path.symlink_to(outside / "n1.jsonl"),  # a valid log, elsewhere
    "z2.jsonl": lambda path, outside: path.symlink_to("/dev/zero"),
    "z3.jsonl": lambda path, outside: path.mkdir(),
    "z4.jsonl": lambda path, outside: path.symlink_to(outside / "nothing"),
    "summary.json": lambda path, outside: path.symlink_to(outside / "target"),
    "summary.md": lambda path, outside: path.symlink_to(outside / "target"),
    "shiviz.log": lambda path, outside: path.symlink_to(outside / "target"),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 1000),
    st.integers(2, 4),
    st.lists(st.tuples(st.integers(0, 3), edits()), min_size=1, max_size=4),
    st.lists(st.sampled_from(sorted(SPECIALS)), unique=True, max_size=3),
)
def test_mutated_runs_are_analysed_or_refused_with_located_problems(
    seed: int, nodes: int, changes: list[tuple[int, tuple[str, Any]]], specials: list[str]
) -> None:
    run = valid_run(seed, nodes)
    names = sorted(run)
    texts: dict[str, list[str]] = {}
    touched: dict[str, set[int]] = {}
    info = json.dumps({"run_id": "fuzz", "seed": seed})
    for which, edit in changes:
        node = names[which % len(names)]
        lines, numbers, replaced = apply(run, node, edit)
        texts[node], info = lines, replaced if replaced is not None else info
        touched[node] = numbers  # one edit per file (the last): line numbers stay those of that edit
    with tempfile.TemporaryDirectory() as tmp:
        outside = write(Path(tmp) / "outside", valid_run(seed))
        (outside / "target").write_text("keep me")
        folder = write(Path(tmp) / "run", run)
        for node, lines in texts.items():
            (folder / f"{node}.jsonl").write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
        (folder / "run.json").write_bytes(info.encode("utf-8", "surrogateescape"))
        for name in specials:
            SPECIALS[name](folder / name, outside)
        bad = {
            f"{node}.jsonl": {n for n in numbers if n <= len(texts[node]) and expected_bad(texts[node][n - 1], node)}
            for node, numbers in touched.items()
        }
        summary = analyse_folder(folder, plots=False, quiet=True)
        check_summary(folder, summary, bad)
        assert (outside / "target").read_text() == "keep me"
        for name in (name for name in specials if name.endswith(".jsonl")):
            assert summary is None or Path(name).stem not in summary["nodes"], name
            assert summary is None or any(p.startswith(f"{name}: cannot read: ") for p in summary["problems"]), name


def test_a_valid_run_has_no_problems(tmp_path: Path) -> None:
    for seed in range(5):
        run = load_run(write(tmp_path / str(seed), valid_run(seed, nodes=4)))
        assert [str(p) for p in run.problems] == []
        assert sum(len(log.receive_value) for log in run.nodes.values()) > 0


# One test per finding.


def test_a_clock_value_or_queue_outside_32_bits_is_a_problem_for_its_line(tmp_path: Path) -> None:
    run = valid_run(1)
    n1 = run["n1"]
    n1[2] = n1[2] | {"clock": 2**62}
    n1[3] = n1[3] | {"queue": -1}
    sender = next(n for n in ("n2", "n3") if any(r["event"] == "send" for r in run[n]))
    sends = [i for i, r in enumerate(run[sender]) if r["event"] == "send"]
    run[sender][sends[0]] = run[sender][sends[0]] | {"value": 2**32}
    run["n3"][0] = run["n3"][0] | {"resumed_clock": 2**63 - 1}
    problems = [str(p) for p in load_run(write(tmp_path, run)).problems]
    assert "n1.jsonl:3: missing or invalid field 'clock' (4611686018427387904 outside 0..4294967295)" in problems
    assert "n1.jsonl:4: missing or invalid field 'queue' (-1 outside 0..4294967295)" in problems
    assert f"{sender}.jsonl:{sends[0] + 1}: send with an invalid 'value' (4294967296 outside 0..4294967295)" in problems
    assert "n3.jsonl:1: start with an invalid 'resumed_clock' (9223372036854775807 outside 0..4294967295)" in problems


def test_node_ids_outside_the_id_alphabet_are_problems(tmp_path: Path) -> None:
    run = valid_run(2)
    receives = [i for i, r in enumerate(run["n1"]) if r["event"] == "receive"]
    run["n1"][receives[0]] = run["n1"][receives[0]] | {"from": "x" * 5000}
    run["n1"][receives[1]] = run["n1"][receives[1]] | {"from": "a}b"}  # would break shiviz.log's vector clocks
    problems = [str(p) for p in load_run(write(tmp_path, run)).problems]
    expected = "receive with an invalid 'from' (expected node id (string))"
    assert f"n1.jsonl:{receives[0] + 1}: {expected}" in problems
    assert f"n1.jsonl:{receives[1] + 1}: {expected}" in problems


def test_a_problem_quotes_at_most_a_few_dozen_characters_of_a_crafted_value(tmp_path: Path) -> None:
    run = valid_run(3)
    run["n1"][2] = run["n1"][2] | {"event": "e" * 100_000}
    (problem,) = [str(p) for p in load_run(write(tmp_path, run)).problems]
    assert problem == "n1.jsonl:3: unknown event '" + "e" * 40 + "'... (100,000 characters)"


def test_deeply_nested_json_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    """run.json and a line nested past any parser's depth; a peer in a start line's configuration
    nested within orjson's depth (1024) but past what str() can recurse."""
    run = valid_run(4)
    folder = write(tmp_path, run)
    n1 = (folder / "n1.jsonl").read_text()
    (folder / "n1.jsonl").write_text(n1.replace('"peers": [', '"peers": [' + nested(1010) + ", ", 1))
    (folder / "run.json").write_text(nested(100_000))
    with (folder / "n2.jsonl").open("a") as f:
        f.write(nested(100_000) + "\n")
    summary = analyse_folder(folder, plots=False, quiet=True)
    assert summary is not None
    assert "run.json: not readable JSON" in summary["problems"]
    assert f"n2.jsonl:{len(run['n2']) + 1}: not JSON" in summary["problems"]
    assert summary["nodes"]["n1"]["ticks"] == len(run["n1"]) - 2


def test_thousands_of_sender_ids_are_refused_past_the_bound(tmp_path: Path) -> None:
    """5,000 distinct senders (and a send to 5,000 ids): the first ones up to MAX_NODES ids in the
    run are analysed, each line naming one more is a problem; matching stays within bounds."""
    run = valid_run(5)
    fakes = [receive(150.0, "n1", 2, f"x{k}", 1, 149.0, tick=k) for k in range(5000)]
    wide = rec(150.0, "n2", "send", 1, tick=0, late_ms=0.1, to=[f"y{k}" for k in range(5000)], value=1)
    run["n1"][-1:-1] = fakes
    run["n2"][-1:-1] = [wide]
    summary = analyse_folder(write(tmp_path, run), plots=False, quiet=True)
    assert summary is not None
    refused = [p for p in summary["problems"] if "more than 100 node ids in the run" in p]
    assert len(refused) == 5000 - (loader.MAX_NODES - 3) + 1  # n1..n3 are ids too; the wide send is one line
    assert refused[0] == f"n1.jsonl:{len(run['n1']) - 5000 - 1 + loader.MAX_NODES - 3 + 1}: names node 'x97': " + (
        "more than 100 node ids in the run, not analysed"
    )
    senders = {link["from"] for link in summary["links"]}
    assert len(senders) <= loader.MAX_NODES
    assert len(summary["links"]) <= 2 * 3 * loader.MAX_NODES


def test_more_node_files_than_the_bound_are_not_read(tmp_path: Path) -> None:
    run = {
        f"m{k:03d}": [start(f"m{k:03d}", 1, []), rec(100.0, f"m{k:03d}", "internal", 1, tick=0, late_ms=0)]
        for k in range(loader.MAX_NODES + 3)
    }
    loaded = load_run(write(tmp_path, run))
    assert len(loaded.nodes) == loader.MAX_NODES
    assert [str(p) for p in loaded.problems if "node files" in str(p)] == [
        f"m{k:03d}.jsonl: not read: more than {loader.MAX_NODES} node files"
        for k in range(loader.MAX_NODES, loader.MAX_NODES + 3)
    ]


def test_problems_are_listed_up_to_a_bound_per_file_then_counted(tmp_path: Path) -> None:
    folder = write(tmp_path, valid_run(6))
    with (folder / "n1.jsonl").open("a") as f:
        f.write("garbage\n" * (loader.MAX_PROBLEMS + 25))
    problems = [str(p) for p in load_run(folder).problems]
    assert len([p for p in problems if p.startswith("n1.jsonl:")]) == loader.MAX_PROBLEMS + 1
    assert problems[-1] == "n1.jsonl: 25 more problems, not listed"


def _fifo_writer(fifo: Path, done: threading.Event) -> None:
    """If anything opens `fifo` for reading before `done`, give it a valid-looking line and close."""
    while not done.wait(0.02):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while no reader has it open
        except OSError:
            continue
        try:
            os.write(fd, (json.dumps(start("n9", 1, [])) + "\n").encode())
        except OSError:  # the reader had gone again (EPIPE): what matters is that it came
            pass
        finally:
            os.close(fd)
        return


def test_a_fifo_as_node_file_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """The old loader blocked in open() until a writer came; the helper thread comes only when
    someone reads, so a reader shows up as the FIFO's line being read instead of refused."""
    folder = write(tmp_path / "run", valid_run(7))
    fifo = folder / "n9.jsonl"
    os.mkfifo(fifo)
    done = threading.Event()
    writer = threading.Thread(target=_fifo_writer, args=(fifo, done), daemon=True)
    writer.start()
    try:
        run = load_run(folder)
    finally:
        done.set()
        writer.join()
    assert "n9.jsonl: cannot read: a FIFO, not a regular file" in [str(p) for p in run.problems]
    assert "n9" not in run.nodes


def test_a_node_file_linked_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "elsewhere", {"n9": valid_run(8)["n1"]})
    folder = write(tmp_path / "run", valid_run(8))
    (folder / "n9.jsonl").symlink_to(elsewhere / "n9.jsonl")
    run = load_run(folder)
    assert "n9.jsonl: cannot read: a symbolic link (not followed)" in [str(p) for p in run.problems]
    assert "n9" not in run.nodes


def test_a_node_file_linked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "run", valid_run(9))
    (folder / "n9.jsonl").symlink_to("/dev/zero")
    (folder / "n8.jsonl").mkdir()
    problems = [str(p) for p in load_run(folder).problems]
    assert "n9.jsonl: cannot read: a symbolic link (not followed)" in problems
    assert "n8.jsonl: cannot read: a folder, not a regular file" in problems


def test_outputs_replace_links_planted_in_the_run_folder_never_their_targets(tmp_path: Path) -> None:
    folder = write(tmp_path / "run", valid_run(10))
    targets = tmp_path / "targets"
    targets.mkdir()
    for name in OUTPUTS:
        (targets / name).write_text("keep me")
        (folder / name).symlink_to(targets / name)
    assert analyse_folder(folder, quiet=True) is not None
    assert [(targets / name).read_text() for name in OUTPUTS] == ["keep me"] * len(OUTPUTS)
    for name in OUTPUTS:
        assert not (folder / name).is_symlink(), name
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_comparison_files_replace_planted_links(tmp_path: Path) -> None:
    write(tmp_path / "logs" / "r1", valid_run(11))
    out = tmp_path / "cmp"
    out.mkdir()
    (tmp_path / "target").write_text("keep me")
    (out / "comparison.md").symlink_to(tmp_path / "target")
    assert main(["--log-dir", str(tmp_path / "logs"), "--no-plots", "--quiet", "--compare-out", str(out), "r1"]) == 0
    assert (tmp_path / "target").read_text() == "keep me"
    assert (out / "comparison.md").read_text().startswith("# Runs compared")


def test_a_run_named_through_a_link_out_of_log_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    outside = write(tmp_path / "outside", valid_run(12))
    write(logs / "r1", valid_run(12))
    (logs / "planted").symlink_to(outside)
    (logs / "latest").symlink_to("r1")  # a link inside LOG_DIR, as init makes it
    assert main(["--log-dir", str(logs), "--no-plots", "--quiet", "planted"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"analysis: planted: a link to {outside.resolve()}, outside {logs}: not analysed (name the folder itself)"
    )
    assert not (outside / "summary.json").exists()
    assert main(["--log-dir", str(logs), "--no-plots", "--quiet"]) == 0
    assert (logs / "r1" / "summary.json").exists()


def test_an_overlong_line_is_a_problem_and_never_held_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounds made small to cross chunk boundaries: a line over MAX_LINE is skipped as it is read."""
    monkeypatch.setattr(loader, "MAX_LINE", 1000)
    monkeypatch.setattr(loader, "CHUNK", 4096)
    run = valid_run(13)
    folder = write(tmp_path, run)
    text = (folder / "n1.jsonl").read_text().splitlines(keepends=True)
    long_record = json.dumps(run["n1"][2] | {"pad": "x" * 5000}) + "\n"
    text[2] = long_record
    text.insert(5, "y" * 9000 + "\n")
    text.append("z" * 3000)  # the last line, unterminated and too long
    (folder / "n1.jsonl").write_text("".join(text))
    problems = [str(p) for p in load_run(folder).problems]
    assert problems == [
        "n1.jsonl:3: longer than 1,000 bytes: not read",
        "n1.jsonl:6: longer than 1,000 bytes: not read",
        f"n1.jsonl:{len(text)}: longer than 1,000 bytes: not read",
    ]


def test_a_huge_line_costs_a_chunk_of_memory_not_the_line(tmp_path: Path) -> None:
    folder = write(tmp_path, valid_run(14))
    with (folder / "n1.jsonl").open("a") as f:
        f.write('{"pad": "' + "x" * (40 << 20) + '"}\n')  # 40 MiB
    tracemalloc.start()
    try:
        problems = [str(p) for p in load_run(folder).problems]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems[-1].endswith(f"longer than {loader.MAX_LINE:,} bytes: not read")
    assert peak < 3 * loader.CHUNK + loader.MAX_LINE  # a chunk, its lines, one joined; the old loader: 80 MiB


def test_times_at_the_ends_of_the_float_range_are_drawn(tmp_path: Path) -> None:
    """Valid (finite) times 2e308 apart: their difference was infinite, and the axes' ticks failed."""
    run = valid_run(15)
    run["n1"][2] = run["n1"][2] | {"ts": 1e308}
    run["n2"][2] = run["n2"][2] | {"ts": -1e308}
    folder = write(tmp_path, run)
    analysis = load_and_analyse(folder)
    assert analysis.summary["problems"] == []
    colours = plots.node_colours(analysis)
    plots.plot_clock(analysis, colours, folder / "clock.png")
    plots.plot_queue(analysis, colours, folder / "queue.png")
    assert (folder / "queue.png").stat().st_size > 0


def test_many_distinct_clock_jumps_are_drawn_as_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 distinct jump sizes up to 10^9 (clocks stay within 32 bits): the old histogram drew a
    bar each, 2 ms a bar; now at most MAX_BARS per node."""
    lines = [start("n1", 1, [])]
    clock = 0
    for tick in range(3000):
        clock += 1 + tick * 300 if tick < 2999 else 10**9
        lines.append(rec(100.0 + tick * 0.001, "n1", "internal", clock, tick=tick, late_ms=0.0))
    lines.append(stop_line(104.0, "n1", clock, {}))
    bars: list[int] = []
    original = plots.save_figure

    def counting(fig: Figure, path: Path, *args: Any, **kwargs: Any) -> None:
        bars.extend(len(ax.patches) for ax in fig.axes)
        original(fig, path, *args, **kwargs)

    monkeypatch.setattr(plots, "save_figure", counting)
    folder = write(tmp_path, {"n1": lines})
    analysis = load_and_analyse(folder)
    assert analysis.summary["nodes"]["n1"]["jumps"]["max"] == 10**9
    plots.plot_jumps(analysis, plots.node_colours(analysis), folder / "jumps.png")
    assert 0 < bars[0] <= plots.MAX_BARS


def test_a_run_folder_named_like_tex_is_drawn(tmp_path: Path) -> None:
    """Figure titles name the run; `$\\foo{$` in a folder's name was read as (bad) mathematics."""
    folder = write(tmp_path / "a$\\foo{$b", valid_run(16))
    analysis = load_and_analyse(folder)
    plots.plot_clock(analysis, plots.node_colours(analysis), folder / "clock.png")
    assert (folder / "clock.png").stat().st_size > 0


def test_an_unexpected_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write(tmp_path / "r1", valid_run(17))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something\nunforeseen")

    monkeypatch.setattr("analysis.__main__.analyse_and_write", broken)
    assert main([str(folder)]) == 1
    err = capsys.readouterr().err
    assert err == "r1: cannot analyse (a bug of the analysis, please report): RuntimeError: something unforeseen\n"
