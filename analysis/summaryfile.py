"""summary.json: written only when it matches node.schema's `Summary`, read back for comparisons."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

from analysis.files import write_text
from analysis.violations import CHECK_RULES
from node.schema import Summary, summary_problems

FILE = "summary.json"


def finite_json(value: Any) -> Any:
    """NaN and infinities become null, so that the JSON stays strict (summary.json: only from
    absurd input; the benchmarks' and the experiments' files use it too)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def write_summary(summary: Summary, folder: Path) -> Path:
    """Write summary.json; a summary that does not match the schema is a bug of the analysis: raise."""
    data = finite_json(summary)
    problems = summary_problems(data)
    if problems:
        raise ValueError(f"{FILE} does not match node.schema.Summary: " + "; ".join(problems[:10]))
    return write_text(folder, FILE, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_summary(path: Path) -> Summary:
    """A summary.json as written, by this version or an older one (schema 1 has the same keys:
    readers use .get where an old file may lack a key)."""
    try:
        data = json.loads(path.read_text())
    except RecursionError:  # nested deeper than the parser's recursion: not a summary either
        raise ValueError(f"{path}: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict) or not isinstance(data.get("nodes"), dict):
        raise ValueError(f"{path}: not a summary (no run and nodes objects)")
    return cast(Summary, _upgrade(data))


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """An older summary in today's shape. Schema 3 added `in_flight` (unacknowledged at the
    sender's stop): before it, nothing was counted in flight (what was, counted as lost)."""
    if isinstance(data.get("schema"), int) and data["schema"] < 3:
        for part in [data.get("messages"), *(data.get("links") or [])]:
            if isinstance(part, dict):
                part.setdefault("in_flight", 0)
    if isinstance(data.get("schema"), int) and data["schema"] < 4:
        data["run"].setdefault("clock_bug", None)  # CLOCK_BUG came with schema 4
        data["run"].setdefault("delivery", None)
        data.setdefault("checks", _old_checks(data))
    if isinstance(data.get("schema"), int) and data["schema"] < 5:
        data.setdefault("clock_offsets", None)  # not estimated before schema 5
    return data


def _old_checks(data: dict[str, Any]) -> dict[str, Any]:
    """`checks` for a summary before schema 4: what its message and causality figures say; the
    checks it did not make are null (not checked), never 0."""
    messages, causality = data.get("messages") or {}, data.get("causality") or {}
    known = {
        "clock_condition": (messages.get("clock_condition") or {}).get("violations"),
        "lost": messages.get("lost"),
        "duplicated": messages.get("duplicated"),
        "never_sent": messages.get("unmatched"),
        "out_of_order": messages.get("order_violations"),
        "happens_before": causality.get("violations"),
    }
    return {key: {"violations": known.get(key), "rule": rule, "witness": []} for key, rule in CHECK_RULES.items()}
