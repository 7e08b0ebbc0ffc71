"""A headless Chromium driven by Selenium, for the explorer's browser tests and its benchmark.

Debian's `chromium` and `chromium-driver` (scripts/setup installs them) run with no network and
no GPU: 2D canvas only, which is what the explorer draws with. `open_page` loads a file from disk
(file://, as a user opens it) and waits until the page says it has drawn (`window.explorer.ready`);
`zoom_around`, `point`, `move_to` and `click_event` drive a diagram as a person does, with the mouse.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver import ActionChains
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WINDOW = (1400, 1000)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def missing() -> str | None:
    """Why no browser can be started here (one line), or None."""
    if not any(shutil.which(b) for b in BROWSERS):
        return "no chromium on PATH (scripts/setup installs Debian's chromium)"
    if not shutil.which("chromedriver"):
        return "no chromedriver on PATH (scripts/setup installs Debian's chromium-driver)"
    return None


@contextmanager
def chromium(width: int = WINDOW[0], height: int = WINDOW[1]) -> Iterator[webdriver.Chrome]:
    """A headless Chromium whose console messages `console()` can read; quit on leaving."""
    why = missing()
    if why is not None:
        raise RuntimeError(why)
    options = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    binary = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    options.binary_location = str(binary)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: webdriver.Chrome, path: Path, timeout: float = 60.0) -> None:
    """Load `path` from disk and wait until the explorer has drawn its first frame."""
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    while not driver.execute_script("return !!(window.explorer && window.explorer.ready)"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} did not finish drawing in {timeout:g} s")
        time.sleep(0.02)


def console(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console messages since the last call (level, message)."""
    return list(driver.get_log("browser"))  # type: ignore[no-untyped-call]


def errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console errors since the last call (warnings aside)."""
    return [entry for entry in console(driver) if entry["level"] == "SEVERE"]


def point(driver: webdriver.Chrome, node: int, k: int, diagram: int = 0) -> dict[str, float]:
    """Where diagram `diagram` draws event k of line `node` (page coordinates, CSS pixels)."""
    found: dict[str, float] = driver.execute_script("return window.explorer.point(...arguments)", diagram, node, k)
    return found


def move_to(driver: webdriver.Chrome, x: float, y: float, diagram: int = 0) -> None:
    """The mouse to page point (x, y) over a diagram (WebDriver's offsets are from the element's centre)."""
    single = driver.execute_script("return document.body.dataset.page === 'explorer'")
    canvas = driver.find_element(By.ID, "diagram" if single else f"diagram-{diagram}")
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height]", canvas
    )
    dx, dy = x - (box[0] + box[2] / 2), y - (box[1] + box[3] / 2)
    ActionChains(driver).move_to_element_with_offset(canvas, round(dx), round(dy)).perform()


def click_event(driver: webdriver.Chrome, node: int, k: int, diagram: int = 0) -> None:
    """A real mouse click on the event (zoom in first, so that it stands apart from its neighbours)."""
    at = point(driver, node, k, diagram)
    move_to(driver, at["x"], at["y"], diagram)
    ActionChains(driver).click().perform()


def zoom_around(driver: webdriver.Chrome, node: int, k: int, seconds: float = 1.0, diagram: int = 0) -> None:
    """Show `seconds` either side of the event."""
    driver.execute_script(
        "const [d, i, k, w] = arguments; const t = window.explorer.time(d, i, k);"
        "window.explorer.setRange(t - w, t + w);",
        diagram,
        node,
        k,
        seconds,
    )
