"""explorer.html and comparison.html in a real headless Chromium, opened from disk.

Each test drives the page as a person does (mouse and keys through WebDriver) and reads what the
page shows; the expected answers come from the analysis (analysis.causality.relation,
analysis.explorer.parting), never from the page's own code. Screenshots are kept in
test-artifacts/ (not committed). Needs chromium and chromedriver (scripts/setup installs them);
no Docker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import ActionChains, Chrome
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from analysis.__main__ import main
from analysis.causality import relation
from analysis.compare import parting
from analysis.explorer import COMPARISON_FILE, FILE
from analysis.loader import load_run
from analysis.metrics import Analysis, analyse
from bench.browser import chromium, click_event, errors, move_to, open_page, point, zoom_around
from node.simulation import cluster, write_simulation
from tests.unit.test_analysis import rec, start, write
from tests.unit.test_causality import message_each_way
from tests.unit.test_explorer import broken_run

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    with chromium() as d:
        yield d


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated runs (same seed, different MAX_EVENT_NUM: they part), a broken one, a crafted one."""
    logs = tmp_path_factory.mktemp("logs")
    rates = {"node1": 5, "node2": 3, "node3": 2}
    write_simulation(cluster(3, seed=4, rates=rates, duration=12.0, run_id="sim"), logs / "sim")
    write_simulation(cluster(3, seed=4, rates=rates, duration=12.0, max_event_num=5, run_id="twin"), logs / "twin")
    write(logs / "broken", broken_run())
    crafted = message_each_way()
    crafted["a"].insert(2, rec(100.5, "a", "<img src=x onerror=alert(1)>", 1))
    crafted["c"] = [start("c", 1, ["a", "b"])]  # a node that never ticked: an empty line
    write(logs / "crafted", crafted)
    for name in ("broken", "crafted"):
        assert main([name, "--log-dir", str(logs), "--no-plots", "--quiet"]) == 0
    assert main(["sim", "twin", "--log-dir", str(logs), "--no-plots", "--quiet"]) == 0
    return logs


def analysis_of(folder: Path) -> Analysis:
    return analyse(load_run(folder))


def text(driver: Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def counts(driver: Chrome) -> tuple[int, ...]:
    ids = ("count-past", "count-future", "count-concurrent", "count-false-before", "count-false-after")
    return tuple(int(text(driver, i).replace(",", "")) for i in ids)


def test_opens_from_disk_with_no_errors_and_nothing_fetched(driver: Chrome, logs: Path) -> None:
    open_page(driver, logs / "sim" / FILE)
    assert errors(driver) == []
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
    assert text(driver, "title") == "Run sim"
    assert "every clock condition" in text(driver, "violation-counts")
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "explorer.png"))


@pytest.mark.parametrize(("node", "k"), [(0, 7), (1, 20), (2, 13)])
def test_a_click_highlights_what_the_analysis_counts(driver: Chrome, logs: Path, node: int, k: int) -> None:
    open_page(driver, logs / "sim" / FILE)
    zoom_around(driver, node, k)
    click_event(driver, node, k)
    c = analysis_of(logs / "sim").causality
    assert c is not None
    r = relation(c, node, k)
    assert counts(driver) == (r.past, r.future, r.concurrent, r.false_before, r.false_after)
    assert text(driver, "count-false") == str(r.false_before + r.false_after)
    assert f"#{k + 1} " in text(driver, "selection")
    assert errors(driver) == []


def test_hovering_shows_an_events_and_a_messages_fields(driver: Chrome, logs: Path) -> None:
    a = analysis_of(logs / "sim")
    c = a.causality
    assert c is not None
    open_page(driver, logs / "sim" / FILE)
    node, k = 1, 10
    zoom_around(driver, node, k)
    at = point(driver, node, k)
    move_to(driver, at["x"], at["y"])
    tip = text(driver, "tooltip")
    line = c.lines[node]
    vc = ", ".join(f"{c.nodes[j]}: {int(v)}" for j, v in enumerate(line.vc[k]))
    kind = ("receive", "send", "internal")[int(line.kind[k])]
    for want in (
        f"node\n{a.series[line.node].label}",
        f"event\n{kind}",
        f"tick\n#{k + 1} of {line.ts.size}",
        f"Lamport clock\n{int(line.clock[k])}",
        f"vector clock\n[{vc}]",
        f"queue length\n{int(a.columns[line.node].queue[k])}",
        f"tick lateness\n{a.columns[line.node].late_ms[k]:.3f} ms",
        "system time\n",
    ):
        assert want in tip
    # A message: hover the middle of its arrow.
    m = 3
    sender, send, receiver, take = (int(x[m]) for x in (c.sender, c.send, c.receiver, c.receive))
    zoom_around(driver, sender, send, seconds=2.0)
    p, q = point(driver, sender, send), point(driver, receiver, take)
    move_to(driver, (p["x"] + q["x"]) / 2, (p["y"] + q["y"]) / 2)
    tip = text(driver, "tooltip")
    value = int(c.lines[sender].clock[send])
    assert f"value {value}, {c.nodes[sender]} → {c.nodes[receiver]}" in tip
    for field in ("sent\n", "enqueued\n", "taken\n", "waited in the queue\n"):
        assert field in tip


def test_keys_move_between_events_and_follow_messages(driver: Chrome, logs: Path) -> None:
    c = analysis_of(logs / "sim").causality
    assert c is not None
    open_page(driver, logs / "sim" / FILE)
    sender, send, receiver, take = (int(x[0]) for x in (c.sender, c.send, c.receiver, c.receive))
    zoom_around(driver, sender, send)
    click_event(driver, sender, send)
    assert f"{c.nodes[sender]} send #{send + 1} " in text(driver, "selection")
    ActionChains(driver).send_keys("m").perform()
    assert f"{c.nodes[receiver]} receive #{take + 1} " in text(driver, "selection")
    ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
    assert f"{c.nodes[receiver]} " in text(driver, "selection")
    assert f" #{take + 2} " in text(driver, "selection")
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    assert "Click an event" in text(driver, "selection")
    assert errors(driver) == []


def test_dragging_across_a_view_zooms_every_view(driver: Chrome, logs: Path) -> None:
    open_page(driver, logs / "sim" / FILE)
    before = driver.execute_script("return window.explorer.range()")
    view = driver.find_element(By.ID, "view-clock")
    ActionChains(driver).move_to_element_with_offset(view, -100, 0).click_and_hold().move_by_offset(
        200, 0
    ).release().perform()
    after = driver.execute_script("return window.explorer.range()")
    assert after[1] - after[0] < (before[1] - before[0]) / 2
    assert "showing" in text(driver, "range")


def test_a_violation_is_one_click_away(driver: Chrome, logs: Path) -> None:
    open_page(driver, logs / "broken" / FILE)
    assert "lost: 1" in text(driver, "violation-counts")
    assert "duplicated: 1" in text(driver, "violation-counts")
    buttons = driver.find_elements(By.CSS_SELECTOR, "#violations button")
    rule = next(b for b in buttons if b.text.startswith("clock rule: a internal #4"))
    driver.execute_script("arguments[0].scrollIntoView()", rule)
    rule.click()
    assert "a internal #4 " in text(driver, "selection")
    assert "Lamport clock 9" in text(driver, "selection")
    assert errors(driver) == []


def test_a_planted_clock_bug_is_named_and_its_violations_listed(driver: Chrome, tmp_path: Path) -> None:
    """CLOCK_BUG=receive-no-max: the page says a bug was planted, and a click on a clock-condition
    violation selects the receive the witness names."""
    env = {"CLOCK_BUG": "receive-no-max", "DELIVERY": "at-most-once"}
    rates = {"node1": 1, "node2": 3, "node3": 6}
    write_simulation(cluster(3, seed=1, env=env, rates=rates, duration=20.0, run_id="bug"), tmp_path / "bug")
    assert main(["bug", "--log-dir", str(tmp_path), "--no-plots", "--quiet"]) == 0
    open_page(driver, tmp_path / "bug" / FILE)
    assert "Planted clock bug: receive-no-max" in text(driver, "bug-note")
    assert "clock condition:" in text(driver, "violation-counts")
    buttons = driver.find_elements(By.CSS_SELECTOR, "#violations button")
    first = next(b for b in buttons if b.text.startswith("clock condition:"))
    assert "Lamport's clock condition" in (first.get_attribute("title") or "")
    taken = first.text.split("taken at ")[1].split(" (clock")[0]  # e.g. "node1 receive #2"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
    first.click()
    assert taken + " " in text(driver, "selection")
    driver.save_screenshot(str(ARTIFACTS / "explorer-clock-bug.png"))
    assert errors(driver) == []


def test_crafted_log_text_stays_text(driver: Chrome, logs: Path) -> None:
    open_page(driver, logs / "crafted" / FILE)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading it is the check)
    assert driver.find_elements(By.TAG_NAME, "img") == []
    assert "<img src=x onerror=alert(1)>" in text(driver, "problems")
    assert errors(driver) == []  # node c never ticked: its line is empty, and nothing breaks


def test_the_comparison_page_marks_where_the_runs_part(driver: Chrome, logs: Path) -> None:
    found = parting(analysis_of(logs / "sim"), analysis_of(logs / "twin"))
    assert found is not None
    open_page(driver, logs / COMPARISON_FILE)
    assert errors(driver) == []
    assert f"The runs part at {found.t:.6f} s: {found.text}." == text(driver, "parting")
    driver.find_element(By.ID, "btn-parting").click()
    node = found.node
    assert f"{node} " in text(driver, "selection-0")
    assert f"#{found.pos + 1} " in text(driver, "selection-0")
    assert f"#{found.pos + 1} " in text(driver, "selection-1")
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "comparison.png"))


def test_the_benchmark_measures_a_small_run() -> None:
    """bench.explorer end to end on a tiny run: one load, every figure there and positive."""
    from bench.explorer import measure

    row = measure("tiny", (5, 4, 3), 4.0, runs=1)
    assert row["events"] == row["shown"] == 48
    for figure in ("first_paint_ms", "click_to_highlight_ms", "click_whole_run_ms"):
        assert row[figure]["median"] > 0


@pytest.mark.parametrize("view", ["diagram", "view-queue"])
def test_scrolling_over_a_view_zooms(driver: Chrome, logs: Path, view: str) -> None:
    open_page(driver, logs / "sim" / FILE)
    before = driver.execute_script("return window.explorer.range()")
    origin = ScrollOrigin.from_element(driver.find_element(By.ID, view))
    ActionChains(driver).scroll_from_origin(origin, 0, -120).perform()  # up: zoom in
    after = driver.execute_script("return window.explorer.range()")
    assert after[1] - after[0] == pytest.approx((before[1] - before[0]) * 0.8)
