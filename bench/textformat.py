"""How bench's reports print a figure: numbers, sizes, verdicts, and runs by rate."""

from __future__ import annotations

from typing import Any


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def mb(size: int | None) -> str:
    return "n/a" if size is None else f"{size / 1e6:.0f} MB"


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def by_rate(results: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(r["rate"]): r for r in results.get("rates", [])}


def cpu(run: dict[str, Any] | None) -> str:
    if run is None:
        return "not measured"
    return ", ".join(f"{num(n['cpu_percent'], 1)} %" for n in run["nodes"].values())


def rss(run: dict[str, Any] | None) -> str:
    if run is None:
        return "not measured"
    return ", ".join(f"{n['rss_mb']:.1f}" if n["rss_mb"] is not None else "n/a" for n in run["nodes"].values()) + " MiB"
